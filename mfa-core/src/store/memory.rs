//! The in-memory store: records behind sharded locks, so every commit is atomic.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use hashbrown::HashTable;

use super::{Commit, InPlace, Store, Versioned, WindowCount, WindowHit};
use crate::clock::Timestamp;
use crate::error::StoreError;
use crate::record::{UserRecord, Version};
use crate::sync::lock;
use crate::user::UserId;

const SHARDS: usize = 16;
/// Each shard sweeps itself after this many writes, so forgotten users and closed
/// windows are freed without a background task.
const SWEEP_EVERY: u32 = 256;

#[derive(Debug)]
struct Stored {
    user: UserId,
    /// The user id's hash, kept so the table grows without hashing every id again.
    hash: u64,
    version: Version,
    record: UserRecord,
    expires_at: Option<Timestamp>,
}

/// One shard's records, in a table keyed by the hash that also picked the shard:
/// a request hashes its user id once (a `HashMap` would hash it a second time).
#[derive(Debug, Default)]
struct Shard {
    records: HashTable<Stored>,
    /// How many records may expire (`expires_at` set): a sweep scans the records
    /// only when some may, since a user with a method is kept for good.
    expiring: usize,
    windows: HashMap<String, WindowCount>,
    writes: u32,
}

impl Shard {
    fn record(&mut self, user: &UserId, hash: u64) -> Option<&mut Stored> {
        self.records.find_mut(hash, |s| s.user == *user)
    }

    /// Notes a change of a record's expiry in the count of those that may expire.
    fn expiry_changed(&mut self, was: Option<Timestamp>, now: Option<Timestamp>) {
        match (was.is_some(), now.is_some()) {
            (false, true) => self.expiring += 1,
            (true, false) => self.expiring -= 1,
            _ => {}
        }
    }

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
        if self.expiring > 0 {
            let mut gone = 0;
            self.records.retain(|s| {
                let keep = s.expires_at.is_none_or(|t| now < t);
                gone += usize::from(!keep);
                keep
            });
            self.expiring -= gone;
        }
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
    /// Keyed per store (SipHash, as `HashMap`'s), so user ids chosen to collide can
    /// neither pile into one shard nor into one probe sequence.
    hasher: std::collections::hash_map::RandomState,
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

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn hash(&self, key: &str) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The shard for a hash: four of its middle bits, since a table's buckets are
    /// chosen by its low bits and its probe tags are its top seven.
    fn shard(&self, hash: u64) -> MutexGuard<'_, Shard> {
        lock(&self.shards[(hash >> 48) as usize % SHARDS])
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
        let hash = self.hash(user.as_str());
        Ok(self.shard(hash).record(user, hash).map(|s| Versioned {
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
        let hash = self.hash(user.as_str());
        let mut shard = self.shard(hash);
        let version = expected.unwrap_or(0) + 1;
        let now = record.updated_at;
        let expires_at = record.expires_at();
        let was = match (shard.record(user, hash), expected) {
            (Some(current), Some(v)) if current.version == v => {
                let was = current.expires_at;
                current.version = version;
                current.record = record;
                current.expires_at = expires_at;
                was
            }
            (None, None) => {
                let stored = Stored {
                    user: user.clone(),
                    hash,
                    version,
                    record,
                    expires_at,
                };
                shard.records.insert_unique(hash, stored, |s| s.hash);
                None
            }
            _ => return Ok(Commit::Conflict),
        };
        shard.expiry_changed(was, expires_at);
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
            let mut shard = self.shard(self.hash(hit.key));
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

    fn in_place(&self) -> Option<&dyn InPlace> {
        Some(self)
    }
}

impl InPlace for MemoryStore {
    fn decide_in_place(
        &self,
        user: &UserId,
        decide: &mut dyn FnMut(&mut UserRecord) -> bool,
    ) -> bool {
        let hash = self.hash(user.as_str());
        let mut shard = self.shard(hash);
        let Some(stored) = shard.record(user, hash) else {
            return false;
        };
        if decide(&mut stored.record) {
            let was = stored.expires_at;
            stored.version += 1;
            stored.expires_at = stored.record.expires_at();
            let (now, expires_at) = (stored.record.updated_at, stored.expires_at);
            shard.expiry_changed(was, expires_at);
            shard.wrote(now);
        }
        true
    }
}
