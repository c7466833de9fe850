//! GSM 03.38 text: whether a text is GSM-7, its septets, the segment count, and
//! decoding the septets an SMSC sends. Encoding and decoding round-trip, and every
//! measure agrees with the others.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mfa_sms::encoding::{GSM7_MULTI, GSM7_SINGLE, UCS2_MULTI, UCS2_SINGLE, gsm7_septets};
use mfa_sms::{Encoding, SmsLength, gsm7_decode, gsm7_encode, is_gsm7};

fuzz_target!(|data: &[u8]| {
    // Any bytes are septets from an SMSC.
    let decoded = gsm7_decode(data);
    let units = gsm7_encode(&decoded).expect("decoded text is GSM-7");
    assert_eq!(gsm7_decode(&units.concat()), decoded);

    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let length = SmsLength::of(text);
    assert!(length.segments >= 1);
    match gsm7_encode(text) {
        Some(units) => {
            assert!(is_gsm7(text));
            assert_eq!(length.encoding, Encoding::Gsm7, "{text:?}");
            let septets = units.concat();
            assert_eq!(septets.len(), length.units, "{text:?}");
            let counted: usize = text.chars().map(|c| gsm7_septets(c).unwrap_or(0)).sum();
            assert_eq!(counted, length.units);
            assert_eq!(gsm7_decode(&septets), text);
            assert_eq!(length.units <= GSM7_SINGLE, length.segments == 1);
            assert!(length.segments <= length.units.div_ceil(GSM7_MULTI - 1).max(1));
        }
        None => {
            assert!(!is_gsm7(text));
            assert_eq!(length.encoding, Encoding::Ucs2, "{text:?}");
            assert_eq!(length.units, text.encode_utf16().count());
            assert_eq!(length.units <= UCS2_SINGLE, length.segments == 1);
            assert!(length.segments <= length.units.div_ceil(UCS2_MULTI - 1).max(1));
        }
    }
});
