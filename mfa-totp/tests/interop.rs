//! Interoperability with implementations written elsewhere: `oathtool` (codes),
//! `pyotp` (URI parsing and codes) and `zbarimg` (QR decoding).
//!
//! Service tests: run by `scripts/test.sh`, which installs the tools and sets
//! `MFA_OTP_PEERS` (plus `MFA_OATHTOOL`, `MFA_PYTHON`, `MFA_ZBARIMG`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use std::io::Write;
use std::process::{Command, Stdio};

use mfa_core::{Randomness, SeededRandomness, Timestamp};
use mfa_totp::{Algorithm, Hotp, KeyUri, OtpKind, Secret, Totp};

/// The peer tools' commands; fails (not skips) when the test script did not set them up.
fn tool(var: &str, default: &str) -> String {
    assert!(
        std::env::var_os("MFA_OTP_PEERS").is_some(),
        "MFA_OTP_PEERS is not set: run scripts/test.sh (it installs oathtool, pyotp and zbarimg)"
    );
    std::env::var(var).unwrap_or_else(|_| default.to_owned())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn random_u64(rng: &dyn Randomness) -> u64 {
    let mut b = [0u8; 8];
    rng.fill(&mut b);
    u64::from_le_bytes(b)
}

fn random_secret(rng: &dyn Randomness) -> Secret {
    // 10 to 64 bytes: short imported secrets, the 160-bit default and longer.
    let len = 10 + (random_u64(rng) % 55) as usize;
    let mut bytes = vec![0u8; len];
    rng.fill(&mut bytes);
    Secret::from_bytes(bytes).unwrap()
}

fn run(mut command: Command) -> String {
    let out = command.output().expect("peer tool runs");
    assert!(
        out.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
#[ignore = "needs oathtool: run scripts/test.sh"]
fn totp_codes_equal_oathtool_for_every_hash_and_length() {
    let oathtool = tool("MFA_OATHTOOL", "oathtool");
    let rng = SeededRandomness::new(4226);
    let mut compared = 0;
    for algorithm in Algorithm::ALL {
        for digits in [6u8, 7, 8] {
            for _ in 0..12 {
                let secret = random_secret(&rng);
                let period = [30u64, 60, 1, 45][(random_u64(&rng) % 4) as usize];
                let time = random_u64(&rng) % 4_000_000_000;
                let totp = Totp::new(algorithm, digits, period).unwrap();
                let mut cmd = Command::new(&oathtool);
                cmd.arg(format!("--totp={}", algorithm.as_str().to_lowercase()))
                    .arg(format!("--digits={digits}"))
                    .arg(format!("--time-step-size={period}s"))
                    .arg(format!("--now=@{time}"))
                    .arg("--window=4")
                    .arg(hex(secret.expose_bytes()));
                let theirs = run(cmd);
                let step = totp.step_at(Timestamp::from_unix_secs(time)).unwrap();
                let ours: Vec<String> = (0..5)
                    .map(|k| totp.generate_at_step(&secret, step + k).expose().to_owned())
                    .collect();
                let theirs: Vec<&str> = theirs.lines().collect();
                assert_eq!(
                    theirs, ours,
                    "{algorithm} {digits} digits, period {period}, time {time}"
                );
                compared += ours.len();
            }
        }
    }
    assert_eq!(compared, 3 * 3 * 12 * 5);
}

#[test]
#[ignore = "needs oathtool: run scripts/test.sh"]
fn hotp_codes_equal_oathtool() {
    let oathtool = tool("MFA_OATHTOOL", "oathtool");
    let rng = SeededRandomness::new(6238);
    for digits in [6u8, 7, 8] {
        for _ in 0..12 {
            let secret = random_secret(&rng);
            let counter = random_u64(&rng) % (1 << 40);
            let mut cmd = Command::new(&oathtool);
            cmd.arg("--hotp")
                .arg(format!("--digits={digits}"))
                .arg(format!("--counter={counter}"))
                .arg("--window=3")
                .arg(hex(secret.expose_bytes()));
            let theirs = run(cmd);
            let hotp = Hotp::new(Algorithm::Sha1, digits).unwrap();
            let ours: Vec<String> = (0..4)
                .map(|k| hotp.generate(&secret, counter + k).expose().to_owned())
                .collect();
            assert_eq!(
                theirs.lines().collect::<Vec<_>>(),
                ours,
                "counter {counter}"
            );
        }
    }
}

/// Runs a Python snippet with `input` on stdin and returns its stdout.
fn python(script: &str, input: &str) -> String {
    let python = tool("MFA_PYTHON", "python3");
    let mut child = Command::new(python)
        .arg("-c")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

const PYOTP_READ: &str = r#"
import sys, json, base64, pyotp
for line in sys.stdin:
    uri, at = line.rstrip("\n").split(" ")
    otp = pyotp.parse_uri(uri)
    out = {
        "secret": base64.b32encode(otp.byte_secret()).decode().rstrip("="),
        "issuer": otp.issuer,
        "name": otp.name,
        "algorithm": otp.digest().name,
        "digits": otp.digits,
    }
    if isinstance(otp, pyotp.TOTP):
        out["period"] = otp.interval
        out["code"] = otp.at(int(at))
    else:
        out["counter"] = otp.initial_count
        out["code"] = otp.generate_otp(int(at))
    print(json.dumps(out))
"#;

#[test]
#[ignore = "needs pyotp: run scripts/test.sh"]
fn uris_we_build_parse_in_pyotp_to_the_same_fields() {
    let rng = SeededRandomness::new(2104);
    let names = [
        ("ACME Co", "john.doe@example.com"),
        ("Contoso", "alice+mfa@contoso.com"),
        ("Big:Corp", "user:name"),
        ("Ærlig & Co", "Ødegård/ola?x=1#y"),
        ("100% Safe", "a b  c"),
    ];
    let mut uris = Vec::new();
    let mut input = String::new();
    for (i, (issuer, account)) in names.iter().cycle().take(30).enumerate() {
        let algorithm = Algorithm::ALL[i % 3];
        let digits = 6 + (i % 3) as u8;
        // pyotp refuses secrets under 112 bits; ours are generated at 128 or more.
        let bits = 128 + 8 * (random_u64(&rng) % 49) as usize;
        let secret = Secret::generate_bits(&rng, bits).unwrap();
        let uri = if i % 5 == 4 {
            KeyUri {
                kind: OtpKind::Hotp {
                    counter: random_u64(&rng) % 1_000_000,
                },
                issuer: Some((*issuer).to_owned()),
                account: (*account).to_owned(),
                secret,
                algorithm,
                digits,
                image: None,
            }
        } else {
            let period = [30, 60, 15][i % 3];
            Totp::new(algorithm, digits, period)
                .unwrap()
                .key_uri(secret, issuer, account)
        };
        let at = random_u64(&rng) % 3_000_000_000;
        input.push_str(&format!("{} {at}\n", uri.to_uri()));
        uris.push((uri, at));
    }
    let output = python(PYOTP_READ, &input);
    let lines: Vec<&str> = output.lines().collect();
    assert_eq!(lines.len(), uris.len());
    for ((uri, at), line) in uris.iter().zip(lines) {
        let expected_code = match uri.kind {
            OtpKind::Totp { period } => Totp::new(uri.algorithm, uri.digits, period)
                .unwrap()
                .generate(&uri.secret, Timestamp::from_unix_secs(*at))
                .unwrap(),
            OtpKind::Hotp { .. } => Hotp::new(uri.algorithm, uri.digits)
                .unwrap()
                .generate(&uri.secret, *at),
        };
        let extra = match uri.kind {
            OtpKind::Totp { period } => format!("\"period\": {period}"),
            OtpKind::Hotp { counter } => format!("\"counter\": {counter}"),
        };
        let expected = format!(
            "{{\"secret\": \"{}\", \"issuer\": {}, \"name\": {}, \"algorithm\": \"{}\", \"digits\": {}, {extra}, \"code\": \"{}\"}}",
            uri.secret.expose_base32().as_str(),
            json_string(uri.issuer.as_deref().unwrap_or_default()),
            json_string(&uri.account),
            uri.algorithm.as_str().to_lowercase(),
            uri.digits,
            expected_code.expose(),
        );
        assert_eq!(line, expected);
    }
}

/// A JSON string as Python's `json.dumps` writes it (ASCII only, \u escapes).
fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_ascii() && !c.is_ascii_control() => out.push(c),
            c => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out.push('"');
    out
}

#[cfg(feature = "qr")]
#[test]
#[ignore = "needs zbarimg: run scripts/test.sh"]
fn qr_png_decodes_with_zbarimg_to_the_same_uri() {
    let zbarimg = tool("MFA_ZBARIMG", "zbarimg");
    let dir = std::env::var("MFA_TEST_TMP")
        .unwrap_or_else(|_| std::env::temp_dir().display().to_string());
    let rng = SeededRandomness::new(6);
    for (i, (issuer, account)) in [
        ("Contoso", "alice@contoso.com"),
        ("ACME Co", "bob: the builder"),
    ]
    .iter()
    .enumerate()
    {
        let secret = Secret::generate(&rng);
        let uri = Totp::default()
            .key_uri(secret, issuer, account)
            .with_image("https://contoso.example/logo.png")
            .unwrap();
        let text = uri.to_uri();
        let png = uri.qr().unwrap().to_png(4).unwrap();
        let path = format!("{dir}/mfa-totp-qr-{}-{i}.png", std::process::id());
        std::fs::write(&path, png).unwrap();
        let mut cmd = Command::new(&zbarimg);
        cmd.arg("--raw").arg("-q").arg(&path);
        let decoded = run(cmd);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(decoded.trim_end_matches('\n'), text);
        assert_eq!(KeyUri::parse(decoded.trim_end()).unwrap(), uri);
    }
}
