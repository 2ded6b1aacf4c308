//! [`EncxDatabase`]: the one bound code generic over the database needs, and the entry points
//! such code calls (migrations, the key stores, the audit table). Each trait it gathers lives
//! with its concern: [`crate::database`] (records, migrations), [`crate::keys`] (the key
//! tables), [`crate::audit`] (the audit table), the secrets' and tokens' SQL.

use encx::schema::Dialect;

use std::sync::Arc;

use encx::{ErasureLedger, KekStore, SubjectKeyStore};
use sqlx::Pool;

use crate::audit::audit_log::{AuditQuery, AuditRecord, AuditTable};
use crate::audit::audit_sink::SqlAuditSink;
use crate::database::driver::Driver;
use crate::database::migrate::Migrate;
use crate::error::Result;
use crate::keys::kek_store::{KekTable, SqlKekStore};
use crate::keys::subject_store::{SqlErasureLedger, SqlSubjectKeyStore, SubjectTables};
use crate::keys::tenant_store::{SqlTenantStore, TenantTables};

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
pub trait EncxDatabase:
    sqlx::Database + Driver + Migrate + KekTable + SubjectTables + TenantTables + AuditTable
{
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

/// Creates or updates encx's own tables (`encx_keks`, `encx_subject_keys`,
/// `encx_erasure_ledger`, `encx_audit`, `encx_schema_migrations`).
///
/// ```no_run
/// # async fn run(pool: sqlx::PgPool) -> encx_sqlx::Result<()> {
/// encx_sqlx::migrate(&pool).await?;
/// # Ok(()) }
/// ```
pub async fn migrate<DB: EncxDatabase>(pool: &Pool<DB>) -> Result<()> {
    DB::run_migrations(pool).await
}

impl<DB: EncxDatabase> SqlKekStore<DB> {
    /// The `encx_keks` table of `pool` as a shared [`KekStore`], in code generic over the
    /// database (where `SqlKekStore<DB>: KekStore` cannot be named).
    ///
    /// ```no_run
    /// # async fn run<DB: encx_sqlx::EncxDatabase>(pool: sqlx::Pool<DB>, root: std::sync::Arc<dyn encx::Keyring>) -> encx_sqlx::Result<()> {
    /// encx_sqlx::migrate(&pool).await?;
    /// let store = encx_sqlx::SqlKekStore::shared(pool.clone());
    /// let crypto = encx::Crypto::builder()
    ///     .keyring(encx::HierarchicalKeyring::new(root.clone(), store.clone()))
    ///     .index_keys_in(store, root)
    ///     .build()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn shared(pool: Pool<DB>) -> Arc<dyn KekStore> {
        DB::kek_store(pool)
    }
}

impl<DB: EncxDatabase> SqlTenantStore<DB> {
    /// The tenant tables of `pool` as a shared [`TenantStore`](encx::keys::tenant::TenantStore),
    /// in code generic over the database.
    ///
    /// ```no_run
    /// # async fn run(keys: sqlx::PgPool, root: encx::LocalKeyring) -> encx_sqlx::Result<()> {
    /// encx_sqlx::migrate(&keys).await?;
    /// let crypto = encx::Crypto::builder()
    ///     .keyring(root)
    ///     .tenants(encx_sqlx::SqlTenantStore::shared(keys.clone()))
    ///     .build()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn shared(pool: Pool<DB>) -> Arc<dyn encx::keys::tenant::TenantStore> {
        DB::tenant_store(pool)
    }
}

impl<DB: EncxDatabase> SqlSubjectKeyStore<DB> {
    /// The `encx_subject_keys` table of `pool` as a shared [`SubjectKeyStore`], in code
    /// generic over the database.
    ///
    /// ```no_run
    /// # async fn run(data: sqlx::SqlitePool, keys: sqlx::PgPool, root: encx::LocalKeyring) -> encx_sqlx::Result<()> {
    /// encx_sqlx::migrate(&keys).await?; // the subject keys live in a database of their own
    /// let crypto = encx::Crypto::builder()
    ///     .keyring(root)
    ///     .subject_keys_in(encx_sqlx::SqlSubjectKeyStore::shared(keys))
    ///     .build()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn shared(pool: Pool<DB>) -> Arc<dyn SubjectKeyStore> {
        DB::subject_key_store(pool)
    }
}

impl<DB: EncxDatabase> SqlErasureLedger<DB> {
    /// The ledger of `pool` (whose database has had [`migrate`] run), shared.
    pub fn shared(pool: Pool<DB>) -> Arc<dyn ErasureLedger> {
        DB::erasure_ledger(pool)
    }
}

impl SqlAuditSink {
    /// A sink whose queue holds at most `capacity` events, and its writer task on the current
    /// tokio runtime (call it inside one). The task ends when the sink is dropped.
    pub fn spawn<DB: EncxDatabase>(pool: Pool<DB>, capacity: usize) -> Arc<Self> {
        SqlAuditSink::spawn_writer(pool, capacity)
    }
}

/// The events of the `encx_audit` table of `pool` that match `query`, newest first.
///
/// ```no_run
/// # async fn run(pool: sqlx::PgPool) -> encx_sqlx::Result<()> {
/// use encx_sqlx::{read_audit, AuditQuery};
/// for event in read_audit(&pool, &AuditQuery::default().subject("user-42")).await? {
///     println!("{} {} {} {}", event.at, event.action, event.table_name, event.outcome);
/// }
/// # Ok(()) }
/// ```
pub async fn read_audit<DB: EncxDatabase>(
    pool: &Pool<DB>,
    query: &AuditQuery,
) -> Result<Vec<AuditRecord>> {
    query.sql_limit()?;
    Ok(DB::read_audit(pool, query).await?)
}

/// How many rows `encx_keks` holds in `pool`'s database; `None` when the table does not exist
/// (encx's [`migrate`] never ran there). What the operator CLI checks before a read-only
/// command, which must create nothing.
///
/// ```no_run
/// # async fn run(pool: sqlx::PgPool) -> encx_sqlx::Result<()> {
/// if encx_sqlx::kek_rows(&pool).await?.is_none() {
///     println!("no encx tables here: run encx_sqlx::migrate first");
/// }
/// # Ok(()) }
/// ```
pub async fn kek_rows<DB: EncxDatabase>(pool: &Pool<DB>) -> Result<Option<u64>> {
    let mut conn = pool.acquire().await?;
    match DB::fetch_count(
        &mut conn,
        "SELECT COUNT(*) FROM encx_keks",
        Default::default(),
    )
    .await
    {
        Ok(n) => Ok(Some(u64::try_from(n).unwrap_or(0))),
        Err(e) if crate::error::is_missing_table(&e) => Ok(None),
        Err(e) => Err(e.into()),
    }
}
