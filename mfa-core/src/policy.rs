//! The rules: lifetimes, attempt caps, send limits and countries, with safe defaults
//! drawn from NIST SP 800-63B and Twilio Verify.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::access_pass::AccessPassPolicy;
use crate::error::{InputError, PolicyError};
use crate::method::{Channel, Destination};
use crate::phone::NumberKind;

/// The longest a code may live: NIST SP 800-63B allows no more than 10 minutes.
pub const MAX_CODE_LIFETIME: Duration = Duration::from_secs(10 * 60);
/// NIST SP 800-63B: no more than 100 consecutive failed attempts on one account.
pub const MAX_CONSECUTIVE_FAILURES: u32 = 100;

/// How a call verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum CallConfirmation {
    /// The call asks the user to press `#` (Microsoft's way); the key press approves.
    PressKey,
    /// The call reads a code aloud; the user types it.
    ReadCode,
    /// Number matching: the sign-in page shows two digits ([`crate::Pending::match_number`])
    /// and the call asks the user to key them in instead of a blind `#`; a wrong number
    /// denies the challenge and counts as a failure.
    MatchNumber,
}

/// A count allowed within a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RateLimit {
    /// How many are allowed in one window.
    pub max: u32,
    /// The window.
    pub window: Duration,
}

impl RateLimit {
    /// `max` per `window`.
    pub const fn new(max: u32, window: Duration) -> Self {
        RateLimit { max, window }
    }
}

/// Limits on sends, counted before anything is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SendLimits {
    /// Per phone number (default 5 per 10 minutes).
    pub per_destination: RateLimit,
    /// Per user (default 10 per hour).
    pub per_user: RateLimit,
    /// Per country calling code, against SMS pumping (default 1,000 per hour).
    pub per_country: RateLimit,
    /// Per client address (an IPv4 address or an IPv6 /64), when the application
    /// passes the request ([`Mfa::with_request`](crate::Mfa::with_request)): against
    /// one source pumping SMS through many accounts (default 20 per hour).
    pub per_client: RateLimit,
}

impl Default for SendLimits {
    fn default() -> Self {
        SendLimits {
            per_destination: RateLimit::new(5, Duration::from_secs(600)),
            per_user: RateLimit::new(10, Duration::from_secs(3600)),
            per_country: RateLimit::new(1000, Duration::from_secs(3600)),
            per_client: RateLimit::new(20, Duration::from_secs(3600)),
        }
    }
}

/// Growing delays after consecutive failures of one user, across challenges.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct LockoutPolicy {
    /// Failures allowed before any delay (default 5).
    pub free_failures: u32,
    /// The first delay; it doubles with each further failure (default 30 s).
    pub base_delay: Duration,
    /// The longest delay (default 1 hour).
    pub max_delay: Duration,
    /// At this many consecutive failures the user is locked until reset (default and maximum 100).
    pub hard_limit: u32,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        LockoutPolicy {
            free_failures: 5,
            base_delay: Duration::from_secs(30),
            max_delay: Duration::from_secs(3600),
            hard_limit: MAX_CONSECUTIVE_FAILURES,
        }
    }
}

/// What a user's failure count allows now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lockout {
    /// Attempts are allowed.
    Open,
    /// Wait this long after the last failure.
    Delay(Duration),
    /// Locked until an administrator resets the user.
    Locked,
}

impl LockoutPolicy {
    /// The lockout after `failures` consecutive failures.
    pub fn after(&self, failures: u32) -> Lockout {
        if failures >= self.hard_limit {
            return Lockout::Locked;
        }
        if failures < self.free_failures {
            return Lockout::Open;
        }
        let doublings = (failures - self.free_failures).min(30);
        let delay = self.base_delay.saturating_mul(1u32 << doublings);
        Lockout::Delay(delay.min(self.max_delay))
    }
}

/// Which countries may be texted or called, and which is home.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct CountryPolicy {
    /// Allowed country calling codes; `None` allows every country.
    pub allowed: Option<BTreeSet<u16>>,
    /// The home country calling code: sends elsewhere carry a [`CostNotice`].
    pub home: Option<u16>,
}

impl CountryPolicy {
    /// Only these country calling codes, with the first as home.
    pub fn only(codes: &[u16]) -> Self {
        CountryPolicy {
            allowed: Some(codes.iter().copied().collect()),
            home: codes.first().copied(),
        }
    }
}

/// Told to the user beside a phone method (OWASP ASVS 5.0, 6.6.1): a code by SMS
/// or call can be taken on the way (a SIM swap, a ported number, an intercepted
/// signalling network, a voicemail box with a default PIN), which an authenticator
/// app's code cannot. Shown whenever a phone method is set up or used, not only when
/// it costs money.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RiskNotice {
    /// Whether this service offers the authenticator app, so the notice can point
    /// to it.
    pub app_offered: bool,
}

impl RiskNotice {
    /// The notice as English text.
    pub fn message(&self) -> &'static str {
        if self.app_offered {
            "Codes sent by text message or call can be intercepted, for example by someone \
             who takes over your phone number. The authenticator app is safer."
        } else {
            "Codes sent by text message or call can be intercepted, for example by someone \
             who takes over your phone number."
        }
    }
}

/// Told to the user when a code goes abroad: the operator may charge for it, and the
/// authenticator app avoids that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct CostNotice {
    /// The destination's country calling code.
    pub country_code: u16,
    /// The home country calling code, where messages are free.
    pub home: u16,
}

impl CostNotice {
    /// The notice as English text.
    pub fn message(&self) -> String {
        format!(
            "Codes sent to +{} numbers may be charged by your operator (they are free for +{} numbers). \
             To avoid the charge, use the authenticator app.",
            self.country_code, self.home
        )
    }

    /// Always true: the notice recommends the app.
    pub fn recommends_app(&self) -> bool {
        true
    }
}

/// All the rules the driver applies.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Policy {
    /// Digits in SMS and voice codes (default 6; 4 to 10).
    pub code_digits: usize,
    /// How long a sent code lives (default 5 minutes, never above 10).
    pub code_lifetime: Duration,
    /// Wrong attempts per challenge (default 5).
    pub max_attempts: u32,
    /// Wait before a new code may be asked for (default 30 s).
    pub resend_cooldown: Duration,
    /// Sends per challenge, the first included (default 5).
    pub max_sends: u32,
    /// How long an approved sign-in counts as recent re-authentication for changing
    /// methods (default 10 minutes).
    pub reauthentication_window: Duration,
    /// How calls verify (default: press `#`).
    pub call_confirmation: CallConfirmation,
    /// Recovery codes per set (default 10).
    pub recovery_codes: usize,
    /// Per-user failure lockout.
    pub lockout: LockoutPolicy,
    /// Send limits.
    pub send_limits: SendLimits,
    /// Countries.
    pub countries: CountryPolicy,
    /// The application's name, used in messages ("Your {app} code is ...").
    pub app_name: String,
    /// The default locale for messages (`en`, `nb`).
    pub locale: String,
    /// How long "don't ask again on this device" lasts (default 30 days; zero turns
    /// remembering off; at most a year).
    pub remember_device_for: Duration,
    /// Whether codes may go by email (default: no). NIST SP 800-63B §5.1.3.1 does not
    /// accept email for out-of-band codes; turn it on only where a weaker factor is
    /// acceptable. Email gets the same lifetime, attempt, lockout and send limits as SMS.
    #[cfg_attr(feature = "serde", serde(default))]
    pub allow_email: bool,
    /// Temporary Access Passes: lifetime (at most 8 hours by default), uses, how many at once.
    #[cfg_attr(feature = "serde", serde(default))]
    pub access_pass: AccessPassPolicy,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            code_digits: 6,
            code_lifetime: Duration::from_secs(5 * 60),
            max_attempts: 5,
            resend_cooldown: Duration::from_secs(30),
            max_sends: 5,
            reauthentication_window: Duration::from_secs(10 * 60),
            call_confirmation: CallConfirmation::PressKey,
            recovery_codes: 10,
            lockout: LockoutPolicy::default(),
            send_limits: SendLimits::default(),
            countries: CountryPolicy::default(),
            app_name: "mfa".to_owned(),
            locale: "en".to_owned(),
            remember_device_for: Duration::from_secs(30 * 24 * 3600),
            allow_email: false,
            access_pass: AccessPassPolicy::default(),
        }
    }
}

impl Policy {
    /// Checks every setting is in its safe range.
    pub fn validate(&self) -> Result<(), InputError> {
        // NIST SP 800-63B asks at least 20 bits of a one-time code: 6 digits give 19.9,
        // the most a numeric code of a usual length gets, so fewer are refused.
        if !(6..=10).contains(&self.code_digits) {
            return Err(InputError::InvalidSetting("code_digits must be 6 to 10"));
        }
        if self.code_lifetime.is_zero() || self.code_lifetime > MAX_CODE_LIFETIME {
            return Err(InputError::InvalidSetting(
                "code_lifetime must be above zero and at most 10 minutes",
            ));
        }
        if self.max_attempts == 0 || self.max_attempts > 10 {
            return Err(InputError::InvalidSetting("max_attempts must be 1 to 10"));
        }
        if self.max_sends == 0 {
            return Err(InputError::InvalidSetting("max_sends must be at least 1"));
        }
        if self.lockout.hard_limit == 0 || self.lockout.hard_limit > MAX_CONSECUTIVE_FAILURES {
            return Err(InputError::InvalidSetting(
                "lockout.hard_limit must be 1 to 100",
            ));
        }
        if self.remember_device_for > crate::device::MAX_DEVICE_LIFETIME {
            return Err(InputError::InvalidSetting(
                "remember_device_for must be at most a year",
            ));
        }
        if !(1..=100).contains(&self.recovery_codes) {
            return Err(InputError::InvalidSetting(
                "recovery_codes must be 1 to 100",
            ));
        }
        self.access_pass.validate()?;
        Ok(())
    }

    /// Checks a destination before anything is sent; returns the cost notice, if any.
    pub fn check_destination(
        &self,
        destination: &Destination,
        channel: Channel,
    ) -> Result<Option<CostNotice>, PolicyError> {
        let number = &destination.number;
        match number.kind() {
            NumberKind::PremiumRate => return Err(PolicyError::PremiumRate),
            // Shared-cost, UAN, pager and unknown lines: the cost and who answers are unknown.
            NumberKind::Other => return Err(PolicyError::UnsupportedNumber),
            _ => {}
        }
        if let Some(allowed) = &self.countries.allowed {
            if !allowed.contains(&number.country_code()) {
                return Err(PolicyError::CountryNotAllowed {
                    country_code: number.country_code(),
                });
            }
        }
        if channel == Channel::Sms && !number.kind().can_receive_sms() {
            return Err(PolicyError::NotSmsCapable);
        }
        Ok(self.cost_notice(number.country_code()))
    }

    /// Checks an email destination before anything is stored or sent.
    pub fn check_email(&self) -> Result<(), PolicyError> {
        if self.allow_email {
            Ok(())
        } else {
            Err(PolicyError::EmailNotAllowed)
        }
    }

    /// The cost notice for sends to `country_code`, if it is not home.
    pub fn cost_notice(&self, country_code: u16) -> Option<CostNotice> {
        match self.countries.home {
            Some(home) if home != country_code => Some(CostNotice { country_code, home }),
            _ => None,
        }
    }
}

#[cfg(test)]
#[allow(clippy::field_reassign_with_default)]
mod tests {
    use super::*;
    use crate::phone::PhoneNumber;

    fn dest(n: &str) -> Destination {
        Destination {
            number: PhoneNumber::parse(n).unwrap(),
            extension: None,
        }
    }

    #[test]
    fn defaults_are_safe_and_valid() {
        let p = Policy::default();
        p.validate().unwrap();
        assert_eq!(p.code_digits, 6);
        assert_eq!(p.code_lifetime, Duration::from_secs(300));
        assert_eq!(p.max_attempts, 5);
        assert_eq!(p.lockout.hard_limit, 100);
    }

    #[test]
    fn lifetimes_above_ten_minutes_are_refused() {
        let mut p = Policy::default();
        p.code_lifetime = Duration::from_secs(601);
        assert!(p.validate().is_err());
        p.code_lifetime = Duration::from_secs(600);
        p.validate().unwrap();
        p.lockout.hard_limit = 101;
        assert!(p.validate().is_err());
    }

    #[test]
    fn lockout_grows_and_stops_at_the_hard_limit() {
        let l = LockoutPolicy::default();
        assert_eq!(l.after(4), Lockout::Open);
        assert_eq!(l.after(5), Lockout::Delay(Duration::from_secs(30)));
        assert_eq!(l.after(6), Lockout::Delay(Duration::from_secs(60)));
        assert_eq!(l.after(99), Lockout::Delay(Duration::from_secs(3600)));
        assert_eq!(l.after(100), Lockout::Locked);
    }

    #[test]
    fn countries_outside_the_allow_list_are_refused_and_abroad_gets_a_notice() {
        let mut p = Policy::default();
        p.countries = CountryPolicy::only(&[47, 46]);
        assert_eq!(
            p.check_destination(&dest("+4741234567"), Channel::Sms),
            Ok(None)
        );
        let notice = p
            .check_destination(&dest("+46701234567"), Channel::Sms)
            .unwrap()
            .unwrap();
        assert_eq!(
            notice,
            CostNotice {
                country_code: 46,
                home: 47
            }
        );
        assert!(notice.message().contains("authenticator app"));
        assert_eq!(
            p.check_destination(&dest("+447400123456"), Channel::Sms),
            Err(PolicyError::CountryNotAllowed { country_code: 44 })
        );
    }

    #[test]
    fn premium_and_fixed_line_sms_are_refused() {
        let p = Policy::default();
        assert_eq!(
            p.check_destination(&dest("+449098765432"), Channel::Voice),
            Err(PolicyError::PremiumRate)
        );
        assert_eq!(
            p.check_destination(&dest("+4722123456"), Channel::Sms),
            Err(PolicyError::NotSmsCapable)
        );
        assert_eq!(
            p.check_destination(&dest("+4722123456"), Channel::Voice),
            Ok(None)
        );
    }
}
