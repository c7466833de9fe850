//! The v1 holes, tried as an attacker would, through the public API. Each of these
//! failed on the v1 driver (see the issue note); each must keep failing to get in.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use mfa_core::{
    AppCredential, AppMatch, AppProvisioning, AppVerifier, CallOutcome, ChallengeStatus, Error,
    Event, InputError, ManualClock, MemoryDelivery, MemoryEvents, MemoryStore, Method,
    MethodStatus, Mfa, OneTimeCode, PhoneMode, PhoneNumber, Policy, PolicyError, Purpose,
    Randomness, Refusal, SecretBytes, Status, Store, Timestamp, UserId, Verification,
};
use support::FlakyStore;

/// An app that accepts "123456" for a step after the last, and nothing else; it counts
/// the codes it is asked to check.
#[derive(Debug, Default, Clone)]
struct OneCodeApp {
    checks: Arc<std::sync::atomic::AtomicUsize>,
}

impl AppVerifier for OneCodeApp {
    fn provision(
        &self,
        _issuer: &str,
        _account: &str,
        _rng: &dyn Randomness,
    ) -> Result<AppProvisioning, InputError> {
        Ok(AppProvisioning {
            credential: AppCredential {
                secret: SecretBytes::new(vec![7; 20]),
                parameters: "test".to_owned(),
            },
            uri: "otpauth://totp/test".to_owned(),
            manual_entry_key: "AEAQ".to_owned(),
        })
    }

    fn verify(
        &self,
        _credential: &AppCredential,
        code: &OneTimeCode,
        now: Timestamp,
        after_step: Option<u64>,
    ) -> Result<Option<AppMatch>, InputError> {
        self.checks
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if code.len() != 6 {
            return Err(InputError::CodeLength { expected: 6 });
        }
        let step = now.unix_secs() / 30;
        let fresh = after_step.is_none_or(|s| s < step);
        Ok((code.expose() == "123456" && fresh).then_some(AppMatch { step, drift: 0 }))
    }
}

struct World {
    mfa: Arc<Mfa>,
    clock: ManualClock,
    sms: MemoryDelivery,
    voice: MemoryDelivery,
    events: MemoryEvents,
    app: OneCodeApp,
}

fn world_over(store: impl Store + 'static) -> World {
    let app = OneCodeApp::default();
    let clock = ManualClock::new(Timestamp::from_unix_secs(1_767_225_600));
    let sms = MemoryDelivery::with_clock(Arc::new(clock.clone()));
    let voice = MemoryDelivery::with_clock(Arc::new(clock.clone()));
    let events = MemoryEvents::new();
    let mfa = Mfa::builder()
        .store(store)
        .clock(clock.clone())
        .sms(sms.clone())
        .voice(voice.clone())
        .app(app.clone())
        .events(events.clone())
        .build()
        .unwrap();
    World {
        mfa: Arc::new(mfa),
        clock,
        sms,
        voice,
        events,
        app,
    }
}

fn world() -> World {
    world_over(MemoryStore::new())
}

fn kari() -> UserId {
    UserId::username("kari@example.no").unwrap()
}

fn office() -> Method {
    Method::OfficePhone {
        number: PhoneNumber::parse("+47 22 12 34 56").unwrap(),
        extension: None,
    }
}

fn sms(n: &str) -> Method {
    Method::AuthenticationPhone {
        number: PhoneNumber::parse(n).unwrap(),
        mode: PhoneMode::Sms,
    }
}

/// Enrolls the office phone (press `#` answered at once) and returns the proof.
async fn enroll_office(w: &World, user: &UserId) -> mfa_core::Proof {
    w.voice.answer_calls_with(Some(CallOutcome::Confirmed));
    let pending = w.mfa.begin_enrollment(user, office()).await.unwrap();
    let done = w.mfa.complete(user, &pending.challenge_id).await.unwrap();
    w.voice.answer_calls_with(None);
    done.proof
}

#[tokio::test]
async fn a_fraud_report_suspends_instead_of_opening_enrollment() {
    let w = world();
    let user = kari();
    let early = enroll_office(&w, &user).await;
    // The attacker has the password and starts a sign-in; the real user presses 0#.
    let call = w.mfa.challenge(&user).await.unwrap();
    let answer = w
        .mfa
        .report_call(&user, &call.challenge_id, CallOutcome::FraudReported)
        .await
        .unwrap();
    assert_eq!(answer, Verification::Denied);
    assert!(matches!(
        w.mfa.status(&user).await.unwrap(),
        Status::Suspended { .. }
    ));
    // "Set it up now" with the attacker's phone: refused.
    assert!(matches!(
        w.mfa.begin_enrollment(&user, sms("+4741234567")).await,
        Err(Error::Policy(PolicyError::Suspended))
    ));
    // A proof from before the report is dead too.
    assert!(matches!(
        w.mfa.regenerate_recovery_codes(&user, &early).await,
        Err(Error::Policy(PolicyError::Suspended))
    ));
    assert!(
        w.mfa
            .methods(&user)
            .await
            .unwrap()
            .iter()
            .all(|m| m.status == MethodStatus::Blocked)
    );
    let reported = w.events.events().into_iter().find_map(|e| match e {
        Event::FraudReported {
            challenge_id,
            purpose,
            at,
            ..
        } => Some((challenge_id, purpose, at)),
        _ => None,
    });
    assert_eq!(
        reported,
        Some((call.challenge_id.clone(), Purpose::SignIn, w.mfa.now())),
        "the event says which call, what for, and when"
    );
    // An administrator's unblock restores the user and the method.
    w.mfa.unblock(&user).await.unwrap();
    assert!(matches!(
        w.mfa.status(&user).await.unwrap(),
        Status::Enrolled { methods: 1, .. }
    ));
}

#[tokio::test]
async fn a_recovery_code_sign_in_lifts_the_suspension() {
    let w = world();
    let user = kari();
    let proof = enroll_office(&w, &user).await;
    let codes = w
        .mfa
        .regenerate_recovery_codes(&user, &proof)
        .await
        .unwrap();
    let call = w.mfa.challenge(&user).await.unwrap();
    w.mfa
        .report_call(&user, &call.challenge_id, CallOutcome::FraudReported)
        .await
        .unwrap();
    let signin = w
        .mfa
        .verify_recovery_code(&user, &codes[0].expose())
        .await
        .unwrap()
        .unwrap();
    let pending = w
        .mfa
        .add_method(&user, sms("+4741234567"), &signin.proof)
        .await
        .unwrap();
    assert_eq!(pending.purpose, Purpose::Enrollment);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_guesses_over_many_app_challenges_never_pass_the_lockout() {
    const SIGN_INS: usize = 200;
    // Every load waits until all guesses have loaded: each decides on the same record.
    let store = FlakyStore::stalling_reads(SIGN_INS);
    let w = world_over(store.clone());
    let user = kari();
    let pending = w
        .mfa
        .begin_enrollment(&user, Method::AuthenticatorApp)
        .await
        .unwrap();
    assert!(
        w.mfa
            .verify(&user, &pending.challenge_id, "123456")
            .await
            .unwrap()
            .is_approved()
    );
    w.mfa.complete(&user, &pending.challenge_id).await.unwrap();
    let mut ids = Vec::new();
    for _ in 0..SIGN_INS {
        ids.push(w.mfa.challenge(&user).await.unwrap().challenge_id);
    }
    store.arm();
    let tasks: Vec<_> = ids
        .into_iter()
        .map(|id| {
            let (mfa, user) = (w.mfa.clone(), user.clone());
            tokio::spawn(async move { mfa.verify(&user, &id, "000000").await })
        })
        .collect();
    let mut rejected = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(Verification::Rejected { .. }) => rejected += 1,
            Ok(Verification::Canceled)
            | Err(Error::Policy(PolicyError::UserLocked { .. }))
            | Err(Error::NotFound(_)) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    let free = Policy::default().lockout.free_failures;
    assert_eq!(
        rejected, free as usize,
        "only the free failures are guesses"
    );
    let record = store.inner().load(&user).await.unwrap().unwrap().record;
    assert_eq!(record.failures.count, free);
    assert!(
        record.challenges.len() <= mfa_core::record::MAX_CHALLENGES,
        "200 sign-ins leave a bounded record: {}",
        record.challenges.len()
    );
    assert!(w.events.events().iter().any(|e| matches!(
        e,
        Event::Refused {
            reason: Refusal::LockedOut,
            ..
        }
    )));
}

#[tokio::test]
async fn recovery_codes_cannot_be_made_before_the_first_factor() {
    let w = world();
    let user = kari();
    // v1 made them with no proof at all; there is no such call now, and a guessed
    // token is refused.
    let guessed = mfa_core::Proof::parse(&"ab".repeat(16)).unwrap();
    assert!(matches!(
        w.mfa.regenerate_recovery_codes(&user, &guessed).await,
        Err(Error::Policy(PolicyError::ReauthenticationRequired))
    ));
    let proof = enroll_office(&w, &user).await;
    assert_eq!(
        w.mfa
            .regenerate_recovery_codes(&user, &proof)
            .await
            .unwrap()
            .len(),
        10
    );
}

#[tokio::test]
async fn denying_one_call_kills_every_other_open_challenge() {
    let w = world();
    let user = kari();
    enroll_office(&w, &user).await;
    let first = w.mfa.challenge(&user).await.unwrap();
    let second = w.mfa.challenge(&user).await.unwrap();
    w.mfa
        .report_call(&user, &first.challenge_id, CallOutcome::FraudReported)
        .await
        .unwrap();
    assert_ne!(
        w.mfa
            .report_call(&user, &second.challenge_id, CallOutcome::Confirmed)
            .await
            .unwrap(),
        Verification::Waiting
    );
    assert!(
        !w.mfa
            .poll(&user, &second.challenge_id)
            .await
            .unwrap()
            .is_approved()
    );
    assert_eq!(
        w.mfa
            .challenge_status(&user, &second.challenge_id)
            .await
            .unwrap(),
        ChallengeStatus::Canceled
    );
}

#[tokio::test]
async fn a_proof_from_before_a_reset_or_a_removal_is_dead() {
    let w = world();
    let user = kari();
    let before_reset = enroll_office(&w, &user).await;
    w.mfa.reset_user(&user).await.unwrap();
    let after = enroll_office(&w, &user).await;
    assert!(matches!(
        w.mfa
            .add_method(&user, sms("+4741234567"), &before_reset)
            .await,
        Err(Error::Policy(PolicyError::ReauthenticationRequired))
    ));
    // A proof made from a method dies when that method goes.
    let pending = w
        .mfa
        .add_method(&user, sms("+4741234567"), &after)
        .await
        .unwrap();
    let code = w.sms.sent().last().unwrap().request.code().unwrap().clone();
    w.mfa
        .verify(&user, &pending.challenge_id, code.expose())
        .await
        .unwrap();
    let sms_proof = w.mfa.complete(&user, &pending.challenge_id).await.unwrap();
    w.mfa
        .remove_method(&user, &sms_proof.method.id, &after)
        .await
        .unwrap();
    assert!(matches!(
        w.mfa
            .regenerate_recovery_codes(&user, &sms_proof.proof)
            .await,
        Err(Error::Policy(PolicyError::ReauthenticationRequired))
    ));
}

#[tokio::test]
async fn a_refused_enrollment_stores_nothing() {
    let w = world();
    let user = kari();
    // Premium rate and shared-cost numbers are refused before anything is stored.
    for refused in ["+47 820 12 345", "+47 810 00 000", "+44 300 123 4567"] {
        let number = PhoneNumber::parse(refused).unwrap();
        let method = Method::OfficePhone {
            number,
            extension: None,
        };
        assert!(matches!(
            w.mfa.begin_enrollment(&user, method).await,
            Err(Error::Policy(_))
        ));
    }
    assert!(w.mfa.methods(&user).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_challenge_answers_only_its_own_user_and_a_sign_in_is_redeemed_once() {
    let w = world();
    let (kari, ola) = (kari(), UserId::username("ola@example.no").unwrap());
    enroll_office(&w, &kari).await;
    let call = w.mfa.challenge(&kari).await.unwrap();
    // Ola's session cannot use Kari's challenge.
    assert!(matches!(
        w.mfa.poll(&ola, &call.challenge_id).await,
        Err(Error::NotFound(_))
    ));
    w.mfa
        .report_call(&kari, &call.challenge_id, CallOutcome::Confirmed)
        .await
        .unwrap();
    let first = w.mfa.poll(&kari, &call.challenge_id).await.unwrap();
    assert!(first.proof().is_some(), "{first:?}");
    assert_eq!(
        w.mfa.poll(&kari, &call.challenge_id).await.unwrap(),
        Verification::AlreadyUsed,
        "a press-# approval is redeemed once"
    );
    // An enrollment's approval is no sign-in: it carries no proof.
    let pending = w
        .mfa
        .begin_enrollment(&ola, sms("+4741234567"))
        .await
        .unwrap();
    let code = w.sms.sent().last().unwrap().request.code().unwrap().clone();
    let enrolled = w
        .mfa
        .verify(&ola, &pending.challenge_id, code.expose())
        .await
        .unwrap();
    let Verification::Approved(approval) = enrolled else {
        panic!("expected an approval");
    };
    assert_eq!(approval.purpose, Purpose::Enrollment);
    assert!(approval.proof.is_none());
}

#[tokio::test]
async fn a_wrong_length_app_code_costs_no_attempt() {
    let w = world();
    let user = kari();
    let pending = w
        .mfa
        .begin_enrollment(&user, Method::AuthenticatorApp)
        .await
        .unwrap();
    assert!(matches!(
        w.mfa.verify(&user, &pending.challenge_id, "1234567").await,
        Err(Error::Input(_))
    ));
    assert_eq!(
        w.mfa
            .verify(&user, &pending.challenge_id, "000000")
            .await
            .unwrap(),
        Verification::Rejected { attempts_left: 4 },
        "the malformed code cost nothing; this wrong one costs the first attempt"
    );
}

#[tokio::test]
async fn a_right_app_code_is_checked_once() {
    use std::sync::atomic::Ordering;
    let w = world();
    let user = kari();
    let pending = w
        .mfa
        .begin_enrollment(&user, Method::AuthenticatorApp)
        .await
        .unwrap();
    w.mfa
        .verify(&user, &pending.challenge_id, "123456")
        .await
        .unwrap();
    w.mfa.complete(&user, &pending.challenge_id).await.unwrap();
    w.clock.advance(Duration::from_secs(30));
    let pending = w.mfa.challenge(&user).await.unwrap();
    let before = w.app.checks.load(Ordering::SeqCst);
    let v = w
        .mfa
        .verify(&user, &pending.challenge_id, "123456")
        .await
        .unwrap();
    assert!(matches!(v, Verification::Approved(_)), "{v:?}");
    assert_eq!(
        w.app.checks.load(Ordering::SeqCst) - before,
        1,
        "each check of a code is a window of HMACs"
    );
}

#[test]
fn short_codes_and_overlong_folded_names_are_refused() {
    let mut policy = Policy::default();
    policy.code_digits = 5;
    assert!(
        policy.validate().is_err(),
        "5 digits is under NIST's 20 bits"
    );
    policy.code_digits = 6;
    policy.validate().unwrap();
    // 'İ' is 2 bytes and lower-cases to 3: 150 of them fit before folding, not after.
    let name = format!("{}@example.no", "İ".repeat(150));
    assert!(name.len() <= 320);
    assert!(UserId::username(&name).is_err());
}

#[tokio::test]
async fn a_durable_store_needs_the_shared_code_key() {
    #[derive(Debug, Clone, Default)]
    struct Durable(MemoryStore);
    #[async_trait::async_trait]
    impl Store for Durable {
        async fn load(
            &self,
            u: &UserId,
        ) -> Result<Option<mfa_core::Versioned>, mfa_core::StoreError> {
            self.0.load(u).await
        }
        async fn commit(
            &self,
            u: &UserId,
            v: Option<u64>,
            r: mfa_core::UserRecord,
        ) -> Result<mfa_core::Commit, mfa_core::StoreError> {
            self.0.commit(u, v, r).await
        }
        async fn hit(
            &self,
            h: &[mfa_core::WindowHit<'_>],
            now: Timestamp,
        ) -> Result<Vec<mfa_core::WindowCount>, mfa_core::StoreError> {
            self.0.hit(h, now).await
        }
        async fn purge(&self, now: Timestamp) -> Result<u64, mfa_core::StoreError> {
            self.0.purge(now).await
        }
    }
    let shared = Durable::default();
    assert!(matches!(
        Mfa::builder().store(shared.clone()).build(),
        Err(Error::Policy(PolicyError::CodeKeyRequired))
    ));
    // Two servers with the same key: a code sent by one is checked by the other.
    let key = || mfa_core::CodeKey::from_bytes([42; 32]);
    let phone = MemoryDelivery::new();
    let one = Mfa::builder()
        .store(shared.clone())
        .code_key(key())
        .sms(phone.clone())
        .build()
        .unwrap();
    let two = Mfa::builder()
        .store(shared)
        .code_key(key())
        .sms(phone.clone())
        .build()
        .unwrap();
    let user = kari();
    let pending = one
        .begin_enrollment(&user, sms("+4741234567"))
        .await
        .unwrap();
    let code = phone.sent()[0].request.code().unwrap().clone();
    assert!(
        two.verify(&user, &pending.challenge_id, code.expose())
            .await
            .unwrap()
            .is_approved()
    );
}

#[tokio::test]
async fn the_memory_store_forgets_abandoned_users() {
    let store = MemoryStore::new();
    let w = world_over(store.clone());
    for i in 0..300 {
        let user = UserId::new(format!("user-{i}")).unwrap();
        let pending = w
            .mfa
            .begin_enrollment(&user, Method::AuthenticatorApp)
            .await
            .unwrap();
        w.mfa.cancel(&user, &pending.challenge_id).await.unwrap();
    }
    w.clock.advance(Duration::from_secs(3600));
    w.mfa.purge().await.unwrap();
    assert_eq!(store.len(), 0, "{store:?}");
    let _ = (&w.sms, &w.voice);
}

#[tokio::test]
async fn the_memory_store_frees_the_dead_as_it_is_used_without_purge() {
    let store = MemoryStore::new();
    let w = world_over(store.clone());
    let abandon = |prefix: &'static str, n: usize| {
        let mfa = &w.mfa;
        async move {
            for i in 0..n {
                let user = UserId::new(format!("{prefix}-{i}")).unwrap();
                let pending = mfa
                    .begin_enrollment(&user, Method::AuthenticatorApp)
                    .await
                    .unwrap();
                mfa.cancel(&user, &pending.challenge_id).await.unwrap();
            }
        }
    };
    abandon("old", 4000).await;
    assert_eq!(store.len(), 4000);
    // An hour on, the old records are dead; new users keep writing.
    w.clock.advance(Duration::from_secs(3600));
    abandon("new", 4000).await;
    // Each shard swept itself on the way: the dead are gone, the new ones kept.
    assert_eq!(store.len(), 4000, "{store:?}");
    let _ = (&w.sms, &w.voice);
}
