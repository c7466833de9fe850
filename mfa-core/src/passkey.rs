//! The passkey (WebAuthn) method's plug: a crate such as `mfa-passkey` implements
//! [`PasskeyVerifier`], so the core itself holds no WebAuthn, CBOR or signature code.
//!
//! A ceremony is a challenge of the core machine: starting one asks the verifier for
//! the options to hand the browser (`navigator.credentials.create` to register,
//! `.get` to sign in) and the state to check its answer against, which the record
//! keeps sealed with the challenge. The browser's answer is then checked by the
//! verifier (signature, origin, challenge, flags); the core decides the rest: which of
//! the user's passkeys it is, that its sign counter moved forward, that the user was
//! verified when the policy asks it, the attempt cap, and the proof.

use std::fmt;

use crate::clock::Timestamp;
use crate::method::ChallengeId;

/// The longest credential id accepted (the WebAuthn limit).
pub const MAX_CREDENTIAL_ID_LEN: usize = 1023;
/// The most bytes of a verifier's stored form of one passkey.
pub const MAX_PASSKEY_DATA_LEN: usize = 16 * 1024;
/// The most bytes of a ceremony's state (a sign-in's holds every passkey it allows;
/// the record's codec takes byte strings up to 64 KiB).
pub const MAX_CEREMONY_STATE_LEN: usize = 60 * 1024;
/// The longest browser answer read; anything longer is malformed.
pub const MAX_PASSKEY_RESPONSE_LEN: usize = 64 * 1024;

/// One registered passkey, as the record keeps it. Nothing in it is secret (the
/// private key never leaves the authenticator), but the whole record is sealed.
#[derive(Clone, PartialEq, Eq)]
pub struct PasskeyCredential {
    /// The credential id the authenticator gave it.
    pub credential_id: Vec<u8>,
    /// The last signature counter seen (0 for authenticators that keep none).
    pub counter: u32,
    /// Whether the authenticator may back it up (a synced passkey).
    pub backup_eligible: bool,
    /// Whether it is backed up now (last seen).
    pub backup_state: bool,
    /// Whether the user was verified (PIN, biometrics) when it was registered.
    pub user_verified: bool,
    /// When it last signed in.
    pub last_used_at: Option<Timestamp>,
    /// The verifier's own form of it (public key, algorithm, policy).
    pub data: Vec<u8>,
}

impl fmt::Debug for PasskeyCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasskeyCredential")
            .field("credential_id_len", &self.credential_id.len())
            .field("counter", &self.counter)
            .field("backup_eligible", &self.backup_eligible)
            .field("backup_state", &self.backup_state)
            .field("user_verified", &self.user_verified)
            .field("last_used_at", &self.last_used_at)
            .finish_non_exhaustive()
    }
}

/// Who a passkey is registered for, as the browser is told.
#[derive(Debug, Clone, Copy)]
pub struct PasskeyUser<'a> {
    /// A stable, opaque id for the user (a keyed hash of the user id: no personal data).
    pub handle: [u8; 16],
    /// The account name the authenticator shows (the user id).
    pub name: &'a str,
    /// The name shown beside it.
    pub display_name: &'a str,
}

/// A started ceremony: what the browser gets, and what its answer is checked against.
#[derive(Clone)]
pub struct Ceremony {
    /// The options, as JSON, to hand to the browser's WebAuthn call.
    pub options: String,
    /// The verifier's state for checking the answer (kept in the sealed record).
    pub state: Vec<u8>,
}

impl fmt::Debug for Ceremony {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ceremony")
            .field("options_len", &self.options.len())
            .field("state_len", &self.state.len())
            .finish()
    }
}

/// A checked sign-in answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyAssertion {
    /// The credential that signed.
    pub credential_id: Vec<u8>,
    /// Its signature counter now.
    pub counter: u32,
    /// Whether it may be backed up.
    pub backup_eligible: bool,
    /// Whether it is backed up now.
    pub backup_state: bool,
    /// Whether the user was verified.
    pub user_verified: bool,
    /// The verifier's updated form of the credential.
    pub data: Vec<u8>,
}

/// Why a verifier did not accept an answer. Carries no part of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PasskeyError {
    /// The answer is not a WebAuthn response at all (no attempt is counted).
    #[error("the browser's answer is not a WebAuthn response")]
    Malformed,
    /// A well-formed answer that does not verify: wrong origin, wrong challenge,
    /// bad signature, an unknown credential.
    #[error("the passkey's answer does not verify")]
    Rejected,
    /// The signature counter did not move forward: the authenticator may be cloned.
    #[error("the passkey's signature counter went back")]
    CounterRegressed,
    /// The user was not verified though the policy asks it.
    #[error("the passkey did not verify the user")]
    UserNotVerified,
    /// The verifier failed (its state unreadable, its crypto backend): not verified.
    #[error("the passkey verifier failed")]
    Failed,
}

/// Runs the WebAuthn ceremonies: `mfa-passkey` implements it over webauthn-rs.
pub trait PasskeyVerifier: Send + Sync + fmt::Debug {
    /// Starts registering a new passkey for `user`; `existing` are the user's
    /// passkeys, which the browser is told to exclude. `require_user_verification`
    /// comes from the policy.
    fn start_registration(
        &self,
        user: &PasskeyUser<'_>,
        existing: &[PasskeyCredential],
        require_user_verification: bool,
    ) -> Result<Ceremony, PasskeyError>;

    /// Checks the browser's answer to a registration (JSON, as
    /// `PublicKeyCredential.toJSON()` writes it) against the ceremony's state.
    fn finish_registration(
        &self,
        state: &[u8],
        response: &str,
    ) -> Result<PasskeyCredential, PasskeyError>;

    /// Starts a sign-in that any of `credentials` (the user's passkeys) may answer.
    fn start_authentication(
        &self,
        credentials: &[PasskeyCredential],
        require_user_verification: bool,
    ) -> Result<Ceremony, PasskeyError>;

    /// Checks the browser's answer to a sign-in against the ceremony's state and
    /// the user's passkeys.
    fn finish_authentication(
        &self,
        state: &[u8],
        response: &str,
        credentials: &[PasskeyCredential],
    ) -> Result<PasskeyAssertion, PasskeyError>;
}

/// A ceremony's state, kept in the record beside its challenge while it is open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyCeremony {
    /// The challenge it belongs to.
    pub challenge_id: ChallengeId,
    /// The verifier's state.
    pub state: Vec<u8>,
}
