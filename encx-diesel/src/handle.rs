//! [`Encx`]: rows encrypted for Diesel's `insert_into(...).values(...)` and
//! `update(...).set(...)`, rows decrypted after Diesel's `load`, blind-index values for its
//! `filter(...eq_any(...))` and the re-check of what that returns.

use std::fmt;
use std::time::{Instant, SystemTime};

use encx::audit::{AuditAction, AuditEvent, AuditOutcome};
use encx::{CompoundIndex, Crypto, Encrypted, Indexable, RecordId, SearchField};
use encx_sqlx::{Lookup, RejectedRow};
use tokio::runtime::Handle;

use crate::error::{Error, Result};
use crate::row::{DieselEncrypted, RowOf};
use crate::wait::wait;

/// encx for Diesel: one per process (cheap to clone). Synchronous, as Diesel is.
///
/// `runtime` is the tokio runtime encx's key store runs on (its sqlx pool on `encx_keks`,
/// the AWS KMS client). With the keys in memory (the KEK cache, the index key), every method
/// returns without touching it; a cold key load waits on it (see the crate documentation).
#[derive(Clone)]
pub struct Encx {
    crypto: Crypto,
    runtime: Handle,
    actor: Option<String>,
}

impl fmt::Debug for Encx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Encx")
            .field("crypto", &self.crypto)
            .field("actor", &self.actor)
            .finish_non_exhaustive()
    }
}

impl Encx {
    /// encx over `crypto`, waiting for cold key loads on `runtime`.
    pub fn new(crypto: Crypto, runtime: Handle) -> Self {
        Encx {
            crypto,
            runtime,
            actor: None,
        }
    }

    /// Names who acts in the audit events (a user, a service, a job), as
    /// `encx_sqlx::Repo::with_actor` does.
    pub fn with_actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = Some(actor.into());
        self
    }

    /// The cryptography this handle encrypts with.
    pub fn crypto(&self) -> &Crypto {
        &self.crypto
    }

    fn record(
        &self,
        action: AuditAction,
        table: &'static str,
        record: Option<String>,
        records: u64,
        started: Instant,
        error: Option<&Error>,
    ) {
        {
            let sink = self.crypto.audit_sink();
            let mut event = AuditEvent::new(action, table, SystemTime::now());
            event.record = record;
            event.actor = self.actor.clone();
            event.records = records;
            event.duration = started.elapsed();
            event.outcome = match error {
                None => AuditOutcome::Ok,
                Some(Error::Crypto(e)) => AuditOutcome::Failed(e.kind()),
                Some(_) => AuditOutcome::FailedElsewhere,
            };
            sink.record(event.escaped());
        }
    }

    /// `value` encrypted under a fresh data key, as the row to insert
    /// (`diesel::insert_into(users::table).values(&row)`) or to write over its old row
    /// (`diesel::update(users::table.find(id)).set(&row)`: every column, the old key gone).
    pub fn encrypt<T: DieselEncrypted>(&self, value: &T) -> Result<RowOf<T>> {
        let started = Instant::now();
        let result = wait(&self.runtime, value.encrypt(&self.crypto))
            .map(T::into_row)
            .map_err(Error::from);
        self.record(
            AuditAction::Encrypt,
            T::TABLE,
            Some(value.id_display()),
            1,
            started,
            result.as_ref().err(),
        );
        result
    }

    /// Every value of `values` encrypted, each under its own data key.
    pub fn encrypt_all<T: DieselEncrypted>(&self, values: &[T]) -> Result<Vec<RowOf<T>>> {
        values.iter().map(|v| self.encrypt(v)).collect()
    }

    /// A row loaded through Diesel, decrypted. An erased row fails with an error whose
    /// `is_shredded()` is true, an altered or moved one with `is_tampered()`.
    pub fn decrypt<T: DieselEncrypted>(&self, row: RowOf<T>) -> Result<T> {
        let started = Instant::now();
        let mut shown = None;
        let result = T::from_row(row)
            .and_then(|record| {
                shown = Some(T::record_id_display(&record));
                wait(&self.runtime, T::decrypt(&record, &self.crypto))
            })
            .map_err(Error::from);
        self.record(
            AuditAction::Decrypt,
            T::TABLE,
            shown,
            result.is_ok() as u64,
            started,
            result.as_ref().err(),
        );
        result
    }

    /// Rows decrypted; the first failure fails all.
    pub fn decrypt_all<T: DieselEncrypted>(&self, rows: Vec<RowOf<T>>) -> Result<Vec<T>> {
        rows.into_iter().map(|r| self.decrypt(r)).collect()
    }

    /// The blind-index values to look `value` up by, one per index key version, for Diesel's
    /// `filter(users::email_bidx.eq_any(...))`. The rows it selects are candidates: pass
    /// them to [`recheck`](Self::recheck).
    pub fn blind_indexes<T, V>(&self, field: SearchField<T>, value: &V) -> Result<Vec<Vec<u8>>>
    where
        V: Indexable + ?Sized,
    {
        Ok(field
            .lookup(&self.crypto, value)?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// The compound-index values for `values` (in the index's field order).
    pub fn compound_indexes<T>(
        &self,
        index: CompoundIndex<T>,
        values: &[&dyn Indexable],
    ) -> Result<Vec<Vec<u8>>> {
        Ok(index
            .lookup(&self.crypto, values)?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Decrypts the candidate rows a blind-index filter selected and keeps those whose `field`
    /// really equals `value` (a blind index is truncated, so a few candidates hold other
    /// values). Erased rows are skipped; a row that fails an integrity check is never
    /// returned and does not hide the others: it is logged (`tracing`, `warn`, target
    /// `encx_diesel::integrity`) and listed in [`Lookup::rejected`].
    pub fn recheck<T, V>(
        &self,
        field: SearchField<T>,
        value: &V,
        rows: Vec<RowOf<T>>,
    ) -> Result<Lookup<T>>
    where
        T: DieselEncrypted,
        V: Indexable + ?Sized,
    {
        self.keep(
            rows,
            |t| field.matches(&self.crypto, t, value),
            field.column(),
        )
    }

    /// [`recheck`](Self::recheck) for a compound index.
    pub fn recheck_all<T: DieselEncrypted>(
        &self,
        index: CompoundIndex<T>,
        values: &[&dyn Indexable],
        rows: Vec<RowOf<T>>,
    ) -> Result<Lookup<T>> {
        self.keep(
            rows,
            |t| index.matches(&self.crypto, t, values),
            index.column(),
        )
    }

    fn keep<T: DieselEncrypted>(
        &self,
        rows: Vec<RowOf<T>>,
        matches: impl Fn(&T) -> bool,
        column: &'static str,
    ) -> Result<Lookup<T>> {
        let started = Instant::now();
        let work = || -> Result<Lookup<T>> {
            let mut lookup = Lookup::default();
            for row in rows {
                let record = T::from_row(row)?;
                match wait(&self.runtime, T::decrypt(&record, &self.crypto)) {
                    Ok(t) if matches(&t) => lookup.found.push(t),
                    Ok(_) => {}
                    Err(e) if e.is_shredded() => {}
                    Err(e) if e.is_tampered() => lookup.rejected.push(rejected::<T>(&record, e)),
                    Err(e) => return Err(e.into()),
                }
            }
            Ok(lookup)
        };
        let result = work();
        {
            let sink = self.crypto.audit_sink();
            let mut event = AuditEvent::new(AuditAction::FindBy, T::TABLE, SystemTime::now());
            event.fields = vec![column];
            event.actor = self.actor.clone();
            event.records = result.as_ref().map_or(0, |l| l.found.len() as u64);
            event.duration = started.elapsed();
            event.outcome = match &result {
                Ok(_) => AuditOutcome::Ok,
                Err(Error::Crypto(e)) => AuditOutcome::Failed(e.kind()),
                Err(_) => AuditOutcome::FailedElsewhere,
            };
            sink.record(event.escaped());
        }
        result
    }

    /// The changeset that crypto-shreds a row of `T`'s table:
    /// `diesel::update(users::table.find(id)).set(&encx.erasure::<User>())`. Its wrapped data
    /// key and blind indexes become NULL; the ciphertexts stay and can never be decrypted.
    pub fn erasure<T: DieselEncrypted>(&self) -> T::Erasure {
        T::Erasure::default()
    }

    /// Records the audit event of an erasure once Diesel ran it (`rows`: what `execute`
    /// returned).
    pub fn erased<T: DieselEncrypted, I: RecordId + ?Sized>(&self, id: &I, rows: usize) {
        self.record(
            AuditAction::Erase,
            T::TABLE,
            Some(id.record_id_display()),
            rows as u64,
            Instant::now(),
            None,
        );
    }
}

fn rejected<T: Encrypted>(record: &T::Record, error: encx::Error) -> RejectedRow {
    let shown = T::record_id_display(record);
    tracing::warn!(
        target: "encx_diesel::integrity",
        table = T::TABLE,
        record = %shown,
        "a candidate row failed an integrity check and was skipped"
    );
    RejectedRow {
        table: T::TABLE,
        record: shown,
        error,
    }
}
