//! SDP answers from the callee (RFC 4566, RFC 3264, and RFC 4568's `a=crypto`):
//! reading never panics, what was read (profile and SDES key line included), written
//! back as an answer, reads the same, and our own offer for the
//! answer's address reads back as PCMA with telephone events.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mfa_voice::sip::Codec;
use mfa_voice::sip::fuzzing::{Answer, offer, parse_answer};

fn write_answer(answer: &Answer) -> String {
    let family = if answer.remote.is_ipv4() {
        "IP4"
    } else {
        "IP6"
    };
    let pt = answer.codec.payload_type();
    let profile = if answer.secure { "RTP/SAVP" } else { "RTP/AVP" };
    let mut sdp = format!(
        "v=0\r\no=- 1 1 IN {family} {ip}\r\ns=-\r\nc=IN {family} {ip}\r\nt=0 0\r\nm=audio {port} {profile} {pt}",
        ip = answer.remote.ip(),
        port = answer.remote.port(),
    );
    if let Some(event) = answer.event_pt {
        sdp.push_str(&format!(" {event}"));
    }
    sdp.push_str(&format!(
        "\r\na=rtpmap:{pt} {}/8000\r\n",
        answer.codec.encoding_name()
    ));
    if let Some(event) = answer.event_pt {
        sdp.push_str(&format!("a=rtpmap:{event} telephone-event/8000\r\n"));
    }
    if let Some(crypto) = &answer.crypto {
        sdp.push_str(&format!("a=crypto:{}\r\n", crypto.value()));
    }
    sdp
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(answer) = parse_answer(text) else {
        return;
    };
    assert_ne!(answer.remote.port(), 0);
    let written = write_answer(&answer);
    assert_eq!(parse_answer(&written).as_ref(), Ok(&answer), "{written:?}");

    let ours = offer(answer.remote.ip(), answer.remote.port(), 7);
    let read = parse_answer(&ours).expect("our offer reads as an answer");
    assert_eq!(read.remote, answer.remote);
    assert_eq!(read.codec, Codec::Pcma);
    assert_eq!(read.event_pt, Some(101));
});
