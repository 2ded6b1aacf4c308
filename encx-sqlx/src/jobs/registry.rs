//! [`Registry`]: the tables an application registers for operator jobs — which keys serve
//! which rows, re-wrapping after a rotation, destroying a KEK no row needs any more.
//!
//! A job needs each table's Rust type (its id type, its columns), so the application builds
//! the registry from its own repositories, in its own binary (see `docs/operations.md`).

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use encx::audit::{AuditAction, AuditEvent};
use encx::schema::Schema;
use encx::sql::StoredRecord;
use encx::{
    Crypto, Encrypted, HasRecordId, KekState, KekStore, KeyInUse, KeyPurpose, StoredKek,
    SubjectKeysRewrapped,
};
use futures_util::future::BoxFuture;
use std::time::{Duration, SystemTime};
use uuid::Uuid;

use crate::audit::audit_log::{AuditQuery, AuditRecord};
use crate::encx_database::EncxDatabase;
use crate::erasure::described::DescribedId;
use crate::erasure::tenant::{TenantErasure, TenantFootprint};
use crate::erasure::{SubjectErasure, SubjectFootprint};
use crate::error::{Error, Result};
use crate::jobs::described::DescribedRows;
use crate::jobs::encx_tables::EncxTables;
use crate::jobs::plaintext::VerifyReport;
use crate::progress::RewrapProgress;
use crate::repository::Repo;

/// A table whose keys the registry's jobs and guards handle, its type erased: a
/// [`Repo`], a table known by name ([`Registry::described_table`]), or a store of a crate
/// built on encx-sqlx (`encx_secrets::Secrets`), added with [`Registry::job_table`].
pub trait JobTable: Send + Sync {
    /// The table's name, as `status` and the guards name it.
    fn table(&self) -> &'static str;
    /// Its rows per key ([`Repo::key_usage`]).
    fn key_usage(&self) -> BoxFuture<'_, Result<Vec<(KeyInUse, u64)>>>;
    /// Re-wraps every DEK not under the active key, `batch` rows at a time where batches
    /// apply ([`Repo::rewrap`]), calling `progress` after each.
    fn rewrap<'a>(
        &'a self,
        batch: usize,
        progress: &'a mut (dyn FnMut(&RewrapProgress) + Send),
    ) -> BoxFuture<'a, Result<RewrapProgress>>;
    /// Decrypts and encrypts anew every record not under the active key
    /// ([`Repo::reencrypt`]).
    fn reencrypt<'a>(
        &'a self,
        batch: usize,
        progress: &'a mut (dyn FnMut(&RewrapProgress) + Send),
    ) -> BoxFuture<'a, Result<RewrapProgress>>;
    /// Whether its rows hold blind indexes (which a rewrap keeps and a re-encryption renews).
    fn has_blind_indexes(&self) -> bool;
    /// The same table, naming `actor` in its jobs' audit events.
    fn acting_as(&self, actor: &str) -> Box<dyn JobTable>;
}

impl<T, DB> JobTable for Repo<T, DB>
where
    DB: EncxDatabase,
    T: Encrypted + Schema + HasRecordId + Send + Sync + 'static,
    T::Record: StoredRecord,
{
    fn table(&self) -> &'static str {
        <T as Schema>::TABLE
    }

    fn key_usage(&self) -> BoxFuture<'_, Result<Vec<(KeyInUse, u64)>>> {
        Box::pin(Repo::key_usage(self))
    }

    fn rewrap<'a>(
        &'a self,
        batch: usize,
        progress: &'a mut (dyn FnMut(&RewrapProgress) + Send),
    ) -> BoxFuture<'a, Result<RewrapProgress>> {
        Box::pin(self.rewrap_with_progress(batch, progress))
    }

    fn reencrypt<'a>(
        &'a self,
        batch: usize,
        progress: &'a mut (dyn FnMut(&RewrapProgress) + Send),
    ) -> BoxFuture<'a, Result<RewrapProgress>> {
        Box::pin(self.reencrypt_with_progress(batch, progress))
    }

    fn has_blind_indexes(&self) -> bool {
        <T as Schema>::columns()
            .iter()
            .any(|c| c.kind.is_search_index())
    }

    fn acting_as(&self, actor: &str) -> Box<dyn JobTable> {
        Box::new(self.with_actor(actor))
    }
}

impl<DB: EncxDatabase, I: DescribedId> JobTable for DescribedRows<DB, I> {
    fn table(&self) -> &'static str {
        DescribedRows::table(self)
    }

    fn key_usage(&self) -> BoxFuture<'_, Result<Vec<(KeyInUse, u64)>>> {
        Box::pin(DescribedRows::key_usage(self))
    }

    fn rewrap<'a>(
        &'a self,
        batch: usize,
        progress: &'a mut (dyn FnMut(&RewrapProgress) + Send),
    ) -> BoxFuture<'a, Result<RewrapProgress>> {
        Box::pin(DescribedRows::rewrap(self, batch, progress))
    }

    fn reencrypt<'a>(
        &'a self,
        _batch: usize,
        _progress: &'a mut (dyn FnMut(&RewrapProgress) + Send),
    ) -> BoxFuture<'a, Result<RewrapProgress>> {
        let table = self.table();
        Box::pin(async move {
            Err(Error::InvalidConfig(format!(
                "table `{table}` is known by name only (Registry::described_table): a \
                 re-encryption decrypts its records and needs their type; run it from the \
                 application's own `encx` (the encx_cli library with the table registered)"
            )))
        })
    }

    fn has_blind_indexes(&self) -> bool {
        DescribedRows::has_blind_indexes(self)
    }

    fn acting_as(&self, actor: &str) -> Box<dyn JobTable> {
        Box::new(self.with_actor(actor))
    }
}

/// A registered table being migrated from plaintext, its type erased.
trait MigrationTable: Send + Sync {
    fn table(&self) -> &'static str;
    fn migrate<'a>(
        &'a self,
        batch: usize,
        progress: &'a mut (dyn FnMut(&RewrapProgress) + Send),
    ) -> BoxFuture<'a, Result<RewrapProgress>>;
    fn unmigrated(&self) -> BoxFuture<'_, Result<u64>>;
    fn verify(&self, batch: usize) -> BoxFuture<'_, Result<VerifyReport>>;
}

impl<T, DB> MigrationTable for Repo<T, DB>
where
    DB: EncxDatabase,
    T: Encrypted + Schema + HasRecordId + PartialEq + Send + Sync,
    T::Record: StoredRecord,
{
    fn table(&self) -> &'static str {
        <T as Schema>::TABLE
    }

    fn migrate<'a>(
        &'a self,
        batch: usize,
        progress: &'a mut (dyn FnMut(&RewrapProgress) + Send),
    ) -> BoxFuture<'a, Result<RewrapProgress>> {
        Box::pin(self.migrate_with_progress(batch, progress))
    }

    fn unmigrated(&self) -> BoxFuture<'_, Result<u64>> {
        Box::pin(self.unmigrated_rows())
    }

    fn verify(&self, batch: usize) -> BoxFuture<'_, Result<VerifyReport>> {
        Box::pin(Repo::verify(self, batch))
    }
}

/// Erases a data subject given as text, naming an actor, with the registered eraser.
type SubjectEraserFn =
    Arc<dyn Fn(String, Option<String>) -> BoxFuture<'static, Result<SubjectErasure>> + Send + Sync>;

/// What the registered eraser would find of a subject given as text.
type FootprintFn =
    Arc<dyn Fn(String) -> BoxFuture<'static, Result<SubjectFootprint>> + Send + Sync>;

/// Re-applies the registered eraser's ledger.
type ReapplyFn = Arc<dyn Fn() -> BoxFuture<'static, Result<Vec<SubjectErasure>>> + Send + Sync>;

/// A tenant given as text, parsed as the tenant type: its id bytes.
type TenantParseFn = Arc<dyn Fn(&str) -> Result<Vec<u8>> + Send + Sync>;

/// What the registered tenant eraser would find of a tenant given as text.
type TenantFootprintFn =
    Arc<dyn Fn(String) -> BoxFuture<'static, Result<TenantFootprint>> + Send + Sync>;

/// Offboards a tenant given as text, naming an actor.
type TenantEraseFn =
    Arc<dyn Fn(String, Option<String>) -> BoxFuture<'static, Result<TenantErasure>> + Send + Sync>;

/// Re-applies the tenant offboardings of the ledger.
type TenantReapplyFn =
    Arc<dyn Fn() -> BoxFuture<'static, Result<Vec<TenantErasure>>> + Send + Sync>;

/// The registered tenant eraser, behind the tenant given as text.
#[derive(Clone)]
struct TenantOps {
    tables: Vec<&'static str>,
    parse: TenantParseFn,
    footprint: TenantFootprintFn,
    erase: TenantEraseFn,
    reapply: TenantReapplyFn,
    window: Duration,
}

/// Reads the registered `encx_audit` table.
type AuditReader =
    Arc<dyn Fn(AuditQuery) -> BoxFuture<'static, Result<Vec<AuditRecord>>> + Send + Sync>;

/// The tables of an application and the keys that serve them, for operator jobs.
///
/// ```no_run
/// # use encx::Encrypted;
/// # #[derive(Encrypted)] struct User { #[encx(id)] id: uuid::Uuid, #[encx(encrypt)] email: String }
/// # #[derive(Encrypted)] struct Order { #[encx(id)] id: i64, #[encx(encrypt)] address: String }
/// # async fn run(pool: sqlx::PgPool, crypto: encx::Crypto, keks: std::sync::Arc<dyn encx::KekStore>) -> encx_sqlx::Result<()> {
/// use encx_sqlx::{Registry, Repo};
/// let registry = Registry::new(crypto.clone())
///     .kek_store(keks)
///     .table(Repo::<User, sqlx::Postgres>::new(pool.clone(), crypto.clone()))
///     .table(Repo::<Order, sqlx::Postgres>::new(pool, crypto.clone()));
/// println!("{}", registry.status().await?); // rows per key, per table
/// crypto.rotate_kek(Some("ops")).await?;
/// registry.rewrap(1_000, |_, _| {}).await?; // every table, then the subject keys
/// for kek in registry.status().await?.retired_keks_unused() {
///     registry.destroy_kek(kek, false).await?; // refused while any row needs it
/// }
/// # Ok(()) }
/// ```
pub struct Registry {
    crypto: Crypto,
    keks: Option<Arc<dyn KekStore>>,
    tables: Vec<Box<dyn JobTable>>,
    migrations: Vec<Box<dyn MigrationTable>>,
    audit: Option<AuditReader>,
    eraser: Option<(
        Vec<&'static str>,
        SubjectEraserFn,
        ReapplyFn,
        std::time::Duration,
        FootprintFn,
    )>,
    extensions: Vec<Arc<dyn Any + Send + Sync>>,
    encx_tables: Vec<Arc<dyn EncxTables>>,
    kek_cache_ttl: Option<Duration>,
    actor: Option<String>,
    tenants: Option<TenantOps>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("tables", &self.table_names())
            .finish_non_exhaustive()
    }
}

impl Registry {
    /// A registry with no table, for the tables of `crypto`.
    pub fn new(crypto: Crypto) -> Self {
        Registry {
            crypto,
            keks: None,
            tables: Vec::new(),
            migrations: Vec::new(),
            audit: None,
            eraser: None,
            extensions: Vec::new(),
            encx_tables: Vec::new(),
            kek_cache_ttl: None,
            actor: None,
            tenants: None,
        }
    }

    /// A database holding encx's own tables (the data's, and the key tables' own where they
    /// live apart), checked whether or not the application registered them: [`destroy_kek`]
    /// counts the keys its `encx_secrets` and `encx_subject_keys` hold under the KEK,
    /// [`destroy_index_version`] the live tokens of its `encx_tokens`, and
    /// [`status`](Self::status) lists them. Every other table of it with an `encx_dek`
    /// column that is not registered is counted the same way (a table whose type nobody
    /// registered, a copy, the bare binary's whole schema): a KEK its rows need is never
    /// destroyed without `force`. The `encx` CLI adds the databases of its URLs.
    ///
    /// [`destroy_kek`]: Self::destroy_kek
    /// [`destroy_index_version`]: Self::destroy_index_version
    pub fn encx_tables<DB: EncxDatabase>(mut self, pool: sqlx::Pool<DB>) -> Self {
        self.encx_tables
            .push(Arc::new(crate::jobs::encx_tables::TablesIn(pool)));
        self
    }

    /// How long the application's processes keep the active KEK cached (their
    /// [`HierarchicalKeyring::with_cache_ttl`](encx::HierarchicalKeyring::with_cache_ttl)):
    /// for that long after a rotation, one of them may still wrap new DEKs under the retired
    /// KEK, so [`destroy_kek`](Self::destroy_kek) refuses it until then. Default: the TTL of
    /// this registry's own keyring ([`Keyring::kek_cache_ttl`](encx::Keyring::kek_cache_ttl),
    /// 5 minutes unless set), which is right when the CLI builds its keyring as the
    /// application does.
    pub fn kek_cache_ttl(mut self, ttl: Duration) -> Self {
        self.kek_cache_ttl = Some(ttl);
        self
    }

    /// The KEK cache TTL the guards assume ([`kek_cache_ttl`](Self::kek_cache_ttl)).
    pub fn effective_kek_cache_ttl(&self) -> Duration {
        self.kek_cache_ttl
            .or_else(|| self.crypto.keyring().kek_cache_ttl())
            .unwrap_or(Duration::ZERO)
    }

    /// This registry, naming `actor` in the audit events of what it does: key destruction,
    /// index key versions, and every batch of a rewrap or re-encryption.
    pub fn with_actor(mut self, actor: impl Into<String>) -> Self {
        let actor = actor.into();
        self.tables = self.tables.iter().map(|t| t.acting_as(&actor)).collect();
        self.actor = Some(actor);
        self
    }

    /// The actor given to [`with_actor`](Self::with_actor).
    pub fn actor(&self) -> Option<&str> {
        self.actor.as_deref()
    }

    /// Records an audit event of an operator action on `table`, by this registry's actor.
    fn record_event(
        &self,
        action: AuditAction,
        table: &'static str,
        record: Option<String>,
        records: u64,
    ) {
        let mut event = AuditEvent::new(action, table, SystemTime::now());
        event.record = record;
        event.records = records;
        event.actor = self.actor.clone();
        self.crypto.audit_sink().record(event);
    }

    /// The application's [`SubjectEraser`](crate::SubjectEraser): needed by
    /// [`erase_subject`](Self::erase_subject) (`encx erase-subject`). Subjects are given as
    /// text and parsed with `S`'s `FromStr` (a UUID, a number, a string).
    pub fn subject_eraser<S>(mut self, eraser: crate::SubjectEraser<S>) -> Self
    where
        S: encx::SubjectId + std::str::FromStr + Send + Sync + 'static,
        <S as std::str::FromStr>::Err: fmt::Display,
    {
        let tables = eraser.table_names();
        let window = eraser.effective_writer_window();
        let eraser = Arc::new(eraser);
        let reapplying = eraser.clone();
        let looking = eraser.clone();
        let footprint: FootprintFn = Arc::new(move |subject: String| {
            let eraser = looking.clone();
            Box::pin(async move {
                let parsed: S = parse_subject(&subject)?;
                eraser.footprint(&parsed).await
            })
        });
        let reapply: ReapplyFn = Arc::new(move || {
            let eraser = reapplying.clone();
            Box::pin(async move { eraser.reapply_ledger().await })
        });
        let erase: SubjectEraserFn = Arc::new(move |subject: String, actor: Option<String>| {
            let eraser = eraser.clone();
            Box::pin(async move {
                let parsed: S = parse_subject(&subject)?;
                eraser.erase_by(&parsed, actor.as_deref()).await
            })
        });
        self.eraser = Some((tables, erase, reapply, window, footprint));
        self
    }

    /// The application's [`TenantEraser`](crate::TenantEraser): needed by the tenant
    /// operations (`encx tenant status|erase|move|reapply-ledger`). Tenants are given as text
    /// and parsed with `Tn`'s `FromStr`.
    pub fn tenant_eraser<Tn>(mut self, eraser: crate::TenantEraser<Tn>) -> Self
    where
        Tn: encx::SubjectId + std::str::FromStr + Send + Sync + 'static,
        <Tn as std::str::FromStr>::Err: fmt::Display,
    {
        let tables = eraser.table_names();
        let window = eraser.effective_writer_window();
        let eraser = Arc::new(eraser);
        let (e1, e2, e3) = (eraser.clone(), eraser.clone(), eraser);
        self.tenants = Some(TenantOps {
            tables,
            window,
            parse: Arc::new(|text: &str| {
                let tenant: Tn = parse_tenant(text)?;
                Ok(tenant.record_id_bytes().into_owned())
            }),
            footprint: Arc::new(move |text: String| {
                let eraser = e1.clone();
                Box::pin(async move { eraser.footprint(&parse_tenant::<Tn>(&text)?).await })
            }),
            erase: Arc::new(move |text: String, actor: Option<String>| {
                let eraser = e2.clone();
                Box::pin(async move {
                    eraser
                        .erase_by(&parse_tenant::<Tn>(&text)?, actor.as_deref())
                        .await
                })
            }),
            reapply: Arc::new(move || {
                let eraser = e3.clone();
                Box::pin(async move { eraser.reapply_ledger().await })
            }),
        });
        self
    }

    fn tenant_ops(&self) -> Result<&TenantOps> {
        self.tenants.as_ref().ok_or_else(|| {
            Error::InvalidConfig(
                "no tenant eraser registered: run the application's own encx, whose registry \
                 has Registry::tenant_eraser(eraser)"
                    .into(),
            )
        })
    }

    /// The tables the registered tenant eraser clears.
    pub fn tenant_tables(&self) -> Option<&[&'static str]> {
        self.tenants.as_ref().map(|t| t.tables.as_slice())
    }

    /// How long the registered tenant eraser waits for other processes' tenant caches.
    pub fn tenant_writer_window(&self) -> Option<Duration> {
        self.tenants.as_ref().map(|t| t.window)
    }

    /// What offboarding `tenant` (text) would destroy (`encx tenant erase --dry-run`).
    pub async fn tenant_footprint(&self, tenant: &str) -> Result<TenantFootprint> {
        (self.tenant_ops()?.footprint)(tenant.to_owned()).await
    }

    /// Offboards `tenant` (text) with the registered tenant eraser (`encx tenant erase`),
    /// naming `actor` in its audit event.
    pub async fn erase_tenant(&self, tenant: &str, actor: Option<&str>) -> Result<TenantErasure> {
        (self.tenant_ops()?.erase)(tenant.to_owned(), actor.map(str::to_owned)).await
    }

    /// Re-applies the tenant offboardings of the ledger (`encx tenant reapply-ledger`).
    pub async fn reapply_tenant_ledger(&self) -> Result<Vec<TenantErasure>> {
        (self.tenant_ops()?.reapply)().await
    }

    /// The tenant's row and keys (`encx tenant status`).
    pub async fn tenant_status(&self, tenant: &str) -> Result<encx::TenantStatus> {
        let bytes = (self.tenant_ops()?.parse)(tenant)?;
        Ok(self.crypto.tenant_status(&bytes).await?)
    }

    /// Moves `tenant` (text) to root `to` (`encx tenant move`), audited with this
    /// registry's actor. Waits one tenant cache TTL of the registry's `Crypto` while both roots
    /// serve.
    pub async fn move_tenant_root(
        &self,
        tenant: &str,
        to: encx::keys::tenant::TenantRoot,
    ) -> Result<encx::TenantMove> {
        let bytes = (self.tenant_ops()?.parse)(tenant)?;
        Ok(self
            .crypto
            .move_tenant_root(&bytes, to, self.actor.as_deref())
            .await?)
    }

    /// What an erasure of `subject` (text, parsed as the registered eraser's subject type)
    /// would find now ([`SubjectEraser::footprint`](crate::SubjectEraser::footprint)):
    /// `encx erase-subject --dry-run`.
    pub async fn subject_footprint(&self, subject: &str) -> Result<SubjectFootprint> {
        let (.., footprint) = self.eraser.as_ref().ok_or_else(no_eraser)?;
        footprint(subject.to_owned()).await
    }

    /// Re-applies the registered [`SubjectEraser`](crate::SubjectEraser)'s erasure ledger
    /// ([`SubjectEraser::reapply_ledger`](crate::SubjectEraser::reapply_ledger), `encx
    /// reapply-ledger`): after a restore of the subject key database, destroys again the keys
    /// of every erased subject and clears their rows. One receipt per ledger entry.
    /// Audited with this registry's [actor](Self::with_actor) (`erase_subject` on
    /// `encx_erasure_ledger`, the entries re-applied).
    pub async fn reapply_ledger(&self) -> Result<Vec<SubjectErasure>> {
        let (_, _, reapply, ..) = self.eraser.as_ref().ok_or_else(no_eraser)?;
        let receipts = reapply().await?;
        self.record_event(
            AuditAction::EraseSubject,
            "encx_erasure_ledger",
            None,
            receipts.len() as u64,
        );
        Ok(receipts)
    }

    /// The tables the registered subject eraser clears; `None` without
    /// [`subject_eraser`](Self::subject_eraser).
    pub fn subject_tables(&self) -> Option<&[&'static str]> {
        self.eraser.as_ref().map(|(tables, ..)| tables.as_slice())
    }

    /// The error of an erasure asked of a registry without a subject eraser (a configuration
    /// error that says where erasures run).
    pub fn no_subject_eraser() -> Error {
        no_eraser()
    }

    /// How long the registered subject eraser waits for other processes' subject caches
    /// before its closing sweep ([`SubjectEraser::writer_window`](crate::SubjectEraser::writer_window)).
    pub fn subject_writer_window(&self) -> Option<std::time::Duration> {
        self.eraser.as_ref().map(|(.., window, _)| *window)
    }

    /// Erases data subject `subject` (text, parsed as the eraser's subject type) with the
    /// registered [`SubjectEraser`](crate::SubjectEraser), naming `actor` in the audit events;
    /// the receipt. A configuration error without [`subject_eraser`](Self::subject_eraser) or
    /// for text that is not a subject id.
    pub async fn erase_subject(
        &self,
        subject: &str,
        actor: Option<&str>,
    ) -> Result<SubjectErasure> {
        let (_, erase, ..) = self.eraser.as_ref().ok_or_else(no_eraser)?;
        erase(subject.to_owned(), actor.map(str::to_owned)).await
    }

    /// The database whose `encx_audit` table a [`SqlAuditSink`](crate::SqlAuditSink) writes:
    /// needed by [`audit`](Self::audit) (`encx audit`).
    pub fn audit_log<DB: EncxDatabase>(mut self, pool: sqlx::Pool<DB>) -> Self {
        self.audit = Some(Arc::new(move |query: AuditQuery| {
            let pool = pool.clone();
            Box::pin(async move { crate::read_audit(&pool, &query).await })
        }));
        self
    }

    /// The audit events matching `query`, newest first (see [`read_audit`](crate::read_audit)).
    /// A configuration error without [`audit_log`](Self::audit_log).
    pub async fn audit(&self, query: AuditQuery) -> Result<Vec<AuditRecord>> {
        let read = self.audit.as_ref().ok_or_else(|| {
            Error::InvalidConfig(
                "no audit table registered: give the registry Registry::audit_log(pool)".into(),
            )
        })?;
        read(query).await
    }

    /// The KEK store of the crypto's [`HierarchicalKeyring`](encx::HierarchicalKeyring):
    /// needed to list KEKs in [`status`](Self::status) and to
    /// [`destroy_kek`](Self::destroy_kek).
    pub fn kek_store(mut self, store: Arc<dyn KekStore>) -> Self {
        self.keks = Some(store);
        self
    }

    /// Adds a table that a crate built on encx-sqlx manages (the secrets store of
    /// `encx-secrets`, say): [`status`](Self::status), [`rewrap`](Self::rewrap),
    /// [`reencrypt`](Self::reencrypt) and the key guards then count it like a repository.
    pub fn job_table(mut self, table: impl JobTable + 'static) -> Self {
        self.tables.push(Box::new(table));
        self
    }

    /// Keeps `value` for whoever later holds the registry and asks for its type
    /// ([`extension`](Self::extension)): how a crate built on encx-sqlx hands something of
    /// its own to the `encx` CLI (`encx-secrets` its store, for `encx secrets ...`). A second
    /// value of the same type replaces the first.
    ///
    /// ```
    /// # async fn run(crypto: encx::Crypto) {
    /// let registry = encx_sqlx::Registry::new(crypto).with_extension(String::from("ops"));
    /// assert_eq!(registry.extension::<String>().map(String::as_str), Some("ops"));
    /// # }
    /// ```
    pub fn with_extension<T: Any + Send + Sync>(mut self, value: T) -> Self {
        self.extensions.retain(|e| !e.is::<T>());
        self.extensions.push(Arc::new(value));
        self
    }

    /// The value of type `T` given to [`with_extension`](Self::with_extension).
    pub fn extension<T: Any + Send + Sync>(&self) -> Option<&T> {
        self.extensions.iter().find_map(|e| e.downcast_ref::<T>())
    }

    /// Adds a table (a repository of a type with an `#[encx(id)]` field).
    pub fn table<T, DB>(mut self, repo: Repo<T, DB>) -> Self
    where
        DB: EncxDatabase,
        T: Encrypted + Schema + HasRecordId + Send + Sync + 'static,
        T::Record: StoredRecord,
    {
        self.tables.push(Box::new(repo));
        self
    }

    /// Adds the table `table` of `pool`'s database without its record type, known by its id
    /// column `id_column`, whose values are of type `I` (`Uuid`, `String` or `i64`): what
    /// the bare `encx` binary's `--rewrap-table TABLE:COLUMN` adds. [`rewrap`](Self::rewrap)
    /// re-wraps its DEKs as [`Repo::rewrap`] does (each DEK is bound to the table and the
    /// record id, nothing else of the record), [`status`](Self::status) and the key guards
    /// count its rows; a re-encryption, which decrypts its fields, is refused with a
    /// configuration error, and so is a rewrap that would need one (rows with blind indexes
    /// under a KEK older than the newest index key version). A configuration error when the
    /// table, its `encx_dek` column or `id_column` is missing.
    ///
    /// ```no_run
    /// # async fn run(pool: sqlx::PgPool, registry: encx_sqlx::Registry) -> encx_sqlx::Result<()> {
    /// let registry = registry
    ///     .described_table::<_, uuid::Uuid>(pool, "user_notes", "id")
    ///     .await?;
    /// registry.rewrap(1_000, |_, _| {}).await?;
    /// # Ok(()) }
    /// ```
    pub async fn described_table<DB: EncxDatabase, I: DescribedId>(
        mut self,
        pool: sqlx::Pool<DB>,
        table: &str,
        id_column: &str,
    ) -> Result<Self> {
        let crypto = self.crypto.clone();
        let mut described = DescribedRows::<DB, I>::read(pool, crypto, table, id_column).await?;
        if let Some(actor) = &self.actor {
            described = described.with_actor(actor);
        }
        self.tables.push(Box::new(described));
        Ok(self)
    }

    /// Adds a table being migrated from plaintext: a repository in the migration's read mode
    /// ([`Repo::with_plaintext`]). It is a table as for [`table`](Self::table), and also one
    /// that [`migrate`](Self::migrate) and [`verify`](Self::verify) work on (`encx migrate`,
    /// `encx verify`); `verify` compares values, so `T` implements `PartialEq`.
    pub fn migrating_table<T, DB>(mut self, repo: Repo<T, DB>) -> Self
    where
        DB: EncxDatabase,
        T: Encrypted + Schema + HasRecordId + PartialEq + Send + Sync + 'static,
        T::Record: StoredRecord,
    {
        self.migrations.push(Box::new(repo.clone()));
        self.table(repo)
    }

    /// The names of the tables registered with [`migrating_table`](Self::migrating_table).
    pub fn migrating_table_names(&self) -> Vec<&'static str> {
        self.migrations.iter().map(|t| t.table()).collect()
    }

    /// Rows not migrated yet, per table registered with
    /// [`migrating_table`](Self::migrating_table).
    pub async fn unmigrated(&self) -> Result<Vec<(&'static str, u64)>> {
        let mut out = Vec::with_capacity(self.migrations.len());
        for table in &self.migrations {
            out.push((table.table(), table.unmigrated().await?));
        }
        Ok(out)
    }

    /// Migrates every table registered with [`migrating_table`](Self::migrating_table)
    /// ([`Repo::migrate`]); `progress` hears each table's batches. Resumable, idempotent, and
    /// shareable by several workers.
    pub async fn migrate(
        &self,
        batch: usize,
        mut progress: impl FnMut(&'static str, &RewrapProgress) + Send,
    ) -> Result<Vec<(&'static str, RewrapProgress)>> {
        self.require_migrations()?;
        let mut tables = Vec::with_capacity(self.migrations.len());
        for table in &self.migrations {
            let name = table.table();
            let mut report = |p: &RewrapProgress| progress(name, p);
            tables.push((name, table.migrate(batch, &mut report).await?));
        }
        Ok(tables)
    }

    /// Verifies every table registered with [`migrating_table`](Self::migrating_table)
    /// ([`Repo::verify`]).
    pub async fn verify(&self, batch: usize) -> Result<Vec<(&'static str, VerifyReport)>> {
        self.require_migrations()?;
        let mut tables = Vec::with_capacity(self.migrations.len());
        for table in &self.migrations {
            tables.push((table.table(), table.verify(batch).await?));
        }
        Ok(tables)
    }

    fn require_migrations(&self) -> Result<()> {
        if self.migrations.is_empty() {
            return Err(Error::InvalidConfig(
                "no table is being migrated: the registry has none (the bare `encx` binary knows \
                 no table of the application; the application's own registers one with \
                 Registry::migrating_table(repo.with_plaintext(source)?))"
                    .into(),
            ));
        }
        Ok(())
    }

    /// The registered tables' names, in registration order.
    pub fn table_names(&self) -> Vec<&'static str> {
        self.tables.iter().map(|t| t.table()).collect()
    }

    /// The crypto settings.
    pub fn crypto(&self) -> &Crypto {
        &self.crypto
    }

    /// Which key serves how many rows of each table and how many subject keys, and the KEKs
    /// with their states; encx's own tables of the databases given to
    /// [`encx_tables`](Self::encx_tables) too. Reads wrapped keys' headers only; one `GROUP
    /// BY` per table.
    pub async fn status(&self) -> Result<KeyStatus> {
        let mut tables = Vec::with_capacity(self.tables.len());
        for table in &self.tables {
            tables.push((table.table(), table.key_usage().await?));
        }
        let subject_keys = match self.crypto.subject_key_usage().await {
            Ok(usage) => Some(usage),
            Err(e) if e.kind() == encx::ErrorKind::Configuration => None,
            Err(e) => return Err(e.into()),
        };
        let keks = match &self.keks {
            Some(store) => store.list(KeyPurpose::Kek).await?,
            None => Vec::new(),
        };
        let mut unregistered: Vec<(&'static str, Vec<(KeyInUse, u64)>)> = Vec::new();
        for db in &self.encx_tables {
            for (table, usage) in db.key_usage().await? {
                let counted = tables.iter().any(|(t, _)| *t == table)
                    || (table == encx::keys::subject::SUBJECT_KEY_TABLE && subject_keys.is_some());
                if counted || usage.is_empty() {
                    continue;
                }
                // The same table in both databases: one count per key.
                match unregistered.iter_mut().find(|(t, _)| *t == table) {
                    Some((_, seen)) => {
                        for (key, n) in usage {
                            match seen.iter_mut().find(|(k, _)| *k == key) {
                                Some((_, total)) => *total += n,
                                None => seen.push((key, n)),
                            }
                        }
                    }
                    None => unregistered.push((table, usage)),
                }
            }
        }
        let key_rows_to_rewrap = self.crypto.stored_keys_to_rewrap().await?;
        let root_names = keks
            .iter()
            .filter_map(|k| {
                let name = self.crypto.keyring().key_name(&k.root_key)?;
                Some((k.root_key.clone(), name))
            })
            .collect();
        Ok(KeyStatus {
            key_rows_to_rewrap,
            tables,
            subject_keys,
            keks,
            unregistered,
            root_names,
        })
    }

    /// Re-wraps, after a rotation, the stored keys not under the root's active key
    /// ([`Crypto::rewrap_stored_keys`], after a root key rotation), the DEKs of every
    /// registered table ([`Repo::rewrap`]) and then the subject keys, if any
    /// ([`Crypto::rewrap_subject_keys`]); `progress` hears each table's batches. Idempotent
    /// and safe to kill and run again.
    ///
    /// A table with blind indexes whose rows are under a KEK older than the newest index key
    /// version is re-encrypted instead ([`Repo::reencrypt`]): a rewrap would keep indexes
    /// under the old version while moving the rows to a KEK that says they are renewed, which
    /// is what [`destroy_index_version`](Self::destroy_index_version) trusts. Rows whose KEK
    /// is destroyed or missing are skipped and counted ([`RewrapProgress::unopenable`]).
    pub async fn rewrap(
        &self,
        batch: usize,
        mut progress: impl FnMut(&'static str, &RewrapProgress) + Send,
    ) -> Result<Rewrapped> {
        if batch == 0 {
            return Err(Error::InvalidConfig(
                "rewrap needs a batch size above 0".into(),
            ));
        }
        let key_rows = self.crypto.rewrap_stored_keys(None).await?;
        let stale_keks = self.keks_older_than_newest_index().await?;
        let mut tables = Vec::with_capacity(self.tables.len());
        for table in &self.tables {
            let name = table.table();
            let mut report = |p: &RewrapProgress| progress(name, p);
            let reindex = table.has_blind_indexes()
                && !stale_keks.is_empty()
                && table.key_usage().await?.iter().any(
                    |(k, n)| matches!(k, KeyInUse::Kek(id) if stale_keks.contains(id) && *n > 0),
                );
            let done = match reindex {
                true => table.reencrypt(batch, &mut report).await?,
                false => table.rewrap(batch, &mut report).await?,
            };
            tables.push((name, done));
        }
        let subject_keys = match self.crypto.rewrap_subject_keys(batch).await {
            Ok(done) => Some(done),
            Err(e) if e.kind() == encx::ErrorKind::Configuration => None,
            Err(e) => return Err(e.into()),
        };
        Ok(Rewrapped {
            key_rows,
            tables,
            subject_keys,
        })
    }

    /// The KEKs created before the newest index key version came (empty with one version or
    /// none, or without a KEK store).
    async fn keks_older_than_newest_index(&self) -> Result<Vec<Uuid>> {
        let Some(store) = &self.keks else {
            return Ok(Vec::new());
        };
        let versions = store.list(KeyPurpose::IndexRoot).await?;
        if versions.len() < 2 {
            return Ok(Vec::new());
        }
        let Some(newest) = versions.iter().map(|k| k.created_at).max() else {
            return Ok(Vec::new());
        };
        Ok(store
            .list(KeyPurpose::Kek)
            .await?
            .iter()
            .filter(|k| k.created_at < newest)
            .map(|k| k.id)
            .collect())
    }

    /// Re-encrypts, in every registered table, the records not under the active key
    /// ([`Repo::reencrypt`]: fresh DEKs, blind indexes under the active index key version);
    /// `progress` hears each table's batches. Then re-wraps the subject keys, if any
    /// ([`Crypto::rewrap_subject_keys`]: a subject key can only be re-wrapped), so that
    /// nothing is left under the retired KEK. Rotate the KEK first. Idempotent and safe to
    /// kill and run again.
    pub async fn reencrypt(
        &self,
        batch: usize,
        mut progress: impl FnMut(&'static str, &RewrapProgress) + Send,
    ) -> Result<Vec<(&'static str, RewrapProgress)>> {
        let mut tables = Vec::with_capacity(self.tables.len());
        for table in &self.tables {
            let name = table.table();
            let mut report = |p: &RewrapProgress| progress(name, p);
            tables.push((name, table.reencrypt(batch, &mut report).await?));
        }
        match self.crypto.rewrap_subject_keys(batch.max(1)).await {
            Ok(_) => {}
            Err(e) if e.kind() == encx::ErrorKind::Configuration => {}
            Err(e) => return Err(e.into()),
        }
        Ok(tables)
    }

    /// Adds an index key version: a new index root key, wrapped by `root`, becomes active in
    /// the KEK store ([`IndexKeys::add_stored_version`](encx::index::IndexKeys::add_stored_version),
    /// `encx keys index-add`); returns its version. Then restart every process, rotate the KEK
    /// and re-encrypt (`docs/operations.md`, index key rotation). Audited (`add_key`).
    pub async fn add_index_version(&self, root: &dyn encx::Keyring) -> Result<u32> {
        let store = self.require_kek_store()?;
        let version = encx::index::IndexKeys::add_stored_version(&**store, root).await?;
        self.record_event(
            AuditAction::AddKey,
            encx::keys::hierarchical::KEY_TABLE,
            Some(format!("index key version {version}")),
            0,
        );
        Ok(version)
    }

    /// The index root keys of the KEK store, oldest first.
    pub async fn index_versions(&self) -> Result<Vec<StoredKek>> {
        Ok(self
            .require_kek_store()?
            .list(KeyPurpose::IndexRoot)
            .await?)
    }

    /// Destroys index key version `version` (`encx keys index-destroy`): lookups stop
    /// computing it once processes restart. Audited (`destroy_key`). Refused with
    /// [`Error::KeyStillInUse`] while it is the active version, or, unless `force`, while
    /// something may still need it ([`index_destroy_refusal`](Self::index_destroy_refusal)).
    pub async fn destroy_index_version(&self, version: u32, force: bool) -> Result<()> {
        let store = self.require_kek_store()?;
        let key = self.live_index_version(version).await?;
        if key.state == KekState::Active {
            return Err(index_active(version));
        }
        if !force {
            if let Some(refusal) = self.index_destroy_refusal(version).await? {
                return Err(refusal);
            }
        }
        store.set_state(key.id, KekState::Destroyed).await?;
        self.record_event(
            AuditAction::DestroyKey,
            encx::keys::hierarchical::KEY_TABLE,
            Some(format!("index key version {version}")),
            0,
        );
        Ok(())
    }

    /// Why destroying index key version `version` would be refused now, or `None` if it
    /// would be accepted. A stored index carries no version, so encx counts:
    ///
    /// - records of the registered tables with blind indexes still under a KEK older than
    ///   the next index version (they were not re-encrypted since it came: `keys rotate`,
    ///   then `reencrypt`; [`rewrap`](Self::rewrap) re-encrypts them too), and asks that the
    ///   active KEK be newer than that version;
    /// - the same records of the application's tables that nobody registered, found by their
    ///   `encx_dek` column in the databases of [`encx_tables`](Self::encx_tables) (they may
    ///   hold blind indexes: register them, or re-encrypt them from a registry that does);
    /// - live tokens of `encx_tokens` ([`encx_tables`](Self::encx_tables)) issued before the
    ///   next version came: they verify only under the versions live when they were issued.
    ///
    /// Records of data subjects are not counted: a re-encryption leaves them as they are.
    pub async fn index_destroy_refusal(&self, version: u32) -> Result<Option<Error>> {
        let key = self.live_index_version(version).await?;
        if key.state == KekState::Active {
            return Ok(Some(index_active(version)));
        }
        let versions = self.index_versions().await?;
        let Some((next, next_version)) = versions
            .iter()
            .filter(|k| k.version > key.version)
            .min_by_key(|k| k.version)
            .map(|k| (k.created_at, k.version))
        else {
            return Ok(None);
        };
        let name = format!("index key version {version}");
        let status = self.status().await?;
        let older: Vec<Uuid> = status
            .keks
            .iter()
            .filter(|k| k.created_at < next)
            .map(|k| k.id)
            .collect();
        let under_older = |usage: &[(KeyInUse, u64)]| -> u64 {
            usage
                .iter()
                .filter(|(k, _)| matches!(k, KeyInUse::Kek(id) if older.contains(id)))
                .map(|(_, n)| n)
                .sum()
        };
        let mut stale = Vec::new();
        for table in self.tables.iter().filter(|t| t.has_blind_indexes()) {
            let usage = status
                .tables
                .iter()
                .find(|(t, _)| *t == table.table())
                .map(|(_, u)| u.as_slice())
                .unwrap_or_default();
            let n = under_older(usage);
            if n > 0 {
                stale.push((table.table(), n));
            }
        }
        // Tables of the application nobody registered may hold blind indexes too.
        for (table, usage) in &status.unregistered {
            let n = under_older(usage);
            if n > 0 && !table.starts_with("encx_") {
                stale.push((table, n));
            }
        }
        let kek_newer = status
            .keks
            .iter()
            .find(|k| k.state == KekState::Active)
            .is_some_and(|kek| kek.created_at >= next);
        if !stale.is_empty() || !kek_newer {
            let records = stale.iter().map(|(_, n)| n).sum();
            let by = match stale.is_empty() {
                true => format!(
                    "every record written before index key version {} came (the active KEK is \
                     older than it)",
                    next_version
                ),
                false => format!(
                    "the blind indexes of records not re-encrypted since index key version {} \
                     came ({}; a rewrap keeps a record's indexes)",
                    next_version,
                    stale
                        .iter()
                        .map(|(t, n)| format!("{t}: {n}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            return Ok(Some(Error::KeyStillInUse {
                key: name,
                by,
                records,
                remedy: "restart every process, run `encx keys rotate`, then `encx reencrypt`, \
                         then destroy it (or --force: lookups then miss those records)"
                    .into(),
            }));
        }
        let before = crate::database::time::millis(next);
        let mut tokens = 0;
        for db in &self.encx_tables {
            tokens += db.live_tokens_issued_before(before).await?;
        }
        if tokens > 0 {
            return Ok(Some(Error::KeyStillInUse {
                key: name,
                by: format!(
                    "encx_tokens: live tokens issued before index key version {} came",
                    next_version
                ),
                records: tokens,
                remedy: "they stop verifying once it is destroyed: wait until they expire, or \
                         revoke them, then destroy it (or --force)"
                    .into(),
            }));
        }
        Ok(None)
    }

    /// The live index key of `version`; a configuration error if there is none.
    async fn live_index_version(&self, version: u32) -> Result<StoredKek> {
        self.index_versions()
            .await?
            .into_iter()
            .find(|k| k.version == i64::from(version) && k.state != KekState::Destroyed)
            .ok_or_else(|| {
                Error::InvalidConfig(format!(
                    "no live index key version {version} in the key store (see `encx keys \
                     index-add --dry-run`)"
                ))
            })
    }

    fn require_kek_store(&self) -> Result<&Arc<dyn KekStore>> {
        self.keks.as_ref().ok_or_else(|| {
            Error::InvalidConfig(
                "this needs the KEK store: give the registry Registry::kek_store".into(),
            )
        })
    }

    /// Destroys KEK `id`: its wrapped bytes are deleted from the KEK store, and every DEK or
    /// subject key still wrapped under it is shredded. Audited (`destroy_key`). Refused with
    /// [`Error::KeyStillInUse`] while the active KEK is `id`, and, unless `force`, while
    /// something may still need it ([`kek_destroy_refusal`](Self::kek_destroy_refusal)).
    /// Returns the rows shredded with it (none unless forced).
    pub async fn destroy_kek(&self, id: Uuid, force: bool) -> Result<Vec<(&'static str, u64)>> {
        let store = self
            .keks
            .as_ref()
            .ok_or_else(|| Error::InvalidConfig("destroy_kek needs Registry::kek_store".into()))?;
        let kek = self.stored_kek(id).await?;
        if kek.state == KekState::Active {
            return Err(kek_active(id));
        }
        if !force {
            if let Some(refusal) = self.kek_destroy_refusal(id).await? {
                return Err(refusal);
            }
        }
        let shredded = self.status().await?.users_of(KeyInUse::Kek(id));
        store.set_state(id, KekState::Destroyed).await?;
        self.record_event(
            AuditAction::DestroyKey,
            encx::keys::hierarchical::KEY_TABLE,
            Some(format!("KEK {id} version {}", kek.version)),
            shredded.iter().map(|(_, n)| n).sum(),
        );
        Ok(shredded)
    }

    /// Why destroying KEK `id` would be refused now, or `None` if it would be accepted:
    ///
    /// - it is the active KEK;
    /// - it was retired (a newer KEK came) less than the KEK cache TTL
    ///   ([`effective_kek_cache_ttl`](Self::effective_kek_cache_ttl)) ago, plus a second: a
    ///   process of the application may still hold it as its active KEK and wrap new DEKs
    ///   under it, which a rewrap run before then does not see;
    /// - a row still needs it, counted after that window: in a registered table, in the
    ///   subject key store, or in encx's own tables (`encx_secrets`, `encx_subject_keys`) of
    ///   the databases given to [`encx_tables`](Self::encx_tables).
    pub async fn kek_destroy_refusal(&self, id: Uuid) -> Result<Option<Error>> {
        let kek = self.stored_kek(id).await?;
        if kek.state == KekState::Active {
            return Ok(Some(kek_active(id)));
        }
        let status = self.status().await?;
        let retired_at = status
            .keks
            .iter()
            .filter(|k| k.version > kek.version)
            .map(|k| k.created_at)
            .min();
        let window = self.effective_kek_cache_ttl() + Duration::from_secs(1);
        if let Some(safe_after) = retired_at.map(|at| at + window) {
            if SystemTime::now() < safe_after {
                return Ok(Some(Error::KeyStillInUse {
                    key: format!("KEK {id}"),
                    by: format!(
                        "a process of the application that may still cache it as its active \
                         KEK and wrap new records under it (retired at {}; KEK cache TTL {} s)",
                        crate::database::time::rfc3339(retired_at.unwrap_or(safe_after)),
                        window.as_secs().saturating_sub(1)
                    ),
                    records: 0,
                    remedy: format!(
                        "wait until {}, run `encx rewrap` again, then destroy it (or --force)",
                        crate::database::time::rfc3339(safe_after)
                    ),
                }));
            }
        }
        if let Some((by, records)) = status.users_of(KeyInUse::Kek(id)).into_iter().next() {
            return Ok(Some(Error::KeyStillInUse {
                key: format!("KEK {id}"),
                by: by.to_owned(),
                records,
                remedy: "run `encx rewrap`, then destroy it (or --force: those rows are then \
                         lost for good)"
                    .into(),
            }));
        }
        Ok(None)
    }

    /// The stored KEK `id`; a configuration error if the store has none.
    async fn stored_kek(&self, id: Uuid) -> Result<StoredKek> {
        self.require_kek_store()?
            .get(id)
            .await?
            .filter(|k| k.purpose == KeyPurpose::Kek)
            .ok_or_else(|| {
                Error::InvalidConfig(format!("no KEK {id} in the key store (see `encx status`)"))
            })
    }
}

fn kek_active(id: Uuid) -> Error {
    Error::KeyStillInUse {
        key: format!("KEK {id}"),
        by: "the active KEK's new records".into(),
        records: 0,
        remedy: "run `encx keys rotate` and `encx rewrap` first".into(),
    }
}

fn index_active(version: u32) -> Error {
    Error::KeyStillInUse {
        key: format!("index key version {version}"),
        by: "the blind indexes of new records".into(),
        records: 0,
        remedy: "add a version first (`encx keys index-add`)".into(),
    }
}

/// `text` as a subject id of type `S`; a configuration error naming it otherwise.
fn parse_subject<S>(text: &str) -> Result<S>
where
    S: std::str::FromStr,
    <S as std::str::FromStr>::Err: fmt::Display,
{
    text.parse()
        .map_err(|e| Error::InvalidConfig(format!("`{text}` is not a subject id here: {e}")))
}

fn parse_tenant<Tn>(text: &str) -> Result<Tn>
where
    Tn: std::str::FromStr,
    <Tn as std::str::FromStr>::Err: fmt::Display,
{
    text.parse()
        .map_err(|e| Error::InvalidConfig(format!("`{text}` is not a tenant id here: {e}")))
}

fn no_eraser() -> Error {
    Error::InvalidConfig(
        "no subject eraser registered: the bare `encx` binary knows no table of the \
         application; run the application's own encx, whose registry has \
         Registry::subject_eraser(eraser)"
            .into(),
    )
}

/// What [`Registry::status`] found.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct KeyStatus {
    /// Stored keys (KEKs, index root keys) not under the root's active key: more than 0 after
    /// a root key rotation, until a rewrap.
    pub key_rows_to_rewrap: u64,
    /// Each registered table with its rows per key ([`Repo::key_usage`]).
    pub tables: Vec<(&'static str, Vec<(KeyInUse, u64)>)>,
    /// Live subject keys per key of the keyring; `None` without subject keys.
    pub subject_keys: Option<Vec<(KeyInUse, u64)>>,
    /// The KEKs of the KEK store (empty without [`Registry::kek_store`]), oldest first.
    pub keks: Vec<StoredKek>,
    /// encx's own tables the application did not register, and its tables with an
    /// `encx_dek` column that are not registered, of the databases given to
    /// [`Registry::encx_tables`], with their keys per KEK: their rows need the KEK all the
    /// same, but [`Registry::rewrap`] does not move them.
    pub unregistered: Vec<(&'static str, Vec<(KeyInUse, u64)>)>,
    /// The operator's names of the root keys that wrapped the KEKs (`root_key` to `v1`),
    /// where the root keyring knows them ([`Keyring::key_name`](encx::Keyring::key_name)).
    pub root_names: Vec<(String, String)>,
}

impl KeyStatus {
    /// Who still needs `key`: each table (or `encx_subject_keys`, registered or not) with its
    /// row count.
    pub fn users_of(&self, key: KeyInUse) -> Vec<(&'static str, u64)> {
        let subject = self
            .subject_keys
            .iter()
            .map(|usage| (encx::keys::subject::SUBJECT_KEY_TABLE, usage));
        let unregistered = self.unregistered.iter().map(|(t, u)| (*t, u));
        self.tables
            .iter()
            .map(|(table, usage)| (*table, usage))
            .chain(subject)
            .chain(unregistered)
            .filter_map(|(table, usage)| {
                usage
                    .iter()
                    .find(|(k, _)| *k == key)
                    .map(|(_, n)| (table, *n))
            })
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    /// The operator's name of root key `root_key` (see [`root_names`](Self::root_names)).
    pub fn root_name(&self, root_key: &str) -> Option<&str> {
        self.root_names
            .iter()
            .find(|(k, _)| k == root_key)
            .map(|(_, name)| name.as_str())
    }

    /// Retired KEKs that no registered table and no subject key needs: safe to destroy.
    pub fn retired_keks_unused(&self) -> Vec<Uuid> {
        self.keks
            .iter()
            .filter(|k| k.state == KekState::Retired)
            .filter(|k| self.users_of(KeyInUse::Kek(k.id)).is_empty())
            .map(|k| k.id)
            .collect()
    }

    /// Rows (and subject keys) not under the active KEK, and stored keys not under the active
    /// root key: what a rewrap still has to do. Without a KEK store, every row under a KEK
    /// counts as pending.
    pub fn pending_rewrap(&self) -> u64 {
        let subject_keys = self
            .subject_keys
            .as_deref()
            .map_or(0, |u| self.pending_in(u));
        self.pending_rows() + subject_keys + self.key_rows_to_rewrap
    }

    /// Rows of the registered tables not under the active KEK: what a rewrap or a
    /// re-encryption of the tables still has to do (data subjects' rows aside).
    pub fn pending_rows(&self) -> u64 {
        self.tables.iter().map(|(_, u)| self.pending_in(u)).sum()
    }

    /// Entries of `usage` under a KEK other than the active one.
    fn pending_in(&self, usage: &[(KeyInUse, u64)]) -> u64 {
        let active = self
            .keks
            .iter()
            .find(|k| k.state == KekState::Active)
            .map(|k| k.id);
        usage
            .iter()
            .filter(|(k, _)| matches!(k, KeyInUse::Kek(id) if Some(*id) != active))
            .map(|(_, n)| n)
            .sum()
    }
}

impl fmt::Display for KeyStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for k in &self.keks {
            write!(
                f,
                "KEK {} version {}: {:?}, wrapped by {}",
                k.id, k.version, k.state, k.root_key
            )?;
            match self.root_name(&k.root_key) {
                Some(name) => writeln!(f, " (master key {name})")?,
                None => writeln!(f)?,
            }
        }
        let subject = self
            .subject_keys
            .iter()
            .map(|usage| (encx::keys::subject::SUBJECT_KEY_TABLE, usage));
        for (table, usage) in self.tables.iter().map(|(t, u)| (*t, u)).chain(subject) {
            writeln!(f, "{table}:")?;
            if usage.is_empty() {
                writeln!(f, "  (no rows)")?;
            }
            for (key, n) in usage {
                writeln!(f, "  {key}: {n}")?;
            }
        }
        for (table, usage) in &self.unregistered {
            writeln!(
                f,
                "{table} (not registered with this registry: `encx rewrap` does not move it):"
            )?;
            for (key, n) in usage {
                writeln!(f, "  {key}: {n}")?;
            }
        }
        if self.key_rows_to_rewrap > 0 {
            writeln!(
                f,
                "stored keys under an older root key: {}",
                self.key_rows_to_rewrap
            )?;
        }
        write!(f, "pending rewrap: {}", self.pending_rewrap())
    }
}

/// What [`Registry::rewrap`] did.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Rewrapped {
    /// Rows of the KEK store (KEKs and index root keys) re-wrapped under the root's active key
    /// ([`Crypto::rewrap_stored_keys`]): more than 0 only after a root key rotation.
    pub key_rows: u64,
    /// Each registered table with its counts.
    pub tables: Vec<(&'static str, RewrapProgress)>,
    /// The subject keys' counts; `None` without subject keys.
    pub subject_keys: Option<SubjectKeysRewrapped>,
}
