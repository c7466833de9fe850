//! Phone numbers, parsed and classified with the `phonenumber` crate.

use std::fmt;

use phonenumber::{Mode, Type};

use crate::error::InputError;
use crate::inline::InlineStr;

/// The longest phone number input accepted, in bytes, before parsing.
const MAX_NUMBER_INPUT: usize = 64;

/// What kind of line a number belongs to, as the numbering plan says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum NumberKind {
    /// A mobile phone: SMS and calls.
    Mobile,
    /// A fixed line: calls only.
    FixedLine,
    /// The plan does not tell fixed line from mobile (as in the USA).
    FixedLineOrMobile,
    /// Voice over IP.
    Voip,
    /// Premium rate: refused, it costs the caller.
    PremiumRate,
    /// Toll free.
    TollFree,
    /// Anything else (pager, shared cost, UAN, voicemail, unknown).
    Other,
}

impl NumberKind {
    /// Whether an SMS can reach a number of this kind.
    pub fn can_receive_sms(self) -> bool {
        matches!(
            self,
            NumberKind::Mobile | NumberKind::FixedLineOrMobile | NumberKind::Voip
        )
    }
}

/// A valid phone number in E.164 form, with its country and line kind.
///
/// `Debug` masks the middle digits: numbers are personal data.
///
/// ```
/// use mfa_core::{NumberKind, PhoneNumber};
///
/// let n = PhoneNumber::from_parts(47, "412 34 567").unwrap();
/// assert_eq!(n.e164(), "+4741234567");
/// assert_eq!(n.region(), Some("NO"));
/// assert_eq!(n.kind(), NumberKind::Mobile);
/// assert_eq!(PhoneNumber::parse("+47 41234567").unwrap(), n);
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber {
    // `+` and at most 15 digits (ITU-T E.164), kept inline: see `InlineStr`.
    e164: InlineStr<16>,
    country_code: u16,
    region: Option<&'static str>,
    kind: NumberKind,
}

impl PhoneNumber {
    /// Parses a number with its country calling code, as the guide's form asks
    /// ("choose the country code, type the number").
    pub fn from_parts(country_code: u16, national: &str) -> Result<Self, InputError> {
        check_input(national)?;
        if country_code == 0 || country_code > 999 {
            return Err(InputError::InvalidPhoneNumber(
                "no such country calling code",
            ));
        }
        let national = national.trim();
        let national = national
            .strip_prefix('0')
            .filter(|_| country_code != 39)
            .unwrap_or(national);
        let number = Self::parse(&format!("+{country_code} {national}"))?;
        // Country codes are prefix-free, so a code that is none reads as a real one
        // followed by digits of the number ("+79 6..." is +7 9 6...): refuse it.
        if number.country_code != country_code {
            return Err(InputError::InvalidPhoneNumber(
                "no such country calling code",
            ));
        }
        Ok(number)
    }

    /// Parses a number in international form, `+` and country calling code first.
    pub fn parse(input: &str) -> Result<Self, InputError> {
        check_input(input)?;
        let trimmed = input.trim();
        let international = trimmed.starts_with('+') || trimmed.starts_with("00");
        if !international {
            return Err(InputError::MissingCountryCode);
        }
        let normalised = match trimmed.strip_prefix("00") {
            Some(rest) => format!("+{rest}"),
            None => trimmed.to_owned(),
        };
        let parsed = phonenumber::parse(None, &normalised)
            .map_err(|_| InputError::InvalidPhoneNumber("not a phone number"))?;
        if !phonenumber::is_valid(&parsed) {
            return Err(InputError::InvalidPhoneNumber(
                "not a valid number in its country's numbering plan",
            ));
        }
        let kind = match parsed.number_type(&phonenumber::metadata::DATABASE) {
            Type::Mobile => NumberKind::Mobile,
            Type::FixedLine => NumberKind::FixedLine,
            Type::FixedLineOrMobile => NumberKind::FixedLineOrMobile,
            Type::Voip => NumberKind::Voip,
            Type::PremiumRate => NumberKind::PremiumRate,
            Type::TollFree => NumberKind::TollFree,
            _ => NumberKind::Other,
        };
        let region = parsed
            .country()
            .id()
            .and_then(|id| static_region(id.as_ref()));
        let e164 = InlineStr::new(&parsed.format().mode(Mode::E164).to_string())
            .ok_or(InputError::InvalidPhoneNumber("longer than E.164 allows"))?;
        Ok(PhoneNumber {
            e164,
            country_code: parsed.country().code(),
            region,
            kind,
        })
    }

    /// A number as the record codec stored it, taken without parsing again (parsing
    /// costs microseconds per number, and a record is loaded on every request).
    ///
    /// `None` when `e164` is longer than E.164 allows (no parse made it).
    pub(crate) fn from_stored(
        e164: &str,
        country_code: u16,
        region: Option<&str>,
        kind: NumberKind,
    ) -> Option<Self> {
        Some(PhoneNumber {
            e164: InlineStr::new(e164)?,
            country_code,
            region: region.and_then(static_region),
            kind,
        })
    }

    /// The number in E.164 form, such as `+4741234567`.
    pub fn e164(&self) -> &str {
        self.e164.as_str()
    }

    /// The country calling code, such as 47 for Norway.
    pub fn country_code(&self) -> u16 {
        self.country_code
    }

    /// The ISO 3166 region, such as `NO`, when the number belongs to one.
    pub fn region(&self) -> Option<&'static str> {
        self.region
    }

    /// The kind of line.
    pub fn kind(&self) -> NumberKind {
        self.kind
    }

    /// The number with all but the country code and the last two digits masked,
    /// for messages shown to the user ("we sent a code to +47 ••••••67").
    pub fn masked(&self) -> String {
        let digits = self.e164().get(1..).unwrap_or_default();
        let cc = self.country_code.to_string();
        let rest = &digits[cc.len().min(digits.len())..];
        let keep = rest.len().saturating_sub(2);
        format!("+{cc} {}{}", "•".repeat(keep), &rest[keep..])
    }
}

fn check_input(input: &str) -> Result<(), InputError> {
    if input.trim().is_empty() {
        return Err(InputError::InvalidPhoneNumber("empty"));
    }
    if input.len() > MAX_NUMBER_INPUT {
        return Err(InputError::InvalidPhoneNumber("too long"));
    }
    if !input
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '(' | ')' | '.'))
    {
        return Err(InputError::InvalidPhoneNumber(
            "only digits, spaces, dashes, dots and brackets",
        ));
    }
    Ok(())
}

/// Maps a region id to a `'static` string without leaking memory.
fn static_region(id: &str) -> Option<&'static str> {
    // The regions `phonenumber` returns are static names already; this table keeps the
    // lifetime honest without an allocation per number.
    const REGIONS: &[&str] = &[
        "AC", "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AR", "AS", "AT", "AU", "AW", "AX",
        "AZ", "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ",
        "BR", "BS", "BT", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL",
        "CM", "CN", "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO",
        "DZ", "EC", "EE", "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA",
        "GB", "GD", "GE", "GF", "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GT", "GU",
        "GW", "GY", "HK", "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR",
        "IS", "IT", "JE", "JM", "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW",
        "KY", "KZ", "LA", "LB", "LC", "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC",
        "MD", "ME", "MF", "MG", "MH", "MK", "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT",
        "MU", "MV", "MW", "MX", "MY", "MZ", "NA", "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP",
        "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG", "PH", "PK", "PL", "PM", "PR", "PS", "PT",
        "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW", "SA", "SB", "SC", "SD", "SE", "SG", "SH",
        "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS", "ST", "SV", "SX", "SY", "SZ", "TA",
        "TC", "TD", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO", "TR", "TT", "TV", "TW", "TZ",
        "UA", "UG", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI", "VN", "VU", "WF", "WS", "XK",
        "YE", "YT", "ZA", "ZM", "ZW",
    ];
    REGIONS.iter().copied().find(|r| *r == id)
}

impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PhoneNumber")
            .field("number", &self.masked())
            .field("kind", &self.kind)
            .finish()
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.e164())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_norwegian_mobile_and_fixed_line() {
        let mobile = PhoneNumber::from_parts(47, "412 34 567").unwrap();
        assert_eq!(mobile.kind(), NumberKind::Mobile);
        assert_eq!(mobile.country_code(), 47);
        let fixed = PhoneNumber::from_parts(47, "22 12 34 56").unwrap();
        assert_eq!(fixed.kind(), NumberKind::FixedLine);
        assert!(!fixed.kind().can_receive_sms());
    }

    #[test]
    fn national_trunk_zero_is_dropped() {
        let uk = PhoneNumber::from_parts(44, "07400 123456").unwrap();
        assert_eq!(uk.e164(), "+447400123456");
        assert_eq!(uk.region(), Some("GB"));
    }

    #[test]
    fn premium_rate_is_classified() {
        let premium = PhoneNumber::parse("+44 909 876 5432").unwrap();
        assert_eq!(premium.kind(), NumberKind::PremiumRate);
    }

    #[test]
    fn numbers_without_country_code_are_refused() {
        assert_eq!(
            PhoneNumber::parse("41234567"),
            Err(InputError::MissingCountryCode)
        );
    }

    #[test]
    fn bad_numbers_get_typed_errors() {
        for bad in [
            "",
            "+",
            "+47",
            "+47 12",
            "+47 abc",
            "+999 123456",
            &"9".repeat(1000),
            "+47\u{0}41234567",
        ] {
            assert!(PhoneNumber::parse(bad).is_err(), "{bad:?}");
        }
        assert!(PhoneNumber::from_parts(0, "41234567").is_err());
        assert!(PhoneNumber::from_parts(4700, "41234567").is_err());
    }

    /// Found by the `phone_number` fuzz target: 79 is no country code, but "+79 6..."
    /// reads as Russia (+7) and 4 then "1 44..." as Switzerland (+41).
    #[test]
    fn the_country_code_chosen_is_the_numbers_own() {
        for (cc, national) in [(79, "06 6982 1234"), (4, "1 44 668 18 00")] {
            assert_eq!(
                PhoneNumber::from_parts(cc, national),
                Err(InputError::InvalidPhoneNumber(
                    "no such country calling code"
                )),
                "{cc} {national}"
            );
        }
        assert_eq!(
            PhoneNumber::from_parts(7, "912 345 67 89")
                .unwrap()
                .country_code(),
            7
        );
    }

    #[test]
    fn debug_masks_the_number() {
        let n = PhoneNumber::from_parts(47, "41234567").unwrap();
        let shown = format!("{n:?}");
        assert!(!shown.contains("41234567"), "{shown}");
        assert!(shown.contains("67"));
    }
}
