//! Email addresses typed into the enrolment form, and Temporary Access Passes typed at
//! sign-in: parsing never panics; an accepted address is a fixed point of parsing,
//! ASCII, at most 254 bytes, with one `@` and a lower-case domain, and its masked form
//! shows no more than the first character before the `@`; an accepted pass parses
//! back from its display form.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mfa_core::{AccessPass, EmailAddress};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(address) = EmailAddress::parse(text) {
        let s = address.as_str();
        assert!(s.len() <= 254 && s.is_ascii(), "{text:?} gave {s:?}");
        assert!(!s.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control()));
        assert_eq!(s.matches('@').count(), 1, "{s:?}");
        let (local, domain) = s.split_once('@').unwrap_or_default();
        assert_eq!(domain, domain.to_ascii_lowercase());
        assert_eq!(address.domain(), domain);
        let again = EmailAddress::parse(s)
            .unwrap_or_else(|e| panic!("{text:?} gave {s:?}, which does not parse: {e}"));
        assert_eq!(again, address);
        let masked = address.masked();
        assert_eq!(masked, format!("{}•••@{domain}", &local[..1]));
        assert_eq!(format!("{address:?}"), format!("EmailAddress({masked:?})"));
        assert_eq!(address.limit_subject(), s.to_ascii_lowercase());
    }
    if let Ok(pass) = AccessPass::parse(text) {
        let shown = pass.expose();
        let again = AccessPass::parse(&shown).unwrap_or_else(|e| panic!("{shown:?}: {e}"));
        assert_eq!(again.expose(), shown);
        assert!(!format!("{pass:?}").contains(&shown[..4]));
    }
});
