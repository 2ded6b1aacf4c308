#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

pub mod aead;
pub mod cipher;
pub mod codec;
mod crypto;
pub mod ct;
pub mod error;
mod handles;
pub mod index;
pub mod keys;
#[cfg(test)]
mod known_answers;
pub mod password;
pub mod record;
mod rng;
pub mod schema;
pub mod search;
pub mod sign;
#[cfg(feature = "sqlx")]
pub mod sql;
pub mod stream;
mod tenancy;
#[cfg(feature = "testing")]
pub mod testing;
pub mod token;
mod types;

pub mod audit;
/// The `async_trait` attribute that encx's key traits ([`Keyring`], [`KekStore`],
/// [`SubjectKeyStore`], [`AuditSink`]) are declared with: implement them with
/// `#[encx::async_trait]`, without a dependency of your own.
pub use async_trait::async_trait;
pub use audit::{AuditAction, AuditEvent, AuditOutcome, AuditSink};
pub use crypto::{Crypto, CryptoBuilder};
pub use error::{Error, ErrorKind, Result};
pub use handles::{CompoundIndex, SearchField};
pub use index::{IndexSpec, Indexable, Normalizer};
#[cfg(feature = "aws-kms")]
pub use keys::{AwsKmsKeyring, AwsKmsKeyringBuilder, KmsCalls};
pub use keys::{
    Dek, ErasureEntry, ErasureLedger, ErasureScope, HierarchicalKeyring, Kek, KekState, KekStore,
    KeyContext, KeyInUse, KeyPurpose, Keyring, KeyringKind, LocalKeyring, MasterKey,
    MemoryErasureLedger, MemoryKekStore, MemorySubjectKeyStore, NewKek, NewSubjectKey, StoredKek,
    StoredSubjectKey, SubjectKeyStore, SubjectKeysRewrapped,
};
pub use password::{PasswordHash, PasswordPolicy};
pub use record::{
    Encrypted, HasRecordId, HasSubject, HasTenant, RecordContext, RecordId, RecordOpener,
    RecordSealer, SubjectId,
};
pub use search::{ContainsIndex, PrefixIndex, RangeIndex, RangeValue, SuffixIndex};
pub use secrecy;
pub use sign::Signer;
/// The sqlx whose column types ([`Ciphertext`], [`WrappedDek`], [`BlindIndex`]) encx implements
/// (feature `sqlx`).
#[cfg(feature = "sqlx")]
pub use sqlx;
pub use tenancy::{TenantMove, TenantStatus};
pub use token::{Csrf, SecretToken, TokenHash, Tokens};
pub use types::{BlindIndex, Ciphertext, WrappedDek};

/// Derives [`Encrypted`](trait@Encrypted) and [`schema::Schema`] for a struct with named
/// fields, and generates:
///
/// - `<Type>Record`, the stored row: plain columns as they are, a [`Ciphertext`] per encrypted
///   field, an `Option<BlindIndex>` per blind index (`<name>_bidx`), and `encx_dek`. With the
///   `sqlx` feature it also implements `sqlx::FromRow` (any row type); with the `postgres`,
///   `mysql` and `sqlite` features, `sql::StoredIn` for that database (what `encx_sqlx::Repo`
///   uses), and with `postgres`, `sql::PgBindArrays` (PostgreSQL bulk inserts).
/// - An associated constant per index: a [`SearchField`] (`User::EMAIL`) or a
///   [`CompoundIndex`] (`User::NAME_CITY`), used for lookups.
///
/// # Container attributes
///
/// | attribute | meaning |
/// |---|---|
/// | `table = "users"` | table name, bound into every ciphertext (default: snake_case plural of the type name, `OrderItem` → `order_items`, `Company` → `companies`) |
/// | `rename_all = "camelCase"` | column names from field names: `lowercase`, `UPPERCASE`, `snake_case`, `camelCase`, `PascalCase`, `SCREAMING_SNAKE_CASE` |
/// | `index(name = "..", fields(a, b), bits = N, normalize = "..", domain = "..")` | a compound blind index over encrypted fields, column `<name>_bidx` |
/// | `sea_orm` or `sea_orm(module = "..")` | also a SeaORM entity module over the stored record (default `<snake_case type>_entity`) and `encx_sea_orm::EncryptedEntity`; needs `#[encx(id)]` and the `encx-sea-orm` crate (docs/sea-orm.md) |
/// | `diesel(table = path::to::table)` | also `<Type>Row` (`Queryable`, `Selectable`, `Insertable`, `AsChangeset`, `Identifiable` for that `table!`), `<Type>Erasure` and `encx_diesel::DieselEncrypted`; needs `#[encx(id)]` and the `encx-diesel` crate (docs/diesel.md) |
///
/// # Field attributes
///
/// | attribute | meaning |
/// |---|---|
/// | *(none)* | a plain column, stored as it is (the type must be `Clone`) |
/// | `id` | the record id (plain, primary key), bound into every ciphertext of the record: `Uuid`, `String`, integers |
/// | `subject` | on the id or a plain column (not `Option`): the record's data subject (a person, a tenant). The record's DEK is wrapped under the subject's key ([`CryptoBuilder::subject_keys_in`]), so [`Crypto::erase_subject`] shreds every record of the subject in every table at once |
/// | `tenant` | on a plain column (not the id, not `Option`): the record's tenant. Its DEK is wrapped under the tenant's KEK and its blind indexes use the tenant's index keys ([`CryptoBuilder::tenants`], docs/tenants.md); searches go through `encx_sqlx::Repo::in_tenant` |
/// | `signed` | on a plain column: bound into the record's signature (column `encx_sig`), so an edit by a database writer is [`Error::Tampered`] on read; combine with `tenant` to catch rows moved between tenants |
/// | `encrypt` | AES-256-GCM under the record's DEK; any `Serialize + DeserializeOwned` type; `Option<T>` stores SQL NULL for `None` |
/// | `encrypt_none` | on an `Option<T>`: encrypt `None` too, so the column does not reveal presence (implies `encrypt`) |
/// | `searchable` / `searchable(normalize = "email", bits = 32, domain = "..", name = "..")` | with `encrypt`: a blind index for equality lookups. Normalizers: `none` (default), `lowercase`, `trim`, `email`, `digits`, `last4`; `bits` in 8..=256 (default 32); `domain` defaults to [`index::default_domain`]`(table, field)`, `"5:users,5:email,"` |
/// | `prefix(lengths(2, 3), bits = 16, normalize = "..", expect(..))` | with `encrypt`: a keyed hash of the first *n* characters per length, columns `<column>_prefix<n>_bidx`; handle [`PrefixIndex`] `<FIELD>_PREFIX` (docs/search.md) |
/// | `suffix(lengths(4), bits = 16, normalize = "..", expect(..))` | the same over the last *n* characters: `<column>_suffix<n>_bidx`, [`SuffixIndex`] `<FIELD>_SUFFIX` |
/// | `contains(ngram = 3, filter_bits = 256, hashes = 4, normalize = "..", expect(..))` | substring search: a keyed n-gram Bloom filter, `<column>_contains_bloom`, [`ContainsIndex`] `<FIELD>_CONTAINS` |
/// | `range(width = 30, bits = 16, expect(..))` | on a [`RangeValue`] (integers; dates and timestamps with features `chrono`, `time`): keyed buckets of `width`, `<column>_range_bidx`, [`RangeIndex`] `<FIELD>_RANGE` |
/// | `expect(rows = N, distinct = N, chars = N, alphabet = N, min_coincidence = X, max_false_positives = X, max_fill = X)` | inside a partial index: runs the leakage planner ([`index::leakage`]) at compile time; a refused configuration does not compile |
/// | `hash_secure` | on a [`PasswordHash`]: stored as the Argon2id PHC string |
/// | `column = "name"` | the column name of this field |
/// | `skip` | not stored; `Default::default()` when read back |
///
/// Mistakes are compile errors pointing at the attribute: unknown or duplicate keys,
/// `searchable` without `encrypt`, `hash_secure` on another type, two `id` fields, `bits` out of
/// range, unknown normalizers, compound indexes naming missing or plain fields, `encrypt_none`
/// with a blind index, bad partial index options, a partial index the planner refuses, enums,
/// tuple structs and generics.
///
/// # Example
///
/// ```
/// use encx::{Crypto, Encrypted, LocalKeyring, MasterKey, PasswordHash, index::IndexKeys};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
/// pub struct Address { pub street: String, pub city: String }
///
/// #[derive(Clone, Debug, PartialEq, Encrypted)]
/// #[encx(table = "users", index(name = "name_city", fields(name, city), normalize = "lowercase"))]
/// pub struct User {
///     #[encx(id)]
///     pub id: uuid::Uuid,
///     pub username: String,                                 // plain
///     #[encx(encrypt, searchable(normalize = "email"))]
///     pub email: String,
///     #[encx(encrypt)]
///     pub phone: Option<String>,                            // None is stored as NULL
///     #[encx(encrypt_none)]
///     pub nickname: Option<String>,                         // presence hidden
///     #[encx(encrypt)]
///     pub name: String,
///     #[encx(encrypt)]
///     pub city: String,
///     #[encx(encrypt, column = "home")]
///     pub address: Address,                                 // any serde type
///     #[encx(hash_secure)]
///     pub password: PasswordHash,
///     #[encx(skip)]
///     pub session: Option<String>,
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> encx::Result<()> {
/// let crypto = Crypto::builder()
///     .keyring(LocalKeyring::new(vec![MasterKey::generate("v1")?])?)
///     .index_keys(IndexKeys::generate()?)
///     .password_policy(encx::PasswordPolicy::new(8192, 1, 1)?)
///     .build()
///     .await?;
/// let user = User {
///     id: uuid::Uuid::new_v4(),
///     username: "ada".into(),
///     email: "Ada@Example.com".into(),
///     phone: None,
///     nickname: Some("Enchantress".into()),
///     name: "Ada Lovelace".into(),
///     city: "London".into(),
///     address: Address { street: "12 St James's Sq".into(), city: "London".into() },
///     password: crypto.password_policy().hash("correct horse")?,
///     session: None,
/// };
/// let record: UserRecord = user.encrypt(&crypto).await?;
/// assert!(record.phone.is_none());
/// assert!(User::EMAIL.lookup(&crypto, " ada@example.com")?.contains(record.email_bidx.as_ref().unwrap()));
/// assert_eq!(User::decrypt(&record, &crypto).await?, user);
/// # Ok(()) }
/// ```
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
