//! Keys and keyrings: who wraps and unwraps the per-record data keys.
//!
//! - [`LocalKeyring`]: versioned master keys held by the process (development, tests, small
//!   deployments).
//! - [`HierarchicalKeyring`]: DEKs wrapped under a cached KEK, whose own root is any other
//!   keyring (the recommended production setup with AWS KMS as the root).
//!
//! Every wrapped DEK is bound to a [`KeyContext`] (table and record id), so a DEK copied to
//! another record does not unwrap.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use crate::error::Result;
use crate::types::WrappedDek;

#[cfg(feature = "aws-kms")]
pub mod aws_kms;
pub(crate) mod cache;
pub mod hierarchical;
pub mod local;
pub(crate) mod material;
pub mod store;
pub mod subject;
pub mod tenant;
pub(crate) mod wrapped;

pub use wrapped::KeyInUse;

#[cfg(feature = "aws-kms")]
pub use aws_kms::{AwsKmsKeyring, AwsKmsKeyringBuilder, KmsCalls};
pub use hierarchical::HierarchicalKeyring;
pub use local::{LocalKeyring, MasterKey};
pub use material::{Dek, Kek, KEY_LEN};
pub use store::{KekState, KekStore, KeyBinding, KeyPurpose, MemoryKekStore, NewKek, StoredKek};
pub use subject::{
    ErasureEntry, ErasureLedger, ErasureScope, MemoryErasureLedger, MemorySubjectKeyStore,
    NewSubjectKey, StoredSubjectKey, SubjectKeyStore, SubjectKeysRewrapped,
};

/// What a wrapped data key is bound to: the table and record it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyContext<'a> {
    /// Table of the record.
    pub table: &'a str,
    /// Record id bytes (see [`RecordId`](crate::RecordId)).
    pub record_id: &'a [u8],
}

impl<'a> KeyContext<'a> {
    /// A context from its parts.
    pub fn new(table: &'a str, record_id: &'a [u8]) -> Self {
        KeyContext { table, record_id }
    }
}

/// Which keyring wrapped a DEK: the second byte of every wrapped DEK.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyringKind {
    /// [`LocalKeyring`]: AES-256-GCM under a local master key.
    Local,
    /// AWS KMS direct mode: the blob is a KMS `CiphertextBlob`.
    AwsKms,
    /// [`HierarchicalKeyring`]: AES-256-GCM under a KEK.
    Hierarchical,
    /// A data subject's key ([`subject`]): AES-256-GCM under the subject key, whose own row
    /// is wrapped by the configured keyring.
    Subject,
}

impl KeyringKind {
    /// The byte stored in wrapped DEKs.
    pub fn byte(self) -> u8 {
        match self {
            KeyringKind::Local => 0x01,
            KeyringKind::AwsKms => 0x02,
            KeyringKind::Hierarchical => 0x03,
            KeyringKind::Subject => 0x04,
        }
    }

    /// The kind for a stored byte, if known.
    pub fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            0x01 => Some(KeyringKind::Local),
            0x02 => Some(KeyringKind::AwsKms),
            0x03 => Some(KeyringKind::Hierarchical),
            0x04 => Some(KeyringKind::Subject),
            _ => None,
        }
    }
}

impl fmt::Display for KeyringKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyringKind::Local => "local",
            KeyringKind::AwsKms => "aws-kms",
            KeyringKind::Hierarchical => "hierarchical",
            KeyringKind::Subject => "subject",
        })
    }
}

/// Wraps and unwraps data keys. Object-safe: use it as `Arc<dyn Keyring>`.
///
/// ```
/// use encx::{Keyring, KeyContext, LocalKeyring, MasterKey, Dek};
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> encx::Result<()> {
/// let keyring: std::sync::Arc<dyn Keyring> =
///     std::sync::Arc::new(LocalKeyring::new(vec![MasterKey::generate("v1")?])?);
/// let ctx = KeyContext::new("users", b"user-1");
/// let (dek, wrapped) = keyring.generate_dek(&ctx).await?;
/// let again = keyring.unwrap_dek(&wrapped, &ctx).await?;
/// assert_eq!(dek.expose_secret(), again.expose_secret());
/// # Ok(()) }
/// ```
#[async_trait]
pub trait Keyring: Send + Sync + fmt::Debug {
    /// Which kind of keyring this is (stored in every blob it wraps).
    fn kind(&self) -> KeyringKind;

    /// A stable, non-secret name of the key that wraps new DEKs, e.g. `local:3f2a…` or a KMS
    /// key ARN. Stored beside KEKs so operators can tell which root wrapped them.
    fn key_description(&self) -> String;

    /// A new random DEK and its wrapped form. Keyrings that can generate keys remotely (KMS
    /// `GenerateDataKey`) override this. The DEK must be fresh and random every time: encx
    /// relies on it never serving two records.
    async fn generate_dek(&self, ctx: &KeyContext<'_>) -> Result<(Dek, WrappedDek)> {
        let dek = Dek::generate()?;
        let wrapped = self.wrap_dek(&dek, ctx).await?;
        Ok((dek, wrapped))
    }

    /// [`generate_dek`](Self::generate_dek) answered from memory, without waiting, when this
    /// keyring can (a local master key, a cached KEK); `None` means "call `generate_dek`".
    /// `Crypto` tries it first, which spares the boxed future of an async trait call per
    /// record. The default is `None`.
    fn generate_dek_now(&self, ctx: &KeyContext<'_>) -> Option<Result<(Dek, WrappedDek)>> {
        let _ = ctx;
        None
    }

    /// [`unwrap_dek`](Self::unwrap_dek) answered from memory when this keyring can; `None`
    /// means "call `unwrap_dek`" (see [`generate_dek_now`](Self::generate_dek_now)).
    fn unwrap_dek_now(&self, wrapped: &WrappedDek, ctx: &KeyContext<'_>) -> Option<Result<Dek>> {
        let _ = (wrapped, ctx);
        None
    }

    /// Wraps an existing DEK for `ctx`.
    async fn wrap_dek(&self, dek: &Dek, ctx: &KeyContext<'_>) -> Result<WrappedDek>;

    /// Unwraps a DEK wrapped for `ctx`: [`Error::Tampered`](crate::Error::Tampered) when the
    /// blob was altered or belongs to another context, [`Error::KeyNotFound`](crate::Error::KeyNotFound)
    /// when its key is unknown here.
    async fn unwrap_dek(&self, wrapped: &WrappedDek, ctx: &KeyContext<'_>) -> Result<Dek>;

    /// Whether `wrapped` is wrapped under the key this keyring wraps new DEKs with; a rewrap
    /// job re-wraps the DEKs for which it is false. Reads only the blob's header. The default,
    /// for keyrings whose key rotates inside the KMS (AWS KMS keeps old key material for old
    /// blobs), is `true`.
    async fn wraps_with_active_key(&self, wrapped: &WrappedDek) -> Result<bool> {
        let _ = wrapped;
        Ok(true)
    }

    /// The first bytes every DEK wrapped now starts with (format, kind, key id: the
    /// [`KeyInUse::PREFIX_LEN`] bytes of its header), so that a rewrap job can ask the
    /// database for the rows that still need it; `None` (the default) for keyrings whose blobs
    /// name no key at a fixed place (AWS KMS, which needs no rewrap).
    async fn active_key_prefix(&self) -> Result<Option<Vec<u8>>> {
        Ok(None)
    }

    /// Loads what wrapping a new DEK needs into memory (the active KEK of a
    /// [`HierarchicalKeyring`], created if there is none), so
    /// that the next wraps need no store or KMS call. The default, for keyrings that keep
    /// nothing cached, does nothing.
    async fn warm_up(&self) -> Result<()> {
        Ok(())
    }

    /// Makes a new key-encryption key active for new DEKs and returns its description; the
    /// previous one still unwraps. Only keyrings with KEKs of their own
    /// ([`HierarchicalKeyring`]) can; the others refuse with
    /// [`Error::InvalidConfig`](crate::Error::InvalidConfig) (rotate a local master key by
    /// adding a version, an AWS KMS key in KMS).
    async fn rotate(&self) -> Result<String> {
        Err(crate::Error::config(format!(
            "a {} keyring has no key-encryption keys of its own to rotate: rotate its key \
             outside encx (a new master key version, KMS key rotation), or use a \
             HierarchicalKeyring",
            self.kind()
        )))
    }

    /// Re-wraps the keys this keyring keeps wrapped under a root key (the KEKs and index root
    /// keys of a [`HierarchicalKeyring`]'s store) that are not
    /// under its root's active key, after a root key rotation (a new local master key
    /// version); returns how many it re-wrapped. A key's bytes do not change, so nothing
    /// wrapped under it needs touching. The default, for keyrings that keep no wrapped keys,
    /// does nothing.
    async fn rewrap_stored_keys(&self) -> Result<u64> {
        Ok(0)
    }

    /// How many stored keys [`rewrap_stored_keys`](Self::rewrap_stored_keys) would re-wrap
    /// now; reads the stored keys' headers only.
    async fn stored_keys_to_rewrap(&self) -> Result<u64> {
        Ok(0)
    }

    /// How long this keyring keeps an unwrapped key-encryption key, and the knowledge of
    /// which one is active, in memory: after a rotation, another process may wrap new DEKs
    /// under the retired KEK for this long. `None` (the default) for keyrings that cache no
    /// KEK.
    fn kek_cache_ttl(&self) -> Option<std::time::Duration> {
        None
    }

    /// The operator's name for the root key a stored key says wrapped it (its `root_key`,
    /// a [`key_description`](Self::key_description)), where this keyring knows one: a local
    /// master key's version (`v1`). `None` (the default) otherwise.
    fn key_name(&self, description: &str) -> Option<String> {
        let _ = description;
        None
    }
}

#[async_trait]
impl<K: Keyring + ?Sized> Keyring for Arc<K> {
    fn kind(&self) -> KeyringKind {
        (**self).kind()
    }
    fn key_description(&self) -> String {
        (**self).key_description()
    }
    async fn generate_dek(&self, ctx: &KeyContext<'_>) -> Result<(Dek, WrappedDek)> {
        (**self).generate_dek(ctx).await
    }
    fn generate_dek_now(&self, ctx: &KeyContext<'_>) -> Option<Result<(Dek, WrappedDek)>> {
        (**self).generate_dek_now(ctx)
    }
    fn unwrap_dek_now(&self, wrapped: &WrappedDek, ctx: &KeyContext<'_>) -> Option<Result<Dek>> {
        (**self).unwrap_dek_now(wrapped, ctx)
    }
    async fn wrap_dek(&self, dek: &Dek, ctx: &KeyContext<'_>) -> Result<WrappedDek> {
        (**self).wrap_dek(dek, ctx).await
    }
    async fn unwrap_dek(&self, wrapped: &WrappedDek, ctx: &KeyContext<'_>) -> Result<Dek> {
        (**self).unwrap_dek(wrapped, ctx).await
    }
    async fn wraps_with_active_key(&self, wrapped: &WrappedDek) -> Result<bool> {
        (**self).wraps_with_active_key(wrapped).await
    }
    async fn rotate(&self) -> Result<String> {
        (**self).rotate().await
    }
    async fn active_key_prefix(&self) -> Result<Option<Vec<u8>>> {
        (**self).active_key_prefix().await
    }
    async fn rewrap_stored_keys(&self) -> Result<u64> {
        (**self).rewrap_stored_keys().await
    }
    async fn stored_keys_to_rewrap(&self) -> Result<u64> {
        (**self).stored_keys_to_rewrap().await
    }
    async fn warm_up(&self) -> Result<()> {
        (**self).warm_up().await
    }
    fn kek_cache_ttl(&self) -> Option<std::time::Duration> {
        (**self).kek_cache_ttl()
    }
    fn key_name(&self, description: &str) -> Option<String> {
        (**self).key_name(description)
    }
}
