//! SMPP 3.4 straight to an SMSC, with the `smpp34` crate: one transceiver bind kept
//! open (the crate sends `enquire_link` while idle), re-bound when the link drops;
//! `submit_sm` with `data_coding` 0 (GSM-7) or 8 (UCS-2); long messages as UDH
//! concatenation or in one `message_payload`; `submit_sm_resp` statuses mapped to
//! typed errors; delivery receipts collected when asked for.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use mfa_core::{DeliveryError, DeliveryErrorKind, DeliveryReport, Receipt, ReportStatus};
use smpp34::client::{BIND_TYPE, SMSC, SmppClient, SmppClientListener};
use smpp34::{SmppConnectionInformation, SmppError, TlvTag, deliver_sm, deliver_sm_resp};
use tokio::sync::oneshot;

use crate::delivery::{ConfigError, OutgoingSms, SmsBackend};
use crate::encoding::{Encoding, GSM7_MULTI, GSM7_SINGLE, UCS2_MULTI, UCS2_SINGLE, gsm7_encode};
use crate::reports::{SentMessages, SmsReport};

/// How messages longer than one segment are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LongMessages {
    /// One `submit_sm` per segment with a concatenation UDH (`esm_class` 0x40).
    #[default]
    Udh,
    /// One `submit_sm` with the whole text in the `message_payload` parameter.
    MessagePayload,
}

/// The most receipts kept between [`SmppSms::take_reports`] calls; older ones go.
pub const MAX_RECEIPTS: usize = 1024;

/// A delivery receipt the SMSC sent back (`deliver_sm` with `esm_class` 0x04).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeliveryReceipt {
    /// The message id from `submit_sm_resp`.
    pub message_id: String,
    /// The final state as the receipt says it (`DELIVRD`, `UNDELIV`, `EXPIRED`, ...).
    pub state: String,
    /// The receipt's `err:` code (network specific), if it has one.
    pub error: Option<u32>,
}

impl DeliveryReceipt {
    /// The state as a report status; `None` for states on the way (`ENROUTE`,
    /// `ACCEPTD`) and unknown ones.
    pub fn status(&self) -> Option<ReportStatus> {
        Some(match self.state.as_str() {
            "DELIVRD" => ReportStatus::Delivered,
            "UNDELIV" | "EXPIRED" => ReportStatus::Undelivered,
            "REJECTD" | "DELETED" | "UNKNOWN" => ReportStatus::Failed,
            _ => return None,
        })
    }

    /// Whether the message reached the phone.
    pub fn is_delivered(&self) -> bool {
        self.state == "DELIVRD"
    }
}

/// How to reach and bind to the SMSC.
#[derive(Clone)]
pub struct SmppSettings {
    host: String,
    port: u16,
    system_id: String,
    password: String,
    system_type: String,
    source: String,
    bind_timeout: Duration,
    submit_timeout: Duration,
    enquire_link_interval: Duration,
    long_messages: LongMessages,
    delivery_receipts: bool,
}

impl fmt::Debug for SmppSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmppSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("system_id", &self.system_id)
            .field("password", &"<redacted>")
            .field("source", &self.source)
            .field("long_messages", &self.long_messages)
            .field("delivery_receipts", &self.delivery_receipts)
            .finish_non_exhaustive()
    }
}

impl SmppSettings {
    /// Binds to `host:port` as `system_id` with `password`; messages come from
    /// `source` (a number in international form without `+`, or up to 11 letters).
    pub fn new(
        host: &str,
        port: u16,
        system_id: &str,
        password: &str,
        source: &str,
    ) -> Result<Self, ConfigError> {
        // SMPP 3.4 field sizes, without the terminating NUL.
        if host.trim().is_empty() || port == 0 {
            return Err(ConfigError::InvalidSetting(
                "the SMSC host and port are required",
            ));
        }
        if system_id.is_empty() || system_id.len() > 15 || password.len() > 8 {
            return Err(ConfigError::InvalidSetting(
                "system_id is 1 to 15 characters and password at most 8",
            ));
        }
        let source = source.trim_start_matches('+');
        if source.is_empty() || source.len() > 20 || !source.is_ascii() {
            return Err(ConfigError::InvalidSetting(
                "the source address is 1 to 20 ASCII characters",
            ));
        }
        Ok(SmppSettings {
            host: host.trim().to_owned(),
            port,
            system_id: system_id.to_owned(),
            password: password.to_owned(),
            system_type: String::new(),
            source: source.to_owned(),
            bind_timeout: Duration::from_secs(10),
            submit_timeout: Duration::from_secs(10),
            enquire_link_interval: Duration::from_secs(30),
            long_messages: LongMessages::Udh,
            delivery_receipts: false,
        })
    }

    /// The `system_type` sent in the bind (default empty).
    pub fn system_type(mut self, system_type: &str) -> Self {
        self.system_type = system_type.chars().take(12).collect();
        self
    }

    /// How long to wait for `bind_transceiver_resp` (default 10 s).
    pub fn bind_timeout(mut self, timeout: Duration) -> Self {
        self.bind_timeout = timeout.max(Duration::from_millis(10));
        self
    }

    /// How long to wait for each `submit_sm_resp` (default 10 s).
    pub fn submit_timeout(mut self, timeout: Duration) -> Self {
        self.submit_timeout = timeout.max(Duration::from_millis(10));
        self
    }

    /// How often to send `enquire_link` on an idle link (default 30 s).
    pub fn enquire_link_interval(mut self, interval: Duration) -> Self {
        self.enquire_link_interval = interval.max(Duration::from_millis(10));
        self
    }

    /// How long messages are sent (default UDH concatenation).
    pub fn long_messages(mut self, how: LongMessages) -> Self {
        self.long_messages = how;
        self
    }

    /// Asks for delivery receipts (`registered_delivery` 1); read them with
    /// [`SmppSms::delivery_receipts`].
    pub fn delivery_receipts(mut self, on: bool) -> Self {
        self.delivery_receipts = on;
        self
    }
}

/// One bound session.
struct Link {
    client: SmppClient,
    smsc: Arc<SMSC>,
    up: Arc<AtomicBool>,
}

/// Sends SMS over SMPP 3.4.
///
/// ```no_run
/// use mfa_sms::{SmppSettings, SmppSms, SmsDelivery};
///
/// let settings = SmppSettings::new("smsc.example.net", 2775, "contoso", "s3cret", "Contoso")?;
/// let channel = SmsDelivery::new(SmppSms::new(settings));
/// # Ok::<(), mfa_sms::ConfigError>(())
/// ```
pub struct SmppSms {
    settings: SmppSettings,
    link: tokio::sync::Mutex<Option<Link>>,
    receipts: Arc<Mutex<Vec<DeliveryReceipt>>>,
    reference: AtomicU8,
}

impl fmt::Debug for SmppSms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmppSms")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

struct LinkListener {
    bound: Mutex<Option<oneshot::Sender<Result<SMSC, String>>>>,
    up: Arc<AtomicBool>,
    receipts: Arc<Mutex<Vec<DeliveryReceipt>>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl LinkListener {
    fn report(&self, result: Result<SMSC, String>) {
        if let Some(tx) = lock(&self.bound).take() {
            // The submit that waited may have given up: nobody to tell then.
            let _ = tx.send(result);
        }
    }
}

#[async_trait]
impl SmppClientListener for LinkListener {
    async fn on_smsc_bound(&self, smsc: SMSC, _session_id: &String) {
        self.up.store(true, Ordering::SeqCst);
        self.report(Ok(smsc));
    }

    async fn on_smsc_unbound(&self, _session_id: &String) {
        self.up.store(false, Ordering::SeqCst);
    }

    async fn on_connection_failed(&self, error: &str) {
        self.report(Err(error.to_owned()));
    }

    async fn on_deliver_sm(
        &self,
        request: deliver_sm,
        _connection: &SmppConnectionInformation,
        _session_id: &String,
    ) -> deliver_sm_resp {
        if request.esm_class & 0x04 != 0 {
            if let Some(receipt) = parse_receipt(&request.short_message) {
                let mut receipts = lock(&self.receipts);
                if receipts.len() >= MAX_RECEIPTS {
                    receipts.remove(0);
                }
                receipts.push(receipt);
            }
        }
        request.accept()
    }
}

/// Reads the SMPP 3.4 appendix B receipt text: `id:... sub:... stat:DELIVRD ...`.
pub fn parse_receipt(text: &[u8]) -> Option<DeliveryReceipt> {
    let text = String::from_utf8_lossy(text);
    let field = |name: &str| {
        text.split_whitespace()
            .find_map(|part| part.strip_prefix(name))
            .map(str::to_owned)
    };
    Some(DeliveryReceipt {
        message_id: field("id:")?.chars().take(64).collect(),
        state: field("stat:")?.chars().take(16).collect(),
        error: field("err:").and_then(|e| e.parse().ok()),
    })
}

/// The kind of failure a `submit_sm_resp` or `generic_nack` status means.
pub fn status_kind(status: u32) -> DeliveryErrorKind {
    match status {
        // Invalid destination address, its TON or NPI.
        0x0B | 0x50 | 0x51 => DeliveryErrorKind::InvalidDestination,
        // Throttled, queue full, system error, submit failed, temporary app error.
        0x58 | 0x14 | 0x08 | 0x45 | 0x64 => DeliveryErrorKind::Transient,
        // Bind failed, password, system id, source address/TON/NPI, wrong bind state.
        0x0D | 0x0E | 0x0F | 0x0A | 0x48 | 0x49 | 0x04 => DeliveryErrorKind::Configuration,
        // Permanent app error, rejected message.
        0x65 | 0x66 => DeliveryErrorKind::Blocked,
        _ => DeliveryErrorKind::Rejected,
    }
}

fn status_error(status: u32) -> DeliveryError {
    DeliveryError::new(
        status_kind(status),
        format!("the SMSC answered submit_sm with status {status:#010x}"),
    )
    .with_provider_code(mfa_core::ProviderCode::new("smpp", status))
}

/// One `submit_sm`'s worth of message.
struct Part {
    esm_class: u8,
    short_message: Vec<u8>,
    payload: Option<Vec<u8>>,
}

/// Splits `units` (each one character's bytes) into parts of at most `max_bytes`,
/// never splitting a character.
fn chunks(units: Vec<Vec<u8>>, max_bytes: usize) -> Vec<Vec<u8>> {
    let mut parts = vec![Vec::new()];
    for unit in units {
        let fits = parts
            .last()
            .is_some_and(|p| p.len() + unit.len() <= max_bytes);
        if !fits {
            parts.push(Vec::new());
        }
        if let Some(last) = parts.last_mut() {
            last.extend_from_slice(&unit);
        }
    }
    parts.retain(|p| !p.is_empty());
    parts
}

fn split(
    sms: &OutgoingSms<'_>,
    how: LongMessages,
    reference: u8,
) -> Result<Vec<Part>, DeliveryError> {
    let (units, single, multi) = match sms.length.encoding {
        Encoding::Gsm7 => match gsm7_encode(sms.text) {
            Some(units) => (units, GSM7_SINGLE, GSM7_MULTI),
            None => {
                return Err(DeliveryError::new(
                    DeliveryErrorKind::Rejected,
                    "the text is not GSM-7",
                ));
            }
        },
        Encoding::Ucs2 => (
            sms.text
                .chars()
                .map(|c| {
                    let mut buf = [0u16; 2];
                    c.encode_utf16(&mut buf)
                        .iter()
                        .flat_map(|u| u.to_be_bytes())
                        .collect()
                })
                .collect(),
            UCS2_SINGLE * 2,
            UCS2_MULTI * 2,
        ),
    };
    let whole: Vec<u8> = units.concat();
    if whole.len() <= single {
        return Ok(vec![Part {
            esm_class: 0,
            short_message: whole,
            payload: None,
        }]);
    }
    if how == LongMessages::MessagePayload {
        return Ok(vec![Part {
            esm_class: 0,
            short_message: Vec::new(),
            payload: Some(whole),
        }]);
    }
    let pieces = chunks(units, multi);
    let total = u8::try_from(pieces.len()).map_err(|_| {
        DeliveryError::new(
            DeliveryErrorKind::Rejected,
            "the message has too many segments",
        )
    })?;
    Ok(pieces
        .into_iter()
        .zip(1u8..)
        .map(|(piece, seq)| {
            // 8-bit reference concatenation UDH: IEI 0x00, length 3, ref, total, seq.
            let mut short_message = vec![0x05, 0x00, 0x03, reference, total, seq];
            short_message.extend_from_slice(&piece);
            Part {
                esm_class: 0x40,
                short_message,
                payload: None,
            }
        })
        .collect())
}

impl SmppSms {
    /// A backend that binds on first use.
    pub fn new(settings: SmppSettings) -> Self {
        SmppSms {
            settings,
            link: tokio::sync::Mutex::new(None),
            receipts: Arc::default(),
            reference: AtomicU8::new(0),
        }
    }

    /// The delivery receipts received so far (when asked for in the settings; the
    /// last [`MAX_RECEIPTS`] are kept).
    pub fn delivery_receipts(&self) -> Vec<DeliveryReceipt> {
        lock(&self.receipts).clone()
    }

    /// Takes the receipts received so far as reports for `Mfa`, for the messages in
    /// `sent` (see [`crate::SmsDelivery::with_sent_log`]); receipts of messages not in
    /// the log, and of states on the way (`ENROUTE`, `ACCEPTD`), are dropped.
    pub fn take_reports(&self, sent: &SentMessages) -> Vec<SmsReport> {
        let receipts = std::mem::take(&mut *lock(&self.receipts));
        receipts
            .into_iter()
            .filter_map(|receipt| {
                let status = receipt.status()?;
                let message = sent.find(&receipt.message_id)?;
                let mut report = DeliveryReport::new(&receipt.message_id, status);
                if let Some(code) = receipt.error.filter(|c| *c != 0) {
                    report = report.with_provider_code(mfa_core::ProviderCode::new("smpp", code));
                }
                Some(message.report(report))
            })
            .collect()
    }

    /// Whether a bound link is open now.
    pub async fn is_bound(&self) -> bool {
        self.link
            .lock()
            .await
            .as_ref()
            .is_some_and(|l| l.up.load(Ordering::SeqCst))
    }

    /// Sends `unbind` and closes the link (the next submit binds again).
    pub async fn close(&self) {
        if let Some(mut link) = self.link.lock().await.take() {
            if link.up.load(Ordering::SeqCst) {
                // An SMSC may close TCP without unbind_resp: either way the link is done.
                let _ =
                    tokio::time::timeout(self.settings.bind_timeout, link.smsc.send_unbind()).await;
            }
            link.client.stop().await;
        }
    }

    /// The bound session, binding (again) when there is none or the link dropped.
    async fn session(&self) -> Result<(Arc<SMSC>, Arc<AtomicBool>), DeliveryError> {
        let mut guard = self.link.lock().await;
        if let Some(link) = guard.as_ref() {
            if link.up.load(Ordering::SeqCst) {
                return Ok((link.smsc.clone(), link.up.clone()));
            }
        }
        if let Some(mut old) = guard.take() {
            old.client.stop().await;
        }
        let link = self.bind().await?;
        let session = (link.smsc.clone(), link.up.clone());
        *guard = Some(link);
        Ok(session)
    }

    async fn bind(&self) -> Result<Link, DeliveryError> {
        let s = &self.settings;
        let (tx, rx) = oneshot::channel();
        let up = Arc::new(AtomicBool::new(false));
        let listener = Arc::new(LinkListener {
            bound: Mutex::new(Some(tx)),
            up: up.clone(),
            receipts: self.receipts.clone(),
        });
        let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let mut client = SmppClient::new_with_default_timers(
            s.host.clone(),
            s.port,
            false,
            BIND_TYPE::TRX,
            s.system_id.clone(),
            s.password.clone(),
            s.system_type.clone(),
            0,
            0,
            String::new(),
            listener,
            millis(s.bind_timeout),
            millis(s.enquire_link_interval),
            millis(s.enquire_link_interval.saturating_mul(4)),
            millis(s.submit_timeout.saturating_add(Duration::from_secs(1))),
            4096,
            10,
        );
        client.start().await;
        match tokio::time::timeout(s.bind_timeout, rx).await {
            Ok(Ok(Ok(smsc))) => Ok(Link {
                client,
                smsc: Arc::new(smsc),
                up,
            }),
            Ok(Ok(Err(_))) | Ok(Err(_)) => {
                client.stop().await;
                Err(DeliveryError::transient(format!(
                    "cannot connect to the SMSC at {}:{}",
                    s.host, s.port
                )))
            }
            Err(_) => {
                client.stop().await;
                // The connection was taken but no bind came back: almost always a
                // rejected system_id or password (the SMSC answers the bind with an
                // error status, which the session does not pass on).
                Err(DeliveryError::new(
                    DeliveryErrorKind::Configuration,
                    format!(
                        "the SMSC at {}:{} did not accept the bind as {:?} within {:?}: check system_id and password",
                        s.host, s.port, s.system_id, s.bind_timeout
                    ),
                ))
            }
        }
    }

    async fn submit_part(
        &self,
        smsc: &SMSC,
        up: &AtomicBool,
        sms: &OutgoingSms<'_>,
        part: Part,
        data_coding: u8,
    ) -> Result<String, DeliveryError> {
        let s = &self.settings;
        let alphanumeric = !s.source.bytes().all(|b| b.is_ascii_digit());
        let mut builder = smsc
            .submit_sm()
            .source_addr_ton(if alphanumeric { 5 } else { 1 })
            .source_addr_npi(if alphanumeric { 0 } else { 1 })
            .source_addr(s.source.clone())
            .dest_addr_ton(1)
            .dest_addr_npi(1)
            .destination_addr(sms.to.e164().trim_start_matches('+'))
            .esm_class(part.esm_class)
            .registered_delivery(u8::from(s.delivery_receipts))
            .data_coding(data_coding)
            .short_message(part.short_message);
        if let Some(payload) = part.payload {
            builder = builder.tlv(TlvTag::MessagePayload, payload);
        }
        let answer = tokio::time::timeout(s.submit_timeout, builder.send()).await;
        match answer {
            Err(_) => Err(DeliveryError::new(
                DeliveryErrorKind::Timeout,
                "the SMSC did not answer submit_sm in time",
            )),
            Ok(Ok(resp)) if resp.is_success() => Ok(resp.message_id.clone().unwrap_or_default()),
            Ok(Ok(resp)) => Err(status_error(resp.command_status())),
            Ok(Err(error)) if error == SmppError::ESME_RSYSERR && !up.load(Ordering::SeqCst) => {
                Err(DeliveryError::transient(
                    "the SMPP link dropped during submit_sm",
                ))
            }
            Ok(Err(error)) => Err(status_error(error as u32)),
        }
    }
}

#[async_trait]
impl SmsBackend for SmppSms {
    async fn submit(&self, sms: &OutgoingSms<'_>) -> Result<Receipt, DeliveryError> {
        let reference = self.reference.fetch_add(1, Ordering::Relaxed);
        let parts = split(sms, self.settings.long_messages, reference)?;
        let data_coding = sms.length.encoding.data_coding();
        let (smsc, up) = self.session().await?;
        let mut ids = Vec::with_capacity(parts.len());
        for part in parts {
            ids.push(self.submit_part(&smsc, &up, sms, part, data_coding).await?);
        }
        Ok(Receipt::new(ids.join(",")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoding::gsm7_decode;

    #[test]
    fn statuses_map_to_kinds() {
        assert_eq!(status_kind(0x0B), DeliveryErrorKind::InvalidDestination);
        assert_eq!(status_kind(0x58), DeliveryErrorKind::Transient);
        assert_eq!(status_kind(0x14), DeliveryErrorKind::Transient);
        assert_eq!(status_kind(0x0E), DeliveryErrorKind::Configuration);
        assert_eq!(status_kind(0x66), DeliveryErrorKind::Blocked);
        assert_eq!(status_kind(0xFF), DeliveryErrorKind::Rejected);
    }

    #[test]
    fn receipts_parse() {
        let r = parse_receipt(b"id:abc123 sub:001 dlvrd:001 submit date:2601010000 done date:2601010001 stat:DELIVRD err:000 text:").unwrap();
        assert_eq!(r.message_id, "abc123");
        assert!(r.is_delivered());
        assert_eq!(r.error, Some(0));
        assert_eq!(r.status(), Some(ReportStatus::Delivered));
        let r = parse_receipt(b"id:x1 stat:UNDELIV err:011").unwrap();
        assert_eq!(
            (r.status(), r.error),
            (Some(ReportStatus::Undelivered), Some(11))
        );
        let r = parse_receipt(b"id:x1 stat:ENROUTE err:abc").unwrap();
        assert_eq!((r.status(), r.error), (None, None));
        assert!(parse_receipt(b"hello").is_none());
    }

    #[test]
    fn gsm_chunks_never_split_an_escape_pair() {
        let mut units: Vec<Vec<u8>> = vec![vec![0x61]; 152];
        units.push(vec![0x1B, 0x65]);
        units.push(vec![0x61]);
        let parts = chunks(units, 153);
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].len(), 152);
        assert_eq!(parts[1], vec![0x1B, 0x65, 0x61]);
        assert_eq!(gsm7_decode(&parts[1]), "€a");
    }

    #[test]
    fn settings_are_checked() {
        assert!(SmppSettings::new("", 2775, "id", "pw", "Contoso").is_err());
        assert!(SmppSettings::new("h", 0, "id", "pw", "Contoso").is_err());
        assert!(SmppSettings::new("h", 2775, "", "pw", "Contoso").is_err());
        assert!(SmppSettings::new("h", 2775, "a-very-long-system-id", "pw", "Contoso").is_err());
        assert!(SmppSettings::new("h", 2775, "id", "password9", "Contoso").is_err());
        assert!(SmppSettings::new("h", 2775, "id", "pw", "").is_err());
        let s = SmppSettings::new("h", 2775, "id", "s3cret", "+4790000000").unwrap();
        assert_eq!(s.source, "4790000000");
        assert!(!format!("{s:?}").contains("s3cret"));
    }
}
