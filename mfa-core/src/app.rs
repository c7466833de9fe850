//! The authenticator-app method's plug: `mfa-totp` implements [`AppVerifier`].

use std::fmt;

use crate::clock::Timestamp;
use crate::code::{OneTimeCode, Randomness};
use crate::error::InputError;
use crate::method::AppCredential;

/// What the user needs to add the account to an authenticator app.
#[derive(Clone)]
pub struct AppProvisioning {
    /// The credential to store.
    pub credential: AppCredential,
    /// The `otpauth://` URI (it holds the secret: show it only to the user).
    pub uri: String,
    /// The secret in the form users type when they cannot scan (base32 for TOTP).
    pub manual_entry_key: String,
}

impl fmt::Debug for AppProvisioning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppProvisioning")
            .field("credential", &self.credential)
            .field("uri", &"otpauth://<redacted>")
            .finish_non_exhaustive()
    }
}

/// A matched app code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppMatch {
    /// The time step (TOTP) or counter (HOTP) the code belongs to.
    pub step: u64,
    /// How many steps from the expected one (negative: the app's clock is behind).
    pub drift: i64,
}

/// Makes and checks authenticator-app credentials.
///
/// `verify` is called while the decision is made, which over the memory store is under
/// the lock of the user's shard ([`Store::in_place`](crate::Store::in_place)): it
/// should compute and return, not wait on I/O.
pub trait AppVerifier: Send + Sync + fmt::Debug {
    /// A fresh credential for `account` at `issuer`.
    fn provision(
        &self,
        issuer: &str,
        account: &str,
        rng: &dyn Randomness,
    ) -> Result<AppProvisioning, InputError>;

    /// Checks `code` at `now`. Only steps after `after_step` may match, so a code
    /// already used can never be accepted again. Every candidate in the window is
    /// compared, in constant time.
    fn verify(
        &self,
        credential: &AppCredential,
        code: &OneTimeCode,
        now: Timestamp,
        after_step: Option<u64>,
    ) -> Result<Option<AppMatch>, InputError>;

    /// Finds a counter that drifted past the look-ahead from two consecutive codes
    /// (`first`, then `second`), for HOTP hardware tokens; the match is `second`'s.
    /// Only counters after `after_step` count. The default: no resynchronisation
    /// (time-based credentials rely on their window).
    fn resync(
        &self,
        credential: &AppCredential,
        first: &OneTimeCode,
        second: &OneTimeCode,
        after_step: Option<u64>,
    ) -> Result<Option<AppMatch>, InputError> {
        let _ = (credential, first, second, after_step);
        Err(InputError::InvalidSetting(
            "this credential does not resynchronise",
        ))
    }

    /// [`AppVerifier::resync`] at `now`, for credentials that count time: a token
    /// whose clock drifted past the window is found from two consecutive codes in a
    /// wider window around `now`, and the match's `drift` (in steps) is then kept on
    /// the method and given to [`AppVerifier::verify_drifted`]. The default calls
    /// [`AppVerifier::resync`].
    fn resync_at(
        &self,
        credential: &AppCredential,
        first: &OneTimeCode,
        second: &OneTimeCode,
        now: Timestamp,
        after_step: Option<u64>,
    ) -> Result<Option<AppMatch>, InputError> {
        let _ = now;
        self.resync(credential, first, second, after_step)
    }

    /// Whether `credential` counts time, so that a resynchronisation's drift is kept
    /// on the method and followed by later sign-ins. The default: no.
    fn keeps_drift(&self, credential: &AppCredential) -> bool {
        let _ = credential;
        false
    }

    /// [`AppVerifier::verify`] for a credential whose clock is `drift` steps off, as
    /// the last [`AppVerifier::resync_at`] found. The default ignores the drift
    /// (counter-based credentials move their counter instead).
    fn verify_drifted(
        &self,
        credential: &AppCredential,
        code: &OneTimeCode,
        now: Timestamp,
        after_step: Option<u64>,
        drift: i64,
    ) -> Result<Option<AppMatch>, InputError> {
        let _ = drift;
        self.verify(credential, code, now, after_step)
    }
}

/// A verifier that checks every code with a token's kept drift, so the challenge
/// machine, which knows only [`AppVerifier::verify`], checks drifted tokens too.
#[derive(Debug)]
pub(crate) struct Drifted<'a> {
    /// The verifier.
    pub inner: &'a dyn AppVerifier,
    /// The steps the token's clock is off.
    pub drift: i64,
}

impl AppVerifier for Drifted<'_> {
    fn provision(
        &self,
        issuer: &str,
        account: &str,
        rng: &dyn Randomness,
    ) -> Result<AppProvisioning, InputError> {
        self.inner.provision(issuer, account, rng)
    }

    fn verify(
        &self,
        credential: &AppCredential,
        code: &OneTimeCode,
        now: Timestamp,
        after_step: Option<u64>,
    ) -> Result<Option<AppMatch>, InputError> {
        self.inner
            .verify_drifted(credential, code, now, after_step, self.drift)
    }
}
