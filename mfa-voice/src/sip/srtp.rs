//! SRTP for a call's media (RFC 3711), keyed by SDES (RFC 4568): each side puts its
//! own master key in its SDP (`a=crypto`), which only travels inside TLS. The
//! cipher work is webrtc-srtp's; the SDES lines are read here (a few lines of SDP
//! no crate we use parses).

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use mfa_core::Randomness;
use subtle::ConstantTimeEq;
use webrtc_srtp::context::Context;
use webrtc_srtp::option::srtp_replay_protection;
use webrtc_srtp::protection_profile::ProtectionProfile;
use zeroize::Zeroizing;

/// The one suite offered: AES-128 counter mode with an 80-bit HMAC-SHA1 tag, the
/// suite every SDES peer must support (RFC 4568 §6.2).
pub const SUITE: &str = "AES_CM_128_HMAC_SHA1_80";
/// The crypto tag of our offer; the answer must accept it (RFC 4568 §7.1.2).
const TAG: &str = "1";
const KEY_LEN: usize = 16;
const SALT_LEN: usize = 14;
/// Failed packets tolerated before the inbound context starts over, while no packet
/// has authenticated: each SSRC tried leaves state in it, and a spoofer could try many.
const MAX_FAILURES_BEFORE_RESET: u32 = 256;
/// Packets behind the newest one that may still arrive (out of order) once each.
const REPLAY_WINDOW: usize = 64;

/// Why the callee's SDES answer cannot key the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SdesError {
    /// The answer carries no `a=crypto` line, or not on the secure profile.
    #[error("the callee's answer does not encrypt the media (no SDES key on RTP/SAVP)")]
    Missing,
    /// The answer accepts another tag or suite than the one offered.
    #[error("the callee's answer chose a crypto suite that was not offered")]
    WrongSuite,
    /// The key parameters are not `inline:` base64 of a 16-byte key and 14-byte salt,
    /// or use what this backend does not (MKI, several keys).
    #[error("the callee's SDES key is malformed or uses MKI")]
    BadKey,
}

/// Our master key and salt for one call, drawn from the CSPRNG; wiped on drop.
pub struct LocalKey(Zeroizing<[u8; KEY_LEN + SALT_LEN]>);

impl fmt::Debug for LocalKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LocalKey(<redacted>)")
    }
}

impl LocalKey {
    /// A fresh key from `rng`.
    pub fn generate(rng: &dyn Randomness) -> Self {
        let mut key = Zeroizing::new([0u8; KEY_LEN + SALT_LEN]);
        rng.fill(key.as_mut_slice());
        LocalKey(key)
    }

    /// The SDP attribute offering it (with its line ending). Holds the key: SDP with
    /// it travels only over TLS and is never logged.
    pub fn attribute(&self) -> Zeroizing<String> {
        Zeroizing::new(format!(
            "a=crypto:{TAG} {SUITE} inline:{}\r\n",
            STANDARD.encode(self.0.as_slice())
        ))
    }
}

/// The callee's master key and salt, from the `a=crypto` line of its answer (the
/// value after `a=crypto:`).
pub fn remote_key(line: &str) -> Result<Zeroizing<Vec<u8>>, SdesError> {
    let mut parts = line.split_whitespace();
    let (Some(tag), Some(suite), Some(params)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(SdesError::BadKey);
    };
    if tag != TAG || !suite.eq_ignore_ascii_case(SUITE) {
        return Err(SdesError::WrongSuite);
    }
    // One key only (several are `;`-separated), and no MKI (`|n:len`); a lifetime
    // (`|2^31`) is allowed and ignored: calls end long before it.
    let inline = params.strip_prefix("inline:").ok_or(SdesError::BadKey)?;
    if inline.contains(';') {
        return Err(SdesError::BadKey);
    }
    let mut fields = inline.split('|');
    let encoded = fields.next().unwrap_or("");
    if fields.any(|f| f.contains(':')) {
        return Err(SdesError::BadKey);
    }
    let key = STANDARD
        .decode(encoded)
        .map(Zeroizing::new)
        .map_err(|_| SdesError::BadKey)?;
    if key.len() != KEY_LEN + SALT_LEN {
        return Err(SdesError::BadKey);
    }
    Ok(key)
}

/// What a re-INVITE's key did to the callee's SRTP context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rekeyed {
    /// The same key: the context goes on.
    Kept,
    /// A new key: a new context from the next packet on.
    Replaced,
}

/// The two SRTP contexts of a call: ours protects what we send, the callee's checks
/// and decrypts what comes in.
pub struct Srtp {
    outbound: Context,
    inbound: Context,
    remote: Zeroizing<Vec<u8>>,
    authenticated: bool,
    failures: u32,
}

impl fmt::Debug for Srtp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Srtp")
            .field("authenticated", &self.authenticated)
            .field("failures", &self.failures)
            .finish_non_exhaustive()
    }
}

fn context(key: &[u8]) -> Result<Context, SdesError> {
    if key.len() != KEY_LEN + SALT_LEN {
        return Err(SdesError::BadKey);
    }
    let (master, salt) = key.split_at(KEY_LEN);
    // A replayed packet (a `#` recorded earlier in the call) is refused.
    Context::new(
        master,
        salt,
        ProtectionProfile::Aes128CmHmacSha1_80,
        Some(srtp_replay_protection(REPLAY_WINDOW)),
        None,
    )
    .map_err(|_| SdesError::BadKey)
}

impl Srtp {
    /// The contexts for a call keyed by `local` (ours) and `remote` (the callee's).
    pub fn new(local: &LocalKey, remote: Zeroizing<Vec<u8>>) -> Result<Self, SdesError> {
        Ok(Srtp {
            outbound: context(local.0.as_slice())?,
            inbound: context(&remote)?,
            remote,
            authenticated: false,
            failures: 0,
        })
    }

    /// The callee's key from a re-INVITE's offer (RFC 4568 §7.1.4). A changed key
    /// means a new SRTP context for what the callee sends: the old key opens nothing
    /// from now on. The same key (a session refresh, or media moved) keeps the
    /// context, its rollover counter and replay window. Our own key and context stay:
    /// the answer offers the same key again.
    pub fn rekey(&mut self, remote: Zeroizing<Vec<u8>>) -> Result<Rekeyed, SdesError> {
        // Constant time, as every comparison of key material here.
        if bool::from(self.remote.as_slice().ct_eq(remote.as_slice())) {
            return Ok(Rekeyed::Kept);
        }
        self.inbound = context(&remote)?;
        self.remote = remote;
        self.authenticated = false;
        self.failures = 0;
        Ok(Rekeyed::Replaced)
    }

    /// An RTP packet of ours, encrypted and tagged; `None` if it is not RTP.
    pub fn protect(&mut self, rtp: &[u8]) -> Option<Vec<u8>> {
        self.outbound.encrypt_rtp(rtp).ok().map(|b| b.to_vec())
    }

    /// A packet from the media port, checked and decrypted: `None` unless it carries
    /// the callee's tag (a forged or replayed packet never does).
    pub fn unprotect(&mut self, srtp: &[u8]) -> Option<Vec<u8>> {
        match self.inbound.decrypt_rtp(srtp) {
            Ok(plain) => {
                self.authenticated = true;
                Some(plain.to_vec())
            }
            Err(_) => {
                self.failures = self.failures.saturating_add(1);
                if !self.authenticated && self.failures >= MAX_FAILURES_BEFORE_RESET {
                    // Nothing genuine came yet, so nothing is lost by starting over.
                    if let Ok(fresh) = context(&self.remote) {
                        self.inbound = fresh;
                        self.failures = 0;
                    }
                }
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mfa_core::SeededRandomness;

    fn rtp(ssrc: u32, seq: u16, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x80, 8];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
        p.extend_from_slice(&ssrc.to_be_bytes());
        p.extend_from_slice(payload);
        p
    }

    #[test]
    fn a_key_offered_is_a_key_read_and_both_sides_agree() {
        let rng = SeededRandomness::new(1);
        let ours = LocalKey::generate(&rng);
        let theirs = LocalKey::generate(&rng);
        let line = ours.attribute();
        assert!(line.starts_with("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:"));
        let read = remote_key(line.trim_end().strip_prefix("a=crypto:").unwrap()).unwrap();
        assert_eq!(read.as_slice(), ours.0.as_slice());
        assert!(!format!("{ours:?}").contains(&line[40..]));

        // We send with our key; the callee (keyed with ours as its remote) reads it.
        let theirs_line = theirs.attribute();
        let their_key = remote_key(theirs_line.trim_end().strip_prefix("a=crypto:").unwrap());
        let mut us = Srtp::new(&ours, their_key.unwrap()).unwrap();
        let mut callee = Srtp::new(&theirs, read).unwrap();
        let packet = rtp(7, 1, b"audio");
        let sealed = us.protect(&packet).unwrap();
        assert_ne!(&sealed[12..17], b"audio");
        assert_eq!(callee.unprotect(&sealed).unwrap(), packet);
        let reply = rtp(9, 1, b"#");
        assert_eq!(
            us.unprotect(&callee.protect(&reply).unwrap()).unwrap(),
            reply
        );
        // A replay, a plain packet and a forged one are refused.
        assert_eq!(callee.unprotect(&sealed), None);
        assert_eq!(us.unprotect(&rtp(9, 2, b"#")), None);
        let mut forged = callee.protect(&rtp(9, 3, b"#")).unwrap();
        forged[12] ^= 1;
        assert_eq!(us.unprotect(&forged), None);
    }

    #[test]
    fn answers_that_do_not_key_the_call_are_refused() {
        let key = STANDARD.encode([3u8; 30]);
        assert!(remote_key(&format!("1 AES_CM_128_HMAC_SHA1_80 inline:{key}|2^31")).is_ok());
        for (line, error) in [
            (
                format!("2 AES_CM_128_HMAC_SHA1_80 inline:{key}"),
                SdesError::WrongSuite,
            ),
            (
                format!("1 AES_CM_128_HMAC_SHA1_32 inline:{key}"),
                SdesError::WrongSuite,
            ),
            (
                format!("1 AES_CM_128_HMAC_SHA1_80 inline:{key}|2^20|1:4"),
                SdesError::BadKey,
            ),
            (
                format!("1 AES_CM_128_HMAC_SHA1_80 inline:{key};inline:{key}"),
                SdesError::BadKey,
            ),
            (
                "1 AES_CM_128_HMAC_SHA1_80 inline:c2hvcnQ=".to_owned(),
                SdesError::BadKey,
            ),
            (
                "1 AES_CM_128_HMAC_SHA1_80 inline:!!!".to_owned(),
                SdesError::BadKey,
            ),
            ("1 AES_CM_128_HMAC_SHA1_80".to_owned(), SdesError::BadKey),
            ("".to_owned(), SdesError::BadKey),
        ] {
            assert_eq!(remote_key(&line).unwrap_err(), error, "{line}");
        }
    }

    proptest::proptest! {
        /// Whatever a callee's answer carries, reading its key gives a key or a
        /// typed error, never a panic; and junk on the media port never decrypts.
        #[test]
        fn junk_never_panics(line in ".{0,200}", packet in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let _ = remote_key(&line);
            let rng = SeededRandomness::new(3);
            let mut us = Srtp::new(&LocalKey::generate(&rng), Zeroizing::new(vec![5; 30])).unwrap();
            proptest::prop_assert_eq!(us.unprotect(&packet), None);
        }
    }

    #[test]
    fn a_new_key_replaces_the_inbound_context_and_the_same_key_keeps_it() {
        let rng = SeededRandomness::new(4);
        let ours = LocalKey::generate(&rng);
        let (first, second) = (LocalKey::generate(&rng), LocalKey::generate(&rng));
        let mut us = Srtp::new(&ours, Zeroizing::new(first.0.to_vec())).unwrap();
        let mut callee = Srtp::new(&first, Zeroizing::new(ours.0.to_vec())).unwrap();
        let sealed = callee.protect(&rtp(5, 1, b"a")).unwrap();
        assert!(us.unprotect(&sealed).is_some());
        assert_eq!(
            us.rekey(Zeroizing::new(first.0.to_vec())),
            Ok(Rekeyed::Kept)
        );
        // Kept: the replay window still knows packet 1 (a fresh context would take it).
        assert_eq!(us.unprotect(&sealed), None);
        assert!(
            us.unprotect(&callee.protect(&rtp(5, 2, b"b")).unwrap())
                .is_some()
        );
        assert_eq!(us.rekey(Zeroizing::new(vec![1; 3])), Err(SdesError::BadKey));
        assert_eq!(
            us.rekey(Zeroizing::new(second.0.to_vec())),
            Ok(Rekeyed::Replaced)
        );
        // Replaced: the old key opens nothing more, the new one does.
        assert_eq!(
            us.unprotect(&callee.protect(&rtp(5, 3, b"c")).unwrap()),
            None
        );
        let mut renewed = Srtp::new(&second, Zeroizing::new(ours.0.to_vec())).unwrap();
        let packet = rtp(5, 4, b"d");
        assert_eq!(
            us.unprotect(&renewed.protect(&packet).unwrap()).unwrap(),
            packet
        );
    }

    #[test]
    fn a_spoofer_spraying_ssrcs_keeps_the_context_small() {
        let rng = SeededRandomness::new(2);
        let ours = LocalKey::generate(&rng);
        let theirs = LocalKey::generate(&rng);
        let mut us = Srtp::new(&ours, Zeroizing::new(theirs.0.to_vec())).unwrap();
        let mut callee = Srtp::new(&theirs, Zeroizing::new(ours.0.to_vec())).unwrap();
        for ssrc in 0..5_000u32 {
            assert_eq!(us.unprotect(&rtp(ssrc, 1, &[0u8; 20])), None);
        }
        assert!(us.failures < MAX_FAILURES_BEFORE_RESET);
        // The genuine stream still gets through afterwards.
        let packet = rtp(42, 1, b"x");
        assert_eq!(
            us.unprotect(&callee.protect(&packet).unwrap()).unwrap(),
            packet
        );
    }
}
