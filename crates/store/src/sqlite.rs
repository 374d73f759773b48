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

fn user_row(r: &rusqlite::Row) -> rusqlite::Result<UserRecord> {
    Ok(UserRecord { id: r.get(0)?, username: r.get(1)?, display_name: r.get(2)?, password_hash: r.get(3)?, role: r.get(4)? })
}

fn audit_row(r: &rusqlite::Row) -> rusqlite::Result<AuditEntry> {
    Ok(AuditEntry {
        seq: r.get(0)?,
        at_ms: r.get(1)?,
        actor: r.get(2)?,
        action: r.get(3)?,
        target: r.get(4)?,
        detail: r.get(5)?,
        prev_hash: r.get(6)?,
        hash: r.get(7)?,
    })
}

const ASSET_COLUMNS: &str = "a.id, a.hostname, a.kind, a.site, a.first_seen_ms, a.last_seen_ms, g.id, g.revoked_at_ms";

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
            tx.execute(
                "INSERT INTO assets (hostname, kind, site, first_seen_ms) VALUES (?1, ?2, ?3, ?4)",
                params![req.hostname, crate::model::initial_kind(&req.os_family), site, req.now_ms],
            )
            .map_err(err)?;
            let asset_id = tx.last_insert_rowid();
            tx.execute(
                "INSERT INTO agents (id, public_key, asset_id, token_id, site, hostname, os_family, enrolled_at_ms) VALUES (?1,?2,?3,?4,?5,?6,?7,?8)",
                params![req.agent_id, req.public_key, asset_id, req.token_id, site, req.hostname, req.os_family, req.now_ms],
            )
            .map_err(err)?;
            Ok(EnrollOutcome::Enrolled { site, asset_id })
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
                if let (Some(hostname), Some(kind)) = (&w.hostname, &w.kind) {
                    tx.prepare_cached("UPDATE assets SET hostname = ?2, kind = ?3 WHERE id = ?1")
                        .map_err(err)?
                        .execute(params![asset_id, hostname, kind])
                        .map_err(err)?;
                    tx.prepare_cached("UPDATE agents SET hostname = ?2 WHERE id = ?1")
                        .map_err(err)?
                        .execute(params![w.agent_id, hostname])
                        .map_err(err)?;
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
            let like = q.hostname_contains.as_ref().map(|h| format!("%{}%", h.replace('%', "\\%").replace('_', "\\_")));
            let filter = "FROM assets a LEFT JOIN agents g ON g.asset_id = a.id WHERE (?1 IS NULL OR a.site = ?1) AND (?2 IS NULL OR a.hostname LIKE ?2 ESCAPE '\\')";
            let total: i64 = c
                .query_row(&format!("SELECT COUNT(*) {filter}"), params![q.site, like], |r| r.get(0))
                .map_err(err)?;
            let mut stmt = c.prepare(&format!("SELECT {ASSET_COLUMNS} {filter} ORDER BY a.id LIMIT ?3 OFFSET ?4")).map_err(err)?;
            let rows = stmt.query_map(params![q.site, like, q.limit, q.offset as i64], asset_row).map_err(err)?;
            let mut assets = rows.collect::<rusqlite::Result<Vec<_>>>().map_err(err)?;
            if q.with_sections {
                for a in &mut assets {
                    load_sections(c, a)?;
                }
            }
            Ok((assets, total as u64))
        })
    }

    fn get_asset(&self, id: i64) -> Result<Option<AssetRecord>> {
        self.read(|c| {
            let asset = c
                .query_row(&format!("SELECT {ASSET_COLUMNS} FROM assets a LEFT JOIN agents g ON g.asset_id = a.id WHERE a.id = ?1"), [id], asset_row)
                .optional()
                .map_err(err)?;
            match asset {
                Some(mut a) => {
                    load_sections(c, &mut a)?;
                    Ok(Some(a))
                }
                None => Ok(None),
            }
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

    fn set_asset_fields(&self, asset_id: i64, changes: &[FieldChange], actor: &str, now_ms: i64) -> Result<Vec<HistoryRecord>> {
        self.write(|tx| {
            let exists: Option<i64> = tx.query_row("SELECT id FROM assets WHERE id = ?1", [asset_id], |r| r.get(0)).optional().map_err(err)?;
            if exists.is_none() {
                return Err(StoreError::NotFound(format!("asset {asset_id}")));
            }
            let mut done = Vec::new();
            for c in changes {
                let old: Option<String> = tx
                    .query_row("SELECT value FROM asset_fields WHERE asset_id = ?1 AND field = ?2", params![asset_id, c.field], |r| r.get(0))
                    .optional()
                    .map_err(err)?;
                if old == c.value {
                    continue;
                }
                match &c.value {
                    Some(v) => tx.execute(
                        "INSERT INTO asset_fields (asset_id, field, value) VALUES (?1, ?2, ?3) ON CONFLICT (asset_id, field) DO UPDATE SET value = excluded.value",
                        params![asset_id, c.field, v],
                    ),
                    None => tx.execute("DELETE FROM asset_fields WHERE asset_id = ?1 AND field = ?2", params![asset_id, c.field]),
                }
                .map_err(err)?;
                tx.execute(
                    "INSERT INTO asset_history (asset_id, field, old_value, new_value, actor, at_ms) VALUES (?1,?2,?3,?4,?5,?6)",
                    params![asset_id, c.field, old, c.value, actor, now_ms],
                )
                .map_err(err)?;
                done.push(HistoryRecord { asset_id, field: c.field.clone(), old_value: old, new_value: c.value.clone(), actor: actor.to_string(), at_ms: now_ms });
            }
            Ok(done)
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
                "INSERT INTO users (username, display_name, password_hash, role, created_at_ms) VALUES (?1,?2,?3,?4,?5)",
                params![u.username, u.display_name, u.password_hash, u.role, u.created_at_ms],
            )
            .map_err(err)?;
            Ok(tx.last_insert_rowid())
        })
    }

    fn user_by_name(&self, username: &str) -> Result<Option<UserRecord>> {
        self.read(|c| {
            c.query_row("SELECT id, username, display_name, password_hash, role FROM users WHERE username = ?1", [username], user_row)
                .optional()
                .map_err(err)
        })
    }

    fn users(&self) -> Result<Vec<UserRecord>> {
        self.read(|c| {
            let mut stmt = c.prepare("SELECT id, username, display_name, password_hash, role FROM users ORDER BY id").map_err(err)?;
            let rows = stmt.query_map([], user_row).map_err(err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(err)
        })
    }

    fn create_api_token(&self, t: &NewApiToken) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO api_tokens (token_hash, user_id, name, created_at_ms) VALUES (?1,?2,?3,?4)",
                params![t.token_hash, t.user_id, t.name, t.created_at_ms],
            )
            .map_err(err)?;
            Ok(())
        })
    }

    fn api_token_user(&self, token_hash: &str) -> Result<Option<UserRecord>> {
        self.read(|c| {
            c.query_row(
                "SELECT u.id, u.username, u.display_name, u.password_hash, u.role FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = ?1",
                [token_hash],
                user_row,
            )
            .optional()
            .map_err(err)
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
                "INSERT INTO audit_log (seq, at_ms, actor, action, target, detail, prev_hash, hash) VALUES (?1,?2,?3,?4,?5,?6,?7,?8)",
                params![seq, at_ms, e.actor, e.action, e.target, e.detail, prev_hash, hash],
            )
            .map_err(err)?;
            Ok(AuditEntry { seq, at_ms, actor: e.actor.clone(), action: e.action.clone(), target: e.target.clone(), detail: e.detail.clone(), prev_hash, hash })
        })
    }

    fn audit_entries(&self, limit: u32) -> Result<Vec<AuditEntry>> {
        self.read(|c| {
            let mut stmt = c
                .prepare("SELECT seq, at_ms, actor, action, target, detail, prev_hash, hash FROM (SELECT * FROM audit_log ORDER BY seq DESC LIMIT ?1) ORDER BY seq")
                .map_err(err)?;
            let rows = stmt.query_map([limit], audit_row).map_err(err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(err)
        })
    }
}
