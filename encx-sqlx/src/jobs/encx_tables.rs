//! encx's own tables in one database, as the operator guards read them: the keys that
//! `encx_secrets` and `encx_subject_keys` hold wrapped under a KEK, the live tokens of
//! `encx_tokens` (keyed hashes under the index root key), the rows of `encx_keks`. A table
//! that does not exist there counts as empty. The application's tables that encx writes (an
//! `encx_dek` column) are counted by key too, so that a KEK is never destroyed under a table
//! nobody registered.

use encx::KeyInUse;
use futures_util::future::BoxFuture;
use sqlx::Pool;

use crate::database::census::{encrypted_tables, key_usage_sql, table_name};
use crate::database::dialect::placeholder;
use crate::database::driver::ByteCount;
use crate::encx_database::EncxDatabase;
use crate::error::{is_missing_table, Result};

/// The tables of encx whose rows hold a key wrapped under a KEK, with the column holding it.
const WRAPPING_TABLES: [(&str, &str); 2] = [
    ("encx_secrets", "encx_dek"),
    (encx::keys::subject::SUBJECT_KEY_TABLE, "wrapped"),
];

/// Tables with their rows per key.
pub(crate) type UsageByTable = Vec<(&'static str, Vec<(KeyInUse, u64)>)>;

/// encx's own tables of one database, type erased.
pub(crate) trait EncxTables: Send + Sync {
    /// Per table holding keys wrapped under a key of the keyring (`encx_secrets`,
    /// `encx_subject_keys`, and every table of the application with an `encx_dek` column):
    /// how many rows each key serves. Tables not there are left out.
    fn key_usage(&self) -> BoxFuture<'_, Result<UsageByTable>>;

    /// Tokens of `encx_tokens` issued before `before_ms` (milliseconds since 1970) that have
    /// not expired: they verify only under the index key versions live when they were issued.
    fn live_tokens_issued_before(&self, before_ms: i64) -> BoxFuture<'_, Result<u64>>;
}

/// [`EncxTables`] of a pool.
pub(crate) struct TablesIn<DB: sqlx::Database>(pub(crate) Pool<DB>);

impl<DB: EncxDatabase> TablesIn<DB> {
    /// `sql` (a `COUNT(*)`), `None` when its table does not exist.
    async fn count(&self, sql: &str) -> Result<Option<u64>> {
        let mut conn = self.0.acquire().await?;
        match DB::fetch_count(&mut conn, sql, Default::default()).await {
            Ok(n) => Ok(Some(u64::try_from(n).unwrap_or(0))),
            Err(e) if is_missing_table(&e) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn usage_of(&self, table: &str, column: &str) -> Result<Option<Vec<(KeyInUse, u64)>>> {
        let p = placeholder(DB::DIALECT, 1);
        let len = KeyInUse::PREFIX_LEN;
        // `<> ''`: always true for a stored key; the driver's grouped read takes one parameter.
        let sql = format!(
            "SELECT substr({column}, 1, {len}), COUNT(*) FROM {table} \
             WHERE {column} IS NOT NULL AND substr({column}, 1, {len}) <> {p} GROUP BY 1"
        );
        self.grouped(&sql, &[]).await
    }

    /// Rows per key of the application's table `table`, as
    /// [`Repo::key_usage`](crate::Repo::key_usage) counts them without its key index: every
    /// data subject's rows as one entry, erased rows as another.
    async fn application_usage(&self, table: &str) -> Result<Option<Vec<(KeyInUse, u64)>>> {
        let sql = key_usage_sql(DB::DIALECT, table);
        self.grouped(&sql, &[encx::KeyringKind::Subject.byte()])
            .await
    }

    /// Runs `sql`, a `SELECT <key prefix>, COUNT(*) … GROUP BY 1` of one parameter; `None`
    /// when its table does not exist.
    async fn grouped(&self, sql: &str, param: &[u8]) -> Result<Option<Vec<(KeyInUse, u64)>>> {
        let mut conn = self.0.acquire().await?;
        let rows: Vec<ByteCount> = match DB::fetch_byte_counts(&mut conn, sql, param).await {
            Ok(rows) => rows,
            Err(e) if is_missing_table(&e) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let mut usage = std::collections::BTreeMap::new();
        for (prefix, n) in rows {
            *usage
                .entry(KeyInUse::from_prefix(prefix.as_deref()))
                .or_insert(0) += u64::try_from(n).unwrap_or(0);
        }
        Ok(Some(usage.into_iter().collect()))
    }
}

impl<DB: EncxDatabase> EncxTables for TablesIn<DB> {
    fn key_usage(&self) -> BoxFuture<'_, Result<UsageByTable>> {
        Box::pin(async move {
            let mut out = Vec::new();
            for (table, column) in WRAPPING_TABLES {
                if let Some(usage) = self.usage_of(table, column).await? {
                    out.push((table, usage));
                }
            }
            let application = {
                let mut conn = self.0.acquire().await?;
                encrypted_tables::<DB>(&mut conn, DB::DIALECT).await?
            };
            for table in application {
                // A table dropped since the census is left out.
                if let Some(usage) = self.application_usage(&table).await? {
                    out.push((table_name(&table), usage));
                }
            }
            Ok(out)
        })
    }

    fn live_tokens_issued_before(&self, before_ms: i64) -> BoxFuture<'_, Result<u64>> {
        Box::pin(async move {
            let now = crate::database::time::now_millis();
            let sql = format!(
                "SELECT COUNT(*) FROM encx_tokens WHERE created_at < {before_ms} \
                 AND (expires_at IS NULL OR expires_at > {now})"
            );
            Ok(self.count(&sql).await?.unwrap_or(0))
        })
    }
}
