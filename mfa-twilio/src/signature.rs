//! Twilio's request signature: HMAC-SHA1 over the full URL and the sorted POST
//! parameters, base64-encoded, keyed with the account's auth token.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;

/// A webhook whose `X-Twilio-Signature` does not check out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// No `X-Twilio-Signature` header.
    #[error("the request has no X-Twilio-Signature header")]
    Missing,
    /// The signature does not match: not from Twilio, or altered.
    #[error("the request's Twilio signature does not match")]
    Mismatch,
    /// The account was set up with an API key and no auth token to check webhooks.
    #[error("no auth token is configured to check Twilio's webhook signatures")]
    NoToken,
}

/// The signature Twilio puts in `X-Twilio-Signature` for a POST to `url` with `params`.
///
/// The signed string is the URL followed by each parameter name and value, names in
/// byte order and, for a repeated name, its distinct values in byte order (as
/// Twilio's own helper libraries do).
pub fn compute_signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    sorted.sort_unstable();
    sorted.dedup();
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()) else {
        // HMAC takes keys of any length; this branch cannot run.
        return String::new();
    };
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Whether `header` is Twilio's signature for this request, compared in constant time.
///
/// Twilio may sign the URL with or without the scheme's default port, depending on
/// how it was configured; both forms are tried.
pub fn signature_is_valid(
    auth_token: &str,
    url: &str,
    params: &[(String, String)],
    header: &str,
) -> bool {
    let header = header.trim().as_bytes();
    url_variants(url).iter().any(|u| {
        let expected = compute_signature(auth_token, u, params);
        bool::from(expected.as_bytes().ct_eq(header))
    })
}

/// The URL as given, and with the default port added or removed.
fn url_variants(url: &str) -> Vec<String> {
    let mut out = vec![url.to_owned()];
    let (scheme, port) = if let Some(rest) = url.strip_prefix("https://") {
        (("https://", rest), "443")
    } else if let Some(rest) = url.strip_prefix("http://") {
        (("http://", rest), "80")
    } else {
        return out;
    };
    let (prefix, rest) = scheme;
    let split = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(split);
    let default = format!(":{port}");
    if let Some(host) = authority.strip_suffix(&default) {
        out.push(format!("{prefix}{host}{tail}"));
    } else if !authority.contains(':') || authority.ends_with(']') {
        out.push(format!("{prefix}{authority}{default}{tail}"));
    }
    out
}

/// Decodes an `application/x-www-form-urlencoded` body into name-value pairs.
pub fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_ports_are_tried_both_ways() {
        assert_eq!(
            url_variants("https://example.com/a?b=1"),
            vec!["https://example.com/a?b=1", "https://example.com:443/a?b=1"]
        );
        assert_eq!(
            url_variants("https://example.com:443/a"),
            vec!["https://example.com:443/a", "https://example.com/a"]
        );
        assert_eq!(
            url_variants("http://127.0.0.1:8080/a"),
            vec!["http://127.0.0.1:8080/a"]
        );
        assert_eq!(url_variants("junk"), vec!["junk"]);
    }

    #[test]
    fn a_signature_checks_every_input() {
        let params = vec![("Digits".to_owned(), "#".to_owned())];
        let good = compute_signature("token", "https://example.com/x", &params);
        assert!(signature_is_valid(
            "token",
            "https://example.com/x",
            &params,
            &good
        ));
        assert!(!signature_is_valid(
            "token2",
            "https://example.com/x",
            &params,
            &good
        ));
        assert!(!signature_is_valid(
            "token",
            "https://example.com/y",
            &params,
            &good
        ));
        let other = vec![("Digits".to_owned(), "0#".to_owned())];
        assert!(!signature_is_valid(
            "token",
            "https://example.com/x",
            &other,
            &good
        ));
        assert!(!signature_is_valid(
            "token",
            "https://example.com/x",
            &params,
            ""
        ));
        assert!(!signature_is_valid(
            "token",
            "https://example.com/x",
            &params,
            &"A".repeat(10_000)
        ));
    }
}
