//! Several independent SHA-1 compressions at once, interleaved over the x86 SHA
//! extensions.
//!
//! Why this is written here instead of calling `sha1::compress` for each block: one
//! SHA-1 compression on the SHA extensions is a chain of twenty `sha1rnds4`
//! instructions, each waiting for the one before, so a core spends most of a
//! compression waiting on that chain. A TOTP check at ±1 runs three independent
//! HMACs, and each phase (all inner, then all outer compressions) is three
//! independent chains: run in lockstep, in one function, they fill each other's
//! waits. No SHA-1 crate offers several messages at once. The result is checked
//! against the `sha1` crate for every lane count in the tests, and where the CPU lacks
//! the extensions (or under valgrind, which hides them) each block goes to
//! `sha1::compress`.

use sha1::digest::generic_array::GenericArray;
use sha1::digest::typenum::U64;

/// The most compressions run together.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) const LANES: usize = 4;

/// Compresses `blocks[i]` into `states[i]` for each `i` (the shorter length wins; at
/// most [`LANES`] are run together, the rest one by one).
pub(crate) fn compress(states: &mut [[u32; 5]], blocks: &[GenericArray<u8, U64>]) {
    let n = states.len().min(blocks.len());
    #[cfg(target_arch = "x86_64")]
    if x86::compress(&mut states[..n], &blocks[..n]) {
        return;
    }
    for (state, block) in states[..n].iter_mut().zip(&blocks[..n]) {
        sha1::compress(state, std::slice::from_ref(block));
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::{
        __m128i, _mm_add_epi32, _mm_extract_epi32, _mm_set_epi32, _mm_set_epi64x,
        _mm_setzero_si128, _mm_sha1msg1_epu32, _mm_sha1msg2_epu32, _mm_sha1nexte_epu32,
        _mm_sha1rnds4_epu32, _mm_xor_si128,
    };

    use super::{GenericArray, U64};

    /// Whether this CPU has the instructions [`lanes`] uses (the answer is cached by
    /// the standard library).
    fn available() -> bool {
        std::arch::is_x86_feature_detected!("sha")
            && std::arch::is_x86_feature_detected!("sse2")
            && std::arch::is_x86_feature_detected!("ssse3")
            && std::arch::is_x86_feature_detected!("sse4.1")
    }

    /// `states.len()` compressions (2 to [`LANES`](super::LANES), one block each) in
    /// lockstep, when this CPU has the instructions; returns whether it did them.
    pub(super) fn compress(states: &mut [[u32; 5]], blocks: &[GenericArray<u8, U64>]) -> bool {
        match states.len() {
            2 => run::<2>(states, blocks),
            3 => run::<3>(states, blocks),
            super::LANES => run::<{ super::LANES }>(states, blocks),
            _ => false,
        }
    }

    /// [`lanes`] for exactly `N` states and blocks, when this CPU has the instructions.
    fn run<const N: usize>(states: &mut [[u32; 5]], blocks: &[GenericArray<u8, U64>]) -> bool {
        let (Ok(states), Ok(blocks)) = (
            <&mut [[u32; 5]; N]>::try_from(states),
            <&[GenericArray<u8, U64>; N]>::try_from(blocks),
        ) else {
            return false;
        };
        if !available() {
            return false;
        }
        // SAFETY: `lanes` needs only the CPU features it is compiled for, and
        // `available` has just found each of them on this CPU.
        #[allow(unsafe_code)]
        unsafe {
            lanes(states, blocks)
        };
        true
    }

    /// Four message words as one vector, the first word in the highest lane, as the
    /// SHA instructions take them.
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    fn words(block: &GenericArray<u8, U64>, at: usize) -> __m128i {
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&block[at * 16..at * 16 + 16]);
        // Big-endian: the first byte is the most significant, so the first word
        // lands in the highest lane.
        let x = u128::from_be_bytes(bytes);
        _mm_set_epi64x((x >> 64) as i64, x as i64)
    }

    /// `blocks[l]` compressed into `states[l]` for every lane `l`, together.
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    fn lanes<const N: usize>(states: &mut [[u32; 5]; N], blocks: &[GenericArray<u8, U64>; N]) {
        let zero = _mm_setzero_si128();
        let mut abcd = [zero; N];
        let mut e = [zero; N];
        // The last four schedule vectors of each lane, by quad-round mod 4.
        let mut w = [[zero; 4]; N];
        // The state after the latest quad-round, and the one before it.
        let mut cur = [zero; N];
        let mut prev = [zero; N];
        for l in 0..N {
            let s = &states[l];
            abcd[l] = _mm_set_epi32(s[0] as i32, s[1] as i32, s[2] as i32, s[3] as i32);
            e[l] = _mm_set_epi32(s[4] as i32, 0, 0, 0);
            for (i, v) in w[l].iter_mut().enumerate() {
                *v = words(&blocks[l], i);
            }
            prev[l] = abcd[l];
            cur[l] = _mm_sha1rnds4_epu32::<0>(abcd[l], _mm_add_epi32(e[l], w[l][0]));
        }
        // Quad-round `i` (rounds 4i..4i+4) with round function `F` = i / 5, every lane
        // before the next quad-round: the lanes' chains are independent.
        macro_rules! quad {
            ($i:expr, $f:expr) => {
                for l in 0..N {
                    if $i >= 4 {
                        let x = _mm_sha1msg1_epu32(w[l][$i % 4], w[l][($i + 1) % 4]);
                        let x = _mm_xor_si128(x, w[l][($i + 2) % 4]);
                        w[l][$i % 4] = _mm_sha1msg2_epu32(x, w[l][($i + 3) % 4]);
                    }
                    let next = _mm_sha1rnds4_epu32::<$f>(
                        cur[l],
                        _mm_sha1nexte_epu32(prev[l], w[l][$i % 4]),
                    );
                    prev[l] = cur[l];
                    cur[l] = next;
                }
            };
        }
        quad!(1, 0);
        quad!(2, 0);
        quad!(3, 0);
        quad!(4, 0);
        quad!(5, 1);
        quad!(6, 1);
        quad!(7, 1);
        quad!(8, 1);
        quad!(9, 1);
        quad!(10, 2);
        quad!(11, 2);
        quad!(12, 2);
        quad!(13, 2);
        quad!(14, 2);
        quad!(15, 3);
        quad!(16, 3);
        quad!(17, 3);
        quad!(18, 3);
        quad!(19, 3);
        for l in 0..N {
            let abcd = _mm_add_epi32(abcd[l], cur[l]);
            let e = _mm_sha1nexte_epu32(prev[l], e[l]);
            states[l] = [
                _mm_extract_epi32::<3>(abcd) as u32,
                _mm_extract_epi32::<2>(abcd) as u32,
                _mm_extract_epi32::<1>(abcd) as u32,
                _mm_extract_epi32::<0>(abcd) as u32,
                _mm_extract_epi32::<3>(e) as u32,
            ];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A block and a state made from `seed`, differing in every lane.
    fn input(seed: u64) -> ([u32; 5], GenericArray<u8, U64>) {
        let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let state = std::array::from_fn(|_| next() as u32);
        let mut block = GenericArray::<u8, U64>::default();
        for b in block.iter_mut() {
            *b = next() as u8;
        }
        (state, block)
    }

    #[test]
    fn every_lane_count_matches_the_sha1_crate() {
        for n in 0..=LANES + 2 {
            for seed in 0..200u64 {
                let (mut states, blocks): (Vec<_>, Vec<_>) =
                    (0..n).map(|l| input(seed * 16 + l as u64)).unzip();
                let mut expected = states.clone();
                for (s, b) in expected.iter_mut().zip(&blocks) {
                    sha1::compress(s, std::slice::from_ref(b));
                }
                compress(&mut states, &blocks);
                assert_eq!(states, expected, "{n} lanes, seed {seed}");
            }
        }
    }

    #[test]
    fn the_padded_empty_message_hashes_as_sha1_says() {
        // SHA-1("") = da39a3ee5e6b4b0d3255bfef95601890afd80709, in each of three lanes.
        let iv = [
            0x6745_2301,
            0xEFCD_AB89,
            0x98BA_DCFE,
            0x1032_5476,
            0xC3D2_E1F0,
        ];
        let mut block = GenericArray::<u8, U64>::default();
        block[0] = 0x80;
        let mut states = [iv; 3];
        compress(&mut states, &[block, block, block]);
        for s in states {
            assert_eq!(
                s,
                [
                    0xda39_a3ee,
                    0x5e6b_4b0d,
                    0x3255_bfef,
                    0x9560_1890,
                    0xafd8_0709
                ]
            );
        }
    }
}
