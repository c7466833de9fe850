//! The store conformance suite against SQLite, in memory and in a file.
#![cfg(feature = "sqlite")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use mfa_store::{Keyring, SecretKey, SqliteStore};

fn keys() -> Keyring {
    Keyring::new(SecretKey::new("test-1", [42; 32]).unwrap())
}

async fn fresh() -> SqliteStore {
    SqliteStore::in_memory(keys()).unwrap()
}

mfa_core::store_conformance!(fresh);

mod file {
    use super::*;

    async fn fresh_file() -> SqliteStore {
        let dir = std::env::temp_dir().join(format!("mfa-store-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        SqliteStore::open(dir.join("conformance.db"), keys()).unwrap()
    }

    mfa_core::store_conformance!(fresh_file);
}

/// A store's `Debug` names its key id and nothing of the key.
#[test]
fn debug_output_shows_the_key_id_only() {
    let store = SqliteStore::in_memory(keys()).unwrap();
    let shown = format!("{store:?}");
    assert!(shown.contains("test-1"), "{shown}");
    assert!(!shown.contains("42"), "{shown}");
    let ring = format!("{:?}", keys());
    assert!(!ring.contains("42"), "{ring}");
}

/// A database written by a newer build is refused with a typed error, not misread.
#[test]
fn a_newer_schema_is_refused() {
    let dir = std::env::temp_dir().join(format!("mfa-store-schema-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("newer.db");
    drop(SqliteStore::open(&path, keys()).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute(
        "INSERT INTO mfa_schema_migrations (version, name) VALUES (99, 'future')",
        [],
    )
    .unwrap();
    drop(conn);
    let err = SqliteStore::open(&path, keys()).unwrap_err();
    assert_eq!(err.kind(), mfa_core::StoreErrorKind::Corrupt);
}

/// Purging drops dead challenges and closed windows, and keeps approved proofs.
#[tokio::test]
async fn purge_drops_expired_challenges_and_closed_windows() {
    use mfa_core::Store;
    use mfa_core::store::conformance::{T0, awaiting_challenge, fresh_user};
    use std::time::Duration;

    let store = fresh().await;
    let user = fresh_user();
    let dead = awaiting_challenge(&user);
    let mut proof = awaiting_challenge(&user);
    proof.status = mfa_core::ChallengeStatus::Approved;
    let live = mfa_core::Challenge {
        expires_at: T0 + Duration::from_secs(3600),
        ..awaiting_challenge(&user)
    };
    for c in [&dead, &proof, &live] {
        store.insert_challenge(c.clone()).await.unwrap();
    }
    store
        .hit("closed", Duration::from_secs(60), T0)
        .await
        .unwrap();
    store
        .hit("open", Duration::from_secs(7200), T0)
        .await
        .unwrap();
    let later = T0 + Duration::from_secs(301);
    assert_eq!(store.purge_expired(later).await.unwrap(), 2);
    assert!(store.challenge(&dead.id).await.unwrap().is_none());
    assert!(store.challenge(&proof.id).await.unwrap().is_some());
    assert!(store.challenge(&live.id).await.unwrap().is_some());
    assert_eq!(
        store
            .hit("open", Duration::from_secs(7200), later)
            .await
            .unwrap()
            .count,
        2
    );
}
