//! Invariant 7: on any store or delivery error the answer is "not verified".

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use mfa_core::{
    ChallengeStatus, DeliveryError, Error, ManualClock, MemoryDelivery, Method, Mfa, PhoneMode,
    PhoneNumber, Timestamp, UserId,
};
use support::FlakyStore;

fn setup() -> (Mfa, FlakyStore, MemoryDelivery, PhoneNumber, UserId) {
    let clock = ManualClock::new(Timestamp::from_unix_secs(1_767_225_600));
    let phone = MemoryDelivery::with_clock(Arc::new(clock.clone()));
    let store = FlakyStore::default();
    let mfa = Mfa::builder()
        .store(store.clone())
        .clock(clock)
        .sms(phone.clone())
        .build()
        .unwrap();
    let number = PhoneNumber::from_parts(47, "41234567").unwrap();
    (mfa, store, phone, number, UserId::new("kari").unwrap())
}

#[tokio::test]
async fn a_store_failure_during_check_is_an_error_never_an_approval() {
    let (mfa, store, phone, number, user) = setup();
    let method = Method::AuthenticationPhone {
        number: number.clone(),
        mode: PhoneMode::Sms,
    };
    let pending = mfa.begin_enrollment(&user, method).await.unwrap();
    let code = phone.last_code_to(&number).unwrap();

    store.down.store(true, Ordering::SeqCst);
    match mfa
        .verify(&user, &pending.challenge_id, code.expose())
        .await
    {
        Err(Error::Store(e)) => {
            assert!(e.is_transient());
            assert!(!e.to_string().contains(code.expose()));
        }
        other => panic!("expected a store error, got {other:?}"),
    }
    assert_eq!(
        mfa.challenge_status(&user, &pending.challenge_id)
            .await
            .unwrap(),
        ChallengeStatus::AwaitingCode,
        "nothing was approved"
    );
    // A wrong code while the store is down is not counted as a pass either.
    assert!(matches!(
        mfa.verify(&user, &pending.challenge_id, "000000").await,
        Err(Error::Store(_))
    ));

    // Back up: the journey continues with the same code.
    store.down.store(false, Ordering::SeqCst);
    assert!(
        mfa.verify(&user, &pending.challenge_id, code.expose())
            .await
            .unwrap()
            .is_approved()
    );
}

#[tokio::test]
async fn a_store_failure_before_sending_sends_nothing() {
    let (mfa, store, phone, number, user) = setup();
    store.down.store(true, Ordering::SeqCst);
    let method = Method::AuthenticationPhone {
        number,
        mode: PhoneMode::Sms,
    };
    assert!(matches!(
        mfa.begin_enrollment(&user, method).await,
        Err(Error::Store(_))
    ));
    assert!(phone.sent().is_empty());
}

#[tokio::test]
async fn a_delivery_failure_leaves_nothing_to_approve() {
    let (mfa, _store, phone, number, user) = setup();
    phone.fail_always(DeliveryError::transient("smsc down"));
    let method = Method::AuthenticationPhone {
        number,
        mode: PhoneMode::Sms,
    };
    assert!(matches!(
        mfa.begin_enrollment(&user, method).await,
        Err(Error::Delivery(_))
    ));
    assert_eq!(
        mfa.status(&user).await.unwrap(),
        mfa_core::Status::EnrollmentRequired
    );
}
