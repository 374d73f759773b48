//! Console pages of the operation logs: search (with CSV / Excel export)
//! and one PC's day as a timeline. Every search is audited.

use super::{html_response, layout, Lang, OrPage, PageResult};
use crate::api::oplog::{run_search, LogParams};
use crate::api::view::jst_seconds;
use crate::auth::AdminUser;
use crate::SharedState;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use lanward_oplog::{EventKind, StoredEvent};
use maud::{html, Markup};

fn kind_text(lang: Lang, k: EventKind) -> String {
    match lang {
        Lang::Ja => k.label_ja().to_string(),
        Lang::En => k.as_str().replace('_', " "),
    }
}

/// What happened, in one line: the fields the kind uses.
fn what(e: &StoredEvent) -> String {
    let d = &e.detail;
    let mut parts: Vec<String> = Vec::new();
    for v in [&d.title, &d.process, &d.command_line, &d.path, &d.target_path, &d.document, &d.printer, &d.vendor, &d.product, &d.serial, &d.via, &d.reason].into_iter().flatten() {
        parts.push(v.clone());
    }
    if let Some(p) = d.pages {
        parts.push(format!("{p} ページ"));
    }
    if let Some(ms) = d.dwell_ms {
        parts.push(format!("{} 秒", ms / 1000));
    }
    parts.join(" ／ ")
}

fn value(v: &Option<String>) -> String {
    v.clone().unwrap_or_default()
}

fn query_string(p: &LogParams) -> String {
    let mut parts = Vec::new();
    for (k, v) in [("from", &p.from), ("to", &p.to), ("pc", &p.pc), ("user", &p.user), ("kind", &p.kind), ("text", &p.text), ("order", &p.order)] {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            parts.push(format!("{k}={}", super::url_encode(v)));
        }
    }
    parts.join("&")
}

fn events_table(lang: Lang, events: &[StoredEvent], show_pc: bool) -> Markup {
    html! {
        table #events {
            thead { tr {
                th { (lang.t("日時", "Time")) }
                @if show_pc { th { "PC" } }
                th { (lang.t("ユーザー", "User")) } th { (lang.t("種類", "Kind")) } th { (lang.t("内容", "What")) }
            } }
            tbody { @for e in events { tr {
                td.nowrap { (jst_seconds(e.time_ms)) }
                @if show_pc { td { a href={ "/logs?pc=" (super::url_encode(&e.pc)) "&order=asc" } { (e.pc) } } }
                td { (e.user.clone().unwrap_or_default()) } td.nowrap { (kind_text(lang, e.kind)) } td { (what(e)) }
            } } }
        }
    }
}

/// `/logs`: the search form and results; with a single PC and oldest-first
/// order it reads as that PC's timeline.
pub async fn search(State(state): State<SharedState>, user: AdminUser, headers: HeaderMap, Query(mut p): Query<LogParams>) -> PageResult {
    let lang = Lang::from_headers(&headers);
    if p.limit.is_none() {
        p.limit = Some("500".into());
    }
    let searched = p.from.is_some() || p.pc.is_some() || p.text.is_some() || p.kind.is_some() || p.user.is_some();
    let found = if searched { Some(run_search(&state, &user, &p, "oplog.search").await.page(&user, lang)?) } else { None };
    // Events per day over the searched range (all kinds), drawn as bars.
    let per_day: Vec<(String, u64)> = match (&found, p.query()) {
        (Some(_), Ok(q)) if q.to_ms - q.from_ms <= 62 * 86_400_000 => {
            let oplog = state.oplog.clone();
            let pc = q.pcs.first().cloned().filter(|_| q.pcs.len() == 1);
            let rows = tokio::task::spawn_blocking(move || oplog.counts_by_kind_per_day(q.from_ms, q.to_ms, pc.as_deref())).await.ok().and_then(|r| r.ok()).unwrap_or_default();
            let mut days: std::collections::BTreeMap<u32, u64> = std::collections::BTreeMap::new();
            for (day, _, n) in rows {
                *days.entry(day).or_default() += n;
            }
            days.into_iter().map(|(d, n)| (format!("{}-{:02}-{:02}", d / 10000, d / 100 % 100, d % 100), n)).collect()
        }
        _ => Vec::new(),
    };
    let single_pc = p.pc.as_deref().is_some_and(|pc| !pc.is_empty() && !pc.contains(','));
    let qs = query_string(&p);
    let oplog = state.oplog.clone();
    let damaged = tokio::task::spawn_blocking(move || oplog.damaged()).await.unwrap_or_default();
    let body = html! {
        @if !damaged.is_empty() {
            div.error #damaged role="alert" {
                (lang.t("壊れた操作ログの区画があります。検索はこの区画を除いて行います: ", "Damaged operation-log partitions are skipped by searches: "))
                @for (p, r) in &damaged { code { (p) } " (" (r) ") " }
            }
        }
        p.muted { (lang.t("操作ログは個人情報です。検索・書き出しはすべて監査ログに記録されます。", "Operation logs are personal information: every search and export is recorded in the audit log.")) }
        form.filters #log-search method="get" action="/logs" {
            label { (lang.t("開始", "From")) input type="date" name="from" value=(value(&p.from)); }
            label { (lang.t("終了", "To")) input type="date" name="to" value=(value(&p.to)); }
            label { "PC" input #pc type="text" name="pc" value=(value(&p.pc)) size="16"; }
            label { (lang.t("ユーザー", "User")) input type="text" name="user" value=(value(&p.user)) size="12"; }
            label { (lang.t("種類", "Kind")) select name="kind" {
                option value="" { "—" }
                @for k in EventKind::ALL { option value=(k.as_str()) selected[p.kind.as_deref() == Some(k.as_str())] { (kind_text(lang, *k)) } }
            } }
            label { (lang.t("キーワード", "Keywords")) input #text type="search" name="text" value=(value(&p.text)) size="24"; }
            label { (lang.t("並び", "Order")) select name="order" {
                option value="" { (lang.t("新しい順", "newest first")) }
                option value="asc" selected[p.order.as_deref() == Some("asc")] { (lang.t("古い順 (タイムライン)", "oldest first (timeline)")) }
            } }
            button #log-search-button type="submit" { (lang.t("検索", "Search")) }
        }
        @if let Some(found) = &found {
            p #log-count {
                (found.total) (lang.t(" 件", " events")) @if !found.total_exact { "+" }
                @if (found.events.len() as u64) < found.total { (lang.t(" (先頭 ", " (first ")) (found.events.len()) (lang.t(" 件を表示)", " shown)")) }
                " " a href={ "/api/v1/logs/export?format=csv&" (qs) } { "CSV" }
                " " a href={ "/api/v1/logs/export?format=xlsx&" (qs) } { "Excel" }
            }
            @if per_day.len() > 1 {
                details { summary { (lang.t("日別の件数 (UTC 日)", "Events per day (UTC days)")) } (super::bar_chart(&per_day, 700)) }
            }
            (events_table(lang, &found.events, !single_pc))
        } @else {
            p { (lang.t("条件を入れて検索してください。PC 名と「古い順」で、その PC の 1 日の動きを追えます。", "Enter conditions and search. A PC name with oldest-first order reads as that PC's timeline.")) }
        }
    };
    Ok(html_response(layout(lang, Some(&user), lang.t("操作ログ", "Operation logs"), body)))
}

/// `/alerts`: alerts raised by the rules (newest first), the rules, and a
/// form to add one.
pub async fn alerts(State(state): State<SharedState>, user: AdminUser, headers: HeaderMap) -> PageResult {
    let lang = Lang::from_headers(&headers);
    let (s1, s2) = (state.store.clone(), state.store.clone());
    let (alerts, rules) = super::blocking(&user, lang, move || -> lanward_store::Result<_> { Ok((s1.alerts(300, false)?, s2.alert_rules()?)) }).await?;
    let editable = super::can(&user, crate::api::LEDGER_WRITERS);
    let mail_on = state.mail.is_some();
    let cond = |r: &lanward_store::AlertRule| -> String {
        let mut parts = Vec::new();
        if let Some(k) = r.kind.as_deref().and_then(EventKind::parse) {
            parts.push(kind_text(lang, k));
        }
        for (label, v) in [(lang.t("拠点", "site"), &r.site), (lang.t("所属", "department"), &r.department), (lang.t("プロセス", "process"), &r.process_contains), (lang.t("キーワード", "text"), &r.text_contains), (lang.t("デバイス", "device"), &r.device_class)] {
            if let Some(v) = v {
                parts.push(format!("{label}: {v}"));
            }
        }
        parts.join(" かつ ")
    };
    let body = html! {
        h2 { (lang.t("警告", "Alerts")) }
        table #alerts {
            thead { tr { th { (lang.t("日時", "Time")) } th { (lang.t("ルール", "Rule")) } th { "PC" } th { (lang.t("ユーザー", "User")) } th { (lang.t("内容", "What")) } th { (lang.t("確認", "Acknowledged")) } } }
            tbody { @for a in &alerts { tr id={ "alert-" (a.id) } {
                td.nowrap { (jst_seconds(a.at_ms)) } td { (a.rule_name) }
                td { @if let Some(id) = a.asset_id { a href={ "/assets/" (id) } { (a.pc) } } @else { (a.pc) } }
                td { (a.user_name.clone().unwrap_or_default()) } td { (a.summary) }
                td { @if let Some(by) = &a.acknowledged_by { span.muted { (by) } } @else {
                    form.inline method="post" action={ "/alerts/" (a.id) "/ack" } { input type="hidden" name="csrf" value=(user.csrf()); button type="submit" { (lang.t("確認済みにする", "Acknowledge")) } }
                } }
            } } }
        }
        h2 { (lang.t("ルール", "Rules")) }
        table #rules {
            thead { tr { th { (lang.t("名前", "Name")) } th { (lang.t("条件", "Conditions")) } th { (lang.t("メールの宛先", "E-mail to")) } th { (lang.t("作成者", "By")) } @if editable { th {} } } }
            tbody { @for r in &rules { tr {
                td { (r.name) } td { (cond(r)) }
                td { (r.recipients.join(", ")) @if !r.recipients.is_empty() && !mail_on { " " span.muted { (lang.t("(メール未設定のため送信されません)", "(mail is not configured: not sent)")) } } }
                td { (r.created_by) }
                @if editable { td { form.inline method="post" action={ "/alerts/rules/" (r.id) "/delete" } { input type="hidden" name="csrf" value=(user.csrf()); button type="submit" { (lang.t("削除", "Delete")) } } } }
            } } }
        }
        @if editable {
            h2 { (lang.t("ルールを追加", "Add a rule")) }
            form #new-rule.form480 method="post" action="/alerts/rules" {
                input type="hidden" name="csrf" value=(user.csrf());
                table.fields { tbody {
                    tr { th { (lang.t("名前", "Name")) } td { input type="text" name="name" required; } }
                    tr { th { (lang.t("種類", "Kind")) } td { select name="kind" { option value="" { "—" } @for k in EventKind::ALL { option value=(k.as_str()) { (kind_text(lang, *k)) } } } } }
                    tr { th { (lang.t("拠点コード", "Site code")) } td { input type="text" name="site"; } }
                    tr { th { (lang.t("所属", "Department")) } td { input type="text" name="department"; } }
                    tr { th { (lang.t("プロセス (部分一致)", "Process (part)")) } td { input type="text" name="process_contains"; } }
                    tr { th { (lang.t("キーワード (部分一致)", "Text (part)")) } td { input type="text" name="text_contains"; } }
                    tr { th { (lang.t("デバイス種別", "Device class")) } td { select name="device_class" { option value="" { "—" } option value="usb_storage" { (lang.t("USB メモリ・ディスク (usb_storage)", "USB storage (usb_storage)")) } option value="usb" { (lang.t("その他の USB 機器 (usb)", "Other USB device (usb)")) } option value="removable" { (lang.t("リムーバブルドライブ上のファイル操作 (removable)", "File operations on removable drives (removable)")) } } } }
                    tr { th { (lang.t("メールの宛先 (カンマ区切り)", "E-mail to (comma-separated)")) } td { input type="text" name="recipients" placeholder="haisui@suido.example.jp, joho@suido.example.jp"; } }
                } }
                @if !mail_on { p.muted { (lang.t("メールを送るには、データディレクトリに mail.json を置いてサーバーを再起動してください (マニュアル「操作ログ」)。", "To send e-mail, put mail.json in the data directory and restart the server (manual: operation logs).")) } }
                p { button type="submit" { (lang.t("追加", "Add")) } }
            }
        }
    };
    Ok(html_response(layout(lang, Some(&user), lang.t("操作ログの警告", "Operation-log alerts"), body)))
}

pub async fn create_rule(State(state): State<SharedState>, user: AdminUser, headers: HeaderMap, axum::Form(form): axum::Form<std::collections::BTreeMap<String, String>>) -> PageResult {
    let lang = Lang::from_headers(&headers);
    let get = |k: &str| form.get(k).cloned();
    let rule = crate::api::oplog::NewRule {
        name: get("name").unwrap_or_default(),
        kind: get("kind"),
        site: get("site"),
        department: get("department"),
        process_contains: get("process_contains"),
        text_contains: get("text_contains"),
        device_class: get("device_class"),
        // Commas (also Japanese ones), semicolons or spaces between addresses.
        recipients: get("recipients").map(|t| t.split([',', '、', '，', ';', ' ', '\u{3000}', '\n', '\r', '\t']).map(String::from).collect()),
    };
    crate::api::oplog::create_rule_for(&state, &user, rule).await.page(&user, lang)?;
    Ok(axum::response::Redirect::to("/alerts").into_response())
}

pub async fn delete_rule(State(state): State<SharedState>, user: AdminUser, headers: HeaderMap, axum::extract::Path(id): axum::extract::Path<String>) -> PageResult {
    let lang = Lang::from_headers(&headers);
    crate::api::oplog::delete_rule_for(&state, &user, &id).await.page(&user, lang)?;
    Ok(axum::response::Redirect::to("/alerts").into_response())
}

pub async fn ack(State(state): State<SharedState>, user: AdminUser, headers: HeaderMap, axum::extract::Path(id): axum::extract::Path<String>) -> PageResult {
    let lang = Lang::from_headers(&headers);
    crate::api::oplog::ack_for(&state, &user, &id).await.page(&user, lang)?;
    Ok(axum::response::Redirect::to("/alerts").into_response())
}
