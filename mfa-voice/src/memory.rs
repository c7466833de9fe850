//! The in-memory voice backend: records every call and its script, and plays it to a
//! simulated callee, so tests can drive both ways a call verifies.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use mfa_core::delivery::FaultPlan;
use mfa_core::{
    ChallengeId, Clock, Content, Delivery, DeliveryError, DeliveryErrorKind, DeliveryRequest,
    PhoneNumber, Receipt, SystemClock, Timestamp,
};

use crate::script::{CallEnd, CallScript, Playback, ScriptOptions};

/// How a simulated phone behaves when the memory backend calls it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Callee {
    /// Answers and waits: the test presses keys later with [`MemoryVoice::press`] and
    /// reports the outcome with [`mfa_core::Mfa::report_call`] for the call's user
    /// (`PlacedCall::request.user`), as a webhook would. The default.
    Answers,
    /// Answers and presses these keys as the prompts come; the outcome is in the receipt.
    Presses(String),
    /// An answering machine: answers, listens, presses nothing.
    Voicemail,
    /// Answers and hangs up before any key.
    HangsUp,
    /// Rings out: a [`DeliveryErrorKind::NoAnswer`] error.
    NoAnswer,
    /// Busy: a [`DeliveryErrorKind::Busy`] error.
    Busy,
}

/// Where a recorded call stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallState {
    /// Answered and waiting for [`MemoryVoice::press`] or [`MemoryVoice::hang_up`].
    InProgress,
    /// Over: what the callee heard and how it ended.
    Ended(Playback),
    /// Never connected.
    NotConnected(DeliveryErrorKind),
}

/// One call the memory backend placed.
#[derive(Debug, Clone)]
pub struct PlacedCall {
    /// The request (its code, if any, is redacted in `Debug`).
    pub request: DeliveryRequest,
    /// The rendered script.
    pub script: CallScript,
    /// When it was placed.
    pub placed_at: Timestamp,
    /// Where it stands.
    pub state: CallState,
}

impl PlacedCall {
    /// What the callee heard, once the call is over.
    pub fn playback(&self) -> Option<&Playback> {
        match &self.state {
            CallState::Ended(p) => Some(p),
            _ => None,
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    calls: Vec<PlacedCall>,
    callees: HashMap<String, Callee>,
    default_callee: Option<Callee>,
    faults: FaultPlan,
}

/// An in-memory voice backend for tests: always compiled.
///
/// Clones share the same record, so a test keeps one clone and gives another to `Mfa`.
/// Each number can be preset to answer and press keys at once (the outcome comes back
/// in the receipt), to ring out or be busy (typed delivery errors), or to answer and
/// wait while the test presses keys later (the outcome then goes through
/// [`mfa_core::Mfa::report_call`], as with a webhook).
///
/// ```
/// use mfa_core::{CallOutcome, ChallengeId, Content, Delivery, DeliveryRequest, Destination, Channel, Purpose, PhoneNumber, UserId};
/// use mfa_voice::{Callee, MemoryVoice};
///
/// # tokio_test();
/// # fn tokio_test() {
/// let phone = MemoryVoice::new();
/// let number = PhoneNumber::parse("+4741234567").unwrap();
/// phone.set_callee(&number, Callee::Presses("#".into()));
/// let request = DeliveryRequest {
///     challenge_id: ChallengeId::parse("c1").unwrap(),
///     user: UserId::new("kari@example.no").unwrap(),
///     channel: Channel::Voice,
///     destination: Destination { number, extension: None },
///     content: Content::ConfirmByKey,
///     purpose: Purpose::SignIn,
///     expires_in: std::time::Duration::from_secs(300),
///     locale: "en".into(),
///     app_name: "Contoso".into(),
///     cost_notice: None,
///     meta: None,
/// };
/// let receipt = block_on(phone.send(&request)).unwrap();
/// assert_eq!(receipt.call_outcome, Some(CallOutcome::Confirmed));
/// # }
/// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct MemoryVoice {
    inner: Arc<Mutex<Inner>>,
    clock: Arc<dyn Clock>,
    options: ScriptOptions,
}

impl Default for MemoryVoice {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryVoice {
    /// A backend timed by the system clock, with the default script options.
    pub fn new() -> Self {
        Self::with_clock(Arc::new(SystemClock))
    }

    /// A backend timed by `clock` (share the driver's manual clock in tests).
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        MemoryVoice {
            inner: Arc::new(Mutex::new(Inner::default())),
            clock,
            options: ScriptOptions::default(),
        }
    }

    /// Renders scripts with these options.
    pub fn with_options(mut self, options: ScriptOptions) -> Self {
        self.options = options;
        self
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// How the phone at `number` behaves from now on.
    pub fn set_callee(&self, number: &PhoneNumber, callee: Callee) {
        self.lock().callees.insert(number.e164().to_owned(), callee);
    }

    /// How every phone without its own setting behaves (default [`Callee::Answers`]).
    pub fn set_default_callee(&self, callee: Callee) {
        self.lock().default_callee = Some(callee);
    }

    /// The next call fails with `error` before it is placed (queued).
    pub fn fail_next(&self, error: DeliveryError) {
        self.lock().faults.fail_next(error);
    }

    /// Every call fails with `error` before it is placed, until [`MemoryVoice::recover`].
    pub fn fail_always(&self, error: DeliveryError) {
        self.lock().faults.fail_always(error);
    }

    /// Calls are placed again.
    pub fn recover(&self) {
        self.lock().faults.recover();
    }

    /// Every call placed, oldest first.
    pub fn calls(&self) -> Vec<PlacedCall> {
        self.lock().calls.clone()
    }

    /// The latest call to `number`.
    pub fn last_call_to(&self, number: &PhoneNumber) -> Option<PlacedCall> {
        self.lock()
            .calls
            .iter()
            .rev()
            .find(|c| &c.request.destination.number == number)
            .cloned()
    }

    /// Calls answered and waiting for keys, oldest first.
    pub fn pending_calls(&self) -> Vec<PlacedCall> {
        self.lock()
            .calls
            .iter()
            .filter(|c| c.state == CallState::InProgress)
            .cloned()
            .collect()
    }

    /// The callee on the waiting call for `challenge` presses `keys` as the prompts
    /// come (an empty string: they listen and press nothing, as voicemail does).
    /// Ends the call and returns what they heard; `None` if no call is waiting.
    pub fn press(&self, challenge: &ChallengeId, keys: &str) -> Option<Playback> {
        self.end_call(challenge, |script| script.play(keys))
    }

    /// The callee on the waiting call for `challenge` hangs up without a word heard.
    pub fn hang_up(&self, challenge: &ChallengeId) -> Option<Playback> {
        self.end_call(challenge, |script| Playback::hung_up(script.language()))
    }

    fn end_call(
        &self,
        challenge: &ChallengeId,
        play: impl FnOnce(&CallScript) -> Playback,
    ) -> Option<Playback> {
        let mut inner = self.lock();
        let call =
            inner.calls.iter_mut().rev().find(|c| {
                &c.request.challenge_id == challenge && c.state == CallState::InProgress
            })?;
        let playback = play(&call.script);
        call.state = CallState::Ended(playback.clone());
        Some(playback)
    }
}

#[async_trait]
impl Delivery for MemoryVoice {
    async fn send(&self, request: &DeliveryRequest) -> Result<Receipt, DeliveryError> {
        let now = self.clock.now();
        let script = CallScript::for_request(request, &self.options);
        let mut inner = self.lock();
        // A planned delay means nothing for a call placed in memory; failures do.
        inner.faults.next_send()?;
        let callee = inner
            .callees
            .get(request.destination.number.e164())
            .or(inner.default_callee.as_ref())
            .cloned()
            .unwrap_or(Callee::Answers);
        let (state, result) = match callee {
            Callee::Answers => (CallState::InProgress, Ok(None)),
            Callee::NoAnswer => (
                CallState::NotConnected(DeliveryErrorKind::NoAnswer),
                Err(DeliveryError::new(
                    DeliveryErrorKind::NoAnswer,
                    "the call was not answered",
                )),
            ),
            Callee::Busy => (
                CallState::NotConnected(DeliveryErrorKind::Busy),
                Err(DeliveryError::new(
                    DeliveryErrorKind::Busy,
                    "the line was busy",
                )),
            ),
            Callee::Presses(keys) => ended(script.play(&keys), &request.content),
            Callee::Voicemail => ended(script.play(""), &request.content),
            Callee::HangsUp => ended(Playback::hung_up(script.language()), &request.content),
        };
        inner.calls.push(PlacedCall {
            request: request.clone(),
            script,
            placed_at: now,
            state,
        });
        let id = format!("memory-call-{}", inner.calls.len());
        result.map(|call_outcome| Receipt { id, call_outcome })
    }
}

/// A call that ended within the send: its outcome, or the error that leaves the
/// challenge unverified.
fn ended(
    playback: Playback,
    content: &Content,
) -> (
    CallState,
    Result<Option<mfa_core::CallOutcome>, DeliveryError>,
) {
    let result = match (playback.end, content) {
        (CallEnd::Outcome(o), Content::ConfirmByKey | Content::MatchNumber(_)) => Ok(Some(o)),
        (CallEnd::CodeRead, Content::Code(_)) => Ok(None),
        (CallEnd::Unrecognized, _) => Err(DeliveryError::new(
            DeliveryErrorKind::Declined,
            "the callee pressed a key that means nothing",
        )),
        _ => Err(DeliveryError::new(
            DeliveryErrorKind::Declined,
            "the call ended before a key was pressed",
        )),
    };
    (CallState::Ended(playback), result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mfa_core::{Channel, Destination, Purpose, UserId};

    fn request() -> DeliveryRequest {
        DeliveryRequest {
            challenge_id: ChallengeId::parse("c1").unwrap(),
            user: UserId::username("kari@example.no").unwrap(),
            channel: Channel::Voice,
            destination: Destination {
                number: PhoneNumber::parse("+4741234567").unwrap(),
                extension: None,
            },
            content: Content::ConfirmByKey,
            purpose: Purpose::SignIn,
            expires_in: std::time::Duration::from_secs(300),
            locale: "en".into(),
            app_name: "Contoso".into(),
            cost_notice: None,
            meta: None,
        }
    }

    fn send(phone: &MemoryVoice) -> Result<Receipt, DeliveryError> {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(phone.send(&request()))
    }

    #[test]
    fn failures_follow_the_shared_fault_plan() {
        let phone = MemoryVoice::new();
        phone.fail_next(DeliveryError::transient("first"));
        phone.fail_next(DeliveryError::permanent("second"));
        assert_eq!(send(&phone).unwrap_err().message(), "first");
        assert_eq!(send(&phone).unwrap_err().message(), "second");
        assert!(send(&phone).is_ok());
        phone.fail_always(DeliveryError::transient("down"));
        assert!(send(&phone).is_err() && send(&phone).is_err());
        phone.recover();
        assert!(send(&phone).is_ok());
        // Failed calls were never placed.
        assert_eq!(phone.calls().len(), 2);
    }
}
