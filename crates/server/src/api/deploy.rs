//! Software distribution routes: packages and deployments for people, and
//! assignments, chunks and reports for agents.

use super::agent::{body_or_error, parse_json};
use crate::auth::{verify_agent, AdminUser};
use crate::distribution::{self as dist, AddPackage, DeploymentRequest};
use crate::error::{ApiResult, AppError};
use crate::SharedState;
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use lanward_proto::deploy::{AssignmentsRequest, AssignmentsResponse, ReportRequest};
use serde_json::{json, Value};
use std::io::Write;

/// Largest installer accepted (Office's offline source is about 4 GB).
pub const MAX_PACKAGE_BYTES: u64 = 16 * 1024 * 1024 * 1024;

fn parse_id(id: &str, what: &str) -> ApiResult<i64> {
    id.parse().map_err(|_| AppError::not_found(&format!("{what} {id}")))
}

/// `POST /api/v1/packages?name=&version=&file_name=[&command=&detection=...]`
/// with the installer as the body. The body is streamed to disk, so the
/// request size limit of the other routes does not apply.
pub async fn add_package(State(state): State<SharedState>, user: AdminUser, Query(req): Query<AddPackage>, body: Body) -> ApiResult<(StatusCode, Json<Value>)> {
    if req.file_name.trim().is_empty() {
        return Err(AppError::bad_request("file_name_missing", "file_name を指定してください", "file_name is required"));
    }
    let mut tmp = tempfile::NamedTempFile::new_in(&state.distribution.upload_dir).map_err(|e| AppError::unavailable(&format!("upload folder: {e}")))?;
    let mut stream = body.into_data_stream();
    let mut total: u64 = 0;
    use futures_util::StreamExt;
    while let Some(frame) = stream.next().await {
        let bytes = frame.map_err(|e| {
            AppError::bad_request("upload_truncated", format!("{}: アップロードが途中で切れました: {e}", req.file_name), format!("{}: upload cut short: {e}", req.file_name))
        })?;
        total += bytes.len() as u64;
        if total > MAX_PACKAGE_BYTES {
            return Err(AppError::new(StatusCode::PAYLOAD_TOO_LARGE, "package_too_large", "パッケージが大きすぎます (上限 16 GB)", "package exceeds 16 GB"));
        }
        // Writes of an upload are small and sequential; blocking here is brief.
        tmp.write_all(&bytes).map_err(|e| AppError::unavailable(&format!("upload folder: {e}")))?;
    }
    tmp.flush().map_err(|e| AppError::unavailable(&format!("upload folder: {e}")))?;
    let added = add_uploaded_package(&state, &user, tmp, req).await?;
    Ok((StatusCode::CREATED, Json(json!({ "package": added.package, "notes": added.notes, "chunks": added.chunks }))))
}

/// Recognises, chunks and signs an upload already on disk, and audits
/// `package.add`. Shared by the API and the console's upload form; the
/// temporary file is removed when this returns.
pub async fn add_uploaded_package(state: &SharedState, user: &AdminUser, tmp: tempfile::NamedTempFile, req: AddPackage) -> ApiResult<dist::AddedPackage> {
    let (s, store, actor) = (state.clone(), state.store.clone(), user.actor());
    let added = tokio::task::spawn_blocking(move || dist::add_package(&s.distribution, &*store, tmp.path(), &req, &actor)).await??;
    let p = &added.package;
    super::admin::audit(
        state,
        user,
        "package.add",
        format!("package:{}", p.id),
        format!("name={} version={} serial={} sha256={} size={} framework={} command={:?} detection={:?} signed={}", p.name, p.version, p.serial, p.sha256, p.size, p.framework, p.command, p.detection, p.signed),
    )
    .await?;
    Ok(added)
}

pub async fn list_packages(State(state): State<SharedState>, _user: AdminUser) -> ApiResult<Json<Value>> {
    let store = state.store.clone();
    let packages = tokio::task::spawn_blocking(move || store.packages()).await??;
    Ok(Json(json!({ "packages": packages, "signing_key_id": state.distribution.public_key.id().to_hex(), "signs_online": state.distribution.signs_online() })))
}

/// The unsigned manifest, for signing on another machine.
pub async fn package_manifest(State(state): State<SharedState>, _user: AdminUser, Path(id): Path<String>) -> ApiResult<Response> {
    let id = parse_id(&id, "package")?;
    let store = state.store.clone();
    let p = tokio::task::spawn_blocking(move || store.package(id)).await??.ok_or_else(|| AppError::not_found(&format!("package {id}")))?;
    Ok(([(header::CONTENT_TYPE, "application/json")], p.unsigned_manifest).into_response())
}

pub async fn package_signature(State(state): State<SharedState>, user: AdminUser, Path(id): Path<String>, body: Result<Bytes, BytesRejection>) -> ApiResult<Json<Value>> {
    let id = parse_id(&id, "package")?;
    let body = body_or_error(body)?;
    let (s, store) = (state.clone(), state.store.clone());
    let p = tokio::task::spawn_blocking(move || dist::attach_signature(&s.distribution, &*store, id, &body)).await??;
    super::admin::audit(&state, &user, "package.sign", format!("package:{id}"), format!("name={} version={} serial={}", p.name, p.version, p.serial)).await?;
    Ok(Json(json!({ "package": p })))
}

pub async fn create_deployment(State(state): State<SharedState>, user: AdminUser, body: Result<Bytes, BytesRejection>) -> ApiResult<(StatusCode, Json<Value>)> {
    let body = body_or_error(body)?;
    let req: DeploymentRequest = parse_json(&body)?;
    let created = create_deployment_for(&state, &user, req, &String::from_utf8_lossy(&body)).await?;
    Ok((StatusCode::CREATED, Json(json!({ "id": created.id, "targets": created.targets, "waves": created.waves }))))
}

/// Creates a deployment and audits `deployment.create` with the request as
/// the person gave it (`request`: the JSON body, or the console's form).
pub async fn create_deployment_for(state: &SharedState, user: &AdminUser, req: DeploymentRequest, request: &str) -> ApiResult<dist::CreatedDeployment> {
    let (s, store, actor) = (state.clone(), state.store.clone(), user.actor());
    let created = tokio::task::spawn_blocking(move || dist::create_deployment(&s.distribution, &*store, &req, &actor)).await??;
    super::admin::audit(
        state,
        user,
        "deployment.create",
        format!("deployment:{}", created.id),
        format!("targets={} waves={:?} request={}", created.targets, created.waves, request.chars().take(2000).collect::<String>()),
    )
    .await?;
    Ok(created)
}

pub async fn list_deployments(State(state): State<SharedState>, _user: AdminUser) -> ApiResult<Json<Value>> {
    let store = state.store.clone();
    let views = tokio::task::spawn_blocking(move || -> ApiResult<Vec<Value>> {
        let mut out = Vec::new();
        for d in store.deployments()? {
            if let Some(v) = dist::view(&*store, d.id)? {
                out.push(json!({ "deployment": v.deployment, "counts": v.counts }));
            }
        }
        Ok(out)
    })
    .await??;
    Ok(Json(json!({ "deployments": views })))
}

pub async fn get_deployment(State(state): State<SharedState>, _user: AdminUser, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let id = parse_id(&id, "deployment")?;
    let store = state.store.clone();
    let view = tokio::task::spawn_blocking(move || dist::view(&*store, id)).await??.ok_or_else(|| AppError::not_found(&format!("deployment {id}")))?;
    Ok(Json(serde_json::to_value(view).unwrap_or(Value::Null)))
}

pub async fn control_for(state: &SharedState, user: &AdminUser, id: &str, what: &'static str) -> ApiResult<usize> {
    let id = parse_id(id, "deployment")?;
    let (s, store) = (state.clone(), state.store.clone());
    let changed = tokio::task::spawn_blocking(move || dist::control(&s.distribution, &*store, id, what)).await??;
    super::admin::audit(state, user, &format!("deployment.{what}"), format!("deployment:{id}"), format!("targets_changed={changed}")).await?;
    Ok(changed)
}

macro_rules! control_route {
    ($name:ident, $what:literal) => {
        pub async fn $name(State(state): State<SharedState>, user: AdminUser, Path(id): Path<String>) -> ApiResult<Json<Value>> {
            let changed = control_for(&state, &user, &id, $what).await?;
            Ok(Json(json!({ "id": id, "action": $what, "targets_changed": changed })))
        }
    };
}
control_route!(pause_deployment, "pause");
control_route!(resume_deployment, "resume");
control_route!(cancel_deployment, "cancel");
control_route!(retry_deployment, "retry");

// Agent side.

pub async fn agent_assignments(State(state): State<SharedState>, uri: Uri, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> ApiResult<Json<AssignmentsResponse>> {
    let body = body_or_error(body)?;
    let agent = verify_agent(&state, "POST", uri.path(), &headers, &body)?;
    let req: AssignmentsRequest = parse_json(&body)?;
    let (s, store) = (state.clone(), state.store.clone());
    state.mark_seen(&agent.id, lanward_store::now_ms());
    Ok(Json(tokio::task::spawn_blocking(move || dist::assignments(&s.distribution, &*store, agent.asset_id, &req)).await??))
}

pub async fn agent_report(State(state): State<SharedState>, uri: Uri, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> ApiResult<Json<Value>> {
    let body = body_or_error(body)?;
    let agent = verify_agent(&state, "POST", uri.path(), &headers, &body)?;
    let req: ReportRequest = parse_json(&body)?;
    if req.reports.len() > 1000 {
        return Err(AppError::bad_request("too_many_reports", "報告が多すぎます (上限 1000)", "more than 1000 reports"));
    }
    let (s, store) = (state.clone(), state.store.clone());
    let applied = tokio::task::spawn_blocking(move || dist::apply_reports(&s.distribution, &*store, agent.asset_id, &req.reports)).await??;
    Ok(Json(json!({ "applied": applied })))
}

/// One chunk of a package the agent was assigned, throttled to the site's
/// WAN cap. The agent checks the chunk's SHA-256 itself.
pub async fn agent_chunk(State(state): State<SharedState>, Path(id): Path<String>, uri: Uri, headers: HeaderMap) -> ApiResult<Response> {
    let asset_id = verify_agent(&state, "GET", uri.path(), &headers, b"")?.asset_id;
    let chunk: lanward_package::ChunkId = id.parse().map_err(|_| AppError::not_found(&format!("chunk {id}")))?;
    let (s, store) = (state.clone(), state.store.clone());
    let allowed = tokio::task::spawn_blocking(move || dist::chunk_allowed(&s.distribution, &*store, asset_id, &chunk)).await??;
    let Some(fetcher) = allowed else {
        return Err(AppError::new(
            StatusCode::FORBIDDEN,
            "chunk_not_assigned",
            "このエージェントに配布中のパッケージの内容ではありません",
            "this chunk is not part of a package being distributed to this agent",
        ));
    };
    let bytes = state.distribution.chunk_bytes(&chunk).await.map_err(|e| AppError::not_found(&format!("chunk {id} ({e})")))?;
    while let Some(wait) = dist::bandwidth_wait(&state.distribution, fetcher.deployment(), fetcher.site(), bytes.len() as u64) {
        tokio::time::sleep(wait).await;
    }
    // The server counts what it sends (the agent's own count dies with it
    // when it is switched off mid-download).
    let n = bytes.len() as i64;
    match fetcher {
        dist::ChunkFetcher::Target { deployment, .. } => state.distribution.count_bytes(deployment.id, dist::ByteOwner::Target(asset_id), n),
        dist::ChunkFetcher::SiteCache { deployment, site } => state.distribution.count_bytes(deployment.id, dist::ByteOwner::SiteCache(site), n),
    }
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
}

#[derive(serde::Deserialize)]
pub struct OfficeParams {
    /// The Click-to-Run build the campaign aims at, e.g. `16.0.17932.20162`.
    target: String,
    site: Option<String>,
    department: Option<String>,
}

/// Where the Office campaign stands, from each PC's reported Click-to-Run
/// version: current, behind, ahead or unknown (no Office reported).
pub async fn office_progress(State(state): State<SharedState>, _user: AdminUser, Query(p): Query<OfficeParams>) -> ApiResult<Json<Value>> {
    let store = state.store.clone();
    let q = lanward_store::AssetQuery { site: p.site.clone(), department: p.department.clone(), kind: Some("pc".into()), with_sections: true, limit: 100_000, ..Default::default() };
    let (assets, _) = tokio::task::spawn_blocking(move || store.list_assets(&q)).await??;
    let reported: Vec<(i64, Option<String>)> = assets
        .iter()
        .map(|a| {
            let version = a
                .sections
                .iter()
                .find(|s| s.name == "office")
                .and_then(|s| serde_json::from_str::<Option<lanward_proto::Office>>(&s.json).ok().flatten())
                .map(|o| o.version)
                .filter(|v| !v.is_empty());
            (a.id, version)
        })
        .collect();
    let progress = lanward_deploy::office::office_progress(&reported, &p.target).map_err(|e| AppError::bad_request("target_invalid", e.to_string(), e.to_string()))?;
    let names: std::collections::HashMap<i64, &str> = assets.iter().map(|a| (a.id, a.hostname.as_str())).collect();
    let pcs: Vec<Value> = progress
        .per_asset
        .iter()
        .zip(&reported)
        .map(|((id, status), (_, version))| json!({"asset_id": id, "hostname": names.get(id), "version": version, "status": status, "label_ja": status.label_ja()}))
        .collect();
    Ok(Json(json!({
        "target_version": p.target,
        "total": progress.total, "current": progress.current, "behind": progress.behind, "ahead": progress.ahead, "unknown": progress.unknown,
        "percent_current": progress.percent_current,
        "pcs": pcs,
    })))
}
