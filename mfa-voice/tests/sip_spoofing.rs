//! An attacker on the network during a call: RFC 4733 key presses from a socket that
//! is not the callee's media (a fresh SSRC, the right payload type), and forged SIP
//! requests with the dialog's Call-ID and tags from a port that is not the PBX's.
//! None of it may approve, end or move the call; the real peer still can.
//!
//! The forged-request test plays the PBX itself and runs with plain `cargo test`.

#![cfg(feature = "sip")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test fixtures

use std::net::SocketAddr;
use std::time::Duration;

use mfa_core::{
    CallOutcome, ChallengeId, Channel, Content, Delivery, DeliveryRequest, Destination,
    PhoneNumber, Purpose, UserId,
};
use mfa_voice::ScriptOptions;
use mfa_voice::sip::{SipConfig, SipVoice};
use tokio::net::UdpSocket;
use tokio::time::timeout;

fn request() -> DeliveryRequest {
    DeliveryRequest {
        challenge_id: ChallengeId::parse("spoof-test").unwrap(),
        user: UserId::username("kari@example.no").unwrap(),
        channel: Channel::Voice,
        destination: Destination {
            number: PhoneNumber::parse("+47 22 12 34 56").unwrap(),
            extension: None,
        },
        content: Content::ConfirmByKey,
        purpose: Purpose::SignIn,
        expires_in: Duration::from_secs(300),
        locale: "en".into(),
        app_name: "Contoso".into(),
        cost_notice: None,
    }
}

fn options(key_timeout: Duration) -> ScriptOptions {
    let mut o = ScriptOptions::default();
    o.key_timeout = key_timeout;
    o
}

fn header<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    message.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The RTP port our offer names.
fn offered_port(invite: &str) -> u16 {
    let media = invite.lines().find(|l| l.starts_with("m=audio ")).unwrap();
    media.split(' ').nth(1).unwrap().parse().unwrap()
}

/// One RFC 4733 packet for `#` (event 11) with payload type 101.
fn pound(ssrc: u32, seq: u16, timestamp: u32, end: bool) -> Vec<u8> {
    let mut p = vec![0x80, 0x80 | 101];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&timestamp.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&[11, if end { 0x8a } else { 0x0a }, 0x03, 0x20]);
    p
}

/// Sends `presses` separate `#` presses (each its own event, end packet sent three
/// times) from `socket` to `to`, 20 ms apart, with a fresh SSRC.
async fn spray_pound(socket: &UdpSocket, to: SocketAddr, presses: u32) {
    let ssrc = 0x5EED_0001;
    let mut seq = 1u16;
    for i in 0..presses {
        let ts = 8000 + i * 1600;
        for end in [false, true, true, true] {
            let _ = socket.send_to(&pound(ssrc, seq, ts, end), to).await;
            seq = seq.wrapping_add(1);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits up to `wait` for a datagram on `socket`.
async fn next_datagram(socket: &UdpSocket, wait: Duration) -> Option<(Vec<u8>, SocketAddr)> {
    let mut buf = vec![0u8; 65_535];
    let (n, from) = timeout(wait, socket.recv_from(&mut buf)).await.ok()?.ok()?;
    Some((buf[..n].to_vec(), from))
}

/// The next SIP message on `socket` that starts with `start`, within 5 s.
async fn next_sip(socket: &UdpSocket, start: &str) -> (String, SocketAddr) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let (bytes, from) = next_datagram(socket, left)
            .await
            .unwrap_or_else(|| panic!("no {start} came"));
        let text = String::from_utf8_lossy(&bytes).into_owned();
        if text.starts_with(start) {
            return (text, from);
        }
    }
}

fn sdp(media: SocketAddr, version: u32) -> String {
    format!(
        "v=0\r\no=phone 1 {version} IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\n",
        ip = media.ip(),
        port = media.port()
    )
}

/// An in-dialog request from the callee's side of the dialog.
#[allow(clippy::too_many_arguments)]
fn callee_request(
    method: &str,
    to_us: SocketAddr,
    via: SocketAddr,
    branch: &str,
    callee: &str,
    caller: &str,
    call_id: &str,
    cseq: u32,
    body: &str,
) -> Vec<u8> {
    let content_type = if body.is_empty() {
        String::new()
    } else {
        "Content-Type: application/sdp\r\n".to_owned()
    };
    format!(
        "{method} sip:mfa@{to_us} SIP/2.0\r\nVia: SIP/2.0/UDP {via};branch={branch}\r\n\
         Max-Forwards: 70\r\nFrom: {callee}\r\nTo: {caller}\r\nCall-ID: {call_id}\r\n\
         CSeq: {cseq} {method}\r\nContact: <sip:phone@{via}>\r\n{content_type}\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A forged re-INVITE and a forged BYE, with the dialog's Call-ID and both tags, from
/// a port that is not the PBX's: the call is neither moved nor ended. Then the PBX
/// itself moves the media with a re-INVITE, and `#` from the new media address
/// confirms.
#[tokio::test]
async fn forged_in_dialog_requests_from_another_port_change_nothing() {
    let pbx = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let phone_media = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let moved_media = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let attacker = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let attacker_media = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let voice = SipVoice::new(
        SipConfig::new(pbx.local_addr().unwrap(), "pbx.example")
            .t1(Duration::from_millis(50))
            .script_options(options(Duration::from_secs(20))),
    );
    let call = tokio::spawn({
        let voice = voice.clone();
        async move { voice.send(&request()).await }
    });

    // Answer the call, media to `phone_media`.
    let (invite, us) = next_sip(&pbx, "INVITE ").await;
    let our_media = SocketAddr::from(([127, 0, 0, 1], offered_port(&invite)));
    let caller = header(&invite, "From").unwrap().to_owned();
    let callee = format!("{};tag=phone1", header(&invite, "To").unwrap());
    let call_id = header(&invite, "Call-ID").unwrap().to_owned();
    let answer = sdp(phone_media.local_addr().unwrap(), 1);
    let ok = format!(
        "SIP/2.0 200 OK\r\nVia: {}\r\nFrom: {caller}\r\nTo: {callee}\r\nCall-ID: {call_id}\r\n\
         CSeq: {}\r\nContact: <sip:phone@{}>\r\nContent-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{answer}",
        header(&invite, "Via").unwrap(),
        header(&invite, "CSeq").unwrap(),
        pbx.local_addr().unwrap(),
        answer.len()
    );
    pbx.send_to(ok.as_bytes(), us).await.unwrap();
    next_sip(&pbx, "ACK ").await;
    assert!(
        next_datagram(&phone_media, Duration::from_secs(5))
            .await
            .is_some(),
        "no RTP to the answered address"
    );

    // The attacker moves the media to itself, then hangs up.
    let attacker_addr = attacker.local_addr().unwrap();
    let forged_invite = callee_request(
        "INVITE",
        us,
        attacker_addr,
        "z9hG4bKforged1",
        &callee,
        &caller,
        &call_id,
        1,
        &sdp(attacker_media.local_addr().unwrap(), 2),
    );
    attacker.send_to(&forged_invite, us).await.unwrap();
    assert!(
        next_datagram(&attacker_media, Duration::from_secs(1))
            .await
            .is_none(),
        "a forged re-INVITE moved the media"
    );
    let forged_bye = callee_request(
        "BYE",
        us,
        attacker_addr,
        "z9hG4bKforged2",
        &callee,
        &caller,
        &call_id,
        2,
        "",
    );
    attacker.send_to(&forged_bye, us).await.unwrap();
    assert!(
        next_datagram(&attacker, Duration::from_secs(1))
            .await
            .is_none(),
        "a forged request was answered"
    );
    assert!(!call.is_finished(), "a forged BYE ended the call");
    assert!(
        next_datagram(&phone_media, Duration::from_secs(5))
            .await
            .is_some(),
        "RTP stopped after the forged requests"
    );

    // The PBX moves the media for real.
    let reinvite = callee_request(
        "INVITE",
        us,
        pbx.local_addr().unwrap(),
        "z9hG4bKreal1",
        &callee,
        &caller,
        &call_id,
        1,
        &sdp(moved_media.local_addr().unwrap(), 2),
    );
    pbx.send_to(&reinvite, us).await.unwrap();
    let (reply, _) = next_sip(&pbx, "SIP/2.0 200").await;
    assert_eq!(header(&reply, "CSeq"), Some("1 INVITE"));
    let ack = callee_request(
        "ACK",
        us,
        pbx.local_addr().unwrap(),
        "z9hG4bKreal2",
        &callee,
        &caller,
        &call_id,
        1,
        "",
    );
    pbx.send_to(&ack, us).await.unwrap();
    assert!(
        next_datagram(&moved_media, Duration::from_secs(5))
            .await
            .is_some(),
        "the real re-INVITE did not move the media"
    );
    // The key, from the media's new address.
    spray_pound(&moved_media, our_media, 1).await;
    let (bye, _) = next_sip(&pbx, "BYE ").await;
    let bye_ok = format!(
        "SIP/2.0 200 OK\r\nVia: {}\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {call_id}\r\nCSeq: {}\r\n\
         Content-Length: 0\r\n\r\n",
        header(&bye, "Via").unwrap(),
        header(&bye, "From").unwrap(),
        header(&bye, "To").unwrap(),
        header(&bye, "CSeq").unwrap(),
    );
    pbx.send_to(bye_ok.as_bytes(), us).await.unwrap();
    let receipt = timeout(Duration::from_secs(10), call)
        .await
        .expect("the call ends")
        .unwrap()
        .unwrap();
    assert_eq!(receipt.call_outcome, Some(CallOutcome::Confirmed));
    let record = &voice.calls()[0];
    assert_eq!(record.keys, "#");
    assert!(!record.remote_hangup);
}
