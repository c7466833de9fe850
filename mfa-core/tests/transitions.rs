//! One test per transition of the pure challenge machine, and a typed error for each
//! event a state does not take.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use mfa_core::challenge::{Answer, ChallengeEvent, Context, Effect, hash_code, transition};
use mfa_core::{
    Challenge, ChallengeId, ChallengeStatus, CodeKey, MethodId, OneTimeCode, Policy, Purpose,
    Timestamp, TransitionError,
};

const START: Timestamp = Timestamp::from_unix_secs(1_700_000_000);

fn key() -> CodeKey {
    CodeKey::from_bytes([7; 32])
}

fn code(s: &str) -> OneTimeCode {
    OneTimeCode::parse(s).unwrap()
}

fn challenge(purpose: Purpose, status: ChallengeStatus) -> Challenge {
    let id = ChallengeId::parse("c1").unwrap();
    let answer = match status {
        ChallengeStatus::AwaitingCallConfirmation => Answer::KeyPress,
        _ => Answer::SentCode(hash_code(&key(), &id, 0, &code("123456"))),
    };
    Challenge {
        id,
        method_id: MethodId::parse("m1").unwrap(),
        purpose,
        status,
        answer,
        generation: 0,
        attempts: 0,
        max_attempts: 5,
        sends: 1,
        created_at: START,
        expires_at: START + Duration::from_secs(300),
        last_sent_at: Some(START),
        approved_at: None,
        closed_at: None,
    }
}

fn at(now: Timestamp, policy: &Policy, key: &CodeKey) -> Context<'static> {
    // Leaking two small values keeps the test helpers short; fine in tests.
    Context {
        now,
        policy: Box::leak(Box::new(policy.clone())),
        key: Box::leak(Box::new(key.clone())),
        app: None,
    }
}

fn ctx() -> Context<'static> {
    at(START + Duration::from_secs(10), &Policy::default(), &key())
}

#[test]
fn awaiting_code_correct_code_approves() {
    let c = code("123456");
    let (next, effects) = transition(
        challenge(Purpose::SignIn, ChallengeStatus::AwaitingCode),
        ChallengeEvent::SubmitCode(&c),
        &ctx(),
    )
    .unwrap();
    assert_eq!(next.status, ChallengeStatus::Approved);
    assert_eq!(effects, vec![Effect::Approve { generation: 0 }]);
}

#[test]
fn awaiting_code_wrong_code_counts_an_attempt() {
    let c = code("654321");
    let (next, effects) = transition(
        challenge(Purpose::SignIn, ChallengeStatus::AwaitingCode),
        ChallengeEvent::SubmitCode(&c),
        &ctx(),
    )
    .unwrap();
    assert_eq!(next.status, ChallengeStatus::AwaitingCode);
    assert_eq!(next.attempts, 1);
    assert_eq!(effects, vec![Effect::RecordFailure]);
}

#[test]
fn awaiting_code_last_wrong_attempt_locks() {
    let mut ch = challenge(Purpose::SignIn, ChallengeStatus::AwaitingCode);
    ch.attempts = 4;
    let c = code("000000");
    let (next, _) = transition(ch, ChallengeEvent::SubmitCode(&c), &ctx()).unwrap();
    assert_eq!(next.status, ChallengeStatus::Locked);
    assert_eq!(next.attempts, 5);
}

#[test]
fn awaiting_code_after_lifetime_expires_even_with_the_right_code() {
    let c = code("123456");
    let late = at(START + Duration::from_secs(300), &Policy::default(), &key());
    let (next, effects) = transition(
        challenge(Purpose::SignIn, ChallengeStatus::AwaitingCode),
        ChallengeEvent::SubmitCode(&c),
        &late,
    )
    .unwrap();
    assert_eq!(next.status, ChallengeStatus::Expired);
    assert_eq!(
        effects,
        vec![Effect::Close {
            to: ChallengeStatus::Expired
        }]
    );
}

#[test]
fn resend_makes_a_new_generation_and_keeps_attempts() {
    let mut ch = challenge(Purpose::Enrollment, ChallengeStatus::AwaitingCode);
    ch.attempts = 2;
    let new = code("999999");
    let (next, effects) = transition(ch, ChallengeEvent::Resend(Some(&new)), &ctx()).unwrap();
    assert_eq!(next.generation, 1);
    assert_eq!(next.attempts, 2);
    assert_eq!(next.sends, 2);
    assert!(matches!(
        effects[0],
        Effect::ReplaceCode {
            generation: 0,
            hash: Some(_),
            ..
        }
    ));
    assert_eq!(effects[1], Effect::Deliver { resend: true });
    // The old code is now wrong, the new one right.
    let old = code("123456");
    let (after_old, _) =
        transition(next.clone(), ChallengeEvent::SubmitCode(&old), &ctx()).unwrap();
    assert_eq!(after_old.status, ChallengeStatus::AwaitingCode);
    assert_eq!(after_old.attempts, 3);
    let (after_new, _) = transition(next, ChallengeEvent::SubmitCode(&new), &ctx()).unwrap();
    assert_eq!(after_new.status, ChallengeStatus::Approved);
}

#[test]
fn resend_of_a_call_places_it_again_without_a_code() {
    let ch = challenge(Purpose::SignIn, ChallengeStatus::AwaitingCallConfirmation);
    let (next, effects) = transition(ch, ChallengeEvent::Resend(None), &ctx()).unwrap();
    assert_eq!(next.status, ChallengeStatus::AwaitingCallConfirmation);
    assert!(matches!(effects[0], Effect::ReplaceCode { hash: None, .. }));
}

#[test]
fn call_confirmed_approves() {
    let ch = challenge(Purpose::SignIn, ChallengeStatus::AwaitingCallConfirmation);
    let (next, effects) = transition(ch, ChallengeEvent::CallConfirmed, &ctx()).unwrap();
    assert_eq!(next.status, ChallengeStatus::Approved);
    assert_eq!(effects, vec![Effect::Approve { generation: 0 }]);
}

#[test]
fn fraud_report_denies() {
    for status in [
        ChallengeStatus::AwaitingCallConfirmation,
        ChallengeStatus::AwaitingCode,
    ] {
        let (next, effects) = transition(
            challenge(Purpose::SignIn, status),
            ChallengeEvent::FraudReported,
            &ctx(),
        )
        .unwrap();
        assert_eq!(next.status, ChallengeStatus::Denied);
        assert_eq!(
            effects,
            vec![Effect::Close {
                to: ChallengeStatus::Denied
            }]
        );
    }
}

#[test]
fn cancel_closes_awaiting_and_approved_challenges() {
    for status in [
        ChallengeStatus::AwaitingCode,
        ChallengeStatus::AwaitingCallConfirmation,
        ChallengeStatus::Approved,
    ] {
        let (next, _) = transition(
            challenge(Purpose::Enrollment, status),
            ChallengeEvent::Cancel,
            &ctx(),
        )
        .unwrap();
        assert_eq!(next.status, ChallengeStatus::Canceled);
    }
}

#[test]
fn expire_closes_an_awaiting_challenge() {
    let (next, effects) = transition(
        challenge(Purpose::SignIn, ChallengeStatus::AwaitingCode),
        ChallengeEvent::Expire,
        &ctx(),
    )
    .unwrap();
    assert_eq!(next.status, ChallengeStatus::Expired);
    assert_eq!(
        effects,
        vec![Effect::Close {
            to: ChallengeStatus::Expired
        }]
    );
}

#[test]
fn complete_activates_a_verified_enrollment() {
    let (next, effects) = transition(
        challenge(Purpose::Enrollment, ChallengeStatus::Approved),
        ChallengeEvent::Complete,
        &ctx(),
    )
    .unwrap();
    assert_eq!(next.status, ChallengeStatus::Completed);
    assert_eq!(
        effects,
        vec![
            Effect::Close {
                to: ChallengeStatus::Completed
            },
            Effect::ActivateMethod
        ]
    );
}

fn refused(
    purpose: Purpose,
    status: ChallengeStatus,
    event: ChallengeEvent<'_>,
) -> TransitionError {
    transition(challenge(purpose, status), event, &ctx()).unwrap_err()
}

#[test]
fn invalid_events_get_typed_errors_naming_state_and_event() {
    let c = code("123456");
    let cases: Vec<(Purpose, ChallengeStatus, ChallengeEvent<'_>, &str, &str)> = vec![
        (
            Purpose::SignIn,
            ChallengeStatus::Approved,
            ChallengeEvent::Complete,
            "approved",
            "complete",
        ),
        (
            Purpose::Enrollment,
            ChallengeStatus::AwaitingCode,
            ChallengeEvent::Complete,
            "awaiting a code",
            "complete",
        ),
        (
            Purpose::SignIn,
            ChallengeStatus::AwaitingCode,
            ChallengeEvent::CallConfirmed,
            "awaiting a code",
            "call confirmed",
        ),
        (
            Purpose::SignIn,
            ChallengeStatus::AwaitingCallConfirmation,
            ChallengeEvent::SubmitCode(&c),
            "awaiting call confirmation",
            "submit code",
        ),
        (
            Purpose::SignIn,
            ChallengeStatus::AwaitingCode,
            ChallengeEvent::Resend(None),
            "awaiting a code",
            "resend",
        ),
        (
            Purpose::SignIn,
            ChallengeStatus::Approved,
            ChallengeEvent::SubmitCode(&c),
            "approved",
            "submit code",
        ),
        (
            Purpose::SignIn,
            ChallengeStatus::Approved,
            ChallengeEvent::Resend(Some(&c)),
            "approved",
            "resend",
        ),
        (
            Purpose::Enrollment,
            ChallengeStatus::Completed,
            ChallengeEvent::Cancel,
            "completed",
            "cancel",
        ),
        (
            Purpose::SignIn,
            ChallengeStatus::Locked,
            ChallengeEvent::SubmitCode(&c),
            "locked",
            "submit code",
        ),
        (
            Purpose::SignIn,
            ChallengeStatus::Locked,
            ChallengeEvent::Resend(Some(&c)),
            "locked",
            "resend",
        ),
        (
            Purpose::SignIn,
            ChallengeStatus::Expired,
            ChallengeEvent::CallConfirmed,
            "expired",
            "call confirmed",
        ),
        (
            Purpose::SignIn,
            ChallengeStatus::Canceled,
            ChallengeEvent::SubmitCode(&c),
            "canceled",
            "submit code",
        ),
        (
            Purpose::SignIn,
            ChallengeStatus::Canceled,
            ChallengeEvent::Expire,
            "canceled",
            "expire",
        ),
        (
            Purpose::SignIn,
            ChallengeStatus::Denied,
            ChallengeEvent::CallConfirmed,
            "denied",
            "call confirmed",
        ),
        (
            Purpose::SignIn,
            ChallengeStatus::Approved,
            ChallengeEvent::FraudReported,
            "approved",
            "fraud reported",
        ),
    ];
    for (purpose, status, event, state, name) in cases {
        let err = refused(purpose, status, event);
        assert_eq!(err, TransitionError { state, event: name });
        assert!(err.to_string().contains(state));
    }
}

#[test]
fn events_after_expiry_are_refused_as_expired() {
    let late = at(START + Duration::from_secs(301), &Policy::default(), &key());
    let err = transition(
        challenge(Purpose::SignIn, ChallengeStatus::AwaitingCallConfirmation),
        ChallengeEvent::CallConfirmed,
        &late,
    )
    .unwrap_err();
    assert_eq!(err.state, "expired");
}

fn begin_with(
    channel: Option<mfa_core::Channel>,
    code: Option<&OneTimeCode>,
) -> (Challenge, Vec<Effect>) {
    mfa_core::challenge::begin(
        mfa_core::challenge::Begin {
            id: ChallengeId::parse("c2").unwrap(),
            method_id: MethodId::parse("m2").unwrap(),
            purpose: Purpose::Enrollment,
            channel,
            code,
            lifetime: Duration::from_secs(300),
        },
        &ctx(),
    )
}

#[test]
fn choosing_an_sms_method_awaits_a_code_and_sends_it() {
    use mfa_core::{Channel, EnrollmentState};
    assert_eq!(
        EnrollmentState::of(None, START),
        EnrollmentState::ChoosingMethod
    );
    let c = code("123456");
    let (state, effects) = begin_with(Some(Channel::Sms), Some(&c));
    assert_eq!(state.status, ChallengeStatus::AwaitingCode);
    assert_eq!(effects, vec![Effect::Deliver { resend: false }]);
    assert_eq!(state.sends, 1);
    assert_eq!(
        EnrollmentState::of(Some(&state), START),
        EnrollmentState::AwaitingCode
    );
    // The stored answer is a keyed hash that the sent code matches.
    let (verified, _) = transition(state, ChallengeEvent::SubmitCode(&c), &ctx()).unwrap();
    assert_eq!(
        EnrollmentState::of(Some(&verified), START),
        EnrollmentState::Verified
    );
    let (enrolled, _) = transition(verified, ChallengeEvent::Complete, &ctx()).unwrap();
    assert_eq!(
        EnrollmentState::of(Some(&enrolled), START),
        EnrollmentState::Enrolled
    );
}

#[test]
fn choosing_a_press_key_call_awaits_call_confirmation() {
    use mfa_core::{Channel, EnrollmentState};
    let (state, effects) = begin_with(Some(Channel::Voice), None);
    assert_eq!(state.status, ChallengeStatus::AwaitingCallConfirmation);
    assert_eq!(state.answer, Answer::KeyPress);
    assert_eq!(effects, vec![Effect::Deliver { resend: false }]);
    assert_eq!(
        EnrollmentState::of(Some(&state), START),
        EnrollmentState::AwaitingCallConfirmation
    );
}

#[test]
fn choosing_the_app_awaits_a_code_and_sends_nothing() {
    let (state, effects) = begin_with(None, None);
    assert_eq!(state.status, ChallengeStatus::AwaitingCode);
    assert_eq!(state.answer, Answer::AppCode);
    assert_eq!(state.sends, 0);
    assert!(effects.is_empty());
    // Without an app verifier in the context no code can match.
    let c = code("123456");
    let (after, _) = transition(state, ChallengeEvent::SubmitCode(&c), &ctx()).unwrap();
    assert_eq!(after.status, ChallengeStatus::AwaitingCode);
    assert_eq!(after.attempts, 1);
}

/// A record whose call challenge has lost its method (no public call makes one:
/// removing or blocking a method closes its challenges) is refused with a typed
/// error, never answered with a made-up method kind.
#[test]
fn a_call_challenge_without_its_method_is_refused_not_guessed() {
    use mfa_core::machine::{self, Ctx};
    use mfa_core::{CallOutcome, Error, Missing, Proof, SeededRandomness, UserId, UserRecord};

    let user = UserId::new("kari@example.no").unwrap();
    let (policy, key) = (Policy::default(), key());
    let ctx = Ctx {
        user: &user,
        now: START + Duration::from_secs(10),
        policy: &policy,
        key: &key,
        app: None,
    };
    let proof = Proof::generate(&SeededRandomness::new(1));
    for status in [
        ChallengeStatus::Approved,
        ChallengeStatus::AwaitingCallConfirmation,
    ] {
        let mut rec = UserRecord::default();
        let mut c = challenge(Purpose::SignIn, status);
        c.answer = Answer::KeyPress;
        rec.challenges.push(c);
        let id = ChallengeId::parse("c1").unwrap();
        let before = rec.clone();
        let answer = if status == ChallengeStatus::Approved {
            machine::poll(&mut rec, &id, &proof, &ctx)
        } else {
            machine::report_call(&mut rec, &id, CallOutcome::Confirmed, &ctx, &mut Vec::new())
        };
        assert!(
            matches!(answer, Err(Error::NotFound(Missing::Method))),
            "{status:?}: {answer:?}"
        );
        assert_eq!(rec, before, "nothing changed");
    }
}
