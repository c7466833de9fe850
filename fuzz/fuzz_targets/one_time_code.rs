//! What a user types into the code box, the recovery-code box and the extension field,
//! and ids read back from a request: parsing never panics, keeps exactly the digits
//! (or characters) typed, and the canonical form parses to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mfa_core::code::{MAX_CODE_DIGITS, MIN_CODE_DIGITS, RECOVERY_CODE_CHARS};
use mfa_core::{ChallengeId, Extension, MethodId, OneTimeCode, RecoveryCode};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();

    if let Ok(code) = OneTimeCode::parse(text) {
        assert_eq!(code.expose(), digits, "{text:?}");
        assert!((MIN_CODE_DIGITS..=MAX_CODE_DIGITS).contains(&code.len()));
        assert_eq!(OneTimeCode::parse(code.expose()).as_ref(), Ok(&code));
        assert_eq!(
            OneTimeCode::parse_exact(text, code.len()).as_ref(),
            Ok(&code)
        );
        let number: u64 = digits.parse().expect("at most ten digits");
        assert_eq!(OneTimeCode::from_number(number, code.len()), code);
    }
    for len in [4, 6, 8] {
        if let Ok(code) = OneTimeCode::parse_exact(text, len) {
            assert_eq!(code.len(), len);
            assert_eq!(code.expose(), digits);
        }
    }

    if let Ok(recovery) = RecoveryCode::parse(text) {
        let shown = recovery.expose();
        // Groups of four separated by dashes.
        let chars = shown.chars().filter(|&c| c != '-').count();
        assert_eq!(chars, RECOVERY_CODE_CHARS, "{shown:?}");
        assert_eq!(shown.len(), chars + chars / 4 - 1, "{shown:?}");
        assert_eq!(RecoveryCode::parse(&shown).as_ref(), Ok(&recovery));
        assert_eq!(
            RecoveryCode::parse(&shown.to_lowercase()).as_ref(),
            Ok(&recovery)
        );
    }

    if let Ok(extension) = Extension::parse(text) {
        assert_eq!(extension.as_str(), digits);
        assert_eq!(
            Extension::parse(extension.as_str()).as_ref(),
            Ok(&extension)
        );
    }

    if let Ok(id) = MethodId::parse(text) {
        assert_eq!(id.as_str(), text);
        assert_eq!(MethodId::parse(&id.to_string()).as_ref(), Ok(&id));
    }
    if let Ok(id) = ChallengeId::parse(text) {
        assert_eq!(id.as_str(), text);
    }
});
