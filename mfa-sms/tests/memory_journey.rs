//! The guide's journey on the memory backend: how an application's own integration
//! tests drive `mfa_core::Mfa` with SMS codes.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use mfa_core::{
    ChallengeStatus, Delivery, DeliveryError, DeliveryErrorKind, Error, ManualClock, Method, Mfa,
    PhoneMode, PhoneNumber, Policy, PolicyError, Purpose, Status, Timestamp, UserId, Verification,
};
use mfa_sms::{MemorySms, Messages, SmsDelivery};

struct World {
    clock: ManualClock,
    phone: MemorySms,
    mfa: Mfa,
    user: UserId,
    number: PhoneNumber,
}

fn world(messages: Messages) -> World {
    let clock = ManualClock::new(Timestamp::from_unix_secs(1_800_000_000));
    let phone = MemorySms::with_clock(Arc::new(clock.clone()));
    let mut policy = Policy::default();
    policy.app_name = "Contoso".into();
    let mfa = Mfa::builder()
        .clock(clock.clone())
        .policy(policy)
        .sms(SmsDelivery::new(phone.clone()).with_messages(messages))
        .build()
        .unwrap();
    World {
        clock,
        phone,
        mfa,
        user: UserId::new("ada@contoso.com").unwrap(),
        number: PhoneNumber::from_parts(47, "412 34 567").unwrap(),
    }
}

fn sms_method(number: &PhoneNumber) -> Method {
    Method::AuthenticationPhone {
        number: number.clone(),
        mode: PhoneMode::Sms,
    }
}

#[tokio::test]
async fn late_sms_resend_new_code_works_old_code_rejected_then_sign_in() {
    let w = world(Messages::new());
    assert_eq!(
        w.mfa.status(&w.user).await.unwrap(),
        Status::EnrollmentRequired
    );

    // "Send me an SMS": the operator is slow today.
    w.phone.delay_next(Duration::from_secs(120));
    let pending = w
        .mfa
        .begin_enrollment(&w.user, sms_method(&w.number))
        .await
        .unwrap();
    assert_eq!(pending.waiting_for, ChallengeStatus::AwaitingCode);
    assert_eq!(w.phone.sent().len(), 1);
    assert!(
        w.phone.last_code_to(&w.number).is_none(),
        "nothing has arrived yet"
    );

    // "If it takes more than a minute: Cancel, then Next": a new code after the cooldown.
    w.clock.advance(Duration::from_secs(10));
    assert!(matches!(
        w.mfa.resend(&w.user, &pending.challenge_id).await,
        Err(Error::Policy(PolicyError::ResendTooSoon { .. }))
    ));
    w.clock.advance(Duration::from_secs(50));
    let again = w.mfa.resend(&w.user, &pending.challenge_id).await.unwrap();
    assert_eq!(again.challenge_id, pending.challenge_id);
    let new_code = w.phone.last_code_to(&w.number).unwrap();
    let text = w.phone.last_text_to(&w.number).unwrap();
    assert_eq!(
        text,
        format!(
            "{} is your Contoso verification code. It expires in 5 min.",
            new_code.expose()
        )
    );

    // The late first message arrives after all; its code is dead.
    w.clock.advance(Duration::from_secs(70));
    let inbox = w.phone.inbox(&w.number);
    assert_eq!(inbox.len(), 2);
    let old_code = inbox.last().unwrap().code.clone().unwrap();
    assert_ne!(old_code.expose(), new_code.expose());
    assert_eq!(
        w.mfa
            .verify(&w.user, &pending.challenge_id, old_code.expose())
            .await
            .unwrap(),
        Verification::Rejected { attempts_left: 4 }
    );
    // An enrollment's approval carries no proof: `complete` makes it.
    let approved = w
        .mfa
        .verify(&w.user, &pending.challenge_id, new_code.expose())
        .await
        .unwrap();
    assert!(
        matches!(
            &approved,
            Verification::Approved(a) if a.purpose == Purpose::Enrollment && a.proof.is_none()
        ),
        "{approved:?}"
    );
    w.mfa
        .complete(&w.user, &pending.challenge_id)
        .await
        .unwrap();
    assert!(matches!(
        w.mfa.status(&w.user).await.unwrap(),
        Status::Enrolled { methods: 1, .. }
    ));

    // From now on every sign-in sends an SMS.
    w.clock.advance(Duration::from_secs(3600));
    let sign_in = w.mfa.challenge(&w.user).await.unwrap();
    let code = w.phone.last_code_to(&w.number).unwrap();
    assert_ne!(code.expose(), new_code.expose());
    let signed_in = w
        .mfa
        .verify(&w.user, &sign_in.challenge_id, code.expose())
        .await
        .unwrap();
    assert!(signed_in.is_approved(), "{signed_in:?}");
    assert!(signed_in.proof().is_some(), "a sign-in carries its proof");
    // A code is accepted once.
    assert_eq!(
        w.mfa
            .verify(&w.user, &sign_in.challenge_id, code.expose())
            .await
            .unwrap(),
        Verification::AlreadyUsed
    );
}

#[tokio::test]
async fn norwegian_users_get_norwegian_texts_with_autofill_line() {
    let clock = ManualClock::new(Timestamp::from_unix_secs(1_800_000_000));
    let phone = MemorySms::with_clock(Arc::new(clock.clone()));
    let mut policy = Policy::default();
    policy.locale = "nb".into();
    policy.app_name = "Altinn".into();
    let messages = Messages::new()
        .do_not_share(true)
        .bind_to_domain("login.example.no")
        .unwrap();
    let mfa = Mfa::builder()
        .clock(clock)
        .policy(policy)
        .sms(SmsDelivery::new(phone.clone()).with_messages(messages))
        .build()
        .unwrap();
    let number = PhoneNumber::parse("+47 412 34 567").unwrap();
    let user = UserId::new("kari@example.no").unwrap();
    let pending = mfa
        .begin_enrollment(&user, sms_method(&number))
        .await
        .unwrap();
    let sms = phone.sent().pop().unwrap();
    let code = sms.code.clone().unwrap();
    assert_eq!(
        sms.text,
        format!(
            "{c} er bekreftelseskoden din for Altinn. Den utløper om 5 min.\n\
             Ikke del den med noen.\n@login.example.no #{c}",
            c = code.expose()
        )
    );
    assert_eq!(sms.length.segments, 1);
    assert!(
        mfa.verify(&user, &pending.challenge_id, code.expose())
            .await
            .unwrap()
            .is_approved()
    );
}

#[tokio::test]
async fn fixed_line_and_premium_numbers_are_refused_before_anything_is_sent() {
    let w = world(Messages::new());
    let fixed = PhoneNumber::parse("+47 22 12 34 56").unwrap();
    let err = w
        .mfa
        .begin_enrollment(&w.user, sms_method(&fixed))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Policy(PolicyError::NotSmsCapable)),
        "{err:?}"
    );
    let premium = PhoneNumber::parse("+44 909 876 5432").unwrap();
    let err = w
        .mfa
        .begin_enrollment(&w.user, sms_method(&premium))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Policy(PolicyError::PremiumRate)),
        "{err:?}"
    );
    assert!(w.phone.sent().is_empty());
}

#[tokio::test]
async fn the_sms_channel_refuses_fixed_lines_itself() {
    // A request that did not pass through the core policy.
    let phone = MemorySms::new();
    let channel = SmsDelivery::new(phone.clone());
    let mut request = sample_request();
    request.destination.number = PhoneNumber::parse("+47 22 12 34 56").unwrap();
    let err = channel.send(&request).await.unwrap_err();
    assert_eq!(err.kind(), DeliveryErrorKind::InvalidDestination);
    assert!(err.is_permanent());
    assert!(err.message().contains("voice call"), "{err}");
    assert!(err.message().contains("authenticator app"), "{err}");
    assert!(
        !err.message().contains("22123456"),
        "the number is masked: {err}"
    );
    request.destination.number = PhoneNumber::parse("+44 909 876 5432").unwrap();
    assert_eq!(
        channel.send(&request).await.unwrap_err().kind(),
        DeliveryErrorKind::InvalidDestination
    );
    // Key-press confirmation is a voice thing.
    let mut request = sample_request();
    request.content = mfa_core::Content::ConfirmByKey;
    assert_eq!(
        channel.send(&request).await.unwrap_err().kind(),
        DeliveryErrorKind::Configuration
    );
    assert!(phone.sent().is_empty());
}

#[tokio::test]
async fn failures_on_request_reach_the_caller_as_typed_errors() {
    let w = world(Messages::new());
    w.phone.fail_next(DeliveryError::transient("operator down"));
    let err = w
        .mfa
        .begin_enrollment(&w.user, sms_method(&w.number))
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err:?}");

    w.phone.fail_always(DeliveryError::new(
        DeliveryErrorKind::Blocked,
        "subscriber opted out",
    ));
    let err = w
        .mfa
        .begin_enrollment(&w.user, sms_method(&w.number))
        .await
        .unwrap_err();
    assert!(!err.is_transient(), "{err:?}");
    assert!(w.phone.sent().is_empty());

    w.phone.recover();
    let pending = w
        .mfa
        .begin_enrollment(&w.user, sms_method(&w.number))
        .await
        .unwrap();
    let code = w.phone.last_code_to(&w.number).unwrap();
    assert!(
        w.mfa
            .verify(&w.user, &pending.challenge_id, code.expose())
            .await
            .unwrap()
            .is_approved()
    );
}

#[tokio::test]
async fn messages_too_long_for_the_segment_limit_are_refused() {
    let phone = MemorySms::new();
    let channel = SmsDelivery::new(phone.clone()).with_messages(Messages::new().max_segments(1));
    let mut request = sample_request();
    request.app_name = "A very long application name ".repeat(6);
    let err = channel.send(&request).await.unwrap_err();
    assert_eq!(err.kind(), DeliveryErrorKind::Configuration);
    assert!(err.message().contains("segments"), "{err}");
    assert!(phone.sent().is_empty());
}

#[tokio::test]
async fn records_and_debug_output_never_show_the_code() {
    let phone = MemorySms::new();
    let channel = SmsDelivery::new(phone.clone());
    let request = sample_request();
    channel.send(&request).await.unwrap();
    let sent = phone.sent();
    let shown = format!("{sent:?} {channel:?} {phone:?}");
    assert!(sent[0].text.contains("135790"));
    assert!(!shown.contains("135790"), "{shown}");
    assert!(!shown.contains("41234567"), "{shown}");
}

fn sample_request() -> mfa_core::DeliveryRequest {
    mfa_core::DeliveryRequest {
        challenge_id: mfa_core::ChallengeId::parse("c0ffee00c0ffee00").unwrap(),
        user: UserId::new("ada@contoso.com").unwrap(),
        channel: mfa_core::Channel::Sms,
        destination: mfa_core::Destination {
            number: PhoneNumber::parse("+4741234567").unwrap(),
            extension: None,
        },
        content: mfa_core::Content::Code(mfa_core::OneTimeCode::parse("135790").unwrap()),
        purpose: mfa_core::Purpose::SignIn,
        expires_in: Duration::from_secs(300),
        locale: "en".into(),
        app_name: "Contoso".into(),
        cost_notice: None,
        meta: None,
    }
}

#[tokio::test]
async fn numbers_typed_in_other_forms_are_typed_errors_or_the_same_number() {
    use mfa_core::InputError;
    let w = world(Messages::new());
    // The guide's form: country code chosen, national number typed with a trunk zero.
    let typed = PhoneNumber::from_parts(47, "0412 34 567").unwrap();
    assert_eq!(typed, w.number);
    assert_eq!(PhoneNumber::parse("0047 412 34 567").unwrap(), w.number);
    assert_eq!(
        PhoneNumber::parse("412 34 567"),
        Err(InputError::MissingCountryCode)
    );
    for bad in [
        "+999 1234 5678",
        "+47 123",
        "+47 412 34 567 ext 9",
        "+٤٧٤١٢٣٤٥٦٧",
        "",
    ] {
        assert!(PhoneNumber::parse(bad).is_err(), "{bad:?}");
    }
    let pending = w
        .mfa
        .begin_enrollment(&w.user, sms_method(&typed))
        .await
        .unwrap();
    assert_eq!(w.phone.sent()[0].to.e164(), "+4741234567");
    let code = w.phone.last_code_to(&w.number).unwrap();
    assert!(
        w.mfa
            .verify(&w.user, &pending.challenge_id, code.expose())
            .await
            .unwrap()
            .is_approved()
    );
}
