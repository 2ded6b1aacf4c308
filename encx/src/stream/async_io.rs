//! Encrypting from an `AsyncRead` into an `AsyncWrite`, and back.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::error::{Error, Result};
use crate::keys::Keyring;

use super::header::Header;
use super::{classify, sealed_len, Sealer};

/// Reads until `buf` is full or the input ends; returns how many bytes it read.
async fn fill<R: AsyncRead + Unpin + ?Sized>(input: &mut R, buf: &mut [u8]) -> Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match input.read(&mut buf[got..]).await {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::Io(e)),
        }
    }
    Ok(got)
}

/// Encrypts everything `input` yields into `output` as a new stream labelled `label`, with
/// a fresh key wrapped by `keyring`; returns the plaintext bytes read. Holds one segment in
/// memory whatever the size. Flushes `output` at the end (shut it down yourself if it needs
/// that, e.g. a TCP stream).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> encx::Result<()> {
/// let keyring = encx::LocalKeyring::new(vec![encx::MasterKey::generate("v1")?])?;
/// let mut sealed = Vec::new();
/// encx::stream::encrypt(&keyring, "exports/users.csv", &b"id,email\n"[..], &mut sealed).await?;
/// let mut plain = Vec::new();
/// let n = encx::stream::decrypt(&keyring, &sealed[..], &mut plain, Some("exports/users.csv")).await?;
/// assert_eq!((n, plain.as_slice()), (9, &b"id,email\n"[..]));
/// # Ok(()) }
/// ```
pub async fn encrypt<R, W>(keyring: &dyn Keyring, label: &str, input: R, output: W) -> Result<u64>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let sealer = Sealer::new(keyring, label).await?;
    encrypt_with(sealer, input, output).await
}

/// [`encrypt`] with a [`Sealer`] made beforehand (to choose the segment length, or to
/// record [`Sealer::header`] before the data flows).
pub async fn encrypt_with<R, W>(sealer: Sealer, mut input: R, mut output: W) -> Result<u64>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let Sealer { header, mut key } = sealer;
    output
        .write_all(header.as_bytes())
        .await
        .map_err(Error::Io)?;
    let segment_len = header.segment_len();
    let mut buf = vec![0u8; segment_len];
    buf.reserve_exact(sealed_len(segment_len) - segment_len);
    let mut total = 0u64;
    loop {
        buf.resize(segment_len, 0);
        let got = fill(&mut input, &mut buf).await?;
        total += got as u64;
        buf.truncate(got);
        // A full segment is never the last: the last is always shorter, possibly empty.
        let last = got < segment_len;
        key.seal(&mut buf, last)?;
        output.write_all(&buf).await.map_err(Error::Io)?;
        if last {
            break;
        }
    }
    output.flush().await.map_err(Error::Io)?;
    Ok(total)
}

/// Decrypts a stream read from `input` into `output`; returns the plaintext bytes written.
/// With `expected_label`, a stream with another label is refused before anything is
/// decrypted ([`Error::InvalidConfig`]).
///
/// Each segment is written once authentic, so on an error (`Truncated`, `Tampered`) `output`
/// already holds a prefix of the plaintext: discard it.
pub async fn decrypt<R, W>(
    keyring: &dyn Keyring,
    mut input: R,
    mut output: W,
    expected_label: Option<&str>,
) -> Result<u64>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let header = Header::read_from_async(&mut input).await?;
    if let Some(expected) = expected_label {
        if header.label() != expected {
            return Err(Error::config(format!(
                "the stream is labelled {:?}, not {expected:?}",
                header.label()
            )));
        }
    }
    let segment_len = header.segment_len();
    let mut key = header.open(keyring).await?.key;
    let mut sealed = vec![0u8; sealed_len(segment_len)];
    let mut plain = Vec::with_capacity(segment_len);
    let mut total = 0u64;
    loop {
        let got = fill(&mut input, &mut sealed).await?;
        let full = classify(got, segment_len)?;
        key.open(&sealed[..got], &mut plain, !full)?;
        if !full {
            let mut extra = [0u8; 1];
            if fill(&mut input, &mut extra).await? != 0 {
                return Err(Error::Tampered);
            }
        }
        output.write_all(&plain).await.map_err(Error::Io)?;
        total += plain.len() as u64;
        if !full {
            break;
        }
    }
    output.flush().await.map_err(Error::Io)?;
    Ok(total)
}
