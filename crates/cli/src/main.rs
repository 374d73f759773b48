//! `lanward`: the server (`serve`), the demo (`demo`) and the
//! administrator's commands, which talk to a running server's API.

mod api_client;
mod demo;
mod deploy;
mod ledger;
mod net;
mod net_change;
mod net_report;
mod logs;
mod table;

use anyhow::{Context, Result};
use api_client::{parse_duration, ApiClient};
use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::json;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "lanward", version, about = "lanward: LAN の資産・運用管理サーバー")]
struct Cli {
    #[command(flatten)]
    remote: Remote,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct Remote {
    /// Server URL, e.g. https://lanward.example:8443
    #[arg(long, env = "LANWARD_SERVER", global = true)]
    server: Option<String>,
    /// File holding the API token (or set LANWARD_TOKEN)
    #[arg(long, global = true)]
    token_file: Option<PathBuf>,
    /// CA certificate to trust for https (the server's DATA/ca.pem)
    #[arg(long, env = "LANWARD_CA_FILE", global = true)]
    ca_file: Option<PathBuf>,
}

impl Remote {
    fn client(&self) -> Result<ApiClient> {
        let server = self.server.clone().context("--server か LANWARD_SERVER でサーバーを指定してください")?;
        let token = match (&self.token_file, std::env::var("LANWARD_TOKEN")) {
            (Some(f), _) => std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?,
            (None, Ok(t)) => t,
            (None, Err(_)) => anyhow::bail!("--token-file か LANWARD_TOKEN で API トークンを指定してください"),
        };
        ApiClient::new(&server, &token, self.ca_file.as_deref())
    }
}

#[derive(Copy, Clone, ValueEnum)]
enum Format {
    Table,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// サーバーを起動する (start the server)
    Serve(ServeArgs),
    /// デモ: サーバー、このマシンのエージェント、模擬 PC を起動する
    Demo {
        #[arg(long, default_value = "./lanward-demo")]
        data: PathBuf,
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Number of simulated bureau PCs.
        #[arg(long, default_value_t = 50)]
        agents: usize,
    },
    /// 登録トークン (enrolment tokens)
    Token {
        #[command(subcommand)]
        cmd: TokenCmd,
    },
    /// エージェント (agents)
    Agent {
        #[command(subcommand)]
        cmd: AgentCmd,
    },
    /// 資産 (assets)
    Assets {
        #[command(subcommand)]
        cmd: AssetsCmd,
    },
    /// 拠点 (sites)
    Site {
        #[command(subcommand)]
        cmd: SiteCmd,
    },
    /// 監査ログ (audit log)
    Audit {
        #[command(subcommand)]
        cmd: AuditCmd,
    },
    /// 操作ログ (operation logs): 検索は監査ログに記録されます
    Logs {
        #[command(subcommand)]
        cmd: LogsCmd,
    },
    /// 配布パッケージ (software packages)
    Package {
        #[command(subcommand)]
        cmd: deploy::PackageCmd,
    },
    /// ソフトウェア配布 (deployments)
    Deploy {
        #[command(subcommand)]
        cmd: deploy::DeployCmd,
    },
    /// ネットワーク機器の設定解析 (network configuration analysis; works on files)
    Net {
        #[command(subcommand)]
        cmd: net::NetCmd,
    },
    /// 利用者 (users)
    User {
        #[command(subcommand)]
        cmd: UserCmd,
    },
}

#[derive(Subcommand)]
enum LogsCmd {
    /// 検索する (--from --to --pc --user --kind --text)
    Search(logs::SearchArgs),
    /// 試験・デモ用に、局の PC の現実的な操作ログを生成する (JSON Lines)
    Generate(logs::GenerateArgs),
}

#[derive(Subcommand)]
enum AuditCmd {
    /// 最近の監査ログを表示する (from the running server)
    List {
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// ハッシュ連鎖を検証する (offline, reading the store directly; exit 0 when intact)
    Verify {
        #[arg(long)]
        data: PathBuf,
        /// postgres://... (default: DATA/lanward.db)
        #[arg(long, env = "LANWARD_DATABASE")]
        database: Option<String>,
    },
}

#[derive(Subcommand)]
enum UserCmd {
    /// 利用者を作る (password from standard input, or generated and printed once)
    Add {
        name: String,
        #[arg(long)]
        role: String,
        #[arg(long)]
        display_name: Option<String>,
    },
    List,
}

#[derive(Args)]
struct ServeArgs {
    #[arg(long)]
    data: PathBuf,
    #[arg(long, default_value = "0.0.0.0:8443")]
    listen: SocketAddr,
    /// postgres://user@host/db (default: SQLite in DATA/lanward.db)
    #[arg(long, env = "LANWARD_DATABASE")]
    database: Option<String>,
    /// Serve plain HTTP (only allowed on a loopback address).
    #[arg(long)]
    insecure_http: bool,
    /// Extra DNS name or IP address for the server certificate (repeatable).
    #[arg(long = "tls-name")]
    tls_names: Vec<String>,
    #[arg(long, default_value_t = 300)]
    checkin_interval: u64,
    #[arg(long, default_value_t = 3600)]
    inventory_interval: u64,
    #[arg(long, default_value_t = 30)]
    splay: u64,
    /// 操作ログの保存日数 (days operation logs are kept; whole days are deleted after)
    #[arg(long, default_value_t = 3 * 366 + 31)]
    log_retention_days: u32,
    /// 操作ログを PostgreSQL に置く (postgres://...; 月ごとの区画). 既定は DATA/oplog の組み込みエンジン
    #[arg(long, env = "LANWARD_LOG_DATABASE")]
    log_database: Option<String>,
    /// エージェントが配布指示を問い合わせる間隔 (秒; 作業中は短く)
    #[arg(long, default_value_t = 60)]
    deploy_poll: u64,
}

#[derive(Subcommand)]
enum TokenCmd {
    /// 拠点の登録トークンを作る (prints the token)
    Create {
        #[arg(long)]
        site: String,
        /// e.g. 7d, 12h
        #[arg(long, default_value = "7d")]
        expires: String,
        #[arg(long, default_value_t = 1000)]
        max_uses: u32,
    },
    List,
}

#[derive(Subcommand)]
enum AgentCmd {
    List,
    /// エージェントを失効させる
    Revoke { id: String },
}

#[derive(Subcommand)]
enum SiteCmd {
    /// 拠点を登録する (同じコードなら名前を変える)
    Add { code: String, name: String },
    List,
}

#[derive(Subcommand)]
enum AssetsCmd {
    /// 資産の一覧 (e.g. --q 山田 --kind pc --site HQ --department 配水課 --sort -last_seen)
    List {
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
        #[command(flatten)]
        filter: ledger::ListFilter,
        #[arg(long, default_value_t = 1000)]
        limit: u32,
    },
    /// エージェントのない資産を登録する (ルーター、プリンターなど); 新しい資産 ID を表示する
    Add {
        #[arg(long)]
        hostname: String,
        /// 種別 (pc, server, router, printer, l2_switch, ... または「ルーター」など)
        #[arg(long)]
        kind: String,
        /// 拠点コードまたは拠点名
        #[arg(long)]
        site: String,
        /// 台帳項目 (e.g. department=配水課 ip_addresses=10.1.20.5)
        fields: Vec<String>,
    },
    /// 台帳ファイル (xlsx / CSV UTF-8・Shift_JIS) を確認し、--apply で取り込む
    Import {
        file: PathBuf,
        /// 列の割り当て: JSON か @ファイル (e.g. '{"columns":{"C":"ip_addresses","F":null}}'; null は取り込まない、指定しない列は推定どおり)
        #[arg(long)]
        mapping: Option<String>,
        /// 確認結果のとおりに取り込む (エラーのある行があれば何も書き込まない)
        #[arg(long)]
        apply: bool,
    },
    /// 台帳を xlsx / CSV に書き出す
    Export {
        #[arg(long, value_enum, default_value = "xlsx")]
        format: ledger::ExportFormat,
        /// CSV の文字コード (既定 utf8、BOM 付き)
        #[arg(long, value_enum)]
        encoding: Option<ledger::CsvEncoding>,
        /// 見出しの言語
        #[arg(long, value_enum, default_value = "ja")]
        lang: ledger::Lang,
        /// 書き出し先 (- で標準出力)
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
    },
    Show { id: i64 },
    /// 台帳項目を変更する (e.g. department=配水課 room=3F-301 status=spare; field= clears)
    Set {
        id: i64,
        #[arg(required = true)]
        fields: Vec<String>,
    },
    /// 台帳項目の変更履歴
    History { id: i64 },
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("LANWARD_LOG").unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    if let Err(e) = real_main() {
        eprintln!("エラー: {e:#}");
        std::process::exit(1);
    }
}

pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(t) => t,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
    tracing::info!("shutting down");
}

fn real_main() -> Result<()> {
    let cli = Cli::parse();
    let remote = cli.remote;
    match cli.command {
        Command::Serve(a) => {
            let mut config = lanward_server::ServerConfig::new(a.data, a.listen);
            config.database_url = a.database;
            config.insecure_http = a.insecure_http;
            config.tls_names = a.tls_names;
            config.checkin_interval_secs = a.checkin_interval;
            config.inventory_interval_secs = a.inventory_interval;
            config.splay_secs = a.splay;
            config.oplog_retention_days = a.log_retention_days.max(1);
            config.oplog_database_url = a.log_database;
            config.deploy_poll_secs = a.deploy_poll;
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(lanward_server::serve(config, shutdown_signal()))
        }
        Command::Demo { data, listen, agents } => demo::run(data, listen, agents),
        Command::Token { cmd } => {
            let c = remote.client()?;
            match cmd {
                TokenCmd::Create { site, expires, max_uses } => {
                    let secs = parse_duration(&expires)?;
                    let r = c.post("/api/v1/enrollment-tokens", &json!({"site": site, "expires_in_secs": secs, "max_uses": max_uses}))?;
                    println!("{}", r["token"].as_str().unwrap_or_default());
                    eprintln!("拠点 {} / 有効期限 {} / 最大 {} 台", r["site"].as_str().unwrap_or(""), r["expires_at"].as_str().unwrap_or(""), max_uses);
                }
                TokenCmd::List => {
                    let r = c.get("/api/v1/enrollment-tokens")?;
                    table::print_tokens(&r);
                }
            }
            Ok(())
        }
        Command::Agent { cmd } => {
            let c = remote.client()?;
            match cmd {
                AgentCmd::List => table::print_agents(&c.get("/api/v1/agents")?),
                AgentCmd::Revoke { id } => {
                    let r = c.post(&format!("/api/v1/agents/{id}/revoke"), &json!({}))?;
                    println!("失効しました: {} ({})", id, r["revoked_at"].as_str().unwrap_or(""));
                }
            }
            Ok(())
        }
        Command::Assets { cmd } => {
            let c = remote.client()?;
            match cmd {
                AssetsCmd::List { format, filter, limit } => {
                    let (all, total) = ledger::list_assets(&c, &filter, limit)?;
                    match format {
                        Format::Json => println!("{}", serde_json::to_string_pretty(&all)?),
                        Format::Table => {
                            table::print_assets(&all);
                            if total > all.len() as u64 {
                                eprintln!("(該当 {total} 件のうち {} 件を表示しました。--limit で増やせます)", all.len());
                            }
                        }
                    }
                }
                AssetsCmd::Add { hostname, kind, site, fields } => ledger::asset_add(&c, &hostname, &kind, &site, &fields)?,
                AssetsCmd::Import { file, mapping, apply } => ledger::import(&c, &file, mapping.as_deref(), apply)?,
                AssetsCmd::Export { format, encoding, lang, output } => ledger::export(&c, format, encoding, lang, &output)?,
                AssetsCmd::Set { id, fields } => {
                    let map = ledger::parse_fields(&fields)?;
                    let r = c.patch(&format!("/api/v1/assets/{id}"), &json!({ "fields": map }))?;
                    let n = r["changes"].as_array().map(|a| a.len()).unwrap_or(0);
                    println!("資産 {id}: {n} 項目を変更しました");
                }
                AssetsCmd::History { id } => table::print_history(&c.get(&format!("/api/v1/assets/{id}/history"))?),
                AssetsCmd::Show { id } => println!("{}", serde_json::to_string_pretty(&c.get(&format!("/api/v1/assets/{id}"))?)?),
            }
            Ok(())
        }
        Command::Site { cmd } => {
            let c = remote.client()?;
            match cmd {
                SiteCmd::Add { code, name } => ledger::site_add(&c, &code, &name),
                SiteCmd::List => ledger::site_list(&c),
            }
        }
        Command::Package { cmd } => {
            // The offline commands need no server.
            let offline = matches!(cmd, deploy::PackageCmd::Sign { .. } | deploy::PackageCmd::Keygen { .. } | deploy::PackageCmd::ExportMedia { .. })
                || matches!(&cmd, deploy::PackageCmd::Office(a) if a.writes_file_only());
            let client = if offline { None } else { Some(remote.client()?) };
            deploy::package(client.as_ref(), cmd)
        }
        Command::Deploy { cmd } => deploy::deploy(&remote.client()?, cmd),
        Command::Net { cmd } => net::run(cmd),
        Command::Logs { cmd: LogsCmd::Search(a) } => logs::search(&remote.client()?, &a),
        Command::Logs { cmd: LogsCmd::Generate(a) } => logs::generate(&a),
        Command::Audit { cmd: AuditCmd::List { limit } } => {
            let r = remote.client()?.get(&format!("/api/v1/audit?limit={limit}"))?;
            table::print_audit(&r);
            Ok(())
        }
        Command::Audit { cmd: AuditCmd::Verify { data, database } } => audit_verify(&data, database),
        Command::User { cmd: UserCmd::Add { name, role, display_name } } => {
            use std::io::{IsTerminal, Read};
            let (password, generated) = if std::io::stdin().is_terminal() {
                (lanward_server::bootstrap::random_secret(15), true)
            } else {
                let mut s = String::new();
                std::io::stdin().read_to_string(&mut s).context("cannot read the password from standard input")?;
                (s.trim_end_matches(['\r', '\n']).to_string(), false)
            };
            let mut body = json!({"username": name, "role": role, "password": password});
            if let Some(d) = display_name {
                body["display_name"] = json!(d);
            }
            let r = remote.client()?.post("/api/v1/users", &body)?;
            println!("利用者を作成しました: {} ({})", r["username"].as_str().unwrap_or(""), r["role"].as_str().unwrap_or(""));
            if generated {
                println!("パスワード: {password}");
                eprintln!("(このパスワードは二度と表示されません)");
            }
            Ok(())
        }
        Command::User { cmd: UserCmd::List } => {
            table::print_users(&remote.client()?.get("/api/v1/users")?);
            Ok(())
        }
    }
}

/// Checks the audit log's hash chain straight from the store, without a
/// running server, so that an auditor can run it on a copy of the data.
fn audit_verify(data: &std::path::Path, database: Option<String>) -> Result<()> {
    let url = match database {
        Some(u) => u,
        None => {
            let db = data.join("lanward.db");
            anyhow::ensure!(db.exists(), "{} がありません (no database in {})", db.display(), data.display());
            db.display().to_string()
        }
    };
    let store = lanward_store::open(&url).map_err(|e| anyhow::anyhow!("データベースを開けません: {e}"))?;
    let entries = store.audit_entries(u32::MAX).map_err(|e| anyhow::anyhow!("{e}"))?;
    // The chain must start at 1 and have no holes.
    if let Some(bad) = entries.iter().enumerate().find(|(i, e)| e.seq != *i as i64 + 1).map(|(i, _)| i as i64 + 1) {
        eprintln!("監査ログの改ざんを検出しました: seq {bad} が欠けています (entry {bad} is missing)");
        std::process::exit(2);
    }
    match lanward_store::verify_audit_chain(&entries) {
        Ok(()) => {
            let last = entries.last();
            println!(
                "監査ログは正常です: {} 件 (最終 seq {}, hash {})",
                entries.len(),
                last.map(|e| e.seq).unwrap_or(0),
                last.map(|e| e.hash.as_str()).unwrap_or("-")
            );
            // Removing the newest entries leaves a valid shorter chain: keep
            // the last hash somewhere else (e.g. the monthly report) to detect that.
            eprintln!("末尾の削除を検出するには、最終 hash を別の場所に記録してください");
            Ok(())
        }
        Err(seq) => {
            eprintln!("監査ログの改ざんを検出しました: seq {seq} の内容またはハッシュが一致しません (first bad entry: seq {seq})");
            std::process::exit(2);
        }
    }
}
