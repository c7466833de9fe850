//! Races made certain: every request reads the challenge before any of them writes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;

use mfa_core::{
    ManualClock, MemoryDelivery, MemoryEvents, Method, Mfa, PhoneMode, PhoneNumber, Policy, Store,
    Timestamp, UserId, Verification,
};
use support::FlakyStore;

const TASKS: usize = 32;

async fn failures(store: &FlakyStore, user: &UserId) -> u32 {
    let loaded = store.load(user).await.unwrap().unwrap();
    loaded.record.failures.count
}

async fn pending_sms(
    stalled_reads: usize,
) -> (
    Arc<Mfa>,
    FlakyStore,
    MemoryDelivery,
    MemoryEvents,
    UserId,
    mfa_core::ChallengeId,
) {
    let clock = ManualClock::new(Timestamp::from_unix_secs(1_767_225_600));
    let phone = MemoryDelivery::with_clock(Arc::new(clock.clone()));
    let events = MemoryEvents::new();
    let store = FlakyStore::stalling_reads(stalled_reads);
    let mut policy = Policy::default();
    policy.lockout.free_failures = 100;
    let mfa = Mfa::builder()
        .store(store.clone())
        .clock(clock)
        .sms(phone.clone())
        .events(events.clone())
        .policy(policy)
        .build()
        .unwrap();
    let user = UserId::new("kari").unwrap();
    let number = PhoneNumber::from_parts(47, "41234567").unwrap();
    let method = Method::AuthenticationPhone {
        number,
        mode: PhoneMode::Sms,
    };
    let pending = mfa.begin_enrollment(&user, method).await.unwrap();
    (
        Arc::new(mfa),
        store,
        phone,
        events,
        user,
        pending.challenge_id,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_wrong_codes_on_one_snapshot_count_each_attempt_once() {
    let (mfa, store, phone, events, user, id) = pending_sms(TASKS).await;
    let right = phone.sent()[0].request.code().unwrap().clone();
    let wrong = if right.expose() == "000000" {
        "111111"
    } else {
        "000000"
    };
    store.arm();
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let (mfa, id, user) = (mfa.clone(), id.clone(), user.clone());
            tokio::spawn(async move { mfa.verify(&user, &id, wrong).await.unwrap() })
        })
        .collect();
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    let rejected = answers
        .iter()
        .filter(|v| matches!(v, Verification::Rejected { .. }))
        .count();
    let checks_failed = events
        .events()
        .iter()
        .filter(|e| matches!(e, mfa_core::Event::CheckFailed { .. }))
        .count();
    assert_eq!(checks_failed, 5, "exactly the cap of attempts counted");
    assert_eq!(rejected, 4, "{answers:?}");
    assert_eq!(failures(&store, &user).await, 5);
}

/// An app that accepts "123456" at step 100 only, whatever the secret.
#[derive(Debug)]
struct OneCodeApp;

impl mfa_core::AppVerifier for OneCodeApp {
    fn provision(
        &self,
        _issuer: &str,
        _account: &str,
        _rng: &dyn mfa_core::Randomness,
    ) -> Result<mfa_core::AppProvisioning, mfa_core::InputError> {
        Ok(mfa_core::AppProvisioning {
            credential: mfa_core::AppCredential {
                secret: mfa_core::SecretBytes::new(vec![1; 20]),
                parameters: "test".to_owned(),
            },
            uri: "otpauth://totp/test".to_owned(),
            manual_entry_key: "AEAQ".to_owned(),
        })
    }

    fn verify(
        &self,
        _credential: &mfa_core::AppCredential,
        code: &mfa_core::OneTimeCode,
        _now: Timestamp,
        after_step: Option<u64>,
    ) -> Result<Option<mfa_core::AppMatch>, mfa_core::InputError> {
        let fresh = after_step.is_none_or(|s| s < 100);
        Ok(
            (code.expose() == "123456" && fresh).then_some(mfa_core::AppMatch {
                step: 100,
                drift: 0,
            }),
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_app_code_submitted_at_once_approves_once_and_locks_nothing() {
    let clock = ManualClock::new(Timestamp::from_unix_secs(1_767_225_600));
    // Every commit waits, so all requests decide on the same record before any lands.
    let store =
        FlakyStore::stalling_reads(TASKS).slow_commits(std::time::Duration::from_millis(100));
    let mfa = Arc::new(
        Mfa::builder()
            .store(store.clone())
            .clock(clock)
            .app(OneCodeApp)
            .build()
            .unwrap(),
    );
    let user = UserId::new("kari").unwrap();
    let pending = mfa
        .begin_enrollment(&user, Method::AuthenticatorApp)
        .await
        .unwrap();
    store.arm();
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let (mfa, id, user) = (mfa.clone(), pending.challenge_id.clone(), user.clone());
            tokio::spawn(async move { mfa.verify(&user, &id, "123456").await.unwrap() })
        })
        .collect();
    let mut approved = 0;
    for t in tasks {
        match t.await.unwrap() {
            Verification::Approved(_) => approved += 1,
            Verification::Rejected { .. } | Verification::AlreadyUsed => {}
            other => panic!("a double submit must not lock the challenge: {other:?}"),
        }
    }
    assert_eq!(approved, 1);
    assert_eq!(failures(&store, &user).await, 0);
    // The approved challenge takes no more codes.
    assert!(matches!(
        mfa.verify(&user, &pending.challenge_id, "123456")
            .await
            .unwrap(),
        Verification::AlreadyUsed
    ));
}
