//! The Twilio Programmable Voice backend (feature `twilio`).
//!
//! [`TwilioVoice`] places each call with the Calls API (`POST
//! /2010-04-01/Accounts/{AccountSid}/Calls.json`) and inline TwiML; office extensions
//! go in `SendDigits`. The keys come back to [`TwilioWebhooks`], which checks
//! Twilio's signature and our own signed, expiring, single-use action links, and
//! returns the TwiML to answer with plus the [`CallEvent`] to report to `Mfa`.
//!
//! The webhooks must run in the process that placed the call (or share its
//! [`TwilioVoice`]): the rest of each script, which may hold the code, stays in memory
//! there and is never put in a URL.

mod signature;
mod twiml;
mod webhook;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use mfa_core::{
    ChallengeId, Clock, Delivery, DeliveryError, DeliveryErrorKind, DeliveryRequest, OsRandomness,
    PhoneNumber, Randomness, Receipt, SystemClock, Timestamp, UserId,
};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use crate::script::{CallScript, ScriptOptions};

pub use crate::report::CallEvent;
pub use signature::{compute_signature, parse_form, signature_is_valid};
pub use webhook::{TwilioWebhooks, WebhookError, WebhookReply};

/// Twilio's API host.
pub const DEFAULT_API_BASE: &str = "https://api.twilio.com";

/// The account's auth token: signs requests both ways. Redacted in `Debug`, wiped on drop.
#[derive(Clone)]
pub struct AuthToken(Zeroizing<String>);

impl AuthToken {
    /// Wraps a token.
    pub fn new(token: impl Into<String>) -> Self {
        AuthToken(Zeroizing::new(token.into()))
    }

    /// The token, to sign with. Keep it out of logs.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AuthToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthToken(<redacted>)")
    }
}

/// How to reach Twilio and where its webhooks come back.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TwilioConfig {
    /// The account SID (`AC...`).
    pub account_sid: String,
    /// The account's auth token.
    pub auth_token: AuthToken,
    /// The Twilio number calls come from.
    pub from: PhoneNumber,
    /// The public base URL the webhooks are served under; the key prompts post to
    /// `{webhook_base}/gather` and call status to `{webhook_base}/status`.
    pub webhook_base: String,
    /// The API base URL (default [`DEFAULT_API_BASE`]; a local server in tests).
    pub api_base: String,
    /// How long the phone rings before the call counts as unanswered (default 30 s).
    pub ring_timeout: Duration,
    /// How long a call's webhook links stay valid (default 15 minutes).
    pub link_lifetime: Duration,
    /// The HTTP timeout for API requests (default 10 s).
    pub request_timeout: Duration,
    /// How scripts are rendered.
    pub script: ScriptOptions,
}

impl TwilioConfig {
    /// A configuration with the defaults.
    pub fn new(
        account_sid: impl Into<String>,
        auth_token: AuthToken,
        from: PhoneNumber,
        webhook_base: impl Into<String>,
    ) -> Self {
        TwilioConfig {
            account_sid: account_sid.into(),
            auth_token,
            from,
            webhook_base: webhook_base.into().trim_end_matches('/').to_owned(),
            api_base: DEFAULT_API_BASE.to_owned(),
            ring_timeout: Duration::from_secs(30),
            link_lifetime: Duration::from_secs(15 * 60),
            request_timeout: Duration::from_secs(10),
            script: ScriptOptions::default(),
        }
    }

    /// Uses another API base URL (a local contract-test server).
    pub fn with_api_base(mut self, api_base: impl Into<String>) -> Self {
        self.api_base = api_base.into().trim_end_matches('/').to_owned();
        self
    }

    /// Renders scripts with these options.
    pub fn with_script(mut self, script: ScriptOptions) -> Self {
        self.script = script;
        self
    }
}

/// A call placed and not yet over.
#[derive(Debug, Clone)]
struct BookedCall {
    /// Whose challenge it is: the webhooks report the keys for this user (never put
    /// in a link).
    user: UserId,
    script: CallScript,
    call_sid: String,
    expires_at: Timestamp,
    /// The code was read or a key decided the outcome: a later hang-up is normal.
    settled: bool,
}

/// State the sender and the webhooks share.
struct Shared {
    config: TwilioConfig,
    clock: Arc<dyn Clock>,
    link_key: Zeroizing<[u8; 32]>,
    calls: Mutex<HashMap<String, BookedCall>>,
    seen: Mutex<HashMap<String, Timestamp>>,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Twilio")
            .field("config", &self.config)
            .field("calls", &lock(&self.calls).len())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

impl Shared {
    /// Our signature on a webhook link: binds its kind, challenge, step, keys and expiry.
    fn link_token(&self, fields: &[&str]) -> String {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(self.link_key.as_slice()) else {
            return String::new();
        };
        for field in fields {
            mac.update(&(field.len() as u64).to_be_bytes());
            mac.update(field.as_bytes());
        }
        mac.finalize().into_bytes()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    fn link_token_matches(&self, fields: &[&str], token: &str) -> bool {
        bool::from(self.link_token(fields).as_bytes().ct_eq(token.as_bytes()))
    }

    fn gather_url(&self, challenge: &str, step: usize, keys: &str, expires: Timestamp) -> String {
        let step = step.to_string();
        let exp = expires.unix_secs().to_string();
        let token = self.link_token(&["gather", challenge, &step, keys, &exp]);
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("c", challenge)
            .append_pair("s", &step)
            .append_pair("k", keys)
            .append_pair("e", &exp)
            .append_pair("t", &token)
            .finish();
        format!("{}/gather?{query}", self.config.webhook_base)
    }

    fn status_url(&self, challenge: &str, expires: Timestamp) -> String {
        let exp = expires.unix_secs().to_string();
        let token = self.link_token(&["status", challenge, &exp]);
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("c", challenge)
            .append_pair("e", &exp)
            .append_pair("t", &token)
            .finish();
        format!("{}/status?{query}", self.config.webhook_base)
    }

    fn book(&self, challenge: &ChallengeId, call: BookedCall) {
        let now = self.clock.now();
        let mut calls = lock(&self.calls);
        calls.retain(|_, c| c.expires_at > now);
        calls.insert(challenge.as_str().to_owned(), call);
    }
}

/// Places verification calls through Twilio's Calls API.
///
/// ```no_run
/// use mfa_core::PhoneNumber;
/// use mfa_voice::twilio::{AuthToken, TwilioConfig, TwilioVoice};
///
/// let config = TwilioConfig::new(
///     "AC0123456789abcdef0123456789abcdef",
///     AuthToken::new("your auth token"),
///     PhoneNumber::parse("+15005550006").unwrap(),
///     "https://app.example.com/mfa/twilio",
/// );
/// let voice = TwilioVoice::new(config).unwrap();
/// let webhooks = voice.webhooks(); // serve POST {base}/gather and {base}/status with these
/// # let _ = webhooks;
/// ```
#[derive(Debug, Clone)]
pub struct TwilioVoice {
    shared: Arc<Shared>,
    http: reqwest::Client,
}

impl TwilioVoice {
    /// A backend with the system clock and a fresh random key for its webhook links.
    pub fn new(config: TwilioConfig) -> Result<Self, DeliveryError> {
        let mut key = [0u8; 32];
        OsRandomness.fill(&mut key);
        let voice = Self::with_link_key(config, key, Arc::new(SystemClock));
        key.zeroize();
        voice
    }

    /// A backend with `clock` and a given link key: servers behind one load balancer
    /// share the key so any of them can check the links (the script state is still
    /// per process).
    pub fn with_link_key(
        config: TwilioConfig,
        link_key: [u8; 32],
        clock: Arc<dyn Clock>,
    ) -> Result<Self, DeliveryError> {
        if config.account_sid.is_empty()
            || !config
                .account_sid
                .bytes()
                .all(|b| b.is_ascii_alphanumeric())
        {
            return Err(DeliveryError::new(
                DeliveryErrorKind::Configuration,
                "the account SID must be letters and digits",
            ));
        }
        if !(config.webhook_base.starts_with("https://")
            || config.webhook_base.starts_with("http://"))
        {
            return Err(DeliveryError::new(
                DeliveryErrorKind::Configuration,
                "the webhook base must be an http(s) URL",
            ));
        }
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .build()
            .map_err(|_| {
                DeliveryError::new(
                    DeliveryErrorKind::Configuration,
                    "cannot build the HTTP client",
                )
            })?;
        Ok(TwilioVoice {
            shared: Arc::new(Shared {
                config,
                clock,
                link_key: Zeroizing::new(link_key),
                calls: Mutex::new(HashMap::new()),
                seen: Mutex::new(HashMap::new()),
            }),
            http,
        })
    }

    /// The webhook handlers for this backend's calls.
    pub fn webhooks(&self) -> TwilioWebhooks {
        TwilioWebhooks::new(self.shared.clone())
    }

    fn calls_url(&self) -> String {
        format!(
            "{}/2010-04-01/Accounts/{}/Calls.json",
            self.shared.config.api_base, self.shared.config.account_sid
        )
    }
}

#[derive(serde::Deserialize)]
struct CreatedCall {
    sid: Option<String>,
}

#[derive(serde::Deserialize)]
struct ApiError {
    code: Option<u32>,
}

#[async_trait]
impl Delivery for TwilioVoice {
    async fn send(&self, request: &DeliveryRequest) -> Result<Receipt, DeliveryError> {
        let shared = &self.shared;
        let config = &shared.config;
        let script = CallScript::for_request(request, &config.script);
        let expires = shared.clock.now() + config.link_lifetime;
        let challenge = request.challenge_id.as_str();
        let document = twiml::segment(&script, 0, &|step| {
            shared.gather_url(challenge, step, "", expires)
        });
        let mut form: Vec<(&str, String)> = vec![
            ("To", request.destination.number.e164().to_owned()),
            ("From", config.from.e164().to_owned()),
            ("Twiml", document),
            ("StatusCallback", shared.status_url(challenge, expires)),
            ("StatusCallbackMethod", "POST".to_owned()),
            (
                "Timeout",
                config.ring_timeout.as_secs().clamp(5, 600).to_string(),
            ),
        ];
        if let Some(digits) = script.send_digits() {
            form.push(("SendDigits", digits.to_owned()));
        }
        let response = self
            .http
            .post(self.calls_url())
            .basic_auth(&config.account_sid, Some(config.auth_token.expose()))
            .form(&form)
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    DeliveryError::new(DeliveryErrorKind::Timeout, "Twilio did not answer in time")
                } else {
                    DeliveryError::transient("cannot reach Twilio")
                }
            })?;
        let status = response.status().as_u16();
        let body = response
            .text()
            .await
            .map_err(|_| DeliveryError::transient("Twilio's answer was cut off"))?;
        if !(200..300).contains(&status) {
            return Err(api_error(status, &body));
        }
        let sid = serde_json::from_str::<CreatedCall>(&body)
            .ok()
            .and_then(|c| c.sid)
            .filter(|s| {
                !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric())
            })
            .ok_or_else(|| DeliveryError::permanent("Twilio's answer has no call SID"))?;
        shared.book(
            &request.challenge_id,
            BookedCall {
                user: request.user.clone(),
                script,
                call_sid: sid.clone(),
                expires_at: expires,
                settled: false,
            },
        );
        Ok(Receipt::new(sid))
    }
}

/// Maps a Twilio error answer to a typed error. Only the status and Twilio's error
/// code are kept: the message may echo the request.
fn api_error(status: u16, body: &str) -> DeliveryError {
    let code = serde_json::from_str::<ApiError>(body)
        .ok()
        .and_then(|e| e.code);
    let message = match code {
        Some(code) => format!("Twilio answered {status} (error {code})"),
        None => format!("Twilio answered {status}"),
    };
    let kind = match (status, code) {
        (400, Some(21211 | 21214 | 21217 | 21401 | 21407 | 13223 | 13224)) => {
            DeliveryErrorKind::InvalidDestination
        }
        (400, Some(21215 | 21216 | 13227 | 21610)) => DeliveryErrorKind::Blocked,
        (400, Some(21210 | 21212 | 21606)) => DeliveryErrorKind::Configuration,
        (401 | 403 | 404, _) => DeliveryErrorKind::Configuration,
        (408, _) => DeliveryErrorKind::Timeout,
        (429, _) | (500..=599, _) => DeliveryErrorKind::Transient,
        _ => DeliveryErrorKind::Rejected,
    };
    DeliveryError::new(kind, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_errors_are_typed() {
        let e = api_error(
            400,
            r#"{"code": 21211, "message": "The 'To' number +4700 is not valid", "status": 400}"#,
        );
        assert_eq!(e.kind(), DeliveryErrorKind::InvalidDestination);
        assert!(!e.message().contains("+4700"));
        assert_eq!(
            api_error(401, r#"{"code": 20003}"#).kind(),
            DeliveryErrorKind::Configuration
        );
        assert_eq!(
            api_error(400, r#"{"code": 21215}"#).kind(),
            DeliveryErrorKind::Blocked
        );
        assert!(api_error(429, "").is_transient());
        assert!(api_error(503, "<html>").is_transient());
        assert_eq!(api_error(400, "junk").kind(), DeliveryErrorKind::Rejected);
    }

    #[test]
    fn the_auth_token_is_redacted() {
        let token = AuthToken::new("s3cr3t-token");
        assert!(!format!("{token:?}").contains("s3cr3t"));
        let config = TwilioConfig::new(
            "AC123",
            token,
            PhoneNumber::parse("+15005550006").unwrap(),
            "https://example.com/hooks/",
        );
        assert_eq!(config.webhook_base, "https://example.com/hooks");
        let voice = TwilioVoice::new(config).unwrap();
        assert!(!format!("{voice:?}").contains("s3cr3t"));
    }

    #[test]
    fn bad_configuration_is_refused() {
        let from = PhoneNumber::parse("+15005550006").unwrap();
        let bad_sid = TwilioConfig::new(
            "AC/../x",
            AuthToken::new("t"),
            from.clone(),
            "https://e.com",
        );
        assert_eq!(
            TwilioVoice::new(bad_sid).unwrap_err().kind(),
            DeliveryErrorKind::Configuration
        );
        let bad_base = TwilioConfig::new("AC1", AuthToken::new("t"), from, "ftp://e.com");
        assert_eq!(
            TwilioVoice::new(bad_base).unwrap_err().kind(),
            DeliveryErrorKind::Configuration
        );
    }
}
