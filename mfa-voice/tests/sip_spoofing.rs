//! An attacker on the network during a call: RFC 4733 key presses from a socket that
//! is not the callee's media (a fresh SSRC, the right payload type), and forged SIP
//! requests with the dialog's Call-ID and tags from a port that is not the PBX's.
//! None of it may approve, end or move the call; the real peer still can.
//!
//! Two tests play the PBX themselves and run with plain `cargo test` (forged requests,
//! a callee behind NAT); the others run against SIPp as the office phone
//! (`scripts/test.sh` exports `MFA_SIPP`), with a relay in front of it that shows the
//! attacker what it could sniff: the Call-ID, the tags and our media port.

#![cfg(feature = "sip")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test fixtures

mod support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mfa_core::{CallOutcome, Delivery, DeliveryError, DeliveryErrorKind, DeliveryRequest, UserId};
use mfa_voice::ScriptOptions;
use mfa_voice::sip::{MediaSource, SipCall, SipConfig, SipVoice};
use support::{Sipp, header, office_call};
use tokio::net::UdpSocket;
use tokio::time::timeout;

/// Places the call and waits until it is over (the send itself returns once the
/// phone rings): the call's record, or the error it ended with.
async fn whole_call(voice: &SipVoice) -> Result<SipCall, DeliveryError> {
    let receipt = voice.send(&request()).await?;
    let call = voice.finished(&receipt.id).await;
    match &call.error {
        Some(error) => Err(error.clone()),
        None => Ok(call),
    }
}

fn request() -> DeliveryRequest {
    office_call(
        "spoof-test",
        UserId::username("kari@example.no").unwrap(),
        None,
    )
}

fn options(key_timeout: Duration) -> ScriptOptions {
    let mut o = ScriptOptions::default();
    o.key_timeout = key_timeout;
    o
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

/// The next SIP message on `socket` that starts with `start`, within 30 s (a call
/// says its prompt and goodbye before it hangs up).
async fn next_sip(socket: &UdpSocket, start: &str) -> (String, SocketAddr) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
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

/// What an attacker who sniffed the signalling knows of a dialog: our SIP address, and
/// its Call-ID and tags.
struct Sniffed<'a> {
    us: SocketAddr,
    caller: &'a str,
    callee: &'a str,
    call_id: &'a str,
}

/// From a port of its own, the attacker re-INVITEs the media to itself, then hangs
/// up, with the dialog's Call-ID and tags and CSeqs from `cseq`: the media must not
/// move, and neither request be answered within `answer_wait`.
async fn forge_reinvite_and_bye(
    d: Sniffed<'_>,
    cseq: u32,
    sdp_version: u32,
    answer_wait: Duration,
) {
    let attacker = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let attacker_media = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let attacker_addr = attacker.local_addr().unwrap();
    let forged_invite = callee_request(
        "INVITE",
        d.us,
        attacker_addr,
        "z9hG4bKforged1",
        d.callee,
        d.caller,
        d.call_id,
        cseq,
        &sdp(attacker_media.local_addr().unwrap(), sdp_version),
    );
    attacker.send_to(&forged_invite, d.us).await.unwrap();
    assert!(
        next_datagram(&attacker_media, Duration::from_secs(1))
            .await
            .is_none(),
        "a forged re-INVITE moved the media"
    );
    let forged_bye = callee_request(
        "BYE",
        d.us,
        attacker_addr,
        "z9hG4bKforged2",
        d.callee,
        d.caller,
        d.call_id,
        cseq + 1,
        "",
    );
    attacker.send_to(&forged_bye, d.us).await.unwrap();
    assert!(
        next_datagram(&attacker, answer_wait).await.is_none(),
        "a forged request was answered"
    );
}

/// The dialog as the scripted PBX sees it once it has answered.
struct Answered {
    /// Our SIP address.
    us: SocketAddr,
    /// Our RTP address.
    our_media: SocketAddr,
    /// Our From (with our tag): the To of the callee's requests.
    caller: String,
    /// The callee's To (with its tag): the From of the callee's requests.
    callee: String,
    call_id: String,
}

/// Plays the PBX: takes the INVITE, answers 200 OK with media at `media`, takes the ACK.
async fn answer_call(pbx: &UdpSocket, media: SocketAddr) -> Answered {
    let (invite, us) = next_sip(pbx, "INVITE ").await;
    let caller = header(&invite, "From").unwrap().to_owned();
    let callee = format!("{};tag=phone1", header(&invite, "To").unwrap());
    let call_id = header(&invite, "Call-ID").unwrap().to_owned();
    let answer = sdp(media, 1);
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
    next_sip(pbx, "ACK ").await;
    Answered {
        us,
        our_media: SocketAddr::from(([127, 0, 0, 1], offered_port(&invite))),
        caller,
        callee,
        call_id,
    }
}

/// Answers our BYE with 200 OK.
async fn accept_bye(pbx: &UdpSocket, us: SocketAddr) {
    let (bye, _) = next_sip(pbx, "BYE ").await;
    let ok = format!(
        "SIP/2.0 200 OK\r\nVia: {}\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {}\r\n\
         Content-Length: 0\r\n\r\n",
        header(&bye, "Via").unwrap(),
        header(&bye, "From").unwrap(),
        header(&bye, "To").unwrap(),
        header(&bye, "Call-ID").unwrap(),
        header(&bye, "CSeq").unwrap(),
    );
    pbx.send_to(ok.as_bytes(), us).await.unwrap();
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
    let voice = SipVoice::new(
        SipConfig::new(pbx.local_addr().unwrap(), "pbx.example")
            .t1(Duration::from_millis(50))
            .script_options(options(Duration::from_secs(20))),
    );
    let call = tokio::spawn({
        let voice = voice.clone();
        async move { whole_call(&voice).await }
    });

    // Answer the call, media to `phone_media`.
    let Answered {
        us,
        our_media,
        caller,
        callee,
        call_id,
    } = answer_call(&pbx, phone_media.local_addr().unwrap()).await;
    assert!(
        next_datagram(&phone_media, Duration::from_secs(5))
            .await
            .is_some(),
        "no RTP to the answered address"
    );

    // The attacker moves the media to itself, then hangs up.
    let sniffed = Sniffed {
        us,
        caller: &caller,
        callee: &callee,
        call_id: &call_id,
    };
    forge_reinvite_and_bye(sniffed, 1, 2, Duration::from_secs(1)).await;
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
    accept_bye(&pbx, us).await;
    let receipt = timeout(Duration::from_secs(10), call)
        .await
        .expect("the call ends")
        .unwrap()
        .unwrap();
    assert_eq!(receipt.outcome, Some(CallOutcome::Confirmed));
    let record = &voice.calls()[0];
    assert_eq!(record.keys, "#");
    assert!(!record.remote_hangup);
}

/// A callee behind NAT: its answer names one address (`inside`), its packets come
/// from another (`outside`). By default its `#` is refused and the call ends as a
/// media timeout; with `MediaSource::LatchFirst` the first packet's source is taken,
/// our media goes back there, and the same `#` confirms.
#[tokio::test]
async fn a_callee_behind_nat_is_heard_only_with_latching() {
    for source in [MediaSource::Answered, MediaSource::LatchFirst] {
        let pbx = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let inside = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let outside = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let voice = SipVoice::new(
            SipConfig::new(pbx.local_addr().unwrap(), "pbx.example")
                .t1(Duration::from_millis(50))
                .media_source(source)
                .script_options(options(Duration::from_secs(2))),
        );
        let call = tokio::spawn({
            let voice = voice.clone();
            async move { whole_call(&voice).await }
        });
        let dialog = answer_call(&pbx, inside.local_addr().unwrap()).await;
        assert!(
            next_datagram(&inside, Duration::from_secs(5))
                .await
                .is_some(),
            "{source:?}: no RTP to the answered address"
        );
        spray_pound(&outside, dialog.our_media, 1).await;
        if source == MediaSource::LatchFirst {
            assert!(
                next_datagram(&outside, Duration::from_secs(5))
                    .await
                    .is_some(),
                "our media did not follow the latched source"
            );
        }
        accept_bye(&pbx, dialog.us).await;
        let result = timeout(Duration::from_secs(20), call)
            .await
            .expect("the call ends")
            .unwrap();
        let record = &voice.calls()[0];
        match source {
            MediaSource::Answered => {
                let error = result.expect_err("media from elsewhere approved the call");
                assert_eq!(error.kind(), DeliveryErrorKind::NoMedia);
                assert!(error.message().contains("LatchFirst"), "{error}");
                assert!(record.keys.is_empty() && record.rtp_packets_refused >= 4);
            }
            _ => {
                assert_eq!(result.unwrap().outcome, Some(CallOutcome::Confirmed));
                assert_eq!(record.keys, "#");
                assert_eq!(record.rtp_packets_refused, 0);
            }
        }
    }
}

/// A UDP relay between the backend and SIPp that keeps a copy of what the backend
/// sent: the attacker's view of the signalling (Call-ID, tags, our media port).
struct Tap {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Tap {
    async fn start(phone: SocketAddr) -> Tap {
        let front = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let back = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = front.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let task = tokio::spawn({
            let seen = seen.clone();
            async move {
                let mut client: Option<SocketAddr> = None;
                let (mut a, mut b) = (vec![0u8; 65_535], vec![0u8; 65_535]);
                loop {
                    tokio::select! {
                        Ok((n, from)) = front.recv_from(&mut a) => {
                            client = Some(from);
                            seen.lock().unwrap().push(String::from_utf8_lossy(&a[..n]).into_owned());
                            let _ = back.send_to(&a[..n], phone).await;
                        }
                        Ok((n, _)) = back.recv_from(&mut b) => {
                            if let Some(c) = client {
                                let _ = front.send_to(&b[..n], c).await;
                            }
                        }
                    }
                }
            }
        });
        Tap { addr, seen, task }
    }

    /// Our RTP port, once the backend has acknowledged the answer (within 10 s).
    async fn media_port_once_answered(&self) -> u16 {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            {
                let seen = self.seen.lock().unwrap();
                if seen.iter().any(|m| m.starts_with("ACK ")) {
                    let invite = seen.iter().find(|m| m.starts_with("INVITE ")).unwrap();
                    return offered_port(invite);
                }
            }
            assert!(Instant::now() < deadline, "the call was not answered");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The office phone answers and never presses a key; an attacker sprays `#` at our
/// media port from another socket. The call must end without a key (no approval).
#[tokio::test]
#[ignore = "needs SIPp: run scripts/test.sh"]
async fn spoofed_pound_does_not_approve_a_silent_phone() {
    let phone = Sipp::start("office_silent");
    let tap = Tap::start(phone.addr).await;
    let voice = SipVoice::new(
        SipConfig::new(tap.addr, "office.example")
            .t1(Duration::from_millis(200))
            .script_options(options(Duration::from_secs(3))),
    );
    let call = tokio::spawn({
        let voice = voice.clone();
        async move { whole_call(&voice).await }
    });
    let our_media = SocketAddr::from(([127, 0, 0, 1], tap.media_port_once_answered().await));
    let attacker = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    spray_pound(&attacker, our_media, 40).await;
    let result = timeout(Duration::from_secs(30), call)
        .await
        .expect("the call ends")
        .unwrap();
    let record = &voice.calls()[0];
    assert!(record.keys.is_empty(), "{record:?}");
    assert!(record.rtp_packets_refused >= 40, "{record:?}");
    let error = result.expect_err("a spoofed key approved the call");
    assert_eq!(error.kind(), DeliveryErrorKind::NoMedia);
    assert!(phone.finished_as_scripted(), "SIPp got no BYE");
}

/// The attacker sprays `#` from another socket before the office phone presses its
/// own key: only the phone's key counts, and it still confirms.
#[tokio::test]
#[ignore = "needs SIPp: run scripts/test.sh"]
async fn spoofed_pound_is_ignored_and_the_real_one_confirms() {
    let phone = Sipp::start("office_late_pound");
    let tap = Tap::start(phone.addr).await;
    let voice = SipVoice::new(
        SipConfig::new(tap.addr, "office.example")
            .t1(Duration::from_millis(200))
            .script_options(options(Duration::from_secs(10))),
    );
    let call = tokio::spawn({
        let voice = voice.clone();
        async move { whole_call(&voice).await }
    });
    let our_media = SocketAddr::from(([127, 0, 0, 1], tap.media_port_once_answered().await));
    let attacker = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    spray_pound(&attacker, our_media, 40).await;
    let receipt = timeout(Duration::from_secs(30), call)
        .await
        .expect("the call ends")
        .unwrap()
        .unwrap();
    assert_eq!(receipt.outcome, Some(CallOutcome::Confirmed));
    let record = &voice.calls()[0];
    assert_eq!(record.keys, "#", "{record:?}");
    assert!(record.rtp_packets_refused >= 40, "{record:?}");
    assert!(record.rtp_packets_received > 0, "{record:?}");
    assert!(phone.finished_as_scripted(), "SIPp saw a different call");
}

/// During a real call (SIPp re-INVITEs once, then presses `#`), an attacker who has
/// seen our requests sends a forged re-INVITE moving the media to itself and a forged
/// BYE, with the dialog's Call-ID and tags, from another port: the media stays, the
/// call goes on, SIPp's own re-INVITE is answered and its `#` confirms.
#[tokio::test]
#[ignore = "needs SIPp: run scripts/test.sh"]
async fn forged_requests_during_a_real_call_change_nothing() {
    let phone = Sipp::start("office_reinvite");
    let tap = Tap::start(phone.addr).await;
    let voice = SipVoice::new(
        SipConfig::new(tap.addr, "office.example")
            .t1(Duration::from_millis(200))
            .script_options(options(Duration::from_secs(10))),
    );
    let call = tokio::spawn({
        let voice = voice.clone();
        async move { whole_call(&voice).await }
    });
    tap.media_port_once_answered().await;
    let (ack, invite) = {
        let seen = tap.seen.lock().unwrap();
        let ack = seen.iter().find(|m| m.starts_with("ACK ")).unwrap().clone();
        let invite = seen
            .iter()
            .find(|m| m.starts_with("INVITE "))
            .unwrap()
            .clone();
        (ack, invite)
    };
    // Our address, from the Via of our INVITE.
    let via = header(&invite, "Via").unwrap();
    let us: SocketAddr = via
        .split_whitespace()
        .nth(1)
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let caller = header(&ack, "From").unwrap().to_owned();
    let callee = header(&ack, "To").unwrap().to_owned();
    let call_id = header(&ack, "Call-ID").unwrap().to_owned();
    let sniffed = Sniffed {
        us,
        caller: &caller,
        callee: &callee,
        call_id: &call_id,
    };
    forge_reinvite_and_bye(sniffed, 7, 9, Duration::from_millis(100)).await;
    let receipt = timeout(Duration::from_secs(30), call)
        .await
        .expect("the call ends")
        .unwrap()
        .expect("a forged BYE ended the call");
    assert_eq!(receipt.outcome, Some(CallOutcome::Confirmed));
    let record = &voice.calls()[0];
    assert_eq!(record.keys, "#");
    assert!(!record.remote_hangup);
    assert!(phone.finished_as_scripted(), "SIPp saw a different call");
}
