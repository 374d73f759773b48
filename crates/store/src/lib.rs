//! Storage of the lanward server.
//!
//! The server talks to storage only through the [`Store`] trait. Two
//! implementations exist: [`sqlite::SqliteStore`] (the embedded default, one
//! file in the data directory, WAL mode) and [`postgres::PgStore`] (for
//! scale). Both run the same versioned migrations (one SQL file per version
//! and backend, under `src/migrations/`) and pass the same test suite
//! (`tests/it/suite.rs`).
//!
//! The trait is synchronous on purpose: both drivers are blocking, and the
//! server calls the store from a dedicated writer thread or `spawn_blocking`.

pub mod model;
pub mod postgres;
pub mod sqlite;

pub use model::*;

use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or is failing: callers answer 503
    /// and retry later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Everything the server keeps.
pub trait Store: Send + Sync + 'static {
    /// Cheap query that fails when the database is unreachable.
    fn ping(&self) -> Result<()>;
    fn backend(&self) -> &'static str;

    // Enrolment tokens and agents.
    fn create_enrollment_token(&self, token: &NewEnrollmentToken) -> Result<()>;
    fn enrollment_tokens(&self) -> Result<Vec<EnrollmentTokenRecord>>;
    /// Checks the token and, in the same transaction, counts one use and
    /// registers the agent with a new asset. Nothing is written unless the
    /// token is valid.
    fn enroll_agent(&self, req: &EnrollAgent) -> Result<EnrollOutcome>;
    fn agents(&self) -> Result<Vec<AgentRecord>>;
    /// Marks the agent revoked; later writes for it are refused. Returns
    /// false when there is no such agent.
    fn revoke_agent(&self, agent_id: &str, now_ms: i64) -> Result<bool>;

    // Inventory.
    /// Writes a batch of check-ins in one transaction (group commit). The
    /// result has one entry per input, in order. A revoked agent's entry is
    /// `Refused` and nothing of it is written.
    fn apply_checkins(&self, batch: &[CheckinWrite]) -> Result<Vec<CheckinOutcome>>;
    /// Records when agents were last seen (batched by the server).
    fn touch_agents(&self, seen: &[(String, i64)]) -> Result<()>;
    /// Hashes of every stored section of every agent, to seed the server's cache.
    fn section_hashes(&self) -> Result<Vec<(String, String, String)>>;
    /// A page of assets matching the query, and how many match in all.
    /// Ledger fields are always loaded; sections only when asked.
    fn list_assets(&self, query: &AssetQuery) -> Result<(Vec<AssetRecord>, u64)>;
    fn get_asset(&self, id: i64) -> Result<Option<AssetRecord>>;
    fn asset_summary(&self, not_seen_before_ms: i64) -> Result<AssetSummary>;
    /// Every asset with its ledger fields and identifiers (import, export).
    fn ledger_snapshot(&self) -> Result<Vec<LedgerAsset>>;
    fn queue_gaps(&self, agent_id: &str) -> Result<Vec<GapRecord>>;

    // Ledger.
    /// Creates and updates assets, all in one transaction, recording every
    /// actual change in the history (a field set to the value it already
    /// had is not a change). Changes may name ledger fields or the core
    /// columns in [`CORE_FIELDS`]; values must already be checked.
    /// Returns each write's asset id and changes, in order. `NotFound`
    /// (and nothing written) when an updated asset does not exist.
    fn apply_ledger(&self, writes: &[LedgerWrite], actor: &str, now_ms: i64) -> Result<Vec<(i64, Vec<HistoryRecord>)>>;
    /// [`Store::apply_ledger`] for one asset.
    fn set_asset_fields(&self, asset_id: i64, changes: &[FieldChange], actor: &str, now_ms: i64) -> Result<Vec<HistoryRecord>> {
        let write = LedgerWrite::Update { asset_id, changes: changes.to_vec() };
        Ok(self.apply_ledger(&[write], actor, now_ms)?.pop().map(|(_, h)| h).unwrap_or_default())
    }
    /// Every change of the asset's fields, oldest first.
    fn asset_history(&self, asset_id: i64) -> Result<Vec<HistoryRecord>>;

    /// Addresses agents saw that match no asset (dismissed ones too, last).
    fn unknown_devices(&self) -> Result<Vec<UnknownDevice>>;
    /// Marks an unknown device dismissed; false when there is no such address.
    fn dismiss_unknown_device(&self, ip: &str, actor: &str, now_ms: i64) -> Result<bool>;

    // Alert rules on operation-log events, and alerts.
    fn create_alert_rule(&self, rule: &NewAlertRule) -> Result<i64>;
    fn alert_rules(&self) -> Result<Vec<AlertRule>>;
    /// False when there is no such rule.
    fn delete_alert_rule(&self, id: i64) -> Result<bool>;
    /// Stores the alerts in one transaction; their ids, in order.
    fn record_alerts(&self, alerts: &[NewAlert]) -> Result<Vec<i64>>;
    /// Newest first.
    fn alerts(&self, limit: u32, open_only: bool) -> Result<Vec<AlertRecord>>;
    fn acknowledge_alert(&self, id: i64, actor: &str, now_ms: i64) -> Result<bool>;
    /// The asset's site and department (rules that name them).
    fn asset_location(&self, asset_id: i64) -> Result<Option<(String, Option<String>)>>;
    /// One ledger field of an asset (`None` when unset), without loading
    /// the rest: for checks made on every agent request.
    fn asset_field(&self, asset_id: i64, field: &str) -> Result<Option<String>>;

    // Sites.
    /// Adds a site or renames it.
    fn upsert_site(&self, site: &SiteRecord, now_ms: i64) -> Result<()>;
    fn sites(&self) -> Result<Vec<SiteRecord>>;

    // People, sessions and API tokens.
    fn create_user(&self, user: &NewUser) -> Result<i64>;
    fn user_by_name(&self, username: &str) -> Result<Option<UserRecord>>;
    fn users(&self) -> Result<Vec<UserRecord>>;
    fn create_api_token(&self, token: &NewApiToken) -> Result<()>;
    /// The user an API token belongs to, by the token's SHA-256, if the
    /// token is neither expired nor revoked.
    fn api_token_user(&self, token_hash: &str) -> Result<Option<UserRecord>>;
    /// API tokens of one user, or of everyone (`None`).
    fn api_tokens(&self, user_id: Option<i64>) -> Result<Vec<ApiTokenRecord>>;
    /// Revokes the token whose id (hash prefix) is given, if it belongs to
    /// `owner` (any owner when `None`). False when there is no such token.
    fn revoke_api_token(&self, id: &str, owner: Option<i64>, now_ms: i64) -> Result<bool>;
    /// Creates or updates the local record of a directory user (role and
    /// name follow the directory at each sign-in). `Conflict` when a local
    /// user has that name.
    fn upsert_directory_user(&self, username: &str, display_name: &str, role: &str, now_ms: i64) -> Result<UserRecord>;
    fn create_session(&self, session: &NewSession) -> Result<()>;
    /// The session and its user, if the session exists and has not expired.
    fn session_user(&self, id_hash: &str, now_ms: i64) -> Result<Option<(SessionRecord, UserRecord)>>;
    fn delete_session(&self, id_hash: &str) -> Result<()>;

    // Software distribution.
    /// `Conflict` when the package name and version (or serial) exist.
    fn create_package(&self, p: &NewPackage) -> Result<i64>;
    /// Newest first.
    fn packages(&self) -> Result<Vec<PackageRecord>>;
    fn package(&self, id: i64) -> Result<Option<PackageRecord>>;
    /// The highest serial of a package name, 0 when there is none.
    fn max_package_serial(&self, name: &str) -> Result<i64>;
    /// Stores the signed manifest of a package added unsigned (offline
    /// signing). False when there is no such package.
    fn set_package_signature(&self, id: i64, signed_manifest: &str) -> Result<bool>;
    /// Creates the deployment and one target row per asset, each in
    /// `initial_state`, in one transaction.
    fn create_deployment(&self, d: &NewDeployment, initial_state: &str) -> Result<i64>;
    /// Newest first.
    fn deployments(&self) -> Result<Vec<DeploymentRecord>>;
    fn deployment(&self, id: i64) -> Result<Option<DeploymentRecord>>;
    /// Ordered by wave, then hostname.
    fn deployment_targets(&self, id: i64) -> Result<Vec<DeploymentTargetRecord>>;
    /// Every deployment the asset is a target of, with its row.
    fn asset_deployments(&self, asset_id: i64) -> Result<Vec<(DeploymentRecord, DeploymentTargetRecord)>>;
    /// False when there is no such deployment.
    fn set_deployment_status(&self, id: i64, status: &str, now_ms: i64) -> Result<bool>;
    fn save_deployment_memory(&self, id: i64, memory: &str, now_ms: i64) -> Result<()>;
    /// Counts bytes the server sent to a target (its WAN traffic).
    fn add_target_bytes(&self, deployment_id: i64, asset_id: i64, bytes: i64) -> Result<()>;
    /// Counts bytes a site cache fetched from the server for a deployment.
    fn add_site_cache_bytes(&self, deployment_id: i64, site: &str, bytes: i64) -> Result<()>;
    /// Per site, the bytes its cache fetched for the deployment.
    fn site_cache_bytes(&self, deployment_id: i64) -> Result<Vec<(String, i64)>>;
    /// Applies target state changes in one transaction.
    fn update_targets(&self, updates: &[TargetUpdate]) -> Result<()>;

    // Audit log (hash-chained; see model::AuditEntry).
    fn append_audit(&self, entry: &NewAuditEntry) -> Result<AuditEntry>;
    fn audit_entries(&self, limit: u32) -> Result<Vec<AuditEntry>>;
}

pub type DynStore = Arc<dyn Store>;

/// Milliseconds since the Unix epoch: the one clock of stored timestamps.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Opens the store a URL names: `postgres://...` or a SQLite file path
/// (optionally `sqlite:PATH`).
pub fn open(url: &str) -> Result<DynStore> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(postgres::PgStore::connect(url, None)?))
    } else {
        let path = url.strip_prefix("sqlite:").unwrap_or(url);
        Ok(Arc::new(sqlite::SqliteStore::open(std::path::Path::new(path))?))
    }
}

/// Section content is stored LZ4-compressed: inventories are repetitive
/// JSON and shrink about fivefold for little CPU.
pub(crate) fn compress(json: &[u8]) -> Vec<u8> {
    lz4_flex::compress_prepend_size(json)
}

pub(crate) fn decompress(blob: &[u8]) -> Result<String> {
    let bytes = lz4_flex::decompress_size_prepended(blob).map_err(|e| StoreError::Corrupt(format!("section content: {e}")))?;
    String::from_utf8(bytes).map_err(|e| StoreError::Corrupt(format!("section content is not UTF-8: {e}")))
}

/// The audit chain: each entry's hash covers the previous hash and its own
/// fields, so removing or editing an entry breaks every later hash.
pub fn audit_hash(prev_hash: &str, e: &NewAuditEntry, at_ms: i64, seq: i64) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for part in [prev_hash, &seq.to_string(), &at_ms.to_string(), &e.actor, &e.action, &e.target, &e.detail] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    // Entries written before the source was recorded hash as they did then.
    if !e.source.is_empty() {
        h.update(b"source=");
        h.update(e.source.as_bytes());
        h.update([0u8]);
    }
    hex::encode(h.finalize())
}

/// Checks the whole chain; returns the sequence number of the first
/// broken entry.
pub fn verify_audit_chain(entries_oldest_first: &[AuditEntry]) -> Result<(), i64> {
    let mut prev = String::new();
    for e in entries_oldest_first {
        let new = NewAuditEntry { actor: e.actor.clone(), action: e.action.clone(), target: e.target.clone(), detail: e.detail.clone(), source: e.source.clone() };
        if e.prev_hash != prev || audit_hash(&prev, &new, e.at_ms, e.seq) != e.hash {
            return Err(e.seq);
        }
        prev = e.hash.clone();
    }
    Ok(())
}

/// A value bound to a query that [`asset_filter`] built.
#[derive(Debug, Clone)]
pub(crate) enum Bind {
    Text(String),
    Int(i64),
}

/// The WHERE clause of an asset listing, shared by both backends; `ph`
/// writes the placeholder for the n-th bound value (`?n` or `$n`).
pub(crate) fn asset_filter(q: &AssetQuery, ph: fn(usize) -> String) -> (String, Vec<Bind>) {
    let mut clauses: Vec<String> = Vec::new();
    let mut binds: Vec<Bind> = Vec::new();
    let bind = |b: Bind, binds: &mut Vec<Bind>| {
        binds.push(b);
        ph(binds.len())
    };
    if let Some(text) = q.text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        let like = format!("%{}%", text.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
        let p = bind(Bind::Text(like), &mut binds);
        clauses.push(format!(
            "(lower(a.hostname) LIKE {p} ESCAPE '\\' OR lower(COALESCE(a.serial, '')) LIKE {p} ESCAPE '\\' \
             OR EXISTS (SELECT 1 FROM asset_fields f WHERE f.asset_id = a.id AND f.field IN ('user', 'ip_addresses', 'notes', 'tags') AND lower(f.value) LIKE {p} ESCAPE '\\') \
             OR EXISTS (SELECT 1 FROM asset_identifiers i WHERE i.asset_id = a.id AND i.kind = 'ip' AND i.value LIKE {p} ESCAPE '\\'))"
        ));
    }
    if let Some(site) = &q.site {
        clauses.push(format!("a.site = {}", bind(Bind::Text(site.clone()), &mut binds)));
    }
    if let Some(kind) = &q.kind {
        clauses.push(format!("a.kind = {}", bind(Bind::Text(kind.clone()), &mut binds)));
    }
    for (field, value) in [("department", &q.department), ("status", &q.status)] {
        if let Some(v) = value {
            let p = bind(Bind::Text(v.clone()), &mut binds);
            clauses.push(format!("EXISTS (SELECT 1 FROM asset_fields f WHERE f.asset_id = a.id AND f.field = '{field}' AND f.value = {p})"));
        }
    }
    if let Some(os) = q.os.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        let like = format!("%{}%", os.to_lowercase().replace(['%', '_'], ""));
        let p = bind(Bind::Text(like), &mut binds);
        clauses.push(format!("lower(COALESCE(a.os_name, '') || ' ' || COALESCE(a.os_version, '')) LIKE {p}"));
    }
    if let Some(before) = q.not_seen_since_ms {
        let p = bind(Bind::Int(before), &mut binds);
        clauses.push(format!("a.agent_id IS NOT NULL AND COALESCE(a.last_seen_ms, 0) < {p}"));
    }
    let clause = if clauses.is_empty() { String::new() } else { format!("WHERE {}", clauses.join(" AND ")) };
    (clause, binds)
}
