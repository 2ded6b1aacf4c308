//! The multi-row `INSERT` statements for a batch of stored records: `UNNEST` column arrays on
//! PostgreSQL (falling back to `VALUES` when a column type has no array type), multi-row
//! `VALUES` on MySQL/MariaDB and SQLite.

use encx::sql::StoredRecord;
use sqlx::Database;

use crate::database::dialect::max_binds;
use crate::encx_database::EncxDatabase;
use crate::error::{encode_error, Result};
use crate::repository::statements::Statements;

/// One statement with its arguments.
pub(crate) type Statement<'q, DB> = (String, <DB as Database>::Arguments);

/// Rows per `UNNEST` statement: its parameter count does not grow with the rows.
const MAX_ARRAY_ROWS: usize = 5_000;

/// Statements inserting `records`, in order, each within the database's limits.
pub(crate) fn insert_statements<'q, DB: EncxDatabase, R: StoredRecord>(
    sql: &Statements,
    records: &'q [R],
) -> Result<Vec<Statement<'q, DB>>> {
    let mut statements = Vec::with_capacity(records.len().div_ceil(MAX_ARRAY_ROWS));
    for chunk in records.chunks(MAX_ARRAY_ROWS) {
        let mut args = <DB as Database>::Arguments::default();
        match DB::bind_arrays(chunk, &mut args) {
            Some(bound) => {
                bound.map_err(encode_error)?;
                statements.push((sql.insert_arrays.clone(), args));
            }
            // Whether a batch binds as arrays depends on the database and the column types,
            // never on the rows.
            None => return values_statements::<DB, R>(sql, records),
        }
    }
    Ok(statements)
}

/// `INSERT ... VALUES (...), (...)` statements: one placeholder per value, as many rows per
/// statement as the database's placeholder limit allows (at most 1,000).
fn values_statements<'q, DB: EncxDatabase, R: StoredRecord>(
    sql: &Statements,
    records: &'q [R],
) -> Result<Vec<Statement<'q, DB>>> {
    let rows = (max_binds(DB::DIALECT) / sql.column_count).clamp(1, 1000);
    records
        .chunks(rows)
        .map(|chunk| {
            let mut args = <DB as Database>::Arguments::default();
            for record in chunk {
                DB::bind_record(record, &mut args).map_err(encode_error)?;
            }
            Ok((sql.insert(chunk.len()), args))
        })
        .collect()
}
