//! SIP over TLS (feature `sip-tls`): the client side of the connection to the PBX,
//! with rustls checking the PBX's certificate chain and name.

use std::fmt;
use std::sync::Arc;

use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

/// Why a TLS client cannot be set up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The server name is neither a DNS name nor an IP address.
    #[error("not a server name a certificate can name: {0:?}")]
    InvalidServerName(String),
    /// rustls refused the configuration.
    #[error("the TLS configuration is refused: {0}")]
    Config(String),
}

/// How calls reach the PBX over TLS: the roots its certificate must chain to and the
/// name it must carry. Cheap to clone.
///
/// ```
/// use mfa_voice::sip::{SipConfig, TlsClient, rustls::RootCertStore};
///
/// # fn main() -> Result<(), mfa_voice::sip::TlsError> {
/// let mut roots = RootCertStore::empty();
/// // roots.add(the PBX's CA certificate)?;
/// let tls = TlsClient::new(roots, "pbx.example.com")?;
/// let config = SipConfig::new("192.0.2.10:5061".parse().unwrap(), "pbx.example.com").tls(tls);
/// # drop(config);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct TlsClient {
    connector: TlsConnector,
    name: ServerName<'static>,
}

impl fmt::Debug for TlsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsClient")
            .field("server_name", &self.name.to_str())
            .finish_non_exhaustive()
    }
}

impl TlsClient {
    /// Trusts certificates that chain to `roots` and name `server_name` (a DNS name
    /// or an IP address), with rustls's safe defaults (TLS 1.2 and 1.3, ring).
    pub fn new(roots: RootCertStore, server_name: &str) -> Result<Self, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Self::from_config(Arc::new(config), server_name)
    }

    /// A rustls client configuration of your own (a client certificate for the PBX,
    /// other roots), for a server that must name `server_name`.
    pub fn from_config(config: Arc<ClientConfig>, server_name: &str) -> Result<Self, TlsError> {
        let name = ServerName::try_from(server_name.to_owned())
            .map_err(|_| TlsError::InvalidServerName(server_name.to_owned()))?;
        Ok(TlsClient {
            connector: TlsConnector::from(config),
            name,
        })
    }

    /// The handshake over `tcp`: fails unless the server proves the name.
    pub(super) async fn connect(&self, tcp: TcpStream) -> std::io::Result<TlsStream<TcpStream>> {
        self.connector.connect(self.name.clone(), tcp).await
    }
}

/// Whether `error` (from opening the connection) is rustls refusing the server's
/// certificate: its chain, name or validity. Trying again does not mend that; the
/// roots or server name configured, or the server, are wrong (or someone is in the
/// middle). The text names the reason only, never certificate contents.
pub(super) fn refused_certificate(error: &std::io::Error) -> Option<String> {
    match error.get_ref()?.downcast_ref::<rustls::Error>()? {
        rustls::Error::InvalidCertificate(reason) => Some(format!("{reason:?}")),
        _ => None,
    }
}
