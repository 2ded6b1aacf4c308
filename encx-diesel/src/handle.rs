//! [`Encx`]: rows encrypted for Diesel's `insert_into(...).values(...)` and
//! `update(...).set(...)`, rows decrypted after Diesel's `load`, blind-index values for its
//! `filter(...eq_any(...))` and the re-check of what that returns.

use std::fmt;

use encx::audit::{AuditAction, AuditEvent};
use encx::{CompoundIndex, Crypto, Encrypted, Indexable, RecordId, SearchField};
use encx_sqlx::audit::{audited_now, event_about};
use encx_sqlx::Lookup;
use tokio::runtime::Handle;

use crate::error::Result;
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
    /// The tenant's id bytes of a handle scoped to one tenant ([`Encx::in_tenant`]).
    tenant: Option<std::sync::Arc<[u8]>>,
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
            tenant: None,
        }
    }

    /// This handle scoped to one tenant (the value of an `#[encx(tenant)]` field): its
    /// blind-index values are the tenant's, and its re-checks keep the tenant's rows only
    /// (other tenants' rows are dropped before anything is decrypted). Lookups of a type with
    /// a tenant field need a scope; encrypting and decrypting rows work scoped or not.
    pub fn in_tenant(&self, tenant: &(impl RecordId + ?Sized)) -> Result<Self> {
        let bytes = tenant.record_id_bytes();
        let crypto = wait(
            &self.runtime,
            self.crypto.for_tenant(&bytes, &tenant.record_id_display()),
        )?;
        Ok(Encx {
            crypto,
            runtime: self.runtime.clone(),
            actor: self.actor.clone(),
            tenant: Some(bytes.as_ref().into()),
        })
    }

    /// The crypto that computes lookup values for `T`: refused for a type with a tenant field
    /// unless this handle is scoped to a tenant.
    fn lookup_crypto<T: encx::schema::Schema>(&self) -> Result<&Crypto> {
        if T::tenant_column().is_some() && self.tenant.is_none() {
            return Err(encx::Error::config(format!(
                "blind indexes of `{}` are per tenant: look up through Encx::in_tenant",
                <T as encx::schema::Schema>::TABLE
            ))
            .into());
        }
        Ok(&self.crypto)
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

    /// Runs `work` under the audit event `event` (by this handle's actor), sent to the
    /// crypto's audit sink as `Repo` sends its own.
    fn audited<R>(
        &self,
        mut event: AuditEvent,
        work: impl FnOnce() -> Result<R>,
        describe: impl FnOnce(&R, &mut AuditEvent),
    ) -> Result<R> {
        event.actor = self.actor.clone();
        audited_now(&**self.crypto.audit_sink(), event, work, describe)
    }

    /// `value` encrypted under a fresh data key, as the row to insert
    /// (`diesel::insert_into(users::table).values(&row)`) or to write over its old row
    /// (`diesel::update(users::table.find(id)).set(&row)`: every column, the old key gone).
    pub fn encrypt<T: DieselEncrypted>(&self, value: &T) -> Result<RowOf<T>> {
        let event = event_about(AuditAction::Encrypt, None, Some(value));
        self.audited(
            event,
            || {
                Ok(T::into_row(wait(
                    &self.runtime,
                    value.encrypt(&self.crypto),
                )?))
            },
            |_, _| {},
        )
    }

    /// Every value of `values` encrypted, each under its own data key.
    pub fn encrypt_all<T: DieselEncrypted>(&self, values: &[T]) -> Result<Vec<RowOf<T>>> {
        values.iter().map(|v| self.encrypt(v)).collect()
    }

    /// A row loaded through Diesel, decrypted. An erased row fails with an error whose
    /// `is_shredded()` is true, an altered or moved one with `is_tampered()`.
    pub fn decrypt<T: DieselEncrypted>(&self, row: RowOf<T>) -> Result<T> {
        let record = T::from_row(row)?;
        let mut event = event_about::<T>(AuditAction::Decrypt, None, None);
        event.record = Some(T::record_id_display(&record));
        self.audited(
            event,
            || Ok(wait(&self.runtime, T::decrypt(&record, &self.crypto))?),
            |_, e| e.records = 1,
        )
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
        T: encx::schema::Schema,
        V: Indexable + ?Sized,
    {
        Ok(field
            .lookup(self.lookup_crypto::<T>()?, value)?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// The compound-index values for `values` (in the index's field order).
    pub fn compound_indexes<T: encx::schema::Schema>(
        &self,
        index: CompoundIndex<T>,
        values: &[&dyn Indexable],
    ) -> Result<Vec<Vec<u8>>> {
        Ok(index
            .lookup(self.lookup_crypto::<T>()?, values)?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Decrypts the candidate rows a blind-index filter selected and keeps those whose `field`
    /// really equals `value` (a blind index is truncated, so a few candidates hold other
    /// values). Erased rows are skipped; a row that fails an integrity check is never
    /// returned and does not hide the others: it is logged (`tracing`, `warn`, target
    /// `encx_sqlx::integrity`) and listed in [`Lookup::rejected`].
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

    /// Decrypts the candidate rows of a partial-index search (prefix, suffix, contains,
    /// range: docs/search.md) and keeps those the handle's re-check accepts, as
    /// [`recheck`](Self::recheck) does for equality: `column` names the searched column in
    /// the audit event.
    ///
    /// ```text
    /// let (column, values) = User::NAME_PREFIX.lookup(encx.crypto(), "lov")?;
    /// let rows = users::table
    ///     .filter(users::name_prefix3_bidx.eq_any(values.into_iter().map(Vec::from)))
    ///     .select(UserRow::as_select())
    ///     .load(conn)?;
    /// let found = encx.recheck_with(column, rows, |u| User::NAME_PREFIX.matches(u, "lov"))?.found;
    /// ```
    pub fn recheck_with<T: DieselEncrypted>(
        &self,
        column: &'static str,
        rows: Vec<RowOf<T>>,
        matches: impl Fn(&T) -> bool,
    ) -> Result<Lookup<T>> {
        self.keep(rows, matches, column)
    }

    fn keep<T: DieselEncrypted>(
        &self,
        rows: Vec<RowOf<T>>,
        matches: impl Fn(&T) -> bool,
        column: &'static str,
    ) -> Result<Lookup<T>> {
        let mut event = event_about::<T>(AuditAction::FindBy, None, None);
        event.fields = vec![column];
        let work = || {
            let mut lookup = Lookup::default();
            self.lookup_crypto::<T>()?;
            for row in rows {
                let record = T::from_row(row)?;
                if let Some(tenant) = &self.tenant {
                    if T::record_tenant(&record).as_deref() != Some(&**tenant) {
                        continue; // another tenant's row: never decrypted here
                    }
                }
                let decrypted = wait(&self.runtime, T::decrypt(&record, &self.crypto));
                lookup.sort(
                    <T as Encrypted>::TABLE,
                    || T::record_id_display(&record),
                    decrypted,
                    &matches,
                )?;
            }
            Ok(lookup)
        };
        self.audited(event, work, |lookup, e| {
            e.records = lookup.found.len() as u64
        })
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
        let mut event = event_about::<T>(AuditAction::Erase, None, None);
        event.record = Some(id.record_id_display());
        let _ = self.audited(event, || Ok(rows), |rows, e| e.records = *rows as u64);
    }
}
