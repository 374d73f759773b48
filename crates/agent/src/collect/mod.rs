//! Collectors: one per inventory section, all behind [`Collector`].
//!
//! Each module holds the collector of one section, with its Linux and
//! Windows code side by side (`#[cfg]`). A collector that fails or finds a
//! source missing does not stop the others: its reason goes into the
//! `diagnostics` section.

use lanward_proto::CollectorNote;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub mod fake;
pub mod hardware;
pub mod hotfixes;
pub mod neighbors;
pub mod network;
pub mod office;
pub mod os;
pub mod antivirus;
pub mod registry;
pub mod software;
pub mod storage;
#[cfg(windows)]
pub mod windows;
// The Windows collectors' pure helpers are tested on every platform.
#[cfg(all(test, not(windows)))]
#[path = "windows/decode.rs"]
mod windows_decode;

/// What the administrator asks the agents to collect beyond the defaults.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CollectConfig {
    /// Registry values to report, e.g. `HKLM\SOFTWARE\Policies\Microsoft\Windows\WindowsUpdate\WUServer`
    /// (key, then value name after the last backslash).
    pub registry_values: Vec<String>,
    /// Seconds a single WMI query may take before it is abandoned.
    pub wmi_timeout_secs: u64,
}

/// Notes collectors leave for the diagnostics section.
pub type Notes = Vec<CollectorNote>;

pub trait Collector: Send + Sync {
    /// The section this collector fills (one of `lanward_proto::SECTION_NAMES`).
    fn section(&self) -> &'static str;
    /// The section's JSON. `Err` means the section could not be collected
    /// at all; partial problems go into `notes`.
    fn collect(&self, config: &CollectConfig, notes: &mut Notes) -> Result<String, String>;
}

pub fn to_json<T: Serialize>(value: &T) -> Result<String, String> {
    serde_json::to_string(value).map_err(|e| e.to_string())
}

/// Collectors of this platform.
pub fn platform_collectors() -> Vec<Box<dyn Collector>> {
    #[allow(unused_mut)]
    let mut list: Vec<Box<dyn Collector>> = vec![
        Box::new(os::OsCollector),
        Box::new(hardware::HardwareCollector),
        Box::new(storage::StorageCollector),
        Box::new(network::NetworkCollector),
        Box::new(neighbors::NeighborsCollector),
        Box::new(software::SoftwareCollector),
    ];
    #[cfg(windows)]
    list.extend([
        Box::new(hotfixes::HotfixCollector) as Box<dyn Collector>,
        Box::new(office::OfficeCollector),
        Box::new(antivirus::AntivirusCollector),
        Box::new(registry::RegistryCollector),
    ]);
    list
}

/// Runs every collector and returns section name → JSON, including the
/// `diagnostics` section.
pub fn collect_all(collectors: &[Box<dyn Collector>], config: &CollectConfig) -> BTreeMap<String, String> {
    let mut notes = Notes::new();
    let mut sections = BTreeMap::new();
    for c in collectors {
        match c.collect(config, &mut notes) {
            Ok(json) => {
                sections.insert(c.section().to_string(), json);
            }
            Err(reason) => notes.push(CollectorNote { collector: c.section().to_string(), message: reason }),
        }
    }
    notes.sort_by(|a, b| (&a.collector, &a.message).cmp(&(&b.collector, &b.message)));
    sections.insert("diagnostics".to_string(), to_json(&notes).unwrap_or_else(|_| "[]".into()));
    sections
}

/// The machine's serial number and MAC addresses, sent at enrolment so
/// the server can match an asset already in its ledger. Best effort: a
/// collector that fails only leaves the hint out.
pub fn machine_hints() -> (Option<String>, Vec<String>) {
    let config = CollectConfig::default();
    let mut notes = Notes::new();
    let serial = hardware::HardwareCollector
        .collect(&config, &mut notes)
        .ok()
        .and_then(|j| serde_json::from_str::<lanward_proto::Hardware>(&j).ok())
        .and_then(|h| h.serial);
    let macs = network::NetworkCollector
        .collect(&config, &mut notes)
        .ok()
        .and_then(|j| serde_json::from_str::<Vec<lanward_proto::Nic>>(&j).ok())
        .map(|nics| nics.into_iter().filter_map(|n| n.mac).collect())
        .unwrap_or_default();
    (serial, macs)
}

/// Reads a small text file, trimmed; `None` when missing or empty.
#[cfg(unix)]
pub(crate) fn read_trimmed(path: impl AsRef<std::path::Path>) -> Option<String> {
    let s = std::fs::read_to_string(path).ok()?;
    let s = s.trim().trim_matches('\0').trim();
    (!s.is_empty()).then(|| s.to_string())
}
