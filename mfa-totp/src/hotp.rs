//! RFC 4226 HOTP: counter-based codes, look-ahead and resynchronisation.

use mfa_core::{AppMatch, OneTimeCode};
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};

use crate::error::{ConfigError, VerifyError};
use crate::keyed::HMAC_BATCH;
use crate::uri::{KeyUri, OtpKind};
use crate::{Algorithm, PreparedKey, Secret};

/// The fewest digits any code has.
pub const MIN_DIGITS: u8 = 6;
/// The most digits an HOTP code may have (RFC 4226 allows more than apps show).
pub const MAX_HOTP_DIGITS: u8 = 10;
/// Counters checked past the expected one unless set otherwise.
pub const DEFAULT_LOOK_AHEAD: u32 = 10;
/// Counters searched for two consecutive codes unless set otherwise.
pub const DEFAULT_RESYNC_WINDOW: u32 = 1000;
/// The widest look-ahead or resynchronisation window accepted.
pub const MAX_HOTP_WINDOW: u32 = 100_000;

/// The truncated HMAC reduced to `digits` digits (`value mod 10^digits`).
///
/// Constant divisors, so the compiler multiplies instead of dividing: a 64-bit
/// division by a variable is a visible part of a candidate's cost.
#[inline]
pub(crate) fn reduce(truncated: u32, digits: u8) -> u64 {
    u64::from(match digits {
        6 => truncated % 1_000_000,
        7 => truncated % 10_000_000,
        8 => truncated % 100_000_000,
        9 => truncated % 1_000_000_000,
        // 10 digits: the 31-bit value is already below 10^10.
        _ => truncated,
    })
}

/// The numeric value of a presented code (its digits are already checked).
pub(crate) fn code_value(code: &OneTimeCode) -> u64 {
    code.as_bytes()
        .iter()
        .fold(0u64, |v, d| v * 10 + u64::from(d.wrapping_sub(b'0')))
}

/// Constant-time scan: compares `presented` with the code of every candidate and
/// keeps the last eligible match in the order given (so callers list the preferred
/// candidates last). Every candidate is computed and compared; nothing depends on
/// where (or whether) a match is found.
#[inline]
pub(crate) fn scan(
    key: &PreparedKey,
    digits: u8,
    presented: u64,
    mut candidates: impl Iterator<Item = (u64, i64, bool)>,
) -> Option<AppMatch> {
    let mut found = Choice::from(0);
    let mut step = 0u64;
    let mut drift = 0i64;
    let mut batch = [(0u64, 0i64, false); HMAC_BATCH];
    let mut counters = [0u64; HMAC_BATCH];
    let mut values = [0u32; HMAC_BATCH];
    loop {
        let mut n = 0;
        for (slot, candidate) in batch.iter_mut().zip(candidates.by_ref()) {
            *slot = candidate;
            counters[n] = candidate.0;
            n += 1;
        }
        key.truncated_batch(&counters[..n], &mut values[..n]);
        for (&(counter, offset, eligible), &value) in batch[..n].iter().zip(&values[..n]) {
            // Whether a candidate may match is public (it depends on the counter
            // alone): an ineligible one is compared with a value no code can have.
            let target = if eligible { presented } else { u64::MAX };
            let matches = reduce(value, digits).ct_eq(&target);
            step.conditional_assign(&counter, matches);
            drift.conditional_assign(&offset, matches);
            found |= matches;
        }
        if n < HMAC_BATCH {
            break;
        }
    }
    bool::from(found).then_some(AppMatch { step, drift })
}

/// HOTP settings: hash, digits, look-ahead and resynchronisation window.
///
/// ```
/// use mfa_totp::{Hotp, Secret};
///
/// let secret = Secret::from_bytes(b"12345678901234567890".to_vec()).unwrap();
/// let hotp = Hotp::default();
/// assert_eq!(hotp.generate(&secret, 1).expose(), "287082"); // RFC 4226 appendix D
/// // The user pressed the button twice without signing in: counter 2 is still found.
/// let code = hotp.generate(&secret, 2);
/// let matched = hotp.verify(&secret, &code, 0).unwrap().unwrap();
/// assert_eq!((matched.step, matched.drift), (2, 2));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hotp {
    algorithm: Algorithm,
    digits: u8,
    look_ahead: u32,
    resync_window: u32,
}

impl Default for Hotp {
    /// SHA-1, 6 digits, look-ahead 10, resynchronisation window 1000.
    fn default() -> Self {
        Hotp {
            algorithm: Algorithm::Sha1,
            digits: 6,
            look_ahead: DEFAULT_LOOK_AHEAD,
            resync_window: DEFAULT_RESYNC_WINDOW,
        }
    }
}

impl Hotp {
    /// HOTP with `algorithm` and 6 to 10 `digits`.
    pub fn new(algorithm: Algorithm, digits: u8) -> Result<Self, ConfigError> {
        if !(MIN_DIGITS..=MAX_HOTP_DIGITS).contains(&digits) {
            return Err(ConfigError::Digits {
                min: MIN_DIGITS,
                max: MAX_HOTP_DIGITS,
            });
        }
        Ok(Hotp {
            algorithm,
            digits,
            ..Hotp::default()
        })
    }

    /// How many counters past the expected one a code may be (default 10).
    pub fn with_look_ahead(mut self, look_ahead: u32) -> Result<Self, ConfigError> {
        if look_ahead > MAX_HOTP_WINDOW {
            return Err(ConfigError::Window {
                max: MAX_HOTP_WINDOW,
            });
        }
        self.look_ahead = look_ahead;
        Ok(self)
    }

    /// How far [`Hotp::resync`] searches for two consecutive codes (default 1000).
    pub fn with_resync_window(mut self, window: u32) -> Result<Self, ConfigError> {
        if window > MAX_HOTP_WINDOW {
            return Err(ConfigError::Window {
                max: MAX_HOTP_WINDOW,
            });
        }
        self.resync_window = window;
        Ok(self)
    }

    /// The hash.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// Digits per code.
    pub fn digits(&self) -> u8 {
        self.digits
    }

    /// The look-ahead.
    pub fn look_ahead(&self) -> u32 {
        self.look_ahead
    }

    /// The resynchronisation window.
    pub fn resync_window(&self) -> u32 {
        self.resync_window
    }

    /// The code for `counter`.
    pub fn generate(&self, secret: &Secret, counter: u64) -> OneTimeCode {
        self.generate_prepared(
            &PreparedKey::new(self.algorithm, secret.expose_bytes()),
            counter,
        )
    }

    /// The code for `counter` with a key prepared for this algorithm.
    pub fn generate_prepared(&self, key: &PreparedKey, counter: u64) -> OneTimeCode {
        let value = reduce(key.truncated(counter), self.digits);
        OneTimeCode::from_number(value, usize::from(self.digits))
    }

    /// Checks `code` against counters `next` to `next + look_ahead`. On a match,
    /// store `step + 1` as the next expected counter; `drift` is `step - next`.
    pub fn verify(
        &self,
        secret: &Secret,
        code: &OneTimeCode,
        next: u64,
    ) -> Result<Option<AppMatch>, VerifyError> {
        self.verify_prepared(
            &PreparedKey::new(self.algorithm, secret.expose_bytes()),
            code,
            next,
        )
    }

    /// [`Hotp::verify`] with a key prepared once (per verification or per enrollment).
    pub fn verify_prepared(
        &self,
        key: &PreparedKey,
        code: &OneTimeCode,
        next: u64,
    ) -> Result<Option<AppMatch>, VerifyError> {
        self.check(key, code)?;
        // Farthest first: the last match wins, so the nearest counter is taken.
        let candidates =
            (0..=u64::from(self.look_ahead))
                .rev()
                .map(|k| match next.checked_add(k) {
                    Some(c) => (c, k as i64, true),
                    None => (0, 0, false),
                });
        Ok(scan(key, self.digits, code_value(code), candidates))
    }

    /// Resynchronises a counter that drifted past the look-ahead: finds `c` in
    /// `next ..= next + resync_window` where `first` is the code of `c` and `second`
    /// the code of `c + 1`. Returns the match of `second` (store `step + 1`).
    /// Every counter in the window is computed and compared.
    pub fn resync(
        &self,
        secret: &Secret,
        first: &OneTimeCode,
        second: &OneTimeCode,
        next: u64,
    ) -> Result<Option<AppMatch>, VerifyError> {
        let key = PreparedKey::new(self.algorithm, secret.expose_bytes());
        self.check(&key, first)?;
        self.check(&key, second)?;
        let (a, b) = (code_value(first), code_value(second));
        let mut previous_matches_first = Choice::from(0);
        let mut found = Choice::from(0);
        let mut step = 0u64;
        for k in 0..=u64::from(self.resync_window) + 1 {
            let Some(counter) = next.checked_add(k) else {
                break;
            };
            let value = reduce(key.truncated(counter), self.digits);
            let take = previous_matches_first & value.ct_eq(&b) & !found;
            step.conditional_assign(&counter, take);
            found |= take;
            previous_matches_first = value.ct_eq(&a);
        }
        Ok(bool::from(found).then(|| AppMatch {
            step,
            drift: step.wrapping_sub(next) as i64,
        }))
    }

    /// The `otpauth://hotp/` URI for `secret`, `issuer` and `account`, starting at `counter`.
    pub fn key_uri(&self, secret: Secret, issuer: &str, account: &str, counter: u64) -> KeyUri {
        KeyUri {
            kind: OtpKind::Hotp { counter },
            issuer: (!issuer.is_empty()).then(|| issuer.to_owned()),
            account: account.to_owned(),
            secret,
            algorithm: self.algorithm,
            digits: self.digits,
            image: None,
        }
    }

    fn check(&self, key: &PreparedKey, code: &OneTimeCode) -> Result<(), VerifyError> {
        if key.algorithm() != self.algorithm {
            return Err(VerifyError::KeyAlgorithm);
        }
        if code.len() != usize::from(self.digits) {
            return Err(VerifyError::CodeLength {
                expected: usize::from(self.digits),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rfc_secret() -> Secret {
        Secret::from_bytes(b"12345678901234567890".to_vec()).unwrap()
    }

    #[test]
    fn look_ahead_finds_skipped_counters_and_reports_drift() {
        let hotp = Hotp::default();
        let s = rfc_secret();
        for ahead in 0..=10u64 {
            let code = hotp.generate(&s, 100 + ahead);
            let m = hotp.verify(&s, &code, 100).unwrap().unwrap();
            assert_eq!((m.step, m.drift), (100 + ahead, ahead as i64));
        }
        // Past the look-ahead, and behind the expected counter (a used code): rejected.
        assert_eq!(hotp.verify(&s, &hotp.generate(&s, 111), 100).unwrap(), None);
        assert_eq!(hotp.verify(&s, &hotp.generate(&s, 99), 100).unwrap(), None);
        let strict = Hotp::default().with_look_ahead(0).unwrap();
        assert_eq!(
            strict.verify(&s, &hotp.generate(&s, 101), 100).unwrap(),
            None
        );
    }

    #[test]
    fn look_ahead_and_resync_compute_every_counter() {
        let hotp = Hotp::default();
        let s = rfc_secret();
        let key = PreparedKey::new(Algorithm::Sha1, s.expose_bytes());
        let count = |f: &dyn Fn()| {
            let before = crate::keyed::HMACS_COMPUTED.with(|n| n.get());
            f();
            crate::keyed::HMACS_COMPUTED.with(|n| n.get()) - before
        };
        for ahead in [0u64, 5, 10, 20] {
            let code = hotp.generate_prepared(&key, 100 + ahead);
            assert_eq!(count(&|| drop(hotp.verify_prepared(&key, &code, 100))), 11);
        }
        let (a, b) = (hotp.generate(&s, 103), hotp.generate(&s, 104));
        assert_eq!(count(&|| drop(hotp.resync(&s, &a, &b, 100))), 1002);
    }

    #[test]
    fn resync_needs_two_consecutive_codes() {
        let hotp = Hotp::default();
        let s = rfc_secret();
        let (c1, c2) = (hotp.generate(&s, 600), hotp.generate(&s, 601));
        let m = hotp.resync(&s, &c1, &c2, 10).unwrap().unwrap();
        assert_eq!((m.step, m.drift), (601, 591));
        // Out of order, not consecutive, or beyond the window: refused.
        assert_eq!(hotp.resync(&s, &c2, &c1, 10).unwrap(), None);
        assert_eq!(
            hotp.resync(&s, &c1, &hotp.generate(&s, 602), 10).unwrap(),
            None
        );
        let far = (hotp.generate(&s, 2000), hotp.generate(&s, 2001));
        assert_eq!(hotp.resync(&s, &far.0, &far.1, 10).unwrap(), None);
        // The window's last pair is still found.
        let edge = (hotp.generate(&s, 1010), hotp.generate(&s, 1011));
        assert_eq!(
            hotp.resync(&s, &edge.0, &edge.1, 10).unwrap().unwrap().step,
            1011
        );
    }

    #[test]
    fn digits_up_to_ten_are_allowed() {
        let s = rfc_secret();
        for digits in 6..=10u8 {
            let hotp = Hotp::new(Algorithm::Sha1, digits).unwrap();
            let code = hotp.generate(&s, 5);
            assert_eq!(code.len(), usize::from(digits));
            assert!(hotp.verify(&s, &code, 5).unwrap().is_some());
        }
        // RFC 4226 appendix D: counter 0 truncates to 1284755224.
        let ten = Hotp::new(Algorithm::Sha1, 10).unwrap();
        assert_eq!(ten.generate(&s, 0).expose(), "1284755224");
        assert!(Hotp::new(Algorithm::Sha1, 5).is_err());
        assert!(Hotp::new(Algorithm::Sha1, 11).is_err());
    }

    #[test]
    fn wrong_length_is_a_typed_error() {
        let hotp = Hotp::default();
        let code = OneTimeCode::parse("1234567").unwrap();
        assert_eq!(
            hotp.verify(&rfc_secret(), &code, 0),
            Err(VerifyError::CodeLength { expected: 6 })
        );
    }

    #[test]
    fn counters_near_the_end_do_not_wrap() {
        let hotp = Hotp::default();
        let s = rfc_secret();
        let code = hotp.generate(&s, 0);
        assert_eq!(hotp.verify(&s, &code, u64::MAX - 3).unwrap(), None);
        let last = hotp.generate(&s, u64::MAX);
        assert_eq!(
            hotp.verify(&s, &last, u64::MAX - 3).unwrap().unwrap().step,
            u64::MAX
        );
    }
}
