//! Properties of the hardware-token inventory over a store: its records round trip,
//! and of many concurrent assignments of one token exactly one wins.

use super::{Boxed, CONCURRENCY, T0, commit, join_all, load, suffix};
use crate::app::{AppMatch, AppProvisioning, AppVerifier};
use crate::clock::Timestamp;
use crate::code::{OneTimeCode, Randomness, SecretBytes};
use crate::error::{Error, InputError, PolicyError};
use crate::inventory::{
    self, Assignment, ImportOutcome, InventoryRecord, OathKind, StoredToken, TokenImport,
};
use crate::method::{AppCredential, TokenSerial};
use crate::record::UserRecord;
use crate::store::{Commit, Store};
use crate::user::UserId;

/// A token verifier that accepts no code: the assignment race needs one configured,
/// never a code checked.
#[derive(Debug)]
struct NoCodes;

impl AppVerifier for NoCodes {
    fn provision(
        &self,
        _issuer: &str,
        _account: &str,
        _rng: &dyn Randomness,
    ) -> Result<AppProvisioning, InputError> {
        Err(InputError::InvalidSetting("imported, not provisioned"))
    }

    fn verify(
        &self,
        _credential: &AppCredential,
        _code: &OneTimeCode,
        _now: Timestamp,
        _after_step: Option<u64>,
    ) -> Result<Option<AppMatch>, InputError> {
        Ok(None)
    }
}

fn fresh_serial() -> TokenSerial {
    TokenSerial::parse(&format!("CONF-{}", suffix())).expect("valid serial")
}

fn credential() -> AppCredential {
    AppCredential {
        secret: SecretBytes::new(vec![0x5a; 20]),
        parameters: "TOTP:SHA1:6:30".to_owned(),
    }
}

/// A token's record (assigned, then retired) and an index page load back exactly,
/// under keys no user id can take.
pub async fn inventory_records_round_trip_exactly(store: impl Store + 'static) {
    let serial = fresh_serial();
    let key = inventory::token_key(&serial);
    let mut token = StoredToken {
        serial: serial.clone(),
        kind: OathKind::Hotp,
        credential: Some(credential()),
        imported_at: T0,
        assigned: Some(Assignment {
            user: UserId::new(format!("holder-{}@example.no", suffix())).expect("valid id"),
            at: T0,
        }),
        retired_at: None,
    };
    let record = UserRecord {
        inventory: Some(InventoryRecord::Token(token.clone())),
        updated_at: T0,
        ..UserRecord::default()
    };
    assert_eq!(
        commit(&store, &key, None, &record).await,
        Commit::Committed(1)
    );
    assert_eq!(load(&store, &key).await.expect("stored").record, record);
    token.assigned = None;
    token.credential = None;
    token.retired_at = Some(T0);
    let retired = UserRecord {
        inventory: Some(InventoryRecord::Token(token)),
        updated_at: T0,
        ..UserRecord::default()
    };
    assert_eq!(
        commit(&store, &key, Some(1), &retired).await,
        Commit::Committed(2)
    );
    assert_eq!(load(&store, &key).await.expect("stored").record, retired);
    // An index page with many serials (under a key of this run, not the inventory's).
    let page = UserRecord {
        inventory: Some(InventoryRecord::Index(
            (0..inventory::INDEX_PAGE).map(|_| fresh_serial()).collect(),
        )),
        updated_at: T0,
        ..UserRecord::default()
    };
    let page_key = UserId::new(format!("conformance-index-{}", suffix())).expect("valid id");
    assert_eq!(
        commit(&store, &page_key, None, &page).await,
        Commit::Committed(1)
    );
    assert_eq!(load(&store, &page_key).await.expect("stored").record, page);
}

/// [`CONCURRENCY`] assignments of one imported token to as many users at once:
/// exactly one user gets it, the others are told it is assigned, and the inventory
/// names the winner; returned, it goes to another user.
pub async fn concurrent_assignments_of_one_token_one_wins(store: impl Store + 'static) {
    use crate::{CodeKey, Mfa};

    let mfa = std::sync::Arc::new(
        Mfa::builder()
            .store(store)
            .code_key(CodeKey::from_bytes([6; 32]))
            .hardware_tokens(NoCodes)
            .build()
            .expect("an Mfa"),
    );
    let serial = fresh_serial();
    let import = TokenImport {
        serial: serial.clone(),
        kind: OathKind::Totp,
        credential: credential(),
    };
    let outcomes = mfa
        .import_hardware_tokens(std::slice::from_ref(&import))
        .await
        .expect("imported");
    assert_eq!(outcomes, vec![(serial.clone(), ImportOutcome::Imported)]);
    let users: Vec<UserId> = (0..CONCURRENCY)
        .map(|i| UserId::new(format!("token-race-{i}-{}@example.no", suffix())).expect("id"))
        .collect();
    let tries: Vec<Boxed<'_, Result<crate::Pending, Error>>> = users
        .iter()
        .map(|user| {
            let (mfa, user, serial) = (mfa.clone(), user.clone(), serial.clone());
            Box::pin(async move { mfa.assign_hardware_token(&user, &serial, None).await })
                as Boxed<'_, _>
        })
        .collect();
    let mut winners = Vec::new();
    for (i, answer) in join_all(tries).await.into_iter().enumerate() {
        match answer {
            Ok(_) => winners.push(i),
            Err(Error::Policy(PolicyError::TokenAssigned)) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one assignment wins");
    let winner = &users[winners[0]];
    let info = mfa.hardware_token(&serial).await.unwrap().expect("listed");
    assert_eq!(info.assigned.map(|a| a.user), Some(winner.clone()));
    for (i, user) in users.iter().enumerate() {
        let methods = mfa.methods(user).await.unwrap();
        assert_eq!(methods.len(), usize::from(i == winners[0]), "{user}");
    }
    // Importing again changes nothing; returned, the token goes to a loser.
    assert_eq!(
        mfa.import_hardware_tokens(&[import]).await.unwrap(),
        vec![(serial.clone(), ImportOutcome::AlreadyPresent)]
    );
    assert!(mfa.unassign_hardware_token(&serial).await.unwrap());
    assert!(mfa.methods(winner).await.unwrap().is_empty());
    let loser = &users[(winners[0] + 1) % users.len()];
    mfa.assign_hardware_token(loser, &serial, None)
        .await
        .expect("assigned after its return");
}
