//! The SIP backend against SIPp playing the office phone behind the company PBX:
//! digest authentication checked by SIPp's `verifyauth`, keys played as RFC 4733
//! events from SIPp's recordings, and the failures a PBX answers with.
//!
//! Each test starts its own SIPp on a free loopback port with the scenario it needs
//! (tests/sipp/*.xml) and checks both sides: what our backend returned, and that SIPp
//! saw the call it expected (its exit status). Run through `scripts/test.sh`, which
//! exports `MFA_SIPP`.

#![cfg(feature = "sip")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test fixtures

mod support;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mfa_core::{
    CallConfirmation, CallOutcome, ChallengeStatus, CodeKey, Delivery, DeliveryErrorKind,
    DeliveryRequest, Error, Event, ManualClock, MemoryEvents, MemoryStore, Method, MethodStatus,
    Mfa, Pending, Policy, Purpose, Status, Timestamp, UserId, Verification,
};
use mfa_voice::ScriptOptions;
use mfa_voice::sip::{Codec, Credentials, SipCall, SipConfig, SipVoice, Transport};
use support::{Sipp, free_udp_port, office, office_call};

fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn options() -> ScriptOptions {
    let mut o = ScriptOptions::default();
    o.key_timeout = Duration::from_secs(6);
    o
}

fn config(sipp: &Sipp, password: &str) -> SipConfig {
    SipConfig::new(sipp.addr, "office.example")
        .caller("mfa", Some("Contoso sign-in"))
        .credentials(Credentials::new("alice", password))
        .t1(Duration::from_millis(200))
        .script_options(options())
}

fn kari() -> UserId {
    UserId::username("kari.nordmann@example.no").unwrap()
}

fn office_phone() -> Method {
    Method::OfficePhone {
        number: office(),
        extension: None,
    }
}

fn request(extension: Option<&str>) -> DeliveryRequest {
    office_call("sip-test", kari(), extension)
}

/// Where a challenge stands once the call placed for it has decided (or ended): the
/// backend's own task reports the keys after the request returned.
async fn settled(mfa: &Mfa, pending: &Pending) -> ChallengeStatus {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = mfa
            .challenge_status(&kari(), &pending.challenge_id)
            .await
            .unwrap();
        if status != ChallengeStatus::AwaitingCallConfirmation || Instant::now() > deadline {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Places a call and waits for it to end: its record, or the error it ended with
/// (returned by `send` before the phone rang, or recorded after).
async fn call(voice: &SipVoice, request: &DeliveryRequest) -> Result<SipCall, DeliveryErrorKind> {
    let receipt = voice.send(request).await.map_err(|e| e.kind())?;
    let call = tokio::time::timeout(Duration::from_secs(60), voice.finished(&receipt.id))
        .await
        .expect("the call ends");
    match &call.error {
        Some(error) => Err(error.kind()),
        None => Ok(call),
    }
}

/// The app's side: one store, clock and event log shared by drivers whose voice
/// backends call different SIPp phones.
struct App {
    store: MemoryStore,
    clock: ManualClock,
    events: MemoryEvents,
}

impl App {
    fn new() -> App {
        App {
            store: MemoryStore::default(),
            clock: ManualClock::new(Timestamp::from_unix_secs(1_700_000_000)),
            events: MemoryEvents::new(),
        }
    }

    /// A driver on this app's store, to which `voice` reports its calls.
    fn mfa(&self, voice: SipVoice) -> Arc<Mfa> {
        let mut policy = Policy::default();
        policy.call_confirmation = CallConfirmation::PressKey;
        policy.app_name = "Contoso".into();
        policy.locale = "nb".into();
        let mfa = Arc::new(
            Mfa::builder()
                .voice(voice.clone())
                .store(self.store.clone())
                .clock(self.clock.clone())
                .code_key(CodeKey::from_bytes([7; 32]))
                .events(self.events.clone())
                .policy(policy)
                .build()
                .unwrap(),
        );
        voice.report_to(&mfa);
        mfa
    }

    /// Enrolls Kari's office phone with a call she confirms with `#`.
    async fn enrolled(&self) {
        let phone = Sipp::start("office_pound");
        let mfa = self.mfa(SipVoice::new(config(&phone, "secret")));
        let pending = mfa.begin_enrollment(&kari(), office_phone()).await.unwrap();
        assert_eq!(settled(&mfa, &pending).await, ChallengeStatus::Approved);
        mfa.complete(&kari(), &pending.challenge_id).await.unwrap();
        assert!(phone.finished_as_scripted(), "SIPp saw a different call");
    }
}

/// Enrollment and sign-in by office-phone call, each approved by `#` after digest
/// authentication, through `Mfa` with the SIP backend: one SIPp phone answers both.
#[tokio::test]
#[ignore = "needs SIPp: run scripts/test.sh"]
async fn enrollment_and_sign_in_by_office_phone_are_approved_by_pound() {
    let app = App::new();
    let phone = Sipp::start_for("office_pound", 2);
    let voice = SipVoice::new(config(&phone, "secret"));
    let mfa = app.mfa(voice.clone());

    let pending = mfa.begin_enrollment(&kari(), office_phone()).await.unwrap();
    assert_eq!(settled(&mfa, &pending).await, ChallengeStatus::Approved);
    let record = mfa
        .complete(&kari(), &pending.challenge_id)
        .await
        .unwrap()
        .method;
    assert_eq!(record.status, MethodStatus::Active);
    assert!(matches!(
        mfa.status(&kari()).await.unwrap(),
        Status::Enrolled { .. }
    ));

    let sign_in = mfa.challenge(&kari()).await.unwrap();
    assert_eq!(sign_in.purpose, Purpose::SignIn);
    assert_eq!(settled(&mfa, &sign_in).await, ChallengeStatus::Approved);
    assert!(phone.finished_as_scripted(), "SIPp saw a different call");
    // The `#` came back in the receipt; the sign-in page's poll redeems it, once.
    let signed_in = mfa.poll(&kari(), &sign_in.challenge_id).await.unwrap();
    assert!(signed_in.proof().is_some(), "{signed_in:?}");
    assert_eq!(
        mfa.poll(&kari(), &sign_in.challenge_id).await.unwrap(),
        Verification::AlreadyUsed
    );

    voice.idle().await;
    let calls = voice.calls();
    assert_eq!(calls.len(), 2);
    for call in &calls {
        assert!(call.authenticated, "{call:?}");
        assert_eq!(call.final_status, 200);
        assert_eq!(call.codec, Some(Codec::Pcma));
        assert_eq!(call.keys, "#");
        assert_eq!(call.outcome, Some(CallOutcome::Confirmed));
        assert!(!call.remote_hangup && !call.cancelled);
        assert!(call.answered_at.is_some());
        // The prompt (cut short by the key) and the goodbye went out as 20 ms frames.
        assert!(call.rtp_packets_sent > 50, "{call:?}");
        assert!(call.rtp_packets_received >= 10, "{call:?}");
    }
    assert_ne!(calls[0].call_id, calls[1].call_id);
}

/// `0#` on the office phone denies the sign-in, reports fraud and blocks the phone.
#[tokio::test]
#[ignore = "needs SIPp: run scripts/test.sh"]
async fn zero_pound_reports_fraud() {
    let app = App::new();
    app.enrolled().await;

    let phone = Sipp::start("office_fraud");
    let voice = SipVoice::new(config(&phone, "secret"));
    let mfa = app.mfa(voice.clone());
    let pending = mfa.challenge(&kari()).await.unwrap();
    assert_eq!(settled(&mfa, &pending).await, ChallengeStatus::Denied);
    assert!(phone.finished_as_scripted(), "SIPp saw a different call");
    voice.idle().await;
    assert_eq!(voice.calls()[0].keys, "0#");
    assert_eq!(voice.calls()[0].outcome, Some(CallOutcome::FraudReported));
    assert!(
        app.events
            .events()
            .iter()
            .any(|e| matches!(e, Event::FraudReported { user, .. } if user == &kari()))
    );
    let methods = mfa.methods(&kari()).await.unwrap();
    assert_eq!(methods[0].status, MethodStatus::Blocked);
}

/// A busy line leaves the sign-in pending; the next call is answered and confirms it.
#[tokio::test]
#[ignore = "needs SIPp: run scripts/test.sh"]
async fn a_busy_line_leaves_the_challenge_pending_for_the_next_call() {
    let app = App::new();
    app.enrolled().await;

    let busy = Sipp::start("office_busy");
    let mfa = app.mfa(SipVoice::new(config(&busy, "secret")));
    let id = match mfa.challenge(&kari()).await {
        Err(Error::CallNotCompleted {
            challenge_id,
            error,
        }) => {
            assert_eq!(error.kind(), DeliveryErrorKind::Busy);
            challenge_id
        }
        other => panic!("expected a busy call, got {other:?}"),
    };
    assert!(busy.finished_as_scripted());
    assert_eq!(
        mfa.challenge_status(&kari(), &id).await.unwrap(),
        ChallengeStatus::AwaitingCallConfirmation
    );

    app.clock.advance(Duration::from_secs(60));
    let phone = Sipp::start("office_pound");
    let mfa = app.mfa(SipVoice::new(config(&phone, "secret")));
    let pending = mfa.resend(&kari(), &id).await.unwrap();
    assert_eq!(settled(&mfa, &pending).await, ChallengeStatus::Approved);
    assert!(phone.finished_as_scripted());
}

/// 486, 603 and 404 are typed errors, and the failed INVITE is acknowledged.
#[tokio::test]
#[ignore = "needs SIPp: run scripts/test.sh"]
async fn final_statuses_are_typed_errors() {
    for (scenario, status, kind) in [
        ("office_busy", "486", DeliveryErrorKind::Busy),
        ("office_declined", "603", DeliveryErrorKind::Declined),
        (
            "office_unknown",
            "404",
            DeliveryErrorKind::InvalidDestination,
        ),
    ] {
        let phone = Sipp::start(scenario);
        let voice = SipVoice::new(config(&phone, "secret"));
        let error = voice.send(&request(None)).await.unwrap_err();
        assert_eq!(error.kind(), kind, "{status}: {error}");
        assert!(error.message().contains(status), "{error}");
        assert!(phone.finished_as_scripted(), "{status}: no ACK?");
        let call = &voice.calls()[0];
        assert_eq!(call.final_status.to_string(), status);
        assert_eq!(call.error.as_ref().map(|e| e.kind()), Some(kind));
        assert!(call.answered_at.is_none());
    }
}

/// Nobody answers: after the ring timeout the call is cancelled (SIPp checks the
/// CANCEL and our ACK of its 487) and the error is "no answer".
#[tokio::test]
#[ignore = "needs SIPp: run scripts/test.sh"]
async fn no_answer_cancels_the_call() {
    let phone = Sipp::start("office_no_answer");
    let voice = SipVoice::new(config(&phone, "secret").ring_timeout(Duration::from_secs(2)));
    // The phone rang, so the send returned; the task saw nobody answer.
    let error = call(&voice, &request(None)).await.unwrap_err();
    assert_eq!(error, DeliveryErrorKind::NoAnswer);
    assert!(
        phone.finished_as_scripted(),
        "SIPp did not see CANCEL and ACK"
    );
    let call = &voice.calls()[0];
    assert!(call.cancelled);
    assert_eq!(call.final_status, 487);
}

/// A wrong password: SIPp's `verifyauth` rejects the digest, the PBX answers 403, and
/// the backend reports a configuration error that names no secret.
#[tokio::test]
#[ignore = "needs SIPp: run scripts/test.sh"]
async fn a_wrong_password_is_a_configuration_error() {
    let phone = Sipp::start("office_wrong_password");
    let voice = SipVoice::new(config(&phone, "not-the-password"));
    let error = voice.send(&request(None)).await.unwrap_err();
    assert_eq!(error.kind(), DeliveryErrorKind::Configuration);
    assert!(!error.is_transient());
    let shown = format!("{error} {error:?} {voice:?} {:?}", voice.calls());
    assert!(!shown.contains("not-the-password"), "{shown}");
    assert!(phone.finished_as_scripted(), "SIPp accepted the digest?");
    assert!(voice.calls()[0].authenticated);
}

/// A phone that answers and sends nothing: no RTP, no key, a media timeout; the call
/// is still hung up with BYE (SIPp waits for it).
#[tokio::test]
#[ignore = "needs SIPp: run scripts/test.sh"]
async fn a_silent_phone_is_a_media_timeout() {
    let phone = Sipp::start("office_silent");
    let mut options = ScriptOptions::default();
    options.key_timeout = Duration::from_secs(2);
    let voice = SipVoice::new(
        SipConfig::new(phone.addr, "office.example")
            .t1(Duration::from_millis(200))
            .script_options(options),
    );
    let error = call(&voice, &request(None)).await.unwrap_err();
    assert_eq!(error, DeliveryErrorKind::NoMedia);
    assert!(phone.finished_as_scripted(), "SIPp got no BYE");
    let call = &voice.calls()[0];
    assert_eq!(call.rtp_packets_received, 0);
    assert!(call.keys.is_empty() && !call.authenticated);
}

/// An extension reached directly by the request-URI template (SIPp checks the URI).
#[tokio::test]
#[ignore = "needs SIPp: run scripts/test.sh"]
async fn an_extension_is_dialled_through_the_uri_template() {
    let phone = Sipp::start("office_extension");
    let voice = SipVoice::new(config(&phone, "secret").extension_uri("sip:{extension}@{host}"));
    let placed = call(&voice, &request(Some("2042"))).await.unwrap();
    assert_eq!(placed.outcome, Some(CallOutcome::Confirmed));
    assert!(phone.finished_as_scripted(), "SIPp saw another request-URI");
    assert_eq!(voice.calls()[0].request_uri, "sip:2042@office.example");
}

/// A phone that sends its key as SIP INFO (`application/dtmf-relay`) instead of RTP.
#[tokio::test]
#[ignore = "needs SIPp: run scripts/test.sh"]
async fn a_key_sent_by_sip_info_confirms() {
    let phone = Sipp::start("office_info");
    let voice =
        SipVoice::new(SipConfig::new(phone.addr, "office.example").t1(Duration::from_millis(200)));
    let placed = call(&voice, &request(None)).await.unwrap();
    assert_eq!(placed.outcome, Some(CallOutcome::Confirmed));
    assert!(
        phone.finished_as_scripted(),
        "SIPp got no 200 for INFO or no BYE"
    );
    let call = &voice.calls()[0];
    assert_eq!(call.keys, "#");
    assert_eq!(call.rtp_packets_received, 0);
}

/// The callee hangs up before any key: declined, and we send no BYE of our own.
#[tokio::test]
#[ignore = "needs SIPp: run scripts/test.sh"]
async fn a_hang_up_before_the_key_is_declined() {
    let phone = Sipp::start("office_hangs_up");
    let voice =
        SipVoice::new(SipConfig::new(phone.addr, "office.example").t1(Duration::from_millis(200)));
    let error = call(&voice, &request(None)).await.unwrap_err();
    assert_eq!(error, DeliveryErrorKind::Declined);
    assert!(phone.finished_as_scripted(), "SIPp got no 200 for its BYE");
    let call = &voice.calls()[0];
    assert!(call.remote_hangup);
    assert!(call.keys.is_empty());
}

/// The company proxy in front of the phone challenges with 407: Proxy-Authorization.
#[tokio::test]
#[ignore = "needs SIPp: run scripts/test.sh"]
async fn a_proxy_challenge_is_answered() {
    let phone = Sipp::start("office_proxy_auth");
    let voice = SipVoice::new(config(&phone, "secret"));
    let placed = call(&voice, &request(None)).await.unwrap();
    assert_eq!(placed.outcome, Some(CallOutcome::Confirmed));
    assert!(
        phone.finished_as_scripted(),
        "SIPp found no Proxy-Authorization"
    );
    assert!(voice.calls()[0].authenticated);
}

/// Kamailio as the company's SIP proxy, record-routing the dialog.
struct Proxy {
    child: Child,
    addr: SocketAddr,
    /// Where it takes SIP over TLS, if it was started with a certificate.
    #[cfg_attr(not(feature = "sip-tls"), allow(dead_code))]
    tls: Option<SocketAddr>,
}

/// A certificate and its key as PEM files, for Kamailio's TLS listener.
struct ProxyCertificate {
    certificate: PathBuf,
    key: PathBuf,
}

impl Proxy {
    /// A stateful proxy on a free port that sends every new call to `phone` and keeps
    /// itself on the path of the dialog (Record-Route), as a company proxy does.
    fn start(phone: SocketAddr) -> Proxy {
        Self::start_with(phone, None)
    }

    /// The same proxy, also taking SIP over TLS (on another free port) with
    /// `certificate` when given; calls that come in over TLS go on to `phone` over UDP.
    fn start_with(phone: SocketAddr, certificate: Option<&ProxyCertificate>) -> Proxy {
        let kamailio = std::env::var("MFA_KAMAILIO")
            .expect("MFA_KAMAILIO is not set: run the SIP tests through scripts/test.sh");
        let modules = std::env::var("MFA_KAMAILIO_MODULES")
            .expect("MFA_KAMAILIO_MODULES is not set: run the SIP tests through scripts/test.sh");
        let port = free_udp_port();
        let tmp = std::env::var("MFA_TEST_TMP")
            .map(PathBuf::from)
            .unwrap_or_else(|_| std::env::temp_dir());
        let dir = tmp.join(format!("kamailio-{port}"));
        std::fs::create_dir_all(&dir).unwrap();
        let tls_port = certificate.map(|_| free_tcp_port());
        let tls = match (certificate, tls_port) {
            (Some(c), Some(tls_port)) => {
                let tls_config = dir.join("tls.cfg");
                std::fs::write(
                    &tls_config,
                    format!(
                        "[server:default]\nmethod = TLSv1.2+\ncertificate = {}\n\
                         private_key = {}\nverify_certificate = no\n\
                         require_certificate = no\n",
                        c.certificate.display(),
                        c.key.display()
                    ),
                )
                .unwrap();
                format!(
                    "enable_tls=yes\ntcp_children=1\nlisten=tls:127.0.0.1:{tls_port}\n\
                     loadmodule \"{modules}/tls.so\"\n\
                     modparam(\"tls\", \"config\", \"{}\")\n",
                    tls_config.display()
                )
            }
            _ => "disable_tcp=yes\n".to_owned(),
        };
        let config = format!(
            r#"#!KAMAILIO
debug=2
log_stderror=yes
children=1
disable_sctp=yes
auto_aliases=no
listen=udp:127.0.0.1:{port}
{tls}mpath="{modules}/"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "maxfwd.so"
loadmodule "siputils.so"
loadmodule "textops.so"
loadmodule "pv.so"

request_route {{
    if (!mf_process_maxfwd_header("10")) {{
        sl_send_reply("483", "Too Many Hops");
        exit;
    }}
    if (has_totag()) {{
        # In-dialog requests follow the Route set; without it they are dropped.
        if (loose_route()) {{
            t_relay();
        }} else if (is_method("ACK") && t_check_trans()) {{
            t_relay();
        }}
        exit;
    }}
    if (is_method("CANCEL")) {{
        if (t_check_trans()) {{
            t_relay();
        }}
        exit;
    }}
    record_route();
    $du = "sip:{phone}";
    t_relay();
}}
"#
        );
        let config_path = dir.join("proxy.cfg");
        std::fs::write(&config_path, config).unwrap();
        let log = std::fs::File::create(dir.join("kamailio.log")).unwrap();
        let child = Command::new(kamailio)
            .arg("-f")
            .arg(&config_path)
            .args(["-DD", "-E", "-Y"])
            .arg(&dir)
            .arg("-P")
            .arg(dir.join("kamailio.pid"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("kamailio starts");
        let proxy = Proxy {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            tls: tls_port.map(|p| SocketAddr::from(([127, 0, 0, 1], p))),
        };
        // It writes its pid file once its workers run.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !dir.join("kamailio.pid").exists() {
            assert!(Instant::now() < deadline, "kamailio did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(300));
        proxy
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // SIGTERM lets the main process stop its children too.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while let Ok(None) = self.child.try_wait() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Enrollment and sign-in through Kamailio as the company proxy: the PBX's digest
/// challenge passes through it, and the ACK and BYE find the phone only by following
/// the Route set the proxy recorded.
#[tokio::test]
#[ignore = "needs SIPp and Kamailio: run scripts/test.sh"]
async fn enrollment_and_sign_in_through_the_company_proxy() {
    let phone = Sipp::start_for("office_pound", 2);
    let proxy = Proxy::start(phone.addr);
    let app = App::new();
    let voice = SipVoice::new(
        SipConfig::new(proxy.addr, "office.example")
            .credentials(Credentials::new("alice", "secret"))
            .t1(Duration::from_millis(200))
            .script_options(options()),
    );
    let mfa = app.mfa(voice.clone());
    let pending = mfa.begin_enrollment(&kari(), office_phone()).await.unwrap();
    assert_eq!(settled(&mfa, &pending).await, ChallengeStatus::Approved);
    mfa.complete(&kari(), &pending.challenge_id).await.unwrap();
    let sign_in = mfa.challenge(&kari()).await.unwrap();
    assert_eq!(settled(&mfa, &sign_in).await, ChallengeStatus::Approved);
    assert!(phone.finished_as_scripted(), "SIPp saw a different call");
    drop(proxy);
    voice.idle().await;
    for call in voice.calls() {
        assert_eq!(call.keys, "#");
        assert!(call.authenticated);
    }
}

/// A certificate authority made for one test, and a certificate it signed for
/// 127.0.0.1 (PEM files in `dir`): what Kamailio serves, and the roots that trust it.
#[cfg(feature = "sip-tls")]
fn throwaway_ca(
    dir: &std::path::Path,
) -> (ProxyCertificate, mfa_voice::sip::rustls::RootCertStore) {
    let support::LoopbackCertificate { cert, key, roots } =
        support::loopback_certificate(&dir.display().to_string());
    std::fs::create_dir_all(dir).unwrap();
    let files = ProxyCertificate {
        certificate: dir.join("proxy.crt"),
        key: dir.join("proxy.key"),
    };
    std::fs::write(&files.certificate, cert.pem()).unwrap();
    std::fs::write(&files.key, key.serialize_pem()).unwrap();
    (files, roots)
}

#[cfg(feature = "sip-tls")]
fn test_dir(name: &str) -> PathBuf {
    std::env::var("MFA_TEST_TMP")
        .map(PathBuf::from)
        .unwrap_or_else(|_| std::env::temp_dir())
        .join(format!("{name}-{}", free_udp_port()))
}

/// The backend calls through Kamailio over TLS: Kamailio's certificate (from a CA made
/// for the test) is checked, the PBX's digest challenge comes back through it, and it
/// relays the call to the office phone over UDP, which presses `#`.
#[cfg(feature = "sip-tls")]
#[tokio::test]
#[ignore = "needs SIPp and Kamailio with its TLS module: run scripts/test.sh"]
async fn over_tls_through_the_company_proxy_the_office_phone_confirms() {
    use mfa_voice::sip::TlsClient;
    let (certificate, roots) = throwaway_ca(&test_dir("proxy-tls"));
    let phone = Sipp::start("office_pound");
    let proxy = Proxy::start_with(phone.addr, Some(&certificate));
    let tls = proxy.tls.unwrap();
    let voice = SipVoice::new(
        SipConfig::new(tls, "office.example")
            .credentials(Credentials::new("alice", "secret"))
            .tls(TlsClient::new(roots, "127.0.0.1").unwrap())
            .t1(Duration::from_millis(200))
            .script_options(options()),
    );
    let placed = call(&voice, &request(None)).await.unwrap();
    assert_eq!(placed.outcome, Some(CallOutcome::Confirmed));
    assert!(phone.finished_as_scripted(), "SIPp saw a different call");
    drop(proxy);
    let call = &voice.calls()[0];
    assert!(call.authenticated);
    assert_eq!(call.keys, "#");
}

/// Kamailio serving a certificate from another authority than the configured roots:
/// no call is placed, and the error says the backend's TLS configuration (or the
/// server) is wrong, which trying again does not mend.
#[cfg(feature = "sip-tls")]
#[tokio::test]
#[ignore = "needs SIPp and Kamailio with its TLS module: run scripts/test.sh"]
async fn a_proxy_certificate_from_another_authority_is_refused() {
    use mfa_voice::sip::TlsClient;
    let (certificate, _) = throwaway_ca(&test_dir("proxy-tls"));
    let (_, other_roots) = throwaway_ca(&test_dir("proxy-tls-other"));
    let phone = Sipp::start("office_pound");
    let proxy = Proxy::start_with(phone.addr, Some(&certificate));
    let voice = SipVoice::new(
        SipConfig::new(proxy.tls.unwrap(), "office.example")
            .credentials(Credentials::new("alice", "secret"))
            .tls(TlsClient::new(other_roots, "127.0.0.1").unwrap())
            .t1(Duration::from_millis(200))
            .script_options(options()),
    );
    let error = voice.send(&request(None)).await.unwrap_err();
    assert_eq!(error.kind(), DeliveryErrorKind::Configuration, "{error}");
    assert!(error.message().contains("certificate"), "{error}");
    let call = &voice.calls()[0];
    assert!(call.answered_at.is_none() && call.keys.is_empty());
    drop(proxy);
    drop(phone);
}

/// A re-INVITE once answered is accepted with our session (SIPp checks the SDP in our
/// 200 OK), and the call goes on to the key.
#[tokio::test]
#[ignore = "needs SIPp: run scripts/test.sh"]
async fn a_re_invite_keeps_the_call_going() {
    let phone = Sipp::start("office_reinvite");
    let voice =
        SipVoice::new(SipConfig::new(phone.addr, "office.example").t1(Duration::from_millis(200)));
    let placed = call(&voice, &request(None)).await.unwrap();
    assert_eq!(placed.outcome, Some(CallOutcome::Confirmed));
    assert!(phone.finished_as_scripted(), "SIPp got no 200 with SDP");
}

/// A line nobody presses a key on ends at the call-length limit, cleanly with BYE.
#[tokio::test]
#[ignore = "needs SIPp: run scripts/test.sh"]
async fn a_call_ends_at_the_length_limit() {
    let phone = Sipp::start("office_silent");
    let mut options = ScriptOptions::default();
    options.key_timeout = Duration::from_secs(60);
    let voice = SipVoice::new(
        SipConfig::new(phone.addr, "office.example")
            .t1(Duration::from_millis(200))
            .script_options(options)
            .max_call_length(Duration::from_secs(3)),
    );
    let error = call(&voice, &request(None)).await.unwrap_err();
    assert_eq!(error, DeliveryErrorKind::NoMedia);
    assert!(phone.finished_as_scripted(), "SIPp got no BYE");
}

/// The same office phone over TCP: one connection carries the challenge, the answer,
/// the ACK and the BYE, with no retransmissions.
#[tokio::test]
#[ignore = "needs SIPp: run scripts/test.sh"]
async fn over_tcp_the_office_phone_confirms() {
    let phone = Sipp::start_with("office_pound", 1, "t1");
    let voice = SipVoice::new(config(&phone, "secret").transport(Transport::Tcp));
    let placed = call(&voice, &request(None)).await.unwrap();
    assert_eq!(placed.outcome, Some(CallOutcome::Confirmed));
    assert!(phone.finished_as_scripted(), "SIPp saw a different call");
    let call = &voice.calls()[0];
    assert!(call.authenticated);
    assert_eq!(call.keys, "#");
}

/// The request that starts a sign-in returns while the phone rings, not when the call
/// is over: the phone answers after a second and presses `#` four seconds later.
#[tokio::test]
#[ignore = "needs SIPp: run scripts/test.sh"]
async fn the_request_returns_once_the_call_is_placed() {
    let app = App::new();
    let phone = Sipp::start("office_slow_pound");
    let voice = SipVoice::new(config(&phone, "secret"));
    let mfa = app.mfa(voice.clone());
    let started = Instant::now();
    let pending = tokio::time::timeout(
        Duration::from_secs(3),
        mfa.begin_enrollment(&kari(), office_phone()),
    )
    .await
    .expect("begin_enrollment waited for the whole call")
    .unwrap();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(
        pending.waiting_for,
        ChallengeStatus::AwaitingCallConfirmation
    );
    // The `#` comes seconds later, through the backend's own task.
    assert_eq!(settled(&mfa, &pending).await, ChallengeStatus::Approved);
    assert!(started.elapsed() > Duration::from_secs(4));
    assert!(phone.finished_as_scripted(), "SIPp saw a different call");
    voice.idle().await;
    let calls = voice.calls();
    assert!(calls[0].reported, "{calls:?}");
    assert_eq!(calls[0].outcome, Some(CallOutcome::Confirmed));
}

/// A call that rings out after the request returned leaves the challenge pending, and
/// an event says why; the next call confirms it.
#[tokio::test]
#[ignore = "needs SIPp: run scripts/test.sh"]
async fn a_call_that_rings_out_later_leaves_the_challenge_pending_with_an_event() {
    let app = App::new();
    let phone = Sipp::start("office_no_answer");
    let voice = SipVoice::new(config(&phone, "secret").ring_timeout(Duration::from_secs(2)));
    let mfa = app.mfa(voice.clone());
    let pending = mfa.begin_enrollment(&kari(), office_phone()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    tokio::time::timeout(deadline - Instant::now(), voice.idle())
        .await
        .expect("the call ends");
    assert!(
        phone.finished_as_scripted(),
        "SIPp did not see CANCEL and ACK"
    );
    assert!(voice.calls()[0].reported);
    assert!(app.events.events().iter().any(|e| matches!(
        e,
        Event::CallEnded { challenge_id, reason: DeliveryErrorKind::NoAnswer, .. }
            if challenge_id == &pending.challenge_id
    )));
    assert_eq!(
        mfa.challenge_status(&kari(), &pending.challenge_id)
            .await
            .unwrap(),
        ChallengeStatus::AwaitingCallConfirmation
    );
    app.clock.advance(Duration::from_secs(60));
    let phone = Sipp::start("office_pound");
    let mfa = app.mfa(SipVoice::new(config(&phone, "secret")));
    let again = mfa.resend(&kari(), &pending.challenge_id).await.unwrap();
    assert_eq!(settled(&mfa, &again).await, ChallengeStatus::Approved);
    assert!(phone.finished_as_scripted());
}
