#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]
// Without a database feature nothing reaches the per-database code (a build that is no use).
#![cfg_attr(
    not(any(feature = "postgres", feature = "mysql", feature = "sqlite")),
    allow(unused)
)]

mod audit_log;
pub mod audit_sink;
mod audited;
mod bulk;
#[cfg(feature = "cli")]
pub mod cli;
pub mod config;
mod db_handle;
mod dialect;
mod driver;
mod encx_tables;
mod error;
pub mod jobs;
pub mod kek_store;
mod lookup;
mod migrate;
mod plaintext;
mod plaintext_job;
pub mod registry;
pub mod repo;
pub(crate) mod rewrap;
pub mod secrets;
mod statements;
mod store_sql;
mod stream_audit;
pub mod subject_eraser;
pub mod subject_store;
pub mod tokens;

/// The sqlx whose pools, connections and databases are in this crate's API: use it as
/// `encx_sqlx::sqlx` to be sure the versions match.
pub use sqlx;

pub use audit_log::{read_audit, AuditQuery, AuditRecord};
pub use audit_sink::SqlAuditSink;
pub use config::{Config, ConfigBuilder};
pub use dialect::EncxDatabase;
pub use error::{Error, Result};
pub use kek_store::SqlKekStore;
pub use lookup::{Lookup, RejectedRow};
pub use migrate::migrate;
pub use plaintext::Plaintext;
pub use plaintext_job::VerifyReport;
pub use registry::{KeyStatus, Registry, Rewrapped};
pub use repo::{DbHandle, IdOf, Repo, SubjectOf};
pub use rewrap::RewrapProgress;
pub use secrets::{CacheStats, Secret, SecretInfo, SecretOptions, Secrets};
pub use subject_eraser::{SubjectEraser, SubjectErasure, SubjectFootprint, WRITER_MARGIN};
pub use subject_store::{SqlErasureLedger, SqlSubjectKeyStore};
pub use tokens::{IssuedToken, TokenStore};

/// `CREATE TABLE` / `CREATE INDEX` statements for `T` on database `DB`.
///
/// ```
/// use encx::Encrypted;
/// #[derive(Encrypted)]
/// struct Note {
///     #[encx(id)]
///     id: i64,
///     #[encx(encrypt)]
///     body: String,
/// }
/// let ddl = encx_sqlx::schema::<Note, sqlx::Sqlite>()?;
/// assert!(ddl[0].starts_with(r#"CREATE TABLE IF NOT EXISTS "notes""#));
/// # Ok::<(), encx_sqlx::Error>(())
/// ```
pub fn schema<T: encx::schema::Schema, DB: EncxDatabase>() -> Result<Vec<String>> {
    Ok(encx::schema::create_table::<T>(DB::DIALECT)?)
}
