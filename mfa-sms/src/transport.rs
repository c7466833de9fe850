//! What the HTTP backends share: the client, error mapping and percent-encoding.

use std::time::Duration;

use mfa_core::{DeliveryError, DeliveryErrorKind};

use crate::delivery::ConfigError;

/// How long an HTTP backend waits for its gateway by default.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) fn client(timeout: Duration) -> Result<reqwest::Client, ConfigError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .build()
        .map_err(|e| ConfigError::Client(e.without_url().to_string()))
}

/// Maps a transport failure. The URL is dropped from the message: it may hold
/// credentials or the code (Kannel's GET interface carries both).
pub(crate) fn request_failed(gateway: &str, error: reqwest::Error) -> DeliveryError {
    let kind = if error.is_timeout() {
        DeliveryErrorKind::Timeout
    } else {
        DeliveryErrorKind::Transient
    };
    let error = error.without_url();
    DeliveryError::new(kind, format!("{gateway} request failed: {error}")).with_source(error)
}

#[cfg_attr(not(any(feature = "http", feature = "kannel")), allow(dead_code))]
/// The kind of failure an HTTP status means when the gateway says nothing more.
pub(crate) fn status_kind(status: u16) -> DeliveryErrorKind {
    match status {
        408 | 425 | 429 | 500..=599 => DeliveryErrorKind::Transient,
        401 | 403 | 404 | 405 => DeliveryErrorKind::Configuration,
        _ => DeliveryErrorKind::Rejected,
    }
}

#[cfg_attr(not(any(feature = "http", feature = "kannel")), allow(dead_code))]
/// Percent-encodes `bytes` for a URL query (RFC 3986 unreserved characters kept).
pub(crate) fn percent_encode_into(out: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
    }
}

#[cfg_attr(not(feature = "kannel"), allow(dead_code))]
/// `text` as UTF-16 big-endian bytes, the UCS-2 form gateways take.
pub(crate) fn utf16be(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_be_bytes).collect()
}

/// Checks a configured base URL and drops a trailing slash.
pub(crate) fn base_url(url: &str) -> Result<String, ConfigError> {
    let parsed = reqwest::Url::parse(url).map_err(|_| ConfigError::InvalidUrl("not a URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        return Err(ConfigError::InvalidUrl(
            "must be an http or https URL with a host",
        ));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encoding_keeps_unreserved_only() {
        let mut out = String::new();
        percent_encode_into(&mut out, "a+b c/ø~".as_bytes());
        assert_eq!(out, "a%2Bb%20c%2F%C3%B8~");
    }

    #[test]
    fn ucs2_bytes_are_big_endian() {
        assert_eq!(utf16be("Aж"), vec![0x00, 0x41, 0x04, 0x36]);
        assert_eq!(utf16be("😀"), vec![0xD8, 0x3D, 0xDE, 0x00]);
    }

    #[test]
    fn statuses_map_to_kinds() {
        assert_eq!(status_kind(429), DeliveryErrorKind::Transient);
        assert_eq!(status_kind(503), DeliveryErrorKind::Transient);
        assert_eq!(status_kind(401), DeliveryErrorKind::Configuration);
        assert_eq!(status_kind(400), DeliveryErrorKind::Rejected);
    }

    #[test]
    fn base_urls_are_checked() {
        assert_eq!(
            base_url("http://127.0.0.1:8080/").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert!(base_url("ftp://example.com").is_err());
        assert!(base_url("not a url").is_err());
    }
}
