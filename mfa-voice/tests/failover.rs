//! Retry and failover for calls, driven through `Mfa` over memory backends, with
//! Tokio's clock paused so backoff takes no real time.

#![allow(clippy::unwrap_used)] // test fixtures

use std::sync::Arc;
use std::time::Duration;

use mfa_core::{
    AttemptOutcome, ChallengeStatus, Channel, DeliveryError, DeliveryErrorKind, Error, Event,
    ManualClock, MemoryEvents, Method, Mfa, PhoneMode, PhoneNumber, Timestamp, UserId,
};
use mfa_voice::{CallState, Callee, FailoverVoice, MemoryVoice};

struct World {
    mfa: Mfa,
    a: MemoryVoice,
    b: MemoryVoice,
    events: MemoryEvents,
    clock: ManualClock,
}

/// Two routes, `a` then `b`, three attempts each, pauses from 1 s.
fn world() -> World {
    let clock = ManualClock::new(Timestamp::from_unix_secs(1_800_000_000));
    let a = MemoryVoice::with_clock(Arc::new(clock.clone()));
    let b = MemoryVoice::with_clock(Arc::new(clock.clone()));
    let events = MemoryEvents::new();
    let voice = FailoverVoice::new()
        .route("a", a.clone())
        .route("b", b.clone())
        .attempts_per_route(3)
        .backoff(Duration::from_secs(1))
        .events(events.clone());
    let mfa = Mfa::builder()
        .clock(clock.clone())
        .voice(voice)
        .events(events.clone())
        .build()
        .unwrap();
    World {
        mfa,
        a,
        b,
        events,
        clock,
    }
}

fn kari() -> UserId {
    UserId::username("kari.nordmann@example.no").unwrap()
}

fn mobile() -> PhoneNumber {
    PhoneNumber::parse("+47 412 34 567").unwrap()
}

fn mobile_call() -> Method {
    Method::AuthenticationPhone {
        number: mobile(),
        mode: PhoneMode::Call,
    }
}

/// The failover's attempts as (route, attempt, outcome).
fn attempts(events: &MemoryEvents) -> Vec<(String, u32, AttemptOutcome)> {
    events
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::DeliveryAttempt {
                route,
                attempt,
                outcome,
                channel,
                user,
                ..
            } => {
                assert_eq!(channel, Channel::Voice);
                assert_eq!(user, kari());
                Some((route, attempt, outcome))
            }
            _ => None,
        })
        .collect()
}

fn code_sent(events: &MemoryEvents) -> usize {
    events
        .events()
        .iter()
        .filter(|e| matches!(e, Event::CodeSent { .. }))
        .count()
}

#[tokio::test(start_paused = true)]
async fn a_transient_failure_on_the_first_backend_fails_over_to_the_second() {
    let w = world();
    let transient = DeliveryErrorKind::Transient;
    w.a.fail_always(DeliveryError::transient("provider down"));
    w.b.set_callee(&mobile(), Callee::Presses("#".into()));
    let started = tokio::time::Instant::now();
    let pending = w
        .mfa
        .begin_enrollment(&kari(), mobile_call())
        .await
        .unwrap();
    // Three attempts on `a` (pauses of 1 s and 2 s), then `b` at once.
    assert_eq!(started.elapsed(), Duration::from_secs(3));
    assert_eq!(pending.waiting_for, ChallengeStatus::Approved);
    assert!(w.a.calls().is_empty());
    assert_eq!(w.b.calls().len(), 1, "the phone rang once");
    assert_eq!(
        attempts(&w.events),
        vec![
            (
                "a".into(),
                1,
                AttemptOutcome::Retrying { reason: transient }
            ),
            (
                "a".into(),
                2,
                AttemptOutcome::Retrying { reason: transient }
            ),
            (
                "a".into(),
                3,
                AttemptOutcome::FailingOver { reason: transient }
            ),
            ("b".into(), 1, AttemptOutcome::Sent),
        ]
    );
    assert_eq!(code_sent(&w.events), 1);
    w.mfa
        .complete(&kari(), &pending.challenge_id)
        .await
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_permanent_failure_is_not_retried_anywhere() {
    let w = world();
    // Only the first call fails: a retry on `a`, or a call on `b`, would go through.
    w.a.fail_next(DeliveryError::new(
        DeliveryErrorKind::InvalidDestination,
        "not a number that takes calls",
    ));
    let started = tokio::time::Instant::now();
    let err = w
        .mfa
        .begin_enrollment(&kari(), mobile_call())
        .await
        .unwrap_err();
    assert_eq!(started.elapsed(), Duration::ZERO);
    match &err {
        Error::Delivery(e) => {
            assert_eq!(e.kind(), DeliveryErrorKind::InvalidDestination);
            assert!(
                e.message().ends_with("(attempts: a:invalid destination)"),
                "{e}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(w.a.calls().is_empty() && w.b.calls().is_empty());
    assert_eq!(
        attempts(&w.events),
        vec![(
            "a".into(),
            1,
            AttemptOutcome::GaveUp {
                reason: DeliveryErrorKind::InvalidDestination
            }
        )]
    );
    assert_eq!(code_sent(&w.events), 0);
}

/// No answer, busy, declined: the call reached the phone; another backend would ring
/// it again. The challenge stays pending for a new call the user asks for.
#[tokio::test(start_paused = true)]
async fn a_call_outcome_is_not_retried_on_another_backend() {
    for (callee, kind) in [
        (Callee::NoAnswer, DeliveryErrorKind::NoAnswer),
        (Callee::Busy, DeliveryErrorKind::Busy),
        (Callee::HangsUp, DeliveryErrorKind::Declined),
    ] {
        let w = world();
        w.a.set_callee(&mobile(), callee.clone());
        let started = tokio::time::Instant::now();
        let err = w
            .mfa
            .begin_enrollment(&kari(), mobile_call())
            .await
            .unwrap_err();
        assert_eq!(started.elapsed(), Duration::ZERO, "{callee:?}: no pause");
        let Error::CallNotCompleted {
            challenge_id,
            error,
        } = &err
        else {
            panic!("{callee:?}: {err:?}");
        };
        assert_eq!(error.kind(), kind);
        assert_eq!(w.a.calls().len(), 1, "{callee:?}: rang once on `a`");
        assert!(
            matches!(
                w.a.calls()[0].state,
                CallState::NotConnected(_) | CallState::Ended(_)
            ),
            "{callee:?}"
        );
        assert!(w.b.calls().is_empty(), "{callee:?}: `b` never rang");
        assert_eq!(
            attempts(&w.events),
            vec![("a".into(), 1, AttemptOutcome::GaveUp { reason: kind })],
            "{callee:?}"
        );
        // Still pending: once the callee answers, the user's own request for a new
        // call goes through, on the first route again.
        w.a.set_callee(&mobile(), Callee::Presses("#".into()));
        w.clock.advance(Duration::from_secs(60));
        w.mfa.resend(&kari(), challenge_id).await.unwrap();
        assert_eq!(w.a.calls().len(), 2, "{callee:?}");
        assert!(w.b.calls().is_empty(), "{callee:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn retries_are_bounded_when_every_backend_keeps_failing() {
    let w = world();
    w.a.fail_always(DeliveryError::transient("a down"));
    w.b.fail_always(DeliveryError::transient("b down"));
    let started = tokio::time::Instant::now();
    let err = w
        .mfa
        .begin_enrollment(&kari(), mobile_call())
        .await
        .unwrap_err();
    // 3 attempts per route, pauses of 1 s and 2 s on each: 6 attempts in 6 s, then stop.
    assert_eq!(started.elapsed(), Duration::from_secs(6));
    assert!(err.is_transient(), "{err:?}");
    let seen = attempts(&w.events);
    assert_eq!(seen.len(), 6, "{seen:?}");
    assert_eq!(
        seen.last(),
        Some(&(
            "b".into(),
            3,
            AttemptOutcome::GaveUp {
                reason: DeliveryErrorKind::Transient
            }
        ))
    );
    assert!(w.a.calls().is_empty() && w.b.calls().is_empty());
    assert!(
        matches!(err, Error::Delivery(ref e) if e.message().matches("temporary delivery failure").count() == 6),
        "{err:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_misconfigured_backend_is_skipped_and_a_timeout_stops() {
    let w = world();
    w.a.fail_always(DeliveryError::new(
        DeliveryErrorKind::Configuration,
        "bad credentials",
    ));
    let started = tokio::time::Instant::now();
    w.mfa
        .begin_enrollment(&kari(), mobile_call())
        .await
        .unwrap();
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert_eq!(w.b.calls().len(), 1);
    assert_eq!(
        attempts(&w.events)[0],
        (
            "a".into(),
            1,
            AttemptOutcome::FailingOver {
                reason: DeliveryErrorKind::Configuration
            }
        )
    );

    // A timeout: the provider may have placed the call, so nothing else rings.
    let w = world();
    w.a.fail_next(DeliveryError::new(
        DeliveryErrorKind::Timeout,
        "no answer from the API",
    ));
    let err = w
        .mfa
        .begin_enrollment(&kari(), mobile_call())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::CallNotCompleted { .. }), "{err:?}");
    assert!(w.a.calls().is_empty() && w.b.calls().is_empty());
}

#[tokio::test(start_paused = true)]
async fn no_route_is_a_configuration_error() {
    let mfa = Mfa::builder().voice(FailoverVoice::new()).build().unwrap();
    let err = mfa
        .begin_enrollment(&kari(), mobile_call())
        .await
        .unwrap_err();
    match err {
        Error::Delivery(e) => assert_eq!(e.kind(), DeliveryErrorKind::Configuration),
        other => panic!("{other:?}"),
    }
}
