//! [`Crypto`]: the keyring, index keys and settings that every encrypt and decrypt uses.

use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use subtle::ConstantTimeEq;

use crate::aead::Backend;
use crate::audit::{AuditSink, TracingAuditSink};
use crate::cipher::FieldCipher;
use crate::error::{Error, Result};
use crate::index::normalize::Wiped;
use crate::index::{IndexKey, IndexKeys, IndexSpec, Indexable};
use crate::keys::subject::{
    self, StoredSubjectKey, SubjectKeyStore, SubjectKeys, SubjectKeysRewrapped,
    DEFAULT_SUBJECT_CACHE_ENTRIES, DEFAULT_SUBJECT_CACHE_TTL,
};
use crate::keys::tenant::{
    TenantRoots, TenantStore, DEFAULT_TENANT_CACHE_ENTRIES, DEFAULT_TENANT_CACHE_TTL,
};
use crate::keys::{wrapped, Dek, KekStore, KeyContext, KeyInUse, Keyring, KeyringKind};
use crate::password::PasswordPolicy;
use crate::record::{RecordContext, RecordOpener, RecordSealer};
use crate::tenancy::{TenantTag, Tenants};
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
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) keyring: Arc<dyn Keyring>,
    pub(crate) index_keys: Option<IndexKeys>,
    /// Derived keys by (domain, version). A handful of entries: a scan beats hashing.
    pub(crate) index_cache: RwLock<Vec<(String, u32, IndexKey)>>,
    pub(crate) password: PasswordPolicy,
    pub(crate) subjects: Option<Arc<SubjectKeys>>,
    pub(crate) audit: Arc<dyn AuditSink>,
    /// The AES-GCM implementation of record ciphers.
    pub(crate) aead: Backend,
    /// New fields in format 1 only ([`CryptoBuilder::field_format_1_only`]).
    pub(crate) format_1_only: bool,
    /// The tenants' keys ([`CryptoBuilder::tenants`]); `None` in a tenant's own scope.
    pub(crate) tenants: Option<Arc<Tenants>>,
    /// The tenant this `Crypto` is scoped to ([`Crypto::for_tenant`]).
    pub(crate) tenant: Option<TenantTag>,
}

impl fmt::Debug for Crypto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Crypto")
            .field("keyring", &self.inner.keyring)
            .field("index_keys", &self.inner.index_keys)
            .field("password", &self.inner.password)
            .field("subjects", &self.inner.subjects)
            .field("tenants", &self.inner.tenants)
            .field("tenant", &self.inner.tenant)
            .field("aead", &self.inner.aead)
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
    subject_store: Option<Arc<dyn SubjectKeyStore>>,
    subject_cache: Option<(Duration, usize)>,
    tenant_store: Option<Arc<dyn TenantStore>>,
    tenant_roots: Option<Arc<dyn TenantRoots>>,
    tenant_cache: Option<(Duration, usize)>,
    audit: Option<Arc<dyn AuditSink>>,
    aead: Option<Backend>,
    format_1_only: bool,
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

    /// Keeps a key per data subject in `store` (the `encx_subject_keys` table, possibly in a
    /// database of its own): the DEKs of records with an `#[encx(subject)]` field are wrapped
    /// under their subject's key, so that [`erase_subject`](Crypto::erase_subject) shreds all of
    /// them at once. The subject keys themselves are wrapped by this `Crypto`'s keyring.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use encx::{Crypto, LocalKeyring, MasterKey, MemorySubjectKeyStore};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> encx::Result<()> {
    /// let crypto = Crypto::builder()
    ///     .keyring(LocalKeyring::new(vec![MasterKey::generate("v1")?])?)
    ///     .subject_keys_in(Arc::new(MemorySubjectKeyStore::new()))
    ///     .build()
    ///     .await?;
    /// let sealer = crypto.seal_subject_record("orders", b"order-1", b"user-7", "user-7").await?;
    /// let wrapped = sealer.into_wrapped_dek();
    /// crypto.erase_subject(b"user-7").await?;
    /// let opened = crypto.open_record("orders", b"order-1", Some(&wrapped), &"order-1").await;
    /// assert!(opened.unwrap_err().is_shredded());
    /// # Ok(()) }
    /// ```
    pub fn subject_keys_in(mut self, store: Arc<dyn SubjectKeyStore>) -> Self {
        self.subject_store = Some(store);
        self
    }

    /// Keeps a key hierarchy per tenant in `store` (tables `encx_tenants` and
    /// `encx_tenant_keys`): records with an `#[encx(tenant)]` field get their DEKs wrapped under
    /// their tenant's KEK and their blind indexes under the tenant's index keys (see
    /// [`keys::tenant`](crate::keys::tenant)). A tenant's keys are wrapped by this `Crypto`'s
    /// keyring, or by the tenant's own root key ([`tenant_roots`](Self::tenant_roots)).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use encx::{Crypto, LocalKeyring, MasterKey};
    /// use encx::keys::tenant::MemoryTenantStore;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> encx::Result<()> {
    /// let crypto = Crypto::builder()
    ///     .keyring(LocalKeyring::new(vec![MasterKey::generate("v1")?])?)
    ///     .tenants(Arc::new(MemoryTenantStore::new()))
    ///     .build()
    ///     .await?;
    /// let acme = crypto.for_tenant(b"acme", "acme").await?;
    /// let sealer = acme.seal_record("orders", b"order-1").await?;
    /// let wrapped = sealer.into_wrapped_dek();
    /// crypto.erase_tenant(b"acme").await?;
    /// let acme = crypto.for_tenant(b"acme", "acme").await?;
    /// let err = acme.open_record("orders", b"order-1", Some(&wrapped), &"order-1").await.unwrap_err();
    /// assert!(err.is_shredded());
    /// # Ok(()) }
    /// ```
    pub fn tenants(mut self, store: Arc<dyn TenantStore>) -> Self {
        self.tenant_store = Some(store);
        self
    }

    /// Resolves tenants' own root keys ([`TenantRoot::Own`](crate::keys::tenant::TenantRoot)):
    /// [`KmsTenantRoots`](crate::keys::tenant::KmsTenantRoots) for tenants' AWS KMS keys.
    pub fn tenant_roots(mut self, roots: Arc<dyn TenantRoots>) -> Self {
        self.tenant_roots = Some(roots);
        self
    }

    /// How long a tenant's scope (root, state, index keys, and its KEKs) stays cached, and for
    /// how many tenants at most. Defaults: [`DEFAULT_TENANT_CACHE_TTL`] (5 minutes) and
    /// [`DEFAULT_TENANT_CACHE_ENTRIES`] (1,000). The TTL is the longest another process keeps
    /// serving a tenant after it was erased or its root key revoked.
    pub fn tenant_cache(mut self, ttl: Duration, entries: usize) -> Self {
        self.tenant_cache = Some((ttl, entries));
        self
    }

    /// How long a subject key (or the knowledge that a subject is erased) stays cached, and
    /// for how many subjects at most. Defaults: [`DEFAULT_SUBJECT_CACHE_TTL`] (60 s) and
    /// [`DEFAULT_SUBJECT_CACHE_ENTRIES`]. The TTL is the longest another process keeps
    /// serving a subject after [`Crypto::erase_subject`]; shorter means more key-store reads.
    pub fn subject_cache(mut self, ttl: Duration, entries: usize) -> Self {
        self.subject_cache = Some((ttl, entries));
        self
    }

    /// Where audit events go ([`audit`](crate::audit)): [`TracingAuditSink`] unless set;
    /// `encx_sqlx::SqlAuditSink` writes them to the `encx_audit` table; [`NoAudit`](crate::audit::NoAudit) drops them.
    pub fn audit(mut self, sink: Arc<dyn AuditSink>) -> Self {
        self.audit = Some(sink);
        self
    }

    /// The AES-GCM implementation that encrypts and decrypts this `Crypto`'s fields
    /// ([`aead`](crate::aead)); default: the process's [`Backend::current`]. Key wraps use the
    /// process's backend. Every backend writes and reads the same bytes.
    ///
    /// ```
    /// use encx::{aead::Backend, Crypto, LocalKeyring, MasterKey};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> encx::Result<()> {
    /// let crypto = Crypto::builder()
    ///     .keyring(LocalKeyring::new(vec![MasterKey::generate("v1")?])?)
    ///     .aead_backend(Backend::RustCrypto)
    ///     .build()
    ///     .await?;
    /// assert_eq!(crypto.aead_backend(), Backend::RustCrypto);
    /// # Ok(()) }
    /// ```
    pub fn aead_backend(mut self, backend: Backend) -> Self {
        self.aead = Some(backend);
        self
    }

    /// Writes every field in format 1 (postcard), as encx did before format 2 (bare strings
    /// and byte strings, `docs/format.md` §1): for a rolling upgrade from such a version, until
    /// every process that reads the data reads format 2; then drop the call. Reading takes
    /// both formats either way.
    ///
    /// ```
    /// # async fn demo() -> encx::Result<()> {
    /// use encx::{Crypto, LocalKeyring, MasterKey};
    /// let crypto = Crypto::builder()
    ///     .keyring(LocalKeyring::new(vec![MasterKey::generate("v1")?])?)
    ///     .field_format_1_only()
    ///     .build()
    ///     .await?;
    /// let sealer = crypto.seal_record("users", b"user-1").await?;
    /// assert_eq!(sealer.seal("email", "ada@example.com")?.as_bytes()[0], 0x01);
    /// # Ok(()) }
    /// ```
    pub fn field_format_1_only(mut self) -> Self {
        self.format_1_only = true;
        self
    }

    /// Builds it, loading index keys from their store if one was given.
    pub async fn build(self) -> Result<Crypto> {
        let keyring = self
            .keyring
            .ok_or_else(|| Error::config("Crypto::builder() needs a keyring"))?;
        let aead = self.aead.unwrap_or_else(Backend::current);
        if !aead.is_available() {
            return Err(Error::config(format!(
                "AES-GCM backend {aead} is not built in (see encx's cargo features)"
            )));
        }
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
                audit: self.audit.unwrap_or_else(|| Arc::new(TracingAuditSink)),
                aead,
                format_1_only: self.format_1_only,
                subjects: self.subject_store.map(|store| {
                    let (ttl, entries) = self
                        .subject_cache
                        .unwrap_or((DEFAULT_SUBJECT_CACHE_TTL, DEFAULT_SUBJECT_CACHE_ENTRIES));
                    Arc::new(SubjectKeys::new(store, ttl, entries))
                }),
                tenants: self.tenant_store.map(|store| {
                    let (ttl, entries) = self
                        .tenant_cache
                        .unwrap_or((DEFAULT_TENANT_CACHE_TTL, DEFAULT_TENANT_CACHE_ENTRIES));
                    Arc::new(Tenants::new(store, self.tenant_roots, ttl, entries))
                }),
                tenant: None,
            }),
        })
    }
}

impl Crypto {
    /// Starts a builder.
    pub fn builder() -> CryptoBuilder {
        CryptoBuilder::default()
    }

    /// Loads the key that wraps new DEKs (with a [`HierarchicalKeyring`](crate::HierarchicalKeyring):
    /// the active KEK, creating the first one if the store has none) into the cache, so that
    /// the next records are sealed from memory. Call it at start-up to fail fast on a missing
    /// root key, or before a database transaction in which records are sealed while the key
    /// store cannot be reached (see `encx_sqlx::Repo::warm_keys`, which also warms data
    /// subjects' keys).
    pub async fn warm_up(&self) -> Result<()> {
        self.inner.keyring.warm_up().await
    }

    /// The keyring.
    pub fn keyring(&self) -> &Arc<dyn Keyring> {
        &self.inner.keyring
    }

    /// The AES-GCM implementation of this `Crypto`'s field ciphers.
    pub fn aead_backend(&self) -> Backend {
        self.inner.aead
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
        self.refuse_erased_tenant()?;
        let ctx = KeyContext::new(table, record_id);
        let keyring = &self.inner.keyring;
        let (dek, wrapped) = match keyring.generate_dek_now(&ctx) {
            Some(generated) => generated?,
            None => keyring.generate_dek(&ctx).await?,
        };
        Ok(RecordSealer::new(
            RecordContext::new(table, record_id),
            FieldCipher::for_new_record_key(&dek, self.inner.aead)?
                .writing_format_1_only(self.inner.format_1_only),
            wrapped,
        ))
    }

    /// [`seal_record`](Self::seal_record) for a record of data subject `subject` (the bytes of
    /// its `#[encx(subject)]` field; `shown` is their printable form, for errors): the fresh DEK
    /// is wrapped under the subject's key, created on first use. [`Error::SubjectErased`] when
    /// the subject was erased and not re-enabled.
    pub async fn seal_subject_record<'a>(
        &self,
        table: &'a str,
        record_id: &'a [u8],
        subject: &[u8],
        shown: &str,
    ) -> Result<RecordSealer<'a>> {
        self.refuse_erased_tenant()?;
        let key = self
            .subject_keys()?
            .active(&*self.inner.keyring, &self.subject_key_for(subject), shown)
            .await?;
        let dek = Dek::generate()?;
        let wrapped = subject::wrap_dek(&key, &dek, &KeyContext::new(table, record_id))?;
        Ok(RecordSealer::new(
            RecordContext::new(table, record_id),
            FieldCipher::for_new_record_key(&dek, self.inner.aead)?
                .writing_format_1_only(self.inner.format_1_only),
            wrapped,
        ))
    }

    /// Erases a data subject: destroys every key of `subject` in the subject key store, so
    /// that every record wrapped under them, in every table and in every copy of the data that
    /// does not also hold the subject key store, turns to noise. New data for the subject is
    /// refused ([`Error::SubjectErased`]) until [`reenable_subject`](Self::reenable_subject),
    /// also for a subject that had no key yet (it gets a tombstone). Returns the ids of the
    /// keys destroyed (empty when there was nothing left to destroy).
    ///
    /// This process forgets the keys at once; others stop using them within their subject
    /// cache TTL ([`CryptoBuilder::subject_cache`]) and may seal new records of the subject
    /// until then. Blind indexes of the subject's records stay in the tables until cleared
    /// there: `encx_sqlx::SubjectEraser` clears them, and again after that window.
    pub async fn erase_subject(&self, subject: &[u8]) -> Result<Vec<uuid::Uuid>> {
        self.subject_keys()?
            .erase(&self.subject_key_for(subject), None)
            .await
    }

    /// [`erase_subject`](Self::erase_subject) limited to the keys of version `up_to_version`
    /// or lower: applies a past erasure again (after the subject key store was restored from
    /// a backup) without touching a key made when the subject was re-enabled later.
    pub async fn erase_subject_up_to(
        &self,
        subject: &[u8],
        up_to_version: i64,
    ) -> Result<Vec<uuid::Uuid>> {
        self.subject_keys()?
            .erase(&self.subject_key_for(subject), Some(up_to_version))
            .await
    }

    /// The highest key version of `subject`, after storing a tombstone (a key row with no key)
    /// if the subject has no key yet: the version an erasure starting now covers, and the
    /// guarantee that no first key is created for the subject while it runs. The tombstone
    /// makes new data for the subject refused until [`reenable_subject`](Self::reenable_subject).
    pub async fn subject_erasure_point(&self, subject: &[u8]) -> Result<i64> {
        self.subject_keys()?
            .erasure_point(&self.subject_key_for(subject))
            .await
    }

    /// How long this process caches a subject key (or the knowledge that a subject is
    /// erased): the longest another process configured alike keeps writing a subject after
    /// its erasure ([`CryptoBuilder::subject_cache`]). `None` without subject keys.
    pub fn subject_cache_ttl(&self) -> Option<Duration> {
        self.subject_keys().ok().map(|keys| keys.ttl())
    }

    /// Every key row of `subject` in the subject key store (live keys and tombstones), lowest
    /// version first: what an erasure or a re-applied ledger entry covers and spares.
    pub async fn subject_key_versions(&self, subject: &[u8]) -> Result<Vec<StoredSubjectKey>> {
        self.subject_keys()?
            .versions(&self.subject_key_for(subject))
            .await
    }

    /// Makes this process drop the cached keys `ids` of `subject` and read the subject's state
    /// from the store again: for keys destroyed in the store by other means than
    /// [`erase_subject`](Self::erase_subject), such as `encx_sqlx::SubjectEraser` erasing keys
    /// and rows in one database transaction.
    pub fn forget_subject_keys(&self, subject: &[u8], ids: &[uuid::Uuid]) -> Result<()> {
        self.subject_keys()?
            .forget(&self.subject_key_for(subject), ids);
        Ok(())
    }

    /// Lets new data of an erased subject be stored again, under a new key. Records written
    /// before the erasure stay shredded. Does nothing for a subject that is not erased.
    pub async fn reenable_subject(&self, subject: &[u8]) -> Result<()> {
        self.subject_keys()?
            .reenable(&*self.inner.keyring, &self.subject_key_for(subject))
            .await
    }

    /// Makes a new key-encryption key active (see [`Keyring::rotate`]) and returns its
    /// description; sends a [`Rotate`](crate::audit::AuditAction::Rotate) audit event naming
    /// `actor`. Records keep their DEKs under the previous KEK until re-wrapped (the
    /// `encx_sqlx::Repo::rewrap` job).
    pub async fn rotate_kek(&self, actor: Option<&str>) -> Result<String> {
        let at = std::time::SystemTime::now();
        let started = std::time::Instant::now();
        let rotated = self.inner.keyring.rotate().await;
        let mut event =
            crate::audit::AuditEvent::new(crate::audit::AuditAction::Rotate, "encx_keks", at);
        event.duration = started.elapsed();
        event.actor = actor.map(str::to_owned);
        match &rotated {
            Ok(description) => {
                event.record = Some(description.clone());
                event.records = 1;
            }
            Err(e) => event.outcome = crate::audit::AuditOutcome::Failed(e.kind()),
        }
        self.inner.audit.record(event);
        rotated
    }

    /// After a root key rotation (a new local master key version), re-wraps the keyring's
    /// stored keys (KEKs and index root keys) under the root's active key (see
    /// [`Keyring::rewrap_stored_keys`]); returns how many rows it replaced. Idempotent: a
    /// second call replaces none. Sends a [`Rewrap`](crate::audit::AuditAction::Rewrap) audit
    /// event for `encx_keks` naming `actor`.
    pub async fn rewrap_stored_keys(&self, actor: Option<&str>) -> Result<u64> {
        let at = std::time::SystemTime::now();
        let started = std::time::Instant::now();
        let replaced = self.inner.keyring.rewrap_stored_keys().await;
        let mut event =
            crate::audit::AuditEvent::new(crate::audit::AuditAction::Rewrap, "encx_keks", at);
        event.duration = started.elapsed();
        event.actor = actor.map(str::to_owned);
        match &replaced {
            Ok(rows) => event.records = *rows,
            Err(e) => event.outcome = crate::audit::AuditOutcome::Failed(e.kind()),
        }
        self.inner.audit.record(event);
        replaced
    }

    /// How many stored keys [`rewrap_stored_keys`](Self::rewrap_stored_keys) would re-wrap
    /// now (see [`Keyring::stored_keys_to_rewrap`]).
    pub async fn stored_keys_to_rewrap(&self) -> Result<u64> {
        self.inner.keyring.stored_keys_to_rewrap().await
    }

    /// The header prefix every DEK wrapped now starts with (see
    /// [`Keyring::active_key_prefix`]): a rewrap job's rows to do are the others.
    pub async fn active_key_prefix(&self) -> Result<Option<Vec<u8>>> {
        self.inner.keyring.active_key_prefix().await
    }

    /// A record's DEK wrapped anew under the keyring's active key, or `None` when it already
    /// is (or is a data subject's record, whose DEK its subject key wraps). `record_id` is
    /// the id bytes the record was sealed with. Neither the fields nor the blind indexes
    /// change: re-wrapping touches only the stored `encx_dek`.
    pub async fn rewrap_dek(
        &self,
        table: &str,
        record_id: &[u8],
        wrapped: &WrappedDek,
    ) -> Result<Option<WrappedDek>> {
        if wrapped::read_kind(wrapped.as_bytes())? == KeyringKind::Subject
            || self.inner.keyring.wraps_with_active_key(wrapped).await?
        {
            return Ok(None);
        }
        let ctx = KeyContext::new(table, record_id);
        let dek = self.inner.keyring.unwrap_dek(wrapped, &ctx).await?;
        Ok(Some(self.inner.keyring.wrap_dek(&dek, &ctx).await?))
    }

    /// After a KEK rotation, re-wraps every data subject's key under the keyring's active key,
    /// `batch` keys per page (subject keys are wrapped by the keyring like DEKs; the records'
    /// DEKs under them do not change). Idempotent and safe to interrupt: run it again. Sends
    /// one [`Rewrap`](crate::audit::AuditAction::Rewrap) audit event (`encx_subject_keys`).
    pub async fn rewrap_subject_keys(&self, batch: usize) -> Result<SubjectKeysRewrapped> {
        if batch == 0 {
            return Err(Error::config("rewrap needs a batch size above 0"));
        }
        let at = std::time::SystemTime::now();
        let started = std::time::Instant::now();
        let done = self
            .subject_keys()?
            .rewrap_all(&*self.inner.keyring, batch, &|s| self.owns_subject_key(s))
            .await;
        let mut event = crate::audit::AuditEvent::new(
            crate::audit::AuditAction::Rewrap,
            subject::SUBJECT_KEY_TABLE,
            at,
        );
        event.duration = started.elapsed();
        match &done {
            Ok(done) => event.records = done.rewrapped,
            Err(e) => event.outcome = crate::audit::AuditOutcome::Failed(e.kind()),
        }
        self.inner.audit.record(event);
        done
    }

    /// How many live subject keys each key of the keyring wraps, read from their headers
    /// (nothing is unwrapped): what must be re-wrapped before an old KEK is destroyed.
    pub async fn subject_key_usage(&self) -> Result<Vec<(KeyInUse, u64)>> {
        self.subject_keys()?
            .key_usage(1_000, &|s| self.owns_subject_key(s))
            .await
    }

    /// The audit sink (see [`CryptoBuilder::audit`]).
    pub fn audit_sink(&self) -> &Arc<dyn AuditSink> {
        &self.inner.audit
    }

    fn subject_keys(&self) -> Result<&SubjectKeys> {
        self.inner.subjects.as_deref().ok_or_else(|| {
            Error::config(
                "records with a data subject need subject keys: use CryptoBuilder::subject_keys_in",
            )
        })
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
        self.open_any_record(table, record_id, None, wrapped, display_id)
            .await
    }

    /// [`open_record`](Self::open_record) for a record of data subject `subject`: its DEK must
    /// be wrapped under that subject's key ([`Error::Tampered`] otherwise). An erased subject's
    /// record gives [`Error::Shredded`].
    pub async fn open_subject_record<'a>(
        &self,
        table: &'a str,
        record_id: &'a [u8],
        subject: &[u8],
        wrapped: Option<&WrappedDek>,
        display_id: &(dyn fmt::Display + Sync),
    ) -> Result<RecordOpener<'a>> {
        self.open_any_record(table, record_id, Some(subject), wrapped, display_id)
            .await
    }

    async fn open_any_record<'a>(
        &self,
        table: &'a str,
        record_id: &'a [u8],
        subject: Option<&[u8]>,
        wrapped: Option<&WrappedDek>,
        display_id: &(dyn fmt::Display + Sync),
    ) -> Result<RecordOpener<'a>> {
        let shredded = || Error::Shredded {
            table: table.to_owned(),
            record: display_id.to_string(),
        };
        let wrapped = wrapped.ok_or_else(shredded)?;
        if self.inner.tenant.as_ref().is_some_and(|t| t.erased) {
            return Err(shredded());
        }
        let ctx = KeyContext::new(table, record_id);
        let dek = if wrapped::read_kind(wrapped.as_bytes())? == KeyringKind::Subject {
            let shown = display_id.to_string();
            let subject = subject.map(|s| self.subject_key_for(s));
            self.subject_keys()?
                .unwrap_dek(
                    &*self.inner.keyring,
                    wrapped,
                    &ctx,
                    subject.as_deref(),
                    &shown,
                )
                .await?
        } else {
            let keyring = &self.inner.keyring;
            match keyring.unwrap_dek_now(wrapped, &ctx) {
                Some(unwrapped) => unwrapped?,
                None => keyring.unwrap_dek(wrapped, &ctx).await?,
            }
        };
        Ok(RecordOpener::new(
            RecordContext::new(table, record_id),
            FieldCipher::with_backend(&dek, self.inner.aead)?,
        ))
    }

    pub(crate) fn index_keys(&self) -> Result<&IndexKeys> {
        self.inner.index_keys.as_ref().ok_or_else(|| {
            Error::config(
                "searchable fields need index keys: use CryptoBuilder::index_keys or index_keys_in",
            )
        })
    }

    /// The active index key version and every version, newest first.
    pub(crate) fn index_versions(&self) -> Result<(u32, Vec<u32>)> {
        let keys = self.index_keys()?;
        let mut versions: Vec<u32> = keys.versions().collect();
        versions.reverse();
        Ok((keys.active_version(), versions))
    }

    /// Runs `f` with the derived key of `domain` at `version`, deriving and caching it first.
    pub(crate) fn with_index_key<R>(
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
        spec.check_domain()?;
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
        spec.check_domain()?;
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
