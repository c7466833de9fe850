//! What the tests share: the usual world (`Mfa` over memory backends on a manual
//! clock, in `world`), and a store wrapper that can go down and can make concurrent
//! requests read the same snapshot.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

mod world;
#[allow(unused_imports)] // not every test file uses the world
pub use world::*;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use mfa_core::store::{Commit, Versioned, WindowCount, WindowHit};
use mfa_core::{MemoryStore, Store, StoreError, Timestamp, UserId, UserRecord, Version};
use tokio::sync::Barrier;

/// A store that fails every write once `down` is set, as a database that goes away
/// in the middle of a journey.
///
/// It can also hold the first `n` loads after [`FlakyStore::arm`] at a barrier until
/// all `n` have loaded, so `n` concurrent requests all decide on the same (soon
/// stale) record, and it can make every commit wait, so racing requests act in between.
#[derive(Debug, Clone, Default)]
pub struct FlakyStore {
    inner: MemoryStore,
    /// Set to make every write fail.
    pub down: Arc<AtomicBool>,
    stall: Option<Arc<(Barrier, AtomicUsize, usize, AtomicBool)>>,
    commit_delay: Duration,
    /// Commits that lost the compare-and-set.
    pub conflicts: Arc<AtomicUsize>,
}

impl FlakyStore {
    /// A store whose first `n` loads after [`FlakyStore::arm`] wait for each other.
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

    /// Makes every commit wait `by` first, so racing requests act in between.
    pub fn slow_commits(mut self, by: Duration) -> Self {
        self.commit_delay = by;
        self
    }

    /// Starts holding loads at the barrier.
    pub fn arm(&self) {
        if let Some(stall) = &self.stall {
            stall.3.store(true, Ordering::SeqCst);
        }
    }

    /// The wrapped memory store.
    pub fn inner(&self) -> &MemoryStore {
        &self.inner
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
    async fn load(&self, user: &UserId) -> Result<Option<Versioned>, StoreError> {
        let read = self.inner.load(user).await;
        if let Some(stall) = &self.stall {
            let (barrier, reads, n, armed) = &**stall;
            if armed.load(Ordering::SeqCst) && reads.fetch_add(1, Ordering::SeqCst) < *n {
                barrier.wait().await;
            }
        }
        read
    }
    async fn commit(
        &self,
        user: &UserId,
        expected: Option<Version>,
        record: UserRecord,
    ) -> Result<Commit, StoreError> {
        self.check()?;
        if !self.commit_delay.is_zero() {
            tokio::time::sleep(self.commit_delay).await;
        }
        let commit = self.inner.commit(user, expected, record).await?;
        if commit == Commit::Conflict {
            self.conflicts.fetch_add(1, Ordering::SeqCst);
        }
        Ok(commit)
    }
    async fn hit(
        &self,
        hits: &[WindowHit<'_>],
        now: Timestamp,
    ) -> Result<Vec<WindowCount>, StoreError> {
        self.check()?;
        self.inner.hit(hits, now).await
    }
    async fn purge(&self, now: Timestamp) -> Result<u64, StoreError> {
        self.inner.purge(now).await
    }
    fn is_durable(&self) -> bool {
        false
    }
}
