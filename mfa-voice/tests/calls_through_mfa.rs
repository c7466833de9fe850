//! The voice channel driven through `Mfa` with the memory backend: enrollment and
//! sign-in by call, both ways of verifying, fraud reports, and calls that fail.

#![allow(clippy::unwrap_used)] // test fixtures

use std::sync::Arc;
use std::time::Duration;

use mfa_core::{
    CallConfirmation, CallOutcome, ChallengeStatus, Content, DeliveryErrorKind, Error, Event,
    Extension, ManualClock, MemoryEvents, Method, MethodStatus, Mfa, Missing, PhoneMode,
    PhoneNumber, Policy, Purpose, Status, Timestamp, UserId, Verification,
};
use mfa_voice::{CallEnd, CallState, Callee, MemoryVoice};

struct World {
    mfa: Mfa,
    phone: MemoryVoice,
    clock: ManualClock,
    events: MemoryEvents,
}

fn world(confirmation: CallConfirmation) -> World {
    let clock = ManualClock::new(Timestamp::from_unix_secs(1_700_000_000));
    let phone = MemoryVoice::with_clock(Arc::new(clock.clone()));
    let events = MemoryEvents::new();
    let mut policy = Policy::default();
    policy.call_confirmation = confirmation;
    policy.app_name = "Contoso".into();
    let mfa = Mfa::builder()
        .voice(phone.clone())
        .clock(clock.clone())
        .events(events.clone())
        .policy(policy)
        .build()
        .unwrap();
    World {
        mfa,
        phone,
        clock,
        events,
    }
}

fn kari() -> UserId {
    UserId::username("kari.nordmann@example.no").unwrap()
}

fn office() -> PhoneNumber {
    PhoneNumber::parse("+47 22 12 34 56").unwrap()
}

fn mobile() -> PhoneNumber {
    PhoneNumber::parse("+47 412 34 567").unwrap()
}

/// An enrollment's approval: it carries no proof (`complete` makes one).
fn enrollment_approved(v: &Verification) -> bool {
    matches!(v, Verification::Approved(a) if a.purpose == Purpose::Enrollment && a.proof.is_none())
}

fn mobile_call() -> Method {
    Method::AuthenticationPhone {
        number: mobile(),
        mode: PhoneMode::Call,
    }
}

/// Enrolls Kari's mobile by a call she confirms with `#` at once.
async fn enrolled(w: &World) {
    w.phone.set_callee(&mobile(), Callee::Presses("#".into()));
    let pending = w
        .mfa
        .begin_enrollment(&kari(), mobile_call())
        .await
        .unwrap();
    assert_eq!(pending.waiting_for, ChallengeStatus::Approved);
    w.mfa
        .complete(&kari(), &pending.challenge_id)
        .await
        .unwrap();
    w.phone.set_callee(&mobile(), Callee::Answers);
}

#[tokio::test]
async fn office_phone_with_extension_is_enrolled_by_pressing_pound() {
    let w = world(CallConfirmation::PressKey);
    let method = Method::OfficePhone {
        number: office(),
        extension: Some(Extension::parse("1234").unwrap()),
    };
    let pending = w
        .mfa
        .begin_enrollment(&kari(), method.clone())
        .await
        .unwrap();
    assert_eq!(
        pending.waiting_for,
        ChallengeStatus::AwaitingCallConfirmation
    );

    let call = w.phone.last_call_to(&office()).unwrap();
    assert_eq!(call.request.content, Content::ConfirmByKey);
    assert_eq!(call.script.send_digits(), Some("wwww1234"));
    let text = call.script.spoken_text();
    assert!(
        text.contains("transfer this call to extension one, two, three, four"),
        "{text}"
    );
    assert!(
        text.contains("If you are already at this extension, press the pound key"),
        "{text}"
    );
    assert!(
        text.contains("press the pound key to finish your verification")
            || text.contains("Press the pound key to finish your verification")
    );

    // The person at the extension presses # ("I am here"), then # to confirm.
    let heard = w.phone.press(&pending.challenge_id, "##").unwrap();
    assert_eq!(heard.sent_digits, vec!["wwww1234".to_owned()]);
    assert_eq!(heard.call_outcome(), Some(CallOutcome::Confirmed));
    assert!(
        heard
            .heard
            .last()
            .unwrap()
            .contains("verification is complete")
    );
    let verdict = w
        .mfa
        .report_call(
            &kari(),
            &pending.challenge_id,
            heard.call_outcome().unwrap(),
        )
        .await
        .unwrap();
    assert!(enrollment_approved(&verdict), "{verdict:?}");

    let record = w
        .mfa
        .complete(&kari(), &pending.challenge_id)
        .await
        .unwrap()
        .method;
    assert_eq!(record.status, MethodStatus::Active);
    assert_eq!(record.method, method);
    match w.mfa.status(&kari()).await.unwrap() {
        Status::Enrolled { default, .. } => assert_eq!(default.method, method),
        other => panic!("not enrolled: {other:?}"),
    }
    assert!(w.phone.pending_calls().is_empty());
}

#[tokio::test]
async fn a_preset_callee_confirms_within_the_send() {
    let w = world(CallConfirmation::PressKey);
    w.phone.set_callee(&office(), Callee::Presses("##".into()));
    let method = Method::OfficePhone {
        number: office(),
        extension: Some(Extension::parse("42").unwrap()),
    };
    let pending = w.mfa.begin_enrollment(&kari(), method).await.unwrap();
    // The receipt carried the outcome, so the driver approved during the send.
    assert_eq!(pending.waiting_for, ChallengeStatus::Approved);
    w.mfa
        .complete(&kari(), &pending.challenge_id)
        .await
        .unwrap();
}

#[tokio::test]
async fn zero_pound_denies_the_sign_in_reports_fraud_and_blocks_the_phone() {
    let w = world(CallConfirmation::PressKey);
    enrolled(&w).await;
    let method_id = match w.mfa.status(&kari()).await.unwrap() {
        Status::Enrolled { default, .. } => default.id,
        other => panic!("not enrolled: {other:?}"),
    };

    let pending = w.mfa.challenge(&kari()).await.unwrap();
    let heard = w.phone.press(&pending.challenge_id, "0#").unwrap();
    assert_eq!(heard.call_outcome(), Some(CallOutcome::FraudReported));
    assert!(heard.heard.last().unwrap().contains("denied and reported"));
    let verdict = w
        .mfa
        .report_call(&kari(), &pending.challenge_id, CallOutcome::FraudReported)
        .await
        .unwrap();
    assert_eq!(verdict, Verification::Denied);
    assert_eq!(
        w.mfa
            .challenge_status(&kari(), &pending.challenge_id)
            .await
            .unwrap(),
        ChallengeStatus::Denied
    );
    assert!(w.events.events().iter().any(|e| matches!(
        e,
        Event::FraudReported { user, method_id: m, challenge_id: c, purpose: Purpose::SignIn, .. }
            if user == &kari() && m == &method_id && c == &pending.challenge_id
    )));
    let methods = w.mfa.methods(&kari()).await.unwrap();
    let phone = methods.iter().find(|m| m.id == method_id).unwrap();
    assert_eq!(phone.status, MethodStatus::Blocked);
    // A later "#" cannot undo the denial.
    assert_eq!(
        w.mfa
            .report_call(&kari(), &pending.challenge_id, CallOutcome::Confirmed)
            .await
            .unwrap(),
        Verification::Denied
    );
}

#[tokio::test]
async fn a_read_out_code_is_heard_after_a_key_and_typed() {
    let w = world(CallConfirmation::ReadCode);
    let pending = w
        .mfa
        .begin_enrollment(&kari(), mobile_call())
        .await
        .unwrap();
    assert_eq!(pending.waiting_for, ChallengeStatus::AwaitingCode);
    let call = w.phone.last_call_to(&mobile()).unwrap();
    let sent = call.request.code().unwrap().expose().to_owned();

    let heard = w.phone.press(&pending.challenge_id, "1").unwrap();
    assert_eq!(heard.end, CallEnd::CodeRead);
    // Spoken as words, one digit at a time, three times.
    let digits = heard.digits_heard();
    assert_eq!(digits, sent.repeat(3));
    assert!(
        !heard.heard.iter().any(|s| s.contains(&sent)),
        "never as a number"
    );

    let wrong = if sent == "000000" { "111111" } else { "000000" };
    assert_eq!(
        w.mfa
            .verify(&kari(), &pending.challenge_id, wrong)
            .await
            .unwrap(),
        Verification::Rejected { attempts_left: 4 }
    );
    let verdict = w
        .mfa
        .verify(&kari(), &pending.challenge_id, &digits[..6])
        .await
        .unwrap();
    assert!(enrollment_approved(&verdict), "{verdict:?}");
    w.mfa
        .complete(&kari(), &pending.challenge_id)
        .await
        .unwrap();
}

#[tokio::test]
async fn voicemail_never_hears_the_code_and_the_challenge_stays_pending() {
    let w = world(CallConfirmation::ReadCode);
    let pending = w
        .mfa
        .begin_enrollment(&kari(), mobile_call())
        .await
        .unwrap();
    let sent = w
        .phone
        .last_call_to(&mobile())
        .unwrap()
        .request
        .code()
        .unwrap()
        .expose()
        .to_owned();

    let voicemail = w.phone.press(&pending.challenge_id, "").unwrap();
    assert_eq!(voicemail.end, CallEnd::NoKey);
    assert_eq!(voicemail.digits_heard(), "");
    let recording = voicemail.heard.join(" ");
    assert!(!recording.contains(&sent));
    assert!(recording.contains("Press any key"));
    assert_eq!(
        w.mfa
            .challenge_status(&kari(), &pending.challenge_id)
            .await
            .unwrap(),
        ChallengeStatus::AwaitingCode
    );

    // The user asks for another call and answers it themselves.
    w.clock.advance(Duration::from_secs(30));
    w.mfa.resend(&kari(), &pending.challenge_id).await.unwrap();
    let heard = w.phone.press(&pending.challenge_id, "5").unwrap();
    let code = heard.digits_heard()[..6].to_owned();
    let verdict = w
        .mfa
        .verify(&kari(), &pending.challenge_id, &code)
        .await
        .unwrap();
    assert!(enrollment_approved(&verdict), "{verdict:?}");
}

#[tokio::test]
async fn a_preset_voicemail_gets_a_typed_error_no_code_and_a_pending_challenge() {
    let w = world(CallConfirmation::ReadCode);
    w.phone.set_callee(&mobile(), Callee::Voicemail);
    let err = w
        .mfa
        .begin_enrollment(&kari(), mobile_call())
        .await
        .unwrap_err();
    let challenge_id = match &err {
        Error::CallNotCompleted {
            challenge_id,
            error,
        } => {
            assert_eq!(error.kind(), DeliveryErrorKind::Declined);
            challenge_id.clone()
        }
        other => panic!("unexpected {other:?}"),
    };
    let call = w.phone.last_call_to(&mobile()).unwrap();
    let heard = call.playback().unwrap();
    assert_eq!(heard.digits_heard(), "");
    assert!(!format!("{err}").contains(call.request.code().unwrap().expose()));

    // The first call did not consume the challenge: the user asks to be called again.
    assert_eq!(
        w.mfa
            .challenge_status(&kari(), &challenge_id)
            .await
            .unwrap(),
        ChallengeStatus::AwaitingCode
    );
    w.phone.set_callee(&mobile(), Callee::Answers);
    w.clock.advance(Duration::from_secs(30));
    w.mfa.resend(&kari(), &challenge_id).await.unwrap();
    let heard = w.phone.press(&challenge_id, "5").unwrap();
    let code = heard.digits_heard()[..6].to_owned();
    let verdict = w.mfa.verify(&kari(), &challenge_id, &code).await.unwrap();
    assert!(enrollment_approved(&verdict), "{verdict:?}");
}

#[tokio::test]
async fn sign_in_by_call_after_enrollment() {
    let w = world(CallConfirmation::PressKey);
    enrolled(&w).await;
    let pending = w.mfa.challenge(&kari()).await.unwrap();
    assert_eq!(
        pending.waiting_for,
        ChallengeStatus::AwaitingCallConfirmation
    );
    let call = w.phone.last_call_to(&mobile()).unwrap();
    assert!(call.script.spoken_text().contains("checking your sign-in"));
    let heard = w.phone.press(&pending.challenge_id, "#").unwrap();
    let verdict = w
        .mfa
        .report_call(
            &kari(),
            &pending.challenge_id,
            heard.call_outcome().unwrap(),
        )
        .await
        .unwrap();
    assert!(verdict.is_approved());
    // The key press approves; the sign-in page's poll redeems it, once, for the proof.
    assert_eq!(verdict.proof(), None);
    assert_eq!(
        w.mfa
            .challenge_status(&kari(), &pending.challenge_id)
            .await
            .unwrap(),
        ChallengeStatus::Approved,
        "a view does not redeem"
    );
    let signed_in = w.mfa.poll(&kari(), &pending.challenge_id).await.unwrap();
    assert!(
        matches!(&signed_in, Verification::Approved(a) if a.purpose == Purpose::SignIn && a.proof.is_some()),
        "{signed_in:?}"
    );
    assert_eq!(
        w.mfa.poll(&kari(), &pending.challenge_id).await.unwrap(),
        Verification::AlreadyUsed
    );
    // Signing in is not enrolling: there is nothing to complete.
    assert!(
        w.mfa
            .complete(&kari(), &pending.challenge_id)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn norwegian_calls_speak_bokmal() {
    let clock = ManualClock::new(Timestamp::from_unix_secs(1_700_000_000));
    let phone = MemoryVoice::with_clock(Arc::new(clock.clone()));
    let mut policy = Policy::default();
    policy.locale = "nb".into();
    let mfa = Mfa::builder()
        .voice(phone.clone())
        .clock(clock)
        .policy(policy)
        .build()
        .unwrap();
    let pending = mfa.begin_enrollment(&kari(), mobile_call()).await.unwrap();
    let call = phone.last_call_to(&mobile()).unwrap();
    assert!(call.script.spoken_text().contains("Trykk firkant"));
    let heard = phone.press(&pending.challenge_id, "#").unwrap();
    assert!(heard.heard.last().unwrap().contains("fullført"));
}

#[tokio::test]
async fn unanswered_busy_and_hung_up_calls_leave_the_challenge_pending() {
    let w = world(CallConfirmation::PressKey);
    let pending = w
        .mfa
        .begin_enrollment(&kari(), mobile_call())
        .await
        .unwrap();
    let id = pending.challenge_id;

    // Hung up before the key: nothing is reported, nothing changes.
    let heard = w.phone.hang_up(&id).unwrap();
    assert_eq!(heard.call_outcome(), None);
    assert_eq!(
        w.mfa.challenge_status(&kari(), &id).await.unwrap(),
        ChallengeStatus::AwaitingCallConfirmation
    );

    for (callee, kind) in [
        (Callee::NoAnswer, DeliveryErrorKind::NoAnswer),
        (Callee::Busy, DeliveryErrorKind::Busy),
        (Callee::HangsUp, DeliveryErrorKind::Declined),
    ] {
        w.phone.set_callee(&mobile(), callee.clone());
        w.clock.advance(Duration::from_secs(30));
        // v2: a call that rang out, was busy or hung up on a resend is, like the first
        // call, `CallNotCompleted` naming the challenge that stays pending.
        match w.mfa.resend(&kari(), &id).await {
            Err(Error::CallNotCompleted {
                challenge_id,
                error,
            }) => {
                assert_eq!(error.kind(), kind, "{callee:?}");
                assert_eq!(challenge_id, id, "{callee:?}");
            }
            other => panic!("{callee:?}: {other:?}"),
        }
        assert_eq!(
            w.mfa.challenge_status(&kari(), &id).await.unwrap(),
            ChallengeStatus::AwaitingCallConfirmation,
            "{callee:?}"
        );
    }
    let states: Vec<CallState> = w.phone.calls().into_iter().map(|c| c.state).collect();
    assert_eq!(
        states[1],
        CallState::NotConnected(DeliveryErrorKind::NoAnswer)
    );
    assert_eq!(states[2], CallState::NotConnected(DeliveryErrorKind::Busy));

    // The fifth send is the last one the policy allows; this time Kari answers.
    w.phone.set_callee(&mobile(), Callee::Presses("#".into()));
    w.clock.advance(Duration::from_secs(30));
    let pending = w.mfa.resend(&kari(), &id).await.unwrap();
    assert_eq!(pending.waiting_for, ChallengeStatus::Approved);
}

#[tokio::test]
async fn junk_keys_and_unknown_challenges_change_nothing() {
    let w = world(CallConfirmation::PressKey);
    let pending = w
        .mfa
        .begin_enrollment(&kari(), mobile_call())
        .await
        .unwrap();
    let heard = w.phone.press(&pending.challenge_id, "5#").unwrap();
    assert_eq!(heard.end, CallEnd::Unrecognized);
    assert_eq!(heard.call_outcome(), None);
    assert_eq!(
        w.mfa
            .challenge_status(&kari(), &pending.challenge_id)
            .await
            .unwrap(),
        ChallengeStatus::AwaitingCallConfirmation
    );
    // The call is over: pressing again reaches nobody.
    assert!(w.phone.press(&pending.challenge_id, "#").is_none());
    let unknown = mfa_core::ChallengeId::parse("no-such-challenge").unwrap();
    assert!(matches!(
        w.mfa
            .report_call(&kari(), &unknown, CallOutcome::Confirmed)
            .await,
        Err(Error::NotFound(Missing::Challenge))
    ));
}

#[tokio::test]
async fn records_never_show_the_code() {
    let w = world(CallConfirmation::ReadCode);
    let pending = w
        .mfa
        .begin_enrollment(&kari(), mobile_call())
        .await
        .unwrap();
    w.phone.press(&pending.challenge_id, "1").unwrap();
    let call = w.phone.last_call_to(&mobile()).unwrap();
    let code = call.request.code().unwrap().expose().to_owned();
    let spoken = mfa_voice::Language::English.spell_digits(&code);
    let shown = format!("{:?} {:?}", w.phone.calls(), w.phone);
    assert!(!shown.contains(&code), "{shown}");
    assert!(!shown.contains(&spoken), "{shown}");
}

/// Number matching through `Mfa`: the page shows two digits, the call asks for them
/// without saying them, and only those digits approve; in English and Norwegian.
#[tokio::test]
async fn number_matching_approves_only_the_number_the_page_shows() {
    for (locale, asks, wrong) in [
        (
            "en",
            "Enter the two-digit number shown on your",
            "That is not the number on your screen",
        ),
        (
            "nb",
            "Tast inn det tosifrede tallet",
            "Det er ikke tallet på skjermen din",
        ),
    ] {
        let clock = ManualClock::new(Timestamp::from_unix_secs(1_700_000_000));
        let phone = MemoryVoice::with_clock(Arc::new(clock.clone()));
        let events = MemoryEvents::new();
        let mut policy = Policy::default();
        policy.call_confirmation = CallConfirmation::MatchNumber;
        policy.app_name = "Contoso".into();
        policy.locale = locale.into();
        let mfa = Mfa::builder()
            .voice(phone.clone())
            .clock(clock.clone())
            .events(events.clone())
            .policy(policy)
            .build()
            .unwrap();

        let pending = mfa.begin_enrollment(&kari(), mobile_call()).await.unwrap();
        let shown = pending.match_number.expect("the page shows a number");
        let call = phone.last_call_to(&mobile()).unwrap();
        assert_eq!(call.request.content, Content::MatchNumber(shown));
        let text = call.script.spoken_text();
        assert!(text.contains(asks), "{locale}: {text}");
        // A blind `#` (what push fatigue presses) approves nothing.
        let blind = phone.press(&pending.challenge_id, "#").unwrap();
        assert_eq!(blind.end, CallEnd::Unrecognized);
        assert_eq!(blind.call_outcome(), None);
        assert_eq!(
            mfa.challenge_status(&kari(), &pending.challenge_id)
                .await
                .unwrap(),
            ChallengeStatus::AwaitingCallConfirmation
        );

        // Called again: the page shows a new number, and keying it in approves.
        clock.advance(Duration::from_secs(60));
        let again = mfa.resend(&kari(), &pending.challenge_id).await.unwrap();
        let shown = again.match_number.unwrap();
        let heard = phone
            .press(&pending.challenge_id, &shown.to_string())
            .unwrap();
        let outcome = heard.call_outcome().unwrap();
        assert_eq!(outcome, CallOutcome::Confirmed);
        let verdict = mfa
            .report_call(&kari(), &pending.challenge_id, outcome)
            .await
            .unwrap();
        assert!(enrollment_approved(&verdict), "{verdict:?}");
        mfa.complete(&kari(), &pending.challenge_id).await.unwrap();

        // A sign-in where the callee keys in another number: denied, one failure.
        let sign_in = mfa.challenge(&kari()).await.unwrap();
        let shown = sign_in.match_number.unwrap();
        let other = format!(
            "{:02}",
            (shown.to_string().parse::<u8>().unwrap() + 1) % 100
        );
        let heard = phone.press(&sign_in.challenge_id, &other).unwrap();
        assert_eq!(heard.call_outcome(), Some(CallOutcome::WrongNumber));
        assert!(heard.heard.last().unwrap().contains(wrong), "{heard:?}");
        assert_eq!(
            mfa.report_call(&kari(), &sign_in.challenge_id, CallOutcome::WrongNumber)
                .await
                .unwrap(),
            Verification::Denied
        );
        assert!(events.events().iter().any(|e| matches!(
            e,
            Event::CheckFailed {
                purpose: Purpose::SignIn,
                ..
            }
        )));
        assert_eq!(
            mfa.poll(&kari(), &sign_in.challenge_id).await.unwrap(),
            Verification::Denied
        );

        // Voicemail hears the prompt and never a digit of the number: the words are
        // the same whatever number the page shows.
        let sign_in = mfa.challenge(&kari()).await.unwrap();
        let voicemail = phone.press(&sign_in.challenge_id, "").unwrap();
        assert_eq!(voicemail.end, CallEnd::NoKey);
        let script = phone.last_call_to(&mobile()).unwrap().script;
        let other = mfa_voice::CallScript::match_number(
            script.language(),
            "Contoso",
            true,
            mfa_core::SignInNumber::parse("00").unwrap(),
            None,
            &mfa_voice::ScriptOptions::default(),
        );
        assert_eq!(script.spoken_text(), other.spoken_text());
        // And the number stays out of Debug.
        let shown = sign_in.match_number.unwrap().to_string();
        assert!(!format!("{script:?} {sign_in:?}").contains(&format!("({shown})")));
    }
}

/// `0#` on a number-matching call reports fraud, as on a "press #" call; the outcome
/// comes back in the receipt.
#[tokio::test]
async fn zero_pound_reports_fraud_on_a_number_matching_call() {
    let w = world(CallConfirmation::MatchNumber);
    // The callee cannot know the number before the call; `0#` can be preset.
    w.phone.set_callee(&mobile(), Callee::Presses("0#".into()));
    let pending = w
        .mfa
        .begin_enrollment(&kari(), mobile_call())
        .await
        .unwrap();
    assert_eq!(pending.waiting_for, ChallengeStatus::Denied);
    assert!(
        w.events
            .events()
            .iter()
            .any(|e| matches!(e, Event::FraudReported { .. }))
    );
}
