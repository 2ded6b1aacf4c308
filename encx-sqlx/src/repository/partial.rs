//! Searches through partial indexes: [`Repo::find_by_prefix`], [`Repo::find_by_suffix`],
//! [`Repo::find_matching`] and [`Repo::find_in_range`]. Each reads the candidate rows its
//! index selects, decrypts them and re-checks the decrypted value, so only true matches are
//! returned; rows that fail an integrity check are set aside as by
//! [`Repo::find_by`](crate::Repo::find_by). Rows of a table still being migrated from
//! plaintext ([`Repo::with_plaintext`](crate::Repo::with_plaintext)) are found once migrated.

use encx::index::partial::bloom_predicate;
use encx::schema::Schema;
use encx::search::{AffixIndex, Side};
use encx::sql::StoredRecord;
use encx::{ContainsIndex, Encrypted, Indexable, PrefixIndex, RangeIndex, RangeValue, SuffixIndex};
use sqlx::Database;

use super::db_handle::DbHandle;
use super::{blocked_by_caller, Repo};
use crate::encx_database::EncxDatabase;
use crate::error::Result;
use crate::Lookup;

impl<T, DB> Repo<T, DB>
where
    DB: EncxDatabase,
    T: Encrypted + Schema + 'static,
    T::Record: StoredRecord + 'static,
{
    /// The records whose field starts with `term` (after the field's normalizer), through
    /// its prefix index: the longest indexed length the term covers selects the candidates,
    /// and each decrypted candidate is re-checked against the whole term. A term shorter than
    /// the shortest indexed length is a configuration error (it would read the table).
    ///
    /// ```no_run
    /// # #[derive(encx::Encrypted, serde::Serialize, serde::Deserialize)]
    /// # struct Customer { #[encx(id)] id: i64,
    /// #   #[encx(encrypt, prefix(lengths(2, 3), normalize = "lowercase"))] surname: String }
    /// # async fn demo(repo: encx_sqlx::Repo<Customer, sqlx::Sqlite>) -> encx_sqlx::Result<()> {
    /// let found = repo.find_by_prefix(repo.pool(), Customer::SURNAME_PREFIX, "Love").await?;
    /// # Ok(()) }
    /// ```
    pub async fn find_by_prefix<'c, V>(
        &self,
        db: impl DbHandle<'c, DB>,
        index: PrefixIndex<T>,
        term: &V,
    ) -> Result<Vec<T>>
    where
        V: Indexable + ?Sized + Sync,
    {
        Ok(self.find_by_prefix_report(db, index, term).await?.found)
    }

    /// [`find_by_prefix`](Self::find_by_prefix), also returning the refused rows.
    pub async fn find_by_prefix_report<'c, V>(
        &self,
        db: impl DbHandle<'c, DB>,
        index: PrefixIndex<T>,
        term: &V,
    ) -> Result<Lookup<T>>
    where
        V: Indexable + ?Sized + Sync,
    {
        self.find_by_affix(db, index, term).await
    }

    /// A prefix or suffix search: the column of the longest length the term covers, then the
    /// re-check.
    async fn find_by_affix<'c, S: Side, V>(
        &self,
        db: impl DbHandle<'c, DB>,
        index: AffixIndex<T, S>,
        term: &V,
    ) -> Result<Lookup<T>>
    where
        V: Indexable + ?Sized + Sync,
    {
        let held = db.held_by_caller();
        let work = async {
            let (column, values) = index.lookup(&self.crypto, term)?;
            let mut conn = db.connection().await?;
            self.keep_matches(&mut conn, column, &values, |t| index.matches(t, term))
                .await
        };
        let column = index.columns().first().map(|c| c.column).unwrap_or("");
        self.audited_lookup(column, work)
            .await
            .map_err(|e| blocked_by_caller(e, held))
    }

    /// The records whose field ends with `term` (after normalization), through its suffix
    /// index: the last digits of a card or phone number, say.
    ///
    /// ```no_run
    /// # #[derive(encx::Encrypted, serde::Serialize, serde::Deserialize)]
    /// # struct Customer { #[encx(id)] id: i64,
    /// #   #[encx(encrypt, suffix(lengths(4), normalize = "digits"))] card: String }
    /// # async fn demo(repo: encx_sqlx::Repo<Customer, sqlx::Sqlite>) -> encx_sqlx::Result<()> {
    /// let found = repo.find_by_suffix(repo.pool(), Customer::CARD_SUFFIX, "4242").await?;
    /// # Ok(()) }
    /// ```
    pub async fn find_by_suffix<'c, V>(
        &self,
        db: impl DbHandle<'c, DB>,
        index: SuffixIndex<T>,
        term: &V,
    ) -> Result<Vec<T>>
    where
        V: Indexable + ?Sized + Sync,
    {
        Ok(self.find_by_suffix_report(db, index, term).await?.found)
    }

    /// [`find_by_suffix`](Self::find_by_suffix), also returning the refused rows.
    pub async fn find_by_suffix_report<'c, V>(
        &self,
        db: impl DbHandle<'c, DB>,
        index: SuffixIndex<T>,
        term: &V,
    ) -> Result<Lookup<T>>
    where
        V: Indexable + ?Sized + Sync,
    {
        self.find_by_affix(db, index, term).await
    }

    /// The records whose field contains `term` (after normalization), through its contains
    /// index: rows whose Bloom filter holds every n-gram of the term are decrypted and
    /// re-checked. The filter test runs in the database over every row of the table (no
    /// database index can serve it); see `docs/search.md` for its cost.
    ///
    /// ```no_run
    /// # #[derive(encx::Encrypted, serde::Serialize, serde::Deserialize)]
    /// # struct Customer { #[encx(id)] id: i64,
    /// #   #[encx(encrypt, contains(ngram = 3, normalize = "lowercase"))] name: String }
    /// # async fn demo(repo: encx_sqlx::Repo<Customer, sqlx::Sqlite>) -> encx_sqlx::Result<()> {
    /// let found = repo.find_matching(repo.pool(), Customer::NAME_CONTAINS, "velac").await?;
    /// # Ok(()) }
    /// ```
    pub async fn find_matching<'c, V>(
        &self,
        db: impl DbHandle<'c, DB>,
        index: ContainsIndex<T>,
        term: &V,
    ) -> Result<Vec<T>>
    where
        V: Indexable + ?Sized + Sync,
    {
        Ok(self.find_matching_report(db, index, term).await?.found)
    }

    /// [`find_matching`](Self::find_matching), also returning the refused rows.
    pub async fn find_matching_report<'c, V>(
        &self,
        db: impl DbHandle<'c, DB>,
        index: ContainsIndex<T>,
        term: &V,
    ) -> Result<Lookup<T>>
    where
        V: Indexable + ?Sized + Sync,
    {
        let held = db.held_by_caller();
        let column = index.column().column;
        let work = async {
            let masks = index.masks(&self.crypto, term)?;
            let sql = self
                .sql
                .select_where(&bloom_predicate(self.sql.dialect, column, &masks));
            let mut conn = db.connection().await?;
            self.keep_matching_rows(
                &mut conn,
                &sql,
                <DB as Database>::Arguments::default(),
                |t| index.matches(t, term),
            )
            .await
        };
        self.audited_lookup(column, work)
            .await
            .map_err(|e| blocked_by_caller(e, held))
    }

    /// The records whose field lies within `low..=high`, through its range index: the rows
    /// of every bucket the range touches are decrypted and re-checked. A range over more
    /// than [`encx::index::MAX_RANGE_BUCKETS`] buckets is refused.
    ///
    /// ```no_run
    /// # #[derive(encx::Encrypted, serde::Serialize, serde::Deserialize)]
    /// # struct Customer { #[encx(id)] id: i64,
    /// #   #[encx(encrypt, range(width = 100))] balance: i64 }
    /// # async fn demo(repo: encx_sqlx::Repo<Customer, sqlx::Sqlite>) -> encx_sqlx::Result<()> {
    /// let found = repo.find_in_range(repo.pool(), Customer::BALANCE_RANGE, &1_000, &5_000).await?;
    /// # Ok(()) }
    /// ```
    pub async fn find_in_range<'c, V>(
        &self,
        db: impl DbHandle<'c, DB>,
        index: RangeIndex<T, V>,
        low: &V,
        high: &V,
    ) -> Result<Vec<T>>
    where
        V: RangeValue + Sync,
    {
        Ok(self.find_in_range_report(db, index, low, high).await?.found)
    }

    /// [`find_in_range`](Self::find_in_range), also returning the refused rows.
    pub async fn find_in_range_report<'c, V>(
        &self,
        db: impl DbHandle<'c, DB>,
        index: RangeIndex<T, V>,
        low: &V,
        high: &V,
    ) -> Result<Lookup<T>>
    where
        V: RangeValue + Sync,
    {
        let held = db.held_by_caller();
        let column = index.column().column;
        let work = async {
            let values = index.lookup(&self.crypto, low, high)?;
            if values.is_empty() {
                return Ok(Lookup::default());
            }
            let mut conn = db.connection().await?;
            self.keep_matches(&mut conn, column, &values, |t| index.matches(t, low, high))
                .await
        };
        self.audited_lookup(column, work)
            .await
            .map_err(|e| blocked_by_caller(e, held))
    }
}
