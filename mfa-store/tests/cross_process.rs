//! Races across OS processes: this test binary starts two copies of itself (the
//! `race_child_process_entry` test, told what to do through environment variables),
//! both sharing one store, and each submits 500 codes at once.
//!
//! - one correct SMS code, 1,000 submissions: exactly one approval;
//! - a wrong code, 1,000 submissions: exactly the cap (5) counted, then locked;
//! - one TOTP code submitted on 1,000 sign-in challenges of one user, 500 per process:
//!   its step is accepted once, so exactly one challenge is approved.
#![cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod support;

use std::process::{Command, Stdio};
use std::sync::Arc;

use mfa_core::{ChallengeId, ChallengeStatus, MemoryDelivery, Method, Store, UserId, Verification};
use support::*;

/// Submissions per process.
const PER_PROCESS: usize = 500;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Tally {
    approved: usize,
    rejected: usize,
    locked: usize,
    used: usize,
    refused: usize,
    store_errors: usize,
}

impl Tally {
    fn add(self, o: Tally) -> Tally {
        Tally {
            approved: self.approved + o.approved,
            rejected: self.rejected + o.rejected,
            locked: self.locked + o.locked,
            used: self.used + o.used,
            refused: self.refused + o.refused,
            store_errors: self.store_errors + o.store_errors,
        }
    }

    fn line(&self) -> String {
        format!(
            "RACE-RESULT {} {} {} {} {} {}",
            self.approved, self.rejected, self.locked, self.used, self.refused, self.store_errors
        )
    }

    fn parse(out: &str) -> Tally {
        let line = out
            .lines()
            .find_map(|l| l.split_once("RACE-RESULT ").map(|(_, r)| r))
            .unwrap_or_else(|| panic!("the child printed no result:\n{out}"));
        let n: Vec<usize> = line.split(' ').map(|v| v.parse().unwrap()).collect();
        Tally {
            approved: n[0],
            rejected: n[1],
            locked: n[2],
            used: n[3],
            refused: n[4],
            store_errors: n[5],
        }
    }
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

/// The child's side: submits `MFA_RACE_CODE` 500 times at once, to the challenges in
/// `MFA_RACE_CHALLENGES` (comma-separated: all to one, or one each) and prints the
/// tally. Run on its own (no `MFA_RACE_STORE`), it does nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn race_child_process_entry() {
    let Ok(backend) = std::env::var("MFA_RACE_STORE") else {
        return;
    };
    let store = connect(&backend).await;
    let phone = MemoryDelivery::new();
    let mfa = Arc::new(mfa(store, &phone, 6));
    let challenges: Vec<ChallengeId> = std::env::var("MFA_RACE_CHALLENGES")
        .unwrap()
        .split(',')
        .map(|c| ChallengeId::parse(c).unwrap())
        .collect();
    let code = std::env::var("MFA_RACE_CODE").unwrap();
    let tasks: Vec<_> = (0..PER_PROCESS)
        .map(|i| {
            let challenge = challenges[i % challenges.len()].clone();
            let (mfa, code) = (Arc::clone(&mfa), code.clone());
            tokio::spawn(async move { mfa.verify(&challenge, &code).await })
        })
        .collect();
    let mut tally = Tally::default();
    for t in tasks {
        match t.await.unwrap() {
            Ok(Verification::Approved) => tally.approved += 1,
            Ok(Verification::Rejected { .. }) => tally.rejected += 1,
            Ok(Verification::Locked) => tally.locked += 1,
            Ok(Verification::AlreadyUsed) => tally.used += 1,
            Ok(other) => panic!("unexpected answer {other:?}"),
            Err(mfa_core::Error::Store(_)) => tally.store_errors += 1,
            Err(_) => tally.refused += 1,
        }
    }
    println!("{}", tally.line());
}

/// Starts both children at once and adds up their tallies.
fn race(backend: &str, extra: &[(&str, String)], runs: [(Vec<ChallengeId>, String); 2]) -> Tally {
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = runs
        .iter()
        .map(|(challenges, code)| {
            let ids: Vec<&str> = challenges.iter().map(ChallengeId::as_str).collect();
            let mut cmd = Command::new(&exe);
            cmd.args([
                "race_child_process_entry",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("MFA_RACE_STORE", backend)
            .env("MFA_RACE_CHALLENGES", ids.join(","))
            .env("MFA_RACE_CODE", code)
            .env("MFA_TEST_NOW", now().unix_millis().to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
            for (k, v) in extra {
                cmd.env(k, v);
            }
            cmd.spawn().unwrap()
        })
        .collect();
    children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            assert!(
                out.status.success(),
                "child failed:\n{stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            Tally::parse(&stdout)
        })
        .fold(Tally::default(), Tally::add)
}

async fn sms_challenge(
    mfa: &mfa_core::Mfa,
    phone: &MemoryDelivery,
    user: &UserId,
) -> (ChallengeId, String) {
    let pending = mfa.challenge(user).await.unwrap();
    let code = phone
        .last_code_to(&number(user))
        .unwrap()
        .expose()
        .to_owned();
    (pending.challenge_id, code)
}

/// The three races against one backend, in sequence.
async fn races(backend: &str, store: Arc<dyn Store>, extra: &[(&str, String)]) {
    let phone = MemoryDelivery::new();
    let mfa = mfa(Arc::clone(&store), &phone, 6);

    // One correct code, 1,000 submissions from two processes: one approval.
    let user = fresh_user("race-correct");
    enroll_sms(&mfa, &phone, &user).await;
    let (id, code) = sms_challenge(&mfa, &phone, &user).await;
    let t = race(
        backend,
        extra,
        [(vec![id.clone()], code.clone()), (vec![id.clone()], code)],
    );
    assert_eq!(t.approved, 1, "{t:?}");
    assert_eq!(
        t.used,
        2 * PER_PROCESS - 1,
        "every other submission sees it used: {t:?}"
    );
    assert_eq!(t.store_errors, 0, "{t:?}");
    assert_eq!(
        store.challenge(&id).await.unwrap().unwrap().status,
        ChallengeStatus::Approved
    );

    // A wrong code, 1,000 submissions: exactly the cap counted, then locked.
    let user = fresh_user("race-wrong");
    enroll_sms(&mfa, &phone, &user).await;
    let (id, code) = sms_challenge(&mfa, &phone, &user).await;
    let wrong = if code == "000000" {
        "000001".to_owned()
    } else {
        "000000".to_owned()
    };
    let t = race(
        backend,
        extra,
        [(vec![id.clone()], wrong.clone()), (vec![id.clone()], wrong)],
    );
    let after = store.challenge(&id).await.unwrap().unwrap();
    assert_eq!(after.attempts, mfa.policy().max_attempts, "{t:?}");
    assert_eq!(after.status, ChallengeStatus::Locked);
    assert_eq!(
        t.rejected as u32,
        mfa.policy().max_attempts - 1,
        "one 'attempts left' answer per counted attempt: {t:?}"
    );
    assert!(t.locked >= 1, "{t:?}");
    assert_eq!(t.approved, 0);
    assert_eq!(t.store_errors, 0, "{t:?}");
    assert_eq!(
        mfa.verify(&id, &code).await.unwrap(),
        Verification::Locked,
        "the right code no longer helps"
    );

    // One TOTP code on 1,000 sign-in challenges, 500 per process: accepted once.
    let user = fresh_user("race-totp");
    let pending = mfa
        .begin_enrollment(&user, Method::AuthenticatorApp)
        .await
        .unwrap();
    assert_eq!(
        mfa.verify(&pending.challenge_id, "000001").await.unwrap(),
        Verification::Approved
    );
    let app = mfa.complete(&pending.challenge_id).await.unwrap();
    let mut sets = [Vec::new(), Vec::new()];
    for i in 0..2 * PER_PROCESS {
        sets[i % 2].push(mfa.challenge(&user).await.unwrap().challenge_id);
    }
    let [a, b] = sets;
    let t = race(
        backend,
        extra,
        [(a, "000100".to_owned()), (b, "000100".to_owned())],
    );
    assert_eq!(t.approved, 1, "{t:?}");
    // Each other submission is a replay (a wrong attempt), or refused once the user's
    // consecutive failures lock them out.
    assert_eq!(t.rejected + t.refused, 2 * PER_PROCESS - 1, "{t:?}");
    assert_eq!(t.store_errors, 0, "{t:?}");
    assert_eq!(store.app_step(&user, &app.id).await.unwrap(), Some(100));
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: run scripts/test.sh"]
async fn two_processes_race_on_one_postgres() {
    races("postgres", connect("postgres").await, &[]).await;
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Redis: run scripts/test.sh"]
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
