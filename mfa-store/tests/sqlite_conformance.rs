//! The store conformance suite against SQLite, in memory and in a file, and what
//! opening a database does with a newer schema or mfa v1 data.
#![cfg(feature = "sqlite")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod support;

use std::path::PathBuf;
use std::time::Duration;

use mfa_core::{Store, StoreErrorKind};
use mfa_store::{OpenError, SqliteStore, V1Data};
use support::keys;

async fn fresh() -> SqliteStore {
    SqliteStore::in_memory(keys()).unwrap()
}

mfa_core::store_conformance!(fresh);

fn temp_db(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mfa-store-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    path
}

mod file {
    use super::*;

    // One file for every property, opened afresh each time: the properties' random
    // ids keep them apart, as on a shared server.
    async fn fresh_file() -> SqliteStore {
        let dir = std::env::temp_dir().join(format!("mfa-store-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        SqliteStore::open(dir.join("conformance.db"), keys()).unwrap()
    }

    mfa_core::store_conformance!(fresh_file);
}

/// A store's `Debug` names its key id and nothing of the keys.
#[test]
fn debug_output_shows_the_key_id_only() {
    let store = SqliteStore::in_memory(keys()).unwrap();
    let shown = format!("{store:?}");
    assert!(shown.contains("test-1"), "{shown}");
    assert!(!shown.contains("42") && !shown.contains("7, 7"), "{shown}");
    let ring = format!("{:?}", keys());
    assert!(!ring.contains("42") && !ring.contains("7, 7"), "{ring}");
}

/// A database written by a newer build is refused with a typed error, not misread.
#[test]
fn a_newer_schema_is_refused() {
    let path = temp_db("newer.db");
    drop(SqliteStore::open(&path, keys()).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute(
        "INSERT INTO mfa_schema_migrations (version, name) VALUES (99, 'future')",
        [],
    )
    .unwrap();
    drop(conn);
    match SqliteStore::open(&path, keys()).unwrap_err() {
        OpenError::Store(e) => assert_eq!(e.kind(), StoreErrorKind::Corrupt),
        other => panic!("{other:?}"),
    }
}

/// Reopening applies nothing twice and keeps the records.
#[tokio::test]
async fn reopening_keeps_records_and_the_schema() {
    let path = temp_db("reopen.db");
    let user = support::fresh_user("reopen");
    {
        let store = SqliteStore::open(&path, keys()).unwrap();
        support::update(&store, &user, |r| r.failures.count += 1)
            .await
            .unwrap();
    }
    let store = SqliteStore::open(&path, keys()).unwrap();
    assert_eq!(store.schema_version().await.unwrap(), 2);
    let loaded = store.load(&user).await.unwrap().unwrap();
    assert_eq!((loaded.version, loaded.record.failures.count), (1, 1));
}

/// A v1 database (its tables made by hand, as v1 left them) is refused with
/// `OpenError::V1Data` naming the tables and what to do, and opens with
/// `V1Data::LeaveUnread`, leaving the v1 rows untouched.
#[tokio::test]
async fn v1_data_is_refused_unless_left_unread() {
    let path = temp_db("v1.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "CREATE TABLE mfa_schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL);
         INSERT INTO mfa_schema_migrations VALUES (1, 'init');
         CREATE TABLE mfa_methods (seq INTEGER PRIMARY KEY, user_id TEXT NOT NULL, id TEXT NOT NULL, number TEXT);
         INSERT INTO mfa_methods (user_id, id, number) VALUES ('kari@example.no', 'm1', '+4741234567');
         CREATE TABLE mfa_challenges (id TEXT PRIMARY KEY, user_id TEXT NOT NULL);",
    )
    .unwrap();
    drop(conn);
    let err = SqliteStore::open(&path, keys()).unwrap_err();
    let shown = err.to_string();
    match &err {
        OpenError::V1Data(found) => {
            assert_eq!(found.found, vec!["mfa_methods", "mfa_challenges"]);
        }
        other => panic!("{other:?}"),
    }
    assert!(
        shown.contains("mfa v1") && shown.contains("mfa_methods"),
        "{shown}"
    );
    assert!(
        shown.contains("LeaveUnread") && shown.contains("enrolls again"),
        "{shown}"
    );
    // As a store error (for `?`), it keeps its words.
    assert!(
        mfa_core::StoreError::from(err)
            .to_string()
            .contains("mfa v1")
    );

    let store =
        SqliteStore::open_with(&path, keys(), Duration::from_secs(5), V1Data::LeaveUnread).unwrap();
    let user = support::fresh_user("after-v1");
    support::update(&store, &user, |r| r.failures.count = 1)
        .await
        .unwrap();
    drop(store);
    // Now at version 2: it opens without the opt-in; the v1 rows are still there.
    let store = SqliteStore::open(&path, keys()).unwrap();
    assert_eq!(store.schema_version().await.unwrap(), 2);
    assert!(store.load(&user).await.unwrap().is_some());
    drop(store);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let n: i64 = conn
        .query_row("SELECT COUNT(*) FROM mfa_methods", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1);
}

/// v1 tables without a migrations table (made by hand) are v1 data too.
#[test]
fn v1_tables_alone_are_refused() {
    let path = temp_db("v1-tables.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("CREATE TABLE mfa_recovery_codes (seq INTEGER PRIMARY KEY)")
        .unwrap();
    drop(conn);
    assert!(matches!(
        SqliteStore::open(&path, keys()),
        Err(OpenError::V1Data(f)) if f.found == ["mfa_recovery_codes"]
    ));
}
