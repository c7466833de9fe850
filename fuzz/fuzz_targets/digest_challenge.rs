//! Digest challenges in `WWW-Authenticate` / `Proxy-Authenticate` (RFC 2617, RFC 8760):
//! reading never panics, a challenge written back as a header reads the same, and
//! the answer to it is well formed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mfa_voice::sip::fuzzing::{Algorithm, Challenge};

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn write_challenge(c: &Challenge) -> String {
    let algorithm = match c.algorithm {
        Algorithm::Md5 => "MD5",
        Algorithm::Sha256 => "SHA-256",
    };
    let mut header = format!(
        "Digest realm={}, nonce={}, algorithm={algorithm}",
        quote(&c.realm),
        quote(&c.nonce)
    );
    if let Some(opaque) = &c.opaque {
        header.push_str(&format!(", opaque={}", quote(opaque)));
    }
    if c.qop_auth {
        header.push_str(", qop=\"auth,auth-int\"");
    }
    if c.stale {
        header.push_str(", stale=TRUE");
    }
    header
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(challenge) = Challenge::parse(text) else {
        return;
    };
    let written = write_challenge(&challenge);
    assert_eq!(
        Challenge::parse(&written).as_ref(),
        Ok(&challenge),
        "{written:?}"
    );

    let hex = match challenge.algorithm {
        Algorithm::Md5 => 32,
        Algorithm::Sha256 => 64,
    };
    let response = challenge.response("mfa", "secret", "INVITE", "sip:2000@pbx", "c0ffee", 1);
    assert_eq!(response.len(), hex);
    assert!(response.bytes().all(|b| b.is_ascii_hexdigit()));
    let authorization =
        challenge.authorization("mfa", "secret", "INVITE", "sip:2000@pbx", "c0ffee", 1);
    assert!(authorization.starts_with("Digest "));
    assert!(authorization.contains(&format!("response=\"{response}\"")));
    assert!(!authorization.contains(['\r', '\n']) || text.contains(['\r', '\n']));
});
