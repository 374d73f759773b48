//! HTTP routes. Agent routes authenticate by request signature, admin
//! routes by bearer token; `/api/v1/health`, `/api/v1/openapi.json` and the
//! enrolment routes need neither.

pub mod admin;
pub mod agent;
pub mod openapi;
pub mod view;

use crate::SharedState;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use std::sync::Arc;

pub fn router(state: SharedState) -> Router {
    Router::new()
        .route("/api/v1/health", get(health))
        .route("/api/v1/openapi.json", get(openapi::document))
        .route("/api/v1/enroll/ca", get(agent::ca_certificate))
        .route("/api/v1/enroll", post(agent::enroll))
        .route("/api/v1/agent/checkin", post(agent::checkin))
        .route("/api/v1/assets", get(admin::list_assets))
        .route("/api/v1/assets/{id}", get(admin::get_asset).patch(admin::update_asset))
        .route("/api/v1/assets/{id}/history", get(admin::asset_history))
        .route("/api/v1/enrollment-tokens", get(admin::list_tokens).post(admin::create_token))
        .route("/api/v1/agents", get(admin::list_agents))
        .route("/api/v1/agents/{id}/revoke", post(admin::revoke_agent))
        .route("/api/v1/agents/{id}/gaps", get(admin::agent_gaps))
        .route("/api/v1/audit", get(admin::audit_log))
        .route("/api/v1/users", get(admin::list_users).post(admin::create_user))
        .layer(DefaultBodyLimit::max(lanward_proto::MAX_AGENT_BODY_BYTES))
        .with_state(state)
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
    let service = hyper_util::service::TowerToHyperService::new(app);
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
        let service = service.clone();
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
