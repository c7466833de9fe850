//! The user's language, kept with the user: SMS texts and calls are rendered in it.

use std::fmt;

use crate::error::InputError;

/// The longest tag taken (RFC 5646 tags in practice stay far below).
pub const MAX_LOCALE_LEN: usize = 35;

/// A language tag such as `nb`, `nb-NO` or `pt-BR`: letters, digits and `-` (an `_` is
/// read as `-`), the language first, in lower case; a two-letter region in upper case.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Locale(String);

impl Locale {
    /// Checks and normalizes a tag (`nb_no` becomes `nb-NO`).
    pub fn parse(tag: &str) -> Result<Self, InputError> {
        const BAD: InputError =
            InputError::InvalidSetting("a locale is a language tag such as en or nb-NO");
        let tag = tag.trim();
        if tag.len() < 2 || tag.len() > MAX_LOCALE_LEN {
            return Err(BAD);
        }
        let mut out = String::with_capacity(tag.len());
        for (i, part) in tag.split(['-', '_']).enumerate() {
            let ok = !part.is_empty()
                && part.len() <= 8
                && part.bytes().all(|b| b.is_ascii_alphanumeric())
                && (i > 0
                    || ((2..=3).contains(&part.len())
                        && part.bytes().all(|b| b.is_ascii_alphabetic())));
            if !ok {
                return Err(BAD);
            }
            if i > 0 {
                out.push('-');
            }
            if i > 0 && part.len() == 2 && part.bytes().all(|b| b.is_ascii_alphabetic()) {
                out.push_str(&part.to_ascii_uppercase());
            } else {
                out.push_str(&part.to_ascii_lowercase());
            }
        }
        Ok(Locale(out))
    }

    /// The tag.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The language alone (`nb` of `nb-NO`).
    pub fn language(&self) -> &str {
        self.0.split('-').next().unwrap_or(&self.0)
    }
}

impl fmt::Debug for Locale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Locale({})", self.0)
    }
}

impl fmt::Display for Locale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_checked_and_normalized() {
        assert_eq!(Locale::parse("nb_no").unwrap().as_str(), "nb-NO");
        assert_eq!(Locale::parse(" EN ").unwrap().as_str(), "en");
        assert_eq!(Locale::parse("zh-Hant-TW").unwrap().as_str(), "zh-hant-TW");
        assert_eq!(Locale::parse("pt-BR").unwrap().language(), "pt");
        for bad in [
            "",
            "e",
            "1n",
            "en-",
            "en--US",
            "en US",
            "ø",
            "english",
            &"a".repeat(40),
        ] {
            assert!(Locale::parse(bad).is_err(), "{bad:?}");
        }
    }
}
