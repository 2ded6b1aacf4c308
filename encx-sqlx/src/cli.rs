//! The `encx` operator CLI (feature `cli`): `status`, `keys rotate`, `keys destroy`, `rewrap`,
//! `keys index-add`, `keys index-destroy`, `reencrypt` (alias `reindex`), `migrate`, `verify`,
//! `erase-subject`, `reapply-ledger`, `audit`, with progress bars, `--json` and `--dry-run`.
//!
//! Jobs need the application's record types, so the CLI is a library the application calls
//! from a binary of its own, with its tables registered in a [`Registry`]:
//!
//! ```no_run
//! # use encx::Encrypted;
//! # #[derive(Encrypted)] #[encx(table = "users")] struct User { #[encx(id)] id: uuid::Uuid, #[encx(encrypt)] email: String }
//! // src/bin/encx.rs of your application
//! use encx_sqlx::{cli, Registry, Repo, SqlKekStore};
//!
//! #[tokio::main]
//! async fn main() -> std::process::ExitCode {
//!     cli::main(|ctx: cli::Context| async move {
//!         let pool = sqlx::PgPool::connect(&ctx.database_url).await?;
//!         // `--keys-database-url`: the key tables' own database (the data's when not given).
//!         let keys = sqlx::PgPool::connect(&ctx.keys_database_url).await?;
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
//! 7 a key the stored data names is missing (e.g. another root key), 1 anything else.

use std::future::Future;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use encx::{KeyInUse, Keyring};
use serde_json::{json, Value};

use crate::audit_log::{AuditQuery, AuditRecord};
use crate::error::Error;
use crate::registry::{KeyStatus, Registry};
use crate::rewrap::RewrapProgress;

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
}

/// The error a registry builder may return.
pub type BuildError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, Parser)]
#[command(
    name = "encx",
    about = "Operate encx-encrypted tables: key status, KEK rotation, rewrap, re-encryption and reindex, plaintext migration and its verification, KEK destruction, subject erasure, audit log.",
    after_help = "Examples:\n  \
        encx status --database-url sqlite://quickstart.db --master-key-file quickstart.key\n  \
        encx keys rotate --actor ops@example.com\n  \
        encx rewrap --batch 1000\n  \
        encx reencrypt --batch 500   # after keys rotate: fresh DEKs, indexes under the newest index key (alias: reindex)\n  \
        encx migrate --batch 500     # plaintext columns into encx's; then: encx verify\n  \
        encx keys index-add          # then restart, keys rotate, reindex, keys index-destroy 1\n  \
        encx keys destroy 0b5e3c1e-8c4d-4f0e-9d53-3c2a5c1e7a10 --dry-run\n  \
        encx status --json | jq .pending_rewrap\n  \
        encx erase-subject 7f0c2a4e-8d6b-4c1e-9a53-2b6d1e0f4c88 --actor dpo@example.com --dry-run\n  \
        encx audit --subject 7f0c2a4e-8d6b-4c1e-9a53-2b6d1e0f4c88 --since-minutes 1440\n\n\
        Exit codes: 0 done, 2 usage, 3 configuration, 4 refused (key still in use), \
        5 integrity failure, 6 unavailable (retry), 7 missing key, 1 other."
)]
struct Args {
    /// Database URL (postgres://, mysql://, sqlite://).
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    database_url: Option<String>,
    /// Database URL of the key tables, where they live apart from the data (default: the
    /// data's).
    #[arg(
        long,
        env = "ENCX_KEYS_DATABASE_URL",
        global = true,
        hide_env_values = true
    )]
    keys_database_url: Option<String>,
    /// Local master keys, `v1:BASE64,v2:BASE64` (the last wraps). Without any root option,
    /// `ENCX_MASTER_KEY` (one base64 key) is read, as the library does.
    #[arg(long, env = "ENCX_MASTER_KEYS", global = true, hide_env_values = true)]
    master_keys: Option<String>,
    /// A file holding one base64 master key (version `v1`).
    #[arg(long, env = "ENCX_MASTER_KEY_FILE", global = true)]
    master_key_file: Option<std::path::PathBuf>,
    /// AWS KMS key id or ARN for the root (feature `aws-kms`).
    #[arg(long, env = "ENCX_KMS_KEY_ID", global = true)]
    kms_key_id: Option<String>,
    /// Print one JSON document instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Rows per key in every registered table, subject keys, KEKs, pending rewrap.
    Status,
    /// Key-encryption keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Re-wrap every DEK and subject key not under the active KEK (after `keys rotate`).
    Rewrap {
        /// Rows per transaction.
        #[arg(long, default_value_t = 1_000)]
        batch: usize,
        /// Count what would be re-wrapped; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Erase a data subject: destroy its keys and clear its rows in every table of the
    /// application's subject eraser (needs `Registry::subject_eraser`), then wait out the
    /// other processes' subject caches and clear the rows they wrote meanwhile.
    EraseSubject {
        /// The subject's id, as the application's subject type parses it.
        subject: String,
        /// Who erases, for the audit trail.
        #[arg(long)]
        actor: Option<String>,
        /// Say what would be erased; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// After a restore of the subject key database: destroy again the keys of every subject
    /// in the erasure ledger and clear their rows (needs `Registry::subject_eraser` with a
    /// ledger).
    ReapplyLedger,
    /// Audit events from `encx_audit`, newest first (needs `Registry::audit_log`).
    Audit {
        /// Only events of this table.
        #[arg(long)]
        table: Option<String>,
        /// Only events of this record id.
        #[arg(long)]
        record: Option<String>,
        /// Only events of this data subject.
        #[arg(long)]
        subject: Option<String>,
        /// Only events of this action (encrypt, decrypt, find_by, erase, erase_subject,
        /// rotate, rewrap, reencrypt).
        #[arg(long)]
        action: Option<String>,
        /// Only events of this actor.
        #[arg(long)]
        actor: Option<String>,
        /// Only events of the last N minutes.
        #[arg(long, value_name = "N")]
        since_minutes: Option<u64>,
        /// The most events shown.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Re-encrypt every record not under the active KEK: fresh DEKs, blind indexes under the
    /// newest index key version (DEK rotation, reindex). Run `keys rotate` first.
    #[command(visible_alias = "reindex")]
    Reencrypt {
        /// Records per transaction.
        #[arg(long, default_value_t = 500)]
        batch: usize,
        /// Count what would be re-encrypted; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Encrypt the rows not migrated yet of the tables being migrated from plaintext (needs
    /// `Registry::migrating_table`); the plaintext columns stay until you drop them.
    Migrate {
        /// Rows per transaction.
        #[arg(long, default_value_t = 500)]
        batch: usize,
        /// Count the rows that would be migrated; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Decrypt every migrated row and compare it with its plaintext; exit 5 on a mismatch or
    /// a row that fails its integrity check, 1 while rows are left to migrate.
    Verify {
        /// Rows per read.
        #[arg(long, default_value_t = 1_000)]
        batch: usize,
    },
    /// Application secrets in `encx_secrets` (needs `Registry::secrets`).
    Secrets {
        /// Who is acting (named in the audit event of each read and write).
        #[arg(long, global = true)]
        actor: Option<String>,
        #[command(subcommand)]
        command: SecretsCommand,
    },
    /// Encrypt or decrypt a file or pipe (a database dump) under the root key; needs no
    /// database: `pg_dump mydb | encx backup encrypt > mydb.encx`.
    Backup {
        #[command(subcommand)]
        command: BackupCommand,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum SecretsCommand {
    /// Store a secret (a new version if it exists), the value read from standard input (one
    /// trailing newline dropped) or from `--from-file`.
    Put {
        /// Its name: a-z A-Z 0-9 _ . / : -
        name: String,
        /// A tag (repeat for more).
        #[arg(long = "tag")]
        tags: Vec<String>,
        /// Lifetime: `90s`, `15m`, `12h`, `30d`.
        #[arg(long, value_name = "DURATION")]
        expires_in: Option<String>,
        /// Read the value from this file, as it is.
        #[arg(long, value_name = "FILE")]
        from_file: Option<std::path::PathBuf>,
    },
    /// Show a secret's metadata; its value only with `--reveal` (to standard output, as it is).
    Get {
        /// Its name.
        name: String,
        /// A given version (default: the newest).
        #[arg(long)]
        version: Option<u64>,
        /// Print the value.
        #[arg(long)]
        reveal: bool,
    },
    /// List secrets (names, versions, tags, expiry; never values).
    List {
        /// Only those with this tag.
        #[arg(long)]
        tag: Option<String>,
    },
    /// Store a new version with the same tags (and lifetime): the value from standard input,
    /// `--from-file`, or `--generate N` random bytes (base64url, not printed).
    Rotate {
        /// Its name.
        name: String,
        /// Read the value from this file, as it is.
        #[arg(long, value_name = "FILE", conflicts_with = "generate")]
        from_file: Option<std::path::PathBuf>,
        /// Generate N random bytes, stored base64url-encoded.
        #[arg(long, value_name = "N")]
        generate: Option<usize>,
    },
    /// Delete every version of a secret.
    Delete {
        /// Its name.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum BackupCommand {
    /// Encrypt standard input (or `--input`) to standard output (or `--output`).
    Encrypt {
        /// What the stream holds, stored in its header and bound to its key.
        #[arg(long, default_value = "backup")]
        label: String,
        /// Read this file instead of standard input.
        #[arg(long, short)]
        input: Option<std::path::PathBuf>,
        /// Write this file instead of standard output.
        #[arg(long, short)]
        output: Option<std::path::PathBuf>,
        /// Plaintext bytes per segment.
        #[arg(long, default_value_t = encx::stream::DEFAULT_SEGMENT_LEN)]
        segment_size: usize,
    },
    /// Decrypt standard input (or `--input`); exit 5 if it was altered or cut short. With
    /// `--output`, the file appears only when the whole stream decrypted.
    Decrypt {
        /// Refuse a stream with another label.
        #[arg(long)]
        expect_label: Option<String>,
        /// Read this file instead of standard input.
        #[arg(long, short)]
        input: Option<std::path::PathBuf>,
        /// Write this file instead of standard output.
        #[arg(long, short)]
        output: Option<std::path::PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Make a new KEK active; the old one is retired and still unwraps.
    Rotate {
        /// Who rotates, for the audit trail.
        #[arg(long)]
        actor: Option<String>,
        /// Say what would happen; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Destroy a retired KEK (refused while a registered table or subject key needs it).
    Destroy {
        /// The KEK's id (see `encx status`).
        id: uuid::Uuid,
        /// Destroy even if rows still need it: they are shredded.
        #[arg(long)]
        force: bool,
        /// Check only; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Add an index key version (it becomes active): then restart every process, `keys
    /// rotate` and `reencrypt` (the reindex), and `keys index-destroy` the old version.
    IndexAdd {
        /// List the index key versions; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Destroy an index key version (refused while active, or while records may still be
    /// indexed under it).
    IndexDestroy {
        /// The version (see `encx keys index-add --dry-run`).
        version: u32,
        /// Destroy even if records may still be indexed under it (they are then found only
        /// once reindexed).
        #[arg(long)]
        force: bool,
    },
}

/// A failure, with the exit code of its kind.
pub(crate) struct Failure {
    pub(crate) code: u8,
    pub(crate) message: String,
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        let code = match &e {
            Error::KeyStillInUse { .. } => 4,
            Error::InvalidConfig(_) => 3,
            Error::Database(_) => 6,
            Error::Crypto(c) => crypto_code(c.kind()),
            _ => 1,
        };
        Failure {
            code,
            message: e.to_string(),
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

fn crypto_code(kind: encx::ErrorKind) -> u8 {
    match kind {
        encx::ErrorKind::Configuration => 3,
        encx::ErrorKind::Integrity => 5,
        encx::ErrorKind::Unavailable => 6,
        encx::ErrorKind::MissingKey => 7,
        _ => 1,
    }
}

pub(crate) fn config(message: impl Into<String>) -> Failure {
    Failure {
        code: 3,
        message: message.into(),
    }
}

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
    let args = match Args::try_parse_from(args) {
        Ok(args) => args,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let json = args.json;
    match run(args, build).await {
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

async fn run<F, Fut>(args: Args, build: F) -> Result<(), Failure>
where
    F: FnOnce(Context) -> Fut,
    Fut: Future<Output = Result<Registry, BuildError>>,
{
    if matches!(args.command, Command::Backup { .. }) {
        let root = root_keyring(&args).await?;
        if let Command::Backup { command } = args.command {
            return crate::cli_backup::run(command, &*root).await;
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
    let root = root_keyring(&args).await?;
    let registry = build(Context {
        database_url,
        keys_database_url,
        root: root.clone(),
    })
    .await
    .map_err(|e| Failure {
        code: build_code(&*e),
        message: format!("setting up: {e}"),
    })?;
    let done = run_command(args, &registry, &*root).await;
    // A sink that queues events (SqlAuditSink) writes them before the process exits.
    registry.crypto().audit_sink().flush().await;
    done
}

/// Runs the parsed command on the application's registry.
async fn run_command(args: Args, registry: &Registry, root: &dyn Keyring) -> Result<(), Failure> {
    match args.command {
        Command::Status => {
            let status = registry.status().await?;
            emit(args.json, status_json(&status), || status.to_string());
        }
        Command::Keys {
            command: KeysCommand::Rotate { actor, dry_run },
        } => {
            if dry_run {
                let status = registry.status().await?;
                emit(
                    args.json,
                    json!({ "dry_run": true, "would_rotate": true, "pending_rewrap_after": status.pending_rewrap() + active_rows(&status) }),
                    || {
                        "dry run: a new KEK would become active; the active one would be retired (still unwrapping)".into()
                    },
                );
            } else {
                let rotated = registry.crypto().rotate_kek(actor.as_deref()).await?;
                emit(args.json, json!({ "active": rotated }), || {
                    format!("{rotated} is active; run `encx rewrap` to move existing records")
                });
            }
        }
        Command::Keys {
            command: KeysCommand::Destroy { id, force, dry_run },
        } => {
            if dry_run {
                let status = registry.status().await?;
                let users = status.users_of(KeyInUse::Kek(id));
                emit(
                    args.json,
                    json!({ "dry_run": true, "kek": id.to_string(), "still_needed_by": users.iter().map(|(t, n)| json!({"table": t, "rows": n})).collect::<Vec<_>>() }),
                    || match users.is_empty() {
                        true => format!("dry run: KEK {id} is needed by no registered table"),
                        false => format!("dry run: KEK {id} is still needed by {users:?}"),
                    },
                );
            } else {
                registry.destroy_kek(id, force).await?;
                emit(args.json, json!({ "destroyed": id.to_string() }), || {
                    format!("KEK {id} destroyed")
                });
            }
        }
        Command::Rewrap { batch, dry_run } => {
            let status = registry.status().await?;
            let pending = status.pending_rewrap();
            if dry_run {
                emit(
                    args.json,
                    json!({ "dry_run": true, "pending_rewrap": pending }),
                    || format!("dry run: {pending} row(s) and subject key(s) would be re-wrapped"),
                );
                return Ok(());
            }
            let mut shown = Progress::new(pending, args.json, "re-wrapped");
            let done = registry
                .rewrap(batch, |table, p| shown.update(table, p))
                .await?;
            shown.finish();
            let tables: Vec<Value> = done
                .tables
                .iter()
                .map(|(t, p)| json!({ "table": t, "scanned": p.scanned, "rewrapped": p.rewrapped, "batches": p.batches }))
                .collect();
            let subject = done
                .subject_keys
                .map(|s| json!({ "scanned": s.scanned, "rewrapped": s.rewrapped }));
            emit(
                args.json,
                json!({ "key_rows": done.key_rows, "tables": tables, "subject_keys": subject }),
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
                    out.trim_end().to_owned()
                },
            );
        }
        Command::Keys {
            command: KeysCommand::IndexAdd { dry_run },
        } => {
            if dry_run {
                let versions = registry.index_versions().await?;
                let rows: Vec<Value> = versions
                    .iter()
                    .map(|k| json!({ "version": k.version, "state": format!("{:?}", k.state), "id": k.id.to_string() }))
                    .collect();
                emit(
                    args.json,
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
            emit(args.json, json!({ "index_version": version }), || {
                format!(
                    "index key version {version} is active; restart every process, then `encx keys \
                     rotate` and `encx reencrypt`"
                )
            });
        }
        Command::Keys {
            command: KeysCommand::IndexDestroy { version, force },
        } => {
            registry.destroy_index_version(version, force).await?;
            emit(
                args.json,
                json!({ "destroyed_index_version": version }),
                || format!("index key version {version} destroyed; restart every process"),
            );
        }
        Command::ReapplyLedger => {
            let receipts = registry.reapply_ledger().await?;
            let destroyed: usize = receipts.iter().map(|r| r.keys_destroyed.len()).sum();
            emit(
                args.json,
                json!({ "ledger_entries": receipts.len(), "keys_destroyed": destroyed }),
                || {
                    format!(
                        "{} ledger entr(ies) re-applied, {destroyed} resurrected key(s) destroyed",
                        receipts.len()
                    )
                },
            );
        }
        Command::EraseSubject {
            subject,
            actor,
            dry_run,
        } => {
            let tables = registry.subject_tables().ok_or_else(|| {
                Error::InvalidConfig(
                    "no subject eraser registered: give the registry Registry::subject_eraser(eraser)"
                        .into(),
                )
            })?;
            if dry_run {
                emit(
                    args.json,
                    json!({ "dry_run": true, "subject": subject, "tables": tables }),
                    || {
                        format!(
                            "dry run: would destroy the keys of subject {subject} and clear its rows in {}",
                            tables.join(", ")
                        )
                    },
                );
                return Ok(());
            }
            if let Some(window) = registry.subject_writer_window().filter(|w| !w.is_zero()) {
                if !args.json {
                    eprintln!(
                        "erasing subject {subject}; then waiting {} ms for other processes' \
                         subject caches before clearing the rows they wrote meanwhile",
                        window.as_millis()
                    );
                }
            }
            let receipt = registry.erase_subject(&subject, actor.as_deref()).await?;
            let at_ms = receipt
                .at
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            emit(
                args.json,
                json!({
                    "subject": receipt.subject,
                    "keys_destroyed": receipt.keys_destroyed.iter().map(|k| k.to_string()).collect::<Vec<_>>(),
                    "up_to_version": receipt.up_to_version,
                    "tables": receipt.tables.iter().map(|(t, n)| json!({ "table": t, "rows_cleared": n })).collect::<Vec<_>>(),
                    "swept_after_ms": receipt.swept_after.map(|d| d.as_millis() as u64),
                    "swept": receipt.swept.iter().map(|(t, n)| json!({ "table": t, "rows_cleared": n })).collect::<Vec<_>>(),
                    "at_ms": at_ms,
                }),
                || receipt.to_string(),
            );
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
            query.action = action;
            query.actor = actor;
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
            emit(args.json, json!({ "events": rows }), || {
                if events.is_empty() {
                    return "no audit event matches".to_owned();
                }
                events.iter().map(audit_line).collect::<Vec<_>>().join("\n")
            });
        }
        Command::Migrate { batch, dry_run } => {
            let unmigrated = registry.unmigrated().await?;
            let pending: u64 = unmigrated.iter().map(|(_, n)| n).sum();
            if dry_run {
                emit(
                    args.json,
                    json!({ "dry_run": true, "unmigrated_rows": pending }),
                    || format!("dry run: {pending} row(s) would be migrated"),
                );
                return Ok(());
            }
            let mut shown = Progress::new(pending, args.json, "migrated");
            let done = registry
                .migrate(batch, |table, p| shown.update(table, p))
                .await?;
            shown.finish();
            let tables: Vec<Value> = done
                .iter()
                .map(|(t, p)| json!({ "table": t, "scanned": p.scanned, "migrated": p.rewrapped, "batches": p.batches }))
                .collect();
            emit(args.json, json!({ "tables": tables }), || {
                done.iter()
                    .map(|(t, p)| format!("{t}: {} of {} row(s) migrated", p.rewrapped, p.scanned))
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        Command::Verify { batch } => {
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
            emit(args.json, json!({ "tables": tables }), || {
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
        }
        Command::Reencrypt { batch, dry_run } => {
            let pending = registry.status().await?.pending_rows();
            if dry_run {
                emit(
                    args.json,
                    json!({ "dry_run": true, "pending_rows": pending }),
                    || format!("dry run: {pending} record(s) would be re-encrypted"),
                );
                return Ok(());
            }
            let mut shown = Progress::new(pending, args.json, "re-encrypted");
            let done = registry
                .reencrypt(batch, |table, p| shown.update(table, p))
                .await?;
            shown.finish();
            let tables: Vec<Value> = done
                .iter()
                .map(|(t, p)| json!({ "table": t, "scanned": p.scanned, "reencrypted": p.rewrapped, "batches": p.batches }))
                .collect();
            emit(args.json, json!({ "tables": tables }), || {
                done.iter()
                    .map(|(t, p)| {
                        format!(
                            "{t}: {} of {} record(s) re-encrypted",
                            p.rewrapped, p.scanned
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        Command::Secrets { actor, command } => {
            let store = registry.secrets_store().ok_or_else(|| {
                config("no secrets store: the application's registry must add Registry::secrets")
            })?;
            match actor {
                Some(actor) => {
                    let store = store.with_actor(&actor);
                    crate::cli_secrets::run(command, &*store, args.json).await?;
                }
                None => crate::cli_secrets::run(command, &**store, args.json).await?,
            }
        }
        Command::Backup { .. } => unreachable_backup()?,
    }
    Ok(())
}

/// `backup` is handled before any database is opened.
fn unreachable_backup() -> Result<(), Failure> {
    Err(config("backup runs without a registry"))
}

/// An audit event's time as RFC 3339 (UTC, milliseconds).
fn rfc3339(event: &AuditRecord) -> String {
    let nanos = i128::from(event.at) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| format!("{} ms", event.at))
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

/// A progress bar over several tables' batches (plain lines when stderr is not a terminal,
/// nothing with `--json`).
struct Progress {
    bar: indicatif::ProgressBar,
    plain: bool,
    verb: &'static str,
    /// Rows written in the tables finished before the current one.
    earlier: u64,
    current: (&'static str, u64),
}

impl Progress {
    fn new(total: u64, json: bool, verb: &'static str) -> Self {
        Progress {
            bar: progress_bar(total, json),
            plain: !json && !std::io::stderr().is_terminal(),
            verb,
            earlier: 0,
            current: ("", 0),
        }
    }

    fn update(&mut self, table: &'static str, p: &RewrapProgress) {
        if table != self.current.0 {
            self.earlier += self.current.1;
            self.bar.set_message(table);
        }
        self.current = (table, p.rewrapped);
        self.bar.set_position(self.earlier + p.rewrapped);
        if self.plain {
            eprintln!(
                "{table}: {} batch(es), {} row(s) read, {} {}",
                p.batches, p.scanned, p.rewrapped, self.verb
            );
        }
    }

    fn finish(self) {
        self.bar.finish_and_clear();
    }
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

/// Prints `value` as JSON, or the text.
pub(crate) fn emit(json: bool, value: Value, text: impl FnOnce() -> String) {
    if json {
        println!("{value}");
    } else {
        println!("{}", text());
    }
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
            "root_key": k.root_key,
        })).collect::<Vec<_>>(),
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

async fn root_keyring(args: &Args) -> Result<Arc<dyn Keyring>, Failure> {
    if let Some(spec) = &args.master_keys {
        return Ok(Arc::new(encx::LocalKeyring::from_spec(spec)?));
    }
    if let Some(path) = &args.master_key_file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| config(format!("cannot read {}: {e}", path.display())))?;
        let key = encx::MasterKey::from_base64("v1", text.trim())?;
        return Ok(Arc::new(encx::LocalKeyring::new(vec![key])?));
    }
    if let Some(key_id) = &args.kms_key_id {
        return kms_root(key_id).await;
    }
    if std::env::var_os(encx::keys::local::ENV_MASTER_KEY).is_some() {
        return Ok(Arc::new(encx::LocalKeyring::from_env()?));
    }
    Err(config(
        "no root key: give --master-keys (ENCX_MASTER_KEYS), --master-key-file \
         (ENCX_MASTER_KEY_FILE) or --kms-key-id (ENCX_KMS_KEY_ID), or set ENCX_MASTER_KEY",
    ))
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
        "--kms-key-id needs encx-sqlx built with the `aws-kms` feature",
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
        let record = AuditRecord {
            at: 0,
            action: "issue".into(),
            table_name: "encx_tokens".into(),
            record: Some("id-1".into()),
            subject: Some(forged.into()),
            fields: String::new(),
            actor: Some("a\u{202e}b \"c\"".into()),
            records: 1,
            outcome: "ok".into(),
            duration_us: 5,
        };
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
