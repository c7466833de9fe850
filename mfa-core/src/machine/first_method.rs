//! The first active method makes the user's recovery codes, in the commit that
//! activates it. Decided here, not by whoever called: a user may reach their first
//! method by enrolling after the password, or by adding one with a Temporary Access
//! Pass or a recovery code's proof after an administrator's reset, and each of them
//! leaves without a way back in if no codes are made.

use super::{Ctx, Effect, complete, recovery_hash, replace_recovery_codes};
use crate::code::RecoveryCode;
use crate::error::Error;
use crate::method::{ChallengeId, MethodRecord};
use crate::proof::Proof;
use crate::record::UserRecord;

/// [`complete`], and when the method is the user's first active one, `codes` (drawn
/// by the driver) become their recovery codes. `true`: the codes were kept, and are
/// to be shown once.
pub fn complete_and_make_recovery_codes(
    rec: &mut UserRecord,
    id: &ChallengeId,
    minted: &Proof,
    codes: &[RecoveryCode],
    ctx: &Ctx<'_>,
    effects: &mut Vec<Effect>,
) -> Result<(MethodRecord, Proof, bool), Error> {
    let first = !rec.is_enrolled();
    let (method, proof) = complete(rec, id, minted, ctx, effects)?;
    let made = first && rec.is_enrolled() && !codes.is_empty();
    if made {
        // The proof the completion just minted is the one any new set of codes needs:
        // the same rule and event as a later regeneration.
        let hashes = codes
            .iter()
            .map(|c| recovery_hash(ctx.key, ctx.user, c.as_bytes()))
            .collect();
        replace_recovery_codes(rec, &proof, hashes, ctx, effects)?;
    }
    Ok((method, proof, made))
}
