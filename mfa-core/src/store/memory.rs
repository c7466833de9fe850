//! The in-memory store: records behind sharded locks, so every commit is atomic.

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;

use super::{Commit, Store, Versioned, WindowCount, WindowHit};
use crate::clock::Timestamp;
use crate::error::StoreError;
use crate::record::{UserRecord, Version};
use crate::user::UserId;

const SHARDS: usize = 16;
/// Each shard sweeps itself after this many writes, so forgotten users and closed
/// windows are freed without a background task.
const SWEEP_EVERY: u32 = 256;

#[derive(Debug)]
struct Stored {
    version: Version,
    record: UserRecord,
    expires_at: Option<Timestamp>,
}

#[derive(Debug, Default)]
struct Shard {
    records: HashMap<UserId, Stored>,
    windows: HashMap<String, WindowCount>,
    writes: u32,
}

impl Shard {
    fn wrote(&mut self, now: Timestamp) {
        self.writes += 1;
        // Sweeping scans the shard, so it waits for writes in proportion to the
        // shard's size: constant work per write, and the dead never more than a
        // quarter of what is kept.
        let due = SWEEP_EVERY
            .max(u32::try_from((self.records.len() + self.windows.len()) / 4).unwrap_or(u32::MAX));
        if self.writes >= due {
            self.writes = 0;
            self.sweep(now);
        }
    }

    fn sweep(&mut self, now: Timestamp) -> u64 {
        let before = self.records.len() + self.windows.len();
        self.records
            .retain(|_, s| s.expires_at.is_none_or(|t| now < t));
        self.windows.retain(|_, w| now < w.resets_at);
        (before - self.records.len() - self.windows.len()) as u64
    }
}

/// Keeps everything in process memory; clones share the same data.
///
/// The default store: right for tests, development and single-process apps that
/// accept losing enrollments on restart. Bounded: records with nothing left in them
/// and closed windows are freed as the store is used.
#[derive(Clone, Default)]
pub struct MemoryStore {
    shards: Arc<[Mutex<Shard>; SHARDS]>,
}

impl std::fmt::Debug for MemoryStore {
    /// Counts only: the records hold personal data.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (mut users, mut windows) = (0, 0);
        for shard in self.shards.iter() {
            let shard = lock(shard);
            users += shard.records.len();
            windows += shard.windows.len();
        }
        f.debug_struct("MemoryStore")
            .field("users", &users)
            .field("rate_windows", &windows)
            .finish()
    }
}

fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    match shard.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

fn shard_of(key: &impl Hash) -> usize {
    let mut h = DefaultHasher::new();
    key.hash(&mut h);
    (h.finish() as usize) % SHARDS
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn shard(&self, key: &impl Hash) -> MutexGuard<'_, Shard> {
        lock(&self.shards[shard_of(key)])
    }

    /// How many user records and rate windows it holds (to check it stays bounded).
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                let s = lock(s);
                s.records.len() + s.windows.len()
            })
            .sum()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn load(&self, user: &UserId) -> Result<Option<Versioned>, StoreError> {
        Ok(self.shard(user).records.get(user).map(|s| Versioned {
            version: s.version,
            record: s.record.clone(),
        }))
    }

    async fn commit(
        &self,
        user: &UserId,
        expected: Option<Version>,
        record: UserRecord,
    ) -> Result<Commit, StoreError> {
        let mut shard = self.shard(user);
        let version = expected.unwrap_or(0) + 1;
        let now = record.updated_at;
        let stored = Stored {
            version,
            expires_at: record.expires_at(),
            record,
        };
        match (shard.records.get_mut(user), expected) {
            (Some(current), Some(v)) if current.version == v => *current = stored,
            (None, None) => {
                shard.records.insert(user.clone(), stored);
            }
            _ => return Ok(Commit::Conflict),
        }
        shard.wrote(now);
        Ok(Commit::Committed(version))
    }

    async fn hit(
        &self,
        hits: &[WindowHit<'_>],
        now: Timestamp,
    ) -> Result<Vec<WindowCount>, StoreError> {
        let mut counts = Vec::with_capacity(hits.len());
        for hit in hits {
            let mut shard = self.shard(&hit.key);
            let count = match shard.windows.get_mut(hit.key) {
                Some(w) if now < w.resets_at => {
                    w.count = w.count.saturating_add(1);
                    *w
                }
                _ => {
                    let w = WindowCount {
                        count: 1,
                        resets_at: now + hit.window,
                    };
                    shard.windows.insert(hit.key.to_owned(), w);
                    w
                }
            };
            shard.wrote(now);
            counts.push(count);
        }
        Ok(counts)
    }

    async fn purge(&self, now: Timestamp) -> Result<u64, StoreError> {
        Ok(self.shards.iter().map(|s| lock(s).sweep(now)).sum())
    }

    fn is_durable(&self) -> bool {
        false
    }
}
