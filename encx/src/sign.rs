//! Signed values: HMAC-SHA256 with key versions, for values handed to clients that must come
//! back unaltered (cookies, links, hidden form fields, webhook payloads). Signing does not
//! hide the value; encrypt it if it is secret.
//!
//! A signed value reads `<value>.<expiry>.<version>.<mac>`: the value in base64url, the expiry
//! in Unix seconds (`-` for none), the index key version, and
//! `mac = HMAC(K, "encx:signed:v1" | value | expiry)` (length-prefixed), with `K` derived from
//! the index root keys (HKDF, domain `encx:sign:<purpose>`). Rotating the index keys
//! (`encx keys index-add`) makes new signatures use the new version while old ones still
//! verify until their version is destroyed.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> encx::Result<()> {
//! # let crypto = encx::Crypto::builder()
//! #     .keyring(encx::LocalKeyring::new(vec![encx::MasterKey::generate("v1")?])?)
//! #     .index_keys(encx::index::IndexKeys::generate()?).build().await?;
//! let links = crypto.signer("unsubscribe")?;
//! let signed = links.sign(b"user-42")?;
//! assert_eq!(links.verify(&signed)?, b"user-42");
//! let forged = signed.replacen("dXNlci00Mg", "dXNlci00Mw", 1); // "user-43"
//! assert!(links.verify(&forged).unwrap_err().is_tampered());
//! assert!(crypto.signer("other")?.verify(&signed).is_err()); // purposes do not mix
//! # Ok(()) }
//! ```

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::crypto::Crypto;
use crate::error::{Error, Result};

/// Longest signed string [`Signer::sign`] makes and [`Signer::verify`] accepts (1 MiB): a
/// value of up to 786,396 bytes (its base64 and 48 bytes of expiry, version and MAC).
pub const MAX_SIGNED_LEN: usize = 1 << 20;

/// Signs and verifies values for one purpose. Made by [`Crypto::signer`].
#[derive(Clone)]
pub struct Signer {
    crypto: Crypto,
    domain: String,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("domain", &self.domain)
            .finish_non_exhaustive()
    }
}

impl Crypto {
    /// A signer for `purpose` (1 to 32 characters of `a-z A-Z 0-9 _`): values signed for one
    /// purpose do not verify for another. Needs index keys.
    pub fn signer(&self, purpose: &str) -> Result<Signer> {
        crate::token::check_prefix(purpose)?;
        self.index_versions()?;
        Ok(Signer {
            crypto: self.clone(),
            domain: format!("encx:sign:{purpose}"),
        })
    }
}

/// A key version as encx writes it: canonical decimal (no sign, no leading zero, at most
/// `u32::MAX`), so that each version has exactly one spelling that verifies.
pub(crate) fn canonical_version(text: &str) -> Option<u32> {
    let canonical = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    canonical.then(|| text.parse().ok()).flatten()
}

fn unix_seconds(at: SystemTime) -> Result<u64> {
    at.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .map_err(|_| Error::config("expiry before 1970"))
}

impl Signer {
    fn mac(&self, value_b64: &str, expiry: &str, version: u32) -> Result<Vec<u8>> {
        self.crypto.with_index_key(&self.domain, version, |key| {
            key.compute_compound(
                256,
                &[b"encx:signed:v1", value_b64.as_bytes(), expiry.as_bytes()],
            )
            .map(|m| m.into_bytes())
        })
    }

    fn sign_inner(&self, value: &[u8], expiry: String) -> Result<String> {
        let (version, _) = self.crypto.index_versions()?;
        let value_b64 = URL_SAFE_NO_PAD.encode(value);
        let mac = self.mac(&value_b64, &expiry, version)?;
        let signed = format!(
            "{value_b64}.{expiry}.{version}.{}",
            URL_SAFE_NO_PAD.encode(mac)
        );
        if signed.len() > MAX_SIGNED_LEN {
            // verify would refuse it: say so now, not when it comes back.
            return Err(Error::config(format!(
                "a signed value is at most {MAX_SIGNED_LEN} bytes; this value of {} bytes \
                 signs to {}",
                value.len(),
                signed.len()
            )));
        }
        Ok(signed)
    }

    /// Signs `value` with the active key version; it never expires.
    pub fn sign(&self, value: &[u8]) -> Result<String> {
        self.sign_inner(value, "-".to_owned())
    }

    /// Signs `value` to be refused ([`Error::Expired`]) from `expires_at` on.
    pub fn sign_until(&self, value: &[u8], expires_at: SystemTime) -> Result<String> {
        self.sign_inner(value, unix_seconds(expires_at)?.to_string())
    }

    /// The value, when `signed` was made by [`sign`](Self::sign) for this purpose and has not
    /// expired. [`Error::Tampered`] for any altered or malformed input (compared in constant
    /// time), [`Error::KeyNotFound`] for a key version not held here, [`Error::Expired`] past
    /// its expiry (checked after the MAC, so a forged expiry is `Tampered`).
    pub fn verify(&self, signed: &str) -> Result<Vec<u8>> {
        self.verify_at(signed, SystemTime::now())
    }

    /// [`verify`](Self::verify) as of `now`.
    pub fn verify_at(&self, signed: &str, now: SystemTime) -> Result<Vec<u8>> {
        if signed.len() > MAX_SIGNED_LEN {
            return Err(Error::Tampered);
        }
        let mut parts = signed.split('.');
        let (Some(value_b64), Some(expiry), Some(version), Some(mac), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(Error::Tampered);
        };
        let version = canonical_version(version).ok_or(Error::Tampered)?;
        let mac = URL_SAFE_NO_PAD.decode(mac).map_err(|_| Error::Tampered)?;
        let (_, versions) = self.crypto.index_versions()?;
        if !versions.contains(&version) {
            return Err(Error::key_not_found(format!(
                "index key version {version} (signed value)"
            )));
        }
        let expected = self.mac(value_b64, expiry, version)?;
        if !crate::ct::eq(&expected, &mac) {
            return Err(Error::Tampered);
        }
        if expiry != "-" {
            let expires: u64 = expiry.parse().map_err(|_| Error::Tampered)?;
            if unix_seconds(now)? >= expires {
                return Err(Error::Expired {
                    what: "signed value".into(),
                });
            }
        }
        URL_SAFE_NO_PAD
            .decode(value_b64)
            .map_err(|_| Error::Tampered)
    }
}
