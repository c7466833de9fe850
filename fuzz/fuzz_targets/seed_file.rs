//! Hardware-token seed files as vendors ship them: any bytes give tokens and typed
//! line errors, never a panic; every line is either a token or an error (or skipped
//! as blank, comment or header); each token's credential is read back by the token
//! verifier, and a token written back as a seed line parses to the same token.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mfa_core::{AppVerifier, OneTimeCode, Timestamp};
use mfa_totp::{OathTokens, SeedFileError, TokenKind, parse_seed_file};

fuzz_target!(|data: &[u8]| {
    let file = match parse_seed_file(data) {
        Ok(f) => f,
        Err(SeedFileError::TooLarge { .. } | SeedFileError::TooManyTokens { .. }) => return,
        Err(_) => return,
    };
    let lines = data.split(|&b| b == b'\n').count() as u64;
    let mut seen = std::collections::BTreeSet::new();
    for e in &file.errors {
        assert!(e.line >= 1 && e.line <= lines);
        assert!(seen.insert(e.line), "one error per line");
    }
    let verifier = OathTokens::default();
    for t in &file.tokens {
        assert!(t.line >= 1 && t.line <= lines);
        assert!(seen.insert(t.line), "a line is a token or an error");
        assert!(t.secret.bits() >= 128);
        let credential = t.credential();
        let code = OneTimeCode::from_number(0, usize::from(t.digits));
        assert!(
            verifier
                .verify(&credential, &code, Timestamp::from_unix_secs(1_000_000), None)
                .is_ok(),
            "the verifier reads {}",
            credential.parameters
        );
        let (kind, number) = match t.kind {
            TokenKind::Totp { period } => ("totp", period),
            TokenKind::Hotp { counter } => ("hotp", counter),
        };
        let hex: String = t.secret.expose_bytes().iter().map(|b| format!("{b:02x}")).collect();
        let line = format!("{},{hex},{kind},{},{number},{}", t.serial, t.digits, t.algorithm);
        let again = parse_seed_file(line.as_bytes()).expect("one line");
        assert_eq!(again.tokens.len(), 1, "{:?}", again.errors);
        let back = &again.tokens[0];
        assert_eq!(
            (&back.serial, &back.secret, back.kind, back.algorithm, back.digits),
            (&t.serial, &t.secret, t.kind, t.algorithm, t.digits)
        );
    }
});
