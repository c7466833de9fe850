//! The generic HTTP gateway against a local server: the request it builds from its
//! templates, and how it reads answers.
#![cfg(feature = "http")]
#![allow(clippy::unwrap_used)]

mod recording_server;

use std::time::Duration;

use mfa_core::{Delivery, DeliveryErrorKind, PhoneNumber, UserId};
use mfa_sms::{HttpBody, HttpGateway, HttpMethod, Messages, SmsDelivery};
use recording_server::RecordingServer;

fn request(code: &str, app: &str) -> mfa_core::DeliveryRequest {
    mfa_core::DeliveryRequest {
        challenge_id: mfa_core::ChallengeId::parse("c0ffee00c0ffee00").unwrap(),
        user: UserId::new("ada@contoso.com").unwrap(),
        channel: mfa_core::Channel::Sms,
        destination: mfa_core::Destination {
            number: PhoneNumber::parse("+4741234567").unwrap(),
            extension: None,
        },
        content: mfa_core::Content::Code(mfa_core::OneTimeCode::parse(code).unwrap()),
        purpose: mfa_core::Purpose::Enrollment,
        expires_in: Duration::from_secs(300),
        locale: "nb".into(),
        app_name: app.into(),
        cost_notice: None,
        meta: None,
    }
}

const TEXT: &str = "112233 er bekreftelseskoden din for Contoso. Den utløper om 5 min.";

#[tokio::test]
async fn get_puts_everything_in_the_query() {
    let server = RecordingServer::start().await;
    server.reply(200, "text/plain", "OK 7781");
    let gw = HttpGateway::new(
        HttpMethod::Get,
        &format!(
            "{}/api/send?user=contoso&to={{to_digits}}&msg={{text}}&uni={{unicode}}",
            server.url
        ),
    )
    .unwrap()
    .success_body_contains("OK");
    SmsDelivery::new(gw)
        .send(&request("112233", "Contoso"))
        .await
        .unwrap();
    let seen = server.last();
    assert_eq!(seen.method, "GET");
    assert_eq!(seen.path, "/api/send");
    assert_eq!(
        seen.query_pairs(),
        vec![
            ("user".to_owned(), "contoso".to_owned()),
            ("to".to_owned(), "4741234567".to_owned()),
            ("msg".to_owned(), TEXT.to_owned()),
            ("uni".to_owned(), "0".to_owned()),
        ]
    );
    assert!(seen.body.is_empty());
}

#[tokio::test]
async fn post_form_with_an_api_key_header() {
    let server = RecordingServer::start().await;
    server.reply(202, "application/json", r#"{"messages":[{"id":"m-991"}]}"#);
    let gw = HttpGateway::new(HttpMethod::Post, &format!("{}/v1/sms", server.url))
        .unwrap()
        .body(HttpBody::Form(vec![
            ("to".into(), "{to}".into()),
            ("message".into(), "{text}".into()),
            ("from".into(), "Contoso".into()),
        ]))
        .unwrap()
        .header("X-Api-Key", "k3y-secret")
        .unwrap()
        .receipt_from_json("/messages/0/id");
    let receipt = SmsDelivery::new(gw)
        .send(&request("112233", "Contoso"))
        .await
        .unwrap();
    assert_eq!(receipt.id, "m-991");
    let seen = server.last();
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.header("x-api-key"), Some("k3y-secret"));
    assert_eq!(
        seen.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        seen.form(),
        vec![
            ("to".to_owned(), "+4741234567".to_owned()),
            ("message".to_owned(), TEXT.to_owned()),
            ("from".to_owned(), "Contoso".to_owned()),
        ]
    );
}

#[tokio::test]
async fn post_json_carries_ucs2_text_intact() {
    let server = RecordingServer::start().await;
    server.reply(200, "application/json", r#"{"accepted":true,"id":42}"#);
    let gw = HttpGateway::new(HttpMethod::Post, &format!("{}/send", server.url))
        .unwrap()
        .body(HttpBody::Json(serde_json::json!({
            "recipients": ["{to}"],
            "body": {"text": "{text}", "unicode": "{unicode}"},
            "priority": 1,
        })))
        .unwrap()
        .success_body_contains("\"accepted\":true")
        .receipt_from_json("/id");
    let channel = SmsDelivery::new(gw)
        .with_messages(Messages::new().template("ru", "Код {app}: {code}").unwrap());
    let mut req = request("445566", "Почта");
    req.locale = "ru".into();
    let receipt = channel.send(&req).await.unwrap();
    assert_eq!(receipt.id, "42");
    let seen = server.last();
    assert_eq!(seen.header("content-type"), Some("application/json"));
    let json: serde_json::Value = serde_json::from_slice(&seen.body).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "recipients": ["+4741234567"],
            "body": {"text": "Код Почта: 445566", "unicode": "1"},
            "priority": 1,
        })
    );
}

#[tokio::test]
async fn answers_map_to_typed_errors() {
    let server = RecordingServer::start().await;
    let gw = HttpGateway::new(HttpMethod::Post, &format!("{}/send", server.url))
        .unwrap()
        .body(HttpBody::Form(vec![("t".into(), "{text}".into())]))
        .unwrap()
        .header("Authorization", "Bearer k3y-secret")
        .unwrap()
        .success_body_contains("OK");
    let channel = SmsDelivery::new(gw);
    let cases = [
        (200, "ERROR: number barred", DeliveryErrorKind::Rejected),
        (400, "bad request", DeliveryErrorKind::Rejected),
        (401, "unauthorised", DeliveryErrorKind::Configuration),
        (429, "slow down", DeliveryErrorKind::Transient),
        (502, "bad gateway", DeliveryErrorKind::Transient),
    ];
    for (status, body, kind) in cases {
        server.reply(status, "text/plain", body);
        let err = channel
            .send(&request("778899", "Contoso"))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), kind, "{status}");
        let shown = format!("{err} {err:?} {channel:?}");
        assert!(!shown.contains("778899"), "{shown}");
        assert!(!shown.contains("k3y-secret"), "{shown}");
    }
}

#[tokio::test]
async fn custom_success_statuses() {
    let server = RecordingServer::start().await;
    server.reply(200, "text/plain", "queued");
    let gw = HttpGateway::new(
        HttpMethod::Put,
        &format!("{}/sms/{{to_digits}}", server.url),
    )
    .unwrap()
    .success_status(201..=202);
    let err = SmsDelivery::new(gw.clone())
        .send(&request("778899", "Contoso"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), DeliveryErrorKind::Rejected);
    server.reply(201, "text/plain", "");
    SmsDelivery::new(gw)
        .send(&request("778899", "Contoso"))
        .await
        .unwrap();
    let seen = server.last();
    assert_eq!(
        (seen.method.as_str(), seen.path.as_str()),
        ("PUT", "/sms/4741234567")
    );
}

#[tokio::test]
async fn a_slow_gateway_is_a_timeout() {
    let server = RecordingServer::start().await;
    server.stall(Duration::from_secs(30));
    let gw = HttpGateway::new(HttpMethod::Get, &format!("{}/send?t={{text}}", server.url))
        .unwrap()
        .timeout(Duration::from_millis(200))
        .unwrap();
    let err = SmsDelivery::new(gw)
        .send(&request("778899", "Contoso"))
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert!(!err.to_string().contains("778899"), "{err}");
}
