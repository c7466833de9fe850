//! What a call ended with, and how a backend's own task or webhook hands it to the
//! driver once `send` has returned.

use std::fmt;
use std::sync::{Arc, Mutex, Weak};

use mfa_core::{CallOutcome, ChallengeId, DeliveryError, Mfa, UserId, Verification};

/// What a call told us, for the driver.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallEvent {
    /// The callee pressed `#` or `0#`: reported with [`Mfa::report_call`].
    Outcome {
        /// Whose challenge it is (kept with the call when it was placed).
        user: UserId,
        /// The challenge the call was for.
        challenge_id: ChallengeId,
        /// What the keys decided.
        outcome: CallOutcome,
    },
    /// The call ended without verifying (no answer, busy, failed, hung up before the
    /// key, no media). The challenge stays pending: the user may call again or switch
    /// method. Reported with [`Mfa::report_call_ended`], which says why in an event.
    Ended {
        /// Whose challenge it is (kept with the call when it was placed).
        user: UserId,
        /// The challenge the call was for.
        challenge_id: ChallengeId,
        /// Why, as a typed delivery error.
        error: DeliveryError,
    },
}

impl CallEvent {
    /// The challenge the call was for.
    pub fn challenge_id(&self) -> &ChallengeId {
        match self {
            CallEvent::Outcome { challenge_id, .. } | CallEvent::Ended { challenge_id, .. } => {
                challenge_id
            }
        }
    }

    /// Whose challenge the call was for.
    pub fn user(&self) -> &UserId {
        match self {
            CallEvent::Outcome { user, .. } | CallEvent::Ended { user, .. } => user,
        }
    }

    /// Hands the event to the driver for the call's user: an outcome is reported with
    /// [`Mfa::report_call`] (a `#` on a sign-in approves it; the sign-in page redeems
    /// it with [`Mfa::poll`]); an ended call with [`Mfa::report_call_ended`], which
    /// changes nothing and answers `Ok(None)`.
    pub async fn report_to(&self, mfa: &Mfa) -> Result<Option<Verification>, mfa_core::Error> {
        match self {
            CallEvent::Outcome {
                user,
                challenge_id,
                outcome,
            } => mfa
                .report_call(user, challenge_id, *outcome)
                .await
                .map(Some),
            CallEvent::Ended {
                user,
                challenge_id,
                error,
            } => mfa
                .report_call_ended(user, challenge_id, error)
                .await
                .map(|()| None),
        }
    }
}

/// Why a backend could not hand a call's event to the driver.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// No driver is attached (or it was dropped): the event is lost, and nothing is
    /// approved (fail closed).
    #[error("no driver is attached to report the call to")]
    NotAttached,
    /// The driver refused or failed (the store is down, the challenge is gone).
    #[error(transparent)]
    Driver(#[from] mfa_core::Error),
}

/// The driver a backend's own tasks report their calls to, attached after the driver
/// is built (the driver holds the backend, so the backend holds it weakly). Clones
/// share the attachment.
#[derive(Clone, Default)]
pub struct CallReporter {
    target: Arc<Mutex<Option<Weak<Mfa>>>>,
}

impl fmt::Debug for CallReporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallReporter")
            .field("attached", &self.driver().is_some())
            .finish()
    }
}

impl CallReporter {
    /// Reports to `mfa` from now on.
    pub fn attach(&self, mfa: &Arc<Mfa>) {
        *self.lock() = Some(Arc::downgrade(mfa));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Weak<Mfa>>> {
        match self.target.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    fn driver(&self) -> Option<Arc<Mfa>> {
        self.lock().as_ref().and_then(Weak::upgrade)
    }

    /// Hands `event` to the attached driver.
    pub async fn report(&self, event: &CallEvent) -> Result<Option<Verification>, ReportError> {
        let mfa = self.driver().ok_or(ReportError::NotAttached)?;
        Ok(event.report_to(&mfa).await?)
    }
}
