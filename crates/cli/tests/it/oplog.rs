//! Operation logs end to end: the real agent's process source on this
//! machine, the sender, the server's store and search, and the audit of
//! every search.

use crate::support::*;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn search(server: &Server, query: &str) -> serde_json::Value {
    server.get_json(&format!("/api/v1/logs?{query}"))
}

#[test]
fn a_process_started_here_is_found_in_the_server_logs() {
    if unsafe { libc::geteuid() } != 0 {
        assert!(std::env::var_os("CI").is_none(), "CI runs as root: the process connector needs it");
        eprintln!("skipped: the netlink process connector needs root");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("srv"), false, &[]);
    let token = server.create_token("HQ", "1h", 5);
    let a = tmp.path().join("agent");
    let out = agent(&["enroll", "--server", &server.url, "--token", &token], &a);
    assert!(out.status.success(), "enrol: {}", stderr(&out));
    let mut running = Command::new(agent_bin())
        .args(["run", "--splay", "0", "--data"])
        .arg(&a)
        .env("LANWARD_AGENT_EVENTS_INTERVAL_SECS", "1")
        .env("LANWARD_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(tmp.path().join("agent.log")).unwrap())
        .spawn()
        .unwrap();
    // Wait until the agent's sources run (its own start is the first event).
    let deadline = Instant::now() + Duration::from_secs(30);
    while search(&server, "kind=service_start&limit=1")["total"].as_u64() == Some(0) {
        assert!(Instant::now() < deadline, "no events from the agent: {}", std::fs::read_to_string(tmp.path().join("agent.log")).unwrap_or_default());
        std::thread::sleep(Duration::from_millis(300));
    }
    // A process with a recognisable command line.
    let marker = format!("0.{}", 100 + std::process::id() % 800);
    assert!(Command::new("/bin/sleep").arg(&marker).status().unwrap().success());
    let mut found = serde_json::Value::Null;
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let r = search(&server, &format!("kind=process_start&text={marker}"));
        if r["total"].as_u64().unwrap_or(0) > 0 {
            found = r;
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    // The stop of that same process comes too (the agent sends it in a
    // later batch, so wait for it before stopping the agent).
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim().to_string();
    let pid = found["events"][0]["pid"].as_u64();
    let mut stopped = false;
    let deadline = Instant::now() + Duration::from_secs(30);
    while pid.is_some() && !stopped && Instant::now() < deadline {
        let stops = search(&server, &format!("pc={hostname}&kind=process_stop&limit=1000"));
        stopped = stops["events"].as_array().unwrap().iter().any(|e| e["pid"].as_u64() == pid);
        if !stopped {
            std::thread::sleep(Duration::from_millis(300));
        }
    }
    let _ = running.kill();
    let _ = running.wait();
    assert!(stopped, "process_stop of pid {pid:?} on {hostname}");
    let event = &found["events"][0];
    assert_eq!(event["kind"], "process_start", "{found}");
    assert!(event["process"].as_str().unwrap_or("").ends_with("sleep"), "{event}");
    assert!(event["command_line"].as_str().unwrap_or("").contains(&marker), "{event}");
    assert_eq!(event["sha256"].as_str().map(str::len), Some(64), "{event}");
    assert_eq!(event["pc"], hostname.as_str());
    assert!(event["time"].as_str().unwrap().ends_with('Z'), "RFC 3339 times: {event}");

    // Every search is in the audit log: who, what, how many.
    let audit = server.get_json("/api/v1/audit?limit=1000");
    let searches: Vec<&serde_json::Value> = audit["entries"].as_array().unwrap().iter().filter(|e| e["action"] == "oplog.search").collect();
    assert!(searches.iter().any(|e| e["detail"].as_str().unwrap().contains(&format!("text={marker}")) && e["detail"].as_str().unwrap().contains("results=1")), "{searches:?}");
}

/// Bad batches are refused with a reason; a retried batch stores nothing
/// twice; a clock far ahead is filed at reception time.
#[test]
fn event_batches_are_checked_deduplicated_and_clamped() {
    let tmp = tempfile::tempdir().unwrap();
    batches_checked_deduplicated_and_clamped(&Server::start(&tmp.path().join("srv"), false, &[]));
}

/// The same with the operation logs in PostgreSQL (`--log-database`).
#[test]
fn event_batches_in_postgresql_are_checked_deduplicated_and_clamped() {
    let Ok(pg) = std::env::var("LANWARD_TEST_PG") else {
        eprintln!("LANWARD_TEST_PG not set: PostgreSQL run skipped");
        return;
    };
    let schema = format!("lw_oplog_e2e_{}", std::process::id());
    let mut admin = postgres::Client::connect(&pg, postgres::NoTls).unwrap();
    admin.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}")).unwrap();
    let url = if pg.starts_with("postgres://") || pg.starts_with("postgresql://") {
        format!("{pg}{}options=-c%20search_path%3D{schema}", if pg.contains('?') { "&" } else { "?" })
    } else {
        format!("{pg} options='-c search_path={schema}'")
    };
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("srv"), false, &["--log-database", &url]);
    batches_checked_deduplicated_and_clamped(&server);
    // The events are in PostgreSQL, none in the embedded engine's directory.
    let n: i64 = admin.query_one(&format!("SELECT count(*) FROM {schema}.oplog_events"), &[]).unwrap().get(0);
    assert_eq!(n, 3);
    assert!(!tmp.path().join("srv/oplog").exists());
    drop(server);
    admin.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).unwrap();
}

fn batches_checked_deduplicated_and_clamped(server: &Server) {
    use lanward_agent::client::ServerClient;
    use lanward_proto::oplog::{Detail, Event, EventAck, EventBatch, EventKind};
    let token = server.create_token("HQ", "1h", 5);
    let id = lanward_agent::client::enroll(&server.url, &token, "SUIDO-PC-0123", "windows", (None, vec![]), lanward_agent::identity::generate_key()).unwrap();
    let client = ServerClient::unauthenticated(&server.url, None).unwrap().with_signer(id.enrolment.agent_id.clone(), std::sync::Arc::new(id.key.clone()));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let ev = |seq: u64, at_ms: i64, title: &str| Event {
        seq,
        at_ms,
        kind: EventKind::ForegroundWindow,
        session_id: Some(1),
        user: Some("SUIDO\\tanaka".into()),
        detail: Some(Detail { title: Some(title.into()), process: Some("EXCEL.EXE".into()), ..Default::default() }),
    };
    let batch = EventBatch { events: vec![ev(1, now - 5000, "令和7年度 予算要求資料.xlsx - Excel"), ev(2, now - 4000, "個人情報 取扱台帳.xlsx - Excel"), ev(3, now + 30 * 86_400_000, &"長".repeat(5000))], dropped: None };
    let first: EventAck = client.post_json("/api/v1/agent/events", &batch).unwrap();
    assert_eq!((first.acked_through, first.stored, first.duplicates), (3, 3, 0));
    // The answer was lost: the same batch again stores nothing twice.
    let again: EventAck = client.post_json("/api/v1/agent/events", &batch).unwrap();
    assert_eq!((again.acked_through, again.stored, again.duplicates), (3, 0, 3));
    let all = search_all(server);
    assert_eq!(all["total"], 3, "{all}");
    // Japanese two-character words are found.
    assert_eq!(server.get_json("/api/v1/logs?from=2000-01-01&text=%E4%BA%88%E7%AE%97")["total"], 1);
    // The future event was filed at reception time, its title clipped, with the reason.
    let long = all["events"].as_array().unwrap().iter().find(|e| e["title"].as_str().is_some_and(|t| t.starts_with('長'))).unwrap().clone();
    assert!(long["title"].as_str().unwrap().chars().count() <= 513);
    assert!(long["reason"].as_str().unwrap().contains("時刻"), "{long}");

    // Events out of order are refused, naming them.
    let bad = EventBatch { events: vec![ev(5, now, "a"), ev(4, now, "b")], dropped: None };
    let err = client.post_json::<_, EventAck>("/api/v1/agent/events", &bad).unwrap_err().to_string();
    assert!(err.contains("seq_order") || err.contains("昇順"), "{err}");
}

fn search_all(server: &Server) -> serde_json::Value {
    server.get_json("/api/v1/logs?from=2000-01-01&to=2100-01-01&limit=100")
}

/// `lanward logs generate`: a working day of the bureau's PCs as JSON lines,
/// the same for the same seed, nothing on a Sunday.
#[test]
fn generated_streams_look_like_a_working_day() {
    let run = |from: &str| {
        let out = Command::new(lanward_bin()).args(["logs", "generate", "--pcs", "5", "--from", from, "--seed", "7"]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let friday = run("2026-11-27");
    assert_eq!(friday, run("2026-11-27"), "deterministic for a seed");
    assert!(run("2026-11-29").is_empty(), "no events on a Sunday");
    let events: Vec<serde_json::Value> = friday.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let per_pc = events.len() as f64 / 5.0;
    assert!((2000.0..3600.0).contains(&per_pc), "about 2,800 events per PC per day, got {per_pc}");
    let kinds: std::collections::BTreeSet<&str> = events.iter().filter_map(|e| e["kind"].as_str()).collect();
    for k in ["logon", "foreground_window", "process_start", "lock"] {
        assert!(kinds.contains(k), "{k} in {kinds:?}");
    }
    assert!(events.iter().any(|e| e["title"].as_str().is_some_and(|t| t.chars().any(|c| ('\u{3040}'..='\u{30ff}').contains(&c) || ('\u{4e00}'..='\u{9fff}').contains(&c)))), "Japanese window titles");
    // Within one PC the sequence grows by one and time never goes back.
    for pc in ["SUIDO-PC-0001", "SUIDO-PC-0005"] {
        let mine: Vec<&serde_json::Value> = events.iter().filter(|e| e["pc"] == pc).collect();
        let t = |e: &serde_json::Value| time::OffsetDateTime::parse(e["time"].as_str().unwrap(), &time::format_description::well_known::Rfc3339).unwrap();
        for w in mine.windows(2) {
            assert_eq!(w[1]["seq"].as_u64(), w[0]["seq"].as_u64().map(|s| s + 1), "{:?}", w);
            assert!(t(w[1]) >= t(w[0]), "{:?}", w);
        }
    }
}

/// Alert rules: USB storage in a department where it is forbidden raises
/// one alert per event (not again when the batch is resent), elsewhere none.
#[test]
fn alert_rules_raise_alerts_once() {
    use lanward_agent::client::ServerClient;
    use lanward_proto::oplog::{Detail, Event, EventAck, EventBatch, EventKind};
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("srv"), false, &[]);
    let http = server.http();
    let auth = format!("Bearer {}", server.token());
    let post = |path: &str, body: serde_json::Value| -> (u16, serde_json::Value) {
        match http.post(&format!("{}{path}", server.url)).set("authorization", &auth).send_json(body) {
            Ok(r) => (r.status(), r.into_json().unwrap_or_default()),
            Err(ureq::Error::Status(c, r)) => (c, r.into_json().unwrap_or_default()),
            Err(e) => panic!("{e}"),
        }
    };
    let (code, _) = post("/api/v1/alert-rules", serde_json::json!({"name": "配水課の USB メモリ", "kind": "device_connect", "department": "配水課", "device_class": "usb_storage"}));
    assert_eq!(code, 201);
    let (code, err) = post("/api/v1/alert-rules", serde_json::json!({"name": "全部", "department": "配水課"}));
    assert_eq!(code, 400, "a rule that would match every event is refused: {err}");

    let token = server.create_token("HQ", "1h", 5);
    let mut clients = Vec::new();
    for (host, dept) in [("SUIDO-PC-0201", "配水課"), ("SUIDO-PC-0202", "総務課")] {
        let id = lanward_agent::client::enroll(&server.url, &token, host, "windows", (None, vec![]), lanward_agent::identity::generate_key()).unwrap();
        let asset = server.get_json(&format!("/api/v1/assets?q={host}&view=summary"))["assets"][0]["id"].as_i64().unwrap();
        let r = http.request("PATCH", &format!("{}/api/v1/assets/{asset}", server.url)).set("authorization", &auth).send_json(serde_json::json!({"fields": {"department": dept}}));
        assert!(r.is_ok());
        clients.push(ServerClient::unauthenticated(&server.url, None).unwrap().with_signer(id.enrolment.agent_id.clone(), std::sync::Arc::new(id.key.clone())));
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let usb = |seq| Event {
        seq,
        at_ms: now,
        kind: EventKind::DeviceConnect,
        session_id: Some(1),
        user: Some("SUIDO\\tanaka".into()),
        detail: Some(Detail { device_class: Some("usb_storage".into()), vendor: Some("BUFFALO".into()), product: Some("RUF3-K32GA".into()), serial: Some("0123ABCD".into()), ..Default::default() }),
    };
    let batch = EventBatch { events: vec![usb(1)], dropped: None };
    for c in &clients {
        let _: EventAck = c.post_json("/api/v1/agent/events", &batch).unwrap();
    }
    let _: EventAck = clients[0].post_json("/api/v1/agent/events", &batch).unwrap();
    let alerts = server.get_json("/api/v1/alerts");
    let list = alerts["alerts"].as_array().unwrap();
    assert_eq!(list.len(), 1, "only the 配水課 PC, and once: {alerts}");
    assert_eq!(list[0]["pc"], "SUIDO-PC-0201");
    assert!(list[0]["summary"].as_str().unwrap().contains("BUFFALO"));
    let id = list[0]["id"].as_i64().unwrap();
    assert_eq!(post(&format!("/api/v1/alerts/{id}/ack"), serde_json::json!({})).0, 200);
    assert_eq!(server.get_json("/api/v1/alerts?open=true")["alerts"].as_array().unwrap().len(), 0);
    let audit = server.get_json("/api/v1/audit");
    assert!(audit["entries"].as_array().unwrap().iter().any(|e| e["action"] == "alert_rule.create"));
    assert!(audit["entries"].as_array().unwrap().iter().any(|e| e["action"] == "alert.acknowledge"));
}

fn total_events(server: &Server) -> u64 {
    let counts = server.get_json("/api/v1/logs/counts?from=2000-01-01&to=2100-01-01");
    counts["counts"].as_array().unwrap().iter().map(|c| c["count"].as_u64().unwrap()).sum()
}

/// SIGKILL of the server while an agent is sending: every acknowledged
/// event is there after restart, and once the agent resends from its last
/// acknowledgement, every event is stored exactly once.
#[test]
fn sigkill_during_event_ingest_loses_nothing_acknowledged_and_stores_nothing_twice() {
    use lanward_agent::client::ServerClient;
    use lanward_proto::oplog::{Detail, Event, EventAck, EventBatch, EventKind};
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Server::start(&tmp.path().join("srv"), false, &[]);
    let token = server.create_token("HQ", "1h", 5);
    let id = lanward_agent::client::enroll(&server.url, &token, "SUIDO-PC-0300", "windows", (None, vec![]), lanward_agent::identity::generate_key()).unwrap();
    let client = ServerClient::unauthenticated(&server.url, None).unwrap().with_signer(id.enrolment.agent_id.clone(), std::sync::Arc::new(id.key.clone()));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    const BATCH: u64 = 400;
    const BATCHES: u64 = 60;
    let batch = move |b: u64| EventBatch {
        events: (b * BATCH + 1..=(b + 1) * BATCH)
            .map(|seq| Event {
                seq,
                at_ms: now - 3_600_000 + seq as i64,
                kind: EventKind::ForegroundWindow,
                session_id: Some(1),
                user: Some("SUIDO\\sato".into()),
                detail: Some(Detail { title: Some(format!("配水管更新計画（案）第{seq}版.docx - Word")), process: Some("WINWORD.EXE".into()), ..Default::default() }),
            })
            .collect(),
        dropped: None,
    };
    // Send from a thread; kill the server while it is busy (a third in).
    let progress = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let sender = {
        let (client, progress) = (client.clone(), progress.clone());
        std::thread::spawn(move || {
            let mut acked = 0u64;
            for b in 0..BATCHES {
                match client.post_json::<_, EventAck>("/api/v1/agent/events", &batch(b)) {
                    Ok(ack) => {
                        acked = ack.acked_through;
                        progress.store(acked, std::sync::atomic::Ordering::SeqCst);
                    }
                    Err(_) => break,
                }
            }
            acked
        })
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while progress.load(std::sync::atomic::Ordering::SeqCst) < BATCHES * BATCH / 3 {
        assert!(std::time::Instant::now() < deadline, "ingest too slow");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    server.kill();
    let acked = sender.join().unwrap();
    server.restart();
    let after = total_events(&server);
    assert!(after >= acked, "acknowledged {acked}, found {after} after SIGKILL");
    assert!(acked < BATCHES * BATCH, "the kill came mid-stream (acked {acked})");
    // The agent resends from its last acknowledgement, as the real sender does.
    let mut last = acked;
    for b in acked / BATCH..BATCHES {
        let ack: EventAck = client.post_json("/api/v1/agent/events", &batch(b)).unwrap();
        last = ack.acked_through;
    }
    assert_eq!(last, BATCHES * BATCH);
    assert_eq!(total_events(&server), BATCHES * BATCH, "every event once");
}

/// A damaged partition file is reported at start and by the API; searches
/// skip it and the other days stay searchable.
#[test]
fn a_damaged_partition_is_reported_and_the_rest_stays_searchable() {
    use lanward_agent::client::ServerClient;
    use lanward_proto::oplog::{Detail, Event, EventAck, EventBatch, EventKind};
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Server::start(&tmp.path().join("srv"), false, &[]);
    let token = server.create_token("HQ", "1h", 5);
    let id = lanward_agent::client::enroll(&server.url, &token, "SUIDO-PC-0400", "windows", (None, vec![]), lanward_agent::identity::generate_key()).unwrap();
    let client = ServerClient::unauthenticated(&server.url, None).unwrap().with_signer(id.enrolment.agent_id.clone(), std::sync::Arc::new(id.key.clone()));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let day = 86_400_000;
    // Two days, 300 events each, with titles that repeat little.
    let events: Vec<Event> = (1..=600u64)
        .map(|seq| Event {
            seq,
            // Noon (UTC) of each day: ten minutes of events never cross midnight, whenever the test runs.
            at_ms: if seq <= 300 { (now - 3 * day) / day * day } else { (now - day) / day * day } + day / 2 + seq as i64 * 1000,
            kind: EventKind::ForegroundWindow,
            session_id: Some(1),
            user: Some("SUIDO\\kato".into()),
            detail: Some(Detail { title: Some(format!("{} 起案文書 {seq}.docx - Word", if seq <= 300 { "古い" } else { "新しい" })), ..Default::default() }),
        })
        .collect();
    let _: EventAck = client.post_json("/api/v1/agent/events", &EventBatch { events, dropped: None }).unwrap();
    // A clean stop writes the day partitions.
    let pid = server.child.as_ref().unwrap().id() as i32;
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let _ = server.child.take().unwrap().wait();
    let oplog_dir = server.data.join("oplog");
    let mut segments: Vec<std::path::PathBuf> = std::fs::read_dir(&oplog_dir)
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .flat_map(|d| std::fs::read_dir(d.path()).unwrap().flatten().map(|f| f.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "lws"))
        .collect();
    segments.sort();
    assert_eq!(segments.len(), 2, "one segment per day: {segments:?}");
    // Damage the older day's segment in its middle.
    let mut bytes = std::fs::read(&segments[0]).unwrap();
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid..mid + 64] {
        *b ^= 0xA5;
    }
    std::fs::write(&segments[0], bytes).unwrap();
    server.restart();
    let newer = server.get_json("/api/v1/logs?from=2000-01-01&to=2100-01-01&text=%E6%96%B0%E3%81%97%E3%81%84&limit=1000");
    assert_eq!(newer["total"], 300, "the undamaged day is whole: {}", newer["total"]);
    let status = server.get_json("/api/v1/logs/partitions");
    // Damage may be found at open or at the first read of the block.
    let _ = server.get_json("/api/v1/logs?from=2000-01-01&to=2100-01-01&text=%E5%8F%A4%E3%81%84&limit=10");
    let status_after = server.get_json("/api/v1/logs/partitions");
    let damaged = if status["damaged"].as_array().unwrap().is_empty() { status_after["damaged"].clone() } else { status["damaged"].clone() };
    assert_eq!(damaged.as_array().unwrap().len(), 1, "{status_after}");
}

/// The agent dropped events at its cap while the server was away for a
/// week: the server records the gap once, with the count the agent reported.
#[test]
fn events_dropped_at_the_cap_are_recorded_as_a_gap_once() {
    use lanward_agent::client::ServerClient;
    use lanward_proto::oplog::{DroppedEvents, Event, EventAck, EventBatch, EventKind};
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("srv"), false, &[]);
    let token = server.create_token("HQ", "1h", 5);
    let id = lanward_agent::client::enroll(&server.url, &token, "SUIDO-PC-0500", "windows", (None, vec![]), lanward_agent::identity::generate_key()).unwrap();
    let client = ServerClient::unauthenticated(&server.url, None).unwrap().with_signer(id.enrolment.agent_id.clone(), std::sync::Arc::new(id.key.clone()));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let ev = |seq: u64| Event { seq, at_ms: now - 7 * 86_400_000 + seq as i64 * 60_000, kind: EventKind::Lock, session_id: Some(1), user: Some("SUIDO\\ito".into()), detail: None };
    let _: EventAck = client.post_json("/api/v1/agent/events", &EventBatch { events: (1..=10).map(ev).collect(), dropped: None }).unwrap();
    // Events 11..=4010 went at the cap; the rest of the week arrives.
    let batch = EventBatch {
        events: (4011..=4020).map(ev).collect(),
        dropped: Some(DroppedEvents { count: 4000, first_seq: Some(11), last_seq: Some(4010), last_dropped_at_ms: now - 86_400_000 }),
    };
    let ack: EventAck = client.post_json("/api/v1/agent/events", &batch).unwrap();
    assert_eq!((ack.acked_through, ack.stored), (4020, 10));
    let gaps = server.get_json(&format!("/api/v1/agents/{}/gaps", id.enrolment.agent_id));
    let gaps = gaps["gaps"].as_array().unwrap();
    assert_eq!(gaps.len(), 1, "the dropped range is counted once: {gaps:?}");
    assert_eq!(gaps[0]["dropped_items"], 4000);
}
