//! The [`Delivery`] trait every SMS and voice backend implements, and the in-memory
//! backend tests are built on.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;

use crate::clock::{Clock, Timestamp};
use crate::code::OneTimeCode;
use crate::method::{ChallengeId, Channel, Destination};
use crate::number_match::SignInNumber;
use crate::phone::PhoneNumber;
use crate::policy::CostNotice;
use crate::user::UserId;

pub mod failover;
pub mod outbox;

pub use failover::{AttemptOutcome, Failover, FailoverStep};
pub use outbox::{Arrival, MAX_KEPT, Outbox};

/// Why a challenge exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Purpose {
    /// Checking a method the user is setting up.
    Enrollment,
    /// A second factor at sign-in.
    SignIn,
}

/// What the message or call carries.
#[derive(Clone, PartialEq, Eq)]
pub enum Content {
    /// A code for the user to type.
    Code(OneTimeCode),
    /// A call that asks the user to press `#` to approve (and `0#` to report fraud).
    ConfirmByKey,
    /// A call that asks the user to key in the two digits their sign-in page shows
    /// (and `0#` to report fraud); the backend reports whether they matched.
    MatchNumber(SignInNumber),
}

impl fmt::Debug for Content {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Content::Code(code) => write!(f, "Code({code:?})"),
            Content::ConfirmByKey => f.write_str("ConfirmByKey"),
            Content::MatchNumber(number) => write!(f, "MatchNumber({number:?})"),
        }
    }
}

/// One message or call to deliver. The backend renders it for its channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRequest {
    /// The challenge it belongs to (webhooks report back with it).
    pub challenge_id: ChallengeId,
    /// Who it is for.
    pub user: UserId,
    /// SMS or voice.
    pub channel: Channel,
    /// Where it goes.
    pub destination: Destination,
    /// A code, or a request to press a key.
    pub content: Content,
    /// Enrollment or sign-in.
    pub purpose: Purpose,
    /// How long the code lives.
    pub expires_in: Duration,
    /// The locale to render in (`en`, `nb`).
    pub locale: String,
    /// The application's name.
    pub app_name: String,
    /// Set when the destination is abroad.
    pub cost_notice: Option<CostNotice>,
    /// When the service asked for it, on the service's clock, and the request it
    /// came from ([`Mfa::with_request`](crate::Mfa::with_request)): what a delivery
    /// layer's own events carry ([`Event::DeliveryAttempt`](crate::Event)). `None`
    /// when a request is built by hand. Never sent to the user.
    pub meta: Option<crate::request::EventMeta>,
}

impl DeliveryRequest {
    /// The code, when the content is one.
    pub fn code(&self) -> Option<&OneTimeCode> {
        match &self.content {
            Content::Code(code) => Some(code),
            Content::ConfirmByKey | Content::MatchNumber(_) => None,
        }
    }
}

/// What a call ended with, when the backend knows it at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    /// The user pressed `#`.
    Confirmed,
    /// The user pressed `0#`: they did not start this sign-in.
    FraudReported,
    /// The user keyed in another number than the sign-in page shows: the challenge is
    /// denied and counted as a failure.
    WrongNumber,
}

/// A backend's acknowledgement of a send.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Receipt {
    /// The provider's message or call id.
    pub id: String,
    /// For calls that finished within the send: how they ended.
    pub call_outcome: Option<CallOutcome>,
}

impl Receipt {
    /// A receipt with the provider's id.
    pub fn new(id: impl Into<String>) -> Self {
        Receipt {
            id: id.into(),
            call_outcome: None,
        }
    }
}

/// Sends codes and places calls. One required method; object-safe, used as `Arc<dyn Delivery>`.
#[async_trait]
pub trait Delivery: Send + Sync + fmt::Debug {
    /// Delivers one request and returns the provider's receipt.
    async fn send(&self, request: &DeliveryRequest) -> Result<Receipt, DeliveryError>;
}

#[async_trait]
impl<T: Delivery + ?Sized> Delivery for Arc<T> {
    async fn send(&self, request: &DeliveryRequest) -> Result<Receipt, DeliveryError> {
        (**self).send(request).await
    }
}

/// A failed send. Messages never contain the code.
///
/// Equality compares the kind, message and provider code; the source is context.
#[derive(Debug, Clone)]
pub struct DeliveryError {
    kind: DeliveryErrorKind,
    message: String,
    // Behind one pointer: `Error` holds a `DeliveryError`, and stays small.
    detail: Option<Arc<Detail>>,
}

#[derive(Debug, Clone, Default)]
struct Detail {
    provider_code: Option<ProviderCode>,
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl fmt::Display for DeliveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

// By hand rather than derived: the source is the error given, not the `Arc` holding
// it, so callers can downcast it.
impl std::error::Error for DeliveryError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self.detail.as_ref().and_then(|d| d.source.as_ref()) {
            Some(source) => Some(source.as_ref()),
            None => None,
        }
    }
}

impl PartialEq for DeliveryError {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
            && self.message == other.message
            && self.provider_code() == other.provider_code()
    }
}

impl Eq for DeliveryError {}

/// A provider's own code for a failure (Twilio's `21610` "unsubscribed", an SMPP
/// `command_status`, a SIP status), to act on what the kind does not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProviderCode {
    /// Who gave the code: `"twilio"`, `"smpp"`, `"sip"`, `"kannel"`, `"http"`.
    pub provider: &'static str,
    /// The code, as the provider numbers it.
    pub code: u32,
}

impl ProviderCode {
    /// The code `code` of `provider`.
    pub const fn new(provider: &'static str, code: u32) -> Self {
        ProviderCode { provider, code }
    }
}

impl fmt::Display for ProviderCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.provider, self.code)
    }
}

/// What kind of delivery failure happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum DeliveryErrorKind {
    /// Temporary: network, throttling, 5xx. Retry or fail over.
    Transient,
    /// The provider did not answer in time.
    Timeout,
    /// The number cannot be reached on this channel.
    InvalidDestination,
    /// The provider refuses this destination (blocked country, opted out).
    Blocked,
    /// The backend's credentials or configuration are wrong.
    Configuration,
    /// Nobody answered the call.
    NoAnswer,
    /// The line was busy.
    Busy,
    /// The callee declined or hung up before pressing a key.
    Declined,
    /// Any other permanent failure.
    Rejected,
    /// The call was answered but no audio or keys came from the callee (a silent line,
    /// or media refused because it came from elsewhere): not the provider timing out.
    NoMedia,
}

impl fmt::Display for DeliveryErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DeliveryErrorKind::Transient => "temporary delivery failure",
            DeliveryErrorKind::Timeout => "delivery timed out",
            DeliveryErrorKind::InvalidDestination => "invalid destination",
            DeliveryErrorKind::Blocked => "destination blocked",
            DeliveryErrorKind::Configuration => "delivery misconfigured",
            DeliveryErrorKind::NoAnswer => "no answer",
            DeliveryErrorKind::Busy => "busy",
            DeliveryErrorKind::Declined => "call declined",
            DeliveryErrorKind::Rejected => "delivery rejected",
            DeliveryErrorKind::NoMedia => "answered without media",
        })
    }
}

impl DeliveryError {
    /// An error of `kind` with a message free of codes and secrets.
    pub fn new(kind: DeliveryErrorKind, message: impl Into<String>) -> Self {
        DeliveryError {
            kind,
            message: message.into(),
            detail: None,
        }
    }

    /// The same error, with the provider's own code for it.
    pub fn with_provider_code(mut self, code: ProviderCode) -> Self {
        Arc::make_mut(self.detail.get_or_insert_with(Arc::default)).provider_code = Some(code);
        self
    }

    /// The same error, caused by `source` (kept for [`std::error::Error::source`]). The
    /// source must not hold the code or a secret either.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Arc::make_mut(self.detail.get_or_insert_with(Arc::default)).source = Some(Arc::new(source));
        self
    }

    /// The provider's own code, when it gave one.
    pub fn provider_code(&self) -> Option<ProviderCode> {
        self.detail.as_ref().and_then(|d| d.provider_code)
    }

    /// A temporary failure.
    pub fn transient(message: impl Into<String>) -> Self {
        Self::new(DeliveryErrorKind::Transient, message)
    }

    /// A permanent failure.
    pub fn permanent(message: impl Into<String>) -> Self {
        Self::new(DeliveryErrorKind::Rejected, message)
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> DeliveryErrorKind {
        self.kind
    }

    /// The backend's description.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether a retry (or another backend) may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self.kind,
            DeliveryErrorKind::Transient
                | DeliveryErrorKind::Timeout
                | DeliveryErrorKind::NoAnswer
                | DeliveryErrorKind::Busy
                | DeliveryErrorKind::NoMedia
        )
    }

    /// Whether retrying the same request cannot help.
    pub fn is_permanent(&self) -> bool {
        !self.is_transient()
    }

    /// Whether this is how a placed call ended (no answer, busy, declined, hung up,
    /// answered without media, or a provider that stopped answering while placing it)
    /// rather than a failure to place it.
    pub fn is_call_outcome(&self) -> bool {
        matches!(
            self.kind,
            DeliveryErrorKind::NoAnswer
                | DeliveryErrorKind::Busy
                | DeliveryErrorKind::Declined
                | DeliveryErrorKind::Timeout
                | DeliveryErrorKind::NoMedia
        )
    }

    /// Whether the provider did not answer in time.
    pub fn is_timeout(&self) -> bool {
        self.kind == DeliveryErrorKind::Timeout
    }
}

/// One request the memory backend took.
#[derive(Debug, Clone)]
pub struct SentMessage {
    /// The request.
    pub request: DeliveryRequest,
    /// When it was sent.
    pub sent_at: Timestamp,
    /// When it reaches the phone (later than `sent_at` when told to be late).
    pub arrives_at: Timestamp,
}

/// What a test told a memory backend to do to its next sends: fail, or arrive late.
/// Shared by the memory backends of every channel.
#[derive(Debug, Default)]
pub struct FaultPlan {
    failures: VecDeque<DeliveryError>,
    fail_always: Option<DeliveryError>,
    delays: VecDeque<Duration>,
}

impl FaultPlan {
    /// The next send fails with `error` (queued).
    pub fn fail_next(&mut self, error: DeliveryError) {
        self.failures.push_back(error);
    }

    /// Every send fails with `error` until [`FaultPlan::recover`].
    pub fn fail_always(&mut self, error: DeliveryError) {
        self.fail_always = Some(error);
    }

    /// Sends succeed again.
    pub fn recover(&mut self) {
        self.fail_always = None;
        self.failures.clear();
    }

    /// The next delivered message arrives `by` late (queued).
    pub fn delay_next(&mut self, by: Duration) {
        self.delays.push_back(by);
    }

    /// Decides the next send: the failure planned for it, or how late it arrives.
    pub fn next_send(&mut self) -> Result<Duration, DeliveryError> {
        if let Some(error) = self.failures.pop_front() {
            return Err(error);
        }
        if let Some(error) = &self.fail_always {
            return Err(error.clone());
        }
        Ok(self.delays.pop_front().unwrap_or_default())
    }
}

/// An in-memory backend: records what it is asked to send and can fail or be late on request.
///
/// Clones share the same record, so a test keeps one clone and gives another to `Mfa`.
/// It keeps the last [`MAX_KEPT`] messages.
///
/// ```
/// use mfa_core::{DeliveryError, MemoryDelivery};
///
/// let phone = MemoryDelivery::new();
/// phone.fail_next(DeliveryError::transient("network down"));
/// assert!(phone.sent().is_empty());
/// ```
#[derive(Debug, Clone)]
pub struct MemoryDelivery {
    outbox: Outbox<SentMessage>,
    call_outcome: Arc<Mutex<Option<CallOutcome>>>,
}

impl Default for MemoryDelivery {
    fn default() -> Self {
        Self::new()
    }
}

impl Arrival for SentMessage {
    fn arrives_at(&self) -> Timestamp {
        self.arrives_at
    }
}

impl MemoryDelivery {
    /// A backend that sends at once, timed by the system clock.
    pub fn new() -> Self {
        Self::with_clock(Arc::new(crate::clock::SystemClock))
    }

    /// A backend timed by `clock` (share the driver's manual clock in tests).
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        MemoryDelivery {
            outbox: Outbox::with_clock(clock),
            call_outcome: Arc::default(),
        }
    }

    fn call_outcome(&self) -> MutexGuard<'_, Option<CallOutcome>> {
        crate::sync::lock(&self.call_outcome)
    }

    /// The next send fails with `error` (queued: call again for more failures).
    pub fn fail_next(&self, error: DeliveryError) {
        self.outbox.fail_next(error);
    }

    /// Every send fails with `error` until [`MemoryDelivery::recover`].
    pub fn fail_always(&self, error: DeliveryError) {
        self.outbox.fail_always(error);
    }

    /// Sends succeed again.
    pub fn recover(&self) {
        self.outbox.recover();
    }

    /// The next message reaches the phone `by` late.
    pub fn delay_next(&self, by: Duration) {
        self.outbox.delay_next(by);
    }

    /// Calls end with `outcome` (as if the callee pressed the keys at once); `None`
    /// leaves them for [`crate::Mfa::report_call`].
    pub fn answer_calls_with(&self, outcome: Option<CallOutcome>) {
        *self.call_outcome() = outcome;
    }

    /// Forgets everything sent so far (failure and delay settings stay).
    pub fn clear(&self) {
        self.outbox.clear();
    }

    /// Everything sent, oldest first.
    pub fn sent(&self) -> Vec<SentMessage> {
        self.outbox.sent()
    }

    /// What has reached `number` by now, oldest arrival first.
    pub fn inbox(&self, number: &PhoneNumber) -> Vec<SentMessage> {
        self.outbox
            .arrived(|m| &m.request.destination.number == number)
    }

    /// The code in the latest message to arrive at `number`, if any has.
    pub fn last_code_to(&self, number: &PhoneNumber) -> Option<OneTimeCode> {
        self.inbox(number)
            .into_iter()
            .rev()
            .find_map(|m| m.request.code().cloned())
    }
}

#[async_trait]
impl Delivery for MemoryDelivery {
    async fn send(&self, request: &DeliveryRequest) -> Result<Receipt, DeliveryError> {
        let call_outcome = match request.content {
            Content::ConfirmByKey | Content::MatchNumber(_) => *self.call_outcome(),
            Content::Code(_) => None,
        };
        let number = self.outbox.take(|sent_at, arrives_at| SentMessage {
            request: request.clone(),
            sent_at,
            arrives_at,
        })?;
        Ok(Receipt {
            id: format!("memory-{number}"),
            call_outcome,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answered_without_media_is_its_own_kind_and_a_call_outcome() {
        let silent = DeliveryError::new(DeliveryErrorKind::NoMedia, "no audio");
        assert!(!silent.is_timeout());
        assert!(silent.is_call_outcome());
        assert!(silent.is_transient());
        assert_eq!(silent.to_string(), "answered without media: no audio");
        let slow = DeliveryError::new(DeliveryErrorKind::Timeout, "the API timed out");
        assert!(slow.is_timeout());
        assert_ne!(silent.kind(), slow.kind());
    }
}
