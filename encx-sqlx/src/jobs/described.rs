//! Tables described by name and id column rather than by a record type, for the jobs that
//! need no field of theirs: a rewrap re-wraps each row's `encx_dek` under the active key,
//! bound (as every DEK) to the table and the record id, so the table's name, its id column
//! and the id's type are all it needs (the bare `encx` binary's `--rewrap-table`). A
//! re-encryption decrypts the fields, and so needs the record type.

use std::marker::PhantomData;
use std::time::{Instant, SystemTime};

use encx::audit::{AuditAction, AuditEvent};
use encx::schema::{quote_ident, Dialect};
use encx::{Crypto, KeyInUse, KeyringKind, WrappedDek};
use sqlx::{Database, Pool};

use crate::database::census::{described_columns, key_usage_sql, table_name, DEK_COLUMN};
use crate::database::dialect::placeholder;
use crate::encx_database::EncxDatabase;
use crate::erasure::described::DescribedId;
use crate::error::{encode_error, Error, Result};
use crate::jobs::walk::{walk_then_sweep, Page, Pass};
use crate::progress::{PageDone, RewrapProgress};
use crate::repository::statements::RowLock;

/// One described table and the statements of its rewrap.
pub(crate) struct DescribedRows<DB: Database, I> {
    pool: Pool<DB>,
    crypto: Crypto,
    table: &'static str,
    actor: Option<String>,
    has_blind_indexes: bool,
    /// `SELECT id, encx_dek … WHERE <not under the active key, not a subject's> [AND id > ?]
    /// ORDER BY id LIMIT n <lock>`, by (after, lock), for the batch size given to `page_sql`.
    select: String,
    id: String,
    /// `UPDATE t SET encx_dek = ? WHERE id = ? AND encx_dek = ?`.
    replace: String,
    ids: PhantomData<fn() -> I>,
}

impl<DB: Database, I> Clone for DescribedRows<DB, I> {
    fn clone(&self) -> Self {
        DescribedRows {
            pool: self.pool.clone(),
            crypto: self.crypto.clone(),
            table: self.table,
            actor: self.actor.clone(),
            has_blind_indexes: self.has_blind_indexes,
            select: self.select.clone(),
            id: self.id.clone(),
            replace: self.replace.clone(),
            ids: PhantomData,
        }
    }
}

impl<DB: EncxDatabase, I: DescribedId> DescribedRows<DB, I> {
    /// Reads the columns of `table` from the database: a configuration error without the
    /// table, its `encx_dek` column or `id_column`.
    pub(crate) async fn read(
        pool: Pool<DB>,
        crypto: Crypto,
        table: &str,
        id_column: &str,
    ) -> Result<Self> {
        let dialect = DB::DIALECT;
        let quoted = quote_ident(dialect, table);
        let columns = described_columns(&pool, dialect, table, id_column, "id").await?;
        let id = quote_ident(dialect, id_column);
        let dek = quote_ident(dialect, DEK_COLUMN);
        let p = |n| placeholder(dialect, n);
        Ok(DescribedRows {
            select: format!(
                "SELECT {id}, {dek} FROM {quoted} WHERE {dek} IS NOT NULL \
                 AND substr({dek}, 1, {}) <> {} AND substr({dek}, 2, 1) <> {}",
                KeyInUse::PREFIX_LEN,
                p(1),
                p(2)
            ),
            replace: format!(
                "UPDATE {quoted} SET {dek} = {} WHERE {id} = {} AND {dek} = {}",
                p(1),
                p(2),
                p(3)
            ),
            id,
            has_blind_indexes: columns
                .iter()
                .any(|c| c.ends_with("_bidx") || c.ends_with("_bloom")),
            table: table_name(table),
            actor: None,
            ids: PhantomData,
            crypto,
            pool,
        })
    }

    pub(crate) fn table(&self) -> &'static str {
        self.table
    }

    pub(crate) fn has_blind_indexes(&self) -> bool {
        self.has_blind_indexes
    }

    pub(crate) fn with_actor(&self, actor: &str) -> Self {
        let mut named = self.clone();
        named.actor = Some(actor.to_owned());
        named
    }

    /// Rows per key, as [`Repo::key_usage`](crate::Repo::key_usage) counts them without its
    /// key index.
    pub(crate) async fn key_usage(&self) -> Result<Vec<(KeyInUse, u64)>> {
        let sql = key_usage_sql(DB::DIALECT, self.table);
        let mut conn = self.pool.acquire().await?;
        let rows = DB::fetch_byte_counts(&mut conn, &sql, &[KeyringKind::Subject.byte()]).await?;
        let mut usage = std::collections::BTreeMap::new();
        for (prefix, n) in rows {
            *usage
                .entry(KeyInUse::from_prefix(prefix.as_deref()))
                .or_insert(0) += u64::try_from(n).unwrap_or(0);
        }
        Ok(usage.into_iter().collect())
    }

    /// A page query: `after` the last id read, locking as `lock` says.
    fn page_sql(&self, after: bool, batch: usize, lock: RowLock) -> String {
        let after = match after {
            true => format!(" AND {} > {}", self.id, placeholder(DB::DIALECT, 3)),
            false => String::new(),
        };
        format!(
            "{}{after} ORDER BY {} LIMIT {batch}{}",
            self.select,
            self.id,
            lock.clause(DB::DIALECT)
        )
    }

    /// Re-wraps every row's DEK that is not under the active key (data subjects' rows
    /// aside), `batch` rows per transaction, as [`Repo::rewrap`](crate::Repo::rewrap) does:
    /// a walk by id that skips rows other workers hold, then a sweep that waits for them;
    /// each row written only if its DEK is unchanged since read. Safe to kill and run again.
    pub(crate) async fn rewrap(
        &self,
        batch: usize,
        progress: &mut (dyn FnMut(&RewrapProgress) + Send),
    ) -> Result<RewrapProgress> {
        if batch == 0 {
            return Err(Error::InvalidConfig(
                "rewrap needs a batch size above 0".into(),
            ));
        }
        let Some(active) = self.crypto.active_key_prefix().await? else {
            return Ok(RewrapProgress::default()); // the keyring's blobs need no rewrap (AWS KMS)
        };
        let (first, next, sweep) = (
            self.page_sql(false, batch, RowLock::SkipLocked),
            self.page_sql(true, batch, RowLock::SkipLocked),
            self.page_sql(false, batch, RowLock::Wait),
        );
        let active = &active;
        walk_then_sweep(batch, progress, |pass, last: Option<I>| {
            let sql = match (pass, &last) {
                (Pass::Sweep, _) => &sweep,
                (Pass::Walk, Some(_)) => &next,
                (Pass::Walk, None) => &first,
            };
            async move { self.page(active, sql, last.as_ref()).await }
        })
        .await
    }

    /// One page in one transaction: the rows read, what was written, the last id; `None`
    /// when no row is pending. Sends the batch's audit event.
    async fn page(&self, active: &[u8], sql: &str, after: Option<&I>) -> Result<Page<I>> {
        let (at, started) = (SystemTime::now(), Instant::now());
        let mut tx = match DB::DIALECT {
            Dialect::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            _ => self.pool.begin().await?,
        };
        let subject_kind = [KeyringKind::Subject.byte()];
        let mut args = <DB as Database>::Arguments::default();
        DB::bind_bytes(active, &mut args).map_err(encode_error)?;
        DB::bind_bytes(&subject_kind, &mut args).map_err(encode_error)?;
        if let Some(id) = after {
            id.bind_to::<DB>(&mut args).map_err(encode_error)?;
        }
        let rows = DB::fetch_rows(&mut tx, sql, args).await?;
        let mut page: Vec<(I, WrappedDek)> = Vec::with_capacity(rows.len());
        for row in &rows {
            if let Some(dek) = DB::read_wrapped_dek(row, 1)? {
                page.push((I::read_from::<DB>(row, 0)?, dek));
            }
        }
        let Some(read) = std::num::NonZeroUsize::new(page.len()) else {
            tx.commit().await?;
            return Ok(None);
        };
        let written = async {
            let mut done = PageDone::default();
            for (id, old) in &page {
                let bytes = id.record_id_bytes();
                let new = match self.crypto.rewrap_dek(self.table, &bytes, old).await {
                    Err(e) if e.kind() == encx::ErrorKind::MissingKey => {
                        done.unopenable += 1;
                        continue;
                    }
                    new => new?,
                };
                let Some(new) = new else { continue };
                let mut args = <DB as Database>::Arguments::default();
                DB::bind_wrapped_dek(&new, &mut args).map_err(encode_error)?;
                id.bind_to::<DB>(&mut args).map_err(encode_error)?;
                DB::bind_wrapped_dek(old, &mut args).map_err(encode_error)?;
                done.written += DB::execute(&mut tx, &self.replace, args).await?;
            }
            tx.commit().await?;
            Ok::<_, Error>(done)
        }
        .await;
        let mut event = AuditEvent::new(AuditAction::Rewrap, self.table, at);
        event.duration = started.elapsed();
        event.actor = self.actor.clone();
        match &written {
            Ok(done) => event.records = done.written,
            Err(e) => event.outcome = crate::audit::audited::failure(e),
        }
        self.crypto.audit_sink().record(event);
        let last = page.pop().map(|(id, _)| id);
        Ok(Some((read.get(), written?, last)))
    }
}
