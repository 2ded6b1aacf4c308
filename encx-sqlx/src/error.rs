//! The error type of `encx-sqlx`.

/// A `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong in a repository, key store or migration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A cryptographic outcome: `Tampered`, `Shredded` (erased record), `KeyNotFound`,
    /// `KeyringUnavailable` (retry), `InvalidConfig`, `Codec`. See [`encx::Error`].
    #[error(transparent)]
    Crypto(#[from] encx::Error),

    /// The database failed or refused the statement.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),

    /// No row with this id.
    #[error("no record {id} in table `{table}`")]
    NotFound {
        /// Table searched.
        table: &'static str,
        /// The id looked for.
        id: String,
    },

    /// The repository cannot do this for this type (e.g. `get` on a type without
    /// `#[encx(id)]`).
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
}

impl Error {
    /// True when the record was erased (crypto-shredded).
    pub fn is_shredded(&self) -> bool {
        matches!(self, Error::Crypto(encx::Error::Shredded { .. }))
    }

    /// True when a ciphertext or wrapped key failed authentication.
    pub fn is_tampered(&self) -> bool {
        matches!(self, Error::Crypto(encx::Error::Tampered))
    }

    /// True for failures that may pass when retried (keyring unavailable, pool timeout, I/O).
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Crypto(e) => e.is_retryable(),
            Error::Database(e) => matches!(e, sqlx::Error::PoolTimedOut | sqlx::Error::Io(_)),
            _ => false,
        }
    }
}

pub(crate) fn encode_error(e: sqlx::error::BoxDynError) -> Error {
    Error::Database(sqlx::Error::Encode(e))
}
