//! One agent's check-in logic, shared by the real agent and simulated ones.
//!
//! The agent remembers the hashes of the sections it last queued. A new
//! collection queues a report with only the sections whose hash changed
//! (all of them the first time). Reports leave the queue only when the
//! server acknowledged them. With nothing queued, a check-in carries just
//! the hashes, and the server names any section it does not hold (after a
//! restore, say) for the agent to send again.

use crate::client::{ClientError, ServerClient};
use crate::collect::{collect_all, CollectConfig, Collector};
use crate::spool::Spool;
use lanward_proto::{section_hash, CheckinResponse, InventoryReport, QueueGap};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

pub const CHECKIN_PATH: &str = "/api/v1/agent/checkin";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct AgentState {
    /// Hashes of the sections as last queued.
    pub section_hashes: BTreeMap<String, String>,
    /// Sections the server asked to receive again.
    pub force: BTreeSet<String>,
    pub last_inventory_ms: i64,
    pub checkin_interval_secs: u64,
    pub inventory_interval_secs: u64,
}

impl Default for AgentState {
    fn default() -> Self {
        AgentState {
            section_hashes: BTreeMap::new(),
            force: BTreeSet::new(),
            last_inventory_ms: 0,
            checkin_interval_secs: 300,
            inventory_interval_secs: 3600,
        }
    }
}

/// Counters for tests and benchmarks.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub requests: u64,
    pub bytes_sent: u64,
    pub last_body_bytes: u64,
    pub reports_sent: u64,
}

pub struct AgentCore {
    pub client: ServerClient,
    pub collectors: Vec<Box<dyn Collector>>,
    pub config: CollectConfig,
    pub spool: Box<dyn Spool>,
    pub state: AgentState,
    /// Where `state` is saved; `None` for simulated agents.
    pub state_path: Option<PathBuf>,
    pub stats: Stats,
}

/// Builds a check-in body around an already-serialised report, without
/// parsing it again: the queue holds reports as JSON bytes.
pub fn checkin_body(hashes: Option<&BTreeMap<String, String>>, report: Option<&[u8]>, gaps: &[QueueGap]) -> Vec<u8> {
    let mut body = Vec::with_capacity(report.map(|r| r.len()).unwrap_or(0) + 512);
    body.extend_from_slice(b"{\"v\":");
    body.extend_from_slice(serde_json::to_string(crate::AGENT_VERSION).unwrap_or_default().as_bytes());
    if let Some(h) = hashes {
        body.extend_from_slice(b",\"h\":");
        body.extend_from_slice(&serde_json::to_vec(h).unwrap_or_default());
    }
    if let Some(r) = report {
        body.extend_from_slice(b",\"report\":");
        body.extend_from_slice(r);
    }
    if !gaps.is_empty() {
        body.extend_from_slice(b",\"gaps\":");
        body.extend_from_slice(&serde_json::to_vec(gaps).unwrap_or_default());
    }
    body.push(b'}');
    body
}

impl AgentCore {
    pub fn inventory_due(&self, now_ms: i64) -> bool {
        !self.state.force.is_empty()
            || now_ms - self.state.last_inventory_ms >= self.state.inventory_interval_secs as i64 * 1000
    }

    /// Collects every section and queues a report of those that changed.
    /// Returns the number of sections queued.
    pub fn collect_and_queue(&mut self) -> std::io::Result<usize> {
        let sections = collect_all(&self.collectors, &self.config);
        self.queue_sections(sections)
    }

    pub fn queue_sections(&mut self, sections: BTreeMap<String, String>) -> std::io::Result<usize> {
        let now = crate::now_ms();
        let hashes: BTreeMap<String, String> = sections.iter().map(|(n, j)| (n.clone(), section_hash(j.as_bytes()))).collect();
        let mut report = InventoryReport { collected_at_ms: now, section_hashes: hashes.clone(), sections: BTreeMap::new() };
        for (name, json) in sections {
            if self.state.force.contains(&name) || self.state.section_hashes.get(&name) != hashes.get(&name) {
                let raw = serde_json::value::RawValue::from_string(json).map_err(std::io::Error::other)?;
                report.sections.insert(name, raw);
            }
        }
        let changed = report.sections.len();
        if changed > 0 {
            self.spool.push(serde_json::to_vec(&report).map_err(std::io::Error::other)?)?;
        }
        self.state.section_hashes = hashes;
        self.state.force.clear();
        self.state.last_inventory_ms = now;
        self.save_state();
        Ok(changed)
    }

    fn save_state(&self) {
        if let Some(path) = &self.state_path {
            let bytes = serde_json::to_vec_pretty(&self.state).unwrap_or_default();
            if let Err(e) = crate::spool::write_atomic(path, &bytes) {
                tracing::warn!(path = %path.display(), error = %e, "cannot save agent state");
            }
        }
    }

    fn send(&mut self, body: &[u8]) -> Result<CheckinResponse, ClientError> {
        self.stats.requests += 1;
        self.stats.bytes_sent += body.len() as u64;
        self.stats.last_body_bytes = body.len() as u64;
        let bytes = self.client.post(CHECKIN_PATH, body)?;
        serde_json::from_slice(&bytes).map_err(|e| ClientError::BadResponse(e.to_string()))
    }

    fn apply(&mut self, resp: &CheckinResponse) {
        self.state.checkin_interval_secs = resp.next_checkin_secs.clamp(5, 86_400);
        self.state.inventory_interval_secs = resp.inventory_interval_secs.clamp(60, 7 * 86_400);
        if !resp.resend.is_empty() {
            self.state.force.extend(resp.resend.iter().cloned());
        }
        self.save_state();
    }

    /// Sends everything queued, oldest first, or a bare heartbeat when the
    /// queue is empty. Stops at the first failure; what was not
    /// acknowledged stays queued.
    pub fn checkin(&mut self) -> Result<CheckinResponse, ClientError> {
        let mut last = None;
        loop {
            let item = self.spool.peek().map_err(|e| ClientError::Unreachable(format!("queue: {e}")))?;
            let gap = self.spool.gap();
            let gaps: Vec<QueueGap> = gap.into_iter().collect();
            let body = match &item {
                Some(report) => checkin_body(None, Some(report), &gaps),
                None if last.is_some() => break,
                None => checkin_body(Some(&self.state.section_hashes), None, &gaps),
            };
            match self.send(&body) {
                Ok(resp) => {
                    if item.is_some() {
                        self.stats.reports_sent += 1;
                        self.spool.pop().map_err(|e| ClientError::Unreachable(format!("queue: {e}")))?;
                    }
                    if !gaps.is_empty() {
                        let _ = self.spool.clear_gap();
                    }
                    self.apply(&resp);
                    last = Some(resp);
                    if item.is_none() {
                        break;
                    }
                }
                Err(ClientError::Rejected { status, message }) if item.is_some() => {
                    // This report will never be accepted: drop it, and send
                    // everything afresh so the server ends up consistent.
                    tracing::error!(status, %message, "server rejected a queued report; dropping it");
                    let _ = self.spool.pop();
                    self.state.section_hashes.clear();
                    self.state.last_inventory_ms = 0;
                }
                Err(e) => return Err(e),
            }
        }
        last.ok_or_else(|| ClientError::BadResponse("no check-in was made".into()))
    }

    /// One step of the agent: collect if due, then check in. Returns how
    /// long to wait before the next step.
    pub fn step(&mut self) -> (std::time::Duration, Result<CheckinResponse, ClientError>) {
        if self.inventory_due(crate::now_ms()) {
            if let Err(e) = self.collect_and_queue() {
                tracing::error!(error = %e, "cannot queue inventory");
            }
        }
        let result = self.checkin();
        let wait = match &result {
            // The server asked for sections again: collect and send them now.
            Ok(_) if !self.state.force.is_empty() => std::time::Duration::from_secs(1),
            Ok(r) => std::time::Duration::from_secs(r.next_checkin_secs.max(1)),
            Err(_) => std::time::Duration::from_secs(self.state.checkin_interval_secs),
        };
        (wait, result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_is_a_checkin_request() {
        let mut h = BTreeMap::new();
        h.insert("os".to_string(), "ab".to_string());
        let report = br#"{"collected_at_ms":1,"section_hashes":{"os":"ab"},"sections":{"os":{"hostname":"x"}}}"#;
        let gap = QueueGap { dropped_items: 2, dropped_bytes: 3, first_dropped_at_ms: 4, last_dropped_at_ms: 5 };
        let req: lanward_proto::CheckinRequest = serde_json::from_slice(&checkin_body(Some(&h), Some(report), std::slice::from_ref(&gap))).unwrap();
        assert_eq!(req.section_hashes, h);
        assert_eq!(req.gaps, vec![gap]);
        assert_eq!(req.report.unwrap().sections["os"].get(), r#"{"hostname":"x"}"#);
        let heartbeat = checkin_body(Some(&h), None, &[]);
        assert!(heartbeat.len() < 200, "{}", heartbeat.len());
    }
}
