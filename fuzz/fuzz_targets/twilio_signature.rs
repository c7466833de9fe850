//! `X-Twilio-Signature` checks. Input: the auth token on the first line, the URL on
//! the second, a header on the third, the form body after it. Checking never panics,
//! a forged header is refused, and the signature we compute is accepted whatever the
//! parameter order and with or without the default port.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mfa_voice::twilio::{compute_signature, parse_form, signature_is_valid};

/// The URL with the scheme's default port written out, or dropped if it was.
fn default_port_twin(url: &str) -> Option<String> {
    let (scheme, port) = if url.starts_with("https://") {
        ("https://", ":443")
    } else if url.starts_with("http://") {
        ("http://", ":80")
    } else {
        return None;
    };
    let rest = &url[scheme.len()..];
    let split = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(split);
    match authority.strip_suffix(port) {
        Some(host) => Some(format!("{scheme}{host}{tail}")),
        None if !authority.contains(':') || authority.ends_with(']') => {
            Some(format!("{scheme}{authority}{port}{tail}"))
        }
        None => None,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.splitn(4, '\n');
    let (Some(token), Some(url), Some(header)) = (lines.next(), lines.next(), lines.next()) else {
        return;
    };
    let params = parse_form(lines.next().unwrap_or("").as_bytes());
    let signature = compute_signature(token, url, &params);
    let twin = default_port_twin(url);

    let genuine = header.trim() == signature
        || twin
            .as_deref()
            .is_some_and(|u| header.trim() == compute_signature(token, u, &params));
    assert_eq!(
        signature_is_valid(token, url, &params, header),
        genuine,
        "{header:?}"
    );

    assert!(signature_is_valid(token, url, &params, &signature));
    assert!(signature_is_valid(
        token,
        url,
        &params,
        &format!(" {signature}\t")
    ));
    // Junk such as `https://a:443:443/` has a twin whose own twin is something else.
    if let Some(twin) = twin
        .as_ref()
        .filter(|t| default_port_twin(t).as_deref() == Some(url))
    {
        assert!(
            signature_is_valid(token, twin, &params, &signature),
            "{twin:?}"
        );
    }

    let mut reversed = params.clone();
    reversed.reverse();
    assert_eq!(compute_signature(token, url, &reversed), signature);

    let extra = ("Digits".to_owned(), "\u{0}#".to_owned());
    if !params.contains(&extra) {
        let mut altered = params.clone();
        altered.push(extra);
        assert!(!signature_is_valid(token, url, &altered, &signature));
    }
});
