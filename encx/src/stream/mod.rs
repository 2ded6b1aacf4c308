//! Encrypted streams for files and backups: any size, constant memory.
//!
//! A stream is encrypted under a fresh data key (DEK) of its own, wrapped by a [`Keyring`]
//! (so the same key hierarchy, KMS and rotation as the fields), and cut into fixed-size
//! segments, each sealed with AES-256-GCM in the STREAM construction (Hoang, Reyhanitabar,
//! Rogaway and Vizár, *Online Authenticated-Encryption and its Nonce-Reuse
//! Misuse-Resistance*, CRYPTO 2015): the nonce of segment `i` is a random 7-byte prefix, `i`
//! as 32 bits and a byte that is 1 on the last segment only. Reordered, dropped, repeated or
//! altered segments fail authentication ([`Error::Tampered`]); a stream cut at any point,
//! even between segments, lacks its last segment ([`Error::Truncated`]); bytes appended after
//! the last segment are refused ([`Error::Tampered`]). The layout is in `docs/format.md`
//! and `docs/streams.md`.
//!
//! - Blocking: [`Sealer::writer`] (an [`std::io::Write`]) and [`Header::read_from`] +
//!   [`Opener::reader`] (an [`std::io::Read`]).
//! - Async (tokio): [`encrypt`] from an `AsyncRead` to an `AsyncWrite`, [`decrypt`] back;
//!   or the adapters [`Sealer::async_writer`] (an `AsyncWrite`; shut it down to end the
//!   stream) and [`Header::read_from_async`] + [`Opener::async_reader`] (an `AsyncRead` and
//!   `AsyncBufRead`), to compose with `tokio::io::copy_buf`, HTTP bodies or uploads. Their I/O errors carry the
//!   [`Error`]: `?` into an `encx::Error` gives back `Tampered` or `Truncated`.
//!
//! Decryption hands out each segment as soon as it is authentic, before the end is seen:
//! until the reader returned end-of-file without an error, the output may be a prefix of the
//! stream. Write it somewhere temporary and keep it only when decryption succeeded.
//!
//! ```
//! use encx::{LocalKeyring, MasterKey, stream};
//! use std::io::{Read, Write};
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> encx::Result<()> {
//! let keyring = LocalKeyring::new(vec![MasterKey::generate("v1")?])?;
//!
//! let sealer = stream::Sealer::new(&keyring, "backups/2026-12-03").await?;
//! let mut writer = sealer.writer(Vec::new())?;
//! writer.write_all(b"pg_dump output ...").map_err(encx::Error::Io)?;
//! let encrypted: Vec<u8> = writer.finish()?;
//!
//! let mut input = encrypted.as_slice();
//! let header = stream::Header::read_from(&mut input)?;
//! assert_eq!(header.label(), "backups/2026-12-03");
//! let mut reader = header.open(&keyring).await?.reader(input);
//! let mut plain = Vec::new();
//! reader.read_to_end(&mut plain).map_err(encx::Error::Io)?;
//! assert_eq!(plain, b"pg_dump output ...");
//! # Ok(()) }
//! ```

mod async_adapters;
mod async_io;
mod header;
mod segment;
mod sync_io;

pub use async_adapters::{AsyncStreamReader, AsyncStreamWriter};
pub use async_io::{decrypt, encrypt};
pub use header::{Header, DEFAULT_SEGMENT_LEN, MAX_LABEL_LEN, MAX_SEGMENT_LEN, MIN_SEGMENT_LEN};
pub use sync_io::{StreamReader, StreamWriter};

use std::fmt;

use crate::aead::TAG_LEN;
use crate::error::{Error, Result};
use crate::keys::{KeyContext, Keyring};
use crate::rng;
use segment::SegmentKey;

/// The table name that every stream's wrapped DEK is bound to (with the stream's label as the
/// record id), so that a stream's key cannot be mistaken for a record's.
pub const KEY_TABLE: &str = "encx_streams";

/// The key of a new stream and its header, ready to encrypt.
///
/// Made by [`Sealer::new`] (one keyring call); then [`writer`](Sealer::writer) for a blocking
/// [`std::io::Write`], or hand it to [`encrypt_with`].
pub struct Sealer {
    header: Header,
    key: SegmentKey,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealer")
            .field("label", &self.header.label())
            .field("segment_len", &self.header.segment_len())
            .finish_non_exhaustive()
    }
}

impl Sealer {
    /// A new stream labelled `label` (what it holds, e.g. `backups/2026-12-03`; stored in the
    /// clear in the header and bound to the wrapped key), with segments of
    /// [`DEFAULT_SEGMENT_LEN`] bytes.
    pub async fn new(keyring: &dyn Keyring, label: &str) -> Result<Self> {
        Self::with_segment_len(keyring, label, DEFAULT_SEGMENT_LEN).await
    }

    /// As [`new`](Self::new), with segments of `segment_len` plaintext bytes
    /// ([`MIN_SEGMENT_LEN`]..=[`MAX_SEGMENT_LEN`]).
    pub async fn with_segment_len(
        keyring: &dyn Keyring,
        label: &str,
        segment_len: usize,
    ) -> Result<Self> {
        header::check_params(label, segment_len)?;
        let ctx = KeyContext::new(KEY_TABLE, label.as_bytes());
        let (dek, wrapped) = match keyring.generate_dek_now(&ctx) {
            Some(generated) => generated?,
            None => keyring.generate_dek(&ctx).await?,
        };
        let mut prefix = [0u8; segment::PREFIX_LEN];
        rng::fill(&mut prefix)?;
        let header = Header::new(label, segment_len, prefix, wrapped)?;
        let key = SegmentKey::new(&dek, &header)?;
        Ok(Sealer { header, key })
    }

    /// The header that starts the stream.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// A blocking writer that writes the header to `out`, then encrypts what is written to it.
    /// Call [`StreamWriter::finish`]: a stream dropped without it lacks its last segment and
    /// reads as [`Error::Truncated`].
    pub fn writer<W: std::io::Write>(self, out: W) -> Result<StreamWriter<W>> {
        StreamWriter::new(self, out)
    }
}

/// An opened stream key: what [`Header::open`] returns, ready to decrypt the segments that
/// follow the header.
pub struct Opener {
    segment_len: usize,
    key: SegmentKey,
}

impl fmt::Debug for Opener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Opener")
            .field("segment_len", &self.segment_len)
            .finish_non_exhaustive()
    }
}

impl Opener {
    /// A blocking reader of the plaintext, reading the segments from `input` (positioned just
    /// after the header).
    pub fn reader<R: std::io::Read>(self, input: R) -> StreamReader<R> {
        StreamReader::new(self, input)
    }
}

impl Header {
    /// Unwraps the stream's key with `keyring` ([`Error::KeyNotFound`] when the key that
    /// wrapped it is not here, [`Error::Tampered`] when the header was altered).
    pub async fn open(&self, keyring: &dyn Keyring) -> Result<Opener> {
        let ctx = KeyContext::new(KEY_TABLE, self.label().as_bytes());
        let dek = match keyring.unwrap_dek_now(self.wrapped_dek(), &ctx) {
            Some(dek) => dek?,
            None => keyring.unwrap_dek(self.wrapped_dek(), &ctx).await?,
        };
        Ok(Opener {
            segment_len: self.segment_len(),
            key: SegmentKey::new(&dek, self)?,
        })
    }
}

/// Encrypts with a [`Sealer`] made beforehand: see [`encrypt`].
pub use async_io::encrypt_with;

/// Length on the wire of a sealed segment of `plain` plaintext bytes.
pub(crate) const fn sealed_len(plain: usize) -> usize {
    plain + TAG_LEN
}

/// What a decoder knows about the segment it just read.
/// `err` as the `io::Error` of an adapter: an I/O failure as itself, anything else carried
/// inside (`From<io::Error> for Error` takes it back out).
pub(crate) fn to_io(err: Error) -> std::io::Error {
    match err {
        Error::Io(e) => e,
        other => std::io::Error::other(other),
    }
}

pub(crate) fn classify(got: usize, segment_len: usize) -> Result<bool> {
    // `true` = a full, non-final segment; `false` = the final (short) one.
    if got == sealed_len(segment_len) {
        Ok(true)
    } else if got < TAG_LEN {
        Err(Error::Truncated {
            what: "encrypted stream",
        })
    } else {
        Ok(false)
    }
}

#[cfg(test)]
mod tests;
