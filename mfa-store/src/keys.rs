//! Encryption at rest: authenticator-app secrets are sealed with AES-256-GCM under an
//! application key, and every sealed value records the id of its key, so keys can be
//! rotated.

use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use mfa_core::{SecretBytes, StoreError};
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

/// The current key, which seals new values, and older keys still able to open values
/// sealed before a rotation.
#[derive(Clone, Debug)]
pub struct Keyring {
    current: SecretKey,
    previous: Vec<SecretKey>,
}

/// A value sealed under a key: the key's id and `nonce || ciphertext || tag`.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Sealed {
    pub key_id: String,
    pub blob: Vec<u8>,
}

impl Keyring {
    /// A keyring sealing under `current`.
    pub fn new(current: SecretKey) -> Self {
        Keyring {
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

    /// Seals `plain` under the current key, bound to `context` (the row it belongs to).
    pub(crate) fn seal(&self, context: &[u8], plain: &[u8]) -> Result<Sealed, StoreError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce)
            .map_err(|_| StoreError::unavailable("no random source for a nonce"))?;
        let cipher = Aes256Gcm::new_from_slice(self.current.bytes.as_ref())
            .map_err(|_| StoreError::corrupt("bad key length"))?;
        let sealed = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: context,
                },
            )
            .map_err(|_| StoreError::corrupt("encryption failed"))?;
        let mut blob = Vec::with_capacity(NONCE_LEN + sealed.len());
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&sealed);
        Ok(Sealed {
            key_id: self.current.id.clone(),
            blob,
        })
    }

    /// Opens a value sealed under the key `key_id`, bound to `context`.
    pub(crate) fn open(
        &self,
        key_id: &str,
        context: &[u8],
        blob: &[u8],
    ) -> Result<SecretBytes, StoreError> {
        let key = self.key(key_id).ok_or_else(|| {
            StoreError::corrupt(format!("no key with id {key_id:?} in the keyring"))
        })?;
        if blob.len() < NONCE_LEN + 16 {
            return Err(StoreError::corrupt("a sealed secret is truncated"));
        }
        let (nonce, sealed) = blob.split_at(NONCE_LEN);
        let cipher = Aes256Gcm::new_from_slice(key.bytes.as_ref())
            .map_err(|_| StoreError::corrupt("bad key length"))?;
        let plain = cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: context,
                },
            )
            .map_err(|_| StoreError::corrupt("a sealed secret does not open under its key"))?;
        Ok(SecretBytes::new(plain))
    }
}

/// What an app secret is bound to: its user and method, so a sealed value copied to
/// another row does not open.
pub(crate) fn secret_context(user: &str, method: &str) -> Vec<u8> {
    let mut c = Vec::with_capacity(user.len() + method.len() + 24);
    c.extend_from_slice(b"mfa app secret v1\0");
    c.extend_from_slice(&(user.len() as u64).to_be_bytes());
    c.extend_from_slice(user.as_bytes());
    c.extend_from_slice(method.as_bytes());
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_under_their_key_and_context() {
        let k1 = SecretKey::new("k1", [1; 32]).unwrap();
        let ring = Keyring::new(k1.clone());
        let ctx = secret_context("kari@example.no", "m1");
        let sealed = ring.seal(&ctx, b"12345678901234567890").unwrap();
        assert_eq!(sealed.key_id, "k1");
        assert!(
            !sealed
                .blob
                .windows(20)
                .any(|w| w == b"12345678901234567890")
        );
        assert_eq!(
            ring.open("k1", &ctx, &sealed.blob).unwrap().expose(),
            b"12345678901234567890"
        );
        // Another row, another key, a flipped bit, a truncated blob: typed errors.
        assert!(
            ring.open("k1", &secret_context("ola@example.no", "m1"), &sealed.blob)
                .is_err()
        );
        assert!(ring.open("k2", &ctx, &sealed.blob).is_err());
        let mut flipped = sealed.blob.clone();
        flipped[20] ^= 1;
        assert!(ring.open("k1", &ctx, &flipped).is_err());
        assert!(ring.open("k1", &ctx, &sealed.blob[..10]).is_err());
        // After rotation the old key still opens old values.
        let ring2 = Keyring::new(SecretKey::new("k2", [2; 32]).unwrap())
            .with_previous(k1)
            .unwrap();
        assert_eq!(
            ring2.open("k1", &ctx, &sealed.blob).unwrap().expose(),
            b"12345678901234567890"
        );
        assert_eq!(ring2.seal(&ctx, b"x").unwrap().key_id, "k2");
    }

    #[test]
    fn keys_are_redacted_and_ids_checked() {
        let k = SecretKey::new("2026-01", [7; 32]).unwrap();
        assert_eq!(format!("{k:?}"), "SecretKey(\"2026-01\", ..)");
        assert!(!format!("{:?}", Keyring::new(k.clone())).contains("7, 7"));
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
        assert_eq!(
            Keyring::new(k.clone()).with_previous(k).unwrap_err(),
            KeyError::DuplicateKeyId
        );
        assert_ne!(
            SecretKey::generate("a").unwrap().bytes,
            SecretKey::generate("a").unwrap().bytes
        );
    }
}
