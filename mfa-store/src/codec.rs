//! How records map to stored fields, and the method-list rules every store applies
//! inside its own atomic step.
// Each store uses a part of this module; with all of them built, nothing is unused.
#![cfg_attr(
    not(all(feature = "sqlite", feature = "postgres", feature = "redis")),
    allow(dead_code)
)]

use mfa_core::challenge::Answer;
use mfa_core::delivery::Purpose;
use mfa_core::{
    AppCredential, ChallengeStatus, CodeHash, Extension, Method, MethodId, MethodRecord,
    MethodStatus, PhoneMode, PhoneNumber, StoreError, Timestamp, UserId,
};

use crate::keys::{Keyring, secret_context};

/// A method's fields as stored, the app secret sealed.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct MethodRow {
    pub id: String,
    pub kind: &'static str,
    pub number: Option<String>,
    pub mode: Option<&'static str>,
    pub extension: Option<String>,
    pub status: &'static str,
    pub is_default: bool,
    pub created_at: i64,
    pub app_secret: Option<Vec<u8>>,
    pub app_key_id: Option<String>,
    pub app_parameters: Option<String>,
    pub replaces: Option<String>,
}

/// Stored text back into owned strings, for rows read from a database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StoredMethod {
    pub id: String,
    pub kind: String,
    pub number: Option<String>,
    pub mode: Option<String>,
    pub extension: Option<String>,
    pub status: String,
    pub is_default: bool,
    pub created_at: i64,
    pub app_secret: Option<Vec<u8>>,
    pub app_key_id: Option<String>,
    pub app_parameters: Option<String>,
    pub replaces: Option<String>,
}

pub(crate) fn millis(t: Timestamp) -> i64 {
    i64::try_from(t.unix_millis()).unwrap_or(i64::MAX)
}

pub(crate) fn timestamp(v: i64) -> Result<Timestamp, StoreError> {
    u64::try_from(v)
        .map(Timestamp::from_unix_millis)
        .map_err(|_| StoreError::corrupt("a negative timestamp"))
}

/// Maps a u64 step onto i64 keeping its order, so SQL compares it exactly.
pub(crate) fn step_to_i64(step: u64) -> i64 {
    (step ^ (1 << 63)) as i64
}

/// The inverse of [`step_to_i64`].
pub(crate) fn step_from_i64(v: i64) -> u64 {
    (v as u64) ^ (1 << 63)
}

pub(crate) fn u32_of(v: i64, what: &str) -> Result<u32, StoreError> {
    u32::try_from(v).map_err(|_| StoreError::corrupt(format!("{what} out of range")))
}

pub(crate) fn status_str(s: MethodStatus) -> &'static str {
    match s {
        MethodStatus::Pending => "pending",
        MethodStatus::Active => "active",
        MethodStatus::Blocked => "blocked",
    }
}

pub(crate) fn status_of(s: &str) -> Result<MethodStatus, StoreError> {
    Ok(match s {
        "pending" => MethodStatus::Pending,
        "active" => MethodStatus::Active,
        "blocked" => MethodStatus::Blocked,
        _ => return Err(StoreError::corrupt("unknown method status")),
    })
}

pub(crate) fn challenge_status_str(s: ChallengeStatus) -> &'static str {
    match s {
        ChallengeStatus::AwaitingCode => "awaiting_code",
        ChallengeStatus::AwaitingCallConfirmation => "awaiting_call",
        ChallengeStatus::Approved => "approved",
        ChallengeStatus::Completed => "completed",
        ChallengeStatus::Locked => "locked",
        ChallengeStatus::Expired => "expired",
        ChallengeStatus::Canceled => "canceled",
        ChallengeStatus::Denied => "denied",
    }
}

pub(crate) fn challenge_status_of(s: &str) -> Result<ChallengeStatus, StoreError> {
    Ok(match s {
        "awaiting_code" => ChallengeStatus::AwaitingCode,
        "awaiting_call" => ChallengeStatus::AwaitingCallConfirmation,
        "approved" => ChallengeStatus::Approved,
        "completed" => ChallengeStatus::Completed,
        "locked" => ChallengeStatus::Locked,
        "expired" => ChallengeStatus::Expired,
        "canceled" => ChallengeStatus::Canceled,
        "denied" => ChallengeStatus::Denied,
        _ => return Err(StoreError::corrupt("unknown challenge status")),
    })
}

pub(crate) fn purpose_str(p: Purpose) -> &'static str {
    match p {
        Purpose::Enrollment => "enrollment",
        Purpose::SignIn => "sign_in",
    }
}

pub(crate) fn purpose_of(s: &str) -> Result<Purpose, StoreError> {
    Ok(match s {
        "enrollment" => Purpose::Enrollment,
        "sign_in" => Purpose::SignIn,
        _ => return Err(StoreError::corrupt("unknown purpose")),
    })
}

/// The answer's kind and, for sent codes, the keyed hash.
pub(crate) fn answer_parts(a: &Answer) -> (&'static str, Option<Vec<u8>>) {
    match a {
        Answer::SentCode(h) => ("sent_code", Some(h.0.to_vec())),
        Answer::AppCode => ("app_code", None),
        Answer::KeyPress => ("key_press", None),
    }
}

pub(crate) fn answer_of(kind: &str, hash: Option<&[u8]>) -> Result<Answer, StoreError> {
    Ok(match (kind, hash) {
        ("sent_code", Some(h)) => Answer::SentCode(code_hash(h)?),
        ("app_code", _) => Answer::AppCode,
        ("key_press", _) => Answer::KeyPress,
        _ => return Err(StoreError::corrupt("unknown answer")),
    })
}

pub(crate) fn code_hash(bytes: &[u8]) -> Result<CodeHash, StoreError> {
    <[u8; 32]>::try_from(bytes)
        .map(CodeHash)
        .map_err(|_| StoreError::corrupt("a code hash is not 32 bytes"))
}

/// A record as stored: the app secret sealed under the current key.
pub(crate) fn method_row(
    keys: &Keyring,
    user: &UserId,
    r: &MethodRecord,
) -> Result<MethodRow, StoreError> {
    let (kind, number, mode, extension) = match &r.method {
        Method::AuthenticationPhone { number, mode } => (
            "phone",
            Some(number.e164().to_owned()),
            Some(match mode {
                PhoneMode::Sms => "sms",
                PhoneMode::Call => "call",
            }),
            None,
        ),
        Method::OfficePhone { number, extension } => (
            "office",
            Some(number.e164().to_owned()),
            None,
            extension.as_ref().map(|e| e.as_str().to_owned()),
        ),
        Method::AuthenticatorApp => ("app", None, None, None),
        Method::RecoveryCodes => ("recovery", None, None, None),
        _ => {
            return Err(StoreError::new(
                mfa_core::StoreErrorKind::Other,
                "a method kind this store does not know",
            ));
        }
    };
    let (app_secret, app_key_id, app_parameters) = match &r.app {
        Some(app) => {
            let sealed = keys.seal(
                &secret_context(user.as_str(), r.id.as_str()),
                app.secret.expose(),
            )?;
            (
                Some(sealed.blob),
                Some(sealed.key_id),
                Some(app.parameters.clone()),
            )
        }
        None => (None, None, None),
    };
    Ok(MethodRow {
        id: r.id.as_str().to_owned(),
        kind,
        number,
        mode,
        extension,
        status: status_str(r.status),
        is_default: r.is_default,
        created_at: millis(r.created_at),
        app_secret,
        app_key_id,
        app_parameters,
        replaces: r.replaces.as_ref().map(|m| m.as_str().to_owned()),
    })
}

fn number_of(n: Option<&str>) -> Result<PhoneNumber, StoreError> {
    PhoneNumber::parse(n.ok_or_else(|| StoreError::corrupt("a phone method without a number"))?)
        .map_err(|_| StoreError::corrupt("a stored phone number does not parse"))
}

/// A stored row back into a record, the app secret opened.
pub(crate) fn method_record(
    keys: &Keyring,
    user: &UserId,
    m: &StoredMethod,
) -> Result<MethodRecord, StoreError> {
    let method = match m.kind.as_str() {
        "phone" => Method::AuthenticationPhone {
            number: number_of(m.number.as_deref())?,
            mode: match m.mode.as_deref() {
                Some("sms") => PhoneMode::Sms,
                Some("call") => PhoneMode::Call,
                _ => return Err(StoreError::corrupt("unknown phone mode")),
            },
        },
        "office" => Method::OfficePhone {
            number: number_of(m.number.as_deref())?,
            extension: match &m.extension {
                Some(e) => Some(
                    Extension::parse(e)
                        .map_err(|_| StoreError::corrupt("a stored extension does not parse"))?,
                ),
                None => None,
            },
        },
        "app" => Method::AuthenticatorApp,
        "recovery" => Method::RecoveryCodes,
        _ => return Err(StoreError::corrupt("unknown method kind")),
    };
    let app = match (&m.app_secret, &m.app_key_id) {
        (Some(blob), Some(key_id)) => Some(AppCredential {
            secret: keys.open(key_id, &secret_context(user.as_str(), &m.id), blob)?,
            parameters: m.app_parameters.clone().unwrap_or_default(),
        }),
        (None, None) => None,
        _ => return Err(StoreError::corrupt("an app secret without its key id")),
    };
    Ok(MethodRecord {
        id: method_id(&m.id)?,
        method,
        status: status_of(&m.status)?,
        is_default: m.is_default,
        created_at: timestamp(m.created_at)?,
        app,
        replaces: m.replaces.as_deref().map(method_id).transpose()?,
    })
}

pub(crate) fn method_id(s: &str) -> Result<MethodId, StoreError> {
    MethodId::parse(s).map_err(|_| StoreError::corrupt("a stored method id does not parse"))
}

pub(crate) fn user_id(s: &str) -> Result<UserId, StoreError> {
    UserId::new(s).map_err(|_| StoreError::corrupt("a stored user id does not parse"))
}

// --- the method-list rules, as the memory store applies them ------------------------

/// The part of a method the list rules look at and change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Slot {
    pub id: String,
    pub status: MethodStatus,
    pub is_default: bool,
    pub replaces: Option<String>,
}

/// What to write back after a rule ran: removed ids and changed slots.
#[derive(Debug, Default)]
pub(crate) struct Changes {
    pub removed: Vec<String>,
    pub updated: Vec<Slot>,
}

/// The difference between the list before and after.
pub(crate) fn diff(before: &[Slot], after: &[Slot]) -> Changes {
    let mut changes = Changes::default();
    for b in before {
        match after.iter().find(|a| a.id == b.id) {
            None => changes.removed.push(b.id.clone()),
            Some(a) if a != b => changes.updated.push(a.clone()),
            Some(_) => {}
        }
    }
    changes
}

fn ensure_one_default(list: &mut [Slot]) {
    let has = list
        .iter()
        .any(|m| m.is_default && m.status == MethodStatus::Active);
    if !has {
        if let Some(first) = list.iter_mut().find(|m| m.status == MethodStatus::Active) {
            first.is_default = true;
        }
    }
}

/// [`mfa_core::Store::activate_method`] on a list in insertion order.
pub(crate) fn activate(list: &mut Vec<Slot>, id: &str, make_default: bool) -> bool {
    let Some(pos) = list
        .iter()
        .position(|m| m.id == id && m.status == MethodStatus::Pending)
    else {
        return false;
    };
    let mut inherit_default = false;
    if let Some(old) = list[pos].replaces.clone() {
        if let Some(old_pos) = list.iter().position(|m| m.id == old) {
            inherit_default = list[old_pos].is_default;
            list.remove(old_pos);
        }
    }
    let make_default = make_default || inherit_default;
    for m in list.iter_mut() {
        if m.id == id {
            m.status = MethodStatus::Active;
            m.is_default = make_default;
            m.replaces = None;
        } else if make_default {
            m.is_default = false;
        }
    }
    ensure_one_default(list);
    true
}

/// What [`remove`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RemoveOutcome {
    Removed,
    NotFound,
    LastMethod,
}

/// [`mfa_core::Store::remove_method`] on a list in insertion order.
pub(crate) fn remove(list: &mut Vec<Slot>, id: &str, allow_last: bool) -> RemoveOutcome {
    let Some(pos) = list.iter().position(|m| m.id == id) else {
        return RemoveOutcome::NotFound;
    };
    let active = list
        .iter()
        .filter(|m| m.status == MethodStatus::Active)
        .count();
    if list[pos].status == MethodStatus::Active && active == 1 && !allow_last {
        return RemoveOutcome::LastMethod;
    }
    list.remove(pos);
    ensure_one_default(list);
    RemoveOutcome::Removed
}

/// [`mfa_core::Store::set_default`] on a list.
pub(crate) fn set_default(list: &mut [Slot], id: &str) -> bool {
    if !list
        .iter()
        .any(|m| m.id == id && m.status == MethodStatus::Active)
    {
        return false;
    }
    for m in list.iter_mut() {
        m.is_default = m.id == id;
    }
    true
}

/// [`mfa_core::Store::block_method`] on a list.
pub(crate) fn block(list: &mut [Slot], id: &str) -> bool {
    let Some(m) = list.iter_mut().find(|m| m.id == id) else {
        return false;
    };
    m.status = MethodStatus::Blocked;
    m.is_default = false;
    ensure_one_default(list);
    true
}

pub(crate) fn removal(o: RemoveOutcome) -> mfa_core::store::Removal {
    match o {
        RemoveOutcome::Removed => mfa_core::store::Removal::Removed,
        RemoveOutcome::NotFound => mfa_core::store::Removal::NotFound,
        RemoveOutcome::LastMethod => mfa_core::store::Removal::LastMethod,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_keep_their_order_as_signed_integers() {
        let steps = [0, 1, 56_666_667, (1 << 53) + 1, u64::MAX - 1, u64::MAX];
        for w in steps.windows(2) {
            assert!(step_to_i64(w[0]) < step_to_i64(w[1]));
        }
        for s in steps {
            assert_eq!(step_from_i64(step_to_i64(s)), s);
        }
    }

    #[test]
    fn statuses_round_trip() {
        for s in [
            MethodStatus::Pending,
            MethodStatus::Active,
            MethodStatus::Blocked,
        ] {
            assert_eq!(status_of(status_str(s)).unwrap(), s);
        }
        assert!(status_of("nope").is_err());
        assert!(challenge_status_of("nope").is_err());
        assert!(answer_of("sent_code", Some(&[1, 2])).is_err());
    }
}
