//! The [`Store`] trait: atomic operations, not get/put, so every guarantee holds with
//! many servers and many concurrent requests.

#[cfg(feature = "test-suite")]
pub mod conformance;
mod memory;

pub use memory::MemoryStore;

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;

use crate::challenge::{Challenge, ChallengeStatus};
use crate::clock::Timestamp;
use crate::code::CodeHash;
use crate::error::StoreError;
use crate::method::{ChallengeId, MethodId, MethodRecord};
use crate::user::UserId;

/// What [`Store::remove_method`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// The method is gone.
    Removed,
    /// No such method for this user.
    NotFound,
    /// It is the user's last active method and `allow_last` was false.
    LastMethod,
}

/// A fixed-window counter's state after a hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowCount {
    /// Hits in the current window, this one included.
    pub count: u32,
    /// When the window closes.
    pub resets_at: Timestamp,
}

/// What [`Store::record_failure`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedFailure {
    /// The challenge as it is afterwards.
    pub challenge: Challenge,
    /// Whether this call counted an attempt (false when the challenge no longer takes codes).
    pub counted: bool,
}

/// A user's consecutive failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Failures {
    /// How many in a row.
    pub count: u32,
    /// When the last one happened.
    pub last_at: Option<Timestamp>,
}

/// Persistent state. Every method is one atomic step; implementations must pass
/// [`conformance`](crate::store) (feature `test-suite`).
#[async_trait]
pub trait Store: Send + Sync + fmt::Debug {
    /// The user's methods, pending and active.
    async fn methods(&self, user: &UserId) -> Result<Vec<MethodRecord>, StoreError>;

    /// Adds a method record.
    async fn insert_method(&self, user: &UserId, record: MethodRecord) -> Result<(), StoreError>;

    /// Makes a pending method active. With `make_default` (or when the user has no
    /// other active method) it becomes the only default. When the record replaces
    /// another method, that one is removed in the same step and its default passes on.
    /// Returns false when there is no such pending method.
    async fn activate_method(
        &self,
        user: &UserId,
        id: &MethodId,
        make_default: bool,
    ) -> Result<bool, StoreError>;

    /// Removes a method; refuses the last active one unless `allow_last`.
    /// When the default goes, the oldest remaining active method becomes default.
    async fn remove_method(
        &self,
        user: &UserId,
        id: &MethodId,
        allow_last: bool,
    ) -> Result<Removal, StoreError>;

    /// Makes an active method the only default. False when there is no such active method.
    async fn set_default(&self, user: &UserId, id: &MethodId) -> Result<bool, StoreError>;

    /// Blocks an active method (after a fraud report): it stays listed but cannot be
    /// used until removed. False when there is no such method.
    async fn block_method(&self, user: &UserId, id: &MethodId) -> Result<bool, StoreError>;

    /// Removes every method and recovery code (an administrator's reset).
    async fn remove_all_methods(&self, user: &UserId) -> Result<(), StoreError>;

    /// The last accepted app step of a method.
    async fn app_step(&self, user: &UserId, id: &MethodId) -> Result<Option<u64>, StoreError>;

    /// Moves the last accepted app step to `step` only if `step` is later.
    /// True when it moved: the code is accepted; false: a replay.
    async fn advance_app_step(
        &self,
        user: &UserId,
        id: &MethodId,
        step: u64,
    ) -> Result<bool, StoreError>;

    /// Stores a new challenge.
    async fn insert_challenge(&self, challenge: Challenge) -> Result<(), StoreError>;

    /// Reads a challenge.
    async fn challenge(&self, id: &ChallengeId) -> Result<Option<Challenge>, StoreError>;

    /// Counts one wrong attempt if the challenge is awaiting a code, unexpired and
    /// under its cap; at the cap it becomes `Locked`. Returns the challenge as it is
    /// afterwards (unchanged when nothing was counted) and whether this call counted,
    /// so concurrent callers can tell which of them used an attempt.
    async fn record_failure(
        &self,
        id: &ChallengeId,
        now: Timestamp,
    ) -> Result<Option<RecordedFailure>, StoreError>;

    /// Approves the challenge if it is awaiting, unexpired, under its cap and still at
    /// `generation`. True exactly once per challenge.
    async fn approve(
        &self,
        id: &ChallengeId,
        generation: u32,
        now: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Replaces the code of an awaiting challenge still at `generation`: the generation
    /// and send count go up, the attempt count stays. False when the guard fails.
    async fn replace_code(
        &self,
        id: &ChallengeId,
        generation: u32,
        hash: Option<CodeHash>,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Moves the challenge from one of `from` to `to`. True when it moved.
    async fn close_challenge(
        &self,
        id: &ChallengeId,
        from: &[ChallengeStatus],
        to: ChallengeStatus,
    ) -> Result<bool, StoreError>;

    /// Counts a hit on `key` in a fixed window of `window` and returns the count.
    async fn hit(
        &self,
        key: &str,
        window: Duration,
        now: Timestamp,
    ) -> Result<WindowCount, StoreError>;

    /// Counts one more consecutive failure of the user and returns the new state.
    async fn record_user_failure(
        &self,
        user: &UserId,
        now: Timestamp,
    ) -> Result<Failures, StoreError>;

    /// The user's consecutive failures.
    async fn user_failures(&self, user: &UserId) -> Result<Failures, StoreError>;

    /// Clears the user's consecutive failures (after a success or a reset).
    async fn clear_user_failures(&self, user: &UserId) -> Result<(), StoreError>;

    /// Replaces the user's recovery codes with a new set of keyed hashes.
    async fn replace_recovery_codes(
        &self,
        user: &UserId,
        hashes: Vec<CodeHash>,
    ) -> Result<(), StoreError>;

    /// Consumes the recovery code with this hash; returns the codes left, or `None`
    /// when no unused code matches.
    async fn consume_recovery_code(
        &self,
        user: &UserId,
        hash: &CodeHash,
    ) -> Result<Option<usize>, StoreError>;
}
