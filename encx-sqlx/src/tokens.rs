//! [`TokenStore`]: issued bearer tokens (API keys, session tokens, password-reset tokens) in
//! the table `encx_tokens`, which holds only their keyed hashes ([`encx::Tokens`]).
//!
//! A stolen copy of the table does not give a usable token, and cannot be checked against
//! guesses without the index root key. A presented token is found by an equality lookup on
//! its hash (one per index key version), then verified in constant time; revoked and expired
//! tokens do not verify.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let pool = sqlx::SqlitePool::connect("sqlite::memory:").await?;
//! encx_sqlx::migrate(&pool).await?;
//! let crypto = encx::Crypto::builder()
//!     .keyring(encx::LocalKeyring::new(vec![encx::MasterKey::generate("v1")?])?)
//!     .index_keys(encx::index::IndexKeys::generate()?)
//!     .build()
//!     .await?;
//! let api_keys = encx_sqlx::TokenStore::new(pool, crypto.tokens("sk_live")?);
//! let (token, issued) = api_keys.issue("customer-42", None).await?; // show `token` once
//! let found = api_keys.verify(token.expose_secret()).await?.expect("valid token");
//! assert_eq!(found.owner, "customer-42");
//! api_keys.revoke(issued.id).await?;
//! assert!(api_keys.verify(token.expose_secret()).await?.is_none());
//! # Ok(()) }
//! ```

use std::fmt;
use std::time::{Duration, SystemTime};

use encx::{SecretToken, TokenHash, Tokens};
use sqlx::Pool;
use uuid::Uuid;

use crate::dialect::EncxDatabase;
use crate::error::{Error, Result};
use crate::kek_store::time;
use crate::migrate::{millis, now_millis};
use crate::store_sql::TokenRow;

const MAX_OWNER_LEN: usize = 255;

/// What is known about an issued token (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IssuedToken {
    /// Its public id: show it in an admin page, revoke by it.
    pub id: Uuid,
    /// Its prefix (the kind of token).
    pub prefix: String,
    /// Who holds it (a user id, a service name).
    pub owner: String,
    /// When it was issued.
    pub created_at: SystemTime,
    /// When it stops verifying, if it does.
    pub expires_at: Option<SystemTime>,
}

impl IssuedToken {
    fn from_row(row: TokenRow) -> Self {
        IssuedToken {
            id: row.id,
            prefix: row.prefix,
            owner: row.owner,
            created_at: time(row.created_at),
            expires_at: row.expires_at.map(time),
        }
    }

    /// Whether it has not expired at `now`.
    pub fn is_valid_at(&self, now: SystemTime) -> bool {
        self.expires_at.is_none_or(|at| at > now)
    }
}

/// Tokens of one prefix, stored as keyed hashes in `encx_tokens` (run
/// [`migrate`](crate::migrate) first).
pub struct TokenStore<DB: sqlx::Database> {
    pool: Pool<DB>,
    tokens: Tokens,
}

impl<DB: sqlx::Database> fmt::Debug for TokenStore<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenStore")
            .field("database", &DB::NAME)
            .field("prefix", &self.tokens.prefix())
            .finish()
    }
}

impl<DB: EncxDatabase> TokenStore<DB> {
    /// A store of the tokens made by `tokens` ([`encx::Crypto::tokens`]).
    pub fn new(pool: Pool<DB>, tokens: Tokens) -> Self {
        TokenStore { pool, tokens }
    }

    /// Issues a new token for `owner`, valid for `ttl` (or until revoked). Returns the token
    /// (hand it over once: it is not stored) and what is stored about it.
    pub async fn issue(
        &self,
        owner: &str,
        ttl: Option<Duration>,
    ) -> Result<(SecretToken, IssuedToken)> {
        if owner.is_empty() || owner.len() > MAX_OWNER_LEN {
            return Err(Error::InvalidConfig(format!(
                "token owner must be 1 to {MAX_OWNER_LEN} bytes"
            )));
        }
        let (token, hash) = self.tokens.generate()?;
        let now = now_millis();
        let mut row = TokenRow {
            hash: hash.as_bytes().to_vec(),
            id: Uuid::new_v4(),
            prefix: self.tokens.prefix().to_owned(),
            owner: owner.to_owned(),
            created_at: now,
            expires_at: ttl.map(|ttl| millis(SystemTime::now() + ttl)),
            seal: Vec::new(),
        };
        row.seal = self
            .tokens
            .seal_row(&hash, &row_columns(&row).each_ref().map(Vec::as_slice))?;
        DB::insert_token(&self.pool, &row).await?;
        Ok((token, IssuedToken::from_row(row)))
    }

    /// The token `presented` stands for, if it was issued here and is neither revoked nor
    /// expired; `None` otherwise (also for text that is not a token of this prefix, which
    /// never reaches the database). A stored hash of the wrong length is
    /// `is_tampered()`.
    pub async fn verify(&self, presented: &str) -> Result<Option<IssuedToken>> {
        let hashes = self.tokens.lookup_hashes(presented)?;
        let lookup: Vec<Vec<u8>> = hashes.iter().map(|h| h.as_bytes().to_vec()).collect();
        let rows = DB::tokens_by_hash(&self.pool, &lookup).await?;
        let candidates: Vec<&[u8]> = hashes.iter().map(TokenHash::as_bytes).collect();
        let now = SystemTime::now();
        let mut found = None;
        for row in rows {
            let stored = TokenHash::from_bytes(row.hash.clone())?;
            // The database's equality is not trusted alone: compare again in constant time.
            let matches = encx::ct::find(stored.as_bytes(), &candidates).is_some();
            if matches && row.prefix == self.tokens.prefix() {
                // The owner, id and expiry are the ones issued with it, or it is refused.
                self.tokens.check_row(
                    &stored,
                    &row_columns(&row).each_ref().map(Vec::as_slice),
                    &row.seal,
                )?;
                found = Some(IssuedToken::from_row(row));
            }
        }
        Ok(found.filter(|t| t.is_valid_at(now)))
    }

    /// Revokes the token with this id (its row is deleted); `false` if there is none.
    pub async fn revoke(&self, id: Uuid) -> Result<bool> {
        Ok(DB::revoke_tokens(&self.pool, self.tokens.prefix(), Some(id), None).await? > 0)
    }

    /// Revokes every token of `owner` (log out everywhere); returns how many.
    pub async fn revoke_owner(&self, owner: &str) -> Result<u64> {
        DB::revoke_tokens(&self.pool, self.tokens.prefix(), None, Some(owner)).await
    }

    /// The tokens issued to `owner` and not revoked, oldest first, expired ones included.
    pub async fn list(&self, owner: &str) -> Result<Vec<IssuedToken>> {
        Ok(DB::tokens_of(&self.pool, self.tokens.prefix(), owner)
            .await?
            .into_iter()
            .map(IssuedToken::from_row)
            .collect())
    }

    /// Deletes the rows of tokens that expired before `before`; returns how many.
    pub async fn purge(&self, before: SystemTime) -> Result<u64> {
        DB::purge_tokens(&self.pool, self.tokens.prefix(), millis(before)).await
    }
}

/// The columns a row's seal binds besides the hash: id, prefix, owner, issue and expiry times.
fn row_columns(row: &TokenRow) -> [Vec<u8>; 5] {
    [
        row.id.as_bytes().to_vec(),
        row.prefix.as_bytes().to_vec(),
        row.owner.as_bytes().to_vec(),
        row.created_at.to_be_bytes().to_vec(),
        row.expires_at
            .map_or_else(Vec::new, |at| at.to_be_bytes().to_vec()),
    ]
}
