//! Bearer tokens (API keys, session tokens, password-reset links) stored as keyed hashes, and
//! CSRF tokens bound to a session.
//!
//! A [`Tokens`] generator makes tokens of 256 random bits, `<prefix>_<43 base64url chars>`
//! (the prefix tells a secret scanner and a human what leaked), and a [`TokenHash`] to store
//! instead of the token: `version (u32 BE) | HMAC-SHA256(K, token)`, where `K` is derived
//! from the index root keys (HKDF, domain `encx:token:<prefix>`), so a stolen table of hashes
//! cannot be checked against guesses without the key, and a lookup by the presented token is
//! an equality query on the hash ([`Tokens::lookup_hashes`]). Verification compares in
//! constant time.
//!
//! ```
//! use encx::{Crypto, LocalKeyring, MasterKey, index::IndexKeys};
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> encx::Result<()> {
//! let crypto = Crypto::builder()
//!     .keyring(LocalKeyring::new(vec![MasterKey::generate("v1")?])?)
//!     .index_keys(IndexKeys::generate()?)
//!     .build()
//!     .await?;
//! let api_keys = crypto.tokens("sk_live")?;
//! let (token, hash) = api_keys.generate()?;          // show `token` once, store `hash`
//! assert!(token.expose_secret().starts_with("sk_live_"));
//! assert!(api_keys.verify(token.expose_secret(), &hash)?);
//! assert!(!api_keys.verify("sk_live_guess", &hash)?);
//! assert!(api_keys.lookup_hashes(token.expose_secret())?.contains(&hash));
//! # Ok(()) }
//! ```

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use zeroize::Zeroizing;

use crate::crypto::Crypto;
use crate::error::{Error, Result};
use crate::rng;

/// Random bytes in a token.
pub const TOKEN_BYTES: usize = 32;
/// Bytes of a [`TokenHash`]: a 4-byte key version and a 32-byte HMAC.
pub const TOKEN_HASH_LEN: usize = 4 + 32;
const MAX_PREFIX_LEN: usize = 32;

/// A token to hand to its holder once, never to store. Wiped when dropped; `Debug` and
/// `Display` do not show it.
pub struct SecretToken(Zeroizing<String>);

impl SecretToken {
    /// The token, to show or send to its holder.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretToken(..)")
    }
}

/// The keyed hash of a token, to store (column `token_hash`, 36 bytes).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TokenHash(Vec<u8>);

impl TokenHash {
    /// Wraps stored bytes ([`Error::Tampered`] unless they are 36 bytes long).
    pub fn from_bytes(bytes: impl Into<Vec<u8>>) -> Result<Self> {
        let bytes = bytes.into();
        if bytes.len() != TOKEN_HASH_LEN {
            return Err(Error::Tampered);
        }
        Ok(TokenHash(bytes))
    }

    /// The stored bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The index key version it was made with.
    pub fn version(&self) -> u32 {
        u32::from_be_bytes([self.0[0], self.0[1], self.0[2], self.0[3]])
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash(v{}, ..)", self.version())
    }
}

/// Checks a token prefix: 1 to 32 characters of `a-z`, `A-Z`, `0-9` and `_`.
pub(crate) fn check_prefix(prefix: &str) -> Result<()> {
    let ok = !prefix.is_empty()
        && prefix.len() <= MAX_PREFIX_LEN
        && prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Error::config(format!(
            "token prefix {prefix:?} must be 1 to {MAX_PREFIX_LEN} characters of a-z, A-Z, 0-9, _"
        )))
    }
}

/// Makes, hashes and verifies tokens of one kind (one prefix). Made by [`Crypto::tokens`].
#[derive(Clone)]
pub struct Tokens {
    crypto: Crypto,
    prefix: String,
    domain: String,
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokens")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl Crypto {
    /// Tokens whose text starts with `prefix` and an underscore (`sk_live`, `session`,
    /// `reset`); each prefix gets its own hashing key. Needs index keys
    /// ([`CryptoBuilder::index_keys`](crate::CryptoBuilder::index_keys)).
    pub fn tokens(&self, prefix: &str) -> Result<Tokens> {
        check_prefix(prefix)?;
        self.index_versions()?;
        Ok(Tokens {
            crypto: self.clone(),
            prefix: prefix.to_owned(),
            domain: format!("encx:token:{prefix}"),
        })
    }
}

impl Tokens {
    /// The prefix of these tokens.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Where audit events about these tokens go: the audit sink of the [`Crypto`] that made
    /// them (`encx_sqlx::TokenStore` sends its events there).
    pub fn audit_sink(&self) -> &std::sync::Arc<dyn crate::audit::AuditSink> {
        self.crypto.audit_sink()
    }

    /// A new token (256 random bits) and its hash under the active key version.
    pub fn generate(&self) -> Result<(SecretToken, TokenHash)> {
        let mut raw = Zeroizing::new([0u8; TOKEN_BYTES]);
        rng::fill(raw.as_mut())?;
        let mut text = Zeroizing::new(String::with_capacity(self.prefix.len() + 1 + 43));
        text.push_str(&self.prefix);
        text.push('_');
        URL_SAFE_NO_PAD.encode_string(raw.as_ref(), &mut text);
        let hash = self.hash(&text)?;
        Ok((SecretToken(text), hash))
    }

    /// The hash of `token` under the active key version.
    pub fn hash(&self, token: &str) -> Result<TokenHash> {
        let (active, _) = self.crypto.index_versions()?;
        self.hash_at(token, active)
    }

    fn hash_at(&self, token: &str, version: u32) -> Result<TokenHash> {
        let mac = self.crypto.with_index_key(&self.domain, version, |key| {
            key.compute(256, token.as_bytes())
        })?;
        let mut bytes = Vec::with_capacity(TOKEN_HASH_LEN);
        bytes.extend_from_slice(&version.to_be_bytes());
        bytes.extend_from_slice(mac.as_bytes());
        Ok(TokenHash(bytes))
    }

    /// The hashes to look a presented token up by: one per index key version, newest first
    /// (a hash stored before an index key rotation still matches). Empty for text that is not
    /// a well-formed token of this prefix, so garbage never reaches the database.
    pub fn lookup_hashes(&self, presented: &str) -> Result<Vec<TokenHash>> {
        if !self.well_formed(presented) {
            return Ok(Vec::new());
        }
        let (_, versions) = self.crypto.index_versions()?;
        versions
            .into_iter()
            .map(|v| self.hash_at(presented, v))
            .collect()
    }

    /// Whether `presented` is the token `stored` was made from, compared in constant time.
    /// A hash made under a version that is no longer held is
    /// [`Error::KeyNotFound`].
    pub fn verify(&self, presented: &str, stored: &TokenHash) -> Result<bool> {
        let mine = self.hash_at(presented, stored.version())?;
        Ok(crate::ct::eq(mine.as_bytes(), stored.as_bytes()) && self.well_formed(presented))
    }

    /// A MAC (32 bytes) binding a stored hash to the columns stored beside it (owner,
    /// expiry, ...), under the hash's key version: store it with them, and
    /// [`check_row`](Self::check_row) when reading, so that an edited row (a token moved to
    /// another owner, an expiry pushed back) is refused.
    pub fn seal_row(&self, hash: &TokenHash, columns: &[&[u8]]) -> Result<Vec<u8>> {
        let mut parts: Vec<&[u8]> = Vec::with_capacity(columns.len() + 2);
        parts.push(b"encx:token-row:v1");
        parts.push(hash.as_bytes());
        parts.extend_from_slice(columns);
        self.crypto
            .with_index_key(&self.domain, hash.version(), |key| {
                key.compute_compound(256, &parts)
            })
            .map(|mac| mac.into_bytes())
    }

    /// Checks a [`seal_row`](Self::seal_row) MAC in constant time: [`Error::Tampered`] when
    /// the row was edited.
    pub fn check_row(&self, hash: &TokenHash, columns: &[&[u8]], seal: &[u8]) -> Result<()> {
        if crate::ct::eq(&self.seal_row(hash, columns)?, seal) {
            Ok(())
        } else {
            Err(Error::Tampered)
        }
    }

    fn well_formed(&self, presented: &str) -> bool {
        presented.len() == self.prefix.len() + 1 + 43
            && presented.starts_with(&self.prefix)
            && presented.as_bytes().get(self.prefix.len()) == Some(&b'_')
    }
}

/// CSRF tokens bound to a session (the HMAC "synchronizer token" pattern, nothing stored):
/// `<nonce>.<version>.<mac>` with `mac = HMAC(K, frame("encx:csrf:v1", session, nonce))`, `K`
/// derived from the index root keys (domain `encx:csrf`). Made by [`Crypto::csrf`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> encx::Result<()> {
/// # let crypto = encx::Crypto::builder()
/// #     .keyring(encx::LocalKeyring::new(vec![encx::MasterKey::generate("v1")?])?)
/// #     .index_keys(encx::index::IndexKeys::generate()?).build().await?;
/// let csrf = crypto.csrf()?;
/// let token = csrf.issue(b"session-7f3a")?;               // put it in the form
/// assert!(csrf.verify(b"session-7f3a", &token)?);        // check it on POST
/// assert!(!csrf.verify(b"session-other", &token)?);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Csrf {
    crypto: Crypto,
}

impl fmt::Debug for Csrf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Csrf(..)")
    }
}

const CSRF_DOMAIN: &str = "encx:csrf";
/// The first part of every CSRF MAC's frame, as the other MACs of the domain carry one.
const CSRF_LABEL: &[u8] = b"encx:csrf:v1";
const CSRF_NONCE: usize = 16;

impl Crypto {
    /// CSRF tokens bound to sessions. Needs index keys.
    pub fn csrf(&self) -> Result<Csrf> {
        self.index_versions()?;
        Ok(Csrf {
            crypto: self.clone(),
        })
    }
}

impl Csrf {
    fn mac(&self, session: &[u8], nonce: &[u8], version: u32) -> Result<Vec<u8>> {
        self.crypto.with_index_key(CSRF_DOMAIN, version, |key| {
            key.compute_compound(256, &[CSRF_LABEL, session, nonce])
                .map(|m| m.into_bytes())
        })
    }

    /// A new token for `session` (a fresh random nonce each time).
    pub fn issue(&self, session: &[u8]) -> Result<String> {
        let (version, _) = self.crypto.index_versions()?;
        let mut nonce = [0u8; CSRF_NONCE];
        rng::fill(&mut nonce)?;
        let mac = self.mac(session, &nonce, version)?;
        Ok(format!(
            "{}.{version}.{}",
            URL_SAFE_NO_PAD.encode(nonce),
            URL_SAFE_NO_PAD.encode(mac)
        ))
    }

    /// Whether `token` was issued for `session` by a holder of these keys (constant-time).
    /// Malformed tokens and tokens of unknown key versions are `false`.
    pub fn verify(&self, session: &[u8], token: &str) -> Result<bool> {
        let mut parts = token.split('.');
        let (Some(nonce), Some(version), Some(mac), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Ok(false);
        };
        let (Ok(nonce), Some(version), Ok(mac)) = (
            URL_SAFE_NO_PAD.decode(nonce),
            crate::sign::canonical_version(version),
            URL_SAFE_NO_PAD.decode(mac),
        ) else {
            return Ok(false);
        };
        let (_, versions) = self.crypto.index_versions()?;
        if nonce.len() != CSRF_NONCE || !versions.contains(&version) {
            return Ok(false);
        }
        let expected = self.mac(session, &nonce, version)?;
        Ok(crate::ct::eq(&expected, &mac))
    }
}
