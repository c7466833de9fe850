//! Faults: the store fails between a load and its commit (a driver's step in
//! flight). Every call then fails with a typed, transient store error, never a panic
//! or a wrong answer; nothing is half-written; once the store is back, the record is
//! as it was before the outage and the step commits from the version it loaded.
//!
//! PostgreSQL and Redis are stopped and started with the commands
//! `scripts/services/*.sh` export (`MFA_TEST_POSTGRES_STOP` / `_START`,
//! `MFA_TEST_REDIS_STOP` / `_START`); SQLite is locked by another connection.
//!
//! Through `Mfa` too: a sign-in whose store goes away gets an error for the right
//! code, never an approval, and the same challenge and code sign in once it is back.
#![cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code
#![cfg_attr(not(any(feature = "postgres", feature = "redis")), allow(dead_code))]

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use std::sync::Arc;

use mfa_core::{
    CodeKey, Commit, Error, MemoryDelivery, Method, Mfa, PhoneMode, PhoneNumber, Store, StoreError,
    StoreErrorKind, UserId, UserRecord, Verification, WindowHit,
};
use support::*;

/// One outage at a time: the tests of this file stop and start the same servers.
static OUTAGE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run scripts/test.sh, which starts the service")
    })
}

fn sh(command: &str) {
    let status = Command::new("sh").arg("-c").arg(command).status().unwrap();
    assert!(status.success(), "`{command}` failed");
}

/// Starts the server again if a test stops half-way, so later tests find it running.
struct Restart(Option<String>);

impl Drop for Restart {
    fn drop(&mut self) {
        if let Some(start) = self.0.take() {
            let _ = Command::new("sh").arg("-c").arg(start).status();
        }
    }
}

fn assert_unavailable<T: std::fmt::Debug>(r: Result<T, StoreError>, user: &UserId) {
    match r {
        Err(e) => {
            assert_eq!(e.kind(), StoreErrorKind::Unavailable, "{e}");
            assert!(e.is_transient());
            assert!(
                !format!("{e} {e:?}").contains(user.as_str()),
                "the error shows the user id"
            );
        }
        Ok(v) => panic!("expected a store error, got {v:?}"),
    }
}

fn enrolled() -> UserRecord {
    let mut r = mfa_core::store::conformance::enrolled_record();
    r.updated_at = now();
    r
}

async fn hit(store: &dyn Store, key: &str) -> Result<u32, StoreError> {
    let hit = WindowHit {
        key,
        window: Duration::from_secs(3600),
    };
    Ok(store.hit(&[hit], now()).await?[0].count)
}

async fn step_through_outage(store: &dyn Store, stop: &str, start: &str) {
    let user = fresh_user("fault");
    let before = enrolled();
    assert_eq!(
        store.commit(&user, None, before.clone()).await.unwrap(),
        Commit::Committed(1)
    );
    let window = format!("fault:{}", user.as_str());
    assert_eq!(hit(store, &window).await.unwrap(), 1);
    let loaded = store.load(&user).await.unwrap().unwrap();
    let mut after = loaded.record.clone();
    after.failures.count = 1;

    let mut guard = Restart(Some(start.to_owned()));
    sh(stop);
    assert_unavailable(store.load(&user).await, &user);
    assert_unavailable(store.commit(&user, Some(1), after.clone()).await, &user);
    assert_unavailable(hit(store, &window).await, &user);
    assert_unavailable(store.purge(now()).await, &user);
    sh(start);
    guard.0 = None;

    // The connection comes back; until it does, answers stay errors.
    let begun = Instant::now();
    let back = loop {
        match store.load(&user).await {
            Ok(v) => break v.unwrap(),
            Err(e) if e.is_transient() && begun.elapsed() < RESTART_PATIENCE => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("the store did not come back: {e}"),
        }
    };
    assert_eq!(back, loaded, "nothing was written during the outage");
    assert_eq!(
        store.commit(&user, Some(1), after.clone()).await.unwrap(),
        Commit::Committed(2),
        "the step commits from the version it loaded"
    );
    assert_eq!(
        hit(store, &window).await.unwrap(),
        2,
        "no hit was lost or doubled"
    );
}

/// A sign-in through `Mfa` over `store`: enrolled by SMS, a challenge sent, then the
/// store goes away (`stop`) and the right code is answered with a transient error
/// and no approval; after `start` the same challenge and code sign in, once.
async fn sign_in_through_outage(store: Arc<dyn Store>, stop: impl FnOnce(), start: impl FnOnce()) {
    let sms = MemoryDelivery::new();
    let mfa = Mfa::builder()
        .shared_store(store)
        .code_key(CodeKey::from_bytes([5; 32]))
        .sms(sms.clone())
        .build()
        .unwrap();
    let user = fresh_user("fault-mfa");
    let number = PhoneNumber::from_parts(47, "412 34 567").unwrap();
    let method = Method::AuthenticationPhone {
        number: number.clone(),
        mode: PhoneMode::Sms,
    };
    let enrolling = mfa.begin_enrollment(&user, method).await.unwrap();
    let code = sms.last_code_to(&number).unwrap();
    mfa.verify(&user, &enrolling.challenge_id, code.expose())
        .await
        .unwrap();
    mfa.complete(&user, &enrolling.challenge_id).await.unwrap();
    let pending = mfa.challenge(&user).await.unwrap();
    let code = sms.last_code_to(&number).unwrap();

    stop();
    match mfa
        .verify(&user, &pending.challenge_id, code.expose())
        .await
    {
        Err(Error::Store(e)) => assert!(e.is_transient(), "{e}"),
        other => panic!("the right code during an outage must not sign in: {other:?}"),
    }
    start();

    let begun = Instant::now();
    let answer = loop {
        match mfa
            .verify(&user, &pending.challenge_id, code.expose())
            .await
        {
            Err(Error::Store(e)) if e.is_transient() && begun.elapsed() < RESTART_PATIENCE => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => break other.unwrap(),
        }
    };
    assert!(
        matches!(&answer, Verification::Approved(a) if a.proof.is_some()),
        "the same challenge signs in after the outage: {answer:?}"
    );
    assert_eq!(
        mfa.verify(&user, &pending.challenge_id, code.expose())
            .await
            .unwrap(),
        Verification::AlreadyUsed,
        "and only once"
    );
}

/// The PostgreSQL store the outage tests use (short timeouts, so a stopped server
/// answers quickly), with the commands that stop and start its server.
#[cfg(feature = "postgres")]
async fn postgres() -> (mfa_store::PostgresStore, String, String) {
    let options = mfa_store::postgres::PoolOptions {
        max_size: 4,
        timeout: Duration::from_secs(2),
        ..Default::default()
    };
    let store =
        mfa_store::PostgresStore::connect_with(&env("MFA_TEST_POSTGRES_URL"), keys(), options)
            .await
            .unwrap();
    (
        store,
        env("MFA_TEST_POSTGRES_STOP"),
        env("MFA_TEST_POSTGRES_START"),
    )
}

/// The Redis store the outage tests use, with the commands that stop and start it.
#[cfg(feature = "redis")]
async fn redis() -> (mfa_store::RedisStore, String, String) {
    let options = mfa_store::redis::RedisOptions {
        timeout: Duration::from_secs(2),
        ..Default::default()
    };
    let store = mfa_store::RedisStore::connect_with(&env("MFA_TEST_REDIS_URL"), keys(), options)
        .await
        .unwrap();
    (
        store,
        env("MFA_TEST_REDIS_STOP"),
        env("MFA_TEST_REDIS_START"),
    )
}

/// A sign-in through `Mfa` while `stop` and `start` take the server away and back;
/// the server is started again if the journey fails half-way.
async fn sign_in_through_server_outage(store: Arc<dyn Store>, stop: String, start: String) {
    let guard = Restart(Some(start.clone()));
    sign_in_through_outage(store, || sh(&stop), || sh(&start)).await;
    std::mem::forget(guard);
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: run bash scripts/test.sh"]
async fn postgres_stopped_mid_sign_in_refuses_then_signs_in_once() {
    let _one_at_a_time = OUTAGE.lock().await;
    let (store, stop, start) = postgres().await;
    sign_in_through_server_outage(Arc::new(store), stop, start).await;
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Redis: run bash scripts/test.sh"]
async fn redis_stopped_mid_sign_in_refuses_then_signs_in_once() {
    let _one_at_a_time = OUTAGE.lock().await;
    let (store, stop, start) = redis().await;
    sign_in_through_server_outage(Arc::new(store), stop, start).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: run bash scripts/test.sh"]
async fn postgres_stopped_mid_step_fails_closed_then_continues() {
    let _one_at_a_time = OUTAGE.lock().await;
    let (store, stop, start) = postgres().await;
    step_through_outage(&store, &stop, &start).await;
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Redis: run bash scripts/test.sh"]
async fn redis_stopped_mid_step_fails_closed_then_continues() {
    let _one_at_a_time = OUTAGE.lock().await;
    let (store, stop, start) = redis().await;
    step_through_outage(&store, &stop, &start).await;
}

/// A SQLite store in a fresh file named after `test`, with a short busy timeout so a
/// held lock answers quickly; the file's path, for a second connection to lock it.
#[cfg(feature = "sqlite")]
fn sqlite(test: &str) -> (mfa_store::SqliteStore, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("mfa-store-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("locked.db");
    let store = mfa_store::SqliteStore::open_with(
        &path,
        keys(),
        Duration::from_millis(200),
        mfa_store::V1Data::Refuse,
    )
    .unwrap();
    (store, path)
}

/// SQLite: another process holds the database's write lock between a load and its
/// commit. The commit and hits fail as unavailable after the busy timeout and write
/// nothing (reads go on: WAL readers do not wait for writers); once the lock is
/// released the same commit lands.
#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_locked_mid_step_fails_closed_then_continues() {
    let (store, path) = sqlite("fault");
    let user = fresh_user("fault-sqlite");
    store.commit(&user, None, enrolled().clone()).await.unwrap();
    let loaded = store.load(&user).await.unwrap().unwrap();
    let mut after = loaded.record.clone();
    after.failures.count = 1;
    let window = format!("fault:{}", user.as_str());

    let other = rusqlite::Connection::open(&path).unwrap();
    other.execute_batch("BEGIN EXCLUSIVE").unwrap();
    assert_unavailable(store.commit(&user, Some(1), after.clone()).await, &user);
    assert_unavailable(hit(&store, &window).await, &user);
    assert_eq!(store.load(&user).await.unwrap().unwrap(), loaded);
    other.execute_batch("ROLLBACK").unwrap();
    drop(other);

    assert_eq!(store.load(&user).await.unwrap().unwrap(), loaded);
    assert_eq!(
        store.commit(&user, Some(1), after.clone()).await.unwrap(),
        Commit::Committed(2)
    );
    assert_eq!(hit(&store, &window).await.unwrap(), 1);
}

/// SQLite through `Mfa`: another connection holds the write lock while the right
/// code is answered (an error, no approval); once released, the same code signs in.
#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_locked_mid_sign_in_refuses_then_signs_in_once() {
    let (store, path) = sqlite("fault-mfa");
    let other = std::sync::Mutex::new(rusqlite::Connection::open(&path).unwrap());
    sign_in_through_outage(
        Arc::new(store),
        || {
            other
                .lock()
                .unwrap()
                .execute_batch("BEGIN EXCLUSIVE")
                .unwrap()
        },
        || other.lock().unwrap().execute_batch("ROLLBACK").unwrap(),
    )
    .await;
}

/// Bad input never panics: the longest user id, odd characters and empty hit lists.
#[cfg(feature = "sqlite")]
#[tokio::test]
async fn odd_input_gets_answers_not_panics() {
    let store = mfa_store::SqliteStore::in_memory(keys()).unwrap();
    let long = UserId::new("\u{1F642}".repeat(80)).unwrap();
    assert_eq!(store.load(&long).await.unwrap(), None);
    assert_eq!(store.hit(&[], now()).await.unwrap(), vec![]);
    let huge = "k".repeat(100_000);
    assert_eq!(hit(&store, &huge).await.unwrap(), 1);
}
