//! Sign-in verification through `Mfa` with the memory store, and a whole enrollment.
//!
//! `cargo bench --bench signin`

#![allow(missing_docs)] // criterion's macros generate undocumented functions
#![allow(clippy::expect_used)] // a bench that cannot set up should stop loudly

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use mfa::{
    ChallengeId, ManualClock, MemoryDelivery, MemoryStore, Method, Mfa, OneTimeCode, PhoneMode,
    PhoneNumber, Policy, Timestamp, UserId, Verification,
};
use tokio::runtime::Runtime;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a tokio runtime")
}

/// Limits opened wide: the bench measures verification, not the rate limiter.
fn bench_policy() -> Policy {
    let mut policy = Policy::default();
    policy.send_limits.per_destination.max = u32::MAX;
    policy.send_limits.per_user.max = u32::MAX;
    policy.send_limits.per_country.max = u32::MAX;
    policy
}

struct Fixture {
    mfa: Arc<Mfa>,
    phone: MemoryDelivery,
    number: PhoneNumber,
}

fn fixture(rt: &Runtime, users: usize) -> Fixture {
    let clock = ManualClock::new(Timestamp::from_unix_secs(1_767_225_600));
    let phone = MemoryDelivery::with_clock(Arc::new(clock.clone()));
    let mfa = Arc::new(
        Mfa::builder()
            .store(MemoryStore::new())
            .clock(clock)
            .sms(phone.clone())
            .policy(bench_policy())
            .build()
            .expect("a valid policy"),
    );
    let number = PhoneNumber::from_parts(47, "412 34 567").expect("a valid number");
    rt.block_on(async {
        for u in 0..users {
            let user = UserId::new(format!("user{u}@example.no")).expect("a valid id");
            let method = Method::AuthenticationPhone {
                number: number.clone(),
                mode: PhoneMode::Sms,
            };
            let pending = mfa
                .begin_enrollment(&user, method)
                .await
                .expect("enrollment");
            let code = phone.last_code_to(&number).expect("a code");
            mfa.verify(&pending.challenge_id, code.expose())
                .await
                .expect("verify");
            mfa.complete(&pending.challenge_id).await.expect("complete");
        }
    });
    Fixture { mfa, phone, number }
}

/// Starts a sign-in challenge (not timed) and returns it with its code.
fn start(rt: &Runtime, f: &Fixture, user: &UserId) -> (ChallengeId, OneTimeCode) {
    f.phone.clear();
    rt.block_on(async {
        let pending = f.mfa.challenge(user).await.expect("challenge");
        let code = f.phone.last_code_to(&f.number).expect("a code");
        (pending.challenge_id, code)
    })
}

fn signin_verify(c: &mut Criterion) {
    let rt = runtime();
    let f = fixture(&rt, 1);
    let user = UserId::new("user0@example.no").expect("a valid id");
    let mut group = c.benchmark_group("signin");
    group.measurement_time(Duration::from_secs(4));
    group.bench_function("verify_sms_code_memory_store", |b| {
        b.iter_batched(
            || start(&rt, &f, &user),
            |(id, code)| {
                let v = rt
                    .block_on(f.mfa.verify(&id, code.expose()))
                    .expect("verify");
                assert_eq!(v, Verification::Approved);
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

/// Two threads verifying at once, each on its own users' challenges: verifications per second.
fn signin_two_threads(c: &mut Criterion) {
    let rt = runtime();
    let f = Arc::new(fixture(&rt, 2));
    let mut group = c.benchmark_group("signin_parallel");
    group.measurement_time(Duration::from_secs(4));
    group.bench_function("verify_two_threads_per_op", |b| {
        b.iter_custom(|iters| {
            let per_thread = iters.div_ceil(2);
            // Challenges are made before the clock starts.
            let batches: Vec<Vec<(ChallengeId, OneTimeCode)>> = (0..2)
                .map(|t| {
                    let user = UserId::new(format!("user{t}@example.no")).expect("a valid id");
                    (0..per_thread).map(|_| start(&rt, &f, &user)).collect()
                })
                .collect();
            let start_at = Instant::now();
            std::thread::scope(|s| {
                for batch in batches {
                    let f = f.clone();
                    s.spawn(move || {
                        let rt = runtime();
                        for (id, code) in batch {
                            let v = rt
                                .block_on(f.mfa.verify(&id, code.expose()))
                                .expect("verify");
                            assert_eq!(v, Verification::Approved);
                        }
                    });
                }
            });
            // Time per verification across both threads: 1 / throughput.
            start_at.elapsed() / 2
        })
    });
    group.finish();
}

fn enrollment_journey(c: &mut Criterion) {
    let rt = runtime();
    let f = fixture(&rt, 0);
    let mut n = 0u64;
    let mut group = c.benchmark_group("enrollment");
    group.measurement_time(Duration::from_secs(4));
    group.bench_function("sms_enrollment_begin_verify_complete", |b| {
        b.iter(|| {
            n += 1;
            let user = UserId::new(format!("new{n}@example.no")).expect("a valid id");
            f.phone.clear();
            rt.block_on(async {
                let method = Method::AuthenticationPhone {
                    number: f.number.clone(),
                    mode: PhoneMode::Sms,
                };
                let pending = f.mfa.begin_enrollment(&user, method).await.expect("begin");
                let code = f.phone.last_code_to(&f.number).expect("a code");
                f.mfa
                    .verify(&pending.challenge_id, code.expose())
                    .await
                    .expect("verify");
                f.mfa
                    .complete(&pending.challenge_id)
                    .await
                    .expect("complete")
            })
        })
    });
    group.finish();
}

criterion_group!(
    benches,
    signin_verify,
    signin_two_threads,
    enrollment_journey
);
criterion_main!(benches);
