//! Events for audit logs and user notifications. None carries a code or a secret.

use std::fmt;
use std::sync::{Arc, Mutex};

use crate::clock::Timestamp;
use crate::delivery::{DeliveryErrorKind, Purpose};
use crate::method::{AccessPassId, ChallengeId, Channel, MethodId, MethodKind};
use crate::request::EventMeta;
use crate::user::UserId;

/// Something that happened, for the application's audit log or notifications.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Event {
    /// The user chose a method to set up.
    EnrollmentStarted {
        /// Who.
        user: UserId,
        /// Which kind of method.
        method: MethodKind,
    },
    /// A code or call went out.
    CodeSent {
        /// Who.
        user: UserId,
        /// SMS, voice or email.
        channel: Channel,
        /// The destination's country calling code (0 for email).
        country_code: u16,
        /// Enrollment or sign-in.
        purpose: Purpose,
        /// Whether this was a resend.
        resend: bool,
    },
    /// A send failed.
    DeliveryFailed {
        /// Who.
        user: UserId,
        /// SMS, voice or email.
        channel: Channel,
        /// Whether a retry may work.
        transient: bool,
    },
    /// A wrong code was presented.
    CheckFailed {
        /// Who.
        user: UserId,
        /// Enrollment or sign-in.
        purpose: Purpose,
        /// Attempts left on the challenge.
        attempts_left: u32,
    },
    /// A correct code (or key press) was presented.
    CheckSucceeded {
        /// Who.
        user: UserId,
        /// Enrollment or sign-in.
        purpose: Purpose,
        /// Which kind of method.
        method: MethodKind,
    },
    /// A challenge reached its attempt cap.
    ChallengeLocked {
        /// Who.
        user: UserId,
    },
    /// The user's consecutive failures reached the hard limit.
    UserLocked {
        /// Who.
        user: UserId,
    },
    /// A method was verified and added.
    MethodAdded {
        /// Who.
        user: UserId,
        /// The new method.
        method_id: MethodId,
        /// Which kind.
        method: MethodKind,
    },
    /// A method was removed.
    MethodRemoved {
        /// Who.
        user: UserId,
        /// The removed method.
        method_id: MethodId,
    },
    /// The default method changed.
    DefaultChanged {
        /// Who.
        user: UserId,
        /// The new default.
        method_id: MethodId,
    },
    /// A phone number was replaced: the application should tell the user on every channel.
    PhoneNumberChanged {
        /// Who.
        user: UserId,
        /// The new method.
        method_id: MethodId,
    },
    /// A recovery code was used.
    RecoveryCodeUsed {
        /// Who.
        user: UserId,
        /// Codes left.
        remaining: usize,
    },
    /// A new set of recovery codes was made; the old set is dead.
    RecoveryCodesRegenerated {
        /// Who.
        user: UserId,
    },
    /// The user pressed the fraud key on a call they did not expect.
    FraudReported {
        /// Whose call it was.
        user: UserId,
        /// The method now blocked.
        method_id: MethodId,
        /// Its kind.
        method: MethodKind,
        /// The call's challenge.
        challenge_id: ChallengeId,
        /// Sign-in or enrollment.
        purpose: Purpose,
        /// When the user pressed `0#`.
        at: Timestamp,
    },
    /// An administrator lifted a fraud report's suspension.
    UserUnblocked {
        /// Whose.
        user: UserId,
        /// When.
        at: Timestamp,
    },
    /// A request was refused or gave up: what a security team watches.
    Refused {
        /// Whose request.
        user: UserId,
        /// The challenge it was about, if any.
        challenge_id: Option<ChallengeId>,
        /// Why.
        reason: Refusal,
        /// When.
        at: Timestamp,
    },
    /// An administrator reset the user's methods.
    UserReset {
        /// Who.
        user: UserId,
    },
    /// The gateway reported on a message: delivered, or not.
    DeliveryReported {
        /// Whose message.
        user: UserId,
        /// Its challenge.
        challenge_id: ChallengeId,
        /// The provider's id of the message.
        message_id: String,
        /// Where it stands.
        status: crate::report::ReportStatus,
        /// The provider's own reason (Twilio `30003`, an SMPP `err:`), if given.
        provider_code: Option<u32>,
        /// From the send to the report.
        latency: Option<std::time::Duration>,
    },
    /// A call placed for a challenge ended without an outcome (no answer, busy, hung
    /// up before the key, no media). The challenge stays pending: call again or switch.
    CallEnded {
        /// Whose call it was.
        user: UserId,
        /// The call's challenge, still pending.
        challenge_id: ChallengeId,
        /// Why it ended, as the backend typed it.
        reason: DeliveryErrorKind,
        /// When the report came.
        at: Timestamp,
    },
    /// An administrator issued a Temporary Access Pass (the pass itself is never in an event).
    AccessPassIssued {
        /// For whom.
        user: UserId,
        /// The pass's id.
        pass_id: AccessPassId,
        /// When it stops working.
        expires_at: Timestamp,
        /// The sign-ins it allows.
        uses: u32,
        /// When.
        at: Timestamp,
    },
    /// A Temporary Access Pass signed the user in.
    AccessPassUsed {
        /// Who.
        user: UserId,
        /// The pass's id.
        pass_id: AccessPassId,
        /// Its uses left.
        uses_left: u32,
        /// When.
        at: Timestamp,
    },
    /// An administrator revoked a Temporary Access Pass; the proofs it made died with it.
    AccessPassRevoked {
        /// Whose.
        user: UserId,
        /// The pass's id.
        pass_id: AccessPassId,
        /// When.
        at: Timestamp,
    },
    /// One attempt of a failover layer ([`crate::delivery::Failover`]): which route
    /// was tried and what the layer did next. No code, number or provider message.
    DeliveryAttempt {
        /// Whose message or call.
        user: UserId,
        /// Its challenge.
        challenge_id: ChallengeId,
        /// SMS or voice.
        channel: Channel,
        /// The route's name, as the application named it.
        route: String,
        /// The attempt on this route, from 1.
        attempt: u32,
        /// How it went, and what comes next.
        outcome: crate::delivery::AttemptOutcome,
    },
    /// A hardware token's counter was moved forward by two consecutive codes.
    TokenResynchronised {
        /// Whose token.
        user: UserId,
        /// The token's method.
        method_id: MethodId,
        /// How far the counter moved past the expected one.
        drift: i64,
    },
    /// Hardware tokens entered the inventory (serials only, never secrets).
    HardwareTokensImported {
        /// How many were new.
        imported: usize,
        /// How many the inventory held already.
        already_present: usize,
    },
    /// An inventory token was assigned to a user (pending until its first code).
    HardwareTokenAssigned {
        /// Who holds it now.
        user: UserId,
        /// The token.
        serial: crate::method::TokenSerial,
    },
    /// An inventory token went back to the inventory: unassigned, its method
    /// removed or its user reset.
    HardwareTokenUnassigned {
        /// Who held it.
        user: UserId,
        /// The token.
        serial: crate::method::TokenSerial,
    },
    /// An inventory token was retired: its secret is gone.
    HardwareTokenRetired {
        /// The token.
        serial: crate::method::TokenSerial,
    },
    /// The user gave a method a new name. The name is not carried: users name
    /// methods after people and places ("Kari's iPhone"); the method's id finds it.
    MethodRenamed {
        /// Whose method.
        user: UserId,
        /// The renamed method.
        method_id: MethodId,
        /// Its kind.
        method: MethodKind,
    },
}

/// Why a request was refused (or closed): [`Event::Refused`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Refusal {
    /// The user or the application canceled a challenge.
    Canceled,
    /// A code arrived after its lifetime.
    Expired,
    /// A send limit was reached.
    RateLimited,
    /// A new code was asked for before the cooldown.
    ResendTooSoon,
    /// Consecutive failures impose a delay or a lock.
    LockedOut,
    /// An app code already accepted was presented again.
    Replay,
    /// No unused recovery code matched.
    WrongRecoveryCode,
    /// A settings change came without a fresh, live proof.
    Reauthentication,
    /// A settings change came while a fraud report suspends them.
    Suspended,
    /// No Temporary Access Pass of the user matched (counted as a failure).
    WrongAccessPass,
    /// A Temporary Access Pass matched but is used up, expired or revoked.
    AccessPassNotUsable,
    /// Two codes given to resynchronise a hardware token matched no counters.
    WrongResyncCodes,
    /// A passkey's answer did not verify (origin, challenge, signature, credential,
    /// or user verification the policy asks).
    PasskeyRejected,
    /// A passkey's signature counter went back: the authenticator may be cloned.
    PasskeyCounterRegressed,
}

/// Receives events.
pub trait EventSink: Send + Sync + fmt::Debug {
    /// Takes one event. Must not block for long: it runs on the request path.
    fn emit(&self, event: Event);

    /// Takes one event with its time and the request it happened in (see
    /// [`Mfa::with_request`](crate::Mfa::with_request)); `Mfa` calls this one. The
    /// default passes the event alone to [`EventSink::emit`]: override it to keep
    /// the time, client address and user agent in an audit log.
    fn emit_with(&self, event: Event, meta: &EventMeta) {
        let _ = meta;
        self.emit(event);
    }
}

/// Drops every event.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoEvents;

impl EventSink for NoEvents {
    fn emit(&self, _event: Event) {}
}

/// Keeps every event in memory, for tests; clones share the list.
#[derive(Debug, Clone, Default)]
pub struct MemoryEvents {
    events: Arc<Mutex<Vec<Entry>>>,
}

/// An event as [`MemoryEvents`] keeps it.
type Entry = (Event, Option<EventMeta>);

impl MemoryEvents {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// The events so far, oldest first.
    pub fn events(&self) -> Vec<Event> {
        self.lock().iter().map(|(e, _)| e.clone()).collect()
    }

    /// The events so far with their time and request, oldest first (`None` for one
    /// given to [`EventSink::emit`] directly).
    pub fn entries(&self) -> Vec<Entry> {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Entry>> {
        crate::sync::lock(&self.events)
    }
}

impl EventSink for MemoryEvents {
    fn emit(&self, event: Event) {
        self.lock().push((event, None));
    }

    fn emit_with(&self, event: Event, meta: &EventMeta) {
        self.lock().push((event, Some(meta.clone())));
    }
}
