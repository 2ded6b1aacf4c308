//! Where wrapped KEKs (and wrapped index root keys) live: the [`KekStore`] trait and an
//! in-memory implementation. `encx-sqlx` provides the SQL one (table `encx_keks`).
//!
//! Rules every store keeps, so that several processes sharing it agree:
//! - at most one `active` key per [`KeyPurpose`];
//! - [`KekStore::insert_active`] is atomic: it inserts the new key as active and retires the
//!   previous active one only if that previous one is still the one the caller saw and the new
//!   key's version is one above the highest stored; otherwise it inserts nothing and returns the
//!   key that won;
//! - a key's version is chosen before it is wrapped, because the wrapping binds it (with the id
//!   and purpose): an edited row does not unwrap;
//! - keys are never deleted, only marked `destroyed` (their wrapped bytes erased).

use std::fmt;
use std::sync::Mutex;
use std::time::SystemTime;

use async_trait::async_trait;
use uuid::Uuid;

use crate::error::{Error, Result};

/// What a stored key is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyPurpose {
    /// A key-encryption key of the [`HierarchicalKeyring`](crate::HierarchicalKeyring).
    Kek,
    /// An index root key, from which blind-index keys are derived.
    IndexRoot,
}

impl KeyPurpose {
    /// Name stored in the `purpose` column.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyPurpose::Kek => "kek",
            KeyPurpose::IndexRoot => "index",
        }
    }

    /// Parses a stored name.
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "kek" => Ok(KeyPurpose::Kek),
            "index" => Ok(KeyPurpose::IndexRoot),
            other => Err(Error::config(format!("unknown key purpose {other:?}"))),
        }
    }
}

/// Life cycle of a stored key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KekState {
    /// Wraps new keys; also unwraps.
    Active,
    /// Only unwraps (waiting for a rewrap job to move its DEKs to the active KEK).
    Retired,
    /// Its wrapped bytes are gone: nothing it wrapped can be unwrapped again.
    Destroyed,
}

impl KekState {
    /// Name stored in the `state` column.
    pub fn as_str(self) -> &'static str {
        match self {
            KekState::Active => "active",
            KekState::Retired => "retired",
            KekState::Destroyed => "destroyed",
        }
    }

    /// Parses a stored name.
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "active" => Ok(KekState::Active),
            "retired" => Ok(KekState::Retired),
            "destroyed" => Ok(KekState::Destroyed),
            other => Err(Error::config(format!("unknown key state {other:?}"))),
        }
    }
}

/// A key about to be stored: wrapped by the root keyring already.
#[derive(Clone, PartialEq, Eq)]
pub struct NewKek {
    /// Its id (random UUID).
    pub id: Uuid,
    /// What it is for.
    pub purpose: KeyPurpose,
    /// Its version: one above the highest stored key of `purpose` when it was made.
    pub version: i64,
    /// [`Keyring::key_description`](crate::Keyring::key_description) of the root that wrapped it.
    pub root_key: String,
    /// The key, wrapped by the root (a wrapped-DEK blob, bound to table `encx_keks` and
    /// [`stored_key_record_id`](crate::keys::hierarchical::stored_key_record_id)).
    pub wrapped: Vec<u8>,
}

/// A key as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredKek {
    /// Its id.
    pub id: Uuid,
    /// What it is for.
    pub purpose: KeyPurpose,
    /// 1 for the first key of its purpose, then 2, 3, ...
    pub version: i64,
    /// Description of the root key that wrapped it.
    pub root_key: String,
    /// Wrapped key bytes; empty once destroyed.
    pub wrapped: Vec<u8>,
    /// Where it is in its life cycle.
    pub state: KekState,
    /// When it was stored.
    pub created_at: SystemTime,
    /// When its state last changed.
    pub updated_at: SystemTime,
}

impl fmt::Debug for StoredKek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredKek")
            .field("id", &self.id)
            .field("purpose", &self.purpose)
            .field("version", &self.version)
            .field("root_key", &self.root_key)
            .field("wrapped", &format_args!("{} bytes", self.wrapped.len()))
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for NewKek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewKek")
            .field("id", &self.id)
            .field("purpose", &self.purpose)
            .field("version", &self.version)
            .field("root_key", &self.root_key)
            .finish_non_exhaustive()
    }
}

/// What the root binds into its wrapping of one stored key row: a table name and record-id
/// bytes (see [`KekStore::key_binding`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyBinding {
    /// Table name bound beside the record id.
    pub table: &'static str,
    /// The row's identity bytes.
    pub record_id: Vec<u8>,
}

impl KeyBinding {
    /// The binding as a [`KeyContext`](crate::KeyContext).
    pub fn context(&self) -> crate::KeyContext<'_> {
        crate::KeyContext::new(self.table, &self.record_id)
    }
}

/// Storage of wrapped KEKs and index root keys. See the [module docs](self) for the rules.
#[async_trait]
pub trait KekStore: Send + Sync + fmt::Debug {
    /// What the root binds into the wrapping of key row (`id`, `purpose`, `version`) of this
    /// store: by default table [`KEY_TABLE`](crate::keys::hierarchical::KEY_TABLE) and
    /// [`stored_key_record_id`](crate::keys::hierarchical::stored_key_record_id). A tenant's
    /// store binds the tenant too ([`tenant_key_record_id`](crate::keys::tenant::tenant_key_record_id)),
    /// so that a key row moved to another tenant does not unwrap.
    fn key_binding(&self, id: &Uuid, purpose: KeyPurpose, version: i64) -> KeyBinding {
        KeyBinding {
            table: crate::keys::hierarchical::KEY_TABLE,
            record_id: crate::keys::hierarchical::stored_key_record_id(id, purpose, version),
        }
    }

    /// Whether a key with this id is stored, but outside this store's scope (another
    /// tenant's key): a data key that names it was moved from another tenant's record, which
    /// is [`Error::Tampered`], not a missing key. The default (a store with no scopes) is
    /// `false`.
    async fn held_elsewhere(&self, id: Uuid) -> Result<bool> {
        let _ = id;
        Ok(false)
    }

    /// The key with this id, in any state.
    async fn get(&self, id: Uuid) -> Result<Option<StoredKek>>;

    /// The active key of `purpose`, if any.
    async fn active(&self, purpose: KeyPurpose) -> Result<Option<StoredKek>>;

    /// All keys of `purpose`, by version.
    async fn list(&self, purpose: KeyPurpose) -> Result<Vec<StoredKek>>;

    /// Atomically: if the active key of `new.purpose` is `expected_active` (by id; `None` for
    /// "there is none") and `new.version` is one above the highest stored version of that
    /// purpose, retire it and store `new` as active. Either way, return the key that is active
    /// afterwards.
    async fn insert_active(&self, new: NewKek, expected_active: Option<Uuid>) -> Result<StoredKek>;

    /// Moves a key to `state`. `Destroyed` also erases its wrapped bytes. The active key cannot
    /// be retired or destroyed directly: rotate first.
    async fn set_state(&self, id: Uuid, state: KekState) -> Result<()>;

    /// Atomically: if key `id` still holds the wrapped bytes `old`, replaces them with `new`
    /// (the same key wrapped under another root key, described by `root_key`). Returns whether
    /// it did; `false` when the row changed since it was read (destroyed, or re-wrapped by
    /// another process). Used after a root key rotation
    /// ([`Keyring::rewrap_stored_keys`](crate::Keyring::rewrap_stored_keys)). A store that
    /// cannot do it returns a configuration error (the default).
    async fn replace_wrapped(
        &self,
        id: Uuid,
        old: &[u8],
        new: &[u8],
        root_key: &str,
    ) -> Result<bool> {
        let _ = (id, old, new, root_key);
        Err(Error::config(
            "this key store cannot re-wrap its rows after a root key rotation",
        ))
    }
}

/// A [`KekStore`] in process memory, for tests and single-process tools. Its keys vanish with
/// the process, and with them every DEK they wrapped.
#[derive(Default)]
pub struct MemoryKekStore {
    keys: Mutex<Vec<StoredKek>>,
}

impl MemoryKekStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Destroys every key (active ones included) and returns their ids: a tenant's
    /// offboarding.
    pub(crate) fn destroy_all(&self) -> Result<Vec<Uuid>> {
        let now = SystemTime::now();
        Ok(self
            .lock()?
            .iter_mut()
            .filter(|k| k.state != KekState::Destroyed)
            .map(|k| {
                k.wrapped.clear();
                k.state = KekState::Destroyed;
                k.updated_at = now;
                k.id
            })
            .collect())
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Vec<StoredKek>>> {
        self.keys
            .lock()
            .map_err(|_| Error::unavailable("in-memory key store lock poisoned"))
    }
}

impl fmt::Debug for MemoryKekStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.keys.lock().map(|k| k.len()).unwrap_or(0);
        f.debug_struct("MemoryKekStore")
            .field("keys", &count)
            .finish()
    }
}

#[async_trait]
impl KekStore for MemoryKekStore {
    async fn get(&self, id: Uuid) -> Result<Option<StoredKek>> {
        Ok(self.lock()?.iter().find(|k| k.id == id).cloned())
    }

    async fn active(&self, purpose: KeyPurpose) -> Result<Option<StoredKek>> {
        Ok(self
            .lock()?
            .iter()
            .find(|k| k.purpose == purpose && k.state == KekState::Active)
            .cloned())
    }

    async fn list(&self, purpose: KeyPurpose) -> Result<Vec<StoredKek>> {
        let mut keys: Vec<_> = self
            .lock()?
            .iter()
            .filter(|k| k.purpose == purpose)
            .cloned()
            .collect();
        keys.sort_by_key(|k| k.version);
        Ok(keys)
    }

    async fn insert_active(&self, new: NewKek, expected_active: Option<Uuid>) -> Result<StoredKek> {
        let mut keys = self.lock()?;
        let current = keys
            .iter()
            .position(|k| k.purpose == new.purpose && k.state == KekState::Active);
        let highest = keys
            .iter()
            .filter(|k| k.purpose == new.purpose)
            .map(|k| k.version)
            .max()
            .unwrap_or(0);
        if current.map(|i| keys[i].id) != expected_active
            || highest.checked_add(1) != Some(new.version)
        {
            return current
                .map(|i| keys[i].clone())
                .ok_or_else(|| Error::unavailable("key creation raced; try again"));
        }
        let now = SystemTime::now();
        if let Some(i) = current {
            keys[i].state = KekState::Retired;
            keys[i].updated_at = now;
        }
        let stored = StoredKek {
            id: new.id,
            purpose: new.purpose,
            version: new.version,
            root_key: new.root_key,
            wrapped: new.wrapped,
            state: KekState::Active,
            created_at: now,
            updated_at: now,
        };
        keys.push(stored.clone());
        Ok(stored)
    }

    async fn set_state(&self, id: Uuid, state: KekState) -> Result<()> {
        let mut keys = self.lock()?;
        let key = keys
            .iter_mut()
            .find(|k| k.id == id)
            .ok_or_else(|| Error::key_not_found(format!("key {id}")))?;
        if key.state == KekState::Active && state != KekState::Active {
            return Err(Error::config(format!(
                "key {id} is active: rotate to a new key before retiring or destroying it"
            )));
        }
        if key.state == KekState::Destroyed && state != KekState::Destroyed {
            return Err(Error::config(format!(
                "key {id} is destroyed and cannot come back"
            )));
        }
        if state == KekState::Destroyed {
            key.wrapped.clear();
        }
        key.state = state;
        key.updated_at = SystemTime::now();
        Ok(())
    }

    async fn replace_wrapped(
        &self,
        id: Uuid,
        old: &[u8],
        new: &[u8],
        root_key: &str,
    ) -> Result<bool> {
        let mut keys = self.lock()?;
        let Some(key) = keys
            .iter_mut()
            .find(|k| k.id == id && !k.wrapped.is_empty() && k.wrapped == old)
        else {
            return Ok(false);
        };
        key.wrapped = new.to_vec();
        key.root_key = root_key.to_owned();
        key.updated_at = SystemTime::now();
        Ok(true)
    }
}
