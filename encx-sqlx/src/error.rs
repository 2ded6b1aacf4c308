//! The error type of `encx-sqlx`.

use encx::sql::UnsupportedColumn;

/// A `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong in a repository, key store or migration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A cryptographic outcome, classified by [`encx::Error::kind`]: integrity failure
    /// (`Tampered`, `UnsupportedFormat`, ...), erased record (`Shredded`), missing key,
    /// outage (retry), configuration. See [`encx::Error`].
    #[error(transparent)]
    Crypto(#[from] encx::Error),

    /// The database failed or refused the statement (the sqlx error is its
    /// [`source`](std::error::Error::source)).
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),

    /// No row with this id.
    #[error("no record {id} in table `{table}`")]
    NotFound {
        /// Table searched.
        table: &'static str,
        /// The id looked for.
        id: String,
    },

    /// The repository cannot do this for this type: a column type the database cannot store
    /// (`Vec<String>` on MySQL, say), a type without `#[encx(id)]`.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),

    /// A key cannot be destroyed: something still needs it, or may (another process's cache).
    #[error("{key} cannot be destroyed: {by} still needs it ({records} row(s)); {remedy}")]
    KeyStillInUse {
        /// The key, e.g. `KEK 0b5e…`.
        key: String,
        /// Who needs it: a table, `encx_subject_keys`, or new records.
        by: String,
        /// How many rows.
        records: u64,
        /// What the operator can do about it, e.g. "run `encx rewrap`, then destroy it".
        remedy: String,
    },

    /// An erasure refused before it changed anything: tables that encx writes (an
    /// `encx_dek` column) that the eraser neither clears nor was told hold no data subject's
    /// rows ([`SubjectEraser::covering`](crate::SubjectEraser::covering)).
    #[error(
        "erasure refused, nothing changed: {} hold(s) rows that encx encrypted (an encx_dek \
         column) and this eraser does not clear, so a subject's rows there would keep their \
         blind indexes. Name each with its subject column (--subject-table TABLE:COLUMN, \
         SubjectEraser::table), or declare that it holds no data subject's rows \
         (--not-subject-table TABLE, SubjectEraser::not_subject_table)",
        tables.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(", ")
    )]
    TablesNotCovered {
        /// The tables, by name.
        tables: Vec<String>,
    },
}

impl Error {
    /// The class of a cryptographic error ([`encx::ErrorKind`]); `None` for database and
    /// repository errors.
    pub fn crypto_kind(&self) -> Option<encx::ErrorKind> {
        match self {
            Error::Crypto(e) => Some(e.kind()),
            _ => None,
        }
    }

    /// True when the record was erased (crypto-shredded).
    pub fn is_shredded(&self) -> bool {
        matches!(self, Error::Crypto(e) if e.is_shredded())
    }

    /// True when stored bytes failed an integrity check: an altered or moved ciphertext or
    /// wrapped key, an unknown format byte, a key id the key store never held, a refused
    /// password hash ([`encx::Error::is_tampered`]). The predicate to alert on.
    pub fn is_tampered(&self) -> bool {
        matches!(self, Error::Crypto(e) if e.is_tampered())
    }

    /// True when a key the stored bytes rightly name is not available here.
    pub fn is_key_missing(&self) -> bool {
        matches!(self, Error::Crypto(e) if e.is_key_missing())
    }

    /// True when the code or setup is wrong: encx's [`encx::Error::is_config`] (a search term
    /// shorter than its index, say) or this crate's `InvalidConfig`.
    ///
    /// ```
    /// assert!(encx_sqlx::Error::InvalidConfig("no id".into()).is_config());
    /// assert!(encx_sqlx::Error::from(encx::Error::config("bits")).is_config());
    /// assert!(!encx_sqlx::Error::from(encx::Error::Tampered).is_config());
    /// ```
    pub fn is_config(&self) -> bool {
        match self {
            Error::Crypto(e) => e.is_config(),
            Error::InvalidConfig(_) => true,
            _ => false,
        }
    }

    /// True for failures that may pass when retried: keyring unavailable, pool timeout, I/O,
    /// a session the server ended (PostgreSQL 57P01–57P03, MySQL/MariaDB 2006/2013), a
    /// deadlock or serialization failure (PostgreSQL 40001/40P01, MySQL/MariaDB 1213).
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Crypto(e) => e.is_retryable(),
            Error::Database(sqlx::Error::Database(db)) => {
                let code = db.code();
                matches!(
                    code.as_deref(),
                    Some("57P01" | "57P02" | "57P03" | "40001" | "40P01")
                ) || matches!(mysql_error_number(db.as_ref()), Some(1213 | 2006 | 2013))
            }
            Error::Database(e) => matches!(
                e,
                sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::Protocol(_)
            ),
            _ => false,
        }
    }
}

impl From<sqlx::Error> for Error {
    /// A column that failed to decode because encx refused its bytes (a password hash over the
    /// limits, say) keeps its encx error, so that [`Error::is_tampered`] sees it.
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::ColumnDecode { index, source } => match source.downcast::<encx::Error>() {
                Ok(encx) => Error::Crypto(*encx),
                Err(source) => match source.downcast::<UnsupportedColumn>() {
                    Ok(unsupported) => Error::InvalidConfig(unsupported.to_string()),
                    Err(source) => Error::Database(sqlx::Error::ColumnDecode { index, source }),
                },
            },
            other => Error::Database(other),
        }
    }
}

/// Whether the database said that a table (or a column) does not exist: PostgreSQL 42P01 /
/// 42703, MySQL/MariaDB 1146 / 1054, SQLite "no such table" / "no such column".
///
/// ```
/// assert!(!encx_sqlx::is_missing_table(&sqlx::Error::RowNotFound));
/// ```
pub fn is_missing_table(e: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db) = e else {
        return false;
    };
    let code = db.code();
    let code = code.as_deref().unwrap_or("");
    matches!(code, "42P01" | "42703" | "42S02" | "42S22")
        || matches!(mysql_error_number(db.as_ref()), Some(1146 | 1054))
        || db.message().starts_with("no such table")
        || db.message().starts_with("no such column")
}

/// The MySQL/MariaDB error number of a database error; `None` for the other databases (and
/// without feature `mysql`, when no MySQL error can occur).
pub fn mysql_error_number(db: &dyn sqlx::error::DatabaseError) -> Option<u16> {
    #[cfg(feature = "mysql")]
    return db
        .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
        .map(|m| m.number());
    #[cfg(not(feature = "mysql"))]
    return {
        let _ = db;
        None
    };
}

/// A value that failed to bind: a column type the database cannot store is a configuration
/// error, anything else the database's.
pub(crate) fn encode_error(e: sqlx::error::BoxDynError) -> Error {
    match e.downcast::<UnsupportedColumn>() {
        Ok(unsupported) => Error::InvalidConfig(unsupported.to_string()),
        Err(e) => Error::Database(sqlx::Error::Encode(e)),
    }
}

/// A key-store failure of the database, as encx's `Unavailable`.
pub(crate) fn unavailable(what: &str, e: sqlx::Error) -> encx::Error {
    encx::Error::unavailable_from(format!("key store: {what}"), e)
}

/// True for a unique-constraint violation (a row with that key exists).
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::error::Error as _;

    use super::*;

    /// Causes stay reachable as sources: a database error's sqlx error, a key store outage's
    /// sqlx error under the encx error.
    #[test]
    fn causes_are_sources() {
        let e = Error::from(sqlx::Error::PoolTimedOut);
        let source = e
            .source()
            .expect("a database error has its sqlx error as source");
        assert!(matches!(
            source.downcast_ref::<sqlx::Error>(),
            Some(sqlx::Error::PoolTimedOut)
        ));
        let e = Error::from(crate::error::unavailable("get", sqlx::Error::PoolTimedOut));
        let mut chain = e.source();
        let mut found = false;
        while let Some(cause) = chain {
            found |= cause.downcast_ref::<sqlx::Error>().is_some();
            chain = cause.source();
        }
        assert!(found, "the sqlx error is in the source chain: {e:?}");
    }
}
