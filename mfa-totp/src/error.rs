//! Typed errors. None of them carries a secret or a code.

use mfa_core::InputError;

/// A secret that cannot be made or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// The secret has no bytes.
    #[error("the secret is empty")]
    Empty,
    /// A generated secret must have at least 128 bits.
    #[error("a generated secret needs at least {min_bits} bits")]
    TooShort {
        /// The least allowed.
        min_bits: usize,
    },
    /// The secret is longer than any app accepts.
    #[error("a secret has at most {max_bytes} bytes")]
    TooLong {
        /// The most allowed.
        max_bytes: usize,
    },
    /// Generated secrets are whole bytes.
    #[error("a generated secret is a whole number of bytes")]
    NotWholeBytes,
    /// The text is not base32 (RFC 4648 alphabet: A-Z and 2-7).
    #[error("the secret is not valid base32")]
    InvalidBase32,
}

/// A setting out of its range, or a parameters text that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The algorithm name is not SHA1, SHA256 or SHA512.
    #[error("unknown algorithm; use SHA1, SHA256 or SHA512")]
    UnknownAlgorithm,
    /// The number of digits is outside the allowed range.
    #[error("codes have {min} to {max} digits")]
    Digits {
        /// The fewest allowed.
        min: u8,
        /// The most allowed.
        max: u8,
    },
    /// The period is zero or too long.
    #[error("the period is 1 s to 1 day")]
    Period,
    /// A window is wider than allowed.
    #[error("a window has at most {max} steps")]
    Window {
        /// The most allowed.
        max: u32,
    },
    /// A stored parameters text is malformed.
    #[error("malformed credential parameters")]
    Parameters,
    /// A generated secret's size is out of range.
    #[error(transparent)]
    Secret(#[from] SecretError),
}

/// Why a code could not be checked at all (a wrong code is not an error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The code has the wrong number of digits.
    #[error("a code has {expected} digits")]
    CodeLength {
        /// The credential's number of digits.
        expected: usize,
    },
    /// The time is before the credential's T0.
    #[error("the time is before the start of the time steps")]
    BeforeStart,
    /// The prepared key belongs to another algorithm.
    #[error("the prepared key is for another algorithm")]
    KeyAlgorithm,
}

impl From<VerifyError> for InputError {
    fn from(e: VerifyError) -> Self {
        match e {
            VerifyError::CodeLength { expected } => InputError::CodeLength { expected },
            VerifyError::BeforeStart => InputError::InvalidSetting("time before T0"),
            VerifyError::KeyAlgorithm => InputError::InvalidSetting("prepared key algorithm"),
        }
    }
}

impl From<ConfigError> for InputError {
    fn from(e: ConfigError) -> Self {
        InputError::InvalidSetting(match e {
            ConfigError::UnknownAlgorithm => "unknown TOTP algorithm",
            ConfigError::Digits { .. } => "TOTP digits out of range",
            ConfigError::Period => "TOTP period out of range",
            ConfigError::Window { .. } => "TOTP window too wide",
            ConfigError::Parameters => "malformed TOTP parameters",
            ConfigError::Secret(SecretError::InvalidBase32) => "TOTP secret is not base32",
            ConfigError::Secret(SecretError::Empty) => "TOTP secret is empty",
            ConfigError::Secret(_) => "TOTP secret size out of range",
        })
    }
}

impl From<SecretError> for InputError {
    fn from(e: SecretError) -> Self {
        InputError::from(ConfigError::Secret(e))
    }
}
