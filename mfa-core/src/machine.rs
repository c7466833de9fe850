//! The one place that decides: every request about a user is a pure function of
//! that user's [`UserRecord`], the request and a [`Ctx`] (time, policy, keys).
//!
//! Each function changes the record in place (the driver works on a copy and
//! commits it by compare-and-set) and pushes [`Effect`]s: messages to send and events
//! to emit. An `Err` leaves nothing to commit; its events (refusals) are still
//! emitted. Randomness is drawn by the driver beforehand ([`Fresh`]), so a request
//! retried after a commit conflict decides with the same ids and codes.

use std::time::Duration;

use crate::app::{AppProvisioning, AppVerifier};
use crate::challenge::{self, Answer, Challenge, ChallengeEvent, ChallengeStatus, Context};
use crate::clock::Timestamp;
use crate::code::{CodeHash, CodeKey, OneTimeCode};
use crate::delivery::{CallOutcome, Content, Purpose};
use crate::error::{Error, InputError, Missing, PolicyError};
use crate::event::{Event, Refusal};
use crate::method::{
    AppCredential, ChallengeId, Method, MethodId, MethodKind, MethodName, MethodRecord,
    MethodStatus,
};
use crate::policy::{CallConfirmation, CostNotice, Lockout, Policy, RiskNotice};
use crate::proof::Proof;
use crate::record::{
    MAX_CHALLENGES, MAX_METHODS, MAX_OPEN_CHALLENGES, MAX_PROOFS, ProofRecord, ProofSource,
    RecoveryCodeRecord, UserRecord, UserStatus,
};
use crate::user::UserId;

mod fallback;

pub use fallback::{fall_back, report_delivery};
mod passkey;

pub use passkey::{sign_in_order, verify_passkey};

mod inventory;
pub use inventory::drop_token;

mod access_pass;
pub use access_pass::{issue_access_pass, revoke_access_pass, use_access_pass};
mod first_method;
pub use first_method::complete_and_make_recovery_codes;

/// How long an authenticator app enrollment waits for its first code (time to scan).
pub const APP_ENROLLMENT_WINDOW: Duration = Duration::from_secs(10 * 60);

/// What every decision needs besides the record.
#[derive(Debug, Clone, Copy)]
pub struct Ctx<'a> {
    /// Whose record it is.
    pub user: &'a UserId,
    /// The current time.
    pub now: Timestamp,
    /// The rules.
    pub policy: &'a Policy,
    /// The key codes, recovery codes and proofs are hashed under.
    pub key: &'a CodeKey,
    /// The authenticator-app verifier, when one is configured.
    pub app: Option<&'a dyn AppVerifier>,
    /// The hardware-token verifier, when one is configured.
    pub tokens: Option<&'a dyn AppVerifier>,
    /// The passkey verifier, when one is configured.
    pub passkeys: Option<&'a dyn crate::passkey::PasskeyVerifier>,
}

/// Values drawn from the random source before deciding.
#[derive(Debug, Clone)]
pub struct Fresh {
    /// The id a new challenge gets.
    pub challenge_id: ChallengeId,
    /// The id a new method gets.
    pub method_id: MethodId,
    /// The code a new or resent challenge sends.
    pub code: OneTimeCode,
    /// The number a new or resent call asks for, with number matching.
    pub match_number: crate::number_match::SignInNumber,
}

/// Work for the driver after the commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Send a code or place a call.
    Send(Send),
    /// Tell the event sink.
    Emit(Event),
}

/// One message or call to deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Send {
    /// The challenge it belongs to.
    pub challenge_id: ChallengeId,
    /// The method it goes to (its destination and channel).
    pub method: Method,
    /// A code, or a request to press a key.
    pub content: Content,
    /// Enrollment or sign-in.
    pub purpose: Purpose,
    /// When the code dies.
    pub expires_at: Timestamp,
    /// Whether it replaces an earlier send.
    pub resend: bool,
    /// Set when the destination is abroad.
    pub cost_notice: Option<CostNotice>,
    /// The user's language, when they have one.
    pub locale: Option<crate::locale::Locale>,
}

/// A sign-in or enrollment approval, as the machine reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Approved {
    /// Enrollment or sign-in.
    pub purpose: Purpose,
    /// The method that passed.
    pub method_id: MethodId,
    /// Its kind.
    pub method: MethodKind,
    /// For a redeemed sign-in: the proof minted for it.
    // A bearer secret: never serialized.
    #[cfg_attr(feature = "serde", serde(skip))]
    pub proof: Option<Proof>,
}

/// The answer to a presented code, a key press or a poll.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Verification {
    /// Correct. A sign-in carries its proof (once); an enrollment waits for
    /// [`Mfa::complete`](crate::Mfa::complete).
    Approved(Approved),
    /// Wrong.
    Rejected {
        /// Attempts left before the challenge locks.
        attempts_left: u32,
    },
    /// A call challenge whose call has not been answered yet.
    Waiting,
    /// The code's lifetime passed; start a new challenge.
    Expired,
    /// The attempt cap was reached; start a new challenge.
    Locked,
    /// The approval was already redeemed (a code is accepted once).
    AlreadyUsed,
    /// The user reported fraud on the call.
    Denied,
    /// Canceled by the user or the application, or by blocking or removing its method.
    Canceled,
}

impl Verification {
    /// Whether the user passed.
    pub fn is_approved(&self) -> bool {
        matches!(self, Verification::Approved(_))
    }

    /// The sign-in proof, when this is a redeemed sign-in.
    pub fn proof(&self) -> Option<&Proof> {
        match self {
            Verification::Approved(a) => a.proof.as_ref(),
            _ => None,
        }
    }
}

fn refused(event: &mut Vec<Effect>, ctx: &Ctx<'_>, challenge: Option<&ChallengeId>, why: Refusal) {
    event.push(Effect::Emit(Event::Refused {
        user: ctx.user.clone(),
        challenge_id: challenge.cloned(),
        reason: why,
        at: ctx.now,
    }));
}

fn emit(effects: &mut Vec<Effect>, event: Event) {
    effects.push(Effect::Emit(event));
}

/// The verification answer for a challenge that no longer takes codes.
fn settled(status: ChallengeStatus) -> Verification {
    match status {
        ChallengeStatus::Approved | ChallengeStatus::Completed => Verification::AlreadyUsed,
        ChallengeStatus::Locked => Verification::Locked,
        ChallengeStatus::Expired => Verification::Expired,
        ChallengeStatus::Denied => Verification::Denied,
        ChallengeStatus::Canceled => Verification::Canceled,
        ChallengeStatus::AwaitingCode | ChallengeStatus::AwaitingCallConfirmation => {
            Verification::Waiting
        }
    }
}

fn challenge_context<'a>(ctx: &Ctx<'a>) -> Context<'a> {
    Context {
        now: ctx.now,
        policy: ctx.policy,
        key: ctx.key,
        app: None,
    }
}

/// Refuses while the user's consecutive failures impose a delay or a lock.
fn check_lockout(
    rec: &UserRecord,
    ctx: &Ctx<'_>,
    challenge: Option<&ChallengeId>,
    effects: &mut Vec<Effect>,
) -> Result<(), Error> {
    let retry_after = match ctx.policy.lockout.after(rec.failures.count) {
        Lockout::Open => return Ok(()),
        Lockout::Locked => None,
        Lockout::Delay(delay) => {
            let until = rec.failures.last_at.unwrap_or(ctx.now) + delay;
            if ctx.now >= until {
                return Ok(());
            }
            Some(until.saturating_since(ctx.now))
        }
    };
    refused(effects, ctx, challenge, Refusal::LockedOut);
    Err(PolicyError::UserLocked { retry_after }.into())
}

fn check_active(rec: &UserRecord, ctx: &Ctx<'_>, effects: &mut Vec<Effect>) -> Result<(), Error> {
    match rec.status {
        UserStatus::Active => Ok(()),
        UserStatus::Suspended { .. } => {
            refused(effects, ctx, None, Refusal::Suspended);
            Err(PolicyError::Suspended.into())
        }
    }
}

/// A proof's keyed hash. The user is not in it: a proof is only ever looked for in
/// its own user's record, and a record opens only for its user. Left out, the input
/// (tag and 32 hex digits) is one SHA-256 block whatever the user id's length, so a
/// sign-in mints its proof in two compressions, not three or more.
fn proof_hash(ctx: &Ctx<'_>, proof: &Proof) -> CodeHash {
    ctx.key
        .hash_parts([b"proof v2\0", b""], proof.as_str().as_bytes())
}

/// The keyed hash a recovery code is kept as.
pub fn recovery_hash(key: &CodeKey, user: &UserId, code: &[u8]) -> CodeHash {
    key.hash_parts([b"recovery\0", user.as_str().as_bytes()], code)
}

/// Checks a re-authentication proof: made for this user, fresh, and its source
/// (a method still active, or a recovery code) still standing.
pub fn check_proof(
    rec: &UserRecord,
    proof: &Proof,
    ctx: &Ctx<'_>,
    effects: &mut Vec<Effect>,
) -> Result<(), Error> {
    let hash = proof_hash(ctx, proof);
    let live = rec.proofs.iter().any(|p| {
        p.hash.matches(&hash)
            && ctx.now < p.expires_at
            && match &p.source {
                ProofSource::Method(id) => rec
                    .method(id)
                    .is_some_and(|m| m.status == MethodStatus::Active),
                ProofSource::RecoveryCode => true,
                ProofSource::AccessPass(id) => rec
                    .access_passes
                    .iter()
                    .any(|a| &a.id == id && a.revoked_at.is_none()),
            }
    });
    if live {
        Ok(())
    } else {
        refused(effects, ctx, None, Refusal::Reauthentication);
        Err(PolicyError::ReauthenticationRequired.into())
    }
}

fn mint_proof(rec: &mut UserRecord, source: ProofSource, minted: &Proof, ctx: &Ctx<'_>) -> Proof {
    if rec.proofs.len() >= MAX_PROOFS {
        rec.proofs.remove(0);
    }
    rec.proofs.push(ProofRecord {
        hash: proof_hash(ctx, minted),
        source,
        expires_at: ctx.now + ctx.policy.reauthentication_window,
    });
    minted.clone()
}

/// Closes every open challenge on `method` (or on every method) and drops the
/// proofs made from it: what depended on a method dies with it.
fn kill_dependents(rec: &mut UserRecord, method: Option<&MethodId>, now: Timestamp) {
    crate::device::forget_all(rec);
    for c in &mut rec.challenges {
        if method.is_none_or(|m| &c.method_id == m)
            && (c.status.is_awaiting() || c.status == ChallengeStatus::Approved)
        {
            c.status = ChallengeStatus::Canceled;
            c.closed_at = Some(now);
        }
    }
    rec.proofs.retain(|p| match (&p.source, method) {
        (_, None) => false,
        (ProofSource::Method(id), Some(m)) => id != m,
        (ProofSource::RecoveryCode | ProofSource::AccessPass(_), Some(_)) => true,
    });
}

/// "Set it up now", "add a method" or "change number": a pending method and its
/// enrollment challenge, in one step. A user who has set up a method needs `proof`.
#[allow(clippy::too_many_arguments)] // the request's parts, each named
pub fn begin_enrollment(
    rec: &mut UserRecord,
    method: Method,
    replaces: Option<&MethodId>,
    proof: Option<&Proof>,
    provisioning: Option<&AppProvisioning>,
    fresh: &Fresh,
    ctx: &Ctx<'_>,
    effects: &mut Vec<Effect>,
) -> Result<crate::Pending, Error> {
    begin_named_enrollment(
        rec,
        method,
        None,
        replaces,
        proof,
        provisioning,
        fresh,
        ctx,
        effects,
    )
}

/// [`begin_enrollment`] of a method the user names ("work phone"): a second
/// authenticator app needs a name, and names are unique among the user's methods.
#[allow(clippy::too_many_arguments)] // the request's parts, each named
pub fn begin_named_enrollment(
    rec: &mut UserRecord,
    method: Method,
    name: Option<MethodName>,
    replaces: Option<&MethodId>,
    proof: Option<&Proof>,
    provisioning: Option<&AppProvisioning>,
    fresh: &Fresh,
    ctx: &Ctx<'_>,
    effects: &mut Vec<Effect>,
) -> Result<crate::Pending, Error> {
    check_active(rec, ctx, effects)?;
    if method.kind() == MethodKind::RecoveryCodes {
        return Err(InputError::InvalidSetting(
            "recovery codes are made with regenerate_recovery_codes",
        )
        .into());
    }
    match proof {
        Some(p) => check_proof(rec, p, ctx, effects)?,
        None if rec.is_enrolled() => {
            refused(effects, ctx, None, Refusal::Reauthentication);
            return Err(PolicyError::ReauthenticationRequired.into());
        }
        None => {}
    }
    if method.kind() == MethodKind::HardwareToken {
        return Err(InputError::InvalidSetting(
            "hardware tokens are assigned by an administrator (assign_hardware_token)",
        )
        .into());
    }
    let credential = provisioning.map(|p| p.credential.clone());
    add_pending_method(rec, method, name, replaces, credential, fresh, ctx, effects)
}

/// The part of an enrollment after its authorisation: the checks on the method, the
/// pending method and its challenge.
#[allow(clippy::too_many_arguments)] // the request's parts, each named
fn add_pending_method(
    rec: &mut UserRecord,
    method: Method,
    name: Option<MethodName>,
    replaces: Option<&MethodId>,
    credential: Option<AppCredential>,
    fresh: &Fresh,
    ctx: &Ctx<'_>,
    effects: &mut Vec<Effect>,
) -> Result<crate::Pending, Error> {
    if let Some(old) = replaces {
        let Some(old_record) = rec.method(old) else {
            return Err(Error::NotFound(Missing::Method));
        };
        if old_record.method.number().is_none() || method.number().is_none() {
            return Err(
                InputError::InvalidSetting("only a phone method's number can be changed").into(),
            );
        }
    }
    if !method.kind().allows_several()
        && rec
            .methods
            .iter()
            .any(|m| m.status != MethodStatus::Pending && m.method == method)
    {
        return Err(PolicyError::AlreadyEnrolled.into());
    }
    check_several(rec, &method, name.as_ref(), ctx)?;
    if rec.methods.len() >= MAX_METHODS {
        return Err(PolicyError::TooManyMethods.into());
    }
    check_lockout(rec, ctx, None, effects)?;
    // Checked before anything is stored: a refused destination leaves no trace.
    if method.channel().is_some() {
        check_send(&method, ctx)?;
    }
    rec.methods.push(MethodRecord {
        id: fresh.method_id.clone(),
        method: method.clone(),
        status: MethodStatus::Pending,
        is_default: false,
        created_at: ctx.now,
        app: credential,
        replaces: replaces.cloned(),
        app_step: None,
        name,
        passkey: None,
        token_drift: 0,
    });
    emit(
        effects,
        Event::EnrollmentStarted {
            user: ctx.user.clone(),
            method: method.kind(),
        },
    );
    let method_id = fresh.method_id.clone();
    start_challenge(rec, &method_id, Purpose::Enrollment, fresh, ctx, effects)
}

/// An administrator assigns an imported hardware token: a pending method holding the
/// token's key, and an enrollment challenge that the user answers with the token's
/// first code (then completes), within [`Policy::hardware_token_confirmation`].
/// Needs no proof from the user: the administrator vouches; the code proves the
/// user holds the token.
pub fn assign_token(
    rec: &mut UserRecord,
    serial: crate::method::TokenSerial,
    credential: AppCredential,
    name: Option<MethodName>,
    fresh: &Fresh,
    ctx: &Ctx<'_>,
    effects: &mut Vec<Effect>,
) -> Result<crate::Pending, Error> {
    check_active(rec, ctx, effects)?;
    let method = Method::HardwareToken { serial };
    if rec.methods.iter().any(|m| m.method == method) {
        return Err(PolicyError::AlreadyEnrolled.into());
    }
    add_pending_method(
        rec,
        method,
        name,
        None,
        Some(credential),
        fresh,
        ctx,
        effects,
    )
}

/// Resynchronises an HOTP hardware token whose counter ran past the look-ahead,
/// from two consecutive codes (the user pressed the button many times away from a
/// sign-in). Signs nobody in: it only moves the counter, so the next code works.
/// A pair that does not match counts as a failure, like a wrong code, so the
/// wider search cannot be used to guess.
pub fn resync_token(
    rec: &mut UserRecord,
    method_id: &MethodId,
    first: &OneTimeCode,
    second: &OneTimeCode,
    ctx: &Ctx<'_>,
    effects: &mut Vec<Effect>,
) -> Result<bool, Error> {
    check_lockout(rec, ctx, None, effects)?;
    let verifier = ctx
        .tokens
        .ok_or(Error::NotConfigured(Missing::TokenVerifier))?;
    let Some(method) = rec.method(method_id).filter(|m| {
        m.method.kind() == MethodKind::HardwareToken && m.status == MethodStatus::Active
    }) else {
        return Err(Error::NotFound(Missing::Method));
    };
    let credential = method
        .app
        .as_ref()
        .ok_or(Error::NotFound(Missing::Method))?;
    let keeps_drift = verifier.keeps_drift(credential);
    match verifier.resync_at(credential, first, second, ctx.now, method.app_step)? {
        Some(m) => {
            if let Some(rec_method) = rec.method_mut(method_id) {
                rec_method.app_step = Some(m.step);
                if keeps_drift {
                    rec_method.token_drift = m.drift;
                }
            }
            rec.failures = Default::default();
            emit(
                effects,
                Event::TokenResynchronised {
                    user: ctx.user.clone(),
                    method_id: method_id.clone(),
                    drift: m.drift,
                },
            );
            Ok(true)
        }
        None => {
            rec.failures.count = rec.failures.count.saturating_add(1);
            rec.failures.last_at = Some(ctx.now);
            refused(effects, ctx, None, Refusal::WrongResyncCodes);
            Ok(false)
        }
    }
}

/// Names are unique among a user's set-up methods; a kind a user may have several
/// of (authenticator apps) is capped by the policy, and its second needs a name.
fn check_several(
    rec: &UserRecord,
    method: &Method,
    name: Option<&MethodName>,
    ctx: &Ctx<'_>,
) -> Result<(), Error> {
    let set_up = || {
        rec.methods
            .iter()
            .filter(|m| m.status != MethodStatus::Pending)
    };
    if let Some(name) = name {
        if set_up().any(|m| m.name.as_ref().is_some_and(|n| n.same_as(name))) {
            return Err(PolicyError::NameTaken.into());
        }
    }
    let kind = method.kind();
    let max = match kind {
        MethodKind::AuthenticatorApp => ctx.policy.max_authenticator_apps,
        MethodKind::Passkey => MAX_METHODS,
        _ => return Ok(()),
    };
    let count = set_up().filter(|m| m.method.kind() == kind).count();
    if count >= max {
        return Err(PolicyError::TooManyOfKind { kind, max }.into());
    }
    if count > 0 && name.is_none() {
        return Err(InputError::MethodNameRequired.into());
    }
    Ok(())
}

/// A sign-in challenge on `method` (the default when `None`).
pub fn begin_sign_in(
    rec: &mut UserRecord,
    method: Option<&MethodId>,
    fresh: &Fresh,
    ctx: &Ctx<'_>,
    effects: &mut Vec<Effect>,
) -> Result<crate::Pending, Error> {
    let chosen = match method {
        Some(id) => rec.method(id).filter(|m| m.status == MethodStatus::Active),
        None => sign_in_order(rec, ctx.policy).first().copied(),
    };
    let Some(chosen) = chosen.map(|m| m.id.clone()) else {
        return Err(Error::NotFound(match method {
            Some(_) => Missing::Method,
            None => Missing::EnrolledMethod,
        }));
    };
    start_challenge(rec, &chosen, Purpose::SignIn, fresh, ctx, effects)
}

fn start_challenge(
    rec: &mut UserRecord,
    method_id: &MethodId,
    purpose: Purpose,
    fresh: &Fresh,
    ctx: &Ctx<'_>,
    effects: &mut Vec<Effect>,
) -> Result<crate::Pending, Error> {
    check_lockout(rec, ctx, None, effects)?;
    let method = rec
        .method(method_id)
        .map(|m| m.method.clone())
        .ok_or(Error::NotFound(Missing::Method))?;
    let channel = method.channel();
    let mut cost_notice = None;
    if channel.is_some() {
        cost_notice = check_send(&method, ctx)?;
        count_user_send(rec, ctx, None, effects)?;
    }
    // Bounded: the oldest open challenge gives way to the new one.
    let open: Vec<usize> = (0..rec.challenges.len())
        .filter(|&i| rec.challenges[i].status_at(ctx.now).is_awaiting())
        .collect();
    if open.len() >= MAX_OPEN_CHALLENGES {
        let oldest = &mut rec.challenges[open[0]];
        oldest.status = ChallengeStatus::Canceled;
        oldest.closed_at = Some(ctx.now);
    }
    while rec.challenges.len() >= MAX_CHALLENGES {
        let now = ctx.now;
        match rec
            .challenges
            .iter()
            .position(|c| !c.status_at(now).is_awaiting() && c.status != ChallengeStatus::Approved)
        {
            Some(i) => {
                rec.challenges.remove(i);
            }
            None => break,
        }
    }
    let press_key = channel == Some(crate::method::Channel::Voice)
        && ctx.policy.call_confirmation != CallConfirmation::ReadCode;
    let code = (channel.is_some() && !press_key).then_some(&fresh.code);
    let lifetime = match (channel, purpose) {
        (None, Purpose::Enrollment) if method.kind() == MethodKind::HardwareToken => {
            ctx.policy.hardware_token_confirmation
        }
        (None, Purpose::Enrollment) => APP_ENROLLMENT_WINDOW,
        _ => ctx.policy.code_lifetime,
    };
    let (mut challenge, _) = challenge::begin(
        challenge::Begin {
            id: fresh.challenge_id.clone(),
            method_id: method_id.clone(),
            purpose,
            channel,
            code,
            lifetime,
        },
        &challenge_context(ctx),
    );
    if channel.is_some() {
        effects.push(Effect::Send(Send {
            challenge_id: challenge.id.clone(),
            method: method.clone(),
            content: call_content(code, fresh, ctx),
            purpose,
            expires_at: challenge.expires_at,
            resend: false,
            cost_notice,
            locale: rec.locale.clone(),
        }));
    }
    let passkey_options = match method.kind() {
        MethodKind::Passkey => Some(passkey::open_ceremony(rec, &mut challenge, ctx)?),
        _ => None,
    };
    let mut pending = pending(&challenge, method, cost_notice, ctx);
    if channel.is_some() && code.is_none() {
        pending.match_number = shown_number(fresh, ctx);
    }
    pending.passkey_options = passkey_options;
    rec.challenges.push(challenge);
    Ok(pending)
}

/// Checks where a method's codes go before anything is stored or sent: a phone
/// number against the country rules (returning the cost notice), an email address
/// against the policy that keeps the channel off by default.
fn check_send(method: &Method, ctx: &Ctx<'_>) -> Result<Option<CostNotice>, Error> {
    match (method.channel(), method.destination()) {
        (Some(channel), Some(dest)) => Ok(ctx.policy.check_destination(&dest, channel)?),
        (Some(crate::method::Channel::Email), None) => {
            ctx.policy.check_email()?;
            Ok(None)
        }
        _ => Ok(None),
    }
}

/// Counts a send against the user's own window (kept in the record).
fn count_user_send(
    rec: &mut UserRecord,
    ctx: &Ctx<'_>,
    challenge: Option<&ChallengeId>,
    effects: &mut Vec<Effect>,
) -> Result<(), Error> {
    let limit = ctx.policy.send_limits.per_user;
    if ctx.now >= rec.sends.started_at + limit.window {
        rec.sends.count = 0;
        rec.sends.started_at = ctx.now;
    }
    if rec.sends.count >= limit.max {
        refused(effects, ctx, challenge, Refusal::RateLimited);
        return Err(PolicyError::RateLimited {
            scope: crate::error::LimitScope::User,
            retry_after: (rec.sends.started_at + limit.window).saturating_since(ctx.now),
        }
        .into());
    }
    rec.sends.count += 1;
    Ok(())
}

/// What the user is shown for a challenge.
pub fn pending(
    c: &Challenge,
    method: Method,
    cost_notice: Option<CostNotice>,
    ctx: &Ctx<'_>,
) -> crate::Pending {
    let risk_notice = method.destination().map(|_| RiskNotice {
        app_offered: ctx.app.is_some(),
    });
    crate::Pending {
        challenge_id: c.id.clone(),
        method_id: c.method_id.clone(),
        method,
        purpose: c.purpose,
        waiting_for: c.status,
        expires_at: c.expires_at,
        resend_after: c.last_sent_at.map(|t| t + ctx.policy.resend_cooldown),
        attempts_left: c.attempts_left(),
        cost_notice,
        risk_notice,
        app: None,
        match_number: None,
        passkey_options: None,
    }
}

/// The kind of the method `id`; a typed error when the record has no such method.
fn method_kind(rec: &UserRecord, id: &MethodId) -> Result<MethodKind, Error> {
    rec.method(id)
        .map(|m| m.method.kind())
        .ok_or(Error::NotFound(Missing::Method))
}

/// What a send carries: the code, or a call that confirms by key or by the number
/// the page shows.
fn call_content(code: Option<&OneTimeCode>, fresh: &Fresh, ctx: &Ctx<'_>) -> Content {
    match code {
        Some(code) => Content::Code(code.clone()),
        None => match shown_number(fresh, ctx) {
            Some(number) => Content::MatchNumber(number),
            None => Content::ConfirmByKey,
        },
    }
}

/// The number the page shows, when calls match numbers.
fn shown_number(fresh: &Fresh, ctx: &Ctx<'_>) -> Option<crate::number_match::SignInNumber> {
    (ctx.policy.call_confirmation == CallConfirmation::MatchNumber).then_some(fresh.match_number)
}

fn find<'r>(rec: &'r UserRecord, id: &ChallengeId) -> Result<&'r Challenge, Error> {
    rec.challenge(id).ok_or(Error::NotFound(Missing::Challenge))
}

fn replace(rec: &mut UserRecord, next: Challenge) {
    if let Some(c) = rec.challenge_mut(&next.id) {
        *c = next;
    }
}

/// "Write in the code and choose Check". A sign-in approval is redeemed at once:
/// the answer carries the proof, and the challenge is done.
pub fn verify(
    rec: &mut UserRecord,
    id: &ChallengeId,
    code: &str,
    minted: &Proof,
    ctx: &Ctx<'_>,
    effects: &mut Vec<Effect>,
) -> Result<Verification, Error> {
    let challenge = find(rec, id)?.clone();
    // Malformed codes are input errors and cost no attempt.
    let code = match challenge.answer {
        Answer::SentCode(_) => OneTimeCode::parse_exact(code, ctx.policy.code_digits)?,
        Answer::AppCode => OneTimeCode::parse(code)?,
        Answer::KeyPress | Answer::Passkey => {
            return Err(crate::error::TransitionError {
                state: challenge.status_at(ctx.now).name(),
                event: "submit code",
            }
            .into());
        }
    };
    let status = challenge.status_at(ctx.now);
    if !status.is_awaiting() {
        if status == ChallengeStatus::Expired {
            refused(effects, ctx, Some(id), Refusal::Expired);
        }
        return Ok(settled(status));
    }
    check_lockout(rec, ctx, Some(id), effects)?;
    // The method is read in place: the transition does not touch the record.
    let method = rec
        .method(&challenge.method_id)
        .ok_or(Error::NotFound(Missing::Method))?;
    let cctx = challenge_context(ctx);
    let (next, steps) = if challenge.answer == Answer::AppCode {
        let verifier = match method.method.kind() {
            MethodKind::HardwareToken => ctx
                .tokens
                .ok_or(Error::NotConfigured(Missing::TokenVerifier))?,
            _ => ctx.app.ok_or(Error::NotConfigured(Missing::AppVerifier))?,
        };
        let credential = method
            .app
            .as_ref()
            .ok_or(Error::NotFound(Missing::Method))?;
        // A token whose clock drifted is checked where its clock is.
        let drifted = crate::app::Drifted {
            inner: verifier,
            drift: method.token_drift,
        };
        let verifier: &dyn AppVerifier = if method.token_drift == 0 {
            verifier
        } else {
            &drifted
        };
        // A code of the wrong length for this app is malformed: no attempt. The answer
        // is kept for the transition, which asks the same question.
        let first = verifier.verify(credential, &code, ctx.now, method.app_step)?;
        let checked = Checked {
            verifier,
            after_step: method.app_step,
            first,
        };
        let cctx = Context {
            app: Some((&checked, credential, method.app_step)),
            ..cctx
        };
        challenge::transition(challenge, ChallengeEvent::SubmitCode(&code), &cctx)?
    } else {
        challenge::transition(challenge, ChallengeEvent::SubmitCode(&code), &cctx)?
    };
    apply(rec, next, steps, minted, ctx, effects)
}

/// An app verifier whose answer for one question is already known, so one sign-in
/// checks its code once (HMACs are most of an app verification's cost).
#[derive(Debug)]
struct Checked<'a> {
    verifier: &'a dyn AppVerifier,
    after_step: Option<u64>,
    first: Option<crate::app::AppMatch>,
}

impl AppVerifier for Checked<'_> {
    fn provision(
        &self,
        issuer: &str,
        account: &str,
        rng: &dyn crate::code::Randomness,
    ) -> Result<crate::app::AppProvisioning, crate::error::InputError> {
        self.verifier.provision(issuer, account, rng)
    }

    fn verify(
        &self,
        credential: &crate::method::AppCredential,
        code: &OneTimeCode,
        now: Timestamp,
        after_step: Option<u64>,
    ) -> Result<Option<crate::app::AppMatch>, crate::error::InputError> {
        if after_step == self.after_step {
            return Ok(self.first);
        }
        self.verifier.verify(credential, code, now, after_step)
    }
}

/// Applies a challenge transition's steps to the record.
fn apply(
    rec: &mut UserRecord,
    mut next: Challenge,
    steps: Vec<challenge::Effect>,
    minted: &Proof,
    ctx: &Ctx<'_>,
    effects: &mut Vec<Effect>,
) -> Result<Verification, Error> {
    let id = next.id.clone();
    let mut answer = settled(next.status);
    for step in steps {
        match step {
            challenge::Effect::RecordFailure => {
                rec.failures.count = rec.failures.count.saturating_add(1);
                rec.failures.last_at = Some(ctx.now);
                emit(
                    effects,
                    Event::CheckFailed {
                        user: ctx.user.clone(),
                        purpose: next.purpose,
                        attempts_left: next.attempts_left(),
                    },
                );
                if rec.failures.count == ctx.policy.lockout.hard_limit {
                    emit(
                        effects,
                        Event::UserLocked {
                            user: ctx.user.clone(),
                        },
                    );
                }
                answer = if next.status == ChallengeStatus::Locked {
                    emit(
                        effects,
                        Event::ChallengeLocked {
                            user: ctx.user.clone(),
                        },
                    );
                    Verification::Locked
                } else {
                    Verification::Rejected {
                        attempts_left: next.attempts_left(),
                    }
                };
            }
            challenge::Effect::AdvanceAppStep { step, drift } => {
                if let Some(m) = rec.method_mut(&next.method_id) {
                    m.app_step = Some(step);
                    // A drifted token's clock keeps drifting: follow it by the step
                    // each sign-in's code was off from where it was expected.
                    if m.token_drift != 0 {
                        m.token_drift = m.token_drift.saturating_add(drift);
                    }
                }
            }
            challenge::Effect::RefuseReplay => {
                refused(effects, ctx, Some(&id), Refusal::Replay);
                answer = Verification::Rejected {
                    attempts_left: next.attempts_left(),
                };
            }
            challenge::Effect::Approve { .. } => {
                rec.failures = Default::default();
                let kind = rec
                    .method(&next.method_id)
                    .map_or(MethodKind::AuthenticatorApp, |m| m.method.kind());
                emit(
                    effects,
                    Event::CheckSucceeded {
                        user: ctx.user.clone(),
                        purpose: next.purpose,
                        method: kind,
                    },
                );
                let mut proof = None;
                if next.purpose == Purpose::SignIn {
                    proof = Some(redeem(rec, &mut next, minted, ctx));
                }
                answer = Verification::Approved(Approved {
                    purpose: next.purpose,
                    method_id: next.method_id.clone(),
                    method: kind,
                    proof,
                });
            }
            challenge::Effect::Close { to } => {
                if to == ChallengeStatus::Expired {
                    refused(effects, ctx, Some(&id), Refusal::Expired);
                }
                answer = settled(to);
            }
            _ => {}
        }
    }
    replace(rec, next);
    Ok(answer)
}

/// Redeems an approved sign-in: the challenge is done, and a proof is minted.
fn redeem(rec: &mut UserRecord, c: &mut Challenge, minted: &Proof, ctx: &Ctx<'_>) -> Proof {
    c.status = ChallengeStatus::Completed;
    c.closed_at = Some(ctx.now);
    mint_proof(rec, ProofSource::Method(c.method_id.clone()), minted, ctx)
}

/// Where a challenge stands; an approved sign-in (a call answered with `#`) is
/// redeemed by the first poll that sees it, which alone gets the proof.
pub fn poll(
    rec: &mut UserRecord,
    id: &ChallengeId,
    minted: &Proof,
    ctx: &Ctx<'_>,
) -> Result<Verification, Error> {
    let mut c = find(rec, id)?.clone();
    match c.status_at(ctx.now) {
        ChallengeStatus::Approved => {
            // Removing or blocking a method closes its challenges, so an approved one
            // always has its method; a record without it is refused, not guessed at.
            let kind = method_kind(rec, &c.method_id)?;
            let proof = (c.purpose == Purpose::SignIn).then(|| redeem(rec, &mut c, minted, ctx));
            let approved = Verification::Approved(Approved {
                purpose: c.purpose,
                method_id: c.method_id.clone(),
                method: kind,
                proof,
            });
            replace(rec, c);
            Ok(approved)
        }
        s => Ok(settled(s)),
    }
}

/// A call's outcome: `#` approves (a sign-in is then redeemed by [`poll`]); `0#`
/// denies the challenge, blocks the method, and suspends changes to the user's factors.
pub fn report_call(
    rec: &mut UserRecord,
    id: &ChallengeId,
    outcome: CallOutcome,
    ctx: &Ctx<'_>,
    effects: &mut Vec<Effect>,
) -> Result<Verification, Error> {
    let challenge = find(rec, id)?.clone();
    let status = challenge.status_at(ctx.now);
    let kind = method_kind(rec, &challenge.method_id)?;
    let event = match outcome {
        CallOutcome::Confirmed => ChallengeEvent::CallConfirmed,
        CallOutcome::FraudReported => ChallengeEvent::FraudReported,
        CallOutcome::WrongNumber => return wrong_number(rec, challenge, ctx, effects),
    };
    let method_id = challenge.method_id.clone();
    let purpose = challenge.purpose;
    let Ok((mut next, _)) = challenge::transition(challenge, event, &challenge_context(ctx)) else {
        return Ok(settled(status));
    };
    if outcome == CallOutcome::Confirmed {
        // Approved but not redeemed: the sign-in page's poll redeems it once.
        next.approved_at = Some(ctx.now);
        rec.failures = Default::default();
        emit(
            effects,
            Event::CheckSucceeded {
                user: ctx.user.clone(),
                purpose,
                method: kind,
            },
        );
        replace(rec, next);
        return Ok(Verification::Approved(Approved {
            purpose,
            method_id,
            method: kind,
            proof: None,
        }));
    }
    replace(rec, next);
    if let Some(m) = rec.method_mut(&method_id) {
        if m.status == MethodStatus::Active {
            m.status = MethodStatus::Blocked;
            m.is_default = false;
        }
    }
    // Everything that could still approve or change a factor dies.
    kill_dependents(rec, None, ctx.now);
    if let Some(c) = rec.challenge_mut(id) {
        c.status = ChallengeStatus::Denied;
    }
    rec.status = UserStatus::Suspended { since: ctx.now };
    emit(
        effects,
        Event::FraudReported {
            user: ctx.user.clone(),
            method_id,
            method: kind,
            challenge_id: id.clone(),
            purpose,
            at: ctx.now,
        },
    );
    Ok(Verification::Denied)
}

/// A number keyed in on a number-matching call that is not the one the page shows:
/// the challenge is denied (another call needs a new challenge or a resend) and the
/// user's consecutive failures grow, as for a wrong code.
fn wrong_number(
    rec: &mut UserRecord,
    challenge: Challenge,
    ctx: &Ctx<'_>,
    effects: &mut Vec<Effect>,
) -> Result<Verification, Error> {
    let status = challenge.status_at(ctx.now);
    if status != ChallengeStatus::AwaitingCallConfirmation {
        return Ok(settled(status));
    }
    let mut next = challenge;
    next.status = ChallengeStatus::Denied;
    let purpose = next.purpose;
    replace(rec, next);
    rec.failures.count = rec.failures.count.saturating_add(1);
    rec.failures.last_at = Some(ctx.now);
    emit(
        effects,
        Event::CheckFailed {
            user: ctx.user.clone(),
            purpose,
            attempts_left: 0,
        },
    );
    if rec.failures.count == ctx.policy.lockout.hard_limit {
        emit(
            effects,
            Event::UserLocked {
                user: ctx.user.clone(),
            },
        );
    }
    Ok(Verification::Denied)
}

/// "Cancel, then Next": a new code after the cooldown; the old code dies and the
/// attempt count is kept.
pub fn resend(
    rec: &mut UserRecord,
    id: &ChallengeId,
    fresh: &Fresh,
    ctx: &Ctx<'_>,
    effects: &mut Vec<Effect>,
) -> Result<crate::Pending, Error> {
    let challenge = find(rec, id)?.clone();
    let method = rec
        .method(&challenge.method_id)
        .map(|m| m.method.clone())
        .ok_or(Error::NotFound(Missing::Method))?;
    if method.channel().is_none() {
        return Err(crate::error::TransitionError {
            state: challenge.status_at(ctx.now).name(),
            event: "resend",
        }
        .into());
    }
    if challenge.status_at(ctx.now).is_awaiting() {
        if let Some(last) = challenge.last_sent_at {
            let ready = last + ctx.policy.resend_cooldown;
            if ctx.now < ready {
                refused(effects, ctx, Some(id), Refusal::ResendTooSoon);
                return Err(PolicyError::ResendTooSoon {
                    retry_after: ready.saturating_since(ctx.now),
                }
                .into());
            }
        }
        if challenge.sends >= ctx.policy.max_sends {
            refused(effects, ctx, Some(id), Refusal::RateLimited);
            return Err(PolicyError::TooManySends.into());
        }
    }
    let code = match challenge.answer {
        Answer::SentCode(_) => Some(&fresh.code),
        _ => None,
    };
    let (next, _) = challenge::transition(
        challenge,
        ChallengeEvent::Resend(code),
        &challenge_context(ctx),
    )?;
    let cost_notice = check_send(&method, ctx)?;
    count_user_send(rec, ctx, Some(id), effects)?;
    effects.push(Effect::Send(Send {
        challenge_id: next.id.clone(),
        method: method.clone(),
        content: call_content(code, fresh, ctx),
        purpose: next.purpose,
        expires_at: next.expires_at,
        resend: true,
        cost_notice,
        locale: rec.locale.clone(),
    }));
    let mut pending = pending(&next, method, cost_notice, ctx);
    if code.is_none() {
        pending.match_number = shown_number(fresh, ctx);
    }
    replace(rec, next);
    Ok(pending)
}

/// Gives up on a challenge; an enrollment's pending method goes with it.
pub fn cancel(
    rec: &mut UserRecord,
    id: &ChallengeId,
    ctx: &Ctx<'_>,
    effects: &mut Vec<Effect>,
) -> Result<(), Error> {
    let challenge = find(rec, id)?.clone();
    let (next, _) =
        challenge::transition(challenge, ChallengeEvent::Cancel, &challenge_context(ctx))?;
    if next.purpose == Purpose::Enrollment {
        rec.methods
            .retain(|m| !(m.id == next.method_id && m.status == MethodStatus::Pending));
    }
    refused(effects, ctx, Some(id), Refusal::Canceled);
    replace(rec, next);
    Ok(())
}

/// "Click Complete": the verified method becomes active (default when it is the
/// first, or when the method it replaces was), and a proof is minted for it.
pub fn complete(
    rec: &mut UserRecord,
    id: &ChallengeId,
    minted: &Proof,
    ctx: &Ctx<'_>,
    effects: &mut Vec<Effect>,
) -> Result<(MethodRecord, Proof), Error> {
    let challenge = find(rec, id)?.clone();
    if challenge.purpose != Purpose::Enrollment {
        return Err(crate::error::TransitionError {
            state: challenge.status_at(ctx.now).name(),
            event: "complete",
        }
        .into());
    }
    check_active(rec, ctx, effects)?;
    let (next, _) =
        challenge::transition(challenge, ChallengeEvent::Complete, &challenge_context(ctx))?;
    let method_id = next.method_id.clone();
    replace(rec, next);
    let first = !rec.is_enrolled();
    let Some(pos) = rec
        .methods
        .iter()
        .position(|m| m.id == method_id && m.status == MethodStatus::Pending)
    else {
        return Err(Error::NotFound(Missing::Method));
    };
    // A new factor: no device remembered before it skips it.
    crate::device::forget_all(rec);
    if first {
        // Nothing made before the first factor outlives it.
        rec.recovery_codes.clear();
        rec.proofs.clear();
    }
    let replaces = rec.methods[pos].replaces.clone();
    let mut make_default = rec.default_method().is_none();
    if let Some(old) = &replaces {
        make_default |= rec.method(old).is_some_and(|m| m.is_default);
        kill_dependents(rec, Some(old), ctx.now);
        rec.methods.retain(|m| &m.id != old);
    }
    if make_default {
        for m in &mut rec.methods {
            m.is_default = false;
        }
    }
    let Some(record) = rec.method_mut(&method_id) else {
        return Err(Error::NotFound(Missing::Method));
    };
    record.status = MethodStatus::Active;
    record.is_default = make_default;
    let record = record.clone();
    emit(
        effects,
        Event::MethodAdded {
            user: ctx.user.clone(),
            method_id: method_id.clone(),
            method: record.method.kind(),
        },
    );
    if replaces.is_some() {
        emit(
            effects,
            Event::PhoneNumberChanged {
                user: ctx.user.clone(),
                method_id: method_id.clone(),
            },
        );
    }
    let proof = mint_proof(rec, ProofSource::Method(method_id), minted, ctx);
    Ok((record, proof))
}

/// Makes another active method the default.
pub fn set_default(
    rec: &mut UserRecord,
    method_id: &MethodId,
    proof: &Proof,
    ctx: &Ctx<'_>,
    effects: &mut Vec<Effect>,
) -> Result<(), Error> {
    check_active(rec, ctx, effects)?;
    check_proof(rec, proof, ctx, effects)?;
    if !rec.active_methods().any(|m| &m.id == method_id) {
        return Err(Error::NotFound(Missing::Method));
    }
    for m in &mut rec.methods {
        m.is_default = &m.id == method_id;
    }
    emit(
        effects,
        Event::DefaultChanged {
            user: ctx.user.clone(),
            method_id: method_id.clone(),
        },
    );
    Ok(())
}

/// Gives a set-up method a new name, unique among the user's methods.
pub fn rename_method(
    rec: &mut UserRecord,
    method_id: &MethodId,
    name: MethodName,
    proof: &Proof,
    ctx: &Ctx<'_>,
    effects: &mut Vec<Effect>,
) -> Result<(), Error> {
    check_active(rec, ctx, effects)?;
    check_proof(rec, proof, ctx, effects)?;
    if rec.methods.iter().any(|m| {
        &m.id != method_id
            && m.status != MethodStatus::Pending
            && m.name.as_ref().is_some_and(|n| n.same_as(&name))
    }) {
        return Err(PolicyError::NameTaken.into());
    }
    let Some(target) = rec
        .method_mut(method_id)
        .filter(|m| m.status != MethodStatus::Pending)
    else {
        return Err(Error::NotFound(Missing::Method));
    };
    target.name = Some(name);
    let method = target.method.kind();
    emit(
        effects,
        Event::MethodRenamed {
            user: ctx.user.clone(),
            method_id: method_id.clone(),
            method,
        },
    );
    Ok(())
}

/// Removes a method (never the last active one); its challenges and proofs die.
pub fn remove_method(
    rec: &mut UserRecord,
    method_id: &MethodId,
    proof: &Proof,
    ctx: &Ctx<'_>,
    effects: &mut Vec<Effect>,
) -> Result<(), Error> {
    check_active(rec, ctx, effects)?;
    check_proof(rec, proof, ctx, effects)?;
    let Some(target) = rec.method(method_id) else {
        return Err(Error::NotFound(Missing::Method));
    };
    if target.status == MethodStatus::Active && rec.active_methods().count() == 1 {
        return Err(PolicyError::LastMethod.into());
    }
    drop_method(rec, method_id.clone(), ctx, effects);
    Ok(())
}

/// Takes a method out of the record with the challenges and proofs made from it; if
/// it was the default, the first other active method becomes the default.
fn drop_method(
    rec: &mut UserRecord,
    method_id: MethodId,
    ctx: &Ctx<'_>,
    effects: &mut Vec<Effect>,
) {
    let was_default = rec.method(&method_id).is_some_and(|m| m.is_default);
    kill_dependents(rec, Some(&method_id), ctx.now);
    rec.methods.retain(|m| m.id != method_id);
    if was_default {
        if let Some(next) = rec
            .methods
            .iter_mut()
            .find(|m| m.status == MethodStatus::Active)
        {
            next.is_default = true;
        }
    }
    emit(
        effects,
        Event::MethodRemoved {
            user: ctx.user.clone(),
            method_id,
        },
    );
}

/// An administrator's reset: methods, codes, proofs, challenges and failures go.
pub fn reset(rec: &mut UserRecord, ctx: &Ctx<'_>, effects: &mut Vec<Effect>) {
    kill_dependents(rec, None, ctx.now);
    let sends = rec.sends;
    let challenges = std::mem::take(&mut rec.challenges);
    *rec = UserRecord {
        // Closed challenges stay for their retention, so a poll still says "canceled".
        challenges,
        sends,
        ..UserRecord::default()
    };
    emit(
        effects,
        Event::UserReset {
            user: ctx.user.clone(),
        },
    );
}

/// An administrator lifts a suspension: the user and their blocked methods are active again.
pub fn unblock(rec: &mut UserRecord, ctx: &Ctx<'_>, effects: &mut Vec<Effect>) {
    rec.status = UserStatus::Active;
    for m in &mut rec.methods {
        if m.status == MethodStatus::Blocked {
            m.status = MethodStatus::Active;
        }
    }
    if rec.default_method().is_some_and(|d| !d.is_default) {
        let id = rec.default_method().map(|d| d.id.clone());
        for m in &mut rec.methods {
            m.is_default = Some(&m.id) == id.as_ref();
        }
    }
    emit(
        effects,
        Event::UserUnblocked {
            user: ctx.user.clone(),
            at: ctx.now,
        },
    );
}

/// A new set of recovery codes replaces the old; needs a proof.
pub fn replace_recovery_codes(
    rec: &mut UserRecord,
    proof: &Proof,
    hashes: Vec<CodeHash>,
    ctx: &Ctx<'_>,
    effects: &mut Vec<Effect>,
) -> Result<(), Error> {
    check_active(rec, ctx, effects)?;
    check_proof(rec, proof, ctx, effects)?;
    rec.recovery_codes = hashes
        .into_iter()
        .map(|hash| RecoveryCodeRecord {
            hash,
            used_at: None,
        })
        .collect();
    emit(
        effects,
        Event::RecoveryCodesRegenerated {
            user: ctx.user.clone(),
        },
    );
    Ok(())
}

/// Signs in with a recovery code, which then dies; lifts a suspension. `None`: no
/// unused code matches (a failure, counted like a wrong code).
pub fn use_recovery_code(
    rec: &mut UserRecord,
    hash: &CodeHash,
    minted: &Proof,
    ctx: &Ctx<'_>,
    effects: &mut Vec<Effect>,
) -> Result<Option<(Proof, usize)>, Error> {
    check_lockout(rec, ctx, None, effects)?;
    // Scan every code, so the time taken says nothing about which matched.
    let mut found = None;
    for (i, r) in rec.recovery_codes.iter().enumerate() {
        if r.hash.matches(hash) && r.used_at.is_none() {
            found = Some(i);
        }
    }
    let Some(i) = found else {
        rec.failures.count = rec.failures.count.saturating_add(1);
        rec.failures.last_at = Some(ctx.now);
        refused(effects, ctx, None, Refusal::WrongRecoveryCode);
        return Ok(None);
    };
    rec.recovery_codes[i].used_at = Some(ctx.now);
    rec.failures = Default::default();
    rec.status = UserStatus::Active;
    let remaining = rec
        .recovery_codes
        .iter()
        .filter(|r| r.used_at.is_none())
        .count();
    let proof = mint_proof(rec, ProofSource::RecoveryCode, minted, ctx);
    emit(
        effects,
        Event::RecoveryCodeUsed {
            user: ctx.user.clone(),
            remaining,
        },
    );
    Ok(Some((proof, remaining)))
}
