//! What went wrong, as the user is told it: one place maps the library's errors and
//! refusals to a message, an HTTP status and a `Retry-After`.

use std::time::Duration;

use axum::http::StatusCode;
use mfa_core::{Error, InputError, PolicyError, Verification};
use serde::{Deserialize, Serialize};

use crate::lang::Texts;

/// A message for the user, with what it needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "error", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Problem {
    /// A wrong code.
    WrongCode {
        /// Attempts left on this challenge.
        attempts_left: u32,
    },
    /// A wrong recovery code.
    WrongRecoveryCode,
    /// The code's lifetime passed.
    Expired,
    /// The challenge took too many wrong codes.
    Locked,
    /// The user failed too often: wait, or ask an administrator (`None`).
    UserLocked {
        /// Seconds to wait.
        retry_after: Option<u64>,
    },
    /// Too many sends.
    RateLimited {
        /// Seconds to wait.
        retry_after: u64,
    },
    /// A resend before the cooldown.
    ResendTooSoon {
        /// Seconds to wait.
        retry_after: u64,
    },
    /// The challenge has no sends left.
    TooManySends,
    /// The approval was already used.
    AlreadyUsed,
    /// The call was reported as fraud.
    Denied,
    /// The challenge was canceled.
    Canceled,
    /// The call has not been answered yet.
    CallWaiting,
    /// The call rang out, was busy or hung up.
    CallNotCompleted,
    /// Sending failed.
    DeliveryFailed,
    /// A malformed phone number.
    BadNumber,
    /// A malformed extension.
    BadExtension,
    /// A malformed code.
    BadCode,
    /// The country is not allowed.
    CountryRefused,
    /// The number cannot take SMS.
    NotSms,
    /// The method is already set up.
    AlreadyEnrolled,
    /// The user has all the methods allowed.
    TooManyMethods,
    /// The last method cannot be removed.
    LastMethod,
    /// A fresh second factor is needed first.
    StepUpNeeded,
    /// Factor changes are suspended after a fraud report.
    Suspended,
    /// The form's CSRF token was missing or wrong.
    CsrfRefused,
    /// No password step handed a user over.
    NotSignedIn,
    /// There is nothing to answer (no open challenge, or it is gone).
    NothingOpen,
    /// The store or another backend failed: not verified.
    Unavailable,
    /// A language the pages do not have.
    BadLanguage,
    /// The passkey's answer did not verify (another passkey, another ceremony, or
    /// the user not verified).
    PasskeyRejected {
        /// Attempts left on this challenge.
        attempts_left: u32,
    },
    /// The browser's answer is not a WebAuthn response.
    BadPasskeyResponse,
    /// A malformed email address.
    BadEmail,
    /// Email codes are off by policy.
    EmailNotAllowed,
    /// A name that is empty, too long or not text.
    BadName,
    /// Another method of this kind needs a name to tell it apart.
    NameRequired,
    /// Another method already has this name.
    NameTaken,
    /// A Temporary Access Pass that is wrong, used up, expired or revoked.
    WrongAccessPass,
}

impl Problem {
    /// The problem for a library error.
    pub fn from_error(e: &Error) -> Problem {
        match e {
            Error::Input(i) => match i {
                InputError::MissingCountryCode | InputError::InvalidPhoneNumber(_) => {
                    Problem::BadNumber
                }
                InputError::InvalidExtension => Problem::BadExtension,
                InputError::CodeNotDigits | InputError::CodeLength { .. } => Problem::BadCode,
                InputError::InvalidRecoveryCode => Problem::WrongRecoveryCode,
                InputError::InvalidEmailAddress(_) => Problem::BadEmail,
                InputError::InvalidMethodName => Problem::BadName,
                InputError::MethodNameRequired => Problem::NameRequired,
                InputError::InvalidPasskeyResponse => Problem::BadPasskeyResponse,
                InputError::InvalidAccessPass => Problem::WrongAccessPass,
                _ => Problem::NothingOpen,
            },
            Error::Policy(p) => match p {
                PolicyError::CountryNotAllowed { .. } | PolicyError::PremiumRate => {
                    Problem::CountryRefused
                }
                PolicyError::UnsupportedNumber => Problem::BadNumber,
                PolicyError::NotSmsCapable => Problem::NotSms,
                PolicyError::RateLimited { retry_after, .. } => Problem::RateLimited {
                    retry_after: secs(*retry_after),
                },
                PolicyError::ResendTooSoon { retry_after } => Problem::ResendTooSoon {
                    retry_after: secs(*retry_after),
                },
                PolicyError::TooManySends => Problem::TooManySends,
                PolicyError::UserLocked { retry_after } => Problem::UserLocked {
                    retry_after: retry_after.map(secs),
                },
                PolicyError::LastMethod => Problem::LastMethod,
                PolicyError::ReauthenticationRequired => Problem::StepUpNeeded,
                PolicyError::AlreadyEnrolled => Problem::AlreadyEnrolled,
                PolicyError::Suspended => Problem::Suspended,
                PolicyError::TooManyMethods => Problem::TooManyMethods,
                PolicyError::EmailNotAllowed => Problem::EmailNotAllowed,
                PolicyError::NameTaken => Problem::NameTaken,
                _ => Problem::Unavailable,
            },
            Error::Transition(_) | Error::NotFound(_) => Problem::NothingOpen,
            Error::CallNotCompleted { .. } => Problem::CallNotCompleted,
            Error::Delivery(_) => Problem::DeliveryFailed,
            _ => Problem::Unavailable,
        }
    }

    /// The problem for an answer that is not an approval (`None` for an approval).
    pub fn from_verification(v: &Verification) -> Option<Problem> {
        Some(match v {
            Verification::Approved(_) => return None,
            Verification::Rejected { attempts_left } => Problem::WrongCode {
                attempts_left: *attempts_left,
            },
            Verification::Waiting => Problem::CallWaiting,
            Verification::Expired => Problem::Expired,
            Verification::Locked => Problem::Locked,
            Verification::AlreadyUsed => Problem::AlreadyUsed,
            Verification::Denied => Problem::Denied,
            _ => Problem::Canceled,
        })
    }

    /// The HTTP status the answer carries.
    pub fn status(&self) -> StatusCode {
        match self {
            Problem::RateLimited { .. }
            | Problem::ResendTooSoon { .. }
            | Problem::UserLocked {
                retry_after: Some(_),
            } => StatusCode::TOO_MANY_REQUESTS,
            Problem::UserLocked { retry_after: None } | Problem::Suspended => StatusCode::LOCKED,
            Problem::CsrfRefused | Problem::StepUpNeeded => StatusCode::FORBIDDEN,
            Problem::NotSignedIn => StatusCode::UNAUTHORIZED,
            Problem::Expired | Problem::Locked | Problem::Canceled | Problem::Denied => {
                StatusCode::GONE
            }
            Problem::AlreadyUsed | Problem::NothingOpen => StatusCode::CONFLICT,
            Problem::Unavailable | Problem::DeliveryFailed | Problem::CallNotCompleted => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Problem::CallWaiting => StatusCode::ACCEPTED,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }

    /// Seconds to wait, for the `Retry-After` header.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Problem::RateLimited { retry_after } | Problem::ResendTooSoon { retry_after } => {
                Some(*retry_after)
            }
            Problem::UserLocked { retry_after } => *retry_after,
            _ => None,
        }
    }

    /// The message, in the page's language.
    pub fn message(&self, t: &Texts) -> String {
        let secs = |s: &str, n: u64| s.replace("{secs}", &n.to_string());
        match self {
            Problem::WrongCode { attempts_left } => {
                t.wrong_code.replace("{n}", &attempts_left.to_string())
            }
            Problem::WrongRecoveryCode => t.wrong_recovery.to_owned(),
            Problem::Expired => t.expired.to_owned(),
            Problem::Locked => t.locked.to_owned(),
            Problem::UserLocked {
                retry_after: Some(n),
            } => secs(t.user_locked, *n),
            Problem::UserLocked { retry_after: None } => t.user_locked_for_good.to_owned(),
            Problem::RateLimited { retry_after } => secs(t.rate_limited, *retry_after),
            Problem::ResendTooSoon { retry_after } => secs(t.resend_too_soon, *retry_after),
            Problem::TooManySends => t.too_many_sends.to_owned(),
            Problem::AlreadyUsed => t.already_used.to_owned(),
            Problem::Denied => t.denied.to_owned(),
            Problem::Canceled => t.canceled.to_owned(),
            Problem::CallWaiting => t.call_waiting.to_owned(),
            Problem::CallNotCompleted => t.call_not_completed.to_owned(),
            Problem::DeliveryFailed => t.delivery_failed.to_owned(),
            Problem::BadNumber => t.bad_number.to_owned(),
            Problem::BadExtension => t.bad_extension.to_owned(),
            Problem::BadCode => t.bad_code.to_owned(),
            Problem::CountryRefused => t.country_refused.to_owned(),
            Problem::NotSms => t.not_sms.to_owned(),
            Problem::AlreadyEnrolled => t.already_enrolled.to_owned(),
            Problem::TooManyMethods => t.too_many_methods.to_owned(),
            Problem::LastMethod => t.last_method.to_owned(),
            Problem::StepUpNeeded => t.stepup_needed.to_owned(),
            Problem::Suspended => t.suspended.to_owned(),
            Problem::CsrfRefused => t.csrf_refused.to_owned(),
            Problem::NotSignedIn => t.not_signed_in_body.to_owned(),
            Problem::NothingOpen => t.canceled.to_owned(),
            Problem::Unavailable => t.unavailable.to_owned(),
            Problem::BadLanguage => t.bad_language.to_owned(),
            Problem::PasskeyRejected { attempts_left } => t
                .passkey_rejected
                .replace("{n}", &attempts_left.to_string()),
            Problem::BadPasskeyResponse => t.bad_passkey_response.to_owned(),
            Problem::BadEmail => t.bad_email.to_owned(),
            Problem::EmailNotAllowed => t.email_not_allowed.to_owned(),
            Problem::BadName => t.bad_name.to_owned(),
            Problem::NameRequired => t.name_required.to_owned(),
            Problem::NameTaken => t.name_taken.to_owned(),
            Problem::WrongAccessPass => t.wrong_access_pass.to_owned(),
        }
    }
}

/// Whole seconds, rounded up, at least one: a `Retry-After` of 0 would invite a retry
/// that is refused again.
fn secs(d: Duration) -> u64 {
    d.as_millis().div_ceil(1000).max(1) as u64
}
