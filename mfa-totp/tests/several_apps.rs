//! Several authenticator apps per user, each named: a second app is set up behind a
//! proof, leaves the first one as it was, and each signs in with its own codes only.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use std::time::Duration;

use mfa_core::{
    Clock, Error, InputError, ManualClock, MemoryStore, Method, MethodKind, MethodStatus, Mfa,
    Pending, Policy, PolicyError, Proof, Timestamp, UserId, Verification,
};
use mfa_totp::{KeyUri, Secret, Totp};

const START: u64 = 1_750_000_000;

fn setup() -> (Mfa, ManualClock) {
    let clock = ManualClock::new(Timestamp::from_unix_secs(START));
    let mfa = Mfa::builder()
        .app(Totp::default())
        .store(MemoryStore::new())
        .clock(clock.clone())
        .issuer("Contoso")
        .build()
        .unwrap();
    (mfa, clock)
}

fn user() -> UserId {
    UserId::new("alice@contoso.com").unwrap()
}

fn secret_of(pending: &Pending) -> Secret {
    KeyUri::parse(&pending.app.as_ref().unwrap().uri)
        .unwrap()
        .secret
}

fn code(secret: &Secret, clock: &ManualClock) -> String {
    Totp::default()
        .generate(secret, clock.now())
        .unwrap()
        .expose()
        .to_owned()
}

/// Answers a challenge with `secret`'s current code; returns the verdict.
async fn answer(
    mfa: &Mfa,
    clock: &ManualClock,
    pending: &Pending,
    secret: &Secret,
) -> Verification {
    mfa.verify(&user(), &pending.challenge_id, &code(secret, clock))
        .await
        .unwrap()
}

/// Enrolls a first (unnamed) app and signs in with it; returns its secret and a proof.
async fn first_app(mfa: &Mfa, clock: &ManualClock) -> (Secret, Proof) {
    let pending = mfa
        .begin_enrollment(&user(), Method::AuthenticatorApp)
        .await
        .unwrap();
    let secret = secret_of(&pending);
    assert!(answer(mfa, clock, &pending, &secret).await.is_approved());
    mfa.complete(&user(), &pending.challenge_id).await.unwrap();
    clock.advance(Duration::from_secs(30));
    let sign_in = mfa.challenge(&user()).await.unwrap();
    let proof = answer(mfa, clock, &sign_in, &secret)
        .await
        .proof()
        .cloned()
        .unwrap();
    (secret, proof)
}

#[tokio::test]
async fn a_second_named_app_leaves_the_first_as_it_was() {
    let (mfa, clock) = setup();
    let (first, proof) = first_app(&mfa, &clock).await;
    let before = mfa.methods(&user()).await.unwrap();
    assert_eq!(before.len(), 1);

    // Without a name the second app could not be told from the first.
    let unnamed = mfa
        .add_method(&user(), Method::AuthenticatorApp, &proof)
        .await
        .unwrap_err();
    assert!(matches!(
        unnamed,
        Error::Input(InputError::MethodNameRequired)
    ));

    let pending = mfa
        .add_method_named(&user(), Method::AuthenticatorApp, " work phone ", &proof)
        .await
        .unwrap();
    let second = secret_of(&pending);
    assert_ne!(second, first, "each app has its own secret");

    // While the second is being set up, the first still signs in, and is unchanged.
    clock.advance(Duration::from_secs(30));
    let sign_in = mfa.challenge(&user()).await.unwrap();
    assert_eq!(sign_in.method_id, before[0].id);
    assert!(answer(&mfa, &clock, &sign_in, &first).await.is_approved());

    // The first app's code does not enroll the second.
    assert!(matches!(
        answer(&mfa, &clock, &pending, &first).await,
        Verification::Rejected { .. }
    ));
    assert!(answer(&mfa, &clock, &pending, &second).await.is_approved());
    let done = mfa.complete(&user(), &pending.challenge_id).await.unwrap();
    assert_eq!(done.method.name.as_ref().unwrap().as_str(), "work phone");
    assert!(!done.method.is_default, "the first app stays the default");

    let methods = mfa.methods(&user()).await.unwrap();
    assert_eq!(methods.len(), 2);
    let old = methods.iter().find(|m| m.id == before[0].id).unwrap();
    assert_eq!(old.app, before[0].app, "the first app's key is untouched");
    assert!(old.is_default);
    assert_eq!(old.status, MethodStatus::Active);
    assert_eq!(old.name, None);
    let new = methods.iter().find(|m| m.id == done.method.id).unwrap();
    assert_eq!(new.method.kind(), MethodKind::AuthenticatorApp);
    assert_eq!(new.name.as_ref().unwrap().as_str(), "work phone");

    // Each app signs in on its own challenge, with its own codes only.
    clock.advance(Duration::from_secs(30));
    let on_second = mfa.challenge_with(&user(), &new.id).await.unwrap();
    assert!(matches!(
        answer(&mfa, &clock, &on_second, &first).await,
        Verification::Rejected { .. }
    ));
    assert!(
        answer(&mfa, &clock, &on_second, &second)
            .await
            .is_approved()
    );
    let on_first = mfa.challenge(&user()).await.unwrap();
    assert_eq!(on_first.method_id, old.id);
    assert!(answer(&mfa, &clock, &on_first, &first).await.is_approved());
}

#[tokio::test]
async fn apps_are_capped_by_policy_and_names_are_unique_and_checked() {
    let (mfa, clock) = setup();
    let (_, proof) = first_app(&mfa, &clock).await;
    assert_eq!(mfa.policy().max_authenticator_apps, 5);
    for n in 2..=5 {
        let pending = mfa
            .add_method_named(
                &user(),
                Method::AuthenticatorApp,
                &format!("app {n}"),
                &proof,
            )
            .await
            .unwrap();
        let secret = secret_of(&pending);
        assert!(answer(&mfa, &clock, &pending, &secret).await.is_approved());
        mfa.complete(&user(), &pending.challenge_id).await.unwrap();
    }
    let sixth = mfa
        .add_method_named(&user(), Method::AuthenticatorApp, "app 6", &proof)
        .await
        .unwrap_err();
    assert!(matches!(
        sixth,
        Error::Policy(PolicyError::TooManyOfKind {
            kind: MethodKind::AuthenticatorApp,
            max: 5
        })
    ));

    // A smaller cap from the policy.
    let mut policy = Policy::default();
    policy.max_authenticator_apps = 1;
    let clock2 = ManualClock::new(Timestamp::from_unix_secs(START));
    let strict = Mfa::builder()
        .app(Totp::default())
        .clock(clock2.clone())
        .policy(policy)
        .build()
        .unwrap();
    let (_, proof2) = first_app(&strict, &clock2).await;
    assert!(matches!(
        strict
            .add_method_named(&user(), Method::AuthenticatorApp, "second", &proof2)
            .await,
        Err(Error::Policy(PolicyError::TooManyOfKind { max: 1, .. }))
    ));

    // Names: unique among the user's methods (case and spacing aside), and checked.
    let (mfa, clock) = setup();
    let (_, proof) = first_app(&mfa, &clock).await;
    let pending = mfa
        .add_method_named(&user(), Method::AuthenticatorApp, "Work Phone", &proof)
        .await
        .unwrap();
    let secret = secret_of(&pending);
    assert!(answer(&mfa, &clock, &pending, &secret).await.is_approved());
    mfa.complete(&user(), &pending.challenge_id).await.unwrap();
    assert!(matches!(
        mfa.add_method_named(&user(), Method::AuthenticatorApp, "work  phone", &proof)
            .await,
        Err(Error::Policy(PolicyError::NameTaken))
    ));
    for bad in ["", "line\nbreak", &"x".repeat(65)] {
        assert!(
            matches!(
                mfa.add_method_named(&user(), Method::AuthenticatorApp, bad, &proof)
                    .await,
                Err(Error::Input(InputError::InvalidMethodName))
            ),
            "{bad:?}"
        );
    }
    assert_eq!(
        mfa.methods(&user()).await.unwrap().len(),
        2,
        "nothing was added"
    );

    // Renaming needs a proof and keeps names unique.
    let methods = mfa.methods(&user()).await.unwrap();
    let first_id = methods
        .iter()
        .find(|m| m.name.is_none())
        .unwrap()
        .id
        .clone();
    assert!(matches!(
        mfa.rename_method(&user(), &first_id, "WORK PHONE", &proof)
            .await,
        Err(Error::Policy(PolicyError::NameTaken))
    ));
    mfa.rename_method(&user(), &first_id, "home tablet", &proof)
        .await
        .unwrap();
    let renamed = mfa.methods(&user()).await.unwrap();
    let first = renamed.iter().find(|m| m.id == first_id).unwrap();
    assert_eq!(first.name.as_ref().unwrap().as_str(), "home tablet");
}
