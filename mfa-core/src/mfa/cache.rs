//! The records this server committed last, so the next request for the same user
//! can skip the load: one round trip (the commit) instead of two.
//!
//! Safe because a cached record is only ever a *guess*. The commit that follows is a
//! compare-and-set on the cached version, so a decision made from a record someone
//! else has since changed is refused by the store and made again from a fresh load;
//! and a request that ends in an error without committing is decided again from a
//! fresh load too, so no answer rests on a guess the store did not confirm.
//!
//! What remains is the one case a version cannot tell apart: a record dropped and
//! made again from version 1 until it reaches the cached version. A record can only be
//! dropped [`RETENTION`] after its last commit ([`UserRecord::expires_at`]), so an
//! entry, made at a commit, is used for at most a third of that.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use crate::clock::Timestamp;
use crate::record::{RETENTION, UserRecord, Version};
use crate::user::UserId;

/// How long after its commit an entry may stand in for a load: well inside the
/// retention a record outlives its last commit by.
pub(crate) const LIFETIME: Duration = Duration::from_secs(RETENTION.as_secs() / 3);

/// The default number of users kept.
pub(crate) const DEFAULT_CAPACITY: usize = 4096;

const SHARDS: usize = 16;

struct Entry {
    version: Version,
    record: UserRecord,
    committed_at: Timestamp,
}

type Shard = HashMap<UserId, Entry>;

/// A bounded map of user to the record and version this server committed last.
pub(crate) struct RecordCache {
    shards: Vec<Mutex<Shard>>,
    per_shard: usize,
    /// Picks the shard; keyed per process (SipHash), so chosen ids cannot all land in one.
    pick: std::collections::hash_map::RandomState,
}

impl std::fmt::Debug for RecordCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordCache")
            .field("capacity", &(self.per_shard * SHARDS))
            .finish_non_exhaustive()
    }
}

impl RecordCache {
    /// A cache holding about `capacity` users; `None` for zero.
    pub(crate) fn new(capacity: usize) -> Option<Self> {
        if capacity == 0 {
            return None;
        }
        Some(RecordCache {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            per_shard: capacity.div_ceil(SHARDS),
            pick: std::collections::hash_map::RandomState::new(),
        })
    }

    fn shard(&self, user: &UserId) -> MutexGuard<'_, Shard> {
        let pick = self.pick.hash_one(user.as_str()) as usize;
        let shard = &self.shards[pick % SHARDS];
        crate::sync::lock(shard)
    }

    /// Takes the user's entry out if it is young enough to stand in for a load.
    pub(crate) fn take(&self, user: &UserId, now: Timestamp) -> Option<(Version, UserRecord)> {
        let entry = self.shard(user).remove(user)?;
        (now < entry.committed_at + LIFETIME).then_some((entry.version, entry.record))
    }

    /// Keeps what was just committed.
    pub(crate) fn put(&self, user: &UserId, version: Version, record: UserRecord, now: Timestamp) {
        let mut shard = self.shard(user);
        if shard.len() >= self.per_shard && !shard.contains_key(user) {
            shard.retain(|_, e| now < e.committed_at + LIFETIME);
            if shard.len() >= self.per_shard {
                // Full of live entries: the oldest goes.
                if let Some(oldest) = shard
                    .iter()
                    .min_by_key(|(_, e)| e.committed_at)
                    .map(|(k, _)| k.clone())
                {
                    shard.remove(&oldest);
                }
            }
        }
        shard.insert(
            user.clone(),
            Entry {
                version,
                record,
                committed_at: now,
            },
        );
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map_or(0, |g| g.len()))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(i: usize) -> UserId {
        UserId::new(format!("user-{i}@example.no")).expect("a valid id")
    }

    #[test]
    fn an_entry_stands_in_for_a_load_only_within_its_lifetime() {
        let cache = RecordCache::new(16).expect("a cache");
        let t0 = Timestamp::from_unix_secs(1_000_000);
        cache.put(&user(1), 7, UserRecord::default(), t0);
        let (v, _) = cache
            .take(&user(1), t0 + LIFETIME - Duration::from_secs(1))
            .expect("young");
        assert_eq!(v, 7);
        assert!(cache.take(&user(1), t0).is_none(), "taken entries are gone");
        cache.put(&user(1), 8, UserRecord::default(), t0);
        assert!(cache.take(&user(1), t0 + LIFETIME).is_none(), "too old");
        assert!(LIFETIME * 2 < RETENTION);
    }

    #[test]
    fn the_cache_stays_bounded() {
        let cache = RecordCache::new(64).expect("a cache");
        let t0 = Timestamp::from_unix_secs(1_000_000);
        for i in 0..10_000 {
            cache.put(
                &user(i),
                1,
                UserRecord::default(),
                t0 + Duration::from_millis(i as u64),
            );
        }
        assert!(cache.len() <= 64 + SHARDS, "{}", cache.len());
        assert!(RecordCache::new(0).is_none());
    }
}
