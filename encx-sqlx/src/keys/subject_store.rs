//! [`SqlSubjectKeyStore`]: the `encx_subject_keys` table as an [`encx::SubjectKeyStore`], on
//! PostgreSQL, MySQL and SQLite (run [`migrate`](crate::migrate) on its pool first).
//!
//! Give it a pool of its own database to keep subject keys out of the data's backups: erasing
//! a subject then reaches every copy of the data, provided the key database's own backups are
//! short-lived (see `docs/gdpr.md`). Several processes can share it: `UNIQUE (subject,
//! version)` lets one of two processes creating the same subject key win, and the other adopts
//! the winner's key.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use encx::{ErasureEntry, ErasureLedger, NewSubjectKey, StoredSubjectKey, SubjectKeyStore};
use futures_util::future::BoxFuture;
use sqlx::{Database, Pool, Row};
use uuid::Uuid;

use crate::database::time::{millis, now_millis, time_of_millis as time};
use crate::error::{is_unique_violation, unavailable};

/// The `encx_subject_keys` table of one database pool.
pub struct SqlSubjectKeyStore<DB: sqlx::Database> {
    pool: Pool<DB>,
}

impl<DB: sqlx::Database> SqlSubjectKeyStore<DB> {
    /// A store over `pool` (whose database has had [`migrate`](crate::migrate) run).
    pub fn new(pool: Pool<DB>) -> Self {
        SqlSubjectKeyStore { pool }
    }
}

impl<DB: sqlx::Database> fmt::Debug for SqlSubjectKeyStore<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlSubjectKeyStore")
            .field("database", &DB::NAME)
            .finish()
    }
}

fn from_row<R: Row>(row: &R) -> encx::Result<StoredSubjectKey>
where
    for<'r> &'r str: sqlx::ColumnIndex<R>,
    for<'r> Uuid: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Vec<u8>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let get_err = |e| unavailable("reading encx_subject_keys", e);
    let erased_at: Option<i64> = row.try_get("erased_at").map_err(get_err)?;
    Ok(StoredSubjectKey {
        id: row.try_get("id").map_err(get_err)?,
        subject: row.try_get("subject").map_err(get_err)?,
        version: row.try_get("version").map_err(get_err)?,
        wrapped: row.try_get("wrapped").map_err(get_err)?,
        created_at: time(row.try_get("created_at").map_err(get_err)?),
        erased_at: erased_at.map(time),
    })
}

const COLUMNS: &str = "id, subject, version, wrapped, created_at, erased_at";

macro_rules! impl_store {
    ($db:ty, $p:expr) => {
        #[async_trait]
        impl SubjectKeyStore for SqlSubjectKeyStore<$db> {
            async fn latest(&self, subject: &[u8]) -> encx::Result<Option<StoredSubjectKey>> {
                let sql = format!(
                    "SELECT {COLUMNS} FROM encx_subject_keys WHERE subject = {} \
                     ORDER BY version DESC LIMIT 1",
                    $p(1)
                );
                let row = sqlx::query(crate::database::trusted(&sql))
                    .bind(subject)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(|e| unavailable("subject key", e))?;
                row.as_ref().map(from_row).transpose()
            }

            async fn get(&self, id: Uuid) -> encx::Result<Option<StoredSubjectKey>> {
                let sql = format!("SELECT {COLUMNS} FROM encx_subject_keys WHERE id = {}", $p(1));
                let row = sqlx::query(crate::database::trusted(&sql))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(|e| unavailable("subject key by id", e))?;
                row.as_ref().map(from_row).transpose()
            }

            async fn insert(&self, new: NewSubjectKey) -> encx::Result<StoredSubjectKey> {
                self.insert_row(new.id, &new.subject, new.version, Some(&new.wrapped))
                    .await
            }

            async fn versions(&self, subject: &[u8]) -> encx::Result<Vec<StoredSubjectKey>> {
                let sql = format!(
                    "SELECT {COLUMNS} FROM encx_subject_keys WHERE subject = {} ORDER BY version",
                    $p(1)
                );
                let rows = sqlx::query(crate::database::trusted(&sql))
                    .bind(subject)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(|e| unavailable("subject key versions", e))?;
                rows.iter().map(from_row).collect()
            }

            async fn tombstone(&self, subject: &[u8]) -> encx::Result<StoredSubjectKey> {
                if let Some(row) = self.latest(subject).await? {
                    return Ok(row);
                }
                self.insert_row(Uuid::new_v4(), subject, 1, None).await
            }

            async fn live_page(
                &self,
                after: Option<Uuid>,
                limit: usize,
            ) -> encx::Result<Vec<StoredSubjectKey>> {
                let fail = |e| unavailable("subject key page", e);
                let rows = match after {
                    Some(after) => {
                        let sql = format!(
                            "SELECT {COLUMNS} FROM encx_subject_keys \
                             WHERE wrapped IS NOT NULL AND id > {} ORDER BY id LIMIT {limit}",
                            $p(1)
                        );
                        sqlx::query(crate::database::trusted(&sql)).bind(after).fetch_all(&self.pool).await
                    }
                    None => {
                        let sql = format!(
                            "SELECT {COLUMNS} FROM encx_subject_keys \
                             WHERE wrapped IS NOT NULL ORDER BY id LIMIT {limit}"
                        );
                        sqlx::query(crate::database::trusted(&sql)).fetch_all(&self.pool).await
                    }
                }
                .map_err(fail)?;
                rows.iter().map(from_row).collect()
            }

            async fn replace_wrapped(
                &self,
                id: Uuid,
                old: &[u8],
                new: &[u8],
            ) -> encx::Result<bool> {
                let sql = format!(
                    "UPDATE encx_subject_keys SET wrapped = {} WHERE id = {} AND wrapped = {}",
                    $p(1), $p(2), $p(3)
                );
                let done = sqlx::query(crate::database::trusted(&sql))
                    .bind(new)
                    .bind(id)
                    .bind(old)
                    .execute(&self.pool)
                    .await
                    .map_err(|e| unavailable("subject key rewrap", e))?;
                Ok(done.rows_affected() > 0)
            }

            async fn erase(
                &self,
                subject: &[u8],
                up_to_version: Option<i64>,
            ) -> encx::Result<Vec<Uuid>> {
                let fail = |e| unavailable("subject erasure", e);
                let mut tx = self.pool.begin().await.map_err(fail)?;
                let ids = Self::erase_on(&mut tx, subject, up_to_version).await?;
                tx.commit().await.map_err(fail)?;
                Ok(ids)
            }
        }

        impl SqlSubjectKeyStore<$db> {
            /// Stores a key row (a tombstone when `wrapped` is `None`) unless the subject
            /// already has one of this version; the subject's latest row afterwards.
            async fn insert_row(
                &self,
                id: Uuid,
                subject: &[u8],
                version: i64,
                wrapped: Option<&[u8]>,
            ) -> encx::Result<StoredSubjectKey> {
                let sql = format!(
                    "INSERT INTO encx_subject_keys ({COLUMNS}) VALUES ({}, {}, {}, {}, {}, {})",
                    $p(1), $p(2), $p(3), $p(4), $p(5), $p(6)
                );
                let now = now_millis();
                let inserted = sqlx::query(crate::database::trusted(&sql))
                    .bind(id)
                    .bind(subject)
                    .bind(version)
                    .bind(wrapped)
                    .bind(now)
                    .bind(wrapped.is_none().then_some(now))
                    .execute(&self.pool)
                    .await;
                match inserted {
                    // Lost the race for this version: adopt the winner's row.
                    Ok(_) => {}
                    Err(e) if is_unique_violation(&e) => {}
                    Err(e) => return Err(unavailable("subject key insert", e)),
                }
                self.latest(subject)
                    .await?
                    .ok_or_else(|| encx::Error::unavailable("subject key creation raced; try again"))
            }

            /// [`SubjectKeyStore::erase`] on a given connection or transaction.
            pub(crate) async fn erase_on(
                conn: &mut <$db as sqlx::Database>::Connection,
                subject: &[u8],
                up_to_version: Option<i64>,
            ) -> encx::Result<Vec<Uuid>> {
                let fail = |e| unavailable("subject erasure", e);
                let up_to = up_to_version.unwrap_or(i64::MAX);
                // A write first, so that the transaction holds the write lock before it reads:
                // on SQLite a transaction that read first and then writes fails at once
                // (SQLITE_BUSY, no wait) when another connection wrote in between.
                let mark = format!(
                    "UPDATE encx_subject_keys SET erased_at = {} \
                     WHERE subject = {} AND wrapped IS NOT NULL AND version <= {}",
                    $p(1), $p(2), $p(3)
                );
                sqlx::query(crate::database::trusted(&mark))
                    .bind(now_millis())
                    .bind(subject)
                    .bind(up_to)
                    .execute(&mut *conn)
                    .await
                    .map_err(fail)?;
                let select = format!(
                    "SELECT id FROM encx_subject_keys \
                     WHERE subject = {} AND wrapped IS NOT NULL AND version <= {}",
                    $p(1), $p(2)
                );
                let ids: Vec<Uuid> = sqlx::query_scalar(crate::database::trusted(&select))
                    .bind(subject)
                    .bind(up_to)
                    .fetch_all(&mut *conn)
                    .await
                    .map_err(fail)?;
                let update = format!(
                    "UPDATE encx_subject_keys SET wrapped = NULL \
                     WHERE subject = {} AND wrapped IS NOT NULL AND version <= {}",
                    $p(1), $p(2)
                );
                sqlx::query(crate::database::trusted(&update))
                    .bind(subject)
                    .bind(up_to)
                    .execute(&mut *conn)
                    .await
                    .map_err(fail)?;
                Ok(ids)
            }
        }
    };
}

#[cfg(feature = "postgres")]
impl_store!(sqlx::Postgres, crate::database::dialect::dollar);
#[cfg(feature = "mysql")]
impl_store!(sqlx::MySql, crate::database::dialect::question);
#[cfg(feature = "sqlite")]
impl_store!(sqlx::Sqlite, crate::database::dialect::question);

/// The `encx_erasure_ledger` table of one database pool, as an [`ErasureLedger`]. Keep it
/// where a restore of the subject key database does not roll it back (the data database, say),
/// and after any such restore run
/// [`SubjectEraser::reapply_ledger`](crate::SubjectEraser::reapply_ledger).
pub struct SqlErasureLedger<DB: sqlx::Database> {
    pool: Pool<DB>,
}

impl<DB: sqlx::Database> SqlErasureLedger<DB> {
    /// A ledger over `pool`.
    pub fn new(pool: Pool<DB>) -> Self {
        SqlErasureLedger { pool }
    }
}

impl<DB: sqlx::Database> fmt::Debug for SqlErasureLedger<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlErasureLedger")
            .field("database", &DB::NAME)
            .finish()
    }
}

macro_rules! impl_ledger {
    ($db:ty, $p:expr) => {
        #[async_trait]
        impl ErasureLedger for SqlErasureLedger<$db> {
            async fn record(&self, entry: &ErasureEntry) -> encx::Result<()> {
                let sql = format!(
                    "INSERT INTO encx_erasure_ledger (subject, erased_at, up_to_version, scope) \
                     VALUES ({}, {}, {}, {})",
                    $p(1),
                    $p(2),
                    $p(3),
                    $p(4)
                );
                sqlx::query(crate::database::trusted(&sql))
                    .bind(&entry.subject)
                    .bind(millis(entry.erased_at))
                    .bind(entry.up_to_version)
                    .bind(entry.scope.as_str())
                    .execute(&self.pool)
                    .await
                    .map_err(|e| unavailable("erasure ledger", e))?;
                Ok(())
            }

            async fn entries(&self) -> encx::Result<Vec<ErasureEntry>> {
                let rows: Vec<(Vec<u8>, i64, Option<i64>, String)> = sqlx::query_as(
                    "SELECT subject, erased_at, up_to_version, scope FROM encx_erasure_ledger \
                     ORDER BY erased_at",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(|e| unavailable("erasure ledger", e))?;
                rows.into_iter()
                    .map(|(subject, at, version, scope)| {
                        Ok(ErasureEntry::stored(subject, time(at), version)
                            .in_scope(encx::ErasureScope::parse(&scope)?))
                    })
                    .collect()
            }
        }
    };
}

#[cfg(feature = "postgres")]
impl_ledger!(sqlx::Postgres, crate::database::dialect::dollar);
#[cfg(feature = "mysql")]
impl_ledger!(sqlx::MySql, crate::database::dialect::question);
#[cfg(feature = "sqlite")]
impl_ledger!(sqlx::Sqlite, crate::database::dialect::question);

/// The subject key and erasure ledger tables on one kind of database (part of
/// [`EncxDatabase`](crate::EncxDatabase)).
#[doc(hidden)]
pub trait SubjectTables: sqlx::Database {
    /// The `encx_subject_keys` table of `pool` as a subject key store.
    fn subject_key_store(pool: Pool<Self>) -> Arc<dyn SubjectKeyStore>;

    /// The `encx_erasure_ledger` table of `pool` as an erasure ledger.
    fn erasure_ledger(pool: Pool<Self>) -> Arc<dyn ErasureLedger>;

    /// Destroys the keys of `subject` up to version `up_to_version` in the `encx_subject_keys`
    /// table `conn` sees; the ids destroyed.
    fn erase_subject_keys<'c>(
        conn: &'c mut <Self as sqlx::Database>::Connection,
        subject: &'c [u8],
        up_to_version: Option<i64>,
    ) -> BoxFuture<'c, encx::Result<Vec<Uuid>>>;
}

macro_rules! impl_subject_tables {
    ($db:ty) => {
        impl SubjectTables for $db {
            fn subject_key_store(pool: Pool<Self>) -> Arc<dyn SubjectKeyStore> {
                Arc::new(SqlSubjectKeyStore::<$db>::new(pool))
            }

            fn erasure_ledger(pool: Pool<Self>) -> Arc<dyn ErasureLedger> {
                Arc::new(SqlErasureLedger::<$db>::new(pool))
            }

            fn erase_subject_keys<'c>(
                conn: &'c mut <Self as Database>::Connection,
                subject: &'c [u8],
                up_to_version: Option<i64>,
            ) -> BoxFuture<'c, encx::Result<Vec<Uuid>>> {
                Box::pin(SqlSubjectKeyStore::<$db>::erase_on(
                    conn,
                    subject,
                    up_to_version,
                ))
            }
        }
    };
}

#[cfg(feature = "postgres")]
impl_subject_tables!(sqlx::Postgres);
#[cfg(feature = "mysql")]
impl_subject_tables!(sqlx::MySql);
#[cfg(feature = "sqlite")]
impl_subject_tables!(sqlx::Sqlite);
