//! Partial-index searches on SeaORM: the filters of prefix, suffix, contains and range
//! indexes, and `find_by_prefix`, `find_by_suffix`, `find_matching`, `find_in_range` on
//! [`Encx`], which filter and re-check as `encx_sqlx::Repo`'s searches do (docs/search.md).

use encx::audit::AuditAction;
use encx::index::partial::bloom_predicate;
use encx::schema::Dialect;
use encx::search::{AffixIndex, Side};
use encx::{ContainsIndex, Indexable, PrefixIndex, RangeIndex, RangeValue, SuffixIndex};
use encx_sqlx::audit::event_about;
use sea_orm::sea_query::{Expr, SimpleExpr};
use sea_orm::{ConnectionTrait, DbBackend, EntityTrait, QueryFilter};

use crate::entity::EncryptedEntity;
use crate::error::Result;
use crate::handle::{blind_filter, Encx};

fn dialect(backend: DbBackend) -> Dialect {
    match backend {
        DbBackend::Postgres => Dialect::Postgres,
        DbBackend::MySql => Dialect::MySql,
        _ => Dialect::Sqlite,
    }
}

impl Encx {
    /// A SeaORM filter for a prefix or suffix search of `term` (the candidates of
    /// [`find_by_prefix`](Self::find_by_prefix) and [`find_by_suffix`](Self::find_by_suffix)).
    pub fn matches_affix<T, S, V>(&self, index: AffixIndex<T, S>, term: &V) -> Result<SimpleExpr>
    where
        T: EncryptedEntity,
        S: Side,
        V: Indexable + ?Sized,
    {
        let (column, values) = index.lookup(self.lookup_crypto::<T>()?, term)?;
        blind_filter::<T>(column, values)
    }

    /// A SeaORM filter for a substring search of `term` on the database of `backend`: the
    /// Bloom filter test, a condition on every row.
    pub fn matches_contains<T, V>(
        &self,
        backend: DbBackend,
        index: ContainsIndex<T>,
        term: &V,
    ) -> Result<SimpleExpr>
    where
        T: EncryptedEntity,
        V: Indexable + ?Sized,
    {
        let masks = index.masks(self.lookup_crypto::<T>()?, term)?;
        Ok(Expr::cust(bloom_predicate(
            dialect(backend),
            index.column().column,
            &masks,
        )))
    }

    /// A SeaORM filter for a range search of `low..=high`.
    pub fn matches_range<T, V>(
        &self,
        index: RangeIndex<T, V>,
        low: &V,
        high: &V,
    ) -> Result<SimpleExpr>
    where
        T: EncryptedEntity,
        V: RangeValue,
    {
        let values = index.lookup(self.lookup_crypto::<T>()?, low, high)?;
        blind_filter::<T>(index.column().column, values)
    }

    /// The records whose field starts with `term` (normalized), re-checked.
    pub async fn find_by_prefix<T, C, V>(
        &self,
        db: &C,
        index: PrefixIndex<T>,
        term: &V,
    ) -> Result<Vec<T>>
    where
        T: EncryptedEntity,
        C: ConnectionTrait,
        V: Indexable + ?Sized,
    {
        self.find_by_affix(db, index, term).await
    }

    /// The records whose field ends with `term` (normalized), re-checked.
    pub async fn find_by_suffix<T, C, V>(
        &self,
        db: &C,
        index: SuffixIndex<T>,
        term: &V,
    ) -> Result<Vec<T>>
    where
        T: EncryptedEntity,
        C: ConnectionTrait,
        V: Indexable + ?Sized,
    {
        self.find_by_affix(db, index, term).await
    }

    async fn find_by_affix<T, C, S, V>(
        &self,
        db: &C,
        index: AffixIndex<T, S>,
        term: &V,
    ) -> Result<Vec<T>>
    where
        T: EncryptedEntity,
        C: ConnectionTrait,
        S: Side,
        V: Indexable + ?Sized,
    {
        let column = index.columns().first().map_or("", |c| c.column);
        self.search(db, column, self.matches_affix(index, term), |t| {
            index.matches(t, term)
        })
        .await
    }

    /// The records whose field contains `term` (normalized), re-checked.
    pub async fn find_matching<T, C, V>(
        &self,
        db: &C,
        index: ContainsIndex<T>,
        term: &V,
    ) -> Result<Vec<T>>
    where
        T: EncryptedEntity,
        C: ConnectionTrait,
        V: Indexable + ?Sized,
    {
        let filter = self.matches_contains(db.get_database_backend(), index, term);
        self.search(db, index.column().column, filter, |t| {
            index.matches(t, term)
        })
        .await
    }

    /// The records whose field lies within `low..=high`, re-checked.
    pub async fn find_in_range<T, C, V>(
        &self,
        db: &C,
        index: RangeIndex<T, V>,
        low: &V,
        high: &V,
    ) -> Result<Vec<T>>
    where
        T: EncryptedEntity,
        C: ConnectionTrait,
        V: RangeValue,
    {
        self.search(
            db,
            index.column().column,
            self.matches_range(index, low, high),
            |t| index.matches(t, low, high),
        )
        .await
    }

    /// Selects the candidates `filter` names, re-checks them with `matches`, audited as a
    /// search of `column`: every search of [`Encx`], equality included.
    pub(crate) async fn search<T, C>(
        &self,
        db: &C,
        column: &'static str,
        filter: Result<SimpleExpr>,
        matches: impl Fn(&T) -> bool,
    ) -> Result<Vec<T>>
    where
        T: EncryptedEntity,
        C: ConnectionTrait,
    {
        let mut event = event_about::<T>(AuditAction::FindBy, None, None);
        event.fields = vec![column];
        let work = async {
            let candidates = <T::Entity as EntityTrait>::find()
                .filter(filter?)
                .all(db)
                .await?;
            Ok(self.keep(candidates, matches).await?.found)
        };
        self.audited(event, work, |found, e| e.records = found.len() as u64)
            .await
    }
}
