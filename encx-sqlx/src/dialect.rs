//! The three databases encx-sqlx supports, and what differs between their SQL.

use encx::schema::Dialect;

/// A sqlx database encx-sqlx knows how to talk to: PostgreSQL, MySQL/MariaDB or SQLite.
pub trait EncxDatabase: sqlx::Database {
    /// Its SQL dialect.
    const DIALECT: Dialect;
}

impl EncxDatabase for sqlx::Postgres {
    const DIALECT: Dialect = Dialect::Postgres;
}

impl EncxDatabase for sqlx::MySql {
    const DIALECT: Dialect = Dialect::MySql;
}

impl EncxDatabase for sqlx::Sqlite {
    const DIALECT: Dialect = Dialect::Sqlite;
}

/// The `n`th (1-based) bind placeholder.
pub(crate) fn placeholder(dialect: Dialect, n: usize) -> String {
    match dialect {
        Dialect::Postgres => format!("${n}"),
        _ => "?".to_owned(),
    }
}

/// How many bind parameters one statement may carry, with a margin.
pub(crate) fn max_binds(dialect: Dialect) -> usize {
    match dialect {
        Dialect::Postgres | Dialect::MySql => 60_000,
        _ => 30_000,
    }
}
