//! [`Registry`]: the tables an application registers for operator jobs — which keys serve
//! which rows, re-wrapping after a rotation, destroying a KEK no row needs any more.
//!
//! A job needs each table's Rust type (its id type, its columns), so the application builds
//! the registry from its own repositories, in its own binary (see `docs/operations.md`).

use std::fmt;
use std::sync::Arc;

use encx::schema::Schema;
use encx::sql::StoredRecord;
use encx::{
    Crypto, Encrypted, HasRecordId, KekState, KekStore, KeyInUse, KeyPurpose, StoredKek,
    SubjectKeysRewrapped,
};
use futures_util::future::BoxFuture;
use uuid::Uuid;

use crate::audit_log::{AuditQuery, AuditRecord};
use crate::dialect::EncxDatabase;
use crate::error::{Error, Result};
use crate::plaintext_job::VerifyReport;
use crate::repo::Repo;
use crate::rewrap::RewrapProgress;
use crate::subject_eraser::SubjectErasure;

/// A registered table, its type erased.
trait JobTable: Send + Sync {
    fn table(&self) -> &'static str;
    fn key_usage(&self) -> BoxFuture<'_, Result<Vec<(KeyInUse, u64)>>>;
    fn rewrap<'a>(
        &'a self,
        batch: usize,
        progress: &'a mut (dyn FnMut(&RewrapProgress) + Send),
    ) -> BoxFuture<'a, Result<RewrapProgress>>;
    fn reencrypt<'a>(
        &'a self,
        batch: usize,
        progress: &'a mut (dyn FnMut(&RewrapProgress) + Send),
    ) -> BoxFuture<'a, Result<RewrapProgress>>;
}

impl<DB: EncxDatabase> JobTable for crate::secrets::Secrets<DB> {
    fn table(&self) -> &'static str {
        crate::secrets::SECRETS_TABLE
    }

    fn key_usage(&self) -> BoxFuture<'_, Result<Vec<(KeyInUse, u64)>>> {
        Box::pin(crate::secrets::Secrets::key_usage(self))
    }

    fn rewrap<'a>(
        &'a self,
        _batch: usize,
        progress: &'a mut (dyn FnMut(&RewrapProgress) + Send),
    ) -> BoxFuture<'a, Result<RewrapProgress>> {
        Box::pin(crate::secrets::Secrets::rewrap_with_progress(
            self, progress,
        ))
    }

    fn reencrypt<'a>(
        &'a self,
        _batch: usize,
        progress: &'a mut (dyn FnMut(&RewrapProgress) + Send),
    ) -> BoxFuture<'a, Result<RewrapProgress>> {
        Box::pin(crate::secrets::Secrets::reencrypt_with_progress(
            self, progress,
        ))
    }
}

impl<T, DB> JobTable for Repo<T, DB>
where
    DB: EncxDatabase,
    T: Encrypted + Schema + HasRecordId + Send + Sync,
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

/// Re-applies the registered eraser's ledger.
type ReapplyFn = Arc<dyn Fn() -> BoxFuture<'static, Result<Vec<SubjectErasure>>> + Send + Sync>;

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
    )>,
    secrets: Option<Arc<dyn crate::secrets::SecretsApi>>,
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
            secrets: None,
        }
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
        let reapply: ReapplyFn = Arc::new(move || {
            let eraser = reapplying.clone();
            Box::pin(async move { eraser.reapply_ledger().await })
        });
        let erase: SubjectEraserFn = Arc::new(move |subject: String, actor: Option<String>| {
            let eraser = eraser.clone();
            Box::pin(async move {
                let parsed: S = subject.parse().map_err(|e| {
                    Error::InvalidConfig(format!("`{subject}` is not a subject id here: {e}"))
                })?;
                eraser.erase_by(&parsed, actor.as_deref()).await
            })
        });
        self.eraser = Some((tables, erase, reapply, window));
        self
    }

    /// Re-applies the registered [`SubjectEraser`](crate::SubjectEraser)'s erasure ledger
    /// ([`SubjectEraser::reapply_ledger`](crate::SubjectEraser::reapply_ledger), `encx
    /// reapply-ledger`): after a restore of the subject key database, destroys again the keys
    /// of every erased subject and clears their rows. One receipt per ledger entry.
    pub async fn reapply_ledger(&self) -> Result<Vec<SubjectErasure>> {
        let (_, _, reapply, _) = self.eraser.as_ref().ok_or_else(no_eraser)?;
        reapply().await
    }

    /// The tables the registered subject eraser clears; `None` without
    /// [`subject_eraser`](Self::subject_eraser).
    pub fn subject_tables(&self) -> Option<&[&'static str]> {
        self.eraser.as_ref().map(|(tables, ..)| tables.as_slice())
    }

    /// How long the registered subject eraser waits for other processes' subject caches
    /// before its closing sweep ([`SubjectEraser::writer_window`](crate::SubjectEraser::writer_window)).
    pub fn subject_writer_window(&self) -> Option<std::time::Duration> {
        self.eraser.as_ref().map(|(.., window)| *window)
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

    /// Adds the application's secrets store: `encx status`, `rewrap`, `reencrypt` and `keys
    /// destroy` then count `encx_secrets` like a table, and `encx secrets ...` work.
    pub fn secrets<DB: EncxDatabase>(mut self, store: crate::secrets::Secrets<DB>) -> Self {
        self.secrets = Some(Arc::new(store.clone()));
        self.tables.push(Box::new(store));
        self
    }

    /// The secrets store given to [`secrets`](Self::secrets).
    #[cfg_attr(not(feature = "cli"), allow(dead_code))]
    pub(crate) fn secrets_store(&self) -> Option<&Arc<dyn crate::secrets::SecretsApi>> {
        self.secrets.as_ref()
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
                "no table is being migrated: register one with Registry::migrating_table(repo \
                 .with_plaintext(source)?)"
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
    /// with their states. Reads wrapped keys' headers only; one `GROUP BY` per table.
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
        let key_rows_to_rewrap = self.crypto.stored_keys_to_rewrap().await?;
        Ok(KeyStatus {
            key_rows_to_rewrap,
            tables,
            subject_keys,
            keks,
        })
    }

    /// Re-wraps, after a rotation, the stored keys not under the root's active key
    /// ([`Crypto::rewrap_stored_keys`], after a root key rotation), the DEKs of every
    /// registered table ([`Repo::rewrap`]) and then the subject keys, if any
    /// ([`Crypto::rewrap_subject_keys`]); `progress` hears each table's batches. Idempotent
    /// and safe to kill and run again.
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
        let mut tables = Vec::with_capacity(self.tables.len());
        for table in &self.tables {
            let name = table.table();
            let mut report = |p: &RewrapProgress| progress(name, p);
            tables.push((name, table.rewrap(batch, &mut report).await?));
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

    /// Re-encrypts, in every registered table, the records not under the active key
    /// ([`Repo::reencrypt`]: fresh DEKs, blind indexes under the active index key version);
    /// `progress` hears each table's batches. Rotate the KEK first. Idempotent and safe to
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
        Ok(tables)
    }

    /// Adds an index key version: a new index root key, wrapped by `root`, becomes active in
    /// the KEK store ([`IndexKeys::add_stored_version`](encx::index::IndexKeys::add_stored_version),
    /// `encx keys index-add`); returns its version. Then restart every process, rotate the KEK
    /// and re-encrypt (`docs/operations.md`, index key rotation).
    pub async fn add_index_version(&self, root: &dyn encx::Keyring) -> Result<u32> {
        let store = self.require_kek_store()?;
        Ok(encx::index::IndexKeys::add_stored_version(&**store, root).await?)
    }

    /// The index root keys of the KEK store, oldest first.
    pub async fn index_versions(&self) -> Result<Vec<StoredKek>> {
        Ok(self
            .require_kek_store()?
            .list(KeyPurpose::IndexRoot)
            .await?)
    }

    /// Destroys index key version `version` (`encx keys index-destroy`): lookups stop
    /// computing it once processes restart. Refused with [`Error::KeyStillInUse`] while it is
    /// the active version, or, unless `force`, while the tables may still hold indexes under
    /// it: a stored index carries no version, so encx asks that the active KEK be newer than
    /// the next index version and that no registered row be under an older KEK (the runbook's
    /// rotate-then-reencrypt was done after the new version came).
    pub async fn destroy_index_version(&self, version: u32, force: bool) -> Result<()> {
        let store = self.require_kek_store()?;
        let versions = store.list(KeyPurpose::IndexRoot).await?;
        let key = versions
            .iter()
            .find(|k| k.version == i64::from(version) && k.state != KekState::Destroyed)
            .ok_or_else(|| {
                Error::InvalidConfig(format!(
                    "no live index key version {version} in the key store"
                ))
            })?;
        let name = format!("index key version {version}");
        if key.state == KekState::Active {
            return Err(Error::KeyStillInUse {
                key: name,
                by: "the blind indexes of new records (add a version first)".into(),
                records: 0,
            });
        }
        if !force {
            let next = versions
                .iter()
                .filter(|k| k.version > key.version)
                .map(|k| k.created_at)
                .min();
            let status = self.status().await?;
            let kek_newer = status
                .keks
                .iter()
                .find(|k| k.state == KekState::Active)
                .zip(next)
                .is_some_and(|(kek, next)| kek.created_at >= next);
            let pending = status.pending_rows();
            if !kek_newer || pending > 0 {
                return Err(Error::KeyStillInUse {
                    key: name,
                    by: "records not re-encrypted since a newer index version came (keys \
                         rotate, then reencrypt)"
                        .into(),
                    records: pending,
                });
            }
        }
        store.set_state(key.id, KekState::Destroyed).await?;
        Ok(())
    }

    fn require_kek_store(&self) -> Result<&Arc<dyn KekStore>> {
        self.keks.as_ref().ok_or_else(|| {
            Error::InvalidConfig(
                "this needs the KEK store: give the registry Registry::kek_store".into(),
            )
        })
    }

    /// Destroys KEK `id`: its wrapped bytes are deleted from the KEK store, and every DEK or
    /// subject key still wrapped under it is shredded. Refused with
    /// [`Error::KeyStillInUse`] while the active KEK is `id`, or while a registered table or
    /// the subject key store still has a row under it (run [`rewrap`](Self::rewrap) first),
    /// unless `force`. Tables that are not registered are not checked.
    pub async fn destroy_kek(&self, id: Uuid, force: bool) -> Result<()> {
        let store = self
            .keks
            .as_ref()
            .ok_or_else(|| Error::InvalidConfig("destroy_kek needs Registry::kek_store".into()))?;
        let kek = store
            .get(id)
            .await?
            .filter(|k| k.purpose == KeyPurpose::Kek)
            .ok_or_else(|| Error::InvalidConfig(format!("no KEK {id} in the key store")))?;
        if kek.state == KekState::Active {
            return Err(Error::KeyStillInUse {
                key: format!("KEK {id}"),
                by: "the active KEK's new records".into(),
                records: 0,
            });
        }
        if !force {
            let status = self.status().await?;
            if let Some((by, records)) = status.users_of(KeyInUse::Kek(id)).into_iter().next() {
                return Err(Error::KeyStillInUse {
                    key: format!("KEK {id}"),
                    by: by.to_owned(),
                    records,
                });
            }
        }
        store.set_state(id, KekState::Destroyed).await?;
        Ok(())
    }
}

fn no_eraser() -> Error {
    Error::InvalidConfig(
        "no subject eraser registered: give the registry Registry::subject_eraser(eraser)".into(),
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
}

impl KeyStatus {
    /// Who still needs `key`: each table (or `encx_subject_keys`) with its row count.
    pub fn users_of(&self, key: KeyInUse) -> Vec<(&'static str, u64)> {
        let subject = self
            .subject_keys
            .iter()
            .map(|usage| (encx::keys::subject::SUBJECT_KEY_TABLE, usage));
        self.tables
            .iter()
            .map(|(table, usage)| (*table, usage))
            .chain(subject)
            .filter_map(|(table, usage)| {
                usage
                    .iter()
                    .find(|(k, _)| *k == key)
                    .map(|(_, n)| (table, *n))
            })
            .filter(|(_, n)| *n > 0)
            .collect()
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
            writeln!(
                f,
                "KEK {} version {}: {:?}, wrapped by {}",
                k.id, k.version, k.state, k.root_key
            )?;
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
