//! Email as a channel through the `Mfa` driver, with a recording email backend: off
//! unless the policy allows it, and under the same lifetime, attempt and send limits
//! as SMS when it does.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use mfa_core::record::{decode, encode};
use mfa_core::{
    Channel, DeliveryError, EmailAddress, EmailDelivery, EmailRequest, Error, Event, LimitScope,
    ManualClock, MemoryEvents, MemoryStore, Method, MethodKind, MethodStatus, Mfa, Missing, Policy,
    PolicyError, Purpose, Receipt, Status, Timestamp, UserId, Verification,
};

/// Records every email and fails the next one on request.
#[derive(Debug, Clone, Default)]
struct Outbox {
    sent: Arc<Mutex<Vec<EmailRequest>>>,
    fail_next: Arc<Mutex<Option<DeliveryError>>>,
}

impl Outbox {
    fn last_code(&self) -> String {
        let sent = self.sent.lock().unwrap();
        sent.last().unwrap().code.expose().to_owned()
    }
    fn count(&self) -> usize {
        self.sent.lock().unwrap().len()
    }
}

#[async_trait]
impl EmailDelivery for Outbox {
    async fn send(&self, request: &EmailRequest) -> Result<Receipt, DeliveryError> {
        if let Some(e) = self.fail_next.lock().unwrap().take() {
            return Err(e);
        }
        let mut sent = self.sent.lock().unwrap();
        sent.push(request.clone());
        Ok(Receipt::new(format!("queued-{}", sent.len())))
    }
}

struct World {
    mfa: Mfa,
    clock: ManualClock,
    outbox: Outbox,
    events: MemoryEvents,
    store: MemoryStore,
}

fn allowing() -> Policy {
    let mut p = Policy::default();
    p.allow_email = true;
    p
}

fn world_with(policy: Policy, store: MemoryStore) -> World {
    let clock = ManualClock::new(Timestamp::from_unix_secs(1_767_225_600));
    let outbox = Outbox::default();
    let events = MemoryEvents::new();
    let mfa = Mfa::builder()
        .store(store.clone())
        .clock(clock.clone())
        .email(outbox.clone())
        .events(events.clone())
        .policy(policy)
        .build()
        .unwrap();
    World {
        mfa,
        clock,
        outbox,
        events,
        store,
    }
}

fn world() -> World {
    world_with(allowing(), MemoryStore::new())
}

fn user(name: &str) -> UserId {
    UserId::username(name).unwrap()
}

fn email(address: &str) -> Method {
    Method::Email {
        address: EmailAddress::parse(address).unwrap(),
    }
}

async fn enroll(w: &World, who: &UserId, address: &str) {
    let pending = w.mfa.begin_enrollment(who, email(address)).await.unwrap();
    let code = w.outbox.last_code();
    let answer = w
        .mfa
        .verify(who, &pending.challenge_id, &code)
        .await
        .unwrap();
    assert!(answer.is_approved());
    w.mfa.complete(who, &pending.challenge_id).await.unwrap();
}

#[tokio::test]
async fn email_is_refused_unless_the_policy_allows_it() {
    let w = world_with(Policy::default(), MemoryStore::new());
    let kari = user("kari@example.no");
    let err = w
        .mfa
        .begin_enrollment(&kari, email("kari@example.no"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Policy(PolicyError::EmailNotAllowed)));
    assert_eq!(w.outbox.count(), 0);
    // Refused before anything is stored.
    assert!(w.mfa.methods(&kari).await.unwrap().is_empty());
    assert_eq!(
        w.mfa.status(&kari).await.unwrap(),
        Status::EnrollmentRequired
    );
}

#[tokio::test]
async fn turning_email_off_stops_sign_in_by_email() {
    let store = MemoryStore::new();
    let kari = user("kari@example.no");
    enroll(
        &world_with(allowing(), store.clone()),
        &kari,
        "kari@example.no",
    )
    .await;
    let w = world_with(Policy::default(), store);
    let err = w.mfa.challenge(&kari).await.unwrap_err();
    assert!(matches!(err, Error::Policy(PolicyError::EmailNotAllowed)));
    assert_eq!(w.outbox.count(), 0);
}

#[tokio::test]
async fn an_email_method_needs_an_email_backend() {
    let mfa = Mfa::builder().policy(allowing()).build().unwrap();
    let err = mfa
        .begin_enrollment(&user("kari@example.no"), email("kari@example.no"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotConfigured(Missing::EmailDelivery)));
}

#[tokio::test]
async fn enrollment_and_sign_in_by_email() {
    let w = world();
    let kari = user("kari@example.no");
    enroll(&w, &kari, "Kari.Nordmann@Example.NO").await;
    let Status::Enrolled { default, .. } = w.mfa.status(&kari).await.unwrap() else {
        panic!("enrolled");
    };
    assert_eq!(default.method.kind(), MethodKind::Email);
    assert_eq!(default.status, MethodStatus::Active);

    let challenge = w.mfa.challenge(&kari).await.unwrap();
    let sent = w.outbox.sent.lock().unwrap().last().cloned().unwrap();
    assert_eq!(sent.to.as_str(), "Kari.Nordmann@example.no");
    assert_eq!(sent.purpose, Purpose::SignIn);
    assert_eq!(sent.expires_in, Duration::from_secs(300));
    let answer = w
        .mfa
        .verify(&kari, &challenge.challenge_id, &w.outbox.last_code())
        .await
        .unwrap();
    assert!(answer.proof().is_some());

    let events = w.events.events();
    assert!(events.iter().any(|e| matches!(
        e,
        Event::CodeSent {
            channel: Channel::Email,
            purpose: Purpose::SignIn,
            ..
        }
    )));
    let shown = format!("{events:?} {:?}", w.mfa.methods(&kari).await.unwrap());
    assert!(!shown.contains("Nordmann"), "{shown}");
    assert!(!shown.contains(&w.outbox.last_code()), "{shown}");
}

#[tokio::test]
async fn an_email_code_dies_with_its_lifetime_like_an_sms_code() {
    let w = world();
    let kari = user("kari@example.no");
    enroll(&w, &kari, "kari@example.no").await;
    let challenge = w.mfa.challenge(&kari).await.unwrap();
    w.clock.advance(Duration::from_secs(301));
    let answer = w
        .mfa
        .verify(&kari, &challenge.challenge_id, &w.outbox.last_code())
        .await
        .unwrap();
    assert_eq!(answer, Verification::Expired);
}

#[tokio::test]
async fn wrong_email_codes_lock_the_challenge_after_five() {
    let w = world();
    let kari = user("kari@example.no");
    enroll(&w, &kari, "kari@example.no").await;
    let challenge = w.mfa.challenge(&kari).await.unwrap();
    let right = w.outbox.last_code();
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    for left in (1..5).rev() {
        let answer = w
            .mfa
            .verify(&kari, &challenge.challenge_id, wrong)
            .await
            .unwrap();
        assert_eq!(
            answer,
            Verification::Rejected {
                attempts_left: left
            }
        );
    }
    let answer = w
        .mfa
        .verify(&kari, &challenge.challenge_id, wrong)
        .await
        .unwrap();
    assert_eq!(answer, Verification::Locked);
    let answer = w
        .mfa
        .verify(&kari, &challenge.challenge_id, &right)
        .await
        .unwrap();
    assert_eq!(answer, Verification::Locked);
}

#[tokio::test]
async fn resends_wait_for_the_cooldown_and_kill_the_old_code() {
    let w = world();
    let kari = user("kari@example.no");
    let pending = w
        .mfa
        .begin_enrollment(&kari, email("kari@example.no"))
        .await
        .unwrap();
    let first = w.outbox.last_code();
    let err = w
        .mfa
        .resend(&kari, &pending.challenge_id)
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        Error::Policy(PolicyError::ResendTooSoon { .. })
    ));
    w.clock.advance(Duration::from_secs(30));
    w.mfa.resend(&kari, &pending.challenge_id).await.unwrap();
    assert!(w.outbox.sent.lock().unwrap().last().unwrap().resend);
    let second = w.outbox.last_code();
    if first != second {
        let answer = w
            .mfa
            .verify(&kari, &pending.challenge_id, &first)
            .await
            .unwrap();
        assert!(!answer.is_approved());
    }
    let answer = w
        .mfa
        .verify(&kari, &pending.challenge_id, &second)
        .await
        .unwrap();
    assert!(answer.is_approved());
}

#[tokio::test]
async fn sends_to_one_address_are_limited_across_users_whatever_its_letter_case() {
    let w = world();
    // Five per ten minutes per destination by default, as for a number.
    let spellings = [
        "victim@example.no",
        "Victim@example.no",
        "VICTIM@EXAMPLE.NO",
        "victim@Example.No",
        "vIctim@example.no",
    ];
    for (i, address) in spellings.iter().enumerate() {
        let who = user(&format!("user{i}@example.no"));
        w.mfa.begin_enrollment(&who, email(address)).await.unwrap();
    }
    let sixth = user("user5@example.no");
    let err = w
        .mfa
        .begin_enrollment(&sixth, email("victim@example.no"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Policy(PolicyError::RateLimited {
                scope: LimitScope::EmailAddress,
                ..
            })
        ),
        "{err:?}"
    );
    assert_eq!(w.outbox.count(), 5);
    assert!(w.mfa.methods(&sixth).await.unwrap().is_empty());
    // Another address is not limited by this one, and the window reopens.
    w.mfa
        .begin_enrollment(&sixth, email("other@example.no"))
        .await
        .unwrap();
    w.clock.advance(Duration::from_secs(601));
    let seventh = user("user6@example.no");
    w.mfa
        .begin_enrollment(&seventh, email("victim@example.no"))
        .await
        .unwrap();
}

#[tokio::test]
async fn sends_per_user_count_email_too() {
    let w = world();
    let kari = user("kari@example.no");
    // Ten per hour per user by default: ten addresses, then a refusal.
    for i in 0..10 {
        w.mfa
            .begin_enrollment(&kari, email(&format!("kari{i}@example.no")))
            .await
            .unwrap();
    }
    let err = w
        .mfa
        .begin_enrollment(&kari, email("kari10@example.no"))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        Error::Policy(PolicyError::RateLimited {
            scope: LimitScope::User,
            ..
        })
    ));
}

#[tokio::test]
async fn a_failed_send_closes_the_new_challenge() {
    let w = world();
    let kari = user("kari@example.no");
    *w.outbox.fail_next.lock().unwrap() = Some(DeliveryError::transient("server down"));
    let err = w
        .mfa
        .begin_enrollment(&kari, email("kari@example.no"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Delivery(_)));
    assert!(w.events.events().iter().any(|e| matches!(
        e,
        Event::DeliveryFailed {
            channel: Channel::Email,
            transient: true,
            ..
        }
    )));
    // The pending method went with its challenge: the user may try again at once.
    assert!(w.mfa.methods(&kari).await.unwrap().is_empty());
}

#[tokio::test]
async fn an_email_method_survives_the_stored_form() {
    let w = world();
    let kari = user("kari@example.no");
    enroll(&w, &kari, "kari+mfa@example.no").await;
    let stored = mfa_core::Store::load(&w.store, &kari)
        .await
        .unwrap()
        .unwrap()
        .record;
    let back = decode(&encode(&stored)).unwrap();
    assert_eq!(back, stored);
    assert_eq!(
        back.methods[0].method.email_address().unwrap().as_str(),
        "kari+mfa@example.no"
    );
}
