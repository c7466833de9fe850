//! The record's binary form, for stores that keep bytes (and seal them).
//!
//! Written by hand rather than through serde: the record holds secrets that must
//! never gain a public `Serialize`, phone numbers are stored with what parsing found
//! so loading never parses them again, and decoding any bytes at all gives a typed
//! error, never a panic. Layout: a format byte, then fields in order, integers
//! big-endian, strings and byte strings with a `u16` length, lists with a `u16` count.

use crate::access_pass::AccessPassRecord;
use crate::challenge::{Answer, Challenge, ChallengeStatus};
use crate::clock::Timestamp;
use crate::code::{CodeHash, SecretBytes};
use crate::delivery::Purpose;
use crate::device::DeviceRecord;
use crate::email::EmailAddress;
use crate::error::StoreError;
use crate::inventory::{Assignment, InventoryRecord, OathKind, StoredToken};
use crate::method::{
    AccessPassId, AppCredential, ChallengeId, Extension, Method, MethodId, MethodName,
    MethodRecord, MethodStatus, PhoneMode, TokenSerial,
};
use crate::passkey::{PasskeyCeremony, PasskeyCredential};
use crate::phone::{NumberKind, PhoneNumber};
use crate::record::{
    Failures, ProofRecord, ProofSource, RecoveryCodeRecord, SendWindow, Undelivered, UserRecord,
    UserStatus,
};
use crate::user::UserId;

/// The format written; a store holding another refuses to read it.
const FORMAT: u8 = 2;
/// No list in a record is longer than this (each is bounded far below by the machine).
const MAX_LIST: usize = 1024;

/// The record as bytes.
pub fn encode(record: &UserRecord) -> Vec<u8> {
    encode_into(record, Vec::new())
}

/// Appends the record's bytes to `out` and returns it: a store that seals can encode
/// behind room for its nonce and encrypt in place, with no second buffer.
///
/// The buffer is sized for the record before the first byte is written. If it must
/// still grow, the smaller buffer is wiped before it is freed, so no partial copy of
/// the plaintext (phone numbers, secrets, hashes) is left in freed memory.
pub fn encode_into(record: &UserRecord, mut out: Vec<u8>) -> Vec<u8> {
    out.reserve(size_hint(record));
    let mut w = Writer(out);
    write_record(&mut w, record);
    w.0
}

/// About as many bytes as `record` encodes to, erring high: a method or a challenge is
/// at most a couple of hundred bytes, a passkey its credential and data, and the other
/// entries a few dozen.
fn size_hint(record: &UserRecord) -> usize {
    let small = record.recovery_codes.len()
        + record.proofs.len()
        + record.undelivered.len()
        + record.devices.len()
        + record.access_passes.len();
    let passkeys: usize = record
        .methods
        .iter()
        .filter_map(|m| m.passkey.as_ref())
        .map(|p| p.credential_id.len() + p.data.len() + 64)
        .sum();
    let ceremonies: usize = record
        .passkey_ceremonies
        .iter()
        .map(|c| c.state.len() + 64)
        .sum();
    // A token inventory (an administrator's record) grows the buffer instead.
    128 + 256 * record.methods.len()
        + 192 * record.challenges.len()
        + 96 * small
        + passkeys
        + ceremonies
}

fn write_record(w: &mut Writer, record: &UserRecord) {
    w.u8(FORMAT);
    match record.status {
        UserStatus::Active => w.u8(0),
        UserStatus::Suspended { since } => {
            w.u8(1);
            w.time(since);
        }
    }
    w.u64(record.updated_at.unix_millis());
    w.len(record.methods.len());
    for m in &record.methods {
        write_method(w, m);
    }
    w.len(record.challenges.len());
    for c in &record.challenges {
        write_challenge(w, c);
    }
    w.u32(record.failures.count);
    w.opt_time(record.failures.last_at);
    w.len(record.recovery_codes.len());
    for r in &record.recovery_codes {
        w.bytes32(&r.hash.0);
        w.opt_time(r.used_at);
    }
    w.len(record.proofs.len());
    for p in &record.proofs {
        w.bytes32(&p.hash.0);
        match &p.source {
            ProofSource::Method(id) => {
                w.u8(0);
                w.str(id.as_str());
            }
            ProofSource::RecoveryCode => w.u8(1),
            ProofSource::AccessPass(id) => {
                w.u8(2);
                w.str(id.as_str());
            }
        }
        w.time(p.expires_at);
    }
    w.u32(record.sends.count);
    w.time(record.sends.started_at);
    w.len(record.undelivered.len());
    for u in &record.undelivered {
        w.str(u.challenge_id.as_str());
        w.u32(u.generation);
    }
    w.len(record.devices.len());
    for d in &record.devices {
        w.bytes32(&d.hash.0);
        w.time(d.created_at);
        w.time(d.expires_at);
    }
    match &record.locale {
        None => w.u8(0),
        Some(locale) => {
            w.u8(1);
            w.str(locale.as_str());
        }
    }
    w.len(record.access_passes.len());
    for p in &record.access_passes {
        w.str(p.id.as_str());
        w.bytes32(&p.hash.0);
        w.time(p.issued_at);
        w.time(p.expires_at);
        w.u32(p.max_uses);
        w.u32(p.uses_left);
        w.opt_time(p.last_used_at);
        w.opt_time(p.revoked_at);
    }
    write_names(w, record);
    write_passkeys(w, record);
    w.len(record.passkey_ceremonies.len());
    for c in &record.passkey_ceremonies {
        w.str(c.challenge_id.as_str());
        w.bytes(&c.state);
    }
    write_inventory(w, record.inventory.as_ref());
    write_drifts(w, record);
}

/// Hardware tokens' drifts: a list of (method id, drift) for the non-zero ones.
fn write_drifts(w: &mut Writer, record: &UserRecord) {
    let drifted: Vec<_> = record
        .methods
        .iter()
        .filter(|m| m.token_drift != 0)
        .collect();
    w.len(drifted.len());
    for m in drifted {
        w.str(m.id.as_str());
        w.u64(m.token_drift as u64);
    }
}

fn read_drifts(r: &mut Reader<'_>, methods: &mut [MethodRecord]) -> Result<(), StoreError> {
    let drifts = r.list(|r| Ok((method_id(r.str()?)?, r.u64()? as i64)))?;
    for (id, drift) in drifts {
        let method = methods
            .iter_mut()
            .find(|m| m.id == id)
            .ok_or_else(|| bad("token drift's method"))?;
        method.token_drift = drift;
    }
    Ok(())
}

/// The inventory section: 0 (a user's record), 1 and a token, or 2 and an index page.
fn write_inventory(w: &mut Writer, inventory: Option<&InventoryRecord>) {
    match inventory {
        None => w.u8(0),
        Some(InventoryRecord::Token(t)) => {
            w.u8(1);
            w.str(t.serial.as_str());
            w.u8(match t.kind {
                OathKind::Totp => 0,
                OathKind::Hotp => 1,
            });
            match &t.credential {
                Some(c) => {
                    w.u8(1);
                    w.bytes(c.secret.expose());
                    w.str(&c.parameters);
                }
                None => w.u8(0),
            }
            w.time(t.imported_at);
            match &t.assigned {
                Some(a) => {
                    w.u8(1);
                    w.str(a.user.as_str());
                    w.time(a.at);
                }
                None => w.u8(0),
            }
            w.opt_time(t.retired_at);
        }
        Some(InventoryRecord::Index(serials)) => {
            w.u8(2);
            w.len(serials.len());
            for s in serials {
                w.str(s.as_str());
            }
        }
    }
}

fn read_inventory(r: &mut Reader<'_>) -> Result<Option<InventoryRecord>, StoreError> {
    let serial = |r: &mut Reader<'_>| TokenSerial::parse(r.str()?).map_err(|_| bad("token serial"));
    Ok(match r.u8()? {
        0 => None,
        1 => {
            let serial = serial(r)?;
            let kind = match r.u8()? {
                0 => OathKind::Totp,
                1 => OathKind::Hotp,
                _ => return Err(bad("token kind")),
            };
            let credential = match r.u8()? {
                0 => None,
                1 => Some(AppCredential {
                    secret: SecretBytes::new(r.bytes()?.to_vec()),
                    parameters: r.str()?.to_owned(),
                }),
                _ => return Err(bad("token credential")),
            };
            let imported_at = r.time()?;
            let assigned = match r.u8()? {
                0 => None,
                1 => Some(Assignment {
                    user: UserId::new(r.str()?).map_err(|_| bad("token holder"))?,
                    at: r.time()?,
                }),
                _ => return Err(bad("token assignment")),
            };
            Some(InventoryRecord::Token(StoredToken {
                serial,
                kind,
                credential,
                imported_at,
                assigned,
                retired_at: r.opt_time()?,
            }))
        }
        2 => Some(InventoryRecord::Index(r.list(serial)?)),
        _ => return Err(bad("inventory")),
    })
}

/// Passkey credentials: a list of (method id, credential id, counter, flags, last
/// use, the verifier's form).
fn write_passkeys(w: &mut Writer, record: &UserRecord) {
    let keys: Vec<_> = record
        .methods
        .iter()
        .filter_map(|m| m.passkey.as_ref().map(|p| (&m.id, p)))
        .collect();
    w.len(keys.len());
    for (id, p) in keys {
        w.str(id.as_str());
        w.bytes(&p.credential_id);
        w.u32(p.counter);
        w.u8(u8::from(p.backup_eligible)
            | u8::from(p.backup_state) << 1
            | u8::from(p.user_verified) << 2);
        w.opt_time(p.last_used_at);
        w.bytes(&p.data);
    }
}

fn read_passkeys(r: &mut Reader<'_>, methods: &mut [MethodRecord]) -> Result<(), StoreError> {
    let keys = r.list(|r| {
        let id = method_id(r.str()?)?;
        let credential_id = r.bytes()?.to_vec();
        let counter = r.u32()?;
        let flags = r.u8()?;
        if flags > 0b111 {
            return Err(bad("passkey flags"));
        }
        let last_used_at = r.opt_time()?;
        let data = r.bytes()?.to_vec();
        Ok((
            id,
            PasskeyCredential {
                credential_id,
                counter,
                backup_eligible: flags & 1 != 0,
                backup_state: flags & 2 != 0,
                user_verified: flags & 4 != 0,
                last_used_at,
                data,
            },
        ))
    })?;
    for (id, key) in keys {
        let method = methods
            .iter_mut()
            .find(|m| m.id == id)
            .ok_or_else(|| bad("passkey's method"))?;
        method.passkey = Some(key);
    }
    Ok(())
}

// Sections appended after the send window. Each is read only when bytes remain, so
// a record written before it still loads.

/// The names users gave their methods: a list of (method id, name).
fn write_names(w: &mut Writer, record: &UserRecord) {
    let named: Vec<_> = record
        .methods
        .iter()
        .filter_map(|m| m.name.as_ref().map(|n| (&m.id, n)))
        .collect();
    w.len(named.len());
    for (id, name) in named {
        w.str(id.as_str());
        w.str(name.as_str());
    }
}

fn read_names(r: &mut Reader<'_>, methods: &mut [MethodRecord]) -> Result<(), StoreError> {
    let names = r.list(|r| {
        let id = method_id(r.str()?)?;
        let name = MethodName::parse(r.str()?).map_err(|_| bad("method name"))?;
        Ok((id, name))
    })?;
    for (id, name) in names {
        let method = methods
            .iter_mut()
            .find(|m| m.id == id)
            .ok_or_else(|| bad("method name's method"))?;
        method.name = Some(name);
    }
    Ok(())
}

/// A record from its bytes; a typed error for anything that is not one.
pub fn decode(bytes: &[u8]) -> Result<UserRecord, StoreError> {
    let mut r = Reader(bytes);
    let format = r.u8()?;
    if format != FORMAT {
        return Err(StoreError::corrupt(format!(
            "a record in format {format}; this version reads format {FORMAT}"
        )));
    }
    let status = match r.u8()? {
        0 => UserStatus::Active,
        1 => UserStatus::Suspended { since: r.time()? },
        _ => return Err(bad("user status")),
    };
    let updated_at = Timestamp::from_unix_millis(r.u64()?);
    let methods = r.list(read_method)?;
    let challenges = r.list(read_challenge)?;
    let failures = Failures {
        count: r.u32()?,
        last_at: r.opt_time()?,
    };
    let recovery_codes = r.list(|r| {
        Ok(RecoveryCodeRecord {
            hash: CodeHash(r.bytes32()?),
            used_at: r.opt_time()?,
        })
    })?;
    let proofs = r.list(|r| {
        let hash = CodeHash(r.bytes32()?);
        let source = match r.u8()? {
            0 => ProofSource::Method(method_id(r.str()?)?),
            1 => ProofSource::RecoveryCode,
            2 => ProofSource::AccessPass(
                AccessPassId::parse(r.str()?).map_err(|_| bad("access pass id"))?,
            ),
            _ => return Err(bad("proof source")),
        };
        Ok(ProofRecord {
            hash,
            source,
            expires_at: r.time()?,
        })
    })?;
    let sends = SendWindow {
        count: r.u32()?,
        started_at: r.time()?,
    };
    let undelivered = r.list(|r| {
        Ok(Undelivered {
            challenge_id: ChallengeId::parse(r.str()?).map_err(|_| bad("challenge id"))?,
            generation: r.u32()?,
        })
    })?;
    let devices = r.list(|r| {
        Ok(DeviceRecord {
            hash: CodeHash(r.bytes32()?),
            created_at: r.time()?,
            expires_at: r.time()?,
        })
    })?;
    let locale = match r.u8()? {
        0 => None,
        1 => Some(crate::locale::Locale::parse(r.str()?).map_err(|_| bad("locale"))?),
        _ => return Err(bad("locale")),
    };
    // Absent in records written before passes existed: none then.
    let access_passes = if r.0.is_empty() {
        Vec::new()
    } else {
        r.list(|r| {
            Ok(AccessPassRecord {
                id: AccessPassId::parse(r.str()?).map_err(|_| bad("access pass id"))?,
                hash: CodeHash(r.bytes32()?),
                issued_at: r.time()?,
                expires_at: r.time()?,
                max_uses: r.u32()?,
                uses_left: r.u32()?,
                last_used_at: r.opt_time()?,
                revoked_at: r.opt_time()?,
            })
        })?
    };
    let mut methods = methods;
    if !r.0.is_empty() {
        read_names(&mut r, &mut methods)?;
    }
    if !r.0.is_empty() {
        read_passkeys(&mut r, &mut methods)?;
    }
    let mut passkey_ceremonies = Vec::new();
    if !r.0.is_empty() {
        passkey_ceremonies = r.list(|r| {
            let challenge_id = ChallengeId::parse(r.str()?).map_err(|_| bad("challenge id"))?;
            let state = r.bytes()?.to_vec();
            Ok(PasskeyCeremony {
                challenge_id,
                state,
            })
        })?;
    }
    // Absent in records written before the inventory existed.
    let inventory = if r.0.is_empty() {
        None
    } else {
        read_inventory(&mut r)?
    };
    if !r.0.is_empty() {
        read_drifts(&mut r, &mut methods)?;
    }
    if !r.0.is_empty() {
        return Err(bad("trailing bytes"));
    }
    Ok(UserRecord {
        status,
        methods,
        challenges,
        failures,
        recovery_codes,
        proofs,
        sends,
        updated_at,
        undelivered,
        devices,
        locale,
        access_passes,
        passkey_ceremonies,
        inventory,
    })
}

fn bad(what: &str) -> StoreError {
    StoreError::corrupt(format!("a stored record's {what} is malformed"))
}

fn method_id(s: &str) -> Result<MethodId, StoreError> {
    MethodId::parse(s).map_err(|_| bad("method id"))
}

fn write_number(w: &mut Writer, n: &PhoneNumber) {
    w.str(n.e164());
    w.u16(n.country_code());
    w.str(n.region().unwrap_or(""));
    w.u8(match n.kind() {
        NumberKind::Mobile => 0,
        NumberKind::FixedLine => 1,
        NumberKind::FixedLineOrMobile => 2,
        NumberKind::Voip => 3,
        NumberKind::PremiumRate => 4,
        NumberKind::TollFree => 5,
        NumberKind::Other => 6,
    });
}

fn read_number(r: &mut Reader<'_>) -> Result<PhoneNumber, StoreError> {
    let e164 = r.str()?;
    if !e164.starts_with('+') || e164.len() > 16 || !e164[1..].bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("phone number"));
    }
    let country_code = r.u16()?;
    let region = r.str()?;
    let region = (!region.is_empty()).then_some(region);
    let kind = match r.u8()? {
        0 => NumberKind::Mobile,
        1 => NumberKind::FixedLine,
        2 => NumberKind::FixedLineOrMobile,
        3 => NumberKind::Voip,
        4 => NumberKind::PremiumRate,
        5 => NumberKind::TollFree,
        6 => NumberKind::Other,
        _ => return Err(bad("number kind")),
    };
    PhoneNumber::from_stored(e164, country_code, region, kind).ok_or_else(|| bad("phone number"))
}

fn write_method(w: &mut Writer, m: &MethodRecord) {
    w.str(m.id.as_str());
    match &m.method {
        Method::AuthenticationPhone { number, mode } => {
            w.u8(0);
            write_number(w, number);
            w.u8(match mode {
                PhoneMode::Sms => 0,
                PhoneMode::Call => 1,
            });
        }
        Method::OfficePhone { number, extension } => {
            w.u8(1);
            write_number(w, number);
            w.str(extension.as_ref().map_or("", Extension::as_str));
        }
        Method::AuthenticatorApp => w.u8(2),
        Method::RecoveryCodes => w.u8(3),
        Method::Email { address } => {
            w.u8(4);
            w.str(address.as_str());
        }
        // Far from the first tags, so kinds added elsewhere do not collide.
        Method::HardwareToken { serial } => {
            w.u8(0x20);
            w.str(serial.as_str());
        }
        Method::Passkey => w.u8(0x21),
    }
    w.u8(match m.status {
        MethodStatus::Pending => 0,
        MethodStatus::Active => 1,
        MethodStatus::Blocked => 2,
    });
    w.u8(u8::from(m.is_default));
    w.time(m.created_at);
    match &m.app {
        Some(app) => {
            w.u8(1);
            w.bytes(app.secret.expose());
            w.str(&app.parameters);
        }
        None => w.u8(0),
    }
    w.str(m.replaces.as_ref().map_or("", MethodId::as_str));
    match m.app_step {
        Some(s) => {
            w.u8(1);
            w.u64(s);
        }
        None => w.u8(0),
    }
}

fn read_method(r: &mut Reader<'_>) -> Result<MethodRecord, StoreError> {
    let id = method_id(r.str()?)?;
    let method = match r.u8()? {
        0 => {
            let number = read_number(r)?;
            let mode = match r.u8()? {
                0 => PhoneMode::Sms,
                1 => PhoneMode::Call,
                _ => return Err(bad("phone mode")),
            };
            Method::AuthenticationPhone { number, mode }
        }
        1 => {
            let number = read_number(r)?;
            let extension = match r.str()? {
                "" => None,
                e => Some(Extension::parse(e).map_err(|_| bad("extension"))?),
            };
            Method::OfficePhone { number, extension }
        }
        2 => Method::AuthenticatorApp,
        3 => Method::RecoveryCodes,
        4 => Method::Email {
            address: EmailAddress::parse(r.str()?).map_err(|_| bad("email address"))?,
        },
        0x21 => Method::Passkey,
        0x20 => Method::HardwareToken {
            serial: TokenSerial::parse(r.str()?).map_err(|_| bad("token serial"))?,
        },
        _ => return Err(bad("method")),
    };
    let status = match r.u8()? {
        0 => MethodStatus::Pending,
        1 => MethodStatus::Active,
        2 => MethodStatus::Blocked,
        _ => return Err(bad("method status")),
    };
    let is_default = r.bool()?;
    let created_at = r.time()?;
    let app = match r.u8()? {
        0 => None,
        1 => Some(AppCredential {
            secret: SecretBytes::new(r.bytes()?.to_vec()),
            parameters: r.str()?.to_owned(),
        }),
        _ => return Err(bad("app credential")),
    };
    let replaces = match r.str()? {
        "" => None,
        s => Some(method_id(s)?),
    };
    let app_step = match r.u8()? {
        0 => None,
        1 => Some(r.u64()?),
        _ => return Err(bad("app step")),
    };
    Ok(MethodRecord {
        id,
        method,
        status,
        is_default,
        created_at,
        app,
        replaces,
        app_step,
        name: None,
        passkey: None,
        token_drift: 0,
    })
}

const STATUSES: [ChallengeStatus; 8] = [
    ChallengeStatus::AwaitingCode,
    ChallengeStatus::AwaitingCallConfirmation,
    ChallengeStatus::Approved,
    ChallengeStatus::Completed,
    ChallengeStatus::Locked,
    ChallengeStatus::Expired,
    ChallengeStatus::Canceled,
    ChallengeStatus::Denied,
];

fn write_challenge(w: &mut Writer, c: &Challenge) {
    w.str(c.id.as_str());
    w.str(c.method_id.as_str());
    w.u8(match c.purpose {
        Purpose::Enrollment => 0,
        Purpose::SignIn => 1,
    });
    w.u8(STATUSES.iter().position(|s| *s == c.status).unwrap_or(0) as u8);
    match c.answer {
        Answer::SentCode(hash) => {
            w.u8(0);
            w.bytes32(&hash.0);
        }
        Answer::AppCode => w.u8(1),
        Answer::KeyPress => w.u8(2),
        Answer::Passkey => w.u8(0x21),
    }
    w.u32(c.generation);
    w.u32(c.attempts);
    w.u32(c.max_attempts);
    w.u32(c.sends);
    w.time(c.created_at);
    w.time(c.expires_at);
    w.opt_time(c.last_sent_at);
    w.opt_time(c.approved_at);
    w.opt_time(c.closed_at);
}

fn read_challenge(r: &mut Reader<'_>) -> Result<Challenge, StoreError> {
    let id = ChallengeId::parse(r.str()?).map_err(|_| bad("challenge id"))?;
    let method_id = method_id(r.str()?)?;
    let purpose = match r.u8()? {
        0 => Purpose::Enrollment,
        1 => Purpose::SignIn,
        _ => return Err(bad("purpose")),
    };
    let status = *STATUSES
        .get(usize::from(r.u8()?))
        .ok_or_else(|| bad("challenge status"))?;
    let answer = match r.u8()? {
        0 => Answer::SentCode(CodeHash(r.bytes32()?)),
        1 => Answer::AppCode,
        2 => Answer::KeyPress,
        0x21 => Answer::Passkey,
        _ => return Err(bad("answer")),
    };
    Ok(Challenge {
        id,
        method_id,
        purpose,
        status,
        answer,
        generation: r.u32()?,
        attempts: r.u32()?,
        max_attempts: r.u32()?,
        sends: r.u32()?,
        created_at: r.time()?,
        expires_at: r.time()?,
        last_sent_at: r.opt_time()?,
        approved_at: r.opt_time()?,
        closed_at: r.opt_time()?,
    })
}

struct Writer(Vec<u8>);

impl Writer {
    /// Every write goes through here: a buffer outgrown is wiped, then freed.
    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        if self.0.capacity() - self.0.len() < bytes.len() {
            self.grow(bytes.len());
        }
        self.0.extend_from_slice(bytes);
    }
    #[cold]
    #[inline(never)]
    fn grow(&mut self, more: usize) {
        let mut grown = Vec::with_capacity((self.0.len() + more).max(2 * self.0.capacity()));
        grown.extend_from_slice(&self.0);
        let mut old = std::mem::replace(&mut self.0, grown);
        zeroize::Zeroize::zeroize(&mut old);
    }
    fn u8(&mut self, v: u8) {
        self.put(&[v]);
    }
    fn u16(&mut self, v: u16) {
        self.put(&v.to_be_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.put(&v.to_be_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.put(&v.to_be_bytes());
    }
    fn time(&mut self, t: Timestamp) {
        self.u64(t.unix_millis());
    }
    fn opt_time(&mut self, t: Option<Timestamp>) {
        // Timestamps are milliseconds since 1970; u64::MAX stands for none.
        self.u64(t.map_or(u64::MAX, Timestamp::unix_millis));
    }
    fn len(&mut self, n: usize) {
        self.u16(u16::try_from(n).unwrap_or(u16::MAX));
    }
    fn bytes(&mut self, b: &[u8]) {
        let n = b.len().min(usize::from(u16::MAX));
        self.len(n);
        self.put(&b[..n]);
    }
    fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }
    fn bytes32(&mut self, b: &[u8; 32]) {
        self.put(b);
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], StoreError> {
        if self.0.len() < n {
            return Err(bad("length"));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], StoreError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, StoreError> {
        Ok(self.array::<1>()?[0])
    }
    fn bool(&mut self) -> Result<bool, StoreError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(bad("flag")),
        }
    }
    fn u16(&mut self) -> Result<u16, StoreError> {
        Ok(u16::from_be_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32, StoreError> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, StoreError> {
        Ok(u64::from_be_bytes(self.array()?))
    }
    fn time(&mut self) -> Result<Timestamp, StoreError> {
        Ok(Timestamp::from_unix_millis(self.u64()?))
    }
    fn opt_time(&mut self) -> Result<Option<Timestamp>, StoreError> {
        let v = self.u64()?;
        Ok((v != u64::MAX).then(|| Timestamp::from_unix_millis(v)))
    }
    fn bytes(&mut self) -> Result<&'a [u8], StoreError> {
        let n = usize::from(self.u16()?);
        self.take(n)
    }
    fn str(&mut self) -> Result<&'a str, StoreError> {
        std::str::from_utf8(self.bytes()?).map_err(|_| bad("text"))
    }
    fn bytes32(&mut self) -> Result<[u8; 32], StoreError> {
        self.array()
    }
    fn list<T>(
        &mut self,
        mut item: impl FnMut(&mut Self) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let n = usize::from(self.u16()?);
        if n > MAX_LIST {
            return Err(bad("list length"));
        }
        let mut v = Vec::with_capacity(n.min(64));
        for _ in 0..n {
            v.push(item(self)?);
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named_record() -> UserRecord {
        let method = |id: &str, name: Option<&str>| MethodRecord {
            id: MethodId::parse(id).unwrap(),
            method: Method::AuthenticatorApp,
            status: MethodStatus::Active,
            is_default: false,
            created_at: Timestamp::from_unix_secs(1),
            app: None,
            replaces: None,
            app_step: None,
            name: name.map(|n| MethodName::parse(n).unwrap()),
            passkey: None,
            token_drift: 0,
        };
        UserRecord {
            methods: vec![method("a1", Some("work phone")), method("a2", None)],
            ..UserRecord::default()
        }
    }

    #[test]
    fn method_names_round_trip() {
        let record = named_record();
        assert_eq!(decode(&encode(&record)).unwrap(), record);
    }

    #[test]
    fn encoding_behind_a_prefix_or_past_the_size_hint_gives_the_same_bytes() {
        let record = named_record();
        let alone = encode(&record);
        let behind = encode_into(&record, b"nonce".to_vec());
        assert_eq!(&behind[..5], b"nonce");
        assert_eq!(&behind[5..], &alone[..]);
        // An inventory is not in the size hint: a thousand serials grow the buffer
        // many times over, and every byte still lands in order.
        let serials: Vec<TokenSerial> = (0..1000)
            .map(|i| TokenSerial::parse(&format!("SERIAL-{i:05}")).unwrap())
            .collect();
        let index = UserRecord {
            inventory: Some(InventoryRecord::Index(serials)),
            ..named_record()
        };
        let grown = encode_into(&index, Vec::new());
        assert!(grown.len() > 4 * size_hint(&index), "{}", grown.len());
        assert_eq!(decode(&grown).unwrap(), index);
    }

    #[test]
    fn a_record_written_before_the_names_section_still_loads() {
        let mut old = named_record();
        old.methods[0].name = None;
        let mut bytes = encode(&old);
        // No inventory (a zero tag) and no token drifts (a zero count).
        assert_eq!(bytes.split_off(bytes.len() - 3), [0, 0, 0]);
        assert_eq!(
            decode(&bytes).unwrap(),
            old,
            "without the inventory sections"
        );
        // The empty names, passkeys and ceremonies sections: zero counts.
        assert_eq!(bytes.split_off(bytes.len() - 4), [0, 0, 0, 0]);
        assert_eq!(decode(&bytes).unwrap(), old, "without the passkey sections");
        assert_eq!(bytes.split_off(bytes.len() - 2), [0, 0]);
        assert_eq!(decode(&bytes).unwrap(), old, "without any appended section");
    }

    #[test]
    fn token_drifts_and_inventory_records_round_trip_and_bad_ones_are_corrupt() {
        let mut record = named_record();
        record.methods[1].token_drift = -12;
        let bytes = encode(&record);
        assert_eq!(decode(&bytes).unwrap(), record);
        // The drift's method id is the record's last string: point it elsewhere.
        let id = record.methods[1].id.as_str().as_bytes().to_vec();
        let at = bytes.windows(id.len()).rposition(|w| w == id).unwrap();
        let mut orphan = bytes.clone();
        orphan[at] = b'z';
        assert!(decode(&orphan).is_err());

        use crate::inventory::{Assignment, InventoryRecord, OathKind, StoredToken};
        let token = UserRecord {
            inventory: Some(InventoryRecord::Token(StoredToken {
                serial: TokenSerial::parse("T-1").unwrap(),
                kind: OathKind::Hotp,
                credential: Some(AppCredential {
                    secret: SecretBytes::new(vec![9; 20]),
                    parameters: "HOTP:SHA1:6:0".into(),
                }),
                imported_at: Timestamp::from_unix_secs(5),
                assigned: Some(Assignment {
                    user: UserId::new("kari@example.no").unwrap(),
                    at: Timestamp::from_unix_secs(6),
                }),
                retired_at: None,
            })),
            ..UserRecord::default()
        };
        let bytes = encode(&token);
        assert_eq!(decode(&bytes).unwrap(), token);
        // Cut anywhere before the (empty) drift section, the bytes never give the
        // token back, nor panic.
        for cut in 0..bytes.len() - 2 {
            assert_ne!(decode(&bytes[..cut]).ok(), Some(token.clone()), "{cut}");
        }
        let index = UserRecord {
            inventory: Some(InventoryRecord::Index(vec![
                TokenSerial::parse("A").unwrap(),
                TokenSerial::parse("B").unwrap(),
            ])),
            ..UserRecord::default()
        };
        assert_eq!(decode(&encode(&index)).unwrap(), index);
    }

    #[test]
    fn a_name_for_a_missing_method_or_a_bad_name_is_corrupt() {
        let record = named_record();
        let bytes = encode(&record);
        let text = b"work phone";
        let at = bytes.windows(text.len()).position(|w| w == text).unwrap();
        let mut bad_name = bytes.clone();
        bad_name[at + 4] = b'\n';
        assert!(decode(&bad_name).is_err());
        let id = bytes.windows(2).rposition(|w| w == b"a1").unwrap();
        let mut orphan = bytes.clone();
        orphan[id + 1] = b'9';
        assert!(decode(&orphan).is_err());
    }
}
