//! The Twilio backend against a local server that checks requests the way Twilio's
//! Messages API documents them and answers with Twilio's documented bodies.
#![cfg(feature = "twilio")]
#![allow(clippy::unwrap_used)]

mod recording_server;

use std::time::Duration;

use mfa_core::{
    Delivery, DeliveryErrorKind, ManualClock, Method, Mfa, PhoneMode, PhoneNumber, Timestamp,
    UserId,
};
use mfa_sms::{SmsDelivery, TwilioSender, TwilioSms};
use recording_server::RecordingServer;

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "token-s3cret";
const SERVICE: &str = "MG0123456789abcdef0123456789abcdef";
// base64("AC0123456789abcdef0123456789abcdef:token-s3cret")
const BASIC: &str = "Basic QUMwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZjp0b2tlbi1zM2NyZXQ=";

const CREATED: &str = r#"{"account_sid": "AC0123456789abcdef0123456789abcdef", "api_version": "2010-04-01", "body": "redacted", "date_created": "Thu, 24 Aug 2023 05:01:45 +0000", "date_sent": null, "date_updated": "Thu, 24 Aug 2023 05:01:45 +0000", "direction": "outbound-api", "error_code": null, "error_message": null, "from": "+14155552345", "messaging_service_sid": null, "num_media": "0", "num_segments": "1", "price": null, "price_unit": null, "sid": "SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "status": "queued", "subresource_uris": {"media": "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages/SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/Media.json"}, "to": "+4741234567", "uri": "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages/SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.json"}"#;
const INVALID_TO: &str = r#"{"code": 21211, "message": "The 'To' number +4741234567 is not a valid phone number.", "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400}"#;
const NOT_MOBILE: &str = r#"{"code": 21614, "message": "'To' number is not a valid mobile number", "more_info": "https://www.twilio.com/docs/errors/21614", "status": 400}"#;
const REGION: &str = r#"{"code": 21408, "message": "Permission to send an SMS has not been enabled for the region indicated by the 'To' number: +4741234567.", "more_info": "https://www.twilio.com/docs/errors/21408", "status": 400}"#;
const UNSUBSCRIBED: &str = r#"{"code": 21610, "message": "Attempt to send to unsubscribed recipient", "more_info": "https://www.twilio.com/docs/errors/21610", "status": 400}"#;
const AUTH: &str = r#"{"code": 20003, "detail": "Your AccountSid or AuthToken was incorrect.", "message": "Authenticate", "more_info": "https://www.twilio.com/docs/errors/20003", "status": 401}"#;
const TOO_MANY: &str = r#"{"code": 20429, "message": "Too Many Requests", "more_info": "https://www.twilio.com/docs/errors/20429", "status": 429}"#;
const SERVER_ERROR: &str = r#"{"code": 20500, "message": "Internal Server Error", "more_info": "https://www.twilio.com/docs/errors/20500", "status": 500}"#;

fn twilio(server: &RecordingServer, sender: TwilioSender) -> TwilioSms {
    TwilioSms::new(SID, TOKEN, sender)
        .unwrap()
        .with_base_url(&server.url)
        .unwrap()
}

fn request(code: &str) -> mfa_core::DeliveryRequest {
    mfa_core::DeliveryRequest {
        challenge_id: mfa_core::ChallengeId::parse("c0ffee00c0ffee00").unwrap(),
        user: UserId::new("ada@contoso.com").unwrap(),
        channel: mfa_core::Channel::Sms,
        destination: mfa_core::Destination {
            number: PhoneNumber::parse("+4741234567").unwrap(),
            extension: None,
        },
        content: mfa_core::Content::Code(mfa_core::OneTimeCode::parse(code).unwrap()),
        purpose: mfa_core::Purpose::SignIn,
        expires_in: Duration::from_secs(300),
        locale: "en".into(),
        app_name: "Contoso".into(),
        cost_notice: None,
        meta: None,
    }
}

#[tokio::test]
async fn sends_the_documented_request_and_reads_the_sid() {
    let server = RecordingServer::start().await;
    server.reply(201, "application/json", CREATED);
    let channel = SmsDelivery::new(
        twilio(&server, TwilioSender::From("+14155552345".into()))
            .with_status_callback("https://app.example.com/twilio/status?x=1")
            .unwrap(),
    );
    let receipt = channel.send(&request("246810")).await.unwrap();
    assert_eq!(receipt.id, "SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");

    let seen = server.last();
    assert_eq!(seen.method, "POST");
    assert_eq!(
        seen.path,
        format!("/2010-04-01/Accounts/{SID}/Messages.json")
    );
    assert_eq!(seen.query, None);
    assert_eq!(seen.header("authorization"), Some(BASIC));
    assert_eq!(
        seen.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let form = seen.form();
    assert_eq!(
        form,
        vec![
            ("To".to_owned(), "+4741234567".to_owned()),
            ("From".to_owned(), "+14155552345".to_owned()),
            (
                "Body".to_owned(),
                "246810 is your Contoso verification code. It expires in 5 min.".to_owned()
            ),
            (
                "StatusCallback".to_owned(),
                "https://app.example.com/twilio/status?x=1".to_owned()
            ),
        ]
    );
}

#[tokio::test]
async fn a_messaging_service_replaces_from() {
    let server = RecordingServer::start().await;
    server.reply(201, "application/json", CREATED);
    let channel = SmsDelivery::new(twilio(
        &server,
        TwilioSender::MessagingService(SERVICE.into()),
    ));
    channel.send(&request("246810")).await.unwrap();
    let form = server.last().form();
    let names: Vec<&str> = form.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["To", "MessagingServiceSid", "Body"]);
    assert_eq!(form[1].1, SERVICE);
}

#[tokio::test]
async fn twilio_errors_map_to_typed_delivery_errors() {
    let server = RecordingServer::start().await;
    let channel = SmsDelivery::new(twilio(&server, TwilioSender::From("+14155552345".into())));
    let cases = [
        (
            400,
            INVALID_TO,
            DeliveryErrorKind::InvalidDestination,
            "21211",
        ),
        (
            400,
            NOT_MOBILE,
            DeliveryErrorKind::InvalidDestination,
            "21614",
        ),
        (400, REGION, DeliveryErrorKind::Blocked, "21408"),
        (400, UNSUBSCRIBED, DeliveryErrorKind::Blocked, "21610"),
        (401, AUTH, DeliveryErrorKind::Configuration, "20003"),
        (429, TOO_MANY, DeliveryErrorKind::Transient, "20429"),
        (500, SERVER_ERROR, DeliveryErrorKind::Transient, "20500"),
        (
            503,
            "<html>Service Unavailable</html>",
            DeliveryErrorKind::Transient,
            "503",
        ),
        (404, "", DeliveryErrorKind::Configuration, "404"),
    ];
    for (status, body, kind, mentioned) in cases {
        server.reply(status, "application/json", body);
        let err = channel.send(&request("246810")).await.unwrap_err();
        assert_eq!(err.kind(), kind, "{status} {body}");
        assert_eq!(err.is_transient(), kind == DeliveryErrorKind::Transient);
        let shown = format!("{err} {err:?}");
        assert!(shown.contains(mentioned), "{shown}");
        assert!(!shown.contains("246810"), "the code leaked: {shown}");
        assert!(!shown.contains(TOKEN), "the token leaked: {shown}");
    }
}

#[tokio::test]
async fn a_slow_twilio_is_a_timeout() {
    let server = RecordingServer::start().await;
    server.reply(201, "application/json", CREATED);
    server.stall(Duration::from_secs(30));
    let channel = SmsDelivery::new(
        twilio(&server, TwilioSender::From("+14155552345".into()))
            .with_timeout(Duration::from_millis(200))
            .unwrap(),
    );
    let err = channel.send(&request("246810")).await.unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert!(err.is_transient());
    assert!(!err.to_string().contains("246810"));
}

#[tokio::test]
async fn an_unreachable_twilio_is_transient() {
    // A port nothing listens on: bind one, then free it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let channel = SmsDelivery::new(
        TwilioSms::new(SID, TOKEN, TwilioSender::From("+14155552345".into()))
            .unwrap()
            .with_base_url(&url)
            .unwrap(),
    );
    let err = channel.send(&request("246810")).await.unwrap_err();
    assert_eq!(err.kind(), DeliveryErrorKind::Transient, "{err:?}");
    assert!(!err.to_string().contains(TOKEN));
}

#[tokio::test]
async fn bad_settings_are_refused() {
    let from = || TwilioSender::From("+14155552345".into());
    assert!(TwilioSms::new("AC123", TOKEN, from()).is_err());
    assert!(TwilioSms::new("AC0123456789abcdef0123456789abcde/", TOKEN, from()).is_err());
    assert!(TwilioSms::new(SID, "", from()).is_err());
    assert!(TwilioSms::new(SID, TOKEN, TwilioSender::From(" ".into())).is_err());
    assert!(TwilioSms::new(SID, TOKEN, TwilioSender::MessagingService("MG1".into())).is_err());
    let ok = TwilioSms::new(SID, TOKEN, from()).unwrap();
    assert!(ok.clone().with_base_url("file:///etc").is_err());
    assert!(ok.with_status_callback("not a url").is_err());
}

#[tokio::test]
async fn enrollment_through_twilio_end_to_end() {
    let server = RecordingServer::start().await;
    server.reply(201, "application/json", CREATED);
    let clock = ManualClock::new(Timestamp::from_unix_secs(1_800_000_000));
    let mfa = Mfa::builder()
        .clock(clock)
        .sms(SmsDelivery::new(twilio(
            &server,
            TwilioSender::From("+14155552345".into()),
        )))
        .build()
        .unwrap();
    let user = UserId::new("ada@contoso.com").unwrap();
    let number = PhoneNumber::from_parts(47, "41234567").unwrap();
    let pending = mfa
        .begin_enrollment(
            &user,
            Method::AuthenticationPhone {
                number,
                mode: PhoneMode::Sms,
            },
        )
        .await
        .unwrap();
    let body = server
        .last()
        .form()
        .into_iter()
        .find(|(k, _)| k == "Body")
        .unwrap()
        .1;
    let code: String = body.chars().take_while(char::is_ascii_digit).collect();
    assert_eq!(code.len(), 6, "{body}");
    assert!(
        mfa.verify(&user, &pending.challenge_id, &code)
            .await
            .unwrap()
            .is_approved()
    );
    mfa.complete(&user, &pending.challenge_id).await.unwrap();
}
