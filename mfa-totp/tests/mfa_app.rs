//! The authenticator-app method through `Mfa`: enrollment by a first correct code,
//! sign-in, and replay protection from the store's last accepted step.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use std::sync::Arc;
use std::time::Duration;

use mfa_core::record::MAX_OPEN_CHALLENGES;
use mfa_core::{
    Clock, ManualClock, MemoryStore, Method, MethodKind, MethodStatus, Mfa, Policy, Purpose,
    Status, Timestamp, UserId, Verification,
};
use mfa_totp::{KeyUri, Secret, Totp};

const START: u64 = 1_750_000_000;

fn setup() -> (Mfa, ManualClock) {
    let clock = ManualClock::new(Timestamp::from_unix_secs(START));
    let mut policy = Policy::default();
    // The concurrency test submits many codes at once; keep the user lockout out of it.
    policy.lockout.free_failures = 90;
    let mfa = Mfa::builder()
        .app(Totp::default())
        .store(MemoryStore::new())
        .clock(clock.clone())
        .policy(policy)
        .issuer("Contoso")
        .build()
        .unwrap();
    (mfa, clock)
}

fn user() -> UserId {
    UserId::new("alice@contoso.com").unwrap()
}

/// Enrolls the app and returns the secret the user scanned.
async fn enroll(mfa: &Mfa, clock: &ManualClock) -> Secret {
    let user = user();
    assert_eq!(mfa.status(&user).await.unwrap(), Status::EnrollmentRequired);
    let pending = mfa
        .begin_enrollment(&user, Method::AuthenticatorApp)
        .await
        .unwrap();
    let app = pending.app.clone().expect("app provisioning");
    let uri = KeyUri::parse(&app.uri).unwrap();
    assert_eq!(uri.issuer.as_deref(), Some("Contoso"));
    assert_eq!(uri.account, "alice@contoso.com");
    assert_eq!(
        Secret::from_base32(&app.manual_entry_key).unwrap(),
        uri.secret
    );
    let secret = uri.secret;
    let totp = Totp::default();

    // A wrong code does not activate the method.
    let now = clock.now();
    let wrong = totp.generate_at_step(&secret, totp.step_at(now).unwrap() + 5);
    assert!(matches!(
        mfa.verify(&user, &pending.challenge_id, wrong.expose())
            .await
            .unwrap(),
        Verification::Rejected { .. }
    ));
    let methods = mfa.methods(&user).await.unwrap();
    assert_eq!(methods[0].status, MethodStatus::Pending);

    // The first correct code does.
    let code = totp.generate(&secret, now).unwrap();
    let verdict = mfa
        .verify(&user, &pending.challenge_id, code.expose())
        .await
        .unwrap();
    assert!(
        matches!(
            &verdict,
            Verification::Approved(a) if a.purpose == Purpose::Enrollment
                && a.method == MethodKind::AuthenticatorApp
                && a.proof.is_none()
        ),
        "{verdict:?}"
    );
    let record = mfa
        .complete(&user, &pending.challenge_id)
        .await
        .unwrap()
        .method;
    assert_eq!(record.status, MethodStatus::Active);
    assert!(matches!(
        mfa.status(&user).await.unwrap(),
        Status::Enrolled { .. }
    ));
    secret
}

#[tokio::test]
async fn enrollment_then_sign_in_accepts_each_step_once() {
    let (mfa, clock) = setup();
    let secret = enroll(&mfa, &clock).await;
    let totp = Totp::default();
    let user = user();

    // Three steps later the app's clock lags one step: its code is from the previous step.
    clock.advance(Duration::from_secs(90));
    let current = totp.step_at(clock.now()).unwrap();
    let previous = totp.generate_at_step(&secret, current - 1);
    let sign_in = mfa.challenge(&user).await.unwrap();
    let signed_in = mfa
        .verify(&user, &sign_in.challenge_id, previous.expose())
        .await
        .unwrap();
    assert!(signed_in_with_proof(&signed_in), "{signed_in:?}");
    // The same challenge answers "already used".
    assert_eq!(
        mfa.verify(&user, &sign_in.challenge_id, previous.expose())
            .await
            .unwrap(),
        Verification::AlreadyUsed
    );

    // A new sign-in with the replayed code: rejected, although it is still in the window.
    let replay = mfa.challenge(&user).await.unwrap();
    assert!(matches!(
        mfa.verify(&user, &replay.challenge_id, previous.expose())
            .await
            .unwrap(),
        Verification::Rejected { .. }
    ));

    // A code from two steps ago: outside the window (and before the last accepted step).
    let old = totp.generate_at_step(&secret, current - 2);
    assert!(matches!(
        mfa.verify(&user, &replay.challenge_id, old.expose())
            .await
            .unwrap(),
        Verification::Rejected { .. }
    ));

    // The current code is later than the last accepted step: accepted.
    let now_code = totp.generate_at_step(&secret, current);
    let signed_in = mfa
        .verify(&user, &replay.challenge_id, now_code.expose())
        .await
        .unwrap();
    assert!(signed_in_with_proof(&signed_in), "{signed_in:?}");
}

/// An approved sign-in, redeemed at once: it carries its proof.
fn signed_in_with_proof(v: &Verification) -> bool {
    matches!(v, Verification::Approved(a) if a.purpose == Purpose::SignIn && a.proof.is_some())
}

#[tokio::test]
async fn the_enrollment_code_cannot_sign_in() {
    let (mfa, clock) = setup();
    let secret = enroll(&mfa, &clock).await;
    let code = Totp::default().generate(&secret, clock.now()).unwrap();
    let user = user();
    let sign_in = mfa.challenge(&user).await.unwrap();
    assert!(matches!(
        mfa.verify(&user, &sign_in.challenge_id, code.expose())
            .await
            .unwrap(),
        Verification::Rejected { .. }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn simultaneous_submissions_of_one_code_accept_exactly_one() {
    let (mfa, clock) = setup();
    let secret = enroll(&mfa, &clock).await;
    clock.advance(Duration::from_secs(30));
    let code = Totp::default().generate(&secret, clock.now()).unwrap();
    let mfa = Arc::new(mfa);

    // Many sign-in sessions (as from many attackers who saw the code), all at once. A
    // user has at most `MAX_OPEN_CHALLENGES` open (a newer one closes the oldest), so
    // the 32 submissions go to that many live challenges, several to each.
    let mut challenges = Vec::new();
    for _ in 0..MAX_OPEN_CHALLENGES {
        challenges.push(mfa.challenge(&user()).await.unwrap().challenge_id);
    }
    let submissions: Vec<_> = challenges.iter().cycle().take(32).cloned().collect();
    let start = Arc::new(tokio::sync::Barrier::new(submissions.len()));
    let tasks: Vec<_> = submissions
        .into_iter()
        .map(|id| {
            let (mfa, start, code) = (mfa.clone(), start.clone(), code.expose().to_owned());
            tokio::spawn(async move {
                start.wait().await;
                mfa.verify(&user(), &id, &code).await
            })
        })
        .collect();
    let mut approved = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(Verification::Approved(a)) => {
                assert!(a.proof.is_some(), "a sign-in carries its proof");
                approved += 1;
            }
            Ok(Verification::Rejected { .. } | Verification::AlreadyUsed) => {}
            other => panic!("every challenge was live: {other:?}"),
        }
    }
    assert_eq!(approved, 1);
}
