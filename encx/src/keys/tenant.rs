//! Tenants: a key hierarchy per customer in one database.
//!
//! ```text
//! tenant root     the default root (the Crypto's keyring), or the tenant's own KMS key
//!  │              (bring your own key: a key in the tenant's AWS account, used through a grant)
//!  ├─ tenant KEK      random 256-bit, versioned, row in `encx_tenant_keys` wrapped by the
//!  │  │               tenant root, bound to (id, purpose, version, tenant)
//!  │  └─ DEK          one per record of the tenant (kind 0x03 blob naming the tenant KEK)
//!  └─ tenant index root  random 256-bit, same table: the tenant's blind-index keys derive from
//!                        it, so equal values of two tenants have unrelated index values
//! ```
//!
//! A record with an `#[encx(tenant)]` field is sealed and opened through its tenant's scope
//! ([`Crypto::for_tenant`](crate::Crypto::for_tenant)): a [`HierarchicalKeyring`](crate::HierarchicalKeyring) over the
//! tenant's rows of a [`TenantStore`], and the tenant's index keys. The scopes of the tenants
//! in use are cached per process, bounded ([`DEFAULT_TENANT_CACHE_ENTRIES`], many tenants and
//! few hot ones stay cheap), for a TTL, and a cold tenant is loaded once however many callers
//! ask at the same moment (single flight).
//!
//! Offboarding ([`Crypto::erase_tenant`](crate::Crypto::erase_tenant)) destroys every key row
//! of the tenant: every record of the tenant, in every copy of the data that does not also hold
//! the tenant key table, turns to noise. A tenant on its own KMS key can also revoke encx's
//! access by itself: its records then fail with [`Error::TenantKeyRevoked`], other tenants are
//! unaffected.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use uuid::Uuid;

use super::hierarchical::stored_key_record_id;
use super::material::Dek;
use super::store::{KekState, KekStore, KeyBinding, KeyPurpose, MemoryKekStore, NewKek, StoredKek};
use super::{KeyContext, Keyring, KeyringKind};
use crate::cipher::push_len_prefixed;
use crate::error::{Error, Result};
use crate::types::WrappedDek;

/// Table whose name the root binds into the wrapping of every tenant key row.
pub const TENANT_KEY_TABLE: &str = "encx_tenant_keys";

/// Default number of tenants whose keys a process keeps loaded at once.
pub const DEFAULT_TENANT_CACHE_ENTRIES: usize = 1_000;

/// Default time a tenant's scope (its root, state and index keys) stays cached; its KEKs follow
/// the [`HierarchicalKeyring`](crate::HierarchicalKeyring)'s own TTL, the same by default. The
/// longest another process keeps serving a tenant after it was erased, or after its root
/// changed.
pub const DEFAULT_TENANT_CACHE_TTL: Duration = Duration::from_secs(300);

/// The record id bytes under which a tenant's root wraps one of its key rows:
///
/// ```text
/// id (16) | u32be(len) purpose | purpose | i64be(version) | u32be(len) tenant | tenant
/// ```
///
/// beside table [`TENANT_KEY_TABLE`]. A row copied to another tenant, or edited, does not unwrap.
pub fn tenant_key_record_id(
    tenant: &[u8],
    id: &Uuid,
    purpose: KeyPurpose,
    version: i64,
) -> Vec<u8> {
    let mut out = stored_key_record_id(id, purpose, version);
    push_len_prefixed(&mut out, tenant);
    out
}

/// The [`KeyBinding`] of a tenant's key row.
pub fn tenant_key_binding(
    tenant: &[u8],
    id: &Uuid,
    purpose: KeyPurpose,
    version: i64,
) -> KeyBinding {
    KeyBinding {
        table: TENANT_KEY_TABLE,
        record_id: tenant_key_record_id(tenant, id, purpose, version),
    }
}

/// Which root wraps a tenant's keys.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TenantRoot {
    /// The `Crypto`'s own keyring (AWS KMS key of the operator, or the local master key).
    Default,
    /// The tenant's own key, by the name [`TenantRoots`] resolves (for [`KmsTenantRoots`]: a
    /// KMS key ARN in the tenant's account, used through a grant).
    Own(String),
}

impl TenantRoot {
    /// The tenant's own key `name`.
    pub fn own(name: impl Into<String>) -> Self {
        TenantRoot::Own(name.into())
    }

    /// The form stored in `encx_tenants.root`: `default` or `own:<name>`.
    pub fn to_stored(&self) -> String {
        match self {
            TenantRoot::Default => "default".to_owned(),
            TenantRoot::Own(name) => format!("own:{name}"),
        }
    }

    /// Parses a stored root ([`InvalidConfig`](Error::InvalidConfig) for anything else).
    ///
    /// ```
    /// use encx::keys::tenant::TenantRoot;
    /// let own = TenantRoot::own("arn:aws:kms:eu-west-1:111122223333:key/1");
    /// assert_eq!(TenantRoot::parse(&own.to_stored()).unwrap(), own);
    /// assert!(TenantRoot::parse("own:").is_err());
    /// ```
    pub fn parse(stored: &str) -> Result<Self> {
        match stored {
            "default" => Ok(TenantRoot::Default),
            _ => match stored.strip_prefix("own:") {
                Some(name) if !name.is_empty() && name.len() <= 2048 => {
                    Ok(TenantRoot::Own(name.to_owned()))
                }
                _ => Err(Error::config(
                    "stored tenant root is neither `default` nor `own:<name>`",
                )),
            },
        }
    }
}

impl fmt::Display for TenantRoot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_stored())
    }
}

/// Where a tenant is in its life cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TenantState {
    /// Its keys serve reads and writes.
    Active,
    /// Offboarded: its keys are destroyed, new data is refused.
    Erased,
}

impl TenantState {
    /// Name stored in `encx_tenants.state`.
    pub fn as_str(self) -> &'static str {
        match self {
            TenantState::Active => "active",
            TenantState::Erased => "erased",
        }
    }

    /// Parses a stored name.
    pub fn parse(stored: &str) -> Result<Self> {
        match stored {
            "active" => Ok(TenantState::Active),
            "erased" => Ok(TenantState::Erased),
            _ => Err(Error::config("unknown stored tenant state")),
        }
    }
}

/// One row of `encx_tenants`: a tenant's root and state.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TenantRow {
    /// The tenant's id bytes ([`RecordId`](crate::RecordId) of the `#[encx(tenant)]` field).
    pub tenant: Vec<u8>,
    /// The root that wraps its new keys.
    pub root: TenantRoot,
    /// While its keys move to `root` ([`Crypto::move_tenant_root`](crate::Crypto::move_tenant_root)):
    /// the root they come from, which still unwraps the rows not moved yet.
    pub moving_from: Option<TenantRoot>,
    /// Active or erased.
    pub state: TenantState,
    /// When the row was written.
    pub created_at: SystemTime,
    /// When root, move or state last changed.
    pub updated_at: SystemTime,
}

impl TenantRow {
    /// A row from its stored parts.
    pub fn stored(
        tenant: Vec<u8>,
        root: TenantRoot,
        moving_from: Option<TenantRoot>,
        state: TenantState,
        created_at: SystemTime,
        updated_at: SystemTime,
    ) -> Self {
        TenantRow {
            tenant,
            root,
            moving_from,
            state,
            created_at,
            updated_at,
        }
    }
}

/// Where tenants and their keys live: `encx_sqlx::SqlTenantStore` (tables `encx_tenants` and
/// `encx_tenant_keys`, in the data's database or one of its own) or [`MemoryTenantStore`].
#[async_trait]
pub trait TenantStore: Send + Sync + fmt::Debug {
    /// The tenant's key rows (KEKs and index root keys) as a [`KekStore`] that sees only them
    /// and binds the tenant into every row's wrapping.
    fn keys(&self, tenant: &[u8]) -> Arc<dyn KekStore>;

    /// The tenant's row, if it has one.
    async fn get(&self, tenant: &[u8]) -> Result<Option<TenantRow>>;

    /// Stores a row for `tenant` with `root` if it has none. Returns its row afterwards (the
    /// existing one, whatever its root, if there was one).
    async fn register(&self, tenant: &[u8], root: &TenantRoot) -> Result<TenantRow>;

    /// Sets the tenant's root and the root it is moving from, if its root still is `expected`
    /// and it is not erased; whether it did.
    async fn set_root(
        &self,
        tenant: &[u8],
        expected: &TenantRoot,
        root: &TenantRoot,
        moving_from: Option<&TenantRoot>,
    ) -> Result<bool>;

    /// Offboards the tenant in one step: marks it erased (a tenant with no row gets an erased
    /// row, so no key can be created for it) and destroys every one of its key rows, the
    /// active ones included (the wrapped bytes are deleted, the rows stay). Idempotent.
    /// Returns the ids of the keys this call destroyed.
    async fn erase(&self, tenant: &[u8]) -> Result<Vec<Uuid>>;

    /// Up to `limit` tenants with an id above `after`, in id order.
    async fn page(&self, after: Option<&[u8]>, limit: usize) -> Result<Vec<TenantRow>>;
}

type TenantKeyMap = Arc<Mutex<HashMap<Vec<u8>, Arc<MemoryKekStore>>>>;

/// Tenants in memory, for tests.
#[derive(Default)]
pub struct MemoryTenantStore {
    rows: Mutex<Vec<TenantRow>>,
    keys: TenantKeyMap,
}

impl MemoryTenantStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn rows(&self) -> std::sync::MutexGuard<'_, Vec<TenantRow>> {
        self.rows.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn key_store(&self, tenant: &[u8]) -> Arc<MemoryKekStore> {
        self.keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(tenant.to_vec())
            .or_default()
            .clone()
    }
}

impl fmt::Debug for MemoryTenantStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryTenantStore").finish_non_exhaustive()
    }
}

fn new_row(tenant: &[u8], root: &TenantRoot, state: TenantState) -> TenantRow {
    let now = SystemTime::now();
    TenantRow {
        tenant: tenant.to_vec(),
        root: root.clone(),
        moving_from: None,
        state,
        created_at: now,
        updated_at: now,
    }
}

#[async_trait]
impl TenantStore for MemoryTenantStore {
    fn keys(&self, tenant: &[u8]) -> Arc<dyn KekStore> {
        Arc::new(MemoryTenantKeys {
            tenant: tenant.to_vec(),
            keys: self.key_store(tenant),
            all: self.keys.clone(),
        })
    }

    async fn get(&self, tenant: &[u8]) -> Result<Option<TenantRow>> {
        Ok(self.rows().iter().find(|r| r.tenant == tenant).cloned())
    }

    async fn register(&self, tenant: &[u8], root: &TenantRoot) -> Result<TenantRow> {
        let mut rows = self.rows();
        if let Some(row) = rows.iter().find(|r| r.tenant == tenant) {
            return Ok(row.clone());
        }
        let row = new_row(tenant, root, TenantState::Active);
        rows.push(row.clone());
        Ok(row)
    }

    async fn set_root(
        &self,
        tenant: &[u8],
        expected: &TenantRoot,
        root: &TenantRoot,
        moving_from: Option<&TenantRoot>,
    ) -> Result<bool> {
        let mut rows = self.rows();
        let Some(row) = rows
            .iter_mut()
            .find(|r| r.tenant == tenant && r.root == *expected && r.state == TenantState::Active)
        else {
            return Ok(false);
        };
        row.root = root.clone();
        row.moving_from = moving_from.cloned();
        row.updated_at = SystemTime::now();
        Ok(true)
    }

    async fn erase(&self, tenant: &[u8]) -> Result<Vec<Uuid>> {
        let mut rows = self.rows();
        match rows.iter_mut().find(|r| r.tenant == tenant) {
            Some(row) if row.state != TenantState::Erased => {
                row.state = TenantState::Erased;
                row.updated_at = SystemTime::now();
            }
            Some(_) => {}
            None => rows.push(new_row(tenant, &TenantRoot::Default, TenantState::Erased)),
        }
        self.key_store(tenant).destroy_all()
    }

    async fn page(&self, after: Option<&[u8]>, limit: usize) -> Result<Vec<TenantRow>> {
        let mut page: Vec<TenantRow> = self
            .rows()
            .iter()
            .filter(|r| after.is_none_or(|a| r.tenant.as_slice() > a))
            .cloned()
            .collect();
        page.sort_by(|a, b| a.tenant.cmp(&b.tenant));
        page.truncate(limit);
        Ok(page)
    }
}

/// One tenant's keys of a [`MemoryTenantStore`].
struct MemoryTenantKeys {
    tenant: Vec<u8>,
    keys: Arc<MemoryKekStore>,
    all: TenantKeyMap,
}

impl fmt::Debug for MemoryTenantKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryTenantKeys").finish_non_exhaustive()
    }
}

#[async_trait]
impl KekStore for MemoryTenantKeys {
    fn key_binding(&self, id: &Uuid, purpose: KeyPurpose, version: i64) -> KeyBinding {
        tenant_key_binding(&self.tenant, id, purpose, version)
    }

    async fn held_elsewhere(&self, id: Uuid) -> Result<bool> {
        let others: Vec<Arc<MemoryKekStore>> = self
            .all
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(tenant, _)| **tenant != self.tenant)
            .map(|(_, keys)| keys.clone())
            .collect();
        for keys in others {
            if keys.get(id).await?.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    async fn get(&self, id: Uuid) -> Result<Option<StoredKek>> {
        self.keys.get(id).await
    }

    async fn active(&self, purpose: KeyPurpose) -> Result<Option<StoredKek>> {
        self.keys.active(purpose).await
    }

    async fn list(&self, purpose: KeyPurpose) -> Result<Vec<StoredKek>> {
        self.keys.list(purpose).await
    }

    async fn insert_active(&self, new: NewKek, expected_active: Option<Uuid>) -> Result<StoredKek> {
        self.keys.insert_active(new, expected_active).await
    }

    async fn set_state(&self, id: Uuid, state: KekState) -> Result<()> {
        self.keys.set_state(id, state).await
    }

    async fn replace_wrapped(
        &self,
        id: Uuid,
        old: &[u8],
        new: &[u8],
        root_key: &str,
    ) -> Result<bool> {
        self.keys.replace_wrapped(id, old, new, root_key).await
    }
}

/// Resolves a tenant's own root key by name ([`TenantRoot::Own`]).
pub trait TenantRoots: Send + Sync + fmt::Debug {
    /// The keyring of the tenant root named `name`. An unknown name is
    /// [`InvalidConfig`](Error::InvalidConfig).
    fn root(&self, name: &str) -> Result<Arc<dyn Keyring>>;
}

/// Tenant roots given by name, each a keyring of its own (local master keys in tests and
/// development; any keyring).
///
/// ```
/// use std::sync::Arc;
/// use encx::keys::tenant::{NamedTenantRoots, TenantRoots};
/// use encx::{LocalKeyring, MasterKey};
/// # fn main() -> encx::Result<()> {
/// let roots = NamedTenantRoots::new()
///     .with("acme", Arc::new(LocalKeyring::new(vec![MasterKey::generate("acme-1")?])?));
/// assert!(roots.root("acme").is_ok());
/// assert!(roots.root("globex").unwrap_err().is_config());
/// # Ok(()) }
/// ```
#[derive(Debug, Default, Clone)]
pub struct NamedTenantRoots {
    roots: HashMap<String, Arc<dyn Keyring>>,
}

impl NamedTenantRoots {
    /// No roots yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds root `name`.
    pub fn with(mut self, name: impl Into<String>, keyring: Arc<dyn Keyring>) -> Self {
        self.roots.insert(name.into(), keyring);
        self
    }
}

impl TenantRoots for NamedTenantRoots {
    fn root(&self, name: &str) -> Result<Arc<dyn Keyring>> {
        self.roots.get(name).cloned().ok_or_else(|| {
            Error::config(format!("no tenant root key named {name:?} is configured"))
        })
    }
}

/// Tenants' own AWS KMS keys, by key ARN (or id, or alias), all through one KMS client: the
/// tenant grants this application's role `kms:GenerateDataKey` and `kms:Decrypt` on its key.
#[cfg(feature = "aws-kms")]
#[cfg_attr(docsrs, doc(cfg(feature = "aws-kms")))]
pub struct KmsTenantRoots {
    client: aws_sdk_kms::Client,
    keyrings: Mutex<HashMap<String, Arc<super::AwsKmsKeyring>>>,
}

#[cfg(feature = "aws-kms")]
impl KmsTenantRoots {
    /// Roots reached through `client`.
    pub fn new(client: aws_sdk_kms::Client) -> Self {
        KmsTenantRoots {
            client,
            keyrings: Mutex::new(HashMap::new()),
        }
    }

    /// The KMS requests made for every tenant key so far.
    pub fn calls(&self) -> super::KmsCalls {
        let keyrings = self.keyrings.lock().unwrap_or_else(|p| p.into_inner());
        keyrings
            .values()
            .map(|k| k.calls())
            .fold(super::KmsCalls::default(), |sum, c| super::KmsCalls {
                generate_data_key: sum.generate_data_key + c.generate_data_key,
                encrypt: sum.encrypt + c.encrypt,
                decrypt: sum.decrypt + c.decrypt,
            })
    }
}

#[cfg(feature = "aws-kms")]
impl fmt::Debug for KmsTenantRoots {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KmsTenantRoots").finish_non_exhaustive()
    }
}

#[cfg(feature = "aws-kms")]
impl TenantRoots for KmsTenantRoots {
    fn root(&self, name: &str) -> Result<Arc<dyn Keyring>> {
        if name.trim().is_empty() {
            return Err(Error::config("a tenant's KMS key id is empty"));
        }
        let mut keyrings = self.keyrings.lock().unwrap_or_else(|p| p.into_inner());
        let keyring = keyrings
            .entry(name.to_owned())
            .or_insert_with(|| {
                Arc::new(super::AwsKmsKeyring::from_client(
                    self.client.clone(),
                    name.to_owned(),
                ))
            })
            .clone();
        Ok(keyring)
    }
}

/// The root a tenant's keys are wrapped by: the tenant's current root, and while its keys move
/// to another root, the one they come from. Refusals of a tenant's own key become
/// [`Error::TenantKeyRevoked`] for that tenant.
pub(crate) struct TenantRootKeyring {
    shown: String,
    current: (TenantRoot, Arc<dyn Keyring>),
    previous: Option<(TenantRoot, Arc<dyn Keyring>)>,
}

impl TenantRootKeyring {
    pub(crate) fn new(
        shown: String,
        current: (TenantRoot, Arc<dyn Keyring>),
        previous: Option<(TenantRoot, Arc<dyn Keyring>)>,
    ) -> Self {
        TenantRootKeyring {
            shown,
            current,
            previous,
        }
    }

    /// An error of `root` as this tenant's error: a refusal of its own key is a revocation.
    fn typed(&self, root: &TenantRoot, err: Error) -> Error {
        match (root, err) {
            (TenantRoot::Own(_), Error::KeyNotFound { what: reason })
            | (TenantRoot::Own(_), Error::AccessDenied { reason }) => Error::TenantKeyRevoked {
                tenant: self.shown.clone(),
                reason,
            },
            (_, err) => err,
        }
    }
}

impl fmt::Debug for TenantRootKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantRootKeyring")
            .field("root", &self.current.0)
            .field("moving_from", &self.previous.as_ref().map(|p| &p.0))
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Keyring for TenantRootKeyring {
    fn kind(&self) -> KeyringKind {
        self.current.1.kind()
    }

    fn key_description(&self) -> String {
        self.current.1.key_description()
    }

    async fn generate_dek(&self, ctx: &KeyContext<'_>) -> Result<(Dek, WrappedDek)> {
        let (root, keyring) = &self.current;
        keyring
            .generate_dek(ctx)
            .await
            .map_err(|e| self.typed(root, e))
    }

    async fn wrap_dek(&self, dek: &Dek, ctx: &KeyContext<'_>) -> Result<WrappedDek> {
        let (root, keyring) = &self.current;
        keyring
            .wrap_dek(dek, ctx)
            .await
            .map_err(|e| self.typed(root, e))
    }

    async fn unwrap_dek(&self, wrapped: &WrappedDek, ctx: &KeyContext<'_>) -> Result<Dek> {
        let (root, keyring) = &self.current;
        match keyring.unwrap_dek(wrapped, ctx).await {
            Ok(dek) => Ok(dek),
            // A row not moved yet is still under the previous root.
            Err(first) if !first.is_retryable() => match &self.previous {
                Some((_, previous)) => match previous.unwrap_dek(wrapped, ctx).await {
                    Ok(dek) => Ok(dek),
                    Err(_) => Err(self.typed(root, first)),
                },
                None => Err(self.typed(root, first)),
            },
            Err(e) => Err(e),
        }
    }

    async fn wraps_with_active_key(&self, wrapped: &WrappedDek) -> Result<bool> {
        self.current.1.wraps_with_active_key(wrapped).await
    }

    fn key_name(&self, description: &str) -> Option<String> {
        self.current.1.key_name(description)
    }
}
