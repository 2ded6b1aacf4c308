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
/// Every variant belongs to one [`ErrorKind`], and the predicates follow the kinds, so that an
/// application can alert on integrity failures without listing variants:
///
/// | kind | variants | what happened | what to do |
/// |---|---|---|---|
/// | [`ErrorKind::Integrity`] ([`is_tampered`](Error::is_tampered)) | `Tampered`, `UnsupportedFormat`, `UnknownKeyId`, `PasswordHashRefused`, `Truncated` | stored bytes failed authentication, are malformed, carry an unknown format or keyring byte, name a key the key store never held, hold a password hash outside the limits, or an encrypted stream was cut short | alarm: someone with write access to the database altered it (or the data was written by a newer encx, or this process reads another key store than the writer) |
/// | [`ErrorKind::Erased`] ([`is_shredded`](Error::is_shredded)) | `Shredded`, `SubjectErased`, `TenantErased` | the record's wrapped DEK, or its data subject's or tenant's keys, were destroyed on purpose; new data for an erased subject or tenant is refused | expected after erasure: treat as gone |
/// | [`ErrorKind::MissingKey`] ([`is_key_missing`](Error::is_key_missing)) | `KeyNotFound`, `TenantKeyRevoked` | the key exists somewhere but not here: an old master-key version left out of the configuration, a destroyed or disabled KEK or KMS key, a blob made by another kind of keyring; a tenant's own KMS key that its owner revoked | operator: restore the configuration; for a tenant's key, the tenant must restore access |
/// | [`ErrorKind::Unavailable`] ([`is_retryable`](Error::is_retryable) for `KeyringUnavailable`) | `KeyringUnavailable`, `Rng`, `Io` | KMS or key store unreachable or throttled; the OS random generator failed; a stream's file or pipe failed | retry later |
/// | [`ErrorKind::Configuration`] ([`is_config`](Error::is_config)) | `InvalidConfig`, `AccessDenied`, `Codec` | bad setup, missing KMS permission, a value whose type cannot be encoded or differs from the stored type | fix the code or setup |
/// | [`ErrorKind::Expired`] | `Expired` | a signed value, token or secret is past its expiry | expected: ask for a new one |
///
/// ```
/// use encx::{Error, ErrorKind};
/// fn react(err: &Error) -> &'static str {
///     match err.kind() {
///         ErrorKind::Integrity => "alarm: stored bytes were altered",
///         ErrorKind::Erased => "record was erased",
///         ErrorKind::Unavailable => "retry later",
///         _ => "fix the setup",
///     }
/// }
/// assert_eq!(react(&Error::Tampered), "alarm: stored bytes were altered");
/// assert!(Error::UnsupportedFormat { what: "field ciphertext", version: 9 }.is_tampered());
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

    /// The data subject was erased: its key is destroyed, so nothing of it can be read, and
    /// new data for it is refused until it is explicitly re-enabled
    /// ([`Crypto::reenable_subject`](crate::Crypto::reenable_subject)).
    #[error("data subject {subject} was erased: its key is destroyed")]
    SubjectErased {
        /// Printable form of the subject id.
        subject: String,
    },

    /// The tenant was offboarded ([`Crypto::erase_tenant`](crate::Crypto::erase_tenant)): its
    /// keys are destroyed, so nothing of it can be read, and new data for it is refused.
    #[error("tenant {tenant} was erased: its keys are destroyed")]
    TenantErased {
        /// Printable form of the tenant id.
        tenant: String,
    },

    /// The tenant's own root key (bring your own key) refused to unwrap: the tenant disabled,
    /// deleted or revoked the grant on its KMS key. Only that tenant's records are affected;
    /// its data comes back if the tenant restores access.
    #[error("the root key of tenant {tenant} refused access (revoked, disabled or deleted by its owner): {reason}")]
    TenantKeyRevoked {
        /// Printable form of the tenant id.
        tenant: String,
        /// What the KMS said (ids only, never key material).
        reason: String,
    },

    /// The key needed to unwrap a data key is not available to this keyring, although the
    /// stored bytes are well-formed: an unknown master-key version, a destroyed KEK, a disabled
    /// or deleted KMS key, or a blob made by another kind of keyring.
    #[error("key not found: {what}")]
    KeyNotFound {
        /// Which key was looked for (ids and versions only, never key bytes).
        what: String,
    },

    /// Stored bytes name a key that the key store never held. Key rows are never deleted (a
    /// destroyed key keeps its row), so this means the wrapped key or the key table was altered
    /// — or this process reads another key store than the one that wrote the data.
    #[error("stored bytes name a key the key store does not hold: {what}")]
    UnknownKeyId {
        /// Which key id was named (never key bytes).
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

    /// The setup is wrong: missing or malformed key, out-of-range parameter, unknown option,
    /// or a counter that would overflow.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),

    /// A field value could not be encoded before encryption, or decoded after an authentic
    /// decryption (the stored type differs from the Rust type reading it).
    #[error("codec error: {0}")]
    Codec(String),

    /// The blob starts with a format version this build of encx does not know: altered bytes,
    /// or data written by a newer encx.
    #[error("unsupported format version {version:#04x} for {what}")]
    UnsupportedFormat {
        /// What kind of blob was read.
        what: &'static str,
        /// Its first byte.
        version: u8,
    },

    /// A stored password hash was refused before any hashing: not an Argon2id PHC string, or
    /// parameters above the accepted limits (which would let whoever wrote the row stall or
    /// abort the process).
    #[error("password hash refused: {0}")]
    PasswordHashRefused(String),

    /// The operating system's random number generator failed.
    #[error("the OS random number generator failed")]
    Rng,

    /// An encrypted stream ([`stream`](crate::stream)) ended before its final segment: it
    /// was cut short (a truncated backup or a broken pipe). What was handed out before is
    /// authentic but incomplete.
    #[error("{what} ended before its final segment (truncated)")]
    Truncated {
        /// What was being read.
        what: &'static str,
    },

    /// A signed value, token or secret is past its expiry.
    #[error("{what} expired")]
    Expired {
        /// What expired (never its value).
        what: String,
    },

    /// Reading or writing a stream failed (file, pipe, socket).
    #[error("stream I/O failed: {0}")]
    Io(#[source] std::io::Error),
}

impl From<std::io::Error> for Error {
    /// The encx error that a [`stream`](crate::stream) adapter carried inside `error` (an
    /// altered or cut stream read through [`AsyncStreamReader`](crate::stream::AsyncStreamReader),
    /// say), or [`Error::Io`] for any other I/O failure; so `?` on `tokio::io::copy` through an
    /// adapter gives back `Tampered` or `Truncated`.
    fn from(error: std::io::Error) -> Self {
        error.downcast::<Error>().unwrap_or_else(Error::Io)
    }
}

/// The class of an [`Error`]: what happened, independent of the variant. See the table on
/// [`Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Stored bytes failed an integrity check: tampering (or data from a newer encx).
    Integrity,
    /// The record was erased on purpose (crypto-shredding).
    Erased,
    /// A key that the stored bytes rightly name is not available here.
    MissingKey,
    /// An outage: KMS, key store or OS random generator.
    Unavailable,
    /// The code or setup is wrong.
    Configuration,
    /// A signed value, token or secret outlived its expiry: expected, ask for a new one.
    Expired,
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

    /// The class of this error (see the table on [`Error`]).
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Tampered
            | Error::UnsupportedFormat { .. }
            | Error::UnknownKeyId { .. }
            | Error::PasswordHashRefused(_)
            | Error::Truncated { .. } => ErrorKind::Integrity,
            Error::Shredded { .. } | Error::SubjectErased { .. } | Error::TenantErased { .. } => {
                ErrorKind::Erased
            }
            Error::KeyNotFound { .. } | Error::TenantKeyRevoked { .. } => ErrorKind::MissingKey,
            Error::KeyringUnavailable { .. } | Error::Rng | Error::Io(_) => ErrorKind::Unavailable,
            Error::Expired { .. } => ErrorKind::Expired,
            Error::AccessDenied { .. } | Error::InvalidConfig(_) | Error::Codec(_) => {
                ErrorKind::Configuration
            }
        }
    }

    /// True when stored bytes failed an integrity check ([`ErrorKind::Integrity`]): the
    /// predicate to alert on.
    ///
    /// ```
    /// assert!(encx::Error::Tampered.is_tampered());
    /// assert!(!encx::Error::unavailable("down").is_tampered());
    /// ```
    pub fn is_tampered(&self) -> bool {
        self.kind() == ErrorKind::Integrity
    }

    /// True when the record was erased ([`ErrorKind::Erased`]).
    pub fn is_shredded(&self) -> bool {
        self.kind() == ErrorKind::Erased
    }

    /// True when a rightly named key is not available here ([`ErrorKind::MissingKey`]).
    pub fn is_key_missing(&self) -> bool {
        self.kind() == ErrorKind::MissingKey
    }

    /// True when the code or setup is wrong ([`ErrorKind::Configuration`]).
    pub fn is_config(&self) -> bool {
        self.kind() == ErrorKind::Configuration
    }

    /// A [`Error::UnknownKeyId`].
    pub fn unknown_key_id(what: impl fmt::Display) -> Self {
        Error::UnknownKeyId {
            what: what.to_string(),
        }
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
