//! The store conformance suite: every [`Store`] must pass it, so the memory store,
//! embedded databases and shared servers give the same guarantees.
//!
//! Each property is a public async function taking a fresh store. Properties make
//! their own random user, method and challenge ids, so stores that share one
//! database (a PostgreSQL or Redis server) can run them side by side.
//!
//! Run them all with [`run_all`], or generate one test per property with
//! [`store_conformance!`](crate::store_conformance) (the caller needs `tokio` with the
//! `macros` and `rt-multi-thread` features):
//!
//! ```
//! async fn fresh() -> mfa_core::MemoryStore {
//!     mfa_core::MemoryStore::new()
//! }
//! // In a test file: one `#[tokio::test]` per property. For a store behind a
//! // service, put the attribute first:
//! // `store_conformance!(#[ignore = "needs PostgreSQL: run scripts/test.sh"] fresh_postgres);`
//! mfa_core::store_conformance!(fresh);
//!
//! // Or every property in one call:
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! mfa_core::store::conformance::run_all(fresh).await;
//! # });
//! ```
//!
//! The concurrency properties put 64 operations in flight at once (one task polls
//! them all, so a store with a connection pool sees them concurrently); races across
//! OS threads and processes are for each store's own tests.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test suite: a failed expectation panics

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use super::{Failures, RecordedFailure, Removal, Store};
use crate::challenge::{Answer, Challenge, ChallengeStatus};
use crate::clock::Timestamp;
use crate::code::{CodeHash, OsRandomness, Randomness, SecretBytes};
use crate::delivery::Purpose;
use crate::method::{
    AppCredential, ChallengeId, Extension, Method, MethodId, MethodRecord, MethodStatus, PhoneMode,
};
use crate::phone::PhoneNumber;
use crate::user::UserId;

/// How many operations the concurrency properties put in flight at once.
pub const CONCURRENCY: usize = 64;

/// A fixed point in time the properties start from.
pub const T0: Timestamp = Timestamp::from_unix_secs(1_700_000_000);

/// Every property's name, in the order [`run_all`] runs them.
pub const PROPERTIES: &[&str] = &[
    "methods_round_trip_in_insertion_order",
    "first_activated_method_becomes_default",
    "activate_with_make_default_moves_the_default",
    "activate_needs_a_pending_method",
    "activate_replacing_removes_the_old_method_and_inherits_default",
    "remove_refuses_the_last_active_method_unless_allowed",
    "removing_the_default_passes_it_to_the_oldest_active",
    "set_default_needs_an_active_method",
    "blocked_methods_stay_listed_and_lose_default",
    "remove_all_methods_clears_methods_steps_and_recovery_codes",
    "app_steps_only_move_forward",
    "challenges_round_trip",
    "record_failure_counts_and_locks_at_the_cap",
    "record_failure_counts_only_while_awaiting_a_code_and_unexpired",
    "approve_succeeds_exactly_once",
    "approve_checks_generation_expiry_and_cap",
    "replace_code_checks_generation_and_keeps_attempts",
    "close_challenge_moves_only_from_the_given_states",
    "hits_count_in_fixed_windows",
    "user_failures_count_and_clear",
    "recovery_codes_are_consumed_once",
    "concurrent_approvals_approve_once",
    "concurrent_failures_count_to_the_cap",
    "concurrent_app_steps_accept_once",
    "odd_ids_are_stored_exactly_and_kept_apart",
];

/// Runs every property, each against a fresh store from `fresh`.
pub async fn run_all<S, F, Fut>(mut fresh: F)
where
    S: Store,
    F: FnMut() -> Fut,
    Fut: Future<Output = S>,
{
    methods_round_trip_in_insertion_order(fresh().await).await;
    first_activated_method_becomes_default(fresh().await).await;
    activate_with_make_default_moves_the_default(fresh().await).await;
    activate_needs_a_pending_method(fresh().await).await;
    activate_replacing_removes_the_old_method_and_inherits_default(fresh().await).await;
    remove_refuses_the_last_active_method_unless_allowed(fresh().await).await;
    removing_the_default_passes_it_to_the_oldest_active(fresh().await).await;
    set_default_needs_an_active_method(fresh().await).await;
    blocked_methods_stay_listed_and_lose_default(fresh().await).await;
    remove_all_methods_clears_methods_steps_and_recovery_codes(fresh().await).await;
    app_steps_only_move_forward(fresh().await).await;
    challenges_round_trip(fresh().await).await;
    record_failure_counts_and_locks_at_the_cap(fresh().await).await;
    record_failure_counts_only_while_awaiting_a_code_and_unexpired(fresh().await).await;
    approve_succeeds_exactly_once(fresh().await).await;
    approve_checks_generation_expiry_and_cap(fresh().await).await;
    replace_code_checks_generation_and_keeps_attempts(fresh().await).await;
    close_challenge_moves_only_from_the_given_states(fresh().await).await;
    hits_count_in_fixed_windows(fresh().await).await;
    user_failures_count_and_clear(fresh().await).await;
    recovery_codes_are_consumed_once(fresh().await).await;
    concurrent_approvals_approve_once(fresh().await).await;
    concurrent_failures_count_to_the_cap(fresh().await).await;
    concurrent_app_steps_accept_once(fresh().await).await;
    odd_ids_are_stored_exactly_and_kept_apart(fresh().await).await;
}

/// Generates one `#[tokio::test]` per property, each calling `$fresh().await` for its
/// store. Attributes given first (such as `#[ignore = "..."]`) go on every test.
#[macro_export]
macro_rules! store_conformance {
    ($(#[$attr:meta])* $fresh:path) => {
        $crate::store_conformance!(@each [$(#[$attr])*] $fresh;
            methods_round_trip_in_insertion_order,
            first_activated_method_becomes_default,
            activate_with_make_default_moves_the_default,
            activate_needs_a_pending_method,
            activate_replacing_removes_the_old_method_and_inherits_default,
            remove_refuses_the_last_active_method_unless_allowed,
            removing_the_default_passes_it_to_the_oldest_active,
            set_default_needs_an_active_method,
            blocked_methods_stay_listed_and_lose_default,
            remove_all_methods_clears_methods_steps_and_recovery_codes,
            app_steps_only_move_forward,
            challenges_round_trip,
            record_failure_counts_and_locks_at_the_cap,
            record_failure_counts_only_while_awaiting_a_code_and_unexpired,
            approve_succeeds_exactly_once,
            approve_checks_generation_expiry_and_cap,
            replace_code_checks_generation_and_keeps_attempts,
            close_challenge_moves_only_from_the_given_states,
            hits_count_in_fixed_windows,
            user_failures_count_and_clear,
            recovery_codes_are_consumed_once,
            concurrent_approvals_approve_once,
            concurrent_failures_count_to_the_cap,
            concurrent_app_steps_accept_once,
            odd_ids_are_stored_exactly_and_kept_apart
        );
    };
    (@each $attrs:tt $fresh:path; $($name:ident),* $(,)?) => {
        $( $crate::store_conformance!(@one $attrs $fresh; $name); )*
    };
    (@one [$(#[$attr:meta])*] $fresh:path; $name:ident) => {
        $(#[$attr])*
        #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            $crate::store::conformance::$name($fresh().await).await;
        }
    };
}

// --- fixtures --------------------------------------------------------------------

fn suffix() -> String {
    let mut bytes = [0u8; 8];
    OsRandomness.fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A fresh user, unique across runs.
pub fn fresh_user() -> UserId {
    UserId::new(format!("conformance-{}@example.no", suffix())).expect("valid user id")
}

fn method_id() -> MethodId {
    MethodId::generate(&OsRandomness)
}

fn challenge_id() -> ChallengeId {
    ChallengeId::generate(&OsRandomness)
}

fn hash(byte: u8) -> CodeHash {
    let mut h = [byte; 32];
    // Keep hashes of different runs apart, for stores shared between runs.
    OsRandomness.fill(&mut h[..8]);
    CodeHash(h)
}

fn sms_method(national: &str) -> Method {
    Method::AuthenticationPhone {
        number: PhoneNumber::from_parts(47, national).expect("valid number"),
        mode: PhoneMode::Sms,
    }
}

/// A pending record of `method`, created at `T0 + offset` seconds.
fn pending(method: Method, offset: u64) -> MethodRecord {
    MethodRecord {
        id: method_id(),
        method,
        status: MethodStatus::Pending,
        is_default: false,
        created_at: T0 + Duration::from_secs(offset),
        app: None,
        replaces: None,
    }
}

fn app_record(offset: u64) -> MethodRecord {
    let mut secret = vec![0u8; 20];
    OsRandomness.fill(&mut secret);
    MethodRecord {
        app: Some(AppCredential {
            secret: SecretBytes::new(secret),
            parameters: "SHA1;6;30".to_owned(),
        }),
        ..pending(Method::AuthenticatorApp, offset)
    }
}

/// A challenge awaiting a sent code: 5 attempts, 5 minutes.
pub fn awaiting_challenge(user: &UserId) -> Challenge {
    Challenge {
        id: challenge_id(),
        user: user.clone(),
        method_id: method_id(),
        purpose: Purpose::SignIn,
        status: ChallengeStatus::AwaitingCode,
        answer: Answer::SentCode(hash(7)),
        generation: 0,
        attempts: 0,
        max_attempts: 5,
        sends: 1,
        created_at: T0,
        expires_at: T0 + Duration::from_secs(300),
        last_sent_at: Some(T0),
        approved_at: None,
    }
}

async fn insert_active(
    store: &dyn Store,
    user: &UserId,
    record: MethodRecord,
    default: bool,
) -> MethodId {
    let id = record.id.clone();
    store
        .insert_method(user, record)
        .await
        .expect("insert_method");
    assert!(
        store
            .activate_method(user, &id, default)
            .await
            .expect("activate_method"),
        "activating a fresh pending method"
    );
    id
}

async fn record_of(store: &dyn Store, user: &UserId, id: &MethodId) -> Option<MethodRecord> {
    store
        .methods(user)
        .await
        .expect("methods")
        .into_iter()
        .find(|m| &m.id == id)
}

async fn defaults(store: &dyn Store, user: &UserId) -> Vec<MethodId> {
    store
        .methods(user)
        .await
        .expect("methods")
        .into_iter()
        .filter(|m| m.is_default)
        .map(|m| m.id)
        .collect()
}

async fn load(store: &dyn Store, id: &ChallengeId) -> Challenge {
    store
        .challenge(id)
        .await
        .expect("challenge")
        .expect("the challenge exists")
}

type Boxed<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

fn boxed<'a, T>(f: impl Future<Output = T> + Send + 'a) -> Boxed<'a, T> {
    Box::pin(f)
}

/// Polls every future until all are done, so they are all in flight at once.
async fn join_all<T: Unpin>(futures: Vec<Boxed<'_, T>>) -> Vec<T> {
    struct JoinAll<'a, T> {
        futures: Vec<Option<Boxed<'a, T>>>,
        results: Vec<Option<T>>,
    }
    impl<T: Unpin> Future for JoinAll<'_, T> {
        type Output = Vec<T>;
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Vec<T>> {
            let this = self.get_mut();
            let mut pending = false;
            for (slot, result) in this.futures.iter_mut().zip(this.results.iter_mut()) {
                if let Some(f) = slot {
                    match f.as_mut().poll(cx) {
                        Poll::Ready(v) => {
                            *result = Some(v);
                            *slot = None;
                        }
                        Poll::Pending => pending = true,
                    }
                }
            }
            if pending {
                Poll::Pending
            } else {
                Poll::Ready(this.results.iter_mut().filter_map(Option::take).collect())
            }
        }
    }
    let n = futures.len();
    JoinAll {
        futures: futures.into_iter().map(Some).collect(),
        results: (0..n).map(|_| None).collect(),
    }
    .await
}

// --- methods -----------------------------------------------------------------------

/// Every kind of method record comes back as stored, in insertion order, per user.
pub async fn methods_round_trip_in_insertion_order(store: impl Store) {
    let user = fresh_user();
    let other = fresh_user();
    assert!(store.methods(&user).await.expect("methods").is_empty());
    let sms = pending(sms_method("412 34 567"), 0);
    let call = pending(
        Method::AuthenticationPhone {
            number: PhoneNumber::from_parts(44, "7400 123456").expect("valid number"),
            mode: PhoneMode::Call,
        },
        1,
    );
    let office = MethodRecord {
        replaces: Some(sms.id.clone()),
        ..pending(
            Method::OfficePhone {
                number: PhoneNumber::from_parts(47, "22 12 34 56").expect("valid number"),
                extension: Some(Extension::parse("1234").expect("valid extension")),
            },
            2,
        )
    };
    let office_plain = pending(
        Method::OfficePhone {
            number: PhoneNumber::from_parts(47, "22 12 34 57").expect("valid number"),
            extension: None,
        },
        3,
    );
    let app = app_record(4);
    let all = vec![sms, call, office, office_plain, app];
    for r in &all {
        store
            .insert_method(&user, r.clone())
            .await
            .expect("insert_method");
    }
    store
        .insert_method(&other, pending(sms_method("412 34 568"), 9))
        .await
        .expect("insert_method");
    assert_eq!(store.methods(&user).await.expect("methods"), all);
    assert_eq!(store.methods(&other).await.expect("methods").len(), 1);
}

/// The first method to become active is the default, without asking.
pub async fn first_activated_method_becomes_default(store: impl Store) {
    let user = fresh_user();
    let first = insert_active(&store, &user, pending(sms_method("412 34 567"), 0), false).await;
    let record = record_of(&store, &user, &first).await.expect("listed");
    assert_eq!(record.status, MethodStatus::Active);
    assert!(record.is_default);
    let second = insert_active(&store, &user, app_record(1), false).await;
    assert_eq!(defaults(&store, &user).await, vec![first]);
    assert_eq!(
        record_of(&store, &user, &second)
            .await
            .expect("listed")
            .status,
        MethodStatus::Active
    );
}

/// `make_default` makes the activated method the only default.
pub async fn activate_with_make_default_moves_the_default(store: impl Store) {
    let user = fresh_user();
    insert_active(&store, &user, pending(sms_method("412 34 567"), 0), false).await;
    let second = insert_active(&store, &user, app_record(1), true).await;
    assert_eq!(defaults(&store, &user).await, vec![second]);
}

/// Only a pending method of this user activates; twice is refused.
pub async fn activate_needs_a_pending_method(store: impl Store) {
    let user = fresh_user();
    let other = fresh_user();
    assert!(
        !store
            .activate_method(&user, &method_id(), true)
            .await
            .expect("activate")
    );
    let record = pending(sms_method("412 34 567"), 0);
    let id = record.id.clone();
    store
        .insert_method(&user, record)
        .await
        .expect("insert_method");
    assert!(
        !store
            .activate_method(&other, &id, true)
            .await
            .expect("activate"),
        "another user's method"
    );
    assert!(
        store
            .activate_method(&user, &id, false)
            .await
            .expect("activate")
    );
    assert!(
        !store
            .activate_method(&user, &id, false)
            .await
            .expect("activate"),
        "already active"
    );
}

/// A changed number: activating the new record removes the old one (and its app
/// step) in the same step, and the default passes to the new one.
pub async fn activate_replacing_removes_the_old_method_and_inherits_default(store: impl Store) {
    let user = fresh_user();
    let old = insert_active(&store, &user, pending(sms_method("412 34 567"), 0), false).await;
    let app = insert_active(&store, &user, app_record(1), false).await;
    assert!(
        store
            .advance_app_step(&user, &old, 10)
            .await
            .expect("advance")
    );
    let new = MethodRecord {
        replaces: Some(old.clone()),
        ..pending(sms_method("412 34 568"), 2)
    };
    let new_id = new.id.clone();
    store
        .insert_method(&user, new)
        .await
        .expect("insert_method");
    // Until verified, the old number stays in force.
    assert_eq!(defaults(&store, &user).await, vec![old.clone()]);
    assert!(
        store
            .activate_method(&user, &new_id, false)
            .await
            .expect("activate")
    );
    let methods = store.methods(&user).await.expect("methods");
    assert!(
        methods.iter().all(|m| m.id != old),
        "the replaced method is gone"
    );
    let new_record = methods.iter().find(|m| m.id == new_id).expect("listed");
    assert_eq!(new_record.status, MethodStatus::Active);
    assert_eq!(new_record.replaces, None);
    assert_eq!(defaults(&store, &user).await, vec![new_id.clone()]);
    assert_eq!(store.app_step(&user, &old).await.expect("app_step"), None);

    // Replacing a method that is not the default leaves the default alone.
    let newer = MethodRecord {
        replaces: Some(app.clone()),
        ..app_record(3)
    };
    let newer_id = newer.id.clone();
    store
        .insert_method(&user, newer)
        .await
        .expect("insert_method");
    assert!(
        store
            .activate_method(&user, &newer_id, false)
            .await
            .expect("activate")
    );
    assert_eq!(defaults(&store, &user).await, vec![new_id]);
    assert!(record_of(&store, &user, &app).await.is_none());
}

/// The last active method stays unless `allow_last`; pending ones always go.
pub async fn remove_refuses_the_last_active_method_unless_allowed(store: impl Store) {
    let user = fresh_user();
    assert_eq!(
        store
            .remove_method(&user, &method_id(), false)
            .await
            .expect("remove"),
        Removal::NotFound
    );
    let only = insert_active(&store, &user, pending(sms_method("412 34 567"), 0), false).await;
    let waiting = pending(app_record(1).method, 1);
    let waiting_id = waiting.id.clone();
    store
        .insert_method(&user, waiting)
        .await
        .expect("insert_method");
    assert_eq!(
        store
            .remove_method(&user, &only, false)
            .await
            .expect("remove"),
        Removal::LastMethod
    );
    assert!(record_of(&store, &user, &only).await.is_some());
    assert_eq!(
        store
            .remove_method(&user, &waiting_id, false)
            .await
            .expect("remove"),
        Removal::Removed
    );
    assert_eq!(
        store
            .remove_method(&user, &waiting_id, false)
            .await
            .expect("remove"),
        Removal::NotFound
    );
    assert!(
        store
            .advance_app_step(&user, &only, 3)
            .await
            .expect("advance")
    );
    assert_eq!(
        store
            .remove_method(&user, &only, true)
            .await
            .expect("remove"),
        Removal::Removed
    );
    assert!(store.methods(&user).await.expect("methods").is_empty());
    assert_eq!(
        store.app_step(&user, &only).await.expect("app_step"),
        None,
        "the step goes with the method"
    );
}

/// When the default goes, the oldest remaining active method becomes default.
pub async fn removing_the_default_passes_it_to_the_oldest_active(store: impl Store) {
    let user = fresh_user();
    let a = insert_active(&store, &user, pending(sms_method("412 34 567"), 0), false).await;
    let b = insert_active(&store, &user, app_record(1), false).await;
    let c = insert_active(&store, &user, pending(sms_method("412 34 568"), 2), true).await;
    assert_eq!(defaults(&store, &user).await, vec![c.clone()]);
    assert_eq!(
        store.remove_method(&user, &c, false).await.expect("remove"),
        Removal::Removed
    );
    assert_eq!(defaults(&store, &user).await, vec![a.clone()]);
    assert_eq!(
        store.remove_method(&user, &a, false).await.expect("remove"),
        Removal::Removed
    );
    assert_eq!(defaults(&store, &user).await, vec![b]);
}

/// Only an active method of this user can become default; it is then the only one.
pub async fn set_default_needs_an_active_method(store: impl Store) {
    let user = fresh_user();
    let other = fresh_user();
    let a = insert_active(&store, &user, pending(sms_method("412 34 567"), 0), false).await;
    let b = insert_active(&store, &user, app_record(1), false).await;
    let waiting = pending(sms_method("412 34 568"), 2);
    let waiting_id = waiting.id.clone();
    store
        .insert_method(&user, waiting)
        .await
        .expect("insert_method");
    assert!(
        !store
            .set_default(&user, &waiting_id)
            .await
            .expect("set_default"),
        "pending"
    );
    assert!(
        !store
            .set_default(&user, &method_id())
            .await
            .expect("set_default"),
        "unknown"
    );
    assert!(
        !store.set_default(&other, &b).await.expect("set_default"),
        "another user's"
    );
    assert_eq!(defaults(&store, &user).await, vec![a.clone()]);
    assert!(store.set_default(&user, &b).await.expect("set_default"));
    assert_eq!(defaults(&store, &user).await, vec![b.clone()]);
    assert!(store.set_default(&user, &a).await.expect("set_default"));
    assert_eq!(defaults(&store, &user).await, vec![a]);
}

/// A blocked method stays listed, is no longer default, and the default moves on.
pub async fn blocked_methods_stay_listed_and_lose_default(store: impl Store) {
    let user = fresh_user();
    let a = insert_active(&store, &user, pending(sms_method("412 34 567"), 0), false).await;
    let b = insert_active(&store, &user, app_record(1), false).await;
    assert!(
        !store
            .block_method(&user, &method_id())
            .await
            .expect("block")
    );
    assert!(store.block_method(&user, &a).await.expect("block"));
    let blocked = record_of(&store, &user, &a).await.expect("still listed");
    assert_eq!(blocked.status, MethodStatus::Blocked);
    assert!(!blocked.is_default);
    assert_eq!(defaults(&store, &user).await, vec![b.clone()]);
    assert!(
        !store.set_default(&user, &a).await.expect("set_default"),
        "a blocked method is not active"
    );
    assert!(
        !store
            .activate_method(&user, &a, true)
            .await
            .expect("activate"),
        "nor pending"
    );
    // With the blocked one gone, b is the last active method.
    assert_eq!(
        store.remove_method(&user, &a, false).await.expect("remove"),
        Removal::Removed
    );
    assert_eq!(
        store.remove_method(&user, &b, false).await.expect("remove"),
        Removal::LastMethod
    );
}

/// An administrator's reset removes every method, app step and recovery code of the
/// user, and nothing of anyone else.
pub async fn remove_all_methods_clears_methods_steps_and_recovery_codes(store: impl Store) {
    let user = fresh_user();
    let other = fresh_user();
    let a = insert_active(&store, &user, pending(sms_method("412 34 567"), 0), false).await;
    let b = insert_active(&store, &user, app_record(1), false).await;
    let o = insert_active(&store, &other, app_record(2), false).await;
    assert!(store.advance_app_step(&user, &b, 5).await.expect("advance"));
    assert!(
        store
            .advance_app_step(&other, &o, 5)
            .await
            .expect("advance")
    );
    let code = hash(1);
    store
        .replace_recovery_codes(&user, vec![code])
        .await
        .expect("replace");
    store
        .replace_recovery_codes(&other, vec![code])
        .await
        .expect("replace");
    store.remove_all_methods(&user).await.expect("remove_all");
    assert!(store.methods(&user).await.expect("methods").is_empty());
    assert_eq!(store.app_step(&user, &b).await.expect("app_step"), None);
    assert_eq!(store.app_step(&user, &a).await.expect("app_step"), None);
    assert_eq!(
        store
            .consume_recovery_code(&user, &code)
            .await
            .expect("consume"),
        None
    );
    assert_eq!(store.methods(&other).await.expect("methods").len(), 1);
    assert_eq!(store.app_step(&other, &o).await.expect("app_step"), Some(5));
    assert_eq!(
        store
            .consume_recovery_code(&other, &code)
            .await
            .expect("consume"),
        Some(0)
    );
    store
        .remove_all_methods(&user)
        .await
        .expect("a second reset is harmless");
}

/// The last accepted step moves only forward; replays and older steps are refused.
pub async fn app_steps_only_move_forward(store: impl Store) {
    let user = fresh_user();
    let id = insert_active(&store, &user, app_record(0), false).await;
    let other_id = method_id();
    assert_eq!(store.app_step(&user, &id).await.expect("app_step"), None);
    assert!(
        store
            .advance_app_step(&user, &id, 0)
            .await
            .expect("advance"),
        "step 0 is a first step"
    );
    assert!(
        !store
            .advance_app_step(&user, &id, 0)
            .await
            .expect("advance"),
        "replay"
    );
    assert!(
        store
            .advance_app_step(&user, &id, 56_666_667)
            .await
            .expect("advance")
    );
    assert!(
        !store
            .advance_app_step(&user, &id, 56_666_666)
            .await
            .expect("advance"),
        "older"
    );
    assert!(
        !store
            .advance_app_step(&user, &id, 56_666_667)
            .await
            .expect("advance"),
        "replay"
    );
    // Steps beyond 2^53 keep exact order (counters are u64).
    let big = u64::MAX - 1;
    assert!(
        store
            .advance_app_step(&user, &id, big)
            .await
            .expect("advance")
    );
    assert!(
        !store
            .advance_app_step(&user, &id, big - 1)
            .await
            .expect("advance")
    );
    assert!(
        store
            .advance_app_step(&user, &id, u64::MAX)
            .await
            .expect("advance")
    );
    assert_eq!(
        store.app_step(&user, &id).await.expect("app_step"),
        Some(u64::MAX)
    );
    // Steps are per method and per user.
    assert_eq!(
        store.app_step(&user, &other_id).await.expect("app_step"),
        None
    );
    assert!(
        store
            .advance_app_step(&user, &other_id, 1)
            .await
            .expect("advance")
    );
    assert_eq!(
        store.app_step(&fresh_user(), &id).await.expect("app_step"),
        None
    );
}

// --- challenges --------------------------------------------------------------------

/// Challenges come back as stored, whatever their answer and optional fields; an
/// unknown id is `None`; inserting the same id again replaces it.
pub async fn challenges_round_trip(store: impl Store) {
    let user = fresh_user();
    assert_eq!(
        store.challenge(&challenge_id()).await.expect("challenge"),
        None
    );
    let sent = awaiting_challenge(&user);
    let app = Challenge {
        id: challenge_id(),
        purpose: Purpose::Enrollment,
        answer: Answer::AppCode,
        sends: 0,
        last_sent_at: None,
        expires_at: T0 + Duration::from_secs(600),
        ..awaiting_challenge(&user)
    };
    let call = Challenge {
        id: challenge_id(),
        status: ChallengeStatus::AwaitingCallConfirmation,
        answer: Answer::KeyPress,
        generation: 3,
        attempts: 2,
        max_attempts: 7,
        sends: 4,
        last_sent_at: Some(T0 + Duration::from_millis(1_234)),
        ..awaiting_challenge(&user)
    };
    let approved = Challenge {
        id: challenge_id(),
        status: ChallengeStatus::Approved,
        answer: Answer::KeyPress,
        approved_at: Some(T0 + Duration::from_millis(5_001)),
        ..awaiting_challenge(&user)
    };
    for c in [&sent, &app, &call, &approved] {
        store
            .insert_challenge(c.clone())
            .await
            .expect("insert_challenge");
    }
    for c in [&sent, &app, &call, &approved] {
        assert_eq!(&load(&store, &c.id).await, c);
    }
    let replaced = Challenge {
        status: ChallengeStatus::Canceled,
        ..sent.clone()
    };
    store
        .insert_challenge(replaced.clone())
        .await
        .expect("insert_challenge");
    assert_eq!(load(&store, &sent.id).await, replaced);
}

/// Wrong attempts are counted one by one; at the cap the challenge locks and
/// nothing more is counted.
pub async fn record_failure_counts_and_locks_at_the_cap(store: impl Store) {
    let user = fresh_user();
    assert_eq!(
        store
            .record_failure(&challenge_id(), T0)
            .await
            .expect("record_failure"),
        None
    );
    let c = awaiting_challenge(&user);
    store
        .insert_challenge(c.clone())
        .await
        .expect("insert_challenge");
    for n in 1..c.max_attempts {
        let after = store
            .record_failure(&c.id, T0)
            .await
            .expect("record_failure")
            .expect("exists")
            .challenge;
        assert_eq!(after.attempts, n);
        assert_eq!(after.status, ChallengeStatus::AwaitingCode);
    }
    let last = store
        .record_failure(&c.id, T0)
        .await
        .expect("record_failure")
        .expect("exists")
        .challenge;
    assert_eq!(last.attempts, c.max_attempts);
    assert_eq!(last.status, ChallengeStatus::Locked);
    let again = store
        .record_failure(&c.id, T0)
        .await
        .expect("record_failure")
        .expect("exists")
        .challenge;
    assert_eq!(again, last, "nothing is counted past the cap");
    assert_eq!(load(&store, &c.id).await, last);
}

/// No attempt is counted on an expired, closed or call-confirmation challenge.
pub async fn record_failure_counts_only_while_awaiting_a_code_and_unexpired(store: impl Store) {
    let user = fresh_user();
    let c = awaiting_challenge(&user);
    store
        .insert_challenge(c.clone())
        .await
        .expect("insert_challenge");
    let at_expiry = store
        .record_failure(&c.id, c.expires_at)
        .await
        .expect("record_failure")
        .expect("exists")
        .challenge;
    assert_eq!(at_expiry, c, "expired at expires_at exactly");
    let just_before = c.expires_at - Duration::from_millis(1);
    let counted = store
        .record_failure(&c.id, just_before)
        .await
        .expect("record_failure")
        .expect("exists")
        .challenge;
    assert_eq!(counted.attempts, 1);

    for status in [
        ChallengeStatus::AwaitingCallConfirmation,
        ChallengeStatus::Approved,
        ChallengeStatus::Completed,
        ChallengeStatus::Canceled,
        ChallengeStatus::Expired,
        ChallengeStatus::Denied,
    ] {
        let closed = Challenge {
            id: challenge_id(),
            status,
            ..awaiting_challenge(&user)
        };
        store
            .insert_challenge(closed.clone())
            .await
            .expect("insert_challenge");
        let after = store
            .record_failure(&closed.id, T0)
            .await
            .expect("record_failure")
            .expect("exists")
            .challenge;
        assert_eq!(after, closed, "nothing counted while {status:?}");
    }
}

/// A correct code approves once: a second approval of the same challenge is refused.
pub async fn approve_succeeds_exactly_once(store: impl Store) {
    let user = fresh_user();
    assert!(
        !store
            .approve(&challenge_id(), 0, T0)
            .await
            .expect("approve"),
        "unknown challenge"
    );
    let c = awaiting_challenge(&user);
    store
        .insert_challenge(c.clone())
        .await
        .expect("insert_challenge");
    let at = T0 + Duration::from_secs(10);
    assert!(store.approve(&c.id, 0, at).await.expect("approve"));
    assert!(!store.approve(&c.id, 0, at).await.expect("approve"));
    let after = load(&store, &c.id).await;
    assert_eq!(after.status, ChallengeStatus::Approved);
    assert_eq!(after.approved_at, Some(at));
    assert_eq!(after.attempts, 0);

    let call = Challenge {
        id: challenge_id(),
        status: ChallengeStatus::AwaitingCallConfirmation,
        answer: Answer::KeyPress,
        ..awaiting_challenge(&user)
    };
    store
        .insert_challenge(call.clone())
        .await
        .expect("insert_challenge");
    assert!(
        store.approve(&call.id, 0, T0).await.expect("approve"),
        "a key press approves a call"
    );
    assert!(!store.approve(&call.id, 0, T0).await.expect("approve"));
}

/// Approval needs the current generation, an unexpired code, attempts under the cap
/// and an awaiting challenge.
pub async fn approve_checks_generation_expiry_and_cap(store: impl Store) {
    let user = fresh_user();
    let c = Challenge {
        generation: 2,
        ..awaiting_challenge(&user)
    };
    store
        .insert_challenge(c.clone())
        .await
        .expect("insert_challenge");
    assert!(
        !store.approve(&c.id, 1, T0).await.expect("approve"),
        "an old code's generation"
    );
    assert!(
        !store.approve(&c.id, 3, T0).await.expect("approve"),
        "a future generation"
    );
    assert!(
        !store
            .approve(&c.id, 2, c.expires_at)
            .await
            .expect("approve"),
        "expired"
    );
    assert_eq!(load(&store, &c.id).await, c, "refusals change nothing");
    assert!(
        store
            .approve(&c.id, 2, c.expires_at - Duration::from_millis(1))
            .await
            .expect("approve")
    );

    let capped = Challenge {
        id: challenge_id(),
        attempts: 5,
        max_attempts: 5,
        ..awaiting_challenge(&user)
    };
    store
        .insert_challenge(capped.clone())
        .await
        .expect("insert_challenge");
    assert!(
        !store.approve(&capped.id, 0, T0).await.expect("approve"),
        "at the cap"
    );

    for status in [
        ChallengeStatus::Locked,
        ChallengeStatus::Canceled,
        ChallengeStatus::Expired,
        ChallengeStatus::Denied,
        ChallengeStatus::Completed,
    ] {
        let closed = Challenge {
            id: challenge_id(),
            status,
            ..awaiting_challenge(&user)
        };
        store
            .insert_challenge(closed.clone())
            .await
            .expect("insert_challenge");
        assert!(
            !store.approve(&closed.id, 0, T0).await.expect("approve"),
            "{status:?}"
        );
        assert_eq!(load(&store, &closed.id).await, closed);
    }
}

/// A resend replaces the code at the current generation only: the generation and
/// send count go up, attempts stay, the old code's guard dies.
pub async fn replace_code_checks_generation_and_keeps_attempts(store: impl Store) {
    let user = fresh_user();
    let c = awaiting_challenge(&user);
    store
        .insert_challenge(c.clone())
        .await
        .expect("insert_challenge");
    store
        .record_failure(&c.id, T0)
        .await
        .expect("record_failure");
    store
        .record_failure(&c.id, T0)
        .await
        .expect("record_failure");
    let new_hash = hash(9);
    let at = T0 + Duration::from_secs(70);
    let expires = at + Duration::from_secs(300);
    assert!(
        !store
            .replace_code(&challenge_id(), 0, Some(new_hash), expires, at)
            .await
            .expect("replace_code")
    );
    assert!(
        !store
            .replace_code(&c.id, 1, Some(new_hash), expires, at)
            .await
            .expect("replace_code")
    );
    assert!(
        store
            .replace_code(&c.id, 0, Some(new_hash), expires, at)
            .await
            .expect("replace_code")
    );
    assert!(
        !store
            .replace_code(&c.id, 0, Some(hash(3)), expires, at)
            .await
            .expect("replace_code"),
        "raced resend"
    );
    let after = load(&store, &c.id).await;
    assert_eq!(after.generation, 1);
    assert_eq!(after.sends, 2);
    assert_eq!(after.attempts, 2, "a resend never resets the count");
    assert_eq!(after.answer, Answer::SentCode(new_hash));
    assert_eq!(after.expires_at, expires);
    assert_eq!(after.last_sent_at, Some(at));
    assert_eq!(after.status, ChallengeStatus::AwaitingCode);
    assert!(
        !store.approve(&c.id, 0, at).await.expect("approve"),
        "the old code is dead"
    );

    // A call is placed again without a code: the answer stays a key press.
    let call = Challenge {
        id: challenge_id(),
        status: ChallengeStatus::AwaitingCallConfirmation,
        answer: Answer::KeyPress,
        ..awaiting_challenge(&user)
    };
    store
        .insert_challenge(call.clone())
        .await
        .expect("insert_challenge");
    assert!(
        store
            .replace_code(&call.id, 0, None, expires, at)
            .await
            .expect("replace_code")
    );
    let after = load(&store, &call.id).await;
    assert_eq!(
        (after.answer, after.generation, after.sends),
        (Answer::KeyPress, 1, 2)
    );

    // Nothing is replaced once expired or closed.
    let expired = awaiting_challenge(&user);
    store
        .insert_challenge(expired.clone())
        .await
        .expect("insert_challenge");
    assert!(
        !store
            .replace_code(&expired.id, 0, Some(new_hash), expires, expired.expires_at)
            .await
            .expect("replace_code")
    );
    assert!(
        store
            .close_challenge(
                &expired.id,
                &[ChallengeStatus::AwaitingCode],
                ChallengeStatus::Locked
            )
            .await
            .expect("close")
    );
    assert!(
        !store
            .replace_code(&expired.id, 0, Some(new_hash), expires, T0)
            .await
            .expect("replace_code")
    );
    assert_eq!(load(&store, &expired.id).await.generation, 0);
}

/// A challenge moves only from one of the given states.
pub async fn close_challenge_moves_only_from_the_given_states(store: impl Store) {
    let user = fresh_user();
    let awaiting = [
        ChallengeStatus::AwaitingCode,
        ChallengeStatus::AwaitingCallConfirmation,
    ];
    assert!(
        !store
            .close_challenge(&challenge_id(), &awaiting, ChallengeStatus::Canceled)
            .await
            .expect("close")
    );
    let c = awaiting_challenge(&user);
    store
        .insert_challenge(c.clone())
        .await
        .expect("insert_challenge");
    assert!(
        !store
            .close_challenge(
                &c.id,
                &[ChallengeStatus::Approved],
                ChallengeStatus::Completed
            )
            .await
            .expect("close")
    );
    assert!(
        !store
            .close_challenge(&c.id, &[], ChallengeStatus::Canceled)
            .await
            .expect("close")
    );
    assert!(store.approve(&c.id, 0, T0).await.expect("approve"));
    assert!(
        !store
            .close_challenge(&c.id, &awaiting, ChallengeStatus::Expired)
            .await
            .expect("close")
    );
    assert!(
        store
            .close_challenge(
                &c.id,
                &[ChallengeStatus::Approved],
                ChallengeStatus::Completed
            )
            .await
            .expect("close")
    );
    assert!(
        !store
            .close_challenge(
                &c.id,
                &[ChallengeStatus::Approved],
                ChallengeStatus::Completed
            )
            .await
            .expect("close"),
        "once"
    );
    let after = load(&store, &c.id).await;
    assert_eq!(after.status, ChallengeStatus::Completed);
    assert_eq!(after.approved_at, Some(T0), "closing keeps the rest");

    let every = [
        ChallengeStatus::AwaitingCode,
        ChallengeStatus::AwaitingCallConfirmation,
        ChallengeStatus::Approved,
        ChallengeStatus::Completed,
        ChallengeStatus::Locked,
        ChallengeStatus::Expired,
        ChallengeStatus::Canceled,
        ChallengeStatus::Denied,
    ];
    for to in every {
        let c = Challenge {
            id: challenge_id(),
            status: ChallengeStatus::AwaitingCallConfirmation,
            ..awaiting_challenge(&user)
        };
        store
            .insert_challenge(c.clone())
            .await
            .expect("insert_challenge");
        assert!(
            store
                .close_challenge(&c.id, &awaiting, to)
                .await
                .expect("close")
        );
        assert_eq!(load(&store, &c.id).await.status, to);
    }
}

// --- counters ----------------------------------------------------------------------

/// Hits count up within a fixed window; at `resets_at` a new window starts at 1.
pub async fn hits_count_in_fixed_windows(store: impl Store) {
    let key = format!("dest:conformance-{}", suffix());
    let other = format!("user:conformance-{}", suffix());
    let window = Duration::from_secs(600);
    let first = store.hit(&key, window, T0).await.expect("hit");
    assert_eq!(first.count, 1);
    assert_eq!(first.resets_at, T0 + window);
    let later = T0 + Duration::from_secs(599);
    for n in 2..=4 {
        let h = store.hit(&key, window, later).await.expect("hit");
        assert_eq!(h.count, n);
        assert_eq!(h.resets_at, T0 + window, "a fixed window does not slide");
    }
    assert_eq!(
        store.hit(&other, window, later).await.expect("hit").count,
        1,
        "keys are apart"
    );
    let next = store.hit(&key, window, T0 + window).await.expect("hit");
    assert_eq!(next.count, 1, "a new window at resets_at");
    assert_eq!(next.resets_at, T0 + window + window);
    assert_eq!(
        store
            .hit(&key, window, T0 + window)
            .await
            .expect("hit")
            .count,
        2
    );
}

/// Consecutive failures count per user and clear.
pub async fn user_failures_count_and_clear(store: impl Store) {
    let user = fresh_user();
    let other = fresh_user();
    assert_eq!(
        store.user_failures(&user).await.expect("user_failures"),
        Failures::default()
    );
    let t1 = T0 + Duration::from_secs(1);
    let t2 = T0 + Duration::from_secs(2);
    assert_eq!(
        store.record_user_failure(&user, t1).await.expect("record"),
        Failures {
            count: 1,
            last_at: Some(t1)
        }
    );
    assert_eq!(
        store.record_user_failure(&user, t2).await.expect("record"),
        Failures {
            count: 2,
            last_at: Some(t2)
        }
    );
    store.record_user_failure(&other, t1).await.expect("record");
    assert_eq!(
        store.user_failures(&user).await.expect("user_failures"),
        Failures {
            count: 2,
            last_at: Some(t2)
        }
    );
    store.clear_user_failures(&user).await.expect("clear");
    assert_eq!(
        store.user_failures(&user).await.expect("user_failures"),
        Failures::default()
    );
    assert_eq!(
        store
            .user_failures(&other)
            .await
            .expect("user_failures")
            .count,
        1
    );
    store
        .clear_user_failures(&user)
        .await
        .expect("clearing twice is harmless");
}

/// Each recovery code works once; the count left goes down; a new set kills the old.
pub async fn recovery_codes_are_consumed_once(store: impl Store) {
    let user = fresh_user();
    let other = fresh_user();
    let codes: Vec<CodeHash> = (1..=4).map(hash).collect();
    assert_eq!(
        store
            .consume_recovery_code(&user, &codes[0])
            .await
            .expect("consume"),
        None
    );
    store
        .replace_recovery_codes(&user, codes.clone())
        .await
        .expect("replace");
    assert_eq!(
        store
            .consume_recovery_code(&other, &codes[0])
            .await
            .expect("consume"),
        None,
        "another user's"
    );
    assert_eq!(
        store
            .consume_recovery_code(&user, &hash(99))
            .await
            .expect("consume"),
        None,
        "not in the set"
    );
    assert_eq!(
        store
            .consume_recovery_code(&user, &codes[2])
            .await
            .expect("consume"),
        Some(3)
    );
    assert_eq!(
        store
            .consume_recovery_code(&user, &codes[2])
            .await
            .expect("consume"),
        None,
        "used"
    );
    assert_eq!(
        store
            .consume_recovery_code(&user, &codes[0])
            .await
            .expect("consume"),
        Some(2)
    );
    let fresh: Vec<CodeHash> = (5..=6).map(hash).collect();
    store
        .replace_recovery_codes(&user, fresh.clone())
        .await
        .expect("replace");
    assert_eq!(
        store
            .consume_recovery_code(&user, &codes[1])
            .await
            .expect("consume"),
        None,
        "the old set is dead"
    );
    assert_eq!(
        store
            .consume_recovery_code(&user, &fresh[1])
            .await
            .expect("consume"),
        Some(1)
    );
    assert_eq!(
        store
            .consume_recovery_code(&user, &fresh[0])
            .await
            .expect("consume"),
        Some(0)
    );
    assert_eq!(
        store
            .consume_recovery_code(&user, &fresh[0])
            .await
            .expect("consume"),
        None
    );
    store
        .replace_recovery_codes(&user, Vec::new())
        .await
        .expect("replace with none");
    assert_eq!(
        store
            .consume_recovery_code(&user, &fresh[1])
            .await
            .expect("consume"),
        None
    );
}

// --- concurrency -------------------------------------------------------------------

/// 64 approvals of one challenge at once: exactly one succeeds.
pub async fn concurrent_approvals_approve_once(store: impl Store) {
    let c = awaiting_challenge(&fresh_user());
    store
        .insert_challenge(c.clone())
        .await
        .expect("insert_challenge");
    let store = &store;
    let id = &c.id;
    let results = join_all(
        (0..CONCURRENCY)
            .map(|_| boxed(async move { store.approve(id, 0, T0).await.expect("approve") }))
            .collect(),
    )
    .await;
    assert_eq!(
        results.iter().filter(|ok| **ok).count(),
        1,
        "exactly one approval"
    );
    assert_eq!(load(store, id).await.status, ChallengeStatus::Approved);
}

/// 64 wrong attempts at once: exactly `max_attempts` are counted, then it is locked.
pub async fn concurrent_failures_count_to_the_cap(store: impl Store) {
    let c = awaiting_challenge(&fresh_user());
    store
        .insert_challenge(c.clone())
        .await
        .expect("insert_challenge");
    let store = &store;
    let id = &c.id;
    let recorded: Vec<RecordedFailure> = join_all(
        (0..CONCURRENCY)
            .map(|_| {
                boxed(async move {
                    store
                        .record_failure(id, T0)
                        .await
                        .expect("record_failure")
                        .expect("exists")
                })
            })
            .collect(),
    )
    .await;
    assert_eq!(
        recorded.iter().filter(|r| r.counted).count(),
        c.max_attempts as usize,
        "exactly the cap of callers are told they counted"
    );
    let results: Vec<Challenge> = recorded.into_iter().map(|r| r.challenge).collect();
    let after = load(store, id).await;
    assert_eq!(after.attempts, c.max_attempts, "exactly the cap is counted");
    assert_eq!(after.status, ChallengeStatus::Locked);
    // Every count from 1 to the cap was seen by exactly one caller.
    for n in 1..c.max_attempts {
        let seen = results
            .iter()
            .filter(|r| r.attempts == n && r.status == ChallengeStatus::AwaitingCode)
            .count();
        assert_eq!(seen, 1, "attempt {n} counted once");
    }
    assert!(results.iter().all(|r| r.attempts <= c.max_attempts));
    assert!(
        !store.approve(id, 0, T0).await.expect("approve"),
        "a locked challenge never approves"
    );
}

/// 64 submissions of the same app step at once: exactly one is accepted.
pub async fn concurrent_app_steps_accept_once(store: impl Store) {
    let user = fresh_user();
    let id = insert_active(&store, &user, app_record(0), false).await;
    assert!(
        store
            .advance_app_step(&user, &id, 100)
            .await
            .expect("advance")
    );
    let store = &store;
    let (user, id) = (&user, &id);
    let results = join_all(
        (0..CONCURRENCY)
            .map(|_| {
                boxed(async move {
                    store
                        .advance_app_step(user, id, 101)
                        .await
                        .expect("advance")
                })
            })
            .collect(),
    )
    .await;
    assert_eq!(
        results.iter().filter(|ok| **ok).count(),
        1,
        "one acceptance of step 101"
    );
    assert_eq!(store.app_step(user, id).await.expect("app_step"), Some(101));
}

// --- input the store must not trip over -----------------------------------------------

/// User ids with quotes, separators, non-ASCII text or the full length, and method ids
/// with separators, are stored exactly and never mixed up with each other.
pub async fn odd_ids_are_stored_exactly_and_kept_apart(store: impl Store) {
    let tag = suffix();
    let users: Vec<UserId> = [
        format!("o'brien\"; DROP TABLE x; --{tag}@example.no"),
        format!("a:b|c{tag}@example.no"),
        format!("a:b{tag}|c@example.no"),
        format!("æøå ÆØÅ 名前 🙂 {tag}"),
        format!(
            "{tag}{}",
            "x".repeat(crate::user::MAX_USER_ID_LEN - tag.len())
        ),
    ]
    .into_iter()
    .map(|u| UserId::new(u).expect("a valid user id"))
    .collect();
    for (i, user) in users.iter().enumerate() {
        let record = MethodRecord {
            id: MethodId::parse(&format!("m|{i}:'\"%_{tag}")).expect("a valid method id"),
            replaces: Some(MethodId::parse("x|y:z").expect("a valid method id")),
            ..app_record(i as u64)
        };
        store
            .insert_method(user, record.clone())
            .await
            .expect("insert_method");
        assert_eq!(
            store.methods(user).await.expect("methods"),
            vec![record.clone()]
        );
        for _ in 0..=i {
            store
                .record_user_failure(user, T0)
                .await
                .expect("record_user_failure");
        }
        assert!(
            store
                .advance_app_step(user, &record.id, i as u64 + 1)
                .await
                .expect("advance")
        );
        store
            .replace_recovery_codes(user, vec![hash(i as u8)])
            .await
            .expect("replace");
    }
    for (i, user) in users.iter().enumerate() {
        let methods = store.methods(user).await.expect("methods");
        assert_eq!(methods.len(), 1, "{user:?} sees only its own method");
        assert_eq!(
            store
                .user_failures(user)
                .await
                .expect("user_failures")
                .count,
            i as u32 + 1
        );
        assert_eq!(
            store
                .app_step(user, &methods[0].id)
                .await
                .expect("app_step"),
            Some(i as u64 + 1)
        );
        let challenge = Challenge {
            id: ChallengeId::parse(&format!("c|{i}:'\"{tag}")).expect("a valid challenge id"),
            ..awaiting_challenge(user)
        };
        store
            .insert_challenge(challenge.clone())
            .await
            .expect("insert_challenge");
        assert_eq!(load(&store, &challenge.id).await, challenge);
        let key = format!("user:{}", user.as_str());
        assert_eq!(
            store
                .hit(&key, Duration::from_secs(60), T0)
                .await
                .expect("hit")
                .count,
            1
        );
    }
}
