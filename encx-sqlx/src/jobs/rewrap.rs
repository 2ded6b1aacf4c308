//! [`Repo::rewrap`] and [`Repo::reencrypt`]: how they walk a table is explained in the public
//! [`jobs`](crate::jobs) docs.

use std::time::{Instant, SystemTime};

use encx::audit::{AuditAction, AuditEvent};
use encx::schema::Schema;
use encx::sql::{RecordKey, StoredRecord};
use encx::{Encrypted, HasRecordId, KeyInUse, KeyringKind, RecordId, WrappedDek};
use sqlx::Database;

use crate::database::dialect::max_binds;
use crate::encx_database::EncxDatabase;
use crate::error::{encode_error, Error, Result};
use crate::jobs::walk::{walk_then_sweep, Pass};
use crate::progress::{PageDone, RewrapProgress};
use crate::repository::statements::RowLock;
use crate::repository::Repo;
use encx::schema::Dialect;

/// Rows per `UPDATE` statement of a rewrap.
const REPLACE_ROWS: usize = 500;

/// Whether `e` says a row's key cannot be opened here (destroyed or missing KEK), so that a
/// job skips the row rather than stop.
fn unopenable(e: &encx::Error) -> bool {
    e.kind() == encx::ErrorKind::MissingKey
}

/// What a rewrap asks the database for: rows whose wrapped DEK does not start with `active`
/// and is not a data subject's.
struct PendingRows {
    active: Vec<u8>,
    subject_kind: [u8; 1],
    first: String,
    next: String,
    sweep: String,
}

impl<T, DB> Repo<T, DB>
where
    DB: EncxDatabase,
    T: Encrypted + Schema,
    T::Record: StoredRecord,
{
    /// How many rows of this table each key serves, read from the wrapped DEKs' headers
    /// (nothing is unwrapped): one entry per KEK or local master key, one for all records of
    /// data subjects, one for erased rows (and, in the plaintext migration's read mode, one
    /// for rows not migrated yet), sorted. What a rewrap still has to do is every entry but
    /// the active key's. One `GROUP BY` over the table; with the key index of
    /// [`create_key_index`](Self::create_key_index) (PostgreSQL, SQLite), a `COUNT(*)` and
    /// two range scans of the index that find nothing once nothing is pending.
    ///
    /// ```no_run
    /// # use encx::Encrypted;
    /// # #[derive(Encrypted)] struct User { #[encx(id)] id: uuid::Uuid, #[encx(encrypt)] email: String }
    /// # async fn run(users: encx_sqlx::Repo<User, sqlx::Postgres>) -> encx_sqlx::Result<()> {
    /// for (key, records) in users.key_usage().await? {
    ///     println!("{key}: {records} record(s)"); // "KEK 0b5e…: 1200 record(s)", "erased: 3 record(s)"
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn key_usage(&self) -> Result<Vec<(KeyInUse, u64)>> {
        let mut conn = self.pool.acquire().await?;
        let active = match self.has_key_index(&mut conn).await? {
            true => self.crypto.active_key_prefix().await?,
            false => None, // one GROUP BY over the table
        };
        let rows = match active {
            Some(active) => {
                // COUNT(*), the erased rows and the rows under other keys: the key index
                // answers the last two, so the cost is the table's row count.
                let (all, erased) = (self.sql.count(false), self.sql.count(true));
                let total = DB::fetch_count(&mut conn, &all, Default::default()).await?;
                let erased = DB::fetch_count(&mut conn, &erased, Default::default()).await?;
                let sql = self.sql.key_usage_except();
                let mut rows = DB::fetch_byte_counts(&mut conn, &sql, &active).await?;
                let elsewhere: i64 = rows.iter().map(|(_, n)| n).sum();
                rows.push((None, erased));
                rows.push((Some(active), total - erased - elsewhere));
                rows.retain(|(_, n)| *n > 0);
                rows
            }
            None => {
                let sql = self.sql.key_usage();
                let subject_kind = [KeyringKind::Subject.byte()];
                DB::fetch_byte_counts(&mut conn, &sql, &subject_kind).await?
            }
        };
        drop(conn);
        let mut usage = std::collections::BTreeMap::new();
        for (prefix, count) in rows {
            *usage
                .entry(KeyInUse::from_prefix(prefix.as_deref()))
                .or_insert(0) += u64::try_from(count).unwrap_or(0);
        }
        if self.plaintext.is_some() {
            // Unmigrated rows have no `encx_dek` either: count them apart from erased ones.
            let unmigrated = self.unmigrated_rows().await?;
            if let Some(erased) = usage.get_mut(&KeyInUse::Erased) {
                *erased = erased.saturating_sub(unmigrated);
                if *erased == 0 {
                    usage.remove(&KeyInUse::Erased);
                }
            }
            if unmigrated > 0 {
                usage.insert(KeyInUse::Unmigrated, unmigrated);
            }
        }
        Ok(usage.into_iter().collect())
    }
}

impl<T, DB> Repo<T, DB>
where
    DB: EncxDatabase,
    T: Encrypted + Schema,
    T::Record: StoredRecord,
{
    /// Creates the key index (`<table>_encx_key` on `substr(encx_dek, 1, 18)`, PostgreSQL and
    /// SQLite), which makes [`key_usage`](Self::key_usage) (`encx status`) cost about a
    /// `COUNT(*)` on a large table once nothing is pending. Opt-in, because every change of
    /// `encx_dek` then writes the index too: a rewrap is slower with it (0.61× measured) on
    /// PostgreSQL (no HOT updates; see `docs/benchmarks.md`), and inserts a little. A
    /// configuration error on MySQL/MariaDB (no expression indexes on a prefix there).
    pub async fn create_key_index(&self) -> Result<()> {
        let ddl = encx::schema::key_index::<T>(DB::DIALECT).ok_or_else(|| {
            Error::InvalidConfig(format!(
                "table `{}`: no key index on MySQL/MariaDB (or without encx_dek)",
                self.sql.table
            ))
        })?;
        let mut conn = self.pool.acquire().await?;
        DB::execute(&mut conn, &ddl, Default::default()).await?;
        Ok(())
    }

    /// Whether this table has the key index of [`create_key_index`](Self::create_key_index).
    async fn has_key_index(&self, conn: &mut <DB as Database>::Connection) -> Result<bool> {
        let sql = match DB::DIALECT {
            Dialect::Postgres => "SELECT COUNT(*) FROM pg_indexes WHERE indexname = $1",
            Dialect::Sqlite => {
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = ?"
            }
            _ => return Ok(false),
        };
        let name = encx::schema::key_index_name(self.sql.table);
        let mut args = <DB as Database>::Arguments::default();
        DB::bind_text(&name, &mut args).map_err(encode_error)?;
        Ok(DB::fetch_count(conn, sql, args).await? > 0)
    }
}

impl<T, DB> Repo<T, DB>
where
    DB: EncxDatabase,
    T: Encrypted + Schema + HasRecordId,
    T::Record: StoredRecord,
{
    /// Re-wraps the DEK of every record not wrapped under the keyring's active key (after
    /// [`Crypto::rotate_kek`](encx::Crypto::rotate_kek), or a new local master key version),
    /// `batch_size` rows per transaction; field ciphertexts and blind indexes are not touched.
    /// Records of data subjects are skipped: their subject key wraps their DEKs. Safe to run
    /// while the application reads and writes, safe to kill and run again (see the
    /// [`jobs`](crate::jobs) docs). Sends one [`Rewrap`](AuditAction::Rewrap) audit event per batch.
    ///
    /// ```no_run
    /// # use encx::Encrypted;
    /// # #[derive(Encrypted)] struct User { #[encx(id)] id: uuid::Uuid, #[encx(encrypt)] email: String }
    /// # async fn run(users: encx_sqlx::Repo<User, sqlx::Postgres>) -> encx_sqlx::Result<()> {
    /// users.crypto().rotate_kek(Some("ops: yearly rotation")).await?;
    /// let done = users.rewrap(1_000).await?;
    /// println!("{} of {} records re-wrapped", done.rewrapped, done.scanned);
    /// assert_eq!(users.rewrap(1_000).await?.rewrapped, 0); // nothing left
    /// # Ok(()) }
    /// ```
    pub async fn rewrap(&self, batch_size: usize) -> Result<RewrapProgress> {
        self.rewrap_with_progress(batch_size, |_| {}).await
    }

    /// [`rewrap`](Self::rewrap), calling `progress` after every batch.
    pub async fn rewrap_with_progress(
        &self,
        batch_size: usize,
        progress: impl FnMut(&RewrapProgress) + Send,
    ) -> Result<RewrapProgress> {
        self.run_job(Work::Rewrap, batch_size, progress).await
    }

    /// Decrypts every record whose DEK is not wrapped under the keyring's active key and
    /// encrypts it again, under a fresh DEK (wrapped under the active key) and with its blind
    /// indexes computed under the active index key version: the DEK rotation of a whole
    /// table, and the reindex after a new index key version. Rotate the KEK first
    /// ([`Crypto::rotate_kek`](encx::Crypto::rotate_kek)) so that every record is pending;
    /// the job then knows which records are done by their DEK's key, which makes it resumable,
    /// idempotent and shareable by several workers exactly as [`rewrap`](Self::rewrap) (see the
    /// [`jobs`](crate::jobs) docs). A record is written back only if its wrapped DEK is unchanged
    /// since read (`… WHERE id = ? AND encx_dek = old`), so updates and erasures made during
    /// the job win. Records of data subjects are skipped (their subject key wraps their DEKs:
    /// [`update`](Self::update) them). `rewrapped` in the result counts the records written.
    /// Sends one [`Reencrypt`](AuditAction::Reencrypt) audit event per batch.
    ///
    /// ```no_run
    /// # use encx::Encrypted;
    /// # #[derive(Encrypted)] struct User { #[encx(id)] id: uuid::Uuid, #[encx(encrypt, searchable)] email: String }
    /// # async fn run(users: encx_sqlx::Repo<User, sqlx::Postgres>) -> encx_sqlx::Result<()> {
    /// // After adding an index key version (and deploying it everywhere):
    /// users.crypto().rotate_kek(Some("ops: reindex")).await?;
    /// let done = users.reencrypt(500).await?;
    /// println!("{} records re-encrypted and reindexed", done.rewrapped);
    /// assert_eq!(users.reencrypt(500).await?.rewrapped, 0); // nothing left
    /// # Ok(()) }
    /// ```
    pub async fn reencrypt(&self, batch_size: usize) -> Result<RewrapProgress> {
        self.reencrypt_with_progress(batch_size, |_| {}).await
    }

    /// [`reencrypt`](Self::reencrypt), calling `progress` after every batch.
    pub async fn reencrypt_with_progress(
        &self,
        batch_size: usize,
        progress: impl FnMut(&RewrapProgress) + Send,
    ) -> Result<RewrapProgress> {
        self.run_job(Work::Reencrypt, batch_size, progress).await
    }

    /// Walks, then sweeps, the rows not under the active key (for [`Work::Migrate`]: the rows
    /// not migrated yet), doing `work` on each page.
    pub(crate) async fn run_job(
        &self,
        work: Work,
        batch_size: usize,
        mut progress: impl FnMut(&RewrapProgress) + Send,
    ) -> Result<RewrapProgress> {
        if batch_size == 0 {
            return Err(Error::InvalidConfig(format!(
                "{} needs a batch size above 0",
                work.name()
            )));
        }
        let job = match work {
            Work::Migrate => {
                let plain = self.require_plaintext()?;
                // Load (or create) the active KEK before a page's transaction holds a
                // connection: on SQLite, a KEK created inside it would wait for its lock.
                self.crypto.active_key_prefix().await?;
                PendingRows {
                    active: Vec::new(),
                    subject_kind: [KeyringKind::Subject.byte()],
                    first: plain.page(false, batch_size, RowLock::SkipLocked),
                    next: plain.page(true, batch_size, RowLock::SkipLocked),
                    sweep: plain.page(false, batch_size, RowLock::Wait),
                }
            }
            Work::Rewrap | Work::Reencrypt => {
                let scoped = self.tenant.is_some();
                if self.sql.tenant_column.is_some() && !scoped {
                    return Err(Error::InvalidConfig(format!(
                        "the rows of `{}` are wrapped under their tenants' keys: {} each \
                         tenant's rows through Repo::in_tenant (or Repo::rewrap_tenants)",
                        self.sql.table,
                        work.name()
                    )));
                }
                let Some(active) = self.crypto.active_key_prefix().await? else {
                    // the keyring's blobs need no rewrap (AWS KMS)
                    return Ok(RewrapProgress::default());
                };
                PendingRows {
                    active,
                    subject_kind: [KeyringKind::Subject.byte()],
                    first: self
                        .sql
                        .pending_page(false, batch_size, RowLock::SkipLocked, scoped)?,
                    next: self
                        .sql
                        .pending_page(true, batch_size, RowLock::SkipLocked, scoped)?,
                    sweep: self
                        .sql
                        .pending_page(false, batch_size, RowLock::Wait, scoped)?,
                }
            }
        };
        let job = &job;
        walk_then_sweep(
            batch_size,
            &mut progress,
            |pass, last: Option<T::Record>| async move {
                let sql = match (pass, &last) {
                    (Pass::Sweep, _) => &job.sweep,
                    (Pass::Walk, Some(_)) => &job.next,
                    (Pass::Walk, None) => &job.first,
                };
                let page = self.next_page(job, work, sql, last.as_ref()).await?;
                Ok(page.map(|(page, written)| (page.len(), written, page.into_iter().last())))
            },
        )
        .await
    }

    /// Reads the next page of pending rows with `sql` (after `last`) and does `work` on it, in
    /// one transaction; `None` when there is none. Sends the batch's audit event.
    async fn next_page(
        &self,
        job: &PendingRows,
        work: Work,
        sql: &str,
        last: Option<&T::Record>,
    ) -> Result<Option<(Vec<T::Record>, PageDone)>> {
        let at = SystemTime::now();
        let started = Instant::now();
        // SQLite: take the write lock first, so that a writer of the application and the job
        // never deadlock upgrading read transactions ("database is locked").
        let mut tx = match DB::DIALECT {
            Dialect::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            _ => self.pool.begin().await?,
        };
        let mut args = <DB as Database>::Arguments::default();
        if !matches!(work, Work::Migrate) {
            DB::bind_bytes(&job.active, &mut args).map_err(encode_error)?;
            DB::bind_bytes(&job.subject_kind, &mut args).map_err(encode_error)?;
            if let Some(tenant) = &self.tenant {
                (tenant.bind)(&mut args).map_err(encode_error)?;
            }
        }
        if let Some(id) = last.and_then(RecordKey::key) {
            DB::bind_key::<T::Record>(id, &mut args).map_err(encode_error)?;
        }
        let page: Vec<T::Record> = match work {
            Work::Migrate => self.encrypt_plaintext_rows(&mut tx, sql, args).await?,
            _ => DB::fetch_records(&mut tx, sql, args).await?,
        };
        if page.is_empty() {
            tx.commit().await?;
            return Ok(None);
        }
        let written = match work {
            Work::Rewrap => self.rewrap_page(&mut tx, &page).await,
            Work::Reencrypt => self.reencrypt_page(&mut tx, &page).await,
            Work::Migrate => self
                .migrate_page(&mut tx, &page)
                .await
                .map(|written| PageDone {
                    written,
                    unopenable: 0,
                }),
        };
        let written = match written {
            Ok(rows) => tx.commit().await.map(|()| rows).map_err(Error::from),
            Err(e) => Err(e),
        };
        let action = match work {
            Work::Rewrap => AuditAction::Rewrap,
            Work::Reencrypt => AuditAction::Reencrypt,
            Work::Migrate => AuditAction::Migrate,
        };
        let mut event = AuditEvent::new(action, self.sql.table, at);
        event.duration = started.elapsed();
        event.actor = self.actor.as_deref().map(str::to_owned);
        match &written {
            Ok(rows) => event.records = rows.written,
            Err(e) => event.outcome = crate::audit::audited::failure(e),
        }
        self.crypto.audit_sink().record(event);
        Ok(Some((page, written?)))
    }

    /// Re-wraps the DEKs of one page that need it, on `conn`; the rows written.
    async fn rewrap_page(
        &self,
        conn: &mut <DB as Database>::Connection,
        page: &[T::Record],
    ) -> Result<PageDone> {
        let mut changes: Vec<(&<T::Record as RecordKey>::Id, &WrappedDek, WrappedDek)> = Vec::new();
        let mut skipped = 0;
        for record in page {
            let (Some(id), Some(old)) = (record.key(), record.wrapped_dek()) else {
                continue;
            };
            let new = match self
                .crypto
                .rewrap_dek(self.sql.table, &id.record_id_bytes(), old)
                .await
            {
                Err(e) if unopenable(&e) => {
                    skipped += 1;
                    continue;
                }
                new => new?,
            };
            if let Some(new) = new {
                changes.push((id, old, new));
            }
        }
        let per_statement = (max_binds(DB::DIALECT) / 3).min(REPLACE_ROWS);
        let mut written = 0;
        for chunk in changes.chunks(per_statement) {
            let sql = self.sql.replace_deks(chunk.len())?;
            let mut args = <DB as Database>::Arguments::default();
            for (id, old, new) in chunk {
                DB::bind_wrapped_dek(new, &mut args).map_err(encode_error)?;
                DB::bind_key::<T::Record>(*id, &mut args).map_err(encode_error)?;
                DB::bind_wrapped_dek(old, &mut args).map_err(encode_error)?;
            }
            written += DB::execute(conn, &sql, args).await?;
        }
        Ok(PageDone {
            written,
            unopenable: skipped,
        })
    }

    /// Decrypts each record of one page and writes it back encrypted anew, on `conn`, if its
    /// wrapped DEK is unchanged (batched compare-and-swap `UPDATE`s); the rows written.
    async fn reencrypt_page(
        &self,
        conn: &mut <DB as Database>::Connection,
        page: &[T::Record],
    ) -> Result<PageDone> {
        let mut changes: Vec<(T::Record, &WrappedDek)> = Vec::with_capacity(page.len());
        let mut skipped = 0;
        for record in page {
            let Some(old) = record.wrapped_dek() else {
                continue;
            };
            let value = match T::decrypt(record, &self.crypto).await {
                Err(e) if unopenable(&e) => {
                    skipped += 1;
                    continue;
                }
                value => value?,
            };
            changes.push((value.encrypt(&self.crypto).await?, old));
        }
        let per_row = self.sql.column_count + 2;
        let per_statement = (max_binds(DB::DIALECT) / per_row).clamp(1, REPLACE_ROWS);
        let mut written = 0;
        for chunk in changes.chunks(per_statement) {
            let sql = self.sql.replace_rows(chunk.len())?;
            let mut args = <DB as Database>::Arguments::default();
            for (fresh, old) in chunk {
                let id = fresh.key().ok_or_else(|| {
                    Error::InvalidConfig(format!(
                        "table `{}` has no #[encx(id)] field: reencrypt needs one",
                        self.sql.table
                    ))
                })?;
                DB::bind_record(fresh, &mut args).map_err(encode_error)?;
                DB::bind_key::<T::Record>(id, &mut args).map_err(encode_error)?;
                DB::bind_wrapped_dek(old, &mut args).map_err(encode_error)?;
            }
            written += DB::execute(conn, &sql, args).await?;
        }
        Ok(PageDone {
            written,
            unopenable: skipped,
        })
    }
}

/// What a job does with each page of pending rows.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Work {
    /// Re-wrap each DEK under the active key ([`Repo::rewrap`]).
    Rewrap,
    /// Decrypt and encrypt each record anew ([`Repo::reencrypt`]).
    Reencrypt,
    /// Encrypt each row from its plaintext columns ([`Repo::migrate`]).
    Migrate,
}

impl Work {
    /// The job's name, for messages.
    fn name(self) -> &'static str {
        match self {
            Work::Rewrap => "rewrap",
            Work::Reencrypt => "reencrypt",
            Work::Migrate => "migrate",
        }
    }
}
