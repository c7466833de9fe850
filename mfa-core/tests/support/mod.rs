//! A store wrapper for tests: it can go down, and it can make concurrent requests
//! read the same snapshot.

#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use mfa_core::challenge::Challenge;
use mfa_core::store::{Failures, RecordedFailure, Removal, WindowCount};
use mfa_core::{
    ChallengeId, ChallengeStatus, CodeHash, MemoryStore, MethodId, MethodRecord, Store, StoreError,
    Timestamp, UserId,
};
use tokio::sync::Barrier;

/// A store that fails every write-after-read step once `down` is set, as a database
/// that goes away in the middle of a journey.
///
/// It can also hold the first `n` challenge reads at a barrier until all `n` have
/// read, so `n` concurrent requests all act on the same (soon stale) snapshot.
#[derive(Debug, Clone, Default)]
pub struct FlakyStore {
    inner: MemoryStore,
    /// Set to make every write fail.
    pub down: Arc<AtomicBool>,
    stall: Option<Arc<(Barrier, AtomicUsize, usize, AtomicBool)>>,
    approve_delay: Duration,
}

impl FlakyStore {
    /// A store whose first `n` challenge reads after [`FlakyStore::arm`] wait for
    /// each other.
    pub fn stalling_reads(n: usize) -> Self {
        FlakyStore {
            stall: Some(Arc::new((
                Barrier::new(n),
                AtomicUsize::new(0),
                n,
                AtomicBool::new(false),
            ))),
            ..FlakyStore::default()
        }
    }

    /// Makes every approval wait `by` first, so racing requests act in between.
    pub fn slow_approvals(mut self, by: Duration) -> Self {
        self.approve_delay = by;
        self
    }

    /// Starts holding reads at the barrier.
    pub fn arm(&self) {
        if let Some(stall) = &self.stall {
            stall.3.store(true, Ordering::SeqCst);
        }
    }

    fn check(&self) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            Err(StoreError::unavailable("connection refused"))
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl Store for FlakyStore {
    async fn methods(&self, user: &UserId) -> Result<Vec<MethodRecord>, StoreError> {
        self.inner.methods(user).await
    }
    async fn insert_method(&self, user: &UserId, record: MethodRecord) -> Result<(), StoreError> {
        self.check()?;
        self.inner.insert_method(user, record).await
    }
    async fn activate_method(
        &self,
        user: &UserId,
        id: &MethodId,
        d: bool,
    ) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.activate_method(user, id, d).await
    }
    async fn remove_method(
        &self,
        user: &UserId,
        id: &MethodId,
        l: bool,
    ) -> Result<Removal, StoreError> {
        self.check()?;
        self.inner.remove_method(user, id, l).await
    }
    async fn set_default(&self, user: &UserId, id: &MethodId) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.set_default(user, id).await
    }
    async fn block_method(&self, user: &UserId, id: &MethodId) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.block_method(user, id).await
    }
    async fn remove_all_methods(&self, user: &UserId) -> Result<(), StoreError> {
        self.check()?;
        self.inner.remove_all_methods(user).await
    }
    async fn app_step(&self, user: &UserId, id: &MethodId) -> Result<Option<u64>, StoreError> {
        self.inner.app_step(user, id).await
    }
    async fn advance_app_step(
        &self,
        user: &UserId,
        id: &MethodId,
        step: u64,
    ) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.advance_app_step(user, id, step).await
    }
    async fn insert_challenge(&self, c: Challenge) -> Result<(), StoreError> {
        self.check()?;
        self.inner.insert_challenge(c).await
    }
    async fn challenge(&self, id: &ChallengeId) -> Result<Option<Challenge>, StoreError> {
        let read = self.inner.challenge(id).await;
        if let Some(stall) = &self.stall {
            let (barrier, reads, n, armed) = &**stall;
            if armed.load(Ordering::SeqCst) && reads.fetch_add(1, Ordering::SeqCst) < *n {
                barrier.wait().await;
            }
        }
        read
    }
    async fn record_failure(
        &self,
        id: &ChallengeId,
        now: Timestamp,
    ) -> Result<Option<RecordedFailure>, StoreError> {
        self.check()?;
        self.inner.record_failure(id, now).await
    }
    async fn approve(&self, id: &ChallengeId, g: u32, now: Timestamp) -> Result<bool, StoreError> {
        self.check()?;
        if !self.approve_delay.is_zero() {
            tokio::time::sleep(self.approve_delay).await;
        }
        self.inner.approve(id, g, now).await
    }
    async fn replace_code(
        &self,
        id: &ChallengeId,
        g: u32,
        h: Option<CodeHash>,
        e: Timestamp,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.replace_code(id, g, h, e, now).await
    }
    async fn close_challenge(
        &self,
        id: &ChallengeId,
        from: &[ChallengeStatus],
        to: ChallengeStatus,
    ) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.close_challenge(id, from, to).await
    }
    async fn hit(&self, key: &str, w: Duration, now: Timestamp) -> Result<WindowCount, StoreError> {
        self.check()?;
        self.inner.hit(key, w, now).await
    }
    async fn record_user_failure(
        &self,
        user: &UserId,
        now: Timestamp,
    ) -> Result<Failures, StoreError> {
        self.check()?;
        self.inner.record_user_failure(user, now).await
    }
    async fn user_failures(&self, user: &UserId) -> Result<Failures, StoreError> {
        self.inner.user_failures(user).await
    }
    async fn clear_user_failures(&self, user: &UserId) -> Result<(), StoreError> {
        self.check()?;
        self.inner.clear_user_failures(user).await
    }
    async fn replace_recovery_codes(
        &self,
        user: &UserId,
        h: Vec<CodeHash>,
    ) -> Result<(), StoreError> {
        self.check()?;
        self.inner.replace_recovery_codes(user, h).await
    }
    async fn consume_recovery_code(
        &self,
        user: &UserId,
        h: &CodeHash,
    ) -> Result<Option<usize>, StoreError> {
        self.check()?;
        self.inner.consume_recovery_code(user, h).await
    }
}
