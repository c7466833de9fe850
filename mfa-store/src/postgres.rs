//! The shared SQL store: PostgreSQL through a connection pool.
//!
//! Challenge guards, attempt counts, app steps and rate-limit windows are single
//! guarded statements (`UPDATE … WHERE … RETURNING`, `INSERT … ON CONFLICT … WHERE`),
//! which PostgreSQL re-checks after waiting for a concurrent writer, so many servers
//! can share one database. Method lists and recovery codes change in transactions
//! holding a per-user advisory lock.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use mfa_core::store::{Failures, RecordedFailure, Removal, Store, WindowCount};
use mfa_core::{
    Challenge, ChallengeId, ChallengeStatus, CodeHash, MethodId, MethodRecord, StoreError,
    StoreErrorKind, Timestamp, UserId,
};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};

use crate::codec::{self, Slot, StoredMethod};
use crate::keys::Keyring;

const MIGRATIONS: &[(i64, &str, &str)] = &[(
    1,
    "init",
    include_str!("../migrations/postgres/0001_init.sql"),
)];

/// Advisory lock classes: schema migrations, a user's methods, a user's recovery codes.
const LOCK_MIGRATIONS: i32 = 0x6d66_0001;
const LOCK_METHODS: i32 = 0x6d66_0002;
const LOCK_RECOVERY: i32 = 0x6d66_0003;

/// A [`Store`] in a PostgreSQL database; clones share one connection pool.
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
    keys: Arc<Keyring>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("pool_size", &self.pool.status().max_size)
            .field("key_id", &self.keys.current_id())
            .finish_non_exhaustive()
    }
}

/// Connection settings beyond the URL.
#[derive(Debug, Clone, Copy)]
pub struct PoolOptions {
    /// The most connections held open (default 16).
    pub max_size: usize,
    /// How long connecting, waiting for a free connection or a statement may take
    /// before the operation fails as unavailable (default 5 s).
    pub timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions {
            max_size: 16,
            timeout: Duration::from_secs(5),
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

async fn cached_query_one(
    c: &Client,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Row, tokio_postgres::Error> {
    let stmt = c.prepare_cached(sql).await?;
    c.query_one(&stmt, params).await
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user@host:port/db`, without TLS: use it on a
    /// trusted network or a local socket) and applies the migrations.
    pub async fn connect(url: &str, keys: Keyring) -> Result<Self, StoreError> {
        Self::connect_with(url, keys, PoolOptions::default()).await
    }

    /// [`PostgresStore::connect`] with pool settings.
    pub async fn connect_with(
        url: &str,
        keys: Keyring,
        options: PoolOptions,
    ) -> Result<Self, StoreError> {
        let mut config = tokio_postgres::Config::from_str(url)
            .map_err(|_| StoreError::new(StoreErrorKind::Other, "malformed PostgreSQL URL"))?;
        config.connect_timeout(options.timeout);
        config.application_name("mfa");
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.max_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(options.timeout))
            .create_timeout(Some(options.timeout))
            .recycle_timeout(Some(options.timeout))
            .build()
            .map_err(|e| StoreError::new(StoreErrorKind::Other, format!("postgres pool: {e}")))?;
        let store = PostgresStore {
            pool,
            keys: Arc::new(keys),
        };
        store.migrate().await?;
        Ok(store)
    }

    async fn client(&self) -> Result<Client, StoreError> {
        self.pool.get().await.map_err(pool_error)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut client = self.client().await?;
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
            )));
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
        tx.commit().await.map_err(pg_error)
    }

    /// The schema version in force (the last migration applied).
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        let client = self.client().await?;
        let row = cached_query_one(
            &client,
            "SELECT COALESCE(MAX(version), 0) FROM mfa_schema_migrations",
            &[],
        )
        .await
        .map_err(pg_error)?;
        Ok(row.get(0))
    }

    /// Re-seals every app secret not under the keyring's current key; returns how many.
    pub async fn rotate_keys(&self) -> Result<usize, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_error)?;
        let rows = tx
            .query(
                "SELECT user_id, id, app_secret, app_key_id FROM mfa_methods \
                 WHERE app_secret IS NOT NULL AND app_key_id <> $1 FOR UPDATE",
                &[&self.keys.current_id()],
            )
            .await
            .map_err(pg_error)?;
        for row in &rows {
            let (user, id): (&str, &str) = (row.get(0), row.get(1));
            let (blob, key_id): (&[u8], &str) = (row.get(2), row.get(3));
            let context = crate::keys::secret_context(user, id);
            let secret = self.keys.open(key_id, &context, blob)?;
            let sealed = self.keys.seal(&context, secret.expose())?;
            tx.execute(
                "UPDATE mfa_methods SET app_secret = $1, app_key_id = $2 WHERE user_id = $3 AND id = $4",
                &[&sealed.blob, &sealed.key_id, &user, &id],
            )
            .await
            .map_err(pg_error)?;
        }
        tx.commit().await.map_err(pg_error)?;
        Ok(rows.len())
    }

    /// Deletes unapproved challenges that expired before `before`, and windows that
    /// closed before it.
    pub async fn purge_expired(&self, before: Timestamp) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let t = codec::millis(before);
        let a = cached_execute(
            &client,
            "DELETE FROM mfa_challenges WHERE expires_at < $1 AND status <> 'approved'",
            &[&t],
        )
        .await
        .map_err(pg_error)?;
        let b = client
            .execute("DELETE FROM mfa_windows WHERE resets_at < $1", &[&t])
            .await
            .map_err(pg_error)?;
        Ok(a + b)
    }

    /// Applies the rule `f` to the user's method list in one transaction.
    async fn change_methods<T>(
        &self,
        user: &UserId,
        f: impl FnOnce(&mut Vec<Slot>) -> T,
    ) -> Result<T, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_error)?;
        let user = user.as_str();
        tx.execute(
            "SELECT pg_advisory_xact_lock($1, hashtext($2))",
            &[&LOCK_METHODS, &user],
        )
        .await
        .map_err(pg_error)?;
        let before: Vec<Slot> = tx
            .query(
                "SELECT id, status, is_default, replaces FROM mfa_methods WHERE user_id = $1 ORDER BY seq",
                &[&user],
            )
            .await
            .map_err(pg_error)?
            .iter()
            .map(|r| {
                Ok(Slot {
                    id: r.get(0),
                    status: codec::status_of(r.get(1))?,
                    is_default: r.get(2),
                    replaces: r.get(3),
                })
            })
            .collect::<Result<_, StoreError>>()?;
        let mut after = before.clone();
        let out = f(&mut after);
        let changes = codec::diff(&before, &after);
        if !changes.removed.is_empty() {
            tx.execute(
                "DELETE FROM mfa_methods WHERE user_id = $1 AND id = ANY($2)",
                &[&user, &changes.removed],
            )
            .await
            .map_err(pg_error)?;
            tx.execute(
                "DELETE FROM mfa_app_steps WHERE user_id = $1 AND method_id = ANY($2)",
                &[&user, &changes.removed],
            )
            .await
            .map_err(pg_error)?;
        }
        for s in &changes.updated {
            tx.execute(
                "UPDATE mfa_methods SET status = $1, is_default = $2, replaces = $3 WHERE user_id = $4 AND id = $5",
                &[&codec::status_str(s.status), &s.is_default, &s.replaces, &user, &s.id],
            )
            .await
            .map_err(pg_error)?;
        }
        tx.commit().await.map_err(pg_error)?;
        Ok(out)
    }
}

const METHOD_COLUMNS: &str = "id, kind, number, mode, extension, status, is_default, created_at, \
                              app_secret, app_key_id, app_parameters, replaces";

fn stored_method(r: &Row) -> StoredMethod {
    StoredMethod {
        id: r.get(0),
        kind: r.get(1),
        number: r.get(2),
        mode: r.get(3),
        extension: r.get(4),
        status: r.get(5),
        is_default: r.get(6),
        created_at: r.get(7),
        app_secret: r.get(8),
        app_key_id: r.get(9),
        app_parameters: r.get(10),
        replaces: r.get(11),
    }
}

const CHALLENGE_COLUMNS: &str = "id, user_id, method_id, purpose, status, answer, code_hash, generation, attempts, \
                                 max_attempts, sends, created_at, expires_at, last_sent_at, approved_at";

fn challenge_of(r: &Row) -> Result<Challenge, StoreError> {
    let hash: Option<&[u8]> = r.try_get(6).map_err(pg_error)?;
    let int = |i: usize| -> Result<i64, StoreError> { r.try_get(i).map_err(pg_error) };
    let opt = |i: usize| -> Result<Option<i64>, StoreError> { r.try_get(i).map_err(pg_error) };
    Ok(Challenge {
        id: ChallengeId::parse(r.get(0))
            .map_err(|_| StoreError::corrupt("a stored challenge id does not parse"))?,
        user: codec::user_id(r.get(1))?,
        method_id: codec::method_id(r.get(2))?,
        purpose: codec::purpose_of(r.get(3))?,
        status: codec::challenge_status_of(r.get(4))?,
        answer: codec::answer_of(r.get(5), hash)?,
        generation: codec::u32_of(int(7)?, "generation")?,
        attempts: codec::u32_of(int(8)?, "attempts")?,
        max_attempts: codec::u32_of(int(9)?, "max_attempts")?,
        sends: codec::u32_of(int(10)?, "sends")?,
        created_at: codec::timestamp(int(11)?)?,
        expires_at: codec::timestamp(int(12)?)?,
        last_sent_at: opt(13)?.map(codec::timestamp).transpose()?,
        approved_at: opt(14)?.map(codec::timestamp).transpose()?,
    })
}

async fn load_challenge(client: &Client, id: &str) -> Result<Option<Challenge>, StoreError> {
    cached_query_opt(
        client,
        &format!("SELECT {CHALLENGE_COLUMNS} FROM mfa_challenges WHERE id = $1"),
        &[&id],
    )
    .await
    .map_err(pg_error)?
    .as_ref()
    .map(challenge_of)
    .transpose()
}

fn count_of(v: i64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

#[async_trait]
impl Store for PostgresStore {
    async fn methods(&self, user: &UserId) -> Result<Vec<MethodRecord>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT {METHOD_COLUMNS} FROM mfa_methods WHERE user_id = $1 ORDER BY seq"
            ))
            .await
            .map_err(pg_error)?;
        let rows = client
            .query(&stmt, &[&user.as_str()])
            .await
            .map_err(pg_error)?;
        rows.iter()
            .map(|r| codec::method_record(&self.keys, user, &stored_method(r)))
            .collect()
    }

    async fn insert_method(&self, user: &UserId, record: MethodRecord) -> Result<(), StoreError> {
        let row = codec::method_row(&self.keys, user, &record)?;
        let client = self.client().await?;
        cached_execute(
            &client,
            &format!(
                "INSERT INTO mfa_methods (user_id, {METHOD_COLUMNS}) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
            ),
            &[
                &user.as_str(),
                &row.id,
                &row.kind,
                &row.number,
                &row.mode,
                &row.extension,
                &row.status,
                &row.is_default,
                &row.created_at,
                &row.app_secret,
                &row.app_key_id,
                &row.app_parameters,
                &row.replaces,
            ],
        )
        .await
        .map_err(pg_error)?;
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
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_error)?;
        let user = user.as_str();
        tx.execute(
            "SELECT pg_advisory_xact_lock($1, hashtext($2))",
            &[&LOCK_METHODS, &user],
        )
        .await
        .map_err(pg_error)?;
        for table in ["mfa_methods", "mfa_app_steps", "mfa_recovery_codes"] {
            tx.execute(&format!("DELETE FROM {table} WHERE user_id = $1"), &[&user])
                .await
                .map_err(pg_error)?;
        }
        tx.commit().await.map_err(pg_error)
    }

    async fn app_step(&self, user: &UserId, id: &MethodId) -> Result<Option<u64>, StoreError> {
        let client = self.client().await?;
        let row = cached_query_opt(
            &client,
            "SELECT step FROM mfa_app_steps WHERE user_id = $1 AND method_id = $2",
            &[&user.as_str(), &id.as_str()],
        )
        .await
        .map_err(pg_error)?;
        Ok(row.map(|r| codec::step_from_i64(r.get(0))))
    }

    async fn advance_app_step(
        &self,
        user: &UserId,
        id: &MethodId,
        step: u64,
    ) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "INSERT INTO mfa_app_steps (user_id, method_id, step) VALUES ($1, $2, $3) \
                 ON CONFLICT (user_id, method_id) DO UPDATE SET step = EXCLUDED.step \
                 WHERE mfa_app_steps.step < EXCLUDED.step",
            )
            .await
            .map_err(pg_error)?;
        let n = client
            .execute(
                &stmt,
                &[&user.as_str(), &id.as_str(), &codec::step_to_i64(step)],
            )
            .await
            .map_err(pg_error)?;
        Ok(n == 1)
    }

    async fn insert_challenge(&self, c: Challenge) -> Result<(), StoreError> {
        let client = self.client().await?;
        let (answer, hash) = codec::answer_parts(&c.answer);
        cached_execute(
            &client,
                &format!(
                    "INSERT INTO mfa_challenges ({CHALLENGE_COLUMNS}) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
                     ON CONFLICT (id) DO UPDATE SET user_id = EXCLUDED.user_id, method_id = EXCLUDED.method_id, \
                     purpose = EXCLUDED.purpose, status = EXCLUDED.status, answer = EXCLUDED.answer, \
                     code_hash = EXCLUDED.code_hash, generation = EXCLUDED.generation, \
                     attempts = EXCLUDED.attempts, max_attempts = EXCLUDED.max_attempts, sends = EXCLUDED.sends, \
                     created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at, \
                     last_sent_at = EXCLUDED.last_sent_at, approved_at = EXCLUDED.approved_at"
                ),
                &[
                    &c.id.as_str(),
                    &c.user.as_str(),
                    &c.method_id.as_str(),
                    &codec::purpose_str(c.purpose),
                    &codec::challenge_status_str(c.status),
                    &answer,
                    &hash,
                    &i64::from(c.generation),
                    &i64::from(c.attempts),
                    &i64::from(c.max_attempts),
                    &i64::from(c.sends),
                    &codec::millis(c.created_at),
                    &codec::millis(c.expires_at),
                    &c.last_sent_at.map(codec::millis),
                    &c.approved_at.map(codec::millis),
                ],
            )
            .await
            .map_err(pg_error)?;
        Ok(())
    }

    async fn challenge(&self, id: &ChallengeId) -> Result<Option<Challenge>, StoreError> {
        let client = self.client().await?;
        load_challenge(&client, id.as_str()).await
    }

    async fn record_failure(
        &self,
        id: &ChallengeId,
        now: Timestamp,
    ) -> Result<Option<RecordedFailure>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&format!(
                "UPDATE mfa_challenges SET attempts = attempts + 1, \
                 status = CASE WHEN attempts + 1 >= max_attempts THEN 'locked' ELSE status END \
                 WHERE id = $1 AND status = 'awaiting_code' AND $2 < expires_at AND attempts < max_attempts \
                 RETURNING {CHALLENGE_COLUMNS}"
            ))
            .await
            .map_err(pg_error)?;
        let counted = client
            .query_opt(&stmt, &[&id.as_str(), &codec::millis(now)])
            .await
            .map_err(pg_error)?;
        match counted {
            Some(row) => challenge_of(&row).map(|challenge| {
                Some(RecordedFailure {
                    challenge,
                    counted: true,
                })
            }),
            None => Ok(load_challenge(&client, id.as_str())
                .await?
                .map(|challenge| RecordedFailure {
                    challenge,
                    counted: false,
                })),
        }
    }

    async fn approve(
        &self,
        id: &ChallengeId,
        generation: u32,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "UPDATE mfa_challenges SET status = 'approved', approved_at = $3 \
                 WHERE id = $1 AND status IN ('awaiting_code', 'awaiting_call') AND generation = $2 \
                 AND $3 < expires_at AND attempts < max_attempts",
            )
            .await
            .map_err(pg_error)?;
        let n = client
            .execute(
                &stmt,
                &[&id.as_str(), &i64::from(generation), &codec::millis(now)],
            )
            .await
            .map_err(pg_error)?;
        Ok(n == 1)
    }

    async fn replace_code(
        &self,
        id: &ChallengeId,
        generation: u32,
        hash: Option<CodeHash>,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let hash = hash.map(|h| h.0.to_vec());
        let n = cached_execute(
            &client,
                "UPDATE mfa_challenges SET generation = generation + 1, sends = sends + 1, \
                 expires_at = $3, last_sent_at = $4, \
                 code_hash = COALESCE($5, code_hash), \
                 answer = CASE WHEN $5::BYTEA IS NULL THEN answer ELSE 'sent_code' END \
                 WHERE id = $1 AND status IN ('awaiting_code', 'awaiting_call') AND generation = $2 \
                 AND $4 < expires_at",
                &[
                    &id.as_str(),
                    &i64::from(generation),
                    &codec::millis(expires_at),
                    &codec::millis(now),
                    &hash,
                ],
            )
            .await
            .map_err(pg_error)?;
        Ok(n == 1)
    }

    async fn close_challenge(
        &self,
        id: &ChallengeId,
        from: &[ChallengeStatus],
        to: ChallengeStatus,
    ) -> Result<bool, StoreError> {
        let from: Vec<&str> = from
            .iter()
            .map(|s| codec::challenge_status_str(*s))
            .collect();
        let client = self.client().await?;
        let n = cached_execute(
            &client,
            "UPDATE mfa_challenges SET status = $2 WHERE id = $1 AND status = ANY($3)",
            &[&id.as_str(), &codec::challenge_status_str(to), &from],
        )
        .await
        .map_err(pg_error)?;
        Ok(n == 1)
    }

    async fn hit(
        &self,
        key: &str,
        window: Duration,
        now: Timestamp,
    ) -> Result<WindowCount, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "INSERT INTO mfa_windows (key, count, resets_at) VALUES ($1, 1, $3) \
                 ON CONFLICT (key) DO UPDATE SET \
                 count = CASE WHEN $2 >= mfa_windows.resets_at THEN 1 ELSE mfa_windows.count + 1 END, \
                 resets_at = CASE WHEN $2 >= mfa_windows.resets_at THEN $3 ELSE mfa_windows.resets_at END \
                 RETURNING count, resets_at",
            )
            .await
            .map_err(pg_error)?;
        let row = client
            .query_one(
                &stmt,
                &[&key, &codec::millis(now), &codec::millis(now + window)],
            )
            .await
            .map_err(pg_error)?;
        Ok(WindowCount {
            count: count_of(row.get(0)),
            resets_at: codec::timestamp(row.get(1))?,
        })
    }

    async fn record_user_failure(
        &self,
        user: &UserId,
        now: Timestamp,
    ) -> Result<Failures, StoreError> {
        let client = self.client().await?;
        let row = cached_query_one(
            &client,
                "INSERT INTO mfa_user_failures (user_id, count, last_at) VALUES ($1, 1, $2) \
                 ON CONFLICT (user_id) DO UPDATE SET count = mfa_user_failures.count + 1, last_at = $2 \
                 RETURNING count, last_at",
                &[&user.as_str(), &codec::millis(now)],
            )
            .await
            .map_err(pg_error)?;
        Ok(Failures {
            count: count_of(row.get(0)),
            last_at: row
                .get::<_, Option<i64>>(1)
                .map(codec::timestamp)
                .transpose()?,
        })
    }

    async fn user_failures(&self, user: &UserId) -> Result<Failures, StoreError> {
        let client = self.client().await?;
        let row = cached_query_opt(
            &client,
            "SELECT count, last_at FROM mfa_user_failures WHERE user_id = $1",
            &[&user.as_str()],
        )
        .await
        .map_err(pg_error)?;
        match row {
            None => Ok(Failures::default()),
            Some(row) => Ok(Failures {
                count: count_of(row.get(0)),
                last_at: row
                    .get::<_, Option<i64>>(1)
                    .map(codec::timestamp)
                    .transpose()?,
            }),
        }
    }

    async fn clear_user_failures(&self, user: &UserId) -> Result<(), StoreError> {
        let client = self.client().await?;
        cached_execute(
            &client,
            "DELETE FROM mfa_user_failures WHERE user_id = $1",
            &[&user.as_str()],
        )
        .await
        .map_err(pg_error)?;
        Ok(())
    }

    async fn replace_recovery_codes(
        &self,
        user: &UserId,
        hashes: Vec<CodeHash>,
    ) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_error)?;
        let user = user.as_str();
        tx.execute(
            "SELECT pg_advisory_xact_lock($1, hashtext($2))",
            &[&LOCK_RECOVERY, &user],
        )
        .await
        .map_err(pg_error)?;
        tx.execute(
            "DELETE FROM mfa_recovery_codes WHERE user_id = $1",
            &[&user],
        )
        .await
        .map_err(pg_error)?;
        let hashes: Vec<Vec<u8>> = hashes.iter().map(|h| h.0.to_vec()).collect();
        tx.execute(
            "INSERT INTO mfa_recovery_codes (user_id, hash) SELECT $1, h FROM unnest($2::BYTEA[]) \
             WITH ORDINALITY AS t(h, n) ORDER BY n",
            &[&user, &hashes],
        )
        .await
        .map_err(pg_error)?;
        tx.commit().await.map_err(pg_error)
    }

    async fn consume_recovery_code(
        &self,
        user: &UserId,
        hash: &CodeHash,
    ) -> Result<Option<usize>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(pg_error)?;
        let user = user.as_str();
        tx.execute(
            "SELECT pg_advisory_xact_lock($1, hashtext($2))",
            &[&LOCK_RECOVERY, &user],
        )
        .await
        .map_err(pg_error)?;
        let n = tx
            .execute(
                "UPDATE mfa_recovery_codes SET used = TRUE WHERE NOT used AND seq = \
                 (SELECT seq FROM mfa_recovery_codes WHERE user_id = $1 AND hash = $2 AND NOT used LIMIT 1)",
                &[&user, &hash.0.as_slice()],
            )
            .await
            .map_err(pg_error)?;
        let left = if n == 1 {
            let left: i64 = tx
                .query_one(
                    "SELECT COUNT(*) FROM mfa_recovery_codes WHERE user_id = $1 AND NOT used",
                    &[&user],
                )
                .await
                .map_err(pg_error)?
                .get(0);
            Some(usize::try_from(left).unwrap_or(0))
        } else {
            None
        };
        tx.commit().await.map_err(pg_error)?;
        Ok(left)
    }
}
