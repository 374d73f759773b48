//! Software distribution between agent and server: which deployments the
//! agent has to work on, and what it reports back.
//!
//! The agent asks for its assignments (`POST /api/v1/agent/deployments`),
//! downloads chunks (`GET /api/v1/agent/chunks/{sha256}`), and reports each
//! step (`POST /api/v1/agent/deployments/report`). The manifest is carried
//! as the signed file's text: the agent verifies it against the key it
//! pinned at enrolment, never trusting the server's word alone.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct AssignmentsRequest {
    /// Deployments the agent is still working on: the server answers for
    /// these even when they were cancelled, so the agent can stop.
    #[serde(default)]
    pub working_on: Vec<i64>,
    /// Where this agent serves chunks to its site (when it is the site's cache).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_url: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Assignment {
    pub deployment_id: i64,
    pub package: String,
    pub version: String,
    /// The signed manifest exactly as signed (`lanward-signed-manifest/1`).
    pub signed_manifest: String,
    /// `go`: work on it; `wait`: keep what was downloaded, do nothing now
    /// (paused, or outside the maintenance window); `stop`: cancelled,
    /// forget it.
    pub directive: Directive,
    /// Downloads and installs may run until this instant (end of the open
    /// maintenance window or the deadline); `None`: no limit.
    #[serde(default)]
    pub until_ms: Option<i64>,
    /// Chunk sources to try before the server, in order (the site cache).
    #[serde(default)]
    pub chunk_sources: Vec<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Directive {
    Go,
    Wait,
    Stop,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct AssignmentsResponse {
    pub assignments: Vec<Assignment>,
    /// When to ask again.
    pub poll_secs: u64,
    /// This agent is its site's cache: it should serve chunks to the site's
    /// other PCs (and report where in `cache_url`).
    #[serde(default)]
    pub site_cache: bool,
}

/// One step of one target, as the agent saw it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum TargetStep {
    Progress { percent: u8 },
    Downloaded,
    Installing,
    Installed { reboot_required: bool },
    /// The package is already there (detection rule before install) or
    /// does not apply to this PC.
    NotApplicable { reason: String },
    Failed { code: i32, reason: String, log_tail: String },
    /// The PC rebooted after an install that needed it.
    Rebooted,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TargetReport {
    pub deployment_id: i64,
    pub step: TargetStep,
    /// Bytes fetched from the server (not from a site cache) for this step.
    #[serde(default)]
    pub server_bytes: u64,
    #[serde(default)]
    pub at_ms: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ReportRequest {
    pub reports: Vec<TargetReport>,
}

/// Exit codes the agent reports for failures that are not the installer's.
pub mod codes {
    /// The manifest was refused (unsigned, other key, tampered, expired, rollback).
    pub const MANIFEST_REFUSED: i32 = -1001;
    /// Content could not be fetched or verified.
    pub const DOWNLOAD_FAILED: i32 = -1002;
    /// The installer exited 0 but the detection rule does not find the product.
    pub const NOT_DETECTED_AFTER_INSTALL: i32 = -1003;
    /// The installer could not be started or ran past its time limit.
    pub const INSTALLER_NOT_RUN: i32 = -1004;
    pub const TIMED_OUT: i32 = -1005;
    /// The detection rule cannot run on this PC.
    pub const DETECTION_FAILED: i32 = -1006;
}
