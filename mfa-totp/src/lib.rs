//! The totp method of `mfa` (in progress).
