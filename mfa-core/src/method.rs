//! The ways a user can prove the second factor, and how they are recorded.

use std::fmt;

use crate::clock::Timestamp;
use crate::code::{Randomness, SecretBytes};
use crate::email::EmailAddress;
use crate::error::InputError;
use crate::inline::InlineStr;
use crate::phone::PhoneNumber;

/// How the authentication phone is reached: "Send me an SMS" or "Call me".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum PhoneMode {
    /// A text message with a code.
    Sms,
    /// A voice call.
    Call,
}

/// The delivery channel a method uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Channel {
    /// Text messages.
    Sms,
    /// Voice calls.
    Voice,
    /// Email (a restricted channel: see [`crate::email`]).
    Email,
}

impl Channel {
    /// A short lower-case name ("sms", "voice", "email").
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Voice => "voice",
            Channel::Email => "email",
        }
    }
}

/// An office phone extension: 1 to 10 digits, dialled after the call is answered.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Extension(String);

impl Extension {
    /// Parses an extension; spaces are ignored.
    pub fn parse(input: &str) -> Result<Self, InputError> {
        if input.len() > 32 {
            return Err(InputError::InvalidExtension);
        }
        let digits: String = input.chars().filter(|c| *c != ' ').collect();
        if digits.is_empty() || digits.len() > 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(InputError::InvalidExtension);
        }
        Ok(Extension(digits))
    }

    /// The digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A second-factor method, as the user chooses it on the "additional security" page.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Method {
    /// A mobile phone that gets an SMS or a call.
    AuthenticationPhone {
        /// The number.
        number: PhoneNumber,
        /// SMS or call.
        mode: PhoneMode,
    },
    /// A desk phone, called, perhaps at an extension.
    OfficePhone {
        /// The number.
        number: PhoneNumber,
        /// The extension to dial after the call is answered.
        extension: Option<Extension>,
    },
    /// An authenticator app showing TOTP codes.
    AuthenticatorApp,
    /// Single-use recovery codes, for when the phone is lost.
    RecoveryCodes,
    /// Codes by email: a restricted channel, off unless the policy allows it.
    Email {
        /// Where the codes go.
        address: EmailAddress,
    },
    /// An OATH hardware token (TOTP or HOTP) an administrator imported from the
    /// vendor's seed file and assigned to the user, who confirms it with a first code.
    HardwareToken {
        /// The serial printed on the token.
        serial: TokenSerial,
    },
    /// A passkey (WebAuthn): a key pair on the user's device or security key, the
    /// private half never leaving it. A user may register several, each named.
    Passkey,
}

/// The kind of a [`Method`], without its details.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum MethodKind {
    /// [`Method::AuthenticationPhone`].
    AuthenticationPhone,
    /// [`Method::OfficePhone`].
    OfficePhone,
    /// [`Method::AuthenticatorApp`].
    AuthenticatorApp,
    /// [`Method::RecoveryCodes`].
    RecoveryCodes,
    /// [`Method::Email`].
    Email,
    /// [`Method::HardwareToken`].
    HardwareToken,
    /// [`Method::Passkey`].
    Passkey,
}

impl MethodKind {
    /// Whether a user may set up more than one method of this kind, each named
    /// (authenticator apps); other kinds are told apart by their number or serial.
    pub fn allows_several(self) -> bool {
        matches!(self, MethodKind::AuthenticatorApp | MethodKind::Passkey)
    }
}

/// Where a code or call goes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Destination {
    /// The number.
    pub number: PhoneNumber,
    /// The extension, for office phones.
    pub extension: Option<Extension>,
}

impl Method {
    /// The kind of method.
    pub fn kind(&self) -> MethodKind {
        match self {
            Method::AuthenticationPhone { .. } => MethodKind::AuthenticationPhone,
            Method::OfficePhone { .. } => MethodKind::OfficePhone,
            Method::AuthenticatorApp => MethodKind::AuthenticatorApp,
            Method::RecoveryCodes => MethodKind::RecoveryCodes,
            Method::Email { .. } => MethodKind::Email,
            Method::HardwareToken { .. } => MethodKind::HardwareToken,
            Method::Passkey => MethodKind::Passkey,
        }
    }

    /// The channel a challenge for this method is delivered on, if any.
    pub fn channel(&self) -> Option<Channel> {
        match self {
            Method::AuthenticationPhone {
                mode: PhoneMode::Sms,
                ..
            } => Some(Channel::Sms),
            Method::AuthenticationPhone {
                mode: PhoneMode::Call,
                ..
            }
            | Method::OfficePhone { .. } => Some(Channel::Voice),
            Method::AuthenticatorApp
            | Method::RecoveryCodes
            | Method::HardwareToken { .. }
            | Method::Passkey => None,
            Method::Email { .. } => Some(Channel::Email),
        }
    }

    /// Where challenges for this method are delivered, for phone methods.
    pub fn destination(&self) -> Option<Destination> {
        match self {
            Method::AuthenticationPhone { number, .. } => Some(Destination {
                number: number.clone(),
                extension: None,
            }),
            Method::OfficePhone { number, extension } => Some(Destination {
                number: number.clone(),
                extension: extension.clone(),
            }),
            _ => None,
        }
    }

    /// The email address, for email methods.
    pub fn email_address(&self) -> Option<&EmailAddress> {
        match self {
            Method::Email { address } => Some(address),
            _ => None,
        }
    }

    /// The phone number, for phone methods.
    pub fn number(&self) -> Option<&PhoneNumber> {
        match self {
            Method::AuthenticationPhone { number, .. } | Method::OfficePhone { number, .. } => {
                Some(number)
            }
            _ => None,
        }
    }
}

impl fmt::Display for Method {
    /// A description for the user, with the number masked.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Method::AuthenticationPhone {
                number,
                mode: PhoneMode::Sms,
            } => write!(f, "SMS to {}", number.masked()),
            Method::AuthenticationPhone {
                number,
                mode: PhoneMode::Call,
            } => write!(f, "call to {}", number.masked()),
            Method::OfficePhone {
                number,
                extension: Some(ext),
            } => write!(
                f,
                "call to office phone {} ext. {}",
                number.masked(),
                ext.as_str()
            ),
            Method::OfficePhone {
                number,
                extension: None,
            } => write!(f, "call to office phone {}", number.masked()),
            Method::AuthenticatorApp => f.write_str("authenticator app"),
            Method::RecoveryCodes => f.write_str("recovery codes"),
            Method::Email { address } => write!(f, "email to {}", address.masked()),
            Method::HardwareToken { serial } => write!(f, "hardware token {serial}"),
            Method::Passkey => f.write_str("passkey"),
        }
    }
}

/// The longest id [`MethodId::parse`] and [`ChallengeId::parse`] take.
pub const MAX_ID_LEN: usize = 64;

macro_rules! random_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(InlineStr<MAX_ID_LEN>);

        impl $name {
            /// A fresh random id (128 bits, hex).
            pub fn generate(rng: &dyn Randomness) -> Self {
                let mut bytes = [0u8; 16];
                rng.fill(&mut bytes);
                $name(InlineStr::hex(&bytes).unwrap_or_else(|| unreachable!("32 < MAX_ID_LEN")))
            }

            /// An id read back from storage or a request; checked to be 1 to
            /// [`MAX_ID_LEN`] printable ASCII characters.
            pub fn parse(input: &str) -> Result<Self, InputError> {
                let malformed = InputError::InvalidSetting(concat!("malformed ", stringify!($name)));
                if input.is_empty() || !input.bytes().all(|b| b.is_ascii_graphic()) {
                    return Err(malformed);
                }
                InlineStr::new(input).map($name).ok_or(malformed)
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                self.0.as_str()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.as_str())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

random_id!(
    /// Identifies one enrolled (or pending) method of a user.
    MethodId
);
random_id!(
    /// Identifies one challenge: an enrollment check or a sign-in.
    ChallengeId
);
random_id!(
    /// Identifies one Temporary Access Pass of a user (never the pass itself).
    AccessPassId
);

/// Whether a method can be used yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum MethodStatus {
    /// Chosen, waiting for its first correct code.
    Pending,
    /// Verified and usable at sign-in.
    Active,
    /// Blocked after a fraud report: listed, but not usable.
    Blocked,
}

/// An authenticator app's stored key and settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppCredential {
    /// The shared secret (encrypted at rest by stores given a key).
    pub secret: SecretBytes,
    /// The app verifier's settings (algorithm, digits, period), in its own text form.
    pub parameters: String,
}

/// A method as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct MethodRecord {
    /// Its id.
    pub id: MethodId,
    /// The method.
    pub method: Method,
    /// Pending until verified.
    pub status: MethodStatus,
    /// Whether sign-in uses it first.
    pub is_default: bool,
    /// When it was chosen.
    pub created_at: Timestamp,
    /// The app key, for authenticator apps.
    // The app's key: never serialized.
    #[cfg_attr(feature = "serde", serde(skip))]
    pub app: Option<AppCredential>,
    /// The method this one replaces once verified (a changed phone number).
    pub replaces: Option<MethodId>,
    /// For authenticator apps: the last accepted time step; only later codes count.
    pub app_step: Option<u64>,
    /// The name the user gave it ("work phone"), to tell several of a kind apart.
    pub name: Option<MethodName>,
    /// For passkeys: the registered credential (set when its registration verifies).
    // The verifier's own form: kept by stores, not serialized.
    #[cfg_attr(feature = "serde", serde(skip))]
    pub passkey: Option<crate::passkey::PasskeyCredential>,
    /// For TOTP hardware tokens: the steps the token's clock is off, as its last
    /// resynchronisation found and its sign-ins since followed; later codes are
    /// checked there. 0 for tokens in step and for counter-based (HOTP) tokens.
    #[cfg_attr(feature = "serde", serde(default))]
    pub token_drift: i64,
}

/// The longest [`TokenSerial`], in bytes.
pub const MAX_TOKEN_SERIAL_LEN: usize = 64;

/// A hardware token's serial number, as printed on it and listed in the seed file:
/// 1 to [`MAX_TOKEN_SERIAL_LEN`] ASCII letters, digits and `-`, `_`, `.`, `:`.
/// Not a secret: it is shown to the user and the administrator.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TokenSerial(String);

impl TokenSerial {
    /// Checks a serial.
    pub fn parse(input: &str) -> Result<Self, InputError> {
        let ok = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':');
        if input.is_empty() || input.len() > MAX_TOKEN_SERIAL_LEN || !input.bytes().all(ok) {
            return Err(InputError::InvalidTokenSerial);
        }
        Ok(TokenSerial(input.to_owned()))
    }

    /// The serial.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TokenSerial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The longest [`MethodName`], in characters.
pub const MAX_METHOD_NAME_CHARS: usize = 64;

/// A name the user gives a method, such as "work phone" or "YubiKey on my keyring",
/// so that several apps, tokens or passkeys can be told apart.
///
/// Trimmed; 1 to [`MAX_METHOD_NAME_CHARS`] characters; no control characters
/// (line breaks, escapes, bidirectional overrides), so it is safe to show in a list.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MethodName(String);

impl MethodName {
    /// Checks a name as the user typed it.
    pub fn parse(input: &str) -> Result<Self, InputError> {
        // Checked before trimming too, so a huge input costs one length check.
        if input.len() > MAX_METHOD_NAME_CHARS * 4 + 64 {
            return Err(InputError::InvalidMethodName);
        }
        let name = input.trim();
        let chars = name.chars().count();
        let forbidden = |c: char| {
            c.is_control()
                // Bidirectional controls reorder what is shown around them.
                || ('\u{202a}'..='\u{202e}').contains(&c)
                || ('\u{2066}'..='\u{2069}').contains(&c)
                || c == '\u{200e}'
                || c == '\u{200f}'
        };
        if chars == 0 || chars > MAX_METHOD_NAME_CHARS || name.chars().any(forbidden) {
            return Err(InputError::InvalidMethodName);
        }
        Ok(MethodName(name.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether two names would look the same in a list (case and spacing aside).
    pub fn same_as(&self, other: &MethodName) -> bool {
        let fold = |s: &str| {
            s.split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .to_lowercase()
        };
        fold(&self.0) == fold(&other.0)
    }
}

impl fmt::Display for MethodName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::code::SeededRandomness;

    #[test]
    fn token_serials_are_short_and_plain() {
        assert_eq!(
            TokenSerial::parse("OATH-0001:a.b_c").unwrap().as_str(),
            "OATH-0001:a.b_c"
        );
        for bad in ["", "a b", "ø", "a,b", &"1".repeat(MAX_TOKEN_SERIAL_LEN + 1)] {
            assert_eq!(
                TokenSerial::parse(bad),
                Err(InputError::InvalidTokenSerial),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn method_names_are_bounded_and_printable() {
        assert_eq!(
            MethodName::parse("  work phone ").unwrap().as_str(),
            "work phone"
        );
        assert_eq!(
            MethodName::parse("Ærlig nøkkel ✓").unwrap().as_str(),
            "Ærlig nøkkel ✓"
        );
        let longest = "é".repeat(MAX_METHOD_NAME_CHARS);
        assert_eq!(MethodName::parse(&longest).unwrap().as_str(), longest);
        for bad in [
            String::new(),
            "   ".to_owned(),
            "a\nb".to_owned(),
            "a\u{1b}[31m".to_owned(),
            "evil\u{202e}gnp.exe".to_owned(),
            "x".repeat(MAX_METHOD_NAME_CHARS + 1),
            "x".repeat(1 << 20),
        ] {
            assert_eq!(
                MethodName::parse(&bad),
                Err(InputError::InvalidMethodName),
                "{bad:?}"
            );
        }
        let a = MethodName::parse("Work  Phone").unwrap();
        assert!(a.same_as(&MethodName::parse("work phone").unwrap()));
        assert!(!a.same_as(&MethodName::parse("home phone").unwrap()));
    }

    #[test]
    fn extensions_are_digits() {
        assert_eq!(Extension::parse("12 34").unwrap().as_str(), "1234");
        for bad in ["", "12a", "12345678901", "#12", &"1".repeat(100)] {
            assert_eq!(
                Extension::parse(bad),
                Err(InputError::InvalidExtension),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn methods_map_to_channels() {
        let number = PhoneNumber::parse("+4741234567").unwrap();
        let sms = Method::AuthenticationPhone {
            number: number.clone(),
            mode: PhoneMode::Sms,
        };
        assert_eq!(sms.channel(), Some(Channel::Sms));
        let office = Method::OfficePhone {
            number,
            extension: Some(Extension::parse("123").unwrap()),
        };
        assert_eq!(office.channel(), Some(Channel::Voice));
        assert_eq!(
            office.destination().unwrap().extension.unwrap().as_str(),
            "123"
        );
        assert_eq!(Method::AuthenticatorApp.channel(), None);
        assert!(!sms.to_string().contains("41234567"));
    }

    #[test]
    fn ids_are_random_and_parse_back() {
        let rng = SeededRandomness::new(1);
        let a = ChallengeId::generate(&rng);
        let b = ChallengeId::generate(&rng);
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 32);
        assert_eq!(ChallengeId::parse(a.as_str()).unwrap(), a);
        assert!(ChallengeId::parse("").is_err());
        assert!(ChallengeId::parse("a b").is_err());
    }
}
