//! The command line of the `encx` CLI: its global options and its commands (clap).

use clap::{Parser, Subcommand};

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
        5 integrity failure, 6 unavailable (retry), 7 missing key (or rows skipped), \
        130 interrupted, 1 other."
)]
pub(crate) struct Args {
    /// Database URL (postgres://, mysql://, sqlite://).
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub(crate) database_url: Option<String>,
    /// Database URL of the key tables, where they live apart from the data (default: the
    /// data's).
    #[arg(
        long,
        env = "ENCX_KEYS_DATABASE_URL",
        global = true,
        hide_env_values = true
    )]
    pub(crate) keys_database_url: Option<String>,
    /// Local master keys, `v1:BASE64,v2:BASE64` (the last wraps). Without any root option,
    /// `ENCX_MASTER_KEY` (one base64 key) is read, as the library does.
    #[arg(long, env = "ENCX_MASTER_KEYS", global = true, hide_env_values = true)]
    pub(crate) master_keys: Option<String>,
    /// A file holding one base64 master key (version `v1`).
    #[arg(long, env = "ENCX_MASTER_KEY_FILE", global = true)]
    pub(crate) master_key_file: Option<std::path::PathBuf>,
    /// AWS KMS key id or ARN for the root (feature `aws-kms`).
    #[arg(long, env = "ENCX_KMS_KEY_ID", global = true)]
    pub(crate) kms_key_id: Option<String>,
    /// Print one JSON document instead of text.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// Who acts, named in the audit events of key operations, jobs, erasures and secrets.
    #[arg(long, env = "ENCX_ACTOR", global = true)]
    pub(crate) actor: Option<String>,
    /// A table of the application whose rows name a data subject, `TABLE:COLUMN`
    /// (repeatable; `ENCX_SUBJECT_TABLES` takes them comma-separated): what the bare `encx`
    /// binary's `erase-subject` and `reapply-ledger` clear. An application's own `encx`
    /// registers its tables instead.
    #[arg(
        long = "subject-table",
        env = "ENCX_SUBJECT_TABLES",
        value_name = "TABLE:COLUMN",
        value_delimiter = ',',
        global = true
    )]
    pub(crate) subject_tables: Vec<String>,
    /// A table that encx writes but whose rows belong to no data subject (repeatable;
    /// `ENCX_NOT_SUBJECT_TABLES` takes them comma-separated). The bare binary's
    /// `erase-subject` refuses while the database holds an encrypted table (an `encx_dek`
    /// column) that is neither a `--subject-table` nor named here.
    #[arg(
        long = "not-subject-table",
        env = "ENCX_NOT_SUBJECT_TABLES",
        value_name = "TABLE",
        value_delimiter = ',',
        global = true
    )]
    pub(crate) not_subject_tables: Vec<String>,
    /// The type of those subject columns' values: `uuid`, `text` or `integer`.
    #[arg(
        long,
        env = "ENCX_SUBJECT_TYPE",
        value_enum,
        default_value = "uuid",
        global = true
    )]
    pub(crate) subject_type: ColumnType,
    /// A table of the application, `TABLE:ID_COLUMN`, whose DEKs the bare `encx` binary's
    /// `rewrap` re-wraps, and whose rows `status` and `keys destroy` count as registered
    /// (repeatable; `ENCX_REWRAP_TABLES` takes them comma-separated). An application's own
    /// `encx` registers its tables instead.
    #[arg(
        long = "rewrap-table",
        env = "ENCX_REWRAP_TABLES",
        value_name = "TABLE:ID_COLUMN",
        value_delimiter = ',',
        global = true
    )]
    pub(crate) rewrap_tables: Vec<String>,
    /// The type of those id columns' values: `uuid`, `text` or `integer`.
    #[arg(
        long,
        env = "ENCX_ID_TYPE",
        value_enum,
        default_value = "uuid",
        global = true
    )]
    pub(crate) id_type: ColumnType,
    /// The longest subject key cache TTL among the application's processes, in seconds
    /// (60 unless they set another): how long the bare binary's `erase-subject` waits before
    /// clearing the rows those processes wrote with the key still cached.
    #[arg(
        long,
        env = "ENCX_SUBJECT_CACHE_TTL",
        value_name = "SECONDS",
        global = true
    )]
    pub(crate) subject_cache_ttl: Option<u64>,
    /// Seconds a database connection may take before the command gives up.
    #[arg(long, value_name = "SECONDS", default_value_t = 10, global = true)]
    pub(crate) connect_timeout: u64,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The type of a described column's values (`--subject-type`, `--id-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[non_exhaustive]
pub enum ColumnType {
    /// A UUID, stored as sqlx stores `uuid::Uuid` (PostgreSQL `uuid`, 16 bytes elsewhere).
    Uuid,
    /// Text.
    Text,
    /// A 64-bit integer.
    Integer,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
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
        /// Say what would be erased (the subject's keys and rows); change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Record the erasure even when the subject has no keys and no rows (a request that
        /// precedes any data: its first record is then refused).
        #[arg(long)]
        record_unknown: bool,
    },
    /// Tenants: status, offboarding, moving to a tenant's own KMS key (needs
    /// `Registry::tenant_eraser`).
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
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
        /// Only events of this action: encrypt, decrypt, find_by, erase, erase_subject,
        /// rotate, rewrap, reencrypt, migrate, issue, verify, revoke, destroy_key, add_key.
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
        /// Write this file instead of standard output (refused if it exists, unless
        /// `--force`).
        #[arg(long, short)]
        output: Option<std::path::PathBuf>,
        /// Replace the `--output` file if it exists.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum TenantCommand {
    /// The tenant's root, state and keys.
    Status {
        /// The tenant's id, as the application's tenant type parses it.
        tenant: String,
    },
    /// Offboard a tenant: record it in the ledger, destroy its keys, clear its rows in every
    /// table of the application's tenant eraser, wait out the other processes' tenant caches
    /// and clear the rows they wrote meanwhile.
    Erase {
        /// The tenant's id.
        tenant: String,
        /// Say what would be destroyed (its keys and rows); change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Move a tenant's keys to another root: its own KMS key, or back to the default root.
    /// Resumable: run it again after an interruption.
    Move {
        /// The tenant's id.
        tenant: String,
        /// The tenant's own KMS key (key ARN, id or alias).
        #[arg(
            long,
            conflicts_with = "default_root",
            required_unless_present = "default_root"
        )]
        own_key: Option<String>,
        /// Back to the application's default root.
        #[arg(long)]
        default_root: bool,
        /// Say what would move; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// After a restore of the key database: offboard again every tenant of the ledger.
    ReapplyLedger,
}

#[derive(Debug, Subcommand)]
pub(crate) enum KeysCommand {
    /// Make a new KEK active; the old one is retired and still unwraps.
    Rotate {
        /// Say what would happen; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Destroy a retired KEK (refused while a row needs it, in a registered table or in
    /// encx's own tables, and within one KEK cache TTL of its retirement).
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
        /// Check only; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}
