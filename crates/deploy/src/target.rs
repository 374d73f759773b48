//! Which PCs a deployment reaches: a [`TargetSpec`] resolved against the
//! candidates the caller read from the ledger.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

/// The ledger's asset ID.
pub type AssetId = i64;

/// One asset the caller offers for resolution (read from the ledger/agents).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    pub asset_id: AssetId,
    pub hostname: String,
    /// Site code (`HQ`, `KUN`, ...).
    pub site: String,
    pub department: String,
    pub tags: Vec<String>,
    /// Ledger kind (`pc`, `server`, ...). Not filtered here: a spec may target servers.
    pub kind: String,
    /// Ledger status (`in_use`, `spare`, `repair`, `retired`; `disposed` also refused).
    pub status: String,
}

impl Candidate {
    /// Retired or disposed PCs are gone or about to be; nothing is sent to them.
    pub fn is_active(&self) -> bool {
        !matches!(self.status.as_str(), "retired" | "disposed")
    }
}

/// What a deployment targets. Any combination:
/// the filters (sites, departments, tags, saved query) narrow each other
/// (AND between kinds, OR within one list); explicit hostnames are added
/// on top. A spec with only hostnames targets just those.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetSpec {
    #[serde(default)]
    pub sites: Vec<String>,
    #[serde(default)]
    pub departments: Vec<String>,
    /// A candidate matches when it has any of these tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Name of a saved query; the caller evaluates it and passes its asset IDs.
    #[serde(default)]
    pub query: Option<String>,
    #[serde(default)]
    pub hostnames: Vec<String>,
}

/// The resolved target list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolved {
    /// Sorted by hostname, each asset once.
    pub targets: Vec<Candidate>,
    /// Explicit hostnames that match no candidate (typos, PCs not enrolled).
    pub unknown_hostnames: Vec<String>,
    /// Explicit hostnames that match a retired/disposed asset: named so a
    /// person sees why a PC they typed is not in the list.
    pub inactive_hostnames: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("配布対象が指定されていません (target spec is empty)")]
    Empty,
    #[error("保存済み検索 \"{0}\" がありません (saved query not found)")]
    UnknownQuery(String),
}

impl TargetSpec {
    fn has_filters(&self) -> bool {
        !self.sites.is_empty()
            || !self.departments.is_empty()
            || !self.tags.is_empty()
            || self.query.is_some()
    }

    /// Resolve against `candidates`. `saved_queries` maps a query name to
    /// the asset IDs it returned (the server runs it; this crate stays pure).
    pub fn resolve(
        &self,
        candidates: &[Candidate],
        saved_queries: &HashMap<String, Vec<AssetId>>,
    ) -> Result<Resolved, TargetError> {
        if !self.has_filters() && self.hostnames.is_empty() {
            return Err(TargetError::Empty);
        }
        let query_ids: Option<BTreeSet<AssetId>> = match &self.query {
            Some(name) => Some(
                saved_queries
                    .get(name)
                    .ok_or_else(|| TargetError::UnknownQuery(name.clone()))?
                    .iter()
                    .copied()
                    .collect(),
            ),
            None => None,
        };
        // Hostnames compare case-insensitively, as the ledger matches them.
        let wanted_hosts: BTreeMap<String, &str> = self
            .hostnames
            .iter()
            .map(|h| (h.trim().to_uppercase(), h.as_str()))
            .collect();
        let mut seen_hosts = BTreeSet::new();
        let mut inactive = BTreeSet::new();
        let mut picked: BTreeMap<AssetId, &Candidate> = BTreeMap::new();
        for c in candidates {
            let host_key = c.hostname.trim().to_uppercase();
            let named = wanted_hosts.contains_key(&host_key);
            if named {
                seen_hosts.insert(host_key.clone());
            }
            if !c.is_active() {
                if named {
                    inactive.insert(c.hostname.clone());
                }
                continue;
            }
            let by_filter = self.has_filters()
                && (self.sites.is_empty()
                    || self.sites.iter().any(|s| s.eq_ignore_ascii_case(&c.site)))
                && (self.departments.is_empty()
                    || self.departments.iter().any(|d| d == &c.department))
                && (self.tags.is_empty() || c.tags.iter().any(|t| self.tags.contains(t)))
                && query_ids
                    .as_ref()
                    .is_none_or(|ids| ids.contains(&c.asset_id));
            if named || by_filter {
                // Keyed by asset ID: one asset named twice, or named and filtered, counts once.
                picked.entry(c.asset_id).or_insert(c);
            }
        }
        let mut targets: Vec<Candidate> = picked.into_values().cloned().collect();
        targets.sort_by(|a, b| {
            a.hostname
                .cmp(&b.hostname)
                .then(a.asset_id.cmp(&b.asset_id))
        });
        let unknown_hostnames = wanted_hosts
            .iter()
            .filter(|(k, _)| !seen_hosts.contains(*k))
            .map(|(_, orig)| orig.trim().to_string())
            .collect();
        Ok(Resolved {
            targets,
            unknown_hostnames,
            inactive_hostnames: inactive.into_iter().collect(),
        })
    }
}
