//! CSRF: one random token per half-signed-in session, carried by every form (a hidden
//! field) and JSON request (the `x-csrf-token` header), compared in constant time.
//! Written here rather than taken from a crate because the session already holds
//! server-side state: a synchronizer token is ten lines, and the session cookie is
//! `SameSite=Strict` besides.

use mfa_core::{OsRandomness, Randomness};
use subtle::ConstantTimeEq;

/// A fresh token: 128 random bits, hex.
pub(crate) fn token() -> String {
    let mut bytes = [0u8; 16];
    OsRandomness.fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `presented` is the session's token.
pub(crate) fn matches(expected: &str, presented: Option<&str>) -> bool {
    let Some(presented) = presented else {
        return false;
    };
    !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(presented.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_checked_exactly() {
        let a = token();
        assert_eq!(a.len(), 32);
        assert_ne!(a, token());
        assert!(matches(&a, Some(&a)));
        assert!(!matches(&a, Some(&a[..31])));
        assert!(!matches(&a, None));
        assert!(!matches("", Some("")));
    }
}
