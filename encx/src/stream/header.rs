//! The header of an encrypted stream: format, segment length, nonce prefix, label and the
//! wrapped stream key. Decoding never trusts a length it has not checked against a limit.

use std::io::Read;

use crate::error::{Error, Result};
use crate::types::WrappedDek;

use super::segment::PREFIX_LEN;

/// The format byte of version 1 streams.
pub(crate) const FORMAT: u8 = 0x01;
/// The second byte: this blob is a stream (field ciphertexts and wrapped keys have others).
pub(crate) const KIND: u8 = b'S';

/// Plaintext bytes per segment unless chosen otherwise: 64 KiB.
pub const DEFAULT_SEGMENT_LEN: usize = 64 * 1024;
/// The smallest segment length accepted.
pub const MIN_SEGMENT_LEN: usize = 256;
/// The largest segment length accepted (what a reader allocates at most): 8 MiB.
pub const MAX_SEGMENT_LEN: usize = 8 * 1024 * 1024;
/// The longest label, in bytes.
pub const MAX_LABEL_LEN: usize = 1024;
/// The longest wrapped key accepted (a KMS `CiphertextBlob` is about 200 bytes).
const MAX_WRAPPED_LEN: usize = 4096;

/// format, kind, segment length (u32), nonce prefix, label length (u16).
const FIXED_LEN: usize = 1 + 1 + 4 + PREFIX_LEN + 2;

const WHAT: &str = "encrypted stream header";

/// The clear header of an encrypted stream, as written before its first segment.
///
/// ```text
/// 0x01 | 'S' | segment length (u32 BE) | nonce prefix (7) | label length (u16 BE) | label
///      | wrapped key length (u16 BE) | wrapped key
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Header {
    bytes: Vec<u8>,
    segment_len: usize,
    prefix: [u8; PREFIX_LEN],
    label: String,
    wrapped: WrappedDek,
}

impl std::fmt::Debug for Header {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Header")
            .field("label", &self.label)
            .field("segment_len", &self.segment_len)
            .field("wrapped_dek_len", &self.wrapped.len())
            .finish_non_exhaustive()
    }
}

pub(crate) fn check_params(label: &str, segment_len: usize) -> Result<()> {
    if !(MIN_SEGMENT_LEN..=MAX_SEGMENT_LEN).contains(&segment_len) {
        return Err(Error::config(format!(
            "stream segment length {segment_len} is outside {MIN_SEGMENT_LEN}..={MAX_SEGMENT_LEN}"
        )));
    }
    if label.len() > MAX_LABEL_LEN {
        return Err(Error::config(format!(
            "stream label of {} bytes is longer than {MAX_LABEL_LEN}",
            label.len()
        )));
    }
    Ok(())
}

fn malformed() -> Error {
    Error::Tampered
}

impl Header {
    pub(crate) fn new(
        label: &str,
        segment_len: usize,
        prefix: [u8; PREFIX_LEN],
        wrapped: WrappedDek,
    ) -> Result<Self> {
        check_params(label, segment_len)?;
        if wrapped.is_empty() || wrapped.len() > MAX_WRAPPED_LEN {
            return Err(Error::config(
                "the keyring returned a wrapped key of unusable length",
            ));
        }
        let mut bytes = Vec::with_capacity(FIXED_LEN + label.len() + 2 + wrapped.len());
        bytes.push(FORMAT);
        bytes.push(KIND);
        let len32 = u32::try_from(segment_len).map_err(|_| Error::config("segment length"))?;
        bytes.extend_from_slice(&len32.to_be_bytes());
        bytes.extend_from_slice(&prefix);
        let label_len = u16::try_from(label.len()).map_err(|_| Error::config("label length"))?;
        bytes.extend_from_slice(&label_len.to_be_bytes());
        bytes.extend_from_slice(label.as_bytes());
        let wrapped_len =
            u16::try_from(wrapped.len()).map_err(|_| Error::config("wrapped key length"))?;
        bytes.extend_from_slice(&wrapped_len.to_be_bytes());
        bytes.extend_from_slice(wrapped.as_bytes());
        Ok(Header {
            bytes,
            segment_len,
            prefix,
            label: label.to_owned(),
            wrapped,
        })
    }

    /// The encoded header, as it starts the stream.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The stream's label (what it holds), as given to [`Sealer::new`](super::Sealer::new).
    /// Not secret: check it is the stream you expect before trusting the contents' meaning.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Plaintext bytes per segment.
    pub fn segment_len(&self) -> usize {
        self.segment_len
    }

    /// The wrapped stream key.
    pub fn wrapped_dek(&self) -> &WrappedDek {
        &self.wrapped
    }

    pub(crate) fn prefix(&self) -> &[u8; PREFIX_LEN] {
        &self.prefix
    }

    /// Decodes a header at the start of `bytes`; returns it and how many bytes it took.
    /// [`Error::Truncated`] when `bytes` ends inside it, [`Error::UnsupportedFormat`] for an
    /// unknown format byte, [`Error::Tampered`] for any other malformed header.
    pub fn decode(bytes: &[u8]) -> Result<(Header, usize)> {
        let mut input = bytes;
        let header = Header::read_from(&mut input)?;
        let used = bytes.len() - input.len();
        Ok((header, used))
    }

    /// Reads a header from the start of a blocking reader, leaving it at the first segment.
    pub fn read_from<R: Read + ?Sized>(input: &mut R) -> Result<Header> {
        let mut fixed = [0u8; FIXED_LEN];
        read_exact(input, &mut fixed)?;
        let (segment_len, prefix, label_len) = parse_fixed(&fixed)?;
        let mut label = vec![0u8; label_len + 2];
        read_exact(input, &mut label)?;
        let wrapped_len = wrapped_len(&label[label_len..])?;
        label.truncate(label_len);
        let mut wrapped = vec![0u8; wrapped_len];
        read_exact(input, &mut wrapped)?;
        Header::assemble(segment_len, prefix, label, wrapped)
    }

    /// Reads a header from the start of an async reader, leaving it at the first segment.
    pub async fn read_from_async<R>(input: &mut R) -> Result<Header>
    where
        R: tokio::io::AsyncRead + Unpin + ?Sized,
    {
        let mut fixed = [0u8; FIXED_LEN];
        read_exact_async(input, &mut fixed).await?;
        let (segment_len, prefix, label_len) = parse_fixed(&fixed)?;
        let mut label = vec![0u8; label_len + 2];
        read_exact_async(input, &mut label).await?;
        let wrapped_len = wrapped_len(&label[label_len..])?;
        label.truncate(label_len);
        let mut wrapped = vec![0u8; wrapped_len];
        read_exact_async(input, &mut wrapped).await?;
        Header::assemble(segment_len, prefix, label, wrapped)
    }

    fn assemble(
        segment_len: usize,
        prefix: [u8; PREFIX_LEN],
        label: Vec<u8>,
        wrapped: Vec<u8>,
    ) -> Result<Header> {
        let label = String::from_utf8(label).map_err(|_| malformed())?;
        Header::new(&label, segment_len, prefix, WrappedDek::from_bytes(wrapped))
            .map_err(|_| malformed())
    }
}

fn parse_fixed(fixed: &[u8; FIXED_LEN]) -> Result<(usize, [u8; PREFIX_LEN], usize)> {
    if fixed[0] != FORMAT {
        return Err(Error::UnsupportedFormat {
            what: "encrypted stream",
            version: fixed[0],
        });
    }
    if fixed[1] != KIND {
        return Err(malformed());
    }
    let segment_len = u32::from_be_bytes([fixed[2], fixed[3], fixed[4], fixed[5]]);
    let segment_len = usize::try_from(segment_len).map_err(|_| malformed())?;
    if !(MIN_SEGMENT_LEN..=MAX_SEGMENT_LEN).contains(&segment_len) {
        return Err(malformed());
    }
    let mut prefix = [0u8; PREFIX_LEN];
    prefix.copy_from_slice(&fixed[6..6 + PREFIX_LEN]);
    let label_len = usize::from(u16::from_be_bytes([
        fixed[6 + PREFIX_LEN],
        fixed[7 + PREFIX_LEN],
    ]));
    if label_len > MAX_LABEL_LEN {
        return Err(malformed());
    }
    Ok((segment_len, prefix, label_len))
}

fn wrapped_len(two: &[u8]) -> Result<usize> {
    match two {
        [a, b] => {
            let len = usize::from(u16::from_be_bytes([*a, *b]));
            if len == 0 || len > MAX_WRAPPED_LEN {
                Err(malformed())
            } else {
                Ok(len)
            }
        }
        _ => Err(malformed()),
    }
}

fn read_exact<R: Read + ?Sized>(input: &mut R, buf: &mut [u8]) -> Result<()> {
    input.read_exact(buf).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => Error::Truncated { what: WHAT },
        _ => Error::Io(e),
    })
}

async fn read_exact_async<R>(input: &mut R, buf: &mut [u8]) -> Result<()>
where
    R: tokio::io::AsyncRead + Unpin + ?Sized,
{
    use tokio::io::AsyncReadExt;
    match input.read_exact(buf).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            Err(Error::Truncated { what: WHAT })
        }
        Err(e) => Err(Error::Io(e)),
    }
}
