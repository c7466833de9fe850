//! Retry and failover over memory backends, with Tokio's clock paused so backoff
//! takes no real time.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use mfa_core::{
    Clock, Delivery, DeliveryError, DeliveryErrorKind, ManualClock, Method, Mfa, PhoneMode,
    PhoneNumber, Timestamp, UserId,
};
use mfa_sms::{FailoverSms, MemorySms, SmsDelivery};

fn request() -> mfa_core::DeliveryRequest {
    mfa_core::DeliveryRequest {
        challenge_id: mfa_core::ChallengeId::parse("c0ffee00c0ffee00").unwrap(),
        user: UserId::new("ada@contoso.com").unwrap(),
        channel: mfa_core::Channel::Sms,
        destination: mfa_core::Destination {
            number: PhoneNumber::parse("+4741234567").unwrap(),
            extension: None,
        },
        content: mfa_core::Content::Code(mfa_core::OneTimeCode::parse("123456").unwrap()),
        purpose: mfa_core::Purpose::SignIn,
        expires_in: Duration::from_secs(300),
        locale: "en".into(),
        app_name: "Contoso".into(),
        cost_notice: None,
        meta: None,
    }
}

/// An SMS method to `number`.
fn sms(number: &PhoneNumber) -> Method {
    Method::AuthenticationPhone {
        number: number.clone(),
        mode: PhoneMode::Sms,
    }
}

fn two_routes() -> (MemorySms, MemorySms, SmsDelivery) {
    let (a, b) = (MemorySms::new(), MemorySms::new());
    let channel = SmsDelivery::new(
        FailoverSms::new()
            .route("a", a.clone())
            .route("b", b.clone())
            .attempts_per_route(3)
            .backoff(Duration::from_secs(1)),
    );
    (a, b, channel)
}

#[tokio::test(start_paused = true)]
async fn transient_failures_retry_with_backoff_then_fail_over() {
    let (a, b, channel) = two_routes();
    a.fail_always(DeliveryError::transient("operator down"));
    let started = tokio::time::Instant::now();
    let receipt = channel.send(&request()).await.unwrap();
    // Three attempts on `a` (pauses of 1 s and 2 s), then `b` at once.
    assert_eq!(started.elapsed(), Duration::from_secs(3));
    // The receipt is `b`'s own, with its message id, for the gateway's reports.
    assert_eq!(receipt.id, "memory-sms-1");
    assert!(a.sent().is_empty());
    assert_eq!(b.sent().len(), 1, "sent exactly once");
}

#[tokio::test(start_paused = true)]
async fn a_retry_that_succeeds_stays_on_the_first_route() {
    let (a, b, channel) = two_routes();
    a.fail_next(DeliveryError::transient("blip"));
    let receipt = channel.send(&request()).await.unwrap();
    assert_eq!(receipt.id, "memory-sms-1");
    assert_eq!((a.sent().len(), b.sent().len()), (1, 0));
}

#[tokio::test(start_paused = true)]
async fn permanent_failures_stop_at_once() {
    let (a, b, channel) = two_routes();
    a.fail_next(DeliveryError::new(
        DeliveryErrorKind::InvalidDestination,
        "no such number",
    ));
    let err = channel.send(&request()).await.unwrap_err();
    assert_eq!(err.kind(), DeliveryErrorKind::InvalidDestination);
    assert!(
        err.message().contains("attempts: a:invalid destination"),
        "{err}"
    );
    assert!(b.sent().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_timeout_is_not_retried_so_the_code_is_never_sent_twice() {
    let (a, b, channel) = two_routes();
    a.fail_next(DeliveryError::new(DeliveryErrorKind::Timeout, "no answer"));
    let err = channel.send(&request()).await.unwrap_err();
    assert!(err.is_timeout());
    assert!(b.sent().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_misconfigured_route_is_skipped_without_retries() {
    let (a, b, channel) = two_routes();
    a.fail_always(DeliveryError::new(
        DeliveryErrorKind::Configuration,
        "bad credentials",
    ));
    let started = tokio::time::Instant::now();
    let receipt = channel.send(&request()).await.unwrap();
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert_eq!(receipt.id, "memory-sms-1");
    assert_eq!(b.sent().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn when_every_route_fails_the_last_error_lists_all_attempts() {
    let (a, b, channel) = two_routes();
    a.fail_always(DeliveryError::transient("a down"));
    b.fail_always(DeliveryError::transient("b down"));
    let err = channel.send(&request()).await.unwrap_err();
    assert!(err.is_transient());
    assert_eq!(
        err.message().matches("temporary delivery failure").count(),
        6,
        "{err}"
    );
    assert!(!err.message().contains("123456"));
    let none = SmsDelivery::new(FailoverSms::new())
        .send(&request())
        .await
        .unwrap_err();
    assert_eq!(none.kind(), DeliveryErrorKind::Configuration);
}

#[tokio::test(start_paused = true)]
async fn enrollment_survives_a_failing_primary() {
    let clock = ManualClock::new(Timestamp::from_unix_secs(1_800_000_000));
    let primary = MemorySms::with_clock(Arc::new(clock.clone()));
    let fallback = MemorySms::with_clock(Arc::new(clock.clone()));
    primary.fail_always(DeliveryError::transient("primary down"));
    let mfa = Mfa::builder()
        .clock(clock)
        .sms(SmsDelivery::new(
            FailoverSms::new()
                .route("primary", primary.clone())
                .route("fallback", fallback.clone()),
        ))
        .build()
        .unwrap();
    let number = PhoneNumber::parse("+4741234567").unwrap();
    let user = UserId::new("ada@contoso.com").unwrap();
    let pending = mfa.begin_enrollment(&user, sms(&number)).await.unwrap();
    let code = fallback.last_code_to(&number).unwrap();
    assert!(
        mfa.verify(&user, &pending.challenge_id, code.expose())
            .await
            .unwrap()
            .is_approved()
    );
    assert_eq!(fallback.sent().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn each_attempt_is_an_event_naming_the_route_and_what_came_next() {
    use mfa_core::{AttemptOutcome, Event, MemoryEvents};
    let (a, b, events) = (MemorySms::new(), MemorySms::new(), MemoryEvents::new());
    let channel = SmsDelivery::new(
        FailoverSms::new()
            .route("a", a.clone())
            .route("b", b.clone())
            .attempts_per_route(1)
            .events(events.clone()),
    );
    a.fail_next(DeliveryError::transient("blip"));
    channel.send(&request()).await.unwrap();
    let seen: Vec<(String, AttemptOutcome)> = events
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::DeliveryAttempt { route, outcome, .. } => Some((route, outcome)),
            _ => None,
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            (
                "a".into(),
                AttemptOutcome::FailingOver {
                    reason: DeliveryErrorKind::Transient
                }
            ),
            ("b".into(), AttemptOutcome::Sent),
        ]
    );
    assert!(!format!("{:?}", events.events()).contains("123456"));
}

/// An attempt's event carries the time on the service's clock and the request that
/// asked for the code, as every event `Mfa` emits does, so an audit log can tie a
/// failed route to the client that triggered it.
#[tokio::test(start_paused = true)]
async fn attempt_events_carry_the_request_and_the_time() {
    use mfa_core::{Event, MemoryEvents, RequestContext};
    let clock = ManualClock::new(Timestamp::from_unix_secs(1_800_000_000));
    let primary = MemorySms::with_clock(Arc::new(clock.clone()));
    let fallback = MemorySms::with_clock(Arc::new(clock.clone()));
    primary.fail_always(DeliveryError::transient("primary down"));
    let events = MemoryEvents::new();
    let mfa = Mfa::builder()
        .clock(clock.clone())
        .sms(SmsDelivery::new(
            FailoverSms::new()
                .route("primary", primary)
                .route("fallback", fallback)
                .events(events.clone()),
        ))
        .build()
        .unwrap();
    let client: std::net::IpAddr = "198.51.100.7".parse().unwrap();
    let mfa = mfa.with_request(
        RequestContext::new()
            .client(client)
            .user_agent("Firefox/140"),
    );
    let user = UserId::new("ada@contoso.com").unwrap();
    let number = PhoneNumber::parse("+4741234567").unwrap();
    mfa.begin_enrollment(&user, sms(&number)).await.unwrap();
    let attempts: Vec<_> = events
        .entries()
        .into_iter()
        .filter(|(e, _)| matches!(e, Event::DeliveryAttempt { .. }))
        .collect();
    assert_eq!(attempts.len(), 3, "two on the primary, one on the fallback");
    let mut dated = Vec::new();
    for (event, meta) in &attempts {
        let meta = meta
            .as_ref()
            .unwrap_or_else(|| panic!("no time or request: {event:?}"));
        let request = meta.request.as_deref().expect("the request");
        assert_eq!(request.client_addr(), Some(client));
        assert_eq!(request.user_agent_str(), Some("Firefox/140"));
        dated.push(meta.at);
    }
    // The service's clock, plus the 500 ms pause before the primary's second try.
    let asked = clock.now();
    let retried = asked + Duration::from_millis(500);
    assert_eq!(dated, vec![asked, retried, retried]);
}
