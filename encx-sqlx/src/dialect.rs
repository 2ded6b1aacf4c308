//! The three databases encx-sqlx supports, and what differs between their SQL.

use encx::schema::Dialect;

use crate::driver::Driver;
use crate::migrate::Migrate;

/// A sqlx database encx-sqlx knows how to talk to: PostgreSQL, MySQL/MariaDB or SQLite.
///
/// The one bound code generic over the database needs: [`Repo<T, DB>`](crate::Repo),
/// [`migrate`](crate::migrate) and [`SqlKekStore::shared`](crate::SqlKekStore::shared) work for
/// any `DB: EncxDatabase`. Sealed: implemented for `sqlx::Postgres`, `sqlx::MySql` and
/// `sqlx::Sqlite` only.
///
/// ```no_run
/// use encx::Encrypted;
/// use encx_sqlx::{EncxDatabase, Repo};
///
/// #[derive(Encrypted)]
/// struct User {
///     #[encx(id)]
///     id: uuid::Uuid,
///     #[encx(encrypt, searchable(normalize = "email"))]
///     email: String,
/// }
///
/// async fn register<DB: EncxDatabase>(
///     pool: &sqlx::Pool<DB>,
///     users: &Repo<User, DB>,
///     user: &User,
/// ) -> encx_sqlx::Result<bool> {
///     users.insert(pool, user).await?;
///     Ok(!users.find_by(pool, User::EMAIL, &user.email).await?.is_empty())
/// }
/// ```
pub trait EncxDatabase: sqlx::Database + Driver + Migrate + crate::store_sql::StoreSql {
    /// Its SQL dialect.
    const DIALECT: Dialect;
}

#[cfg(feature = "postgres")]
impl EncxDatabase for sqlx::Postgres {
    const DIALECT: Dialect = Dialect::Postgres;
}

#[cfg(feature = "mysql")]
impl EncxDatabase for sqlx::MySql {
    const DIALECT: Dialect = Dialect::MySql;
}

#[cfg(feature = "sqlite")]
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

/// `$n`: PostgreSQL's placeholders, for statements written once per database.
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
pub(crate) fn dollar(n: usize) -> String {
    format!("${n}")
}

/// `?`: MySQL's and SQLite's placeholders.
#[cfg_attr(not(any(feature = "mysql", feature = "sqlite")), allow(dead_code))]
pub(crate) fn question(_: usize) -> String {
    "?".to_owned()
}
