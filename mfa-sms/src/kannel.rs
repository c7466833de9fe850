//! Kannel's `sendsms` HTTP interface (smsbox): GET with the message in the query, or
//! POST with the text as the body and `X-Kannel-*` headers.
//!
//! GSM-7 text goes as UTF-8 (`charset=UTF-8`) for Kannel to convert; UCS-2 text goes as
//! UTF-16BE bytes with `coding=2` and `charset=UTF-16BE`.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use mfa_core::{
    ChallengeId, DeliveryError, DeliveryErrorKind, DeliveryReport, ProviderCode, Receipt,
    ReportStatus,
};

use crate::delivery::{ConfigError, OutgoingSms, SmsBackend};
use crate::encoding::Encoding;
use crate::reports::{ReportError, SentMessage, SentMessages, SmsReport, param};
use crate::transport;

/// How the message is handed to smsbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KannelMethod {
    /// `GET /cgi-bin/sendsms?username=..&password=..&to=..&text=..`.
    #[default]
    Get,
    /// `POST /cgi-bin/sendsms` with `X-Kannel-Username`, `X-Kannel-To`, ... and the text as the body
    /// (keeps the code and the password out of access logs that record URLs).
    Post,
}

/// What Kannel said about an accepted message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KannelAcceptance {
    /// `0: Accepted for delivery`.
    Accepted,
    /// `3: Queued for later delivery` (the SMSC link is down; bearerbox keeps it).
    Queued,
}

/// Reads smsbox's answer to a sendsms request: the HTTP status and the body text.
pub fn parse_answer(status: u16, body: &str) -> Result<KannelAcceptance, DeliveryError> {
    let body = body.trim();
    if (200..300).contains(&status) {
        if body.starts_with("0:") {
            return Ok(KannelAcceptance::Accepted);
        }
        if body.starts_with("3:") {
            return Ok(KannelAcceptance::Queued);
        }
    }
    let lower = body.to_ascii_lowercase();
    let kind = if lower.contains("authorization failed") || lower.contains("ip address not allowed")
    {
        DeliveryErrorKind::Configuration
    } else if lower.contains("denied by white") || lower.contains("black-list") {
        DeliveryErrorKind::Blocked
    } else if lower.contains("receiver number")
        || lower.contains("receiver numbers")
        || lower.contains("missing receiver")
    {
        DeliveryErrorKind::InvalidDestination
    } else if lower.contains("sender missing") || lower.contains("not allowed to change sender") {
        DeliveryErrorKind::Configuration
    } else if lower.starts_with("4:")
        || lower.contains("sending failed")
        || lower.contains("result: failure")
    {
        DeliveryErrorKind::Transient
    } else if (200..300).contains(&status) {
        DeliveryErrorKind::Rejected
    } else {
        transport::status_kind(status)
    };
    let shown: String = body.chars().take(120).collect();
    Err(DeliveryError::new(
        kind,
        format!("Kannel answered {status}: {shown}"),
    ))
}

/// Numbers this process's sends through Kannel, for `{send}` in a `dlr-url`: unique in
/// the process, so two backends sharing one sent log never give the same number.
static SENDS: AtomicU64 = AtomicU64::new(1);

/// Sends SMS through Kannel's smsbox.
///
/// ```
/// use mfa_sms::{KannelMethod, KannelSms, SmsDelivery};
///
/// let kannel = KannelSms::new("http://127.0.0.1:13013/cgi-bin/sendsms", "mfa", "s3cret")
///     .unwrap()
///     .method(KannelMethod::Post)
///     .from("Contoso")
///     .delivery_reports(
///         31,
///         "https://app.example.com/dlr?challenge={challenge}&send={send}&status=%d",
///     )
///     .unwrap();
/// assert!(!format!("{kannel:?}").contains("s3cret"));
/// let channel = SmsDelivery::new(kannel);
/// # let _ = channel;
/// ```
#[derive(Clone)]
pub struct KannelSms {
    sendsms_url: String,
    username: String,
    password: String,
    from: Option<String>,
    smsc: Option<String>,
    method: KannelMethod,
    dlr: Option<(u8, String)>,
    client: reqwest::Client,
}

impl fmt::Debug for KannelSms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KannelSms")
            .field("sendsms_url", &self.sendsms_url)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("from", &self.from)
            .field("smsc", &self.smsc)
            .field("method", &self.method)
            .field("dlr_mask", &self.dlr.as_ref().map(|(mask, _)| mask))
            .finish()
    }
}

impl KannelSms {
    /// A backend for the smsbox `sendsms` URL (such as
    /// `http://127.0.0.1:13013/cgi-bin/sendsms`) with a `sendsms-user`'s credentials.
    pub fn new(sendsms_url: &str, username: &str, password: &str) -> Result<Self, ConfigError> {
        let url = transport::base_url(sendsms_url)?;
        if url.contains('?') {
            return Err(ConfigError::InvalidUrl("the sendsms URL takes no query"));
        }
        if username.is_empty()
            || [username, password]
                .iter()
                .any(|s| s.contains(['\r', '\n']))
        {
            return Err(ConfigError::InvalidSetting(
                "the username is empty or malformed",
            ));
        }
        Ok(KannelSms {
            sendsms_url: url,
            username: username.to_owned(),
            password: password.to_owned(),
            from: None,
            smsc: None,
            method: KannelMethod::Get,
            dlr: None,
            client: transport::client(transport::DEFAULT_TIMEOUT)?,
        })
    }

    /// GET (default) or POST.
    pub fn method(mut self, method: KannelMethod) -> Self {
        self.method = method;
        self
    }

    /// The sender shown on the phone (when the `sendsms-user` may set it).
    pub fn from(mut self, sender: &str) -> Self {
        self.from = Some(sender.trim().to_owned()).filter(|s| !s.is_empty());
        self
    }

    /// Routes through the SMSC with this `smsc-id`.
    pub fn smsc(mut self, smsc_id: &str) -> Self {
        self.smsc = Some(smsc_id.trim().to_owned()).filter(|s| !s.is_empty());
        self
    }

    /// Asks for delivery reports: `mask` is Kannel's `dlr-mask` (1 delivered, 2 failed,
    /// 4 buffered, 8 SMSC success, 16 SMSC reject); Kannel calls `url`, where
    /// `{challenge}` becomes the challenge id, `{send}` the number of this send, and
    /// Kannel's own escapes (`%d` the status) are left for Kannel. See
    /// [`delivery_report`] for the parameters it reads.
    pub fn delivery_reports(mut self, mask: u8, url: &str) -> Result<Self, ConfigError> {
        if mask == 0 || mask > 31 {
            return Err(ConfigError::InvalidSetting("dlr-mask is 1 to 31"));
        }
        transport::base_url(
            &url.replace("{challenge}", "x")
                .replace("{send}", "1")
                .replace('%', ""),
        )?;
        self.dlr = Some((mask, url.to_owned()));
        Ok(self)
    }

    /// How long to wait for smsbox (default 10 s); a slower answer is a timeout.
    pub fn timeout(mut self, timeout: Duration) -> Result<Self, ConfigError> {
        self.client = transport::client(timeout)?;
        Ok(self)
    }

    fn dlr_url(&self, sms: &OutgoingSms<'_>, send: u64) -> Option<(u8, String)> {
        self.dlr.as_ref().map(|(mask, url)| {
            (
                *mask,
                url.replace("{challenge}", sms.request.challenge_id.as_str())
                    .replace("{send}", &send.to_string()),
            )
        })
    }

    fn get(&self, sms: &OutgoingSms<'_>, send: u64) -> reqwest::RequestBuilder {
        let ucs2 = sms.length.encoding == Encoding::Ucs2;
        let text = if ucs2 {
            transport::utf16be(sms.text)
        } else {
            sms.text.as_bytes().to_vec()
        };
        let mut url = String::with_capacity(self.sendsms_url.len() + 64 + text.len() * 3);
        url.push_str(&self.sendsms_url);
        let mut param = |name: &str, value: &[u8]| {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(name);
            url.push('=');
            transport::percent_encode_into(&mut url, value);
        };
        param("username", self.username.as_bytes());
        param("password", self.password.as_bytes());
        param("to", sms.to.e164().as_bytes());
        if let Some(from) = &self.from {
            param("from", from.as_bytes());
        }
        if let Some(smsc) = &self.smsc {
            param("smsc", smsc.as_bytes());
        }
        if ucs2 {
            param("coding", b"2");
            param("charset", b"UTF-16BE");
        } else {
            param("charset", b"UTF-8");
        }
        param("text", &text);
        if let Some((mask, dlr_url)) = self.dlr_url(sms, send) {
            param("dlr-mask", mask.to_string().as_bytes());
            param("dlr-url", dlr_url.as_bytes());
        }
        self.client.get(url)
    }

    fn post(&self, sms: &OutgoingSms<'_>, send: u64) -> reqwest::RequestBuilder {
        let ucs2 = sms.length.encoding == Encoding::Ucs2;
        let (body, content_type) = if ucs2 {
            (transport::utf16be(sms.text), "text/plain; charset=UTF-16BE")
        } else {
            (sms.text.as_bytes().to_vec(), "text/plain; charset=UTF-8")
        };
        let mut request = self
            .client
            .post(&self.sendsms_url)
            .header("X-Kannel-Username", &self.username)
            .header("X-Kannel-Password", &self.password)
            .header("X-Kannel-To", sms.to.e164())
            .header(reqwest::header::CONTENT_TYPE, content_type);
        if let Some(from) = &self.from {
            request = request.header("X-Kannel-From", from);
        }
        if let Some(smsc) = &self.smsc {
            request = request.header("X-Kannel-SMSC", smsc);
        }
        if ucs2 {
            request = request.header("X-Kannel-Coding", "2");
        }
        if let Some((mask, dlr_url)) = self.dlr_url(sms, send) {
            request = request
                .header("X-Kannel-DLR-Mask", mask.to_string())
                .header("X-Kannel-DLR-Url", dlr_url);
        }
        request.body(body)
    }
}

#[async_trait]
impl SmsBackend for KannelSms {
    async fn submit(&self, sms: &OutgoingSms<'_>) -> Result<Receipt, DeliveryError> {
        let send = SENDS.fetch_add(1, Ordering::Relaxed);
        let request = match self.method {
            KannelMethod::Get => self.get(sms, send),
            KannelMethod::Post => self.post(sms, send),
        };
        let response = request
            .send()
            .await
            .map_err(|e| transport::request_failed("Kannel", e))?;
        let status = response.status().as_u16();
        let body = response
            .text()
            .await
            .map_err(|e| transport::request_failed("Kannel", e))?;
        // Accepted or queued for later delivery: either way smsbox has the message.
        parse_answer(status, &body)?;
        // smsbox returns no message id; the challenge id and this send's number are
        // what delivery reports carry (`{challenge}`, `{send}`), so they are its id.
        Ok(Receipt::new(message_id(
            sms.request.challenge_id.as_str(),
            send,
        )))
    }
}

/// The id of one send through Kannel: its receipt's, and the sent log's.
fn message_id(challenge: &str, send: u64) -> String {
    format!("{challenge}:{send}")
}

/// Reads one of Kannel's delivery reports, sent to the URL given to
/// [`KannelSms::delivery_reports`] with its query decoded into `params`. The URL must
/// carry `challenge={challenge}` and `status=%d`, should carry `send={send}`, and may
/// carry `id=%F` (the SMSC's message id) and `reply=%A` (the SMSC's answer, whose
/// `err:` code is kept):
/// `https://app.example.com/dlr?challenge={challenge}&send={send}&status=%d&id=%F`.
///
/// With `send`, a report on a message its challenge has sent again since is marked
/// [superseded](DeliveryReport::superseded), so it offers no fallback while the newer
/// code may still arrive. Without it, a report is taken to be on the latest send.
///
/// Kannel does not sign its reports: the challenge id, 128 random bits known only to
/// this server and Kannel, is what makes a report genuine, so keep the URL on a
/// private network. Intermediate states (buffered, SMSC success) give `None`.
pub fn delivery_report(
    sent: &SentMessages,
    params: &[(String, String)],
) -> Result<Option<SmsReport>, ReportError> {
    let challenge = param(params, "challenge")
        .and_then(|c| ChallengeId::parse(c).ok())
        .ok_or(ReportError::BadParameter("challenge"))?;
    let status = match param(params, "status").and_then(|s| s.trim().parse::<u8>().ok()) {
        Some(1) => ReportStatus::Delivered,
        Some(2) => ReportStatus::Undelivered,
        Some(16) => ReportStatus::Failed,
        Some(4 | 8) => return Ok(None),
        _ => return Err(ReportError::BadParameter("status")),
    };
    let send = match param(params, "send") {
        None => None,
        Some(send) => Some(
            send.trim()
                .parse::<u64>()
                .map_err(|_| ReportError::BadParameter("send"))?,
        ),
    };
    let message = match send {
        Some(send) => sent
            .find(&message_id(challenge.as_str(), send))
            .filter(|m| m.challenge_id == challenge),
        None => sent.by_challenge(&challenge).map(|user| SentMessage {
            user,
            challenge_id: challenge.clone(),
            superseded: false,
        }),
    }
    .ok_or(ReportError::UnknownMessage)?;
    let id = param(params, "id")
        .filter(|id| !id.is_empty())
        .unwrap_or(challenge.as_str());
    let mut report = DeliveryReport::new(id, status);
    if let Some(code) = param(params, "reply").and_then(smsc_error) {
        report = report.with_provider_code(ProviderCode::new("kannel", code));
    }
    Ok(Some(message.report(report)))
}

/// The `err:NNN` of an SMSC's receipt text, when Kannel passes it on.
fn smsc_error(reply: &str) -> Option<u32> {
    reply
        .split_whitespace()
        .find_map(|part| part.strip_prefix("err:"))
        .and_then(|code| code.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn delivery_reports_name_the_challenge_and_its_user() {
        let sent = SentMessages::new();
        let user = mfa_core::UserId::new("ada@contoso.com").unwrap();
        let challenge = ChallengeId::parse("c0ffee00c0ffee00").unwrap();
        sent.record("c0ffee00c0ffee00:1", &user, &challenge);
        let failed = delivery_report(
            &sent,
            &query(&[
                ("challenge", "c0ffee00c0ffee00"),
                ("status", "2"),
                ("id", "0a1b2c"),
                ("reply", "NACK/0x0000000b/id:0a1b2c err:011"),
            ]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(failed.user, user);
        assert_eq!(failed.report.status, ReportStatus::Undelivered);
        assert_eq!(failed.report.message_id, "0a1b2c");
        assert_eq!(
            failed.report.provider_code,
            Some(ProviderCode::new("kannel", 11))
        );
        // Buffered is on the way; an unknown challenge or status is refused.
        let buffered = query(&[("challenge", "c0ffee00c0ffee00"), ("status", "4")]);
        assert_eq!(delivery_report(&sent, &buffered).unwrap(), None);
        let other = query(&[("challenge", "deadbeefdeadbeef"), ("status", "1")]);
        assert_eq!(
            delivery_report(&sent, &other).unwrap_err(),
            ReportError::UnknownMessage
        );
        let junk = query(&[("challenge", "c0ffee00c0ffee00"), ("status", "x")]);
        assert_eq!(
            delivery_report(&sent, &junk).unwrap_err(),
            ReportError::BadParameter("status")
        );
        assert!(delivery_report(&sent, &[]).is_err());
        // A send number is looked up as such: one not logged, or not a number, is refused.
        let unlogged = query(&[
            ("challenge", "c0ffee00c0ffee00"),
            ("send", "7"),
            ("status", "1"),
        ]);
        assert_eq!(
            delivery_report(&sent, &unlogged).unwrap_err(),
            ReportError::UnknownMessage
        );
        let junk = query(&[
            ("challenge", "c0ffee00c0ffee00"),
            ("send", "x"),
            ("status", "1"),
        ]);
        assert_eq!(
            delivery_report(&sent, &junk).unwrap_err(),
            ReportError::BadParameter("send")
        );
    }

    #[test]
    fn kannel_answers_parse() {
        assert_eq!(
            parse_answer(202, "0: Accepted for delivery"),
            Ok(KannelAcceptance::Accepted)
        );
        assert_eq!(
            parse_answer(202, "3: Queued for later delivery\n"),
            Ok(KannelAcceptance::Queued)
        );
        let cases = [
            (
                403,
                "Authorization failed for sendsms",
                DeliveryErrorKind::Configuration,
            ),
            (
                400,
                "Missing receiver number",
                DeliveryErrorKind::InvalidDestination,
            ),
            (
                400,
                "Receiver number not valid",
                DeliveryErrorKind::InvalidDestination,
            ),
            (
                403,
                "Number(s) has/have been denied by white- and/or black-lists.",
                DeliveryErrorKind::Blocked,
            ),
            (
                403,
                "Sender missing and no global set, rejected",
                DeliveryErrorKind::Configuration,
            ),
            (503, "4: Sending failed.", DeliveryErrorKind::Transient),
            (500, "", DeliveryErrorKind::Transient),
            (404, "Unknown service", DeliveryErrorKind::Configuration),
            (202, "something else", DeliveryErrorKind::Rejected),
        ];
        for (status, body, kind) in cases {
            assert_eq!(
                parse_answer(status, body).unwrap_err().kind(),
                kind,
                "{status} {body}"
            );
        }
    }

    #[test]
    fn long_answers_are_cut_in_errors() {
        let body = "x".repeat(10_000);
        assert!(parse_answer(400, &body).unwrap_err().message().len() < 200);
    }

    #[test]
    fn bad_settings_are_refused() {
        assert!(KannelSms::new("not a url", "u", "p").is_err());
        assert!(KannelSms::new("http://h/cgi-bin/sendsms?x=1", "u", "p").is_err());
        assert!(KannelSms::new("http://h/cgi-bin/sendsms", "", "p").is_err());
        let k = KannelSms::new("http://h/cgi-bin/sendsms", "u", "p").unwrap();
        assert!(k.clone().delivery_reports(0, "http://a/dlr").is_err());
        assert!(k.clone().delivery_reports(32, "http://a/dlr").is_err());
        assert!(k.delivery_reports(31, "nope").is_err());
    }
}
