//! Temporary Access Passes: issued by an administrator, used in place of the second
//! factor, revoked. Decided here like every other rule, in the one commit that also
//! counts the use, so parallel uses of a one-use pass give one sign-in.

use super::{Ctx, Effect, check_lockout, emit, mint_proof, refused};
use crate::access_pass::{
    AccessPassInfo, AccessPassOptions, AccessPassRecord, AccessPassSignIn, AccessPassState,
    MAX_ACCESS_PASSES,
};
use crate::code::CodeHash;
use crate::error::{Error, InputError, Missing, PolicyError};
use crate::event::{Event, Refusal};
use crate::method::AccessPassId;
use crate::proof::Proof;
use crate::record::{ProofSource, UserRecord};

/// Issues a pass with this id and hash (drawn and computed by the driver).
pub fn issue_access_pass(
    rec: &mut UserRecord,
    id: &AccessPassId,
    hash: CodeHash,
    options: AccessPassOptions,
    ctx: &Ctx<'_>,
    effects: &mut Vec<Effect>,
) -> Result<AccessPassInfo, Error> {
    let policy = &ctx.policy.access_pass;
    let lifetime = options.lifetime.unwrap_or(policy.default_lifetime);
    if lifetime.is_zero() || lifetime > policy.max_lifetime {
        return Err(InputError::InvalidSetting(
            "an access pass lives more than zero and at most the policy's max_lifetime",
        )
        .into());
    }
    if options.uses == 0 || options.uses > policy.max_uses {
        return Err(InputError::InvalidSetting(
            "an access pass has 1 to the policy's max_uses uses",
        )
        .into());
    }
    let live = rec
        .access_passes
        .iter()
        .filter(|p| p.state(ctx.now) == AccessPassState::Usable)
        .count();
    if live >= policy.max_live {
        return Err(PolicyError::TooManyAccessPasses.into());
    }
    // Bounded: dead passes kept for their retention give way, oldest first.
    while rec.access_passes.len() >= MAX_ACCESS_PASSES {
        let Some(i) = rec
            .access_passes
            .iter()
            .position(|p| p.state(ctx.now) != AccessPassState::Usable)
        else {
            return Err(PolicyError::TooManyAccessPasses.into());
        };
        rec.access_passes.remove(i);
    }
    let record = AccessPassRecord {
        id: id.clone(),
        hash,
        issued_at: ctx.now,
        expires_at: ctx.now + lifetime,
        max_uses: options.uses,
        uses_left: options.uses,
        last_used_at: None,
        revoked_at: None,
    };
    let info = record.info(ctx.now);
    rec.access_passes.push(record);
    emit(
        effects,
        Event::AccessPassIssued {
            user: ctx.user.clone(),
            pass_id: id.clone(),
            expires_at: info.expires_at,
            uses: info.max_uses,
            at: ctx.now,
        },
    );
    Ok(info)
}

/// Revokes a pass; the proofs its sign-ins made die with it.
pub fn revoke_access_pass(
    rec: &mut UserRecord,
    id: &AccessPassId,
    ctx: &Ctx<'_>,
    effects: &mut Vec<Effect>,
) -> Result<(), Error> {
    let Some(pass) = rec.access_passes.iter_mut().find(|p| &p.id == id) else {
        return Err(Error::NotFound(Missing::AccessPass));
    };
    if pass.revoked_at.is_none() {
        pass.revoked_at = Some(ctx.now);
    }
    rec.proofs
        .retain(|p| !matches!(&p.source, ProofSource::AccessPass(used) if used == id));
    emit(
        effects,
        Event::AccessPassRevoked {
            user: ctx.user.clone(),
            pass_id: id.clone(),
            at: ctx.now,
        },
    );
    Ok(())
}

/// Signs in with a pass, in place of the second factor: one use is spent and a proof
/// minted. `None`: no usable pass matches. A hash matching none of the user's passes
/// counts as a failure, like a wrong code; a pass that matches but is used up,
/// expired or revoked is refused without one (only its holder can present it).
pub fn use_access_pass(
    rec: &mut UserRecord,
    hash: &CodeHash,
    minted: &Proof,
    ctx: &Ctx<'_>,
    effects: &mut Vec<Effect>,
) -> Result<Option<AccessPassSignIn>, Error> {
    check_lockout(rec, ctx, None, effects)?;
    // Scan every pass, so the time taken says nothing about which matched.
    let mut found = None;
    for (i, p) in rec.access_passes.iter().enumerate() {
        if p.hash.matches(hash) {
            found = Some(i);
        }
    }
    let Some(i) = found else {
        rec.failures.count = rec.failures.count.saturating_add(1);
        rec.failures.last_at = Some(ctx.now);
        refused(effects, ctx, None, Refusal::WrongAccessPass);
        return Ok(None);
    };
    if rec.access_passes[i].state(ctx.now) != AccessPassState::Usable {
        refused(effects, ctx, None, Refusal::AccessPassNotUsable);
        return Ok(None);
    }
    let pass = &mut rec.access_passes[i];
    pass.uses_left -= 1;
    pass.last_used_at = Some(ctx.now);
    let (pass_id, uses_left) = (pass.id.clone(), pass.uses_left);
    rec.failures = Default::default();
    let proof = mint_proof(rec, ProofSource::AccessPass(pass_id.clone()), minted, ctx);
    emit(
        effects,
        Event::AccessPassUsed {
            user: ctx.user.clone(),
            pass_id: pass_id.clone(),
            uses_left,
            at: ctx.now,
        },
    );
    Ok(Some(AccessPassSignIn {
        proof,
        pass_id,
        uses_left,
    }))
}
