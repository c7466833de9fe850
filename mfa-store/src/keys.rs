//! Encryption at rest: each user's record is sealed with AES-256-GCM under an
//! application key, bound to the user and the version it was committed at, and found
//! by a keyed hash of the user id under a separate index key.
//!
//! Two kinds of key, because they rotate differently:
//!
//! - [`SecretKey`]s seal. The current one seals every commit; older ones stay in the
//!   [`Keyring`] to open records sealed before a rotation. Each sealed value names
//!   its key's id, so rotation needs no migration: records move to the new key as
//!   their users are next committed.
//! - The [`IndexKey`] names rows and Redis keys (`HMAC-SHA-256(index key, user id)`).
//!   It must stay the same for the store's life: a new index key would make every
//!   record unreachable. It is not derived from a sealing key for exactly that
//!   reason; losing it to an attacker only lets them test guesses of user ids.

use std::fmt;

// ring's AES-256-GCM (already built for rustls) rather than RustCrypto's `aes-gcm`:
// its assembly hashes several blocks at once, where `aes-gcm` 0.10 multiplies one
// block at a time, and sealing a record was a twentieth of a commit's client time.
// The bytes are the same: nonce, ciphertext, tag.
use hmac::{Hmac, Mac};
use mfa_core::record::{self, UserRecord, Version};
use mfa_core::{StoreError, UserId};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use sha2::Sha256;
use zeroize::Zeroizing;

/// The longest key id accepted, in bytes.
pub const MAX_KEY_ID_LEN: usize = 32;
const NONCE_LEN: usize = 12;

/// A 256-bit application key and its id.
///
/// Keep the bytes outside the database (a secrets manager, an environment variable);
/// the id is stored beside each sealed value. `Debug` shows the id only.
#[derive(Clone)]
pub struct SecretKey {
    id: String,
    bytes: Zeroizing<[u8; 32]>,
}

impl SecretKey {
    /// A key from its id (1 to 32 printable ASCII characters) and 32 bytes.
    pub fn new(id: &str, bytes: [u8; 32]) -> Result<Self, KeyError> {
        if id.is_empty() || id.len() > MAX_KEY_ID_LEN || !id.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(KeyError::InvalidKeyId);
        }
        Ok(SecretKey {
            id: id.to_owned(),
            bytes: Zeroizing::new(bytes),
        })
    }

    /// A fresh random key from the operating system's CSPRNG.
    pub fn generate(id: &str) -> Result<Self, KeyError> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        getrandom::fill(bytes.as_mut()).map_err(|_| KeyError::NoRandomness)?;
        Self::new(id, *bytes)
    }

    /// The key id stored beside values sealed under this key.
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({:?}, ..)", self.id)
    }
}

/// A malformed key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key id is empty, too long or not printable ASCII.
    #[error("a key id is 1 to 32 printable ASCII characters")]
    InvalidKeyId,
    /// Two keys have the same id.
    #[error("two keys have the same id")]
    DuplicateKeyId,
    /// The operating system's random source failed.
    #[error("the operating system's random source failed")]
    NoRandomness,
}

/// The key that names rows and Redis keys: a keyed hash of the user id, so no id is
/// stored in clear. Keep it for the store's life (see the module docs). `Debug`
/// shows nothing of it.
#[derive(Clone)]
pub struct IndexKey(Zeroizing<[u8; 32]>);

impl IndexKey {
    /// An index key from its 32 bytes.
    pub fn new(bytes: [u8; 32]) -> Self {
        IndexKey(Zeroizing::new(bytes))
    }

    /// A fresh random index key, for a new store.
    pub fn generate() -> Result<Self, KeyError> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        getrandom::fill(bytes.as_mut()).map_err(|_| KeyError::NoRandomness)?;
        Ok(Self::new(*bytes))
    }

    fn mac(&self, domain: &[u8], data: &[u8]) -> [u8; 32] {
        // A 32-byte key always fits HMAC; the fallback is never taken.
        let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(self.0.as_ref()) else {
            return [0; 32];
        };
        mac.update(domain);
        mac.update(data);
        mac.finalize().into_bytes().into()
    }
}

impl fmt::Debug for IndexKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IndexKey(..)")
    }
}

/// The index key, the current sealing key and older sealing keys still able to open
/// records sealed before a rotation.
#[derive(Clone, Debug)]
pub struct Keyring {
    index: IndexKey,
    current: SecretKey,
    previous: Vec<SecretKey>,
}

/// A record sealed for one user at one version: the sealing key's id and
/// `nonce || ciphertext || tag`.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct SealedRecord {
    pub key_id: String,
    pub blob: Vec<u8>,
}

impl Keyring {
    /// A keyring naming rows with `index` and sealing under `current`.
    pub fn new(index: IndexKey, current: SecretKey) -> Self {
        Keyring {
            index,
            current,
            previous: Vec::new(),
        }
    }

    /// Adds an older key, kept to open values sealed before it was rotated out.
    pub fn with_previous(mut self, key: SecretKey) -> Result<Self, KeyError> {
        if key.id == self.current.id || self.previous.iter().any(|k| k.id == key.id) {
            return Err(KeyError::DuplicateKeyId);
        }
        self.previous.push(key);
        Ok(self)
    }

    /// The id of the key new values are sealed under.
    pub fn current_id(&self) -> &str {
        &self.current.id
    }

    fn key(&self, id: &str) -> Option<&SecretKey> {
        std::iter::once(&self.current)
            .chain(self.previous.iter())
            .find(|k| k.id == id)
    }

    /// The id of `user`'s row (SQL: `mfa_user_records.id`; Redis: the hex inside the
    /// key's braces), to find or erase one user's data by hand.
    pub fn user_index(&self, user: &UserId) -> [u8; 32] {
        self.index.mac(b"mfa user v2\0", user.as_str().as_bytes())
    }

    /// The id of a rate window's row (or Redis key) for the caller's `key`.
    pub(crate) fn window_index(&self, key: &str) -> [u8; 32] {
        self.index.mac(b"mfa window v2\0", key.as_bytes())
    }

    /// Seals `record` for `user` at `version` under the current key.
    pub(crate) fn seal_record(
        &self,
        user: &UserId,
        version: Version,
        record: &UserRecord,
    ) -> Result<SealedRecord, StoreError> {
        // One buffer: room for the nonce, the record encoded behind it, encrypted in
        // place, then the tag. The plaintext lives only in this buffer (the encoder
        // wipes any it outgrows) until it is overwritten by its ciphertext.
        let mut blob = record::encode_into(record, vec![0; NONCE_LEN]);
        let sealed = self.seal_in_place(user, version, &mut blob);
        if sealed.is_err() {
            zeroize::Zeroize::zeroize(&mut blob);
        }
        sealed?;
        Ok(SealedRecord {
            key_id: self.current.id.clone(),
            blob,
        })
    }

    /// Encrypts `blob[NONCE_LEN..]` in place under a fresh nonce, written into
    /// `blob[..NONCE_LEN]`, and appends the tag.
    fn seal_in_place(
        &self,
        user: &UserId,
        version: Version,
        blob: &mut Vec<u8>,
    ) -> Result<(), StoreError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce)
            .map_err(|_| StoreError::unavailable("no random source for a nonce"))?;
        blob[..NONCE_LEN].copy_from_slice(&nonce);
        let aad = record_context(user, version);
        let tag = cipher(&self.current)?
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(&aad),
                &mut blob[NONCE_LEN..],
            )
            .map_err(|_| StoreError::corrupt("encryption failed"))?;
        blob.extend_from_slice(tag.as_ref());
        Ok(())
    }

    /// Opens a record sealed under the key `key_id` for `user` at `version`. A record
    /// sealed for another user or another version does not open: a row copied or
    /// rolled back is reported as corrupt, never read.
    pub(crate) fn open_record(
        &self,
        user: &UserId,
        version: Version,
        key_id: &str,
        blob: &[u8],
    ) -> Result<UserRecord, StoreError> {
        let key = self.key(key_id).ok_or_else(|| {
            StoreError::corrupt(format!(
                "a record is sealed under key {key_id:?}, which is not in the keyring"
            ))
        })?;
        if blob.len() < NONCE_LEN + 16 {
            return Err(StoreError::corrupt("a sealed record is truncated"));
        }
        let (nonce, sealed) = blob.split_at(NONCE_LEN);
        let mut nonce_bytes = [0u8; NONCE_LEN];
        nonce_bytes.copy_from_slice(nonce);
        let aad = record_context(user, version);
        // Opened in a copy of its own, wiped when dropped.
        let mut buf = Zeroizing::new(sealed.to_vec());
        let plain = cipher(key)?
            .open_in_place(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(&aad),
                &mut buf[..],
            )
            .map_err(|_| {
                StoreError::corrupt(
                    "a sealed record does not open for this user and version \
                     (tampered, copied from another user or rolled back)",
                )
            })?;
        record::decode(plain)
    }
}

/// The AES-256-GCM key of a sealing key.
fn cipher(key: &SecretKey) -> Result<LessSafeKey, StoreError> {
    UnboundKey::new(&AES_256_GCM, key.bytes.as_ref())
        .map(LessSafeKey::new)
        .map_err(|_| StoreError::corrupt("bad key length"))
}

/// What a sealed record is bound to: its user and its version. The user id is
/// length-prefixed so no two (user, version) pairs give the same bytes.
fn record_context(user: &UserId, version: Version) -> Vec<u8> {
    let id = user.as_str().as_bytes();
    let mut c = Vec::with_capacity(id.len() + 32);
    c.extend_from_slice(b"mfa record v2\0");
    c.extend_from_slice(&(id.len() as u64).to_be_bytes());
    c.extend_from_slice(id);
    c.extend_from_slice(&version.to_be_bytes());
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str) -> UserId {
        UserId::new(id).unwrap()
    }

    fn record() -> UserRecord {
        UserRecord {
            failures: mfa_core::record::Failures {
                count: 3,
                last_at: None,
            },
            ..UserRecord::default()
        }
    }

    /// A record sealed before the switch from RustCrypto's `aes-gcm` to ring (same
    /// key, user, version and record as below) still opens: the stored bytes did not
    /// change.
    #[test]
    fn a_record_sealed_by_the_earlier_cipher_still_opens() {
        const SEALED: &str = "5896a6904e3bb94c88bebb4bf92d8d91f04131c10e5d084f834059e209f0704a2a563de6fb5896772eae35f4d99f6abcd0e6a2e9110fa01d9f8fb66f6efaec5997a109b5dfe1318988cd7de2d294da9192f4349e7332";
        let blob: Vec<u8> = (0..SEALED.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&SEALED[i..i + 2], 16).unwrap())
            .collect();
        let ring = Keyring::new(
            IndexKey::new([9; 32]),
            SecretKey::new("k1", [1; 32]).unwrap(),
        );
        assert_eq!(
            ring.open_record(&user("kari@example.no"), 3, "k1", &blob)
                .unwrap(),
            record()
        );
    }

    #[test]
    fn records_open_only_for_their_user_version_and_key() {
        let k1 = SecretKey::new("k1", [1; 32]).unwrap();
        let ring = Keyring::new(IndexKey::new([9; 32]), k1.clone());
        let kari = user("kari@example.no");
        let sealed = ring.seal_record(&kari, 3, &record()).unwrap();
        assert_eq!(sealed.key_id, "k1");
        assert_eq!(
            ring.open_record(&kari, 3, "k1", &sealed.blob).unwrap(),
            record()
        );
        // Another user, another version, another key, a flipped bit, a truncated blob.
        let corrupt = |r: Result<UserRecord, StoreError>| {
            assert_eq!(r.unwrap_err().kind(), mfa_core::StoreErrorKind::Corrupt)
        };
        corrupt(ring.open_record(&user("ola@example.no"), 3, "k1", &sealed.blob));
        corrupt(ring.open_record(&kari, 2, "k1", &sealed.blob));
        corrupt(ring.open_record(&kari, 3, "k2", &sealed.blob));
        let mut flipped = sealed.blob.clone();
        flipped[20] ^= 1;
        corrupt(ring.open_record(&kari, 3, "k1", &flipped));
        corrupt(ring.open_record(&kari, 3, "k1", &sealed.blob[..10]));
        // After rotation the old key still opens old records; new ones use the new key,
        // and rows keep their names.
        let ring2 = Keyring::new(
            IndexKey::new([9; 32]),
            SecretKey::new("k2", [2; 32]).unwrap(),
        )
        .with_previous(k1)
        .unwrap();
        assert_eq!(
            ring2.open_record(&kari, 3, "k1", &sealed.blob).unwrap(),
            record()
        );
        assert_eq!(ring2.seal_record(&kari, 4, &record()).unwrap().key_id, "k2");
        assert_eq!(ring.user_index(&kari), ring2.user_index(&kari));
    }

    #[test]
    fn indexes_are_keyed_and_separated_by_purpose() {
        let a = Keyring::new(
            IndexKey::new([1; 32]),
            SecretKey::new("k", [0; 32]).unwrap(),
        );
        let b = Keyring::new(
            IndexKey::new([2; 32]),
            SecretKey::new("k", [0; 32]).unwrap(),
        );
        let kari = user("kari@example.no");
        assert_ne!(a.user_index(&kari), b.user_index(&kari));
        assert_ne!(a.user_index(&kari), a.window_index("kari@example.no"));
        assert_ne!(a.user_index(&kari), a.user_index(&user("Kari@example.no")));
    }

    #[test]
    fn keys_are_redacted_and_ids_checked() {
        let k = SecretKey::new("2026-01", [7; 32]).unwrap();
        assert_eq!(format!("{k:?}"), "SecretKey(\"2026-01\", ..)");
        let ring = Keyring::new(IndexKey::new([8; 32]), k.clone());
        let shown = format!("{ring:?}");
        assert!(
            !shown.contains("7, 7") && !shown.contains("8, 8"),
            "{shown}"
        );
        assert_eq!(
            SecretKey::new("", [0; 32]).unwrap_err(),
            KeyError::InvalidKeyId
        );
        assert_eq!(
            SecretKey::new("a b", [0; 32]).unwrap_err(),
            KeyError::InvalidKeyId
        );
        assert_eq!(
            SecretKey::new(&"x".repeat(33), [0; 32]).unwrap_err(),
            KeyError::InvalidKeyId
        );
        assert_eq!(ring.with_previous(k).unwrap_err(), KeyError::DuplicateKeyId);
        assert_ne!(
            SecretKey::generate("a").unwrap().bytes,
            SecretKey::generate("a").unwrap().bytes
        );
        assert_ne!(
            IndexKey::generate().unwrap().0,
            IndexKey::generate().unwrap().0
        );
    }
}
