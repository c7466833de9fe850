//! Verifying a code allocates nothing: counted with an instrumented global allocator,
//! in a test binary of its own (no test harness, so no other thread allocates).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use std::alloc::System;

use mfa_core::{AppCredential, AppVerifier, OneTimeCode, Timestamp};
use mfa_totp::{Algorithm, Hotp, PreparedKey, Secret, Totp};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn main() {
    let now = Timestamp::from_unix_secs(1_700_000_000);
    let mut checked = 0;
    for algorithm in Algorithm::ALL {
        let secret = Secret::from_bytes(vec![7; 70]).unwrap(); // longer than a SHA-1 block
        let totp = Totp::new(algorithm, 8, 30)
            .unwrap()
            .with_window(3, 2)
            .unwrap();
        let credential = AppCredential {
            secret: secret.to_secret_bytes(),
            parameters: totp.parameters(),
        };
        let good = totp.generate(&secret, now).unwrap();
        let bad = OneTimeCode::parse("00000000").unwrap();
        let key = PreparedKey::new(algorithm, secret.expose_bytes());
        let hotp = Hotp::new(algorithm, 8).unwrap();
        let hotp_code = hotp.generate(&secret, 5);

        let region = Region::new(GLOBAL);
        for code in [&good, &bad] {
            let a = totp.verify(&secret, code, now, None).unwrap();
            let b = totp.verify_prepared(&key, code, now, Some(1)).unwrap();
            let c = AppVerifier::verify(&totp, &credential, code, now, None).unwrap();
            let d = hotp.verify(&secret, &hotp_code, 0).unwrap();
            std::hint::black_box((a, b, c, d));
            checked += 4;
        }
        let change = region.change();
        assert_eq!(change.allocations, 0, "{algorithm}: {change:?}");
        assert_eq!(change.reallocations, 0, "{algorithm}: {change:?}");
    }
    println!("no_allocation: {checked} verifications, 0 allocations");
    println!("1 passed, 0 failed");
}
