//! Typed errors. None of them ever carries a code or a secret.

use std::time::Duration;

use crate::delivery::DeliveryError;

/// Everything that can go wrong in the library.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The caller's input is malformed.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The policy refuses the request.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The request is not valid in the challenge's or enrollment's current state.
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// Sending a code or placing a call failed; nothing is left to answer.
    #[error(transparent)]
    Delivery(#[from] DeliveryError),
    /// The first call of a challenge was not answered, was busy, was hung up before a
    /// key or went silent. The challenge stays pending: [`crate::Mfa::resend`] calls again.
    #[error("the call was not completed ({error}); call again or choose another method")]
    CallNotCompleted {
        /// The challenge, still pending.
        challenge_id: crate::method::ChallengeId,
        /// What the call ended with.
        error: DeliveryError,
    },
    /// The store failed; the answer is "not verified".
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The named thing does not exist (or belongs to another user).
    #[error("unknown {0}")]
    NotFound(Missing),
    /// The method needs a backend that was not configured on [`crate::Mfa`].
    #[error("no {0} is configured")]
    NotConfigured(Missing),
    /// The passkey verifier failed; the answer is "not verified".
    #[error(transparent)]
    Passkey(#[from] crate::passkey::PasskeyError),
}

/// What [`Error::NotFound`] and [`Error::NotConfigured`] name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Missing {
    /// A challenge of this user.
    Challenge,
    /// A method of this user.
    Method,
    /// An active method to sign in with.
    EnrolledMethod,
    /// The SMS backend.
    SmsDelivery,
    /// The voice backend.
    VoiceDelivery,
    /// The authenticator-app verifier.
    AppVerifier,
    /// A remembered device of this user.
    Device,
    /// The email backend.
    EmailDelivery,
    /// A Temporary Access Pass of this user.
    AccessPass,
    /// The hardware-token verifier.
    TokenVerifier,
    /// The passkey (WebAuthn) verifier.
    PasskeyVerifier,
    /// A hardware token in the inventory.
    HardwareToken,
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Missing::Challenge => "challenge",
            Missing::Method => "method",
            Missing::EnrolledMethod => "enrolled method",
            Missing::SmsDelivery => "SMS delivery",
            Missing::VoiceDelivery => "voice delivery",
            Missing::AppVerifier => "authenticator app verifier",
            Missing::Device => "remembered device",
            Missing::EmailDelivery => "email delivery",
            Missing::AccessPass => "temporary access pass",
            Missing::TokenVerifier => "hardware token verifier",
            Missing::PasskeyVerifier => "passkey verifier",
            Missing::HardwareToken => "hardware token",
        })
    }
}

/// What a send limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LimitScope {
    /// Sends to one phone number.
    Destination,
    /// Sends to one user's phones.
    User,
    /// Sends to one country calling code.
    Country,
    /// Sends asked for from one client address.
    ClientAddress,
    /// Sends to one email address.
    EmailAddress,
}

impl std::fmt::Display for LimitScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LimitScope::Destination => "number",
            LimitScope::User => "user",
            LimitScope::Country => "country",
            LimitScope::ClientAddress => "client address",
            LimitScope::EmailAddress => "email address",
        })
    }
}

impl Error {
    /// Whether trying again later may succeed (transient delivery or store failure, rate limit).
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Delivery(e) | Error::CallNotCompleted { error: e, .. } => e.is_transient(),
            Error::Store(e) => e.is_transient(),
            Error::Policy(p) => p.retry_after().is_some(),
            _ => false,
        }
    }
}

/// Malformed input. Never a panic, whatever the size or content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// The user id is empty.
    #[error("the user id is empty")]
    EmptyUserId,
    /// The user id is longer than allowed.
    #[error("the user id is longer than {max} bytes")]
    UserIdTooLong {
        /// The limit in bytes.
        max: usize,
    },
    /// The user id holds a control character.
    #[error("the user id contains a control character")]
    UserIdControlCharacter,
    /// The username is not in the form `user@domain`.
    #[error("the user name must be written as user@domain: {0}")]
    UsernameForm(&'static str),
    /// A number was given without `+` and a country calling code.
    #[error("the phone number needs a country code, such as +47")]
    MissingCountryCode,
    /// The phone number cannot be parsed or is not valid.
    #[error("invalid phone number: {0}")]
    InvalidPhoneNumber(&'static str),
    /// The office extension is not 1 to 10 digits.
    #[error("an extension is 1 to 10 digits")]
    InvalidExtension,
    /// The code holds something other than digits, spaces and dashes.
    #[error("a code has digits only")]
    CodeNotDigits,
    /// The code has the wrong number of digits.
    #[error("a code has {expected} digits")]
    CodeLength {
        /// The expected number of digits.
        expected: usize,
    },
    /// A recovery code is malformed.
    #[error("a recovery code has 24 letters and digits")]
    InvalidRecoveryCode,
    /// A setting is out of its allowed range.
    #[error("invalid setting: {0}")]
    InvalidSetting(&'static str),
    /// The email address is malformed; says why, never repeats the address.
    #[error("invalid email address: {0}")]
    InvalidEmailAddress(&'static str),
    /// A Temporary Access Pass is malformed.
    #[error("a temporary access pass has 24 letters and digits")]
    InvalidAccessPass,
    /// A method's name is empty, too long or holds control characters.
    #[error("a method's name has 1 to 64 characters and no control characters")]
    InvalidMethodName,
    /// A hardware token's serial is empty, too long or holds other than letters,
    /// digits, `-`, `_`, `.` and `:`.
    #[error("a token serial has 1 to 64 letters, digits, '-', '_', '.' or ':'")]
    InvalidTokenSerial,
    /// The browser's answer to a passkey ceremony is not a WebAuthn response.
    #[error("the browser's answer is not a WebAuthn response")]
    InvalidPasskeyResponse,
    /// A second method of this kind needs a name, to tell it from the first.
    #[error("give this method a name, to tell it from the one already set up")]
    MethodNameRequired,
}

/// Refusals by policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// Sending to this country calling code is not allowed.
    #[error("phone numbers with country code +{country_code} are not allowed")]
    CountryNotAllowed {
        /// The refused country calling code.
        country_code: u16,
    },
    /// Premium-rate numbers are never called or texted.
    #[error("premium-rate numbers cannot be used")]
    PremiumRate,
    /// An SMS cannot reach this kind of line.
    #[error("this number cannot receive SMS; choose a call or the authenticator app")]
    NotSmsCapable,
    /// Too many sends in the window for the named scope.
    #[error("too many codes sent to this {scope}; try again in {} s", retry_after.as_secs())]
    RateLimited {
        /// What was limited.
        scope: LimitScope,
        /// When the window reopens.
        retry_after: Duration,
    },
    /// A new code was asked for before the cooldown passed.
    #[error("wait {} s before asking for a new code", retry_after.as_secs())]
    ResendTooSoon {
        /// How long to wait.
        retry_after: Duration,
    },
    /// The challenge has used up its sends.
    #[error("no more codes can be sent for this challenge; start again")]
    TooManySends,
    /// The user failed too often and must wait or be reset.
    #[error("too many failed attempts; try again later")]
    UserLocked {
        /// How long to wait; `None` when an administrator must reset the user.
        retry_after: Option<Duration>,
    },
    /// Removing the last method needs an explicit reset.
    #[error("the last method cannot be removed; reset the user instead")]
    LastMethod,
    /// Changing methods needs a recent second-factor sign-in.
    #[error("sign in again with a second factor to change security settings")]
    ReauthenticationRequired,
    /// The method is already enrolled.
    #[error("this method is already set up")]
    AlreadyEnrolled,
    /// A shared-cost, UAN, pager or unknown kind of number: neither texted nor called.
    #[error(
        "this kind of number cannot be used; choose a mobile or fixed-line number or the authenticator app"
    )]
    UnsupportedNumber,
    /// A fraud report suspended changes to this user's factors.
    #[error(
        "security settings are locked after a fraud report; sign in with a recovery code or ask an administrator"
    )]
    Suspended,
    /// The user has as many methods as a user may have.
    #[error("no more methods can be added; remove one first")]
    TooManyMethods,
    /// The user has as many methods of this kind as the policy allows.
    #[error("no more methods of this kind can be added (at most {max}); remove one first")]
    TooManyOfKind {
        /// The kind.
        kind: crate::method::MethodKind,
        /// The most the policy allows.
        max: usize,
    },
    /// Another of the user's methods already has this name.
    #[error("another method already has this name")]
    NameTaken,
    /// Building an `Mfa` over a durable store needs the code key every server shares.
    #[error("a durable store needs the code key shared by every server: set MfaBuilder::code_key")]
    CodeKeyRequired,
    /// Email codes are off: NIST SP 800-63B does not accept email for out-of-band
    /// codes, so [`Policy::allow_email`](crate::Policy::allow_email) must turn them on.
    #[error("codes by email are not allowed; choose the authenticator app or a phone")]
    EmailNotAllowed,
    /// The user holds as many usable Temporary Access Passes as the policy allows.
    #[error("this user already holds a temporary access pass; revoke it first")]
    TooManyAccessPasses,
    /// The hardware token is assigned to a user (another one, for an assignment):
    /// unassign it first.
    #[error("this hardware token is assigned to a user; unassign it first")]
    TokenAssigned,
    /// The hardware token was retired: it is never assigned again.
    #[error("this hardware token was retired")]
    TokenRetired,
}

impl PolicyError {
    /// How long until the request may succeed, for the refusals that pass with time.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            PolicyError::RateLimited { retry_after, .. } => Some(*retry_after),
            PolicyError::ResendTooSoon { retry_after } => Some(*retry_after),
            PolicyError::UserLocked { retry_after } => *retry_after,
            _ => None,
        }
    }
}

/// An event that is not valid in the current state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{event} is not valid while {state}")]
pub struct TransitionError {
    /// The state, named for what it waits for.
    pub state: &'static str,
    /// The event that was refused.
    pub event: &'static str,
}

/// A store failure. The driver answers "not verified" on any of them.
#[derive(Debug, Clone, thiserror::Error)]
#[error("store error ({kind:?}): {message}")]
pub struct StoreError {
    kind: StoreErrorKind,
    message: String,
}

/// What kind of store failure happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreErrorKind {
    /// The store cannot be reached or timed out.
    Unavailable,
    /// The stored data cannot be read back (corrupt, undecryptable, wrong version).
    Corrupt,
    /// Anything else.
    Other,
}

impl StoreError {
    /// A store error of the given kind. The message must not contain secrets.
    pub fn new(kind: StoreErrorKind, message: impl Into<String>) -> Self {
        StoreError {
            kind,
            message: message.into(),
        }
    }

    /// The store cannot be reached.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StoreErrorKind::Unavailable, message)
    }

    /// The stored data is unreadable.
    pub fn corrupt(message: impl Into<String>) -> Self {
        Self::new(StoreErrorKind::Corrupt, message)
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> StoreErrorKind {
        self.kind
    }

    /// Whether a retry may succeed.
    pub fn is_transient(&self) -> bool {
        self.kind == StoreErrorKind::Unavailable
    }
}
