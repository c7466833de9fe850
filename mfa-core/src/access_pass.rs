//! The Temporary Access Pass: a time-limited pass an administrator issues for a user
//! who has lost their factor (or has none yet), as Microsoft Entra does.
//!
//! The pass signs in once in place of the second factor, and the sign-in's proof lets
//! the user add a new method. It is kept as a keyed hash bound to its user, listed,
//! revocable, and dies when used up or expired. How many a user may hold at once, how
//! long they live (at most 8 hours by default) and how many uses they may carry are
//! [`AccessPassPolicy`] settings.

use std::fmt;
use std::time::Duration;

use crate::clock::Timestamp;
use crate::code::{CodeHash, CodeKey, Randomness, RecoveryCode};
use crate::error::InputError;
use crate::method::AccessPassId;
use crate::proof::Proof;
use crate::user::UserId;

/// The most pass entries (live and recently dead) one record keeps, whatever the policy.
pub const MAX_ACCESS_PASSES: usize = 8;
/// The longest lifetime a policy may allow: Microsoft Entra's own ceiling, 30 days.
pub const MAX_ACCESS_PASS_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);
/// The most uses a policy may allow one pass.
pub const MAX_ACCESS_PASS_USES: u32 = 100;

/// The rules for Temporary Access Passes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default))]
pub struct AccessPassPolicy {
    /// The longest lifetime an administrator may give a pass (default 8 hours).
    pub max_lifetime: Duration,
    /// The lifetime a pass gets when none is asked for (default 1 hour, as in Entra).
    pub default_lifetime: Duration,
    /// The most uses one pass may carry (default 10).
    pub max_uses: u32,
    /// How many usable passes a user may hold at once (default 1, as in Entra; at
    /// most [`MAX_ACCESS_PASSES`]).
    pub max_live: usize,
}

impl Default for AccessPassPolicy {
    fn default() -> Self {
        AccessPassPolicy {
            max_lifetime: Duration::from_secs(8 * 3600),
            default_lifetime: Duration::from_secs(3600),
            max_uses: 10,
            max_live: 1,
        }
    }
}

impl AccessPassPolicy {
    /// Checks every setting is in its range.
    pub fn validate(&self) -> Result<(), InputError> {
        if self.max_lifetime.is_zero() || self.max_lifetime > MAX_ACCESS_PASS_LIFETIME {
            return Err(InputError::InvalidSetting(
                "access_pass.max_lifetime must be above zero and at most 30 days",
            ));
        }
        if self.default_lifetime.is_zero() || self.default_lifetime > self.max_lifetime {
            return Err(InputError::InvalidSetting(
                "access_pass.default_lifetime must be above zero and at most max_lifetime",
            ));
        }
        if !(1..=MAX_ACCESS_PASS_USES).contains(&self.max_uses) {
            return Err(InputError::InvalidSetting(
                "access_pass.max_uses must be 1 to 100",
            ));
        }
        if !(1..=MAX_ACCESS_PASSES).contains(&self.max_live) {
            return Err(InputError::InvalidSetting(
                "access_pass.max_live must be 1 to 8",
            ));
        }
        Ok(())
    }
}

/// What an administrator asks for when issuing a pass.
///
/// ```
/// use std::time::Duration;
/// use mfa_core::AccessPassOptions;
///
/// let one_use = AccessPassOptions::once();
/// let for_a_day_of_setup = AccessPassOptions::uses(3).lifetime(Duration::from_secs(4 * 3600));
/// # let _ = (one_use, for_a_day_of_setup);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessPassOptions {
    /// How long it lives; `None` takes the policy's default.
    pub lifetime: Option<Duration>,
    /// How many sign-ins it allows within its lifetime.
    pub uses: u32,
}

impl AccessPassOptions {
    /// One sign-in, the policy's default lifetime.
    pub fn once() -> Self {
        AccessPassOptions {
            lifetime: None,
            uses: 1,
        }
    }

    /// `n` sign-ins within its lifetime.
    pub fn uses(n: u32) -> Self {
        AccessPassOptions {
            lifetime: None,
            uses: n,
        }
    }

    /// Another lifetime (at most the policy's `max_lifetime`).
    pub fn lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = Some(lifetime);
        self
    }
}

/// The pass itself: 24 letters and digits (120 bits), shown once to the administrator
/// to hand over. Typed back, case, dashes and look-alike letters do not matter.
/// `Debug` hides it.
#[derive(Clone)]
pub struct AccessPass(RecoveryCode);

impl AccessPass {
    /// A fresh random pass.
    pub fn generate(rng: &dyn Randomness) -> Self {
        AccessPass(RecoveryCode::generate(rng))
    }

    /// Parses a typed pass.
    pub fn parse(input: &str) -> Result<Self, InputError> {
        RecoveryCode::parse(input)
            .map(AccessPass)
            .map_err(|_| InputError::InvalidAccessPass)
    }

    /// The pass in its display form, `XXXX-XXXX-XXXX-XXXX-XXXX-XXXX`, to hand over.
    pub fn expose(&self) -> String {
        self.0.expose()
    }

    /// The keyed hash the record keeps, bound to its user: a pass is never valid
    /// for anyone else.
    pub fn hash(&self, key: &CodeKey, user: &UserId) -> CodeHash {
        key.hash_parts(
            [b"access-pass\0", user.as_str().as_bytes()],
            self.0.as_bytes(),
        )
    }
}

impl fmt::Debug for AccessPass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessPass(****-****-..)")
    }
}

/// A pass as the user's record keeps it: its hash, never the pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessPassRecord {
    /// Names it in lists, events and revocation.
    pub id: AccessPassId,
    /// The keyed hash of the pass.
    pub hash: CodeHash,
    /// When it was issued.
    pub issued_at: Timestamp,
    /// When it stops working.
    pub expires_at: Timestamp,
    /// The uses it was issued with.
    pub max_uses: u32,
    /// The uses left.
    pub uses_left: u32,
    /// When it was last used, if it was.
    pub last_used_at: Option<Timestamp>,
    /// When an administrator revoked it, if one did.
    pub revoked_at: Option<Timestamp>,
}

/// Whether a pass still works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessPassState {
    /// It signs in.
    Usable,
    /// Every use is spent.
    UsedUp,
    /// Its lifetime is over.
    Expired,
    /// An administrator revoked it.
    Revoked,
}

impl AccessPassRecord {
    /// Where it stands at `now`.
    pub fn state(&self, now: Timestamp) -> AccessPassState {
        if self.revoked_at.is_some() {
            AccessPassState::Revoked
        } else if self.uses_left == 0 {
            AccessPassState::UsedUp
        } else if now >= self.expires_at {
            AccessPassState::Expired
        } else {
            AccessPassState::Usable
        }
    }

    /// Since when it has been dead, if it is.
    pub fn dead_since(&self, now: Timestamp) -> Option<Timestamp> {
        match self.state(now) {
            AccessPassState::Usable => None,
            AccessPassState::Revoked => self.revoked_at,
            AccessPassState::UsedUp => Some(self.last_used_at.unwrap_or(self.issued_at)),
            AccessPassState::Expired => Some(self.expires_at),
        }
    }

    /// What a listing shows.
    pub fn info(&self, now: Timestamp) -> AccessPassInfo {
        AccessPassInfo {
            id: self.id.clone(),
            issued_at: self.issued_at,
            expires_at: self.expires_at,
            max_uses: self.max_uses,
            uses_left: self.uses_left,
            last_used_at: self.last_used_at,
            state: self.state(now),
        }
    }
}

/// A pass as listed for an administrator: everything but its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessPassInfo {
    /// Its id, to revoke it with.
    pub id: AccessPassId,
    /// When it was issued.
    pub issued_at: Timestamp,
    /// When it stops working.
    pub expires_at: Timestamp,
    /// The uses it was issued with.
    pub max_uses: u32,
    /// The uses left.
    pub uses_left: u32,
    /// When it was last used.
    pub last_used_at: Option<Timestamp>,
    /// Whether it still works.
    pub state: AccessPassState,
}

/// A pass just issued: the pass to hand over (shown this once) and its listing.
#[derive(Debug, Clone)]
pub struct IssuedAccessPass {
    /// The pass; only its hash is kept.
    pub pass: AccessPass,
    /// Its id, expiry and uses.
    pub info: AccessPassInfo,
}

/// A sign-in with a pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessPassSignIn {
    /// Proof of the sign-in: adds a new method with [`crate::Mfa::add_method`].
    pub proof: Proof,
    /// The pass used.
    pub pass_id: AccessPassId,
    /// Its uses left.
    pub uses_left: u32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::code::SeededRandomness;

    #[test]
    fn passes_parse_back_and_hide_in_debug() {
        let rng = SeededRandomness::new(7);
        let pass = AccessPass::generate(&rng);
        let shown = pass.expose();
        assert_eq!(shown.len(), 29);
        let typed = AccessPass::parse(&shown.to_lowercase().replace('-', " ")).unwrap();
        let key = CodeKey::generate(&rng);
        let kari = UserId::new("kari").unwrap();
        let ola = UserId::new("ola").unwrap();
        assert!(typed.hash(&key, &kari).matches(&pass.hash(&key, &kari)));
        assert!(!typed.hash(&key, &ola).matches(&pass.hash(&key, &kari)));
        assert!(!format!("{pass:?}").contains(&shown[..4]));
        for bad in ["", "short", &"A".repeat(10_000), "ÆØÅÆ-ØÅÆØ"] {
            assert_eq!(
                AccessPass::parse(bad).map(|_| ()),
                Err(InputError::InvalidAccessPass)
            );
        }
    }

    #[test]
    fn the_policy_is_checked() {
        AccessPassPolicy::default().validate().unwrap();
        let bad = [
            AccessPassPolicy {
                max_lifetime: Duration::ZERO,
                ..Default::default()
            },
            AccessPassPolicy {
                max_lifetime: MAX_ACCESS_PASS_LIFETIME + Duration::from_secs(1),
                ..Default::default()
            },
            AccessPassPolicy {
                default_lifetime: Duration::from_secs(9 * 3600),
                ..Default::default()
            },
            AccessPassPolicy {
                max_uses: 0,
                ..Default::default()
            },
            AccessPassPolicy {
                max_live: MAX_ACCESS_PASSES + 1,
                ..Default::default()
            },
        ];
        for p in bad {
            assert!(p.validate().is_err(), "{p:?}");
        }
    }
}
