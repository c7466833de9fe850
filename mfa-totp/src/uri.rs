//! `otpauth://` Key URIs: what authenticator apps scan.
//!
//! Format: `otpauth://TYPE/ISSUER:ACCOUNT?secret=…&issuer=…&algorithm=…&digits=…&period=…`
//! (`counter=` instead of `period=` for HOTP). Built URIs percent-encode everything
//! but unreserved characters, so a colon inside the issuer or the account is `%3A`
//! and only the literal colon separates them.

use std::fmt;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use crate::hotp::{MAX_HOTP_DIGITS, MIN_DIGITS};
use crate::totp::{MAX_PERIOD_SECS, MAX_TOTP_DIGITS};
use crate::{Algorithm, Hotp, Secret, Totp};

/// Characters left as they are: RFC 3986 unreserved.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
/// Longer URIs are refused before they are looked at.
pub const MAX_URI_LEN: usize = 4096;

/// A malformed `otpauth://` URI.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UriError {
    /// Longer than [`MAX_URI_LEN`], as given or as [`KeyUri::to_uri`] writes it back.
    #[error("the URI is longer than {MAX_URI_LEN} bytes")]
    TooLong,
    /// Not an `otpauth://` URI.
    #[error("not an otpauth:// URI")]
    NotOtpauth,
    /// The type is neither `totp` nor `hotp`.
    #[error("the OTP type must be totp or hotp")]
    UnknownType,
    /// The label (account name) is missing or empty.
    #[error("the URI has no account name")]
    MissingAccount,
    /// A percent-escape is broken or does not decode to UTF-8.
    #[error("bad percent-encoding in the {0}")]
    Encoding(&'static str),
    /// A parameter appears twice.
    #[error("the parameter {0} appears more than once")]
    DuplicateParameter(&'static str),
    /// No `secret` parameter.
    #[error("the URI has no secret")]
    MissingSecret,
    /// The `secret` is not base32.
    #[error("the secret is not valid base32")]
    InvalidSecret,
    /// The label's issuer and the `issuer` parameter differ.
    #[error("the label's issuer and the issuer parameter differ")]
    IssuerMismatch,
    /// `algorithm` is not SHA1, SHA256 or SHA512.
    #[error("unknown algorithm")]
    InvalidAlgorithm,
    /// `digits` is not a number in range.
    #[error("digits must be {MIN_DIGITS} to {max}")]
    InvalidDigits {
        /// The most allowed for the type.
        max: u8,
    },
    /// `period` is not a number from 1 to 86400.
    #[error("period must be 1 to {MAX_PERIOD_SECS} seconds")]
    InvalidPeriod,
    /// An HOTP URI has no `counter`.
    #[error("an hotp URI needs a counter")]
    MissingCounter,
    /// `counter` is not a number.
    #[error("counter must be a whole number")]
    InvalidCounter,
    /// `image` is not an `https://` URL.
    #[error("image must be an https:// URL")]
    ImageNotHttps,
}

/// Time-based or counter-based, with what each needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtpKind {
    /// `otpauth://totp/`: a new code every `period` seconds.
    Totp {
        /// Seconds per step.
        period: u64,
    },
    /// `otpauth://hotp/`: a new code per button press.
    Hotp {
        /// The counter of the next code.
        counter: u64,
    },
}

/// An `otpauth://` Key URI, built or parsed. `Debug` shows no secret.
///
/// ```
/// use mfa_totp::{KeyUri, Secret, Totp};
///
/// let secret = Secret::from_base32("JBSWY3DPEHPK3PXP").unwrap();
/// let uri = Totp::default().key_uri(secret, "ACME Co", "john@example.com").to_uri();
/// assert_eq!(
///     uri,
///     "otpauth://totp/ACME%20Co:john%40example.com?secret=JBSWY3DPEHPK3PXP\
///      &issuer=ACME%20Co&algorithm=SHA1&digits=6&period=30"
/// );
/// let parsed = KeyUri::parse(&uri).unwrap();
/// assert_eq!(parsed.issuer.as_deref(), Some("ACME Co"));
/// assert_eq!(parsed.account, "john@example.com");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct KeyUri {
    /// TOTP with its period, or HOTP with its counter.
    pub kind: OtpKind,
    /// Who the account is with, shown by the app.
    pub issuer: Option<String>,
    /// The user's account name.
    pub account: String,
    /// The shared secret.
    pub secret: Secret,
    /// The hash.
    pub algorithm: Algorithm,
    /// Digits per code.
    pub digits: u8,
    /// An `https://` logo URL some apps show.
    pub image: Option<String>,
}

impl fmt::Debug for KeyUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyUri")
            .field("kind", &self.kind)
            .field("issuer", &self.issuer)
            .field("account", &self.account)
            .field("secret", &self.secret)
            .field("algorithm", &self.algorithm)
            .field("digits", &self.digits)
            .field("image", &self.image)
            .finish()
    }
}

fn encode(s: &str) -> percent_encoding::PercentEncode<'_> {
    utf8_percent_encode(s, COMPONENT)
}

fn decode(s: &str, part: &'static str) -> Result<String, UriError> {
    // `percent_decode_str` passes broken escapes through; they are errors here.
    let bytes = s.as_bytes();
    let broken = bytes.iter().enumerate().any(|(i, &b)| {
        b == b'%'
            && !(bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
    });
    if broken {
        return Err(UriError::Encoding(part));
    }
    percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| UriError::Encoding(part))
}

fn is_https(url: &str) -> bool {
    url.len() > "https://".len()
        && url
            .get(..8)
            .is_some_and(|p| p.eq_ignore_ascii_case("https://"))
        && !url.chars().any(|c| c.is_whitespace() || c.is_control())
}

impl KeyUri {
    /// The URI text. It holds the secret: show it only to its user.
    pub fn to_uri(&self) -> String {
        use fmt::Write as _;
        let (kind, extra) = match self.kind {
            OtpKind::Totp { period } => ("totp", ("period", period)),
            OtpKind::Hotp { counter } => ("hotp", ("counter", counter)),
        };
        let mut s = String::with_capacity(128);
        let _ = write!(s, "otpauth://{kind}/");
        if let Some(issuer) = &self.issuer {
            let _ = write!(s, "{}:", encode(issuer));
        }
        let _ = write!(
            s,
            "{}?secret={}",
            encode(&self.account),
            self.secret.expose_base32().as_str()
        );
        if let Some(issuer) = &self.issuer {
            let _ = write!(s, "&issuer={}", encode(issuer));
        }
        let _ = write!(
            s,
            "&algorithm={}&digits={}&{}={}",
            self.algorithm, self.digits, extra.0, extra.1
        );
        if let Some(image) = &self.image {
            let _ = write!(s, "&image={}", encode(image));
        }
        s
    }

    /// The TOTP settings of a `totp` URI (default window), to verify an imported
    /// credential; `None` for HOTP.
    pub fn totp(&self) -> Option<Totp> {
        match self.kind {
            OtpKind::Totp { period } => Totp::new(self.algorithm, self.digits, period).ok(),
            OtpKind::Hotp { .. } => None,
        }
    }

    /// The HOTP settings and next counter of an `hotp` URI; `None` for TOTP.
    pub fn hotp(&self) -> Option<(Hotp, u64)> {
        match self.kind {
            OtpKind::Hotp { counter } => {
                Some((Hotp::new(self.algorithm, self.digits).ok()?, counter))
            }
            OtpKind::Totp { .. } => None,
        }
    }

    /// Sets the logo URL; it must be `https://`.
    pub fn with_image(mut self, url: &str) -> Result<Self, UriError> {
        if !is_https(url) {
            return Err(UriError::ImageNotHttps);
        }
        self.image = Some(url.to_owned());
        Ok(self)
    }

    /// Parses a Key URI. Lenient where apps differ (scheme, type and algorithm in any
    /// case; padding and lowercase in the secret; an encoded separator colon when
    /// the issuer parameter confirms it), strict where a wrong reading would give
    /// wrong codes.
    pub fn parse(input: &str) -> Result<Self, UriError> {
        if input.len() > MAX_URI_LEN {
            return Err(UriError::TooLong);
        }
        let rest = input
            .get(..10)
            .filter(|p| p.eq_ignore_ascii_case("otpauth://"))
            .map(|_| &input[10..])
            .ok_or(UriError::NotOtpauth)?;
        let rest = rest.split_once('#').map_or(rest, |(r, _)| r);
        let (kind, rest) = rest.split_once('/').ok_or(UriError::MissingAccount)?;
        let hotp = if kind.eq_ignore_ascii_case("totp") {
            false
        } else if kind.eq_ignore_ascii_case("hotp") {
            true
        } else {
            return Err(UriError::UnknownType);
        };
        let (label, query) = rest.split_once('?').unwrap_or((rest, ""));

        let mut params = Params::default();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            params.set(key, value)?;
        }
        let value = |raw: Option<&str>, part| -> Result<Option<String>, UriError> {
            raw.map(|v| decode(&v.replace('+', " "), part)).transpose()
        };
        let issuer_param = value(params.issuer, "issuer")?.filter(|i| !i.is_empty());

        let (label_issuer, account) = match label.split_once(':') {
            Some((issuer, account)) => (Some(decode(issuer, "label")?), decode(account, "label")?),
            None => {
                let whole = decode(label, "label")?;
                match issuer_param
                    .as_deref()
                    .and_then(|i| whole.strip_prefix(i)?.strip_prefix(':'))
                {
                    Some(account) => (issuer_param.clone(), account.to_owned()),
                    None => (None, whole),
                }
            }
        };
        let account = account.trim_start_matches(' ').to_owned();
        if account.is_empty() {
            return Err(UriError::MissingAccount);
        }
        let label_issuer = label_issuer.filter(|i| !i.is_empty());
        let issuer = match (label_issuer, issuer_param) {
            (Some(a), Some(b)) if a != b => return Err(UriError::IssuerMismatch),
            (a, b) => b.or(a),
        };

        let secret_text = value(params.secret, "secret")?.ok_or(UriError::MissingSecret)?;
        let secret = Secret::from_base32(&secret_text).map_err(|_| UriError::InvalidSecret)?;
        let algorithm = match params.algorithm {
            Some(a) => a.parse().map_err(|_| UriError::InvalidAlgorithm)?,
            None => Algorithm::Sha1,
        };
        let max_digits = if hotp {
            MAX_HOTP_DIGITS
        } else {
            MAX_TOTP_DIGITS
        };
        let digits = match params.digits {
            Some(d) => d
                .parse::<u8>()
                .ok()
                .filter(|d| (MIN_DIGITS..=max_digits).contains(d))
                .ok_or(UriError::InvalidDigits { max: max_digits })?,
            None => 6,
        };
        let kind = if hotp {
            let counter = params.counter.ok_or(UriError::MissingCounter)?;
            OtpKind::Hotp {
                counter: counter.parse().map_err(|_| UriError::InvalidCounter)?,
            }
        } else {
            let period = match params.period {
                Some(p) => p
                    .parse::<u64>()
                    .ok()
                    .filter(|p| (1..=MAX_PERIOD_SECS).contains(p))
                    .ok_or(UriError::InvalidPeriod)?,
                None => 30,
            };
            OtpKind::Totp { period }
        };
        let image = match value(params.image, "image")? {
            Some(url) if is_https(&url) => Some(url),
            Some(_) => return Err(UriError::ImageNotHttps),
            None => None,
        };
        let uri = KeyUri {
            kind,
            issuer,
            account,
            secret,
            algorithm,
            digits,
            image,
        };
        // Raw spaces and control characters are written back percent-encoded, three
        // bytes each: a key whose own URI would be refused is refused now. The text
        // holds the secret, so it is wiped.
        if zeroize::Zeroizing::new(uri.to_uri()).len() > MAX_URI_LEN {
            return Err(UriError::TooLong);
        }
        Ok(uri)
    }
}

/// The raw (still encoded) parameter values.
#[derive(Default)]
struct Params<'a> {
    secret: Option<&'a str>,
    issuer: Option<&'a str>,
    algorithm: Option<&'a str>,
    digits: Option<&'a str>,
    period: Option<&'a str>,
    counter: Option<&'a str>,
    image: Option<&'a str>,
}

impl<'a> Params<'a> {
    fn set(&mut self, key: &str, value: &'a str) -> Result<(), UriError> {
        const NAMES: [&str; 7] = [
            "secret",
            "issuer",
            "algorithm",
            "digits",
            "period",
            "counter",
            "image",
        ];
        let Some(name) = NAMES.iter().find(|n| n.eq_ignore_ascii_case(key)) else {
            return Ok(()); // Unknown parameters are for other apps.
        };
        let slot = match *name {
            "secret" => &mut self.secret,
            "issuer" => &mut self.issuer,
            "algorithm" => &mut self.algorithm,
            "digits" => &mut self.digits,
            "period" => &mut self.period,
            "counter" => &mut self.counter,
            _ => &mut self.image,
        };
        if slot.replace(value).is_some() {
            return Err(UriError::DuplicateParameter(name));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SECRET: &str = "JBSWY3DPEHPK3PXP";

    fn parse(s: &str) -> Result<KeyUri, UriError> {
        KeyUri::parse(s)
    }

    #[test]
    fn google_example_parses() {
        let u = parse(
            "otpauth://totp/ACME%20Co:john.doe@email.com?secret=HXDMVJECJJWSRB3HWIZR4IFUGFTMXBOZ\
             &issuer=ACME%20Co&algorithm=SHA1&digits=6&period=30",
        )
        .unwrap();
        assert_eq!(u.issuer.as_deref(), Some("ACME Co"));
        assert_eq!(u.account, "john.doe@email.com");
        assert_eq!(u.kind, OtpKind::Totp { period: 30 });
        assert_eq!(u.secret.bits(), 160);
    }

    #[test]
    fn defaults_apply_and_names_are_case_insensitive() {
        let u = parse(&format!(
            "OTPAUTH://TOTP/alice?SECRET={}&Algorithm=sha256",
            SECRET.to_lowercase()
        ))
        .unwrap();
        assert_eq!(u.algorithm, Algorithm::Sha256);
        assert_eq!(u.digits, 6);
        assert_eq!(u.kind, OtpKind::Totp { period: 30 });
        assert_eq!(u.issuer, None);
        assert_eq!(u.account, "alice");
        let h = parse(&format!(
            "otpauth://hotp/Example:bob?secret={SECRET}&counter=42&digits=8"
        ))
        .unwrap();
        assert_eq!(h.kind, OtpKind::Hotp { counter: 42 });
        assert_eq!(h.issuer.as_deref(), Some("Example"));
        assert_eq!(h.digits, 8);
    }

    #[test]
    fn encoded_colons_stay_inside_their_part() {
        let s = Secret::from_base32(SECRET).unwrap();
        let uri = Totp::default().key_uri(s, "Big:Corp", "user:name").to_uri();
        assert!(
            uri.starts_with("otpauth://totp/Big%3ACorp:user%3Aname?"),
            "{uri}"
        );
        let back = parse(&uri).unwrap();
        assert_eq!(back.issuer.as_deref(), Some("Big:Corp"));
        assert_eq!(back.account, "user:name");
        // An app that encodes the separator too: the issuer parameter tells where it is.
        let u = parse(&format!(
            "otpauth://totp/Example%3Aalice?secret={SECRET}&issuer=Example"
        ))
        .unwrap();
        assert_eq!(
            (u.issuer.as_deref(), u.account.as_str()),
            (Some("Example"), "alice")
        );
        // Without an issuer parameter an encoded colon belongs to the account.
        let u = parse(&format!("otpauth://totp/Example%3Aalice?secret={SECRET}")).unwrap();
        assert_eq!((u.issuer, u.account.as_str()), (None, "Example:alice"));
        // Optional spaces before the account name.
        let u = parse(&format!("otpauth://totp/Example:  alice?secret={SECRET}")).unwrap();
        assert_eq!(u.account, "alice");
    }

    #[test]
    fn malformed_uris_get_typed_errors() {
        let cases: &[(&str, UriError)] = &[
            ("https://example.com", UriError::NotOtpauth),
            ("otpauth:/totp/a?secret=JBSWY3DP", UriError::NotOtpauth),
            ("otpauth://motp/a?secret=JBSWY3DP", UriError::UnknownType),
            ("otpauth://totp", UriError::MissingAccount),
            ("otpauth://totp/?secret=JBSWY3DP", UriError::MissingAccount),
            (
                "otpauth://totp/Acme:?secret=JBSWY3DP",
                UriError::MissingAccount,
            ),
            ("otpauth://totp/a", UriError::MissingSecret),
            ("otpauth://totp/a?secret=", UriError::InvalidSecret),
            ("otpauth://totp/a?secret=JBSW1", UriError::InvalidSecret),
            (
                "otpauth://totp/a?secret=JBSWY3DP&secret=JBSWY3DP",
                UriError::DuplicateParameter("secret"),
            ),
            (
                "otpauth://totp/a%ZZ?secret=JBSWY3DP",
                UriError::Encoding("label"),
            ),
            (
                "otpauth://totp/a%FF?secret=JBSWY3DP",
                UriError::Encoding("label"),
            ),
            (
                "otpauth://totp/A:a?secret=JBSWY3DP&issuer=B",
                UriError::IssuerMismatch,
            ),
            (
                "otpauth://totp/a?secret=JBSWY3DP&algorithm=MD5",
                UriError::InvalidAlgorithm,
            ),
            (
                "otpauth://totp/a?secret=JBSWY3DP&digits=9",
                UriError::InvalidDigits { max: 8 },
            ),
            (
                "otpauth://totp/a?secret=JBSWY3DP&digits=x",
                UriError::InvalidDigits { max: 8 },
            ),
            (
                "otpauth://hotp/a?secret=JBSWY3DP&digits=11&counter=1",
                UriError::InvalidDigits { max: 10 },
            ),
            (
                "otpauth://totp/a?secret=JBSWY3DP&period=0",
                UriError::InvalidPeriod,
            ),
            (
                "otpauth://totp/a?secret=JBSWY3DP&period=-30",
                UriError::InvalidPeriod,
            ),
            ("otpauth://hotp/a?secret=JBSWY3DP", UriError::MissingCounter),
            (
                "otpauth://hotp/a?secret=JBSWY3DP&counter=-1",
                UriError::InvalidCounter,
            ),
            (
                "otpauth://totp/a?secret=JBSWY3DP&image=http%3A%2F%2Fx.com%2Fa.png",
                UriError::ImageNotHttps,
            ),
            (
                "otpauth://totp/a?secret=JBSWY3DP&image=javascript:alert(1)",
                UriError::ImageNotHttps,
            ),
        ];
        for (uri, expected) in cases {
            assert_eq!(parse(uri).as_ref().err(), Some(expected), "{uri}");
        }
        assert_eq!(
            parse(&"x".repeat(MAX_URI_LEN + 1)).err(),
            Some(UriError::TooLong)
        );
    }

    /// Found by the `otpauth_uri` fuzz target: raw spaces and control characters in a
    /// label are accepted but written back percent-encoded, three bytes each, so a URI
    /// under the limit gave one over it that `parse` refused.
    #[test]
    fn an_accepted_uri_writes_back_within_the_limit() {
        let raw = format!(
            "otpauth://totp/Contoso:a{}b?secret={SECRET}",
            " \u{f}".repeat(700)
        );
        assert!(raw.len() < MAX_URI_LEN);
        assert_eq!(parse(&raw), Err(UriError::TooLong));
        let fits = format!(
            "otpauth://totp/Contoso:a{}b?secret={SECRET}",
            " ".repeat(300)
        );
        let u = parse(&fits).unwrap();
        assert_eq!(parse(&u.to_uri()), Ok(u));
    }

    #[test]
    fn errors_and_debug_never_show_the_secret() {
        let u = parse(&format!("otpauth://totp/a?secret={SECRET}")).unwrap();
        assert!(!format!("{u:?}").contains(SECRET));
        let e = parse("otpauth://totp/a?secret=JBSWY3DP1111").unwrap_err();
        assert!(!e.to_string().contains("JBSWY3DP"));
        assert!(!format!("{e:?}").contains("JBSWY3DP"));
    }

    #[test]
    fn parsed_uris_give_their_verifier() {
        let t = parse(&format!(
            "otpauth://totp/a?secret={SECRET}&algorithm=SHA512&digits=8&period=60"
        ))
        .unwrap();
        let totp = t.totp().unwrap();
        assert_eq!(
            (totp.algorithm(), totp.digits(), totp.period()),
            (Algorithm::Sha512, 8, 60)
        );
        assert!(t.hotp().is_none());
        let h = parse(&format!(
            "otpauth://hotp/a?secret={SECRET}&counter=7&digits=10"
        ))
        .unwrap();
        let (hotp, next) = h.hotp().unwrap();
        assert_eq!((hotp.digits(), next), (10, 7));
        assert!(h.totp().is_none());
        // An imported 80-bit secret works, and is flagged.
        assert!(h.secret.is_short());
        let code = hotp.generate(&h.secret, next);
        assert!(hotp.verify(&h.secret, &code, next).unwrap().is_some());
    }

    #[test]
    fn image_must_be_https() {
        let s = Secret::from_base32(SECRET).unwrap();
        let u = Totp::default().key_uri(s.clone(), "A", "b");
        assert_eq!(
            u.clone().with_image("http://x.com/l.png").err(),
            Some(UriError::ImageNotHttps)
        );
        let with = u.with_image("https://x.com/logo.png?size=2").unwrap();
        let text = with.to_uri();
        assert!(
            text.ends_with("&image=https%3A%2F%2Fx.com%2Flogo.png%3Fsize%3D2"),
            "{text}"
        );
        assert_eq!(parse(&text).unwrap(), with);
    }

    fn arb_text() -> impl Strategy<Value = String> {
        // Any characters, including colons, spaces, %, +, & and non-ASCII; accounts
        // must not start with a space (those are read as optional separators).
        "[^ ][\\PC ]{0,20}".prop_map(|s| s)
    }

    proptest! {
        #[test]
        fn built_uris_parse_back_to_the_same_fields(
            issuer in proptest::option::of(arb_text()),
            account in arb_text(),
            secret in proptest::collection::vec(any::<u8>(), 10..40),
            which in 0usize..3,
            hotp in any::<bool>(),
            digits in 6u8..=8,
            period in 1u64..=MAX_PERIOD_SECS,
            counter in any::<u64>(),
            image in proptest::option::of("[a-z0-9/._?=&%-]{1,30}"),
        ) {
            let uri = KeyUri {
                kind: if hotp { OtpKind::Hotp { counter } } else { OtpKind::Totp { period } },
                issuer,
                account,
                secret: Secret::from_bytes(secret).unwrap(),
                algorithm: Algorithm::ALL[which],
                digits,
                image: image.map(|p| format!("https://example.com/{p}")),
            };
            let text = uri.to_uri();
            prop_assert_eq!(KeyUri::parse(&text).unwrap(), uri);
        }

        #[test]
        fn arbitrary_input_never_panics(s in "\\PC{0,200}") {
            let _ = KeyUri::parse(&s);
            let _ = KeyUri::parse(&format!("otpauth://totp/{s}"));
        }
    }
}
