//! Shared pieces of the store tests: keys, fresh users, and the load-and-commit loop
//! a driver runs.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // each test binary uses a part

use std::time::Duration;

use mfa_core::{Commit, Randomness, Store, StoreError, Timestamp, UserId, UserRecord};
use mfa_store::{IndexKey, Keyring, SecretKey};

/// The index key every test process uses, so all of them find the same rows.
pub fn index_key() -> IndexKey {
    IndexKey::new([7; 32])
}

/// The application keys every test process uses.
pub fn keys() -> Keyring {
    Keyring::new(index_key(), SecretKey::new("test-1", [42; 32]).unwrap())
}

/// The time every process of a test runs at: the parent's wall clock when it started,
/// handed to child processes in `MFA_TEST_NOW`.
pub fn now() -> Timestamp {
    match std::env::var("MFA_TEST_NOW") {
        Ok(v) => Timestamp::from_unix_millis(v.parse().unwrap()),
        Err(_) => {
            use mfa_core::Clock;
            mfa_core::SystemClock.now()
        }
    }
}

/// A fresh user name, unique across runs against a shared server.
pub fn fresh_user(tag: &str) -> UserId {
    let mut b = [0u8; 6];
    mfa_core::OsRandomness.fill(&mut b);
    let suffix: String = b.iter().map(|x| format!("{x:02x}")).collect();
    UserId::new(format!("{tag}-{suffix}@example.no")).unwrap()
}

/// What a driver does for one step: load, change, commit if unchanged, else again.
/// Returns the committed record.
pub async fn update<S: Store + ?Sized>(
    store: &S,
    user: &UserId,
    change: impl Fn(&mut UserRecord),
) -> Result<UserRecord, StoreError> {
    loop {
        let current = store.load(user).await?;
        let (expected, mut record) = match current {
            Some(v) => (Some(v.version), v.record),
            None => (None, UserRecord::default()),
        };
        change(&mut record);
        if let Commit::Committed(_) = store.commit(user, expected, record.clone()).await? {
            return Ok(record);
        }
    }
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// How long a test waits for a restarted server, at most.
pub const RESTART_PATIENCE: Duration = Duration::from_secs(20);

/// A plain client of the PostgreSQL database at `url`, its connection driven in the
/// background, for tests that read or shape the tables behind the store.
#[cfg(feature = "postgres")]
pub async fn postgres_client(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}
