//! HMAC keyed once: the inner and outer padded states of RFC 2104, computed when a
//! key is prepared and reused for every counter that is checked against it.
//!
//! Why this is written over the hash crates' compression functions instead of
//! cloning a keyed `hmac::Hmac`: an HOTP message is one 8-byte counter, so each
//! candidate costs exactly two compressions (inner and outer) once the padded
//! states exist. Cloning `Hmac<Sha1>` also reaches two compressions per candidate,
//! but copies its block buffers and runs the generic padding code for each one,
//! cannot order the compressions of several candidates (all inner ones first, which
//! the CPU overlaps a little), and its keyed states cannot be wiped: `hmac` 0.12 has
//! no zeroize support. Measured for a SHA-1 ±1 verification under the same load:
//! 336-399 ns with a cloned `Hmac`, 297-329 ns with this framing, and about 260 ns
//! once the blocks of each phase are written before any is compressed (see
//! `truncated_batch` and BENCHMARKS.md). Here the states are plain words, wiped on
//! drop. The result is checked against the `hmac` crate in the tests. For SHA-1, the
//! compressions of one phase run together in lockstep on the SHA extensions
//! (`sha1_lanes`): about 150 ns for the three HMACs of a ±1 check, against 190 ns
//! one compression after another.

use sha1::digest::generic_array::GenericArray;
use sha1::digest::typenum::{U64, U128};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::Algorithm;

const SHA1_IV: [u32; 5] = [
    0x6745_2301,
    0xEFCD_AB89,
    0x98BA_DCFE,
    0x1032_5476,
    0xC3D2_E1F0,
];
const SHA256_IV: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];
const SHA512_IV: [u64; 8] = [
    0x6a09_e667_f3bc_c908,
    0xbb67_ae85_84ca_a73b,
    0x3c6e_f372_fe94_f82b,
    0xa54f_f53a_5f1d_36f1,
    0x510e_527f_ade6_82d1,
    0x9b05_688c_2b3e_6c1f,
    0x1f83_d9ab_fb41_bd6b,
    0x5be0_cd19_137e_2179,
];

/// Independent compressions, run together where the CPU allows (`sha1_lanes`).
fn sha1_compress_all(states: &mut [[u32; 5]], blocks: &[GenericArray<u8, U64>]) {
    crate::sha1_lanes::compress(states, blocks);
}

fn sha256_compress_all(states: &mut [[u32; 8]], blocks: &[GenericArray<u8, U64>]) {
    for (state, block) in states.iter_mut().zip(blocks) {
        sha2::compress256(state, std::slice::from_ref(block));
    }
}

fn sha512_compress_all(states: &mut [[u64; 8]], blocks: &[GenericArray<u8, U128>]) {
    for (state, block) in states.iter_mut().zip(blocks) {
        sha2::compress512(state, std::slice::from_ref(block));
    }
}

#[cfg(test)]
thread_local! {
    /// HMACs computed on this thread, for tests that check no candidate is skipped.
    pub(crate) static HMACS_COMPUTED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Counters computed together by [`PreparedKey::truncated_batch`].
pub const HMAC_BATCH: usize = 4;

/// Writes the state words big-endian into `out` (the digest bytes).
macro_rules! words_to_bytes {
    ($state:expr, $out:expr, $word_bytes:expr) => {
        for (chunk, word) in $out.chunks_exact_mut($word_bytes).zip($state.iter()) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
    };
}

/// One hash's padded states and the HOTP value function over them.
macro_rules! keyed_hash {
    ($name:ident, $state:ty, $iv:expr, $block_ty:ty, $block:expr, $out:expr, $word:expr, $len:ty, $compress_all:ident, $digest:ty) => {
        #[derive(Clone, Zeroize)]
        struct $name {
            inner: $state,
            outer: $state,
        }

        impl $name {
            fn new(key: &[u8]) -> Self {
                use sha2::Digest as _;
                // Both pads are written before either is compressed, so the two
                // compressions can overlap (see `truncated_batch`).
                let mut pads = [GenericArray::<u8, $block_ty>::default(); 2];
                for pad in pads.iter_mut() {
                    if key.len() > $block {
                        let mut digest = <$digest>::digest(key);
                        pad[..$out].copy_from_slice(&digest);
                        digest.as_mut_slice().zeroize();
                    } else {
                        pad[..key.len()].copy_from_slice(key);
                    }
                }
                pads[0].iter_mut().for_each(|b| *b ^= 0x36);
                pads[1].iter_mut().for_each(|b| *b ^= 0x5c);
                let mut states = [$iv; 2];
                $compress_all(&mut states, &pads);
                pads.iter_mut().for_each(|pad| pad.as_mut_slice().zeroize());
                let [inner, outer] = states;
                states.zeroize();
                $name { inner, outer }
            }

            /// HMAC(key, counter as 8 big-endian bytes), dynamically truncated (RFC 4226 5.3),
            /// for up to [`HMAC_BATCH`] counters at once. All inner compressions run before
            /// any outer one: they are independent, so the CPU overlaps them.
            #[inline]
            fn truncated_batch(&self, counters: &[u64], out: &mut [u32]) {
                const LEN_FIELD: usize = std::mem::size_of::<$len>();
                let n = counters.len().min(out.len()).min(HMAC_BATCH);
                // Each phase writes all its blocks before the first compression reads
                // one. A compression loads its block 16 bytes at a time; a load that
                // spans several recent smaller stores cannot be forwarded and waits
                // until they reach the cache, after everything before them retires:
                // blocks built between compressions would keep them from overlapping.
                let mut blocks = [GenericArray::<u8, $block_ty>::default(); HMAC_BATCH];
                for (block, counter) in blocks.iter_mut().zip(&counters[..n]) {
                    // Inner message: ipad block + 8 counter bytes, padded into one block.
                    block[..8].copy_from_slice(&counter.to_be_bytes());
                    block[8] = 0x80;
                    block[$block - LEN_FIELD..]
                        .copy_from_slice(&((($block + 8) * 8) as $len).to_be_bytes());
                }
                let mut inner = [self.inner; HMAC_BATCH];
                $compress_all(&mut inner[..n], &blocks[..n]);
                let mut blocks = [GenericArray::<u8, $block_ty>::default(); HMAC_BATCH];
                for (block, inner) in blocks.iter_mut().zip(&inner[..n]) {
                    // Outer message: opad block + the inner digest, padded into one block.
                    words_to_bytes!(inner, block[..$out], $word);
                    block[$out] = 0x80;
                    block[$block - LEN_FIELD..]
                        .copy_from_slice(&((($block + $out) * 8) as $len).to_be_bytes());
                }
                let mut outer = [self.outer; HMAC_BATCH];
                $compress_all(&mut outer[..n], &blocks[..n]);
                for (value, state) in out.iter_mut().zip(&outer[..n]) {
                    let mut digest = [0u8; $out];
                    words_to_bytes!(state, digest[..], $word);
                    let offset = usize::from(digest[$out - 1] & 0x0f);
                    let word = [
                        digest[offset],
                        digest[offset + 1],
                        digest[offset + 2],
                        digest[offset + 3],
                    ];
                    *value = u32::from_be_bytes(word) & 0x7fff_ffff;
                }
            }
        }
    };
}

keyed_hash!(
    Sha1Key,
    [u32; 5],
    SHA1_IV,
    U64,
    64,
    20,
    4,
    u64,
    sha1_compress_all,
    sha1::Sha1
);
keyed_hash!(
    Sha256Key,
    [u32; 8],
    SHA256_IV,
    U64,
    64,
    32,
    4,
    u64,
    sha256_compress_all,
    sha2::Sha256
);
keyed_hash!(
    Sha512Key,
    [u64; 8],
    SHA512_IV,
    U128,
    128,
    64,
    8,
    u128,
    sha512_compress_all,
    sha2::Sha512
);

#[derive(Clone, Zeroize)]
enum States {
    Sha1(Sha1Key),
    Sha256(Sha256Key),
    Sha512(Sha512Key),
}

/// A secret keyed for one hash: HMAC's padded states, ready for any number of
/// counters. Prepare it once per verification, or keep it per enrollment.
///
/// Wiped on drop; `Debug` shows only the algorithm.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct PreparedKey {
    states: States,
}

impl PreparedKey {
    /// Keys `secret` for `algorithm` (two compressions; no allocation).
    pub fn new(algorithm: Algorithm, secret: &[u8]) -> Self {
        let states = match algorithm {
            Algorithm::Sha1 => States::Sha1(Sha1Key::new(secret)),
            Algorithm::Sha256 => States::Sha256(Sha256Key::new(secret)),
            Algorithm::Sha512 => States::Sha512(Sha512Key::new(secret)),
        };
        PreparedKey { states }
    }

    /// The hash this key was prepared for.
    pub fn algorithm(&self) -> Algorithm {
        match self.states {
            States::Sha1(_) => Algorithm::Sha1,
            States::Sha256(_) => Algorithm::Sha256,
            States::Sha512(_) => Algorithm::Sha512,
        }
    }

    /// The 31-bit dynamically truncated HMAC of `counter` (RFC 4226 section 5.3),
    /// before reduction to digits.
    #[inline]
    pub fn truncated(&self, counter: u64) -> u32 {
        let mut out = [0u32; 1];
        self.truncated_batch(&[counter], &mut out);
        out[0]
    }

    /// [`PreparedKey::truncated`] for up to [`HMAC_BATCH`] counters at once, written to
    /// `out`; faster than one by one. Counters past `HMAC_BATCH` or past `out` are ignored.
    #[inline]
    pub fn truncated_batch(&self, counters: &[u64], out: &mut [u32]) {
        #[cfg(test)]
        HMACS_COMPUTED.with(|n| n.set(n.get() + counters.len().min(out.len()).min(HMAC_BATCH)));
        match &self.states {
            States::Sha1(k) => k.truncated_batch(counters, out),
            States::Sha256(k) => k.truncated_batch(counters, out),
            States::Sha512(k) => k.truncated_batch(counters, out),
        }
    }
}

impl std::fmt::Debug for PreparedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PreparedKey({}, ..)", self.algorithm())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::{Hmac, Mac};
    use proptest::prelude::*;

    fn reference(algorithm: Algorithm, key: &[u8], counter: u64) -> u32 {
        fn truncate(d: &[u8]) -> u32 {
            let o = usize::from(d[d.len() - 1] & 0xf);
            u32::from_be_bytes([d[o], d[o + 1], d[o + 2], d[o + 3]]) & 0x7fff_ffff
        }
        let msg = counter.to_be_bytes();
        match algorithm {
            Algorithm::Sha1 => {
                let mut m = Hmac::<sha1::Sha1>::new_from_slice(key).unwrap();
                m.update(&msg);
                truncate(&m.finalize().into_bytes())
            }
            Algorithm::Sha256 => {
                let mut m = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
                m.update(&msg);
                truncate(&m.finalize().into_bytes())
            }
            Algorithm::Sha512 => {
                let mut m = Hmac::<sha2::Sha512>::new_from_slice(key).unwrap();
                m.update(&msg);
                truncate(&m.finalize().into_bytes())
            }
        }
    }

    #[test]
    fn every_key_length_matches_the_hmac_crate() {
        // Covers empty keys, keys at and around both block sizes, and keys that are hashed first.
        for algorithm in Algorithm::ALL {
            for len in 0..=200usize {
                let key: Vec<u8> = (0..len).map(|i| (i * 7 + len) as u8).collect();
                let prepared = PreparedKey::new(algorithm, &key);
                for counter in [0, 1, len as u64, u64::MAX] {
                    assert_eq!(
                        prepared.truncated(counter),
                        reference(algorithm, &key, counter),
                        "{algorithm} key length {len} counter {counter}"
                    );
                }
            }
        }
    }

    proptest! {
        #[test]
        fn random_keys_and_counters_match_the_hmac_crate(
            key in proptest::collection::vec(any::<u8>(), 0..300),
            counter in any::<u64>(),
            which in 0usize..3,
        ) {
            let algorithm = Algorithm::ALL[which];
            prop_assert_eq!(
                PreparedKey::new(algorithm, &key).truncated(counter),
                reference(algorithm, &key, counter)
            );
        }
    }

    #[test]
    fn batches_of_every_size_match_the_hmac_crate() {
        // SHA-1 batches of two or more take the lanes, the rest the general path.
        for algorithm in Algorithm::ALL {
            for len in [0usize, 10, 20, 64, 65, 100] {
                let key: Vec<u8> = (0..len).map(|i| (i * 13 + 7) as u8).collect();
                let prepared = PreparedKey::new(algorithm, &key);
                for n in 1..=HMAC_BATCH {
                    let counters: Vec<u64> = (0..n as u64)
                        .map(|i| 0x0123_4567_89ab_cdef_u64.rotate_left(i as u32 * 9) ^ len as u64)
                        .collect();
                    let mut out = vec![0u32; n];
                    prepared.truncated_batch(&counters, &mut out);
                    let expected: Vec<u32> = counters
                        .iter()
                        .map(|&c| reference(algorithm, &key, c))
                        .collect();
                    assert_eq!(out, expected, "{algorithm} key {len} bytes, {n} counters");
                }
            }
        }
    }

    #[test]
    fn debug_shows_only_the_algorithm() {
        let key = PreparedKey::new(Algorithm::Sha256, b"secret key bytes");
        assert_eq!(format!("{key:?}"), "PreparedKey(SHA256, ..)");
    }
}
