#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]
// Without a database feature nothing reaches the per-database code (a build that is no use).
#![cfg_attr(
    not(any(feature = "postgres", feature = "mysql", feature = "sqlite")),
    allow(unused)
)]

pub mod config;
mod error;
mod registry;
pub mod secrets;
mod store_sql;
pub mod tokens;

/// The sqlx whose pools are in this crate's API: use it as `encx_secrets::sqlx` to be sure the
/// versions match.
pub use sqlx;

pub use config::{Config, ConfigBuilder};
pub use error::{Error, Result};
pub use registry::RegistrySecrets;
pub use secrets::{CacheStats, Secret, SecretInfo, SecretOptions, Secrets, SecretsApi};
pub use store_sql::{SecretRow, SecretsDatabase, TokenRow};
pub use tokens::{IssuedToken, TokenStore};

/// SQL text that encx assembled itself from its own statements and checked table names (values
/// are always bound): what sqlx 0.9 asks callers to vouch for before it runs a non-literal string.
pub(crate) fn trusted(sql: impl AsRef<str>) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(sql.as_ref().to_owned())
}
