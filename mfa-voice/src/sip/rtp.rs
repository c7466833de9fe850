//! RTP for calls (RFC 3550, packets via `rtp-rs`): the outgoing G.711 stream, RFC 4733
//! telephone events in both directions, and reading keys out of the incoming stream.

use std::net::SocketAddr;

use rtp_rs::{RtpPacketBuilder, RtpReader, Seq};

use super::audio::{Codec, FRAME_SAMPLES};

/// The RFC 4733 event code of a keypad key (`0`-`9` are 0-9, `*` is 10, `#` is 11).
pub fn event_code(key: char) -> Option<u8> {
    match key {
        '0'..='9' => Some(key as u8 - b'0'),
        '*' => Some(10),
        '#' => Some(11),
        _ => None,
    }
}

/// The keypad key of an RFC 4733 event code (`A`-`D` for 12-15).
pub fn event_key(code: u8) -> Option<char> {
    match code {
        0..=9 => Some(char::from(b'0' + code)),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some(char::from(b'A' + code - 12)),
        _ => None,
    }
}

/// Our side of the RTP session: numbers and times every packet we send.
#[derive(Debug)]
pub struct Sender {
    ssrc: u32,
    seq: u16,
    timestamp: u32,
    codec: Codec,
    event_pt: Option<u8>,
    started: bool,
}

impl Sender {
    /// A stream with a random SSRC, sequence and timestamp start (from `seed`).
    pub fn new(codec: Codec, event_pt: Option<u8>, seed: [u8; 10]) -> Self {
        Sender {
            ssrc: u32::from_be_bytes([seed[0], seed[1], seed[2], seed[3]]),
            seq: u16::from_be_bytes([seed[4], seed[5]]),
            timestamp: u32::from_be_bytes([seed[6], seed[7], seed[8], seed[9]]),
            codec,
            event_pt,
            started: false,
        }
    }

    fn packet(&mut self, pt: u8, marked: bool, timestamp: u32, payload: &[u8]) -> Vec<u8> {
        let packet = RtpPacketBuilder::new()
            .payload_type(pt)
            .ssrc(self.ssrc)
            .sequence(Seq::from(self.seq))
            .timestamp(timestamp)
            .marked(marked)
            .payload(payload)
            .build()
            .unwrap_or_default();
        self.seq = self.seq.wrapping_add(1);
        packet
    }

    /// One 20 ms audio frame (shorter input is padded with silence).
    pub fn audio_frame(&mut self, samples: &[i16]) -> Vec<u8> {
        let mut frame = [0i16; FRAME_SAMPLES];
        let n = samples.len().min(FRAME_SAMPLES);
        frame[..n].copy_from_slice(&samples[..n]);
        let payload = self.codec.encode(&frame);
        let marked = !self.started;
        self.started = true;
        let ts = self.timestamp;
        self.timestamp = self.timestamp.wrapping_add(FRAME_SAMPLES as u32);
        self.packet(self.codec.payload_type(), marked, ts, &payload)
    }

    /// The packets of one key as an RFC 4733 event lasting `frames` × 20 ms: one packet
    /// per frame, the last with the end bit sent three times. Each inner vector is what
    /// to send in one 20 ms tick. `None` if the far end takes no events or the key is
    /// not a keypad key.
    pub fn key_event(&mut self, key: char, frames: u16) -> Option<Vec<Vec<Vec<u8>>>> {
        let pt = self.event_pt?;
        let code = event_code(key)?;
        let frames = frames.max(2);
        let start = self.timestamp;
        let mut ticks = Vec::new();
        for i in 1..=frames {
            let end = i == frames;
            let duration = i.saturating_mul(FRAME_SAMPLES as u16);
            let payload = [
                code,
                if end { 0x80 } else { 0 } | 10,
                (duration >> 8) as u8,
                duration as u8,
            ];
            let copies = if end { 3 } else { 1 };
            let tick = (0..copies)
                .map(|_| self.packet(pt, i == 1, start, &payload))
                .collect();
            ticks.push(tick);
        }
        self.timestamp = self
            .timestamp
            .wrapping_add(u32::from(frames) * FRAME_SAMPLES as u32);
        Some(ticks)
    }
}

/// Where the callee's RTP may come from. Whatever the choice, once the first packet is
/// taken, only packets from its source address and port with its SSRC count: a key
/// press from anyone else who can reach the media port approves nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum MediaSource {
    /// Only the address and port the callee's SDP answer names (its `c=` and `m=`
    /// lines), the default. A callee behind NAT, whose packets come from another
    /// address, is not heard at all: the call ends as a media timeout.
    #[default]
    Answered,
    /// The answered address, or for a callee behind NAT the source of the first
    /// packet, wherever it comes from; our media then goes back there too (symmetric
    /// RTP). The first packet wins: someone who reaches the media port before the
    /// callee, knowing or guessing it, takes the call's media (hears the prompt or a
    /// read-out code, presses keys). Use it only for peers that need it.
    LatchFirst,
}

/// Decides which datagrams on the media port are the callee's stream: one source
/// address and one SSRC, chosen by [`MediaSource`] from the first packet.
#[derive(Debug)]
pub struct MediaLock {
    policy: MediaSource,
    answered: SocketAddr,
    locked: Option<(SocketAddr, u32)>,
}

impl MediaLock {
    /// A lock for a callee whose answer names `answered`.
    pub fn new(policy: MediaSource, answered: SocketAddr) -> Self {
        MediaLock {
            policy,
            answered,
            locked: None,
        }
    }

    /// The dialog's peer answered again (a re-INVITE): if the media moved, the next
    /// stream is chosen afresh; a session refresh to the same address keeps the lock.
    pub fn answered_again(&mut self, answered: SocketAddr) {
        if answered != self.answered {
            self.answered = answered;
            self.locked = None;
        }
    }

    /// Whether a datagram from `from` may be the callee's stream, taking nothing yet:
    /// RTP, from the locked source and SSRC, or (before the lock) from a source the
    /// policy allows.
    pub fn may_admit(&self, from: SocketAddr, datagram: &[u8]) -> bool {
        let Ok(packet) = RtpReader::new(datagram) else {
            return false;
        };
        match self.locked {
            Some(locked) => locked == (from, packet.ssrc()),
            None => from == self.answered || self.policy == MediaSource::LatchFirst,
        }
    }

    /// Whether a datagram from `from` belongs to the callee's stream (junk never does).
    pub fn admits(&mut self, from: SocketAddr, datagram: &[u8]) -> bool {
        let Ok(packet) = RtpReader::new(datagram) else {
            return false;
        };
        let stream = (from, packet.ssrc());
        match self.locked {
            Some(locked) => locked == stream,
            None if from == self.answered || self.policy == MediaSource::LatchFirst => {
                self.locked = Some(stream);
                true
            }
            None => false,
        }
    }

    /// Where our media goes: the answered address, or the latched source.
    pub fn destination(&self) -> SocketAddr {
        self.locked.map_or(self.answered, |(from, _)| from)
    }
}

/// What an incoming RTP packet means to the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A key, reported once however often its end packet is repeated.
    Key(char),
    /// Audio (or anything else that is not a finished key).
    Media(Vec<u8>),
    /// Not an RTP packet.
    Junk,
}

/// Reads keys out of the callee's RTP stream (RFC 4733 §2.5: the RTP timestamp names
/// the event; its end is marked by the end bit, sent up to three times).
#[derive(Debug, Default)]
pub struct KeyReceiver {
    event_pt: Option<u8>,
    last_event: Option<(u32, u32, u8)>,
}

impl KeyReceiver {
    /// A receiver for events of payload type `event_pt` (from the answer's SDP).
    pub fn new(event_pt: Option<u8>) -> Self {
        KeyReceiver {
            event_pt,
            last_event: None,
        }
    }

    /// Reads one datagram.
    pub fn receive(&mut self, datagram: &[u8]) -> Incoming {
        let Ok(packet) = RtpReader::new(datagram) else {
            return Incoming::Junk;
        };
        if Some(packet.payload_type()) != self.event_pt {
            return Incoming::Media(packet.payload().to_vec());
        }
        let payload = packet.payload();
        if payload.len() < 4 {
            return Incoming::Media(Vec::new());
        }
        // Every packet of one event carries the event's start as its RTP timestamp: the
        // updates while the key is held, and the end packet sent three times (with the
        // same or rising sequence numbers). The key counts at the first packet seen, so
        // a lost end packet, or a phone that never ends the tone, still counts once.
        let id = (packet.ssrc(), packet.timestamp(), payload[0]);
        if self.last_event == Some(id) {
            return Incoming::Media(Vec::new());
        }
        self.last_event = Some(id);
        match event_key(payload[0]) {
            Some(key) => Incoming::Key(key),
            None => Incoming::Media(Vec::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(ssrc: u32, seq: u16, ts: u32, code: u8, end: bool) -> Vec<u8> {
        RtpPacketBuilder::new()
            .payload_type(101)
            .ssrc(ssrc)
            .sequence(Seq::from(seq))
            .timestamp(ts)
            .payload(&[code, if end { 0x8a } else { 0x0a }, 0x03, 0x20])
            .build()
            .unwrap()
    }

    #[test]
    fn a_key_counts_once_however_often_its_packets_are_repeated() {
        let mut rx = KeyReceiver::new(Some(101));
        let none = Incoming::Media(vec![]);
        assert_eq!(rx.receive(&event(1, 10, 800, 0, false)), Incoming::Key('0'));
        assert_eq!(rx.receive(&event(1, 11, 800, 0, false)), none);
        assert_eq!(rx.receive(&event(1, 12, 800, 0, true)), none);
        assert_eq!(rx.receive(&event(1, 13, 800, 0, true)), none);
        // A lost start: the end packet alone counts, once, however often repeated
        // (with the same sequence number, as SIPp's recordings do).
        assert_eq!(
            rx.receive(&event(1, 14, 2400, 11, true)),
            Incoming::Key('#')
        );
        assert_eq!(rx.receive(&event(1, 14, 2400, 11, true)), none);
        assert_eq!(rx.receive(&event(1, 15, 2400, 11, true)), none);
        // The same key pressed again later: a second press.
        assert_eq!(
            rx.receive(&event(1, 20, 4000, 11, false)),
            Incoming::Key('#')
        );
        // A tone that never ends still counts once.
        assert_eq!(rx.receive(&event(1, 21, 4000, 11, false)), none);
    }

    #[test]
    fn other_payload_types_are_media_and_junk_is_junk() {
        let mut rx = KeyReceiver::new(Some(96));
        assert!(matches!(
            rx.receive(&event(1, 1, 1, 11, true)),
            Incoming::Media(_)
        ));
        assert_eq!(rx.receive(b"\x00"), Incoming::Junk);
        let mut none = KeyReceiver::new(None);
        assert!(matches!(
            none.receive(&event(1, 1, 1, 11, true)),
            Incoming::Media(_)
        ));
    }

    #[test]
    fn our_key_events_read_back_as_one_key() {
        let mut tx = Sender::new(Codec::Pcma, Some(101), [7; 10]);
        let mut rx = KeyReceiver::new(Some(101));
        let mut keys = String::new();
        for key in ['5', '#', '5'] {
            for tick in tx.key_event(key, 5).unwrap() {
                for packet in tick {
                    if let Incoming::Key(k) = rx.receive(&packet) {
                        keys.push(k);
                    }
                }
            }
        }
        assert_eq!(keys, "5#5");
        assert!(tx.key_event('x', 5).is_none());
        assert!(
            Sender::new(Codec::Pcma, None, [0; 10])
                .key_event('1', 5)
                .is_none()
        );
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn only_the_answered_address_counts_and_then_only_its_first_ssrc() {
        let phone = addr("127.0.0.1:6000");
        let mut lock = MediaLock::new(MediaSource::Answered, phone);
        let key = event(7, 1, 800, 11, true);
        // Another port, another address: refused, and they lock nothing.
        assert!(!lock.admits(addr("127.0.0.1:6002"), &key));
        assert!(!lock.admits(addr("127.0.0.2:6000"), &key));
        assert!(!lock.admits(phone, b"\x00junk"));
        assert!(lock.admits(phone, &key));
        assert!(lock.admits(phone, &event(7, 2, 800, 11, true)));
        // The right address with a fresh SSRC: a spoofed source address.
        assert!(!lock.admits(phone, &event(8, 1, 800, 11, true)));
        assert_eq!(lock.destination(), phone);
        // A session refresh to the same address keeps the stream.
        lock.answered_again(phone);
        assert!(!lock.admits(phone, &event(8, 2, 800, 11, true)));
        assert!(lock.admits(phone, &event(7, 3, 800, 11, true)));
        // A re-INVITE from the dialog's peer moves the media: a new stream may start.
        let moved = addr("127.0.0.1:7000");
        lock.answered_again(moved);
        assert!(!lock.admits(phone, &key));
        assert!(lock.admits(moved, &event(9, 1, 800, 11, true)));
        assert_eq!(lock.destination(), moved);
    }

    #[test]
    fn latching_takes_the_first_source_and_only_its_ssrc() {
        let answered = addr("10.0.0.5:4000");
        let nat = addr("127.0.0.1:31000");
        let mut lock = MediaLock::new(MediaSource::LatchFirst, answered);
        assert!(!lock.admits(nat, b"not rtp"));
        assert_eq!(lock.destination(), answered);
        assert!(lock.admits(nat, &event(42, 1, 800, 11, true)));
        assert_eq!(lock.destination(), nat);
        assert!(lock.admits(nat, &event(42, 2, 1600, 11, true)));
        // After latching: the latched address with a different SSRC is refused, and so
        // is everyone else, the answered address included.
        assert!(!lock.admits(nat, &event(43, 3, 2400, 11, true)));
        assert!(!lock.admits(addr("127.0.0.1:31002"), &event(42, 3, 2400, 11, true)));
        assert!(!lock.admits(answered, &event(42, 3, 2400, 11, true)));
        assert_eq!(lock.destination(), nat);
        // A packet from the answered address first locks to it, as without latching.
        let mut lock = MediaLock::new(MediaSource::LatchFirst, answered);
        assert!(lock.admits(answered, &event(1, 1, 800, 11, true)));
        assert!(!lock.admits(nat, &event(1, 2, 800, 11, true)));
    }

    #[test]
    fn audio_frames_are_20_ms_apart() {
        let mut tx = Sender::new(Codec::Pcmu, None, [0; 10]);
        let a = tx.audio_frame(&[1000; 200]);
        let b = tx.audio_frame(&[]);
        let (a, b) = (RtpReader::new(&a).unwrap(), RtpReader::new(&b).unwrap());
        assert_eq!(a.payload_type(), 0);
        assert!(a.mark() && !b.mark());
        assert_eq!(b.timestamp().wrapping_sub(a.timestamp()), 160);
        assert_eq!(a.payload().len(), 160);
        assert_eq!(b.payload(), &[0xFF; 160][..]);
    }
}
