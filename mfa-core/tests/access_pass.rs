//! Temporary Access Passes through the `Mfa` driver: issued by an administrator,
//! signing in once in place of the second factor, serving as proof to add a method,
//! listed, revoked, used up, expired, bound to their user, bounded, and raced.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use mfa_core::record::{decode, encode};
use mfa_core::{
    AccessPassOptions, AccessPassSignIn, AccessPassState, Error, Event, InputError,
    IssuedAccessPass, Method, PhoneNumber, Policy, PolicyError, Refusal, Status, Store, UserId,
};
use support::{World, enroll_by_sms, sms_to, world, world_with};

fn user(name: &str) -> UserId {
    UserId::username(name).unwrap()
}

fn number(n: &str) -> PhoneNumber {
    PhoneNumber::from_parts(47, n).unwrap()
}

fn sms(n: &str) -> Method {
    sms_to(number(n))
}

/// Enrolls an SMS method; returns nothing (the phone is then "lost").
async fn enroll(w: &World, who: &UserId, n: &str) {
    enroll_by_sms(w, who, &number(n)).await;
}

/// An administrator issues a pass for `who`.
async fn issue(w: &World, who: &UserId, options: AccessPassOptions) -> IssuedAccessPass {
    w.mfa.issue_access_pass(who, options).await.unwrap()
}

/// `who` signs in with `pass`: `None` when it is refused.
async fn sign_in(w: &World, who: &UserId, pass: &str) -> Option<AccessPassSignIn> {
    w.mfa.sign_in_with_access_pass(who, pass).await.unwrap()
}

#[tokio::test]
async fn a_pass_signs_in_once_and_its_proof_adds_a_new_phone() {
    let w = world();
    let kari = user("kari@example.no");
    enroll(&w, &kari, "41234567").await;

    // The phone is lost: an administrator issues a pass.
    let issued = issue(&w, &kari, AccessPassOptions::once()).await;
    assert_eq!(issued.info.uses_left, 1);
    assert_eq!(issued.info.state, AccessPassState::Usable);
    assert_eq!(
        issued.info.expires_at,
        w.mfa.now() + Duration::from_secs(3600)
    );
    let listed = w.mfa.access_passes(&kari).await.unwrap();
    assert_eq!(listed, vec![issued.info.clone()]);

    // Typed back by the user, with spaces and in lower case.
    let typed = issued.pass.expose().to_lowercase().replace('-', " ");
    let signed_in = sign_in(&w, &kari, &typed).await.expect("the pass signs in");
    assert_eq!(signed_in.uses_left, 0);
    assert_eq!(signed_in.pass_id, issued.info.id);

    // Its proof sets up the new phone.
    let pending = w
        .mfa
        .add_method(&kari, sms("49876543"), &signed_in.proof)
        .await
        .unwrap();
    let code = w.sms.last_code_to(&number("49876543")).unwrap();
    assert!(
        w.mfa
            .verify(&kari, &pending.challenge_id, code.expose())
            .await
            .unwrap()
            .is_approved()
    );
    w.mfa.complete(&kari, &pending.challenge_id).await.unwrap();
    let Status::Enrolled { methods, .. } = w.mfa.status(&kari).await.unwrap() else {
        panic!("enrolled");
    };
    assert_eq!(methods, 2);

    // Used up: listed as such, and refused.
    assert_eq!(
        w.mfa.access_passes(&kari).await.unwrap()[0].state,
        AccessPassState::UsedUp
    );
    assert!(sign_in(&w, &kari, &issued.pass.expose()).await.is_none());

    // Events record issue and use, and nothing shows the pass.
    let events = w.events.events();
    assert!(events.iter().any(|e| matches!(
        e,
        Event::AccessPassIssued { pass_id, uses: 1, .. } if *pass_id == issued.info.id
    )));
    assert!(events.iter().any(|e| matches!(
        e,
        Event::AccessPassUsed { pass_id, uses_left: 0, .. } if *pass_id == issued.info.id
    )));
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Refused {
            reason: Refusal::AccessPassNotUsable,
            ..
        }
    )));
    let shown = format!("{events:?} {issued:?} {signed_in:?} {listed:?}");
    let pass = issued.pass.expose().replace('-', "");
    for group in issued.pass.expose().split('-') {
        assert!(!shown.contains(group), "{group} in {shown}");
    }
    assert!(!shown.contains(&pass));
}

#[tokio::test]
async fn a_pass_for_a_user_without_methods_onboards_them() {
    let w = world();
    let ola = user("ola@example.no");
    let issued = issue(&w, &ola, AccessPassOptions::once()).await;
    let signed_in = sign_in(&w, &ola, &issued.pass.expose()).await.unwrap();
    w.mfa
        .add_method(&ola, sms("41234567"), &signed_in.proof)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_several_use_pass_signs_in_as_often_as_issued() {
    let w = world();
    let kari = user("kari@example.no");
    let issued = issue(&w, &kari, AccessPassOptions::uses(3)).await;
    for left in [2, 1, 0] {
        let s = sign_in(&w, &kari, &issued.pass.expose()).await.unwrap();
        assert_eq!(s.uses_left, left);
    }
    assert!(sign_in(&w, &kari, &issued.pass.expose()).await.is_none());
}

#[tokio::test]
async fn an_expired_pass_is_refused() {
    let w = world();
    let kari = user("kari@example.no");
    let issued = issue(
        &w,
        &kari,
        AccessPassOptions::uses(5).lifetime(Duration::from_secs(2 * 3600)),
    )
    .await;
    w.clock.advance(Duration::from_secs(2 * 3600 - 1));
    assert!(sign_in(&w, &kari, &issued.pass.expose()).await.is_some());
    w.clock.advance(Duration::from_secs(1));
    assert!(sign_in(&w, &kari, &issued.pass.expose()).await.is_none());
    assert_eq!(
        w.mfa.access_passes(&kari).await.unwrap()[0].state,
        AccessPassState::Expired
    );
}

#[tokio::test]
async fn a_revoked_pass_is_refused_and_its_proof_dies() {
    let w = world();
    let kari = user("kari@example.no");
    enroll(&w, &kari, "41234567").await;
    let issued = issue(&w, &kari, AccessPassOptions::uses(2)).await;
    let signed_in = sign_in(&w, &kari, &issued.pass.expose()).await.unwrap();
    w.mfa
        .revoke_access_pass(&kari, &issued.info.id)
        .await
        .unwrap();
    assert!(sign_in(&w, &kari, &issued.pass.expose()).await.is_none());
    assert_eq!(
        w.mfa.access_passes(&kari).await.unwrap()[0].state,
        AccessPassState::Revoked
    );
    let err = w
        .mfa
        .add_method(&kari, sms("49876543"), &signed_in.proof)
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        Error::Policy(PolicyError::ReauthenticationRequired)
    ));
    assert!(w.events.events().iter().any(|e| matches!(
        e,
        Event::AccessPassRevoked { pass_id, .. } if *pass_id == issued.info.id
    )));
    // An unknown id is a typed error.
    let other = issue(&w, &user("ola@example.no"), AccessPassOptions::once()).await;
    assert!(matches!(
        w.mfa.revoke_access_pass(&kari, &other.info.id).await,
        Err(Error::NotFound(mfa_core::Missing::AccessPass))
    ));
}

#[tokio::test]
async fn a_pass_for_one_user_is_refused_for_another_and_counts_as_a_failure() {
    let w = world();
    let kari = user("kari@example.no");
    let ola = user("ola@example.no");
    let karis = issue(&w, &kari, AccessPassOptions::once()).await;
    issue(&w, &ola, AccessPassOptions::once()).await;
    assert!(sign_in(&w, &ola, &karis.pass.expose()).await.is_none());
    assert!(w.events.events().iter().any(|e| matches!(
        e,
        Event::Refused { user, reason: Refusal::WrongAccessPass, .. } if *user == ola
    )));
    let record = w.store.load(&ola).await.unwrap().unwrap().record;
    assert_eq!(record.failures.count, 1);
    // Kari's pass still works for Kari.
    assert!(sign_in(&w, &kari, &karis.pass.expose()).await.is_some());
}

#[tokio::test]
async fn wrong_passes_run_into_the_lockout_like_wrong_codes() {
    let w = world();
    let kari = user("kari@example.no");
    let issued = issue(&w, &kari, AccessPassOptions::once()).await;
    let guess = mfa_core::AccessPass::generate(&mfa_core::OsRandomness).expose();
    for _ in 0..5 {
        assert!(sign_in(&w, &kari, &guess).await.is_none());
    }
    let err = w
        .mfa
        .sign_in_with_access_pass(&kari, &issued.pass.expose())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Policy(PolicyError::UserLocked { .. })));
    w.clock.advance(Duration::from_secs(30));
    assert!(sign_in(&w, &kari, &issued.pass.expose()).await.is_some());
    assert!(matches!(
        w.mfa.sign_in_with_access_pass(&kari, "not a pass").await,
        Err(Error::Input(InputError::InvalidAccessPass))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_uses_of_a_one_use_pass_give_one_sign_in() {
    for round in 0..5 {
        let w = world();
        let kari = user(&format!("kari{round}@example.no"));
        let issued = issue(&w, &kari, AccessPassOptions::once()).await;
        let pass = issued.pass.expose();
        let tasks: Vec<_> = (0..48)
            .map(|_| {
                let (mfa, kari, pass) = (Arc::clone(&w.mfa), kari.clone(), pass.clone());
                tokio::spawn(async move { mfa.sign_in_with_access_pass(&kari, &pass).await })
            })
            .collect();
        let mut signed_in = 0;
        for t in tasks {
            if t.await.unwrap().unwrap().is_some() {
                signed_in += 1;
            }
        }
        assert_eq!(signed_in, 1, "round {round}");
        let used = w
            .events
            .events()
            .iter()
            .filter(|e| matches!(e, Event::AccessPassUsed { .. }))
            .count();
        assert_eq!(used, 1);
        let record = w.store.load(&kari).await.unwrap().unwrap().record;
        assert_eq!(record.proofs.len(), 1);
        // Refusals of a matching pass are not failures.
        assert_eq!(record.failures.count, 0);
    }
}

#[tokio::test]
async fn lifetimes_uses_and_counts_are_bounded_by_the_policy() {
    let w = world();
    let kari = user("kari@example.no");
    for options in [
        AccessPassOptions::once().lifetime(Duration::from_secs(8 * 3600 + 1)),
        AccessPassOptions::once().lifetime(Duration::ZERO),
        AccessPassOptions::uses(0),
        AccessPassOptions::uses(11),
    ] {
        assert!(
            matches!(
                w.mfa.issue_access_pass(&kari, options).await,
                Err(Error::Input(InputError::InvalidSetting(_)))
            ),
            "{options:?}"
        );
    }
    issue(
        &w,
        &kari,
        AccessPassOptions::uses(10).lifetime(Duration::from_secs(8 * 3600)),
    )
    .await;
    // One usable pass at a time by default, as in Entra.
    assert!(matches!(
        w.mfa
            .issue_access_pass(&kari, AccessPassOptions::once())
            .await,
        Err(Error::Policy(PolicyError::TooManyAccessPasses))
    ));
    // Issuing and revoking without end keeps the record bounded.
    for _ in 0..40 {
        let id = w
            .mfa
            .access_passes(&kari)
            .await
            .unwrap()
            .last()
            .unwrap()
            .id
            .clone();
        w.mfa.revoke_access_pass(&kari, &id).await.unwrap();
        issue(&w, &kari, AccessPassOptions::once()).await;
    }
    let passes = w.mfa.access_passes(&kari).await.unwrap();
    assert!(passes.len() <= mfa_core::access_pass::MAX_ACCESS_PASSES);
    assert_eq!(
        passes
            .iter()
            .filter(|p| p.state == AccessPassState::Usable)
            .count(),
        1
    );
}

#[tokio::test]
async fn a_policy_may_allow_several_passes_at_once() {
    let mut policy = Policy::default();
    policy.access_pass.max_live = 3;
    let w = world_with(policy);
    let kari = user("kari@example.no");
    let passes: Vec<_> = issue_several(&w, &kari, 3).await;
    for p in &passes {
        assert!(sign_in(&w, &kari, &p.pass.expose()).await.is_some());
    }
}

async fn issue_several(w: &World, who: &UserId, n: usize) -> Vec<mfa_core::IssuedAccessPass> {
    let mut v = Vec::new();
    for _ in 0..n {
        v.push(issue(w, who, AccessPassOptions::once()).await);
    }
    v
}

#[tokio::test]
async fn dead_passes_leave_the_record_after_retention_and_passes_survive_the_codec() {
    let w = world();
    let kari = user("kari@example.no");
    let issued = issue(&w, &kari, AccessPassOptions::uses(2)).await;
    sign_in(&w, &kari, &issued.pass.expose()).await.unwrap();
    let record = w.store.load(&kari).await.unwrap().unwrap().record;
    let back = decode(&encode(&record)).unwrap();
    assert_eq!(back, record);
    assert_eq!(back.access_passes[0].uses_left, 1);
    // A record holding a live pass is kept.
    assert_eq!(record.expires_at(), None);

    w.clock
        .advance(Duration::from_secs(3600) + mfa_core::record::RETENTION);
    assert!(w.mfa.access_passes(&kari).await.unwrap().is_empty());
}

#[test]
fn records_written_before_passes_existed_still_decode() {
    let record = mfa_core::UserRecord::default();
    let mut bytes = encode(&record);
    // The pass list, empty, is the last two bytes; older records end before it.
    assert_eq!(bytes.split_off(bytes.len() - 2), vec![0, 0]);
    assert_eq!(decode(&bytes).unwrap(), record);
}

/// Adds an SMS method to `n` with `proof`: sent, typed, completed.
async fn add_sms(
    w: &World,
    who: &UserId,
    n: &str,
    proof: &mfa_core::Proof,
) -> mfa_core::Completion {
    let pending = w.mfa.add_method(who, sms(n), proof).await.unwrap();
    let code = w.sms.last_code_to(&number(n)).unwrap();
    assert!(
        w.mfa
            .verify(who, &pending.challenge_id, code.expose())
            .await
            .unwrap()
            .is_approved()
    );
    w.mfa.complete(who, &pending.challenge_id).await.unwrap()
}

#[tokio::test]
async fn the_first_method_set_up_after_a_pass_sign_in_makes_recovery_codes() {
    let w = world();
    let kari = user("kari@example.no");
    enroll(&w, &kari, "41234567").await;

    // Everything is lost: an administrator resets Kari and issues a pass.
    w.mfa.reset_user(&kari).await.unwrap();
    let issued = issue(&w, &kari, AccessPassOptions::once()).await;
    let signed_in = sign_in(&w, &kari, &issued.pass.expose()).await.unwrap();

    // Signed in with the pass, Kari sets up a new phone: her first active method.
    let done = add_sms(&w, &kari, "49876543", &signed_in.proof).await;

    // As after a first enrollment, she now holds recovery codes, shown this once.
    let record = w.store.load(&kari).await.unwrap().unwrap().record;
    assert_eq!(
        record.recovery_codes.len(),
        Policy::default().recovery_codes,
        "the first active method makes recovery codes, whatever the proof"
    );
    assert_eq!(done.recovery_codes.len(), Policy::default().recovery_codes);
    assert!(!format!("{done:?}").contains(&done.recovery_codes[0].expose()));
    let back = w
        .mfa
        .verify_recovery_code(&kari, &done.recovery_codes[0].expose())
        .await
        .unwrap()
        .expect("a code the completion made signs in");
    assert_eq!(back.remaining, Policy::default().recovery_codes - 1);

    // A second method makes none, and leaves hers standing.
    let second = add_sms(&w, &kari, "47654321", &back.proof).await;
    assert!(second.recovery_codes.is_empty());
    assert!(
        w.mfa
            .verify_recovery_code(&kari, &done.recovery_codes[1].expose())
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn the_first_enrollment_makes_recovery_codes_in_its_commit() {
    let w = world();
    let ola = user("ola@example.no");
    let done = enroll_by_sms(&w, &ola, &number("41234567")).await;
    assert_eq!(done.recovery_codes.len(), Policy::default().recovery_codes);
    assert!(w.events.events().iter().any(|e| matches!(
        e,
        Event::RecoveryCodesRegenerated { user } if *user == ola
    )));
    assert!(
        w.mfa
            .verify_recovery_code(&ola, &done.recovery_codes[0].expose())
            .await
            .unwrap()
            .is_some()
    );
}
