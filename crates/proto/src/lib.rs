//! Wire types shared by the agent and the server.
//!
//! Everything that crosses the network between `lanward-agent` and the
//! server is defined here, so both sides agree by construction. This crate
//! does no I/O and must stay small: the agent links it.

pub mod auth;
pub mod deploy;
pub mod inventory;
pub mod oplog;
pub mod token;

use serde::{Deserialize, Serialize};

pub use inventory::*;

/// Bumped when a request or response changes incompatibly.
pub const PROTOCOL_VERSION: u32 = 1;

/// Largest request body the server accepts from an agent.
pub const MAX_AGENT_BODY_BYTES: usize = 8 * 1024 * 1024;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EnrollRequest {
    /// The whole token string as printed by `lanward token create`.
    pub token: String,
    /// The agent's Ed25519 public key, base64 (standard, padded).
    pub public_key: String,
    pub hostname: String,
    /// "linux" or "windows".
    pub os_family: String,
    pub agent_version: String,
    /// The machine's serial number and MAC addresses, so that the server can
    /// match an asset already in the ledger (older agents send neither).
    #[serde(default)]
    pub serial: Option<String>,
    #[serde(default)]
    pub macs: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EnrollResponse {
    pub agent_id: String,
    pub site: String,
    pub checkin_interval_secs: u64,
    /// The Ed25519 key that signs package manifests (base64); the agent
    /// pins it and refuses packages signed by any other key.
    #[serde(default)]
    pub package_signing_key: Option<String>,
}

/// One check-in. `report` is present when the agent has collected
/// something new; otherwise the check-in carries only the hashes of what
/// the agent believes the server holds, so the server can ask for a
/// section again when it does not match.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct CheckinRequest {
    #[serde(rename = "v")]
    pub agent_version: String,
    #[serde(rename = "h", default)]
    pub section_hashes: std::collections::BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<InventoryReport>,
    /// Queue items the agent had to drop while the server was away.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gaps: Vec<QueueGap>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct CheckinResponse {
    /// Seconds until the agent should come back (the server adds splay).
    pub next_checkin_secs: u64,
    /// How often the agent should collect a fresh inventory.
    pub inventory_interval_secs: u64,
    /// Sections the server does not hold with the hash the agent claimed;
    /// the agent sends them in full on its next check-in.
    #[serde(default)]
    pub resend: Vec<String>,
    pub server_time_ms: i64,
}

/// A record that the agent's bounded queue dropped items.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct QueueGap {
    pub dropped_items: u64,
    pub dropped_bytes: u64,
    pub first_dropped_at_ms: i64,
    pub last_dropped_at_ms: i64,
}

/// Error body of every 4xx/5xx answer of the server.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ApiError {
    /// Stable machine-readable code, e.g. `token_expired`.
    pub code: String,
    /// Human-readable message, in Japanese.
    pub message: String,
    /// The same message in English.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_en: Option<String>,
}
