//! The store conformance suite against a Redis Cluster of three primaries
//! (`scripts/services/redis.sh`), and where a user's key lands.
#![cfg(feature = "redis")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod support;

use mfa_core::Store;
use mfa_store::RedisStore;
use mfa_store::redis::RedisOptions;
use support::keys;

fn urls() -> Vec<String> {
    std::env::var("MFA_TEST_REDIS_CLUSTER")
        .expect(
            "MFA_TEST_REDIS_CLUSTER is not set: run scripts/test.sh, which starts a Redis Cluster",
        )
        .split(',')
        .map(str::to_owned)
        .collect()
}

async fn fresh() -> RedisStore {
    let urls = urls();
    let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
    RedisStore::connect_cluster(&urls, keys(), RedisOptions::default())
        .await
        .unwrap()
}

mfa_core::store_conformance!(
    #[ignore = "needs a Redis Cluster: run bash scripts/test.sh"]
    fresh
);

/// Users' records spread over the cluster's nodes (each a hash tag of its own), and
/// every node answers for the keys in its slots.
#[tokio::test]
#[ignore = "needs a Redis Cluster: run bash scripts/test.sh"]
async fn users_spread_over_the_nodes() {
    let store = fresh().await;
    for _ in 0..30 {
        let user = support::fresh_user("spread");
        support::update(&store, &user, |r| r.failures.count += 1)
            .await
            .unwrap();
        assert_eq!(store.load(&user).await.unwrap().unwrap().version, 1);
    }
    let mut holding = 0;
    for url in urls() {
        let mut c = redis::Client::open(url)
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let n: u64 = redis::cmd("DBSIZE").query_async(&mut c).await.unwrap();
        if n > 0 {
            holding += 1;
        }
    }
    assert_eq!(holding, 3, "every primary holds some records");
}
