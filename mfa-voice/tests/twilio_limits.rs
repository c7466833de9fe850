//! What Twilio's OpenAPI description (`twilio_api_v2010.json`) states in its text and
//! the Calls backend must refuse with a typed error before anything is sent:
//! `SendDigits` of at most 32 characters, inline `Twiml` of at most 4,000, an account
//! SID `^AC[0-9a-fA-F]{32}$`, no underscore in a callback host. And the error codes
//! read the same way as the SMS backend reads them.
#![cfg(feature = "twilio")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test fixtures

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Form, Router};
use mfa_core::{
    ChallengeId, Channel, Content, Delivery, DeliveryErrorKind, DeliveryRequest, Destination,
    Extension, OneTimeCode, PhoneNumber, Purpose, UserId,
};
use mfa_voice::ScriptOptions;
use mfa_voice::twilio::{AuthToken, TwilioConfig, TwilioVoice};

const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
const HOOKS: &str = "https://app.example.com/mfa/twilio";

type Form_ = Vec<(String, String)>;

#[derive(Clone)]
struct Twilio {
    requests: Arc<Mutex<Vec<Form_>>>,
    auth: Arc<Mutex<Vec<(String, String)>>>,
    answer: Arc<Mutex<(u16, String)>>,
}

async fn create_call(
    State(t): State<Twilio>,
    Path(account): Path<String>,
    headers: HeaderMap,
    Form(form): Form<Form_>,
) -> (StatusCode, String) {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    t.auth.lock().unwrap().push((account, auth));
    t.requests.lock().unwrap().push(form);
    let (status, body) = t.answer.lock().unwrap().clone();
    (StatusCode::from_u16(status).unwrap(), body)
}

async fn start(status: u16, body: &str) -> (Twilio, SocketAddr) {
    let t = Twilio {
        requests: Arc::default(),
        auth: Arc::default(),
        answer: Arc::new(Mutex::new((status, body.to_owned()))),
    };
    let app = Router::new()
        .route(
            "/2010-04-01/Accounts/{account}/Calls.json",
            post(create_call),
        )
        .with_state(t.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (t, addr)
}

const CREATED: &str = r#"{"sid": "CA00000000000000000000000000000001", "status": "queued"}"#;

fn config(account: &str, hooks: &str) -> TwilioConfig {
    TwilioConfig::new(
        account,
        AuthToken::new("token"),
        PhoneNumber::parse("+15005550006").unwrap(),
        hooks,
    )
}

fn request(extension: Option<&str>, key_first: bool) -> DeliveryRequest {
    DeliveryRequest {
        challenge_id: ChallengeId::parse("c0ffee00c0ffee00").unwrap(),
        user: UserId::new("ada@contoso.com").unwrap(),
        channel: Channel::Voice,
        destination: Destination {
            number: PhoneNumber::parse("+4722123456").unwrap(),
            extension: extension.map(|e| Extension::parse(e).unwrap()),
        },
        content: if key_first {
            Content::ConfirmByKey
        } else {
            Content::Code(OneTimeCode::parse("123456").unwrap())
        },
        purpose: Purpose::SignIn,
        expires_in: Duration::from_secs(300),
        locale: "en".into(),
        app_name: "Contoso".into(),
        cost_notice: None,
        meta: None,
    }
}

#[test]
fn an_account_sid_is_ac_and_32_hex_digits() {
    assert!(TwilioVoice::new(config("AC123", HOOKS)).is_err());
    let not_hex = format!("AC{}", "z".repeat(32));
    assert!(TwilioVoice::new(config(&not_hex, HOOKS)).is_err());
    assert!(TwilioVoice::new(config(ACCOUNT, HOOKS)).is_ok());
}

#[test]
fn a_callback_host_has_no_underscore() {
    assert!(TwilioVoice::new(config(ACCOUNT, "https://mfa_hooks.example.com/twilio")).is_err());
    assert!(TwilioVoice::new(config(ACCOUNT, "https://example.com/mfa_hooks")).is_ok());
}

/// `SendDigits`: "up to 32 digits". Ten extension digits after `extension_waits`
/// half-second waits: more than 22 waits cannot fit.
#[tokio::test]
async fn send_digits_stay_within_32_characters() {
    let mut script = ScriptOptions::default();
    script.extension_waits = 30;
    assert!(TwilioVoice::new(config(ACCOUNT, HOOKS).with_script(script.clone())).is_err());

    script.extension_waits = 22;
    let (twilio, addr) = start(201, CREATED).await;
    let voice = TwilioVoice::new(
        config(ACCOUNT, HOOKS)
            .with_api_base(format!("http://{addr}"))
            .with_script(script),
    )
    .unwrap();
    voice
        .send(&request(Some("1234567890"), true))
        .await
        .unwrap();
    let sent = twilio.requests.lock().unwrap().pop().unwrap();
    let digits = &sent.iter().find(|(k, _)| k == "SendDigits").unwrap().1;
    assert_eq!(digits.chars().count(), 32);
}

/// `Twiml`: "max 4000 characters". A read-out with many repeats is refused before
/// anything is posted, as a configuration error.
#[tokio::test]
async fn inline_twiml_stays_within_4000_characters() {
    let mut script = ScriptOptions::default();
    script.code_repeats = 60;
    script.key_before_code = false;
    let (twilio, addr) = start(201, CREATED).await;
    let voice = TwilioVoice::new(
        config(ACCOUNT, HOOKS)
            .with_api_base(format!("http://{addr}"))
            .with_script(script),
    )
    .unwrap();
    let refused = voice.send(&request(None, false)).await.unwrap_err();
    assert_eq!(refused.kind(), DeliveryErrorKind::Configuration);
    let limit = std::error::Error::source(&refused)
        .and_then(|s| s.downcast_ref::<mfa_twilio::LimitError>())
        .expect("the limit is the source");
    assert!(matches!(
        limit,
        mfa_twilio::LimitError::TooLong {
            parameter: "Twiml",
            max: 4000,
            ..
        }
    ));
    assert!(twilio.requests.lock().unwrap().is_empty());
}

/// One reading of Twilio's answers for SMS and calls: an HTTP 408 means Twilio never
/// took the whole request (RFC 9110 §15.5.9), so nothing was placed and a retry is
/// safe; 21214 "'To' phone number cannot be reached" is the destination.
#[tokio::test]
async fn twilio_answers_read_as_the_sms_backend_reads_them() {
    let cases = [
        (408, r#"{"code": 20408, "status": 408}"#.to_owned(), DeliveryErrorKind::Transient),
        (
            400,
            r#"{"code": 21214, "message": "'To' phone number cannot be reached", "status": 400}"#
                .to_owned(),
            DeliveryErrorKind::InvalidDestination,
        ),
        (
            400,
            r#"{"code": 21610, "message": "Attempt to send to unsubscribed recipient", "status": 400}"#
                .to_owned(),
            DeliveryErrorKind::Blocked,
        ),
    ];
    for (status, body, kind) in cases {
        let (_twilio, addr) = start(status, &body).await;
        let voice =
            TwilioVoice::new(config(ACCOUNT, HOOKS).with_api_base(format!("http://{addr}")))
                .unwrap();
        let error = voice.send(&request(None, true)).await.unwrap_err();
        assert_eq!(error.kind(), kind, "{status} {body}");
    }
}

/// An API key authenticates the calls; the path names the account; Twilio's
/// webhooks are still checked with the account's auth token.
#[tokio::test]
async fn an_api_key_authenticates_the_calls() {
    let (twilio, addr) = start(201, CREATED).await;
    let key = "SK0123456789abcdef0123456789abcdef";
    let voice = TwilioVoice::new(
        config(ACCOUNT, HOOKS)
            .with_api_key(key, AuthToken::new("key-secret"))
            .with_api_base(format!("http://{addr}")),
    )
    .unwrap();
    voice.send(&request(None, true)).await.unwrap();
    let (account, auth) = twilio.auth.lock().unwrap().pop().unwrap();
    assert_eq!(account, ACCOUNT);
    // base64("SK0123456789abcdef0123456789abcdef:key-secret")
    assert_eq!(
        auth,
        "Basic U0swMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZjprZXktc2VjcmV0"
    );
    assert!(!format!("{voice:?}").contains("key-secret"));
    // The webhooks' signatures are the auth token's.
    let hooks = voice.webhooks();
    let url = format!("{HOOKS}/status?c=x");
    let params = vec![("CallSid".to_owned(), "CA1".to_owned())];
    let by_key = mfa_voice::twilio::compute_signature("key-secret", &url, &params);
    assert_eq!(
        hooks
            .handle_status(&url, &params, Some(&by_key))
            .unwrap_err(),
        mfa_voice::twilio::WebhookError::BadSignature
    );
    let by_token = mfa_voice::twilio::compute_signature("token", &url, &params);
    assert_ne!(
        hooks
            .handle_status(&url, &params, Some(&by_token))
            .unwrap_err(),
        mfa_voice::twilio::WebhookError::BadSignature
    );
    // A key SID that is not SK... is refused.
    assert!(
        TwilioVoice::new(config(ACCOUNT, HOOKS).with_api_key(ACCOUNT, AuthToken::new("s")))
            .is_err()
    );
}
