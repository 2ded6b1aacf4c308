//! A repository in the plaintext migration's read mode ([`Repo::with_plaintext`]), and the
//! first step of a migration (adding encx's columns to an existing table).

use std::sync::Arc;

use encx::schema::Schema;
use encx::sql::StoredRecord;
use encx::Encrypted;

use super::plaintext::{Plaintext, RowState, Unmigrated};
use super::Repo;
use crate::encx_database::EncxDatabase;
use crate::error::{Error, Result};

impl<T, DB> Repo<T, DB>
where
    DB: EncxDatabase,
    T: Encrypted + Schema,
    T::Record: StoredRecord,
{
    /// This repository in the plaintext migration's read mode: `get`, `get_many`, `find_by`
    /// (for a searchable field with a plaintext column) also return rows not yet migrated,
    /// read from their plaintext columns; `update` encrypts an unmigrated row; `update` and
    /// `erase` clear the plaintext columns of the row they write. [`migrate`](Self::migrate)
    /// and [`verify`](Self::verify) need it. Opt-in, for the application during a
    /// migration: an ordinary repository reading an unmigrated row fails to decode it.
    ///
    /// `find_by` finds an unmigrated row when its plaintext column equals the value as given
    /// or after the field's normalizer (compared as text by the database), then re-checks it
    /// as for any row; compound indexes find migrated rows only. The plaintext columns must
    /// accept NULL (encx clears them, and inserts rows without them).
    ///
    /// A configuration error when `source` names a column that is not an encrypted field's,
    /// or names no field that is never NULL once encrypted (a non-`Option` field, or one with
    /// `encrypt_none`): that field's ciphertext column tells migrated rows apart.
    pub fn with_plaintext(&self, source: Plaintext<T, DB>) -> Result<Self> {
        let mut repo = self.clone();
        repo.plaintext = Some(Arc::new(Unmigrated::new(source, &self.sql)?));
        Ok(repo)
    }

    /// `ALTER TABLE` statements that add this type's encx columns (all nullable) to an
    /// existing table, and an index per blind-index column: the first step of a plaintext
    /// migration, after renaming the plaintext columns that have an encrypted field's name.
    pub fn add_encrypted_columns_ddl(&self) -> Vec<String> {
        encx::schema::add_encrypted_columns::<T>(DB::DIALECT)
    }

    /// Runs [`add_encrypted_columns_ddl`](Self::add_encrypted_columns_ddl).
    pub async fn add_encrypted_columns(&self) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        for statement in self.add_encrypted_columns_ddl() {
            DB::execute(&mut *conn, &statement, Default::default()).await?;
        }
        Ok(())
    }

    /// How many rows are not migrated yet (a configuration error without
    /// [`with_plaintext`](Self::with_plaintext)).
    pub async fn unmigrated_rows(&self) -> Result<u64> {
        self.count_rows(RowState::Unmigrated).await
    }

    pub(crate) async fn count_rows(&self, state: RowState) -> Result<u64> {
        let sql = self.require_plaintext()?.count(state);
        let mut conn = self.pool.acquire().await?;
        let n = DB::fetch_count(&mut conn, &sql, Default::default()).await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// The plaintext source, or the error of a job that needs one.
    pub(crate) fn require_plaintext(&self) -> Result<&Unmigrated<T, DB>> {
        self.plaintext.as_deref().ok_or_else(|| {
            Error::InvalidConfig(format!(
                "table `{}` has no plaintext source: use Repo::with_plaintext",
                self.sql.table
            ))
        })
    }
}
