//! Sign-in verification through `Mfa` with the memory store, and a whole enrollment.
//!
//! `cargo bench --bench signin`

#![allow(missing_docs)] // criterion's macros generate undocumented functions
#![allow(clippy::expect_used)] // a bench that cannot set up should stop loudly

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use mfa::record::MAX_OPEN_CHALLENGES;
use mfa::totp::{Secret, Totp, TotpVerifier};
use mfa::{
    ChallengeId, Clock, ManualClock, MemoryDelivery, MemoryStore, Method, Mfa, OneTimeCode,
    PhoneMode, PhoneNumber, Policy, Purpose, Timestamp, UserId, Verification,
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
    clock: ManualClock,
    phone: MemoryDelivery,
    number: PhoneNumber,
}

fn fixture(rt: &Runtime, users: usize) -> Fixture {
    let clock = ManualClock::new(Timestamp::from_unix_secs(1_767_225_600));
    let phone = MemoryDelivery::with_clock(Arc::new(clock.clone()));
    let mfa = Arc::new(
        Mfa::builder()
            .store(MemoryStore::new())
            .clock(clock.clone())
            .sms(phone.clone())
            .policy(bench_policy())
            .build()
            .expect("a valid policy"),
    );
    let number = PhoneNumber::from_parts(47, "412 34 567").expect("a valid number");
    let f = Fixture {
        mfa,
        clock,
        phone,
        number,
    };
    for u in 0..users {
        enroll(rt, &f, u);
    }
    f
}

fn user(u: usize) -> UserId {
    UserId::new(format!("user{u}@example.no")).expect("a valid id")
}

/// Enrolls `user{u}` by SMS.
fn enroll(rt: &Runtime, f: &Fixture, u: usize) {
    let user = user(u);
    rt.block_on(async {
        let method = Method::AuthenticationPhone {
            number: f.number.clone(),
            mode: PhoneMode::Sms,
        };
        let pending = f
            .mfa
            .begin_enrollment(&user, method)
            .await
            .expect("enrollment");
        let code = f.phone.last_code_to(&f.number).expect("a code");
        f.mfa
            .verify(&user, &pending.challenge_id, code.expose())
            .await
            .expect("verify");
        f.mfa
            .complete(&user, &pending.challenge_id)
            .await
            .expect("complete");
    });
}

/// A redeemed sign-in: approved, with its proof.
fn signed_in(v: &Verification) -> bool {
    matches!(v, Verification::Approved(a) if a.purpose == Purpose::SignIn && a.proof.is_some())
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

/// `n` sign-in challenges with their codes, made before the clock starts, spread over
/// enough users (enrolled as needed, from `users[first..]`) that none closes another:
/// a user has at most [`MAX_OPEN_CHALLENGES`] open challenges and a newer one closes
/// the oldest.
fn prepare(
    rt: &Runtime,
    f: &Fixture,
    enrolled: &mut usize,
    first: usize,
    n: usize,
) -> Vec<(UserId, ChallengeId, OneTimeCode)> {
    let users = n.div_ceil(MAX_OPEN_CHALLENGES);
    while *enrolled < first + users {
        enroll(rt, f, *enrolled);
        *enrolled += 1;
    }
    (0..n)
        .map(|i| {
            let user = user(first + i / MAX_OPEN_CHALLENGES);
            let (id, code) = start(rt, f, &user);
            (user, id, code)
        })
        .collect()
}

/// Moves past the retention of the last iteration's challenges, so a record holds this
/// iteration's (as a user's does who signs in a few times in a quarter of an hour), not
/// the 32 closed ones a record keeps at most.
fn next_batch(f: &Fixture) {
    f.clock
        .advance(mfa::record::RETENTION + Duration::from_secs(60));
}

/// How each verification's future is driven.
#[derive(Clone, Copy)]
enum Driver {
    /// `Runtime::block_on` around each call, as a synchronous caller would: the figure
    /// includes entering the runtime (100 to 400 ns here).
    BlockOn,
    /// Polled where it stands, as inside a task already running (a request handler):
    /// the figure is the verification alone. Over the memory store a verification is
    /// ready at its first poll.
    InTask,
}

impl Driver {
    fn run<F: Future>(self, rt: &Runtime, future: F) -> F::Output {
        match self {
            Driver::BlockOn => rt.block_on(future),
            Driver::InTask => {
                let mut future = std::pin::pin!(future);
                match future
                    .as_mut()
                    .poll(&mut Context::from_waker(Waker::noop()))
                {
                    Poll::Ready(output) => output,
                    Poll::Pending => panic!("a memory-store verification waits on nothing"),
                }
            }
        }
    }
}

/// Verifies each prepared challenge with its code; every one must sign in. The batch
/// is borrowed, so the caller drops it after the clock stops: freeing what another
/// thread allocated is the allocator's cost, not the verification's.
fn verify_all(
    rt: &Runtime,
    driver: Driver,
    mfa: &Mfa,
    batch: &[(UserId, ChallengeId, OneTimeCode)],
) {
    for (user, id, code) in batch {
        let v = driver
            .run(rt, mfa.verify(user, id, code.expose()))
            .expect("verify");
        assert!(signed_in(&v), "{v:?}");
    }
}

fn signin_verify(c: &mut Criterion) {
    let rt = runtime();
    let f = fixture(&rt, 0);
    let mut enrolled = 0;
    let mut group = c.benchmark_group("signin");
    group.measurement_time(Duration::from_secs(4));
    for (name, driver) in [
        ("verify_sms_code_memory_store", Driver::BlockOn),
        ("verify_sms_code_memory_store_in_task", Driver::InTask),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let n = usize::try_from(iters).expect("iterations fit");
                next_batch(&f);
                let batch = prepare(&rt, &f, &mut enrolled, 0, n);
                let start_at = Instant::now();
                verify_all(&rt, driver, &f.mfa, &batch);
                let elapsed = start_at.elapsed();
                drop(batch);
                elapsed
            })
        });
    }
    group.finish();
}

/// The least a two-thread sample runs on each thread: about 10 ms of verifications.
const MIN_PER_THREAD: usize = 8_192;

/// Two threads verifying at once, each on its own users' challenges: verifications per
/// second. The figure is the wall time over the verifications of both threads, so
/// 1 / throughput.
///
/// Each verifier is pinned to a core of its own and the two start by spinning on a
/// flag, not by sleeping on a barrier. On this 2-core VM, unpinned threads were often
/// placed on one core, and the second started when the scheduler's next tick (4 ms)
/// moved it; a sleeping barrier woke the other, halted vCPU 1 to 4 ms late. Either
/// way, a batch of a few thousand verifications ran mostly on one core and the bench
/// measured one thread (seen as a start offset of 1 to 4 ms between the two).
///
/// A sample runs at least [`MIN_PER_THREAD`] verifications on each thread, however few
/// iterations criterion asks for (it asked for 19 to 1,900, a millisecond of work), and
/// reports the time scaled to the iterations asked for: a start a few hundred
/// microseconds apart, or a vCPU the host takes away for a moment, would otherwise be a
/// large part of a sample.
fn signin_two_threads(c: &mut Criterion) {
    let rt = runtime();
    let f = Arc::new(fixture(&rt, 0));
    let mut enrolled = 0;
    // Two cores, or none when the machine does not report them (then unpinned).
    let cores: Vec<Option<core_affinity::CoreId>> = match core_affinity::get_core_ids() {
        Some(ids) if ids.len() >= 2 => ids.into_iter().take(2).map(Some).collect(),
        _ => vec![None, None],
    };
    let mut group = c.benchmark_group("signin_parallel");
    group.measurement_time(Duration::from_secs(4));
    // Each sample makes 2 × MIN_PER_THREAD challenges untimed first.
    group.sample_size(20);
    for (name, driver) in [
        ("verify_two_threads_per_op", Driver::BlockOn),
        ("verify_two_threads_in_task_per_op", Driver::InTask),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let asked = usize::try_from(iters).expect("iterations fit");
                let per_thread = asked.div_ceil(2).max(MIN_PER_THREAD);
                let second = per_thread.div_ceil(MAX_OPEN_CHALLENGES);
                next_batch(&f);
                let batches = [
                    prepare(&rt, &f, &mut enrolled, 0, per_thread),
                    prepare(&rt, &f, &mut enrolled, second, per_thread),
                ];
                // The threads and their runtimes are made before the clock starts, and
                // the batches dropped after it stops. The figure is from the first
                // thread's start, once both are running, to the last one's end: wall
                // time for 2 × per_thread (≈ iters) verifications.
                let ready = AtomicUsize::new(0);
                let verifiers = batches.len();
                let spans: Vec<(Instant, Instant)> = std::thread::scope(|s| {
                    let threads: Vec<_> = batches
                        .iter()
                        .zip(&cores)
                        .map(|(batch, core)| {
                            let (mfa, ready) = (&f.mfa, &ready);
                            s.spawn(move || {
                                if let Some(core) = core {
                                    core_affinity::set_for_current(*core);
                                }
                                let rt = runtime();
                                ready.fetch_add(1, Ordering::AcqRel);
                                while ready.load(Ordering::Acquire) < verifiers {
                                    std::hint::spin_loop();
                                }
                                let start_at = Instant::now();
                                verify_all(&rt, driver, mfa, batch);
                                (start_at, Instant::now())
                            })
                        })
                        .collect();
                    threads
                        .into_iter()
                        .map(|t| t.join().expect("a verifier"))
                        .collect()
                });
                drop(batches);
                let first = spans.iter().map(|s| s.0).min().expect("two threads");
                let last = spans.iter().map(|s| s.1).max().expect("two threads");
                // Scaled to the iterations asked for: 2 × per_thread were run.
                (last - first).mul_f64(asked as f64 / (2 * per_thread) as f64)
            })
        });
    }
    group.finish();
}

/// Authenticator-app sign-ins: 64 users, each with 8 sign-ins open, answered one step
/// (30 s) apart, since an app code is taken once per step. Codes and challenges are
/// made untimed; the figure is `Mfa::verify` alone, through `TotpVerifier`.
fn app_signin_verify(c: &mut Criterion) {
    const USERS: usize = 64;
    let rt = runtime();
    let clock = ManualClock::new(Timestamp::from_unix_secs(1_767_225_600));
    let mfa = Mfa::builder()
        .clock(clock.clone())
        .app(TotpVerifier::new(Totp::default()))
        .policy(bench_policy())
        .build()
        .expect("a valid policy");
    let totp = Totp::default();
    let code_now = |secret: &Secret| {
        let step = totp.step_at(clock.now()).expect("a step");
        totp.generate_at_step(secret, step)
    };
    let users: Vec<(UserId, Secret)> = (0..USERS)
        .map(|u| {
            let user = UserId::new(format!("app{u}@example.no")).expect("a valid id");
            rt.block_on(async {
                let p = mfa
                    .begin_enrollment(&user, Method::AuthenticatorApp)
                    .await
                    .expect("enrollment");
                let app = p.app.expect("provisioning");
                let secret =
                    Secret::from_bytes(app.credential.secret.expose().to_vec()).expect("a secret");
                mfa.verify(&user, &p.challenge_id, code_now(&secret).expose())
                    .await
                    .expect("verify");
                mfa.complete(&user, &p.challenge_id)
                    .await
                    .expect("complete");
                (user, secret)
            })
        })
        .collect();
    let mut group = c.benchmark_group("signin");
    group.measurement_time(Duration::from_secs(4));
    for (name, driver) in [
        ("verify_app_code_memory_store", Driver::BlockOn),
        ("verify_app_code_memory_store_in_task", Driver::InTask),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    // Up to 8 rounds: each user's 8 open challenges, one per step.
                    let open: Vec<Vec<ChallengeId>> = users
                        .iter()
                        .map(|(user, _)| {
                            (0..MAX_OPEN_CHALLENGES)
                                .map(|_| {
                                    rt.block_on(mfa.challenge(user))
                                        .expect("challenge")
                                        .challenge_id
                                })
                                .collect()
                        })
                        .collect();
                    for round in 0..MAX_OPEN_CHALLENGES {
                        if left == 0 {
                            break;
                        }
                        clock.advance(Duration::from_secs(30));
                        let batch: Vec<_> = users
                            .iter()
                            .zip(&open)
                            .take(usize::try_from(left).unwrap_or(USERS))
                            .map(|((user, secret), ids)| (user, &ids[round], code_now(secret)))
                            .collect();
                        left -= batch.len() as u64;
                        let start_at = Instant::now();
                        for (user, id, code) in batch {
                            let v = driver
                                .run(&rt, mfa.verify(user, id, code.expose()))
                                .expect("verify");
                            assert!(signed_in(&v), "{v:?}");
                        }
                        timed += start_at.elapsed();
                    }
                }
                timed
            })
        });
    }
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
                    .verify(&user, &pending.challenge_id, code.expose())
                    .await
                    .expect("verify");
                f.mfa
                    .complete(&user, &pending.challenge_id)
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
    app_signin_verify,
    enrollment_journey
);
criterion_main!(benches);
