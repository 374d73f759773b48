//! `cargo bench -p lanward-bench --bench ledger`: the asset list at 20,000
//! assets (issue target: a filtered search answers in under 100 ms), on
//! SQLite and, when LANWARD_TEST_PG is set, on PostgreSQL (own schema).
//!
//! The ledger is filled through the store as the server fills it: assets by
//! `Store::apply_ledger` (bureau-like data, BUREAU.md), then agents for part
//! of the PCs by `enroll_agent` + `apply_checkins` + `touch_agents` (so that
//! the OS filter and the last-seen sort have something to find). Then each
//! query is timed through `Store::list_assets` (what the console calls, no
//! sections) and end to end through HTTP (`GET /api/v1/assets?view=summary`
//! on the in-process server over the same database).
//!
//! Knobs: LANWARD_BENCH_ASSETS (default 20000), LANWARD_BENCH_LEDGER_AGENTS
//! (PCs with an agent, default 4000), LANWARD_BENCH_RUNS (default 30),
//! LANWARD_BENCH_ONLY (`sqlite` or `postgres`), LANWARD_BENCH_KEEP (keep the
//! PostgreSQL schema afterwards, to EXPLAIN the queries by hand).

use lanward_bench::BenchServer;
use lanward_store::{AssetQuery, AssetSort, CheckinWrite, DynStore, EnrollAgent, EnrollOutcome, FieldChange, LedgerWrite, NewEnrollmentToken, SiteRecord};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TARGET_MS: f64 = 100.0;

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

// The bureau's sites and departments, as the simulated agents use them (BUREAU.md).
use lanward_agent::collect::fake::{DEPARTMENTS, SITES};

const SURNAMES: &[&str] = &[
    "佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤", "吉田", "山田", "佐々木", "山口", "松本", "井上", "木村", "林", "斎藤", "清水",
];
const GIVEN: &[&str] = &["太郎", "花子", "一郎", "次郎", "美咲", "健太", "陽子", "大輔", "由美", "翔太", "直樹", "恵子", "誠", "愛", "拓也", "裕子"];

/// Kinds in the bureau's proportions (680 PCs, 80 printers, 26 L2, 9 routers,
/// 6 L3, 6 servers, 3 Hyper-V hosts, 17 guests), per 1,000 assets.
const KINDS: &[(&str, &str, u32)] = &[
    ("pc", "PC", 822),
    ("printer", "PRN", 97),
    ("l2_switch", "L2SW", 31),
    ("router", "RT", 11),
    ("l3_switch", "L3SW", 7),
    ("server", "SV", 7),
    ("vm_host", "HV", 4),
    ("vm_guest", "VM", 21),
];

/// A weighted random index.
fn pick_index<T>(rng: &mut StdRng, items: &[T], weight: impl Fn(&T) -> u32) -> usize {
    let total: u32 = items.iter().map(&weight).sum();
    let mut n = rng.gen_range(0..total);
    for (i, it) in items.iter().enumerate() {
        let w = weight(it);
        if n < w {
            return i;
        }
        n -= w;
    }
    0
}

/// The ledger writes for `n` bureau-like assets (deterministic).
fn bureau_assets(n: usize) -> Vec<LedgerWrite> {
    let mut rng = StdRng::seed_from_u64(680);
    let mut per_kind = std::collections::HashMap::new();
    (0..n)
        .map(|_| {
            let (kind, prefix, _) = KINDS[pick_index(&mut rng, KINDS, |k| k.2)];
            let seq = per_kind.entry(kind).or_insert(0u32);
            *seq += 1;
            let hostname = format!("SUIDO-{prefix}-{seq:05}");
            let site_ix = if kind.starts_with("vm") || kind == "server" { 0 } else { pick_index(&mut rng, SITES, |s| s.2) };
            let site = SITES[site_ix].0;
            let vlan = match kind {
                "pc" => 20 + rng.gen_range(0..10),
                "printer" => 50,
                "server" | "vm_host" | "vm_guest" => 10,
                _ => 90,
            };
            const STATUSES: &[(&str, u32)] = &[("in_use", 90), ("spare", 5), ("repair", 2), ("retired", 3)];
            let status = STATUSES[pick_index(&mut rng, STATUSES, |s| s.1)];
            let mut fields = vec![
                ("department", DEPARTMENTS[rng.gen_range(0..DEPARTMENTS.len())].to_string()),
                ("status", status.0.to_string()),
                ("building", SITES[site_ix].1.to_string()),
                ("ip_addresses", format!("10.{}.{vlan}.{}", site_ix + 1, rng.gen_range(1..255))),
            ];
            if kind == "pc" {
                fields.push(("user", format!("{} {}", SURNAMES[rng.gen_range(0..SURNAMES.len())], GIVEN[rng.gen_range(0..GIVEN.len())])));
                fields.push(("floor", format!("{}F", rng.gen_range(1..8))));
            }
            LedgerWrite::Create {
                hostname,
                kind: kind.to_string(),
                site: site.to_string(),
                fields: fields.into_iter().map(|(f, v)| FieldChange { field: f.to_string(), value: Some(v) }).collect(),
            }
        })
        .collect()
}

/// Fills the store; returns a line describing how long it took.
fn populate(store: &DynStore, assets: usize, agents: usize) -> anyhow::Result<String> {
    let now = lanward_store::now_ms();
    for (code, name, _) in SITES {
        store.upsert_site(&SiteRecord { code: code.to_string(), name: name.to_string() }, now)?;
    }
    let writes = bureau_assets(assets);
    let pcs: Vec<String> = writes
        .iter()
        .filter_map(|w| match w {
            LedgerWrite::Create { hostname, kind, .. } if kind == "pc" => Some(hostname.clone()),
            _ => None,
        })
        .take(agents)
        .collect();
    let t = Instant::now();
    for batch in writes.chunks(1000) {
        store.apply_ledger(batch, "user:bench", now)?;
    }
    let ledger_s = t.elapsed().as_secs_f64();

    let t = Instant::now();
    store.create_enrollment_token(&NewEnrollmentToken {
        id: "bench".into(),
        secret_hash: "bench".into(),
        site: "HQ".into(),
        created_at_ms: now,
        expires_at_ms: now + 86_400_000,
        max_uses: u32::MAX,
        created_by: "user:bench".into(),
    })?;
    let mut rng = StdRng::seed_from_u64(10);
    let mut checkins = Vec::new();
    let mut seen = Vec::new();
    for (i, host) in pcs.iter().enumerate() {
        let agent_id = format!("bench-agent-{i:05}");
        let out = store.enroll_agent(&EnrollAgent {
            token_id: "bench".into(),
            secret_hash: "bench".into(),
            agent_id: agent_id.clone(),
            public_key: (i as u64).to_le_bytes().to_vec(),
            hostname: host.clone(),
            os_family: "windows".into(),
            serial: None,
            macs: vec![],
            now_ms: now,
        })?;
        anyhow::ensure!(matches!(out, EnrollOutcome::Enrolled { matched_by: Some("hostname"), .. }), "enrolment of {host}: {out:?}");
        // About one third still on Windows 10 (BUREAU.md).
        let (os_name, os_version) = match rng.gen_range(0..3) {
            0 => ("Microsoft Windows 10 Pro", "22H2"),
            1 => ("Microsoft Windows 11 Pro", "23H2"),
            _ => ("Microsoft Windows 11 Pro", "24H2"),
        };
        checkins.push(CheckinWrite {
            agent_id: agent_id.clone(),
            received_at_ms: now,
            collected_at_ms: now,
            hostname: None,
            kind: None,
            os_name: Some(os_name.into()),
            os_version: Some(os_version.into()),
            serial: None,
            macs: None,
            ips: None,
            neighbors: None,
            sections: vec![],
            gaps: vec![],
        });
        // Last seen within 30 days; a few PCs long gone.
        let ago = if rng.gen_range(0..50) == 0 { rng.gen_range(30..200) * 86_400_000 } else { rng.gen_range(0..30 * 86_400_000i64) };
        seen.push((agent_id, now - ago));
    }
    for batch in checkins.chunks(500) {
        store.apply_checkins(batch)?;
    }
    for batch in seen.chunks(1000) {
        store.touch_agents(batch)?;
    }
    Ok(format!("{assets} assets by apply_ledger in {ledger_s:.1} s ({:.0}/s); {} agents enrolled and checked in in {:.1} s", assets as f64 / ledger_s, pcs.len(), t.elapsed().as_secs_f64()))
}

struct Case {
    name: &'static str,
    query: AssetQuery,
}

fn cases() -> Vec<Case> {
    let base = AssetQuery { limit: 50, ..Default::default() };
    let q = |f: &dyn Fn(&mut AssetQuery)| {
        let mut x = base.clone();
        f(&mut x);
        x
    };
    vec![
        Case { name: "no filter, by id", query: base.clone() },
        Case { name: "q = hostname fragment `PC-0123`", query: q(&|x| x.text = Some("PC-0123".into())) },
        Case { name: "q = user name `佐々木`", query: q(&|x| x.text = Some("佐々木".into())) },
        Case { name: "kind=pc site=HQ department=配水課", query: q(&|x| {
            x.kind = Some("pc".into());
            x.site = Some("HQ".into());
            x.department = Some("配水課".into());
        }) },
        Case { name: "status=repair, sort department", query: q(&|x| {
            x.status = Some("repair".into());
            x.sort = AssetSort::Department;
        }) },
        Case { name: "os = `windows 10`", query: q(&|x| x.os = Some("windows 10".into())) },
        Case { name: "sort -last_seen, offset 10,000", query: q(&|x| {
            x.sort = AssetSort::LastSeen;
            x.descending = true;
            x.offset = 10_000;
        }) },
    ]
}

fn sort_name(s: AssetSort) -> &'static str {
    match s {
        AssetSort::Id => "id",
        AssetSort::Hostname => "hostname",
        AssetSort::Kind => "kind",
        AssetSort::Site => "site",
        AssetSort::Department => "department",
        AssetSort::Os => "os",
        AssetSort::LastSeen => "last_seen",
    }
}

fn urlencode(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

/// The API's query string for a store query (`view=summary`: no sections, as the console lists).
fn http_path(q: &AssetQuery) -> String {
    let mut p = format!("/api/v1/assets?view=summary&limit={}&offset={}&sort={}{}", q.limit, q.offset, if q.descending { "-" } else { "" }, sort_name(q.sort));
    for (k, v) in [("q", &q.text), ("kind", &q.kind), ("site", &q.site), ("department", &q.department), ("status", &q.status), ("os", &q.os)] {
        if let Some(v) = v {
            p.push_str(&format!("&{k}={}", urlencode(v)));
        }
    }
    p
}

struct Row {
    backend: &'static str,
    path: &'static str,
    query: String,
    p50: f64,
    p95: f64,
    max: f64,
    matched: u64,
}

fn timed(backend: &'static str, path: &'static str, query: &str, runs: usize, mut f: impl FnMut() -> anyhow::Result<u64>) -> anyhow::Result<Row> {
    let mut matched = 0;
    for _ in 0..3 {
        matched = f()?;
    }
    let mut ms = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        let m = f()?;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(m == matched, "{query}: {m} rows matched, before {matched}");
    }
    ms.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| ms[((ms.len() as f64 - 1.0) * p).round() as usize];
    Ok(Row { backend, path, query: query.to_string(), p50: pct(0.5), p95: pct(0.95), max: pct(1.0), matched })
}

fn bench_store(backend: &'static str, store: &DynStore, runs: usize, rows: &mut Vec<Row>) -> anyhow::Result<()> {
    for c in cases() {
        let store = store.clone();
        rows.push(timed(backend, "store", c.name, runs, || {
            let (page, total) = store.list_assets(&c.query)?;
            anyhow::ensure!(page.len() as u64 == total.saturating_sub(c.query.offset).min(c.query.limit as u64), "{}: page of {} of {total}", c.name, page.len());
            Ok(total)
        })?);
    }
    let cutoff = lanward_store::now_ms() - 7 * 86_400_000;
    rows.push(timed(backend, "store", "asset_summary (dashboard)", runs, || Ok(store.asset_summary(cutoff)?.total))?);
    Ok(())
}

fn bench_http(backend: &'static str, server: &BenchServer, runs: usize, rows: &mut Vec<Row>) -> anyhow::Result<()> {
    let http = ureq::AgentBuilder::new().timeout(Duration::from_secs(60)).build();
    let auth = format!("Bearer {}", server.admin_token());
    let get = |path: &str| -> anyhow::Result<serde_json::Value> { Ok(http.get(&format!("{}{path}", server.url)).set("authorization", &auth).call()?.into_json()?) };
    for c in cases() {
        let path = http_path(&c.query);
        rows.push(timed(backend, "http", c.name, runs, || Ok(get(&path)?["total"].as_u64().unwrap_or(0)))?);
    }
    rows.push(timed(backend, "http", "GET /api/v1/summary (dashboard)", runs, || Ok(get("/api/v1/summary")?["total"].as_u64().unwrap_or(0)))?);
    Ok(())
}

/// One import as the operator does it: upload a 5,000-row Excel ledger
/// (half of it PCs already in the ledger with a new department, half new
/// devices) and get the preview, apply it, then upload it again (nothing to
/// change); and export the whole ledger.
fn bench_import(backend: &'static str, server: &BenchServer, out: &mut Vec<ImportRow>) -> anyhow::Result<()> {
    use lanward_ledger::export::{export_xlsx, ExportRow, Lang};
    let http = ureq::AgentBuilder::new().timeout(Duration::from_secs(300)).build();
    let auth = format!("Bearer {}", server.admin_token());
    let rows: Vec<ExportRow> = (1..=5000)
        .map(|i| {
            let existing = i <= 2500;
            let mut fields = std::collections::BTreeMap::new();
            fields.insert("department".to_string(), if existing { "情報政策課".to_string() } else { DEPARTMENTS[i % DEPARTMENTS.len()].to_string() });
            fields.insert("status".to_string(), "in_use".to_string());
            fields.insert("ip_addresses".to_string(), format!("10.{}.{}.{}", 1 + i % 10, 20 + i % 10, 1 + i % 250));
            ExportRow {
                id: 0,
                hostname: if existing { format!("SUIDO-PC-{i:05}") } else { format!("SUIDO-NEW-{i:05}") },
                kind: "pc".into(),
                site: SITES[i % SITES.len()].0.into(),
                serial: None,
                fields,
                os: None,
                last_seen: None,
            }
        })
        .collect();
    let book = export_xlsx(&rows, Lang::Ja).map_err(|e| anyhow::anyhow!("{e}"))?;
    // The file has an asset ID column (0 for all): the operator maps it away,
    // as they would a column of their own numbering.
    let upload = |bytes: &[u8]| -> anyhow::Result<(f64, serde_json::Value)> {
        let t = Instant::now();
        let v: serde_json::Value = http.post(&format!("{}/api/v1/imports?filename=ledger.xlsx", server.url)).set("authorization", &auth).send_bytes(bytes)?.into_json()?;
        let mut mapping = v["mapping"].clone();
        mapping["columns"]["A"] = serde_json::Value::Null;
        let id = v["id"].as_str().unwrap_or_default();
        let v: serde_json::Value = http.post(&format!("{}/api/v1/imports/{id}/mapping", server.url)).set("authorization", &auth).send_json(mapping)?.into_json()?;
        Ok((t.elapsed().as_secs_f64() * 1000.0, v))
    };
    let (preview_ms, v) = upload(&book)?;
    let plan = &v["plan"];
    let summary = format!("{} new, {} changed, {} unchanged, {} with errors", plan["creates"], plan["updates"], plan["unchanged"], plan["invalid"]);
    out.push(ImportRow { backend, step: "upload 5,000-row .xlsx, preview, change the mapping, preview again", ms: preview_ms, result: summary });
    let id = v["id"].as_str().unwrap_or_default().to_string();
    if plan["invalid"].as_u64() != Some(0) {
        let problems: Vec<&serde_json::Value> = plan["rows"].as_array().into_iter().flatten().flat_map(|r| r["problems"].as_array().into_iter().flatten()).take(5).collect();
        anyhow::bail!("the benchmark's import file has errors: {problems:?}");
    }
    let t = Instant::now();
    let applied: serde_json::Value = http.post(&format!("{}/api/v1/imports/{id}/apply", server.url)).set("authorization", &auth).send_json(serde_json::json!({}))?.into_json()?;
    out.push(ImportRow { backend, step: "apply (one transaction)", ms: t.elapsed().as_secs_f64() * 1000.0, result: format!("{} created, {} updated", applied["created"], applied["updated"]) });
    let (again_ms, v) = upload(&book)?;
    out.push(ImportRow { backend, step: "same file again: preview", ms: again_ms, result: format!("{} unchanged of {}", v["plan"]["unchanged"], v["plan"]["rows"].as_array().map_or(0, |r| r.len())) });
    let t = Instant::now();
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut http.get(&format!("{}/api/v1/assets/export?format=xlsx", server.url)).set("authorization", &auth).call()?.into_reader(), &mut bytes)?;
    out.push(ImportRow { backend, step: "export the whole ledger as .xlsx", ms: t.elapsed().as_secs_f64() * 1000.0, result: format!("{} KB", bytes.len() / 1024) });
    Ok(())
}

struct ImportRow {
    backend: &'static str,
    step: &'static str,
    ms: f64,
    result: String,
}

fn run_backend(backend: &'static str, open: &dyn Fn() -> anyhow::Result<DynStore>, dir: &std::path::Path, server_db: Option<String>, rows: &mut Vec<Row>, imports: &mut Vec<ImportRow>) -> anyhow::Result<String> {
    let (assets, agents, runs) = (env_num("LANWARD_BENCH_ASSETS", 20_000), env_num("LANWARD_BENCH_LEDGER_AGENTS", 4000), env_num("LANWARD_BENCH_RUNS", 30).max(1));
    eprintln!("[{backend}] filling the ledger: {assets} assets, {agents} agents");
    let store = open()?;
    let fill = populate(&store, assets, agents)?;
    eprintln!("[{backend}] {fill}");
    bench_store(backend, &store, runs, rows)?;
    drop(store);
    eprintln!("[{backend}] the same queries through HTTP");
    let server = BenchServer::start(dir, server_db)?;
    bench_http(backend, &server, runs, rows)?;
    eprintln!("[{backend}] import and export through HTTP");
    bench_import(backend, &server, imports)?;
    Ok(format!("{backend}: {fill}"))
}

fn main() -> anyhow::Result<()> {
    let mut rows = Vec::new();
    let mut imports = Vec::new();
    let mut notes = Vec::new();

    let only = std::env::var("LANWARD_BENCH_ONLY").unwrap_or_default();
    let dir = tempfile::tempdir()?;
    if only.is_empty() || only == "sqlite" {
        let db = dir.path().join("lanward.db");
        let open_sqlite = || -> anyhow::Result<DynStore> { Ok(Arc::new(lanward_store::sqlite::SqliteStore::open(&db)?)) };
        notes.push(run_backend("sqlite", &open_sqlite, dir.path(), None, &mut rows, &mut imports)?);
    }

    if !(only.is_empty() || only == "postgres") {
    } else if let Ok(pg) = std::env::var("LANWARD_TEST_PG") {
        let schema = format!("lw_bench_ledger_{}", std::process::id());
        let sep = if pg.contains('?') { '&' } else { '?' };
        let url = format!("{pg}{sep}options=-c%20search_path%3D{schema}");
        let pg_dir = tempfile::tempdir()?;
        let open_pg = || -> anyhow::Result<DynStore> { Ok(Arc::new(lanward_store::postgres::PgStore::connect(&pg, Some(&schema))?)) };
        let mut result = run_backend("postgres", &open_pg, pg_dir.path(), Some(url.clone()), &mut rows, &mut imports);
        if result.is_ok() {
            // Without statistics (a fresh load, autovacuum not yet run or off)
            // the planner may pick nested loops; measure again as autovacuum
            // would leave it, and then without JIT (which costs more than the
            // whole query when the estimated cost passes jit_above_cost).
            let again = (|| -> anyhow::Result<()> {
                let mut c = postgres::Client::connect(&url, postgres::NoTls)?;
                c.batch_execute("ANALYZE assets, asset_fields, asset_identifiers, agents")?;
                let runs = env_num("LANWARD_BENCH_RUNS", 30).max(1);
                let analyzed: DynStore = Arc::new(lanward_store::postgres::PgStore::connect(&pg, Some(&schema))?);
                bench_store("postgres, analyzed", &analyzed, runs, &mut rows)?;
                let no_jit: DynStore = Arc::new(lanward_store::postgres::PgStore::connect(&format!("{url}%20-c%20jit%3Doff"), None)?);
                bench_store("postgres, analyzed, jit=off", &no_jit, runs, &mut rows)?;
                Ok(())
            })();
            if let Err(e) = again {
                result = Err(e);
            }
        }
        if std::env::var("LANWARD_BENCH_KEEP").is_ok() {
            eprintln!("[postgres] keeping schema {schema} (LANWARD_BENCH_KEEP)");
        } else if let Ok(mut c) = postgres::Client::connect(&pg, postgres::NoTls) {
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
        }
        notes.push(result?);
    } else {
        notes.push("postgres: skipped (set LANWARD_TEST_PG=postgres://... to run it)".into());
    }

    let runs = env_num("LANWARD_BENCH_RUNS", 30).max(1);
    println!("\n### Asset list at {} assets ({} cores; {runs} runs after 3 warm-up; limit 50, no sections)\n", env_num("LANWARD_BENCH_ASSETS", 20_000), std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0));
    for n in &notes {
        println!("- {n}");
    }
    println!("\n| backend | via | query | p50 ms | p95 ms | max ms | rows matched |");
    println!("|---|---|---|---:|---:|---:|---:|");
    for r in &rows {
        let flag = if r.p95 > TARGET_MS { " ⚠" } else { "" };
        println!("| {} | {} | {} | {:.1} | {:.1}{flag} | {:.1} | {} |", r.backend, r.path, r.query, r.p50, r.p95, r.max, r.matched);
    }
    println!("\n### Ledger import and export through HTTP (target: a 5,000-row import with preview under 5 s)\n");
    println!("| backend | step | ms | result |");
    println!("|---|---|---:|---|");
    for r in &imports {
        println!("| {} | {} | {:.0} | {} |", r.backend, r.step, r.ms, r.result);
    }
    let slow: Vec<&Row> = rows.iter().filter(|r| r.p95 > TARGET_MS).collect();
    if slow.is_empty() {
        println!("\nEvery query answers within {TARGET_MS} ms at p95.");
    } else {
        println!("\nOver {TARGET_MS} ms at p95:");
        for r in slow {
            println!("- {} / {}: {} (p95 {:.1} ms)", r.backend, r.path, r.query, r.p95);
        }
    }
    Ok(())
}
