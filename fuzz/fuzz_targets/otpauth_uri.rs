//! `otpauth://` Key URIs, as scanned from a QR code or pasted by a user: parsing never
//! panics, and a parsed URI written back with `to_uri` parses to the same key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mfa_totp::{KeyUri, OtpKind, Totp};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The stored parameters text (`SHA1:6:30:0`) travels with the key.
    if let Ok(totp) = Totp::default().with_parameters(text) {
        let back = Totp::default().with_parameters(&totp.parameters());
        assert_eq!(back, Ok(totp), "parameters text did not round-trip");
    }
    let Ok(uri) = KeyUri::parse(text) else {
        return;
    };
    assert!(!uri.account.is_empty());
    let written = uri.to_uri();
    let again = KeyUri::parse(&written)
        .unwrap_or_else(|e| panic!("our own URI {written:?} does not parse: {e}"));
    assert_eq!(again, uri, "{written:?} read back differently");
    match uri.kind {
        OtpKind::Totp { .. } => {
            let totp = uri.totp().expect("a parsed totp URI gives a verifier");
            assert_eq!(totp.digits(), uri.digits);
            assert!(uri.hotp().is_none());
        }
        OtpKind::Hotp { counter } => {
            let (hotp, next) = uri.hotp().expect("a parsed hotp URI gives a verifier");
            assert_eq!(next, counter);
            let _ = hotp;
            assert!(uri.totp().is_none());
        }
    }
});
