//! GSM 03.38 (GSM-7) versus UCS-2: which alphabet a text needs and how many SMS
//! segments it takes, so an application can keep its codes to one (paid) segment.

use std::fmt;

/// Septets in a single GSM-7 message.
pub const GSM7_SINGLE: usize = 160;
/// Septets per part of a concatenated GSM-7 message (the UDH takes the rest).
pub const GSM7_MULTI: usize = 153;
/// UTF-16 code units in a single UCS-2 message.
pub const UCS2_SINGLE: usize = 70;
/// UTF-16 code units per part of a concatenated UCS-2 message.
pub const UCS2_MULTI: usize = 67;

/// The alphabet an SMS is sent in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// The GSM 03.38 default alphabet with its extension table (7 bits per character).
    Gsm7,
    /// UCS-2 / UTF-16 (16 bits per unit): anything GSM-7 cannot carry.
    Ucs2,
}

impl Encoding {
    /// The SMPP / Kannel `data_coding` value: 0 for the default alphabet, 8 for UCS-2.
    pub fn data_coding(self) -> u8 {
        match self {
            Encoding::Gsm7 => 0,
            Encoding::Ucs2 => 8,
        }
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Encoding::Gsm7 => "GSM-7",
            Encoding::Ucs2 => "UCS-2",
        })
    }
}

/// The size of a text as an SMS: its alphabet, its length in that alphabet's units
/// and the number of segments it is split into (what the operator charges for).
///
/// ```
/// use mfa_sms::{Encoding, SmsLength};
///
/// let plain = SmsLength::of("123456 is your code");
/// assert_eq!((plain.encoding, plain.segments), (Encoding::Gsm7, 1));
/// let norwegian = SmsLength::of("Koden utløper om 5 min.");
/// assert_eq!(norwegian.encoding, Encoding::Gsm7); // ø is in the GSM alphabet
/// let cyrillic = SmsLength::of("Ваш код 123456");
/// assert_eq!((cyrillic.encoding, cyrillic.units), (Encoding::Ucs2, 14));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SmsLength {
    /// The alphabet the text needs.
    pub encoding: Encoding,
    /// Septets (GSM-7, extension characters count two) or UTF-16 code units (UCS-2).
    pub units: usize,
    /// SMS segments: 1 up to 160 septets or 70 units, else parts of 153 or 67.
    pub segments: usize,
}

impl SmsLength {
    /// Measures `text`.
    pub fn of(text: &str) -> SmsLength {
        match gsm7_total(text) {
            Some(units) if units <= GSM7_SINGLE => SmsLength {
                encoding: Encoding::Gsm7,
                units,
                segments: 1,
            },
            Some(units) => SmsLength {
                encoding: Encoding::Gsm7,
                units,
                segments: if text.is_ascii() {
                    let widths = text
                        .bytes()
                        .map(|b| usize::from(ASCII_SEPTETS[usize::from(b)]));
                    parts(widths, GSM7_MULTI)
                } else {
                    parts(
                        text.chars().map(|c| gsm7_septets(c).unwrap_or(1)),
                        GSM7_MULTI,
                    )
                },
            },
            None => {
                let units = text.encode_utf16().count();
                let segments = if units <= UCS2_SINGLE {
                    1
                } else {
                    parts(text.chars().map(char::len_utf16), UCS2_MULTI)
                };
                SmsLength {
                    encoding: Encoding::Ucs2,
                    units,
                    segments,
                }
            }
        }
    }

    /// Whether the text fits one segment.
    pub fn is_single_segment(&self) -> bool {
        self.segments <= 1
    }
}

/// Septets in `text`, or `None` when GSM-7 cannot carry it.
fn gsm7_total(text: &str) -> Option<usize> {
    if text.is_ascii() {
        // The common case, without decoding characters.
        return text
            .bytes()
            .try_fold(0usize, |total, b| match ASCII_SEPTETS[usize::from(b)] {
                0 => None,
                width => Some(total + usize::from(width)),
            });
    }
    text.chars()
        .try_fold(0usize, |total, c| Some(total + gsm7_septets(c)?))
}

/// Parts of `multi` units the widths pack into, never splitting a character (a GSM
/// escape pair or a UTF-16 surrogate pair stays in one part).
fn parts(widths: impl Iterator<Item = usize>, multi: usize) -> usize {
    let (mut parts, mut fill) = (1usize, 0usize);
    for width in widths {
        if fill + width > multi {
            parts += 1;
            fill = 0;
        }
        fill += width;
    }
    parts
}

/// Septets per ASCII byte: 0 where GSM-7 has no such character.
const ASCII_SEPTETS: [u8; 128] = {
    let mut table = [0u8; 128];
    let mut b = 0;
    while b < 128 {
        table[b] = match b as u8 {
            b'\n' | b'\r' | b' '..=b'_' | b'a'..=b'z' => match b as u8 {
                b'[' | b'\\' | b']' | b'^' => 2,
                _ => 1,
            },
            b'{' | b'|' | b'}' | b'~' | 0x0C => 2,
            _ => 0,
        };
        b += 1;
    }
    table
};

/// Whether `text` can be sent in the GSM-7 alphabet.
pub fn is_gsm7(text: &str) -> bool {
    gsm7_total(text).is_some()
}

/// Septets `c` takes in GSM-7: 1 for the basic table, 2 for the extension table
/// (escape plus character), `None` when GSM-7 cannot carry it.
pub fn gsm7_septets(c: char) -> Option<usize> {
    if c.is_ascii() {
        return match ASCII_SEPTETS[c as usize] {
            0 => None,
            width => Some(usize::from(width)),
        };
    }
    match c {
        '€' => Some(2),
        '£' | '¥' | 'è' | 'é' | 'ù' | 'ì' | 'ò' | 'Ç' | 'Ø' | 'ø' | 'Å' | 'å' | 'Δ' | 'Φ' | 'Γ'
        | 'Λ' | 'Ω' | 'Π' | 'Ψ' | 'Σ' | 'Θ' | 'Ξ' | 'Æ' | 'æ' | 'ß' | 'É' | '¤' | '¡' | 'Ä'
        | 'Ö' | 'Ñ' | 'Ü' | '§' | '¿' | 'ä' | 'ö' | 'ñ' | 'ü' | 'à' => Some(1),
        _ => None,
    }
}

/// The GSM 03.38 default alphabet, by code.
const GSM7_BASIC: [char; 128] = [
    '@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å', //
    'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', '\u{1B}', 'Æ', 'æ', 'ß', 'É', //
    ' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/', //
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?', //
    '¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O', //
    'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§', //
    '¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', //
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à', //
];

/// The extension table: characters sent as the escape (0x1B) and this code.
const GSM7_EXTENSION: [(char, u8); 10] = [
    ('\u{0C}', 0x0A),
    ('^', 0x14),
    ('{', 0x28),
    ('}', 0x29),
    ('\\', 0x2F),
    ('[', 0x3C),
    ('~', 0x3D),
    (']', 0x3E),
    ('|', 0x40),
    ('€', 0x65),
];

/// The escape to the extension table.
pub const GSM7_ESCAPE: u8 = 0x1B;

/// `text` in the GSM-7 alphabet, one septet per byte (unpacked, as SMPP's
/// `data_coding` 0 carries it), each character's septets kept together; `None` when
/// GSM-7 cannot carry the text.
pub fn gsm7_encode(text: &str) -> Option<Vec<Vec<u8>>> {
    text.chars().map(gsm7_code).collect()
}

fn gsm7_code(c: char) -> Option<Vec<u8>> {
    if let Some((_, code)) = GSM7_EXTENSION.iter().find(|(e, _)| *e == c) {
        return Some(vec![GSM7_ESCAPE, *code]);
    }
    if c == '\u{1B}' {
        return None;
    }
    let code = GSM7_BASIC.iter().position(|b| *b == c)?;
    u8::try_from(code).ok().map(|code| vec![code])
}

/// Decodes unpacked GSM-7 septets (the inverse of [`gsm7_encode`]); unknown escapes
/// become a space, as GSM 03.38 advises.
pub fn gsm7_decode(septets: &[u8]) -> String {
    let mut out = String::with_capacity(septets.len());
    let mut escaped = false;
    for &b in septets {
        let b = b & 0x7F;
        if escaped {
            escaped = false;
            let ext = GSM7_EXTENSION.iter().find(|(_, code)| *code == b);
            out.push(ext.map_or(' ', |(c, _)| *c));
        } else if b == GSM7_ESCAPE {
            escaped = true;
        } else {
            out.push(GSM7_BASIC[usize::from(b)]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_whole_basic_table_is_gsm7() {
        let basic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
                     ¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
        // 128 positions minus the escape.
        assert_eq!(basic.chars().count(), 127);
        let len = SmsLength::of(basic);
        assert_eq!(
            (len.encoding, len.units, len.segments),
            (Encoding::Gsm7, 127, 1)
        );
    }

    #[test]
    fn extension_characters_count_double() {
        let ext = "^{}\\[~]|€\u{0C}";
        let len = SmsLength::of(ext);
        assert_eq!((len.encoding, len.units), (Encoding::Gsm7, 20));
    }

    #[test]
    fn characters_outside_gsm_need_ucs2() {
        for text in ["`", "ç", "Ā", "€ and 😀", "中文", "\t", "\u{0}"] {
            assert_eq!(SmsLength::of(text).encoding, Encoding::Ucs2, "{text:?}");
            assert!(!is_gsm7(text));
        }
    }

    #[test]
    fn gsm7_segment_boundaries() {
        assert_eq!(SmsLength::of("").segments, 1);
        assert_eq!(SmsLength::of(&"a".repeat(160)).segments, 1);
        assert_eq!(SmsLength::of(&"a".repeat(161)).segments, 2);
        assert_eq!(SmsLength::of(&"a".repeat(306)).segments, 2);
        assert_eq!(SmsLength::of(&"a".repeat(307)).segments, 3);
        // 80 extension characters are 160 septets: still one segment.
        assert_eq!(SmsLength::of(&"€".repeat(80)).segments, 1);
        // An escape pair is never split: 152 + 2 does not fit in a 153 part.
        let text = format!("{}€{}", "a".repeat(152), "a".repeat(10));
        let len = SmsLength::of(&text);
        assert_eq!((len.units, len.segments), (164, 2));
        let text = format!("{}€{}", "a".repeat(152), "a".repeat(152));
        assert_eq!(SmsLength::of(&text).units, 306);
        assert_eq!(SmsLength::of(&text).segments, 3);
    }

    #[test]
    fn ucs2_segment_boundaries() {
        assert_eq!(SmsLength::of(&"ж".repeat(70)).segments, 1);
        assert_eq!(SmsLength::of(&"ж".repeat(71)).segments, 2);
        assert_eq!(SmsLength::of(&"ж".repeat(134)).segments, 2);
        assert_eq!(SmsLength::of(&"ж".repeat(135)).segments, 3);
        // Emoji are surrogate pairs: two units, never split across parts.
        assert_eq!(SmsLength::of(&"😀".repeat(35)).units, 70);
        assert_eq!(SmsLength::of(&"😀".repeat(35)).segments, 1);
        let text = format!("{}😀{}", "ж".repeat(66), "ж".repeat(66));
        let len = SmsLength::of(&text);
        assert_eq!((len.units, len.segments), (134, 3));
    }

    #[test]
    fn gsm7_encoding_round_trips_and_agrees_with_the_septet_count() {
        let text =
            "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./09:;<=>?¡AZÄÖÑÜ§¿azäöñüà^{}\\[~]|€";
        let chars = gsm7_encode(text).unwrap();
        assert_eq!(
            chars.iter().map(Vec::len).sum::<usize>(),
            SmsLength::of(text).units
        );
        let septets: Vec<u8> = chars.concat();
        assert_eq!(gsm7_decode(&septets), text);
        assert_eq!(gsm7_encode("A@$").unwrap().concat(), vec![0x41, 0x00, 0x02]);
        assert_eq!(gsm7_encode("€").unwrap().concat(), vec![0x1B, 0x65]);
        assert!(gsm7_encode("`").is_none());
        assert!(gsm7_encode("\u{1B}").is_none());
        assert!(gsm7_encode("ж").is_none());
    }

    #[test]
    fn data_coding_values() {
        assert_eq!(Encoding::Gsm7.data_coding(), 0);
        assert_eq!(Encoding::Ucs2.data_coding(), 8);
    }
}
