//! The shell the in-memory backends of every channel share: what they were asked to
//! send, when each message arrives, and the failures and delays a test plans.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::clock::{Clock, SystemClock, Timestamp};
use crate::delivery::{DeliveryError, FaultPlan};

/// The most messages an outbox keeps; the oldest go first, so a development server
/// left running on a memory backend stays bounded.
pub const MAX_KEPT: usize = 10_000;

/// A message an [`Outbox`] keeps: it knows when it reaches its recipient.
pub trait Arrival {
    /// When it reaches the phone or mailbox.
    fn arrives_at(&self) -> Timestamp;
}

struct Inner<M> {
    sent: VecDeque<M>,
    /// Sends taken so far, forgotten ones included: numbers receipts.
    taken: u64,
    faults: FaultPlan,
}

/// What an in-memory backend was asked to send, with the [`FaultPlan`] for its next
/// sends. Clones share it: a test keeps one, the backend given to `Mfa` another.
///
/// A backend's send calls [`Outbox::take`], which applies the plan and keeps the
/// message; its test helpers read [`Outbox::sent`] and [`Outbox::arrived`].
///
/// ```
/// use std::time::Duration;
/// use mfa_core::delivery::{Arrival, Outbox};
/// use mfa_core::{DeliveryError, Timestamp};
///
/// #[derive(Clone)]
/// struct Note { text: &'static str, arrives_at: Timestamp }
/// impl Arrival for Note {
///     fn arrives_at(&self) -> Timestamp { self.arrives_at }
/// }
///
/// let outbox: Outbox<Note> = Outbox::new();
/// outbox.fail_next(DeliveryError::transient("down"));
/// assert!(outbox.take(|_, arrives_at| Note { text: "hi", arrives_at }).is_err());
/// assert_eq!(outbox.take(|_, arrives_at| Note { text: "hi", arrives_at }).unwrap(), 1);
/// assert_eq!(outbox.arrived(|n| n.text == "hi").len(), 1);
/// ```
pub struct Outbox<M> {
    inner: Arc<Mutex<Inner<M>>>,
    clock: Arc<dyn Clock>,
}

impl<M> Clone for Outbox<M> {
    fn clone(&self) -> Self {
        Outbox {
            inner: Arc::clone(&self.inner),
            clock: Arc::clone(&self.clock),
        }
    }
}

impl<M> fmt::Debug for Outbox<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.lock();
        f.debug_struct("Outbox")
            .field("kept", &inner.sent.len())
            .field("taken", &inner.taken)
            .field("faults", &inner.faults)
            .finish()
    }
}

impl<M> Default for Outbox<M> {
    fn default() -> Self {
        Self::new()
    }
}

impl<M> Outbox<M> {
    /// An outbox timed by the system clock.
    pub fn new() -> Self {
        Self::with_clock(Arc::new(SystemClock))
    }

    /// An outbox timed by `clock` (share the driver's `ManualClock` in tests).
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        Outbox {
            inner: Arc::new(Mutex::new(Inner {
                sent: VecDeque::new(),
                taken: 0,
                faults: FaultPlan::default(),
            })),
            clock,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<M>> {
        crate::sync::lock(&self.inner)
    }

    /// The next send fails with `error` (queued: call again for more failures).
    pub fn fail_next(&self, error: DeliveryError) {
        self.lock().faults.fail_next(error);
    }

    /// Every send fails with `error` until [`Outbox::recover`].
    pub fn fail_always(&self, error: DeliveryError) {
        self.lock().faults.fail_always(error);
    }

    /// Sends succeed again.
    pub fn recover(&self) {
        self.lock().faults.recover();
    }

    /// The next message arrives `by` late (queued).
    pub fn delay_next(&self, by: Duration) {
        self.lock().faults.delay_next(by);
    }

    /// Forgets everything sent so far (failure and delay settings stay).
    pub fn clear(&self) {
        self.lock().sent.clear();
    }

    /// One send: fails as planned, or keeps the message `make` builds from the time
    /// it was sent and the time it arrives. Returns the send's number, from 1, for the
    /// backend's receipt id.
    pub fn take(&self, make: impl FnOnce(Timestamp, Timestamp) -> M) -> Result<u64, DeliveryError> {
        let now = self.clock.now();
        let mut inner = self.lock();
        let delay = inner.faults.next_send()?;
        if inner.sent.len() >= MAX_KEPT {
            inner.sent.pop_front();
        }
        inner.sent.push_back(make(now, now + delay));
        inner.taken += 1;
        Ok(inner.taken)
    }
}

impl<M: Clone> Outbox<M> {
    /// Everything kept, oldest first.
    pub fn sent(&self) -> Vec<M> {
        self.lock().sent.iter().cloned().collect()
    }
}

impl<M: Clone + Arrival> Outbox<M> {
    /// The kept messages `to` selects that have arrived by now, oldest arrival first.
    pub fn arrived(&self, to: impl Fn(&M) -> bool) -> Vec<M> {
        let now = self.clock.now();
        let mut arrived: Vec<M> = self
            .lock()
            .sent
            .iter()
            .filter(|m| m.arrives_at() <= now && to(m))
            .cloned()
            .collect();
        arrived.sort_by_key(Arrival::arrives_at);
        arrived
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[derive(Clone, Debug, PartialEq)]
    struct Note(u32, Timestamp);

    impl Arrival for Note {
        fn arrives_at(&self) -> Timestamp {
            self.1
        }
    }

    #[test]
    fn late_messages_arrive_in_their_order_and_the_outbox_stays_bounded() {
        let clock = ManualClock::new(Timestamp::from_unix_secs(1_700_000_000));
        let outbox: Outbox<Note> = Outbox::with_clock(Arc::new(clock.clone()));
        outbox.delay_next(Duration::from_secs(60));
        assert_eq!(outbox.take(|_, at| Note(1, at)), Ok(1));
        assert_eq!(outbox.take(|_, at| Note(2, at)), Ok(2));
        let ids = |notes: Vec<Note>| notes.iter().map(|n| n.0).collect::<Vec<_>>();
        assert_eq!(ids(outbox.arrived(|_| true)), vec![2], "the first is late");
        clock.advance(Duration::from_secs(60));
        assert_eq!(ids(outbox.arrived(|_| true)), vec![2, 1]);
        assert_eq!(ids(outbox.arrived(|n| n.0 == 1)), vec![1]);

        outbox.fail_always(DeliveryError::transient("down"));
        assert!(outbox.take(|_, at| Note(3, at)).is_err());
        outbox.recover();
        for n in 0..MAX_KEPT as u32 {
            outbox.take(|_, at| Note(10 + n, at)).unwrap();
        }
        let kept = outbox.sent();
        assert_eq!(kept.len(), MAX_KEPT);
        assert_eq!(kept[0].0, 10, "the oldest went first");
        // Receipts keep counting past what is kept, and past a clear.
        outbox.clear();
        assert_eq!(outbox.take(|_, at| Note(0, at)), Ok(MAX_KEPT as u64 + 3));
    }
}
