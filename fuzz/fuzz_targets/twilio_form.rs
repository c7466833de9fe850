//! Twilio webhook bodies (`application/x-www-form-urlencoded`): decoding never panics,
//! the pairs encoded again decode to the same pairs, and the Gather `Digits` a body
//! carries are read without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mfa_voice::interpret_keys;
use mfa_voice::twilio::parse_form;

fuzz_target!(|data: &[u8]| {
    let params = parse_form(data);
    let encoded = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&params)
        .finish();
    assert_eq!(parse_form(encoded.as_bytes()), params, "{encoded:?}");
    for (name, value) in &params {
        if name == "Digits" {
            let _ = interpret_keys(value);
        }
    }
});
