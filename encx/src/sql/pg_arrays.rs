//! PostgreSQL column arrays (feature `postgres`): a batch of stored records bound as one array
//! per column, for `INSERT INTO t (c1, ..., cn) SELECT * FROM UNNEST($1, ..., $n)`.
//!
//! One such statement carries any number of rows in `n` parameters, so PostgreSQL parses and
//! plans a short statement once per batch instead of a `VALUES` list with a placeholder per
//! value. Every column type needs a PostgreSQL array type (`sqlx::postgres::PgHasArrayType`):
//! sqlx's built-in types, encx's column types and types with `#[derive(sqlx::Type)]` have one.
//! When a plain field's type has none (a `Vec<String>` column, say), [`PgBindArrays`] reports
//! that and `encx-sqlx` falls back to multi-row `VALUES`.

use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArguments, PgHasArrayType, PgTypeInfo};
use sqlx::{Arguments, Encode, Postgres, Type};

use crate::password::PasswordHash;
use crate::types::{BlindIndex, Ciphertext, WrappedDek};

macro_rules! array_like {
    ($like:ty => $($t:ty),*) => {$(
        impl PgHasArrayType for $t {
            fn array_type_info() -> PgTypeInfo {
                <$like as PgHasArrayType>::array_type_info()
            }
            fn array_compatible(ty: &PgTypeInfo) -> bool {
                <$like as PgHasArrayType>::array_compatible(ty)
            }
        }
    )*};
}

array_like!(Vec<u8> => Ciphertext, WrappedDek, BlindIndex);
array_like!(String => PasswordHash);

/// Binds a batch of stored records as one PostgreSQL array per column, in
/// [`Schema::columns`](crate::schema::Schema::columns) order. Implemented by
/// `#[derive(Encrypted)]` with the `postgres` feature.
///
/// The default method returns `None` (no array binding: the caller uses multi-row `VALUES`),
/// so a hand-written record type can opt out with an empty `impl`.
pub trait PgBindArrays: Sized {
    /// Adds one array per stored column holding that column of every record, or returns `None`
    /// (leaving `args` unusable) when some column type has no PostgreSQL array type.
    fn pg_bind_arrays(records: &[Self], args: &mut PgArguments) -> Option<Result<(), BoxDynError>> {
        let _ = (records, args);
        None
    }
}

/// One column of a batch, for generated code: `(&ColumnArray(values)).encx_bind_array(args)`
/// picks [`ViaArray`] when the column type has a PostgreSQL array type and [`ViaRows`]
/// otherwise (autoref specialization, resolved at compile time).
#[doc(hidden)]
pub struct ColumnArray<'q, T>(pub Vec<&'q T>);

/// Chosen when `T` has a PostgreSQL array type.
#[doc(hidden)]
pub trait ViaArray {
    /// `true`.
    fn encx_has_array(&self) -> bool;
    /// Adds the column as one array parameter.
    fn encx_bind_array(&self, args: &mut PgArguments) -> Result<(), BoxDynError>;
}

impl<'q, T> ViaArray for ColumnArray<'q, T>
where
    T: PgHasArrayType + Type<Postgres> + for<'a> Encode<'a, Postgres>,
{
    fn encx_has_array(&self) -> bool {
        true
    }
    fn encx_bind_array(&self, args: &mut PgArguments) -> Result<(), BoxDynError> {
        args.add(self.0.as_slice())
    }
}

/// Chosen otherwise.
#[doc(hidden)]
pub trait ViaRows {
    /// `false`.
    fn encx_has_array(&self) -> bool;
    /// An error; generated code checks [`ViaArray::encx_has_array`] of every column first.
    fn encx_bind_array(&self, args: &mut PgArguments) -> Result<(), BoxDynError>;
}

impl<T> ViaRows for &ColumnArray<'_, T> {
    fn encx_has_array(&self) -> bool {
        false
    }
    fn encx_bind_array(&self, _args: &mut PgArguments) -> Result<(), BoxDynError> {
        Err(Box::from("this column type has no PostgreSQL array type"))
    }
}
