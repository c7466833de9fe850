//! Delivery reports in the journey: a report becomes an event with the provider's id
//! and the latency, and an SMS that will not arrive offers a call to the same number
//! or the authenticator app, within the same challenge and its attempt count.
#![cfg(feature = "totp")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use mfa::Clock as _;
use mfa::totp::{KeyUri, Totp};
use mfa::{
    Channel, DeliveryReport, Error, Event, ManualClock, MemoryDelivery, MemoryEvents, Method,
    MethodId, Mfa, NextStep, PhoneMode, PhoneNumber, PolicyError, ProviderCode, ReportStatus,
    UserId, Verification,
};

struct World {
    mfa: Mfa,
    clock: ManualClock,
    sms: MemoryDelivery,
    voice: MemoryDelivery,
    events: MemoryEvents,
    user: UserId,
    number: PhoneNumber,
    app: Option<(MethodId, KeyUri)>,
}

async fn world(with_app: bool) -> World {
    let clock = support::clock();
    let sms = support::phone_on(&clock);
    let voice = support::phone_on(&clock);
    let events = MemoryEvents::new();
    let mfa = Mfa::builder()
        .clock(clock.clone())
        .sms(sms.clone())
        .voice(voice.clone())
        .app(Totp::default())
        .events(events.clone())
        .build()
        .unwrap();
    let user = support::kari();
    let number = support::kari_phone();
    let done = support::enroll_by_sms(&mfa, &sms, &user, &number).await;
    let mut app = None;
    if with_app {
        let pending = mfa
            .add_method(&user, Method::AuthenticatorApp, &done.proof)
            .await
            .unwrap();
        let uri = KeyUri::parse(&pending.app.unwrap().uri).unwrap();
        let code = Totp::default().generate(&uri.secret, clock.now()).unwrap();
        mfa.verify(&user, &pending.challenge_id, code.expose())
            .await
            .unwrap();
        let method = mfa
            .complete(&user, &pending.challenge_id)
            .await
            .unwrap()
            .method;
        app = Some((method.id, uri));
    }
    clock.advance(Duration::from_secs(60));
    World {
        mfa,
        clock,
        sms,
        voice,
        events,
        user,
        number,
        app,
    }
}

fn undelivered() -> DeliveryReport {
    DeliveryReport::new(
        "SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        ReportStatus::Undelivered,
    )
    .with_provider_code(ProviderCode::new("twilio", 30003))
}

#[tokio::test]
async fn an_undelivered_sms_falls_back_to_a_call_in_the_same_challenge() {
    let w = world(false).await;
    let sign_in = w.mfa.challenge(&w.user).await.unwrap();
    let sms_code = w.sms.last_code_to(&w.number).unwrap();
    // One wrong attempt before the report: it still counts afterwards.
    let wrong = if sms_code.expose() == "000000" {
        "111111"
    } else {
        "000000"
    };
    w.mfa
        .verify(&w.user, &sign_in.challenge_id, wrong)
        .await
        .unwrap();

    w.clock.advance(Duration::from_secs(4));
    let answer = w
        .mfa
        .report_delivery(&w.user, &sign_in.challenge_id, &undelivered())
        .await
        .unwrap();
    assert_eq!(answer.latency, Some(Duration::from_secs(4)));
    assert_eq!(answer.next, vec![NextStep::Call]);
    let reported = w.events.events().into_iter().find_map(|e| match e {
        Event::DeliveryReported {
            message_id,
            status,
            provider_code,
            latency,
            ..
        } => Some((message_id, status, provider_code, latency)),
        _ => None,
    });
    assert_eq!(
        reported,
        Some((
            "SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".to_owned(),
            ReportStatus::Undelivered,
            Some(30003),
            Some(Duration::from_secs(4))
        ))
    );

    // At once, without waiting out the resend cooldown.
    let call = w
        .mfa
        .fall_back(&w.user, &sign_in.challenge_id, &NextStep::Call)
        .await
        .unwrap();
    assert_eq!(call.challenge_id, sign_in.challenge_id);
    assert_eq!(call.attempts_left, sign_in.attempts_left - 1);
    let placed = w.voice.sent();
    assert_eq!(placed.len(), 1);
    assert_eq!(placed[0].request.channel, Channel::Voice);
    assert_eq!(placed[0].request.challenge_id, sign_in.challenge_id);
    let read_out = placed[0].request.code().unwrap().clone();

    // The SMS code died with the fallback; the code read out passes.
    if sms_code != read_out {
        let old = w
            .mfa
            .verify(&w.user, &sign_in.challenge_id, sms_code.expose())
            .await
            .unwrap();
        assert_eq!(
            old,
            Verification::Rejected {
                attempts_left: sign_in.attempts_left - 2
            }
        );
    }
    let passed = w
        .mfa
        .verify(&w.user, &sign_in.challenge_id, read_out.expose())
        .await
        .unwrap();
    assert!(passed.proof().is_some());
}

#[tokio::test]
async fn a_call_without_an_undelivered_report_waits_out_the_cooldown() {
    let w = world(false).await;
    let sign_in = w.mfa.challenge(&w.user).await.unwrap();
    let refused = w
        .mfa
        .fall_back(&w.user, &sign_in.challenge_id, &NextStep::Call)
        .await
        .unwrap_err();
    assert!(matches!(
        refused,
        Error::Policy(PolicyError::ResendTooSoon { .. })
    ));
    assert!(w.voice.sent().is_empty());
    // A delivered report offers nothing and changes nothing.
    let delivered = DeliveryReport::new("SMbbbb", ReportStatus::Delivered);
    let answer = w
        .mfa
        .report_delivery(&w.user, &sign_in.challenge_id, &delivered)
        .await
        .unwrap();
    assert!(answer.next.is_empty());
    assert!(
        w.mfa
            .fall_back(&w.user, &sign_in.challenge_id, &NextStep::Call)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn an_undelivered_sign_in_sms_offers_the_app() {
    let w = world(true).await;
    let (app_id, uri) = w.app.clone().unwrap();
    let sign_in = w.mfa.challenge(&w.user).await.unwrap();
    let sms_code = w.sms.last_code_to(&w.number).unwrap();
    let answer = w
        .mfa
        .report_delivery(&w.user, &sign_in.challenge_id, &undelivered())
        .await
        .unwrap();
    let app = NextStep::App {
        method_id: app_id.clone(),
    };
    assert_eq!(answer.next, vec![NextStep::Call, app.clone()]);

    let pending = w
        .mfa
        .fall_back(&w.user, &sign_in.challenge_id, &app)
        .await
        .unwrap();
    assert_eq!(pending.challenge_id, sign_in.challenge_id);
    assert_eq!(pending.method_id, app_id);
    assert_eq!(pending.method, Method::AuthenticatorApp);
    // The SMS code no longer answers; the app's code does.
    let old = w
        .mfa
        .verify(&w.user, &sign_in.challenge_id, sms_code.expose())
        .await
        .unwrap();
    assert!(!old.is_approved());
    w.clock.advance(Duration::from_secs(30));
    let code = Totp::default()
        .generate(&uri.secret, w.clock.now())
        .unwrap();
    let passed = w
        .mfa
        .verify(&w.user, &sign_in.challenge_id, code.expose())
        .await
        .unwrap();
    assert!(passed.proof().is_some());
}

#[tokio::test]
async fn an_enrollment_is_not_offered_another_method() {
    let w = world(true).await;
    let (_, _) = w.app.clone().unwrap();
    let other = PhoneNumber::parse("+47 412 34 568").unwrap();
    let sign_in = w.mfa.challenge(&w.user).await.unwrap();
    let code = w.sms.last_code_to(&w.number).unwrap();
    let proof = w
        .mfa
        .verify(&w.user, &sign_in.challenge_id, code.expose())
        .await
        .unwrap()
        .proof()
        .unwrap()
        .clone();
    let enrolling = w
        .mfa
        .add_method(
            &w.user,
            Method::AuthenticationPhone {
                number: other,
                mode: PhoneMode::Sms,
            },
            &proof,
        )
        .await
        .unwrap();
    let answer = w
        .mfa
        .report_delivery(&w.user, &enrolling.challenge_id, &undelivered())
        .await
        .unwrap();
    // The new number can still be proven by a call, but not by the app.
    assert_eq!(answer.next, vec![NextStep::Call]);
    let app = NextStep::App {
        method_id: w.app.clone().unwrap().0,
    };
    assert!(
        w.mfa
            .fall_back(&w.user, &enrolling.challenge_id, &app)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_report_for_another_users_challenge_is_unknown() {
    let w = world(false).await;
    let sign_in = w.mfa.challenge(&w.user).await.unwrap();
    let mallory = UserId::username("mallory@example.no").unwrap();
    let refused = w
        .mfa
        .report_delivery(&mallory, &sign_in.challenge_id, &undelivered())
        .await
        .unwrap_err();
    assert!(matches!(refused, Error::NotFound(_)));
}
