//! HMAC-SHA-256 keyed once: the inner and outer padded states of RFC 2104 are
//! compressed when a [`CodeKey`](crate::CodeKey) is made and reused by every hash.
//!
//! Why this is written over `sha2`'s compression function instead of the `hmac`
//! crate: every verification hashes the code and mints a proof under the server key,
//! and keying `Hmac<Sha256>` anew costs two of the four compressions of a short
//! message; a cloned keyed `Hmac` would avoid them but cannot be wiped (`hmac` 0.12
//! has no zeroize support), and these states are as secret as the key. Here they are
//! plain words, wiped on drop. The result is checked against the `hmac` crate in the
//! tests, for every message length across the block boundaries.

use sha2::digest::generic_array::GenericArray;
use zeroize::{Zeroize, ZeroizeOnDrop};

const IV: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];
const BLOCK: usize = 64;

fn compress(state: &mut [u32; 8], block: &[u8; BLOCK]) {
    sha2::compress256(state, std::slice::from_ref(GenericArray::from_slice(block)));
}

fn digest_bytes(state: &[u32; 8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

/// The two padded states of one HMAC-SHA-256 key.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(crate) struct KeyedSha256 {
    inner: [u32; 8],
    outer: [u32; 8],
}

impl KeyedSha256 {
    /// Keys a 32-byte key (shorter than a block, so used as it is).
    pub(crate) fn new(key: &[u8; 32]) -> Self {
        let mut pad = [0u8; BLOCK];
        let mut inner = IV;
        let mut outer = IV;
        pad[..32].copy_from_slice(key);
        pad.iter_mut().for_each(|b| *b ^= 0x36);
        compress(&mut inner, &pad);
        pad.iter_mut().for_each(|b| *b ^= 0x36 ^ 0x5c);
        compress(&mut outer, &pad);
        pad.zeroize();
        KeyedSha256 { inner, outer }
    }

    /// The MAC of the concatenation of `parts`.
    pub(crate) fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut stream = Stream {
            state: self.inner,
            block: [0; BLOCK],
            fill: 0,
            // The inner padded key block is already in the state.
            total: BLOCK as u64,
        };
        for part in parts {
            stream.update(part);
        }
        let mut inner = stream.finish();
        let mut outer = Stream {
            state: self.outer,
            block: [0; BLOCK],
            fill: 0,
            total: BLOCK as u64,
        };
        outer.update(&inner);
        // Wiped as slices: `zeroize` fills a slice in one pass, an array byte by byte.
        inner.as_mut_slice().zeroize();
        outer.finish()
    }
}

/// SHA-256 over a message whose first blocks are already in `state`.
struct Stream {
    state: [u32; 8],
    block: [u8; BLOCK],
    fill: usize,
    total: u64,
}

impl Stream {
    fn update(&mut self, mut data: &[u8]) {
        self.total += data.len() as u64;
        while !data.is_empty() {
            let take = (BLOCK - self.fill).min(data.len());
            self.block[self.fill..self.fill + take].copy_from_slice(&data[..take]);
            self.fill += take;
            data = &data[take..];
            if self.fill == BLOCK {
                compress(&mut self.state, &self.block);
                self.fill = 0;
            }
        }
    }

    fn finish(mut self) -> [u8; 32] {
        let bits = self.total.wrapping_mul(8);
        self.block[self.fill] = 0x80;
        self.block[self.fill + 1..].fill(0);
        if self.fill + 1 > BLOCK - 8 {
            compress(&mut self.state, &self.block);
            self.block.fill(0);
        }
        self.block[BLOCK - 8..].copy_from_slice(&bits.to_be_bytes());
        compress(&mut self.state, &self.block);
        let out = digest_bytes(&self.state);
        self.block.as_mut_slice().zeroize();
        self.state.as_mut_slice().zeroize();
        out
    }
}

#[cfg(test)]
mod tests {
    use hmac::{Hmac, Mac};
    use sha2::Sha256;

    use super::*;

    fn reference(key: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("any key length");
        for p in parts {
            mac.update(p);
        }
        mac.finalize().into_bytes().into()
    }

    #[test]
    fn matches_the_hmac_crate_for_every_length_across_three_blocks() {
        let key: [u8; 32] = std::array::from_fn(|i| i as u8 * 7 + 1);
        let keyed = KeyedSha256::new(&key);
        let data: Vec<u8> = (0..200u8).map(|i| i.wrapping_mul(31)).collect();
        for len in 0..data.len() {
            let (a, b) = data[..len].split_at(len / 3);
            assert_eq!(keyed.mac(&[a, b]), reference(&key, &[a, b]), "length {len}");
        }
    }

    #[test]
    fn another_key_gives_another_mac() {
        let one = KeyedSha256::new(&[1; 32]).mac(&[b"message"]);
        let two = KeyedSha256::new(&[2; 32]).mac(&[b"message"]);
        assert_ne!(one, two);
        assert_eq!(one, reference(&[1; 32], &[b"message"]));
    }
}
