//! DKIM signatures (RFC 6376) on sent messages, through lettre's signer: receiving
//! servers check the `DKIM-Signature` header against the public key published at
//! `SELECTOR._domainkey.DOMAIN`, so code emails pass DMARC instead of landing in spam.

use std::fmt;

use lettre::message::dkim::{
    DkimCanonicalization, DkimCanonicalizationType, DkimConfig, DkimSigningAlgorithm,
    DkimSigningKey,
};
use lettre::message::header::HeaderName;
use mfa_core::{DeliveryError, DeliveryErrorKind, EmailAddress};

/// The headers signed: those a reader sees and trusts, and the ones that tie the
/// message to one send.
const SIGNED_HEADERS: [&str; 5] = ["From", "To", "Subject", "Date", "Message-ID"];

/// A DKIM signing key with its selector and domain, for
/// [`SmtpEmailBuilder::dkim`](crate::SmtpEmailBuilder::dkim). `Debug` shows the
/// selector and domain only.
pub struct Dkim {
    pub(crate) selector: String,
    pub(crate) domain: String,
    pub(crate) config: DkimConfig,
}

impl fmt::Debug for Dkim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dkim")
            .field("selector", &self.selector)
            .field("domain", &self.domain)
            .finish_non_exhaustive()
    }
}

fn config_error(message: &'static str) -> DeliveryError {
    DeliveryError::new(DeliveryErrorKind::Configuration, message)
}

/// A DNS label: 1 to 63 letters, digits and hyphens, not at either end.
fn is_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= 63
        && !label.starts_with('-')
        && !label.ends_with('-')
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

impl Dkim {
    /// An RSA key (RFC 8301 asks at least 1024 bits, 2048 is usual) in PKCS#1 PEM
    /// (`-----BEGIN RSA PRIVATE KEY-----`, as `openssl genrsa -traditional` writes
    /// it), for `selector` under `domain`. The error never quotes the key.
    pub fn rsa_pem(selector: &str, domain: &str, pem: &str) -> Result<Self, DeliveryError> {
        let key = DkimSigningKey::new(pem, DkimSigningAlgorithm::Rsa)
            .map_err(|_| config_error("the DKIM key is not an RSA private key in PKCS#1 PEM"))?;
        Self::new(selector, domain, key)
    }

    /// An Ed25519 key (RFC 8463): its 32-byte seed in base64, for `selector` under
    /// `domain`. The error never quotes the key.
    pub fn ed25519_base64(selector: &str, domain: &str, seed: &str) -> Result<Self, DeliveryError> {
        let key = DkimSigningKey::new(seed.trim(), DkimSigningAlgorithm::Ed25519)
            .map_err(|_| config_error("the DKIM key is not a base64 Ed25519 seed"))?;
        Self::new(selector, domain, key)
    }

    fn new(selector: &str, domain: &str, key: DkimSigningKey) -> Result<Self, DeliveryError> {
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        if selector.len() > 253 || !selector.split('.').all(is_label) {
            return Err(config_error("the DKIM selector is not a DNS name"));
        }
        if domain.len() > 253 || domain.split('.').count() < 2 || !domain.split('.').all(is_label) {
            return Err(config_error("the DKIM domain is not a DNS name"));
        }
        let headers = SIGNED_HEADERS
            .iter()
            .map(|h| HeaderName::new_from_ascii_str(h))
            .collect();
        // Relaxed both ways: relays that refold headers or trim trailing spaces
        // do not break the signature.
        let canonicalization = DkimCanonicalization {
            header: DkimCanonicalizationType::Relaxed,
            body: DkimCanonicalizationType::Relaxed,
        };
        Ok(Dkim {
            selector: selector.to_owned(),
            config: DkimConfig::new(
                selector.to_owned(),
                domain.clone(),
                key,
                headers,
                canonicalization,
            ),
            domain,
        })
    }

    /// Whether the signature aligns with `from` for DMARC: the sender's domain is
    /// the signing domain or below it (relaxed alignment, RFC 7489 3.1.1).
    pub(crate) fn aligns_with(&self, from: &EmailAddress) -> bool {
        let Some((_, from_domain)) = from.as_str().rsplit_once('@') else {
            return false;
        };
        let from_domain = from_domain.to_ascii_lowercase();
        from_domain == self.domain || from_domain.ends_with(&format!(".{}", self.domain))
    }

    /// The selector.
    pub fn selector(&self) -> &str {
        &self.selector
    }

    /// The signing domain (`d=`).
    pub fn domain(&self) -> &str {
        &self.domain
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    // A throw-away Ed25519 seed (32 bytes of 7s).
    const SEED: &str = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";

    #[test]
    fn keys_selectors_and_domains_are_checked_and_debug_hides_the_key() {
        let dkim = Dkim::ed25519_base64("mail2026", "Contoso.Example.", SEED).unwrap();
        assert_eq!(dkim.domain(), "contoso.example");
        assert_eq!(dkim.selector(), "mail2026");
        let shown = format!("{dkim:?}");
        assert!(!shown.contains(SEED) && !shown.contains("BwcH"), "{shown}");
        let addr = |a: &str| EmailAddress::parse(a).unwrap();
        assert!(dkim.aligns_with(&addr("no-reply@contoso.example")));
        assert!(dkim.aligns_with(&addr("no-reply@mail.contoso.example")));
        assert!(!dkim.aligns_with(&addr("no-reply@evilcontoso.example")));
        assert!(!dkim.aligns_with(&addr("no-reply@example.com")));

        for (selector, domain) in [("", "a.b"), ("a b", "a.b"), ("s", "nodot"), ("s", "-a.b")] {
            let e = Dkim::ed25519_base64(selector, domain, SEED).unwrap_err();
            assert_eq!(
                e.kind(),
                DeliveryErrorKind::Configuration,
                "{selector} {domain}"
            );
        }
        let e = Dkim::rsa_pem(
            "s",
            "a.b",
            "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n",
        )
        .unwrap_err();
        assert_eq!(e.kind(), DeliveryErrorKind::Configuration);
        assert!(!e.to_string().contains("AAAA"));
        assert!(Dkim::ed25519_base64("s", "a.b", "bm90IDMyIGJ5dGVz").is_err());
    }
}
