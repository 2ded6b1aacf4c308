//! [`Encx`]: encrypt on insert and update, decrypt on load, blind-index filters and their
//! re-check, erasure, on any SeaORM connection or transaction.

use std::str::FromStr;

use encx::audit::{AuditAction, AuditEvent};
use encx::schema::{ColumnKind, Schema};
use encx::{CompoundIndex, Crypto, Encrypted, Indexable, SearchField};
use encx_sqlx::audit::{audited, event_about};
use encx_sqlx::Lookup;
use sea_orm::sea_query::{Expr, SimpleExpr};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Value};

use crate::entity::{EncryptedEntity, ModelOf};
use crate::error::{Error, Result};

/// encx for SeaORM: one per process (cheap to clone), used with any
/// [`ConnectionTrait`], so a `DatabaseConnection` and a `DatabaseTransaction` alike.
///
/// Every method works on the same rows, in the same bytes, as `encx_sqlx::Repo`.
#[derive(Clone, Debug)]
pub struct Encx {
    crypto: Crypto,
    actor: Option<String>,
    /// The tenant's id bytes of a handle scoped to one tenant ([`Encx::in_tenant`]).
    tenant: Option<std::sync::Arc<[u8]>>,
}

type ColumnOf<T> = <<T as EncryptedEntity>::Entity as EntityTrait>::Column;

/// The entity's column named `name` in `T`'s schema.
fn column<T: EncryptedEntity>(name: &'static str) -> Result<ColumnOf<T>> {
    ColumnOf::<T>::from_str(name).map_err(|_| Error::MissingColumn {
        table: <T as Encrypted>::TABLE,
        column: name,
    })
}

/// The id column of `T`.
fn id_column<T: EncryptedEntity>() -> Result<ColumnOf<T>> {
    let name = <T as Schema>::columns()
        .iter()
        .find(|c| matches!(c.kind, ColumnKind::Id { .. }))
        .map(|c| c.name)
        .unwrap_or("id");
    column::<T>(name)
}

impl Encx {
    /// encx over `crypto` (built as for encx-sqlx, e.g. with `encx_sqlx::SqlKekStore` on the
    /// pool SeaORM runs on: see [`kek_store`](crate::kek_store)).
    pub fn new(crypto: Crypto) -> Self {
        Encx {
            crypto,
            actor: None,
            tenant: None,
        }
    }

    /// This handle scoped to one tenant (the value of an `#[encx(tenant)]` field): its
    /// filters and searches use the tenant's index keys and keep the tenant's rows only (rows
    /// of other tenants are dropped before anything is decrypted). Searches of a type with a
    /// tenant field need a scope; inserts, reads by id and updates work scoped or not.
    pub async fn in_tenant(&self, tenant: &(impl encx::RecordId + ?Sized)) -> Result<Self> {
        let bytes = tenant.record_id_bytes();
        let crypto = self
            .crypto
            .for_tenant(&bytes, &tenant.record_id_display())
            .await?;
        Ok(Encx {
            crypto,
            actor: self.actor.clone(),
            tenant: Some(bytes.as_ref().into()),
        })
    }

    /// The crypto that computes lookup values for `T`: refused for a type with a tenant field
    /// unless this handle is scoped to a tenant (index values differ per tenant).
    pub(crate) fn lookup_crypto<T: EncryptedEntity>(&self) -> Result<&Crypto> {
        if <T as Schema>::tenant_column().is_some() && self.tenant.is_none() {
            return Err(encx::Error::config(format!(
                "blind indexes of `{}` are per tenant: search through Encx::in_tenant",
                <T as Encrypted>::TABLE
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
    pub(crate) async fn audited<R>(
        &self,
        mut event: AuditEvent,
        work: impl std::future::Future<Output = Result<R>>,
        describe: impl FnOnce(&R, &mut AuditEvent),
    ) -> Result<R> {
        event.actor = self.actor.clone();
        audited(&**self.crypto.audit_sink(), event, work, describe).await
    }

    /// Encrypts `value` under a fresh data key and writes it with `write` (insert or update).
    async fn write<T, F>(&self, value: &T, write: impl FnOnce(T::ActiveModel) -> F) -> Result<()>
    where
        T: EncryptedEntity,
        F: std::future::Future<Output = Result<(), sea_orm::DbErr>>,
    {
        let work = async {
            let record = value.encrypt(&self.crypto).await?;
            write(T::into_active_model(record)).await?;
            Ok(())
        };
        self.audited(
            event_about(AuditAction::Encrypt, None, Some(value)),
            work,
            |_, _| {},
        )
        .await
    }

    /// Encrypts `value` under a fresh data key and inserts it.
    ///
    /// ```no_run
    /// # async fn tour(encx: encx_sea_orm::Encx, db: sea_orm::DatabaseConnection, user: impl encx_sea_orm::EncryptedEntity + Sync) -> encx_sea_orm::Result<()> {
    /// use sea_orm::TransactionTrait;
    /// let txn = db.begin().await?;
    /// encx.insert(&txn, &user).await?;
    /// txn.commit().await?;
    /// # Ok(()) }
    /// ```
    pub async fn insert<T, C>(&self, db: &C, value: &T) -> Result<()>
    where
        T: EncryptedEntity,
        C: ConnectionTrait,
    {
        self.write(value, |model| async {
            <T::Entity as EntityTrait>::insert(model)
                .exec_without_returning(db)
                .await
                .map(drop)
        })
        .await
    }

    /// Encrypts `value` again under a fresh data key and writes every column of its row
    /// (found by id). Fails with `Db(RecordNotUpdated)` when no row has that id.
    pub async fn update<T, C>(&self, db: &C, value: &T) -> Result<()>
    where
        T: EncryptedEntity,
        C: ConnectionTrait,
    {
        self.write(value, |model| async {
            <T::Entity as EntityTrait>::update(model)
                .exec_without_returning(db)
                .await
                .map(drop)
        })
        .await
    }

    /// Decrypts a model loaded through SeaORM (`Entity::find()...one(db)`).
    pub async fn decrypt<T: EncryptedEntity>(&self, model: ModelOf<T>) -> Result<T> {
        let record = T::from_model(model)?;
        Ok(T::decrypt(&record, &self.crypto).await?)
    }

    /// Decrypts models loaded through SeaORM; the first failure fails all.
    pub async fn decrypt_all<T: EncryptedEntity>(&self, models: Vec<ModelOf<T>>) -> Result<Vec<T>> {
        let mut out = Vec::with_capacity(models.len());
        for model in models {
            out.push(self.decrypt(model).await?);
        }
        Ok(out)
    }

    /// The record with primary key `id`, decrypted; `None` when there is none. An erased
    /// record fails with an error whose `is_shredded()` is true.
    pub async fn find_by_id<T, C>(&self, db: &C, id: impl Into<Value>) -> Result<Option<T>>
    where
        T: EncryptedEntity,
        C: ConnectionTrait,
    {
        let id: Value = id.into();
        let mut event = event_about::<T>(AuditAction::Decrypt, None, None);
        event.record = Some(value_text(&id));
        let work = async {
            let found = <T::Entity as EntityTrait>::find()
                .filter(id_column::<T>()?.eq(id.clone()))
                .one(db)
                .await?;
            match found {
                Some(model) => Ok(Some(self.decrypt::<T>(model).await?)),
                None => Ok(None),
            }
        };
        self.audited(event, work, |found, e| e.records = found.is_some() as u64)
            .await
    }

    /// A SeaORM filter on `field`'s blind index for `value` (every index key version):
    /// `Entity::find().filter(encx.matches(User::EMAIL, "ada@example.com")?)`. The rows it
    /// selects are candidates: pass them to [`recheck`](Self::recheck).
    pub fn matches<T, V>(&self, field: SearchField<T>, value: &V) -> Result<SimpleExpr>
    where
        T: EncryptedEntity,
        V: Indexable + ?Sized,
    {
        let indexes = field.lookup(self.lookup_crypto::<T>()?, value)?;
        blind_filter::<T>(field.column(), indexes)
    }

    /// A SeaORM filter on a compound blind index for `values` (in the index's field order).
    pub fn matches_all<T: EncryptedEntity>(
        &self,
        index: CompoundIndex<T>,
        values: &[&(dyn Indexable + Sync)],
    ) -> Result<SimpleExpr> {
        let indexes = index.lookup(self.lookup_crypto::<T>()?, &parts(values))?;
        blind_filter::<T>(index.column(), indexes)
    }

    /// Decrypts the candidate models a blind-index filter selected and keeps those whose
    /// `field` really equals `value` (a blind index is truncated, so a few candidates are
    /// other values). Erased records are skipped; a row that fails an integrity check is
    /// never returned and does not hide the others: it is logged (`tracing`, `warn`, target
    /// `encx_sqlx::integrity`) and listed in [`Lookup::rejected`].
    pub async fn recheck<T, V>(
        &self,
        field: SearchField<T>,
        value: &V,
        candidates: Vec<ModelOf<T>>,
    ) -> Result<Lookup<T>>
    where
        T: EncryptedEntity,
        V: Indexable + ?Sized,
    {
        self.keep(candidates, |t| field.matches(&self.crypto, t, value))
            .await
    }

    /// [`recheck`](Self::recheck) for a compound index.
    pub async fn recheck_all<T: EncryptedEntity>(
        &self,
        index: CompoundIndex<T>,
        values: &[&(dyn Indexable + Sync)],
        candidates: Vec<ModelOf<T>>,
    ) -> Result<Lookup<T>> {
        self.keep(candidates, |t| {
            index.matches(&self.crypto, t, &parts(values))
        })
        .await
    }

    pub(crate) async fn keep<T: EncryptedEntity>(
        &self,
        candidates: Vec<ModelOf<T>>,
        matches: impl Fn(&T) -> bool,
    ) -> Result<Lookup<T>> {
        let mut lookup = Lookup::default();
        self.lookup_crypto::<T>()?;
        for model in candidates {
            let record = T::from_model(model)?;
            if let Some(tenant) = &self.tenant {
                if T::record_tenant(&record).as_deref() != Some(&**tenant) {
                    continue; // another tenant's row: never decrypted here
                }
            }
            let decrypted = T::decrypt(&record, &self.crypto).await;
            lookup.sort(
                <T as Encrypted>::TABLE,
                || T::record_id_display(&record),
                decrypted,
                &matches,
            )?;
        }
        Ok(lookup)
    }

    /// The records whose `field` equals `value`: `Entity::find()` filtered by the blind
    /// index, then re-checked ([`recheck`](Self::recheck)).
    pub async fn find_by<T, C, V>(&self, db: &C, field: SearchField<T>, value: &V) -> Result<Vec<T>>
    where
        T: EncryptedEntity,
        C: ConnectionTrait,
        V: Indexable + ?Sized,
    {
        self.search(db, field.column(), self.matches(field, value), |t| {
            field.matches(&self.crypto, t, value)
        })
        .await
    }

    /// The records whose compound `index` matches `values`, re-checked.
    pub async fn find_by_index<T, C>(
        &self,
        db: &C,
        index: CompoundIndex<T>,
        values: &[&(dyn Indexable + Sync)],
    ) -> Result<Vec<T>>
    where
        T: EncryptedEntity,
        C: ConnectionTrait,
    {
        let filter = self.matches_all(index, values)?;
        let candidates = <T::Entity as EntityTrait>::find()
            .filter(filter)
            .all(db)
            .await?;
        Ok(self.recheck_all(index, values, candidates).await?.found)
    }

    /// True when some record's `field` equals `value` (re-checked: a blind-index collision
    /// with another value does not count).
    pub async fn exists_by<T, C, V>(&self, db: &C, field: SearchField<T>, value: &V) -> Result<bool>
    where
        T: EncryptedEntity,
        C: ConnectionTrait,
        V: Indexable + ?Sized,
    {
        Ok(!self.find_by(db, field, value).await?.is_empty())
    }

    /// Crypto-shreds the record with primary key `id`: its wrapped data key and blind
    /// indexes become NULL, its ciphertexts stay and can never be decrypted again. True when
    /// a row was erased.
    pub async fn erase<T, C>(&self, db: &C, id: impl Into<Value>) -> Result<bool>
    where
        T: EncryptedEntity,
        C: ConnectionTrait,
    {
        let id: Value = id.into();
        let mut event = event_about::<T>(AuditAction::Erase, None, None);
        event.record = Some(value_text(&id));
        let work = async {
            let mut update = <T::Entity as EntityTrait>::update_many();
            for c in <T as Schema>::columns() {
                if c.kind.is_search_index() || matches!(c.kind, ColumnKind::WrappedDek) {
                    update = update.col_expr(column::<T>(c.name)?, Expr::value(Value::Bytes(None)));
                }
            }
            let done = update
                .filter(id_column::<T>()?.eq(id.clone()))
                .exec(db)
                .await?;
            Ok(done.rows_affected > 0)
        };
        self.audited(event, work, |erased, e| e.records = *erased as u64)
            .await
    }
}

/// `values` as the index functions take them. `&dyn Indexable` is not `Send`: never hold
/// one across an await, so that these futures run on any executor thread.
fn parts<'a>(values: &[&'a (dyn Indexable + Sync)]) -> Vec<&'a dyn Indexable> {
    values.iter().map(|v| *v as &dyn Indexable).collect()
}

/// `column IN (indexes)`.
pub(crate) fn blind_filter<T: EncryptedEntity>(
    column_name: &'static str,
    indexes: Vec<encx::BlindIndex>,
) -> Result<SimpleExpr> {
    let values: Vec<Vec<u8>> = indexes.into_iter().map(Into::into).collect();
    Ok(column::<T>(column_name)?.is_in(values))
}

/// A record id for audit events.
fn value_text(value: &Value) -> String {
    match value {
        Value::String(Some(s)) => s.to_string(),
        Value::BigInt(Some(n)) => n.to_string(),
        Value::Int(Some(n)) => n.to_string(),
        Value::Uuid(Some(u)) => u.to_string(),
        other => format!("{other:?}"),
    }
}
