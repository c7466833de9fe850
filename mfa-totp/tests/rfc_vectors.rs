//! Known-answer tests from the RFCs, kept as data files named after their source.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use mfa_core::Timestamp;
use mfa_totp::{Algorithm, Hotp, PreparedKey, Secret, Totp};

/// One test per data file: `vectors!(test_name, "file", check)` runs `check` on every
/// non-comment line, split on whitespace.
macro_rules! vectors {
    ($name:ident, $file:literal, $check:expr) => {
        #[test]
        fn $name() {
            let text = include_str!(concat!("../vectors/", $file));
            let mut rows = 0;
            for line in text
                .lines()
                .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            {
                let fields: Vec<&str> = line.split_whitespace().collect();
                ($check)(&fields);
                rows += 1;
            }
            assert!(rows > 0, "{} has no vectors", $file);
        }
    };
}

fn seed(algorithm: Algorithm) -> Secret {
    let ascii = "1234567890".repeat(7);
    let len = match algorithm {
        Algorithm::Sha1 => 20,
        Algorithm::Sha256 => 32,
        Algorithm::Sha512 => 64,
    };
    Secret::from_bytes(ascii.as_bytes()[..len].to_vec()).unwrap()
}

vectors!(
    hotp_rfc4226_appendix_d,
    "rfc4226_appendix_d.txt",
    |f: &[&str]| {
        let counter: u64 = f[0].parse().unwrap();
        let truncated: u32 = f[3].parse().unwrap();
        assert_eq!(u32::from_str_radix(f[2], 16).unwrap(), truncated);
        let secret = seed(Algorithm::Sha1);
        let key = PreparedKey::new(Algorithm::Sha1, secret.expose_bytes());
        assert_eq!(key.truncated(counter), truncated, "counter {counter}");
        let hotp = Hotp::default();
        let code = hotp.generate(&secret, counter);
        assert_eq!(code.expose(), f[4], "counter {counter}");
        assert_eq!(
            hotp.verify(&secret, &code, counter).unwrap().unwrap().step,
            counter
        );
        // The same value at 7 to 10 digits.
        for digits in 7..=10u8 {
            let long = Hotp::new(Algorithm::Sha1, digits)
                .unwrap()
                .generate(&secret, counter);
            let expected = u64::from(truncated) % 10u64.pow(u32::from(digits));
            assert_eq!(
                long.expose(),
                format!("{expected:0width$}", width = usize::from(digits))
            );
        }
    }
);

vectors!(
    totp_rfc6238_appendix_b,
    "rfc6238_appendix_b.txt",
    |f: &[&str]| {
        let time: u64 = f[0].parse().unwrap();
        let step = u64::from_str_radix(f[1], 16).unwrap();
        let algorithm: Algorithm = f[3].parse().unwrap();
        let totp = Totp::new(algorithm, 8, 30).unwrap();
        let secret = seed(algorithm);
        let now = Timestamp::from_unix_secs(time);
        assert_eq!(totp.step_at(now).unwrap(), step);
        let code = totp.generate(&secret, now).unwrap();
        assert_eq!(code.expose(), f[2], "{algorithm} at {time}");
        let m = totp.verify(&secret, &code, now, None).unwrap().unwrap();
        assert_eq!((m.step, m.drift), (step, 0));
        // 6 and 7 digits are the same value, shorter.
        for digits in [6u8, 7] {
            let short = Totp::new(algorithm, digits, 30)
                .unwrap()
                .generate(&secret, now)
                .unwrap();
            assert_eq!(short.expose(), &f[2][8 - usize::from(digits)..]);
        }
    }
);
