//! The one error type of the `encx` crate.
//!
//! Variants are chosen so that an application can react to each cause differently:
//! tampering is an alarm, a shredded record is an expected outcome of erasure, a missing key is
//! an operator mistake, an unavailable keyring is worth a retry, and bad configuration must be
//! fixed before start-up. No variant ever carries key material or plaintext.

use std::fmt;

/// A `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in encx.
///
/// ```
/// use encx::Error;
/// fn react(err: &Error) -> &'static str {
///     match err {
///         Error::Tampered => "alarm: ciphertext was altered or moved",
///         Error::Shredded { .. } => "record was erased",
///         Error::KeyringUnavailable { .. } => "retry later",
///         _ => "fix the setup",
///     }
/// }
/// assert_eq!(react(&Error::Tampered), "alarm: ciphertext was altered or moved");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A ciphertext or wrapped key failed authentication: it was altered, truncated, moved to
    /// another table, column or record, or is not an encx blob at all.
    ///
    /// Deliberately carries no detail, so that it cannot serve as a decryption oracle.
    #[error("ciphertext failed authentication (tampered, truncated or moved)")]
    Tampered,

    /// The record's data key was destroyed (crypto-shredding): its fields can never be read again.
    #[error("record {record} of table `{table}` was erased: its data key is destroyed")]
    Shredded {
        /// Table of the erased record.
        table: String,
        /// Printable form of the record id.
        record: String,
    },

    /// The key needed to unwrap a data key is not known to this keyring (unknown master-key
    /// version, unknown or destroyed KEK, blob made by another kind of keyring).
    #[error("key not found: {what}")]
    KeyNotFound {
        /// Which key was looked for (ids and versions only, never key bytes).
        what: String,
    },

    /// The keyring or key store could not be reached (KMS outage, throttling, database down).
    /// Callers may retry.
    #[error("keyring unavailable: {reason}")]
    KeyringUnavailable {
        /// What failed (never key material).
        reason: String,
        /// The underlying cause, if any.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    },

    /// The KMS refused the call: the caller lacks permission on the key.
    #[error("access to the key was denied: {reason}")]
    AccessDenied {
        /// What the KMS said, minus any key material.
        reason: String,
    },

    /// The setup is wrong: missing or malformed key, out-of-range parameter, unknown option.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),

    /// A field value could not be encoded before encryption, or decoded after an authentic
    /// decryption (the stored type differs from the Rust type reading it).
    #[error("codec error: {0}")]
    Codec(String),

    /// The blob starts with a format version this build of encx does not know.
    #[error("unsupported format version {version:#04x} for {what}")]
    UnsupportedFormat {
        /// What kind of blob was read.
        what: &'static str,
        /// Its first byte.
        version: u8,
    },

    /// The operating system's random number generator failed.
    #[error("the OS random number generator failed")]
    Rng,
}

impl Error {
    /// True for failures that may succeed when tried again (KMS or key store unavailable).
    ///
    /// ```
    /// let e = encx::Error::unavailable("kms timed out");
    /// assert!(e.is_retryable());
    /// assert!(!encx::Error::Tampered.is_retryable());
    /// ```
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::KeyringUnavailable { .. })
    }

    /// A [`Error::KeyringUnavailable`] with no source.
    pub fn unavailable(reason: impl fmt::Display) -> Self {
        Error::KeyringUnavailable {
            reason: reason.to_string(),
            source: None,
        }
    }

    /// A [`Error::KeyringUnavailable`] wrapping its cause.
    pub fn unavailable_from(
        reason: impl fmt::Display,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Error::KeyringUnavailable {
            reason: reason.to_string(),
            source: Some(Box::new(source)),
        }
    }

    /// A [`Error::KeyNotFound`].
    pub fn key_not_found(what: impl fmt::Display) -> Self {
        Error::KeyNotFound {
            what: what.to_string(),
        }
    }

    /// An [`Error::InvalidConfig`].
    pub fn config(what: impl fmt::Display) -> Self {
        Error::InvalidConfig(what.to_string())
    }
}
