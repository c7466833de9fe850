//! Round trips, counted on the server: a `load` is one statement or command, a
//! `commit` one, a `hit` of three windows one. PostgreSQL counts statements in
//! `pg_stat_statements` (preloaded by `scripts/services/postgres.sh`); Redis shows
//! every command a client sent in `MONITOR` (commands a script runs are marked `lua]`
//! and are not round trips).
//!
//! Then through `Mfa`: starting a sign-in is a load, a hit and a commit; verifying
//! its code is one commit on the server that started it (its record cache holds the
//! record) and a load and a commit on another.
//!
//! Each store is warmed up first: the first use of a connection prepares its
//! statements (PostgreSQL) or loads a script after `NOSCRIPT` (Redis, once per server).
#![cfg(any(feature = "postgres", feature = "redis"))]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod support;

use std::sync::Arc;
use std::time::Duration;

use mfa_core::{
    CodeKey, MemoryDelivery, Method, Mfa, PhoneMode, PhoneNumber, Store, UserRecord, WindowHit,
};
use support::*;

/// What the counted phases did, by name, in order.
const PHASES: [&str; 6] = [
    "load",
    "commit",
    "hit of 3 windows",
    "Mfa::challenge",
    "Mfa::verify, same server",
    "Mfa::verify, another server",
];

/// Round trips each phase may take.
const EXPECTED: [u64; 6] = [1, 1, 1, 3, 1, 2];

/// Runs each phase once on `store`, calling `count` around each, and returns the
/// counts.
async fn phases<F, Fut>(store: Arc<dyn Store>, mut count: F) -> Vec<u64>
where
    F: FnMut(&'static str) -> Fut,
    Fut: std::future::Future<Output = u64>,
{
    let user = fresh_user("round-trips");
    let (a, b, c) = (
        format!("rt-a:{}", user.as_str()),
        format!("rt-b:{}", user.as_str()),
        format!("rt-c:{}", user.as_str()),
    );
    let hits = |w| {
        [
            WindowHit { key: &a, window: w },
            WindowHit { key: &b, window: w },
            WindowHit { key: &c, window: w },
        ]
    };
    let record = UserRecord {
        updated_at: now(),
        ..mfa_core::store::conformance::enrolled_record()
    };
    // Warm up every statement and script on this connection.
    let warm = fresh_user("round-trips-warm");
    store.load(&warm).await.unwrap();
    store.commit(&warm, None, record.clone()).await.unwrap();
    store.commit(&warm, Some(1), record.clone()).await.unwrap();
    store
        .hit(&hits(Duration::from_secs(60)), now())
        .await
        .unwrap();
    store.commit(&user, None, record.clone()).await.unwrap();

    let mut counts = Vec::new();
    let before = count("start").await;
    store.load(&user).await.unwrap().unwrap();
    let after_load = count(PHASES[0]).await;
    store.commit(&user, Some(1), record.clone()).await.unwrap();
    let after_commit = count(PHASES[1]).await;
    store
        .hit(&hits(Duration::from_secs(60)), now())
        .await
        .unwrap();
    let after_hit = count(PHASES[2]).await;
    counts.push(after_load - before);
    counts.push(after_commit - after_load);
    counts.push(after_hit - after_commit);

    // Two servers over the store: `here` keeps records, `there` keeps none.
    let phone = MemoryDelivery::new();
    let server = |cache| {
        Mfa::builder()
            .shared_store(Arc::clone(&store))
            .code_key(CodeKey::from_bytes([6; 32]))
            .sms(phone.clone())
            .record_cache(cache)
            .build()
            .unwrap()
    };
    let (here, there) = (server(64), server(0));
    let number = PhoneNumber::from_parts(47, "412 34 567").unwrap();
    let kari = fresh_user("round-trips-mfa");
    let sms = Method::AuthenticationPhone {
        number: number.clone(),
        mode: PhoneMode::Sms,
    };
    let pending = here.begin_enrollment(&kari, sms).await.unwrap();
    let code = phone.last_code_to(&number).unwrap();
    here.verify(&kari, &pending.challenge_id, code.expose())
        .await
        .unwrap();
    here.complete(&kari, &pending.challenge_id).await.unwrap();
    let signed_in = |v: &mfa_core::Verification| v.proof().is_some();

    let before = count("start").await;
    let first = here.challenge(&kari).await.unwrap();
    let after_start = count(PHASES[3]).await;
    let code = phone.last_code_to(&number).unwrap();
    let v = here
        .verify(&kari, &first.challenge_id, code.expose())
        .await
        .unwrap();
    assert!(signed_in(&v), "{v:?}");
    let after_here = count(PHASES[4]).await;
    let second = here.challenge(&kari).await.unwrap();
    let code = phone.last_code_to(&number).unwrap();
    let before_there = count("another start").await;
    let v = there
        .verify(&kari, &second.challenge_id, code.expose())
        .await
        .unwrap();
    assert!(signed_in(&v), "{v:?}");
    let after_there = count(PHASES[5]).await;
    counts.push(after_start - before);
    counts.push(after_here - after_start);
    counts.push(after_there - before_there);
    counts
}

fn report(store: &str, counts: &[u64]) {
    for (phase, n) in PHASES.iter().zip(counts) {
        println!("{store}: {phase}: {n} round trip(s)");
    }
    assert_eq!(counts, EXPECTED, "{store}: {PHASES:?}");
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: run bash scripts/test.sh"]
async fn postgres_round_trips_are_one_each() {
    let url = std::env::var("MFA_TEST_POSTGRES_URL")
        .expect("MFA_TEST_POSTGRES_URL is not set: run scripts/test.sh");
    let options = mfa_store::postgres::PoolOptions {
        max_size: 1,
        ..Default::default()
    };
    let store = mfa_store::PostgresStore::connect_with(&url, keys(), options)
        .await
        .unwrap();
    let client = support::postgres_client(&url).await;
    let client = &client;
    // Every statement run in this database except this counting query.
    let count = |_| async move {
        let row = client
            .query_one(
                "SELECT COALESCE(sum(calls), 0)::bigint FROM pg_stat_statements s \
                 JOIN pg_database d ON d.oid = s.dbid \
                 WHERE d.datname = current_database() AND s.query NOT LIKE $1",
                &[&"%pg_stat_statements%"],
            )
            .await
            .expect(
                "pg_stat_statements: the server must preload it (scripts/services/postgres.sh)",
            );
        u64::try_from(row.get::<_, i64>(0)).unwrap()
    };
    let counts = phases(Arc::new(store), count).await;
    report("postgres", &counts);
}

#[cfg(feature = "redis")]
mod redis_monitor {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::process::{Child, Command, Stdio};
    use std::sync::{Arc, Mutex};

    /// `redis-cli monitor` on each node, its lines collected as they come.
    pub struct Monitor {
        children: Vec<Child>,
        /// Each node's monitor's lines.
        lines: Vec<Arc<Mutex<Vec<String>>>>,
        nodes: Vec<redis::aio::MultiplexedConnection>,
        seq: u32,
    }

    fn port_of(url: &str) -> u16 {
        let rest = url.trim_start_matches("redis://");
        let hostport = rest.split('/').next().unwrap();
        hostport.rsplit_once(':').unwrap().1.parse().unwrap()
    }

    impl Monitor {
        pub async fn start(urls: &[String]) -> Monitor {
            let mut all = Vec::new();
            let mut children = Vec::new();
            let mut nodes = Vec::new();
            for url in urls {
                let mut child = Command::new("redis-cli")
                    .args([
                        "-h",
                        "127.0.0.1",
                        "-p",
                        &port_of(url).to_string(),
                        "monitor",
                    ])
                    .stdout(Stdio::piped())
                    .spawn()
                    .expect("redis-cli (package redis-tools)");
                let out = child.stdout.take().unwrap();
                let lines = Arc::new(Mutex::new(Vec::new()));
                all.push(Arc::clone(&lines));
                std::thread::spawn(move || {
                    for line in BufReader::new(out).lines() {
                        let Ok(line) = line else { break };
                        lines.lock().unwrap().push(line);
                    }
                });
                children.push(child);
                nodes.push(
                    redis::Client::open(url.as_str())
                        .unwrap()
                        .get_multiplexed_async_connection()
                        .await
                        .unwrap(),
                );
            }
            let mut m = Monitor {
                children,
                lines: all,
                nodes,
                seq: 0,
            };
            // A monitor may connect after the first markers: mark until all see one.
            for _ in 0..50 {
                if m.try_mark().await.is_some() {
                    return m;
                }
            }
            panic!("a monitor never started");
        }

        /// [`Monitor::mark`], or `None` if some monitor did not see the marker.
        async fn try_mark(&mut self) -> Option<u64> {
            self.seq += 1;
            let marker = format!("round-trip-marker-{}-{}", std::process::id(), self.seq);
            for node in &mut self.nodes {
                let _: String = redis::cmd("ECHO")
                    .arg(&marker)
                    .query_async(node)
                    .await
                    .unwrap();
            }
            let seen = |lines: &Arc<Mutex<Vec<String>>>| {
                lines.lock().unwrap().iter().any(|l| l.contains(&marker))
            };
            for _ in 0..10 {
                if self.lines.iter().all(seen) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            if !self.lines.iter().all(seen) {
                return None;
            }
            Some(
                self.lines
                    .iter()
                    .map(|lines| {
                        lines
                            .lock()
                            .unwrap()
                            .iter()
                            .filter(|l| l.contains(" [") && !l.contains("lua]"))
                            .filter(|l| !l.contains("round-trip-marker-"))
                            .count() as u64
                    })
                    .sum(),
            )
        }

        /// Sends a marker to every node and waits until every monitor printed it;
        /// returns the client commands (not the markers, not `lua]`) seen so far.
        pub async fn mark(&mut self) -> u64 {
            self.try_mark().await.expect("every monitor saw the marker")
        }
    }

    impl Drop for Monitor {
        fn drop(&mut self) {
            for c in &mut self.children {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }

    async fn count_on(store: Arc<dyn Store>, urls: &[String]) -> Vec<u64> {
        let monitor = tokio::sync::Mutex::new(Monitor::start(urls).await);
        let monitor = &monitor;
        phases(store, |_| async move { monitor.lock().await.mark().await }).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs Redis: run bash scripts/test.sh"]
    async fn redis_round_trips_are_one_each() {
        let url = std::env::var("MFA_TEST_REDIS_URL")
            .expect("MFA_TEST_REDIS_URL is not set: run scripts/test.sh");
        let store = mfa_store::RedisStore::connect(&url, keys()).await.unwrap();
        let counts = count_on(Arc::new(store), &[url]).await;
        report("redis", &counts);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs a Redis Cluster: run bash scripts/test.sh"]
    async fn redis_cluster_round_trips_are_one_each() {
        let urls: Vec<String> = std::env::var("MFA_TEST_REDIS_CLUSTER")
            .expect("MFA_TEST_REDIS_CLUSTER is not set: run scripts/test.sh")
            .split(',')
            .map(str::to_owned)
            .collect();
        let refs: Vec<&str> = urls.iter().map(String::as_str).collect();
        let store = mfa_store::RedisStore::connect_cluster(
            &refs,
            keys(),
            mfa_store::redis::RedisOptions::default(),
        )
        .await
        .unwrap();
        let counts = count_on(Arc::new(store), &urls).await;
        report("redis cluster", &counts);
    }
}
