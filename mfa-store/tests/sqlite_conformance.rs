//! The store conformance suite against SQLite, in memory and in a file.
#![cfg(feature = "sqlite")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use mfa_store::{Keyring, SecretKey, SqliteStore};

fn keys() -> Keyring {
    Keyring::new(SecretKey::new("test-1", [42; 32]).unwrap())
}

async fn fresh() -> SqliteStore {
    SqliteStore::in_memory(keys()).unwrap()
}

mfa_core::store_conformance!(fresh);

mod file {
    use super::*;

    async fn fresh_file() -> SqliteStore {
        let dir = std::env::temp_dir().join(format!("mfa-store-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        SqliteStore::open(dir.join("conformance.db"), keys()).unwrap()
    }

    mfa_core::store_conformance!(fresh_file);
}
