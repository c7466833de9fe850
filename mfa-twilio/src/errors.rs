//! Twilio's error codes, read once for SMS and calls.
//!
//! Meanings from Twilio's error dictionary (`twilio.com/docs/api/errors/{code}`).
//! A code decides the kind when it says more than the HTTP status; otherwise the
//! status does.

use mfa_core::{DeliveryError, DeliveryErrorKind, ProviderCode};
use serde::Deserialize;

/// One entry: code, kind, and the dictionary's title.
type Entry = (u32, DeliveryErrorKind, &'static str);

use DeliveryErrorKind::{Blocked, Configuration, InvalidDestination, Transient};

/// The table. Kept sorted by code (a test checks), looked up by binary search.
const TABLE: &[Entry] = &[
    (10001, Configuration, "account is not active"),
    (
        13223,
        InvalidDestination,
        "Dial: invalid phone number format",
    ),
    (
        13224,
        InvalidDestination,
        "Dial: Twilio does not support calling this number or the number is invalid",
    ),
    (13227, Blocked, "Dial: no international authorization"),
    (14107, Transient, "SMS send rate limit exceeded"),
    (20003, Configuration, "authentication failed"),
    (20005, Configuration, "account not active"),
    (
        20403,
        Configuration,
        "forbidden: the account is suspended or closed",
    ),
    (20404, Configuration, "resource not found"),
    (20429, Transient, "too many requests"),
    (20500, Transient, "internal server error"),
    (20503, Transient, "service unavailable"),
    (21210, Configuration, "'From' phone number not verified"),
    (21211, InvalidDestination, "invalid 'To' phone number"),
    (21212, Configuration, "invalid 'From' number or caller id"),
    (
        21214,
        InvalidDestination,
        "'To' phone number cannot be reached",
    ),
    (
        21215,
        Blocked,
        "the account is not authorized to call this number (geographic permissions)",
    ),
    (21216, Blocked, "the call is blocked by Twilio"),
    (
        21217,
        InvalidDestination,
        "phone number does not appear to be valid",
    ),
    (
        21265,
        InvalidDestination,
        "'To' number cannot be a short code",
    ),
    (21401, InvalidDestination, "invalid phone number"),
    (
        21407,
        InvalidDestination,
        "this phone number type does not support SMS",
    ),
    (
        21408,
        Blocked,
        "permission to send an SMS has not been enabled for the region",
    ),
    (
        21606,
        Configuration,
        "the 'From' number is not a valid message-capable Twilio number",
    ),
    (21610, Blocked, "the recipient has unsubscribed (STOP)"),
    (
        21611,
        Transient,
        "the 'From' number has too many queued messages",
    ),
    (
        21612,
        InvalidDestination,
        "the 'To' number cannot be reached with this 'From' (not reachable by SMS)",
    ),
    (
        21614,
        InvalidDestination,
        "'To' number is not a valid mobile number",
    ),
    (
        21635,
        InvalidDestination,
        "'To' number cannot be a landline",
    ),
    (
        21659,
        Configuration,
        "the 'From' number is not a Twilio number",
    ),
    (
        21660,
        Configuration,
        "the 'From' number does not belong to the account",
    ),
    (21661, Configuration, "the 'From' number is not SMS-capable"),
    (
        21703,
        Configuration,
        "the Messaging Service has no phone numbers",
    ),
    (21705, Configuration, "the Messaging Service is invalid"),
    (30001, Transient, "queue overflow"),
    (30002, Configuration, "account suspended"),
    (30003, Transient, "unreachable destination handset"),
    (30004, Blocked, "message blocked"),
    (30005, InvalidDestination, "unknown destination handset"),
    (30006, InvalidDestination, "landline or unreachable carrier"),
    (30007, Blocked, "message filtered by the carrier"),
];

fn entry(code: u32) -> Option<&'static Entry> {
    TABLE
        .binary_search_by_key(&code, |e| e.0)
        .ok()
        .and_then(|i| TABLE.get(i))
}

/// The kind of failure a Twilio error code means, when the table knows the code.
pub fn error_kind(code: u32) -> Option<DeliveryErrorKind> {
    entry(code).map(|e| e.1)
}

/// The error dictionary's title for `code`, or a pointer to it.
pub fn describe(code: u32) -> &'static str {
    entry(code).map_or("see twilio.com/docs/api/errors", |e| e.2)
}

/// The kind of an error answer: throttling and server errors are passing faults
/// whatever the code; then the code; then the status.
pub fn answer_kind(status: u16, code: Option<u32>) -> DeliveryErrorKind {
    match (status, code.and_then(error_kind)) {
        (429 | 500..=599, _) => Transient,
        (_, Some(kind)) => kind,
        // 408: the server gave up waiting for the request (RFC 9110 §15.5.9), so
        // nothing was created and sending again is safe. Not `Timeout`, which means
        // the message may have gone.
        (408 | 425, None) => Transient,
        (401 | 403 | 404 | 405, None) => Configuration,
        _ => DeliveryErrorKind::Rejected,
    }
}

#[derive(Deserialize)]
struct ErrorBody {
    code: Option<u32>,
}

/// The code in an error answer's JSON body (`{"code", "message", "more_info", "status"}`).
pub fn error_code(body: &[u8]) -> Option<u32> {
    serde_json::from_slice::<ErrorBody>(body).ok()?.code
}

/// A typed error for an error answer. Only the status and code are kept: Twilio's
/// message may echo the request (the number, the text with the code).
pub fn api_error(status: u16, body: &[u8]) -> DeliveryError {
    let code = error_code(body);
    let kind = answer_kind(status, code);
    let message = match code {
        Some(code) => format!(
            "Twilio answered {status} with error {code} ({})",
            describe(code)
        ),
        None => format!("Twilio answered {status}"),
    };
    let error = DeliveryError::new(kind, message);
    match code {
        Some(code) => error.with_provider_code(ProviderCode::new(PROVIDER, code)),
        None => error,
    }
}

/// The provider name in [`ProviderCode`]s of Twilio's error codes.
pub const PROVIDER: &str = "twilio";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_and_has_each_code_once() {
        assert!(TABLE.windows(2).all(|w| w[0].0 < w[1].0));
    }

    /// The cases the SMS and voice tables used to disagree on.
    #[test]
    fn one_reading_of_the_disputed_codes() {
        assert_eq!(answer_kind(408, None), Transient);
        assert_eq!(error_kind(21214), Some(InvalidDestination));
        assert_eq!(error_kind(21612), Some(InvalidDestination));
        assert_eq!(error_kind(21614), Some(InvalidDestination));
        assert_eq!(error_kind(30002), Some(Configuration));
        assert_eq!(error_kind(21610), Some(Blocked));
    }

    #[test]
    fn answers_are_typed_and_leak_nothing() {
        let e = api_error(
            400,
            br#"{"code": 21211, "message": "The 'To' number +4700 is not valid", "status": 400}"#,
        );
        assert_eq!(e.kind(), InvalidDestination);
        assert_eq!(e.provider_code(), Some(ProviderCode::new("twilio", 21211)));
        assert!(!e.message().contains("+4700"));
        assert!(e.message().contains("21211"));
        assert_eq!(api_error(401, br#"{"code": 20003}"#).kind(), Configuration);
        assert!(api_error(429, b"").is_transient());
        assert!(api_error(503, b"<html>").is_transient());
        assert_eq!(api_error(400, b"junk").kind(), DeliveryErrorKind::Rejected);
        assert_eq!(
            api_error(400, br#"{"code": 99999}"#).kind(),
            DeliveryErrorKind::Rejected
        );
    }
}
