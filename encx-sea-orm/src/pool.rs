//! SeaORM runs on sqlx, as encx-sqlx does: the same pool serves both. These helpers run
//! encx-sqlx's own work (encx's tables, key store) on the pool behind a SeaORM connection.

use sea_orm::{DatabaseConnection, DbBackend};

use crate::error::{Error, Result};

/// Creates or upgrades encx's tables on the database behind `db`
/// (`encx_sqlx::migrate` on SeaORM's own pool).
pub async fn migrate(db: &DatabaseConnection) -> Result<()> {
    match db.get_database_backend() {
        #[cfg(feature = "postgres")]
        DbBackend::Postgres => encx_sqlx::migrate(db.get_postgres_connection_pool()).await?,
        #[cfg(feature = "mysql")]
        DbBackend::MySql => encx_sqlx::migrate(db.get_mysql_connection_pool()).await?,
        #[cfg(feature = "sqlite")]
        DbBackend::Sqlite => encx_sqlx::migrate(db.get_sqlite_connection_pool()).await?,
        #[allow(unreachable_patterns)]
        other => return Err(Error::BackendNotEnabled(format!("{other:?}"))),
    }
    Ok(())
}

/// encx's key-encryption-key store (`encx_keks`) on the pool behind `db`, for building the
/// [`Crypto`](encx::Crypto) that [`Encx`](crate::Encx) uses.
pub fn kek_store(db: &DatabaseConnection) -> Result<std::sync::Arc<dyn encx::KekStore>> {
    Ok(match db.get_database_backend() {
        #[cfg(feature = "postgres")]
        DbBackend::Postgres => {
            encx_sqlx::SqlKekStore::shared(db.get_postgres_connection_pool().clone())
        }
        #[cfg(feature = "mysql")]
        DbBackend::MySql => encx_sqlx::SqlKekStore::shared(db.get_mysql_connection_pool().clone()),
        #[cfg(feature = "sqlite")]
        DbBackend::Sqlite => {
            encx_sqlx::SqlKekStore::shared(db.get_sqlite_connection_pool().clone())
        }
        #[allow(unreachable_patterns)]
        other => return Err(Error::BackendNotEnabled(format!("{other:?}"))),
    })
}
