//! Faults: the store fails in the middle of a sign-in (the code is sent, not yet
//! typed). Every call then fails with a typed, transient store error and nothing is
//! approved; once the store is back the same challenge is answered and no enrollment
//! is lost.
//!
//! PostgreSQL and Redis are stopped and started with the commands
//! `scripts/services/*.sh` export (`MFA_TEST_POSTGRES_STOP` / `_START`,
//! `MFA_TEST_REDIS_STOP` / `_START`); SQLite is locked by another connection.
#![cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code
#![cfg_attr(not(any(feature = "postgres", feature = "redis")), allow(dead_code))]

mod support;

use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use mfa_core::{
    ChallengeStatus, Error, MemoryDelivery, Mfa, Status, Store, StoreErrorKind, Verification,
};
use support::*;

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

fn assert_unavailable<T: std::fmt::Debug>(r: Result<T, Error>, code: &str) {
    match r {
        Err(Error::Store(e)) => {
            assert_eq!(e.kind(), StoreErrorKind::Unavailable, "{e}");
            assert!(e.is_transient());
            assert!(
                !format!("{e} {e:?}").contains(code),
                "the error shows the code"
            );
        }
        other => panic!("expected a store error, got {other:?}"),
    }
}

async fn journey_through_outage(store: Arc<dyn Store>, stop: &str, start: &str) {
    let phone = MemoryDelivery::new();
    let mfa: Mfa = mfa(Arc::clone(&store), &phone, 6);
    let user = fresh_user("fault");
    enroll_sms(&mfa, &phone, &user).await;
    let pending = mfa.challenge(&user).await.unwrap();
    let code = phone
        .last_code_to(&number(&user))
        .unwrap()
        .expose()
        .to_owned();

    let mut guard = Restart(Some(start.to_owned()));
    sh(stop);
    // Fail closed: the right code gets an error, never an approval.
    assert_unavailable(mfa.verify(&pending.challenge_id, &code).await, &code);
    assert_unavailable(mfa.verify(&pending.challenge_id, &code).await, &code);
    assert_unavailable(mfa.status(&user).await, &code);
    assert_unavailable(mfa.challenge(&user).await, &code);
    sh(start);
    guard.0 = None;

    // The connection comes back; until it does, answers stay errors.
    let begun = Instant::now();
    let challenge = loop {
        match store.challenge(&pending.challenge_id).await {
            Ok(c) => break c.unwrap(),
            Err(e) if e.is_transient() && begun.elapsed() < RESTART_PATIENCE => {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(e) => panic!("the store did not come back: {e}"),
        }
    };
    assert_eq!(
        challenge.status,
        ChallengeStatus::AwaitingCode,
        "nothing was approved during the outage"
    );
    assert_eq!(challenge.attempts, 0, "no attempt was counted either");
    // The journey continues where it stopped.
    assert_eq!(
        mfa.verify(&pending.challenge_id, &code).await.unwrap(),
        Verification::Approved
    );
    match mfa.status(&user).await.unwrap() {
        Status::Enrolled { methods, .. } => assert_eq!(methods, 1, "the enrollment survived"),
        other => panic!("the enrollment was lost: {other:?}"),
    }
    sign_in_sms(&mfa, &phone, &user).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: run scripts/test.sh"]
async fn postgres_stopped_mid_sign_in_fails_closed_then_continues() {
    let options = mfa_store::postgres::PoolOptions {
        max_size: 4,
        timeout: std::time::Duration::from_secs(2),
    };
    let store =
        mfa_store::PostgresStore::connect_with(&env("MFA_TEST_POSTGRES_URL"), keys(), options)
            .await
            .unwrap();
    journey_through_outage(
        Arc::new(store),
        &env("MFA_TEST_POSTGRES_STOP"),
        &env("MFA_TEST_POSTGRES_START"),
    )
    .await;
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Redis: run scripts/test.sh"]
async fn redis_stopped_mid_sign_in_fails_closed_then_continues() {
    let options = mfa_store::redis::RedisOptions {
        timeout: std::time::Duration::from_secs(2),
        ..Default::default()
    };
    let store = mfa_store::RedisStore::connect_with(&env("MFA_TEST_REDIS_URL"), keys(), options)
        .await
        .unwrap();
    journey_through_outage(
        Arc::new(store),
        &env("MFA_TEST_REDIS_STOP"),
        &env("MFA_TEST_REDIS_START"),
    )
    .await;
}

/// SQLite: another process holds the database's write lock in the middle of a sign-in.
/// The verification fails as unavailable after the busy timeout and approves nothing;
/// once the lock is released the same code is accepted.
#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_locked_mid_sign_in_fails_closed_then_continues() {
    let dir = std::env::temp_dir().join(format!("mfa-store-fault-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("locked.db");
    let store =
        mfa_store::SqliteStore::open_with(&path, keys(), std::time::Duration::from_millis(200))
            .unwrap();
    let store: Arc<dyn Store> = Arc::new(store);
    let phone = MemoryDelivery::new();
    let mfa: Mfa = mfa(Arc::clone(&store), &phone, 6);
    let user = fresh_user("fault-sqlite");
    enroll_sms(&mfa, &phone, &user).await;
    let pending = mfa.challenge(&user).await.unwrap();
    let code = phone
        .last_code_to(&number(&user))
        .unwrap()
        .expose()
        .to_owned();

    let other = rusqlite::Connection::open(&path).unwrap();
    other.execute_batch("BEGIN EXCLUSIVE").unwrap();
    assert_unavailable(mfa.verify(&pending.challenge_id, &code).await, &code);
    other.execute_batch("ROLLBACK").unwrap();
    drop(other);

    let challenge = store
        .challenge(&pending.challenge_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        challenge.status,
        ChallengeStatus::AwaitingCode,
        "nothing was approved while locked"
    );
    assert_eq!(
        mfa.verify(&pending.challenge_id, &code).await.unwrap(),
        Verification::Approved
    );
}
