//! The per-user record: everything the rules need to know about one user, as one value.
//!
//! The machine ([`crate::machine`]) takes a record and one request and returns the
//! next record; the store keeps it whole and commits it by compare-and-set on its
//! [`Version`]. Because every rule about a user reads and writes this one value in one
//! commit, no rule can be raced past: two parallel wrong guesses conflict, and the
//! second is decided again on the record the first one left.

mod codec;

use std::time::Duration;

pub use codec::{decode, encode, encode_into};

use crate::access_pass::AccessPassRecord;
use crate::challenge::Challenge;
use crate::clock::Timestamp;
use crate::code::CodeHash;
use crate::method::{AccessPassId, ChallengeId, MethodId, MethodRecord, MethodStatus};

/// A record's version in the store: bumped by every commit.
pub type Version = u64;

/// How long a dead challenge, a used proof or a spent recovery code stays in the
/// record after it stopped mattering, so a poll can still say what became of it.
pub const RETENTION: Duration = Duration::from_secs(15 * 60);

/// The most challenges a user can have open at once; starting one more cancels the
/// oldest, so an attacker who knows the password cannot grow the record.
pub const MAX_OPEN_CHALLENGES: usize = 8;

/// The most challenges, open and closed, a record keeps; past it the oldest closed
/// ones go before their retention ends.
pub const MAX_CHALLENGES: usize = 32;

/// The most methods (active, blocked and pending together) a user can have.
pub const MAX_METHODS: usize = 16;

/// The most live re-authentication proofs a user can hold; the oldest go first.
pub const MAX_PROOFS: usize = 8;

/// Whether the user may use and change their factors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UserStatus {
    /// Normal.
    #[default]
    Active,
    /// The user reported a call as fraud (`0#`): factors cannot be added or changed,
    /// and the reported method cannot sign in, until an administrator's
    /// [`unblock`](crate::Mfa::unblock) or a recovery-code sign-in.
    Suspended {
        /// When the report came.
        since: Timestamp,
    },
}

/// A user's consecutive failed second-factor attempts, across all challenges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Failures {
    /// How many in a row.
    pub count: u32,
    /// When the last one happened.
    pub last_at: Option<Timestamp>,
}

/// What a re-authentication proof was made from; it dies with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProofSource {
    /// A sign-in or a completed enrollment with this method.
    Method(MethodId),
    /// A recovery-code sign-in.
    RecoveryCode,
    /// A Temporary Access Pass sign-in; dies if the pass is revoked.
    AccessPass(AccessPassId),
}

/// A live re-authentication proof, kept as a keyed hash of the token the user holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofRecord {
    /// The keyed hash of the token.
    pub hash: CodeHash,
    /// What it was made from.
    pub source: ProofSource,
    /// When it stops being fresh.
    pub expires_at: Timestamp,
}

/// One recovery code, as a keyed hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryCodeRecord {
    /// The keyed hash of the code.
    pub hash: CodeHash,
    /// When it was used, if it was.
    pub used_at: Option<Timestamp>,
}

/// Sends (SMS and calls) for this user in the current window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SendWindow {
    /// Sends so far in the window.
    pub count: u32,
    /// When the window opened.
    pub started_at: Timestamp,
}

/// Everything about one user.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserRecord {
    /// Active or suspended.
    pub status: UserStatus,
    /// Methods: pending (being enrolled), active and blocked.
    pub methods: Vec<MethodRecord>,
    /// Challenges, open and recently closed.
    pub challenges: Vec<Challenge>,
    /// Consecutive failures and the delay they impose.
    pub failures: Failures,
    /// The current set of recovery codes.
    pub recovery_codes: Vec<RecoveryCodeRecord>,
    /// Live re-authentication proofs.
    pub proofs: Vec<ProofRecord>,
    /// Sends to this user's phones in the current window.
    pub sends: SendWindow,
    /// When the record was last committed.
    pub updated_at: Timestamp,
    /// Sends reported undelivered on challenges still open (at most
    /// [`MAX_OPEN_CHALLENGES`]): they may fall back to a call at once.
    pub undelivered: Vec<Undelivered>,
    /// Remembered devices ("don't ask again on this device"), as keyed hashes.
    pub devices: Vec<crate::device::DeviceRecord>,
    /// The user's language, for SMS texts and calls; `None`: the policy's.
    pub locale: Option<crate::locale::Locale>,
    /// Temporary Access Passes an administrator issued, as keyed hashes; dead ones
    /// leave after [`RETENTION`].
    pub access_passes: Vec<AccessPassRecord>,
    /// The states of open passkey ceremonies, one per open passkey challenge.
    pub passkey_ceremonies: Vec<crate::passkey::PasskeyCeremony>,
    /// Under an inventory key (never a user's): a hardware token or an index page
    /// of the administrator's inventory ([`crate::inventory`]).
    pub inventory: Option<crate::inventory::InventoryRecord>,
}

/// A send the gateway reported undelivered: the challenge and its generation then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undelivered {
    /// The challenge.
    pub challenge_id: ChallengeId,
    /// Its generation when the report came: a later resend is not covered.
    pub generation: u32,
}

impl UserRecord {
    /// The challenge with this id.
    pub fn challenge(&self, id: &ChallengeId) -> Option<&Challenge> {
        self.challenges.iter().find(|c| &c.id == id)
    }

    /// The challenge with this id, to change.
    pub fn challenge_mut(&mut self, id: &ChallengeId) -> Option<&mut Challenge> {
        self.challenges.iter_mut().find(|c| &c.id == id)
    }

    /// The method with this id.
    pub fn method(&self, id: &MethodId) -> Option<&MethodRecord> {
        self.methods.iter().find(|m| &m.id == id)
    }

    /// The method with this id, to change.
    pub fn method_mut(&mut self, id: &MethodId) -> Option<&mut MethodRecord> {
        self.methods.iter_mut().find(|m| &m.id == id)
    }

    /// The active methods.
    pub fn active_methods(&self) -> impl Iterator<Item = &MethodRecord> {
        self.methods
            .iter()
            .filter(|m| m.status == MethodStatus::Active)
    }

    /// The method sign-in uses first: the default, or the oldest active one.
    pub fn default_method(&self) -> Option<&MethodRecord> {
        self.active_methods()
            .find(|m| m.is_default)
            .or_else(|| self.active_methods().next())
    }

    /// Whether the user has set up a method (active or blocked): an unenrolled user
    /// needs no second factor to enroll, an enrolled one does.
    pub fn is_enrolled(&self) -> bool {
        self.methods
            .iter()
            .any(|m| m.status != MethodStatus::Pending)
    }

    /// Whether the record holds nothing worth keeping past its dead challenges.
    pub fn is_empty(&self) -> bool {
        self.methods.is_empty()
            && self.recovery_codes.is_empty()
            && self.failures.count == 0
            && self.status == UserStatus::Active
            && self.proofs.is_empty()
            && self.access_passes.is_empty()
            && self.inventory.is_none()
    }

    /// When a store may forget the record: `None` while it holds methods, codes,
    /// failures or a suspension; otherwise once its last challenge is past retention.
    pub fn expires_at(&self) -> Option<Timestamp> {
        if !self.is_empty() {
            return None;
        }
        let last = self
            .challenges
            .iter()
            .map(|c| c.expires_at.max(c.closed_at.unwrap_or(c.expires_at)))
            .max()
            .unwrap_or(Timestamp::EPOCH);
        Some(last.max(self.sends.started_at).max(self.updated_at) + RETENTION)
    }

    /// Drops what has stopped mattering at `now`: challenges past retention, expired
    /// proofs, pending methods whose enrollment is gone, spent recovery codes past
    /// retention. Keeps the record bounded without a sweeper.
    pub fn prune(&mut self, now: Timestamp) {
        self.challenges.retain(|c| {
            let dead_since = match c.closed_at {
                Some(t) => Some(t),
                None if !c.status.is_final() && now >= c.expires_at => Some(c.expires_at),
                None => None,
            };
            dead_since.is_none_or(|t| now < t + RETENTION)
        });
        self.proofs.retain(|p| now < p.expires_at);
        self.devices.retain(|d| now < d.expires_at);
        self.access_passes
            .retain(|p| p.dead_since(now).is_none_or(|t| now < t + RETENTION));
        let challenges = &self.challenges;
        self.undelivered.retain(|u| {
            challenges
                .iter()
                .any(|c| c.id == u.challenge_id && c.status_at(now).is_awaiting())
        });
        self.methods.retain(|m| {
            m.status != MethodStatus::Pending || challenges.iter().any(|c| c.method_id == m.id)
        });
        // A ceremony's state is needed only while its challenge waits.
        self.passkey_ceremonies.retain(|p| {
            challenges
                .iter()
                .any(|c| c.id == p.challenge_id && c.status_at(now).is_awaiting())
        });
    }
}
