//! Twilio's `StatusCallback` into the journey: a signed report on a message this
//! process sent reaches `Mfa`; an `undelivered` one offers a call to the same number.
#![cfg(feature = "twilio")]
#![allow(clippy::unwrap_used)]

mod journey;
mod recording_server;

use std::sync::Arc;

use mfa_core::{
    ChallengeId, Event, ManualClock, MemoryDelivery, MemoryEvents, Mfa, NextStep, ProviderCode,
    ReportStatus, Timestamp, UserId,
};
use mfa_sms::twilio::status_callback;
use mfa_sms::{
    FailoverSms, MemorySms, ReportError, SentMessages, SmsDelivery, TwilioSender, TwilioSms,
};
use mfa_twilio::compute_signature;
use recording_server::RecordingServer;

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "token-s3cret";
const MESSAGE: &str = "SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const HOOK: &str = "https://app.example.com/twilio/status";

fn form(status: &str) -> Vec<(String, String)> {
    [
        ("AccountSid", SID),
        ("ApiVersion", "2010-04-01"),
        ("ErrorCode", "30003"),
        ("From", "+14155552345"),
        ("MessageSid", MESSAGE),
        ("MessageStatus", status),
        ("SmsSid", MESSAGE),
        ("SmsStatus", status),
        ("To", "+4741234567"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// An `Mfa` sending by Twilio (to `server`) with a sent log and a voice channel, and
/// one SMS enrollment it has sent.
struct World {
    mfa: Mfa,
    account: mfa_twilio::Account,
    sent: SentMessages,
    clock: ManualClock,
    events: MemoryEvents,
    user: UserId,
    challenge: ChallengeId,
}

/// `server` answers the next message as Twilio does, queued as `sid`.
fn queues(server: &RecordingServer, sid: &str) {
    server.reply(
        201,
        "application/json",
        &format!(r#"{{"sid": "{sid}", "status": "queued"}}"#),
    );
}

/// Twilio's Messages API at `server`, with status callbacks to [`HOOK`].
fn twilio(server: &RecordingServer) -> TwilioSms {
    TwilioSms::new(SID, TOKEN, TwilioSender::From("+14155552345".into()))
        .unwrap()
        .with_base_url(&server.url)
        .unwrap()
        .with_status_callback(HOOK)
        .unwrap()
}

async fn enrolling(server: &RecordingServer) -> World {
    let twilio = twilio(server);
    let account = twilio.account().clone();
    let sent = SentMessages::new();
    let clock = ManualClock::new(Timestamp::from_unix_secs(1_700_000_000));
    let events = MemoryEvents::new();
    let mfa = Mfa::builder()
        .clock(clock.clone())
        .sms(SmsDelivery::new(twilio).with_sent_log(sent.clone()))
        .voice(MemoryDelivery::with_clock(Arc::new(clock.clone())))
        .events(events.clone())
        .build()
        .unwrap();
    let (user, challenge) = journey::begin_sms_enrollment(&mfa).await;
    World {
        mfa,
        account,
        sent,
        clock,
        events,
        user,
        challenge,
    }
}

#[tokio::test]
async fn an_undelivered_status_callback_offers_a_call() {
    let server = RecordingServer::start().await;
    queues(&server, MESSAGE);
    let w = enrolling(&server).await;
    w.clock.advance(std::time::Duration::from_secs(7));

    // Refused: unsigned, signed by someone else, altered, and an unknown message.
    let params = form("undelivered");
    let good = compute_signature(TOKEN, HOOK, &params);
    assert_eq!(
        status_callback(&w.account, &w.sent, HOOK, &params, None).unwrap_err(),
        ReportError::MissingSignature
    );
    let forged = compute_signature("other-token", HOOK, &params);
    assert_eq!(
        status_callback(&w.account, &w.sent, HOOK, &params, Some(&forged)).unwrap_err(),
        ReportError::BadSignature
    );
    let mut altered = params.clone();
    altered[5].1 = "delivered".into();
    assert_eq!(
        status_callback(&w.account, &w.sent, HOOK, &altered, Some(&good)).unwrap_err(),
        ReportError::BadSignature
    );
    let mut unknown = params.clone();
    unknown[4].1 = "SMbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb".into();
    let signed = compute_signature(TOKEN, HOOK, &unknown);
    assert_eq!(
        status_callback(&w.account, &w.sent, HOOK, &unknown, Some(&signed)).unwrap_err(),
        ReportError::UnknownMessage
    );
    // A status on the way is no report.
    let on_the_way = form("sent");
    let signed = compute_signature(TOKEN, HOOK, &on_the_way);
    assert_eq!(
        status_callback(&w.account, &w.sent, HOOK, &on_the_way, Some(&signed)).unwrap(),
        None
    );

    let report = status_callback(&w.account, &w.sent, HOOK, &params, Some(&good))
        .unwrap()
        .unwrap();
    assert_eq!(report.user, w.user);
    assert_eq!(report.challenge_id, w.challenge);
    assert_eq!(report.report.status, ReportStatus::Undelivered);
    assert_eq!(
        report.report.provider_code,
        Some(ProviderCode::new("twilio", 30003))
    );
    let answer = report.report_to(&w.mfa).await.unwrap();
    assert_eq!(answer.next, vec![NextStep::Call]);
    assert_eq!(answer.latency, Some(std::time::Duration::from_secs(7)));
    assert!(w.events.events().iter().any(|e| matches!(
        e,
        Event::DeliveryReported { message_id, provider_code: Some(30003), .. } if message_id == MESSAGE
    )));
}

/// A report that comes late, on a message the challenge has since sent again, is told
/// (the event) but offers no fallback: the newer message may still arrive.
#[tokio::test]
async fn a_late_report_on_an_earlier_send_offers_nothing() {
    const FIRST: &str = "SM11111111111111111111111111111111";
    const SECOND: &str = "SM22222222222222222222222222222222";
    let server = RecordingServer::start().await;
    queues(&server, FIRST);
    let w = enrolling(&server).await;
    w.clock.advance(std::time::Duration::from_secs(60));
    queues(&server, SECOND);
    w.mfa.resend(&w.user, &w.challenge).await.unwrap();

    let undelivered = |sid: &str| {
        let mut params = form("undelivered");
        params[4].1 = sid.into();
        params[6].1 = sid.into();
        let signature = compute_signature(TOKEN, HOOK, &params);
        status_callback(&w.account, &w.sent, HOOK, &params, Some(&signature))
            .unwrap()
            .unwrap()
    };
    let late = undelivered(FIRST);
    assert!(late.report.superseded, "a later send went out");
    let answer = late.report_to(&w.mfa).await.unwrap();
    assert_eq!(answer.next, vec![], "the resent code may still arrive");
    assert!(w.events.events().iter().any(|e| matches!(
        e,
        Event::DeliveryReported { message_id, .. } if message_id == FIRST
    )));

    let latest = undelivered(SECOND);
    assert!(!latest.report.superseded);
    let answer = latest.report_to(&w.mfa).await.unwrap();
    assert_eq!(answer.next, vec![NextStep::Call]);
}

/// Behind the failover layer, the log keeps the provider's id of the send that went
/// through, so Twilio's report on it is found (and not the layer's list of attempts).
#[tokio::test]
async fn a_report_on_a_message_sent_after_failing_over_is_found() {
    let server = RecordingServer::start().await;
    queues(&server, MESSAGE);
    let twilio = twilio(&server);
    let account = twilio.account().clone();
    let down = MemorySms::new();
    down.fail_always(mfa_core::DeliveryError::transient("operator down"));
    let routes = FailoverSms::new()
        .route("down", down)
        .route("twilio", twilio)
        .attempts_per_route(1);
    let sent = SentMessages::new();
    let mfa = Mfa::builder()
        .sms(SmsDelivery::new(routes).with_sent_log(sent.clone()))
        .voice(MemoryDelivery::new())
        .build()
        .unwrap();
    let (user, challenge) = journey::begin_sms_enrollment(&mfa).await;

    let params = form("undelivered");
    let signature = compute_signature(TOKEN, HOOK, &params);
    let report = status_callback(&account, &sent, HOOK, &params, Some(&signature))
        .unwrap()
        .unwrap();
    assert_eq!((&report.user, &report.challenge_id), (&user, &challenge));
    let answer = report.report_to(&mfa).await.unwrap();
    assert_eq!(answer.next, vec![NextStep::Call]);
}

proptest::proptest! {
    /// Any request, however odd, gets a typed answer, and nothing unsigned is a report.
    #[test]
    fn arbitrary_callbacks_are_refused_without_panicking(
        url in ".{0,200}",
        params in proptest::collection::vec((".{0,16}", ".{0,40}"), 0..10),
        signature in proptest::option::of(".{0,40}"),
    ) {
        let account = mfa_twilio::Account::new(SID, mfa_twilio::AuthToken::new(TOKEN)).unwrap();
        let sent = SentMessages::new();
        proptest::prop_assert!(status_callback(&account, &sent, &url, &params, signature.as_deref()).is_err());
    }

    /// Signed but about no message of ours: refused, never a report.
    #[test]
    fn signed_callbacks_for_unknown_messages_are_refused(
        sid in "[A-Za-z0-9]{1,40}",
        status in "(queued|sent|delivered|undelivered|failed|x{0,3})",
    ) {
        let account = mfa_twilio::Account::new(SID, mfa_twilio::AuthToken::new(TOKEN)).unwrap();
        let sent = SentMessages::new();
        let params: Vec<(String, String)> = vec![
            ("MessageSid".into(), sid),
            ("MessageStatus".into(), status),
        ];
        let signature = compute_signature(TOKEN, HOOK, &params);
        let answer = status_callback(&account, &sent, HOOK, &params, Some(&signature));
        proptest::prop_assert!(matches!(answer, Ok(None) | Err(_)));
    }
}

#[cfg(feature = "kannel")]
proptest::proptest! {
    /// Kannel's reports are unsigned: any query gets a typed answer, and only a
    /// challenge this process sent to becomes a report.
    #[test]
    fn arbitrary_kannel_reports_are_typed(
        params in proptest::collection::vec(("(challenge|status|id|reply|.{0,8})", ".{0,40}"), 0..8),
    ) {
        let sent = SentMessages::new();
        let answer = mfa_sms::kannel::delivery_report(&sent, &params);
        proptest::prop_assert!(matches!(answer, Ok(None) | Err(_)));
    }
}
