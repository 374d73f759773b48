//! The PostgreSQL store, for installations beyond one bureau.
//!
//! A small pool of blocking clients; a client whose connection broke is
//! dropped and replaced on next use, so the server recovers by itself when
//! the database comes back. Errors while the database is away are
//! [`StoreError::Unavailable`], which the server answers with 503.

use crate::*;
use crate::model::{initial_kind, judge_token};
use ::postgres::{Client, Config, NoTls, Transaction};
use std::sync::Mutex;

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("migrations/postgres/0001_init.sql")),
    (2, include_str!("migrations/postgres/0002_content_storage.sql")),
    (3, include_str!("migrations/postgres/0003_ledger.sql")),
    (4, include_str!("migrations/postgres/0004_console.sql")),
    (5, include_str!("migrations/postgres/0005_alerts.sql")),
    (6, include_str!("migrations/postgres/0006_alert_recipients.sql")),
    (7, include_str!("migrations/postgres/0007_deployments.sql")),
    (8, include_str!("migrations/postgres/0008_site_cache_bytes.sql")),
];
const POOL_SIZE: usize = 8;

pub struct PgStore {
    config: Config,
    pool: Mutex<Vec<Client>>,
    /// Serialises writers, as SQLite does: keeps the audit chain and
    /// group commits simple and makes both backends behave alike.
    write_lock: Mutex<()>,
}

fn err(e: ::postgres::Error) -> StoreError {
    if let Some(db) = e.as_db_error() {
        if db.code().code().starts_with("23") {
            return StoreError::Conflict(db.message().to_string());
        }
    }
    StoreError::Unavailable(e.to_string())
}

impl PgStore {
    /// Connects and migrates. `schema`, when given, is created if missing and
    /// used as the search path (tests use one schema each).
    pub fn connect(url: &str, schema: Option<&str>) -> Result<Self> {
        let mut config: Config = url.parse().map_err(|e| StoreError::Unavailable(format!("bad PostgreSQL URL: {e}")))?;
        config.connect_timeout(std::time::Duration::from_secs(5));
        // The asset list's searches are short queries with high cost
        // estimates: JIT compilation would take longer than the query.
        // Options in the URL (a search_path, say) are kept.
        let mut options = config.get_options().map(|o| format!("{o} ")).unwrap_or_default();
        options.push_str("-c jit=off");
        if let Some(schema) = schema {
            if !schema.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(StoreError::Unavailable(format!("bad schema name {schema}")));
            }
            let mut c = config.connect(NoTls).map_err(err)?;
            c.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}")).map_err(err)?;
            options.push_str(&format!(" -c search_path={schema}"));
        }
        config.options(&options);
        let store = PgStore { config, pool: Mutex::new(Vec::new()), write_lock: Mutex::new(()) };
        store.with_client(migrate)?;
        Ok(store)
    }

    fn with_client<T>(&self, f: impl FnOnce(&mut Client) -> Result<T>) -> Result<T> {
        let pooled = self.pool.lock().map_err(|_| StoreError::Unavailable("pool poisoned".into()))?.pop();
        let mut client = match pooled {
            Some(c) if !c.is_closed() => c,
            _ => self.config.connect(NoTls).map_err(err)?,
        };
        let out = f(&mut client);
        if !client.is_closed() {
            if let Ok(mut pool) = self.pool.lock() {
                if pool.len() < POOL_SIZE {
                    pool.push(client);
                }
            }
        }
        out
    }

    fn write<T>(&self, f: impl FnOnce(&mut Transaction) -> Result<T>) -> Result<T> {
        let _guard = self.write_lock.lock().map_err(|_| StoreError::Unavailable("write lock poisoned".into()))?;
        self.with_client(|c| {
            let mut tx = c.transaction().map_err(err)?;
            let out = f(&mut tx)?;
            tx.commit().map_err(err)?;
            Ok(out)
        })
    }
}

/// Moves last-seen times forward (never back) for agents and their assets.
fn touch(tx: &mut Transaction, agents: &[&str], assets: &[i64], at: &[i64]) -> Result<()> {
    // Several check-ins of one agent in a batch: UPDATE ... FROM takes any
    // one of them, so reduce to the latest first.
    tx.execute(
        "UPDATE agents SET last_seen_ms = GREATEST(COALESCE(agents.last_seen_ms, 0), v.t)
         FROM (SELECT id, MAX(t) AS t FROM UNNEST($1::TEXT[], $2::BIGINT[]) AS u(id, t) GROUP BY id) AS v WHERE agents.id = v.id",
        &[&agents, &at],
    )
    .map_err(err)?;
    tx.execute(
        "UPDATE assets SET last_seen_ms = GREATEST(COALESCE(assets.last_seen_ms, 0), v.t)
         FROM (SELECT id, MAX(t) AS t FROM UNNEST($1::BIGINT[], $2::BIGINT[]) AS u(id, t) GROUP BY id) AS v WHERE assets.id = v.id",
        &[&assets, &at],
    )
    .map_err(err)?;
    Ok(())
}

impl Drop for PgStore {
    /// The driver's client blocks on its own runtime when dropped, which
    /// tokio forbids inside async code; the last owner of the store may be
    /// async code at server shutdown, so the clients go on a plain thread.
    fn drop(&mut self) {
        let clients: Vec<Client> = self.pool.get_mut().map(std::mem::take).unwrap_or_default();
        if !clients.is_empty() {
            let _ = std::thread::spawn(move || drop(clients)).join();
        }
    }
}

fn migrate(c: &mut Client) -> Result<()> {
    c.batch_execute("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at_ms BIGINT NOT NULL)")
        .map_err(err)?;
    let mut tx = c.transaction().map_err(err)?;
    // Two servers starting at once must not both migrate.
    tx.batch_execute("LOCK TABLE schema_migrations IN EXCLUSIVE MODE").map_err(err)?;
    let current: i64 = tx.query_one("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &[]).map_err(err)?.get(0);
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        tx.batch_execute(sql).map_err(|e| StoreError::Unavailable(format!("migration {version}: {e}")))?;
        tx.execute("INSERT INTO schema_migrations VALUES ($1, $2)", &[version, &crate::now_ms()]).map_err(err)?;
        tracing::info!(version, "applied PostgreSQL migration");
    }
    tx.commit().map_err(err)
}

const PACKAGE_SELECT: &str = "SELECT id, name, version, serial, file_name, framework, command, detection, size, sha256, unsigned_manifest, signed_manifest, expires_at_ms, created_at_ms, created_by FROM packages";

fn package_row(r: &::postgres::Row) -> PackageRecord {
    let signed_manifest: Option<String> = r.get(11);
    PackageRecord {
        id: r.get(0),
        name: r.get(1),
        version: r.get(2),
        serial: r.get(3),
        file_name: r.get(4),
        framework: r.get(5),
        command: r.get(6),
        detection: r.get(7),
        size: r.get(8),
        sha256: r.get(9),
        unsigned_manifest: r.get(10),
        signed: signed_manifest.is_some(),
        signed_manifest,
        expires_at_ms: r.get(12),
        created_at_ms: r.get(13),
        created_by: r.get(14),
    }
}

const DEPLOYMENT_SELECT: &str = "SELECT d.id, d.package_id, p.name, p.version, d.title, d.status, d.plan, d.memory, d.created_at_ms, d.created_by, d.updated_at_ms FROM deployments d JOIN packages p ON p.id = d.package_id";

fn deployment_row(r: &::postgres::Row) -> DeploymentRecord {
    DeploymentRecord {
        id: r.get(0),
        package_id: r.get(1),
        package_name: r.get(2),
        package_version: r.get(3),
        title: r.get(4),
        status: r.get(5),
        plan: r.get(6),
        memory: r.get(7),
        created_at_ms: r.get(8),
        created_by: r.get(9),
        updated_at_ms: r.get(10),
    }
}

const TARGET_COLUMNS: &str = "t.deployment_id, t.asset_id, a.hostname, t.site, t.department, t.wave, t.state, t.reason, t.server_bytes, t.attempts, t.updated_at_ms";

const TARGET_SELECT: &str =
    "SELECT t.deployment_id, t.asset_id, a.hostname, t.site, t.department, t.wave, t.state, t.reason, t.server_bytes, t.attempts, t.updated_at_ms FROM deployment_targets t JOIN assets a ON a.id = t.asset_id";

fn target_row(r: &::postgres::Row, at: usize) -> DeploymentTargetRecord {
    DeploymentTargetRecord {
        deployment_id: r.get(at),
        asset_id: r.get(at + 1),
        hostname: r.get(at + 2),
        site: r.get(at + 3),
        department: r.get(at + 4),
        wave: r.get(at + 5),
        state: r.get(at + 6),
        reason: r.get(at + 7),
        server_bytes: r.get(at + 8),
        attempts: r.get(at + 9),
        updated_at_ms: r.get(at + 10),
    }
}

fn agent_row(r: &::postgres::Row) -> AgentRecord {
    AgentRecord {
        id: r.get(0),
        public_key: r.get(1),
        asset_id: r.get(2),
        site: r.get(3),
        hostname: r.get(4),
        os_family: r.get(5),
        enrolled_at_ms: r.get(6),
        last_seen_ms: r.get(7),
        revoked_at_ms: r.get(8),
    }
}

const USER_COLUMNS: &str = "u.id, u.username, u.display_name, u.password_hash, u.role, u.source";

fn user_row(r: &::postgres::Row) -> UserRecord {
    user_row_at(r, 0)
}

fn user_row_at(r: &::postgres::Row, i: usize) -> UserRecord {
    UserRecord { id: r.get(i), username: r.get(i + 1), display_name: r.get(i + 2), password_hash: r.get(i + 3), role: r.get(i + 4), source: r.get(i + 5) }
}

const ASSET_COLUMNS: &str =
    "a.id, a.hostname, a.kind, a.site, a.first_seen_ms, a.last_seen_ms, g.id, g.revoked_at_ms, a.serial, a.os_name, a.os_version";
const ASSET_FROM: &str = "FROM assets a LEFT JOIN agents g ON g.id = a.agent_id";

fn asset_row(r: &::postgres::Row) -> AssetRecord {
    AssetRecord {
        id: r.get(0),
        hostname: r.get(1),
        kind: r.get(2),
        site: r.get(3),
        first_seen_ms: r.get(4),
        last_seen_ms: r.get(5),
        agent_id: r.get(6),
        agent_revoked: r.get::<_, Option<i64>>(7).is_some(),
        serial: r.get(8),
        os_name: r.get(9),
        os_version: r.get(10),
        sections: Vec::new(),
        fields: Default::default(),
    }
}

fn load_fields(c: &mut Client, asset: &mut AssetRecord) -> Result<()> {
    for r in c.query("SELECT field, value FROM asset_fields WHERE asset_id = $1", &[&asset.id]).map_err(err)? {
        asset.fields.insert(r.get(0), r.get(1));
    }
    Ok(())
}

fn load_sections(c: &mut Client, asset: &mut AssetRecord) -> Result<()> {
    load_fields(c, asset)?;
    let rows = c
        .query(
            "SELECT name, hash, content, collected_at_ms, received_at_ms FROM inventory_sections WHERE asset_id = $1 ORDER BY name",
            &[&asset.id],
        )
        .map_err(err)?;
    for r in rows {
        let blob: Vec<u8> = r.get(2);
        asset.sections.push(StoredSection {
            name: r.get(0),
            hash: r.get(1),
            json: decompress(&blob)?,
            collected_at_ms: r.get(3),
            received_at_ms: r.get(4),
        });
    }
    Ok(())
}

/// The matching rule at enrolment; the same as SQLite's `match_asset`
/// (see there and ARCHITECTURE.md).
fn match_asset(tx: &mut Transaction, req: &EnrollAgent) -> Result<crate::model::AssetMatch> {
    if let Some(serial) = meaningful_serial(req.serial.as_deref()) {
        let hit = tx
            .query_opt(
                "SELECT a.id, g.id FROM assets a LEFT JOIN agents g ON g.id = a.agent_id AND g.revoked_at_ms IS NULL WHERE a.serial = $1 ORDER BY a.id LIMIT 1 FOR UPDATE OF a",
                &[&serial],
            )
            .map_err(err)?;
        if let Some(r) = hit {
            return Ok((Some((r.get(0), "serial")), r.get(1)));
        }
    }
    const FREE: &str = "NOT EXISTS (SELECT 1 FROM agents g WHERE g.asset_id = a.id AND g.revoked_at_ms IS NULL)";
    if !req.macs.is_empty() {
        let hit = tx
            .query_opt(
                &format!("SELECT a.id FROM asset_identifiers i JOIN assets a ON a.id = i.asset_id WHERE i.kind = 'mac' AND i.value = ANY($1) AND {FREE} ORDER BY a.id LIMIT 1"),
                &[&req.macs],
            )
            .map_err(err)?;
        if let Some(r) = hit {
            return Ok((Some((r.get(0), "mac")), None));
        }
    }
    let hit = tx
        .query_opt(&format!("SELECT a.id FROM assets a WHERE lower(a.hostname) = lower($1) AND {FREE} ORDER BY a.id LIMIT 1"), &[&req.hostname])
        .map_err(err)?;
    Ok((hit.map(|r| (r.get(0), "hostname")), None))
}

/// What a check-in tells about the asset itself; see SQLite's `discovered`.
fn discovered(tx: &mut Transaction, asset_id: i64, w: &CheckinWrite) -> Result<()> {
    let actor = format!("agent:{}", w.agent_id);
    let r = tx.query_one("SELECT hostname, kind FROM assets WHERE id = $1", &[&asset_id]).map_err(err)?;
    let (hostname, kind): (String, String) = (r.get(0), r.get(1));
    let mut history = Vec::new();
    if let Some(h) = w.hostname.as_ref().filter(|h| **h != hostname) {
        tx.execute("UPDATE assets SET hostname = $2 WHERE id = $1", &[&asset_id, h]).map_err(err)?;
        tx.execute("UPDATE agents SET hostname = $2 WHERE id = $1", &[&w.agent_id, h]).map_err(err)?;
        history.push(("hostname", hostname, h.clone()));
    }
    if let Some(k) = w.kind.as_ref().filter(|k| **k != kind && AGENT_KINDS.contains(&kind.as_str())) {
        tx.execute("UPDATE assets SET kind = $2 WHERE id = $1", &[&asset_id, k]).map_err(err)?;
        history.push(("kind", kind, k.clone()));
    }
    for (field, old, new) in history {
        tx.execute(
            "INSERT INTO asset_history (asset_id, field, old_value, new_value, actor, at_ms) VALUES ($1,$2,$3,$4,$5,$6)",
            &[&asset_id, &field, &old, &new, &actor, &w.received_at_ms],
        )
        .map_err(err)?;
    }
    if w.os_name.is_some() {
        tx.execute("UPDATE assets SET os_name = $2, os_version = $3 WHERE id = $1", &[&asset_id, &w.os_name, &w.os_version]).map_err(err)?;
    }
    if let Some(serial) = meaningful_serial(w.serial.as_deref()) {
        tx.execute("UPDATE assets SET serial = $2 WHERE id = $1 AND serial IS DISTINCT FROM $2", &[&asset_id, &serial]).map_err(err)?;
    }
    if let Some(macs) = &w.macs {
        replace_identifiers(tx, asset_id, "mac", "agent", macs)?;
    }
    if let Some(ips) = &w.ips {
        replace_identifiers(tx, asset_id, "ip", "agent", ips)?;
    }
    if let Some(neighbors) = w.neighbors.as_ref().filter(|n| !n.is_empty()) {
        let ips: Vec<&str> = neighbors.iter().map(|(ip, _)| ip.as_str()).collect();
        let macs: Vec<Option<&str>> = neighbors.iter().map(|(_, m)| m.as_deref()).collect();
        tx.execute(
            "INSERT INTO unknown_devices (ip, mac, first_seen_ms, last_seen_ms, seen_by_asset, sightings)
             SELECT DISTINCT ON (n.ip) n.ip, n.mac, $3, $3, $4, 1 FROM UNNEST($1::TEXT[], $2::TEXT[]) AS n(ip, mac)
             WHERE NOT EXISTS (SELECT 1 FROM asset_identifiers i WHERE (i.kind = 'ip' AND i.value = n.ip) OR (i.kind = 'mac' AND i.value = n.mac))
             ON CONFLICT (ip) DO UPDATE SET mac = COALESCE(excluded.mac, unknown_devices.mac), last_seen_ms = excluded.last_seen_ms,
               seen_by_asset = excluded.seen_by_asset, sightings = unknown_devices.sightings + 1",
            &[&ips, &macs, &w.received_at_ms, &asset_id],
        )
        .map_err(err)?;
    }
    Ok(())
}

fn replace_identifiers(tx: &mut Transaction, asset_id: i64, kind: &str, source: &str, values: &[String]) -> Result<()> {
    tx.execute("DELETE FROM asset_identifiers WHERE asset_id = $1 AND kind = $2 AND source = $3", &[&asset_id, &kind, &source]).map_err(err)?;
    tx.execute(
        "INSERT INTO asset_identifiers (asset_id, kind, value, source) SELECT $1, $2, v, $4 FROM UNNEST($3::TEXT[]) AS v ON CONFLICT DO NOTHING",
        &[&asset_id, &kind, &values, &source],
    )
    .map_err(err)?;
    Ok(())
}

impl Store for PgStore {
    fn ping(&self) -> Result<()> {
        self.with_client(|c| c.simple_query("SELECT 1").map(|_| ()).map_err(err))
    }

    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn create_enrollment_token(&self, t: &NewEnrollmentToken) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO enrollment_tokens (id, secret_hash, site, created_at_ms, expires_at_ms, max_uses, created_by) VALUES ($1,$2,$3,$4,$5,$6,$7)",
                &[&t.id, &t.secret_hash, &t.site, &t.created_at_ms, &t.expires_at_ms, &(t.max_uses as i64), &t.created_by],
            )
            .map_err(err)?;
            Ok(())
        })
    }

    fn enrollment_tokens(&self) -> Result<Vec<EnrollmentTokenRecord>> {
        self.with_client(|c| {
            let rows = c
                .query("SELECT id, site, created_at_ms, expires_at_ms, max_uses, uses, created_by FROM enrollment_tokens ORDER BY created_at_ms", &[])
                .map_err(err)?;
            Ok(rows
                .iter()
                .map(|r| EnrollmentTokenRecord {
                    id: r.get(0),
                    site: r.get(1),
                    created_at_ms: r.get(2),
                    expires_at_ms: r.get(3),
                    max_uses: r.get::<_, i64>(4) as u32,
                    uses: r.get::<_, i64>(5) as u32,
                    created_by: r.get(6),
                })
                .collect())
        })
    }

    fn enroll_agent(&self, req: &EnrollAgent) -> Result<EnrollOutcome> {
        self.write(|tx| {
            let row = tx
                .query_opt(
                    "SELECT secret_hash, site, expires_at_ms, max_uses, uses FROM enrollment_tokens WHERE id = $1 FOR UPDATE",
                    &[&req.token_id],
                )
                .map_err(err)?;
            let Some(row) = row else {
                return Ok(EnrollOutcome::UnknownToken);
            };
            let (secret_hash, site): (String, String) = (row.get(0), row.get(1));
            if let Some(refusal) = judge_token(&secret_hash, &req.secret_hash, row.get(2), row.get(3), row.get(4), req.now_ms) {
                return Ok(refusal);
            }
            tx.execute("UPDATE enrollment_tokens SET uses = uses + 1 WHERE id = $1", &[&req.token_id]).map_err(err)?;
            let (matched, superseded_agent) = match_asset(tx, req)?;
            let serial = meaningful_serial(req.serial.as_deref());
            let asset_id: i64 = match matched {
                Some((id, _)) => {
                    // The matched asset takes the agent's hostname; the change is in its history.
                    let old: String = tx.query_one("SELECT hostname FROM assets WHERE id = $1", &[&id]).map_err(err)?.get(0);
                    if old != req.hostname {
                        tx.execute(
                            "INSERT INTO asset_history (asset_id, field, old_value, new_value, actor, at_ms) VALUES ($1, 'hostname', $2, $3, $4, $5)",
                            &[&id, &old, &req.hostname, &format!("agent:{}", req.agent_id), &req.now_ms],
                        )
                        .map_err(err)?;
                    }
                    tx.execute("UPDATE assets SET hostname = $2, serial = COALESCE(serial, $3) WHERE id = $1", &[&id, &req.hostname, &serial]).map_err(err)?;
                    id
                }
                None => tx
                    .query_one(
                        "INSERT INTO assets (hostname, kind, site, first_seen_ms, serial) VALUES ($1, $2, $3, $4, $5) RETURNING id",
                        &[&req.hostname, &initial_kind(&req.os_family), &site, &req.now_ms, &serial],
                    )
                    .map_err(err)?
                    .get(0),
            };
            if let Some(old) = &superseded_agent {
                tx.execute("UPDATE agents SET revoked_at_ms = $2 WHERE id = $1 AND revoked_at_ms IS NULL", &[old, &req.now_ms]).map_err(err)?;
            }
            tx.execute(
                "INSERT INTO agents (id, public_key, asset_id, token_id, site, hostname, os_family, enrolled_at_ms) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)",
                &[&req.agent_id, &req.public_key, &asset_id, &req.token_id, &site, &req.hostname, &req.os_family, &req.now_ms],
            )
            .map_err(err)?;
            tx.execute("UPDATE assets SET agent_id = $2 WHERE id = $1", &[&asset_id, &req.agent_id]).map_err(err)?;
            Ok(EnrollOutcome::Enrolled { site, asset_id, matched_by: matched.map(|(_, rule)| rule), superseded_agent })
        })
    }

    fn agents(&self) -> Result<Vec<AgentRecord>> {
        self.with_client(|c| {
            let rows = c
                .query("SELECT id, public_key, asset_id, site, hostname, os_family, enrolled_at_ms, last_seen_ms, revoked_at_ms FROM agents ORDER BY enrolled_at_ms", &[])
                .map_err(err)?;
            Ok(rows.iter().map(agent_row).collect())
        })
    }

    fn revoke_agent(&self, agent_id: &str, now_ms: i64) -> Result<bool> {
        self.write(|tx| {
            let n = tx
                .execute("UPDATE agents SET revoked_at_ms = COALESCE(revoked_at_ms, $2) WHERE id = $1", &[&agent_id, &now_ms])
                .map_err(err)?;
            Ok(n > 0)
        })
    }

    /// One round trip per kind of statement for the whole batch (arrays and
    /// UNNEST), not per check-in: the writer's latency to the database,
    /// not the database, is what limits a row-at-a-time loop.
    fn apply_checkins(&self, batch: &[CheckinWrite]) -> Result<Vec<CheckinOutcome>> {
        self.write(|tx| {
            let ids: Vec<&str> = batch.iter().map(|w| w.agent_id.as_str()).collect();
            let rows = tx.query("SELECT id, asset_id FROM agents WHERE id = ANY($1) AND revoked_at_ms IS NULL", &[&ids]).map_err(err)?;
            let assets: std::collections::HashMap<String, i64> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();

            // Latest content per (asset, section): ON CONFLICT may touch a row once per statement.
            let mut sections: std::collections::HashMap<(i64, &str), (&SectionWrite, i64, i64)> = std::collections::HashMap::new();
            let (mut seen_ids, mut seen_assets, mut seen_at) = (Vec::new(), Vec::new(), Vec::new());
            let (mut gap_agent, mut gap_at, mut gap_items, mut gap_bytes, mut gap_first, mut gap_last) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
            let mut out = Vec::with_capacity(batch.len());
            for w in batch {
                let Some(&asset_id) = assets.get(&w.agent_id) else {
                    out.push(CheckinOutcome::Refused);
                    continue;
                };
                for s in &w.sections {
                    let e = sections.entry((asset_id, s.name.as_str())).or_insert((s, w.collected_at_ms, w.received_at_ms));
                    if w.collected_at_ms >= e.1 {
                        *e = (s, w.collected_at_ms, w.received_at_ms);
                    }
                }
                seen_ids.push(w.agent_id.as_str());
                seen_assets.push(asset_id);
                seen_at.push(w.received_at_ms);
                for g in &w.gaps {
                    gap_agent.push(w.agent_id.as_str());
                    gap_at.push(w.received_at_ms);
                    gap_items.push(g.dropped_items as i64);
                    gap_bytes.push(g.dropped_bytes as i64);
                    gap_first.push(g.first_dropped_at_ms);
                    gap_last.push(g.last_dropped_at_ms);
                }
                out.push(CheckinOutcome::Stored);
            }
            if !sections.is_empty() {
                let (mut a, mut n, mut h, mut c, mut col, mut rec) = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
                for ((asset, name), (s, collected, received)) in &sections {
                    a.push(*asset);
                    n.push(*name);
                    h.push(s.hash.as_str());
                    c.push(compress(s.json.as_bytes()));
                    col.push(*collected);
                    rec.push(*received);
                }
                tx.execute(
                    "INSERT INTO inventory_sections (asset_id, name, hash, content, collected_at_ms, received_at_ms)
                     SELECT * FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::BYTEA[], $5::BIGINT[], $6::BIGINT[])
                     ON CONFLICT (asset_id, name) DO UPDATE SET hash = excluded.hash, content = excluded.content,
                       collected_at_ms = excluded.collected_at_ms, received_at_ms = excluded.received_at_ms
                     WHERE excluded.collected_at_ms >= inventory_sections.collected_at_ms",
                    &[&a, &n, &h, &c, &col, &rec],
                )
                .map_err(err)?;
            }
            // Check-ins that tell something about the asset itself are few
            // (an inventory section changed): one at a time is fine.
            for w in batch {
                if let (true, Some(&asset_id)) = (w.has_discoveries(), assets.get(&w.agent_id)) {
                    discovered(tx, asset_id, w)?;
                }
            }
            if !seen_ids.is_empty() {
                touch(tx, &seen_ids, &seen_assets, &seen_at)?;
            }
            if !gap_agent.is_empty() {
                tx.execute(
                    "INSERT INTO queue_gaps (agent_id, received_at_ms, dropped_items, dropped_bytes, first_dropped_at_ms, last_dropped_at_ms)
                     SELECT * FROM UNNEST($1::TEXT[], $2::BIGINT[], $3::BIGINT[], $4::BIGINT[], $5::BIGINT[], $6::BIGINT[])",
                    &[&gap_agent, &gap_at, &gap_items, &gap_bytes, &gap_first, &gap_last],
                )
                .map_err(err)?;
            }
            Ok(out)
        })
    }

    fn touch_agents(&self, seen: &[(String, i64)]) -> Result<()> {
        self.write(|tx| {
            let ids: Vec<&str> = seen.iter().map(|(id, _)| id.as_str()).collect();
            let rows = tx.query("SELECT id, asset_id FROM agents WHERE id = ANY($1) AND revoked_at_ms IS NULL", &[&ids]).map_err(err)?;
            let assets: std::collections::HashMap<String, i64> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
            let (mut i, mut a, mut t) = (Vec::new(), Vec::new(), Vec::new());
            for (id, at) in seen {
                if let Some(asset) = assets.get(id) {
                    i.push(id.as_str());
                    a.push(*asset);
                    t.push(*at);
                }
            }
            if i.is_empty() {
                return Ok(());
            }
            touch(tx, &i, &a, &t)
        })
    }

    fn section_hashes(&self) -> Result<Vec<(String, String, String)>> {
        self.with_client(|c| {
            let rows = c
                .query("SELECT g.id, s.name, s.hash FROM inventory_sections s JOIN agents g ON g.asset_id = s.asset_id WHERE g.revoked_at_ms IS NULL", &[])
                .map_err(err)?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect())
        })
    }

    fn list_assets(&self, q: &AssetQuery) -> Result<(Vec<AssetRecord>, u64)> {
        self.with_client(|c| {
            let (filter, binds) = asset_filter(q, |n| format!("${n}"));
            let params: Vec<Box<dyn ::postgres::types::ToSql + Sync>> = binds
                .into_iter()
                .map(|b| -> Box<dyn ::postgres::types::ToSql + Sync> {
                    match b {
                        Bind::Text(t) => Box::new(t),
                        Bind::Int(i) => Box::new(i),
                    }
                })
                .collect();
            let refs: Vec<&(dyn ::postgres::types::ToSql + Sync)> = params.iter().map(|p| p.as_ref()).collect();
            let total: i64 = c.query_one(&format!("SELECT COUNT(*) FROM assets a {filter}"), &refs).map_err(err)?.get(0);
            let dir = if q.descending { "DESC" } else { "ASC" };
            let sql = format!(
                "SELECT {ASSET_COLUMNS} {ASSET_FROM} {filter} ORDER BY {} {dir} NULLS LAST, a.id {dir} LIMIT {} OFFSET {}",
                q.sort.sql(),
                q.limit,
                q.offset
            );
            let rows = c.query(&sql, &refs).map_err(err)?;
            let mut assets: Vec<AssetRecord> = rows.iter().map(asset_row).collect();
            if q.with_sections {
                for a in &mut assets {
                    load_sections(c, a)?;
                }
            } else if !assets.is_empty() {
                // One round trip for the page's ledger fields.
                let ids: Vec<i64> = assets.iter().map(|a| a.id).collect();
                let index: std::collections::HashMap<i64, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
                for r in c.query("SELECT asset_id, field, value FROM asset_fields WHERE asset_id = ANY($1)", &[&ids]).map_err(err)? {
                    if let Some(&i) = index.get(&r.get::<_, i64>(0)) {
                        assets[i].fields.insert(r.get(1), r.get(2));
                    }
                }
            }
            Ok((assets, total as u64))
        })
    }

    fn get_asset(&self, id: i64) -> Result<Option<AssetRecord>> {
        self.with_client(|c| {
            let row = c.query_opt(&format!("SELECT {ASSET_COLUMNS} {ASSET_FROM} WHERE a.id = $1"), &[&id]).map_err(err)?;
            match row {
                Some(r) => {
                    let mut a = asset_row(&r);
                    load_sections(c, &mut a)?;
                    Ok(Some(a))
                }
                None => Ok(None),
            }
        })
    }

    fn asset_summary(&self, not_seen_before_ms: i64) -> Result<AssetSummary> {
        self.with_client(|c| {
            let mut group = |sql: &str| -> Result<Vec<(String, u64)>> {
                Ok(c.query(sql, &[]).map_err(err)?.iter().map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1) as u64)).collect())
            };
            let by_kind = group("SELECT kind, COUNT(*) FROM assets GROUP BY kind ORDER BY COUNT(*) DESC, kind")?;
            let by_site = group("SELECT site, COUNT(*) FROM assets GROUP BY site ORDER BY site")?;
            let by_os = group(
                "SELECT TRIM(COALESCE(os_name, '') || ' ' || COALESCE(os_version, '')) AS os, COUNT(*) FROM assets WHERE os_name IS NOT NULL GROUP BY os ORDER BY COUNT(*) DESC, os",
            )?;
            let r = c
                .query_one(
                    "SELECT COUNT(*), COUNT(agent_id), COALESCE(SUM(CASE WHEN agent_id IS NOT NULL AND COALESCE(last_seen_ms, 0) < $1 THEN 1 ELSE 0 END), 0)::BIGINT FROM assets",
                    &[&not_seen_before_ms],
                )
                .map_err(err)?;
            Ok(AssetSummary {
                total: r.get::<_, i64>(0) as u64,
                with_agent: r.get::<_, i64>(1) as u64,
                not_seen: r.get::<_, i64>(2) as u64,
                by_kind,
                by_site,
                by_os,
            })
        })
    }

    fn ledger_snapshot(&self) -> Result<Vec<LedgerAsset>> {
        self.with_client(|c| {
            let rows = c
                .query("SELECT a.id, a.hostname, a.kind, a.site, a.serial, (g.id IS NOT NULL AND g.revoked_at_ms IS NULL), a.os_name, a.os_version, a.last_seen_ms FROM assets a LEFT JOIN agents g ON g.id = a.agent_id ORDER BY a.id", &[])
                .map_err(err)?;
            let mut assets: Vec<LedgerAsset> = rows
                .iter()
                .map(|r| LedgerAsset {
                    id: r.get(0),
                    hostname: r.get(1),
                    kind: r.get(2),
                    site: r.get(3),
                    serial: r.get(4),
                    has_agent: r.get(5),
                    os_name: r.get(6),
                    os_version: r.get(7),
                    last_seen_ms: r.get(8),
                    macs: Vec::new(),
                    fields: Default::default(),
                })
                .collect();
            let index: std::collections::HashMap<i64, usize> = assets.iter().enumerate().map(|(i, a)| (a.id, i)).collect();
            for r in c.query("SELECT asset_id, field, value FROM asset_fields", &[]).map_err(err)? {
                if let Some(&i) = index.get(&r.get::<_, i64>(0)) {
                    assets[i].fields.insert(r.get(1), r.get(2));
                }
            }
            for r in c.query("SELECT DISTINCT asset_id, value FROM asset_identifiers WHERE kind = 'mac' ORDER BY asset_id, value", &[]).map_err(err)? {
                if let Some(&i) = index.get(&r.get::<_, i64>(0)) {
                    assets[i].macs.push(r.get(1));
                }
            }
            Ok(assets)
        })
    }

    fn queue_gaps(&self, agent_id: &str) -> Result<Vec<GapRecord>> {
        self.with_client(|c| {
            let rows = c
                .query(
                    "SELECT agent_id, received_at_ms, dropped_items, dropped_bytes, first_dropped_at_ms, last_dropped_at_ms FROM queue_gaps WHERE agent_id = $1 ORDER BY id",
                    &[&agent_id],
                )
                .map_err(err)?;
            Ok(rows
                .iter()
                .map(|r| GapRecord {
                    agent_id: r.get(0),
                    received_at_ms: r.get(1),
                    dropped_items: r.get::<_, i64>(2) as u64,
                    dropped_bytes: r.get::<_, i64>(3) as u64,
                    first_dropped_at_ms: r.get(4),
                    last_dropped_at_ms: r.get(5),
                })
                .collect())
        })
    }

    /// The whole batch in a few statements (arrays and UNNEST): an import of
    /// thousands of rows would otherwise pay a round trip per field.
    fn apply_ledger(&self, writes: &[LedgerWrite], actor: &str, now_ms: i64) -> Result<Vec<(i64, Vec<HistoryRecord>)>> {
        use std::collections::{BTreeMap, HashMap};
        self.write(|tx| {
            let creates = writes.iter().filter(|w| matches!(w, LedgerWrite::Create { .. })).count() as i64;
            let mut new_ids: Vec<i64> = if creates > 0 {
                tx.query("SELECT nextval(pg_get_serial_sequence('assets', 'id')) FROM generate_series(1::BIGINT, $1::BIGINT)", &[&creates])
                    .map_err(err)?
                    .iter()
                    .map(|r| r.get(0))
                    .collect()
            } else {
                Vec::new()
            };
            new_ids.reverse();
            // Current values of the updated assets (core columns and fields), locked.
            let mut update_ids: Vec<i64> = writes.iter().filter_map(|w| if let LedgerWrite::Update { asset_id, .. } = w { Some(*asset_id) } else { None }).collect();
            update_ids.sort_unstable();
            update_ids.dedup();
            let mut current: HashMap<i64, BTreeMap<String, String>> = HashMap::new();
            if !update_ids.is_empty() {
                for r in tx.query("SELECT id, hostname, kind, site, serial FROM assets WHERE id = ANY($1) FOR UPDATE", &[&update_ids]).map_err(err)? {
                    let m = current.entry(r.get(0)).or_default();
                    for (i, col) in CORE_FIELDS.iter().enumerate() {
                        if let Some(v) = r.get::<_, Option<String>>(i + 1) {
                            m.insert(col.to_string(), v);
                        }
                    }
                }
                if let Some(missing) = update_ids.iter().find(|id| !current.contains_key(id)) {
                    return Err(StoreError::NotFound(format!("asset {missing}")));
                }
                for r in tx.query("SELECT asset_id, field, value FROM asset_fields WHERE asset_id = ANY($1)", &[&update_ids]).map_err(err)? {
                    current.entry(r.get(0)).or_default().insert(r.get(1), r.get(2));
                }
            }
            // Walk the writes in order, as one person would make them.
            let mut out = Vec::with_capacity(writes.len());
            let (mut c_id, mut c_host, mut c_kind, mut c_site) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            let mut touched: BTreeMap<(i64, String), Option<String>> = BTreeMap::new();
            for w in writes {
                let (asset_id, changes) = match w {
                    LedgerWrite::Create { hostname, kind, site, fields } => {
                        let id = new_ids.pop().ok_or_else(|| StoreError::Unavailable("asset id sequence".into()))?;
                        c_id.push(id);
                        c_host.push(hostname.clone());
                        c_kind.push(kind.clone());
                        c_site.push(site.clone());
                        let mut m = BTreeMap::new();
                        m.insert("hostname".to_string(), hostname.clone());
                        m.insert("kind".to_string(), kind.clone());
                        m.insert("site".to_string(), site.clone());
                        current.insert(id, BTreeMap::new());
                        let mut all: Vec<FieldChange> = m.into_iter().map(|(f, v)| FieldChange { field: f, value: Some(v) }).collect();
                        // History in the order a person reads a new asset.
                        all.sort_by_key(|c| ["hostname", "kind", "site"].iter().position(|f| *f == c.field));
                        all.extend(fields.iter().cloned());
                        (id, all)
                    }
                    LedgerWrite::Update { asset_id, changes } => (*asset_id, changes.clone()),
                };
                let state = current.entry(asset_id).or_default();
                let mut done = Vec::new();
                for c in changes {
                    let old = state.get(&c.field).cloned();
                    if old == c.value {
                        continue;
                    }
                    if c.value.is_none() && CORE_FIELDS.contains(&c.field.as_str()) && c.field != "serial" {
                        return Err(StoreError::Conflict(format!("{} cannot be empty", c.field)));
                    }
                    match &c.value {
                        Some(v) => state.insert(c.field.clone(), v.clone()),
                        None => state.remove(&c.field),
                    };
                    touched.insert((asset_id, c.field.clone()), c.value.clone());
                    done.push(HistoryRecord { asset_id, field: c.field.clone(), old_value: old, new_value: c.value.clone(), actor: actor.to_string(), at_ms: now_ms });
                }
                out.push((asset_id, done));
            }
            if !c_id.is_empty() {
                let at = vec![now_ms; c_id.len()];
                tx.execute(
                    "INSERT INTO assets (id, hostname, kind, site, first_seen_ms) SELECT * FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::BIGINT[])",
                    &[&c_id, &c_host, &c_kind, &c_site, &at],
                )
                .map_err(err)?;
            }
            // Final value of every touched field, by kind of statement.
            let mut core: BTreeMap<&str, (Vec<i64>, Vec<Option<String>>)> = BTreeMap::new();
            let (mut up_id, mut up_field, mut up_value) = (Vec::new(), Vec::new(), Vec::new());
            let (mut del_id, mut del_field) = (Vec::new(), Vec::new());
            let (mut idn_id, mut idn_kind) = (Vec::new(), Vec::new());
            let (mut idv_id, mut idv_kind, mut idv_value) = (Vec::new(), Vec::new(), Vec::new());
            for ((id, field), value) in &touched {
                if let Some(col) = CORE_FIELDS.iter().find(|f| **f == field.as_str()) {
                    let e = core.entry(col).or_default();
                    e.0.push(*id);
                    e.1.push(value.clone());
                    continue;
                }
                match value {
                    Some(v) => {
                        up_id.push(*id);
                        up_field.push(field.clone());
                        up_value.push(v.clone());
                    }
                    None => {
                        del_id.push(*id);
                        del_field.push(field.clone());
                    }
                }
                if let Some(kind) = identifier_kind(field) {
                    idn_id.push(*id);
                    idn_kind.push(kind.to_string());
                    for v in split_list(value.as_deref()) {
                        idv_id.push(*id);
                        idv_kind.push(kind.to_string());
                        idv_value.push(v);
                    }
                }
            }
            for (col, (ids, values)) in &core {
                tx.execute(&format!("UPDATE assets SET {col} = v.val FROM UNNEST($1::BIGINT[], $2::TEXT[]) AS v(id, val) WHERE assets.id = v.id"), &[ids, values]).map_err(err)?;
            }
            if !up_id.is_empty() {
                tx.execute(
                    "INSERT INTO asset_fields (asset_id, field, value) SELECT * FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::TEXT[])
                     ON CONFLICT (asset_id, field) DO UPDATE SET value = excluded.value",
                    &[&up_id, &up_field, &up_value],
                )
                .map_err(err)?;
            }
            if !del_id.is_empty() {
                tx.execute("DELETE FROM asset_fields f USING UNNEST($1::BIGINT[], $2::TEXT[]) AS d(id, field) WHERE f.asset_id = d.id AND f.field = d.field", &[&del_id, &del_field])
                    .map_err(err)?;
            }
            if !idn_id.is_empty() {
                tx.execute(
                    "DELETE FROM asset_identifiers i USING UNNEST($1::BIGINT[], $2::TEXT[]) AS d(id, kind) WHERE i.asset_id = d.id AND i.kind = d.kind AND i.source = 'ledger'",
                    &[&idn_id, &idn_kind],
                )
                .map_err(err)?;
            }
            if !idv_id.is_empty() {
                tx.execute(
                    "INSERT INTO asset_identifiers (asset_id, kind, value, source) SELECT i, k, v, 'ledger' FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::TEXT[]) AS u(i, k, v) ON CONFLICT DO NOTHING",
                    &[&idv_id, &idv_kind, &idv_value],
                )
                .map_err(err)?;
            }
            let history: Vec<&HistoryRecord> = out.iter().flat_map(|(_, h)| h.iter()).collect();
            if !history.is_empty() {
                let ids: Vec<i64> = history.iter().map(|h| h.asset_id).collect();
                let fields: Vec<&str> = history.iter().map(|h| h.field.as_str()).collect();
                let olds: Vec<Option<&str>> = history.iter().map(|h| h.old_value.as_deref()).collect();
                let news: Vec<Option<&str>> = history.iter().map(|h| h.new_value.as_deref()).collect();
                tx.execute(
                    "INSERT INTO asset_history (asset_id, field, old_value, new_value, actor, at_ms)
                     SELECT i, f, o, n, $5, $6 FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::TEXT[]) WITH ORDINALITY AS u(i, f, o, n, ord) ORDER BY ord",
                    &[&ids, &fields, &olds, &news, &actor, &now_ms],
                )
                .map_err(err)?;
            }
            // A large batch (an import) changes the statistics the asset
            // list's plans depend on; without them a filter can take seconds.
            if writes.len() >= 500 {
                tx.batch_execute("ANALYZE assets, asset_fields, asset_identifiers").map_err(err)?;
            }
            Ok(out)
        })
    }

    fn unknown_devices(&self) -> Result<Vec<UnknownDevice>> {
        self.with_client(|c| {
            Ok(c.query(UNKNOWN_DEVICES_SQL, &[])
                .map_err(err)?
                .iter()
                .map(|r| UnknownDevice {
                    ip: r.get(0),
                    mac: r.get(1),
                    first_seen_ms: r.get(2),
                    last_seen_ms: r.get(3),
                    seen_by_asset: r.get(4),
                    seen_by_hostname: r.get(5),
                    sightings: r.get(6),
                    status: r.get(7),
                })
                .collect())
        })
    }

    fn dismiss_unknown_device(&self, ip: &str, actor: &str, now_ms: i64) -> Result<bool> {
        self.write(|tx| {
            let n = tx
                .execute("UPDATE unknown_devices SET status = 'dismissed', decided_by = $2, decided_at_ms = $3 WHERE ip = $1", &[&ip, &actor, &now_ms])
                .map_err(err)?;
            Ok(n > 0)
        })
    }

    fn create_alert_rule(&self, r: &NewAlertRule) -> Result<i64> {
        self.write(|tx| {
            Ok(tx
                .query_one(
                    "INSERT INTO alert_rules (name, kind, site, department, process_contains, text_contains, device_class, created_by, created_at_ms, recipients) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10) RETURNING id",
                    &[&r.name, &r.kind, &r.site, &r.department, &r.process_contains, &r.text_contains, &r.device_class, &r.created_by, &r.created_at_ms, &crate::model::join_recipients(&r.recipients)],
                )
                .map_err(err)?
                .get(0))
        })
    }

    fn alert_rules(&self) -> Result<Vec<AlertRule>> {
        self.with_client(|c| {
            Ok(c.query("SELECT id, name, kind, site, department, process_contains, text_contains, device_class, enabled, created_by, created_at_ms, recipients FROM alert_rules ORDER BY id", &[])
                .map_err(err)?
                .iter()
                .map(|r| AlertRule {
                    id: r.get(0),
                    name: r.get(1),
                    kind: r.get(2),
                    site: r.get(3),
                    department: r.get(4),
                    process_contains: r.get(5),
                    text_contains: r.get(6),
                    device_class: r.get(7),
                    enabled: r.get(8),
                    created_by: r.get(9),
                    created_at_ms: r.get(10),
                    recipients: crate::model::split_recipients(r.get(11)),
                })
                .collect())
        })
    }

    fn delete_alert_rule(&self, id: i64) -> Result<bool> {
        self.write(|tx| Ok(tx.execute("DELETE FROM alert_rules WHERE id = $1", &[&id]).map_err(err)? > 0))
    }

    fn record_alerts(&self, alerts: &[NewAlert]) -> Result<Vec<i64>> {
        self.write(|tx| {
            let mut ids = Vec::with_capacity(alerts.len());
            for a in alerts {
                let row = tx
                    .query_one(
                        "INSERT INTO alerts (rule_id, rule_name, at_ms, pc, asset_id, user_name, kind, summary) VALUES ($1,$2,$3,$4,$5,$6,$7,$8) RETURNING id",
                        &[&a.rule_id, &a.rule_name, &a.at_ms, &a.pc, &a.asset_id, &a.user_name, &a.kind, &a.summary],
                    )
                    .map_err(err)?;
                ids.push(row.get(0));
            }
            Ok(ids)
        })
    }

    fn alerts(&self, limit: u32, open_only: bool) -> Result<Vec<AlertRecord>> {
        self.with_client(|c| {
            Ok(c.query(
                "SELECT id, rule_id, rule_name, at_ms, pc, asset_id, user_name, kind, summary, acknowledged_by, acknowledged_at_ms FROM alerts WHERE (NOT $2 OR acknowledged_at_ms IS NULL) ORDER BY at_ms DESC, id DESC LIMIT $1",
                &[&(limit as i64), &open_only],
            )
            .map_err(err)?
            .iter()
            .map(|r| AlertRecord {
                id: r.get(0),
                rule_id: r.get(1),
                rule_name: r.get(2),
                at_ms: r.get(3),
                pc: r.get(4),
                asset_id: r.get(5),
                user_name: r.get(6),
                kind: r.get(7),
                summary: r.get(8),
                acknowledged_by: r.get(9),
                acknowledged_at_ms: r.get(10),
            })
            .collect())
        })
    }

    fn acknowledge_alert(&self, id: i64, actor: &str, now_ms: i64) -> Result<bool> {
        self.write(|tx| {
            Ok(tx
                .execute("UPDATE alerts SET acknowledged_by = $2, acknowledged_at_ms = $3 WHERE id = $1 AND acknowledged_at_ms IS NULL", &[&id, &actor, &now_ms])
                .map_err(err)?
                > 0)
        })
    }

    fn asset_location(&self, asset_id: i64) -> Result<Option<(String, Option<String>)>> {
        self.with_client(|c| {
            Ok(c.query_opt(
                "SELECT a.site, (SELECT value FROM asset_fields f WHERE f.asset_id = a.id AND f.field = 'department') FROM assets a WHERE a.id = $1",
                &[&asset_id],
            )
            .map_err(err)?
            .map(|r| (r.get(0), r.get(1))))
        })
    }

    fn asset_field(&self, asset_id: i64, field: &str) -> Result<Option<String>> {
        self.with_client(|c| Ok(c.query_opt("SELECT value FROM asset_fields WHERE asset_id = $1 AND field = $2", &[&asset_id, &field]).map_err(err)?.map(|r| r.get(0))))
    }

    fn upsert_site(&self, site: &SiteRecord, now_ms: i64) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO sites (code, name, created_at_ms) VALUES ($1, $2, $3) ON CONFLICT (code) DO UPDATE SET name = excluded.name",
                &[&site.code, &site.name, &now_ms],
            )
            .map_err(err)?;
            Ok(())
        })
    }

    fn sites(&self) -> Result<Vec<SiteRecord>> {
        self.with_client(|c| {
            Ok(c.query("SELECT code, name FROM sites ORDER BY code", &[]).map_err(err)?.iter().map(|r| SiteRecord { code: r.get(0), name: r.get(1) }).collect())
        })
    }

    fn asset_history(&self, asset_id: i64) -> Result<Vec<HistoryRecord>> {
        self.with_client(|c| {
            let rows = c
                .query("SELECT asset_id, field, old_value, new_value, actor, at_ms FROM asset_history WHERE asset_id = $1 ORDER BY id", &[&asset_id])
                .map_err(err)?;
            Ok(rows
                .iter()
                .map(|r| HistoryRecord { asset_id: r.get(0), field: r.get(1), old_value: r.get(2), new_value: r.get(3), actor: r.get(4), at_ms: r.get(5) })
                .collect())
        })
    }

    fn create_user(&self, u: &NewUser) -> Result<i64> {
        self.write(|tx| {
            Ok(tx
                .query_one(
                    "INSERT INTO users (username, display_name, password_hash, role, created_at_ms, source) VALUES ($1,$2,$3,$4,$5,'local') RETURNING id",
                    &[&u.username, &u.display_name, &u.password_hash, &u.role, &u.created_at_ms],
                )
                .map_err(err)?
                .get(0))
        })
    }

    fn user_by_name(&self, username: &str) -> Result<Option<UserRecord>> {
        self.with_client(|c| {
            Ok(c.query_opt(&format!("SELECT {USER_COLUMNS} FROM users u WHERE u.username = $1"), &[&username])
                .map_err(err)?
                .map(|r| user_row(&r)))
        })
    }

    fn users(&self) -> Result<Vec<UserRecord>> {
        self.with_client(|c| {
            let rows = c.query(&format!("SELECT {USER_COLUMNS} FROM users u ORDER BY u.id"), &[]).map_err(err)?;
            Ok(rows.iter().map(user_row).collect())
        })
    }

    fn create_api_token(&self, t: &NewApiToken) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO api_tokens (token_hash, user_id, name, created_at_ms, expires_at_ms) VALUES ($1,$2,$3,$4,$5)",
                &[&t.token_hash, &t.user_id, &t.name, &t.created_at_ms, &t.expires_at_ms],
            )
            .map_err(err)?;
            Ok(())
        })
    }

    fn api_token_user(&self, token_hash: &str) -> Result<Option<UserRecord>> {
        self.with_client(|c| {
            Ok(c.query_opt(
                &format!("SELECT {USER_COLUMNS} FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1 AND t.revoked_at_ms IS NULL AND (t.expires_at_ms IS NULL OR t.expires_at_ms > $2)"),
                &[&token_hash, &crate::now_ms()],
            )
            .map_err(err)?
            .map(|r| user_row(&r)))
        })
    }

    fn api_tokens(&self, user_id: Option<i64>) -> Result<Vec<ApiTokenRecord>> {
        self.with_client(|c| {
            Ok(c.query(
                "SELECT substr(t.token_hash, 1, 12), u.username, t.name, t.created_at_ms, t.expires_at_ms, t.revoked_at_ms FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE $1::BIGINT IS NULL OR t.user_id = $1 ORDER BY t.created_at_ms",
                &[&user_id],
            )
            .map_err(err)?
            .iter()
            .map(|r| ApiTokenRecord { id: r.get(0), username: r.get(1), name: r.get(2), created_at_ms: r.get(3), expires_at_ms: r.get(4), revoked_at_ms: r.get(5) })
            .collect())
        })
    }

    fn revoke_api_token(&self, id: &str, owner: Option<i64>, now_ms: i64) -> Result<bool> {
        if id.len() != 12 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(false);
        }
        self.write(|tx| {
            let n = tx
                .execute(
                    "UPDATE api_tokens SET revoked_at_ms = COALESCE(revoked_at_ms, $3) WHERE substr(token_hash, 1, 12) = $1 AND ($2::BIGINT IS NULL OR user_id = $2)",
                    &[&id.to_ascii_lowercase(), &owner, &now_ms],
                )
                .map_err(err)?;
            Ok(n > 0)
        })
    }

    fn upsert_directory_user(&self, username: &str, display_name: &str, role: &str, now_ms: i64) -> Result<UserRecord> {
        self.write(|tx| {
            let existing: Option<String> = tx.query_opt("SELECT source FROM users WHERE username = $1 FOR UPDATE", &[&username]).map_err(err)?.map(|r| r.get(0));
            match existing.as_deref() {
                Some("directory") => {
                    tx.execute("UPDATE users SET display_name = $2, role = $3 WHERE username = $1", &[&username, &display_name, &role]).map_err(err)?;
                }
                Some(_) => return Err(StoreError::Conflict(format!("local user {username} exists"))),
                None => {
                    tx.execute(
                        "INSERT INTO users (username, display_name, password_hash, role, created_at_ms, source) VALUES ($1, $2, '', $3, $4, 'directory')",
                        &[&username, &display_name, &role, &now_ms],
                    )
                    .map_err(err)?;
                }
            }
            Ok(user_row(&tx.query_one(&format!("SELECT {USER_COLUMNS} FROM users u WHERE u.username = $1"), &[&username]).map_err(err)?))
        })
    }

    fn create_session(&self, s: &NewSession) -> Result<()> {
        self.write(|tx| {
            tx.execute("DELETE FROM sessions WHERE expires_at_ms < $1", &[&s.created_at_ms]).map_err(err)?;
            tx.execute(
                "INSERT INTO sessions (id_hash, user_id, csrf_token, created_at_ms, expires_at_ms, source) VALUES ($1,$2,$3,$4,$5,$6)",
                &[&s.id_hash, &s.user_id, &s.csrf_token, &s.created_at_ms, &s.expires_at_ms, &s.source],
            )
            .map_err(err)?;
            Ok(())
        })
    }

    fn session_user(&self, id_hash: &str, now_ms: i64) -> Result<Option<(SessionRecord, UserRecord)>> {
        self.with_client(|c| {
            let row = c
                .query_opt(
                    &format!("SELECT s.csrf_token, s.created_at_ms, s.expires_at_ms, {USER_COLUMNS} FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = $1 AND s.expires_at_ms > $2"),
                    &[&id_hash, &now_ms],
                )
                .map_err(err)?;
            Ok(row.map(|r| (SessionRecord { csrf_token: r.get(0), created_at_ms: r.get(1), expires_at_ms: r.get(2) }, user_row_at(&r, 3))))
        })
    }

    fn delete_session(&self, id_hash: &str) -> Result<()> {
        self.write(|tx| {
            tx.execute("DELETE FROM sessions WHERE id_hash = $1", &[&id_hash]).map_err(err)?;
            Ok(())
        })
    }

    fn create_package(&self, p: &NewPackage) -> Result<i64> {
        self.write(|tx| {
            Ok(tx
                .query_one(
                    "INSERT INTO packages (name, version, serial, file_name, framework, command, detection, size, sha256, unsigned_manifest, signed_manifest, expires_at_ms, created_at_ms, created_by) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14) RETURNING id",
                    &[&p.name, &p.version, &p.serial, &p.file_name, &p.framework, &p.command, &p.detection, &p.size, &p.sha256, &p.unsigned_manifest, &p.signed_manifest, &p.expires_at_ms, &p.created_at_ms, &p.created_by],
                )
                .map_err(err)?
                .get(0))
        })
    }

    fn packages(&self) -> Result<Vec<PackageRecord>> {
        self.with_client(|c| Ok(c.query(&format!("{PACKAGE_SELECT} ORDER BY id DESC"), &[]).map_err(err)?.iter().map(package_row).collect()))
    }

    fn package(&self, id: i64) -> Result<Option<PackageRecord>> {
        self.with_client(|c| Ok(c.query_opt(&format!("{PACKAGE_SELECT} WHERE id = $1"), &[&id]).map_err(err)?.as_ref().map(package_row)))
    }

    fn max_package_serial(&self, name: &str) -> Result<i64> {
        self.with_client(|c| Ok(c.query_one("SELECT COALESCE(MAX(serial), 0)::BIGINT FROM packages WHERE name = $1", &[&name]).map_err(err)?.get(0)))
    }

    fn set_package_signature(&self, id: i64, signed_manifest: &str) -> Result<bool> {
        self.write(|tx| Ok(tx.execute("UPDATE packages SET signed_manifest = $1 WHERE id = $2", &[&signed_manifest, &id]).map_err(err)? > 0))
    }

    fn create_deployment(&self, d: &NewDeployment, initial_state: &str) -> Result<i64> {
        self.write(|tx| {
            let id: i64 = tx
                .query_one(
                    "INSERT INTO deployments (package_id, title, status, plan, memory, created_at_ms, created_by, updated_at_ms) VALUES ($1,$2,'active',$3,'',$4,$5,$4) RETURNING id",
                    &[&d.package_id, &d.title, &d.plan, &d.created_at_ms, &d.created_by],
                )
                .map_err(err)?
                .get(0);
            let stmt = tx
                .prepare("INSERT INTO deployment_targets (deployment_id, asset_id, wave, site, department, state, updated_at_ms) VALUES ($1,$2,$3,$4,$5,$6,$7)")
                .map_err(err)?;
            for t in &d.targets {
                tx.execute(&stmt, &[&id, &t.asset_id, &t.wave, &t.site, &t.department, &initial_state, &d.created_at_ms]).map_err(err)?;
            }
            Ok(id)
        })
    }

    fn deployments(&self) -> Result<Vec<DeploymentRecord>> {
        self.with_client(|c| Ok(c.query(&format!("{DEPLOYMENT_SELECT} ORDER BY d.id DESC"), &[]).map_err(err)?.iter().map(deployment_row).collect()))
    }

    fn deployment(&self, id: i64) -> Result<Option<DeploymentRecord>> {
        self.with_client(|c| Ok(c.query_opt(&format!("{DEPLOYMENT_SELECT} WHERE d.id = $1"), &[&id]).map_err(err)?.as_ref().map(deployment_row)))
    }

    fn deployment_targets(&self, id: i64) -> Result<Vec<DeploymentTargetRecord>> {
        self.with_client(|c| {
            Ok(c.query(&format!("{TARGET_SELECT} WHERE t.deployment_id = $1 ORDER BY t.wave, a.hostname"), &[&id]).map_err(err)?.iter().map(|r| target_row(r, 0)).collect())
        })
    }

    fn asset_deployments(&self, asset_id: i64) -> Result<Vec<(DeploymentRecord, DeploymentTargetRecord)>> {
        self.with_client(|c| {
            let sql = format!(
                "SELECT d.id, d.package_id, p.name, p.version, d.title, d.status, d.plan, d.memory, d.created_at_ms, d.created_by, d.updated_at_ms, {TARGET_COLUMNS} \
                 FROM deployment_targets t JOIN assets a ON a.id = t.asset_id JOIN deployments d ON d.id = t.deployment_id JOIN packages p ON p.id = d.package_id \
                 WHERE t.asset_id = $1 ORDER BY d.id"
            );
            Ok(c.query(&sql, &[&asset_id]).map_err(err)?.iter().map(|r| (deployment_row(r), target_row(r, 11))).collect())
        })
    }

    fn set_deployment_status(&self, id: i64, status: &str, now_ms: i64) -> Result<bool> {
        self.write(|tx| Ok(tx.execute("UPDATE deployments SET status = $1, updated_at_ms = $2 WHERE id = $3", &[&status, &now_ms, &id]).map_err(err)? > 0))
    }

    fn save_deployment_memory(&self, id: i64, memory: &str, now_ms: i64) -> Result<()> {
        self.write(|tx| {
            tx.execute("UPDATE deployments SET memory = $1, updated_at_ms = $2 WHERE id = $3", &[&memory, &now_ms, &id]).map_err(err)?;
            Ok(())
        })
    }

    fn add_target_bytes(&self, deployment_id: i64, asset_id: i64, bytes: i64) -> Result<()> {
        self.write(|tx| {
            tx.execute("UPDATE deployment_targets SET server_bytes = server_bytes + $1 WHERE deployment_id = $2 AND asset_id = $3", &[&bytes, &deployment_id, &asset_id]).map_err(err)?;
            Ok(())
        })
    }

    fn add_site_cache_bytes(&self, deployment_id: i64, site: &str, bytes: i64) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO deployment_site_bytes (deployment_id, site, cache_bytes) VALUES ($1, $2, $3) \
                 ON CONFLICT (deployment_id, site) DO UPDATE SET cache_bytes = deployment_site_bytes.cache_bytes + excluded.cache_bytes",
                &[&deployment_id, &site, &bytes],
            )
            .map_err(err)?;
            Ok(())
        })
    }

    fn site_cache_bytes(&self, deployment_id: i64) -> Result<Vec<(String, i64)>> {
        self.with_client(|c| Ok(c.query("SELECT site, cache_bytes FROM deployment_site_bytes WHERE deployment_id = $1 ORDER BY site", &[&deployment_id]).map_err(err)?.iter().map(|r| (r.get(0), r.get(1))).collect()))
    }

    fn update_targets(&self, updates: &[TargetUpdate]) -> Result<()> {
        self.write(|tx| {
            let stmt = tx
                .prepare(
                    "UPDATE deployment_targets SET state = $1, reason = $2, server_bytes = server_bytes + $3, attempts = attempts + $4, updated_at_ms = $5 \
                     WHERE deployment_id = $6 AND asset_id = $7",
                )
                .map_err(err)?;
            for u in updates {
                tx.execute(&stmt, &[&u.state, &u.reason, &u.add_server_bytes, &i64::from(u.new_attempt), &u.now_ms, &u.deployment_id, &u.asset_id]).map_err(err)?;
            }
            Ok(())
        })
    }

    fn append_audit(&self, e: &NewAuditEntry) -> Result<AuditEntry> {
        self.write(|tx| {
            // The table lock orders appends across server nodes too.
            tx.batch_execute("LOCK TABLE audit_log IN EXCLUSIVE MODE").map_err(err)?;
            let last = tx.query_opt("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1", &[]).map_err(err)?;
            let (seq, prev_hash) = last.map(|r| (r.get::<_, i64>(0) + 1, r.get::<_, String>(1))).unwrap_or((1, String::new()));
            let at_ms = crate::now_ms();
            let hash = audit_hash(&prev_hash, e, at_ms, seq);
            tx.execute(
                "INSERT INTO audit_log (seq, at_ms, actor, action, target, detail, prev_hash, hash, source) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)",
                &[&seq, &at_ms, &e.actor, &e.action, &e.target, &e.detail, &prev_hash, &hash, &e.source],
            )
            .map_err(err)?;
            Ok(AuditEntry { seq, at_ms, actor: e.actor.clone(), action: e.action.clone(), target: e.target.clone(), detail: e.detail.clone(), source: e.source.clone(), prev_hash, hash })
        })
    }

    fn audit_entries(&self, limit: u32) -> Result<Vec<AuditEntry>> {
        self.with_client(|c| {
            let rows = c
                .query(
                    "SELECT seq, at_ms, actor, action, target, detail, prev_hash, hash, source FROM (SELECT * FROM audit_log ORDER BY seq DESC LIMIT $1) t ORDER BY seq",
                    &[&(limit as i64)],
                )
                .map_err(err)?;
            Ok(rows
                .iter()
                .map(|r| AuditEntry {
                    seq: r.get(0),
                    at_ms: r.get(1),
                    actor: r.get(2),
                    action: r.get(3),
                    target: r.get(4),
                    detail: r.get(5),
                    source: r.get(8),
                    prev_hash: r.get(6),
                    hash: r.get(7),
                })
                .collect())
        })
    }
}
