//! Tables described by name and subject column rather than by a record type: what an eraser
//! built without the application's types (the bare `encx` binary) clears.
// The `'q` lifetimes are from sqlx 0.8, whose arguments borrowed their values; 0.9's own
// them. Kept for now (a mechanical cleanup), hence the allowance.
#![allow(clippy::needless_lifetimes, clippy::extra_unused_lifetimes)]

use std::any::Any;

use encx::schema::{quote_ident, Dialect};
use futures_util::future::BoxFuture;
use sqlx::error::BoxDynError;
use sqlx::{Database, Pool};
use uuid::Uuid;

use super::{transaction_connection, SubjectEraser, SubjectTable};
use crate::database::census::described_columns;
use crate::database::dialect::{placeholder, sparing_keys};
use crate::encx_database::EncxDatabase;
use crate::error::{encode_error, Result};

/// The type of a subject or id column of a table described by name and column rather than by
/// a record type ([`SubjectEraser::described_table`],
/// [`Registry::described_table`](crate::Registry::described_table)): `Uuid`, `String` or
/// `i64`, bound and read as sqlx stores each on every database, as the derive's records do.
pub trait DescribedId: encx::SubjectId + Send + Sync + 'static {
    /// Adds this value to `args`.
    #[doc(hidden)]
    fn bind_to<'q, DB: EncxDatabase>(
        &'q self,
        args: &mut <DB as Database>::Arguments,
    ) -> std::result::Result<(), BoxDynError>;

    /// Column `index` of `row`.
    #[doc(hidden)]
    fn read_from<DB: EncxDatabase>(
        row: &<DB as Database>::Row,
        index: usize,
    ) -> std::result::Result<Self, sqlx::Error>;
}

impl DescribedId for Uuid {
    fn bind_to<'q, DB: EncxDatabase>(
        &'q self,
        args: &mut <DB as Database>::Arguments,
    ) -> std::result::Result<(), BoxDynError> {
        DB::bind_uuid(self, args)
    }

    fn read_from<DB: EncxDatabase>(
        row: &<DB as Database>::Row,
        index: usize,
    ) -> std::result::Result<Self, sqlx::Error> {
        DB::read_uuid(row, index)
    }
}

impl DescribedId for String {
    fn bind_to<'q, DB: EncxDatabase>(
        &'q self,
        args: &mut <DB as Database>::Arguments,
    ) -> std::result::Result<(), BoxDynError> {
        DB::bind_text(self, args)
    }

    fn read_from<DB: EncxDatabase>(
        row: &<DB as Database>::Row,
        index: usize,
    ) -> std::result::Result<Self, sqlx::Error> {
        DB::read_text(row, index)
    }
}

impl DescribedId for i64 {
    fn bind_to<'q, DB: EncxDatabase>(
        &'q self,
        args: &mut <DB as Database>::Arguments,
    ) -> std::result::Result<(), BoxDynError> {
        DB::bind_i64(self, args)
    }

    fn read_from<DB: EncxDatabase>(
        row: &<DB as Database>::Row,
        index: usize,
    ) -> std::result::Result<Self, sqlx::Error> {
        DB::read_i64(row, index)
    }
}

/// One described table: its statements, built from the columns the database reports.
struct DescribedTable<DB: Database> {
    pool: Pool<DB>,
    table: &'static str,
    dialect: Dialect,
    /// `UPDATE t SET encx_dek = NULL, <every *_bidx> = NULL WHERE <subject> = ? AND encx_dek
    /// IS NOT NULL`, as `Repo::erase_subject_rows` runs it.
    erase: String,
    /// `SELECT COUNT(*) FROM t WHERE <subject> = ? AND encx_dek IS NOT NULL`.
    count: String,
}

impl<DB: EncxDatabase> DescribedTable<DB> {
    async fn read(pool: Pool<DB>, table: &str, subject_column: &str) -> Result<Self> {
        let dialect = DB::DIALECT;
        let quoted = quote_ident(dialect, table);
        let columns =
            described_columns(&pool, dialect, table, subject_column, "data subject").await?;
        let dek = quote_ident(dialect, "encx_dek");
        let mut nulls = vec![format!("{dek} = NULL")];
        nulls.extend(
            columns
                .iter()
                .filter(|c| c.ends_with("_bidx") || c.ends_with("_bloom"))
                .map(|c| format!("{} = NULL", quote_ident(dialect, c))),
        );
        let subject = quote_ident(dialect, subject_column);
        let p = placeholder(dialect, 1);
        Ok(DescribedTable {
            erase: format!(
                "UPDATE {quoted} SET {} WHERE {subject} = {p} AND {dek} IS NOT NULL",
                nulls.join(", ")
            ),
            count: format!(
                "SELECT COUNT(*) FROM {quoted} WHERE {subject} = {p} AND {dek} IS NOT NULL"
            ),
            table: crate::database::census::table_name(table),
            dialect,
            pool,
        })
    }

    /// The erasure of `subject`'s rows but those under a key of `spared`, on `conn`.
    async fn clear<S: DescribedId>(
        &self,
        conn: &mut <DB as Database>::Connection,
        subject: &S,
        spared: &[Uuid],
    ) -> Result<u64> {
        let mut args = <DB as Database>::Arguments::default();
        subject.bind_to::<DB>(&mut args).map_err(encode_error)?;
        if spared.is_empty() {
            return Ok(DB::execute(conn, &self.erase, args).await?);
        }
        let sql = sparing_keys(self.dialect, &self.erase, spared.len());
        for id in spared {
            DB::bind_bytes(id.as_bytes(), &mut args).map_err(encode_error)?;
        }
        Ok(DB::execute(conn, &sql, args).await?)
    }
}

impl<DB: EncxDatabase, S: DescribedId> SubjectTable<S> for DescribedTable<DB> {
    fn table(&self) -> &'static str {
        self.table
    }

    fn count_rows<'a>(&'a self, subject: &'a S) -> BoxFuture<'a, Result<u64>> {
        Box::pin(async move {
            let mut args = <DB as Database>::Arguments::default();
            subject.bind_to::<DB>(&mut args).map_err(encode_error)?;
            let mut conn = self.pool.acquire().await?;
            let n = DB::fetch_count(&mut conn, &self.count, args).await?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
    }

    fn erase_rows<'a>(&'a self, subject: &'a S, spared: &'a [Uuid]) -> BoxFuture<'a, Result<u64>> {
        Box::pin(async move {
            let mut conn = self.pool.acquire().await?;
            self.clear(&mut conn, subject, spared).await
        })
    }

    fn erase_rows_in<'a>(
        &'a self,
        conn: &'a mut (dyn Any + Send),
        subject: &'a S,
        spared: &'a [Uuid],
    ) -> BoxFuture<'a, Result<u64>> {
        Box::pin(async move {
            let conn = transaction_connection::<DB>(conn, self.table)?;
            self.clear(conn, subject, spared).await
        })
    }
}

impl<S: DescribedId> SubjectEraser<S> {
    /// Adds the table `table` of `pool`'s database, whose column `subject_column` names each
    /// row's data subject, without its record type: for an eraser built where the
    /// application's types are not at hand (the bare `encx` binary's `--subject-table`). Its
    /// rows are cleared as [`Repo::erase_subject_rows`](crate::Repo::erase_subject_rows)
    /// clears them: `encx_dek` and every blind-index column and Bloom filter (`*_bidx`,
    /// `*_bloom`, read from the
    /// database) set to NULL. A configuration error when the table or either column is
    /// missing.
    ///
    /// ```no_run
    /// # async fn run(pool: sqlx::PgPool, crypto: encx::Crypto) -> encx_sqlx::Result<()> {
    /// let eraser = encx_sqlx::SubjectEraser::<uuid::Uuid>::new(crypto)
    ///     .described_table(pool, "user_notes", "user_id")
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn described_table<DB: EncxDatabase>(
        mut self,
        pool: Pool<DB>,
        table: &str,
        subject_column: &str,
    ) -> Result<Self> {
        let described = DescribedTable::read(pool, table, subject_column).await?;
        self.tables.push(Box::new(described));
        Ok(self)
    }
}
