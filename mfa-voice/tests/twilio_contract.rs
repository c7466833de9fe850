//! The Twilio backend against a local server that checks requests as Twilio's Calls
//! API documents them, and the webhook handlers fed with requests signed by an
//! independent implementation (Python's `hmac`) or Twilio's published examples.
#![cfg(feature = "twilio")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test fixtures

use std::net::SocketAddr;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Form, Json, Router};
use mfa_core::{
    CallConfirmation, CallOutcome, ChallengeStatus, DeliveryErrorKind, Error, Event, Extension,
    ManualClock, MemoryEvents, Method, Mfa, PhoneMode, PhoneNumber, Policy, Purpose, Timestamp,
    UserId, Verification,
};
use mfa_voice::twilio::{
    AuthToken, CallEvent, TwilioConfig, TwilioVoice, TwilioWebhooks, WebhookError,
    compute_signature, signature_is_valid,
};
use serde_json::{Value, json};

const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "test-auth-token";
const HOOKS: &str = "https://app.example.com/mfa/twilio";
const CALL_SID: &str = "CA00000000000000000000000000000001";

type Form_ = Vec<(String, String)>;

#[derive(Clone, Default)]
struct Twilio {
    requests: Arc<Mutex<Vec<Form_>>>,
}

fn twilio_error(status: StatusCode, code: u32, message: &str) -> (StatusCode, Json<Value>) {
    (
        status,
        Json(json!({
            "code": code,
            "message": message,
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
            "status": status.as_u16(),
        })),
    )
}

fn get<'a>(form: &'a Form_, name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// POST /2010-04-01/Accounts/{AccountSid}/Calls.json, checked as Twilio documents it.
async fn create_call(
    State(twilio): State<Twilio>,
    Path(account): Path<String>,
    headers: HeaderMap,
    Form(form): Form<Form_>,
) -> (StatusCode, Json<Value>) {
    let expected = format!(
        "Basic {}",
        python(&format!(
            "import base64; print(base64.b64encode(b'{ACCOUNT}:{TOKEN}').decode())"
        ))
    );
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    if auth != Some(expected.as_str()) || account != ACCOUNT {
        return twilio_error(StatusCode::UNAUTHORIZED, 20003, "Authenticate");
    }
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok());
    assert_eq!(content_type, Some("application/x-www-form-urlencoded"));
    let to = get(&form, "To").expect("To is required");
    let from = get(&form, "From").expect("From is required");
    assert!(
        to.starts_with('+') && from.starts_with('+'),
        "E.164 numbers"
    );
    let sources = ["Url", "Twiml", "ApplicationSid"]
        .iter()
        .filter(|k| get(&form, k).is_some())
        .count();
    assert_eq!(sources, 1, "exactly one of Url, Twiml, ApplicationSid");
    let twiml = get(&form, "Twiml").unwrap();
    assert!(
        twiml.len() <= 4000,
        "inline TwiML is limited to 4,000 characters"
    );
    assert!(
        twiml.starts_with("<?xml") && twiml.contains("<Response>"),
        "{twiml}"
    );
    if let Some(digits) = get(&form, "SendDigits") {
        assert!(
            digits
                .chars()
                .all(|c| c.is_ascii_digit() || "#*w".contains(c))
        );
    }
    twilio.requests.lock().unwrap().push(form.clone());
    match to {
        "+4740000001" => twilio_error(
            StatusCode::BAD_REQUEST,
            21211,
            "Invalid 'To' Phone Number: +4740000001",
        ),
        "+4740000002" => twilio_error(StatusCode::TOO_MANY_REQUESTS, 20429, "Too Many Requests"),
        "+4740000003" => twilio_error(
            StatusCode::SERVICE_UNAVAILABLE,
            20500,
            "Service Unavailable",
        ),
        _ => (
            StatusCode::CREATED,
            Json(json!({
                "sid": CALL_SID,
                "account_sid": ACCOUNT,
                "to": to,
                "from": from,
                "status": "queued",
                "api_version": "2010-04-01",
                "uri": format!("/2010-04-01/Accounts/{ACCOUNT}/Calls/{CALL_SID}.json"),
            })),
        ),
    }
}

async fn start_twilio() -> (Twilio, SocketAddr) {
    let twilio = Twilio::default();
    let app = Router::new()
        .route(
            "/2010-04-01/Accounts/{account}/Calls.json",
            post(create_call),
        )
        .with_state(twilio.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (twilio, addr)
}

/// Runs a Python snippet and returns its output: an implementation independent of ours.
fn python(code: &str) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(code)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Twilio's signature, computed with Python's `hmac` and `base64` as Twilio documents.
fn python_signature(token: &str, url: &str, params: &Form_) -> String {
    let input = json!([token, url, params]).to_string();
    let out = Command::new("python3")
        .arg("-c")
        .arg(
            "import sys, json, hmac, hashlib, base64\n\
             token, url, params = json.loads(sys.argv[1])\n\
             s = url + ''.join(k + v for k, v in sorted(set(map(tuple, params))))\n\
             print(base64.b64encode(hmac.new(token.encode(), s.encode(), hashlib.sha1).digest()).decode())",
        )
        .arg(input)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

struct World {
    mfa: Mfa,
    twilio: Twilio,
    hooks: TwilioWebhooks,
    clock: ManualClock,
    events: MemoryEvents,
}

async fn world(confirmation: CallConfirmation, token: &str) -> World {
    let (twilio, addr) = start_twilio().await;
    let clock = ManualClock::new(Timestamp::from_unix_secs(1_700_000_000));
    let config = TwilioConfig::new(
        ACCOUNT,
        AuthToken::new(token),
        PhoneNumber::parse("+15005550006").unwrap(),
        HOOKS,
    )
    .with_api_base(format!("http://{addr}"));
    let voice = TwilioVoice::with_link_key(config, [7; 32], Arc::new(clock.clone())).unwrap();
    let hooks = voice.webhooks();
    let mut policy = Policy::default();
    policy.call_confirmation = confirmation;
    policy.app_name = "Contoso".into();
    let events = MemoryEvents::new();
    let mfa = Mfa::builder()
        .voice(voice)
        .clock(clock.clone())
        .events(events.clone())
        .policy(policy)
        .build()
        .unwrap();
    World {
        mfa,
        twilio,
        hooks,
        clock,
        events,
    }
}

fn kari() -> UserId {
    UserId::username("kari@example.no").unwrap()
}

fn office_with_extension() -> Method {
    Method::OfficePhone {
        number: PhoneNumber::parse("+47 22 12 34 56").unwrap(),
        extension: Some(Extension::parse("1234").unwrap()),
    }
}

fn call_to(number: &str) -> Method {
    Method::AuthenticationPhone {
        number: PhoneNumber::parse(number).unwrap(),
        mode: PhoneMode::Call,
    }
}

/// The action URL of the first `<Gather>` in a TwiML document.
fn action_url(twiml: &str) -> String {
    let start = twiml.find(r#"action=""#).expect("a Gather with an action") + 8;
    let end = start + twiml[start..].find('"').unwrap();
    twiml[start..end].replace("&amp;", "&")
}

fn gather_params(digits: &str) -> Form_ {
    [
        ("AccountSid", ACCOUNT),
        ("CallSid", CALL_SID),
        ("CallStatus", "in-progress"),
        ("Digits", digits),
        ("Direction", "outbound-api"),
        ("From", "+15005550006"),
        ("To", "+4722123456"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn status_params(status: &str) -> Form_ {
    [
        ("AccountSid", ACCOUNT),
        ("CallSid", CALL_SID),
        ("CallStatus", status),
        ("Direction", "outbound-api"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// Twilio presses `digits` at the prompt whose action URL is `url`.
fn press(
    w: &World,
    url: &str,
    digits: &str,
) -> Result<mfa_voice::twilio::WebhookReply, WebhookError> {
    let params = gather_params(digits);
    let signature = python_signature(TOKEN, url, &params);
    w.hooks.handle_gather(url, &params, Some(&signature))
}

fn status(
    w: &World,
    url: &str,
    call_status: &str,
) -> Result<mfa_voice::twilio::WebhookReply, WebhookError> {
    let params = status_params(call_status);
    let signature = python_signature(TOKEN, url, &params);
    w.hooks.handle_status(url, &params, Some(&signature))
}

fn last_request(w: &World) -> Form_ {
    w.twilio
        .requests
        .lock()
        .unwrap()
        .last()
        .cloned()
        .expect("a call was placed")
}

#[test]
fn twilio_documented_example_signature() {
    // The worked example of Twilio's webhook security documentation.
    let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
    let params: Form_ = [
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+14158675309"),
        ("Digits", "1234"),
        ("From", "+14158675309"),
        ("To", "+18005551212"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(
        compute_signature("12345", url, &params),
        "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    );
    assert!(signature_is_valid(
        "12345",
        url,
        &params,
        "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    ));
    // twilio-python's test of repeated parameters: distinct values, sorted.
    let repeated: Form_ = [
        ("Sid", "CA123"),
        ("SidAccount", "AC123"),
        ("Digits", "5678"),
        ("Digits", "1234"),
        ("Digits", "1234"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(
        compute_signature("12345", url, &repeated),
        "IK+Dwps556ElfBT0I3Rgjkr1wJU="
    );
}

#[test]
fn signatures_match_an_independent_implementation() {
    let cases: Vec<(&str, Form_)> = vec![
        ("https://a.example/x?c=1&t=ff", gather_params("#")),
        (
            "https://a.example/x",
            vec![("Ø".into(), "æ å & = +".into()), ("a".into(), "".into())],
        ),
        ("http://127.0.0.1:8080/status", status_params("no-answer")),
    ];
    for (url, params) in cases {
        let theirs = python_signature("tøken", url, &params);
        assert_eq!(compute_signature("tøken", url, &params), theirs, "{url}");
        assert!(signature_is_valid("tøken", url, &params, &theirs));
        assert!(!signature_is_valid("other", url, &params, &theirs));
    }
}

#[tokio::test]
async fn office_phone_enrollment_over_twilio_confirmed_by_pound() {
    let w = world(CallConfirmation::PressKey, TOKEN).await;
    let pending = w
        .mfa
        .begin_enrollment(&kari(), office_with_extension())
        .await
        .unwrap();
    assert_eq!(
        pending.waiting_for,
        ChallengeStatus::AwaitingCallConfirmation
    );

    let form = last_request(&w);
    assert_eq!(get(&form, "To"), Some("+4722123456"));
    assert_eq!(get(&form, "From"), Some("+15005550006"));
    assert_eq!(get(&form, "SendDigits"), Some("wwww1234"));
    assert_eq!(get(&form, "StatusCallbackMethod"), Some("POST"));
    let status_url = get(&form, "StatusCallback").unwrap().to_owned();
    assert!(status_url.starts_with(&format!("{HOOKS}/status?")));
    let twiml = get(&form, "Twiml").unwrap();
    assert!(twiml.contains(r#"<Say language="en-US">Hello, this is Contoso. Please transfer this call to extension one, two, three, four."#), "{twiml}");
    assert!(twiml.contains(r#"numDigits="1" finishOnKey="""#), "{twiml}");

    // At the extension: "#", then the verification prompt.
    let first = action_url(twiml);
    assert!(first.starts_with(&format!("{HOOKS}/gather?")));
    let reply = press(&w, &first, "#").unwrap();
    assert_eq!(reply.event, None);
    assert!(
        reply
            .twiml
            .contains("Press the pound key to finish your verification"),
        "{}",
        reply.twiml
    );

    let confirm = action_url(&reply.twiml);
    let reply = press(&w, &confirm, "#").unwrap();
    assert!(reply.twiml.contains("Your verification is complete"));
    assert!(reply.twiml.contains("<Hangup/>"));
    let event = reply.event.unwrap();
    assert_eq!(
        event,
        CallEvent::Outcome {
            user: kari(),
            challenge_id: pending.challenge_id.clone(),
            outcome: CallOutcome::Confirmed
        }
    );
    assert_eq!(event.user(), &kari());
    let verdict = event.report_to(&w.mfa).await.unwrap();
    assert!(enrollment_approved(verdict.as_ref()), "{verdict:?}");

    // Twilio retries or an attacker replays the same request: refused, nothing changes.
    assert_eq!(
        press(&w, &confirm, "#").unwrap_err(),
        WebhookError::Replayed
    );
    // The call ends normally after the key: no event.
    assert_eq!(status(&w, &status_url, "completed").unwrap().event, None);
    w.mfa
        .complete(&kari(), &pending.challenge_id)
        .await
        .unwrap();
}

#[tokio::test]
async fn zero_then_pound_over_twilio_reports_fraud() {
    let w = world(CallConfirmation::PressKey, TOKEN).await;
    let pending = w
        .mfa
        .begin_enrollment(&kari(), call_to("+4741234567"))
        .await
        .unwrap();
    let twiml = get(&last_request(&w), "Twiml").unwrap().to_owned();
    assert!(twiml.contains("press zero, then pound"));
    let reply = press(&w, &action_url(&twiml), "0").unwrap();
    assert_eq!(reply.event, None);
    let reply = press(&w, &action_url(&reply.twiml), "#").unwrap();
    assert!(reply.twiml.contains("denied and reported"));
    let event = reply.event.unwrap();
    assert_eq!(event.user(), &kari());
    assert_eq!(
        event.report_to(&w.mfa).await.unwrap(),
        Some(Verification::Denied)
    );
    assert_eq!(
        w.mfa
            .challenge_status(&kari(), &pending.challenge_id)
            .await
            .unwrap(),
        ChallengeStatus::Denied
    );
}

#[tokio::test]
async fn read_out_code_over_twilio_is_held_back_until_a_key() {
    let w = world(CallConfirmation::ReadCode, TOKEN).await;
    let pending = w
        .mfa
        .begin_enrollment(&kari(), call_to("+4741234567"))
        .await
        .unwrap();
    let form = last_request(&w);
    let twiml = get(&form, "Twiml").unwrap().to_owned();
    let status_url = get(&form, "StatusCallback").unwrap().to_owned();
    assert!(twiml.contains("Press any key to hear your verification code"));
    assert_eq!(
        mfa_voice::Language::English.digits_in(&twiml),
        "",
        "no code before the key: {twiml}"
    );
    assert!(get(&form, "SendDigits").is_none());

    let reply = press(&w, &action_url(&twiml), "5").unwrap();
    let digits = mfa_voice::Language::English.digits_in(&reply.twiml);
    assert_eq!(digits.len(), 18, "the code three times");
    assert_eq!(&digits[..6], &digits[6..12]);
    assert!(
        !format!("{reply:?}").contains(&digits[..6]),
        "Debug hides the TwiML"
    );
    assert_eq!(status(&w, &status_url, "completed").unwrap().event, None);
    let verdict = w
        .mfa
        .verify(&kari(), &pending.challenge_id, &digits[..6])
        .await
        .unwrap();
    assert!(enrollment_approved(Some(&verdict)), "{verdict:?}");
}

#[tokio::test]
async fn voicemail_over_twilio_never_hears_the_code_and_the_challenge_stays_pending() {
    let w = world(CallConfirmation::ReadCode, TOKEN).await;
    let pending = w
        .mfa
        .begin_enrollment(&kari(), call_to("+4741234567"))
        .await
        .unwrap();
    let form = last_request(&w);
    let twiml = get(&form, "Twiml").unwrap();
    // Without a key, the document falls through to "no key was pressed" and hangs up.
    let after_gather = &twiml[twiml.find("</Gather>").unwrap()..];
    assert!(
        after_gather.contains("No key was pressed. Goodbye.") && after_gather.contains("<Hangup/>")
    );
    let reply = status(&w, get(&form, "StatusCallback").unwrap(), "completed").unwrap();
    match reply.event.unwrap() {
        CallEvent::Ended {
            user,
            challenge_id,
            error,
        } => {
            assert_eq!(user, kari());
            assert_eq!(challenge_id, pending.challenge_id);
            assert_eq!(error.kind(), DeliveryErrorKind::Declined);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        w.mfa
            .challenge_status(&kari(), &pending.challenge_id)
            .await
            .unwrap(),
        ChallengeStatus::AwaitingCode
    );
}

#[tokio::test]
async fn unanswered_busy_and_failed_calls_are_typed_and_change_nothing() {
    for (call_status, kind) in [
        ("no-answer", DeliveryErrorKind::NoAnswer),
        ("busy", DeliveryErrorKind::Busy),
        ("failed", DeliveryErrorKind::Rejected),
        ("canceled", DeliveryErrorKind::Rejected),
    ] {
        let w = world(CallConfirmation::PressKey, TOKEN).await;
        let pending = w
            .mfa
            .begin_enrollment(&kari(), call_to("+4741234567"))
            .await
            .unwrap();
        let url = get(&last_request(&w), "StatusCallback").unwrap().to_owned();
        assert_eq!(status(&w, &url, "ringing").unwrap().event, None);
        let event = status(&w, &url, call_status).unwrap().event.unwrap();
        match &event {
            CallEvent::Ended { error, .. } => assert_eq!(error.kind(), kind, "{call_status}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(event.report_to(&w.mfa).await.unwrap(), None);
        assert_eq!(
            w.mfa
                .challenge_status(&kari(), &pending.challenge_id)
                .await
                .unwrap(),
            ChallengeStatus::AwaitingCallConfirmation
        );
        // The pending challenge says why the call ended.
        assert!(
            w.events.events().iter().any(|e| matches!(
                e,
                Event::CallEnded { user, challenge_id, reason, .. }
                    if user == &kari() && challenge_id == &pending.challenge_id && *reason == kind
            )),
            "{call_status}: {:?}",
            w.events.events()
        );
        // The user may call again after the cooldown.
        w.clock.advance(Duration::from_secs(30));
        w.mfa.resend(&kari(), &pending.challenge_id).await.unwrap();
    }
}

#[tokio::test]
async fn forged_replayed_and_junk_webhooks_are_refused_and_change_nothing() {
    let w = world(CallConfirmation::PressKey, TOKEN).await;
    let pending = w
        .mfa
        .begin_enrollment(&kari(), call_to("+4741234567"))
        .await
        .unwrap();
    let form = last_request(&w);
    let url = action_url(get(&form, "Twiml").unwrap());
    let status_url = get(&form, "StatusCallback").unwrap().to_owned();
    let params = gather_params("#");

    // No signature, or one made with another token.
    assert_eq!(
        w.hooks.handle_gather(&url, &params, None).unwrap_err(),
        WebhookError::MissingSignature
    );
    let forged = python_signature("not-the-token", &url, &params);
    assert_eq!(
        w.hooks
            .handle_gather(&url, &params, Some(&forged))
            .unwrap_err(),
        WebhookError::BadSignature
    );
    // A genuine signature over other parameters.
    let genuine = python_signature(TOKEN, &url, &gather_params("0"));
    assert_eq!(
        w.hooks
            .handle_gather(&url, &params, Some(&genuine))
            .unwrap_err(),
        WebhookError::BadSignature
    );
    // A link pointed at another challenge (signed by someone holding the auth token, not our link key).
    let other = url.replace(
        pending.challenge_id.as_str(),
        "0123456789abcdef0123456789abcdef",
    );
    assert_eq!(
        press(&w, &other, "#").unwrap_err(),
        WebhookError::ForgedLink
    );
    let no_token = url.split("&t=").next().unwrap().to_owned();
    assert_eq!(
        press(&w, &no_token, "#").unwrap_err(),
        WebhookError::ForgedLink
    );
    // A status link used as a gather link.
    assert_eq!(
        press(&w, &status_url, "#").unwrap_err(),
        WebhookError::ForgedLink
    );
    // Another call's SID.
    let mut stranger = params.clone();
    stranger.iter_mut().find(|(k, _)| k == "CallSid").unwrap().1 =
        "CA99999999999999999999999999999999".into();
    let sig = python_signature(TOKEN, &url, &stranger);
    assert_eq!(
        w.hooks
            .handle_gather(&url, &stranger, Some(&sig))
            .unwrap_err(),
        WebhookError::UnknownCall
    );
    // Missing CallSid, too many digits, an unknown call status.
    let no_sid: Form_ = params
        .iter()
        .filter(|(k, _)| k != "CallSid")
        .cloned()
        .collect();
    let sig = python_signature(TOKEN, &url, &no_sid);
    assert_eq!(
        w.hooks
            .handle_gather(&url, &no_sid, Some(&sig))
            .unwrap_err(),
        WebhookError::BadParameter("CallSid")
    );
    assert_eq!(
        press(&w, &url, &"1".repeat(50)).unwrap_err(),
        WebhookError::BadParameter("Digits")
    );
    assert_eq!(
        status(&w, &status_url, "exploded").unwrap_err(),
        WebhookError::BadParameter("CallStatus")
    );
    assert_eq!(
        w.mfa
            .challenge_status(&kari(), &pending.challenge_id)
            .await
            .unwrap(),
        ChallengeStatus::AwaitingCallConfirmation
    );

    // Junk keys end the call with a typed error; the challenge waits on.
    assert_eq!(
        press(&w, &url, "5").unwrap_err(),
        WebhookError::UnrecognizedKeys
    );
    assert_eq!(WebhookError::UnrecognizedKeys.http_status(), 200);
    assert!(WebhookError::UnrecognizedKeys.twiml().contains("<Hangup/>"));
    assert_eq!(press(&w, &url, "#").unwrap_err(), WebhookError::Replayed);
    assert_eq!(
        w.mfa
            .challenge_status(&kari(), &pending.challenge_id)
            .await
            .unwrap(),
        ChallengeStatus::AwaitingCallConfirmation
    );
    let ended = status(&w, &status_url, "completed").unwrap().event.unwrap();
    assert!(
        matches!(ended, CallEvent::Ended { ref error, .. } if error.kind() == DeliveryErrorKind::Declined)
    );
    // The call is over: its links reach nothing.
    assert_eq!(
        status(&w, &status_url, "completed").unwrap_err(),
        WebhookError::UnknownCall
    );
    assert_eq!(WebhookError::BadSignature.http_status(), 403);
}

#[tokio::test]
async fn links_expire() {
    let w = world(CallConfirmation::PressKey, TOKEN).await;
    let pending = w
        .mfa
        .begin_enrollment(&kari(), call_to("+4741234567"))
        .await
        .unwrap();
    let url = action_url(get(&last_request(&w), "Twiml").unwrap());
    w.clock.advance(Duration::from_secs(15 * 60));
    assert_eq!(press(&w, &url, "#").unwrap_err(), WebhookError::Expired);
    assert_ne!(
        w.mfa
            .challenge_status(&kari(), &pending.challenge_id)
            .await
            .unwrap(),
        ChallengeStatus::Approved
    );
}

#[tokio::test]
async fn api_errors_map_to_typed_delivery_errors() {
    let w = world(CallConfirmation::PressKey, TOKEN).await;
    for (number, kind) in [
        ("+4740000001", DeliveryErrorKind::InvalidDestination),
        ("+4740000002", DeliveryErrorKind::Transient),
        ("+4740000003", DeliveryErrorKind::Transient),
    ] {
        match w.mfa.begin_enrollment(&kari(), call_to(number)).await {
            Err(Error::Delivery(e)) => {
                assert_eq!(e.kind(), kind, "{number}");
                assert!(!e.message().contains(number), "{e}");
            }
            other => panic!("{number}: {other:?}"),
        }
    }
    let wrong = world(CallConfirmation::PressKey, "wrong-token").await;
    match wrong
        .mfa
        .begin_enrollment(&kari(), call_to("+4741234567"))
        .await
    {
        Err(Error::Delivery(e)) => assert_eq!(e.kind(), DeliveryErrorKind::Configuration),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn an_unreachable_api_is_a_transient_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let config = TwilioConfig::new(
        ACCOUNT,
        AuthToken::new(TOKEN),
        PhoneNumber::parse("+15005550006").unwrap(),
        HOOKS,
    )
    .with_api_base(format!("http://{addr}"));
    let voice = TwilioVoice::new(config).unwrap();
    let mfa = Mfa::builder().voice(voice).build().unwrap();
    match mfa.begin_enrollment(&kari(), call_to("+4741234567")).await {
        Err(Error::Delivery(e)) => assert!(e.is_transient(), "{e}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn sign_in_by_twilio_call_after_enrollment() {
    let w = world(CallConfirmation::PressKey, TOKEN).await;
    let enrollment = w
        .mfa
        .begin_enrollment(&kari(), call_to("+4741234567"))
        .await
        .unwrap();
    let url = action_url(get(&last_request(&w), "Twiml").unwrap());
    let event = press(&w, &url, "#").unwrap().event.unwrap();
    let verdict = event.report_to(&w.mfa).await.unwrap();
    assert!(enrollment_approved(verdict.as_ref()), "{verdict:?}");
    w.mfa
        .complete(&kari(), &enrollment.challenge_id)
        .await
        .unwrap();

    let sign_in = w.mfa.challenge(&kari()).await.unwrap();
    let twiml = get(&last_request(&w), "Twiml").unwrap().to_owned();
    assert!(twiml.contains("checking your sign-in"), "{twiml}");
    // Replaying the enrollment call's key press is refused.
    assert_eq!(press(&w, &url, "#").unwrap_err(), WebhookError::Replayed);
    let event = press(&w, &action_url(&twiml), "#").unwrap().event.unwrap();
    assert_eq!(event.challenge_id(), &sign_in.challenge_id);
    assert_eq!(event.user(), &kari());
    let verdict = event.report_to(&w.mfa).await.unwrap().unwrap();
    assert!(verdict.is_approved());
    // The webhook approves; the sign-in page polls and gets the proof, once.
    assert_eq!(verdict.proof(), None);
    let signed_in = w.mfa.poll(&kari(), &sign_in.challenge_id).await.unwrap();
    assert!(
        matches!(&signed_in, Verification::Approved(a) if a.purpose == Purpose::SignIn && a.proof.is_some()),
        "{signed_in:?}"
    );
    assert_eq!(
        w.mfa.poll(&kari(), &sign_in.challenge_id).await.unwrap(),
        Verification::AlreadyUsed
    );
}

/// An enrollment's approval: it carries no proof (`complete` makes one).
fn enrollment_approved(v: Option<&Verification>) -> bool {
    matches!(v, Some(Verification::Approved(a)) if a.purpose == Purpose::Enrollment && a.proof.is_none())
}

/// Number matching over Twilio: one `<Gather numDigits="2">` asks for the number the
/// page shows (never said); the right digits approve, a blind `#` is refused, and a
/// wrong number (keyed in two goes) denies the sign-in.
#[tokio::test]
async fn number_matching_over_twilio_gathers_two_digits() {
    let w = world(CallConfirmation::MatchNumber, TOKEN).await;
    let pending = w
        .mfa
        .begin_enrollment(&kari(), call_to("+4741234567"))
        .await
        .unwrap();
    let shown = pending.match_number.unwrap().to_string();
    let twiml = get(&last_request(&w), "Twiml").unwrap().to_owned();
    assert!(twiml.contains(r#"numDigits="2" finishOnKey="""#), "{twiml}");
    assert!(
        twiml.contains("Enter the two-digit number shown on your screen"),
        "{twiml}"
    );
    let reply = press(&w, &action_url(&twiml), &shown).unwrap();
    assert!(reply.twiml.contains("Your verification is complete"));
    let verdict = reply.event.unwrap().report_to(&w.mfa).await.unwrap();
    assert!(enrollment_approved(verdict.as_ref()), "{verdict:?}");
    w.mfa
        .complete(&kari(), &pending.challenge_id)
        .await
        .unwrap();

    // A blind `#` ends the call and approves nothing; the user may sign in again.
    let sign_in = w.mfa.challenge(&kari()).await.unwrap();
    let twiml = get(&last_request(&w), "Twiml").unwrap().to_owned();
    assert_eq!(
        press(&w, &action_url(&twiml), "#").unwrap_err(),
        WebhookError::UnrecognizedKeys
    );
    assert_eq!(
        w.mfa
            .challenge_status(&kari(), &sign_in.challenge_id)
            .await
            .unwrap(),
        ChallengeStatus::AwaitingCallConfirmation
    );
    let sign_in = w.mfa.challenge(&kari()).await.unwrap();
    let shown = sign_in.match_number.unwrap().to_string();
    let wrong: String = shown
        .chars()
        .map(|c| char::from(b'0' + (c as u8 - b'0' + 1) % 10))
        .collect();
    let twiml = get(&last_request(&w), "Twiml").unwrap().to_owned();
    assert!(twiml.contains("shown on your sign-in screen"), "{twiml}");
    // Twilio posts one digit when the caller pauses; the second comes by itself.
    let reply = press(&w, &action_url(&twiml), &wrong[..1]).unwrap();
    assert_eq!(reply.event, None);
    assert!(reply.twiml.contains(r#"numDigits="1""#), "{}", reply.twiml);
    let reply = press(&w, &action_url(&reply.twiml), &wrong[1..]).unwrap();
    assert!(
        reply
            .twiml
            .contains("That is not the number on your screen")
    );
    let event = reply.event.unwrap();
    assert!(matches!(
        event,
        CallEvent::Outcome {
            outcome: CallOutcome::WrongNumber,
            ..
        }
    ));
    assert_eq!(
        event.report_to(&w.mfa).await.unwrap(),
        Some(Verification::Denied)
    );
    assert!(w.events.events().iter().any(|e| matches!(
        e,
        Event::CheckFailed {
            purpose: Purpose::SignIn,
            ..
        }
    )));
}
