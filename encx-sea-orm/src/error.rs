//! encx-sea-orm's error: encx's cryptographic errors, SeaORM's database errors, and the
//! stored rows it cannot map.

/// What can go wrong reading or writing encrypted records through SeaORM.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Encryption, decryption, keys: shredded, tampered, missing key, KMS outage
    /// (see [`encx::Error`]).
    #[error(transparent)]
    Crypto(#[from] encx::Error),
    /// encx's tables and jobs (migrations, subject erasure), through encx-sqlx.
    #[error(transparent)]
    Store(#[from] encx_sqlx::Error),
    /// The database, through SeaORM.
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
    /// The entity has no column that the record's schema names (the entity and the type's
    /// `#[derive(Encrypted)]` disagree).
    #[error("table `{table}`: the SeaORM entity has no column `{column}`")]
    MissingColumn {
        /// The table.
        table: &'static str,
        /// The column the schema names.
        column: &'static str,
    },
    /// The connection's backend was not compiled in (enable the crate feature of that
    /// database: `postgres`, `mysql` or `sqlite`).
    #[error("this connection's database ({0}) is not enabled in encx-sea-orm's features")]
    BackendNotEnabled(String),
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

    /// True for a failure that may pass on retry (a KMS or database outage).
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Crypto(e) => e.is_retryable(),
            Error::Store(e) => e.is_retryable(),
            Error::Db(e) => matches!(
                e,
                sea_orm::DbErr::Conn(_) | sea_orm::DbErr::ConnectionAcquire(_)
            ),
            _ => false,
        }
    }
}

/// encx-sea-orm's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl encx_sqlx::audit::AuditFailure for Error {
    fn outcome(&self) -> encx::audit::AuditOutcome {
        match self {
            Error::Crypto(e) => e.outcome(),
            Error::Store(e) => e.outcome(),
            _ => encx::audit::AuditOutcome::FailedElsewhere,
        }
    }
}
