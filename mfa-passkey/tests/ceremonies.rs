//! Passkey registration and sign-in through `Mfa`, with a software authenticator
//! (tests/support): the answers a browser gives, and the ones an attacker would.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod support;

use mfa_core::event::Event;
use mfa_core::{
    Clock, Error, InputError, ManualClock, MemoryDelivery, MemoryEvents, MemoryStore, Method,
    MethodKind, MethodStatus, Mfa, PasskeyCredential, PhoneMode, PhoneNumber, Policy, Proof,
    Purpose, Refusal, Timestamp, UserId, Verification,
};
use mfa_passkey::WebauthnPasskeys;
use support::{ORIGIN, RP_ID, SoftPasskey, allowed};

struct World {
    mfa: Mfa,
    clock: ManualClock,
    sms: MemoryDelivery,
    events: MemoryEvents,
}

fn world_with(policy: Policy) -> World {
    let clock = ManualClock::new(Timestamp::from_unix_secs(1_750_000_000));
    let sms = MemoryDelivery::new();
    let events = MemoryEvents::default();
    let mfa = Mfa::builder()
        .store(MemoryStore::new())
        .clock(clock.clone())
        .sms(sms.clone())
        .events(events.clone())
        .policy(policy)
        .passkeys(WebauthnPasskeys::new(RP_ID, ORIGIN, "Contoso").unwrap())
        .build()
        .unwrap();
    World {
        mfa,
        clock,
        sms,
        events,
    }
}

fn world() -> World {
    world_with(Policy::default())
}

fn alice() -> UserId {
    UserId::new("alice@contoso.com").unwrap()
}

fn bob() -> UserId {
    UserId::new("bob@contoso.com").unwrap()
}

/// Enrolls an SMS phone and signs in with it; returns a proof.
async fn with_phone(w: &World, user: &UserId) -> Proof {
    let number = PhoneNumber::parse("+4741234567").unwrap();
    let sms = Method::AuthenticationPhone {
        number: number.clone(),
        mode: PhoneMode::Sms,
    };
    let pending = w.mfa.begin_enrollment(user, sms).await.unwrap();
    let code = last_code(w);
    assert!(
        w.mfa
            .verify(user, &pending.challenge_id, &code)
            .await
            .unwrap()
            .is_approved()
    );
    w.mfa
        .complete(user, &pending.challenge_id)
        .await
        .unwrap()
        .proof
}

fn last_code(w: &World) -> String {
    w.sms
        .sent()
        .last()
        .unwrap()
        .request
        .code()
        .unwrap()
        .expose()
        .to_owned()
}

/// Registers `key` for `user` (first method when `proof` is `None`).
async fn register(w: &World, user: &UserId, key: &SoftPasskey, name: &str, proof: Option<&Proof>) {
    let pending = match proof {
        Some(p) => w
            .mfa
            .add_method_named(user, Method::Passkey, name, p)
            .await
            .unwrap(),
        None => w
            .mfa
            .begin_enrollment_named(user, Method::Passkey, name)
            .await
            .unwrap(),
    };
    let options = pending
        .passkey_options
        .clone()
        .expect("options for the browser");
    let answer = key.register(&options, ORIGIN);
    let v = w
        .mfa
        .verify_passkey(user, &pending.challenge_id, &answer)
        .await
        .unwrap();
    assert!(
        matches!(&v, Verification::Approved(a) if a.purpose == Purpose::Enrollment && a.method == MethodKind::Passkey),
        "{v:?}"
    );
    let done = w.mfa.complete(user, &pending.challenge_id).await.unwrap();
    assert_eq!(done.method.method, Method::Passkey);
    assert_eq!(done.method.name.as_ref().unwrap().as_str(), name);
}

/// `user` starts a sign-in and answers the options with `key`: the core's answer.
async fn sign_in_with(w: &World, user: &UserId, key: &mut SoftPasskey) -> Verification {
    let sign_in = w.mfa.challenge(user).await.unwrap();
    let answer = key.sign_in(sign_in.passkey_options.as_ref().unwrap(), ORIGIN);
    w.mfa
        .verify_passkey(user, &sign_in.challenge_id, &answer)
        .await
        .unwrap()
}

/// What the record keeps of `user`'s first method, a passkey.
async fn first_passkey(w: &World, user: &UserId) -> PasskeyCredential {
    w.mfa.methods(user).await.unwrap()[0]
        .passkey
        .clone()
        .unwrap()
}

fn refused(w: &World, reason: Refusal) -> bool {
    w.events
        .events()
        .iter()
        .any(|e| matches!(e, Event::Refused { reason: r, .. } if *r == reason))
}

#[tokio::test]
async fn a_passkey_registers_and_signs_in_first_with_the_phone_as_another_way() {
    let w = world();
    let proof = with_phone(&w, &alice()).await;
    let mut key = SoftPasskey::new(1);
    register(&w, &alice(), &key, "laptop", Some(&proof)).await;

    let methods = w.mfa.methods(&alice()).await.unwrap();
    let passkey = methods
        .iter()
        .find(|m| m.method == Method::Passkey)
        .unwrap();
    let stored = passkey.passkey.as_ref().unwrap();
    assert_eq!(stored.credential_id, key.credential_id);
    assert_eq!(stored.counter, 1);
    assert!(stored.user_verified);
    assert!(!passkey.is_default, "the phone stays the default");

    // The passkey is offered first, the phone as "sign in another way".
    let order: Vec<MethodKind> = w
        .mfa
        .sign_in_options(&alice())
        .await
        .unwrap()
        .iter()
        .map(|m| m.method.kind())
        .collect();
    assert_eq!(
        order,
        [MethodKind::Passkey, MethodKind::AuthenticationPhone]
    );
    let sign_in = w.mfa.challenge(&alice()).await.unwrap();
    assert_eq!(sign_in.method_id, passkey.id);
    let options = sign_in.passkey_options.clone().unwrap();
    assert_eq!(allowed(&options), std::slice::from_ref(&key.credential_id));
    let answer = key.sign_in(&options, ORIGIN);
    let v = w
        .mfa
        .verify_passkey(&alice(), &sign_in.challenge_id, &answer)
        .await
        .unwrap();
    assert!(v.proof().is_some(), "{v:?}");
    let after = w.mfa.methods(&alice()).await.unwrap();
    let stored = after
        .iter()
        .find(|m| m.id == passkey.id)
        .unwrap()
        .passkey
        .clone()
        .unwrap();
    assert_eq!(stored.counter, 2, "the sign counter is kept");
    assert_eq!(stored.last_used_at, Some(w.clock.now()));
    // The same answer again: the challenge is used.
    assert_eq!(
        w.mfa
            .verify_passkey(&alice(), &sign_in.challenge_id, &answer)
            .await
            .unwrap(),
        Verification::AlreadyUsed
    );

    // Sign in another way: the phone.
    let phone = after
        .iter()
        .find(|m| m.method.kind() == MethodKind::AuthenticationPhone)
        .unwrap();
    let other = w.mfa.challenge_with(&alice(), &phone.id).await.unwrap();
    assert!(other.passkey_options.is_none());
    let code = last_code(&w);
    assert!(
        w.mfa
            .verify(&alice(), &other.challenge_id, &code)
            .await
            .unwrap()
            .proof()
            .is_some()
    );

    // With the policy's passkeys_first off, the default comes first.
    let mut policy = Policy::default();
    policy.passkeys_first = false;
    let w2 = world_with(policy);
    let proof = with_phone(&w2, &alice()).await;
    register(&w2, &alice(), &SoftPasskey::new(1), "laptop", Some(&proof)).await;
    let first = w2.mfa.sign_in_options(&alice()).await.unwrap().remove(0);
    assert_eq!(first.method.kind(), MethodKind::AuthenticationPhone);
}

#[tokio::test]
async fn an_answer_from_another_origin_or_for_another_challenge_is_refused() {
    let w = world();
    let mut key = SoftPasskey::new(2);
    register(&w, &alice(), &key, "phone", None).await;

    let sign_in = w.mfa.challenge(&alice()).await.unwrap();
    let options = sign_in.passkey_options.clone().unwrap();
    let phished = key.sign_in(&options, "https://login.contoso.com.evil.example");
    let v = w
        .mfa
        .verify_passkey(&alice(), &sign_in.challenge_id, &phished)
        .await
        .unwrap();
    assert_eq!(v, Verification::Rejected { attempts_left: 4 });
    assert!(refused(&w, Refusal::PasskeyRejected));

    // A good answer to this challenge, replayed on the next one: refused.
    let good = key.sign_in(&options, ORIGIN);
    assert!(
        w.mfa
            .verify_passkey(&alice(), &sign_in.challenge_id, &good)
            .await
            .unwrap()
            .is_approved()
    );
    let next = w.mfa.challenge(&alice()).await.unwrap();
    assert!(matches!(
        w.mfa
            .verify_passkey(&alice(), &next.challenge_id, &good)
            .await
            .unwrap(),
        Verification::Rejected { .. }
    ));

    // Registration from another origin is refused too, and nothing is stored.
    let w = world();
    let pending = w
        .mfa
        .begin_enrollment(&alice(), Method::Passkey)
        .await
        .unwrap();
    let answer = SoftPasskey::new(3).register(
        pending.passkey_options.as_ref().unwrap(),
        "https://evil.example",
    );
    assert!(matches!(
        w.mfa
            .verify_passkey(&alice(), &pending.challenge_id, &answer)
            .await
            .unwrap(),
        Verification::Rejected { .. }
    ));
    let methods = w.mfa.methods(&alice()).await.unwrap();
    assert!(methods[0].passkey.is_none());
    assert_eq!(methods[0].status, MethodStatus::Pending);

    // Garbage is an input error and costs no attempt.
    let before = w
        .mfa
        .enrollment_state(&alice(), &pending.challenge_id)
        .await
        .unwrap();
    assert!(matches!(
        w.mfa
            .verify_passkey(&alice(), &pending.challenge_id, "{not json")
            .await,
        Err(Error::Input(InputError::InvalidPasskeyResponse))
    ));
    assert!(matches!(
        w.mfa
            .verify_passkey(&alice(), &pending.challenge_id, &"x".repeat(1 << 20))
            .await,
        Err(Error::Input(InputError::InvalidPasskeyResponse))
    ));
    assert_eq!(
        w.mfa
            .enrollment_state(&alice(), &pending.challenge_id)
            .await
            .unwrap(),
        before
    );
    // Five wrong answers lock the challenge, as five wrong codes do.
    for left in (0..4).rev() {
        let v = w
            .mfa
            .verify_passkey(&alice(), &pending.challenge_id, &answer)
            .await
            .unwrap();
        if left == 0 {
            assert_eq!(v, Verification::Locked);
        } else {
            assert_eq!(
                v,
                Verification::Rejected {
                    attempts_left: left
                }
            );
        }
    }
}

#[tokio::test]
async fn a_cloned_authenticator_whose_counter_goes_back_is_refused() {
    let w = world();
    let mut key = SoftPasskey::new(4);
    register(&w, &alice(), &key, "security key", None).await;
    let clone = key.clone();
    for _ in 0..3 {
        assert!(sign_in_with(&w, &alice(), &mut key).await.is_approved());
    }
    // The clone's counter is behind the original's: it signs correctly, but refused.
    let mut clone = clone;
    assert!(matches!(
        sign_in_with(&w, &alice(), &mut clone).await,
        Verification::Rejected { .. }
    ));
    assert!(refused(&w, Refusal::PasskeyCounterRegressed));
    assert!(!refused(&w, Refusal::PasskeyRejected));
    let stored = first_passkey(&w, &alice()).await;
    assert_eq!(
        stored.counter, 4,
        "the counter is not moved by a refused answer"
    );
    // An authenticator that keeps no counter (always 0) is accepted each time.
    let w = world();
    let mut synced = SoftPasskey::new(5);
    synced.counter = 0;
    synced.backup_eligible = true;
    synced.backed_up = true;
    register(&w, &alice(), &synced, "synced", None).await;
    let stored = first_passkey(&w, &alice()).await;
    assert!(
        stored.backup_eligible && stored.backup_state,
        "backup state kept"
    );
    assert_eq!(stored.counter, 0);
    for _ in 0..2 {
        assert!(sign_in_with(&w, &alice(), &mut synced).await.is_approved());
    }
    // Its backup state changes (it stopped syncing): kept.
    synced.backed_up = false;
    let v = sign_in_with(&w, &alice(), &mut synced).await;
    assert!(v.is_approved(), "{v:?}");
    let stored = first_passkey(&w, &alice()).await;
    assert!(!stored.backup_state);
}

#[tokio::test]
async fn another_users_passkey_cannot_sign_in() {
    let w = world();
    let mut alices = SoftPasskey::new(6);
    let bobs = SoftPasskey::new(7);
    register(&w, &alice(), &alices, "alice's key", None).await;
    register(&w, &bob(), &bobs, "bob's key", None).await;
    let sign_in = w.mfa.challenge(&bob()).await.unwrap();
    let options = sign_in.passkey_options.clone().unwrap();
    assert_eq!(allowed(&options), std::slice::from_ref(&bobs.credential_id));
    // Alice's authenticator answers Bob's challenge (right origin, right challenge).
    let answer = alices.sign_in(&options, ORIGIN);
    assert!(matches!(
        w.mfa
            .verify_passkey(&bob(), &sign_in.challenge_id, &answer)
            .await
            .unwrap(),
        Verification::Rejected { .. }
    ));
    // Bob's challenge answered on Alice's account: not her challenge.
    assert!(matches!(
        w.mfa
            .verify_passkey(&alice(), &sign_in.challenge_id, &answer)
            .await,
        Err(Error::NotFound(_))
    ));
}

#[tokio::test]
async fn several_named_passkeys_each_sign_in_and_keep_their_own_counter() {
    let w = world();
    let mut laptop = SoftPasskey::new(8);
    let mut yubikey = SoftPasskey::new(9);
    register(&w, &alice(), &laptop, "laptop", None).await;
    let sign_in = w.mfa.challenge(&alice()).await.unwrap();
    let proof = w
        .mfa
        .verify_passkey(
            &alice(),
            &sign_in.challenge_id,
            &laptop.sign_in(sign_in.passkey_options.as_ref().unwrap(), ORIGIN),
        )
        .await
        .unwrap()
        .proof()
        .cloned()
        .unwrap();
    // A second passkey needs a name of its own.
    assert!(matches!(
        w.mfa.add_method(&alice(), Method::Passkey, &proof).await,
        Err(Error::Input(InputError::MethodNameRequired))
    ));
    register(&w, &alice(), &yubikey, "YubiKey", Some(&proof)).await;

    let sign_in = w.mfa.challenge(&alice()).await.unwrap();
    let options = sign_in.passkey_options.clone().unwrap();
    let mut ids = allowed(&options);
    ids.sort();
    let mut want = vec![laptop.credential_id.clone(), yubikey.credential_id.clone()];
    want.sort();
    assert_eq!(ids, want, "either passkey may answer");
    yubikey.counter = 40;
    let v = w
        .mfa
        .verify_passkey(
            &alice(),
            &sign_in.challenge_id,
            &yubikey.sign_in(&options, ORIGIN),
        )
        .await
        .unwrap();
    let Verification::Approved(approved) = v else {
        panic!("{v:?}")
    };
    let methods = w.mfa.methods(&alice()).await.unwrap();
    let by_name = |n: &str| {
        methods
            .iter()
            .find(|m| m.name.as_ref().unwrap().as_str() == n)
            .unwrap()
    };
    assert_eq!(
        approved.method_id,
        by_name("YubiKey").id,
        "the approval names the passkey that signed"
    );
    assert_eq!(by_name("YubiKey").passkey.as_ref().unwrap().counter, 41);
    assert_eq!(by_name("laptop").passkey.as_ref().unwrap().counter, 2);

    // Registering the same authenticator again is refused: the browser is told to
    // exclude it, and the core refuses its credential id.
    let pending = w
        .mfa
        .add_method_named(&alice(), Method::Passkey, "again", &proof)
        .await
        .unwrap();
    assert!(
        pending
            .passkey_options
            .as_ref()
            .unwrap()
            .contains("excludeCredentials")
    );
    let again = laptop.register(pending.passkey_options.as_ref().unwrap(), ORIGIN);
    let v = w
        .mfa
        .verify_passkey(&alice(), &pending.challenge_id, &again)
        .await;
    assert!(matches!(v, Ok(Verification::Rejected { .. })), "{v:?}");
    let passkeys = w.mfa.methods(&alice()).await.unwrap();
    assert_eq!(passkeys.iter().filter(|m| m.passkey.is_some()).count(), 2);
}

#[tokio::test]
async fn user_verification_is_required_by_policy() {
    let w = world();
    let mut key = SoftPasskey::new(10);
    key.user_verified = false;
    let pending = w
        .mfa
        .begin_enrollment(&alice(), Method::Passkey)
        .await
        .unwrap();
    let answer = key.register(pending.passkey_options.as_ref().unwrap(), ORIGIN);
    assert!(matches!(
        w.mfa
            .verify_passkey(&alice(), &pending.challenge_id, &answer)
            .await
            .unwrap(),
        Verification::Rejected { .. }
    ));
    // Registered with verification, then a sign-in without it: refused.
    let mut key = SoftPasskey::new(11);
    register(&w, &bob(), &key, "key", None).await;
    key.user_verified = false;
    assert!(matches!(
        sign_in_with(&w, &bob(), &mut key).await,
        Verification::Rejected { .. }
    ));
    // Without a verifier the method is not offered.
    let bare = Mfa::builder().build().unwrap();
    assert!(matches!(
        bare.begin_enrollment(&alice(), Method::Passkey).await,
        Err(Error::NotConfigured(mfa_core::Missing::PasskeyVerifier))
    ));
}
