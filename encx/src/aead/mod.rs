//! The AES-256-GCM implementation under every encx cipher: field ciphertexts, wrapped DEKs,
//! KEKs and subject keys. A small provider seam, in the spirit of rustls' crypto providers:
//! every backend produces the same bytes (the same known-answer tests run against each), so
//! the choice is about speed and key hygiene only, and can change at any time without
//! touching stored data.
//!
//! | backend | cargo feature | key schedule wiped on drop | notes |
//! |---|---|---|---|
//! | [`Backend::AwsLc`] | `aws-lc` (default) | yes: AWS-LC's `OPENSSL_free` cleanses the `EVP_AEAD_CTX` | C build; a FIPS-validated module via aws-lc-rs's `fips` feature |
//! | [`Backend::Ring`] | `ring` (opt-in) | **no**: ring has no `Drop` for its keys | fastest measured |
//! | [`Backend::RustCrypto`] | always built | yes: `aes`/`ghash` `zeroize` features | pure Rust, no C toolchain |
//!
//! The process uses [`Backend::default()`] (AWS-LC when built, else RustCrypto) unless
//! [`Backend::install_default`] chose another before the first cipher was made:
//!
//! ```
//! use encx::aead::Backend;
//! // Every build has the pure-Rust backend.
//! assert!(Backend::available().any(|b| b == Backend::RustCrypto));
//! // What new ciphers use in this process.
//! println!("AES-GCM from {}", Backend::current());
//! ```
//!
//! docs/benchmarks.md gives the measured speeds; docs/threat-model.md what the key hygiene of
//! each means.

use std::fmt;
use std::sync::OnceLock;

use crate::error::{Error, Result};
use crate::keys::material::KEY_LEN;

#[cfg(feature = "aws-lc")]
mod aws_lc;
#[cfg(feature = "ring")]
mod ring;
mod rustcrypto;

/// Length of an AES-GCM nonce.
pub const NONCE_LEN: usize = 12;
/// Length of an AES-GCM tag.
pub const TAG_LEN: usize = 16;

/// An AES-256-GCM implementation encx can run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backend {
    /// RustCrypto's `aes-gcm` 0.10: pure Rust, constant-time, round keys and GHASH state
    /// wiped on drop. Always built.
    RustCrypto,
    /// AWS-LC through `aws-lc-rs` (cargo feature `aws-lc`, on by default). Key schedules live
    /// in an `EVP_AEAD_CTX` that AWS-LC cleanses when it is freed.
    AwsLc,
    /// ring 0.17 (cargo feature `ring`). The fastest measured, but its key schedules are not
    /// wiped when dropped: they stay in freed memory until it is reused.
    Ring,
}

impl Backend {
    /// Whether this backend was compiled into this build.
    pub fn is_available(self) -> bool {
        match self {
            Backend::RustCrypto => true,
            Backend::AwsLc => cfg!(feature = "aws-lc"),
            Backend::Ring => cfg!(feature = "ring"),
        }
    }

    /// The backends compiled into this build.
    pub fn available() -> impl Iterator<Item = Backend> {
        [Backend::AwsLc, Backend::Ring, Backend::RustCrypto]
            .into_iter()
            .filter(|b| b.is_available())
    }

    /// Whether the backend wipes a key's expanded schedule when the key is dropped.
    pub fn wipes_key_schedules(self) -> bool {
        !matches!(self, Backend::Ring)
    }

    /// Makes `self` the backend of every cipher this process makes from now on. Call it once,
    /// at start-up, before the first `Crypto` is used; a second call with another backend,
    /// or a call after a cipher was made with another backend, is refused
    /// ([`Error::InvalidConfig`]), as is a backend this build lacks.
    ///
    /// ```
    /// use encx::aead::Backend;
    /// // Installing the backend already in use is accepted.
    /// Backend::current().install_default()?;
    /// # Ok::<(), encx::Error>(())
    /// ```
    pub fn install_default(self) -> Result<()> {
        if !self.is_available() {
            return Err(Error::config(format!(
                "AES-GCM backend {self} is not built in: enable encx's cargo feature `{}`",
                self.feature()
            )));
        }
        let installed = *INSTALLED.get_or_init(|| self);
        if installed != self {
            return Err(Error::config(format!(
                "AES-GCM backend {installed} is already in use in this process; {self} must \
                 be installed before the first cipher is made"
            )));
        }
        Ok(())
    }

    /// The backend ciphers use in this process: the one installed, else [`Backend::default`].
    /// The first call fixes it.
    pub fn current() -> Backend {
        *INSTALLED.get_or_init(Backend::default)
    }

    fn feature(self) -> &'static str {
        match self {
            Backend::RustCrypto => "(none)",
            Backend::AwsLc => "aws-lc",
            Backend::Ring => "ring",
        }
    }
}

impl Default for Backend {
    /// AWS-LC when built (the default feature `aws-lc`), else RustCrypto: chosen by measured
    /// speed among the backends that wipe key schedules (docs/benchmarks.md).
    fn default() -> Self {
        if cfg!(feature = "aws-lc") {
            Backend::AwsLc
        } else {
            Backend::RustCrypto
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::RustCrypto => "RustCrypto aes-gcm",
            Backend::AwsLc => "AWS-LC",
            Backend::Ring => "ring",
        })
    }
}

static INSTALLED: OnceLock<Backend> = OnceLock::new();

/// An AES-256-GCM key, set up (key schedule and GHASH table) for one backend.
pub(crate) enum AeadKey {
    RustCrypto(rustcrypto::Key),
    #[cfg(feature = "aws-lc")]
    AwsLc(aws_lc::Key),
    #[cfg(feature = "ring")]
    Ring(ring::Key),
}

impl AeadKey {
    /// Sets up `key` for the process's backend ([`Backend::current`]).
    pub(crate) fn new(key: &[u8; KEY_LEN]) -> Result<Self> {
        Self::with_backend(Backend::current(), key)
    }

    /// Sets up `key` for `backend`.
    pub(crate) fn with_backend(backend: Backend, key: &[u8; KEY_LEN]) -> Result<Self> {
        Ok(match backend {
            Backend::RustCrypto => AeadKey::RustCrypto(rustcrypto::Key::new(key)),
            #[cfg(feature = "aws-lc")]
            Backend::AwsLc => AeadKey::AwsLc(aws_lc::Key::new(key)?),
            #[cfg(feature = "ring")]
            Backend::Ring => AeadKey::Ring(ring::Key::new(key)?),
            #[allow(unreachable_patterns)]
            other => {
                return Err(Error::config(format!(
                    "AES-GCM backend {other} is not built in: enable encx's cargo feature `{}`",
                    other.feature()
                )))
            }
        })
    }

    /// Encrypts `in_out` in place and returns the tag.
    pub(crate) fn seal_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        in_out: &mut [u8],
    ) -> Result<[u8; TAG_LEN]> {
        match self {
            AeadKey::RustCrypto(k) => k.seal_in_place(nonce, aad, in_out),
            #[cfg(feature = "aws-lc")]
            AeadKey::AwsLc(k) => k.seal_in_place(nonce, aad, in_out),
            #[cfg(feature = "ring")]
            AeadKey::Ring(k) => k.seal_in_place(nonce, aad, in_out),
        }
        .ok_or_else(|| Error::config("plaintext too long for AES-GCM"))
    }

    /// Decrypts `ciphertext` into `out` (of the same length) after checking `tag`;
    /// [`Error::Tampered`] on any mismatch, and then `out` holds no plaintext.
    pub(crate) fn open_into(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        ciphertext: &[u8],
        tag: &[u8; TAG_LEN],
        out: &mut [u8],
    ) -> Result<()> {
        if ciphertext.len() != out.len() {
            return Err(Error::Tampered);
        }
        let opened = match self {
            AeadKey::RustCrypto(k) => k.open_into(nonce, aad, ciphertext, tag, out),
            #[cfg(feature = "aws-lc")]
            AeadKey::AwsLc(k) => k.open_into(nonce, aad, ciphertext, tag, out),
            #[cfg(feature = "ring")]
            AeadKey::Ring(k) => k.open_into(nonce, aad, ciphertext, tag, out),
        };
        if opened {
            Ok(())
        } else {
            // A failed open may leave unauthenticated bytes behind: never hand them out.
            out.fill(0);
            Err(Error::Tampered)
        }
    }
}

#[cfg(test)]
mod known_answers;
