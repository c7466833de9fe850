//! The journey through the `Mfa` driver with the memory store and memory delivery.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use mfa_core::{
    CallConfirmation, CallOutcome, ChallengeStatus, CountryPolicy, DeliveryError,
    DeliveryErrorKind, Error, Event, Extension, InputError, MemoryDelivery, Method, MethodKind,
    MethodStatus, Mfa, PhoneMode, PhoneNumber, Policy, PolicyError, Proof, Purpose, Status,
    Timestamp, UserId, Verification,
};
use support::{World, sms_to, world, world_with};

fn kari() -> UserId {
    UserId::username("Kari.Nordmann@example.no").unwrap()
}

fn mobile() -> PhoneNumber {
    PhoneNumber::from_parts(47, "412 34 567").unwrap()
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Enrolls `user` by SMS to the mobile.
async fn enroll_by_sms(w: &World, user: &UserId) {
    support::enroll_by_sms(w, user, &mobile()).await;
}

/// Signs in by SMS and returns the proof the redeemed sign-in carries.
async fn sign_in(w: &World, user: &UserId) -> Proof {
    let pending = w.mfa.challenge(user).await.unwrap();
    let code = w.sms.last_code_to(&mobile()).unwrap();
    let answer = w
        .mfa
        .verify(user, &pending.challenge_id, code.expose())
        .await
        .unwrap();
    answer
        .proof()
        .cloned()
        .expect("a sign-in carries its proof")
}

#[tokio::test]
async fn the_guide_journey_late_sms_resend_old_code_dead_then_sign_in() {
    let w = world();
    let user = kari();
    assert_eq!(
        w.mfa.status(&user).await.unwrap(),
        Status::EnrollmentRequired
    );

    // "Send me an SMS": the message is late.
    w.sms.delay_next(secs(120));
    let pending = w
        .mfa
        .begin_enrollment(&user, sms_to(mobile()))
        .await
        .unwrap();
    assert_eq!(pending.purpose, Purpose::Enrollment);
    assert_eq!(pending.waiting_for, ChallengeStatus::AwaitingCode);
    assert_eq!(pending.attempts_left, 5);
    w.clock.advance(secs(60));
    assert!(
        w.sms.inbox(&mobile()).is_empty(),
        "the first SMS is still on its way"
    );

    // "Cancel, then Next": a new code arrives at once.
    let again = w.mfa.resend(&user, &pending.challenge_id).await.unwrap();
    assert_eq!(again.challenge_id, pending.challenge_id);
    let new_code = w.sms.last_code_to(&mobile()).unwrap();

    // The late SMS arrives after all; its code is dead.
    w.clock.advance(secs(70));
    let inbox = w.sms.inbox(&mobile());
    assert_eq!(inbox.len(), 2);
    let old_code = inbox
        .iter()
        .map(|m| m.request.code().unwrap().clone())
        .find(|c| *c != new_code)
        .unwrap();
    assert_eq!(
        w.mfa
            .verify(&user, &pending.challenge_id, old_code.expose())
            .await
            .unwrap(),
        Verification::Rejected { attempts_left: 4 }
    );

    // "Write in the code and choose Check", then "Complete".
    assert!(
        (w.mfa
            .verify(
                &user,
                &pending.challenge_id,
                &format!("{} {}", &new_code.expose()[..3], &new_code.expose()[3..])
            )
            .await
            .unwrap())
        .is_approved()
    );
    let method = w
        .mfa
        .complete(&user, &pending.challenge_id)
        .await
        .unwrap()
        .method;
    assert_eq!(method.status, MethodStatus::Active);
    assert!(method.is_default);
    match w.mfa.status(&user).await.unwrap() {
        Status::Enrolled { default, methods } => {
            assert_eq!(default.id, method.id);
            assert_eq!(methods, 1);
        }
        other => panic!("expected enrolled, got {other:?}"),
    }
    // Completing twice is refused.
    assert!(matches!(
        w.mfa.complete(&user, &pending.challenge_id).await,
        Err(Error::Transition(_))
    ));

    // "From now on you will be sent an SMS with a code" at each sign-in.
    w.clock.advance(secs(3600));
    let signin = w.mfa.challenge(&user).await.unwrap();
    assert_eq!(signin.purpose, Purpose::SignIn);
    let code = w.sms.last_code_to(&mobile()).unwrap();
    assert!(
        (w.mfa
            .verify(&user, &signin.challenge_id, code.expose())
            .await
            .unwrap())
        .is_approved()
    );
    // A code is accepted once.
    assert_eq!(
        w.mfa
            .verify(&user, &signin.challenge_id, code.expose())
            .await
            .unwrap(),
        Verification::AlreadyUsed
    );
    let sent: Vec<_> = w
        .events
        .events()
        .into_iter()
        .filter(|e| matches!(e, Event::CodeSent { .. }))
        .collect();
    assert_eq!(sent.len(), 3);
}

#[tokio::test]
async fn wrong_attempts_are_capped_and_resend_does_not_reset_them() {
    let w = world();
    let user = kari();
    let pending = w
        .mfa
        .begin_enrollment(&user, sms_to(mobile()))
        .await
        .unwrap();
    let right = w.sms.last_code_to(&mobile()).unwrap();
    let wrong = if right.expose() == "000000" {
        "111111"
    } else {
        "000000"
    };
    for left in [4, 3] {
        assert_eq!(
            w.mfa
                .verify(&user, &pending.challenge_id, wrong)
                .await
                .unwrap(),
            Verification::Rejected {
                attempts_left: left
            }
        );
    }
    w.clock.advance(secs(30));
    w.mfa.resend(&user, &pending.challenge_id).await.unwrap();
    let right = w.sms.last_code_to(&mobile()).unwrap();
    let wrong = if right.expose() == "000000" {
        "111111"
    } else {
        "000000"
    };
    assert_eq!(
        w.mfa
            .verify(&user, &pending.challenge_id, wrong)
            .await
            .unwrap(),
        Verification::Rejected { attempts_left: 2 }
    );
    w.mfa
        .verify(&user, &pending.challenge_id, wrong)
        .await
        .unwrap();
    assert_eq!(
        w.mfa
            .verify(&user, &pending.challenge_id, wrong)
            .await
            .unwrap(),
        Verification::Locked
    );
    // Locked is final: even the right code is refused now.
    assert_eq!(
        w.mfa
            .verify(&user, &pending.challenge_id, right.expose())
            .await
            .unwrap(),
        Verification::Locked
    );
    assert!(w.mfa.resend(&user, &pending.challenge_id).await.is_err());
    assert!(
        w.events
            .events()
            .iter()
            .any(|e| matches!(e, Event::ChallengeLocked { .. }))
    );
}

#[tokio::test]
async fn codes_expire_after_five_minutes_and_expired_is_final() {
    let w = world();
    let user = kari();
    let pending = w
        .mfa
        .begin_enrollment(&user, sms_to(mobile()))
        .await
        .unwrap();
    let code = w.sms.last_code_to(&mobile()).unwrap();
    assert_eq!(pending.expires_at, w.mfa.now() + secs(300));
    w.clock.advance(secs(300));
    assert_eq!(
        w.mfa
            .verify(&user, &pending.challenge_id, code.expose())
            .await
            .unwrap(),
        Verification::Expired
    );
    assert_eq!(
        w.mfa
            .challenge_status(&user, &pending.challenge_id)
            .await
            .unwrap(),
        ChallengeStatus::Expired
    );
    assert!(w.mfa.resend(&user, &pending.challenge_id).await.is_err());
    assert!(w.mfa.complete(&user, &pending.challenge_id).await.is_err());
}

#[tokio::test]
async fn resend_waits_for_the_cooldown_and_stops_at_the_send_cap() {
    let w = world();
    let user = kari();
    let pending = w
        .mfa
        .begin_enrollment(&user, sms_to(mobile()))
        .await
        .unwrap();
    assert_eq!(pending.resend_after, Some(w.mfa.now() + secs(30)));
    match w.mfa.resend(&user, &pending.challenge_id).await {
        Err(Error::Policy(PolicyError::ResendTooSoon { retry_after })) => {
            assert_eq!(retry_after, secs(30))
        }
        other => panic!("expected ResendTooSoon, got {other:?}"),
    }
    for _ in 0..4 {
        w.clock.advance(secs(30));
        w.mfa.resend(&user, &pending.challenge_id).await.unwrap();
    }
    w.clock.advance(secs(30));
    assert!(matches!(
        w.mfa.resend(&user, &pending.challenge_id).await,
        Err(Error::Policy(PolicyError::TooManySends))
    ));
    assert_eq!(w.sms.sent().len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_concurrent_correct_codes_approve_exactly_once() {
    let w = world();
    let user = kari();
    enroll_by_sms(&w, &user).await;
    let pending = w.mfa.challenge(&user).await.unwrap();
    let code = w.sms.last_code_to(&mobile()).unwrap();
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let mfa = w.mfa.clone();
        let id = pending.challenge_id.clone();
        let code = code.expose().to_owned();
        let user = user.clone();
        tasks.push(tokio::spawn(async move {
            mfa.verify(&user, &id, &code).await.unwrap()
        }));
    }
    let mut approved = 0;
    for t in tasks {
        match t.await.unwrap() {
            Verification::Approved(_) => approved += 1,
            Verification::AlreadyUsed => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(approved, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_concurrent_wrong_codes_count_exactly_the_cap() {
    let mut policy = Policy::default();
    policy.lockout.free_failures = 1000;
    policy.lockout.hard_limit = 100;
    let w = world_with(policy);
    let user = kari();
    let pending = w
        .mfa
        .begin_enrollment(&user, sms_to(mobile()))
        .await
        .unwrap();
    let right = w.sms.last_code_to(&mobile()).unwrap();
    let wrong = if right.expose() == "000000" {
        "111111"
    } else {
        "000000"
    };
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let mfa = w.mfa.clone();
        let id = pending.challenge_id.clone();
        let user = user.clone();
        tasks.push(tokio::spawn(async move {
            mfa.verify(&user, &id, wrong).await.unwrap()
        }));
    }
    let mut rejected = 0;
    let mut locked = 0;
    for t in tasks {
        match t.await.unwrap() {
            Verification::Rejected { .. } => rejected += 1,
            Verification::Locked => locked += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(rejected, 4, "attempts 1-4 are rejections");
    assert_eq!(locked, 60, "the fifth locks; the rest find it locked");
    let failed = w
        .events
        .events()
        .iter()
        .filter(|e| matches!(e, Event::CheckFailed { .. }))
        .count();
    assert_eq!(failed, 5, "exactly the cap was counted");
    assert_eq!(
        mfa_core::Store::load(&w.store, &user)
            .await
            .unwrap()
            .unwrap()
            .record
            .failures
            .count,
        5,
        "the user's consecutive failures count each counted attempt once"
    );
    assert_eq!(
        w.mfa
            .challenge_status(&user, &pending.challenge_id)
            .await
            .unwrap(),
        ChallengeStatus::Locked
    );
}

#[tokio::test]
async fn consecutive_failures_across_challenges_lock_the_user_with_growing_delays() {
    let mut policy = Policy::default();
    policy.send_limits.per_destination.max = 100;
    let w = world_with(policy);
    let user = kari();
    enroll_by_sms(&w, &user).await;
    let mut failures = 0;
    // Five free failures, spread over challenges.
    while failures < 5 {
        let pending = w.mfa.challenge(&user).await.unwrap();
        let right = w.sms.last_code_to(&mobile()).unwrap();
        let wrong = if right.expose() == "000000" {
            "111111"
        } else {
            "000000"
        };
        w.mfa
            .verify(&user, &pending.challenge_id, wrong)
            .await
            .unwrap();
        failures += 1;
        w.clock.advance(secs(120));
    }
    let pending = w.mfa.challenge(&user).await;
    // The fifth failure was 120 s ago; the first delay is 30 s, so this is allowed.
    let pending = pending.unwrap();
    let right = w.sms.last_code_to(&mobile()).unwrap();
    let wrong = if right.expose() == "000000" {
        "111111"
    } else {
        "000000"
    };
    w.mfa
        .verify(&user, &pending.challenge_id, wrong)
        .await
        .unwrap();
    // Six failures: wait 60 s.
    match w
        .mfa
        .verify(&user, &pending.challenge_id, right.expose())
        .await
    {
        Err(Error::Policy(PolicyError::UserLocked {
            retry_after: Some(d),
        })) => assert_eq!(d, secs(60)),
        other => panic!("expected a delay, got {other:?}"),
    }
    w.clock.advance(secs(60));
    assert!(
        (w.mfa
            .verify(&user, &pending.challenge_id, right.expose())
            .await
            .unwrap())
        .is_approved()
    );
    // Success clears the count.
    w.clock.advance(secs(60));
    let again = w.mfa.challenge(&user).await.unwrap();
    let right = w.sms.last_code_to(&mobile()).unwrap();
    assert!(
        (w.mfa
            .verify(&user, &again.challenge_id, right.expose())
            .await
            .unwrap())
        .is_approved()
    );
}

#[tokio::test]
async fn one_hundred_consecutive_failures_lock_until_reset() {
    let mut policy = Policy::default();
    policy.lockout.free_failures = 100;
    policy.send_limits.per_destination.max = 1000;
    policy.send_limits.per_user.max = 1000;
    let w = world_with(policy);
    let user = kari();
    enroll_by_sms(&w, &user).await;
    for _ in 0..20 {
        let pending = w.mfa.challenge(&user).await.unwrap();
        let right = w.sms.last_code_to(&mobile()).unwrap();
        let wrong = if right.expose() == "000000" {
            "111111"
        } else {
            "000000"
        };
        for _ in 0..5 {
            w.mfa
                .verify(&user, &pending.challenge_id, wrong)
                .await
                .unwrap();
        }
    }
    assert!(matches!(
        w.mfa.challenge(&user).await,
        Err(Error::Policy(PolicyError::UserLocked { retry_after: None }))
    ));
    assert!(
        w.events
            .events()
            .iter()
            .any(|e| matches!(e, Event::UserLocked { .. }))
    );
    w.mfa.reset_user(&user).await.unwrap();
    assert_eq!(
        w.mfa.status(&user).await.unwrap(),
        Status::EnrollmentRequired
    );
    enroll_by_sms(&w, &user).await;
}

#[tokio::test]
async fn sends_per_destination_are_limited_before_anything_is_sent() {
    let w = world();
    for i in 0..5 {
        let user = UserId::new(format!("user{i}")).unwrap();
        w.mfa
            .begin_enrollment(&user, sms_to(mobile()))
            .await
            .unwrap();
    }
    let err = w
        .mfa
        .begin_enrollment(&UserId::new("user5").unwrap(), sms_to(mobile()))
        .await
        .unwrap_err();
    match err {
        Error::Policy(PolicyError::RateLimited { scope, retry_after }) => {
            assert_eq!(scope, mfa_core::LimitScope::Destination);
            assert_eq!(retry_after, secs(600));
        }
        other => panic!("expected a rate limit, got {other:?}"),
    }
    assert_eq!(w.sms.sent().len(), 5);
    w.clock.advance(secs(600));
    w.mfa
        .begin_enrollment(&UserId::new("user5").unwrap(), sms_to(mobile()))
        .await
        .unwrap();
}

#[tokio::test]
async fn countries_outside_the_allow_list_are_refused_and_abroad_gets_the_cost_notice() {
    let mut policy = Policy::default();
    policy.countries = CountryPolicy::only(&[47, 46]);
    let w = world_with(policy);
    let uk = PhoneNumber::parse("+44 7400 123456").unwrap();
    assert!(matches!(
        w.mfa.begin_enrollment(&kari(), sms_to(uk)).await,
        Err(Error::Policy(PolicyError::CountryNotAllowed {
            country_code: 44
        }))
    ));
    assert!(
        w.sms.sent().is_empty(),
        "nothing is sent to a refused country"
    );
    assert!(w.mfa.methods(&kari()).await.unwrap().is_empty());

    let swedish = PhoneNumber::parse("+46 70 123 45 67").unwrap();
    let pending = w
        .mfa
        .begin_enrollment(&kari(), sms_to(swedish))
        .await
        .unwrap();
    let notice = pending.cost_notice.unwrap();
    assert_eq!((notice.country_code, notice.home), (46, 47));
    assert!(notice.recommends_app());
    assert_eq!(w.sms.sent()[0].request.cost_notice, Some(notice));

    let home = w
        .mfa
        .begin_enrollment(&UserId::new("ola").unwrap(), sms_to(mobile()))
        .await
        .unwrap();
    assert_eq!(home.cost_notice, None);
}

#[tokio::test]
async fn premium_and_fixed_line_sms_are_refused_but_an_office_call_works() {
    let mut policy = Policy::default();
    policy.call_confirmation = CallConfirmation::PressKey;
    let w = world_with(policy);
    let user = kari();
    let premium = PhoneNumber::parse("+44 909 876 5432").unwrap();
    assert!(matches!(
        w.mfa.begin_enrollment(&user, sms_to(premium)).await,
        Err(Error::Policy(PolicyError::PremiumRate))
    ));
    let desk = PhoneNumber::parse("+47 22 12 34 56").unwrap();
    assert!(matches!(
        w.mfa.begin_enrollment(&user, sms_to(desk.clone())).await,
        Err(Error::Policy(PolicyError::NotSmsCapable))
    ));
    w.voice.answer_calls_with(Some(CallOutcome::Confirmed));
    let office = Method::OfficePhone {
        number: desk,
        extension: Some(Extension::parse("1234").unwrap()),
    };
    let pending = w.mfa.begin_enrollment(&user, office).await.unwrap();
    assert_eq!(
        w.mfa
            .challenge_status(&user, &pending.challenge_id)
            .await
            .unwrap(),
        ChallengeStatus::Approved
    );
    let call = &w.voice.sent()[0].request;
    assert_eq!(
        call.destination.extension.as_ref().unwrap().as_str(),
        "1234"
    );
    assert!(call.code().is_none(), "a press-# call carries no code");
    w.mfa.complete(&user, &pending.challenge_id).await.unwrap();
}

#[tokio::test]
async fn a_failed_first_send_cancels_and_a_failed_resend_keeps_the_challenge() {
    let w = world();
    let user = kari();
    w.sms.fail_next(DeliveryError::transient("gateway timeout"));
    match w.mfa.begin_enrollment(&user, sms_to(mobile())).await {
        Err(Error::Delivery(e)) => {
            assert!(e.is_transient());
            assert_eq!(e.kind(), DeliveryErrorKind::Transient);
        }
        other => panic!("expected a delivery error, got {other:?}"),
    }
    let pending = w
        .mfa
        .begin_enrollment(&user, sms_to(mobile()))
        .await
        .unwrap();
    w.clock.advance(secs(30));
    w.sms.fail_next(DeliveryError::permanent("blocked"));
    let err = w
        .mfa
        .resend(&user, &pending.challenge_id)
        .await
        .unwrap_err();
    assert!(!err.is_transient());
    assert_eq!(
        w.mfa
            .challenge_status(&user, &pending.challenge_id)
            .await
            .unwrap(),
        ChallengeStatus::AwaitingCode
    );
    assert!(w.events.events().iter().any(|e| matches!(
        e,
        Event::DeliveryFailed {
            transient: false,
            ..
        }
    )));
}

#[tokio::test]
async fn malformed_codes_are_input_errors_and_cost_no_attempt() {
    let w = world();
    let user = kari();
    let pending = w
        .mfa
        .begin_enrollment(&user, sms_to(mobile()))
        .await
        .unwrap();
    for bad in [
        "",
        "abcdef",
        "12345",
        "1234567",
        "١٢٣٤٥٦",
        &"9".repeat(100_000),
        "12\u{0}456",
    ] {
        assert!(
            matches!(
                w.mfa.verify(&user, &pending.challenge_id, bad).await,
                Err(Error::Input(_))
            ),
            "{bad:?}"
        );
    }
    let code = w.sms.last_code_to(&mobile()).unwrap();
    let dashed = format!("{}-{}", &code.expose()[..3], &code.expose()[3..]);
    assert!(
        (w.mfa
            .verify(&user, &pending.challenge_id, &dashed)
            .await
            .unwrap())
        .is_approved()
    );
    let unknown = mfa_core::ChallengeId::parse("no-such-challenge").unwrap();
    assert!(matches!(
        w.mfa.verify(&user, &unknown, "123456").await,
        Err(Error::NotFound(_))
    ));
}

#[tokio::test]
async fn bad_user_and_number_input_gets_typed_errors() {
    assert_eq!(UserId::username(""), Err(InputError::EmptyUserId));
    assert!(matches!(
        UserId::username("kari"),
        Err(InputError::UsernameForm(_))
    ));
    assert!(UserId::username(&"a".repeat(1_000_000)).is_err());
    assert!(UserId::new(String::from_utf8_lossy(&[0xff, 0xfe, 0x00])).is_err());
    assert_eq!(
        PhoneNumber::parse("412 34 567"),
        Err(InputError::MissingCountryCode)
    );
    assert!(PhoneNumber::from_parts(47, "").is_err());
    assert!(PhoneNumber::from_parts(47, &"4".repeat(10_000)).is_err());
}

#[tokio::test]
async fn enrolling_a_second_method_needs_recent_reauthentication() {
    let w = world();
    let user = kari();
    enroll_by_sms(&w, &user).await;
    let desk = PhoneNumber::parse("+47 22 12 34 56").unwrap();
    let office = Method::OfficePhone {
        number: desk,
        extension: None,
    };
    assert!(matches!(
        w.mfa.begin_enrollment(&user, office.clone()).await,
        Err(Error::Policy(PolicyError::ReauthenticationRequired))
    ));
    let proof = sign_in(&w, &user).await;
    // Someone else's proof does not count, for a user with no record nor for one
    // enrolled beside her.
    let other = UserId::new("ola").unwrap();
    assert!(
        w.mfa
            .add_method(&other, office.clone(), &proof)
            .await
            .is_err()
    );
    let enrolled = UserId::new("nils").unwrap();
    support::enroll_by_sms(
        &w,
        &enrolled,
        &PhoneNumber::parse("+47 412 00 001").unwrap(),
    )
    .await;
    assert!(matches!(
        w.mfa.add_method(&enrolled, office.clone(), &proof).await,
        Err(Error::Policy(PolicyError::ReauthenticationRequired))
    ));
    w.clock.advance(secs(601));
    assert!(matches!(
        w.mfa.add_method(&user, office.clone(), &proof).await,
        Err(Error::Policy(PolicyError::ReauthenticationRequired))
    ));
    let proof = sign_in(&w, &user).await;
    w.voice.answer_calls_with(Some(CallOutcome::Confirmed));
    let pending = w.mfa.add_method(&user, office, &proof).await.unwrap();
    let added = w
        .mfa
        .complete(&user, &pending.challenge_id)
        .await
        .unwrap()
        .method;
    assert!(
        !added.is_default,
        "a second method does not take over the default"
    );
    w.mfa.set_default(&user, &added.id, &proof).await.unwrap();
    match w.mfa.status(&user).await.unwrap() {
        Status::Enrolled { default, methods } => {
            assert_eq!(default.id, added.id);
            assert_eq!(methods, 2);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn the_last_method_cannot_be_removed_but_others_can() {
    let w = world();
    let user = kari();
    enroll_by_sms(&w, &user).await;
    let proof = sign_in(&w, &user).await;
    let sms_id = w.mfa.methods(&user).await.unwrap()[0].id.clone();
    assert!(matches!(
        w.mfa.remove_method(&user, &sms_id, &proof).await,
        Err(Error::Policy(PolicyError::LastMethod))
    ));
    w.voice.answer_calls_with(Some(CallOutcome::Confirmed));
    let office = Method::OfficePhone {
        number: PhoneNumber::parse("+47 22 12 34 56").unwrap(),
        extension: None,
    };
    let pending = w.mfa.add_method(&user, office, &proof).await.unwrap();
    let office_id = w
        .mfa
        .complete(&user, &pending.challenge_id)
        .await
        .unwrap()
        .method
        .id;
    w.mfa.remove_method(&user, &sms_id, &proof).await.unwrap();
    let left = w.mfa.methods(&user).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].id, office_id);
    assert!(
        left[0].is_default,
        "the default passes to the remaining method"
    );
}

#[tokio::test]
async fn a_method_is_renamed_with_a_proof_to_a_name_no_other_method_has() {
    let w = world();
    let user = kari();
    enroll_by_sms(&w, &user).await;
    let sms_id = w.mfa.methods(&user).await.unwrap()[0].id.clone();
    let stale = sign_in(&w, &user).await;
    w.clock.advance(secs(601));
    assert!(matches!(
        w.mfa
            .rename_method(&user, &sms_id, "Kari's phone", &stale)
            .await,
        Err(Error::Policy(PolicyError::ReauthenticationRequired))
    ));
    let proof = sign_in(&w, &user).await;
    w.mfa
        .rename_method(&user, &sms_id, "  Kari's phone ", &proof)
        .await
        .unwrap();
    let renamed = &w.mfa.methods(&user).await.unwrap()[0];
    assert_eq!(renamed.name.as_ref().unwrap().as_str(), "Kari's phone");

    // A second method may not take the name, in any case; a bad name is typed.
    w.voice.answer_calls_with(Some(CallOutcome::Confirmed));
    let office = Method::OfficePhone {
        number: PhoneNumber::parse("+47 22 12 34 56").unwrap(),
        extension: None,
    };
    let pending = w.mfa.add_method(&user, office, &proof).await.unwrap();
    let office_id = w
        .mfa
        .complete(&user, &pending.challenge_id)
        .await
        .unwrap()
        .method
        .id;
    assert!(matches!(
        w.mfa
            .rename_method(&user, &office_id, "KARI'S PHONE", &proof)
            .await,
        Err(Error::Policy(PolicyError::NameTaken))
    ));
    for bad in [
        "",
        "   ",
        "a\u{202e}b",
        &"x".repeat(65),
        &"y".repeat(100_000),
    ] {
        assert!(matches!(
            w.mfa.rename_method(&user, &office_id, bad, &proof).await,
            Err(Error::Input(InputError::InvalidMethodName))
        ));
    }
    // Renaming a method to its own name again is fine; an unknown id is not found.
    w.mfa
        .rename_method(&user, &sms_id, "kari's phone", &proof)
        .await
        .unwrap();
    let unknown = mfa_core::MethodId::parse("m-unknown").unwrap();
    assert!(matches!(
        w.mfa.rename_method(&user, &unknown, "Desk", &proof).await,
        Err(Error::NotFound(_))
    ));
    w.mfa
        .rename_method(&user, &office_id, "Desk", &proof)
        .await
        .unwrap();

    // The event names the method, never the name (names may be personal).
    let events = w.events.events();
    let renamed: Vec<_> = events
        .iter()
        .filter(|e| matches!(e, Event::MethodRenamed { .. }))
        .collect();
    assert_eq!(renamed.len(), 3, "{events:?}");
    assert!(matches!(
        renamed[2],
        Event::MethodRenamed { method_id, method: MethodKind::OfficePhone, .. } if *method_id == office_id
    ));
    let shown = format!("{events:?}");
    assert!(
        !shown.contains("Kari's") && !shown.contains("Desk"),
        "{shown}"
    );
}

#[tokio::test]
async fn changing_the_number_verifies_the_new_one_and_replaces_the_old() {
    let w = world();
    let user = kari();
    enroll_by_sms(&w, &user).await;
    let proof = sign_in(&w, &user).await;
    let old_id = w.mfa.methods(&user).await.unwrap()[0].id.clone();
    let new_number = PhoneNumber::from_parts(47, "934 56 789").unwrap();
    let pending = w
        .mfa
        .change_phone_number(&user, &old_id, sms_to(new_number.clone()), &proof)
        .await
        .unwrap();
    // Until verified, the old number still signs in.
    assert_eq!(w.mfa.methods(&user).await.unwrap().len(), 2);
    let code = w.sms.last_code_to(&new_number).unwrap();
    w.mfa
        .verify(&user, &pending.challenge_id, code.expose())
        .await
        .unwrap();
    let new_method = w
        .mfa
        .complete(&user, &pending.challenge_id)
        .await
        .unwrap()
        .method;
    let methods = w.mfa.methods(&user).await.unwrap();
    assert_eq!(methods.len(), 1);
    assert_eq!(methods[0].id, new_method.id);
    assert!(methods[0].is_default);
    assert!(
        w.events
            .events()
            .iter()
            .any(|e| matches!(e, Event::PhoneNumberChanged { .. }))
    );
}

#[tokio::test]
async fn a_fraud_report_denies_the_challenge_and_blocks_the_method() {
    let w = world();
    let user = kari();
    w.voice.answer_calls_with(Some(CallOutcome::Confirmed));
    let office = Method::OfficePhone {
        number: PhoneNumber::parse("+47 22 12 34 56").unwrap(),
        extension: None,
    };
    let pending = w.mfa.begin_enrollment(&user, office).await.unwrap();
    w.mfa.complete(&user, &pending.challenge_id).await.unwrap();
    w.voice.answer_calls_with(None);
    let signin = w.mfa.challenge(&user).await.unwrap();
    assert_eq!(
        signin.waiting_for,
        ChallengeStatus::AwaitingCallConfirmation
    );
    assert_eq!(
        w.mfa
            .report_call(&user, &signin.challenge_id, CallOutcome::FraudReported)
            .await
            .unwrap(),
        Verification::Denied
    );
    assert_eq!(
        w.mfa
            .report_call(&user, &signin.challenge_id, CallOutcome::Confirmed)
            .await
            .unwrap(),
        Verification::Denied,
        "a denied challenge stays denied"
    );
    assert!(
        w.events
            .events()
            .iter()
            .any(|e| matches!(e, Event::FraudReported { .. }))
    );
    assert_eq!(
        w.mfa.methods(&user).await.unwrap()[0].status,
        MethodStatus::Blocked
    );
    assert!(
        matches!(
            w.mfa.status(&user).await.unwrap(),
            Status::Suspended { default: None, .. }
        ),
        "a fraud report suspends the user; it never makes them look unenrolled"
    );
}

#[tokio::test]
async fn a_read_out_call_carries_a_code_to_type() {
    let mut policy = Policy::default();
    policy.call_confirmation = CallConfirmation::ReadCode;
    let w = world_with(policy);
    let user = kari();
    let method = Method::AuthenticationPhone {
        number: mobile(),
        mode: PhoneMode::Call,
    };
    let pending = w.mfa.begin_enrollment(&user, method).await.unwrap();
    assert_eq!(pending.waiting_for, ChallengeStatus::AwaitingCode);
    let code = w.voice.last_code_to(&mobile()).unwrap();
    assert!(
        (w.mfa
            .verify(&user, &pending.challenge_id, code.expose())
            .await
            .unwrap())
        .is_approved()
    );
}

#[tokio::test]
async fn cancel_drops_the_pending_method() {
    let w = world();
    let user = kari();
    let pending = w
        .mfa
        .begin_enrollment(&user, sms_to(mobile()))
        .await
        .unwrap();
    assert_eq!(w.mfa.methods(&user).await.unwrap().len(), 1);
    w.mfa.cancel(&user, &pending.challenge_id).await.unwrap();
    assert!(w.mfa.methods(&user).await.unwrap().is_empty());
    let code = w.sms.last_code_to(&mobile()).unwrap();
    assert_eq!(
        w.mfa
            .verify(&user, &pending.challenge_id, code.expose())
            .await
            .unwrap(),
        Verification::Canceled,
        "the right code no longer approves a canceled challenge"
    );
    assert!(
        w.mfa.cancel(&user, &pending.challenge_id).await.is_err(),
        "canceled is final"
    );
}

#[tokio::test]
async fn recovery_codes_work_once_and_a_new_set_kills_the_old() {
    let w = world();
    let user = kari();
    enroll_by_sms(&w, &user).await;
    let forged = Proof::parse(&"0".repeat(32)).unwrap();
    assert!(matches!(
        w.mfa.regenerate_recovery_codes(&user, &forged).await,
        Err(Error::Policy(PolicyError::ReauthenticationRequired))
    ));
    let proof = sign_in(&w, &user).await;
    let codes = w
        .mfa
        .regenerate_recovery_codes(&user, &proof)
        .await
        .unwrap();
    assert_eq!(codes.len(), 10);
    let mut shown: Vec<String> = codes.iter().map(|c| c.expose()).collect();
    shown.sort();
    shown.dedup();
    assert_eq!(shown.len(), 10);

    let first = codes[0].expose();
    let signin = w
        .mfa
        .verify_recovery_code(&user, &first.to_lowercase())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(signin.remaining, 9);
    assert!((w.mfa.verify_recovery_code(&user, &first).await.unwrap()).is_none());
    // The recovery sign-in is proof enough to set up a new phone.
    let new_phone = PhoneNumber::from_parts(47, "934 56 789").unwrap();
    w.mfa
        .add_method(&user, sms_to(new_phone), &signin.proof)
        .await
        .unwrap();

    let fresh = w
        .mfa
        .regenerate_recovery_codes(&user, &signin.proof)
        .await
        .unwrap();
    assert!(
        (w.mfa
            .verify_recovery_code(&user, &codes[1].expose())
            .await
            .unwrap())
        .is_none()
    );
    assert!(
        w.mfa
            .verify_recovery_code(&user, &fresh[0].expose())
            .await
            .unwrap()
            .is_some()
    );
    assert!(matches!(
        w.mfa.verify_recovery_code(&user, "not a code").await,
        Err(Error::Input(InputError::InvalidRecoveryCode))
    ));
}

#[tokio::test]
async fn no_code_appears_in_events_or_debug_output() {
    let w = world();
    let user = kari();
    let pending = w
        .mfa
        .begin_enrollment(&user, sms_to(mobile()))
        .await
        .unwrap();
    let code = w.sms.last_code_to(&mobile()).unwrap();
    w.mfa
        .verify(&user, &pending.challenge_id, "000000")
        .await
        .ok();
    w.mfa
        .verify(&user, &pending.challenge_id, code.expose())
        .await
        .unwrap();
    w.mfa.complete(&user, &pending.challenge_id).await.unwrap();
    let shown = format!(
        "{:?} {:?} {:?} {:?} {:?}",
        w.events.events(),
        w.sms.sent(),
        pending,
        w.mfa,
        w.mfa.methods(&user).await.unwrap()
    );
    assert!(
        !shown.contains(code.expose()),
        "a code leaked into Debug output"
    );
    if let Some(at) = shown.find("41234567") {
        panic!(
            "the full number leaked into Debug output: {}",
            &shown[at.saturating_sub(200)..at + 20]
        );
    }
}

#[tokio::test]
async fn enrollment_without_a_configured_channel_is_refused_before_storing() {
    let mfa = Mfa::builder().build().unwrap();
    assert!(matches!(
        mfa.begin_enrollment(&kari(), sms_to(mobile())).await,
        Err(Error::NotConfigured(_))
    ));
    assert!(mfa.methods(&kari()).await.unwrap().is_empty());
    assert!(matches!(
        mfa.begin_enrollment(&kari(), Method::AuthenticatorApp)
            .await,
        Err(Error::NotConfigured(_))
    ));
}

#[test]
fn unsafe_policies_are_refused_at_build() {
    let mut policy = Policy::default();
    policy.code_lifetime = secs(11 * 60);
    assert!(matches!(
        Mfa::builder().policy(policy).build(),
        Err(Error::Input(InputError::InvalidSetting(_)))
    ));
}

#[tokio::test]
async fn an_unanswered_first_call_leaves_the_challenge_pending_for_a_new_call() {
    let w = world();
    let user = kari();
    let office = Method::OfficePhone {
        number: PhoneNumber::parse("+47 22 12 34 56").unwrap(),
        extension: None,
    };
    w.voice
        .fail_next(DeliveryError::new(DeliveryErrorKind::NoAnswer, "rang out"));
    let err = w.mfa.begin_enrollment(&user, office).await.unwrap_err();
    assert!(err.is_transient());
    let Error::CallNotCompleted {
        challenge_id,
        error,
    } = err
    else {
        panic!("expected CallNotCompleted, got {err:?}");
    };
    assert_eq!(error.kind(), DeliveryErrorKind::NoAnswer);
    assert_eq!(
        w.mfa.challenge_status(&user, &challenge_id).await.unwrap(),
        ChallengeStatus::AwaitingCallConfirmation
    );
    // Busy, hung up and silent calls leave their challenges pending too.
    for (i, kind) in [
        DeliveryErrorKind::Busy,
        DeliveryErrorKind::Declined,
        DeliveryErrorKind::Timeout,
    ]
    .into_iter()
    .enumerate()
    {
        let user = UserId::new(format!("caller{i}")).unwrap();
        let desk = Method::OfficePhone {
            number: PhoneNumber::parse(&format!("+47 22 12 34 6{i}")).unwrap(),
            extension: None,
        };
        w.voice.fail_next(DeliveryError::new(kind, "call ended"));
        match w.mfa.begin_enrollment(&user, desk).await {
            Err(Error::CallNotCompleted { challenge_id, .. }) => assert_eq!(
                w.mfa.challenge_status(&user, &challenge_id).await.unwrap(),
                ChallengeStatus::AwaitingCallConfirmation
            ),
            other => panic!("{kind:?}: {other:?}"),
        }
    }
    // A failure to place the call at all is not a call outcome: nothing stays pending.
    w.voice.fail_next(DeliveryError::transient("trunk down"));
    let other = UserId::new("ola").unwrap();
    let office = Method::OfficePhone {
        number: PhoneNumber::parse("+47 22 12 34 57").unwrap(),
        extension: None,
    };
    assert!(matches!(
        w.mfa.begin_enrollment(&other, office).await,
        Err(Error::Delivery(_))
    ));
    // The first user is called again and presses #.
    w.clock.advance(secs(30));
    w.voice.answer_calls_with(Some(CallOutcome::Confirmed));
    let pending = w.mfa.resend(&user, &challenge_id).await.unwrap();
    assert_eq!(pending.waiting_for, ChallengeStatus::Approved);
}

#[tokio::test]
async fn a_call_that_ends_without_an_outcome_leaves_the_challenge_pending_and_says_why() {
    let w = world();
    let user = kari();
    let office = Method::OfficePhone {
        number: PhoneNumber::parse("+47 22 12 34 56").unwrap(),
        extension: None,
    };
    let pending = w.mfa.begin_enrollment(&user, office).await.unwrap();
    let no_answer = DeliveryError::new(DeliveryErrorKind::NoAnswer, "the call was not answered");
    w.mfa
        .report_call_ended(&user, &pending.challenge_id, &no_answer)
        .await
        .unwrap();
    assert_eq!(
        w.mfa
            .challenge_status(&user, &pending.challenge_id)
            .await
            .unwrap(),
        ChallengeStatus::AwaitingCallConfirmation
    );
    assert!(w.events.events().iter().any(|e| matches!(
        e,
        Event::CallEnded { user: u, challenge_id, reason: DeliveryErrorKind::NoAnswer, .. }
            if u == &user && challenge_id == &pending.challenge_id
    )));
    // Another user's challenge is not found, and says nothing.
    let mallory = UserId::username("mallory@example.no").unwrap();
    let before = w.events.events().len();
    assert!(matches!(
        w.mfa
            .report_call_ended(&mallory, &pending.challenge_id, &no_answer)
            .await,
        Err(Error::NotFound(_))
    ));
    assert_eq!(w.events.events().len(), before);
    // The challenge still takes the key afterwards.
    assert!(matches!(
        w.mfa
            .report_call(&user, &pending.challenge_id, CallOutcome::Confirmed)
            .await
            .unwrap(),
        Verification::Approved(_)
    ));
}

#[tokio::test]
async fn number_matching_calls_carry_the_number_the_page_shows_and_a_wrong_one_denies() {
    let mut policy = Policy::default();
    policy.call_confirmation = CallConfirmation::MatchNumber;
    let w = world_with(policy);
    let user = kari();
    let office = Method::OfficePhone {
        number: PhoneNumber::parse("+47 22 12 34 56").unwrap(),
        extension: None,
    };
    let pending = w.mfa.begin_enrollment(&user, office).await.unwrap();
    let shown = pending.match_number.expect("the page shows a number");
    let sent = w.voice.sent();
    assert_eq!(
        sent.last().unwrap().request.content,
        mfa_core::Content::MatchNumber(shown)
    );
    assert!(!format!("{pending:?}").contains(&format!("({shown})")));
    // The callee keyed in the right number.
    assert!(matches!(
        w.mfa
            .report_call(&user, &pending.challenge_id, CallOutcome::Confirmed)
            .await
            .unwrap(),
        Verification::Approved(_)
    ));
    w.mfa.complete(&user, &pending.challenge_id).await.unwrap();

    // A sign-in: a resend calls with a new number, which the page shows instead.
    let sign_in = w.mfa.challenge(&user).await.unwrap();
    assert!(sign_in.match_number.is_some());
    w.clock.advance(Duration::from_secs(60));
    let again = w.mfa.resend(&user, &sign_in.challenge_id).await.unwrap();
    let shown = again.match_number.unwrap();
    assert_eq!(
        w.voice.sent().last().unwrap().request.content,
        mfa_core::Content::MatchNumber(shown)
    );
    let failed_before = w
        .events
        .events()
        .iter()
        .filter(|e| matches!(e, Event::CheckFailed { .. }))
        .count();
    // A wrong number denies the sign-in and counts as a failure.
    assert_eq!(
        w.mfa
            .report_call(&user, &sign_in.challenge_id, CallOutcome::WrongNumber)
            .await
            .unwrap(),
        Verification::Denied
    );
    assert_eq!(
        w.mfa
            .challenge_status(&user, &sign_in.challenge_id)
            .await
            .unwrap(),
        ChallengeStatus::Denied
    );
    let failed: Vec<_> = w
        .events
        .events()
        .into_iter()
        .filter(|e| matches!(e, Event::CheckFailed { .. }))
        .collect();
    assert_eq!(failed.len(), failed_before + 1);
    // A later `#` cannot revive it, and the method is not blocked (no fraud report).
    assert_eq!(
        w.mfa
            .report_call(&user, &sign_in.challenge_id, CallOutcome::Confirmed)
            .await
            .unwrap(),
        Verification::Denied
    );
    assert_eq!(
        w.mfa.methods(&user).await.unwrap()[0].status,
        MethodStatus::Active
    );
    // SMS and app challenges show no number.
    let policy = {
        let mut p = Policy::default();
        p.call_confirmation = CallConfirmation::MatchNumber;
        p
    };
    let w = world_with(policy);
    let sms = w
        .mfa
        .begin_enrollment(
            &user,
            Method::AuthenticationPhone {
                number: mobile(),
                mode: PhoneMode::Sms,
            },
        )
        .await
        .unwrap();
    assert_eq!(sms.match_number, None);
}

#[tokio::test]
async fn wrong_numbers_add_up_to_the_lockout() {
    let mut policy = Policy::default();
    policy.call_confirmation = CallConfirmation::MatchNumber;
    // Room for many calls, so the lockout (not a send limit) is what stops them.
    policy.send_limits.per_destination.max = 100;
    policy.send_limits.per_user.max = 100;
    let w = world_with(policy);
    let user = kari();
    let office = Method::OfficePhone {
        number: PhoneNumber::parse("+47 22 12 34 56").unwrap(),
        extension: None,
    };
    let pending = w.mfa.begin_enrollment(&user, office).await.unwrap();
    w.mfa
        .report_call(&user, &pending.challenge_id, CallOutcome::Confirmed)
        .await
        .unwrap();
    w.mfa.complete(&user, &pending.challenge_id).await.unwrap();
    // Each wrong number is one more consecutive failure: soon a delay stops new sign-ins.
    let mut refused = None;
    for _ in 0..20 {
        match w.mfa.challenge(&user).await {
            Ok(sign_in) => {
                w.mfa
                    .report_call(&user, &sign_in.challenge_id, CallOutcome::WrongNumber)
                    .await
                    .unwrap();
            }
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    assert!(
        matches!(refused, Some(Error::Policy(PolicyError::UserLocked { .. }))),
        "{refused:?}"
    );
}

#[tokio::test]
async fn phone_methods_carry_the_risk_notice_and_the_app_is_offered_first() {
    // This world has SMS and calls but no app verifier.
    let w = world();
    assert_eq!(
        w.mfa.offered_methods(),
        [MethodKind::AuthenticationPhone, MethodKind::OfficePhone]
    );
    let pending = w
        .mfa
        .begin_enrollment(&kari(), sms_to(mobile()))
        .await
        .unwrap();
    let notice = pending
        .risk_notice
        .expect("a phone method is told its risk");
    assert!(!notice.app_offered);
    assert!(notice.message().contains("intercepted"));
    assert!(!notice.message().contains("app"), "no app to point to here");

    // With an app verifier the app comes first and the notice points to it.
    let with_app = Mfa::builder()
        .sms(MemoryDelivery::new())
        .app(AnyCodeApp)
        .build()
        .unwrap();
    assert_eq!(
        with_app.offered_methods(),
        [
            MethodKind::AuthenticatorApp,
            MethodKind::AuthenticationPhone
        ]
    );
    let phone = with_app
        .begin_enrollment(&kari(), sms_to(mobile()))
        .await
        .unwrap();
    assert!(
        phone
            .risk_notice
            .unwrap()
            .message()
            .contains("authenticator app is safer")
    );
    let app = with_app
        .begin_enrollment(
            &UserId::new("ola@example.no").unwrap(),
            Method::AuthenticatorApp,
        )
        .await
        .unwrap();
    assert_eq!(app.risk_notice, None);
}

/// An app verifier that provisions a fixed key and accepts nothing.
#[derive(Debug)]
struct AnyCodeApp;

impl mfa_core::AppVerifier for AnyCodeApp {
    fn provision(
        &self,
        _issuer: &str,
        _account: &str,
        _rng: &dyn mfa_core::Randomness,
    ) -> Result<mfa_core::AppProvisioning, InputError> {
        Ok(mfa_core::AppProvisioning {
            credential: mfa_core::AppCredential {
                secret: mfa_core::SecretBytes::new(vec![7; 20]),
                parameters: "test".to_owned(),
            },
            uri: "otpauth://totp/test".to_owned(),
            manual_entry_key: "AEAQ".to_owned(),
        })
    }

    fn verify(
        &self,
        _credential: &mfa_core::AppCredential,
        _code: &mfa_core::OneTimeCode,
        _now: Timestamp,
        _after_step: Option<u64>,
    ) -> Result<Option<mfa_core::AppMatch>, InputError> {
        Ok(None)
    }
}
