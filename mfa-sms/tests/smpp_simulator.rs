//! The SMPP backend against an SMSC simulator (the `smpp34` crate's server) started
//! by the test, behind a TCP proxy that can cut the link: binds, `submit_sm` with the
//! right `data_coding`, long messages, keep-alive, a dropped link, rejected
//! destinations and credentials, delivery receipts, and the whole enrollment.
#![cfg(feature = "smpp")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use mfa_core::{
    Delivery, DeliveryErrorKind, ManualClock, Method, Mfa, PhoneMode, PhoneNumber, Policy,
    Timestamp, UserId,
};
use mfa_sms::{LongMessages, Messages, SmppSettings, SmppSms, SmsDelivery, gsm7_decode};
use smpp34::server::ESME;
use smpp34::{
    SmppConnectionInformation, SmppError, SmppServer, SmppServerListener, bind_transceiver,
    bind_transceiver_resp, submit_sm, submit_sm_resp,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

const PASSWORD: &str = "s3cret";
const UNKNOWN_NUMBER: &str = "4741234599";
const BUSY_NUMBER: &str = "4741234598";
const SILENT_NUMBER: &str = "4741234597";

#[derive(Default)]
struct Smsc {
    binds: AtomicUsize,
    submits: Mutex<Vec<submit_sm>>,
    esme: tokio::sync::Mutex<Option<Arc<ESME>>>,
}

#[async_trait]
impl SmppServerListener for Smsc {
    async fn on_bind_transceiver(
        &self,
        req: bind_transceiver,
        _c: &SmppConnectionInformation,
        _s: &String,
    ) -> bind_transceiver_resp {
        if req.password != PASSWORD {
            return req.reject(SmppError::ESME_RINVPASWD);
        }
        self.binds.fetch_add(1, Ordering::SeqCst);
        req.accept("SIMSC".to_string(), Some(0x34))
    }

    async fn on_esme_bound(&self, esme: ESME, _s: &String) {
        *self.esme.lock().await = Some(Arc::new(esme));
    }

    async fn on_submit_sm(
        &self,
        req: submit_sm,
        _c: &SmppConnectionInformation,
        _s: &String,
    ) -> submit_sm_resp {
        let id = {
            let mut submits = self.submits.lock().unwrap();
            submits.push(req.clone());
            format!("msg-{}", submits.len())
        };
        match req.destination_addr.as_str() {
            UNKNOWN_NUMBER => return req.reject(SmppError::ESME_RINVDSTADR),
            BUSY_NUMBER => return req.reject(SmppError::ESME_RTHROTTLED),
            // An SMSC that hangs: the answer comes long after the client gave up.
            SILENT_NUMBER => tokio::time::sleep(Duration::from_secs(2)).await,
            _ => {}
        }
        if req.registered_delivery == 1 {
            if let Some(esme) = self.esme.lock().await.clone() {
                let receipt = format!(
                    "id:{id} sub:001 dlvrd:001 submit date:2601010000 done date:2601010000 stat:DELIVRD err:000 text:"
                );
                let (src, dst) = (req.destination_addr.clone(), req.source_addr.clone());
                tokio::spawn(async move {
                    let _ = esme
                        .deliver_sm()
                        .source_addr(src)
                        .destination_addr(dst)
                        .esm_class(0x04)
                        .short_message(receipt.into_bytes())
                        .send()
                        .await;
                });
            }
        }
        req.accept(id)
    }
}

impl Smsc {
    fn submits(&self) -> Vec<submit_sm> {
        self.submits.lock().unwrap().clone()
    }

    /// The text of the last message, its UDH parts put together.
    fn last_text(&self) -> String {
        let submits = self.submits();
        let last = submits.last().unwrap();
        let parts: Vec<&submit_sm> = if last.esm_class & 0x40 != 0 {
            let total = usize::from(last.short_message[4]);
            submits[submits.len() - total..].iter().collect()
        } else {
            vec![last]
        };
        let mut body = Vec::new();
        for part in &parts {
            let payload = part.tlvs.iter().find(|t| t.tag == 0x0424);
            match payload {
                Some(tlv) => body.extend_from_slice(&tlv.value),
                None if part.esm_class & 0x40 != 0 => {
                    let udh_len = usize::from(part.short_message[0]) + 1;
                    body.extend_from_slice(&part.short_message[udh_len..]);
                }
                None => body.extend_from_slice(&part.short_message),
            }
        }
        match last.data_coding {
            0 => gsm7_decode(&body),
            8 => {
                let units: Vec<u16> = body
                    .chunks(2)
                    .map(|b| u16::from_be_bytes([b[0], b[1]]))
                    .collect();
                String::from_utf16(&units).unwrap()
            }
            other => panic!("unexpected data_coding {other}"),
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A TCP proxy in front of the SMSC; `cut` drops every connection, as a failing
/// network would.
struct Proxy {
    port: u16,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
    _accept: JoinHandle<()>,
}

impl Proxy {
    async fn start(target: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let tracked = connections.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let Ok(mut outbound) = TcpStream::connect(("127.0.0.1", target)).await else {
                    continue;
                };
                tracked.lock().unwrap().push(tokio::spawn(async move {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }));
            }
        });
        Proxy {
            port,
            connections,
            _accept: accept,
        }
    }

    fn cut(&self) {
        for task in self.connections.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}

struct World {
    smsc: Arc<Smsc>,
    proxy: Proxy,
    _server: SmppServer,
}

async fn world() -> World {
    let smsc = Arc::new(Smsc::default());
    let port = free_port();
    // The simulator closes a session after 1.5 s without traffic and sends no
    // enquire_link of its own: only the client's keep-alive holds the link open.
    let mut server = SmppServer::new_with_default_timers(
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        port,
        smsc.clone(),
        5000,
        600_000,
        1500,
        5000,
        4096,
    );
    server.start().await;
    let proxy = Proxy::start(port).await;
    World {
        smsc,
        proxy,
        _server: server,
    }
}

fn settings(world: &World) -> SmppSettings {
    SmppSettings::new(
        "127.0.0.1",
        world.proxy.port,
        "contoso",
        PASSWORD,
        "Contoso",
    )
    .unwrap()
    .bind_timeout(Duration::from_secs(3))
    .submit_timeout(Duration::from_secs(3))
    .enquire_link_interval(Duration::from_millis(200))
}

fn request(code: &str, number: &str) -> mfa_core::DeliveryRequest {
    mfa_core::DeliveryRequest {
        challenge_id: mfa_core::ChallengeId::parse("c0ffee00c0ffee00").unwrap(),
        user: UserId::new("ada@contoso.com").unwrap(),
        channel: mfa_core::Channel::Sms,
        destination: mfa_core::Destination {
            number: PhoneNumber::parse(number).unwrap(),
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

/// Waits (bounded) until `check` holds.
async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..100 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} never happened");
}

#[tokio::test]
async fn enrollment_through_the_smsc() {
    let w = world().await;
    let clock = ManualClock::new(Timestamp::from_unix_secs(1_800_000_000));
    let mut policy = Policy::default();
    policy.app_name = "Contoso".into();
    let mfa = Mfa::builder()
        .clock(clock)
        .policy(policy)
        .sms(SmsDelivery::new(SmppSms::new(settings(&w))))
        .build()
        .unwrap();
    let user = UserId::new("ada@contoso.com").unwrap();
    let number = PhoneNumber::from_parts(47, "412 34 567").unwrap();
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
    let submit = w.smsc.submits().pop().unwrap();
    assert_eq!(submit.destination_addr, "4741234567");
    assert_eq!((submit.dest_addr_ton, submit.dest_addr_npi), (1, 1));
    assert_eq!(submit.source_addr, "Contoso");
    assert_eq!((submit.source_addr_ton, submit.source_addr_npi), (5, 0));
    assert_eq!((submit.data_coding, submit.esm_class), (0, 0));
    let text = w.smsc.last_text();
    assert!(
        text.ends_with(" is your Contoso verification code. It expires in 5 min."),
        "{text}"
    );
    let code: String = text.chars().take_while(char::is_ascii_digit).collect();
    assert!(
        mfa.verify(&user, &pending.challenge_id, &code)
            .await
            .unwrap()
            .is_approved()
    );
    mfa.complete(&user, &pending.challenge_id).await.unwrap();
}

#[tokio::test]
async fn ucs2_and_gsm_extension_text_arrive_intact() {
    let w = world().await;
    let backend = SmppSms::new(settings(&w));
    let channel = SmsDelivery::shared(Arc::new(backend)).with_messages(
        Messages::new()
            .template("ru", "Код {app}: {code}")
            .unwrap()
            .template("en", "{code} [{app}] costs 0 € ^_^")
            .unwrap(),
    );
    let mut req = request("123456", "+4741234567");
    req.locale = "ru".into();
    req.app_name = "Почта".into();
    channel.send(&req).await.unwrap();
    assert_eq!(w.smsc.submits().last().unwrap().data_coding, 8);
    assert_eq!(w.smsc.last_text(), "Код Почта: 123456");

    channel
        .send(&request("654321", "+4741234567"))
        .await
        .unwrap();
    let submit = w.smsc.submits().pop().unwrap();
    assert_eq!(submit.data_coding, 0);
    assert!(
        submit.short_message.contains(&0x1B),
        "extension characters are escaped"
    );
    assert_eq!(w.smsc.last_text(), "654321 [Contoso] costs 0 € ^_^");
}

#[tokio::test]
async fn long_messages_as_udh_parts_or_one_payload() {
    let w = world().await;
    let long_app = "Contoso Enterprise Identity Platform for Northern Europe ".repeat(4);
    let mut req = request("123456", "+4741234567");
    req.app_name = long_app.trim().to_owned();

    let udh = SmsDelivery::new(SmppSms::new(settings(&w)));
    let receipt = udh.send(&req).await.unwrap();
    let submits = w.smsc.submits();
    assert_eq!(submits.len(), 2, "two UDH parts");
    assert_eq!(receipt.id, "msg-1,msg-2");
    for (i, part) in submits.iter().enumerate() {
        assert_eq!(part.esm_class, 0x40);
        assert_eq!(&part.short_message[..3], &[0x05, 0x00, 0x03]);
        assert_eq!(part.short_message[4], 2, "total");
        assert_eq!(usize::from(part.short_message[5]), i + 1, "sequence");
        assert!(part.short_message.len() - 6 <= 153);
    }
    assert_eq!(
        submits[0].short_message[3], submits[1].short_message[3],
        "same reference"
    );
    let text = w.smsc.last_text();
    assert!(
        text.starts_with("123456 is your Contoso Enterprise"),
        "{text}"
    );
    assert!(text.ends_with("It expires in 5 min."), "{text}");

    let payload = SmsDelivery::new(SmppSms::new(
        settings(&w).long_messages(LongMessages::MessagePayload),
    ));
    payload.send(&req).await.unwrap();
    let last = w.smsc.submits().pop().unwrap();
    assert!(last.short_message.is_empty());
    assert_eq!(last.esm_class, 0);
    assert_eq!(w.smsc.last_text(), text);
}

#[tokio::test]
async fn submit_sm_resp_statuses_become_typed_errors() {
    let w = world().await;
    let channel = SmsDelivery::new(SmppSms::new(settings(&w)));
    let err = channel
        .send(&request("123456", "+4741234599"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), DeliveryErrorKind::InvalidDestination, "{err}");
    assert!(err.is_permanent());
    let err = channel
        .send(&request("123456", "+4741234598"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), DeliveryErrorKind::Transient, "{err}");
    let shown = format!("{err} {err:?} {channel:?}");
    assert!(
        !shown.contains("123456") && !shown.contains(PASSWORD),
        "{shown}"
    );
    // The link survives rejected messages.
    channel
        .send(&request("123456", "+4741234567"))
        .await
        .unwrap();
    assert_eq!(w.smsc.binds.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_smsc_that_does_not_answer_submit_sm_is_a_timeout() {
    let w = world().await;
    let channel = SmsDelivery::new(SmppSms::new(
        settings(&w).submit_timeout(Duration::from_millis(300)),
    ));
    let err = channel
        .send(&request("123456", "+4741234597"))
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert!(!err.to_string().contains("123456"));
}

#[tokio::test]
async fn keep_alive_holds_the_link_and_a_dropped_link_is_bound_again() {
    let w = world().await;
    let backend = Arc::new(SmppSms::new(settings(&w)));
    let channel = SmsDelivery::shared(backend.clone());
    channel
        .send(&request("111111", "+4741234567"))
        .await
        .unwrap();
    assert_eq!(w.smsc.binds.load(Ordering::SeqCst), 1);

    // Idle for twice the simulator's inactivity limit: enquire_link keeps the bind.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(backend.is_bound().await);
    channel
        .send(&request("222222", "+4741234567"))
        .await
        .unwrap();
    assert_eq!(
        w.smsc.binds.load(Ordering::SeqCst),
        1,
        "no new bind was needed"
    );

    // The network drops the link; the next message binds again and goes through.
    w.proxy.cut();
    eventually("the client noticing the dropped link", async || {
        !backend.is_bound().await
    })
    .await;
    channel
        .send(&request("333333", "+4741234567"))
        .await
        .unwrap();
    assert_eq!(w.smsc.binds.load(Ordering::SeqCst), 2);
    assert!(w.smsc.last_text().starts_with("333333"));
    backend.close().await;
    assert!(!backend.is_bound().await);
}

#[tokio::test]
async fn delivery_receipts_are_collected() {
    let w = world().await;
    let backend = Arc::new(SmppSms::new(settings(&w).delivery_receipts(true)));
    let sent = mfa_sms::SentMessages::new();
    let receipt = SmsDelivery::shared(backend.clone())
        .with_sent_log(sent.clone())
        .send(&request("123456", "+4741234567"))
        .await
        .unwrap();
    assert_eq!(w.smsc.submits()[0].registered_delivery, 1);
    eventually("a delivery receipt", async || {
        !backend.delivery_receipts().is_empty()
    })
    .await;
    let receipts = backend.delivery_receipts();
    assert_eq!(receipts[0].message_id, receipt.id);
    assert!(receipts[0].is_delivered());
    // As reports for Mfa: the message's user and challenge, taken once.
    let reports = backend.take_reports(&sent);
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].report.message_id, receipt.id);
    assert_eq!(reports[0].report.status, mfa_core::ReportStatus::Delivered);
    assert_eq!(reports[0].challenge_id.as_str(), "c0ffee00c0ffee00");
    assert!(backend.take_reports(&sent).is_empty());
}

#[tokio::test]
async fn wrong_password_and_no_smsc_are_typed_errors() {
    let w = world().await;
    let wrong = SmppSettings::new("127.0.0.1", w.proxy.port, "contoso", "wrong", "Contoso")
        .unwrap()
        .bind_timeout(Duration::from_millis(500));
    let err = SmsDelivery::new(SmppSms::new(wrong))
        .send(&request("123456", "+4741234567"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), DeliveryErrorKind::Configuration, "{err}");
    assert!(!err.to_string().contains("wrong"), "{err}");

    let nobody =
        SmppSettings::new("127.0.0.1", free_port(), "contoso", PASSWORD, "Contoso").unwrap();
    let err = SmsDelivery::new(SmppSms::new(nobody))
        .send(&request("123456", "+4741234567"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), DeliveryErrorKind::Transient, "{err}");
}
