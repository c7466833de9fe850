//! What an application does with an `Error`: the HTTP status and `Retry-After` to
//! answer with, the provider's own code, the source chain.
#![allow(clippy::unwrap_used)]

use std::error::Error as _;
use std::time::Duration;

use mfa_core::{
    ChallengeId, DeliveryError, DeliveryErrorKind, Error, InputError, LimitScope, Missing,
    PolicyError, ProviderCode, StoreError, TransitionError, http_status,
};

#[derive(Debug, thiserror::Error)]
#[error("connection reset")]
struct Reset;

#[test]
fn provider_codes_and_sources_survive() {
    let error = DeliveryError::new(
        DeliveryErrorKind::Blocked,
        "Twilio answered 400 with error 21610",
    )
    .with_provider_code(ProviderCode::new("twilio", 21610))
    .with_source(Reset);
    assert_eq!(
        error.provider_code(),
        Some(ProviderCode::new("twilio", 21610))
    );
    assert_eq!(error.source().unwrap().to_string(), "connection reset");
    // The chain goes on through the library's own error (which is transparent).
    let error: Error = error.into();
    assert_eq!(
        error.provider_code(),
        Some(ProviderCode::new("twilio", 21610))
    );
    assert_eq!(error.source().unwrap().to_string(), "connection reset");
    // Clones keep both; equality compares what the error says, not its source.
    let a = DeliveryError::transient("x").with_source(Reset);
    assert_eq!(a.clone(), DeliveryError::transient("x"));
    assert!(a.clone().source().is_some());
}

#[test]
fn errors_map_to_http_answers() {
    let wait = Duration::from_secs(42);
    let cases: Vec<(Error, u16, Option<Duration>)> = vec![
        (InputError::CodeNotDigits.into(), 400, None),
        (
            PolicyError::RateLimited {
                scope: LimitScope::Destination,
                retry_after: wait,
            }
            .into(),
            429,
            Some(wait),
        ),
        (
            PolicyError::ResendTooSoon { retry_after: wait }.into(),
            429,
            Some(wait),
        ),
        (
            PolicyError::UserLocked {
                retry_after: Some(wait),
            }
            .into(),
            429,
            Some(wait),
        ),
        (
            PolicyError::UserLocked { retry_after: None }.into(),
            423,
            None,
        ),
        (PolicyError::ReauthenticationRequired.into(), 401, None),
        (
            PolicyError::CountryNotAllowed { country_code: 7 }.into(),
            422,
            None,
        ),
        (PolicyError::LastMethod.into(), 409, None),
        (
            TransitionError {
                state: "AwaitingCode",
                event: "Complete",
            }
            .into(),
            409,
            None,
        ),
        (Error::NotFound(Missing::Challenge), 404, None),
        (Error::NotConfigured(Missing::SmsDelivery), 501, None),
        (DeliveryError::transient("down").into(), 503, None),
        (
            DeliveryError::new(DeliveryErrorKind::Timeout, "slow").into(),
            504,
            None,
        ),
        (
            DeliveryError::new(DeliveryErrorKind::InvalidDestination, "no").into(),
            422,
            None,
        ),
        (
            DeliveryError::new(DeliveryErrorKind::Configuration, "key").into(),
            500,
            None,
        ),
        (
            Error::CallNotCompleted {
                challenge_id: ChallengeId::parse("c0ffee00c0ffee00").unwrap(),
                error: DeliveryError::new(DeliveryErrorKind::NoAnswer, "no answer"),
            },
            409,
            None,
        ),
        (StoreError::unavailable("down").into(), 503, None),
        (StoreError::corrupt("bad").into(), 500, None),
    ];
    for (error, status, retry_after) in cases {
        assert_eq!(http_status(&error), (status, retry_after), "{error:?}");
        assert_eq!(error.http_status(), (status, retry_after));
    }
}
