//! Proof of a fresh second factor: what changing security settings takes.

use std::fmt;

use crate::code::Randomness;
use crate::error::InputError;
use crate::inline::InlineStr;

/// A re-authentication proof: a bearer token handed out once, by a redeemed sign-in
/// ([`Verification::proof`](crate::Verification::proof)), a completed enrollment or
/// a recovery-code sign-in.
///
/// It is short-lived (the policy's `reauthentication_window`), bound to its user, and
/// dies with what it was made from: blocking or removing that method, a fraud report
/// or a reset ends it. Keep it in the server-side session, never in a URL; `Debug`
/// does not show it. The record keeps only its keyed hash.
#[derive(Clone, PartialEq, Eq)]
pub struct Proof(InlineStr<32>);

impl Proof {
    /// A fresh random token (128 bits).
    pub fn generate(rng: &dyn Randomness) -> Self {
        let mut bytes = [0u8; 16];
        rng.fill(&mut bytes);
        Proof(InlineStr::hex(&bytes).unwrap_or_else(|| unreachable!("16 bytes are 32 digits")))
    }

    /// A token as the application stored it.
    pub fn parse(token: &str) -> Result<Self, InputError> {
        if token.len() != 32 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(InputError::InvalidSetting("malformed proof token"));
        }
        InlineStr::new(&token.to_ascii_lowercase())
            .map(Proof)
            .ok_or(InputError::InvalidSetting("malformed proof token"))
    }

    /// The token, to keep in the session.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl fmt::Debug for Proof {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Proof(..)")
    }
}
