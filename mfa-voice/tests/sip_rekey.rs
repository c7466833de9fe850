//! SRTP re-keying on a re-INVITE (RFC 4568 §7.1.4): the test plays the PBX over TLS
//! and the office phone's SRTP itself, so it runs with plain
//! `cargo test -p mfa-voice --features sip-tls`.
//!
//! A re-INVITE with a new `a=crypto` key means a new SRTP context for what the phone
//! sends: its `#` under the new key approves. A re-INVITE with the same key (a session
//! refresh) keeps the context and its rollover counter: a `#` sent after the sequence
//! numbers wrapped still approves. A re-INVITE we cannot accept (no key: the media
//! would go out in the clear) is refused with 488 and the call goes on as it was.

#![cfg(feature = "sip-tls")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test fixtures

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use mfa_core::{CallOutcome, Delivery, DeliveryError, DeliveryRequest, UserId};
use mfa_voice::ScriptOptions;
use mfa_voice::sip::rustls::{self, RootCertStore};
use mfa_voice::sip::{SipCall, SipConfig, SipVoice, TlsClient};
use support::{header, office_call};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::time::timeout;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use webrtc_srtp::context::Context;
use webrtc_srtp::protection_profile::ProtectionProfile;

fn request() -> DeliveryRequest {
    office_call(
        "rekey-test",
        UserId::username("kari@example.no").unwrap(),
        None,
    )
}

async fn whole_call(voice: &SipVoice) -> Result<SipCall, DeliveryError> {
    let receipt = voice.send(&request()).await?;
    let call = voice.finished(&receipt.id).await;
    match &call.error {
        Some(error) => Err(error.clone()),
        None => Ok(call),
    }
}

/// A TLS listener on loopback with a certificate from a CA made for the test, and the
/// roots that trust it.
fn pbx_tls() -> (TlsAcceptor, RootCertStore) {
    let support::LoopbackCertificate { cert, key, roots } =
        support::loopback_certificate("sip_rekey test CA");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.der().clone()],
        rustls::pki_types::PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
    )
    .unwrap();
    (TlsAcceptor::from(Arc::new(config)), roots)
}

/// The PBX's end of the TLS connection: whole SIP messages in and out.
struct Pbx {
    stream: TlsStream<TcpStream>,
    buffered: Vec<u8>,
}

impl Pbx {
    async fn accept(listener: &TcpListener, acceptor: &TlsAcceptor) -> Pbx {
        let (tcp, _) = timeout(Duration::from_secs(10), listener.accept())
            .await
            .expect("the backend connects")
            .unwrap();
        Pbx {
            stream: acceptor.accept(tcp).await.unwrap(),
            buffered: Vec::new(),
        }
    }

    /// The next message that starts with `start` (others are skipped), within 30 s.
    async fn next(&mut self, start: &str) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let message = timeout(
                deadline.saturating_duration_since(tokio::time::Instant::now()),
                self.read_message(),
            )
            .await
            .unwrap_or_else(|_| panic!("no {start} came"));
            if message.starts_with(start) {
                return message;
            }
        }
    }

    async fn read_message(&mut self) -> String {
        loop {
            if let Some(end) = self.buffered.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buffered[..end + 4]).into_owned();
                let length: usize = header(&head, "Content-Length")
                    .or_else(|| header(&head, "l"))
                    .map_or(0, |l| l.parse().unwrap());
                if self.buffered.len() >= end + 4 + length {
                    let message: Vec<u8> = self.buffered.drain(..end + 4 + length).collect();
                    return String::from_utf8_lossy(&message).into_owned();
                }
            }
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk).await.unwrap();
            assert_ne!(n, 0, "the backend closed the connection");
            self.buffered.extend_from_slice(&chunk[..n]);
        }
    }

    async fn send(&mut self, message: &str) {
        self.stream.write_all(message.as_bytes()).await.unwrap();
        self.stream.flush().await.unwrap();
    }
}

/// The phone's SDP: SRTP at `media` keyed by `key` (16-byte key, 14-byte salt), or on
/// plain RTP without a key.
fn sdp(media: SocketAddr, version: u32, key: Option<&[u8; 30]>) -> String {
    let (profile, crypto) = match key {
        Some(key) => (
            "RTP/SAVP",
            format!(
                "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{}\r\n",
                STANDARD.encode(key)
            ),
        ),
        None => ("RTP/AVP", String::new()),
    };
    format!(
        "v=0\r\no=phone 1 {version} IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
         m=audio {port} {profile} 8 101\r\na=rtpmap:8 PCMA/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\n{crypto}",
        ip = media.ip(),
        port = media.port()
    )
}

/// The phone's sending SRTP context for `key`.
fn phone_context(key: &[u8; 30]) -> Context {
    Context::new(
        &key[..16],
        &key[16..],
        ProtectionProfile::Aes128CmHmacSha1_80,
        None,
        None,
    )
    .unwrap()
}

/// A PCMA packet of silence from the phone.
fn audio(seq: u16) -> Vec<u8> {
    let mut p = vec![0x80, 8];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq).wrapping_mul(160)).to_be_bytes());
    p.extend_from_slice(&0x000F_F1CEu32.to_be_bytes());
    p.extend_from_slice(&[0xd5; 160]);
    p
}

/// One RFC 4733 packet for `#` (event 11), payload type 101.
fn pound(seq: u16, end: bool) -> Vec<u8> {
    let mut p = vec![0x80, 0x80 | 101];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&8_000_000u32.to_be_bytes());
    p.extend_from_slice(&0x000F_F1CEu32.to_be_bytes());
    p.extend_from_slice(&[11, if end { 0x8a } else { 0x0a }, 0x03, 0x20]);
    p
}

/// The phone's media: sends SRTP from its answered address to ours.
struct Phone {
    media: UdpSocket,
    to: SocketAddr,
    context: Context,
    seq: u16,
}

impl Phone {
    async fn send(&mut self, packet: Vec<u8>) {
        let sealed = self.context.encrypt_rtp(&packet).unwrap();
        self.media.send_to(&sealed, self.to).await.unwrap();
    }

    async fn audio(&mut self, packets: u16) {
        for _ in 0..packets {
            let seq = self.seq;
            self.seq = self.seq.wrapping_add(1);
            self.send(audio(seq)).await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    async fn press_pound(&mut self) {
        for end in [false, true, true, true] {
            let seq = self.seq;
            self.seq = self.seq.wrapping_add(1);
            self.send(pound(seq, end)).await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The dialog as the PBX sees it once it has answered.
struct Answered {
    pbx: Pbx,
    phone: Phone,
    caller: String,
    callee: String,
    call_id: String,
    us: String,
}

/// Places a secure call and answers it with SRTP keyed by `key`, the phone's
/// sequence numbers starting at `first_seq`.
async fn answered_call(
    key: &[u8; 30],
    first_seq: u16,
) -> (
    SipVoice,
    tokio::task::JoinHandle<Result<SipCall, DeliveryError>>,
    Answered,
) {
    let (acceptor, roots) = pbx_tls();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut options = ScriptOptions::default();
    options.key_timeout = Duration::from_secs(4);
    let voice = SipVoice::new(
        SipConfig::new(addr, format!("127.0.0.1:{}", addr.port()))
            .request_uri("sip:office@{host};transport=tls")
            .tls(TlsClient::new(roots, "127.0.0.1").unwrap())
            .srtp(true)
            .t1(Duration::from_millis(100))
            .script_options(options),
    );
    let call = tokio::spawn({
        let voice = voice.clone();
        async move { whole_call(&voice).await }
    });
    let mut pbx = Pbx::accept(&listener, &acceptor).await;
    let invite = pbx.next("INVITE ").await;
    assert!(invite.contains("RTP/SAVP") && invite.contains("a=crypto:1 "));
    let media = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port: u16 = invite
        .lines()
        .find(|l| l.starts_with("m=audio "))
        .and_then(|l| l.split(' ').nth(1)?.parse().ok())
        .unwrap();
    let caller = header(&invite, "From").unwrap().to_owned();
    let callee = format!("{};tag=phone1", header(&invite, "To").unwrap());
    let call_id = header(&invite, "Call-ID").unwrap().to_owned();
    let us = header(&invite, "Contact")
        .unwrap()
        .trim_matches(|c| c == '<' || c == '>')
        .to_owned();
    let answer = sdp(media.local_addr().unwrap(), 1, Some(key));
    let ok = format!(
        "SIP/2.0 200 OK\r\nVia: {}\r\nFrom: {caller}\r\nTo: {callee}\r\nCall-ID: {call_id}\r\n\
         CSeq: {}\r\nContact: <sip:phone@{addr};transport=tls>\r\n\
         Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{answer}",
        header(&invite, "Via").unwrap(),
        header(&invite, "CSeq").unwrap(),
        answer.len()
    );
    pbx.send(&ok).await;
    pbx.next("ACK ").await;
    let mut phone = Phone {
        media,
        to: SocketAddr::from(([127, 0, 0, 1], port)),
        context: phone_context(key),
        seq: first_seq,
    };
    // Our first packet: the media flows.
    let mut buf = [0u8; 2048];
    timeout(Duration::from_secs(5), phone.media.recv_from(&mut buf))
        .await
        .expect("our SRTP reaches the phone")
        .unwrap();
    (
        voice,
        call,
        Answered {
            pbx,
            phone: {
                phone.audio(2).await;
                phone
            },
            caller,
            callee,
            call_id,
            us,
        },
    )
}

impl Answered {
    /// The phone's re-INVITE with `body`: our final response to it.
    async fn reinvite(&mut self, body: &str) -> String {
        let invite = format!(
            "INVITE {us} SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bKreinvite1\r\n\
             Max-Forwards: 70\r\nFrom: {callee}\r\nTo: {caller}\r\nCall-ID: {call_id}\r\n\
             CSeq: 2 INVITE\r\nContact: <sip:phone@127.0.0.1:5061;transport=tls>\r\n\
             Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
            body.len(),
            us = self.us,
            callee = self.callee,
            caller = self.caller,
            call_id = self.call_id,
        );
        self.pbx.send(&invite).await;
        let response = self.pbx.next("SIP/2.0 ").await;
        if response.starts_with("SIP/2.0 2") {
            let ack = format!(
                "ACK {us} SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bKreack1\r\n\
                 Max-Forwards: 70\r\nFrom: {callee}\r\nTo: {to}\r\nCall-ID: {call_id}\r\n\
                 CSeq: 2 ACK\r\nContent-Length: 0\r\n\r\n",
                us = self.us,
                callee = self.callee,
                to = header(&response, "To").unwrap(),
                call_id = self.call_id,
            );
            self.pbx.send(&ack).await;
        }
        response
    }

    /// Waits for our BYE and answers it.
    async fn accept_bye(&mut self) {
        let bye = self.pbx.next("BYE ").await;
        let ok = format!(
            "SIP/2.0 200 OK\r\nVia: {}\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {}\r\n\
             Content-Length: 0\r\n\r\n",
            header(&bye, "Via").unwrap(),
            header(&bye, "From").unwrap(),
            header(&bye, "To").unwrap(),
            header(&bye, "Call-ID").unwrap(),
            header(&bye, "CSeq").unwrap(),
        );
        self.pbx.send(&ok).await;
    }
}

async fn ended(
    call: tokio::task::JoinHandle<Result<SipCall, DeliveryError>>,
) -> Result<SipCall, DeliveryError> {
    timeout(Duration::from_secs(30), call)
        .await
        .expect("the call ends")
        .unwrap()
}

#[tokio::test]
async fn a_new_key_in_a_reinvite_keys_the_media_that_follows() {
    let (first, second) = ([0x11u8; 30], [0x22u8; 30]);
    let (voice, call, mut dialog) = answered_call(&first, 1).await;
    let media = dialog.phone.media.local_addr().unwrap();
    let response = dialog.reinvite(&sdp(media, 2, Some(&second))).await;
    assert!(response.starts_with("SIP/2.0 200 "), "{response}");
    assert!(response.contains("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:"));
    // From the answer on, the phone sends under its new key (a new context, RFC 4568
    // §7.1.4: its sequence numbers go on).
    dialog.phone.context = phone_context(&second);
    dialog.phone.audio(2).await;
    dialog.phone.press_pound().await;
    dialog.accept_bye().await;
    let result = ended(call).await.unwrap();
    assert_eq!(result.outcome, Some(CallOutcome::Confirmed), "{result:?}");
    let record = &voice.calls()[0];
    assert!(record.srtp && record.keys == "#", "{record:?}");
}

#[tokio::test]
async fn the_same_key_in_a_reinvite_keeps_the_context_and_its_rollover_counter() {
    let key = [0x33u8; 30];
    // The phone's sequence numbers wrap during the call: its rollover counter is 1.
    let (voice, call, mut dialog) = answered_call(&key, 65_530).await;
    dialog.phone.audio(8).await;
    assert!(dialog.phone.seq < 100);
    let media = dialog.phone.media.local_addr().unwrap();
    let response = dialog.reinvite(&sdp(media, 2, Some(&key))).await;
    assert!(response.starts_with("SIP/2.0 200 "), "{response}");
    // A fresh context would guess rollover counter 0 and refuse these.
    dialog.phone.press_pound().await;
    dialog.accept_bye().await;
    let result = ended(call).await.unwrap();
    assert_eq!(result.outcome, Some(CallOutcome::Confirmed), "{result:?}");
    assert_eq!(voice.calls()[0].keys, "#");
}

#[tokio::test]
async fn a_reinvite_that_drops_the_key_is_refused_and_the_call_goes_on() {
    let key = [0x44u8; 30];
    let (voice, call, mut dialog) = answered_call(&key, 1).await;
    let media = dialog.phone.media.local_addr().unwrap();
    let response = dialog.reinvite(&sdp(media, 2, None)).await;
    assert!(response.starts_with("SIP/2.0 488 "), "{response}");
    // A key that does not parse is refused the same way.
    let bad = sdp(media, 3, Some(&key)).replace("inline:", "inline:!!");
    let response = dialog.reinvite(&bad).await;
    assert!(response.starts_with("SIP/2.0 488 "), "{response}");
    // The session is as it was: the old key still carries the phone's `#`.
    dialog.phone.press_pound().await;
    dialog.accept_bye().await;
    let result = ended(call).await.unwrap();
    assert_eq!(result.outcome, Some(CallOutcome::Confirmed), "{result:?}");
    assert_eq!(voice.calls()[0].keys, "#");
}
