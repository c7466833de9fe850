//! The store conformance suite against PostgreSQL (`scripts/services/postgres.sh`).
#![cfg(feature = "postgres")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use mfa_store::{Keyring, PostgresStore, SecretKey};

fn url() -> String {
    std::env::var("MFA_TEST_POSTGRES_URL")
        .expect("MFA_TEST_POSTGRES_URL is not set: run scripts/test.sh, which starts PostgreSQL")
}

async fn fresh() -> PostgresStore {
    let keys = Keyring::new(SecretKey::new("test-1", [42; 32]).unwrap());
    PostgresStore::connect(&url(), keys).await.unwrap()
}

mfa_core::store_conformance!(
    #[ignore = "needs PostgreSQL: run scripts/test.sh"]
    fresh
);

#[tokio::test]
#[ignore = "needs PostgreSQL: run scripts/test.sh"]
async fn migrations_are_applied_once_and_recorded() {
    let a = fresh().await;
    let b = fresh().await;
    assert_eq!(a.schema_version().await.unwrap(), 1);
    assert_eq!(b.schema_version().await.unwrap(), 1);
}

/// Purging drops dead challenges, and keeps approved proofs and live ones.
#[tokio::test]
#[ignore = "needs PostgreSQL: run scripts/test.sh"]
async fn purge_drops_expired_challenges() {
    use mfa_core::Store;
    use mfa_core::store::conformance::{awaiting_challenge, fresh_user};

    let store = fresh().await;
    let user = fresh_user();
    // Expired long before anything the suite writes, so other runs' rows are untouched.
    let dead = mfa_core::Challenge {
        expires_at: mfa_core::Timestamp::from_unix_secs(1),
        ..awaiting_challenge(&user)
    };
    let mut proof = dead.clone();
    proof.id = awaiting_challenge(&user).id;
    proof.status = mfa_core::ChallengeStatus::Approved;
    let live = awaiting_challenge(&user);
    for c in [&dead, &proof, &live] {
        store.insert_challenge(c.clone()).await.unwrap();
    }
    assert!(
        store
            .purge_expired(mfa_core::Timestamp::from_unix_secs(2))
            .await
            .unwrap()
            >= 1
    );
    assert!(store.challenge(&dead.id).await.unwrap().is_none());
    assert!(store.challenge(&proof.id).await.unwrap().is_some());
    assert!(store.challenge(&live.id).await.unwrap().is_some());
}
