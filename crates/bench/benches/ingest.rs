//! `cargo bench -p lanward-bench`: server ingest on SQLite (and on
//! PostgreSQL when LANWARD_TEST_PG is set) and the agent's footprint
//! beside Debian's fusioninventory-agent. Prints Markdown tables.
//!
//! Knobs (environment): LANWARD_BENCH_FULL (agents for the full-inventory
//! phase, default 2000), LANWARD_BENCH_STEADY_AGENTS (default 10000),
//! LANWARD_BENCH_STEADY_SECS (default 60; 300 covers one whole interval),
//! LANWARD_BENCH_ONLY (`server` or `agent`).

use lanward_agent::simulate::{self, SimOptions};
use lanward_bench::*;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

struct ServerRow {
    backend: &'static str,
    enrol_per_s: f64,
    full_per_s: f64,
    full_errors: u64,
    full_bytes: u64,
    unchanged_per_s: f64,
    unchanged_errors: u64,
    steady_agents: usize,
    steady_secs: u64,
    steady_checkins: u64,
    steady_errors: u64,
    p50: f64,
    p99: f64,
    max: f64,
    db_mb: f64,
}

/// Runs `f` over agents from `threads` threads; returns (elapsed, errors).
fn parallel<T: Send>(items: &[Mutex<T>], threads: usize, f: impl Fn(&mut T) -> bool + Sync) -> (Duration, u64) {
    let next = AtomicUsize::new(0);
    let errors = AtomicU64::new(0);
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                let mut g = item.lock().unwrap_or_else(|e| e.into_inner());
                if !f(&mut g) {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    (start.elapsed(), errors.into_inner())
}

fn server_bench(backend: &'static str, database: Option<String>) -> anyhow::Result<ServerRow> {
    let dir = tempfile::tempdir()?;
    let server = BenchServer::start(dir.path(), database)?;
    let full_n = env_num("LANWARD_BENCH_FULL", 2000);
    let steady_n = env_num("LANWARD_BENCH_STEADY_AGENTS", 10_000).max(full_n);
    let steady_secs = env_num("LANWARD_BENCH_STEADY_SECS", 60) as u64;
    let token = server.create_token("HQ", 1_000_000)?;
    let opts = SimOptions {
        server: server.url.clone(),
        tokens: vec![token],
        count: full_n,
        interval: Some(Duration::from_secs(300)),
        first_checkin_within: Duration::from_secs(300),
        workers: 8,
        heavy: true,
        change_rate: 0.02,
        first_index: 0,
        identity_file: None,
    };
    eprintln!("[{backend}] enrolling {full_n} agents");
    let t = Instant::now();
    let agents = simulate::enroll_all(&opts, &|_| {})?;
    let enrol_per_s = full_n as f64 / t.elapsed().as_secs_f64();

    // Build every agent's first (full) report before the clock starts.
    let agents: Vec<Mutex<simulate::SimAgent>> = agents.into_iter().map(Mutex::new).collect();
    parallel(&agents, 2, |a| a.core.collect_and_queue().is_ok());
    eprintln!("[{backend}] {full_n} full inventories");
    let (elapsed, full_errors) = parallel(&agents, 16, |a| a.core.checkin().is_ok());
    let full_per_s = full_n as f64 / elapsed.as_secs_f64();
    let full_bytes = agents.iter().map(|a| a.lock().map(|a| a.core.stats.bytes_sent).unwrap_or(0)).sum::<u64>() / full_n as u64;

    eprintln!("[{backend}] unchanged check-ins");
    let rounds = 3;
    let mut unchanged_errors = 0;
    let mut unchanged_time = Duration::ZERO;
    for _ in 0..rounds {
        let (e, errs) = parallel(&agents, 8, |a| a.core.checkin().is_ok());
        unchanged_time += e;
        unchanged_errors += errs;
    }
    let unchanged_per_s = (full_n * rounds) as f64 / unchanged_time.as_secs_f64();

    // Steady state: the rest of the fleet enrols, then everyone checks in
    // every 5 minutes (first check-in spread over one interval).
    let extra = steady_n - full_n;
    eprintln!("[{backend}] enrolling {extra} more agents for the steady state");
    let more = simulate::enroll_all(&SimOptions { count: extra, first_index: full_n, ..opts.clone() }, &|_| {})?;
    let mut fleet: Vec<simulate::SimAgent> = agents.into_iter().map(|m| m.into_inner().unwrap_or_else(|e| e.into_inner())).collect();
    fleet.extend(more);
    eprintln!("[{backend}] {steady_n} agents, interval 300 s, for {steady_secs} s");
    let report = simulate::run(&SimOptions { workers: 16, ..opts.clone() }, fleet, Some(Duration::from_secs(steady_secs)), Arc::new(AtomicBool::new(false)));
    drop(server);
    let db_mb = std::fs::metadata(dir.path().join("lanward.db")).map(|m| m.len() as f64 / 1e6).unwrap_or(0.0);
    Ok(ServerRow {
        backend,
        enrol_per_s,
        full_per_s,
        full_errors,
        full_bytes,
        unchanged_per_s,
        unchanged_errors,
        steady_agents: steady_n,
        steady_secs,
        steady_checkins: report.checkins,
        steady_errors: report.errors,
        p50: report.percentile_ms(0.5),
        p99: report.percentile_ms(0.99),
        max: report.percentile_ms(1.0),
        db_mb,
    })
}

/// A loopback TCP relay that counts the bytes clients send.
fn counting_proxy(upstream: String) -> anyhow::Result<(u16, Arc<AtomicU64>)> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let sent = Arc::new(AtomicU64::new(0));
    let counter = sent.clone();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = std::net::TcpStream::connect(&upstream) else { continue };
            let (mut c_read, mut s_write) = (client.try_clone().expect("clone"), server.try_clone().expect("clone"));
            let counter = counter.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 16384];
                while let Ok(n) = c_read.read(&mut buf) {
                    if n == 0 || s_write.write_all(&buf[..n]).is_err() {
                        break;
                    }
                    counter.fetch_add(n as u64, Ordering::Relaxed);
                }
                let _ = s_write.shutdown(std::net::Shutdown::Write);
            });
            let (mut s_read, mut c_write) = (server, client);
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut s_read, &mut c_write);
                let _ = c_write.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    Ok((port, sent))
}

fn release_agent() -> anyhow::Result<std::path::PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe.parent().and_then(|p| p.parent()).ok_or_else(|| anyhow::anyhow!("no target dir"))?.to_path_buf();
    let bin = dir.join("lanward-agent");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // Always rebuild: a stale binary would measure old code.
    let status = std::process::Command::new(cargo).args(["build", "--release", "-q", "-p", "lanward-agent"]).status()?;
    anyhow::ensure!(status.success() && bin.exists(), "cannot build {}", bin.display());
    Ok(bin)
}

fn dir_size(p: &std::path::Path) -> u64 {
    std::fs::read_dir(p)
        .map(|rd| rd.flatten().map(|e| if e.path().is_dir() { dir_size(&e.path()) } else { e.metadata().map(|m| m.len()).unwrap_or(0) }).sum())
        .unwrap_or(0)
}

fn agent_bench() -> anyhow::Result<()> {
    let bin = release_agent()?;
    let tmp = tempfile::tempdir()?;

    // One full Linux inventory, five times; the median CPU time.
    let mut runs = Vec::new();
    for _ in 0..5 {
        let out = tmp.path().join("inventory.json");
        let file = std::fs::File::create(&out)?;
        let (cpu, rss, status) = measure(std::process::Command::new(&bin).arg("collect").stdout(file).stderr(std::process::Stdio::null()))?;
        anyhow::ensure!(status.success(), "lanward-agent collect failed");
        runs.push((cpu, rss, std::fs::metadata(&out)?.len()));
    }
    runs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (lw_cpu, lw_rss, lw_bytes) = runs[2];

    let fi = if std::process::Command::new("fusioninventory-agent").arg("--version").output().is_ok() {
        let out = tmp.path().join("fi");
        std::fs::create_dir_all(&out)?;
        let (cpu, rss, status) = measure(
            std::process::Command::new("fusioninventory-agent")
                .args(["--local"])
                .arg(&out)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null()),
        )?;
        Some((cpu, rss, dir_size(&out), status.success()))
    } else {
        None
    };

    // Idle memory and the size of an unchanged check-in on the wire.
    let server = BenchServer::start(&tmp.path().join("srv"), None)?;
    let (port, sent) = counting_proxy(server.url.trim_start_matches("http://").to_string())?;
    let url = format!("http://127.0.0.1:{port}");
    let token = server.create_token("HQ", 10)?;
    let data = tmp.path().join("agent");
    let st = std::process::Command::new(&bin).args(["enroll", "--server", &url, "--token", &token, "--data"]).arg(&data).output()?;
    anyhow::ensure!(st.status.success(), "enrol failed: {}", String::from_utf8_lossy(&st.stderr));
    let mut child = std::process::Command::new(&bin)
        .args(["run", "--splay", "0", "--data"])
        .arg(&data)
        .stderr(std::process::Stdio::null())
        .spawn()?;
    std::thread::sleep(Duration::from_secs(4));
    let idle_rss = rss_kib(child.id()).unwrap_or(0);
    let _ = child.kill();
    let _ = child.wait();
    let before = sent.load(Ordering::Relaxed);
    let st = std::process::Command::new(&bin).args(["run", "--splay", "0", "--checkins", "1", "--data"]).arg(&data).output()?;
    anyhow::ensure!(st.status.success(), "check-in failed");
    let unchanged_bytes = sent.load(Ordering::Relaxed) - before;

    println!("\n### Agent footprint (this machine: {} cores)\n", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0));
    println!("| measure | lanward-agent | fusioninventory-agent | target |");
    println!("|---|---|---|---|");
    type Peer = (f64, i64, u64, bool);
    let fi_cell = |f: &dyn Fn(&Peer) -> String| fi.as_ref().map(f).unwrap_or_else(|| "not installed".into());
    println!("| full inventory CPU time | {:.3} s | {} | ≤ 0.2 s |", lw_cpu, fi_cell(&|f| format!("{:.3} s", f.0)));
    println!("| full inventory peak RSS | {:.1} MB | {} | |", lw_rss as f64 / 1024.0, fi_cell(&|f| format!("{:.1} MB", f.1 as f64 / 1024.0)));
    println!("| full inventory output | {:.1} KB (JSON) | {} | |", lw_bytes as f64 / 1024.0, fi_cell(&|f| format!("{:.1} KB (XML){}", f.2 as f64 / 1024.0, if f.3 { "" } else { ", exit≠0" })));
    println!("| idle resident memory (service loop) | {:.1} MB | — | ≤ 15 MB |", idle_rss as f64 / 1024.0);
    println!("| unchanged check-in, bytes sent (HTTP request incl. headers) | {unchanged_bytes} B | — | ≤ 1 KB |");
    Ok(())
}

fn main() -> anyhow::Result<()> {
    // `cargo bench` passes --bench; nothing else is taken from the command line.
    let only = std::env::var("LANWARD_BENCH_ONLY").unwrap_or_default();
    // The agent first: a child's peak RSS counts the parent's pages at fork
    // time, so measure while this process is still small.
    if only.is_empty() || only == "agent" {
        agent_bench()?;
    }
    if only.is_empty() || only == "server" {
        let mut rows = vec![server_bench("sqlite", None)?];
        if let Ok(pg) = std::env::var("LANWARD_TEST_PG") {
            let schema = format!("lw_bench_{}", std::process::id());
            let sep = if pg.contains('?') { '&' } else { '?' };
            let url = format!("{pg}{sep}options=-c%20search_path%3D{schema}");
            let mut c = postgres_admin(&pg)?;
            c.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"))?;
            let row = server_bench("postgres", Some(url));
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
            rows.push(row?);
        }
        println!("\n### Server ingest ({} cores, load generator on the same machine)\n", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0));
        println!("| measure | {} | target |", rows.iter().map(|r| r.backend).collect::<Vec<_>>().join(" | "));
        println!("|---|{}---|", "---|".repeat(rows.len()));
        let line = |name: &str, f: &dyn Fn(&ServerRow) -> String, target: &str| {
            println!("| {name} | {} | {target} |", rows.iter().map(f).collect::<Vec<_>>().join(" | "));
        };
        line("enrolments / s", &|r| format!("{:.0}", r.enrol_per_s), "");
        line("full Windows-sized inventories / s (≈300 apps, 150 hotfixes)", &|r| format!("{:.0} ({} errors, {:.0} KB each)", r.full_per_s, r.full_errors, r.full_bytes as f64 / 1024.0), "≥ 1,000");
        line("unchanged check-ins / s", &|r| format!("{:.0} ({} errors)", r.unchanged_per_s, r.unchanged_errors), "≥ 5,000");
        line("steady state: agents × interval", &|r| format!("{} × 300 s, {} s measured, {} check-ins", r.steady_agents, r.steady_secs, r.steady_checkins), "10,000 × 300 s");
        line("steady state latency p50 / p99 / max", &|r| format!("{:.1} / {:.1} / {:.1} ms", r.p50, r.p99, r.max), "p99 < 100 ms");
        line("steady state errors", &|r| r.steady_errors.to_string(), "0");
        line("database file after run", &|r| if r.backend == "sqlite" { format!("{:.0} MB", r.db_mb) } else { "—".into() }, "");
    }
    Ok(())
}

fn postgres_admin(url: &str) -> anyhow::Result<postgres::Client> {
    Ok(postgres::Client::connect(url, postgres::NoTls)?)
}
