//! The storage suite: every test runs against SQLite and, when
//! `LANWARD_TEST_PG` is set, against PostgreSQL (each run in a schema of
//! its own, dropped afterwards).

mod suite;

use lanward_store::{postgres::PgStore, sqlite::SqliteStore, Store};

pub struct Backend {
    pub store: Box<dyn Store>,
    _dir: Option<tempfile::TempDir>,
    pg_cleanup: Option<(String, String)>,
}

impl Drop for Backend {
    fn drop(&mut self) {
        if let Some((url, schema)) = &self.pg_cleanup {
            if let Ok(mut c) = ::postgres::Client::connect(url, ::postgres::NoTls) {
                let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
            }
        }
    }
}

pub fn sqlite() -> Backend {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(&dir.path().join("t.db")).expect("open sqlite");
    Backend { store: Box::new(store), _dir: Some(dir), pg_cleanup: None }
}

pub fn postgres() -> Option<Backend> {
    let url = std::env::var("LANWARD_TEST_PG").ok()?;
    let schema = format!("lw_test_{}", uuid_like());
    let store = PgStore::connect(&url, Some(&schema)).unwrap_or_else(|e| panic!("LANWARD_TEST_PG={url}: {e}"));
    Some(Backend { store: Box::new(store), _dir: None, pg_cleanup: Some((url, schema)) })
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{}_{}_{}", std::process::id(), t % 1_000_000_000, N.fetch_add(1, Ordering::Relaxed))
}

/// Runs one suite test on every configured backend.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite_backend {
            $( #[test] fn $name() { crate::suite::$name(&*crate::sqlite().store); } )*
        }
        mod postgres_backend {
            $( #[test] fn $name() {
                match crate::postgres() {
                    Some(b) => crate::suite::$name(&*b.store),
                    None => eprintln!("LANWARD_TEST_PG not set: PostgreSQL run of {} skipped", stringify!($name)),
                }
            } )*
        }
    };
}

on_both!(
    enrolment_rules,
    checkin_upsert_and_ordering,
    revoked_agent_writes_nothing,
    assets_listing_and_filters,
    users_tokens_and_audit_chain,
    gaps_are_recorded,
    ledger_fields_and_history,
    agents_match_ledger_assets,
    ledger_writes_are_all_or_nothing,
    asset_queries_filter_sort_and_count,
    sessions_sites_and_directory_users,
    unknown_devices_from_neighbours,
    alert_rules_and_alerts,
    packages_and_deployments,
);

#[test]
fn sqlite_survives_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t.db");
    let store = SqliteStore::open(&path).unwrap();
    suite::survives_reopen(&store, &|| Box::new(SqliteStore::open(&path).unwrap()));
}

#[test]
fn postgres_survives_reopen() {
    let Some(b) = postgres() else {
        eprintln!("LANWARD_TEST_PG not set: skipped");
        return;
    };
    let (url, schema) = b.pg_cleanup.clone().expect("pg backend");
    suite::survives_reopen(&*b.store, &|| Box::new(PgStore::connect(&url, Some(&schema)).unwrap()));
}

#[test]
fn postgres_unreachable_is_unavailable() {
    // Nothing listens on port 1: the error must say "unavailable", not panic.
    match PgStore::connect("postgres://nobody@127.0.0.1:1/none", None) {
        Err(lanward_store::StoreError::Unavailable(_)) => {}
        Err(e) => panic!("wrong error kind: {e}"),
        Ok(_) => panic!("connected to nothing"),
    }
}
