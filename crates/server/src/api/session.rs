//! Signing in and out: console sessions (cookie + CSRF token) for people,
//! with a local password (argon2) or, when configured, an Active Directory
//! account (LDAP bind, `lanward-directory`).

use crate::auth::{AdminUser, Via, SESSION_COOKIE, SESSION_HOURS};
use crate::error::{ApiResult, AppError};
use crate::SharedState;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use lanward_store::{NewSession, UserRecord};
use serde::Deserialize;
use serde_json::json;
use std::net::SocketAddr;

/// Failed sign-ins allowed per client address and user name in
/// [`FAILURE_WINDOW_MS`] before further tries are refused.
const MAX_FAILURES: u32 = 5;
const FAILURE_WINDOW_MS: i64 = 15 * 60 * 1000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Login {
    pub username: String,
    pub password: String,
}

/// A session that was just opened.
pub struct Opened {
    pub cookie_value: String,
    pub csrf: String,
    pub user: UserRecord,
}

fn failure_key(source: &str, username: &str) -> String {
    format!("{source}\u{0}{}", username.to_lowercase())
}

fn refused() -> AppError {
    // One message for unknown user and wrong password: no user enumeration.
    AppError::unauthorized("login_failed", "ユーザー名またはパスワードが違います", "wrong user name or password")
}

/// Checks the credentials and opens a session. Every outcome is audited.
pub async fn sign_in(state: &SharedState, username: &str, password: &str, source: &str) -> ApiResult<Opened> {
    let username = username.trim().to_string();
    let now = lanward_store::now_ms();
    let key = failure_key(source, &username);
    // Each attempt is counted before the password is checked, under the
    // same lock as the limit, so that guesses sent at the same time cannot
    // all slip under it; a success takes its count back.
    let throttled = match state.login_failures.lock() {
        Ok(mut f) => {
            f.retain(|_, (_, first)| now - *first < FAILURE_WINDOW_MS);
            let e = f.entry(key.clone()).or_insert((0, now));
            if e.0 >= MAX_FAILURES {
                true
            } else {
                e.0 += 1;
                false
            }
        }
        Err(_) => true,
    };
    {
        if throttled {
            super::audit(state, format!("user:{username}"), "login.throttled", format!("user:{username}"), String::new(), source.into()).await?;
            return Err(AppError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "login_throttled",
                "ログインの失敗が続いたため、しばらくログインできません (15 分後に再試行してください)",
                "too many failed sign-ins; try again in 15 minutes",
            ));
        }
    }
    let outcome = check_credentials(state, &username, password).await;
    let user = match outcome {
        Ok((user, how)) => {
            if let Ok(mut f) = state.login_failures.lock() {
                if let Some(e) = f.get_mut(&key) {
                    e.0 = e.0.saturating_sub(1);
                }
            }
            super::audit(state, format!("user:{}", user.username), "login", format!("user:{}", user.username), format!("via={how}"), source.into()).await?;
            user
        }
        Err((reason, err)) => {
            super::audit(state, format!("user:{username}"), "login.failed", format!("user:{username}"), format!("reason={reason}"), source.into()).await?;
            return Err(err);
        }
    };
    let cookie_value = crate::bootstrap::random_secret(32);
    let csrf = crate::bootstrap::random_secret(24);
    let session = NewSession {
        id_hash: crate::bootstrap::token_hash(&cookie_value),
        user_id: user.id,
        csrf_token: csrf.clone(),
        created_at_ms: now,
        expires_at_ms: now + SESSION_HOURS * 3_600_000,
        source: source.to_string(),
    };
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || store.create_session(&session)).await??;
    Ok(Opened { cookie_value, csrf, user })
}

/// `Ok((user, "password" | "directory"))` or `Err((reason for the audit log, answer))`.
async fn check_credentials(state: &SharedState, username: &str, password: &str) -> Result<(UserRecord, &'static str), (String, AppError)> {
    if username.is_empty() || password.is_empty() || username.len() > 128 || password.len() > 1024 {
        return Err(("empty_or_too_long".into(), refused()));
    }
    let store = state.store.clone();
    let name = username.to_string();
    let user = tokio::task::spawn_blocking(move || store.user_by_name(&name))
        .await
        .map_err(|e| ("internal".to_string(), AppError::from(e)))?
        .map_err(|e| ("database".to_string(), AppError::from(e)))?;
    match user {
        Some(u) if u.source == "local" => {
            let (hash, pw) = (u.password_hash.clone(), password.to_string());
            let ok = tokio::task::spawn_blocking(move || crate::bootstrap::verify_password(&hash, &pw)).await.unwrap_or(false);
            if ok {
                Ok((u, "password"))
            } else {
                Err(("wrong_password".into(), refused()))
            }
        }
        _ => crate::directory::sign_in(state, username, password).await.map(|u| (u, "directory")),
    }
}

pub fn session_cookie(state: &SharedState, value: &str, max_age_secs: i64) -> HeaderValue {
    let secure = if state.config.insecure_http { "" } else { "; Secure" };
    HeaderValue::from_str(&format!("{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{secure}"))
        .unwrap_or_else(|_| HeaderValue::from_static("lanward_session=; Path=/; Max-Age=0"))
}

pub async fn login(State(state): State<SharedState>, ConnectInfo(peer): ConnectInfo<SocketAddr>, Json(body): Json<Login>) -> ApiResult<Response> {
    let opened = sign_in(&state, &body.username, &body.password, &peer.ip().to_string()).await?;
    let mut resp = Json(json!({
        "username": opened.user.username,
        "display_name": opened.user.display_name,
        "role": opened.user.role,
        "csrf_token": opened.csrf,
    }))
    .into_response();
    resp.headers_mut().insert(header::SET_COOKIE, session_cookie(&state, &opened.cookie_value, SESSION_HOURS * 3600));
    Ok(resp)
}

/// Ends the session (the cookie's, not a token's).
pub async fn end_session(state: &SharedState, user: &AdminUser) -> ApiResult<()> {
    if let Via::Session { id_hash, .. } = &user.via {
        let (store, id) = (state.store.clone(), id_hash.clone());
        tokio::task::spawn_blocking(move || store.delete_session(&id)).await??;
        super::audit(state, user.actor(), "logout", user.actor(), String::new(), user.source.clone()).await?;
    }
    Ok(())
}

pub async fn logout(State(state): State<SharedState>, user: AdminUser) -> ApiResult<Response> {
    end_session(&state, &user).await?;
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut().insert(header::SET_COOKIE, session_cookie(&state, "", 0));
    Ok(resp)
}

pub async fn whoami(user: AdminUser, _h: HeaderMap) -> Json<serde_json::Value> {
    Json(json!({
        "username": user.user.username,
        "display_name": user.user.display_name,
        "role": user.user.role,
        "source": user.user.source,
        "csrf_token": user.csrf(),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    name: String,
    #[serde(default = "default_token_days")]
    expires_in_days: u32,
}

fn default_token_days() -> u32 {
    90
}

/// An API token for the caller's scripts, with the caller's role. Shown once.
pub async fn create_api_token(State(state): State<SharedState>, user: AdminUser, Json(body): Json<NewToken>) -> ApiResult<Json<serde_json::Value>> {
    let name = body.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(AppError::bad_request("name_invalid", "トークン名は 1〜100 文字です", "token name must be 1 to 100 characters"));
    }
    if body.expires_in_days == 0 || body.expires_in_days > 366 {
        return Err(AppError::bad_request("expires_invalid", "有効期限は 1〜366 日です", "expiry must be 1 to 366 days"));
    }
    let token = format!("lwa_{}", crate::bootstrap::random_secret(32));
    let now = lanward_store::now_ms();
    let hash = crate::bootstrap::token_hash(&token);
    let record = lanward_store::NewApiToken {
        user_id: user.user.id,
        name: name.clone(),
        token_hash: hash.clone(),
        created_at_ms: now,
        expires_at_ms: Some(now + body.expires_in_days as i64 * 86_400_000),
    };
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || store.create_api_token(&record)).await??;
    let id = hash[..12].to_string();
    super::admin::audit(&state, &user, "api_token.create", format!("api_token:{id}"), format!("name={name} days={}", body.expires_in_days)).await?;
    Ok(Json(json!({ "id": id, "token": token, "name": name, "expires_in_days": body.expires_in_days })))
}

/// The caller's tokens; an administrator sees everyone's.
pub async fn list_api_tokens(State(state): State<SharedState>, user: AdminUser) -> ApiResult<Json<serde_json::Value>> {
    let owner = (user.user.role != "administrator").then_some(user.user.id);
    let store = state.store.clone();
    let tokens = tokio::task::spawn_blocking(move || store.api_tokens(owner)).await??;
    Ok(Json(json!({ "tokens": tokens })))
}

/// Revokes one of the caller's tokens (an administrator: anyone's).
pub async fn revoke_api_token(State(state): State<SharedState>, user: AdminUser, Path(id): Path<String>) -> ApiResult<Json<serde_json::Value>> {
    let owner = (user.user.role != "administrator").then_some(user.user.id);
    let (store, key) = (state.store.clone(), id.clone());
    let found = tokio::task::spawn_blocking(move || store.revoke_api_token(&key, owner, lanward_store::now_ms())).await??;
    if !found {
        return Err(AppError::not_found(&format!("API token {id}")));
    }
    super::admin::audit(&state, &user, "api_token.revoke", format!("api_token:{id}"), String::new()).await?;
    Ok(Json(json!({ "id": id, "revoked": true })))
}
