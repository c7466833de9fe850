//! SIP messages from the PBX or the callee (RFC 3261), one UDP datagram each: parsing
//! never panics, nor does reading any header, and the response we build to a parsed
//! request parses back with the request's Call-ID and CSeq.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mfa_voice::sip::fuzzing::{Message, info_key, response_to, tag_of, uri_of};

fuzz_target!(|data: &[u8]| {
    let Some(message) = Message::parse(data) else {
        return;
    };
    let _ = message.to_tag();
    let _ = message.contact_uri();
    for name in ["via", "v", "record-route", "from", "to"] {
        for value in message.headers(name) {
            let _ = uri_of(value);
            let _ = tag_of(value);
        }
    }
    if let Some(content_type) = message.header("content-type") {
        let _ = info_key(content_type, &message.body);
    }
    if message.status.is_some() {
        return;
    }
    let reply = response_to(&message, 200, "OK");
    let answer = Message::parse(&reply).unwrap_or_else(|| {
        panic!(
            "our 200 to {:?} does not parse: {:?}",
            String::from_utf8_lossy(data),
            String::from_utf8_lossy(&reply)
        )
    });
    assert_eq!(answer.status, Some(200));
    assert_eq!(answer.call_id(), message.call_id());
    assert_eq!(answer.cseq(), message.cseq());
    assert_eq!(answer.headers("via"), message.headers("via"));
});
