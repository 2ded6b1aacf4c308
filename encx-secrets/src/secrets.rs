//! [`Secrets`]: application secrets (database passwords, API keys of other services, signing
//! keys) in the table `encx_secrets`, sealed under the same key hierarchy as the records.
//!
//! Each version of a secret is a row with its own data key, wrapped by the [`Crypto`]'s
//! keyring (local master key, KEK or AWS KMS), and its value sealed with AES-256-GCM, the
//! name and version bound as associated data: a value copied to another name or version,
//! or altered, reads as tampered. Names, versions, tags and expiry are stored in the clear
//! so that [`Secrets::list`] never decrypts. Reads go through a cache with a time to live and
//! single flight: many tasks asking for the same secret at once cause one database read and
//! one unwrap.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use encx_secrets::{SecretOptions, Secrets};
//! let pool = sqlx::SqlitePool::connect("sqlite::memory:").await?;
//! encx_sqlx::migrate(&pool).await?;
//! let crypto = encx::Crypto::builder()
//!     .keyring(encx::LocalKeyring::new(vec![encx::MasterKey::generate("v1")?])?)
//!     .build()
//!     .await?;
//! let secrets = Secrets::new(pool, crypto);
//! secrets.put("stripe/api-key", b"sk_live_123", &SecretOptions::new().tag("payments")).await?;
//! assert_eq!(secrets.get("stripe/api-key").await?.expose_secret(), b"sk_live_123");
//! assert_eq!(secrets.rotate("stripe/api-key", b"sk_live_456").await?, 2);
//! assert_eq!(secrets.list(Some("payments")).await?[0].version, 2);
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use encx::audit::{AuditAction, AuditEvent};
use encx::{Ciphertext, Crypto, KeyInUse, WrappedDek};
use sqlx::Pool;
use zeroize::Zeroizing;

use encx_sqlx::audit::audited;
use encx_sqlx::{millis, now_millis, time_of_millis as time};

use crate::error::{Error, Result};
use crate::store_sql::SecretRow;
use crate::store_sql::SecretsDatabase as EncxDatabase;
use encx_sqlx::RewrapProgress;

/// The table of secrets; also the table bound into every secret's ciphertext and wrapped key.
pub const SECRETS_TABLE: &str = "encx_secrets";
const VALUE_COLUMN: &str = "value";
/// How long [`Secrets::get`] keeps a value unless told otherwise.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(300);
const MAX_NAME_LEN: usize = 200;
const MAX_TAG_LEN: usize = 64;
/// The largest value accepted (1 MiB).
pub const MAX_VALUE_LEN: usize = 1 << 20;

/// `text` is 1 to `max` bytes of ASCII letters, digits and the characters of `extra`.
fn check_chars(what: &str, text: &str, max: usize, extra: &str) -> Result<()> {
    let ok = !text.is_empty()
        && text.len() <= max
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || extra.as_bytes().contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidConfig(format!(
            "{what} {text:?}: 1 to {max} characters of a-z A-Z 0-9 and {extra}"
        )))
    }
}

fn check_name(name: &str) -> Result<()> {
    check_chars("secret name", name, MAX_NAME_LEN, "_./:-")
}

fn check_tag(tag: &str) -> Result<()> {
    check_chars("secret tag", tag, MAX_TAG_LEN, "_.:=/-")
}

/// The record id a version is sealed for: `name#version#expiry` (`#` cannot occur in a
/// name), so that a value moved to another name or version, or an expiry edited in the
/// table, fails authentication.
fn record_id(row: &SecretRow) -> String {
    match row.expires_at {
        Some(at) => format!("{}#{}#{at}", row.name, row.version),
        None => format!("{}#{}#-", row.name, row.version),
    }
}

/// Opens a stored row: its value under its own DEK, both bound to [`record_id`].
async fn open_row(crypto: &Crypto, row: SecretRow) -> Result<Secret> {
    let id = record_id(&row);
    let wrapped = WrappedDek::from_bytes(row.encx_dek.unwrap_or_default());
    let opener = crypto
        .open_record(SECRETS_TABLE, id.as_bytes(), Some(&wrapped), &id)
        .await?;
    let value: Vec<u8> = opener.open(
        VALUE_COLUMN,
        &Ciphertext::from_bytes(row.value.unwrap_or_default()),
    )?;
    Ok(Secret {
        version: u64::try_from(row.version).map_err(|_| encx::Error::Tampered)?,
        tags: parse_tags(&row.tags),
        created_at: time(row.created_at),
        expires_at: row.expires_at.map(time),
        value: Arc::new(Zeroizing::new(value)),
        name: row.name,
    })
}

fn parse_tags(stored: &str) -> Vec<String> {
    stored
        .split(',')
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

fn join_tags(tags: &[String]) -> String {
    if tags.is_empty() {
        return String::new();
    }
    format!(",{},", tags.join(","))
}

/// Tags and expiry of a new secret version.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretOptions {
    tags: Vec<String>,
    expires_at: Option<SystemTime>,
}

impl SecretOptions {
    /// No tags, no expiry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a tag (`a-z A-Z 0-9 _ . : = / -`, up to 64 characters), e.g. `payments` or
    /// `env=prod`.
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        let tag = tag.into();
        if !self.tags.contains(&tag) {
            self.tags.push(tag);
        }
        self
    }

    /// The version cannot be read ([`encx::Error::Expired`]) from `at` on.
    pub fn expires_at(mut self, at: SystemTime) -> Self {
        self.expires_at = Some(at);
        self
    }

    /// The version cannot be read once `ttl` has passed.
    pub fn expires_in(self, ttl: Duration) -> Self {
        self.expires_at(SystemTime::now() + ttl)
    }
}

/// One decrypted version of a secret. `Debug` shows everything but the value; the value is
/// wiped when the last clone is dropped.
#[derive(Clone)]
pub struct Secret {
    name: String,
    version: u64,
    tags: Vec<String>,
    created_at: SystemTime,
    expires_at: Option<SystemTime>,
    value: Arc<Zeroizing<Vec<u8>>>,
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secret")
            .field("name", &self.name)
            .field("version", &self.version)
            .field("tags", &self.tags)
            .field("value", &"***")
            .finish_non_exhaustive()
    }
}

impl Secret {
    /// The value.
    pub fn expose_secret(&self) -> &[u8] {
        &self.value
    }

    /// The value as text ([`encx::Error::Codec`] when it is not UTF-8).
    pub fn expose_str(&self) -> Result<&str> {
        std::str::from_utf8(&self.value)
            .map_err(|_| encx::Error::Codec(format!("secret {} is not UTF-8", self.name)).into())
    }

    /// The secret's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// This value's version (from 1).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Its tags.
    pub fn tags(&self) -> &[String] {
        &self.tags
    }

    /// When this version was stored.
    pub fn created_at(&self) -> SystemTime {
        self.created_at
    }

    /// When this version expires, if it does.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.expires_at
    }
}

/// What [`Secrets::list`] tells about a secret, without decrypting anything.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SecretInfo {
    /// Its name.
    pub name: String,
    /// The newest version.
    pub version: u64,
    /// How many versions are stored.
    pub versions: u64,
    /// Tags of the newest version.
    pub tags: Vec<String>,
    /// When the newest version was stored.
    pub created_at: SystemTime,
    /// When the newest version expires.
    pub expires_at: Option<SystemTime>,
}

impl SecretInfo {
    /// Whether the newest version has expired at `now`.
    pub fn is_expired_at(&self, now: SystemTime) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}

/// How the read cache of one [`Secrets`] has served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct CacheStats {
    /// Reads answered from the cache.
    pub hits: u64,
    /// Reads that went to the database (and the keyring).
    pub loads: u64,
}

struct Cached {
    at: Instant,
    secret: Secret,
}

type Slot = Arc<tokio::sync::Mutex<Option<Cached>>>;

struct Inner<DB: sqlx::Database> {
    pool: Pool<DB>,
    crypto: Crypto,
    ttl: Duration,
    slots: Mutex<HashMap<String, Slot>>,
    hits: AtomicU64,
    loads: AtomicU64,
}

/// Named, versioned application secrets in `encx_secrets` (run [`migrate`](encx_sqlx::migrate)
/// first). Cheap to clone: clones share the cache.
pub struct Secrets<DB: sqlx::Database> {
    inner: Arc<Inner<DB>>,
    actor: Option<Arc<str>>,
}

impl<DB: sqlx::Database> Clone for Secrets<DB> {
    fn clone(&self) -> Self {
        Secrets {
            inner: self.inner.clone(),
            actor: self.actor.clone(),
        }
    }
}

impl<DB: sqlx::Database> fmt::Debug for Secrets<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secrets")
            .field("database", &DB::NAME)
            .field("cache_ttl", &self.inner.ttl)
            .field("actor", &self.actor)
            .finish_non_exhaustive()
    }
}

impl<DB: EncxDatabase> Secrets<DB> {
    /// Secrets in `pool`'s `encx_secrets`, sealed with `crypto`'s keyring, cached for
    /// [`DEFAULT_CACHE_TTL`].
    pub fn new(pool: Pool<DB>, crypto: Crypto) -> Self {
        Self::with_cache_ttl(pool, crypto, DEFAULT_CACHE_TTL)
    }

    /// As [`new`](Self::new), with values cached for `ttl` (zero: never cached). A value
    /// changed by another process is seen here at most `ttl` later.
    pub fn with_cache_ttl(pool: Pool<DB>, crypto: Crypto, ttl: Duration) -> Self {
        Secrets {
            inner: Arc::new(Inner {
                pool,
                crypto,
                ttl,
                slots: Mutex::new(HashMap::new()),
                hits: AtomicU64::new(0),
                loads: AtomicU64::new(0),
            }),
            actor: None,
        }
    }

    /// This store, naming `actor` (a service, an operator) in every audit event it sends.
    /// Cheap: the clone shares the pool and the cache.
    ///
    /// Each `put`/`rotate` sends an `encrypt` event, each `get`/`get_version` a `decrypt`
    /// event (cache hits included: every read of a value is on record), each `delete` an
    /// `erase` event, each secret re-wrapped or re-encrypted a `rewrap`/`reencrypt` event, to
    /// the [`Crypto`]'s audit sink: table `encx_secrets`, record `name#version`, never a value.
    pub fn with_actor(&self, actor: impl Into<String>) -> Self {
        let mut secrets = self.clone();
        secrets.actor = Some(Arc::from(actor.into()));
        secrets
    }

    /// An audit event of `action` about `record`, by this store's actor.
    fn event(&self, action: AuditAction, record: Option<String>) -> AuditEvent {
        let mut event = AuditEvent::new(action, SECRETS_TABLE, SystemTime::now());
        event.actor = self.actor.as_deref().map(str::to_owned);
        event.fields = vec![VALUE_COLUMN];
        event.record = record;
        event
    }

    /// Runs `work` under an audit event of `action` about `record`.
    async fn audited<R>(
        &self,
        action: AuditAction,
        record: Option<String>,
        work: impl std::future::Future<Output = Result<R>>,
        describe: impl FnOnce(&R, &mut AuditEvent),
    ) -> Result<R> {
        let sink = self.inner.crypto.audit_sink().as_ref();
        audited(sink, self.event(action, record), work, describe).await
    }

    /// Stores `value` as the next version of `name` (1 for a new name) and returns that
    /// version. Two processes putting the same name at once both succeed, one after the other.
    pub async fn put(&self, name: &str, value: &[u8], options: &SecretOptions) -> Result<u64> {
        let work = self.put_unaudited(name, value, options);
        let record = audit_record(name, None);
        self.audited(AuditAction::Encrypt, record, work, |version, event| {
            event.record = Some(format!("{name}#{version}"));
            event.records = 1;
        })
        .await
    }

    async fn put_unaudited(
        &self,
        name: &str,
        value: &[u8],
        options: &SecretOptions,
    ) -> Result<u64> {
        check_name(name)?;
        for tag in &options.tags {
            check_tag(tag)?;
        }
        if value.len() > MAX_VALUE_LEN {
            return Err(Error::InvalidConfig(format!(
                "secret value of {} bytes is above the {MAX_VALUE_LEN}-byte limit",
                value.len()
            )));
        }
        let tags = join_tags(&options.tags);
        let expires_at = options.expires_at.map(millis);
        for _ in 0..8 {
            let latest = DB::select_secret(&self.inner.pool, name, None).await?;
            if latest.as_ref().is_some_and(|row| row.name != name) {
                return Err(Error::InvalidConfig(format!(
                    "secret {name}: the database compares names without case or trailing \
                     spaces and holds another one; run encx_sqlx::migrate for exact names"
                )));
            }
            let version = latest.map_or(1, |row| row.version + 1);
            let mut row = SecretRow {
                name: name.to_owned(),
                version,
                tags: tags.clone(),
                value: None,
                encx_dek: None,
                created_at: now_millis(),
                expires_at,
            };
            let id = record_id(&row);
            let sealer = self
                .inner
                .crypto
                .seal_record(SECRETS_TABLE, id.as_bytes())
                .await?;
            row.value = Some(sealer.seal(VALUE_COLUMN, value)?.into_bytes());
            row.encx_dek = Some(sealer.into_wrapped_dek().into_bytes());
            if DB::insert_secret(&self.inner.pool, &row).await? {
                self.invalidate(name);
                return u64::try_from(version)
                    .map_err(|_| Error::InvalidConfig("secret version out of range".into()));
            }
        }
        Err(Error::InvalidConfig(format!(
            "secret {name}: too many concurrent writers, try again"
        )))
    }

    /// Stores `value` as a new version of an existing secret, with the same tags and, if the
    /// current version expires, the same lifetime counted from now. [`Error::NotFound`] for
    /// an unknown name.
    pub async fn rotate(&self, name: &str, value: &[u8]) -> Result<u64> {
        check_name(name)?;
        let latest = DB::select_secret(&self.inner.pool, name, None)
            .await?
            .filter(|row| row.name == name)
            .ok_or_else(|| not_found(name))?;
        let mut options = SecretOptions::new();
        for tag in parse_tags(&latest.tags) {
            options = options.tag(tag);
        }
        if let Some(expires) = latest.expires_at {
            let lifetime = u64::try_from(expires.saturating_sub(latest.created_at)).unwrap_or(0);
            options = options.expires_in(Duration::from_millis(lifetime));
        }
        self.put(name, value, &options).await
    }

    /// The newest version of `name`, from the cache when it is fresh. [`Error::NotFound`]
    /// for an unknown name, [`encx::Error::Expired`] when the newest version has expired,
    /// `is_tampered()` when its row was altered or moved.
    pub async fn get(&self, name: &str) -> Result<Secret> {
        let record = audit_record(name, None);
        self.audited(AuditAction::Decrypt, record, self.get_unaudited(name), read)
            .await
    }

    async fn get_unaudited(&self, name: &str) -> Result<Secret> {
        check_name(name)?;
        let slot = {
            let mut slots = self.inner.slots.lock().unwrap_or_else(|p| p.into_inner());
            slots.entry(name.to_owned()).or_default().clone()
        };
        // One task loads; the others wait here and then find the value cached.
        let mut cached = slot.lock().await;
        if let Some(hit) = cached.as_ref() {
            if hit.at.elapsed() < self.inner.ttl {
                self.inner.hits.fetch_add(1, Ordering::Relaxed);
                check_expiry(&hit.secret)?;
                return Ok(hit.secret.clone());
            }
        }
        self.inner.loads.fetch_add(1, Ordering::Relaxed);
        let secret = self.load(name, None).await?;
        if !self.inner.ttl.is_zero() {
            *cached = Some(Cached {
                at: Instant::now(),
                secret: secret.clone(),
            });
        }
        check_expiry(&secret)?;
        Ok(secret)
    }

    /// One version of `name`, read from the database (not cached). An expired version is
    /// still returned: check [`Secret::expires_at`].
    pub async fn get_version(&self, name: &str, version: u64) -> Result<Secret> {
        let work = async {
            check_name(name)?;
            let version = i64::try_from(version).map_err(|_| not_found(name))?;
            self.load(name, Some(version)).await
        };
        let record = audit_record(name, Some(version));
        self.audited(AuditAction::Decrypt, record, work, read).await
    }

    async fn load(&self, name: &str, version: Option<i64>) -> Result<Secret> {
        let row = DB::select_secret(&self.inner.pool, name, version)
            .await?
            .ok_or_else(|| not_found(name))?;
        if row.name != name {
            // A database whose comparison ignores case or trailing spaces returned another
            // secret: never open it under the name asked for.
            return Err(not_found(name));
        }
        self.open(row).await
    }

    async fn open(&self, row: SecretRow) -> Result<Secret> {
        open_row(&self.inner.crypto, row).await
    }

    /// Deletes every version of `name` and forgets it here; returns how many versions. Copies
    /// in old backups keep their wrapped keys: rotate the KEK and destroy the old one to
    /// shred those too.
    pub async fn delete(&self, name: &str) -> Result<u64> {
        let work = async {
            check_name(name)?;
            let deleted = DB::delete_secret(&self.inner.pool, name).await?;
            self.invalidate(name);
            Ok(deleted)
        };
        let record = audit_record(name, None);
        self.audited(AuditAction::Erase, record, work, |deleted, event| {
            event.records = *deleted;
        })
        .await
    }

    /// Every secret (newest version each), by name; with `tag`, those whose newest version
    /// has it. Reads names, versions, tags and times only: decrypts nothing.
    pub async fn list(&self, tag: Option<&str>) -> Result<Vec<SecretInfo>> {
        let rows = DB::secret_metadata(&self.inner.pool).await?;
        let mut out: Vec<SecretInfo> = Vec::new();
        for row in rows {
            let version = u64::try_from(row.version).unwrap_or(0);
            match out.last_mut() {
                Some(info) if info.name == row.name => {
                    info.versions += 1;
                    info.version = version;
                    info.tags = parse_tags(&row.tags);
                    info.created_at = time(row.created_at);
                    info.expires_at = row.expires_at.map(time);
                }
                _ => out.push(SecretInfo {
                    name: row.name,
                    version,
                    versions: 1,
                    tags: parse_tags(&row.tags),
                    created_at: time(row.created_at),
                    expires_at: row.expires_at.map(time),
                }),
            }
        }
        if let Some(tag) = tag {
            out.retain(|info| info.tags.iter().any(|t| t == tag));
        }
        Ok(out)
    }

    /// After a KEK or master-key rotation, re-wraps the data key of every version of every
    /// secret that is not under the active key (values are not re-encrypted). Each row changes
    /// alone and only if still as read, so it is safe to kill at any point and run again.
    /// `encx rewrap` runs it for a [`Registry`](encx_sqlx::Registry) that has the store.
    pub async fn rewrap(&self) -> Result<RewrapProgress> {
        self.renew(false, &mut |_| {}).await
    }

    /// [`rewrap`](Self::rewrap), calling `progress` after each secret it changed (all its
    /// versions; `batches` counts those secrets).
    pub async fn rewrap_with_progress(
        &self,
        progress: &mut (dyn FnMut(&RewrapProgress) + Send),
    ) -> Result<RewrapProgress> {
        self.renew(false, progress).await
    }

    /// As [`rewrap`](Self::rewrap), but each version not under the active key gets a fresh
    /// data key and is sealed again (DEK rotation; `encx reencrypt`).
    pub async fn reencrypt(&self) -> Result<RewrapProgress> {
        self.renew(true, &mut |_| {}).await
    }

    /// [`reencrypt`](Self::reencrypt), calling `progress` after each secret it changed.
    pub async fn reencrypt_with_progress(
        &self,
        progress: &mut (dyn FnMut(&RewrapProgress) + Send),
    ) -> Result<RewrapProgress> {
        self.renew(true, progress).await
    }

    async fn renew(
        &self,
        reseal: bool,
        report: &mut (dyn FnMut(&RewrapProgress) + Send),
    ) -> Result<RewrapProgress> {
        let names: Vec<String> = self.list(None).await?.into_iter().map(|i| i.name).collect();
        let action = if reseal {
            AuditAction::Reencrypt
        } else {
            AuditAction::Rewrap
        };
        let mut progress = RewrapProgress::default();
        let result = async {
            for name in names {
                let (scanned, rewrapped) = (progress.scanned, progress.rewrapped);
                let mut event = self.event(action, audit_record(&name, None));
                let started = std::time::Instant::now();
                let done = self.renew_secret(&name, reseal, &mut progress).await;
                event.duration = started.elapsed();
                event.records = progress.rewrapped - rewrapped;
                if let Err(error) = &done {
                    event.outcome = encx_sqlx::audit::AuditFailure::outcome(error);
                }
                // A secret with nothing to change leaves no event.
                if done.is_err() || progress.scanned > scanned {
                    self.inner.crypto.audit_sink().record(event);
                }
                done?;
                if progress.scanned > scanned {
                    progress.batches += 1;
                    report(&progress);
                }
            }
            Ok(())
        }
        .await;
        self.inner
            .slots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        result.map(|()| progress)
    }

    /// Re-wraps (or, with `reseal`, re-encrypts) the versions of `name` not under the active
    /// key, counting them in `progress`.
    async fn renew_secret(
        &self,
        name: &str,
        reseal: bool,
        progress: &mut RewrapProgress,
    ) -> Result<()> {
        let crypto = &self.inner.crypto;
        for row in DB::secret_versions(&self.inner.pool, name).await? {
            let old = WrappedDek::from_bytes(row.encx_dek.clone().unwrap_or_default());
            let id = record_id(&row);
            let written = if reseal {
                // Only the header is read here: the DEK is unwrapped once, by `open`.
                if crypto.keyring().wraps_with_active_key(&old).await? {
                    continue;
                }
                progress.scanned += 1;
                let secret = self.open(row.clone()).await?;
                let sealer = crypto.seal_record(SECRETS_TABLE, id.as_bytes()).await?;
                let mut fresh = row.clone();
                fresh.value = Some(
                    sealer
                        .seal(VALUE_COLUMN, secret.expose_secret())?
                        .into_bytes(),
                );
                fresh.encx_dek = Some(sealer.into_wrapped_dek().into_bytes());
                DB::reseal_secret(&self.inner.pool, &fresh, old.as_bytes()).await?
            } else {
                let Some(new) = crypto
                    .rewrap_dek(SECRETS_TABLE, id.as_bytes(), &old)
                    .await?
                else {
                    continue;
                };
                progress.scanned += 1;
                DB::update_secret_dek(
                    &self.inner.pool,
                    &row.name,
                    row.version,
                    old.as_bytes(),
                    new.as_bytes(),
                )
                .await?
            };
            if written {
                progress.rewrapped += 1;
            }
        }
        Ok(())
    }

    /// Which key wraps how many secret versions (read from the wrapped keys' headers).
    pub async fn key_usage(&self) -> Result<Vec<(KeyInUse, u64)>> {
        let mut usage: Vec<(KeyInUse, u64)> = Vec::new();
        for dek in DB::secret_deks(&self.inner.pool).await? {
            let key = KeyInUse::from_prefix(dek.get(..KeyInUse::PREFIX_LEN).or(Some(&dek)));
            match usage.iter_mut().find(|(k, _)| *k == key) {
                Some((_, n)) => *n += 1,
                None => usage.push((key, 1)),
            }
        }
        Ok(usage)
    }

    /// Drops `name` from this process's cache.
    pub fn invalidate(&self, name: &str) {
        let mut slots = self.inner.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.remove(name);
    }

    /// How the cache has served so far.
    pub fn cache_stats(&self) -> CacheStats {
        CacheStats {
            hits: self.inner.hits.load(Ordering::Relaxed),
            loads: self.inner.loads.load(Ordering::Relaxed),
        }
    }

    /// The `Crypto` the secrets are sealed with.
    pub fn crypto(&self) -> &Crypto {
        &self.inner.crypto
    }
}

/// How an audit event names secret `name` (at `version`): not at all when `name` is not a
/// valid secret name, so that text a caller passed in (newlines, say) never reaches the
/// audit log as it is.
fn audit_record(name: &str, version: Option<u64>) -> Option<String> {
    check_name(name).ok()?;
    Some(match version {
        Some(version) => format!("{name}#{version}"),
        None => name.to_owned(),
    })
}

/// What a read's audit event says once the value is out: which version, one record.
fn read(secret: &Secret, event: &mut AuditEvent) {
    event.record = Some(format!("{}#{}", secret.name, secret.version));
    event.records = 1;
}

fn not_found(name: &str) -> Error {
    Error::NotFound {
        table: SECRETS_TABLE,
        id: name.to_owned(),
    }
}

fn check_expiry(secret: &Secret) -> Result<()> {
    match secret.expires_at {
        Some(at) if at <= SystemTime::now() => Err(encx::Error::Expired {
            what: format!("secret {} version {}", secret.name, secret.version),
        }
        .into()),
        _ => Ok(()),
    }
}

/// [`Secrets`] of any database, type erased (what
/// [`RegistrySecrets::secrets_store`](crate::RegistrySecrets::secrets_store) hands the operator
/// CLI). Implemented by every `Secrets<DB>`.
#[async_trait::async_trait]
pub trait SecretsApi: Send + Sync {
    /// [`Secrets::put`].
    async fn put(&self, name: &str, value: &[u8], options: &SecretOptions) -> Result<u64>;
    /// [`Secrets::get`], or [`Secrets::get_version`] of `version`.
    async fn get(&self, name: &str, version: Option<u64>) -> Result<Secret>;
    /// [`Secrets::rotate`].
    async fn rotate(&self, name: &str, value: &[u8]) -> Result<u64>;
    /// [`Secrets::delete`].
    async fn delete(&self, name: &str) -> Result<u64>;
    /// [`Secrets::list`].
    async fn list(&self, tag: Option<&str>) -> Result<Vec<SecretInfo>>;
    /// This store, naming `actor` in its audit events.
    fn with_actor(&self, actor: &str) -> Box<dyn SecretsApi>;
}

#[async_trait::async_trait]
impl<DB: EncxDatabase> SecretsApi for Secrets<DB> {
    async fn put(&self, name: &str, value: &[u8], options: &SecretOptions) -> Result<u64> {
        Secrets::put(self, name, value, options).await
    }

    async fn get(&self, name: &str, version: Option<u64>) -> Result<Secret> {
        match version {
            Some(v) => self.get_version(name, v).await,
            None => Secrets::get(self, name).await,
        }
    }

    async fn rotate(&self, name: &str, value: &[u8]) -> Result<u64> {
        Secrets::rotate(self, name, value).await
    }

    async fn delete(&self, name: &str) -> Result<u64> {
        Secrets::delete(self, name).await
    }

    async fn list(&self, tag: Option<&str>) -> Result<Vec<SecretInfo>> {
        Secrets::list(self, tag).await
    }

    fn with_actor(&self, actor: &str) -> Box<dyn SecretsApi> {
        Box::new(Secrets::with_actor(self, actor))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod known_answers {
    //! docs/test-vectors.json's secrets rows (made by scripts/vectors.py from docs/format.md
    //! §9): the record id a row is bound to, and the stored bytes open to the value.
    use super::*;
    use encx::{LocalKeyring, MasterKey};

    fn hex(v: &serde_json::Value) -> Vec<u8> {
        hex::decode(v.as_str().expect("hex string")).expect("hex")
    }

    #[tokio::test]
    async fn stored_rows_of_the_vectors_open_to_their_values() {
        let vectors: serde_json::Value =
            serde_json::from_str(include_str!("../../docs/test-vectors.json")).unwrap();
        let master: [u8; 32] = hex(&vectors["keys"]["master_key_v1"]["bytes"])
            .try_into()
            .unwrap();
        let crypto = Crypto::builder()
            .keyring(LocalKeyring::new(vec![MasterKey::new("v1", master).unwrap()]).unwrap())
            .build()
            .await
            .unwrap();
        let rows = vectors["secrets_rows"].as_array().unwrap();
        assert!(!rows.is_empty());
        for v in rows {
            let row = SecretRow {
                name: v["name"].as_str().unwrap().to_owned(),
                version: v["version"].as_i64().unwrap(),
                tags: String::new(),
                value: Some(hex(&v["value_ciphertext"])),
                encx_dek: Some(hex(&v["encx_dek"])),
                created_at: 0,
                expires_at: v["expires_at"].as_i64(),
            };
            assert_eq!(record_id(&row), v["record_id"].as_str().unwrap());
            let secret = open_row(&crypto, row.clone()).await.unwrap();
            assert_eq!(**secret.value, hex(&v["value"]));
            // An edited expiry or version is another record id: refused as tampering.
            let later = SecretRow {
                expires_at: Some(row.expires_at.unwrap_or(0) + 1),
                ..row.clone()
            };
            assert!(open_row(&crypto, later).await.unwrap_err().is_tampered());
            let older = SecretRow {
                version: row.version + 1,
                ..row
            };
            assert!(open_row(&crypto, older).await.unwrap_err().is_tampered());
        }
    }
}
