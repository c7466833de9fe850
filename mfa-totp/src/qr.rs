//! QR codes of `otpauth://` URIs, drawn here: SVG, PNG bytes and terminal text.
//! Nothing is sent to a third-party QR service.

use qrcode::render::{svg, unicode};
use qrcode::{Color, EcLevel, QrCode};

use crate::KeyUri;

/// Modules of light margin around the code (the QR specification's quiet zone).
const QUIET_ZONE: usize = 4;

/// A QR code could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QrError {
    /// The text does not fit in a QR code.
    #[error("the URI does not fit in a QR code")]
    TooLong,
    /// The PNG encoder failed.
    #[error("PNG encoding failed")]
    Png,
    /// The PNG would be larger than allowed.
    #[error("the module size must be 1 to 64 pixels")]
    Scale,
}

/// Which colours the terminal draws with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TerminalBackground {
    /// Light text on a dark background (most terminals): light modules are drawn.
    #[default]
    Dark,
    /// Dark text on a light background: dark modules are drawn.
    Light,
}

/// A QR code holding a Key URI. It encodes the secret: show it only to its user.
pub struct KeyQr {
    code: QrCode,
}

impl std::fmt::Debug for KeyQr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyQr({} modules, ..)", self.code.width())
    }
}

impl KeyQr {
    /// The QR code of `uri` (error correction level M, as authenticator setups use).
    pub fn new(uri: &KeyUri) -> Result<Self, QrError> {
        Self::from_text(&uri.to_uri())
    }

    /// The QR code of any text.
    pub fn from_text(text: &str) -> Result<Self, QrError> {
        let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)
            .map_err(|_| QrError::TooLong)?;
        Ok(KeyQr { code })
    }

    /// Modules per side, without the quiet zone.
    pub fn modules(&self) -> usize {
        self.code.width()
    }

    /// Whether the module at column `x`, row `y` is dark.
    pub fn is_dark(&self, x: usize, y: usize) -> bool {
        x < self.modules() && y < self.modules() && self.code[(x, y)] == Color::Dark
    }

    /// An SVG image at least 200 px wide, quiet zone included.
    pub fn to_svg(&self) -> String {
        self.code
            .render::<svg::Color<'_>>()
            .min_dimensions(200, 200)
            .quiet_zone(true)
            .build()
    }

    /// A greyscale PNG with `module_px` pixels per module (1 to 64), quiet zone included.
    pub fn to_png(&self, module_px: u32) -> Result<Vec<u8>, QrError> {
        if !(1..=64).contains(&module_px) {
            return Err(QrError::Scale);
        }
        let scale = module_px as usize;
        let side_modules = self.modules() + 2 * QUIET_ZONE;
        let side = side_modules * scale;
        let mut pixels = vec![0xffu8; side * side];
        for y in 0..self.modules() {
            for x in 0..self.modules() {
                if !self.is_dark(x, y) {
                    continue;
                }
                let (px, py) = ((x + QUIET_ZONE) * scale, (y + QUIET_ZONE) * scale);
                for row in pixels[py * side..(py + scale) * side].chunks_exact_mut(side) {
                    row[px..px + scale].fill(0);
                }
            }
        }
        let side = u32::try_from(side).map_err(|_| QrError::Scale)?;
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, side, side);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(|_| QrError::Png)?;
        writer.write_image_data(&pixels).map_err(|_| QrError::Png)?;
        writer.finish().map_err(|_| QrError::Png)?;
        Ok(out)
    }

    /// Text for a terminal: two modules per character with Unicode half blocks
    /// (`▀`, `▄`, `█`), quiet zone included.
    pub fn to_terminal(&self, background: TerminalBackground) -> String {
        let mut renderer = self.code.render::<unicode::Dense1x2>();
        renderer.quiet_zone(true);
        if background == TerminalBackground::Dark {
            renderer
                .dark_color(unicode::Dense1x2::Light)
                .light_color(unicode::Dense1x2::Dark);
        }
        renderer.build()
    }
}

impl KeyUri {
    /// The QR code of this URI.
    pub fn qr(&self) -> Result<KeyQr, QrError> {
        KeyQr::new(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Secret, Totp};

    fn qr() -> KeyQr {
        let secret = Secret::from_base32("JBSWY3DPEHPK3PXP").unwrap();
        Totp::default()
            .key_uri(secret, "ACME Co", "alice@example.com")
            .qr()
            .unwrap()
    }

    #[test]
    fn svg_is_an_svg_image() {
        let svg = qr().to_svg();
        assert!(svg.starts_with("<?xml"));
        assert!(svg.contains("<svg"));
        assert!(svg.contains("<path"));
        assert!(!svg.contains("JBSWY3DP"));
    }

    #[test]
    fn png_has_the_signature_and_the_right_size() {
        let code = qr();
        let png = code.to_png(4).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let decoder = png::Decoder::new(std::io::Cursor::new(png));
        let reader = decoder.read_info().unwrap();
        let side = ((code.modules() + 2 * QUIET_ZONE) * 4) as u32;
        assert_eq!((reader.info().width, reader.info().height), (side, side));
        assert!(matches!(code.to_png(0), Err(QrError::Scale)));
        assert!(matches!(code.to_png(65), Err(QrError::Scale)));
    }

    #[test]
    fn terminal_text_uses_half_blocks_two_rows_per_line() {
        let code = qr();
        for background in [TerminalBackground::Dark, TerminalBackground::Light] {
            let text = code.to_terminal(background);
            let lines: Vec<&str> = text.lines().collect();
            let rows = code.modules() + 2 * QUIET_ZONE;
            assert_eq!(lines.len(), rows.div_ceil(2));
            assert!(lines.iter().all(|l| l.chars().count() == rows));
            assert!(
                text.chars()
                    .all(|c| matches!(c, ' ' | '▀' | '▄' | '█' | '\n'))
            );
        }
        // The finder pattern's corner module is dark: drawn on a light background only.
        assert!(code.is_dark(0, 0));
        let light = code.to_terminal(TerminalBackground::Light);
        let dark = code.to_terminal(TerminalBackground::Dark);
        assert_ne!(light, dark);
    }

    #[test]
    fn oversized_text_is_an_error() {
        assert!(matches!(
            KeyQr::from_text(&"x".repeat(5000)),
            Err(QrError::TooLong)
        ));
    }
}
