//! The byte strings encx stores: field ciphertexts, wrapped data keys and blind indexes.
//!
//! They are plain data, safe to store and to log by length, and carry no key. Their layouts are
//! described in `docs/format.md`.

use std::fmt;

macro_rules! stored_bytes {
    ($(#[$doc:meta])* $name:ident, $debug_hex:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub(crate) Vec<u8>);

        impl $name {
            /// Wraps bytes read from storage. Nothing is checked until they are used.
            pub fn from_bytes(bytes: impl Into<Vec<u8>>) -> Self {
                $name(bytes.into())
            }

            /// The stored bytes.
            pub fn as_bytes(&self) -> &[u8] {
                &self.0
            }

            /// The stored bytes, by value.
            pub fn into_bytes(self) -> Vec<u8> {
                self.0
            }

            /// Length in bytes.
            pub fn len(&self) -> usize {
                self.0.len()
            }

            /// True when there are no bytes.
            pub fn is_empty(&self) -> bool {
                self.0.is_empty()
            }
        }

        impl AsRef<[u8]> for $name {
            fn as_ref(&self) -> &[u8] {
                &self.0
            }
        }

        impl From<Vec<u8>> for $name {
            fn from(bytes: Vec<u8>) -> Self {
                $name(bytes)
            }
        }

        impl From<$name> for Vec<u8> {
            fn from(value: $name) -> Self {
                value.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                if $debug_hex {
                    write!(f, "{}(", stringify!($name))?;
                    for b in &self.0 {
                        write!(f, "{b:02x}")?;
                    }
                    f.write_str(")")
                } else {
                    write!(f, "{}({} bytes)", stringify!($name), self.0.len())
                }
            }
        }
    };
}

stored_bytes!(
    /// A field ciphertext: `0x01 | nonce (12) | AES-256-GCM ciphertext | tag (16)`.
    Ciphertext,
    false
);

stored_bytes!(
    /// A data key wrapped by a keyring (column `encx_dek`).
    WrappedDek,
    false
);

stored_bytes!(
    /// A truncated HMAC-SHA256 of a normalized value (column `<field>_bidx`). Equal values give
    /// equal indexes; unequal values may too (truncation), so lookups re-check.
    BlindIndex,
    true
);
