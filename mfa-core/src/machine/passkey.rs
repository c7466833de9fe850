//! Passkey ceremonies as challenges of the machine: opening one asks the verifier
//! for the browser's options and keeps its state; an answer is checked by the
//! verifier, and the machine decides which passkey it was, whether its counter moved
//! forward, whether the user was verified as the policy asks, and the attempt count.

use super::{
    Ctx, Effect, Verification, apply, challenge_context, check_lockout, find, refused, settled,
};
use crate::challenge::{self, Answer, Challenge, ChallengeEvent, ChallengeStatus};
use crate::delivery::Purpose;
use crate::error::{Error, InputError, Missing, PolicyError, TransitionError};
use crate::event::Refusal;
use crate::method::{ChallengeId, MethodId, MethodKind, MethodRecord, MethodStatus};
use crate::passkey::{
    MAX_CEREMONY_STATE_LEN, MAX_CREDENTIAL_ID_LEN, MAX_PASSKEY_DATA_LEN, MAX_PASSKEY_RESPONSE_LEN,
    PasskeyCeremony, PasskeyCredential, PasskeyError, PasskeyUser,
};
use crate::policy::Policy;
use crate::proof::Proof;
use crate::record::UserRecord;

/// The user's stable WebAuthn handle: a keyed hash of the user id, so it says
/// nothing about the user and is the same on every server.
fn user_handle(ctx: &Ctx<'_>) -> [u8; 16] {
    let hash = ctx
        .key
        .hash(b"passkey user\0", ctx.user.as_str().as_bytes());
    let mut handle = [0u8; 16];
    handle.copy_from_slice(&hash.0[..16]);
    handle
}

fn active_passkeys(rec: &UserRecord) -> impl Iterator<Item = (&MethodRecord, &PasskeyCredential)> {
    rec.active_methods()
        .filter(|m| m.method.kind() == MethodKind::Passkey)
        .filter_map(|m| m.passkey.as_ref().map(|p| (m, p)))
}

/// Opens the WebAuthn ceremony of a passkey challenge just begun; returns the
/// options for the browser. A sign-in may be answered by any of the user's passkeys.
pub(super) fn open_ceremony(
    rec: &mut UserRecord,
    challenge: &mut Challenge,
    ctx: &Ctx<'_>,
) -> Result<String, Error> {
    let verifier = ctx
        .passkeys
        .ok_or(Error::NotConfigured(Missing::PasskeyVerifier))?;
    challenge.answer = Answer::Passkey;
    let verify_user = ctx.policy.passkey_user_verification;
    let ceremony = match challenge.purpose {
        Purpose::Enrollment => {
            let existing: Vec<PasskeyCredential> = rec
                .methods
                .iter()
                .filter_map(|m| m.passkey.clone())
                .collect();
            let user = PasskeyUser {
                handle: user_handle(ctx),
                name: ctx.user.as_str(),
                display_name: ctx.user.as_str(),
            };
            verifier.start_registration(&user, &existing, verify_user)?
        }
        Purpose::SignIn => {
            let credentials: Vec<PasskeyCredential> =
                active_passkeys(rec).map(|(_, p)| p.clone()).collect();
            if credentials.is_empty() {
                return Err(Error::NotFound(Missing::EnrolledMethod));
            }
            verifier.start_authentication(&credentials, verify_user)?
        }
    };
    if ceremony.state.len() > MAX_CEREMONY_STATE_LEN {
        return Err(PasskeyError::Failed.into());
    }
    let now = ctx.now;
    let challenges = &rec.challenges;
    rec.passkey_ceremonies.retain(|p| {
        challenges
            .iter()
            .any(|c| c.id == p.challenge_id && c.status_at(now).is_awaiting())
    });
    rec.passkey_ceremonies.push(PasskeyCeremony {
        challenge_id: challenge.id.clone(),
        state: ceremony.state,
    });
    Ok(ceremony.options)
}

/// Whether a verifier's refusal is the user's (a failed attempt) or no answer at all.
fn refusal(e: PasskeyError) -> Result<Refusal, Error> {
    match e {
        PasskeyError::Malformed => Err(InputError::InvalidPasskeyResponse.into()),
        PasskeyError::Failed => Err(e.into()),
        PasskeyError::CounterRegressed => Ok(Refusal::PasskeyCounterRegressed),
        _ => Ok(Refusal::PasskeyRejected),
    }
}

/// The browser's answer to a passkey challenge. A registration that verifies
/// stores the passkey on its pending method (active once completed); a sign-in
/// that verifies is redeemed at once and carries its proof, made from the passkey
/// that signed. An answer that does not verify costs an attempt, as a wrong code
/// does; one that is not a WebAuthn response at all is an input error.
pub fn verify_passkey(
    rec: &mut UserRecord,
    id: &ChallengeId,
    response: &str,
    minted: &Proof,
    ctx: &Ctx<'_>,
    effects: &mut Vec<Effect>,
) -> Result<Verification, Error> {
    if response.len() > MAX_PASSKEY_RESPONSE_LEN {
        return Err(InputError::InvalidPasskeyResponse.into());
    }
    let challenge = find(rec, id)?.clone();
    let status = challenge.status_at(ctx.now);
    if challenge.answer != Answer::Passkey {
        return Err(TransitionError {
            state: status.name(),
            event: "passkey answer",
        }
        .into());
    }
    if !status.is_awaiting() {
        if status == ChallengeStatus::Expired {
            refused(effects, ctx, Some(id), Refusal::Expired);
        }
        return Ok(settled(status));
    }
    check_lockout(rec, ctx, Some(id), effects)?;
    let verifier = ctx
        .passkeys
        .ok_or(Error::NotConfigured(Missing::PasskeyVerifier))?;
    let state = rec
        .passkey_ceremonies
        .iter()
        .find(|p| &p.challenge_id == id)
        .map(|p| p.state.clone())
        .ok_or(Error::NotFound(Missing::Challenge))?;
    let mut next = challenge;
    let verdict = match next.purpose {
        Purpose::Enrollment => match verifier.finish_registration(&state, response) {
            Ok(credential) => register(rec, &next.method_id, credential, ctx)?,
            Err(e) => Err(refusal(e)?),
        },
        Purpose::SignIn => {
            let credentials: Vec<PasskeyCredential> =
                active_passkeys(rec).map(|(_, p)| p.clone()).collect();
            match verifier.finish_authentication(&state, response, &credentials) {
                Ok(assertion) => match signed_by(rec, &assertion, ctx) {
                    Ok(method_id) => {
                        next.method_id = method_id;
                        Ok(())
                    }
                    Err(why) => Err(why),
                },
                Err(e) => Err(refusal(e)?),
            }
        }
    };
    if let Err(why) = verdict {
        refused(effects, ctx, Some(id), why);
    }
    let (next, steps) = challenge::transition(
        next,
        ChallengeEvent::PasskeyChecked(verdict.is_ok()),
        &challenge_context(ctx),
    )?;
    if !next.status.is_awaiting() {
        rec.passkey_ceremonies.retain(|p| &p.challenge_id != id);
    }
    apply(rec, next, steps, minted, ctx, effects)
}

/// A verified registration, kept on the pending method; refused when the policy
/// wants user verification it did not have.
fn register(
    rec: &mut UserRecord,
    method_id: &MethodId,
    credential: PasskeyCredential,
    ctx: &Ctx<'_>,
) -> Result<Result<(), Refusal>, Error> {
    if ctx.policy.passkey_user_verification && !credential.user_verified {
        return Ok(Err(Refusal::PasskeyRejected));
    }
    if credential.credential_id.is_empty()
        || credential.credential_id.len() > MAX_CREDENTIAL_ID_LEN
        || credential.data.len() > MAX_PASSKEY_DATA_LEN
    {
        return Err(PasskeyError::Failed.into());
    }
    if rec.methods.iter().any(|m| {
        m.passkey
            .as_ref()
            .is_some_and(|p| p.credential_id == credential.credential_id)
    }) {
        return Err(PolicyError::AlreadyEnrolled.into());
    }
    let method = rec
        .method_mut(method_id)
        .filter(|m| m.status == MethodStatus::Pending)
        .ok_or(Error::NotFound(Missing::Method))?;
    method.passkey = Some(credential);
    Ok(Ok(()))
}

/// Which of the user's passkeys signed, after the checks the core makes for every
/// verifier: the credential is this user's and active, its counter moved forward
/// (either counter zero means the authenticator keeps none), and the user was
/// verified if the policy asks it. The passkey's counter and backup state are kept.
fn signed_by(
    rec: &mut UserRecord,
    assertion: &crate::passkey::PasskeyAssertion,
    ctx: &Ctx<'_>,
) -> Result<MethodId, Refusal> {
    let Some((method, stored)) =
        active_passkeys(rec).find(|(_, p)| p.credential_id == assertion.credential_id)
    else {
        return Err(Refusal::PasskeyRejected);
    };
    if (assertion.counter != 0 || stored.counter != 0) && assertion.counter <= stored.counter {
        return Err(Refusal::PasskeyCounterRegressed);
    }
    if ctx.policy.passkey_user_verification && !assertion.user_verified {
        return Err(Refusal::PasskeyRejected);
    }
    if assertion.data.len() > MAX_PASSKEY_DATA_LEN {
        return Err(Refusal::PasskeyRejected);
    }
    let id = method.id.clone();
    if let Some(p) = rec.method_mut(&id).and_then(|m| m.passkey.as_mut()) {
        p.counter = assertion.counter;
        p.backup_state = assertion.backup_state;
        p.backup_eligible |= assertion.backup_eligible;
        p.data = assertion.data.clone();
        p.last_used_at = Some(ctx.now);
    }
    Ok(id)
}

/// How strong a kind of method is, for the sign-in order (lower first), after
/// Entra's system-preferred order: passkeys, then codes from a device the user
/// holds, then calls, then SMS.
fn strength(method: &MethodRecord) -> u8 {
    use crate::method::{Method, PhoneMode};
    match &method.method {
        Method::Passkey => 0,
        Method::HardwareToken { .. } => 1,
        Method::AuthenticatorApp => 2,
        Method::OfficePhone { .. }
        | Method::AuthenticationPhone {
            mode: PhoneMode::Call,
            ..
        } => 3,
        Method::AuthenticationPhone {
            mode: PhoneMode::Sms,
            ..
        } => 4,
        _ => 5,
    }
}

/// The user's active methods in the order sign-in offers them: a passkey first
/// when the user has one (and the policy says so), then the default, then the
/// rest, strongest first. The first is what a sign-in starts on; the others are
/// "sign in another way".
pub fn sign_in_order<'r>(rec: &'r UserRecord, policy: &Policy) -> Vec<&'r MethodRecord> {
    let default = rec.default_method().map(|m| m.id.clone());
    let mut methods: Vec<&MethodRecord> = rec.active_methods().collect();
    methods.sort_by_key(|m| {
        let rank = if policy.passkeys_first && m.method.kind() == MethodKind::Passkey {
            0
        } else if default.as_ref() == Some(&m.id) {
            1
        } else {
            2
        };
        (rank, strength(m), m.created_at)
    });
    methods
}
