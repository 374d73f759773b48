//! Operation logs: agents send numbered event batches; permitted people
//! search them. Every search and export is audited (operation logs are
//! personal information).

use super::agent::{body_or_error, parse_json};
use crate::auth::{verify_agent, AdminUser};
use crate::error::{ApiResult, AppError};
use crate::SharedState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use lanward_oplog::{EventKind, IncomingEvent, StoredEvent};
use lanward_proto::oplog::{EventAck, EventBatch, CONTENT_ENCODING_LZ4, MAX_EVENTS_PER_BATCH, MAX_EVENT_CLOCK_SKEW_MS};
use serde::Deserialize;
use serde_json::{json, Value};

/// Largest decompressed batch accepted (a full batch of long titles is ~3 MB).
const MAX_DECOMPRESSED_BYTES: usize = 32 * 1024 * 1024;

fn bad(code: &'static str, ja: impl Into<String>, en: impl Into<String>) -> AppError {
    AppError::bad_request(code, ja, en)
}

/// `POST /api/v1/agent/events`.
pub async fn ingest(State(state): State<SharedState>, uri: Uri, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> ApiResult<Json<EventAck>> {
    let body = body_or_error(body)?;
    let agent = verify_agent(&state, "POST", uri.path(), &headers, &body)?;
    let compressed = headers.get(header::CONTENT_ENCODING).and_then(|v| v.to_str().ok()) == Some(CONTENT_ENCODING_LZ4);
    let raw = if compressed {
        // The size prefix comes from the sender: check it before allocating.
        let claimed = body.get(..4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize).unwrap_or(usize::MAX);
        if claimed > MAX_DECOMPRESSED_BYTES {
            return Err(bad("batch_too_large", "イベントの束が大きすぎます", format!("decompressed batch would be {claimed} bytes (limit {MAX_DECOMPRESSED_BYTES})")));
        }
        lz4_flex::decompress_size_prepended(&body).map_err(|e| bad("lz4_invalid", format!("LZ4 圧縮が壊れています: {e}"), format!("bad LZ4 body: {e}")))?
    } else {
        body.to_vec()
    };
    let batch: EventBatch = parse_json(&raw)?;
    if batch.events.len() > MAX_EVENTS_PER_BATCH {
        return Err(bad("batch_too_large", format!("1 回に送れるイベントは {MAX_EVENTS_PER_BATCH} 件までです"), format!("at most {MAX_EVENTS_PER_BATCH} events per batch")));
    }
    if let Some(w) = batch.events.windows(2).find(|w| w[1].seq <= w[0].seq) {
        return Err(bad("seq_order", format!("イベントの番号が昇順ではありません ({} の後に {})", w[0].seq, w[1].seq), format!("event seq not increasing ({} then {})", w[0].seq, w[1].seq)));
    }
    let now = lanward_store::now_ms();
    let hostname = agent.m.lock().map(|m| m.hostname.clone()).map_err(|_| AppError::unavailable("agent cache lock"))?;
    let mut clamped = 0u64;
    let incoming: Vec<IncomingEvent> = batch
        .events
        .into_iter()
        .map(|e| {
            let mut detail = e.detail.unwrap_or_default().clipped();
            // A clock far ahead would file events under days to come: they are
            // filed now, and say so. Past times are kept (a PC away for a week
            // sends a week of events).
            let time_ms = if e.at_ms > now + MAX_EVENT_CLOCK_SKEW_MS {
                clamped += 1;
                let note = format!("PC の時刻が {} 秒進んでいたため受信時刻で記録 (agent clock ahead)", (e.at_ms - now) / 1000);
                detail.reason = Some(match detail.reason.take() {
                    Some(r) => lanward_proto::oplog::clip(&format!("{r} / {note}")),
                    None => note,
                });
                now
            } else {
                e.at_ms.max(0)
            };
            IncomingEvent {
                seq: e.seq,
                event: StoredEvent { time_ms, pc: hostname.clone(), user: e.user.map(|u| lanward_proto::oplog::clip(&u)), kind: e.kind, detail },
            }
        })
        .collect();
    let (outcome, incoming) = state.event_ingest.submit(agent.id.clone(), incoming).await.map_err(|e| AppError::unavailable(&e))?;
    // Alert rules see each event once: the newly stored ones are the last
    // `stored` of the batch (duplicates are at or below what was stored).
    let rules = state.alert_rules.read().map(|r| r.clone()).unwrap_or_default();
    if outcome.stored > 0 && rules.iter().any(|r| r.enabled) {
        let fresh = &incoming[incoming.len().saturating_sub(outcome.stored as usize)..];
        let location = if rules.iter().any(|r| r.site.is_some() || r.department.is_some()) {
            let (store, asset_id) = (state.store.clone(), agent.asset_id);
            tokio::task::spawn_blocking(move || store.asset_location(asset_id)).await??
        } else {
            None
        };
        let raised = crate::alerts::evaluate(&rules, fresh, agent.asset_id, location.as_ref());
        if !raised.is_empty() {
            tracing::warn!(agent = %agent.id, alerts = raised.len(), "alert rules matched");
            let store = state.store.clone();
            let (ids, raised) = tokio::task::spawn_blocking(move || store.record_alerts(&raised).map(|ids| (ids, raised))).await??;
            // Stored first, mailed after: the queue never makes ingest wait.
            if let Some(mail) = &state.mail {
                mail.enqueue(&rules, &ids, &raised);
            }
        }
    }
    // Gaps: events the PC dropped at its cap, or a range that never came.
    let mut gaps = Vec::new();
    // The range the PC says it dropped is also missing here: count it once.
    let reported = batch.dropped.as_ref().filter(|d| d.count > 0).map(|d| (d.first_seq, d.last_seq));
    if let Some(d) = batch.dropped.filter(|d| d.count > 0) {
        gaps.push(lanward_store::GapWrite { dropped_items: d.count, dropped_bytes: 0, first_dropped_at_ms: d.last_dropped_at_ms, last_dropped_at_ms: d.last_dropped_at_ms });
    }
    let explained = |first: u64, last: u64| matches!(reported, Some((Some(f), Some(l))) if f <= first && last <= l);
    if let Some((first, last)) = outcome.gap.filter(|(f, l)| !explained(*f, *l)) {
        tracing::warn!(agent = %agent.id, first, last, "operation-log events never arrived");
        gaps.push(lanward_store::GapWrite { dropped_items: last - first + 1, dropped_bytes: 0, first_dropped_at_ms: now, last_dropped_at_ms: now });
    }
    if !gaps.is_empty() {
        let write = lanward_store::CheckinWrite::gaps_only(&agent.id, now, gaps);
        state.ingest.submit(write).await.map_err(|e| AppError::unavailable(&e))?;
    }
    if clamped > 0 {
        tracing::warn!(agent = %agent.id, clamped, "events dated in the future were filed at reception time");
    }
    state.mark_seen(&agent.id, now);
    Ok(Json(EventAck { acked_through: outcome.acked_through, stored: outcome.stored, duplicates: outcome.duplicates }))
}

#[derive(Deserialize, Default)]
pub struct LogParams {
    /// RFC 3339, or a date `YYYY-MM-DD` (Japan time, start of day).
    pub from: Option<String>,
    pub to: Option<String>,
    /// Hostnames, comma-separated.
    pub pc: Option<String>,
    pub user: Option<String>,
    /// Kinds, comma-separated (`process_start,file_copy`).
    pub kind: Option<String>,
    pub text: Option<String>,
    pub limit: Option<String>,
    /// `asc` for oldest first (timelines); newest first by default.
    pub order: Option<String>,
    pub format: Option<String>,
}

const JST_OFFSET_MS: i64 = 9 * 3_600_000;

/// Milliseconds of an RFC 3339 time or a JST date; `end` moves a date to
/// the start of the next day.
pub fn parse_time(name: &str, s: &str, end: bool) -> ApiResult<i64> {
    let s = s.trim();
    if let Ok(t) = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339) {
        return Ok((t.unix_timestamp_nanos() / 1_000_000) as i64);
    }
    let parts: Vec<&str> = s.split(['-', '/']).collect();
    let date = match parts.as_slice() {
        [y, m, d] => (|| {
            let month = time::Month::try_from(m.parse::<u8>().ok()?).ok()?;
            time::Date::from_calendar_date(y.parse().ok()?, month, d.parse().ok()?).ok()
        })(),
        _ => None,
    };
    match date {
        Some(d) => {
            let day = if end { d.next_day().unwrap_or(d) } else { d };
            Ok(day.midnight().assume_utc().unix_timestamp() * 1000 - JST_OFFSET_MS)
        }
        None => Err(bad("time_invalid", format!("{name} は日時 (RFC 3339) か日付 (YYYY-MM-DD) で指定してください: {s}"), format!("{name} must be RFC 3339 or YYYY-MM-DD: {s}"))),
    }
}

impl LogParams {
    pub fn query(&self) -> ApiResult<lanward_oplog::Query> {
        let now = lanward_store::now_ms();
        let to_ms = match self.to.as_deref().filter(|s| !s.trim().is_empty()) {
            Some(t) => parse_time("to", t, true)?,
            None => now + 60_000,
        };
        let from_ms = match self.from.as_deref().filter(|s| !s.trim().is_empty()) {
            Some(f) => parse_time("from", f, false)?,
            None => to_ms - 86_400_000,
        };
        if from_ms >= to_ms {
            return Err(bad("time_invalid", "from は to より前にしてください", "from must be before to"));
        }
        let list = |v: &Option<String>| -> Vec<String> { v.as_deref().unwrap_or("").split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect() };
        let mut kinds = Vec::new();
        for k in list(&self.kind) {
            kinds.push(EventKind::parse(&k).ok_or_else(|| {
                let all: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
                bad("kind_invalid", format!("種類 {k} はありません ({})", all.join(", ")), format!("no kind {k} (one of {})", all.join(", ")))
            })?);
        }
        let limit = match self.limit.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => 100,
            Some(l) => l.parse::<usize>().map_err(|_| bad("limit_invalid", "limit は数値です", "limit must be a number"))?.clamp(1, 100_000),
        };
        let text = self.text.as_deref().map(str::trim).filter(|t| !t.is_empty()).map(String::from);
        if text.as_deref().is_some_and(|t| t.chars().count() > 200) {
            return Err(bad("text_invalid", "検索語は 200 文字以内です", "search text is limited to 200 characters"));
        }
        Ok(lanward_oplog::Query {
            from_ms,
            to_ms,
            pcs: list(&self.pc),
            user: self.user.as_deref().map(str::trim).filter(|u| !u.is_empty()).map(String::from),
            kinds,
            text,
            limit,
            newest_first: self.order.as_deref() != Some("asc"),
        })
    }
}

/// An event as the API shows it: time, pc, user, kind, then the kind's fields.
pub fn event_json(e: &StoredEvent) -> Value {
    let mut v = json!({ "time": super::view::rfc3339(e.time_ms), "pc": e.pc, "user": e.user, "kind": e.kind.as_str() });
    if let (Some(obj), Ok(Value::Object(detail))) = (v.as_object_mut(), serde_json::to_value(&e.detail)) {
        for (k, val) in detail {
            obj.insert(k, val);
        }
    }
    v
}

/// Runs a search and audits it (who, what query, how many results).
pub async fn run_search(state: &SharedState, user: &AdminUser, p: &LogParams, action: &str) -> ApiResult<lanward_oplog::Found> {
    let q = p.query()?;
    let described = format!(
        "from={} to={} pc={} user={} kind={} text={}",
        super::view::rfc3339(q.from_ms),
        super::view::rfc3339(q.to_ms),
        q.pcs.join(","),
        q.user.clone().unwrap_or_default(),
        q.kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(","),
        q.text.clone().unwrap_or_default()
    );
    let oplog = state.oplog.clone();
    let found = tokio::task::spawn_blocking(move || oplog.search(&q)).await?.map_err(|e| match e {
        lanward_oplog::OplogError::BadQuery(m) => bad("query_invalid", format!("検索条件が不正です: {m}"), m),
        other => AppError::unavailable(&other.to_string()),
    })?;
    super::admin::audit(state, user, action, "oplog".into(), format!("{described} results={}", found.total)).await?;
    Ok(found)
}

/// `GET /api/v1/logs`.
pub async fn search(State(state): State<SharedState>, user: AdminUser, Query(p): Query<LogParams>) -> ApiResult<Json<Value>> {
    let found = run_search(&state, &user, &p, "oplog.search").await?;
    Ok(Json(json!({ "events": found.events.iter().map(event_json).collect::<Vec<_>>(), "total": found.total, "total_exact": found.total_exact })))
}

/// `GET /api/v1/logs/export?format=csv|xlsx` (same filters; up to 100,000 events).
pub async fn export(State(state): State<SharedState>, user: AdminUser, Query(mut p): Query<LogParams>) -> ApiResult<Response> {
    if p.limit.is_none() {
        p.limit = Some("100000".into());
    }
    let format = p.format.clone().unwrap_or_else(|| "csv".into());
    if format != "csv" && format != "xlsx" {
        return Err(bad("format_invalid", format!("形式 {format} には対応していません (csv, xlsx)"), format!("unsupported format {format} (csv, xlsx)")));
    }
    let found = run_search(&state, &user, &p, "oplog.export").await?;
    let rows: Vec<[String; 6]> = found
        .events
        .iter()
        .map(|e| {
            let detail = serde_json::to_value(&e.detail).ok().and_then(|v| v.as_object().cloned()).unwrap_or_default();
            let text = detail.iter().map(|(k, v)| format!("{k}={}", v.as_str().map(String::from).unwrap_or_else(|| v.to_string()))).collect::<Vec<_>>().join(" ");
            [super::view::jst_seconds(e.time_ms), e.pc.clone(), e.user.clone().unwrap_or_default(), e.kind.label_ja().to_string(), e.kind.as_str().to_string(), text]
        })
        .collect();
    let headers = ["日時 (JST)", "PC", "ユーザー", "種類", "kind", "内容"];
    let bytes = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, String> {
        if format == "xlsx" {
            let mut book = rust_xlsxwriter::Workbook::new();
            let sheet = book.add_worksheet();
            let bold = rust_xlsxwriter::Format::new().set_bold();
            for (c, h) in headers.iter().enumerate() {
                sheet.write_string_with_format(0, c as u16, *h, &bold).map_err(|e| e.to_string())?;
            }
            for (r, row) in rows.iter().enumerate() {
                for (c, v) in row.iter().enumerate() {
                    sheet.write_string(r as u32 + 1, c as u16, v).map_err(|e| e.to_string())?;
                }
            }
            sheet.set_freeze_panes(1, 0).map_err(|e| e.to_string())?;
            sheet.autofilter(0, 0, rows.len() as u32, 5).map_err(|e| e.to_string())?;
            for (c, w) in [20.0, 16.0, 16.0, 14.0, 16.0, 80.0].iter().enumerate() {
                sheet.set_column_width(c as u16, *w).map_err(|e| e.to_string())?;
            }
            book.save_to_buffer().map_err(|e| e.to_string())
        } else {
            let mut out = String::from("\u{feff}");
            let field = super::view::csv_field;
            out.push_str(&headers.iter().map(|h| field(h)).collect::<Vec<_>>().join(","));
            out.push_str("\r\n");
            for row in &rows {
                out.push_str(&row.iter().map(|v| field(v)).collect::<Vec<_>>().join(","));
                out.push_str("\r\n");
            }
            Ok(out.into_bytes())
        }
    })
    .await?
    .map_err(|e| AppError::new(StatusCode::INTERNAL_SERVER_ERROR, "export_failed", e.clone(), e))?;
    let (ctype, ext) = if p.format.as_deref() == Some("xlsx") { ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx") } else { ("text/csv; charset=utf-8", "csv") };
    Ok(([(header::CONTENT_TYPE, ctype.to_string()), (header::CONTENT_DISPOSITION, format!("attachment; filename=\"lanward-oplog.{ext}\""))], bytes).into_response())
}

/// `GET /api/v1/logs/counts`: events per day and kind.
pub async fn counts(State(state): State<SharedState>, user: AdminUser, Query(p): Query<LogParams>) -> ApiResult<Json<Value>> {
    let q = p.query()?;
    let (from, to, pc) = (q.from_ms, q.to_ms, q.pcs.first().cloned());
    let oplog = state.oplog.clone();
    let rows = tokio::task::spawn_blocking(move || oplog.counts_by_kind_per_day(from, to, pc.as_deref())).await?.map_err(|e| AppError::unavailable(&e.to_string()))?;
    super::admin::audit(&state, &user, "oplog.counts", "oplog".into(), format!("from={} to={}", super::view::rfc3339(from), super::view::rfc3339(to))).await?;
    Ok(Json(json!({ "counts": rows.iter().map(|(day, kind, n)| json!({"day": day, "kind": kind.as_str(), "count": n})).collect::<Vec<_>>() })))
}

/// Reloads the alert rules into memory after a change.
pub async fn reload_rules(state: &SharedState) -> ApiResult<()> {
    let store = state.store.clone();
    let rules = tokio::task::spawn_blocking(move || store.alert_rules()).await??;
    if let Ok(mut r) = state.alert_rules.write() {
        *r = std::sync::Arc::new(rules);
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRule {
    pub name: String,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub site: Option<String>,
    #[serde(default)]
    pub department: Option<String>,
    #[serde(default)]
    pub process_contains: Option<String>,
    #[serde(default)]
    pub text_contains: Option<String>,
    #[serde(default)]
    pub device_class: Option<String>,
    /// E-mail addresses told of each alert (when `mail.json` is set).
    #[serde(default)]
    pub recipients: Option<Vec<String>>,
}

/// Checks and creates a rule; returns its id.
pub async fn create_rule_for(state: &SharedState, user: &AdminUser, body: NewRule) -> ApiResult<i64> {
    let clean = |v: &Option<String>| v.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(String::from);
    let name = body.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(bad("name_invalid", "ルール名は 1〜100 文字です", "rule name must be 1 to 100 characters"));
    }
    let kind = clean(&body.kind);
    if let Some(k) = &kind {
        if EventKind::parse(k).is_none() {
            return Err(bad("kind_invalid", format!("種類 {k} はありません"), format!("no event kind {k}")));
        }
    }
    let recipients = crate::mail::check_recipients(body.recipients.as_deref().unwrap_or_default()).map_err(|(ja, en)| bad("recipients_invalid", ja, en))?;
    let rule = lanward_store::NewAlertRule {
        name: name.clone(),
        kind,
        site: clean(&body.site).map(|s| s.to_ascii_uppercase()),
        department: clean(&body.department),
        process_contains: clean(&body.process_contains),
        text_contains: clean(&body.text_contains),
        device_class: clean(&body.device_class),
        created_by: user.actor(),
        created_at_ms: lanward_store::now_ms(),
        recipients,
    };
    if rule.kind.is_none() && rule.process_contains.is_none() && rule.text_contains.is_none() && rule.device_class.is_none() {
        return Err(bad("rule_too_broad", "種類・プロセス・キーワード・デバイス種別のどれかを指定してください (すべてのイベントに一致してしまいます)", "give at least a kind, process, text or device class (the rule would match every event)"));
    }
    let detail = format!(
        "name={name} kind={:?} site={:?} department={:?} process={:?} text={:?} device={:?} recipients={}",
        rule.kind,
        rule.site,
        rule.department,
        rule.process_contains,
        rule.text_contains,
        rule.device_class,
        rule.recipients.join(",")
    );
    let store = state.store.clone();
    let id = tokio::task::spawn_blocking(move || store.create_alert_rule(&rule)).await??;
    reload_rules(state).await?;
    super::admin::audit(state, user, "alert_rule.create", format!("alert_rule:{id}"), detail).await?;
    Ok(id)
}

pub async fn list_rules(State(state): State<SharedState>, _user: AdminUser) -> ApiResult<Json<Value>> {
    let store = state.store.clone();
    let rules = tokio::task::spawn_blocking(move || store.alert_rules()).await??;
    Ok(Json(json!({ "rules": rules })))
}

pub async fn create_rule(State(state): State<SharedState>, user: AdminUser, Json(body): Json<NewRule>) -> ApiResult<(StatusCode, Json<Value>)> {
    let id = create_rule_for(&state, &user, body).await?;
    Ok((StatusCode::CREATED, Json(json!({ "id": id }))))
}

pub async fn delete_rule_for(state: &SharedState, user: &AdminUser, id: &str) -> ApiResult<()> {
    let id: i64 = id.parse().map_err(|_| AppError::not_found(&format!("alert rule {id}")))?;
    let store = state.store.clone();
    if !tokio::task::spawn_blocking(move || store.delete_alert_rule(id)).await?? {
        return Err(AppError::not_found(&format!("alert rule {id}")));
    }
    reload_rules(state).await?;
    super::admin::audit(state, user, "alert_rule.delete", format!("alert_rule:{id}"), String::new()).await
}

pub async fn delete_rule(State(state): State<SharedState>, user: AdminUser, axum::extract::Path(id): axum::extract::Path<String>) -> ApiResult<Json<Value>> {
    delete_rule_for(&state, &user, &id).await?;
    Ok(Json(json!({ "deleted": id })))
}

#[derive(Deserialize)]
pub struct AlertParams {
    open: Option<String>,
    limit: Option<u32>,
}

pub async fn list_alerts(State(state): State<SharedState>, _user: AdminUser, Query(p): Query<AlertParams>) -> ApiResult<Json<Value>> {
    let store = state.store.clone();
    let open_only = p.open.as_deref() == Some("true") || p.open.as_deref() == Some("1");
    let limit = p.limit.unwrap_or(200).clamp(1, 10_000);
    let alerts = tokio::task::spawn_blocking(move || store.alerts(limit, open_only)).await??;
    let items: Vec<Value> = alerts
        .iter()
        .map(|a| json!({"id": a.id, "rule_id": a.rule_id, "rule": a.rule_name, "time": super::view::rfc3339(a.at_ms), "pc": a.pc, "asset_id": a.asset_id, "user": a.user_name, "kind": a.kind, "summary": a.summary, "acknowledged_by": a.acknowledged_by, "acknowledged_at": a.acknowledged_at_ms.map(super::view::rfc3339)}))
        .collect();
    Ok(Json(json!({ "alerts": items })))
}

pub async fn ack_for(state: &SharedState, user: &AdminUser, id: &str) -> ApiResult<()> {
    let id: i64 = id.parse().map_err(|_| AppError::not_found(&format!("alert {id}")))?;
    let (store, actor) = (state.store.clone(), user.actor());
    if !tokio::task::spawn_blocking(move || store.acknowledge_alert(id, &actor, lanward_store::now_ms())).await?? {
        return Err(AppError::not_found(&format!("open alert {id}")));
    }
    super::admin::audit(state, user, "alert.acknowledge", format!("alert:{id}"), String::new()).await
}

pub async fn ack_alert(State(state): State<SharedState>, user: AdminUser, axum::extract::Path(id): axum::extract::Path<String>) -> ApiResult<Json<Value>> {
    ack_for(&state, &user, &id).await?;
    Ok(Json(json!({ "acknowledged": id })))
}

/// `GET /api/v1/logs/partitions`: what the store holds (days, events,
/// bytes) and any damaged partition, which searches skip.
pub async fn partitions(State(state): State<SharedState>, _user: AdminUser) -> ApiResult<Json<Value>> {
    let oplog = state.oplog.clone();
    let (parts, damaged) = tokio::task::spawn_blocking(move || oplog.partitions().map(|p| (p, oplog.damaged())))
        .await?
        .map_err(|e| AppError::unavailable(&e.to_string()))?;
    let events: u64 = parts.iter().map(|p| p.events).sum();
    let bytes: u64 = parts.iter().map(|p| p.bytes).sum();
    Ok(Json(json!({
        "partitions": parts,
        "events": events,
        "bytes": bytes,
        "retention_days": state.config.oplog_retention_days,
        "damaged": damaged.iter().map(|(p, r)| json!({"partition": p, "reason": r})).collect::<Vec<_>>(),
    })))
}
