//! [`Error`]: what the secrets store, the token store and configuration loading report.

/// This crate's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error of the secrets store, the token store or configuration loading. Tampering, a
/// shredded or missing key, a KMS outage and bad configuration stay apart: see the
/// predicates, which look through to the encx error wherever it sits.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A cryptographic failure: a tampered or moved row, a shredded or missing key, an
    /// unreachable KMS, an expired secret ([`encx::Error`]).
    #[error(transparent)]
    Crypto(#[from] encx::Error),

    /// The database or encx-sqlx beneath the store: an outage, a constraint, a guard.
    #[error(transparent)]
    Store(#[from] encx_sqlx::Error),

    /// No secret (or version) of that name.
    #[error("no record {id} in table `{table}`")]
    NotFound {
        /// The table searched (`encx_secrets`).
        table: &'static str,
        /// The name (and version) looked for.
        id: String,
    },

    /// Bad input or setup: an empty value, an expiry in the past, a setting that is missing
    /// or does not parse (named, never its value).
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
}

impl From<sqlx::Error> for Error {
    /// Classified as encx-sqlx classifies it (a column encx refused keeps its encx error).
    fn from(e: sqlx::Error) -> Self {
        Error::Store(e.into())
    }
}

impl Error {
    /// The encx error inside, if any.
    fn crypto(&self) -> Option<&encx::Error> {
        match self {
            Error::Crypto(e) | Error::Store(encx_sqlx::Error::Crypto(e)) => Some(e),
            _ => None,
        }
    }

    /// The class of a cryptographic error ([`encx::ErrorKind`]); `None` for others.
    pub fn crypto_kind(&self) -> Option<encx::ErrorKind> {
        self.crypto().map(encx::Error::kind)
    }

    /// True when the value was crypto-shredded (its key destroyed).
    pub fn is_shredded(&self) -> bool {
        self.crypto().is_some_and(encx::Error::is_shredded)
    }

    /// True when stored bytes failed an integrity check ([`encx::Error::is_tampered`]): the
    /// predicate to alert on.
    pub fn is_tampered(&self) -> bool {
        self.crypto().is_some_and(encx::Error::is_tampered)
    }

    /// True when a key the stored bytes rightly name is not available here.
    pub fn is_key_missing(&self) -> bool {
        self.crypto().is_some_and(encx::Error::is_key_missing)
    }

    /// True for failures that may pass when retried (a keyring or database outage).
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Crypto(e) => e.is_retryable(),
            Error::Store(e) => e.is_retryable(),
            _ => false,
        }
    }
}

impl From<Error> for encx_sqlx::Error {
    /// For the registry's jobs, which report encx-sqlx errors.
    fn from(e: Error) -> Self {
        match e {
            Error::Crypto(e) => encx_sqlx::Error::Crypto(e),
            Error::Store(e) => e,
            Error::NotFound { table, id } => encx_sqlx::Error::NotFound { table, id },
            Error::InvalidConfig(m) => encx_sqlx::Error::InvalidConfig(m),
        }
    }
}

impl encx_sqlx::audit::AuditFailure for Error {
    fn outcome(&self) -> encx::audit::AuditOutcome {
        use encx::audit::AuditOutcome;
        match (self, self.crypto_kind()) {
            (_, Some(kind)) => AuditOutcome::Failed(kind),
            (Error::InvalidConfig(_), None) => AuditOutcome::Failed(encx::ErrorKind::Configuration),
            (Error::Store(e), None) => e.outcome(),
            _ => AuditOutcome::FailedElsewhere,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn the_predicates_look_through_to_the_encx_error() {
        let direct = Error::Crypto(encx::Error::Tampered);
        let beneath = Error::Store(encx_sqlx::Error::Crypto(encx::Error::Tampered));
        for e in [&direct, &beneath] {
            assert!(e.is_tampered(), "{e:?}");
            assert!(!e.is_shredded() && !e.is_key_missing() && !e.is_retryable());
        }
        let outage = Error::from(sqlx::Error::PoolTimedOut);
        assert!(outage.is_retryable() && !outage.is_tampered());
        assert!(!Error::InvalidConfig("x".into()).is_retryable());
    }

    #[test]
    fn a_not_found_stays_one_for_the_registry() {
        let e = encx_sqlx::Error::from(Error::NotFound {
            table: "encx_secrets",
            id: "smtp".into(),
        });
        assert!(matches!(
            e,
            encx_sqlx::Error::NotFound {
                table: "encx_secrets",
                ..
            }
        ));
    }
}
