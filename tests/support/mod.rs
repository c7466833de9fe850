//! What the facade's tests share: a manual clock, memory phones on it, Kari and her
//! mobile, and an SMS enrollment.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use mfa::{Completion, ManualClock, MemoryDelivery, Method, Mfa, PhoneMode, PhoneNumber};
use mfa::{Timestamp, UserId};

/// A manual clock, in November 2023.
pub fn clock() -> ManualClock {
    ManualClock::new(Timestamp::from_unix_secs(1_700_000_000))
}

/// A memory phone (SMS or voice) that stamps what it receives with `clock`.
pub fn phone_on(clock: &ManualClock) -> MemoryDelivery {
    MemoryDelivery::with_clock(Arc::new(clock.clone()))
}

/// The user most tests follow.
pub fn kari() -> UserId {
    UserId::username("kari@example.no").unwrap()
}

/// Kari's mobile, +47 412 34 567.
pub fn kari_phone() -> PhoneNumber {
    PhoneNumber::parse("+47 412 34 567").unwrap()
}

/// Text messages to `number`.
pub fn sms_to(number: &PhoneNumber) -> Method {
    Method::AuthenticationPhone {
        number: number.clone(),
        mode: PhoneMode::Sms,
    }
}

/// Enrolls `user`'s first method, SMS to `number`, typing the code `sms` received.
pub async fn enroll_by_sms(
    mfa: &Mfa,
    sms: &MemoryDelivery,
    user: &UserId,
    number: &PhoneNumber,
) -> Completion {
    let pending = mfa.begin_enrollment(user, sms_to(number)).await.unwrap();
    let code = sms.last_code_to(number).unwrap();
    assert!(
        mfa.verify(user, &pending.challenge_id, code.expose())
            .await
            .unwrap()
            .is_approved()
    );
    mfa.complete(user, &pending.challenge_id).await.unwrap()
}
