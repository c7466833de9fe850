//! TOTP/HOTP speed: our verifier against `totp-rs` (`check`) and `libreauth`
//! (`is_valid`) on the same secret, SHA-1, 6 digits, 30 s, window ±1; the reject
//! path (every candidate computed) and the accept path; SHA-256/512; HOTP generation.
//!
//!     cargo bench --bench totp
//!
//! Every contender gets the code as text, so parsing is part of each measurement.

#![allow(missing_docs)] // criterion's macros generate undocumented functions
#![allow(clippy::expect_used, clippy::unwrap_used)] // a bench that cannot set up should stop loudly

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use mfa::totp::{Algorithm, Hotp, PreparedKey, Secret, Totp, TotpVerifier};
use mfa::{AppCredential, AppVerifier, OneTimeCode, Timestamp};

const SECRET: &[u8] = b"12345678901234567890";
const NOW: u64 = 1_700_000_000;

fn ours_verify(totp: &Totp, secret: &Secret, code: &str, now: Timestamp) -> bool {
    let code = OneTimeCode::parse(code).expect("digits");
    totp.verify(secret, &code, now, None)
        .expect("verify")
        .is_some()
}

fn ours_verify_prepared(totp: &Totp, key: &PreparedKey, code: &str, now: Timestamp) -> bool {
    let code = OneTimeCode::parse(code).expect("digits");
    totp.verify_prepared(key, &code, now, None)
        .expect("verify")
        .is_some()
}

fn ours_app(
    verifier: &dyn AppVerifier,
    credential: &AppCredential,
    code: &str,
    now: Timestamp,
) -> bool {
    let code = OneTimeCode::parse(code).expect("digits");
    verifier
        .verify(credential, &code, now, None)
        .expect("verify")
        .is_some()
}

fn totp_rs(algorithm: totp_rs::Algorithm, secret: &[u8]) -> totp_rs::Totp {
    totp_rs::Builder::new()
        .with_algorithm(algorithm)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(30)
        .with_secret(secret.to_vec())
        .build()
        .expect("totp-rs accepts the secret")
}

fn sha1_window(c: &mut Criterion) {
    let secret = Secret::from_bytes(SECRET.to_vec()).unwrap();
    let totp = Totp::default();
    let now = Timestamp::from_unix_secs(NOW);
    let key = PreparedKey::new(Algorithm::Sha1, SECRET);
    let credential = AppCredential {
        secret: secret.to_secret_bytes(),
        parameters: totp.parameters(),
    };
    let peer = totp_rs(totp_rs::Algorithm::SHA1, SECRET);
    let libre = libreauth::oath::TOTPBuilder::new()
        .key(SECRET)
        .timestamp(NOW as i64)
        .tolerance(1)
        .finalize()
        .expect("libreauth accepts the secret");

    let step = totp.step_at(now).unwrap();
    let accept = totp.generate_at_step(&secret, step).expose().to_owned();
    // A code valid at none of the three steps: the full window is computed.
    let reject = (0..1_000_000u32)
        .map(|v| format!("{v:06}"))
        .find(|c| (step - 1..=step + 1).all(|s| totp.generate_at_step(&secret, s).expose() != c))
        .unwrap();
    assert!(ours_verify(&totp, &secret, &accept, now));
    assert!(!ours_verify(&totp, &secret, &reject, now));
    assert_eq!(peer.check(&accept, NOW), Some(step));
    assert_eq!(peer.check(&reject, NOW), None);
    assert!(libre.is_valid(&accept));
    assert!(!libre.is_valid(&reject));

    for (path, code) in [("reject", &reject), ("accept", &accept)] {
        let mut group = c.benchmark_group(format!("totp_sha1_window1_{path}"));
        group.bench_function("mfa-totp", |b| {
            b.iter(|| ours_verify(&totp, &secret, black_box(code), black_box(now)))
        });
        group.bench_function("mfa-totp_key_cached", |b| {
            b.iter(|| ours_verify_prepared(&totp, &key, black_box(code), black_box(now)))
        });
        // The path `Mfa` takes: `TotpVerifier`, which keeps each credential's key.
        let verifier = TotpVerifier::new(totp);
        group.bench_function("mfa-totp_app_verifier", |b| {
            b.iter(|| ours_app(&verifier, &credential, black_box(code), black_box(now)))
        });
        // `Totp` itself as the verifier: keys the HMAC and parses the settings each time.
        group.bench_function("mfa-totp_app_verifier_uncached", |b| {
            b.iter(|| ours_app(&totp, &credential, black_box(code), black_box(now)))
        });
        group.bench_function("totp-rs", |b| {
            b.iter(|| peer.check(black_box(code), black_box(NOW)))
        });
        group.bench_function("libreauth", |b| b.iter(|| libre.is_valid(black_box(code))));
        group.finish();
    }
}

fn sha2_window(c: &mut Criterion) {
    let now = Timestamp::from_unix_secs(NOW);
    for (algorithm, peer_algorithm, len) in [
        (Algorithm::Sha256, totp_rs::Algorithm::SHA256, 32),
        (Algorithm::Sha512, totp_rs::Algorithm::SHA512, 64),
    ] {
        let bytes: Vec<u8> = SECRET.iter().cycle().take(len).copied().collect();
        let secret = Secret::from_bytes(bytes.clone()).unwrap();
        let totp = Totp::new(algorithm, 6, 30).unwrap();
        let peer = totp_rs(peer_algorithm, &bytes);
        let step = totp.step_at(now).unwrap();
        let reject = (0..1_000_000u32)
            .map(|v| format!("{v:06}"))
            .find(|c| {
                (step - 1..=step + 1).all(|s| totp.generate_at_step(&secret, s).expose() != c)
            })
            .unwrap();
        assert_eq!(peer.check(&reject, NOW), None);
        let name = algorithm.as_str().to_lowercase();
        let mut group = c.benchmark_group(format!("totp_{name}_window1_reject"));
        group.bench_function("mfa-totp", |b| {
            b.iter(|| ours_verify(&totp, &secret, black_box(&reject), black_box(now)))
        });
        group.bench_function("totp-rs", |b| {
            b.iter(|| peer.check(black_box(&reject), black_box(NOW)))
        });
        group.finish();
    }
}

fn hotp_generate(c: &mut Criterion) {
    let secret = Secret::from_bytes(SECRET.to_vec()).unwrap();
    let hotp = Hotp::default();
    let key = PreparedKey::new(Algorithm::Sha1, SECRET);
    let mut group = c.benchmark_group("hotp_sha1_generate");
    group.bench_function("mfa-totp", |b| {
        b.iter(|| hotp.generate(&secret, black_box(1234)))
    });
    group.bench_function("mfa-totp_key_cached", |b| {
        b.iter(|| hotp.generate_prepared(&key, black_box(1234)))
    });
    group.finish();
}

/// Where the time of one SHA-1 ±1 verification goes.
fn components(c: &mut Criterion) {
    let key = PreparedKey::new(Algorithm::Sha1, SECRET);
    let totp = Totp::default();
    let mut group = c.benchmark_group("totp_sha1_components");
    group.bench_function("parse_code", |b| {
        b.iter(|| OneTimeCode::parse(black_box("123456")).is_ok())
    });
    group.bench_function("prepare_key", |b| {
        b.iter(|| PreparedKey::new(Algorithm::Sha1, black_box(SECRET)))
    });
    group.bench_function("hmac_3_counters", |b| {
        let mut out = [0u32; 3];
        b.iter(|| {
            key.truncated_batch(black_box(&[1, 2, 3]), &mut out);
            out
        })
    });
    group.bench_function("read_parameters", |b| {
        b.iter(|| totp.with_parameters(black_box("SHA1:6:30:0")).is_ok())
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = sha1_window, sha2_window, hotp_generate, components
}
criterion_main!(benches);
