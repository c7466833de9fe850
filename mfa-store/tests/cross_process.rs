//! Races across OS processes: this test binary starts two copies of itself (the
//! `race_child_process_entry` test, told what to do through environment variables),
//! both sharing one store, each with many operations in flight at once:
//!
//! - "load, add one failure, commit, retry on conflict" on one user, 50 per process:
//!   the record ends at exactly 100 failures and version 101;
//! - first commits for one new user, 50 per process: exactly one creates it;
//! - hits on one window, 250 per process: the counts seen are exactly 1 to 500.
//!
//! - through `Mfa`, one correct SMS code submitted 30 times per process, all at once:
//!   at most one approval, and exactly one once the race is over; a wrong code on
//!   another challenge, 30 times per process: never more than the challenge's cap of
//!   wrong attempts is counted, and every answer matches what was counted. (With this
//!   many in flight on one record, some answers are "try again", a transient store
//!   error: the driver gives up after 64 conflicts, and fails closed.)
#![cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod support;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use mfa_core::{
    ChallengeId, CodeKey, Commit, MemoryDelivery, Method, Mfa, PhoneMode, PhoneNumber, Policy,
    Store, UserId, UserRecord, Verification, WindowHit,
};
use support::*;

/// Increments and first commits per process.
const COMMITS_PER_PROCESS: usize = 50;
/// Window hits per process.
const HITS_PER_PROCESS: usize = 250;
/// Submissions of each code through `Mfa` per process.
const VERIFIES_PER_PROCESS: usize = 30;

/// The key every process's `Mfa` hashes codes under (a second server must share it).
fn code_key() -> CodeKey {
    CodeKey::from_bytes([5; 32])
}

/// The user's lockout delay is opened wide: these races are about the challenge's cap
/// and one approval. With the default policy, five wrong answers that land before the
/// right one (the cap is five too) put the user in a delay, and the right code is then
/// refused with `UserLocked`: a correct answer, but one this race does not count.
fn mfa_over(store: Arc<dyn Store>, sms: MemoryDelivery) -> Mfa {
    let mut policy = Policy::default();
    policy.lockout.free_failures = 2 * policy.max_attempts;
    Mfa::builder()
        .shared_store(store)
        .code_key(code_key())
        .sms(sms)
        .policy(policy)
        .build()
        .unwrap()
}

async fn connect(backend: &str) -> Arc<dyn Store> {
    match backend {
        #[cfg(feature = "postgres")]
        "postgres" => {
            let url = std::env::var("MFA_TEST_POSTGRES_URL").expect(
                "MFA_TEST_POSTGRES_URL is not set: run scripts/test.sh, which starts PostgreSQL",
            );
            Arc::new(
                mfa_store::PostgresStore::connect(&url, keys())
                    .await
                    .unwrap(),
            )
        }
        #[cfg(feature = "redis")]
        "redis" => {
            let url = std::env::var("MFA_TEST_REDIS_URL")
                .expect("MFA_TEST_REDIS_URL is not set: run scripts/test.sh, which starts Redis");
            Arc::new(mfa_store::RedisStore::connect(&url, keys()).await.unwrap())
        }
        #[cfg(feature = "sqlite")]
        "sqlite" => Arc::new(mfa_store::SqliteStore::open(sqlite_path(), keys()).unwrap()),
        other => panic!("no store {other:?} in this build"),
    }
}

#[cfg(feature = "sqlite")]
fn sqlite_path() -> std::path::PathBuf {
    match std::env::var("MFA_RACE_SQLITE") {
        Ok(p) => p.into(),
        Err(_) => panic!("MFA_RACE_SQLITE names the shared file"),
    }
}

/// The child's side: runs its share of the three races on `MFA_RACE_USER` (increments),
/// `MFA_RACE_NEW_USER` (first commits) and `MFA_RACE_WINDOW` (hits), all at once, and
/// prints what it saw. Run on its own (no `MFA_RACE_STORE`), it does nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn race_child_process_entry() {
    let Ok(backend) = std::env::var("MFA_RACE_STORE") else {
        return;
    };
    let store = connect(&backend).await;
    let var = |name| std::env::var(name).unwrap();
    let user = UserId::new(var("MFA_RACE_USER")).unwrap();
    let new_user = UserId::new(var("MFA_RACE_NEW_USER")).unwrap();
    let window = var("MFA_RACE_WINDOW");

    let increments: Vec<_> = (0..COMMITS_PER_PROCESS)
        .map(|_| {
            let (store, user) = (Arc::clone(&store), user.clone());
            tokio::spawn(async move {
                update(&*store, &user, |r| r.failures.count += 1)
                    .await
                    .unwrap();
            })
        })
        .collect();
    let firsts: Vec<_> = (0..COMMITS_PER_PROCESS)
        .map(|_| {
            let (store, user) = (Arc::clone(&store), new_user.clone());
            tokio::spawn(async move {
                let record = UserRecord {
                    updated_at: now(),
                    ..UserRecord::default()
                };
                store.commit(&user, None, record.clone()).await.unwrap() == Commit::Committed(1)
            })
        })
        .collect();
    let hits: Vec<_> = (0..HITS_PER_PROCESS)
        .map(|_| {
            let (store, window) = (Arc::clone(&store), window.clone());
            tokio::spawn(async move {
                let hit = WindowHit {
                    key: &window,
                    window: Duration::from_secs(3600),
                };
                store.hit(&[hit], now()).await.unwrap()[0].count
            })
        })
        .collect();
    // Through Mfa: the right code and a wrong one, each many times at once.
    let mfa = Arc::new(mfa_over(Arc::clone(&store), MemoryDelivery::new()));
    let mfa_user = UserId::new(var("MFA_RACE_MFA_USER")).unwrap();
    let submit = |challenge: &str, code: String| {
        let challenge = ChallengeId::parse(challenge).unwrap();
        (0..VERIFIES_PER_PROCESS)
            .map(|_| {
                let (mfa, user, id, code) = (
                    Arc::clone(&mfa),
                    mfa_user.clone(),
                    challenge.clone(),
                    code.clone(),
                );
                tokio::spawn(async move {
                    match mfa.verify(&user, &id, &code).await {
                        Err(mfa_core::Error::Store(e)) if e.is_transient() => None,
                        other => Some(other.unwrap()),
                    }
                })
            })
            .collect::<Vec<_>>()
    };
    let rights = submit(&var("MFA_RACE_RIGHT"), var("MFA_RACE_RIGHT_CODE"));
    let wrongs = submit(&var("MFA_RACE_WRONG"), var("MFA_RACE_WRONG_CODE"));
    for t in increments {
        t.await.unwrap();
    }
    let mut created = 0;
    for t in firsts {
        created += usize::from(t.await.unwrap());
    }
    let mut counts = Vec::new();
    for t in hits {
        counts.push(t.await.unwrap().to_string());
    }
    let mut approvals = 0;
    for t in rights {
        match t.await.unwrap() {
            Some(Verification::Approved(_)) => approvals += 1,
            Some(Verification::AlreadyUsed) | None => {}
            other => panic!("the right code got {other:?}"),
        }
    }
    let mut rejected = 0;
    for t in wrongs {
        match t.await.unwrap() {
            Some(Verification::Rejected { .. }) => rejected += 1,
            Some(Verification::Locked) | None => {}
            other => panic!("a wrong code got {other:?}"),
        }
    }
    println!("RACE-RESULT {created} {}", counts.join(","));
    println!("MFA-RESULT {approvals} {rejected}");
}

/// Starts both children at once; returns how many first commits each saw land and
/// every window count they saw.
fn race(
    backend: &str,
    extra: &[(&str, String)],
    env: &[(&str, String)],
) -> (usize, Vec<u32>, [usize; 2]) {
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..2)
        .map(|_| {
            let mut cmd = Command::new(&exe);
            cmd.args([
                "race_child_process_entry",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("MFA_RACE_STORE", backend)
            .env("MFA_TEST_NOW", now().unix_millis().to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
            for (k, v) in extra.iter().chain(env) {
                cmd.env(k, v);
            }
            cmd.spawn().unwrap()
        })
        .collect();
    let mut created = 0;
    let mut counts = Vec::new();
    let mut through_mfa = [0; 2];
    for c in children {
        let out = c.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "child failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let line = stdout
            .lines()
            .find_map(|l| l.split_once("RACE-RESULT ").map(|(_, r)| r.to_owned()))
            .unwrap_or_else(|| panic!("the child printed no result:\n{stdout}"));
        let (n, seen) = line.split_once(' ').unwrap();
        created += n.parse::<usize>().unwrap();
        counts.extend(seen.split(',').map(|c| c.parse::<u32>().unwrap()));
        let line = stdout
            .lines()
            .find_map(|l| l.split_once("MFA-RESULT ").map(|(_, r)| r.to_owned()))
            .unwrap_or_else(|| panic!("the child printed no Mfa result:\n{stdout}"));
        for (total, n) in through_mfa.iter_mut().zip(line.split(' ')) {
            *total += n.parse::<usize>().unwrap();
        }
    }
    (created, counts, through_mfa)
}

async fn races(backend: &str, store: Arc<dyn Store>, extra: &[(&str, String)]) {
    let user = fresh_user("race-increments");
    let new_user = fresh_user("race-first");
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).unwrap();
    let window = format!("race-window:{}", hex(&b));
    // A user enrolled by SMS through Mfa, with two sign-ins open.
    let sms = MemoryDelivery::new();
    let mfa = mfa_over(Arc::clone(&store), sms.clone());
    let mfa_user = fresh_user("race-mfa");
    let number = PhoneNumber::from_parts(47, "412 34 567").unwrap();
    let method = Method::AuthenticationPhone {
        number: number.clone(),
        mode: PhoneMode::Sms,
    };
    let enrolling = mfa.begin_enrollment(&mfa_user, method).await.unwrap();
    let code = sms.last_code_to(&number).unwrap();
    mfa.verify(&mfa_user, &enrolling.challenge_id, code.expose())
        .await
        .unwrap();
    mfa.complete(&mfa_user, &enrolling.challenge_id)
        .await
        .unwrap();
    let right = mfa.challenge(&mfa_user).await.unwrap();
    let right_code = sms.last_code_to(&number).unwrap();
    let wrong = mfa.challenge(&mfa_user).await.unwrap();
    let wrong_code = sms.last_code_to(&number).unwrap();
    // Not the code sent (nor, by chance, the other challenge's).
    let wrong_code = (0..3)
        .map(|d| format!("{d}{d}{d}{d}{d}{d}"))
        .find(|c| c != wrong_code.expose() && c != right_code.expose())
        .unwrap();
    let env = [
        ("MFA_RACE_USER", user.as_str().to_owned()),
        ("MFA_RACE_NEW_USER", new_user.as_str().to_owned()),
        ("MFA_RACE_WINDOW", window),
        ("MFA_RACE_MFA_USER", mfa_user.as_str().to_owned()),
        ("MFA_RACE_RIGHT", right.challenge_id.as_str().to_owned()),
        ("MFA_RACE_RIGHT_CODE", right_code.expose().to_owned()),
        ("MFA_RACE_WRONG", wrong.challenge_id.as_str().to_owned()),
        ("MFA_RACE_WRONG_CODE", wrong_code),
    ];
    let (created, mut counts, [approvals, rejected]) = race(backend, extra, &env);
    assert!(
        approvals <= 1,
        "one code, {approvals} approvals across processes"
    );
    let again = mfa
        .verify(&mfa_user, &right.challenge_id, right_code.expose())
        .await
        .unwrap();
    let later = usize::from(again.is_approved());
    assert_eq!(
        approvals + later,
        1,
        "exactly one approval in all: {again:?}"
    );
    let cap = wrong.attempts_left as usize;
    assert!(
        rejected <= cap,
        "{rejected} wrong attempts counted past the cap of {cap}"
    );
    let after = mfa
        .verify(&mfa_user, &wrong.challenge_id, &env[7].1)
        .await
        .unwrap();
    // The attempt that reaches the cap is answered `Locked`, in the race or here.
    let expected = if rejected + 1 >= cap {
        Verification::Locked
    } else {
        Verification::Rejected {
            attempts_left: (cap - rejected - 1) as u32,
        }
    };
    assert_eq!(after, expected, "the record counted what the answers said");

    let stored = store.load(&user).await.unwrap().unwrap();
    assert_eq!(
        stored.record.failures.count as usize,
        2 * COMMITS_PER_PROCESS,
        "no increment lost or doubled"
    );
    assert_eq!(stored.version as usize, 2 * COMMITS_PER_PROCESS);
    assert_eq!(created, 1, "one first commit lands");
    assert_eq!(store.load(&new_user).await.unwrap().unwrap().version, 1);
    counts.sort_unstable();
    assert_eq!(
        counts,
        (1..=2 * HITS_PER_PROCESS as u32).collect::<Vec<_>>(),
        "each count seen once"
    );
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: run bash scripts/test.sh"]
async fn two_processes_race_on_one_postgres() {
    races("postgres", connect("postgres").await, &[]).await;
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Redis: run bash scripts/test.sh"]
async fn two_processes_race_on_one_redis() {
    races("redis", connect("redis").await, &[]).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_race_on_one_sqlite_file() {
    let dir = std::env::temp_dir().join(format!("mfa-store-race-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("race-shared.db");
    // The children open the same file.
    let extra = [("MFA_RACE_SQLITE", path.display().to_string())];
    let store = Arc::new(mfa_store::SqliteStore::open(&path, keys()).unwrap()) as Arc<dyn Store>;
    races("sqlite", store, &extra).await;
}
