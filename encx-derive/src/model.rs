//! The checked model the expansion works from. Everything here is valid: `check.rs` made it.

use proc_macro2::Span;
use syn::{Ident, Type, Visibility};

pub struct Container {
    pub ident: Ident,
    pub vis: Visibility,
    pub table: String,
    pub fields: Vec<Field>,
    pub indexes: Vec<Compound>,
    /// Index into `fields` of the `#[encx(id)]` field.
    pub id: Option<usize>,
    /// Index into `fields` of the `#[encx(subject)]` field.
    pub subject: Option<usize>,
    /// Index into `fields` of the `#[encx(tenant)]` field.
    pub tenant: Option<usize>,
    /// Indexes into `fields` of the `#[encx(signed)]` fields, in declaration order.
    pub signed: Vec<usize>,
    /// `#[encx(sea_orm)]`: the name of the SeaORM entity module to generate.
    pub sea_orm_module: Option<Ident>,
    /// `#[encx(diesel(table = ...))]`: the Diesel `table!` module of the generated row.
    pub diesel_table: Option<syn::Path>,
}

pub struct Field {
    pub ident: Ident,
    pub ty: Type,
    pub column: String,
    pub kind: FieldKind,
    /// `Some(inner)` when the type is `Option<inner>`.
    pub option_inner: Option<Type>,
    pub span: Span,
}

pub enum FieldKind {
    Id,
    Plain,
    Skip,
    HashSecure,
    Encrypt {
        encrypt_none: bool,
        searchable: Option<Index>,
        /// Prefix, suffix, contains and range indexes of the field.
        partial: Vec<Partial>,
    },
}

/// A partial index of a field: one `prefix(..)`, `suffix(..)`, `contains(..)` or `range(..)`.
pub struct Partial {
    pub kind: PartialKind,
    /// Bits of each hash (prefix, suffix, range).
    pub bits: u16,
    /// Variant name of `encx::Normalizer`.
    pub normalizer: Ident,
    pub expect: Option<Expect>,
    /// The attribute key's span.
    pub span: Span,
}

pub enum PartialKind {
    /// Lengths in characters, increasing.
    Prefix(Vec<u8>),
    Suffix(Vec<u8>),
    Contains {
        ngram: u8,
        filter_bits: u32,
        hashes: u8,
    },
    Range {
        width: u64,
    },
}

/// `expect(..)`: the planner's population and bound.
pub struct Expect {
    pub rows: u64,
    pub distinct: u64,
    pub chars: u32,
    pub alphabet: u64,
    pub min_coincidence: f64,
    pub max_false_positives: Option<f64>,
    pub max_fill: f64,
    pub span: Span,
}

pub struct Index {
    /// Handle constant name (`EMAIL`).
    pub const_name: Ident,
    /// Index name (field column or given name).
    pub name: String,
    /// Stored column (`<name>_bidx`).
    pub column: String,
    pub domain: String,
    pub bits: u16,
    /// Variant name of `encx::Normalizer`.
    pub normalizer: Ident,
}

pub struct Compound {
    pub index: Index,
    /// Indexes into `Container::fields`.
    pub fields: Vec<usize>,
}

impl Field {
    pub fn is_encrypted(&self) -> bool {
        matches!(self.kind, FieldKind::Encrypt { .. })
    }
}
