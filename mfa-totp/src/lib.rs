#![doc = include_str!("../README.md")]

mod algorithm;
mod cached;
mod error;
mod hotp;
mod keyed;
#[cfg(feature = "qr")]
mod qr;
mod secret;
mod seed;
mod sha1_lanes;
mod tokens;
mod totp;
mod uri;

pub use algorithm::Algorithm;
pub use cached::TotpVerifier;
pub use error::{ConfigError, SecretError, VerifyError};
pub use hotp::{
    DEFAULT_LOOK_AHEAD, DEFAULT_RESYNC_WINDOW, Hotp, MAX_HOTP_DIGITS, MAX_HOTP_WINDOW, MIN_DIGITS,
};
pub use keyed::{HMAC_BATCH, PreparedKey};
pub use mfa_core::AppMatch;
#[cfg(feature = "qr")]
pub use qr::{KeyQr, QrError, TerminalBackground};
pub use secret::{
    DEFAULT_SECRET_BITS, MAX_SECRET_BYTES, MIN_GENERATED_BITS, SHORT_SECRET_BITS, Secret,
};
pub use seed::{
    MAX_SEED_ERRORS, MAX_SEED_FILE_BYTES, MAX_SEED_TOKENS, MIN_SEED_BITS, SeedFile, SeedFileError,
    SeedLineError, SeedProblem, TokenKind, TokenSeed, parse_seed_file,
};
pub use tokens::{DEFAULT_TOTP_RESYNC_WINDOW, OathTokens};
pub use totp::{MAX_PERIOD_SECS, MAX_TOTP_DIGITS, MAX_TOTP_WINDOW, Totp};
pub use uri::{KeyUri, MAX_URI_LEN, OtpKind, UriError};
