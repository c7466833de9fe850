//! The rules the core decides for passkeys whatever the verifier: which passkey
//! signed, that its counter moved forward, user verification by policy, attempts,
//! and that ceremony states stay bounded. The verifier here trusts every answer, so
//! only the core stands between an answer and an approval.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod support;

use std::time::Duration;

use mfa_core::event::Event;
use mfa_core::record::MAX_OPEN_CHALLENGES;
use mfa_core::{
    Ceremony, Error, Method, PasskeyAssertion, PasskeyCredential, PasskeyError, PasskeyUser,
    PasskeyVerifier, Policy, Refusal, Store, UserId, Verification,
};
use support::{World, world_built};

/// Answers are `id,counter,uv,backup` (or `malformed`, `rejected`, `failed`).
#[derive(Debug)]
struct TrustingVerifier;

fn parse(response: &str) -> Result<(Vec<u8>, u32, bool, bool), PasskeyError> {
    match response {
        "malformed" => return Err(PasskeyError::Malformed),
        "rejected" => return Err(PasskeyError::Rejected),
        "failed" => return Err(PasskeyError::Failed),
        _ => {}
    }
    let parts: Vec<&str> = response.split(',').collect();
    Ok((
        parts[0].as_bytes().to_vec(),
        parts[1].parse().unwrap(),
        parts[2] == "1",
        parts[3] == "1",
    ))
}

impl PasskeyVerifier for TrustingVerifier {
    fn start_registration(
        &self,
        user: &PasskeyUser<'_>,
        existing: &[PasskeyCredential],
        _uv: bool,
    ) -> Result<Ceremony, PasskeyError> {
        assert!(!user.handle.iter().all(|b| *b == 0));
        Ok(Ceremony {
            options: format!("register, excluding {}", existing.len()),
            state: b"registration".to_vec(),
        })
    }

    fn finish_registration(
        &self,
        state: &[u8],
        response: &str,
    ) -> Result<PasskeyCredential, PasskeyError> {
        assert_eq!(state, b"registration");
        let (id, counter, uv, backup) = parse(response)?;
        Ok(PasskeyCredential {
            credential_id: id,
            counter,
            backup_eligible: backup,
            backup_state: backup,
            user_verified: uv,
            last_used_at: None,
            data: b"key".to_vec(),
        })
    }

    fn start_authentication(
        &self,
        credentials: &[PasskeyCredential],
        _uv: bool,
    ) -> Result<Ceremony, PasskeyError> {
        Ok(Ceremony {
            options: format!("sign in with one of {}", credentials.len()),
            state: b"authentication".to_vec(),
        })
    }

    fn finish_authentication(
        &self,
        state: &[u8],
        response: &str,
        _credentials: &[PasskeyCredential],
    ) -> Result<PasskeyAssertion, PasskeyError> {
        assert_eq!(state, b"authentication");
        let (id, counter, uv, backup) = parse(response)?;
        Ok(PasskeyAssertion {
            credential_id: id,
            counter,
            backup_eligible: backup,
            backup_state: backup,
            user_verified: uv,
            data: b"key, updated".to_vec(),
        })
    }
}

/// The usual world, with a passkey verifier that trusts every answer.
fn world(policy: Policy) -> World {
    world_built(policy, |b| b.passkeys(TrustingVerifier))
}

fn user() -> UserId {
    UserId::new("carol@contoso.com").unwrap()
}

async fn registered(w: &World, answer: &str) {
    let pending = w
        .mfa
        .begin_enrollment(&user(), Method::Passkey)
        .await
        .unwrap();
    assert_eq!(
        pending.passkey_options.as_deref(),
        Some("register, excluding 0")
    );
    let v = w
        .mfa
        .verify_passkey(&user(), &pending.challenge_id, answer)
        .await
        .unwrap();
    assert!(v.is_approved(), "{v:?}");
    w.mfa
        .complete(&user(), &pending.challenge_id)
        .await
        .unwrap();
}

async fn sign_in(w: &World, answer: &str) -> Verification {
    let pending = w.mfa.challenge(&user()).await.unwrap();
    w.mfa
        .verify_passkey(&user(), &pending.challenge_id, answer)
        .await
        .unwrap()
}

fn refused(w: &World, reason: Refusal) -> usize {
    w.events
        .events()
        .iter()
        .filter(|e| matches!(e, Event::Refused { reason: r, .. } if *r == reason))
        .count()
}

#[tokio::test]
async fn the_core_refuses_a_counter_that_did_not_move_forward() {
    let w = world(Policy::default());
    registered(&w, "key-1,5,1,0").await;
    for stale in ["key-1,5,1,0", "key-1,4,1,0", "key-1,0,1,0"] {
        assert!(
            matches!(sign_in(&w, stale).await, Verification::Rejected { .. }),
            "{stale}"
        );
    }
    assert_eq!(refused(&w, Refusal::PasskeyCounterRegressed), 3);
    assert!(sign_in(&w, "key-1,6,1,0").await.proof().is_some());
    let stored = w.mfa.methods(&user()).await.unwrap()[0]
        .passkey
        .clone()
        .unwrap();
    assert_eq!(stored.counter, 6);
    assert_eq!(stored.data, b"key, updated");

    // An authenticator that keeps no counter: 0 every time, accepted every time.
    let w = world(Policy::default());
    registered(&w, "key-2,0,1,1").await;
    assert!(sign_in(&w, "key-2,0,1,1").await.is_approved());
    assert!(sign_in(&w, "key-2,0,1,0").await.is_approved());
    let stored = w.mfa.methods(&user()).await.unwrap()[0]
        .passkey
        .clone()
        .unwrap();
    assert!(stored.backup_eligible, "eligibility is never taken back");
    assert!(
        !stored.backup_state,
        "the backup state follows the authenticator"
    );
}

#[tokio::test]
async fn only_this_users_passkeys_and_verified_users_sign_in() {
    let w = world(Policy::default());
    registered(&w, "key-1,1,1,0").await;
    assert!(matches!(
        sign_in(&w, "someone-elses-key,9,1,0").await,
        Verification::Rejected { .. }
    ));
    assert!(matches!(
        sign_in(&w, "key-1,2,0,0").await,
        Verification::Rejected { .. }
    ));
    assert_eq!(refused(&w, Refusal::PasskeyRejected), 2);
    // Registering without user verification is refused under the default policy...
    let pending = w
        .mfa
        .add_method_named(
            &user(),
            Method::Passkey,
            "second",
            sign_in(&w, "key-1,3,1,0").await.proof().unwrap(),
        )
        .await
        .unwrap();
    assert!(matches!(
        w.mfa
            .verify_passkey(&user(), &pending.challenge_id, "key-2,1,0,0")
            .await
            .unwrap(),
        Verification::Rejected { .. }
    ));
    // ...and accepted when the policy does not ask it.
    let mut relaxed = Policy::default();
    relaxed.passkey_user_verification = false;
    let w = world(relaxed);
    registered(&w, "key-1,1,0,0").await;
    assert!(sign_in(&w, "key-1,2,0,0").await.is_approved());
}

#[tokio::test]
async fn failures_of_the_answer_and_of_the_verifier_are_told_apart() {
    let w = world(Policy::default());
    registered(&w, "key-1,1,1,0").await;
    let pending = w.mfa.challenge(&user()).await.unwrap();
    let id = &pending.challenge_id;
    // Not an answer at all: an input error, no attempt.
    assert!(matches!(
        w.mfa.verify_passkey(&user(), id, "malformed").await,
        Err(Error::Input(_))
    ));
    // The verifier failing: an error, never an approval, no attempt.
    assert!(matches!(
        w.mfa.verify_passkey(&user(), id, "failed").await,
        Err(Error::Passkey(PasskeyError::Failed))
    ));
    // A rejected answer: an attempt.
    assert_eq!(
        w.mfa.verify_passkey(&user(), id, "rejected").await.unwrap(),
        Verification::Rejected { attempts_left: 4 }
    );
    // A code cannot answer a passkey challenge.
    assert!(matches!(
        w.mfa.verify(&user(), id, "123456").await,
        Err(Error::Transition(_))
    ));
    // Past its lifetime: expired.
    w.clock.advance(Duration::from_secs(301));
    assert_eq!(
        w.mfa
            .verify_passkey(&user(), id, "key-1,2,1,0")
            .await
            .unwrap(),
        Verification::Expired
    );
}

#[tokio::test]
async fn ceremony_states_stay_bounded_and_go_with_their_challenges() {
    let w = world(Policy::default());
    registered(&w, "key-1,1,1,0").await;
    let mut last = None;
    for _ in 0..3 * MAX_OPEN_CHALLENGES {
        last = Some(w.mfa.challenge(&user()).await.unwrap());
    }
    let rec = w.store.load(&user()).await.unwrap().unwrap().record;
    assert!(
        rec.passkey_ceremonies.len() <= MAX_OPEN_CHALLENGES + 1,
        "{} ceremonies",
        rec.passkey_ceremonies.len()
    );
    let last = last.unwrap();
    assert!(
        w.mfa
            .verify_passkey(&user(), &last.challenge_id, "key-1,2,1,0")
            .await
            .unwrap()
            .is_approved()
    );
    let rec = w.store.load(&user()).await.unwrap().unwrap().record;
    assert!(
        rec.passkey_ceremonies
            .iter()
            .all(|c| c.challenge_id != last.challenge_id),
        "the answered ceremony's state is gone"
    );
    // Once every challenge is past its lifetime, no state is left.
    w.clock.advance(Duration::from_secs(301));
    let _ = w.mfa.status(&user()).await.unwrap();
    registered_again_is_refused(&w).await;
    let rec = w.store.load(&user()).await.unwrap().unwrap().record;
    assert!(rec.passkey_ceremonies.len() <= 1);
}

/// A second registration of the same credential id is refused.
async fn registered_again_is_refused(w: &World) {
    let proof = sign_in(w, "key-1,3,1,0").await.proof().cloned().unwrap();
    let pending = w
        .mfa
        .add_method_named(&user(), Method::Passkey, "again", &proof)
        .await
        .unwrap();
    assert_eq!(
        pending.passkey_options.as_deref(),
        Some("register, excluding 1")
    );
    assert!(matches!(
        w.mfa
            .verify_passkey(&user(), &pending.challenge_id, "key-1,1,1,0")
            .await,
        Err(Error::Policy(mfa_core::PolicyError::AlreadyEnrolled))
    ));
}
