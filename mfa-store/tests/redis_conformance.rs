//! The store conformance suite against Redis (`scripts/services/redis.sh`), and what
//! connecting does with mfa v1 keys.
#![cfg(feature = "redis")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod support;

use mfa_core::Store;
use mfa_store::redis::RedisOptions;
use mfa_store::{OpenError, RedisStore, V1Data};
use support::keys;

fn url() -> String {
    std::env::var("MFA_TEST_REDIS_URL")
        .expect("MFA_TEST_REDIS_URL is not set: run scripts/test.sh, which starts Redis")
}

async fn fresh() -> RedisStore {
    RedisStore::connect(&url(), keys()).await.unwrap()
}

mfa_core::store_conformance!(
    #[ignore = "needs Redis: run bash scripts/test.sh"]
    fresh
);

async fn raw() -> redis::aio::MultiplexedConnection {
    redis::Client::open(url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// v1 keys under the prefix are refused with `OpenError::V1Data` naming them and what
/// to do; `V1Data::LeaveUnread` opens beside them and leaves them as they were.
#[tokio::test]
#[ignore = "needs Redis: run bash scripts/test.sh"]
async fn v1_keys_are_refused_unless_left_unread() {
    let mut conn = raw().await;
    let mut b = [0u8; 4];
    getrandom::fill(&mut b).unwrap();
    let prefix = format!("v1test-{}:", support::hex(&b));
    let v1_key = format!("{prefix}methods:6b617269");
    let _: () = redis::cmd("HSET")
        .arg(&v1_key)
        .arg("m1")
        .arg("1|sms|+4741234567")
        .query_async(&mut conn)
        .await
        .unwrap();
    let options = |v1| RedisOptions {
        prefix: prefix.clone(),
        v1,
        ..RedisOptions::default()
    };
    let err = RedisStore::connect_with(&url(), keys(), options(V1Data::Refuse))
        .await
        .unwrap_err();
    match &err {
        OpenError::V1Data(f) => assert_eq!(f.found, [format!("{prefix}methods:*")]),
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("LeaveUnread"), "{err}");

    let store = RedisStore::connect_with(&url(), keys(), options(V1Data::LeaveUnread))
        .await
        .unwrap();
    let user = support::fresh_user("after-v1");
    support::update(&store, &user, |r| r.failures.count = 1)
        .await
        .unwrap();
    // Checked once: it now opens without the opt-in, and the v1 key is untouched.
    let store = RedisStore::connect_with(&url(), keys(), options(V1Data::Refuse))
        .await
        .unwrap();
    assert!(store.load(&user).await.unwrap().is_some());
    let exists: bool = redis::cmd("EXISTS")
        .arg(&v1_key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(exists);
}

/// A prefix with a brace would move the hash tags: refused.
#[tokio::test]
async fn a_prefix_with_braces_is_refused() {
    let options = RedisOptions {
        prefix: "mfa{x}:".to_owned(),
        ..RedisOptions::default()
    };
    assert!(matches!(
        RedisStore::connect_with("redis://127.0.0.1:1/0", keys(), options).await,
        Err(OpenError::Store(_))
    ));
}
