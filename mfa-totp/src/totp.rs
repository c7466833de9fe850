//! RFC 6238 TOTP: time-step codes, the verification window, and the authenticator-app
//! method of `mfa-core`.

use std::fmt::Write as _;

use mfa_core::{
    AppCredential, AppMatch, AppProvisioning, AppVerifier, InputError, OneTimeCode, Randomness,
    Timestamp,
};

use crate::error::{ConfigError, VerifyError};
use crate::hotp::{MIN_DIGITS, code_value, reduce, scan};
use crate::secret::{DEFAULT_SECRET_BITS, check_generated_bits};
use crate::uri::{KeyUri, OtpKind};
use crate::{Algorithm, HMAC_BATCH, PreparedKey, Secret};

/// The most digits a TOTP code may have (what `otpauth://` URIs and apps allow).
pub const MAX_TOTP_DIGITS: u8 = 8;
/// The longest period accepted: one day.
pub const MAX_PERIOD_SECS: u64 = 86_400;
/// The most steps accepted on either side of the current one.
pub const MAX_TOTP_WINDOW: u32 = 100;

/// TOTP settings and the window codes are checked in.
///
/// The algorithm, digits, period and T0 belong to a credential and travel with it
/// (in its parameters text, such as `SHA1:6:30:0`); the window and secret size are
/// this verifier's policy. Defaults: SHA-1, 6 digits, 30 s, T0 = 0, one step of
/// tolerance each way, 160-bit secrets.
///
/// ```
/// use mfa_core::Timestamp;
/// use mfa_totp::{Secret, Totp};
///
/// let secret = Secret::from_bytes(b"12345678901234567890".to_vec()).unwrap();
/// let totp = Totp::default();
/// let now = Timestamp::from_unix_secs(59);
/// let code = totp.generate(&secret, now).unwrap();
/// assert_eq!(code.expose(), "287082"); // RFC 6238 appendix B, last 6 digits
/// // A code from the previous step is still accepted (drift -1).
/// let later = Timestamp::from_unix_secs(89);
/// let m = totp.verify(&secret, &code, later, None).unwrap().unwrap();
/// assert_eq!((m.step, m.drift), (1, -1));
/// // Not once that step was used.
/// assert_eq!(totp.verify(&secret, &code, later, Some(1)).unwrap(), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totp {
    algorithm: Algorithm,
    digits: u8,
    period: u64,
    t0: u64,
    past: u32,
    future: u32,
    secret_bits: usize,
}

impl Default for Totp {
    fn default() -> Self {
        Totp {
            algorithm: Algorithm::Sha1,
            digits: 6,
            period: 30,
            t0: 0,
            past: 1,
            future: 1,
            secret_bits: DEFAULT_SECRET_BITS,
        }
    }
}

impl Totp {
    /// TOTP with `algorithm`, 6 to 8 `digits` and a period of `period_secs` (at least 1).
    pub fn new(algorithm: Algorithm, digits: u8, period_secs: u64) -> Result<Self, ConfigError> {
        if !(MIN_DIGITS..=MAX_TOTP_DIGITS).contains(&digits) {
            return Err(ConfigError::Digits {
                min: MIN_DIGITS,
                max: MAX_TOTP_DIGITS,
            });
        }
        if !(1..=MAX_PERIOD_SECS).contains(&period_secs) {
            return Err(ConfigError::Period);
        }
        Ok(Totp {
            algorithm,
            digits,
            period: period_secs,
            ..Totp::default()
        })
    }

    /// Counts steps from `t0_secs` (Unix seconds) instead of the epoch.
    pub fn with_t0(mut self, t0_secs: u64) -> Self {
        self.t0 = t0_secs;
        self
    }

    /// Accepts codes up to `past` steps behind and `future` steps ahead (default 1 and 1).
    pub fn with_window(mut self, past: u32, future: u32) -> Result<Self, ConfigError> {
        if past > MAX_TOTP_WINDOW || future > MAX_TOTP_WINDOW {
            return Err(ConfigError::Window {
                max: MAX_TOTP_WINDOW,
            });
        }
        self.past = past;
        self.future = future;
        Ok(self)
    }

    /// The size of secrets [`AppVerifier::provision`] generates (at least 128 bits).
    pub fn with_secret_bits(mut self, bits: usize) -> Result<Self, ConfigError> {
        check_generated_bits(bits)?;
        self.secret_bits = bits;
        Ok(self)
    }

    /// Reads the parameters text of a stored credential (`ALGORITHM:DIGITS:PERIOD:T0`),
    /// keeping this verifier's window and secret size.
    pub fn with_parameters(self, text: &str) -> Result<Self, ConfigError> {
        let mut parts = text.split(':');
        let (Some(a), Some(d), Some(p), Some(t), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(ConfigError::Parameters);
        };
        let algorithm: Algorithm = a.parse()?;
        let digits = d.parse::<u8>().map_err(|_| ConfigError::Parameters)?;
        let period = p.parse::<u64>().map_err(|_| ConfigError::Parameters)?;
        let t0 = t.parse::<u64>().map_err(|_| ConfigError::Parameters)?;
        Ok(Totp {
            past: self.past,
            future: self.future,
            secret_bits: self.secret_bits,
            ..Totp::new(algorithm, digits, period)?.with_t0(t0)
        })
    }

    /// The credential's parameters text, such as `SHA1:6:30:0`.
    pub fn parameters(&self) -> String {
        let mut s = String::with_capacity(24);
        let _ = write!(
            s,
            "{}:{}:{}:{}",
            self.algorithm, self.digits, self.period, self.t0
        );
        s
    }

    /// The hash.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// Digits per code.
    pub fn digits(&self) -> u8 {
        self.digits
    }

    /// The period in seconds.
    pub fn period(&self) -> u64 {
        self.period
    }

    /// T0 in Unix seconds.
    pub fn t0(&self) -> u64 {
        self.t0
    }

    /// Steps accepted behind and ahead of the current one.
    pub fn window(&self) -> (u32, u32) {
        (self.past, self.future)
    }

    /// The time step at `now`: `floor((now - T0) / period)`.
    pub fn step_at(&self, now: Timestamp) -> Result<u64, VerifyError> {
        let elapsed = now
            .unix_secs()
            .checked_sub(self.t0)
            .ok_or(VerifyError::BeforeStart)?;
        // The usual period as a constant divisor: the compiler multiplies instead.
        Ok(match self.period {
            30 => elapsed / 30,
            period => elapsed / period,
        })
    }

    /// The code shown at `now`.
    pub fn generate(&self, secret: &Secret, now: Timestamp) -> Result<OneTimeCode, VerifyError> {
        Ok(self.generate_at_step(secret, self.step_at(now)?))
    }

    /// The code of time step `step`.
    pub fn generate_at_step(&self, secret: &Secret, step: u64) -> OneTimeCode {
        let key = PreparedKey::new(self.algorithm, secret.expose_bytes());
        let value = reduce(key.truncated(step), self.digits);
        OneTimeCode::from_number(value, usize::from(self.digits))
    }

    /// Checks `code` at `now` against every step in the window; only steps after
    /// `after_step` (the last one accepted) may match. Returns the matched step and
    /// its drift (negative: the app's clock is behind).
    pub fn verify(
        &self,
        secret: &Secret,
        code: &OneTimeCode,
        now: Timestamp,
        after_step: Option<u64>,
    ) -> Result<Option<AppMatch>, VerifyError> {
        self.verify_bytes(secret.expose_bytes(), code, now, after_step)
    }

    fn verify_bytes(
        &self,
        secret: &[u8],
        code: &OneTimeCode,
        now: Timestamp,
        after_step: Option<u64>,
    ) -> Result<Option<AppMatch>, VerifyError> {
        self.verify_prepared(
            &PreparedKey::new(self.algorithm, secret),
            code,
            now,
            after_step,
        )
    }

    /// [`Totp::verify`] with a key prepared once; keep one per enrollment to skip
    /// keying the HMAC on every sign-in.
    pub fn verify_prepared(
        &self,
        key: &PreparedKey,
        code: &OneTimeCode,
        now: Timestamp,
        after_step: Option<u64>,
    ) -> Result<Option<AppMatch>, VerifyError> {
        if key.algorithm() != self.algorithm {
            return Err(VerifyError::KeyAlgorithm);
        }
        if code.len() != usize::from(self.digits) {
            return Err(VerifyError::CodeLength {
                expected: usize::from(self.digits),
            });
        }
        let current = self.step_at(now)?;
        let (past, future) = (u64::from(self.past), u64::from(self.future));
        let eligible = |step: u64| after_step.is_none_or(|a| step > a);
        if past + future < HMAC_BATCH as u64 {
            // A window that fits one batch (±1 does): the candidates in an array, in
            // the order below. Filling it by this loop costs about 20 ns less than
            // gathering the general iterator into it (measured side by side).
            let mut list = [(0u64, 0i64, false); HMAC_BATCH];
            let mut n = 0;
            for k in (0..=past.max(future)).rev() {
                if k <= future {
                    if let Some(s) = current.checked_add(k) {
                        list[n] = (s, k as i64, eligible(s));
                        n += 1;
                    }
                }
                if k > 0 && k <= past {
                    if let Some(s) = current.checked_sub(k) {
                        list[n] = (s, -(k as i64), eligible(s));
                        n += 1;
                    }
                }
            }
            return Ok(scan(
                key,
                self.digits,
                code_value(code),
                list[..n].iter().copied(),
            ));
        }
        // Farthest steps first: the last match wins, so a (rare) code valid at two
        // steps matches the nearer one, and behind wins over ahead at equal distance.
        let candidates = (0..=past.max(future)).rev().flat_map(move |k| {
            let ahead = (k <= future).then(|| current.checked_add(k)).flatten();
            let behind = (k > 0 && k <= past)
                .then(|| current.checked_sub(k))
                .flatten();
            let ahead = ahead.map(|s| (s, k as i64));
            let behind = behind.map(|s| (s, -(k as i64)));
            ahead.into_iter().chain(behind)
        });
        let candidates = candidates.map(|(step, drift)| (step, drift, eligible(step)));
        Ok(scan(key, self.digits, code_value(code), candidates))
    }

    /// The `otpauth://totp/` URI for `secret`, `issuer` and `account`.
    pub fn key_uri(&self, secret: Secret, issuer: &str, account: &str) -> KeyUri {
        KeyUri {
            kind: OtpKind::Totp {
                period: self.period,
            },
            issuer: (!issuer.is_empty()).then(|| issuer.to_owned()),
            account: account.to_owned(),
            secret,
            algorithm: self.algorithm,
            digits: self.digits,
            image: None,
        }
    }
}

impl AppVerifier for Totp {
    /// A fresh secret from `rng` (160 bits unless set otherwise), its URI and the
    /// key to type by hand. The credential's parameters text records this
    /// verifier's algorithm, digits, period and T0.
    fn provision(
        &self,
        issuer: &str,
        account: &str,
        rng: &dyn Randomness,
    ) -> Result<AppProvisioning, InputError> {
        if account.is_empty() {
            return Err(InputError::InvalidSetting(
                "an authenticator account name is needed",
            ));
        }
        if self.t0 != 0 {
            // URIs have no T0: apps would show other codes.
            return Err(InputError::InvalidSetting(
                "authenticator apps only count from T0 = 0",
            ));
        }
        let secret = Secret::generate_bits(rng, self.secret_bits)?;
        let credential = AppCredential {
            secret: secret.to_secret_bytes(),
            parameters: self.parameters(),
        };
        let manual_entry_key = secret.expose_grouped_base32().to_string();
        let uri = self.key_uri(secret, issuer, account).to_uri();
        Ok(AppProvisioning {
            credential,
            uri,
            manual_entry_key,
        })
    }

    /// Checks with the credential's own algorithm, digits, period and T0, and this
    /// verifier's window. Keys the HMAC once; allocates nothing.
    fn verify(
        &self,
        credential: &AppCredential,
        code: &OneTimeCode,
        now: Timestamp,
        after_step: Option<u64>,
    ) -> Result<Option<AppMatch>, InputError> {
        let totp = self.with_parameters(&credential.parameters)?;
        Ok(totp.verify_bytes(credential.secret.expose(), code, now, after_step)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mfa_core::SeededRandomness;

    fn secret() -> Secret {
        Secret::from_bytes(b"12345678901234567890".to_vec()).unwrap()
    }

    fn at(secs: u64) -> Timestamp {
        Timestamp::from_unix_secs(secs)
    }

    #[test]
    fn window_tolerance_is_separate_each_way() {
        let s = secret();
        let totp = Totp::default().with_window(2, 0).unwrap();
        let now = at(1_000_000_000);
        let step = totp.step_at(now).unwrap();
        for (offset, accepted) in [
            (-3i64, false),
            (-2, true),
            (-1, true),
            (0, true),
            (1, false),
        ] {
            let code = totp.generate_at_step(&s, step.wrapping_add_signed(offset));
            let got = totp.verify(&s, &code, now, None).unwrap();
            assert_eq!(got.is_some(), accepted, "offset {offset}");
            if let Some(m) = got {
                assert_eq!(m.drift, offset);
                assert_eq!(m.step, step.wrapping_add_signed(offset));
            }
        }
        let ahead = Totp::default().with_window(0, 2).unwrap();
        let code = ahead.generate_at_step(&s, step + 2);
        assert_eq!(
            ahead.verify(&s, &code, now, None).unwrap().unwrap().drift,
            2
        );
        let code = ahead.generate_at_step(&s, step - 1);
        assert_eq!(ahead.verify(&s, &code, now, None).unwrap(), None);
    }

    #[test]
    fn steps_at_or_before_the_last_accepted_are_rejected() {
        let s = secret();
        let totp = Totp::default();
        let now = at(1_700_000_000);
        let step = totp.step_at(now).unwrap();
        let code = totp.generate_at_step(&s, step);
        assert!(
            totp.verify(&s, &code, now, Some(step - 1))
                .unwrap()
                .is_some()
        );
        assert_eq!(totp.verify(&s, &code, now, Some(step)).unwrap(), None);
        assert_eq!(totp.verify(&s, &code, now, Some(step + 1)).unwrap(), None);
        let next = totp.generate_at_step(&s, step + 1);
        assert_eq!(
            totp.verify(&s, &next, now, Some(step))
                .unwrap()
                .unwrap()
                .drift,
            1
        );
    }

    #[test]
    fn period_and_t0_move_the_steps() {
        let s = secret();
        let totp = Totp::new(Algorithm::Sha256, 8, 60).unwrap().with_t0(1_000);
        assert_eq!(totp.step_at(at(1_000)).unwrap(), 0);
        assert_eq!(totp.step_at(at(1_059)).unwrap(), 0);
        assert_eq!(totp.step_at(at(1_060)).unwrap(), 1);
        assert_eq!(totp.step_at(at(999)), Err(VerifyError::BeforeStart));
        let code = totp.generate(&s, at(1_130)).unwrap();
        assert_eq!(code.len(), 8);
        assert_eq!(
            totp.verify(&s, &code, at(1_130), None)
                .unwrap()
                .unwrap()
                .step,
            2
        );
        let one_second = Totp::new(Algorithm::Sha1, 6, 1).unwrap();
        assert_eq!(one_second.step_at(at(12_345)).unwrap(), 12_345);
        assert!(Totp::new(Algorithm::Sha1, 6, 0).is_err());
        assert!(Totp::new(Algorithm::Sha1, 9, 30).is_err());
        assert!(Totp::default().with_window(101, 1).is_err());
    }

    /// HMACs computed by `f` on this thread.
    pub(crate) fn hmacs<T>(f: impl FnOnce() -> T) -> (T, usize) {
        let before = crate::keyed::HMACS_COMPUTED.with(|n| n.get());
        let out = f();
        (out, crate::keyed::HMACS_COMPUTED.with(|n| n.get()) - before)
    }

    #[test]
    fn a_window_of_one_batch_computes_every_candidate_too() {
        // ±1 takes the array path; a match anywhere, or none, costs the same three.
        let s = secret();
        let totp = Totp::default();
        let key = PreparedKey::new(Algorithm::Sha1, s.expose_bytes());
        let now = at(1_900_000_000);
        let step = totp.step_at(now).unwrap();
        for offset in -2i64..=2 {
            let code = totp.generate_at_step(&s, step.wrapping_add_signed(offset));
            let (result, computed) =
                hmacs(|| totp.verify_prepared(&key, &code, now, None).unwrap());
            assert_eq!(computed, 3, "offset {offset}: {result:?}");
            assert_eq!(
                result.map(|m| m.drift),
                (offset.abs() <= 1).then_some(offset)
            );
        }
    }

    #[test]
    fn every_candidate_is_computed_wherever_the_match_is() {
        let s = secret();
        let totp = Totp::default().with_window(2, 3).unwrap();
        let key = PreparedKey::new(Algorithm::Sha1, s.expose_bytes());
        let now = at(1_900_000_000);
        let step = totp.step_at(now).unwrap();
        let wrong = OneTimeCode::parse("000000").unwrap();
        for offset in -3i64..=4 {
            let code = totp.generate_at_step(&s, step.wrapping_add_signed(offset));
            let code = if (-2..=3).contains(&offset) {
                code
            } else {
                wrong.clone()
            };
            let (result, computed) =
                hmacs(|| totp.verify_prepared(&key, &code, now, None).unwrap());
            assert_eq!(computed, 6, "offset {offset}: {result:?}");
            // Steps already used are computed too, just never matched.
            let (_, computed) = hmacs(|| {
                totp.verify_prepared(&key, &code, now, Some(step + 10))
                    .unwrap()
            });
            assert_eq!(computed, 6);
        }
    }

    proptest::proptest! {
        #[test]
        fn codes_inside_the_window_match_with_their_drift(
            time in 1_000u64..100_000_000_000,
            offset in -4i64..=4,
            past in 0u32..4,
            future in 0u32..4,
            which in 0usize..3,
            digits in 6u8..=8,
            period in 1u64..=120,
        ) {
            let totp = Totp::new(Algorithm::ALL[which], digits, period)
                .unwrap()
                .with_window(past, future)
                .unwrap();
            let s = secret();
            let now = at(time);
            let step = totp.step_at(now).unwrap();
            let code = totp.generate_at_step(&s, step.wrapping_add_signed(offset));
            let got = totp.verify(&s, &code, now, None).unwrap();
            let inside = -(past as i64) <= offset && offset <= future as i64;
            if inside {
                let m = got.unwrap();
                // A different step may share the code (one in 10^digits): then it is nearer.
                proptest::prop_assert!(m.drift == offset || m.drift.abs() <= offset.abs());
            } else if let Some(m) = got {
                // Only a chance collision with a step inside the window.
                proptest::prop_assert!(-(past as i64) <= m.drift && m.drift <= future as i64);
                proptest::prop_assert_eq!(totp.generate_at_step(&s, m.step), code);
            }
        }
    }

    #[test]
    fn the_first_steps_do_not_underflow() {
        let s = secret();
        let totp = Totp::default().with_window(5, 1).unwrap();
        let code = totp.generate_at_step(&s, 0);
        let m = totp.verify(&s, &code, at(10), None).unwrap().unwrap();
        assert_eq!((m.step, m.drift), (0, 0));
    }

    #[test]
    fn parameters_text_round_trips_and_rejects_garbage() {
        let totp = Totp::new(Algorithm::Sha512, 7, 45).unwrap().with_t0(99);
        assert_eq!(totp.parameters(), "SHA512:7:45:99");
        let back = Totp::default().with_parameters("SHA512:7:45:99").unwrap();
        assert_eq!(back, totp);
        for bad in [
            "",
            "SHA1:6:30",
            "SHA1:6:30:0:1",
            "MD5:6:30:0",
            "SHA1:x:30:0",
            "SHA1:6:0:0",
            "SHA1:12:30:0",
        ] {
            assert!(Totp::default().with_parameters(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn provisioning_gives_a_fresh_secret_uri_and_manual_key() {
        let totp = Totp::default();
        let rng = SeededRandomness::new(3);
        let p = totp
            .provision("Contoso", "alice@contoso.com", &rng)
            .unwrap();
        assert_eq!(p.credential.secret.len(), 20);
        assert_eq!(p.credential.parameters, "SHA1:6:30:0");
        let uri = KeyUri::parse(&p.uri).unwrap();
        assert_eq!(uri.issuer.as_deref(), Some("Contoso"));
        assert_eq!(uri.account, "alice@contoso.com");
        assert_eq!(uri.secret.expose_bytes(), p.credential.secret.expose());
        assert_eq!(
            Secret::from_base32(&p.manual_entry_key).unwrap(),
            uri.secret
        );
        let shown = format!("{p:?}");
        assert!(!shown.contains(uri.secret.expose_base32().as_str()));
        assert!(!shown.contains(&p.manual_entry_key));
        let other = totp
            .provision("Contoso", "alice@contoso.com", &rng)
            .unwrap();
        assert_ne!(other.credential.secret, p.credential.secret);
    }

    #[test]
    fn app_verification_uses_the_credential_parameters() {
        let totp = Totp::new(Algorithm::Sha256, 8, 60).unwrap();
        let p = totp
            .provision("Contoso", "bob", &SeededRandomness::new(4))
            .unwrap();
        let secret = Secret::from_secret_bytes(&p.credential.secret).unwrap();
        let now = at(1_800_000_000);
        let code = totp.generate(&secret, now).unwrap();
        // A default verifier (SHA-1, 6 digits) still reads the stored SHA-256/8/60 parameters.
        let verifier = Totp::default();
        let m = AppVerifier::verify(&verifier, &p.credential, &code, now, None)
            .unwrap()
            .unwrap();
        assert_eq!(m.step, 30_000_000);
        assert_eq!(
            AppVerifier::verify(&verifier, &p.credential, &code, now, Some(m.step)).unwrap(),
            None
        );
        let short = OneTimeCode::parse("123456").unwrap();
        assert_eq!(
            AppVerifier::verify(&verifier, &p.credential, &short, now, None),
            Err(InputError::CodeLength { expected: 8 })
        );
    }
}
