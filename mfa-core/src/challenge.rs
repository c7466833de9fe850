//! The sans-IO challenge state machine shared by enrollment and sign-in.
//!
//! A transition is `(Challenge, ChallengeEvent, Context) -> Result<(Challenge, Vec<Effect>), TransitionError>`:
//! pure, with time, policy and keys passed in. The driver ([`crate::Mfa`]) performs the
//! effects through the store's atomic operations, which re-check every guard, so
//! concurrent requests cannot approve twice or count past the cap.

use std::time::Duration;

use crate::app::{AppMatch, AppVerifier};
use crate::clock::Timestamp;
use crate::code::{CodeHash, CodeKey, OneTimeCode};
use crate::delivery::Purpose;
use crate::error::TransitionError;
use crate::method::{AppCredential, ChallengeId, Channel, MethodId};
use crate::policy::Policy;

/// Where a challenge stands, each state named for what it waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum ChallengeStatus {
    /// Waiting for the user to type a code (SMS, read-out call, app).
    AwaitingCode,
    /// Waiting for the user to press `#` on the call.
    AwaitingCallConfirmation,
    /// A correct code or key press arrived. Sign-in: done. Enrollment: waiting for "Complete".
    Approved,
    /// Done: an enrollment's method is active, or a sign-in's approval was redeemed. Final.
    Completed,
    /// The attempt cap was reached. Final.
    Locked,
    /// The code's lifetime passed. Final.
    Expired,
    /// The user or application canceled. Final.
    Canceled,
    /// The user reported fraud on the call (`0#`). Final.
    Denied,
}

impl ChallengeStatus {
    /// The state's name for error messages.
    pub fn name(self) -> &'static str {
        match self {
            ChallengeStatus::AwaitingCode => "awaiting a code",
            ChallengeStatus::AwaitingCallConfirmation => "awaiting call confirmation",
            ChallengeStatus::Approved => "approved",
            ChallengeStatus::Completed => "completed",
            ChallengeStatus::Locked => "locked",
            ChallengeStatus::Expired => "expired",
            ChallengeStatus::Canceled => "canceled",
            ChallengeStatus::Denied => "denied",
        }
    }

    /// Whether the challenge still waits for the user.
    pub fn is_awaiting(self) -> bool {
        matches!(
            self,
            ChallengeStatus::AwaitingCode | ChallengeStatus::AwaitingCallConfirmation
        )
    }

    /// Whether nothing can change the challenge any more.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            ChallengeStatus::Completed
                | ChallengeStatus::Locked
                | ChallengeStatus::Expired
                | ChallengeStatus::Canceled
                | ChallengeStatus::Denied
        )
    }
}

/// How the challenge is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// A code we generated and sent; only its keyed hash is kept.
    SentCode(CodeHash),
    /// A code from the user's authenticator app.
    AppCode,
    /// A key press on a call.
    KeyPress,
    /// A passkey's answer to a WebAuthn ceremony.
    Passkey,
}

/// One challenge, as the store keeps it. This is the state machine's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// Its id.
    pub id: ChallengeId,
    /// The method it checks.
    pub method_id: MethodId,
    /// Enrollment or sign-in.
    pub purpose: Purpose,
    /// Where it stands.
    pub status: ChallengeStatus,
    /// What answers it.
    pub answer: Answer,
    /// Bumped by each resend; a code is hashed with its generation, so old codes die.
    pub generation: u32,
    /// Wrong attempts so far, across resends.
    pub attempts: u32,
    /// The cap on wrong attempts.
    pub max_attempts: u32,
    /// Sends so far, the first included.
    pub sends: u32,
    /// When it was made.
    pub created_at: Timestamp,
    /// When its current code dies.
    pub expires_at: Timestamp,
    /// When the last code went out.
    pub last_sent_at: Option<Timestamp>,
    /// When it was approved.
    pub approved_at: Option<Timestamp>,
    /// When it reached a final state.
    pub closed_at: Option<Timestamp>,
}

impl Challenge {
    /// The status as it stands at `now`: an awaiting challenge past its lifetime is expired.
    pub fn status_at(&self, now: Timestamp) -> ChallengeStatus {
        if self.status.is_awaiting() && now >= self.expires_at {
            ChallengeStatus::Expired
        } else {
            self.status
        }
    }

    /// Wrong attempts left.
    pub fn attempts_left(&self) -> u32 {
        self.max_attempts.saturating_sub(self.attempts)
    }
}

/// The keyed hash of `code` for challenge `id` at `generation`.
pub fn hash_code(key: &CodeKey, id: &ChallengeId, generation: u32, code: &OneTimeCode) -> CodeHash {
    let generation = generation.to_be_bytes();
    key.hash_parts([id.as_str().as_bytes(), &generation], code.as_bytes())
}

/// Where an enrollment stands, in the guide's words; a view of its challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum EnrollmentState {
    /// No method chosen yet ("Set it up now").
    ChoosingMethod,
    /// Waiting for the code from the SMS, the call or the app.
    AwaitingCode,
    /// Waiting for the user to press `#` on the call.
    AwaitingCallConfirmation,
    /// The code was right: waiting for "Complete".
    Verified,
    /// Complete: the method is active.
    Enrolled,
    /// Too many wrong codes; choose the method again.
    Locked,
    /// The code's lifetime passed; choose the method again.
    Expired,
    /// The user canceled.
    Canceled,
    /// The user reported the call as fraud.
    Denied,
}

impl EnrollmentState {
    /// The state of an enrollment whose challenge is `challenge` (none yet: choosing).
    pub fn of(challenge: Option<&Challenge>, now: Timestamp) -> Self {
        let Some(c) = challenge else {
            return EnrollmentState::ChoosingMethod;
        };
        match c.status_at(now) {
            ChallengeStatus::AwaitingCode => EnrollmentState::AwaitingCode,
            ChallengeStatus::AwaitingCallConfirmation => EnrollmentState::AwaitingCallConfirmation,
            ChallengeStatus::Approved => EnrollmentState::Verified,
            ChallengeStatus::Completed => EnrollmentState::Enrolled,
            ChallengeStatus::Locked => EnrollmentState::Locked,
            ChallengeStatus::Expired => EnrollmentState::Expired,
            ChallengeStatus::Canceled => EnrollmentState::Canceled,
            ChallengeStatus::Denied => EnrollmentState::Denied,
        }
    }
}

/// "Choose method" and "send": what a new challenge is made from.
#[derive(Debug)]
pub struct Begin<'a> {
    /// The new challenge's id.
    pub id: ChallengeId,
    /// The method it checks.
    pub method_id: MethodId,
    /// Enrollment or sign-in.
    pub purpose: Purpose,
    /// The delivery channel; `None` for app codes.
    pub channel: Option<Channel>,
    /// The code to send, or `None` for a press-`#` call or an app.
    pub code: Option<&'a OneTimeCode>,
    /// How long the challenge waits.
    pub lifetime: Duration,
}

/// Starts a challenge: the state waits for a code (SMS, read-out call, app) or for a
/// key press (press-`#` call); a delivered channel gets a [`Effect::Deliver`].
pub fn begin(b: Begin<'_>, ctx: &Context<'_>) -> Transition {
    let answer = match (b.code, b.channel) {
        (Some(code), _) => Answer::SentCode(hash_code(ctx.key, &b.id, 0, code)),
        (None, Some(_)) => Answer::KeyPress,
        (None, None) => Answer::AppCode,
    };
    let challenge = Challenge {
        id: b.id,
        method_id: b.method_id,
        purpose: b.purpose,
        status: if answer == Answer::KeyPress {
            ChallengeStatus::AwaitingCallConfirmation
        } else {
            ChallengeStatus::AwaitingCode
        },
        answer,
        generation: 0,
        attempts: 0,
        max_attempts: ctx.policy.max_attempts,
        sends: u32::from(b.channel.is_some()),
        created_at: ctx.now,
        expires_at: ctx.now + b.lifetime,
        last_sent_at: b.channel.map(|_| ctx.now),
        approved_at: None,
        closed_at: None,
    };
    let effects = match b.channel {
        Some(_) => vec![Effect::Deliver { resend: false }],
        None => Vec::new(),
    };
    (challenge, effects)
}

/// What the user (or the call) did.
#[derive(Debug)]
pub enum ChallengeEvent<'a> {
    /// "Write in the code and choose Check".
    SubmitCode(&'a OneTimeCode),
    /// The user pressed `#` on the call.
    CallConfirmed,
    /// The user pressed `0#` on the call.
    FraudReported,
    /// "Cancel, then Next": a new code (made by the driver) replaces the old one.
    Resend(Option<&'a OneTimeCode>),
    /// The user or application gave up.
    Cancel,
    /// The application's sweeper saw the lifetime pass.
    Expire,
    /// "Complete": the enrollment's method becomes active.
    Complete,
    /// A passkey's answer was checked: it verified (`true`) or not.
    PasskeyChecked(bool),
}

impl ChallengeEvent<'_> {
    /// The event's name for error messages.
    pub fn name(&self) -> &'static str {
        match self {
            ChallengeEvent::SubmitCode(_) => "submit code",
            ChallengeEvent::CallConfirmed => "call confirmed",
            ChallengeEvent::FraudReported => "fraud reported",
            ChallengeEvent::Resend(_) => "resend",
            ChallengeEvent::Cancel => "cancel",
            ChallengeEvent::Expire => "expire",
            ChallengeEvent::Complete => "complete",
            ChallengeEvent::PasskeyChecked(_) => "passkey answer",
        }
    }
}

/// What a transition needs besides the state and the event.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The current time.
    pub now: Timestamp,
    /// The rules.
    pub policy: &'a Policy,
    /// The key codes are hashed under.
    pub key: &'a CodeKey,
    /// For app challenges: the verifier, the credential and the last accepted step.
    pub app: Option<(&'a dyn AppVerifier, &'a AppCredential, Option<u64>)>,
}

/// Work for the driver: each maps to one atomic store operation or a side effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Count a wrong attempt (locks at the cap).
    RecordFailure,
    /// Move the app's last accepted step forward; only then may the challenge approve.
    AdvanceAppStep {
        /// The matched step.
        step: u64,
        /// Drift from the expected step.
        drift: i64,
    },
    /// Refuse a replayed app code without counting an attempt.
    RefuseReplay,
    /// Approve, if the challenge is still awaiting at this generation.
    Approve {
        /// The generation the code matched.
        generation: u32,
    },
    /// Replace the code: the old one dies, the attempt count stays.
    ReplaceCode {
        /// The generation being replaced.
        generation: u32,
        /// The new code's hash (none for key-press calls).
        hash: Option<CodeHash>,
        /// The new expiry.
        expires_at: Timestamp,
    },
    /// Deliver the (new) code or call.
    Deliver {
        /// Whether this is a resend.
        resend: bool,
    },
    /// Move an awaiting (or approved) challenge to a final state.
    Close {
        /// The final state.
        to: ChallengeStatus,
    },
    /// Make the enrollment's method active.
    ActivateMethod,
}

/// The result of a transition.
pub type Transition = (Challenge, Vec<Effect>);

fn refuse(state: ChallengeStatus, event: &ChallengeEvent<'_>) -> TransitionError {
    TransitionError {
        state: state.name(),
        event: event.name(),
    }
}

/// Applies `event` to `challenge`.
///
/// An awaiting challenge past its lifetime is treated as expired: a submitted code
/// then moves it to `Expired` (never approved); other events are refused.
pub fn transition(
    challenge: Challenge,
    event: ChallengeEvent<'_>,
    ctx: &Context<'_>,
) -> Result<Transition, TransitionError> {
    let (mut next, effects) = step(challenge, event, ctx)?;
    if next.status.is_final() && next.closed_at.is_none() {
        next.closed_at = Some(ctx.now);
    }
    Ok((next, effects))
}

fn step(
    challenge: Challenge,
    event: ChallengeEvent<'_>,
    ctx: &Context<'_>,
) -> Result<Transition, TransitionError> {
    let status = challenge.status_at(ctx.now);
    let mut next = challenge;
    match (status, &event) {
        (
            ChallengeStatus::Expired,
            ChallengeEvent::SubmitCode(_) | ChallengeEvent::PasskeyChecked(_),
        ) if next.status.is_awaiting() => {
            next.status = ChallengeStatus::Expired;
            Ok((
                next,
                vec![Effect::Close {
                    to: ChallengeStatus::Expired,
                }],
            ))
        }
        (ChallengeStatus::AwaitingCode, ChallengeEvent::SubmitCode(code)) => {
            match check_code(&next, code, ctx) {
                matched @ (Check::SentCode | Check::App(_)) => {
                    let mut effects = Vec::with_capacity(2);
                    if let Check::App(m) = matched {
                        effects.push(Effect::AdvanceAppStep {
                            step: m.step,
                            drift: m.drift,
                        });
                    }
                    effects.push(Effect::Approve {
                        generation: next.generation,
                    });
                    next.status = ChallengeStatus::Approved;
                    next.approved_at = Some(ctx.now);
                    Ok((next, effects))
                }
                // A replayed app code (often the same code sent twice at once) is
                // refused without costing an attempt: it cannot be a guess.
                Check::SpentAppCode => Ok((next, vec![Effect::RefuseReplay])),
                Check::Wrong => {
                    next.attempts = (next.attempts + 1).min(next.max_attempts);
                    if next.attempts >= next.max_attempts {
                        next.status = ChallengeStatus::Locked;
                    }
                    Ok((next, vec![Effect::RecordFailure]))
                }
            }
        }
        (ChallengeStatus::AwaitingCode, ChallengeEvent::PasskeyChecked(verified))
            if next.answer == Answer::Passkey =>
        {
            if *verified {
                next.status = ChallengeStatus::Approved;
                next.approved_at = Some(ctx.now);
                let generation = next.generation;
                Ok((next, vec![Effect::Approve { generation }]))
            } else {
                next.attempts = (next.attempts + 1).min(next.max_attempts);
                if next.attempts >= next.max_attempts {
                    next.status = ChallengeStatus::Locked;
                }
                Ok((next, vec![Effect::RecordFailure]))
            }
        }
        (ChallengeStatus::AwaitingCallConfirmation, ChallengeEvent::CallConfirmed) => {
            next.status = ChallengeStatus::Approved;
            next.approved_at = Some(ctx.now);
            Ok((
                next.clone(),
                vec![Effect::Approve {
                    generation: next.generation,
                }],
            ))
        }
        (s, ChallengeEvent::FraudReported) if s.is_awaiting() => {
            next.status = ChallengeStatus::Denied;
            Ok((
                next,
                vec![Effect::Close {
                    to: ChallengeStatus::Denied,
                }],
            ))
        }
        (s, ChallengeEvent::Resend(code)) if s.is_awaiting() => {
            if next.answer == Answer::AppCode {
                return Err(refuse(s, &event));
            }
            let hash = match (next.answer, code) {
                (Answer::SentCode(_), Some(code)) => {
                    Some(hash_code(ctx.key, &next.id, next.generation + 1, code))
                }
                (Answer::KeyPress, None) => None,
                _ => return Err(refuse(s, &event)),
            };
            let effects = vec![
                Effect::ReplaceCode {
                    generation: next.generation,
                    hash,
                    expires_at: ctx.now + ctx.policy.code_lifetime,
                },
                Effect::Deliver { resend: true },
            ];
            if let Some(h) = hash {
                next.answer = Answer::SentCode(h);
            }
            next.generation += 1;
            next.sends += 1;
            next.last_sent_at = Some(ctx.now);
            next.expires_at = ctx.now + ctx.policy.code_lifetime;
            Ok((next, effects))
        }
        (s, ChallengeEvent::Cancel) if s.is_awaiting() || s == ChallengeStatus::Approved => {
            next.status = ChallengeStatus::Canceled;
            Ok((
                next,
                vec![Effect::Close {
                    to: ChallengeStatus::Canceled,
                }],
            ))
        }
        (s, ChallengeEvent::Expire) if s.is_awaiting() || s == ChallengeStatus::Expired => {
            if !next.status.is_awaiting() {
                return Err(refuse(s, &event));
            }
            next.status = ChallengeStatus::Expired;
            Ok((
                next,
                vec![Effect::Close {
                    to: ChallengeStatus::Expired,
                }],
            ))
        }
        (ChallengeStatus::Approved, ChallengeEvent::Complete)
            if next.purpose == Purpose::Enrollment =>
        {
            next.status = ChallengeStatus::Completed;
            Ok((
                next,
                vec![
                    Effect::Close {
                        to: ChallengeStatus::Completed,
                    },
                    Effect::ActivateMethod,
                ],
            ))
        }
        (s, _) => Err(refuse(s, &event)),
    }
}

/// `Some(None)` for a matching sent code, `Some(Some(step))` for a matching app code,
/// `None` for a wrong one.
/// How a presented code compares with what the challenge expects.
enum Check {
    /// A sent code that matches.
    SentCode,
    /// An app code for a step after the last accepted one.
    App(AppMatch),
    /// An app code for a step already accepted: the code is spent, but no guess.
    SpentAppCode,
    /// Wrong.
    Wrong,
}

fn check_code(challenge: &Challenge, code: &OneTimeCode, ctx: &Context<'_>) -> Check {
    match challenge.answer {
        Answer::SentCode(expected) => {
            let presented = hash_code(ctx.key, &challenge.id, challenge.generation, code);
            if presented.matches(&expected) {
                Check::SentCode
            } else {
                Check::Wrong
            }
        }
        Answer::AppCode => {
            let Some((verifier, credential, last_step)) = ctx.app else {
                return Check::Wrong;
            };
            match verifier.verify(credential, code, ctx.now, last_step) {
                Ok(Some(m)) => Check::App(m),
                // Only a code that fails as fresh is checked again as spent.
                _ if last_step.is_some() => {
                    match verifier.verify(credential, code, ctx.now, None) {
                        Ok(Some(_)) => Check::SpentAppCode,
                        _ => Check::Wrong,
                    }
                }
                _ => Check::Wrong,
            }
        }
        Answer::KeyPress | Answer::Passkey => Check::Wrong,
    }
}
