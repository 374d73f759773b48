//! The administrators' API: assets, enrolment tokens, agents, audit.

use super::view::asset_view;
use crate::auth::AdminUser;
use crate::error::{ApiResult, AppError};
use crate::SharedState;
use axum::extract::{Path, Query, State};
use axum::Json;
use lanward_proto::token::EnrollmentToken;
use lanward_store::{AssetQuery, NewEnrollmentToken};
use serde::Deserialize;
use serde_json::{json, Value};

/// Appends to the audit log as this person, from where they called.
pub async fn audit(state: &SharedState, user: &AdminUser, action: &str, target: String, detail: String) -> ApiResult<()> {
    let via = match user.via {
        crate::auth::Via::Token => "token",
        crate::auth::Via::Session { .. } => "session",
    };
    let detail = if detail.is_empty() { format!("via={via}") } else { format!("{detail} via={via}") };
    super::audit(state, user.actor(), action, target, detail, user.source.clone()).await
}

#[derive(Deserialize, Default)]
pub struct AssetParams {
    /// Part of the hostname, serial, user, notes or an IP address.
    pub q: Option<String>,
    /// Older name of `q`.
    pub hostname: Option<String>,
    pub site: Option<String>,
    pub kind: Option<String>,
    pub department: Option<String>,
    pub status: Option<String>,
    pub os: Option<String>,
    /// Only assets whose agent has not checked in for this many days
    /// (text, so that an empty form field means "no filter").
    pub not_seen_days: Option<String>,
    /// id, hostname, kind, site, department, os, last_seen; `-` in front sorts descending.
    pub sort: Option<String>,
    pub limit: Option<String>,
    pub offset: Option<String>,
    /// `summary` leaves out hardware and software details.
    pub view: Option<String>,
}

/// A number from a query parameter; empty means absent.
fn number<T: std::str::FromStr>(name: &str, v: &Option<String>) -> ApiResult<Option<T>> {
    match v.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(t) => t.parse().map(Some).map_err(|_| AppError::bad_request("parameter_invalid", format!("{name} は数値で指定してください ({t})"), format!("{name} must be a number ({t})"))),
    }
}

fn some(s: &Option<String>) -> Option<String> {
    s.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(String::from)
}

impl AssetParams {
    /// The store query these parameters ask for; a bad sort key is refused.
    pub fn query(&self, with_sections: bool) -> ApiResult<AssetQuery> {
        let sort = self.sort.as_deref().map(str::trim).filter(|s| !s.is_empty()).unwrap_or("id");
        let (key, descending) = match sort.strip_prefix('-') {
            Some(k) => (k, true),
            None => (sort, false),
        };
        let sort = lanward_store::AssetSort::parse(key).ok_or_else(|| {
            AppError::bad_request("sort_invalid", format!("並べ替えの項目 {key} はありません"), format!("cannot sort by {key} (id, hostname, kind, site, department, os, last_seen)"))
        })?;
        Ok(AssetQuery {
            text: some(&self.q).or_else(|| some(&self.hostname)),
            site: some(&self.site),
            // Kinds and statuses by code or by their Japanese names.
            kind: some(&self.kind).map(|k| lanward_ledger::import::parse_kind(&k).map(String::from).unwrap_or(k)),
            department: some(&self.department),
            status: some(&self.status).map(|st| lanward_ledger::import::parse_status(&st).map(String::from).unwrap_or(st)),
            os: some(&self.os),
            not_seen_since_ms: number::<u32>("not_seen_days", &self.not_seen_days)?.map(|d| lanward_store::now_ms() - d as i64 * 86_400_000),
            sort,
            descending,
            limit: number::<u32>("limit", &self.limit)?.unwrap_or(100).clamp(1, 1000),
            offset: number::<u64>("offset", &self.offset)?.unwrap_or(0),
            with_sections,
        })
    }
}

pub async fn list_assets(State(state): State<SharedState>, _user: AdminUser, Query(p): Query<AssetParams>) -> ApiResult<Json<Value>> {
    let full = p.view.as_deref() != Some("summary");
    let q = p.query(full)?;
    let (limit, offset) = (q.limit, q.offset);
    let store = state.store.clone();
    let (assets, total) = tokio::task::spawn_blocking(move || store.list_assets(&q)).await??;
    let count = assets.len() as u64;
    let items: Vec<Value> = assets.iter().map(|a| asset_view(a, full)).collect();
    Ok(Json(json!({
        "assets": items,
        "total": total,
        "limit": limit,
        "offset": offset,
        "next_offset": if offset + count < total { Some(offset + count) } else { None },
    })))
}

pub async fn get_asset(State(state): State<SharedState>, _user: AdminUser, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let id: i64 = id.parse().map_err(|_| AppError::bad_request("id_invalid", format!("資産 ID {id} は数値ではありません"), format!("asset id {id} is not a number")))?;
    let store = state.store.clone();
    let asset = tokio::task::spawn_blocking(move || store.get_asset(id)).await??;
    asset.map(|a| Json(asset_view(&a, true))).ok_or_else(|| AppError::not_found(&format!("asset {id}")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    site: String,
    expires_in_secs: u64,
    #[serde(default = "default_max_uses")]
    max_uses: u32,
}

fn default_max_uses() -> u32 {
    1000
}

pub async fn create_token(State(state): State<SharedState>, user: AdminUser, body: Json<CreateToken>) -> ApiResult<Json<Value>> {
    Ok(Json(create_token_for(&state, &user, &body.site, body.expires_in_secs, body.max_uses).await?))
}

/// Creates an enrolment token; the answer carries the token, shown once.
pub async fn create_token_for(state: &SharedState, user: &AdminUser, site: &str, expires_in_secs: u64, max_uses: u32) -> ApiResult<Value> {
    let site = site.trim().to_string();
    if site.is_empty() || site.len() > 64 {
        return Err(AppError::bad_request("site_invalid", "site は 1〜64 文字で指定してください", "site must be 1 to 64 characters"));
    }
    if expires_in_secs == 0 || expires_in_secs > 366 * 86_400 {
        return Err(AppError::bad_request("expires_invalid", "有効期限は 1 秒〜366 日です", "expiry must be between 1 second and 366 days"));
    }
    if max_uses == 0 {
        return Err(AppError::bad_request("max_uses_invalid", "max_uses は 1 以上です", "max_uses must be at least 1"));
    }
    let id = crate::bootstrap::random_secret(9).replace(['-', '_'], "x");
    let secret = crate::bootstrap::random_secret(24);
    let now = lanward_store::now_ms();
    let token = EnrollmentToken { id: id.clone(), secret: secret.clone(), ca_fingerprint: state.ca_fingerprint.clone() };
    let record = NewEnrollmentToken {
        id: id.clone(),
        secret_hash: crate::bootstrap::token_hash(&secret),
        site: site.clone(),
        created_at_ms: now,
        expires_at_ms: now + expires_in_secs as i64 * 1000,
        max_uses,
        created_by: user.user.username.clone(),
    };
    let expires_at_ms = record.expires_at_ms;
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || store.create_enrollment_token(&record)).await??;
    audit(state, user, "enrollment_token.create", format!("token:{id}"), format!("site={site} expires_in_secs={expires_in_secs} max_uses={max_uses}")).await?;
    Ok(json!({
        "id": id,
        "token": token.to_string(),
        "site": site,
        "expires_at": super::view::rfc3339(expires_at_ms),
        "max_uses": max_uses,
        "ca_fingerprint": state.ca_fingerprint,
    }))
}

pub async fn list_tokens(State(state): State<SharedState>, _user: AdminUser) -> ApiResult<Json<Value>> {
    let store = state.store.clone();
    let tokens = tokio::task::spawn_blocking(move || store.enrollment_tokens()).await??;
    Ok(Json(json!({ "tokens": tokens })))
}

pub async fn list_agents(State(state): State<SharedState>, _user: AdminUser) -> ApiResult<Json<Value>> {
    let store = state.store.clone();
    let agents = tokio::task::spawn_blocking(move || store.agents()).await??;
    let items: Vec<Value> = agents
        .iter()
        .map(|a| {
            json!({
                "id": a.id, "asset_id": a.asset_id, "hostname": a.hostname, "site": a.site, "os_family": a.os_family,
                "enrolled_at": super::view::rfc3339(a.enrolled_at_ms),
                "last_seen": a.last_seen_ms.map(super::view::rfc3339),
                "revoked_at": a.revoked_at_ms.map(super::view::rfc3339),
            })
        })
        .collect();
    Ok(Json(json!({ "agents": items })))
}

pub async fn revoke_agent(State(state): State<SharedState>, user: AdminUser, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let now = lanward_store::now_ms();
    // Cut the agent off in the cache first, so that no request slips in
    // between; the store refuses its writes from then on as well.
    if let Some(agent) = state.agent(&id) {
        if let Ok(mut m) = agent.m.lock() {
            m.revoked = true;
        }
    }
    let store = state.store.clone();
    let agent_id = id.clone();
    let found = tokio::task::spawn_blocking(move || store.revoke_agent(&agent_id, now)).await??;
    if !found {
        return Err(AppError::not_found(&format!("agent {id}")));
    }
    audit(&state, &user, "agent.revoke", format!("agent:{id}"), String::new()).await?;
    Ok(Json(json!({ "id": id, "revoked_at": super::view::rfc3339(now) })))
}

pub async fn agent_gaps(State(state): State<SharedState>, _user: AdminUser, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let store = state.store.clone();
    let gaps = tokio::task::spawn_blocking(move || store.queue_gaps(&id)).await??;
    Ok(Json(json!({ "gaps": gaps })))
}

#[derive(Deserialize)]
pub struct AuditParams {
    limit: Option<u32>,
}

pub async fn audit_log(State(state): State<SharedState>, _user: AdminUser, Query(p): Query<AuditParams>) -> ApiResult<Json<Value>> {
    let (entries, intact) = audit_entries(&state, p.limit.unwrap_or(200)).await?;
    Ok(Json(json!({ "entries": entries, "chain_intact": intact })))
}

/// The newest `limit` entries, oldest first, and whether their chain holds.
pub async fn audit_entries(state: &SharedState, limit: u32) -> ApiResult<(Vec<lanward_store::AuditEntry>, bool)> {
    let store = state.store.clone();
    let limit = limit.clamp(1, 1_000_000);
    let entries = tokio::task::spawn_blocking(move || store.audit_entries(limit)).await??;
    // A chain that starts mid-log (limit) is checked from its first entry on.
    let intact = match entries.first() {
        Some(first) if first.seq == 1 => lanward_store::verify_audit_chain(&entries).is_ok(),
        Some(_) => entries.windows(2).all(|w| w[1].prev_hash == w[0].hash),
        None => true,
    };
    Ok((entries, intact))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    username: String,
    role: String,
    #[serde(default)]
    display_name: Option<String>,
    password: String,
}

pub async fn create_user(State(state): State<SharedState>, user: AdminUser, body: Json<CreateUser>) -> ApiResult<Json<Value>> {
    Ok(Json(create_user_for(&state, &user, &body.username, &body.role, body.display_name.clone(), &body.password).await?))
}

/// Creates a local user (password checked and hashed with argon2).
pub async fn create_user_for(state: &SharedState, user: &AdminUser, username: &str, role: &str, display_name: Option<String>, password: &str) -> ApiResult<Value> {
    let username = username.trim().to_string();
    let valid_name = !username.is_empty()
        && username.len() <= 64
        && username.chars().all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c));
    if !valid_name {
        return Err(AppError::bad_request(
            "username_invalid",
            "ユーザー名は 1〜64 文字の英数字と . _ - @ で指定してください",
            "username must be 1 to 64 characters of letters, digits and . _ - @",
        ));
    }
    if !crate::auth::ROLES.contains(&role) {
        return Err(AppError::bad_request(
            "role_invalid",
            format!("役割 {} はありません ({})", role, crate::auth::ROLES.join(", ")),
            format!("no role {} (one of {})", role, crate::auth::ROLES.join(", ")),
        ));
    }
    if password.chars().count() < 12 {
        return Err(AppError::bad_request("password_too_short", "パスワードは 12 文字以上にしてください", "password must be at least 12 characters"));
    }
    let record = lanward_store::NewUser {
        username: username.clone(),
        display_name: display_name.unwrap_or_else(|| username.clone()),
        password_hash: crate::bootstrap::hash_password(&password).map_err(|e| AppError::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string(), e.to_string()))?,
        role: role.to_string(),
        created_at_ms: lanward_store::now_ms(),
    };
    let store = state.store.clone();
    let id = tokio::task::spawn_blocking(move || store.create_user(&record)).await?.map_err(|e| match e {
        lanward_store::StoreError::Conflict(_) => AppError::new(
            axum::http::StatusCode::CONFLICT,
            "user_exists",
            format!("ユーザー {username} は既にあります"),
            format!("user {username} already exists"),
        ),
        other => other.into(),
    })?;
    audit(state, user, "user.create", format!("user:{}", username), format!("role={}", role)).await?;
    Ok(json!({ "id": id, "username": username, "role": role }))
}

pub async fn list_users(State(state): State<SharedState>, _user: AdminUser) -> ApiResult<Json<Value>> {
    let store = state.store.clone();
    let users = tokio::task::spawn_blocking(move || store.users()).await??;
    Ok(Json(json!({ "users": users })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateAsset {
    /// Field → new value; `null` or "" clears the field.
    fields: std::collections::BTreeMap<String, Option<String>>,
}

pub async fn update_asset(State(state): State<SharedState>, user: AdminUser, Path(id): Path<String>, body: Json<UpdateAsset>) -> ApiResult<Json<Value>> {
    let id: i64 = id.parse().map_err(|_| AppError::bad_request("id_invalid", format!("資産 ID {id} は数値ではありません"), format!("asset id {id} is not a number")))?;
    let store = state.store.clone();
    let asset = tokio::task::spawn_blocking(move || store.get_asset(id)).await??.ok_or_else(|| AppError::not_found(&format!("asset {id}")))?;
    let changes = super::ledger::check_changes(&state, &body.fields, asset.agent_id.is_some() && !asset.agent_revoked).await?;
    let actor = format!("user:{}", user.user.username);
    let store = state.store.clone();
    let who = actor.clone();
    let done = tokio::task::spawn_blocking(move || store.set_asset_fields(id, &changes, &who, lanward_store::now_ms())).await??;
    if !done.is_empty() {
        let detail = done.iter().map(|h| h.field.as_str()).collect::<Vec<_>>().join(",");
        audit(&state, &user, "asset.update", format!("asset:{id}"), format!("fields={detail}")).await?;
    }
    Ok(Json(json!({ "id": id, "changes": done })))
}

pub async fn asset_history(State(state): State<SharedState>, _user: AdminUser, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let id: i64 = id.parse().map_err(|_| AppError::bad_request("id_invalid", format!("資産 ID {id} は数値ではありません"), format!("asset id {id} is not a number")))?;
    let store = state.store.clone();
    let history = tokio::task::spawn_blocking(move || store.asset_history(id)).await??;
    let items: Vec<Value> = history
        .iter()
        .map(|h| json!({"field": h.field, "old_value": h.old_value, "new_value": h.new_value, "actor": h.actor, "at": super::view::rfc3339(h.at_ms)}))
        .collect();
    Ok(Json(json!({ "history": items })))
}
