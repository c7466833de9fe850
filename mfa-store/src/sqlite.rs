//! The embedded store: SQLite in a file or in memory.
//!
//! Every change is one `BEGIN IMMEDIATE` transaction, so it is atomic against other
//! connections and other processes sharing the file; reads are deferred transactions. The blocking SQLite calls run on
//! Tokio's blocking pool.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use mfa_core::store::{Failures, RecordedFailure, Removal, Store, WindowCount};
use mfa_core::{
    Challenge, ChallengeId, ChallengeStatus, CodeHash, MethodId, MethodRecord, StoreError,
    Timestamp, UserId,
};
use rusqlite::{Connection, OptionalExtension, Row, Transaction, TransactionBehavior, params};

use crate::codec::{self, Slot, StoredMethod};
use crate::keys::Keyring;

const MIGRATIONS: &[(i64, &str, &str)] = &[(
    1,
    "init",
    include_str!("../migrations/sqlite/0001_init.sql"),
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
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            StoreError::unavailable(format!("sqlite: {e}"))
        }
        Some(
            rusqlite::ErrorCode::CannotOpen
            | rusqlite::ErrorCode::DiskFull
            | rusqlite::ErrorCode::SystemIoFailure,
        ) => StoreError::unavailable(format!("sqlite: {e}")),
        Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase) => {
            StoreError::corrupt(format!("sqlite: {e}"))
        }
        _ => StoreError::new(mfa_core::StoreErrorKind::Other, format!("sqlite: {e}")),
    }
}

impl SqliteStore {
    /// Opens (or creates) the database file at `path` and applies the migrations.
    /// An operation waits up to 5 s for another process's lock before failing as
    /// unavailable.
    pub fn open(path: impl AsRef<Path>, keys: Keyring) -> Result<Self, StoreError> {
        Self::open_with(path, keys, Duration::from_secs(5))
    }

    /// [`SqliteStore::open`] waiting at most `busy_timeout` for another process's lock.
    pub fn open_with(
        path: impl AsRef<Path>,
        keys: Keyring,
        busy_timeout: Duration,
    ) -> Result<Self, StoreError> {
        let conn = Connection::open(path).map_err(sql_error)?;
        conn.busy_timeout(busy_timeout).map_err(sql_error)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(sql_error)?;
        Self::with_connection(conn, keys)
    }

    /// A private database in memory, gone when the last clone is dropped.
    pub fn in_memory(keys: Keyring) -> Result<Self, StoreError> {
        let conn = Connection::open_in_memory().map_err(sql_error)?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(sql_error)?;
        Self::with_connection(conn, keys)
    }

    fn with_connection(mut conn: Connection, keys: Keyring) -> Result<Self, StoreError> {
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(sql_error)?;
        migrate(&mut conn)?;
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
            keys: Arc::new(keys),
        })
    }

    /// The schema version in force (the last migration applied).
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        self.read(|tx, _| {
            tx.query_row(
                "SELECT COALESCE(MAX(version), 0) FROM mfa_schema_migrations",
                [],
                |r| r.get(0),
            )
            .map_err(sql_error)
        })
        .await
    }

    /// Re-seals every app secret not under the keyring's current key; returns how many.
    pub async fn rotate_keys(&self) -> Result<usize, StoreError> {
        self.run(|tx, keys| {
            let rows: Vec<(String, String, Vec<u8>, String)> = {
                let mut stmt = tx
                    .prepare(
                        "SELECT user_id, id, app_secret, app_key_id FROM mfa_methods \
                         WHERE app_secret IS NOT NULL AND app_key_id <> ?1",
                    )
                    .map_err(sql_error)?;
                let rows = stmt
                    .query_map([keys.current_id()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                    .map_err(sql_error)?;
                rows.collect::<Result<_, _>>().map_err(sql_error)?
            };
            for (user, id, blob, key_id) in &rows {
                let context = crate::keys::secret_context(user, id);
                let secret = keys.open(key_id, &context, blob)?;
                let sealed = keys.seal(&context, secret.expose())?;
                tx.execute(
                    "UPDATE mfa_methods SET app_secret = ?1, app_key_id = ?2 WHERE user_id = ?3 AND id = ?4",
                    params![sealed.blob, sealed.key_id, user, id],
                )
                .map_err(sql_error)?;
            }
            Ok(rows.len())
        })
        .await
    }

    /// Deletes challenges that expired before `before` and windows that closed before it.
    pub async fn purge_expired(&self, before: Timestamp) -> Result<usize, StoreError> {
        let t = codec::millis(before);
        self.run(move |tx, _| {
            let a = tx
                .execute(
                    "DELETE FROM mfa_challenges WHERE expires_at < ?1 AND status <> 'approved'",
                    [t],
                )
                .map_err(sql_error)?;
            let b = tx
                .execute("DELETE FROM mfa_windows WHERE resets_at < ?1", [t])
                .map_err(sql_error)?;
            Ok(a + b)
        })
        .await
    }

    fn lock(conn: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
        match conn.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Runs `f` in one immediate transaction (the write lock taken at the start) on the
    /// blocking pool.
    async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>, &Keyring) -> Result<T, StoreError> + Send + 'static,
    {
        self.transaction(TransactionBehavior::Immediate, f).await
    }

    /// Runs a read-only `f` in a deferred transaction: other processes keep writing.
    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>, &Keyring) -> Result<T, StoreError> + Send + 'static,
    {
        self.transaction(TransactionBehavior::Deferred, f).await
    }

    async fn transaction<T, F>(&self, behavior: TransactionBehavior, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>, &Keyring) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        let keys = Arc::clone(&self.keys);
        tokio::task::spawn_blocking(move || {
            let mut conn = Self::lock(&conn);
            let tx = conn
                .transaction_with_behavior(behavior)
                .map_err(sql_error)?;
            let out = f(&tx, &keys)?;
            tx.commit().map_err(sql_error)?;
            Ok(out)
        })
        .await
        .map_err(|_| StoreError::unavailable("the sqlite task did not finish"))?
    }
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
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
        )));
    }
    for (version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        tx.execute_batch(sql).map_err(sql_error)?;
        tx.execute(
            "INSERT INTO mfa_schema_migrations (version, name) VALUES (?1, ?2)",
            params![version, name],
        )
        .map_err(sql_error)?;
    }
    tx.commit().map_err(sql_error)
}

const METHOD_COLUMNS: &str = "id, kind, number, mode, extension, status, is_default, created_at, \
                              app_secret, app_key_id, app_parameters, replaces";

fn stored_method(r: &Row<'_>) -> rusqlite::Result<StoredMethod> {
    Ok(StoredMethod {
        id: r.get(0)?,
        kind: r.get(1)?,
        number: r.get(2)?,
        mode: r.get(3)?,
        extension: r.get(4)?,
        status: r.get(5)?,
        is_default: r.get(6)?,
        created_at: r.get(7)?,
        app_secret: r.get(8)?,
        app_key_id: r.get(9)?,
        app_parameters: r.get(10)?,
        replaces: r.get(11)?,
    })
}

fn load_methods(tx: &Transaction<'_>, user: &str) -> Result<Vec<StoredMethod>, StoreError> {
    let mut stmt = tx
        .prepare_cached(&format!(
            "SELECT {METHOD_COLUMNS} FROM mfa_methods WHERE user_id = ?1 ORDER BY seq"
        ))
        .map_err(sql_error)?;
    let rows = stmt.query_map([user], stored_method).map_err(sql_error)?;
    rows.collect::<Result<_, _>>().map_err(sql_error)
}

fn slots(tx: &Transaction<'_>, user: &str) -> Result<Vec<Slot>, StoreError> {
    load_methods(tx, user)?
        .into_iter()
        .map(|m| {
            Ok(Slot {
                status: codec::status_of(&m.status)?,
                id: m.id,
                is_default: m.is_default,
                replaces: m.replaces,
            })
        })
        .collect()
}

/// Applies the rule `f` to the user's method list and writes back what changed.
fn change_methods<T>(
    tx: &Transaction<'_>,
    user: &str,
    f: impl FnOnce(&mut Vec<Slot>) -> T,
) -> Result<T, StoreError> {
    let before = slots(tx, user)?;
    let mut after = before.clone();
    let out = f(&mut after);
    let changes = codec::diff(&before, &after);
    for id in &changes.removed {
        tx.execute(
            "DELETE FROM mfa_methods WHERE user_id = ?1 AND id = ?2",
            params![user, id],
        )
        .map_err(sql_error)?;
        tx.execute(
            "DELETE FROM mfa_app_steps WHERE user_id = ?1 AND method_id = ?2",
            params![user, id],
        )
        .map_err(sql_error)?;
    }
    for s in &changes.updated {
        tx.execute(
            "UPDATE mfa_methods SET status = ?1, is_default = ?2, replaces = ?3 WHERE user_id = ?4 AND id = ?5",
            params![codec::status_str(s.status), s.is_default, s.replaces, user, s.id],
        )
        .map_err(sql_error)?;
    }
    Ok(out)
}

const CHALLENGE_COLUMNS: &str = "id, user_id, method_id, purpose, status, answer, code_hash, generation, attempts, \
                                 max_attempts, sends, created_at, expires_at, last_sent_at, approved_at";

fn challenge_row(r: &Row<'_>) -> rusqlite::Result<Result<Challenge, StoreError>> {
    let id: String = r.get(0)?;
    let user: String = r.get(1)?;
    let method: String = r.get(2)?;
    let purpose: String = r.get(3)?;
    let status: String = r.get(4)?;
    let answer: String = r.get(5)?;
    let hash: Option<Vec<u8>> = r.get(6)?;
    let ints: [i64; 6] = [
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
        r.get(10)?,
        r.get(11)?,
        r.get(12)?,
    ];
    let last_sent: Option<i64> = r.get(13)?;
    let approved: Option<i64> = r.get(14)?;
    Ok((|| {
        Ok(Challenge {
            id: ChallengeId::parse(&id)
                .map_err(|_| StoreError::corrupt("a stored challenge id does not parse"))?,
            user: codec::user_id(&user)?,
            method_id: codec::method_id(&method)?,
            purpose: codec::purpose_of(&purpose)?,
            status: codec::challenge_status_of(&status)?,
            answer: codec::answer_of(&answer, hash.as_deref())?,
            generation: codec::u32_of(ints[0], "generation")?,
            attempts: codec::u32_of(ints[1], "attempts")?,
            max_attempts: codec::u32_of(ints[2], "max_attempts")?,
            sends: codec::u32_of(ints[3], "sends")?,
            created_at: codec::timestamp(ints[4])?,
            expires_at: codec::timestamp(ints[5])?,
            last_sent_at: last_sent.map(codec::timestamp).transpose()?,
            approved_at: approved.map(codec::timestamp).transpose()?,
        })
    })())
}

fn load_challenge(tx: &Transaction<'_>, id: &str) -> Result<Option<Challenge>, StoreError> {
    tx.prepare_cached(&format!(
        "SELECT {CHALLENGE_COLUMNS} FROM mfa_challenges WHERE id = ?1"
    ))
    .map_err(sql_error)?
    .query_row([id], challenge_row)
    .optional()
    .map_err(sql_error)?
    .transpose()
}

#[async_trait]
impl Store for SqliteStore {
    async fn methods(&self, user: &UserId) -> Result<Vec<MethodRecord>, StoreError> {
        let user = user.clone();
        self.read(move |tx, keys| {
            load_methods(tx, user.as_str())?
                .iter()
                .map(|m| codec::method_record(keys, &user, m))
                .collect()
        })
        .await
    }

    async fn insert_method(&self, user: &UserId, record: MethodRecord) -> Result<(), StoreError> {
        let row = codec::method_row(&self.keys, user, &record)?;
        let user = user.as_str().to_owned();
        self.run(move |tx, _| {
            tx.execute(
                &format!(
                    "INSERT INTO mfa_methods (user_id, {METHOD_COLUMNS}) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
                ),
                params![
                    user,
                    row.id,
                    row.kind,
                    row.number,
                    row.mode,
                    row.extension,
                    row.status,
                    row.is_default,
                    row.created_at,
                    row.app_secret,
                    row.app_key_id,
                    row.app_parameters,
                    row.replaces
                ],
            )
            .map_err(sql_error)?;
            Ok(())
        })
        .await
    }

    async fn activate_method(
        &self,
        user: &UserId,
        id: &MethodId,
        make_default: bool,
    ) -> Result<bool, StoreError> {
        let (user, id) = (user.as_str().to_owned(), id.as_str().to_owned());
        self.run(move |tx, _| change_methods(tx, &user, |l| codec::activate(l, &id, make_default)))
            .await
    }

    async fn remove_method(
        &self,
        user: &UserId,
        id: &MethodId,
        allow_last: bool,
    ) -> Result<Removal, StoreError> {
        let (user, id) = (user.as_str().to_owned(), id.as_str().to_owned());
        let outcome = self
            .run(move |tx, _| change_methods(tx, &user, |l| codec::remove(l, &id, allow_last)))
            .await?;
        Ok(codec::removal(outcome))
    }

    async fn set_default(&self, user: &UserId, id: &MethodId) -> Result<bool, StoreError> {
        let (user, id) = (user.as_str().to_owned(), id.as_str().to_owned());
        self.run(move |tx, _| change_methods(tx, &user, |l| codec::set_default(l, &id)))
            .await
    }

    async fn block_method(&self, user: &UserId, id: &MethodId) -> Result<bool, StoreError> {
        let (user, id) = (user.as_str().to_owned(), id.as_str().to_owned());
        self.run(move |tx, _| change_methods(tx, &user, |l| codec::block(l, &id)))
            .await
    }

    async fn remove_all_methods(&self, user: &UserId) -> Result<(), StoreError> {
        let user = user.as_str().to_owned();
        self.run(move |tx, _| {
            for table in ["mfa_methods", "mfa_app_steps", "mfa_recovery_codes"] {
                tx.execute(&format!("DELETE FROM {table} WHERE user_id = ?1"), [&user])
                    .map_err(sql_error)?;
            }
            Ok(())
        })
        .await
    }

    async fn app_step(&self, user: &UserId, id: &MethodId) -> Result<Option<u64>, StoreError> {
        let (user, id) = (user.as_str().to_owned(), id.as_str().to_owned());
        self.read(move |tx, _| {
            let step: Option<i64> = tx
                .query_row(
                    "SELECT step FROM mfa_app_steps WHERE user_id = ?1 AND method_id = ?2",
                    [&user, &id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(sql_error)?;
            Ok(step.map(codec::step_from_i64))
        })
        .await
    }

    async fn advance_app_step(
        &self,
        user: &UserId,
        id: &MethodId,
        step: u64,
    ) -> Result<bool, StoreError> {
        let (user, id) = (user.as_str().to_owned(), id.as_str().to_owned());
        let step = codec::step_to_i64(step);
        self.run(move |tx, _| {
            // One statement: insert, or move forward only when later.
            let moved = tx
                .execute(
                    "INSERT INTO mfa_app_steps (user_id, method_id, step) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (user_id, method_id) DO UPDATE SET step = excluded.step \
                     WHERE excluded.step > mfa_app_steps.step",
                    params![user, id, step],
                )
                .map_err(sql_error)?;
            Ok(moved == 1)
        })
        .await
    }

    async fn insert_challenge(&self, c: Challenge) -> Result<(), StoreError> {
        self.run(move |tx, _| {
            let (answer, hash) = codec::answer_parts(&c.answer);
            tx.execute(
                &format!(
                    "INSERT OR REPLACE INTO mfa_challenges ({CHALLENGE_COLUMNS}) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"
                ),
                params![
                    c.id.as_str(),
                    c.user.as_str(),
                    c.method_id.as_str(),
                    codec::purpose_str(c.purpose),
                    codec::challenge_status_str(c.status),
                    answer,
                    hash,
                    c.generation,
                    c.attempts,
                    c.max_attempts,
                    c.sends,
                    codec::millis(c.created_at),
                    codec::millis(c.expires_at),
                    c.last_sent_at.map(codec::millis),
                    c.approved_at.map(codec::millis)
                ],
            )
            .map_err(sql_error)?;
            Ok(())
        })
        .await
    }

    async fn challenge(&self, id: &ChallengeId) -> Result<Option<Challenge>, StoreError> {
        let id = id.as_str().to_owned();
        self.read(move |tx, _| load_challenge(tx, &id)).await
    }

    async fn record_failure(
        &self,
        id: &ChallengeId,
        now: Timestamp,
    ) -> Result<Option<RecordedFailure>, StoreError> {
        let id = id.as_str().to_owned();
        let now = codec::millis(now);
        self.run(move |tx, _| {
            let n = tx
                .execute(
                    "UPDATE mfa_challenges SET attempts = attempts + 1, \
                     status = CASE WHEN attempts + 1 >= max_attempts THEN 'locked' ELSE status END \
                     WHERE id = ?1 AND status = 'awaiting_code' AND ?2 < expires_at AND attempts < max_attempts",
                    params![id, now],
                )
                .map_err(sql_error)?;
            Ok(load_challenge(tx, &id)?.map(|challenge| RecordedFailure {
                challenge,
                counted: n == 1,
            }))
        })
        .await
    }

    async fn approve(
        &self,
        id: &ChallengeId,
        generation: u32,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let id = id.as_str().to_owned();
        let now = codec::millis(now);
        self.run(move |tx, _| {
            let n = tx
                .execute(
                    "UPDATE mfa_challenges SET status = 'approved', approved_at = ?3 \
                     WHERE id = ?1 AND status IN ('awaiting_code', 'awaiting_call') AND generation = ?2 \
                     AND ?3 < expires_at AND attempts < max_attempts",
                    params![id, generation, now],
                )
                .map_err(sql_error)?;
            Ok(n == 1)
        })
        .await
    }

    async fn replace_code(
        &self,
        id: &ChallengeId,
        generation: u32,
        hash: Option<CodeHash>,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let id = id.as_str().to_owned();
        let (now, expires_at) = (codec::millis(now), codec::millis(expires_at));
        let hash = hash.map(|h| h.0.to_vec());
        self.run(move |tx, _| {
            let n = tx
                .execute(
                    "UPDATE mfa_challenges SET generation = generation + 1, sends = sends + 1, \
                     expires_at = ?3, last_sent_at = ?4, \
                     code_hash = CASE WHEN ?5 IS NULL THEN code_hash ELSE ?5 END, \
                     answer = CASE WHEN ?5 IS NULL THEN answer ELSE 'sent_code' END \
                     WHERE id = ?1 AND status IN ('awaiting_code', 'awaiting_call') AND generation = ?2 \
                     AND ?4 < expires_at",
                    params![id, generation, expires_at, now, hash],
                )
                .map_err(sql_error)?;
            Ok(n == 1)
        })
        .await
    }

    async fn close_challenge(
        &self,
        id: &ChallengeId,
        from: &[ChallengeStatus],
        to: ChallengeStatus,
    ) -> Result<bool, StoreError> {
        if from.is_empty() {
            return Ok(false);
        }
        let id = id.as_str().to_owned();
        let from: Vec<&'static str> = from
            .iter()
            .map(|s| codec::challenge_status_str(*s))
            .collect();
        let to = codec::challenge_status_str(to);
        self.run(move |tx, _| {
            let placeholders: Vec<String> =
                (0..from.len()).map(|i| format!("?{}", i + 3)).collect();
            let sql = format!(
                "UPDATE mfa_challenges SET status = ?2 WHERE id = ?1 AND status IN ({})",
                placeholders.join(", ")
            );
            let mut args: Vec<&dyn rusqlite::ToSql> = vec![&id, &to];
            args.extend(from.iter().map(|s| s as &dyn rusqlite::ToSql));
            let n = tx.execute(&sql, args.as_slice()).map_err(sql_error)?;
            Ok(n == 1)
        })
        .await
    }

    async fn hit(
        &self,
        key: &str,
        window: Duration,
        now: Timestamp,
    ) -> Result<WindowCount, StoreError> {
        let key = key.to_owned();
        let resets = codec::millis(now + window);
        let now = codec::millis(now);
        self.run(move |tx, _| {
            let (count, resets_at): (i64, i64) = tx
                .query_row(
                    "INSERT INTO mfa_windows (key, count, resets_at) VALUES (?1, 1, ?3) \
                     ON CONFLICT (key) DO UPDATE SET \
                     count = CASE WHEN ?2 >= mfa_windows.resets_at THEN 1 ELSE mfa_windows.count + 1 END, \
                     resets_at = CASE WHEN ?2 >= mfa_windows.resets_at THEN ?3 ELSE mfa_windows.resets_at END \
                     RETURNING count, resets_at",
                    params![key, now, resets],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .map_err(sql_error)?;
            Ok(WindowCount {
                count: u32::try_from(count).unwrap_or(u32::MAX),
                resets_at: codec::timestamp(resets_at)?,
            })
        })
        .await
    }

    async fn record_user_failure(
        &self,
        user: &UserId,
        now: Timestamp,
    ) -> Result<Failures, StoreError> {
        let user = user.as_str().to_owned();
        let now = codec::millis(now);
        self.run(move |tx, _| {
            let (count, last): (i64, Option<i64>) = tx
                .query_row(
                    "INSERT INTO mfa_user_failures (user_id, count, last_at) VALUES (?1, 1, ?2) \
                     ON CONFLICT (user_id) DO UPDATE SET count = mfa_user_failures.count + 1, last_at = ?2 \
                     RETURNING count, last_at",
                    params![user, now],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .map_err(sql_error)?;
            Ok(Failures {
                count: u32::try_from(count).unwrap_or(u32::MAX),
                last_at: last.map(codec::timestamp).transpose()?,
            })
        })
        .await
    }

    async fn user_failures(&self, user: &UserId) -> Result<Failures, StoreError> {
        let user = user.as_str().to_owned();
        self.read(move |tx, _| {
            let row: Option<(i64, Option<i64>)> = tx
                .query_row(
                    "SELECT count, last_at FROM mfa_user_failures WHERE user_id = ?1",
                    [user],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(sql_error)?;
            match row {
                None => Ok(Failures::default()),
                Some((count, last)) => Ok(Failures {
                    count: u32::try_from(count).unwrap_or(u32::MAX),
                    last_at: last.map(codec::timestamp).transpose()?,
                }),
            }
        })
        .await
    }

    async fn clear_user_failures(&self, user: &UserId) -> Result<(), StoreError> {
        let user = user.as_str().to_owned();
        self.run(move |tx, _| {
            tx.execute("DELETE FROM mfa_user_failures WHERE user_id = ?1", [user])
                .map_err(sql_error)?;
            Ok(())
        })
        .await
    }

    async fn replace_recovery_codes(
        &self,
        user: &UserId,
        hashes: Vec<CodeHash>,
    ) -> Result<(), StoreError> {
        let user = user.as_str().to_owned();
        self.run(move |tx, _| {
            tx.execute("DELETE FROM mfa_recovery_codes WHERE user_id = ?1", [&user])
                .map_err(sql_error)?;
            for h in &hashes {
                tx.execute(
                    "INSERT INTO mfa_recovery_codes (user_id, hash) VALUES (?1, ?2)",
                    params![user, h.0.as_slice()],
                )
                .map_err(sql_error)?;
            }
            Ok(())
        })
        .await
    }

    async fn consume_recovery_code(
        &self,
        user: &UserId,
        hash: &CodeHash,
    ) -> Result<Option<usize>, StoreError> {
        let user = user.as_str().to_owned();
        let hash = hash.0.to_vec();
        self.run(move |tx, _| {
            let n = tx
                .execute(
                    "UPDATE mfa_recovery_codes SET used = 1 WHERE seq = (SELECT seq FROM mfa_recovery_codes \
                     WHERE user_id = ?1 AND hash = ?2 AND used = 0 LIMIT 1)",
                    params![user, hash],
                )
                .map_err(sql_error)?;
            if n == 0 {
                return Ok(None);
            }
            let left: i64 = tx
                .query_row(
                    "SELECT COUNT(*) FROM mfa_recovery_codes WHERE user_id = ?1 AND used = 0",
                    [user],
                    |r| r.get(0),
                )
                .map_err(sql_error)?;
            Ok(Some(usize::try_from(left).unwrap_or(0)))
        })
        .await
    }
}
