//! The HMAC hash of a credential.

use std::fmt;
use std::str::FromStr;

use crate::error::ConfigError;

/// The hash under HMAC: SHA-1 (what nearly every app uses), SHA-256 or SHA-512.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Algorithm {
    /// HMAC-SHA-1, the default of RFC 4226 and of authenticator apps.
    #[default]
    Sha1,
    /// HMAC-SHA-256.
    Sha256,
    /// HMAC-SHA-512.
    Sha512,
}

impl Algorithm {
    /// Every algorithm, for tests and tables.
    pub const ALL: [Algorithm; 3] = [Algorithm::Sha1, Algorithm::Sha256, Algorithm::Sha512];

    /// The name used in `otpauth://` URIs: `SHA1`, `SHA256`, `SHA512`.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Sha1 => "SHA1",
            Algorithm::Sha256 => "SHA256",
            Algorithm::Sha512 => "SHA512",
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Algorithm {
    type Err = ConfigError;

    /// Parses `SHA1`, `sha256`, `Sha512`, and the dashed forms `SHA-1`, `SHA-256`, `SHA-512`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        const NAMES: [(&str, Algorithm); 6] = [
            ("SHA1", Algorithm::Sha1),
            ("SHA-1", Algorithm::Sha1),
            ("SHA256", Algorithm::Sha256),
            ("SHA-256", Algorithm::Sha256),
            ("SHA512", Algorithm::Sha512),
            ("SHA-512", Algorithm::Sha512),
        ];
        NAMES
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(s))
            .map(|(_, a)| *a)
            .ok_or(ConfigError::UnknownAlgorithm)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_in_any_case() {
        for a in Algorithm::ALL {
            assert_eq!(a.as_str().parse::<Algorithm>().unwrap(), a);
            assert_eq!(a.as_str().to_lowercase().parse::<Algorithm>().unwrap(), a);
        }
        assert_eq!("sha-256".parse::<Algorithm>().unwrap(), Algorithm::Sha256);
        assert_eq!(
            "md5".parse::<Algorithm>(),
            Err(ConfigError::UnknownAlgorithm)
        );
        assert_eq!("".parse::<Algorithm>(), Err(ConfigError::UnknownAlgorithm));
    }
}
