//! Plaintext migration, the jobs: [`Repo::migrate`] and [`Repo::verify`] (explained in the
//! public [`jobs`](crate::jobs) docs).
// The `'q` lifetimes are from sqlx 0.8, whose arguments borrowed their values; 0.9's own
// them. Kept for now (a mechanical cleanup), hence the allowance.
#![allow(clippy::needless_lifetimes, clippy::extra_unused_lifetimes)]

use std::time::{Instant, SystemTime};

use encx::audit::{AuditAction, AuditEvent};
use encx::schema::Schema;
use encx::sql::{RecordKey, StoredRecord};
use encx::{Encrypted, HasRecordId};
use sqlx::Database;

use crate::database::dialect::max_binds;
use crate::encx_database::EncxDatabase;
use crate::error::{encode_error, Error, Result};
use crate::jobs::rewrap::Work;
use crate::progress::RewrapProgress;
use crate::repository::plaintext::RowState;
use crate::repository::Repo;

/// Rows per `UPDATE` statement of a migration.
const MIGRATE_ROWS: usize = 500;

/// Ids kept in a [`VerifyReport`] per kind of failure.
const IDS_KEPT: usize = 100;

/// What [`Repo::verify`] found: counts, and the ids (never values) of the first rows that
/// failed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifyReport {
    /// Migrated rows decrypted and compared with their plaintext.
    pub checked: u64,
    /// Of those, rows whose decrypted value differs from the plaintext.
    pub mismatched: u64,
    /// Of those, rows that failed an integrity check (tampered, or moved).
    pub unreadable: u64,
    /// The ids of the first mismatched and unreadable rows (at most 100 each).
    pub failed_ids: Vec<String>,
    /// Rows not migrated yet.
    pub unmigrated: u64,
    /// Migrated rows whose plaintext encx cleared since (an `update` or `erase` in the
    /// migration's read mode): nothing to compare.
    pub retired: u64,
    /// Erased rows (their record, or their data subject).
    pub erased: u64,
}

impl VerifyReport {
    /// True when every migrated row decrypts to its plaintext and no row is left to migrate.
    pub fn is_complete(&self) -> bool {
        self.mismatched == 0 && self.unreadable == 0 && self.unmigrated == 0
    }
}

impl<T, DB> Repo<T, DB>
where
    DB: EncxDatabase,
    T: Encrypted + Schema + HasRecordId,
    T::Record: StoredRecord,
{
    /// Encrypts every row not migrated yet from its plaintext columns (read through the
    /// [`Plaintext`](crate::Plaintext) source of [`with_plaintext`](Self::with_plaintext)) into
    /// encx's columns, `batch_size` rows per transaction, each row under a fresh DEK with its
    /// blind indexes. Resumable, idempotent and shareable by several workers (see the
    /// [`jobs`](crate::jobs) docs); `rewrapped` in the result counts the rows written. Sends one
    /// [`Migrate`](AuditAction::Migrate) audit event per batch.
    ///
    /// ```no_run
    /// # use encx::Encrypted;
    /// # #[derive(Debug, PartialEq, Encrypted)] #[encx(table = "users")] struct User { #[encx(id)] id: i64, #[encx(encrypt)] email: String }
    /// # #[derive(sqlx::FromRow)] struct PlainUser { id: i64, email_plain: String }
    /// # async fn run(users: encx_sqlx::Repo<User, sqlx::Postgres>) -> encx_sqlx::Result<()> {
    /// use encx_sqlx::Plaintext;
    /// let source = Plaintext::new(|p: PlainUser| User { id: p.id, email: p.email_plain })
    ///     .column("email", "email_plain");
    /// let users = users.with_plaintext(source)?;
    /// let done = users.migrate(500).await?;
    /// println!("{} rows encrypted", done.rewrapped);
    /// assert!(users.verify(1_000).await?.is_complete());
    /// # Ok(()) }
    /// ```
    pub async fn migrate(&self, batch_size: usize) -> Result<RewrapProgress> {
        self.migrate_with_progress(batch_size, |_| {}).await
    }

    /// [`migrate`](Self::migrate), calling `progress` after every batch.
    pub async fn migrate_with_progress(
        &self,
        batch_size: usize,
        progress: impl FnMut(&RewrapProgress) + Send,
    ) -> Result<RewrapProgress> {
        self.run_job(Work::Migrate, batch_size, progress).await
    }

    /// Decrypts every migrated row that still has plaintext and compares it with the value
    /// its plaintext columns give, `batch_size` rows per read (no locks, nothing written);
    /// also counts the rows not migrated yet, retired and erased. Needs `T: PartialEq`.
    /// Sends one [`Decrypt`](AuditAction::Decrypt) audit event.
    pub async fn verify(&self, batch_size: usize) -> Result<VerifyReport>
    where
        T: PartialEq,
    {
        self.verify_with_progress(batch_size, |_| {}).await
    }

    /// [`verify`](Self::verify), calling `progress` after every page with the report so far.
    pub async fn verify_with_progress(
        &self,
        batch_size: usize,
        mut progress: impl FnMut(&VerifyReport) + Send,
    ) -> Result<VerifyReport>
    where
        T: PartialEq,
    {
        if batch_size == 0 {
            return Err(Error::InvalidConfig(
                "verify needs a batch size above 0".into(),
            ));
        }
        let plain = self.require_plaintext()?;
        let work = async {
            let mut report = VerifyReport::default();
            let (first, next) = (
                plain.verify_page(false, batch_size),
                plain.verify_page(true, batch_size),
            );
            let mut last: Option<T::Record> = None;
            loop {
                let mut args = <DB as Database>::Arguments::default();
                if let Some(id) = last.as_ref().and_then(RecordKey::key) {
                    DB::bind_key::<T::Record>(id, &mut args).map_err(encode_error)?;
                }
                let sql = if last.is_some() { &next } else { &first };
                let rows = {
                    let mut conn = self.pool.acquire().await?;
                    DB::fetch_rows(&mut conn, sql, args).await?
                };
                for row in &rows {
                    let record: T::Record = DB::record_from_row(row)?;
                    let expected = plain.value(row)?;
                    self.compare(&record, &expected, &mut report).await?;
                    last = Some(record);
                }
                progress(&report);
                if rows.len() < batch_size {
                    break;
                }
            }
            report.unmigrated = self.count_rows(RowState::Unmigrated).await?;
            report.retired = self.count_rows(RowState::Retired).await?;
            report.erased += self.count_rows(RowState::Erased).await?;
            Ok(report)
        };
        let at = SystemTime::now();
        let started = Instant::now();
        let result: Result<VerifyReport> = work.await;
        let mut event = AuditEvent::new(AuditAction::Decrypt, self.sql.table, at);
        event.duration = started.elapsed();
        event.actor = self.actor.as_deref().map(str::to_owned);
        match &result {
            Ok(report) => event.records = report.checked,
            Err(e) => event.outcome = crate::audit::audited::failure(e),
        }
        self.crypto.audit_sink().record(event);
        result
    }

    /// Decrypts `record` and counts it in `report` as matching `expected` or not.
    async fn compare(
        &self,
        record: &T::Record,
        expected: &T,
        report: &mut VerifyReport,
    ) -> Result<()>
    where
        T: PartialEq,
    {
        let failed = match T::decrypt(record, &self.crypto).await {
            Ok(value) => {
                report.checked += 1;
                if value == *expected {
                    return Ok(());
                }
                report.mismatched += 1;
                report.mismatched
            }
            Err(e) if e.is_shredded() => {
                report.erased += 1;
                return Ok(());
            }
            Err(e) if e.is_tampered() => {
                report.checked += 1;
                report.unreadable += 1;
                report.unreadable
            }
            Err(e) => return Err(e.into()),
        };
        if failed <= IDS_KEPT as u64 {
            report.failed_ids.push(T::record_id_display(record));
        }
        Ok(())
    }

    /// Reads a page of unmigrated rows with `sql` and encrypts each from its plaintext.
    pub(crate) async fn encrypt_plaintext_rows<'q>(
        &self,
        conn: &mut <DB as Database>::Connection,
        sql: &str,
        args: <DB as Database>::Arguments,
    ) -> Result<Vec<T::Record>> {
        let plain = self.require_plaintext()?;
        let rows = DB::fetch_rows(conn, sql, args).await?;
        let mut records = Vec::with_capacity(rows.len());
        for row in &rows {
            records.push(plain.value(row)?.encrypt(&self.crypto).await?);
        }
        Ok(records)
    }

    /// Writes freshly encrypted `records` into their rows, each only if still unmigrated
    /// (batched `UPDATE`s); the rows written.
    pub(crate) async fn migrate_page(
        &self,
        conn: &mut <DB as Database>::Connection,
        records: &[T::Record],
    ) -> Result<u64> {
        let marker = &self.require_plaintext()?.marker;
        let per_row = self.sql.column_count + 1;
        let per_statement = (max_binds(DB::DIALECT) / per_row).clamp(1, MIGRATE_ROWS);
        let mut written = 0;
        for chunk in records.chunks(per_statement) {
            let sql = self.sql.migrate_rows(chunk.len(), marker)?;
            let mut args = <DB as Database>::Arguments::default();
            for record in chunk {
                let id = record.key().ok_or_else(|| {
                    Error::InvalidConfig(format!(
                        "table `{}` has no #[encx(id)] field: migrate needs one",
                        self.sql.table
                    ))
                })?;
                DB::bind_record(record, &mut args).map_err(encode_error)?;
                DB::bind_key::<T::Record>(id, &mut args).map_err(encode_error)?;
            }
            written += DB::execute(conn, &sql, args).await?;
        }
        Ok(written)
    }
}
