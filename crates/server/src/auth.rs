//! Who is calling: an enrolled agent (signed request) or a person (bearer
//! API token).

use crate::error::AppError;
use crate::state::AgentEntry;
use crate::SharedState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use base64::Engine;
use ed25519_dalek::Signature;
use lanward_proto::auth::*;
use lanward_store::UserRecord;
use std::sync::Arc;

fn header<'a>(h: &'a HeaderMap, name: &str) -> Result<&'a str, AppError> {
    h.get(name).and_then(|v| v.to_str().ok()).ok_or_else(|| {
        AppError::unauthorized("signature_missing", format!("署名ヘッダー {name} がありません"), format!("missing signature header {name}"))
    })
}

/// Checks an agent request's signature, freshness and revocation.
pub fn verify_agent(state: &SharedState, method: &str, path: &str, headers: &HeaderMap, body: &[u8]) -> Result<Arc<AgentEntry>, AppError> {
    let agent_id = header(headers, HDR_AGENT_ID)?;
    let ts: i64 = header(headers, HDR_TIMESTAMP)?
        .parse()
        .map_err(|_| AppError::unauthorized("signature_invalid", "タイムスタンプが不正です", "timestamp is not a number"))?;
    let nonce = header(headers, HDR_NONCE)?;
    let sig_b64 = header(headers, HDR_SIGNATURE)?;
    let Some(agent) = state.agent(agent_id) else {
        return Err(AppError::unauthorized("agent_unknown", "登録されていないエージェントです", "unknown agent"));
    };
    let sig = base64::engine::general_purpose::STANDARD
        .decode(sig_b64)
        .ok()
        .and_then(|b| <[u8; 64]>::try_from(b).ok())
        .map(|b| Signature::from_bytes(&b))
        .ok_or_else(|| AppError::unauthorized("signature_invalid", "署名の形式が不正です", "malformed signature"))?;
    agent
        .key
        .verify_strict(&signing_payload(method, path, ts, nonce, body), &sig)
        .map_err(|_| AppError::unauthorized("signature_invalid", "署名を検証できません", "signature does not verify"))?;
    let now = lanward_store::now_ms();
    if (now - ts).abs() > MAX_CLOCK_SKEW_SECS * 1000 {
        return Err(AppError::unauthorized(
            "clock_skew",
            format!("エージェントの時刻がサーバーと {} 秒ずれています", (now - ts) / 1000),
            format!("agent clock differs from the server's by {} s", (now - ts) / 1000),
        ));
    }
    let mut m = agent.m.lock().map_err(|_| AppError::unavailable("agent cache lock"))?;
    if m.revoked {
        return Err(AppError::unauthorized("agent_revoked", "このエージェントは失効しています", "this agent has been revoked"));
    }
    if ts <= m.last_request_ms {
        return Err(AppError::unauthorized("replay", "同じ要求が再送されました (リプレイ)", "request timestamp is not newer than the last one (replay)"));
    }
    m.last_request_ms = ts;
    drop(m);
    Ok(agent)
}

/// The roles of people (PRODUCT.md §5): the client's approver approves
/// work; the auditor only reads, including the audit log.
pub const ROLES: &[&str] = &["administrator", "operator", "helpdesk", "approver", "auditor"];

/// A person authenticated by `Authorization: Bearer <token>`.
pub struct AdminUser(pub UserRecord);

impl AdminUser {
    pub fn require_role(&self, roles: &[&str]) -> Result<(), AppError> {
        if roles.contains(&self.0.role.as_str()) {
            Ok(())
        } else {
            Err(AppError::new(
                axum::http::StatusCode::FORBIDDEN,
                "forbidden",
                format!("この操作には {} の権限が必要です", roles.join(" / ")),
                format!("this action needs role {}", roles.join(" or ")),
            ))
        }
    }
}

impl FromRequestParts<SharedState> for AdminUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &SharedState) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| AppError::unauthorized("token_missing", "Authorization: Bearer トークンが必要です", "Authorization: Bearer token required"))?;
        let hash = crate::bootstrap::token_hash(token);
        let store = state.store.clone();
        let user = tokio::task::spawn_blocking(move || store.api_token_user(&hash)).await??;
        user.map(AdminUser).ok_or_else(|| AppError::unauthorized("token_invalid", "API トークンが無効です", "invalid API token"))
    }
}
