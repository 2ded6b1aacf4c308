//! How the `encx` CLI answers: a failure with the exit code of its kind, and output as text or
//! JSON.

use serde_json::Value;

use encx_sqlx::Error;

/// A failure, with the exit code of its kind.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) code: u8,
    pub(crate) message: String,
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        let code = match &e {
            Error::KeyStillInUse { .. } | Error::TablesNotCovered { .. } => 4,
            Error::InvalidConfig(_) => 3,
            Error::Database(d) => exit_code(d),
            Error::Crypto(c) => crypto_code(c.kind()),
            _ => 1,
        };
        Failure {
            code,
            message: e.to_string(),
        }
    }
}

impl From<encx_secrets::Error> for Failure {
    fn from(e: encx_secrets::Error) -> Self {
        match e {
            encx_secrets::Error::Store(e) => Failure::from(e),
            encx_secrets::Error::Crypto(e) => Failure::from(e),
            other => Failure::from(encx_sqlx::Error::from(other)),
        }
    }
}

impl From<encx::Error> for Failure {
    fn from(e: encx::Error) -> Self {
        Failure {
            code: crypto_code(e.kind()),
            message: e.to_string(),
        }
    }
}

/// The exit code of an encx error, by its kind.
pub(crate) fn crypto_code(kind: encx::ErrorKind) -> u8 {
    match kind {
        encx::ErrorKind::Configuration => 3,
        encx::ErrorKind::Integrity => 5,
        encx::ErrorKind::Unavailable => 6,
        encx::ErrorKind::MissingKey => 7,
        _ => 1,
    }
}

/// A configuration failure (exit 3).
pub(crate) fn config(message: impl Into<String>) -> Failure {
    Failure {
        code: 3,
        message: message.into(),
    }
}

/// The exit code of a database error: configuration (3) for what retrying cannot mend (no
/// such database, role or table, bad credentials, an unreadable SQLite file, a bad URL),
/// unavailable (6) for what may pass (refused, timed out, dropped), 1 otherwise.
pub(crate) fn exit_code(e: &sqlx::Error) -> u8 {
    match e {
        sqlx::Error::Configuration(_) | sqlx::Error::Tls(_) => 3,
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => 6,
        sqlx::Error::Protocol(_) | sqlx::Error::WorkerCrashed => 6,
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            let mysql = encx_sqlx::mysql_error_number(db.as_ref());
            let config = matches!(
                code.as_str(),
                // PostgreSQL: no such database, bad credentials, no such table/column, denied.
                "3D000" | "28000" | "28P01" | "42P01" | "42703" | "42501"
                // SQLite: cannot open, not a database, read-only, authorization.
                | "14" | "26" | "8" | "23"
            ) || matches!(mysql, Some(1044 | 1045 | 1049 | 1054 | 1142 | 1146 | 1698))
                || encx_sqlx::is_missing_table(e);
            if config {
                3
            } else {
                6
            }
        }
        _ => 1,
    }
}

/// Prints `value` as JSON, or the text.
pub(crate) fn emit(json: bool, value: Value, text: impl FnOnce() -> String) {
    if json {
        println!("{value}");
    } else {
        println!("{}", text());
    }
}
