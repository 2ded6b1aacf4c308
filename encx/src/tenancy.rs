//! The tenant side of [`Crypto`]: scoping to a tenant, onboarding, offboarding, status and
//! moving a tenant to its own root key. The key hierarchy is described in
//! [`keys::tenant`](crate::keys::tenant).

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use uuid::Uuid;

use crate::audit::{AuditAction, AuditEvent, AuditOutcome};
use crate::cipher::push_len_prefixed;
use crate::crypto::{Crypto, Inner};
use crate::error::{Error, Result};
use crate::index::IndexKeys;
use crate::keys::cache::TtlCell;
use crate::keys::store::{KekState, KeyPurpose, StoredKek};
use crate::keys::tenant::{
    TenantRoot, TenantRootKeyring, TenantRoots, TenantRow, TenantState, TenantStore,
    TENANT_KEY_TABLE,
};
use crate::keys::{HierarchicalKeyring, Keyring};
use crate::types::WrappedDek;

/// The first bytes of the subject-key id of a data subject inside a tenant: subjects of two
/// tenants never share a key, whatever their ids.
pub(crate) const TENANT_SUBJECT_PREFIX: &[u8] = b"\xffencx-tenant\x00";

/// Which tenant a scoped [`Crypto`] serves.
#[derive(Debug, Clone)]
pub(crate) struct TenantTag {
    pub(crate) id: Vec<u8>,
    pub(crate) shown: String,
    /// Offboarded: reads are `Shredded`, writes `TenantErased`.
    pub(crate) erased: bool,
}

/// The tenants of one [`Crypto`]: store, roots, and the bounded cache of tenant scopes.
pub(crate) struct Tenants {
    store: Arc<dyn TenantStore>,
    roots: Option<Arc<dyn TenantRoots>>,
    ttl: Duration,
    scopes: quick_cache::sync::Cache<Vec<u8>, Arc<TtlCell<Crypto>>>,
}

impl fmt::Debug for Tenants {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tenants")
            .field("store", &self.store)
            .field("roots", &self.roots)
            .field("cache_ttl", &self.ttl)
            .field("cached", &self.scopes.len())
            .finish()
    }
}

impl Tenants {
    pub(crate) fn new(
        store: Arc<dyn TenantStore>,
        roots: Option<Arc<dyn TenantRoots>>,
        ttl: Duration,
        entries: usize,
    ) -> Self {
        Tenants {
            store,
            roots,
            ttl,
            scopes: quick_cache::sync::Cache::new(entries.max(1)),
        }
    }

    /// The cache cell of `tenant`, made if missing (the cache evicts cold tenants first).
    fn cell(&self, tenant: &[u8]) -> Arc<TtlCell<Crypto>> {
        if let Some(cell) = self.scopes.get(tenant) {
            return cell;
        }
        match self
            .scopes
            .get_or_insert_with(tenant, || Ok::<_, ()>(Arc::new(TtlCell::new())))
        {
            Ok(cell) => cell,
            Err(()) => Arc::new(TtlCell::new()),
        }
    }

    fn forget(&self, tenant: &[u8]) {
        self.scopes.remove(tenant);
    }

    fn resolve(&self, parent: &Crypto, root: &TenantRoot) -> Result<Arc<dyn Keyring>> {
        match root {
            TenantRoot::Default => Ok(parent.inner.keyring.clone()),
            TenantRoot::Own(name) => self
                .roots
                .as_ref()
                .ok_or_else(|| {
                    Error::config(
                        "a tenant has its own root key but no tenant roots are configured: use \
                         CryptoBuilder::tenant_roots",
                    )
                })?
                .root(name),
        }
    }

    /// The tenant's root as a keyring: its current root, and the one its keys move from.
    fn root_keyring(
        &self,
        parent: &Crypto,
        row: &TenantRow,
        shown: &str,
    ) -> Result<Arc<dyn Keyring>> {
        let current = (row.root.clone(), self.resolve(parent, &row.root)?);
        let previous = match &row.moving_from {
            Some(from) => Some((from.clone(), self.resolve(parent, from)?)),
            None => None,
        };
        Ok(Arc::new(TenantRootKeyring::new(
            shown.to_owned(),
            current,
            previous,
        )))
    }

    /// Loads a tenant's scope: registers a new tenant under the default root, and loads its
    /// index keys when the parent has index keys (searchable fields).
    async fn load(&self, parent: &Crypto, tenant: &[u8], shown: &str) -> Result<Crypto> {
        let row = match self.store.get(tenant).await? {
            Some(row) => row,
            None => self.store.register(tenant, &TenantRoot::Default).await?,
        };
        let tag = TenantTag {
            id: tenant.to_vec(),
            shown: shown.to_owned(),
            erased: row.state == TenantState::Erased,
        };
        if tag.erased {
            return Ok(parent.scoped(tag, parent.inner.keyring.clone(), None));
        }
        let root = self.root_keyring(parent, &row, shown)?;
        let keys = self.store.keys(tenant);
        let index_keys = match parent.inner.index_keys {
            Some(_) => Some(IndexKeys::load_or_create(&*keys, &*root).await?),
            None => None,
        };
        let keyring = HierarchicalKeyring::new(root, keys).with_cache_ttl(self.ttl);
        Ok(parent.scoped(tag, Arc::new(keyring), index_keys))
    }
}

/// A tenant's keys and state ([`Crypto::tenant_status`]).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TenantStatus {
    /// Its row (`None` for a tenant never seen).
    pub row: Option<TenantRow>,
    /// Its KEKs, lowest version first.
    pub keks: Vec<StoredKek>,
    /// Its index root keys, lowest version first.
    pub index_keys: Vec<StoredKek>,
}

impl TenantStatus {
    /// How many of its keys are not destroyed.
    pub fn live_keys(&self) -> usize {
        self.keks
            .iter()
            .chain(&self.index_keys)
            .filter(|k| k.state != KekState::Destroyed)
            .count()
    }
}

/// What [`Crypto::move_tenant_root`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TenantMove {
    /// Key rows re-wrapped under the new root by this call.
    pub rewrapped: u64,
    /// Key rows found under the new root already (a resumed move, or a tenant with no keys).
    pub already_there: u64,
}

impl Crypto {
    /// This `Crypto` scoped to `tenant` (the bytes of an `#[encx(tenant)]` field; `shown` is
    /// their printable form, for errors): records are sealed under the tenant's KEK and
    /// indexed with the tenant's index keys. A tenant seen for the first time is registered
    /// under the default root. Scopes are cached (see [`CryptoBuilder::tenant_cache`](crate::CryptoBuilder::tenant_cache)),
    /// so that this is a cache lookup for a warm tenant. The scope of an erased tenant refuses
    /// new records ([`Error::TenantErased`]) and reads its records as [`Error::Shredded`].
    pub async fn for_tenant(&self, tenant: &[u8], shown: &str) -> Result<Crypto> {
        if let Some(tag) = &self.inner.tenant {
            return if tag.id == tenant {
                Ok(self.clone())
            } else {
                Err(Error::config(
                    "this Crypto is scoped to another tenant: scope the unscoped Crypto",
                ))
            };
        }
        let tenants = self.tenants()?;
        tenants
            .cell(tenant)
            .get_or_load_strict(tenants.ttl, || tenants.load(self, tenant, shown))
            .await
    }

    /// The tenant this `Crypto` is scoped to, if any.
    pub fn tenant(&self) -> Option<&[u8]> {
        self.inner.tenant.as_ref().map(|t| t.id.as_slice())
    }

    /// Registers `tenant` with its root before its first record: the default root, or its own
    /// key ([`TenantRoot::Own`], bring your own key). A tenant already registered under
    /// another root is refused: move it with [`move_tenant_root`](Self::move_tenant_root).
    pub async fn onboard_tenant(&self, tenant: &[u8], root: TenantRoot) -> Result<TenantRow> {
        let tenants = self.tenants()?;
        tenants.resolve(self, &root)?;
        let row = tenants.store.register(tenant, &root).await?;
        if row.state == TenantState::Erased {
            return Err(Error::TenantErased {
                tenant: shown(tenant),
            });
        }
        if row.root != root {
            return Err(Error::config(format!(
                "the tenant is registered under root {} already: move it with move_tenant_root",
                row.root
            )));
        }
        tenants.forget(tenant);
        Ok(row)
    }

    /// Offboards `tenant`: marks it erased and destroys every one of its keys (KEKs and index
    /// keys) in the tenant store, in one step. From then on every record of the tenant, in
    /// every copy of the data that does not also hold the tenant key table, is noise, and new
    /// data for it is refused. Returns the ids of the keys destroyed by this call (none when
    /// it was erased before). This process forgets the tenant at once; others within their
    /// tenant cache TTL. `encx_sqlx::TenantEraser` also clears the tenant's rows, records the
    /// erasure in the ledger and audits it.
    pub async fn erase_tenant(&self, tenant: &[u8]) -> Result<Vec<Uuid>> {
        let tenants = self.tenants()?;
        let ids = tenants.store.erase(tenant).await;
        tenants.forget(tenant);
        ids
    }

    /// Makes this process load `tenant` from the tenant store at its next use (after another
    /// process changed it).
    pub fn forget_tenant(&self, tenant: &[u8]) -> Result<()> {
        self.tenants()?.forget(tenant);
        Ok(())
    }

    /// How long this process caches a tenant's scope: the longest another process keeps
    /// serving a tenant after it was erased. `None` without tenants.
    pub fn tenant_cache_ttl(&self) -> Option<Duration> {
        self.inner.tenants.as_ref().map(|t| t.ttl)
    }

    /// The tenant's row and keys, read from the tenant store (nothing is unwrapped).
    pub async fn tenant_status(&self, tenant: &[u8]) -> Result<TenantStatus> {
        let tenants = self.tenants()?;
        let keys = tenants.store.keys(tenant);
        Ok(TenantStatus {
            row: tenants.store.get(tenant).await?,
            keks: keys.list(KeyPurpose::Kek).await?,
            index_keys: keys.list(KeyPurpose::IndexRoot).await?,
        })
    }

    /// Up to `limit` tenants with an id above `after`, in id order.
    pub async fn tenants_page(&self, after: Option<&[u8]>, limit: usize) -> Result<Vec<TenantRow>> {
        self.tenants()?.store.page(after, limit).await
    }

    /// Moves `tenant`'s keys to root `to` (its own KMS key, or back to the default root):
    ///
    /// 1. the tenant's row names `to` as its root and its current root as the one it moves
    ///    from; new keys are wrapped by `to` from then on;
    /// 2. it waits one tenant cache TTL, so that every process has learnt that both roots
    ///    unwrap the tenant's keys;
    /// 3. each key row of the tenant not under `to` yet is unwrapped by the old root and
    ///    wrapped by `to` (replaced only if unchanged since read): the KEKs' bytes do not
    ///    change, so no record is touched;
    /// 4. the row forgets the old root.
    ///
    /// Safe to interrupt: called again, it resumes where it stopped (waiting only what is
    /// left of step 2). Audited as a rewrap of `encx_tenant_keys` with `actor`.
    pub async fn move_tenant_root(
        &self,
        tenant: &[u8],
        to: TenantRoot,
        actor: Option<&str>,
    ) -> Result<TenantMove> {
        let at = SystemTime::now();
        let started = Instant::now();
        let moved = self.move_tenant_root_inner(tenant, &to).await;
        let mut event = AuditEvent::new(AuditAction::Rewrap, TENANT_KEY_TABLE, at);
        event.duration = started.elapsed();
        event.actor = actor.map(str::to_owned);
        event.subject = Some(shown(tenant));
        match &moved {
            Ok(done) => event.records = done.rewrapped,
            Err(e) => event.outcome = AuditOutcome::Failed(e.kind()),
        }
        self.inner.audit.record(event);
        moved
    }

    async fn move_tenant_root_inner(&self, tenant: &[u8], to: &TenantRoot) -> Result<TenantMove> {
        let tenants = self.tenants()?;
        let new_root = tenants.resolve(self, to)?;
        let row = tenants.store.register(tenant, to).await?;
        if row.state == TenantState::Erased {
            return Err(Error::TenantErased {
                tenant: shown(tenant),
            });
        }
        let wait = if row.root != *to {
            if !tenants
                .store
                .set_root(tenant, &row.root, to, Some(&row.root))
                .await?
            {
                return Err(Error::unavailable(
                    "the tenant's root changed while it was being moved; run the move again",
                ));
            }
            tenants.ttl
        } else if row.moving_from.is_some() {
            let since = row.updated_at.elapsed().unwrap_or_default();
            tenants.ttl.saturating_sub(since)
        } else {
            Duration::ZERO
        };
        tenants.forget(tenant);
        tokio::time::sleep(wait).await;
        let row = tenants
            .store
            .get(tenant)
            .await?
            .ok_or_else(|| Error::unavailable("the tenant's row vanished during its move"))?;
        let old_root = tenants.root_keyring(self, &row, &shown(tenant))?;
        let keys = tenants.store.keys(tenant);
        let description = new_root.key_description();
        let mut done = TenantMove::default();
        for purpose in [KeyPurpose::Kek, KeyPurpose::IndexRoot] {
            for stored in keys.list(purpose).await? {
                if stored.state == KekState::Destroyed || stored.wrapped.is_empty() {
                    continue;
                }
                if stored.root_key == description {
                    done.already_there += 1;
                    continue;
                }
                let binding = keys.key_binding(&stored.id, stored.purpose, stored.version);
                let ctx = binding.context();
                let old = WrappedDek::from_bytes(stored.wrapped.clone());
                let key = old_root.unwrap_dek(&old, &ctx).await?;
                let new = new_root.wrap_dek(&key, &ctx).await?;
                if keys
                    .replace_wrapped(stored.id, old.as_bytes(), new.as_bytes(), &description)
                    .await?
                {
                    done.rewrapped += 1;
                }
            }
        }
        if row.moving_from.is_some() {
            tenants.store.set_root(tenant, to, to, None).await?;
        }
        tenants.forget(tenant);
        Ok(done)
    }

    /// The key under which a data subject's key is kept: the subject itself, or inside a
    /// tenant's scope the tenant and the subject, so that equal subject ids of two tenants
    /// never share a key.
    pub(crate) fn subject_key_for<'s>(&self, subject: &'s [u8]) -> Cow<'s, [u8]> {
        match &self.inner.tenant {
            None => Cow::Borrowed(subject),
            Some(tag) => {
                let mut out = TENANT_SUBJECT_PREFIX.to_vec();
                push_len_prefixed(&mut out, &tag.id);
                out.extend_from_slice(subject);
                Cow::Owned(out)
            }
        }
    }

    /// Whether subject-key row `subject` belongs to this `Crypto`'s scope (its tenant, or no
    /// tenant): what a rewrap of subject keys may touch.
    pub(crate) fn owns_subject_key(&self, subject: &[u8]) -> bool {
        match &self.inner.tenant {
            None => !subject.starts_with(TENANT_SUBJECT_PREFIX),
            Some(tag) => {
                let mut prefix = TENANT_SUBJECT_PREFIX.to_vec();
                push_len_prefixed(&mut prefix, &tag.id);
                subject.starts_with(&prefix)
            }
        }
    }

    /// [`Error::TenantErased`] in the scope of an erased tenant.
    pub(crate) fn refuse_erased_tenant(&self) -> Result<()> {
        match &self.inner.tenant {
            Some(tag) if tag.erased => Err(Error::TenantErased {
                tenant: tag.shown.clone(),
            }),
            _ => Ok(()),
        }
    }

    fn tenants(&self) -> Result<&Tenants> {
        self.inner.tenants.as_deref().ok_or_else(|| {
            Error::config(if self.inner.tenant.is_some() {
                "tenants are managed through the unscoped Crypto, not a tenant's scope"
            } else {
                "records with a tenant need a tenant store: use CryptoBuilder::tenants"
            })
        })
    }

    /// A `Crypto` like this one, scoped to a tenant: its keyring and index keys.
    fn scoped(
        &self,
        tag: TenantTag,
        keyring: Arc<dyn Keyring>,
        index_keys: Option<IndexKeys>,
    ) -> Crypto {
        Crypto {
            inner: Arc::new(Inner {
                keyring,
                index_keys,
                index_cache: RwLock::new(Vec::new()),
                password: self.inner.password.clone(),
                subjects: self.inner.subjects.clone(),
                audit: self.inner.audit.clone(),
                aead: self.inner.aead,
                format_1_only: self.inner.format_1_only,
                tenants: None,
                tenant: Some(tag),
            }),
        }
    }
}

/// A tenant id for messages: UTF-8 when it is, else hex.
fn shown(tenant: &[u8]) -> String {
    match std::str::from_utf8(tenant) {
        Ok(text) if text.chars().all(|c| !c.is_control()) => text.to_owned(),
        _ => tenant.iter().map(|b| format!("{b:02x}")).collect(),
    }
}
