#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]
// Without a database feature nothing reaches the per-database code (a build that is no use).
#![cfg_attr(
    not(any(feature = "postgres", feature = "mysql", feature = "sqlite")),
    allow(unused)
)]

// Each concern in one place (README, "Where things live"); no module imports one that imports
// it back.
pub mod audit;
mod database;
mod encx_database;
pub mod erasure;
mod error;
pub mod jobs;
pub mod keys;
mod progress;
pub mod repository;

/// The sqlx whose pools, connections and databases are in this crate's API: use it as
/// `encx_sqlx::sqlx` to be sure the versions match.
pub use sqlx;

pub use audit::audit_log::{AuditQuery, AuditRecord};
pub use audit::audit_sink::SqlAuditSink;
pub use database::migrate::{migration_plan, MigrationPlan, MigrationStep};
pub use database::time::{millis, now_millis, rfc3339, rfc3339_millis, time_of_millis};
pub use encx_database::{kek_rows, migrate, read_audit, EncxDatabase};
pub use erasure::described::DescribedId;
pub use erasure::tenant::{TenantEraser, TenantErasure, TenantFootprint};
pub use erasure::{SubjectEraser, SubjectErasure, SubjectFootprint, WRITER_MARGIN};
pub use error::{is_missing_table, is_unique_violation, mysql_error_number, Error, Result};
pub use jobs::registry::{JobTable, KeyStatus, Registry, Rewrapped};
pub use jobs::{RewrapProgress, VerifyReport};
pub use keys::kek_store::SqlKekStore;
pub use keys::subject_store::{SqlErasureLedger, SqlSubjectKeyStore};
pub use keys::tenant_store::SqlTenantStore;
pub use repository::lookup::{Lookup, RejectedRow};
pub use repository::plaintext::Plaintext;
pub use repository::{DbHandle, IdOf, Repo, SubjectOf, TenantOf};

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
