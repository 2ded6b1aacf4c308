//! The database seam: what encx-sqlx does the same way on every database but must spell per
//! database, because sqlx's executors, arguments and rows are concrete types. Nothing here
//! knows a key store, a repository or a job; [`EncxDatabase`](crate::EncxDatabase) gathers
//! these traits and those of encx's own tables into the one bound generic code needs.
//!
//! - [`census`]: the tables that encx writes, found by their `encx_dek` column;
//! - [`dialect`]: placeholders and bind limits;
//! - [`driver`]: binding and reading stored records, running statements;
//! - [`migrate`]: encx's own tables and their migrations;
//! - [`time`]: how those tables store times.

pub mod census;
pub mod dialect;
pub mod driver;
pub mod migrate;
pub mod time;

/// SQL text that encx assembled itself, from its own statements and from table and column names
/// it has checked (never from values, which are always bound): what sqlx 0.9 asks callers to
/// vouch for before it runs a string that is not a literal.
pub(crate) fn trusted(sql: impl AsRef<str>) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(sql.as_ref().to_owned())
}
