//! Field plaintext encoding: postcard 1.x over serde, so any `Serialize + DeserializeOwned`
//! type can be an encrypted field (format-1 field ciphertexts); a value that is one string or
//! one byte string is stored bare instead, its bytes alone (format 2, [`bare_len`]).
//!
//! ```
//! let bytes = encx::codec::encode(&("Ada", 36u8))?;
//! let back: (String, u8) = encx::codec::decode(&bytes)?;
//! assert_eq!(back, ("Ada".to_string(), 36));
//! # Ok::<(), encx::Error>(())
//! ```

use std::any::Any;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

mod bare;
pub(crate) use bare::encode_bare_into;
pub use bare::{bare_len, decode_bare, encode_bare};

/// Encodes a value; the buffer is wiped when dropped.
///
/// The encoded size is computed first and the buffer allocated once at that size, so no
/// reallocation leaves a partial copy of the plaintext in freed memory.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Zeroizing<Vec<u8>>> {
    let mut out = Zeroizing::new(Vec::with_capacity(encoded_len(value)?));
    encode_into(value, &mut out)?;
    Ok(out)
}

/// The length of `value`'s encoding, computed without encoding it.
pub fn encoded_len<T: Serialize + ?Sized>(value: &T) -> Result<usize> {
    postcard::experimental::serialized_size(value).map_err(cannot_encode)
}

/// Appends `value`'s encoding to `out`. Give `out` room for [`encoded_len`] more bytes and
/// nothing is reallocated; should it have to grow, the old buffer is wiped, and on an error
/// `out` is wiped and left empty.
///
/// ```
/// use zeroize::Zeroizing;
/// let mut out = Zeroizing::new(vec![0xAA]);
/// encx::codec::encode_into("Ada", &mut out)?;
/// assert_eq!(&out[..], &[0xAA, 3, b'A', b'd', b'a']);
/// # Ok::<(), encx::Error>(())
/// ```
pub fn encode_into<T: Serialize + ?Sized>(value: &T, out: &mut Zeroizing<Vec<u8>>) -> Result<()> {
    let buffer = WipingVec(std::mem::take(out));
    *out = postcard::serialize_with_flavor(value, buffer).map_err(cannot_encode)?;
    Ok(())
}

fn cannot_encode(e: postcard::Error) -> Error {
    Error::Codec(format!("cannot encode field value: {e}"))
}

/// A postcard output buffer that is wiped when dropped (also on an error half-way), and that,
/// should it ever need to grow, copies into a larger buffer and wipes the old one instead of
/// letting the allocator free it unwiped.
struct WipingVec(Zeroizing<Vec<u8>>);

impl WipingVec {
    fn reserve(&mut self, extra: usize) {
        if self.0.capacity() - self.0.len() < extra {
            let wanted = (self.0.len() + extra).max(self.0.capacity() * 2);
            let mut bigger = Vec::with_capacity(wanted);
            bigger.extend_from_slice(&self.0);
            // The old buffer is wiped as its `Zeroizing` drops.
            self.0 = Zeroizing::new(bigger);
        }
    }
}

impl postcard::ser_flavors::Flavor for WipingVec {
    type Output = Zeroizing<Vec<u8>>;

    fn try_push(&mut self, byte: u8) -> postcard::Result<()> {
        self.reserve(1);
        self.0.push(byte);
        Ok(())
    }

    fn try_extend(&mut self, bytes: &[u8]) -> postcard::Result<()> {
        self.reserve(bytes.len());
        self.0.extend_from_slice(bytes);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<Self::Output> {
        Ok(self.0)
    }
}

/// Decodes a value, refusing trailing bytes.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    decode_borrowed(bytes)
}

/// [`decode`] for types that may borrow from `bytes` (`&str`).
fn decode_borrowed<'de, T: Deserialize<'de>>(bytes: &'de [u8]) -> Result<T> {
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

/// [`decode`] from an owned plaintext buffer. A `String` takes the buffer over (its bytes move
/// down over the length prefix) instead of being copied into a new allocation; any other type
/// is decoded as by [`decode`]. Either way no copy of the plaintext is left in freed memory
/// beyond what the returned value holds, and the result equals [`decode`]'s.
///
/// ```
/// use zeroize::Zeroizing;
/// let bytes = encx::codec::encode("Ada")?;
/// let text: String = encx::codec::decode_owned(Zeroizing::new(bytes.to_vec()))?;
/// assert_eq!(text, "Ada");
/// # Ok::<(), encx::Error>(())
/// ```
pub fn decode_owned<T: DeserializeOwned + 'static>(plaintext: Zeroizing<Vec<u8>>) -> Result<T> {
    let mut out: Option<T> = None;
    if let Some(slot) = (&mut out as &mut dyn Any).downcast_mut::<Option<String>>() {
        *slot = Some(string_in_place(plaintext)?);
    } else {
        return decode(&plaintext);
    }
    out.ok_or_else(|| Error::Codec("cannot decode field value".into()))
}

/// A postcard-encoded string (length varint, UTF-8 bytes), decoded into its own buffer.
fn string_in_place(mut plaintext: Zeroizing<Vec<u8>>) -> Result<String> {
    // postcard checks the length prefix (a string is encoded as its bytes are); UTF-8 is
    // checked once, by `String::from_utf8`.
    let text_len = decode_borrowed::<&[u8]>(&plaintext)?.len();
    let prefix_len = plaintext.len() - text_len;
    plaintext.copy_within(prefix_len.., 0);
    // Wipe the tail the move left behind before giving up the zeroizing wrapper.
    plaintext[text_len..].fill(0);
    let mut bytes = std::mem::take(&mut *plaintext);
    bytes.truncate(text_len);
    String::from_utf8(bytes).map_err(|e| {
        drop(Zeroizing::new(e.into_bytes()));
        Error::Codec("cannot decode field value: invalid UTF-8".into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(bytes: Vec<u8>) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(bytes)
    }

    #[test]
    fn strings_decode_in_their_own_buffer() {
        // Lengths around the one- and two-byte varint boundary, and multi-byte UTF-8.
        for text in [
            String::new(),
            "a".to_owned(),
            "x".repeat(127),
            "y".repeat(128),
            "ü€😀".repeat(100),
        ] {
            let encoded = encode(&text).expect("encode");
            let capacity = encoded.len();
            let decoded: String = decode_owned(owned(encoded.to_vec())).expect("decode");
            assert_eq!(decoded, text);
            assert!(decoded.capacity() <= capacity);
        }
    }

    #[test]
    fn strings_in_place_refuse_what_decode_refuses() {
        let mut long = encode("hello").expect("encode").to_vec();
        long.push(0);
        let short = &encode("hello").expect("encode")[..4];
        let bad_utf8 = vec![2, 0xC3, 0x28];
        for bytes in [long, short.to_vec(), bad_utf8, vec![], vec![0x80]] {
            assert!(decode::<String>(&bytes).is_err());
            assert!(matches!(
                decode_owned::<String>(owned(bytes)),
                Err(Error::Codec(_))
            ));
        }
    }

    #[test]
    fn other_types_decode_as_before() {
        let value = (7u32, Some("z".to_owned()), vec![1u8, 2, 3]);
        let encoded = encode(&value).expect("encode");
        let decoded: (u32, Option<String>, Vec<u8>) =
            decode_owned(owned(encoded.to_vec())).expect("decode");
        assert_eq!(decoded, value);
    }
}
