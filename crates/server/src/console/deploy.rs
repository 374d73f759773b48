//! Console pages of software distribution (issue 6 §7, §1): deployments
//! with progress per wave and per site and every target's state, the
//! controls (pause, resume, cancel, retry the failed), the new-deployment
//! form, and the packages with their upload form.
//!
//! Reading is for every role; changing is for `DISTRIBUTORS` (the route
//! table says so; the pages only hide buttons a person cannot use). The
//! bars are SVG drawn here, coloured by CSS classes: the CSP allows no
//! inline style or script.

use super::{can, html_response, layout, Lang, OrPage, PageError, PageResult};
use crate::api::view::jst_minutes;
use crate::api::DISTRIBUTORS;
use crate::auth::AdminUser;
use crate::distribution::{self as dist, AddPackage, AddedPackage, DeploymentRequest};
use crate::error::AppError;
use crate::SharedState;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect};
use axum::Form;
use lanward_deploy::plan::WaveCounts;
use lanward_deploy::WindowSpec;
use lanward_store::PackageRecord;
use maud::{html, Markup};
use std::collections::BTreeMap;
use std::io::Write;

/// Runs blocking distribution work (store and files) off the async threads;
/// a failure becomes the console's error page.
async fn run<T: Send + 'static>(user: &AdminUser, lang: Lang, f: impl FnOnce() -> Result<T, AppError> + Send + 'static) -> Result<T, PageError> {
    let result = match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => Err(e.into()),
    };
    result.page(user, lang)
}

fn parse_id(id: &str, what: &str) -> Result<i64, AppError> {
    id.parse().map_err(|_| AppError::not_found(&format!("{what} {id}")))
}

fn status_label(lang: Lang, status: &str) -> String {
    match status {
        "active" => lang.t("稼働中", "Active").into(),
        "paused" => lang.t("一時停止", "Paused").into(),
        "cancelled" => lang.t("取消", "Cancelled").into(),
        other => other.into(),
    }
}

fn status_cell(lang: Lang, status: &str) -> Markup {
    html! { span class={ "status-" (status) } data-status=(status) { (status_label(lang, status)) } }
}

/// Bytes as people read them (decimal units, as WAN links are sold).
fn human_bytes(bytes: i64) -> String {
    let b = bytes.max(0) as f64;
    match bytes {
        ..=999 => format!("{} B", bytes.max(0)),
        1_000..=999_999 => format!("{:.1} KB", b / 1e3),
        1_000_000..=999_999_999 => format!("{:.1} MB", b / 1e6),
        _ => format!("{:.2} GB", b / 1e9),
    }
}

/// The outcome classes of a bar, in drawing order, with their labels.
fn segments(c: &WaveCounts) -> [(usize, &'static str, &'static str, &'static str); 5] {
    [
        (c.succeeded, "succeeded", "成功", "succeeded"),
        (c.failed, "failed", "失敗", "failed"),
        (c.missed, "missed", "期限切れ", "missed"),
        (c.active, "active", "実行中", "in progress"),
        (c.excluded, "excluded", "対象外・取消", "excluded"),
    ]
}

/// `成功 3 · 失敗 1 · 実行中 2 · 未開始 5 / 11 台`
fn counts_text(lang: Lang, c: &WaveCounts) -> String {
    let mut parts: Vec<String> = segments(c).iter().filter(|s| s.0 > 0).map(|(n, _, ja, en)| format!("{} {n}", lang.t(ja, en))).collect();
    if c.not_started > 0 {
        parts.push(format!("{} {}", lang.t("未開始", "not started"), c.not_started));
    }
    let total = match lang {
        Lang::Ja => format!("{} 台", c.total),
        Lang::En => format!("{} targets", c.total),
    };
    if parts.is_empty() {
        total
    } else {
        format!("{} / {total}", parts.join(" · "))
    }
}

/// One horizontal bar: succeeded, failed, missed, in progress, excluded,
/// and the rest (not started) as the background.
fn progress_bar(lang: Lang, c: &WaveCounts, width: u32) -> Markup {
    let height = 14u32;
    let total = c.total.max(1) as f64;
    let mut x = 0.0f64;
    let mut rects = Vec::new();
    for (n, class, ja, en) in segments(c) {
        if n == 0 {
            continue;
        }
        let w = n as f64 / total * f64::from(width);
        rects.push((x, w, class, format!("{} {n}", lang.t(ja, en))));
        x += w;
    }
    let summary = counts_text(lang, c);
    html! {
        svg.progress width=(width) height=(height) viewBox={ "0 0 " (width) " " (height) } role="img" aria-label=(summary) {
            title { (summary) }
            rect.bg x="0" y="0" width=(width) height=(height) rx="2" {}
            @for (x, w, class, label) in &rects {
                rect class=(class) x=(format!("{x:.1}")) y="0" width=(format!("{w:.1}")) height=(height) { title { (label) } }
            }
        }
    }
}

fn legend(lang: Lang) -> Markup {
    html! {
        div.legend {
            @for (class, ja, en) in [("succeeded", "成功", "succeeded"), ("failed", "失敗", "failed"), ("missed", "期限切れ", "missed"), ("active", "実行中", "in progress"), ("excluded", "対象外・取消", "excluded"), ("not-started", "未開始", "not started")] {
                span class={ "k " (class) } {} (lang.t(ja, en))
            }
        }
    }
}

// ------------------------------------------------------------ deployments

pub async fn list(State(state): State<SharedState>, user: AdminUser, headers: HeaderMap) -> PageResult {
    let lang = Lang::from_headers(&headers);
    let store = state.store.clone();
    let mut views = run(&user, lang, move || {
        let mut out = Vec::new();
        for d in store.deployments()? {
            if let Some(v) = dist::view(&*store, d.id)? {
                out.push((v.deployment, v.counts));
            }
        }
        Ok(out)
    })
    .await?;
    views.sort_by_key(|v| std::cmp::Reverse(v.0.id));
    let body = html! {
        @if can(&user, DISTRIBUTORS) {
            p.actions { a.button #new-deployment href="/deployments/new" { (lang.t("新しい配布", "New deployment")) } a.button.secondary href="/packages" { (lang.t("パッケージ", "Packages")) } }
        }
        @if views.is_empty() {
            p.muted #no-deployments { (lang.t("配布はまだありません。", "No deployments yet.")) }
        } @else {
            (legend(lang))
            table #deployments {
                thead { tr {
                    th { "ID" } th { (lang.t("件名", "Title")) } th { (lang.t("パッケージ", "Package")) } th { (lang.t("状態", "Status")) }
                    th { (lang.t("進捗", "Progress")) } th { (lang.t("作成者", "Created by")) } th { (lang.t("作成日時", "Created")) }
                } }
                tbody { @for (d, c) in &views { tr data-id=(d.id) {
                    td.num { (d.id) }
                    td { a.deployment href={ "/deployments/" (d.id) } { (d.title) } }
                    td { (d.package_name) " " (d.package_version) }
                    td { (status_cell(lang, &d.status)) }
                    td { (progress_bar(lang, c, 220)) br; span.muted { (counts_text(lang, c)) } }
                    td { (d.created_by) }
                    td.nowrap { (jst_minutes(d.created_at_ms)) }
                } } }
            }
        }
    };
    Ok(html_response(layout(lang, Some(&user), lang.t("配布", "Deployments"), body)))
}

fn done_notice(lang: Lang, flash: &BTreeMap<String, String>) -> Option<String> {
    let n = flash.get("n").and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
    if let Some(created) = flash.get("created").and_then(|n| n.parse::<u64>().ok()) {
        return Some(match lang {
            Lang::Ja => format!("配布を作成しました (対象 {created} 台)"),
            Lang::En => format!("Deployment created ({created} targets)"),
        });
    }
    Some(match (flash.get("done").map(String::as_str)?, lang) {
        ("pause", Lang::Ja) => "一時停止しました".to_string(),
        ("pause", Lang::En) => "Paused".to_string(),
        ("resume", Lang::Ja) => "再開しました".to_string(),
        ("resume", Lang::En) => "Resumed".to_string(),
        ("cancel", Lang::Ja) => format!("取り消しました ({n} 台の作業を止めました)"),
        ("cancel", Lang::En) => format!("Cancelled ({n} targets stopped)"),
        ("retry", Lang::Ja) => format!("失敗した {n} 台を再試行します"),
        ("retry", Lang::En) => format!("Retrying {n} failed targets"),
        _ => return None,
    })
}

/// One control as a POST form with the CSRF token.
fn control_form(user: &AdminUser, id: i64, what: &str, label: &str, class: &str) -> Markup {
    html! {
        form.inline method="post" action={ "/deployments/" (id) "/" (what) } {
            input type="hidden" name="csrf" value=(user.csrf());
            button id=(what) class=(class) type="submit" { (label) }
        }
    }
}

pub async fn page(State(state): State<SharedState>, user: AdminUser, headers: HeaderMap, Path(id): Path<String>, Query(flash): Query<BTreeMap<String, String>>) -> PageResult {
    let lang = Lang::from_headers(&headers);
    let id = parse_id(&id, "deployment").page(&user, lang)?;
    let store = state.store.clone();
    let v = run(&user, lang, move || dist::view(&*store, id)).await?.ok_or_else(|| AppError::not_found(&format!("deployment {id}"))).page(&user, lang)?;
    let d = &v.deployment;
    let cancelled = d.status == "cancelled";
    let wave_name = |i: i64| v.waves.iter().find(|w| w.index as i64 == i).map(|w| w.name.clone()).unwrap_or_else(|| (i + 1).to_string());
    let confirm_cancel = flash.get("confirm").is_some_and(|c| c == "cancel") && !cancelled;
    let body = html! {
        @if let Some(n) = done_notice(lang, &flash) { div.notice #done { (n) } }
        div.grid {
            div.card {
                h2 { (lang.t("概要", "Summary")) }
                table.fields { tbody {
                    tr { th { (lang.t("パッケージ", "Package")) } td #package { a href="/packages" { (d.package_name) " " (d.package_version) } } }
                    tr { th { (lang.t("状態", "Status")) } td #status { (status_cell(lang, &d.status)) } }
                    tr { th { (lang.t("作成者", "Created by")) } td { (d.created_by) } }
                    tr { th { (lang.t("作成日時", "Created")) } td { (jst_minutes(d.created_at_ms)) } }
                    tr { th { (lang.t("時間帯", "Windows")) } td {
                        @if v.windows.is_empty() { (lang.t("制限なし", "any time")) }
                        @for w in &v.windows { @match w { WindowSpec::Simple(s) => { code { (s) } " " }, WindowSpec::Cron { cron, minutes } => { code { (cron) } " (" (minutes) (lang.t(" 分", " min")) ") " } } }
                    } }
                    tr { th { (lang.t("期限", "Deadline")) } td { (v.deadline.map(|t| jst_minutes(t.timestamp_millis())).unwrap_or_else(|| "—".into())) } }
                } }
            }
            div.card {
                h2 { (lang.t("全体の進捗", "Overall progress")) }
                (progress_bar(lang, &v.counts, 420))
                p #counts { (counts_text(lang, &v.counts)) }
                (legend(lang))
                p { a #refresh href={ "/deployments/" (d.id) } { (lang.t("更新", "Refresh")) } }
            }
        }
        @if can(&user, DISTRIBUTORS) && !cancelled {
            @if confirm_cancel {
                div.error #confirm-cancel role="alert" {
                    p { (lang.t("この配布を取り消しますか？ まだ終わっていない端末の作業を止めます。取り消した配布は再開できません。",
                                "Cancel this deployment? Targets not finished yet are stopped. A cancelled deployment cannot be resumed.")) }
                    div.actions {
                        (control_form(&user, d.id, "cancel", lang.t("取り消す", "Cancel the deployment"), "danger"))
                        a.button.secondary href={ "/deployments/" (d.id) } { (lang.t("やめる", "Keep it")) }
                    }
                }
            } @else {
                div.actions #controls {
                    @if d.status == "active" { (control_form(&user, d.id, "pause", lang.t("一時停止", "Pause"), "")) }
                    @if d.status == "paused" { (control_form(&user, d.id, "resume", lang.t("再開", "Resume"), "")) }
                    @if v.counts.failed > 0 {
                        (control_form(&user, d.id, "retry", &match lang { Lang::Ja => format!("失敗を再試行 ({} 台)", v.counts.failed), Lang::En => format!("Retry failed ({})", v.counts.failed) }, ""))
                    }
                    a.button.secondary #cancel-ask href={ "/deployments/" (d.id) "?confirm=cancel" } { (lang.t("取消…", "Cancel…")) }
                }
            }
        }
        h2 { (lang.t("段階 (ウェーブ)", "Waves")) }
        table #waves {
            thead { tr { th { "#" } th { (lang.t("名前", "Name")) } th { (lang.t("開始", "Opened")) } th { (lang.t("次へ進む条件", "Gate")) } th { (lang.t("進捗", "Progress")) } th { (lang.t("内訳", "Counts")) } } }
            tbody { @for w in &v.waves { tr {
                td.num { (w.index + 1) }
                td { (w.name) }
                td { @if w.opened { span.ok { (lang.t("開始済み", "opened")) } } @else { span.muted { (lang.t("未開始", "not yet")) } } }
                td { @match w.gate_percent { Some(g) => { (lang.t("前の段の成功 ", "previous wave ")) (g) " %" (lang.t(" 以上", " succeeded")) }, None => { "—" } } }
                td { (progress_bar(lang, &w.counts, 260)) }
                td { (counts_text(lang, &w.counts)) }
            } } }
        }
        h2 { (lang.t("拠点", "Sites")) }
        table #sites {
            thead { tr { th { (lang.t("拠点", "Site")) } th { (lang.t("進捗", "Progress")) } th { (lang.t("内訳", "Counts")) } th { (lang.t("WAN 転送量", "WAN traffic")) } } }
            tbody { @for s in &v.sites { tr {
                td { (s.site) }
                td { (progress_bar(lang, &s.counts, 260)) }
                td { (counts_text(lang, &s.counts)) }
                td.num { (human_bytes(s.server_bytes)) }
            } } }
        }
        h2 { (lang.t("対象の端末", "Targets")) " (" (v.targets.len()) ")" }
        table #targets {
            thead { tr {
                th { (lang.t("ホスト名", "Hostname")) } th { (lang.t("拠点", "Site")) } th { (lang.t("所属", "Department")) } th { (lang.t("段階", "Wave")) }
                th { (lang.t("状態", "State")) } th { (lang.t("終了コード", "Exit code")) } th { (lang.t("理由", "Reason")) } th { (lang.t("ログ", "Log")) }
                th { (lang.t("試行", "Attempts")) } th { (lang.t("転送量", "Bytes")) } th { (lang.t("更新日時", "Updated")) }
            } }
            tbody { @for t in &v.targets { tr data-asset=(t.asset_id) {
                td { a href={ "/assets/" (t.asset_id) } { (t.hostname) } }
                td { (t.site) }
                td { (t.department) }
                td { (wave_name(t.wave)) }
                td.state data-state=(t.state) {
                    (lang.t(t.label_ja, t.label_en))
                    @if let Some(p) = t.percent { " " (p) " %" }
                }
                td.num { (t.code.map(|c| c.to_string()).unwrap_or_default()) }
                td { (t.reason.clone().unwrap_or_default()) }
                td { @if let Some(log) = t.log_tail.as_deref().filter(|l| !l.is_empty()) { details { summary { (lang.t("表示", "show")) } pre { (log) } } } }
                td.num { (t.attempts) }
                td.num { (human_bytes(t.server_bytes)) }
                td.nowrap { (jst_minutes(t.updated_at_ms)) }
            } } }
        }
    };
    Ok(html_response(layout(lang, Some(&user), &d.title, body)))
}

async fn control(state: SharedState, user: AdminUser, headers: HeaderMap, id: String, what: &'static str) -> PageResult {
    let lang = Lang::from_headers(&headers);
    let num = parse_id(&id, "deployment").page(&user, lang)?;
    // The API's own path: the change and its audit entry (`deployment.<what>`).
    let changed = crate::api::deploy::control_for(&state, &user, &id, what).await.page(&user, lang)?;
    Ok(Redirect::to(&format!("/deployments/{num}?done={what}&n={changed}")).into_response())
}

macro_rules! control_page {
    ($name:ident, $what:literal) => {
        pub async fn $name(State(state): State<SharedState>, user: AdminUser, headers: HeaderMap, Path(id): Path<String>) -> PageResult {
            control(state, user, headers, id, $what).await
        }
    };
}
control_page!(pause, "pause");
control_page!(resume, "resume");
control_page!(cancel, "cancel");
control_page!(retry, "retry");

// ------------------------------------------------------------ new deployment

/// Comma-, 、- or line-separated values; `words` also splits on spaces
/// (hostnames and site codes have none; department names may).
fn split_list(text: &str, words: bool) -> Vec<String> {
    text.split(|c: char| c == ',' || c == '、' || c == '\n' || c == '\r' || (words && c.is_whitespace()))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// `YYYY-MM-DD HH:MM` in JST (the bureau's clock; a `T` from a
/// datetime-local input is taken too).
fn parse_jst(text: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let text = text.trim().replace('T', " ");
    let naive = chrono::NaiveDateTime::parse_from_str(&text, "%Y-%m-%d %H:%M").ok()?;
    let jst = chrono::FixedOffset::east_opt(9 * 3600)?;
    naive.and_local_timezone(jst).single().map(|t| t.with_timezone(&chrono::Utc))
}

fn form_error(lang: Lang, field_ja: &str, field_en: &str, ja: String, en: String) -> String {
    match lang {
        Lang::Ja => format!("{field_ja}: {ja}"),
        Lang::En => format!("{field_en}: {en}"),
    }
}

/// The form as a request to `create_deployment`; an error names the field.
fn deployment_request(lang: Lang, f: &BTreeMap<String, String>) -> Result<DeploymentRequest, String> {
    let get = |k: &str| f.get(k).map(|v| v.trim()).unwrap_or("");
    let number = |k: &str, ja: &str, en: &str| -> Result<Option<u64>, String> {
        match get(k) {
            "" => Ok(None),
            v => v.parse::<u64>().map(Some).map_err(|_| form_error(lang, ja, en, format!("`{v}` は 0 以上の整数ではありません"), format!("`{v}` is not a whole number"))),
        }
    };
    let package_id = match get("package_id") {
        "" => return Err(lang.t("パッケージ: 配布するパッケージを選んでください", "Package: choose the package to deploy").into()),
        v => v.parse::<i64>().map_err(|_| form_error(lang, "パッケージ", "Package", format!("`{v}` はパッケージの番号ではありません"), format!("`{v}` is not a package id")))?,
    };
    let mut req = DeploymentRequest { package_id: Some(package_id), ..DeploymentRequest::default() };
    req.title = Some(get("title").to_string()).filter(|t| !t.is_empty());
    req.targets.hostnames = split_list(get("hostnames"), true);
    req.targets.sites = split_list(get("sites"), true);
    req.targets.departments = split_list(get("departments"), false);
    if req.targets.hostnames.is_empty() && req.targets.sites.is_empty() && req.targets.departments.is_empty() {
        // Nothing named would mean every PC: too easy to do by mistake here.
        return Err(lang.t("対象: 端末名・拠点・所属のどれかを指定してください", "Targets: give hostnames, sites or departments").into());
    }
    req.pilot = split_list(get("pilot"), true);
    req.by_department = f.contains_key("by_department");
    if let Some(g) = number("gate_percent", "次へ進む成功率 (%)", "Gate (%)")? {
        if g > 100 {
            return Err(form_error(lang, "次へ進む成功率 (%)", "Gate (%)", format!("{g} は 0〜100 ではありません"), format!("{g} is not within 0 to 100")));
        }
        req.gate_percent = Some(g as u8);
    }
    for (key, ja, en) in [("at", "開始日時", "Start"), ("deadline", "期限", "Deadline")] {
        let v = get(key);
        if v.is_empty() {
            continue;
        }
        let t = parse_jst(v).ok_or_else(|| form_error(lang, ja, en, format!("`{v}` を解釈できません (日本時間で 2026-12-01 12:00 の形)"), format!("cannot read `{v}` (JST, like 2026-12-01 12:00)")))?;
        if key == "at" {
            req.at = Some(t);
        } else {
            req.deadline = Some(t);
        }
    }
    req.windows = get("windows").lines().map(str::trim).filter(|l| !l.is_empty()).map(|l| WindowSpec::Simple(l.to_string())).collect();
    match get("bandwidth_mbit") {
        "" => {}
        v => {
            let mbit: f64 = v
                .parse()
                .ok()
                .filter(|m: &f64| m.is_finite() && *m > 0.0)
                .ok_or_else(|| form_error(lang, "拠点ごとの帯域 (Mbit/s)", "Bandwidth per site (Mbit/s)", format!("`{v}` は正の数ではありません"), format!("`{v}` is not a positive number")))?;
            req.per_site_bytes_per_sec = Some(((mbit * 1_000_000.0 / 8.0) as u64).max(1));
        }
    }
    req.per_site_concurrency = number("site_concurrency", "拠点ごとの同時実行数", "Concurrent per site")?.map(|n| n as usize);
    req.spread_minutes = number("spread_minutes", "開始の分散 (分)", "Spread (minutes)")?.map(|n| n.min(u64::from(u32::MAX)) as u32);
    Ok(req)
}

fn package_label(p: &PackageRecord) -> String {
    format!("{} {} (#{}, serial {})", p.name, p.version, p.id, p.serial)
}

async fn new_form_page(state: &SharedState, user: &AdminUser, lang: Lang, f: &BTreeMap<String, String>, error: Option<String>) -> PageResult {
    let store = state.store.clone();
    let packages = run(user, lang, move || Ok(store.packages()?)).await?;
    let now = lanward_store::now_ms();
    let get = |k: &str| f.get(k).cloned().unwrap_or_default();
    let chosen = get("package_id");
    let status = if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    let body = html! {
        @if let Some(e) = &error { div.error #form-error role="alert" { (e) } }
        form #new-deployment-form method="post" action="/deployments/new" {
            input type="hidden" name="csrf" value=(user.csrf());
            table.fields { tbody {
                tr { th { label for="package_id" { (lang.t("パッケージ", "Package")) } } td {
                    select #package_id name="package_id" required {
                        option value="" { "—" }
                        @for p in packages.iter().rev() {
                            @let usable = p.signed && p.expires_at_ms > now;
                            option value=(p.id) selected[chosen == p.id.to_string()] disabled[!usable] {
                                (package_label(p))
                                @if !p.signed { (lang.t(" — 署名待ち", " — awaiting signature")) } @else if !usable { (lang.t(" — 期限切れ", " — expired")) }
                            }
                        }
                    }
                } }
                tr { th { label for="title" { (lang.t("件名 (省略可)", "Title (optional)")) } } td { input #title type="text" name="title" value=(get("title")); } }
                tr { th { label for="hostnames" { (lang.t("対象の端末名 (カンマ区切り)", "Target hostnames (comma-separated)")) } } td { textarea #hostnames name="hostnames" rows="2" { (get("hostnames")) } } }
                tr { th { label for="sites" { (lang.t("対象の拠点 (カンマ区切り)", "Target sites (comma-separated)")) } } td { input #sites type="text" name="sites" value=(get("sites")) placeholder="HQ, KUN"; } }
                tr { th { label for="departments" { (lang.t("対象の所属 (カンマ区切り)", "Target departments (comma-separated)")) } } td { input #departments type="text" name="departments" value=(get("departments")); } }
                tr { th { label for="pilot" { (lang.t("パイロット端末 (最初の段)", "Pilot hostnames (first wave)")) } } td { input #pilot type="text" name="pilot" value=(get("pilot")); } }
                tr { th { label for="by_department" { (lang.t("課ごとに段階配布", "One wave per department")) } } td { input #by_department type="checkbox" name="by_department" value="on" checked[f.contains_key("by_department")]; } }
                tr { th { label for="gate_percent" { (lang.t("次へ進む成功率 (%)", "Gate: success % to go on")) } } td { input #gate_percent.narrow type="number" name="gate_percent" min="0" max="100" value=(f.get("gate_percent").cloned().unwrap_or_else(|| "90".into())); } }
                tr { th { label for="at" { (lang.t("開始日時 (日本時間)", "Start (JST)")) } } td { input #at type="text" name="at" value=(get("at")) placeholder="2026-12-01 12:00"; } }
                tr { th { label for="windows" { (lang.t("時間帯 (1 行に 1 つ)", "Windows (one per line)")) } } td { textarea #windows name="windows" rows="2" placeholder="mon-fri 12:00-13:00" { (get("windows")) } } }
                tr { th { label for="deadline" { (lang.t("期限 (日本時間)", "Deadline (JST)")) } } td { input #deadline type="text" name="deadline" value=(get("deadline")) placeholder="2026-12-20 17:00"; } }
                tr { th { label for="bandwidth_mbit" { (lang.t("拠点ごとの帯域 (Mbit/s)", "Bandwidth per site (Mbit/s)")) } } td { input #bandwidth_mbit.narrow type="text" name="bandwidth_mbit" value=(get("bandwidth_mbit")); } }
                tr { th { label for="site_concurrency" { (lang.t("拠点ごとの同時実行数", "Concurrent per site")) } } td { input #site_concurrency.narrow type="number" name="site_concurrency" min="1" value=(get("site_concurrency")) placeholder="20"; } }
                tr { th { label for="spread_minutes" { (lang.t("開始の分散 (分)", "Spread starts over (minutes)")) } } td { input #spread_minutes.narrow type="number" name="spread_minutes" min="0" value=(get("spread_minutes")); } }
            } }
            p.muted { (lang.t("エージェントのない機器 (プリンターなど) は拠点・所属で選んでも対象になりません。", "Devices without an agent (printers...) are left out of site and department selections.")) }
            p { button #create-deployment type="submit" { (lang.t("配布を作成", "Create the deployment")) } }
        }
    };
    Ok((status, html_response(layout(lang, Some(user), lang.t("新しい配布", "New deployment"), body))).into_response())
}

pub async fn new_form(State(state): State<SharedState>, user: AdminUser, headers: HeaderMap, Query(prefill): Query<BTreeMap<String, String>>) -> PageResult {
    let lang = Lang::from_headers(&headers);
    let mut f = BTreeMap::new();
    if let Some(p) = prefill.get("package") {
        f.insert("package_id".to_string(), p.clone());
    }
    new_form_page(&state, &user, lang, &f, None).await
}

pub async fn create(State(state): State<SharedState>, user: AdminUser, headers: HeaderMap, Form(mut f): Form<BTreeMap<String, String>>) -> PageResult {
    let lang = Lang::from_headers(&headers);
    f.remove("csrf");
    let req = match deployment_request(lang, &f) {
        Ok(r) => r,
        Err(e) => return new_form_page(&state, &user, lang, &f, Some(e)).await,
    };
    // The audit keeps the form as it was sent (the token removed above).
    let asked = serde_urlencoded::to_string(&f).unwrap_or_default();
    match crate::api::deploy::create_deployment_for(&state, &user, req, &asked).await {
        Ok(created) => Ok(Redirect::to(&format!("/deployments/{}?created={}", created.id, created.targets)).into_response()),
        Err(e) if e.status.is_client_error() => new_form_page(&state, &user, lang, &f, Some(lang.t(&e.ja, &e.en).to_string())).await,
        Err(e) => Err(PageError { err: e, user: Some(user), lang }),
    }
}

// ------------------------------------------------------------ packages

/// The upload form's text fields, kept to show them again after an error.
#[derive(Default)]
struct UploadFields {
    name: String,
    version: String,
    command: String,
    detection: String,
    file_name: String,
}

/// Text fields are short; a bigger one is not a form this page made.
const MAX_FIELD_BYTES: usize = 16 * 1024;

async fn packages_page(state: &SharedState, user: &AdminUser, lang: Lang, form: &UploadFields, error: Option<String>, added: Option<&AddedPackage>) -> PageResult {
    let store = state.store.clone();
    let mut packages = run(user, lang, move || Ok(store.packages()?)).await?;
    packages.sort_by_key(|p| std::cmp::Reverse(p.id));
    let distributor = can(user, DISTRIBUTORS);
    let now = lanward_store::now_ms();
    let status = if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    let body = html! {
        @if let Some(e) = &error { div.error #upload-error role="alert" { (e) } }
        @if let Some(a) = added {
            div.notice #package-added {
                p {
                    (lang.t("パッケージを追加しました: ", "Package added: ")) b { (a.package.name) " " (a.package.version) }
                    " (serial " (a.package.serial) ", " (a.chunks) (lang.t(" チャンク", " chunks")) ")"
                    @if !a.package.signed { " " span.warn { (lang.t("オフライン署名を待っています (lanward package sign)", "awaiting offline signature (lanward package sign)")) } }
                }
                @for n in &a.notes { p.muted { (lang.t("注: ", "Note: ")) (n) } }
            }
        }
        @if !state.distribution.signs_online() {
            p.muted { (lang.t("署名鍵はオフラインです。追加したパッケージは lanward package manifest / sign / signature で署名するまで配布できません。",
                              "The signing key is offline: packages can be deployed once signed with lanward package manifest / sign / signature.")) }
        }
        @if packages.is_empty() {
            p.muted #no-packages { (lang.t("パッケージはまだありません。", "No packages yet.")) }
        } @else {
            table #packages {
                thead { tr {
                    th { "ID" } th { (lang.t("名前", "Name")) } th { (lang.t("バージョン", "Version")) } th { "serial" } th { (lang.t("種類", "Framework")) }
                    th { (lang.t("ファイル", "File")) } th { (lang.t("サイズ", "Size")) } th { (lang.t("署名", "Signature")) } th { (lang.t("検出ルール", "Detection rule")) }
                    th { "SHA-256" } th { (lang.t("追加", "Added")) } @if distributor { th {} }
                } }
                tbody { @for p in &packages { tr data-id=(p.id) {
                    td.num { (p.id) }
                    td.name { (p.name) }
                    td { (p.version) }
                    td.num { (p.serial) }
                    td { (p.framework) }
                    td { (p.file_name) }
                    td.num { (human_bytes(p.size)) }
                    td.signature {
                        @if !p.signed { span.warn { (lang.t("オフライン署名待ち", "awaiting offline signature")) } }
                        @else if p.expires_at_ms <= now { span.warn { (lang.t("署名の期限切れ", "signature expired")) } }
                        @else { span.ok { (lang.t("署名済み", "signed")) } }
                    }
                    td { @if let Some(d) = &p.detection { code { (d) } } @else { span.muted { (lang.t("なし", "none")) } } }
                    td { code title=(p.sha256) { (p.sha256.chars().take(12).collect::<String>()) "…" } }
                    td.nowrap { (jst_minutes(p.created_at_ms)) br; span.muted { (p.created_by) } }
                    @if distributor { td { @if p.signed && p.expires_at_ms > now { a href={ "/deployments/new?package=" (p.id) } { (lang.t("配布する", "Deploy")) } } } }
                } } }
            }
        }
        @if distributor {
            h2 { (lang.t("パッケージを追加", "Add a package")) }
            // Multipart bodies are not read by the CSRF check (they may be
            // gigabytes): the token rides in the action URL instead.
            form #upload-package.form480 method="post" enctype="multipart/form-data" action={ "/packages?csrf=" (super::url_encode(user.csrf())) } {
                table.fields { tbody {
                    tr { th { label for="name" { (lang.t("パッケージ名", "Package name")) } } td { input #name type="text" name="name" required value=(form.name); } }
                    tr { th { label for="version" { (lang.t("バージョン", "Version")) } } td { input #version type="text" name="version" required value=(form.version); } }
                    tr { th { label for="command" { (lang.t("コマンド (省略時は自動)", "Command (automatic if empty)")) } } td { input #command type="text" name="command" value=(form.command) placeholder="msiexec /i {file} /qn /l*v {log}"; } }
                    tr { th { label for="detection" { (lang.t("検出ルール (省略時は自動、none で無し)", "Detection rule (automatic if empty; none for no rule)")) } } td { input #detection type="text" name="detection" value=(form.detection) placeholder="msi:{GUID}>=1.2.3"; } }
                    tr { th { label for="file" { (lang.t("ファイル", "File")) } } td { input #file type="file" name="file" required; } }
                } }
                p { button #upload-button type="submit" { (lang.t("追加", "Add")) } }
                p.muted { (lang.t("MSI・EXE (WiX / NSIS / Inno Setup / InstallShield)・.deb・スクリプト (.ps1 .cmd .bat .sh) を判別し、サイレントインストールのコマンドと検出ルールを提案します。",
                                  "MSI, EXE (WiX / NSIS / Inno Setup / InstallShield), .deb and scripts (.ps1 .cmd .bat .sh) are recognised; the silent command and detection rule are proposed.")) }
            }
        }
    };
    Ok((status, html_response(layout(lang, Some(user), lang.t("パッケージ", "Packages"), body))).into_response())
}

pub async fn packages(State(state): State<SharedState>, user: AdminUser, headers: HeaderMap) -> PageResult {
    let lang = Lang::from_headers(&headers);
    packages_page(&state, &user, lang, &UploadFields::default(), None, None).await
}

/// Reads the upload form: text fields into `fields`, the file part
/// streamed into a temporary file in the upload folder (never whole in
/// memory). An error names the field or the file.
async fn read_upload(state: &SharedState, mp: &mut Multipart, fields: &mut UploadFields) -> Result<Option<tempfile::NamedTempFile>, AppError> {
    let cut = |what: &str, e: &dyn std::fmt::Display| {
        AppError::bad_request("upload_truncated", format!("{what}: アップロードが途中で切れました: {e}"), format!("{what}: upload cut short: {e}"))
    };
    let mut file = None;
    loop {
        let mut field = match mp.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return Err(cut("form", &e)),
        };
        let name = field.name().unwrap_or("").to_string();
        if name == "file" {
            fields.file_name = std::path::Path::new(field.file_name().unwrap_or("")).file_name().and_then(|n| n.to_str()).unwrap_or("").to_string();
            let what = fields.file_name.clone();
            let mut tmp = tempfile::NamedTempFile::new_in(&state.distribution.upload_dir).map_err(|e| AppError::unavailable(&format!("upload folder: {e}")))?;
            let mut total: u64 = 0;
            loop {
                let chunk = match field.chunk().await {
                    Ok(Some(c)) => c,
                    Ok(None) => break,
                    Err(e) => return Err(cut(&what, &e)),
                };
                total += chunk.len() as u64;
                if total > crate::api::deploy::MAX_PACKAGE_BYTES {
                    return Err(AppError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "package_too_large",
                        format!("{what}: パッケージが大きすぎます (上限 16 GB)"),
                        format!("{what}: package exceeds 16 GB"),
                    ));
                }
                // Writes of an upload are small and sequential; blocking here is brief (as in the API).
                tmp.write_all(&chunk).map_err(|e| AppError::unavailable(&format!("upload folder: {e}")))?;
            }
            tmp.flush().map_err(|e| AppError::unavailable(&format!("upload folder: {e}")))?;
            file = Some(tmp);
            continue;
        }
        let mut bytes = Vec::new();
        loop {
            match field.chunk().await {
                Ok(Some(c)) => {
                    bytes.extend_from_slice(&c);
                    if bytes.len() > MAX_FIELD_BYTES {
                        return Err(AppError::bad_request("field_too_long", format!("{name}: 長すぎます (上限 16 KB)"), format!("{name}: longer than 16 KB")));
                    }
                }
                Ok(None) => break,
                Err(e) => return Err(cut(&name, &e)),
            }
        }
        let text = String::from_utf8(bytes).map_err(|_| AppError::bad_request("field_not_utf8", format!("{name}: UTF-8 の文字列ではありません"), format!("{name}: not UTF-8 text")))?;
        let text = text.trim().to_string();
        match name.as_str() {
            "name" => fields.name = text,
            "version" => fields.version = text,
            "command" => fields.command = text,
            "detection" => fields.detection = text,
            // Anything else (a browser's extra fields) is ignored.
            _ => {}
        }
    }
    Ok(file)
}

pub async fn upload(State(state): State<SharedState>, user: AdminUser, headers: HeaderMap, mut req: Request) -> PageResult {
    let lang = Lang::from_headers(&headers);
    let mut fields = UploadFields::default();
    // The file has its own cap (16 GB) while it streams to disk; the 8 MB
    // limit of the other routes does not apply to it.
    DefaultBodyLimit::disable().apply(&mut req);
    let mut mp = match Multipart::from_request(req, &()).await {
        Ok(m) => m,
        Err(_) => {
            let e = lang.t("フォームの形式が違います (multipart/form-data で送ってください)", "the form must be sent as multipart/form-data");
            return packages_page(&state, &user, lang, &fields, Some(e.to_string()), None).await;
        }
    };
    let file = match read_upload(&state, &mut mp, &mut fields).await {
        Ok(f) => f,
        Err(e) => return packages_page(&state, &user, lang, &fields, Some(lang.t(&e.ja, &e.en).to_string()), None).await,
    };
    let missing = if file.is_none() || fields.file_name.is_empty() {
        Some(lang.t("file: ファイルを選んでください", "file: choose the installer file"))
    } else if fields.name.is_empty() {
        Some(lang.t("パッケージ名: 入力してください", "Package name: required"))
    } else if fields.version.is_empty() {
        Some(lang.t("バージョン: 入力してください", "Version: required"))
    } else {
        None
    };
    let (Some(tmp), None) = (file, missing) else {
        let e = missing.unwrap_or_default().to_string();
        return packages_page(&state, &user, lang, &fields, Some(e), None).await;
    };
    let req = AddPackage {
        name: fields.name.clone(),
        version: fields.version.clone(),
        file_name: fields.file_name.clone(),
        command: Some(fields.command.clone()).filter(|c| !c.is_empty()),
        detection: Some(fields.detection.clone()).filter(|d| !d.is_empty()),
        ..AddPackage::default()
    };
    match crate::api::deploy::add_uploaded_package(&state, &user, tmp, req).await {
        Ok(added) => packages_page(&state, &user, lang, &UploadFields::default(), None, Some(&added)).await,
        Err(e) => {
            let text = lang.t(&e.ja, &e.en).to_string();
            // Every message names the file, so a person with several to add knows which.
            let text = if text.contains(&fields.file_name) { text } else { format!("{}: {text}", fields.file_name) };
            packages_page(&state, &user, lang, &fields, Some(text), None).await
        }
    }
}
