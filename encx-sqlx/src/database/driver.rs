//! What encx-sqlx does the same way on every database but must spell per database, because
//! sqlx's executors, arguments and rows are concrete types: binding and reading stored records,
//! running statements. [`EncxDatabase`](crate::EncxDatabase) requires it, so
//! code generic over `DB: EncxDatabase` needs no other bound; it lives in a private module, so
//! no other crate can implement or call it.
// The `'q` lifetimes are from sqlx 0.8, whose arguments borrowed their values; 0.9's own
// them. Kept for now (a mechanical cleanup), hence the allowance.
#![allow(clippy::needless_lifetimes, clippy::extra_unused_lifetimes)]

use encx::sql::{RecordKey, StoredIn, StoredRecord};
use encx::{BlindIndex, WrappedDek};
use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use sqlx::error::BoxDynError;
use sqlx::Database;

/// A nullable byte string and a count: one row of a `GROUP BY` over key prefixes.
pub type ByteCount = (Option<Vec<u8>>, i64);

/// The per-database half of [`EncxDatabase`](crate::EncxDatabase).
pub trait Driver: Database {
    /// Adds every stored column of `record`.
    fn bind_record<'q, R: StoredRecord>(
        record: &'q R,
        args: &mut <Self as Database>::Arguments,
    ) -> Result<(), BoxDynError>;

    /// Adds `id` as the value of `R`'s id column.
    fn bind_key<'q, R: StoredRecord>(
        id: &'q <R as RecordKey>::Id,
        args: &mut <Self as Database>::Arguments,
    ) -> Result<(), BoxDynError>;

    /// Adds `subject` as the value of `R`'s subject column.
    fn bind_subject<'q, R: StoredRecord>(
        subject: &'q <R as RecordKey>::Subject,
        args: &mut <Self as Database>::Arguments,
    ) -> Result<(), BoxDynError>;

    /// Adds `tenant` as the value of `R`'s tenant column.
    fn bind_tenant<'q, R: StoredRecord>(
        tenant: &'q <R as RecordKey>::Tenant,
        args: &mut <Self as Database>::Arguments,
    ) -> Result<(), BoxDynError>;

    /// Adds each column of `records` as one array (PostgreSQL `UNNEST`), or `None` when the
    /// database or a column type has no arrays.
    fn bind_arrays<R: StoredRecord>(
        records: &[R],
        args: &mut <Self as Database>::Arguments,
    ) -> Option<Result<(), BoxDynError>>;

    /// Adds a byte string.
    fn bind_bytes<'q>(
        bytes: &'q [u8],
        args: &mut <Self as Database>::Arguments,
    ) -> Result<(), BoxDynError>;

    /// Adds a text value.
    fn bind_text<'q>(
        text: &'q str,
        args: &mut <Self as Database>::Arguments,
    ) -> Result<(), BoxDynError>;

    /// Adds a UUID, as sqlx stores one on this database.
    fn bind_uuid<'q>(
        id: &'q uuid::Uuid,
        args: &mut <Self as Database>::Arguments,
    ) -> Result<(), BoxDynError>;

    /// Adds a 64-bit integer.
    fn bind_i64<'q>(
        n: &'q i64,
        args: &mut <Self as Database>::Arguments,
    ) -> Result<(), BoxDynError>;

    /// The column names of `table` (quoted as the dialect needs), in order.
    fn column_names<'c>(
        conn: &'c mut <Self as Database>::Connection,
        table: &'c str,
    ) -> BoxFuture<'c, Result<Vec<String>, sqlx::Error>>;

    /// Runs `sql`, which takes no argument, and reads the first column of every row as text.
    fn fetch_texts<'c>(
        conn: &'c mut <Self as Database>::Connection,
        sql: &'c str,
    ) -> BoxFuture<'c, Result<Vec<String>, sqlx::Error>>;

    /// Column `index` of `row` as a UUID.
    fn read_uuid(row: &<Self as Database>::Row, index: usize) -> Result<uuid::Uuid, sqlx::Error>;

    /// Column `index` of `row` as a 64-bit integer.
    fn read_i64(row: &<Self as Database>::Row, index: usize) -> Result<i64, sqlx::Error>;

    /// Column `index` of `row` as text.
    fn read_text(row: &<Self as Database>::Row, index: usize) -> Result<String, sqlx::Error>;

    /// Column `index` of `row` as a wrapped DEK, `None` for NULL.
    fn read_wrapped_dek(
        row: &<Self as Database>::Row,
        index: usize,
    ) -> Result<Option<WrappedDek>, sqlx::Error>;

    /// Adds a wrapped DEK.
    fn bind_wrapped_dek<'q>(
        wrapped: &'q WrappedDek,
        args: &mut <Self as Database>::Arguments,
    ) -> Result<(), BoxDynError>;

    /// Adds a blind index.
    fn bind_blind_index<'q>(
        index: &'q BlindIndex,
        args: &mut <Self as Database>::Arguments,
    ) -> Result<(), BoxDynError>;

    /// Runs `sql`; the number of rows it touched.
    fn execute<'c, 's: 'c, 'q: 'c>(
        conn: &'c mut <Self as Database>::Connection,
        sql: &'s str,
        args: <Self as Database>::Arguments,
    ) -> BoxFuture<'c, Result<u64, sqlx::Error>>;

    /// Runs `sql` and reads every row as a stored record.
    fn fetch_records<'c, 's: 'c, 'q: 'c, R: StoredRecord>(
        conn: &'c mut <Self as Database>::Connection,
        sql: &'s str,
        args: <Self as Database>::Arguments,
    ) -> BoxFuture<'c, Result<Vec<R>, sqlx::Error>>;

    /// Runs `sql` and reads its rows as stored records while they arrive, so that the caller
    /// decrypts one row while the next ones are on their way, holding one row at a time.
    fn stream_records<'c, 's: 'c, 'q: 'c, R: StoredRecord + 'c>(
        conn: &'c mut <Self as Database>::Connection,
        sql: &'s str,
        args: <Self as Database>::Arguments,
    ) -> BoxStream<'c, Result<R, sqlx::Error>>;

    /// Runs `sql` and reads the first row, if any, as a stored record.
    fn fetch_record<'c, 's: 'c, 'q: 'c, R: StoredRecord>(
        conn: &'c mut <Self as Database>::Connection,
        sql: &'s str,
        args: <Self as Database>::Arguments,
    ) -> BoxFuture<'c, Result<Option<R>, sqlx::Error>>;

    /// Runs `sql` and returns its rows as they come.
    fn fetch_rows<'c, 's: 'c, 'q: 'c>(
        conn: &'c mut <Self as Database>::Connection,
        sql: &'s str,
        args: <Self as Database>::Arguments,
    ) -> BoxFuture<'c, Result<Vec<<Self as Database>::Row>, sqlx::Error>>;

    /// Reads a stored record from a row holding its columns by name.
    fn record_from_row<R: StoredRecord>(row: &<Self as Database>::Row) -> Result<R, sqlx::Error>;

    /// Runs `sql` and reads its first row's first column as a count (`COUNT(*)`).
    fn fetch_count<'c, 's: 'c, 'q: 'c>(
        conn: &'c mut <Self as Database>::Connection,
        sql: &'s str,
        args: <Self as Database>::Arguments,
    ) -> BoxFuture<'c, Result<i64, sqlx::Error>>;

    /// Runs `sql` and tells, for its first row, whether its first column is NULL (`None`: no
    /// row).
    fn fetch_first_is_null<'c, 's: 'c, 'q: 'c>(
        conn: &'c mut <Self as Database>::Connection,
        sql: &'s str,
        args: <Self as Database>::Arguments,
    ) -> BoxFuture<'c, Result<Option<bool>, sqlx::Error>>;

    /// Runs `sql` with `param` bound as a byte string; each row's first column (nullable
    /// bytes) and second (a count).
    fn fetch_byte_counts<'c>(
        conn: &'c mut <Self as Database>::Connection,
        sql: &'c str,
        param: &'c [u8],
    ) -> BoxFuture<'c, Result<Vec<ByteCount>, sqlx::Error>>;
}

macro_rules! impl_driver {
    ($db:ty, $arrays:expr) => {
        impl Driver for $db {
            fn bind_record<'q, R: StoredRecord>(
                record: &'q R,
                args: &mut <Self as Database>::Arguments,
            ) -> Result<(), BoxDynError> {
                <R as StoredIn<$db>>::bind_columns(record, args)
            }

            fn bind_key<'q, R: StoredRecord>(
                id: &'q <R as RecordKey>::Id,
                args: &mut <Self as Database>::Arguments,
            ) -> Result<(), BoxDynError> {
                <R as StoredIn<$db>>::bind_key(id, args)
            }

            fn bind_subject<'q, R: StoredRecord>(
                subject: &'q <R as RecordKey>::Subject,
                args: &mut <Self as Database>::Arguments,
            ) -> Result<(), BoxDynError> {
                <R as StoredIn<$db>>::bind_subject(subject, args)
            }

            fn bind_tenant<'q, R: StoredRecord>(
                tenant: &'q <R as RecordKey>::Tenant,
                args: &mut <Self as Database>::Arguments,
            ) -> Result<(), BoxDynError> {
                <R as StoredIn<$db>>::bind_tenant(tenant, args)
            }

            fn bind_arrays<R: StoredRecord>(
                records: &[R],
                args: &mut <Self as Database>::Arguments,
            ) -> Option<Result<(), BoxDynError>> {
                #[allow(clippy::redundant_closure_call)]
                ($arrays)(records, args)
            }

            fn bind_bytes<'q>(
                bytes: &'q [u8],
                args: &mut <Self as Database>::Arguments,
            ) -> Result<(), BoxDynError> {
                sqlx::Arguments::add(args, bytes)
            }

            fn bind_text<'q>(
                text: &'q str,
                args: &mut <Self as Database>::Arguments,
            ) -> Result<(), BoxDynError> {
                sqlx::Arguments::add(args, text)
            }

            fn bind_uuid<'q>(
                id: &'q uuid::Uuid,
                args: &mut <Self as Database>::Arguments,
            ) -> Result<(), BoxDynError> {
                sqlx::Arguments::add(args, id)
            }

            fn bind_i64<'q>(
                n: &'q i64,
                args: &mut <Self as Database>::Arguments,
            ) -> Result<(), BoxDynError> {
                sqlx::Arguments::add(args, n)
            }

            fn column_names<'c>(
                conn: &'c mut <Self as Database>::Connection,
                table: &'c str,
            ) -> BoxFuture<'c, Result<Vec<String>, sqlx::Error>> {
                use sqlx::{Column, Executor, Statement};
                Box::pin(async move {
                    let sql = format!("SELECT * FROM {table} WHERE 1 = 0");
                    let prepared = conn
                        .prepare(sqlx::SqlSafeStr::into_sql_str(crate::database::trusted(
                            &sql,
                        )))
                        .await?;
                    Ok(prepared
                        .columns()
                        .iter()
                        .map(|c| c.name().to_owned())
                        .collect())
                })
            }

            fn fetch_texts<'c>(
                conn: &'c mut <Self as Database>::Connection,
                sql: &'c str,
            ) -> BoxFuture<'c, Result<Vec<String>, sqlx::Error>> {
                Box::pin(sqlx::query_scalar(crate::database::trusted(sql)).fetch_all(conn))
            }

            fn read_uuid(
                row: &<Self as Database>::Row,
                index: usize,
            ) -> Result<uuid::Uuid, sqlx::Error> {
                sqlx::Row::try_get(row, index)
            }

            fn read_i64(row: &<Self as Database>::Row, index: usize) -> Result<i64, sqlx::Error> {
                sqlx::Row::try_get(row, index)
            }

            fn read_text(
                row: &<Self as Database>::Row,
                index: usize,
            ) -> Result<String, sqlx::Error> {
                sqlx::Row::try_get(row, index)
            }

            fn read_wrapped_dek(
                row: &<Self as Database>::Row,
                index: usize,
            ) -> Result<Option<WrappedDek>, sqlx::Error> {
                sqlx::Row::try_get(row, index)
            }

            fn bind_wrapped_dek<'q>(
                wrapped: &'q WrappedDek,
                args: &mut <Self as Database>::Arguments,
            ) -> Result<(), BoxDynError> {
                sqlx::Arguments::add(args, wrapped)
            }

            fn bind_blind_index<'q>(
                index: &'q BlindIndex,
                args: &mut <Self as Database>::Arguments,
            ) -> Result<(), BoxDynError> {
                sqlx::Arguments::add(args, index)
            }

            fn execute<'c, 's: 'c, 'q: 'c>(
                conn: &'c mut <Self as Database>::Connection,
                sql: &'s str,
                args: <Self as Database>::Arguments,
            ) -> BoxFuture<'c, Result<u64, sqlx::Error>> {
                Box::pin(async move {
                    let done = sqlx::query_with(crate::database::trusted(sql), args)
                        .execute(conn)
                        .await?;
                    Ok(done.rows_affected())
                })
            }

            fn fetch_records<'c, 's: 'c, 'q: 'c, R: StoredRecord>(
                conn: &'c mut <Self as Database>::Connection,
                sql: &'s str,
                args: <Self as Database>::Arguments,
            ) -> BoxFuture<'c, Result<Vec<R>, sqlx::Error>> {
                Box::pin(
                    sqlx::query_with(crate::database::trusted(sql), args)
                        .try_map(|row| <R as StoredIn<$db>>::from_row(&row))
                        .fetch_all(conn),
                )
            }

            fn stream_records<'c, 's: 'c, 'q: 'c, R: StoredRecord + 'c>(
                conn: &'c mut <Self as Database>::Connection,
                sql: &'s str,
                args: <Self as Database>::Arguments,
            ) -> BoxStream<'c, Result<R, sqlx::Error>> {
                Box::pin(
                    sqlx::query_with(crate::database::trusted(sql), args)
                        .try_map(|row| <R as StoredIn<$db>>::from_row(&row))
                        .fetch(conn),
                )
            }

            fn fetch_record<'c, 's: 'c, 'q: 'c, R: StoredRecord>(
                conn: &'c mut <Self as Database>::Connection,
                sql: &'s str,
                args: <Self as Database>::Arguments,
            ) -> BoxFuture<'c, Result<Option<R>, sqlx::Error>> {
                Box::pin(
                    sqlx::query_with(crate::database::trusted(sql), args)
                        .try_map(|row| <R as StoredIn<$db>>::from_row(&row))
                        .fetch_optional(conn),
                )
            }

            fn fetch_rows<'c, 's: 'c, 'q: 'c>(
                conn: &'c mut <Self as Database>::Connection,
                sql: &'s str,
                args: <Self as Database>::Arguments,
            ) -> BoxFuture<'c, Result<Vec<<Self as Database>::Row>, sqlx::Error>> {
                Box::pin(sqlx::query_with(crate::database::trusted(sql), args).fetch_all(conn))
            }

            fn record_from_row<R: StoredRecord>(
                row: &<Self as Database>::Row,
            ) -> Result<R, sqlx::Error> {
                <R as StoredIn<$db>>::from_row(row)
            }

            fn fetch_count<'c, 's: 'c, 'q: 'c>(
                conn: &'c mut <Self as Database>::Connection,
                sql: &'s str,
                args: <Self as Database>::Arguments,
            ) -> BoxFuture<'c, Result<i64, sqlx::Error>> {
                Box::pin(async move {
                    let (count,): (i64,) = sqlx::query_as_with(crate::database::trusted(sql), args)
                        .fetch_one(conn)
                        .await?;
                    Ok(count)
                })
            }

            fn fetch_first_is_null<'c, 's: 'c, 'q: 'c>(
                conn: &'c mut <Self as Database>::Connection,
                sql: &'s str,
                args: <Self as Database>::Arguments,
            ) -> BoxFuture<'c, Result<Option<bool>, sqlx::Error>> {
                use sqlx::{Row, ValueRef};
                Box::pin(
                    sqlx::query_with(crate::database::trusted(sql), args)
                        .try_map(|row: <$db as Database>::Row| Ok(row.try_get_raw(0)?.is_null()))
                        .fetch_optional(conn),
                )
            }

            fn fetch_byte_counts<'c>(
                conn: &'c mut <Self as Database>::Connection,
                sql: &'c str,
                param: &'c [u8],
            ) -> BoxFuture<'c, Result<Vec<ByteCount>, sqlx::Error>> {
                Box::pin(
                    sqlx::query_as(crate::database::trusted(sql))
                        .bind(param)
                        .fetch_all(conn),
                )
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
