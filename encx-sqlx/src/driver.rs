//! What encx-sqlx does the same way on every database but must spell per database, because
//! sqlx's executors, arguments and rows are concrete types: binding and reading stored records,
//! running statements, the key store. [`EncxDatabase`](crate::EncxDatabase) requires it, so
//! code generic over `DB: EncxDatabase` needs no other bound; it lives in a private module, so
//! no other crate can implement or call it.

use std::sync::Arc;

use encx::audit::AuditEvent;
use encx::sql::{RecordKey, StoredIn, StoredRecord};
use encx::{BlindIndex, ErasureLedger, KekStore, SubjectKeyStore, WrappedDek};
use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use sqlx::error::BoxDynError;
use sqlx::{Database, Pool};
use uuid::Uuid;

use crate::audit_log::{AuditQuery, AuditRecord, AuditRow};
use crate::kek_store::SqlKekStore;
use crate::migrate::millis;
use crate::subject_store::{SqlErasureLedger, SqlSubjectKeyStore};

/// A nullable byte string and a count: one row of a `GROUP BY` over key prefixes.
pub type ByteCount = (Option<Vec<u8>>, i64);

/// The per-database half of [`EncxDatabase`](crate::EncxDatabase).
pub trait Driver: Database {
    /// Adds every stored column of `record`.
    fn bind_record<'q, R: StoredRecord>(
        record: &'q R,
        args: &mut <Self as Database>::Arguments<'q>,
    ) -> Result<(), BoxDynError>;

    /// Adds `id` as the value of `R`'s id column.
    fn bind_key<'q, R: StoredRecord>(
        id: &'q <R as RecordKey>::Id,
        args: &mut <Self as Database>::Arguments<'q>,
    ) -> Result<(), BoxDynError>;

    /// Adds `subject` as the value of `R`'s subject column.
    fn bind_subject<'q, R: StoredRecord>(
        subject: &'q <R as RecordKey>::Subject,
        args: &mut <Self as Database>::Arguments<'q>,
    ) -> Result<(), BoxDynError>;

    /// Adds each column of `records` as one array (PostgreSQL `UNNEST`), or `None` when the
    /// database or a column type has no arrays.
    fn bind_arrays<R: StoredRecord>(
        records: &[R],
        args: &mut <Self as Database>::Arguments<'_>,
    ) -> Option<Result<(), BoxDynError>>;

    /// Adds a byte string.
    fn bind_bytes<'q>(
        bytes: &'q [u8],
        args: &mut <Self as Database>::Arguments<'q>,
    ) -> Result<(), BoxDynError>;

    /// Adds a text value.
    fn bind_text<'q>(
        text: &'q str,
        args: &mut <Self as Database>::Arguments<'q>,
    ) -> Result<(), BoxDynError>;

    /// Adds a wrapped DEK.
    fn bind_wrapped_dek<'q>(
        wrapped: &'q WrappedDek,
        args: &mut <Self as Database>::Arguments<'q>,
    ) -> Result<(), BoxDynError>;

    /// Adds a blind index.
    fn bind_blind_index<'q>(
        index: &'q BlindIndex,
        args: &mut <Self as Database>::Arguments<'q>,
    ) -> Result<(), BoxDynError>;

    /// Runs `sql`; the number of rows it touched.
    fn execute<'c, 's: 'c, 'q: 'c>(
        conn: &'c mut <Self as Database>::Connection,
        sql: &'s str,
        args: <Self as Database>::Arguments<'q>,
    ) -> BoxFuture<'c, Result<u64, sqlx::Error>>;

    /// Runs `sql` and reads every row as a stored record.
    fn fetch_records<'c, 's: 'c, 'q: 'c, R: StoredRecord>(
        conn: &'c mut <Self as Database>::Connection,
        sql: &'s str,
        args: <Self as Database>::Arguments<'q>,
    ) -> BoxFuture<'c, Result<Vec<R>, sqlx::Error>>;

    /// Runs `sql` and reads its rows as stored records while they arrive, so that the caller
    /// decrypts one row while the next ones are on their way, holding one row at a time.
    fn stream_records<'c, 's: 'c, 'q: 'c, R: StoredRecord + 'c>(
        conn: &'c mut <Self as Database>::Connection,
        sql: &'s str,
        args: <Self as Database>::Arguments<'q>,
    ) -> BoxStream<'c, Result<R, sqlx::Error>>;

    /// Runs `sql` and reads the first row, if any, as a stored record.
    fn fetch_record<'c, 's: 'c, 'q: 'c, R: StoredRecord>(
        conn: &'c mut <Self as Database>::Connection,
        sql: &'s str,
        args: <Self as Database>::Arguments<'q>,
    ) -> BoxFuture<'c, Result<Option<R>, sqlx::Error>>;

    /// Runs `sql` and returns its rows as they come.
    fn fetch_rows<'c, 's: 'c, 'q: 'c>(
        conn: &'c mut <Self as Database>::Connection,
        sql: &'s str,
        args: <Self as Database>::Arguments<'q>,
    ) -> BoxFuture<'c, Result<Vec<<Self as Database>::Row>, sqlx::Error>>;

    /// Reads a stored record from a row holding its columns by name.
    fn record_from_row<R: StoredRecord>(row: &<Self as Database>::Row) -> Result<R, sqlx::Error>;

    /// Runs `sql` and reads its first row's first column as a count (`COUNT(*)`).
    fn fetch_count<'c, 's: 'c, 'q: 'c>(
        conn: &'c mut <Self as Database>::Connection,
        sql: &'s str,
        args: <Self as Database>::Arguments<'q>,
    ) -> BoxFuture<'c, Result<i64, sqlx::Error>>;

    /// Runs `sql` and tells, for its first row, whether its first column is NULL (`None`: no
    /// row).
    fn fetch_first_is_null<'c, 's: 'c, 'q: 'c>(
        conn: &'c mut <Self as Database>::Connection,
        sql: &'s str,
        args: <Self as Database>::Arguments<'q>,
    ) -> BoxFuture<'c, Result<Option<bool>, sqlx::Error>>;

    /// Runs `sql` with `param` bound as a byte string; each row's first column (nullable
    /// bytes) and second (a count).
    fn fetch_byte_counts<'c>(
        conn: &'c mut <Self as Database>::Connection,
        sql: &'c str,
        param: &'c [u8],
    ) -> BoxFuture<'c, Result<Vec<ByteCount>, sqlx::Error>>;

    /// The `encx_keks` table of `pool` as a key store.
    fn kek_store(pool: Pool<Self>) -> Arc<dyn KekStore>;

    /// The `encx_subject_keys` table of `pool` as a subject key store.
    fn subject_key_store(pool: Pool<Self>) -> Arc<dyn SubjectKeyStore>;

    /// Inserts `events` into `encx_audit`, in one statement.
    fn write_audit<'a>(
        pool: &'a Pool<Self>,
        events: &'a [AuditEvent],
    ) -> BoxFuture<'a, Result<(), sqlx::Error>>;

    /// The `encx_audit` rows of `pool` that match `query`, newest first.
    fn read_audit<'a>(
        pool: &'a Pool<Self>,
        query: &'a AuditQuery,
    ) -> BoxFuture<'a, Result<Vec<AuditRecord>, sqlx::Error>>;

    /// The `encx_erasure_ledger` table of `pool` as an erasure ledger.
    fn erasure_ledger(pool: Pool<Self>) -> Arc<dyn ErasureLedger>;

    /// Destroys the keys of `subject` up to version `up_to_version` in the `encx_subject_keys`
    /// table `conn` sees; the ids destroyed.
    fn erase_subject_keys<'c>(
        conn: &'c mut <Self as Database>::Connection,
        subject: &'c [u8],
        up_to_version: Option<i64>,
    ) -> BoxFuture<'c, encx::Result<Vec<Uuid>>>;
}

macro_rules! impl_driver {
    ($db:ty, $arrays:expr) => {
        impl Driver for $db {
            fn bind_record<'q, R: StoredRecord>(
                record: &'q R,
                args: &mut <Self as Database>::Arguments<'q>,
            ) -> Result<(), BoxDynError> {
                <R as StoredIn<$db>>::bind_columns(record, args)
            }

            fn bind_key<'q, R: StoredRecord>(
                id: &'q <R as RecordKey>::Id,
                args: &mut <Self as Database>::Arguments<'q>,
            ) -> Result<(), BoxDynError> {
                <R as StoredIn<$db>>::bind_key(id, args)
            }

            fn bind_subject<'q, R: StoredRecord>(
                subject: &'q <R as RecordKey>::Subject,
                args: &mut <Self as Database>::Arguments<'q>,
            ) -> Result<(), BoxDynError> {
                <R as StoredIn<$db>>::bind_subject(subject, args)
            }

            fn bind_arrays<R: StoredRecord>(
                records: &[R],
                args: &mut <Self as Database>::Arguments<'_>,
            ) -> Option<Result<(), BoxDynError>> {
                #[allow(clippy::redundant_closure_call)]
                ($arrays)(records, args)
            }

            fn bind_bytes<'q>(
                bytes: &'q [u8],
                args: &mut <Self as Database>::Arguments<'q>,
            ) -> Result<(), BoxDynError> {
                sqlx::Arguments::add(args, bytes)
            }

            fn bind_text<'q>(
                text: &'q str,
                args: &mut <Self as Database>::Arguments<'q>,
            ) -> Result<(), BoxDynError> {
                sqlx::Arguments::add(args, text)
            }

            fn bind_wrapped_dek<'q>(
                wrapped: &'q WrappedDek,
                args: &mut <Self as Database>::Arguments<'q>,
            ) -> Result<(), BoxDynError> {
                sqlx::Arguments::add(args, wrapped)
            }

            fn bind_blind_index<'q>(
                index: &'q BlindIndex,
                args: &mut <Self as Database>::Arguments<'q>,
            ) -> Result<(), BoxDynError> {
                sqlx::Arguments::add(args, index)
            }

            fn execute<'c, 's: 'c, 'q: 'c>(
                conn: &'c mut <Self as Database>::Connection,
                sql: &'s str,
                args: <Self as Database>::Arguments<'q>,
            ) -> BoxFuture<'c, Result<u64, sqlx::Error>> {
                Box::pin(async move {
                    let done = sqlx::query_with(sql, args).execute(conn).await?;
                    Ok(done.rows_affected())
                })
            }

            fn fetch_records<'c, 's: 'c, 'q: 'c, R: StoredRecord>(
                conn: &'c mut <Self as Database>::Connection,
                sql: &'s str,
                args: <Self as Database>::Arguments<'q>,
            ) -> BoxFuture<'c, Result<Vec<R>, sqlx::Error>> {
                Box::pin(
                    sqlx::query_with(sql, args)
                        .try_map(|row| <R as StoredIn<$db>>::from_row(&row))
                        .fetch_all(conn),
                )
            }

            fn stream_records<'c, 's: 'c, 'q: 'c, R: StoredRecord + 'c>(
                conn: &'c mut <Self as Database>::Connection,
                sql: &'s str,
                args: <Self as Database>::Arguments<'q>,
            ) -> BoxStream<'c, Result<R, sqlx::Error>> {
                Box::pin(
                    sqlx::query_with(sql, args)
                        .try_map(|row| <R as StoredIn<$db>>::from_row(&row))
                        .fetch(conn),
                )
            }

            fn fetch_record<'c, 's: 'c, 'q: 'c, R: StoredRecord>(
                conn: &'c mut <Self as Database>::Connection,
                sql: &'s str,
                args: <Self as Database>::Arguments<'q>,
            ) -> BoxFuture<'c, Result<Option<R>, sqlx::Error>> {
                Box::pin(
                    sqlx::query_with(sql, args)
                        .try_map(|row| <R as StoredIn<$db>>::from_row(&row))
                        .fetch_optional(conn),
                )
            }

            fn fetch_rows<'c, 's: 'c, 'q: 'c>(
                conn: &'c mut <Self as Database>::Connection,
                sql: &'s str,
                args: <Self as Database>::Arguments<'q>,
            ) -> BoxFuture<'c, Result<Vec<<Self as Database>::Row>, sqlx::Error>> {
                Box::pin(sqlx::query_with(sql, args).fetch_all(conn))
            }

            fn record_from_row<R: StoredRecord>(
                row: &<Self as Database>::Row,
            ) -> Result<R, sqlx::Error> {
                <R as StoredIn<$db>>::from_row(row)
            }

            fn fetch_count<'c, 's: 'c, 'q: 'c>(
                conn: &'c mut <Self as Database>::Connection,
                sql: &'s str,
                args: <Self as Database>::Arguments<'q>,
            ) -> BoxFuture<'c, Result<i64, sqlx::Error>> {
                Box::pin(async move {
                    let (count,): (i64,) = sqlx::query_as_with(sql, args).fetch_one(conn).await?;
                    Ok(count)
                })
            }

            fn fetch_first_is_null<'c, 's: 'c, 'q: 'c>(
                conn: &'c mut <Self as Database>::Connection,
                sql: &'s str,
                args: <Self as Database>::Arguments<'q>,
            ) -> BoxFuture<'c, Result<Option<bool>, sqlx::Error>> {
                use sqlx::{Row, ValueRef};
                Box::pin(
                    sqlx::query_with(sql, args)
                        .try_map(|row: <$db as Database>::Row| Ok(row.try_get_raw(0)?.is_null()))
                        .fetch_optional(conn),
                )
            }

            fn fetch_byte_counts<'c>(
                conn: &'c mut <Self as Database>::Connection,
                sql: &'c str,
                param: &'c [u8],
            ) -> BoxFuture<'c, Result<Vec<ByteCount>, sqlx::Error>> {
                Box::pin(sqlx::query_as(sql).bind(param).fetch_all(conn))
            }

            fn kek_store(pool: Pool<Self>) -> Arc<dyn KekStore> {
                Arc::new(SqlKekStore::<$db>::new(pool))
            }

            fn subject_key_store(pool: Pool<Self>) -> Arc<dyn SubjectKeyStore> {
                Arc::new(SqlSubjectKeyStore::<$db>::new(pool))
            }

            fn write_audit<'a>(
                pool: &'a Pool<Self>,
                events: &'a [AuditEvent],
            ) -> BoxFuture<'a, Result<(), sqlx::Error>> {
                Box::pin(async move {
                    let mut insert = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO encx_audit (at, action, table_name, record, subject, fields, \
                         actor, records, outcome, duration_us) ",
                    );
                    insert.push_values(events, |mut row, e| {
                        row.push_bind(millis(e.at))
                            .push_bind(e.action.as_str())
                            .push_bind(e.table)
                            .push_bind(e.record.as_deref())
                            .push_bind(e.subject.as_deref())
                            .push_bind(e.fields.join(","))
                            .push_bind(e.actor.as_deref())
                            .push_bind(i64::try_from(e.records).unwrap_or(i64::MAX))
                            .push_bind(e.outcome.as_str())
                            .push_bind(i64::try_from(e.duration.as_micros()).unwrap_or(i64::MAX));
                    });
                    insert.build().execute(pool).await?;
                    Ok(())
                })
            }

            fn read_audit<'a>(
                pool: &'a Pool<Self>,
                query: &'a AuditQuery,
            ) -> BoxFuture<'a, Result<Vec<AuditRecord>, sqlx::Error>> {
                Box::pin(async move {
                    let mut select = sqlx::QueryBuilder::<$db>::new(
                        "SELECT at, action, table_name, record, subject, fields, actor, records, \
                         outcome, duration_us FROM encx_audit WHERE 1 = 1",
                    );
                    let text_filters = [
                        (" AND table_name = ", &query.table),
                        (" AND record = ", &query.record),
                        (" AND subject = ", &query.subject),
                        (" AND action = ", &query.action),
                        (" AND actor = ", &query.actor),
                    ];
                    for (sql, value) in text_filters {
                        if let Some(value) = value {
                            select.push(sql).push_bind(value.as_str());
                        }
                    }
                    if let Some(since) = query.since_millis() {
                        select.push(" AND at >= ").push_bind(since);
                    }
                    let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
                    select.push(" ORDER BY at DESC LIMIT ").push_bind(limit);
                    let rows = select.build_query_as::<AuditRow>().fetch_all(pool).await?;
                    Ok(rows.into_iter().map(AuditRecord::from).collect())
                })
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
impl_driver!(sqlx::Postgres, |records: &[R], args| R::pg_bind_arrays(
    records, args
));
#[cfg(feature = "mysql")]
impl_driver!(sqlx::MySql, |_: &[R], _| None);
#[cfg(feature = "sqlite")]
impl_driver!(sqlx::Sqlite, |_: &[R], _| None);
