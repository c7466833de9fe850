//! The INVITE client transaction over UDP against a scripted peer in the test: timer A
//! retransmits the same INVITE until a response comes, timer B gives up, a provisional
//! response stops the retransmissions, and garbage from the network changes nothing.
//! No SIP software needed: these run with plain `cargo test`.

#![cfg(feature = "sip")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test fixtures

mod support;

use std::time::Duration;

use mfa_core::{Delivery, DeliveryErrorKind, DeliveryRequest, UserId};
use mfa_voice::sip::{SipConfig, SipVoice};
use support::{header, office_call};
use tokio::net::UdpSocket;
use tokio::time::timeout;

fn request() -> DeliveryRequest {
    office_call(
        "tx-test",
        UserId::username("kari@example.no").unwrap(),
        None,
    )
}

/// Receives datagrams until `quiet` passes without one.
async fn receive_all(peer: &UdpSocket, quiet: Duration) -> Vec<(Vec<u8>, std::net::SocketAddr)> {
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65_535];
    while let Ok(Ok((n, from))) = timeout(quiet, peer.recv_from(&mut buf)).await {
        got.push((buf[..n].to_vec(), from));
    }
    got
}

/// A response to `request` (its Via, From, To, Call-ID and CSeq), with `to_tag`.
fn respond(request: &str, status: &str, to_tag: &str) -> Vec<u8> {
    let mut out = format!("SIP/2.0 {status}\r\n");
    for name in ["Via", "From", "Call-ID", "CSeq"] {
        out.push_str(&format!("{name}: {}\r\n", header(request, name).unwrap()));
    }
    out.push_str(&format!(
        "To: {};tag={to_tag}\r\nContent-Length: 0\r\n\r\n",
        header(request, "To").unwrap()
    ));
    out.into_bytes()
}

#[tokio::test]
async fn timer_a_retransmits_the_same_invite_until_timer_b_gives_up() {
    let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let voice = SipVoice::new(
        SipConfig::new(peer.local_addr().unwrap(), "pbx.example").t1(Duration::from_millis(20)),
    );
    let call = tokio::spawn(async move { voice.send(&request()).await });
    let got = receive_all(&peer, Duration::from_secs(2)).await;
    let error = call.await.unwrap().unwrap_err();
    assert_eq!(error.kind(), DeliveryErrorKind::Timeout);
    assert!(error.is_transient());
    // Sent at 0, T1, 3·T1, 7·T1, 15·T1, 31·T1 and 63·T1: seven copies before 64·T1.
    assert!(got.len() >= 5 && got.len() <= 8, "{} INVITEs", got.len());
    assert!(got.iter().all(|(bytes, _)| bytes == &got[0].0));
    assert!(
        got[0]
            .0
            .starts_with(b"INVITE sip:+4722123456@pbx.example SIP/2.0\r\n")
    );
    // The offer: PCMA, PCMU and telephone events, on an even RTP port.
    let invite = String::from_utf8_lossy(&got[0].0).into_owned();
    let media = invite.lines().find(|l| l.starts_with("m=audio ")).unwrap();
    let port: u16 = media.split(' ').nth(1).unwrap().parse().unwrap();
    assert_eq!(port % 2, 0, "{media}");
    assert!(media.ends_with("RTP/AVP 8 0 101"), "{media}");
    assert!(invite.contains("a=rtpmap:101 telephone-event/8000"));
}

#[tokio::test]
async fn a_provisional_response_stops_retransmission_and_the_ring_timeout_cancels() {
    let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let voice = SipVoice::new(
        SipConfig::new(peer.local_addr().unwrap(), "pbx.example")
            .t1(Duration::from_millis(20))
            .ring_timeout(Duration::from_millis(600)),
    );
    let call = tokio::spawn({
        let voice = voice.clone();
        async move { voice.send(&request()).await }
    });
    let mut buf = vec![0u8; 65_535];
    let (n, from) = peer.recv_from(&mut buf).await.unwrap();
    let invite = String::from_utf8(buf[..n].to_vec()).unwrap();
    // Noise first: none of it may disturb the transaction.
    for junk in [
        &b"\x00\x01garbage"[..],
        b"SIP/2.0 200 OK\r\n\r\n",
        &[0xff; 300],
    ] {
        peer.send_to(junk, from).await.unwrap();
    }
    assert!(
        !call.is_finished(),
        "the send returned before the phone rang"
    );
    peer.send_to(&respond(&invite, "180 Ringing", "r1"), from)
        .await
        .unwrap();
    // The phone rings: the send returns, and the call goes on without it.
    let receipt = timeout(Duration::from_secs(3), call)
        .await
        .expect("the send returns once the phone rings")
        .unwrap()
        .unwrap();
    assert_eq!(receipt.call_outcome, None);
    // Everything up to the CANCEL.
    let mut texts: Vec<String> = Vec::new();
    while !texts.iter().any(|t| t.starts_with("CANCEL ")) {
        let (n, _) = timeout(Duration::from_secs(3), peer.recv_from(&mut buf))
            .await
            .expect("a CANCEL after the ring timeout")
            .unwrap();
        texts.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    // Perhaps one copy already on its way; then nothing until the CANCEL.
    let invites = texts.iter().filter(|t| t.starts_with("INVITE ")).count();
    assert!(invites <= 1, "{texts:?}");
    let cancel = texts
        .iter()
        .find(|t| t.starts_with("CANCEL "))
        .expect("a CANCEL after the ring timeout");
    // The CANCEL matches the INVITE: same branch, same CSeq number.
    assert_eq!(header(cancel, "Via"), header(&invite, "Via"));
    assert_eq!(header(cancel, "CSeq"), Some("1 CANCEL"));
    peer.send_to(&respond(cancel, "200 OK", "r1"), from)
        .await
        .unwrap();
    peer.send_to(&respond(&invite, "487 Request Terminated", "r1"), from)
        .await
        .unwrap();
    let after = receive_all(&peer, Duration::from_millis(300)).await;
    let ack = after
        .iter()
        .map(|(b, _)| String::from_utf8_lossy(b).into_owned())
        .find(|t| t.starts_with("ACK "))
        .expect("an ACK for the 487");
    assert!(ack.starts_with("ACK sip:+4722123456@pbx.example SIP/2.0"));
    assert_eq!(header(&ack, "Via"), header(&invite, "Via"));
    assert!(header(&ack, "To").unwrap().ends_with(";tag=r1"));
    let record = timeout(Duration::from_secs(3), voice.finished(&receipt.id))
        .await
        .expect("the call ends");
    assert!(record.cancelled);
    assert_eq!(
        record.error.map(|e| e.kind()),
        Some(DeliveryErrorKind::NoAnswer)
    );
    // No driver is attached, so nothing was reported (and nothing approved).
    assert!(!record.reported);
}

#[tokio::test]
async fn a_challenge_without_credentials_is_a_configuration_error() {
    let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let voice = SipVoice::new(
        SipConfig::new(peer.local_addr().unwrap(), "pbx.example").t1(Duration::from_millis(20)),
    );
    let call = tokio::spawn({
        let voice = voice.clone();
        async move { voice.send(&request()).await }
    });
    let mut buf = vec![0u8; 65_535];
    let (n, from) = peer.recv_from(&mut buf).await.unwrap();
    let invite = String::from_utf8(buf[..n].to_vec()).unwrap();
    let mut challenge = respond(&invite, "407 Proxy Authentication Required", "p1");
    let at = challenge.len() - 2;
    challenge.splice(
        at..at,
        b"Proxy-Authenticate: Digest realm=\"pbx\", nonce=\"abc\"\r\n"
            .iter()
            .copied(),
    );
    peer.send_to(&challenge, from).await.unwrap();
    let error = call.await.unwrap().unwrap_err();
    assert_eq!(error.kind(), DeliveryErrorKind::Configuration);
    assert!(!error.is_transient());
    assert_eq!(voice.calls()[0].final_status, 407);
}

/// Sends `status` with `extra` headers in answer to `invite`, and returns the next
/// INVITE (skipping the ACK of that response).
async fn challenge_and_next(
    peer: &UdpSocket,
    invite: &str,
    from: std::net::SocketAddr,
    status: &str,
    extra: &str,
) -> String {
    let mut response = respond(invite, status, "c1");
    let at = response.len() - 2;
    response.splice(at..at, extra.bytes());
    peer.send_to(&response, from).await.unwrap();
    let mut buf = vec![0u8; 65_535];
    loop {
        let (n, _) = timeout(Duration::from_secs(3), peer.recv_from(&mut buf))
            .await
            .expect("the next request")
            .unwrap();
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        if text.starts_with("INVITE ") && header(&text, "CSeq") != header(invite, "CSeq") {
            return text;
        }
    }
}

#[tokio::test]
async fn a_proxy_and_a_pbx_challenge_in_turn_and_a_stale_nonce_is_answered_again() {
    use mfa_voice::sip::Credentials;
    let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let voice = SipVoice::new(
        SipConfig::new(peer.local_addr().unwrap(), "pbx.example")
            .credentials(Credentials::new("alice", "secret"))
            .t1(Duration::from_millis(50)),
    );
    let call = tokio::spawn({
        let voice = voice.clone();
        async move { voice.send(&request()).await }
    });
    let mut buf = vec![0u8; 65_535];
    let (n, from) = peer.recv_from(&mut buf).await.unwrap();
    let first = String::from_utf8(buf[..n].to_vec()).unwrap();
    assert!(header(&first, "Authorization").is_none());

    let proxy = "Proxy-Authenticate: Digest realm=\"proxy\", nonce=\"p1\"\r\n";
    let second = challenge_and_next(
        &peer,
        &first,
        from,
        "407 Proxy Authentication Required",
        proxy,
    )
    .await;
    assert!(
        header(&second, "Proxy-Authorization")
            .unwrap()
            .contains("realm=\"proxy\"")
    );
    assert!(header(&second, "Authorization").is_none());
    assert_eq!(header(&second, "CSeq"), Some("2 INVITE"));

    let pbx = "WWW-Authenticate: Digest realm=\"pbx\", nonce=\"w1\", qop=\"auth\"\r\n";
    let third = challenge_and_next(&peer, &second, from, "401 Unauthorized", pbx).await;
    // Both answers travel together now.
    assert!(
        header(&third, "Proxy-Authorization")
            .unwrap()
            .contains("nonce=\"p1\"")
    );
    let auth = header(&third, "Authorization").unwrap();
    assert!(auth.contains("realm=\"pbx\"") && auth.contains("qop=auth"));
    assert!(!third.contains("secret"));

    let stale =
        "WWW-Authenticate: Digest realm=\"pbx\", nonce=\"w2\", qop=\"auth\", stale=true\r\n";
    let fourth = challenge_and_next(&peer, &third, from, "401 Unauthorized", stale).await;
    assert!(
        header(&fourth, "Authorization")
            .unwrap()
            .contains("nonce=\"w2\"")
    );
    let answers = fourth
        .lines()
        .filter(|l| l.starts_with("Authorization:"))
        .count();
    assert_eq!(answers, 1, "the stale answer replaces the old one");

    peer.send_to(&respond(&fourth, "486 Busy Here", "c1"), from)
        .await
        .unwrap();
    let error = call.await.unwrap().unwrap_err();
    assert_eq!(error.kind(), DeliveryErrorKind::Busy);
}

/// SDES keys travel in the SDP, so SRTP without TLS is a configuration error, and no
/// INVITE (which would carry the key in clear) leaves.
#[cfg(feature = "sip-tls")]
#[tokio::test]
async fn srtp_without_tls_is_refused_before_anything_is_sent() {
    let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let voice = SipVoice::new(
        SipConfig::new(peer.local_addr().unwrap(), "pbx.example")
            .srtp(true)
            .t1(Duration::from_millis(20)),
    );
    let error = voice.send(&request()).await.unwrap_err();
    assert_eq!(error.kind(), DeliveryErrorKind::Configuration);
    assert!(error.message().contains("TLS"), "{error}");
    assert!(
        receive_all(&peer, Duration::from_millis(200))
            .await
            .is_empty()
    );
}
