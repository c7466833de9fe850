//! `tracing` support (feature `tracing`).
//!
//! Every public [`Mfa`](crate::Mfa) operation runs in a span named `mfa.<operation>`
//! with the user, the challenge or method id and, for a new method, the method as its
//! `Display` shows it (numbers masked: `+47 ••••••67`); the span ends with the
//! answer's `Debug` (which masks the same way) or the error's message. Codes, secrets,
//! proofs and full numbers never reach a subscriber: the arguments that carry them
//! are skipped.
//!
//! [`TracingEvents`] forwards the audit [`Event`]s as `tracing` events.

use crate::event::{Event, EventSink};

/// An [`EventSink`] that emits each event as a `tracing` event at INFO, target
/// `mfa::event`, with the event's name in `event` and its `Debug` in `detail`.
///
/// ```
/// use mfa_core::{Mfa, TracingEvents};
///
/// let mfa = Mfa::builder().events(TracingEvents).build()?;
/// # let _ = mfa;
/// # Ok::<(), mfa_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct TracingEvents;

impl EventSink for TracingEvents {
    fn emit(&self, event: Event) {
        tracing::info!(
            target: "mfa::event",
            event = name(&event),
            detail = ?event,
            "mfa event"
        );
    }
}

/// The event's variant name, for filtering.
fn name(event: &Event) -> &'static str {
    #[allow(unreachable_patterns)] // new variants are named by their Debug in `detail`
    match event {
        Event::EnrollmentStarted { .. } => "enrollment_started",
        Event::CodeSent { .. } => "code_sent",
        Event::DeliveryFailed { .. } => "delivery_failed",
        Event::CheckFailed { .. } => "check_failed",
        Event::CheckSucceeded { .. } => "check_succeeded",
        Event::ChallengeLocked { .. } => "challenge_locked",
        Event::UserLocked { .. } => "user_locked",
        Event::MethodAdded { .. } => "method_added",
        Event::MethodRemoved { .. } => "method_removed",
        Event::DefaultChanged { .. } => "default_changed",
        Event::PhoneNumberChanged { .. } => "phone_number_changed",
        Event::RecoveryCodeUsed { .. } => "recovery_code_used",
        Event::RecoveryCodesRegenerated { .. } => "recovery_codes_regenerated",
        Event::FraudReported { .. } => "fraud_reported",
        Event::UserUnblocked { .. } => "user_unblocked",
        Event::Refused { .. } => "refused",
        Event::UserReset { .. } => "user_reset",
        Event::DeliveryReported { .. } => "delivery_reported",
        Event::DeliveryAttempt { .. } => "delivery_attempt",
        Event::MethodRenamed { .. } => "method_renamed",
        _ => "other",
    }
}
