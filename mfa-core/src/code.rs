//! Codes and secrets: [`OneTimeCode`], random code generation, keyed hashes and
//! redacted byte secrets.

use std::fmt;
use std::sync::Mutex;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::InputError;
use crate::keyed::KeyedSha256;

/// The fewest digits a code may have.
pub const MIN_CODE_DIGITS: usize = 4;
/// The most digits a code may have.
pub const MAX_CODE_DIGITS: usize = 10;
/// Input longer than this is refused before it is looked at.
const MAX_CODE_INPUT: usize = 64;

/// A one-time code as typed by a user or generated for one: digits only.
///
/// Parsing drops spaces and dashes (`"123 456"`, `"123-456"`), refuses anything
/// else, and checks the length. The digits are wiped from memory on drop and
/// never shown by `Debug`.
///
/// ```
/// use mfa_core::OneTimeCode;
///
/// let code = OneTimeCode::parse("123 456").unwrap();
/// assert_eq!(code.len(), 6);
/// assert_eq!(format!("{code:?}"), "OneTimeCode(******)");
/// assert!(OneTimeCode::parse("12a456").is_err());
/// ```
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct OneTimeCode {
    digits: [u8; MAX_CODE_DIGITS],
    len: u8,
}

impl OneTimeCode {
    /// Parses a code of 4 to 10 digits.
    pub fn parse(input: &str) -> Result<Self, InputError> {
        let code = Self::parse_any(input)?;
        if code.len() < MIN_CODE_DIGITS {
            return Err(InputError::CodeLength {
                expected: MIN_CODE_DIGITS,
            });
        }
        Ok(code)
    }

    /// Parses a code that must have exactly `digits` digits.
    pub fn parse_exact(input: &str, digits: usize) -> Result<Self, InputError> {
        let code = Self::parse_any(input)?;
        if code.len() != digits {
            return Err(InputError::CodeLength { expected: digits });
        }
        Ok(code)
    }

    fn parse_any(input: &str) -> Result<Self, InputError> {
        if input.len() > MAX_CODE_INPUT {
            return Err(InputError::CodeLength {
                expected: MAX_CODE_DIGITS,
            });
        }
        let mut code = OneTimeCode {
            digits: [0; MAX_CODE_DIGITS],
            len: 0,
        };
        for c in input.trim().chars() {
            match c {
                ' ' | '-' => continue,
                '0'..='9' => {
                    if usize::from(code.len) == MAX_CODE_DIGITS {
                        return Err(InputError::CodeLength {
                            expected: MAX_CODE_DIGITS,
                        });
                    }
                    code.digits[usize::from(code.len)] = c as u8;
                    code.len += 1;
                }
                _ => return Err(InputError::CodeNotDigits),
            }
        }
        if code.len == 0 {
            return Err(InputError::CodeLength {
                expected: MIN_CODE_DIGITS,
            });
        }
        Ok(code)
    }

    /// A code from a number, left-padded with zeros to `digits` digits.
    ///
    /// `value` must be below `10^digits`; higher digits are dropped.
    pub fn from_number(value: u64, digits: usize) -> Self {
        let digits = digits.clamp(1, MAX_CODE_DIGITS);
        let mut code = OneTimeCode {
            digits: [0; MAX_CODE_DIGITS],
            len: digits as u8,
        };
        let mut v = value;
        for i in (0..digits).rev() {
            code.digits[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
        code
    }

    /// The number of digits.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Always false: a parsed code has at least one digit.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The digits, for a delivery backend to send. Keep it out of logs.
    pub fn expose(&self) -> &str {
        // Only ASCII digits are ever stored.
        std::str::from_utf8(&self.digits[..self.len()]).unwrap_or("")
    }

    /// The digits as bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.digits[..self.len()]
    }
}

impl ConstantTimeEq for OneTimeCode {
    fn ct_eq(&self, other: &Self) -> subtle::Choice {
        self.len.ct_eq(&other.len) & self.digits.ct_eq(&other.digits)
    }
}

impl PartialEq for OneTimeCode {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other).into()
    }
}

impl Eq for OneTimeCode {}

impl fmt::Debug for OneTimeCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OneTimeCode({})", "*".repeat(self.len()))
    }
}

/// A source of cryptographically secure random bytes.
pub trait Randomness: Send + Sync + fmt::Debug {
    /// Fills `dest` with random bytes.
    fn fill(&self, dest: &mut [u8]);
}

/// The operating system's CSPRNG.
#[derive(Debug, Clone, Copy, Default)]
pub struct OsRandomness;

impl Randomness for OsRandomness {
    fn fill(&self, dest: &mut [u8]) {
        if let Err(e) = getrandom::fill(dest) {
            // Without an OS random source no code can be made safely; refusing to go on is
            // the only sound answer, as rand's OsRng does.
            panic!("the operating system's random source failed: {e}");
        }
    }
}

/// The default: `rand`'s thread-local generator, ChaCha12 seeded from the operating
/// system and reseeded from it after every 64 KiB of output.
///
/// Drawing from the OS on every request costs a system call (about 370 ns here, a
/// fifth of a whole verification), so codes, ids and proofs come from this CSPRNG
/// instead. Like every user-space generator it is not reseeded by `fork`: a server
/// that forks worker processes after drawing should use [`OsRandomness`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ThreadRandomness;

impl Randomness for ThreadRandomness {
    fn fill(&self, dest: &mut [u8]) {
        rand::Rng::fill_bytes(&mut rand::rng(), dest);
    }
}

/// Deterministic bytes for tests and simulations: never use it for real codes.
///
/// An HMAC-SHA-256 counter stream over the seed, so runs repeat exactly.
#[derive(Debug)]
pub struct SeededRandomness {
    state: Mutex<(u64, [u8; 32])>,
}

impl SeededRandomness {
    /// A stream determined by `seed`.
    pub fn new(seed: u64) -> Self {
        SeededRandomness {
            state: Mutex::new((
                0,
                CodeKey::from_bytes([0; 32])
                    .hash(b"seed", &seed.to_le_bytes())
                    .0,
            )),
        }
    }
}

impl Randomness for SeededRandomness {
    fn fill(&self, dest: &mut [u8]) {
        let mut state = crate::sync::lock(&self.state);
        for chunk in dest.chunks_mut(32) {
            let (counter, key) = &mut *state;
            let mut mac =
                <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
            mac.update(&counter.to_le_bytes());
            let block = mac.finalize().into_bytes();
            chunk.copy_from_slice(&block[..chunk.len()]);
            *counter += 1;
        }
    }
}

/// A uniformly random number below `bound` (rejection sampling: no modulo bias).
pub fn random_below(rng: &dyn Randomness, bound: u64) -> u64 {
    debug_assert!(bound > 0);
    let bound = bound.max(1);
    // The largest multiple of `bound` that fits; draws at or above it are redrawn.
    let zone = u64::MAX - (u64::MAX % bound);
    loop {
        let mut bytes = [0u8; 8];
        rng.fill(&mut bytes);
        let x = u64::from_le_bytes(bytes);
        if x < zone {
            return x % bound;
        }
    }
}

/// A random numeric code of `digits` digits (clamped to 4..=10).
///
/// ```
/// use mfa_core::{OsRandomness, random_code};
///
/// let code = random_code(&OsRandomness, 6);
/// assert_eq!(code.len(), 6);
/// ```
pub fn random_code(rng: &dyn Randomness, digits: usize) -> OneTimeCode {
    let digits = digits.clamp(MIN_CODE_DIGITS, MAX_CODE_DIGITS);
    let bound = 10u64.pow(digits as u32);
    OneTimeCode::from_number(random_below(rng, bound), digits)
}

/// The server key under which codes are stored as keyed hashes (HMAC-SHA-256).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
///
/// The key is kept as its two padded HMAC states, computed once, so a hash costs two
/// SHA-256 compressions for a short message rather than four; they are wiped on drop.
pub struct CodeKey(KeyedSha256);

impl CodeKey {
    /// A key from 32 bytes kept by the application (so hashes survive restarts).
    pub fn from_bytes(mut bytes: [u8; 32]) -> Self {
        let key = CodeKey(KeyedSha256::new(&bytes));
        bytes.zeroize();
        key
    }

    /// A fresh random key.
    pub fn generate(rng: &dyn Randomness) -> Self {
        let mut bytes = [0u8; 32];
        rng.fill(&mut bytes);
        CodeKey::from_bytes(bytes)
    }

    /// The keyed hash of `secret` bound to `context` (a challenge id, a user):
    /// HMAC-SHA-256 of the context's length (8 bytes, big-endian), the context and
    /// the secret.
    pub fn hash(&self, context: &[u8], secret: &[u8]) -> CodeHash {
        self.hash_parts([context, &[]], secret)
    }

    /// [`CodeKey::hash`] of the context `first` followed by `second`, the same hash as
    /// of the two joined, without joining them on every request.
    pub(crate) fn hash_parts(&self, [first, second]: [&[u8]; 2], secret: &[u8]) -> CodeHash {
        let len = ((first.len() + second.len()) as u64).to_be_bytes();
        CodeHash(self.0.mac(&[&len, first, second, secret]))
    }
}

impl fmt::Debug for CodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CodeKey(..)")
    }
}

/// A keyed hash of a code: what stores keep instead of the code.
#[derive(Clone, Copy)]
pub struct CodeHash(pub [u8; 32]);

impl CodeHash {
    /// Constant-time equality.
    pub fn matches(&self, other: &CodeHash) -> bool {
        // Word by word: `subtle` hides each comparison from the optimiser with a
        // barrier, so four words cost four barriers where 32 bytes cost 32.
        let words = |h: &CodeHash| -> [u64; 4] {
            std::array::from_fn(|i| {
                let mut w = [0u8; 8];
                w.copy_from_slice(&h.0[i * 8..i * 8 + 8]);
                u64::from_le_bytes(w)
            })
        };
        words(self).ct_eq(&words(other)).into()
    }
}

impl PartialEq for CodeHash {
    fn eq(&self, other: &Self) -> bool {
        self.matches(other)
    }
}

impl Eq for CodeHash {}

impl fmt::Debug for CodeHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CodeHash(..)")
    }
}

/// Secret bytes (a TOTP key): wiped on drop, redacted in `Debug`.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    /// Wraps `bytes`.
    pub fn new(bytes: Vec<u8>) -> Self {
        SecretBytes(bytes)
    }

    /// The secret, for the code that must use it.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// The number of bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes({} bytes)", self.0.len())
    }
}

/// The alphabet of recovery codes: Crockford's base 32 (no I, L, O, U).
const RECOVERY_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Characters in a recovery code: 24 × 5 bits = 120 bits, above the 112 bits OWASP
/// ASVS 5.0 (6.5.2) asks of codes kept under a fast keyed hash rather than a
/// password hash.
pub const RECOVERY_CODE_CHARS: usize = 24;

/// A single-use recovery code, shown to the user once as six groups of four
/// (`XXXX-XXXX-XXXX-XXXX-XXXX-XXXX`, 120 bits).
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct RecoveryCode(String);

impl RecoveryCode {
    /// A fresh random code.
    pub fn generate(rng: &dyn Randomness) -> Self {
        let mut s = String::with_capacity(RECOVERY_CODE_CHARS);
        for _ in 0..RECOVERY_CODE_CHARS {
            s.push(RECOVERY_ALPHABET[random_below(rng, 32) as usize] as char);
        }
        RecoveryCode(s)
    }

    /// Parses a typed recovery code: case, dashes and spaces are ignored, and the
    /// look-alikes O, I and L read as 0, 1 and 1.
    pub fn parse(input: &str) -> Result<Self, InputError> {
        if input.len() > MAX_CODE_INPUT {
            return Err(InputError::InvalidRecoveryCode);
        }
        let mut s = Zeroizing::new(String::with_capacity(RECOVERY_CODE_CHARS));
        for c in input.trim().chars() {
            let c = match c.to_ascii_uppercase() {
                ' ' | '-' => continue,
                'O' => '0',
                'I' | 'L' => '1',
                c if c.is_ascii() && RECOVERY_ALPHABET.contains(&(c as u8)) => c,
                _ => return Err(InputError::InvalidRecoveryCode),
            };
            s.push(c);
        }
        if s.len() != RECOVERY_CODE_CHARS {
            return Err(InputError::InvalidRecoveryCode);
        }
        Ok(RecoveryCode(s.to_string()))
    }

    /// The code in its display form, `XXXX-XXXX-XXXX-XXXX-XXXX-XXXX`.
    pub fn expose(&self) -> String {
        let groups: Vec<&str> = (0..RECOVERY_CODE_CHARS)
            .step_by(4)
            .map(|i| &self.0[i..i + 4])
            .collect();
        groups.join("-")
    }

    /// The canonical characters, for hashing.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryCode(****-****-..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_accept_spaces_and_dashes_only() {
        assert_eq!(OneTimeCode::parse(" 123-456 ").unwrap().expose(), "123456");
        assert_eq!(OneTimeCode::parse("12 34").unwrap().len(), 4);
        assert_eq!(OneTimeCode::parse("12a456"), Err(InputError::CodeNotDigits));
        assert_eq!(OneTimeCode::parse("١٢٣٤٥٦"), Err(InputError::CodeNotDigits));
        assert!(matches!(
            OneTimeCode::parse("123"),
            Err(InputError::CodeLength { .. })
        ));
        assert!(matches!(
            OneTimeCode::parse(""),
            Err(InputError::CodeLength { .. })
        ));
        assert!(matches!(
            OneTimeCode::parse("12345678901"),
            Err(InputError::CodeLength { .. })
        ));
        assert!(OneTimeCode::parse(&"1".repeat(1 << 20)).is_err());
        assert_eq!(
            OneTimeCode::parse_exact("12345", 6),
            Err(InputError::CodeLength { expected: 6 })
        );
    }

    #[test]
    fn codes_compare_by_value_and_length() {
        let a = OneTimeCode::parse("012345").unwrap();
        assert_eq!(a, OneTimeCode::from_number(12345, 6));
        assert_ne!(a, OneTimeCode::parse("01234").unwrap());
        assert_ne!(a, OneTimeCode::parse("012346").unwrap());
    }

    #[test]
    fn random_codes_have_requested_length_with_leading_zeros_kept() {
        let rng = SeededRandomness::new(7);
        for digits in 4..=10 {
            for _ in 0..50 {
                let code = random_code(&rng, digits);
                assert_eq!(code.len(), digits);
                assert!(code.expose().bytes().all(|b| b.is_ascii_digit()));
            }
        }
    }

    #[test]
    fn random_code_digits_are_uniform() {
        // 60,000 six-digit codes: 360,000 digits, 36,000 expected per value. A chi-squared
        // statistic above 27.88 (9 degrees of freedom, p = 0.001) means a biased generator.
        let rng = OsRandomness;
        let mut counts = [0u64; 10];
        for _ in 0..60_000 {
            for b in random_code(&rng, 6).as_bytes() {
                counts[usize::from(b - b'0')] += 1;
            }
        }
        let expected = 36_000.0;
        let chi2: f64 = counts
            .iter()
            .map(|&c| (c as f64 - expected).powi(2) / expected)
            .sum();
        assert!(chi2 < 27.88, "digit counts {counts:?}, chi2 {chi2}");
    }

    #[test]
    fn random_below_rejects_the_biased_zone() {
        struct Fixed(Mutex<Vec<u64>>);
        impl fmt::Debug for Fixed {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("Fixed")
            }
        }
        impl Randomness for Fixed {
            fn fill(&self, dest: &mut [u8]) {
                let v = self.0.lock().unwrap().remove(0);
                dest.copy_from_slice(&v.to_le_bytes());
            }
        }
        // u64::MAX is in the zone that would bias the result: it must be redrawn.
        let rng = Fixed(Mutex::new(vec![u64::MAX, 42]));
        assert_eq!(random_below(&rng, 1_000_000), 42);
    }

    #[test]
    fn keyed_hashes_depend_on_key_context_and_code() {
        let k1 = CodeKey::from_bytes([1; 32]);
        let k2 = CodeKey::from_bytes([2; 32]);
        let h = k1.hash(b"challenge-1", b"123456");
        assert_eq!(h, k1.hash(b"challenge-1", b"123456"));
        assert_ne!(h, k2.hash(b"challenge-1", b"123456"));
        assert_ne!(h, k1.hash(b"challenge-2", b"123456"));
        assert_ne!(h, k1.hash(b"challenge-1", b"123457"));
    }

    #[test]
    fn hashes_differing_in_any_one_bit_do_not_match() {
        let h = CodeHash(std::array::from_fn(|i| (i as u8).wrapping_mul(11)));
        assert!(h.matches(&h.clone()));
        for byte in 0..32 {
            for bit in 0..8 {
                let mut other = h;
                other.0[byte] ^= 1 << bit;
                assert!(!h.matches(&other), "byte {byte} bit {bit}");
            }
        }
    }

    #[test]
    fn recovery_codes_round_trip_and_forgive_case_and_look_alikes() {
        let rng = OsRandomness;
        let code = RecoveryCode::generate(&rng);
        let shown = code.expose();
        assert_eq!(shown.len(), 29, "six groups of four");
        assert_eq!(RecoveryCode::parse(&shown.to_lowercase()).unwrap(), code);
        assert_eq!(
            RecoveryCode::parse("abcd-efgh-oijk-mnpq-rstv-wxyz").unwrap(),
            RecoveryCode::parse("ABCD EFGH 01JK MNPQ RSTV WXYZ").unwrap()
        );
        assert!(
            RecoveryCode::parse("abcde-fghjk").is_err(),
            "a v1 code is too short"
        );
        assert!(RecoveryCode::parse("abcd-efgh-oijk-mnpq-rstv-wxyu").is_err());
        assert_eq!(format!("{code:?}"), "RecoveryCode(****-****-..)");
    }

    #[test]
    fn secrets_are_redacted() {
        let s = SecretBytes::new(b"very secret".to_vec());
        assert_eq!(format!("{s:?}"), "SecretBytes(11 bytes)");
        assert_eq!(format!("{:?}", CodeKey::from_bytes([9; 32])), "CodeKey(..)");
    }

    #[test]
    fn code_key_hash_is_hmac_sha256_of_length_context_and_secret() {
        // Hashes kept by earlier versions stay valid: the framing is fixed.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&[9; 32]).expect("any key");
        mac.update(&5u64.to_be_bytes());
        mac.update(b"chall");
        mac.update(b"123456");
        let expected: [u8; 32] = mac.finalize().into_bytes().into();
        assert_eq!(
            CodeKey::from_bytes([9; 32]).hash(b"chall", b"123456").0,
            expected
        );
        let key = CodeKey::from_bytes([9; 32]);
        assert_eq!(key.hash_parts([b"ch", b"all"], b"123456").0, expected);
    }
}
