//! The store conformance suite: every [`Store`] must pass it, so the memory store,
//! embedded databases and shared servers give the same guarantees.
//!
//! Each property is a public async function taking a fresh store. Properties make
//! their own random user ids and window keys, so stores that share one database (a
//! PostgreSQL or Redis server) can run them side by side.
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
//!
//! The property list is written once, in the `properties!` invocation below: it makes
//! [`PROPERTIES`], [`run_all`] and [`store_conformance!`](crate::store_conformance).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test suite: a failed expectation panics

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use super::{Commit, Store, Versioned, WindowCount, WindowHit};
use crate::access_pass::AccessPassRecord;
use crate::challenge::{Answer, Challenge, ChallengeStatus};
use crate::clock::Timestamp;
use crate::code::{CodeHash, OsRandomness, Randomness, SecretBytes};
use crate::delivery::Purpose;
use crate::email::EmailAddress;
use crate::method::{
    AccessPassId, AppCredential, ChallengeId, Extension, Method, MethodId, MethodRecord,
    MethodStatus, PhoneMode,
};
use crate::phone::PhoneNumber;
use crate::record::{
    Failures, ProofRecord, ProofSource, RETENTION, RecoveryCodeRecord, SendWindow, UserRecord,
    UserStatus, Version,
};
use crate::user::UserId;

/// Later than anything a purge in the suite reaches: windows and records there are
/// never purged under a property sharing the server.
const FAR: Timestamp = Timestamp::from_unix_secs(1_700_000_000 + 100 * 24 * 3600);

/// How many operations the concurrency properties put in flight at once.
pub const CONCURRENCY: usize = 64;

/// A fixed point in time the properties start from.
pub const T0: Timestamp = Timestamp::from_unix_secs(1_700_000_000);

/// Writes the property list once and derives from it [`PROPERTIES`], [`run_all`] and
/// the exported [`store_conformance!`](crate::store_conformance). `$d` is a literal `$`,
/// passed in so the generated macro can have metavariables of its own.
macro_rules! properties {
    ($d:tt; store: [$($store:ident),* $(,)?] driver: [$($driver:ident),* $(,)?]) => {
        /// Every property's name, in the order [`run_all`] runs them.
        pub const PROPERTIES: &[&str] = &[$(stringify!($store),)* $(stringify!($driver),)*];

        /// Runs every property, each against a fresh store from `fresh`.
        pub async fn run_all<S, F, Fut>(mut fresh: F)
        where
            S: Store + 'static,
            F: FnMut() -> Fut,
            Fut: Future<Output = S>,
        {
            $( $store(fresh().await).await; )*
            $( $driver(fresh().await).await; )*
        }

        /// Generates one `#[tokio::test]` per conformance property, each calling
        /// `$fresh().await` for its store. Attributes given first (such as
        /// `#[ignore = "..."]`) go on every test.
        #[macro_export]
        macro_rules! store_conformance {
            ($d(#[$d attr:meta])* $d fresh:path) => {
                $(
                    $d(#[$d attr])*
                    #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $store() {
                        $d crate::store::conformance::$store($d fresh().await).await;
                    }
                )*
                $(
                    $d(#[$d attr])*
                    #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $driver() {
                        $d crate::store::conformance::$driver($d fresh().await).await;
                    }
                )*
            };
        }
    };
}

properties! {
    $;
    // The store contract: load, commit by compare-and-set, hit, purge.
    store: [
        load_of_an_unknown_user_is_none,
        first_commit_creates_version_one_once,
        commit_from_the_current_version_bumps_it,
        commit_from_a_stale_version_conflicts_and_writes_nothing,
        rich_records_round_trip_exactly,
        odd_user_ids_are_kept_apart,
        concurrent_commits_from_one_version_one_wins,
        concurrent_first_commits_one_wins,
        concurrent_increment_loops_count_exactly,
        decisions_in_place_follow_the_version_rules,
        hits_count_in_fixed_windows,
        several_hits_in_one_call_each_count,
        concurrent_hits_count_exactly,
        purge_forgets_expired_records_and_closed_windows,
        inventory_records_round_trip_exactly,
    ]
    // EXTENSION POINT (lead): driver-level properties, an `Mfa` over the store. Each
    // is a `pub async fn name(store: impl Store + 'static)` in this module (or a
    // submodule re-exported here) that builds its `Mfa` over `store`; list its name
    // here and `PROPERTIES`, `run_all` and `store_conformance!` pick it up.
    driver: [
        parallel_wrong_codes_over_the_store_stop_at_the_lockout,
        concurrent_assignments_of_one_token_one_wins,
    ]
}

mod inventory;
pub use inventory::{
    concurrent_assignments_of_one_token_one_wins, inventory_records_round_trip_exactly,
};

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

/// A fresh window key, unique across runs.
pub fn fresh_key(tag: &str) -> String {
    format!("conformance:{tag}:{}", suffix())
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

fn number(country_code: u16, national: &str) -> PhoneNumber {
    PhoneNumber::from_parts(country_code, national).expect("valid number")
}

fn at(secs: u64) -> Timestamp {
    T0 + Duration::from_secs(secs)
}

fn method(method: Method, status: MethodStatus, offset: u64) -> MethodRecord {
    MethodRecord {
        id: method_id(),
        method,
        status,
        is_default: false,
        created_at: at(offset),
        app: None,
        replaces: None,
        app_step: None,
        name: None,
        passkey: None,
        token_drift: 0,
    }
}

/// A record that uses every part of the format: every kind of method in every
/// status (an office phone with an extension, an app with its secret), challenges in
/// every status and with every kind of answer, recovery codes used and unused, proofs
/// of both sources, a suspension, failures and a send window.
pub fn rich_record() -> UserRecord {
    let mut sms = method(
        Method::AuthenticationPhone {
            number: number(47, "41234567"),
            mode: PhoneMode::Sms,
        },
        MethodStatus::Active,
        1,
    );
    sms.is_default = true;
    let call = method(
        Method::AuthenticationPhone {
            number: number(46, "701234567"),
            mode: PhoneMode::Call,
        },
        MethodStatus::Blocked,
        2,
    );
    let office = method(
        Method::OfficePhone {
            number: number(47, "22123456"),
            extension: Some(Extension::parse("1234").expect("valid extension")),
        },
        MethodStatus::Active,
        3,
    );
    let office_plain = method(
        Method::OfficePhone {
            number: number(1, "2015550123"),
            extension: None,
        },
        MethodStatus::Pending,
        4,
    );
    let mut app = method(Method::AuthenticatorApp, MethodStatus::Active, 5);
    app.app = Some(AppCredential {
        secret: SecretBytes::new((0u8..20).map(|b| b.wrapping_mul(37) ^ 0xa5).collect()),
        parameters: "totp sha1 6 30".to_owned(),
    });
    app.app_step = Some(56_666_666);
    app.name = Some(crate::method::MethodName::parse("Telefon på jobb ✓").expect("valid name"));
    let mut app_pending = method(Method::AuthenticatorApp, MethodStatus::Pending, 6);
    app_pending.app = Some(AppCredential {
        secret: SecretBytes::new(vec![0, 255, 1, 254]),
        parameters: String::new(),
    });
    app_pending.replaces = Some(app.id.clone());
    let recovery = method(Method::RecoveryCodes, MethodStatus::Active, 7);
    let email = method(
        Method::Email {
            address: EmailAddress::parse("Kari.Nordmann+mfa@example.no").expect("valid address"),
        },
        MethodStatus::Active,
        8,
    );
    let mut token = method(
        Method::HardwareToken {
            serial: crate::method::TokenSerial::parse("OATH-0001").expect("valid serial"),
        },
        MethodStatus::Active,
        10,
    );
    token.app = Some(AppCredential {
        secret: SecretBytes::new(vec![7; 20]),
        parameters: "HOTP:SHA1:6:0".to_owned(),
    });
    token.app_step = Some(41);
    let mut passkey = method(Method::Passkey, MethodStatus::Active, 9);
    passkey.name = Some(crate::method::MethodName::parse("YubiKey 5").expect("valid name"));
    passkey.passkey = Some(crate::passkey::PasskeyCredential {
        credential_id: (0u8..64).collect(),
        counter: 17,
        backup_eligible: true,
        backup_state: false,
        user_verified: true,
        last_used_at: Some(at(80)),
        data: br#"{"cred":"the verifier's own form"}"#.to_vec(),
    });

    let statuses = [
        ChallengeStatus::AwaitingCode,
        ChallengeStatus::AwaitingCallConfirmation,
        ChallengeStatus::Approved,
        ChallengeStatus::Completed,
        ChallengeStatus::Locked,
        ChallengeStatus::Expired,
        ChallengeStatus::Canceled,
        ChallengeStatus::Denied,
    ];
    let answers = [
        Answer::SentCode(hash(1)),
        Answer::KeyPress,
        Answer::AppCode,
        Answer::Passkey,
    ];
    let methods = [&sms, &call, &office, &app];
    let challenges: Vec<crate::challenge::Challenge> = statuses
        .iter()
        .enumerate()
        .map(|(i, status)| {
            let i64 = i as u64;
            Challenge {
                id: challenge_id(),
                method_id: methods[i % methods.len()].id.clone(),
                purpose: if i % 2 == 0 {
                    Purpose::SignIn
                } else {
                    Purpose::Enrollment
                },
                status: *status,
                answer: answers[i % answers.len()],
                generation: i as u32,
                attempts: (i % 5) as u32,
                max_attempts: 5,
                sends: 1 + (i % 3) as u32,
                created_at: at(100 + i64),
                expires_at: at(400 + i64),
                last_sent_at: (i % 2 == 0).then(|| at(110 + i64)),
                approved_at: (*status == ChallengeStatus::Approved
                    || *status == ChallengeStatus::Completed)
                    .then(|| at(120 + i64)),
                closed_at: status.is_final().then(|| at(130 + i64)),
            }
        })
        .collect();
    let undelivered: Vec<crate::record::Undelivered> = challenges
        .iter()
        .take(1)
        .map(|c| crate::record::Undelivered {
            challenge_id: c.id.clone(),
            generation: 2,
        })
        .collect();

    let pass_id = AccessPassId::parse(&format!("pass-{}", challenge_id())).expect("valid id");
    UserRecord {
        status: UserStatus::Suspended { since: at(50) },
        methods: vec![
            sms.clone(),
            call,
            office,
            office_plain,
            app,
            app_pending,
            recovery,
            email,
            token,
            passkey,
        ],
        passkey_ceremonies: vec![crate::passkey::PasskeyCeremony {
            challenge_id: challenges[3].id.clone(),
            state: vec![0, 1, 2, 255],
        }],
        inventory: None,
        challenges,
        failures: Failures {
            count: 7,
            last_at: Some(at(60)),
        },
        recovery_codes: vec![
            RecoveryCodeRecord {
                hash: hash(2),
                used_at: None,
            },
            RecoveryCodeRecord {
                hash: hash(3),
                used_at: Some(at(70)),
            },
        ],
        proofs: vec![
            ProofRecord {
                hash: hash(4),
                source: ProofSource::Method(sms.id.clone()),
                expires_at: at(900),
            },
            ProofRecord {
                hash: hash(5),
                source: ProofSource::RecoveryCode,
                expires_at: at(901),
            },
            ProofRecord {
                hash: hash(6),
                source: ProofSource::AccessPass(pass_id.clone()),
                expires_at: at(902),
            },
        ],
        sends: SendWindow {
            count: 3,
            started_at: at(80),
        },
        updated_at: at(200),
        undelivered,
        devices: vec![crate::device::DeviceRecord {
            hash: hash(6),
            created_at: at(90),
            expires_at: at(990),
        }],
        locale: Some(crate::locale::Locale::parse("nb-NO").unwrap_or_else(|_| unreachable!())),
        access_passes: vec![
            AccessPassRecord {
                id: pass_id,
                hash: hash(7),
                issued_at: at(10),
                expires_at: at(10 + 8 * 3600),
                max_uses: 3,
                uses_left: 2,
                last_used_at: Some(at(20)),
                revoked_at: None,
            },
            AccessPassRecord {
                id: AccessPassId::parse(&format!("pass-{}", challenge_id())).expect("valid id"),
                hash: hash(8),
                issued_at: at(11),
                expires_at: at(11 + 3600),
                max_uses: 1,
                uses_left: 1,
                last_used_at: None,
                revoked_at: Some(at(30)),
            },
        ],
    }
}

/// A record with one active SMS method: never expires.
pub fn enrolled_record() -> UserRecord {
    let mut sms = method(
        Method::AuthenticationPhone {
            number: number(47, "41234567"),
            mode: PhoneMode::Sms,
        },
        MethodStatus::Active,
        1,
    );
    sms.is_default = true;
    UserRecord {
        methods: vec![sms],
        updated_at: T0,
        ..UserRecord::default()
    }
}

/// A record with nothing but one dead challenge: it expires a retention period
/// after that challenge.
pub fn empty_record() -> UserRecord {
    UserRecord {
        challenges: vec![Challenge {
            id: challenge_id(),
            method_id: method_id(),
            purpose: Purpose::SignIn,
            status: ChallengeStatus::Expired,
            answer: Answer::SentCode(hash(9)),
            generation: 0,
            attempts: 0,
            max_attempts: 5,
            sends: 1,
            created_at: T0,
            expires_at: at(300),
            last_sent_at: Some(T0),
            approved_at: None,
            closed_at: Some(at(300)),
        }],
        updated_at: at(300),
        ..UserRecord::default()
    }
}

async fn load<S: Store + ?Sized>(store: &S, user: &UserId) -> Option<Versioned> {
    store.load(user).await.expect("load")
}

async fn commit<S: Store + ?Sized>(
    store: &S,
    user: &UserId,
    expected: Option<Version>,
    record: &UserRecord,
) -> Commit {
    store
        .commit(user, expected, record.clone())
        .await
        .expect("commit")
}

async fn hit<S: Store + ?Sized>(
    store: &S,
    key: &str,
    window: Duration,
    now: Timestamp,
) -> WindowCount {
    let counts = store
        .hit(&[WindowHit { key, window }], now)
        .await
        .expect("hit");
    assert_eq!(counts.len(), 1, "one count per hit");
    counts[0]
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

// --- load and commit -------------------------------------------------------------

/// A user who never committed has no record.
pub async fn load_of_an_unknown_user_is_none(store: impl Store + 'static) {
    assert_eq!(load(&store, &fresh_user()).await, None);
}

/// The first commit (expecting no record) creates version 1; a second first commit
/// conflicts and leaves the first record in place.
pub async fn first_commit_creates_version_one_once(store: impl Store + 'static) {
    let user = fresh_user();
    let first = enrolled_record();
    assert_eq!(
        commit(&store, &user, None, &first).await,
        Commit::Committed(1)
    );
    let other = rich_record();
    assert_eq!(commit(&store, &user, None, &other).await, Commit::Conflict);
    assert_eq!(
        load(&store, &user).await,
        Some(Versioned {
            version: 1,
            record: first
        })
    );
}

/// A commit naming the current version lands at the next version.
pub async fn commit_from_the_current_version_bumps_it(store: impl Store + 'static) {
    let user = fresh_user();
    let mut record = enrolled_record();
    assert_eq!(
        commit(&store, &user, None, &record).await,
        Commit::Committed(1)
    );
    for version in 1..=3 {
        record.failures.count += 1;
        record.updated_at = at(version);
        assert_eq!(
            commit(&store, &user, Some(version), &record).await,
            Commit::Committed(version + 1)
        );
        assert_eq!(
            load(&store, &user).await,
            Some(Versioned {
                version: version + 1,
                record: record.clone()
            })
        );
    }
}

/// A commit naming an older (or a future) version, or naming a version for a user
/// with no record, conflicts and writes nothing.
pub async fn commit_from_a_stale_version_conflicts_and_writes_nothing(store: impl Store + 'static) {
    let user = fresh_user();
    let v1 = enrolled_record();
    commit(&store, &user, None, &v1).await;
    let mut v2 = v1.clone();
    v2.failures.count = 1;
    assert_eq!(
        commit(&store, &user, Some(1), &v2).await,
        Commit::Committed(2)
    );
    let mut stale = v1.clone();
    stale.failures.count = 99;
    for expected in [Some(1), Some(3), Some(0), None] {
        assert_eq!(
            commit(&store, &user, expected, &stale).await,
            Commit::Conflict,
            "{expected:?}"
        );
    }
    assert_eq!(
        load(&store, &user).await,
        Some(Versioned {
            version: 2,
            record: v2
        })
    );
    let nobody = fresh_user();
    assert_eq!(
        commit(&store, &nobody, Some(1), &stale).await,
        Commit::Conflict
    );
    assert_eq!(load(&store, &nobody).await, None);
}

/// A record using every part of the format comes back exactly, and so does the
/// empty record.
pub async fn rich_records_round_trip_exactly(store: impl Store + 'static) {
    let user = fresh_user();
    let rich = rich_record();
    commit(&store, &user, None, &rich).await;
    assert_eq!(load(&store, &user).await.expect("a record").record, rich);
    // Far from expiring, so a purge by a suite sharing the server leaves it.
    let empty = UserRecord {
        updated_at: FAR,
        ..UserRecord::default()
    };
    assert_eq!(
        commit(&store, &user, Some(1), &empty).await,
        Commit::Committed(2)
    );
    assert_eq!(load(&store, &user).await.expect("a record").record, empty);
}

/// User ids with quotes, braces, colons, stars, non-ASCII text or the full length are
/// stored apart: each sees only its own record and version.
pub async fn odd_user_ids_are_kept_apart(store: impl Store + 'static) {
    let tag = suffix();
    let users: Vec<UserId> = [
        format!("o'brien\"; DROP TABLE x; --{tag}@example.no"),
        format!("{{{tag}}}:*"),
        format!("{{{tag}}}:*x"),
        format!("a:b*{{c}}{tag}@example.no"),
        format!("æøå ÆØÅ 名前 🙂 {tag}"),
        format!(
            "{tag}{}",
            "x".repeat(crate::user::MAX_USER_ID_LEN - tag.len())
        ),
        format!(
            "{tag}{}",
            "y".repeat(crate::user::MAX_USER_ID_LEN - tag.len())
        ),
    ]
    .into_iter()
    .map(|u| UserId::new(u).expect("a valid user id"))
    .collect();
    let mut records = Vec::new();
    for (i, user) in users.iter().enumerate() {
        let mut record = enrolled_record();
        record.failures.count = i as u32;
        assert_eq!(
            commit(&store, user, None, &record).await,
            Commit::Committed(1),
            "{user:?}"
        );
        for v in 1..=i as u64 {
            assert_eq!(
                commit(&store, user, Some(v), &record).await,
                Commit::Committed(v + 1)
            );
        }
        records.push(record);
    }
    for (i, (user, record)) in users.iter().zip(records).enumerate() {
        assert_eq!(
            load(&store, user).await,
            Some(Versioned {
                version: i as u64 + 1,
                record
            }),
            "{user:?}"
        );
    }
}

// --- races ---------------------------------------------------------------------------

/// 64 commits from the same version at once: exactly one lands.
pub async fn concurrent_commits_from_one_version_one_wins(store: impl Store + 'static) {
    let user = fresh_user();
    commit(&store, &user, None, &enrolled_record()).await;
    let (store, user) = (&store, &user);
    let results = join_all(
        (0..CONCURRENCY)
            .map(|i| {
                boxed(async move {
                    let mut record = enrolled_record();
                    record.failures.count = i as u32 + 1;
                    (i, commit(store, user, Some(1), &record).await)
                })
            })
            .collect(),
    )
    .await;
    let winners: Vec<usize> = results
        .iter()
        .filter(|(_, c)| *c == Commit::Committed(2))
        .map(|(i, _)| *i)
        .collect();
    assert_eq!(winners.len(), 1, "one commit lands: {results:?}");
    assert!(
        results
            .iter()
            .all(|(_, c)| matches!(c, Commit::Committed(2) | Commit::Conflict))
    );
    let stored = load(store, user).await.expect("a record");
    assert_eq!(stored.version, 2);
    assert_eq!(
        stored.record.failures.count,
        winners[0] as u32 + 1,
        "the winner's record is stored"
    );
}

/// 64 first commits for a new user at once: exactly one creates the record.
pub async fn concurrent_first_commits_one_wins(store: impl Store + 'static) {
    let user = fresh_user();
    let (store, user) = (&store, &user);
    let results = join_all(
        (0..CONCURRENCY)
            .map(|i| {
                boxed(async move {
                    let mut record = enrolled_record();
                    record.failures.count = i as u32 + 1;
                    commit(store, user, None, &record).await
                })
            })
            .collect(),
    )
    .await;
    assert_eq!(
        results
            .iter()
            .filter(|c| **c == Commit::Committed(1))
            .count(),
        1,
        "{results:?}"
    );
    assert_eq!(load(store, user).await.expect("a record").version, 1);
}

/// 64 loops at once of "load, add one failure, commit, retry on conflict" end at
/// exactly 64 failures and version 65: no increment is lost or doubled.
pub async fn concurrent_increment_loops_count_exactly(store: impl Store + 'static) {
    let user = fresh_user();
    commit(&store, &user, None, &enrolled_record()).await;
    let (store, user) = (&store, &user);
    let tries = join_all(
        (0..CONCURRENCY)
            .map(|_| {
                boxed(async move {
                    let mut tries = 0u32;
                    loop {
                        tries += 1;
                        let current = load(store, user).await.expect("a record");
                        let mut record = current.record;
                        record.failures.count += 1;
                        match commit(store, user, Some(current.version), &record).await {
                            Commit::Committed(v) => {
                                assert_eq!(v, current.version + 1);
                                return tries;
                            }
                            Commit::Conflict => {}
                        }
                    }
                })
            })
            .collect(),
    )
    .await;
    let stored = load(store, user).await.expect("a record");
    assert_eq!(stored.record.failures.count, CONCURRENCY as u32);
    assert_eq!(stored.version, CONCURRENCY as u64 + 1);
    assert!(tries.iter().all(|t| *t >= 1));
}

/// For a store that offers [`Store::in_place`]: a decision kept there is the next
/// version, as a commit would make it; one not kept leaves the version; a user with
/// no record is not decided on; and decisions in place interleaved with load-and-commit
/// loops lose no increment. (A store without it has nothing to check here.)
pub async fn decisions_in_place_follow_the_version_rules(store: impl Store + 'static) {
    let Some(local) = store.in_place() else {
        return;
    };
    let nobody = fresh_user();
    let mut called = false;
    assert!(!local.decide_in_place(&nobody, &mut |_| {
        called = true;
        true
    }));
    assert!(!called, "no record, no decision");
    assert_eq!(load(&store, &nobody).await, None);

    let user = fresh_user();
    let v1 = enrolled_record();
    commit(&store, &user, None, &v1).await;
    assert!(local.decide_in_place(&user, &mut |rec| {
        assert_eq!(*rec, v1, "the stored record, as committed");
        rec.failures.count = 7;
        true
    }));
    let kept = load(&store, &user).await.expect("a record");
    assert_eq!((kept.version, kept.record.failures.count), (2, 7));
    assert!(local.decide_in_place(&user, &mut |_| false));
    assert_eq!(load(&store, &user).await.expect("a record").version, 2);
    let mut stale = v1.clone();
    stale.failures.count = 99;
    assert_eq!(
        commit(&store, &user, Some(1), &stale).await,
        Commit::Conflict,
        "a copy loaded before the decision conflicts"
    );

    // Half the writers decide in place, half load and commit.
    let (store, user) = (&store, &user);
    join_all(
        (0..CONCURRENCY)
            .map(|i| {
                boxed(async move {
                    if i % 2 == 0 {
                        let local = store.in_place().expect("offered above");
                        assert!(local.decide_in_place(user, &mut |rec| {
                            rec.failures.count += 1;
                            true
                        }));
                        return;
                    }
                    loop {
                        let current = load(store, user).await.expect("a record");
                        let mut record = current.record;
                        record.failures.count += 1;
                        if let Commit::Committed(_) =
                            commit(store, user, Some(current.version), &record).await
                        {
                            return;
                        }
                    }
                })
            })
            .collect(),
    )
    .await;
    let stored = load(store, user).await.expect("a record");
    assert_eq!(stored.record.failures.count, 7 + CONCURRENCY as u32);
    assert_eq!(stored.version, 2 + CONCURRENCY as u64);
}

// --- windows -----------------------------------------------------------------------

/// A window counts from its first hit for its length, then starts again at 1; each
/// key counts alone.
pub async fn hits_count_in_fixed_windows(store: impl Store + 'static) {
    let key = fresh_key("fixed");
    let other = fresh_key("other");
    let minute = Duration::from_secs(60);
    let start = FAR;
    for n in 1..=3 {
        let c = hit(&store, &key, minute, start + Duration::from_secs(n)).await;
        assert_eq!(c.count, n as u32);
        assert_eq!(c.resets_at, start + Duration::from_secs(1) + minute);
    }
    assert_eq!(hit(&store, &other, minute, start).await.count, 1);
    // Just before the end: still the same window.
    let last = start + Duration::from_secs(1) + minute - Duration::from_millis(1);
    assert_eq!(hit(&store, &key, minute, last).await.count, 4);
    // At the end: a new window from this hit.
    let reset = start + Duration::from_secs(1) + minute;
    let c = hit(&store, &key, minute, reset).await;
    assert_eq!(
        c,
        WindowCount {
            count: 1,
            resets_at: reset + minute
        }
    );
    assert_eq!(hit(&store, &other, minute, start).await.count, 2);
}

/// Several hits in one call each count, in order, repeated keys included.
pub async fn several_hits_in_one_call_each_count(store: impl Store + 'static) {
    let (a, b, c) = (fresh_key("a"), fresh_key("b"), fresh_key("c"));
    let (minute, hour) = (Duration::from_secs(60), Duration::from_secs(3600));
    let now = FAR + Duration::from_secs(3600);
    hit(&store, &b, hour, now).await;
    let counts = store
        .hit(
            &[
                WindowHit {
                    key: &a,
                    window: minute,
                },
                WindowHit {
                    key: &b,
                    window: hour,
                },
                WindowHit {
                    key: &c,
                    window: hour,
                },
                WindowHit {
                    key: &a,
                    window: minute,
                },
            ],
            now,
        )
        .await
        .expect("hit");
    assert_eq!(
        counts.iter().map(|c| c.count).collect::<Vec<_>>(),
        vec![1, 2, 1, 2]
    );
    assert_eq!(counts[0].resets_at, now + minute);
    assert_eq!(counts[1].resets_at, now + hour);
    assert_eq!(counts[3].resets_at, now + minute);
    assert_eq!(store.hit(&[], now).await.expect("no hits"), vec![]);
    assert_eq!(hit(&store, &a, minute, now).await.count, 3);
}

/// 64 hits on one window at once count to exactly 64, each count seen once.
pub async fn concurrent_hits_count_exactly(store: impl Store + 'static) {
    let key = fresh_key("race");
    let now = FAR + Duration::from_secs(7200);
    let (store, key) = (&store, &key);
    let mut counts = join_all(
        (0..CONCURRENCY)
            .map(|_| {
                boxed(async move { hit(store, key, Duration::from_secs(600), now).await.count })
            })
            .collect(),
    )
    .await;
    counts.sort_unstable();
    assert_eq!(counts, (1..=CONCURRENCY as u32).collect::<Vec<_>>());
}

// --- purge ---------------------------------------------------------------------------

/// Purging at a time past an empty record's `expires_at` forgets it, and forgets
/// closed windows; records with methods stay, and so do open windows.
pub async fn purge_forgets_expired_records_and_closed_windows(store: impl Store + 'static) {
    let (empty, enrolled, young) = (fresh_user(), fresh_user(), fresh_user());
    let dead = empty_record();
    let expires = dead.expires_at().expect("an empty record expires");
    commit(&store, &empty, None, &dead).await;
    commit(&store, &enrolled, None, &enrolled_record()).await;
    assert_eq!(enrolled_record().expires_at(), None);
    // An empty record committed later, still within its retention.
    let mut fresh = empty_record();
    fresh.updated_at = expires + RETENTION;
    commit(&store, &young, None, &fresh).await;
    let (closed, open) = (fresh_key("closed"), fresh_key("open"));
    hit(&store, &closed, Duration::from_secs(60), T0).await;
    hit(&store, &open, Duration::from_secs(24 * 3600), T0).await;

    store.purge(expires).await.expect("purge");
    assert_eq!(
        load(&store, &empty).await,
        None,
        "the expired record is gone"
    );
    assert!(load(&store, &enrolled).await.is_some());
    assert!(load(&store, &young).await.is_some());
    assert_eq!(
        hit(&store, &open, Duration::from_secs(24 * 3600), expires)
            .await
            .count,
        2,
        "the open window is kept"
    );
    // The forgotten user starts again from no record.
    assert_eq!(
        commit(&store, &empty, Some(1), &dead).await,
        Commit::Conflict
    );
    assert_eq!(
        commit(&store, &empty, None, &dead).await,
        Commit::Committed(1)
    );
    assert_eq!(
        hit(&store, &closed, Duration::from_secs(60), expires)
            .await
            .count,
        1,
        "the closed window starts again"
    );
}

// --- driver-level properties: an `Mfa` over the store ---------------------------

/// 64 wrong codes at once, spread over 8 open sign-ins of one user, over this store:
/// the user's failures are checked and counted in the same commit, so exactly the
/// policy's free failures are counted as guesses and every other guess is refused by
/// the delay. (v1 counted every parallel guess.)
pub async fn parallel_wrong_codes_over_the_store_stop_at_the_lockout(store: impl Store + 'static) {
    use crate::delivery::MemoryDelivery;
    use crate::error::{Error, PolicyError};
    use crate::machine::Verification;
    use crate::method::PhoneMode;
    use crate::{CodeKey, Mfa, Policy};

    let phone = MemoryDelivery::new();
    let mut policy = Policy::default();
    policy.send_limits.per_destination.max = 1000;
    policy.send_limits.per_country.max = 1_000_000;
    let mfa = std::sync::Arc::new(
        Mfa::builder()
            .store(store)
            .code_key(CodeKey::from_bytes([5; 32]))
            .sms(phone.clone())
            .policy(policy.clone())
            .build()
            .unwrap(),
    );
    let user = fresh_user();
    let number = PhoneNumber::parse("+4741234567").unwrap();
    let method = Method::AuthenticationPhone {
        number: number.clone(),
        mode: PhoneMode::Sms,
    };
    let pending = mfa.begin_enrollment(&user, method).await.unwrap();
    let code = phone.last_code_to(&number).unwrap();
    assert!(
        mfa.verify(&user, &pending.challenge_id, code.expose())
            .await
            .unwrap()
            .is_approved()
    );
    mfa.complete(&user, &pending.challenge_id).await.unwrap();
    let mut ids = Vec::new();
    for _ in 0..8 {
        ids.push(mfa.challenge(&user).await.unwrap().challenge_id);
    }
    let guesses: Vec<Boxed<'_, Result<Verification, Error>>> = (0..CONCURRENCY)
        .map(|i| {
            let (mfa, user, id) = (mfa.clone(), user.clone(), ids[i % ids.len()].clone());
            Box::pin(async move { mfa.verify(&user, &id, "000000").await }) as Boxed<'_, _>
        })
        .collect();
    let mut rejected = 0;
    for answer in join_all(guesses).await {
        match answer {
            Ok(Verification::Rejected { .. }) => rejected += 1,
            Ok(Verification::Approved(_)) => panic!("a wrong code approved"),
            Ok(_) | Err(Error::Policy(PolicyError::UserLocked { .. })) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    let free = policy.lockout.free_failures;
    assert_eq!(
        rejected, free as usize,
        "only the free failures count as guesses"
    );
    // The count stands in the stored record: the next request meets the delay.
    assert!(
        matches!(
            mfa.challenge(&user).await,
            Err(Error::Policy(PolicyError::UserLocked {
                retry_after: Some(_)
            }))
        ),
        "the user is in a lockout delay"
    );
}
