//! The record cache over a durable store: a sign-in's verification on the server that
//! started it costs one store call (the commit), and every answer still rests on the
//! store's current record when another server changed it in between.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use mfa_core::store::{Commit, Versioned, WindowCount, WindowHit};
use mfa_core::{
    CodeKey, Error, ManualClock, MemoryDelivery, MemoryStore, Method, MethodStatus, Mfa, PhoneMode,
    PhoneNumber, Proof, Purpose, Store, StoreError, Timestamp, UserId, UserRecord, Verification,
    Version,
};

/// A memory store that calls itself durable (as a database shared by servers is) and
/// counts the calls it gets.
#[derive(Debug, Default)]
struct Shared {
    inner: MemoryStore,
    loads: AtomicUsize,
    commits: AtomicUsize,
}

#[async_trait]
impl Store for Shared {
    async fn load(&self, user: &UserId) -> Result<Option<Versioned>, StoreError> {
        self.loads.fetch_add(1, Ordering::SeqCst);
        self.inner.load(user).await
    }
    async fn commit(
        &self,
        user: &UserId,
        expected: Option<Version>,
        record: UserRecord,
    ) -> Result<Commit, StoreError> {
        self.commits.fetch_add(1, Ordering::SeqCst);
        self.inner.commit(user, expected, record).await
    }
    async fn hit(
        &self,
        hits: &[WindowHit<'_>],
        now: Timestamp,
    ) -> Result<Vec<WindowCount>, StoreError> {
        self.inner.hit(hits, now).await
    }
    async fn purge(&self, now: Timestamp) -> Result<u64, StoreError> {
        self.inner.purge(now).await
    }
}

impl Shared {
    fn calls(&self) -> (usize, usize) {
        (
            self.loads.load(Ordering::SeqCst),
            self.commits.load(Ordering::SeqCst),
        )
    }
}

struct Servers {
    a: Mfa,
    b: Mfa,
    store: Arc<Shared>,
    clock: ManualClock,
    sms: MemoryDelivery,
}

fn server(store: &Arc<Shared>, clock: &ManualClock, sms: &MemoryDelivery, cache: usize) -> Mfa {
    Mfa::builder()
        .shared_store(Arc::clone(store) as Arc<dyn Store>)
        .code_key(CodeKey::from_bytes([3; 32]))
        .clock(clock.clone())
        .sms(sms.clone())
        .record_cache(cache)
        .build()
        .unwrap()
}

fn servers() -> Servers {
    let store = Arc::new(Shared::default());
    let clock = ManualClock::new(Timestamp::from_unix_secs(1_767_225_600));
    let sms = MemoryDelivery::with_clock(Arc::new(clock.clone()));
    Servers {
        a: server(&store, &clock, &sms, 64),
        b: server(&store, &clock, &sms, 64),
        store,
        clock,
        sms,
    }
}

fn kari() -> UserId {
    UserId::username("kari@example.no").unwrap()
}

fn mobile() -> PhoneNumber {
    PhoneNumber::from_parts(47, "412 34 567").unwrap()
}

/// Enrolls Kari's mobile through `mfa`; returns the completion's proof.
async fn enroll(w: &Servers, mfa: &Mfa) -> Proof {
    let method = Method::AuthenticationPhone {
        number: mobile(),
        mode: PhoneMode::Sms,
    };
    let pending = mfa.begin_enrollment(&kari(), method).await.unwrap();
    let code = w.sms.last_code_to(&mobile()).unwrap();
    mfa.verify(&kari(), &pending.challenge_id, code.expose())
        .await
        .unwrap();
    mfa.complete(&kari(), &pending.challenge_id)
        .await
        .unwrap()
        .proof
}

fn signed_in(v: &Verification) -> bool {
    matches!(v, Verification::Approved(a) if a.purpose == Purpose::SignIn && a.proof.is_some())
}

#[tokio::test]
async fn a_verification_on_the_server_that_started_it_is_one_commit_and_no_load() {
    let w = servers();
    enroll(&w, &w.a).await;
    let pending = w.a.challenge(&kari()).await.unwrap();
    // Some time passes while the user reads the text and types the code.
    w.clock.advance(Duration::from_secs(40));
    let code = w.sms.last_code_to(&mobile()).unwrap();
    let before = w.store.calls();
    let v =
        w.a.verify(&kari(), &pending.challenge_id, code.expose())
            .await
            .unwrap();
    assert!(signed_in(&v), "{v:?}");
    let after = w.store.calls();
    assert_eq!((after.0 - before.0, after.1 - before.1), (0, 1));
}

#[tokio::test]
async fn without_the_cache_a_verification_loads_and_commits() {
    let w = servers();
    let uncached = server(&w.store, &w.clock, &w.sms, 0);
    enroll(&w, &uncached).await;
    let pending = uncached.challenge(&kari()).await.unwrap();
    let code = w.sms.last_code_to(&mobile()).unwrap();
    let before = w.store.calls();
    let v = uncached
        .verify(&kari(), &pending.challenge_id, code.expose())
        .await
        .unwrap();
    assert!(signed_in(&v), "{v:?}");
    let after = w.store.calls();
    assert_eq!((after.0 - before.0, after.1 - before.1), (1, 1));
}

#[tokio::test]
async fn a_kept_record_is_not_used_past_its_lifetime() {
    let w = servers();
    enroll(&w, &w.a).await;
    let loads = || w.store.calls().0;
    // Unblocking commits without a send or a proof: a plain read-decide-commit.
    w.clock.advance(Duration::from_secs(5 * 60 - 1));
    let before = loads();
    w.a.unblock(&kari()).await.unwrap();
    assert_eq!(loads(), before, "a young entry stands in for the load");
    w.clock.advance(Duration::from_secs(5 * 60));
    let before = loads();
    w.a.unblock(&kari()).await.unwrap();
    assert_eq!(loads(), before + 1, "an old entry is loaded afresh");
}

#[tokio::test]
async fn a_reset_on_another_server_holds_on_the_server_that_kept_the_record() {
    let w = servers();
    enroll(&w, &w.a).await;
    let pending = w.a.challenge(&kari()).await.unwrap();
    let code = w.sms.last_code_to(&mobile()).unwrap();
    // An administrator resets Kari on server B after A kept her record.
    w.b.reset_user(&kari()).await.unwrap();
    let v =
        w.a.verify(&kari(), &pending.challenge_id, code.expose())
            .await;
    assert!(
        !matches!(&v, Ok(v) if signed_in(v)),
        "a challenge the reset killed must not sign in: {v:?}"
    );
    assert!(w.a.methods(&kari()).await.unwrap().is_empty());
    let again = w.a.challenge(&kari()).await;
    assert!(
        matches!(again, Err(Error::Transition(_) | Error::NotFound(_))),
        "{again:?}"
    );
}

#[tokio::test]
async fn a_challenge_started_on_another_server_signs_in_here() {
    let w = servers();
    enroll(&w, &w.a).await;
    // A kept Kari's record; B starts the sign-in A has not seen.
    let pending = w.b.challenge(&kari()).await.unwrap();
    let code = w.sms.last_code_to(&mobile()).unwrap();
    let v =
        w.a.verify(&kari(), &pending.challenge_id, code.expose())
            .await
            .unwrap();
    assert!(signed_in(&v), "{v:?}");
}

#[tokio::test]
async fn a_method_blocked_on_another_server_cannot_start_a_sign_in_here() {
    let w = servers();
    let proof = enroll(&w, &w.a).await;
    let methods = w.a.methods(&kari()).await.unwrap();
    let method = methods[0].id.clone();
    // A second method, so the first can be removed on B.
    let pending =
        w.b.add_method(
            &kari(),
            Method::AuthenticationPhone {
                number: PhoneNumber::from_parts(47, "412 34 999").unwrap(),
                mode: PhoneMode::Sms,
            },
            &proof,
        )
        .await
        .unwrap();
    let other = PhoneNumber::from_parts(47, "412 34 999").unwrap();
    let code = w.sms.last_code_to(&other).unwrap();
    w.b.verify(&kari(), &pending.challenge_id, code.expose())
        .await
        .unwrap();
    w.b.complete(&kari(), &pending.challenge_id).await.unwrap();
    w.b.remove_method(&kari(), &method, &proof).await.unwrap();
    // A still keeps the record in which the first method is active.
    let err = w.a.challenge_with(&kari(), &method).await;
    assert!(err.is_err(), "a removed method started a sign-in: {err:?}");
    let left = w.a.methods(&kari()).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].status, MethodStatus::Active);
    assert_ne!(left[0].id, method);
}
