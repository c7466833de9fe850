//! The user's side of the hardware-token inventory: an administrator takes a token back.

use super::{Ctx, Effect, emit, kill_dependents};
use crate::event::Event;
use crate::method::{Method, MethodStatus, TokenSerial};
use crate::record::UserRecord;

/// Removes the method of the token with this serial, if the user has one, with its
/// challenges and the proofs made from it; another active method becomes the default.
/// An administrator's act: it may take the user's last method (as a reset does).
pub fn drop_token(
    rec: &mut UserRecord,
    serial: &TokenSerial,
    ctx: &Ctx<'_>,
    effects: &mut Vec<Effect>,
) {
    let Some(target) = rec
        .methods
        .iter()
        .find(|m| matches!(&m.method, Method::HardwareToken { serial: s } if s == serial))
    else {
        return;
    };
    let (method_id, was_default) = (target.id.clone(), target.is_default);
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
