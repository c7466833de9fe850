//! The sms method of `mfa` (in progress).
