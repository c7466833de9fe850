//! Seed files of OATH hardware tokens, as vendors ship them with a box of tokens and
//! as privacyIDEA imports them: one token per line, comma-separated.
//!
//! ```text
//! # serial, secret, type, digits, period (TOTP) or counter (HOTP), algorithm
//! OATH00000001, 3132333435363738393031323334353637383930, totp, 6, 30
//! OATH00000002, 3132333435363738393031323334353637383930, hotp, 8, 0, sha256
//! OATH00000003, base32:GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ
//! ```
//!
//! The secret is hex (or base32 after `base32:`); the other columns are optional:
//! `totp`, 6 digits, 30 s (or counter 0 for `hotp`) and SHA1. A first line whose
//! first column is `serial` is a header; lines starting with `#` and blank lines are
//! skipped. Every bad line gets a typed error naming its line and what is wrong,
//! never the secret; the good lines are still read.

use std::collections::BTreeSet;
use std::fmt;

use mfa_core::{AppCredential, OathKind, TokenImport, TokenSerial};

use crate::error::{ConfigError, SecretError};
use crate::{Algorithm, Hotp, Secret, Totp};

/// The largest seed file read (4 MiB: some 40,000 lines).
pub const MAX_SEED_FILE_BYTES: usize = 4 << 20;
/// The most tokens one file may hold.
pub const MAX_SEED_TOKENS: usize = 10_000;
/// The most line errors kept; past it reading stops ([`SeedFile::truncated`]).
pub const MAX_SEED_ERRORS: usize = 1_000;
/// The shortest secret accepted: RFC 4226 (R6) asks at least 128 bits.
pub const MIN_SEED_BITS: usize = 128;

/// Whether a token counts time steps or button presses, with its starting point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// RFC 6238: a code per time step.
    Totp {
        /// Seconds per step.
        period: u64,
    },
    /// RFC 4226: a code per button press.
    Hotp {
        /// The counter the token's next code is for.
        counter: u64,
    },
}

/// One token read from a seed file. `Debug` never shows the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSeed {
    /// The serial printed on the token.
    pub serial: TokenSerial,
    /// The shared secret.
    pub secret: Secret,
    /// TOTP or HOTP.
    pub kind: TokenKind,
    /// The hash.
    pub algorithm: Algorithm,
    /// Digits per code.
    pub digits: u8,
    /// The line of the file it came from.
    pub line: u64,
}

impl TokenSeed {
    /// The settings text [`crate::OathTokens`] reads: `TOTP:SHA1:6:30` or
    /// `HOTP:SHA1:6:0` (the starting counter).
    pub fn parameters(&self) -> String {
        match self.kind {
            TokenKind::Totp { period } => {
                format!("TOTP:{}:{}:{period}", self.algorithm, self.digits)
            }
            TokenKind::Hotp { counter } => {
                format!("HOTP:{}:{}:{counter}", self.algorithm, self.digits)
            }
        }
    }

    /// The credential [`crate::OathTokens`] checks codes with; stores seal it as
    /// they seal app secrets.
    pub fn credential(&self) -> AppCredential {
        AppCredential {
            secret: self.secret.to_secret_bytes(),
            parameters: self.parameters(),
        }
    }

    /// The token as `Mfa::import_hardware_tokens` takes it into the inventory.
    pub fn import(&self) -> TokenImport {
        TokenImport {
            serial: self.serial.clone(),
            kind: match self.kind {
                TokenKind::Totp { .. } => OathKind::Totp,
                TokenKind::Hotp { .. } => OathKind::Hotp,
            },
            credential: self.credential(),
        }
    }
}

/// What is wrong with one line. Never holds the line's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SeedProblem {
    /// Not CSV this reader can take: bad quoting or not UTF-8.
    #[error("the line cannot be read as CSV text")]
    Unreadable,
    /// A column that must be there is missing.
    #[error("the {0} column is missing")]
    Missing(&'static str),
    /// More than six columns.
    #[error("more columns than serial, secret, type, digits, period or counter, algorithm")]
    TooManyColumns,
    /// The serial is not 1 to 64 letters, digits, `-`, `_`, `.`, `:`.
    #[error("the serial is not 1 to 64 letters, digits, '-', '_', '.' or ':'")]
    Serial,
    /// An earlier line has this serial.
    #[error("an earlier line has the same serial")]
    DuplicateSerial,
    /// The secret is not an even number of hex digits.
    #[error("the secret is not hex (or base32 after 'base32:')")]
    SecretNotHex,
    /// The secret cannot be used.
    #[error("the secret cannot be used: {0}")]
    Secret(SecretError),
    /// The secret is shorter than RFC 4226 allows.
    #[error("the secret has fewer than {min_bits} bits")]
    SecretTooShort {
        /// The least allowed.
        min_bits: usize,
    },
    /// The type is neither `totp` nor `hotp`.
    #[error("the type is neither totp nor hotp")]
    Type,
    /// The period or counter is not a number.
    #[error("the period or counter is not a whole number")]
    Number,
    /// Digits, period or algorithm out of range.
    #[error("the settings cannot be used: {0}")]
    Settings(ConfigError),
}

/// One bad line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("seed file line {line}: {problem}")]
pub struct SeedLineError {
    /// The line number, from 1.
    pub line: u64,
    /// What is wrong.
    pub problem: SeedProblem,
}

/// A seed file that is refused whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SeedFileError {
    /// Larger than [`MAX_SEED_FILE_BYTES`].
    #[error("a seed file has at most {max_bytes} bytes")]
    TooLarge {
        /// The limit.
        max_bytes: usize,
    },
    /// More than [`MAX_SEED_TOKENS`] tokens.
    #[error("a seed file has at most {max} tokens")]
    TooManyTokens {
        /// The limit.
        max: usize,
    },
}

/// What a seed file held: the good tokens and an error for each bad line.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SeedFile {
    /// The tokens, in file order.
    pub tokens: Vec<TokenSeed>,
    /// The bad lines, in file order.
    pub errors: Vec<SeedLineError>,
    /// Whether reading stopped at [`MAX_SEED_ERRORS`] errors.
    pub truncated: bool,
}

impl fmt::Debug for SeedFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SeedFile")
            .field("tokens", &self.tokens.len())
            .field("errors", &self.errors)
            .field("truncated", &self.truncated)
            .finish()
    }
}

/// Reads a seed file (any bytes: a typed error per bad line, never a panic).
///
/// ```
/// use mfa_totp::{TokenKind, parse_seed_file};
///
/// let file = parse_seed_file(b"serial,secret,type\nT1,3132333435363738393031323334353637383930,hotp\nT2,zz\n").unwrap();
/// assert_eq!(file.tokens.len(), 1);
/// assert_eq!(file.tokens[0].kind, TokenKind::Hotp { counter: 0 });
/// assert_eq!(file.errors[0].line, 3);
/// ```
pub fn parse_seed_file(bytes: &[u8]) -> Result<SeedFile, SeedFileError> {
    if bytes.len() > MAX_SEED_FILE_BYTES {
        return Err(SeedFileError::TooLarge {
            max_bytes: MAX_SEED_FILE_BYTES,
        });
    }
    let mut file = SeedFile::default();
    let mut serials = BTreeSet::new();
    let mut record = csv::ByteRecord::new();
    let mut first = true;
    // One line at a time: exact line numbers, and a bad line cannot swallow the next
    // (a token's line never holds a line break, even quoted).
    for (index, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = index as u64 + 1;
        let trimmed = raw.trim_ascii();
        if trimmed.is_empty() || trimmed.starts_with(b"#") {
            continue;
        }
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .trim(csv::Trim::All)
            .buffer_capacity(256)
            .from_reader(trimmed);
        let parsed = match reader.read_byte_record(&mut record) {
            Ok(true) => {
                let is_header = first
                    && record
                        .get(0)
                        .is_some_and(|c| c.eq_ignore_ascii_case(b"serial"));
                first = false;
                if is_header {
                    continue;
                }
                parse_line(&record, line, &serials)
            }
            Ok(false) | Err(_) => Err(SeedProblem::Unreadable),
        };
        first = false;
        match parsed {
            Ok(token) => {
                if file.tokens.len() >= MAX_SEED_TOKENS {
                    return Err(SeedFileError::TooManyTokens {
                        max: MAX_SEED_TOKENS,
                    });
                }
                serials.insert(token.serial.clone());
                file.tokens.push(token);
            }
            Err(problem) => {
                file.errors.push(SeedLineError { line, problem });
                if file.errors.len() >= MAX_SEED_ERRORS {
                    file.truncated = true;
                    break;
                }
            }
        }
    }
    Ok(file)
}

fn text(field: &[u8]) -> Result<&str, SeedProblem> {
    std::str::from_utf8(field).map_err(|_| SeedProblem::Unreadable)
}

fn parse_line(
    record: &csv::ByteRecord,
    line: u64,
    seen: &BTreeSet<TokenSerial>,
) -> Result<TokenSeed, SeedProblem> {
    if record.len() > 6 {
        return Err(SeedProblem::TooManyColumns);
    }
    let column = |i: usize| -> Result<Option<&str>, SeedProblem> {
        match record.get(i) {
            None => Ok(None),
            Some([]) => Ok(None),
            Some(field) => text(field).map(Some),
        }
    };
    let serial = column(0)?.ok_or(SeedProblem::Missing("serial"))?;
    let serial = TokenSerial::parse(serial).map_err(|_| SeedProblem::Serial)?;
    if seen.contains(&serial) {
        return Err(SeedProblem::DuplicateSerial);
    }
    let secret = parse_secret(column(1)?.ok_or(SeedProblem::Missing("secret"))?)?;
    if secret.bits() < MIN_SEED_BITS {
        return Err(SeedProblem::SecretTooShort {
            min_bits: MIN_SEED_BITS,
        });
    }
    let hotp = match column(2)? {
        None => false,
        Some(t) if t.eq_ignore_ascii_case("totp") => false,
        Some(t) if t.eq_ignore_ascii_case("hotp") => true,
        Some(_) => return Err(SeedProblem::Type),
    };
    let digits = match column(3)? {
        None => 6,
        Some(d) => d
            .parse::<u8>()
            .map_err(|_| SeedProblem::Settings(ConfigError::Digits { min: 6, max: 10 }))?,
    };
    let number = match column(4)? {
        None => None,
        Some(n) => Some(n.parse::<u64>().map_err(|_| SeedProblem::Number)?),
    };
    let algorithm: Algorithm = match column(5)? {
        None => Algorithm::Sha1,
        Some(a) => a.parse().map_err(SeedProblem::Settings)?,
    };
    let kind = if hotp {
        Hotp::new(algorithm, digits).map_err(SeedProblem::Settings)?;
        TokenKind::Hotp {
            counter: number.unwrap_or(0),
        }
    } else {
        let period = number.unwrap_or(30);
        Totp::new(algorithm, digits, period).map_err(SeedProblem::Settings)?;
        TokenKind::Totp { period }
    };
    Ok(TokenSeed {
        serial,
        secret,
        kind,
        algorithm,
        digits,
        line,
    })
}

fn parse_secret(text: &str) -> Result<Secret, SeedProblem> {
    if let Some(b32) = text
        .strip_prefix("base32:")
        .or_else(|| text.strip_prefix("BASE32:"))
    {
        return Secret::from_base32(b32).map_err(SeedProblem::Secret);
    }
    if text.len() % 2 != 0 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(SeedProblem::SecretNotHex);
    }
    if text.len() / 2 > crate::MAX_SECRET_BYTES {
        return Err(SeedProblem::Secret(SecretError::TooLong {
            max_bytes: crate::MAX_SECRET_BYTES,
        }));
    }
    let nibble = |b: u8| match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        _ => b - b'A' + 10,
    };
    // Written out: eight lines, and no hex crate for them.
    let bytes = text
        .as_bytes()
        .chunks_exact(2)
        .map(|p| nibble(p[0]) << 4 | nibble(p[1]))
        .collect();
    Secret::from_bytes(bytes).map_err(SeedProblem::Secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC: &str = "3132333435363738393031323334353637383930";

    fn one(line: &str) -> Result<TokenSeed, SeedProblem> {
        let file = parse_seed_file(line.as_bytes()).unwrap();
        match (file.tokens.first(), file.errors.first()) {
            (Some(t), None) => Ok(t.clone()),
            (None, Some(e)) => Err(e.problem.clone()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn defaults_and_every_column() {
        let t = one(&format!("OATH1,{RFC}")).unwrap();
        assert_eq!(t.kind, TokenKind::Totp { period: 30 });
        assert_eq!((t.algorithm, t.digits), (Algorithm::Sha1, 6));
        assert_eq!(t.secret.expose_bytes(), b"12345678901234567890");
        assert_eq!(t.parameters(), "TOTP:SHA1:6:30");
        let t = one(&format!("\"OATH2\" , {RFC} , HOTP , 8 , 41 , sha256 ")).unwrap();
        assert_eq!(t.kind, TokenKind::Hotp { counter: 41 });
        assert_eq!(t.parameters(), "HOTP:SHA256:8:41");
        let t = one("T3,base32:GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ,totp,6,60").unwrap();
        assert_eq!(t.secret.expose_bytes(), b"12345678901234567890");
        assert_eq!(t.kind, TokenKind::Totp { period: 60 });
    }

    #[test]
    fn each_bad_line_gets_its_own_typed_error() {
        let text = format!(
            "serial,secret,type,digits,period,algorithm\n\
             # a comment\n\
             \n\
             GOOD1,{RFC}\n\
             ,{RFC}\n\
             GOOD1,{RFC}\n\
             BAD SERIAL,{RFC}\n\
             S1\n\
             S2,xyz\n\
             S3,{short}\n\
             S4,{RFC},motp\n\
             S5,{RFC},totp,5\n\
             S6,{RFC},totp,6,0\n\
             S7,{RFC},hotp,6,-1\n\
             S8,{RFC},hotp,6,1,md5\n\
             S9,{RFC},hotp,6,1,sha1,extra\n\
             ",
            short = &RFC[..30]
        );
        let file = parse_seed_file(text.as_bytes()).unwrap();
        assert_eq!(file.tokens.len(), 1);
        assert_eq!(file.tokens[0].line, 4);
        let got: Vec<(u64, SeedProblem)> = file
            .errors
            .iter()
            .map(|e| (e.line, e.problem.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                (5, SeedProblem::Missing("serial")),
                (6, SeedProblem::DuplicateSerial),
                (7, SeedProblem::Serial),
                (8, SeedProblem::Missing("secret")),
                (9, SeedProblem::SecretNotHex),
                (10, SeedProblem::SecretTooShort { min_bits: 128 }),
                (11, SeedProblem::Type),
                (
                    12,
                    SeedProblem::Settings(ConfigError::Digits { min: 6, max: 8 })
                ),
                (13, SeedProblem::Settings(ConfigError::Period)),
                (14, SeedProblem::Number),
                (15, SeedProblem::Settings(ConfigError::UnknownAlgorithm)),
                (16, SeedProblem::TooManyColumns),
            ]
        );
        // No error message carries the secret.
        for e in &file.errors {
            assert!(!e.to_string().contains(&RFC[..12]), "{e}");
        }
        assert!(!format!("{file:?}").contains(&RFC[..12]));
    }

    #[test]
    fn bytes_that_are_not_text_or_csv_are_errors_not_panics() {
        let file = parse_seed_file(b"S1,\xff\xfe\nS2,\"unterminated\nS3,\"a\"b\n").unwrap();
        assert!(file.tokens.is_empty());
        assert!(!file.errors.is_empty());
        assert!(matches!(
            parse_seed_file(&vec![b'a'; MAX_SEED_FILE_BYTES + 1]),
            Err(SeedFileError::TooLarge { .. })
        ));
        let many: String = (0..=MAX_SEED_TOKENS)
            .map(|i| format!("T{i},{RFC}\n"))
            .collect();
        assert!(matches!(
            parse_seed_file(many.as_bytes()),
            Err(SeedFileError::TooManyTokens {
                max: MAX_SEED_TOKENS
            })
        ));
        let bad: String = "x\n".repeat(MAX_SEED_ERRORS + 10);
        let file = parse_seed_file(bad.as_bytes()).unwrap();
        assert!(file.truncated);
        assert_eq!(file.errors.len(), MAX_SEED_ERRORS);
    }
}
