//! `Serialize` and `Deserialize` for the values that travel as text or a number (feature
//! `serde`): ids and user ids as their text, phone numbers as E.164, extensions as
//! their digits, timestamps as Unix milliseconds. Reading one back checks it as `parse`
//! does. Written by hand because each goes through its own checked constructor.
//!
//! Secrets have no impls at all: [`crate::Proof`], [`crate::OneTimeCode`],
//! [`crate::SecretBytes`], [`crate::RecoveryCode`] and [`crate::AppProvisioning`]
//! cannot be serialized, and the fields holding them are skipped.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::clock::Timestamp;
use crate::email::EmailAddress;
use crate::locale::Locale;
use crate::method::{AccessPassId, ChallengeId, Extension, MethodId};
use crate::phone::PhoneNumber;
use crate::user::UserId;

macro_rules! as_text {
    ($name:ty, $text:expr, $parse:expr) => {
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let text: fn(&$name) -> &str = $text;
                serializer.serialize_str(text(self))
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                let parse: fn(&str) -> Result<$name, crate::error::InputError> = $parse;
                parse(&text).map_err(D::Error::custom)
            }
        }
    };
}

as_text!(UserId, |u| u.as_str(), |s| UserId::new(s));
as_text!(MethodId, |m| m.as_str(), MethodId::parse);
as_text!(ChallengeId, |c| c.as_str(), ChallengeId::parse);
as_text!(AccessPassId, |a| a.as_str(), AccessPassId::parse);
// In full, as a phone number is: what an application keeps in its own user table.
as_text!(EmailAddress, |e| e.as_str(), EmailAddress::parse);
as_text!(PhoneNumber, |p| p.e164(), PhoneNumber::parse);
as_text!(Extension, |e| e.as_str(), Extension::parse);
as_text!(Locale, |l| l.as_str(), Locale::parse);

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(self.unix_millis())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        u64::deserialize(deserializer).map(Timestamp::from_unix_millis)
    }
}

/// The number matching digits as their two-digit text (`"07"`).
impl Serialize for crate::number_match::SignInNumber {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for crate::number_match::SignInNumber {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        crate::number_match::SignInNumber::parse(&text)
            .ok_or_else(|| D::Error::custom("not two digits"))
    }
}
