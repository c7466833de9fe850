//! OATH hardware tokens through `Mfa`: imported from a seed file, assigned by an
//! administrator, confirmed by the token's first code, then signing in; HOTP tokens
//! with look-ahead and two-code resynchronisation. The service test checks the
//! codes against `oathtool`, an implementation written elsewhere.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use std::process::Command;
use std::time::Duration;

use mfa_core::event::Event;
use mfa_core::{
    ChallengeStatus, Clock, EnrollmentState, Error, ImportOutcome, InputError, ManualClock,
    MemoryEvents, MemoryStore, Method, MethodKind, MethodStatus, Mfa, OathKind, Policy,
    PolicyError, Status, Timestamp, UserId, Verification,
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

/// Imports the seed into the inventory (once: a second import leaves it as it was)
/// and gives its serial.
async fn imported(mfa: &Mfa, seed: &TokenSeed) -> mfa_core::TokenSerial {
    mfa.import_hardware_tokens(&[seed.import()]).await.unwrap();
    seed.serial.clone()
}

/// Assigns the token `serial` to `user()`, confirms it with `code` and completes the
/// method: the user now holds the token. Returns the method.
async fn holding(mfa: &Mfa, serial: &mfa_core::TokenSerial, code: &str) -> mfa_core::MethodRecord {
    let pending = mfa
        .assign_hardware_token(&user(), serial, None)
        .await
        .unwrap();
    mfa.verify(&user(), &pending.challenge_id, code)
        .await
        .unwrap();
    mfa.complete(&user(), &pending.challenge_id)
        .await
        .unwrap()
        .method
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
        .assign_hardware_token(&user(), &imported(&mfa, &totp).await, Some("desk token"))
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
        mfa.assign_hardware_token(&user(), &imported(&mfa, &totp).await, None)
            .await,
        Err(Error::Policy(PolicyError::AlreadyEnrolled))
    ));
}

#[tokio::test]
async fn an_unconfirmed_token_expires_and_users_cannot_enroll_tokens_themselves() {
    let (mfa, clock, _) = setup();
    let totp = seeds().remove(0);
    let pending = mfa
        .assign_hardware_token(&user(), &imported(&mfa, &totp).await, None)
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
        bare.assign_hardware_token(&user(), &imported(&mfa, &totp).await, None)
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
        .assign_hardware_token(&user(), &imported(&mfa, &hotp).await, None)
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
    let moved = mfa.methods(&user()).await.unwrap();
    let moved = moved.iter().find(|m| m.id == token.id).unwrap();
    assert_eq!(
        moved.token_drift, 0,
        "an HOTP token's counter moved, not a clock"
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
            .assign_hardware_token(&user, &imported(&mfa, seed).await, None)
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
        if let TokenKind::Totp { period } = seed.kind {
            // The token's clock now runs 40 steps ahead: oathtool's codes at that
            // time resynchronise it, and its next code signs in.
            let method = mfa.methods(&user).await.unwrap().remove(0).id;
            assert!(
                mfa.resync_hardware_token(&user, &method, &peer(40), &peer(41))
                    .await
                    .unwrap(),
                "{}: oathtool's consecutive TOTP codes resynchronise",
                seed.serial
            );
            clock.advance(Duration::from_secs(period));
            let sign_in = mfa.challenge(&user).await.unwrap();
            let v = mfa
                .verify(&user, &sign_in.challenge_id, &peer(41))
                .await
                .unwrap();
            assert!(
                v.proof().is_some(),
                "{}: after TOTP resync: {v:?}",
                seed.serial
            );
        }
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

// ---- the inventory across users ----

fn second_user() -> UserId {
    UserId::new("kari@contoso.com").unwrap()
}

#[tokio::test]
async fn the_inventory_imports_once_lists_without_secrets_and_assigns_a_token_to_one_user() {
    let (mfa, clock, events) = setup();
    let seeds = seeds();
    let imports: Vec<_> = seeds.iter().map(TokenSeed::import).collect();
    let report = mfa.import_hardware_tokens(&imports).await.unwrap();
    assert_eq!(
        report,
        vec![
            (seeds[0].serial.clone(), ImportOutcome::Imported),
            (seeds[1].serial.clone(), ImportOutcome::Imported),
        ]
    );
    // The same file again: nothing replaced.
    let again = mfa.import_hardware_tokens(&imports).await.unwrap();
    assert!(
        again
            .iter()
            .all(|(_, o)| *o == ImportOutcome::AlreadyPresent)
    );
    assert!(events.events().contains(&Event::HardwareTokensImported {
        imported: 2,
        already_present: 0
    }));

    let page = mfa.hardware_token_page(0).await.unwrap();
    assert_eq!(page.next, None);
    let listed: Vec<_> = page
        .tokens
        .iter()
        .map(|t| (t.serial.as_str(), t.kind))
        .collect();
    assert_eq!(
        listed,
        vec![("OATH-T1", OathKind::Totp), ("OATH-H1", OathKind::Hotp)]
    );
    assert!(page.tokens.iter().all(|t| t.assigned.is_none()));
    let shown = format!("{page:?}{:?}", events.events());
    assert!(!shown.to_lowercase().contains(SECRET_HEX), "{shown}");
    assert!(!shown.contains("12345678901234567890"), "{shown}");

    // Assigned to one user; the other is refused while the first holds it.
    let serial = &seeds[0].serial;
    enrolled_with_app(&mfa, &clock).await;
    let pending = mfa
        .assign_hardware_token(&user(), serial, None)
        .await
        .unwrap();
    assert!(matches!(
        mfa.assign_hardware_token(&second_user(), serial, None)
            .await,
        Err(Error::Policy(PolicyError::TokenAssigned))
    ));
    assert!(mfa.methods(&second_user()).await.unwrap().is_empty());
    let info = mfa.hardware_token(serial).await.unwrap().unwrap();
    assert_eq!(info.assigned.unwrap().user, user());
    assert!(events.events().contains(&Event::HardwareTokenAssigned {
        user: user(),
        serial: serial.clone()
    }));
    // Unknown serials are not found.
    let unknown = mfa_core::TokenSerial::parse("NOPE").unwrap();
    assert!(matches!(
        mfa.assign_hardware_token(&user(), &unknown, None).await,
        Err(Error::NotFound(mfa_core::Missing::HardwareToken))
    ));

    // Confirmed and active, then removed by the user: back in the inventory.
    let code = totp_code(&seeds[0], clock.now());
    assert!(
        mfa.verify(&user(), &pending.challenge_id, &code)
            .await
            .unwrap()
            .is_approved()
    );
    let done = mfa.complete(&user(), &pending.challenge_id).await.unwrap();
    mfa.remove_method(&user(), &done.method.id, &done.proof)
        .await
        .unwrap();
    assert_eq!(
        mfa.hardware_token(serial).await.unwrap().unwrap().assigned,
        None
    );
    assert!(events.events().contains(&Event::HardwareTokenUnassigned {
        user: user(),
        serial: serial.clone()
    }));

    // Assigned to the other user, whose reset returns it; then retired for good.
    mfa.assign_hardware_token(&second_user(), serial, None)
        .await
        .unwrap();
    assert!(matches!(
        mfa.retire_hardware_token(serial).await,
        Err(Error::Policy(PolicyError::TokenAssigned))
    ));
    mfa.reset_user(&second_user()).await.unwrap();
    assert_eq!(
        mfa.hardware_token(serial).await.unwrap().unwrap().assigned,
        None
    );
    mfa.retire_hardware_token(serial).await.unwrap();
    assert!(
        mfa.hardware_token(serial)
            .await
            .unwrap()
            .unwrap()
            .retired_at
            .is_some()
    );
    assert!(matches!(
        mfa.assign_hardware_token(&user(), serial, None).await,
        Err(Error::Policy(PolicyError::TokenRetired))
    ));
    assert!(events.events().contains(&Event::HardwareTokenRetired {
        serial: serial.clone()
    }));
}

#[tokio::test]
async fn an_administrator_takes_a_token_back_from_its_holder() {
    let (mfa, clock, _) = setup();
    let hotp = seeds().remove(1);
    let serial = imported(&mfa, &hotp).await;
    holding(&mfa, &serial, &hotp_code(&hotp, 0)).await;
    let _ = clock;
    // Its only method: taken all the same (an administrator's act).
    assert!(mfa.unassign_hardware_token(&serial).await.unwrap());
    assert!(mfa.methods(&user()).await.unwrap().is_empty());
    assert_eq!(
        mfa.status(&user()).await.unwrap(),
        Status::EnrollmentRequired
    );
    assert!(!mfa.unassign_hardware_token(&serial).await.unwrap());
    // Assigning it again to its holder is refused and leaves the holder's claim.
    mfa.assign_hardware_token(&second_user(), &serial, None)
        .await
        .unwrap();
    assert!(matches!(
        mfa.assign_hardware_token(&second_user(), &serial, None)
            .await,
        Err(Error::Policy(PolicyError::AlreadyEnrolled))
    ));
    let holder = mfa.hardware_token(&serial).await.unwrap().unwrap().assigned;
    assert_eq!(
        holder.map(|a| a.user),
        Some(second_user()),
        "still the holder's"
    );

    // A refused assignment keeps no claim: here the user is in a lockout delay.
    let totp = seeds().remove(0);
    let other = imported(&mfa, &totp).await;
    enrolled_with_app(&mfa, &clock).await;
    loop {
        let Ok(sign_in) = mfa.challenge(&user()).await else {
            break;
        };
        mfa.verify(&user(), &sign_in.challenge_id, "000000")
            .await
            .unwrap();
    }
    assert!(matches!(
        mfa.assign_hardware_token(&user(), &other, None).await,
        Err(Error::Policy(PolicyError::UserLocked { .. }))
    ));
    assert_eq!(
        mfa.hardware_token(&other).await.unwrap().unwrap().assigned,
        None
    );
}

#[tokio::test]
async fn a_token_assigned_before_the_inventory_is_claimed_for_its_holder() {
    use mfa_core::Store;
    use mfa_core::inventory::{InventoryRecord, token_key};
    let store = MemoryStore::new();
    let clock = ManualClock::new(Timestamp::from_unix_secs(START));
    let mfa = Mfa::builder()
        .hardware_tokens(OathTokens::default())
        .store(store.clone())
        .clock(clock.clone())
        .build()
        .unwrap();
    let totp = seeds().remove(0);
    let serial = imported(&mfa, &totp).await;
    holding(&mfa, &serial, &totp_code(&totp, clock.now())).await;
    // As a token assigned before the inventory: the user holds it, the inventory
    // names nobody.
    let key = token_key(&serial);
    let mut loaded = store.load(&key).await.unwrap().unwrap();
    let Some(InventoryRecord::Token(token)) = loaded.record.inventory.as_mut() else {
        panic!("a token record")
    };
    token.assigned = None;
    store
        .commit(&key, Some(loaded.version), loaded.record)
        .await
        .unwrap();
    assert_eq!(
        mfa.hardware_token(&serial).await.unwrap().unwrap().assigned,
        None
    );

    // Assigning it to its holder once more records the holder and keeps the method.
    let before = mfa.methods(&user()).await.unwrap();
    assert!(matches!(
        mfa.assign_hardware_token(&user(), &serial, None).await,
        Err(Error::Policy(PolicyError::AlreadyEnrolled))
    ));
    assert_eq!(mfa.methods(&user()).await.unwrap(), before);
    let holder = mfa.hardware_token(&serial).await.unwrap().unwrap().assigned;
    assert_eq!(holder.map(|a| a.user), Some(user()));
    assert!(matches!(
        mfa.assign_hardware_token(&second_user(), &serial, None)
            .await,
        Err(Error::Policy(PolicyError::TokenAssigned))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_assignments_of_one_token_give_one_winner() {
    let (mfa, _, _) = setup();
    let mfa = std::sync::Arc::new(mfa);
    let totp = seeds().remove(0);
    let serial = imported(&mfa, &totp).await;
    let tasks: Vec<_> = (0..48)
        .map(|i| {
            let (mfa, serial) = (mfa.clone(), serial.clone());
            tokio::spawn(async move {
                let user = UserId::new(format!("user{i}@contoso.com")).unwrap();
                (
                    user.clone(),
                    mfa.assign_hardware_token(&user, &serial, None).await,
                )
            })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        let (user, answer) = task.await.unwrap();
        match answer {
            Ok(_) => winners.push(user),
            Err(Error::Policy(PolicyError::TokenAssigned)) => {
                assert!(mfa.methods(&user).await.unwrap().is_empty(), "{user}");
            }
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    let holder = mfa
        .hardware_token(&serial)
        .await
        .unwrap()
        .unwrap()
        .assigned
        .unwrap();
    assert_eq!(holder.user, winners[0]);
}

// ---- TOTP tokens whose clock drifted ----

#[tokio::test]
async fn a_drifted_totp_token_resynchronises_from_two_codes_and_keeps_its_drift() {
    let (mfa, clock, events) = setup();
    let totp = seeds().remove(0);
    let serial = imported(&mfa, &totp).await;
    let first = totp_code(&totp, clock.now());
    let token = holding(&mfa, &serial, &first).await;

    // Months later the token's clock runs 12 steps (6 minutes) ahead.
    clock.advance(Duration::from_secs(90 * 24 * 3600));
    let token_shows = |steps_from_now: u64| {
        totp_code(
            &totp,
            clock.now() + Duration::from_secs(30 * (12 + steps_from_now)),
        )
    };
    let sign_in = mfa.challenge(&user()).await.unwrap();
    assert!(matches!(
        mfa.verify(&user(), &sign_in.challenge_id, &token_shows(0))
            .await
            .unwrap(),
        Verification::Rejected { .. }
    ));
    // Two codes that are not consecutive: no resynchronisation, a failure counted.
    assert!(
        !mfa.resync_hardware_token(&user(), &token.id, &token_shows(0), &token_shows(2))
            .await
            .unwrap()
    );
    // The token shows two codes in a row (the second after waiting a step).
    let code_a = token_shows(0);
    clock.advance(Duration::from_secs(30));
    let code_b = token_shows(0);
    assert!(
        mfa.resync_hardware_token(&user(), &token.id, &code_a, &code_b)
            .await
            .unwrap()
    );
    assert!(
        events
            .events()
            .iter()
            .any(|e| matches!(e, Event::TokenResynchronised { drift: 12, .. })),
        "{:?}",
        events.events()
    );
    let kept = mfa.methods(&user()).await.unwrap().remove(0);
    assert_eq!(kept.token_drift, 12, "the drift is kept on the method");
    // The code just used is spent; the next step's code signs in where the token's
    // clock is.
    let again = mfa.challenge(&user()).await.unwrap();
    assert!(matches!(
        mfa.verify(&user(), &again.challenge_id, &code_b)
            .await
            .unwrap(),
        Verification::Rejected { .. }
    ));
    clock.advance(Duration::from_secs(30));
    let v = mfa
        .verify(&user(), &again.challenge_id, &token_shows(0))
        .await
        .unwrap();
    assert!(v.proof().is_some(), "{v:?}");
    // A code of the server's own time no longer passes for this token.
    let other = mfa.challenge(&user()).await.unwrap();
    assert!(matches!(
        mfa.verify(&user(), &other.challenge_id, &totp_code(&totp, clock.now()))
            .await
            .unwrap(),
        Verification::Rejected { .. }
    ));

    // The token's clock drifts one step further: its code, a step off where it is
    // expected, signs in, and the kept drift follows it.
    clock.advance(Duration::from_secs(30));
    let further = totp_code(&totp, clock.now() + Duration::from_secs(30 * 13));
    let v = mfa
        .verify(&user(), &other.challenge_id, &further)
        .await
        .unwrap();
    assert!(v.proof().is_some(), "{v:?}");
    assert_eq!(mfa.methods(&user()).await.unwrap()[0].token_drift, 13);
}

#[tokio::test]
async fn a_totp_token_past_the_resync_window_is_not_found() {
    let (mfa, clock, _) = setup();
    let totp = seeds().remove(0);
    let serial = imported(&mfa, &totp).await;
    let token = holding(&mfa, &serial, &totp_code(&totp, clock.now())).await;
    clock.advance(Duration::from_secs(3600));
    let far = u64::from(mfa_totp::DEFAULT_TOTP_RESYNC_WINDOW) + 5;
    let at = |k: u64| totp_code(&totp, clock.now() + Duration::from_secs(30 * (far + k)));
    assert!(
        !mfa.resync_hardware_token(&user(), &token.id, &at(0), &at(1))
            .await
            .unwrap()
    );
}
