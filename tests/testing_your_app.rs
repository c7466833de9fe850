//! How to test your own sign-in code with the memory backends: a small login service
//! of the kind an application writes, and the tests its authors would write for it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use mfa::{
    ChallengeId, ManualClock, MemoryDelivery, MemoryEvents, Method, Mfa, PhoneMode, PhoneNumber,
    Proof, Purpose, Status, Timestamp, UserId, Verification,
};

/// The application's login service: password first, then the second factor.
struct LoginService {
    mfa: Mfa,
    passwords: HashMap<UserId, String>,
}

/// What the code page remembers in the server-side session: whose challenge it is.
#[derive(Debug, Clone, PartialEq)]
struct CodePrompt {
    user: UserId,
    challenge: ChallengeId,
}

#[derive(Debug, PartialEq)]
enum LoginStep {
    Denied,
    SetUpSecurity,
    EnterCode(CodePrompt),
    /// Signed in: the session keeps the sign-in's proof for settings changes.
    SignedIn {
        user: UserId,
        proof: Proof,
    },
}

impl LoginService {
    async fn login(&self, username: &str, password: &str) -> LoginStep {
        let Ok(user) = UserId::username(username) else {
            return LoginStep::Denied;
        };
        if self.passwords.get(&user).map(String::as_str) != Some(password) {
            return LoginStep::Denied;
        }
        match self.mfa.status(&user).await {
            Ok(Status::EnrollmentRequired) => LoginStep::SetUpSecurity,
            // A fraud report suspends factor changes; methods not reported still sign in.
            Ok(
                Status::Enrolled { .. }
                | Status::Suspended {
                    default: Some(_), ..
                },
            ) => match self.mfa.challenge(&user).await {
                Ok(pending) => LoginStep::EnterCode(CodePrompt {
                    user,
                    challenge: pending.challenge_id,
                }),
                Err(_) => LoginStep::Denied,
            },
            Ok(Status::Suspended { default: None, .. }) | Err(_) => LoginStep::Denied,
        }
    }

    async fn enter_code(&self, prompt: &CodePrompt, code: &str) -> LoginStep {
        match self.mfa.verify(&prompt.user, &prompt.challenge, code).await {
            // Only an approved sign-in, with its proof, signs in: never an enrollment's
            // approval, nor a code accepted before.
            Ok(Verification::Approved(a)) if a.purpose == Purpose::SignIn => match a.proof {
                Some(proof) => LoginStep::SignedIn {
                    user: prompt.user.clone(),
                    proof,
                },
                None => LoginStep::Denied,
            },
            Ok(Verification::Rejected { .. }) => LoginStep::EnterCode(prompt.clone()),
            _ => LoginStep::Denied,
        }
    }
}

struct TestWorld {
    app: LoginService,
    phone: MemoryDelivery,
    clock: ManualClock,
    events: MemoryEvents,
    number: PhoneNumber,
}

/// The memory phone and a manual clock stand in for the SMS gateway and time.
async fn world() -> TestWorld {
    let clock = ManualClock::new(Timestamp::from_unix_secs(1_767_225_600));
    let phone = MemoryDelivery::with_clock(Arc::new(clock.clone()));
    let events = MemoryEvents::new();
    let mfa = Mfa::builder()
        .clock(clock.clone())
        .sms(phone.clone())
        .events(events.clone())
        .build()
        .unwrap();
    let user = UserId::username("ola@example.com").unwrap();
    let number = PhoneNumber::from_parts(47, "412 34 567").unwrap();
    // Enroll the user the way the app's settings page would.
    let method = Method::AuthenticationPhone {
        number: number.clone(),
        mode: PhoneMode::Sms,
    };
    let pending = mfa.begin_enrollment(&user, method).await.unwrap();
    let code = phone.last_code_to(&number).unwrap();
    mfa.verify(&user, &pending.challenge_id, code.expose())
        .await
        .unwrap();
    mfa.complete(&user, &pending.challenge_id).await.unwrap();
    let passwords = HashMap::from([(user, "correct horse".to_owned())]);
    TestWorld {
        app: LoginService { mfa, passwords },
        phone,
        clock,
        events,
        number,
    }
}

#[tokio::test]
async fn the_right_password_and_the_texted_code_sign_in() {
    let w = world().await;
    let LoginStep::EnterCode(prompt) = w.app.login("Ola@Example.com", "correct horse").await else {
        panic!("expected a code prompt");
    };
    let code = w.phone.last_code_to(&w.number).unwrap();
    let step = w.app.enter_code(&prompt, code.expose()).await;
    assert!(
        matches!(&step, LoginStep::SignedIn { user, .. } if user.as_str() == "ola@example.com"),
        "{step:?}"
    );
    // The same code again (a replay, or a double submit) does not sign in twice.
    assert_eq!(
        w.app.enter_code(&prompt, code.expose()).await,
        LoginStep::Denied
    );
}

#[tokio::test]
async fn a_wrong_password_sends_no_sms() {
    let w = world().await;
    let before = w.phone.sent().len();
    assert_eq!(
        w.app.login("ola@example.com", "guess").await,
        LoginStep::Denied
    );
    assert_eq!(w.phone.sent().len(), before);
}

#[tokio::test]
async fn a_code_typed_after_five_minutes_is_refused() {
    let w = world().await;
    let LoginStep::EnterCode(prompt) = w.app.login("ola@example.com", "correct horse").await else {
        panic!("expected a code prompt");
    };
    let code = w.phone.last_code_to(&w.number).unwrap();
    w.clock.advance(Duration::from_secs(5 * 60));
    assert_eq!(
        w.app.enter_code(&prompt, code.expose()).await,
        LoginStep::Denied
    );
}

#[tokio::test]
async fn an_sms_outage_denies_the_login_and_is_visible_in_events() {
    let w = world().await;
    w.phone
        .fail_next(mfa::DeliveryError::transient("gateway down"));
    assert_eq!(
        w.app.login("ola@example.com", "correct horse").await,
        LoginStep::Denied
    );
    assert!(w.events.events().iter().any(|e| matches!(
        e,
        mfa::Event::DeliveryFailed {
            transient: true,
            ..
        }
    )));
}
