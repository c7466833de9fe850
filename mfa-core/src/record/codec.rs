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
use crate::method::{
    AccessPassId, AppCredential, ChallengeId, Extension, Method, MethodId, MethodRecord,
    MethodStatus, PhoneMode,
};
use crate::phone::{NumberKind, PhoneNumber};
use crate::record::{
    Failures, ProofRecord, ProofSource, RecoveryCodeRecord, SendWindow, Undelivered, UserRecord,
    UserStatus,
};

/// The format written; a store holding another refuses to read it.
const FORMAT: u8 = 2;
/// No list in a record is longer than this (each is bounded far below by the machine).
const MAX_LIST: usize = 1024;

/// The record as bytes.
pub fn encode(record: &UserRecord) -> Vec<u8> {
    let mut w = Writer(Vec::with_capacity(256));
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
        write_method(&mut w, m);
    }
    w.len(record.challenges.len());
    for c in &record.challenges {
        write_challenge(&mut w, c);
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
    w.0
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
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_be_bytes());
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
        self.0.extend_from_slice(&b[..n]);
    }
    fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }
    fn bytes32(&mut self, b: &[u8; 32]) {
        self.0.extend_from_slice(b);
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
