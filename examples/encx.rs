//! The `encx` operator CLI for the quickstart's tables: how an application ships its own
//! `encx` binary with its tables registered (see `docs/operations.md`).
//!
//! ```text
//! cargo run --example quickstart
//! export DATABASE_URL=sqlite://quickstart.db ENCX_MASTER_KEY_FILE=quickstart.key
//! cargo run --example encx -- status
//! cargo run --example encx -- keys rotate --actor ops@example.com
//! cargo run --example encx -- rewrap
//! cargo run --example encx -- reencrypt
//! cargo run --example encx -- erase-subject <a user id from the quickstart> --dry-run
//! cargo run --example encx -- erase-subject <a user id from the quickstart> --actor dpo@example.com
//! cargo run --example encx -- reapply-ledger --actor dpo@example.com
//! cargo run --example encx -- migrate --actor ops@example.com
//! cargo run --example encx -- verify
//! cargo run --example encx -- audit
//! echo -n 's3cret' | cargo run --example encx -- secrets put smtp/password --tag mail
//! cargo run --example encx -- secrets list
//! cargo run --example encx -- secrets get smtp/password --reveal
//! cargo run --example encx -- secrets rotate smtp/password --generate 32
//! tar c docs | cargo run --example encx -- backup encrypt --label docs > docs.tar.encx
//! cargo run --example encx -- backup decrypt --expect-label docs --output docs.tar < docs.tar.encx
//! ```

#[path = "legacy.rs"]
#[allow(dead_code)]
mod legacy;
#[path = "tour.rs"]
#[allow(dead_code)]
mod tour;

use std::process::ExitCode;
use std::sync::Arc;

use encx_cli::{self as cli, Scheme};
use encx_secrets::{RegistrySecrets, Secrets, SecretsDatabase};
use encx_sqlx::{
    Registry, Repo, SqlAuditSink, SqlErasureLedger, SqlKekStore, SqlSubjectKeyStore, SubjectEraser,
};

/// The quickstart's key setup, its `users` table, its `user_notes` (one data subject per user,
/// erased with `encx erase-subject`) and the application's secrets; the key tables in `keys`
/// (the data's pool unless `--keys-database-url` names another database).
async fn registry<DB: SecretsDatabase>(
    pool: sqlx::Pool<DB>,
    keys: sqlx::Pool<DB>,
    root: Arc<dyn encx::Keyring>,
    read_only: bool,
) -> Result<Registry, cli::BuildError> {
    if !read_only {
        // A read-only command (status, audit, every --dry-run) creates nothing.
        encx_sqlx::migrate(&pool).await?;
        encx_sqlx::migrate(&keys).await?;
    }
    let keks = SqlKekStore::shared(keys.clone());
    let crypto = encx::Crypto::builder()
        .keyring(encx::HierarchicalKeyring::new(root.clone(), keks.clone()))
        .index_keys_in(keks.clone(), root)
        .subject_keys_in(SqlSubjectKeyStore::shared(keys.clone()))
        // What the CLI does (a rotation, a secret read, an erasure) is on record in `encx_audit`.
        .audit(SqlAuditSink::spawn(pool.clone(), 1_000))
        .build()
        .await?;
    let notes = Repo::<tour::Note, DB>::new(pool.clone(), crypto.clone());
    if !read_only {
        notes.create_table().await?;
    }
    let eraser = SubjectEraser::<uuid::Uuid>::new(crypto.clone())
        .table(notes)
        .ledger(SqlErasureLedger::<DB>::shared(keys));
    Ok(Registry::new(crypto.clone())
        .kek_store(keks)
        .audit_log(pool.clone())
        .secrets(Secrets::new(pool.clone(), crypto.clone()))
        .subject_eraser(eraser)
        .table(Repo::<tour::User, DB>::new(pool, crypto)))
}

/// Opens the data's and the keys' databases (one pool when they are the same) and builds the
/// registry on them; the data's pool too.
async fn open<DB: SecretsDatabase>(
    ctx: &cli::Context,
) -> Result<(Registry, sqlx::Pool<DB>), cli::BuildError> {
    let data = ctx.connect::<DB>(&ctx.database_url).await?;
    let keys = match ctx.keys_database_url == ctx.database_url {
        true => data.clone(),
        false => ctx.connect::<DB>(&ctx.keys_database_url).await?,
    };
    let registry = registry(data.clone(), keys, ctx.root.clone(), ctx.read_only).await?;
    Ok((registry, data))
}

/// On the quickstart's SQLite file, also its half-migrated `subscribers`, for `encx migrate`
/// and `encx verify` (when the table is there).
async fn with_subscribers(
    registry: Registry,
    pool: sqlx::SqlitePool,
) -> Result<Registry, cli::BuildError> {
    let there: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'subscribers'",
    )
    .fetch_one(&pool)
    .await?;
    if there == 0 {
        return Ok(registry);
    }
    let crypto = registry.crypto().clone();
    Ok(registry.migrating_table(legacy::repo(pool, crypto)?))
}

#[tokio::main]
async fn main() -> ExitCode {
    cli::main(|ctx: cli::Context| async move {
        match ctx.scheme()? {
            Scheme::Postgres => Ok(open::<sqlx::Postgres>(&ctx).await?.0),
            Scheme::MySql => Ok(open::<sqlx::MySql>(&ctx).await?.0),
            Scheme::Sqlite => {
                let (registry, pool) = open::<sqlx::Sqlite>(&ctx).await?;
                with_subscribers(registry, pool).await
            }
        }
    })
    .await
}
