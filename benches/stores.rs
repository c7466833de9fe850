//! Sign-in verifications through each store: the in-memory store, SQLite (in memory
//! and in a file), and, when `MFA_TEST_POSTGRES_URL` / `MFA_TEST_REDIS_URL` are set,
//! PostgreSQL and Redis on loopback.
//!
//! `cargo bench --features sqlite,postgres,redis --bench stores`
//!
//! - `store_verify/<store>`: one verification at a time on the server that started the
//!   challenge (the challenge and its code are made outside the timing), on a
//!   current-thread runtime, as a request handler awaits it: its latency. The record
//!   cache ([`mfa::MfaBuilder::record_cache`]) holds the record that server committed,
//!   so the verification is one store call, the commit.
//! - `store_verify_uncached/<store>`: the same with the record cache off, as on a
//!   server that did not start the challenge: a load and a commit.
//! - `store_verify_32_in_flight/<store>`: 32 verifications in flight on a runtime with
//!   one worker thread; the time reported is per verification (1 / throughput). A user
//!   has at most 8 open challenges and one record, so the challenges are spread over
//!   users. One worker, because the server runs on the same two cores and needs one,
//!   and because the peer it is compared with, `redis-benchmark`, drives its 32
//!   clients from one event-loop thread: with two workers, about half of the client's
//!   time went to the workers waking each other and redis-server (`perf`:
//!   `finish_task_switch`, `try_to_wake_up`, futex).
//! - `store_verify_32_in_flight_2_workers/<store>`: the same on two worker threads,
//!   as a server with a multi-thread runtime on these two cores would run it.
//! - `store_round_trip/redis_loopback`: one `PING` to the same Redis and its `+PONG`
//!   read back, over a plain tokio `TcpStream` on a current-thread runtime: the floor
//!   of one round trip from a Rust process on this machine, beside which the
//!   verifications' one and two round trips are read.
//!
//! Each batch starts past the retention of the one before (the clock moves on 16
//! minutes), so a record holds the batch's challenges, as a user's does who signs in
//! a few times in a quarter of an hour, and not the 32 closed ones a record keeps at most.

#![allow(missing_docs)] // criterion's macros generate undocumented functions
#![allow(clippy::expect_used)] // a bench that cannot set up should stop loudly

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use mfa::record::MAX_OPEN_CHALLENGES;
use mfa::{
    ChallengeId, Clock, CodeKey, ManualClock, MemoryDelivery, MemoryStore, Method, Mfa,
    OneTimeCode, PhoneMode, PhoneNumber, Policy, Purpose, Randomness, Store, SystemClock, UserId,
    Verification,
};
use mfa_store::{Keyring, SecretKey};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::runtime::Runtime;

const IN_FLIGHT: usize = 32;

/// A runtime that runs everything on the calling thread, as a request handler's.
fn current_thread() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// A runtime with `workers` worker threads.
fn runtime(workers: usize) -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn bench_policy() -> Policy {
    let mut policy = Policy::default();
    policy.send_limits.per_destination.max = u32::MAX;
    policy.send_limits.per_user.max = u32::MAX;
    policy.send_limits.per_country.max = u32::MAX;
    policy
}

fn keys() -> Keyring {
    Keyring::new(
        mfa_store::IndexKey::new([4; 32]),
        SecretKey::new("bench", [5; 32]).expect("a valid key id"),
    )
}

struct Fixture {
    mfa: Arc<Mfa>,
    clock: ManualClock,
    phone: MemoryDelivery,
    number: PhoneNumber,
    /// A random prefix, so runs against a shared server never meet old users.
    prefix: String,
    /// The users enrolled so far; the first is the single-verification bench's.
    users: Vec<UserId>,
}

/// A redeemed sign-in: approved, with its proof.
fn signed_in(v: &Verification) -> bool {
    matches!(v, Verification::Approved(a) if a.purpose == Purpose::SignIn && a.proof.is_some())
}

fn fixture(rt: &Runtime, store: Arc<dyn Store>, cached: bool) -> Fixture {
    let clock = ManualClock::new(SystemClock.now());
    let phone = MemoryDelivery::with_clock(Arc::new(clock.clone()));
    let mfa = Arc::new(
        Mfa::builder()
            .shared_store(store)
            // Durable stores need the key every server shares.
            .code_key(CodeKey::from_bytes([9; 32]))
            .clock(clock.clone())
            .sms(phone.clone())
            .policy(bench_policy())
            .record_cache(if cached { 1 << 16 } else { 0 })
            .build()
            .expect("a valid policy"),
    );
    let mut b = [0u8; 8];
    mfa::OsRandomness.fill(&mut b);
    let prefix: String = b.iter().map(|x| format!("{x:02x}")).collect();
    let number = PhoneNumber::from_parts(47, "412 34 567").expect("a valid number");
    let mut f = Fixture {
        mfa,
        clock,
        phone,
        number,
        prefix,
        users: Vec::new(),
    };
    f.enroll_up_to(rt, 1);
    f
}

impl Fixture {
    /// Moves past the retention of the last batch's challenges.
    fn next_batch(&self) {
        self.clock
            .advance(mfa::record::RETENTION + Duration::from_secs(60));
    }

    /// Enrolls users by SMS until there are `n`.
    fn enroll_up_to(&mut self, rt: &Runtime, n: usize) {
        while self.users.len() < n {
            let user = UserId::new(format!(
                "bench-{}-{}@example.no",
                self.prefix,
                self.users.len()
            ))
            .expect("a valid id");
            rt.block_on(async {
                let method = Method::AuthenticationPhone {
                    number: self.number.clone(),
                    mode: PhoneMode::Sms,
                };
                let pending = self
                    .mfa
                    .begin_enrollment(&user, method)
                    .await
                    .expect("enrollment");
                let code = self.phone.last_code_to(&self.number).expect("a code");
                self.mfa
                    .verify(&user, &pending.challenge_id, code.expose())
                    .await
                    .expect("verify");
                self.mfa
                    .complete(&user, &pending.challenge_id)
                    .await
                    .expect("complete");
            });
            self.users.push(user);
        }
    }
}

fn start(rt: &Runtime, f: &Fixture, user: &UserId) -> (ChallengeId, OneTimeCode) {
    f.phone.clear();
    rt.block_on(async {
        let pending = f.mfa.challenge(user).await.expect("challenge");
        let code = f.phone.last_code_to(&f.number).expect("a code");
        (pending.challenge_id, code)
    })
}

/// The stores this build and environment can reach.
fn stores(rt: &Runtime) -> Vec<(&'static str, Arc<dyn Store>)> {
    let mut stores: Vec<(&'static str, Arc<dyn Store>)> =
        vec![("memory", Arc::new(MemoryStore::new()))];
    stores.push((
        "sqlite_in_memory",
        Arc::new(mfa_store::SqliteStore::in_memory(keys()).expect("sqlite")),
    ));
    let dir = std::env::temp_dir().join(format!("mfa-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    stores.push((
        "sqlite_file_wal",
        Arc::new(mfa_store::SqliteStore::open(dir.join("bench.db"), keys()).expect("sqlite")),
    ));
    #[cfg(feature = "postgres")]
    match std::env::var("MFA_TEST_POSTGRES_URL") {
        Ok(url) => stores.push((
            "postgres_loopback",
            Arc::new(
                rt.block_on(mfa_store::PostgresStore::connect(&url, keys()))
                    .expect("postgres"),
            ),
        )),
        Err(_) => eprintln!("MFA_TEST_POSTGRES_URL is not set: no PostgreSQL figures"),
    }
    #[cfg(feature = "redis")]
    match std::env::var("MFA_TEST_REDIS_URL") {
        Ok(url) => stores.push((
            "redis_loopback",
            Arc::new(
                rt.block_on(mfa_store::RedisStore::connect(&url, keys()))
                    .expect("redis"),
            ),
        )),
        Err(_) => eprintln!("MFA_TEST_REDIS_URL is not set: no Redis figures"),
    }
    let _ = rt;
    stores
}

fn store_verify(c: &mut Criterion) {
    one_at_a_time(c, "store_verify", true);
}

fn store_verify_uncached(c: &mut Criterion) {
    one_at_a_time(c, "store_verify_uncached", false);
}

fn one_at_a_time(c: &mut Criterion, group: &str, cached: bool) {
    let rt = current_thread();
    let mut group = c.benchmark_group(group);
    group.measurement_time(Duration::from_secs(4));
    for (name, store) in stores(&rt) {
        let mut f = fixture(&rt, store, cached);
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let n = usize::try_from(iters).unwrap_or(usize::MAX).max(1);
                f.next_batch();
                // A user keeps at most MAX_OPEN_CHALLENGES open (a newer one closes the
                // oldest), so the challenges are spread over enough users.
                f.enroll_up_to(&rt, n.div_ceil(MAX_OPEN_CHALLENGES));
                let work: Vec<(UserId, ChallengeId, OneTimeCode)> = (0..n)
                    .map(|i| {
                        let user = f.users[i / MAX_OPEN_CHALLENGES].clone();
                        let (id, code) = start(&rt, &f, &user);
                        (user, id, code)
                    })
                    .collect();
                let began = Instant::now();
                for (user, id, code) in work {
                    let v = rt
                        .block_on(f.mfa.verify(&user, &id, code.expose()))
                        .expect("verify");
                    assert!(signed_in(&v), "{v:?}");
                }
                began.elapsed()
            })
        });
    }
    group.finish();
}

fn store_verify_in_flight(c: &mut Criterion) {
    in_flight(c, "store_verify_32_in_flight", 1);
}

fn store_verify_in_flight_2_workers(c: &mut Criterion) {
    in_flight(c, "store_verify_32_in_flight_2_workers", 2);
}

fn in_flight(c: &mut Criterion, group: &str, workers: usize) {
    let rt = runtime(workers);
    let mut group = c.benchmark_group(group);
    group.measurement_time(Duration::from_secs(4));
    for (name, store) in stores(&rt) {
        let mut f = fixture(&rt, store, true);
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let n = usize::try_from(iters).unwrap_or(usize::MAX).max(1);
                f.next_batch();
                // At least as many users as verifications in flight, so the 32 do not
                // all wait on one user's record.
                f.enroll_up_to(&rt, n.div_ceil(MAX_OPEN_CHALLENGES).max(IN_FLIGHT.min(n)));
                let users = f.users.len();
                let work: Vec<(UserId, ChallengeId, OneTimeCode)> = (0..n)
                    .map(|i| {
                        let user = f.users[i % users].clone();
                        let (id, code) = start(&rt, &f, &user);
                        (user, id, code)
                    })
                    .collect();
                let began = Instant::now();
                rt.block_on(async {
                    let work = Arc::new(std::sync::Mutex::new(work));
                    let tasks: Vec<_> = (0..IN_FLIGHT)
                        .map(|_| {
                            let (work, mfa) = (Arc::clone(&work), Arc::clone(&f.mfa));
                            tokio::spawn(async move {
                                loop {
                                    let next = work.lock().expect("not poisoned").pop();
                                    let Some((user, id, code)) = next else { break };
                                    let v = mfa
                                        .verify(&user, &id, code.expose())
                                        .await
                                        .expect("verify");
                                    assert!(signed_in(&v), "{v:?}");
                                }
                            })
                        })
                        .collect();
                    for t in tasks {
                        t.await.expect("a task");
                    }
                });
                began.elapsed()
            })
        });
    }
    group.finish();
}

/// The round trip alone: written by hand over a socket, not through a Redis client,
/// so that it is the floor any client pays (the kernel, the wake-ups and the server's
/// reply), with none of a client library's own work in it.
fn store_round_trip(c: &mut Criterion) {
    let Some(addr) = std::env::var("MFA_TEST_REDIS_URL").ok().and_then(|url| {
        let rest = url.strip_prefix("redis://")?;
        Some(rest.split('/').next()?.to_owned())
    }) else {
        return;
    };
    let rt = current_thread();
    let mut stream = rt
        .block_on(tokio::net::TcpStream::connect(&addr))
        .expect("a connection to Redis");
    stream.set_nodelay(true).expect("TCP_NODELAY");
    let mut group = c.benchmark_group("store_round_trip");
    group.measurement_time(Duration::from_secs(4));
    group.bench_function("redis_loopback", |b| {
        b.iter(|| {
            rt.block_on(async {
                stream
                    .write_all(b"*1\r\n$4\r\nPING\r\n")
                    .await
                    .expect("a PING written");
                let mut reply = [0u8; 7];
                stream.read_exact(&mut reply).await.expect("a reply read");
                assert_eq!(&reply, b"+PONG\r\n");
            })
        })
    });
    group.finish();
}

criterion_group!(
    benches,
    store_round_trip,
    store_verify,
    store_verify_uncached,
    store_verify_in_flight,
    store_verify_in_flight_2_workers
);
criterion_main!(benches);
