#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cipher;
pub mod codec;
mod crypto;
pub mod error;
mod handles;
pub mod index;
pub mod keys;
pub mod password;
pub mod record;
mod rng;
pub mod schema;
#[cfg(feature = "sqlx")]
pub mod sql;
mod types;

pub use crypto::{Crypto, CryptoBuilder};
pub use error::{Error, Result};
pub use handles::{CompoundIndex, SearchField};
pub use index::{IndexSpec, Indexable, Normalizer};
pub use keys::{
    Dek, HierarchicalKeyring, Kek, KekState, KekStore, KeyContext, KeyPurpose, Keyring,
    KeyringKind, LocalKeyring, MasterKey, MemoryKekStore, NewKek, StoredKek,
};
pub use password::{PasswordHash, PasswordPolicy};
pub use record::{Encrypted, RecordContext, RecordId, RecordOpener, RecordSealer};
pub use types::{BlindIndex, Ciphertext, WrappedDek};

#[cfg(feature = "derive")]
pub use encx_derive::Encrypted;

/// Items used by generated code. Not a public API: may change in any release.
#[doc(hidden)]
pub mod __private {
    pub use crate::index::IndexSpec;
    pub use core;
    #[cfg(feature = "sqlx")]
    pub use sqlx;
}
