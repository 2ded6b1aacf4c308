//! The stored columns as the ORM adapters' generated rows hold them (`#[encx(sea_orm)]`,
//! `#[encx(diesel(...))]`): what type, whether it is the key, whether erasure clears it.

use proc_macro2::TokenStream;
use quote::quote;
use syn::Ident;

/// How a stored column is held by an ORM row.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    /// As the field's own type (plain columns and the id).
    Plain,
    /// `PasswordHash` as its PHC string.
    PasswordHash,
    /// `Ciphertext` as bytes.
    Bytes,
    /// `Option<Ciphertext | BlindIndex | WrappedDek>` as optional bytes.
    OptionalBytes,
}

/// One stored column of the record.
pub struct StoredColumn {
    /// The record's field (named as the column).
    pub field: Ident,
    /// The column name.
    pub column: String,
    /// The field's type in the record.
    pub ty: TokenStream,
    /// How the ORM row holds it.
    pub storage: Storage,
    /// The `#[encx(id)]` column.
    pub primary_key: bool,
    /// A blind index or the wrapped DEK: NULL after erasure.
    pub erased: bool,
}

impl StoredColumn {
    /// The type of the ORM row's field.
    pub fn row_type(&self) -> TokenStream {
        match self.storage {
            Storage::Plain => self.ty.clone(),
            Storage::PasswordHash => quote!(::std::string::String),
            Storage::Bytes => quote!(::std::vec::Vec<u8>),
            Storage::OptionalBytes => quote!(::core::option::Option<::std::vec::Vec<u8>>),
        }
    }

    /// `record.<field>` converted to the row's type.
    pub fn to_row(&self) -> TokenStream {
        let field = &self.field;
        match self.storage {
            Storage::Plain => quote!(record.#field),
            Storage::PasswordHash => {
                quote!(::std::string::ToString::to_string(::encx::PasswordHash::as_str(&record.#field)))
            }
            Storage::Bytes => {
                quote!(::std::convert::Into::<::std::vec::Vec<u8>>::into(record.#field))
            }
            Storage::OptionalBytes => {
                quote!(record.#field.map(::std::convert::Into::<::std::vec::Vec<u8>>::into))
            }
        }
    }

    /// `row.<field>` converted back to the record's type (`?` on a bad PHC string).
    pub fn read_from_row(&self) -> TokenStream {
        let field = &self.field;
        match self.storage {
            Storage::Plain => quote!(row.#field),
            Storage::PasswordHash => quote!(::encx::PasswordHash::from_phc(row.#field)?),
            Storage::Bytes => quote!(::core::convert::From::from(row.#field)),
            Storage::OptionalBytes => quote!(row.#field.map(::core::convert::From::from)),
        }
    }
}
