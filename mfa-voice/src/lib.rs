//! The voice method of `mfa` (in progress).
