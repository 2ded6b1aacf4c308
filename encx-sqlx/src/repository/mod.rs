//! [`Repo`]: insert, read, search, update, delete and erase encrypted records on PostgreSQL,
//! MySQL/MariaDB and SQLite.
//!
//! Every record operation takes what it runs on first (a [`DbHandle`]: `&pool`, `&mut *tx`,
//! `&mut conn`), the way sqlx's `fetch_*(executor)` do, so repository calls compose with the
//! application's own transactions. Table-wide jobs (rewrap, plaintext migration, key usage)
//! run on the pool the repository was built with.

use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::SystemTime;

use encx::audit::{AuditAction, AuditEvent};
use encx::schema::Schema;
use encx::sql::{RecordKey, StoredRecord};
use encx::{
    CompoundIndex, Crypto, Encrypted, HasRecordId, HasSubject, Indexable, RecordId, SearchField,
};
use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use sqlx::{Connection, Database, Pool};

pub(crate) mod args;
pub(crate) mod bulk;
pub(crate) mod db_handle;
mod decrypting;
pub mod lookup;
mod migrating;
mod partial;
pub(crate) mod plaintext;
pub(crate) mod statements;

pub use db_handle::DbHandle;

use self::args::{key_arg, keys_args, subject_arg, IDS_PER_QUERY};
use crate::encx_database::EncxDatabase;
use crate::error::{encode_error, Error, Result};
use crate::progress::RewrapProgress;
use crate::repository::statements::Statements;
use uuid::Uuid;

/// A repository of `T` records in a `DB` database. Cheap to clone.
///
/// Record operations run on the [`DbHandle`] they are given (a pool, a transaction, a
/// connection); table-wide jobs ([`key_usage`](Self::key_usage), the plaintext migration,
/// rewraps and erasures through a [`Registry`](crate::Registry) or
/// [`SubjectEraser`](crate::SubjectEraser)) and [`create_table`](Self::create_table) run on
/// the pool given to [`new`](Self::new).
///
/// ```no_run
/// use encx::Encrypted;
/// use encx_sqlx::Repo;
///
/// #[derive(Encrypted)]
/// #[encx(table = "users")]
/// struct User {
///     #[encx(id)]
///     id: uuid::Uuid,
///     #[encx(encrypt, searchable(normalize = "email"))]
///     email: String,
/// }
///
/// # async fn run(pool: sqlx::PgPool, crypto: encx::Crypto) -> encx_sqlx::Result<()> {
/// let users = Repo::<User, sqlx::Postgres>::new(pool.clone(), crypto);
/// users.create_table().await?;
/// let id = uuid::Uuid::new_v4();
/// users.insert(&pool, &User { id, email: "ada@example.com".into() }).await?;
/// let found = users.find_by(&pool, User::EMAIL, " ADA@example.com").await?;
/// assert_eq!(found.len(), 1);
/// users.erase(&pool, id).await?;
/// assert!(matches!(users.get(&pool, id).await, Err(e) if e.is_shredded()));
/// # Ok(()) }
/// ```
pub struct Repo<T, DB: Database> {
    pub(crate) pool: Pool<DB>,
    pub(crate) crypto: Crypto,
    pub(crate) sql: Arc<Statements>,
    id_column: Option<&'static str>,
    /// The encrypted columns, named in audit events.
    encrypted: Arc<[&'static str]>,
    pub(crate) actor: Option<Arc<str>>,
    /// The plaintext source of a table being migrated ([`Repo::with_plaintext`]).
    pub(crate) plaintext: Option<Arc<crate::repository::plaintext::Unmigrated<T, DB>>>,
    /// Threads that decrypt bulk reads ([`Repo::decrypt_workers`]); `None`: the runtime's.
    decrypt_workers: Option<usize>,
    /// The tenant of a repository scoped to one tenant ([`Repo::in_tenant`]).
    pub(crate) tenant: Option<TenantScope<DB>>,
    _records: PhantomData<fn() -> T>,
}

/// The tenant a repository is scoped to: its id bytes, and how to bind it as the value of the
/// tenant column.
pub(crate) struct TenantScope<DB: Database> {
    pub(crate) bytes: Arc<[u8]>,
    pub(crate) bind: TenantBinder<DB>,
}

type TenantBinder<DB> = Arc<
    dyn Fn(&mut <DB as Database>::Arguments) -> std::result::Result<(), sqlx::error::BoxDynError>
        + Send
        + Sync,
>;

impl<DB: Database> Clone for TenantScope<DB> {
    fn clone(&self) -> Self {
        TenantScope {
            bytes: self.bytes.clone(),
            bind: self.bind.clone(),
        }
    }
}

impl<T, DB: Database> Clone for Repo<T, DB> {
    fn clone(&self) -> Self {
        Repo {
            pool: self.pool.clone(),
            crypto: self.crypto.clone(),
            sql: self.sql.clone(),
            id_column: self.id_column,
            encrypted: self.encrypted.clone(),
            actor: self.actor.clone(),
            plaintext: self.plaintext.clone(),
            decrypt_workers: self.decrypt_workers,
            tenant: self.tenant.clone(),
            _records: PhantomData,
        }
    }
}

impl<T, DB: Database> std::fmt::Debug for Repo<T, DB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repo")
            .field("table", &self.sql.table)
            .field("database", &DB::NAME)
            .finish_non_exhaustive()
    }
}

impl<T: Schema, DB: EncxDatabase> Repo<T, DB> {
    /// A repository over `pool`, encrypting with `crypto`.
    pub fn new(pool: Pool<DB>, crypto: Crypto) -> Self {
        let id_column = T::columns()
            .iter()
            .find(|c| matches!(c.kind, encx::schema::ColumnKind::Id { .. }))
            .map(|c| c.name);
        let encrypted = T::columns()
            .iter()
            .filter(|c| matches!(c.kind, encx::schema::ColumnKind::Ciphertext { .. }))
            .map(|c| c.name)
            .collect();
        Repo {
            pool,
            crypto,
            sql: Arc::new(Statements::new::<T>(DB::DIALECT)),
            id_column,
            encrypted,
            actor: None,
            plaintext: None,
            decrypt_workers: None,
            tenant: None,
            _records: PhantomData,
        }
    }

    /// This repository, naming `actor` (a user, a service, a support ticket) in every audit
    /// event it emits ([`encx::audit`]). Cheap: the clone shares pool and crypto.
    pub fn with_actor(&self, actor: impl Into<String>) -> Self {
        let mut repo = self.clone();
        repo.actor = Some(Arc::from(actor.into()));
        repo
    }

    /// This repository, decrypting the rows of bulk reads (`get_many`, `find_by` and
    /// `find_by_index` with many candidates, `stream_all`) on up to `workers` threads while
    /// the next rows arrive (tokio's blocking pool; results in the order the rows came). `1`
    /// decrypts every row on the reading task, one after the other. Reads of fewer than 64
    /// rows are decrypted on the reading task whatever the setting.
    ///
    /// The default is every core of the machine when it has at least four, else 1. Decryption
    /// is CPU work, about 1–1.5 µs per record of four fields, and scales with cores (1.95× on
    /// two threads in `cargo bench -p encx --bench record -- decrypt_threads`): on 16 cores,
    /// 10,000 rows decrypt in about 1 ms instead of 14, so a bulk read costs little more than
    /// reading the larger encrypted rows. On two cores with the database on the same machine,
    /// a second decrypting thread measured slower than none (docs/benchmarks.md); with the
    /// database elsewhere, try `decrypt_workers(2)` and measure.
    ///
    /// ```no_run
    /// # #[derive(encx::Encrypted)] #[encx(table = "users")]
    /// # struct User { #[encx(id)] id: i64, #[encx(encrypt)] email: String }
    /// # fn run(users: encx_sqlx::Repo<User, sqlx::Postgres>) {
    /// // A nightly export that leaves most cores to the web requests.
    /// let export = users.decrypt_workers(2);
    /// # }
    /// ```
    pub fn decrypt_workers(&self, workers: usize) -> Self {
        let mut repo = self.clone();
        repo.decrypt_workers = Some(workers.max(1));
        repo
    }

    /// The threads a bulk read decrypts on here and now (see [`decrypt_workers`](Self::decrypt_workers)).
    fn bulk_decrypt_workers(&self) -> usize {
        self.decrypt_workers
            .unwrap_or_else(decrypting::default_workers)
    }

    /// The pool the repository's table-wide jobs run on.
    pub fn pool(&self) -> &Pool<DB> {
        &self.pool
    }

    /// The crypto settings.
    pub fn crypto(&self) -> &Crypto {
        &self.crypto
    }

    /// `CREATE TABLE` / `CREATE INDEX` statements for `T` on this database.
    pub fn schema(&self) -> Result<Vec<String>> {
        Ok(encx::schema::create_table::<T>(DB::DIALECT)?)
    }
}

/// Rows in the first statement of `insert_many`: small, so the pipeline starts quickly.
const FIRST_BATCH: usize = 128;

/// Rows encrypted while the previous batch is being inserted, in `insert_many`.
const PIPELINE_BATCH: usize = 1000;

/// The id type of `T`'s records (the `#[encx(id)]` field's type), what [`Repo::get`] and the
/// other by-id methods take.
pub type IdOf<T> = <<T as Encrypted>::Record as RecordKey>::Id;

/// The subject type of `T`'s records (the `#[encx(subject)]` field's type).
pub type SubjectOf<T> = <<T as Encrypted>::Record as RecordKey>::Subject;

/// The tenant type of `T`'s records (the `#[encx(tenant)]` field's type).
pub type TenantOf<T> = <<T as Encrypted>::Record as RecordKey>::Tenant;

/// A key-store outage met by a call on the caller's own connection or transaction
/// (`held`): when the store was blocked by that very transaction (a SQLite write lock, the
/// pool's only connection), retrying cannot help, so it becomes a configuration error that
/// says what to do. On a pool (not `held`) the error stays what it was.
fn blocked_by_caller(e: Error, held: bool) -> Error {
    let Error::Crypto(crypto) = &e else {
        return e;
    };
    if !held {
        return e;
    }
    let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(crypto);
    while let Some(c) = cause {
        if let Some(sqlx) = c.downcast_ref::<sqlx::Error>() {
            let blocked = match sqlx {
                sqlx::Error::PoolTimedOut => true,
                sqlx::Error::Database(db) => {
                    // SQLITE_BUSY (5) and SQLITE_LOCKED (6), with their extended codes.
                    db.code()
                        .and_then(|c| c.parse::<i32>().ok())
                        .is_some_and(|c| matches!(c & 0xff, 5 | 6))
                        && db.message().contains("locked")
                }
                _ => false,
            };
            if blocked {
                return Error::InvalidConfig(format!(
                    "{crypto}: the keys this record needs are not cached, and the key store \
                     could not be read while this transaction holds the database (a SQLite \
                     write lock, or the pool's only connection); retrying will not help. Call \
                     Repo::warm_keys(&values) (or Crypto::warm_up) before beginning the \
                     transaction, or give the key tables a pool or database of their own"
                ));
            }
        }
        cause = c.source();
    }
    e
}

impl<T, DB> Repo<T, DB>
where
    DB: EncxDatabase,
    T: Encrypted + Schema + 'static,
    T::Record: StoredRecord + 'static,
{
    /// Runs `work` and sends an audit event of `action` about it (about `value`, if given) to
    /// the crypto's audit sink; `describe` adds what only the result tells.
    async fn audited<R>(
        &self,
        action: AuditAction,
        value: Option<&T>,
        work: impl Future<Output = Result<R>>,
        describe: impl FnOnce(&R, &mut AuditEvent),
    ) -> Result<R> {
        let mut event = AuditEvent::new(action, self.sql.table, SystemTime::now());
        event.actor = self.actor.as_deref().map(str::to_owned);
        event.fields = self.encrypted.to_vec();
        if let Some(value) = value {
            event.record = Some(value.id_display()).filter(|id| !id.is_empty());
            event.subject = value.subject_display();
            event.records = 1;
        }
        let sink = self.crypto.audit_sink().as_ref();
        crate::audit::audited::audited(sink, event, work, describe).await
    }

    /// The audit event of a streamed read, sent when the stream ends or is dropped.
    fn stream_audit(&self, action: AuditAction) -> crate::audit::stream_audit::StreamAudit {
        let mut event = AuditEvent::new(action, self.sql.table, SystemTime::now());
        event.actor = self.actor.as_deref().map(str::to_owned);
        event.fields = self.encrypted.to_vec();
        crate::audit::stream_audit::StreamAudit::start(event, self.crypto.audit_sink().clone())
    }

    /// Runs `T`'s `CREATE TABLE IF NOT EXISTS` and index statements.
    pub async fn create_table(&self) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        for statement in self.schema()? {
            DB::execute(&mut *conn, &statement, Default::default()).await?;
        }
        Ok(())
    }

    /// Encrypts and inserts one record, on `db` (see [`DbHandle`]).
    pub async fn insert<'c>(&self, db: impl DbHandle<'c, DB>, value: &T) -> Result<()> {
        let held = db.held_by_caller();
        let work = async {
            // Encrypt before taking a connection: a cold KEK load needs the pool too.
            let record = value.encrypt(&self.crypto).await?;
            let mut conn = db.connection().await?;
            self.insert_records(&mut conn, std::slice::from_ref(&record))
                .await
        };
        self.audited(AuditAction::Encrypt, Some(value), work, |_, _| {})
            .await
            .map_err(|e| blocked_by_caller(e, held))
    }

    /// Loads every key that inserting or updating `values` needs (the active KEK, creating the
    /// first one; the index keys; each data subject's key, creating it for a new subject)
    /// into the process's caches, without touching the table. Call it before beginning a
    /// transaction in which you [`insert`](Self::insert) or [`update`](Self::update) these
    /// values: the key store then is not needed while
    /// the transaction holds the database (a SQLite write lock blocks the key store's own
    /// connections; a pool of one connection has none to lend). Keys stay cached for their
    /// cache TTL. An erased subject fails here as it would on insert.
    ///
    /// ```no_run
    /// # use encx::Encrypted;
    /// # #[derive(Encrypted)] struct User { #[encx(id, subject)] id: uuid::Uuid, #[encx(encrypt)] email: String }
    /// # async fn run(users: encx_sqlx::Repo<User, sqlx::Sqlite>, pool: sqlx::SqlitePool, ada: User) -> encx_sqlx::Result<()> {
    /// users.warm_keys(std::slice::from_ref(&ada)).await?;
    /// let mut tx = pool.begin().await?;
    /// // ... the application's own writes ...
    /// users.insert(&mut *tx, &ada).await?;
    /// tx.commit().await?;
    /// # Ok(()) }
    /// ```
    pub async fn warm_keys(&self, values: &[T]) -> Result<()> {
        if values.is_empty() {
            self.crypto.warm_up().await?;
        }
        for value in values {
            // Sealing a value in memory loads exactly the keys its insert needs.
            value.encrypt(&self.crypto).await?;
        }
        Ok(())
    }

    /// Loads (or creates) the keys of every tenant among `values` before a transaction holds
    /// a connection: a tenant seen for the first time is registered and gets its first keys,
    /// writes that would wait for the transaction's own lock on SQLite.
    async fn warm_tenants(&self, values: &[T]) -> Result<()> {
        if T::tenant_column().is_none() || self.crypto.tenant().is_some() {
            return Ok(());
        }
        let mut seen = std::collections::HashSet::new();
        for tenant in values.iter().filter_map(Encrypted::tenant_bytes) {
            if seen.insert(tenant.clone()) {
                let shown = String::from_utf8_lossy(&tenant).into_owned();
                self.crypto
                    .for_tenant(&tenant, &shown)
                    .await?
                    .warm_up()
                    .await?;
            }
        }
        Ok(())
    }

    /// Encrypts and inserts many records in one transaction, in multi-row batches:
    /// `INSERT ... SELECT * FROM UNNEST(..)` with one array per column on PostgreSQL
    /// (multi-row `VALUES` when a column type has no PostgreSQL array type), multi-row
    /// `VALUES` on MySQL/MariaDB and SQLite.
    ///
    /// Encryption of the next batch overlaps the database's work on the current one.
    /// The first batch is encrypted before a connection is taken, so the KEK is cached
    /// by the time the transaction holds its connection.
    ///
    /// On a connection or transaction of the caller's (see [`DbHandle`]), the records go in
    /// under a savepoint of that transaction.
    pub async fn insert_many<'c>(&self, db: impl DbHandle<'c, DB>, values: &[T]) -> Result<()> {
        let held = db.held_by_caller();
        let work = async {
            self.warm_tenants(values).await?;
            let (head, tail) = values.split_at(FIRST_BATCH.min(values.len()));
            let first = self.encrypt_all(head).await?;
            let mut conn = db.connection().await?;
            self.insert_pipelined(&mut conn, first, tail).await
        };
        self.audited(AuditAction::Encrypt, None, work, |_, e| {
            e.records = values.len() as u64;
        })
        .await
        .map_err(|e| blocked_by_caller(e, held))
    }

    /// Inserts `first` (already encrypted), then each batch of `rest`, encrypting batch
    /// k+1 while batch k is being inserted, all in one transaction. The first batch is
    /// small so that the database starts working early.
    async fn insert_pipelined(
        &self,
        conn: &mut <DB as Database>::Connection,
        first: Vec<T::Record>,
        rest: &[T],
    ) -> Result<()> {
        let mut tx = Connection::begin(conn).await?;
        let mut current = first;
        let mut rest = rest.chunks(PIPELINE_BATCH);
        loop {
            match rest.next() {
                Some(next) => {
                    let (inserted, encrypted) = futures_util::future::join(
                        self.insert_records(&mut tx, &current),
                        self.encrypt_all(next),
                    )
                    .await;
                    inserted?;
                    current = encrypted?;
                }
                None => {
                    self.insert_records(&mut tx, &current).await?;
                    break;
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Encrypts `values`, yielding now and then so that a database call running beside
    /// it (see `insert_pipelined`) keeps being served.
    async fn encrypt_all(&self, values: &[T]) -> Result<Vec<T::Record>> {
        let mut records = Vec::with_capacity(values.len());
        for (i, value) in values.iter().enumerate() {
            if i % 64 == 63 {
                tokio::task::yield_now().await;
            }
            records.push(value.encrypt(&self.crypto).await?);
        }
        Ok(records)
    }

    /// Decrypts the records of `rows` while they arrive (on the threads of
    /// [`decrypt_workers`](Self::decrypt_workers)), appending them to `out` and leaving out
    /// erased ones (a record whose data subject was erased still has its wrapped DEK, but
    /// reads as `Shredded`).
    async fn decrypt_rows(
        &self,
        rows: BoxStream<'_, std::result::Result<T::Record, sqlx::Error>>,
        out: &mut Vec<T>,
    ) -> Result<()> {
        let mut decrypted =
            decrypting::decrypted::<T>(&self.crypto, self.bulk_decrypt_workers(), rows);
        while let Some((_, value)) = decrypted.try_next().await? {
            match value {
                Ok(value) => out.push(value),
                Err(error) if error.is_shredded() => {}
                Err(error) => return Err(error.into()),
            }
        }
        Ok(())
    }

    async fn insert_records(
        &self,
        conn: &mut <DB as Database>::Connection,
        records: &[T::Record],
    ) -> Result<()> {
        for (sql, args) in bulk::insert_statements::<DB, _>(&self.sql, records)? {
            DB::execute(&mut *conn, &sql, args).await?;
        }
        Ok(())
    }

    /// The record with this id, decrypted, read on `db` (see [`DbHandle`]).
    /// [`Error::NotFound`] when there is none; `Shredded` (see [`Error::is_shredded`]) when it
    /// was erased.
    pub async fn get<'c>(&self, db: impl DbHandle<'c, DB>, id: IdOf<T>) -> Result<T>
    where
        T: HasRecordId,
    {
        let shown = id.record_id_display();
        self.get_optional(db, id)
            .await?
            .ok_or_else(|| self.not_found(shown))
    }

    /// Like [`get`](Self::get), with `None` for a missing record.
    pub async fn get_optional<'c>(
        &self,
        db: impl DbHandle<'c, DB>,
        id: IdOf<T>,
    ) -> Result<Option<T>>
    where
        T: HasRecordId,
    {
        let held = db.held_by_caller();
        let work = async {
            let mut conn = db.connection().await?;
            self.read_by_id(&mut conn, &id).await
        };
        self.audited_read(&id, work)
            .await
            .map_err(|e| blocked_by_caller(e, held))
    }

    /// [`audited`](Self::audited) for a read by id.
    async fn audited_read(
        &self,
        id: &IdOf<T>,
        work: impl Future<Output = Result<Option<T>>>,
    ) -> Result<Option<T>> {
        let shown = id.record_id_display();
        self.audited(AuditAction::Decrypt, None, work, |found, e| {
            e.record = Some(shown);
            if let Some(value) = found {
                e.subject = value.subject_display();
                e.records = 1;
            }
        })
        .await
    }

    /// The record with this id, decrypted, or (in the plaintext migration's read mode) read
    /// from its plaintext if it is not migrated yet.
    async fn read_by_id(
        &self,
        conn: &mut <DB as Database>::Connection,
        id: &IdOf<T>,
    ) -> Result<Option<T>> {
        let sql = match &self.plaintext {
            Some(plain) => std::borrow::Cow::Borrowed(plain.record_by_id.as_str()),
            None => std::borrow::Cow::Owned(self.sql.select_by_id()?),
        };
        let args = key_arg::<DB, T::Record>(id)?;
        match DB::fetch_record::<T::Record>(&mut *conn, &sql, args).await? {
            Some(record) => Ok(Some(T::decrypt(&record, &self.crypto).await?)),
            None => match &self.plaintext {
                Some(plain) => plain.read_by_id(conn, id).await,
                None => Ok(None),
            },
        }
    }

    /// The records with these ids that exist and are not erased, decrypted, read on `db`.
    pub async fn get_many<'c>(&self, db: impl DbHandle<'c, DB>, ids: &[IdOf<T>]) -> Result<Vec<T>>
    where
        T: HasRecordId,
    {
        let held = db.held_by_caller();
        let work = async {
            let mut conn = db.connection().await?;
            self.read_by_ids(&mut conn, ids).await
        };
        self.audited(AuditAction::Decrypt, None, work, |found, e| {
            e.records = found.len() as u64;
        })
        .await
        .map_err(|e| blocked_by_caller(e, held))
    }

    /// The records with these ids that exist and are not erased, decrypted, and (in the
    /// plaintext migration's read mode) those not migrated yet.
    async fn read_by_ids(
        &self,
        conn: &mut <DB as Database>::Connection,
        ids: &[IdOf<T>],
    ) -> Result<Vec<T>> {
        self.sql.require_id()?;
        let id_column = self.id_column.unwrap_or_default();
        let mut values = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(IDS_PER_QUERY) {
            let sql = self.sql.select_where_in(id_column, chunk.len());
            let args = keys_args::<DB, T::Record>(chunk)?;
            let rows = DB::stream_records::<T::Record>(&mut *conn, &sql, args);
            self.decrypt_rows(rows, &mut values).await?;
        }
        if let Some(plain) = &self.plaintext {
            values.extend(plain.read_by_ids(conn, ids).await?);
        }
        Ok(values)
    }

    /// Every record of the table, decrypted one by one while the rows arrive (in id order
    /// when the type has an id): memory stays bounded by one row and one value, whatever the
    /// table's size, for exports, reports and batch jobs. Erased records are left out. A row
    /// that fails to decrypt (tampered bytes, a missing key) is an `Err` item and the stream
    /// goes on; a database error is the last item. Holds the connection it reads on (one of
    /// the pool's, when given a pool) until dropped.
    ///
    /// One [`Decrypt`](encx::audit::AuditAction::Decrypt) audit event counts the records
    /// handed out, sent when the stream ends or is dropped. In the plaintext migration's
    /// read mode ([`with_plaintext`](Self::with_plaintext)) the stream refuses to start: rows
    /// not migrated yet would be missing from it.
    ///
    /// ```no_run
    /// use futures_util::{StreamExt, TryStreamExt};
    /// # #[derive(encx::Encrypted)] #[encx(table = "users")]
    /// # struct User { #[encx(id)] id: i64, #[encx(encrypt)] email: String }
    /// # async fn run(users: encx_sqlx::Repo<User, sqlx::Postgres>, pool: sqlx::PgPool) -> encx_sqlx::Result<()> {
    /// let mut all = users.stream_all(&pool);
    /// while let Some(user) = all.try_next().await? {
    ///     println!("{}", user.id);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn stream_all<'a, 'c: 'a>(
        &'a self,
        db: impl DbHandle<'c, DB> + 'a,
    ) -> BoxStream<'a, Result<T>>
    where
        T: 'static,
    {
        Box::pin(async_stream::stream! {
            let mut audit = self.stream_audit(AuditAction::Decrypt);
            if self.plaintext.is_some() {
                audit.failed(None);
                yield Err(Error::InvalidConfig(format!(
                    "stream_all reads encrypted rows only, and `{}` is being migrated from \
                     plaintext: finish the migration, or read with get_many / find_by",
                    self.sql.table
                )));
                return;
            }
            let mut conn = match db.connection().await {
                Ok(conn) => conn,
                Err(error) => {
                    audit.failed(None);
                    yield Err(error.into());
                    return;
                }
            };
            let sql = self.sql.select_live();
            let rows = DB::stream_records::<T::Record>(&mut *conn, &sql, Default::default());
            let mut rows =
                decrypting::decrypted::<T>(&self.crypto, self.bulk_decrypt_workers(), rows);
            loop {
                match rows.try_next().await {
                    Ok(Some((_, decrypted))) => match decrypted {
                        Ok(value) => {
                            audit.handed_out();
                            yield Ok(value);
                        }
                        Err(error) if error.is_shredded() => {}
                        Err(error) => {
                            audit.failed(Some(error.kind()));
                            yield Err(error.into());
                        }
                    },
                    Ok(None) => break,
                    Err(error) => {
                        audit.failed(None);
                        yield Err(error);
                        break;
                    }
                }
            }
        })
    }

    /// The records whose searchable `field` equals `value` (after the field's
    /// normalizer). Uses the blind index, then re-checks each decrypted candidate, so
    /// truncation false positives never reach the caller. Erased records are skipped.
    ///
    /// A candidate row whose stored bytes fail an integrity check is never returned and
    /// does not hide the other matches: it is skipped and logged (`tracing`, `warn`,
    /// target `encx_sqlx::integrity`, with table and record id). Use
    /// [`find_by_report`](Self::find_by_report) to receive those rows as values.
    pub async fn find_by<'c, V>(
        &self,
        db: impl DbHandle<'c, DB>,
        field: SearchField<T>,
        value: &V,
    ) -> Result<Vec<T>>
    where
        V: Indexable + ?Sized + Sync,
    {
        Ok(self.find_by_report(db, field, value).await?.found)
    }

    /// [`find_by`](Self::find_by), also returning the candidate rows refused for
    /// failing an integrity check (see [`Lookup`](crate::Lookup)).
    pub async fn find_by_report<'c, V>(
        &self,
        db: impl DbHandle<'c, DB>,
        field: SearchField<T>,
        value: &V,
    ) -> Result<crate::Lookup<T>>
    where
        V: Indexable + ?Sized + Sync,
    {
        let held = db.held_by_caller();
        let work = async {
            let indexes = field.lookup(&self.crypto, value)?;
            let mut conn = db.connection().await?;
            let mut lookup = self
                .keep_matches(&mut conn, field.column(), &indexes, |t| {
                    field.matches(&self.crypto, t, value)
                })
                .await?;
            if let Some(plain) = &self.plaintext {
                let unmigrated = plain
                    .read_matching(&mut conn, field, value, &self.crypto)
                    .await?;
                lookup.found.extend(unmigrated);
            }
            Ok(lookup)
        };
        self.audited_lookup(field.column(), work)
            .await
            .map_err(|e| blocked_by_caller(e, held))
    }

    /// [`audited`](Self::audited) for a blind-index lookup: names the searched column only.
    async fn audited_lookup(
        &self,
        column: &'static str,
        work: impl Future<Output = Result<crate::Lookup<T>>>,
    ) -> Result<crate::Lookup<T>> {
        self.audited(AuditAction::FindBy, None, work, |lookup, e| {
            e.fields = vec![column];
            e.records = lookup.found.len() as u64;
        })
        .await
    }

    /// The records whose compound index matches `values` (in the index's field order).
    /// Rows failing an integrity check are skipped and logged, as in
    /// [`find_by`](Self::find_by).
    pub async fn find_by_index<'c>(
        &self,
        db: impl DbHandle<'c, DB>,
        index: CompoundIndex<T>,
        values: &[&(dyn Indexable + Sync)],
    ) -> Result<Vec<T>> {
        Ok(self.find_by_index_report(db, index, values).await?.found)
    }

    /// [`find_by_index`](Self::find_by_index), also returning the refused rows.
    pub async fn find_by_index_report<'c>(
        &self,
        db: impl DbHandle<'c, DB>,
        index: CompoundIndex<T>,
        values: &[&(dyn Indexable + Sync)],
    ) -> Result<crate::Lookup<T>> {
        let held = db.held_by_caller();
        // `&dyn Indexable` is not `Send`: never hold one across an await, so that this
        // future can run on any executor thread (`tokio::spawn`, web handlers).
        let as_parts =
            || -> Vec<&dyn Indexable> { values.iter().map(|v| *v as &dyn Indexable).collect() };
        let work = async {
            let indexes = index.lookup(&self.crypto, &as_parts())?;
            let mut conn = db.connection().await?;
            self.keep_matches(&mut conn, index.column(), &indexes, |t| {
                index.matches(&self.crypto, t, &as_parts())
            })
            .await
        };
        self.audited_lookup(index.column(), work)
            .await
            .map_err(|e| blocked_by_caller(e, held))
    }

    /// True when some record's `field` equals `value` (for uniqueness checks). A row
    /// that fails an integrity check does not count (it is logged as by
    /// [`find_by`](Self::find_by)); check [`find_by_report`](Self::find_by_report) where
    /// that matters.
    pub async fn exists_by<'c, V>(
        &self,
        db: impl DbHandle<'c, DB>,
        field: SearchField<T>,
        value: &V,
    ) -> Result<bool>
    where
        V: Indexable + ?Sized + Sync,
    {
        Ok(!self.find_by(db, field, value).await?.is_empty())
    }

    /// Reads the rows whose blind index in `column` is one of `indexes`, decrypts each
    /// candidate as it arrives and keeps those that really match (the re-check). A row
    /// failing an integrity check is set aside and logged; any other error ends the
    /// search.
    async fn keep_matches(
        &self,
        conn: &mut <DB as Database>::Connection,
        column: &str,
        indexes: &[encx::BlindIndex],
        matches: impl Fn(&T) -> bool,
    ) -> Result<crate::Lookup<T>> {
        let sql = self.sql.select_where_in(column, indexes.len());
        let mut args = <DB as Database>::Arguments::default();
        for index in indexes {
            DB::bind_blind_index(index, &mut args).map_err(encode_error)?;
        }
        self.keep_matching_rows(conn, &sql, args, matches).await
    }

    /// [`keep_matches`](Self::keep_matches) for the candidate rows that `sql` (bound with
    /// `args`) selects.
    async fn keep_matching_rows(
        &self,
        conn: &mut <DB as Database>::Connection,
        sql: &str,
        args: <DB as Database>::Arguments,
        matches: impl Fn(&T) -> bool,
    ) -> Result<crate::Lookup<T>> {
        if T::tenant_column().is_some() && self.tenant.is_none() {
            return Err(Error::InvalidConfig(format!(
                "blind indexes of `{}` are per tenant: search through Repo::in_tenant",
                self.sql.table
            )));
        }
        let tenant = self.tenant.as_ref().map(|t| t.bytes.clone());
        let rows = DB::stream_records::<T::Record>(conn, sql, args)
            .try_filter(move |record| {
                // Another tenant's row (an index collision) is never decrypted here.
                let mine = tenant
                    .as_deref()
                    .is_none_or(|t| T::record_tenant(record).as_deref() == Some(t));
                std::future::ready(mine)
            })
            .boxed();
        let mut rows = decrypting::decrypted::<T>(&self.crypto, self.bulk_decrypt_workers(), rows);
        let mut lookup = crate::Lookup::default();
        while let Some((record, decrypted)) = rows.try_next().await? {
            lookup.sort(
                self.sql.table,
                || T::record_id_display(&record),
                decrypted,
                &matches,
            )?;
        }
        Ok(lookup)
    }

    /// Re-encrypts `value` under a fresh DEK and replaces its stored row. An erased
    /// record stays erased: updating it is `Shredded`; a missing one is `NotFound`.
    pub async fn update<'c>(&self, db: impl DbHandle<'c, DB>, value: &T) -> Result<()>
    where
        T: HasRecordId,
    {
        let held = db.held_by_caller();
        let work = async {
            let mut conn = db.connection().await?;
            self.update_unaudited(&mut conn, value).await
        };
        self.audited(AuditAction::Encrypt, Some(value), work, |_, _| {})
            .await
            .map_err(|e| blocked_by_caller(e, held))
    }

    async fn update_unaudited(
        &self,
        conn: &mut <DB as Database>::Connection,
        value: &T,
    ) -> Result<()> {
        let sql = match &self.plaintext {
            Some(plain) => Some(plain.update.as_str()),
            None => self.sql.update.as_deref(),
        };
        let sql = sql.ok_or_else(|| self.no_id())?;
        let record = value.encrypt(&self.crypto).await?;
        let id = record.key().ok_or_else(|| self.no_id())?;
        let mut args = <DB as Database>::Arguments::default();
        DB::bind_record(&record, &mut args).map_err(encode_error)?;
        DB::bind_key::<T::Record>(id, &mut args).map_err(encode_error)?;
        if DB::execute(&mut *conn, sql, args).await? > 0 {
            return Ok(());
        }
        let probe = self.sql.probe.as_deref().ok_or_else(|| self.no_id())?;
        let erased = DB::fetch_first_is_null(conn, probe, key_arg::<DB, T::Record>(id)?).await?;
        Err(match erased {
            Some(true) => Error::Crypto(encx::Error::Shredded {
                table: self.sql.table.to_owned(),
                record: value.id_display(),
            }),
            _ => Error::NotFound {
                table: self.sql.table,
                id: value.id_display(),
            },
        })
    }

    /// Deletes the row. Returns whether there was one.
    pub async fn delete<'c>(&self, db: impl DbHandle<'c, DB>, id: IdOf<T>) -> Result<bool>
    where
        T: HasRecordId,
    {
        let mut conn = db.connection().await?;
        self.execute_by_id(&mut conn, self.sql.delete.as_deref(), &id)
            .await
    }

    /// Crypto-shreds the record: its wrapped DEK and every blind index become NULL in one
    /// statement. Plain columns stay; the ciphertexts stay too, unreadable by anyone in
    /// this database. Returns whether the row exists.
    ///
    /// Backups are another matter: a backup taken before the erase still holds the
    /// record's wrapped DEK, and the root key still unwraps the KEK row in that backup.
    /// Such a copy turns to noise only once the KEK that wrapped the DEK is destroyed
    /// and the root that wrapped that KEK can no longer unwrap it (see
    /// `docs/operations.md`, erasure).
    pub async fn erase<'c>(&self, db: impl DbHandle<'c, DB>, id: IdOf<T>) -> Result<bool>
    where
        T: HasRecordId,
    {
        let shown = id.record_id_display();
        let sql = match &self.plaintext {
            Some(plain) => Some(plain.erase.as_str()),
            None => self.sql.erase.as_deref(),
        };
        let work = async {
            let mut conn = db.connection().await?;
            self.execute_by_id(&mut conn, sql, &id).await
        };
        self.audited(AuditAction::Erase, None, work, |existed, e| {
            e.record = Some(shown);
            e.records = u64::from(*existed);
        })
        .await
    }

    /// Crypto-shreds every row of data subject `subject` in this table, as
    /// [`erase`](Self::erase) does one record: `encx_dek` and every blind index become NULL,
    /// so the rows leave every lookup at once. Returns how many rows it cleared (0 when they
    /// were cleared before). Usually called through a
    /// [`SubjectEraser`](crate::SubjectEraser), after the subject's key is destroyed.
    pub async fn erase_subject_rows<'c>(
        &self,
        db: impl DbHandle<'c, DB>,
        subject: &SubjectOf<T>,
    ) -> Result<u64>
    where
        T: HasSubject,
    {
        self.erase_subject_rows_sparing(db, subject, &[]).await
    }

    /// [`erase_subject_rows`](Self::erase_subject_rows), leaving alone the rows whose DEK is
    /// wrapped under one of the subject keys `spared` (keys of a re-enabled subject, which the
    /// erasure being applied does not cover). Coverage is decided by the key id in each row's
    /// `encx_dek`, never by times.
    pub async fn erase_subject_rows_sparing<'c>(
        &self,
        db: impl DbHandle<'c, DB>,
        subject: &SubjectOf<T>,
        spared: &[Uuid],
    ) -> Result<u64>
    where
        T: HasSubject,
    {
        let mut conn = db.connection().await?;
        self.clear_subject_rows(&mut conn, subject, spared).await
    }

    /// The statement of [`erase_subject_rows_sparing`](Self::erase_subject_rows_sparing), on
    /// a connection.
    pub(crate) async fn clear_subject_rows(
        &self,
        conn: &mut <DB as Database>::Connection,
        subject: &SubjectOf<T>,
        spared: &[Uuid],
    ) -> Result<u64>
    where
        T: HasSubject,
    {
        let sql = match &self.plaintext {
            Some(plain) => plain.erase_subject.as_deref(),
            None => self.sql.erase_subject.as_deref(),
        };
        let sql = sql.ok_or_else(|| self.no_subject())?;
        let mut args = subject_arg::<DB, T::Record>(subject)?;
        if spared.is_empty() {
            return Ok(DB::execute(conn, sql, args).await?);
        }
        let sql = crate::database::dialect::sparing_keys(DB::DIALECT, sql, spared.len());
        for id in spared {
            DB::bind_bytes(id.as_bytes(), &mut args).map_err(encode_error)?;
        }
        Ok(DB::execute(conn, &sql, args).await?)
    }

    /// How many rows of data subject `subject` this table holds that are not erased (in the
    /// plaintext migration's read mode, migrated rows only).
    pub async fn count_subject_rows<'c>(
        &self,
        db: impl DbHandle<'c, DB>,
        subject: &SubjectOf<T>,
    ) -> Result<u64>
    where
        T: HasSubject,
    {
        let sql = self
            .sql
            .count_subject
            .as_deref()
            .ok_or_else(|| self.no_subject())?;
        let args = subject_arg::<DB, T::Record>(subject)?;
        let mut conn = db.connection().await?;
        let n = DB::fetch_count(&mut conn, sql, args).await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Runs a statement whose one argument is the id; true when it touched a row.
    async fn execute_by_id(
        &self,
        conn: &mut <DB as Database>::Connection,
        sql: Option<&str>,
        id: &IdOf<T>,
    ) -> Result<bool> {
        let sql = sql.ok_or_else(|| self.no_id())?;
        let args = key_arg::<DB, T::Record>(id)?;
        Ok(DB::execute(conn, sql, args).await? > 0)
    }

    fn not_found(&self, id: String) -> Error {
        Error::NotFound {
            table: self.sql.table,
            id,
        }
    }

    fn no_subject(&self) -> Error {
        Error::InvalidConfig(format!(
            "table `{}` has no #[encx(subject)] field",
            self.sql.table
        ))
    }

    fn no_id(&self) -> Error {
        match self.sql.require_id() {
            Err(e) => e,
            Ok(_) => Error::InvalidConfig("statement missing".into()),
        }
    }
}

/// Tenants: scoping and offboarding.
impl<T, DB> Repo<T, DB>
where
    DB: EncxDatabase,
    T: Encrypted + Schema + 'static,
    T::Record: StoredRecord + 'static,
{
    /// This repository scoped to one tenant: its searches compute the tenant's blind indexes
    /// and return the tenant's rows only (rows of other tenants are dropped before anything
    /// is decrypted). Searches of a type with an `#[encx(tenant)]` field need a scope, since
    /// index values differ per tenant; reads by id, inserts and updates work scoped or not.
    ///
    /// ```no_run
    /// use encx::Encrypted;
    /// use encx_sqlx::Repo;
    ///
    /// #[derive(Encrypted)]
    /// #[encx(table = "members")]
    /// struct Member {
    ///     #[encx(id)]
    ///     id: uuid::Uuid,
    ///     #[encx(tenant)]
    ///     org: String,
    ///     #[encx(encrypt, searchable(normalize = "email"))]
    ///     email: String,
    /// }
    ///
    /// # async fn run(pool: sqlx::PgPool, crypto: encx::Crypto) -> encx_sqlx::Result<()> {
    /// let members = Repo::<Member, sqlx::Postgres>::new(pool.clone(), crypto);
    /// let acme = members.in_tenant(&"acme".to_string()).await?;
    /// let found = acme.find_by(&pool, Member::EMAIL, "ada@example.com").await?;
    /// # Ok(()) }
    /// ```
    pub async fn in_tenant(&self, tenant: &TenantOf<T>) -> Result<Self>
    where
        T: encx::HasTenant,
        TenantOf<T>: Clone,
    {
        let bytes = tenant.record_id_bytes();
        let crypto = self
            .crypto
            .for_tenant(&bytes, &tenant.record_id_display())
            .await?;
        let mut scoped = self.clone();
        scoped.crypto = crypto;
        let value = tenant.clone();
        scoped.tenant = Some(TenantScope {
            bytes: bytes.as_ref().into(),
            bind: Arc::new(move |args| DB::bind_tenant::<T::Record>(&value, args)),
        });
        Ok(scoped)
    }

    /// The tenant this repository is scoped to, as id bytes.
    pub fn tenant(&self) -> Option<&[u8]> {
        self.tenant.as_ref().map(|t| &*t.bytes)
    }

    /// Re-wraps the DEKs of every tenant's rows under that tenant's active KEK
    /// ([`rewrap`](Self::rewrap) of [`in_tenant`](Self::in_tenant) for each tenant of the
    /// tenant store, in id order), after tenants' KEK rotations. Offboarded tenants are
    /// skipped. Safe to interrupt and run again, and to run on several workers.
    pub async fn rewrap_tenants(&self, batch_size: usize) -> Result<Vec<(String, RewrapProgress)>>
    where
        T: encx::HasTenant + HasRecordId,
        TenantOf<T>: Clone + encx::SubjectId,
    {
        let mut done = Vec::new();
        let mut after: Option<Vec<u8>> = None;
        loop {
            let page = self.crypto.tenants_page(after.as_deref(), 100).await?;
            for row in &page {
                if row.state != encx::keys::tenant::TenantState::Active {
                    continue;
                }
                let Some(tenant) =
                    <TenantOf<T> as encx::SubjectId>::from_record_id_bytes(&row.tenant)
                else {
                    continue; // a tenant of another type's tables
                };
                let progress = self.in_tenant(&tenant).await?.rewrap(batch_size).await?;
                done.push((tenant.record_id_display(), progress));
            }
            match page.last() {
                Some(last) if page.len() == 100 => after = Some(last.tenant.clone()),
                _ => return Ok(done),
            }
        }
    }

    /// Crypto-shreds every row of `tenant` in this table: `encx_dek` and every blind index
    /// become NULL. Returns how many rows it cleared. Usually called through a
    /// [`TenantEraser`](crate::TenantEraser), after the tenant's keys are destroyed.
    pub async fn erase_tenant_rows<'c>(
        &self,
        db: impl DbHandle<'c, DB>,
        tenant: &TenantOf<T>,
    ) -> Result<u64>
    where
        T: encx::HasTenant,
    {
        let (sql, args) = self.tenant_statement(self.sql.erase_tenant.as_deref(), tenant)?;
        let mut conn = db.connection().await?;
        Ok(DB::execute(&mut conn, sql, args).await?)
    }

    /// How many rows of `tenant` this table holds that are not erased.
    pub async fn count_tenant_rows<'c>(
        &self,
        db: impl DbHandle<'c, DB>,
        tenant: &TenantOf<T>,
    ) -> Result<u64>
    where
        T: encx::HasTenant,
    {
        let (sql, args) = self.tenant_statement(self.sql.count_tenant.as_deref(), tenant)?;
        let mut conn = db.connection().await?;
        let n = DB::fetch_count(&mut conn, sql, args).await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// A statement of the tenant column (`None` for a table without one) and its argument.
    fn tenant_statement<'s>(
        &self,
        sql: Option<&'s str>,
        tenant: &TenantOf<T>,
    ) -> Result<(&'s str, <DB as Database>::Arguments)> {
        let sql = sql.ok_or_else(|| self.no_tenant())?;
        Ok((sql, args::tenant_arg::<DB, T::Record>(tenant)?))
    }

    fn no_tenant(&self) -> Error {
        Error::InvalidConfig(format!("table `{}` has no tenant column", self.sql.table))
    }
}
