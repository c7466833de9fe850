//! Property tests over random event sequences of the pure challenge machine.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use mfa_core::challenge::{Answer, ChallengeEvent, Context, hash_code, transition};
use mfa_core::{
    Challenge, ChallengeId, ChallengeStatus, CodeKey, MethodId, OneTimeCode, Policy, Purpose,
    Timestamp, UserId,
};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Step {
    SubmitCorrect,
    SubmitStale,
    SubmitWrong(u32),
    Resend(u32),
    CallConfirmed,
    Fraud,
    Cancel,
    Expire,
    Complete,
    Wait(u64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        2 => Just(Step::SubmitCorrect),
        2 => Just(Step::SubmitStale),
        6 => (0u32..1_000_000).prop_map(Step::SubmitWrong),
        3 => (0u32..1_000_000).prop_map(Step::Resend),
        1 => Just(Step::CallConfirmed),
        1 => Just(Step::Fraud),
        1 => Just(Step::Cancel),
        1 => Just(Step::Expire),
        2 => Just(Step::Complete),
        2 => (0u64..200).prop_map(Step::Wait),
    ]
}

fn start(purpose: Purpose, key_press: bool, key: &CodeKey, first: &OneTimeCode) -> Challenge {
    let id = ChallengeId::parse("prop").unwrap();
    Challenge {
        answer: if key_press {
            Answer::KeyPress
        } else {
            Answer::SentCode(hash_code(key, &id, 0, first))
        },
        id,
        method_id: MethodId::parse("m").unwrap(),
        purpose,
        status: if key_press {
            ChallengeStatus::AwaitingCallConfirmation
        } else {
            ChallengeStatus::AwaitingCode
        },
        generation: 0,
        attempts: 0,
        max_attempts: 5,
        sends: 1,
        created_at: Timestamp::from_unix_secs(1000),
        expires_at: Timestamp::from_unix_secs(1300),
        last_sent_at: Some(Timestamp::from_unix_secs(1000)),
        approved_at: None,
        closed_at: None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn no_sequence_approves_without_a_correct_answer(
        steps in proptest::collection::vec(step(), 1..40),
        enrollment in any::<bool>(),
        key_press in any::<bool>(),
    ) {
        let key = CodeKey::from_bytes([3; 32]);
        let policy = Policy::default();
        let purpose = if enrollment { Purpose::Enrollment } else { Purpose::SignIn };
        let mut current = OneTimeCode::from_number(111_111, 6);
        let mut stale: Option<OneTimeCode> = None;
        let mut state = start(purpose, key_press, &key, &current);
        let mut now = Timestamp::from_unix_secs(1000);

        for s in steps {
            let before = state.clone();
            let before_status = before.status_at(now);
            let mut correct_answer = false;
            let result = match &s {
                Step::Wait(secs) => { now = now + Duration::from_secs(*secs); continue; }
                Step::SubmitCorrect => {
                    correct_answer = true;
                    transition(state.clone(), ChallengeEvent::SubmitCode(&current), &Context { now, policy: &policy, key: &key, app: None })
                }
                Step::SubmitStale => match &stale {
                    Some(old) => transition(state.clone(), ChallengeEvent::SubmitCode(old), &Context { now, policy: &policy, key: &key, app: None }),
                    None => continue,
                },
                Step::SubmitWrong(n) => {
                    let wrong = OneTimeCode::from_number(u64::from(*n), 6);
                    if wrong == current { continue; }
                    transition(state.clone(), ChallengeEvent::SubmitCode(&wrong), &Context { now, policy: &policy, key: &key, app: None })
                }
                Step::Resend(n) => {
                    let next = OneTimeCode::from_number(u64::from(*n), 6);
                    let r = transition(
                        state.clone(),
                        ChallengeEvent::Resend(if key_press { None } else { Some(&next) }),
                        &Context { now, policy: &policy, key: &key, app: None },
                    );
                    if r.is_ok() && !key_press {
                        stale = Some(std::mem::replace(&mut current, next));
                    }
                    r
                }
                Step::CallConfirmed => {
                    correct_answer = key_press;
                    transition(state.clone(), ChallengeEvent::CallConfirmed, &Context { now, policy: &policy, key: &key, app: None })
                }
                Step::Fraud => transition(state.clone(), ChallengeEvent::FraudReported, &Context { now, policy: &policy, key: &key, app: None }),
                Step::Cancel => transition(state.clone(), ChallengeEvent::Cancel, &Context { now, policy: &policy, key: &key, app: None }),
                Step::Expire => transition(state.clone(), ChallengeEvent::Expire, &Context { now, policy: &policy, key: &key, app: None }),
                Step::Complete => transition(state.clone(), ChallengeEvent::Complete, &Context { now, policy: &policy, key: &key, app: None }),
            };
            let Ok((next, _effects)) = result else { continue };

            // Approval only from a correct answer to an awaiting, unexpired challenge.
            if next.status == ChallengeStatus::Approved && before.status != ChallengeStatus::Approved {
                prop_assert!(correct_answer, "approved by {s:?}");
                prop_assert!(before_status.is_awaiting());
                prop_assert!(before.attempts < before.max_attempts);
            }
            // Enrolled only from approved, only for enrollments.
            if next.status == ChallengeStatus::Completed && before.status != ChallengeStatus::Completed {
                prop_assert_eq!(before.status, ChallengeStatus::Approved);
                prop_assert_eq!(purpose, Purpose::Enrollment);
            }
            // The cap is never exceeded; attempts never go down (resend keeps them).
            prop_assert!(next.attempts <= next.max_attempts);
            prop_assert!(next.attempts >= before.attempts);
            // Final states stay final.
            if before_status.is_final() {
                prop_assert_eq!(next.status, before_status);
            }
            if matches!(before_status, ChallengeStatus::Expired | ChallengeStatus::Canceled) {
                prop_assert!(matches!(next.status, ChallengeStatus::Expired | ChallengeStatus::Canceled));
            }
            state = next;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Invariant 9: any input, typed errors only.
    #[test]
    fn numbers_codes_and_ids_never_panic(
        digits in "[+0-9 ()\\-.]{0,70}",
        cc in any::<u16>(),
        anything in "\\PC{0,80}",
    ) {
        let _ = mfa_core::PhoneNumber::parse(&digits);
        let _ = mfa_core::PhoneNumber::from_parts(cc, &digits);
        let _ = mfa_core::PhoneNumber::parse(&anything);
        let _ = OneTimeCode::parse(&anything);
        let _ = OneTimeCode::parse(&digits);
        let _ = mfa_core::RecoveryCode::parse(&anything);
        let _ = UserId::username(&anything);
        let _ = UserId::new(anything.clone());
        let _ = mfa_core::Extension::parse(&digits);
        if let Ok(n) = mfa_core::PhoneNumber::parse(&digits) {
            prop_assert!(n.e164().starts_with('+'));
            let _ = n.masked();
        }
    }
}
