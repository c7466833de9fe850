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
use mfa_twilio::{Account, ConfigError, LimitError};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use crate::script::{CallScript, ScriptOptions};

pub use crate::report::CallEvent;
pub use mfa_twilio::{AuthToken, compute_signature, parse_form, signature_is_valid};
pub use webhook::{TwilioWebhooks, WebhookError, WebhookReply};

/// The longest office extension (`mfa_core::Extension` takes 1 to 10 digits).
const MAX_EXTENSION_DIGITS: usize = 10;

/// Twilio's API host.
pub const DEFAULT_API_BASE: &str = "https://api.twilio.com";

/// How to reach Twilio and where its webhooks come back.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TwilioConfig {
    /// The account SID (`AC...`).
    pub account_sid: String,
    /// The account's auth token: checks Twilio's webhook signatures, and
    /// authenticates API requests unless an API key does ([`TwilioConfig::with_api_key`]).
    pub auth_token: AuthToken,
    /// An API key (`SK…` and its secret) to authenticate API requests with instead.
    pub api_key: Option<(String, AuthToken)>,
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
            api_key: None,
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

    /// Authenticates API requests with the API key `sid` (`SK…`) and its secret; the
    /// auth token still checks webhook signatures, which Twilio signs with it.
    pub fn with_api_key(mut self, sid: impl Into<String>, secret: AuthToken) -> Self {
        self.api_key = Some((sid.into(), secret));
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
    account: Account,
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
    pub fn new(config: TwilioConfig) -> Result<Self, ConfigError> {
        let mut key = [0u8; 32];
        OsRandomness.fill(&mut key);
        let voice = Self::with_link_key(config, key, Arc::new(SystemClock));
        key.zeroize();
        voice
    }

    /// A backend with `clock` and a given link key: servers behind one load balancer
    /// share the key so any of them can check the links (the script state is still
    /// per process).
    ///
    /// Refuses what Twilio would: an account SID not of the form
    /// `^AC[0-9a-fA-F]{32}$`, an API key SID not `SK…`, a webhook base that is not
    /// http(s) or has an underscore in its host, and office-extension waits that
    /// cannot fit `SendDigits` with a ten-digit extension.
    pub fn with_link_key(
        mut config: TwilioConfig,
        link_key: [u8; 32],
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConfigError> {
        let account = match &config.api_key {
            None => Account::new(&config.account_sid, config.auth_token.clone())?,
            Some((sid, secret)) => Account::with_api_key(&config.account_sid, sid, secret.clone())?
                .with_webhook_token(config.auth_token.clone())?,
        };
        config.webhook_base = mfa_twilio::limits::callback_url(&config.webhook_base)?;
        let longest_digits = usize::from(config.script.extension_waits) + MAX_EXTENSION_DIGITS;
        if longest_digits > mfa_twilio::MAX_SEND_DIGITS {
            return Err(LimitError::TooLong {
                parameter: "SendDigits",
                max: mfa_twilio::MAX_SEND_DIGITS,
                len: longest_digits,
            }
            .into());
        }
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .build()
            .map_err(|_| ConfigError::HttpClient)?;
        Ok(TwilioVoice {
            shared: Arc::new(Shared {
                config,
                account,
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
        self.shared
            .account
            .resource_url(&self.shared.config.api_base, "Calls")
    }
}

#[derive(serde::Deserialize)]
struct CreatedCall {
    sid: Option<String>,
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
        // Checked before sending: Twilio would refuse the call, or cut it short.
        for (name, value) in &form {
            let checked = match *name {
                "Twiml" => mfa_twilio::limits::twiml(value),
                "SendDigits" => mfa_twilio::limits::send_digits(value),
                _ => Ok(()),
            };
            checked.map_err(|e| {
                DeliveryError::new(DeliveryErrorKind::Configuration, e.to_string()).with_source(e)
            })?;
        }
        let (user, password) = shared.account.basic_auth();
        let response = self
            .http
            .post(self.calls_url())
            .basic_auth(user, Some(password))
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
            return Err(mfa_twilio::api_error(status, body.as_bytes()));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_auth_token_is_redacted() {
        let token = AuthToken::new("s3cr3t-token");
        assert!(!format!("{token:?}").contains("s3cr3t"));
        let config = TwilioConfig::new(
            "AC0123456789abcdef0123456789abcdef",
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
            TwilioVoice::new(bad_sid).unwrap_err(),
            ConfigError::InvalidAccountSid
        );
        let bad_base = TwilioConfig::new(
            "AC0123456789abcdef0123456789abcdef",
            AuthToken::new("t"),
            from,
            "ftp://e.com",
        );
        assert_eq!(
            TwilioVoice::new(bad_base).unwrap_err(),
            ConfigError::InvalidCallbackUrl
        );
    }
}
