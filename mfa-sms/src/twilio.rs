//! The Twilio Messages API: `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`
//! with basic auth and the form fields `To`, `Body`, `From` or `MessagingServiceSid`,
//! and `StatusCallback`. The account, its credentials and the error table are
//! [`mfa_twilio`]'s, shared with the voice backend.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use mfa_core::{DeliveryError, DeliveryReport, ProviderCode, Receipt, ReportStatus};
use mfa_twilio::{Account, AuthToken, MessagingServiceSid};
use serde::Deserialize;

use crate::delivery::{ConfigError, OutgoingSms, SmsBackend};
use crate::reports::{ReportError, SentMessages, SmsReport, param};
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
    account: Account,
    sender: TwilioSender,
    status_callback: Option<String>,
    base_url: String,
    client: reqwest::Client,
}

impl fmt::Debug for TwilioSms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwilioSms")
            .field("account", &self.account)
            .field("sender", &self.sender)
            .field("status_callback", &self.status_callback)
            .field("base_url", &self.base_url)
            .finish()
    }
}

impl TwilioSms {
    /// A backend for the account `account_sid` (`AC` and 32 hex digits),
    /// authenticated with its auth token. For an API key, see [`TwilioSms::with_api_key`].
    pub fn new(
        account_sid: &str,
        auth_token: &str,
        sender: TwilioSender,
    ) -> Result<Self, ConfigError> {
        Self::with_account(
            Account::new(account_sid, AuthToken::new(auth_token))?,
            sender,
        )
    }

    /// A backend for the account `account_sid` (`AC…`), authenticated with the API key
    /// `key_sid` (`SK…`) and its secret; the request path names the account.
    pub fn with_api_key(
        account_sid: &str,
        key_sid: &str,
        key_secret: &str,
        sender: TwilioSender,
    ) -> Result<Self, ConfigError> {
        Self::with_account(
            Account::with_api_key(account_sid, key_sid, AuthToken::new(key_secret))?,
            sender,
        )
    }

    /// A backend for a configured [`Account`].
    pub fn with_account(account: Account, sender: TwilioSender) -> Result<Self, ConfigError> {
        match &sender {
            TwilioSender::From(from) if from.trim().is_empty() || from.len() > 64 => {
                return Err(ConfigError::InvalidSetting(
                    "the From sender is empty or too long",
                ));
            }
            TwilioSender::MessagingService(sid) => {
                MessagingServiceSid::parse(sid)?;
            }
            TwilioSender::From(_) => {}
        }
        Ok(TwilioSms {
            account,
            sender,
            status_callback: None,
            base_url: TWILIO_API.to_owned(),
            client: transport::client(transport::DEFAULT_TIMEOUT)?,
        })
    }

    /// Twilio posts the message's status changes to `url` (no underscore in its host).
    pub fn with_status_callback(mut self, url: &str) -> Result<Self, ConfigError> {
        mfa_twilio::limits::callback_url(url)?;
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

    /// The account, to check the status callbacks' signatures with.
    pub fn account(&self) -> &Account {
        &self.account
    }
}

/// Twilio's answer to a created message (the fields used here).
#[derive(Deserialize)]
struct Created {
    sid: Option<String>,
}

/// The kind of failure a Twilio error code means, when it says more than the status
/// (the table shared with the voice backend).
pub use mfa_twilio::error_kind;

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
        let (user, password) = self.account.basic_auth();
        let response = self
            .client
            .post(self.account.resource_url(&self.base_url, "Messages"))
            .basic_auth(user, Some(password))
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
        Err(mfa_twilio::api_error(status, &body))
    }
}

/// Reads one of Twilio's `StatusCallback` requests for a message this process sent:
/// checks `X-Twilio-Signature` against the account's auth token, then finds the
/// message in `sent`. `url` is the full URL Twilio requested, `params` the decoded
/// form. Statuses on the way (`queued`, `sent`, ...) give `None`: only `delivered`,
/// `read`, `undelivered`, `failed` and `canceled` are worth a report.
///
/// ```
/// use mfa_sms::{SentMessages, TwilioSender, TwilioSms, twilio::status_callback};
///
/// let twilio = TwilioSms::new(
///     "AC0123456789abcdef0123456789abcdef",
///     "auth-token",
///     TwilioSender::From("+15005550006".into()),
/// )?;
/// let sent = SentMessages::new();
/// // In the web handler for POST /twilio/status:
/// let refused = status_callback(twilio.account(), &sent, "https://app.example.com/twilio/status", &[], None);
/// assert_eq!(refused.unwrap_err().http_status(), 403);
/// # Ok::<(), mfa_sms::ConfigError>(())
/// ```
pub fn status_callback(
    account: &Account,
    sent: &SentMessages,
    url: &str,
    params: &[(String, String)],
    signature: Option<&str>,
) -> Result<Option<SmsReport>, ReportError> {
    if url.len() > 4096 || params.len() > 200 {
        return Err(ReportError::BadParameter("request too large"));
    }
    account
        .check_signature(url, params, signature)
        .map_err(|e| match e {
            mfa_twilio::SignatureError::Missing => ReportError::MissingSignature,
            _ => ReportError::BadSignature,
        })?;
    if param(params, "AccountSid").is_some_and(|sid| sid != account.sid().as_str()) {
        return Err(ReportError::BadSignature);
    }
    let sid = param(params, "MessageSid")
        .or_else(|| param(params, "SmsSid"))
        .filter(|s| !s.is_empty() && s.len() <= 64)
        .ok_or(ReportError::BadParameter("MessageSid"))?;
    let status = match param(params, "MessageStatus").or_else(|| param(params, "SmsStatus")) {
        Some("delivered" | "read") => ReportStatus::Delivered,
        Some("undelivered") => ReportStatus::Undelivered,
        Some("failed" | "canceled") => ReportStatus::Failed,
        Some(
            "accepted" | "scheduled" | "queued" | "sending" | "sent" | "receiving" | "received",
        ) => {
            return Ok(None);
        }
        _ => return Err(ReportError::BadParameter("MessageStatus")),
    };
    let message = sent.find(sid).ok_or(ReportError::UnknownMessage)?;
    let mut report = DeliveryReport::new(sid, status);
    if let Some(code) = param(params, "ErrorCode").and_then(|c| c.parse::<u32>().ok()) {
        report = report.with_provider_code(ProviderCode::new(mfa_twilio::errors::PROVIDER, code));
    }
    Ok(Some(message.report(report)))
}
