//! Process start and stop on Windows, from WMI process traces
//! (`Win32_ProcessStartTrace` / `Win32_ProcessStopTrace`, kernel events
//! delivered by WMI; the service runs as LocalSystem, which may subscribe).
//!
//! Each trace names the image file, the pid, the parent pid and the
//! session. For a start, the full image path and command line are read from
//! `Win32_Process` while the process still runs (a process gone by then is
//! recorded with its image file name only), the parent's image likewise;
//! the user is the session's user (`WTSQuerySessionInformation`), and the
//! image is hashed once per (path, mtime, size).
//!
//! The notification enumerator blocks until the next event, so a stop
//! request is seen at the next process start or stop (several a minute on a
//! PC in use); the thread ends with the service process in any case.

use super::proc_connector::HashCache;
use super::{EventSink, EventSource};
use crate::events::{Detail, EventKind};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

#[derive(Deserialize, Debug)]
struct Trace {
    #[serde(rename = "ProcessID")]
    process_id: u32,
    #[serde(rename = "ParentProcessID", default)]
    parent_process_id: Option<u32>,
    #[serde(rename = "ProcessName", default)]
    process_name: Option<String>,
    #[serde(rename = "SessionID", default)]
    session_id: Option<u32>,
    #[serde(rename = "ExitStatus", default)]
    exit_status: Option<u32>,
}

#[derive(Deserialize, Debug)]
struct ProcessRow {
    #[serde(rename = "ExecutablePath", default)]
    executable_path: Option<String>,
    #[serde(rename = "CommandLine", default)]
    command_line: Option<String>,
}

pub struct WmiProcessSource {
    /// Starts (`true`) or stops (`false`): one subscription per thread.
    starts: bool,
}

impl WmiProcessSource {
    pub fn new(starts: bool) -> Self {
        WmiProcessSource { starts }
    }
}

fn process_row(con: &wmi::WMIConnection, pid: u32) -> Option<ProcessRow> {
    con.raw_query::<ProcessRow>(format!("SELECT ExecutablePath, CommandLine FROM Win32_Process WHERE ProcessId = {pid}")).ok()?.into_iter().next()
}

/// Users by session, asked once per session id for a while.
struct SessionUsers(HashMap<u32, (Option<String>, std::time::Instant)>);

impl SessionUsers {
    fn get(&mut self, session: u32) -> Option<String> {
        if let Some((user, at)) = self.0.get(&session) {
            if at.elapsed() < Duration::from_secs(60) {
                return user.clone();
            }
        }
        let user = crate::session::windows::session_user(session);
        if self.0.len() > 256 {
            self.0.clear();
        }
        self.0.insert(session, (user.clone(), std::time::Instant::now()));
        user
    }
}

impl EventSource for WmiProcessSource {
    fn name(&self) -> &'static str {
        if self.starts {
            "wmi_process_start"
        } else {
            "wmi_process_stop"
        }
    }

    fn start(self: Box<Self>, sink: EventSink, stop: Arc<AtomicBool>) -> Result<JoinHandle<()>, String> {
        let starts = self.starts;
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
        let handle = std::thread::Builder::new()
            .name(format!("oplog-{}", self.name()))
            .spawn(move || {
                // COM and the connection belong to this thread.
                let setup = wmi::COMLibrary::new()
                    .or_else(|_| wmi::COMLibrary::without_security())
                    .map_err(|e| format!("cannot initialise COM: {e}"))
                    .and_then(|com| wmi::WMIConnection::new(com).map_err(|e| format!("cannot connect to WMI: {e}")));
                let con = match setup {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let query = if starts { "SELECT * FROM Win32_ProcessStartTrace" } else { "SELECT * FROM Win32_ProcessStopTrace" };
                let traces = match con.raw_notification::<Trace>(query) {
                    Ok(t) => t,
                    Err(e) => {
                        let _ = ready_tx.send(Err(format!("{query}: {e} (needs administrator rights)")));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(()));
                let mut hashes = HashCache::default();
                let mut users = SessionUsers(HashMap::new());
                let mut failures = 0u32;
                for trace in traces {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let trace = match trace {
                        Ok(t) => t,
                        Err(e) => {
                            failures += 1;
                            if failures.is_power_of_two() {
                                tracing::warn!(error = %e, failures, "WMI process trace unreadable");
                            }
                            continue;
                        }
                    };
                    let user = trace.session_id.and_then(|s| users.get(s));
                    let detail = if starts {
                        let row = process_row(&con, trace.process_id);
                        let image = row.as_ref().and_then(|r| r.executable_path.clone()).or(trace.process_name.clone());
                        let sha256 = row.as_ref().and_then(|r| r.executable_path.as_deref()).and_then(|p| hashes.sha256(std::path::Path::new(p)));
                        let parent = trace
                            .parent_process_id
                            .filter(|p| *p > 4)
                            .and_then(|p| process_row(&con, p))
                            .and_then(|r| r.executable_path);
                        Detail {
                            process: image,
                            sha256,
                            command_line: row.and_then(|r| r.command_line),
                            pid: Some(trace.process_id),
                            parent,
                            ..Default::default()
                        }
                    } else {
                        Detail {
                            process: trace.process_name.clone(),
                            pid: Some(trace.process_id),
                            reason: trace.exit_status.map(|s| format!("exit {s}")),
                            ..Default::default()
                        }
                    };
                    let kind = if starts { EventKind::ProcessStart } else { EventKind::ProcessStop };
                    sink.record(None, kind, trace.session_id, user.as_deref(), Some(detail));
                }
            })
            .map_err(|e| format!("cannot start a thread: {e}"))?;
        match ready_rx.recv_timeout(Duration::from_secs(60)) {
            Ok(Ok(())) => Ok(handle),
            Ok(Err(e)) => Err(e),
            Err(_) => Err("WMI did not answer the subscription within 60 s".into()),
        }
    }
}
