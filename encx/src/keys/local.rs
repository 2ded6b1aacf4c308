//! [`LocalKeyring`]: data keys wrapped with AES-256-GCM under master keys held by the process.
//!
//! Each master key has a version name chosen by the operator (`v1`, `2026-q3`, ...). The last
//! one given wraps new DEKs; all of them unwrap. A wrapped DEK names its master key by a key id,
//! the first 16 bytes of `HMAC-SHA256(master key, "encx:v1:key-id")`, so the right key is found
//! without trying each one and without storing version names.

use std::fmt;

use async_trait::async_trait;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::material::{random_key_bytes, Dek, KeyBytes, KEY_LEN};
use super::wrapped::{self, WrappingKey, KEY_ID_LEN};
use super::{KeyContext, Keyring, KeyringKind};
use crate::error::{Error, Result};
use crate::types::WrappedDek;

/// Environment variable holding one base64 master key (version `v1`).
pub const ENV_MASTER_KEY: &str = "ENCX_MASTER_KEY";
/// Environment variable holding several versions: `v1:BASE64,v2:BASE64` (the last one wraps).
pub const ENV_MASTER_KEYS: &str = "ENCX_MASTER_KEYS";

/// One 32-byte master key with its version name. Wiped on drop; `Debug` shows only the version
/// and the public key id.
pub struct MasterKey {
    version: String,
    key: KeyBytes,
    key_id: [u8; KEY_ID_LEN],
    /// The key, keyed into HKDF once for every wrap it makes.
    wrapping: WrappingKey,
}

impl MasterKey {
    /// A master key from its 32 bytes.
    pub fn new(version: impl Into<String>, bytes: [u8; KEY_LEN]) -> Result<Self> {
        Self::from_key_bytes(version.into(), Zeroizing::new(bytes))
    }

    /// A fresh random master key.
    pub fn generate(version: impl Into<String>) -> Result<Self> {
        Self::from_key_bytes(version.into(), random_key_bytes()?)
    }

    /// A master key from standard base64 of 32 bytes. The error never repeats the input.
    ///
    /// ```
    /// let key = encx::MasterKey::from_base64("v1", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")?;
    /// assert_eq!(key.version(), "v1");
    /// let err = encx::MasterKey::from_base64("v1", "c2VjcmV0").unwrap_err();
    /// assert!(!err.to_string().contains("c2VjcmV0"));
    /// # Ok::<(), encx::Error>(())
    /// ```
    pub fn from_base64(version: impl Into<String>, text: &str) -> Result<Self> {
        let version = version.into();
        let decoded = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .map_err(|_| {
                    Error::config(format!(
                        "master key {version:?} is not valid standard base64 \
                         (expected 44 characters encoding 32 bytes)"
                    ))
                })?,
        );
        if decoded.len() != KEY_LEN {
            return Err(Error::config(format!(
                "master key {version:?} decodes to {} bytes; a master key is exactly {KEY_LEN} bytes",
                decoded.len()
            )));
        }
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        key.copy_from_slice(&decoded);
        Self::from_key_bytes(version, key)
    }

    fn from_key_bytes(version: String, key: KeyBytes) -> Result<Self> {
        if version.is_empty() || version.contains([',', ':']) || version.trim() != version {
            return Err(Error::config(format!(
                "master key version {version:?} must be non-empty, without spaces, ',' or ':'"
            )));
        }
        let key_id = key_id_of(&key);
        let wrapping = WrappingKey::new(&key);
        Ok(MasterKey {
            version,
            key,
            key_id,
            wrapping,
        })
    }

    /// The operator's name for this version.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The public id stored in every DEK this key wraps.
    pub fn key_id(&self) -> [u8; KEY_ID_LEN] {
        self.key_id
    }

    /// Standard base64 of the key, to save it (e.g. the quickstart's key file). Handle with care.
    pub fn expose_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(self.key.as_ref()))
    }
}

fn key_id_of(key: &[u8; KEY_LEN]) -> [u8; KEY_ID_LEN] {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(b"encx:v1:key-id");
    let full = mac.finalize().into_bytes();
    let mut id = [0u8; KEY_ID_LEN];
    id.copy_from_slice(&full[..KEY_ID_LEN]);
    id
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey")
            .field("version", &self.version)
            .field("key_id", &hex(&self.key_id))
            .finish_non_exhaustive()
    }
}

/// Wraps DEKs under local master keys. See the [module docs](self).
///
/// ```
/// use encx::{LocalKeyring, MasterKey};
/// let keyring = LocalKeyring::new(vec![
///     MasterKey::generate("v1")?,
///     MasterKey::generate("v2")?, // the last one wraps new DEKs
/// ])?;
/// assert_eq!(keyring.active_version(), "v2");
/// # Ok::<(), encx::Error>(())
/// ```
pub struct LocalKeyring {
    keys: Vec<MasterKey>,
}

impl LocalKeyring {
    /// A keyring over `keys`, oldest first; the last wraps. Versions and keys must be distinct.
    pub fn new(keys: Vec<MasterKey>) -> Result<Self> {
        if keys.is_empty() {
            return Err(Error::config(
                "a LocalKeyring needs at least one master key",
            ));
        }
        for (i, a) in keys.iter().enumerate() {
            for b in &keys[i + 1..] {
                if a.version == b.version {
                    return Err(Error::config(format!(
                        "master key version {:?} is listed twice",
                        a.version
                    )));
                }
                if a.key_id == b.key_id {
                    return Err(Error::config(format!(
                        "master key versions {:?} and {:?} hold the same key",
                        a.version, b.version
                    )));
                }
            }
        }
        Ok(LocalKeyring { keys })
    }

    /// Reads `ENCX_MASTER_KEYS` (`v1:BASE64,v2:BASE64`, last wraps) or `ENCX_MASTER_KEY`
    /// (one base64 key, version `v1`). Setting both, neither, or a malformed value is an
    /// [`Error::InvalidConfig`] that never repeats key text.
    pub fn from_env() -> Result<Self> {
        let many = std::env::var(ENV_MASTER_KEYS).ok().map(Zeroizing::new);
        let one = std::env::var(ENV_MASTER_KEY).ok().map(Zeroizing::new);
        match (many, one) {
            (Some(_), Some(_)) => Err(Error::config(format!(
                "both {ENV_MASTER_KEYS} and {ENV_MASTER_KEY} are set; set only one"
            ))),
            (Some(many), None) => Self::from_spec(&many),
            (None, Some(one)) => Self::new(vec![MasterKey::from_base64("v1", &one)?]),
            (None, None) => Err(Error::config(format!(
                "no master key: set {ENV_MASTER_KEY} to the base64 of 32 random bytes \
                 (e.g. `openssl rand -base64 32`)"
            ))),
        }
    }

    /// Parses the `ENCX_MASTER_KEYS` syntax: `version:BASE64` entries separated by commas,
    /// oldest first.
    ///
    /// ```
    /// let spec = "v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=,v2:AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    /// let keyring = encx::LocalKeyring::from_spec(spec)?;
    /// assert_eq!(keyring.active_version(), "v2");
    /// # Ok::<(), encx::Error>(())
    /// ```
    pub fn from_spec(spec: &str) -> Result<Self> {
        let mut keys = Vec::new();
        for (n, entry) in spec.split(',').enumerate() {
            let entry = entry.trim();
            let (version, key) = entry.split_once(':').ok_or_else(|| {
                Error::config(format!(
                    "{ENV_MASTER_KEYS}: entry {} is not of the form version:BASE64",
                    n + 1
                ))
            })?;
            keys.push(MasterKey::from_base64(version.trim(), key)?);
        }
        Self::new(keys)
    }

    /// The version that wraps new DEKs.
    pub fn active_version(&self) -> &str {
        &self.active().version
    }

    /// Every version this keyring can unwrap, oldest first.
    pub fn versions(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.version.as_str())
    }

    fn active(&self) -> &MasterKey {
        // `new` guarantees at least one key.
        &self.keys[self.keys.len() - 1]
    }

    fn by_id(&self, key_id: &[u8; KEY_ID_LEN]) -> Option<&MasterKey> {
        self.keys.iter().find(|k| &k.key_id == key_id)
    }

    fn generate_now(&self, ctx: &KeyContext<'_>) -> Result<(Dek, WrappedDek)> {
        let key = self.active();
        wrapped::generate(&key.wrapping, KeyringKind::Local, &key.key_id, ctx)
    }

    fn unwrap_now(&self, blob: &WrappedDek, ctx: &KeyContext<'_>) -> Result<Dek> {
        let header = wrapped::parse(blob.as_bytes(), KeyringKind::Local)?;
        let key = self.by_id(&header.key_id).ok_or_else(|| {
            let given: Vec<String> = self
                .keys
                .iter()
                .map(|k| format!("{} = local:{}", k.version, hex(&k.key_id)))
                .collect();
            Error::key_not_found(format!(
                "local master key local:{}, which wrapped these keys, is not among the master \
                 keys given ({}): give the master key that wrapped this database's keys",
                hex(&header.key_id),
                given.join(", ")
            ))
        })?;
        wrapped::unwrap(&key.wrapping, blob.as_bytes(), ctx)
    }
}

impl fmt::Debug for LocalKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalKeyring")
            .field("keys", &self.keys)
            .field("active", &self.active_version())
            .finish()
    }
}

#[async_trait]
impl Keyring for LocalKeyring {
    fn kind(&self) -> KeyringKind {
        KeyringKind::Local
    }

    fn key_description(&self) -> String {
        format!("local:{}", hex(&self.active().key_id))
    }

    fn key_name(&self, description: &str) -> Option<String> {
        let id = description.strip_prefix("local:")?;
        self.keys
            .iter()
            .find(|k| hex(&k.key_id) == id)
            .map(|k| k.version.clone())
    }

    async fn generate_dek(&self, ctx: &KeyContext<'_>) -> Result<(Dek, WrappedDek)> {
        self.generate_now(ctx)
    }

    fn generate_dek_now(&self, ctx: &KeyContext<'_>) -> Option<Result<(Dek, WrappedDek)>> {
        Some(self.generate_now(ctx))
    }

    async fn wrap_dek(&self, dek: &Dek, ctx: &KeyContext<'_>) -> Result<WrappedDek> {
        let key = self.active();
        wrapped::wrap(&key.wrapping, KeyringKind::Local, &key.key_id, dek, ctx)
    }

    async fn unwrap_dek(&self, blob: &WrappedDek, ctx: &KeyContext<'_>) -> Result<Dek> {
        self.unwrap_now(blob, ctx)
    }

    fn unwrap_dek_now(&self, blob: &WrappedDek, ctx: &KeyContext<'_>) -> Option<Result<Dek>> {
        Some(self.unwrap_now(blob, ctx))
    }

    async fn wraps_with_active_key(&self, blob: &WrappedDek) -> Result<bool> {
        let header = wrapped::parse(blob.as_bytes(), KeyringKind::Local)?;
        Ok(header.key_id == self.active().key_id)
    }

    async fn active_key_prefix(&self) -> Result<Option<Vec<u8>>> {
        Ok(Some(wrapped::key_prefix(
            KeyringKind::Local,
            &self.active().key_id,
        )))
    }
}
