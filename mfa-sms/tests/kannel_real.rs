//! Against a real Kannel (bearerbox, smsbox and a fake SMSC) started by
//! `scripts/test.sh` through `scripts/services/kannel.sh`: the code is read off the
//! fake SMSC's socket, as a phone would receive it, and completes the journey.
#![cfg(feature = "kannel")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod recording_server;

use std::sync::Arc;
use std::time::Duration;

use mfa_core::{
    Delivery, DeliveryErrorKind, Error, ManualClock, Method, Mfa, PhoneMode, PhoneNumber, Policy,
    Status, Timestamp, UserId,
};
use mfa_sms::{KannelMethod, KannelSms, Messages, SmsDelivery};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedReadHalf;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: start Kannel with scripts/test.sh (scripts/services/kannel.sh)")
    })
}

/// The phone: a client of the fake SMSC, which writes one line per message,
/// `sender receiver type message` (type `text`, or `ucs-2` with URL-encoded UTF-16BE).
struct FakeSmscClient {
    lines: tokio::io::Lines<BufReader<OwnedReadHalf>>,
    // Kept open: the fake SMSC is online only while a client is connected.
    _write: tokio::net::tcp::OwnedWriteHalf,
}

#[derive(Debug)]
struct Received {
    receiver: String,
    kind: String,
    message: Vec<u8>,
}

/// The fake SMSC serves one client at a time: tests that read from it take turns.
static FAKE_SMSC: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

impl FakeSmscClient {
    async fn connect() -> Self {
        let port = env("MFA_KANNEL_SMSC_PORT");
        let stream = TcpStream::connect(("127.0.0.1", port.parse::<u16>().unwrap()))
            .await
            .expect("connect to the fake SMSC");
        let (read, write) = stream.into_split();
        FakeSmscClient {
            lines: BufReader::new(read).lines(),
            _write: write,
        }
    }

    /// The next message line (a guard stops a test that would hang forever).
    async fn next(&mut self) -> Received {
        let line = tokio::time::timeout(Duration::from_secs(30), self.lines.next_line())
            .await
            .expect("no message reached the fake SMSC")
            .unwrap()
            .expect("the fake SMSC closed the connection");
        let mut parts = line.splitn(4, ' ');
        let _sender = parts.next().unwrap();
        let receiver = parts.next().unwrap().to_owned();
        let kind = parts.next().unwrap().to_owned();
        let raw = parts.next().unwrap_or("");
        let message = if kind == "text" {
            raw.as_bytes().to_vec()
        } else {
            url_decode(raw)
        };
        Received {
            receiver,
            kind,
            message,
        }
    }
}

fn url_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                out.push(
                    u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap(), 16).unwrap(),
                );
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    out
}

fn code_in(text: &str) -> String {
    text.chars().take_while(char::is_ascii_digit).collect()
}

fn kannel(method: KannelMethod) -> KannelSms {
    KannelSms::new(
        &env("MFA_KANNEL_SENDSMS_URL"),
        &env("MFA_KANNEL_USER"),
        &env("MFA_KANNEL_PASS"),
    )
    .unwrap()
    .method(method)
}

#[tokio::test]
#[ignore = "needs Kannel: run scripts/test.sh"]
async fn enrollment_and_sign_in_through_real_kannel() {
    let _turn = FAKE_SMSC.lock().await;
    let mut phone = FakeSmscClient::connect().await;
    let clock = ManualClock::new(Timestamp::from_unix_secs(1_800_000_000));
    let mut policy = Policy::default();
    policy.app_name = "Contoso".into();
    let mfa = Mfa::builder()
        .clock(clock.clone())
        .policy(policy)
        .sms(SmsDelivery::new(kannel(KannelMethod::Get)))
        .build()
        .unwrap();
    let user = UserId::new("ada@contoso.com").unwrap();
    let number = PhoneNumber::from_parts(47, "412 34 567").unwrap();

    // "Send me an SMS": the code travels app -> smsbox -> bearerbox -> SMSC -> phone.
    let pending = mfa
        .begin_enrollment(
            &user,
            Method::AuthenticationPhone {
                number: number.clone(),
                mode: PhoneMode::Sms,
            },
        )
        .await
        .unwrap();
    let sms = phone.next().await;
    assert_eq!(sms.receiver, "+4741234567");
    assert_eq!(sms.kind, "text");
    let text = String::from_utf8(sms.message).unwrap();
    assert!(
        text.ends_with("is your Contoso verification code. It expires in 5 min."),
        "{text}"
    );
    let code = code_in(&text);
    assert_eq!(code.len(), 6, "{text}");

    // A wrong code first, then the one that arrived.
    let wrong = if code == "000000" { "111111" } else { "000000" };
    assert!(
        !mfa.verify(&user, &pending.challenge_id, wrong)
            .await
            .unwrap()
            .is_approved()
    );
    assert!(
        mfa.verify(&user, &pending.challenge_id, &code)
            .await
            .unwrap()
            .is_approved()
    );
    mfa.complete(&user, &pending.challenge_id).await.unwrap();
    assert!(matches!(
        mfa.status(&user).await.unwrap(),
        Status::Enrolled { .. }
    ));

    // Sign-in, this time with a POST to sendsms.
    let mfa = Mfa::builder()
        .clock(clock.clone())
        .shared_store(Arc::new(mfa_core::MemoryStore::new()))
        .sms(SmsDelivery::new(kannel(KannelMethod::Post)))
        .build()
        .unwrap();
    let pending = mfa
        .begin_enrollment(
            &user,
            Method::AuthenticationPhone {
                number: number.clone(),
                mode: PhoneMode::Sms,
            },
        )
        .await
        .unwrap();
    let code = code_in(&String::from_utf8(phone.next().await.message).unwrap());
    assert!(
        mfa.verify(&user, &pending.challenge_id, &code)
            .await
            .unwrap()
            .is_approved()
    );
    mfa.complete(&user, &pending.challenge_id).await.unwrap();
    clock.advance(Duration::from_secs(3600));
    let sign_in = mfa.challenge(&user).await.unwrap();
    let code = code_in(&String::from_utf8(phone.next().await.message).unwrap());
    assert!(
        mfa.verify(&user, &sign_in.challenge_id, &code)
            .await
            .unwrap()
            .is_approved()
    );

    // Non-Latin text reaches the phone as UCS-2, intact.
    let channel = SmsDelivery::new(kannel(KannelMethod::Get))
        .with_messages(Messages::new().template("ru", "Код {app}: {code}").unwrap());
    let mut request = sample_request();
    request.locale = "ru".into();
    request.app_name = "Почта".into();
    channel.send(&request).await.unwrap();
    let sms = phone.next().await;
    assert_eq!(sms.kind, "ucs-2");
    let units: Vec<u16> = sms
        .message
        .chunks(2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]))
        .collect();
    assert_eq!(String::from_utf16(&units).unwrap(), "Код Почта: 864209");

    // The same over POST, with a sender name.
    let channel = SmsDelivery::new(kannel(KannelMethod::Post).from("Contoso"))
        .with_messages(Messages::new().template("ru", "Код {app}: {code}").unwrap());
    channel.send(&request).await.unwrap();
    let sms = phone.next().await;
    assert_eq!(sms.kind, "ucs-2");
    let units: Vec<u16> = sms
        .message
        .chunks(2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]))
        .collect();
    assert_eq!(String::from_utf16(&units).unwrap(), "Код Почта: 864209");
}

#[tokio::test]
#[ignore = "needs Kannel: run scripts/test.sh"]
async fn delivery_reports_come_back_to_the_dlr_url_with_the_challenge_id() {
    let _turn = FAKE_SMSC.lock().await;
    let mut phone = FakeSmscClient::connect().await;
    let receiver = recording_server::RecordingServer::start().await;
    let sent = mfa_sms::SentMessages::new();
    let channel = SmsDelivery::new(
        kannel(KannelMethod::Post)
            .delivery_reports(
                31,
                &format!(
                    "{}/dlr?challenge={{challenge}}&send={{send}}&status=%d&id=%F",
                    receiver.url
                ),
            )
            .unwrap(),
    )
    .with_sent_log(sent.clone());
    let mut request = sample_request();
    request.destination.number = PhoneNumber::parse("+4741234569").unwrap();
    let receipt = channel.send(&request).await.unwrap();
    assert!(
        receipt.id.starts_with("c0ffee00c0ffee00:"),
        "{}",
        receipt.id
    );
    let sms = phone.next().await;
    assert_eq!(sms.receiver, "+4741234569");
    // The fake SMSC reports the message delivered; smsbox calls the dlr-url.
    for _ in 0..200 {
        if !receiver.requests().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let reports = receiver.requests();
    assert!(
        !reports.is_empty(),
        "no delivery report reached the dlr-url"
    );
    let report = &reports[0];
    assert_eq!(report.path, "/dlr");
    assert_eq!(
        report.query_value("challenge").as_deref(),
        Some("c0ffee00c0ffee00")
    );
    // Kannel passed on the send's number as we gave it: the receipt's.
    assert_eq!(
        report.query_value("send").as_deref(),
        receipt.id.split_once(':').map(|(_, send)| send)
    );
    let status: u32 = report.query_value("status").unwrap().parse().unwrap();
    assert!(status & 31 != 0, "a dlr-mask status: {status}");
    // Read back as a report for Mfa: whose message, which challenge, delivered.
    let delivered = reports
        .iter()
        .find_map(|r| mfa_sms::kannel::delivery_report(&sent, &r.query_pairs()).unwrap())
        .expect("a final report");
    assert_eq!(delivered.user, request.user);
    assert_eq!(delivered.challenge_id, request.challenge_id);
    assert_eq!(delivered.report.status, mfa_core::ReportStatus::Delivered);
    assert!(!delivered.report.superseded);
}

#[tokio::test]
#[ignore = "needs Kannel: run scripts/test.sh"]
async fn wrong_credentials_are_a_configuration_error() {
    let channel = SmsDelivery::new(
        KannelSms::new(
            &env("MFA_KANNEL_SENDSMS_URL"),
            &env("MFA_KANNEL_USER"),
            "wrong-password",
        )
        .unwrap(),
    );
    let err = channel.send(&sample_request()).await.unwrap_err();
    assert_eq!(err.kind(), DeliveryErrorKind::Configuration, "{err:?}");
    assert!(err.message().contains("Authorization failed"), "{err}");
    assert!(!err.message().contains("wrong-password") && !err.message().contains("864209"));

    // Through the driver the user gets a typed, permanent error and no challenge.
    let mfa = Mfa::builder().sms(channel).build().unwrap();
    let err = mfa
        .begin_enrollment(
            &UserId::new("bob@contoso.com").unwrap(),
            Method::AuthenticationPhone {
                number: PhoneNumber::parse("+4741234568").unwrap(),
                mode: PhoneMode::Sms,
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Delivery(ref e) if e.kind() == DeliveryErrorKind::Configuration));
    assert!(!err.is_transient());
}

fn sample_request() -> mfa_core::DeliveryRequest {
    mfa_core::DeliveryRequest {
        challenge_id: mfa_core::ChallengeId::parse("c0ffee00c0ffee00").unwrap(),
        user: UserId::new("ada@contoso.com").unwrap(),
        channel: mfa_core::Channel::Sms,
        destination: mfa_core::Destination {
            number: PhoneNumber::parse("+4741234567").unwrap(),
            extension: None,
        },
        content: mfa_core::Content::Code(mfa_core::OneTimeCode::parse("864209").unwrap()),
        purpose: mfa_core::Purpose::SignIn,
        expires_in: Duration::from_secs(300),
        locale: "en".into(),
        app_name: "Contoso".into(),
        cost_notice: None,
        meta: None,
    }
}
