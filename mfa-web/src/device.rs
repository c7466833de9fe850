//! The remember-this-device cookie: the token the core hands out, kept by the browser
//! `Secure; HttpOnly; SameSite=Strict`, for the policy's lifetime.

use std::time::Duration;

use axum::http::HeaderValue;
use tower_sessions::cookie::{Cookie, SameSite};

use crate::DEVICE_COOKIE;

/// The `Set-Cookie` value that keeps `token` for `lifetime`.
pub(crate) fn set_cookie(token: &str, lifetime: Duration, secure: bool) -> Option<HeaderValue> {
    let cookie = Cookie::build((DEVICE_COOKIE, token.to_owned()))
        .path("/")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Strict)
        .max_age(tower_sessions::cookie::time::Duration::seconds(
            i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX),
        ))
        .build();
    HeaderValue::from_str(&cookie.to_string()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_secure_http_only_and_strict() {
        let v = set_cookie(&"a".repeat(64), Duration::from_secs(86_400), true).unwrap();
        let v = v.to_str().unwrap();
        for part in [
            "mfa_device=",
            "HttpOnly",
            "Secure",
            "SameSite=Strict",
            "Max-Age=86400",
            "Path=/",
        ] {
            assert!(v.contains(part), "{v} lacks {part}");
        }
    }
}
