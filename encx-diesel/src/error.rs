//! encx-diesel's error: encx's cryptographic errors and Diesel's.

/// What can go wrong encrypting, decrypting or searching rows through Diesel.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Encryption, decryption, keys: shredded, tampered, missing key, KMS outage
    /// (see [`encx::Error`]).
    #[error(transparent)]
    Crypto(#[from] encx::Error),
    /// The database, through Diesel.
    #[error("database: {0}")]
    Db(#[from] diesel::result::Error),
}

impl Error {
    /// True when the record's data key was erased (crypto-shredded).
    pub fn is_shredded(&self) -> bool {
        matches!(self, Error::Crypto(e) if e.is_shredded())
    }

    /// True when stored bytes failed an integrity check (altered, or moved between rows,
    /// columns or tables).
    pub fn is_tampered(&self) -> bool {
        matches!(self, Error::Crypto(e) if e.is_tampered())
    }

    /// True for a failure that may pass on retry (a KMS outage).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Crypto(e) if e.is_retryable())
    }
}

/// encx-diesel's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl encx_sqlx::audit::AuditFailure for Error {
    fn outcome(&self) -> encx::audit::AuditOutcome {
        match self {
            Error::Crypto(e) => encx_sqlx::audit::AuditFailure::outcome(e),
            Error::Db(_) => encx::audit::AuditOutcome::FailedElsewhere,
        }
    }
}
