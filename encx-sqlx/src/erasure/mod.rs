//! [`SubjectEraser`]: erase a data subject across every table that carries subjects, with a
//! receipt.
//!
//! The order is what makes an interrupted erasure safe to retry, whether or not the subject
//! keys share a database with the data:
//! 0. the erasure point is fixed: the subject's highest key version (a subject with no key
//!    yet gets a tombstone, a key row with no key, so none can be created for it now); with an
//!    [`ErasureLedger`], the erasure is recorded there with that version;
//! 1. the subject's keys up to that version are destroyed in the subject key store (one
//!    transaction): from this moment every record of the subject, in every table and every
//!    copy of the data that does not hold the subject key store, is unreadable;
//! 2. each registered table's rows of the subject get `encx_dek` and every blind index set to
//!    NULL, so lookups stop finding them (they were already unreadable);
//! 3. after the writer window (the subject cache TTL of the [`Crypto`] plus a margin), step 2
//!    runs again: it clears the rows that other processes, still holding the key in their
//!    cache, wrote after step 1. Only then does [`SubjectEraser::erase`] return.
//!
//! Rows are cleared by key identity: a row is cleared unless its DEK is wrapped under a key of
//! a higher version than the erasure covers (a key made by re-enabling the subject later).
//!
//! A crash after any step leaves some work undone; calling [`SubjectEraser::erase`] again
//! records the erasure once more (harmless), finds no key left to destroy, and finishes the
//! rest.
//!
//! Where the subject keys and every registered table share one database,
//! [`SubjectEraser::in_one_transaction`] runs steps 1 and 2 in a single transaction of that
//! database: either the keys are destroyed and every row is cleared, or nothing changed.
//! After the subject key database is restored from a backup, [`SubjectEraser::reapply_ledger`]
//! destroys again every key the ledger says was erased, and clears the rows under them.

pub mod described;
pub mod tenant;

use std::any::Any;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use encx::audit::{AuditAction, AuditEvent};
use encx::keys::subject::SUBJECT_KEY_TABLE;
use encx::schema::Schema;
use encx::sql::{RecordKey, StoredRecord};
use encx::{Crypto, Encrypted, ErasureEntry, ErasureLedger, HasSubject, RecordId, SubjectId};
use futures_util::future::BoxFuture;
use sqlx::{Database, Pool};
use uuid::Uuid;

use crate::encx_database::EncxDatabase;
use crate::error::Result;
use crate::repository::Repo;

/// A database whose encrypted tables can be listed ([`SubjectEraser::covering`]).
trait TableCensus: Send + Sync {
    /// The application's tables with an `encx_dek` column, by name, sorted.
    fn encrypted_tables(&self) -> BoxFuture<'_, Result<Vec<String>>>;
}

impl<DB: EncxDatabase> TableCensus for Pool<DB> {
    fn encrypted_tables(&self) -> BoxFuture<'_, Result<Vec<String>>> {
        Box::pin(async move {
            let mut conn = self.acquire().await?;
            Ok(crate::database::census::encrypted_tables::<DB>(&mut conn, DB::DIALECT).await?)
        })
    }
}

/// A table whose rows name their data subject with a value of type `S`.
trait SubjectTable<S>: Send + Sync {
    fn table(&self) -> &'static str;
    /// The subject's rows that are not erased.
    fn count_rows<'a>(&'a self, subject: &'a S) -> BoxFuture<'a, Result<u64>>;
    /// Clears the subject's rows but those under a key of `spared`.
    fn erase_rows<'a>(&'a self, subject: &'a S, spared: &'a [Uuid]) -> BoxFuture<'a, Result<u64>>;
    /// `erase_rows` on `conn`, a connection of the database engine the eraser's one
    /// transaction runs in (an error when it is not this table's).
    fn erase_rows_in<'a>(
        &'a self,
        conn: &'a mut (dyn Any + Send),
        subject: &'a S,
        spared: &'a [Uuid],
    ) -> BoxFuture<'a, Result<u64>>;
}

impl<T, DB, S> SubjectTable<S> for Repo<T, DB>
where
    DB: EncxDatabase,
    T: Encrypted + Schema + HasSubject + Send + Sync + 'static,
    T::Record: StoredRecord + RecordKey<Subject = S> + 'static,
    S: Sync,
{
    fn table(&self) -> &'static str {
        <T as Schema>::TABLE
    }

    fn count_rows<'a>(&'a self, subject: &'a S) -> BoxFuture<'a, Result<u64>> {
        Box::pin(self.count_subject_rows(self.pool(), subject))
    }

    fn erase_rows<'a>(&'a self, subject: &'a S, spared: &'a [Uuid]) -> BoxFuture<'a, Result<u64>> {
        Box::pin(self.erase_subject_rows_sparing(self.pool(), subject, spared))
    }

    fn erase_rows_in<'a>(
        &'a self,
        conn: &'a mut (dyn Any + Send),
        subject: &'a S,
        spared: &'a [Uuid],
    ) -> BoxFuture<'a, Result<u64>> {
        Box::pin(async move {
            let conn = transaction_connection::<DB>(conn, <T as Schema>::TABLE)?;
            self.clear_subject_rows(conn, subject, spared).await
        })
    }
}

/// The connection of [`SubjectEraser::in_one_transaction`]'s transaction as `DB`'s, for
/// table `table`; a configuration error when the table is in another kind of database.
fn transaction_connection<'a, DB: EncxDatabase>(
    conn: &'a mut (dyn Any + Send),
    table: &str,
) -> Result<&'a mut <DB as Database>::Connection> {
    conn.downcast_mut::<<DB as Database>::Connection>()
        .ok_or_else(|| {
            crate::Error::InvalidConfig(format!(
                "SubjectEraser::in_one_transaction: table `{table}` is in a {} database, not in \
                 the transaction's",
                DB::NAME
            ))
        })
}

/// The database that holds the subject keys and every registered table, for erasures in one
/// transaction.
trait SharedDatabase<S>: Send + Sync {
    /// Destroys the keys of `subject` up to version `up_to_version` and clears its rows (but
    /// those under a key of `spared`) in every table, in one transaction: the keys destroyed
    /// and the rows cleared per table.
    fn erase<'a>(
        &'a self,
        subject: &'a S,
        subject_bytes: &'a [u8],
        up_to_version: i64,
        spared: &'a [Uuid],
        tables: &'a [Box<dyn SubjectTable<S>>],
    ) -> BoxFuture<'a, Result<(Vec<Uuid>, Vec<u64>)>>;
}

impl<DB, S> SharedDatabase<S> for Pool<DB>
where
    DB: EncxDatabase,
    <DB as Database>::Connection: 'static,
    S: Sync,
{
    fn erase<'a>(
        &'a self,
        subject: &'a S,
        subject_bytes: &'a [u8],
        up_to_version: i64,
        spared: &'a [Uuid],
        tables: &'a [Box<dyn SubjectTable<S>>],
    ) -> BoxFuture<'a, Result<(Vec<Uuid>, Vec<u64>)>> {
        Box::pin(async move {
            let mut tx = self.begin().await?;
            let keys = DB::erase_subject_keys(&mut tx, subject_bytes, Some(up_to_version)).await?;
            let mut rows = Vec::with_capacity(tables.len());
            for table in tables {
                let conn: &mut <DB as Database>::Connection = &mut tx;
                rows.push(table.erase_rows_in(conn, subject, spared).await?);
            }
            tx.commit().await?;
            Ok((keys, rows))
        })
    }
}

/// The tables that carry data subjects of type `S` (a user's `Uuid`, a tenant's `i64`), and
/// the [`Crypto`] whose subject keys wrap their records.
///
/// ```no_run
/// # use encx::Encrypted;
/// # #[derive(Encrypted)] struct User { #[encx(id, subject)] id: uuid::Uuid, #[encx(encrypt)] email: String }
/// # #[derive(Encrypted)] struct Order { #[encx(id)] id: i64, #[encx(subject)] user_id: uuid::Uuid, #[encx(encrypt)] address: String }
/// # async fn run(pool: sqlx::PgPool, crypto: encx::Crypto, ada: uuid::Uuid) -> encx_sqlx::Result<()> {
/// use encx_sqlx::{Repo, SubjectEraser};
/// let users = Repo::<User, sqlx::Postgres>::new(pool.clone(), crypto.clone());
/// let orders = Repo::<Order, sqlx::Postgres>::new(pool, crypto.clone());
/// let eraser = SubjectEraser::new(crypto).table(users).table(orders);
/// let receipt = eraser.erase(&ada).await?;
/// println!("{receipt}"); // subject, keys destroyed, rows cleared per table, time
/// # Ok(()) }
/// ```
pub struct SubjectEraser<S> {
    crypto: Crypto,
    tables: Vec<Box<dyn SubjectTable<S>>>,
    ledger: Option<Arc<dyn ErasureLedger>>,
    actor: Option<String>,
    shared: Option<Box<dyn SharedDatabase<S>>>,
    writer_window: Option<Duration>,
    /// The databases whose every encrypted table an erasure must cover.
    covered: Vec<Box<dyn TableCensus>>,
    /// Tables declared to hold no data subject's rows.
    not_subject_tables: Vec<String>,
}

impl<S> fmt::Debug for SubjectEraser<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tables: Vec<&str> = self.tables.iter().map(|t| t.table()).collect();
        f.debug_struct("SubjectEraser")
            .field("tables", &tables)
            .finish_non_exhaustive()
    }
}

impl<S: RecordId + Sync + 'static> SubjectEraser<S> {
    /// An eraser with no table yet.
    pub fn new(crypto: Crypto) -> Self {
        SubjectEraser {
            crypto,
            tables: Vec::new(),
            ledger: None,
            actor: None,
            shared: None,
            writer_window: None,
            covered: Vec::new(),
            not_subject_tables: Vec::new(),
        }
    }

    /// How long [`erase`](Self::erase) waits after destroying the keys before it clears the
    /// subject's rows a second time: long enough for every other process to have dropped the
    /// subject's key from its cache, so that rows they wrote meanwhile are cleared too. By
    /// default the subject cache TTL of the eraser's [`Crypto`]
    /// ([`CryptoBuilder::subject_cache`](encx::CryptoBuilder::subject_cache), 60 s unless
    /// set) plus [`WRITER_MARGIN`] for a write sealed just before the cache expired. Set it to
    /// the longest subject cache TTL among your processes, plus the margin; `Duration::ZERO`
    /// skips the wait and the second pass (then run [`reapply_ledger`](Self::reapply_ledger)
    /// or [`erase`](Self::erase) again after the window).
    pub fn writer_window(mut self, window: Duration) -> Self {
        self.writer_window = Some(window);
        self
    }

    /// The wait [`writer_window`](Self::writer_window) describes, as this eraser applies it.
    pub fn effective_writer_window(&self) -> Duration {
        self.writer_window.unwrap_or_else(|| {
            self.crypto
                .subject_cache_ttl()
                .map_or(Duration::ZERO, |ttl| ttl + WRITER_MARGIN)
        })
    }

    /// Erases in one transaction of `pool`'s database, which must hold the subject key store
    /// ([`SqlSubjectKeyStore`](crate::SqlSubjectKeyStore) of the [`Crypto`]) and every
    /// registered table: the subject's keys are destroyed and its rows cleared together, or
    /// not at all. The repositories' own pools are not used for erasures then. A table of
    /// another database engine makes [`erase`](Self::erase) fail with
    /// [`InvalidConfig`](crate::Error::InvalidConfig) and change nothing.
    ///
    /// ```no_run
    /// # use encx::Encrypted;
    /// # #[derive(Encrypted)] struct User { #[encx(id, subject)] id: uuid::Uuid, #[encx(encrypt)] email: String }
    /// # async fn run(pool: sqlx::PgPool, crypto: encx::Crypto, ada: uuid::Uuid) -> encx_sqlx::Result<()> {
    /// let users = encx_sqlx::Repo::<User, sqlx::Postgres>::new(pool.clone(), crypto.clone());
    /// let eraser = encx_sqlx::SubjectEraser::new(crypto)
    ///     .table(users)
    ///     .in_one_transaction(pool); // subject keys live in the same database
    /// eraser.erase(&ada).await?;
    /// # Ok(()) }
    /// ```
    pub fn in_one_transaction<DB>(mut self, pool: Pool<DB>) -> Self
    where
        DB: EncxDatabase,
        <DB as Database>::Connection: 'static,
    {
        self.shared = Some(Box::new(pool));
        self
    }

    /// Makes [`erase`](Self::erase) refuse, before it changes anything, while `pool`'s
    /// database (its current schema) holds a table that encx writes (one with an `encx_dek`
    /// column; encx's own `encx_*` tables aside) that this eraser does not clear and that was
    /// not declared with [`not_subject_table`](Self::not_subject_table): a subject's rows
    /// there would keep their blind indexes, still findable by equality. The tables are
    /// listed at each erasure, so a table added after the eraser was built is caught too.
    /// [`footprint`](Self::footprint) names them, and the refusal is
    /// [`Error::TablesNotCovered`](crate::Error::TablesNotCovered). The bare `encx` binary
    /// always covers its database.
    ///
    /// ```no_run
    /// # async fn run(pool: sqlx::PgPool, crypto: encx::Crypto, ada: uuid::Uuid) -> encx_sqlx::Result<()> {
    /// let eraser = encx_sqlx::SubjectEraser::<uuid::Uuid>::new(crypto)
    ///     .described_table(pool.clone(), "user_notes", "user_id")
    ///     .await?
    ///     .not_subject_table("api_partners") // encrypted, but no person's data
    ///     .covering(pool);
    /// eraser.erase(&ada).await?; // refused if another table has an encx_dek column
    /// # Ok(()) }
    /// ```
    pub fn covering<DB: EncxDatabase>(mut self, pool: Pool<DB>) -> Self {
        self.covered.push(Box::new(pool));
        self
    }

    /// Declares that table `table` holds no data subject's rows, although encx writes it:
    /// [`covering`](Self::covering) lets an erasure leave it alone.
    pub fn not_subject_table(mut self, table: impl Into<String>) -> Self {
        self.not_subject_tables.push(table.into());
        self
    }

    /// The tables of the [covered](Self::covering) databases that encx writes and this eraser
    /// neither clears nor was told hold no subject's rows: an erasure is refused while there
    /// is one. Empty without `covering`.
    pub async fn tables_not_covered(&self) -> Result<Vec<String>> {
        let mut missing = Vec::new();
        for database in &self.covered {
            for table in database.encrypted_tables().await? {
                let cleared = self.tables.iter().any(|t| t.table() == table);
                let declared = self.not_subject_tables.contains(&table);
                if !cleared && !declared && !missing.contains(&table) {
                    missing.push(table);
                }
            }
        }
        Ok(missing)
    }

    /// The registered tables' names.
    pub fn table_names(&self) -> Vec<&'static str> {
        self.tables.iter().map(|t| t.table()).collect()
    }

    /// Names `actor` in the audit events of every erasure (see [`encx::audit`]).
    pub fn actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = Some(actor.into());
        self
    }

    /// Records every erasure in `ledger` before it happens (see the [module docs](crate::erasure)
    /// and [`reapply_ledger`](Self::reapply_ledger)).
    pub fn ledger(mut self, ledger: Arc<dyn ErasureLedger>) -> Self {
        self.ledger = Some(ledger);
        self
    }

    /// Adds a table whose rows name their subject with an `#[encx(subject)]` field of type `S`.
    pub fn table<T, DB>(mut self, repo: Repo<T, DB>) -> Self
    where
        DB: EncxDatabase,
        T: Encrypted + Schema + HasSubject + Send + Sync + 'static,
        T::Record: StoredRecord + RecordKey<Subject = S>,
    {
        self.tables.push(Box::new(repo));
        self
    }

    /// What an erasure of `subject` would find now, changing nothing: its key rows in the
    /// subject key store (live keys and tombstones) and its rows not erased per table.
    pub async fn footprint(&self, subject: &S) -> Result<SubjectFootprint> {
        let bytes = subject.record_id_bytes();
        let keys = self.crypto.subject_key_versions(&bytes).await?;
        let mut tables = Vec::with_capacity(self.tables.len());
        for table in &self.tables {
            tables.push((table.table(), table.count_rows(subject).await?));
        }
        Ok(SubjectFootprint {
            subject: subject.record_id_display(),
            live_keys: keys.iter().filter(|k| k.wrapped.is_some()).count(),
            highest_version: keys.iter().map(|k| k.version).max(),
            erased: keys.iter().any(|k| k.wrapped.is_none()),
            tables,
            not_covered: self.tables_not_covered().await?,
        })
    }

    /// Erases data subject `subject`: destroys its keys, clears its rows in every registered
    /// table, waits out the [writer window](Self::writer_window) and clears the rows that
    /// other processes wrote meanwhile (see the [module docs](crate::erasure) for the
    /// order and why it is safe to retry). Afterwards reading any of its records gives
    /// `Shredded`, lookups never return them, no row of the subject holds a DEK or a blind
    /// index (whichever process wrote it), and new data for it is refused until
    /// [`reenable`](Self::reenable), also for a subject that had no key yet.
    pub async fn erase(&self, subject: &S) -> Result<SubjectErasure> {
        self.erase_by(subject, self.actor.as_deref()).await
    }

    /// [`erase`](Self::erase), naming `actor` in this erasure's audit events instead of the
    /// eraser's [`actor`](Self::actor) (`encx erase-subject --actor`).
    pub async fn erase_by(&self, subject: &S, actor: Option<&str>) -> Result<SubjectErasure> {
        let bytes = subject.record_id_bytes();
        let not_covered = self.tables_not_covered().await?;
        if !not_covered.is_empty() {
            let refused = Err::<(), _>(crate::Error::TablesNotCovered {
                tables: not_covered,
            });
            let started = (SystemTime::now(), Instant::now());
            self.audit(subject, actor, SUBJECT_KEY_TABLE, started, &refused, |_| 0);
            refused?;
        }
        let up_to_version = self.crypto.subject_erasure_point(&bytes).await?;
        if let Some(ledger) = &self.ledger {
            ledger
                .record(&ErasureEntry::new(
                    bytes.to_vec(),
                    SystemTime::now(),
                    up_to_version,
                ))
                .await?;
        }
        let mut receipt = self
            .erase_keys_and_rows(subject, &bytes, up_to_version, actor)
            .await?;
        let window = self.effective_writer_window();
        if !window.is_zero() {
            tokio::time::sleep(window).await;
            let spared = self.spared_keys(&bytes, up_to_version).await?;
            receipt.swept = self.clear_rows(subject, &spared, actor).await?;
            receipt.swept_after = Some(window);
            receipt.at = SystemTime::now();
        }
        Ok(receipt)
    }

    /// Lets new data of an erased subject be stored again, under a new key (see
    /// [`Crypto::reenable_subject`](encx::Crypto::reenable_subject)). Records written before
    /// the erasure stay shredded, and a later [`reapply_ledger`](Self::reapply_ledger) never
    /// touches the records written under the new key.
    pub async fn reenable(&self, subject: &S) -> Result<()> {
        Ok(self
            .crypto
            .reenable_subject(&subject.record_id_bytes())
            .await?)
    }

    /// The ids of the subject's keys above `up_to_version`: made by re-enabling it after the
    /// erasure being applied, so never covered by it.
    async fn spared_keys(&self, bytes: &[u8], up_to_version: i64) -> Result<Vec<Uuid>> {
        Ok(self
            .crypto
            .subject_key_versions(bytes)
            .await?
            .into_iter()
            .filter(|row| row.version > up_to_version)
            .map(|row| row.id)
            .collect())
    }

    /// Destroys the keys of `subject` up to `up_to_version` and clears its rows but those
    /// under a later key: in one transaction with
    /// [`in_one_transaction`](Self::in_one_transaction), else keys first.
    async fn erase_keys_and_rows(
        &self,
        subject: &S,
        bytes: &[u8],
        up_to_version: i64,
        actor: Option<&str>,
    ) -> Result<SubjectErasure> {
        let spared = self.spared_keys(bytes, up_to_version).await?;
        let started = (SystemTime::now(), Instant::now());
        let (keys_destroyed, tables) = if let Some(shared) = &self.shared {
            let erased = shared
                .erase(subject, bytes, up_to_version, &spared, &self.tables)
                .await;
            self.audit(
                subject,
                actor,
                SUBJECT_KEY_TABLE,
                started,
                &erased,
                |(ids, _)| ids.len(),
            );
            let (keys_destroyed, rows) = erased?;
            self.crypto.forget_subject_keys(bytes, &keys_destroyed)?;
            let tables: Vec<_> = self.tables.iter().map(|t| t.table()).zip(rows).collect();
            for &(table, rows) in &tables {
                let cleared = Ok::<u64, crate::Error>(rows);
                self.audit(subject, actor, table, started, &cleared, |n| *n as usize);
            }
            (keys_destroyed, tables)
        } else {
            let destroyed = self.crypto.erase_subject_up_to(bytes, up_to_version).await;
            self.audit(
                subject,
                actor,
                SUBJECT_KEY_TABLE,
                started,
                &destroyed,
                |ids| ids.len(),
            );
            let destroyed = destroyed?;
            (destroyed, self.clear_rows(subject, &spared, actor).await?)
        };
        Ok(SubjectErasure {
            subject: subject.record_id_display(),
            up_to_version,
            keys_destroyed,
            tables,
            swept_after: None,
            swept: Vec::new(),
            at: SystemTime::now(),
        })
    }

    /// Sends an `erase_subject` audit event about one step.
    fn audit<R>(
        &self,
        subject: &S,
        actor: Option<&str>,
        table: &'static str,
        (at, started): (SystemTime, Instant),
        result: &Result<R, impl crate::audit::AuditFailure>,
        count: impl FnOnce(&R) -> usize,
    ) {
        let mut event = AuditEvent::new(AuditAction::EraseSubject, table, at);
        event.duration = started.elapsed();
        event.subject = Some(subject.record_id_display());
        event.actor = actor.map(str::to_owned);
        match result {
            Ok(done) => event.records = count(done) as u64,
            Err(error) => event.outcome = error.outcome(),
        }
        self.crypto.audit_sink().record(event);
    }

    /// Applies every erasure of the ledger again: destroys each erased subject's keys of the
    /// versions the entry covers (keys restored with a backup of the subject key database),
    /// never a key made when the subject was re-enabled afterwards, and clears the rows
    /// wrapped under the covered keys, never those written under a later key. A subject the
    /// restored store knows nothing of gets its tombstone back. Run it after any restore of
    /// the subject key database (or of both databases, with the ledger kept apart from them:
    /// see `docs/gdpr.md`). Returns one receipt per ledger entry; a receipt with no key
    /// destroyed means no key had come back. It does not wait for a writer window.
    pub async fn reapply_ledger(&self) -> Result<Vec<SubjectErasure>>
    where
        S: SubjectId,
    {
        let ledger = self.ledger.as_ref().ok_or_else(|| {
            crate::Error::InvalidConfig("reapply_ledger needs SubjectEraser::ledger".into())
        })?;
        let mut receipts = Vec::new();
        for entry in ledger.entries().await? {
            if entry.scope != encx::ErasureScope::Subject {
                continue; // a tenant's offboarding: TenantEraser::reapply_ledger
            }
            let subject = S::from_record_id_bytes(&entry.subject).ok_or_else(|| {
                crate::Error::InvalidConfig(
                    "an erasure ledger entry does not hold a subject id of this type".into(),
                )
            })?;
            let rows = self.crypto.subject_key_versions(&entry.subject).await?;
            let up_to_version = match entry.covered_version(&rows) {
                Some(version) => version,
                // A store restored from before the subject had a key: block it again.
                None if rows.is_empty() => {
                    self.crypto.subject_erasure_point(&entry.subject).await?
                }
                // An old entry that covers none of the stored keys: clear only the rows
                // under keys the store no longer knows.
                None => 0,
            };
            receipts.push(
                self.erase_keys_and_rows(
                    &subject,
                    &entry.subject,
                    up_to_version,
                    self.actor.as_deref(),
                )
                .await?,
            );
        }
        Ok(receipts)
    }

    /// Clears the subject's rows in every table but those under a key of `spared`, auditing
    /// each table.
    async fn clear_rows(
        &self,
        subject: &S,
        spared: &[Uuid],
        actor: Option<&str>,
    ) -> Result<Vec<(&'static str, u64)>> {
        let mut tables = Vec::with_capacity(self.tables.len());
        for table in &self.tables {
            let started = (SystemTime::now(), Instant::now());
            let cleared = table.erase_rows(subject, spared).await;
            self.audit(subject, actor, table.table(), started, &cleared, |rows| {
                *rows as usize
            });
            tables.push((table.table(), cleared?));
        }
        Ok(tables)
    }
}

/// What [`SubjectEraser::writer_window`] adds to the subject cache TTL by default: time for a
/// record sealed with a cached key just before the cache expired to reach the database.
pub const WRITER_MARGIN: Duration = Duration::from_secs(1);

/// What [`SubjectEraser::footprint`] found of a subject: counts only.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubjectFootprint {
    /// The subject's id, printable.
    pub subject: String,
    /// Its live keys in the subject key store.
    pub live_keys: usize,
    /// The highest version of its key rows (an erasure now covers up to it); `None` without
    /// any key row.
    pub highest_version: Option<i64>,
    /// Whether a key row of it is destroyed or a tombstone: it was erased before.
    pub erased: bool,
    /// Each table with the subject's rows not erased.
    pub tables: Vec<(&'static str, u64)>,
    /// Tables that encx writes and the eraser does not clear
    /// ([`SubjectEraser::tables_not_covered`]): an erasure is refused while there is one.
    pub not_covered: Vec<String>,
}

impl SubjectFootprint {
    /// True when the subject has no key row and no row in any table: nothing to erase (an
    /// id mistyped, or a request that precedes any data).
    pub fn is_unknown(&self) -> bool {
        self.highest_version.is_none() && self.tables.iter().all(|(_, n)| *n == 0)
    }
}

impl fmt::Display for SubjectFootprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_unknown() {
            return write!(f, "subject {}: no keys and no rows", self.subject);
        }
        write!(
            f,
            "subject {}: {} live key(s)",
            self.subject, self.live_keys
        )?;
        if let Some(v) = self.highest_version {
            write!(f, " (key versions up to {v})")?;
        }
        if self.erased {
            write!(f, ", erased before")?;
        }
        for (table, rows) in &self.tables {
            write!(f, "; {table}: {rows} row(s)")?;
        }
        if !self.not_covered.is_empty() {
            write!(
                f,
                "; not covered (an erasure is refused): {}",
                self.not_covered.join(", ")
            )?;
        }
        Ok(())
    }
}

/// What [`SubjectEraser::erase`] did: no plaintext, no key bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubjectErasure {
    /// The subject's id, printable.
    pub subject: String,
    /// The erasure covers the subject's keys of this version and lower.
    pub up_to_version: i64,
    /// Ids of the subject keys this call destroyed (empty when an earlier call had).
    pub keys_destroyed: Vec<Uuid>,
    /// Each registered table with the number of rows this call cleared.
    pub tables: Vec<(&'static str, u64)>,
    /// How long after destroying the keys the rows were cleared a second time (`None`
    /// without a writer window, and for [`SubjectEraser::reapply_ledger`]).
    pub swept_after: Option<Duration>,
    /// Each table with the rows that second pass cleared: rows other processes wrote with
    /// the key still in their cache.
    pub swept: Vec<(&'static str, u64)>,
    /// When the erasure finished.
    pub at: SystemTime,
}

impl fmt::Display for SubjectErasure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "erased subject {} at {}: {} key(s) destroyed (up to version {})",
            self.subject,
            crate::database::time::rfc3339(self.at),
            self.keys_destroyed.len(),
            self.up_to_version
        )?;
        write_cleared(f, &self.tables, self.swept_after, &self.swept)
    }
}

/// The rows an erasure cleared per table, and those its second pass cleared after the writer
/// window: the end of a receipt's line.
pub(crate) fn write_cleared(
    f: &mut fmt::Formatter<'_>,
    tables: &[(&'static str, u64)],
    swept_after: Option<Duration>,
    swept: &[(&'static str, u64)],
) -> fmt::Result {
    for (table, rows) in tables {
        write!(f, "; {table}: {rows} row(s) cleared")?;
    }
    if let Some(after) = swept_after {
        write!(f, "; after {} ms", after.as_millis())?;
        for (table, rows) in swept {
            write!(f, ", {table}: {rows} more row(s) cleared")?;
        }
    }
    Ok(())
}
