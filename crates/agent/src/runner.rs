//! The agent's service loop: splay, check in, back off, repeat.

use crate::client::{ClientError, ServerClient};
use crate::collect::{platform_collectors, CollectConfig};
use crate::core::{AgentCore, AgentState, Stats};
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
}

impl RunOptions {
    pub fn new(data_dir: PathBuf) -> Self {
        RunOptions { data_dir, queue_cap_bytes: DEFAULT_CAP_BYTES, max_splay_secs: 60, max_checkins: None }
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

/// Sleeps in short slices so that a stop request is honoured quickly.
fn sleep_unless_stopped(d: Duration, stop: &AtomicBool) {
    let end = std::time::Instant::now() + d;
    while !stop.load(Ordering::Relaxed) {
        let now = std::time::Instant::now();
        if now >= end {
            break;
        }
        std::thread::sleep((end - now).min(Duration::from_millis(200)));
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
    tracing::info!(agent = %Identity::load(&opts.data_dir)?.enrolment.agent_id, "agent started");
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
            break;
        }
        sleep_unless_stopped(wait, &stop);
    }
    Ok(())
}
