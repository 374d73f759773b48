//! Faults: SIGKILL mid-ingest, the server away while the agent queues, and
//! the database away while the server runs.

use crate::support::*;
use lanward_agent::client::ClientError;
use lanward_agent::simulate::{self, SimOptions};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn sim_options(server: &Server, token: String, count: usize, heavy: bool) -> SimOptions {
    SimOptions {
        server: server.url.clone(),
        tokens: vec![token],
        count,
        interval: None,
        first_checkin_within: Duration::from_secs(1),
        workers: 4,
        heavy,
        change_rate: 0.0,
        first_index: 0,
        identity_file: None,
    }
}

/// Hashes of an asset's stored sections, by agent id.
fn stored_hashes(server: &Server) -> BTreeMap<String, BTreeMap<String, String>> {
    server
        .assets()
        .iter()
        .map(|a| {
            let hashes = a["sections"]
                .as_object()
                .map(|o| o.iter().map(|(k, v)| (k.clone(), v["hash"].as_str().unwrap_or("").to_string())).collect())
                .unwrap_or_default();
            (a["agent_id"].as_str().unwrap_or("").to_string(), hashes)
        })
        .collect()
}

#[test]
fn sigkill_mid_ingest_loses_nothing_acknowledged() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Server::start(&tmp.path().join("srv"), false, &[]);
    let token = server.create_token("HQ", "1h", 1000);
    let opts = sim_options(&server, token, 120, true);
    let agents = simulate::enroll_all(&opts, &|_| {}).unwrap();
    let agents: Vec<Mutex<simulate::SimAgent>> = agents.into_iter().map(Mutex::new).collect();
    let acked = Mutex::new(Vec::new());
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(a) = agents.get(i) else { break };
                let mut a = a.lock().unwrap();
                a.core.collect_and_queue().unwrap();
                if a.core.checkin().is_ok() {
                    acked.lock().unwrap().push(i);
                }
            });
        }
        std::thread::sleep(Duration::from_millis(250));
        server.kill();
    });
    let acked = acked.into_inner().unwrap();
    eprintln!("{} of {} check-ins acknowledged before SIGKILL", acked.len(), agents.len());
    assert!(!acked.is_empty(), "the server should have acknowledged some check-ins in 250 ms");

    server.restart();
    let stored = stored_hashes(&server);
    for i in &acked {
        let a = agents[*i].lock().unwrap();
        let id = a.core.client.signer().unwrap().0.clone();
        let expected = &a.core.state.section_hashes;
        let got = stored.get(&id).unwrap_or_else(|| panic!("acknowledged agent {id} lost"));
        for (name, hash) in expected {
            assert_eq!(got.get(name), Some(hash), "agent {id} section {name} lost after SIGKILL");
        }
    }
}

#[test]
fn agent_queues_while_server_is_away_and_reports_the_gap() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Server::start(&tmp.path().join("srv"), false, &[]);
    let token = server.create_token("KJO", "1h", 10);
    let opts = sim_options(&server, token, 1, true);
    let mut sim = simulate::enroll_all(&opts, &|_| {}).unwrap().remove(0);
    // A disk queue that holds two full reports.
    let queue_dir = tmp.path().join("queue");
    let report_size = {
        let sections = lanward_agent::collect::collect_all(&sim.core.collectors, &sim.core.config);
        sections.values().map(|s| s.len() as u64).sum::<u64>() + 2000
    };
    sim.core.spool = Box::new(lanward_agent::spool::DiskSpool::open(&queue_dir, report_size * 2 + report_size / 2).unwrap());
    sim.core.collect_and_queue().unwrap();
    sim.core.checkin().unwrap();
    let agent_id = sim.core.client.signer().unwrap().0.clone();

    server.kill();
    for _ in 0..4 {
        sim.core.state.section_hashes.clear(); // every round sends a full report
        sim.machine.generation.fetch_add(1, Ordering::Relaxed);
        sim.core.collect_and_queue().unwrap();
        match sim.core.checkin() {
            Err(ClientError::Unreachable(_)) => {}
            other => panic!("expected unreachable, got {other:?}"),
        }
    }
    assert_eq!(sim.core.spool.len(), 2);
    assert_eq!(sim.core.spool.gap().map(|g| g.dropped_items), Some(2));
    assert!(std::fs::read_dir(&queue_dir).unwrap().count() >= 2, "the queue is on disk");

    server.restart();
    sim.core.checkin().unwrap();
    assert!(sim.core.spool.is_empty());
    assert!(sim.core.spool.gap().is_none());
    let gaps = server.get_json(&format!("/api/v1/agents/{agent_id}/gaps"));
    assert_eq!(gaps["gaps"][0]["dropped_items"], 2, "{gaps}");
    let stored = stored_hashes(&server);
    assert_eq!(stored[&agent_id]["storage"], sim.core.state.section_hashes["storage"], "the latest report arrived");
}

#[test]
fn unchanged_checkin_is_small_and_stores_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("srv"), false, &[]);
    let token = server.create_token("HQ", "1h", 10);
    let mut sim = simulate::enroll_all(&sim_options(&server, token, 1, true), &|_| {}).unwrap().remove(0);
    sim.core.collect_and_queue().unwrap();
    sim.core.checkin().unwrap();
    let first = sim.core.stats.last_body_bytes;
    // Same inventory again: nothing to queue, only a heartbeat with hashes.
    assert_eq!(sim.core.collect_and_queue().unwrap(), 0);
    let resp = sim.core.checkin().unwrap();
    assert!(resp.resend.is_empty());
    let heartbeat = sim.core.stats.last_body_bytes;
    eprintln!("full report {first} bytes, unchanged check-in {heartbeat} bytes");
    assert!(first > 50_000, "a Windows-sized report is large ({first})");
    assert!(heartbeat < 700, "unchanged check-in body is {heartbeat} bytes; with ~300 bytes of headers it must stay under 1 KB");
    // One change sends one section.
    sim.machine.generation.fetch_add(1, Ordering::Relaxed);
    assert_eq!(sim.core.collect_and_queue().unwrap(), 1);
}

#[test]
fn server_asks_again_for_sections_it_lost() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Server::start(&tmp.path().join("srv"), false, &[]);
    let token = server.create_token("HQ", "1h", 10);
    let mut sim = simulate::enroll_all(&sim_options(&server, token, 1, false), &|_| {}).unwrap().remove(0);
    sim.core.collect_and_queue().unwrap();
    sim.core.checkin().unwrap();
    // The operator restores an empty database (e.g. a lost disk): the
    // agent still believes the server has its sections.
    let state = sim.core.state.clone();
    let agent_id = sim.core.client.signer().unwrap().0.clone();
    server.kill();
    let db = server.data.join("lanward.db");
    let conn_sql = format!("DELETE FROM inventory_sections WHERE asset_id = (SELECT asset_id FROM agents WHERE id = '{agent_id}')");
    std::process::Command::new("python3")
        .args(["-c", &format!("import sqlite3;c=sqlite3.connect('{}');c.execute(\"{}\");c.commit()", db.display(), conn_sql)])
        .status()
        .unwrap();
    server.restart();
    let resp = sim.core.checkin().unwrap();
    assert!(resp.resend.contains(&"software".to_string()), "{:?}", resp.resend);
    // The agent's next step sends them, and the server is whole again.
    let (_, r) = sim.core.step();
    r.unwrap();
    assert_eq!(stored_hashes(&server)[&agent_id], state.section_hashes);
}

/// A TCP proxy to PostgreSQL that the test can cut and restore.
struct Proxy {
    port: u16,
    enabled: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<std::net::TcpStream>>>,
}

impl Proxy {
    fn start(upstream: String) -> Proxy {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let enabled = Arc::new(AtomicBool::new(true));
        let conns = Arc::new(Mutex::new(Vec::new()));
        let (e, c) = (enabled.clone(), conns.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if !e.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let Ok(server) = std::net::TcpStream::connect(&upstream) else { continue };
                let mut list = c.lock().unwrap();
                list.push(client.try_clone().unwrap());
                list.push(server.try_clone().unwrap());
                for (mut from, mut to) in [(client.try_clone().unwrap(), server.try_clone().unwrap()), (server, client)] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        Proxy { port, enabled, conns }
    }
    fn cut(&self) {
        self.enabled.store(false, Ordering::SeqCst);
        for c in self.conns.lock().unwrap().drain(..) {
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
    }
    fn restore(&self) {
        self.enabled.store(true, Ordering::SeqCst);
    }
}

#[test]
fn database_away_gives_503_and_agents_retry() {
    let Ok(pg) = std::env::var("LANWARD_TEST_PG") else {
        eprintln!("LANWARD_TEST_PG not set: skipped");
        return;
    };
    let cfg: postgres::Config = pg.parse().unwrap();
    let host = match cfg.get_hosts().first() {
        Some(postgres::config::Host::Tcp(h)) => h.clone(),
        _ => "127.0.0.1".into(),
    };
    let port = cfg.get_ports().first().copied().unwrap_or(5432);
    let user = cfg.get_user().unwrap_or("postgres").to_string();
    let db = cfg.get_dbname().unwrap_or("test").to_string();
    let schema = format!("lw_e2e_{}", std::process::id());
    let mut admin = postgres::Client::connect(&pg, postgres::NoTls).unwrap();
    admin.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}")).unwrap();

    let proxy = Proxy::start(format!("{host}:{port}"));
    let url = format!("postgres://{user}@127.0.0.1:{}/{db}?options=-c%20search_path%3D{schema}", proxy.port);
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("srv"), false, &["--database", &url]);
    let health = |s: &Server| match s.http().get(&format!("{}/api/v1/health", s.url)).call() {
        Ok(r) => r.status(),
        Err(ureq::Error::Status(c, _)) => c,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(health(&server), 200);
    let token = server.create_token("HQ", "1h", 10);
    let mut sim = simulate::enroll_all(&sim_options(&server, token, 1, false), &|_| {}).unwrap().remove(0);
    sim.core.collect_and_queue().unwrap();
    sim.core.checkin().unwrap();

    proxy.cut();
    assert_eq!(health(&server), 503);
    sim.machine.generation.fetch_add(1, Ordering::Relaxed);
    assert_eq!(sim.core.collect_and_queue().unwrap(), 1);
    match sim.core.checkin() {
        Err(ClientError::Unavailable(m)) => assert!(m.contains("503"), "{m}"),
        other => panic!("expected 503, got {other:?}"),
    }
    assert_eq!(sim.core.spool.len(), 1, "the report stays queued");

    proxy.restore();
    let mut ok = false;
    for _ in 0..20 {
        if sim.core.checkin().is_ok() {
            ok = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(ok, "the agent's retry succeeds once the database is back");
    assert!(sim.core.spool.is_empty());
    assert_eq!(health(&server), 200);
    let agent_id = sim.core.client.signer().unwrap().0.clone();
    assert_eq!(stored_hashes(&server)[&agent_id]["storage"], sim.core.state.section_hashes["storage"]);
    let log = std::fs::read_to_string(server.data.with_extension("log")).unwrap();
    assert!(!log.contains("panicked"), "the server must not panic");
    drop(server);
    let _ = admin.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
}
