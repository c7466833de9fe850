//! Protection at rest: after a full journey (SMS enrollment, sign-ins, an authenticator
//! app, recovery codes, a live challenge), the raw rows and keys hold no TOTP secret,
//! no SMS code and no recovery code in clear; and key rotation re-seals secrets.
#![cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod support;

use std::sync::Arc;

use mfa_core::{MemoryDelivery, Method, MethodKind, Mfa, Store, StoreErrorKind, UserId};
use mfa_store::{Keyring, SecretKey};
use support::*;

/// What must never be found in the raw data, in every form it could be written.
struct Secrets {
    patterns: Vec<(String, Vec<u8>)>,
}

/// Runs the journey on `store`; returns the user and everything secret it produced.
async fn journey(store: Arc<dyn Store>) -> (UserId, Secrets) {
    let phone = MemoryDelivery::new();
    // Ten-digit codes: a chance match inside hex or a timestamp is then negligible.
    let mfa: Mfa = mfa(store, &phone, 10);
    let user = fresh_user("at-rest");
    let proof = enroll_sms(&mfa, &phone, &user).await;
    let secret = add_app(&mfa, &user, &proof, 4242).await;
    let recovery = mfa
        .regenerate_recovery_codes(&user, Some(&proof))
        .await
        .unwrap();
    // A live challenge whose code was sent but not used.
    mfa.challenge(&user).await.unwrap();

    let mut patterns = vec![
        ("app secret".to_owned(), secret.expose().to_vec()),
        (
            "app secret, hex".to_owned(),
            hex(secret.expose()).into_bytes(),
        ),
        (
            "app secret, HEX".to_owned(),
            hex(secret.expose()).to_uppercase().into_bytes(),
        ),
    ];
    for m in phone.sent() {
        let code = m.request.code().unwrap().expose().to_owned();
        patterns.push((format!("SMS code #{}", patterns.len()), code.into_bytes()));
    }
    assert!(phone.sent().len() >= 3, "enrollment, two sign-ins");
    for r in &recovery {
        let shown = r.expose();
        patterns.push(("recovery code".to_owned(), shown.clone().into_bytes()));
        patterns.push((
            "recovery code, bare".to_owned(),
            shown.replace('-', "").into_bytes(),
        ));
    }
    (user, Secrets { patterns })
}

fn assert_clean(dump: &[u8], secrets: &Secrets, must_contain: &[&str]) {
    for needle in must_contain {
        assert!(
            dump.windows(needle.len()).any(|w| w == needle.as_bytes()),
            "the dump misses {needle:?}: it did not read the data"
        );
    }
    for (what, p) in &secrets.patterns {
        assert!(
            !dump.windows(p.len()).any(|w| w == p.as_slice()),
            "{what} found in clear"
        );
    }
}

fn rotated_keys() -> Keyring {
    Keyring::new(SecretKey::new("test-2", [43; 32]).unwrap())
        .with_previous(SecretKey::new("test-1", [42; 32]).unwrap())
        .unwrap()
}

fn only_new_key() -> Keyring {
    Keyring::new(SecretKey::new("test-2", [43; 32]).unwrap())
}

async fn app_secret(store: &dyn Store, user: &UserId) -> Result<Vec<u8>, mfa_core::StoreError> {
    let methods = store.methods(user).await?;
    let app = methods
        .iter()
        .find(|m| m.method == Method::AuthenticatorApp)
        .unwrap();
    Ok(app.app.as_ref().unwrap().secret.expose().to_vec())
}

/// Enrolls an app under key `test-1`, rotates with `rotate`, then checks old and new keyrings.
async fn check_rotation<S: Store + Clone + 'static>(
    old: S,
    rotating: S,
    new_only: S,
    rotate: impl std::future::Future<Output = Result<usize, mfa_core::StoreError>>,
    user: &UserId,
) {
    let before = app_secret(&old, user).await.unwrap();
    assert_eq!(
        app_secret(&rotating, user).await.unwrap(),
        before,
        "the old key still opens"
    );
    assert!(
        matches!(app_secret(&new_only, user).await, Err(e) if e.kind() == StoreErrorKind::Corrupt),
        "without the old key the secret does not open: a typed error"
    );
    assert!(rotate.await.unwrap() >= 1);
    assert_eq!(
        app_secret(&new_only, user).await.unwrap(),
        before,
        "re-sealed under the new key"
    );
    assert!(matches!(app_secret(&old, user).await, Err(e) if e.kind() == StoreErrorKind::Corrupt));
    let methods = new_only.methods(user).await.unwrap();
    assert!(
        methods
            .iter()
            .any(|m| m.method.kind() == MethodKind::AuthenticationPhone)
    );
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use super::*;
    use mfa_store::SqliteStore;

    fn db_path(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("mfa-store-at-rest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    fn dump(path: &std::path::Path) -> Vec<u8> {
        let conn = rusqlite::Connection::open(path).unwrap();
        let tables: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let mut out = Vec::new();
        for t in tables {
            let mut stmt = conn.prepare(&format!("SELECT * FROM {t}")).unwrap();
            let n = stmt.column_count();
            let mut rows = stmt.query([]).unwrap();
            while let Some(row) = rows.next().unwrap() {
                for i in 0..n {
                    match row.get_ref(i).unwrap() {
                        rusqlite::types::ValueRef::Text(b) | rusqlite::types::ValueRef::Blob(b) => {
                            out.extend_from_slice(b)
                        }
                        rusqlite::types::ValueRef::Integer(v) => {
                            out.extend_from_slice(v.to_string().as_bytes())
                        }
                        _ => {}
                    }
                    out.push(0);
                }
            }
        }
        out
    }

    #[tokio::test]
    async fn sqlite_rows_hold_no_secret_or_code_in_clear() {
        let path = db_path("clear.db");
        let store = SqliteStore::open(&path, keys()).unwrap();
        let (user, secrets) = journey(Arc::new(store)).await;
        let raw = dump(&path);
        assert_clean(
            &raw,
            &secrets,
            &[user.as_str(), number(&user).e164(), "test-1"],
        );
        // The file itself, pages and write-ahead log included.
        let mut file = std::fs::read(&path).unwrap();
        if let Ok(wal) = std::fs::read(path.with_extension("db-wal")) {
            file.extend(wal);
        }
        assert_clean(&file, &secrets, &[user.as_str()]);
    }

    #[tokio::test]
    async fn sqlite_rotation_reseals_secrets_under_the_new_key() {
        let path = db_path("rotation.db");
        let old = SqliteStore::open(&path, keys()).unwrap();
        let (user, _) = journey(Arc::new(old.clone())).await;
        let rotating = SqliteStore::open(&path, rotated_keys()).unwrap();
        let new_only = SqliteStore::open(&path, only_new_key()).unwrap();
        check_rotation(
            old,
            rotating.clone(),
            new_only,
            rotating.rotate_keys(),
            &user,
        )
        .await;
        assert!(String::from_utf8_lossy(&dump(&path)).contains("test-2"));
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

    async fn dump(user: &UserId) -> Vec<u8> {
        let (client, conn) = tokio_postgres::connect(&url(), tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        let mut out = Vec::new();
        for table in [
            "mfa_methods",
            "mfa_app_steps",
            "mfa_challenges",
            "mfa_user_failures",
            "mfa_recovery_codes",
        ] {
            for row in client
                .query(
                    &format!("SELECT t::text FROM {table} t WHERE user_id = $1"),
                    &[&user.as_str()],
                )
                .await
                .unwrap()
            {
                out.extend_from_slice(row.get::<_, &str>(0).as_bytes());
                out.push(0);
            }
        }
        for row in client
            .query(
                "SELECT app_secret FROM mfa_methods WHERE user_id = $1 AND app_secret IS NOT NULL",
                &[&user.as_str()],
            )
            .await
            .unwrap()
        {
            out.extend_from_slice(row.get::<_, &[u8]>(0));
        }
        out
    }

    #[tokio::test]
    #[ignore = "needs PostgreSQL: run scripts/test.sh"]
    async fn postgres_rows_hold_no_secret_or_code_in_clear() {
        let store = PostgresStore::connect(&url(), keys()).await.unwrap();
        let (user, secrets) = journey(Arc::new(store)).await;
        assert_clean(
            &dump(&user).await,
            &secrets,
            &[user.as_str(), number(&user).e164(), "test-1"],
        );
    }

    #[tokio::test]
    #[ignore = "needs PostgreSQL: run scripts/test.sh"]
    async fn postgres_rotation_reseals_secrets_under_the_new_key() {
        let old = PostgresStore::connect(&url(), keys()).await.unwrap();
        let (user, _) = journey(Arc::new(old.clone())).await;
        let rotating = PostgresStore::connect(&url(), rotated_keys())
            .await
            .unwrap();
        let new_only = PostgresStore::connect(&url(), only_new_key())
            .await
            .unwrap();
        check_rotation(
            old,
            rotating.clone(),
            new_only,
            rotating.rotate_keys(),
            &user,
        )
        .await;
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

    fn options(prefix: &str) -> RedisOptions {
        RedisOptions {
            prefix: prefix.to_owned(),
            ..RedisOptions::default()
        }
    }

    fn prefix(tag: &str) -> String {
        format!(
            "mfa-{}:",
            fresh_user(tag).as_str().split('@').next().unwrap()
        )
    }

    async fn dump(prefix: &str) -> Vec<u8> {
        let client = redis::Client::open(url()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{prefix}*"))
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(!keys.is_empty());
        let mut out = Vec::new();
        for k in keys {
            out.extend_from_slice(k.as_bytes());
            out.push(0);
            let fields: Vec<Vec<u8>> = redis::cmd("HGETALL")
                .arg(&k)
                .query_async(&mut conn)
                .await
                .unwrap();
            for f in fields {
                out.extend_from_slice(&f);
                out.push(0);
            }
        }
        out
    }

    #[tokio::test]
    #[ignore = "needs Redis: run scripts/test.sh"]
    async fn redis_keys_hold_no_secret_or_code_in_clear() {
        let p = prefix("redis-at-rest");
        let store = RedisStore::connect_with(&url(), keys(), options(&p))
            .await
            .unwrap();
        let (user, secrets) = journey(Arc::new(store)).await;
        let user_hex = hex(user.as_str().as_bytes());
        assert_clean(
            &dump(&p).await,
            &secrets,
            &[user_hex.as_str(), number(&user).e164()],
        );
    }

    #[tokio::test]
    #[ignore = "needs Redis: run scripts/test.sh"]
    async fn redis_rotation_reseals_secrets_under_the_new_key() {
        let p = prefix("redis-rotation");
        let old = RedisStore::connect_with(&url(), keys(), options(&p))
            .await
            .unwrap();
        let (user, _) = journey(Arc::new(old.clone())).await;
        let rotating = RedisStore::connect_with(&url(), rotated_keys(), options(&p))
            .await
            .unwrap();
        let new_only = RedisStore::connect_with(&url(), only_new_key(), options(&p))
            .await
            .unwrap();
        check_rotation(
            old,
            rotating.clone(),
            new_only,
            rotating.rotate_keys(),
            &user,
        )
        .await;
    }
}
