//! [`SqlTenantStore`]: the `encx_tenants` and `encx_tenant_keys` tables as an
//! [`encx::keys::tenant::TenantStore`], on PostgreSQL, MySQL and SQLite (run
//! [`migrate`](crate::migrate) first). Keep them with the other key tables: in a database of
//! their own, an offboarded tenant stays offboarded in every restored backup of the data.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use encx::keys::tenant::{TenantRoot, TenantRow, TenantState, TenantStore};
use encx::KekStore;
use sqlx::Pool;
use uuid::Uuid;

use crate::database::time::{now_millis, time_of_millis as time};
use crate::error::{is_unique_violation, unavailable};
use crate::keys::kek_store::SqlKekStore;

/// The tenant tables of one database pool.
pub struct SqlTenantStore<DB: sqlx::Database> {
    pool: Pool<DB>,
}

impl<DB: sqlx::Database> SqlTenantStore<DB> {
    /// A store over `pool` (whose database has had [`migrate`](crate::migrate) run).
    pub fn new(pool: Pool<DB>) -> Self {
        SqlTenantStore { pool }
    }
}

impl<DB: sqlx::Database> fmt::Debug for SqlTenantStore<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlTenantStore")
            .field("database", &DB::NAME)
            .finish()
    }
}

type RowTuple = (Vec<u8>, String, Option<String>, String, i64, i64);

fn from_tuple(
    (tenant, root, moving_from, state, created, updated): RowTuple,
) -> encx::Result<TenantRow> {
    Ok(TenantRow::stored(
        tenant,
        TenantRoot::parse(&root)?,
        moving_from.as_deref().map(TenantRoot::parse).transpose()?,
        TenantState::parse(&state)?,
        time(created),
        time(updated),
    ))
}

const COLUMNS: &str = "tenant, root, moving_from, state, created_at, updated_at";

macro_rules! impl_tenant_store {
    ($db:ty, $p:expr, $begin:expr) => {
        #[async_trait]
        impl TenantStore for SqlTenantStore<$db> {
            fn keys(&self, tenant: &[u8]) -> Arc<dyn KekStore> {
                Arc::new(SqlKekStore::<$db>::of_tenant(self.pool.clone(), tenant))
            }

            async fn get(&self, tenant: &[u8]) -> encx::Result<Option<TenantRow>> {
                let sql = format!("SELECT {COLUMNS} FROM encx_tenants WHERE tenant = {}", $p(1));
                let row: Option<RowTuple> = sqlx::query_as(crate::database::trusted(&sql))
                    .bind(tenant)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(|e| unavailable("tenant get", e))?;
                row.map(from_tuple).transpose()
            }

            async fn register(&self, tenant: &[u8], root: &TenantRoot) -> encx::Result<TenantRow> {
                if let Some(row) = self.get(tenant).await? {
                    return Ok(row);
                }
                let now = now_millis();
                let sql = format!(
                    "INSERT INTO encx_tenants ({COLUMNS}) VALUES ({}, {}, NULL, 'active', {}, {})",
                    $p(1), $p(2), $p(3), $p(4)
                );
                match sqlx::query(crate::database::trusted(&sql))
                    .bind(tenant)
                    .bind(root.to_stored())
                    .bind(now)
                    .bind(now)
                    .execute(&self.pool)
                    .await
                {
                    Ok(_) => {}
                    // Another process registered it first: its row stands.
                    Err(e) if is_unique_violation(&e) => {}
                    Err(e) => return Err(unavailable("tenant register", e)),
                }
                self.get(tenant)
                    .await?
                    .ok_or_else(|| encx::Error::unavailable("tenant registration lost"))
            }

            async fn set_root(
                &self,
                tenant: &[u8],
                expected: &TenantRoot,
                root: &TenantRoot,
                moving_from: Option<&TenantRoot>,
            ) -> encx::Result<bool> {
                let sql = format!(
                    "UPDATE encx_tenants SET root = {}, moving_from = {}, updated_at = {} \
                     WHERE tenant = {} AND root = {} AND state = 'active'",
                    $p(1), $p(2), $p(3), $p(4), $p(5)
                );
                let done = sqlx::query(crate::database::trusted(&sql))
                    .bind(root.to_stored())
                    .bind(moving_from.map(TenantRoot::to_stored))
                    .bind(now_millis())
                    .bind(tenant)
                    .bind(expected.to_stored())
                    .execute(&self.pool)
                    .await
                    .map_err(|e| unavailable("tenant set_root", e))?;
                Ok(done.rows_affected() == 1)
            }

            async fn erase(&self, tenant: &[u8]) -> encx::Result<Vec<Uuid>> {
                let fail = |e| unavailable("tenant erase", e);
                let mut tx = match $begin {
                    Some(statement) => self.pool.begin_with(statement).await,
                    None => self.pool.begin().await,
                }
                .map_err(fail)?;
                let now = now_millis();
                let sql = format!("SELECT state FROM encx_tenants WHERE tenant = {}", $p(1));
                let state: Option<(String,)> = sqlx::query_as(crate::database::trusted(&sql))
                    .bind(tenant)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(fail)?;
                match state {
                    Some((state,)) if state == TenantState::Erased.as_str() => {}
                    Some(_) => {
                        let sql = format!(
                            "UPDATE encx_tenants SET state = 'erased', updated_at = {} WHERE tenant = {}",
                            $p(1), $p(2)
                        );
                        sqlx::query(crate::database::trusted(&sql))
                            .bind(now)
                            .bind(tenant)
                            .execute(&mut *tx)
                            .await
                            .map_err(fail)?;
                    }
                    None => {
                        let sql = format!(
                            "INSERT INTO encx_tenants ({COLUMNS}) \
                             VALUES ({}, 'default', NULL, 'erased', {}, {})",
                            $p(1), $p(2), $p(3)
                        );
                        sqlx::query(crate::database::trusted(&sql))
                            .bind(tenant)
                            .bind(now)
                            .bind(now)
                            .execute(&mut *tx)
                            .await
                            .map_err(fail)?;
                    }
                }
                let sql = format!(
                    "SELECT id FROM encx_tenant_keys WHERE tenant = {} AND state <> 'destroyed'",
                    $p(1)
                );
                let ids: Vec<(Uuid,)> = sqlx::query_as(crate::database::trusted(&sql))
                    .bind(tenant)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(fail)?;
                let sql = format!(
                    "UPDATE encx_tenant_keys SET state = 'destroyed', wrapped = {}, updated_at = {} \
                     WHERE tenant = {} AND state <> 'destroyed'",
                    $p(1), $p(2), $p(3)
                );
                sqlx::query(crate::database::trusted(&sql))
                    .bind(Vec::<u8>::new())
                    .bind(now)
                    .bind(tenant)
                    .execute(&mut *tx)
                    .await
                    .map_err(fail)?;
                tx.commit().await.map_err(fail)?;
                Ok(ids.into_iter().map(|(id,)| id).collect())
            }

            async fn page(&self, after: Option<&[u8]>, limit: usize) -> encx::Result<Vec<TenantRow>> {
                let limit = i64::try_from(limit).unwrap_or(i64::MAX);
                let rows: Vec<RowTuple> = match after {
                    Some(after) => {
                        let sql = format!(
                            "SELECT {COLUMNS} FROM encx_tenants WHERE tenant > {} ORDER BY tenant LIMIT {}",
                            $p(1), $p(2)
                        );
                        sqlx::query_as(crate::database::trusted(&sql))
                            .bind(after)
                            .bind(limit)
                            .fetch_all(&self.pool)
                            .await
                    }
                    None => {
                        let sql = format!(
                            "SELECT {COLUMNS} FROM encx_tenants ORDER BY tenant LIMIT {}",
                            $p(1)
                        );
                        sqlx::query_as(crate::database::trusted(&sql))
                            .bind(limit)
                            .fetch_all(&self.pool)
                            .await
                    }
                }
                .map_err(|e| unavailable("tenant page", e))?;
                rows.into_iter().map(from_tuple).collect()
            }
        }
    };
}

#[cfg(feature = "postgres")]
impl_tenant_store!(
    sqlx::Postgres,
    crate::database::dialect::dollar,
    None::<&'static str>
);
#[cfg(feature = "mysql")]
impl_tenant_store!(
    sqlx::MySql,
    crate::database::dialect::question,
    None::<&'static str>
);
#[cfg(feature = "sqlite")]
impl_tenant_store!(
    sqlx::Sqlite,
    crate::database::dialect::question,
    Some("BEGIN IMMEDIATE")
);

/// The tenant tables on one kind of database (part of [`EncxDatabase`](crate::EncxDatabase)).
#[doc(hidden)]
pub trait TenantTables: sqlx::Database {
    /// The tenant tables of `pool` as a tenant store.
    fn tenant_store(pool: Pool<Self>) -> Arc<dyn TenantStore>;
}

macro_rules! impl_tenant_tables {
    ($db:ty) => {
        impl TenantTables for $db {
            fn tenant_store(pool: Pool<Self>) -> Arc<dyn TenantStore> {
                Arc::new(SqlTenantStore::<$db>::new(pool))
            }
        }
    };
}

#[cfg(feature = "postgres")]
impl_tenant_tables!(sqlx::Postgres);
#[cfg(feature = "mysql")]
impl_tenant_tables!(sqlx::MySql);
#[cfg(feature = "sqlite")]
impl_tenant_tables!(sqlx::Sqlite);
