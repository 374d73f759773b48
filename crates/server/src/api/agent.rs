//! The agent API: enrolment and check-in.

use crate::auth::verify_agent;
use crate::error::{ApiResult, AppError};
use crate::state::{AgentEntry, AgentMut, ReplayGuard};
use crate::SharedState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::Json;
use base64::Engine;
use lanward_proto::token::EnrollmentToken;
use lanward_proto::*;
use lanward_store::{CheckinOutcome, CheckinWrite, EnrollAgent, EnrollOutcome, GapWrite, NewAuditEntry, SectionWrite};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

pub(crate) fn body_or_error(body: Result<Bytes, BytesRejection>) -> ApiResult<Bytes> {
    body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            AppError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("要求が大きすぎます (上限 {} MB)", MAX_AGENT_BODY_BYTES / 1024 / 1024),
                format!("request body exceeds {} MB", MAX_AGENT_BODY_BYTES / 1024 / 1024),
            )
        } else {
            AppError::bad_request("body_unreadable", format!("要求本文を読めません: {e}"), format!("cannot read request body: {e}"))
        }
    })
}

pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    serde_json::from_slice(bytes).map_err(|e| {
        AppError::bad_request(
            "json_invalid",
            format!("JSON が不正です ({} 行 {} 列): {e}", e.line(), e.column()),
            format!("invalid JSON at line {} column {}: {e}", e.line(), e.column()),
        )
    })
}

pub async fn ca_certificate(State(state): State<SharedState>) -> ([(axum::http::HeaderName, &'static str); 1], String) {
    ([(axum::http::header::CONTENT_TYPE, "application/x-pem-file")], state.ca_pem.clone())
}

pub async fn enroll(
    State(state): State<SharedState>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<EnrollResponse>> {
    let body = body_or_error(body)?;
    let req: EnrollRequest = parse_json(&body)?;
    let token = EnrollmentToken::parse(&req.token)
        .map_err(|e| AppError::unauthorized("token_invalid", format!("登録トークンが不正です: {e}"), format!("invalid enrolment token: {e}")))?;
    let public_key = base64::engine::general_purpose::STANDARD
        .decode(req.public_key.as_bytes())
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .and_then(|b| ed25519_dalek::VerifyingKey::from_bytes(&b).ok())
        .ok_or_else(|| AppError::bad_request("public_key_invalid", "public_key が Ed25519 公開鍵ではありません", "public_key is not an Ed25519 public key"))?;
    let hostname = req.hostname.trim();
    if hostname.is_empty() || hostname.len() > 255 || hostname.chars().any(|c| c.is_control()) {
        return Err(AppError::bad_request("hostname_invalid", "hostname が不正です", "hostname is empty, too long or has control characters"));
    }
    if req.os_family != "windows" && req.os_family != "linux" {
        return Err(AppError::bad_request("os_family_invalid", "os_family は windows か linux です", "os_family must be windows or linux"));
    }
    let agent_id = uuid::Uuid::new_v4().to_string();
    let enroll = EnrollAgent {
        token_id: token.id.clone(),
        secret_hash: crate::bootstrap::token_hash(&token.secret),
        agent_id: agent_id.clone(),
        public_key: public_key.to_bytes().to_vec(),
        hostname: hostname.to_string(),
        os_family: req.os_family.clone(),
        serial: req.serial.as_deref().map(str::trim).filter(|s| !s.is_empty() && s.len() <= 128).map(String::from),
        macs: req.macs.iter().filter_map(|m| lanward_ledger::check("mac_addresses", m).ok()).filter(|m| !m.is_empty() && !m.contains(',')).take(16).collect(),
        now_ms: lanward_store::now_ms(),
    };
    let store = state.store.clone();
    let outcome = tokio::task::spawn_blocking(move || store.enroll_agent(&enroll)).await??;
    let (site, asset_id, matched_by, superseded) = match outcome {
        EnrollOutcome::Enrolled { site, asset_id, matched_by, superseded_agent } => (site, asset_id, matched_by, superseded_agent),
        EnrollOutcome::UnknownToken | EnrollOutcome::WrongSecret => {
            return Err(AppError::unauthorized("token_invalid", "登録トークンが無効です", "enrolment token is not valid"))
        }
        EnrollOutcome::Expired => return Err(AppError::unauthorized("token_expired", "登録トークンの有効期限が切れています", "enrolment token has expired")),
        EnrollOutcome::UsedUp => {
            return Err(AppError::unauthorized("token_used_up", "登録トークンの使用回数の上限に達しています", "enrolment token has been used up"))
        }
    };
    // The reinstalled PC's old agent stops here and now, not at restart.
    if let Some(old) = superseded.as_deref().and_then(|id| state.agent(id)) {
        if let Ok(mut m) = old.m.lock() {
            m.revoked = true;
        }
    }
    if let Ok(mut agents) = state.agents.write() {
        agents.insert(
            agent_id.clone(),
            Arc::new(AgentEntry {
                id: agent_id.clone(),
                key: public_key,
                asset_id,
                m: Mutex::new(AgentMut { revoked: false, hostname: hostname.to_string(), replay: ReplayGuard::default(), hashes: BTreeMap::new() }),
            }),
        );
    }
    let store = state.store.clone();
    let audit = NewAuditEntry {
        actor: format!("token:{}", token.id),
        action: "agent.enroll".into(),
        target: format!("agent:{agent_id}"),
        detail: format!(
            "hostname={hostname} site={site} asset={asset_id} matched_by={} superseded={}",
            matched_by.unwrap_or("new"),
            superseded.as_deref().unwrap_or("-")
        ),
        source: peer.ip().to_string(),
    };
    tokio::task::spawn_blocking(move || store.append_audit(&audit)).await??;
    tracing::info!(agent = %agent_id, %hostname, %site, "agent enrolled");
    Ok(Json(EnrollResponse { agent_id, site, checkin_interval_secs: state.config.checkin_interval_secs, package_signing_key: Some(state.distribution.public_key.to_base64()) }))
}

/// The kind of asset an OS makes: Windows Server and Linux are servers.
pub fn kind_from_os(os: &OsInfo) -> &'static str {
    match os.family.as_str() {
        "windows" if os.name.contains("Server") => "server",
        "windows" => "pc",
        _ => "server",
    }
}

pub async fn checkin(
    State(state): State<SharedState>,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<CheckinResponse>> {
    let body = body_or_error(body)?;
    let agent = verify_agent(&state, "POST", uri.path(), &headers, &body)?;
    let req: CheckinRequest = parse_json(&body)?;
    let now = lanward_store::now_ms();

    let mut resend = Vec::new();
    let gaps: Vec<GapWrite> = req
        .gaps
        .iter()
        .map(|g| GapWrite {
            dropped_items: g.dropped_items,
            dropped_bytes: g.dropped_bytes,
            first_dropped_at_ms: g.first_dropped_at_ms,
            last_dropped_at_ms: g.last_dropped_at_ms,
        })
        .collect();
    if let Some(report) = &req.report {
        // Validate everything before writing anything.
        let mut sections = Vec::with_capacity(report.sections.len());
        let (mut hostname, mut kind, mut os_name, mut os_version, mut serial, mut macs, mut ips) = (None, None, None, None, None, None, None);
        let mut neighbors = None;
        for (name, raw) in &report.sections {
            let json = raw.get();
            validate_section(name, json).map_err(|e| {
                AppError::bad_request("section_invalid", format!("インベントリの {} が不正です: {}", e.section, e.message), e.to_string())
            })?;
            let hash = section_hash(json.as_bytes());
            if report.section_hashes.get(name) != Some(&hash) {
                return Err(AppError::bad_request(
                    "section_hash_mismatch",
                    format!("セクション {name} のハッシュが内容と一致しません"),
                    format!("section {name}: hash does not match its content"),
                ));
            }
            // What the asset list shows and matching uses is kept beside the
            // section (the sections were validated above, so they parse).
            match name.as_str() {
                "os" => {
                    let os: OsInfo = serde_json::from_str(json).map_err(|e| AppError::bad_request("section_invalid", e.to_string(), e.to_string()))?;
                    kind = Some(kind_from_os(&os).to_string());
                    os_version = Some(os.display_version.clone().map(|d| format!("{d} ({})", os.build)).unwrap_or_else(|| os.version.clone()));
                    os_name = Some(os.name.clone());
                    hostname = Some(os.hostname);
                }
                "hardware" => {
                    if let Ok(hw) = serde_json::from_str::<Hardware>(json) {
                        serial = hw.serial;
                    }
                }
                "network" => {
                    if let Ok(nics) = serde_json::from_str::<Vec<Nic>>(json) {
                        let mut m: Vec<String> = nics.iter().filter_map(|n| n.mac.as_deref()).filter_map(|x| lanward_ledger::check("mac_addresses", x).ok()).filter(|x| !x.is_empty()).collect();
                        m.sort();
                        m.dedup();
                        let mut i: Vec<String> = nics.iter().flat_map(|n| n.ipv4.iter().chain(n.ipv6.iter())).filter(|a| a.parse::<std::net::IpAddr>().is_ok()).cloned().collect();
                        i.sort();
                        i.dedup();
                        macs = Some(m);
                        ips = Some(i);
                    }
                }
                "neighbors" => {
                    if let Ok(list) = serde_json::from_str::<Vec<Neighbor>>(json) {
                        let clean: Vec<(String, Option<String>)> = list
                            .into_iter()
                            .filter_map(|n| {
                                let ip = n.ip.trim().parse::<std::net::IpAddr>().ok()?;
                                let mac = n.mac.as_deref().and_then(|m| lanward_ledger::check("mac_addresses", m).ok()).filter(|m| !m.is_empty() && !m.contains(','));
                                Some((ip.to_string(), mac))
                            })
                            .take(1024)
                            .collect();
                        neighbors = Some(clean);
                    }
                }
                _ => {}
            }
            sections.push(SectionWrite { name: name.clone(), hash, json: json.to_string() });
        }
        let write = CheckinWrite {
            agent_id: agent.id.clone(),
            received_at_ms: now,
            collected_at_ms: report.collected_at_ms,
            hostname,
            kind,
            os_name,
            os_version,
            serial,
            macs,
            ips,
            neighbors,
            sections,
            gaps,
        };
        let stored: Vec<(String, String)> = write.sections.iter().map(|s| (s.name.clone(), s.hash.clone())).collect();
        let reported_hostname = write.hostname.clone();
        match state.ingest.submit(write).await {
            Ok(CheckinOutcome::Stored) => {}
            Ok(CheckinOutcome::Refused) => {
                return Err(AppError::unauthorized("agent_revoked", "このエージェントは失効しています", "this agent has been revoked"))
            }
            Err(e) => return Err(AppError::unavailable(&e)),
        }
        let mut m = agent.m.lock().map_err(|_| AppError::unavailable("agent cache lock"))?;
        if let Some(h) = &reported_hostname {
            m.hostname = h.clone();
        }
        for (name, hash) in stored {
            m.hashes.insert(name, hash);
        }
        for (name, hash) in &report.section_hashes {
            if m.hashes.get(name) != Some(hash) {
                resend.push(name.clone());
            }
        }
    } else {
        if !gaps.is_empty() {
            let write = CheckinWrite::gaps_only(&agent.id, now, gaps);
            match state.ingest.submit(write).await {
                Ok(CheckinOutcome::Stored) => {}
                Ok(CheckinOutcome::Refused) => {
                    return Err(AppError::unauthorized("agent_revoked", "このエージェントは失効しています", "this agent has been revoked"))
                }
                Err(e) => return Err(AppError::unavailable(&e)),
            }
        }
        let m = agent.m.lock().map_err(|_| AppError::unavailable("agent cache lock"))?;
        for (name, hash) in &req.section_hashes {
            if m.hashes.get(name) != Some(hash) {
                resend.push(name.clone());
            }
        }
        drop(m);
        state.mark_seen(&agent.id, now);
    }
    let splay = if state.config.splay_secs == 0 { 0 } else { rand::random::<u64>() % (state.config.splay_secs + 1) };
    Ok(Json(CheckinResponse {
        next_checkin_secs: state.config.checkin_interval_secs + splay,
        inventory_interval_secs: state.config.inventory_interval_secs,
        resend,
        server_time_ms: now,
    }))
}
