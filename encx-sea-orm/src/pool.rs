//! SeaORM runs on sqlx, as encx-sqlx does: the same pool serves both. These helpers run
//! encx-sqlx's own work (encx's tables, key store) on the pool behind a SeaORM connection.

use sea_orm::DatabaseConnection;

use crate::error::{Error, Result};

/// Creates or upgrades encx's tables on the database behind `db`
/// (`encx_sqlx::migrate` on SeaORM's own pool).
pub async fn migrate(db: &DatabaseConnection) -> Result<()> {
    // Without a database feature only the last arm is left; it must not diverge by `return`
    // (that would leave code unreachable and warn in a build without features).
    match db.get_database_backend() {
        #[cfg(feature = "postgres")]
        sea_orm::DbBackend::Postgres => {
            Ok(encx_sqlx::migrate(db.get_postgres_connection_pool()).await?)
        }
        #[cfg(feature = "mysql")]
        sea_orm::DbBackend::MySql => Ok(encx_sqlx::migrate(db.get_mysql_connection_pool()).await?),
        #[cfg(feature = "sqlite")]
        sea_orm::DbBackend::Sqlite => {
            Ok(encx_sqlx::migrate(db.get_sqlite_connection_pool()).await?)
        }
        #[allow(unreachable_patterns)]
        other => Err(Error::BackendNotEnabled(format!("{other:?}"))),
    }
}

/// encx's key-encryption-key store (`encx_keks`) on the pool behind `db`, for building the
/// [`Crypto`](encx::Crypto) that [`Encx`](crate::Encx) uses.
pub fn kek_store(db: &DatabaseConnection) -> Result<std::sync::Arc<dyn encx::KekStore>> {
    match db.get_database_backend() {
        #[cfg(feature = "postgres")]
        sea_orm::DbBackend::Postgres => Ok(encx_sqlx::SqlKekStore::shared(
            db.get_postgres_connection_pool().clone(),
        )),
        #[cfg(feature = "mysql")]
        sea_orm::DbBackend::MySql => Ok(encx_sqlx::SqlKekStore::shared(
            db.get_mysql_connection_pool().clone(),
        )),
        #[cfg(feature = "sqlite")]
        sea_orm::DbBackend::Sqlite => Ok(encx_sqlx::SqlKekStore::shared(
            db.get_sqlite_connection_pool().clone(),
        )),
        #[allow(unreachable_patterns)]
        other => Err(Error::BackendNotEnabled(format!("{other:?}"))),
    }
}
