//! `lanward-agent`: enrol this machine, run as a service, or simulate PCs.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use lanward_agent::{client, collect, identity, runner, simulate};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "lanward-agent", version, about = "lanward エージェント: インベントリ収集とサーバーへの報告")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// このマシンをサーバーに登録する (enrol this machine)
    Enroll {
        #[arg(long)]
        server: String,
        #[arg(long, env = "LANWARD_ENROLL_TOKEN")]
        token: String,
        #[arg(long, default_value_os_t = identity::default_data_dir())]
        data: PathBuf,
        /// Overwrite an existing enrolment.
        #[arg(long)]
        force: bool,
    },
    /// チェックインを繰り返す (run the agent in the foreground; systemd runs this)
    Run {
        #[arg(long, default_value_os_t = identity::default_data_dir())]
        data: PathBuf,
        /// Queue size cap in MB while the server is unreachable.
        #[arg(long, default_value_t = 50)]
        queue_mb: u64,
        /// Largest random delay before the first check-in, in seconds.
        #[arg(long, default_value_t = 60)]
        splay: u64,
        /// Stop after N check-ins (for tests and diagnosis).
        #[arg(long)]
        checkins: Option<u64>,
        /// Operation-event journal cap in MB (kept on disk while the server is away).
        #[arg(long, default_value_t = 200)]
        events_mb: u64,
    },
    /// インベントリを収集して表示する (collect and print the inventory as JSON; sends nothing)
    /// エージェントのデータを削除する (uninstall with PURGE=1; the key, queue and journal)
    Purge {
        #[arg(long, default_value_os_t = identity::default_data_dir())]
        data: PathBuf,
    },
    Collect {
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// systemd ユニットを表示する (print the systemd unit)
    ServiceUnit {
        #[arg(long, default_value_os_t = identity::default_data_dir())]
        data: PathBuf,
    },
    /// Windows サービスの登録・解除・開始・停止 (Windows service; on Linux, explains systemd)
    Service {
        #[command(subcommand)]
        action: ServiceAction,
    },
    /// (called by the Windows service control manager)
    #[cfg(windows)]
    #[command(hide = true)]
    RunService {
        #[arg(long, default_value_os_t = identity::default_data_dir())]
        data: PathBuf,
    },
    /// (started by the service in each user session)
    #[command(hide = true)]
    SessionHelper,
    /// 模擬エージェントを動かす (simulated bureau PCs; also the load generator)
    Simulate {
        #[arg(long)]
        server: String,
        /// Enrolment token; repeat for one token per site.
        #[arg(long, required = true)]
        token: Vec<String>,
        #[arg(long, default_value_t = 50)]
        count: usize,
        /// Check-in interval in seconds (default: as the server says).
        #[arg(long)]
        interval: Option<u64>,
        #[arg(long, default_value_t = 8)]
        workers: usize,
        /// Windows-sized inventories (300 applications, 150 hotfixes).
        #[arg(long)]
        heavy: bool,
        /// Stop after this many seconds.
        #[arg(long)]
        duration: Option<u64>,
        #[arg(long, default_value_t = 0)]
        first_index: usize,
    },
}

#[derive(Subcommand)]
enum ServiceAction {
    /// サービスとして登録する (install; as administrator)
    Install {
        #[arg(long, default_value_os_t = identity::default_data_dir())]
        data: PathBuf,
    },
    /// サービスを停止して登録を解除する (stop and uninstall)
    Uninstall,
    /// サービスを開始する (start)
    Start {
        /// Where the service keeps its data (named in error messages).
        #[arg(long, default_value_os_t = identity::default_data_dir())]
        data: PathBuf,
    },
    /// サービスを停止する (stop)
    Stop,
}

fn main() {
    let cli = Cli::parse();
    let filter = || tracing_subscriber::EnvFilter::try_from_env("LANWARD_LOG").unwrap_or_else(|_| "info".into());
    // Under the Windows service manager nobody reads stderr: log to a file.
    #[cfg(windows)]
    if let Command::RunService { data } = &cli.command {
        let _ = std::fs::create_dir_all(data);
        if let Ok(file) = std::fs::OpenOptions::new().create(true).append(true).open(data.join("agent.log")) {
            tracing_subscriber::fmt().with_env_filter(filter()).with_ansi(false).with_writer(std::sync::Mutex::new(file)).init();
        }
    }
    #[cfg(not(windows))]
    tracing_subscriber::fmt().with_env_filter(filter()).with_writer(std::io::stderr).init();
    #[cfg(windows)]
    if !matches!(cli.command, Command::RunService { .. }) {
        tracing_subscriber::fmt().with_env_filter(filter()).with_writer(std::io::stderr).init();
    }
    if let Err(e) = real_main(cli) {
        eprintln!("エラー: {e:#}");
        std::process::exit(1);
    }
}

fn real_main(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Enroll { server, token, data, force } => {
            if !force && data.join("enrolment.json").exists() {
                anyhow::bail!("{} は既に登録済みです (use --force to enrol again)", data.display());
            }
            let os = if cfg!(windows) { "windows" } else { "linux" };
            let id = client::enroll(&server, &token, &collect::os::hostname(), os, collect::machine_hints(), identity::generate_key())?;
            id.save(&data)?;
            // A fresh enrolment starts with a full inventory.
            let _ = std::fs::remove_file(data.join("state.json"));
            println!("登録しました: agent {} (site {})", id.enrolment.agent_id, id.enrolment.site);
            Ok(())
        }
        Command::Run { data, queue_mb, splay, checkins, events_mb } => {
            let stop = Arc::new(AtomicBool::new(false));
            let mut opts = runner::RunOptions::new(data);
            opts.queue_cap_bytes = queue_mb * 1024 * 1024;
            opts.max_splay_secs = splay;
            opts.max_checkins = checkins;
            opts.events_cap_bytes = events_mb.max(1) * 1024 * 1024;
            runner::run(opts, stop)
        }
        Command::Purge { data } => identity::purge(&data),
        Command::Collect { data } => {
            let config = match data {
                Some(d) => runner::load_collect_config(&d)?,
                None => Default::default(),
            };
            let sections = collect::collect_all(&collect::platform_collectors(), &config);
            let mut out = serde_json::Map::new();
            for (name, json) in sections {
                out.insert(name, serde_json::from_str(&json).context("collector produced invalid JSON")?);
            }
            println!("{}", serde_json::to_string_pretty(&out)?);
            Ok(())
        }
        Command::ServiceUnit { data } => {
            let bin = std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_else(|_| "/usr/bin/lanward-agent".into());
            print!("{}", lanward_agent::service::systemd_unit(&bin, &data.display().to_string()));
            Ok(())
        }
        Command::Service { action } => service(action),
        #[cfg(windows)]
        Command::RunService { data } => lanward_agent::service::windows::run_as_service(data),
        #[cfg(windows)]
        Command::SessionHelper => lanward_agent::session::windows::run_helper(),
        #[cfg(not(windows))]
        Command::SessionHelper => anyhow::bail!("session-helper は Windows 専用です (Windows only)"),
        Command::Simulate { server, token, count, interval, workers, heavy, duration, first_index } => {
            let opts = simulate::SimOptions {
                server,
                tokens: token,
                count,
                interval: interval.map(Duration::from_secs),
                first_checkin_within: interval.map(Duration::from_secs).unwrap_or(Duration::from_secs(30)),
                workers,
                heavy,
                change_rate: 0.02,
                first_index,
                identity_file: None,
            };
            eprintln!("{count} 台の模擬エージェントを登録しています…");
            let agents = simulate::enroll_all(&opts, &|_| {})?;
            eprintln!("登録完了。チェックインを開始します (Ctrl-C で停止)");
            let report = simulate::run(&opts, agents, duration.map(Duration::from_secs), Arc::new(AtomicBool::new(false)));
            println!(
                "checkins {} errors {} bytes {} p50 {:.1} ms p99 {:.1} ms",
                report.checkins,
                report.errors,
                report.bytes_sent,
                report.percentile_ms(0.5),
                report.percentile_ms(0.99)
            );
            Ok(())
        }
    }
}

#[cfg(windows)]
fn service(action: ServiceAction) -> Result<()> {
    use lanward_agent::service::windows as svc;
    match action {
        ServiceAction::Install { data } => {
            // The SCM starts services in System32: a relative path would point there.
            let data = std::path::absolute(&data).with_context(|| format!("{}: パスを解決できません", data.display()))?;
            svc::install(&std::env::current_exe()?, &data)?;
            println!("サービス {} を登録しました (data {})。開始: lanward-agent service start", svc::SERVICE_NAME, data.display());
        }
        ServiceAction::Uninstall => {
            svc::uninstall()?;
            println!("サービス {} の登録を解除しました", svc::SERVICE_NAME);
        }
        ServiceAction::Start { data } => {
            svc::start(&data)?;
            println!("サービス {} を開始しました", svc::SERVICE_NAME);
        }
        ServiceAction::Stop => {
            svc::stop()?;
            println!("サービス {} を停止しました", svc::SERVICE_NAME);
        }
    }
    Ok(())
}

#[cfg(not(windows))]
fn service(action: ServiceAction) -> Result<()> {
    let data = match &action {
        ServiceAction::Install { data } | ServiceAction::Start { data } => data.clone(),
        ServiceAction::Uninstall | ServiceAction::Stop => identity::default_data_dir(),
    };
    anyhow::bail!("{}", lanward_agent::service::systemd_instructions(&data.display().to_string()))
}
