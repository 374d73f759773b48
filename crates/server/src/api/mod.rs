//! HTTP routes. Agent routes authenticate by request signature, admin
//! routes by bearer token; `/api/v1/health`, `/api/v1/openapi.json` and the
//! enrolment routes need neither.

pub mod admin;
pub mod agent;
pub mod deploy;
pub mod ledger;
pub mod openapi;
pub mod oplog;
pub mod session;
pub mod view;

use crate::auth::{authenticate, AuthFailure};
use crate::error::AppError;
use crate::SharedState;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use lanward_store::NewAuditEntry;
use std::sync::Arc;

/// Who may call a route. Every route has exactly one rule, declared beside
/// it in [`routes!`]; the middleware [`enforce`] applies it before any
/// handler runs, and a route without a rule is refused (fail closed).
#[derive(Debug, Clone, Copy)]
pub enum Access {
    /// No authentication: health, OpenAPI, enrolment, login.
    Public,
    /// Signed agent requests; the handler checks the signature.
    Agent,
    /// People with one of these roles (API token or console session).
    Roles(&'static [&'static str]),
}

/// Everyone signed in: all roles read the ledger.
pub const ANY_ROLE: &[&str] = crate::auth::ROLES;
/// Keeping the ledger.
pub const LEDGER_WRITERS: &[&str] = &["administrator", "operator"];
pub const ADMINS: &[&str] = &["administrator"];
/// Operation logs are personal information: only these roles search them.
pub const LOG_READERS: &[&str] = &["administrator", "operator", "auditor"];
/// Adding packages and running deployments.
pub const DISTRIBUTORS: &[&str] = &["administrator", "operator"];
/// The audit log and the list of users.
pub const AUDITORS: &[&str] = &["administrator", "auditor"];

#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
}

/// Declares routes with their access rule: builds the router and the
/// [`ROUTES`] table the middleware and the role-walker test read.
macro_rules! routes {
    ($name:ident, $build:ident; $( $method:ident $path:literal => $handler:expr, $access:expr; )*) => {
        pub const $name: &[Route] = &[ $( Route { method: stringify!($method), path: $path, access: $access } ),* ];
        fn $build(router: Router<SharedState>) -> Router<SharedState> {
            router $( .route($path, axum::routing::$method($handler)) )*
        }
    };
}
pub(crate) use routes;

routes! { API_ROUTES, api_routes;
    get "/api/v1/health" => health, Access::Public;
    get "/api/v1/openapi.json" => openapi::document, Access::Public;
    get "/api/v1/enroll/ca" => agent::ca_certificate, Access::Public;
    post "/api/v1/enroll" => agent::enroll, Access::Public;
    post "/api/v1/agent/checkin" => agent::checkin, Access::Agent;
    post "/api/v1/agent/events" => oplog::ingest, Access::Agent;
    post "/api/v1/agent/deployments" => deploy::agent_assignments, Access::Agent;
    post "/api/v1/agent/deployments/report" => deploy::agent_report, Access::Agent;
    get "/api/v1/agent/chunks/{id}" => deploy::agent_chunk, Access::Agent;
    get "/api/v1/packages" => deploy::list_packages, Access::Roles(ANY_ROLE);
    post "/api/v1/packages" => deploy::add_package, Access::Roles(DISTRIBUTORS);
    get "/api/v1/packages/{id}/manifest" => deploy::package_manifest, Access::Roles(DISTRIBUTORS);
    post "/api/v1/packages/{id}/signature" => deploy::package_signature, Access::Roles(ADMINS);
    get "/api/v1/deployments" => deploy::list_deployments, Access::Roles(ANY_ROLE);
    post "/api/v1/deployments" => deploy::create_deployment, Access::Roles(DISTRIBUTORS);
    get "/api/v1/deployments/{id}" => deploy::get_deployment, Access::Roles(ANY_ROLE);
    post "/api/v1/deployments/{id}/pause" => deploy::pause_deployment, Access::Roles(DISTRIBUTORS);
    post "/api/v1/deployments/{id}/resume" => deploy::resume_deployment, Access::Roles(DISTRIBUTORS);
    post "/api/v1/deployments/{id}/cancel" => deploy::cancel_deployment, Access::Roles(DISTRIBUTORS);
    post "/api/v1/deployments/{id}/retry" => deploy::retry_deployment, Access::Roles(DISTRIBUTORS);
    get "/api/v1/office/progress" => deploy::office_progress, Access::Roles(ANY_ROLE);
    get "/api/v1/logs" => oplog::search, Access::Roles(LOG_READERS);
    get "/api/v1/logs/export" => oplog::export, Access::Roles(LOG_READERS);
    get "/api/v1/logs/counts" => oplog::counts, Access::Roles(LOG_READERS);
    get "/api/v1/logs/partitions" => oplog::partitions, Access::Roles(LOG_READERS);
    get "/api/v1/alert-rules" => oplog::list_rules, Access::Roles(LOG_READERS);
    post "/api/v1/alert-rules" => oplog::create_rule, Access::Roles(LEDGER_WRITERS);
    post "/api/v1/alert-rules/{id}/delete" => oplog::delete_rule, Access::Roles(LEDGER_WRITERS);
    get "/api/v1/alerts" => oplog::list_alerts, Access::Roles(LOG_READERS);
    post "/api/v1/alerts/{id}/ack" => oplog::ack_alert, Access::Roles(LOG_READERS);
    post "/api/v1/session" => session::login, Access::Public;
    delete "/api/v1/session" => session::logout, Access::Roles(ANY_ROLE);
    get "/api/v1/session" => session::whoami, Access::Roles(ANY_ROLE);
    get "/api/v1/api-tokens" => session::list_api_tokens, Access::Roles(ANY_ROLE);
    post "/api/v1/api-tokens" => session::create_api_token, Access::Roles(ANY_ROLE);
    post "/api/v1/api-tokens/{id}/revoke" => session::revoke_api_token, Access::Roles(ANY_ROLE);
    get "/api/v1/summary" => ledger::summary, Access::Roles(ANY_ROLE);
    get "/api/v1/assets" => admin::list_assets, Access::Roles(ANY_ROLE);
    post "/api/v1/assets" => ledger::create_asset, Access::Roles(LEDGER_WRITERS);
    get "/api/v1/assets/export" => ledger::export_assets, Access::Roles(ANY_ROLE);
    get "/api/v1/assets/{id}" => admin::get_asset, Access::Roles(ANY_ROLE);
    patch "/api/v1/assets/{id}" => admin::update_asset, Access::Roles(LEDGER_WRITERS);
    get "/api/v1/assets/{id}/history" => admin::asset_history, Access::Roles(ANY_ROLE);
    post "/api/v1/imports" => ledger::import_preview, Access::Roles(LEDGER_WRITERS);
    get "/api/v1/imports/{id}" => ledger::import_show, Access::Roles(LEDGER_WRITERS);
    post "/api/v1/imports/{id}/mapping" => ledger::import_mapping, Access::Roles(LEDGER_WRITERS);
    post "/api/v1/imports/{id}/apply" => ledger::import_apply, Access::Roles(LEDGER_WRITERS);
    get "/api/v1/unknown-devices" => ledger::unknown_devices, Access::Roles(ANY_ROLE);
    post "/api/v1/unknown-devices/{ip}/dismiss" => ledger::dismiss_unknown_device, Access::Roles(LEDGER_WRITERS);
    get "/api/v1/sites" => ledger::list_sites, Access::Roles(ANY_ROLE);
    post "/api/v1/sites" => ledger::upsert_site, Access::Roles(ADMINS);
    get "/api/v1/enrollment-tokens" => admin::list_tokens, Access::Roles(ADMINS);
    post "/api/v1/enrollment-tokens" => admin::create_token, Access::Roles(ADMINS);
    get "/api/v1/agents" => admin::list_agents, Access::Roles(ANY_ROLE);
    post "/api/v1/agents/{id}/revoke" => admin::revoke_agent, Access::Roles(ADMINS);
    get "/api/v1/agents/{id}/gaps" => admin::agent_gaps, Access::Roles(ANY_ROLE);
    get "/api/v1/audit" => admin::audit_log, Access::Roles(AUDITORS);
    get "/api/v1/users" => admin::list_users, Access::Roles(AUDITORS);
    post "/api/v1/users" => admin::create_user, Access::Roles(ADMINS);
}

/// Every route of the server (API and console).
pub fn all_routes() -> impl Iterator<Item = &'static Route> {
    API_ROUTES.iter().chain(crate::console::CONSOLE_ROUTES.iter())
}

fn rule_for(method: &Method, path: &str) -> Option<Access> {
    // axum answers HEAD with the GET handler; so does the rule.
    let method = if method == Method::HEAD { "get" } else { method.as_str() };
    all_routes().find(|r| r.path == path && r.method.eq_ignore_ascii_case(method)).map(|r| r.access)
}

pub fn router(state: SharedState) -> Router {
    let router = crate::console::routes(api_routes(Router::new()));
    router
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), enforce))
        .layer(DefaultBodyLimit::max(lanward_proto::MAX_AGENT_BODY_BYTES))
        .with_state(state)
}

pub async fn audit(state: &SharedState, actor: String, action: &str, target: String, detail: String, source: String) -> Result<(), AppError> {
    let store = state.store.clone();
    let entry = NewAuditEntry { actor, action: action.into(), target, detail, source };
    tokio::task::spawn_blocking(move || store.append_audit(&entry)).await??;
    Ok(())
}

fn is_console(path: &str) -> bool {
    !path.starts_with("/api/")
}

/// Applies the route's access rule: authenticates the person, checks the
/// role and, for state-changing requests made with a session cookie, the
/// CSRF token (header `X-CSRF-Token` for the API, form field `csrf` for
/// console forms). Refusals of presented credentials are audited.
pub async fn enforce(State(state): State<SharedState>, req: Request, next: Next) -> Response {
    let (resp, refused) = decide(state, req, next).await;
    if refused {
        // The request's body was not read: the connection cannot carry
        // another request, and the client must know.
        let mut resp = resp;
        resp.headers_mut().insert(axum::http::header::CONNECTION, axum::http::HeaderValue::from_static("close"));
        return resp;
    }
    resp
}

async fn decide(state: SharedState, req: Request, next: Next) -> (Response, bool) {
    let method = req.method().clone();
    let path = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_string()).unwrap_or_default();
    // The audit log names the path; the login page returns to path and query.
    let uri = req.uri().path().to_string();
    let back = req.uri().path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| uri.clone());
    let lang = crate::console::Lang::from_headers(req.headers());
    let Some(access) = rule_for(&method, &path) else {
        return (crate::auth::forbidden_no_rule().into_response(), true);
    };
    let roles = match access {
        Access::Public | Access::Agent => return (next.run(req).await, false),
        Access::Roles(roles) => roles,
    };
    let source = crate::auth::peer(req.extensions());
    let caller = match authenticate(&state, req.headers(), &source).await {
        Ok(c) => c,
        Err(AuthFailure::Missing) if is_console(&path) => return (crate::console::to_login(&back), true),
        Err(AuthFailure::Missing) => {
            return (AppError::unauthorized("login_required", "ログインまたは API トークンが必要です", "sign-in or API token required").into_response(), true)
        }
        Err(AuthFailure::Invalid(e)) => {
            let _ = audit(&state, "anonymous".into(), "auth.rejected", format!("{method} {uri}"), e.code.to_string(), source).await;
            if is_console(&path) {
                return (crate::console::to_login(&back), true);
            }
            return (e.into_response(), true);
        }
        Err(AuthFailure::Unavailable(e)) => return (e.into_response(), true),
    };
    if !roles.contains(&caller.user.role.as_str()) {
        let _ = audit(&state, caller.actor(), "access.denied", format!("{method} {uri}"), format!("role={}", caller.user.role), source).await;
        let e = AppError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("この操作には {} の権限が必要です", roles.join(" / ")),
            format!("this needs role {}", roles.join(" or ")),
        );
        if is_console(&path) {
            return (crate::console::error_page(lang, &caller, e), true);
        }
        return (e.into_response(), true);
    }
    let unsafe_method = !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS);
    let mut req = req;
    if let (true, crate::auth::Via::Session { csrf, .. }) = (unsafe_method, &caller.via) {
        let (ok, rebuilt) = if is_console(&path) {
            crate::console::check_form_csrf(req, csrf).await
        } else {
            let given = req.headers().get("x-csrf-token").and_then(|v| v.to_str().ok()).unwrap_or("");
            (crate::auth::same_secret(given, csrf), Some(req))
        };
        let Some(rebuilt) = rebuilt.filter(|_| ok) else {
            let _ = audit(&state, caller.actor(), "csrf.rejected", format!("{method} {uri}"), String::new(), source).await;
            return (
                AppError::new(StatusCode::FORBIDDEN, "csrf", "フォームの有効期限が切れました。画面を開き直してください (CSRF)", "CSRF token missing or wrong").into_response(),
                true,
            );
        };
        req = rebuilt;
    }
    let mut req = req;
    req.extensions_mut().insert(caller);
    (next.run(req).await, false)
}

async fn health(State(state): State<SharedState>) -> impl IntoResponse {
    let store = state.store.clone();
    match tokio::task::spawn_blocking(move || store.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, Json(serde_json::json!({"status": "ok", "backend": state.store.backend()}))).into_response(),
        Ok(Err(e)) => crate::error::AppError::from(e).into_response(),
        Err(e) => crate::error::AppError::from(e).into_response(),
    }
}

/// Serves `app` over TLS until `shutdown` resolves.
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let acceptor = acceptor.clone();
        // The client's address reaches handlers (audit log) as ConnectInfo.
        let service = hyper_util::service::TowerToHyperService::new(tower::ServiceExt::map_request(
            app.clone(),
            move |mut req: axum::http::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(axum::extract::ConnectInfo(peer));
                req
            },
        ));
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(std::time::Duration::from_secs(10), acceptor.accept(stream)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => return,
            };
            let io = hyper_util::rt::TokioIo::new(tls);
            let builder = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
            if let Err(e) = builder.serve_connection(io, service).await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
}
