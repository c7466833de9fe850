//! The embedded store: SQLite in a file or in memory.
//!
//! One row per user in `mfa_user_records`: the record sealed under the keyring, found
//! by a keyed hash of the user id. A commit is one guarded statement (`UPDATE … WHERE
//! version = ?`, or `INSERT … ON CONFLICT DO NOTHING` for a first commit), atomic
//! against other connections and processes sharing the file. The blocking SQLite
//! calls run on Tokio's blocking pool.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use mfa_core::{
    Commit, Store, StoreError, StoreErrorKind, Timestamp, UserId, UserRecord, Version, Versioned,
    WindowCount, WindowHit,
};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::keys::Keyring;
use crate::legacy::{OpenError, V1_TABLES, V1Data, V1Found};
use crate::windows::{self, millis_i64};

/// Schema versions: 1 was mfa v1 (its own tables); 2 is the sealed records.
const MIGRATIONS: &[(i64, &str, &str)] = &[(
    2,
    "records",
    include_str!("../migrations/sqlite/0002_records.sql"),
)];

/// A [`Store`] in an SQLite database; clones share one connection.
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    keys: Arc<Keyring>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("key_id", &self.keys.current_id())
            .finish_non_exhaustive()
    }
}

fn sql_error(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(
            rusqlite::ErrorCode::DatabaseBusy
            | rusqlite::ErrorCode::DatabaseLocked
            | rusqlite::ErrorCode::CannotOpen
            | rusqlite::ErrorCode::DiskFull
            | rusqlite::ErrorCode::SystemIoFailure,
        ) => StoreError::unavailable(format!("sqlite: {e}")),
        Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase) => {
            StoreError::corrupt(format!("sqlite: {e}"))
        }
        _ => StoreError::new(StoreErrorKind::Other, format!("sqlite: {e}")),
    }
}

/// A version as SQLite stores it; versions never come near `i64::MAX`.
fn version_i64(v: Version) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::new(StoreErrorKind::Other, "version out of range"))
}

impl SqliteStore {
    /// Opens (or creates) the database file at `path` and applies the migrations;
    /// refuses a database holding mfa v1 data. An operation waits up to 5 s for
    /// another process's lock before failing as unavailable.
    pub fn open(path: impl AsRef<Path>, keys: Keyring) -> Result<Self, OpenError> {
        Self::open_with(path, keys, Duration::from_secs(5), V1Data::Refuse)
    }

    /// [`SqliteStore::open`] waiting at most `busy_timeout` for another process's
    /// lock, and doing `v1` with mfa v1 data.
    pub fn open_with(
        path: impl AsRef<Path>,
        keys: Keyring,
        busy_timeout: Duration,
        v1: V1Data,
    ) -> Result<Self, OpenError> {
        let conn = Connection::open(path).map_err(sql_error)?;
        conn.busy_timeout(busy_timeout).map_err(sql_error)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(sql_error)?;
        Self::with_connection(conn, keys, v1)
    }

    /// A private database in memory, gone when the last clone is dropped.
    pub fn in_memory(keys: Keyring) -> Result<Self, OpenError> {
        let conn = Connection::open_in_memory().map_err(sql_error)?;
        Self::with_connection(conn, keys, V1Data::Refuse)
    }

    fn with_connection(mut conn: Connection, keys: Keyring, v1: V1Data) -> Result<Self, OpenError> {
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(sql_error)?;
        migrate(&mut conn, v1)?;
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
            keys: Arc::new(keys),
        })
    }

    /// The schema version in force (the last migration applied).
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        self.call(|conn, _| {
            conn.query_row(
                "SELECT COALESCE(MAX(version), 0) FROM mfa_schema_migrations",
                [],
                |r| r.get(0),
            )
            .map_err(sql_error)
        })
        .await
    }

    /// How many records each sealing key id seals, to know when an old key can leave
    /// the keyring (when it seals none).
    pub async fn records_by_key(&self) -> Result<Vec<(String, u64)>, StoreError> {
        self.call(|conn, _| {
            let mut stmt = conn
                .prepare(
                    "SELECT key_id, COUNT(*) FROM mfa_user_records GROUP BY key_id ORDER BY key_id",
                )
                .map_err(sql_error)?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
                .map_err(sql_error)?;
            rows.map(|r| {
                r.map(|(k, n)| (k, u64::try_from(n).unwrap_or(0)))
                    .map_err(sql_error)
            })
            .collect()
        })
        .await
    }

    fn lock(conn: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
        match conn.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Runs `f` on the connection, on the blocking pool.
    async fn call<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection, &Keyring) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        let keys = Arc::clone(&self.keys);
        tokio::task::spawn_blocking(move || f(&mut Self::lock(&conn), &keys))
            .await
            .map_err(|_| StoreError::unavailable("the sqlite task did not finish"))?
    }
}

fn migrate(conn: &mut Connection, v1: V1Data) -> Result<(), OpenError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sql_error)?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS mfa_schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL)",
    )
    .map_err(sql_error)?;
    let current: i64 = tx
        .query_row(
            "SELECT COALESCE(MAX(version), 0) FROM mfa_schema_migrations",
            [],
            |r| r.get(0),
        )
        .map_err(sql_error)?;
    let newest = MIGRATIONS.last().map_or(0, |m| m.0);
    if current > newest {
        return Err(StoreError::corrupt(format!(
            "the database schema is version {current}, newer than this build knows ({newest})"
        ))
        .into());
    }
    if current < 2 && v1 == V1Data::Refuse {
        let mut found = Vec::new();
        for table in V1_TABLES {
            let exists: Option<i64> = tx
                .query_row(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
                    [table],
                    |r| r.get(0),
                )
                .optional()
                .map_err(sql_error)?;
            if exists.is_some() {
                found.push((*table).to_owned());
            }
        }
        if current == 1 || !found.is_empty() {
            if found.is_empty() {
                found.push("mfa_schema_migrations at version 1".to_owned());
            }
            return Err(OpenError::V1Data(V1Found { found }));
        }
    }
    for (version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        tx.execute_batch(sql).map_err(sql_error)?;
        tx.execute(
            "INSERT INTO mfa_schema_migrations (version, name) VALUES (?1, ?2)",
            params![version, name],
        )
        .map_err(sql_error)?;
    }
    tx.commit().map_err(sql_error)?;
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    async fn load(&self, user: &UserId) -> Result<Option<Versioned>, StoreError> {
        let user = user.clone();
        self.call(move |conn, keys| {
            let id = keys.user_index(&user);
            let row: Option<(i64, String, Vec<u8>)> = conn
                .prepare_cached(
                    "SELECT version, key_id, sealed FROM mfa_user_records WHERE id = ?1",
                )
                .map_err(sql_error)?
                .query_row([&id[..]], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()
                .map_err(sql_error)?;
            let Some((version, key_id, sealed)) = row else {
                return Ok(None);
            };
            let version = u64::try_from(version)
                .map_err(|_| StoreError::corrupt("a negative record version"))?;
            let record = keys.open_record(&user, version, &key_id, &sealed)?;
            Ok(Some(Versioned { version, record }))
        })
        .await
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
        let old = expected.map(version_i64).transpose()?;
        self.call(move |conn, _| {
            let changed = match old {
                None => conn
                    .prepare_cached(
                        "INSERT INTO mfa_user_records (id, version, key_id, sealed, expires_at) \
                         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (id) DO NOTHING",
                    )
                    .map_err(sql_error)?
                    .execute(params![
                        &id[..],
                        new,
                        sealed.key_id,
                        sealed.blob,
                        expires_at
                    ]),
                Some(old) => conn
                    .prepare_cached(
                        "UPDATE mfa_user_records SET version = ?2, key_id = ?3, sealed = ?4, \
                         expires_at = ?5 WHERE id = ?1 AND version = ?6",
                    )
                    .map_err(sql_error)?
                    .execute(params![
                        &id[..],
                        new,
                        sealed.key_id,
                        sealed.blob,
                        expires_at,
                        old
                    ]),
            }
            .map_err(sql_error)?;
            Ok(if changed == 1 {
                Commit::Committed(version)
            } else {
                Commit::Conflict
            })
        })
        .await
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
        let now = millis_i64(now);
        self.call(move |conn, _| {
            // One transaction: the windows of one call move together.
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(sql_error)?;
            let mut after = Vec::with_capacity(bumps.len());
            {
                let mut stmt = tx
                    .prepare_cached(
                        "INSERT INTO mfa_rate_windows (id, count, resets_at) VALUES (?1, ?2, ?3 + ?4) \
                         ON CONFLICT (id) DO UPDATE SET \
                         count = CASE WHEN ?3 >= resets_at THEN excluded.count ELSE count + excluded.count END, \
                         resets_at = CASE WHEN ?3 >= resets_at THEN excluded.resets_at ELSE resets_at END \
                         RETURNING count, resets_at",
                    )
                    .map_err(sql_error)?;
                for b in &bumps {
                    after.push(
                        stmt.query_row(
                            params![&b.id[..], i64::from(b.hits), now, b.window_ms],
                            |r| Ok((r.get(0)?, r.get(1)?)),
                        )
                        .map_err(sql_error)?,
                    );
                }
            }
            tx.commit().map_err(sql_error)?;
            windows::spread(&bumps, &places, &after)
        })
        .await
    }

    async fn purge(&self, now: Timestamp) -> Result<u64, StoreError> {
        let now = millis_i64(now);
        self.call(move |conn, _| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(sql_error)?;
            let records = tx
                .execute(
                    "DELETE FROM mfa_user_records WHERE expires_at IS NOT NULL AND expires_at <= ?1",
                    [now],
                )
                .map_err(sql_error)?;
            let windows = tx
                .execute("DELETE FROM mfa_rate_windows WHERE resets_at <= ?1", [now])
                .map_err(sql_error)?;
            tx.commit().map_err(sql_error)?;
            Ok((records + windows) as u64)
        })
        .await
    }
}
