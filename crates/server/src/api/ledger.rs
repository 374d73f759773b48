//! The ledger API: dashboard counts, assets without agents, import (upload,
//! preview, mapping, apply), export, sites.

use super::admin::audit;
use crate::auth::AdminUser;
use crate::error::{ApiResult, AppError};
use crate::imports::PendingImport;
use crate::SharedState;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use lanward_ledger::import::{self, Mapping};
use lanward_store::{FieldChange, LedgerWrite, SiteRecord};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::Digest;
use std::collections::BTreeMap;

fn invalid(ja: impl Into<String>, en: impl Into<String>) -> AppError {
    AppError::bad_request("field_invalid", ja, en)
}

/// Checks every requested change before any is made: ledger fields by
/// their rule, `kind` against the kinds, `site` against the registered
/// sites; `hostname` and `serial` of an asset with an agent are the
/// agent's (discovered) and refused.
pub async fn check_changes(state: &SharedState, fields: &BTreeMap<String, Option<String>>, has_agent: bool) -> ApiResult<Vec<FieldChange>> {
    let mut changes = Vec::new();
    let sites = if fields.contains_key("site") { load_sites(state).await? } else { Vec::new() };
    for (field, value) in fields {
        let v = value.as_deref().map(str::trim).filter(|v| !v.is_empty());
        let value = match field.as_str() {
            "hostname" | "serial" if has_agent => {
                return Err(invalid(
                    format!("項目 {field} はエージェントが報告する値のため変更できません"),
                    format!("field {field} is reported by the agent and cannot be edited"),
                ))
            }
            "hostname" => match v {
                Some(h) if h.chars().count() <= 255 && !h.chars().any(char::is_control) => Some(h.to_string()),
                _ => return Err(invalid("項目 hostname: 1〜255 文字で指定してください", "field hostname: 1 to 255 characters")),
            },
            "serial" => match v {
                Some(s) if s.chars().count() > 128 => return Err(invalid("項目 serial: 128 文字以内にしてください", "field serial: at most 128 characters")),
                other => other.map(String::from),
            },
            "kind" => match v.and_then(import::parse_kind) {
                Some(k) => Some(k.to_string()),
                None => {
                    let kinds: Vec<&str> = lanward_ledger::KINDS.iter().map(|(k, _)| *k).collect();
                    return Err(invalid(format!("項目 kind: {} は使えません ({})", v.unwrap_or(""), kinds.join(", ")), format!("field kind: one of {}", kinds.join(", "))));
                }
            },
            "site" => match v.and_then(|s| sites.iter().find(|x| x.code.eq_ignore_ascii_case(s) || x.name == s)) {
                Some(site) => Some(site.code.clone()),
                None => {
                    return Err(invalid(
                        format!("項目 site: 拠点 {} は登録されていません", v.unwrap_or("")),
                        format!("field site: no site {} is registered", v.unwrap_or("")),
                    ))
                }
            },
            "vm_host" => match v {
                None => None,
                Some(v) => {
                    let id = lanward_ledger::check("vm_host", v).map_err(|(ja, en)| invalid(ja, en))?;
                    // A VM guest names its host: an asset that is a VM host.
                    let (store, host_id) = (state.store.clone(), id.parse::<i64>().unwrap_or_default());
                    let host = tokio::task::spawn_blocking(move || store.get_asset(host_id)).await??;
                    match host {
                        Some(h) if h.kind == "vm_host" => Some(id),
                        _ => return Err(invalid(format!("項目 vm_host: 資産 {id} は仮想化ホストではありません"), format!("field vm_host: asset {id} is not a VM host"))),
                    }
                }
            },
            f if lanward_ledger::is_field(f) => match v {
                None => None,
                Some(v) => Some(lanward_ledger::check(f, v).map_err(|(ja, en)| invalid(ja, en))?),
            },
            f => {
                let names = lanward_ledger::field_names().join(", ");
                return Err(invalid(format!("項目 {f} はありません (hostname, kind, site, serial, {names})"), format!("no field {f} (hostname, kind, site, serial, {names})")));
            }
        };
        changes.push(FieldChange { field: field.clone(), value });
    }
    Ok(changes)
}

async fn load_sites(state: &SharedState) -> ApiResult<Vec<SiteRecord>> {
    let store = state.store.clone();
    Ok(tokio::task::spawn_blocking(move || store.sites()).await??)
}

pub async fn summary(State(state): State<SharedState>, _user: AdminUser) -> ApiResult<Json<Value>> {
    let store = state.store.clone();
    let cutoff = lanward_store::now_ms() - 7 * 86_400_000;
    let s = tokio::task::spawn_blocking(move || store.asset_summary(cutoff)).await??;
    Ok(Json(json!(s)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAsset {
    pub hostname: String,
    pub kind: String,
    pub site: String,
    #[serde(default)]
    pub fields: BTreeMap<String, Option<String>>,
}

/// Creates an asset without an agent (router, printer...). Returns its id.
pub async fn create_asset_for(state: &SharedState, user: &AdminUser, body: NewAsset) -> ApiResult<i64> {
    let mut all = body.fields.clone();
    for (k, v) in [("hostname", &body.hostname), ("kind", &body.kind), ("site", &body.site)] {
        if all.insert(k.to_string(), Some(v.clone())).is_some() {
            return Err(invalid(format!("項目 {k} が二重に指定されています"), format!("field {k} given twice")));
        }
    }
    let checked = check_changes(state, &all, false).await?;
    let get = |name: &str| checked.iter().find(|c| c.field == name).and_then(|c| c.value.clone()).unwrap_or_default();
    let (hostname, kind, site) = (get("hostname"), get("kind"), get("site"));
    let fields: Vec<FieldChange> = checked.into_iter().filter(|c| !["hostname", "kind", "site"].contains(&c.field.as_str()) && c.value.is_some()).collect();
    let write = LedgerWrite::Create { hostname: hostname.clone(), kind: kind.clone(), site: site.clone(), fields };
    let (store, actor) = (state.store.clone(), user.actor());
    let done = tokio::task::spawn_blocking(move || store.apply_ledger(&[write], &actor, lanward_store::now_ms())).await??;
    let id = done.first().map(|(id, _)| *id).unwrap_or_default();
    audit(state, user, "asset.create", format!("asset:{id}"), format!("hostname={hostname} kind={kind} site={site}")).await?;
    Ok(id)
}

pub async fn create_asset(State(state): State<SharedState>, user: AdminUser, Json(body): Json<NewAsset>) -> ApiResult<(StatusCode, Json<Value>)> {
    let id = create_asset_for(&state, &user, body).await?;
    Ok((StatusCode::CREATED, Json(json!({ "id": id }))))
}

#[derive(Deserialize)]
pub struct ExportParams {
    format: Option<String>,
    lang: Option<String>,
    /// CSV only: `utf8` (with BOM, the default) or `sjis`.
    encoding: Option<String>,
}

pub async fn export_assets(State(state): State<SharedState>, user: AdminUser, Query(p): Query<ExportParams>) -> ApiResult<Response> {
    use lanward_ledger::export::{export_csv, export_xlsx, CsvEncoding, ExportRow, Lang};
    let format = p.format.as_deref().unwrap_or("xlsx");
    let lang = if p.lang.as_deref() == Some("en") { Lang::En } else { Lang::Ja };
    let encoding = match p.encoding.as_deref() {
        None | Some("utf8") | Some("utf-8") => CsvEncoding::Utf8Bom,
        Some("sjis") | Some("shift_jis") | Some("cp932") => CsvEncoding::ShiftJis,
        Some(other) => return Err(AppError::bad_request("encoding_invalid", format!("文字コード {other} には対応していません (utf8, sjis)"), format!("unsupported encoding {other} (utf8, sjis)"))),
    };
    if format != "xlsx" && format != "csv" {
        return Err(AppError::bad_request("format_invalid", format!("形式 {format} には対応していません (xlsx, csv)"), format!("unsupported format {format} (xlsx, csv)")));
    }
    let store = state.store.clone();
    let snapshot = tokio::task::spawn_blocking(move || store.ledger_snapshot()).await??;
    let count = snapshot.len();
    let rows: Vec<ExportRow> = snapshot
        .into_iter()
        .map(|a| ExportRow {
            id: a.id,
            hostname: a.hostname,
            kind: a.kind,
            site: a.site,
            serial: a.serial,
            fields: a.fields,
            os: a.os_name.map(|n| format!("{n} {}", a.os_version.unwrap_or_default()).trim().to_string()),
            last_seen: a.last_seen_ms.map(crate::api::view::jst_minutes),
        })
        .collect();
    let fmt = format.to_string();
    let bytes = tokio::task::spawn_blocking(move || if fmt == "xlsx" { export_xlsx(&rows, lang) } else { export_csv(&rows, lang, encoding) })
        .await?
        .map_err(|e| AppError::new(StatusCode::UNPROCESSABLE_ENTITY, "export_failed", e.message_ja(), e.message_en()))?;
    audit(&state, &user, "ledger.export", "ledger".into(), format!("format={format} assets={count}")).await?;
    let (ctype, ext) = if format == "xlsx" {
        ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx")
    } else if encoding == CsvEncoding::ShiftJis {
        ("text/csv; charset=Shift_JIS", "csv")
    } else {
        ("text/csv; charset=utf-8", "csv")
    };
    let date = crate::api::view::jst_minutes(lanward_store::now_ms()).chars().filter(|c| c.is_ascii_digit()).take(8).collect::<String>();
    let disposition = format!("attachment; filename=\"lanward-ledger-{date}.{ext}\"");
    Ok(([(header::CONTENT_TYPE, ctype.to_string()), (header::CONTENT_DISPOSITION, disposition)], bytes).into_response())
}

#[derive(Deserialize)]
pub struct UploadParams {
    filename: Option<String>,
}

fn import_error(e: &import::ImportError) -> AppError {
    AppError::new(StatusCode::UNPROCESSABLE_ENTITY, "import_file_invalid", e.message_ja(), e.message_en())
}

/// Plans the pending import against the ledger as it is now.
pub async fn plan_for(state: &SharedState, pending: &PendingImport) -> ApiResult<import::Plan> {
    let store = state.store.clone();
    let existing = tokio::task::spawn_blocking(move || crate::imports::existing(&*store)).await??;
    let (table, mapping) = (pending.table.clone(), pending.mapping.clone());
    tokio::task::spawn_blocking(move || import::plan(&table, &mapping, &existing)).await?.map_err(|e| import_error(&e))
}

fn pending_view(p: &PendingImport, plan: &import::Plan) -> Value {
    json!({
        "id": p.id,
        "file_name": p.file_name,
        "sha256": p.sha256,
        "encoding": p.table.encoding,
        "sheet": p.table.sheet,
        "headers": p.table.headers,
        "mapping": p.mapping,
        "targets": import::targets(),
        "plan": plan,
        "can_apply": plan.invalid == 0 && (plan.creates + plan.updates) > 0,
    })
}

/// Reads an uploaded ledger file (`.xlsx` or CSV in the body) and plans it.
pub async fn upload(state: &SharedState, user: &AdminUser, file_name: &str, body: Bytes) -> ApiResult<(PendingImport, import::Plan)> {
    let name = file_name.to_string();
    let bytes = body.to_vec();
    let sha256 = hex::encode(sha2::Sha256::digest(&bytes));
    let table = tokio::task::spawn_blocking(move || import::read_table(&name, &bytes)).await?.map_err(|e| import_error(&e))?;
    let mapping = import::guess_mapping(&table.headers);
    let pending = PendingImport {
        id: crate::bootstrap::random_secret(12).replace(['-', '_'], "x"),
        owner: user.user.username.clone(),
        file_name: file_name.to_string(),
        sha256,
        table,
        mapping,
        created_ms: lanward_store::now_ms(),
    };
    let plan = plan_for(state, &pending).await?;
    if let Ok(mut all) = state.imports.lock() {
        let now = lanward_store::now_ms();
        all.retain(|_, p| now - p.created_ms < crate::imports::TTL_MS);
        while all.len() >= crate::imports::MAX_PENDING {
            let Some(oldest) = all.values().min_by_key(|p| p.created_ms).map(|p| p.id.clone()) else { break };
            all.remove(&oldest);
        }
        all.insert(pending.id.clone(), pending.clone());
    }
    audit(state, user, "ledger.import.preview", format!("import:{}", pending.id), format!("file={} sha256={} rows={} invalid={}", pending.file_name, pending.sha256, plan.rows.len(), plan.invalid)).await?;
    Ok((pending, plan))
}

pub async fn import_preview(State(state): State<SharedState>, user: AdminUser, Query(p): Query<UploadParams>, body: Bytes) -> ApiResult<Json<Value>> {
    let file_name = p.filename.unwrap_or_else(|| "upload.csv".into());
    let (pending, plan) = upload(&state, &user, &file_name, body).await?;
    Ok(Json(pending_view(&pending, &plan)))
}

pub fn pending(state: &SharedState, user: &AdminUser, id: &str) -> ApiResult<PendingImport> {
    let found = state.imports.lock().ok().and_then(|all| all.get(id).cloned());
    match found {
        Some(p) if p.owner == user.user.username && lanward_store::now_ms() - p.created_ms < crate::imports::TTL_MS => Ok(p),
        _ => Err(AppError::not_found(&format!("import {id}"))),
    }
}

pub async fn import_show(State(state): State<SharedState>, user: AdminUser, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let p = pending(&state, &user, &id)?;
    let plan = plan_for(&state, &p).await?;
    Ok(Json(pending_view(&p, &plan)))
}

/// Replaces the column mapping of a pending import and plans it again.
pub async fn remap(state: &SharedState, user: &AdminUser, id: &str, mapping: Mapping) -> ApiResult<(PendingImport, import::Plan)> {
    let mut p = pending(state, user, id)?;
    mapping.validate(&p.table.headers).map_err(|e| import_error(&e))?;
    p.mapping = mapping;
    let plan = plan_for(state, &p).await?;
    if let Ok(mut all) = state.imports.lock() {
        all.insert(p.id.clone(), p.clone());
    }
    Ok((p, plan))
}

pub async fn import_mapping(State(state): State<SharedState>, user: AdminUser, Path(id): Path<String>, Json(mapping): Json<Mapping>) -> ApiResult<Json<Value>> {
    let (p, plan) = remap(&state, &user, &id, mapping).await?;
    Ok(Json(pending_view(&p, &plan)))
}

/// Applies a pending import: all of it in one transaction, or nothing when
/// any row has an error.
pub async fn apply(state: &SharedState, user: &AdminUser, id: &str) -> ApiResult<Value> {
    let p = pending(state, user, id)?;
    let plan = plan_for(state, &p).await?;
    if plan.invalid > 0 {
        let errors: Vec<&import::Problem> = plan.rows.iter().flat_map(|r| r.problems.iter()).filter(|p| p.severity == import::Severity::Error).collect();
        let first = errors.first().map(|e| format!("{} 行目 {}: {}", e.line, e.column.clone().unwrap_or_default(), e.message_ja)).unwrap_or_default();
        return Err(AppError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "import_has_errors",
            format!("{} 行にエラーがあるため取り込みません (何も書き込んでいません)。最初のエラー: {first}", plan.invalid),
            format!("{} rows have errors; nothing was imported", plan.invalid),
        ));
    }
    let writes = crate::imports::writes(&plan);
    let (store, actor) = (state.store.clone(), user.actor());
    let n = writes.len();
    if n > 0 {
        tokio::task::spawn_blocking(move || store.apply_ledger(&writes, &actor, lanward_store::now_ms())).await??;
    }
    if let Ok(mut all) = state.imports.lock() {
        all.remove(id);
    }
    audit(state, user, "ledger.import", format!("import:{id}"), format!("file={} sha256={} created={} updated={} unchanged={}", p.file_name, p.sha256, plan.creates, plan.updates, plan.unchanged)).await?;
    Ok(json!({ "created": plan.creates, "updated": plan.updates, "unchanged": plan.unchanged, "warnings": plan.warnings }))
}

pub async fn import_apply(State(state): State<SharedState>, user: AdminUser, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    Ok(Json(apply(&state, &user, &id).await?))
}

pub async fn list_sites(State(state): State<SharedState>, _user: AdminUser) -> ApiResult<Json<Value>> {
    Ok(Json(json!({ "sites": load_sites(&state).await? })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSite {
    code: String,
    name: String,
}

pub async fn upsert_site(State(state): State<SharedState>, user: AdminUser, Json(body): Json<NewSite>) -> ApiResult<Json<Value>> {
    let code = body.code.trim().to_ascii_uppercase();
    let name = body.name.trim().to_string();
    if code.is_empty() || code.len() > 16 || !code.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(AppError::bad_request("site_invalid", "拠点コードは 1〜16 文字の英数字です", "site code must be 1 to 16 letters or digits"));
    }
    if name.is_empty() || name.chars().count() > 100 {
        return Err(AppError::bad_request("site_invalid", "拠点名は 1〜100 文字です", "site name must be 1 to 100 characters"));
    }
    let site = SiteRecord { code: code.clone(), name: name.clone() };
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || store.upsert_site(&site, lanward_store::now_ms())).await??;
    audit(&state, &user, "site.upsert", format!("site:{code}"), format!("name={name}")).await?;
    Ok(Json(json!({ "code": code, "name": name })))
}

pub async fn unknown_devices(State(state): State<SharedState>, _user: AdminUser) -> ApiResult<Json<Value>> {
    let store = state.store.clone();
    let devices = tokio::task::spawn_blocking(move || store.unknown_devices()).await??;
    Ok(Json(json!({ "devices": devices })))
}

/// Dismisses an unknown device (it stays listed, marked dismissed).
pub async fn dismiss(state: &SharedState, user: &AdminUser, ip: &str) -> ApiResult<()> {
    let (store, actor, key) = (state.store.clone(), user.actor(), ip.to_string());
    let found = tokio::task::spawn_blocking(move || store.dismiss_unknown_device(&key, &actor, lanward_store::now_ms())).await??;
    if !found {
        return Err(AppError::not_found(&format!("unknown device {ip}")));
    }
    audit(state, user, "unknown_device.dismiss", format!("ip:{ip}"), String::new()).await
}

pub async fn dismiss_unknown_device(State(state): State<SharedState>, user: AdminUser, Path(ip): Path<String>) -> ApiResult<Json<Value>> {
    dismiss(&state, &user, &ip).await?;
    Ok(Json(json!({ "ip": ip, "status": "dismissed" })))
}
