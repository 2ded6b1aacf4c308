//! Field encryption: AES-256-GCM with context-binding AAD, in two formats (`docs/format.md`
//! §1) that differ only in how the value is encoded before encryption:
//!
//! ```text
//! format 1: 0x01 | nonce (12 bytes, OS RNG) | AES-GCM(postcard(value)) | tag (16)
//!           AAD = "encx:v1" | u32be(len) table | u32be(len) column | u32be(len) record id
//! format 2: 0x02 | nonce (12 bytes, OS RNG) | AES-GCM(the value's bytes) | tag (16)
//!           AAD = "encx:v2" | u32be(len) table | u32be(len) column | u32be(len) record id
//! ```
//!
//! Format 2 ("bare") holds a value that is one string or one byte string, without postcard's
//! length prefix, so that a `String` opens straight into its own buffer. The two AAD labels
//! differ, so that changing the format byte of a stored field makes it fail to open instead of
//! decoding its bytes the other way.
//!
//! ```
//! use encx::cipher::{FieldCipher, FieldContext};
//! use encx::Dek;
//!
//! let dek = Dek::generate()?;
//! let cipher = FieldCipher::new(&dek)?;
//! let ctx = FieldContext::new("users", "email", b"user-1");
//! let sealed = cipher.seal(&ctx, b"ada@example.com")?;
//! assert_eq!(&cipher.open(&ctx, &sealed)?[..], b"ada@example.com");
//!
//! // The same bytes under another column do not open.
//! let moved = FieldContext::new("users", "phone", b"user-1");
//! assert!(matches!(cipher.open(&moved, &sealed), Err(encx::Error::Tampered)));
//! # Ok::<(), encx::Error>(())
//! ```

use serde::de::DeserializeOwned;
use serde::Serialize;
use zeroize::Zeroizing;

use crate::aead::{AeadKey, Backend};
use crate::codec;
use crate::error::{Error, Result};
use crate::keys::Dek;
use crate::rng;

/// First byte of a format-1 field ciphertext (the value in postcard).
pub const FORMAT_V1: u8 = 0x01;
/// First byte of a format-2 field ciphertext (a string or byte string, bare).
pub const FORMAT_BARE: u8 = 0x02;
pub use crate::aead::{NONCE_LEN, TAG_LEN};
/// Bytes a sealed field adds to its plaintext: format byte, nonce, tag.
pub const OVERHEAD: usize = 1 + NONCE_LEN + TAG_LEN;

const AAD_LABEL: &[u8] = b"encx:v1";
const AAD_LABEL_BARE: &[u8] = b"encx:v2";

/// The AAD label of a field format byte, or `None` for a byte that is no field format.
fn aad_label(format: u8) -> Option<&'static [u8]> {
    match format {
        FORMAT_V1 => Some(AAD_LABEL),
        FORMAT_BARE => Some(AAD_LABEL_BARE),
        _ => None,
    }
}

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
        self.with_labeled_aad(AAD_LABEL, f)
    }

    fn with_labeled_aad<R>(&self, label: &[u8], f: impl FnOnce(&[u8]) -> R) -> R {
        with_framed_aad(
            label,
            &[
                self.table.as_bytes(),
                self.column.as_bytes(),
                self.record_id,
            ],
            &[],
            f,
        )
    }

    /// The exact AAD bytes of this context for format 1.
    pub fn aad(&self) -> Vec<u8> {
        self.labeled_aad(AAD_LABEL)
    }

    /// The exact AAD bytes of this context for format 2 (bare values).
    pub fn bare_aad(&self) -> Vec<u8> {
        self.labeled_aad(AAD_LABEL_BARE)
    }

    fn labeled_aad(&self, label: &[u8]) -> Vec<u8> {
        let mut aad = Vec::with_capacity(
            label.len() + 12 + self.table.len() + self.column.len() + self.record_id.len(),
        );
        aad.extend_from_slice(label);
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
const AAD_INLINE: usize = 160;

/// Calls `f` with `label | lp(part)... | tail` (each part prefixed by its `u32be` length, as
/// [`push_len_prefixed`] writes it), built on the stack when it fits in [`AAD_INLINE`] bytes,
/// else in a `Vec`. The AAD framing of field ciphertexts and wrapped DEKs.
pub(crate) fn with_framed_aad<R>(
    label: &[u8],
    parts: &[&[u8]],
    tail: &[u8],
    f: impl FnOnce(&[u8]) -> R,
) -> R {
    // `len` only picks the buffer: both paths write the same bytes (known-answer tests at AAD
    // lengths 159-168). Overestimating it, or sending exactly 160 bytes to the heap, changes
    // nothing but speed; these two mutants are listed as equivalent in .cargo/mutants.toml.
    let len = label.len() + tail.len() + parts.iter().map(|p| 4 + p.len()).sum::<usize>();
    if len > AAD_INLINE {
        let mut aad = Vec::with_capacity(len);
        aad.extend_from_slice(label);
        for part in parts {
            push_len_prefixed(&mut aad, part);
        }
        aad.extend_from_slice(tail);
        return f(&aad);
    }
    let mut buf = [0u8; AAD_INLINE];
    let mut at = 0;
    let mut put = |bytes: &[u8]| {
        buf[at..at + bytes.len()].copy_from_slice(bytes);
        at += bytes.len();
    };
    put(label);
    for part in parts {
        // Every part is shorter than AAD_INLINE (checked above), so the cast is exact.
        put(&(part.len() as u32).to_be_bytes());
        put(part);
    }
    put(tail);
    f(&buf[..at])
}

/// Appends `u32be(len) | bytes`. Lengths over 4 GiB cannot occur for names and ids in practice;
/// they are clamped rather than allowed to wrap, which would make the framing ambiguous.
pub(crate) fn push_len_prefixed(out: &mut Vec<u8>, part: &[u8]) {
    let len = u32::try_from(part.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(part);
}

/// AES-256-GCM keyed with one DEK, set up once and used for every field of a record.
pub struct FieldCipher {
    key: AeadKey,
    /// The DEK was generated for this one record: nonces may come from the thread's pool.
    single_record_key: bool,
    /// `seal_value` stores strings and byte strings in format 2 (else every value in format 1).
    bare: bool,
}

impl std::fmt::Debug for FieldCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FieldCipher(..)")
    }
}

impl FieldCipher {
    /// Sets up the cipher for `dek` on the process's AES-GCM backend ([`Backend::current`]).
    pub fn new(dek: &Dek) -> Result<Self> {
        Self::with_backend(dek, Backend::current())
    }

    /// Sets up the cipher for `dek` on a given backend (the bytes are the same on every one).
    ///
    /// ```
    /// use encx::aead::Backend;
    /// use encx::cipher::{FieldCipher, FieldContext};
    /// let dek = encx::Dek::generate()?;
    /// let ctx = FieldContext::new("users", "email", b"user-1");
    /// let sealed = FieldCipher::with_backend(&dek, Backend::RustCrypto)?.seal(&ctx, b"x")?;
    /// for backend in Backend::available() {
    ///     let opened = FieldCipher::with_backend(&dek, backend)?.open(&ctx, &sealed)?;
    ///     assert_eq!(&opened[..], b"x");
    /// }
    /// # Ok::<(), encx::Error>(())
    /// ```
    pub fn with_backend(dek: &Dek, backend: Backend) -> Result<Self> {
        Ok(FieldCipher {
            key: AeadKey::with_backend(backend, dek.expose_secret())?,
            single_record_key: false,
            bare: true,
        })
    }

    /// For a DEK generated a moment ago for one record (the path of `Crypto::seal_record`).
    pub(crate) fn for_new_record_key(dek: &Dek, backend: Backend) -> Result<Self> {
        Ok(FieldCipher {
            key: AeadKey::with_backend(backend, dek.expose_secret())?,
            single_record_key: true,
            bare: true,
        })
    }

    /// Makes [`seal_value`](Self::seal_value) write every value in format 1 (postcard), as encx
    /// did before format 2: for a rolling upgrade, while processes that read only format 1 may
    /// still read what this one writes. Opening reads both formats either way.
    ///
    /// ```
    /// use encx::cipher::{FieldCipher, FieldContext, FORMAT_BARE, FORMAT_V1};
    /// let dek = encx::Dek::generate()?;
    /// let ctx = FieldContext::new("users", "email", b"user-1");
    /// let cipher = FieldCipher::new(&dek)?;
    /// assert_eq!(cipher.seal_value(&ctx, "ada@example.com")?[0], FORMAT_BARE);
    /// let cipher = FieldCipher::new(&dek)?.format_1_only();
    /// assert_eq!(cipher.seal_value(&ctx, "ada@example.com")?[0], FORMAT_V1);
    /// # Ok::<(), encx::Error>(())
    /// ```
    pub fn format_1_only(mut self) -> Self {
        self.bare = false;
        self
    }

    /// [`format_1_only`](Self::format_1_only) when `yes`.
    pub(crate) fn writing_format_1_only(self, yes: bool) -> Self {
        if yes {
            self.format_1_only()
        } else {
            self
        }
    }

    fn nonce(&self) -> Result<[u8; NONCE_LEN]> {
        let mut nonce = [0u8; NONCE_LEN];
        if self.single_record_key {
            rng::fill_pooled(&mut nonce)?;
        } else {
            rng::fill(&mut nonce)?;
        }
        Ok(nonce)
    }

    /// Encrypts `plaintext` bound to `ctx`, with a fresh random nonce, in format 1: the
    /// caller's bytes are the postcard plaintext (see [`seal_value`](Self::seal_value) to
    /// encode a value).
    ///
    /// Nonces come from one `getrandom` call each, or, for a DEK generated for one record by
    /// `Crypto::seal_record`, from the thread's pool of OS random bytes (see the `rng` notes
    /// in `docs/format.md`).
    pub fn seal(&self, ctx: &FieldContext<'_>, plaintext: &[u8]) -> Result<Vec<u8>> {
        let nonce = self.nonce()?;
        let mut out = sealed_buffer(FORMAT_V1, &nonce, plaintext.len());
        out.extend_from_slice(plaintext);
        ctx.with_aad(|aad| seal_tail(&self.key, &nonce, aad, out))
    }

    /// Encodes `value` straight into the output buffer, after the format byte and nonce, and
    /// seals it there: one allocation, no copy of the plaintext. A string or byte string
    /// ([`codec::bare_len`]) is stored bare, in format 2; any other value in format 1, the same
    /// bytes as `seal(ctx, &codec::encode(value)?)`. [`open_value`](Self::open_value) reads
    /// both.
    ///
    /// ```
    /// use encx::cipher::{FieldCipher, FieldContext};
    /// let cipher = FieldCipher::new(&encx::Dek::generate()?)?;
    /// let ctx = FieldContext::new("users", "email", b"user-1");
    /// let email = cipher.seal_value(&ctx, "ada@example.com")?;
    /// let age = cipher.seal_value(&ctx, &36u32)?;
    /// assert_eq!(cipher.open_value::<String>(&ctx, &email)?, "ada@example.com");
    /// assert_eq!(cipher.open_value::<u32>(&ctx, &age)?, 36);
    /// # Ok::<(), encx::Error>(())
    /// ```
    pub fn seal_value<T: Serialize + ?Sized>(
        &self,
        ctx: &FieldContext<'_>,
        value: &T,
    ) -> Result<Vec<u8>> {
        let bare = if self.bare {
            codec::bare_len(value)
        } else {
            None
        };
        let nonce = self.nonce()?;
        if let Some(size) = bare {
            let mut out = sealed_buffer(FORMAT_BARE, &nonce, size);
            codec::encode_bare_into(value, &mut out)?;
            return ctx
                .with_labeled_aad(AAD_LABEL_BARE, |aad| seal_tail(&self.key, &nonce, aad, out));
        }
        let size = codec::encoded_len(value)?;
        let mut out = sealed_buffer(FORMAT_V1, &nonce, size);
        codec::encode_into(value, &mut out)?;
        ctx.with_aad(|aad| seal_tail(&self.key, &nonce, aad, out))
    }

    /// Decrypts a format-1 field into its postcard plaintext (what [`seal`](Self::seal)
    /// wrote). Any malformed, truncated, altered or moved input gives [`Error::Tampered`] (or
    /// [`Error::UnsupportedFormat`] for another first byte, format 2 included: its plaintext is
    /// no postcard, read it with [`open_value`](Self::open_value)).
    pub fn open(&self, ctx: &FieldContext<'_>, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        ctx.with_aad(|aad| open_with(&self.key, aad, sealed, "field ciphertext"))
    }

    /// Decrypts and decodes a field of either format (what [`seal_value`](Self::seal_value)
    /// wrote). A `String` takes the decrypted buffer over: in format 2 with no byte moved. The
    /// errors are [`open`](Self::open)'s, and [`Error::Codec`] when the stored value does not
    /// decode as `T`.
    pub fn open_value<T: DeserializeOwned + 'static>(
        &self,
        ctx: &FieldContext<'_>,
        sealed: &[u8],
    ) -> Result<T> {
        let (&format, rest) = sealed.split_first().ok_or(Error::Tampered)?;
        let label = aad_label(format).ok_or(Error::UnsupportedFormat {
            what: "field ciphertext",
            version: format,
        })?;
        let plaintext = ctx.with_labeled_aad(label, |aad| open_parts(&self.key, aad, rest))?;
        if format == FORMAT_BARE {
            codec::decode_bare(plaintext)
        } else {
            codec::decode_owned(plaintext)
        }
    }
}

/// `format | nonce` in a buffer wiped on drop, with room for a `body_len`-byte plaintext and
/// the tag: what the seal functions write the plaintext into.
fn sealed_buffer(format: u8, nonce: &[u8; NONCE_LEN], body_len: usize) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(OVERHEAD + body_len));
    out.push(format);
    out.extend_from_slice(nonce);
    out
}

/// Seals `out[1 + NONCE_LEN..]` (the plaintext after format byte and nonce) in place and
/// appends the tag. `out` holds plaintext until then and is wiped if anything fails.
fn seal_tail(
    key: &AeadKey,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    mut out: Zeroizing<Vec<u8>>,
) -> Result<Vec<u8>> {
    let tag = key.seal_in_place(nonce, aad, &mut out[1 + NONCE_LEN..])?;
    out.extend_from_slice(&tag);
    // Ciphertext from here on: hand the buffer out without wiping it.
    Ok(std::mem::take(&mut *out))
}

/// `FORMAT_V1 | nonce | AES-GCM(plaintext, aad) | tag` with a nonce chosen by the caller, who
/// guarantees it is fresh for this key (the known-answer tests).
#[cfg(test)]
pub(crate) fn seal_with_nonce(
    key: &AeadKey,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    let mut out = sealed_buffer(FORMAT_V1, nonce, plaintext.len());
    out.extend_from_slice(plaintext);
    seal_tail(key, nonce, aad, out)
}

/// Inverse of the seal functions above. Never panics on any input.
pub(crate) fn open_with(
    key: &AeadKey,
    aad: &[u8],
    sealed: &[u8],
    what: &'static str,
) -> Result<Zeroizing<Vec<u8>>> {
    let (&version, rest) = sealed.split_first().ok_or(Error::Tampered)?;
    if version != FORMAT_V1 {
        return Err(Error::UnsupportedFormat { what, version });
    }
    open_parts(key, aad, rest)
}

/// Opens `nonce | ciphertext | tag` (no format byte) into a new buffer. Never panics on any
/// input.
pub(crate) fn open_parts(
    key: &AeadKey,
    aad: &[u8],
    nonce_body_tag: &[u8],
) -> Result<Zeroizing<Vec<u8>>> {
    if nonce_body_tag.len() < NONCE_LEN + TAG_LEN {
        return Err(Error::Tampered);
    }
    let (nonce, rest) = nonce_body_tag.split_at(NONCE_LEN);
    let (body, tag) = rest.split_at(rest.len() - TAG_LEN);
    let nonce: &[u8; NONCE_LEN] = nonce.try_into().map_err(|_| Error::Tampered)?;
    let tag: &[u8; TAG_LEN] = tag.try_into().map_err(|_| Error::Tampered)?;
    let mut plaintext = Zeroizing::new(vec![0u8; body.len()]);
    key.open_into(nonce, aad, body, tag, &mut plaintext)?;
    Ok(plaintext)
}
