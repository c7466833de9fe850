//! [`MemoryEmail`]: records what it was asked to send, fails or is late on request.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use mfa_core::delivery::{Arrival, Outbox};
use mfa_core::{
    ChallengeId, Clock, DeliveryError, EmailAddress, OneTimeCode, Purpose, Receipt, Timestamp,
};

use crate::delivery::{EmailBackend, OutgoingEmail};
use crate::template::RenderedEmail;

pub use mfa_core::delivery::MAX_KEPT;

/// One email the memory backend took. `Debug` hides the bodies and the code.
#[derive(Clone)]
pub struct SentEmail {
    /// The recipient.
    pub to: EmailAddress,
    /// Subject and bodies, as rendered.
    pub content: RenderedEmail,
    /// The code it carries.
    pub code: OneTimeCode,
    /// The challenge it belongs to.
    pub challenge_id: ChallengeId,
    /// Enrollment or sign-in.
    pub purpose: Purpose,
    /// When it was submitted.
    pub sent_at: Timestamp,
    /// When it reaches the mailbox (later than `sent_at` when told to be late).
    pub arrives_at: Timestamp,
}

impl fmt::Debug for SentEmail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SentEmail")
            .field("to", &self.to)
            .field("subject", &self.content.subject)
            .field("sent_at", &self.sent_at)
            .field("arrives_at", &self.arrives_at)
            .finish_non_exhaustive()
    }
}

impl Arrival for SentEmail {
    fn arrives_at(&self) -> Timestamp {
        self.arrives_at
    }
}

/// An in-memory mail server: records recipient, texts and time; fails or delivers
/// late on request (through mfa-core's [`Outbox`], like the other memory backends).
/// It keeps the last [`MAX_KEPT`] emails. Clones share the record: keep one in the
/// test, give another to the app.
///
/// ```
/// use std::time::Duration;
/// use mfa_core::DeliveryError;
/// use mfa_email::{EmailChannel, MemoryEmail};
///
/// let mailbox = MemoryEmail::new();
/// let channel = EmailChannel::new(mailbox.clone()); // give this to Mfa::builder().email(..)
/// mailbox.fail_next(DeliveryError::transient("451 try again later"));
/// mailbox.delay_next(Duration::from_secs(90));
/// assert!(mailbox.sent().is_empty());
/// # let _ = channel;
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemoryEmail {
    outbox: Outbox<SentEmail>,
}

impl MemoryEmail {
    /// A mail server timed by the system clock.
    pub fn new() -> Self {
        Self::default()
    }

    /// A mail server timed by `clock` (share the driver's `ManualClock` in tests).
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        MemoryEmail {
            outbox: Outbox::with_clock(clock),
        }
    }

    /// The next submit fails with `error` (queued: call again for more failures).
    pub fn fail_next(&self, error: DeliveryError) {
        self.outbox.fail_next(error);
    }

    /// Every submit fails with `error` until [`MemoryEmail::recover`].
    pub fn fail_always(&self, error: DeliveryError) {
        self.outbox.fail_always(error);
    }

    /// Submits succeed again.
    pub fn recover(&self) {
        self.outbox.recover();
    }

    /// The next email reaches its mailbox `by` late.
    pub fn delay_next(&self, by: Duration) {
        self.outbox.delay_next(by);
    }

    /// Forgets everything sent so far (failure and delay settings stay).
    pub fn clear(&self) {
        self.outbox.clear();
    }

    /// Everything sent, oldest first.
    pub fn sent(&self) -> Vec<SentEmail> {
        self.outbox.sent()
    }

    /// What has reached `address` by now, oldest arrival first. Addresses compare
    /// without regard to letter case, as mail servers deliver them.
    pub fn inbox(&self, address: &EmailAddress) -> Vec<SentEmail> {
        let wanted = address.limit_subject();
        self.outbox.arrived(|m| m.to.limit_subject() == wanted)
    }

    /// The code in the latest email to arrive at `address`, if any has.
    pub fn last_code_to(&self, address: &EmailAddress) -> Option<OneTimeCode> {
        self.inbox(address).pop().map(|m| m.code)
    }
}

#[async_trait]
impl EmailBackend for MemoryEmail {
    async fn submit(&self, email: &OutgoingEmail) -> Result<Receipt, DeliveryError> {
        let number = self.outbox.take(|sent_at, arrives_at| SentEmail {
            to: email.to.clone(),
            content: email.content.clone(),
            code: email.code.clone(),
            challenge_id: email.challenge_id.clone(),
            purpose: email.purpose,
            sent_at,
            arrives_at,
        })?;
        Ok(Receipt::new(format!("memory-email-{number}")))
    }
}
