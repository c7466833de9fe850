//! The start the delivery-report tests share: an SMS enrollment through `Mfa`.

#![allow(clippy::expect_used)] // test code

use mfa_core::{ChallengeId, Method, Mfa, PhoneMode, PhoneNumber, UserId};

/// The number the enrollment sends to.
pub const NUMBER: &str = "+4741234567";

/// Begins enrolling an SMS phone ([`NUMBER`]) for `kari@example.no`, so `mfa` sends
/// the first code; returns the user and the enrollment's challenge.
pub async fn begin_sms_enrollment(mfa: &Mfa) -> (UserId, ChallengeId) {
    let user = UserId::username("kari@example.no").expect("a valid user name");
    let pending = mfa
        .begin_enrollment(
            &user,
            Method::AuthenticationPhone {
                number: PhoneNumber::parse(NUMBER).expect("a valid number"),
                mode: PhoneMode::Sms,
            },
        )
        .await
        .expect("the enrollment starts and its code is sent");
    (user, pending.challenge_id)
}
