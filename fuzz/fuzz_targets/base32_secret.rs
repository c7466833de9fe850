//! Base32 secrets as users type them or other services export them: parsing never
//! panics, and the canonical and grouped forms read back as the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mfa_totp::{MAX_SECRET_BYTES, Secret};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(secret) = Secret::from_base32(text) else {
        return;
    };
    let bytes = secret.expose_bytes();
    assert!(!bytes.is_empty() && bytes.len() <= MAX_SECRET_BYTES);
    assert_eq!(secret.bits(), bytes.len() * 8);
    // Five bits per character: the text held at least that many.
    let significant = text.chars().filter(char::is_ascii_alphanumeric).count();
    assert_eq!(bytes.len(), significant * 5 / 8, "{text:?}");

    let canonical = secret.expose_base32();
    assert!(
        canonical
            .bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
    );
    assert_eq!(Secret::from_base32(&canonical).as_ref(), Ok(&secret));
    let grouped = secret.expose_grouped_base32();
    assert_eq!(Secret::from_base32(&grouped).as_ref(), Ok(&secret));
    assert_eq!(
        Secret::from_base32(&canonical.to_lowercase()).as_ref(),
        Ok(&secret)
    );
});
