//! [`HierarchicalKeyring`]: DEKs wrapped under a cached KEK whose own root is another keyring.
//!
//! ```text
//! root keyring (AWS KMS / local master key)
//!   └─ KEK v1, v2, ...   random 256-bit, stored wrapped by the root in a KekStore
//!        └─ DEKs          wrapped by the active KEK (AES-256-GCM), bound to table + record id
//! ```
//!
//! The root is called only to unwrap a KEK that is not cached (once per KEK per process per
//! cache TTL, with N concurrent cold callers sharing one call) and to wrap a new KEK.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use uuid::Uuid;

use super::cache::TtlCell;
use super::material::{Dek, Kek, KeyBytes};
use super::store::{KekState, KekStore, KeyPurpose, NewKek, StoredKek};
use super::wrapped;
use super::{KeyContext, Keyring, KeyringKind};
use crate::cipher::push_len_prefixed;
use crate::error::{Error, Result};
use crate::types::WrappedDek;

/// Table name bound into the root's wrapping of every stored key.
pub const KEY_TABLE: &str = "encx_keks";

/// Default time an unwrapped KEK stays cached.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(300);

/// The record id bytes under which the root wraps a stored key: everything that gives the key
/// its meaning, so that an edited `purpose` or `version` (or a row copied under another id)
/// fails to unwrap with [`Error::Tampered`]:
///
/// ```text
/// id (16 UUID bytes) | u32be(len) purpose | purpose ("kek" / "index") | i64be(version)
/// ```
///
/// The table bound beside it is [`KEY_TABLE`].
pub fn stored_key_record_id(id: &Uuid, purpose: KeyPurpose, version: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + 4 + 5 + 8);
    out.extend_from_slice(id.as_bytes());
    push_len_prefixed(&mut out, purpose.as_str().as_bytes());
    out.extend_from_slice(&version.to_be_bytes());
    out
}

/// The version a new key of `purpose` gets: one above the highest stored, never wrapping.
async fn next_version(store: &dyn KekStore, purpose: KeyPurpose) -> Result<i64> {
    let highest = store
        .list(purpose)
        .await?
        .iter()
        .map(|k| k.version)
        .max()
        .unwrap_or(0);
    highest.checked_add(1).ok_or_else(|| {
        Error::config(format!(
            "the {} key version counter is exhausted (highest version {highest})",
            purpose.as_str()
        ))
    })
}

/// Has the root generate a key (KMS `GenerateDataKey` for AWS, so that no caller needs
/// `kms:Encrypt` on the key table's context), bound to its id, purpose and version, and offers
/// it to the store as the new active key of `purpose`. Returns the active key afterwards, and
/// its bytes when this call's key won.
pub(crate) async fn create_stored_key(
    root: &dyn Keyring,
    store: &dyn KekStore,
    purpose: KeyPurpose,
    expected_active: Option<Uuid>,
) -> Result<(StoredKek, Option<KeyBytes>)> {
    let id = Uuid::new_v4();
    let version = next_version(store, purpose).await?;
    let binding = store.key_binding(&id, purpose, version);
    let (dek, wrapped) = root.generate_dek(&binding.context()).await?;
    let new = NewKek {
        id,
        purpose,
        version,
        root_key: root.key_description(),
        wrapped: wrapped.into_bytes(),
    };
    let active = store.insert_active(new, expected_active).await?;
    let won = (active.id == id).then(|| dek.into_key_bytes());
    Ok((active, won))
}

/// Unwraps a stored key with the root, refusing destroyed keys and keys of another purpose.
/// The unwrap binds the row's id, purpose and version: an edited row is [`Error::Tampered`].
pub(crate) async fn unwrap_stored_key(
    root: &dyn Keyring,
    store: &dyn KekStore,
    stored: &StoredKek,
    purpose: KeyPurpose,
) -> Result<KeyBytes> {
    if stored.purpose != purpose {
        return Err(Error::unknown_key_id(format!(
            "key {} is a {} key, not a {} key",
            stored.id,
            stored.purpose.as_str(),
            purpose.as_str()
        )));
    }
    if stored.state == KekState::Destroyed {
        return Err(Error::key_not_found(format!(
            "key {} (version {}) was destroyed",
            stored.id, stored.version
        )));
    }
    let wrapped = WrappedDek::from_bytes(stored.wrapped.clone());
    let binding = store.key_binding(&stored.id, stored.purpose, stored.version);
    let key = root.unwrap_dek(&wrapped, &binding.context()).await?;
    Ok(key.into_key_bytes())
}

/// Re-wraps every live key of `store` (KEKs and index root keys) that `root` does not wrap
/// with its active key, bound to the same id, purpose and version; each row is replaced only if
/// it is unchanged since it was read. Returns how many rows it replaced; with `count_only`,
/// how many it would replace, reading only their headers.
pub(crate) async fn rewrap_stored_keys(
    root: &dyn Keyring,
    store: &dyn KekStore,
    count_only: bool,
) -> Result<u64> {
    let mut replaced = 0;
    for purpose in [KeyPurpose::Kek, KeyPurpose::IndexRoot] {
        for stored in store.list(purpose).await? {
            if stored.state == KekState::Destroyed || stored.wrapped.is_empty() {
                continue;
            }
            let old = WrappedDek::from_bytes(stored.wrapped.clone());
            if root.wraps_with_active_key(&old).await? {
                continue;
            }
            if count_only {
                replaced += 1;
                continue;
            }
            let binding = store.key_binding(&stored.id, stored.purpose, stored.version);
            let ctx = binding.context();
            let key = root.unwrap_dek(&old, &ctx).await?;
            let new = root.wrap_dek(&key, &ctx).await?;
            let description = root.key_description();
            if store
                .replace_wrapped(stored.id, old.as_bytes(), new.as_bytes(), &description)
                .await?
            {
                replaced += 1;
            }
        }
    }
    Ok(replaced)
}

/// Wraps DEKs under a cached KEK. See the [module docs](self).
///
/// ```
/// use std::sync::Arc;
/// use encx::{HierarchicalKeyring, KeyContext, Keyring, LocalKeyring, MasterKey, MemoryKekStore};
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> encx::Result<()> {
/// let root = Arc::new(LocalKeyring::new(vec![MasterKey::generate("v1")?])?);
/// let keyring = HierarchicalKeyring::new(root, Arc::new(MemoryKekStore::new()));
/// let ctx = KeyContext::new("users", b"user-1");
/// let (dek, wrapped) = keyring.generate_dek(&ctx).await?;
///
/// let old = keyring.rotate_kek().await?;          // new KEK for new records...
/// let again = keyring.unwrap_dek(&wrapped, &ctx).await?; // ...older ones still unwrap
/// assert_eq!(dek.expose_secret(), again.expose_secret());
/// # Ok(()) }
/// ```
pub struct HierarchicalKeyring {
    root: Arc<dyn Keyring>,
    store: Arc<dyn KekStore>,
    ttl: Duration,
    active: TtlCell<Arc<Kek>>,
    keks: RwLock<HashMap<Uuid, Arc<TtlCell<Arc<Kek>>>>>,
}

impl HierarchicalKeyring {
    /// A keyring whose KEKs are wrapped by `root` and kept in `store`. The first KEK is created
    /// on first use if the store has none.
    pub fn new(root: Arc<dyn Keyring>, store: Arc<dyn KekStore>) -> Self {
        HierarchicalKeyring {
            root,
            store,
            ttl: DEFAULT_CACHE_TTL,
            active: TtlCell::new(),
            keks: RwLock::new(HashMap::new()),
        }
    }

    /// How long an unwrapped KEK (and the knowledge of which KEK is active) stays cached.
    /// Default 5 minutes. Shorter means faster revocation and more root calls.
    pub fn with_cache_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// The root keyring.
    pub fn root(&self) -> &Arc<dyn Keyring> {
        &self.root
    }

    /// The KEK store.
    pub fn store(&self) -> &Arc<dyn KekStore> {
        &self.store
    }

    /// The KEK that wraps new DEKs, creating the first one if the store has none.
    pub async fn active_kek(&self) -> Result<Arc<Kek>> {
        self.active
            .get_or_load(self.ttl, || async {
                match self.store.active(KeyPurpose::Kek).await? {
                    Some(stored) => self.kek(stored.id).await,
                    None => self.create_kek(None).await,
                }
            })
            .await
    }

    /// Makes a new KEK active; the previous one is retired (it still unwraps). If another
    /// process rotated at the same moment, its KEK is kept and returned instead. Returns the
    /// stored record of the KEK active afterwards.
    pub async fn rotate_kek(&self) -> Result<StoredKek> {
        let current = self.store.active(KeyPurpose::Kek).await?.map(|k| k.id);
        let (stored, won) =
            create_stored_key(&*self.root, &*self.store, KeyPurpose::Kek, current).await?;
        let kek = match won {
            Some(bytes) => self.remember(Kek::new(stored.id, stored.version, &bytes)),
            None => self.kek(stored.id).await?,
        };
        self.active.store_now(kek);
        Ok(stored)
    }

    /// The KEK with this id, from the cache or unwrapped by the root.
    pub async fn kek(&self, id: Uuid) -> Result<Arc<Kek>> {
        {
            let keks = self.keks.read().unwrap_or_else(|p| p.into_inner());
            if let Some(kek) = keks.get(&id).and_then(|cell| cell.fresh(self.ttl)) {
                return Ok(kek);
            }
        }
        let cell = {
            let mut keks = self.keks.write().unwrap_or_else(|p| p.into_inner());
            keks.entry(id)
                .or_insert_with(|| Arc::new(TtlCell::new()))
                .clone()
        };
        let loaded = cell
            .get_or_load(self.ttl, || async {
                let Some(stored) = self.store.get(id).await? else {
                    if self.store.held_elsewhere(id).await? {
                        // Another tenant's KEK: the record was moved between tenants.
                        return Err(Error::Tampered);
                    }
                    return Err(Error::unknown_key_id(format!(
                        "KEK {id} is not in the key store"
                    )));
                };
                let bytes =
                    unwrap_stored_key(&*self.root, &*self.store, &stored, KeyPurpose::Kek).await?;
                Ok(Arc::new(Kek::new(stored.id, stored.version, &bytes)))
            })
            .await;
        if loaded.is_err() {
            // Do not let unknown ids from tampered blobs grow the map.
            let mut keks = self.keks.write().unwrap_or_else(|p| p.into_inner());
            if keks
                .get(&id)
                .is_some_and(|c| Arc::ptr_eq(c, &cell) && c.is_empty())
            {
                keks.remove(&id);
            }
        }
        loaded
    }

    /// Re-wraps a DEK under the active KEK if it is wrapped under another one (the rewrap job
    /// after a KEK rotation). Returns `None` when it is already under the active KEK.
    pub async fn rewrap(
        &self,
        wrapped: &WrappedDek,
        ctx: &KeyContext<'_>,
    ) -> Result<Option<WrappedDek>> {
        if self.wraps_with_active_key(wrapped).await? {
            return Ok(None);
        }
        let dek = self.unwrap_dek(wrapped, ctx).await?;
        let active = self.active_kek().await?;
        Ok(Some(self.wrap_under(&active, &dek, ctx)?))
    }

    /// Drops every cached KEK, so the next use asks the store and the root again.
    pub fn clear_cache(&self) {
        self.active.clear();
        self.keks.write().unwrap_or_else(|p| p.into_inner()).clear();
    }

    async fn create_kek(&self, expected: Option<Uuid>) -> Result<Arc<Kek>> {
        let (stored, won) =
            create_stored_key(&*self.root, &*self.store, KeyPurpose::Kek, expected).await?;
        match won {
            Some(bytes) => Ok(self.remember(Kek::new(stored.id, stored.version, &bytes))),
            None => self.kek(stored.id).await,
        }
    }

    fn remember(&self, kek: Kek) -> Arc<Kek> {
        let kek = Arc::new(kek);
        let cell = Arc::new(TtlCell::new());
        cell.store_now(kek.clone());
        self.keks
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(kek.id(), cell);
        kek
    }

    fn wrap_under(&self, kek: &Kek, dek: &Dek, ctx: &KeyContext<'_>) -> Result<WrappedDek> {
        wrapped::wrap(
            kek.wrap_key(),
            KeyringKind::Hierarchical,
            kek.id().as_bytes(),
            dek,
            ctx,
        )
    }
}

/// A fresh DEK wrapped under `kek`, from one `getrandom` call.
fn generate_under(kek: &Kek, ctx: &KeyContext<'_>) -> Result<(Dek, WrappedDek)> {
    wrapped::generate(
        kek.wrap_key(),
        KeyringKind::Hierarchical,
        kek.id().as_bytes(),
        ctx,
    )
}

impl fmt::Debug for HierarchicalKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HierarchicalKeyring")
            .field("root", &self.root)
            .field("store", &self.store)
            .field("cache_ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Keyring for HierarchicalKeyring {
    fn kind(&self) -> KeyringKind {
        KeyringKind::Hierarchical
    }

    async fn warm_up(&self) -> Result<()> {
        self.active_kek().await.map(|_| ())
    }

    fn key_description(&self) -> String {
        format!("hierarchical(root={})", self.root.key_description())
    }

    fn kek_cache_ttl(&self) -> Option<Duration> {
        Some(self.ttl)
    }

    fn key_name(&self, description: &str) -> Option<String> {
        self.root.key_name(description)
    }

    async fn generate_dek(&self, ctx: &KeyContext<'_>) -> Result<(Dek, WrappedDek)> {
        let kek = self.active_kek().await?;
        generate_under(&kek, ctx)
    }

    fn generate_dek_now(&self, ctx: &KeyContext<'_>) -> Option<Result<(Dek, WrappedDek)>> {
        let kek = self.active.fresh(self.ttl)?;
        Some(generate_under(&kek, ctx))
    }

    async fn wrap_dek(&self, dek: &Dek, ctx: &KeyContext<'_>) -> Result<WrappedDek> {
        let kek = self.active_kek().await?;
        self.wrap_under(&kek, dek, ctx)
    }

    async fn unwrap_dek(&self, blob: &WrappedDek, ctx: &KeyContext<'_>) -> Result<Dek> {
        let header = wrapped::parse(blob.as_bytes(), KeyringKind::Hierarchical)?;
        let kek = self.kek(Uuid::from_bytes(header.key_id)).await?;
        wrapped::unwrap(kek.wrap_key(), blob.as_bytes(), ctx)
    }

    fn unwrap_dek_now(&self, blob: &WrappedDek, ctx: &KeyContext<'_>) -> Option<Result<Dek>> {
        let header = match wrapped::parse(blob.as_bytes(), KeyringKind::Hierarchical) {
            Ok(header) => header,
            Err(e) => return Some(Err(e)),
        };
        let kek = self
            .keks
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&Uuid::from_bytes(header.key_id))
            .and_then(|cell| cell.fresh(self.ttl))?;
        Some(wrapped::unwrap(kek.wrap_key(), blob.as_bytes(), ctx))
    }

    async fn wraps_with_active_key(&self, blob: &WrappedDek) -> Result<bool> {
        let header = wrapped::parse(blob.as_bytes(), KeyringKind::Hierarchical)?;
        Ok(header.key_id == *self.active_kek().await?.id().as_bytes())
    }

    async fn active_key_prefix(&self) -> Result<Option<Vec<u8>>> {
        let kek = self.active_kek().await?;
        Ok(Some(wrapped::key_prefix(
            KeyringKind::Hierarchical,
            kek.id().as_bytes(),
        )))
    }

    async fn rotate(&self) -> Result<String> {
        let stored = self.rotate_kek().await?;
        Ok(format!("KEK {} (version {})", stored.id, stored.version))
    }

    async fn rewrap_stored_keys(&self) -> Result<u64> {
        rewrap_stored_keys(&*self.root, &*self.store, false).await
    }

    async fn stored_keys_to_rewrap(&self) -> Result<u64> {
        rewrap_stored_keys(&*self.root, &*self.store, true).await
    }
}
