//! A stored record on each database (features `postgres`, `mysql`, `sqlite`): how its columns
//! bind to a statement and how a row becomes the record, per database, so that code generic
//! over the database (`encx_sqlx::Repo<T, DB>`) needs no bound naming the record's column
//! types.
//!
//! `#[derive(Encrypted)]` implements [`StoredIn<DB>`] for every enabled database. A column type
//! that sqlx cannot store in one of them (a `Vec<String>` on MySQL, say) does not stop the
//! struct from compiling for the others: using it there fails at run time with
//! [`UnsupportedColumn`], naming the column, its Rust type and the database.

use std::fmt;
use std::marker::PhantomData;

use sqlx::error::BoxDynError;
use sqlx::{Arguments, ColumnIndex, Database, Decode, Encode, Row, Type};

/// The id column of a stored record.
pub trait RecordKey: Sized + Send + Sync + Unpin + 'static {
    /// The `#[encx(id)]` field's type; [`NoId`] for a type without one.
    type Id: crate::RecordId + Send + Sync + 'static;

    /// This record's id (`None` for a type without one).
    fn key(&self) -> Option<&Self::Id>;

    /// The `#[encx(subject)]` field's type; [`NoId`] for a type without one.
    type Subject: crate::RecordId + Send + Sync + 'static;

    /// The `#[encx(tenant)]` field's type; [`NoId`] for a type without one.
    type Tenant: crate::RecordId + Send + Sync + 'static;

    /// The stored `encx_dek` (`None` once erased).
    fn wrapped_dek(&self) -> Option<&crate::WrappedDek>;
}

/// The id type of a record without an `#[encx(id)]` field: it has no values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoId {}

impl crate::RecordId for NoId {
    fn record_id_bytes(&self) -> std::borrow::Cow<'_, [u8]> {
        match *self {}
    }

    fn record_id_display(&self) -> String {
        match *self {}
    }
}

/// A stored record on database `DB`: its columns in
/// [`Schema::columns`](crate::schema::Schema::columns) order.
// sqlx 0.9's arguments own their values, so `'q` is no longer needed; it stays named because
// generated impls (and any written against 0.1) spell it.
#[allow(clippy::needless_lifetimes)]
pub trait StoredIn<DB: Database>: RecordKey {
    /// Adds every stored column.
    fn bind_columns<'q>(
        &'q self,
        args: &mut <DB as Database>::Arguments,
    ) -> Result<(), BoxDynError>;

    /// Adds `id` as the value of the id column.
    fn bind_key<'q>(
        id: &'q Self::Id,
        args: &mut <DB as Database>::Arguments,
    ) -> Result<(), BoxDynError>;

    /// Adds `subject` as the value of the subject column.
    fn bind_subject<'q>(
        subject: &'q Self::Subject,
        args: &mut <DB as Database>::Arguments,
    ) -> Result<(), BoxDynError>;

    /// Adds `tenant` as the value of the tenant column.
    fn bind_tenant<'q>(
        tenant: &'q Self::Tenant,
        args: &mut <DB as Database>::Arguments,
    ) -> Result<(), BoxDynError>;

    /// Reads the record from a row holding every stored column by name.
    fn from_row(row: &<DB as Database>::Row) -> Result<Self, sqlx::Error>;
}

/// A stored record on every database whose feature is on (`postgres`, `mysql`, `sqlite`):
/// the bound `encx-sqlx` puts on its record types. Implemented for every type that implements
/// the parts, which `#[derive(Encrypted)]` does.
pub trait StoredRecord: RecordKey + OnPostgres + OnMySql + OnSqlite {}

impl<R> StoredRecord for R where R: RecordKey + OnPostgres + OnMySql + OnSqlite {}

/// Declares the per-database part of [`StoredRecord`]: the bound when the feature is on,
/// nothing when it is off.
macro_rules! database_part {
    ($(#[$doc:meta])* $name:ident, $feature:literal, $($bound:tt)+) => {
        $(#[$doc])*
        #[cfg(feature = $feature)]
        pub trait $name: $($bound)+ {}
        #[cfg(feature = $feature)]
        impl<R: $($bound)+> $name for R {}
        $(#[$doc])*
        #[cfg(not(feature = $feature))]
        pub trait $name {}
        #[cfg(not(feature = $feature))]
        impl<R> $name for R {}
    };
}

database_part!(
    /// `StoredIn<Postgres>` and the column arrays of bulk inserts when feature `postgres` is
    /// on; no bound otherwise.
    OnPostgres, "postgres", StoredIn<sqlx::Postgres> + super::PgBindArrays
);
database_part!(
    /// `StoredIn<MySql>` when feature `mysql` is on; no bound otherwise.
    OnMySql, "mysql", StoredIn<sqlx::MySql>
);
database_part!(
    /// `StoredIn<Sqlite>` when feature `sqlite` is on; no bound otherwise.
    OnSqlite, "sqlite", StoredIn<sqlx::Sqlite>
);

/// A column whose Rust type sqlx cannot store in this database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsupportedColumn {
    /// The column.
    pub column: &'static str,
    /// Its Rust type.
    pub rust_type: &'static str,
    /// The database (`PostgreSQL`, `MySQL`, `SQLite`).
    pub database: &'static str,
}

impl fmt::Display for UnsupportedColumn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "column `{}` has type `{}`, which sqlx cannot store in {}: use another type for it, \
             or another database",
            self.column, self.rust_type, self.database
        )
    }
}

impl std::error::Error for UnsupportedColumn {}

/// One column of one record, for generated code: `(&Column::<DB, T>::new(..)).encx_bind(args)`
/// picks [`Encodes`] when sqlx can encode `T` for `DB` and [`DoesNotEncode`] otherwise
/// (autoref specialization, resolved at compile time).
#[doc(hidden)]
pub struct Column<'q, DB, T> {
    value: &'q T,
    name: &'static str,
    database: PhantomData<fn() -> DB>,
}

impl<'q, DB, T> Column<'q, DB, T> {
    /// The value of column `name`.
    pub fn new(value: &'q T, name: &'static str) -> Self {
        Column {
            value,
            name,
            database: PhantomData,
        }
    }
}

/// Chosen when sqlx encodes `T` for `DB`.
#[doc(hidden)]
pub trait Encodes<'q, DB: Database> {
    /// Adds the value.
    fn encx_bind(&self, args: &mut <DB as Database>::Arguments) -> Result<(), BoxDynError>;
}

impl<'q, DB: Database, T> Encodes<'q, DB> for Column<'q, DB, T>
where
    T: Encode<'q, DB> + Type<DB> + Sync,
{
    fn encx_bind(&self, args: &mut <DB as Database>::Arguments) -> Result<(), BoxDynError> {
        args.add(self.value)
    }
}

/// Chosen otherwise.
#[doc(hidden)]
pub trait DoesNotEncode<'q, DB: Database> {
    /// An [`UnsupportedColumn`] error.
    fn encx_bind(&self, args: &mut <DB as Database>::Arguments) -> Result<(), BoxDynError>;
}

impl<'q, DB: Database, T> DoesNotEncode<'q, DB> for &Column<'q, DB, T> {
    fn encx_bind(&self, _args: &mut <DB as Database>::Arguments) -> Result<(), BoxDynError> {
        Err(Box::new(unsupported::<DB, T>(self.name)))
    }
}

/// One column read from a row, for generated code: `(&Field::<DB, T>::new(name)).encx_get(row)`
/// picks [`Decodes`] when sqlx can decode `T` from `DB` and [`DoesNotDecode`] otherwise.
#[doc(hidden)]
pub struct Field<DB, T> {
    name: &'static str,
    types: PhantomData<fn() -> (DB, T)>,
}

impl<DB, T> Field<DB, T> {
    /// Column `name`.
    pub fn new(name: &'static str) -> Self {
        Field {
            name,
            types: PhantomData,
        }
    }
}

/// Chosen when sqlx decodes `T` from `DB`.
#[doc(hidden)]
pub trait Decodes<DB: Database, T> {
    /// Reads the column.
    fn encx_get(&self, row: &<DB as Database>::Row) -> Result<T, sqlx::Error>;
}

impl<DB: Database, T> Decodes<DB, T> for Field<DB, T>
where
    T: for<'r> Decode<'r, DB> + Type<DB>,
    for<'n> &'n str: ColumnIndex<<DB as Database>::Row>,
{
    fn encx_get(&self, row: &<DB as Database>::Row) -> Result<T, sqlx::Error> {
        row.try_get(self.name)
    }
}

/// Chosen otherwise.
#[doc(hidden)]
pub trait DoesNotDecode<DB: Database, T> {
    /// An [`UnsupportedColumn`] error.
    fn encx_get(&self, row: &<DB as Database>::Row) -> Result<T, sqlx::Error>;
}

impl<DB: Database, T> DoesNotDecode<DB, T> for &Field<DB, T> {
    fn encx_get(&self, _row: &<DB as Database>::Row) -> Result<T, sqlx::Error> {
        Err(sqlx::Error::ColumnDecode {
            index: self.name.to_owned(),
            source: Box::new(unsupported::<DB, T>(self.name)),
        })
    }
}

fn unsupported<DB: Database, T>(column: &'static str) -> UnsupportedColumn {
    UnsupportedColumn {
        column,
        rust_type: std::any::type_name::<T>(),
        database: DB::NAME,
    }
}

#[cfg(all(test, feature = "sqlite"))]
mod tests {
    use super::*;

    #[test]
    fn an_unsupported_column_names_column_type_and_database() {
        let text = unsupported::<sqlx::Sqlite, Vec<String>>("tags").to_string();
        assert!(text.contains("`tags`"), "{text}");
        assert!(text.contains("Vec<alloc::string::String>"), "{text}");
        assert!(text.contains("SQLite"), "{text}");
    }

    #[test]
    fn the_fallback_is_chosen_only_for_types_sqlx_cannot_store() {
        let tags = vec!["a".to_owned()];
        let n = 7_i64;
        let mut args = <sqlx::Sqlite as Database>::Arguments::default();
        {
            #[allow(unused_imports)]
            use super::{DoesNotEncode as _, Encodes as _};
            let err = (&Column::<sqlx::Sqlite, Vec<String>>::new(&tags, "tags"))
                .encx_bind(&mut args)
                .expect_err("Vec<String> has no SQLite encoding");
            assert!(err.downcast_ref::<UnsupportedColumn>().is_some());
            #[allow(clippy::needless_borrow)] // written as the derive writes it
            (&Column::<sqlx::Sqlite, i64>::new(&n, "n"))
                .encx_bind(&mut args)
                .expect("i64 binds");
        }
        assert_eq!(args.len(), 1);
    }
}
