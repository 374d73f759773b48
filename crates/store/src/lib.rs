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
    fn list_assets(&self, query: &AssetQuery) -> Result<(Vec<AssetRecord>, u64)>;
    fn get_asset(&self, id: i64) -> Result<Option<AssetRecord>>;
    fn queue_gaps(&self, agent_id: &str) -> Result<Vec<GapRecord>>;

    // Ledger.
    /// Sets or clears ledger fields and records every actual change in the
    /// history, in one transaction. Returns the changes made (fields set to
    /// the value they already had are not changes). `NotFound` without the asset.
    fn set_asset_fields(&self, asset_id: i64, changes: &[FieldChange], actor: &str, now_ms: i64) -> Result<Vec<HistoryRecord>>;
    /// Every change of the asset's fields, oldest first.
    fn asset_history(&self, asset_id: i64) -> Result<Vec<HistoryRecord>>;

    // People and API tokens.
    fn create_user(&self, user: &NewUser) -> Result<i64>;
    fn user_by_name(&self, username: &str) -> Result<Option<UserRecord>>;
    fn users(&self) -> Result<Vec<UserRecord>>;
    fn create_api_token(&self, token: &NewApiToken) -> Result<()>;
    /// The user an API token belongs to, by the token's SHA-256.
    fn api_token_user(&self, token_hash: &str) -> Result<Option<UserRecord>>;

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
    hex::encode(h.finalize())
}

/// Checks the whole chain; returns the sequence number of the first
/// broken entry.
pub fn verify_audit_chain(entries_oldest_first: &[AuditEntry]) -> Result<(), i64> {
    let mut prev = String::new();
    for e in entries_oldest_first {
        let new = NewAuditEntry { actor: e.actor.clone(), action: e.action.clone(), target: e.target.clone(), detail: e.detail.clone() };
        if e.prev_hash != prev || audit_hash(&prev, &new, e.at_ms, e.seq) != e.hash {
            return Err(e.seq);
        }
        prev = e.hash.clone();
    }
    Ok(())
}
