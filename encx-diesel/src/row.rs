//! [`DieselEncrypted`]: what `#[encx(diesel(table = ...))]` implements, linking an encrypted
//! type to the Diesel row of its stored record.

use encx::{Encrypted, HasRecordId};

/// A type with `#[derive(Encrypted)]` and `#[encx(diesel(table = schema::users))]`: its
/// stored record is a Diesel row (`<Type>Row`: `Queryable`, `Selectable`, `Insertable`,
/// `AsChangeset`, `Identifiable` for that `table!`), and `<Type>Erasure` is the changeset that
/// crypto-shreds a row.
///
/// Generated; not meant to be implemented by hand.
pub trait DieselEncrypted: Encrypted + HasRecordId + encx::schema::Schema {
    /// The Diesel row: every stored column, ciphertexts and keys as bytes.
    type Row: Send;
    /// The changeset setting the wrapped DEK and every blind index to NULL.
    type Erasure: Default;

    /// The stored record as a row to insert or to `set` in an update.
    fn into_row(record: Self::Record) -> Self::Row;

    /// The stored record of a loaded row. Fails only on a stored password hash that is not a
    /// PHC string; ciphertexts are checked when decrypted.
    fn from_row(row: Self::Row) -> encx::Result<Self::Record>;
}

/// The Diesel row of `T`.
pub type RowOf<T> = <T as DieselEncrypted>::Row;
