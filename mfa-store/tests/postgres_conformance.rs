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
