//! The email channel against real SMTP servers (aiosmtpd on loopback, started by
//! `scripts/services/smtp.sh`): the code is read back from the delivered message in
//! the Maildir to complete enrollment and sign-in through `Mfa`.

#![cfg(feature = "smtp")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mfa_core::{
    DeliveryErrorKind, EmailAddress, Error, LimitScope, Method, Mfa, OsRandomness, Policy,
    PolicyError, Randomness, UserId, Verification,
};
use mfa_email::{EmailChannel, SmtpEmail, SmtpSecurity};

const NEEDS: &str = "needs the SMTP servers: run bash scripts/test.sh";

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: {NEEDS}"))
}

fn port(name: &str) -> u16 {
    env(name).parse().unwrap()
}

/// A fresh address and user per test, so tests share the servers' Maildirs.
fn fresh(tag: &str) -> (UserId, EmailAddress) {
    let mut bytes = [0u8; 6];
    OsRandomness.fill(&mut bytes);
    let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    (
        UserId::username(&format!("{tag}-{id}@example.no")).unwrap(),
        EmailAddress::parse(&format!("{tag}-{id}@example.no")).unwrap(),
    )
}

fn policy() -> Policy {
    let mut p = Policy::default();
    p.allow_email = true;
    p.app_name = "Contoso & Co".to_owned();
    p
}

fn from() -> EmailAddress {
    EmailAddress::parse("no-reply@contoso.example").unwrap()
}

fn plain_server() -> SmtpEmail {
    SmtpEmail::builder("127.0.0.1", from())
        .port(port("MFA_TEST_SMTP_PORT"))
        .security(SmtpSecurity::PlaintextLoopback)
        .from_name("Contoso sign-in")
        .build()
        .unwrap()
}

fn mfa_over(smtp: SmtpEmail, policy: Policy) -> Mfa {
    Mfa::builder()
        .email(EmailChannel::new(smtp))
        .policy(policy)
        .build()
        .unwrap()
}

/// One delivered message, parsed.
struct Delivered {
    subject: String,
    from: String,
    text: String,
    html: String,
}

impl Delivered {
    /// The first run of six digits in the plain-text body.
    fn code(&self) -> String {
        let digits: Vec<char> = self.text.chars().collect();
        digits
            .windows(6)
            .find(|w| w.iter().all(char::is_ascii_digit))
            .map(|w| w.iter().collect())
            .expect("a six-digit code in the message")
    }
}

/// The messages for `to` in the Maildir's `new/`, oldest first.
fn messages_to(maildir: &Path, to: &EmailAddress) -> Vec<Delivered> {
    let mut files: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(maildir.join("new"))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (e.metadata().unwrap().modified().unwrap(), e.path())
        })
        .collect();
    files.sort();
    let mut found = Vec::new();
    for (_, path) in files {
        let raw = std::fs::read(&path).unwrap();
        let mail = mailparse::parse_mail(&raw).unwrap();
        let header = |name: &str| {
            mailparse::MailHeaderMap::get_first_value(&mail.headers[..], name).unwrap_or_default()
        };
        if !header("To").contains(to.as_str()) {
            continue;
        }
        let part = |mime: &str| {
            mail.subparts
                .iter()
                .find(|p| p.ctype.mimetype == mime)
                .unwrap_or_else(|| panic!("a {mime} part"))
                .get_body()
                .unwrap()
        };
        assert_eq!(mail.ctype.mimetype, "multipart/alternative");
        found.push(Delivered {
            subject: header("Subject"),
            from: header("From"),
            text: part("text/plain"),
            html: part("text/html"),
        });
    }
    found
}

/// Waits (briefly) for the `n`th message to `to`.
fn wait_for(maildir: &Path, to: &EmailAddress, n: usize) -> Vec<Delivered> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let found = messages_to(maildir, to);
        if found.len() >= n || Instant::now() > deadline {
            assert_eq!(found.len(), n, "messages to {to}");
            return found;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

async fn enroll_and_sign_in(mfa: &Mfa, maildir: &Path, user: &UserId, address: &EmailAddress) {
    let method = Method::Email {
        address: address.clone(),
    };
    let pending = mfa.begin_enrollment(user, method).await.unwrap();
    let mail = wait_for(maildir, address, 1).pop().unwrap();
    let answer = mfa
        .verify(user, &pending.challenge_id, &mail.code())
        .await
        .unwrap();
    assert!(answer.is_approved(), "{answer:?}");
    mfa.complete(user, &pending.challenge_id).await.unwrap();

    let challenge = mfa.challenge(user).await.unwrap();
    let mail = wait_for(maildir, address, 2).pop().unwrap();
    let answer = mfa
        .verify(user, &challenge.challenge_id, &mail.code())
        .await
        .unwrap();
    assert!(answer.proof().is_some(), "{answer:?}");
    let again = mfa
        .verify(user, &challenge.challenge_id, &mail.code())
        .await
        .unwrap();
    assert_eq!(again, Verification::AlreadyUsed);
}

#[tokio::test]
#[ignore = "needs the SMTP servers: run bash scripts/test.sh"]
async fn enrollment_and_sign_in_with_the_code_from_the_delivered_message() {
    let maildir = PathBuf::from(env("MFA_TEST_SMTP_MAILDIR"));
    let (user, address) = fresh("journey");
    let mfa = mfa_over(plain_server(), policy());
    enroll_and_sign_in(&mfa, &maildir, &user, &address).await;

    let mail = messages_to(&maildir, &address).pop().unwrap();
    assert_eq!(mail.subject, "Your Contoso & Co verification code");
    assert!(mail.from.contains("Contoso sign-in"), "{}", mail.from);
    assert!(
        mail.from.contains("no-reply@contoso.example"),
        "{}",
        mail.from
    );
    let code = mail.code();
    assert!(mail.html.contains(&format!(">{code}</p>")), "{}", mail.html);
    // The application's name is escaped in HTML, kept as is in plain text.
    assert!(mail.html.contains("Contoso &amp; Co"), "{}", mail.html);
    assert!(mail.text.contains("Your Contoso & Co verification code is"));
}

#[tokio::test]
#[ignore = "needs the SMTP servers: run bash scripts/test.sh"]
async fn norwegian_text_survives_the_transfer_encoding() {
    let maildir = PathBuf::from(env("MFA_TEST_SMTP_MAILDIR"));
    let (user, address) = fresh("norsk");
    let mut p = policy();
    p.locale = "nb".to_owned();
    let mfa = mfa_over(plain_server(), p);
    mfa.begin_enrollment(
        &user,
        Method::Email {
            address: address.clone(),
        },
    )
    .await
    .unwrap();
    let mail = wait_for(&maildir, &address, 1).pop().unwrap();
    assert_eq!(mail.subject, "Bekreftelseskoden din for Contoso & Co");
    assert!(mail.text.contains("Den utløper om 5 min."), "{}", mail.text);
    assert!(mail.html.contains("Den utløper om 5 min."), "{}", mail.html);
}

#[tokio::test]
#[ignore = "needs the SMTP servers: run bash scripts/test.sh"]
async fn without_the_policy_nothing_reaches_the_server() {
    let maildir = PathBuf::from(env("MFA_TEST_SMTP_MAILDIR"));
    let (user, address) = fresh("refused");
    let mfa = mfa_over(plain_server(), Policy::default());
    let err = mfa
        .begin_enrollment(
            &user,
            Method::Email {
                address: address.clone(),
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Policy(PolicyError::EmailNotAllowed)));
    // A control message sent afterwards arrives, so the refusal really sent nothing.
    let control = mfa_over(plain_server(), policy());
    control
        .begin_enrollment(
            &user,
            Method::Email {
                address: address.clone(),
            },
        )
        .await
        .unwrap();
    assert_eq!(wait_for(&maildir, &address, 1).len(), 1);
}

#[tokio::test]
#[ignore = "needs the SMTP servers: run bash scripts/test.sh"]
async fn the_sixth_code_to_one_address_in_ten_minutes_is_not_sent() {
    let maildir = PathBuf::from(env("MFA_TEST_SMTP_MAILDIR"));
    let (_, address) = fresh("limited");
    let mfa = mfa_over(plain_server(), policy());
    for i in 0..5 {
        let (user, _) = fresh(&format!("sender{i}"));
        mfa.begin_enrollment(
            &user,
            Method::Email {
                address: address.clone(),
            },
        )
        .await
        .unwrap();
    }
    let (sixth, _) = fresh("sender5");
    let err = mfa
        .begin_enrollment(
            &sixth,
            Method::Email {
                address: address.clone(),
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Policy(PolicyError::RateLimited {
                scope: LimitScope::EmailAddress,
                ..
            })
        ),
        "{err:?}"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(messages_to(&maildir, &address).len(), 5);
}

fn authenticated(security: SmtpSecurity, port_var: &str, password: &str, ca: bool) -> SmtpEmail {
    let mut b = SmtpEmail::builder("127.0.0.1", from())
        .port(port(port_var))
        .security(security)
        .tls_name("localhost")
        .credentials(env("MFA_TEST_SMTP_USER"), password);
    if ca {
        b = b.root_certificate_pem(std::fs::read(env("MFA_TEST_SMTP_CA")).unwrap());
    }
    b.build().unwrap()
}

#[tokio::test]
#[ignore = "needs the SMTP servers: run bash scripts/test.sh"]
async fn starttls_with_authentication() {
    let maildir = PathBuf::from(env("MFA_TEST_SMTP_AUTH_MAILDIR"));
    let (user, address) = fresh("starttls");
    let smtp = authenticated(
        SmtpSecurity::StartTls,
        "MFA_TEST_SMTP_STARTTLS_PORT",
        &env("MFA_TEST_SMTP_PASSWORD"),
        true,
    );
    enroll_and_sign_in(&mfa_over(smtp, policy()), &maildir, &user, &address).await;
}

#[tokio::test]
#[ignore = "needs the SMTP servers: run bash scripts/test.sh"]
async fn tls_from_the_first_byte_with_authentication() {
    let maildir = PathBuf::from(env("MFA_TEST_SMTP_AUTH_MAILDIR"));
    let (user, address) = fresh("tls");
    let smtp = authenticated(
        SmtpSecurity::Tls,
        "MFA_TEST_SMTP_TLS_PORT",
        &env("MFA_TEST_SMTP_PASSWORD"),
        true,
    );
    enroll_and_sign_in(&mfa_over(smtp, policy()), &maildir, &user, &address).await;
}

async fn refused_kind(smtp: SmtpEmail) -> (DeliveryErrorKind, String) {
    let (user, address) = fresh("refused");
    let mfa = mfa_over(smtp, policy());
    match mfa
        .begin_enrollment(&user, Method::Email { address })
        .await
        .unwrap_err()
    {
        Error::Delivery(e) => {
            // The challenge died with the failed send: the user may start again.
            assert!(mfa.methods(&user).await.unwrap().is_empty());
            (e.kind(), e.to_string())
        }
        other => panic!("a delivery error, not {other:?}"),
    }
}

#[tokio::test]
#[ignore = "needs the SMTP servers: run bash scripts/test.sh"]
async fn a_wrong_password_is_a_configuration_error_that_names_no_secret() {
    let (kind, message) = refused_kind(authenticated(
        SmtpSecurity::StartTls,
        "MFA_TEST_SMTP_STARTTLS_PORT",
        "wrong-password",
        true,
    ))
    .await;
    assert_eq!(kind, DeliveryErrorKind::Configuration, "{message}");
    assert!(message.contains("535"), "{message}");
    assert!(!message.contains("wrong-password"), "{message}");
}

#[tokio::test]
#[ignore = "needs the SMTP servers: run bash scripts/test.sh"]
async fn an_untrusted_certificate_stops_the_send() {
    for (security, var) in [
        (SmtpSecurity::StartTls, "MFA_TEST_SMTP_STARTTLS_PORT"),
        (SmtpSecurity::Tls, "MFA_TEST_SMTP_TLS_PORT"),
    ] {
        let (kind, message) = refused_kind(authenticated(
            security,
            var,
            &env("MFA_TEST_SMTP_PASSWORD"),
            false,
        ))
        .await;
        assert_eq!(
            kind,
            DeliveryErrorKind::Configuration,
            "{security:?}: {message}"
        );
    }
}

#[tokio::test]
#[ignore = "needs the SMTP servers: run bash scripts/test.sh"]
async fn starttls_is_required_not_hoped_for() {
    // The plain server offers no STARTTLS: the send stops rather than going in clear.
    let smtp = SmtpEmail::builder("127.0.0.1", from())
        .port(port("MFA_TEST_SMTP_PORT"))
        .security(SmtpSecurity::StartTls)
        .build()
        .unwrap();
    let (kind, message) = refused_kind(smtp).await;
    assert_eq!(kind, DeliveryErrorKind::Configuration, "{message}");
}

#[tokio::test]
async fn a_server_that_stops_answering_is_a_timeout_not_a_hang() {
    // A listener that accepts and never says a word: no greeting, no replies.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
        }
    });
    let smtp = SmtpEmail::builder("127.0.0.1", from())
        .port(port)
        .security(SmtpSecurity::PlaintextLoopback)
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let started = Instant::now();
    let (kind, message) = refused_kind(smtp).await;
    assert_eq!(kind, DeliveryErrorKind::Timeout, "{message}");
    assert!(started.elapsed() < Duration::from_secs(5));
    held.abort();
}

// ---- one pooled connection, DKIM signatures ----

/// The raw messages to `to` in the Maildir's `new/`.
fn raw_messages_to(maildir: &Path, to: &EmailAddress, n: usize) -> Vec<Vec<u8>> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let found: Vec<Vec<u8>> = std::fs::read_dir(maildir.join("new"))
            .unwrap()
            .map(|e| std::fs::read(e.unwrap().path()).unwrap())
            .filter(|raw| {
                let mail = mailparse::parse_mail(raw).unwrap();
                mailparse::MailHeaderMap::get_first_value(&mail.headers[..], "To")
                    .is_some_and(|h| h.contains(to.as_str()))
            })
            .collect();
        if found.len() >= n || Instant::now() > deadline {
            assert_eq!(found.len(), n, "messages to {to}");
            return found;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn outgoing(to: &EmailAddress, n: usize) -> mfa_email::OutgoingEmail {
    mfa_email::OutgoingEmail {
        to: to.clone(),
        content: mfa_email::RenderedEmail {
            subject: format!("Your code ({n})"),
            text: format!("Your code is 12345{n}.\r\n"),
            html: format!("<p>Your code is <b>12345{n}</b>.</p>"),
        },
        code: mfa_core::OneTimeCode::parse(&format!("12345{n}")).unwrap(),
        challenge_id: mfa_core::ChallengeId::generate(&OsRandomness),
        purpose: mfa_core::Purpose::SignIn,
    }
}

/// The client's address and port as aiosmtpd's Mailbox records it (`X-Peer`): one
/// port per TCP connection.
fn peer(raw: &[u8]) -> String {
    let mail = mailparse::parse_mail(raw).unwrap();
    mailparse::MailHeaderMap::get_first_value(&mail.headers[..], "X-Peer")
        .expect("an X-Peer header")
}

#[tokio::test]
#[ignore = "needs the SMTP servers: run bash scripts/test.sh"]
async fn several_sends_reuse_one_pooled_connection() {
    use mfa_email::EmailBackend;
    let smtp = plain_server();
    let (_, to) = fresh("pool");
    for n in 0..4 {
        smtp.submit(&outgoing(&to, n)).await.unwrap();
        // lettre parks a used connection from a task of its own; sends of separate
        // sign-ins are never this close, so give it a moment.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let maildir = PathBuf::from(env("MFA_TEST_SMTP_MAILDIR"));
    let peers: std::collections::BTreeSet<String> = raw_messages_to(&maildir, &to, 4)
        .iter()
        .map(|raw| peer(raw))
        .collect();
    assert_eq!(peers.len(), 1, "four sends over one connection: {peers:?}");
}

/// dkimpy's verdict on `raw` (see scripts/services/dkim_verify.py).
fn dkim_verifies(raw: &[u8], selector: &str, domain: &str) -> bool {
    let mut bytes = [0u8; 6];
    OsRandomness.fill(&mut bytes);
    let name: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let path = std::env::temp_dir().join(format!("mfa-dkim-{name}.eml"));
    std::fs::write(&path, raw).unwrap();
    let out = std::process::Command::new("python3")
        .arg(env("MFA_TEST_DKIM_VERIFY"))
        .arg(&path)
        .arg(selector)
        .arg(domain)
        .output()
        .expect("python3 runs");
    let _ = std::fs::remove_file(&path);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("dkim: pass") || said.contains("dkim: fail"),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.status.success()
}

#[tokio::test]
#[ignore = "needs the SMTP servers: run bash scripts/test.sh"]
async fn sent_messages_carry_a_dkim_signature_that_verifies() {
    let pem = std::fs::read_to_string(env("MFA_TEST_DKIM_KEY")).unwrap();
    let dkim = mfa_email::Dkim::rsa_pem("mfa2026", "contoso.example", &pem).unwrap();
    let smtp = SmtpEmail::builder("127.0.0.1", from())
        .port(port("MFA_TEST_SMTP_PORT"))
        .security(SmtpSecurity::PlaintextLoopback)
        .dkim(dkim)
        .build()
        .unwrap();
    assert!(!format!("{smtp:?}").contains("PRIVATE"));
    // Sent through `Mfa`: an enrollment code.
    let mfa = mfa_over(smtp, policy());
    let (user, address) = fresh("dkim");
    mfa.begin_enrollment(
        &user,
        Method::Email {
            address: address.clone(),
        },
    )
    .await
    .unwrap();
    let maildir = PathBuf::from(env("MFA_TEST_SMTP_MAILDIR"));
    let raw = raw_messages_to(&maildir, &address, 1).remove(0);
    let mail = mailparse::parse_mail(&raw).unwrap();
    let signature = mailparse::MailHeaderMap::get_first_value(&mail.headers[..], "DKIM-Signature")
        .expect("a DKIM-Signature header");
    assert!(signature.contains("d=contoso.example"), "{signature}");
    assert!(signature.contains("s=mfa2026"), "{signature}");
    assert!(dkim_verifies(&raw, "mfa2026", "contoso.example"));

    // The same message with its code changed, or checked against another selector,
    // does not verify.
    let code = wait_for(&maildir, &address, 1).remove(0).code();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let other = if code.starts_with('9') { "1" } else { "9" };
    let tampered = text.replace(&code, &format!("{other}{}", &code[1..]));
    assert_ne!(tampered, text);
    assert!(!dkim_verifies(
        tampered.as_bytes(),
        "mfa2026",
        "contoso.example"
    ));
    assert!(!dkim_verifies(&raw, "other", "contoso.example"));

    // A sender outside the signing domain is refused when building.
    let pem_again = std::fs::read_to_string(env("MFA_TEST_DKIM_KEY")).unwrap();
    let misaligned = SmtpEmail::builder(
        "127.0.0.1",
        EmailAddress::parse("a@fabrikam.example").unwrap(),
    )
    .security(SmtpSecurity::PlaintextLoopback)
    .dkim(mfa_email::Dkim::rsa_pem("mfa2026", "contoso.example", &pem_again).unwrap())
    .build()
    .unwrap_err();
    assert_eq!(misaligned.kind(), DeliveryErrorKind::Configuration);
}
