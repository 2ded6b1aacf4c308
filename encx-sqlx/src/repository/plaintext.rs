//! Plaintext migration, the source side: where the plaintext of a table that existed before
//! encx lives ([`Plaintext`]), and the opt-in read mode of a repository that accepts rows not
//! yet migrated ([`Repo::with_plaintext`](crate::Repo::with_plaintext)).
//!
//! A row is **unmigrated** while its `encx_dek` and its *marker* (the ciphertext column of the
//! first mapped field that is never NULL once encrypted) are both NULL. Migrating a row fills
//! every encx column in one `UPDATE`; erasing one (in this mode) clears its plaintext columns
//! and leaves it erased, never unmigrated, so a later migration cannot bring it back.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use encx::schema::{quote_ident, ColumnKind, Dialect, Schema};
use encx::sql::{RecordKey, StoredRecord};
use encx::{Crypto, Encrypted, Indexable, SearchField};
use sqlx::Database;

use super::args::{keys_args, IDS_PER_QUERY};
use crate::database::dialect::placeholder;
use crate::encx_database::EncxDatabase;
use crate::error::{encode_error, Error, Result};
use crate::repository::statements::{as_named, RowLock, Statements};

/// Where the plaintext of an existing table lives while it is migrated to encx, and how a
/// plaintext row becomes a `T`: a row type `P` (any `sqlx::FromRow`) read from the table's id
/// column, its plain columns and the plaintext columns named with [`column`](Self::column),
/// and a function from `P` to `T`.
///
/// encx stores an encrypted field's ciphertext under the field's own column name, so a
/// plaintext column of that name is renamed first (`email` → `email_plain`); see
/// `docs/operations.md`, plaintext migration.
///
/// ```
/// use encx::Encrypted;
/// use encx_sqlx::Plaintext;
///
/// #[derive(Debug, PartialEq, Encrypted)]
/// #[encx(table = "users")]
/// struct User {
///     #[encx(id)]
///     id: i64,
///     name: String,
///     #[encx(encrypt, searchable(normalize = "email"))]
///     email: String,
/// }
///
/// /// The table as it was: `email` renamed to `email_plain` before the migration.
/// #[derive(sqlx::FromRow)]
/// struct PlainUser {
///     id: i64,
///     name: String,
///     email_plain: String,
/// }
///
/// let source = Plaintext::<User, sqlx::Postgres>::new(|p: PlainUser| User {
///     id: p.id,
///     name: p.name,
///     email: p.email_plain,
/// })
/// .column("email", "email_plain");
/// ```
pub struct Plaintext<T, DB: Database> {
    read: Arc<dyn ReadPlaintext<T, DB>>,
    columns: Vec<(&'static str, &'static str)>,
}

impl<T, DB: Database> fmt::Debug for Plaintext<T, DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plaintext")
            .field("columns", &self.columns)
            .finish_non_exhaustive()
    }
}

impl<T, DB> Plaintext<T, DB>
where
    T: Send + Sync + 'static,
    DB: EncxDatabase,
{
    /// A source reading rows as `P` and making each a `T` with `into_value`.
    pub fn new<P>(into_value: fn(P) -> T) -> Self
    where
        P: for<'r> sqlx::FromRow<'r, <DB as Database>::Row> + 'static,
    {
        Plaintext {
            read: Arc::new(FromPlainRow(into_value, PhantomData)),
            columns: Vec::new(),
        }
    }

    /// Names the column `plaintext` that holds the plaintext of encrypted field column
    /// `encrypted` (the field's column name in `T`).
    pub fn column(mut self, encrypted: &'static str, plaintext: &'static str) -> Self {
        self.columns.push((encrypted, plaintext));
        self
    }
}

/// Reads one plaintext row as a `T`, its row type erased.
trait ReadPlaintext<T, DB: Database>: Send + Sync {
    fn value(&self, row: &<DB as Database>::Row) -> std::result::Result<T, sqlx::Error>;
}

struct FromPlainRow<P, T>(fn(P) -> T, PhantomData<fn() -> P>);

impl<P, T, DB> ReadPlaintext<T, DB> for FromPlainRow<P, T>
where
    DB: Database,
    P: for<'r> sqlx::FromRow<'r, <DB as Database>::Row> + 'static,
    T: 'static,
{
    fn value(&self, row: &<DB as Database>::Row) -> std::result::Result<T, sqlx::Error> {
        P::from_row(row).map(self.0)
    }
}

/// A repository's plaintext source, with its SQL.
pub(crate) struct Unmigrated<T, DB: Database> {
    read: Arc<dyn ReadPlaintext<T, DB>>,
    /// Each mapped encrypted column with its quoted plaintext column.
    plaintext_of: Vec<(&'static str, String)>,
    /// The quoted marker ciphertext column.
    pub marker: String,
    /// `SELECT <id, plain and plaintext columns> FROM t`.
    select: String,
    /// `encx_dek IS NULL AND <marker> IS NULL`.
    pending: String,
    /// Every plaintext column NULL.
    retired: String,
    /// The record's columns, then the plaintext columns: a row for `verify`.
    select_both: String,
    /// `SELECT <record> WHERE id = ? AND NOT <pending>`.
    pub record_by_id: String,
    /// The update of a live or unmigrated row, clearing its plaintext columns.
    pub update: String,
    /// The erasure of a row, clearing its plaintext columns and marking it migrated.
    pub erase: String,
    /// The same for every row of a data subject.
    pub erase_subject: Option<String>,
    dialect: Dialect,
    id: String,
    table: String,
}

impl<T: Schema, DB: EncxDatabase> Unmigrated<T, DB> {
    pub(crate) fn new(source: Plaintext<T, DB>, sql: &Statements) -> Result<Self> {
        let dialect = DB::DIALECT;
        let q = |n: &str| quote_ident(dialect, n);
        let config = |why: String| Error::InvalidConfig(format!("table `{}`: {why}", T::TABLE));
        let id = sql.require_id()?.to_owned(); // quoted
        let table = q(T::TABLE);
        let columns = T::columns();
        if source.columns.is_empty() {
            return Err(config(
                "a plaintext source names no column (Plaintext::column)".into(),
            ));
        }
        let mut marker = None;
        let mut plaintext_of = Vec::new();
        for (encrypted, plain) in &source.columns {
            let kind = columns
                .iter()
                .find(|c| c.name == *encrypted)
                .map(|c| c.kind);
            let Some(ColumnKind::Ciphertext { nullable }) = kind else {
                return Err(config(format!(
                    "`{encrypted}` is not an encrypted field's column"
                )));
            };
            if columns.iter().any(|c| c.name == *plain) {
                return Err(config(format!(
                    "plaintext column `{plain}` has the name of one of encx's columns: rename it"
                )));
            }
            if !nullable && marker.is_none() {
                marker = Some(q(encrypted));
            }
            plaintext_of.push((*encrypted, q(plain)));
        }
        let marker = marker.ok_or_else(|| {
            config(
                "a plaintext migration needs at least one mapped encrypted field that is not an \
                 Option (or has encrypt_none): its column tells migrated rows from the others"
                    .into(),
            )
        })?;
        let dek = q("encx_dek");
        let plain_columns: Vec<String> = columns
            .iter()
            .filter(|c| matches!(c.kind, ColumnKind::Id { .. } | ColumnKind::Plain { .. }))
            .map(|c| q(c.name))
            .chain(plaintext_of.iter().map(|(_, p)| p.clone()))
            .collect();
        let pending = format!("{dek} IS NULL AND {marker} IS NULL");
        let retired = plaintext_of
            .iter()
            .map(|(_, p)| format!("{p} IS NULL"))
            .collect::<Vec<_>>()
            .join(" AND ");
        let clear_plaintext: Vec<String> = plaintext_of
            .iter()
            .map(|(_, p)| format!("{p} = NULL"))
            .collect();
        let p = |n: usize| placeholder(dialect, n);
        let not_erased = format!("NOT ({dek} IS NULL AND {marker} IS NOT NULL)");
        let update = format!(
            "UPDATE {table} SET {}, {} WHERE {id} = {} AND {not_erased}",
            sql.update_sets(),
            clear_plaintext.join(", "),
            p(sql.column_count + 1)
        );
        let empty = match dialect {
            Dialect::Postgres => "decode('', 'hex')",
            _ => "x''",
        };
        let mut erase_sets = vec![format!("{dek} = NULL")];
        for c in columns {
            match c.kind {
                ColumnKind::BlindIndex { .. } | ColumnKind::BloomFilter { .. } => {
                    erase_sets.push(format!("{} = NULL", q(c.name)))
                }
                ColumnKind::Ciphertext { nullable: false } => {
                    let c = q(c.name);
                    erase_sets.push(format!("{c} = COALESCE({c}, {empty})"));
                }
                _ => {}
            }
        }
        erase_sets.extend(clear_plaintext);
        let erase_sets = erase_sets.join(", ");
        Ok(Unmigrated {
            read: source.read,
            select: format!("SELECT {} FROM {table}", as_named(&plain_columns)),
            select_both: format!(
                "{}, {} FROM {table}",
                sql.select_list(),
                as_named(&plaintext_of.iter().map(|(_, p)| p).collect::<Vec<_>>())
            ),
            record_by_id: format!("{} WHERE {id} = {} AND NOT ({pending})", sql.select, p(1)),
            update,
            erase: format!("UPDATE {table} SET {erase_sets} WHERE {id} = {}", p(1)),
            erase_subject: T::subject_column().map(|s| {
                format!(
                    "UPDATE {table} SET {erase_sets} WHERE {} = {} AND {not_erased}",
                    q(s),
                    p(1)
                )
            }),
            pending,
            retired,
            plaintext_of,
            marker,
            dialect,
            id,
            table,
        })
    }

    /// The unmigrated rows with id `id`, at most one.
    fn by_id(&self) -> String {
        format!(
            "{} WHERE {} = {} AND {}",
            self.select,
            self.id,
            placeholder(self.dialect, 1),
            self.pending
        )
    }

    /// The unmigrated rows among `count` ids.
    fn by_ids(&self, count: usize) -> String {
        let list: Vec<String> = (1..=count).map(|i| placeholder(self.dialect, i)).collect();
        format!(
            "{} WHERE {} IN ({}) AND {}",
            self.select,
            self.id,
            list.join(", "),
            self.pending
        )
    }

    /// The unmigrated rows whose plaintext column `plain` is one of two texts.
    fn by_text(&self, plain: &str) -> String {
        format!(
            "{} WHERE {} AND {plain} IN ({}, {})",
            self.select,
            self.pending,
            placeholder(self.dialect, 1),
            placeholder(self.dialect, 2)
        )
    }

    /// The next page of unmigrated rows in id order (after the id bound first, if `after`),
    /// locked as `lock` says.
    pub fn page(&self, after: bool, limit: usize, lock: RowLock) -> String {
        let after = if after {
            format!(" AND {} > {}", self.id, placeholder(self.dialect, 1))
        } else {
            String::new()
        };
        let lock = lock.clause(self.dialect);
        format!(
            "{} WHERE {}{after} ORDER BY {} LIMIT {limit}{lock}",
            self.select, self.pending, self.id
        )
    }

    /// The next page of migrated, live rows that still have plaintext, in id order, with the
    /// record's columns and the plaintext columns.
    pub fn verify_page(&self, after: bool, limit: usize) -> String {
        let after = if after {
            format!(" AND {} > {}", self.id, placeholder(self.dialect, 1))
        } else {
            String::new()
        };
        format!(
            "{} WHERE {} IS NOT NULL AND NOT ({}){after} ORDER BY {} LIMIT {limit}",
            self.select_both,
            quote_ident(self.dialect, "encx_dek"),
            self.retired,
            self.id
        )
    }

    /// `SELECT COUNT(*)` of the rows in `state`.
    pub fn count(&self, state: RowState) -> String {
        let dek = quote_ident(self.dialect, "encx_dek");
        let condition = match state {
            RowState::Unmigrated => self.pending.clone(),
            RowState::Retired => format!("{dek} IS NOT NULL AND {}", self.retired),
            RowState::Erased => format!("{dek} IS NULL AND {} IS NOT NULL", self.marker),
        };
        format!("SELECT COUNT(*) FROM {} WHERE {condition}", self.table)
    }

    /// The plaintext row `row` as a value.
    pub fn value(&self, row: &<DB as Database>::Row) -> Result<T> {
        self.read.value(row).map_err(Error::from)
    }
}

/// Rows a plaintext migration counts apart.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RowState {
    /// Not yet migrated.
    Unmigrated,
    /// Migrated and written by encx since (update, erasure): no plaintext left to compare.
    Retired,
    /// Erased.
    Erased,
}

impl<T, DB> Unmigrated<T, DB>
where
    DB: EncxDatabase,
    T: Encrypted + Schema,
    T::Record: StoredRecord,
{
    /// The unmigrated row with this id, read from its plaintext (in the read mode).
    pub(crate) async fn read_by_id(
        &self,
        conn: &mut <DB as Database>::Connection,
        id: &<T::Record as RecordKey>::Id,
    ) -> Result<Option<T>> {
        let plain = self;
        let mut args = <DB as Database>::Arguments::default();
        DB::bind_key::<T::Record>(id, &mut args).map_err(encode_error)?;
        let rows = DB::fetch_rows(conn, &plain.by_id(), args).await?;
        rows.first().map(|row| plain.value(row)).transpose()
    }

    /// The unmigrated rows among these ids (in the read mode).
    pub(crate) async fn read_by_ids(
        &self,
        conn: &mut <DB as Database>::Connection,
        ids: &[<T::Record as RecordKey>::Id],
    ) -> Result<Vec<T>> {
        let plain = self;
        let mut out = Vec::new();
        for chunk in ids.chunks(IDS_PER_QUERY) {
            let args = keys_args::<DB, T::Record>(chunk)?;
            for row in DB::fetch_rows(&mut *conn, &plain.by_ids(chunk.len()), args).await? {
                out.push(plain.value(&row)?);
            }
        }
        Ok(out)
    }

    /// The unmigrated rows whose `field` equals `value` (in the read mode, for a field with
    /// a plaintext column): candidates by text, then the field's re-check.
    pub(crate) async fn read_matching<V>(
        &self,
        conn: &mut <DB as Database>::Connection,
        field: SearchField<T>,
        value: &V,
        crypto: &Crypto,
    ) -> Result<Vec<T>>
    where
        V: Indexable + ?Sized + Sync,
    {
        let plain = self;
        let stored = field.column();
        let Some((_, column)) = plain
            .plaintext_of
            .iter()
            .find(|(encrypted, _)| stored.strip_suffix("_bidx") == Some(encrypted))
        else {
            return Ok(Vec::new());
        };
        let given = value.index_text().into_owned();
        let normalized = field.normalized(value);
        let mut args = <DB as Database>::Arguments::default();
        DB::bind_text(&given, &mut args).map_err(encode_error)?;
        DB::bind_text(&normalized, &mut args).map_err(encode_error)?;
        let rows = DB::fetch_rows(conn, &plain.by_text(column), args).await?;
        let mut out = Vec::new();
        for row in rows {
            let candidate = plain.value(&row)?;
            if field.matches(crypto, &candidate, value) {
                out.push(candidate);
            }
        }
        Ok(out)
    }
}
