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
    if nonce.len() > 64 || !m.replay.accept(ts, nonce, MAX_CLOCK_SKEW_SECS * 1000) {
        return Err(AppError::unauthorized("replay", "同じ要求が再送されました (リプレイ)", "request was seen before (replay)"));
    }
    drop(m);
    Ok(agent)
}

/// The roles of people (PRODUCT.md §5): the client's approver approves
/// work; the auditor only reads, including the audit log.
pub const ROLES: &[&str] = &["administrator", "operator", "helpdesk", "approver", "auditor"];

/// Name of the console's session cookie. Its value is a random secret; the
/// store keeps only its SHA-256.
pub const SESSION_COOKIE: &str = "lanward_session";
/// A console session lasts one working day.
pub const SESSION_HOURS: i64 = 10;

/// How the caller proved who they are.
#[derive(Debug, Clone)]
pub enum Via {
    Token,
    Session { id_hash: String, csrf: String },
}

/// A person, authenticated by the access middleware (`api::enforce`) from
/// an API token (`Authorization: Bearer`) or the console's session cookie.
#[derive(Debug, Clone)]
pub struct AdminUser {
    pub user: UserRecord,
    pub via: Via,
    /// The client's address, for the audit log.
    pub source: String,
}

impl AdminUser {
    pub fn actor(&self) -> String {
        format!("user:{}", self.user.username)
    }

    pub fn csrf(&self) -> &str {
        match &self.via {
            Via::Session { csrf, .. } => csrf,
            Via::Token => "",
        }
    }
}

impl FromRequestParts<SharedState> for AdminUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &SharedState) -> Result<Self, Self::Rejection> {
        // Put there by the access middleware; a handler reached without it is
        // a route without an access rule, which the middleware refuses first.
        parts.extensions.get::<AdminUser>().cloned().ok_or_else(forbidden_no_rule)
    }
}

pub fn forbidden_no_rule() -> AppError {
    AppError::new(axum::http::StatusCode::FORBIDDEN, "forbidden", "この操作は許可されていません", "no access rule allows this request")
}

/// The client's address as the connection saw it (no proxy headers are
/// trusted: the server is reached directly on the bureau's LAN).
pub fn peer(parts_ext: &axum::http::Extensions) -> String {
    parts_ext
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_default()
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Why a request could not be authenticated.
pub enum AuthFailure {
    /// No credentials at all.
    Missing,
    /// Credentials given but not valid (forged, expired): audited.
    Invalid(AppError),
    Unavailable(AppError),
}

/// Who is calling, from a bearer token or the session cookie.
pub async fn authenticate(state: &SharedState, headers: &HeaderMap, source: &str) -> Result<AdminUser, AuthFailure> {
    let store = state.store.clone();
    if let Some(token) = headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")) {
        let hash = crate::bootstrap::token_hash(token);
        let user = tokio::task::spawn_blocking(move || store.api_token_user(&hash))
            .await
            .map_err(|e| AuthFailure::Unavailable(e.into()))?
            .map_err(|e| AuthFailure::Unavailable(e.into()))?;
        return match user {
            Some(user) => Ok(AdminUser { user, via: Via::Token, source: source.to_string() }),
            None => Err(AuthFailure::Invalid(AppError::unauthorized("token_invalid", "API トークンが無効です", "invalid API token"))),
        };
    }
    let Some(value) = cookie(headers, SESSION_COOKIE) else {
        return Err(AuthFailure::Missing);
    };
    let id_hash = crate::bootstrap::token_hash(value);
    let key = id_hash.clone();
    let found = tokio::task::spawn_blocking(move || store.session_user(&key, lanward_store::now_ms()))
        .await
        .map_err(|e| AuthFailure::Unavailable(e.into()))?
        .map_err(|e| AuthFailure::Unavailable(e.into()))?;
    match found {
        Some((session, user)) => Ok(AdminUser { user, via: Via::Session { id_hash, csrf: session.csrf_token }, source: source.to_string() }),
        None => Err(AuthFailure::Invalid(AppError::unauthorized(
            "session_invalid",
            "ログインの有効期限が切れたか、無効なセッションです。もう一度ログインしてください",
            "session expired or invalid; sign in again",
        ))),
    }
}

/// Constant-time comparison of secrets.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
