//! The statements of the secrets and token stores, per database: [`SecretsDatabase`], what
//! the stores need of a database beyond encx-sqlx's [`EncxDatabase`]. encx-sqlx's
//! [`migrate`](encx_sqlx::migrate) creates their tables, `encx_secrets` and `encx_tokens`,
//! with encx's others.

use std::future::Future;

use encx_sqlx::EncxDatabase;
use sqlx::{Pool, Row};
use uuid::Uuid;

use crate::error::Result;

/// One stored version of a secret (`encx_secrets`).
#[derive(Clone)]
pub struct SecretRow {
    /// Name of the secret.
    pub name: String,
    /// Its version, from 1.
    pub version: i64,
    /// Tags, `,a,b,` (commas around each).
    pub tags: String,
    /// The sealed value (absent in metadata listings).
    pub value: Option<Vec<u8>>,
    /// The wrapped DEK.
    pub encx_dek: Option<Vec<u8>>,
    /// Milliseconds since 1970.
    pub created_at: i64,
    /// Milliseconds since 1970.
    pub expires_at: Option<i64>,
}

/// One stored token hash (`encx_tokens`).
#[derive(Clone, Debug)]
pub struct TokenRow {
    /// The keyed hash of the token.
    pub hash: Vec<u8>,
    /// A public id (to revoke without the token).
    pub id: Uuid,
    /// The token prefix.
    pub prefix: String,
    /// Who holds it.
    pub owner: String,
    /// Milliseconds since 1970.
    pub created_at: i64,
    /// Milliseconds since 1970.
    pub expires_at: Option<i64>,
    /// MAC over the hash and the other columns ([`encx::Tokens::seal_row`]).
    pub seal: Vec<u8>,
}

/// A database the secrets and token stores run on: encx-sqlx's [`EncxDatabase`] and the
/// statements of `encx_secrets` and `encx_tokens`. Implemented for `sqlx::Postgres`,
/// `sqlx::MySql` and `sqlx::Sqlite` (features `postgres`, `mysql`, `sqlite`).
pub trait SecretsDatabase: EncxDatabase {
    /// Inserts a secret version; `Ok(false)` when that (name, version) exists.
    fn insert_secret(
        pool: &Pool<Self>,
        row: &SecretRow,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// The newest version of `name`, or a given one.
    fn select_secret(
        pool: &Pool<Self>,
        name: &str,
        version: Option<i64>,
    ) -> impl Future<Output = Result<Option<SecretRow>>> + Send;
    /// Every version's metadata (no value, no key), by name then version.
    fn secret_metadata(pool: &Pool<Self>) -> impl Future<Output = Result<Vec<SecretRow>>> + Send;
    /// Every version of `name` with its value and key (for rewrap).
    fn secret_versions(
        pool: &Pool<Self>,
        name: &str,
    ) -> impl Future<Output = Result<Vec<SecretRow>>> + Send;
    /// Replaces the wrapped DEK of one version if it is still `old`.
    fn update_secret_dek(
        pool: &Pool<Self>,
        name: &str,
        version: i64,
        old: &[u8],
        new: &[u8],
    ) -> impl Future<Output = Result<bool>> + Send;
    /// Replaces the sealed value and wrapped DEK of one version if its DEK is still `old`.
    fn reseal_secret(
        pool: &Pool<Self>,
        row: &SecretRow,
        old: &[u8],
    ) -> impl Future<Output = Result<bool>> + Send;
    /// The wrapped DEK of every version.
    fn secret_deks(pool: &Pool<Self>) -> impl Future<Output = Result<Vec<Vec<u8>>>> + Send;
    /// Deletes every version of `name`; returns how many.
    fn delete_secret(pool: &Pool<Self>, name: &str) -> impl Future<Output = Result<u64>> + Send;

    /// Inserts a token hash.
    fn insert_token(pool: &Pool<Self>, row: &TokenRow) -> impl Future<Output = Result<()>> + Send;
    /// The tokens with one of these hashes.
    fn tokens_by_hash(
        pool: &Pool<Self>,
        hashes: &[Vec<u8>],
    ) -> impl Future<Output = Result<Vec<TokenRow>>> + Send;
    /// The tokens of `owner` with `prefix`.
    fn tokens_of(
        pool: &Pool<Self>,
        prefix: &str,
        owner: &str,
    ) -> impl Future<Output = Result<Vec<TokenRow>>> + Send;
    /// Deletes tokens: the one with `id`, or every one of `owner`; returns how many.
    fn revoke_tokens(
        pool: &Pool<Self>,
        prefix: &str,
        id: Option<Uuid>,
        owner: Option<&str>,
    ) -> impl Future<Output = Result<u64>> + Send;
    /// Deletes tokens expired before `before`; returns how many.
    fn purge_tokens(
        pool: &Pool<Self>,
        prefix: &str,
        before: i64,
    ) -> impl Future<Output = Result<u64>> + Send;
}

/// A text column, also where MySQL/MariaDB reports it as bytes (its binary collation, which
/// makes names compare byte for byte, marks the column binary).
fn exact_text<R: Row>(row: &R, column: &str) -> Result<String>
where
    for<'r> &'r str: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Vec<u8>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    match row.try_get::<String, _>(column) {
        Ok(text) => Ok(text),
        Err(sqlx::Error::ColumnDecode { .. }) => {
            let bytes: Vec<u8> = row.try_get(column)?;
            String::from_utf8(bytes).map_err(|e| {
                sqlx::Error::ColumnDecode {
                    index: column.to_owned(),
                    source: Box::new(e),
                }
                .into()
            })
        }
        Err(e) => Err(e.into()),
    }
}

fn secret_from<R: Row>(row: &R, with_value: bool) -> Result<SecretRow>
where
    for<'r> &'r str: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Vec<u8>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(SecretRow {
        name: exact_text(row, "name")?,
        version: row.try_get("version")?,
        tags: row.try_get("tags")?,
        value: if with_value {
            Some(row.try_get("value")?)
        } else {
            None
        },
        encx_dek: if with_value {
            Some(row.try_get("encx_dek")?)
        } else {
            None
        },
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
    })
}

fn token_from<R: Row>(row: &R) -> Result<TokenRow>
where
    for<'r> &'r str: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Vec<u8>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Uuid: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(TokenRow {
        hash: row.try_get("hash")?,
        id: row.try_get("id")?,
        prefix: exact_text(row, "prefix")?,
        owner: exact_text(row, "owner")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        seal: row.try_get("seal")?,
    })
}

const SECRET_META: &str = "name AS name, version AS version, tags AS tags, created_at AS created_at, expires_at AS expires_at";
const SECRET_ALL: &str = "name AS name, version AS version, tags AS tags, value AS value, encx_dek AS encx_dek, created_at AS created_at, expires_at AS expires_at";
const TOKEN_ALL: &str = "hash AS hash, id AS id, prefix AS prefix, owner AS owner, created_at AS created_at, expires_at AS expires_at, seal AS seal";

macro_rules! impl_store_sql {
    ($db:ty, $p:expr) => {
        impl SecretsDatabase for $db {
            async fn insert_secret(pool: &Pool<Self>, row: &SecretRow) -> Result<bool> {
                let sql = format!(
                    "INSERT INTO encx_secrets (name, version, tags, value, encx_dek, created_at, expires_at) \
                     VALUES ({}, {}, {}, {}, {}, {}, {})",
                    $p(1), $p(2), $p(3), $p(4), $p(5), $p(6), $p(7)
                );
                let done = sqlx::query(crate::trusted(&sql))
                    .bind(&row.name)
                    .bind(row.version)
                    .bind(&row.tags)
                    .bind(row.value.as_deref().unwrap_or_default())
                    .bind(row.encx_dek.as_deref().unwrap_or_default())
                    .bind(row.created_at)
                    .bind(row.expires_at)
                    .execute(pool)
                    .await;
                match done {
                    Ok(_) => Ok(true),
                    Err(e) if encx_sqlx::is_unique_violation(&e) => Ok(false),
                    Err(e) => Err(e.into()),
                }
            }

            async fn select_secret(
                pool: &Pool<Self>,
                name: &str,
                version: Option<i64>,
            ) -> Result<Option<SecretRow>> {
                let row = match version {
                    Some(v) => {
                        let sql = format!(
                            "SELECT {SECRET_ALL} FROM encx_secrets WHERE name = {} AND version = {}",
                            $p(1), $p(2)
                        );
                        sqlx::query(crate::trusted(&sql)).bind(name).bind(v).fetch_optional(pool).await?
                    }
                    None => {
                        let sql = format!(
                            "SELECT {SECRET_ALL} FROM encx_secrets WHERE name = {} \
                             ORDER BY version DESC LIMIT 1",
                            $p(1)
                        );
                        sqlx::query(crate::trusted(&sql)).bind(name).fetch_optional(pool).await?
                    }
                };
                row.as_ref().map(|r| secret_from(r, true)).transpose()
            }

            async fn secret_metadata(pool: &Pool<Self>) -> Result<Vec<SecretRow>> {
                let sql = format!("SELECT {SECRET_META} FROM encx_secrets ORDER BY name, version");
                let rows = sqlx::query(crate::trusted(&sql)).fetch_all(pool).await?;
                rows.iter().map(|r| secret_from(r, false)).collect()
            }

            async fn secret_versions(pool: &Pool<Self>, name: &str) -> Result<Vec<SecretRow>> {
                let sql = format!(
                    "SELECT {SECRET_ALL} FROM encx_secrets WHERE name = {} ORDER BY version",
                    $p(1)
                );
                let rows = sqlx::query(crate::trusted(&sql)).bind(name).fetch_all(pool).await?;
                rows.iter().map(|r| secret_from(r, true)).collect()
            }

            async fn update_secret_dek(
                pool: &Pool<Self>,
                name: &str,
                version: i64,
                old: &[u8],
                new: &[u8],
            ) -> Result<bool> {
                let sql = format!(
                    "UPDATE encx_secrets SET encx_dek = {} WHERE name = {} AND version = {} AND encx_dek = {}",
                    $p(1), $p(2), $p(3), $p(4)
                );
                let done = sqlx::query(crate::trusted(&sql))
                    .bind(new)
                    .bind(name)
                    .bind(version)
                    .bind(old)
                    .execute(pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn reseal_secret(pool: &Pool<Self>, row: &SecretRow, old: &[u8]) -> Result<bool> {
                let sql = format!(
                    "UPDATE encx_secrets SET value = {}, encx_dek = {} WHERE name = {} AND version = {} AND encx_dek = {}",
                    $p(1), $p(2), $p(3), $p(4), $p(5)
                );
                let done = sqlx::query(crate::trusted(&sql))
                    .bind(row.value.as_deref().unwrap_or_default())
                    .bind(row.encx_dek.as_deref().unwrap_or_default())
                    .bind(&row.name)
                    .bind(row.version)
                    .bind(old)
                    .execute(pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn secret_deks(pool: &Pool<Self>) -> Result<Vec<Vec<u8>>> {
                let rows: Vec<(Vec<u8>,)> = sqlx::query_as("SELECT encx_dek AS encx_dek FROM encx_secrets")
                    .fetch_all(pool)
                    .await?;
                Ok(rows.into_iter().map(|(dek,)| dek).collect())
            }

            async fn delete_secret(pool: &Pool<Self>, name: &str) -> Result<u64> {
                let sql = format!("DELETE FROM encx_secrets WHERE name = {}", $p(1));
                Ok(sqlx::query(crate::trusted(&sql)).bind(name).execute(pool).await?.rows_affected())
            }

            async fn insert_token(pool: &Pool<Self>, row: &TokenRow) -> Result<()> {
                let sql = format!(
                    "INSERT INTO encx_tokens (hash, id, prefix, owner, created_at, expires_at, seal) \
                     VALUES ({}, {}, {}, {}, {}, {}, {})",
                    $p(1), $p(2), $p(3), $p(4), $p(5), $p(6), $p(7)
                );
                sqlx::query(crate::trusted(&sql))
                    .bind(&row.hash)
                    .bind(row.id)
                    .bind(&row.prefix)
                    .bind(&row.owner)
                    .bind(row.created_at)
                    .bind(row.expires_at)
                    .bind(&row.seal)
                    .execute(pool)
                    .await?;
                Ok(())
            }

            async fn tokens_by_hash(pool: &Pool<Self>, hashes: &[Vec<u8>]) -> Result<Vec<TokenRow>> {
                if hashes.is_empty() {
                    return Ok(Vec::new());
                }
                let marks: Vec<String> = (1..=hashes.len()).map($p).collect();
                let sql = format!(
                    "SELECT {TOKEN_ALL} FROM encx_tokens WHERE hash IN ({})",
                    marks.join(", ")
                );
                let mut query = sqlx::query(crate::trusted(&sql));
                for hash in hashes {
                    query = query.bind(hash);
                }
                let rows = query.fetch_all(pool).await?;
                rows.iter().map(token_from).collect()
            }

            async fn tokens_of(pool: &Pool<Self>, prefix: &str, owner: &str) -> Result<Vec<TokenRow>> {
                let sql = format!(
                    "SELECT {TOKEN_ALL} FROM encx_tokens WHERE owner = {} AND prefix = {} ORDER BY created_at",
                    $p(1), $p(2)
                );
                let rows = sqlx::query(crate::trusted(&sql)).bind(owner).bind(prefix).fetch_all(pool).await?;
                rows.iter().map(token_from).collect()
            }

            async fn revoke_tokens(
                pool: &Pool<Self>,
                prefix: &str,
                id: Option<Uuid>,
                owner: Option<&str>,
            ) -> Result<u64> {
                let done = match (id, owner) {
                    (Some(id), _) => {
                        let sql = format!(
                            "DELETE FROM encx_tokens WHERE prefix = {} AND id = {}",
                            $p(1), $p(2)
                        );
                        sqlx::query(crate::trusted(&sql)).bind(prefix).bind(id).execute(pool).await?
                    }
                    (None, Some(owner)) => {
                        let sql = format!(
                            "DELETE FROM encx_tokens WHERE prefix = {} AND owner = {}",
                            $p(1), $p(2)
                        );
                        sqlx::query(crate::trusted(&sql)).bind(prefix).bind(owner).execute(pool).await?
                    }
                    (None, None) => return Ok(0),
                };
                Ok(done.rows_affected())
            }

            async fn purge_tokens(pool: &Pool<Self>, prefix: &str, before: i64) -> Result<u64> {
                let sql = format!(
                    "DELETE FROM encx_tokens WHERE prefix = {} AND expires_at IS NOT NULL AND expires_at < {}",
                    $p(1), $p(2)
                );
                Ok(sqlx::query(crate::trusted(&sql))
                    .bind(prefix)
                    .bind(before)
                    .execute(pool)
                    .await?
                    .rows_affected())
            }
        }
    };
}

#[cfg(feature = "postgres")]
impl_store_sql!(sqlx::Postgres, dollar);
#[cfg(feature = "mysql")]
impl_store_sql!(sqlx::MySql, question);
#[cfg(feature = "sqlite")]
impl_store_sql!(sqlx::Sqlite, question);

/// PostgreSQL's `$n` placeholder.
#[cfg(feature = "postgres")]
fn dollar(n: usize) -> String {
    format!("${n}")
}

/// MySQL's and SQLite's `?` placeholder.
#[cfg(any(feature = "mysql", feature = "sqlite"))]
fn question(_: usize) -> String {
    "?".to_owned()
}
