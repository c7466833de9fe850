//! One verification call from INVITE to BYE: the INVITE client transaction with its
//! timers, digest authentication and CANCEL, then the media session that plays the
//! script and listens for keys, then the hang-up.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use mfa_core::{ChallengeId, Clock, Content, DeliveryError, DeliveryErrorKind, Randomness, UserId};
use tokio::net::UdpSocket;
use tokio::sync::oneshot;
use tokio::time::{Instant, MissedTickBehavior, interval, sleep_until};

use crate::keys::{Heard, KeyPrompt};
use crate::report::CallEvent;
use crate::script::{CallEnd, CallScript};

use super::audio::FRAME_SAMPLES;
use super::dialog::{Dialog, ExtraHeader, Message, info_key, response_to, response_with};
use super::digest::Challenge;
use super::plan::{Action, closing, plan};
use super::rtp::{Incoming, KeyReceiver, MediaLock, Sender};
use super::transport::Signalling;
use super::{SipCall, SipConfig, backoff, error_for_status, sdp};

/// RFC 3261's T2: the longest interval between retransmissions of non-INVITE requests.
const T2: Duration = Duration::from_secs(4);
/// The most keys a call's record keeps: enough to see what was pressed, bounded
/// against a peer that sends events all call long.
const MAX_RECORDED_KEYS: usize = 32;
/// The largest datagram we read.
const MAX_DATAGRAM: usize = 65_535;

fn token(rng: &dyn Randomness, bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rng.fill(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

fn branch(rng: &dyn Randomness) -> String {
    // The magic cookie marks an RFC 3261 branch.
    format!("z9hG4bK{}", token(rng, 10))
}

fn config_error(message: impl Into<String>) -> DeliveryError {
    DeliveryError::new(DeliveryErrorKind::Configuration, message)
}

fn transient(message: impl Into<String>) -> DeliveryError {
    DeliveryError::new(DeliveryErrorKind::Transient, message)
}

/// A socket on an even port, as RFC 3550 asks of RTP (some PBXs insist).
async fn bind_even(ip: IpAddr) -> std::io::Result<UdpSocket> {
    for _ in 0..16 {
        let socket = UdpSocket::bind(SocketAddr::new(ip, 0)).await?;
        let port = socket.local_addr()?.port();
        if port % 2 == 0 {
            return Ok(socket);
        }
        if let Some(next) = port.checked_add(1) {
            if let Ok(even) = UdpSocket::bind(SocketAddr::new(ip, next)).await {
                return Ok(even);
            }
        }
    }
    UdpSocket::bind(SocketAddr::new(ip, 0)).await
}

/// The sockets and fixed facts of one call.
struct Call<'a> {
    config: &'a SipConfig,
    sip: Signalling,
    rtp: UdpSocket,
    dialog: Dialog,
    rng: &'a dyn Randomness,
    clock: &'a dyn Clock,
    record: SipCall,
    cseq: u32,
    ack: Option<Vec<u8>>,
    offer: zeroize::Zeroizing<String>,
    limit: Duration,
    /// Our SRTP key, when the media is encrypted.
    #[cfg(feature = "sip-tls")]
    local_key: Option<super::srtp::LocalKey>,
    /// Told the Call-ID once the phone rings or answers; `send` returns then.
    placed: Option<Placed>,
}

/// Where a call's placement is announced: the Call-ID once it rings or is answered,
/// or the error that ended it before.
pub(super) type Placed = oneshot::Sender<Result<String, DeliveryError>>;

/// Places the call and plays `script`. Returns how it ended (or why it failed), the
/// record of what happened, and `placed` back if the call failed before it rang (the
/// caller then sends the error there).
#[allow(clippy::too_many_arguments)] // one call's inputs, passed once
pub(super) async fn place(
    config: &SipConfig,
    local_ip: IpAddr,
    target: &str,
    script: &CallScript,
    limit: Duration,
    clock: &dyn Clock,
    rng: &dyn Randomness,
    placed: Placed,
) -> (Result<CallEnd, DeliveryError>, SipCall, Option<Placed>) {
    let call_id = format!("{}@mfa", token(rng, 12));
    let record = SipCall {
        call_id,
        request_uri: target.to_owned(),
        started_at: clock.now(),
        answered_at: None,
        ended_at: clock.now(),
        final_status: 0,
        authenticated: false,
        cancelled: false,
        codec: None,
        keys: String::new(),
        rtp_packets_received: 0,
        rtp_packets_refused: 0,
        rtp_packets_sent: 0,
        remote_hangup: false,
        outcome: None,
        error: None,
        reported: false,
        srtp: false,
    };
    let sockets = async {
        let sip = Signalling::open(config, local_ip).await?;
        let rtp = bind_even(local_ip).await?;
        Ok::<_, std::io::Error>((sip, rtp))
    }
    .await;
    let (sip, rtp) = match sockets {
        Ok(s) => s,
        Err(e) => {
            let mut record = record;
            #[cfg(feature = "sip-tls")]
            let refused = super::tls::refused_certificate(&e);
            #[cfg(not(feature = "sip-tls"))]
            let refused: Option<String> = None;
            let error = match refused {
                Some(reason) => config_error(format!(
                    "the PBX's TLS certificate is not trusted ({reason}): check the roots \
                     and server name of the TLS configuration"
                )),
                None => transient(format!("cannot reach the PBX: {e}")),
            };
            record.error = Some(error.clone());
            return (Err(error), record, Some(placed));
        }
    };
    let local = sip
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::new(local_ip, 0));
    let from = match &config.display_name {
        Some(name) => format!(
            "\"{}\" <sip:{}@{}>;tag={}",
            name.replace(['"', '\\'], ""),
            config.user,
            config.host,
            token(rng, 6)
        ),
        None => format!(
            "<sip:{}@{}>;tag={}",
            config.user,
            config.host,
            token(rng, 6)
        ),
    };
    let dialog = Dialog {
        transport: sip.via_name(),
        local,
        call_id: record.call_id.clone(),
        from,
        to: format!("<{target}>"),
        request_uri: target.to_owned(),
        remote_tag: None,
        remote_target: None,
        route_set: Vec::new(),
        user: config.user.clone(),
    };
    let mut call = Call {
        config,
        sip,
        rtp,
        dialog,
        rng,
        clock,
        record,
        cseq: 1,
        ack: None,
        offer: zeroize::Zeroizing::new(String::new()),
        limit,
        #[cfg(feature = "sip-tls")]
        local_key: config.srtp.then(|| super::srtp::LocalKey::generate(rng)),
        placed: Some(placed),
    };
    let result = call.run(script).await;
    let placed = call.placed.take();
    let mut record = call.record;
    record.ended_at = clock.now();
    match &result {
        Ok(CallEnd::Outcome(o)) => record.outcome = Some(*o),
        Ok(_) => {}
        Err(e) => record.error = Some(e.clone()),
    }
    (result, record, placed)
}

/// What the driver must hear about a call that was placed and ended this way: the
/// keys' outcome, nothing (a code was read: the user types it), or why it ended
/// without verifying.
pub(super) fn event_for(
    result: Result<CallEnd, DeliveryError>,
    content: &Content,
    user: UserId,
    challenge_id: ChallengeId,
) -> Option<CallEvent> {
    let error = match (result, content) {
        (Ok(CallEnd::Outcome(outcome)), Content::ConfirmByKey | Content::MatchNumber(_)) => {
            return Some(CallEvent::Outcome {
                user,
                challenge_id,
                outcome,
            });
        }
        (Ok(CallEnd::CodeRead), Content::Code(_)) => return None,
        (Ok(CallEnd::Unrecognized), _) => DeliveryError::new(
            DeliveryErrorKind::Declined,
            "the callee pressed a key that means nothing here",
        ),
        (Ok(_), _) => DeliveryError::new(
            DeliveryErrorKind::Declined,
            "the call ended before a key was pressed",
        ),
        (Err(e), _) => e,
    };
    Some(CallEvent::Ended {
        user,
        challenge_id,
        error,
    })
}

/// How the call's RTP is protected.
enum Media {
    /// Plain RTP (over UDP or TCP signalling, or by choice).
    Plain,
    /// SRTP keyed by SDES.
    #[cfg(feature = "sip-tls")]
    Srtp(Box<super::srtp::Srtp>),
}

impl Media {
    /// What goes on the wire for an RTP packet of ours.
    fn outgoing(&mut self, packet: Vec<u8>) -> Option<Vec<u8>> {
        match self {
            Media::Plain => Some(packet),
            #[cfg(feature = "sip-tls")]
            Media::Srtp(srtp) => srtp.protect(&packet),
        }
    }

    /// The RTP packet a datagram carries, if it is the callee's.
    fn incoming(&mut self, datagram: &[u8]) -> Option<Vec<u8>> {
        match self {
            Media::Plain => Some(datagram.to_vec()),
            #[cfg(feature = "sip-tls")]
            Media::Srtp(srtp) => srtp.unprotect(datagram),
        }
    }
}

impl Media {
    /// Takes the far end's re-INVITE offer: on SRTP, its key must be one we accept
    /// (a changed key starts a new inbound context, the same key keeps it); media
    /// stays encrypted, so an offer without a key is refused like a malformed one.
    fn reoffer(&mut self, offer: &sdp::Answer) -> Result<(), DeliveryError> {
        match self {
            Media::Plain => {
                let _ = offer;
                Ok(())
            }
            #[cfg(feature = "sip-tls")]
            Media::Srtp(srtp) => match (&offer.crypto, offer.secure) {
                (Some(line), true) => super::srtp::remote_key(line.value())
                    .and_then(|key| srtp.rekey(key))
                    .map(|_| ()),
                _ => Err(super::srtp::SdesError::Missing),
            }
            .map_err(|e| DeliveryError::new(DeliveryErrorKind::Rejected, e.to_string())),
        }
    }
}

/// What goes out in one 20 ms tick.
enum Tick {
    Audio(Vec<i16>),
    Packets(Vec<Vec<u8>>),
}

/// Where the keys of the current prompt stand.
struct Keys {
    listening: Option<KeyPrompt>,
    satisfied: bool,
}

impl<'a> Call<'a> {
    async fn send(&self, bytes: &[u8]) {
        self.sip.send(bytes).await;
    }

    /// The phone rings or answered: `send` may return.
    fn announce_placed(&mut self) {
        if let Some(placed) = self.placed.take() {
            let _ = placed.send(Ok(self.dialog.call_id.clone()));
        }
    }

    /// When to retransmit next: never over a reliable transport.
    fn retransmit_at(&self, interval: Duration, give_up: Instant) -> Instant {
        if self.sip.reliable() {
            give_up
        } else {
            Instant::now() + interval
        }
    }

    /// Receives the next SIP message of this call (others are dropped).
    async fn recv(&self, buf: &mut [u8]) -> Option<Message> {
        let bytes = self.sip.recv(buf).await?;
        let message = Message::parse(&bytes)?;
        (message.call_id() == Some(self.dialog.call_id.as_str())).then_some(message)
    }

    async fn run(&mut self, script: &CallScript) -> Result<CallEnd, DeliveryError> {
        #[cfg(feature = "sip-tls")]
        if self.config.srtp && self.config.transport != super::Transport::Tls {
            // SDES puts the key in the SDP: over plain SIP anyone on the path reads it.
            return Err(config_error(
                "SRTP keys (SDES) travel in the SDP: they need SIP over TLS",
            ));
        }
        let rtp_port = self.rtp.local_addr().map_or(0, |a| a.port());
        let mut seed = [0u8; 8];
        self.rng.fill(&mut seed);
        #[cfg(feature = "sip-tls")]
        let crypto = self.local_key.as_ref().map(|k| k.attribute());
        #[cfg(not(feature = "sip-tls"))]
        let crypto: Option<zeroize::Zeroizing<String>> = None;
        let offer = zeroize::Zeroizing::new(sdp::media_offer(
            self.dialog.local.ip(),
            rtp_port,
            u64::from_be_bytes(seed) >> 1,
            crypto.as_ref().map(|c| c.as_str()),
        ));
        self.offer = offer.clone();
        let ok = self.invite(offer.as_bytes()).await?;
        self.announce_placed();
        self.record.answered_at = Some(self.clock.now());
        self.record.final_status = ok.status.unwrap_or(200);
        self.acknowledge(&ok).await?;
        let body = String::from_utf8_lossy(&ok.body).into_owned();
        let answer = match sdp::parse_answer(&body) {
            Ok(a) => a,
            Err(e) => {
                self.hang_up().await;
                return Err(DeliveryError::new(
                    DeliveryErrorKind::Rejected,
                    format!("the callee's media answer is unusable: {e}"),
                ));
            }
        };
        self.record.codec = Some(answer.codec);
        let media = match self.media_keys(&answer) {
            Ok(m) => m,
            Err(e) => {
                self.hang_up().await;
                return Err(e);
            }
        };
        let end = self.media(script, &answer, media).await;
        if !self.record.remote_hangup {
            self.hang_up().await;
        }
        match end {
            CallEnd::NoKey if self.record.remote_hangup => Err(DeliveryError::new(
                DeliveryErrorKind::Declined,
                "the callee hung up before pressing a key",
            )),
            CallEnd::NoKey if self.record.rtp_packets_received == 0 => Err(DeliveryError::new(
                DeliveryErrorKind::NoMedia,
                if self.record.rtp_packets_refused == 0 {
                    "no audio or keys came from the callee"
                } else {
                    "no audio or keys came from the address the callee's answer names \
                     (media from elsewhere was ignored; a callee behind NAT needs \
                     MediaSource::LatchFirst)"
                },
            )),
            end => Ok(end),
        }
    }

    /// How the call's media is protected, from our offer and the callee's answer.
    fn media_keys(&mut self, answer: &sdp::Answer) -> Result<Media, DeliveryError> {
        #[cfg(feature = "sip-tls")]
        if let Some(local) = &self.local_key {
            let remote = match (&answer.crypto, answer.secure) {
                (Some(line), true) => super::srtp::remote_key(line.value()),
                _ => Err(super::srtp::SdesError::Missing),
            }
            .map_err(|e| DeliveryError::new(DeliveryErrorKind::Rejected, e.to_string()))?;
            let srtp = super::srtp::Srtp::new(local, remote)
                .map_err(|e| DeliveryError::new(DeliveryErrorKind::Rejected, e.to_string()))?;
            self.record.srtp = true;
            return Ok(Media::Srtp(Box::new(srtp)));
        }
        let _ = answer;
        Ok(Media::Plain)
    }

    /// The INVITE client transaction, with authentication: the 2xx that answered it.
    async fn invite(&mut self, sdp: &[u8]) -> Result<Message, DeliveryError> {
        let t1 = self.config.t1;
        let ring_deadline = Instant::now() + self.config.ring_timeout;
        // One answer per challenger: the proxy (407) and the PBX (401) may both ask.
        let mut authorizations: Vec<ExtraHeader> = Vec::new();
        let mut buf = vec![0u8; MAX_DATAGRAM];
        loop {
            let branch = branch(self.rng);
            let mut extra: Vec<ExtraHeader> = vec![("Content-Type", "application/sdp".into())];
            extra.extend(authorizations.iter().cloned());
            let invite = self
                .dialog
                .request(
                    rsip::Method::Invite,
                    &self.dialog.request_uri,
                    &branch,
                    self.cseq,
                    &self.dialog.to,
                    &[],
                    &extra,
                    sdp,
                )
                .map_err(|_| config_error("the request-URI template gives no valid SIP URI"))?;
            self.send(&invite).await;
            let started = Instant::now();
            let timer_b = started + t1 * 64;
            let mut attempt = 0;
            let mut next_retransmit = self.retransmit_at(t1, timer_b);
            let mut ringing = false;
            let response = loop {
                let wake = if ringing {
                    ring_deadline
                } else {
                    next_retransmit.min(timer_b).min(ring_deadline)
                };
                tokio::select! {
                    _ = sleep_until(wake) => {
                        let now = Instant::now();
                        if now >= ring_deadline {
                            if ringing {
                                return Err(self.cancel(&branch, &mut buf).await);
                            }
                            // A CANCEL may only follow a provisional response (RFC 3261 §9.1).
                            return Err(DeliveryError::new(
                                DeliveryErrorKind::NoAnswer,
                                "the PBX did not answer the call in time",
                            ));
                        }
                        if now >= timer_b {
                            return Err(DeliveryError::new(
                                DeliveryErrorKind::Timeout,
                                "no response from the PBX (timer B)",
                            ));
                        }
                        // Timer A: retransmit, doubling the interval each time.
                        self.send(&invite).await;
                        attempt += 1;
                        next_retransmit = self.retransmit_at(backoff(t1, attempt, None), timer_b);
                    }
                    message = self.recv(&mut buf) => {
                        let Some(m) = message else { continue };
                        let Some(status) = m.status else {
                            self.answer_request(&m).await;
                            continue;
                        };
                        if m.cseq() != Some((self.cseq, "INVITE".into())) {
                            continue;
                        }
                        if status < 200 {
                            ringing = true;
                            // 100 Trying is one hop's; 18x says the phone rings.
                            if status > 100 {
                                self.announce_placed();
                            }
                            continue;
                        }
                        break m;
                    }
                }
            };
            let status = response.status.unwrap_or(0);
            self.record.final_status = status;
            if (200..300).contains(&status) {
                return Ok(response);
            }
            self.ack_failure(&response, &branch).await;
            if status != 401 && status != 407 {
                return Err(error_for_status(status));
            }
            let Some(credentials) = &self.config.credentials else {
                return Err(config_error(format!(
                    "the PBX demands authentication (SIP {status}) and no credentials are set"
                )));
            };
            let (challenge_header, answer_header) = if status == 401 {
                ("www-authenticate", "Authorization")
            } else {
                ("proxy-authenticate", "Proxy-Authorization")
            };
            let challenge = Challenge::parse(response.header(challenge_header).unwrap_or(""))
                .map_err(|e| config_error(format!("cannot answer the PBX's challenge: {e}")))?;
            let answered_before = authorizations.iter().any(|(h, _)| *h == answer_header);
            if answered_before && !challenge.stale {
                return Err(config_error(format!(
                    "the PBX rejected the credentials (SIP {status})"
                )));
            }
            // A stale nonce (or a first challenge) gets a fresh answer; at most two rounds
            // per challenger, so a server that keeps saying "stale" cannot loop us.
            if self.cseq > 4 {
                return Err(config_error("the PBX keeps challenging the credentials"));
            }
            authorizations.retain(|(h, _)| *h != answer_header);
            let cnonce = token(self.rng, 8);
            authorizations.push((
                answer_header,
                challenge.authorization(
                    &credentials.username,
                    &credentials.password,
                    "INVITE",
                    &self.dialog.request_uri,
                    &cnonce,
                    1,
                ),
            ));
            self.record.authenticated = true;
            self.cseq += 1;
        }
    }

    /// ACK for a non-2xx final response: part of the INVITE transaction (same branch).
    async fn ack_failure(&self, response: &Message, branch: &str) {
        let to = response.header("to").unwrap_or(&self.dialog.to).to_owned();
        if let Ok(ack) = self.dialog.request(
            rsip::Method::Ack,
            &self.dialog.request_uri,
            branch,
            self.cseq,
            &to,
            &[],
            &[],
            b"",
        ) {
            self.send(&ack).await;
        }
    }

    /// Cancels a ringing INVITE and waits for the 487 (or a late 200, which is hung up).
    async fn cancel(&mut self, branch: &str, buf: &mut [u8]) -> DeliveryError {
        self.record.cancelled = true;
        let no_answer = DeliveryError::new(
            DeliveryErrorKind::NoAnswer,
            format!(
                "nobody answered within {} s; the call was cancelled",
                self.config.ring_timeout.as_secs()
            ),
        );
        let Ok(cancel) = self.dialog.request(
            rsip::Method::Cancel,
            &self.dialog.request_uri,
            branch,
            self.cseq,
            &self.dialog.to,
            &[],
            &[],
            b"",
        ) else {
            return no_answer;
        };
        self.send(&cancel).await;
        let t1 = self.config.t1;
        let give_up = Instant::now() + t1 * 64;
        let mut attempt = 0;
        let mut next_retransmit = self.retransmit_at(t1, give_up);
        let mut cancel_done = false;
        loop {
            let wake = if cancel_done {
                give_up
            } else {
                next_retransmit.min(give_up)
            };
            tokio::select! {
                _ = sleep_until(wake) => {
                    if Instant::now() >= give_up {
                        return no_answer;
                    }
                    self.send(&cancel).await;
                    attempt += 1;
                    next_retransmit = self.retransmit_at(backoff(t1, attempt, Some(T2)), give_up);
                }
                message = self.recv(buf) => {
                    let Some(m) = message else { continue };
                    let Some(status) = m.status else {
                        self.answer_request(&m).await;
                        continue;
                    };
                    match m.cseq() {
                        Some((n, method)) if n == self.cseq && method == "CANCEL" && status >= 200 => {
                            cancel_done = true;
                        }
                        Some((n, method)) if n == self.cseq && method == "INVITE" && status >= 200 => {
                            self.record.final_status = status;
                            if status < 300 {
                                // Answered just as we gave up: confirm, then hang up at once.
                                if self.acknowledge(&m).await.is_ok() {
                                    self.hang_up().await;
                                }
                            } else {
                                self.ack_failure(&m, branch).await;
                            }
                            return no_answer;
                        }
                        _ => {}
                    }
                }
            }
        }
    }

    /// Takes the dialog state from the 2xx and sends the ACK (a new transaction).
    async fn acknowledge(&mut self, ok: &Message) -> Result<(), DeliveryError> {
        self.dialog.remote_tag = ok.to_tag();
        self.dialog.remote_target = ok.contact_uri();
        self.dialog.route_set = ok
            .headers("record-route")
            .into_iter()
            .rev()
            .map(str::to_owned)
            .collect();
        let target = self
            .dialog
            .remote_target
            .clone()
            .unwrap_or_else(|| self.dialog.request_uri.clone());
        let ack = self
            .dialog
            .request(
                rsip::Method::Ack,
                &target,
                &branch(self.rng),
                self.cseq,
                &self.dialog.to_value(),
                &self.dialog.route_set,
                &[],
                b"",
            )
            .or_else(|_| {
                // A Contact we cannot parse: address the ACK as the INVITE was.
                self.dialog.remote_target = None;
                self.dialog.request(
                    rsip::Method::Ack,
                    &self.dialog.request_uri,
                    &branch(self.rng),
                    self.cseq,
                    &self.dialog.to_value(),
                    &self.dialog.route_set,
                    &[],
                    b"",
                )
            })
            .map_err(|_| config_error("cannot address the ACK"))?;
        self.send(&ack).await;
        self.ack = Some(ack);
        Ok(())
    }

    /// Answers a request the callee (or the PBX) sent us outside the media loop.
    async fn answer_request(&self, request: &Message) {
        let (status, reason) = match request.method.as_str() {
            "ACK" => return,
            "OPTIONS" | "BYE" | "INFO" => (200, "OK"),
            _ => (405, "Method Not Allowed"),
        };
        self.send(&response_to(request, status, reason)).await;
    }

    /// Sends a request inside the dialog and waits for its final response
    /// (non-INVITE transaction timers: T1 doubling up to T2, until 64·T1).
    async fn in_dialog(&mut self, method: rsip::Method, extra: &[ExtraHeader], body: &[u8]) {
        self.cseq += 1;
        let target = self
            .dialog
            .remote_target
            .clone()
            .unwrap_or_else(|| self.dialog.request_uri.clone());
        let method_name = method.to_string().to_ascii_uppercase();
        let Ok(request) = self.dialog.request(
            method,
            &target,
            &branch(self.rng),
            self.cseq,
            &self.dialog.to_value(),
            &self.dialog.route_set,
            extra,
            body,
        ) else {
            return;
        };
        self.send(&request).await;
        let t1 = self.config.t1;
        let give_up = Instant::now() + (t1 * 64).min(Duration::from_secs(32));
        let mut attempt = 0;
        let mut next_retransmit = self.retransmit_at(t1, give_up);
        let mut buf = vec![0u8; MAX_DATAGRAM];
        loop {
            tokio::select! {
                _ = sleep_until(next_retransmit.min(give_up)) => {
                    if Instant::now() >= give_up {
                        return;
                    }
                    self.send(&request).await;
                    attempt += 1;
                    next_retransmit = self.retransmit_at(backoff(t1, attempt, Some(T2)), give_up);
                }
                message = self.recv(&mut buf) => {
                    let Some(m) = message else { continue };
                    match m.status {
                        None => self.answer_request(&m).await,
                        Some(status) => {
                            if status >= 200 && m.cseq() == Some((self.cseq, method_name.clone())) {
                                return;
                            }
                            if status >= 200 && m.method == "INVITE" {
                                // The 200 OK again: our ACK was lost.
                                if let Some(ack) = &self.ack {
                                    self.send(ack).await;
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    async fn hang_up(&mut self) {
        self.in_dialog(rsip::Method::Bye, &[], b"").await;
    }

    /// The media session: plays the script, listens for keys, until the script or the
    /// keys end the call, or the callee hangs up.
    async fn media(
        &mut self,
        script: &CallScript,
        answer: &sdp::Answer,
        mut protection: Media,
    ) -> CallEnd {
        let mut seed = [0u8; 10];
        self.rng.fill(&mut seed);
        let mut sender = Sender::new(answer.codec, answer.event_pt, seed);
        let mut receiver = KeyReceiver::new(answer.event_pt);
        let mut actions: VecDeque<Action> = plan(script, &self.config.prompts).into();
        let mut queue: VecDeque<Tick> = VecDeque::new();
        let mut keys = Keys {
            listening: None,
            satisfied: false,
        };
        let mut waiting_until: Option<Instant> = None;
        let mut code_read = false;
        let mut end: Option<CallEnd> = None;
        let mut ticker = interval(Duration::from_millis(20));
        ticker.set_missed_tick_behavior(MissedTickBehavior::Burst);
        let mut sip_buf = vec![0u8; MAX_DATAGRAM];
        let mut rtp_buf = vec![0u8; 2048];
        let mut closing_played = false;
        let mut source = MediaLock::new(self.config.media_source, answer.remote);
        let hard_stop = Instant::now() + self.limit;
        loop {
            while end.is_none() && queue.is_empty() && waiting_until.is_none() {
                match actions.pop_front() {
                    None | Some(Action::Hangup) => {
                        end = Some(if code_read {
                            CallEnd::CodeRead
                        } else {
                            CallEnd::NoKey
                        });
                    }
                    Some(Action::Play { samples, secret }) => {
                        code_read |= secret;
                        queue.extend(
                            samples
                                .chunks(FRAME_SAMPLES)
                                .map(|c| Tick::Audio(c.to_vec())),
                        );
                    }
                    Some(Action::Listen(expect)) => {
                        keys = Keys {
                            listening: Some(KeyPrompt::new(expect)),
                            satisfied: false,
                        };
                    }
                    Some(Action::AwaitKeys(timeout)) => {
                        if !keys.satisfied && keys.listening.is_some() {
                            waiting_until = Some(Instant::now() + timeout);
                        }
                    }
                    Some(Action::SendDigits(digits)) => {
                        for c in digits.chars() {
                            if c == 'w' {
                                queue.extend((0..25).map(|_| Tick::Audio(Vec::new())));
                            } else if let Some(ticks) = sender.key_event(c, 8) {
                                queue.extend(ticks.into_iter().map(Tick::Packets));
                                queue.extend((0..4).map(|_| Tick::Audio(Vec::new())));
                            }
                        }
                    }
                }
            }
            if let Some(e) = end {
                // The closing is played once, unless the script already said goodbye or
                // nobody is there to hear it.
                let wants_closing = !matches!(e, CallEnd::CodeRead) && !self.record.remote_hangup;
                if wants_closing && !closing_played {
                    closing_played = true;
                    queue.clear();
                    queue.extend(
                        closing(script.language(), e, &self.config.prompts)
                            .chunks(FRAME_SAMPLES)
                            .map(|c| Tick::Audio(c.to_vec())),
                    );
                }
                if queue.is_empty() || self.record.remote_hangup {
                    return e;
                }
            }
            tokio::select! {
                _ = ticker.tick() => {
                    let packets = match queue.pop_front() {
                        Some(Tick::Audio(samples)) => vec![sender.audio_frame(&samples)],
                        Some(Tick::Packets(packets)) => packets,
                        None => vec![sender.audio_frame(&[])],
                    };
                    for packet in packets {
                        let Some(packet) = protection.outgoing(packet) else { continue };
                        if self.rtp.send_to(&packet, source.destination()).await.is_ok() {
                            self.record.rtp_packets_sent += 1;
                        }
                    }
                    if waiting_until.is_some_and(|u| Instant::now() >= u) {
                        waiting_until = None;
                        end = end.or(Some(CallEnd::NoKey));
                    }
                }
                _ = sleep_until(hard_stop), if end.is_none() => {
                    // The call has lasted as long as it may: say goodbye and hang up.
                    end = Some(if code_read { CallEnd::CodeRead } else { CallEnd::NoKey });
                }
                received = self.rtp.recv_from(&mut rtp_buf) => {
                    let Ok((n, from)) = received else { continue };
                    // Source and stream first (no work for strangers), then the
                    // SRTP tag, and only then may a first packet take the stream.
                    let plain = if source.may_admit(from, &rtp_buf[..n]) {
                        protection.incoming(&rtp_buf[..n])
                    } else {
                        None
                    };
                    let Some(plain) = plain.filter(|p| source.admits(from, p)) else {
                        self.record.rtp_packets_refused += 1;
                        continue;
                    };
                    self.record.rtp_packets_received += 1;
                    if let Incoming::Key(k) = receiver.receive(&plain) {
                        if end.is_none() {
                            self.key(k, &mut keys, &mut queue, &mut waiting_until, &mut end);
                        }
                    }
                }
                message = self.recv(&mut sip_buf) => {
                    let Some(m) = message else { continue };
                    match (m.status, m.method.as_str()) {
                        (None, "BYE") => {
                            self.send(&response_to(&m, 200, "OK")).await;
                            self.record.remote_hangup = true;
                            // Hanging up after hearing the code is the normal end of a
                            // read-out call; before any key, it decides nothing.
                            end = end.or(Some(if code_read {
                                CallEnd::CodeRead
                            } else {
                                CallEnd::NoKey
                            }));
                        }
                        (None, "INFO") => {
                            self.send(&response_to(&m, 200, "OK")).await;
                            let key = info_key(m.header("content-type").unwrap_or(""), &m.body);
                            if let (Some(k), None) = (key, end) {
                                self.key(k, &mut keys, &mut queue, &mut waiting_until, &mut end);
                            }
                        }
                        (None, "INVITE") => {
                            // A re-INVITE (session refresh, media moved, new SRTP
                            // key): keep our session, follow the far end's new address
                            // and key if it gave them. It came from the dialog's peer
                            // (the transport sees to it). An offer we cannot take is
                            // refused and the session goes on as it was (RFC 3261
                            // §14.2); one without SDP we can read changes nothing.
                            if let Ok(again) = sdp::parse_answer(&String::from_utf8_lossy(&m.body)) {
                                if protection.reoffer(&again).is_err() {
                                    self.send(&response_to(&m, 488, "Not Acceptable Here")).await;
                                    continue;
                                }
                                source.answered_again(again.remote);
                            }
                            let contact = self.dialog.contact();
                            let reply = response_with(
                                &m,
                                200,
                                "OK",
                                &[("Contact", contact), ("Content-Type", "application/sdp".into())],
                                self.offer.as_bytes(),
                            );
                            self.send(&reply).await;
                        }
                        (None, _) => self.answer_request(&m).await,
                        (Some(status), "INVITE") if (200..300).contains(&status) => {
                            if let Some(ack) = &self.ack {
                                self.send(ack).await;
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
    }

    /// A key from the callee, by RTP event or INFO.
    fn key(
        &mut self,
        key: char,
        keys: &mut Keys,
        queue: &mut VecDeque<Tick>,
        waiting_until: &mut Option<Instant>,
        end: &mut Option<CallEnd>,
    ) {
        if self.record.keys.len() < MAX_RECORDED_KEYS {
            self.record.keys.push(key);
        }
        let Some(listening) = keys.listening.as_mut() else {
            return;
        };
        let proceed = match listening.press(key) {
            Heard::More => false,
            Heard::Proceed => true,
            Heard::End(e) => {
                *end = Some(e);
                false
            }
        };
        if proceed {
            keys.listening = None;
            keys.satisfied = true;
            if waiting_until.take().is_none() {
                // Pressed during the prompt: stop it and go on.
                queue.clear();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mfa_core::CallOutcome;

    #[test]
    fn events_only_for_what_the_call_was_for() {
        let code = Content::Code(mfa_core::OneTimeCode::parse("123456").unwrap());
        let confirm = Content::ConfirmByKey;
        let user = UserId::username("kari@example.no").unwrap();
        let id = ChallengeId::parse("c").unwrap();
        let event = |result, content| event_for(result, content, user.clone(), id.clone());
        assert_eq!(
            event(Ok(CallEnd::Outcome(CallOutcome::FraudReported)), &confirm),
            Some(CallEvent::Outcome {
                user: user.clone(),
                challenge_id: id.clone(),
                outcome: CallOutcome::FraudReported
            })
        );
        assert_eq!(event(Ok(CallEnd::CodeRead), &code), None);
        for (end, content) in [
            (CallEnd::NoKey, &confirm),
            (CallEnd::Unrecognized, &confirm),
            (CallEnd::CodeRead, &confirm),
            (CallEnd::NoKey, &code),
            (CallEnd::Outcome(CallOutcome::Confirmed), &code),
        ] {
            match event(Ok(end), content) {
                Some(CallEvent::Ended { error, .. }) => {
                    assert_eq!(error.kind(), DeliveryErrorKind::Declined)
                }
                other => panic!("{end:?}: {other:?}"),
            }
        }
        let busy = DeliveryError::new(DeliveryErrorKind::Busy, "busy");
        assert!(matches!(
            event(Err(busy), &confirm),
            Some(CallEvent::Ended { error, .. }) if error.kind() == DeliveryErrorKind::Busy
        ));
    }
}
