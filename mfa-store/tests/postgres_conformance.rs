//! The store conformance suite against PostgreSQL (`scripts/services/postgres.sh`),
//! and what opening a database does with mfa v1 tables.
#![cfg(feature = "postgres")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod support;

use mfa_core::Store;
use mfa_store::postgres::PoolOptions;
use mfa_store::{OpenError, PostgresStore, V1Data};
use support::keys;

fn url() -> String {
    std::env::var("MFA_TEST_POSTGRES_URL")
        .expect("MFA_TEST_POSTGRES_URL is not set: run scripts/test.sh, which starts PostgreSQL")
}

async fn fresh() -> PostgresStore {
    PostgresStore::connect(&url(), keys()).await.unwrap()
}

mfa_core::store_conformance!(
    #[ignore = "needs PostgreSQL: run bash scripts/test.sh"]
    fresh
);

#[tokio::test]
#[ignore = "needs PostgreSQL: run bash scripts/test.sh"]
async fn migrations_are_applied_once_and_recorded() {
    let a = fresh().await;
    let b = fresh().await;
    assert_eq!(a.schema_version().await.unwrap(), 3);
    assert_eq!(b.schema_version().await.unwrap(), 3);
}

/// A database at schema 2 (sealed records, before they were kept in their row) is
/// upgraded in place when a store opens it: its records still open, and the records
/// table is set to keep them in the row, uncompressed (ciphertext does not compress).
#[tokio::test]
#[ignore = "needs PostgreSQL: run bash scripts/test.sh"]
async fn a_schema_2_database_is_upgraded_in_place() {
    let url = new_database("v2").await;
    let client = support::postgres_client(&url).await;
    client
        .batch_execute(
            "CREATE TABLE mfa_schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, \
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now());
             INSERT INTO mfa_schema_migrations (version, name) VALUES (2, 'records');",
        )
        .await
        .unwrap();
    client
        .batch_execute(include_str!("../migrations/postgres/0002_records.sql"))
        .await
        .unwrap();
    let storage = || async {
        let row = client
            .query_one(
                "SELECT a.attstorage::text, coalesce(array_to_string(c.reloptions, ','), '') \
                 FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
                 WHERE c.relname = 'mfa_user_records' AND a.attname = 'sealed'",
                &[],
            )
            .await
            .unwrap();
        (row.get::<_, String>(0), row.get::<_, String>(1))
    };
    assert_eq!(storage().await.0, "x", "schema 2 left the default storage");
    let store = PostgresStore::connect(&url, keys()).await.unwrap();
    assert_eq!(store.schema_version().await.unwrap(), 3);
    let (attstorage, options) = storage().await;
    assert_eq!(attstorage, "e", "never compressed");
    assert!(options.contains("toast_tuple_target=8160"), "{options}");
    assert!(options.contains("fillfactor=50"), "{options}");
    // The upgraded table takes and gives back records.
    let user = mfa_core::UserId::new("upgraded@example.no").unwrap();
    let record = mfa_core::UserRecord::default();
    assert_eq!(
        store.commit(&user, None, record).await.unwrap(),
        mfa_core::Commit::Committed(1)
    );
    assert_eq!(store.load(&user).await.unwrap().unwrap().version, 1);
}

/// A database of its own on the test server, for tests that need an empty one.
async fn new_database(tag: &str) -> String {
    let client = support::postgres_client(&url()).await;
    let mut b = [0u8; 4];
    getrandom::fill(&mut b).unwrap();
    let name = format!("mfa_{tag}_{}", support::hex(&b));
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let base = url();
    let (server, _) = base.rsplit_once('/').unwrap();
    format!("{server}/{name}")
}

/// A v1 database (its tables made by hand, as v1 left them) is refused with
/// `OpenError::V1Data` naming the tables and what to do, and opens with
/// `V1Data::LeaveUnread`, leaving the v1 rows untouched.
#[tokio::test]
#[ignore = "needs PostgreSQL: run bash scripts/test.sh"]
async fn v1_data_is_refused_unless_left_unread() {
    let url = new_database("v1").await;
    let client = support::postgres_client(&url).await;
    client
        .batch_execute(
            "CREATE TABLE mfa_schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL);
             INSERT INTO mfa_schema_migrations VALUES (1, 'init');
             CREATE TABLE mfa_methods (seq BIGSERIAL PRIMARY KEY, user_id TEXT NOT NULL, id TEXT NOT NULL, number TEXT);
             INSERT INTO mfa_methods (user_id, id, number) VALUES ('kari@example.no', 'm1', '+4741234567');
             CREATE TABLE mfa_user_failures (user_id TEXT PRIMARY KEY, count INTEGER NOT NULL);",
        )
        .await
        .unwrap();
    let err = PostgresStore::connect(&url, keys()).await.unwrap_err();
    match &err {
        OpenError::V1Data(found) => assert_eq!(found.found, ["mfa_methods", "mfa_user_failures"]),
        other => panic!("{other:?}"),
    }
    let shown = err.to_string();
    assert!(
        shown.contains("mfa v1") && shown.contains("LeaveUnread"),
        "{shown}"
    );

    let options = PoolOptions {
        v1: V1Data::LeaveUnread,
        ..PoolOptions::default()
    };
    let store = PostgresStore::connect_with(&url, keys(), options)
        .await
        .unwrap();
    let user = support::fresh_user("after-v1");
    support::update(&store, &user, |r| r.failures.count = 1)
        .await
        .unwrap();
    drop(store);
    let store = PostgresStore::connect(&url, keys()).await.unwrap();
    assert_eq!(store.schema_version().await.unwrap(), 3);
    assert!(store.load(&user).await.unwrap().is_some());
    let n: i64 = client
        .query_one("SELECT COUNT(*) FROM mfa_methods", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1, "the v1 rows are left as they were");
}

/// v1 tables without a migrations table (made by hand) are v1 data too.
#[tokio::test]
#[ignore = "needs PostgreSQL: run bash scripts/test.sh"]
async fn v1_tables_alone_are_refused() {
    let url = new_database("v1t").await;
    let client = support::postgres_client(&url).await;
    client
        .batch_execute("CREATE TABLE mfa_challenges (id TEXT PRIMARY KEY)")
        .await
        .unwrap();
    assert!(matches!(
        PostgresStore::connect(&url, keys()).await,
        Err(OpenError::V1Data(f)) if f.found == ["mfa_challenges"]
    ));
}

/// How many backends a connection string's application name holds open.
async fn backends(client: &tokio_postgres::Client, name: &str) -> i64 {
    client
        .query_one(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = $1",
            &[&name],
        )
        .await
        .unwrap()
        .get(0)
}

/// 32 operations in flight share the store's connections (pipelined on them), and
/// when the server ends those connections, the store opens new ones in their place:
/// an operation that finds its connection gone fails as unavailable, the next ones
/// go through, and no more connections are open than before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: run bash scripts/test.sh"]
async fn operations_share_the_connections_and_broken_ones_are_replaced() {
    let name = format!("mfa_lanes_{}", std::process::id());
    let url = url();
    let sep = if url.contains('?') { '&' } else { '?' };
    let options = PoolOptions {
        max_size: 2,
        ..PoolOptions::default()
    };
    let store = std::sync::Arc::new(
        PostgresStore::connect_with(
            &format!("{url}{sep}application_name={name}"),
            keys(),
            options,
        )
        .await
        .unwrap(),
    );
    let users: Vec<_> = (0..32)
        .map(|i| support::fresh_user(&format!("lane-{i}")))
        .collect();
    let writes: Vec<_> = users
        .iter()
        .map(|user| {
            let (store, user) = (std::sync::Arc::clone(&store), user.clone());
            tokio::spawn(
                async move { support::update(&*store, &user, |r| r.failures.count = 2).await },
            )
        })
        .collect();
    for written in writes {
        written.await.unwrap().unwrap();
    }
    let admin = support::postgres_client(&url).await;
    let open = backends(&admin, &name).await;
    assert!(
        (1..=2).contains(&open),
        "32 commits at once held {open} connections"
    );

    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
            &[&name],
        )
        .await
        .unwrap();
    let mut refused = 0;
    let mut loaded = 0;
    for _ in 0..20 {
        match store.load(&users[0]).await {
            Ok(found) => {
                assert_eq!(found.unwrap().record.failures.count, 2);
                loaded += 1;
            }
            Err(e) => {
                assert_eq!(e.kind(), mfa_core::StoreErrorKind::Unavailable, "{e}");
                refused += 1;
            }
        }
    }
    assert!(
        refused <= 2,
        "one refusal at most per broken connection: {refused}"
    );
    assert_eq!(loaded + refused, 20);
    assert!(loaded >= 18);
    let open = backends(&admin, &name).await;
    assert!(
        (1..=2).contains(&open),
        "after the breakage, {open} connections"
    );
}
