//! The `encx` operator CLI: `status`, `keys rotate`, `keys destroy`, `rewrap`,
//! `keys index-add`, `keys index-destroy`, `reencrypt` (alias `reindex`), `migrate`, `verify`,
//! `erase-subject`, `reapply-ledger`, `audit`, `secrets`, `backup`, with progress bars,
//! `--json` and `--dry-run`.
//!
//! Two ways to run it:
//!
//! - **The `encx` binary** (`cargo install encx-cli`) knows encx's own tables only: `status`,
//!   `keys`, `rewrap` and `reencrypt` of the secrets, `audit`, `secrets` and `backup` work on
//!   any database with encx's tables; commands that need the application's record types
//!   (rewrapping its tables, `erase-subject`, `migrate`, `verify`) say so.
//! - **As a library**, from a binary of the application's own, with its tables registered in
//!   a [`Registry`] (`encx-cli = { version = "0.1", default-features = false, features =
//!   ["postgres"] }`):
//!
//! ```no_run
//! # use encx::Encrypted;
//! # #[derive(Encrypted)] #[encx(table = "users")] struct User { #[encx(id)] id: uuid::Uuid, #[encx(encrypt)] email: String }
//! // src/bin/encx.rs of your application
//! use encx_sqlx::{Registry, Repo, SqlKekStore};
//!
//! #[tokio::main]
//! async fn main() -> std::process::ExitCode {
//!     encx_cli::main(|ctx: encx_cli::Context| async move {
//!         // Fails within --connect-timeout, with the host and the cause.
//!         let pool = ctx.connect::<sqlx::Postgres>(&ctx.database_url).await?;
//!         // `--keys-database-url`: the key tables' own database (the data's when not given).
//!         let keys = ctx.connect::<sqlx::Postgres>(&ctx.keys_database_url).await?;
//!         let keks = SqlKekStore::shared(keys);
//!         let crypto = encx::Crypto::builder()
//!             .keyring(encx::HierarchicalKeyring::new(ctx.root.clone(), keks.clone()))
//!             .index_keys_in(keks.clone(), ctx.root)
//!             .build()
//!             .await?;
//!         Ok(Registry::new(crypto.clone())
//!             .kek_store(keks)
//!             .audit_log(pool.clone())
//!             .table(Repo::<User, sqlx::Postgres>::new(pool, crypto)))
//!     })
//!     .await
//! }
//! ```
//!
//! Exit codes tell failure kinds apart: 0 done, 2 bad usage, 3 configuration, 4 refused (a key
//! still in use), 5 integrity failure (tampered data), 6 unavailable (database or KMS; retry),
//! 7 a key the stored data names is missing (e.g. another root key, or rows a job skipped
//! because their KEK is destroyed), 130 interrupted (SIGINT, SIGTERM), 1 anything else.
//!
//! Guards (see `docs/operations.md`): `keys destroy` refuses a KEK for one KEK cache TTL after
//! its retirement and while any row needs it, encx's own tables of both databases always
//! counted; `keys index-destroy` refuses while records were not re-encrypted since the next
//! version came or live tokens were issued before it; read-only commands create nothing.

#![cfg_attr(docsrs, feature(doc_cfg))]

use std::future::Future;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{CommandFactory, FromArgMatches};
use encx::{KeyInUse, Keyring};
use serde_json::{json, Value};

use encx_sqlx::{AuditQuery, AuditRecord};
mod answer;
mod args;
mod backup;
mod connect;
mod secrets;
mod tenant;

use answer::{config, crypto_code, emit, Failure};
pub use args::ColumnType;
use args::{Args, Command, KeysCommand, SecretsCommand, TenantCommand};
pub use connect::Scheme;
use encx_sqlx::EncxDatabase;
use encx_sqlx::Error;
use encx_sqlx::RewrapProgress;
use encx_sqlx::{KeyStatus, Registry};

/// What the application's registry builder gets from the command line.
#[derive(Debug)]
#[non_exhaustive]
pub struct Context {
    /// `--database-url` or `DATABASE_URL`: the application's data.
    pub database_url: String,
    /// `--keys-database-url` or `ENCX_KEYS_DATABASE_URL`: the database of the key tables
    /// (`encx_keks`, `encx_subject_keys`) where they live apart from the data, as
    /// `docs/gdpr.md` recommends; the data database's URL when not given.
    pub keys_database_url: String,
    /// The root keyring: the local master keys of `--master-keys` / `ENCX_MASTER_KEYS`,
    /// `--master-key-file` / `ENCX_MASTER_KEY_FILE`, or `ENCX_MASTER_KEY` (one base64 key,
    /// as [`LocalKeyring::from_env`](encx::LocalKeyring::from_env) reads it), or, with the
    /// `aws-kms` feature, the KMS key of `--kms-key-id` / `ENCX_KMS_KEY_ID`.
    pub root: Arc<dyn Keyring>,
    /// `--connect-timeout`: how long a database connection may take (default 10 s).
    pub connect_timeout: std::time::Duration,
    /// Whether the command only reads (`status`, `audit`, `verify`, `secrets get|list`,
    /// every `--dry-run`): the builder should then create nothing (no `migrate`). The CLI
    /// already refused a database without encx's tables.
    pub read_only: bool,
    /// `--subject-table TABLE:COLUMN` (repeatable) or `ENCX_SUBJECT_TABLES`: tables described
    /// on the command line for an eraser built without record types (the bare binary's; see
    /// [`SubjectEraser::described_table`](encx_sqlx::SubjectEraser::described_table)), as
    /// (table, subject column).
    pub subject_tables: Vec<(String, String)>,
    /// `--not-subject-table TABLE` (repeatable) or `ENCX_NOT_SUBJECT_TABLES`: tables that
    /// encx writes whose rows belong to no data subject, which such an eraser may leave alone
    /// (see [`SubjectEraser::not_subject_table`](encx_sqlx::SubjectEraser::not_subject_table)).
    pub not_subject_tables: Vec<String>,
    /// `--rewrap-table TABLE:ID_COLUMN` (repeatable) or `ENCX_REWRAP_TABLES`: tables described
    /// on the command line for a registry built without record types (the bare binary's; see
    /// [`Registry::described_table`](encx_sqlx::Registry::described_table)), as (table, id
    /// column).
    pub rewrap_tables: Vec<(String, String)>,
    /// `--id-type`: the type of those id columns' values.
    pub id_type: ColumnType,
    /// `--subject-type`: the type of those subject columns' values.
    pub subject_type: ColumnType,
    /// `--subject-cache-ttl` or `ENCX_SUBJECT_CACHE_TTL`: the application's subject key cache
    /// TTL, when given (what an eraser built here waits for, plus
    /// [`WRITER_MARGIN`](encx_sqlx::WRITER_MARGIN)).
    pub subject_cache_ttl: Option<std::time::Duration>,
}

impl Context {
    /// A pool for `url` (the data's or the keys' database) that fails within
    /// [`connect_timeout`](Self::connect_timeout) with the host and the cause, and whose error
    /// the CLI maps to its exit code (3 for a missing database, role or file, 6 for a refused
    /// or silent port).
    pub async fn connect<DB: EncxDatabase>(&self, url: &str) -> Result<sqlx::Pool<DB>, BuildError> {
        connect::connect::<DB>(url, self.connect_timeout)
            .await
            .map_err(|f| Box::new(CliError(f)) as BuildError)
    }

    /// The engine of [`database_url`](Self::database_url), to pick the application's
    /// database type (a configuration error, exit 3, for any other scheme).
    pub fn scheme(&self) -> Result<Scheme, BuildError> {
        Scheme::of(&self.database_url).map_err(|f| Box::new(CliError(f)) as BuildError)
    }
}

/// The `TABLE:COLUMN` pairs of `flag` (`--subject-table`, `--rewrap-table`), whose column
/// is `what` (the data subject's, the id's).
fn table_columns(
    flag: &str,
    what: &str,
    given: &[String],
) -> Result<Vec<(String, String)>, Failure> {
    given
        .iter()
        .map(|pair| match pair.trim().split_once(':') {
            Some((table, column)) if !table.is_empty() && !column.is_empty() => {
                Ok((table.to_owned(), column.to_owned()))
            }
            _ => Err(config(format!(
                "{flag} `{pair}`: give TABLE:COLUMN, the table and its {what} column"
            ))),
        })
        .collect()
}

/// A failure with its exit code, as a registry builder's error.
#[derive(Debug)]
struct CliError(Failure);

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.message)
    }
}

impl std::error::Error for CliError {}

/// The error a registry builder may return.
pub type BuildError = Box<dyn std::error::Error + Send + Sync>;

/// Parses the command line, builds the registry with `build`, runs the command and returns
/// the exit code (errors go to stderr, as JSON with `--json`).
pub async fn main<F, Fut>(build: F) -> ExitCode
where
    F: FnOnce(Context) -> Fut,
    Fut: Future<Output = Result<Registry, BuildError>>,
{
    main_from(std::env::args_os(), build).await
}

/// [`main`] with the arguments given (the first is the program name): for tests and
/// wrappers.
pub async fn main_from<I, T, F, Fut>(args: I, build: F) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
    F: FnOnce(Context) -> Fut,
    Fut: Future<Output = Result<Registry, BuildError>>,
{
    let argv: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
    let parsed = Args::command()
        .try_get_matches_from(argv.clone())
        .and_then(|matches| Ok((Args::from_arg_matches(&matches)?, matches)));
    let (args, matches) = match parsed {
        Ok(parsed) => parsed,
        Err(e) => {
            let json = argv.iter().skip(1).any(|a| a == "--json");
            if json && e.use_stderr() {
                let message = e.kind().to_string();
                let detail = e.render().to_string();
                eprintln!(
                    "{}",
                    json!({ "error": message, "detail": detail.trim(), "exit_code": 2 })
                );
            } else {
                let _ = e.print();
            }
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let json = args.json;
    let sources = RootSources::of(&matches);
    match run(args, sources, build).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            if json {
                eprintln!("{}", json!({ "error": f.message, "exit_code": f.code }));
            } else {
                eprintln!("encx: {}", f.message);
            }
            ExitCode::from(f.code)
        }
    }
}

async fn run<F, Fut>(args: Args, sources: RootSources, build: F) -> Result<(), Failure>
where
    F: FnOnce(Context) -> Fut,
    Fut: Future<Output = Result<Registry, BuildError>>,
{
    if matches!(args.command, Command::Backup { .. }) {
        let root = root_keyring(&args, &sources).await?;
        if let Command::Backup { command } = args.command {
            return backup::run(command, &*root).await;
        }
    }
    let database_url = args
        .database_url
        .clone()
        .ok_or_else(|| config("no database: give --database-url or set DATABASE_URL"))?;
    let keys_database_url = args
        .keys_database_url
        .clone()
        .unwrap_or_else(|| database_url.clone());
    let connect_timeout = std::time::Duration::from_secs(args.connect_timeout.max(1));
    let read_only = args.command.is_read_only();
    // Both databases are reached (host and cause on failure) and looked at before the
    // application's builder runs: a read-only command must not create tables or keys.
    let data = connect::look(&database_url, connect_timeout).await?;
    let keys = match keys_database_url == database_url {
        true => None,
        false => Some(connect::look(&keys_database_url, connect_timeout).await?),
    };
    if read_only {
        let (url, rows) = match &keys {
            Some(keys) => (&keys_database_url, keys.key_rows),
            None => (&database_url, data.key_rows),
        };
        match rows {
            None => {
                return Err(config(format!(
                    "no encx tables in {} (nothing was created there): is this the \
                     application's database? A read-only command creates nothing",
                    connect::redact(url)
                )))
            }
            Some(0) => {
                return Err(config(format!(
                    "no encx keys in {} yet (nothing was created there): the application \
                     has not written any record",
                    connect::redact(url)
                )))
            }
            Some(_) => {}
        }
    }
    let root = root_keyring(&args, &sources).await?;
    let subject_tables = table_columns("--subject-table", "data subject", &args.subject_tables)?;
    let rewrap_tables = table_columns("--rewrap-table", "id", &args.rewrap_tables)?;
    let registry = build(Context {
        database_url,
        keys_database_url,
        root: root.clone(),
        connect_timeout,
        read_only,
        subject_tables,
        not_subject_tables: args
            .not_subject_tables
            .iter()
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .collect(),
        rewrap_tables,
        id_type: args.id_type,
        subject_type: args.subject_type,
        subject_cache_ttl: args.subject_cache_ttl.map(std::time::Duration::from_secs),
    })
    .await
    .map_err(|e| match e.downcast::<CliError>() {
        Ok(e) => e.0,
        Err(e) => Failure {
            code: build_code(&*e),
            message: format!("setting up: {}", with_hint(&*e)),
        },
    })?;
    let mut registry = data.register(registry);
    if let Some(keys) = keys {
        registry = keys.register(registry);
    }
    if let Some(actor) = &args.actor {
        registry = registry.with_actor(actor.clone());
    }
    let done = run_command(args, &registry, &*root).await;
    // A sink that queues events (SqlAuditSink) writes them before the process exits.
    registry.crypto().audit_sink().flush().await;
    done
}

/// `e`'s message, with what to do when it says the root key is not the one that wrapped the
/// stored keys.
fn with_hint(e: &(dyn std::error::Error + 'static)) -> String {
    let text = e.to_string();
    match e.downcast_ref::<encx::Error>().map(encx::Error::kind) {
        Some(encx::ErrorKind::MissingKey) if !text.contains("wrapped this database") => format!(
            "{text} (the root key given is not the one that wrapped this database's keys: \
             check --master-keys / --master-key-file / --kms-key-id and the environment)"
        ),
        _ => text,
    }
}

impl Command {
    /// Whether the command only reads: it must create no table and no key.
    fn is_read_only(&self) -> bool {
        match self {
            Command::Status | Command::Audit { .. } | Command::Verify { .. } => true,
            Command::Rewrap { dry_run, .. }
            | Command::Reencrypt { dry_run, .. }
            | Command::Migrate { dry_run, .. }
            | Command::EraseSubject { dry_run, .. } => *dry_run,
            Command::Keys { command } => match command {
                KeysCommand::Rotate { dry_run, .. }
                | KeysCommand::Destroy { dry_run, .. }
                | KeysCommand::IndexAdd { dry_run }
                | KeysCommand::IndexDestroy { dry_run, .. } => *dry_run,
            },
            Command::Secrets { command } => matches!(
                command,
                SecretsCommand::Get { .. } | SecretsCommand::List { .. }
            ),
            Command::Tenant { command } => match command {
                TenantCommand::Status { .. } => true,
                TenantCommand::Erase { dry_run, .. } | TenantCommand::Move { dry_run, .. } => {
                    *dry_run
                }
                TenantCommand::ReapplyLedger => false,
            },
            Command::ReapplyLedger | Command::Backup { .. } => false,
        }
    }
}

/// Runs the parsed command on the application's registry: one function per command.
async fn run_command(args: Args, registry: &Registry, root: &dyn Keyring) -> Result<(), Failure> {
    let json = args.json;
    match args.command {
        Command::Status => status(registry, json).await,
        Command::Keys { command } => keys_command(command, registry, root, json).await,
        Command::Rewrap { batch, dry_run } => rewrap(registry, batch, dry_run, json).await,
        Command::ReapplyLedger => reapply_ledger(registry, json).await,
        Command::Tenant { command } => {
            tenant::tenant_command(command, registry, args.actor.as_deref(), json).await
        }
        Command::EraseSubject {
            subject,
            dry_run,
            record_unknown,
        } => {
            erase_subject(
                registry,
                &subject,
                args.actor.as_deref(),
                dry_run,
                record_unknown,
                json,
            )
            .await
        }
        Command::Audit {
            table,
            record,
            subject,
            action,
            actor,
            since_minutes,
            limit,
        } => {
            let mut query = AuditQuery::default().limit(limit);
            query.table = table;
            query.record = record;
            query.subject = subject;
            query.actor = actor;
            audit(registry, query, action, since_minutes, json).await
        }
        Command::Migrate { batch, dry_run } => migrate(registry, batch, dry_run, json).await,
        Command::Verify { batch } => verify(registry, batch, json).await,
        Command::Reencrypt { batch, dry_run } => reencrypt(registry, batch, dry_run, json).await,
        Command::Secrets { command } => {
            secrets(registry, command, args.actor.as_deref(), json).await
        }
        Command::Backup { .. } => unreachable_backup(),
    }
}

/// `encx status`.
async fn status(registry: &Registry, json: bool) -> Result<(), Failure> {
    let status = registry.status().await?;
    emit(json, status_json(&status), || status.to_string());
    Ok(())
}

/// `encx rewrap`.
async fn rewrap(
    registry: &Registry,
    batch: usize,
    dry_run: bool,
    json: bool,
) -> Result<(), Failure> {
    let status = registry.status().await?;
    let job = RowJob {
        pending: status.pending_rewrap(),
        dry_run,
        json,
        key: "pending_rewrap",
        rows: "row(s) and subject key(s)",
        verb: "re-wrapped",
    };
    let Some((shown, done)) = job
        .run(|shown| registry.rewrap(batch, shown.updater()))
        .await?
    else {
        return Ok(());
    };
    let (timing, timing_json) = shown.finish();
    let tables: Vec<Value> = done
        .tables
        .iter()
        .map(|(t, p)| json!({ "table": t, "scanned": p.scanned, "rewrapped": p.rewrapped, "unopenable": p.unopenable, "batches": p.batches }))
        .collect();
    let subject = done
        .subject_keys
        .map(|s| json!({ "scanned": s.scanned, "rewrapped": s.rewrapped }));
    emit(
        json,
        json!({ "key_rows": done.key_rows, "tables": tables, "subject_keys": subject, "timing": timing_json }),
        || {
            let mut out = String::new();
            if done.key_rows > 0 {
                out.push_str(&format!(
                    "encx_keks: {} key(s) re-wrapped under the active root key\n",
                    done.key_rows
                ));
            }
            for (t, p) in &done.tables {
                out.push_str(&format!(
                    "{t}: {} of {} row(s) re-wrapped\n",
                    p.rewrapped, p.scanned
                ));
            }
            if let Some(s) = done.subject_keys {
                out.push_str(&format!(
                    "encx_subject_keys: {} of {} re-wrapped\n",
                    s.rewrapped, s.scanned
                ));
            }
            out.push_str(&timing);
            out
        },
    );
    unopenable_rows(&done.tables)?;
    Ok(())
}

/// `encx reapply-ledger`.
async fn reapply_ledger(registry: &Registry, json: bool) -> Result<(), Failure> {
    let receipts = registry.reapply_ledger().await?;
    let destroyed: usize = receipts.iter().map(|r| r.keys_destroyed.len()).sum();
    emit(
        json,
        json!({ "ledger_entries": receipts.len(), "keys_destroyed": destroyed }),
        || {
            format!(
                "{} ledger entr(ies) re-applied, {destroyed} resurrected key(s) destroyed",
                receipts.len()
            )
        },
    );
    Ok(())
}

/// `encx audit`: `query` with the action checked and `since_minutes` as a time.
async fn audit(
    registry: &Registry,
    mut query: AuditQuery,
    action: Option<String>,
    since_minutes: Option<u64>,
    json: bool,
) -> Result<(), Failure> {
    if let Some(action) = &action {
        if encx::audit::AuditAction::from_name(action).is_none() {
            let known: Vec<&str> = encx::audit::AuditAction::ALL
                .iter()
                .map(|a| a.as_str())
                .collect();
            return Err(Failure {
                code: 2,
                message: format!("no audit action `{action}`: one of {}", known.join(", ")),
            });
        }
    }
    query.action = action;
    // Any number of minutes is accepted: one reaching before 1970 means "from the start".
    query.since = since_minutes.map(|m| {
        let back = std::time::Duration::from_secs(m.saturating_mul(60));
        std::time::SystemTime::now()
            .checked_sub(back)
            .unwrap_or(std::time::UNIX_EPOCH)
            .max(std::time::UNIX_EPOCH)
    });
    let events = registry.audit(query).await?;
    let rows: Vec<Value> = events.iter().map(audit_json).collect();
    emit(json, json!({ "events": rows }), || {
        if events.is_empty() {
            return "no audit event matches".to_owned();
        }
        events.iter().map(audit_line).collect::<Vec<_>>().join("\n")
    });
    Ok(())
}

/// `encx migrate`.
async fn migrate(
    registry: &Registry,
    batch: usize,
    dry_run: bool,
    json: bool,
) -> Result<(), Failure> {
    let unmigrated = registry.unmigrated().await?;
    let job = RowJob {
        pending: unmigrated.iter().map(|(_, n)| n).sum(),
        dry_run,
        json,
        key: "unmigrated_rows",
        rows: "row(s)",
        verb: "migrated",
    };
    if let Some((shown, done)) = job
        .run(|shown| registry.migrate(batch, shown.updater()))
        .await?
    {
        job_done(&shown, &done, json);
    }
    Ok(())
}

/// `encx reencrypt`.
async fn reencrypt(
    registry: &Registry,
    batch: usize,
    dry_run: bool,
    json: bool,
) -> Result<(), Failure> {
    let job = RowJob {
        pending: registry.status().await?.pending_rows(),
        dry_run,
        json,
        key: "pending_rows",
        rows: "record(s)",
        verb: "re-encrypted",
    };
    if let Some((shown, done)) = job
        .run(|shown| registry.reencrypt(batch, shown.updater()))
        .await?
    {
        job_done(&shown, &done, json);
        unopenable_rows(&done)?;
    }
    Ok(())
}

/// A command that rewrites rows (rewrap, migrate, reencrypt): `pending` rows to do.
struct RowJob {
    pending: u64,
    dry_run: bool,
    json: bool,
    /// The JSON key of `pending` in a dry run's answer.
    key: &'static str,
    /// What `pending` counts, in the dry run's sentence.
    rows: &'static str,
    /// What the job does to a row ("re-wrapped"), for the sentence and the progress bar.
    verb: &'static str,
}

impl RowJob {
    /// On `--dry-run`, says what the job would do and returns `None`; otherwise runs `job`
    /// under a progress bar of the pending rows, stopping cleanly on SIGINT/SIGTERM, and
    /// returns the bar and what the job reported.
    async fn run<R, Fut>(
        self,
        job: impl Fn(&Progress) -> Fut,
    ) -> Result<Option<(Progress, R)>, Failure>
    where
        Fut: Future<Output = encx_sqlx::Result<R>>,
    {
        let RowJob {
            pending,
            dry_run,
            json,
            key,
            rows,
            verb,
        } = self;
        if dry_run {
            let mut answer = json!({ "dry_run": true });
            answer[key] = json!(pending);
            emit(json, answer, || {
                format!("dry run: {pending} {rows} would be {verb}")
            });
            return Ok(None);
        }
        let shown = Progress::new(pending, json, verb);
        let done = interruptible(&shown, || job(&shown)).await?;
        Ok(Some((shown, done)))
    }
}

/// `encx secrets`, as `actor` when one is named.
async fn secrets(
    registry: &Registry,
    command: SecretsCommand,
    actor: Option<&str>,
    json: bool,
) -> Result<(), Failure> {
    use encx_secrets::RegistrySecrets;
    let store = registry.secrets_store().ok_or_else(|| {
        config("no secrets store: the application's registry must add one (encx_secrets::RegistrySecrets::secrets)")
    })?;
    match actor {
        Some(actor) => {
            let store = store.with_actor(actor);
            secrets::run(command, &*store, json).await?;
        }
        None => secrets::run(command, &**store, json).await?,
    }
    Ok(())
}

/// Prints what a job did in each table (rows written of rows read, rows skipped), then its
/// elapsed time and rate.
fn job_done(shown: &Progress, done: &[(&'static str, RewrapProgress)], json: bool) {
    let (timing, timing_json) = shown.finish();
    let tables: Vec<Value> = done
        .iter()
        .map(|(t, p)| {
            json!({ "table": t, "scanned": p.scanned, "written": p.rewrapped,
                    "unopenable": p.unopenable, "batches": p.batches })
        })
        .collect();
    emit(
        json,
        json!({ "tables": tables, "timing": timing_json }),
        || {
            let mut lines: Vec<String> = done
                .iter()
                .map(|(t, p)| {
                    format!(
                        "{t}: {} of {} row(s) {}",
                        p.rewrapped, p.scanned, shown.verb
                    )
                })
                .collect();
            lines.push(timing);
            lines.join("\n")
        },
    );
}

/// Exit 7 after a job that skipped rows it could not open, saying how many and where.
fn unopenable_rows(tables: &[(&'static str, RewrapProgress)]) -> Result<(), Failure> {
    let skipped: Vec<String> = tables
        .iter()
        .filter(|(_, p)| p.unopenable > 0)
        .map(|(t, p)| format!("{t}: {}", p.unopenable))
        .collect();
    if skipped.is_empty() {
        return Ok(());
    }
    Err(Failure {
        code: 7,
        message: format!(
            "skipped row(s) whose KEK is destroyed or missing ({}): they cannot be read again; \
             `encx status` shows them under their KEK. Every other row was done",
            skipped.join(", ")
        ),
    })
}

/// `encx keys ...`: one function per command.
async fn keys_command(
    command: KeysCommand,
    registry: &Registry,
    root: &dyn Keyring,
    json: bool,
) -> Result<(), Failure> {
    match command {
        KeysCommand::Rotate { dry_run } => keys_rotate(registry, dry_run, json).await,
        KeysCommand::Destroy { id, force, dry_run } => {
            keys_destroy(registry, id, force, dry_run, json).await
        }
        KeysCommand::IndexAdd { dry_run } => keys_index_add(registry, root, dry_run, json).await,
        KeysCommand::IndexDestroy {
            version,
            force,
            dry_run,
        } => keys_index_destroy(registry, version, force, dry_run, json).await,
    }
}

/// `encx keys rotate`.
async fn keys_rotate(registry: &Registry, dry_run: bool, json: bool) -> Result<(), Failure> {
    if dry_run {
        let status = registry.status().await?;
        emit(
            json,
            json!({ "dry_run": true, "would_rotate": true, "pending_rewrap_after": status.pending_rewrap() + active_rows(&status) }),
            || {
                "dry run: a new KEK would become active; the active one would be retired (still unwrapping)".into()
            },
        );
    } else {
        let rotated = registry.crypto().rotate_kek(registry.actor()).await?;
        let ttl = registry.effective_kek_cache_ttl();
        let settled = std::time::SystemTime::now() + ttl + std::time::Duration::from_secs(1);
        emit(
            json,
            json!({ "active": rotated, "every_process_has_it_after": encx_sqlx::rfc3339(settled) }),
            || {
                format!(
                    "{rotated} is active; run `encx rewrap` to move existing records. \
                     Processes may wrap under the old KEK until {} (KEK cache TTL {} s): \
                     run `encx rewrap` again after that, before `encx keys destroy`",
                    encx_sqlx::rfc3339(settled),
                    ttl.as_secs()
                )
            },
        );
    }
    Ok(())
}

/// `encx keys destroy`.
async fn keys_destroy(
    registry: &Registry,
    id: uuid::Uuid,
    force: bool,
    dry_run: bool,
    json: bool,
) -> Result<(), Failure> {
    if dry_run {
        let refusal = registry.kek_destroy_refusal(id).await?;
        let status = registry.status().await?;
        let users = status.users_of(KeyInUse::Kek(id));
        let listed = users
            .iter()
            .map(|(t, n)| format!("{t}: {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        emit(
            json,
            json!({
                "dry_run": true, "kek": id.to_string(),
                "still_needed_by": users.iter().map(|(t, n)| json!({"table": t, "rows": n})).collect::<Vec<_>>(),
                "refused": refusal.as_ref().map(ToString::to_string),
            }),
            || {
                let needs = match users.is_empty() {
                    true => "no row needs it".to_owned(),
                    false => format!("destroying it would shred {listed}"),
                };
                match &refusal {
                    Some(r) => format!("dry run: KEK {id}: {needs}; refused now: {r}"),
                    None => format!("dry run: KEK {id}: {needs}; it would be destroyed"),
                }
            },
        );
    } else {
        let shredded = registry.destroy_kek(id, force).await?;
        emit(
            json,
            json!({ "destroyed": id.to_string(), "shredded": shredded.iter().map(|(t, n)| json!({"table": t, "rows": n})).collect::<Vec<_>>() }),
            || {
                let mut out = format!("KEK {id} destroyed");
                for (t, n) in &shredded {
                    out.push_str(&format!("; {t}: {n} row(s) shredded with it"));
                }
                out
            },
        );
    }
    Ok(())
}

/// `encx keys index-add`.
async fn keys_index_add(
    registry: &Registry,
    root: &dyn Keyring,
    dry_run: bool,
    json: bool,
) -> Result<(), Failure> {
    if dry_run {
        let versions = registry.index_versions().await?;
        let rows: Vec<Value> = versions
            .iter()
            .map(|k| json!({ "version": k.version, "state": format!("{:?}", k.state), "id": k.id.to_string() }))
            .collect();
        emit(
            json,
            json!({ "dry_run": true, "index_versions": rows }),
            || {
                let mut out = String::from("dry run: would add an index key version; now:");
                for k in &versions {
                    out.push_str(&format!(
                        "\n  index key version {}: {:?}",
                        k.version, k.state
                    ));
                }
                out
            },
        );
        return Ok(());
    }
    let version = registry.add_index_version(root).await?;
    emit(json, json!({ "index_version": version }), || {
        format!(
            "index key version {version} is active; restart every process, then `encx keys \
             rotate` and `encx reencrypt`"
        )
    });
    Ok(())
}

/// `encx keys index-destroy`.
async fn keys_index_destroy(
    registry: &Registry,
    version: u32,
    force: bool,
    dry_run: bool,
    json: bool,
) -> Result<(), Failure> {
    if dry_run {
        let refusal = registry.index_destroy_refusal(version).await?;
        emit(
            json,
            json!({ "dry_run": true, "index_version": version, "refused": refusal.as_ref().map(ToString::to_string) }),
            || match &refusal {
                Some(r) => format!("dry run: refused now: {r}"),
                None => format!("dry run: index key version {version} would be destroyed"),
            },
        );
        return Ok(());
    }
    registry.destroy_index_version(version, force).await?;
    emit(json, json!({ "destroyed_index_version": version }), || {
        format!("index key version {version} destroyed; restart every process")
    });
    Ok(())
}

/// `encx erase-subject`.
async fn erase_subject(
    registry: &Registry,
    subject: &str,
    actor: Option<&str>,
    dry_run: bool,
    record_unknown: bool,
    json: bool,
) -> Result<(), Failure> {
    let tables = registry
        .subject_tables()
        .ok_or_else(Registry::no_subject_eraser)?;
    let found = registry.subject_footprint(subject).await?;
    let footprint_json = json!({
        "subject": found.subject, "live_keys": found.live_keys,
        "highest_version": found.highest_version, "erased_before": found.erased,
        "rows": found.tables.iter().map(|(t, n)| json!({ "table": t, "rows": n })).collect::<Vec<_>>(),
        "not_covered": found.not_covered,
        "unknown": found.is_unknown(),
    });
    if dry_run {
        emit(
            json,
            json!({ "dry_run": true, "tables": tables, "found": footprint_json }),
            || match found.is_unknown() {
                true => format!(
                    "dry run: {found}: nothing to erase (an erasure would only be recorded, \
                     with --record-unknown)"
                ),
                false if !found.not_covered.is_empty() => format!(
                    "dry run: {found}; an erasure would be refused until every table that \
                     encx writes is named (--subject-table TABLE:COLUMN or \
                     --not-subject-table TABLE)"
                ),
                false => format!(
                    "dry run: {found}; would destroy its keys and clear its rows in {}",
                    tables.join(", ")
                ),
            },
        );
        return Ok(());
    }
    if found.is_unknown() && !record_unknown {
        return Err(Failure {
            code: 1,
            message: format!(
                "no keys and no rows for subject {}: nothing erased, nothing recorded. Check \
                 the id; for a request that precedes any data, run again with \
                 --record-unknown (its first record is then refused)",
                found.subject
            ),
        });
    }
    if let Some(window) = registry.subject_writer_window().filter(|w| !w.is_zero()) {
        if !json {
            eprintln!(
                "erasing subject {subject}; then waiting {} ms for other processes' \
                 subject caches before clearing the rows they wrote meanwhile",
                window.as_millis()
            );
        }
    }
    let receipt = registry.erase_subject(subject, actor).await?;
    let at_ms = receipt
        .at
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    emit(
        json,
        json!({
            "subject": receipt.subject,
            "keys_destroyed": receipt.keys_destroyed.iter().map(|k| k.to_string()).collect::<Vec<_>>(),
            "up_to_version": receipt.up_to_version,
            "tables": receipt.tables.iter().map(|(t, n)| json!({ "table": t, "rows_cleared": n })).collect::<Vec<_>>(),
            "swept_after_ms": receipt.swept_after.map(|d| d.as_millis() as u64),
            "swept": receipt.swept.iter().map(|(t, n)| json!({ "table": t, "rows_cleared": n })).collect::<Vec<_>>(),
            "at": encx_sqlx::rfc3339(receipt.at),
            "at_ms": at_ms,
            "unknown_before": found.is_unknown(),
        }),
        || receipt.to_string(),
    );
    Ok(())
}

/// `encx verify`.
async fn verify(registry: &Registry, batch: usize, json: bool) -> Result<(), Failure> {
    let reports = registry.verify(batch).await?;
    let tables: Vec<Value> = reports
        .iter()
        .map(|(t, r)| {
            json!({
                "table": t, "checked": r.checked, "mismatched": r.mismatched,
                "unreadable": r.unreadable, "failed_ids": r.failed_ids,
                "unmigrated": r.unmigrated, "retired": r.retired, "erased": r.erased,
                "complete": r.is_complete(),
            })
        })
        .collect();
    emit(json, json!({ "tables": tables }), || {
        reports
            .iter()
            .map(|(t, r)| {
                let mut line = format!(
                    "{t}: {} row(s) checked, {} mismatched, {} unreadable, {} not migrated \
                     yet, {} rewritten since, {} erased",
                    r.checked, r.mismatched, r.unreadable, r.unmigrated, r.retired, r.erased
                );
                if !r.failed_ids.is_empty() {
                    line.push_str(&format!("\n  failed ids: {}", r.failed_ids.join(", ")));
                }
                line
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    let failed: u64 = reports
        .iter()
        .map(|(_, r)| r.mismatched + r.unreadable)
        .sum();
    let left: u64 = reports.iter().map(|(_, r)| r.unmigrated).sum();
    if failed > 0 {
        return Err(Failure {
            code: 5,
            message: format!("{failed} migrated row(s) differ from their plaintext or fail their integrity check"),
        });
    }
    if left > 0 {
        return Err(Failure {
            code: 1,
            message: format!("{left} row(s) not migrated yet: run encx migrate"),
        });
    }
    Ok(())
}

/// `backup` is handled before any database is opened.
fn unreachable_backup() -> Result<(), Failure> {
    Err(config("backup runs without a registry"))
}

/// An audit event's time as RFC 3339 (UTC, milliseconds).
fn rfc3339(event: &AuditRecord) -> String {
    encx_sqlx::rfc3339_millis(event.at)
}

/// Stored caller text as one token of an audit line: as it is when it holds only characters
/// that cannot fake a field or a line, else quoted, with quotes, backslashes and control
/// characters escaped (rows written before encx escaped them included).
fn shown_value(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_alphanumeric() || "_-.:/@#+,".contains(c));
    if plain {
        return value.to_owned();
    }
    let escaped = encx::audit::escape_text(value).replace('"', "\\\"");
    format!("\"{escaped}\"")
}

/// One audit event as a line of text.
fn audit_line(e: &AuditRecord) -> String {
    let mut line = format!("{} {} {}", rfc3339(e), e.action, e.table_name);
    for (name, value) in [
        ("record", &e.record),
        ("subject", &e.subject),
        ("actor", &e.actor),
    ] {
        if let Some(value) = value {
            line.push_str(&format!(" {name}={}", shown_value(value)));
        }
    }
    if !e.fields.is_empty() {
        line.push_str(&format!(" fields={}", e.fields));
    }
    line.push_str(&format!(
        " records={} outcome={} {}us",
        e.records, e.outcome, e.duration_us
    ));
    line
}

/// One audit event as JSON.
fn audit_json(e: &AuditRecord) -> Value {
    json!({
        "at": rfc3339(e), "at_ms": e.at, "action": e.action, "table": e.table_name,
        "record": e.record, "subject": e.subject, "fields": e.fields, "actor": e.actor,
        "records": e.records, "outcome": e.outcome, "duration_us": e.duration_us,
    })
}

/// A progress bar over several tables' batches (plain lines with a timestamp, the total and
/// the rate when stderr is not a terminal; nothing with `--json`). Clones share one state.
#[derive(Clone)]
struct Progress {
    bar: indicatif::ProgressBar,
    plain: bool,
    verb: &'static str,
    total: u64,
    started: std::time::Instant,
    state: Arc<std::sync::Mutex<Shown>>,
}

/// What a [`Progress`] has heard.
#[derive(Default)]
struct Shown {
    /// Rows written in the tables finished before the current one.
    earlier: u64,
    current: (&'static str, u64),
    /// When the last plain line was printed.
    said: Option<std::time::Instant>,
}

/// How often a plain progress line is printed at most.
const PLAIN_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

impl Progress {
    fn new(total: u64, json: bool, verb: &'static str) -> Self {
        Progress {
            bar: progress_bar(total, json),
            plain: !json && !std::io::stderr().is_terminal(),
            verb,
            total,
            started: std::time::Instant::now(),
            state: Arc::default(),
        }
    }

    /// The callback a registry job reports its batches to.
    fn updater(&self) -> impl FnMut(&'static str, &RewrapProgress) + Send {
        let shown = self.clone();
        move |table, p| shown.update(table, p)
    }

    fn update(&self, table: &'static str, p: &RewrapProgress) {
        let (position, say) = {
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            if table != state.current.0 {
                state.earlier += state.current.1;
                self.bar.set_message(table);
            }
            state.current = (table, p.rewrapped);
            // A plain line for the first batch, then at most one a second.
            let say = state.said.is_none_or(|at| at.elapsed() >= PLAIN_EVERY);
            if say {
                state.said = Some(std::time::Instant::now());
            }
            (state.earlier + p.rewrapped, say)
        };
        self.bar.set_position(position);
        if self.plain && say {
            eprintln!(
                "{} {table}: {position}/{} row(s) {}, {} batch(es), {:.0} rows/s",
                encx_sqlx::rfc3339(std::time::SystemTime::now()),
                self.total,
                self.verb,
                p.batches,
                self.rate(position)
            );
        }
    }

    /// Rows written so far, in every table.
    fn rows(&self) -> u64 {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.earlier + state.current.1
    }

    fn rate(&self, rows: u64) -> f64 {
        rows as f64 / self.started.elapsed().as_secs_f64().max(1e-3)
    }

    /// Clears the bar; the elapsed time and the rate, as text and as JSON.
    fn finish(&self) -> (String, Value) {
        self.bar.finish_and_clear();
        let rows = self.rows();
        let elapsed = self.started.elapsed();
        let rate = self.rate(rows);
        (
            format!(
                "{rows} row(s) {} in {:.1} s ({rate:.0} rows/s)",
                self.verb,
                elapsed.as_secs_f64()
            ),
            json!({ "elapsed_ms": elapsed.as_millis() as u64, "rows_per_second": rate.round() }),
        )
    }
}

/// How often a job is run again after the database or the KMS dropped it.
const JOB_RETRIES: u32 = 3;

/// Runs a registry job to its end, again (it resumes) when it failed in a way that may pass
/// (a dropped database session, a KMS outage: up to [`JOB_RETRIES`] times in a row without
/// progress, 1, 2, 4 s apart),
/// and stops at SIGINT or SIGTERM: the batch under way is abandoned (its transaction rolls
/// back) and the failure, exit 130, says how far it got.
async fn interruptible<R, Fut>(shown: &Progress, mut job: impl FnMut() -> Fut) -> Result<R, Failure>
where
    Fut: Future<Output = encx_sqlx::Result<R>>,
{
    let mut attempt = 0;
    let mut rows_at_failure = None;
    loop {
        let outcome = tokio::select! {
            outcome = job() => outcome,
            signal = interrupted() => {
                shown.bar.finish_and_clear();
                return Err(Failure {
                    code: INTERRUPTED,
                    message: format!(
                        "{signal}: stopped after {} row(s) {}; run again to continue",
                        shown.rows(),
                        shown.verb
                    ),
                });
            }
        };
        match outcome {
            Err(e) if e.is_retryable() && attempt < JOB_RETRIES => {
                // A job that got further since its last failure starts its tries afresh.
                if rows_at_failure.is_some_and(|rows| shown.rows() > rows) {
                    attempt = 0;
                }
                rows_at_failure = Some(shown.rows());
                attempt += 1;
                let wait = std::time::Duration::from_secs(1 << (attempt - 1));
                eprintln!(
                    "encx: {e}; running the job again in {} s (try {attempt} of {JOB_RETRIES}), \
                     it resumes where it stopped",
                    wait.as_secs()
                );
                tokio::time::sleep(wait).await;
            }
            outcome => return outcome.map_err(Failure::from),
        }
    }
}

/// The exit code of a job stopped by SIGINT or SIGTERM.
const INTERRUPTED: u8 = 130;

/// Waits for SIGINT (Ctrl-C) or SIGTERM; says which. Never returns if neither can be heard.
async fn interrupted() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                heard = tokio::signal::ctrl_c() => {
                    if heard.is_err() {
                        term.recv().await;
                        return "terminated (SIGTERM)";
                    }
                    return "interrupted (SIGINT)";
                }
                _ = term.recv() => return "terminated (SIGTERM)",
            }
        }
    }
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
    "interrupted (SIGINT)"
}

/// Rows under the active KEK (they become pending after a rotation).
fn active_rows(status: &KeyStatus) -> u64 {
    let Some(active) = status
        .keks
        .iter()
        .find(|k| k.state == encx::KekState::Active)
    else {
        return 0;
    };
    status
        .users_of(KeyInUse::Kek(active.id))
        .iter()
        .map(|(_, n)| n)
        .sum()
}

/// A progress bar with rate and ETA on a terminal; hidden otherwise (plain lines instead).
fn progress_bar(total: u64, json: bool) -> indicatif::ProgressBar {
    if json || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{msg:>16} [{bar:40}] {pos}/{len} rows  {per_sec}  ETA {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

fn status_json(status: &KeyStatus) -> Value {
    let usage = |usage: &Vec<(KeyInUse, u64)>| -> Vec<Value> {
        usage
            .iter()
            .map(|(k, n)| json!({ "key": k.to_string(), "rows": n }))
            .collect()
    };
    json!({
        "keks": status.keks.iter().map(|k| json!({
            "id": k.id.to_string(), "version": k.version, "state": format!("{:?}", k.state).to_lowercase(),
            "root_key": k.root_key, "root_key_name": status.root_name(&k.root_key),
        })).collect::<Vec<_>>(),
        "unregistered": status.unregistered.iter().map(|(t, u)| json!({ "table": t, "keys": usage(u) })).collect::<Vec<_>>(),
        "tables": status.tables.iter().map(|(t, u)| json!({ "table": t, "keys": usage(u) })).collect::<Vec<_>>(),
        "subject_keys": status.subject_keys.as_ref().map(usage),
        "key_rows_to_rewrap": status.key_rows_to_rewrap,
        "pending_rewrap": status.pending_rewrap(),
    })
}

/// The exit code for an error of the registry builder.
fn build_code(e: &(dyn std::error::Error + 'static)) -> u8 {
    if let Some(e) = e.downcast_ref::<encx::Error>() {
        return crypto_code(e.kind());
    }
    if let Some(e) = e.downcast_ref::<Error>() {
        return match e {
            Error::Database(_) => 6,
            Error::Crypto(c) => crypto_code(c.kind()),
            _ => 3,
        };
    }
    if e.downcast_ref::<sqlx::Error>().is_some() {
        return 6;
    }
    1
}

/// The root key options of the command line and of the environment.
#[derive(Debug, Default)]
struct RootSources {
    /// Options given on the command line, by flag.
    flags: Vec<RootSource>,
    /// Options set in the environment, by variable.
    env: Vec<RootSource>,
}

/// One way to give the root key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RootSource {
    MasterKeys,
    MasterKeyFile,
    KmsKeyId,
    /// `ENCX_MASTER_KEY`, one base64 key (environment only).
    MasterKey,
}

impl RootSource {
    fn flag(self) -> &'static str {
        match self {
            RootSource::MasterKeys => "--master-keys",
            RootSource::MasterKeyFile => "--master-key-file",
            RootSource::KmsKeyId => "--kms-key-id",
            RootSource::MasterKey => encx::keys::local::ENV_MASTER_KEY,
        }
    }

    fn variable(self) -> &'static str {
        match self {
            RootSource::MasterKeys => "ENCX_MASTER_KEYS",
            RootSource::MasterKeyFile => "ENCX_MASTER_KEY_FILE",
            RootSource::KmsKeyId => "ENCX_KMS_KEY_ID",
            RootSource::MasterKey => encx::keys::local::ENV_MASTER_KEY,
        }
    }
}

impl RootSources {
    fn of(matches: &clap::ArgMatches) -> Self {
        let mut sources = RootSources::default();
        for (id, source) in [
            ("master_keys", RootSource::MasterKeys),
            ("master_key_file", RootSource::MasterKeyFile),
            ("kms_key_id", RootSource::KmsKeyId),
        ] {
            match matches.value_source(id) {
                Some(clap::parser::ValueSource::CommandLine) => sources.flags.push(source),
                Some(clap::parser::ValueSource::EnvVariable) => sources.env.push(source),
                _ => {}
            }
        }
        if std::env::var_os(encx::keys::local::ENV_MASTER_KEY).is_some() {
            sources.env.push(RootSource::MasterKey);
        }
        sources
    }

    /// The one source to use: a flag beats the environment; two flags, or two variables
    /// without a flag, are a configuration error.
    fn choose(&self) -> Result<RootSource, Failure> {
        if self.flags.len() > 1 {
            let given: Vec<&str> = self.flags.iter().map(|s| s.flag()).collect();
            return Err(config(format!(
                "give one root key, not {}: they may be different keys",
                given.join(" and ")
            )));
        }
        if let Some(flag) = self.flags.first() {
            return Ok(*flag);
        }
        match self.env.as_slice() {
            [one] => Ok(*one),
            [] => Err(config(
                "no root key: give --master-keys (ENCX_MASTER_KEYS), --master-key-file \
                 (ENCX_MASTER_KEY_FILE) or --kms-key-id (ENCX_KMS_KEY_ID), or set ENCX_MASTER_KEY",
            )),
            many => {
                let set: Vec<&str> = many.iter().map(|s| s.variable()).collect();
                Err(config(format!(
                    "the environment sets {} root keys ({}): unset all but one, or give one \
                     on the command line (a flag beats the environment)",
                    set.len(),
                    set.join(", ")
                )))
            }
        }
    }
}

async fn root_keyring(args: &Args, sources: &RootSources) -> Result<Arc<dyn Keyring>, Failure> {
    let missing = || config("the chosen root key option has no value");
    match sources.choose()? {
        RootSource::MasterKeys => {
            let spec = args.master_keys.as_deref().ok_or_else(missing)?;
            Ok(Arc::new(encx::LocalKeyring::from_spec(spec)?))
        }
        RootSource::MasterKeyFile => {
            let path = args.master_key_file.as_deref().ok_or_else(missing)?;
            let text = std::fs::read_to_string(path)
                .map_err(|e| config(format!("cannot read {}: {e}", path.display())))?;
            let key = encx::MasterKey::from_base64("v1", text.trim())?;
            Ok(Arc::new(encx::LocalKeyring::new(vec![key])?))
        }
        RootSource::KmsKeyId => kms_root(args.kms_key_id.as_deref().ok_or_else(missing)?).await,
        RootSource::MasterKey => Ok(Arc::new(encx::LocalKeyring::from_env()?)),
    }
}

#[cfg(feature = "aws-kms")]
async fn kms_root(key_id: &str) -> Result<Arc<dyn Keyring>, Failure> {
    let mut builder = encx::AwsKmsKeyring::builder(key_id);
    if let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL") {
        builder = builder.endpoint(endpoint);
    }
    Ok(Arc::new(builder.build().await?))
}

#[cfg(not(feature = "aws-kms"))]
async fn kms_root(_key_id: &str) -> Result<Arc<dyn Keyring>, Failure> {
    Err(config(
        "--kms-key-id needs encx-cli built with the `aws-kms` feature",
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// Caller text in a stored audit row (a token owner with a line break and a fake field,
    /// as rows written before encx escaped them can hold) stays one token of one line.
    #[test]
    fn an_audit_line_cannot_be_forged_by_caller_text() {
        let forged = "x\n2026-12-04T00:00:00Z erase_subject users subject=victim";
        // (at, action, table, record, subject, fields, actor, records, outcome, duration_us)
        let record = AuditRecord::from((
            0,
            "issue".to_string(),
            "encx_tokens".to_string(),
            Some("id-1".to_string()),
            Some(forged.to_string()),
            String::new(),
            Some("a\u{202e}b \"c\"".to_string()),
            1,
            "ok".to_string(),
            5,
        ));
        let line = audit_line(&record);
        assert!(!line.contains('\n') && !line.contains('\u{202e}'), "{line}");
        assert!(line.contains(" record=id-1 "), "{line}");
        assert!(
            line.contains(
                r#" subject="x\u{a}2026-12-04T00:00:00Z erase_subject users subject=victim" "#
            ),
            "{line}"
        );
        assert!(line.contains(r#" actor="a\u{202e}b \"c\"" "#), "{line}");
        assert_eq!(line.matches(" subject=\"").count(), 1, "{line}");
    }
}
