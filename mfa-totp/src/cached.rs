//! [`Totp`] as the [`AppVerifier`] for `Mfa`, keeping each credential's keyed HMAC.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::{Arc, Mutex};

use mfa_core::{
    AppCredential, AppMatch, AppProvisioning, AppVerifier, InputError, OneTimeCode, Randomness,
    Timestamp,
};
use zeroize::Zeroize;

use crate::{PreparedKey, Totp};

/// Shards of the cache, each behind its own lock, so two threads seldom wait.
const SHARDS: usize = 8;
/// Credentials kept per shard; a full shard is emptied and fills again from use.
const PER_SHARD: usize = 512;

/// [`Totp`] as the authenticator-app verifier of `Mfa`, with the prepared key of
/// each credential it has seen kept for the next sign-in.
///
/// Keying HMAC-SHA-1 costs two compressions and parsing the credential's
/// parameters text a little more: about 40% of a verification (BENCHMARKS.md).
/// This verifier keeps both for up to 4,096 credentials, keyed by the credential's
/// secret and parameters; the kept keys and secrets are wiped when they leave the
/// cache or the verifier is dropped. Answers are those of [`Totp`]'s own
/// [`AppVerifier`] implementation, which keys the HMAC on every call.
///
/// ```
/// use mfa_totp::{Totp, TotpVerifier};
///
/// let verifier = TotpVerifier::new(Totp::default());
/// let mfa = mfa_core::Mfa::builder().app(verifier).build().unwrap();
/// # let _ = mfa;
/// ```
#[derive(Clone)]
pub struct TotpVerifier {
    totp: Totp,
    // Entries are found by a tag of the credential and checked against the credential
    // kept beside them, so a hit allocates nothing; a collision is a miss.
    keys: Arc<[Mutex<Shard>; SHARDS]>,
    /// Per-process key of the tag.
    mix: u64,
}

/// One shard: tag of the credential to the credential and its key.
type Shard = HashMap<u64, (CacheKey, Prepared), BuildHasherDefault<TagHasher>>;

/// The map's hasher passes the tag through: it is already mixed under a per-process
/// key ([`TotpVerifier::tag`]), so hashing it again would only cost time.
#[derive(Default)]
struct TagHasher(u64);

impl Hasher for TagHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A credential as the cache knows it; the secret is wiped on drop.
struct CacheKey {
    secret: Vec<u8>,
    parameters: String,
}

impl Drop for CacheKey {
    fn drop(&mut self) {
        self.secret.zeroize();
    }
}

/// What a credential verifies with: its parsed settings and its keyed HMAC.
struct Prepared {
    totp: Totp,
    key: PreparedKey,
}

impl TotpVerifier {
    /// Verifies with `totp`'s window and secret size; each credential brings its
    /// own algorithm, digits, period and T0.
    pub fn new(totp: Totp) -> Self {
        TotpVerifier {
            totp,
            keys: Arc::new(std::array::from_fn(|_| Mutex::new(HashMap::default()))),
            // Any per-process value will do; RandomState's keys come from the OS.
            mix: RandomState::new().hash_one(0u64) | 1,
        }
    }

    /// A tag of the credential: its secret's first eight bytes and the length of both
    /// parts, mixed under the per-process key (a multiply and two xor-shifts).
    ///
    /// Why not SipHash, as a `HashMap` would use: the secrets are random (made by
    /// `provision` or an administrator's seed file), so a user cannot pick colliding
    /// ones, and SipHash over the secret and parameters cost a quarter of a cached
    /// verification (BENCHMARKS.md). A tag collision only costs a re-keying: the
    /// whole credential is compared before a kept key is used.
    fn tag(&self, secret: &[u8], parameters: &str) -> u64 {
        let mut head = [0u8; 8];
        let n = secret.len().min(8);
        head[..n].copy_from_slice(&secret[..n]);
        let mut x = u64::from_le_bytes(head)
            ^ ((secret.len() as u64) << 56)
            ^ ((parameters.len() as u64) << 48);
        head.zeroize();
        x ^= x >> 33;
        x = x.wrapping_mul(self.mix);
        x ^= x >> 29;
        x = x.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        x ^ (x >> 32)
    }

    /// The settings it verifies and provisions with.
    pub fn totp(&self) -> &Totp {
        &self.totp
    }

    /// How many credentials' keys are kept now (at most 4,096).
    pub fn cached(&self) -> usize {
        self.keys.iter().map(|s| lock(s).len()).sum()
    }

    /// Runs `check` with the credential's kept key, keeping a new one first if
    /// there is none. A kept key is used under its shard's lock (a verification takes
    /// a few hundred nanoseconds), which costs less than sharing it out by reference
    /// count.
    fn with_prepared<T>(
        &self,
        credential: &AppCredential,
        check: impl FnOnce(&Prepared) -> T,
    ) -> Result<T, InputError> {
        let secret = credential.secret.expose();
        let parameters = credential.parameters.as_str();
        let hash = self.tag(secret, parameters);
        let shard = &self.keys[(hash as usize) % SHARDS];
        {
            let keys = lock(shard);
            if let Some((k, p)) = keys.get(&hash) {
                if k.secret == secret && k.parameters == parameters {
                    return Ok(check(p));
                }
            }
        }
        let totp = self.totp.with_parameters(&credential.parameters)?;
        let prepared = Prepared {
            totp,
            key: PreparedKey::new(totp.algorithm(), secret),
        };
        let answer = check(&prepared);
        let mut keys = lock(shard);
        if keys.len() >= PER_SHARD {
            keys.clear();
        }
        let key = CacheKey {
            secret: secret.to_vec(),
            parameters: parameters.to_owned(),
        };
        keys.insert(hash, (key, prepared));
        Ok(answer)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

impl fmt::Debug for TotpVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TotpVerifier")
            .field("totp", &self.totp)
            .field("cached", &self.cached())
            .finish()
    }
}

impl AppVerifier for TotpVerifier {
    fn provision(
        &self,
        issuer: &str,
        account: &str,
        rng: &dyn Randomness,
    ) -> Result<AppProvisioning, InputError> {
        self.totp.provision(issuer, account, rng)
    }

    fn verify(
        &self,
        credential: &AppCredential,
        code: &OneTimeCode,
        now: Timestamp,
        after_step: Option<u64>,
    ) -> Result<Option<AppMatch>, InputError> {
        Ok(self.with_prepared(credential, |p| {
            p.totp.verify_prepared(&p.key, code, now, after_step)
        })??)
    }
}

#[cfg(test)]
mod tests {
    use mfa_core::SecretBytes;

    use super::*;
    use crate::Algorithm;

    fn credential(totp: &Totp, secret: &[u8]) -> AppCredential {
        AppCredential {
            secret: SecretBytes::new(secret.to_vec()),
            parameters: totp.parameters(),
        }
    }

    #[test]
    fn answers_as_the_uncached_verifier_for_every_step_and_credential() {
        let cached = TotpVerifier::new(Totp::default());
        let sha256 = Totp::new(Algorithm::Sha256, 8, 60).unwrap();
        let now = Timestamp::from_unix_secs(1_700_000_000);
        for (settings, secret) in [
            (Totp::default(), b"12345678901234567890".to_vec()),
            (Totp::default(), b"another secret, twenty".to_vec()),
            (sha256, b"12345678901234567890".to_vec()),
        ] {
            let c = credential(&settings, &secret);
            let s = crate::Secret::from_bytes(secret.clone()).unwrap();
            let step = settings.step_at(now).unwrap();
            for offset in -3i64..=3 {
                let code = settings.generate_at_step(&s, step.wrapping_add_signed(offset));
                for after in [None, Some(step - 1), Some(step)] {
                    let want = AppVerifier::verify(&Totp::default(), &c, &code, now, after);
                    // Twice: once keying, once from the cache.
                    for _ in 0..2 {
                        let got = cached.verify(&c, &code, now, after);
                        assert_eq!(format!("{got:?}"), format!("{want:?}"), "offset {offset}");
                    }
                }
            }
        }
        assert_eq!(cached.cached(), 3, "one kept key per credential");
    }

    #[test]
    fn credentials_sharing_a_tag_each_verify_with_their_own_key() {
        let cached = TotpVerifier::new(Totp::default());
        let totp = Totp::default();
        let now = Timestamp::from_unix_secs(1_700_000_000);
        let step = totp.step_at(now).unwrap();
        // Same first eight bytes and lengths: the same tag, different secrets.
        let one = b"same-headAAAAAAAAAAA".to_vec();
        let two = b"same-headBBBBBBBBBBB".to_vec();
        assert_eq!(
            cached.tag(&one, &totp.parameters()),
            cached.tag(&two, &totp.parameters())
        );
        for _ in 0..3 {
            for (mine, other) in [(&one, &two), (&two, &one)] {
                let s = crate::Secret::from_bytes(mine.clone()).unwrap();
                let code = totp.generate_at_step(&s, step);
                let m = cached
                    .verify(&credential(&totp, mine), &code, now, None)
                    .unwrap();
                assert!(m.is_some(), "its own code");
                let o = cached
                    .verify(&credential(&totp, other), &code, now, None)
                    .unwrap();
                assert!(o.is_none(), "the other credential's code");
            }
        }
    }

    #[test]
    fn the_cache_stays_bounded() {
        let cached = TotpVerifier::new(Totp::default());
        let now = Timestamp::from_unix_secs(1_700_000_000);
        let code = OneTimeCode::parse("123456").unwrap();
        for i in 0..20_000u32 {
            let mut secret = b"0123456789abcdef".to_vec();
            secret.extend_from_slice(&i.to_be_bytes());
            let c = credential(&Totp::default(), &secret);
            cached.verify(&c, &code, now, None).unwrap();
        }
        assert!(cached.cached() <= SHARDS * PER_SHARD, "{}", cached.cached());
    }
}
