//! Simulated agents: the real [`AgentCore`] with the collectors of a
//! simulated bureau PC and an in-memory queue. Used by the demo and, with
//! many agents and short intervals, as the load generator of benchmarks.

use crate::client::{self, ServerClient};
use crate::collect::fake::{simulated_site, FakeMachine};
use crate::collect::CollectConfig;
use crate::core::{AgentCore, AgentState, Stats};
use crate::spool::MemorySpool;
use anyhow::{bail, Result};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct SimOptions {
    pub server: String,
    /// One token per site, or a single token for all (agents are spread
    /// over the tokens in the bureau's site proportions).
    pub tokens: Vec<String>,
    pub count: usize,
    /// Check-in interval; `None` follows what the server says.
    pub interval: Option<Duration>,
    /// Each agent's first check-in comes at a random moment within this
    /// window (splay): a whole interval for realistic load, a few seconds
    /// for a demo that should fill up quickly.
    pub first_checkin_within: Duration,
    pub workers: usize,
    /// Windows-sized inventories (300 applications, 150 hotfixes).
    pub heavy: bool,
    /// Share of check-ins after which the simulated PC changes something.
    pub change_rate: f64,
    /// First machine number (SUIDO-PC-NNNN), to run several simulators.
    pub first_index: usize,
    /// Where simulated agents keep their identities between runs, so a
    /// restarted demo does not enrol the same PCs twice.
    pub identity_file: Option<std::path::PathBuf>,
}

/// machine index → (agent id, hex key seed)
type SavedIdentities = std::collections::BTreeMap<usize, (String, String)>;

pub struct SimAgent {
    pub machine: Arc<FakeMachine>,
    pub core: AgentCore,
}

/// Summary of a simulation run.
#[derive(Debug, Default, Clone)]
pub struct SimReport {
    pub checkins: u64,
    pub errors: u64,
    pub bytes_sent: u64,
    /// Request latencies in microseconds, unsorted.
    pub latencies_us: Vec<u32>,
}

impl SimReport {
    pub fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        let mut v = self.latencies_us.clone();
        v.sort_unstable();
        let i = ((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1;
        v[i] as f64 / 1000.0
    }
}

/// Enrols `count` simulated PCs (in parallel over `workers` threads).
pub fn enroll_all(opts: &SimOptions, progress: &(dyn Fn(u64) + Sync)) -> Result<Vec<SimAgent>> {
    if opts.tokens.is_empty() {
        bail!("at least one enrolment token is needed");
    }
    // Pin the CA once for all simulated agents.
    let parsed = lanward_proto::token::EnrollmentToken::parse(&opts.tokens[0]).map_err(|e| anyhow::anyhow!("{e}"))?;
    let ca_pem = if opts.server.starts_with("https://") { Some(client::fetch_pinned_ca(&opts.server, &parsed.ca_fingerprint)?) } else { None };
    let base = ServerClient::unauthenticated(&opts.server, ca_pem.as_deref())?;
    let saved: SavedIdentities = match &opts.identity_file {
        Some(path) => std::fs::read(path).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default(),
        None => SavedIdentities::new(),
    };
    let next = AtomicU64::new(0);
    let results: Mutex<Vec<(usize, Result<SimAgent>)>> = Mutex::new(Vec::with_capacity(opts.count));
    std::thread::scope(|s| {
        for _ in 0..opts.workers.max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                if i >= opts.count {
                    break;
                }
                let r = enroll_one(opts, &base, i, saved.get(&(opts.first_index + i)));
                progress(1);
                if let Ok(mut v) = results.lock() {
                    v.push((i, r));
                }
            });
        }
    });
    let mut results = results.into_inner().map_err(|_| anyhow::anyhow!("enrolment worker panicked"))?;
    results.sort_by_key(|(i, _)| *i);
    let agents: Vec<SimAgent> = results.into_iter().map(|(_, r)| r).collect::<Result<_>>()?;
    if let Some(path) = &opts.identity_file {
        let mut all = saved;
        for a in &agents {
            if let Some((id, key)) = &a.core.client.signer() {
                all.insert(a.machine.index, (id.clone(), hex::encode(key.to_bytes())));
            }
        }
        crate::spool::write_atomic(path, &serde_json::to_vec(&all)?)?;
    }
    Ok(agents)
}

fn enroll_one(opts: &SimOptions, base: &ServerClient, i: usize, saved: Option<&(String, String)>) -> Result<SimAgent> {
    let index = opts.first_index + i;
    let end = opts.first_index + opts.count;
    let site = simulated_site(index, end);
    let token = &opts.tokens[if opts.tokens.len() == 1 { 0 } else { site % opts.tokens.len() }];
    let machine = Arc::new(FakeMachine::new(index, site, opts.heavy).with_peers(opts.first_index..end));
    let restored = saved.and_then(|(id, seed)| {
        let seed = <[u8; 32]>::try_from(hex::decode(seed).ok()?).ok()?;
        Some((id.clone(), ed25519_dalek::SigningKey::from_bytes(&seed)))
    });
    if let Some((agent_id, key)) = restored {
        return Ok(SimAgent { core: sim_core(base.clone().with_signer(agent_id, Arc::new(key)), &machine), machine });
    }
    let key = crate::identity::generate_key();
    let req = lanward_proto::EnrollRequest {
        token: token.clone(),
        public_key: base64::Engine::encode(&base64::engine::general_purpose::STANDARD, key.verifying_key().to_bytes()),
        hostname: machine.hostname.clone(),
        os_family: "windows".into(),
        agent_version: crate::AGENT_VERSION.into(),
        serial: machine.hardware().serial,
        macs: machine.network().into_iter().filter_map(|n| n.mac).collect(),
    };
    let resp: lanward_proto::EnrollResponse =
        base.post_json("/api/v1/enroll", &req).map_err(|e| anyhow::anyhow!("{}: 登録に失敗しました: {e}", machine.hostname))?;
    Ok(SimAgent { core: sim_core(base.clone().with_signer(resp.agent_id, Arc::new(key)), &machine), machine })
}

fn sim_core(client: ServerClient, machine: &Arc<FakeMachine>) -> AgentCore {
    AgentCore {
        client,
        collectors: machine.collectors(),
        config: CollectConfig::default(),
        spool: Box::new(MemorySpool::new(crate::spool::DEFAULT_CAP_BYTES)),
        state: AgentState::default(),
        state_path: None,
        stats: Stats::default(),
    }
}

/// Runs the agents until `stop` is set or `duration` has passed. Each agent
/// first checks in at a random moment within one interval (splay).
pub fn run(opts: &SimOptions, agents: Vec<SimAgent>, duration: Option<Duration>, stop: Arc<AtomicBool>) -> SimReport {
    let start = Instant::now();
    let end = duration.map(|d| start + d);
    let first_window = opts.first_checkin_within;
    let heap: Mutex<BinaryHeap<Reverse<(Instant, usize)>>> = Mutex::new(
        (0..agents.len())
            .map(|i| Reverse((start + first_window.mul_f64(rand::random::<f64>()), i)))
            .collect(),
    );
    let agents: Vec<Mutex<SimAgent>> = agents.into_iter().map(Mutex::new).collect();
    let report = Mutex::new(SimReport::default());
    std::thread::scope(|s| {
        for _ in 0..opts.workers.max(1) {
            s.spawn(|| {
                let mut local = SimReport::default();
                loop {
                    if stop.load(Ordering::Relaxed) || end.is_some_and(|e| Instant::now() >= e) {
                        break;
                    }
                    let next = heap.lock().ok().and_then(|mut h| h.pop());
                    let Some(Reverse((due, i))) = next else { break };
                    let now = Instant::now();
                    if due > now {
                        let wait = (due - now).min(Duration::from_millis(200));
                        if let Ok(mut h) = heap.lock() {
                            h.push(Reverse((due, i)));
                        }
                        std::thread::sleep(wait.min(Duration::from_millis(20)));
                        continue;
                    }
                    let Ok(mut agent) = agents[i].lock() else { break };
                    if rand::random::<f64>() < opts.change_rate {
                        agent.machine.generation.fetch_add(1, Ordering::Relaxed);
                        agent.core.state.last_inventory_ms = 0;
                    }
                    let before = agent.core.stats.bytes_sent;
                    let t = Instant::now();
                    let (wait, result) = agent.core.step();
                    local.latencies_us.push(t.elapsed().as_micros().min(u32::MAX as u128) as u32);
                    local.checkins += 1;
                    local.bytes_sent += agent.core.stats.bytes_sent - before;
                    if let Err(e) = result {
                        local.errors += 1;
                        tracing::debug!(host = %agent.machine.hostname, error = %e, "simulated check-in failed");
                    }
                    let wait = match opts.interval {
                        Some(iv) if agent.core.state.force.is_empty() => iv.mul_f64(0.9 + 0.2 * rand::random::<f64>()),
                        _ => wait,
                    };
                    drop(agent);
                    if let Ok(mut h) = heap.lock() {
                        h.push(Reverse((Instant::now() + wait, i)));
                    }
                }
                if let Ok(mut r) = report.lock() {
                    r.checkins += local.checkins;
                    r.errors += local.errors;
                    r.bytes_sent += local.bytes_sent;
                    r.latencies_us.extend(local.latencies_us);
                }
            });
        }
    });
    report.into_inner().unwrap_or_default()
}
