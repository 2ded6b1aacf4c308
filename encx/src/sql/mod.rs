//! sqlx support (feature `sqlx`): column types for the stored byte strings, and the trait the
//! derive implements to bind a stored record's columns and read it from a row, per database. No I/O and no key lookups happen here:
//! a row decodes to ciphertexts, and decryption is an explicit async step afterwards.
//!
//! `Ciphertext`, `WrappedDek` and `BlindIndex` forward to `Vec<u8>` (PostgreSQL `BYTEA`,
//! MySQL `VARBINARY`/`BLOB`, SQLite `BLOB`); `PasswordHash` forwards to `String` and checks the
//! PHC syntax when decoded.

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::{Database, Decode, Encode, Type};

use crate::password::PasswordHash;
use crate::types::{BlindIndex, Ciphertext, WrappedDek};

macro_rules! forward_to_bytes {
    ($($t:ident),*) => {$(
        impl<DB: Database> Type<DB> for $t
        where
            Vec<u8>: Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <Vec<u8> as Type<DB>>::type_info()
            }
            fn compatible(ty: &DB::TypeInfo) -> bool {
                <Vec<u8> as Type<DB>>::compatible(ty)
            }
        }

        impl<'q, DB: Database> Encode<'q, DB> for $t
        where
            Vec<u8>: Encode<'q, DB>,
        {
            fn encode_by_ref(&self, buf: &mut <DB as Database>::ArgumentBuffer) -> Result<IsNull, BoxDynError> {
                <Vec<u8> as Encode<'q, DB>>::encode_by_ref(&self.0, buf)
            }
            fn size_hint(&self) -> usize {
                <Vec<u8> as Encode<'q, DB>>::size_hint(&self.0)
            }
        }

        impl<'r, DB: Database> Decode<'r, DB> for $t
        where
            Vec<u8>: Decode<'r, DB>,
        {
            fn decode(value: <DB as Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
                <Vec<u8> as Decode<'r, DB>>::decode(value).map($t)
            }
        }
    )*};
}

forward_to_bytes!(Ciphertext, WrappedDek, BlindIndex);

impl<DB: Database> Type<DB> for PasswordHash
where
    String: Type<DB>,
{
    fn type_info() -> DB::TypeInfo {
        <String as Type<DB>>::type_info()
    }
    fn compatible(ty: &DB::TypeInfo) -> bool {
        <String as Type<DB>>::compatible(ty)
    }
}

impl<'q, DB: Database> Encode<'q, DB> for PasswordHash
where
    String: Encode<'q, DB>,
{
    fn encode_by_ref(
        &self,
        buf: &mut <DB as Database>::ArgumentBuffer,
    ) -> Result<IsNull, BoxDynError> {
        <String as Encode<'q, DB>>::encode_by_ref(&self.as_str().to_owned(), buf)
    }
}

impl<'r, DB: Database> Decode<'r, DB> for PasswordHash
where
    String: Decode<'r, DB>,
{
    fn decode(value: <DB as Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(PasswordHash::from_phc(<String as Decode<'r, DB>>::decode(
            value,
        )?)?)
    }
}

pub mod stored;
pub use stored::UnsupportedColumn;
pub use stored::{NoId, OnMySql, OnPostgres, OnSqlite, RecordKey, StoredIn, StoredRecord};

#[cfg(feature = "postgres")]
pub mod pg_arrays;
#[cfg(feature = "postgres")]
pub use pg_arrays::PgBindArrays;
