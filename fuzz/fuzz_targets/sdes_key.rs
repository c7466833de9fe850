//! The callee's SDES key line (RFC 4568 `a=crypto`, the value after `a=crypto:`):
//! reading never panics; what is accepted or refused agrees with a second, simpler
//! reading of the tag, suite and key parameters; an accepted key, written back as a
//! line, reads the same; it keys an SRTP context that opens what a peer holding that
//! key sealed; and offered again in a re-INVITE it keeps that context, while another
//! key replaces it.
#![no_main]

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use libfuzzer_sys::fuzz_target;
use mfa_core::SeededRandomness;
use mfa_voice::sip::fuzzing::{LocalKey, Rekeyed, SUITE, SdesError, Srtp, remote_key};
use webrtc_srtp::context::Context;
use webrtc_srtp::protection_profile::ProtectionProfile;

/// An RTP packet (PCMA, SSRC 7) carrying `payload`.
fn rtp(seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, 8];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&7u32.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    let read = remote_key(line);

    // The second reading: three fields at least, our tag and suite, then one
    // `inline:` key of 30 bytes in standard base64, no MKI, no second key.
    let fields: Vec<&str> = line.split_whitespace().collect();
    if fields.len() < 3 {
        assert_eq!(
            read.as_ref().map(|_| ()),
            Err(&SdesError::BadKey),
            "{line:?}"
        );
        return;
    }
    if fields[0] != "1" || !fields[1].eq_ignore_ascii_case(SUITE) {
        assert_eq!(
            read.as_ref().map(|_| ()),
            Err(&SdesError::WrongSuite),
            "{line:?}"
        );
        return;
    }
    let expected = fields[2].strip_prefix("inline:").and_then(|inline| {
        let mut parts = inline.split('|');
        let key = STANDARD.decode(parts.next()?).ok()?;
        let plain = !inline.contains(';') && parts.all(|p| !p.contains(':'));
        (plain && key.len() == 30).then_some(key)
    });
    match (&read, &expected) {
        (Ok(key), Some(expected)) => assert_eq!(key.as_slice(), expected.as_slice()),
        (Err(SdesError::BadKey), None) => return,
        _ => panic!(
            "{line:?}: read {:?}, expected {}",
            read.map(|_| ()),
            expected.is_some()
        ),
    }
    let Ok(key) = read else { return };

    // Written back as a line, the key reads the same.
    let written = format!("1 {SUITE} inline:{}", STANDARD.encode(key.as_slice()));
    assert_eq!(
        remote_key(&written).ok().map(|k| k.to_vec()),
        Some(key.to_vec())
    );

    // The key opens what the callee seals with it; plain or altered packets never do.
    let rng = SeededRandomness::new(u64::from(key[0]));
    let mut us =
        Srtp::new(&LocalKey::generate(&rng), key.clone()).expect("an accepted key keys a context");
    let (master, salt) = key.split_at(16);
    let mut callee = Context::new(
        master,
        salt,
        ProtectionProfile::Aes128CmHmacSha1_80,
        None,
        None,
    )
    .expect("a 16-byte key and 14-byte salt");
    let packet = rtp(1, b"#");
    let sealed = callee.encrypt_rtp(&packet).expect("RTP seals").to_vec();
    let mut altered = sealed.clone();
    altered[12] ^= 1;
    assert_eq!(us.unprotect(&packet), None, "plain RTP never opens");
    assert_eq!(
        us.unprotect(&altered),
        None,
        "an altered packet never opens"
    );
    assert_eq!(us.unprotect(&sealed).as_deref(), Some(packet.as_slice()));

    // Offered again (a session refresh): the context goes on, so the packet is a replay.
    assert_eq!(us.rekey(key.clone()), Ok(Rekeyed::Kept));
    assert_eq!(
        us.unprotect(&sealed),
        None,
        "a replay after a refresh never opens"
    );
    // Another key: a new context, which the old key's packets never open.
    let mut other = key.clone();
    other[0] ^= 0x80;
    assert_eq!(us.rekey(other), Ok(Rekeyed::Replaced));
    let next = callee
        .encrypt_rtp(&rtp(2, b"#"))
        .expect("RTP seals")
        .to_vec();
    assert_eq!(
        us.unprotect(&next),
        None,
        "the old key opens nothing after a re-key"
    );
});
