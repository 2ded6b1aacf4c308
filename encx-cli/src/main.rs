//! The installable `encx` binary: the operator CLI over encx's own tables (`cargo install
//! encx-cli`). It knows no application record type: `status` shows encx's tables, `keys`
//! rotates and destroys KEKs (guarded by every row of encx's tables and of every table with
//! an `encx_dek` column), `rewrap` and `reencrypt` walk the application secrets, `audit`,
//! `secrets` and `backup` work as in an application's own binary. `rewrap` also re-wraps the
//! tables named with `--rewrap-table TABLE:ID_COLUMN` (and `--id-type`). `erase-subject` and
//! `reapply-ledger` clear the tables named with `--subject-table TABLE:COLUMN` (and
//! `--subject-type`); `erase-subject` refuses while the database holds another table that
//! encx writes, unless `--not-subject-table TABLE` says it holds no data subject's rows.
//! Re-encrypting an application's tables, `migrate` and `verify` need its types: build the
//! CLI into the application (the `encx_cli` library; see `docs/operations.md`).
//!
//! ```text
//! export DATABASE_URL=sqlite://app.db ENCX_MASTER_KEY_FILE=app.key
//! encx status
//! encx keys rotate --actor ops@example.com
//! echo -n 's3cret' | encx secrets put smtp/password
//! encx --rewrap-table user_notes:id --id-type integer rewrap --actor ops@example.com
//! encx --subject-table user_notes:user_id erase-subject 7f0c2a4e-8d6b-4c1e-9a53-2b6d1e0f4c88 --actor dpo
//! ```

use std::process::ExitCode;
use std::sync::Arc;

use encx_cli::{BuildError, ColumnType, Context, Scheme};
use encx_secrets::{RegistrySecrets, Secrets, SecretsDatabase};
use encx_sqlx::{
    DescribedId, EncxDatabase, Registry, SqlAuditSink, SqlErasureLedger, SqlKekStore,
    SqlSubjectKeyStore, SubjectEraser,
};

/// The registry of encx's own tables: the key tables in the keys' database, the audit log and
/// the secrets in the data's.
async fn registry<DB: SecretsDatabase>(ctx: &Context) -> Result<Registry, BuildError> {
    let data = ctx.connect::<DB>(&ctx.database_url).await?;
    let keys = match ctx.keys_database_url == ctx.database_url {
        true => data.clone(),
        false => ctx.connect::<DB>(&ctx.keys_database_url).await?,
    };
    if !ctx.read_only {
        encx_sqlx::migrate(&data).await?;
        encx_sqlx::migrate(&keys).await?;
    }
    let root: Arc<dyn encx::Keyring> = ctx.root.clone();
    let keks = SqlKekStore::shared(keys.clone());
    let crypto = encx::Crypto::builder()
        .keyring(encx::HierarchicalKeyring::new(root.clone(), keks.clone()))
        .index_keys_in(keks.clone(), root)
        .subject_keys_in(SqlSubjectKeyStore::shared(keys.clone()))
        .audit(SqlAuditSink::spawn(data.clone(), 1_000))
        .build()
        .await?;
    // The CLI adds encx's tables of both databases (`--database-url`, `--keys-database-url`)
    // itself: `keys destroy` counts their rows, `status` lists them.
    let mut registry = Registry::new(crypto.clone())
        .kek_store(keks)
        .audit_log(data.clone())
        .secrets(Secrets::new(data.clone(), crypto.clone()));
    for (table, column) in &ctx.rewrap_tables {
        let pool = data.clone();
        registry = match ctx.id_type {
            ColumnType::Uuid => {
                registry
                    .described_table::<DB, uuid::Uuid>(pool, table, column)
                    .await?
            }
            ColumnType::Text => {
                registry
                    .described_table::<DB, String>(pool, table, column)
                    .await?
            }
            ColumnType::Integer => {
                registry
                    .described_table::<DB, i64>(pool, table, column)
                    .await?
            }
            other => return Err(format!("--id-type {other:?} is not known to this build").into()),
        };
    }
    if ctx.subject_tables.is_empty() {
        return Ok(registry);
    }
    match ctx.subject_type {
        ColumnType::Uuid => with_eraser::<DB, uuid::Uuid>(registry, ctx, data, crypto).await,
        ColumnType::Text => with_eraser::<DB, String>(registry, ctx, data, crypto).await,
        ColumnType::Integer => with_eraser::<DB, i64>(registry, ctx, data, crypto).await,
        other => Err(format!("--subject-type {other:?} is not known to this build").into()),
    }
}

/// `registry` with a subject eraser over the tables of `--subject-table`, whose ledger is the
/// data database's `encx_erasure_ledger` (where a restore of the key database does not roll
/// it back).
async fn with_eraser<DB: EncxDatabase, S>(
    registry: Registry,
    ctx: &Context,
    data: sqlx::Pool<DB>,
    crypto: encx::Crypto,
) -> Result<Registry, BuildError>
where
    S: DescribedId + std::str::FromStr,
    <S as std::str::FromStr>::Err: std::fmt::Display,
{
    let mut eraser = SubjectEraser::<S>::new(crypto).ledger(SqlErasureLedger::shared(data.clone()));
    if let Some(ttl) = ctx.subject_cache_ttl {
        eraser = eraser.writer_window(ttl + encx_sqlx::WRITER_MARGIN);
    }
    for (table, column) in &ctx.subject_tables {
        eraser = eraser.described_table(data.clone(), table, column).await?;
    }
    for table in &ctx.not_subject_tables {
        eraser = eraser.not_subject_table(table.clone());
    }
    // Every encrypted table of the data database is named one way or the other, or an
    // erasure is refused.
    let eraser = eraser.covering(data.clone());
    Ok(registry.subject_eraser(eraser))
}

#[tokio::main]
async fn main() -> ExitCode {
    encx_cli::main(|ctx: Context| async move {
        match ctx.scheme()? {
            #[cfg(feature = "postgres")]
            Scheme::Postgres => registry::<sqlx::Postgres>(&ctx).await,
            #[cfg(feature = "mysql")]
            Scheme::MySql => registry::<sqlx::MySql>(&ctx).await,
            #[cfg(feature = "sqlite")]
            Scheme::Sqlite => registry::<sqlx::Sqlite>(&ctx).await,
            // `Context::scheme` refuses an engine this build has no driver for.
            #[allow(unreachable_patterns)]
            other => Err(format!("no {other:?} support in this build").into()),
        }
    })
    .await
}
