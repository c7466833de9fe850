//! The store conformance suite against Redis (`scripts/services/redis.sh`).
#![cfg(feature = "redis")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use mfa_store::{Keyring, RedisStore, SecretKey};

fn url() -> String {
    std::env::var("MFA_TEST_REDIS_URL")
        .expect("MFA_TEST_REDIS_URL is not set: run scripts/test.sh, which starts Redis")
}

async fn fresh() -> RedisStore {
    let keys = Keyring::new(SecretKey::new("test-1", [42; 32]).unwrap());
    RedisStore::connect(&url(), keys).await.unwrap()
}

mfa_core::store_conformance!(
    #[ignore = "needs Redis: run scripts/test.sh"]
    fresh
);
