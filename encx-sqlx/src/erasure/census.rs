//! The tables of a database that encx writes, found by their `encx_dek` column: what
//! [`SubjectEraser::covering`](super::SubjectEraser::covering) holds an eraser's tables
//! against, so that an erasure is refused while a table with rows of the subject would be
//! left with their blind indexes.

use encx::schema::Dialect;
use futures_util::future::BoxFuture;
use sqlx::Pool;

use crate::encx_database::EncxDatabase;
use crate::error::Result;

/// The column every table that encx writes has.
const DEK_COLUMN: &str = "encx_dek";

/// The prefix of encx's own tables (`encx_secrets` has an `encx_dek` column too).
const ENCX_TABLES: &str = "encx_";

/// A database whose encrypted tables can be listed.
pub(super) trait TableCensus: Send + Sync {
    /// The application's tables with an `encx_dek` column, by name, sorted.
    fn encrypted_tables(&self) -> BoxFuture<'_, Result<Vec<String>>>;
}

impl<DB: EncxDatabase> TableCensus for Pool<DB> {
    fn encrypted_tables(&self) -> BoxFuture<'_, Result<Vec<String>>> {
        Box::pin(async move {
            let mut conn = self.acquire().await?;
            let mut tables = DB::fetch_texts(&mut conn, &census_sql(DB::DIALECT)).await?;
            tables.retain(|t| !t.starts_with(ENCX_TABLES));
            tables.sort();
            tables.dedup();
            Ok(tables)
        })
    }
}

/// The tables of the connection's schema (PostgreSQL's current schema, MySQL's current
/// database, SQLite's main database) that have a column named `encx_dek`.
fn census_sql(dialect: Dialect) -> String {
    match dialect {
        Dialect::MySql => format!(
            "SELECT CAST(table_name AS CHAR) FROM information_schema.columns \
             WHERE table_schema = DATABASE() AND column_name = '{DEK_COLUMN}'"
        ),
        Dialect::Sqlite => format!(
            "SELECT m.name FROM sqlite_master AS m, pragma_table_info(m.name) AS c \
             WHERE m.type = 'table' AND c.name = '{DEK_COLUMN}'"
        ),
        // PostgreSQL, and the information schema of the SQL standard.
        _ => format!(
            "SELECT CAST(table_name AS TEXT) FROM information_schema.columns \
             WHERE table_schema = current_schema() AND column_name = '{DEK_COLUMN}'"
        ),
    }
}
