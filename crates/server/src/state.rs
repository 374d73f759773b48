//! Shared server state.
//!
//! The agent cache holds every agent's public key, revocation, last
//! request timestamp and the hashes of its stored sections, so that an
//! unchanged check-in is answered without touching the database. It is
//! loaded at start and updated by the same process on enrol, revoke and
//! ingest (a second server node would need a shared cache or a
//! notification channel; see ARCHITECTURE.md).

use crate::ingest::Ingest;
use crate::ServerConfig;
use anyhow::Result;
use ed25519_dalek::VerifyingKey;
use lanward_store::DynStore;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};

pub struct AgentMut {
    pub revoked: bool,
    /// The asset's hostname as last reported: operation logs are filed under it.
    pub hostname: String,
    /// Nonces of recent requests: a request seen before is a replay.
    pub replay: ReplayGuard,
    pub hashes: BTreeMap<String, String>,
}

/// Replay protection for one agent's signed requests. An agent sends from
/// several threads (check-in, events, downloads), so requests may arrive a
/// little out of order: each nonce is accepted once while its timestamp is
/// within the clock-skew window, and anything at or below `floor_ms` (the
/// newest timestamp forgotten to bound memory) is refused.
#[derive(Default)]
pub struct ReplayGuard {
    seen: std::collections::HashSet<String>,
    order: std::collections::VecDeque<(i64, String)>,
    floor_ms: i64,
}

impl ReplayGuard {
    const MAX_REMEMBERED: usize = 4096;

    /// True when the request is new; remembers it.
    pub fn accept(&mut self, ts_ms: i64, nonce: &str, window_ms: i64) -> bool {
        if ts_ms <= self.floor_ms || self.seen.contains(nonce) {
            return false;
        }
        // Forget what the skew check refuses anyway, and the oldest beyond the cap.
        while let Some(&(t, _)) = self.order.front() {
            let stale = t < ts_ms - 2 * window_ms;
            let full = self.order.len() >= Self::MAX_REMEMBERED;
            if !stale && !full {
                break;
            }
            if let Some((t, n)) = self.order.pop_front() {
                self.seen.remove(&n);
                if full {
                    self.floor_ms = self.floor_ms.max(t);
                }
            }
        }
        self.seen.insert(nonce.to_string());
        self.order.push_back((ts_ms, nonce.to_string()));
        true
    }
}

pub struct AgentEntry {
    pub id: String,
    pub key: VerifyingKey,
    pub asset_id: i64,
    pub m: Mutex<AgentMut>,
}

pub struct AppState {
    pub store: DynStore,
    pub config: ServerConfig,
    pub ca_fingerprint: String,
    pub ca_pem: String,
    pub agents: RwLock<HashMap<String, Arc<AgentEntry>>>,
    /// Agent id → last seen (ms), flushed to the store every few seconds.
    pub last_seen: Mutex<HashMap<String, i64>>,
    pub ingest: Ingest,
    /// Failed sign-ins per client address and user name: (count, first at ms).
    pub login_failures: Mutex<HashMap<String, (u32, i64)>>,
    /// Active Directory sign-in, when `DATA/directory.json` exists.
    pub directory: Option<lanward_directory::DirectoryConfig>,
    /// Alert rules on incoming events, reloaded when they change.
    pub alert_rules: RwLock<Arc<Vec<lanward_store::AlertRule>>>,
    /// Operation logs (`DATA/oplog`), and the writer that group-commits to them.
    pub oplog: Arc<dyn lanward_oplog::EventStore>,
    pub event_ingest: crate::ingest::EventIngest,
    /// Uploaded ledger files waiting for the operator to confirm.
    pub imports: Mutex<HashMap<String, crate::imports::PendingImport>>,
    /// Packages, deployments and the signing key.
    pub distribution: crate::distribution::Distribution,
    /// Alert e-mail, when `DATA/mail.json` exists.
    pub mail: Option<Arc<crate::mail::Mailer>>,
}

impl AppState {
    pub fn load(store: DynStore, config: ServerConfig, ca_fingerprint: String, ca_pem: String) -> Result<Arc<Self>> {
        let agents = store.agents().map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut map = HashMap::with_capacity(agents.len());
        for a in agents {
            let Ok(bytes) = <[u8; 32]>::try_from(a.public_key.as_slice()) else {
                tracing::error!(agent = %a.id, "stored public key has the wrong length; agent ignored");
                continue;
            };
            let Ok(key) = VerifyingKey::from_bytes(&bytes) else {
                tracing::error!(agent = %a.id, "stored public key is invalid; agent ignored");
                continue;
            };
            map.insert(
                a.id.clone(),
                Arc::new(AgentEntry {
                    id: a.id,
                    key,
                    asset_id: a.asset_id,
                    m: Mutex::new(AgentMut { revoked: a.revoked_at_ms.is_some(), hostname: a.hostname, replay: ReplayGuard::default(), hashes: BTreeMap::new() }),
                }),
            );
        }
        for (agent, name, hash) in store.section_hashes().map_err(|e| anyhow::anyhow!("{e}"))? {
            if let Some(e) = map.get(&agent) {
                if let Ok(mut m) = e.m.lock() {
                    m.hashes.insert(name, hash);
                }
            }
        }
        tracing::info!(agents = map.len(), "agent cache loaded");
        let ingest = Ingest::start(store.clone());
        let config_dir = config.data_dir.clone();
        let config_poll = config.deploy_poll_secs;
        let rules = store.alert_rules().map_err(|e| anyhow::anyhow!("{e}"))?;
        let oplog = open_oplog(&config_dir, config.oplog_database_url.as_deref())?;
        let event_ingest = crate::ingest::EventIngest::start(oplog.clone());
        let mail = crate::mail::load(&config_dir, &config.tls_names)?.map(Arc::new);
        Ok(Arc::new(AppState {
            store,
            config,
            ca_fingerprint,
            ca_pem,
            agents: RwLock::new(map),
            last_seen: Mutex::new(HashMap::new()),
            ingest,
            login_failures: Mutex::new(HashMap::new()),
            directory: crate::directory::load(&config_dir)?,
            oplog,
            event_ingest,
            alert_rules: RwLock::new(Arc::new(rules)),
            imports: Mutex::new(HashMap::new()),
            mail,
            distribution: crate::distribution::Distribution::open(&config_dir, config_poll)?,
        }))
    }

    pub fn agent(&self, id: &str) -> Option<Arc<AgentEntry>> {
        self.agents.read().ok()?.get(id).cloned()
    }

    pub fn mark_seen(&self, id: &str, at_ms: i64) {
        if let Ok(mut m) = self.last_seen.lock() {
            m.insert(id.to_string(), at_ms);
        }
    }

    /// Writes buffered last-seen times; on failure they are kept for the next try.
    pub async fn flush_last_seen(&self) {
        let batch: Vec<(String, i64)> = match self.last_seen.lock() {
            Ok(mut m) => m.drain().collect(),
            Err(_) => return,
        };
        if batch.is_empty() {
            return;
        }
        let store = self.store.clone();
        let to_write = batch.clone();
        let result = tokio::task::spawn_blocking(move || store.touch_agents(&to_write)).await;
        if !matches!(result, Ok(Ok(()))) {
            tracing::warn!("cannot record last-seen times now; will retry");
            if let Ok(mut m) = self.last_seen.lock() {
                for (id, at) in batch {
                    let e = m.entry(id).or_insert(at);
                    *e = (*e).max(at);
                }
            }
        }
    }
}

/// Opens the operation-log store; damaged partitions are reported and
/// left aside, the rest serves.
fn open_oplog(data_dir: &std::path::Path, database: Option<&str>) -> Result<Arc<dyn lanward_oplog::EventStore>> {
    if let Some(url) = database {
        let store = lanward_oplog::postgres::PgEventStore::connect(url).map_err(|e| anyhow::anyhow!("操作ログのデータベースを開けません (--log-database): {e}"))?;
        return Ok(Arc::new(store));
    }
    let dir = data_dir.join("oplog");
    let store = lanward_oplog::embedded::EmbeddedStore::open(&dir).map_err(|e| anyhow::anyhow!("操作ログを開けません ({}): {e}", dir.display()))?;
    for (partition, reason) in lanward_oplog::EventStore::damaged(&store) {
        tracing::error!(%partition, %reason, "operation-log partition is damaged; the rest stays searchable");
    }
    Ok(Arc::new(store))
}

/// Deletes operation-log partitions older than the retention, once a day,
/// and says so in the audit log.
async fn retention(state: Arc<AppState>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(86_400));
    loop {
        tick.tick().await;
        let before = lanward_store::now_ms() - state.config.oplog_retention_days as i64 * 86_400_000;
        let oplog = state.oplog.clone();
        match tokio::task::spawn_blocking(move || oplog.drop_before(before)).await {
            Ok(Ok(dropped)) if !dropped.is_empty() => {
                let events: u64 = dropped.iter().map(|p| p.events).sum();
                let names = dropped.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(",");
                let _ = crate::api::audit(
                    &state,
                    "system".into(),
                    "oplog.retention",
                    "oplog".into(),
                    format!("保存期間 {} 日を過ぎた区画を削除 partitions={names} events={events}", state.config.oplog_retention_days),
                    String::new(),
                )
                .await;
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "operation-log retention failed"),
            Err(e) => tracing::error!(error = %e, "operation-log retention task failed"),
        }
    }
}

pub fn spawn_background(state: &Arc<AppState>) {
    crate::distribution::spawn_engine(state);
    tokio::spawn(retention(state.clone()));
    let s = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(2));
        loop {
            tick.tick().await;
            s.flush_last_seen().await;
        }
    });
}

#[cfg(test)]
mod replay_tests {
    use super::ReplayGuard;

    #[test]
    fn out_of_order_requests_pass_once_and_forgotten_ones_stay_refused() {
        let mut g = ReplayGuard::default();
        assert!(g.accept(1_000, "b", 300_000));
        assert!(g.accept(999, "a", 300_000), "a slightly older request from another thread");
        assert!(!g.accept(999, "a", 300_000), "the same request again");
        for i in 0..5000 {
            assert!(g.accept(2_000 + i, &format!("n{i}"), 300_000));
        }
        // "b" was forgotten to bound memory; the floor still refuses it.
        assert!(!g.accept(1_000, "b", 300_000));
    }
}
