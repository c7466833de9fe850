//! How to test your own sign-in code with the memory backends: a small login service
//! of the kind an application writes, and the tests its authors would write for it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use mfa::{
    ChallengeId, ManualClock, MemoryDelivery, MemoryEvents, Method, Mfa, PhoneMode, PhoneNumber,
    Status, Timestamp, UserId, Verification,
};

/// The application's login service: password first, then the second factor.
struct LoginService {
    mfa: Mfa,
    passwords: HashMap<UserId, String>,
}

#[derive(Debug, PartialEq)]
enum LoginStep {
    Denied,
    SetUpSecurity,
    EnterCode(ChallengeId),
    SignedIn,
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
            Ok(Status::Enrolled { .. }) => match self.mfa.challenge(&user).await {
                Ok(pending) => LoginStep::EnterCode(pending.challenge_id),
                Err(_) => LoginStep::Denied,
            },
            Err(_) => LoginStep::Denied,
        }
    }

    async fn enter_code(&self, challenge: &ChallengeId, code: &str) -> LoginStep {
        match self.mfa.verify(challenge, code).await {
            Ok(Verification::Approved) => LoginStep::SignedIn,
            Ok(Verification::Rejected { .. }) => LoginStep::EnterCode(challenge.clone()),
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
    mfa.verify(&pending.challenge_id, code.expose())
        .await
        .unwrap();
    mfa.complete(&pending.challenge_id).await.unwrap();
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
    let LoginStep::EnterCode(challenge) = w.app.login("Ola@Example.com", "correct horse").await
    else {
        panic!("expected a code prompt");
    };
    let code = w.phone.last_code_to(&w.number).unwrap();
    assert_eq!(
        w.app.enter_code(&challenge, code.expose()).await,
        LoginStep::SignedIn
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
    let LoginStep::EnterCode(challenge) = w.app.login("ola@example.com", "correct horse").await
    else {
        panic!("expected a code prompt");
    };
    let code = w.phone.last_code_to(&w.number).unwrap();
    w.clock.advance(Duration::from_secs(5 * 60));
    assert_eq!(
        w.app.enter_code(&challenge, code.expose()).await,
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
