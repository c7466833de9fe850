//! What the SIP tests share: SIPp as the office phone, free loopback ports, a SIP
//! header reader, and the call request the backend is handed.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::UdpSocket;
use std::time::Duration;

use mfa_core::{
    ChallengeId, Channel, Content, DeliveryRequest, Destination, Extension, PhoneNumber, Purpose,
    UserId,
};

mod sipp;
#[allow(unused_imports)] // not every SIP test plays against SIPp
pub use sipp::Sipp;

/// A loopback UDP port free a moment ago (SIPp and baresip bind it themselves).
pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The value of a SIP message's header `name` (any case).
pub fn header<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    message.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The office phone, +47 22 12 34 56.
pub fn office() -> PhoneNumber {
    PhoneNumber::parse("+47 22 12 34 56").unwrap()
}

/// A sign-in call to `user`'s office phone (at `extension`, if any), confirmed by `#`,
/// for the challenge `challenge`.
pub fn office_call(challenge: &str, user: UserId, extension: Option<&str>) -> DeliveryRequest {
    DeliveryRequest {
        challenge_id: ChallengeId::parse(challenge).unwrap(),
        user,
        channel: Channel::Voice,
        destination: Destination {
            number: office(),
            extension: extension.map(|e| Extension::parse(e).unwrap()),
        },
        content: Content::ConfirmByKey,
        purpose: Purpose::SignIn,
        expires_in: Duration::from_secs(300),
        locale: "en".into(),
        app_name: "Contoso".into(),
        cost_notice: None,
        meta: None,
    }
}

/// A certificate for 127.0.0.1 signed by a certificate authority made for one test,
/// and the roots that trust that authority.
#[cfg(feature = "sip-tls")]
pub struct LoopbackCertificate {
    /// The certificate.
    pub cert: rcgen::Certificate,
    /// Its private key.
    pub key: rcgen::KeyPair,
    /// Roots holding only the test's authority.
    pub roots: mfa_voice::sip::rustls::RootCertStore,
}

/// [`LoopbackCertificate`] from an authority named `ca_name`: a name of its own, so
/// another test's authority is another issuer.
#[cfg(feature = "sip-tls")]
pub fn loopback_certificate(ca_name: &str) -> LoopbackCertificate {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, ca_name);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let mut roots = mfa_voice::sip::rustls::RootCertStore::empty();
    roots.add(ca_cert.der().clone()).unwrap();
    LoopbackCertificate { cert, key, roots }
}
