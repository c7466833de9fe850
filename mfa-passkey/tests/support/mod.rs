//! A software authenticator for the tests, written here from the WebAuthn spec
//! (not taken from webauthn-rs, so it checks that crate from outside): an ES256 key
//! pair, "none" attestation, and the authenticator data, client data and
//! signatures a browser would hand back.

#![allow(dead_code)] // each test file uses part of it

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use p256::ecdsa::{Signature, SigningKey, signature::Signer as _};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

pub const RP_ID: &str = "contoso.com";
pub const ORIGIN: &str = "https://login.contoso.com";

/// One credential on a software authenticator.
#[derive(Clone)]
pub struct SoftPasskey {
    pub credential_id: Vec<u8>,
    key: SigningKey,
    /// The signature counter the next signature carries (0: none kept).
    pub counter: u32,
    /// Whether it says it verified the user (PIN, biometrics).
    pub user_verified: bool,
    /// Whether it may be backed up (a synced passkey); fixed for a credential.
    pub backup_eligible: bool,
    /// Whether it is backed up now.
    pub backed_up: bool,
}

fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

fn unb64(text: &str) -> Vec<u8> {
    B64.decode(text.trim_end_matches('=')).expect("base64url")
}

// CBOR, as little as an attestation object needs (RFC 8949 major types 0-5).
fn head(major: u8, len: usize, out: &mut Vec<u8>) {
    let m = major << 5;
    match len {
        0..=23 => out.push(m | len as u8),
        24..=255 => out.extend([m | 24, len as u8]),
        _ => {
            out.push(m | 25);
            out.extend((len as u16).to_be_bytes());
        }
    }
}
fn text(s: &str, out: &mut Vec<u8>) {
    head(3, s.len(), out);
    out.extend(s.as_bytes());
}
fn bytes(b: &[u8], out: &mut Vec<u8>) {
    head(2, b.len(), out);
    out.extend(b);
}
fn int(i: i64, out: &mut Vec<u8>) {
    if i >= 0 {
        head(0, i as usize, out);
    } else {
        head(1, (-1 - i) as usize, out);
    }
}

impl SoftPasskey {
    pub fn new(seed: u8) -> Self {
        let mut secret = [seed; 32];
        secret[0] = 1;
        SoftPasskey {
            credential_id: (0..32)
                .map(|i| seed.wrapping_mul(31).wrapping_add(i))
                .collect(),
            key: SigningKey::from_bytes(&secret.into()).expect("a key"),
            counter: 1,
            user_verified: true,
            backup_eligible: false,
            backed_up: false,
        }
    }

    fn flags(&self, attested: bool) -> u8 {
        let mut f = 0x01; // user present
        if self.user_verified {
            f |= 0x04;
        }
        if self.backup_eligible {
            f |= 0x08;
        }
        if self.backed_up {
            f |= 0x10;
        }
        if attested {
            f |= 0x40;
        }
        f
    }

    fn auth_data(&self, rp_id: &str, attested: bool) -> Vec<u8> {
        let mut data = Sha256::digest(rp_id.as_bytes()).to_vec();
        data.push(self.flags(attested));
        data.extend(self.counter.to_be_bytes());
        if attested {
            data.extend([0u8; 16]); // AAGUID: none
            data.extend((self.credential_id.len() as u16).to_be_bytes());
            data.extend(&self.credential_id);
            // The COSE key: EC2, ES256, P-256, x, y.
            let point = self.key.verifying_key().to_encoded_point(false);
            let mut cose = Vec::new();
            head(5, 5, &mut cose);
            int(1, &mut cose);
            int(2, &mut cose);
            int(3, &mut cose);
            int(-7, &mut cose);
            int(-1, &mut cose);
            int(1, &mut cose);
            int(-2, &mut cose);
            bytes(point.x().expect("x"), &mut cose);
            int(-3, &mut cose);
            bytes(point.y().expect("y"), &mut cose);
            data.extend(cose);
        }
        data
    }

    fn client_data(kind: &str, challenge: &str, origin: &str) -> Vec<u8> {
        json!({"type": kind, "challenge": challenge, "origin": origin, "crossOrigin": false})
            .to_string()
            .into_bytes()
    }

    /// The answer to `navigator.credentials.create(options)`, from `origin`.
    pub fn register(&self, options: &str, origin: &str) -> String {
        let options: Value = serde_json::from_str(options).expect("options JSON");
        let public_key = &options["publicKey"];
        let challenge = public_key["challenge"].as_str().expect("a challenge");
        let rp_id = public_key["rp"]["id"].as_str().expect("an rp id");
        let client = Self::client_data("webauthn.create", challenge, origin);
        let mut attestation = Vec::new();
        head(5, 3, &mut attestation);
        text("fmt", &mut attestation);
        text("none", &mut attestation);
        text("attStmt", &mut attestation);
        head(5, 0, &mut attestation);
        text("authData", &mut attestation);
        bytes(&self.auth_data(rp_id, true), &mut attestation);
        json!({
            "id": b64(&self.credential_id),
            "rawId": b64(&self.credential_id),
            "type": "public-key",
            "response": {
                "attestationObject": b64(&attestation),
                "clientDataJSON": b64(&client),
            },
            "extensions": {},
        })
        .to_string()
    }

    /// The answer to `navigator.credentials.get(options)`, from `origin`; the
    /// counter moves forward first, as an authenticator's does.
    pub fn sign_in(&mut self, options: &str, origin: &str) -> String {
        // Counter 0: an authenticator that keeps none (most synced passkeys).
        if self.counter != 0 {
            self.counter += 1;
        }
        let options: Value = serde_json::from_str(options).expect("options JSON");
        let public_key = &options["publicKey"];
        let challenge = public_key["challenge"].as_str().expect("a challenge");
        let rp_id = public_key["rpId"].as_str().expect("an rp id");
        let client = Self::client_data("webauthn.get", challenge, origin);
        let auth_data = self.auth_data(rp_id, false);
        let mut signed = auth_data.clone();
        signed.extend(Sha256::digest(&client));
        let signature: Signature = self.key.sign(&signed);
        json!({
            "id": b64(&self.credential_id),
            "rawId": b64(&self.credential_id),
            "type": "public-key",
            "response": {
                "authenticatorData": b64(&auth_data),
                "clientDataJSON": b64(&client),
                "signature": b64(signature.to_der().as_bytes()),
                "userHandle": null,
            },
            "extensions": {},
        })
        .to_string()
    }
}

/// The credential ids a sign-in's options allow.
pub fn allowed(options: &str) -> Vec<Vec<u8>> {
    let options: Value = serde_json::from_str(options).expect("options JSON");
    options["publicKey"]["allowCredentials"]
        .as_array()
        .expect("allowCredentials")
        .iter()
        .map(|c| unb64(c["id"].as_str().expect("an id")))
        .collect()
}
