//! The shared SQL store: PostgreSQL over a few shared connections.
//!
//! One row per user in `mfa_user_records`: the record sealed under the keyring, found
//! by a keyed hash of the user id. Every operation is one prepared statement, so one
//! round trip: a commit is `UPDATE … WHERE id = $1 AND version = $n` (PostgreSQL
//! re-checks the version after waiting for a concurrent writer) or, for a first
//! commit, `INSERT … ON CONFLICT DO NOTHING`; a `hit` of several windows is one
//! `INSERT … SELECT FROM unnest(…) ON CONFLICT DO UPDATE`. Many servers can share one
//! database.
//!
//! Operations share connections instead of taking one each: statements sent at once
//! on one connection are pipelined (written together, answered in order), so 32
//! verifications in flight keep a few backends busy rather than waking 32 in turn.
//! On this project's two-core machine that is about a third less work for PostgreSQL per
//! statement than a connection per operation. A connection that breaks is replaced by
//! the next operation that comes to it; the one that found it broken fails as
//! unavailable. Every operation is a single statement, so nothing waits on another
//! operation's transaction.

use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use mfa_core::{
    Commit, Store, StoreError, StoreErrorKind, Timestamp, UserId, UserRecord, Version, Versioned,
    WindowCount, WindowHit,
};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};

use crate::keys::Keyring;
use crate::legacy::{OpenError, V1_TABLES, V1Data, V1Found};
use crate::windows::{self, millis_i64};

/// Schema versions: 1 was mfa v1 (its own tables); 2 is the sealed records.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        2,
        "records",
        include_str!("../migrations/postgres/0002_records.sql"),
    ),
    (
        3,
        "inline records",
        include_str!("../migrations/postgres/0003_inline_records.sql"),
    ),
];

/// The advisory lock servers starting together take turns on to migrate.
const LOCK_MIGRATIONS: i32 = 0x6d66_0001;

/// A [`Store`] in a PostgreSQL database; clones share its connections.
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
    lanes: Arc<Lanes>,
    keys: Arc<Keyring>,
}

/// The connections operations share, taken in turn. deadpool opens them (and closes
/// one that broke when the last operation on it lets it go); a slot is filled again
/// by the first operation that finds it empty or broken.
struct Lanes {
    slots: Box<[Lane]>,
    next: AtomicUsize,
}

#[derive(Default)]
struct Lane {
    client: RwLock<Option<Arc<Client>>>,
    /// One reconnect at a time per slot, so an outage does not open a crowd.
    refill: tokio::sync::Mutex<()>,
}

impl Lane {
    fn live(&self) -> Option<Arc<Client>> {
        let client = self.client.read().unwrap_or_else(PoisonError::into_inner);
        client.as_ref().filter(|c| !c.is_closed()).cloned()
    }
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("connections", &self.lanes.slots.len())
            .field("key_id", &self.keys.current_id())
            .finish_non_exhaustive()
    }
}

/// Connection settings beyond the URL.
#[derive(Debug, Clone, Copy)]
pub struct PoolOptions {
    /// The connections held open and shared by every operation (default 4). Each is
    /// one PostgreSQL backend; statements on one connection run one after another, so
    /// more connections let more run at once on a server with more cores.
    pub max_size: usize,
    /// How long connecting, waiting for a free connection or a statement may take
    /// before the operation fails as unavailable (default 5 s).
    pub timeout: Duration,
    /// What to do on finding mfa v1 tables (default: refuse to open).
    pub v1: V1Data,
}

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions {
            max_size: 4,
            timeout: Duration::from_secs(5),
            v1: V1Data::Refuse,
        }
    }
}

fn pg_error(e: tokio_postgres::Error) -> StoreError {
    let transient = match e.code() {
        None => true,
        Some(code) => {
            code.code().starts_with("08")
                || [
                    SqlState::T_R_SERIALIZATION_FAILURE,
                    SqlState::T_R_DEADLOCK_DETECTED,
                    SqlState::ADMIN_SHUTDOWN,
                    SqlState::CRASH_SHUTDOWN,
                    SqlState::CANNOT_CONNECT_NOW,
                    SqlState::QUERY_CANCELED,
                    SqlState::TOO_MANY_CONNECTIONS,
                ]
                .contains(code)
        }
    };
    let kind = if transient {
        StoreErrorKind::Unavailable
    } else {
        StoreErrorKind::Other
    };
    StoreError::new(kind, format!("postgres: {e}"))
}

fn pool_error(e: deadpool_postgres::PoolError) -> StoreError {
    match e {
        deadpool_postgres::PoolError::Backend(e) => pg_error(e),
        other => StoreError::unavailable(format!("postgres pool: {other}")),
    }
}

type Client = deadpool_postgres::Object;

// Every statement is prepared once per connection and kept: one round trip per call.
async fn cached_execute(
    c: &Client,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<u64, tokio_postgres::Error> {
    let stmt = c.prepare_cached(sql).await?;
    c.execute(&stmt, params).await
}

async fn cached_query_opt(
    c: &Client,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Option<Row>, tokio_postgres::Error> {
    let stmt = c.prepare_cached(sql).await?;
    c.query_opt(&stmt, params).await
}

/// A version as PostgreSQL stores it; versions never come near `i64::MAX`.
fn version_i64(v: Version) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::new(StoreErrorKind::Other, "version out of range"))
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user@host:port/db`, without TLS: use it on a
    /// trusted network or a local socket) and applies the migrations; refuses a
    /// database holding mfa v1 tables.
    pub async fn connect(url: &str, keys: Keyring) -> Result<Self, OpenError> {
        Self::connect_with(url, keys, PoolOptions::default()).await
    }

    /// [`PostgresStore::connect`] with pool settings and what to do with v1 data.
    pub async fn connect_with(
        url: &str,
        keys: Keyring,
        options: PoolOptions,
    ) -> Result<Self, OpenError> {
        let mut config = tokio_postgres::Config::from_str(url)
            .map_err(|_| StoreError::new(StoreErrorKind::Other, "malformed PostgreSQL URL"))?;
        config.connect_timeout(options.timeout);
        // The URL may name the application (`?application_name=…`); else it is "mfa".
        if config.get_application_name().is_none() {
            config.application_name("mfa");
        }
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            // Room beside the shared connections for the successor of a broken one
            // while operations still hold it.
            .max_size(2 * options.max_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(options.timeout))
            .create_timeout(Some(options.timeout))
            .recycle_timeout(Some(options.timeout))
            .build()
            .map_err(|e| StoreError::new(StoreErrorKind::Other, format!("postgres pool: {e}")))?;
        let lanes = Lanes {
            slots: (0..options.max_size.max(1))
                .map(|_| Lane::default())
                .collect(),
            next: AtomicUsize::new(0),
        };
        let store = PostgresStore {
            pool,
            lanes: Arc::new(lanes),
            keys: Arc::new(keys),
        };
        store.migrate(options.v1).await?;
        Ok(store)
    }

    /// A new connection from the pool: the migration's own (its transaction runs before
    /// any connection is shared), or one to fill a slot of [`Lanes`].
    async fn exclusive(&self) -> Result<Client, StoreError> {
        self.pool.get().await.map_err(pool_error)
    }

    /// The next shared connection in turn; a broken one is replaced first.
    async fn client(&self) -> Result<Arc<Client>, StoreError> {
        let slots = &self.lanes.slots;
        let lane = &slots[self.lanes.next.fetch_add(1, Ordering::Relaxed) % slots.len()];
        if let Some(client) = lane.live() {
            return Ok(client);
        }
        let _turn = lane.refill.lock().await;
        if let Some(client) = lane.live() {
            return Ok(client);
        }
        // The broken connection goes first, so the pool has room for its successor.
        lane.client
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let client = Arc::new(self.exclusive().await?);
        *lane.client.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::clone(&client));
        Ok(client)
    }

    async fn migrate(&self, v1: V1Data) -> Result<(), OpenError> {
        let mut client = self.exclusive().await?;
        let tx = client.transaction().await.map_err(pg_error)?;
        // Servers starting together take turns.
        tx.execute("SELECT pg_advisory_xact_lock($1, 0)", &[&LOCK_MIGRATIONS])
            .await
            .map_err(pg_error)?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS mfa_schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, \
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
        )
        .await
        .map_err(pg_error)?;
        let current: i64 = tx
            .query_one(
                "SELECT COALESCE(MAX(version), 0) FROM mfa_schema_migrations",
                &[],
            )
            .await
            .map_err(pg_error)?
            .get(0);
        let newest = MIGRATIONS.last().map_or(0, |m| m.0);
        if current > newest {
            return Err(StoreError::corrupt(format!(
                "the database schema is version {current}, newer than this build knows ({newest})"
            ))
            .into());
        }
        if current < 2 && v1 == V1Data::Refuse {
            let tables: Vec<String> = V1_TABLES.iter().map(|t| (*t).to_owned()).collect();
            // In the schemas on the search path, as v1 created them.
            let rows = tx
                .query(
                    "SELECT t FROM unnest($1::text[]) WITH ORDINALITY AS u(t, n) \
                     WHERE to_regclass(t) IS NOT NULL ORDER BY n",
                    &[&tables],
                )
                .await
                .map_err(pg_error)?;
            let mut found: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
            if current == 1 || !found.is_empty() {
                if found.is_empty() {
                    found.push("mfa_schema_migrations at version 1".to_owned());
                }
                return Err(OpenError::V1Data(V1Found { found }));
            }
        }
        for (version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
            tx.batch_execute(sql).await.map_err(pg_error)?;
            tx.execute(
                "INSERT INTO mfa_schema_migrations (version, name) VALUES ($1, $2)",
                &[version, name],
            )
            .await
            .map_err(pg_error)?;
        }
        tx.commit().await.map_err(pg_error)?;
        Ok(())
    }

    /// How many records each sealing key id seals, to know when an old key can leave
    /// the keyring (when it seals none).
    pub async fn records_by_key(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT key_id, COUNT(*) FROM mfa_user_records GROUP BY key_id ORDER BY key_id",
                &[],
            )
            .await
            .map_err(pg_error)?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), u64::try_from(r.get::<_, i64>(1)).unwrap_or(0)))
            .collect())
    }

    /// The schema version in force (the last migration applied).
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        let client = self.client().await?;
        let row = cached_query_opt(
            &client,
            "SELECT COALESCE(MAX(version), 0) FROM mfa_schema_migrations",
            &[],
        )
        .await
        .map_err(pg_error)?;
        Ok(row.map_or(0, |r| r.get(0)))
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn load(&self, user: &UserId) -> Result<Option<Versioned>, StoreError> {
        let id = self.keys.user_index(user);
        let client = self.client().await?;
        let row = cached_query_opt(
            &client,
            "SELECT version, key_id, sealed FROM mfa_user_records WHERE id = $1",
            &[&&id[..]],
        )
        .await
        .map_err(pg_error)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let version = u64::try_from(row.get::<_, i64>(0))
            .map_err(|_| StoreError::corrupt("a negative record version"))?;
        let record = self
            .keys
            .open_record(user, version, row.get(1), row.get(2))?;
        Ok(Some(Versioned { version, record }))
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
        let id = self.keys.user_index(user);
        let expires_at = record.expires_at().map(millis_i64);
        let new = version_i64(version)?;
        let client = self.client().await?;
        let changed = match expected {
            None => {
                cached_execute(
                    &client,
                    "INSERT INTO mfa_user_records (id, version, key_id, sealed, expires_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
                    &[&&id[..], &new, &sealed.key_id, &sealed.blob, &expires_at],
                )
                .await
            }
            Some(old) => {
                let old = version_i64(old)?;
                cached_execute(
                    &client,
                    "UPDATE mfa_user_records SET version = $2, key_id = $3, sealed = $4, \
                     expires_at = $5 WHERE id = $1 AND version = $6",
                    &[
                        &&id[..],
                        &new,
                        &sealed.key_id,
                        &sealed.blob,
                        &expires_at,
                        &old,
                    ],
                )
                .await
            }
        }
        .map_err(pg_error)?;
        Ok(if changed == 1 {
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
        let ids: Vec<&[u8]> = bumps.iter().map(|b| &b.id[..]).collect();
        let counts: Vec<i64> = bumps.iter().map(|b| i64::from(b.hits)).collect();
        let lengths: Vec<i64> = bumps.iter().map(|b| b.window_ms).collect();
        let now = millis_i64(now);
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "INSERT INTO mfa_rate_windows AS w (id, count, resets_at) \
                 SELECT id, n, $4 + len FROM unnest($1::bytea[], $2::bigint[], $3::bigint[]) AS u(id, n, len) \
                 ORDER BY id \
                 ON CONFLICT (id) DO UPDATE SET \
                 count = CASE WHEN $4 >= w.resets_at THEN excluded.count ELSE w.count + excluded.count END, \
                 resets_at = CASE WHEN $4 >= w.resets_at THEN excluded.resets_at ELSE w.resets_at END \
                 RETURNING id, count, resets_at",
            )
            .await
            .map_err(pg_error)?;
        let rows = client
            .query(&stmt, &[&ids, &counts, &lengths, &now])
            .await
            .map_err(pg_error)?;
        // RETURNING has no order: match rows to windows by id.
        let mut after = vec![(0, 0); bumps.len()];
        for row in &rows {
            let id: &[u8] = row.get(0);
            let i = bumps
                .iter()
                .position(|b| b.id[..] == *id)
                .ok_or_else(|| StoreError::corrupt("a window the hit did not name"))?;
            after[i] = (row.get(1), row.get(2));
        }
        if rows.len() != bumps.len() {
            return Err(StoreError::corrupt("a window was not counted"));
        }
        windows::spread(&bumps, &places, &after)
    }

    async fn purge(&self, now: Timestamp) -> Result<u64, StoreError> {
        let now = millis_i64(now);
        let client = self.client().await?;
        let records = cached_execute(
            &client,
            "DELETE FROM mfa_user_records WHERE expires_at IS NOT NULL AND expires_at <= $1",
            &[&now],
        )
        .await
        .map_err(pg_error)?;
        let windows = cached_execute(
            &client,
            "DELETE FROM mfa_rate_windows WHERE resets_at <= $1",
            &[&now],
        )
        .await
        .map_err(pg_error)?;
        Ok(records + windows)
    }
}
