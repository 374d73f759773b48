//! Operation-log sources and their transport.
//!
//! Each source of operation events (login records, process starts, USB
//! devices...) is an [`EventSource`]: it is started once with an
//! [`EventSink`] that writes into the journal ([`crate::events`]), runs on
//! its own thread until told to stop, and says at start when it cannot run
//! here (no permission, no such file) instead of failing the agent. The
//! journal numbers, clips and caps what they record; [`sender`] sends it.
//!
//! - [`utmp`]: logons, logoffs, boots and shutdowns from `/var/log/wtmp` (Linux).
//! - [`proc_connector`]: process start and stop from the kernel's process
//!   connector (Linux, needs root).
//! - [`usb`]: USB devices, with USB storage marked, from sysfs (Linux).
//! - `windows`: process start and stop from WMI process traces (Windows).
//! - [`win_devices`]: USB devices plugged in and out, a USB stick paired
//!   with its disk into one event, from device notifications to a hidden
//!   window (Windows).
//! - [`win_print`]: print jobs from the PrintService/Operational event log,
//!   event 307, continued from a saved bookmark; the service enables the
//!   log (Windows).
//! - [`win_removable`]: file create/write/delete/rename on removable drives,
//!   bursts collapsed, from `ReadDirectoryChangesW` (Windows).
//! - `win_common`: the hidden window and wide strings they share (Windows).
//!
//! Session changes, power events and the service's own start and stop are
//! recorded by the Windows service (`service::windows`), foreground windows
//! by the session helper (`session`): they are no sources here. The
//! `win_*` modules keep their parsing and bookkeeping platform-independent,
//! tested on Linux; only their Win32 calls are `cfg(windows)`.

use crate::events::{Detail, EventKind, SharedJournal};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

pub mod sender;
pub mod usb;
pub mod utmp;
pub mod proc_connector;
#[cfg(windows)]
pub mod windows;
#[cfg(windows)]
pub mod win_common;
// The parsing and bookkeeping are built everywhere so that they are tested
// on Linux; off Windows only the tests use them.
#[cfg_attr(not(windows), allow(dead_code))]
pub mod win_devices;
#[cfg_attr(not(windows), allow(dead_code))]
pub mod win_print;
#[cfg_attr(not(windows), allow(dead_code))]
pub mod win_removable;

/// Where sources put events: the shared journal.
#[derive(Clone)]
pub struct EventSink {
    journal: SharedJournal,
}

impl EventSink {
    pub fn new(journal: SharedJournal) -> Self {
        EventSink { journal }
    }

    /// Records an event at `at_ms` (now when `None`); a journal that fails
    /// is logged, never fatal to the source.
    pub fn record(&self, at_ms: Option<i64>, kind: EventKind, session_id: Option<u32>, user: Option<&str>, detail: Option<Detail>) {
        let mut j = crate::events::lock(&self.journal);
        let at_ms = at_ms.unwrap_or_else(crate::now_ms);
        if let Err(e) = j.record_at(at_ms, kind, session_id, user, detail) {
            tracing::warn!(error = %e, ?kind, "cannot write the event journal");
        }
    }

    pub fn journal(&self) -> &SharedJournal {
        &self.journal
    }
}

/// One source of operation events.
pub trait EventSource: Send {
    /// Short name for logs (`wtmp`, `proc_connector`, `usb_sysfs`...).
    fn name(&self) -> &'static str;
    /// Checks that the source can run here and starts its thread, which
    /// returns soon after `stop` is set. `Err` says why it cannot run.
    fn start(self: Box<Self>, sink: EventSink, stop: Arc<AtomicBool>) -> Result<JoinHandle<()>, String>;
}

/// Sources of this platform; `data_dir` keeps their positions (e.g. how far
/// wtmp has been read).
pub fn platform_sources(data_dir: &Path) -> Vec<Box<dyn EventSource>> {
    #[allow(unused_mut)]
    let mut list: Vec<Box<dyn EventSource>> = Vec::new();
    #[cfg(target_os = "linux")]
    {
        list.push(Box::new(utmp::WtmpSource::system(data_dir)));
        list.push(Box::new(proc_connector::ProcSource::system()));
        list.push(Box::new(usb::UsbSource::system()));
    }
    #[cfg(windows)]
    {
        list.push(Box::new(windows::WmiProcessSource::new(true)));
        list.push(Box::new(windows::WmiProcessSource::new(false)));
        list.push(Box::new(win_devices::WinDeviceSource));
        list.push(Box::new(win_print::WinPrintSource::new(data_dir)));
        list.push(Box::new(win_removable::WinRemovableSource));
    }
    #[cfg(not(any(target_os = "linux", windows)))]
    let _ = data_dir;
    list
}

/// Starts every source; returns each one's name and whether it runs (with
/// the reason when not). A source that cannot run never stops the others.
pub fn start_all(sources: Vec<Box<dyn EventSource>>, sink: &EventSink, stop: &Arc<AtomicBool>) -> Vec<(&'static str, Result<JoinHandle<()>, String>)> {
    sources
        .into_iter()
        .map(|source| {
            let name = source.name();
            let started = source.start(sink.clone(), Arc::clone(stop));
            match &started {
                Ok(_) => tracing::info!(source = name, "operation-log source started"),
                Err(reason) => tracing::warn!(source = name, reason = %reason, "operation-log source unavailable"),
            }
            (name, started)
        })
        .collect()
}

/// Runs `poll` every `interval` on a thread named after the source, until
/// `stop` is set.
pub fn spawn_poller(name: &'static str, interval: Duration, stop: Arc<AtomicBool>, mut poll: impl FnMut() + Send + 'static) -> Result<JoinHandle<()>, String> {
    std::thread::Builder::new()
        .name(format!("oplog-{name}"))
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                poll();
                sleep_unless_stopped(interval, &stop);
            }
        })
        .map_err(|e| format!("cannot start a thread: {e}"))
}

pub(crate) fn sleep_unless_stopped(d: Duration, stop: &AtomicBool) {
    let end = std::time::Instant::now() + d;
    while !stop.load(Ordering::Relaxed) {
        let now = std::time::Instant::now();
        if now >= end {
            break;
        }
        std::thread::sleep((end - now).min(Duration::from_millis(100)));
    }
}

/// Text from a fixed-size C field: up to the first NUL, invalid UTF-8
/// replaced, control characters dropped.
pub fn c_field(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).chars().filter(|c| !c.is_control()).collect()
}
