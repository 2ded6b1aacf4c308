//! [`TenantEraser`]: offboard a tenant across every table that holds tenants' rows, with a
//! ledger entry, an audit event and a receipt.
//!
//! The order makes an interrupted offboarding safe to retry:
//! 1. with an [`ErasureLedger`], the offboarding is recorded there first, so that a restore
//!    of the tenant key tables before step 2 had reached every copy is undone by
//!    [`TenantEraser::reapply_ledger`];
//! 2. the tenant is marked erased and every key of it (KEKs, index keys) is destroyed in the
//!    tenant store, in one transaction: from this moment every record of the tenant, in every
//!    table and every copy of the data that does not hold the tenant key tables, is noise;
//! 3. each registered table's rows of the tenant get `encx_dek` and every blind index set to
//!    NULL;
//! 4. after the writer window (the tenant cache TTL plus a margin), step 3 runs again for the
//!    rows other processes wrote with the tenant's keys still in their cache.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use encx::audit::{AuditAction, AuditEvent};
use encx::keys::tenant::TENANT_KEY_TABLE;
use encx::schema::Schema;
use encx::sql::{RecordKey, StoredRecord};
use encx::{
    Crypto, Encrypted, ErasureEntry, ErasureLedger, ErasureScope, HasTenant, RecordId, SubjectId,
};
use futures_util::future::BoxFuture;
use sqlx::Database;
use uuid::Uuid;

use super::WRITER_MARGIN;
use crate::encx_database::EncxDatabase;
use crate::error::Result;
use crate::repository::Repo;

/// A table whose rows carry a tenant of type `Tn`.
trait TenantTable<Tn>: Send + Sync {
    fn table(&self) -> &'static str;
    fn clear<'a>(&'a self, tenant: &'a Tn) -> BoxFuture<'a, Result<u64>>;
    fn count<'a>(&'a self, tenant: &'a Tn) -> BoxFuture<'a, Result<u64>>;
}

impl<T, DB, Tn> TenantTable<Tn> for Repo<T, DB>
where
    DB: EncxDatabase,
    T: Encrypted + Schema + HasTenant + 'static,
    T::Record: StoredRecord + RecordKey<Tenant = Tn> + 'static,
    Tn: Sync + 'static,
    <DB as Database>::Connection: Send,
{
    fn table(&self) -> &'static str {
        <T as Schema>::TABLE
    }

    fn clear<'a>(&'a self, tenant: &'a Tn) -> BoxFuture<'a, Result<u64>> {
        Box::pin(async move { self.erase_tenant_rows(self.pool(), tenant).await })
    }

    fn count<'a>(&'a self, tenant: &'a Tn) -> BoxFuture<'a, Result<u64>> {
        Box::pin(async move { self.count_tenant_rows(self.pool(), tenant).await })
    }
}

/// Offboards tenants: destroys a tenant's keys and clears its rows in every registered table.
///
/// ```no_run
/// use encx::Encrypted;
/// use encx_sqlx::{Repo, TenantEraser};
///
/// #[derive(Encrypted)]
/// #[encx(table = "members")]
/// struct Member {
///     #[encx(id)]
///     id: uuid::Uuid,
///     #[encx(tenant)]
///     org: String,
///     #[encx(encrypt)]
///     email: String,
/// }
///
/// # async fn run(pool: sqlx::PgPool, crypto: encx::Crypto) -> encx_sqlx::Result<()> {
/// let members = Repo::<Member, sqlx::Postgres>::new(pool.clone(), crypto.clone());
/// let eraser = TenantEraser::new(crypto)
///     .table(members)
///     .ledger(encx_sqlx::SqlErasureLedger::shared(pool.clone()))
///     .actor("offboarding ticket 4711");
/// println!("{}", eraser.footprint(&"acme".to_string()).await?); // what it would destroy
/// let receipt = eraser.erase(&"acme".to_string()).await?;
/// println!("{receipt}");
/// # Ok(()) }
/// ```
pub struct TenantEraser<Tn> {
    crypto: Crypto,
    tables: Vec<Box<dyn TenantTable<Tn>>>,
    ledger: Option<Arc<dyn ErasureLedger>>,
    actor: Option<String>,
    writer_window: Option<Duration>,
}

impl<Tn> fmt::Debug for TenantEraser<Tn> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tables: Vec<&str> = self.tables.iter().map(|t| t.table()).collect();
        f.debug_struct("TenantEraser")
            .field("tables", &tables)
            .finish_non_exhaustive()
    }
}

impl<Tn: RecordId + Sync + 'static> TenantEraser<Tn> {
    /// An eraser with no table yet.
    pub fn new(crypto: Crypto) -> Self {
        TenantEraser {
            crypto,
            tables: Vec::new(),
            ledger: None,
            actor: None,
            writer_window: None,
        }
    }

    /// A table whose rows carry the tenant.
    pub fn table<T, DB>(mut self, repo: Repo<T, DB>) -> Self
    where
        DB: EncxDatabase,
        T: Encrypted + Schema + HasTenant + 'static,
        T::Record: StoredRecord + RecordKey<Tenant = Tn> + 'static,
        <DB as Database>::Connection: Send,
    {
        self.tables.push(Box::new(repo));
        self
    }

    /// The registered tables, by name.
    pub fn table_names(&self) -> Vec<&'static str> {
        self.tables.iter().map(|t| t.table()).collect()
    }

    /// Records every offboarding in `ledger` (keep it apart from the tenant key tables).
    pub fn ledger(mut self, ledger: Arc<dyn ErasureLedger>) -> Self {
        self.ledger = Some(ledger);
        self
    }

    /// Names `actor` in the audit events.
    pub fn actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = Some(actor.into());
        self
    }

    /// How long [`erase`](Self::erase) waits before clearing the tenant's rows a second time
    /// (default: the tenant cache TTL of the [`Crypto`] plus [`WRITER_MARGIN`];
    /// `Duration::ZERO` skips the second pass).
    pub fn writer_window(mut self, window: Duration) -> Self {
        self.writer_window = Some(window);
        self
    }

    /// The wait of [`writer_window`](Self::writer_window), as this eraser applies it.
    pub fn effective_writer_window(&self) -> Duration {
        self.writer_window.unwrap_or_else(|| {
            self.crypto
                .tenant_cache_ttl()
                .map_or(Duration::ZERO, |ttl| ttl + WRITER_MARGIN)
        })
    }

    /// What an offboarding of `tenant` would destroy: its live keys and its rows per table.
    /// Reads only.
    pub async fn footprint(&self, tenant: &Tn) -> Result<TenantFootprint> {
        let status = self.crypto.tenant_status(&tenant.record_id_bytes()).await?;
        let mut tables = Vec::new();
        for table in &self.tables {
            tables.push((table.table(), table.count(tenant).await?));
        }
        Ok(TenantFootprint {
            tenant: tenant.record_id_display(),
            live_keys: status.live_keys(),
            root: status.row.as_ref().map(|r| r.root.to_string()),
            erased: status
                .row
                .as_ref()
                .is_some_and(|r| r.state == encx::keys::tenant::TenantState::Erased),
            tables,
        })
    }

    /// Offboards `tenant` (see the [module docs](self) for the steps) and returns the receipt.
    /// Sends one [`EraseTenant`](AuditAction::EraseTenant) audit event.
    pub async fn erase(&self, tenant: &Tn) -> Result<TenantErasure> {
        self.erase_by(tenant, self.actor.as_deref()).await
    }

    /// [`erase`](Self::erase), naming `actor` in the audit event instead of the eraser's
    /// [`actor`](Self::actor) (`encx tenant erase --actor`).
    pub async fn erase_by(&self, tenant: &Tn, actor: Option<&str>) -> Result<TenantErasure> {
        let at = SystemTime::now();
        let started = Instant::now();
        let done = self.erase_unaudited(tenant, true).await;
        self.audit(tenant, actor, (at, started), &done);
        done
    }

    async fn erase_unaudited(&self, tenant: &Tn, record: bool) -> Result<TenantErasure> {
        let bytes = tenant.record_id_bytes();
        if record {
            if let Some(ledger) = &self.ledger {
                ledger
                    .record(&ErasureEntry::tenant(bytes.to_vec(), SystemTime::now()))
                    .await?;
            }
        }
        let keys_destroyed = self.crypto.erase_tenant(&bytes).await?;
        let mut receipt = TenantErasure {
            tenant: tenant.record_id_display(),
            keys_destroyed,
            tables: self.clear_rows(tenant).await?,
            swept_after: None,
            swept: Vec::new(),
            at: SystemTime::now(),
        };
        let window = self.effective_writer_window();
        if record && !window.is_zero() {
            tokio::time::sleep(window).await;
            receipt.swept = self.clear_rows(tenant).await?;
            receipt.swept_after = Some(window);
            receipt.at = SystemTime::now();
        }
        Ok(receipt)
    }

    async fn clear_rows(&self, tenant: &Tn) -> Result<Vec<(&'static str, u64)>> {
        let mut cleared = Vec::new();
        for table in &self.tables {
            cleared.push((table.table(), table.clear(tenant).await?));
        }
        Ok(cleared)
    }

    fn audit(
        &self,
        tenant: &Tn,
        actor: Option<&str>,
        (at, started): (SystemTime, Instant),
        done: &Result<TenantErasure>,
    ) {
        let mut event = AuditEvent::new(AuditAction::EraseTenant, TENANT_KEY_TABLE, at);
        event.duration = started.elapsed();
        event.subject = Some(tenant.record_id_display());
        event.actor = actor.map(str::to_owned);
        match done {
            Ok(receipt) => {
                event.records = receipt
                    .tables
                    .iter()
                    .chain(&receipt.swept)
                    .map(|(_, n)| n)
                    .sum()
            }
            Err(error) => event.outcome = crate::audit::AuditFailure::outcome(error),
        }
        self.crypto.audit_sink().record(event);
    }

    /// Applies every tenant offboarding of the ledger again: destroys keys of those tenants
    /// that a restore of the tenant key tables brought back, and clears their rows. Run it
    /// after any restore of the key database. One receipt per entry.
    pub async fn reapply_ledger(&self) -> Result<Vec<TenantErasure>>
    where
        Tn: SubjectId,
    {
        let ledger = self.ledger.as_ref().ok_or_else(|| {
            crate::Error::InvalidConfig("reapply_ledger needs TenantEraser::ledger".into())
        })?;
        let mut receipts = Vec::new();
        for entry in ledger.entries().await? {
            if entry.scope != ErasureScope::Tenant {
                continue;
            }
            let tenant = Tn::from_record_id_bytes(&entry.subject).ok_or_else(|| {
                crate::Error::InvalidConfig(
                    "a tenant ledger entry does not hold a tenant id of this type".into(),
                )
            })?;
            let at = SystemTime::now();
            let started = Instant::now();
            let done = self.erase_unaudited(&tenant, false).await;
            self.audit(&tenant, self.actor.as_deref(), (at, started), &done);
            receipts.push(done?);
        }
        Ok(receipts)
    }
}

/// What [`TenantEraser::footprint`] found: counts only.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TenantFootprint {
    /// The tenant's id, printable.
    pub tenant: String,
    /// Its keys not destroyed yet.
    pub live_keys: usize,
    /// Its root (`default` or `own:<key>`), if it is registered.
    pub root: Option<String>,
    /// Whether it was offboarded before.
    pub erased: bool,
    /// Each table with the tenant's rows not erased.
    pub tables: Vec<(&'static str, u64)>,
}

impl fmt::Display for TenantFootprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tenant {}: {} live key(s)", self.tenant, self.live_keys)?;
        if let Some(root) = &self.root {
            write!(f, " under root {root}")?;
        }
        if self.erased {
            write!(f, ", erased before")?;
        }
        for (table, rows) in &self.tables {
            write!(f, "; {table}: {rows} row(s)")?;
        }
        Ok(())
    }
}

/// What [`TenantEraser::erase`] did: no plaintext, no key bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TenantErasure {
    /// The tenant's id, printable.
    pub tenant: String,
    /// Ids of the tenant's keys this call destroyed (empty when an earlier call had).
    pub keys_destroyed: Vec<Uuid>,
    /// Each registered table with the number of rows this call cleared.
    pub tables: Vec<(&'static str, u64)>,
    /// How long after destroying the keys the rows were cleared a second time.
    pub swept_after: Option<Duration>,
    /// Each table with the rows that second pass cleared.
    pub swept: Vec<(&'static str, u64)>,
    /// When the offboarding finished.
    pub at: SystemTime,
}

impl fmt::Display for TenantErasure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "erased tenant {} at {}: {} key(s) destroyed",
            self.tenant,
            crate::database::time::rfc3339(self.at),
            self.keys_destroyed.len()
        )?;
        super::write_cleared(f, &self.tables, self.swept_after, &self.swept)
    }
}
