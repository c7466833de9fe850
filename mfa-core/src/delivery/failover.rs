//! Retry and failover over several backends of one channel, shared by every channel.
//!
//! The rule is one for every channel ([`FailoverStep::after`]):
//! - a transient failure (network, throttling, 5xx) is retried on the same route with
//!   a growing pause, then the next route is tried;
//! - a misconfigured route is skipped at once;
//! - anything else stops at once: failures that hold for every route (an invalid or
//!   blocked number, a rejected message), a timeout (the provider may have taken the
//!   message or placed the call, and a code is never sent twice unless the user asks
//!   for a new one), and how a placed call ended (no answer, busy, declined, answered
//!   without media). A call outcome is the callee's answer, not the transport's: another
//!   backend would ring the same phone again. It goes back to the driver, which keeps
//!   the challenge pending so the user can ask for a new call or switch method.
//!
//! Channel crates wrap [`Failover`] in their own layer (`FailoverSms`, `FailoverVoice`)
//! and pass it their timer, since this crate depends on no runtime.

use std::fmt::{self, Write as _};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::delivery::{DeliveryError, DeliveryErrorKind, DeliveryRequest, Receipt};
use crate::event::{Event, EventSink};
use crate::method::Channel;
use crate::request::EventMeta;

/// What the failover layer does after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailoverStep {
    /// Try the same route again after a pause (then the next route).
    Retry,
    /// Skip to the next route at once.
    NextRoute,
    /// Try nothing more.
    Stop,
}

impl FailoverStep {
    /// The step after `error`; see the module docs for why.
    pub fn after(error: &DeliveryError) -> FailoverStep {
        match error.kind() {
            DeliveryErrorKind::Transient => FailoverStep::Retry,
            DeliveryErrorKind::Configuration => FailoverStep::NextRoute,
            _ => FailoverStep::Stop,
        }
    }
}

/// How one attempt of a failover layer went: [`Event::DeliveryAttempt`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum AttemptOutcome {
    /// The backend took the message or placed the call.
    Sent,
    /// It failed; the same route is tried again after a pause.
    Retrying {
        /// Why it failed.
        reason: DeliveryErrorKind,
    },
    /// It failed; the next route is tried.
    FailingOver {
        /// Why it failed.
        reason: DeliveryErrorKind,
    },
    /// It failed and nothing more is tried: the error goes back to the driver.
    GaveUp {
        /// Why it failed.
        reason: DeliveryErrorKind,
    },
}

struct Route<B: ?Sized> {
    name: String,
    backend: Arc<B>,
}

/// Routes tried in order over backends of type `B`, with retries and backoff.
///
/// The receipt is the one from the route that went through, its id the provider's
/// own, so delivery reports and call lookups find it. Every attempt is an
/// [`Event::DeliveryAttempt`] when an event sink is set; when every route fails, the
/// error's message lists the attempts in order, separated by `;` (`name:error-kind`).
pub struct Failover<B: ?Sized> {
    routes: Vec<Route<B>>,
    attempts_per_route: u32,
    backoff: Duration,
    events: Option<Arc<dyn EventSink>>,
}

impl<B: ?Sized> fmt::Debug for Failover<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.routes.iter().map(|r| r.name.as_str()).collect();
        f.debug_struct("Failover")
            .field("routes", &names)
            .field("attempts_per_route", &self.attempts_per_route)
            .field("backoff", &self.backoff)
            .field("events", &self.events.is_some())
            .finish()
    }
}

impl<B: ?Sized> Default for Failover<B> {
    fn default() -> Self {
        Self::new()
    }
}

impl<B: ?Sized> Failover<B> {
    /// No routes yet; 2 attempts per route, 500 ms first pause, no events.
    pub fn new() -> Self {
        Failover {
            routes: Vec::new(),
            attempts_per_route: 2,
            backoff: Duration::from_millis(500),
            events: None,
        }
    }

    /// Adds a route, tried after the ones added before it. The name appears in
    /// receipts, errors and events: give a label, not a credential.
    pub fn push_route(&mut self, name: &str, backend: Arc<B>) {
        self.routes.push(Route {
            name: name.to_owned(),
            backend,
        });
    }

    /// Attempts on each route before moving on (at least 1).
    pub fn set_attempts_per_route(&mut self, attempts: u32) {
        self.attempts_per_route = attempts.max(1);
    }

    /// The first pause between attempts on a route; it doubles each time.
    pub fn set_backoff(&mut self, first: Duration) {
        self.backoff = first;
    }

    /// Reports each attempt to `sink` (share the one given to `Mfa`).
    pub fn set_events(&mut self, sink: Arc<dyn EventSink>) {
        self.events = Some(sink);
    }

    /// The route names, in order.
    pub fn route_names(&self) -> impl Iterator<Item = &str> {
        self.routes.iter().map(|r| r.name.as_str())
    }

    /// Sends `request` through the routes: `send` makes one attempt on a backend,
    /// `sleep` pauses between retries (the channel crate's timer). At most
    /// `routes × attempts_per_route` attempts are made.
    pub async fn run<F, Fut, S, SFut>(
        &self,
        request: &DeliveryRequest,
        mut send: F,
        sleep: S,
    ) -> Result<Receipt, DeliveryError>
    where
        F: FnMut(Arc<B>) -> Fut,
        Fut: Future<Output = Result<Receipt, DeliveryError>>,
        S: Fn(Duration) -> SFut,
        SFut: Future<Output = ()>,
    {
        let mut log = String::new();
        let mut last: Option<DeliveryError> = None;
        // The pauses slept so far: an attempt's event is dated the request's time plus
        // these (the layer has no clock of its own).
        let mut slept = Duration::ZERO;
        'routes: for (index, route) in self.routes.iter().enumerate() {
            let last_route = index + 1 == self.routes.len();
            let mut pause = self.backoff;
            for attempt in 1..=self.attempts_per_route {
                match send(Arc::clone(&route.backend)).await {
                    Ok(receipt) => {
                        self.emit(request, slept, &route.name, attempt, AttemptOutcome::Sent);
                        return Ok(receipt);
                    }
                    Err(error) => {
                        if !log.is_empty() {
                            log.push(';');
                        }
                        let _ = write!(log, "{}:{}", route.name, error.kind());
                        let reason = error.kind();
                        let step = match FailoverStep::after(&error) {
                            FailoverStep::Retry if attempt < self.attempts_per_route => {
                                FailoverStep::Retry
                            }
                            FailoverStep::Retry | FailoverStep::NextRoute if !last_route => {
                                FailoverStep::NextRoute
                            }
                            _ => FailoverStep::Stop,
                        };
                        last = Some(error);
                        let outcome = match step {
                            FailoverStep::Retry => AttemptOutcome::Retrying { reason },
                            FailoverStep::NextRoute => AttemptOutcome::FailingOver { reason },
                            FailoverStep::Stop => AttemptOutcome::GaveUp { reason },
                        };
                        self.emit(request, slept, &route.name, attempt, outcome);
                        match step {
                            FailoverStep::Retry => {
                                sleep(pause).await;
                                slept = slept.saturating_add(pause);
                                pause = pause.saturating_mul(2);
                            }
                            FailoverStep::NextRoute => continue 'routes,
                            FailoverStep::Stop => break 'routes,
                        }
                    }
                }
            }
        }
        Err(match last {
            Some(error) => {
                let mut out = DeliveryError::new(
                    error.kind(),
                    format!("{} (attempts: {log})", error.message()),
                );
                if let Some(code) = error.provider_code() {
                    out = out.with_provider_code(code);
                }
                out.with_source(error)
            }
            None => DeliveryError::new(
                DeliveryErrorKind::Configuration,
                match request.channel {
                    Channel::Sms => "no SMS route is configured",
                    Channel::Voice => "no voice route is configured",
                    Channel::Email => "no email route is configured",
                },
            ),
        })
    }

    /// Reports one attempt, with the request's time (plus `slept`) and context when
    /// the request carries them.
    fn emit(
        &self,
        request: &DeliveryRequest,
        slept: Duration,
        route: &str,
        attempt: u32,
        outcome: AttemptOutcome,
    ) {
        let Some(sink) = &self.events else { return };
        let event = Event::DeliveryAttempt {
            user: request.user.clone(),
            challenge_id: request.challenge_id.clone(),
            channel: request.channel,
            route: route.to_owned(),
            attempt,
            outcome,
        };
        match &request.meta {
            Some(meta) => sink.emit_with(
                event,
                &EventMeta {
                    at: meta.at + slept,
                    request: meta.request.clone(),
                },
            ),
            None => sink.emit(event),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_transient_failures_are_retried_and_call_outcomes_stop() {
        let step = |kind| FailoverStep::after(&DeliveryError::new(kind, "x"));
        assert_eq!(step(DeliveryErrorKind::Transient), FailoverStep::Retry);
        assert_eq!(
            step(DeliveryErrorKind::Configuration),
            FailoverStep::NextRoute
        );
        for kind in [
            DeliveryErrorKind::Timeout,
            DeliveryErrorKind::NoAnswer,
            DeliveryErrorKind::Busy,
            DeliveryErrorKind::Declined,
            DeliveryErrorKind::NoMedia,
            DeliveryErrorKind::InvalidDestination,
            DeliveryErrorKind::Blocked,
            DeliveryErrorKind::Rejected,
        ] {
            assert_eq!(step(kind), FailoverStep::Stop, "{kind:?}");
        }
    }
}
