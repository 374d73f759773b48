//! The PostgreSQL engine behind [`EventStore`], for installations larger
//! than one server's disk. Everything lives in `oplog_*` tables, so it can
//! share a database (and a schema) with the ledger's tables.
//!
//! ```text
//! oplog_events          PARTITION BY RANGE (time_ms), one partition per UTC month
//!   oplog_events_pYYYYMM  created on demand by the first append that needs it
//! oplog_marks           agent_id -> acked_through, written in the events' transaction
//! oplog_counts          (UTC day, pc, kind) -> events: counts per day and per partition
//! oplog_migrations      schema versions applied
//! ```
//!
//! Text search: PostgreSQL's own tools fit Japanese badly (pg_trgm needs a
//! suitable locale for non-ASCII and cannot match a 2-character word such as
//! 予算; full-text search needs word breaks). Each event therefore carries the
//! character bigrams of its text fields as an `int4[]` with a GIN index — the
//! same folding and bigrams as the embedded engine — and a query asks `@>`
//! for every bigram of every word, then checks each word as a substring of
//! the folded text (bigrams can all be present without the word). A
//! 1-character word has no bigram: it is a plain scan within the other filters.

use crate::embedded::{days_from_civil, ymd};
use crate::keys;
use crate::{AppendOutcome, Detail, EventKind, EventStore, Found, IncomingEvent, OplogError, PartitionInfo, Query, Result, StoredEvent};
use ::postgres::binary_copy::BinaryCopyInWriter;
use ::postgres::error::SqlState;
use ::postgres::types::{ToSql, Type};
use ::postgres::{Client, Config, GenericClient, NoTls, Row, Transaction};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Mutex;

const DAY_MS: i64 = 86_400_000;
const POOL_SIZE: usize = 4;
/// Counting stops here: an exact count of a common word over years of events
/// costs as much as reading every match (100,000 took 1-4 s for one word on
/// 2 million events). Above it `total` is the cap and `total_exact` false.
const COUNT_CAP: i64 = 10_000;
/// One advisory lock key for schema changes (migrations, partitions created
/// or dropped), so that several server processes never race on the catalog.
const DDL_LOCK: i64 = 0x6c61_6e77_6f70_6c67; // "lanwoplg"

const MIGRATIONS: &[(i32, &str)] = &[(
    1,
    "CREATE TABLE oplog_events (
        time_ms BIGINT NOT NULL,
        pc TEXT NOT NULL,
        usr TEXT,
        kind SMALLINT NOT NULL,
        title TEXT, process TEXT, sha256 TEXT, command_line TEXT, parent TEXT, path TEXT,
        target_path TEXT, device_class TEXT, vendor TEXT, product TEXT, serial TEXT,
        printer TEXT, document TEXT, via TEXT, reason TEXT,
        pid INT, dwell_ms BIGINT, started_at_ms BIGINT, size_bytes BIGINT, pages INT,
        grams INT[] NOT NULL
     ) PARTITION BY RANGE (time_ms);
     CREATE INDEX oplog_events_time ON oplog_events (time_ms);
     CREATE INDEX oplog_events_pc_time ON oplog_events (pc, time_ms);
     CREATE INDEX oplog_events_usr_time ON oplog_events (usr, time_ms);
     CREATE INDEX oplog_events_kind_time ON oplog_events (kind, time_ms);
     CREATE INDEX oplog_events_grams ON oplog_events USING gin (grams);
     CREATE TABLE oplog_marks (agent_id TEXT PRIMARY KEY, acked_through BIGINT NOT NULL);
     CREATE TABLE oplog_counts (day INT NOT NULL, pc TEXT NOT NULL, kind SMALLINT NOT NULL, n BIGINT NOT NULL, PRIMARY KEY (day, pc, kind));",
)];

/// The text fields, in the order of `Detail` (the embedded engine indexes the same 15).
const TEXT_COLS: [&str; 15] = [
    "title", "process", "sha256", "command_line", "parent", "path", "target_path", "device_class", "vendor", "product", "serial", "printer",
    "document", "via", "reason",
];
const COLS: &str = "time_ms, pc, usr, kind, title, process, sha256, command_line, parent, path, target_path, device_class, vendor, product, \
                    serial, printer, document, via, reason, pid, dwell_ms, started_at_ms, size_bytes, pages";

use crate::keys::texts;

/// A bigram as an `int4`: both characters in the BMP (nearly all text) pack
/// exactly into 32 bits; others are hashed. A collision only makes a
/// candidate that the substring check then drops. Half the bytes of int8.
fn gram32(g: u64) -> i32 {
    let (p, c) = (g >> 32, g & 0xffff_ffff);
    if p < 0x1_0000 && c < 0x1_0000 {
        ((p << 16) | c) as u32 as i32
    } else {
        (g.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as u32 as i32
    }
}

/// Distinct bigrams of all of an event's text fields (not across fields).
fn event_grams(d: &Detail, buf: &mut Vec<u64>) -> Vec<i32> {
    buf.clear();
    for s in texts(d).into_iter().flatten() {
        keys::bigrams(s, buf);
    }
    let mut g: Vec<i32> = buf.iter().map(|&x| gram32(x)).collect();
    g.sort_unstable();
    g.dedup();
    g
}

fn pg(e: ::postgres::Error) -> OplogError { OplogError::Io(format!("PostgreSQL: {e}")) }

/// The error of a COPY whose row has no partition (SQLSTATE 23514: "no
/// partition of relation ... found for row"), told apart so the append can
/// create the partition and retry.
const NO_PARTITION: &str = "PostgreSQL: no partition for an event's month";

fn copy_err(e: ::postgres::Error) -> OplogError {
    if e.code() == Some(&SqlState::CHECK_VIOLATION) {
        return OplogError::Io(NO_PARTITION.into());
    }
    pg(e)
}

/// The month (first day's number, next month's first day's number) holding `ms`.
fn month_of(ms: i64) -> (i64, i64) {
    let d = ymd(ms.div_euclid(DAY_MS));
    let (y, m) = ((d / 10_000) as i64, (d / 100) % 100);
    let start = days_from_civil(y, m, 1);
    let end = if m == 12 { days_from_civil(y + 1, 1, 1) } else { days_from_civil(y, m + 1, 1) };
    (start, end)
}

fn table_of(month_start_day: i64) -> String { format!("oplog_events_p{}", ymd(month_start_day) / 100) }

/// Month start day of a partition table's name, if it is one of ours.
fn month_of_table(name: &str) -> Option<i64> {
    let yyyymm: u32 = name.strip_prefix("oplog_events_p")?.parse().ok()?;
    let (y, m) = (yyyymm / 100, yyyymm % 100);
    if !(1..=12).contains(&m) {
        return None;
    }
    Some(days_from_civil(y as i64, m, 1))
}

/// `ms` floored to its UTC day number, in SQL (`/` truncates towards zero).
const SQL_DAY: &str = "((time_ms - (((time_ms % 86400000) + 86400000) % 86400000)) / 86400000)";

pub struct PgEventStore {
    config: Config,
    pool: Mutex<Vec<Client>>,
    /// Serialises this process's writers (the ingest thread is the only one
    /// in practice); other processes are kept apart by row locks on the marks.
    write_lock: Mutex<()>,
    /// Months whose partition is known to exist (saves a catalog round trip per append).
    months: Mutex<HashSet<i64>>,
}

impl PgEventStore {
    /// Connects and creates (or migrates) the `oplog_*` tables. Options in
    /// the URL (a `search_path`, say) are kept.
    pub fn connect(url: &str) -> Result<PgEventStore> {
        let mut config: Config = url.parse().map_err(|e| OplogError::Io(format!("bad PostgreSQL URL: {e}")))?;
        config.connect_timeout(std::time::Duration::from_secs(5));
        // Searches are short queries on big tables with high cost estimates:
        // JIT compilation would take longer than the query itself.
        let mut options = config.get_options().map(|o| format!("{o} ")).unwrap_or_default();
        options.push_str("-c jit=off");
        config.options(&options);
        let store = PgEventStore { config, pool: Mutex::new(Vec::new()), write_lock: Mutex::new(()), months: Mutex::new(HashSet::new()) };
        store.with_client(migrate)?;
        Ok(store)
    }

    fn with_client<T>(&self, f: impl FnOnce(&mut Client) -> Result<T>) -> Result<T> {
        let pooled = self.pool.lock().map_err(|_| OplogError::Io("pool poisoned".into()))?.pop();
        let mut client = match pooled {
            Some(c) if !c.is_closed() => c,
            _ => self.config.connect(NoTls).map_err(pg)?,
        };
        let out = f(&mut client);
        // A client whose connection broke is dropped; the next call reconnects.
        if !client.is_closed() {
            if let Ok(mut pool) = self.pool.lock() {
                if pool.len() < POOL_SIZE {
                    pool.push(client);
                }
            }
        }
        out
    }

    /// Creates the month partitions these times need, each in its own short
    /// transaction under the DDL lock (CREATE TABLE IF NOT EXISTS alone races
    /// between processes on the catalog's unique indexes).
    fn ensure_partitions(&self, c: &mut Client, times: impl Iterator<Item = i64>) -> Result<()> {
        let need: BTreeSet<(i64, i64)> = times.map(month_of).collect();
        let missing: Vec<(i64, i64)> = {
            let known = self.months.lock().map_err(|_| OplogError::Io("poisoned".into()))?;
            need.into_iter().filter(|m| !known.contains(&m.0)).collect()
        };
        for (start, end) in missing {
            let mut tx = c.transaction().map_err(pg)?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&DDL_LOCK]).map_err(pg)?;
            tx.batch_execute(&format!(
                "CREATE TABLE IF NOT EXISTS {} PARTITION OF oplog_events FOR VALUES FROM ({}) TO ({})",
                table_of(start),
                start * DAY_MS,
                end * DAY_MS
            ))
            .map_err(pg)?;
            tx.commit().map_err(pg)?;
            self.months.lock().map_err(|_| OplogError::Io("poisoned".into()))?.insert(start);
        }
        Ok(())
    }

    fn append_tx(&self, tx: &mut Transaction, batches: &[(&str, &[IncomingEvent])]) -> Result<Vec<AppendOutcome>> {
        // Lock the agents' marks in a fixed order (no deadlock between
        // processes); the placeholder rows make a first batch lockable too.
        let agents: Vec<&str> = batches.iter().map(|b| b.0).collect::<BTreeSet<_>>().into_iter().collect();
        let mut marks: BTreeMap<String, u64> = BTreeMap::new();
        if !agents.is_empty() {
            tx.execute(
                "INSERT INTO oplog_marks (agent_id, acked_through) SELECT a, 0 FROM UNNEST($1::TEXT[]) AS u(a) ORDER BY a ON CONFLICT DO NOTHING",
                &[&agents],
            )
            .map_err(pg)?;
            for r in tx
                .query("SELECT agent_id, acked_through FROM oplog_marks WHERE agent_id = ANY($1) ORDER BY agent_id FOR UPDATE", &[&agents])
                .map_err(pg)?
            {
                let a: String = r.try_get(0).map_err(pg)?;
                let s: i64 = r.try_get(1).map_err(pg)?;
                let s = u64::try_from(s).map_err(|_| OplogError::Io(format!("negative acked_through for {a}")))?;
                marks.insert(a, s);
            }
        }
        let before = marks.clone();
        // The same rule as the embedded engine, batch by batch.
        let mut outs = Vec::with_capacity(batches.len());
        let mut new: Vec<&StoredEvent> = Vec::new();
        for (agent, events) in batches {
            let out = crate::accept_new(marks.get(*agent).copied().unwrap_or(0), events, |e| new.push(&e.event));
            if out.acked_through > 0 {
                marks.insert(agent.to_string(), out.acked_through);
            }
            outs.push(out);
        }
        if new.is_empty() {
            return Ok(outs);
        }
        copy_events(tx, &new)?;
        // Counts per (day, pc, kind): whole days and partitions are counted
        // from here, never by scanning events.
        let mut counts: BTreeMap<(i32, &str, i16), i64> = BTreeMap::new();
        for e in &new {
            *counts.entry((e.time_ms.div_euclid(DAY_MS) as i32, e.pc.as_str(), e.kind.code() as i16)).or_default() += 1;
        }
        let (mut d, mut p, mut k, mut n) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for ((day, pc, kind), c) in counts {
            d.push(day);
            p.push(pc);
            k.push(kind);
            n.push(c);
        }
        tx.execute(
            "INSERT INTO oplog_counts (day, pc, kind, n) SELECT * FROM UNNEST($1::INT[], $2::TEXT[], $3::SMALLINT[], $4::BIGINT[])
             ON CONFLICT (day, pc, kind) DO UPDATE SET n = oplog_counts.n + EXCLUDED.n",
            &[&d, &p, &k, &n],
        )
        .map_err(pg)?;
        let (mut ma, mut ms) = (Vec::new(), Vec::new());
        for (a, s) in &marks {
            if before.get(a) != Some(s) {
                ma.push(a.as_str());
                ms.push(*s as i64);
            }
        }
        tx.execute(
            "UPDATE oplog_marks SET acked_through = u.s FROM UNNEST($1::TEXT[], $2::BIGINT[]) AS u(a, s) WHERE oplog_marks.agent_id = u.a",
            &[&ma, &ms],
        )
        .map_err(pg)?;
        Ok(outs)
    }

    fn search_in(&self, c: &mut Client, q: &Query, words: &[String]) -> Result<Found> {
        let mut params: Vec<Box<dyn ToSql + Sync>> = vec![Box::new(q.from_ms), Box::new(q.to_ms)];
        let mut sql = String::from("time_ms >= $1 AND time_ms < $2");
        let arg = |params: &mut Vec<Box<dyn ToSql + Sync>>, v: Box<dyn ToSql + Sync>| {
            params.push(v);
            format!("${}", params.len())
        };
        if !q.pcs.is_empty() {
            let a = arg(&mut params, Box::new(q.pcs.clone()));
            sql += &format!(" AND pc = ANY({a}::TEXT[])");
        }
        if let Some(u) = &q.user {
            let a = arg(&mut params, Box::new(u.clone()));
            sql += &format!(" AND usr = {a}");
        }
        if !q.kinds.is_empty() {
            let k: Vec<i16> = q.kinds.iter().map(|k| k.code() as i16).collect();
            let a = arg(&mut params, Box::new(k));
            sql += &format!(" AND kind = ANY({a}::SMALLINT[])");
        }
        if !words.is_empty() {
            let mut grams = Vec::new();
            for w in words {
                keys::bigrams(w, &mut grams);
            }
            let mut g: Vec<i32> = grams.into_iter().map(gram32).collect();
            g.sort_unstable();
            g.dedup();
            if !g.is_empty() {
                let a = arg(&mut params, Box::new(g));
                sql += &format!(" AND grams @> {a}::INT[]");
            }
            // Each word a substring of one field: fields joined by a newline,
            // which no word contains (words are split on whitespace). ASCII
            // folding by translate(), as lower() would depend on the locale.
            let folded = format!(
                "translate(concat_ws(E'\\n', {}), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')",
                TEXT_COLS.join(", ")
            );
            for w in words {
                let a = arg(&mut params, Box::new(w.clone()));
                sql += &format!(" AND strpos({folded}, {a}) > 0");
            }
        }
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|b| b.as_ref() as &(dyn ToSql + Sync)).collect();
        let count_sql = format!("SELECT count(*) FROM (SELECT 1 FROM oplog_events WHERE {sql} LIMIT {}) s", COUNT_CAP + 1);
        let count = |c: &mut Client| -> Result<i64> { c.query_one(&count_sql, &refs).map_err(pg)?.try_get(0).map_err(pg) };
        // With words, count first (capped): the planner estimates a word's
        // bigrams as independent, so it takes a common long word (予算要求資料)
        // for a rare one and reads every match through the GIN index to sort
        // them. A word with more matches than the cap is common: walk the
        // time-ordered index instead, which stops after `limit` matches.
        let mut counted = None;
        let mut common = false;
        if !words.is_empty() {
            let n = count(c)?;
            common = n > COUNT_CAP;
            counted = Some(n);
        }
        let mut events = Vec::new();
        if q.limit > 0 {
            let order = if q.newest_first { "DESC" } else { "ASC" };
            let limit = i64::try_from(q.limit).unwrap_or(i64::MAX);
            let fetch = format!("SELECT {COLS} FROM oplog_events WHERE {sql} ORDER BY time_ms {order} LIMIT {limit}");
            let rows = if common {
                let mut tx = c.transaction().map_err(pg)?;
                // Only an ordered index scan is left; serial, so it stops early.
                tx.batch_execute(
                    "SET LOCAL enable_bitmapscan = off; SET LOCAL enable_seqscan = off; SET LOCAL enable_sort = off;
                     SET LOCAL max_parallel_workers_per_gather = 0",
                )
                .map_err(pg)?;
                let rows = tx.query(&fetch, &refs).map_err(pg)?;
                tx.commit().map_err(pg)?;
                rows
            } else {
                c.query(&fetch, &refs).map_err(pg)?
            };
            for r in &rows {
                events.push(event_of(r)?);
            }
        }
        let n = match counted {
            Some(n) => n,
            None if q.limit > 0 && events.len() < q.limit => events.len() as i64,
            None => count(c)?,
        };
        // Over the cap the total is a lower bound, never below what is returned.
        let total = (n.min(COUNT_CAP) as u64).max(events.len() as u64);
        Ok(Found { events, total, total_exact: n <= COUNT_CAP })
    }

    fn partitions_in(c: &mut impl GenericClient) -> Result<Vec<PartitionInfo>> {
        let rows = c
            .query(
                "SELECT c.relname::TEXT, pg_total_relation_size(c.oid) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                 WHERE i.inhparent = to_regclass('oplog_events') ORDER BY 1",
                &[],
            )
            .map_err(pg)?;
        let counts: BTreeMap<i64, i64> = c
            .query("SELECT day::BIGINT, sum(n)::BIGINT FROM oplog_counts GROUP BY day", &[])
            .map_err(pg)?
            .iter()
            .map(|r| Ok((r.try_get(0).map_err(pg)?, r.try_get(1).map_err(pg)?)))
            .collect::<Result<_>>()?;
        let mut out = Vec::new();
        for r in &rows {
            let name: String = r.try_get(0).map_err(pg)?;
            let bytes: i64 = r.try_get(1).map_err(pg)?;
            // Tables someone else attached are not ours to report or drop.
            let Some(start) = month_of_table(&name) else { continue };
            let end = month_of(start * DAY_MS).1;
            let events: i64 = counts.range(start..end).map(|(_, n)| n).sum();
            out.push(PartitionInfo {
                name: format!("p-{}", ymd(start) / 100),
                from_ms: start * DAY_MS,
                to_ms: end * DAY_MS,
                events: events.max(0) as u64,
                bytes: bytes.max(0) as u64,
            });
        }
        Ok(out)
    }
}

fn migrate(c: &mut Client) -> Result<()> {
    let mut tx = c.transaction().map_err(pg)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&DDL_LOCK]).map_err(pg)?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS oplog_migrations (version INT PRIMARY KEY, applied_ms BIGINT NOT NULL)").map_err(pg)?;
    let done: HashSet<i32> =
        tx.query("SELECT version FROM oplog_migrations", &[]).map_err(pg)?.iter().map(|r| r.try_get(0).map_err(pg)).collect::<Result<_>>()?;
    for (v, sql) in MIGRATIONS {
        if done.contains(v) {
            continue;
        }
        tx.batch_execute(sql).map_err(pg)?;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
        tx.execute("INSERT INTO oplog_migrations (version, applied_ms) VALUES ($1, $2)", &[v, &now]).map_err(pg)?;
    }
    tx.commit().map_err(pg)
}

/// Binary COPY: one round trip for the whole group, no SQL parsing per row.
fn copy_events(tx: &mut Transaction, events: &[&StoredEvent]) -> Result<()> {
    let sink = tx.copy_in(&format!("COPY oplog_events ({COLS}, grams) FROM STDIN BINARY")).map_err(pg)?;
    let mut types = vec![Type::INT8, Type::TEXT, Type::TEXT, Type::INT2];
    types.extend([Type::TEXT; 15]);
    types.extend([Type::INT4, Type::INT8, Type::INT8, Type::INT8, Type::INT4, Type::INT4_ARRAY]);
    let mut w = BinaryCopyInWriter::new(sink, &types);
    let mut buf = Vec::new();
    for e in events {
        let d = &e.detail;
        let kind = e.kind.code() as i16;
        let t = texts(d);
        // Unsigned numbers are stored bit for bit in the signed columns.
        let pid = d.pid.map(|x| x as i32);
        let dwell = d.dwell_ms.map(|x| x as i64);
        let size = d.size_bytes.map(|x| x as i64);
        let pages = d.pages.map(|x| x as i32);
        let grams = event_grams(d, &mut buf);
        let mut row: Vec<&(dyn ToSql + Sync)> = vec![&e.time_ms, &e.pc, &e.user, &kind];
        for s in &t {
            row.push(s);
        }
        row.extend([&pid as &(dyn ToSql + Sync), &dwell, &d.started_at_ms, &size, &pages, &grams]);
        w.write(&row).map_err(copy_err)?;
    }
    w.finish().map_err(copy_err)?;
    Ok(())
}

fn event_of(r: &Row) -> Result<StoredEvent> {
    let code: i16 = r.try_get(3).map_err(pg)?;
    let kind = u8::try_from(code).ok().and_then(EventKind::from_code).ok_or_else(|| OplogError::Io(format!("unknown event kind {code}")))?;
    let t = |i: usize| -> Result<Option<String>> { r.try_get(i).map_err(pg) };
    let pid: Option<i32> = r.try_get(19).map_err(pg)?;
    let dwell: Option<i64> = r.try_get(20).map_err(pg)?;
    let size: Option<i64> = r.try_get(22).map_err(pg)?;
    let pages: Option<i32> = r.try_get(23).map_err(pg)?;
    Ok(StoredEvent {
        time_ms: r.try_get(0).map_err(pg)?,
        pc: r.try_get(1).map_err(pg)?,
        user: r.try_get(2).map_err(pg)?,
        kind,
        detail: Detail {
            title: t(4)?,
            process: t(5)?,
            sha256: t(6)?,
            command_line: t(7)?,
            parent: t(8)?,
            path: t(9)?,
            target_path: t(10)?,
            device_class: t(11)?,
            vendor: t(12)?,
            product: t(13)?,
            serial: t(14)?,
            printer: t(15)?,
            document: t(16)?,
            via: t(17)?,
            reason: t(18)?,
            pid: pid.map(|x| x as u32),
            dwell_ms: dwell.map(|x| x as u64),
            started_at_ms: r.try_get(21).map_err(pg)?,
            size_bytes: size.map(|x| x as u64),
            pages: pages.map(|x| x as u32),
        },
    })
}

impl EventStore for PgEventStore {
    fn append(&self, agent_id: &str, events: &[IncomingEvent]) -> Result<AppendOutcome> {
        Ok(self.append_many(&[(agent_id, events)])?.pop().unwrap_or_default())
    }

    /// One transaction (one commit, one WAL flush) for every batch.
    fn append_many(&self, batches: &[(&str, &[IncomingEvent])]) -> Result<Vec<AppendOutcome>> {
        let _guard = self.write_lock.lock().map_err(|_| OplogError::Io("write lock poisoned".into()))?;
        self.with_client(|c| {
            let mut retried = false;
            loop {
                self.ensure_partitions(c, batches.iter().flat_map(|b| b.1.iter().map(|e| e.event.time_ms)))?;
                let mut tx = c.transaction().map_err(pg)?;
                match self.append_tx(&mut tx, batches) {
                    Ok(outs) => {
                        tx.commit().map_err(pg)?;
                        return Ok(outs);
                    }
                    Err(OplogError::Io(m)) if m == NO_PARTITION && !retried => {
                        // Another process dropped a month we believed in: forget
                        // what we knew and create what is missing (the transaction
                        // rolled back, nothing was stored).
                        drop(tx);
                        retried = true;
                        self.months.lock().map_err(|_| OplogError::Io("poisoned".into()))?.clear();
                    }
                    Err(e) => return Err(e),
                }
            }
        })
    }

    fn search(&self, q: &Query) -> Result<Found> {
        if q.to_ms <= q.from_ms {
            return Ok(Found { events: vec![], total: 0, total_exact: true });
        }
        let words = q.text.as_deref().map(keys::words).unwrap_or_default();
        if q.text.is_some() && words.is_empty() {
            return Err(OplogError::BadQuery("empty text".into()));
        }
        self.with_client(|c| self.search_in(c, q, &words))
    }

    fn counts_by_kind_per_day(&self, from_ms: i64, to_ms: i64, pc: Option<&str>) -> Result<Vec<(u32, EventKind, u64)>> {
        if to_ms <= from_ms {
            return Ok(Vec::new());
        }
        // Whole days from the counts table, the cut days at either end by scanning their events.
        let first_whole = from_ms.div_euclid(DAY_MS) + i64::from(from_ms.rem_euclid(DAY_MS) != 0);
        let end_whole = to_ms.div_euclid(DAY_MS);
        let mut scans: Vec<(i64, i64)> = Vec::new();
        if first_whole < end_whole {
            if from_ms < first_whole * DAY_MS {
                scans.push((from_ms, first_whole * DAY_MS));
            }
            if end_whole * DAY_MS < to_ms {
                scans.push((end_whole * DAY_MS, to_ms));
            }
        } else {
            scans.push((from_ms, to_ms));
        }
        let pc_sql = if pc.is_some() { " AND pc = $3" } else { "" };
        self.with_client(|c| {
            let mut out: BTreeMap<(i64, i16), i64> = BTreeMap::new();
            let mut add = |rows: Vec<Row>| -> Result<()> {
                for r in rows {
                    *out.entry((r.try_get(0).map_err(pg)?, r.try_get(1).map_err(pg)?)).or_default() += r.try_get::<_, i64>(2).map_err(pg)?;
                }
                Ok(())
            };
            if first_whole < end_whole {
                let sql = format!(
                    "SELECT day::BIGINT, kind, sum(n)::BIGINT FROM oplog_counts WHERE day >= $1::BIGINT AND day < $2::BIGINT{pc_sql} GROUP BY 1, 2"
                );
                let rows = match pc {
                    Some(p) => c.query(&sql, &[&first_whole, &end_whole, &p]),
                    None => c.query(&sql, &[&first_whole, &end_whole]),
                };
                add(rows.map_err(pg)?)?;
            }
            for (f, t) in scans {
                let sql = format!("SELECT {SQL_DAY}, kind, count(*) FROM oplog_events WHERE time_ms >= $1 AND time_ms < $2{pc_sql} GROUP BY 1, 2");
                let rows = match pc {
                    Some(p) => c.query(&sql, &[&f, &t, &p]),
                    None => c.query(&sql, &[&f, &t]),
                };
                add(rows.map_err(pg)?)?;
            }
            Ok(out
                .into_iter()
                .filter(|(_, n)| *n > 0)
                .filter_map(|((d, k), n)| Some((ymd(d), EventKind::from_code(u8::try_from(k).ok()?)?, n as u64)))
                .collect())
        })
    }

    fn partitions(&self) -> Result<Vec<PartitionInfo>> { self.with_client(Self::partitions_in) }

    fn drop_before(&self, before_ms: i64) -> Result<Vec<PartitionInfo>> {
        let _guard = self.write_lock.lock().map_err(|_| OplogError::Io("write lock poisoned".into()))?;
        self.with_client(|c| {
            let mut tx = c.transaction().map_err(pg)?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&DDL_LOCK]).map_err(pg)?;
            let gone: Vec<PartitionInfo> = Self::partitions_in(&mut tx)?.into_iter().filter(|p| p.to_ms <= before_ms).collect();
            for p in &gone {
                let start = p.from_ms / DAY_MS;
                let table = table_of(start);
                // Detach first: the parent's lock is held only for the catalog change.
                tx.batch_execute(&format!("ALTER TABLE oplog_events DETACH PARTITION {table}; DROP TABLE {table}")).map_err(pg)?;
                tx.execute(
                    "DELETE FROM oplog_counts WHERE day >= $1::BIGINT AND day < $2::BIGINT",
                    &[&start, &(p.to_ms / DAY_MS)],
                )
                .map_err(pg)?;
            }
            tx.commit().map_err(pg)?;
            if let Ok(mut m) = self.months.lock() {
                for p in &gone {
                    m.remove(&(p.from_ms / DAY_MS));
                }
            }
            Ok(gone)
        })
    }

    /// PostgreSQL checks its own pages; nothing is ever reported damaged here.
    fn damaged(&self) -> Vec<(String, String)> { Vec::new() }

    /// Every append is committed before it returns: nothing is buffered.
    fn flush(&self) -> Result<()> { Ok(()) }
}
