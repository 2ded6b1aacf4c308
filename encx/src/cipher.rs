//! Field encryption: AES-256-GCM with the v1 wire format and context-binding AAD.
//!
//! Layout of a sealed field (`docs/format.md`):
//!
//! ```text
//! 0x01 | nonce (12 bytes, OS RNG) | ciphertext (len of plaintext) | tag (16)
//! AAD = "encx:v1" | u32be(len) table | u32be(len) column | u32be(len) record id
//! ```
//!
//! ```
//! use encx::cipher::{FieldCipher, FieldContext};
//! use encx::Dek;
//!
//! let dek = Dek::generate()?;
//! let cipher = FieldCipher::new(&dek);
//! let ctx = FieldContext::new("users", "email", b"user-1");
//! let sealed = cipher.seal(&ctx, b"ada@example.com")?;
//! assert_eq!(&cipher.open(&ctx, &sealed)?[..], b"ada@example.com");
//!
//! // The same bytes under another column do not open.
//! let moved = FieldContext::new("users", "phone", b"user-1");
//! assert!(matches!(cipher.open(&moved, &sealed), Err(encx::Error::Tampered)));
//! # Ok::<(), encx::Error>(())
//! ```

use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::keys::material::aes_cipher;
use crate::keys::Dek;
use crate::rng;

/// First byte of every v1 field ciphertext.
pub const FORMAT_V1: u8 = 0x01;
/// Length of the AES-GCM nonce.
pub const NONCE_LEN: usize = 12;
/// Length of the AES-GCM tag.
pub const TAG_LEN: usize = 16;
/// Bytes a sealed field adds to its plaintext: format byte, nonce, tag.
pub const OVERHEAD: usize = 1 + NONCE_LEN + TAG_LEN;

const AAD_LABEL: &[u8] = b"encx:v1";

/// Where a field ciphertext belongs: its table, column and record id. Bound as AAD, so a
/// ciphertext moved anywhere else fails to open.
#[derive(Debug, Clone, Copy)]
pub struct FieldContext<'a> {
    /// Table name.
    pub table: &'a str,
    /// Column name of the field.
    pub column: &'a str,
    /// The record id's bytes (see [`RecordId`](crate::RecordId)).
    pub record_id: &'a [u8],
}

impl<'a> FieldContext<'a> {
    /// A context from its three parts.
    pub fn new(table: &'a str, column: &'a str, record_id: &'a [u8]) -> Self {
        FieldContext {
            table,
            column,
            record_id,
        }
    }

    /// Calls `f` with the AAD of this context, built in a stack buffer when it fits (the usual
    /// case) so that no allocation and no copy of the buffer happens per field.
    pub(crate) fn with_aad<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        let len =
            AAD_LABEL.len() + 12 + self.table.len() + self.column.len() + self.record_id.len();
        if len > AAD_INLINE {
            return f(&self.aad());
        }
        let mut buf = [0u8; AAD_INLINE];
        let mut at = 0;
        let mut put = |bytes: &[u8]| {
            buf[at..at + bytes.len()].copy_from_slice(bytes);
            at += bytes.len();
        };
        put(AAD_LABEL);
        for part in [
            self.table.as_bytes(),
            self.column.as_bytes(),
            self.record_id,
        ] {
            // Every part is shorter than AAD_INLINE (checked above), so the cast is exact.
            put(&(part.len() as u32).to_be_bytes());
            put(part);
        }
        f(&buf[..at])
    }

    /// The exact AAD bytes of this context.
    pub fn aad(&self) -> Vec<u8> {
        let mut aad = Vec::with_capacity(
            AAD_LABEL.len() + 12 + self.table.len() + self.column.len() + self.record_id.len(),
        );
        aad.extend_from_slice(AAD_LABEL);
        for part in [
            self.table.as_bytes(),
            self.column.as_bytes(),
            self.record_id,
        ] {
            push_len_prefixed(&mut aad, part);
        }
        aad
    }
}

/// Longest AAD kept on the stack.
const AAD_INLINE: usize = 128;

/// Appends `u32be(len) | bytes`. Lengths over 4 GiB cannot occur for names and ids in practice;
/// they are clamped rather than allowed to wrap, which would make the framing ambiguous.
pub(crate) fn push_len_prefixed(out: &mut Vec<u8>, part: &[u8]) {
    let len = u32::try_from(part.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(part);
}

/// AES-256-GCM keyed with one DEK, set up once and used for every field of a record.
pub struct FieldCipher {
    /// Boxed: the key schedules are about 500 bytes, and a record's cipher moves through
    /// several layers (opener, result, async state); boxing makes each move a pointer copy.
    aead: Box<Aes256Gcm>,
    /// The DEK was generated for this one record: nonces may come from the thread's pool.
    single_record_key: bool,
}

impl std::fmt::Debug for FieldCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FieldCipher(..)")
    }
}

impl FieldCipher {
    /// Sets up the cipher for `dek`.
    pub fn new(dek: &Dek) -> Self {
        FieldCipher {
            aead: Box::new(aes_cipher(dek.expose_secret())),
            single_record_key: false,
        }
    }

    /// For a DEK generated a moment ago for one record (the path of `Crypto::seal_record`).
    pub(crate) fn for_new_record_key(dek: &Dek) -> Self {
        FieldCipher {
            aead: Box::new(aes_cipher(dek.expose_secret())),
            single_record_key: true,
        }
    }

    /// Encrypts `plaintext` bound to `ctx`, with a fresh random nonce.
    ///
    /// Nonces come from one `getrandom` call each, or, for a DEK generated for one record by
    /// `Crypto::seal_record`, from the thread's pool of OS random bytes (see the `rng` notes
    /// in `docs/format.md`).
    pub fn seal(&self, ctx: &FieldContext<'_>, plaintext: &[u8]) -> Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        if self.single_record_key {
            rng::fill_pooled(&mut nonce)?;
        } else {
            rng::fill(&mut nonce)?;
        }
        ctx.with_aad(|aad| seal_with_nonce(&self.aead, &nonce, aad, plaintext))
    }

    /// Decrypts a sealed field. Any malformed, truncated, altered or moved input gives
    /// [`Error::Tampered`] (or [`Error::UnsupportedFormat`] for an unknown first byte).
    pub fn open(&self, ctx: &FieldContext<'_>, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        ctx.with_aad(|aad| open_with(&self.aead, aad, sealed, "field ciphertext"))
    }
}

/// `FORMAT_V1 | nonce | AES-GCM(plaintext, aad) | tag`, in one allocation, with a nonce chosen
/// by the caller, who guarantees it is fresh for this key.
fn seal_with_nonce(
    aead: &Aes256Gcm,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(OVERHEAD + plaintext.len());
    out.push(FORMAT_V1);
    out.extend_from_slice(nonce);
    out.extend_from_slice(plaintext);
    let tag = aead
        .encrypt_in_place_detached(Nonce::from_slice(nonce), aad, &mut out[1 + NONCE_LEN..])
        .map_err(|_| Error::config("plaintext too long for AES-GCM"))?;
    out.extend_from_slice(&tag);
    Ok(out)
}

/// Inverse of [`seal_with`]. Never panics on any input.
pub(crate) fn open_with(
    aead: &Aes256Gcm,
    aad: &[u8],
    sealed: &[u8],
    what: &'static str,
) -> Result<Zeroizing<Vec<u8>>> {
    let (&version, rest) = sealed.split_first().ok_or(Error::Tampered)?;
    if version != FORMAT_V1 {
        return Err(Error::UnsupportedFormat { what, version });
    }
    open_parts(aead, aad, rest)
}

/// Opens `nonce | ciphertext | tag` (no format byte). Never panics on any input.
pub(crate) fn open_parts(
    aead: &Aes256Gcm,
    aad: &[u8],
    nonce_body_tag: &[u8],
) -> Result<Zeroizing<Vec<u8>>> {
    if nonce_body_tag.len() < NONCE_LEN + TAG_LEN {
        return Err(Error::Tampered);
    }
    let (nonce, rest) = nonce_body_tag.split_at(NONCE_LEN);
    let (body, tag) = rest.split_at(rest.len() - TAG_LEN);
    let mut plaintext = Zeroizing::new(body.to_vec());
    aead.decrypt_in_place_detached(
        Nonce::from_slice(nonce),
        aad,
        &mut plaintext,
        Tag::from_slice(tag),
    )
    .map_err(|_| Error::Tampered)?;
    Ok(plaintext)
}

#[cfg(test)]
mod known_answers {
    //! AES-256 test cases 13-16 of McGrew & Viega, "The Galois/Counter Mode of Operation",
    //! the vectors NIST's GCM validation also uses. Each is checked through encx's own seal and
    //! open paths: the blob is `0x01 | IV | C | T`.
    use super::*;
    use crate::keys::material::aes_cipher;

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s).expect("test vector hex")
    }

    struct Case {
        key: &'static str,
        iv: &'static str,
        plaintext: &'static str,
        aad: &'static str,
        ciphertext: &'static str,
        tag: &'static str,
    }

    const K15: &str = "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308";
    const P15: &str = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255";
    const C15: &str = "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad";

    const CASES: [Case; 4] = [
        Case { key: "0000000000000000000000000000000000000000000000000000000000000000", iv: "000000000000000000000000", plaintext: "", aad: "", ciphertext: "", tag: "530f8afbc74536b9a963b4f1c4cb738b" },
        Case { key: "0000000000000000000000000000000000000000000000000000000000000000", iv: "000000000000000000000000", plaintext: "00000000000000000000000000000000", aad: "", ciphertext: "cea7403d4d606b6e074ec5d3baf39d18", tag: "d0d1c8a799996bf0265b98b5d48ab919" },
        Case { key: K15, iv: "cafebabefacedbaddecaf888", plaintext: P15, aad: "", ciphertext: C15, tag: "b094dac5d93471bdec1a502270e3cc6c" },
        Case { key: K15, iv: "cafebabefacedbaddecaf888", plaintext: "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39", aad: "feedfacedeadbeeffeedfacedeadbeefabaddad2", ciphertext: "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662", tag: "76fc6ece0f4e1768cddf8853bb2d551b" },
    ];

    #[test]
    fn stack_and_heap_aad_are_the_documented_bytes() {
        let long = "t".repeat(300);
        for ctx in [
            FieldContext::new("users", "email", &[0, 0, 0, 0, 0, 0, 0, 7]),
            FieldContext::new(&long, "c", b"id"),
            FieldContext::new("", "", b""),
        ] {
            assert_eq!(ctx.with_aad(<[u8]>::to_vec), ctx.aad());
        }
        // docs/format.md's worked example.
        let doc =
            "656e63783a7631 00000005 7573657273 00000005 656d61696c 00000008 0000000000000007";
        let ctx = FieldContext::new("users", "email", &[0, 0, 0, 0, 0, 0, 0, 7]);
        assert_eq!(
            hex::encode(ctx.with_aad(<[u8]>::to_vec)),
            doc.replace(' ', "")
        );
    }

    #[test]
    fn seal_matches_published_vectors() {
        for (n, case) in CASES.iter().enumerate() {
            let key: [u8; 32] = unhex(case.key).try_into().expect("32-byte key");
            let iv: [u8; 12] = unhex(case.iv).try_into().expect("12-byte IV");
            let sealed = seal_with_nonce(
                &aes_cipher(&key),
                &iv,
                &unhex(case.aad),
                &unhex(case.plaintext),
            )
            .expect("seal");
            let expected = [
                vec![FORMAT_V1],
                iv.to_vec(),
                unhex(case.ciphertext),
                unhex(case.tag),
            ]
            .concat();
            assert_eq!(hex::encode(&sealed), hex::encode(&expected), "case {n}");
        }
    }

    #[test]
    fn open_accepts_published_vectors_and_rejects_a_flipped_tag() {
        for (n, case) in CASES.iter().enumerate() {
            let key: [u8; 32] = unhex(case.key).try_into().expect("32-byte key");
            let aead = aes_cipher(&key);
            let blob = [
                vec![FORMAT_V1],
                unhex(case.iv),
                unhex(case.ciphertext),
                unhex(case.tag),
            ]
            .concat();
            let opened = open_with(&aead, &unhex(case.aad), &blob, "test").expect("open");
            assert_eq!(hex::encode(&*opened), case.plaintext, "case {n}");
            let mut bad = blob.clone();
            *bad.last_mut().expect("tag") ^= 1;
            assert!(matches!(
                open_with(&aead, &unhex(case.aad), &bad, "test"),
                Err(Error::Tampered)
            ));
        }
    }
}
