//! The email channel through `Mfa` with the memory mail server: enrollment and
//! sign-in, the Norwegian texts, planned failures, and nothing secret shown.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use mfa_core::{
    Channel, DeliveryError, DeliveryErrorKind, EmailAddress, Error, Event, ManualClock,
    MemoryEvents, Method, Mfa, Policy, Purpose, Timestamp, UserId, Verification,
};
use mfa_email::{EmailChannel, EmailTemplate, MemoryEmail, Templates};

struct World {
    mfa: Mfa,
    clock: ManualClock,
    mailbox: MemoryEmail,
    events: MemoryEvents,
}

fn world_with(policy: Policy, templates: Templates) -> World {
    let clock = ManualClock::new(Timestamp::from_unix_secs(1_767_225_600));
    let mailbox = MemoryEmail::with_clock(Arc::new(clock.clone()));
    let events = MemoryEvents::new();
    let mfa = Mfa::builder()
        .clock(clock.clone())
        .email(EmailChannel::new(mailbox.clone()).with_templates(templates))
        .events(events.clone())
        .policy(policy)
        .build()
        .unwrap();
    World {
        mfa,
        clock,
        mailbox,
        events,
    }
}

fn allowing() -> Policy {
    let mut p = Policy::default();
    p.allow_email = true;
    p.app_name = "Contoso".to_owned();
    p
}

fn kari() -> UserId {
    UserId::username("kari@example.no").unwrap()
}

fn address() -> EmailAddress {
    EmailAddress::parse("Kari.Nordmann@example.no").unwrap()
}

fn by_email() -> Method {
    Method::Email { address: address() }
}

#[tokio::test]
async fn enrollment_and_sign_in_read_the_code_from_the_email() {
    let w = world_with(allowing(), Templates::new());
    let pending = w.mfa.begin_enrollment(&kari(), by_email()).await.unwrap();
    let mail = w.mailbox.inbox(&address()).pop().unwrap();
    assert_eq!(mail.purpose, Purpose::Enrollment);
    assert_eq!(mail.content.subject, "Your Contoso verification code");
    let code = mail.code.expose().to_owned();
    assert!(mail.content.text.contains(&code));
    assert!(mail.content.html.contains(&code));
    assert!(mail.content.text.contains("expires in 5 min"));
    assert!(
        w.mfa
            .verify(&kari(), &pending.challenge_id, &code)
            .await
            .unwrap()
            .is_approved()
    );
    w.mfa
        .complete(&kari(), &pending.challenge_id)
        .await
        .unwrap();

    w.clock.advance(Duration::from_secs(60));
    let challenge = w.mfa.challenge(&kari()).await.unwrap();
    let code = w.mailbox.last_code_to(&address()).unwrap();
    let answer = w
        .mfa
        .verify(&kari(), &challenge.challenge_id, code.expose())
        .await
        .unwrap();
    assert!(answer.proof().is_some());
    // A code is accepted once.
    let again = w
        .mfa
        .verify(&kari(), &challenge.challenge_id, code.expose())
        .await
        .unwrap();
    assert_eq!(again, Verification::AlreadyUsed);

    // Nothing secret in what the application sees or logs.
    let shown = format!(
        "{:?} {:?} {:?} {challenge:?}",
        w.events.events(),
        w.mailbox.sent(),
        w.mfa.methods(&kari()).await.unwrap()
    );
    assert!(!shown.contains("Nordmann"), "{shown}");
    assert!(!shown.contains(code.expose()), "{shown}");
}

#[tokio::test]
async fn norwegian_users_get_norwegian_texts() {
    let mut policy = allowing();
    policy.locale = "nb".to_owned();
    let w = world_with(policy, Templates::new());
    w.mfa.begin_enrollment(&kari(), by_email()).await.unwrap();
    let mail = w.mailbox.inbox(&address()).pop().unwrap();
    assert_eq!(mail.content.subject, "Bekreftelseskoden din for Contoso");
    assert!(mail.content.text.contains("utløper om 5 min"));
    assert!(mail.content.html.contains("lang=\"nb\""));
}

#[tokio::test]
async fn custom_texts_escape_the_application_name_in_html() {
    let mut policy = allowing();
    policy.app_name = "<b>Contoso</b>".to_owned();
    let template =
        EmailTemplate::new("{app}", "{app}: {code}", "<p>{app}: <b>{code}</b></p>").unwrap();
    let w = world_with(policy, Templates::new().with("en", template).unwrap());
    w.mfa.begin_enrollment(&kari(), by_email()).await.unwrap();
    let mail = w.mailbox.inbox(&address()).pop().unwrap();
    assert!(
        mail.content
            .html
            .starts_with("<p>&lt;b&gt;Contoso&lt;/b&gt;: <b>")
    );
    assert!(mail.content.text.starts_with("<b>Contoso</b>: "));
}

#[tokio::test]
async fn a_planned_failure_fails_the_send_and_the_next_one_works() {
    let w = world_with(allowing(), Templates::new());
    w.mailbox
        .fail_next(DeliveryError::transient("451 try again later"));
    let err = w
        .mfa
        .begin_enrollment(&kari(), by_email())
        .await
        .unwrap_err();
    assert!(matches!(&err, Error::Delivery(e) if e.kind() == DeliveryErrorKind::Transient));
    assert!(w.events.events().iter().any(|e| matches!(
        e,
        Event::DeliveryFailed {
            channel: Channel::Email,
            ..
        }
    )));
    assert!(w.mailbox.sent().is_empty());
    w.mfa.begin_enrollment(&kari(), by_email()).await.unwrap();
    assert_eq!(w.mailbox.inbox(&address()).len(), 1);
}

#[tokio::test]
async fn a_late_email_arrives_late() {
    let w = world_with(allowing(), Templates::new());
    w.mailbox.delay_next(Duration::from_secs(90));
    w.mfa.begin_enrollment(&kari(), by_email()).await.unwrap();
    assert!(w.mailbox.inbox(&address()).is_empty());
    w.clock.advance(Duration::from_secs(90));
    assert_eq!(w.mailbox.inbox(&address()).len(), 1);
}

#[tokio::test]
async fn without_the_policy_nothing_is_sent() {
    let w = world_with(Policy::default(), Templates::new());
    let err = w
        .mfa
        .begin_enrollment(&kari(), by_email())
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        Error::Policy(mfa_core::PolicyError::EmailNotAllowed)
    ));
    assert!(w.mailbox.sent().is_empty());
}

#[tokio::test]
async fn the_users_own_language_picks_the_texts() {
    let w = world_with(allowing(), Templates::new());
    w.mfa
        .set_locale(&kari(), Some(mfa_core::Locale::parse("nb-NO").unwrap()))
        .await
        .unwrap();
    w.mfa.begin_enrollment(&kari(), by_email()).await.unwrap();
    let mail = w.mailbox.inbox(&address()).pop().unwrap();
    assert_eq!(mail.content.subject, "Bekreftelseskoden din for Contoso");
}
