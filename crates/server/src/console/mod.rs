//! The web console: server-rendered HTML (maud escapes every value), in
//! Japanese by default and English by a switch (`lang` cookie), sized for a
//! 1366×768 office screen. Pages call the same store and checks as the
//! API. Access rules are declared with each route in [`CONSOLE_ROUTES`] and
//! applied by `api::enforce`, which also checks the `csrf` field of every
//! form a signed-in person posts.

mod assets;
mod deploy;
mod logs;
mod pages;

use crate::api::{routes, Access, Route, ADMINS, ANY_ROLE, AUDITORS, DISTRIBUTORS, LEDGER_WRITERS, LOG_READERS};
use crate::auth::AdminUser;
use crate::error::AppError;
use crate::SharedState;
use axum::extract::Request;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Router;
use maud::{html, Markup, PreEscaped, DOCTYPE};

routes! { CONSOLE_ROUTES, console_routes;
    get "/console.css" => stylesheet, Access::Public;
    get "/console.js" => script, Access::Public;
    get "/login" => pages::login_page, Access::Public;
    post "/login" => pages::login_submit, Access::Public;
    get "/lang" => pages::switch_lang, Access::Public;
    post "/logout" => pages::logout, Access::Roles(ANY_ROLE);
    get "/" => assets::dashboard, Access::Roles(ANY_ROLE);
    get "/assets" => assets::list, Access::Roles(ANY_ROLE);
    get "/assets/new" => assets::new_form, Access::Roles(LEDGER_WRITERS);
    post "/assets/new" => assets::create, Access::Roles(LEDGER_WRITERS);
    get "/assets/{id}" => assets::page, Access::Roles(ANY_ROLE);
    post "/assets/{id}" => assets::update, Access::Roles(LEDGER_WRITERS);
    get "/unknown" => assets::unknown_devices, Access::Roles(ANY_ROLE);
    post "/unknown/{ip}/dismiss" => assets::dismiss_unknown, Access::Roles(LEDGER_WRITERS);
    get "/logs" => logs::search, Access::Roles(LOG_READERS);
    get "/alerts" => logs::alerts, Access::Roles(LOG_READERS);
    post "/alerts/rules" => logs::create_rule, Access::Roles(LEDGER_WRITERS);
    post "/alerts/rules/{id}/delete" => logs::delete_rule, Access::Roles(LEDGER_WRITERS);
    post "/alerts/{id}/ack" => logs::ack, Access::Roles(LOG_READERS);
    get "/deployments" => deploy::list, Access::Roles(ANY_ROLE);
    get "/deployments/new" => deploy::new_form, Access::Roles(DISTRIBUTORS);
    post "/deployments/new" => deploy::create, Access::Roles(DISTRIBUTORS);
    get "/deployments/{id}" => deploy::page, Access::Roles(ANY_ROLE);
    post "/deployments/{id}/pause" => deploy::pause, Access::Roles(DISTRIBUTORS);
    post "/deployments/{id}/resume" => deploy::resume, Access::Roles(DISTRIBUTORS);
    post "/deployments/{id}/cancel" => deploy::cancel, Access::Roles(DISTRIBUTORS);
    post "/deployments/{id}/retry" => deploy::retry, Access::Roles(DISTRIBUTORS);
    get "/packages" => deploy::packages, Access::Roles(ANY_ROLE);
    post "/packages" => deploy::upload, Access::Roles(DISTRIBUTORS);
    get "/import" => pages::import_page, Access::Roles(LEDGER_WRITERS);
    get "/import/{id}" => pages::import_preview, Access::Roles(LEDGER_WRITERS);
    post "/import/{id}/mapping" => pages::import_mapping, Access::Roles(LEDGER_WRITERS);
    post "/import/{id}/apply" => pages::import_apply, Access::Roles(LEDGER_WRITERS);
    get "/export" => pages::export_page, Access::Roles(ANY_ROLE);
    get "/users" => pages::users, Access::Roles(AUDITORS);
    post "/users" => pages::create_user, Access::Roles(ADMINS);
    get "/tokens" => pages::tokens, Access::Roles(ADMINS);
    post "/tokens" => pages::create_token, Access::Roles(ADMINS);
    get "/audit" => pages::audit, Access::Roles(AUDITORS);
    get "/audit.csv" => pages::audit_csv, Access::Roles(AUDITORS);
}

pub fn routes(router: Router<SharedState>) -> Router<SharedState> {
    console_routes(router)
}

/// The console's language.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Ja,
    En,
}

impl Lang {
    pub fn from_headers(h: &HeaderMap) -> Lang {
        let en = h
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .any(|c| c.trim() == "lang=en");
        if en {
            Lang::En
        } else {
            Lang::Ja
        }
    }

    /// The text in this language.
    pub fn t<'a>(self, ja: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Ja => ja,
            Lang::En => en,
        }
    }
}

/// Sends someone who is not signed in to the login page, and back after.
pub fn to_login(uri: &str) -> Response {
    let next: String = url_encode(uri);
    Redirect::to(&format!("/login?next={next}")).into_response()
}

pub fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A refusal or failure shown as a page.
pub fn error_page(lang: Lang, user: &AdminUser, e: AppError) -> Response {
    let body = html! {
        div.error role="alert" { h2 { (lang.t("エラー", "Error")) } p { (if lang == Lang::Ja { &e.ja } else { &e.en }) } }
        p { a href="/" { (lang.t("ダッシュボードへ戻る", "Back to the dashboard")) } }
    };
    (e.status, html_response(layout(lang, Some(user), lang.t("エラー", "Error"), body))).into_response()
}

/// Renders an error of a page handler in the console's layout.
pub struct PageError {
    pub err: AppError,
    pub user: Option<AdminUser>,
    pub lang: Lang,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let lang = self.lang;
        let body = html! {
            div.error role="alert" { h2 { (lang.t("エラー", "Error")) } p { (if lang == Lang::Ja { &self.err.ja } else { &self.err.en }) } }
            p { a href="javascript:history.back()" { (lang.t("前の画面へ戻る", "Go back")) } }
        };
        (self.err.status, html_response(layout(lang, self.user.as_ref(), lang.t("エラー", "Error"), body))).into_response()
    }
}

pub type PageResult = Result<Response, PageError>;

pub trait OrPage<T> {
    fn page(self, user: &AdminUser, lang: Lang) -> Result<T, PageError>;
}

impl<T> OrPage<T> for Result<T, AppError> {
    fn page(self, user: &AdminUser, lang: Lang) -> Result<T, PageError> {
        self.map_err(|err| PageError { err, user: Some(user.clone()), lang })
    }
}

/// Runs a store call on a blocking thread (the drivers block); a failure
/// becomes the console's error page.
pub async fn blocking<T: Send + 'static>(user: &AdminUser, lang: Lang, f: impl FnOnce() -> lanward_store::Result<T> + Send + 'static) -> Result<T, PageError> {
    let result: Result<T, AppError> = match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.into()),
        Err(e) => Err(e.into()),
    };
    result.page(user, lang)
}

/// Checks the `csrf` field of a console form against the session's token.
/// The body is read (forms are small; 1 MB at most) and put back for the
/// handler. A multipart form (the package upload, up to gigabytes) is not
/// read here: it carries the token in its action URL (`?csrf=`) instead,
/// and nothing else is accepted for it.
pub async fn check_form_csrf(req: Request, expected: &str) -> (bool, Option<Request>) {
    let multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("multipart/"));
    if multipart {
        let given = req
            .uri()
            .query()
            .and_then(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok())
            .and_then(|pairs| pairs.into_iter().find(|(k, _)| k == "csrf").map(|(_, v)| v))
            .unwrap_or_default();
        return (crate::auth::same_secret(&given, expected), Some(req));
    }
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 1 << 20).await else {
        return (false, None);
    };
    let given = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes)
        .ok()
        .and_then(|pairs| pairs.into_iter().find(|(k, _)| k == "csrf").map(|(_, v)| v))
        .unwrap_or_default();
    let ok = crate::auth::same_secret(&given, expected);
    (ok, Some(Request::from_parts(parts, axum::body::Body::from(bytes))))
}

pub(crate) fn can(user: &AdminUser, roles: &[&str]) -> bool {
    roles.contains(&user.user.role.as_str())
}

pub fn role_label(lang: Lang, role: &str) -> &'static str {
    match (role, lang) {
        ("administrator", Lang::Ja) => "管理者",
        ("operator", Lang::Ja) => "運用担当",
        ("helpdesk", Lang::Ja) => "ヘルプデスク",
        ("approver", Lang::Ja) => "承認者",
        ("auditor", Lang::Ja) => "監査担当",
        ("administrator", Lang::En) => "administrator",
        ("operator", Lang::En) => "operator",
        ("helpdesk", Lang::En) => "helpdesk",
        ("approver", Lang::En) => "approver",
        ("auditor", Lang::En) => "auditor",
        _ => "?",
    }
}

/// The page frame: navigation for what this person's role may open.
pub fn layout(lang: Lang, user: Option<&AdminUser>, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(lang.t("ja", "en")) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — lanward" }
                link rel="stylesheet" href="/console.css";
            }
            body {
                header {
                    a.brand href="/" { "lanward" }
                    @if let Some(u) = user {
                        nav {
                            a href="/" { (lang.t("ダッシュボード", "Dashboard")) }
                            a href="/assets" { (lang.t("資産", "Assets")) }
                            a href="/unknown" { (lang.t("未登録機器", "Unknown devices")) }
                            @if can(u, LOG_READERS) { a href="/logs" { (lang.t("操作ログ", "Operation logs")) } a href="/alerts" { (lang.t("警告", "Alerts")) } }
                            a href="/deployments" { (lang.t("配布", "Deployments")) }
                            a href="/packages" { (lang.t("パッケージ", "Packages")) }
                            @if can(u, LEDGER_WRITERS) { a href="/import" { (lang.t("取り込み", "Import")) } }
                            a href="/export" { (lang.t("書き出し", "Export")) }
                            @if can(u, AUDITORS) { a href="/users" { (lang.t("ユーザー", "Users")) } }
                            @if can(u, ADMINS) { a href="/tokens" { (lang.t("登録トークン", "Enrolment tokens")) } }
                            @if can(u, AUDITORS) { a href="/audit" { (lang.t("監査ログ", "Audit log")) } }
                        }
                        div.me {
                            span #me { (u.user.display_name) " (" (role_label(lang, &u.user.role)) ")" }
                            form method="post" action="/logout" {
                                input type="hidden" name="csrf" value=(u.csrf());
                                button.link type="submit" { (lang.t("ログアウト", "Sign out")) }
                            }
                        }
                    }
                    a.lang href={ "/lang?to=" (lang.t("en", "ja")) } { (lang.t("English", "日本語")) }
                }
                main { h1 { (title) } (body) }
            }
        }
    }
}

/// Every page: no caching of personal data, no framing (clickjacking), and
/// scripts and styles only from this server (no inline script can run even
/// if some value escaped its escaping).
pub fn html_response(markup: Markup) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::CONTENT_SECURITY_POLICY, "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "same-origin"),
        ],
        markup.into_string(),
    )
        .into_response()
}

/// A horizontal bar chart (SVG) of labelled counts.
pub fn bar_chart(rows: &[(String, u64)], width: u32) -> Markup {
    let max = rows.iter().map(|r| r.1).max().unwrap_or(1).max(1);
    let row_h = 22u32;
    // Wide charts (OS builds) have long labels.
    let (label_w, max_chars) = if width > 600 { (420u32, 60usize) } else { (260u32, 34usize) };
    let bar_w = width.saturating_sub(label_w + 60);
    let height = row_h * rows.len() as u32 + 4;
    html! {
        svg.chart width=(width) height=(height) viewBox={ "0 0 " (width) " " (height) } role="img" {
            @for (i, (label, n)) in rows.iter().enumerate() {
                @let y = i as u32 * row_h + 2;
                @let w = ((*n as f64 / max as f64) * bar_w as f64).round().max(1.0) as u32;
                @let short: String = if label.chars().count() > max_chars { format!("{}…", label.chars().take(max_chars - 1).collect::<String>()) } else { label.clone() };
                text x=(label_w - 6) y=(y + 15) text-anchor="end" { title { (label) } (short) }
                rect x=(label_w) y=(y + 3) width=(w) height=(row_h - 6) rx="2" {}
                text x=(label_w + w + 6) y=(y + 15) { (n) }
            }
        }
    }
}

async fn script() -> Response {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "max-age=3600")], SCRIPT).into_response()
}

/// The console's only script: the import page sends the chosen file as the
/// request body (no multipart parser on the server) and opens the preview.
const SCRIPT: &str = r#"
const upload = document.getElementById('upload');
if (upload) upload.onclick = async () => {
  const f = document.getElementById('file').files[0];
  const err = document.getElementById('upload-error');
  const progress = document.getElementById('progress');
  if (!f) return;
  progress.hidden = false;
  err.hidden = true;
  try {
    const r = await fetch('/api/v1/imports?filename=' + encodeURIComponent(f.name), { method: 'POST', headers: { 'X-CSRF-Token': upload.dataset.csrf }, body: f });
    const j = await r.json();
    if (r.ok) { location.href = '/import/' + j.id; return; }
    err.textContent = j.message; err.hidden = false;
  } catch (e) { err.textContent = String(e); err.hidden = false; }
  progress.hidden = true;
};
"#;

async fn stylesheet() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "max-age=3600")], STYLE).into_response()
}

pub fn status_response(status: StatusCode, markup: Markup) -> Response {
    (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], markup.into_string()).into_response()
}

pub fn raw(s: &str) -> PreEscaped<&str> {
    PreEscaped(s)
}

const STYLE: &str = r#"
*{box-sizing:border-box}
body{margin:0;font-family:"Noto Sans CJK JP","Yu Gothic UI","Meiryo",sans-serif;font-size:14px;color:#1d2733;background:#f4f6f8}
header{display:flex;align-items:center;gap:16px;background:#12375a;color:#fff;padding:6px 16px;flex-wrap:wrap}
header a{color:#fff;text-decoration:none}
header .brand{font-weight:700;font-size:16px;margin-right:8px}
header nav{display:flex;gap:12px;flex-wrap:wrap}
header nav a:hover{text-decoration:underline}
header .me{margin-left:auto;display:flex;gap:8px;align-items:center}
header .lang{font-size:12px;opacity:.85}
button.link{background:none;border:0;color:#fff;cursor:pointer;text-decoration:underline;font:inherit;padding:0}
main{padding:12px 20px;max-width:1360px}
h1{font-size:20px;margin:6px 0 12px}
h2{font-size:16px;margin:18px 0 8px}
table{border-collapse:collapse;background:#fff;width:100%}
th,td{border:1px solid #d5dce3;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#e8eef4;font-weight:600;white-space:nowrap}
th a{color:inherit}
tr:nth-child(even) td{background:#fafbfc}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(300px,1fr));gap:16px;margin-bottom:16px}
.card{background:#fff;border:1px solid #d5dce3;border-radius:4px;padding:10px 14px;min-width:0;overflow:hidden}
.card.wide{grid-column:1/-1}
svg.chart{max-width:100%;height:auto}
.warn a{color:inherit}
td.nowrap{white-space:nowrap}
.big{font-size:28px;font-weight:700}
.warn{color:#a33}
.ok{color:#176b3a}
.error{background:#fde8e8;border:1px solid #e3a1a1;padding:8px 12px;border-radius:4px}
.notice{background:#e7f4ea;border:1px solid #9fd1ad;padding:8px 12px;border-radius:4px;margin-bottom:10px}
.en{color:#666;font-size:12px}
form.filters{display:flex;flex-wrap:wrap;gap:8px;align-items:end;margin-bottom:10px}
form.filters label{display:flex;flex-direction:column;font-size:12px}
input,select,textarea{font:inherit;padding:3px 5px;border:1px solid #b7c2cc;border-radius:3px}
button,.button{font:inherit;padding:4px 12px;border:1px solid #12375a;background:#12375a;color:#fff;border-radius:3px;cursor:pointer;text-decoration:none;display:inline-block}
.fields th{width:170px}
.fields input[type=text],.fields select,.fields textarea{width:100%}
.pager{margin:8px 0;display:flex;gap:12px;align-items:center}
svg.chart rect{fill:#3a78b5}
svg.chart text{font-size:12px;fill:#1d2733}
.muted{color:#777}
.sev-error{color:#a33;font-weight:600}
.sev-warning{color:#9a6a00}
code{background:#eef1f4;padding:1px 4px;border-radius:3px}
input.narrow{width:70px}
form.inline{display:inline}
.narrow-form{max-width:360px}
.form480{max-width:480px}
.spaced{margin-top:12px}
svg.progress{max-width:100%;height:auto;vertical-align:middle}
svg.progress rect.bg{fill:#e3e8ee}
svg.progress rect.succeeded{fill:#2e8b57}
svg.progress rect.failed{fill:#c0392b}
svg.progress rect.missed{fill:#b9770e}
svg.progress rect.active{fill:#3a78b5}
svg.progress rect.excluded{fill:#aab4be}
.legend{font-size:12px;color:#444}
.legend .k{display:inline-block;width:10px;height:10px;margin:0 3px 0 8px;border-radius:2px}
.k.succeeded{background:#2e8b57}.k.failed{background:#c0392b}.k.missed{background:#b9770e}.k.active{background:#3a78b5}.k.excluded{background:#aab4be}.k.not-started{background:#e3e8ee;border:1px solid #b7c2cc}
.actions{display:flex;gap:8px;flex-wrap:wrap;align-items:center;margin:8px 0}
button.danger{background:#a33;border-color:#a33}
button.secondary,.button.secondary{background:#fff;color:#12375a}
.status-active{color:#176b3a;font-weight:600}
.status-paused{color:#9a6a00;font-weight:600}
.status-cancelled{color:#777;font-weight:600}
details pre{max-height:240px;overflow:auto;background:#1d2733;color:#e8eef4;padding:6px;font-size:12px;white-space:pre-wrap;max-width:480px}
td.num{text-align:right;white-space:nowrap}
"#;
