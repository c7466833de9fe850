//! Shared pieces of the store tests: keys, an app verifier whose codes name their
//! step, and journeys through the driver.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // each test binary uses a part

use std::sync::Arc;
use std::time::Duration;

use mfa_core::{
    AppCredential, AppMatch, AppProvisioning, AppVerifier, ChallengeId, Clock, CodeKey, InputError,
    ManualClock, MemoryDelivery, Method, Mfa, OneTimeCode, PhoneMode, PhoneNumber, Policy,
    Randomness, SecretBytes, Store, Timestamp, UserId, Verification,
};
use mfa_store::{Keyring, SecretKey};

/// The application key every test process uses.
pub fn keys() -> Keyring {
    Keyring::new(SecretKey::new("test-1", [42; 32]).unwrap())
}

/// The code key every test process uses, so codes hashed in one process check in another.
pub fn code_key() -> CodeKey {
    CodeKey::from_bytes([24; 32])
}

/// The time every process of a test runs at: the parent's wall clock when it started,
/// handed to child processes in `MFA_TEST_NOW` (so rate-limit windows on a shared
/// server close between runs).
pub fn now() -> Timestamp {
    match std::env::var("MFA_TEST_NOW") {
        Ok(v) => Timestamp::from_unix_millis(v.parse().unwrap()),
        Err(_) => mfa_core::SystemClock.now(),
    }
}

/// An authenticator app whose codes are their own step numbers ("000123" is step 123):
/// enough to test the store's "accept each step once" across processes.
#[derive(Debug)]
pub struct StepApp;

impl AppVerifier for StepApp {
    fn provision(
        &self,
        _issuer: &str,
        _account: &str,
        rng: &dyn Randomness,
    ) -> Result<AppProvisioning, InputError> {
        let mut secret = vec![0u8; 20];
        rng.fill(&mut secret);
        let manual = secret.iter().map(|b| format!("{b:02X}")).collect();
        Ok(AppProvisioning {
            credential: AppCredential {
                secret: SecretBytes::new(secret),
                parameters: "step-app".to_owned(),
            },
            uri: "otpauth://totp/test".to_owned(),
            manual_entry_key: manual,
        })
    }

    fn verify(
        &self,
        _credential: &AppCredential,
        code: &OneTimeCode,
        _now: Timestamp,
        after_step: Option<u64>,
    ) -> Result<Option<AppMatch>, InputError> {
        let step: u64 = code
            .expose()
            .parse()
            .map_err(|_| InputError::CodeNotDigits)?;
        Ok((after_step.is_none_or(|a| step > a)).then_some(AppMatch { step, drift: 0 }))
    }
}

/// A driver over `store` at the fixed time, with the shared keys.
pub fn mfa(store: Arc<dyn Store>, phone: &MemoryDelivery, digits: usize) -> Mfa {
    let mut policy = Policy::default();
    policy.code_digits = digits;
    // Send limits are the store's `hit`, checked by the conformance suite; here they
    // would only couple tests that share a server through the country's window.
    policy.send_limits.per_destination.max = u32::MAX;
    policy.send_limits.per_user.max = u32::MAX;
    policy.send_limits.per_country.max = u32::MAX;
    Mfa::builder()
        .shared_store(store)
        .sms(phone.clone())
        .app(StepApp)
        .clock(ManualClock::new(now()))
        .code_key(code_key())
        .policy(policy)
        .build()
        .unwrap()
}

/// A fresh user name, unique across runs against a shared server.
pub fn fresh_user(tag: &str) -> UserId {
    let mut b = [0u8; 6];
    mfa_core::OsRandomness.fill(&mut b);
    let suffix: String = b.iter().map(|x| format!("{x:02x}")).collect();
    UserId::new(format!("{tag}-{suffix}@example.no")).unwrap()
}

/// The user's Norwegian mobile number, one per user so send limits on a shared server
/// do not carry over between tests.
pub fn number(user: &UserId) -> PhoneNumber {
    let h = user
        .as_str()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
    PhoneNumber::from_parts(47, &format!("4{:07}", h % 10_000_000)).unwrap()
}

/// Enrolls an SMS method for `user` and returns an approved sign-in as proof.
pub async fn enroll_sms(mfa: &Mfa, phone: &MemoryDelivery, user: &UserId) -> ChallengeId {
    let method = Method::AuthenticationPhone {
        number: number(user),
        mode: PhoneMode::Sms,
    };
    let pending = mfa.begin_enrollment(user, method).await.unwrap();
    let code = phone.last_code_to(&number(user)).unwrap();
    assert_eq!(
        mfa.verify(&pending.challenge_id, code.expose())
            .await
            .unwrap(),
        Verification::Approved
    );
    mfa.complete(&pending.challenge_id).await.unwrap();
    sign_in_sms(mfa, phone, user).await
}

/// A full SMS sign-in; returns the approved challenge.
pub async fn sign_in_sms(mfa: &Mfa, phone: &MemoryDelivery, user: &UserId) -> ChallengeId {
    let pending = mfa.challenge(user).await.unwrap();
    let code = phone.last_code_to(&number(user)).unwrap();
    assert_eq!(
        mfa.verify(&pending.challenge_id, code.expose())
            .await
            .unwrap(),
        Verification::Approved
    );
    pending.challenge_id
}

/// Adds an authenticator app (verified with step `step`); returns its secret.
pub async fn add_app(mfa: &Mfa, user: &UserId, proof: &ChallengeId, step: u64) -> SecretBytes {
    let pending = mfa
        .add_method(user, Method::AuthenticatorApp, proof)
        .await
        .unwrap();
    let secret = pending.app.as_ref().unwrap().credential.secret.clone();
    assert_eq!(
        mfa.verify(&pending.challenge_id, &format!("{step:06}"))
            .await
            .unwrap(),
        Verification::Approved
    );
    mfa.complete(&pending.challenge_id).await.unwrap();
    secret
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// How long a test waits for a restarted server, at most.
pub const RESTART_PATIENCE: Duration = Duration::from_secs(20);
