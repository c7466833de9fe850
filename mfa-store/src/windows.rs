//! What every store's `hit` shares: one counter bump per distinct window, however
//! often a key repeats in the call, so each store can do all of them in one statement
//! or script (PostgreSQL's `ON CONFLICT` cannot touch a row twice in one statement).

use mfa_core::{StoreError, Timestamp, WindowCount, WindowHit};

use crate::keys::Keyring;

/// One distinct window of a call: its row id, how many hits it takes, and its length
/// (the first hit's, as if the hits were applied in order).
pub(crate) struct Bump {
    pub id: [u8; 32],
    pub hits: u32,
    pub window_ms: i64,
}

/// The distinct windows of `hits`, in order of first appearance, and for each hit the
/// index of its window and its place among that window's hits.
pub(crate) fn bumps(keys: &Keyring, hits: &[WindowHit<'_>]) -> (Vec<Bump>, Vec<(usize, u32)>) {
    let mut bumps: Vec<Bump> = Vec::new();
    let mut places = Vec::with_capacity(hits.len());
    for hit in hits {
        let id = keys.window_index(hit.key);
        match bumps.iter().position(|b| b.id == id) {
            Some(i) => {
                places.push((i, bumps[i].hits));
                bumps[i].hits += 1;
            }
            None => {
                places.push((bumps.len(), 0));
                bumps.push(Bump {
                    id,
                    hits: 1,
                    window_ms: millis(hit.window),
                });
            }
        }
    }
    (bumps, places)
}

/// Each hit's count, from each window's count after all its hits and its end.
pub(crate) fn spread(
    bumps: &[Bump],
    places: &[(usize, u32)],
    after: &[(i64, i64)],
) -> Result<Vec<WindowCount>, StoreError> {
    places
        .iter()
        .map(|&(i, place)| {
            let (count, resets_at) = after[i];
            let count = u32::try_from(count).unwrap_or(u32::MAX);
            Ok(WindowCount {
                // The last hit of a window sees the full count, earlier ones fewer.
                count: count.saturating_sub(bumps[i].hits - 1 - place),
                resets_at: timestamp(resets_at)?,
            })
        })
        .collect()
}

/// Milliseconds as SQL stores them (the range of `i64` is 292 million years).
pub(crate) fn millis_i64(t: Timestamp) -> i64 {
    i64::try_from(t.unix_millis()).unwrap_or(i64::MAX)
}

fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX).max(1)
}

/// A stored time back; a negative one is corrupt.
pub(crate) fn timestamp(ms: i64) -> Result<Timestamp, StoreError> {
    u64::try_from(ms)
        .map(Timestamp::from_unix_millis)
        .map_err(|_| StoreError::corrupt("a negative time in the store"))
}
