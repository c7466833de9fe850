//! Remembered devices: a keyed hash in the record, bounded, bound to the user, ending
//! with its lifetime, and forgotten whenever the user's factors change.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use mfa_core::device::MAX_DEVICES;
use mfa_core::record::{decode, encode};
use mfa_core::{
    CallOutcome, Error, Method, Missing, PhoneMode, PhoneNumber, Policy, PolicyError, Proof, Store,
    UserId,
};
use support::{World, world_with};

/// Devices are remembered for a week here.
fn world() -> World {
    let mut policy = Policy::default();
    policy.remember_device_for = Duration::from_secs(7 * 24 * 3600);
    world_with(policy)
}

fn kari() -> UserId {
    UserId::username("kari@example.no").unwrap()
}

fn number(n: &str) -> PhoneNumber {
    PhoneNumber::parse(n).unwrap()
}

/// Enrolls the office phone (press `#` answered at once) and returns the proof.
async fn enroll(w: &World, user: &UserId) -> Proof {
    w.voice.answer_calls_with(Some(CallOutcome::Confirmed));
    let office = Method::OfficePhone {
        number: number("+47 22 12 34 56"),
        extension: None,
    };
    let pending = w.mfa.begin_enrollment(user, office).await.unwrap();
    w.mfa
        .complete(user, &pending.challenge_id)
        .await
        .unwrap()
        .proof
}

#[tokio::test]
async fn a_remembered_device_is_the_users_own_until_its_lifetime_ends() {
    let w = world();
    let user = kari();
    let proof = enroll(&w, &user).await;
    let token = w.mfa.remember_device(&user, &proof).await.unwrap();
    assert!(!format!("{token:?}").contains(token.as_str()));
    assert!(
        w.mfa
            .device_is_remembered(&user, token.as_str())
            .await
            .unwrap()
    );
    let ola = UserId::username("ola@example.no").unwrap();
    assert!(
        !w.mfa
            .device_is_remembered(&ola, token.as_str())
            .await
            .unwrap()
    );
    for bad in ["", "zz", &"0".repeat(64), &"a".repeat(100_000)] {
        assert!(!w.mfa.device_is_remembered(&user, bad).await.unwrap());
    }
    // The record holds the hash, not the token.
    let stored = w.store.load(&user).await.unwrap().unwrap().record;
    assert_eq!(stored.devices.len(), 1);
    let bytes = encode(&stored);
    assert!(
        !bytes
            .windows(token.as_str().len())
            .any(|win| win == token.as_str().as_bytes())
    );
    assert_eq!(decode(&bytes).unwrap(), stored);

    w.clock.advance(Duration::from_secs(7 * 24 * 3600));
    assert!(
        !w.mfa
            .device_is_remembered(&user, token.as_str())
            .await
            .unwrap()
    );
    assert!(w.mfa.devices(&user).await.unwrap().is_empty());
}

#[tokio::test]
async fn remembering_needs_a_live_proof_and_stays_bounded() {
    let w = world();
    let user = kari();
    let proof = enroll(&w, &user).await;
    let forged = Proof::parse(&"ab".repeat(16)).unwrap();
    assert!(matches!(
        w.mfa.remember_device(&user, &forged).await,
        Err(Error::Policy(PolicyError::ReauthenticationRequired))
    ));
    let mut tokens = Vec::new();
    for _ in 0..MAX_DEVICES + 3 {
        tokens.push(w.mfa.remember_device(&user, &proof).await.unwrap());
    }
    assert_eq!(w.mfa.devices(&user).await.unwrap().len(), MAX_DEVICES);
    // The oldest went first.
    assert!(
        !w.mfa
            .device_is_remembered(&user, tokens[0].as_str())
            .await
            .unwrap()
    );
    assert!(
        w.mfa
            .device_is_remembered(&user, tokens.last().unwrap().as_str())
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn a_device_can_be_forgotten_by_its_listed_id() {
    let w = world();
    let user = kari();
    let proof = enroll(&w, &user).await;
    let a = w.mfa.remember_device(&user, &proof).await.unwrap();
    let b = w.mfa.remember_device(&user, &proof).await.unwrap();
    let listed = w.mfa.devices(&user).await.unwrap();
    assert_eq!(listed.len(), 2);
    w.mfa
        .forget_device(&user, &listed[0].id, &proof)
        .await
        .unwrap();
    assert!(!w.mfa.device_is_remembered(&user, a.as_str()).await.unwrap());
    assert!(w.mfa.device_is_remembered(&user, b.as_str()).await.unwrap());
    assert!(matches!(
        w.mfa.forget_device(&user, &listed[0].id, &proof).await,
        Err(Error::NotFound(Missing::Device))
    ));
}

#[tokio::test]
async fn devices_die_when_factors_change() {
    let w = world();
    let user = kari();
    let proof = enroll(&w, &user).await;
    // Adding a method.
    let token = w.mfa.remember_device(&user, &proof).await.unwrap();
    let phone = number("+47 412 34 567");
    let pending = w
        .mfa
        .add_method(
            &user,
            Method::AuthenticationPhone {
                number: phone.clone(),
                mode: PhoneMode::Sms,
            },
            &proof,
        )
        .await
        .unwrap();
    let code = w.sms.last_code_to(&phone).unwrap();
    w.mfa
        .verify(&user, &pending.challenge_id, code.expose())
        .await
        .unwrap();
    let added = w.mfa.complete(&user, &pending.challenge_id).await.unwrap();
    assert!(
        !w.mfa
            .device_is_remembered(&user, token.as_str())
            .await
            .unwrap()
    );

    // Removing one.
    let token = w.mfa.remember_device(&user, &added.proof).await.unwrap();
    w.mfa
        .remove_method(&user, &added.method.id, &proof)
        .await
        .unwrap();
    assert!(
        !w.mfa
            .device_is_remembered(&user, token.as_str())
            .await
            .unwrap()
    );

    // A reset.
    let token = w.mfa.remember_device(&user, &proof).await.unwrap();
    w.mfa.reset_user(&user).await.unwrap();
    assert!(
        !w.mfa
            .device_is_remembered(&user, token.as_str())
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn a_policy_may_turn_remembering_off_and_not_past_a_year() {
    let mut policy = Policy::default();
    policy.remember_device_for = Duration::from_secs(366 * 24 * 3600);
    assert!(policy.validate().is_err());
    policy.remember_device_for = Duration::ZERO;
    let w = world_with(policy);
    let user = kari();
    let proof = enroll(&w, &user).await;
    assert!(matches!(
        w.mfa.remember_device(&user, &proof).await,
        Err(Error::NotConfigured(Missing::Device))
    ));
}
