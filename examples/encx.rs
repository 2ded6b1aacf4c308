//! The `encx` operator CLI for the quickstart's table: how an application ships its own
//! `encx` binary with its tables registered (see `docs/operations.md`).
//!
//! ```text
//! cargo run --example quickstart
//! cargo run --example encx -- status --database-url sqlite://quickstart.db --master-key-file quickstart.key
//! cargo run --example encx -- keys rotate --database-url sqlite://quickstart.db --master-key-file quickstart.key
//! cargo run --example encx -- rewrap --database-url sqlite://quickstart.db --master-key-file quickstart.key
//! cargo run --example encx -- reencrypt --database-url sqlite://quickstart.db --master-key-file quickstart.key
//! cargo run --example encx -- audit --database-url sqlite://quickstart.db --master-key-file quickstart.key
//! echo -n 's3cret' | cargo run --example encx -- secrets put smtp/password --tag mail --database-url sqlite://quickstart.db --master-key-file quickstart.key
//! cargo run --example encx -- secrets list --database-url sqlite://quickstart.db --master-key-file quickstart.key
//! cargo run --example encx -- secrets get smtp/password --reveal --database-url sqlite://quickstart.db --master-key-file quickstart.key
//! cargo run --example encx -- secrets rotate smtp/password --generate 32 --database-url sqlite://quickstart.db --master-key-file quickstart.key
//! tar c docs | cargo run --example encx -- backup encrypt --label docs --master-key-file quickstart.key > docs.tar.encx
//! cargo run --example encx -- backup decrypt --expect-label docs --master-key-file quickstart.key < docs.tar.encx | tar t
//! ```

#[path = "tour.rs"]
#[allow(dead_code)]
mod tour;

use std::process::ExitCode;
use std::sync::Arc;

use encx_sqlx::{cli, EncxDatabase, Registry, Repo, Secrets, SqlAuditSink, SqlKekStore};

/// The quickstart's key setup, its `users` table and the application's secrets; the key
/// tables in `keys` (the data's pool unless `--keys-database-url` names another database).
async fn registry<DB: EncxDatabase>(
    pool: sqlx::Pool<DB>,
    keys: sqlx::Pool<DB>,
    root: Arc<dyn encx::Keyring>,
) -> Result<Registry, cli::BuildError> {
    encx_sqlx::migrate(&pool).await?;
    encx_sqlx::migrate(&keys).await?;
    let keks = SqlKekStore::shared(keys);
    let crypto = encx::Crypto::builder()
        .keyring(encx::HierarchicalKeyring::new(root.clone(), keks.clone()))
        .index_keys_in(keks.clone(), root)
        // What the CLI does (a rotation, a secret read) is on record in `encx_audit`.
        .audit(SqlAuditSink::spawn(pool.clone(), 1_000))
        .build()
        .await?;
    Ok(Registry::new(crypto.clone())
        .kek_store(keks)
        .audit_log(pool.clone())
        .secrets(Secrets::new(pool.clone(), crypto.clone()))
        .table(Repo::<tour::User, DB>::new(pool, crypto)))
}

#[tokio::main]
async fn main() -> ExitCode {
    cli::main(|ctx: cli::Context| async move {
        let apart = ctx.keys_database_url != ctx.database_url;
        if ctx.database_url.starts_with("postgres") {
            let data = sqlx::PgPool::connect(&ctx.database_url).await?;
            let keys = match apart {
                true => sqlx::PgPool::connect(&ctx.keys_database_url).await?,
                false => data.clone(),
            };
            registry(data, keys, ctx.root).await
        } else {
            let data = sqlx::SqlitePool::connect(&ctx.database_url).await?;
            let keys = match apart {
                true => sqlx::SqlitePool::connect(&ctx.keys_database_url).await?,
                false => data.clone(),
            };
            registry(data, keys, ctx.root).await
        }
    })
    .await
}
