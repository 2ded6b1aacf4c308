//! [`SubjectEraser`]: erase a data subject across every table that carries subjects, with a
//! receipt.
//!
//! The order is what makes an interrupted erasure safe to retry, whether or not the subject
//! keys share a database with the data:
//! 0. with an [`ErasureLedger`], the erasure is recorded there first (subject id and time);
//! 1. the subject's keys are destroyed in the subject key store (one transaction): from this
//!    moment every record of the subject, in every table and every copy of the data that does
//!    not hold the subject key store, is unreadable;
//! 2. each registered table's rows of the subject get `encx_dek` and every blind index set to
//!    NULL, so lookups stop finding them (they were already unreadable).
//!
//! A crash after step 0 or 1 leaves some work undone; calling [`SubjectEraser::erase`] again
//! records the erasure once more (harmless), finds no key left to destroy, and finishes step 2.
//!
//! Where the subject keys and every registered table share one database,
//! [`SubjectEraser::in_one_transaction`] runs steps 1 and 2 in a single transaction of that
//! database: either the keys are destroyed and every row is cleared, or nothing changed.
//! After the subject key database is restored from a backup, [`SubjectEraser::reapply_ledger`]
//! destroys again every key the ledger says was erased.

use std::any::Any;
use std::fmt;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use encx::audit::{AuditAction, AuditEvent, AuditOutcome};
use encx::keys::subject::SUBJECT_KEY_TABLE;
use encx::schema::Schema;
use encx::sql::{RecordKey, StoredRecord};
use encx::{Crypto, Encrypted, ErasureEntry, ErasureLedger, HasSubject, RecordId, SubjectId};
use futures_util::future::BoxFuture;
use sqlx::{Database, Pool};
use uuid::Uuid;

use crate::dialect::EncxDatabase;
use crate::error::Result;
use crate::repo::Repo;

/// A table whose rows name their data subject with a value of type `S`.
trait SubjectTable<S>: Send + Sync {
    fn table(&self) -> &'static str;
    fn erase_rows<'a>(&'a self, subject: &'a S) -> BoxFuture<'a, Result<u64>>;
    /// `erase_rows` on `conn`, a connection of the database engine the eraser's one
    /// transaction runs in (an error when it is not this table's).
    fn erase_rows_in<'a>(
        &'a self,
        conn: &'a mut (dyn Any + Send),
        subject: &'a S,
    ) -> BoxFuture<'a, Result<u64>>;
}

impl<T, DB, S> SubjectTable<S> for Repo<T, DB>
where
    DB: EncxDatabase,
    T: Encrypted + Schema + HasSubject + Send + Sync,
    T::Record: StoredRecord + RecordKey<Subject = S>,
    S: Sync,
{
    fn table(&self) -> &'static str {
        <T as Schema>::TABLE
    }

    fn erase_rows<'a>(&'a self, subject: &'a S) -> BoxFuture<'a, Result<u64>> {
        Box::pin(self.erase_subject_rows(subject))
    }

    fn erase_rows_in<'a>(
        &'a self,
        conn: &'a mut (dyn Any + Send),
        subject: &'a S,
    ) -> BoxFuture<'a, Result<u64>> {
        Box::pin(async move {
            let conn = conn
                .downcast_mut::<<DB as Database>::Connection>()
                .ok_or_else(|| {
                    crate::Error::InvalidConfig(format!(
                        "SubjectEraser::in_one_transaction: table `{}` is in a {} database, \
                         not in the transaction's",
                        <T as Schema>::TABLE,
                        DB::NAME
                    ))
                })?;
            self.erase_subject_rows_on(conn, subject).await
        })
    }
}

/// The database that holds the subject keys and every registered table, for erasures in one
/// transaction.
trait SharedDatabase<S>: Send + Sync {
    /// Destroys the keys of `subject` made up to `created_up_to` and clears its rows in every
    /// table, in one transaction: the keys destroyed and the rows cleared per table.
    fn erase<'a>(
        &'a self,
        subject: &'a S,
        subject_bytes: &'a [u8],
        created_up_to: Option<SystemTime>,
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
        created_up_to: Option<SystemTime>,
        tables: &'a [Box<dyn SubjectTable<S>>],
    ) -> BoxFuture<'a, Result<(Vec<Uuid>, Vec<u64>)>> {
        Box::pin(async move {
            let mut tx = self.begin().await?;
            let keys = DB::erase_subject_keys(&mut tx, subject_bytes, created_up_to).await?;
            let mut rows = Vec::with_capacity(tables.len());
            for table in tables {
                let conn: &mut <DB as Database>::Connection = &mut tx;
                rows.push(table.erase_rows_in(conn, subject).await?);
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
        }
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

    /// The registered tables' names.
    pub fn table_names(&self) -> Vec<&'static str> {
        self.tables.iter().map(|t| t.table()).collect()
    }

    /// Names `actor` in the audit events of every erasure (see [`encx::audit`]).
    pub fn actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = Some(actor.into());
        self
    }

    /// Records every erasure in `ledger` before it happens (see the [module docs](self)).
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

    /// Erases data subject `subject`: destroys its keys, then clears its rows in every
    /// registered table (see the [module docs](self) for the order and why it is safe to
    /// retry). Afterwards reading any of its records gives `Shredded`, lookups never return
    /// them, and new data for it is refused until
    /// [`Crypto::reenable_subject`](encx::Crypto::reenable_subject).
    pub async fn erase(&self, subject: &S) -> Result<SubjectErasure> {
        self.erase_by(subject, self.actor.as_deref()).await
    }

    /// [`erase`](Self::erase), naming `actor` in this erasure's audit events instead of the
    /// eraser's [`actor`](Self::actor) (`encx erase-subject --actor`).
    pub async fn erase_by(&self, subject: &S, actor: Option<&str>) -> Result<SubjectErasure> {
        let bytes = subject.record_id_bytes();
        if let Some(ledger) = &self.ledger {
            ledger
                .record(&ErasureEntry {
                    subject: bytes.to_vec(),
                    erased_at: SystemTime::now(),
                })
                .await?;
        }
        self.erase_keys_and_rows(subject, &bytes, None, actor).await
    }

    /// Destroys the keys of `subject` made up to `created_up_to` and clears its rows: in one
    /// transaction with [`in_one_transaction`](Self::in_one_transaction), else keys first.
    async fn erase_keys_and_rows(
        &self,
        subject: &S,
        bytes: &[u8],
        created_up_to: Option<SystemTime>,
        actor: Option<&str>,
    ) -> Result<SubjectErasure> {
        let started = (SystemTime::now(), Instant::now());
        if let Some(shared) = &self.shared {
            let erased = shared
                .erase(subject, bytes, created_up_to, &self.tables)
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
            let tables = self.tables.iter().map(|t| t.table()).zip(rows).collect();
            for &(table, rows) in &tables {
                let cleared = Ok::<u64, crate::Error>(rows);
                self.audit(subject, actor, table, started, &cleared, |n| *n as usize);
            }
            return Ok(SubjectErasure {
                subject: subject.record_id_display(),
                keys_destroyed,
                tables,
                at: SystemTime::now(),
            });
        }
        let destroyed = match created_up_to {
            None => self.crypto.erase_subject(bytes).await,
            Some(at) => self.crypto.erase_subject_as_of(bytes, at).await,
        };
        self.audit(
            subject,
            actor,
            SUBJECT_KEY_TABLE,
            started,
            &destroyed,
            |ids| ids.len(),
        );
        self.clear_rows(subject, destroyed?, actor).await
    }

    /// Sends an `erase_subject` audit event about one step.
    fn audit<R>(
        &self,
        subject: &S,
        actor: Option<&str>,
        table: &'static str,
        (at, started): (SystemTime, Instant),
        result: &Result<R, impl ErrorClass>,
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

    /// Applies every erasure of the ledger again: destroys each erased subject's keys that
    /// were created up to its erasure (keys restored with a backup of the subject key
    /// database), never a key made when the subject was re-enabled afterwards, and clears
    /// the rows in the registered tables. Run it after any restore of the subject key
    /// database. Returns one receipt per ledger entry; a receipt with no key destroyed means
    /// nothing had come back.
    pub async fn reapply_ledger(&self) -> Result<Vec<SubjectErasure>>
    where
        S: SubjectId,
    {
        let ledger = self.ledger.as_ref().ok_or_else(|| {
            crate::Error::InvalidConfig("reapply_ledger needs SubjectEraser::ledger".into())
        })?;
        let mut receipts = Vec::new();
        for entry in ledger.entries().await? {
            let subject = S::from_record_id_bytes(&entry.subject).ok_or_else(|| {
                crate::Error::InvalidConfig(
                    "an erasure ledger entry does not hold a subject id of this type".into(),
                )
            })?;
            receipts.push(
                self.erase_keys_and_rows(
                    &subject,
                    &entry.subject,
                    Some(entry.erased_at),
                    self.actor.as_deref(),
                )
                .await?,
            );
        }
        Ok(receipts)
    }

    async fn clear_rows(
        &self,
        subject: &S,
        keys_destroyed: Vec<Uuid>,
        actor: Option<&str>,
    ) -> Result<SubjectErasure> {
        let mut tables = Vec::with_capacity(self.tables.len());
        for table in &self.tables {
            let started = (SystemTime::now(), Instant::now());
            let cleared = table.erase_rows(subject).await;
            self.audit(subject, actor, table.table(), started, &cleared, |rows| {
                *rows as usize
            });
            tables.push((table.table(), cleared?));
        }
        Ok(SubjectErasure {
            subject: subject.record_id_display(),
            keys_destroyed,
            tables,
            at: SystemTime::now(),
        })
    }
}

/// The class of an error, for audit events.
trait ErrorClass {
    fn outcome(&self) -> AuditOutcome;
}

impl ErrorClass for encx::Error {
    fn outcome(&self) -> AuditOutcome {
        AuditOutcome::Failed(self.kind())
    }
}

impl ErrorClass for crate::Error {
    fn outcome(&self) -> AuditOutcome {
        self.crypto_kind()
            .map_or(AuditOutcome::FailedElsewhere, AuditOutcome::Failed)
    }
}

/// What [`SubjectEraser::erase`] did: no plaintext, no key bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubjectErasure {
    /// The subject's id, printable.
    pub subject: String,
    /// Ids of the subject keys this call destroyed (empty when an earlier call had).
    pub keys_destroyed: Vec<Uuid>,
    /// Each registered table with the number of rows this call cleared.
    pub tables: Vec<(&'static str, u64)>,
    /// When the erasure finished.
    pub at: SystemTime,
}

impl fmt::Display for SubjectErasure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = self
            .at
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        write!(
            f,
            "erased subject {} at {at} (unix seconds): {} key(s) destroyed",
            self.subject,
            self.keys_destroyed.len()
        )?;
        for (table, rows) in &self.tables {
            write!(f, "; {table}: {rows} row(s) cleared")?;
        }
        Ok(())
    }
}
