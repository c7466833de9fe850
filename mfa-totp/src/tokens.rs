//! The verifier of OATH hardware tokens: each token's credential carries its own
//! settings ([`crate::TokenSeed::parameters`]), TOTP or HOTP.

use mfa_core::{
    AppCredential, AppMatch, AppProvisioning, AppVerifier, InputError, OneTimeCode, Randomness,
    Timestamp,
};

use crate::error::ConfigError;
use crate::{Algorithm, Hotp, PreparedKey, Secret, Totp};

/// Checks codes of imported OATH hardware tokens (`MfaBuilder::hardware_tokens`).
///
/// TOTP tokens are checked with a window of steps each way (default one) around
/// the token's own clock: a token whose clock drifted past the window is
/// resynchronised by two consecutive codes within a wider window (default
/// [`DEFAULT_TOTP_RESYNC_WINDOW`] steps each way), and the drift found is kept on
/// the method and applied to later codes. HOTP tokens are checked from the counter
/// after the last accepted one, with a look-ahead (default 10) for presses away
/// from a sign-in, and resynchronised by two consecutive codes within a wider
/// window (default 1000).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OathTokens {
    past: u32,
    future: u32,
    look_ahead: u32,
    resync_window: u32,
    totp_resync_window: u32,
}

/// How many TOTP steps each way a resynchronisation searches by default: 240, four
/// hours at 30 s (a token left in a drawer for years drifts by minutes, a token
/// whose battery sagged by more).
pub const DEFAULT_TOTP_RESYNC_WINDOW: u32 = 240;

impl Default for OathTokens {
    fn default() -> Self {
        OathTokens {
            past: 1,
            future: 1,
            look_ahead: crate::DEFAULT_LOOK_AHEAD,
            resync_window: crate::DEFAULT_RESYNC_WINDOW,
            totp_resync_window: DEFAULT_TOTP_RESYNC_WINDOW,
        }
    }
}

/// A token's settings, read back from its credential.
enum Settings {
    Totp(Totp),
    Hotp { hotp: Hotp, counter: u64 },
}

impl OathTokens {
    /// TOTP steps accepted before and after the current one.
    pub fn with_totp_window(mut self, past: u32, future: u32) -> Result<Self, ConfigError> {
        Totp::default().with_window(past, future)?;
        self.past = past;
        self.future = future;
        Ok(self)
    }

    /// HOTP counters checked past the expected one, and the resynchronisation window.
    pub fn with_hotp_windows(mut self, look_ahead: u32, resync: u32) -> Result<Self, ConfigError> {
        Hotp::default()
            .with_look_ahead(look_ahead)?
            .with_resync_window(resync)?;
        self.look_ahead = look_ahead;
        self.resync_window = resync;
        Ok(self)
    }

    /// How many TOTP steps each way a resynchronisation searches (at most
    /// [`crate::MAX_HOTP_WINDOW`] / 2).
    pub fn with_totp_resync_window(mut self, steps: u32) -> Result<Self, ConfigError> {
        Hotp::default().with_resync_window(steps.saturating_mul(2))?;
        self.totp_resync_window = steps;
        Ok(self)
    }

    fn settings(&self, parameters: &str) -> Result<Settings, ConfigError> {
        let mut parts = parameters.split(':');
        let (Some(kind), Some(a), Some(d), Some(n), None) = (
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
        let number = n.parse::<u64>().map_err(|_| ConfigError::Parameters)?;
        match kind {
            "TOTP" => Ok(Settings::Totp(
                Totp::new(algorithm, digits, number)?.with_window(self.past, self.future)?,
            )),
            "HOTP" => Ok(Settings::Hotp {
                hotp: Hotp::new(algorithm, digits)?
                    .with_look_ahead(self.look_ahead)?
                    .with_resync_window(self.resync_window)?,
                counter: number,
            }),
            _ => Err(ConfigError::Parameters),
        }
    }
}

/// The HOTP counter the next code is for: after the last accepted one, or the
/// token's starting counter.
fn next_counter(start: u64, after_step: Option<u64>) -> u64 {
    after_step.map_or(start, |s| s.saturating_add(1).max(start))
}

impl AppVerifier for OathTokens {
    /// Hardware tokens come with their secrets: they are imported from the seed
    /// file, never provisioned.
    fn provision(
        &self,
        _issuer: &str,
        _account: &str,
        _rng: &dyn Randomness,
    ) -> Result<AppProvisioning, InputError> {
        Err(InputError::InvalidSetting(
            "hardware tokens are imported from their seed file, not provisioned",
        ))
    }

    fn verify(
        &self,
        credential: &AppCredential,
        code: &OneTimeCode,
        now: Timestamp,
        after_step: Option<u64>,
    ) -> Result<Option<AppMatch>, InputError> {
        let secret = credential.secret.expose();
        match self.settings(&credential.parameters)? {
            Settings::Totp(totp) => {
                let key = PreparedKey::new(totp.algorithm(), secret);
                Ok(totp.verify_prepared(&key, code, now, after_step)?)
            }
            Settings::Hotp { hotp, counter } => {
                let key = PreparedKey::new(hotp.algorithm(), secret);
                Ok(hotp.verify_prepared(&key, code, next_counter(counter, after_step))?)
            }
        }
    }

    fn resync(
        &self,
        credential: &AppCredential,
        first: &OneTimeCode,
        second: &OneTimeCode,
        after_step: Option<u64>,
    ) -> Result<Option<AppMatch>, InputError> {
        match self.settings(&credential.parameters)? {
            Settings::Totp(_) => Err(InputError::InvalidSetting(
                "TOTP tokens are resynchronised at a time (AppVerifier::resync_at)",
            )),
            Settings::Hotp { hotp, counter } => {
                let secret = Secret::from_secret_bytes(&credential.secret)?;
                Ok(hotp.resync(&secret, first, second, next_counter(counter, after_step))?)
            }
        }
    }

    /// For TOTP: two consecutive codes in the steps within the resynchronisation
    /// window of `now` (after `after_step`); the match's drift is its step less the
    /// current one. A TOTP code of step `s` is the HOTP code of counter `s` (RFC
    /// 6238, 4.2), so the HOTP search does the constant-time scan.
    fn resync_at(
        &self,
        credential: &AppCredential,
        first: &OneTimeCode,
        second: &OneTimeCode,
        now: Timestamp,
        after_step: Option<u64>,
    ) -> Result<Option<AppMatch>, InputError> {
        let Settings::Totp(totp) = self.settings(&credential.parameters)? else {
            return self.resync(credential, first, second, after_step);
        };
        let current = totp.step_at(now)?;
        let window = u64::from(self.totp_resync_window);
        let start = current
            .saturating_sub(window)
            .max(after_step.map_or(0, |s| s.saturating_add(1)));
        let end = current.saturating_add(window);
        if start >= end {
            return Ok(None);
        }
        let span = u32::try_from(end - start).map_err(|_| ConfigError::Parameters)?;
        let search = Hotp::new(totp.algorithm(), totp.digits())?.with_resync_window(span)?;
        let secret = Secret::from_secret_bytes(&credential.secret)?;
        Ok(search
            .resync(&secret, first, second, start)?
            .map(|m| AppMatch {
                step: m.step,
                drift: m.step as i64 - current as i64,
            }))
    }

    /// TOTP tokens keep theirs; HOTP tokens move their counter instead.
    fn keeps_drift(&self, credential: &AppCredential) -> bool {
        matches!(self.settings(&credential.parameters), Ok(Settings::Totp(_)))
    }

    /// For TOTP: the window around `now` moved by `drift` steps.
    fn verify_drifted(
        &self,
        credential: &AppCredential,
        code: &OneTimeCode,
        now: Timestamp,
        after_step: Option<u64>,
        drift: i64,
    ) -> Result<Option<AppMatch>, InputError> {
        let Settings::Totp(totp) = self.settings(&credential.parameters)? else {
            return self.verify(credential, code, now, after_step);
        };
        let shift =
            std::time::Duration::from_secs(drift.unsigned_abs().saturating_mul(totp.period()));
        let at = if drift >= 0 { now + shift } else { now - shift };
        self.verify(credential, code, at, after_step)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credential(parameters: &str) -> AppCredential {
        AppCredential {
            secret: mfa_core::SecretBytes::new(b"12345678901234567890".to_vec()),
            parameters: parameters.to_owned(),
        }
    }

    #[test]
    fn hotp_tokens_count_from_their_start_and_after_the_last_code() {
        let tokens = OathTokens::default();
        let hotp = credential("HOTP:SHA1:6:5");
        let secret = Secret::from_bytes(b"12345678901234567890".to_vec()).unwrap();
        let at = |c| Hotp::default().generate(&secret, c);
        let now = Timestamp::from_unix_secs(0);
        // RFC 4226 appendix D: counter 5 is 254676.
        assert_eq!(at(5).expose(), "254676");
        let m = tokens.verify(&hotp, &at(5), now, None).unwrap().unwrap();
        assert_eq!((m.step, m.drift), (5, 0));
        assert_eq!(tokens.verify(&hotp, &at(4), now, None).unwrap(), None);
        assert_eq!(tokens.verify(&hotp, &at(5), now, Some(5)).unwrap(), None);
        let m = tokens.verify(&hotp, &at(9), now, Some(5)).unwrap().unwrap();
        assert_eq!((m.step, m.drift), (9, 3));
        // Past the look-ahead: only two consecutive codes find it.
        assert_eq!(tokens.verify(&hotp, &at(40), now, Some(9)).unwrap(), None);
        let m = tokens
            .resync(&hotp, &at(40), &at(41), Some(9))
            .unwrap()
            .unwrap();
        assert_eq!(m.step, 41);
        assert_eq!(
            tokens.resync(&hotp, &at(40), &at(42), Some(9)).unwrap(),
            None
        );
    }

    #[test]
    fn drifted_totp_tokens_are_found_in_the_wider_window_and_checked_where_their_clock_is() {
        let tokens = OathTokens::default().with_totp_resync_window(20).unwrap();
        let totp_credential = credential("TOTP:SHA1:6:30");
        let secret = Secret::from_bytes(b"12345678901234567890".to_vec()).unwrap();
        let totp = Totp::default();
        let now = Timestamp::from_unix_secs(1_000_020);
        let current = totp.step_at(now).unwrap();
        let at = |step: u64| totp.generate_at_step(&secret, step);
        // 15 steps behind: found, with its drift; the pair's second step is the match.
        let m = tokens
            .resync_at(
                &totp_credential,
                &at(current - 16),
                &at(current - 15),
                now,
                None,
            )
            .unwrap()
            .unwrap();
        assert_eq!((m.step, m.drift), (current - 15, -15));
        // Only steps after the last accepted one; not past the window.
        assert_eq!(
            tokens
                .resync_at(
                    &totp_credential,
                    &at(current - 16),
                    &at(current - 15),
                    now,
                    Some(current - 15)
                )
                .unwrap(),
            None
        );
        assert_eq!(
            tokens
                .resync_at(
                    &totp_credential,
                    &at(current + 25),
                    &at(current + 26),
                    now,
                    None
                )
                .unwrap(),
            None
        );
        // With the drift kept, the token's code of its own time passes; without, not.
        let code = at(current + 12);
        assert!(
            tokens
                .verify(&totp_credential, &code, now, None)
                .unwrap()
                .is_none()
        );
        let m = tokens
            .verify_drifted(&totp_credential, &code, now, None, 12)
            .unwrap()
            .unwrap();
        assert_eq!(m.step, current + 12);
        assert!(
            tokens
                .verify_drifted(&totp_credential, &at(current - 7), now, None, -7)
                .unwrap()
                .is_some()
        );
        assert!(
            OathTokens::default()
                .with_totp_resync_window(u32::MAX)
                .is_err()
        );
        // HOTP tokens ignore a drift: their counter moved instead.
        let hotp = credential("HOTP:SHA1:6:0");
        let first = Hotp::default().generate(&secret, 0);
        assert!(
            tokens
                .verify_drifted(&hotp, &first, now, None, 40)
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn totp_tokens_use_their_own_settings_and_bad_settings_are_errors() {
        let tokens = OathTokens::default();
        let totp = credential("TOTP:SHA1:8:30");
        let secret = Secret::from_bytes(b"12345678901234567890".to_vec()).unwrap();
        let now = Timestamp::from_unix_secs(59);
        // RFC 6238 appendix B: 94287082 at 59 s.
        let code = OneTimeCode::parse("94287082").unwrap();
        assert!(tokens.verify(&totp, &code, now, None).unwrap().is_some());
        assert!(tokens.resync(&totp, &code, &code, None).is_err());
        for bad in [
            "",
            "TOTP:SHA1:6",
            "MOTP:SHA1:6:30",
            "TOTP:MD5:6:30",
            "HOTP:SHA1:x:0",
        ] {
            assert!(
                tokens.verify(&credential(bad), &code, now, None).is_err(),
                "{bad}"
            );
        }
        let _ = secret;
        assert!(tokens.provision("x", "y", &mfa_core::OsRandomness).is_err());
    }
}
