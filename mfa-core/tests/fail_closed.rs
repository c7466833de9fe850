//! Invariant 7: on any store or delivery error the answer is "not verified".

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use mfa_core::challenge::Challenge;
use mfa_core::store::{Failures, Removal, WindowCount};
use mfa_core::{
    ChallengeId, ChallengeStatus, CodeHash, DeliveryError, Error, ManualClock, MemoryDelivery,
    MemoryStore, Method, MethodId, MethodRecord, Mfa, PhoneMode, PhoneNumber, Store, StoreError,
    Timestamp, UserId,
};

/// A store that fails every write-after-read step once `down` is set, as a database
/// that goes away in the middle of a journey.
#[derive(Debug, Clone, Default)]
struct FlakyStore {
    inner: MemoryStore,
    down: Arc<AtomicBool>,
}

impl FlakyStore {
    fn check(&self) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            Err(StoreError::unavailable("connection refused"))
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl Store for FlakyStore {
    async fn methods(&self, user: &UserId) -> Result<Vec<MethodRecord>, StoreError> {
        self.inner.methods(user).await
    }
    async fn insert_method(&self, user: &UserId, record: MethodRecord) -> Result<(), StoreError> {
        self.check()?;
        self.inner.insert_method(user, record).await
    }
    async fn activate_method(
        &self,
        user: &UserId,
        id: &MethodId,
        d: bool,
    ) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.activate_method(user, id, d).await
    }
    async fn remove_method(
        &self,
        user: &UserId,
        id: &MethodId,
        l: bool,
    ) -> Result<Removal, StoreError> {
        self.check()?;
        self.inner.remove_method(user, id, l).await
    }
    async fn set_default(&self, user: &UserId, id: &MethodId) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.set_default(user, id).await
    }
    async fn block_method(&self, user: &UserId, id: &MethodId) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.block_method(user, id).await
    }
    async fn remove_all_methods(&self, user: &UserId) -> Result<(), StoreError> {
        self.check()?;
        self.inner.remove_all_methods(user).await
    }
    async fn app_step(&self, user: &UserId, id: &MethodId) -> Result<Option<u64>, StoreError> {
        self.inner.app_step(user, id).await
    }
    async fn advance_app_step(
        &self,
        user: &UserId,
        id: &MethodId,
        step: u64,
    ) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.advance_app_step(user, id, step).await
    }
    async fn insert_challenge(&self, c: Challenge) -> Result<(), StoreError> {
        self.check()?;
        self.inner.insert_challenge(c).await
    }
    async fn challenge(&self, id: &ChallengeId) -> Result<Option<Challenge>, StoreError> {
        self.inner.challenge(id).await
    }
    async fn record_failure(
        &self,
        id: &ChallengeId,
        now: Timestamp,
    ) -> Result<Option<Challenge>, StoreError> {
        self.check()?;
        self.inner.record_failure(id, now).await
    }
    async fn approve(&self, id: &ChallengeId, g: u32, now: Timestamp) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.approve(id, g, now).await
    }
    async fn replace_code(
        &self,
        id: &ChallengeId,
        g: u32,
        h: Option<CodeHash>,
        e: Timestamp,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.replace_code(id, g, h, e, now).await
    }
    async fn close_challenge(
        &self,
        id: &ChallengeId,
        from: &[ChallengeStatus],
        to: ChallengeStatus,
    ) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.close_challenge(id, from, to).await
    }
    async fn hit(&self, key: &str, w: Duration, now: Timestamp) -> Result<WindowCount, StoreError> {
        self.check()?;
        self.inner.hit(key, w, now).await
    }
    async fn record_user_failure(
        &self,
        user: &UserId,
        now: Timestamp,
    ) -> Result<Failures, StoreError> {
        self.check()?;
        self.inner.record_user_failure(user, now).await
    }
    async fn user_failures(&self, user: &UserId) -> Result<Failures, StoreError> {
        self.inner.user_failures(user).await
    }
    async fn clear_user_failures(&self, user: &UserId) -> Result<(), StoreError> {
        self.check()?;
        self.inner.clear_user_failures(user).await
    }
    async fn replace_recovery_codes(
        &self,
        user: &UserId,
        h: Vec<CodeHash>,
    ) -> Result<(), StoreError> {
        self.check()?;
        self.inner.replace_recovery_codes(user, h).await
    }
    async fn consume_recovery_code(
        &self,
        user: &UserId,
        h: &CodeHash,
    ) -> Result<Option<usize>, StoreError> {
        self.check()?;
        self.inner.consume_recovery_code(user, h).await
    }
}

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
    match mfa.verify(&pending.challenge_id, code.expose()).await {
        Err(Error::Store(e)) => {
            assert!(e.is_transient());
            assert!(!e.to_string().contains(code.expose()));
        }
        other => panic!("expected a store error, got {other:?}"),
    }
    assert_eq!(
        mfa.challenge_status(&pending.challenge_id).await.unwrap(),
        ChallengeStatus::AwaitingCode,
        "nothing was approved"
    );
    // A wrong code while the store is down is not counted as a pass either.
    assert!(matches!(
        mfa.verify(&pending.challenge_id, "000000").await,
        Err(Error::Store(_))
    ));

    // Back up: the journey continues with the same code.
    store.down.store(false, Ordering::SeqCst);
    assert!(
        mfa.verify(&pending.challenge_id, code.expose())
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
