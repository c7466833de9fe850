//! RTP from the callee (RFC 3550) and RFC 4733 telephone events. Input: the event
//! payload type in the first byte, then datagrams, each after a two-byte length.
//! Reading never panics, every key read is a keypad key, and the key events we send
//! read back as exactly the keys sent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mfa_voice::sip::Codec;
use mfa_voice::sip::fuzzing::{Incoming, KeyReceiver, Sender, event_code, event_key};

const KEYS: &[u8] = b"0123456789*#";

fuzz_target!(|data: &[u8]| {
    let Some((&event_pt, mut rest)) = data.split_first() else {
        return;
    };
    let event_pt = (event_pt < 128).then_some(event_pt);
    let mut receiver = KeyReceiver::new(event_pt);
    let mut sent = String::new();
    while rest.len() >= 2 {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        let end = (2 + len).min(rest.len());
        let datagram = &rest[2..end];
        rest = &rest[end..];
        if let Incoming::Key(key) = receiver.receive(datagram) {
            assert!("0123456789*#ABCD".contains(key), "{key:?}");
        }
        if let Some(&b) = datagram.first() {
            sent.push(char::from(KEYS[usize::from(b) % KEYS.len()]));
        }
    }

    // Our own events, keyed by the input, read back once each.
    let Some(pt) = event_pt.filter(|pt| ![0, 8].contains(pt)) else {
        return;
    };
    let mut seed = [0u8; 10];
    for (s, b) in seed.iter_mut().zip(data) {
        *s = *b;
    }
    let mut tx = Sender::new(Codec::Pcmu, Some(pt), seed);
    let mut rx = KeyReceiver::new(Some(pt));
    let mut heard = String::new();
    for key in sent.chars().take(32) {
        assert_eq!(event_key(event_code(key).expect("a keypad key")), Some(key));
        let frames = 2 + u16::from(key as u8 % 5);
        for tick in tx.key_event(key, frames).expect("events are negotiated") {
            for packet in tick {
                if let Incoming::Key(k) = rx.receive(&packet) {
                    heard.push(k);
                }
            }
        }
        let _ = tx.audio_frame(&[0; 160]);
    }
    let sent: String = sent.chars().take(32).collect();
    assert_eq!(heard, sent);
});
