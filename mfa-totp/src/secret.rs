//! Shared secrets: generated from a CSPRNG, imported from other services, read and
//! written as base32.

use std::fmt;

use mfa_core::{Randomness, SecretBytes};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::SecretError;

/// Bits in a generated secret unless asked otherwise (RFC 4226 recommends 160).
pub const DEFAULT_SECRET_BITS: usize = 160;
/// The fewest bits a generated secret may have (RFC 4226 section 4, R6).
pub const MIN_GENERATED_BITS: usize = 128;
/// Imported secrets shorter than this many bits are accepted but flagged short.
pub const SHORT_SECRET_BITS: usize = 128;
/// The longest secret accepted, in bytes.
pub const MAX_SECRET_BYTES: usize = 256;

const BASE32: base32::Alphabet = base32::Alphabet::Rfc4648 { padding: false };

/// An HOTP/TOTP shared secret.
///
/// Wiped from memory on drop and redacted in `Debug`. It has no `Display` and no
/// serialisation: the plain text comes only from the methods named `expose_*`.
///
/// ```
/// use mfa_totp::Secret;
///
/// // Lenient when importing: lowercase, spaces and any padding are fine.
/// let s = Secret::from_base32("jbsw y3dp ehpk 3pxp====").unwrap();
/// assert_eq!(s.expose_base32().as_str(), "JBSWY3DPEHPK3PXP");
/// assert!(s.is_short()); // 80 bits: accepted, but flagged
/// assert_eq!(format!("{s:?}"), "Secret(80 bits, short)");
/// ```
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Secret {
    bytes: Vec<u8>,
}

impl subtle::ConstantTimeEq for Secret {
    fn ct_eq(&self, other: &Self) -> subtle::Choice {
        // Slices of different lengths compare unequal at once; the length is not secret.
        self.bytes.as_slice().ct_eq(other.bytes.as_slice())
    }
}

/// Compared in constant time.
impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        subtle::ConstantTimeEq::ct_eq(self, other).into()
    }
}

impl Eq for Secret {}

impl Secret {
    /// A fresh 160-bit secret from `rng` (use the OS CSPRNG, `mfa_core::OsRandomness`).
    pub fn generate(rng: &dyn Randomness) -> Self {
        let mut bytes = vec![0u8; DEFAULT_SECRET_BITS / 8];
        rng.fill(&mut bytes);
        Secret { bytes }
    }

    /// A fresh secret of `bits` bits: at least 128, a multiple of 8.
    pub fn generate_bits(rng: &dyn Randomness, bits: usize) -> Result<Self, SecretError> {
        check_generated_bits(bits)?;
        let mut bytes = vec![0u8; bits / 8];
        rng.fill(&mut bytes);
        Ok(Secret { bytes })
    }

    /// Imports raw secret bytes from another service. Short secrets are accepted
    /// (see [`Secret::is_short`]); empty or oversized ones are refused.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, SecretError> {
        let secret = Secret { bytes };
        if secret.bytes.is_empty() {
            return Err(SecretError::Empty);
        }
        if secret.bytes.len() > MAX_SECRET_BYTES {
            return Err(SecretError::TooLong {
                max_bytes: MAX_SECRET_BYTES,
            });
        }
        Ok(secret)
    }

    /// Imports a base32 secret as users and other services write it: case, spaces,
    /// dashes and missing or extra `=` padding do not matter.
    pub fn from_base32(text: &str) -> Result<Self, SecretError> {
        if text.len() > MAX_SECRET_BYTES * 4 {
            return Err(SecretError::TooLong {
                max_bytes: MAX_SECRET_BYTES,
            });
        }
        let mut clean = Zeroizing::new(String::with_capacity(text.len()));
        for c in text.chars() {
            match c {
                ' ' | '\t' | '\n' | '\r' | '-' => {}
                'a'..='z' | 'A'..='Z' | '2'..='7' | '=' => clean.push(c.to_ascii_uppercase()),
                _ => return Err(SecretError::InvalidBase32),
            }
        }
        let unpadded = clean.trim_end_matches('=');
        // `=` only ever ends the text; 1, 3 or 6 characters past a group of 8 are no
        // whole number of bytes in base32.
        if unpadded.contains('=') || matches!(unpadded.len() % 8, 1 | 3 | 6) {
            return Err(SecretError::InvalidBase32);
        }
        if unpadded.is_empty() {
            return Err(SecretError::Empty);
        }
        let bytes = base32::decode(BASE32, unpadded).ok_or(SecretError::InvalidBase32)?;
        Self::from_bytes(bytes)
    }

    /// The canonical base32 text: upper case, no padding, no spaces (what
    /// `otpauth://` URIs carry). Keep it away from logs.
    pub fn expose_base32(&self) -> Zeroizing<String> {
        Zeroizing::new(base32::encode(BASE32, &self.bytes))
    }

    /// The base32 text in groups of four, as people type it by hand.
    pub fn expose_grouped_base32(&self) -> Zeroizing<String> {
        let plain = self.expose_base32();
        let mut grouped = Zeroizing::new(String::with_capacity(plain.len() + plain.len() / 4));
        for (i, c) in plain.chars().enumerate() {
            if i > 0 && i % 4 == 0 {
                grouped.push(' ');
            }
            grouped.push(c);
        }
        grouped
    }

    /// The raw bytes, for the code that computes codes.
    pub fn expose_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The size in bits.
    pub fn bits(&self) -> usize {
        self.bytes.len() * 8
    }

    /// Whether the secret is shorter than 128 bits: accepted when imported, never generated.
    pub fn is_short(&self) -> bool {
        self.bits() < SHORT_SECRET_BITS
    }

    /// The secret in the core's storage form.
    pub fn to_secret_bytes(&self) -> SecretBytes {
        SecretBytes::new(self.bytes.clone())
    }

    /// Reads a secret back from the core's storage form.
    pub fn from_secret_bytes(stored: &SecretBytes) -> Result<Self, SecretError> {
        Self::from_bytes(stored.expose().to_vec())
    }
}

pub(crate) fn check_generated_bits(bits: usize) -> Result<(), SecretError> {
    if bits < MIN_GENERATED_BITS {
        return Err(SecretError::TooShort {
            min_bits: MIN_GENERATED_BITS,
        });
    }
    if bits % 8 != 0 {
        return Err(SecretError::NotWholeBytes);
    }
    if bits / 8 > MAX_SECRET_BYTES {
        return Err(SecretError::TooLong {
            max_bytes: MAX_SECRET_BYTES,
        });
    }
    Ok(())
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_short() {
            write!(f, "Secret({} bits, short)", self.bits())
        } else {
            write!(f, "Secret({} bits)", self.bits())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mfa_core::{OsRandomness, SeededRandomness};
    use proptest::prelude::*;

    #[test]
    fn generated_secrets_are_160_bits_by_default_and_never_below_128() {
        let a = Secret::generate(&OsRandomness);
        let b = Secret::generate(&OsRandomness);
        assert_eq!(a.bits(), 160);
        assert!(!a.is_short());
        assert_ne!(a, b);
        assert_eq!(
            Secret::generate_bits(&OsRandomness, 256).unwrap().bits(),
            256
        );
        assert_eq!(
            Secret::generate_bits(&OsRandomness, 128).unwrap().bits(),
            128
        );
        assert_eq!(
            Secret::generate_bits(&OsRandomness, 80),
            Err(SecretError::TooShort { min_bits: 128 })
        );
        assert_eq!(
            Secret::generate_bits(&OsRandomness, 130),
            Err(SecretError::NotWholeBytes)
        );
    }

    #[test]
    fn generation_uses_the_given_randomness() {
        let a = Secret::generate(&SeededRandomness::new(7));
        let b = Secret::generate(&SeededRandomness::new(7));
        assert_eq!(a, b);
    }

    #[test]
    fn short_imports_are_accepted_and_flagged() {
        let s = Secret::from_bytes(vec![1; 10]).unwrap();
        assert!(s.is_short());
        assert_eq!(s.bits(), 80);
        assert_eq!(Secret::from_bytes(vec![]), Err(SecretError::Empty));
        assert!(matches!(
            Secret::from_bytes(vec![0; MAX_SECRET_BYTES + 1]),
            Err(SecretError::TooLong { .. })
        ));
    }

    #[test]
    fn base32_decoding_is_lenient() {
        let canonical = Secret::from_base32("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ").unwrap();
        assert_eq!(canonical.expose_bytes(), b"12345678901234567890");
        for variant in [
            "gezdgnbvgy3tqojqgezdgnbvgy3tqojq",
            "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ",
            "gezd-gnbv-gy3t-qojq-gezd-gnbv-gy3t-qojq",
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ====",
            " GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n",
        ] {
            assert_eq!(
                Secret::from_base32(variant).unwrap(),
                canonical,
                "{variant:?}"
            );
        }
        // 128 bits: canonical text has 26 characters; padding present or missing.
        let s = Secret::from_bytes(vec![0xAB; 16]).unwrap();
        let text = s.expose_base32();
        assert_eq!(text.len(), 26);
        assert_eq!(
            Secret::from_base32(&format!("{}======", text.as_str())).unwrap(),
            s
        );
        assert_eq!(
            Secret::from_base32(&format!("{}==", text.as_str())).unwrap(),
            s
        );
    }

    #[test]
    fn malformed_base32_gets_a_typed_error() {
        for bad in [
            "GEZ1",
            "GEZDGNBV=GY3TQOJQ",
            "A",
            "ABC",
            "ABCDEF",
            "GEZDÄ",
            "%%%",
        ] {
            assert_eq!(
                Secret::from_base32(bad),
                Err(SecretError::InvalidBase32),
                "{bad:?}"
            );
        }
        assert_eq!(Secret::from_base32(""), Err(SecretError::Empty));
        assert_eq!(Secret::from_base32("  ===="), Err(SecretError::Empty));
        assert!(Secret::from_base32(&"A".repeat(100_000)).is_err());
    }

    #[test]
    fn encoding_is_canonical_and_grouped_for_typing() {
        let s = Secret::from_bytes(b"12345678901234567890".to_vec()).unwrap();
        assert_eq!(
            s.expose_base32().as_str(),
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
        );
        assert_eq!(
            s.expose_grouped_base32().as_str(),
            "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ"
        );
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let s = Secret::from_bytes(b"12345678901234567890".to_vec()).unwrap();
        let shown = format!("{s:?} {:?}", s.to_secret_bytes());
        assert_eq!(format!("{s:?}"), "Secret(160 bits)");
        assert!(!shown.contains("GEZD"));
        assert!(!shown.contains("1234"));
        assert!(!shown.contains("49, 50"));
    }

    proptest! {
        #[test]
        fn base32_round_trips(bytes in proptest::collection::vec(any::<u8>(), 1..100), lower in any::<bool>()) {
            let s = Secret::from_bytes(bytes.clone()).unwrap();
            let text = s.expose_base32();
            let text = if lower { text.to_lowercase() } else { text.to_string() };
            let back = Secret::from_base32(&text).unwrap();
            prop_assert_eq!(back.expose_bytes(), &bytes[..]);
        }

        #[test]
        fn any_text_decodes_or_errs_without_panic(text in ".{0,80}") {
            let _ = Secret::from_base32(&text);
        }
    }
}
