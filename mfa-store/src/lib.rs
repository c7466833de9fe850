#![doc = include_str!("../README.md")]

pub mod keys;
mod legacy;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(feature = "sqlite")]
pub mod sqlite;
mod windows;

pub use keys::{IndexKey, KeyError, Keyring, SecretKey};
pub use legacy::{OpenError, V1Data, V1Found};
#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;
#[cfg(feature = "redis")]
pub use redis::RedisStore;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;
