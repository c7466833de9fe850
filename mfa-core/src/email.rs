//! Email as a restricted channel: the address type, the request an email backend
//! renders, and the [`EmailDelivery`] trait backends (such as `mfa-email`) implement.
//!
//! NIST SP 800-63B §5.1.3.1 does not accept email for out-of-band codes: a mailbox is
//! guarded by a password, not a device the user holds. So the channel is off unless
//! [`Policy::allow_email`](crate::Policy::allow_email) turns it on; when on, it gets the
//! same lifetime, attempt, lockout and send limits as SMS.
//!
//! An email send is not a [`DeliveryRequest`](crate::DeliveryRequest): that one is shaped
//! for phones (number, extension, call confirmation, cost notice), and an email has none
//! of those. A trait of its own also keeps an SMS backend from being wired as email.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::code::OneTimeCode;
use crate::delivery::{DeliveryError, Purpose, Receipt};
use crate::error::InputError;
use crate::method::ChallengeId;
use crate::user::UserId;

/// The longest address accepted: RFC 5321 §4.5.3.1.3 limits a path to 256 octets,
/// two of which are the angle brackets.
pub const MAX_EMAIL_LEN: usize = 254;
/// The longest local part (before the `@`), RFC 5321 §4.5.3.1.1.
pub const MAX_LOCAL_PART_LEN: usize = 64;

/// An email address a code may be sent to.
///
/// Accepted: a dot-atom local part (RFC 5322 §3.2.3, ASCII, no quoting) of 1 to 64
/// bytes, `@`, and a host name of at least two labels of letters, digits and inner
/// hyphens. The domain is lower-cased (the local part is kept as typed: RFC 5321 lets
/// servers tell case apart there). Quoted local parts, address literals and non-ASCII
/// addresses are refused with a typed error; give an IDN domain in its `xn--` form.
/// `Debug` and [`EmailAddress::masked`] show only the first letter and the domain.
///
/// ```
/// use mfa_core::EmailAddress;
///
/// let a = EmailAddress::parse(" Kari.Nordmann@Example.NO ").unwrap();
/// assert_eq!(a.as_str(), "Kari.Nordmann@example.no");
/// assert_eq!(a.masked(), "K•••@example.no");
/// assert!(!format!("{a:?}").contains("Nordmann"));
/// assert!(EmailAddress::parse("no-at-sign").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress(String);

impl EmailAddress {
    /// Parses and checks an address; surrounding white space is ignored.
    pub fn parse(input: &str) -> Result<Self, InputError> {
        // Checked before trimming too, so a huge input costs nothing more.
        if input.len() > 4 * MAX_EMAIL_LEN {
            return Err(InputError::InvalidEmailAddress("too long"));
        }
        let input = input.trim();
        if input.is_empty() {
            return Err(InputError::InvalidEmailAddress("empty"));
        }
        if input.len() > MAX_EMAIL_LEN {
            return Err(InputError::InvalidEmailAddress("too long"));
        }
        if !input.is_ascii() {
            return Err(InputError::InvalidEmailAddress(
                "only ASCII addresses are accepted (write an IDN domain as xn--)",
            ));
        }
        let Some((local, domain)) = input.rsplit_once('@') else {
            return Err(InputError::InvalidEmailAddress("no @"));
        };
        check_local_part(local)?;
        let domain = domain.to_ascii_lowercase();
        check_domain(&domain)?;
        Ok(EmailAddress(format!("{local}@{domain}")))
    }

    /// The address as it is sent to.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part after the `@`, lower-case.
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map_or("", |(_, d)| d)
    }

    /// The address for the user to recognise, its local part hidden but for the first
    /// character ("we sent a code to k•••@example.no").
    pub fn masked(&self) -> String {
        let first = self.0.chars().next().unwrap_or('?');
        format!("{first}•••@{}", self.domain())
    }

    /// The form send limits are counted under: all lower-case, so writing the same
    /// mailbox in other letters does not open a new window.
    pub fn limit_subject(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

fn check_local_part(local: &str) -> Result<(), InputError> {
    if local.is_empty() {
        return Err(InputError::InvalidEmailAddress("nothing before the @"));
    }
    if local.len() > MAX_LOCAL_PART_LEN {
        return Err(InputError::InvalidEmailAddress(
            "the part before the @ is longer than 64 bytes",
        ));
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err(InputError::InvalidEmailAddress(
            "dots must stand between other characters",
        ));
    }
    // RFC 5322 atext, and the dots between atoms.
    let atext = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~.".contains(&b);
    if !local.bytes().all(atext) {
        return Err(InputError::InvalidEmailAddress(
            "the part before the @ holds a character that needs quoting",
        ));
    }
    Ok(())
}

fn check_domain(domain: &str) -> Result<(), InputError> {
    if domain.is_empty() {
        return Err(InputError::InvalidEmailAddress("nothing after the @"));
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return Err(InputError::InvalidEmailAddress(
            "the domain needs at least one dot",
        ));
    }
    for label in &labels {
        let bytes = label.as_bytes();
        let ok = (1..=63).contains(&bytes.len())
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
            && bytes.first() != Some(&b'-')
            && bytes.last() != Some(&b'-');
        if !ok {
            return Err(InputError::InvalidEmailAddress(
                "each part of the domain is 1 to 63 letters, digits or inner hyphens",
            ));
        }
    }
    // A top-level domain is never all digits: that would be an IPv4 address.
    if labels
        .last()
        .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(InputError::InvalidEmailAddress(
            "the domain is a host name, not an address",
        ));
    }
    Ok(())
}

impl std::str::FromStr for EmailAddress {
    type Err = InputError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EmailAddress::parse(s)
    }
}

impl fmt::Debug for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("EmailAddress").field(&self.masked()).finish()
    }
}

impl fmt::Display for EmailAddress {
    /// The masked form: an address shown in a message or log never shows in full.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// One email with a code to deliver. The backend renders subject and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailRequest {
    /// The challenge it belongs to.
    pub challenge_id: ChallengeId,
    /// Who it is for.
    pub user: UserId,
    /// Where it goes.
    pub to: EmailAddress,
    /// The code to type.
    pub code: OneTimeCode,
    /// Enrollment or sign-in.
    pub purpose: Purpose,
    /// How long the code lives.
    pub expires_in: Duration,
    /// The locale to render in (`en`, `nb`).
    pub locale: String,
    /// The application's name.
    pub app_name: String,
    /// Whether it replaces an earlier code ("Cancel, then Next").
    pub resend: bool,
}

/// Sends code emails. One required method; object-safe, used as `Arc<dyn EmailDelivery>`.
#[async_trait]
pub trait EmailDelivery: Send + Sync + fmt::Debug {
    /// Delivers one email and returns the server's receipt (its queue id, if it gave one).
    async fn send(&self, request: &EmailRequest) -> Result<Receipt, DeliveryError>;
}

#[async_trait]
impl<T: EmailDelivery + ?Sized> EmailDelivery for Arc<T> {
    async fn send(&self, request: &EmailRequest) -> Result<Receipt, DeliveryError> {
        (**self).send(request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_checked_and_the_domain_lower_cased() {
        let a = EmailAddress::parse("o'Brien+mfa@Mail.Example.COM").unwrap();
        assert_eq!(a.as_str(), "o'Brien+mfa@mail.example.com");
        assert_eq!(a.domain(), "mail.example.com");
        assert_eq!(a.limit_subject(), "o'brien+mfa@mail.example.com");
        let long_local = format!("{}@example.com", "a".repeat(64));
        EmailAddress::parse(&long_local).unwrap();
    }

    #[test]
    fn malformed_addresses_get_typed_errors() {
        let too_long_local = format!("{}@example.com", "a".repeat(65));
        let too_long = format!("a@{}.com", "b.".repeat(130));
        let huge = "a".repeat(1 << 20);
        for bad in [
            "",
            "   ",
            "plain",
            "@example.com",
            "kari@",
            "kari@localhost",
            "kari@@example.com",
            ".kari@example.com",
            "kari.@example.com",
            "ka..ri@example.com",
            "ka ri@example.com",
            "\"kari\"@example.com",
            "kari@-example.com",
            "kari@example-.com",
            "kari@exa_mple.com",
            "kari@example..com",
            "kari@192.168.0.1",
            "kari@[192.168.0.1]",
            "kåri@example.no",
            "kari@exämple.no",
            "kari@example.com\r\nBcc: x@example.com",
            "kari\0@example.com",
            &too_long_local,
            &too_long,
            &huge,
        ] {
            assert!(
                matches!(
                    EmailAddress::parse(bad),
                    Err(InputError::InvalidEmailAddress(_))
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn debug_and_display_mask_the_local_part() {
        let a = EmailAddress::parse("kari.nordmann@example.no").unwrap();
        for shown in [format!("{a:?}"), a.to_string(), a.masked()] {
            assert!(!shown.contains("nordmann"), "{shown}");
            assert!(shown.contains("example.no"), "{shown}");
        }
    }
}
