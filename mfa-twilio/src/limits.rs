//! Limits Twilio's OpenAPI description (`twilio_api_v2010.json`) states in the text
//! of its parameters, which a schema check alone does not enforce.

use crate::ConfigError;

/// `SendDigits`: "up to 32 digits" (digits, `#`, `*` and `w` for a half-second wait).
pub const MAX_SEND_DIGITS: usize = 32;
/// `Twiml`: inline TwiML of at most 4,000 characters.
pub const MAX_TWIML: usize = 4000;

/// A request that would break one of Twilio's limits; it is not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LimitError {
    /// A parameter longer than Twilio takes.
    #[error("Twilio's {parameter} takes at most {max} characters; this one has {len}")]
    TooLong {
        /// The form parameter (`SendDigits`, `Twiml`).
        parameter: &'static str,
        /// Twilio's limit, in characters.
        max: usize,
        /// The length refused.
        len: usize,
    },
}

fn at_most(parameter: &'static str, value: &str, max: usize) -> Result<(), LimitError> {
    let len = value.chars().count();
    if len > max {
        return Err(LimitError::TooLong {
            parameter,
            max,
            len,
        });
    }
    Ok(())
}

/// Checks a `SendDigits` value.
pub fn send_digits(value: &str) -> Result<(), LimitError> {
    at_most("SendDigits", value, MAX_SEND_DIGITS)
}

/// Checks an inline `Twiml` value.
pub fn twiml(value: &str) -> Result<(), LimitError> {
    at_most("Twiml", value, MAX_TWIML)
}

/// Checks a callback URL (`StatusCallback`, a `<Gather>` action base): absolute
/// http(s) with a host, and no underscore in the host, which Twilio's description of
/// every callback URL forbids. Returns it without a trailing slash.
pub fn callback_url(url: &str) -> Result<String, ConfigError> {
    let parsed = url::Url::parse(url).map_err(|_| ConfigError::InvalidCallbackUrl)?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(ConfigError::InvalidCallbackUrl);
    }
    let host = parsed.host_str().ok_or(ConfigError::InvalidCallbackUrl)?;
    if host.is_empty() {
        return Err(ConfigError::InvalidCallbackUrl);
    }
    if host.contains('_') {
        return Err(ConfigError::UnderscoreInCallbackHost);
    }
    Ok(url.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_are_counted_in_characters() {
        assert!(
            send_digits(
                &"w".repeat(22)
                    .chars()
                    .chain("1234567890".chars())
                    .collect::<String>()
            )
            .is_ok()
        );
        assert_eq!(
            send_digits(&"w".repeat(33)),
            Err(LimitError::TooLong {
                parameter: "SendDigits",
                max: 32,
                len: 33
            })
        );
        assert!(twiml(&"ø".repeat(4000)).is_ok());
        assert!(twiml(&"ø".repeat(4001)).is_err());
    }

    #[test]
    fn callback_hosts_have_no_underscore() {
        assert_eq!(
            callback_url("https://my_app.example.com/s"),
            Err(ConfigError::UnderscoreInCallbackHost)
        );
        assert_eq!(
            callback_url("https://app.example.com/a_b/").unwrap(),
            "https://app.example.com/a_b"
        );
        assert_eq!(
            callback_url("ftp://example.com"),
            Err(ConfigError::InvalidCallbackUrl)
        );
        assert_eq!(
            callback_url("/relative"),
            Err(ConfigError::InvalidCallbackUrl)
        );
        assert!(callback_url("http://127.0.0.1:8080/hooks").is_ok());
    }
}
