//! Retry and failover for calls, over any voice backends.
//!
//! The same rule as SMS ([`mfa_core::delivery::failover`]): a transient failure to
//! place the call (network, throttling, 5xx) is retried on the same route with a
//! growing pause, then the next route is tried; a misconfigured route is skipped at
//! once; failures that hold for every route (an invalid or blocked number) stop.
//!
//! How a placed call ended is never retried, on this backend or another: no answer,
//! busy, declined or hung up, answered without media. Those are the callee's answer,
//! not a fault of the transport, and another backend would ring the same phone again
//! (a user who declined would be called twice, a busy line rung from a second
//! provider). The error goes back to `Mfa`, which keeps the challenge pending
//! (`Error::CallNotCompleted`) so the user can ask for a new call or sign in another
//! way. A timeout stops too: the provider may have placed the call.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use mfa_core::delivery::Failover;
use mfa_core::{Delivery, DeliveryError, DeliveryRequest, EventSink, Receipt};

/// Tries voice backends in order, retrying failures to place the call with backoff.
///
/// The receipt is the one of the backend that placed the call, with its own call id
/// (a SIP Call-ID, a Twilio call SID), so the backend's lookups by id still work. When
/// every route fails, the error's message ends with the attempts in order, such as
/// `twilio:temporary delivery failure;sip:busy`. With [`FailoverVoice::events`], each
/// attempt is an [`mfa_core::Event::DeliveryAttempt`] saying which route was tried and
/// what came next.
///
/// Backoff pauses use Tokio's timer: run it on a Tokio runtime.
///
/// ```
/// use std::time::Duration;
/// use mfa_core::{MemoryEvents, Mfa};
/// use mfa_voice::{FailoverVoice, MemoryVoice};
///
/// let events = MemoryEvents::new();
/// let voice = FailoverVoice::new()
///     .route("primary", MemoryVoice::new())
///     .route("fallback", MemoryVoice::new())
///     .attempts_per_route(2)
///     .backoff(Duration::from_millis(200))
///     .events(events.clone());
/// let mfa = Mfa::builder().voice(voice).events(events).build()?;
/// # let _ = mfa;
/// # Ok::<(), mfa_core::Error>(())
/// ```
pub struct FailoverVoice {
    inner: Failover<dyn Delivery>,
}

impl fmt::Debug for FailoverVoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("FailoverVoice").field(&self.inner).finish()
    }
}

impl Default for FailoverVoice {
    fn default() -> Self {
        Self::new()
    }
}

impl FailoverVoice {
    /// No routes yet; 2 attempts per route, 500 ms first pause.
    pub fn new() -> Self {
        FailoverVoice {
            inner: Failover::new(),
        }
    }

    /// Adds a route, tried after the ones added before it. The name appears in
    /// receipts, errors and events: a label, not a credential.
    pub fn route(mut self, name: &str, backend: impl Delivery + 'static) -> Self {
        self.inner.push_route(name, Arc::new(backend));
        self
    }

    /// Adds a shared route.
    pub fn shared_route(mut self, name: &str, backend: Arc<dyn Delivery>) -> Self {
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

    /// Reports each attempt to `sink` as an [`mfa_core::Event::DeliveryAttempt`]
    /// (give it a clone of the sink `Mfa` has).
    pub fn events(mut self, sink: impl EventSink + 'static) -> Self {
        self.inner.set_events(Arc::new(sink));
        self
    }
}

#[async_trait]
impl Delivery for FailoverVoice {
    async fn send(&self, request: &DeliveryRequest) -> Result<Receipt, DeliveryError> {
        self.inner
            .run(
                request,
                |backend| async move { backend.send(request).await },
                tokio::time::sleep,
            )
            .await
    }
}
