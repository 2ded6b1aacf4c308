//! Secret key material: data keys, key-encryption keys and raw 32-byte secrets.
//!
//! Every type here zeroizes its bytes on drop, prints nothing secret in `Debug`, and is not
//! `Clone`. Turning a secret into bytes is always a call named `expose_secret`.

use std::fmt;

use zeroize::Zeroizing;

use crate::error::Result;
use crate::rng;

/// Length in bytes of every symmetric key in encx (AES-256, HMAC-SHA256 keys).
pub const KEY_LEN: usize = 32;

/// 32 secret bytes, wiped on drop.
pub(crate) type KeyBytes = Zeroizing<[u8; KEY_LEN]>;

pub(crate) fn random_key_bytes() -> Result<KeyBytes> {
    let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
    rng::fill(bytes.as_mut())?;
    Ok(bytes)
}

/// A data-encryption key: random, one per record (or per data subject), stored only wrapped.
///
/// ```
/// let dek = encx::Dek::generate().unwrap();
/// assert_eq!(format!("{dek:?}"), "Dek(..)");
/// ```
pub struct Dek(KeyBytes);

impl Dek {
    /// A fresh random key from the OS RNG.
    pub fn generate() -> Result<Self> {
        Ok(Dek(random_key_bytes()?))
    }

    /// Takes ownership of key bytes, e.g. the plaintext half of a KMS `GenerateDataKey` answer.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Dek(Zeroizing::new(bytes))
    }

    /// Copies a 32-byte slice into a new key; any other length is [`Error::Tampered`]
    /// (it only comes from unwrapping).
    #[cfg(feature = "aws-kms")]
    pub(crate) fn from_slice(bytes: &[u8]) -> Result<Self> {
        if bytes.len() != KEY_LEN {
            return Err(crate::Error::Tampered);
        }
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        key.copy_from_slice(bytes);
        Ok(Dek(key))
    }

    /// The raw key. Only keyrings need this, to wrap the key.
    pub fn expose_secret(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    pub(crate) fn into_key_bytes(self) -> KeyBytes {
        self.0
    }
}

impl fmt::Debug for Dek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Dek(..)")
    }
}

/// A key-encryption key of the [`HierarchicalKeyring`](crate::HierarchicalKeyring), unwrapped
/// and ready to wrap DEKs. Only its id and version are visible.
pub struct Kek {
    id: uuid::Uuid,
    version: i64,
    /// The key, keyed into HKDF once for every wrap it makes (the bytes themselves are not
    /// kept: the keyed state, wiped on drop, is all a wrap needs).
    wrapping: super::wrapped::WrappingKey,
}

impl Kek {
    pub(crate) fn new(id: uuid::Uuid, version: i64, key: &[u8; KEY_LEN]) -> Self {
        Kek {
            id,
            version,
            wrapping: super::wrapped::WrappingKey::new(key),
        }
    }

    /// The KEK's id, as stored in `encx_keks` and in every DEK it wraps.
    pub fn id(&self) -> uuid::Uuid {
        self.id
    }

    /// The KEK's version number (1, 2, ...).
    pub fn version(&self) -> i64 {
        self.version
    }

    /// The key, from which each wrap derives a key of its own.
    pub(crate) fn wrap_key(&self) -> &super::wrapped::WrappingKey {
        &self.wrapping
    }
}

impl fmt::Debug for Kek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kek")
            .field("id", &self.id)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}
