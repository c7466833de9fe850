//! The SIP backend: places verification calls itself, through the company's PBX or a
//! SIP proxy, and hears the keys the callee presses.
//!
//! [`SipVoice`] is a SIP user agent client (RFC 3261) over UDP or TCP ([`Transport`]),
//! following the proxy's Record-Route. It sends an INVITE offering
//! G.711 A-law and µ-law and `telephone-event/8000`, retransmits it on timer A until
//! timer B, answers a 401/407 with digest authentication, sends CANCEL when nobody
//! answers in time, and ends the call with BYE. Once answered it plays the call
//! script as 20 ms G.711 frames from audio clips ([`Prompts`]) and reads RFC 4733
//! telephone events (and SIP INFO): `#` confirms, `0#` reports fraud.
//!
//! `send` returns once the phone rings (a 18x) or answers; the call goes on in a task
//! of its own, which reports its outcome to the driver attached with
//! [`SipVoice::report_to`] (or why it ended without one, which leaves the challenge
//! pending). Failures are typed, returned by `send` when they come before the phone
//! rings and reported after: 486 is
//! [`DeliveryErrorKind::Busy`], 603 [`DeliveryErrorKind::Declined`], 404
//! [`DeliveryErrorKind::InvalidDestination`], no answer [`DeliveryErrorKind::NoAnswer`],
//! rejected credentials [`DeliveryErrorKind::Configuration`], no media
//! [`DeliveryErrorKind::NoMedia`], no response at all [`DeliveryErrorKind::Timeout`].
//! None of them approves anything.
//!
//! Only the callee is heard: RTP counts only from the address and port its SDP
//! answer names, with one SSRC ([`MediaSource`] relaxes the address for NAT), and
//! over UDP only the server the INVITE went to may answer or send in-dialog
//! requests, so a spoofed `#`, BYE or re-INVITE from elsewhere changes nothing.
//! With the feature `sip-tls`, [`SipConfig::tls`] carries the signalling over TLS and
//! [`SipConfig::srtp`] encrypts and authenticates the media (SRTP keyed by SDES), which
//! also keeps out whoever is on the path.
//!
//! ```no_run
//! use mfa_voice::sip::{Credentials, SipConfig, SipVoice};
//!
//! let config = SipConfig::new("192.0.2.10:5060".parse().unwrap(), "pbx.example.com")
//!     .caller("mfa", Some("Contoso sign-in"))
//!     .credentials(Credentials::new("mfa", "pbx password"))
//!     .request_uri("sip:{digits}@{host}")
//!     .extension_uri("sip:{extension}@{host}");
//! let voice = SipVoice::new(config);
//! // let mfa = Arc::new(Mfa::builder().voice(voice.clone()).build()?);
//! // voice.report_to(&mfa);
//! # drop(voice);
//! ```

mod audio;
mod call;
mod dialog;
mod digest;
mod plan;
mod rtp;
mod sdp;
#[cfg(feature = "sip-tls")]
mod srtp;
#[cfg(feature = "sip-tls")]
mod tls;
mod transport;

use std::collections::VecDeque;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use mfa_core::{
    CallOutcome, Clock, Content, Delivery, DeliveryError, DeliveryErrorKind, DeliveryRequest, Mfa,
    OsRandomness, Purpose, Randomness, Receipt, SystemClock, Timestamp,
};
use tokio::sync::{Notify, Semaphore, oneshot};
use zeroize::Zeroizing;

use crate::report::{CallEvent, CallReporter};
use crate::script::{CallScript, Language, ScriptOptions};

/// The most calls one backend keeps in progress at once; more are refused as a
/// transient error, so a flood of sign-ins cannot hold unbounded sockets and tasks.
pub const MAX_CALLS_IN_PROGRESS: usize = 64;
/// The most finished calls [`SipVoice::calls`] remembers; older records are dropped.
pub const MAX_CALL_RECORDS: usize = 256;

pub use audio::{Clip, language_dir};
pub use audio::{
    ClipError, Codec, FRAME_SAMPLES, Prompts, SAMPLE_RATE, alaw_to_linear, linear_to_alaw,
    linear_to_ulaw, read_wav, ulaw_to_linear, write_alaw_wav,
};
pub use rtp::MediaSource;
#[cfg(feature = "sip-tls")]
pub use srtp::SdesError;
#[cfg(feature = "sip-tls")]
pub use tls::{TlsClient, TlsError};
/// The rustls types a [`TlsClient`] is built from (root stores, client configurations).
#[cfg(feature = "sip-tls")]
pub use tokio_rustls::rustls;
pub use transport::Transport;

/// The parsers of what a PBX and a callee send, for the fuzz targets in `fuzz/`.
/// Not part of the API: it changes without notice.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    pub use super::dialog::{Message, info_key, response_to, tag_of, uri_of};
    pub use super::digest::{Algorithm, Challenge, ChallengeError};
    pub use super::rtp::{Incoming, KeyReceiver, Sender, event_code, event_key};
    pub use super::sdp::{Answer, SdpError, offer, parse_answer};
    #[cfg(feature = "sip-tls")]
    pub use super::srtp::{LocalKey, Rekeyed, SUITE, SdesError, Srtp, remote_key};
}

/// The account the backend authenticates with when the PBX or proxy challenges it.
#[derive(Clone)]
pub struct Credentials {
    username: String,
    password: Zeroizing<String>,
}

impl Credentials {
    /// A digest username and password.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Credentials {
            username: username.into(),
            password: Zeroizing::new(password.into()),
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Where and how calls are placed.
#[derive(Debug, Clone)]
pub struct SipConfig {
    server: SocketAddr,
    transport: Transport,
    host: String,
    local_ip: Option<IpAddr>,
    user: String,
    display_name: Option<String>,
    credentials: Option<Credentials>,
    request_uri: String,
    extension_uri: Option<String>,
    ring_timeout: Duration,
    max_call_length: Duration,
    t1: Duration,
    media_source: MediaSource,
    script: ScriptOptions,
    prompts: Prompts,
    #[cfg(feature = "sip-tls")]
    tls: Option<TlsClient>,
    #[cfg(feature = "sip-tls")]
    srtp: bool,
}

impl SipConfig {
    /// Calls go to `server` (the PBX, or the proxy in front of it); `host` is the domain
    /// in the URIs (`{host}` in templates).
    pub fn new(server: SocketAddr, host: impl Into<String>) -> Self {
        SipConfig {
            server,
            transport: Transport::Udp,
            host: host.into(),
            local_ip: None,
            user: "mfa".into(),
            display_name: None,
            credentials: None,
            request_uri: "sip:{number}@{host}".into(),
            extension_uri: None,
            ring_timeout: Duration::from_secs(30),
            max_call_length: Duration::from_secs(180),
            t1: Duration::from_millis(500),
            media_source: MediaSource::Answered,
            script: ScriptOptions::default(),
            prompts: Prompts::builtin(),
            #[cfg(feature = "sip-tls")]
            tls: None,
            #[cfg(feature = "sip-tls")]
            srtp: false,
        }
    }

    /// SIP over TLS to the server (often port 5061), checked by `client`: nobody on
    /// the path reads or changes the signalling (feature `sip-tls`).
    #[cfg(feature = "sip-tls")]
    pub fn tls(mut self, client: TlsClient) -> Self {
        self.tls = Some(client);
        self.transport = Transport::Tls;
        self
    }

    /// Encrypts the call's media with SRTP, keyed by SDES (RFC 4568): the offer is on
    /// `RTP/SAVP` with a fresh key, and a callee that answers without a key of its own
    /// is hung up on (`DeliveryErrorKind::Rejected`). SDES keys travel in the SDP, so
    /// this needs [`SipConfig::tls`]; a call over UDP or TCP is refused as a
    /// configuration error (feature `sip-tls`).
    #[cfg(feature = "sip-tls")]
    pub fn srtp(mut self, on: bool) -> Self {
        self.srtp = on;
        self
    }

    /// UDP (the default) or TCP for SIP messages.
    pub fn transport(mut self, transport: Transport) -> Self {
        self.transport = transport;
        self
    }

    /// The caller: the user part of our From and Contact, and the name shown.
    pub fn caller(mut self, user: impl Into<String>, display_name: Option<&str>) -> Self {
        self.user = user.into();
        self.display_name = display_name.map(str::to_owned);
        self
    }

    /// The account for digest authentication.
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// The request-URI template for a number: `{number}` (E.164 with `+`), `{digits}`
    /// (E.164 without `+`), `{national}` (without the country code), `{host}`.
    /// Default `sip:{number}@{host}`.
    pub fn request_uri(mut self, template: impl Into<String>) -> Self {
        self.request_uri = template.into();
        self
    }

    /// The request-URI template for a number with an extension, which may also use
    /// `{extension}` (say `sip:{extension}@{host}` when the PBX reaches extensions
    /// directly). Without it, the number is called and the extension sent as DTMF
    /// after the answer.
    pub fn extension_uri(mut self, template: impl Into<String>) -> Self {
        self.extension_uri = Some(template.into());
        self
    }

    /// The local address to bind and advertise (default: the loopback address when the
    /// server is on loopback, else the address the system routes to the server from).
    pub fn local_ip(mut self, ip: IpAddr) -> Self {
        self.local_ip = Some(ip);
        self
    }

    /// How long the phone may ring before the call is cancelled (default 30 s).
    pub fn ring_timeout(mut self, timeout: Duration) -> Self {
        self.ring_timeout = timeout;
        self
    }

    /// The longest an answered call may last (default 3 minutes; never longer than the
    /// challenge lives): a line left open ends cleanly with BYE.
    pub fn max_call_length(mut self, limit: Duration) -> Self {
        self.max_call_length = limit;
        self
    }

    /// RFC 3261's T1, the round-trip estimate retransmissions start from (default 500 ms).
    pub fn t1(mut self, t1: Duration) -> Self {
        self.t1 = t1.max(Duration::from_millis(10));
        self
    }

    /// Where the callee's RTP may come from (default [`MediaSource::Answered`]: only
    /// the address and port its SDP answer names). [`MediaSource::LatchFirst`] is for
    /// callees behind NAT, and lets whoever sends first take the media.
    pub fn media_source(mut self, source: MediaSource) -> Self {
        self.media_source = source;
        self
    }

    /// How scripts are rendered (key timeouts, code repeats, extension waits).
    pub fn script_options(mut self, options: ScriptOptions) -> Self {
        self.script = options;
        self
    }

    /// The clips calls are spoken from (default: the built-in English and Norwegian set).
    pub fn prompts(mut self, prompts: Prompts) -> Self {
        self.prompts = prompts;
        self
    }

    /// The request-URI for a destination, from the templates.
    pub fn target_uri(&self, request: &DeliveryRequest) -> String {
        let number = &request.destination.number;
        let e164 = number.e164();
        let digits = e164.trim_start_matches('+');
        let national = digits
            .strip_prefix(&number.country_code().to_string())
            .unwrap_or(digits);
        let extension = request.destination.extension.as_ref().map(|e| e.as_str());
        let template = match (extension, &self.extension_uri) {
            (Some(_), Some(t)) => t,
            _ => &self.request_uri,
        };
        template
            .replace("{number}", e164)
            .replace("{digits}", digits)
            .replace("{national}", national)
            .replace("{extension}", extension.unwrap_or(""))
            .replace("{host}", &self.host)
    }

    /// The script for a request: the extension is dialled by DTMF only when no
    /// extension template reaches it directly.
    pub fn script_for(&self, request: &DeliveryRequest) -> CallScript {
        let language = Language::from_locale(&request.locale);
        let extension = match &self.extension_uri {
            Some(_) => None,
            None => request.destination.extension.as_ref().map(|e| e.as_str()),
        };
        match &request.content {
            Content::ConfirmByKey => CallScript::confirm_by_key(
                language,
                &request.app_name,
                request.purpose == Purpose::SignIn,
                extension,
                &self.script,
            ),
            Content::Code(code) => CallScript::read_code(
                language,
                &request.app_name,
                code.expose(),
                extension,
                &self.script,
            ),
            Content::MatchNumber(number) => CallScript::match_number(
                language,
                &request.app_name,
                request.purpose == Purpose::SignIn,
                *number,
                extension,
                &self.script,
            ),
        }
    }

    fn local_ip_for_server(&self) -> IpAddr {
        if let Some(ip) = self.local_ip {
            return ip;
        }
        if self.server.ip().is_loopback() {
            return self.server.ip();
        }
        // Ask the routing table which address reaches the server (no packet is sent).
        std::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
            .and_then(|s| {
                s.connect(self.server)?;
                s.local_addr()
            })
            .map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |a| a.ip())
    }
}

/// What one placed call did, for logs and tests. Holds no code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipCall {
    /// The SIP Call-ID.
    pub call_id: String,
    /// The INVITE's request-URI.
    pub request_uri: String,
    /// When the INVITE was first sent.
    pub started_at: Timestamp,
    /// When the 200 OK came, if it did.
    pub answered_at: Option<Timestamp>,
    /// When the call ended.
    pub ended_at: Timestamp,
    /// The final status of the INVITE (0 if none came).
    pub final_status: u16,
    /// Whether digest credentials were sent.
    pub authenticated: bool,
    /// Whether the call was cancelled for ringing too long.
    pub cancelled: bool,
    /// The codec the callee chose, once answered.
    pub codec: Option<Codec>,
    /// Keys heard from the callee, in order (`#`, `0#`; never a code we read out).
    pub keys: String,
    /// RTP packets received from the callee.
    pub rtp_packets_received: usize,
    /// Datagrams on the media port that were not the callee's stream (another source
    /// address or port, another SSRC, not RTP), and were ignored.
    pub rtp_packets_refused: usize,
    /// RTP packets sent to the callee.
    pub rtp_packets_sent: usize,
    /// Whether the callee hung up first.
    pub remote_hangup: bool,
    /// The outcome the keys decided, if any.
    pub outcome: Option<CallOutcome>,
    /// The error the call ended with, if any (returned by `send` when it came before
    /// the phone rang, reported to the driver when it came after). Holds no code.
    pub error: Option<DeliveryError>,
    /// Whether what the call ended with reached the driver ([`SipVoice::report_to`]).
    pub reported: bool,
    /// Whether the media was SRTP (feature `sip-tls`).
    pub srtp: bool,
}

/// What clones of one backend share: the record of finished calls, the slots for
/// calls in progress, and the driver their outcomes go to.
#[derive(Debug)]
struct Shared {
    calls: Mutex<VecDeque<SipCall>>,
    ended: Notify,
    slots: Arc<Semaphore>,
    reporter: CallReporter,
}

/// The SIP voice backend. Clones share the record of calls and the driver they
/// report to.
///
/// `send` returns once the phone rings (or answers): the call goes on in a task of
/// its own, which reports the keys (or why the call ended without them) to the
/// driver attached with [`SipVoice::report_to`].
#[derive(Clone)]
pub struct SipVoice {
    config: Arc<SipConfig>,
    clock: Arc<dyn Clock>,
    rng: Arc<dyn Randomness>,
    shared: Arc<Shared>,
}

impl fmt::Debug for SipVoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SipVoice")
            .field("server", &self.config.server)
            .field("host", &self.config.host)
            .field("credentials", &self.config.credentials)
            .finish()
    }
}

impl SipVoice {
    /// A backend placing calls as `config` says, timed by the system clock.
    pub fn new(config: SipConfig) -> Self {
        SipVoice {
            config: Arc::new(config),
            clock: Arc::new(SystemClock),
            rng: Arc::new(OsRandomness),
            shared: Arc::new(Shared {
                calls: Mutex::new(VecDeque::new()),
                ended: Notify::new(),
                slots: Arc::new(Semaphore::new(MAX_CALLS_IN_PROGRESS)),
                reporter: CallReporter::default(),
            }),
        }
    }

    /// Reports what each call ends with to `mfa` (the driver this backend was given
    /// to): the keys by [`Mfa::report_call`], a call that ended without them by
    /// [`Mfa::report_call_ended`]. Until a driver is attached, outcomes are recorded
    /// ([`SipCall::reported`] stays false) and approve nothing.
    ///
    /// ```no_run
    /// # use std::sync::Arc;
    /// # use mfa_core::Mfa;
    /// # use mfa_voice::sip::{SipConfig, SipVoice};
    /// # fn main() -> Result<(), mfa_core::Error> {
    /// let voice = SipVoice::new(SipConfig::new("192.0.2.10:5060".parse().unwrap(), "pbx.example.com"));
    /// let mfa = Arc::new(Mfa::builder().voice(voice.clone()).build()?);
    /// voice.report_to(&mfa);
    /// # Ok(())
    /// # }
    /// ```
    pub fn report_to(&self, mfa: &Arc<Mfa>) {
        self.shared.reporter.attach(mfa);
    }

    /// Uses `clock` for the times in the call records.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Uses `rng` for tags, branches, Call-IDs, nonces and RTP numbering.
    pub fn with_randomness(mut self, rng: Arc<dyn Randomness>) -> Self {
        self.rng = rng;
        self
    }

    /// The configuration.
    pub fn config(&self) -> &SipConfig {
        &self.config
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<SipCall>> {
        match self.shared.calls.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Every finished call, oldest first (the latest [`MAX_CALL_RECORDS`]).
    pub fn calls(&self) -> Vec<SipCall> {
        self.lock().iter().cloned().collect()
    }

    /// Waits until the call with this Call-ID (a receipt's id) has ended, and returns
    /// its record (after its outcome was reported). Bound the wait with a timeout.
    pub async fn finished(&self, call_id: &str) -> SipCall {
        loop {
            let ended = self.shared.ended.notified();
            tokio::pin!(ended);
            ended.as_mut().enable();
            if let Some(call) = self.lock().iter().rev().find(|c| c.call_id == call_id) {
                return call.clone();
            }
            ended.await;
        }
    }

    fn remember(&self, record: SipCall) {
        let mut calls = self.lock();
        while calls.len() >= MAX_CALL_RECORDS {
            calls.pop_front();
        }
        calls.push_back(record);
    }

    /// Waits until every call placed so far has ended, its outcome reported and its
    /// record kept: before a shutdown, or before a test reads [`SipVoice::calls`].
    pub async fn idle(&self) {
        loop {
            let ended = self.shared.ended.notified();
            tokio::pin!(ended);
            ended.as_mut().enable();
            if self.shared.slots.available_permits() == MAX_CALLS_IN_PROGRESS {
                return;
            }
            ended.await;
        }
    }
}

#[async_trait]
impl Delivery for SipVoice {
    async fn send(&self, request: &DeliveryRequest) -> Result<Receipt, DeliveryError> {
        let slot = self
            .shared
            .slots
            .clone()
            .try_acquire_owned()
            .map_err(|_| DeliveryError::transient("too many calls in progress; try again"))?;
        let script = self.config.script_for(request);
        let target = self.config.target_uri(request);
        let local_ip = self.config.local_ip_for_server();
        let limit = self.config.max_call_length.min(request.expires_in);
        let (placed, is_placed) = oneshot::channel();
        let voice = self.clone();
        let user = request.user.clone();
        let challenge = request.challenge_id.clone();
        let content = request.content.clone();
        // The call outlives the request that placed it; its task reports the outcome.
        tokio::spawn(async move {
            let (result, mut record, unplaced) = call::place(
                &voice.config,
                local_ip,
                &target,
                &script,
                limit,
                voice.clock.as_ref(),
                voice.rng.as_ref(),
                placed,
            )
            .await;
            match unplaced {
                Some(placed) => {
                    // It failed before it rang: the send returns the error itself.
                    voice.remember(record);
                    drop(slot);
                    voice.shared.ended.notify_waiters();
                    let error = result.err().unwrap_or_else(|| {
                        DeliveryError::transient("the call ended before it was placed")
                    });
                    let _ = placed.send(Err(error));
                }
                None => {
                    let event = call::event_for(result, &content, user, challenge);
                    if let Some(CallEvent::Ended { error, .. }) = &event {
                        record.error = Some(error.clone());
                    }
                    if let Some(event) = event {
                        record.reported = voice.shared.reporter.report(&event).await.is_ok();
                    }
                    voice.remember(record);
                    drop(slot);
                    voice.shared.ended.notify_waiters();
                }
            }
        });
        match is_placed.await {
            Ok(Ok(call_id)) => Ok(Receipt::new(call_id)),
            Ok(Err(error)) => Err(error),
            Err(_) => Err(DeliveryError::transient(
                "the call stopped before it was placed",
            )),
        }
    }
}

/// Retransmission intervals: T1 doubling up to `cap` (RFC 3261 §17.1.1.2 and §17.1.2.2).
fn backoff(t1: Duration, attempt: u32, cap: Option<Duration>) -> Duration {
    let d = t1.saturating_mul(1u32 << attempt.min(16));
    cap.map_or(d, |c| d.min(c))
}

/// Maps a final INVITE failure to the delivery error it means.
fn error_for_status(status: u16) -> DeliveryError {
    use DeliveryErrorKind as K;
    let (kind, text) = match status {
        486 | 600 => (K::Busy, "the line is busy"),
        603 => (K::Declined, "the callee declined the call"),
        404 | 484 | 604 => (K::InvalidDestination, "the PBX does not know this number"),
        480 => (K::NoAnswer, "the callee is temporarily unavailable"),
        408 => (K::NoAnswer, "the call was not answered in time"),
        487 => (K::NoAnswer, "the call was cancelled"),
        401 | 407 | 403 => (K::Configuration, "the PBX rejected the credentials"),
        488 | 606 => (K::Rejected, "the callee accepts none of the offered codecs"),
        s if (500..600).contains(&s) => (K::Transient, "the PBX failed to place the call"),
        _ => (K::Rejected, "the PBX refused the call"),
    };
    DeliveryError::new(kind, format!("{text} (SIP {status})"))
        .with_provider_code(mfa_core::ProviderCode::new("sip", u32::from(status)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mfa_core::{ChallengeId, Channel, Destination, Extension, PhoneNumber, UserId};

    fn request(ext: Option<&str>) -> DeliveryRequest {
        DeliveryRequest {
            challenge_id: ChallengeId::parse("c1").unwrap(),
            user: UserId::username("kari@example.no").unwrap(),
            channel: Channel::Voice,
            destination: Destination {
                number: PhoneNumber::parse("+47 22 12 34 56").unwrap(),
                extension: ext.map(|e| Extension::parse(e).unwrap()),
            },
            content: Content::ConfirmByKey,
            purpose: Purpose::SignIn,
            expires_in: Duration::from_secs(300),
            locale: "nb".into(),
            app_name: "Contoso".into(),
            cost_notice: None,
            meta: None,
        }
    }

    #[test]
    fn request_uri_templates() {
        let server = "127.0.0.1:5060".parse().unwrap();
        let c = SipConfig::new(server, "pbx.example");
        assert_eq!(c.target_uri(&request(None)), "sip:+4722123456@pbx.example");
        // Without an extension template the number is dialled and the extension sent as DTMF.
        assert_eq!(
            c.target_uri(&request(Some("42"))),
            "sip:+4722123456@pbx.example"
        );
        assert_eq!(
            c.script_for(&request(Some("42"))).send_digits(),
            Some("wwww42")
        );
        let c = c
            .request_uri("sip:0{national}@{host};user=phone")
            .extension_uri("sip:{digits}-{extension}@{host}");
        assert_eq!(
            c.target_uri(&request(None)),
            "sip:022123456@pbx.example;user=phone"
        );
        assert_eq!(
            c.target_uri(&request(Some("42"))),
            "sip:4722123456-42@pbx.example"
        );
        assert_eq!(c.script_for(&request(Some("42"))).send_digits(), None);
    }

    #[test]
    fn statuses_map_to_typed_errors() {
        use DeliveryErrorKind as K;
        for (status, kind) in [
            (486, K::Busy),
            (603, K::Declined),
            (404, K::InvalidDestination),
            (480, K::NoAnswer),
            (403, K::Configuration),
            (503, K::Transient),
            (488, K::Rejected),
            (699, K::Rejected),
        ] {
            assert_eq!(error_for_status(status).kind(), kind, "{status}");
        }
    }

    #[test]
    fn timers_double_up_to_the_cap() {
        let t1 = Duration::from_millis(500);
        assert_eq!(backoff(t1, 0, None), t1);
        assert_eq!(backoff(t1, 3, None), Duration::from_secs(4));
        assert_eq!(
            backoff(t1, 5, Some(Duration::from_secs(4))),
            Duration::from_secs(4)
        );
        assert_eq!(backoff(t1, 99, None), t1 * 65536);
    }

    proptest::proptest! {
        /// Whatever arrives from the network or a file, parsing gives a value or a
        /// typed error, never a panic.
        #[test]
        fn junk_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..1500)) {
            let text = String::from_utf8_lossy(&bytes);
            let _ = dialog::Message::parse(&bytes);
            let _ = sdp::parse_answer(&text);
            let _ = digest::Challenge::parse(&text);
            let _ = dialog::info_key("application/dtmf-relay", &bytes);
            let _ = rtp::KeyReceiver::new(Some(101)).receive(&bytes);
            let _ = audio::read_wav(&bytes);
        }

        /// SIP-shaped junk: a valid start line and headers with arbitrary values.
        #[test]
        fn sip_shaped_junk_never_panics(
            status in 0u16..1000,
            values in proptest::collection::vec(".{0,60}", 0..8),
            body in ".{0,200}",
        ) {
            let names = ["Via", "To", "From", "Call-ID", "CSeq", "Contact", "Record-Route", "WWW-Authenticate"];
            let mut raw = format!("SIP/2.0 {status} X\r\n");
            for (name, value) in names.iter().zip(&values) {
                raw.push_str(&format!("{name}: {value}\r\n"));
            }
            raw.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
            if let Some(m) = dialog::Message::parse(raw.as_bytes()) {
                let _ = (m.cseq(), m.to_tag(), m.contact_uri(), m.headers("record-route"));
                let _ = digest::Challenge::parse(m.header("www-authenticate").unwrap_or(""));
                let _ = dialog::response_to(&m, 200, "OK");
            }
        }
    }

    #[test]
    fn debug_hides_the_password() {
        let voice = SipVoice::new(
            SipConfig::new("127.0.0.1:5060".parse().unwrap(), "pbx")
                .credentials(Credentials::new("alice", "s3cret-pw")),
        );
        let shown = format!("{voice:?} {:?}", voice.config());
        assert!(
            shown.contains("alice") && !shown.contains("s3cret-pw"),
            "{shown}"
        );
    }
}
