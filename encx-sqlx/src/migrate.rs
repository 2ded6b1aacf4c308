//! encx's own tables, created by [`migrate`]: `encx_keks` (wrapped KEKs and index root keys),
//! `encx_subject_keys` (wrapped data-subject keys and the tombstones of erased ones),
//! `encx_erasure_ledger` (which subjects were erased, when), `encx_audit` (audit events),
//! `encx_secrets` (application secrets), `encx_tokens` (hashes of bearer tokens) and
//! `encx_schema_migrations` (which of these migrations ran). encx keeps its own migration table
//! so it never collides with the application's `_sqlx_migrations`.

use encx::schema::Dialect;
use sqlx::{Executor, Pool};

use crate::dialect::EncxDatabase;
use crate::error::Result;

/// One migration: a version, a description, and its statements per dialect.
struct Migration {
    version: i64,
    description: &'static str,
    statements: fn(Dialect) -> Vec<String>,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "encx_keks: wrapped key-encryption keys and index root keys",
        statements: keks_v1,
    },
    Migration {
        version: 2,
        description: "encx_subject_keys: wrapped data-subject keys and erasure tombstones",
        statements: subject_keys_v2,
    },
    Migration {
        version: 3,
        description: "encx_erasure_ledger: which subjects were erased, when",
        statements: erasure_ledger_v3,
    },
    Migration {
        version: 4,
        description: "encx_audit: audit events (no plaintext, no index values, no keys)",
        statements: audit_v4,
    },
    Migration {
        version: 5,
        description: "encx_secrets: application secrets, versioned, sealed under the key hierarchy",
        statements: secrets_v5,
    },
    Migration {
        version: 6,
        description: "encx_tokens: keyed hashes of issued bearer tokens",
        statements: tokens_v6,
    },
    Migration {
        version: 7,
        description: "encx_erasure_ledger.up_to_version: the key versions an erasure covers; \
                      case- and space-exact names and owners on MySQL",
        statements: exact_v7,
    },
];

/// Ledger entries name the key versions they cover (so a re-applied erasure never touches a
/// key made after it); on MySQL/MariaDB, secret names and token owners and prefixes compare
/// byte for byte (the default collation ignores case and trailing spaces).
fn exact_v7(d: Dialect) -> Vec<String> {
    // PostgreSQL can say `IF NOT EXISTS`; on the others a second process's attempt fails with
    // "duplicate column", which the runner takes as done.
    let if_not_exists = if d == Dialect::Postgres {
        "IF NOT EXISTS "
    } else {
        ""
    };
    let mut statements = vec![format!(
        "ALTER TABLE encx_erasure_ledger ADD COLUMN {if_not_exists}up_to_version BIGINT NULL"
    )];
    if d == Dialect::MySql {
        let exact = "CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL";
        statements.push(format!(
            "ALTER TABLE encx_secrets MODIFY name VARCHAR(255) {exact}"
        ));
        statements.push(format!(
            "ALTER TABLE encx_tokens MODIFY owner VARCHAR(255) {exact}, \
             MODIFY prefix VARCHAR(32) {exact}"
        ));
    }
    statements
}

/// Whether `error` says a column being added exists already: another process ran the same
/// migration first (`ADD COLUMN` has no `IF NOT EXISTS` on SQLite and MySQL).
fn is_duplicate_column(error: &sqlx::Error) -> bool {
    error.as_database_error().is_some_and(|e| {
        e.message()
            .to_ascii_lowercase()
            .contains("duplicate column")
    })
}

fn secrets_v5(d: Dialect) -> Vec<String> {
    let (name, text, bytes) = match d {
        Dialect::Postgres => ("TEXT", "TEXT", "BYTEA"),
        Dialect::MySql => ("VARCHAR(255)", "VARCHAR(1024)", "MEDIUMBLOB"),
        _ => ("TEXT", "TEXT", "BLOB"),
    };
    vec![format!(
        "CREATE TABLE IF NOT EXISTS encx_secrets (
            name {name} NOT NULL,
            version BIGINT NOT NULL,
            tags {text} NOT NULL,
            value {bytes} NOT NULL,
            encx_dek {bytes} NOT NULL,
            created_at BIGINT NOT NULL,
            expires_at BIGINT NULL,
            PRIMARY KEY (name, version)
        )"
    )]
}

fn tokens_v6(d: Dialect) -> Vec<String> {
    let (id, hash, text) = match d {
        Dialect::Postgres => ("UUID", "BYTEA", "TEXT"),
        Dialect::MySql => ("BINARY(16)", "VARBINARY(64)", "VARCHAR(255)"),
        _ => ("BLOB", "BLOB", "TEXT"),
    };
    // MySQL has no `CREATE INDEX IF NOT EXISTS`: its index is declared in the table.
    let (inline_index, separate_index) = match d {
        Dialect::MySql => (
            ",\n                INDEX encx_tokens_owner (owner, prefix)",
            None,
        ),
        _ => (
            "",
            Some("CREATE INDEX IF NOT EXISTS encx_tokens_owner ON encx_tokens (owner, prefix)"),
        ),
    };
    let mut statements = vec![format!(
        "CREATE TABLE IF NOT EXISTS encx_tokens (
                hash {hash} NOT NULL PRIMARY KEY,
                id {id} NOT NULL,
                prefix VARCHAR(32) NOT NULL,
                owner {text} NOT NULL,
                created_at BIGINT NOT NULL,
                expires_at BIGINT NULL,
                seal {hash} NOT NULL,
                CONSTRAINT encx_tokens_id UNIQUE (id){inline_index}
            )"
    )];
    statements.extend(separate_index.map(str::to_owned));
    statements
}

fn keks_v1(d: Dialect) -> Vec<String> {
    let (id, text, bytes) = match d {
        Dialect::Postgres => ("UUID", "TEXT", "BYTEA"),
        Dialect::MySql => ("BINARY(16)", "VARCHAR(512)", "VARBINARY(4096)"),
        _ => ("BLOB", "TEXT", "BLOB"),
    };
    vec![format!(
        "CREATE TABLE IF NOT EXISTS encx_keks (
            id {id} NOT NULL PRIMARY KEY,
            purpose VARCHAR(16) NOT NULL,
            version BIGINT NOT NULL,
            root_key {text} NOT NULL,
            wrapped {bytes} NOT NULL,
            state VARCHAR(16) NOT NULL,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL,
            CONSTRAINT encx_keks_purpose_version UNIQUE (purpose, version)
        )"
    )]
}

fn subject_keys_v2(d: Dialect) -> Vec<String> {
    let (id, subject, bytes) = match d {
        Dialect::Postgres => ("UUID", "BYTEA", "BYTEA"),
        Dialect::MySql => ("BINARY(16)", "VARBINARY(255)", "VARBINARY(4096)"),
        _ => ("BLOB", "BLOB", "BLOB"),
    };
    vec![format!(
        "CREATE TABLE IF NOT EXISTS encx_subject_keys (
            id {id} NOT NULL PRIMARY KEY,
            subject {subject} NOT NULL,
            version BIGINT NOT NULL,
            wrapped {bytes} NULL,
            created_at BIGINT NOT NULL,
            erased_at BIGINT NULL,
            CONSTRAINT encx_subject_keys_subject_version UNIQUE (subject, version)
        )"
    )]
}

fn erasure_ledger_v3(d: Dialect) -> Vec<String> {
    let subject = match d {
        Dialect::Postgres => "BYTEA",
        Dialect::MySql => "VARBINARY(255)",
        _ => "BLOB",
    };
    vec![format!(
        "CREATE TABLE IF NOT EXISTS encx_erasure_ledger (
            subject {subject} NOT NULL,
            erased_at BIGINT NOT NULL
        )"
    )]
}

fn audit_v4(d: Dialect) -> Vec<String> {
    let (text, long) = match d {
        Dialect::MySql => ("VARCHAR(255)", "VARCHAR(2048)"),
        _ => ("TEXT", "TEXT"),
    };
    vec![format!(
        "CREATE TABLE IF NOT EXISTS encx_audit (
            at BIGINT NOT NULL,
            action VARCHAR(16) NOT NULL,
            table_name {text} NOT NULL,
            record {text} NULL,
            subject {text} NULL,
            fields {long} NOT NULL,
            actor {text} NULL,
            records BIGINT NOT NULL,
            outcome VARCHAR(16) NOT NULL,
            duration_us BIGINT NOT NULL
        )"
    )]
}

fn ledger(d: Dialect) -> String {
    let text = if d == Dialect::MySql {
        "VARCHAR(255)"
    } else {
        "TEXT"
    };
    format!(
        "CREATE TABLE IF NOT EXISTS encx_schema_migrations (
            version BIGINT NOT NULL PRIMARY KEY,
            description {text} NOT NULL,
            applied_at BIGINT NOT NULL
        )"
    )
}

pub(crate) fn now_millis() -> i64 {
    millis(std::time::SystemTime::now())
}

/// Milliseconds since 1970, as encx's tables store times.
/// `at` as RFC 3339 (UTC, seconds), as operators read times.
pub(crate) fn rfc3339(at: std::time::SystemTime) -> String {
    utc(humantime::format_rfc3339_seconds(at), at)
        .unwrap_or_else(|| format!("{} s since 1970", millis(at).div_euclid(1_000)))
}

/// `ms` milliseconds since 1970 as RFC 3339 (UTC, milliseconds), as stored times are shown.
#[cfg_attr(not(feature = "cli"), allow(dead_code))] // the CLI shows audit times
pub(crate) fn rfc3339_millis(ms: i64) -> String {
    u64::try_from(ms)
        .ok()
        .and_then(|ms| {
            let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
            utc(humantime::format_rfc3339_millis(at), at)
        })
        .unwrap_or_else(|| format!("{ms} ms since 1970"))
}

/// A formatted time; `None` outside 1970–9999, where humantime cannot format it.
fn utc(formatted: humantime::Rfc3339Timestamp, at: std::time::SystemTime) -> Option<String> {
    use std::fmt::Write;
    let mut out = String::new();
    (at >= std::time::UNIX_EPOCH && write!(out, "{formatted}").is_ok()).then_some(out)
}

pub(crate) fn millis(at: std::time::SystemTime) -> i64 {
    at.duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

macro_rules! impl_migrate {
    ($db:ty, $insert_ignore:expr) => {
        impl Migrate for $db {
            async fn run_migrations(pool: &Pool<$db>) -> Result<()> {
                pool.execute(ledger(<$db as EncxDatabase>::DIALECT).as_str())
                    .await?;
                let applied: Vec<i64> =
                    sqlx::query_scalar("SELECT version FROM encx_schema_migrations")
                        .fetch_all(pool)
                        .await?;
                for m in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
                    for statement in (m.statements)(<$db as EncxDatabase>::DIALECT) {
                        match pool.execute(statement.as_str()).await {
                            Err(e) if !is_duplicate_column(&e) => return Err(e.into()),
                            _ => {}
                        }
                    }
                    sqlx::query($insert_ignore)
                        .bind(m.version)
                        .bind(m.description)
                        .bind(now_millis())
                        .execute(pool)
                        .await?;
                }
                Ok(())
            }
        }
    };
}

/// Runs encx's migrations on one kind of database (part of [`EncxDatabase`], which see).
pub trait Migrate: sqlx::Database {
    /// Runs what has not run yet. Idempotent: every statement is `IF NOT EXISTS`, so two
    /// processes starting at once both succeed.
    fn run_migrations(pool: &Pool<Self>) -> impl std::future::Future<Output = Result<()>> + Send;
}

#[cfg(feature = "postgres")]
impl_migrate!(
    sqlx::Postgres,
    "INSERT INTO encx_schema_migrations (version, description, applied_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"
);
#[cfg(feature = "mysql")]
impl_migrate!(
    sqlx::MySql,
    "INSERT IGNORE INTO encx_schema_migrations (version, description, applied_at) VALUES (?, ?, ?)"
);
#[cfg(feature = "sqlite")]
impl_migrate!(
    sqlx::Sqlite,
    "INSERT OR IGNORE INTO encx_schema_migrations (version, description, applied_at) VALUES (?, ?, ?)"
);

/// Creates or updates encx's own tables (`encx_keks`, `encx_subject_keys`,
/// `encx_erasure_ledger`, `encx_audit`, `encx_schema_migrations`).
///
/// ```no_run
/// # async fn run(pool: sqlx::PgPool) -> encx_sqlx::Result<()> {
/// encx_sqlx::migrate(&pool).await?;
/// # Ok(()) }
/// ```
pub async fn migrate<DB: EncxDatabase>(pool: &Pool<DB>) -> Result<()> {
    DB::run_migrations(pool).await
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn times_show_as_rfc3339_and_never_panic_outside_its_years() {
        let at = UNIX_EPOCH + Duration::from_millis(1_796_397_296_789);
        assert_eq!(rfc3339(at), "2026-12-04T15:14:56Z");
        assert_eq!(
            rfc3339_millis(1_796_397_296_789),
            "2026-12-04T15:14:56.789Z"
        );
        assert_eq!(rfc3339_millis(0), "1970-01-01T00:00:00.000Z");
        // stored times are untrusted: before 1970 and after 9999 they show as numbers
        assert_eq!(rfc3339_millis(-5), "-5 ms since 1970");
        assert_eq!(
            rfc3339_millis(i64::MAX),
            format!("{} ms since 1970", i64::MAX)
        );
        assert_eq!(
            rfc3339(UNIX_EPOCH - Duration::from_secs(3)),
            "0 s since 1970"
        );
        let far = UNIX_EPOCH + Duration::from_secs(300_000_000_000);
        assert_eq!(rfc3339(far), "300000000000 s since 1970");
    }
}
