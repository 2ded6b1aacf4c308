//! Field plaintext encoding: postcard 1.x over serde, so any `Serialize + DeserializeOwned`
//! type can be an encrypted field.
//!
//! ```
//! let bytes = encx::codec::encode(&("Ada", 36u8))?;
//! let back: (String, u8) = encx::codec::decode(&bytes)?;
//! assert_eq!(back, ("Ada".to_string(), 36));
//! # Ok::<(), encx::Error>(())
//! ```

use serde::de::DeserializeOwned;
use serde::Serialize;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Encodes a value; the buffer is wiped when dropped.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Zeroizing<Vec<u8>>> {
    postcard::to_allocvec(value)
        .map(Zeroizing::new)
        .map_err(|e| Error::Codec(format!("cannot encode field value: {e}")))
}

/// Decodes a value, refusing trailing bytes.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    let (value, rest) = postcard::take_from_bytes(bytes)
        .map_err(|e| Error::Codec(format!("cannot decode field value: {e}")))?;
    if !rest.is_empty() {
        return Err(Error::Codec(format!(
            "field value has {} trailing bytes (stored type differs from the Rust type?)",
            rest.len()
        )));
    }
    Ok(value)
}
