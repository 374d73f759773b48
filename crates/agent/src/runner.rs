//! The agent's service loop: splay, check in, back off, repeat; in
//! between, send the operation-event journal every ~30 s. It also starts
//! the platform's operation-log sources ([`crate::oplog`]).

use crate::client::{ClientError, ServerClient};
use crate::collect::{platform_collectors, CollectConfig};
use crate::core::{AgentCore, AgentState, Stats};
use crate::events::{Detail, EventKind, Journal, SharedJournal};
use crate::oplog::sender::EventSender;
use crate::oplog::EventSink;
use crate::identity::Identity;
use crate::spool::{DiskSpool, DEFAULT_CAP_BYTES};
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub data_dir: PathBuf,
    /// Byte cap of the on-disk queue.
    pub queue_cap_bytes: u64,
    /// Largest random delay before the first check-in, so that a thousand
    /// PCs switched on at 8:30 do not all arrive in the same second.
    pub max_splay_secs: u64,
    /// Stop after this many check-ins (tests); `None` runs until stopped.
    pub max_checkins: Option<u64>,
    /// Byte cap of the operation-event journal (`DATA/events`).
    pub events_cap_bytes: u64,
    /// The journal when someone else opened it (the Windows service shares
    /// its own); `None`: the runner opens `DATA/events` itself.
    pub journal: Option<SharedJournal>,
    /// Start the platform's operation-log sources (process, login, USB).
    pub event_sources: bool,
    /// Ask for and run software deployments.
    pub deployments: bool,
}

impl RunOptions {
    pub fn new(data_dir: PathBuf) -> Self {
        RunOptions {
            data_dir,
            queue_cap_bytes: DEFAULT_CAP_BYTES,
            max_splay_secs: 60,
            max_checkins: None,
            events_cap_bytes: crate::events::DEFAULT_CAP_BYTES,
            journal: None,
            event_sources: true,
            deployments: true,
        }
    }
}

/// Loads the collection config written beside the identity, if any.
pub fn load_collect_config(dir: &std::path::Path) -> Result<CollectConfig> {
    let path = dir.join("collect.json");
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).with_context(|| format!("{}: 収集設定の形式が正しくありません", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(CollectConfig::default()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

pub fn open_core(opts: &RunOptions) -> Result<AgentCore> {
    let identity = Identity::load(&opts.data_dir)?;
    let client = ServerClient::for_identity(&identity)?;
    let state_path = opts.data_dir.join("state.json");
    let state = match std::fs::read(&state_path) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "state.json unreadable; starting with a full inventory");
            AgentState::default()
        }),
        Err(_) => AgentState::default(),
    };
    let spool = DiskSpool::open(&opts.data_dir.join("queue"), opts.queue_cap_bytes)
        .with_context(|| format!("cannot open queue in {}", opts.data_dir.display()))?;
    Ok(AgentCore {
        client,
        collectors: platform_collectors(),
        config: load_collect_config(&opts.data_dir)?,
        spool: Box::new(spool),
        state,
        state_path: Some(state_path),
        stats: Stats::default(),
    })
}

/// Stops the deployment thread when the runner returns; waits for it only
/// when the whole agent stops (a bounded test run does not wait for an
/// installer).
struct StopOnDrop(Arc<AtomicBool>, Option<std::thread::JoinHandle<()>>, Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
        if self.2.load(Ordering::Relaxed) {
            if let Some(t) = self.1.take() {
                let _ = t.join();
            }
        }
    }
}

/// Sleeps in short slices so that a stop request is honoured quickly.
fn sleep_unless_stopped(d: Duration, stop: &AtomicBool) {
    wait_sending_events(d, stop, None);
}

/// Waits like [`sleep_unless_stopped`], sending the event journal whenever
/// the sender's next round is due.
fn wait_sending_events(d: Duration, stop: &AtomicBool, mut sender: Option<&mut EventSender>) {
    let end = std::time::Instant::now() + d;
    while !stop.load(Ordering::Relaxed) {
        let now = std::time::Instant::now();
        if now >= end {
            break;
        }
        if let Some(s) = sender.as_deref_mut() {
            if now >= s.next_try() {
                s.tick();
                continue;
            }
        }
        std::thread::sleep((end - now).min(Duration::from_millis(200)));
    }
}

/// The operation log while the agent runs: the journal, its sources and
/// its sender. Dropping it stops the sources and, when the runner opened
/// the journal, records the agent's stop.
struct EventLog {
    journal: SharedJournal,
    own_journal: bool,
    sources_stop: Arc<AtomicBool>,
    sender: EventSender,
}

impl EventLog {
    fn start(opts: &RunOptions, core: &AgentCore) -> Option<EventLog> {
        let (journal, own_journal) = match &opts.journal {
            Some(j) => (Arc::clone(j), false),
            None => match Journal::open(&opts.data_dir.join("events"), opts.events_cap_bytes) {
                Ok(j) => (crate::events::shared(j), true),
                Err(e) => {
                    // The inventory still runs without an event journal.
                    tracing::error!(error = %e, "cannot open the event journal; no operation events");
                    return None;
                }
            },
        };
        let sink = EventSink::new(Arc::clone(&journal));
        if own_journal {
            sink.record(None, EventKind::ServiceStart, None, None, Some(Detail::reason(&format!("version {}", crate::AGENT_VERSION))));
        }
        let sources_stop = Arc::new(AtomicBool::new(false));
        if opts.event_sources {
            let started = crate::oplog::start_all(crate::oplog::platform_sources(&opts.data_dir), &sink, &sources_stop);
            let running: Vec<&str> = started.iter().filter(|(_, r)| r.is_ok()).map(|(n, _)| *n).collect();
            tracing::info!(sources = ?running, "operation-log sources");
        }
        let mut sender = EventSender::new(core.client.clone(), Arc::clone(&journal));
        // Tests and demos may send more often than the default 30 s.
        if let Some(secs) = std::env::var("LANWARD_AGENT_EVENTS_INTERVAL_SECS").ok().and_then(|v| v.parse::<u64>().ok()).filter(|s| *s > 0) {
            sender = sender.with_interval(std::time::Duration::from_secs(secs));
        }
        Some(EventLog { journal, own_journal, sources_stop, sender })
    }
}

impl Drop for EventLog {
    fn drop(&mut self) {
        self.sources_stop.store(true, Ordering::Relaxed);
        if self.own_journal {
            EventSink::new(Arc::clone(&self.journal)).record(None, EventKind::ServiceStop, None, None, Some(Detail::reason("stop")));
        }
    }
}

/// Enrols with the installer's preset settings when not enrolled yet,
/// retrying until it works or `stop` is set. Returns whether enrolled.
fn enrol_from_preset(opts: &RunOptions, stop: &AtomicBool) -> Result<bool> {
    if opts.data_dir.join("enrolment.json").exists() {
        return Ok(true);
    }
    let Some((server, token)) = crate::preset::pending() else {
        return Ok(false);
    };
    let os = if cfg!(windows) { "windows" } else { "linux" };
    let mut backoff = Duration::from_secs(10);
    while !stop.load(Ordering::Relaxed) {
        match crate::client::enroll(&server, &token, &crate::collect::os::hostname(), os, crate::collect::machine_hints(), crate::identity::generate_key()) {
            Ok(id) => {
                id.save(&opts.data_dir)?;
                crate::preset::clear_token();
                tracing::info!(agent = %id.enrolment.agent_id, site = %id.enrolment.site, "enrolled with the installer's settings");
                return Ok(true);
            }
            Err(e) => {
                let msg = format!("{e:#}");
                // A refused token will not start working: stop trying it.
                if msg.contains("token_") || msg.contains("指紋") {
                    crate::preset::clear_token();
                    anyhow::bail!("登録トークンが拒否されました: {msg}");
                }
                tracing::warn!(error = %msg, retry_in_secs = backoff.as_secs(), "enrolment failed; will retry");
                sleep_unless_stopped(backoff, stop);
                backoff = (backoff * 2).min(Duration::from_secs(900));
            }
        }
    }
    Ok(false)
}

/// Runs until `stop` is set (service stop, Ctrl-C) or `max_checkins` is reached.
pub fn run(opts: RunOptions, stop: Arc<AtomicBool>) -> Result<()> {
    if !enrol_from_preset(&opts, &stop)? && stop.load(Ordering::Relaxed) {
        return Ok(());
    }
    // A machine that has never reported does so at once (the operator who
    // just installed it wants to see it); later starts wait a random splay.
    let first_report = !opts.data_dir.join("state.json").exists();
    let mut core = open_core(&opts)?;
    let identity = Identity::load(&opts.data_dir)?;
    tracing::info!(agent = %identity.enrolment.agent_id, "agent started");
    // Software distribution runs beside the check-ins, on its own thread:
    // a long download or install never delays the inventory.
    let deploy_stop = Arc::new(AtomicBool::new(false));
    let deploy_thread = if opts.deployments {
        match crate::deploy::DeployWorker::new(core.client.clone(), &opts.data_dir, identity.enrolment.package_key.as_deref(), deploy_stop.clone()) {
            Ok(w) => std::thread::Builder::new().name("deploy".into()).spawn(move || crate::deploy::run(w)).ok(),
            Err(e) => {
                tracing::error!(error = %e, "software distribution unavailable");
                None
            }
        }
    } else {
        None
    };
    let _deploy = StopOnDrop(deploy_stop, deploy_thread, stop.clone());
    let mut events = EventLog::start(&opts, &core);
    let splay = if opts.max_splay_secs == 0 || first_report { 0 } else { rand::random::<u64>() % (opts.max_splay_secs * 1000) };
    sleep_unless_stopped(Duration::from_millis(splay), &stop);
    let mut backoff = Duration::from_secs(5);
    let mut done = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let (wait, result) = core.step();
        done += 1;
        let wait = match result {
            Ok(_) => {
                backoff = Duration::from_secs(5);
                // The server answers: send the events now too.
                if let Some(ev) = events.as_mut() {
                    ev.sender.due_now();
                }
                wait
            }
            Err(e @ (ClientError::Unreachable(_) | ClientError::Unavailable(_) | ClientError::BadResponse(_))) => {
                // Exponential back-off with jitter, never longer than the
                // normal interval: the queue keeps what could not be sent.
                let jitter = Duration::from_millis(rand::random::<u64>() % 1000);
                let d = (backoff + jitter).min(wait.max(Duration::from_secs(5)));
                tracing::warn!(error = %e, retry_in_secs = d.as_secs(), queued = core.spool.len(), "check-in failed");
                backoff = (backoff * 2).min(Duration::from_secs(600));
                d
            }
            Err(e) => {
                tracing::error!(error = %e, "check-in refused; is this agent revoked?");
                wait.max(Duration::from_secs(3600))
            }
        };
        if opts.max_checkins.is_some_and(|m| done >= m) {
            // One last round of events before a bounded run ends.
            if let Some(ev) = events.as_mut() {
                ev.sender.due_now();
                ev.sender.tick();
            }
            break;
        }
        wait_sending_events(wait, &stop, events.as_mut().map(|e| &mut e.sender));
    }
    Ok(())
}
