//! Records the store reads and writes.

use serde::Serialize;

#[derive(Debug, Clone)]
pub struct NewEnrollmentToken {
    pub id: String,
    /// SHA-256 (hex) of the secret part; the secret itself is never stored.
    pub secret_hash: String,
    pub site: String,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
    pub max_uses: u32,
    pub created_by: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct EnrollmentTokenRecord {
    pub id: String,
    pub site: String,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
    pub max_uses: u32,
    pub uses: u32,
    pub created_by: String,
}

#[derive(Debug, Clone)]
pub struct EnrollAgent {
    pub token_id: String,
    pub secret_hash: String,
    pub agent_id: String,
    pub public_key: Vec<u8>,
    pub hostname: String,
    pub os_family: String,
    pub now_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnrollOutcome {
    Enrolled { site: String, asset_id: i64 },
    UnknownToken,
    WrongSecret,
    Expired,
    UsedUp,
}

#[derive(Debug, Clone, Serialize)]
pub struct AgentRecord {
    pub id: String,
    #[serde(skip)]
    pub public_key: Vec<u8>,
    pub asset_id: i64,
    pub site: String,
    pub hostname: String,
    pub os_family: String,
    pub enrolled_at_ms: i64,
    pub last_seen_ms: Option<i64>,
    pub revoked_at_ms: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct SectionWrite {
    pub name: String,
    pub hash: String,
    pub json: String,
}

#[derive(Debug, Clone)]
pub struct CheckinWrite {
    pub agent_id: String,
    pub received_at_ms: i64,
    pub collected_at_ms: i64,
    /// Set when the `os` section arrived: the asset's hostname and kind follow it.
    pub hostname: Option<String>,
    pub kind: Option<String>,
    pub sections: Vec<SectionWrite>,
    pub gaps: Vec<GapWrite>,
}

/// Items an agent's queue dropped while the server was away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GapWrite {
    pub dropped_items: u64,
    pub dropped_bytes: u64,
    pub first_dropped_at_ms: i64,
    pub last_dropped_at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckinOutcome {
    Stored,
    /// The agent is revoked or unknown; nothing was written.
    Refused,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct GapRecord {
    pub agent_id: String,
    pub received_at_ms: i64,
    pub dropped_items: u64,
    pub dropped_bytes: u64,
    pub first_dropped_at_ms: i64,
    pub last_dropped_at_ms: i64,
}

#[derive(Debug, Clone, Default)]
pub struct AssetQuery {
    pub site: Option<String>,
    pub hostname_contains: Option<String>,
    pub limit: u32,
    pub offset: u64,
    /// Without sections the listing is cheap (ids, names, last seen).
    pub with_sections: bool,
}

#[derive(Debug, Clone)]
pub struct StoredSection {
    pub name: String,
    pub hash: String,
    pub json: String,
    pub collected_at_ms: i64,
    pub received_at_ms: i64,
}

#[derive(Debug, Clone)]
pub struct AssetRecord {
    pub id: i64,
    pub agent_id: Option<String>,
    pub hostname: String,
    pub kind: String,
    pub site: String,
    pub first_seen_ms: i64,
    pub last_seen_ms: Option<i64>,
    pub agent_revoked: bool,
    pub sections: Vec<StoredSection>,
    /// Ledger fields kept by people (loaded with the sections).
    pub fields: std::collections::BTreeMap<String, String>,
}

/// One ledger field set (`Some`) or cleared (`None`).
#[derive(Debug, Clone)]
pub struct FieldChange {
    pub field: String,
    pub value: Option<String>,
}

/// A change of one field: who, when, old and new value.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct HistoryRecord {
    pub asset_id: i64,
    pub field: String,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    pub actor: String,
    pub at_ms: i64,
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub display_name: String,
    /// PHC string (argon2id).
    pub password_hash: String,
    pub role: String,
    pub created_at_ms: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct UserRecord {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    #[serde(skip)]
    pub password_hash: String,
    pub role: String,
}

#[derive(Debug, Clone)]
pub struct NewApiToken {
    pub user_id: i64,
    pub name: String,
    pub token_hash: String,
    pub created_at_ms: i64,
}

#[derive(Debug, Clone)]
pub struct NewAuditEntry {
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    pub seq: i64,
    pub at_ms: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

/// The one rule for accepting an enrolment token, shared by both backends.
/// `None` means accepted.
pub fn judge_token(stored_hash: &str, offered_hash: &str, expires_at_ms: i64, max_uses: i64, uses: i64, now_ms: i64) -> Option<EnrollOutcome> {
    // Constant-time comparison: the hash of a guessed secret must not leak
    // how many leading characters matched.
    let same = stored_hash.len() == offered_hash.len()
        && stored_hash.bytes().zip(offered_hash.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
    if !same {
        Some(EnrollOutcome::WrongSecret)
    } else if now_ms >= expires_at_ms {
        Some(EnrollOutcome::Expired)
    } else if uses >= max_uses {
        Some(EnrollOutcome::UsedUp)
    } else {
        None
    }
}

/// The kind an asset gets at enrolment, before its OS is known in detail.
pub fn initial_kind(os_family: &str) -> &'static str {
    match os_family {
        "windows" => "pc",
        _ => "server",
    }
}
