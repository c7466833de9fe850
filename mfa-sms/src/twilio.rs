//! The Twilio Messages API: `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`
//! with basic auth and the form fields `To`, `Body`, `From` or `MessagingServiceSid`,
//! and `StatusCallback`.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use mfa_core::{DeliveryError, DeliveryErrorKind, Receipt};
use serde::Deserialize;

use crate::delivery::{ConfigError, OutgoingSms, SmsBackend};
use crate::transport;

/// Twilio's API host.
pub const TWILIO_API: &str = "https://api.twilio.com";

/// Who the message comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TwilioSender {
    /// A Twilio phone number (E.164), short code or alphanumeric sender id: `From`.
    From(String),
    /// A Messaging Service, which picks the sender: `MessagingServiceSid` (`MG...`).
    MessagingService(String),
}

/// Sends SMS through Twilio's Messages API.
///
/// ```
/// use mfa_sms::{SmsDelivery, TwilioSender, TwilioSms};
///
/// let twilio = TwilioSms::new(
///     "AC0123456789abcdef0123456789abcdef",
///     "auth-token",
///     TwilioSender::MessagingService("MG0123456789abcdef0123456789abcdef".into()),
/// )
/// .unwrap()
/// .with_status_callback("https://example.com/twilio/status")
/// .unwrap();
/// assert!(!format!("{twilio:?}").contains("auth-token"));
/// let channel = SmsDelivery::new(twilio);
/// # let _ = channel;
/// ```
#[derive(Clone)]
pub struct TwilioSms {
    account_sid: String,
    auth_token: String,
    sender: TwilioSender,
    status_callback: Option<String>,
    base_url: String,
    client: reqwest::Client,
}

impl fmt::Debug for TwilioSms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwilioSms")
            .field("account_sid", &self.account_sid)
            .field("auth_token", &"<redacted>")
            .field("sender", &self.sender)
            .field("status_callback", &self.status_callback)
            .field("base_url", &self.base_url)
            .finish()
    }
}

impl TwilioSms {
    /// A backend for the account `account_sid` (`AC...`), authenticated with its auth
    /// token (or an API key's secret with the key's sid as `account_sid`'s user).
    pub fn new(
        account_sid: &str,
        auth_token: &str,
        sender: TwilioSender,
    ) -> Result<Self, ConfigError> {
        let sid_ok = |s: &str, prefix: &str| {
            s.len() == 34 && s.starts_with(prefix) && s.bytes().all(|b| b.is_ascii_alphanumeric())
        };
        if !sid_ok(account_sid, "AC") {
            return Err(ConfigError::InvalidSetting(
                "the account sid is AC followed by 32 hex digits",
            ));
        }
        if auth_token.is_empty() || auth_token.contains(['\r', '\n']) {
            return Err(ConfigError::InvalidSetting(
                "the auth token is empty or malformed",
            ));
        }
        match &sender {
            TwilioSender::From(from) if from.trim().is_empty() || from.len() > 64 => {
                return Err(ConfigError::InvalidSetting(
                    "the From sender is empty or too long",
                ));
            }
            TwilioSender::MessagingService(sid) if !sid_ok(sid, "MG") => {
                return Err(ConfigError::InvalidSetting(
                    "the messaging service sid is MG followed by 32 hex digits",
                ));
            }
            _ => {}
        }
        Ok(TwilioSms {
            account_sid: account_sid.to_owned(),
            auth_token: auth_token.to_owned(),
            sender,
            status_callback: None,
            base_url: TWILIO_API.to_owned(),
            client: transport::client(transport::DEFAULT_TIMEOUT)?,
        })
    }

    /// Twilio posts the message's status changes to `url`.
    pub fn with_status_callback(mut self, url: &str) -> Result<Self, ConfigError> {
        transport::base_url(url)?;
        self.status_callback = Some(url.to_owned());
        Ok(self)
    }

    /// Talks to `url` instead of `https://api.twilio.com` (a proxy, or a test server).
    pub fn with_base_url(mut self, url: &str) -> Result<Self, ConfigError> {
        self.base_url = transport::base_url(url)?;
        Ok(self)
    }

    /// How long to wait for Twilio (default 10 s); a slower answer is a timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Result<Self, ConfigError> {
        self.client = transport::client(timeout)?;
        Ok(self)
    }

    fn messages_url(&self) -> String {
        format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            self.base_url, self.account_sid
        )
    }
}

/// Twilio's answer to a created message (the fields used here).
#[derive(Deserialize)]
struct Created {
    sid: Option<String>,
}

/// Twilio's error body: `{"code", "message", "more_info", "status"}`.
#[derive(Deserialize)]
struct TwilioErrorBody {
    code: Option<u32>,
    more_info: Option<String>,
}

/// The kind of failure a Twilio error code means, when it says more than the status.
pub fn error_kind(code: u32) -> Option<DeliveryErrorKind> {
    Some(match code {
        // Invalid 'To' number; not a mobile number; landline or unreachable carrier.
        21211 | 21614 | 21612 | 21217 | 21401 | 21407 => DeliveryErrorKind::InvalidDestination,
        // Region not enabled; unsubscribed (STOP); blocked or blacklisted destination.
        21408 | 21610 | 21215 | 30004 | 30007 => DeliveryErrorKind::Blocked,
        // Authentication; the sender is not ours or cannot send SMS; the messaging service.
        20003 | 20005 | 20404 | 21212 | 21606 | 21659 | 21660 | 21703 | 21705 => {
            DeliveryErrorKind::Configuration
        }
        20429 | 14107 | 30001 | 30002 => DeliveryErrorKind::Transient,
        _ => return None,
    })
}

fn describe(code: u32) -> &'static str {
    match code {
        21211 => "invalid 'To' number",
        21614 => "'To' is not a mobile number",
        21408 => "sending to this region is not enabled",
        21610 => "the recipient has unsubscribed",
        20003 => "authentication failed",
        20429 => "too many requests",
        _ => "see more_info",
    }
}

#[async_trait]
impl SmsBackend for TwilioSms {
    async fn submit(&self, sms: &OutgoingSms<'_>) -> Result<Receipt, DeliveryError> {
        let mut form: Vec<(&str, &str)> = Vec::with_capacity(4);
        form.push(("To", sms.to.e164()));
        match &self.sender {
            TwilioSender::From(from) => form.push(("From", from)),
            TwilioSender::MessagingService(sid) => form.push(("MessagingServiceSid", sid)),
        }
        form.push(("Body", sms.text));
        if let Some(url) = &self.status_callback {
            form.push(("StatusCallback", url));
        }
        let response = self
            .client
            .post(self.messages_url())
            .basic_auth(&self.account_sid, Some(&self.auth_token))
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&form)
            .send()
            .await
            .map_err(|e| transport::request_failed("Twilio", e))?;
        let status = response.status().as_u16();
        let body = response
            .bytes()
            .await
            .map_err(|e| transport::request_failed("Twilio", e))?;
        if (200..300).contains(&status) {
            let sid = serde_json::from_slice::<Created>(&body)
                .ok()
                .and_then(|c| c.sid)
                .unwrap_or_default();
            return Ok(Receipt::new(sid));
        }
        let error = serde_json::from_slice::<TwilioErrorBody>(&body).ok();
        let code = error.as_ref().and_then(|e| e.code);
        let kind = match (status, code.and_then(error_kind)) {
            (429 | 500..=599, _) => DeliveryErrorKind::Transient,
            (_, Some(kind)) => kind,
            _ => transport::status_kind(status),
        };
        let more_info = error
            .and_then(|e| e.more_info)
            .map(|info| info.chars().take(200).collect::<String>());
        let message = match (code, more_info) {
            (Some(code), Some(info)) => format!(
                "Twilio answered {status} with error {code} ({}): {info}",
                describe(code)
            ),
            (Some(code), None) => {
                format!(
                    "Twilio answered {status} with error {code} ({})",
                    describe(code)
                )
            }
            (None, _) => format!("Twilio answered {status}"),
        };
        Err(DeliveryError::new(kind, message))
    }
}
