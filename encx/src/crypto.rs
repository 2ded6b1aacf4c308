//! [`Crypto`]: the keyring, index keys and settings that every encrypt and decrypt uses.

use std::fmt;
use std::sync::{Arc, RwLock};

use subtle::ConstantTimeEq;

use crate::cipher::FieldCipher;
use crate::error::{Error, Result};
use crate::index::normalize::Wiped;
use crate::index::{IndexKey, IndexKeys, IndexSpec, Indexable};
use crate::keys::{KekStore, KeyContext, Keyring};
use crate::password::PasswordPolicy;
use crate::record::{RecordContext, RecordOpener, RecordSealer};
use crate::types::{BlindIndex, WrappedDek};

/// Everything needed to encrypt, decrypt and index records. Cheap to clone (an `Arc`).
///
/// ```
/// use encx::{Crypto, LocalKeyring, MasterKey, index::IndexKeys};
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> encx::Result<()> {
/// let crypto = Crypto::builder()
///     .keyring(LocalKeyring::new(vec![MasterKey::generate("v1")?])?)
///     .index_keys(IndexKeys::generate()?)
///     .build()
///     .await?;
/// let sealer = crypto.seal_record("users", b"user-1").await?;
/// let email = sealer.seal("email", "ada@example.com")?;
/// let wrapped = sealer.into_wrapped_dek();
///
/// let opener = crypto.open_record("users", b"user-1", Some(&wrapped), &"user-1").await?;
/// assert_eq!(opener.open::<String>("email", &email)?, "ada@example.com");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Crypto {
    inner: Arc<Inner>,
}

struct Inner {
    keyring: Arc<dyn Keyring>,
    index_keys: Option<IndexKeys>,
    /// Derived keys by (domain, version). A handful of entries: a scan beats hashing.
    index_cache: RwLock<Vec<(String, u32, IndexKey)>>,
    password: PasswordPolicy,
}

impl fmt::Debug for Crypto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Crypto")
            .field("keyring", &self.inner.keyring)
            .field("index_keys", &self.inner.index_keys)
            .field("password", &self.inner.password)
            .finish()
    }
}

/// Builds a [`Crypto`]. A keyring is required; index keys are needed only for searchable
/// fields.
#[derive(Default)]
pub struct CryptoBuilder {
    keyring: Option<Arc<dyn Keyring>>,
    index_keys: Option<IndexKeys>,
    index_store: Option<(Arc<dyn KekStore>, Arc<dyn Keyring>)>,
    password: Option<PasswordPolicy>,
}

impl fmt::Debug for CryptoBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CryptoBuilder")
            .field("keyring", &self.keyring)
            .field("index_keys", &self.index_keys)
            .finish_non_exhaustive()
    }
}

impl CryptoBuilder {
    /// The keyring that wraps and unwraps DEKs.
    pub fn keyring(mut self, keyring: impl Keyring + 'static) -> Self {
        self.keyring = Some(Arc::new(keyring));
        self
    }

    /// A keyring already shared as `Arc<dyn Keyring>`.
    pub fn shared_keyring(mut self, keyring: Arc<dyn Keyring>) -> Self {
        self.keyring = Some(keyring);
        self
    }

    /// Index root keys given directly (e.g. [`IndexKeys::from_env`]).
    pub fn index_keys(mut self, keys: IndexKeys) -> Self {
        self.index_keys = Some(keys);
        self
    }

    /// Index root keys kept in `store`, wrapped by `root` (created on first use): see
    /// [`IndexKeys::load_or_create`].
    pub fn index_keys_in(mut self, store: Arc<dyn KekStore>, root: Arc<dyn Keyring>) -> Self {
        self.index_store = Some((store, root));
        self
    }

    /// Argon2id settings for `hash_secure` fields (default: OWASP).
    pub fn password_policy(mut self, policy: PasswordPolicy) -> Self {
        self.password = Some(policy);
        self
    }

    /// Builds it, loading index keys from their store if one was given.
    pub async fn build(self) -> Result<Crypto> {
        let keyring = self
            .keyring
            .ok_or_else(|| Error::config("Crypto::builder() needs a keyring"))?;
        let index_keys = match (self.index_keys, self.index_store) {
            (Some(_), Some(_)) => {
                return Err(Error::config(
                    "give index keys directly or a store for them, not both",
                ))
            }
            (Some(keys), None) => Some(keys),
            (None, Some((store, root))) => Some(IndexKeys::load_or_create(&*store, &*root).await?),
            (None, None) => None,
        };
        Ok(Crypto {
            inner: Arc::new(Inner {
                keyring,
                index_keys,
                index_cache: RwLock::new(Vec::new()),
                password: self.password.unwrap_or_default(),
            }),
        })
    }
}

impl Crypto {
    /// Starts a builder.
    pub fn builder() -> CryptoBuilder {
        CryptoBuilder::default()
    }

    /// The keyring.
    pub fn keyring(&self) -> &Arc<dyn Keyring> {
        &self.inner.keyring
    }

    /// The password policy for `hash_secure` fields.
    pub fn password_policy(&self) -> &PasswordPolicy {
        &self.inner.password
    }

    /// Generates and wraps a fresh DEK for a record, ready to seal its fields.
    pub async fn seal_record<'a>(
        &self,
        table: &'a str,
        record_id: &'a [u8],
    ) -> Result<RecordSealer<'a>> {
        let (dek, wrapped) = self
            .inner
            .keyring
            .generate_dek(&KeyContext::new(table, record_id))
            .await?;
        Ok(RecordSealer::new(
            RecordContext::new(table, record_id),
            FieldCipher::for_new_record_key(&dek),
            wrapped,
        ))
    }

    /// Unwraps a record's DEK, ready to open its fields. `wrapped` is `None` for an erased
    /// record, which gives [`Error::Shredded`] naming `display_id`.
    pub async fn open_record<'a>(
        &self,
        table: &'a str,
        record_id: &'a [u8],
        wrapped: Option<&WrappedDek>,
        display_id: &(dyn fmt::Display + Sync),
    ) -> Result<RecordOpener<'a>> {
        let wrapped = wrapped.ok_or_else(|| Error::Shredded {
            table: table.to_owned(),
            record: display_id.to_string(),
        })?;
        let dek = self
            .inner
            .keyring
            .unwrap_dek(wrapped, &KeyContext::new(table, record_id))
            .await?;
        Ok(RecordOpener::new(
            RecordContext::new(table, record_id),
            FieldCipher::new(&dek),
        ))
    }

    fn index_keys(&self) -> Result<&IndexKeys> {
        self.inner.index_keys.as_ref().ok_or_else(|| {
            Error::config(
                "searchable fields need index keys: use CryptoBuilder::index_keys or index_keys_in",
            )
        })
    }

    /// Runs `f` with the derived key of `domain` at `version`, deriving and caching it first.
    fn with_index_key<R>(
        &self,
        domain: &str,
        version: u32,
        f: impl FnOnce(&IndexKey) -> Result<R>,
    ) -> Result<R> {
        {
            let cache = self
                .inner
                .index_cache
                .read()
                .unwrap_or_else(|p| p.into_inner());
            if let Some((_, _, key)) = cache.iter().find(|(d, v, _)| *v == version && d == domain) {
                return f(key);
            }
        }
        let key = self.index_keys()?.derive(domain, version)?;
        let result = f(&key);
        let mut cache = self
            .inner
            .index_cache
            .write()
            .unwrap_or_else(|p| p.into_inner());
        if !cache.iter().any(|(d, v, _)| *v == version && d == domain) {
            cache.push((domain.to_owned(), version, key));
        }
        result
    }

    /// The blind index to store for `value` (active index key version).
    pub fn blind_index<V: Indexable + ?Sized>(
        &self,
        spec: &IndexSpec,
        value: &V,
    ) -> Result<BlindIndex> {
        let version = self.index_keys()?.active_version();
        self.blind_index_at(spec, value, version)
    }

    /// The blind index of `value` under a given index key version.
    pub fn blind_index_at<V: Indexable + ?Sized>(
        &self,
        spec: &IndexSpec,
        value: &V,
        version: u32,
    ) -> Result<BlindIndex> {
        let text = Wiped(value.index_text());
        let normalized = spec.normalizer.apply_wiped(&text);
        self.with_index_key(spec.domain, version, |key| {
            key.compute(spec.bits, normalized.as_bytes())
        })
    }

    /// The blind indexes of `value` under every index key version, newest first: a lookup
    /// queries all of them while a reindex is under way.
    pub fn blind_indexes_for_lookup<V: Indexable + ?Sized>(
        &self,
        spec: &IndexSpec,
        value: &V,
    ) -> Result<Vec<BlindIndex>> {
        let versions: Vec<u32> = self.index_keys()?.versions().collect();
        let mut out = Vec::with_capacity(versions.len());
        for version in versions.into_iter().rev() {
            let index = self.blind_index_at(spec, value, version)?;
            if !out.contains(&index) {
                out.push(index);
            }
        }
        Ok(out)
    }

    /// The compound blind index of several values (active version).
    pub fn compound_index(
        &self,
        spec: &IndexSpec,
        values: &[&dyn Indexable],
    ) -> Result<BlindIndex> {
        let version = self.index_keys()?.active_version();
        self.compound_index_at(spec, values, version)
    }

    /// The compound blind index of several values under a given version.
    pub fn compound_index_at(
        &self,
        spec: &IndexSpec,
        values: &[&dyn Indexable],
        version: u32,
    ) -> Result<BlindIndex> {
        let texts: Vec<_> = values.iter().map(|v| Wiped(v.index_text())).collect();
        let normalized: Vec<_> = texts
            .iter()
            .map(|t| spec.normalizer.apply_wiped(t))
            .collect();
        let parts: Vec<&[u8]> = normalized.iter().map(|n| n.as_bytes()).collect();
        self.with_index_key(spec.domain, version, |key| {
            key.compute_compound(spec.bits, &parts)
        })
    }

    /// The compound indexes of `values` under every index key version, newest first.
    pub fn compound_indexes_for_lookup(
        &self,
        spec: &IndexSpec,
        values: &[&dyn Indexable],
    ) -> Result<Vec<BlindIndex>> {
        let versions: Vec<u32> = self.index_keys()?.versions().collect();
        let mut out = Vec::with_capacity(versions.len());
        for version in versions.into_iter().rev() {
            let index = self.compound_index_at(spec, values, version)?;
            if !out.contains(&index) {
                out.push(index);
            }
        }
        Ok(out)
    }

    /// True when `stored` and `query` are equal after the spec's normalizer (compared in
    /// constant time): the re-check that removes blind-index false positives.
    pub fn index_matches<A: Indexable + ?Sized, B: Indexable + ?Sized>(
        &self,
        spec: &IndexSpec,
        stored: &A,
        query: &B,
    ) -> bool {
        let a = Wiped(stored.index_text());
        let b = Wiped(query.index_text());
        let a = spec.normalizer.apply_wiped(&a);
        let b = spec.normalizer.apply_wiped(&b);
        a.as_bytes().ct_eq(b.as_bytes()).into()
    }
}
