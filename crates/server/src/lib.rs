#![recursion_limit = "512"]
//! The lanward server.
//!
//! - [`tls`]: the CA and server certificate generated in the data directory.
//! - [`state`]: shared state: the store, the agent cache, the ingest queue.
//! - [`ingest`]: the writer thread that commits check-ins in batches.
//! - [`auth`]: agent request signatures and administrators' bearer tokens.
//! - [`api`]: HTTP routes (agent API, admin API, OpenAPI document).
//! - [`bootstrap`]: the first administrator and API token, with random secrets.
//!
//! The server reaches storage only through `lanward_store::Store`.

pub mod alerts;
pub mod api;
pub mod auth;
pub mod bootstrap;
pub mod console;
pub mod directory;
pub mod distribution;
pub mod imports;
pub mod error;
pub mod ingest;
pub mod mail;
pub mod state;
pub mod tls;

use anyhow::{bail, Context, Result};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    /// `postgres://...`; `None` uses `DATA/lanward.db` (SQLite).
    pub database_url: Option<String>,
    /// Serve plain HTTP. Refused unless `listen` is a loopback address.
    pub insecure_http: bool,
    /// Extra names and addresses for the server certificate.
    pub tls_names: Vec<String>,
    pub checkin_interval_secs: u64,
    pub inventory_interval_secs: u64,
    /// Random seconds added to each agent's next check-in, so that agents
    /// started together spread out.
    pub splay_secs: u64,
    /// Days operation logs are kept (the contract's 3 years and a margin).
    pub oplog_retention_days: u32,
    /// `postgres://...` for the operation logs (partitioned by month); `None`
    /// keeps them in the embedded engine under `DATA/oplog`, which is smaller
    /// and faster on one server (see ARCHITECTURE.md, operation logs).
    pub oplog_database_url: Option<String>,
    /// How often an agent with nothing to install asks for deployments.
    pub deploy_poll_secs: u64,
}

impl ServerConfig {
    pub fn new(data_dir: PathBuf, listen: SocketAddr) -> Self {
        ServerConfig {
            data_dir,
            listen,
            database_url: None,
            insecure_http: false,
            tls_names: Vec::new(),
            checkin_interval_secs: 300,
            inventory_interval_secs: 3600,
            splay_secs: 30,
            oplog_retention_days: 3 * 366 + 31,
            oplog_database_url: None,
            deploy_poll_secs: 60,
        }
    }

    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| self.data_dir.join("lanward.db").display().to_string())
    }
}

/// Opens storage, prepares TLS and the first administrator, then serves
/// until `shutdown` resolves.
pub async fn serve(config: ServerConfig, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> Result<()> {
    if config.insecure_http && !config.listen.ip().is_loopback() {
        bail!(
            "平文 HTTP はループバックアドレスでのみ使用できます ({} is not loopback; drop --insecure-http to serve HTTPS)",
            config.listen
        );
    }
    std::fs::create_dir_all(&config.data_dir).with_context(|| format!("cannot create {}", config.data_dir.display()))?;
    let url = config.database_url();
    let store = tokio::task::spawn_blocking(move || lanward_store::open(&url))
        .await?
        .map_err(|e| anyhow::anyhow!("データベースを開けません: {e}"))?;
    let tls = tls::ensure(&config.data_dir, &config.tls_names)?;
    // Storage calls block (the PostgreSQL driver runs its own runtime), so
    // they never run on the async workers.
    let (cfg, fp, pem) = (config.clone(), tls.ca_fingerprint.clone(), tls.ca_pem.clone());
    let state = tokio::task::spawn_blocking(move || -> Result<_> {
        bootstrap::ensure_admin(&*store, &cfg.data_dir)?;
        state::AppState::load(store, cfg, fp, pem)
    })
    .await??;
    state::spawn_background(&state);
    let app = api::router(state.clone());

    let listener = tokio::net::TcpListener::bind(config.listen).await.with_context(|| format!("cannot listen on {}", config.listen))?;
    let local = listener.local_addr()?;
    let scheme = if config.insecure_http { "http" } else { "https" };
    // Tests and scripts read the actual address here (the port may be 0).
    // Written aside and renamed, so a reader never sees it half written.
    let url_tmp = config.data_dir.join("server.url.tmp");
    std::fs::write(&url_tmp, format!("{scheme}://{local}\n"))?;
    std::fs::rename(&url_tmp, config.data_dir.join("server.url"))?;
    tracing::info!(%local, scheme, backend = state.store.backend(), "lanward server listening");
    mail::start(&state, mail::server_url(scheme, local, &config.tls_names));

    if config.insecure_http {
        axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).with_graceful_shutdown(shutdown).await?;
    } else {
        api::serve_tls(listener, tls.server_config, app, shutdown).await?;
    }
    state.flush_last_seen().await;
    // Operation logs still in memory go into their day partitions.
    let oplog = state.oplog.clone();
    match tokio::task::spawn_blocking(move || oplog.flush()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "operation logs not flushed; they will be replayed from the log at next start"),
        Err(e) => tracing::error!(error = %e, "operation-log flush task failed"),
    }
    Ok(())
}

pub type SharedState = Arc<state::AppState>;
