//! What opening a store does with data written by mfa v1.
//!
//! v1 kept methods, challenges, failures and recovery codes in separate tables (or
//! Redis keys) with user ids and phone numbers in clear; v2 keeps one sealed record
//! per user. v2 does not convert v1 data: the two models decide differently (v1's
//! challenges and windows would not mean the same thing in a v2 record) and a
//! half-converted user is worse than a user who enrolls again. So a store holding v1
//! data refuses to open, and says what to do, unless the caller opts in.

use std::fmt;

use mfa_core::{StoreError, StoreErrorKind};

/// The tables mfa v1 created, in SQLite and PostgreSQL alike.
pub(crate) const V1_TABLES: &[&str] = &[
    "mfa_methods",
    "mfa_app_steps",
    "mfa_challenges",
    "mfa_windows",
    "mfa_user_failures",
    "mfa_recovery_codes",
];

/// What to do on finding mfa v1 data when opening a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum V1Data {
    /// Refuse to open with [`OpenError::V1Data`] (the default).
    #[default]
    Refuse,
    /// Open anyway and leave the v1 data where it is, untouched and unread: every
    /// user enrolls again. The v2 tables (`mfa_user_records`, `mfa_rate_windows`) or
    /// keys (`PREFIX{…}`) do not collide with v1's. Drop the v1 data when you are
    /// done with it (it holds user ids and phone numbers in clear). Once a database
    /// has been opened this way it is at schema version 2 and opens without it.
    LeaveUnread,
}

/// mfa v1 data found where a v2 store was opened.
#[derive(Clone, PartialEq, Eq)]
pub struct V1Found {
    /// Where: v1 table names, or v1 Redis key patterns.
    pub found: Vec<String>,
}

impl fmt::Display for V1Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "this store holds mfa v1 data ({}); mfa v2 cannot read it and does not \
             convert it. Either drop that data (every user then enrolls again), or \
             open with V1Data::LeaveUnread to keep it untouched beside the v2 data \
             (users enroll again too)",
            self.found.join(", ")
        )
    }
}

impl fmt::Debug for V1Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("V1Found")
            .field("found", &self.found)
            .finish()
    }
}

/// Why a store did not open.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The database or server holds mfa v1 data (see [`V1Data`]).
    #[error("{0}")]
    V1Data(V1Found),
    /// The store could not be reached, or its schema is newer than this build.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// For callers that treat every store failure alike (`?` into `mfa_core::Error`).
impl From<OpenError> for StoreError {
    fn from(e: OpenError) -> Self {
        match e {
            OpenError::Store(e) => e,
            v1 @ OpenError::V1Data(_) => StoreError::new(StoreErrorKind::Other, v1.to_string()),
        }
    }
}
