//! The Kannel backend against a local server playing smsbox: the sendsms requests it
//! builds (GET and POST, GSM-7 and UCS-2) and how smsbox's answers are read.
#![cfg(feature = "kannel")]
#![allow(clippy::unwrap_used)]

mod journey;
mod recording_server;

use std::time::Duration;

use mfa_core::{Delivery, DeliveryErrorKind, PhoneNumber, UserId};
use mfa_sms::{KannelMethod, KannelSms, Messages, SmsDelivery};
use recording_server::RecordingServer;

fn request(code: &str, app: &str, locale: &str) -> mfa_core::DeliveryRequest {
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
        locale: locale.into(),
        app_name: app.into(),
        cost_notice: None,
        meta: None,
    }
}

fn kannel(server: &RecordingServer) -> KannelSms {
    KannelSms::new(&format!("{}/cgi-bin/sendsms", server.url), "mfa", "s3cret").unwrap()
}

#[tokio::test]
async fn get_sends_the_sendsms_query() {
    let server = RecordingServer::start().await;
    server.reply(202, "text/html", "0: Accepted for delivery");
    let channel = SmsDelivery::new(
        kannel(&server)
            .from("Contoso")
            .delivery_reports(3, "http://127.0.0.1:9/dlr?c={challenge}&s=%d")
            .unwrap(),
    );
    let receipt = channel
        .send(&request("135246", "Contoso", "nb"))
        .await
        .unwrap();
    // smsbox gives no message id: the receipt is the challenge and this send's number.
    let (challenge, send) = receipt.id.split_once(':').unwrap();
    assert_eq!(challenge, "c0ffee00c0ffee00");
    assert!(send.parse::<u64>().is_ok(), "{}", receipt.id);
    let seen = server.last();
    assert_eq!(seen.method, "GET");
    assert_eq!(seen.path, "/cgi-bin/sendsms");
    assert_eq!(
        seen.query_pairs(),
        vec![
            ("username".to_owned(), "mfa".to_owned()),
            ("password".to_owned(), "s3cret".to_owned()),
            ("to".to_owned(), "+4741234567".to_owned()),
            ("from".to_owned(), "Contoso".to_owned()),
            ("charset".to_owned(), "UTF-8".to_owned()),
            (
                "text".to_owned(),
                "135246 er bekreftelseskoden din for Contoso. Den utløper om 5 min.".to_owned()
            ),
            ("dlr-mask".to_owned(), "3".to_owned()),
            (
                "dlr-url".to_owned(),
                "http://127.0.0.1:9/dlr?c=c0ffee00c0ffee00&s=%d".to_owned()
            ),
        ]
    );
}

#[tokio::test]
async fn ucs2_text_goes_as_utf16be_with_coding_2() {
    let server = RecordingServer::start().await;
    server.reply(202, "text/html", "0: Accepted for delivery");
    let channel = SmsDelivery::new(kannel(&server))
        .with_messages(Messages::new().template("ru", "Код {app}: {code}").unwrap());
    channel
        .send(&request("135246", "Почта", "ru"))
        .await
        .unwrap();
    let query = server.last().query_bytes();
    let get = |name: &str| query.iter().find(|(k, _)| k == name).unwrap().1.clone();
    assert_eq!(get("coding"), b"2");
    assert_eq!(get("charset"), b"UTF-16BE");
    let expected: Vec<u8> = "Код Почта: 135246"
        .encode_utf16()
        .flat_map(u16::to_be_bytes)
        .collect();
    assert_eq!(get("text"), expected);
}

#[tokio::test]
async fn post_uses_x_kannel_headers_and_the_body() {
    let server = RecordingServer::start().await;
    server.reply(202, "text/html", "3: Queued for later delivery");
    let channel = SmsDelivery::new(
        kannel(&server)
            .method(KannelMethod::Post)
            .smsc("fake")
            .delivery_reports(31, "http://127.0.0.1:9/dlr?c={challenge}")
            .unwrap(),
    );
    let receipt = channel
        .send(&request("135246", "Contoso", "en"))
        .await
        .unwrap();
    assert!(
        receipt.id.starts_with("c0ffee00c0ffee00:"),
        "{}",
        receipt.id
    );
    let seen = server.last();
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.path, "/cgi-bin/sendsms");
    assert_eq!(seen.query, None, "nothing secret in the URL");
    assert_eq!(seen.header("x-kannel-username"), Some("mfa"));
    assert_eq!(seen.header("x-kannel-password"), Some("s3cret"));
    assert_eq!(seen.header("x-kannel-to"), Some("+4741234567"));
    assert_eq!(seen.header("x-kannel-smsc"), Some("fake"));
    assert_eq!(seen.header("x-kannel-dlr-mask"), Some("31"));
    assert_eq!(
        seen.header("x-kannel-dlr-url"),
        Some("http://127.0.0.1:9/dlr?c=c0ffee00c0ffee00")
    );
    assert_eq!(seen.header("x-kannel-coding"), None);
    assert_eq!(
        seen.header("content-type"),
        Some("text/plain; charset=UTF-8")
    );
    assert_eq!(
        String::from_utf8(seen.body).unwrap(),
        "135246 is your Contoso verification code. It expires in 5 min."
    );

    // UCS-2 over POST.
    let mut req = request("135246", "東京", "en");
    req.app_name = "東京".into();
    channel.send(&req).await.unwrap();
    let seen = server.last();
    assert_eq!(seen.header("x-kannel-coding"), Some("2"));
    assert_eq!(
        seen.header("content-type"),
        Some("text/plain; charset=UTF-16BE")
    );
    let units: Vec<u16> = seen
        .body
        .chunks(2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]))
        .collect();
    assert_eq!(
        String::from_utf16(&units).unwrap(),
        "135246 is your 東京 verification code. It expires in 5 min."
    );
}

#[tokio::test]
async fn smsbox_errors_become_typed_errors_without_secrets() {
    let server = RecordingServer::start().await;
    let channel = SmsDelivery::new(kannel(&server));
    let cases = [
        (
            403,
            "Authorization failed for sendsms",
            DeliveryErrorKind::Configuration,
        ),
        (
            400,
            "Receiver number not valid",
            DeliveryErrorKind::InvalidDestination,
        ),
        (
            403,
            "Number(s) has/have been denied by white- and/or black-lists.",
            DeliveryErrorKind::Blocked,
        ),
        (503, "4: Sending failed.", DeliveryErrorKind::Transient),
        (502, "", DeliveryErrorKind::Transient),
    ];
    for (status, body, kind) in cases {
        server.reply(status, "text/html", body);
        let err = channel
            .send(&request("135246", "Contoso", "en"))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), kind, "{status} {body}");
        let shown = format!("{err} {err:?} {channel:?}");
        assert!(!shown.contains("135246"), "{shown}");
        assert!(!shown.contains("s3cret"), "{shown}");
    }
}

#[tokio::test]
async fn a_hanging_smsbox_is_a_timeout_without_the_url_in_the_error() {
    let server = RecordingServer::start().await;
    server.stall(Duration::from_secs(30));
    let channel = SmsDelivery::new(kannel(&server).timeout(Duration::from_millis(200)).unwrap());
    let err = channel
        .send(&request("135246", "Contoso", "en"))
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    let shown = format!("{err} {err:?}");
    assert!(
        !shown.contains("135246") && !shown.contains("s3cret"),
        "{shown}"
    );
}

/// Each send's `dlr-url` names the send, so a report that comes late, on the first SMS
/// of a challenge that has been resent, is told but offers no fallback: the resent code
/// may still arrive. The report on the latest send offers the call.
#[tokio::test]
async fn a_late_report_on_an_earlier_send_offers_nothing() {
    use mfa_core::{ManualClock, MemoryDelivery, Mfa, NextStep, Timestamp};
    use mfa_sms::SentMessages;

    let server = RecordingServer::start().await;
    server.reply(202, "text/html", "0: Accepted for delivery");
    let sent = SentMessages::new();
    let clock = ManualClock::new(Timestamp::from_unix_secs(1_700_000_000));
    let mfa = Mfa::builder()
        .clock(clock.clone())
        .sms(
            SmsDelivery::new(
                kannel(&server)
                    .delivery_reports(
                        31,
                        "http://127.0.0.1:9/dlr?challenge={challenge}&send={send}&status=%d",
                    )
                    .unwrap(),
            )
            .with_sent_log(sent.clone()),
        )
        .voice(MemoryDelivery::new())
        .build()
        .unwrap();
    let (user, challenge) = journey::begin_sms_enrollment(&mfa).await;
    clock.advance(Duration::from_secs(60));
    mfa.resend(&user, &challenge).await.unwrap();

    // What smsbox would call: the dlr-url of each send, `%d` as "undelivered".
    let urls: Vec<String> = server
        .requests()
        .iter()
        .map(|r| r.query_value("dlr-url").unwrap())
        .collect();
    assert_eq!(urls.len(), 2);
    assert_ne!(urls[0], urls[1], "each send has a URL of its own");
    let undelivered = |url: &str| {
        let query = url.split_once('?').unwrap().1.replace("%d", "2");
        mfa_sms::kannel::delivery_report(&sent, &recording_server::pairs(&query))
            .unwrap()
            .unwrap()
    };
    let late = undelivered(&urls[0]);
    assert_eq!(late.challenge_id, challenge);
    assert!(late.report.superseded, "the challenge sent again since");
    assert_eq!(late.report_to(&mfa).await.unwrap().next, vec![]);

    let latest = undelivered(&urls[1]);
    assert!(!latest.report.superseded);
    assert_eq!(
        latest.report_to(&mfa).await.unwrap().next,
        vec![NextStep::Call]
    );
}
