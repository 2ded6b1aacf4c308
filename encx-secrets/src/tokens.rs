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
//! let api_keys = encx_secrets::TokenStore::new(pool, crypto.tokens("sk_live")?);
//! let (token, issued) = api_keys.issue("customer-42", None).await?; // show `token` once
//! let found = api_keys.verify(token.expose_secret()).await?.expect("valid token");
//! assert_eq!(found.owner, "customer-42");
//! api_keys.revoke(issued.id).await?;
//! assert!(api_keys.verify(token.expose_secret()).await?.is_none());
//! # Ok(()) }
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use encx::audit::{AuditAction, AuditEvent, AuditOutcome};
use encx::error::ErrorKind;

use encx::{SecretToken, TokenHash, Tokens};
use sqlx::Pool;
use uuid::Uuid;

use encx_sqlx::audit::audited;
use encx_sqlx::{millis, now_millis, time_of_millis as time};

use crate::error::{Error, Result};
use crate::store_sql::SecretsDatabase as EncxDatabase;
use crate::store_sql::TokenRow;

const MAX_OWNER_LEN: usize = 255;
/// The table of issued tokens, named in audit events.
const TOKENS_TABLE: &str = "encx_tokens";

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
/// [`migrate`](encx_sqlx::migrate) first).
///
/// Each `issue`, `verify`, `revoke`, `revoke_owner` and `purge` sends an audit event (actions
/// `issue`, `verify`, `revoke`) to the audit sink of the `Crypto` that made the
/// [`Tokens`]: table `encx_tokens`, the token's id as the record and its owner as the
/// subject where known, never the token text. A `verify` that matched nothing says
/// `records: 0` (watch those for guessing); one that matched an expired token, outcome
/// `expired`.
pub struct TokenStore<DB: sqlx::Database> {
    pool: Pool<DB>,
    tokens: Tokens,
    actor: Option<Arc<str>>,
}

impl<DB: sqlx::Database> Clone for TokenStore<DB> {
    fn clone(&self) -> Self {
        TokenStore {
            pool: self.pool.clone(),
            tokens: self.tokens.clone(),
            actor: self.actor.clone(),
        }
    }
}

impl<DB: sqlx::Database> fmt::Debug for TokenStore<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenStore")
            .field("database", &DB::NAME)
            .field("prefix", &self.tokens.prefix())
            .field("actor", &self.actor)
            .finish()
    }
}

impl<DB: EncxDatabase> TokenStore<DB> {
    /// A store of the tokens made by `tokens` ([`encx::Crypto::tokens`]).
    pub fn new(pool: Pool<DB>, tokens: Tokens) -> Self {
        TokenStore {
            pool,
            tokens,
            actor: None,
        }
    }

    /// This store, naming `actor` (a service, an operator) in every audit event it sends.
    pub fn with_actor(&self, actor: impl Into<String>) -> Self {
        let mut store = self.clone();
        store.actor = Some(Arc::from(actor.into()));
        store
    }

    /// Runs `work` under an audit event of `action` (about `owner`, if given).
    async fn audited<R>(
        &self,
        action: AuditAction,
        owner: Option<&str>,
        work: impl std::future::Future<Output = Result<R>>,
        describe: impl FnOnce(&R, &mut AuditEvent),
    ) -> Result<R> {
        let mut event = AuditEvent::new(action, TOKENS_TABLE, SystemTime::now());
        event.actor = self.actor.as_deref().map(str::to_owned);
        event.subject = owner.map(str::to_owned);
        let sink = self.tokens.audit_sink().as_ref();
        audited(sink, event, work, describe).await
    }

    /// Issues a new token for `owner`, valid for `ttl` (or until revoked). Returns the token
    /// (hand it over once: it is not stored) and what is stored about it.
    pub async fn issue(
        &self,
        owner: &str,
        ttl: Option<Duration>,
    ) -> Result<(SecretToken, IssuedToken)> {
        let work = self.issue_unaudited(owner, ttl);
        self.audited(
            AuditAction::Issue,
            Some(owner),
            work,
            |(_, issued), event| {
                event.record = Some(issued.id.to_string());
                event.records = 1;
            },
        )
        .await
    }

    async fn issue_unaudited(
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
        let work = self.matching(presented);
        let now = SystemTime::now();
        let found = self
            .audited(AuditAction::Verify, None, work, |found, event| {
                if let Some(token) = found {
                    event.record = Some(token.id.to_string());
                    event.subject = Some(token.owner.clone());
                    if token.is_valid_at(now) {
                        event.records = 1;
                    } else {
                        event.outcome = AuditOutcome::Failed(ErrorKind::Expired);
                    }
                }
            })
            .await?;
        Ok(found.filter(|t| t.is_valid_at(now)))
    }

    /// The issued token `presented` stands for, expired or not.
    async fn matching(&self, presented: &str) -> Result<Option<IssuedToken>> {
        let hashes = self.tokens.lookup_hashes(presented)?;
        let lookup: Vec<Vec<u8>> = hashes.iter().map(|h| h.as_bytes().to_vec()).collect();
        let rows = DB::tokens_by_hash(&self.pool, &lookup).await?;
        let candidates: Vec<&[u8]> = hashes.iter().map(TokenHash::as_bytes).collect();
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
        Ok(found)
    }

    /// Revokes the token with this id (its row is deleted); `false` if there is none.
    pub async fn revoke(&self, id: Uuid) -> Result<bool> {
        let work = DB::revoke_tokens(&self.pool, self.tokens.prefix(), Some(id), None);
        let revoked = self
            .audited(AuditAction::Revoke, None, work, |revoked, event| {
                event.record = Some(id.to_string());
                event.records = *revoked;
            })
            .await?;
        Ok(revoked > 0)
    }

    /// Revokes every token of `owner` (log out everywhere); returns how many.
    pub async fn revoke_owner(&self, owner: &str) -> Result<u64> {
        // By id, after an exact comparison here: a database whose comparison ignores trailing
        // spaces (MySQL/MariaDB's PAD SPACE collations) must not revoke another owner's.
        let work = async {
            let mut revoked = 0;
            for token in self.list(owner).await? {
                revoked +=
                    DB::revoke_tokens(&self.pool, self.tokens.prefix(), Some(token.id), None)
                        .await?;
            }
            Ok(revoked)
        };
        self.audited(AuditAction::Revoke, Some(owner), work, counted)
            .await
    }

    /// The tokens issued to `owner` and not revoked, oldest first, expired ones included.
    pub async fn list(&self, owner: &str) -> Result<Vec<IssuedToken>> {
        Ok(DB::tokens_of(&self.pool, self.tokens.prefix(), owner)
            .await?
            .into_iter()
            .filter(|row| row.owner == owner && row.prefix == self.tokens.prefix())
            .map(IssuedToken::from_row)
            .collect())
    }

    /// Deletes the rows of tokens that expired before `before`; returns how many.
    pub async fn purge(&self, before: SystemTime) -> Result<u64> {
        let work = DB::purge_tokens(&self.pool, self.tokens.prefix(), millis(before));
        self.audited(AuditAction::Revoke, None, work, counted).await
    }
}

/// An audit event's count: the rows an operation touched.
fn counted(rows: &u64, event: &mut AuditEvent) {
    event.records = *rows;
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
