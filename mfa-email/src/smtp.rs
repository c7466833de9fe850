//! SMTP submission over lettre's tokio transport with rustls (no OpenSSL): STARTTLS
//! (port 587) or TLS from the first byte (port 465), with authentication.

use std::fmt;
use std::net::IpAddr;
use std::sync::OnceLock;
use std::time::Duration;

use async_trait::async_trait;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::AsyncSmtpTransportBuilder;
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use mfa_core::{DeliveryError, DeliveryErrorKind, EmailAddress, Receipt};
use zeroize::Zeroizing;

use crate::delivery::{EmailBackend, OutgoingEmail};
use crate::dkim::Dkim;

/// How the connection to the mail server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SmtpSecurity {
    /// Plain TCP, then `STARTTLS`, which the server must offer (submission, port 587).
    /// Never falls back to plain text.
    StartTls,
    /// TLS from the first byte (submissions, port 465, RFC 8314).
    Tls,
    /// No encryption: only to a relay on this machine (a loopback address or
    /// `localhost`), and never with credentials.
    PlaintextLoopback,
}

impl SmtpSecurity {
    /// The usual port.
    pub fn default_port(self) -> u16 {
        match self {
            SmtpSecurity::StartTls => 587,
            SmtpSecurity::Tls => 465,
            SmtpSecurity::PlaintextLoopback => 25,
        }
    }
}

/// Builds an [`SmtpEmail`].
pub struct SmtpEmailBuilder {
    host: String,
    from: EmailAddress,
    from_name: Option<String>,
    port: Option<u16>,
    security: SmtpSecurity,
    tls_name: Option<String>,
    credentials: Option<(String, Zeroizing<String>)>,
    root_certificates: Vec<Vec<u8>>,
    timeout: Duration,
    dkim: Option<Dkim>,
    pool: PoolSettings,
}

/// How many connections are kept open for reuse, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PoolSettings {
    max_size: u32,
    idle_timeout: Duration,
}

/// The connections kept by default: enough for a burst of sign-ins without a
/// handshake (TCP, TLS, AUTH) each, few enough for a relay's per-client limit.
pub const DEFAULT_POOL_SIZE: u32 = 4;

/// How long an unused pooled connection stays open by default; relays commonly
/// close idle sessions after a few minutes (RFC 5321 4.5.3.2 asks servers to wait
/// 5 minutes for a command).
pub const DEFAULT_POOL_IDLE: Duration = Duration::from_secs(60);

impl fmt::Debug for SmtpEmailBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpEmailBuilder")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("authenticated", &self.credentials.is_some())
            .field("dkim", &self.dkim)
            .finish_non_exhaustive()
    }
}

impl SmtpEmailBuilder {
    /// Signs every message with this DKIM key. The sender's domain must be the
    /// signing domain or below it (DMARC alignment), or `build` refuses.
    pub fn dkim(mut self, dkim: Dkim) -> Self {
        self.dkim = Some(dkim);
        self
    }

    /// Keeps up to `max_size` connections open for reuse (default
    /// [`DEFAULT_POOL_SIZE`]), each closed after `idle_timeout` unused (default
    /// [`DEFAULT_POOL_IDLE`]); sends reuse an open connection instead of connecting,
    /// greeting, starting TLS and authenticating again. `max_size` 0 is taken as 1.
    pub fn pool(mut self, max_size: u32, idle_timeout: Duration) -> Self {
        self.pool = PoolSettings {
            max_size: max_size.max(1),
            idle_timeout,
        };
        self
    }

    /// The port (default: the security's usual one).
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// How the connection is protected (default: STARTTLS).
    pub fn security(mut self, security: SmtpSecurity) -> Self {
        self.security = security;
        self
    }

    /// The name the server's certificate must carry (default: the host).
    pub fn tls_name(mut self, name: impl Into<String>) -> Self {
        self.tls_name = Some(name.into());
        self
    }

    /// Signs in to the server (`AUTH PLAIN` or `LOGIN`, over TLS only).
    pub fn credentials(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.credentials = Some((user.into(), Zeroizing::new(password.into())));
        self
    }

    /// Trusts this certificate authority (PEM) besides the public web roots: for a
    /// company relay with its own CA.
    pub fn root_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.root_certificates.push(pem.into());
        self
    }

    /// The display name in the `From` header (default: none).
    pub fn from_name(mut self, name: impl Into<String>) -> Self {
        self.from_name = Some(name.into());
        self
    }

    /// How long connecting may take (default 10 s); the whole submission may take
    /// three times as long.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Checks the settings and builds the backend; connects only when sending.
    pub fn build(self) -> Result<SmtpEmail, DeliveryError> {
        let config = |m: &str| DeliveryError::new(DeliveryErrorKind::Configuration, m);
        if self.host.is_empty() || self.host.len() > 253 {
            return Err(config("the SMTP host is empty or too long"));
        }
        let port = self.port.unwrap_or(self.security.default_port());
        let mut builder =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(self.host.as_str())
                .port(port)
                .timeout(Some(self.timeout))
                .pool_config(
                    PoolConfig::new()
                        .max_size(self.pool.max_size)
                        .idle_timeout(self.pool.idle_timeout),
                );
        let tls_parameters = || {
            let name = self.tls_name.clone().unwrap_or_else(|| self.host.clone());
            let mut params = TlsParameters::builder(name);
            for pem in &self.root_certificates {
                // A PEM file with no certificate in it parses as an empty list.
                let marker = b"-----BEGIN CERTIFICATE-----";
                if !pem.windows(marker.len()).any(|w| w == marker) {
                    return Err(config("a root certificate file holds no certificate"));
                }
                let cert = Certificate::from_pem(pem)
                    .map_err(|_| config("a root certificate is not PEM"))?;
                params = params.add_root_certificate(cert);
            }
            params
                .build_rustls()
                .map_err(|_| config("the TLS settings are not usable"))
        };
        builder = match self.security {
            SmtpSecurity::StartTls => builder.tls(Tls::Required(tls_parameters()?)),
            SmtpSecurity::Tls => builder.tls(Tls::Wrapper(tls_parameters()?)),
            SmtpSecurity::PlaintextLoopback => {
                if !is_loopback(&self.host) {
                    return Err(config(
                        "plain-text SMTP is only for a relay on this machine; use STARTTLS or TLS",
                    ));
                }
                if self.credentials.is_some() {
                    return Err(config("credentials are never sent without TLS"));
                }
                builder.tls(Tls::None)
            }
        };
        if let Some((user, password)) = &self.credentials {
            builder = builder.credentials(Credentials::new(user.clone(), password.to_string()));
        }
        let from_address = self
            .from
            .as_str()
            .parse()
            .map_err(|_| config("the sender address is not accepted by the SMTP library"))?;
        let from_name = self
            .from_name
            .map(|n| n.chars().filter(|c| !c.is_control()).collect());
        if let Some(dkim) = &self.dkim {
            if !dkim.aligns_with(&self.from) {
                return Err(config(
                    "the sender's domain is not the DKIM signing domain nor below it",
                ));
            }
        }
        Ok(SmtpEmail {
            builder,
            transport: OnceLock::new(),
            from: Mailbox::new(from_name, from_address),
            host: self.host,
            port,
            security: self.security,
            dkim: self.dkim,
            // Connect, greeting, EHLO, STARTTLS, AUTH, MAIL, RCPT, DATA, QUIT: a few
            // exchanges, each allowed the timeout.
            deadline: self.timeout.saturating_mul(3),
        })
    }
}

fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Sends code emails to an SMTP server (a company relay, or a provider's submission
/// service) as `multipart/alternative`: plain text and HTML.
///
/// ```no_run
/// use mfa_email::{EmailChannel, SmtpEmail, SmtpSecurity};
///
/// let smtp = SmtpEmail::builder("smtp.example.com", "no-reply@example.com".parse().unwrap())
///     .security(SmtpSecurity::StartTls)
///     .credentials("no-reply@example.com", "app password")
///     .from_name("Example sign-in")
///     .build()
///     .unwrap();
/// let mut policy = mfa_core::Policy::default();
/// policy.allow_email = true; // a restricted channel: see mfa_core::email
/// let mfa = mfa_core::Mfa::builder()
///     .email(EmailChannel::new(smtp))
///     .policy(policy)
///     .build()
///     .unwrap();
/// # let _ = mfa;
/// ```
pub struct SmtpEmail {
    builder: AsyncSmtpTransportBuilder,
    // Made at the first send: the pool starts a cleanup task, which needs the tokio
    // runtime that sends run on (building may happen before there is one).
    transport: OnceLock<AsyncSmtpTransport<Tokio1Executor>>,
    from: Mailbox,
    host: String,
    port: u16,
    security: SmtpSecurity,
    dkim: Option<Dkim>,
    deadline: Duration,
}

impl fmt::Debug for SmtpEmail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpEmail")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("dkim", &self.dkim)
            .finish_non_exhaustive()
    }
}

impl SmtpEmail {
    /// A builder for the server at `host`, sending as `from`.
    pub fn builder(host: impl Into<String>, from: EmailAddress) -> SmtpEmailBuilder {
        SmtpEmailBuilder {
            host: host.into(),
            from,
            from_name: None,
            port: None,
            security: SmtpSecurity::StartTls,
            tls_name: None,
            credentials: None,
            root_certificates: Vec::new(),
            timeout: Duration::from_secs(10),
            dkim: None,
            pool: PoolSettings {
                max_size: DEFAULT_POOL_SIZE,
                idle_timeout: DEFAULT_POOL_IDLE,
            },
        }
    }

    fn message(&self, email: &OutgoingEmail) -> Result<Message, DeliveryError> {
        let to = email.to.as_str().parse().map_err(|_| {
            DeliveryError::new(
                DeliveryErrorKind::InvalidDestination,
                "the SMTP library does not accept the recipient address",
            )
        })?;
        let mut message = Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(None, to))
            .subject(email.content.subject.clone())
            .multipart(MultiPart::alternative_plain_html(
                email.content.text.clone(),
                email.content.html.clone(),
            ))
            .map_err(|_| DeliveryError::permanent("the email could not be built"))?;
        if let Some(dkim) = &self.dkim {
            message.sign(&dkim.config);
        }
        Ok(message)
    }
}

#[async_trait]
impl EmailBackend for SmtpEmail {
    async fn submit(&self, email: &OutgoingEmail) -> Result<Receipt, DeliveryError> {
        let message = self.message(email)?;
        let transport = self.transport.get_or_init(|| self.builder.clone().build());
        // lettre's timeout covers connecting; a server that stops answering mid-session
        // is bounded here, so a request never hangs on it.
        let sent = tokio::time::timeout(self.deadline, transport.send(message)).await;
        let Ok(sent) = sent else {
            return Err(DeliveryError::new(
                DeliveryErrorKind::Timeout,
                "the SMTP server stopped answering",
            ));
        };
        match sent {
            Ok(response) => {
                // "250 OK: queued as 4Bf3..." and the like: the queue id, for tracing.
                let line: String = response
                    .message()
                    .next()
                    .unwrap_or("")
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(120)
                    .collect();
                Ok(Receipt::new(line))
            }
            Err(e) => Err(classify(&e)),
        }
    }
}

/// Maps lettre's error to the delivery error kinds. The message names the reply code
/// only: a server's reply text may quote the envelope.
fn classify(e: &lettre::transport::smtp::Error) -> DeliveryError {
    let code = e.status().map(u16::from);
    let (kind, what) = if e.is_timeout() {
        (
            DeliveryErrorKind::Timeout,
            "the SMTP server did not answer in time",
        )
    } else if e.is_transient() {
        (
            DeliveryErrorKind::Transient,
            "the SMTP server deferred the email",
        )
    } else if e.is_permanent() {
        match code {
            // Authentication required, failed or too weak; TLS required.
            Some(530 | 534 | 535 | 538) => (
                DeliveryErrorKind::Configuration,
                "the SMTP server refused the credentials",
            ),
            // Mailbox unavailable, not local, or its name not allowed.
            Some(550 | 551 | 553) => (
                DeliveryErrorKind::InvalidDestination,
                "the SMTP server refused the recipient",
            ),
            _ => (
                DeliveryErrorKind::Rejected,
                "the SMTP server rejected the email",
            ),
        }
    } else if e.is_tls() || tls_failure(e) {
        (
            DeliveryErrorKind::Configuration,
            "TLS with the SMTP server failed (certificate or name)",
        )
    } else if e.is_client() {
        // lettre's own refusals: no STARTTLS offered, no usable AUTH mechanism.
        (
            DeliveryErrorKind::Configuration,
            "the SMTP server does not offer what the settings require (STARTTLS or AUTH)",
        )
    } else if e.is_response() {
        (
            DeliveryErrorKind::Rejected,
            "the SMTP server's reply could not be read",
        )
    } else {
        (
            DeliveryErrorKind::Transient,
            "the SMTP server could not be reached",
        )
    };
    match code {
        Some(code) => DeliveryError::new(kind, format!("{what} (reply {code})")),
        None => DeliveryError::new(kind, what),
    }
}

/// Whether a network error is a failed TLS handshake: tokio-rustls reports a refused
/// certificate or name as an I/O error of kind `InvalidData`, which a plain network
/// failure (refused, reset, unreachable) never is.
fn tls_failure(e: &lettre::transport::smtp::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::InvalidData {
                return true;
            }
        }
        source = s.source();
    }
    false
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn from() -> EmailAddress {
        EmailAddress::parse("no-reply@example.com").unwrap()
    }

    #[test]
    fn plain_text_is_for_loopback_only_and_never_with_credentials() {
        for host in ["127.0.0.1", "::1", "[::1]", "localhost", "127.0.0.2"] {
            SmtpEmail::builder(host, from())
                .security(SmtpSecurity::PlaintextLoopback)
                .build()
                .unwrap();
        }
        let remote = SmtpEmail::builder("smtp.example.com", from())
            .security(SmtpSecurity::PlaintextLoopback)
            .build()
            .unwrap_err();
        assert_eq!(remote.kind(), DeliveryErrorKind::Configuration);
        let with_password = SmtpEmail::builder("127.0.0.1", from())
            .security(SmtpSecurity::PlaintextLoopback)
            .credentials("user", "secret-password")
            .build()
            .unwrap_err();
        assert_eq!(with_password.kind(), DeliveryErrorKind::Configuration);
        assert!(!with_password.to_string().contains("secret-password"));
    }

    #[test]
    fn tls_settings_are_checked_when_building_and_debug_hides_the_password() {
        let bad_pem = SmtpEmail::builder("smtp.example.com", from())
            .root_certificate_pem("not a certificate")
            .build()
            .unwrap_err();
        assert_eq!(bad_pem.kind(), DeliveryErrorKind::Configuration);
        let builder = SmtpEmail::builder("smtp.example.com", from())
            .security(SmtpSecurity::Tls)
            .credentials("user", "secret-password");
        assert!(!format!("{builder:?}").contains("secret-password"));
        let smtp = builder.build().unwrap();
        assert_eq!(smtp.port, 465);
        assert!(!format!("{smtp:?}").contains("secret-password"));
    }
}
