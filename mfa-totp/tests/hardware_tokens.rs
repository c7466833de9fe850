//! OATH hardware tokens through `Mfa`: imported from a seed file, assigned by an
//! administrator, confirmed by the token's first code, then signing in; HOTP tokens
//! with look-ahead and two-code resynchronisation. The service test checks the
//! codes against `oathtool`, an implementation written elsewhere.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use std::process::Command;
use std::time::Duration;

use mfa_core::event::Event;
use mfa_core::{
    ChallengeStatus, Clock, EnrollmentState, Error, InputError, ManualClock, MemoryEvents,
    MemoryStore, Method, MethodKind, MethodStatus, Mfa, Policy, PolicyError, Status, Timestamp,
    UserId, Verification,
};
use mfa_totp::{
    Hotp, OathTokens, Secret, SeedProblem, TokenKind, TokenSeed, Totp, parse_seed_file,
};

const START: u64 = 1_750_000_000;
const SECRET_HEX: &str = "3132333435363738393031323334353637383930";

fn setup() -> (Mfa, ManualClock, MemoryEvents) {
    let clock = ManualClock::new(Timestamp::from_unix_secs(START));
    let events = MemoryEvents::default();
    let mfa = Mfa::builder()
        .app(Totp::default())
        .hardware_tokens(OathTokens::default())
        .store(MemoryStore::new())
        .clock(clock.clone())
        .events(events.clone())
        .build()
        .unwrap();
    (mfa, clock, events)
}

fn user() -> UserId {
    UserId::new("bob@contoso.com").unwrap()
}

fn seeds() -> Vec<TokenSeed> {
    let text = format!(
        "serial,secret,type,digits,period,algorithm\n\
         OATH-T1,{SECRET_HEX},totp,6,30\n\
         OATH-H1,{SECRET_HEX}00112233,hotp,6,0\n\
         OATH-BAD,nothex\n"
    );
    let file = parse_seed_file(text.as_bytes()).unwrap();
    assert_eq!(file.errors.len(), 1);
    assert_eq!(file.errors[0].line, 4);
    assert_eq!(file.errors[0].problem, SeedProblem::SecretNotHex);
    file.tokens
}

fn totp_code(seed: &TokenSeed, now: Timestamp) -> String {
    let TokenKind::Totp { period } = seed.kind else {
        panic!("a TOTP seed")
    };
    let totp = Totp::new(seed.algorithm, seed.digits, period).unwrap();
    totp.generate(&seed.secret, now)
        .unwrap()
        .expose()
        .to_owned()
}

fn hotp_code(seed: &TokenSeed, counter: u64) -> String {
    Hotp::new(seed.algorithm, seed.digits)
        .unwrap()
        .generate(&seed.secret, counter)
        .expose()
        .to_owned()
}

#[tokio::test]
async fn a_totp_token_is_assigned_confirmed_by_its_first_code_and_signs_in() {
    let (mfa, clock, _) = setup();
    let totp = seeds().remove(0);
    let pending = mfa
        .assign_hardware_token(
            &user(),
            totp.serial.clone(),
            totp.credential(),
            Some("desk token"),
        )
        .await
        .unwrap();
    assert!(
        pending.app.is_none(),
        "nothing to show: the user holds the token"
    );
    let methods = mfa.methods(&user()).await.unwrap();
    assert_eq!(methods[0].status, MethodStatus::Pending);
    assert_eq!(methods[0].method.kind(), MethodKind::HardwareToken);
    assert_eq!(methods[0].method.to_string(), "hardware token OATH-T1");
    assert_eq!(
        mfa.status(&user()).await.unwrap(),
        Status::EnrollmentRequired
    );

    // The user gets to it days later: the confirmation waits (7 days by default).
    clock.advance(Duration::from_secs(3 * 24 * 3600));
    let challenge = mfa
        .enrollment_challenge(&user(), &pending.method_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(challenge, pending.challenge_id);
    let wrong = if totp_code(&totp, clock.now()) == "000000" {
        "111111"
    } else {
        "000000"
    };
    assert!(matches!(
        mfa.verify(&user(), &challenge, wrong).await.unwrap(),
        Verification::Rejected { .. }
    ));
    let first = totp_code(&totp, clock.now());
    assert!(
        mfa.verify(&user(), &challenge, &first)
            .await
            .unwrap()
            .is_approved()
    );
    let done = mfa.complete(&user(), &challenge).await.unwrap();
    assert_eq!(done.method.status, MethodStatus::Active);
    assert!(done.method.is_default, "the first method is the default");
    assert_eq!(done.method.name.as_ref().unwrap().as_str(), "desk token");

    // Sign-in: the same code again is refused, the next step's code signs in.
    let sign_in = mfa.challenge(&user()).await.unwrap();
    assert!(matches!(
        mfa.verify(&user(), &sign_in.challenge_id, &first)
            .await
            .unwrap(),
        Verification::Rejected { .. }
    ));
    clock.advance(Duration::from_secs(30));
    let next = totp_code(&totp, clock.now());
    let verdict = mfa
        .verify(&user(), &sign_in.challenge_id, &next)
        .await
        .unwrap();
    assert!(verdict.proof().is_some(), "{verdict:?}");

    // Assigned once per user.
    assert!(matches!(
        mfa.assign_hardware_token(&user(), totp.serial.clone(), totp.credential(), None)
            .await,
        Err(Error::Policy(PolicyError::AlreadyEnrolled))
    ));
}

#[tokio::test]
async fn an_unconfirmed_token_expires_and_users_cannot_enroll_tokens_themselves() {
    let (mfa, clock, _) = setup();
    let totp = seeds().remove(0);
    let pending = mfa
        .assign_hardware_token(&user(), totp.serial.clone(), totp.credential(), None)
        .await
        .unwrap();
    clock.advance(Policy::default().hardware_token_confirmation);
    assert_eq!(
        mfa.enrollment_state(&user(), &pending.challenge_id)
            .await
            .unwrap(),
        EnrollmentState::Expired
    );
    let code = totp_code(&totp, clock.now());
    assert_eq!(
        mfa.verify(&user(), &pending.challenge_id, &code)
            .await
            .unwrap(),
        Verification::Expired
    );
    assert!(
        mfa.enrollment_challenge(&user(), &pending.method_id)
            .await
            .unwrap()
            .is_none()
    );

    // The user cannot name a serial and enroll it: only an imported seed carries the key.
    let own = mfa
        .begin_enrollment(
            &user(),
            Method::HardwareToken {
                serial: totp.serial.clone(),
            },
        )
        .await;
    assert!(
        matches!(own, Err(Error::Input(InputError::InvalidSetting(_)))),
        "{own:?}"
    );

    // Without a token verifier, nothing is assigned.
    let bare = Mfa::builder().build().unwrap();
    assert!(matches!(
        bare.assign_hardware_token(&user(), totp.serial.clone(), totp.credential(), None)
            .await,
        Err(Error::NotConfigured(mfa_core::Missing::TokenVerifier))
    ));
}

/// Enrolls an app first, so the token is a second method, assigned without a proof.
async fn enrolled_with_app(mfa: &Mfa, clock: &ManualClock) {
    let pending = mfa
        .begin_enrollment(&user(), Method::AuthenticatorApp)
        .await
        .unwrap();
    let secret = mfa_totp::KeyUri::parse(&pending.app.unwrap().uri)
        .unwrap()
        .secret;
    let code = Totp::default().generate(&secret, clock.now()).unwrap();
    mfa.verify(&user(), &pending.challenge_id, code.expose())
        .await
        .unwrap();
    mfa.complete(&user(), &pending.challenge_id).await.unwrap();
}

#[tokio::test]
async fn an_hotp_token_looks_ahead_and_resynchronises_from_two_codes() {
    let (mfa, clock, events) = setup();
    enrolled_with_app(&mfa, &clock).await;
    let hotp = seeds().remove(1);
    assert_eq!(hotp.kind, TokenKind::Hotp { counter: 0 });
    let pending = mfa
        .assign_hardware_token(&user(), hotp.serial.clone(), hotp.credential(), None)
        .await
        .unwrap();
    assert!(
        mfa.verify(&user(), &pending.challenge_id, &hotp_code(&hotp, 0))
            .await
            .unwrap()
            .is_approved()
    );
    let token = mfa
        .complete(&user(), &pending.challenge_id)
        .await
        .unwrap()
        .method;
    assert!(!token.is_default, "the app stays the default");

    // Pressed three times away from a sign-in: counter 4 is within the look-ahead.
    let sign_in = mfa.challenge_with(&user(), &token.id).await.unwrap();
    let v = mfa
        .verify(&user(), &sign_in.challenge_id, &hotp_code(&hotp, 4))
        .await
        .unwrap();
    assert!(v.proof().is_some(), "{v:?}");
    // Counter 2 comes before the last accepted one: refused.
    let again = mfa.challenge_with(&user(), &token.id).await.unwrap();
    assert!(matches!(
        mfa.verify(&user(), &again.challenge_id, &hotp_code(&hotp, 2))
            .await
            .unwrap(),
        Verification::Rejected { .. }
    ));

    // Pressed 60 times: past the look-ahead of 10, the code is refused...
    assert!(matches!(
        mfa.verify(&user(), &again.challenge_id, &hotp_code(&hotp, 65))
            .await
            .unwrap(),
        Verification::Rejected { .. }
    ));
    // ...and two consecutive codes move the counter. A pair that is not consecutive
    // does not, and counts as a failure.
    assert!(
        !mfa.resync_hardware_token(
            &user(),
            &token.id,
            &hotp_code(&hotp, 66),
            &hotp_code(&hotp, 68)
        )
        .await
        .unwrap()
    );
    assert!(events.events().iter().any(|e| matches!(
        e,
        Event::Refused {
            reason: mfa_core::Refusal::WrongResyncCodes,
            ..
        }
    )));
    assert!(
        mfa.resync_hardware_token(
            &user(),
            &token.id,
            &hotp_code(&hotp, 66),
            &hotp_code(&hotp, 67)
        )
        .await
        .unwrap()
    );
    assert!(
        events
            .events()
            .iter()
            .any(|e| matches!(e, Event::TokenResynchronised { drift: 62, .. }))
    );
    // The codes used to resynchronise are spent; the next one signs in.
    let after = mfa.challenge_with(&user(), &token.id).await.unwrap();
    assert!(matches!(
        mfa.verify(&user(), &after.challenge_id, &hotp_code(&hotp, 67))
            .await
            .unwrap(),
        Verification::Rejected { .. }
    ));
    let v = mfa
        .verify(&user(), &after.challenge_id, &hotp_code(&hotp, 68))
        .await
        .unwrap();
    assert!(v.proof().is_some(), "{v:?}");
    assert_eq!(
        mfa.challenge_status(&user(), &after.challenge_id)
            .await
            .unwrap(),
        ChallengeStatus::Completed
    );
    // Malformed codes are input errors.
    assert!(matches!(
        mfa.resync_hardware_token(&user(), &token.id, "12ab", "123456")
            .await,
        Err(Error::Input(_))
    ));
}

// ---- oathtool as an independent peer ----

fn oathtool() -> String {
    assert!(
        std::env::var_os("MFA_OTP_PEERS").is_some(),
        "MFA_OTP_PEERS is not set: run scripts/test.sh (it installs oathtool)"
    );
    std::env::var("MFA_OATHTOOL").unwrap_or_else(|_| "oathtool".to_owned())
}

fn run(args: &[String]) -> String {
    let out = Command::new(oathtool())
        .args(args)
        .output()
        .expect("oathtool runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
#[ignore = "needs oathtool: run scripts/test.sh"]
async fn seed_file_tokens_accept_the_codes_oathtool_computes() {
    let rng = mfa_core::OsRandomness;
    let mut lines = String::from("# made by the test: random seeds\n");
    let mut secrets = Vec::new();
    for i in 0..6 {
        let mut secret = vec![0u8; 20 + i * 4];
        mfa_core::Randomness::fill(&rng, &mut secret);
        let (kind, algo, digits, number) = match i % 3 {
            0 => ("totp", "sha1", 6, 30),
            1 => ("totp", "sha256", 8, 60),
            // oathtool computes HOTP with SHA-1 only, as RFC 4226 defines it.
            _ => ("hotp", "sha1", 7, 100 + i as u64),
        };
        lines.push_str(&format!(
            "PEER{i},{},{kind},{digits},{number},{algo}\n",
            hex(&secret)
        ));
        secrets.push(secret);
    }
    let file = parse_seed_file(lines.as_bytes()).unwrap();
    assert!(file.errors.is_empty(), "{:?}", file.errors);
    assert_eq!(file.tokens.len(), 6);

    for (seed, secret) in file.tokens.iter().zip(&secrets) {
        assert_eq!(seed.secret, Secret::from_bytes(secret.clone()).unwrap());
        let (mfa, clock, _) = setup();
        let user = UserId::new(format!(
            "{}@contoso.com",
            seed.serial.as_str().to_lowercase()
        ))
        .unwrap();
        let pending = mfa
            .assign_hardware_token(&user, seed.serial.clone(), seed.credential(), None)
            .await
            .unwrap();
        let algo = format!("{}", seed.algorithm).to_lowercase();
        // oathtool's code for the step or counter the token is at now.
        let peer = |offset: u64| -> String {
            match seed.kind {
                TokenKind::Totp { period } => run(&[
                    format!("--totp={algo}"),
                    format!("--time-step-size={period}s"),
                    format!("--now=@{}", clock.now().unix_secs() + offset * period),
                    "-d".into(),
                    seed.digits.to_string(),
                    hex(secret),
                ]),
                TokenKind::Hotp { counter } => run(&[
                    "--hotp".into(),
                    format!("--counter={}", counter + offset),
                    "-d".into(),
                    seed.digits.to_string(),
                    hex(secret),
                ]),
            }
        };
        let first = peer(0);
        assert!(
            mfa.verify(&user, &pending.challenge_id, &first)
                .await
                .unwrap()
                .is_approved(),
            "{}: oathtool's first code",
            seed.serial
        );
        mfa.complete(&user, &pending.challenge_id).await.unwrap();
        let (code, step) = match seed.kind {
            TokenKind::Totp { period } => {
                clock.advance(Duration::from_secs(period));
                (peer(0), 0)
            }
            // Pressed twice away from a sign-in: within the look-ahead.
            TokenKind::Hotp { .. } => (peer(3), 3),
        };
        let sign_in = mfa.challenge(&user).await.unwrap();
        let v = mfa
            .verify(&user, &sign_in.challenge_id, &code)
            .await
            .unwrap();
        assert!(v.proof().is_some(), "{} step {step}: {v:?}", seed.serial);
        if let TokenKind::Hotp { .. } = seed.kind {
            let method = mfa.methods(&user).await.unwrap().remove(0).id;
            assert!(
                mfa.resync_hardware_token(&user, &method, &peer(200), &peer(201))
                    .await
                    .unwrap(),
                "{}: oathtool's consecutive codes resynchronise",
                seed.serial
            );
            let sign_in = mfa.challenge(&user).await.unwrap();
            let v = mfa
                .verify(&user, &sign_in.challenge_id, &peer(202))
                .await
                .unwrap();
            assert!(v.proof().is_some(), "{}: after resync: {v:?}", seed.serial);
        }
    }
}
