//! The tables of a database that encx writes, found by their `encx_dek` column, whatever
//! types the application registered: what the eraser's guard
//! ([`SubjectEraser::covering`](crate::SubjectEraser::covering)) and the key guards of
//! [`Registry::encx_tables`](crate::Registry::encx_tables) hold the registered tables against.

use std::collections::BTreeSet;
use std::sync::Mutex;

use encx::schema::Dialect;
use sqlx::Database;

use crate::database::driver::Driver;

/// The column every table that encx writes has.
pub const DEK_COLUMN: &str = "encx_dek";

/// The prefix of encx's own tables (`encx_secrets` has an `encx_dek` column too).
const ENCX_TABLES: &str = "encx_";

/// The application's tables with an `encx_dek` column in the schema of the connection, of
/// `dialect` (PostgreSQL's current schema, MySQL's current database, SQLite's main
/// database), by name, sorted; encx's own `encx_*` tables aside.
pub async fn encrypted_tables<DB: Driver>(
    conn: &mut <DB as Database>::Connection,
    dialect: Dialect,
) -> Result<Vec<String>, sqlx::Error> {
    let mut tables = DB::fetch_texts(conn, &census_sql(dialect)).await?;
    tables.retain(|t| !t.starts_with(ENCX_TABLES));
    tables.sort();
    tables.dedup();
    Ok(tables)
}

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

/// The columns of the application's table `table` on `dialect` (a table encx writes, with an
/// `encx_dek` column and `column`, its `what` column: "id", "data subject"), read from the
/// database: a configuration error without the table or either column.
pub async fn described_columns<DB: Driver>(
    pool: &sqlx::Pool<DB>,
    dialect: Dialect,
    table: &str,
    column: &str,
    what: &str,
) -> crate::error::Result<Vec<String>> {
    use crate::error::Error;
    let quoted = encx::schema::quote_ident(dialect, table);
    let mut conn = pool.acquire().await?;
    let columns = DB::column_names(&mut conn, &quoted).await.map_err(|e| {
        if crate::error::is_missing_table(&e) {
            Error::InvalidConfig(format!("no table `{table}` in this database"))
        } else {
            e.into()
        }
    })?;
    for needed in [DEK_COLUMN, column] {
        if !columns.iter().any(|c| c == needed) {
            return Err(Error::InvalidConfig(format!(
                "table `{table}` has no column `{needed}`: name a table that encx writes and \
                 its {what} column (TABLE:COLUMN)"
            )));
        }
    }
    Ok(columns)
}

/// `SELECT <key>, COUNT(*) FROM table GROUP BY 1` over `encx_dek`, of one parameter (the
/// subject keyring kind's byte): rows per KEK or master key, every data subject's rows as one
/// group, erased rows as another; what [`Repo::key_usage`](crate::Repo::key_usage) reads
/// without its key index.
pub fn key_usage_sql(dialect: Dialect, table: &str) -> String {
    let dek = encx::schema::quote_ident(dialect, DEK_COLUMN);
    format!(
        "SELECT CASE WHEN substr({dek}, 2, 1) = {} THEN substr({dek}, 1, 2) \
         ELSE substr({dek}, 1, {}) END, COUNT(*) FROM {} GROUP BY 1",
        crate::database::dialect::placeholder(dialect, 1),
        encx::KeyInUse::PREFIX_LEN,
        encx::schema::quote_ident(dialect, table)
    )
}

/// `name` as a `&'static str`, as the registry and the eraser name tables (record types'
/// names are constants): each distinct name is allocated once per process, however often a
/// table is found.
pub fn table_name(name: &str) -> &'static str {
    static NAMES: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());
    let mut names = NAMES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(known) = names.get(name) {
        return known;
    }
    let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
    names.insert(leaked);
    leaked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_name_is_allocated_once() {
        let first = table_name("user_notes");
        let again = table_name(&String::from("user_notes"));
        assert!(std::ptr::eq(first, again));
        assert_eq!(again, "user_notes");
        assert_ne!(table_name("orders"), "user_notes");
    }
}
