//! The shared in-memory store: Redis, with every guarded step a Lua script.
//!
//! Layout (every key under a prefix, `mfa:` by default; users and free-form keys hex-encoded):
//!
//! | key | type | holds |
//! | --- | --- | --- |
//! | `methods:{user}` | hash | one field per method (its record, the app secret sealed), plus a version and a sequence |
//! | `steps:{user}` | hash | the last accepted app step per method |
//! | `challenge:{id}` | hash | the challenge; expires (TTL) a retention period after its code dies |
//! | `window:{key}` | hash | a rate-limit window's count and end; expires with the window |
//! | `failures:{user}` | hash | consecutive failures |
//! | `recovery:{user}` | hash | unused copies per recovery-code hash |
//!
//! Attempt counting, approval, resends, closing, app steps, windows and recovery codes
//! are single scripts, atomic on the server. Method-list rules run in Rust and are
//! written back by a compare-and-set script on the list's version, retried on conflict.
//! TTLs are relative durations, so the server's clock and the application's clock need
//! not agree. Persistence (RDB or AOF) is the server's business: without it, a restart
//! loses enrollments.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use mfa_core::store::{Failures, RecordedFailure, Removal, Store, WindowCount};
use mfa_core::{
    Challenge, ChallengeId, ChallengeStatus, CodeHash, MethodId, MethodRecord, StoreError,
    StoreErrorKind, Timestamp, UserId,
};
use redis::AsyncConnectionConfig;
use redis::aio::MultiplexedConnection;
use redis::{Script, Value};

use crate::codec::{self, MethodRow, Slot, StoredMethod};
use crate::keys::Keyring;

/// Connection and layout settings.
#[derive(Debug, Clone)]
pub struct RedisOptions {
    /// Prepended to every key (default `mfa:`).
    pub prefix: String,
    /// How long a challenge is kept after its code dies, for "Complete" and
    /// re-authentication proofs (default one day).
    pub challenge_retention: Duration,
    /// How long connecting or one command may take before it fails as unavailable (default 5 s).
    pub timeout: Duration,
}

impl Default for RedisOptions {
    fn default() -> Self {
        RedisOptions {
            prefix: "mfa:".to_owned(),
            challenge_retention: Duration::from_secs(24 * 3600),
            timeout: Duration::from_secs(5),
        }
    }
}

struct Scripts {
    insert_method: Script,
    apply_methods: Script,
    reset_user: Script,
    advance_step: Script,
    record_failure: Script,
    approve: Script,
    replace_code: Script,
    close: Script,
    hit: Script,
    user_failure: Script,
    replace_recovery: Script,
    consume_recovery: Script,
    insert_challenge: Script,
}

impl Scripts {
    fn new() -> Self {
        Scripts {
            insert_method: Script::new(
                r"
                local seq = redis.call('HINCRBY', KEYS[1], '#seq', 1)
                redis.call('HSET', KEYS[1], ARGV[1], seq .. '|' .. ARGV[2])
                redis.call('HINCRBY', KEYS[1], '#v', 1)
                return seq",
            ),
            apply_methods: Script::new(
                r"
                local v = redis.call('HGET', KEYS[1], '#v') or '0'
                if v ~= ARGV[1] then return 0 end
                local removed = tonumber(ARGV[2])
                for i = 3, 2 + removed do
                    redis.call('HDEL', KEYS[1], ARGV[i])
                    redis.call('HDEL', KEYS[2], ARGV[i])
                end
                for i = 3 + removed, #ARGV, 2 do
                    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
                end
                redis.call('HINCRBY', KEYS[1], '#v', 1)
                return 1",
            ),
            reset_user: Script::new(
                r"
                local fields = redis.call('HKEYS', KEYS[1])
                for _, f in ipairs(fields) do
                    if f ~= '#v' and f ~= '#seq' then redis.call('HDEL', KEYS[1], f) end
                end
                redis.call('HINCRBY', KEYS[1], '#v', 1)
                redis.call('DEL', KEYS[2], KEYS[3])
                return 1",
            ),
            // Steps are u64 in decimal without leading zeros: longer is later, then lexical order.
            advance_step: Script::new(
                r"
                local cur = redis.call('HGET', KEYS[1], ARGV[1])
                local new = ARGV[2]
                if cur and (#new < #cur or (#new == #cur and new <= cur)) then return 0 end
                redis.call('HSET', KEYS[1], ARGV[1], new)
                return 1",
            ),
            record_failure: Script::new(
                r"
                if redis.call('EXISTS', KEYS[1]) == 0 then return false end
                local h = redis.call('HMGET', KEYS[1], 'status', 'expires_at', 'attempts', 'max_attempts')
                local counted = '0'
                if h[1] == 'awaiting_code' and tonumber(ARGV[1]) < tonumber(h[2])
                    and tonumber(h[3]) < tonumber(h[4]) then
                    local a = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
                    if a >= tonumber(h[4]) then redis.call('HSET', KEYS[1], 'status', 'locked') end
                    counted = '1'
                end
                local all = redis.call('HGETALL', KEYS[1])
                table.insert(all, '__counted')
                table.insert(all, counted)
                return all",
            ),
            approve: Script::new(
                r"
                local h = redis.call('HMGET', KEYS[1], 'status', 'generation', 'expires_at', 'attempts', 'max_attempts')
                if not h[1] then return 0 end
                if (h[1] == 'awaiting_code' or h[1] == 'awaiting_call') and h[2] == ARGV[1]
                    and tonumber(ARGV[2]) < tonumber(h[3]) and tonumber(h[4]) < tonumber(h[5]) then
                    redis.call('HSET', KEYS[1], 'status', 'approved', 'approved_at', ARGV[2])
                    return 1
                end
                return 0",
            ),
            replace_code: Script::new(
                r"
                local h = redis.call('HMGET', KEYS[1], 'status', 'generation', 'expires_at')
                if not h[1] then return 0 end
                if (h[1] == 'awaiting_code' or h[1] == 'awaiting_call') and h[2] == ARGV[1]
                    and tonumber(ARGV[3]) < tonumber(h[3]) then
                    redis.call('HINCRBY', KEYS[1], 'generation', 1)
                    redis.call('HINCRBY', KEYS[1], 'sends', 1)
                    redis.call('HSET', KEYS[1], 'expires_at', ARGV[2], 'last_sent_at', ARGV[3])
                    if ARGV[4] ~= '' then
                        redis.call('HSET', KEYS[1], 'code_hash', ARGV[4], 'answer', 'sent_code')
                    end
                    redis.call('PEXPIRE', KEYS[1], ARGV[5])
                    return 1
                end
                return 0",
            ),
            close: Script::new(
                r"
                local s = redis.call('HGET', KEYS[1], 'status')
                if not s then return 0 end
                for i = 2, #ARGV do
                    if s == ARGV[i] then
                        redis.call('HSET', KEYS[1], 'status', ARGV[1])
                        return 1
                    end
                end
                return 0",
            ),
            hit: Script::new(
                r"
                local r = redis.call('HGET', KEYS[1], 'resets_at')
                if (not r) or tonumber(ARGV[1]) >= tonumber(r) then
                    redis.call('HSET', KEYS[1], 'count', 1, 'resets_at', ARGV[2])
                    redis.call('PEXPIRE', KEYS[1], ARGV[3])
                    return {1, ARGV[2]}
                end
                local c = redis.call('HINCRBY', KEYS[1], 'count', 1)
                return {c, r}",
            ),
            user_failure: Script::new(
                r"
                local c = redis.call('HINCRBY', KEYS[1], 'count', 1)
                redis.call('HSET', KEYS[1], 'last_at', ARGV[1])
                return c",
            ),
            replace_recovery: Script::new(
                r"
                redis.call('DEL', KEYS[1])
                for i = 1, #ARGV do redis.call('HINCRBY', KEYS[1], ARGV[i], 1) end
                return 1",
            ),
            consume_recovery: Script::new(
                r"
                local n = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
                if n <= 0 then return -1 end
                redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
                local left = 0
                for _, v in ipairs(redis.call('HVALS', KEYS[1])) do left = left + tonumber(v) end
                return left",
            ),
            insert_challenge: Script::new(
                r"
                redis.call('DEL', KEYS[1])
                redis.call('HSET', KEYS[1], unpack(ARGV, 2))
                redis.call('PEXPIRE', KEYS[1], ARGV[1])
                return 1",
            ),
        }
    }
}

/// The shared connection, with a deadline on every command. A connection that fails
/// is dropped and the next command opens a new one, so while the server is away each
/// call fails in bounded time, and once it is back calls succeed again.
#[derive(Clone)]
struct Conn {
    client: redis::Client,
    current: Arc<Mutex<Option<MultiplexedConnection>>>,
    timeout: Duration,
}

fn timed_out() -> redis::RedisError {
    std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer from Redis in time").into()
}

impl Conn {
    fn slot(&self) -> MutexGuard<'_, Option<MultiplexedConnection>> {
        match self.current.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    async fn connection(&self) -> redis::RedisResult<MultiplexedConnection> {
        if let Some(c) = self.slot().clone() {
            return Ok(c);
        }
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(self.timeout)
            .set_response_timeout(self.timeout);
        let c = tokio::time::timeout(
            self.timeout,
            self.client
                .get_multiplexed_async_connection_with_config(&config),
        )
        .await
        .unwrap_or_else(|_| Err(timed_out()))?;
        *self.slot() = Some(c.clone());
        Ok(c)
    }

    fn check<T>(&self, r: redis::RedisResult<T>) -> redis::RedisResult<T> {
        if let Err(e) = &r {
            if e.is_io_error()
                || e.is_timeout()
                || e.is_connection_dropped()
                || e.is_unrecoverable_error()
            {
                *self.slot() = None;
            }
        }
        r
    }
}

impl redis::aio::ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a redis::Cmd) -> redis::RedisFuture<'a, Value> {
        Box::pin(async move {
            let mut c = self.connection().await?;
            let r = tokio::time::timeout(self.timeout, c.req_packed_command(cmd))
                .await
                .unwrap_or_else(|_| Err(timed_out()));
            self.check(r)
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let mut c = self.connection().await?;
            let r = tokio::time::timeout(self.timeout, c.req_packed_commands(cmd, offset, count))
                .await
                .unwrap_or_else(|_| Err(timed_out()));
            self.check(r)
        })
    }

    fn get_db(&self) -> i64 {
        self.slot().as_ref().map_or(0, |c| c.get_db())
    }
}

/// A [`Store`] on a Redis server; clones share one multiplexed connection, reopened after failures.
#[derive(Clone)]
pub struct RedisStore {
    conn: Conn,
    keys: Arc<Keyring>,
    options: Arc<RedisOptions>,
    scripts: Arc<Scripts>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.options.prefix)
            .field("key_id", &self.keys.current_id())
            .finish_non_exhaustive()
    }
}

fn redis_error(e: redis::RedisError) -> StoreError {
    if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() || e.is_connection_refusal() {
        return StoreError::unavailable(format!("redis: {e}"));
    }
    match e.kind() {
        redis::ErrorKind::TypeError => StoreError::corrupt(format!("redis: {e}")),
        redis::ErrorKind::BusyLoadingError
        | redis::ErrorKind::TryAgain
        | redis::ErrorKind::ClusterDown => StoreError::unavailable(format!("redis: {e}")),
        _ => StoreError::new(StoreErrorKind::Other, format!("redis: {e}")),
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn unhex(s: &str) -> Result<Vec<u8>, StoreError> {
    if s.len() % 2 != 0 {
        return Err(StoreError::corrupt("odd-length hex"));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            s.get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .ok_or_else(|| StoreError::corrupt("malformed hex"))
        })
        .collect()
}

fn opt_hex(v: Option<&str>) -> String {
    v.map(|s| hex(s.as_bytes())).unwrap_or_default()
}

fn opt_unhex(s: &str) -> Result<Option<String>, StoreError> {
    if s.is_empty() {
        return Ok(None);
    }
    String::from_utf8(unhex(s)?)
        .map(Some)
        .map_err(|_| StoreError::corrupt("stored text is not UTF-8"))
}

/// A method's stored value after its sequence number: `|`-separated, free text hex-encoded.
fn encode_method(row: &MethodRow) -> String {
    [
        row.kind.to_owned(),
        row.number.clone().unwrap_or_default(),
        row.mode.unwrap_or_default().to_owned(),
        row.extension.clone().unwrap_or_default(),
        row.status.to_owned(),
        if row.is_default { "1" } else { "0" }.to_owned(),
        row.created_at.to_string(),
        opt_hex(row.app_key_id.as_deref()),
        row.app_secret.as_deref().map(hex).unwrap_or_default(),
        opt_hex(row.app_parameters.as_deref()),
        opt_hex(row.replaces.as_deref()),
    ]
    .join("|")
}

/// A stored value back into its sequence number and fields.
fn decode_method(id: &str, value: &str) -> Result<(u64, StoredMethod), StoreError> {
    let f: Vec<&str> = value.split('|').collect();
    let [
        seq,
        kind,
        number,
        mode,
        extension,
        status,
        default,
        created,
        key_id,
        secret,
        params,
        replaces,
    ] = f[..]
    else {
        return Err(StoreError::corrupt(
            "a stored method has the wrong number of fields",
        ));
    };
    let opt = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    Ok((
        seq.parse()
            .map_err(|_| StoreError::corrupt("a stored method's sequence"))?,
        StoredMethod {
            id: id.to_owned(),
            kind: kind.to_owned(),
            number: opt(number),
            mode: opt(mode),
            extension: opt(extension),
            status: status.to_owned(),
            is_default: default == "1",
            created_at: created
                .parse()
                .map_err(|_| StoreError::corrupt("a stored method's time"))?,
            app_secret: if secret.is_empty() {
                None
            } else {
                Some(unhex(secret)?)
            },
            app_key_id: opt_unhex(key_id)?,
            app_parameters: opt_unhex(params)?,
            replaces: opt_unhex(replaces)?,
        },
    ))
}

fn parse_num<T: std::str::FromStr>(
    m: &HashMap<String, String>,
    field: &str,
) -> Result<T, StoreError> {
    m.get(field)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| StoreError::corrupt(format!("a stored challenge's {field}")))
}

fn parse_opt_time(
    m: &HashMap<String, String>,
    field: &str,
) -> Result<Option<Timestamp>, StoreError> {
    match m.get(field).map(String::as_str) {
        None | Some("") => Ok(None),
        Some(v) => v
            .parse()
            .map(|t| Some(Timestamp::from_unix_millis(t)))
            .map_err(|_| StoreError::corrupt(format!("a stored challenge's {field}"))),
    }
}

fn challenge_of(m: &HashMap<String, String>) -> Result<Challenge, StoreError> {
    let text = |field: &str| {
        m.get(field)
            .map(String::as_str)
            .ok_or_else(|| StoreError::corrupt(format!("a stored challenge without {field}")))
    };
    let hash = match m.get("code_hash").map(String::as_str) {
        None | Some("") => None,
        Some(h) => Some(unhex(h)?),
    };
    Ok(Challenge {
        id: ChallengeId::parse(text("id")?)
            .map_err(|_| StoreError::corrupt("a stored challenge id"))?,
        user: codec::user_id(
            &String::from_utf8(unhex(text("user")?)?).map_err(|_| StoreError::corrupt("user"))?,
        )?,
        method_id: codec::method_id(text("method_id")?)?,
        purpose: codec::purpose_of(text("purpose")?)?,
        status: codec::challenge_status_of(text("status")?)?,
        answer: codec::answer_of(text("answer")?, hash.as_deref())?,
        generation: parse_num(m, "generation")?,
        attempts: parse_num(m, "attempts")?,
        max_attempts: parse_num(m, "max_attempts")?,
        sends: parse_num(m, "sends")?,
        created_at: Timestamp::from_unix_millis(parse_num(m, "created_at")?),
        expires_at: Timestamp::from_unix_millis(parse_num(m, "expires_at")?),
        last_sent_at: parse_opt_time(m, "last_sent_at")?,
        approved_at: parse_opt_time(m, "approved_at")?,
    })
}

fn millis_of(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

impl RedisStore {
    /// Connects to `url` (`redis://127.0.0.1:6379/0`) with the default options.
    pub async fn connect(url: &str, keys: Keyring) -> Result<Self, StoreError> {
        Self::connect_with(url, keys, RedisOptions::default()).await
    }

    /// [`RedisStore::connect`] with options.
    pub async fn connect_with(
        url: &str,
        keys: Keyring,
        options: RedisOptions,
    ) -> Result<Self, StoreError> {
        let client = redis::Client::open(url)
            .map_err(|_| StoreError::new(StoreErrorKind::Other, "malformed Redis URL"))?;
        let conn = Conn {
            client,
            current: Arc::new(Mutex::new(None)),
            timeout: options.timeout,
        };
        // Fail now, not at the first sign-in, when the server cannot be reached.
        let _: String = redis::cmd("PING")
            .query_async(&mut conn.clone())
            .await
            .map_err(redis_error)?;
        Ok(RedisStore {
            conn,
            keys: Arc::new(keys),
            options: Arc::new(options),
            scripts: Arc::new(Scripts::new()),
        })
    }

    fn key(&self, kind: &str, id: &str) -> String {
        format!("{}{kind}:{id}", self.options.prefix)
    }

    fn user_key(&self, kind: &str, user: &UserId) -> String {
        self.key(kind, &hex(user.as_str().as_bytes()))
    }

    fn challenge_key(&self, id: &str) -> String {
        self.key("challenge", id)
    }

    async fn load_methods(&self, user: &UserId) -> Result<(String, Vec<StoredMethod>), StoreError> {
        let mut conn = self.conn.clone();
        let all: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(self.user_key("methods", user))
            .query_async(&mut conn)
            .await
            .map_err(redis_error)?;
        let version = all.get("#v").cloned().unwrap_or_else(|| "0".to_owned());
        let mut list = all
            .iter()
            .filter(|(k, _)| !k.starts_with('#'))
            .map(|(k, v)| decode_method(k, v))
            .collect::<Result<Vec<_>, _>>()?;
        list.sort_by_key(|(seq, _)| *seq);
        Ok((version, list.into_iter().map(|(_, m)| m).collect()))
    }

    /// Applies the rule `f` to the user's method list: read, decide, compare-and-set.
    async fn change_methods<T>(
        &self,
        user: &UserId,
        f: impl Fn(&mut Vec<Slot>) -> T,
    ) -> Result<T, StoreError> {
        let methods_key = self.user_key("methods", user);
        let steps_key = self.user_key("steps", user);
        for _ in 0..100 {
            let mut conn = self.conn.clone();
            let all: HashMap<String, String> = redis::cmd("HGETALL")
                .arg(&methods_key)
                .query_async(&mut conn)
                .await
                .map_err(redis_error)?;
            let version = all.get("#v").cloned().unwrap_or_else(|| "0".to_owned());
            let mut list = all
                .iter()
                .filter(|(k, _)| !k.starts_with('#'))
                .map(|(k, v)| decode_method(k, v).map(|(seq, m)| (seq, m, v.clone())))
                .collect::<Result<Vec<_>, _>>()?;
            list.sort_by_key(|(seq, _, _)| *seq);
            let before: Vec<Slot> = list
                .iter()
                .map(|(_, m, _)| {
                    Ok(Slot {
                        id: m.id.clone(),
                        status: codec::status_of(&m.status)?,
                        is_default: m.is_default,
                        replaces: m.replaces.clone(),
                    })
                })
                .collect::<Result<_, StoreError>>()?;
            let mut after = before.clone();
            let out = f(&mut after);
            let changes = codec::diff(&before, &after);
            if changes.removed.is_empty() && changes.updated.is_empty() {
                return Ok(out);
            }
            let mut invocation = self.scripts.apply_methods.key(&methods_key);
            invocation
                .key(&steps_key)
                .arg(&version)
                .arg(changes.removed.len());
            for id in &changes.removed {
                invocation.arg(id);
            }
            for slot in &changes.updated {
                let Some((seq, stored, _)) = list.iter().find(|(_, m, _)| m.id == slot.id) else {
                    continue;
                };
                let row = MethodRow {
                    id: stored.id.clone(),
                    kind: kind_str(&stored.kind)?,
                    number: stored.number.clone(),
                    mode: stored.mode.as_deref().map(mode_str).transpose()?,
                    extension: stored.extension.clone(),
                    status: codec::status_str(slot.status),
                    is_default: slot.is_default,
                    created_at: stored.created_at,
                    app_secret: stored.app_secret.clone(),
                    app_key_id: stored.app_key_id.clone(),
                    app_parameters: stored.app_parameters.clone(),
                    replaces: slot.replaces.clone(),
                };
                invocation
                    .arg(&slot.id)
                    .arg(format!("{seq}|{}", encode_method(&row)));
            }
            let applied: i64 = invocation
                .invoke_async(&mut conn)
                .await
                .map_err(redis_error)?;
            if applied == 1 {
                return Ok(out);
            }
        }
        Err(StoreError::unavailable(
            "the method list kept changing; try again",
        ))
    }

    /// Re-seals every app secret not under the keyring's current key; returns how many.
    ///
    /// Scans the users' method hashes under the prefix; each user's list is rewritten
    /// with the same compare-and-set as every other method change.
    pub async fn rotate_keys(&self) -> Result<usize, StoreError> {
        let mut conn = self.conn.clone();
        let pattern = format!("{}methods:*", self.options.prefix);
        let mut cursor: u64 = 0;
        let mut user_keys = Vec::new();
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(500)
                .query_async(&mut conn)
                .await
                .map_err(redis_error)?;
            user_keys.extend(keys);
            if next == 0 {
                break;
            }
            cursor = next;
        }
        let mut count = 0;
        let prefix_len = self.options.prefix.len() + "methods:".len();
        for key in user_keys {
            let user_hex = key.get(prefix_len..).unwrap_or_default();
            let user = codec::user_id(
                &String::from_utf8(unhex(user_hex)?)
                    .map_err(|_| StoreError::corrupt("a stored user id"))?,
            )?;
            count += self.rotate_user(&user).await?;
        }
        Ok(count)
    }

    async fn rotate_user(&self, user: &UserId) -> Result<usize, StoreError> {
        let methods_key = self.user_key("methods", user);
        let steps_key = self.user_key("steps", user);
        for _ in 0..100 {
            let mut conn = self.conn.clone();
            let (version, list) = self.load_methods(user).await?;
            let all: HashMap<String, String> = redis::cmd("HGETALL")
                .arg(&methods_key)
                .query_async(&mut conn)
                .await
                .map_err(redis_error)?;
            let mut invocation = self.scripts.apply_methods.key(&methods_key);
            invocation.key(&steps_key).arg(&version).arg(0);
            let mut n = 0;
            for m in &list {
                let (Some(blob), Some(key_id)) = (&m.app_secret, &m.app_key_id) else {
                    continue;
                };
                if key_id == self.keys.current_id() {
                    continue;
                }
                let context = crate::keys::secret_context(user.as_str(), &m.id);
                let secret = self.keys.open(key_id, &context, blob)?;
                let sealed = self.keys.seal(&context, secret.expose())?;
                let Some((seq, _)) = all
                    .get(&m.id)
                    .map(|v| decode_method(&m.id, v))
                    .transpose()?
                else {
                    continue;
                };
                let row = MethodRow {
                    id: m.id.clone(),
                    kind: kind_str(&m.kind)?,
                    number: m.number.clone(),
                    mode: m.mode.as_deref().map(mode_str).transpose()?,
                    extension: m.extension.clone(),
                    status: codec::status_str(codec::status_of(&m.status)?),
                    is_default: m.is_default,
                    created_at: m.created_at,
                    app_secret: Some(sealed.blob),
                    app_key_id: Some(sealed.key_id),
                    app_parameters: m.app_parameters.clone(),
                    replaces: m.replaces.clone(),
                };
                invocation
                    .arg(&m.id)
                    .arg(format!("{seq}|{}", encode_method(&row)));
                n += 1;
            }
            if n == 0 {
                return Ok(0);
            }
            let applied: i64 = invocation
                .invoke_async(&mut conn)
                .await
                .map_err(redis_error)?;
            if applied == 1 {
                return Ok(n);
            }
        }
        Err(StoreError::unavailable(
            "the method list kept changing; try again",
        ))
    }
}

fn kind_str(s: &str) -> Result<&'static str, StoreError> {
    ["phone", "office", "app", "recovery"]
        .into_iter()
        .find(|k| *k == s)
        .ok_or_else(|| StoreError::corrupt("unknown method kind"))
}

fn mode_str(s: &str) -> Result<&'static str, StoreError> {
    ["sms", "call"]
        .into_iter()
        .find(|k| *k == s)
        .ok_or_else(|| StoreError::corrupt("unknown phone mode"))
}

fn to_map(v: Value) -> Result<Option<HashMap<String, String>>, StoreError> {
    match v {
        Value::Nil => Ok(None),
        other => redis::from_redis_value(&other)
            .map(Some)
            .map_err(redis_error),
    }
}

#[async_trait]
impl Store for RedisStore {
    async fn methods(&self, user: &UserId) -> Result<Vec<MethodRecord>, StoreError> {
        let (_, list) = self.load_methods(user).await?;
        list.iter()
            .map(|m| codec::method_record(&self.keys, user, m))
            .collect()
    }

    async fn insert_method(&self, user: &UserId, record: MethodRecord) -> Result<(), StoreError> {
        let row = codec::method_row(&self.keys, user, &record)?;
        let mut conn = self.conn.clone();
        let _: i64 = self
            .scripts
            .insert_method
            .key(self.user_key("methods", user))
            .arg(&row.id)
            .arg(encode_method(&row))
            .invoke_async(&mut conn)
            .await
            .map_err(redis_error)?;
        Ok(())
    }

    async fn activate_method(
        &self,
        user: &UserId,
        id: &MethodId,
        make_default: bool,
    ) -> Result<bool, StoreError> {
        self.change_methods(user, |l| codec::activate(l, id.as_str(), make_default))
            .await
    }

    async fn remove_method(
        &self,
        user: &UserId,
        id: &MethodId,
        allow_last: bool,
    ) -> Result<Removal, StoreError> {
        let outcome = self
            .change_methods(user, |l| codec::remove(l, id.as_str(), allow_last))
            .await?;
        Ok(codec::removal(outcome))
    }

    async fn set_default(&self, user: &UserId, id: &MethodId) -> Result<bool, StoreError> {
        self.change_methods(user, |l| codec::set_default(l, id.as_str()))
            .await
    }

    async fn block_method(&self, user: &UserId, id: &MethodId) -> Result<bool, StoreError> {
        self.change_methods(user, |l| codec::block(l, id.as_str()))
            .await
    }

    async fn remove_all_methods(&self, user: &UserId) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let _: i64 = self
            .scripts
            .reset_user
            .key(self.user_key("methods", user))
            .key(self.user_key("steps", user))
            .key(self.user_key("recovery", user))
            .invoke_async(&mut conn)
            .await
            .map_err(redis_error)?;
        Ok(())
    }

    async fn app_step(&self, user: &UserId, id: &MethodId) -> Result<Option<u64>, StoreError> {
        let mut conn = self.conn.clone();
        let step: Option<String> = redis::cmd("HGET")
            .arg(self.user_key("steps", user))
            .arg(id.as_str())
            .query_async(&mut conn)
            .await
            .map_err(redis_error)?;
        step.map(|s| {
            s.parse()
                .map_err(|_| StoreError::corrupt("a stored app step"))
        })
        .transpose()
    }

    async fn advance_app_step(
        &self,
        user: &UserId,
        id: &MethodId,
        step: u64,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let moved: i64 = self
            .scripts
            .advance_step
            .key(self.user_key("steps", user))
            .arg(id.as_str())
            .arg(step.to_string())
            .invoke_async(&mut conn)
            .await
            .map_err(redis_error)?;
        Ok(moved == 1)
    }

    async fn insert_challenge(&self, c: Challenge) -> Result<(), StoreError> {
        let (answer, hash) = codec::answer_parts(&c.answer);
        let ttl = millis_of(
            c.expires_at.saturating_since(c.created_at) + self.options.challenge_retention,
        );
        let opt = |t: Option<Timestamp>| t.map(|t| t.unix_millis().to_string()).unwrap_or_default();
        let fields: Vec<(&str, String)> = vec![
            ("id", c.id.as_str().to_owned()),
            ("user", hex(c.user.as_str().as_bytes())),
            ("method_id", c.method_id.as_str().to_owned()),
            ("purpose", codec::purpose_str(c.purpose).to_owned()),
            ("status", codec::challenge_status_str(c.status).to_owned()),
            ("answer", answer.to_owned()),
            ("code_hash", hash.as_deref().map(hex).unwrap_or_default()),
            ("generation", c.generation.to_string()),
            ("attempts", c.attempts.to_string()),
            ("max_attempts", c.max_attempts.to_string()),
            ("sends", c.sends.to_string()),
            ("created_at", c.created_at.unix_millis().to_string()),
            ("expires_at", c.expires_at.unix_millis().to_string()),
            ("last_sent_at", opt(c.last_sent_at)),
            ("approved_at", opt(c.approved_at)),
        ];
        let mut conn = self.conn.clone();
        let mut invocation = self
            .scripts
            .insert_challenge
            .key(self.challenge_key(c.id.as_str()));
        invocation.arg(ttl);
        for (k, v) in &fields {
            invocation.arg(*k).arg(v);
        }
        let _: i64 = invocation
            .invoke_async(&mut conn)
            .await
            .map_err(redis_error)?;
        Ok(())
    }

    async fn challenge(&self, id: &ChallengeId) -> Result<Option<Challenge>, StoreError> {
        let mut conn = self.conn.clone();
        let m: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(self.challenge_key(id.as_str()))
            .query_async(&mut conn)
            .await
            .map_err(redis_error)?;
        if m.is_empty() {
            return Ok(None);
        }
        challenge_of(&m).map(Some)
    }

    async fn record_failure(
        &self,
        id: &ChallengeId,
        now: Timestamp,
    ) -> Result<Option<RecordedFailure>, StoreError> {
        let mut conn = self.conn.clone();
        let v: Value = self
            .scripts
            .record_failure
            .key(self.challenge_key(id.as_str()))
            .arg(now.unix_millis())
            .invoke_async(&mut conn)
            .await
            .map_err(redis_error)?;
        let Some(mut fields) = to_map(v)? else {
            return Ok(None);
        };
        let counted = fields.remove("__counted").as_deref() == Some("1");
        Ok(Some(RecordedFailure {
            challenge: challenge_of(&fields)?,
            counted,
        }))
    }

    async fn approve(
        &self,
        id: &ChallengeId,
        generation: u32,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let ok: i64 = self
            .scripts
            .approve
            .key(self.challenge_key(id.as_str()))
            .arg(generation)
            .arg(now.unix_millis())
            .invoke_async(&mut conn)
            .await
            .map_err(redis_error)?;
        Ok(ok == 1)
    }

    async fn replace_code(
        &self,
        id: &ChallengeId,
        generation: u32,
        hash: Option<CodeHash>,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let ttl = millis_of(expires_at.saturating_since(now) + self.options.challenge_retention);
        let mut conn = self.conn.clone();
        let ok: i64 = self
            .scripts
            .replace_code
            .key(self.challenge_key(id.as_str()))
            .arg(generation)
            .arg(expires_at.unix_millis())
            .arg(now.unix_millis())
            .arg(hash.map(|h| hex(&h.0)).unwrap_or_default())
            .arg(ttl)
            .invoke_async(&mut conn)
            .await
            .map_err(redis_error)?;
        Ok(ok == 1)
    }

    async fn close_challenge(
        &self,
        id: &ChallengeId,
        from: &[ChallengeStatus],
        to: ChallengeStatus,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let mut invocation = self.scripts.close.key(self.challenge_key(id.as_str()));
        invocation.arg(codec::challenge_status_str(to));
        for s in from {
            invocation.arg(codec::challenge_status_str(*s));
        }
        let ok: i64 = invocation
            .invoke_async(&mut conn)
            .await
            .map_err(redis_error)?;
        Ok(ok == 1)
    }

    async fn hit(
        &self,
        key: &str,
        window: Duration,
        now: Timestamp,
    ) -> Result<WindowCount, StoreError> {
        let mut conn = self.conn.clone();
        let (count, resets_at): (u64, u64) = self
            .scripts
            .hit
            .key(self.key("window", &hex(key.as_bytes())))
            .arg(now.unix_millis())
            .arg((now + window).unix_millis())
            .arg(millis_of(window))
            .invoke_async(&mut conn)
            .await
            .map_err(redis_error)?;
        Ok(WindowCount {
            count: u32::try_from(count).unwrap_or(u32::MAX),
            resets_at: Timestamp::from_unix_millis(resets_at),
        })
    }

    async fn record_user_failure(
        &self,
        user: &UserId,
        now: Timestamp,
    ) -> Result<Failures, StoreError> {
        let mut conn = self.conn.clone();
        let count: u64 = self
            .scripts
            .user_failure
            .key(self.user_key("failures", user))
            .arg(now.unix_millis())
            .invoke_async(&mut conn)
            .await
            .map_err(redis_error)?;
        Ok(Failures {
            count: u32::try_from(count).unwrap_or(u32::MAX),
            last_at: Some(now),
        })
    }

    async fn user_failures(&self, user: &UserId) -> Result<Failures, StoreError> {
        let mut conn = self.conn.clone();
        let (count, last): (Option<u64>, Option<u64>) = redis::cmd("HMGET")
            .arg(self.user_key("failures", user))
            .arg("count")
            .arg("last_at")
            .query_async(&mut conn)
            .await
            .map_err(redis_error)?;
        Ok(Failures {
            count: count.map_or(0, |c| u32::try_from(c).unwrap_or(u32::MAX)),
            last_at: last.map(Timestamp::from_unix_millis),
        })
    }

    async fn clear_user_failures(&self, user: &UserId) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let _: i64 = redis::cmd("DEL")
            .arg(self.user_key("failures", user))
            .query_async(&mut conn)
            .await
            .map_err(redis_error)?;
        Ok(())
    }

    async fn replace_recovery_codes(
        &self,
        user: &UserId,
        hashes: Vec<CodeHash>,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let mut invocation = self
            .scripts
            .replace_recovery
            .key(self.user_key("recovery", user));
        for h in &hashes {
            invocation.arg(hex(&h.0));
        }
        let _: i64 = invocation
            .invoke_async(&mut conn)
            .await
            .map_err(redis_error)?;
        Ok(())
    }

    async fn consume_recovery_code(
        &self,
        user: &UserId,
        hash: &CodeHash,
    ) -> Result<Option<usize>, StoreError> {
        let mut conn = self.conn.clone();
        let left: i64 = self
            .scripts
            .consume_recovery
            .key(self.user_key("recovery", user))
            .arg(hex(&hash.0))
            .invoke_async(&mut conn)
            .await
            .map_err(redis_error)?;
        Ok(usize::try_from(left).ok())
    }
}
