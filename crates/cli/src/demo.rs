//! `lanward demo`: the whole system on this machine with the embedded
//! store — the server on loopback HTTP, a real agent for this machine, and
//! simulated bureau PCs spread over the ten sites.

use crate::api_client::ApiClient;
use anyhow::{bail, Context, Result};
use lanward_agent::collect::fake::SITES;
use lanward_agent::{client, collect, identity, runner, simulate};
use serde_json::json;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub fn run(data: PathBuf, listen: SocketAddr, agents: usize) -> Result<()> {
    if !listen.ip().is_loopback() {
        bail!("デモはループバックアドレスでのみ起動します ({listen})");
    }
    let rt = tokio::runtime::Runtime::new()?;
    let mut config = lanward_server::ServerConfig::new(data.clone(), listen);
    config.insecure_http = true;
    // Short intervals, so that changes show up while someone watches.
    config.checkin_interval_secs = 60;
    config.inventory_interval_secs = 600;
    config.splay_secs = 10;
    config.deploy_poll_secs = 10;
    let server = rt.spawn(lanward_server::serve(config, crate::shutdown_signal()));

    let base = format!("http://{listen}");
    let http = ureq::AgentBuilder::new().timeout(Duration::from_secs(2)).build();
    let mut ready = false;
    for _ in 0..300 {
        if server.is_finished() {
            break;
        }
        if http.get(&format!("{base}/api/v1/health")).call().is_ok() {
            ready = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    if !ready {
        return match rt.block_on(server) {
            Ok(Err(e)) => Err(e),
            _ => bail!("サーバーが起動しませんでした ({base})"),
        };
    }

    let token_file = data.join(lanward_server::bootstrap::ADMIN_TOKEN_FILE);
    let token = std::fs::read_to_string(&token_file).with_context(|| format!("cannot read {}", token_file.display()))?;
    let password = std::fs::read_to_string(data.join(lanward_server::bootstrap::ADMIN_PASSWORD_FILE)).unwrap_or_default();
    let api = ApiClient::new(&base, &token, None)?;
    let first_run = api.get("/api/v1/summary")?["total"].as_u64() == Some(0);
    for (code, name, _) in SITES {
        api.post("/api/v1/sites", &json!({"code": code, "name": name}))?;
    }
    if first_run {
        seed_network_devices(&api)?;
    }
    let mut site_tokens = Vec::new();
    for (code, _, _) in SITES {
        let r = api.post("/api/v1/enrollment-tokens", &json!({"site": code, "expires_in_secs": 86_400, "max_uses": 100_000}))?;
        site_tokens.push(r["token"].as_str().context("server returned no token")?.to_string());
    }

    let stop = Arc::new(AtomicBool::new(false));
    // A real agent for this machine, with the real collectors.
    let agent_dir = data.join("agent-local");
    if !agent_dir.join("enrolment.json").exists() {
        let id = client::enroll(&base, &site_tokens[0], &collect::os::hostname(), "linux", collect::machine_hints(), identity::generate_key())?;
        id.save(&agent_dir)?;
    }
    let mut opts = runner::RunOptions::new(agent_dir);
    opts.max_splay_secs = 0;
    let s = stop.clone();
    let local_agent = std::thread::spawn(move || {
        if let Err(e) = runner::run(opts, s) {
            tracing::error!(error = %e, "local agent stopped");
        }
    });

    let sim = simulate::SimOptions {
        server: base.clone(),
        tokens: site_tokens,
        count: agents,
        interval: Some(Duration::from_secs(60)),
        first_checkin_within: Duration::from_secs(10),
        workers: 4,
        heavy: false,
        change_rate: 0.05,
        first_index: 0,
        identity_file: Some(data.join("simulated-agents.json")),
    };
    let bar = indicatif::ProgressBar::new(agents as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("模擬 PC を登録中 {bar:40} {pos}/{len}").unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let sims = simulate::enroll_all(&sim, &|n| bar.inc(n))?;
    bar.finish_and_clear();
    // The simulated PCs' operation logs: a realistic working day, sent as
    // the day goes on (what is already past is sent at once).
    let senders: Vec<lanward_agent::client::ServerClient> = sims.iter().map(|a| a.core.client.clone()).collect();
    let s = stop.clone();
    let event_thread = std::thread::spawn(move || send_simulated_events(senders, s));

    println!("lanward デモを起動しました (Ctrl-C で停止)");
    println!("  コンソール      {base}/  (ブラウザーで開いてください)");
    println!("  管理者          admin / {}   ({})", password.trim(), data.join("admin-password").display());
    println!("  API トークン    {}", token_file.display());
    println!("  エージェント    このマシン 1 台 + 模擬 PC {agents} 台 (10 拠点)");
    println!();
    println!("  export LANWARD_SERVER={base}");
    println!("  export LANWARD_TOKEN={}", token.trim());
    println!("  lanward assets list");
    println!("  curl -H \"Authorization: Bearer $LANWARD_TOKEN\" {base}/api/v1/assets");
    println!("  lanward package add hello.deb --name hello --version 1.0");
    println!("  lanward deploy create --package hello --targets $(hostname)   # このマシンのエージェントが導入します (root で実行時)");

    let s = stop.clone();
    let sim_thread = std::thread::spawn(move || simulate::run(&sim, sims, None, s));
    let result = rt.block_on(server);
    stop.store(true, Ordering::Relaxed);
    let _ = local_agent.join();
    let _ = sim_thread.join();
    let _ = event_thread.join();
    match result {
        Ok(r) => r,
        Err(e) => bail!("server task failed: {e}"),
    }
}

/// The bureau's devices without agents (BUREAU.md): routers and switches
/// per site, the Hyper-V hosts and some printers, kept by hand in the
/// ledger as the bureau's Excel list keeps them today.
fn seed_network_devices(api: &ApiClient) -> Result<()> {
    // (hostname, kind, site, IP, MAC, department); routers and printers carry
    // the MACs the simulated PCs see, so only real strangers are "unknown".
    let mut devices: Vec<(String, &str, &str, String, String, &str)> = Vec::new();
    for (i, (code, _, _)) in SITES.iter().enumerate() {
        let n = i + 1;
        let (routers, l3, l2) = match *code {
            "HQ" => (2, 2, 12),
            "KUN" | "ORO" => (1, 1, 2),
            "MJO" => (1, 1, 2),
            "LAB" => (0, 0, 1),
            "CCH" | "CCN" => (1, 0, 1),
            _ => (1, 0, 2),
        };
        for r in 1..=routers {
            let mac = if r == 1 { lanward_agent::collect::fake::site_router_mac(i) } else { String::new() };
            devices.push((format!("SUIDO-RT-{code}{r:02}"), "router", code, format!("10.{n}.90.{r}"), mac, "施設課"));
        }
        for s in 1..=l3 {
            devices.push((format!("SUIDO-L3-{code}{s:02}"), "l3_switch", code, format!("10.{n}.90.{}", 10 + s), String::new(), "施設課"));
        }
        for s in 1..=l2 {
            devices.push((format!("SUIDO-L2-{code}{s:02}"), "l2_switch", code, format!("10.{n}.90.{}", 20 + s), String::new(), "施設課"));
        }
        let (printer_ip, printer_mac) = lanward_agent::collect::fake::site_printer(i);
        devices.push((format!("SUIDO-PRN-{code}01"), "printer", code, printer_ip, printer_mac, "総務課"));
    }
    for h in 1..=3 {
        devices.push((format!("SUIDO-HV{h:02}"), "vm_host", "HQ", format!("10.1.10.{}", 20 + h), String::new(), "経営企画課"));
    }
    for (hostname, kind, site, ip, mac, dept) in devices {
        api.post(
            "/api/v1/assets",
            &json!({"hostname": hostname, "kind": kind, "site": site, "fields": {
                "ip_addresses": ip, "mac_addresses": mac, "department": dept, "status": "in_use",
                "vendor": "東北ネットワーク保守株式会社", "vendor_contact": "022-000-0000 (平日 8:30-17:15)",
                "building": if site == "HQ" { "本庁舎" } else { "" },
            }}),
        )?;
    }
    Ok(())
}

/// Sends the simulated PCs' events (lanward-oplog's generator: the last few
/// working days and today) up to the present, then every 20 s what has
/// become past. Sequence numbers come from the generator, so a restarted
/// demo sends the same events again and the server stores them once.
fn send_simulated_events(clients: Vec<lanward_agent::client::ServerClient>, stop: Arc<AtomicBool>) {
    use lanward_proto::oplog::{Event, EventAck, EventBatch};
    let now = lanward_store::now_ms();
    let today = (now + 9 * 3_600_000).div_euclid(86_400_000);
    let mut pending: Vec<Vec<Event>> = vec![Vec::new(); clients.len()];
    for (_, e) in lanward_oplog::generate::generate(680, clients.len(), today - 4, 5) {
        let Some(i) = e.event.pc.strip_prefix("SUIDO-PC-").and_then(|n| n.parse::<usize>().ok()).map(|n| n - 1) else { continue };
        if let Some(list) = pending.get_mut(i) {
            list.push(Event { seq: e.seq, at_ms: e.event.time_ms, kind: e.event.kind, session_id: Some(1), user: e.event.user, detail: Some(e.event.detail) });
        }
    }
    while !stop.load(Ordering::Relaxed) {
        let now = lanward_store::now_ms();
        for (client, events) in clients.iter().zip(pending.iter_mut()) {
            let due = events.iter().take_while(|e| e.at_ms <= now).count();
            let mut sent = 0;
            while sent < due {
                let chunk: Vec<Event> = events[sent..due.min(sent + 5000)].to_vec();
                let n = chunk.len();
                match client.post_json::<_, EventAck>("/api/v1/agent/events", &EventBatch { events: chunk, dropped: None }) {
                    Ok(_) => sent += n,
                    Err(e) => {
                        tracing::warn!(error = %e, "simulated events not sent; will retry");
                        break;
                    }
                }
            }
            events.drain(..sent);
        }
        for _ in 0..20 {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    }
}
