#![doc = include_str!("../README.md")]
//! The facade: re-exports `mfa-core` and, by feature, the channel crates.

pub use mfa_core::*;

/// The authenticator-app method (feature `totp`).
#[cfg(feature = "totp")]
pub use mfa_totp as totp;

/// The SMS channel (feature `sms`).
#[cfg(feature = "sms")]
pub use mfa_sms as sms;

/// The voice channel (feature `voice`).
#[cfg(feature = "voice")]
pub use mfa_voice as voice;

/// Persistent stores: SQLite, PostgreSQL and Redis (features `sqlite`, `postgres`, `redis`).
/// What the Twilio SMS and voice backends share: the account, credentials, error
/// codes, signatures and limits.
#[cfg(any(feature = "twilio", feature = "twilio-voice"))]
pub use mfa_twilio as twilio;

#[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
pub use mfa_store as stores;

/// The email channel (feature `email`; its SMTP backend with feature `smtp`).
#[cfg(feature = "email")]
pub use mfa_email as email;
/// The guide's pages as an axum router, with half-signed-in sessions (feature `web`).
#[cfg(feature = "web")]
pub use mfa_web as web;
