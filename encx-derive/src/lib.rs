//! `#[derive(Encrypted)]` for encx. Use it through the `encx` crate (`use encx::Encrypted;`);
//! the attributes are documented on the re-export there and in `docs/derive.md`.
//!
//! Layout, after serde_derive and thiserror-impl: `attr` parses `#[encx(...)]` attributes,
//! `check` applies the cross-field rules and builds the `model`, `expand` emits code.
#![forbid(unsafe_code)]

extern crate proc_macro;

mod attr;
mod check;
mod columns;
mod diesel;
mod expand;
mod model;
mod sea_orm;

use proc_macro::TokenStream;
use syn::{parse_macro_input, DeriveInput};

/// Derives `encx::Encrypted`, `encx::schema::Schema`, a `<Type>Record` struct and typed
/// blind-index handles. See the `encx` crate documentation for the attributes.
#[proc_macro_derive(Encrypted, attributes(encx))]
pub fn derive_encrypted(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match check::container(&input) {
        Ok(model) => expand::derive(&model).into(),
        Err(err) => err.to_compile_error().into(),
    }
}
