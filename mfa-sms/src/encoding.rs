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
        match pack(text.chars().map(gsm7_septets), GSM7_SINGLE, GSM7_MULTI) {
            Some((units, segments)) => SmsLength {
                encoding: Encoding::Gsm7,
                units,
                segments,
            },
            None => {
                let widths = text.chars().map(|c| Some(c.len_utf16()));
                let (units, segments) = pack(widths, UCS2_SINGLE, UCS2_MULTI).unwrap_or((0, 1));
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

/// Adds up unit widths, packing them into parts of `multi` units without splitting a
/// character (a GSM escape pair or a UTF-16 surrogate pair stays in one part).
/// `None` when a character has no width in this alphabet.
fn pack(
    widths: impl Iterator<Item = Option<usize>>,
    single: usize,
    multi: usize,
) -> Option<(usize, usize)> {
    let (mut total, mut parts, mut fill) = (0usize, 1usize, 0usize);
    for width in widths {
        let width = width?;
        total += width;
        if fill + width > multi {
            parts += 1;
            fill = 0;
        }
        fill += width;
    }
    Some((total, if total <= single { 1 } else { parts }))
}

/// Whether `text` can be sent in the GSM-7 alphabet.
pub fn is_gsm7(text: &str) -> bool {
    text.chars().all(|c| gsm7_septets(c).is_some())
}

/// Septets `c` takes in GSM-7: 1 for the basic table, 2 for the extension table
/// (escape plus character), `None` when GSM-7 cannot carry it.
pub fn gsm7_septets(c: char) -> Option<usize> {
    match c {
        // The basic table's ASCII part: every printable character but the backtick.
        '\n' | '\r' | ' '..='_' | 'a'..='z' => match c {
            '[' | '\\' | ']' | '^' => Some(2),
            _ => Some(1),
        },
        '{' | '|' | '}' | '~' | '\u{0C}' | '€' => Some(2),
        '£' | '¥' | 'è' | 'é' | 'ù' | 'ì' | 'ò' | 'Ç' | 'Ø' | 'ø' | 'Å' | 'å' | 'Δ' | 'Φ' | 'Γ'
        | 'Λ' | 'Ω' | 'Π' | 'Ψ' | 'Σ' | 'Θ' | 'Ξ' | 'Æ' | 'æ' | 'ß' | 'É' | '¤' | '¡' | 'Ä'
        | 'Ö' | 'Ñ' | 'Ü' | '§' | '¿' | 'ä' | 'ö' | 'ñ' | 'ü' | 'à' => Some(1),
        _ => None,
    }
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
    fn data_coding_values() {
        assert_eq!(Encoding::Gsm7.data_coding(), 0);
        assert_eq!(Encoding::Ucs2.data_coding(), 8);
    }
}
