//! The shared in-memory store: Redis, a single server or a Redis Cluster.
//!
//! Layout (every key under a prefix, `mfa:` by default):
//!
//! | key | type | holds |
//! | --- | --- | --- |
//! | `PREFIX{H}` | hash | one user's record: `v` version, `k` key id, `s` the sealed record, `e` when it may be forgotten (Unix ms, or empty) |
//! | `PREFIX{windows}:W` | hash | a rate window: `c` count, `r` end (Unix ms); expires with the window |
//! | `PREFIX format` | string | `2`, once the server was checked for v1 keys (single server only) |
//!
//! `H` is the hex keyed hash of the user id and `W` that of the window's key: no id,
//! number or address in clear. The braces are Redis Cluster hash tags: a user's key is
//! in the slot of its hash, so a cluster shards by user, and every window is in one
//! slot, so a `hit` of several windows is one script on one node even in a cluster
//! (windows are bumped once per send: one node takes them easily).
//!
//! A commit is one small script whose only test is the version; the record is
//! decided in Rust. Records with nothing worth keeping get a TTL, relative to their
//! own `updated_at` so the server's clock and the application's need not agree;
//! [`Store::purge`] also drops any past `e` at the time it is given. Persistence (RDB
//! or AOF) is the server's business: without it, a restart loses enrollments.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use mfa_core::{
    Commit, Store, StoreError, StoreErrorKind, Timestamp, UserId, UserRecord, Version, Versioned,
    WindowCount, WindowHit,
};
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{AsyncConnectionConfig, Script, Value};

use crate::keys::Keyring;
use crate::legacy::{OpenError, V1Data, V1Found};
use crate::windows;

/// Connection and layout settings.
#[derive(Debug, Clone)]
pub struct RedisOptions {
    /// Prepended to every key (default `mfa:`); no `{` or `}`, which would move the
    /// hash tags.
    pub prefix: String,
    /// How long connecting or one command may take before it fails as unavailable (default 5 s).
    pub timeout: Duration,
    /// What to do on finding mfa v1 keys under the prefix (default: refuse to open).
    /// mfa v1 had no cluster support, so a cluster is not searched.
    pub v1: V1Data,
}

impl Default for RedisOptions {
    fn default() -> Self {
        RedisOptions {
            prefix: "mfa:".to_owned(),
            timeout: Duration::from_secs(5),
            v1: V1Data::Refuse,
        }
    }
}

/// The kinds of key mfa v1 wrote, as `PREFIX KIND:…`.
const V1_KINDS: &[&str] = &[
    "methods",
    "steps",
    "challenge",
    "window",
    "failures",
    "recovery",
];

struct Scripts {
    commit: Script,
    hit: Script,
    purge: Script,
}

impl Scripts {
    fn new() -> Self {
        Scripts {
            // The one rule here is the compare-and-set; ARGV[1] is the expected
            // version ('' for none), ARGV[6] the TTL in ms ('' to keep the key).
            commit: Script::new(
                r"
                local v = redis.call('HGET', KEYS[1], 'v')
                if ARGV[1] == '' then
                    if v then return 0 end
                elseif v ~= ARGV[1] then
                    return 0
                end
                redis.call('HSET', KEYS[1], 'v', ARGV[2], 'k', ARGV[3], 's', ARGV[4], 'e', ARGV[5])
                if ARGV[6] == '' then
                    redis.call('PERSIST', KEYS[1])
                else
                    redis.call('PEXPIRE', KEYS[1], ARGV[6])
                end
                return 1",
            ),
            // A fixed window per key: ARGV[1] is now, then per key its hits and length.
            hit: Script::new(
                r"
                local now = tonumber(ARGV[1])
                local out = {}
                for i, key in ipairs(KEYS) do
                    local n = tonumber(ARGV[2 * i])
                    local len = tonumber(ARGV[2 * i + 1])
                    local r = tonumber(redis.call('HGET', key, 'r'))
                    local c
                    if (not r) or now >= r then
                        r = now + len
                        redis.call('HSET', key, 'c', n, 'r', string.format('%d', r))
                        redis.call('PEXPIRE', key, len)
                        c = n
                    else
                        c = redis.call('HINCRBY', key, 'c', n)
                    end
                    out[2 * i - 1] = c
                    out[2 * i] = string.format('%d', r)
                end
                return out",
            ),
            // Drops a record past its `e`, or a window past its `r`.
            purge: Script::new(
                r"
                local h = redis.call('HMGET', KEYS[1], 'e', 'r')
                local t = tonumber(h[1]) or tonumber(h[2])
                if t and t <= tonumber(ARGV[1]) then
                    return redis.call('DEL', KEYS[1])
                end
                return 0",
            ),
        }
    }
}

/// One server's multiplexed connection, opened again after a failure.
#[derive(Clone)]
struct Node {
    client: redis::Client,
    current: Arc<Mutex<Option<MultiplexedConnection>>>,
    timeout: Duration,
}

fn timed_out() -> redis::RedisError {
    std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer from Redis in time").into()
}

impl Node {
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

/// A single server or a cluster; commands route themselves by key in a cluster.
#[derive(Clone)]
enum Link {
    Node(Node),
    Cluster(ClusterConnection, Duration),
}

impl ConnectionLike for Link {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a redis::Cmd) -> redis::RedisFuture<'a, Value> {
        Box::pin(async move {
            match self {
                Link::Node(node) => {
                    let mut c = node.connection().await?;
                    let r = tokio::time::timeout(node.timeout, c.req_packed_command(cmd))
                        .await
                        .unwrap_or_else(|_| Err(timed_out()));
                    node.check(r)
                }
                Link::Cluster(c, timeout) => {
                    tokio::time::timeout(*timeout, c.req_packed_command(cmd))
                        .await
                        .unwrap_or_else(|_| Err(timed_out()))
                }
            }
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            match self {
                Link::Node(node) => {
                    let mut c = node.connection().await?;
                    let r = tokio::time::timeout(
                        node.timeout,
                        c.req_packed_commands(cmd, offset, count),
                    )
                    .await
                    .unwrap_or_else(|_| Err(timed_out()));
                    node.check(r)
                }
                Link::Cluster(c, timeout) => {
                    tokio::time::timeout(*timeout, c.req_packed_commands(cmd, offset, count))
                        .await
                        .unwrap_or_else(|_| Err(timed_out()))
                }
            }
        })
    }

    fn get_db(&self) -> i64 {
        0
    }
}

/// A [`Store`] on a Redis server or a Redis Cluster; clones share one connection.
#[derive(Clone)]
pub struct RedisStore {
    link: Link,
    keys: Arc<Keyring>,
    prefix: Arc<str>,
    scripts: Arc<Scripts>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .field("cluster", &matches!(self.link, Link::Cluster(..)))
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
        | redis::ErrorKind::ClusterDown
        | redis::ErrorKind::MasterDown
        | redis::ErrorKind::ClusterConnectionNotFound => {
            StoreError::unavailable(format!("redis: {e}"))
        }
        _ => StoreError::new(StoreErrorKind::Other, format!("redis: {e}")),
    }
}

/// Lower-case hex, by table: every operation names its key with it, and a `write!`
/// per byte showed in the commit's profile.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(2 * bytes.len());
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

/// `s` with the characters special to `SCAN … MATCH` escaped.
fn glob_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| match c {
            '*' | '?' | '[' | ']' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect()
}

fn check_prefix(prefix: &str) -> Result<(), OpenError> {
    if prefix.contains(['{', '}']) {
        return Err(StoreError::new(
            StoreErrorKind::Other,
            "a Redis key prefix cannot contain '{' or '}' (they are the keys' hash tags)",
        )
        .into());
    }
    Ok(())
}

impl RedisStore {
    /// Connects to the server at `url` (`redis://127.0.0.1:6379/0`) with the default
    /// options; refuses a server holding mfa v1 keys under the prefix.
    pub async fn connect(url: &str, keys: Keyring) -> Result<Self, OpenError> {
        Self::connect_with(url, keys, RedisOptions::default()).await
    }

    /// [`RedisStore::connect`] with options.
    pub async fn connect_with(
        url: &str,
        keys: Keyring,
        options: RedisOptions,
    ) -> Result<Self, OpenError> {
        check_prefix(&options.prefix)?;
        let client = redis::Client::open(url)
            .map_err(|_| StoreError::new(StoreErrorKind::Other, "malformed Redis URL"))?;
        let store = RedisStore {
            link: Link::Node(Node {
                client,
                current: Arc::new(Mutex::new(None)),
                timeout: options.timeout,
            }),
            keys: Arc::new(keys),
            prefix: options.prefix.into(),
            scripts: Arc::new(Scripts::new()),
        };
        // Fail now, not at the first sign-in, when the server cannot be reached.
        let _: String = redis::cmd("PING")
            .query_async(&mut store.link.clone())
            .await
            .map_err(redis_error)?;
        store.check_v1(options.v1).await?;
        Ok(store)
    }

    /// Connects to a Redis Cluster through any of its nodes (`redis://127.0.0.1:7000`
    /// and more); commands go to the node holding their key's slot and follow the
    /// cluster as slots move.
    pub async fn connect_cluster(
        urls: &[&str],
        keys: Keyring,
        options: RedisOptions,
    ) -> Result<Self, OpenError> {
        check_prefix(&options.prefix)?;
        let client = redis::cluster::ClusterClientBuilder::new(urls.to_vec())
            .connection_timeout(options.timeout)
            .response_timeout(options.timeout)
            .build()
            .map_err(|_| StoreError::new(StoreErrorKind::Other, "malformed Redis Cluster URL"))?;
        let connection = tokio::time::timeout(options.timeout, client.get_async_connection())
            .await
            .unwrap_or_else(|_| Err(timed_out()))
            .map_err(redis_error)?;
        Ok(RedisStore {
            link: Link::Cluster(connection, options.timeout),
            keys: Arc::new(keys),
            prefix: options.prefix.into(),
            scripts: Arc::new(Scripts::new()),
        })
    }

    fn record_key(&self, user: &UserId) -> String {
        format!("{}{{{}}}", self.prefix, hex(&self.keys.user_index(user)))
    }

    fn window_key(&self, id: &[u8; 32]) -> String {
        format!("{}{{windows}}:{}", self.prefix, hex(id))
    }

    /// Searches the server for v1 keys once (then leaves a marker), unless told to
    /// leave them unread.
    async fn check_v1(&self, v1: V1Data) -> Result<(), OpenError> {
        let mut link = self.link.clone();
        let marker = format!("{}format", self.prefix);
        let format: Option<String> = redis::cmd("GET")
            .arg(&marker)
            .query_async(&mut link)
            .await
            .map_err(redis_error)?;
        if format.is_some() {
            return Ok(());
        }
        if v1 == V1Data::Refuse {
            let pattern = format!("{}[a-z]*:*", glob_escape(&self.prefix));
            let mut cursor = 0u64;
            let mut found: Vec<String> = Vec::new();
            loop {
                // Keys as bytes: a key under the prefix need not be UTF-8.
                let (next, batch): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(1000)
                    .query_async(&mut link)
                    .await
                    .map_err(redis_error)?;
                for key in batch {
                    let rest = key.strip_prefix(self.prefix.as_bytes()).unwrap_or(&[]);
                    let kind = rest.split(|b| *b == b':').next().unwrap_or(&[]);
                    if let Some(k) = V1_KINDS.iter().find(|k| k.as_bytes() == kind) {
                        let shown = format!("{}{k}:*", self.prefix);
                        if !found.contains(&shown) {
                            found.push(shown);
                        }
                    }
                }
                if next == 0 {
                    break;
                }
                cursor = next;
            }
            if !found.is_empty() {
                return Err(OpenError::V1Data(V1Found { found }));
            }
        }
        let _: () = redis::cmd("SET")
            .arg(&marker)
            .arg("2")
            .query_async(&mut link)
            .await
            .map_err(redis_error)?;
        Ok(())
    }

    /// The primaries of the cluster (`host`, `port`), or `None` for a single server.
    async fn primaries(&self) -> Result<Option<Vec<(String, u16)>>, StoreError> {
        let Link::Cluster(c, _) = &self.link else {
            return Ok(None);
        };
        let mut c = c.clone();
        let slots = c
            .route_command(
                &redis::cmd("CLUSTER").arg("SLOTS").clone(),
                RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random),
            )
            .await
            .map_err(redis_error)?;
        let bad = || StoreError::corrupt("an unexpected CLUSTER SLOTS reply");
        let Value::Array(ranges) = slots else {
            return Err(bad());
        };
        let mut nodes = Vec::new();
        for range in ranges {
            let Value::Array(parts) = range else {
                return Err(bad());
            };
            let Some(Value::Array(primary)) = parts.get(2) else {
                return Err(bad());
            };
            let host = match primary.first() {
                Some(Value::BulkString(h)) => String::from_utf8_lossy(h).into_owned(),
                Some(Value::SimpleString(h)) => h.clone(),
                _ => return Err(bad()),
            };
            let Some(Value::Int(port)) = primary.get(1) else {
                return Err(bad());
            };
            let port = u16::try_from(*port).map_err(|_| bad())?;
            if !nodes.contains(&(host.clone(), port)) {
                nodes.push((host, port));
            }
        }
        Ok(Some(nodes))
    }

    /// One `SCAN` step on the given node (or the single server).
    async fn scan(
        &self,
        node: Option<&(String, u16)>,
        cursor: u64,
        pattern: &str,
    ) -> Result<(u64, Vec<String>), StoreError> {
        let mut cmd = redis::cmd("SCAN");
        cmd.arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000);
        match (&self.link, node) {
            (Link::Cluster(c, _), Some((host, port))) => {
                let reply = c
                    .clone()
                    .route_command(
                        &cmd,
                        RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                            host: host.clone(),
                            port: *port,
                        }),
                    )
                    .await
                    .map_err(redis_error)?;
                redis::from_redis_value(&reply).map_err(redis_error)
            }
            _ => cmd
                .query_async(&mut self.link.clone())
                .await
                .map_err(redis_error),
        }
    }
}

/// A TTL for a record that may be forgotten: relative to its own time, so clocks
/// need not agree.
fn ttl_ms(record: &UserRecord) -> Option<u64> {
    record.expires_at().map(|t| {
        u64::try_from(t.saturating_since(record.updated_at).as_millis())
            .unwrap_or(u64::MAX)
            .max(1)
    })
}

#[async_trait]
impl Store for RedisStore {
    async fn load(&self, user: &UserId) -> Result<Option<Versioned>, StoreError> {
        let (version, key_id, sealed): (Option<u64>, Option<String>, Option<Vec<u8>>) =
            redis::cmd("HMGET")
                .arg(self.record_key(user))
                .arg("v")
                .arg("k")
                .arg("s")
                .query_async(&mut self.link.clone())
                .await
                .map_err(redis_error)?;
        match (version, key_id, sealed) {
            (None, None, None) => Ok(None),
            (Some(version), Some(key_id), Some(sealed)) => {
                let record = self.keys.open_record(user, version, &key_id, &sealed)?;
                Ok(Some(Versioned { version, record }))
            }
            _ => Err(StoreError::corrupt("a record key lacks some of its fields")),
        }
    }

    async fn commit(
        &self,
        user: &UserId,
        expected: Option<Version>,
        record: UserRecord,
    ) -> Result<Commit, StoreError> {
        let version = expected.map_or(Ok(1), |v| {
            v.checked_add(1)
                .ok_or_else(|| StoreError::new(StoreErrorKind::Other, "version out of range"))
        })?;
        let sealed = self.keys.seal_record(user, version, &record)?;
        let written: i64 = self
            .scripts
            .commit
            .key(self.record_key(user))
            .arg(expected.map(|v| v.to_string()).unwrap_or_default())
            .arg(version)
            .arg(&sealed.key_id)
            .arg(&sealed.blob[..])
            .arg(
                record
                    .expires_at()
                    .map(|t| t.unix_millis().to_string())
                    .unwrap_or_default(),
            )
            .arg(ttl_ms(&record).map(|t| t.to_string()).unwrap_or_default())
            .invoke_async(&mut self.link.clone())
            .await
            .map_err(redis_error)?;
        Ok(if written == 1 {
            Commit::Committed(version)
        } else {
            Commit::Conflict
        })
    }

    async fn hit(
        &self,
        hits: &[WindowHit<'_>],
        now: Timestamp,
    ) -> Result<Vec<WindowCount>, StoreError> {
        if hits.is_empty() {
            return Ok(Vec::new());
        }
        let (bumps, places) = windows::bumps(&self.keys, hits);
        let mut invocation = self.scripts.hit.prepare_invoke();
        invocation.arg(now.unix_millis());
        for b in &bumps {
            invocation
                .key(self.window_key(&b.id))
                .arg(b.hits)
                .arg(b.window_ms);
        }
        let reply: Vec<i64> = invocation
            .invoke_async(&mut self.link.clone())
            .await
            .map_err(redis_error)?;
        if reply.len() != 2 * bumps.len() {
            return Err(StoreError::corrupt("an unexpected window reply"));
        }
        let after: Vec<(i64, i64)> = reply.chunks(2).map(|p| (p[0], p[1])).collect();
        windows::spread(&bumps, &places, &after)
    }

    async fn purge(&self, now: Timestamp) -> Result<u64, StoreError> {
        // Records and windows expire by their TTLs; this also drops what is past its
        // time by the caller's clock, which may run ahead of the server's.
        let pattern = format!("{}{{*", glob_escape(&self.prefix));
        let nodes = self.primaries().await?;
        let nodes: Vec<Option<(String, u16)>> = match nodes {
            Some(n) => n.into_iter().map(Some).collect(),
            None => vec![None],
        };
        let mut dropped = 0u64;
        for node in &nodes {
            let mut cursor = 0u64;
            loop {
                let (next, batch) = self.scan(node.as_ref(), cursor, &pattern).await?;
                for key in batch {
                    let n: u64 = self
                        .scripts
                        .purge
                        .key(&key)
                        .arg(now.unix_millis())
                        .invoke_async(&mut self.link.clone())
                        .await
                        .map_err(redis_error)?;
                    dropped += n;
                }
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
        Ok(dropped)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_are_named_in_lower_case_hex_two_digits_a_byte() {
        assert_eq!(super::hex(&[0x00, 0x0f, 0xa5, 0xff, 0x10]), "000fa5ff10");
        assert_eq!(super::hex(&[]), "");
    }
}
