//! What Twilio's OpenAPI description (`twilio_api_v2010.json`) states in its text and
//! the Messages backend must refuse before anything is sent: SIDs of the documented
//! form, callback hosts without underscores; and the API-key authentication it offers.
#![cfg(feature = "twilio")]
#![allow(clippy::unwrap_used)]

mod recording_server;

use mfa_sms::{SmsDelivery, TwilioSender, TwilioSms};
use recording_server::RecordingServer;

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const SERVICE: &str = "MG0123456789abcdef0123456789abcdef";

fn from() -> TwilioSender {
    TwilioSender::From("+14155552345".into())
}

/// `AccountSid`: `^AC[0-9a-fA-F]{32}$`. Letters past `f` are not hex digits.
#[test]
fn an_account_sid_is_ac_and_32_hex_digits() {
    let not_hex = format!("AC{}", "z".repeat(32));
    assert!(TwilioSms::new(&not_hex, "token", from()).is_err());
    let upper = "AC0123456789ABCDEF0123456789ABCDEF";
    assert!(TwilioSms::new(upper, "token", from()).is_ok());
}

/// `MessagingServiceSid`: `^MG[0-9a-fA-F]{32}$`.
#[test]
fn a_messaging_service_sid_is_mg_and_32_hex_digits() {
    let not_hex = format!("MG{}", "q".repeat(32));
    assert!(TwilioSms::new(SID, "token", TwilioSender::MessagingService(not_hex)).is_err());
    assert!(TwilioSms::new(SID, "token", TwilioSender::MessagingService(SERVICE.into())).is_ok());
}

/// "StatusCallback ... URL must not contain underscores in the host name" (the
/// callback URL descriptions of the Messages and Calls resources).
#[test]
fn a_status_callback_host_has_no_underscore() {
    let twilio = TwilioSms::new(SID, "token", from()).unwrap();
    assert!(
        twilio
            .clone()
            .with_status_callback("https://my_app.example.com/twilio/status")
            .is_err()
    );
    // An underscore in the path is fine.
    assert!(
        twilio
            .with_status_callback("https://app.example.com/twilio_status")
            .is_ok()
    );
}

/// An API key (`SK...` and its secret) authenticates; the URL path still names the
/// account (`AC...`), which the key belongs to.
#[tokio::test]
async fn an_api_key_authenticates_with_the_account_in_the_path() {
    let key = "SK0123456789abcdef0123456789abcdef";
    let server = RecordingServer::start().await;
    server.reply(
        201,
        "application/json",
        r#"{"sid": "SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}"#,
    );
    let twilio = TwilioSms::with_api_key(SID, key, "key-secret", from())
        .unwrap()
        .with_base_url(&server.url)
        .unwrap();
    assert!(!format!("{twilio:?}").contains("key-secret"));
    let channel = SmsDelivery::new(twilio);
    mfa_core::Delivery::send(&channel, &request())
        .await
        .unwrap();
    let seen = server.last();
    assert_eq!(
        seen.path,
        format!("/2010-04-01/Accounts/{SID}/Messages.json")
    );
    // base64("SK0123456789abcdef0123456789abcdef:key-secret")
    assert_eq!(
        seen.header("authorization"),
        Some("Basic U0swMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZjprZXktc2VjcmV0")
    );
    // A key's SID is not an account SID.
    assert!(TwilioSms::new(key, "key-secret", from()).is_err());
    assert!(TwilioSms::with_api_key(SID, SID, "key-secret", from()).is_err());
}

fn request() -> mfa_core::DeliveryRequest {
    mfa_core::DeliveryRequest {
        challenge_id: mfa_core::ChallengeId::parse("c0ffee00c0ffee00").unwrap(),
        user: mfa_core::UserId::new("ada@contoso.com").unwrap(),
        channel: mfa_core::Channel::Sms,
        destination: mfa_core::Destination {
            number: mfa_core::PhoneNumber::parse("+4741234567").unwrap(),
            extension: None,
        },
        content: mfa_core::Content::Code(mfa_core::OneTimeCode::parse("246810").unwrap()),
        purpose: mfa_core::Purpose::SignIn,
        expires_in: std::time::Duration::from_secs(300),
        locale: "en".into(),
        app_name: "Contoso".into(),
        cost_notice: None,
        meta: None,
    }
}

/// One reading of Twilio's answers for SMS and calls (see the voice backend's test of
/// the same name): 21214 "'To' phone number cannot be reached" is the destination;
/// 30002 "Account suspended" is the account's configuration, not a passing fault.
#[tokio::test]
async fn twilio_answers_read_as_the_voice_backend_reads_them() {
    use mfa_core::DeliveryErrorKind::*;
    let cases = [
        (408, r#"{"code": 20408, "status": 408}"#, Transient),
        (400, r#"{"code": 21214, "status": 400}"#, InvalidDestination),
        (400, r#"{"code": 30002, "status": 400}"#, Configuration),
        (400, r#"{"code": 21610, "status": 400}"#, Blocked),
    ];
    let server = RecordingServer::start().await;
    let channel = SmsDelivery::new(
        TwilioSms::new(SID, "token", from())
            .unwrap()
            .with_base_url(&server.url)
            .unwrap(),
    );
    for (status, body, kind) in cases {
        server.reply(status, "application/json", body);
        let error = mfa_core::Delivery::send(&channel, &request())
            .await
            .unwrap_err();
        assert_eq!(error.kind(), kind, "{status} {body}");
    }
    // The code itself stays queryable, for what the kind does not say (21610: the
    // user sent STOP and must send START before any SMS reaches them).
    server.reply(400, "application/json", r#"{"code": 21610, "status": 400}"#);
    let error = mfa_core::Delivery::send(&channel, &request())
        .await
        .unwrap_err();
    assert_eq!(
        error.provider_code(),
        Some(mfa_core::ProviderCode::new("twilio", 21610))
    );
}
