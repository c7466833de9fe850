//! Remembered devices: "don't ask again on this device". The browser holds a random
//! token; the record keeps only its keyed hash, with when it stops counting. Every
//! change to the user's factors forgets every device, so a device remembered before a
//! phone was lost never skips the new phone's code.

use std::fmt;
use std::time::Duration;

use crate::clock::Timestamp;
use crate::code::{CodeHash, CodeKey, Randomness};
use crate::error::InputError;
use crate::record::UserRecord;
use crate::user::UserId;

/// The most devices a user can have remembered; remembering one more forgets the
/// oldest, so the record stays bounded.
pub const MAX_DEVICES: usize = 8;

/// The longest a policy may remember a device.
pub const MAX_DEVICE_LIFETIME: Duration = Duration::from_secs(365 * 24 * 3600);

/// A remembered device as the record keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRecord {
    /// The keyed hash of the token the browser holds.
    pub hash: CodeHash,
    /// When it was remembered.
    pub created_at: Timestamp,
    /// When it stops counting.
    pub expires_at: Timestamp,
}

impl DeviceRecord {
    /// A public name for the device, to list and forget it by: the first 8 bytes of its
    /// keyed hash, hex (the hash of a 256-bit random token, so it tells nothing).
    pub fn id(&self) -> String {
        self.hash.0[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// The token a browser keeps in its cookie (256 random bits, hex): a bearer secret,
/// never in `Debug`, a URL or a log.
#[derive(Clone, PartialEq, Eq)]
pub struct DeviceToken(String);

impl DeviceToken {
    /// A fresh random token.
    pub fn generate(rng: &dyn Randomness) -> Self {
        let mut bytes = [0u8; 32];
        rng.fill(&mut bytes);
        DeviceToken(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// A token as the browser sent it back.
    pub fn parse(token: &str) -> Result<Self, InputError> {
        if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(InputError::InvalidSetting("malformed device token"));
        }
        Ok(DeviceToken(token.to_ascii_lowercase()))
    }

    /// The token, for the cookie.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for DeviceToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DeviceToken(..)")
    }
}

/// A remembered device, as the security-info page lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RememberedDevice {
    /// Its public name (see [`DeviceRecord::id`]).
    pub id: String,
    /// When it was remembered.
    pub created_at: Timestamp,
    /// When it stops counting.
    pub expires_at: Timestamp,
}

/// The keyed hash a device token is kept as.
pub fn device_hash(key: &CodeKey, user: &UserId, token: &DeviceToken) -> CodeHash {
    let mut context = b"device\0".to_vec();
    context.extend_from_slice(user.as_str().as_bytes());
    key.hash(&context, token.as_str().as_bytes())
}

/// Remembers a device until `now + lifetime`, forgetting the oldest past
/// [`MAX_DEVICES`].
pub fn remember(rec: &mut UserRecord, hash: CodeHash, now: Timestamp, lifetime: Duration) {
    rec.devices.retain(|d| now < d.expires_at);
    while rec.devices.len() >= MAX_DEVICES {
        rec.devices.remove(0);
    }
    rec.devices.push(DeviceRecord {
        hash,
        created_at: now,
        expires_at: now + lifetime,
    });
}

/// Whether a device with this hash is remembered at `now` (compared in constant time,
/// every entry scanned).
pub fn is_remembered(rec: &UserRecord, hash: &CodeHash, now: Timestamp) -> bool {
    rec.devices.iter().fold(false, |found, d| {
        (d.hash.matches(hash) & (now < d.expires_at)) | found
    })
}

/// Forgets the device named `id`; whether there was one.
pub fn forget(rec: &mut UserRecord, id: &str) -> bool {
    let before = rec.devices.len();
    rec.devices.retain(|d| d.id() != id);
    rec.devices.len() != before
}

/// Forgets every device: the user's factors changed.
pub fn forget_all(rec: &mut UserRecord) {
    rec.devices.clear();
}
