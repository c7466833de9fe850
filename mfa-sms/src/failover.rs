//! Retry and failover as a layer over any backends.
//!
//! A transient failure (network, throttling, 5xx) is retried on the same route with a
//! growing pause, then the next route is tried. A route that is misconfigured is
//! skipped at once. Failures that hold for every route (an invalid or blocked number,
//! a rejected message) stop at once. A timeout also stops: the gateway may have taken
//! the message, and a code is never sent twice unless the user asks for a new one.

use std::fmt::{self, Write as _};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use mfa_core::{DeliveryError, DeliveryErrorKind, Receipt};

use crate::delivery::{OutgoingSms, SmsBackend};

struct Route {
    name: String,
    backend: Arc<dyn SmsBackend>,
}

/// Tries routes in order, retrying transient failures with backoff.
///
/// The receipt's id lists every attempt in order, separated by `;`: `name:error-kind`
/// for failures and `name:ok:provider-id` for the send that went through, such as
/// `twilio:temporary delivery failure;kannel:ok:c0ffee:accepted`.
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
    routes: Vec<Route>,
    attempts_per_route: u32,
    backoff: Duration,
}

impl fmt::Debug for FailoverSms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.routes.iter().map(|r| r.name.as_str()).collect();
        f.debug_struct("FailoverSms")
            .field("routes", &names)
            .field("attempts_per_route", &self.attempts_per_route)
            .field("backoff", &self.backoff)
            .finish()
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
            routes: Vec::new(),
            attempts_per_route: 2,
            backoff: Duration::from_millis(500),
        }
    }

    /// Adds a route, tried after the ones added before it.
    pub fn route(mut self, name: &str, backend: impl SmsBackend + 'static) -> Self {
        self.routes.push(Route {
            name: name.to_owned(),
            backend: Arc::new(backend),
        });
        self
    }

    /// Adds a shared route.
    pub fn shared_route(mut self, name: &str, backend: Arc<dyn SmsBackend>) -> Self {
        self.routes.push(Route {
            name: name.to_owned(),
            backend,
        });
        self
    }

    /// Attempts on each route before moving on (default 2, at least 1).
    pub fn attempts_per_route(mut self, attempts: u32) -> Self {
        self.attempts_per_route = attempts.max(1);
        self
    }

    /// The first pause between attempts on a route; it doubles each time (default 500 ms).
    pub fn backoff(mut self, first: Duration) -> Self {
        self.backoff = first;
        self
    }
}

enum Step {
    Retry,
    SkipRoute,
    Stop,
}

fn next_step(error: &DeliveryError) -> Step {
    match error.kind() {
        DeliveryErrorKind::Timeout => Step::Stop,
        DeliveryErrorKind::Configuration => Step::SkipRoute,
        _ if error.is_transient() => Step::Retry,
        _ => Step::Stop,
    }
}

#[async_trait]
impl SmsBackend for FailoverSms {
    async fn submit(&self, sms: &OutgoingSms<'_>) -> Result<Receipt, DeliveryError> {
        let mut log = String::new();
        let mut last: Option<DeliveryError> = None;
        'routes: for route in &self.routes {
            let mut pause = self.backoff;
            for attempt in 1..=self.attempts_per_route {
                if !log.is_empty() {
                    log.push(';');
                }
                match route.backend.submit(sms).await {
                    Ok(receipt) => {
                        let _ = write!(log, "{}:ok:{}", route.name, receipt.id);
                        return Ok(Receipt {
                            id: log,
                            call_outcome: receipt.call_outcome,
                        });
                    }
                    Err(error) => {
                        let _ = write!(log, "{}:{}", route.name, error.kind());
                        let step = next_step(&error);
                        last = Some(error);
                        match step {
                            Step::Stop => break 'routes,
                            Step::SkipRoute => continue 'routes,
                            Step::Retry if attempt < self.attempts_per_route => {
                                tokio::time::sleep(pause).await;
                                pause = pause.saturating_mul(2);
                            }
                            Step::Retry => continue 'routes,
                        }
                    }
                }
            }
        }
        Err(match last {
            Some(error) => DeliveryError::new(
                error.kind(),
                format!("{} (attempts: {log})", error.message()),
            ),
            None => DeliveryError::new(
                DeliveryErrorKind::Configuration,
                "no SMS route is configured",
            ),
        })
    }
}
