//! encx's own tables, created by [`migrate`](crate::migrate): `encx_keks` (wrapped KEKs and index root keys),
//! `encx_subject_keys` (wrapped data-subject keys and the tombstones of erased ones),
//! `encx_erasure_ledger` (which subjects were erased, when), `encx_audit` (audit events),
//! `encx_secrets` (application secrets), `encx_tokens` (hashes of bearer tokens) and
//! `encx_schema_migrations` (which of these migrations ran). encx keeps its own migration table
//! so it never collides with the application's `_sqlx_migrations`.

use encx::schema::Dialect;
use sqlx::{Executor, Pool};

use super::time::now_millis;
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
    Migration {
        version: 8,
        description: "encx_tenants and encx_tenant_keys: a key hierarchy per tenant; \
                      encx_erasure_ledger.scope: subject or tenant erasures",
        statements: tenants_v8,
    },
];

/// Tenants, their keys (the rows of `encx_keks` plus the tenant), and the kind of each erasure
/// in the ledger.
fn tenants_v8(d: Dialect) -> Vec<String> {
    let (id, tenant, text, bytes, if_not_exists) = match d {
        Dialect::Postgres => ("UUID", "BYTEA", "TEXT", "BYTEA", "IF NOT EXISTS "),
        Dialect::MySql => (
            "BINARY(16)",
            "VARBINARY(255)",
            "VARCHAR(2100)",
            "VARBINARY(4096)",
            "",
        ),
        _ => ("BLOB", "BLOB", "TEXT", "BLOB", ""),
    };
    vec![
        format!(
            "CREATE TABLE IF NOT EXISTS encx_tenants (
                tenant {tenant} NOT NULL PRIMARY KEY,
                root {text} NOT NULL,
                moving_from {text} NULL,
                state VARCHAR(16) NOT NULL,
                created_at BIGINT NOT NULL,
                updated_at BIGINT NOT NULL
            )"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS encx_tenant_keys (
                id {id} NOT NULL PRIMARY KEY,
                tenant {tenant} NOT NULL,
                purpose VARCHAR(16) NOT NULL,
                version BIGINT NOT NULL,
                root_key {text} NOT NULL,
                wrapped {bytes} NOT NULL,
                state VARCHAR(16) NOT NULL,
                created_at BIGINT NOT NULL,
                updated_at BIGINT NOT NULL,
                CONSTRAINT encx_tenant_keys_version UNIQUE (tenant, purpose, version)
            )"
        ),
        format!(
            "ALTER TABLE encx_erasure_ledger ADD COLUMN {if_not_exists}scope VARCHAR(16) \
             NOT NULL DEFAULT 'subject'"
        ),
    ]
}

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

macro_rules! impl_migrate {
    ($db:ty, $dialect:expr) => {
        impl Migrate for $db {
            async fn run_migrations(pool: &Pool<$db>) -> Result<()> {
                pool.execute(crate::database::trusted(ledger($dialect)))
                    .await?;
                let applied: Vec<i64> =
                    sqlx::query_scalar("SELECT version FROM encx_schema_migrations")
                        .fetch_all(pool)
                        .await?;
                for m in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
                    for statement in (m.statements)($dialect) {
                        match pool.execute(crate::database::trusted(&statement)).await {
                            Err(e) if !is_duplicate_column(&e) => return Err(e.into()),
                            _ => {}
                        }
                    }
                    sqlx::query(record_sql($dialect))
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

/// The statement that records migration `version` as applied (binds: version, description,
/// applied-at milliseconds), ignoring a second record of it.
fn record_sql(d: Dialect) -> &'static str {
    match d {
        Dialect::Postgres => "INSERT INTO encx_schema_migrations (version, description, applied_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        Dialect::MySql => "INSERT IGNORE INTO encx_schema_migrations (version, description, applied_at) VALUES (?, ?, ?)",
        _ => "INSERT OR IGNORE INTO encx_schema_migrations (version, description, applied_at) VALUES (?, ?, ?)",
    }
}

/// One of encx's migrations spelled for one database (see [`migration_plan`]).
#[derive(Debug, Clone)]
pub struct MigrationStep {
    /// Its version in `encx_schema_migrations`.
    pub version: i64,
    /// What it creates.
    pub description: &'static str,
    /// Its statements, in order.
    pub statements: Vec<String>,
}

/// encx's migrations spelled for one database, for running them through another migration
/// tool (`encx_sea_orm::EncxMigration` does): create [`ledger`](Self::ledger), skip the
/// versions it lists, run each other step's statements, then [`record`](Self::record) it.
/// [`migrate`](crate::migrate) does exactly this on a sqlx pool.
#[derive(Debug, Clone)]
pub struct MigrationPlan {
    /// `CREATE TABLE IF NOT EXISTS encx_schema_migrations (...)`.
    pub ledger: String,
    /// `SELECT version FROM encx_schema_migrations`.
    pub applied: &'static str,
    /// Every migration, oldest first.
    pub steps: Vec<MigrationStep>,
    /// Records a step as applied; binds version, description, applied-at milliseconds.
    pub record: &'static str,
}

/// encx's migrations for `dialect` (see [`MigrationPlan`]).
pub fn migration_plan(dialect: Dialect) -> MigrationPlan {
    MigrationPlan {
        ledger: ledger(dialect),
        applied: "SELECT version FROM encx_schema_migrations",
        steps: MIGRATIONS
            .iter()
            .map(|m| MigrationStep {
                version: m.version,
                description: m.description,
                statements: (m.statements)(dialect),
            })
            .collect(),
        record: record_sql(dialect),
    }
}

/// Runs encx's migrations on one kind of database (part of [`EncxDatabase`](crate::EncxDatabase), which see).
pub trait Migrate: sqlx::Database {
    /// Runs what has not run yet. Idempotent: every statement is `IF NOT EXISTS`, so two
    /// processes starting at once both succeed.
    fn run_migrations(pool: &Pool<Self>) -> impl std::future::Future<Output = Result<()>> + Send;
}

#[cfg(feature = "postgres")]
impl_migrate!(sqlx::Postgres, Dialect::Postgres);
#[cfg(feature = "mysql")]
impl_migrate!(sqlx::MySql, Dialect::MySql);
#[cfg(feature = "sqlite")]
impl_migrate!(sqlx::Sqlite, Dialect::Sqlite);
