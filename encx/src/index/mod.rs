//! Blind indexes: keyed, truncated hashes that let an encrypted column be searched by equality.
//!
//! ```text
//! K(domain, version) = HKDF-SHA256(ikm = index root key (version), salt = none,
//!                                  info = "encx:v1:bidx" | u32be(len) domain | u32be(version))
//! index             = HMAC-SHA256(K, normalize(value)) truncated to `bits`
//! compound index    = HMAC-SHA256(K, u32be(n) | u32be(len) v1 | v1 | ... | u32be(len) vn | vn)
//! ```
//!
//! Truncation keeps the first `ceil(bits/8)` bytes and zeroes the unused low bits of the last
//! one. Truncation makes false positives on purpose (see [`planner`]), so every lookup must
//! re-check the decrypted value.
//!
//! ```
//! use encx::index::{IndexKeys, IndexSpec, Normalizer};
//! let keys = IndexKeys::new(vec![(1, [7u8; 32])])?;
//! const EMAIL: IndexSpec = IndexSpec::new("email", "users.email", 32, Normalizer::Email);
//! let key = keys.derive(EMAIL.domain, keys.active_version())?;
//! let a = key.compute(EMAIL.bits, EMAIL.normalizer.apply("Ada@Example.com ").as_bytes())?;
//! let b = key.compute(EMAIL.bits, EMAIL.normalizer.apply("ada@example.com").as_bytes())?;
//! assert_eq!(a, b);
//! assert_eq!(a.len(), 4);
//! # Ok::<(), encx::Error>(())
//! ```

use std::borrow::Cow;
use std::fmt;

use base64::Engine as _;
use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::cipher::push_len_prefixed;
use crate::error::{Error, Result};
use crate::keys::hierarchical::{create_stored_key, unwrap_stored_key};
use crate::keys::material::{random_key_bytes, KeyBytes, KEY_LEN};
use crate::keys::{KekState, KekStore, KeyPurpose, Keyring};
use crate::types::BlindIndex;

pub mod leakage;
pub(crate) mod normalize;
pub mod partial;
pub mod planner;

pub use normalize::Normalizer;
pub use partial::{filter_contains, partial_domain, PartialKind, PartialSpec, MAX_RANGE_BUCKETS};
pub use planner::{recommend_bits, BitsPlan, DEFAULT_BITS, MAX_BITS, MIN_BITS};

/// The Unicode version whose case mappings and `White_Space` property the normalizers use:
/// that of the Rust standard library encx was built with (`docs/format.md` §4).
pub const UNICODE_VERSION: (u8, u8, u8) = char::UNICODE_VERSION;

/// Environment variable with one base64 index root key (version 1).
pub const ENV_INDEX_KEY: &str = "ENCX_INDEX_KEY";
/// Environment variable with several: `1:BASE64,2:BASE64` (the highest version is active).
pub const ENV_INDEX_KEYS: &str = "ENCX_INDEX_KEYS";

/// A searchable field or compound index: its name, HKDF domain, length and normalizer.
/// The derive generates one per searchable field (`User::EMAIL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IndexSpec {
    /// Name of the index (the field name, or the compound index's name).
    pub name: &'static str,
    /// HKDF domain; defaults to [`default_domain`] of the table and the index name, so equal
    /// values in different columns do not produce equal indexes.
    pub domain: &'static str,
    /// Length in bits, 8..=256.
    pub bits: u16,
    /// Normalizer applied to each value.
    pub normalizer: Normalizer,
}

impl IndexSpec {
    /// A spec from its parts.
    pub const fn new(
        name: &'static str,
        domain: &'static str,
        bits: u16,
        normalizer: Normalizer,
    ) -> Self {
        IndexSpec {
            name,
            domain,
            bits,
            normalizer,
        }
    }

    /// [`Error::InvalidConfig`] for a domain in encx's reserved `encx:` namespace (the keys of
    /// signed values, tokens and CSRF tokens are derived there): a blind index sharing such
    /// a key would make its values usable as their MACs. The derive refuses such a domain at
    /// compile time; this catches hand-written specs.
    pub fn check_domain(&self) -> crate::error::Result<()> {
        if self.domain.starts_with("encx:") {
            return Err(crate::error::Error::config(format!(
                "blind index `{}`: domains starting with `encx:` are reserved for encx's own keys",
                self.name
            )));
        }
        Ok(())
    }
}

/// The default HKDF domain of a blind index: the netstrings of the table and of the index name
/// (the field name, or a compound index's `name`), `"<len>:<table>,<len>:<name>,"` with lengths
/// in bytes. Unambiguous for any names: table `a.b` with field `c` and table `a` with field
/// `b.c` get different domains (and so different keys).
///
/// ```
/// assert_eq!(encx::index::default_domain("users", "email"), "5:users,5:email,");
/// assert_ne!(encx::index::default_domain("a.b", "c"), encx::index::default_domain("a", "b.c"));
/// ```
pub fn default_domain(table: &str, name: &str) -> String {
    format!("{}:{table},{}:{name},", table.len(), name.len())
}

/// Checks that `bits` is in 8..=256.
pub fn check_bits(bits: u16) -> Result<()> {
    if (MIN_BITS..=MAX_BITS).contains(&bits) {
        Ok(())
    } else {
        Err(Error::config(format!(
            "blind index length {bits} bits is outside {MIN_BITS}..={MAX_BITS}"
        )))
    }
}

/// A value that can be blind-indexed: turned into the text the normalizer works on.
///
/// Strings index as themselves, integers in decimal, UUIDs in lowercase hyphenated form.
pub trait Indexable {
    /// The value as text, before normalization.
    fn index_text(&self) -> Cow<'_, str>;
}

impl Indexable for str {
    fn index_text(&self) -> Cow<'_, str> {
        Cow::Borrowed(self)
    }
}

impl Indexable for String {
    fn index_text(&self) -> Cow<'_, str> {
        Cow::Borrowed(self)
    }
}

impl<T: Indexable + ?Sized> Indexable for &T {
    fn index_text(&self) -> Cow<'_, str> {
        (**self).index_text()
    }
}

impl Indexable for Cow<'_, str> {
    fn index_text(&self) -> Cow<'_, str> {
        Cow::Borrowed(self)
    }
}

impl Indexable for uuid::Uuid {
    fn index_text(&self) -> Cow<'_, str> {
        Cow::Owned(self.hyphenated().to_string())
    }
}

macro_rules! indexable_display {
    ($($t:ty),*) => {$(
        impl Indexable for $t {
            fn index_text(&self) -> Cow<'_, str> {
                Cow::Owned(self.to_string())
            }
        }
    )*};
}
indexable_display!(i8, i16, i32, i64, i128, u8, u16, u32, u64, u128, bool, char);

/// One derived blind-index key: a keyed HMAC state for one (domain, version).
#[derive(Clone)]
pub struct IndexKey {
    version: u32,
    mac: Hmac<Sha256>,
}

impl fmt::Debug for IndexKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IndexKey")
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl IndexKey {
    /// The index key version it was derived from.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Index of one already-normalized value.
    pub fn compute(&self, bits: u16, normalized: &[u8]) -> Result<BlindIndex> {
        check_bits(bits)?;
        Ok(truncate(&self.digest(normalized), bits))
    }

    /// The full HMAC-SHA256 of `bytes` (Bloom filter positions of a `contains` index).
    pub(crate) fn digest(&self, bytes: &[u8]) -> [u8; 32] {
        let mut mac = self.mac.clone();
        mac.update(bytes);
        mac.finalize().into_bytes().into()
    }

    /// Index of several already-normalized values, length-prefixed so that `("ab", "c")` and
    /// `("a", "bc")` differ.
    pub fn compute_compound(&self, bits: u16, parts: &[&[u8]]) -> Result<BlindIndex> {
        check_bits(bits)?;
        let mut framed = Zeroizing::new(Vec::with_capacity(
            4 + parts.iter().map(|p| p.len() + 4).sum::<usize>(),
        ));
        let count =
            u32::try_from(parts.len()).map_err(|_| Error::config("too many index parts"))?;
        framed.extend_from_slice(&count.to_be_bytes());
        for part in parts {
            push_len_prefixed(&mut framed, part);
        }
        let mut mac = self.mac.clone();
        mac.update(&framed);
        Ok(truncate(&mac.finalize().into_bytes(), bits))
    }
}

/// First `ceil(bits/8)` bytes of `digest`, unused low bits of the last byte zeroed.
fn truncate(digest: &[u8], bits: u16) -> BlindIndex {
    let bits = usize::from(bits);
    let mut out = digest[..bits.div_ceil(8)].to_vec();
    let spare = (8 - bits % 8) % 8;
    if let Some(last) = out.last_mut() {
        *last &= 0xFFu8 << spare;
    }
    BlindIndex::from_bytes(out)
}

/// Versioned index root keys. The highest version computes new indexes; every version can
/// compute lookups (so a reindex can run while lookups keep working).
pub struct IndexKeys {
    versions: Vec<(u32, KeyBytes)>,
}

impl fmt::Debug for IndexKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let versions: Vec<u32> = self.versions.iter().map(|(v, _)| *v).collect();
        f.debug_struct("IndexKeys")
            .field("versions", &versions)
            .finish_non_exhaustive()
    }
}

impl IndexKeys {
    /// Index root keys from `(version, bytes)` pairs. Versions must be distinct and non-zero.
    pub fn new(keys: Vec<(u32, [u8; KEY_LEN])>) -> Result<Self> {
        Self::from_versions(
            keys.into_iter()
                .map(|(v, k)| (v, Zeroizing::new(k)))
                .collect(),
        )
    }

    fn from_versions(mut versions: Vec<(u32, KeyBytes)>) -> Result<Self> {
        if versions.is_empty() {
            return Err(Error::config("no index root key given"));
        }
        versions.sort_by_key(|(v, _)| *v);
        if versions.windows(2).any(|w| w[0].0 == w[1].0) || versions[0].0 == 0 {
            return Err(Error::config(
                "index key versions must be distinct and start at 1 or more",
            ));
        }
        Ok(IndexKeys { versions })
    }

    /// One fresh random index root key, version 1.
    pub fn generate() -> Result<Self> {
        Self::from_versions(vec![(1, random_key_bytes()?)])
    }

    /// Reads `ENCX_INDEX_KEYS` (`1:BASE64,2:BASE64`) or `ENCX_INDEX_KEY` (one base64 key,
    /// version 1). Errors never repeat key text.
    pub fn from_env() -> Result<Self> {
        let many = std::env::var(ENV_INDEX_KEYS).ok().map(Zeroizing::new);
        let one = std::env::var(ENV_INDEX_KEY).ok().map(Zeroizing::new);
        match (many, one) {
            (Some(_), Some(_)) => Err(Error::config(format!(
                "both {ENV_INDEX_KEYS} and {ENV_INDEX_KEY} are set; set only one"
            ))),
            (Some(many), None) => Self::from_spec(&many),
            (None, Some(one)) => {
                let mut spec = Zeroizing::new(String::with_capacity(2 + one.len()));
                spec.push_str("1:");
                spec.push_str(&one);
                Self::from_spec(&spec)
            }
            (None, None) => Err(Error::config(format!(
                "no index key: set {ENV_INDEX_KEY} to the base64 of 32 random bytes"
            ))),
        }
    }

    /// Parses `version:BASE64` entries separated by commas.
    ///
    /// ```
    /// let keys = encx::index::IndexKeys::from_spec("1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")?;
    /// assert_eq!(keys.active_version(), 1);
    /// # Ok::<(), encx::Error>(())
    /// ```
    pub fn from_spec(spec: &str) -> Result<Self> {
        let mut versions = Vec::new();
        for (n, entry) in spec.split(',').enumerate() {
            let bad = || {
                Error::config(format!(
                    "index key entry {} is not of the form VERSION:BASE64 (32 bytes)",
                    n + 1
                ))
            };
            let (version, text) = entry.trim().split_once(':').ok_or_else(bad)?;
            let version: u32 = version.trim().parse().map_err(|_| bad())?;
            let decoded = Zeroizing::new(
                base64::engine::general_purpose::STANDARD
                    .decode(text.trim())
                    .map_err(|_| bad())?,
            );
            if decoded.len() != KEY_LEN {
                return Err(bad());
            }
            let mut key = Zeroizing::new([0u8; KEY_LEN]);
            key.copy_from_slice(&decoded);
            versions.push((version, key));
        }
        Self::from_versions(versions)
    }

    /// Loads the index root keys kept wrapped in `store` (purpose `index`), creating version 1
    /// wrapped by `root` if there is none. Processes sharing the store share the keys.
    pub async fn load_or_create(store: &dyn KekStore, root: &dyn Keyring) -> Result<Self> {
        let mut stored = store.list(KeyPurpose::IndexRoot).await?;
        // A key this call created is used as generated: no root call to unwrap it again.
        let mut created = None;
        if !stored.iter().any(|k| k.state == KekState::Active) {
            let (active, won) = create_stored_key(root, store, KeyPurpose::IndexRoot, None).await?;
            created = won.map(|bytes| (active.id, bytes));
            if !stored.iter().any(|k| k.id == active.id) {
                stored.push(active);
            }
        }
        let mut versions = Vec::new();
        for key in stored.iter().filter(|k| k.state != KekState::Destroyed) {
            let version = u32::try_from(key.version).map_err(|_| {
                Error::config(format!("index key version {} out of range", key.version))
            })?;
            let bytes = match created.take_if(|(id, _)| *id == key.id) {
                Some((_, bytes)) => bytes,
                None => unwrap_stored_key(root, store, key, KeyPurpose::IndexRoot).await?,
            };
            versions.push((version, bytes));
        }
        Self::from_versions(versions)
    }

    /// Makes a new index root key active in `store`, wrapped by `root`, one version above the
    /// highest; the previous version is retired and still serves lookups (every process that
    /// loads the keys with [`load_or_create`](Self::load_or_create) queries all versions that
    /// are not destroyed). Returns the new version. Processes load index keys when they build
    /// their `Crypto`: restart them so that all compute new indexes under it, rotate the KEK,
    /// and re-encrypt (`encx_sqlx::Repo::reencrypt`); then destroy the old version with
    /// [`KekStore::set_state`] so that lookups stop computing it.
    pub async fn add_stored_version(store: &dyn KekStore, root: &dyn Keyring) -> Result<u32> {
        let active = store.active(KeyPurpose::IndexRoot).await?.map(|k| k.id);
        let (now_active, _) = create_stored_key(root, store, KeyPurpose::IndexRoot, active).await?;
        if now_active.id == active.unwrap_or_default() {
            return Err(Error::unavailable(
                "another process changed the index keys at the same time; try again",
            ));
        }
        u32::try_from(now_active.version).map_err(|_| {
            Error::config(format!(
                "index key version {} out of range",
                now_active.version
            ))
        })
    }

    /// Adds a new random version above the highest one (it becomes active; run a reindex).
    pub fn add_generated_version(&mut self) -> Result<u32> {
        let next = self.active_version().checked_add(1).ok_or_else(|| {
            Error::config("the index key version counter is exhausted (u32::MAX reached)")
        })?;
        self.versions.push((next, random_key_bytes()?));
        Ok(next)
    }

    /// The version that computes stored indexes.
    pub fn active_version(&self) -> u32 {
        self.versions.last().map(|(v, _)| *v).unwrap_or(0)
    }

    /// All versions, oldest first.
    pub fn versions(&self) -> impl Iterator<Item = u32> + '_ {
        self.versions.iter().map(|(v, _)| *v)
    }

    /// Derives the key of `domain` at `version`.
    pub fn derive(&self, domain: &str, version: u32) -> Result<IndexKey> {
        let (_, root) = self
            .versions
            .iter()
            .find(|(v, _)| *v == version)
            .ok_or_else(|| Error::key_not_found(format!("index key version {version}")))?;
        let mut info = Vec::with_capacity(16 + domain.len());
        info.extend_from_slice(b"encx:v1:bidx");
        push_len_prefixed(&mut info, domain.as_bytes());
        info.extend_from_slice(&version.to_be_bytes());
        let mut okm = Zeroizing::new([0u8; KEY_LEN]);
        Hkdf::<Sha256>::new(None, root.as_ref())
            .expand(&info, okm.as_mut())
            .map_err(|_| Error::config("HKDF output length"))?;
        let mac = <Hmac<Sha256> as KeyInit>::new_from_slice(okm.as_ref())
            .map_err(|_| Error::config("HMAC key length"))?;
        Ok(IndexKey { version, mac })
    }
}
