#![doc = include_str!("../README.md")]

pub mod account;
pub mod errors;
pub mod limits;
pub mod signature;

pub use account::{Account, AccountSid, ApiKeySid, AuthToken, Credentials, MessagingServiceSid};
pub use errors::{answer_kind, api_error, describe, error_kind};
pub use limits::{LimitError, MAX_SEND_DIGITS, MAX_TWIML};
pub use signature::{SignatureError, compute_signature, parse_form, signature_is_valid};

/// A Twilio setting refused when a backend is configured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Not `AC` and 32 hexadecimal digits.
    #[error("an account SID is AC followed by 32 hexadecimal digits")]
    InvalidAccountSid,
    /// Not `MG` and 32 hexadecimal digits.
    #[error("a Messaging Service SID is MG followed by 32 hexadecimal digits")]
    InvalidMessagingServiceSid,
    /// Not `SK` and 32 hexadecimal digits.
    #[error("an API key SID is SK followed by 32 hexadecimal digits")]
    InvalidApiKeySid,
    /// An auth token or API key secret that is empty or holds a line break or control
    /// character (it could not go in a header).
    #[error("the auth token or API key secret is empty or malformed")]
    InvalidSecret,
    /// A callback URL that is not an absolute http(s) URL with a host.
    #[error("a callback URL is an absolute http or https URL with a host")]
    InvalidCallbackUrl,
    /// Twilio refuses callback URLs whose host name has an underscore.
    #[error("Twilio refuses a callback URL with an underscore in its host name")]
    UnderscoreInCallbackHost,
    /// A setting that makes every request break one of Twilio's limits.
    #[error(transparent)]
    Limit(#[from] LimitError),
    /// The HTTP client could not be built.
    #[error("the HTTP client could not be built")]
    HttpClient,
}
