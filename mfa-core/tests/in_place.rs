//! Verifications over the memory store decide on the stored record in place
//! (`Store::in_place`): the same rules as a load and a commit, under real threads.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use mfa_core::error::{Error, PolicyError};
use mfa_core::{
    ChallengeId, MemoryDelivery, MemoryStore, Method, Mfa, PhoneMode, PhoneNumber, Policy, Store,
    UserId, Verification,
};

struct Enrolled {
    mfa: Arc<Mfa>,
    store: MemoryStore,
    user: UserId,
    policy: Policy,
}

fn enrolled() -> Enrolled {
    let store = MemoryStore::new();
    let phone = MemoryDelivery::new();
    let mut policy = Policy::default();
    policy.send_limits.per_destination.max = 1000;
    policy.send_limits.per_user.max = 1000;
    let mfa = Arc::new(
        Mfa::builder()
            .store(store.clone())
            .sms(phone.clone())
            .policy(policy.clone())
            .build()
            .unwrap(),
    );
    let user = UserId::new("ada@example.no").unwrap();
    let number = PhoneNumber::parse("+4741234567").unwrap();
    let rt = runtime();
    rt.block_on(async {
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
    });
    Enrolled {
        mfa,
        store,
        user,
        policy,
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

fn sign_ins(e: &Enrolled, n: usize) -> Vec<ChallengeId> {
    let rt = runtime();
    (0..n)
        .map(|_| rt.block_on(e.mfa.challenge(&e.user)).unwrap().challenge_id)
        .collect()
}

/// A refused verification stores nothing: the record and its version stay. A wrong
/// code is a decision, kept as the next version.
#[test]
fn a_refusal_leaves_the_stored_record_and_a_wrong_code_is_the_next_version() {
    let e = enrolled();
    let id = sign_ins(&e, 1).remove(0);
    let rt = runtime();
    let before = rt.block_on(e.store.load(&e.user)).unwrap().unwrap();
    let malformed = rt.block_on(e.mfa.verify(&e.user, &id, "12a"));
    assert!(matches!(malformed, Err(Error::Input(_))), "{malformed:?}");
    let unknown = ChallengeId::parse("no-such-challenge").unwrap();
    assert!(
        rt.block_on(e.mfa.verify(&e.user, &unknown, "123456"))
            .is_err()
    );
    assert_eq!(
        rt.block_on(e.store.load(&e.user)).unwrap().unwrap(),
        before,
        "refusals store nothing"
    );
    let wrong = rt.block_on(e.mfa.verify(&e.user, &id, "000000")).unwrap();
    assert!(matches!(wrong, Verification::Rejected { .. }), "{wrong:?}");
    let after = rt.block_on(e.store.load(&e.user)).unwrap().unwrap();
    assert_eq!(after.version, before.version + 1);
    assert_eq!(after.record.failures.count, 1);
}

/// 64 wrong codes from four OS threads at once, over 8 open sign-ins: exactly the
/// policy's free failures count as guesses, as over a store that loads and commits.
#[test]
fn parallel_wrong_codes_from_threads_stop_at_the_lockout() {
    let e = enrolled();
    let ids = sign_ins(&e, 8);
    let answers: Vec<Result<Verification, Error>> = std::thread::scope(|s| {
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let (e, ids) = (&e, &ids);
                s.spawn(move || {
                    let rt = runtime();
                    (0..16)
                        .map(|i| rt.block_on(e.mfa.verify(&e.user, &ids[(t + i) % 8], "000000")))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect()
    });
    let mut rejected = 0;
    for answer in answers {
        match answer {
            Ok(Verification::Rejected { .. }) => rejected += 1,
            Ok(Verification::Approved(_)) => panic!("a wrong code approved"),
            Ok(_) | Err(Error::Policy(PolicyError::UserLocked { .. })) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(rejected, e.policy.lockout.free_failures as usize);
    let stored = runtime().block_on(e.store.load(&e.user)).unwrap().unwrap();
    assert_eq!(stored.record.failures.count, e.policy.lockout.free_failures);
}
