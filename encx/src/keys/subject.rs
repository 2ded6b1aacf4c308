//! Data-subject keys: one random 256-bit key per data subject (a person, or a tenant), under
//! which the per-record DEKs of that subject's records are wrapped. Destroying the subject key
//! shreds every record of the subject at once, in every copy of the data: the keys live in a
//! [`SubjectKeyStore`] (table `encx_subject_keys`), which may be a database of its own, so
//! that backups of the data hold no subject key.
//!
//! ```text
//! keyring (root, or a KEK of the hierarchical keyring)
//!   └─ subject key      one per subject and version, row wrapped by the keyring, bound to
//!      │                 its id, subject and version
//!      └─ DEK           still one per record, wrapped under the subject key (kind 0x04),
//!                        bound to table and record id
//! ```
//!
//! Records keep a fresh DEK each and the same field format; only the wrapping of the DEK
//! changes. Subject keys are cached per process (TTL, bounded, single-flight): another process
//! stops serving an erased subject within its cache TTL ([`DEFAULT_SUBJECT_CACHE_TTL`]), and an
//! unreachable store never extends that window with a stale key.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use uuid::Uuid;

use super::cache::TtlCell;
use super::material::{Dek, Kek};
use super::{wrapped, KeyContext, KeyInUse, Keyring, KeyringKind};
use crate::cipher::push_len_prefixed;
use crate::error::{Error, Result};
use crate::types::WrappedDek;

/// Table name bound into the keyring's wrapping of every subject key row.
pub const SUBJECT_KEY_TABLE: &str = "encx_subject_keys";

/// Default time a subject key (or the knowledge that a subject is erased) stays cached: the
/// longest another process keeps serving a subject after it was erased.
pub const DEFAULT_SUBJECT_CACHE_TTL: Duration = Duration::from_secs(60);

/// Default number of subjects whose keys a process caches at once.
pub const DEFAULT_SUBJECT_CACHE_ENTRIES: usize = 10_000;

/// The record id bytes under which the keyring wraps a subject key row: everything that gives
/// the key its meaning, so that an edited or copied row fails with [`Error::Tampered`]:
///
/// ```text
/// id (16 UUID bytes) | u32be(len) subject | subject bytes | i64be(version)
/// ```
///
/// The table bound beside it is [`SUBJECT_KEY_TABLE`].
pub fn subject_key_record_id(id: &Uuid, subject: &[u8], version: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + 4 + subject.len() + 8);
    out.extend_from_slice(id.as_bytes());
    push_len_prefixed(&mut out, subject);
    out.extend_from_slice(&version.to_be_bytes());
    out
}

/// One row of `encx_subject_keys`: a subject key, or the tombstone of an erased one.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredSubjectKey {
    /// Key id, named in every DEK wrapped under it.
    pub id: Uuid,
    /// The subject's id bytes ([`RecordId`](crate::RecordId) of the `#[encx(subject)]` field).
    pub subject: Vec<u8>,
    /// 1 for the subject's first key; one more for each key made after an erasure
    /// ([`Crypto::reenable_subject`](crate::Crypto::reenable_subject)).
    pub version: i64,
    /// The key, wrapped by the keyring; `None` once erased.
    pub wrapped: Option<Vec<u8>>,
    /// When the row was written.
    pub created_at: SystemTime,
    /// When the key was destroyed.
    pub erased_at: Option<SystemTime>,
}

impl fmt::Debug for StoredSubjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredSubjectKey")
            .field("id", &self.id)
            .field("version", &self.version)
            .field("erased", &self.wrapped.is_none())
            .finish_non_exhaustive()
    }
}

/// A subject key to store.
#[derive(Clone)]
pub struct NewSubjectKey {
    /// Key id.
    pub id: Uuid,
    /// Subject id bytes.
    pub subject: Vec<u8>,
    /// One above the subject's highest stored version (1 for a new subject).
    pub version: i64,
    /// The key, wrapped by the keyring under [`subject_key_record_id`].
    pub wrapped: Vec<u8>,
}

impl fmt::Debug for NewSubjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewSubjectKey")
            .field("id", &self.id)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// Where subject keys live: `encx_sqlx::SqlSubjectKeyStore` (any of the three databases, the
/// data's or one of its own) or [`MemorySubjectKeyStore`] (tests).
#[async_trait]
pub trait SubjectKeyStore: Send + Sync + fmt::Debug {
    /// The subject's row of highest version, if it ever had a key.
    async fn latest(&self, subject: &[u8]) -> Result<Option<StoredSubjectKey>>;

    /// The row with this key id.
    async fn get(&self, id: Uuid) -> Result<Option<StoredSubjectKey>>;

    /// Stores `new` if its version is one above the subject's highest (1 for a new subject);
    /// otherwise stores nothing. Returns the subject's latest row afterwards: `new`, or the row
    /// another process stored first.
    async fn insert(&self, new: NewSubjectKey) -> Result<StoredSubjectKey>;

    /// Every row of the subject (live keys and tombstones), lowest version first.
    async fn versions(&self, subject: &[u8]) -> Result<Vec<StoredSubjectKey>>;

    /// Stores a tombstone of version 1 (a row with no key) for a subject that has no row yet,
    /// so that no key can be created for it until it is re-enabled; stores nothing for a
    /// subject that has a row. Returns the subject's latest row afterwards.
    async fn tombstone(&self, subject: &[u8]) -> Result<StoredSubjectKey>;

    /// Destroys the subject's keys of version `up_to_version` or lower (every key when
    /// `None`): the wrapped bytes are deleted, the rows stay as tombstones (id, version,
    /// `erased_at`). Idempotent. Returns the ids of the keys this call destroyed.
    async fn erase(&self, subject: &[u8], up_to_version: Option<i64>) -> Result<Vec<Uuid>>;

    /// Up to `limit` rows that hold a key (not erased), with an id above `after`, in the
    /// store's id order: the pages of a rewrap or a key-usage count.
    async fn live_page(&self, after: Option<Uuid>, limit: usize) -> Result<Vec<StoredSubjectKey>>;

    /// Replaces the wrapped key of row `id` by `new` if it still is `old` (a rewrap after a
    /// KEK rotation); whether it did.
    async fn replace_wrapped(&self, id: Uuid, old: &[u8], new: &[u8]) -> Result<bool>;
}

/// What [`Crypto::rewrap_subject_keys`](crate::Crypto::rewrap_subject_keys) did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubjectKeysRewrapped {
    /// Live subject keys read.
    pub scanned: u64,
    /// Subject keys re-wrapped under the active key.
    pub rewrapped: u64,
}

/// What an erasure in the ledger erased: a data subject, or a whole tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErasureScope {
    /// A data subject ([`Crypto::erase_subject`](crate::Crypto::erase_subject)).
    Subject,
    /// A tenant ([`Crypto::erase_tenant`](crate::Crypto::erase_tenant)); `subject` holds the
    /// tenant's id bytes.
    Tenant,
}

impl ErasureScope {
    /// Name stored in the ledger's `scope` column.
    pub fn as_str(self) -> &'static str {
        match self {
            ErasureScope::Subject => "subject",
            ErasureScope::Tenant => "tenant",
        }
    }

    /// Parses a stored name.
    pub fn parse(stored: &str) -> Result<Self> {
        match stored {
            "subject" => Ok(ErasureScope::Subject),
            "tenant" => Ok(ErasureScope::Tenant),
            _ => Err(Error::config("unknown erasure scope in the ledger")),
        }
    }
}

/// One erasure as the ledger keeps it: which subject, when, and which of its keys it
/// covers. No personal data beyond the subject's id (use a surrogate id, such as a UUID, as
/// the subject).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ErasureEntry {
    /// The subject's id bytes.
    pub subject: Vec<u8>,
    /// When it was erased (for people; coverage is decided by `up_to_version`).
    pub erased_at: SystemTime,
    /// The erasure covers the subject's keys of this version and lower: the keys it
    /// destroyed, and the records wrapped under them. A key made later by
    /// [`Crypto::reenable_subject`](crate::Crypto::reenable_subject) has a higher version and
    /// is never covered. `None` only in entries written before encx recorded versions; those
    /// are applied to the keys created at or before `erased_at`.
    pub up_to_version: Option<i64>,
    /// A subject's erasure, or a tenant's.
    pub scope: ErasureScope,
}

impl ErasureEntry {
    /// An erasure of `subject` at `erased_at` covering its keys up to `up_to_version`.
    pub fn new(subject: Vec<u8>, erased_at: SystemTime, up_to_version: i64) -> Self {
        ErasureEntry {
            subject,
            erased_at,
            up_to_version: Some(up_to_version),
            scope: ErasureScope::Subject,
        }
    }

    /// The offboarding of `tenant` at `erased_at`: every key of the tenant.
    pub fn tenant(tenant: Vec<u8>, erased_at: SystemTime) -> Self {
        ErasureEntry {
            subject: tenant,
            erased_at,
            up_to_version: None,
            scope: ErasureScope::Tenant,
        }
    }

    /// This entry with `scope` (as read back from a store).
    pub fn in_scope(mut self, scope: ErasureScope) -> Self {
        self.scope = scope;
        self
    }

    /// An entry as read back from a store (`up_to_version` may be missing in old entries).
    pub fn stored(subject: Vec<u8>, erased_at: SystemTime, up_to_version: Option<i64>) -> Self {
        ErasureEntry {
            subject,
            erased_at,
            up_to_version,
            scope: ErasureScope::Subject,
        }
    }

    /// The highest key version this entry covers among `rows` (the subject's rows): its
    /// recorded version, or for an old entry the highest version created up to `erased_at`
    /// (`None` when no such key is stored).
    pub fn covered_version(&self, rows: &[StoredSubjectKey]) -> Option<i64> {
        self.up_to_version.or_else(|| {
            rows.iter()
                .filter(|r| r.created_at <= self.erased_at)
                .map(|r| r.version)
                .max()
        })
    }
}

/// A record of every subject erasure, kept apart from the subject keys, so that after the
/// subject key database is restored from a backup the erasures made since can be applied
/// again (`encx_sqlx::SubjectEraser::reapply_ledger`): `encx_sqlx::SqlErasureLedger` (table
/// `encx_erasure_ledger`) or [`MemoryErasureLedger`].
#[async_trait]
pub trait ErasureLedger: Send + Sync + fmt::Debug {
    /// Appends an erasure.
    async fn record(&self, entry: &ErasureEntry) -> Result<()>;

    /// Every erasure recorded, oldest first.
    async fn entries(&self) -> Result<Vec<ErasureEntry>>;
}

/// An erasure ledger in memory, for tests.
#[derive(Debug, Default)]
pub struct MemoryErasureLedger {
    entries: Mutex<Vec<ErasureEntry>>,
}

impl MemoryErasureLedger {
    /// An empty ledger.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl ErasureLedger for MemoryErasureLedger {
    async fn record(&self, entry: &ErasureEntry) -> Result<()> {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(entry.clone());
        Ok(())
    }

    async fn entries(&self) -> Result<Vec<ErasureEntry>> {
        Ok(self
            .entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone())
    }
}

/// Subject keys in memory, for tests.
#[derive(Default)]
pub struct MemorySubjectKeyStore {
    rows: Mutex<Vec<StoredSubjectKey>>,
}

impl MemorySubjectKeyStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every row, for tests that edit rows as a database writer could.
    pub fn with_rows<R>(&self, f: impl FnOnce(&mut Vec<StoredSubjectKey>) -> R) -> R {
        f(&mut self.rows.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl fmt::Debug for MemorySubjectKeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemorySubjectKeyStore")
            .finish_non_exhaustive()
    }
}

fn latest_of<'a>(rows: &'a [StoredSubjectKey], subject: &[u8]) -> Option<&'a StoredSubjectKey> {
    rows.iter()
        .filter(|r| r.subject == subject)
        .max_by_key(|r| r.version)
}

#[async_trait]
impl SubjectKeyStore for MemorySubjectKeyStore {
    async fn latest(&self, subject: &[u8]) -> Result<Option<StoredSubjectKey>> {
        Ok(self.with_rows(|rows| latest_of(rows, subject).cloned()))
    }

    async fn get(&self, id: Uuid) -> Result<Option<StoredSubjectKey>> {
        Ok(self.with_rows(|rows| rows.iter().find(|r| r.id == id).cloned()))
    }

    async fn insert(&self, new: NewSubjectKey) -> Result<StoredSubjectKey> {
        self.with_rows(|rows| {
            let highest = latest_of(rows, &new.subject).map_or(0, |r| r.version);
            if highest.checked_add(1) == Some(new.version) {
                rows.push(StoredSubjectKey {
                    id: new.id,
                    subject: new.subject.clone(),
                    version: new.version,
                    wrapped: Some(new.wrapped),
                    created_at: SystemTime::now(),
                    erased_at: None,
                });
            }
            latest_of(rows, &new.subject)
                .cloned()
                .ok_or_else(|| Error::unavailable("subject key insert lost"))
        })
    }

    async fn live_page(&self, after: Option<Uuid>, limit: usize) -> Result<Vec<StoredSubjectKey>> {
        Ok(self.with_rows(|rows| {
            let mut page: Vec<StoredSubjectKey> = rows
                .iter()
                .filter(|r| r.wrapped.is_some() && after.is_none_or(|a| r.id > a))
                .cloned()
                .collect();
            page.sort_by_key(|r| r.id);
            page.truncate(limit);
            page
        }))
    }

    async fn replace_wrapped(&self, id: Uuid, old: &[u8], new: &[u8]) -> Result<bool> {
        Ok(self.with_rows(|rows| {
            match rows
                .iter_mut()
                .find(|r| r.id == id && r.wrapped.as_deref() == Some(old))
            {
                Some(row) => {
                    row.wrapped = Some(new.to_vec());
                    true
                }
                None => false,
            }
        }))
    }

    async fn versions(&self, subject: &[u8]) -> Result<Vec<StoredSubjectKey>> {
        Ok(self.with_rows(|rows| {
            let mut mine: Vec<StoredSubjectKey> = rows
                .iter()
                .filter(|r| r.subject == subject)
                .cloned()
                .collect();
            mine.sort_by_key(|r| r.version);
            mine
        }))
    }

    async fn tombstone(&self, subject: &[u8]) -> Result<StoredSubjectKey> {
        self.with_rows(|rows| {
            if latest_of(rows, subject).is_none() {
                let now = SystemTime::now();
                rows.push(StoredSubjectKey {
                    id: Uuid::new_v4(),
                    subject: subject.to_vec(),
                    version: 1,
                    wrapped: None,
                    created_at: now,
                    erased_at: Some(now),
                });
            }
            latest_of(rows, subject)
                .cloned()
                .ok_or_else(|| Error::unavailable("subject tombstone lost"))
        })
    }

    async fn erase(&self, subject: &[u8], up_to_version: Option<i64>) -> Result<Vec<Uuid>> {
        Ok(self.with_rows(|rows| {
            let now = SystemTime::now();
            rows.iter_mut()
                .filter(|r| r.subject == subject && r.wrapped.is_some())
                .filter(|r| up_to_version.is_none_or(|up_to| r.version <= up_to))
                .map(|r| {
                    r.wrapped = None;
                    r.erased_at = Some(now);
                    r.id
                })
                .collect()
        }))
    }
}

/// What a process knows of one subject key: whose it is, and the key, or that it is erased.
/// The subject is kept beside the key so that every read checks it, cached or not.
#[derive(Clone)]
struct SubjectState {
    subject: Arc<[u8]>,
    key: Option<Arc<Kek>>,
}

impl SubjectState {
    fn live(subject: &[u8], key: Kek) -> Self {
        SubjectState {
            subject: subject.into(),
            key: Some(Arc::new(key)),
        }
    }
}

/// The subject keys one [`Crypto`](crate::Crypto) uses: store, keyring and cache.
pub(crate) struct SubjectKeys {
    store: Arc<dyn SubjectKeyStore>,
    ttl: Duration,
    capacity: usize,
    by_subject: RwLock<HashMap<Vec<u8>, Arc<TtlCell<SubjectState>>>>,
    by_id: RwLock<HashMap<Uuid, Arc<TtlCell<SubjectState>>>>,
}

impl fmt::Debug for SubjectKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubjectKeys")
            .field("store", &self.store)
            .field("cache_ttl", &self.ttl)
            .field("cache_entries", &self.capacity)
            .finish()
    }
}

/// The cell for `key` in `map`, created if missing; a full map is emptied first (bounded).
fn cell_in<K: std::hash::Hash + Eq + Clone>(
    map: &RwLock<HashMap<K, Arc<TtlCell<SubjectState>>>>,
    key: &K,
    capacity: usize,
) -> Arc<TtlCell<SubjectState>> {
    if let Some(cell) = map.read().unwrap_or_else(|p| p.into_inner()).get(key) {
        return cell.clone();
    }
    let mut map = map.write().unwrap_or_else(|p| p.into_inner());
    if map.len() >= capacity && !map.contains_key(key) {
        map.clear();
    }
    map.entry(key.clone())
        .or_insert_with(|| Arc::new(TtlCell::new()))
        .clone()
}

impl SubjectKeys {
    pub(crate) fn new(store: Arc<dyn SubjectKeyStore>, ttl: Duration, capacity: usize) -> Self {
        SubjectKeys {
            store,
            ttl,
            capacity: capacity.max(1),
            by_subject: RwLock::new(HashMap::new()),
            by_id: RwLock::new(HashMap::new()),
        }
    }

    /// How long keys and erasures stay cached.
    pub(crate) fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The key that wraps new DEKs of `subject`, creating the subject's first key if it has
    /// none. [`Error::SubjectErased`] for an erased subject.
    pub(crate) async fn active(
        &self,
        keyring: &dyn Keyring,
        subject: &[u8],
        shown: &str,
    ) -> Result<Arc<Kek>> {
        let cell = cell_in(&self.by_subject, &subject.to_vec(), self.capacity);
        let state = cell
            .get_or_load_strict(self.ttl, || async {
                let state = match self.store.latest(subject).await? {
                    Some(row) => self.open_row(keyring, &row, Some(subject)).await?,
                    None => self.create(keyring, subject, 1).await?,
                };
                // Records sealed with this key are read back by its id: serve those reads from
                // memory too (cached no longer than here, so an erasure is seen as soon).
                if let Some(key) = &state.key {
                    cell_in(&self.by_id, &key.id(), self.capacity).store_now(state.clone());
                }
                Ok(state)
            })
            .await?;
        if *state.subject != *subject {
            return Err(Error::Tampered);
        }
        state.key.ok_or_else(|| Error::SubjectErased {
            subject: shown.to_owned(),
        })
    }

    /// Gives an erased subject a new key (one version above its last), so that new data for it
    /// is accepted again. Records written before the erasure stay shredded. Does nothing for a
    /// subject whose latest key is live.
    pub(crate) async fn reenable(&self, keyring: &dyn Keyring, subject: &[u8]) -> Result<()> {
        if let Some(row) = self.store.latest(subject).await? {
            if row.wrapped.is_none() {
                let version = row
                    .version
                    .checked_add(1)
                    .ok_or_else(|| Error::config("the subject key version counter is exhausted"))?;
                self.create(keyring, subject, version).await?;
            }
        }
        self.forget(subject, &[]);
        Ok(())
    }

    /// Unwraps a DEK wrapped under a subject key. `subject`, when given, must be the key's.
    pub(crate) async fn unwrap_dek(
        &self,
        keyring: &dyn Keyring,
        blob: &WrappedDek,
        ctx: &KeyContext<'_>,
        subject: Option<&[u8]>,
        shown_record: &str,
    ) -> Result<Dek> {
        let header = wrapped::parse(blob.as_bytes(), KeyringKind::Subject)?;
        let id = Uuid::from_bytes(header.key_id);
        let cell = cell_in(&self.by_id, &id, self.capacity);
        let state = cell
            .get_or_load_strict(self.ttl, || async {
                let row = self.store.get(id).await?.ok_or_else(|| {
                    Error::unknown_key_id(format!(
                        "subject key {id} is not in the subject key store"
                    ))
                })?;
                self.open_row(keyring, &row, subject).await
            })
            .await;
        if state.is_err() && cell.is_empty() {
            // Do not let unknown ids from tampered blobs grow the map. (A failed load of a
            // cell that held an expired state may drop it too: `||` here is equivalent.)
            self.by_id
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&id);
        }
        let state = state?;
        if subject.is_some_and(|s| s != &*state.subject) {
            // The record names a subject whose key did not wrap its DEK (checked on every
            // read, not only when the key is loaded).
            return Err(Error::Tampered);
        }
        match &state.key {
            Some(key) => wrapped::unwrap(key.wrap_key(), blob.as_bytes(), ctx),
            None => Err(Error::Shredded {
                table: ctx.table.to_owned(),
                record: shown_record.to_owned(),
            }),
        }
    }

    /// Destroys the keys of `subject` (those up to a version, or all) in the store and
    /// forgets them here. A subject with no key yet gets a tombstone, so that new data for it
    /// is refused as for any erased subject.
    pub(crate) async fn erase(
        &self,
        subject: &[u8],
        up_to_version: Option<i64>,
    ) -> Result<Vec<Uuid>> {
        if up_to_version.is_none() {
            self.store.tombstone(subject).await?;
        }
        let ids = self.store.erase(subject, up_to_version).await?;
        self.forget(subject, &ids);
        Ok(ids)
    }

    /// The highest key version of `subject`, after leaving a tombstone if it has no key yet:
    /// what an erasure that starts now covers.
    pub(crate) async fn erasure_point(&self, subject: &[u8]) -> Result<i64> {
        Ok(match self.store.latest(subject).await? {
            Some(row) => row.version,
            None => self.store.tombstone(subject).await?.version,
        })
    }

    /// Every key row of `subject`, lowest version first.
    pub(crate) async fn versions(&self, subject: &[u8]) -> Result<Vec<StoredSubjectKey>> {
        self.store.versions(subject).await
    }

    pub(crate) fn forget(&self, subject: &[u8], ids: &[Uuid]) {
        self.by_subject
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(subject);
        let mut by_id = self.by_id.write().unwrap_or_else(|p| p.into_inner());
        for id in ids {
            by_id.remove(id);
        }
    }

    /// A stored row as a live key or an erasure. The unwrap binds id, subject and version.
    async fn open_row(
        &self,
        keyring: &dyn Keyring,
        row: &StoredSubjectKey,
        subject: Option<&[u8]>,
    ) -> Result<SubjectState> {
        if subject.is_some_and(|s| s != row.subject.as_slice()) {
            // The record names a subject whose key did not wrap its DEK.
            return Err(Error::Tampered);
        }
        let Some(wrapped) = &row.wrapped else {
            return Ok(SubjectState {
                subject: row.subject.as_slice().into(),
                key: None,
            });
        };
        let record_id = subject_key_record_id(&row.id, &row.subject, row.version);
        let key = keyring
            .unwrap_dek(
                &WrappedDek::from_bytes(wrapped.clone()),
                &KeyContext::new(SUBJECT_KEY_TABLE, &record_id),
            )
            .await?;
        Ok(SubjectState::live(
            &row.subject,
            Kek::new(row.id, row.version, &key.into_key_bytes()),
        ))
    }

    /// Re-wraps every live subject key not under the keyring's active key, `batch` rows per
    /// page; each row is replaced only if unchanged since it was read, so the job is
    /// idempotent and safe to interrupt.
    pub(crate) async fn rewrap_all(
        &self,
        keyring: &dyn Keyring,
        batch: usize,
        owned: &(dyn Fn(&[u8]) -> bool + Sync),
    ) -> Result<SubjectKeysRewrapped> {
        let mut done = SubjectKeysRewrapped::default();
        let mut after = None;
        loop {
            let page = self.store.live_page(after, batch).await?;
            for row in page.iter().filter(|row| owned(&row.subject)) {
                done.scanned += 1;
                let Some(wrapped) = &row.wrapped else {
                    continue;
                };
                let blob = WrappedDek::from_bytes(wrapped.clone());
                if keyring.wraps_with_active_key(&blob).await? {
                    continue;
                }
                let record_id = subject_key_record_id(&row.id, &row.subject, row.version);
                let ctx = KeyContext::new(SUBJECT_KEY_TABLE, &record_id);
                let key = keyring.unwrap_dek(&blob, &ctx).await?;
                let new = keyring.wrap_dek(&key, &ctx).await?;
                if self
                    .store
                    .replace_wrapped(row.id, wrapped, new.as_bytes())
                    .await?
                {
                    done.rewrapped += 1;
                }
            }
            // A short page is the last; asking once more would read an empty page and stop
            // too (so the guard's `true` mutant is equivalent, one query slower).
            match page.last() {
                Some(last) if page.len() == batch => after = Some(last.id),
                _ => return Ok(done),
            }
        }
    }

    /// How many live subject keys each key of the keyring wraps (read from the headers).
    pub(crate) async fn key_usage(
        &self,
        batch: usize,
        owned: &(dyn Fn(&[u8]) -> bool + Sync),
    ) -> Result<Vec<(KeyInUse, u64)>> {
        let mut usage = std::collections::BTreeMap::new();
        let mut after = None;
        loop {
            let page = self.store.live_page(after, batch).await?;
            for row in page.iter().filter(|row| owned(&row.subject)) {
                *usage
                    .entry(KeyInUse::from_prefix(row.wrapped.as_deref()))
                    .or_insert(0) += 1;
            }
            match page.last() {
                Some(last) if page.len() == batch => after = Some(last.id),
                _ => return Ok(usage.into_iter().collect()),
            }
        }
    }

    /// Has the keyring generate a key for `subject` at `version` and offers it to the store;
    /// adopts the row of a process that stored one first.
    async fn create(
        &self,
        keyring: &dyn Keyring,
        subject: &[u8],
        version: i64,
    ) -> Result<SubjectState> {
        let id = Uuid::new_v4();
        let record_id = subject_key_record_id(&id, subject, version);
        let (key, wrapped) = keyring
            .generate_dek(&KeyContext::new(SUBJECT_KEY_TABLE, &record_id))
            .await?;
        let stored = self
            .store
            .insert(NewSubjectKey {
                id,
                subject: subject.to_vec(),
                version,
                wrapped: wrapped.into_bytes(),
            })
            .await?;
        if stored.id == id {
            Ok(SubjectState::live(
                subject,
                Kek::new(id, version, &key.into_key_bytes()),
            ))
        } else {
            self.open_row(keyring, &stored, Some(subject)).await
        }
    }
}

/// Wraps `dek` under a subject key for `ctx`.
pub(crate) fn wrap_dek(key: &Kek, dek: &Dek, ctx: &KeyContext<'_>) -> Result<WrappedDek> {
    wrapped::wrap(
        key.wrap_key(),
        KeyringKind::Subject,
        key.id().as_bytes(),
        dek,
        ctx,
    )
}

/// Wraps `dek` under a subject key given as bytes (`id`, `key`): the kind-`0x04` blob a record
/// of the subject stores. For fixtures and other implementations' test vectors; encx itself
/// wraps through [`Crypto::seal_subject_record`](crate::Crypto::seal_subject_record).
#[doc(hidden)]
pub fn wrap_dek_under(id: Uuid, key: &Dek, dek: &Dek, ctx: &KeyContext<'_>) -> Result<WrappedDek> {
    wrap_dek(&Kek::new(id, 1, key.expose_secret()), dek, ctx)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::{LocalKeyring, MasterKey};

    fn sizes(keys: &SubjectKeys) -> (usize, usize) {
        (
            keys.by_subject.read().unwrap().len(),
            keys.by_id.read().unwrap().len(),
        )
    }

    #[test]
    fn erasure_scopes_are_stored_by_name_and_tenant_entries_cover_every_key() {
        for (scope, name) in [
            (ErasureScope::Subject, "subject"),
            (ErasureScope::Tenant, "tenant"),
        ] {
            assert_eq!(scope.as_str(), name);
            assert_eq!(ErasureScope::parse(name).unwrap(), scope);
        }
        assert!(ErasureScope::parse("Subject").unwrap_err().is_config());
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(7);
        let tenant = ErasureEntry::tenant(b"acme".to_vec(), at);
        assert_eq!(
            (
                tenant.subject.as_slice(),
                tenant.erased_at,
                tenant.up_to_version
            ),
            (&b"acme"[..], at, None)
        );
        assert_eq!(tenant.scope, ErasureScope::Tenant);
        let stored = ErasureEntry::stored(b"u".to_vec(), at, Some(2));
        assert_eq!(stored.scope, ErasureScope::Subject);
        assert_eq!(stored.up_to_version, Some(2));
        let moved = stored.clone().in_scope(ErasureScope::Tenant);
        assert_eq!(moved.scope, ErasureScope::Tenant);
        assert_eq!(
            (moved.subject, moved.up_to_version),
            (stored.subject, Some(2))
        );
        assert_eq!(
            ErasureEntry::new(b"u".to_vec(), at, 3).scope,
            ErasureScope::Subject
        );
    }

    #[test]
    fn the_subject_caches_keep_what_fits_and_never_grow_past_their_bound() {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(async {
                let keyring =
                    LocalKeyring::new(vec![MasterKey::new("v1", [9; 32]).unwrap()]).unwrap();
                let store = Arc::new(MemorySubjectKeyStore::new());
                let keys = SubjectKeys::new(store.clone(), Duration::from_secs(60), 4);
                for n in 0u8..3 {
                    keys.active(&keyring, &[n], "s").await.unwrap();
                }
                // Below the bound, every subject stays cached (by subject and by key id).
                assert_eq!(sizes(&keys), (3, 3));
                let first = keys.active(&keyring, &[0], "s").await.unwrap();
                assert_eq!(sizes(&keys), (3, 3), "a cached subject is not loaded again");
                for n in 3u8..40 {
                    keys.active(&keyring, &[n], "s").await.unwrap();
                    let (by_subject, by_id) = sizes(&keys);
                    assert!(by_subject <= 4 && by_id <= 4, "{by_subject}, {by_id}");
                }
                // A subject dropped from the full cache is loaded again, the same key.
                let again = keys.active(&keyring, &[0], "s").await.unwrap();
                assert_eq!(again.id(), first.id());
                assert_eq!(store.with_rows(|rows| rows.len()), 40);
            });
    }
}
