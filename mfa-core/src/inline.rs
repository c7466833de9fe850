//! Short text kept inline: ids, proof tokens and E.164 numbers.
//!
//! A record is cloned on every request (the machine decides over its own copy), and
//! each of its challenges holds two ids; kept as `String`s they made that clone a
//! couple of dozen allocations. These values have small fixed bounds, so they live
//! in the value itself and clone as a copy of bytes.

/// Text of at most `N` bytes, stored inline. The bytes past the text are zero, so the
/// derived comparisons order and compare by the text.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct InlineStr<const N: usize> {
    bytes: [u8; N],
    len: u8,
}

impl<const N: usize> InlineStr<N> {
    /// `text`, when it has at most `N` bytes (and `N` fits a `u8`).
    pub(crate) fn new(text: &str) -> Option<Self> {
        let len = u8::try_from(text.len()).ok()?;
        if text.len() > N {
            return None;
        }
        let mut bytes = [0u8; N];
        bytes[..text.len()].copy_from_slice(text.as_bytes());
        Some(InlineStr { bytes, len })
    }

    /// `bytes` written as lower-case hex; `None` past `N`.
    pub(crate) fn hex(data: &[u8]) -> Option<Self> {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let len = data.len().checked_mul(2).filter(|&l| l <= N)?;
        let mut bytes = [0u8; N];
        for (pair, b) in bytes.chunks_exact_mut(2).zip(data) {
            pair[0] = DIGITS[usize::from(b >> 4)];
            pair[1] = DIGITS[usize::from(b & 0x0f)];
        }
        Some(InlineStr {
            bytes,
            len: u8::try_from(len).ok()?,
        })
    }

    /// The text.
    pub(crate) fn as_str(&self) -> &str {
        // Only ever filled from a `str` or with ASCII hex digits, so always UTF-8.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_text_up_to_its_bound_and_refuses_longer() {
        assert_eq!(
            InlineStr::<4>::new("abcd")
                .map(|s| s.as_str().to_owned())
                .as_deref(),
            Some("abcd")
        );
        assert!(InlineStr::<4>::new("abcde").is_none());
        assert_eq!(InlineStr::<8>::new("").map(|s| s.as_str().len()), Some(0));
        assert_eq!(
            InlineStr::<8>::new("ø€")
                .map(|s| s.as_str().to_owned())
                .as_deref(),
            Some("ø€")
        );
    }

    #[test]
    fn hex_and_ordering_follow_the_text() {
        let h = InlineStr::<32>::hex(&[0x00, 0xab, 0xff]).map(|s| s.as_str().to_owned());
        assert_eq!(h.as_deref(), Some("00abff"));
        assert!(InlineStr::<4>::hex(&[1, 2, 3]).is_none());
        let (a, ab, b) = (
            InlineStr::<8>::new("a"),
            InlineStr::<8>::new("ab"),
            InlineStr::<8>::new("b"),
        );
        assert!(a < ab && ab < b);
        assert!(a != ab);
    }
}
