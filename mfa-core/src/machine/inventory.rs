//! The user's side of the hardware-token inventory: an administrator takes a token back.

use super::{Ctx, Effect, drop_method};
use crate::method::{Method, TokenSerial};
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
    let method_id = target.id.clone();
    drop_method(rec, method_id, ctx, effects);
}
