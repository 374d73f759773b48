//! Console pages besides the ledger's: sign-in, import, export, users,
//! enrolment tokens, audit log.

use super::{html_response, layout, Lang, OrPage, PageResult};
use crate::api::view::jst_minutes;
use crate::auth::{AdminUser, SESSION_HOURS};
use crate::SharedState;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use lanward_ledger::import::{Action, Mapping, Severity};
use maud::html;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// Only paths on this server are followed after sign-in (no open redirect).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') && !n.starts_with("/login") => n.to_string(),
        _ => "/".to_string(),
    }
}

#[derive(Deserialize)]
pub struct NextParam {
    next: Option<String>,
}

fn login_form(lang: Lang, next: &str, error: Option<&str>) -> Response {
    let body = html! {
        @if let Some(e) = error { div.error #login-error role="alert" { (e) } }
        form #login.narrow-form method="post" action="/login" {
            input type="hidden" name="next" value=(next);
            table.fields { tbody {
                tr { th { label for="username" { (lang.t("ユーザー名", "User name")) } } td { input #username type="text" name="username" autocomplete="username" required autofocus; } }
                tr { th { label for="password" { (lang.t("パスワード", "Password")) } } td { input #password type="password" name="password" autocomplete="current-password" required; } }
            } }
            p { button #login-button type="submit" { (lang.t("ログイン", "Sign in")) } }
            p.muted { (lang.t("Active Directory のアカウントでもログインできます (設定されている場合)。", "Active Directory accounts can sign in too, when configured.")) }
        }
    };
    let status = if error.is_some() { StatusCode::UNAUTHORIZED } else { StatusCode::OK };
    (status, html_response(layout(lang, None, lang.t("ログイン", "Sign in"), body))).into_response()
}

pub async fn login_page(headers: HeaderMap, Query(p): Query<NextParam>) -> Response {
    login_form(Lang::from_headers(&headers), &safe_next(p.next.as_deref()), None)
}

#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    next: Option<String>,
}

pub async fn login_submit(State(state): State<SharedState>, ConnectInfo(peer): ConnectInfo<SocketAddr>, headers: HeaderMap, Form(f): Form<LoginForm>) -> Response {
    let lang = Lang::from_headers(&headers);
    let next = safe_next(f.next.as_deref());
    // Login CSRF: a form on another site must not sign the browser in.
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
        if origin != "null" && !origin.ends_with(&format!("://{host}")) {
            return login_form(lang, &next, Some(lang.t("別のサイトからのログインは受け付けません", "sign-in from another site refused")));
        }
    }
    match crate::api::session::sign_in(&state, &f.username, &f.password, &peer.ip().to_string()).await {
        Ok(opened) => {
            let mut resp = Redirect::to(&next).into_response();
            resp.headers_mut().insert(header::SET_COOKIE, crate::api::session::session_cookie(&state, &opened.cookie_value, SESSION_HOURS * 3600));
            resp
        }
        Err(e) => login_form(lang, &next, Some(if lang == Lang::Ja { &e.ja } else { &e.en })),
    }
}

#[derive(Deserialize)]
pub struct LangParam {
    to: Option<String>,
}

pub async fn switch_lang(headers: HeaderMap, Query(p): Query<LangParam>) -> Response {
    let value = if p.to.as_deref() == Some("en") { "lang=en; Path=/; Max-Age=31536000; SameSite=Lax" } else { "lang=ja; Path=/; Max-Age=31536000; SameSite=Lax" };
    // Back to the page the switch was pressed on, if it was ours.
    let back = headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.find("://").map(|i| &r[i + 3..]))
        .and_then(|r| r.find('/').map(|i| r[i..].to_string()))
        // A notice like "saved" belongs to the moment it was shown.
        .map(|b| b.replace("?saved=1", "").replace("&saved=1", ""));
    let mut resp = Redirect::to(&safe_next(back.as_deref())).into_response();
    resp.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_static(value));
    resp
}

pub async fn logout(State(state): State<SharedState>, user: AdminUser) -> Response {
    let _ = crate::api::session::end_session(&state, &user).await;
    let mut resp = Redirect::to("/login").into_response();
    resp.headers_mut().insert(header::SET_COOKIE, crate::api::session::session_cookie(&state, "", 0));
    resp
}

pub async fn import_page(user: AdminUser, headers: HeaderMap) -> PageResult {
    let lang = Lang::from_headers(&headers);
    let body = html! {
        p { (lang.t("Excel (.xlsx) または CSV (UTF-8 / Shift_JIS) の資産台帳を選んでください。内容を確認するまで何も書き込みません。",
                    "Choose the asset ledger as Excel (.xlsx) or CSV (UTF-8 / Shift_JIS). Nothing is written until you confirm.")) }
        p { input #file type="file" accept=".xlsx,.csv,.txt"; " " button #upload type="button" data-csrf=(user.csrf()) { (lang.t("読み込んで確認", "Read and preview")) } }
        progress #progress hidden max="1" {}
        div.error #upload-error hidden role="alert" {}
        script src="/console.js" {}
    };
    Ok(html_response(layout(lang, Some(&user), lang.t("台帳の取り込み", "Import the ledger"), body)))
}

pub async fn import_preview(State(state): State<SharedState>, user: AdminUser, headers: HeaderMap, Path(id): Path<String>) -> PageResult {
    let lang = Lang::from_headers(&headers);
    let p = crate::api::ledger::pending(&state, &user, &id).page(&user, lang)?;
    let plan = crate::api::ledger::plan_for(&state, &p).await.page(&user, lang)?;
    let targets = lanward_ledger::import::targets();
    let label = |t: &str| if lang == Lang::Ja { lanward_ledger::label(t).to_string() } else { t.to_string() };
    let problems: Vec<_> = plan.rows.iter().flat_map(|r| r.problems.iter()).collect();
    let body = html! {
        p { (lang.t("ファイル", "File")) ": " b { (p.file_name) } " (" (p.table.encoding) @if let Some(s) = &p.table.sheet { ", " (s) } ", " (p.table.rows.len()) (lang.t(" 行", " rows")) ")" }
        div.grid {
            div.card { div.muted { (lang.t("新規", "New")) } div.big #creates { (plan.creates) } }
            div.card { div.muted { (lang.t("更新", "Changed")) } div.big #updates { (plan.updates) } }
            div.card { div.muted { (lang.t("変更なし", "Unchanged")) } div.big #unchanged { (plan.unchanged) } }
            div.card { div.muted { (lang.t("エラーのある行", "Rows with errors")) } div.big.warn #invalid { (plan.invalid) } }
        }
        h2 { (lang.t("列の対応", "Column mapping")) }
        form #mapping method="post" action={ "/import/" (p.id) "/mapping" } {
            input type="hidden" name="csrf" value=(user.csrf());
            table { thead { tr { th { (lang.t("列", "Column")) } th { (lang.t("見出し", "Header")) } th { (lang.t("取り込み先", "Target")) } } } tbody {
                @for (i, h) in p.table.headers.iter().enumerate() {
                    @let letter = lanward_ledger::import::column_letter(i);
                    @let current = p.mapping.columns.get(&letter).cloned().flatten();
                    tr { td { (letter) } td { (h) } td { select name={ "col_" (letter) } {
                        option value="" { (lang.t("(取り込まない)", "(ignore)")) }
                        @for t in &targets { option value=(t) selected[current.as_deref() == Some(*t)] { (label(t)) } }
                    } } }
                }
            } }
            p { button type="submit" { (lang.t("対応を変えて確認し直す", "Preview again with this mapping")) } }
        }
        h2 { (lang.t("問題", "Problems")) " (" (problems.len()) ")" }
        @if problems.is_empty() { p.ok { (lang.t("問題はありません。", "No problems.")) } } @else {
            table #problems { thead { tr { th { (lang.t("行", "Row")) } th { (lang.t("列", "Column")) } th { (lang.t("重要度", "Severity")) } th { (lang.t("内容", "Problem")) } } } tbody {
                @for pr in problems.iter().take(2000) { tr {
                    td { (pr.line) } td { (pr.column.clone().unwrap_or_default()) }
                    td { @if pr.severity == Severity::Error { span.sev-error { (lang.t("エラー", "error")) } } @else { span.sev-warning { (lang.t("警告", "warning")) } } }
                    td { (if lang == Lang::Ja { &pr.message_ja } else { &pr.message_en }) }
                } }
            } }
        }
        h2 { (lang.t("変更内容", "Changes")) }
        table #changes { thead { tr { th { (lang.t("行", "Row")) } th { (lang.t("ホスト名", "Hostname")) } th { (lang.t("処理", "Action")) } th { (lang.t("内容", "Detail")) } } } tbody {
            @for r in plan.rows.iter().filter(|r| !matches!(r.action, Action::Unchanged { .. })).take(2000) { tr {
                td { (r.line) } td { (r.hostname) }
                @match &r.action {
                    Action::Create => { td { (lang.t("新規", "create")) } td { (r.kind.clone().unwrap_or_default()) " / " (r.site.clone().unwrap_or_default()) } },
                    Action::Update { asset_id, changes } => { td { (lang.t("更新", "update")) " #" (asset_id) } td { @for c in changes { (label(&c.field)) ": " (c.old.clone().unwrap_or_default()) " → " (c.new.clone().unwrap_or_default()) br; } } },
                    Action::Invalid { .. } => { td.sev-error { (lang.t("取り込まない", "not imported")) } td {} },
                    Action::Unchanged { .. } => { td {} td {} },
                }
            } }
        } }
        form #apply.spaced method="post" action={ "/import/" (p.id) "/apply" } {
            input type="hidden" name="csrf" value=(user.csrf());
            @if plan.invalid > 0 {
                p.warn { (lang.t("エラーのある行があるため取り込めません。ファイルを直して読み込み直すか、列の対応を変えてください。", "Rows have errors: fix the file or the mapping first.")) }
                button type="submit" disabled { (lang.t("取り込む", "Import")) }
            } @else {
                button #apply-button type="submit" { (lang.t("この内容で取り込む", "Import these changes")) }
            }
        }
    };
    Ok(html_response(layout(lang, Some(&user), lang.t("取り込みの確認", "Import preview"), body)))
}

pub async fn import_mapping(State(state): State<SharedState>, user: AdminUser, headers: HeaderMap, Path(id): Path<String>, Form(form): Form<BTreeMap<String, String>>) -> PageResult {
    let lang = Lang::from_headers(&headers);
    let columns = form
        .iter()
        .filter_map(|(k, v)| k.strip_prefix("col_").map(|letter| (letter.to_string(), (!v.is_empty()).then(|| v.clone()))))
        .collect();
    crate::api::ledger::remap(&state, &user, &id, Mapping { columns }).await.page(&user, lang)?;
    Ok(Redirect::to(&format!("/import/{id}")).into_response())
}

pub async fn import_apply(State(state): State<SharedState>, user: AdminUser, headers: HeaderMap, Path(id): Path<String>) -> PageResult {
    let lang = Lang::from_headers(&headers);
    let done = crate::api::ledger::apply(&state, &user, &id).await.page(&user, lang)?;
    let body = html! {
        div.notice #imported {
            (lang.t("取り込みました: ", "Imported: "))
            (lang.t("新規 ", "created ")) (done["created"]) ", " (lang.t("更新 ", "updated ")) (done["updated"]) ", " (lang.t("変更なし ", "unchanged ")) (done["unchanged"])
        }
        p { a href="/assets" { (lang.t("資産一覧へ", "To the assets")) } }
    };
    Ok(html_response(layout(lang, Some(&user), lang.t("取り込み完了", "Import done"), body)))
}

pub async fn export_page(user: AdminUser, headers: HeaderMap) -> PageResult {
    let lang = Lang::from_headers(&headers);
    let body = html! {
        ul {
            li { a #export-xlsx href="/api/v1/assets/export?format=xlsx" { (lang.t("Excel (.xlsx、見出し固定・フィルター付き)", "Excel (.xlsx, frozen header, filters)")) } }
            li { a href="/api/v1/assets/export?format=csv" { "CSV (UTF-8)" } }
            li { a href="/api/v1/assets/export?format=csv&encoding=sjis" { "CSV (Shift_JIS)" } }
            li { a href="/api/v1/assets/export?format=xlsx&lang=en" { (lang.t("Excel (英語の見出し)", "Excel (English headers)")) } }
        }
        p.muted { (lang.t("書き出しは監査ログに記録されます。", "Exports are recorded in the audit log.")) }
    };
    Ok(html_response(layout(lang, Some(&user), lang.t("台帳の書き出し", "Export the ledger"), body)))
}

pub async fn users(State(state): State<SharedState>, user: AdminUser, headers: HeaderMap, Query(flash): Query<BTreeMap<String, String>>) -> PageResult {
    let lang = Lang::from_headers(&headers);
    let store = state.store.clone();
    let users = super::blocking(&user, lang, move || store.users()).await?;
    let is_admin = user.user.role == "administrator";
    let body = html! {
        @if let Some(name) = flash.get("created") { div.notice { (lang.t("ユーザーを作成しました: ", "User created: ")) (name) } }
        table #users { thead { tr { th { (lang.t("ユーザー名", "User name")) } th { (lang.t("表示名", "Display name")) } th { (lang.t("役割", "Role")) } th { (lang.t("認証", "Sign-in")) } } } tbody {
            @for u in &users { tr { td { (u.username) } td { (u.display_name) } td { (super::role_label(lang, &u.role)) } td { (if u.source == "directory" { "Active Directory" } else { lang.t("パスワード", "password") }) } } }
        } }
        @if is_admin {
            h2 { (lang.t("ユーザーを追加", "Add a user")) }
            form #new-user.form480 method="post" action="/users" {
                input type="hidden" name="csrf" value=(user.csrf());
                table.fields { tbody {
                    tr { th { (lang.t("ユーザー名", "User name")) } td { input type="text" name="username" required; } }
                    tr { th { (lang.t("表示名", "Display name")) } td { input type="text" name="display_name"; } }
                    tr { th { (lang.t("役割", "Role")) } td { select name="role" { @for r in crate::auth::ROLES { option value=(r) { (super::role_label(lang, r)) } } } } }
                    tr { th { (lang.t("パスワード (12 文字以上)", "Password (12+ characters)")) } td { input type="password" name="password" minlength="12" required autocomplete="new-password"; } }
                } }
                p { button type="submit" { (lang.t("追加", "Add")) } }
            }
        }
    };
    Ok(html_response(layout(lang, Some(&user), lang.t("ユーザー", "Users"), body)))
}

#[derive(Deserialize)]
pub struct UserForm {
    username: String,
    #[serde(default)]
    display_name: String,
    role: String,
    password: String,
}

pub async fn create_user(State(state): State<SharedState>, user: AdminUser, headers: HeaderMap, Form(f): Form<UserForm>) -> PageResult {
    let lang = Lang::from_headers(&headers);
    let display = Some(f.display_name.trim().to_string()).filter(|d| !d.is_empty());
    crate::api::admin::create_user_for(&state, &user, &f.username, &f.role, display, &f.password).await.page(&user, lang)?;
    Ok(Redirect::to(&format!("/users?created={}", super::url_encode(f.username.trim()))).into_response())
}

pub async fn tokens(State(state): State<SharedState>, user: AdminUser, headers: HeaderMap) -> PageResult {
    let lang = Lang::from_headers(&headers);
    tokens_page(&state, &user, lang, None).await
}

async fn tokens_page(state: &SharedState, user: &AdminUser, lang: Lang, created: Option<String>) -> PageResult {
    let (store, store2) = (state.store.clone(), state.store.clone());
    let (tokens, sites) = super::blocking(&user, lang, move || -> lanward_store::Result<_> { Ok((store.enrollment_tokens()?, store2.sites()?)) }).await?;
    let now = lanward_store::now_ms();
    let body = html! {
        @if let Some(t) = &created {
            div.notice #new-token {
                p { (lang.t("登録トークンを作成しました。この画面を閉じると二度と表示されません。", "Enrolment token created. It is shown only now.")) }
                p { code { (t) } }
            }
        }
        table #tokens { thead { tr { th { "ID" } th { (lang.t("拠点", "Site")) } th { (lang.t("有効期限", "Expires")) } th { (lang.t("使用", "Uses")) } th { (lang.t("作成者", "Created by")) } } } tbody {
            @for t in &tokens { tr {
                td { code { (t.id) } } td { (t.site) }
                td { (jst_minutes(t.expires_at_ms)) @if t.expires_at_ms <= now { " " span.warn { (lang.t("期限切れ", "expired")) } } }
                td { (t.uses) " / " (t.max_uses) } td { (t.created_by) }
            } }
        } }
        h2 { (lang.t("トークンを作成", "Create a token")) }
        form #new-token-form method="post" action="/tokens" {
            input type="hidden" name="csrf" value=(user.csrf());
            table.fields.form480 { tbody {
                tr { th { (lang.t("拠点", "Site")) } td { select name="site" { @for s in &sites { option value=(s.code) { (s.code) " " (s.name) } } } } }
                tr { th { (lang.t("有効日数", "Valid for (days)")) } td { input type="number" name="days" min="1" max="366" value="7"; } }
                tr { th { (lang.t("使用回数の上限", "Maximum uses")) } td { input type="number" name="max_uses" min="1" value="100"; } }
            } }
            p { button type="submit" { (lang.t("作成", "Create")) } }
        }
    };
    Ok(html_response(layout(lang, Some(user), lang.t("登録トークン", "Enrolment tokens"), body)))
}

#[derive(Deserialize)]
pub struct TokenForm {
    site: String,
    days: u64,
    max_uses: u32,
}

pub async fn create_token(State(state): State<SharedState>, user: AdminUser, headers: HeaderMap, Form(f): Form<TokenForm>) -> PageResult {
    let lang = Lang::from_headers(&headers);
    let created = crate::api::admin::create_token_for(&state, &user, &f.site, f.days.saturating_mul(86_400), f.max_uses).await.page(&user, lang)?;
    let token = created["token"].as_str().map(String::from);
    tokens_page(&state, &user, lang, token).await
}

#[derive(Deserialize)]
pub struct AuditParams {
    limit: Option<u32>,
}

pub async fn audit(State(state): State<SharedState>, user: AdminUser, headers: HeaderMap, Query(p): Query<AuditParams>) -> PageResult {
    let lang = Lang::from_headers(&headers);
    let (entries, intact) = crate::api::admin::audit_entries(&state, p.limit.unwrap_or(300)).await.page(&user, lang)?;
    let body = html! {
        p #chain {
            @if intact { span.ok { (lang.t("ハッシュチェーンは正常です (改ざんは検出されていません)。", "The hash chain is intact.")) } }
            @else { span.warn { (lang.t("ハッシュチェーンが壊れています: 記録が改ざんまたは削除されています。", "The hash chain is broken: entries were edited or removed.")) } }
            " " a href="/audit.csv" { (lang.t("CSV で書き出す", "Export as CSV")) }
        }
        table #audit { thead { tr { th { "#" } th { (lang.t("日時", "When")) } th { (lang.t("実行者", "Who")) } th { (lang.t("操作", "Action")) } th { (lang.t("対象", "Target")) } th { (lang.t("詳細", "Detail")) } th { (lang.t("接続元", "From")) } } } tbody {
            @for e in entries.iter().rev() { tr { td { (e.seq) } td.nowrap { (jst_minutes(e.at_ms)) } td { (e.actor) } td { (e.action) } td { (e.target) } td { (e.detail) } td { (e.source) } } }
        } }
    };
    Ok(html_response(layout(lang, Some(&user), lang.t("監査ログ", "Audit log"), body)))
}

pub async fn audit_csv(State(state): State<SharedState>, user: AdminUser, headers: HeaderMap) -> PageResult {
    let lang = Lang::from_headers(&headers);
    let (entries, _) = crate::api::admin::audit_entries(&state, 1_000_000).await.page(&user, lang)?;
    let mut out = String::from("\u{feff}seq,at,actor,action,target,detail,source,prev_hash,hash\r\n");
    for e in &entries {
        let cols = [e.seq.to_string(), crate::api::view::rfc3339(e.at_ms), e.actor.clone(), e.action.clone(), e.target.clone(), e.detail.clone(), e.source.clone(), e.prev_hash.clone(), e.hash.clone()];
        out.push_str(&cols.iter().map(|c| crate::api::view::csv_field(c)).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
    }
    crate::api::admin::audit(&state, &user, "audit.export", "audit".into(), format!("entries={}", entries.len())).await.page(&user, lang)?;
    Ok((
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()), (header::CONTENT_DISPOSITION, "attachment; filename=\"lanward-audit.csv\"".to_string())],
        out,
    )
        .into_response())
}
