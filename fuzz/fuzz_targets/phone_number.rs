//! Phone numbers typed into the enrolment form: parsing never panics, the E.164 form
//! parses back to the same number, and the masked form hides all but the last two
//! digits. Input `CC NATIONAL` (digits, a space, the rest) also goes through `from_parts`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mfa_core::PhoneNumber;

fn check(number: &PhoneNumber, input: &str) {
    let e164 = number.e164();
    assert!(e164.starts_with('+') && e164[1..].bytes().all(|b| b.is_ascii_digit()));
    assert!(e164[1..].starts_with(&number.country_code().to_string()));
    let again = PhoneNumber::parse(e164)
        .unwrap_or_else(|e| panic!("{input:?} gave {e164:?}, which does not parse: {e}"));
    assert_eq!(&again, number, "{input:?}");
    assert_eq!(again.kind(), number.kind());
    assert_eq!(again.region(), number.region());
    let masked = number.masked();
    let shown: String = masked.chars().filter(char::is_ascii_digit).collect();
    let cc = number.country_code().to_string();
    assert!(shown.len() <= cc.len() + 2, "{masked:?} shows too much");
    assert!(e164.ends_with(&shown[cc.len()..]), "{masked:?}");
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(number) = PhoneNumber::parse(text) {
        check(&number, text);
    }
    if let Some((cc, national)) = text.split_once(' ')
        && let Ok(cc) = cc.parse::<u16>()
        && let Ok(number) = PhoneNumber::from_parts(cc, national)
    {
        assert_eq!(number.country_code(), cc, "{text:?}");
        check(&number, text);
    }
});
