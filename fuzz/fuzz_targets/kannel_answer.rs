//! Kannel smsbox's answer to a sendsms request. Input: the HTTP status on the first
//! line, the body after it. Reading never panics, only a 2xx `0:` or `3:` answer
//! counts as accepted, and the error text stays short.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mfa_sms::KannelAcceptance;
use mfa_sms::kannel::parse_answer;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (status, body) = text.split_once('\n').unwrap_or((text, ""));
    let Ok(status) = status.trim().parse::<u16>() else {
        return;
    };
    let success = (200..300).contains(&status);
    match parse_answer(status, body) {
        Ok(KannelAcceptance::Accepted) => {
            assert!(
                success && body.trim().starts_with("0:"),
                "{status} {body:?}"
            )
        }
        Ok(KannelAcceptance::Queued) => {
            assert!(
                success && body.trim().starts_with("3:"),
                "{status} {body:?}"
            )
        }
        Err(error) => {
            assert!(!(success && body.trim().starts_with("0:")));
            // The body is quoted cut to 120 characters, after `Kannel answered 200: `.
            let longest = 120 + "Kannel answered 65535: ".len();
            assert!(error.message().chars().count() <= longest, "{error:?}");
        }
    }
});
