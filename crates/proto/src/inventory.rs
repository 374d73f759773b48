//! Inventory sections.
//!
//! An inventory is split into sections that change at different rates
//! (hardware almost never, volumes' free space often). The agent hashes each
//! section and sends only those whose hash changed since the server last
//! acknowledged them.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Names of the sections, in the order they are reported.
pub const SECTION_NAMES: &[&str] =
    &["os", "hardware", "storage", "network", "neighbors", "software", "hotfixes", "office", "antivirus", "registry", "diagnostics"];

/// The hash of a section: the first 128 bits of SHA-256 of its JSON, hex.
/// 128 bits is plenty to detect change and keeps a check-in small.
pub fn section_hash(json: &[u8]) -> String {
    hex::encode(&Sha256::digest(json)[..16])
}

/// A set of collected sections; absent ones were not collected or did not
/// change.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct InventoryReport {
    /// When the agent collected it (Unix milliseconds).
    pub collected_at_ms: i64,
    /// Hash of every section the agent has, changed or not.
    pub section_hashes: BTreeMap<String, String>,
    /// Content of the changed sections, keyed by section name. Kept as raw
    /// JSON so the server stores exactly the bytes that were hashed.
    pub sections: BTreeMap<String, Box<serde_json::value::RawValue>>,
}


/// Error of [`validate_section`]: which section, and serde's path and reason.
#[derive(Debug, Clone, PartialEq)]
pub struct SectionError {
    pub section: String,
    pub message: String,
}

impl std::fmt::Display for SectionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "section `{}`: {}", self.section, self.message)
    }
}

/// Checks that a section's JSON has the shape its name promises; the
/// message names the offending field (e.g. `software[3].name`).
pub fn validate_section(name: &str, json: &str) -> Result<(), SectionError> {
    fn check<T: serde::de::DeserializeOwned>(name: &str, json: &str) -> Result<(), SectionError> {
        let de = &mut serde_json::Deserializer::from_str(json);
        serde_path_to_error::deserialize::<_, T>(de)
            .map(|_| ())
            .map_err(|e| SectionError { section: name.to_string(), message: format!("{} ({})", e.path(), e.inner()) })
    }
    match name {
        "os" => check::<OsInfo>(name, json),
        "hardware" => check::<Hardware>(name, json),
        "storage" => check::<Storage>(name, json),
        "network" => check::<Vec<Nic>>(name, json),
        "neighbors" => check::<Vec<Neighbor>>(name, json),
        "software" => check::<Vec<Software>>(name, json),
        "hotfixes" => check::<Vec<Hotfix>>(name, json),
        "office" => check::<Option<Office>>(name, json),
        "antivirus" => check::<Antivirus>(name, json),
        "registry" => check::<Vec<RegistryValue>>(name, json),
        "diagnostics" => check::<Vec<CollectorNote>>(name, json),
        other => Err(SectionError { section: other.to_string(), message: "unknown section".into() }),
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct OsInfo {
    pub hostname: String,
    pub domain: Option<String>,
    /// "linux" or "windows".
    pub family: String,
    /// e.g. "Microsoft Windows 11 Pro" or "Debian GNU/Linux 12 (bookworm)".
    pub name: String,
    /// e.g. "10.0.22631" or "12".
    pub version: String,
    /// Windows: CurrentBuild.UBR ("22631.4460"); Linux: kernel release.
    pub build: String,
    /// Windows DisplayVersion ("23H2"); Linux VERSION_CODENAME.
    pub display_version: Option<String>,
    pub edition: Option<String>,
    pub kernel: Option<String>,
    pub arch: String,
    pub install_date: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct Hardware {
    pub vendor: Option<String>,
    pub model: Option<String>,
    pub serial: Option<String>,
    pub uuid: Option<String>,
    pub bios_vendor: Option<String>,
    pub bios_version: Option<String>,
    pub bios_date: Option<String>,
    pub cpu: Cpu,
    pub memory_bytes: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct Cpu {
    pub model: String,
    pub sockets: u32,
    pub cores: u32,
    pub threads: u32,
}

/// Disks and the free space of their volumes. Free space is rounded down to
/// [`FREE_SPACE_GRANULARITY`] so that a busy log file does not make every
/// check-in carry this section.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct Storage {
    pub disks: Vec<Disk>,
    pub volumes: Vec<Volume>,
}

pub const FREE_SPACE_GRANULARITY: u64 = 256 * 1024 * 1024;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct Disk {
    pub name: String,
    pub model: Option<String>,
    pub serial: Option<String>,
    pub size_bytes: u64,
    /// Sum of the free space of the volumes on this disk, where known.
    pub free_bytes: Option<u64>,
    pub rotational: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct Volume {
    pub mount: String,
    pub device: String,
    pub fs: String,
    pub size_bytes: u64,
    pub free_bytes: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct Nic {
    pub name: String,
    pub mac: Option<String>,
    pub ipv4: Vec<String>,
    pub ipv6: Vec<String>,
    pub speed_mbps: Option<u64>,
}

/// A device the PC has talked to on its own subnet (ARP / neighbour
/// cache): how the server finds devices on the LAN that are in no ledger.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default, PartialOrd, Ord)]
#[serde(default)]
pub struct Neighbor {
    /// IPv4 or IPv6 address, as text.
    pub ip: String,
    /// `AA:BB:CC:DD:EE:FF`, when resolved.
    pub mac: Option<String>,
    pub interface: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct Software {
    pub name: String,
    pub version: Option<String>,
    pub publisher: Option<String>,
    pub install_date: Option<String>,
    pub arch: Option<String>,
    /// Where it was found: "dpkg", "rpm", "hklm", "hklm-wow64", "hku:<SID>".
    pub source: String,
    /// Windows SystemComponent=1: kept, but not shown as an application.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub system_component: bool,
    pub product_code: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct Hotfix {
    /// e.g. "KB5044284".
    pub id: String,
    pub description: Option<String>,
    pub installed_on: Option<String>,
    pub installed_by: Option<String>,
}

/// Office Click-to-Run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct Office {
    /// VersionToReport, e.g. "16.0.14332.20763".
    pub version: String,
    /// ProductReleaseIds, e.g. ["Standard2021Volume"].
    pub product_ids: Vec<String>,
    /// Channel name derived from the CDN base URL, e.g. "PerpetualVL2021".
    pub channel: Option<String>,
    pub platform: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct Antivirus {
    pub products: Vec<AntivirusProduct>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct AntivirusProduct {
    pub name: String,
    pub product_version: Option<String>,
    pub pattern_version: Option<String>,
    /// SecurityCenter2 productState as reported.
    pub product_state: Option<u32>,
    pub enabled: Option<bool>,
    pub up_to_date: Option<bool>,
    /// "securitycenter2" or "registry".
    pub source: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct RegistryValue {
    /// e.g. `HKLM\SOFTWARE\Policies\Microsoft\Windows\WindowsUpdate`.
    pub key: String,
    pub name: String,
    pub value: Option<String>,
    pub kind: Option<String>,
    pub error: Option<String>,
}

/// What a collector could not do, and why (e.g. SecurityCenter2 missing).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct CollectorNote {
    pub collector: String,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_field() {
        let err = validate_section("software", r#"[{"name":"a","source":"dpkg"},{"name":5}]"#).unwrap_err();
        assert!(err.message.contains("[1].name"), "{err}");
        assert!(validate_section("software", r#"[{"name":"a","source":"dpkg"}]"#).is_ok());
        assert!(validate_section("bogus", "{}").is_err());
    }

    #[test]
    fn hash_is_short_and_stable() {
        assert_eq!(section_hash(b"{}"), section_hash(b"{}"));
        assert_eq!(section_hash(b"{}").len(), 32);
    }
}

/// A cheap, deterministic stand-in for the fuzz targets that runs in every
/// test run: mutated inputs must give errors, never panics.
#[cfg(test)]
mod mutation_tests {
    use super::*;

    fn mutations(seed: &str, rounds: usize) -> impl Iterator<Item = Vec<u8>> + '_ {
        let mut x: u64 = 0x9E3779B97F4A7C15;
        (0..rounds).map(move |_| {
            let mut b = seed.as_bytes().to_vec();
            for _ in 0..1 + (x % 4) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let i = (x as usize) % b.len().max(1);
                match x % 3 {
                    0 if !b.is_empty() => b[i] = (x >> 8) as u8,
                    1 if !b.is_empty() => {
                        b.remove(i);
                    }
                    _ => b.insert(i.min(b.len()), b"{}[]\",:0-e\\"[(x >> 16) as usize % 11]),
                }
            }
            b
        })
    }

    #[test]
    fn mutated_checkins_never_panic() {
        let seed = r#"{"v":"1","h":{"os":"ab"},"report":{"collected_at_ms":1,"section_hashes":{"os":"x","software":"y"},"sections":{"os":{"hostname":"PC","family":"windows","name":"Windows","version":"10","build":"1","arch":"x86_64"},"software":[{"name":"Lhaplus","version":"1.74","source":"hklm"}]}},"gaps":[{"dropped_items":1,"dropped_bytes":2,"first_dropped_at_ms":3,"last_dropped_at_ms":4}]}"#;
        let mut parsed = 0;
        for m in mutations(seed, 20_000) {
            if let Ok(req) = serde_json::from_slice::<crate::CheckinRequest>(&m) {
                parsed += 1;
                for (name, raw) in req.report.iter().flat_map(|r| r.sections.iter()) {
                    let _ = validate_section(name, raw.get());
                }
            }
        }
        assert!(parsed > 0, "some mutations should still parse");
    }

    #[test]
    fn mutated_tokens_never_panic() {
        let seed = format!("lwt1.abc.def.{}", "a".repeat(64));
        for m in mutations(&seed, 20_000) {
            if let Ok(s) = std::str::from_utf8(&m) {
                let _ = crate::token::EnrollmentToken::parse(s);
            }
        }
    }
}
