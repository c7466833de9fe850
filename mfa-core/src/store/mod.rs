//! The [`Store`] contract: load a user's record, commit it if its version is
//! unchanged, count a hit in a window shared across users, purge.
//!
//! No rule lives in a store. The machine decides on the whole record and the store
//! only guarantees that a commit made from version `v` lands only if the record is
//! still at `v`; the driver then loads again and decides again. Counters shared by
//! many users (sends per destination, per country, per client address) are separate
//! atomic windows.

#[cfg(feature = "test-suite")]
pub mod conformance;
mod memory;

pub use memory::MemoryStore;

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;

use crate::clock::Timestamp;
use crate::error::StoreError;
use crate::record::{UserRecord, Version};
use crate::user::UserId;

/// A record as loaded, with the version a commit must name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned {
    /// The version in the store.
    pub version: Version,
    /// The record.
    pub record: UserRecord,
}

/// What [`Store::commit`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Commit {
    /// The record is stored at this new version.
    Committed(Version),
    /// The record changed since it was loaded (or, for a first commit, it exists
    /// already): nothing was written. Load again and decide again.
    Conflict,
}

/// One counter to bump in [`Store::hit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowHit<'a> {
    /// The counter's key (a keyed hash: no number or address in clear).
    pub key: &'a str,
    /// The window's length.
    pub window: Duration,
}

/// A fixed-window counter's state after a hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowCount {
    /// Hits in the current window, this one included.
    pub count: u32,
    /// When the window closes.
    pub resets_at: Timestamp,
}

/// Persistent state. Implementations must pass
/// [`conformance`](crate::store) (feature `test-suite`).
#[async_trait]
pub trait Store: Send + Sync + fmt::Debug {
    /// The user's record and its version; `None` when the user has none.
    async fn load(&self, user: &UserId) -> Result<Option<Versioned>, StoreError>;

    /// Stores `record` if the stored version is still `expected` (`None`: if the
    /// user has no record yet) and returns the new version; otherwise writes
    /// nothing and returns [`Commit::Conflict`]. A store may forget the record after
    /// [`UserRecord::expires_at`], and not before: `Mfa` relies on a record it
    /// committed outliving that commit by [`RETENTION`](crate::record::RETENTION). The record is handed over, so a store that keeps
    /// values keeps it without a copy.
    async fn commit(
        &self,
        user: &UserId,
        expected: Option<Version>,
        record: UserRecord,
    ) -> Result<Commit, StoreError>;

    /// Counts one hit on each counter, in one step, and returns their counts in order.
    async fn hit(
        &self,
        hits: &[WindowHit<'_>],
        now: Timestamp,
    ) -> Result<Vec<WindowCount>, StoreError>;

    /// Forgets records past [`UserRecord::expires_at`] and closed windows; returns
    /// how many entries went.
    async fn purge(&self, now: Timestamp) -> Result<u64, StoreError>;

    /// Whether the data outlives the process (or is shared with other processes).
    /// An `Mfa` over a durable store must be given its code key, so a restart or a
    /// second server checks the same codes.
    fn is_durable(&self) -> bool {
        true
    }

    /// A store that keeps its records in this process may let a decision run on the
    /// stored record itself ([`InPlace`]), so a request copies no record out and none
    /// back. `None`, the default: every request loads and commits.
    fn in_place(&self) -> Option<&dyn InPlace> {
        None
    }
}

/// Decides on a stored record where it lies, under the lock that orders its commits.
///
/// For stores that hold records in process memory ([`MemoryStore`]): copying a user's
/// record out for a decision and the next one back in is most of what a load and a
/// commit cost there. Version rules are the same as [`Store::commit`]'s, so requests
/// that load and commit can run beside decisions made in place.
pub trait InPlace: Send + Sync {
    /// Calls `decide` with the user's record, under the lock, and returns `true`; or
    /// returns `false` without calling it if the user has no record.
    ///
    /// When `decide` returns `true`, the record as it left it is the next version, as
    /// if committed. When it returns `false`, it must have left the record as it found
    /// it (or only [pruned](UserRecord::prune) it): the version stays.
    fn decide_in_place(
        &self,
        user: &UserId,
        decide: &mut dyn FnMut(&mut UserRecord) -> bool,
    ) -> bool;
}
