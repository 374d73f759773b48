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
    /// What the agent knows of its machine at enrolment, for matching an
    /// asset already in the ledger (see [`meaningful_serial`]).
    pub serial: Option<String>,
    /// Normalised `AA:BB:CC:DD:EE:FF`.
    pub macs: Vec<String>,
    pub now_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnrollOutcome {
    Enrolled {
        site: String,
        asset_id: i64,
        /// How an existing asset was matched ("serial", "mac", "hostname");
        /// `None` when a new asset was created.
        matched_by: Option<&'static str>,
        /// The agent that had the asset before (same serial: the PC was
        /// reinstalled); it is revoked in the same transaction.
        superseded_agent: Option<String>,
    },
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
    /// From the `os` section: name and version as the asset list shows them.
    pub os_name: Option<String>,
    pub os_version: Option<String>,
    /// From the `hardware` section.
    pub serial: Option<String>,
    /// From the `network` section (normalised MACs; IPs as text).
    pub macs: Option<Vec<String>>,
    pub ips: Option<Vec<String>>,
    /// From the `neighbors` section: (IP, MAC) the PC sees on its LAN.
    pub neighbors: Option<Vec<(String, Option<String>)>>,
    pub sections: Vec<SectionWrite>,
    pub gaps: Vec<GapWrite>,
}

impl CheckinWrite {
    /// Whether the check-in says anything about the asset itself (hostname,
    /// kind, OS, serial, addresses, neighbours): only then is the asset row
    /// looked at.
    pub fn has_discoveries(&self) -> bool {
        self.hostname.is_some() || self.kind.is_some() || self.os_name.is_some() || self.serial.is_some() || self.macs.is_some() || self.ips.is_some() || self.neighbors.is_some()
    }

    /// A write that only records an agent's gaps (no inventory).
    pub fn gaps_only(agent_id: &str, now_ms: i64, gaps: Vec<GapWrite>) -> Self {
        CheckinWrite {
            agent_id: agent_id.to_string(),
            received_at_ms: now_ms,
            collected_at_ms: now_ms,
            hostname: None,
            kind: None,
            os_name: None,
            os_version: None,
            serial: None,
            macs: None,
            ips: None,
            neighbors: None,
            sections: Vec::new(),
            gaps,
        }
    }
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
    /// Part of the hostname, serial, user or an IP address.
    pub text: Option<String>,
    pub site: Option<String>,
    pub kind: Option<String>,
    pub department: Option<String>,
    pub status: Option<String>,
    /// Part of the OS name or version.
    pub os: Option<String>,
    /// Only assets with an agent not seen since this time.
    pub not_seen_since_ms: Option<i64>,
    pub sort: AssetSort,
    pub descending: bool,
    pub limit: u32,
    pub offset: u64,
    /// Without sections the listing is cheap (columns and ledger fields).
    pub with_sections: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AssetSort {
    #[default]
    Id,
    Hostname,
    Kind,
    Site,
    Department,
    Os,
    LastSeen,
}

impl AssetSort {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "id" => Self::Id,
            "hostname" => Self::Hostname,
            "kind" => Self::Kind,
            "site" => Self::Site,
            "department" => Self::Department,
            "os" => Self::Os,
            "last_seen" => Self::LastSeen,
            _ => return None,
        })
    }

    /// The ORDER BY expression (same SQL on both backends).
    pub(crate) fn sql(self) -> &'static str {
        match self {
            Self::Id => "a.id",
            Self::Hostname => "lower(a.hostname)",
            Self::Kind => "a.kind",
            Self::Site => "a.site",
            Self::Department => "(SELECT value FROM asset_fields f WHERE f.asset_id = a.id AND f.field = 'department')",
            Self::Os => "a.os_name",
            Self::LastSeen => "a.last_seen_ms",
        }
    }
}

/// Counts for the dashboard.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AssetSummary {
    pub total: u64,
    pub with_agent: u64,
    pub by_kind: Vec<(String, u64)>,
    pub by_site: Vec<(String, u64)>,
    /// OS name and version ("Microsoft Windows 11 Pro 23H2").
    pub by_os: Vec<(String, u64)>,
    /// Assets with an agent whose last check-in is older than the cutoff.
    pub not_seen: u64,
}

/// A change to the ledger, applied with others in one transaction.
#[derive(Debug, Clone)]
pub enum LedgerWrite {
    /// An asset without an agent (router, printer, a PC before its agent).
    Create { hostname: String, kind: String, site: String, fields: Vec<FieldChange> },
    Update { asset_id: i64, changes: Vec<FieldChange> },
}

/// Core columns that [`FieldChange`] may name besides ledger fields.
pub const CORE_FIELDS: &[&str] = &["hostname", "kind", "site", "serial"];

/// One asset as import and export see it.
#[derive(Debug, Clone, Serialize)]
pub struct LedgerAsset {
    pub id: i64,
    pub hostname: String,
    pub kind: String,
    pub site: String,
    pub serial: Option<String>,
    pub macs: Vec<String>,
    pub has_agent: bool,
    pub os_name: Option<String>,
    pub os_version: Option<String>,
    pub last_seen_ms: Option<i64>,
    pub fields: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SiteRecord {
    pub code: String,
    pub name: String,
}

#[derive(Debug, Clone)]
pub struct NewSession {
    /// SHA-256 of the cookie value; the value itself is never stored.
    pub id_hash: String,
    pub user_id: i64,
    pub csrf_token: String,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
    pub source: String,
}

#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub csrf_token: String,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
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
    pub serial: Option<String>,
    pub os_name: Option<String>,
    pub os_version: Option<String>,
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
    /// "local" (password here) or "directory" (signs in by LDAP bind).
    pub source: String,
}

#[derive(Debug, Clone)]
pub struct NewApiToken {
    pub user_id: i64,
    pub name: String,
    pub token_hash: String,
    pub created_at_ms: i64,
    /// `None`: does not expire (the bootstrap token only).
    pub expires_at_ms: Option<i64>,
}

/// An API token as listed: its id is the first 12 hex digits of its hash.
#[derive(Debug, Clone, Serialize)]
pub struct ApiTokenRecord {
    pub id: String,
    pub username: String,
    pub name: String,
    pub created_at_ms: i64,
    pub expires_at_ms: Option<i64>,
    pub revoked_at_ms: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct NewAuditEntry {
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: String,
    /// Where the request came from (client address); "" for the server itself.
    pub source: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    pub seq: i64,
    pub at_ms: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: String,
    pub source: String,
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

/// A serial number worth matching on: vendors' placeholders and blanks
/// ("To be filled by O.E.M.", "Default string", "0") identify nothing.
pub fn meaningful_serial(serial: Option<&str>) -> Option<String> {
    let s = serial?.trim();
    let lower = s.to_ascii_lowercase();
    const PLACEHOLDERS: &[&str] =
        &["", "0", "none", "n/a", "na", "default string", "to be filled by o.e.m.", "system serial number", "not specified", "not applicable", "123456789", "chassis serial number", "invalid"];
    if PLACEHOLDERS.contains(&lower.as_str()) || s.chars().all(|c| c == '0' || c == ' ' || c == '-') {
        return None;
    }
    Some(s.to_string())
}

/// The kinds an agent may set by itself; any other kind was chosen by a
/// person (vm_guest, vm_host...) and the agent's guess does not replace it.
pub const AGENT_KINDS: &[&str] = &["pc", "server"];

/// The identifier kind a ledger field feeds (`mac`/`ip`), if any.
pub(crate) fn identifier_kind(field: &str) -> Option<&'static str> {
    match field {
        "mac_addresses" => Some("mac"),
        "ip_addresses" => Some("ip"),
        _ => None,
    }
}

/// A normalised list field ("a,b,c") as its items.
pub(crate) fn split_list(value: Option<&str>) -> Vec<String> {
    value.unwrap_or("").split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
}

/// An address seen by agents that matches no asset.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct UnknownDevice {
    pub ip: String,
    pub mac: Option<String>,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    /// The asset whose agent saw it last.
    pub seen_by_asset: Option<i64>,
    pub seen_by_hostname: Option<String>,
    pub sightings: i64,
    /// "new" or "dismissed".
    pub status: String,
}

/// Unknown devices: not matching any asset's IP or MAC now.
pub(crate) const UNKNOWN_DEVICES_SQL: &str = "SELECT u.ip, u.mac, u.first_seen_ms, u.last_seen_ms, u.seen_by_asset, a.hostname, u.sightings, u.status \
     FROM unknown_devices u LEFT JOIN assets a ON a.id = u.seen_by_asset \
     WHERE NOT EXISTS (SELECT 1 FROM asset_identifiers i WHERE (i.kind = 'ip' AND i.value = u.ip) OR (i.kind = 'mac' AND i.value = u.mac)) \
     ORDER BY u.status, u.last_seen_ms DESC LIMIT 5000";

/// A rule on incoming operation-log events; every condition given must hold.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AlertRule {
    pub id: i64,
    pub name: String,
    /// Event kind (`device_connect`, `process_start`...).
    pub kind: Option<String>,
    /// The PC's site code and department (from the ledger).
    pub site: Option<String>,
    pub department: Option<String>,
    /// Part of the process image path (case-insensitive).
    pub process_contains: Option<String>,
    /// Part of any text of the event (title, path, document...).
    pub text_contains: Option<String>,
    /// `usb_storage` and the like.
    pub device_class: Option<String>,
    pub enabled: bool,
    pub created_by: String,
    pub created_at_ms: i64,
    /// E-mail addresses told of its alerts (when mail is configured).
    pub recipients: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct NewAlertRule {
    pub name: String,
    pub kind: Option<String>,
    pub site: Option<String>,
    pub department: Option<String>,
    pub process_contains: Option<String>,
    pub text_contains: Option<String>,
    pub device_class: Option<String>,
    pub created_by: String,
    pub created_at_ms: i64,
    /// E-mail addresses, already checked by the caller (no line breaks).
    pub recipients: Vec<String>,
}

/// How an enrolling agent matched an existing asset: (asset id, by what:
/// `serial`, `mac`, `hostname`) or none, and the active agent it supersedes.
pub(crate) type AssetMatch = (Option<(i64, &'static str)>, Option<String>);

/// Recipients are kept in one text column, one address a line.
pub(crate) fn join_recipients(r: &[String]) -> String {
    r.join("\n")
}

pub(crate) fn split_recipients(s: &str) -> Vec<String> {
    s.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect()
}

#[derive(Debug, Clone)]
pub struct NewAlert {
    pub rule_id: i64,
    pub rule_name: String,
    pub at_ms: i64,
    pub pc: String,
    pub asset_id: Option<i64>,
    pub user_name: Option<String>,
    pub kind: String,
    pub summary: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct AlertRecord {
    pub id: i64,
    pub rule_id: i64,
    pub rule_name: String,
    pub at_ms: i64,
    pub pc: String,
    pub asset_id: Option<i64>,
    pub user_name: Option<String>,
    pub kind: String,
    pub summary: String,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at_ms: Option<i64>,
}

// Software distribution.

/// A package as stored: its signed manifest and how it installs. The
/// content itself is in the chunk store (`DATA/chunks`), not here.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PackageRecord {
    pub id: i64,
    pub name: String,
    pub version: String,
    /// Anti-rollback serial of this manifest (per package name).
    pub serial: i64,
    pub file_name: String,
    pub framework: String,
    pub command: String,
    pub detection: Option<String>,
    pub size: i64,
    pub sha256: String,
    /// The manifest to sign (`lanward package sign` offline).
    #[serde(skip)]
    pub unsigned_manifest: String,
    /// `None` until signed: such a package cannot be deployed.
    #[serde(skip)]
    pub signed_manifest: Option<String>,
    pub signed: bool,
    pub expires_at_ms: i64,
    pub created_at_ms: i64,
    pub created_by: String,
}

#[derive(Debug, Clone)]
pub struct NewPackage {
    pub name: String,
    pub version: String,
    pub serial: i64,
    pub file_name: String,
    pub framework: String,
    pub command: String,
    pub detection: Option<String>,
    pub size: i64,
    pub sha256: String,
    pub unsigned_manifest: String,
    pub signed_manifest: Option<String>,
    pub expires_at_ms: i64,
    pub created_at_ms: i64,
    pub created_by: String,
}

/// One deployment. `plan` is the scheduler's plan (JSON of
/// `lanward_deploy::PlanSpec`), `memory` what the scheduler keeps between
/// ticks; both are opaque here.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DeploymentRecord {
    pub id: i64,
    pub package_id: i64,
    pub package_name: String,
    pub package_version: String,
    pub title: String,
    /// `active`, `paused`, `cancelled`.
    pub status: String,
    #[serde(skip)]
    pub plan: String,
    #[serde(skip)]
    pub memory: String,
    pub created_at_ms: i64,
    pub created_by: String,
    pub updated_at_ms: i64,
}

#[derive(Debug, Clone)]
pub struct NewDeployment {
    pub package_id: i64,
    pub title: String,
    pub plan: String,
    pub targets: Vec<NewDeploymentTarget>,
    pub created_at_ms: i64,
    pub created_by: String,
}

#[derive(Debug, Clone)]
pub struct NewDeploymentTarget {
    pub asset_id: i64,
    pub wave: i64,
    pub site: String,
    pub department: String,
}

/// Where one PC of a deployment stands. `state` is the JSON of
/// `lanward_deploy::TargetState`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DeploymentTargetRecord {
    pub deployment_id: i64,
    pub asset_id: i64,
    pub hostname: String,
    pub site: String,
    pub department: String,
    pub wave: i64,
    #[serde(skip)]
    pub state: String,
    /// Why the target failed or does not apply, in words.
    pub reason: Option<String>,
    /// Bytes this PC fetched from the server (the WAN, for a branch site).
    pub server_bytes: i64,
    pub attempts: i64,
    pub updated_at_ms: i64,
}

#[derive(Debug, Clone)]
pub struct TargetUpdate {
    pub deployment_id: i64,
    pub asset_id: i64,
    pub state: String,
    pub reason: Option<String>,
    pub add_server_bytes: i64,
    /// A retry counts one more attempt.
    pub new_attempt: bool,
    pub now_ms: i64,
}
