//! One mapping from [`Error`] to the HTTP answer an application gives: the status
//! and, for refusals that pass with time, `Retry-After`. No HTTP crate needed.

use std::time::Duration;

use crate::delivery::DeliveryErrorKind;
use crate::error::{Error, InputError, PolicyError, StoreErrorKind};

/// The HTTP status and `Retry-After` (whole seconds, rounded up by the caller's
/// framework or with [`Duration::as_secs`] + 1) for `error`.
///
/// | error | status |
/// | --- | --- |
/// | malformed input | 400 |
/// | a second factor needed first ([`PolicyError::ReauthenticationRequired`]) | 401 |
/// | settings suspended after a fraud report | 403 |
/// | unknown challenge or method | 404 |
/// | not valid in the current state; last method; already set up; a call not completed | 409 |
/// | a refused number or country; a number the channel cannot reach | 422 |
/// | locked until an administrator resets the user | 423 |
/// | send limits, resend cooldown, growing delay after failures | 429 + `Retry-After` |
/// | backend not configured | 501 |
/// | provider down or throttling; store unavailable | 503 |
/// | provider timed out | 504 |
/// | anything else (misconfiguration, corrupt store) | 500 |
///
/// ```
/// use std::time::Duration;
/// use mfa_core::{Error, PolicyError, http_status};
///
/// let error: Error = PolicyError::ResendTooSoon { retry_after: Duration::from_secs(30) }.into();
/// assert_eq!(http_status(&error), (429, Some(Duration::from_secs(30))));
/// ```
pub fn http_status(error: &Error) -> (u16, Option<Duration>) {
    #[allow(unreachable_patterns)] // new variants map to 500 until placed here
    let status = match error {
        Error::Input(InputError::InvalidSetting(_)) => 500,
        Error::Input(_) => 400,
        Error::Policy(p) => return policy_status(p),
        Error::Transition(_) => 409,
        Error::Delivery(e) => match e.kind() {
            DeliveryErrorKind::Transient => 503,
            DeliveryErrorKind::Timeout => 504,
            DeliveryErrorKind::InvalidDestination | DeliveryErrorKind::Blocked => 422,
            DeliveryErrorKind::NoAnswer | DeliveryErrorKind::Busy | DeliveryErrorKind::Declined => {
                409
            }
            DeliveryErrorKind::Configuration => 500,
            _ => 502,
        },
        Error::CallNotCompleted { .. } => 409,
        Error::Store(e) => match e.kind() {
            StoreErrorKind::Unavailable => 503,
            _ => 500,
        },
        Error::NotFound(_) => 404,
        Error::NotConfigured(_) => 501,
        _ => 500,
    };
    (status, None)
}

fn policy_status(error: &PolicyError) -> (u16, Option<Duration>) {
    #[allow(unreachable_patterns)] // new variants map to 403 until placed here
    let status = match error {
        PolicyError::RateLimited { .. }
        | PolicyError::ResendTooSoon { .. }
        | PolicyError::TooManySends
        | PolicyError::UserLocked {
            retry_after: Some(_),
        } => 429,
        PolicyError::UserLocked { retry_after: None } => 423,
        PolicyError::ReauthenticationRequired => 401,
        PolicyError::CountryNotAllowed { .. }
        | PolicyError::PremiumRate
        | PolicyError::NotSmsCapable
        | PolicyError::UnsupportedNumber => 422,
        PolicyError::LastMethod
        | PolicyError::AlreadyEnrolled
        | PolicyError::TooManyMethods
        | PolicyError::TokenAssigned
        | PolicyError::TokenRetired => 409,
        PolicyError::Suspended => 403,
        PolicyError::CodeKeyRequired => 500,
        _ => 403,
    };
    (status, error.retry_after())
}

impl Error {
    /// The HTTP status and `Retry-After` for this error: see [`http_status`].
    pub fn http_status(&self) -> (u16, Option<Duration>) {
        http_status(self)
    }

    /// The provider's own code behind a delivery failure (Twilio's `21610`, say).
    pub fn provider_code(&self) -> Option<crate::delivery::ProviderCode> {
        match self {
            Error::Delivery(e) | Error::CallNotCompleted { error: e, .. } => e.provider_code(),
            _ => None,
        }
    }
}
