//! Backends for tests and development: [`MemorySms`] records, [`ConsoleSms`] prints.

use std::fmt;
use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use mfa_core::delivery::{Arrival, Outbox};
use mfa_core::{ChallengeId, Clock, DeliveryError, OneTimeCode, PhoneNumber, Receipt, Timestamp};

use crate::delivery::{OutgoingSms, SmsBackend};
use crate::encoding::SmsLength;

/// One message the memory backend took. `Debug` hides the text and the code.
#[derive(Clone)]
pub struct SentSms {
    /// The recipient.
    pub to: PhoneNumber,
    /// The text as the phone shows it.
    pub text: String,
    /// Its alphabet and segments.
    pub length: SmsLength,
    /// The code it carries.
    pub code: Option<OneTimeCode>,
    /// The challenge it belongs to.
    pub challenge_id: ChallengeId,
    /// When it was submitted.
    pub sent_at: Timestamp,
    /// When it reaches the phone (later than `sent_at` when told to be late).
    pub arrives_at: Timestamp,
}

impl fmt::Debug for SentSms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SentSms")
            .field("to", &self.to)
            .field("text", &"<redacted>")
            .field("length", &self.length)
            .field("sent_at", &self.sent_at)
            .field("arrives_at", &self.arrives_at)
            .finish_non_exhaustive()
    }
}

impl Arrival for SentSms {
    fn arrives_at(&self) -> Timestamp {
        self.arrives_at
    }
}

/// An in-memory SMS gateway: records number, text and time; fails or delivers late on
/// request (through mfa-core's [`Outbox`], like the other memory backends). It keeps
/// the last [`mfa_core::delivery::MAX_KEPT`] messages. Clones share the record: keep
/// one in the test, give another to the app.
///
/// ```
/// use std::time::Duration;
/// use mfa_core::DeliveryError;
/// use mfa_sms::{MemorySms, SmsDelivery};
///
/// let phone = MemorySms::new();
/// let channel = SmsDelivery::new(phone.clone()); // give this to Mfa::builder().sms(..)
/// phone.fail_next(DeliveryError::transient("operator down"));
/// phone.delay_next(Duration::from_secs(90));
/// assert!(phone.sent().is_empty());
/// # let _ = channel;
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemorySms {
    outbox: Outbox<SentSms>,
}

impl MemorySms {
    /// A gateway timed by the system clock.
    pub fn new() -> Self {
        Self::default()
    }

    /// A gateway timed by `clock` (share the driver's `ManualClock` in tests).
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        MemorySms {
            outbox: Outbox::with_clock(clock),
        }
    }

    /// The next submit fails with `error` (queued: call again for more failures).
    pub fn fail_next(&self, error: DeliveryError) {
        self.outbox.fail_next(error);
    }

    /// Every submit fails with `error` until [`MemorySms::recover`].
    pub fn fail_always(&self, error: DeliveryError) {
        self.outbox.fail_always(error);
    }

    /// Submits succeed again.
    pub fn recover(&self) {
        self.outbox.recover();
    }

    /// The next message reaches the phone `by` late.
    pub fn delay_next(&self, by: Duration) {
        self.outbox.delay_next(by);
    }

    /// Everything submitted, oldest first.
    pub fn sent(&self) -> Vec<SentSms> {
        self.outbox.sent()
    }

    /// What has reached `number` by now, oldest arrival first.
    pub fn inbox(&self, number: &PhoneNumber) -> Vec<SentSms> {
        self.outbox.arrived(|m| &m.to == number)
    }

    /// The code in the latest message to have reached `number`, if any has.
    pub fn last_code_to(&self, number: &PhoneNumber) -> Option<OneTimeCode> {
        self.inbox(number).into_iter().rev().find_map(|m| m.code)
    }

    /// The text of the latest message to have reached `number`.
    pub fn last_text_to(&self, number: &PhoneNumber) -> Option<String> {
        self.inbox(number).pop().map(|m| m.text)
    }
}

#[async_trait]
impl SmsBackend for MemorySms {
    async fn submit(&self, sms: &OutgoingSms<'_>) -> Result<Receipt, DeliveryError> {
        let number = self.outbox.take(|sent_at, arrives_at| SentSms {
            to: sms.to.clone(),
            text: sms.text.to_owned(),
            length: sms.length,
            code: sms.request.code().cloned(),
            challenge_id: sms.request.challenge_id.clone(),
            sent_at,
            arrives_at,
        })?;
        Ok(Receipt::new(format!("memory-sms-{number}")))
    }
}

/// Prints each message to stderr, for development. The code is printed: never use it
/// in production.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConsoleSms;

#[async_trait]
impl SmsBackend for ConsoleSms {
    async fn submit(&self, sms: &OutgoingSms<'_>) -> Result<Receipt, DeliveryError> {
        let mut err = std::io::stderr().lock();
        // A closed stderr must not fail the sign-in of a development server.
        let _ = writeln!(
            err,
            "--- SMS to {} ({}, {} segment(s)) ---\n{}\n---",
            sms.to.e164(),
            sms.length.encoding,
            sms.length.segments,
            sms.text
        );
        Ok(Receipt::new(format!(
            "console-{}",
            sms.request.challenge_id.as_str()
        )))
    }
}
