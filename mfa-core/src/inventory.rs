//! The administrator's inventory of OATH hardware tokens, across users.
//!
//! A token's serial is printed on it and its secret comes from the vendor's seed
//! file; the same token must never be assigned to two users. The inventory keeps one
//! record per serial in the ordinary [`Store`](crate::Store), under a key that no
//! [`UserId`] can take (it holds a control character, which user ids refuse), so it
//! is sealed, versioned and raced exactly like a user's record:
//!
//! - the token's record holds its credential (the secret, sealed at rest like an app
//!   key), its kind, and the user it is assigned to, if any;
//! - assigning claims the token by compare-and-set on that record before the user's
//!   record gets the pending method, so of two concurrent assignments exactly one wins;
//! - removing the method, resetting the user or unassigning returns the token (after
//!   the user's commit: should the store fail in between, the call returns the
//!   error, and unassigning the token finishes the return); retiring drops its
//!   secret for good;
//! - index pages of at most [`INDEX_PAGE`] serials, under reserved keys too, list the
//!   inventory page by page (the store contract has no scan).
//!
//! The rules are pure functions of the token's record, like [`crate::machine`];
//! [`Mfa`](crate::Mfa) loads, decides and commits.

use crate::clock::Timestamp;
use crate::error::{Error, Missing, PolicyError};
use crate::event::Event;
use crate::method::{AppCredential, TokenSerial};
use crate::user::UserId;

/// Serials per index page, so no record grows past a few kilobytes.
pub const INDEX_PAGE: usize = 256;

/// The most index pages: [`INDEX_PAGE`] × this many tokens (65,536) in one inventory.
pub const MAX_INDEX_PAGES: usize = 256;

/// The most tokens one import takes (as many as one seed file holds).
pub const MAX_IMPORT: usize = 10_000;

/// Whether a token counts time steps or button presses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum OathKind {
    /// RFC 6238: a code per time step.
    Totp,
    /// RFC 4226: a code per button press.
    Hotp,
}

/// One token to import: what a seed file line gives (`mfa_totp::TokenSeed::import`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenImport {
    /// The serial printed on the token.
    pub serial: TokenSerial,
    /// TOTP or HOTP.
    pub kind: OathKind,
    /// The secret and the verifier's settings.
    pub credential: AppCredential,
}

/// What [`Mfa::import_hardware_tokens`](crate::Mfa::import_hardware_tokens) did with one serial.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum ImportOutcome {
    /// New in the inventory.
    Imported,
    /// The inventory already holds this serial (from an earlier import, retired or
    /// not): kept as it was, its secret not replaced.
    AlreadyPresent,
    /// The inventory is full ([`INDEX_PAGE`] × [`MAX_INDEX_PAGES`] serials).
    InventoryFull,
}

/// Who holds a token, since when.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Assignment {
    /// The user.
    pub user: UserId,
    /// When the token was claimed for them.
    pub at: Timestamp,
}

/// A token's record in the inventory. `Debug` shows no secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredToken {
    /// The serial.
    pub serial: TokenSerial,
    /// TOTP or HOTP.
    pub kind: OathKind,
    /// The secret and settings; `None` once retired.
    pub credential: Option<AppCredential>,
    /// When it was imported.
    pub imported_at: Timestamp,
    /// The user it is assigned to.
    pub assigned: Option<Assignment>,
    /// When it was retired: never assigned again.
    pub retired_at: Option<Timestamp>,
}

/// What an inventory key holds, in a [`UserRecord`](crate::UserRecord)'s
/// `inventory` field (a user's own record holds `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InventoryRecord {
    /// One token.
    Token(StoredToken),
    /// One index page: serials in import order.
    Index(Vec<TokenSerial>),
}

/// One token as the administrator's listing shows it: no secret.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct HardwareTokenInfo {
    /// The serial.
    pub serial: TokenSerial,
    /// TOTP or HOTP.
    pub kind: OathKind,
    /// When it was imported.
    pub imported_at: Timestamp,
    /// Who holds it.
    pub assigned: Option<Assignment>,
    /// When it was retired.
    pub retired_at: Option<Timestamp>,
}

/// One page of the inventory listing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct HardwareTokenPage {
    /// The tokens, in import order.
    pub tokens: Vec<HardwareTokenInfo>,
    /// The page to ask for next, if there is one.
    pub next: Option<usize>,
}

impl StoredToken {
    /// The listing's view.
    pub fn info(&self) -> HardwareTokenInfo {
        HardwareTokenInfo {
            serial: self.serial.clone(),
            kind: self.kind,
            imported_at: self.imported_at,
            assigned: self.assigned.clone(),
            retired_at: self.retired_at,
        }
    }
}

// The reserved keys start with U+0001: `UserId::new` and `UserId::username` refuse
// control characters, so no user's record can sit under one.
const TOKEN_PREFIX: &str = "\u{1}mfa-inventory\u{1}token\u{1}";
const INDEX_PREFIX: &str = "\u{1}mfa-inventory\u{1}index\u{1}";

/// The key of a token's record.
pub fn token_key(serial: &TokenSerial) -> UserId {
    UserId::reserved(format!("{TOKEN_PREFIX}{serial}"))
}

/// The key of index page `page`.
pub fn index_key(page: usize) -> UserId {
    UserId::reserved(format!("{INDEX_PREFIX}{page}"))
}

/// The token in an inventory record, or "unknown hardware token".
pub fn token_mut(inventory: &mut Option<InventoryRecord>) -> Result<&mut StoredToken, Error> {
    match inventory {
        Some(InventoryRecord::Token(t)) => Ok(t),
        _ => Err(Error::NotFound(Missing::HardwareToken)),
    }
}

/// Puts a new token in an empty record; `false` when the key holds one already.
pub fn create(
    inventory: &mut Option<InventoryRecord>,
    import: &TokenImport,
    now: Timestamp,
) -> bool {
    if inventory.is_some() {
        return false;
    }
    *inventory = Some(InventoryRecord::Token(StoredToken {
        serial: import.serial.clone(),
        kind: import.kind,
        credential: Some(import.credential.clone()),
        imported_at: now,
        assigned: None,
        retired_at: None,
    }));
    true
}

/// Claims the token for `user`. Returns its credential and whether this claim is
/// new (`false`: it was already this user's, as after an assignment that was
/// interrupted, or a pending token assigned again).
pub fn claim(
    token: &mut StoredToken,
    user: &UserId,
    now: Timestamp,
) -> Result<(AppCredential, bool), Error> {
    if token.retired_at.is_some() {
        return Err(PolicyError::TokenRetired.into());
    }
    let credential = token.credential.clone().ok_or(PolicyError::TokenRetired)?;
    match &token.assigned {
        Some(a) if &a.user == user => Ok((credential, false)),
        Some(_) => Err(PolicyError::TokenAssigned.into()),
        None => {
            token.assigned = Some(Assignment {
                user: user.clone(),
                at: now,
            });
            Ok((credential, true))
        }
    }
}

/// Returns the token if `user` holds it (any holder when `user` is `None`); the
/// event to emit, or `None` when there was nothing to return.
pub fn release(token: &mut StoredToken, user: Option<&UserId>) -> Option<Event> {
    let holder = token.assigned.as_ref()?;
    if user.is_some_and(|u| u != &holder.user) {
        return None;
    }
    let holder = token.assigned.take()?;
    Some(Event::HardwareTokenUnassigned {
        user: holder.user,
        serial: token.serial.clone(),
    })
}

/// Retires an unassigned token: its secret goes, and it is never assigned again.
pub fn retire(token: &mut StoredToken, now: Timestamp) -> Result<bool, Error> {
    if token.assigned.is_some() {
        return Err(PolicyError::TokenAssigned.into());
    }
    if token.retired_at.is_some() {
        return Ok(false);
    }
    token.retired_at = Some(now);
    token.credential = None;
    Ok(true)
}

/// Adds `serials` not yet on the page, up to [`INDEX_PAGE`]; returns those that did
/// not fit.
pub fn append_to_index(
    inventory: &mut Option<InventoryRecord>,
    serials: &[TokenSerial],
) -> Result<Vec<TokenSerial>, Error> {
    if inventory.is_none() {
        *inventory = Some(InventoryRecord::Index(Vec::new()));
    }
    let Some(InventoryRecord::Index(page)) = inventory else {
        return Err(crate::error::StoreError::corrupt("an index key holds a token").into());
    };
    let mut left = Vec::new();
    for serial in serials {
        if page.contains(serial) {
            continue;
        }
        if page.len() < INDEX_PAGE {
            page.push(serial.clone());
        } else {
            left.push(serial.clone());
        }
    }
    Ok(left)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::code::SecretBytes;

    fn import(serial: &str) -> TokenImport {
        TokenImport {
            serial: TokenSerial::parse(serial).unwrap(),
            kind: OathKind::Totp,
            credential: AppCredential {
                secret: SecretBytes::new(vec![7; 20]),
                parameters: "TOTP:SHA1:6:30".into(),
            },
        }
    }

    #[test]
    fn reserved_keys_are_no_user_id() {
        let key = token_key(&TokenSerial::parse("T1").unwrap());
        assert!(UserId::new(key.as_str()).is_err());
        assert!(UserId::username(key.as_str()).is_err());
        assert_ne!(key, index_key(0));
        assert_ne!(index_key(0), index_key(1));
    }

    #[test]
    fn a_token_is_claimed_once_returned_and_retired() {
        let now = Timestamp::from_unix_secs(1);
        let mut inv = None;
        assert!(create(&mut inv, &import("T1"), now));
        assert!(!create(&mut inv, &import("T1"), now));
        let token = token_mut(&mut inv).unwrap();
        let (a, b) = (UserId::new("a").unwrap(), UserId::new("b").unwrap());
        assert!(claim(token, &a, now).unwrap().1);
        assert!(!claim(token, &a, now).unwrap().1);
        assert!(matches!(
            claim(token, &b, now),
            Err(Error::Policy(PolicyError::TokenAssigned))
        ));
        assert!(retire(token, now).is_err());
        assert_eq!(release(token, Some(&b)), None);
        assert!(release(token, Some(&a)).is_some());
        assert!(retire(token, now).unwrap());
        assert!(token.credential.is_none());
        assert!(matches!(
            claim(token, &b, now),
            Err(Error::Policy(PolicyError::TokenRetired))
        ));
    }

    #[test]
    fn index_pages_fill_up_and_skip_what_they_list() {
        let serials: Vec<_> = (0..INDEX_PAGE + 3)
            .map(|i| TokenSerial::parse(&format!("S{i}")).unwrap())
            .collect();
        let mut page = None;
        let left = append_to_index(&mut page, &serials).unwrap();
        assert_eq!(left.len(), 3);
        assert!(
            append_to_index(&mut page, &serials[..5])
                .unwrap()
                .is_empty()
        );
        let mut token = None;
        create(&mut token, &import("T1"), Timestamp::EPOCH);
        assert!(append_to_index(&mut token, &serials).is_err());
    }
}
