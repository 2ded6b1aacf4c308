//! [`SqlKekStore`]: the `encx_keks` table as an [`encx::KekStore`], on PostgreSQL, MySQL and
//! SQLite (run [`migrate`](crate::migrate) first).
//!
//! Several processes can share it. Two rules make them agree:
//! - a rotation first flips the expected active row to `retired` with a conditional `UPDATE`
//!   (`WHERE id = ? AND state = 'active'`); the row lock lets only one rotation match it;
//! - `UNIQUE (purpose, version)`: of two processes creating the same version, one insert fails
//!   and that process adopts the winner's key.
//!
//! The version of a new key is chosen by the caller before the root wraps it (the wrapping binds
//! id, purpose and version); the insert happens only if that version is one above the highest
//! stored, inside the same transaction.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use encx::{KekState, KekStore, KeyPurpose, StoredKek};
use sqlx::{Pool, Row};
use uuid::Uuid;

use crate::database::time::{now_millis, time_of_millis as time};
use crate::error::{is_unique_violation, unavailable};

/// The `encx_keks` table of one database pool; or one tenant's rows of `encx_tenant_keys`
/// ([`SqlTenantStore`](crate::SqlTenantStore)).
pub struct SqlKekStore<DB: sqlx::Database> {
    pool: Pool<DB>,
    /// `encx_keks`, or `encx_tenant_keys` with the tenant whose rows this store sees.
    tenant: Option<Vec<u8>>,
}

impl<DB: sqlx::Database> SqlKekStore<DB> {
    /// A store over `pool` (whose database has had [`migrate`](crate::migrate) run).
    pub fn new(pool: Pool<DB>) -> Self {
        SqlKekStore { pool, tenant: None }
    }

    /// The rows of `tenant` in `encx_tenant_keys`.
    pub(crate) fn of_tenant(pool: Pool<DB>, tenant: &[u8]) -> Self {
        SqlKekStore {
            pool,
            tenant: Some(tenant.to_vec()),
        }
    }

    fn table(&self) -> &'static str {
        match self.tenant {
            Some(_) => encx::keys::tenant::TENANT_KEY_TABLE,
            None => "encx_keks",
        }
    }

    /// ` AND tenant = <placeholder n>` for a tenant's store, nothing otherwise.
    fn scope(&self, n: usize, placeholder: fn(usize) -> String) -> String {
        match self.tenant {
            Some(_) => format!(" AND tenant = {}", placeholder(n)),
            None => String::new(),
        }
    }
}

impl<DB: sqlx::Database> fmt::Debug for SqlKekStore<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = f.debug_struct("SqlKekStore");
        out.field("database", &DB::NAME);
        if self.tenant.is_some() {
            out.field("table", &self.table());
        }
        out.finish()
    }
}

/// Binds the tenant of a tenant's store as the last argument of `$query`.
macro_rules! scoped {
    ($self:ident, $query:expr) => {
        match &$self.tenant {
            Some(tenant) => $query.bind(tenant.clone()),
            None => $query,
        }
    };
}

fn from_row<R: Row>(row: &R) -> encx::Result<StoredKek>
where
    for<'r> &'r str: sqlx::ColumnIndex<R>,
    for<'r> Uuid: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Vec<u8>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let get_err = |e| unavailable("reading encx_keks", e);
    let purpose: String = row.try_get("purpose").map_err(get_err)?;
    let state: String = row.try_get("state").map_err(get_err)?;
    Ok(StoredKek {
        id: row.try_get("id").map_err(get_err)?,
        purpose: KeyPurpose::parse(&purpose)?,
        version: row.try_get("version").map_err(get_err)?,
        root_key: row.try_get("root_key").map_err(get_err)?,
        wrapped: row.try_get("wrapped").map_err(get_err)?,
        state: KekState::parse(&state)?,
        created_at: time(row.try_get("created_at").map_err(get_err)?),
        updated_at: time(row.try_get("updated_at").map_err(get_err)?),
    })
}

const COLUMNS: &str = "id, purpose, version, root_key, wrapped, state, created_at, updated_at";

macro_rules! impl_store {
    ($db:ty, $p:expr, $begin:expr) => {
        #[async_trait]
        impl KekStore for SqlKekStore<$db> {
            fn key_binding(&self, id: &Uuid, purpose: KeyPurpose, version: i64) -> encx::keys::KeyBinding {
                match &self.tenant {
                    Some(tenant) => encx::keys::tenant::tenant_key_binding(tenant, id, purpose, version),
                    None => encx::keys::KeyBinding {
                        table: encx::keys::hierarchical::KEY_TABLE,
                        record_id: encx::keys::hierarchical::stored_key_record_id(id, purpose, version),
                    },
                }
            }

            async fn held_elsewhere(&self, id: Uuid) -> encx::Result<bool> {
                let Some(tenant) = &self.tenant else {
                    return Ok(false);
                };
                let sql = format!(
                    "SELECT COUNT(*) FROM {} WHERE id = {} AND tenant <> {}",
                    self.table(), $p(1), $p(2)
                );
                let (n,): (i64,) = sqlx::query_as(crate::database::trusted(&sql))
                    .bind(id)
                    .bind(tenant.clone())
                    .fetch_one(&self.pool)
                    .await
                    .map_err(|e| unavailable("held_elsewhere", e))?;
                Ok(n > 0)
            }

            async fn get(&self, id: Uuid) -> encx::Result<Option<StoredKek>> {
                let sql = format!(
                    "SELECT {COLUMNS} FROM {} WHERE id = {}{}",
                    self.table(), $p(1), self.scope(2, $p)
                );
                let row = scoped!(self, sqlx::query(crate::database::trusted(&sql)).bind(id))
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(|e| unavailable("get", e))?;
                row.as_ref().map(from_row).transpose()
            }

            async fn active(&self, purpose: KeyPurpose) -> encx::Result<Option<StoredKek>> {
                let sql = format!(
                    "SELECT {COLUMNS} FROM {} WHERE purpose = {} AND state = 'active'{}",
                    self.table(), $p(1), self.scope(2, $p)
                );
                let row = scoped!(self, sqlx::query(crate::database::trusted(&sql))
                    .bind(purpose.as_str()))
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(|e| unavailable("active", e))?;
                row.as_ref().map(from_row).transpose()
            }

            async fn list(&self, purpose: KeyPurpose) -> encx::Result<Vec<StoredKek>> {
                let sql = format!(
                    "SELECT {COLUMNS} FROM {} WHERE purpose = {}{} ORDER BY version",
                    self.table(), $p(1), self.scope(2, $p)
                );
                let rows = scoped!(self, sqlx::query(crate::database::trusted(&sql))
                    .bind(purpose.as_str()))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(|e| unavailable("list", e))?;
                rows.iter().map(from_row).collect()
            }

            async fn insert_active(&self, new: encx::NewKek, expected: Option<Uuid>) -> encx::Result<StoredKek> {
                match self.try_insert_active(&new, expected).await {
                    Ok(Some(stored)) => Ok(stored),
                    // Lost the race (or the caller's view was stale): adopt the active key.
                    Ok(None) => self
                        .active(new.purpose)
                        .await?
                        .ok_or_else(|| encx::Error::unavailable("key creation raced; try again")),
                    Err(e) if is_unique_violation(&e) => self
                        .active(new.purpose)
                        .await?
                        .ok_or_else(|| encx::Error::unavailable("key creation raced; try again")),
                    Err(e) => Err(unavailable("insert", e)),
                }
            }

            async fn set_state(&self, id: Uuid, state: KekState) -> encx::Result<()> {
                let current = self
                    .get(id)
                    .await?
                    .ok_or_else(|| encx::Error::key_not_found(format!("key {id}")))?;
                if current.state == KekState::Active && state != KekState::Active {
                    return Err(encx::Error::config(format!(
                        "key {id} is active: rotate to a new key before retiring or destroying it"
                    )));
                }
                if current.state == KekState::Destroyed && state != KekState::Destroyed {
                    return Err(encx::Error::config(format!("key {id} is destroyed and cannot come back")));
                }
                // Written only if the state is still the one checked above: two processes
                // changing one key at once cannot both win (say, one destroying it while the
                // other makes it active again).
                let result = if state == KekState::Destroyed {
                    let sql = format!(
                        "UPDATE {} SET state = {}, updated_at = {}, wrapped = {} \
                         WHERE id = {} AND state = {}{}",
                        self.table(), $p(1), $p(2), $p(3), $p(4), $p(5), self.scope(6, $p)
                    );
                    scoped!(self, sqlx::query(crate::database::trusted(&sql))
                        .bind(state.as_str())
                        .bind(now_millis())
                        .bind(Vec::<u8>::new())
                        .bind(id)
                        .bind(current.state.as_str()))
                        .execute(&self.pool)
                        .await
                } else {
                    let sql = format!(
                        "UPDATE {} SET state = {}, updated_at = {} WHERE id = {} AND state = {}{}",
                        self.table(), $p(1), $p(2), $p(3), $p(4), self.scope(5, $p)
                    );
                    scoped!(self, sqlx::query(crate::database::trusted(&sql))
                        .bind(state.as_str())
                        .bind(now_millis())
                        .bind(id)
                        .bind(current.state.as_str()))
                        .execute(&self.pool)
                        .await
                };
                let done = result.map_err(|e| unavailable("set_state", e))?;
                if done.rows_affected() == 0 && current.state != state {
                    return Err(encx::Error::config(format!(
                        "key {id} changed state while this change was made; look at it again"
                    )));
                }
                Ok(())
            }

            async fn replace_wrapped(
                &self,
                id: Uuid,
                old: &[u8],
                new: &[u8],
                root_key: &str,
            ) -> encx::Result<bool> {
                if old.is_empty() {
                    return Ok(false); // a destroyed key stays destroyed
                }
                let sql = format!(
                    "UPDATE {} SET wrapped = {}, root_key = {}, updated_at = {} \
                     WHERE id = {} AND wrapped = {}{}",
                    self.table(), $p(1), $p(2), $p(3), $p(4), $p(5), self.scope(6, $p)
                );
                let done = scoped!(self, sqlx::query(crate::database::trusted(&sql))
                    .bind(new)
                    .bind(root_key)
                    .bind(now_millis())
                    .bind(id)
                    .bind(old))
                    .execute(&self.pool)
                    .await
                    .map_err(|e| unavailable("replace_wrapped", e))?;
                Ok(done.rows_affected() == 1)
            }
        }

        impl SqlKekStore<$db> {
            /// One attempt: `Ok(None)` when `expected` is no longer the active key.
            async fn try_insert_active(
                &self,
                new: &encx::NewKek,
                expected: Option<Uuid>,
            ) -> Result<Option<StoredKek>, sqlx::Error> {
                // SQLite: take the write lock up front, or two readers cannot both upgrade.
                let mut tx = match $begin {
                    Some(statement) => self.pool.begin_with(statement).await?,
                    None => self.pool.begin().await?,
                };
                let now = now_millis();
                if let Some(old) = expected {
                    let retire = format!(
                        "UPDATE {} SET state = 'retired', updated_at = {} \
                         WHERE id = {} AND purpose = {} AND state = 'active'{}",
                        self.table(), $p(1), $p(2), $p(3), self.scope(4, $p)
                    );
                    let done = scoped!(self, sqlx::query(crate::database::trusted(&retire))
                        .bind(now)
                        .bind(old)
                        .bind(new.purpose.as_str()))
                        .execute(&mut *tx)
                        .await?;
                    if done.rows_affected() != 1 {
                        tx.rollback().await?;
                        return Ok(None);
                    }
                }
                // One statement, so one snapshot: the highest version and whether any key is
                // still active. (Two statements could straddle another process's commit under
                // READ COMMITTED and create a second active key.)
                let sql = format!(
                    "SELECT COALESCE(MAX(version), 0), \
                            COALESCE(MAX(CASE WHEN state = 'active' THEN version ELSE 0 END), 0) \
                     FROM {} WHERE purpose = {}{}",
                    self.table(), $p(1), self.scope(2, $p)
                );
                let (max, active): (i64, i64) = scoped!(self, sqlx::query_as(crate::database::trusted(&sql))
                    .bind(new.purpose.as_str()))
                    .fetch_one(&mut *tx)
                    .await?;
                // The caller's key must be the next version (checked arithmetic: a counter at
                // i64::MAX refuses, never wraps), and no other key may still be active.
                if active > 0 || max.checked_add(1) != Some(new.version) {
                    tx.rollback().await?;
                    return Ok(None);
                }
                let version = new.version;
                let (tenant_column, tenant_value) = match self.tenant {
                    Some(_) => (", tenant", format!(", {}", $p(8))),
                    None => ("", String::new()),
                };
                let insert = format!(
                    "INSERT INTO {} ({COLUMNS}{tenant_column}) \
                     VALUES ({}, {}, {}, {}, {}, 'active', {}, {}{tenant_value})",
                    self.table(), $p(1), $p(2), $p(3), $p(4), $p(5), $p(6), $p(7)
                );
                scoped!(self, sqlx::query(crate::database::trusted(&insert))
                    .bind(new.id)
                    .bind(new.purpose.as_str())
                    .bind(version)
                    .bind(&new.root_key)
                    .bind(&new.wrapped)
                    .bind(now)
                    .bind(now))
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(Some(StoredKek {
                    id: new.id,
                    purpose: new.purpose,
                    version,
                    root_key: new.root_key.clone(),
                    wrapped: new.wrapped.clone(),
                    state: KekState::Active,
                    created_at: time(now),
                    updated_at: time(now),
                }))
            }
        }
    };
}

#[cfg(feature = "postgres")]
impl_store!(
    sqlx::Postgres,
    crate::database::dialect::dollar,
    None::<&'static str>
);
#[cfg(feature = "mysql")]
impl_store!(
    sqlx::MySql,
    crate::database::dialect::question,
    None::<&'static str>
);
#[cfg(feature = "sqlite")]
impl_store!(
    sqlx::Sqlite,
    crate::database::dialect::question,
    Some("BEGIN IMMEDIATE")
);

/// The `encx_keks` table on one kind of database (part of
/// [`EncxDatabase`](crate::EncxDatabase)).
#[doc(hidden)]
pub trait KekTable: sqlx::Database {
    /// The `encx_keks` table of `pool` as a key store.
    fn kek_store(pool: Pool<Self>) -> Arc<dyn KekStore>;
}

macro_rules! impl_kek_table {
    ($db:ty) => {
        impl KekTable for $db {
            fn kek_store(pool: Pool<Self>) -> Arc<dyn KekStore> {
                Arc::new(SqlKekStore::<$db>::new(pool))
            }
        }
    };
}

#[cfg(feature = "postgres")]
impl_kek_table!(sqlx::Postgres);
#[cfg(feature = "mysql")]
impl_kek_table!(sqlx::MySql);
#[cfg(feature = "sqlite")]
impl_kek_table!(sqlx::Sqlite);
