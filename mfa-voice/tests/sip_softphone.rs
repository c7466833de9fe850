//! The SIP backend calling baresip, an auto-answering softphone that records what it
//! hears: the audio it received decodes to the expected prompt clips in order, and a
//! key pressed on it (through its UDP console) confirms the call or asks for the code.
//!
//! Each test starts its own baresip on free loopback ports. Run through
//! `scripts/test.sh`, which exports `MFA_BARESIP` and `MFA_BARESIP_MODULES`.

#![cfg(feature = "sip")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test fixtures

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mfa_core::{
    CallConfirmation, ChallengeStatus, CodeKey, Extension, ManualClock, MemoryStore, Method, Mfa,
    Pending, PhoneNumber, Policy, Purpose, Timestamp, UserId, Verification,
};
use mfa_voice::sip::{Clip, Codec, Prompts, SipConfig, SipVoice, read_wav};
use mfa_voice::{Language, ScriptOptions};
use support::free_udp_port;

/// One baresip softphone: answers every call, records what it hears, presses keys
/// when told.
struct Softphone {
    child: Child,
    sip_port: u16,
    console: SocketAddr,
    recordings: PathBuf,
    log: PathBuf,
}

/// A minute of silence as 16-bit PCM WAV: what the softphone's microphone plays
/// (baresip ends the call when its source runs out).
fn silence_wav(path: &Path) {
    let data_len: u32 = 60 * 16_000;
    let mut wav = Vec::new();
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data_len).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes());
    wav.extend_from_slice(&8000u32.to_le_bytes());
    wav.extend_from_slice(&16000u32.to_le_bytes());
    wav.extend_from_slice(&2u16.to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&data_len.to_le_bytes());
    wav.resize(wav.len() + data_len as usize, 0);
    std::fs::write(path, wav).unwrap();
}

impl Softphone {
    fn start() -> Softphone {
        Self::start_with(None)
    }

    /// A softphone that takes calls over TLS on the port after its SIP port, with the
    /// certificate (and key) in `certificate`, and accepts only SRTP media (SDES).
    fn start_with(secure: Option<&Path>) -> Softphone {
        for _ in 0..5 {
            if let Some(phone) = Self::try_start(secure) {
                return phone;
            }
        }
        panic!("baresip did not start");
    }

    fn try_start(secure: Option<&Path>) -> Option<Softphone> {
        let baresip = std::env::var("MFA_BARESIP")
            .expect("MFA_BARESIP is not set: run the SIP tests through scripts/test.sh");
        let modules = std::env::var("MFA_BARESIP_MODULES")
            .expect("MFA_BARESIP_MODULES is not set: run the SIP tests through scripts/test.sh");
        let sip_port = free_udp_port();
        let console_port = free_udp_port();
        let control_port = free_udp_port();
        let tmp = std::env::var("MFA_TEST_TMP")
            .map(PathBuf::from)
            .unwrap_or_else(|_| std::env::temp_dir());
        let dir = tmp.join(format!("baresip-{sip_port}"));
        let recordings = dir.join("recordings");
        std::fs::create_dir_all(&recordings).unwrap();
        silence_wav(&dir.join("silence.wav"));
        let silence = dir.join("silence.wav");
        let silence = silence.display();
        // baresip also binds TCP on the SIP port and TLS on the next one.
        let config = format!(
            "poll_method epoll\n\
             sip_listen 127.0.0.1:{sip_port}\n\
             sip_trans_def udp\n\
             net_interface 127.0.0.1\n\
             audio_player alsa,null\n\
             audio_source aufile,{silence}\n\
             audio_alert aufile,{silence}\n\
             ausrc_srate 8000\nauplay_srate 8000\nausrc_channels 1\nauplay_channels 1\n\
             jitter_buffer_delay 0-0\n\
             module_path {modules}\n\
             module g711.so\nmodule aufile.so\nmodule alsa.so\nmodule sndfile.so\n\
             module cons.so\n\
             module_app account.so\nmodule_app menu.so\n\
             cons_listen 127.0.0.1:{console_port}\n\
             ctrl_tcp_listen 127.0.0.1:{control_port}\n\
             snd_path {}\n",
            recordings.display()
        );
        let (config, account) = match secure {
            Some(certificate) => (
                format!(
                    "{config}sip_certificate {}\nmodule srtp.so\n",
                    certificate.display()
                ),
                format!(
                    "<sip:office@127.0.0.1:{sip_port};transport=tls>;regint=0;answermode=auto;\
                     audio_codecs=PCMA;mediaenc=srtp-mand\n"
                ),
            ),
            None => (
                config,
                format!(
                    "<sip:office@127.0.0.1:{sip_port}>;regint=0;answermode=auto;audio_codecs=PCMA\n"
                ),
            ),
        };
        std::fs::write(dir.join("config"), config).unwrap();
        std::fs::write(dir.join("accounts"), account).unwrap();
        std::fs::write(dir.join("contacts"), "").unwrap();
        let log = dir.join("baresip.log");
        // Verbose: the log then shows the telephone events it receives.
        let child = Command::new(baresip)
            .arg("-v")
            .arg("-f")
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .expect("baresip starts");
        let mut phone = Softphone {
            child,
            sip_port,
            console: SocketAddr::from(([127, 0, 0, 1], console_port)),
            recordings,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let text = std::fs::read_to_string(&phone.log).unwrap_or_default();
            if text.contains("baresip is ready") && !text.contains("in use") {
                return Some(phone);
            }
            if text.contains("in use") || phone.child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = phone.child.kill();
        let _ = phone.child.wait();
        None
    }

    /// Presses `key` after `delay`, from another thread (the call is running meanwhile).
    fn press_after(&self, key: char, delay: Duration) {
        let console = self.console;
        std::thread::spawn(move || {
            std::thread::sleep(delay);
            let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
            socket.send_to(key.to_string().as_bytes(), console).unwrap();
        });
    }

    /// Presses `key` once the log shows `text`, `delay` later.
    fn press_after_log(&self, text: &'static str, delay: Duration, key: char) {
        let log = self.log.clone();
        let console = self.console;
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(30);
            while !String::from_utf8_lossy(&std::fs::read(&log).unwrap_or_default()).contains(text)
            {
                if Instant::now() > deadline {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            std::thread::sleep(delay);
            let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
            socket.send_to(key.to_string().as_bytes(), console).unwrap();
        });
    }

    /// What the phone heard on its latest call, decoded.
    fn last_recording(&self) -> Vec<i16> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let mut files: Vec<PathBuf> = std::fs::read_dir(&self.recordings)
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.to_string_lossy().ends_with("-dec.wav"))
                .collect();
            files.sort();
            if let Some(file) = files.last() {
                if let Ok(samples) = read_wav(&std::fs::read(file).unwrap()) {
                    if !samples.is_empty() {
                        return samples;
                    }
                }
            }
            assert!(Instant::now() < deadline, "baresip recorded nothing");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The keys the phone received as RFC 4733 events, in order (from its log).
    fn keys_received(&self) -> String {
        let log = std::fs::read(&self.log).unwrap_or_default();
        let log = String::from_utf8_lossy(&log);
        log.match_indices("received event: '")
            .filter_map(|(i, m)| {
                let rest = &log[i + m.len()..];
                let key = rest.chars().next()?;
                rest.get(1..12)?.starts_with("' (end=1)").then_some(key)
            })
            .collect()
    }

    fn voice(&self) -> SipVoice {
        let mut options = ScriptOptions::default();
        options.key_timeout = Duration::from_secs(6);
        SipVoice::new(
            SipConfig::new(
                SocketAddr::from(([127, 0, 0, 1], self.sip_port)),
                format!("127.0.0.1:{}", self.sip_port),
            )
            .request_uri("sip:office@{host}")
            .t1(Duration::from_millis(200))
            .script_options(options),
        )
    }
}

impl Drop for Softphone {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A driver on `store`, to which `voice` reports its calls.
fn mfa(
    voice: SipVoice,
    confirmation: CallConfirmation,
    locale: &str,
    store: &MemoryStore,
) -> Arc<Mfa> {
    let mut policy = Policy::default();
    policy.call_confirmation = confirmation;
    policy.app_name = "Contoso".into();
    policy.locale = locale.into();
    let mfa = Arc::new(
        Mfa::builder()
            .voice(voice.clone())
            .store(store.clone())
            .clock(ManualClock::new(Timestamp::from_unix_secs(1_700_000_000)))
            .code_key(CodeKey::from_bytes([9; 32]))
            .policy(policy)
            .build()
            .unwrap(),
    );
    voice.report_to(&mfa);
    mfa
}

/// Where a challenge stands once every call placed for it has ended and reported.
async fn after_the_call(mfa: &Mfa, voice: &SipVoice, pending: &Pending) -> ChallengeStatus {
    tokio::time::timeout(Duration::from_secs(60), voice.idle())
        .await
        .expect("the call ends");
    mfa.challenge_status(&kari(), &pending.challenge_id)
        .await
        .unwrap()
}

fn kari() -> UserId {
    UserId::username("kari.nordmann@example.no").unwrap()
}

fn office_phone() -> Method {
    Method::OfficePhone {
        number: PhoneNumber::parse("+47 22 12 34 56").unwrap(),
        extension: None,
    }
}

/// Norwegian "press pound" calls: the softphone hears the confirmation prompt and the
/// goodbye, in that order; its `#` approves the enrollment, then a sign-in.
#[tokio::test]
#[ignore = "needs baresip: run scripts/test.sh"]
async fn the_softphone_hears_the_prompts_and_its_pound_confirms() {
    let phone = Softphone::start();
    let voice = phone.voice();
    let store = MemoryStore::default();
    let mfa = mfa(voice.clone(), CallConfirmation::PressKey, "nb", &store);
    let prompts = Prompts::builtin();

    phone.press_after('#', Duration::from_secs(2));
    let pending = mfa.begin_enrollment(&kari(), office_phone()).await.unwrap();
    assert_eq!(
        after_the_call(&mfa, &voice, &pending).await,
        ChallengeStatus::Approved
    );
    mfa.complete(&kari(), &pending.challenge_id).await.unwrap();
    let heard = prompts.transcribe(Language::NorwegianBokmal, &phone.last_recording());
    assert_eq!(heard, [Clip::Confirm, Clip::Goodbye]);

    // One second later (recordings are named by the second), a sign-in call.
    std::thread::sleep(Duration::from_millis(1100));
    phone.press_after('#', Duration::from_secs(2));
    let sign_in = mfa.challenge(&kari()).await.unwrap();
    assert_eq!(
        after_the_call(&mfa, &voice, &sign_in).await,
        ChallengeStatus::Approved
    );
    let heard = prompts.transcribe(Language::NorwegianBokmal, &phone.last_recording());
    assert_eq!(heard, [Clip::Confirm, Clip::Goodbye]);

    let calls = voice.calls();
    assert_eq!(calls.len(), 2);
    for call in &calls {
        assert_eq!(call.codec, Some(Codec::Pcma));
        assert_eq!(call.keys, "#");
    }
}

/// A read-out call: the code is read only after the softphone presses a key, three
/// times, digit by digit; the digits decoded from what it heard are the code that
/// verifies.
#[tokio::test]
#[ignore = "needs baresip: run scripts/test.sh"]
async fn the_code_the_softphone_hears_is_the_code_that_verifies() {
    let phone = Softphone::start();
    let store = MemoryStore::default();
    let voice = phone.voice();
    let mfa = mfa(voice.clone(), CallConfirmation::ReadCode, "en", &store);

    phone.press_after('5', Duration::from_secs(2));
    let pending = mfa.begin_enrollment(&kari(), office_phone()).await.unwrap();
    assert_eq!(pending.waiting_for, ChallengeStatus::AwaitingCode);
    assert_eq!(
        after_the_call(&mfa, &voice, &pending).await,
        ChallengeStatus::AwaitingCode
    );

    let heard = Prompts::builtin().transcribe(Language::English, &phone.last_recording());
    assert_eq!(heard.first(), Some(&Clip::PressAnyKey), "{heard:?}");
    assert_eq!(heard.last(), Some(&Clip::Goodbye), "{heard:?}");
    let readings: Vec<String> = heard[1..heard.len() - 1]
        .split(|c| *c == Clip::CodeIs)
        .skip(1)
        .map(|digits| {
            digits
                .iter()
                .map(|c| match c {
                    Clip::Digit(d) => char::from(b'0' + d),
                    other => panic!("{other:?} inside a reading of the code"),
                })
                .collect()
        })
        .collect();
    assert_eq!(readings.len(), 3, "{heard:?}");
    assert!(readings.iter().all(|r| r == &readings[0]));
    assert_eq!(readings[0].len(), 6);

    let verdict = mfa
        .verify(&kari(), &pending.challenge_id, &readings[0])
        .await
        .unwrap();
    assert!(
        matches!(&verdict, Verification::Approved(a) if a.purpose == Purpose::Enrollment && a.proof.is_none()),
        "{verdict:?}"
    );
    mfa.complete(&kari(), &pending.challenge_id).await.unwrap();
}

/// An office extension reached by DTMF after the answer: the softphone (the
/// switchboard) receives 4 and 2 as RFC 4733 events, hears "transfer this call to
/// extension four two", and its `#` (now the person at the extension) and a second `#`
/// confirm.
#[tokio::test]
#[ignore = "needs baresip: run scripts/test.sh"]
async fn an_extension_is_dialled_by_dtmf_after_the_answer() {
    let phone = Softphone::start();
    let voice = phone.voice();
    let store = MemoryStore::default();
    let mfa = mfa(voice.clone(), CallConfirmation::PressKey, "en", &store);

    // The switchboard hears the extension's last digit; the transfer request with the
    // extension takes as long as its clips; the person at the extension then presses
    // #, and # again during the confirmation prompt.
    let prompts = Prompts::builtin();
    let request_length: usize = [Clip::Transfer, Clip::Digit(4), Clip::Digit(2)]
        .iter()
        .map(|c| prompts.get(Language::English, *c).len() + 2_000)
        .sum();
    let at_extension = Duration::from_millis(request_length as u64 / 8 + 1_000);
    phone.press_after_log("received event: '2' (end=1)", at_extension, '#');
    phone.press_after_log(
        "received event: '2' (end=1)",
        at_extension + Duration::from_millis(2_500),
        '#',
    );
    let method = Method::OfficePhone {
        number: PhoneNumber::parse("+47 22 12 34 56").unwrap(),
        extension: Some(Extension::parse("42").unwrap()),
    };
    let pending = mfa.begin_enrollment(&kari(), method).await.unwrap();
    assert_eq!(
        after_the_call(&mfa, &voice, &pending).await,
        ChallengeStatus::Approved
    );
    assert_eq!(phone.keys_received(), "42");
    let heard = Prompts::builtin().transcribe(Language::English, &phone.last_recording());
    assert_eq!(
        heard,
        [
            Clip::Transfer,
            Clip::Digit(4),
            Clip::Digit(2),
            Clip::Confirm,
            Clip::Goodbye
        ]
    );
    assert_eq!(voice.calls()[0].keys, "##");
}

/// Number matching over SIP, in Norwegian: the softphone hears "key in the number on
/// your sign-in page", never the number; once the request has returned it keys in the
/// digits the page shows (RFC 4733 events) and the enrollment is approved. On the
/// sign-in it keys in other digits: denied, with the "wrong number" goodbye.
#[tokio::test]
#[ignore = "needs baresip: run scripts/test.sh"]
async fn the_softphone_keys_in_the_number_the_page_shows() {
    let phone = Softphone::start();
    let voice = phone.voice();
    let store = MemoryStore::default();
    let mfa = mfa(voice.clone(), CallConfirmation::MatchNumber, "nb", &store);
    let prompts = Prompts::builtin();

    let pending = mfa.begin_enrollment(&kari(), office_phone()).await.unwrap();
    let enrolled_with = pending.match_number.unwrap().to_string();
    let mut keys = enrolled_with.chars();
    phone.press_after(keys.next().unwrap(), Duration::from_millis(1500));
    phone.press_after(keys.next().unwrap(), Duration::from_millis(2000));
    assert_eq!(
        after_the_call(&mfa, &voice, &pending).await,
        ChallengeStatus::Approved
    );
    let heard = prompts.transcribe(Language::NorwegianBokmal, &phone.last_recording());
    assert_eq!(heard, [Clip::MatchNumber, Clip::Goodbye]);
    mfa.complete(&kari(), &pending.challenge_id).await.unwrap();

    std::thread::sleep(Duration::from_millis(1100));
    let sign_in = mfa.challenge(&kari()).await.unwrap();
    let shown = sign_in.match_number.unwrap().to_string();
    let wrong: Vec<char> = shown
        .bytes()
        .map(|b| char::from(b'0' + (b - b'0' + 5) % 10))
        .collect();
    phone.press_after(wrong[0], Duration::from_millis(1500));
    phone.press_after(wrong[1], Duration::from_millis(2000));
    assert_eq!(
        after_the_call(&mfa, &voice, &sign_in).await,
        ChallengeStatus::Denied
    );
    let heard = prompts.transcribe(Language::NorwegianBokmal, &phone.last_recording());
    assert_eq!(heard, [Clip::MatchNumber, Clip::WrongNumber]);
    let calls = voice.calls();
    assert_eq!(calls[0].keys, enrolled_with);
    assert_eq!(calls[1].keys, wrong.iter().collect::<String>());
    assert_eq!(calls[1].outcome, Some(mfa_core::CallOutcome::WrongNumber));
}

/// A certificate authority and a certificate it signed for 127.0.0.1, made for one
/// test: the PEM file (certificate and key) baresip serves, and the roots that trust it.
#[cfg(feature = "sip-tls")]
fn loopback_certificate(dir: &Path) -> (PathBuf, mfa_voice::sip::rustls::RootCertStore) {
    let support::LoopbackCertificate { cert, key, roots } =
        support::loopback_certificate(&dir.display().to_string());
    std::fs::create_dir_all(dir).unwrap();
    let pem = dir.join("office.pem");
    std::fs::write(&pem, format!("{}{}", cert.pem(), key.serialize_pem())).unwrap();
    (pem, roots)
}

#[cfg(feature = "sip-tls")]
fn secure_voice(phone: &Softphone, roots: mfa_voice::sip::rustls::RootCertStore) -> SipVoice {
    use mfa_voice::sip::TlsClient;
    let tls_port = phone.sip_port + 1;
    let mut options = ScriptOptions::default();
    options.key_timeout = Duration::from_secs(6);
    SipVoice::new(
        SipConfig::new(
            SocketAddr::from(([127, 0, 0, 1], tls_port)),
            format!("127.0.0.1:{tls_port}"),
        )
        .request_uri("sip:office@{host};transport=tls")
        .tls(TlsClient::new(roots, "127.0.0.1").unwrap())
        .srtp(true)
        .t1(Duration::from_millis(200))
        .script_options(options),
    )
}

/// An encrypted call: SIP over TLS to baresip (its certificate checked against a CA
/// made for the test) and SRTP media keyed by SDES. baresip hears the prompt (so it
/// decrypted our SRTP) and its `#` (which we decrypted and authenticated) approves.
#[cfg(feature = "sip-tls")]
#[tokio::test]
#[ignore = "needs baresip: run scripts/test.sh"]
async fn an_encrypted_call_over_tls_and_srtp_confirms() {
    let tmp = std::env::var("MFA_TEST_TMP")
        .map(PathBuf::from)
        .unwrap_or_else(|_| std::env::temp_dir());
    let (pem, roots) = loopback_certificate(&tmp.join(format!("tls-{}", free_udp_port())));
    let phone = Softphone::start_with(Some(&pem));
    let voice = secure_voice(&phone, roots);
    let store = MemoryStore::default();
    let mfa = mfa(voice.clone(), CallConfirmation::PressKey, "en", &store);
    let pending = mfa.begin_enrollment(&kari(), office_phone()).await.unwrap();
    phone.press_after('#', Duration::from_millis(1500));
    assert_eq!(
        after_the_call(&mfa, &voice, &pending).await,
        ChallengeStatus::Approved
    );
    let heard = Prompts::builtin().transcribe(Language::English, &phone.last_recording());
    assert_eq!(heard, [Clip::Confirm, Clip::Goodbye]);
    let call = &voice.calls()[0];
    assert!(call.srtp, "{call:?}");
    assert_eq!(call.keys, "#");
    assert_eq!(call.rtp_packets_refused, 0, "{call:?}");
}

/// A certificate that does not chain to the configured roots: no call is placed, and
/// the error is the backend's configuration.
#[cfg(feature = "sip-tls")]
#[tokio::test]
#[ignore = "needs baresip: run scripts/test.sh"]
async fn a_pbx_certificate_from_another_authority_is_refused() {
    let tmp = std::env::var("MFA_TEST_TMP")
        .map(PathBuf::from)
        .unwrap_or_else(|_| std::env::temp_dir());
    let (pem, _) = loopback_certificate(&tmp.join(format!("tls-{}", free_udp_port())));
    let (_, other_roots) = loopback_certificate(&tmp.join(format!("tls-{}", free_udp_port())));
    let phone = Softphone::start_with(Some(&pem));
    let voice = secure_voice(&phone, other_roots);
    let store = MemoryStore::default();
    let mfa = mfa(voice.clone(), CallConfirmation::PressKey, "en", &store);
    let error = mfa
        .begin_enrollment(&kari(), office_phone())
        .await
        .unwrap_err();
    // A configuration error, not a transient one: trying again does not mend it.
    assert!(
        matches!(&error, mfa_core::Error::Delivery(e)
            if e.kind() == mfa_core::DeliveryErrorKind::Configuration),
        "{error}"
    );
    assert!(!error.is_transient(), "{error}");
    assert!(phone.keys_received().is_empty());
    let text = std::fs::read_to_string(&phone.log).unwrap_or_default();
    assert!(!text.contains("Incoming call"), "{text}");
}

/// The UDP ports this process holds on loopback (from /proc): the test's view of
/// "every port an attacker might spray", our media port among them.
#[cfg(feature = "sip-tls")]
fn our_loopback_udp_ports() -> Vec<u16> {
    let inodes: Vec<String> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|l| {
            let l = l.to_string_lossy().into_owned();
            Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned())
        })
        .collect();
    std::fs::read_to_string("/proc/net/udp")
        .unwrap()
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (addr, port) = fields.get(1)?.split_once(':')?;
            let inode = fields.get(9)?;
            (addr == "0100007F" && inodes.iter().any(|i| i == inode))
                .then(|| u16::from_str_radix(port, 16).ok())
                .flatten()
        })
        .collect()
}

/// An attacker sprays RFC 4733 `#` in plain RTP at every UDP port we hold, from the
/// moment the call is placed, while the callee (baresip, over TLS and SRTP) presses
/// nothing. Even with `MediaSource::LatchFirst`, which lets a first plain packet take
/// the stream, none of it authenticates: no key, no approval.
#[cfg(feature = "sip-tls")]
#[tokio::test]
#[ignore = "needs baresip: run scripts/test.sh"]
async fn spoofed_keys_do_not_approve_an_encrypted_call() {
    let tmp = std::env::var("MFA_TEST_TMP")
        .map(PathBuf::from)
        .unwrap_or_else(|_| std::env::temp_dir());
    let (pem, roots) = loopback_certificate(&tmp.join(format!("tls-{}", free_udp_port())));
    let phone = Softphone::start_with(Some(&pem));
    let mut options = ScriptOptions::default();
    options.key_timeout = Duration::from_secs(3);
    let tls_port = phone.sip_port + 1;
    let voice = SipVoice::new(
        SipConfig::new(
            SocketAddr::from(([127, 0, 0, 1], tls_port)),
            format!("127.0.0.1:{tls_port}"),
        )
        .request_uri("sip:office@{host};transport=tls")
        .tls(mfa_voice::sip::TlsClient::new(roots, "127.0.0.1").unwrap())
        .srtp(true)
        .media_source(mfa_voice::sip::MediaSource::LatchFirst)
        .t1(Duration::from_millis(200))
        .script_options(options),
    );
    let store = MemoryStore::default();
    let mfa = mfa(voice.clone(), CallConfirmation::PressKey, "en", &store);
    let pending = mfa.begin_enrollment(&kari(), office_phone()).await.unwrap();
    let attacker = UdpSocket::bind("127.0.0.1:0").unwrap();
    let ports = our_loopback_udp_ports();
    assert!(!ports.is_empty());
    for seq in 0..40u16 {
        // RTP version 2, payload type 101 (what we offer for telephone events), end bit.
        let mut pound = vec![0x80, 101];
        pound.extend_from_slice(&seq.to_be_bytes());
        pound.extend_from_slice(&(1000u32 + u32::from(seq / 4) * 800).to_be_bytes());
        pound.extend_from_slice(&0x5150_0F0Fu32.to_be_bytes());
        pound.extend_from_slice(&[11, 0x80 | 10, 0, 160]);
        for port in &ports {
            let _ = attacker.send_to(&pound, ("127.0.0.1", *port));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = after_the_call(&mfa, &voice, &pending).await;
    assert_eq!(status, ChallengeStatus::AwaitingCallConfirmation);
    let call = &voice.calls()[0];
    assert!(call.srtp && call.keys.is_empty(), "{call:?}");
    assert!(call.rtp_packets_refused >= 40, "{call:?}");
    assert!(
        call.rtp_packets_received > 0,
        "baresip's own SRTP got through: {call:?}"
    );
}
