//! Retry and failover as a layer over any backends.
//!
//! A transient failure (network, throttling, 5xx) is retried on the same route with a
//! growing pause, then the next route is tried. A route that is misconfigured is
//! skipped at once. Failures that hold for every route (an invalid or blocked number,
//! a rejected message) stop at once. A timeout also stops: the gateway may have taken
//! the message, and a code is never sent twice unless the user asks for a new one.
//! The rule and the loop live in [`mfa_core::delivery::failover`], shared with calls.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use mfa_core::delivery::Failover;
use mfa_core::{DeliveryError, EventSink, Receipt};

use crate::delivery::{OutgoingSms, SmsBackend};

/// Tries routes in order, retrying transient failures with backoff: the SMS face of
/// [`mfa_core::delivery::Failover`], which holds the rule shared with voice calls.
///
/// The receipt is the one of the route that went through, with the provider's own
/// message id, so a [sent log](crate::SmsDelivery::with_sent_log) matches the
/// gateway's delivery reports. With [`FailoverSms::events`], each attempt is an
/// [`mfa_core::Event::DeliveryAttempt`]; when every route fails, the error's message
/// lists the attempts in order, such as `twilio:temporary delivery failure;kannel:destination blocked`.
///
/// Backoff pauses use Tokio's timer: run it on a Tokio runtime.
///
/// ```
/// use std::time::Duration;
/// use mfa_sms::{FailoverSms, MemorySms, SmsDelivery};
///
/// let primary = MemorySms::new();
/// let fallback = MemorySms::new();
/// let sms = FailoverSms::new()
///     .route("primary", primary.clone())
///     .route("fallback", fallback.clone())
///     .attempts_per_route(2)
///     .backoff(Duration::from_millis(200));
/// let channel = SmsDelivery::new(sms);
/// # let _ = channel;
/// ```
pub struct FailoverSms {
    inner: Failover<dyn SmsBackend>,
}

impl fmt::Debug for FailoverSms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("FailoverSms").field(&self.inner).finish()
    }
}

impl Default for FailoverSms {
    fn default() -> Self {
        Self::new()
    }
}

impl FailoverSms {
    /// No routes yet; 2 attempts per route, 500 ms first pause.
    pub fn new() -> Self {
        FailoverSms {
            inner: Failover::new(),
        }
    }

    /// Adds a route, tried after the ones added before it.
    pub fn route(mut self, name: &str, backend: impl SmsBackend + 'static) -> Self {
        self.inner.push_route(name, Arc::new(backend));
        self
    }

    /// Adds a shared route.
    pub fn shared_route(mut self, name: &str, backend: Arc<dyn SmsBackend>) -> Self {
        self.inner.push_route(name, backend);
        self
    }

    /// Attempts on each route before moving on (default 2, at least 1).
    pub fn attempts_per_route(mut self, attempts: u32) -> Self {
        self.inner.set_attempts_per_route(attempts);
        self
    }

    /// The first pause between attempts on a route; it doubles each time (default 500 ms).
    pub fn backoff(mut self, first: Duration) -> Self {
        self.inner.set_backoff(first);
        self
    }

    /// Reports each attempt to `sink` as an [`mfa_core::Event::DeliveryAttempt`].
    pub fn events(mut self, sink: impl EventSink + 'static) -> Self {
        self.inner.set_events(Arc::new(sink));
        self
    }
}

#[async_trait]
impl SmsBackend for FailoverSms {
    async fn submit(&self, sms: &OutgoingSms<'_>) -> Result<Receipt, DeliveryError> {
        self.inner
            .run(
                sms.request,
                |backend| async move { backend.submit(sms).await },
                tokio::time::sleep,
            )
            .await
    }
}
