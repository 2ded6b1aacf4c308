//! [`EncxMigration`]: encx's tables created by a `sea-orm-migration` migrator (feature
//! `migration`), in the same versions, and recorded in the same `encx_schema_migrations`
//! ledger, as `encx_sqlx::migrate`: either may run first, and both may run.

use encx::schema::Dialect;
use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};
use sea_orm_migration::prelude::*;

/// encx's tables (`encx_keks`, `encx_subject_keys`, `encx_erasure_ledger`, `encx_audit`,
/// `encx_secrets`, `encx_tokens`) as one migration of your `MigratorTrait`:
///
/// ```no_run
/// use sea_orm_migration::prelude::*;
///
/// pub struct Migrator;
///
/// #[async_trait::async_trait]
/// impl MigratorTrait for Migrator {
///     fn migrations() -> Vec<Box<dyn MigrationTrait>> {
///         vec![Box::new(encx_sea_orm::EncxMigration)]
///     }
/// }
/// ```
///
/// `up` runs encx's migrations that `encx_schema_migrations` does not list yet (so a
/// database that `encx_sqlx::migrate` already set up is left as it is); `down` refuses,
/// because dropping encx's tables destroys every key and with them all encrypted data.
#[derive(Debug, Clone, Copy, Default)]
pub struct EncxMigration;

impl MigrationName for EncxMigration {
    fn name(&self) -> &str {
        "m20260101_000000_encx_tables"
    }
}

fn dialect(backend: DbBackend) -> Result<Dialect, DbErr> {
    match backend {
        DbBackend::Postgres => Ok(Dialect::Postgres),
        DbBackend::MySql => Ok(Dialect::MySql),
        DbBackend::Sqlite => Ok(Dialect::Sqlite),
        #[allow(unreachable_patterns)]
        other => Err(DbErr::Migration(format!(
            "encx has no tables for the database backend {other:?}"
        ))),
    }
}

#[async_trait::async_trait]
impl MigrationTrait for EncxMigration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let backend = db.get_database_backend();
        let plan = encx_sqlx::migration_plan(dialect(backend)?);
        db.execute_unprepared(&plan.ledger).await?;
        let mut applied = Vec::new();
        for row in db
            .query_all_raw(Statement::from_string(backend, plan.applied))
            .await?
        {
            applied.push(row.try_get_by_index::<i64>(0)?);
        }
        for step in plan.steps.iter().filter(|s| !applied.contains(&s.version)) {
            for statement in &step.statements {
                db.execute_unprepared(statement).await?;
            }
            let values: Vec<Value> = vec![
                step.version.into(),
                step.description.into(),
                encx_sqlx::now_millis().into(),
            ];
            db.execute_raw(Statement::from_sql_and_values(backend, plan.record, values))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration(
            "encx's tables hold every key-encryption key: dropping them would destroy all \
             encrypted data, so EncxMigration has no down migration (drop them by hand if \
             that is what you mean)"
                .to_owned(),
        ))
    }
}
