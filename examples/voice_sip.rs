//! Enrolls an office phone by a call placed over SIP through the company's PBX, then
//! signs in with a second call: "press pound to confirm" (or `0#` to report fraud).
//!
//! ```text
//! MFA_SIP_SERVER=192.0.2.10:5060 MFA_SIP_DOMAIN=pbx.example.com \
//! MFA_SIP_USER=mfa MFA_SIP_PASSWORD=... \
//!   cargo run --features sip --example voice_sip -- +4722123456 [extension]
//! ```
//!
//! Optional: `MFA_SIP_URI` (request-URI template, default `sip:{number}@{host}`),
//! `MFA_SIP_EXTENSION_URI` (e.g. `sip:{extension}@{host}`; without it the extension is
//! sent as DTMF after the answer), `MFA_PROMPTS_DIR` (your own recordings:
//! `en/confirm.wav`, `nb/3.wav`, ...), `MFA_LOCALE` (`en` or `nb`).
//!
//! Encrypted (build with `--features sip-tls`): `MFA_SIP_TLS_CA` (a PEM file of the
//! certificates the PBX's must chain to; the server is then reached over TLS, usually
//! on port 5061), `MFA_SIP_TLS_NAME` (the name its certificate carries, default
//! `MFA_SIP_DOMAIN`), `MFA_SIP_SRTP=1` (SRTP media keyed by SDES).

use std::env;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use mfa::voice::sip::{Credentials, Prompts, SipConfig, SipVoice};
use mfa::{ChallengeId, ChallengeStatus, Extension, Method, Mfa, PhoneNumber, Policy, UserId};

fn var(name: &str) -> Option<String> {
    env::var(name).ok().filter(|v| !v.is_empty())
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let (Some(server), Some(domain), Some(number)) =
        (var("MFA_SIP_SERVER"), var("MFA_SIP_DOMAIN"), args.first())
    else {
        eprintln!(
            "usage: MFA_SIP_SERVER=host:port MFA_SIP_DOMAIN=pbx.example.com \
             [MFA_SIP_USER=.. MFA_SIP_PASSWORD=..] voice_sip NUMBER [EXTENSION]"
        );
        return ExitCode::from(2);
    };
    match run(&server, &domain, number, args.get(1)).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(
    server: &str,
    domain: &str,
    number: &str,
    extension: Option<&String>,
) -> Result<(), Box<dyn std::error::Error>> {
    let server = std::net::ToSocketAddrs::to_socket_addrs(server)?
        .next()
        .ok_or("MFA_SIP_SERVER resolves to no address")?;
    let mut config = SipConfig::new(server, domain).caller("mfa", Some("Sign-in check"));
    if let (Some(user), Some(password)) = (var("MFA_SIP_USER"), var("MFA_SIP_PASSWORD")) {
        config = config.credentials(Credentials::new(user, password));
    }
    if let Some(template) = var("MFA_SIP_URI") {
        config = config.request_uri(template);
    }
    if let Some(template) = var("MFA_SIP_EXTENSION_URI") {
        config = config.extension_uri(template);
    }
    if let Some(dir) = var("MFA_PROMPTS_DIR") {
        config = config.prompts(Prompts::from_dir(dir)?);
    }
    #[cfg(feature = "sip-tls")]
    if let Some(ca) = var("MFA_SIP_TLS_CA") {
        use mfa::voice::sip::TlsClient;
        use mfa::voice::sip::rustls::RootCertStore;
        use mfa::voice::sip::rustls::pki_types::CertificateDer;
        use mfa::voice::sip::rustls::pki_types::pem::PemObject;
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(&ca)? {
            roots.add(cert?)?;
        }
        let name = var("MFA_SIP_TLS_NAME").unwrap_or_else(|| domain.to_owned());
        config = config
            .tls(TlsClient::new(roots, &name)?)
            .srtp(var("MFA_SIP_SRTP").is_some_and(|v| v == "1"));
    }

    let mut policy = Policy::default();
    policy.app_name = "Contoso".into();
    policy.locale = var("MFA_LOCALE").unwrap_or_else(|| "en".into());
    let voice = SipVoice::new(config);
    let mfa = Arc::new(Mfa::builder().voice(voice.clone()).policy(policy).build()?);
    // The call outlives the request that placed it; its task reports the keys here.
    voice.report_to(&mfa);

    let user = UserId::username("kari.nordmann@example.no")?;
    let method = Method::OfficePhone {
        number: PhoneNumber::parse(number)?,
        extension: extension.map(|e| Extension::parse(e)).transpose()?,
    };
    println!("Calling {number} to enroll it; answer and press # ...");
    let pending = mfa.begin_enrollment(&user, method).await?;
    let status = settled(&mfa, &user, &pending.challenge_id).await?;
    if status != ChallengeStatus::Approved {
        println!("Not confirmed: {status:?}");
        return Ok(());
    }
    mfa.complete(&user, &pending.challenge_id).await?;
    println!("Enrolled. Calling again for a sign-in ...");
    let sign_in = mfa.challenge(&user).await?;
    println!("Sign-in call placed; waiting for the key ...");
    let status = settled(&mfa, &user, &sign_in.challenge_id).await?;
    println!("Sign-in call: {status:?}");
    // The `#` approved the challenge during the call; the sign-in page redeems it once.
    let signed_in = mfa.poll(&user, &sign_in.challenge_id).await?;
    if signed_in.proof().is_some() {
        println!("Signed in: the session keeps the proof for settings changes.");
    } else {
        println!("Not signed in: {signed_in:?}");
    }
    Ok(())
}

/// What a sign-in page does while the phone rings: asks where the challenge stands
/// until the call decides it (a call that ends without a key leaves it pending until
/// it expires; a real page offers "call again" then).
async fn settled(
    mfa: &Mfa,
    user: &UserId,
    challenge: &ChallengeId,
) -> Result<ChallengeStatus, mfa::Error> {
    loop {
        let status = mfa.challenge_status(user, challenge).await?;
        if status != ChallengeStatus::AwaitingCallConfirmation {
            return Ok(status);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
