//! The embedded store: one SQLite file in WAL mode.
//!
//! One writer connection (SQLite allows one writer at a time anyway) and a
//! small pool of readers, which WAL lets run beside the writer.
//! `synchronous=FULL`: an acknowledged check-in survives power loss, and
//! group commit (one transaction per batch) keeps that affordable.

use crate::*;
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("migrations/sqlite/0001_init.sql")),
    (2, include_str!("migrations/sqlite/0002_ledger.sql")),
    (3, include_str!("migrations/sqlite/0003_console.sql")),
    (4, include_str!("migrations/sqlite/0004_alerts.sql")),
    (5, include_str!("migrations/sqlite/0005_alert_recipients.sql")),
    (6, include_str!("migrations/sqlite/0006_deployments.sql")),
    (7, include_str!("migrations/sqlite/0007_site_cache_bytes.sql")),
];

pub struct SqliteStore {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
}

fn err(e: rusqlite::Error) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation => {
            StoreError::Conflict(e.to_string())
        }
        _ => StoreError::Unavailable(e.to_string()),
    }
}

impl SqliteStore {
    pub fn open(path: &Path) -> Result<Self> {
        let writer = Self::connect(path)?;
        migrate(&writer)?;
        Ok(SqliteStore { path: path.to_path_buf(), writer: Mutex::new(writer), readers: Mutex::new(Vec::new()) })
    }

    fn connect(path: &Path) -> Result<Connection> {
        let conn = Connection::open(path).map_err(|e| StoreError::Unavailable(format!("{}: {e}", path.display())))?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA busy_timeout=5000;",
        )
        .map_err(err)?;
        Ok(conn)
    }

    fn write<T>(&self, f: impl FnOnce(&Transaction) -> Result<T>) -> Result<T> {
        let mut conn = self.writer.lock().map_err(|_| StoreError::Unavailable("writer lock poisoned".into()))?;
        let tx = conn.transaction().map_err(err)?;
        let out = f(&tx)?;
        tx.commit().map_err(err)?;
        Ok(out)
    }

    fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let pooled = self.readers.lock().map_err(|_| StoreError::Unavailable("reader pool poisoned".into()))?.pop();
        let conn = match pooled {
            Some(c) => c,
            None => Self::connect(&self.path)?,
        };
        let out = f(&conn);
        if let Ok(mut pool) = self.readers.lock() {
            if pool.len() < 8 {
                pool.push(conn);
            }
        }
        out
    }
}

fn migrate(conn: &Connection) -> Result<()> {
    conn.execute_batch("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at_ms INTEGER NOT NULL)")
        .map_err(err)?;
    let current: i64 =
        conn.query_row("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", [], |r| r.get(0)).map_err(err)?;
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        conn.execute_batch(&format!(
            "BEGIN; {sql}; INSERT INTO schema_migrations VALUES ({version}, {}); COMMIT;",
            now_ms()
        ))
        .map_err(|e| StoreError::Unavailable(format!("migration {version}: {e}")))?;
        tracing::info!(version, "applied SQLite migration");
    }
    Ok(())
}


const PACKAGE_SELECT: &str = "SELECT id, name, version, serial, file_name, framework, command, detection, size, sha256, unsigned_manifest, signed_manifest, expires_at_ms, created_at_ms, created_by FROM packages";

fn package_row(r: &rusqlite::Row) -> rusqlite::Result<PackageRecord> {
    let signed_manifest: Option<String> = r.get(11)?;
    Ok(PackageRecord {
        id: r.get(0)?,
        name: r.get(1)?,
        version: r.get(2)?,
        serial: r.get(3)?,
        file_name: r.get(4)?,
        framework: r.get(5)?,
        command: r.get(6)?,
        detection: r.get(7)?,
        size: r.get(8)?,
        sha256: r.get(9)?,
        unsigned_manifest: r.get(10)?,
        signed: signed_manifest.is_some(),
        signed_manifest,
        expires_at_ms: r.get(12)?,
        created_at_ms: r.get(13)?,
        created_by: r.get(14)?,
    })
}

const DEPLOYMENT_SELECT: &str = "SELECT d.id, d.package_id, p.name, p.version, d.title, d.status, d.plan, d.memory, d.created_at_ms, d.created_by, d.updated_at_ms FROM deployments d JOIN packages p ON p.id = d.package_id";

fn deployment_row(r: &rusqlite::Row) -> rusqlite::Result<DeploymentRecord> {
    Ok(DeploymentRecord {
        id: r.get(0)?,
        package_id: r.get(1)?,
        package_name: r.get(2)?,
        package_version: r.get(3)?,
        title: r.get(4)?,
        status: r.get(5)?,
        plan: r.get(6)?,
        memory: r.get(7)?,
        created_at_ms: r.get(8)?,
        created_by: r.get(9)?,
        updated_at_ms: r.get(10)?,
    })
}

const TARGET_COLUMNS: &str = "t.deployment_id, t.asset_id, a.hostname, t.site, t.department, t.wave, t.state, t.reason, t.server_bytes, t.attempts, t.updated_at_ms";

const TARGET_SELECT: &str =
    "SELECT t.deployment_id, t.asset_id, a.hostname, t.site, t.department, t.wave, t.state, t.reason, t.server_bytes, t.attempts, t.updated_at_ms FROM deployment_targets t JOIN assets a ON a.id = t.asset_id";

fn target_row(r: &rusqlite::Row, at: usize) -> rusqlite::Result<DeploymentTargetRecord> {
    Ok(DeploymentTargetRecord {
        deployment_id: r.get(at)?,
        asset_id: r.get(at + 1)?,
        hostname: r.get(at + 2)?,
        site: r.get(at + 3)?,
        department: r.get(at + 4)?,
        wave: r.get(at + 5)?,
        state: r.get(at + 6)?,
        reason: r.get(at + 7)?,
        server_bytes: r.get(at + 8)?,
        attempts: r.get(at + 9)?,
        updated_at_ms: r.get(at + 10)?,
    })
}

fn agent_row(r: &rusqlite::Row) -> rusqlite::Result<AgentRecord> {
    Ok(AgentRecord {
        id: r.get(0)?,
        public_key: r.get(1)?,
        asset_id: r.get(2)?,
        site: r.get(3)?,
        hostname: r.get(4)?,
        os_family: r.get(5)?,
        enrolled_at_ms: r.get(6)?,
        last_seen_ms: r.get(7)?,
        revoked_at_ms: r.get(8)?,
    })
}

const USER_COLUMNS: &str = "u.id, u.username, u.display_name, u.password_hash, u.role, u.source";

fn user_row(r: &rusqlite::Row) -> rusqlite::Result<UserRecord> {
    Ok(UserRecord { id: r.get(0)?, username: r.get(1)?, display_name: r.get(2)?, password_hash: r.get(3)?, role: r.get(4)?, source: r.get(5)? })
}

fn audit_row(r: &rusqlite::Row) -> rusqlite::Result<AuditEntry> {
    Ok(AuditEntry {
        seq: r.get(0)?,
        at_ms: r.get(1)?,
        actor: r.get(2)?,
        action: r.get(3)?,
        target: r.get(4)?,
        detail: r.get(5)?,
        source: r.get(8)?,
        prev_hash: r.get(6)?,
        hash: r.get(7)?,
    })
}

const ASSET_COLUMNS: &str =
    "a.id, a.hostname, a.kind, a.site, a.first_seen_ms, a.last_seen_ms, g.id, g.revoked_at_ms, a.serial, a.os_name, a.os_version";
const ASSET_FROM: &str = "FROM assets a LEFT JOIN agents g ON g.id = a.agent_id";

fn asset_row(r: &rusqlite::Row) -> rusqlite::Result<AssetRecord> {
    Ok(AssetRecord {
        id: r.get(0)?,
        hostname: r.get(1)?,
        kind: r.get(2)?,
        site: r.get(3)?,
        first_seen_ms: r.get(4)?,
        last_seen_ms: r.get(5)?,
        agent_id: r.get(6)?,
        agent_revoked: r.get::<_, Option<i64>>(7)?.is_some(),
        serial: r.get(8)?,
        os_name: r.get(9)?,
        os_version: r.get(10)?,
        sections: Vec::new(),
        fields: Default::default(),
    })
}

fn load_fields(conn: &Connection, asset: &mut AssetRecord) -> Result<()> {
    let mut stmt = conn.prepare_cached("SELECT field, value FROM asset_fields WHERE asset_id = ?1").map_err(err)?;
    let rows = stmt.query_map([asset.id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))).map_err(err)?;
    for row in rows {
        let (k, v) = row.map_err(err)?;
        asset.fields.insert(k, v);
    }
    Ok(())
}

fn load_sections(conn: &Connection, asset: &mut AssetRecord) -> Result<()> {
    load_fields(conn, asset)?;
    let mut stmt = conn
        .prepare_cached(
            "SELECT name, hash, content, collected_at_ms, received_at_ms FROM inventory_sections WHERE asset_id = ?1 ORDER BY name",
        )
        .map_err(err)?;
    let rows = stmt
        .query_map([asset.id], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, Vec<u8>>(2)?, r.get(3)?, r.get(4)?))
        })
        .map_err(err)?;
    for row in rows {
        let (name, hash, blob, collected_at_ms, received_at_ms) = row.map_err(err)?;
        asset.sections.push(StoredSection { name, hash, json: decompress(&blob)?, collected_at_ms, received_at_ms });
    }
    Ok(())
}

/// The matching rule at enrolment (ARCHITECTURE.md, "Asset matching"):
/// serial first (it names the machine: a reinstalled PC's old agent is
/// superseded), then a MAC, then the hostname; the last two only take
/// assets that have no active agent.
fn match_asset(tx: &Transaction, req: &EnrollAgent) -> Result<crate::model::AssetMatch> {
    if let Some(serial) = meaningful_serial(req.serial.as_deref()) {
        let hit: Option<(i64, Option<String>)> = tx
            .query_row(
                "SELECT a.id, g.id FROM assets a LEFT JOIN agents g ON g.id = a.agent_id AND g.revoked_at_ms IS NULL WHERE a.serial = ?1 ORDER BY a.id LIMIT 1",
                [&serial],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(err)?;
        if let Some((id, agent)) = hit {
            return Ok((Some((id, "serial")), agent));
        }
    }
    const FREE: &str = "NOT EXISTS (SELECT 1 FROM agents g WHERE g.asset_id = a.id AND g.revoked_at_ms IS NULL)";
    for mac in &req.macs {
        let hit: Option<i64> = tx
            .query_row(
                &format!("SELECT a.id FROM asset_identifiers i JOIN assets a ON a.id = i.asset_id WHERE i.kind = 'mac' AND i.value = ?1 AND {FREE} ORDER BY a.id LIMIT 1"),
                [mac],
                |r| r.get(0),
            )
            .optional()
            .map_err(err)?;
        if let Some(id) = hit {
            return Ok((Some((id, "mac")), None));
        }
    }
    let hit: Option<i64> = tx
        .query_row(&format!("SELECT a.id FROM assets a WHERE a.hostname = ?1 COLLATE NOCASE AND {FREE} ORDER BY a.id LIMIT 1"), [&req.hostname], |r| r.get(0))
        .optional()
        .map_err(err)?;
    Ok((hit.map(|id| (id, "hostname")), None))
}

/// What a check-in tells about the asset itself: hostname and kind (with
/// history, actor `agent:ID`), OS, serial, addresses.
fn discovered(tx: &Transaction, asset_id: i64, w: &CheckinWrite) -> Result<()> {
    let actor = format!("agent:{}", w.agent_id);
    let (hostname, kind): (String, String) = tx
        .prepare_cached("SELECT hostname, kind FROM assets WHERE id = ?1")
        .map_err(err)?
        .query_row([asset_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(err)?;
    let mut history = Vec::new();
    if let Some(h) = w.hostname.as_ref().filter(|h| **h != hostname) {
        tx.prepare_cached("UPDATE assets SET hostname = ?2 WHERE id = ?1").map_err(err)?.execute(params![asset_id, h]).map_err(err)?;
        tx.prepare_cached("UPDATE agents SET hostname = ?2 WHERE id = ?1").map_err(err)?.execute(params![w.agent_id, h]).map_err(err)?;
        history.push(("hostname", hostname, h.clone()));
    }
    if let Some(k) = w.kind.as_ref().filter(|k| **k != kind && AGENT_KINDS.contains(&kind.as_str())) {
        tx.prepare_cached("UPDATE assets SET kind = ?2 WHERE id = ?1").map_err(err)?.execute(params![asset_id, k]).map_err(err)?;
        history.push(("kind", kind, k.clone()));
    }
    for (field, old, new) in history {
        tx.prepare_cached("INSERT INTO asset_history (asset_id, field, old_value, new_value, actor, at_ms) VALUES (?1,?2,?3,?4,?5,?6)")
            .map_err(err)?
            .execute(params![asset_id, field, old, new, actor, w.received_at_ms])
            .map_err(err)?;
    }
    if w.os_name.is_some() {
        tx.prepare_cached("UPDATE assets SET os_name = ?2, os_version = ?3 WHERE id = ?1").map_err(err)?.execute(params![asset_id, w.os_name, w.os_version]).map_err(err)?;
    }
    if let Some(serial) = meaningful_serial(w.serial.as_deref()) {
        tx.prepare_cached("UPDATE assets SET serial = ?2 WHERE id = ?1 AND serial IS NOT ?2").map_err(err)?.execute(params![asset_id, serial]).map_err(err)?;
    }
    if let Some(macs) = &w.macs {
        replace_identifiers(tx, asset_id, "mac", "agent", macs)?;
    }
    if let Some(ips) = &w.ips {
        replace_identifiers(tx, asset_id, "ip", "agent", ips)?;
    }
    for (ip, mac) in w.neighbors.iter().flatten() {
        let known: bool = tx
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM asset_identifiers WHERE (kind = 'ip' AND value = ?1) OR (kind = 'mac' AND value = ?2))")
            .map_err(err)?
            .query_row(params![ip, mac], |r| r.get(0))
            .map_err(err)?;
        if !known {
            tx.prepare_cached(
                "INSERT INTO unknown_devices (ip, mac, first_seen_ms, last_seen_ms, seen_by_asset, sightings) VALUES (?1, ?2, ?3, ?3, ?4, 1)
                 ON CONFLICT (ip) DO UPDATE SET mac = COALESCE(excluded.mac, unknown_devices.mac), last_seen_ms = excluded.last_seen_ms,
                   seen_by_asset = excluded.seen_by_asset, sightings = unknown_devices.sightings + 1",
            )
            .map_err(err)?
            .execute(params![ip, mac, w.received_at_ms, asset_id])
            .map_err(err)?;
        }
    }
    Ok(())
}

fn replace_identifiers(tx: &Transaction, asset_id: i64, kind: &str, source: &str, values: &[String]) -> Result<()> {
    tx.prepare_cached("DELETE FROM asset_identifiers WHERE asset_id = ?1 AND kind = ?2 AND source = ?3")
        .map_err(err)?
        .execute(params![asset_id, kind, source])
        .map_err(err)?;
    let mut insert = tx.prepare_cached("INSERT OR IGNORE INTO asset_identifiers (asset_id, kind, value, source) VALUES (?1, ?2, ?3, ?4)").map_err(err)?;
    for v in values {
        insert.execute(params![asset_id, kind, v, source]).map_err(err)?;
    }
    Ok(())
}

impl Store for SqliteStore {
    fn ping(&self) -> Result<()> {
        self.read(|c| c.query_row("SELECT 1", [], |_| Ok(())).map_err(err))
    }

    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn create_enrollment_token(&self, t: &NewEnrollmentToken) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO enrollment_tokens (id, secret_hash, site, created_at_ms, expires_at_ms, max_uses, created_by) VALUES (?1,?2,?3,?4,?5,?6,?7)",
                params![t.id, t.secret_hash, t.site, t.created_at_ms, t.expires_at_ms, t.max_uses, t.created_by],
            )
            .map_err(err)?;
            Ok(())
        })
    }

    fn enrollment_tokens(&self) -> Result<Vec<EnrollmentTokenRecord>> {
        self.read(|c| {
            let mut stmt = c
                .prepare("SELECT id, site, created_at_ms, expires_at_ms, max_uses, uses, created_by FROM enrollment_tokens ORDER BY created_at_ms")
                .map_err(err)?;
            let rows = stmt
                .query_map([], |r| {
                    Ok(EnrollmentTokenRecord {
                        id: r.get(0)?,
                        site: r.get(1)?,
                        created_at_ms: r.get(2)?,
                        expires_at_ms: r.get(3)?,
                        max_uses: r.get(4)?,
                        uses: r.get(5)?,
                        created_by: r.get(6)?,
                    })
                })
                .map_err(err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(err)
        })
    }

    fn enroll_agent(&self, req: &EnrollAgent) -> Result<EnrollOutcome> {
        self.write(|tx| {
            let token: Option<(String, String, i64, i64, i64)> = tx
                .query_row(
                    "SELECT secret_hash, site, expires_at_ms, max_uses, uses FROM enrollment_tokens WHERE id = ?1",
                    [&req.token_id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
                )
                .optional()
                .map_err(err)?;
            let Some((secret_hash, site, expires, max_uses, uses)) = token else {
                return Ok(EnrollOutcome::UnknownToken);
            };
            let verdict = crate::model::judge_token(&secret_hash, &req.secret_hash, expires, max_uses, uses, req.now_ms);
            if let Some(refusal) = verdict {
                return Ok(refusal);
            }
            tx.execute("UPDATE enrollment_tokens SET uses = uses + 1 WHERE id = ?1", [&req.token_id]).map_err(err)?;
            let (matched, superseded_agent) = match_asset(tx, req)?;
            let asset_id = match matched {
                Some((id, _)) => {
                    // The matched asset takes the agent's hostname; the change is in its history.
                    let old: String = tx.query_row("SELECT hostname FROM assets WHERE id = ?1", [id], |r| r.get(0)).map_err(err)?;
                    if old != req.hostname {
                        tx.execute(
                            "INSERT INTO asset_history (asset_id, field, old_value, new_value, actor, at_ms) VALUES (?1, 'hostname', ?2, ?3, ?4, ?5)",
                            params![id, old, req.hostname, format!("agent:{}", req.agent_id), req.now_ms],
                        )
                        .map_err(err)?;
                    }
                    tx.execute("UPDATE assets SET hostname = ?2, serial = COALESCE(serial, ?3) WHERE id = ?1", params![id, req.hostname, meaningful_serial(req.serial.as_deref())])
                        .map_err(err)?;
                    id
                }
                None => {
                    tx.execute(
                        "INSERT INTO assets (hostname, kind, site, first_seen_ms, serial) VALUES (?1, ?2, ?3, ?4, ?5)",
                        params![req.hostname, crate::model::initial_kind(&req.os_family), site, req.now_ms, meaningful_serial(req.serial.as_deref())],
                    )
                    .map_err(err)?;
                    tx.last_insert_rowid()
                }
            };
            if let Some(old) = &superseded_agent {
                tx.execute("UPDATE agents SET revoked_at_ms = ?2 WHERE id = ?1 AND revoked_at_ms IS NULL", params![old, req.now_ms]).map_err(err)?;
            }
            tx.execute(
                "INSERT INTO agents (id, public_key, asset_id, token_id, site, hostname, os_family, enrolled_at_ms) VALUES (?1,?2,?3,?4,?5,?6,?7,?8)",
                params![req.agent_id, req.public_key, asset_id, req.token_id, site, req.hostname, req.os_family, req.now_ms],
            )
            .map_err(err)?;
            tx.execute("UPDATE assets SET agent_id = ?2 WHERE id = ?1", params![asset_id, req.agent_id]).map_err(err)?;
            Ok(EnrollOutcome::Enrolled { site, asset_id, matched_by: matched.map(|(_, rule)| rule), superseded_agent })
        })
    }

    fn agents(&self) -> Result<Vec<AgentRecord>> {
        self.read(|c| {
            let mut stmt = c
                .prepare("SELECT id, public_key, asset_id, site, hostname, os_family, enrolled_at_ms, last_seen_ms, revoked_at_ms FROM agents ORDER BY enrolled_at_ms")
                .map_err(err)?;
            let rows = stmt.query_map([], agent_row).map_err(err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(err)
        })
    }

    fn revoke_agent(&self, agent_id: &str, now_ms: i64) -> Result<bool> {
        self.write(|tx| {
            let n = tx
                .execute("UPDATE agents SET revoked_at_ms = COALESCE(revoked_at_ms, ?2) WHERE id = ?1", params![agent_id, now_ms])
                .map_err(err)?;
            Ok(n > 0)
        })
    }

    fn apply_checkins(&self, batch: &[CheckinWrite]) -> Result<Vec<CheckinOutcome>> {
        self.write(|tx| {
            let mut out = Vec::with_capacity(batch.len());
            for w in batch {
                let agent: Option<(i64, Option<i64>)> = tx
                    .prepare_cached("SELECT asset_id, revoked_at_ms FROM agents WHERE id = ?1")
                    .map_err(err)?
                    .query_row([&w.agent_id], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
                    .map_err(err)?;
                let asset_id = match agent {
                    Some((asset_id, None)) => asset_id,
                    _ => {
                        out.push(CheckinOutcome::Refused);
                        continue;
                    }
                };
                let mut upsert = tx
                    .prepare_cached(
                        "INSERT INTO inventory_sections (asset_id, name, hash, content, collected_at_ms, received_at_ms) VALUES (?1,?2,?3,?4,?5,?6)
                         ON CONFLICT (asset_id, name) DO UPDATE SET hash = excluded.hash, content = excluded.content,
                           collected_at_ms = excluded.collected_at_ms, received_at_ms = excluded.received_at_ms
                         WHERE excluded.collected_at_ms >= inventory_sections.collected_at_ms",
                    )
                    .map_err(err)?;
                for s in &w.sections {
                    upsert
                        .execute(params![asset_id, s.name, s.hash, compress(s.json.as_bytes()), w.collected_at_ms, w.received_at_ms])
                        .map_err(err)?;
                }
                if w.has_discoveries() {
                    discovered(tx, asset_id, w)?;
                }
                tx.prepare_cached("UPDATE assets SET last_seen_ms = MAX(COALESCE(last_seen_ms, 0), ?2) WHERE id = ?1")
                    .map_err(err)?
                    .execute(params![asset_id, w.received_at_ms])
                    .map_err(err)?;
                tx.prepare_cached("UPDATE agents SET last_seen_ms = MAX(COALESCE(last_seen_ms, 0), ?2) WHERE id = ?1")
                    .map_err(err)?
                    .execute(params![w.agent_id, w.received_at_ms])
                    .map_err(err)?;
                for g in &w.gaps {
                    tx.prepare_cached(
                        "INSERT INTO queue_gaps (agent_id, received_at_ms, dropped_items, dropped_bytes, first_dropped_at_ms, last_dropped_at_ms) VALUES (?1,?2,?3,?4,?5,?6)",
                    )
                    .map_err(err)?
                    .execute(params![w.agent_id, w.received_at_ms, g.dropped_items as i64, g.dropped_bytes as i64, g.first_dropped_at_ms, g.last_dropped_at_ms])
                    .map_err(err)?;
                }
                out.push(CheckinOutcome::Stored);
            }
            Ok(out)
        })
    }

    fn touch_agents(&self, seen: &[(String, i64)]) -> Result<()> {
        self.write(|tx| {
            for (agent_id, at) in seen {
                tx.prepare_cached("UPDATE agents SET last_seen_ms = MAX(COALESCE(last_seen_ms, 0), ?2) WHERE id = ?1 AND revoked_at_ms IS NULL")
                    .map_err(err)?
                    .execute(params![agent_id, at])
                    .map_err(err)?;
                tx.prepare_cached("UPDATE assets SET last_seen_ms = MAX(COALESCE(last_seen_ms, 0), ?2) WHERE id = (SELECT asset_id FROM agents WHERE id = ?1 AND revoked_at_ms IS NULL)")
                    .map_err(err)?
                    .execute(params![agent_id, at])
                    .map_err(err)?;
            }
            Ok(())
        })
    }

    fn section_hashes(&self) -> Result<Vec<(String, String, String)>> {
        self.read(|c| {
            let mut stmt = c
                .prepare("SELECT g.id, s.name, s.hash FROM inventory_sections s JOIN agents g ON g.asset_id = s.asset_id WHERE g.revoked_at_ms IS NULL")
                .map_err(err)?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).map_err(err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(err)
        })
    }

    fn list_assets(&self, q: &AssetQuery) -> Result<(Vec<AssetRecord>, u64)> {
        self.read(|c| {
            let (filter, binds) = asset_filter(q, |n| format!("?{n}"));
            let values: Vec<rusqlite::types::Value> = binds
                .into_iter()
                .map(|b| match b {
                    Bind::Text(t) => rusqlite::types::Value::Text(t),
                    Bind::Int(i) => rusqlite::types::Value::Integer(i),
                })
                .collect();
            let total: i64 = c
                .prepare_cached(&format!("SELECT COUNT(*) FROM assets a {filter}"))
                .map_err(err)?
                .query_row(rusqlite::params_from_iter(values.iter()), |r| r.get(0))
                .map_err(err)?;
            let dir = if q.descending { "DESC" } else { "ASC" };
            let sql = format!(
                "SELECT {ASSET_COLUMNS} {ASSET_FROM} {filter} ORDER BY {} {dir} NULLS LAST, a.id {dir} LIMIT {} OFFSET {}",
                q.sort.sql(),
                q.limit,
                q.offset
            );
            let mut stmt = c.prepare_cached(&sql).map_err(err)?;
            let rows = stmt.query_map(rusqlite::params_from_iter(values.iter()), asset_row).map_err(err)?;
            let mut assets = rows.collect::<rusqlite::Result<Vec<_>>>().map_err(err)?;
            for a in &mut assets {
                if q.with_sections {
                    load_sections(c, a)?;
                } else {
                    load_fields(c, a)?;
                }
            }
            Ok((assets, total as u64))
        })
    }

    fn get_asset(&self, id: i64) -> Result<Option<AssetRecord>> {
        self.read(|c| {
            let asset = c.query_row(&format!("SELECT {ASSET_COLUMNS} {ASSET_FROM} WHERE a.id = ?1"), [id], asset_row).optional().map_err(err)?;
            match asset {
                Some(mut a) => {
                    load_sections(c, &mut a)?;
                    Ok(Some(a))
                }
                None => Ok(None),
            }
        })
    }

    fn asset_summary(&self, not_seen_before_ms: i64) -> Result<AssetSummary> {
        self.read(|c| {
            let group = |sql: &str| -> Result<Vec<(String, u64)>> {
                let mut stmt = c.prepare(sql).map_err(err)?;
                let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))).map_err(err)?;
                rows.collect::<rusqlite::Result<Vec<_>>>().map_err(err)
            };
            let (total, with_agent, not_seen): (i64, i64, i64) = c
                .query_row(
                    "SELECT COUNT(*), COUNT(agent_id), COALESCE(SUM(CASE WHEN agent_id IS NOT NULL AND COALESCE(last_seen_ms, 0) < ?1 THEN 1 ELSE 0 END), 0) FROM assets",
                    [not_seen_before_ms],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .map_err(err)?;
            Ok(AssetSummary {
                total: total as u64,
                with_agent: with_agent as u64,
                not_seen: not_seen as u64,
                by_kind: group("SELECT kind, COUNT(*) FROM assets GROUP BY kind ORDER BY COUNT(*) DESC, kind")?,
                by_site: group("SELECT site, COUNT(*) FROM assets GROUP BY site ORDER BY site")?,
                by_os: group(
                    "SELECT TRIM(COALESCE(os_name, '') || ' ' || COALESCE(os_version, '')) AS os, COUNT(*) FROM assets WHERE os_name IS NOT NULL GROUP BY os ORDER BY COUNT(*) DESC, os",
                )?,
            })
        })
    }

    fn ledger_snapshot(&self) -> Result<Vec<LedgerAsset>> {
        self.read(|c| {
            let mut stmt = c
                .prepare("SELECT a.id, a.hostname, a.kind, a.site, a.serial, g.id IS NOT NULL AND g.revoked_at_ms IS NULL, a.os_name, a.os_version, a.last_seen_ms FROM assets a LEFT JOIN agents g ON g.id = a.agent_id ORDER BY a.id")
                .map_err(err)?;
            let rows = stmt
                .query_map([], |r| {
                    Ok(LedgerAsset {
                        id: r.get(0)?,
                        hostname: r.get(1)?,
                        kind: r.get(2)?,
                        site: r.get(3)?,
                        serial: r.get(4)?,
                        has_agent: r.get(5)?,
                        os_name: r.get(6)?,
                        os_version: r.get(7)?,
                        last_seen_ms: r.get(8)?,
                        macs: Vec::new(),
                        fields: Default::default(),
                    })
                })
                .map_err(err)?;
            let mut assets = rows.collect::<rusqlite::Result<Vec<_>>>().map_err(err)?;
            let index: std::collections::HashMap<i64, usize> = assets.iter().enumerate().map(|(i, a)| (a.id, i)).collect();
            let mut stmt = c.prepare("SELECT asset_id, field, value FROM asset_fields").map_err(err)?;
            let mut rows = stmt.query([]).map_err(err)?;
            while let Some(r) = rows.next().map_err(err)? {
                if let Some(&i) = index.get(&r.get::<_, i64>(0).map_err(err)?) {
                    assets[i].fields.insert(r.get(1).map_err(err)?, r.get(2).map_err(err)?);
                }
            }
            let mut stmt = c.prepare("SELECT DISTINCT asset_id, value FROM asset_identifiers WHERE kind = 'mac' ORDER BY asset_id, value").map_err(err)?;
            let mut rows = stmt.query([]).map_err(err)?;
            while let Some(r) = rows.next().map_err(err)? {
                if let Some(&i) = index.get(&r.get::<_, i64>(0).map_err(err)?) {
                    assets[i].macs.push(r.get(1).map_err(err)?);
                }
            }
            Ok(assets)
        })
    }

    fn queue_gaps(&self, agent_id: &str) -> Result<Vec<GapRecord>> {
        self.read(|c| {
            let mut stmt = c
                .prepare("SELECT agent_id, received_at_ms, dropped_items, dropped_bytes, first_dropped_at_ms, last_dropped_at_ms FROM queue_gaps WHERE agent_id = ?1 ORDER BY id")
                .map_err(err)?;
            let rows = stmt
                .query_map([agent_id], |r| {
                    Ok(GapRecord {
                        agent_id: r.get(0)?,
                        received_at_ms: r.get(1)?,
                        dropped_items: r.get::<_, i64>(2)? as u64,
                        dropped_bytes: r.get::<_, i64>(3)? as u64,
                        first_dropped_at_ms: r.get(4)?,
                        last_dropped_at_ms: r.get(5)?,
                    })
                })
                .map_err(err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(err)
        })
    }

    fn apply_ledger(&self, writes: &[LedgerWrite], actor: &str, now_ms: i64) -> Result<Vec<(i64, Vec<HistoryRecord>)>> {
        self.write(|tx| {
            let mut out = Vec::with_capacity(writes.len());
            for w in writes {
                let (asset_id, changes, created) = match w {
                    LedgerWrite::Create { hostname, kind, site, fields } => {
                        tx.execute("INSERT INTO assets (hostname, kind, site, first_seen_ms) VALUES (?1, ?2, ?3, ?4)", params![hostname, kind, site, now_ms])
                            .map_err(err)?;
                        let id = tx.last_insert_rowid();
                        let mut all = vec![
                            FieldChange { field: "hostname".into(), value: Some(hostname.clone()) },
                            FieldChange { field: "kind".into(), value: Some(kind.clone()) },
                            FieldChange { field: "site".into(), value: Some(site.clone()) },
                        ];
                        all.extend(fields.iter().cloned());
                        (id, all, true)
                    }
                    LedgerWrite::Update { asset_id, changes } => {
                        let exists: Option<i64> = tx.query_row("SELECT id FROM assets WHERE id = ?1", [asset_id], |r| r.get(0)).optional().map_err(err)?;
                        if exists.is_none() {
                            return Err(StoreError::NotFound(format!("asset {asset_id}")));
                        }
                        (*asset_id, changes.clone(), false)
                    }
                };
                let mut done = Vec::new();
                for c in &changes {
                    let old: Option<String> = if created {
                        None
                    } else if let Some(col) = CORE_FIELDS.iter().find(|f| **f == c.field) {
                        tx.query_row(&format!("SELECT {col} FROM assets WHERE id = ?1"), [asset_id], |r| r.get(0)).map_err(err)?
                    } else {
                        tx.query_row("SELECT value FROM asset_fields WHERE asset_id = ?1 AND field = ?2", params![asset_id, c.field], |r| r.get(0))
                            .optional()
                            .map_err(err)?
                    };
                    if old == c.value {
                        continue;
                    }
                    if let Some(col) = CORE_FIELDS.iter().find(|f| **f == c.field) {
                        if c.value.is_none() && *col != "serial" {
                            return Err(StoreError::Conflict(format!("{col} cannot be empty")));
                        }
                        tx.execute(&format!("UPDATE assets SET {col} = ?2 WHERE id = ?1"), params![asset_id, c.value]).map_err(err)?;
                    } else {
                        match &c.value {
                            Some(v) => tx.execute(
                                "INSERT INTO asset_fields (asset_id, field, value) VALUES (?1, ?2, ?3) ON CONFLICT (asset_id, field) DO UPDATE SET value = excluded.value",
                                params![asset_id, c.field, v],
                            ),
                            None => tx.execute("DELETE FROM asset_fields WHERE asset_id = ?1 AND field = ?2", params![asset_id, c.field]),
                        }
                        .map_err(err)?;
                        if let Some(kind) = identifier_kind(&c.field) {
                            let values = split_list(c.value.as_deref());
                            replace_identifiers(tx, asset_id, kind, "ledger", &values)?;
                        }
                    }
                    tx.execute(
                        "INSERT INTO asset_history (asset_id, field, old_value, new_value, actor, at_ms) VALUES (?1,?2,?3,?4,?5,?6)",
                        params![asset_id, c.field, old, c.value, actor, now_ms],
                    )
                    .map_err(err)?;
                    done.push(HistoryRecord { asset_id, field: c.field.clone(), old_value: old, new_value: c.value.clone(), actor: actor.to_string(), at_ms: now_ms });
                }
                out.push((asset_id, done));
            }
            Ok(out)
        })
    }

    fn unknown_devices(&self) -> Result<Vec<UnknownDevice>> {
        self.read(|c| {
            let mut stmt = c.prepare(UNKNOWN_DEVICES_SQL).map_err(err)?;
            let rows = stmt
                .query_map([], |r| {
                    Ok(UnknownDevice {
                        ip: r.get(0)?,
                        mac: r.get(1)?,
                        first_seen_ms: r.get(2)?,
                        last_seen_ms: r.get(3)?,
                        seen_by_asset: r.get(4)?,
                        seen_by_hostname: r.get(5)?,
                        sightings: r.get(6)?,
                        status: r.get(7)?,
                    })
                })
                .map_err(err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(err)
        })
    }

    fn dismiss_unknown_device(&self, ip: &str, actor: &str, now_ms: i64) -> Result<bool> {
        self.write(|tx| {
            let n = tx
                .execute("UPDATE unknown_devices SET status = 'dismissed', decided_by = ?2, decided_at_ms = ?3 WHERE ip = ?1", params![ip, actor, now_ms])
                .map_err(err)?;
            Ok(n > 0)
        })
    }

    fn create_alert_rule(&self, r: &NewAlertRule) -> Result<i64> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO alert_rules (name, kind, site, department, process_contains, text_contains, device_class, created_by, created_at_ms, recipients) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)",
                params![r.name, r.kind, r.site, r.department, r.process_contains, r.text_contains, r.device_class, r.created_by, r.created_at_ms, crate::model::join_recipients(&r.recipients)],
            )
            .map_err(err)?;
            Ok(tx.last_insert_rowid())
        })
    }

    fn alert_rules(&self) -> Result<Vec<AlertRule>> {
        self.read(|c| {
            let mut stmt = c.prepare("SELECT id, name, kind, site, department, process_contains, text_contains, device_class, enabled, created_by, created_at_ms, recipients FROM alert_rules ORDER BY id").map_err(err)?;
            let rows = stmt
                .query_map([], |r| {
                    Ok(AlertRule {
                        id: r.get(0)?,
                        name: r.get(1)?,
                        kind: r.get(2)?,
                        site: r.get(3)?,
                        department: r.get(4)?,
                        process_contains: r.get(5)?,
                        text_contains: r.get(6)?,
                        device_class: r.get(7)?,
                        enabled: r.get(8)?,
                        created_by: r.get(9)?,
                        created_at_ms: r.get(10)?,
                        recipients: crate::model::split_recipients(&r.get::<_, String>(11)?),
                    })
                })
                .map_err(err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(err)
        })
    }

    fn delete_alert_rule(&self, id: i64) -> Result<bool> {
        self.write(|tx| Ok(tx.execute("DELETE FROM alert_rules WHERE id = ?1", [id]).map_err(err)? > 0))
    }

    fn record_alerts(&self, alerts: &[NewAlert]) -> Result<Vec<i64>> {
        self.write(|tx| {
            let mut stmt = tx
                .prepare_cached("INSERT INTO alerts (rule_id, rule_name, at_ms, pc, asset_id, user_name, kind, summary) VALUES (?1,?2,?3,?4,?5,?6,?7,?8)")
                .map_err(err)?;
            let mut ids = Vec::with_capacity(alerts.len());
            for a in alerts {
                stmt.execute(params![a.rule_id, a.rule_name, a.at_ms, a.pc, a.asset_id, a.user_name, a.kind, a.summary]).map_err(err)?;
                ids.push(tx.last_insert_rowid());
            }
            Ok(ids)
        })
    }

    fn alerts(&self, limit: u32, open_only: bool) -> Result<Vec<AlertRecord>> {
        self.read(|c| {
            let mut stmt = c
                .prepare("SELECT id, rule_id, rule_name, at_ms, pc, asset_id, user_name, kind, summary, acknowledged_by, acknowledged_at_ms FROM alerts WHERE (?2 = 0 OR acknowledged_at_ms IS NULL) ORDER BY at_ms DESC, id DESC LIMIT ?1")
                .map_err(err)?;
            let rows = stmt
                .query_map(params![limit, open_only as i64], |r| {
                    Ok(AlertRecord {
                        id: r.get(0)?,
                        rule_id: r.get(1)?,
                        rule_name: r.get(2)?,
                        at_ms: r.get(3)?,
                        pc: r.get(4)?,
                        asset_id: r.get(5)?,
                        user_name: r.get(6)?,
                        kind: r.get(7)?,
                        summary: r.get(8)?,
                        acknowledged_by: r.get(9)?,
                        acknowledged_at_ms: r.get(10)?,
                    })
                })
                .map_err(err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(err)
        })
    }

    fn acknowledge_alert(&self, id: i64, actor: &str, now_ms: i64) -> Result<bool> {
        self.write(|tx| {
            Ok(tx
                .execute("UPDATE alerts SET acknowledged_by = ?2, acknowledged_at_ms = ?3 WHERE id = ?1 AND acknowledged_at_ms IS NULL", params![id, actor, now_ms])
                .map_err(err)?
                > 0)
        })
    }

    fn asset_location(&self, asset_id: i64) -> Result<Option<(String, Option<String>)>> {
        self.read(|c| {
            c.query_row(
                "SELECT a.site, (SELECT value FROM asset_fields f WHERE f.asset_id = a.id AND f.field = 'department') FROM assets a WHERE a.id = ?1",
                [asset_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(err)
        })
    }

    fn asset_field(&self, asset_id: i64, field: &str) -> Result<Option<String>> {
        self.read(|c| c.query_row("SELECT value FROM asset_fields WHERE asset_id = ?1 AND field = ?2", params![asset_id, field], |r| r.get(0)).optional().map_err(err))
    }

    fn upsert_site(&self, site: &SiteRecord, now_ms: i64) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO sites (code, name, created_at_ms) VALUES (?1, ?2, ?3) ON CONFLICT (code) DO UPDATE SET name = excluded.name",
                params![site.code, site.name, now_ms],
            )
            .map_err(err)?;
            Ok(())
        })
    }

    fn sites(&self) -> Result<Vec<SiteRecord>> {
        self.read(|c| {
            let mut stmt = c.prepare("SELECT code, name FROM sites ORDER BY code").map_err(err)?;
            let rows = stmt.query_map([], |r| Ok(SiteRecord { code: r.get(0)?, name: r.get(1)? })).map_err(err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(err)
        })
    }

    fn asset_history(&self, asset_id: i64) -> Result<Vec<HistoryRecord>> {
        self.read(|c| {
            let mut stmt = c
                .prepare("SELECT asset_id, field, old_value, new_value, actor, at_ms FROM asset_history WHERE asset_id = ?1 ORDER BY id")
                .map_err(err)?;
            let rows = stmt
                .query_map([asset_id], |r| {
                    Ok(HistoryRecord { asset_id: r.get(0)?, field: r.get(1)?, old_value: r.get(2)?, new_value: r.get(3)?, actor: r.get(4)?, at_ms: r.get(5)? })
                })
                .map_err(err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(err)
        })
    }

    fn create_user(&self, u: &NewUser) -> Result<i64> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO users (username, display_name, password_hash, role, created_at_ms, source) VALUES (?1,?2,?3,?4,?5,'local')",
                params![u.username, u.display_name, u.password_hash, u.role, u.created_at_ms],
            )
            .map_err(err)?;
            Ok(tx.last_insert_rowid())
        })
    }

    fn user_by_name(&self, username: &str) -> Result<Option<UserRecord>> {
        self.read(|c| {
            c.query_row(&format!("SELECT {USER_COLUMNS} FROM users u WHERE u.username = ?1"), [username], user_row)
                .optional()
                .map_err(err)
        })
    }

    fn users(&self) -> Result<Vec<UserRecord>> {
        self.read(|c| {
            let mut stmt = c.prepare(&format!("SELECT {USER_COLUMNS} FROM users u ORDER BY u.id")).map_err(err)?;
            let rows = stmt.query_map([], user_row).map_err(err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(err)
        })
    }

    fn create_api_token(&self, t: &NewApiToken) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO api_tokens (token_hash, user_id, name, created_at_ms, expires_at_ms) VALUES (?1,?2,?3,?4,?5)",
                params![t.token_hash, t.user_id, t.name, t.created_at_ms, t.expires_at_ms],
            )
            .map_err(err)?;
            Ok(())
        })
    }

    fn api_token_user(&self, token_hash: &str) -> Result<Option<UserRecord>> {
        self.read(|c| {
            c.query_row(
                &format!("SELECT {USER_COLUMNS} FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = ?1 AND t.revoked_at_ms IS NULL AND (t.expires_at_ms IS NULL OR t.expires_at_ms > ?2)"),
                params![token_hash, now_ms()],
                user_row,
            )
            .optional()
            .map_err(err)
        })
    }

    fn api_tokens(&self, user_id: Option<i64>) -> Result<Vec<ApiTokenRecord>> {
        self.read(|c| {
            let mut stmt = c
                .prepare("SELECT substr(t.token_hash, 1, 12), u.username, t.name, t.created_at_ms, t.expires_at_ms, t.revoked_at_ms FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE ?1 IS NULL OR t.user_id = ?1 ORDER BY t.created_at_ms")
                .map_err(err)?;
            let rows = stmt
                .query_map([user_id], |r| Ok(ApiTokenRecord { id: r.get(0)?, username: r.get(1)?, name: r.get(2)?, created_at_ms: r.get(3)?, expires_at_ms: r.get(4)?, revoked_at_ms: r.get(5)? }))
                .map_err(err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(err)
        })
    }

    fn revoke_api_token(&self, id: &str, owner: Option<i64>, now_ms: i64) -> Result<bool> {
        if id.len() != 12 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(false);
        }
        self.write(|tx| {
            let n = tx
                .execute(
                    "UPDATE api_tokens SET revoked_at_ms = COALESCE(revoked_at_ms, ?3) WHERE substr(token_hash, 1, 12) = ?1 AND (?2 IS NULL OR user_id = ?2)",
                    params![id.to_ascii_lowercase(), owner, now_ms],
                )
                .map_err(err)?;
            Ok(n > 0)
        })
    }

    fn upsert_directory_user(&self, username: &str, display_name: &str, role: &str, now_ms: i64) -> Result<UserRecord> {
        self.write(|tx| {
            let existing: Option<String> = tx.query_row("SELECT source FROM users WHERE username = ?1", [username], |r| r.get(0)).optional().map_err(err)?;
            match existing.as_deref() {
                Some("directory") => {
                    tx.execute("UPDATE users SET display_name = ?2, role = ?3 WHERE username = ?1", params![username, display_name, role]).map_err(err)?;
                }
                Some(_) => return Err(StoreError::Conflict(format!("local user {username} exists"))),
                None => {
                    tx.execute(
                        "INSERT INTO users (username, display_name, password_hash, role, created_at_ms, source) VALUES (?1, ?2, '', ?3, ?4, 'directory')",
                        params![username, display_name, role, now_ms],
                    )
                    .map_err(err)?;
                }
            }
            tx.query_row(&format!("SELECT {USER_COLUMNS} FROM users u WHERE u.username = ?1"), [username], user_row).map_err(err)
        })
    }

    fn create_session(&self, s: &NewSession) -> Result<()> {
        self.write(|tx| {
            // Expired sessions go as new ones come: the table stays small.
            tx.execute("DELETE FROM sessions WHERE expires_at_ms < ?1", [s.created_at_ms]).map_err(err)?;
            tx.execute(
                "INSERT INTO sessions (id_hash, user_id, csrf_token, created_at_ms, expires_at_ms, source) VALUES (?1,?2,?3,?4,?5,?6)",
                params![s.id_hash, s.user_id, s.csrf_token, s.created_at_ms, s.expires_at_ms, s.source],
            )
            .map_err(err)?;
            Ok(())
        })
    }

    fn session_user(&self, id_hash: &str, now_ms: i64) -> Result<Option<(SessionRecord, UserRecord)>> {
        self.read(|c| {
            c.query_row(
                &format!("SELECT s.csrf_token, s.created_at_ms, s.expires_at_ms, {USER_COLUMNS} FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = ?1 AND s.expires_at_ms > ?2"),
                params![id_hash, now_ms],
                |r| {
                    let session = SessionRecord { csrf_token: r.get(0)?, created_at_ms: r.get(1)?, expires_at_ms: r.get(2)? };
                    let user = UserRecord { id: r.get(3)?, username: r.get(4)?, display_name: r.get(5)?, password_hash: r.get(6)?, role: r.get(7)?, source: r.get(8)? };
                    Ok((session, user))
                },
            )
            .optional()
            .map_err(err)
        })
    }

    fn delete_session(&self, id_hash: &str) -> Result<()> {
        self.write(|tx| {
            tx.execute("DELETE FROM sessions WHERE id_hash = ?1", [id_hash]).map_err(err)?;
            Ok(())
        })
    }

    fn create_package(&self, p: &NewPackage) -> Result<i64> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO packages (name, version, serial, file_name, framework, command, detection, size, sha256, unsigned_manifest, signed_manifest, expires_at_ms, created_at_ms, created_by) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14)",
                params![p.name, p.version, p.serial, p.file_name, p.framework, p.command, p.detection, p.size, p.sha256, p.unsigned_manifest, p.signed_manifest, p.expires_at_ms, p.created_at_ms, p.created_by],
            )
            .map_err(err)?;
            Ok(tx.last_insert_rowid())
        })
    }

    fn packages(&self) -> Result<Vec<PackageRecord>> {
        self.read(|c| {
            let mut stmt = c.prepare(&format!("{PACKAGE_SELECT} ORDER BY id DESC")).map_err(err)?;
            let rows = stmt.query_map([], package_row).map_err(err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(err)
        })
    }

    fn package(&self, id: i64) -> Result<Option<PackageRecord>> {
        self.read(|c| c.query_row(&format!("{PACKAGE_SELECT} WHERE id = ?1"), [id], package_row).optional().map_err(err))
    }

    fn max_package_serial(&self, name: &str) -> Result<i64> {
        self.read(|c| c.query_row("SELECT COALESCE(MAX(serial), 0) FROM packages WHERE name = ?1", [name], |r| r.get(0)).map_err(err))
    }

    fn set_package_signature(&self, id: i64, signed_manifest: &str) -> Result<bool> {
        self.write(|tx| Ok(tx.execute("UPDATE packages SET signed_manifest = ?1 WHERE id = ?2", params![signed_manifest, id]).map_err(err)? > 0))
    }

    fn create_deployment(&self, d: &NewDeployment, initial_state: &str) -> Result<i64> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO deployments (package_id, title, status, plan, memory, created_at_ms, created_by, updated_at_ms) VALUES (?1,?2,'active',?3,'',?4,?5,?4)",
                params![d.package_id, d.title, d.plan, d.created_at_ms, d.created_by],
            )
            .map_err(err)?;
            let id = tx.last_insert_rowid();
            let mut stmt = tx
                .prepare("INSERT INTO deployment_targets (deployment_id, asset_id, wave, site, department, state, updated_at_ms) VALUES (?1,?2,?3,?4,?5,?6,?7)")
                .map_err(err)?;
            for t in &d.targets {
                stmt.execute(params![id, t.asset_id, t.wave, t.site, t.department, initial_state, d.created_at_ms]).map_err(err)?;
            }
            Ok(id)
        })
    }

    fn deployments(&self) -> Result<Vec<DeploymentRecord>> {
        self.read(|c| {
            let mut stmt = c.prepare(&format!("{DEPLOYMENT_SELECT} ORDER BY d.id DESC")).map_err(err)?;
            let rows = stmt.query_map([], deployment_row).map_err(err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(err)
        })
    }

    fn deployment(&self, id: i64) -> Result<Option<DeploymentRecord>> {
        self.read(|c| c.query_row(&format!("{DEPLOYMENT_SELECT} WHERE d.id = ?1"), [id], deployment_row).optional().map_err(err))
    }

    fn deployment_targets(&self, id: i64) -> Result<Vec<DeploymentTargetRecord>> {
        self.read(|c| {
            let mut stmt = c.prepare(&format!("{TARGET_SELECT} WHERE t.deployment_id = ?1 ORDER BY t.wave, a.hostname")).map_err(err)?;
            let rows = stmt.query_map([id], |r| target_row(r, 0)).map_err(err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(err)
        })
    }

    fn asset_deployments(&self, asset_id: i64) -> Result<Vec<(DeploymentRecord, DeploymentTargetRecord)>> {
        self.read(|c| {
            let sql = format!(
                "SELECT d.id, d.package_id, p.name, p.version, d.title, d.status, d.plan, d.memory, d.created_at_ms, d.created_by, d.updated_at_ms, {TARGET_COLUMNS} \
                 FROM deployment_targets t JOIN assets a ON a.id = t.asset_id JOIN deployments d ON d.id = t.deployment_id JOIN packages p ON p.id = d.package_id \
                 WHERE t.asset_id = ?1 ORDER BY d.id"
            );
            let mut stmt = c.prepare(&sql).map_err(err)?;
            let rows = stmt.query_map([asset_id], |r| Ok((deployment_row(r)?, target_row(r, 11)?))).map_err(err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(err)
        })
    }

    fn set_deployment_status(&self, id: i64, status: &str, now_ms: i64) -> Result<bool> {
        self.write(|tx| Ok(tx.execute("UPDATE deployments SET status = ?1, updated_at_ms = ?2 WHERE id = ?3", params![status, now_ms, id]).map_err(err)? > 0))
    }

    fn save_deployment_memory(&self, id: i64, memory: &str, now_ms: i64) -> Result<()> {
        self.write(|tx| {
            tx.execute("UPDATE deployments SET memory = ?1, updated_at_ms = ?2 WHERE id = ?3", params![memory, now_ms, id]).map_err(err)?;
            Ok(())
        })
    }

    fn add_target_bytes(&self, deployment_id: i64, asset_id: i64, bytes: i64) -> Result<()> {
        self.write(|tx| {
            tx.execute("UPDATE deployment_targets SET server_bytes = server_bytes + ?1 WHERE deployment_id = ?2 AND asset_id = ?3", params![bytes, deployment_id, asset_id]).map_err(err)?;
            Ok(())
        })
    }

    fn add_site_cache_bytes(&self, deployment_id: i64, site: &str, bytes: i64) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO deployment_site_bytes (deployment_id, site, cache_bytes) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (deployment_id, site) DO UPDATE SET cache_bytes = cache_bytes + excluded.cache_bytes",
                params![deployment_id, site, bytes],
            )
            .map_err(err)?;
            Ok(())
        })
    }

    fn site_cache_bytes(&self, deployment_id: i64) -> Result<Vec<(String, i64)>> {
        self.read(|c| {
            let mut stmt = c.prepare("SELECT site, cache_bytes FROM deployment_site_bytes WHERE deployment_id = ?1 ORDER BY site").map_err(err)?;
            let rows = stmt.query_map([deployment_id], |r| Ok((r.get(0)?, r.get(1)?))).map_err(err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(err)
        })
    }

    fn update_targets(&self, updates: &[TargetUpdate]) -> Result<()> {
        self.write(|tx| {
            let mut stmt = tx
                .prepare(
                    "UPDATE deployment_targets SET state = ?1, reason = ?2, server_bytes = server_bytes + ?3, attempts = attempts + ?4, updated_at_ms = ?5 \
                     WHERE deployment_id = ?6 AND asset_id = ?7",
                )
                .map_err(err)?;
            for u in updates {
                stmt.execute(params![u.state, u.reason, u.add_server_bytes, i64::from(u.new_attempt), u.now_ms, u.deployment_id, u.asset_id]).map_err(err)?;
            }
            Ok(())
        })
    }

    fn append_audit(&self, e: &NewAuditEntry) -> Result<AuditEntry> {
        self.write(|tx| {
            let last: Option<(i64, String)> = tx
                .query_row("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1", [], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
                .map_err(err)?;
            let (seq, prev_hash) = last.map(|(s, h)| (s + 1, h)).unwrap_or((1, String::new()));
            let at_ms = now_ms();
            let hash = audit_hash(&prev_hash, e, at_ms, seq);
            tx.execute(
                "INSERT INTO audit_log (seq, at_ms, actor, action, target, detail, prev_hash, hash, source) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9)",
                params![seq, at_ms, e.actor, e.action, e.target, e.detail, prev_hash, hash, e.source],
            )
            .map_err(err)?;
            Ok(AuditEntry { seq, at_ms, actor: e.actor.clone(), action: e.action.clone(), target: e.target.clone(), detail: e.detail.clone(), source: e.source.clone(), prev_hash, hash })
        })
    }

    fn audit_entries(&self, limit: u32) -> Result<Vec<AuditEntry>> {
        self.read(|c| {
            let mut stmt = c
                .prepare("SELECT seq, at_ms, actor, action, target, detail, prev_hash, hash, source FROM (SELECT * FROM audit_log ORDER BY seq DESC LIMIT ?1) ORDER BY seq")
                .map_err(err)?;
            let rows = stmt.query_map([limit], audit_row).map_err(err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(err)
        })
    }
}
