//! Protection at rest, read back with raw SQL and raw Redis commands:
//!
//! - after committing a record with phone numbers, an app secret, recovery-code and
//!   proof hashes (and a rate window keyed by the number), no row or key holds the
//!   number, the secret, a hash or the user id, in any form it could be written;
//! - rotating the sealing key keeps every record readable, and new commits seal with
//!   the new key;
//! - a row moved to another user's id, or an older version's bytes put back under the
//!   current version, fail to open with a typed corrupt error, never a panic; so do
//!   garbage and truncated bytes.
#![cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod support;

use async_trait::async_trait;
use mfa_core::code::{CodeHash, SecretBytes};
use mfa_core::record::{ProofRecord, ProofSource, RecoveryCodeRecord};
use mfa_core::{
    AppCredential, Commit, Extension, Method, MethodId, MethodRecord, MethodStatus, PhoneMode,
    PhoneNumber, Randomness, Store, StoreErrorKind, UserId, UserRecord, WindowHit,
};
use mfa_store::{Keyring, SecretKey};
use support::*;

/// A stored row as the tests move it around: version, key id, sealed bytes.
type Row = (i64, String, Vec<u8>);

/// Raw access to a store's data, bypassing the store.
#[async_trait]
trait Raw: Send + Sync {
    /// Every row (or key and value) the test may have written, as bytes.
    async fn dump(&self) -> Vec<u8>;
    /// The row with this id.
    async fn row(&self, id: &[u8; 32]) -> Row;
    /// Overwrites (or creates) the row with this id.
    async fn put(&self, id: &[u8; 32], row: Row);
}

fn random_bytes(n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    mfa_core::OsRandomness.fill(&mut b);
    b
}

/// A random Norwegian mobile number, so a chance match is negligible.
fn random_number() -> PhoneNumber {
    let b = random_bytes(4);
    let n = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) % 10_000_000;
    PhoneNumber::from_parts(47, &format!("4{n:07}")).unwrap()
}

/// What must never be found in the raw data, in every form it could be written.
struct Secrets {
    patterns: Vec<(&'static str, Vec<u8>)>,
}

impl Secrets {
    fn add_bytes(&mut self, what: &'static str, bytes: &[u8]) {
        self.patterns.push((what, bytes.to_vec()));
        self.patterns.push((what, hex(bytes).into_bytes()));
        self.patterns
            .push((what, hex(bytes).to_uppercase().into_bytes()));
    }
}

/// A record holding a phone number, an office number, an app secret, recovery-code
/// and proof hashes, and the things that must not be seen in clear.
fn secret_record(user: &UserId) -> (UserRecord, Secrets) {
    let (mobile, office) = (random_number(), random_number());
    let secret = random_bytes(20);
    let token_secret = random_bytes(20);
    let hashes: Vec<[u8; 32]> = (0..4)
        .map(|_| random_bytes(32).try_into().unwrap())
        .collect();
    let mailbox = format!("kari.{}", hex(&random_bytes(6)));
    let address = mfa_core::EmailAddress::parse(&format!("{mailbox}@example.no")).unwrap();
    let method = |method, app| MethodRecord {
        id: MethodId::generate(&mfa_core::OsRandomness),
        method,
        status: MethodStatus::Active,
        is_default: false,
        created_at: now(),
        app,
        replaces: None,
        app_step: None,
        name: None,
        passkey: None,
        token_drift: 0,
    };
    let record = UserRecord {
        methods: vec![
            method(
                Method::AuthenticationPhone {
                    number: mobile.clone(),
                    mode: PhoneMode::Sms,
                },
                None,
            ),
            method(
                Method::OfficePhone {
                    number: office.clone(),
                    extension: Some(Extension::parse("4321").unwrap()),
                },
                None,
            ),
            method(
                Method::AuthenticatorApp,
                Some(AppCredential {
                    secret: SecretBytes::new(secret.clone()),
                    parameters: "totp".to_owned(),
                }),
            ),
            method(
                Method::Email {
                    address: address.clone(),
                },
                None,
            ),
            method(
                Method::HardwareToken {
                    serial: mfa_core::TokenSerial::parse("OATH0001").unwrap(),
                },
                Some(AppCredential {
                    secret: SecretBytes::new(token_secret.clone()),
                    parameters: "HOTP:SHA1:6:0".to_owned(),
                }),
            ),
        ],
        recovery_codes: hashes[..2]
            .iter()
            .map(|h| RecoveryCodeRecord {
                hash: CodeHash(*h),
                used_at: None,
            })
            .collect(),
        proofs: vec![ProofRecord {
            hash: CodeHash(hashes[2]),
            source: ProofSource::RecoveryCode,
            expires_at: now(),
        }],
        updated_at: now(),
        access_passes: vec![mfa_core::access_pass::AccessPassRecord {
            id: mfa_core::AccessPassId::generate(&mfa_core::OsRandomness),
            hash: CodeHash(hashes[3]),
            issued_at: now(),
            expires_at: now() + std::time::Duration::from_secs(3600),
            max_uses: 1,
            uses_left: 1,
            last_used_at: None,
            revoked_at: None,
        }],
        ..UserRecord::default()
    };
    let mut secrets = Secrets {
        patterns: Vec::new(),
    };
    for n in [&mobile, &office] {
        secrets
            .patterns
            .push(("an e164 number", n.e164().as_bytes().to_vec()));
        secrets
            .patterns
            .push(("a number's digits", n.e164().as_bytes()[1..].to_vec()));
    }
    secrets.add_bytes("the app secret", &secret);
    secrets.add_bytes("the email address's mailbox", mailbox.as_bytes());
    secrets.add_bytes("the hardware token's secret", &token_secret);
    for h in &hashes {
        secrets.add_bytes("a hash", h);
    }
    secrets.add_bytes("the user id", user.as_str().as_bytes());
    (record, secrets)
}

fn assert_clean(dump: &[u8], secrets: &Secrets, must_contain: &[u8]) {
    assert!(
        dump.windows(must_contain.len()).any(|w| w == must_contain),
        "the dump misses {:?}: it did not read the data",
        String::from_utf8_lossy(must_contain)
    );
    for (what, p) in &secrets.patterns {
        assert!(
            !dump.windows(p.len()).any(|w| w == p.as_slice()),
            "{what} found in clear"
        );
    }
}

fn rotated_keys() -> Keyring {
    Keyring::new(index_key(), SecretKey::new("test-2", [43; 32]).unwrap())
        .with_previous(SecretKey::new("test-1", [42; 32]).unwrap())
        .unwrap()
}

fn only_new_key() -> Keyring {
    Keyring::new(index_key(), SecretKey::new("test-2", [43; 32]).unwrap())
}

async fn commit_new(store: &dyn Store, user: &UserId, record: &UserRecord) {
    assert_eq!(
        store.commit(user, None, record.clone()).await.unwrap(),
        Commit::Committed(1)
    );
}

/// Nothing of the record (nor the window keyed by its number) in clear.
async fn check_clean(store: &dyn Store, raw: &dyn Raw) {
    let user = fresh_user("at-rest");
    let (record, secrets) = secret_record(&user);
    commit_new(store, &user, &record).await;
    let window = format!("destination:{}", secrets.patterns[0].1.escape_ascii());
    store
        .hit(
            &[WindowHit {
                key: &window,
                window: std::time::Duration::from_secs(3600),
            }],
            now(),
        )
        .await
        .unwrap();
    assert_eq!(store.load(&user).await.unwrap().unwrap().record, record);
    let (key, token, token_secrets) = inventory_token(&user);
    commit_new(store, &key, &token).await;
    assert_eq!(store.load(&key).await.unwrap().unwrap().record, token);
    let mut secrets = secrets;
    secrets.patterns.extend(token_secrets.patterns);
    assert_clean(&raw.dump().await, &secrets, b"test-1");
}

/// An inventory token's record (its secret, its serial and its holder), under its
/// reserved key.
fn inventory_token(holder: &UserId) -> (UserId, UserRecord, Secrets) {
    use mfa_core::inventory::{Assignment, InventoryRecord, OathKind, StoredToken, token_key};
    let secret = random_bytes(20);
    let serial = mfa_core::TokenSerial::parse(&format!("INV{}", hex(&random_bytes(6)))).unwrap();
    let record = UserRecord {
        inventory: Some(InventoryRecord::Token(StoredToken {
            serial: serial.clone(),
            kind: OathKind::Totp,
            credential: Some(AppCredential {
                secret: SecretBytes::new(secret.clone()),
                parameters: "TOTP:SHA1:6:30".to_owned(),
            }),
            imported_at: now(),
            assigned: Some(Assignment {
                user: holder.clone(),
                at: now(),
            }),
            retired_at: None,
        })),
        updated_at: now(),
        ..UserRecord::default()
    };
    let mut secrets = Secrets {
        patterns: Vec::new(),
    };
    secrets.add_bytes("the inventory token's secret", &secret);
    secrets.add_bytes("the inventory token's serial", serial.as_str().as_bytes());
    secrets.add_bytes("the inventory token's holder", holder.as_str().as_bytes());
    (token_key(&serial), record, secrets)
}

/// Old keys open, new commits seal with the current key, rows keep their ids.
async fn check_rotation<S: Store>(open: impl AsyncFn(Keyring) -> S, raw: &dyn Raw) {
    let user = fresh_user("rotate");
    let (record, _) = secret_record(&user);
    commit_new(&open(keys()).await, &user, &record).await;
    let id = keys().user_index(&user);
    assert_eq!(raw.row(&id).await.1, "test-1");

    // Without the old key the record does not open: a typed error.
    let err = open(only_new_key()).await.load(&user).await.unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Corrupt);
    assert!(err.to_string().contains("test-1"), "{err}");

    let rotated = open(rotated_keys()).await;
    let loaded = rotated.load(&user).await.unwrap().unwrap();
    assert_eq!(loaded.record, record);
    assert_eq!(
        rotated
            .commit(&user, Some(1), loaded.record.clone())
            .await
            .unwrap(),
        Commit::Committed(2)
    );
    assert_eq!(raw.row(&id).await.1, "test-2", "sealed with the new key");
    assert_eq!(
        open(only_new_key())
            .await
            .load(&user)
            .await
            .unwrap()
            .unwrap()
            .record,
        record
    );
}

/// Moved rows, stale bytes, garbage: typed corrupt errors.
async fn check_tampering(store: &dyn Store, raw: &dyn Raw) {
    let corrupt = async |user: &UserId| {
        let err = store.load(user).await.unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::Corrupt, "{err}");
        assert!(!err.to_string().contains(user.as_str()), "{err}");
    };
    let ring = keys();
    let (kari, ola) = (fresh_user("kari"), fresh_user("ola"));
    let (record, _) = secret_record(&kari);
    commit_new(store, &kari, &record).await;
    commit_new(store, &ola, &UserRecord::default()).await;

    // Kari's row under Ola's id.
    let karis = raw.row(&ring.user_index(&kari)).await;
    raw.put(&ring.user_index(&ola), karis.clone()).await;
    corrupt(&ola).await;

    // Version 1's bytes put back under version 2.
    let mut changed = record.clone();
    changed.failures.count = 1;
    assert_eq!(
        store.commit(&kari, Some(1), changed.clone()).await.unwrap(),
        Commit::Committed(2)
    );
    let (version, key_id, _) = raw.row(&ring.user_index(&kari)).await;
    assert_eq!(version, 2);
    raw.put(
        &ring.user_index(&kari),
        (2, key_id.clone(), karis.2.clone()),
    )
    .await;
    corrupt(&kari).await;

    // Garbage, truncated and empty bytes.
    for bytes in [random_bytes(200), karis.2[..20].to_vec(), Vec::new()] {
        raw.put(&ring.user_index(&kari), (2, key_id.clone(), bytes))
            .await;
        corrupt(&kari).await;
    }
    // An unknown key id.
    raw.put(
        &ring.user_index(&kari),
        (1, "gone".to_owned(), karis.2.clone()),
    )
    .await;
    corrupt(&kari).await;
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use super::*;
    use mfa_store::SqliteStore;
    use std::path::PathBuf;

    fn db_path(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("mfa-at-rest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        path
    }

    struct RawSqlite(PathBuf);

    impl RawSqlite {
        fn conn(&self) -> rusqlite::Connection {
            rusqlite::Connection::open(&self.0).unwrap()
        }
    }

    #[async_trait]
    impl Raw for RawSqlite {
        async fn dump(&self) -> Vec<u8> {
            let conn = self.conn();
            // Every table, every column, as SQLite stores it; and the file itself.
            let tables: Vec<String> = conn
                .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            let mut out = Vec::new();
            for t in tables {
                let mut stmt = conn.prepare(&format!("SELECT * FROM \"{t}\"")).unwrap();
                let n = stmt.column_count();
                let mut rows = stmt.query([]).unwrap();
                while let Some(row) = rows.next().unwrap() {
                    for i in 0..n {
                        match row.get_ref(i).unwrap() {
                            rusqlite::types::ValueRef::Text(b)
                            | rusqlite::types::ValueRef::Blob(b) => out.extend_from_slice(b),
                            other => out.extend_from_slice(format!("{other:?}").as_bytes()),
                        }
                        out.push(b'|');
                    }
                }
            }
            drop(conn);
            for suffix in ["", "-wal"] {
                if let Ok(file) = std::fs::read(format!("{}{suffix}", self.0.display())) {
                    out.extend_from_slice(&file);
                }
            }
            out
        }

        async fn row(&self, id: &[u8; 32]) -> Row {
            self.conn()
                .query_row(
                    "SELECT version, key_id, sealed FROM mfa_user_records WHERE id = ?1",
                    [&id[..]],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .unwrap()
        }

        async fn put(&self, id: &[u8; 32], (version, key_id, sealed): Row) {
            self.conn()
                .execute(
                    "INSERT INTO mfa_user_records (id, version, key_id, sealed) VALUES (?1, ?2, ?3, ?4) \
                     ON CONFLICT (id) DO UPDATE SET version = ?2, key_id = ?3, sealed = ?4",
                    rusqlite::params![&id[..], version, key_id, sealed],
                )
                .unwrap();
        }
    }

    #[tokio::test]
    async fn sqlite_rows_hold_nothing_in_clear() {
        let path = db_path("clean.db");
        let store = SqliteStore::open(&path, keys()).unwrap();
        check_clean(&store, &RawSqlite(path)).await;
    }

    #[tokio::test]
    async fn sqlite_rotation_keeps_records_readable() {
        let path = db_path("rotate.db");
        let open = async |keys| SqliteStore::open(&path, keys).unwrap();
        check_rotation(open, &RawSqlite(path.clone())).await;
    }

    /// The count of records per key tells when the old key can go.
    #[tokio::test]
    async fn sqlite_counts_records_per_key() {
        let path = db_path("per-key.db");
        let user = fresh_user("per-key");
        let old = SqliteStore::open(&path, keys()).unwrap();
        commit_new(&old, &user, &UserRecord::default()).await;
        commit_new(&old, &fresh_user("per-key"), &UserRecord::default()).await;
        assert_eq!(
            old.records_by_key().await.unwrap(),
            [("test-1".to_owned(), 2)]
        );
        let new = SqliteStore::open(&path, rotated_keys()).unwrap();
        let loaded = new.load(&user).await.unwrap().unwrap();
        new.commit(&user, Some(1), loaded.record.clone())
            .await
            .unwrap();
        assert_eq!(
            new.records_by_key().await.unwrap(),
            [("test-1".to_owned(), 1), ("test-2".to_owned(), 1)]
        );
    }

    #[tokio::test]
    async fn sqlite_moved_or_stale_rows_fail_to_open() {
        let path = db_path("tamper.db");
        let store = SqliteStore::open(&path, keys()).unwrap();
        check_tampering(&store, &RawSqlite(path)).await;
    }
}

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;
    use mfa_store::PostgresStore;

    fn url() -> String {
        std::env::var("MFA_TEST_POSTGRES_URL").expect(
            "MFA_TEST_POSTGRES_URL is not set: run scripts/test.sh, which starts PostgreSQL",
        )
    }

    struct RawPostgres(tokio_postgres::Client);

    async fn raw() -> RawPostgres {
        let client = support::postgres_client(&url()).await;
        RawPostgres(client)
    }

    #[async_trait]
    impl Raw for RawPostgres {
        async fn dump(&self) -> Vec<u8> {
            // Every row of the v2 tables as PostgreSQL prints it (bytea as hex), and
            // the raw bytes of each column.
            let mut out = Vec::new();
            for table in ["mfa_user_records", "mfa_rate_windows"] {
                for row in self
                    .0
                    .query(&format!("SELECT t::text FROM {table} t"), &[])
                    .await
                    .unwrap()
                {
                    out.extend_from_slice(row.get::<_, &str>(0).as_bytes());
                }
            }
            for row in self
                .0
                .query("SELECT id, sealed FROM mfa_user_records", &[])
                .await
                .unwrap()
            {
                out.extend_from_slice(row.get(0));
                out.extend_from_slice(row.get(1));
            }
            out
        }

        async fn row(&self, id: &[u8; 32]) -> Row {
            let r = self
                .0
                .query_one(
                    "SELECT version, key_id, sealed FROM mfa_user_records WHERE id = $1",
                    &[&&id[..]],
                )
                .await
                .unwrap();
            (r.get(0), r.get(1), r.get(2))
        }

        async fn put(&self, id: &[u8; 32], (version, key_id, sealed): Row) {
            self.0
                .execute(
                    "INSERT INTO mfa_user_records (id, version, key_id, sealed) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (id) DO UPDATE SET version = $2, key_id = $3, sealed = $4",
                    &[&&id[..], &version, &key_id, &sealed],
                )
                .await
                .unwrap();
        }
    }

    #[tokio::test]
    #[ignore = "needs PostgreSQL: run bash scripts/test.sh"]
    async fn postgres_rows_hold_nothing_in_clear() {
        let store = PostgresStore::connect(&url(), keys()).await.unwrap();
        check_clean(&store, &raw().await).await;
    }

    #[tokio::test]
    #[ignore = "needs PostgreSQL: run bash scripts/test.sh"]
    async fn postgres_rotation_keeps_records_readable() {
        let open = async |keys| PostgresStore::connect(&url(), keys).await.unwrap();
        check_rotation(open, &raw().await).await;
    }

    #[tokio::test]
    #[ignore = "needs PostgreSQL: run bash scripts/test.sh"]
    async fn postgres_moved_or_stale_rows_fail_to_open() {
        let store = PostgresStore::connect(&url(), keys()).await.unwrap();
        check_tampering(&store, &raw().await).await;
    }
}

#[cfg(feature = "redis")]
mod redis_store {
    use super::*;
    use mfa_store::RedisStore;
    use mfa_store::redis::RedisOptions;

    fn url() -> String {
        std::env::var("MFA_TEST_REDIS_URL")
            .expect("MFA_TEST_REDIS_URL is not set: run scripts/test.sh, which starts Redis")
    }

    /// A prefix of the test's own, so the dump reads only what it wrote.
    fn options() -> RedisOptions {
        RedisOptions {
            prefix: format!("at-rest-{}:", hex(&random_bytes(4))),
            ..RedisOptions::default()
        }
    }

    struct RawRedis {
        conn: ::redis::aio::MultiplexedConnection,
        prefix: String,
    }

    async fn raw(options: &RedisOptions) -> RawRedis {
        RawRedis {
            conn: ::redis::Client::open(url())
                .unwrap()
                .get_multiplexed_async_connection()
                .await
                .unwrap(),
            prefix: options.prefix.clone(),
        }
    }

    impl RawRedis {
        fn key(&self, id: &[u8; 32]) -> String {
            format!("{}{{{}}}", self.prefix, hex(id))
        }
    }

    #[async_trait]
    impl Raw for RawRedis {
        async fn dump(&self) -> Vec<u8> {
            let mut conn = self.conn.clone();
            let keys: Vec<Vec<u8>> = ::redis::cmd("KEYS")
                .arg(format!("{}*", self.prefix))
                .query_async(&mut conn)
                .await
                .unwrap();
            assert!(keys.len() >= 2, "a record and a window");
            let mut out = Vec::new();
            for key in keys {
                let fields: Vec<Vec<u8>> = ::redis::cmd("HGETALL")
                    .arg(&key)
                    .query_async(&mut conn)
                    .await
                    .unwrap_or_default();
                out.extend_from_slice(&key);
                for f in fields {
                    out.push(b'|');
                    out.extend_from_slice(&f);
                }
                out.push(b'\n');
            }
            out
        }

        async fn row(&self, id: &[u8; 32]) -> Row {
            let (v, k, s): (i64, String, Vec<u8>) = ::redis::cmd("HMGET")
                .arg(self.key(id))
                .arg("v")
                .arg("k")
                .arg("s")
                .query_async(&mut self.conn.clone())
                .await
                .unwrap();
            (v, k, s)
        }

        async fn put(&self, id: &[u8; 32], (version, key_id, sealed): Row) {
            let _: () = ::redis::cmd("HSET")
                .arg(self.key(id))
                .arg("v")
                .arg(version)
                .arg("k")
                .arg(key_id)
                .arg("s")
                .arg(sealed)
                .query_async(&mut self.conn.clone())
                .await
                .unwrap();
        }
    }

    #[tokio::test]
    #[ignore = "needs Redis: run bash scripts/test.sh"]
    async fn redis_keys_hold_nothing_in_clear() {
        let options = options();
        let store = RedisStore::connect_with(&url(), keys(), options.clone())
            .await
            .unwrap();
        check_clean(&store, &raw(&options).await).await;
    }

    #[tokio::test]
    #[ignore = "needs Redis: run bash scripts/test.sh"]
    async fn redis_rotation_keeps_records_readable() {
        let options = options();
        let open = async |keys| {
            RedisStore::connect_with(&url(), keys, options.clone())
                .await
                .unwrap()
        };
        check_rotation(open, &raw(&options).await).await;
    }

    #[tokio::test]
    #[ignore = "needs Redis: run bash scripts/test.sh"]
    async fn redis_moved_or_stale_rows_fail_to_open() {
        let options = options();
        let store = RedisStore::connect_with(&url(), keys(), options.clone())
            .await
            .unwrap();
        check_tampering(&store, &raw(&options).await).await;
    }
}
