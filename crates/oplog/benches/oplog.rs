//! Operation-log store benchmark (issue 5): our embedded engine, SQLite with
//! an FTS5 trigram index, and ClickHouse (chdb) on the same generated events;
//! PostgreSQL (`PgEventStore`) too when LANWARD_TEST_PG is set (a PostgreSQL
//! URL; the bench works in a schema `lanward_oplog_bench` it drops first).
//!
//!   LANWARD_BENCH_EVENTS=20000000 cargo bench -p lanward-oplog --bench oplog
//!
//! Also: LANWARD_BENCH_DIR (default /tmp/lanward-oplog-bench), LANWARD_BENCH_SKIP=sqlite,chdb,pg.

use lanward_oplog::embedded::{days_from_civil, EmbeddedStore};
use lanward_oplog::postgres::PgEventStore;
use lanward_oplog::generate::{hostname, Generator};
use lanward_oplog::{EventStore, IncomingEvent, Query};
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::time::Instant;

const DAY: i64 = 86_400_000;
const JST: i64 = 9 * 3_600_000;
const PCS: usize = 700;
const WORDS: &[&str] = &["予算", "至急", "個人情報", "予算要求資料", "setup.exe", "DropboxInstaller", "受付番号 4242"];

fn env_n() -> usize { std::env::var("LANWARD_BENCH_EVENTS").ok().and_then(|s| s.parse().ok()).unwrap_or(20_000_000) }

fn dir_size(p: &Path) -> u64 {
    let mut n = 0;
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            let m = e.metadata().unwrap();
            n += if m.is_dir() { dir_size(&e.path()) } else { m.len() };
        }
    }
    n
}

fn vm_hwm_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    if v.is_empty() {
        return f64::NAN;
    }
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn gen(n: usize, first_day: i64) -> impl Iterator<Item = (String, IncomingEvent)> {
    let days = (n / (PCS * 2700) + 2) as u32 * 7 / 5 + 2;
    Generator::new(42, PCS, first_day, days, 2800.0).take(n)
}

struct Row {
    ingest: f64,
    bytes: f64,
    rss_mb: f64,
    a: (f64, f64),
    b: Vec<(f64, f64)>,
    c: (f64, f64),
}

fn timeline_queries(first: i64, last: i64) -> Vec<(String, i64, i64)> {
    let mut r = lanward_oplog::generate::Rng::new(9);
    let mut v = Vec::new();
    while v.len() < 20 {
        let d = first + r.below((last - first + 1) as u64) as i64;
        let dow = (d + 4).rem_euclid(7);
        if dow == 0 || dow == 6 {
            continue;
        }
        v.push((hostname(r.below(PCS as u64) as usize), d * DAY - JST, (d + 1) * DAY - JST));
    }
    v
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let n = env_n();
    let root = std::path::PathBuf::from(std::env::var("LANWARD_BENCH_DIR").unwrap_or("/tmp/lanward-oplog-bench".into()));
    let skip = std::env::var("LANWARD_BENCH_SKIP").unwrap_or_default();
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let first_day = days_from_civil(2026, 4, 6);
    eprintln!("generating and ingesting {n} events ({PCS} PCs)…");

    // --- ours ---------------------------------------------------------------
    let ours_dir = root.join("ours");
    let store = EmbeddedStore::open(&ours_dir).unwrap();
    let mut per_agent: HashMap<String, Vec<IncomingEvent>> = HashMap::new();
    let mut pending: Vec<(String, Vec<IncomingEvent>)> = Vec::new();
    let mut pending_n = 0;
    let mut busy = std::time::Duration::ZERO;
    let (mut min_t, mut max_t) = (i64::MAX, i64::MIN);
    let mut count = 0usize;
    let flush_pending = |pending: &mut Vec<(String, Vec<IncomingEvent>)>, busy: &mut std::time::Duration| {
        let refs: Vec<(&str, &[IncomingEvent])> = pending.iter().map(|(a, e)| (a.as_str(), e.as_slice())).collect();
        let t = Instant::now();
        store.append_many(&refs).unwrap();
        *busy += t.elapsed();
        pending.clear();
    };
    for (agent, e) in gen(n, first_day) {
        min_t = min_t.min(e.event.time_ms);
        max_t = max_t.max(e.event.time_ms);
        count += 1;
        let buf = per_agent.entry(agent.clone()).or_default();
        buf.push(e);
        if buf.len() >= 200 {
            // An agent's batch (about 20 minutes of a PC); the ingest thread commits ~50 of them per fsync.
            pending.push((agent, std::mem::take(buf)));
            pending_n += 200;
            if pending_n >= 10_000 {
                flush_pending(&mut pending, &mut busy);
                pending_n = 0;
            }
        }
        if count.is_multiple_of(5_000_000) {
            eprintln!("  {count} events, {:.0}/s in the store", count as f64 / busy.as_secs_f64());
        }
    }
    for (a, buf) in per_agent.drain() {
        if !buf.is_empty() {
            pending.push((a, buf));
        }
    }
    flush_pending(&mut pending, &mut busy);
    let t = Instant::now();
    store.flush().unwrap();
    busy += t.elapsed();
    let ours_rss = vm_hwm_kb() as f64 / 1024.0;
    let ours_bytes = dir_size(&ours_dir) as f64 / count as f64;
    let ours_ingest = count as f64 / busy.as_secs_f64();
    eprintln!("ours: {ours_ingest:.0} events/s, {ours_bytes:.1} B/event, peak RSS {ours_rss:.0} MB");

    let (fd, ld) = (min_t.div_euclid(DAY), max_t.div_euclid(DAY));
    let tl = timeline_queries(fd, ld);
    let month = (fd * DAY, (fd + 30) * DAY);
    let all = Query { from_ms: min_t, to_ms: max_t + 1, limit: 100, newest_first: true, ..Default::default() };
    let mut a = Vec::new();
    for (pc, f, t) in &tl {
        let s = Instant::now();
        let r = store.search(&Query { from_ms: *f, to_ms: *t, pcs: vec![pc.clone()], limit: 10_000, ..Default::default() }).unwrap();
        a.push(s.elapsed().as_secs_f64() * 1e3);
        assert!(r.events.len() < 10_000);
    }
    let mut b = Vec::new();
    let mut hits = Vec::new();
    for w in WORDS {
        let mut ts = Vec::new();
        let mut total = 0;
        for _ in 0..5 {
            let s = Instant::now();
            let r = store.search(&Query { text: Some(w.to_string()), ..all.clone() }).unwrap();
            ts.push(s.elapsed().as_secs_f64() * 1e3);
            total = r.total;
        }
        hits.push(total);
        b.push((pct(&mut ts, 0.5), pct(&mut ts, 0.95)));
    }
    let mut c = Vec::new();
    for _ in 0..10 {
        let s = Instant::now();
        store.counts_by_kind_per_day(month.0, month.1, None).unwrap();
        c.push(s.elapsed().as_secs_f64() * 1e3);
    }
    let ours = Row { ingest: ours_ingest, bytes: ours_bytes, rss_mb: ours_rss, a: (pct(&mut a, 0.5), pct(&mut a, 0.95)), b, c: (pct(&mut c, 0.5), pct(&mut c, 0.95)) };
    let partitions = store.partitions().unwrap().len();
    drop(store);

    // --- PostgreSQL (PgEventStore) ---------------------------------------------
    let pg_row = match std::env::var("LANWARD_TEST_PG") {
        Ok(url) if !skip.contains("pg") => Some(bench_pg(&url, n, first_day, &tl, month, &all)),
        _ => None,
    };

    // --- SQLite FTS5 trigram + TSV for ClickHouse -----------------------------
    let tsv_path = root.join("events.tsv");
    let want_sqlite = !skip.contains("sqlite");
    let want_ch = !skip.contains("chdb") && std::process::Command::new("python3").args(["-c", "import chdb"]).status().map(|s| s.success()).unwrap_or(false);
    let mut sqlite_row = None;
    let mut ch_row = None;
    if want_sqlite || want_ch {
        let db_path = root.join("sqlite.db");
        let conn = rusqlite::Connection::open(&db_path).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;
             CREATE TABLE ev(id INTEGER PRIMARY KEY, t INTEGER NOT NULL, pc TEXT NOT NULL, usr TEXT, kind INTEGER NOT NULL, texts TEXT NOT NULL, nums TEXT);
             CREATE INDEX ev_pc_t ON ev(pc, t);
             CREATE INDEX ev_t ON ev(t);
             CREATE VIRTUAL TABLE ev_fts USING fts5(texts, content='ev', content_rowid='id', tokenize='trigram');",
        )
        .unwrap();
        let mut tsv = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&tsv_path).unwrap());
        let esc = |s: &Option<String>| s.as_deref().unwrap_or("").replace('\\', "\\\\").replace('\t', "\\t").replace('\n', "\\n");
        let mut sq_busy = std::time::Duration::ZERO;
        let mut id = 0i64;
        let mut batch: Vec<(String, IncomingEvent)> = Vec::with_capacity(50_000);
        let sq_flush = |batch: &mut Vec<(String, IncomingEvent)>, id: &mut i64, busy: &mut std::time::Duration| {
            if !want_sqlite {
                batch.clear();
                return;
            }
            let s = Instant::now();
            conn.execute_batch("BEGIN").unwrap();
            {
                let mut ins = conn.prepare_cached("INSERT INTO ev(id,t,pc,usr,kind,texts,nums) VALUES (?1,?2,?3,?4,?5,?6,?7)").unwrap();
                let mut fts = conn.prepare_cached("INSERT INTO ev_fts(rowid, texts) VALUES (?1, ?2)").unwrap();
                for (_, e) in batch.iter() {
                    *id += 1;
                    let d = &e.event.detail;
                    let texts: Vec<&str> = [&d.title, &d.process, &d.sha256, &d.command_line, &d.parent, &d.path, &d.target_path, &d.device_class, &d.vendor, &d.product, &d.serial, &d.printer, &d.document, &d.via, &d.reason]
                        .into_iter()
                        .map(|s| s.as_deref().unwrap_or(""))
                        .collect();
                    let texts = texts.join("\u{1f}");
                    let nums = format!("{:?},{:?},{:?},{:?},{:?}", d.pid, d.dwell_ms, d.started_at_ms, d.size_bytes, d.pages);
                    ins.execute(rusqlite::params![*id, e.event.time_ms, e.event.pc, e.event.user, e.event.kind.code(), texts, nums]).unwrap();
                    fts.execute(rusqlite::params![*id, texts]).unwrap();
                }
            }
            conn.execute_batch("COMMIT").unwrap();
            *busy += s.elapsed();
            batch.clear();
        };
        for (agent, e) in gen(n, first_day) {
            if want_ch {
                let ev = &e.event;
                let d = &ev.detail;
                let n0 = |x: Option<u64>| x.unwrap_or(0);
                writeln!(
                    tsv,
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    format_args!("{}.{:03}", ev.time_ms.div_euclid(1000), ev.time_ms.rem_euclid(1000)),
                    ev.pc,
                    esc(&ev.user),
                    ev.kind.as_str(),
                    esc(&d.title),
                    esc(&d.process),
                    esc(&d.sha256),
                    esc(&d.command_line),
                    n0(d.pid.map(|x| x as u64)),
                    esc(&d.parent),
                    n0(d.dwell_ms),
                    d.started_at_ms.unwrap_or(0),
                    esc(&d.path),
                    esc(&d.target_path),
                    n0(d.size_bytes),
                    esc(&d.device_class),
                    esc(&d.vendor),
                    esc(&d.product),
                    esc(&d.serial),
                    esc(&d.printer),
                    esc(&d.document),
                    n0(d.pages.map(|x| x as u64)),
                    esc(&d.via),
                    esc(&d.reason),
                )
                .unwrap();
            }
            let _ = agent;
            batch.push((String::new(), e));
            if batch.len() == 50_000 {
                sq_flush(&mut batch, &mut id, &mut sq_busy);
                if id % 5_000_000 == 0 {
                    eprintln!("  sqlite: {id} events, {:.0}/s", id as f64 / sq_busy.as_secs_f64());
                }
            }
        }
        sq_flush(&mut batch, &mut id, &mut sq_busy);
        tsv.flush().unwrap();
        drop(tsv);
        if want_sqlite {
            conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)").unwrap();
            let bytes = (dir_size(&root) - std::fs::metadata(&tsv_path).map(|m| m.len()).unwrap_or(0) - dir_size(&ours_dir)) as f64 / count as f64;
            let ingest = count as f64 / sq_busy.as_secs_f64();
            eprintln!("sqlite: {ingest:.0} events/s, {bytes:.1} B/event");
            let mut a = Vec::new();
            for (pc, f, t) in &tl {
                let s = Instant::now();
                let mut st = conn.prepare_cached("SELECT t, pc, usr, kind, texts, nums FROM ev WHERE pc=?1 AND t>=?2 AND t<?3 ORDER BY t").unwrap();
                let k = st.query_map(rusqlite::params![pc, f, t], |r| r.get::<_, i64>(0)).unwrap().count();
                a.push(s.elapsed().as_secs_f64() * 1e3);
                let _ = k;
            }
            let mut b = Vec::new();
            for w in WORDS {
                // The trigram index answers words of 3+ characters; shorter ones are a LIKE scan.
                let chars = w.chars().count();
                let runs = if chars >= 3 { 5 } else { 1 };
                let mut ts = Vec::new();
                for _ in 0..runs {
                    let s = Instant::now();
                    let sql = if chars >= 3 {
                        "SELECT ev.t, ev.pc, ev.texts FROM ev_fts JOIN ev ON ev.id = ev_fts.rowid WHERE ev_fts MATCH ?1 ORDER BY ev.t DESC LIMIT 100"
                    } else {
                        "SELECT t, pc, texts FROM ev WHERE texts LIKE '%' || ?1 || '%' ORDER BY t DESC LIMIT 100"
                    };
                    let arg = if chars >= 3 { w.split_whitespace().map(|x| format!("\"{x}\"")).collect::<Vec<_>>().join(" ") } else { w.to_string() };
                    let mut st = conn.prepare_cached(sql).unwrap();
                    let _k = st.query_map([arg], |r| r.get::<_, i64>(0)).unwrap().count();
                    ts.push(s.elapsed().as_secs_f64() * 1e3);
                }
                b.push((pct(&mut ts, 0.5), pct(&mut ts, 0.95)));
            }
            let mut c = Vec::new();
            for _ in 0..3 {
                let s = Instant::now();
                let mut st = conn.prepare_cached("SELECT t / 86400000, kind, count(*) FROM ev WHERE t >= ?1 AND t < ?2 GROUP BY 1, 2").unwrap();
                let _k = st.query_map([month.0, month.1], |r| r.get::<_, i64>(0)).unwrap().count();
                c.push(s.elapsed().as_secs_f64() * 1e3);
            }
            sqlite_row = Some(Row { ingest, bytes, rss_mb: f64::NAN, a: (pct(&mut a, 0.5), pct(&mut a, 0.95)), b, c: (pct(&mut c, 0.5), pct(&mut c, 0.95)) });
        }
        drop(conn);
        if want_ch {
            let qpath = root.join("queries.json");
            let q = format!(
                "{{\"timeline\": [{}], \"words\": [{}], \"month\": [{}, {}]}}",
                tl.iter().map(|(p, f, t)| format!("[\"{p}\", {f}, {t}]")).collect::<Vec<_>>().join(","),
                WORDS.iter().map(|w| format!("\"{w}\"")).collect::<Vec<_>>().join(","),
                month.0,
                month.1
            );
            std::fs::write(&qpath, q).unwrap();
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/chdb_bench.py");
            eprintln!("clickhouse (chdb)…");
            let out = std::process::Command::new("python3").arg(script).arg(&tsv_path).arg(root.join("chdb")).arg(&qpath).output().unwrap();
            if out.status.success() {
                let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
                let arr = |x: &serde_json::Value| -> Vec<f64> { x.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect() };
                let mut a = arr(&v["a"]);
                let mut c = arr(&v["c"]);
                let b = WORDS.iter().map(|w| {
                    let mut t = arr(&v["b"][*w]);
                    (pct(&mut t, 0.5), pct(&mut t, 0.95))
                });
                ch_row = Some(Row {
                    ingest: v["rows"].as_f64().unwrap() / v["ingest_s"].as_f64().unwrap(),
                    bytes: v["disk"].as_f64().unwrap() / v["rows"].as_f64().unwrap(),
                    rss_mb: v["rss_kb"].as_f64().unwrap() / 1024.0,
                    a: (pct(&mut a, 0.5), pct(&mut a, 0.95)),
                    b: b.collect(),
                    c: (pct(&mut c, 0.5), pct(&mut c, 0.95)),
                });
            } else {
                eprintln!("chdb failed: {}", String::from_utf8_lossy(&out.stderr));
            }
        }
    }

    // --- table ----------------------------------------------------------------
    let cols = [
        ("lanward embedded", Some(&ours)),
        ("PostgreSQL (PgEventStore)", pg_row.as_ref()),
        ("SQLite FTS5 trigram", sqlite_row.as_ref()),
        ("ClickHouse (chdb)", ch_row.as_ref()),
    ];
    println!("\n{count} events, {PCS} PCs, {partitions} day partitions; latencies p50 / p95 in ms");
    print!("{:<34}", "");
    for (name, _) in &cols {
        print!("| {name:<26}");
    }
    println!();
    let line = |label: &str, f: &dyn Fn(&Row) -> String| {
        print!("{label:<34}");
        for (_, r) in &cols {
            print!("| {:<26}", r.map(f).unwrap_or_else(|| "not run".into()));
        }
        println!();
    };
    line("ingest (events/s)", &|r| format!("{:.0}", r.ingest));
    line("bytes on disk / event (w/ index)", &|r| format!("{:.1}", r.bytes));
    line("peak RSS while ingesting (MB)", &|r| if r.rss_mb.is_nan() { "(in-process)".into() } else { format!("{:.0}", r.rss_mb) });
    line("(a) one PC's JST day timeline", &|r| format!("{:.1} / {:.1}", r.a.0, r.a.1));
    for (i, w) in WORDS.iter().enumerate() {
        let label = if i == 0 { format!("(b) \"{w}\" ({} hits)", hits[i]) } else { format!("    \"{w}\" ({} hits)", hits[i]) };
        line(&label, &|r| format!("{:.1} / {:.1}", r.b[i].0, r.b[i].1));
    }
    line("(c) counts by kind/day, 30 days", &|r| format!("{:.1} / {:.1}", r.c.0, r.c.1));
    let scale = 1.4e9 / count as f64;
    println!("\nExtrapolation to 1.4 billion events (x{scale:.0}):");
    for (name, r) in &cols {
        if let Some(r) = r {
            let worst_b = r.b.iter().map(|x| x.0).fold(0.0, f64::max);
            // The rarest word (last in WORDS) must visit every partition: its
            // time grows with the data. Common words stop at a page and a
            // bounded count (embedded: 10,000 matches or 300 ms), so for them
            // the linear figure is an upper bound, not a forecast.
            let rare = r.b.last().map_or(0.0, |x| x.0);
            println!(
                "  {name:<26} disk {:>7.1} GB; (b) worst word {:.0} ms now (at most {:.0} ms if it grew linearly); rarest word {:.0} ms now, about {:.0} ms at 1.4 billion",
                r.bytes * 1.4e9 / 1e9,
                worst_b,
                worst_b * scale,
                rare,
                rare * scale
            );
        }
    }
}

/// The same ingest (200-event agent batches, ~10,000 events per group commit)
/// and the same queries as for the embedded engine, through `EventStore`.
fn bench_pg(url: &str, n: usize, first_day: i64, tl: &[(String, i64, i64)], month: (i64, i64), all: &Query) -> Row {
    const SCHEMA: &str = "lanward_oplog_bench";
    let mut admin = postgres::Client::connect(url, postgres::NoTls).unwrap();
    admin.batch_execute(&format!("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE; CREATE SCHEMA {SCHEMA}")).unwrap();
    let store_url = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        format!("{url}{}options=-c%20search_path%3D{SCHEMA}", if url.contains('?') { "&" } else { "?" })
    } else {
        format!("{url} options='-c search_path={SCHEMA}'")
    };
    let store = PgEventStore::connect(&store_url).unwrap();
    eprintln!("postgres: ingesting…");
    let mut per_agent: HashMap<String, Vec<IncomingEvent>> = HashMap::new();
    let mut pending: Vec<(String, Vec<IncomingEvent>)> = Vec::new();
    let mut pending_n = 0;
    let mut busy = std::time::Duration::ZERO;
    let mut count = 0usize;
    let flush = |pending: &mut Vec<(String, Vec<IncomingEvent>)>, busy: &mut std::time::Duration| {
        let refs: Vec<(&str, &[IncomingEvent])> = pending.iter().map(|(a, e)| (a.as_str(), e.as_slice())).collect();
        let t = Instant::now();
        store.append_many(&refs).unwrap();
        *busy += t.elapsed();
        pending.clear();
    };
    for (agent, e) in gen(n, first_day) {
        count += 1;
        let buf = per_agent.entry(agent.clone()).or_default();
        buf.push(e);
        if buf.len() >= 200 {
            pending.push((agent, std::mem::take(buf)));
            pending_n += 200;
            if pending_n >= 10_000 {
                flush(&mut pending, &mut busy);
                pending_n = 0;
            }
        }
        if count.is_multiple_of(1_000_000) {
            eprintln!("  postgres: {count} events, {:.0}/s", count as f64 / busy.as_secs_f64());
        }
    }
    for (a, buf) in per_agent.drain() {
        if !buf.is_empty() {
            pending.push((a, buf));
        }
    }
    flush(&mut pending, &mut busy);
    let ingest = count as f64 / busy.as_secs_f64();
    // Statistics for the planner, as autovacuum would gather them soon after (not counted as ingest).
    let t = Instant::now();
    // (Two calls: several statements in one would run as one transaction, where VACUUM cannot.)
    admin.batch_execute(&format!("SET search_path = {SCHEMA}")).unwrap();
    admin.batch_execute("VACUUM ANALYZE").unwrap();
    eprintln!("postgres: VACUUM ANALYZE {:.1} s", t.elapsed().as_secs_f64());
    let bytes: i64 = admin
        .query_one(
            "SELECT sum(pg_total_relation_size(c.oid))::BIGINT FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
             WHERE s.nspname = $1 AND c.relkind = 'r'",
            &[&SCHEMA],
        )
        .unwrap()
        .get(0);
    let bytes = bytes as f64 / count as f64;
    eprintln!("postgres: {ingest:.0} events/s, {bytes:.1} B/event");
    let mut a = Vec::new();
    for (pc, f, t) in tl {
        let s = Instant::now();
        let r = store.search(&Query { from_ms: *f, to_ms: *t, pcs: vec![pc.clone()], limit: 10_000, ..Default::default() }).unwrap();
        a.push(s.elapsed().as_secs_f64() * 1e3);
        assert!(r.events.len() < 10_000);
    }
    let mut b = Vec::new();
    for w in WORDS {
        let mut ts = Vec::new();
        for _ in 0..5 {
            let s = Instant::now();
            store.search(&Query { text: Some(w.to_string()), ..all.clone() }).unwrap();
            ts.push(s.elapsed().as_secs_f64() * 1e3);
        }
        b.push((pct(&mut ts, 0.5), pct(&mut ts, 0.95)));
    }
    let mut c = Vec::new();
    for _ in 0..10 {
        let s = Instant::now();
        store.counts_by_kind_per_day(month.0, month.1, None).unwrap();
        c.push(s.elapsed().as_secs_f64() * 1e3);
    }
    Row { ingest, bytes, rss_mb: f64::NAN, a: (pct(&mut a, 0.5), pct(&mut a, 0.95)), b, c: (pct(&mut c, 0.5), pct(&mut c, 0.95)) }
}
