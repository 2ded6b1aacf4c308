//! The bare encoding of format-2 field ciphertexts (`docs/format.md` §1): a value that
//! serializes as one string or one byte string (`String`, `&str`, `Box<str>`, a
//! `#[serde(transparent)]` newtype of one, chrono's and time's dates, a `Uuid`, a
//! `serde_bytes::ByteBuf`) is stored as those bytes alone, without postcard's length prefix:
//! the ciphertext's length gives it. A `String` then opens straight into its own buffer, with
//! no byte moved after decryption.
//!
//! Whether a value is bare is asked of its `Serialize` implementation, not of its type name:
//! [`bare_len`] runs it against a serializer that accepts one `serialize_str` or
//! `serialize_bytes` (through newtype structs) and refuses anything else at the first call.

use std::any::Any;
use std::fmt;

use serde::de::{self, DeserializeOwned, Visitor};
use serde::ser::{self, Impossible, Serialize};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// The bare length of `value`'s encoding, or `None` when the value is not one string or one
/// byte string (then it is stored in format 1, postcard).
///
/// ```
/// assert_eq!(encx::codec::bare_len("Ada"), Some(3));
/// assert_eq!(encx::codec::bare_len(&36u8), None);
/// assert_eq!(encx::codec::bare_len(&Some("Ada")), None);
/// ```
pub fn bare_len<T: Serialize + ?Sized>(value: &T) -> Option<usize> {
    value.serialize(BareSerializer { out: None }).ok()
}

/// `value`'s bare encoding, or `None` when it is not one string or one byte string.
///
/// ```
/// let bytes = encx::codec::encode_bare("Ada")?.expect("a string is bare");
/// assert_eq!(&bytes[..], b"Ada");
/// assert!(encx::codec::encode_bare(&7u8)?.is_none());
/// # Ok::<(), encx::Error>(())
/// ```
pub fn encode_bare<T: Serialize + ?Sized>(value: &T) -> Result<Option<Zeroizing<Vec<u8>>>> {
    let Some(len) = bare_len(value) else {
        return Ok(None);
    };
    let mut out = Zeroizing::new(Vec::with_capacity(len));
    encode_bare_into(value, &mut out)?;
    Ok(Some(out))
}

/// Appends `value`'s bare encoding to `out`, which must have room for [`bare_len`] more
/// bytes: a value that writes more than it measured is refused ([`Error::Codec`]) rather than
/// let `out` grow and leave a copy behind in freed memory.
pub(crate) fn encode_bare_into<T: Serialize + ?Sized>(
    value: &T,
    out: &mut Zeroizing<Vec<u8>>,
) -> Result<()> {
    value
        .serialize(BareSerializer { out: Some(out) })
        .map(drop)
        // serde's error texts can quote the value: none of it reaches the error.
        .map_err(|_| {
            Error::Codec("cannot encode field value as a bare string or byte string".into())
        })
}

/// Decodes a bare plaintext. A `String` takes the buffer over (no copy, no move); any other
/// type is deserialized from bytes borrowed from `plaintext`, which is wiped as it drops.
///
/// ```
/// use zeroize::Zeroizing;
/// let text: String = encx::codec::decode_bare(Zeroizing::new(b"Ada".to_vec()))?;
/// assert_eq!(text, "Ada");
/// let id: uuid::Uuid = encx::codec::decode_bare(Zeroizing::new(vec![7; 16]))?;
/// assert_eq!(id.as_bytes(), &[7; 16]);
/// assert!(encx::codec::decode_bare::<u32>(Zeroizing::new(b"7".to_vec())).is_err());
/// # Ok::<(), encx::Error>(())
/// ```
pub fn decode_bare<T: DeserializeOwned + 'static>(mut plaintext: Zeroizing<Vec<u8>>) -> Result<T> {
    let mut out: Option<T> = None;
    if let Some(slot) = (&mut out as &mut dyn Any).downcast_mut::<Option<String>>() {
        let bytes = std::mem::take(&mut *plaintext);
        let text = String::from_utf8(bytes).map_err(|e| {
            drop(Zeroizing::new(e.into_bytes()));
            invalid_utf8()
        })?;
        *slot = Some(text);
        return out.ok_or_else(|| Error::Codec("cannot decode field value".into()));
    }
    T::deserialize(BareDeserializer { bytes: &plaintext })
        // serde's error texts quote the value ("invalid type: string \"…\""): none of it
        // reaches the error.
        .map_err(|_| {
            Error::Codec(
                "cannot decode field value: the stored string or byte string is not this type \
                 (stored type differs from the Rust type?)"
                    .into(),
            )
        })
}

fn invalid_utf8() -> Error {
    Error::Codec("cannot decode field value: invalid UTF-8".into())
}

/// The error of both bare serde halves: the value is not bare, or does not decode from it.
#[derive(Debug)]
struct BareError(String);

impl fmt::Display for BareError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BareError {}

impl ser::Error for BareError {
    fn custom<M: fmt::Display>(msg: M) -> Self {
        BareError(msg.to_string())
    }
}

impl de::Error for BareError {
    fn custom<M: fmt::Display>(msg: M) -> Self {
        BareError(msg.to_string())
    }
}

fn not_bare() -> std::result::Result<usize, BareError> {
    Err(BareError("not a string or byte string".into()))
}

/// Measures (`out: None`) or writes a bare value; the result is its length.
struct BareSerializer<'o> {
    out: Option<&'o mut Zeroizing<Vec<u8>>>,
}

impl BareSerializer<'_> {
    fn bytes(self, bytes: &[u8]) -> std::result::Result<usize, BareError> {
        if let Some(out) = self.out {
            if out.capacity() - out.len() < bytes.len() {
                return Err(BareError(
                    "the value wrote more bytes than it measured".into(),
                ));
            }
            out.extend_from_slice(bytes);
        }
        Ok(bytes.len())
    }
}

macro_rules! refuse {
    ($($method:ident($($arg:ty),*);)*) => {
        $(fn $method(self, $(_: $arg),*) -> std::result::Result<usize, BareError> {
            not_bare()
        })*
    };
}

impl ser::Serializer for BareSerializer<'_> {
    type Ok = usize;
    type Error = BareError;
    type SerializeSeq = Impossible<usize, BareError>;
    type SerializeTuple = Impossible<usize, BareError>;
    type SerializeTupleStruct = Impossible<usize, BareError>;
    type SerializeTupleVariant = Impossible<usize, BareError>;
    type SerializeMap = Impossible<usize, BareError>;
    type SerializeStruct = Impossible<usize, BareError>;
    type SerializeStructVariant = Impossible<usize, BareError>;

    fn serialize_str(self, v: &str) -> std::result::Result<usize, BareError> {
        self.bytes(v.as_bytes())
    }

    fn serialize_bytes(self, v: &[u8]) -> std::result::Result<usize, BareError> {
        self.bytes(v)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> std::result::Result<usize, BareError> {
        value.serialize(self)
    }

    // postcard is not human-readable either: a type picks the same representation for both
    // encodings (a `Uuid` its 16 bytes, not its hyphenated text).
    fn is_human_readable(&self) -> bool {
        false
    }

    refuse! {
        serialize_bool(bool);
        serialize_i8(i8);
        serialize_i16(i16);
        serialize_i32(i32);
        serialize_i64(i64);
        serialize_i128(i128);
        serialize_u8(u8);
        serialize_u16(u16);
        serialize_u32(u32);
        serialize_u64(u64);
        serialize_u128(u128);
        serialize_f32(f32);
        serialize_f64(f64);
        serialize_char(char);
        serialize_none();
        serialize_unit();
        serialize_unit_struct(&'static str);
        serialize_unit_variant(&'static str, u32, &'static str);
    }

    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> std::result::Result<usize, BareError> {
        not_bare()
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> std::result::Result<usize, BareError> {
        not_bare()
    }

    fn serialize_seq(self, _: Option<usize>) -> std::result::Result<Self::SerializeSeq, BareError> {
        Err(BareError("a sequence is not bare".into()))
    }

    fn serialize_tuple(self, _: usize) -> std::result::Result<Self::SerializeTuple, BareError> {
        Err(BareError("a tuple is not bare".into()))
    }

    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> std::result::Result<Self::SerializeTupleStruct, BareError> {
        Err(BareError("a tuple struct is not bare".into()))
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> std::result::Result<Self::SerializeTupleVariant, BareError> {
        Err(BareError("an enum is not bare".into()))
    }

    fn serialize_map(self, _: Option<usize>) -> std::result::Result<Self::SerializeMap, BareError> {
        Err(BareError("a map is not bare".into()))
    }

    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> std::result::Result<Self::SerializeStruct, BareError> {
        Err(BareError("a struct is not bare".into()))
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> std::result::Result<Self::SerializeStructVariant, BareError> {
        Err(BareError("an enum is not bare".into()))
    }
}

/// Deserializes from a bare plaintext: a string when it is UTF-8 and asked for as one, else a
/// byte string; borrowed, so that nothing but the value itself copies the plaintext.
struct BareDeserializer<'de> {
    bytes: &'de [u8],
}

impl<'de> de::Deserializer<'de> for BareDeserializer<'de> {
    type Error = BareError;

    fn deserialize_any<V: Visitor<'de>>(
        self,
        visitor: V,
    ) -> std::result::Result<V::Value, BareError> {
        match std::str::from_utf8(self.bytes) {
            Ok(text) => visitor.visit_borrowed_str(text),
            Err(_) => visitor.visit_borrowed_bytes(self.bytes),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(
        self,
        visitor: V,
    ) -> std::result::Result<V::Value, BareError> {
        let text =
            std::str::from_utf8(self.bytes).map_err(|_| BareError("invalid UTF-8".into()))?;
        visitor.visit_borrowed_str(text)
    }

    fn deserialize_string<V: Visitor<'de>>(
        self,
        visitor: V,
    ) -> std::result::Result<V::Value, BareError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(
        self,
        visitor: V,
    ) -> std::result::Result<V::Value, BareError> {
        visitor.visit_borrowed_bytes(self.bytes)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(
        self,
        visitor: V,
    ) -> std::result::Result<V::Value, BareError> {
        visitor.visit_borrowed_bytes(self.bytes)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> std::result::Result<V::Value, BareError> {
        visitor.visit_newtype_struct(self)
    }

    fn is_human_readable(&self) -> bool {
        false
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char option unit unit_struct
        seq tuple tuple_struct map struct enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    #[serde(transparent)]
    struct Email(String);

    #[derive(serde::Serialize)]
    struct Pair(String, String);

    fn round_trip<T>(value: &T) -> T
    where
        T: Serialize + DeserializeOwned + 'static,
    {
        let len = bare_len(value).expect("bare");
        let mut out = Zeroizing::new(Vec::with_capacity(len));
        encode_bare_into(value, &mut out).expect("encode");
        assert_eq!(out.len(), len);
        decode_bare(out).expect("decode")
    }

    #[test]
    fn strings_and_byte_strings_are_bare() {
        for text in ["", "a", "ü€😀", &"x".repeat(70_000)] {
            assert_eq!(round_trip(&text.to_owned()), text);
            assert_eq!(bare_len(text), Some(text.len()));
        }
        assert_eq!(
            round_trip(&Email("ada@example.com".into())),
            Email("ada@example.com".into())
        );
        let id = uuid::Uuid::from_u128(0x1234);
        assert_eq!(bare_len(&id), Some(16));
        assert_eq!(round_trip(&id), id);
        let boxed: Box<str> = "boxed".into();
        assert_eq!(round_trip(&boxed), boxed);
    }

    #[test]
    fn everything_else_is_not_bare() {
        assert_eq!(bare_len(&7u32), None);
        assert_eq!(bare_len(&'c'), None);
        assert_eq!(bare_len(&Some("x")), None);
        assert_eq!(bare_len(&None::<String>), None);
        assert_eq!(bare_len(&vec![1u8, 2]), None);
        assert_eq!(bare_len(&("a", "b")), None);
        assert_eq!(bare_len(&Pair("a".into(), "b".into())), None);
        assert_eq!(bare_len(&()), None);
    }

    #[test]
    fn decoding_refuses_what_the_type_refuses() {
        let bad = Zeroizing::new(vec![0xC3, 0x28]);
        assert!(matches!(decode_bare::<String>(bad), Err(Error::Codec(_))));
        let bad = Zeroizing::new(vec![0xC3, 0x28]);
        assert!(matches!(decode_bare::<Email>(bad), Err(Error::Codec(_))));
        for wrong in [vec![], vec![1, 2, 3]] {
            assert!(decode_bare::<uuid::Uuid>(Zeroizing::new(wrong)).is_err());
        }
        let err = decode_bare::<u64>(Zeroizing::new(b"secret-12".to_vec())).expect_err("not a u64");
        assert!(matches!(err, Error::Codec(_)));
        assert!(!err.to_string().contains("secret"), "{err}");
        assert!(decode_bare::<Option<String>>(Zeroizing::new(b"x".to_vec())).is_err());
    }

    #[test]
    fn a_value_that_grows_between_measuring_and_writing_is_refused() {
        let mut out = Zeroizing::new(Vec::with_capacity(2));
        assert!(encode_bare_into("three", &mut out).is_err());
        assert!(out.len() <= 2);
    }
}
