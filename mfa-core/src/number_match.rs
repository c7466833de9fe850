//! Number matching on calls: the sign-in page shows two digits, and the call asks the
//! user to key them in, so a call the user did not start (push fatigue) cannot be
//! approved by a blind `#`.

use std::fmt;

use crate::code::Randomness;

/// The two digits the sign-in page shows and the call asks for (`00` to `99`).
///
/// Not a secret from the user (the page shows it), but kept out of `Debug` like the
/// codes are. `Display` gives the two digits for the page.
///
/// ```
/// use mfa_core::{SeededRandomness, SignInNumber};
///
/// let number = SignInNumber::generate(&SeededRandomness::new(7));
/// assert_eq!(number.to_string().len(), 2);
/// assert!(number.matches(&number.to_string()));
/// assert!(!format!("{number:?}").contains(&number.to_string()));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SignInNumber(u8);

impl SignInNumber {
    /// Draws a number from `rng`, uniformly: bytes of 200 and above are drawn again,
    /// so no number is likelier than another (no modulo bias).
    pub fn generate(rng: &dyn Randomness) -> Self {
        loop {
            let mut byte = [0u8; 1];
            rng.fill(&mut byte);
            if byte[0] < 200 {
                return SignInNumber(byte[0] % 100);
            }
        }
    }

    /// The number from two ASCII digits (`"07"`); `None` for anything else.
    pub fn parse(digits: &str) -> Option<Self> {
        match digits.as_bytes() {
            [a, b] if a.is_ascii_digit() && b.is_ascii_digit() => {
                Some(SignInNumber((a - b'0') * 10 + (b - b'0')))
            }
            _ => None,
        }
    }

    /// The two digits, tens first.
    pub fn digits(self) -> [u8; 2] {
        [self.0 / 10, self.0 % 10]
    }

    /// Whether `keys` (as keyed in on the call) are exactly these two digits.
    pub fn matches(self, keys: &str) -> bool {
        SignInNumber::parse(keys) == Some(self)
    }
}

impl fmt::Display for SignInNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}", self.0)
    }
}

impl fmt::Debug for SignInNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SignInNumber(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::code::SeededRandomness;

    #[test]
    fn two_digits_round_trip_and_nothing_else_parses() {
        for n in 0..100u8 {
            let number = SignInNumber(n);
            let shown = number.to_string();
            assert_eq!(shown.len(), 2);
            assert_eq!(SignInNumber::parse(&shown), Some(number));
            assert!(number.matches(&shown));
            assert_eq!(number.digits(), [n / 10, n % 10]);
        }
        for junk in ["", "1", "123", "1#", "#1", "a1", "٣٣", "+1"] {
            assert_eq!(SignInNumber::parse(junk), None, "{junk:?}");
        }
        assert!(!SignInNumber(7).matches("7"));
        assert!(SignInNumber(7).matches("07"));
    }

    #[test]
    fn numbers_are_spread_evenly() {
        let rng = SeededRandomness::new(42);
        let mut counts = [0u32; 100];
        for _ in 0..100_000 {
            counts[usize::from(SignInNumber::generate(&rng).0)] += 1;
        }
        // 1000 expected each; a biased draw (byte % 100) would give 56 numbers ~1170.
        assert!(
            counts.iter().all(|&c| (850..1150).contains(&c)),
            "{counts:?}"
        );
    }
}
