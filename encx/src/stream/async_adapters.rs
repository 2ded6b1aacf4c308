//! `AsyncWrite` and `AsyncRead`/`AsyncBufRead` adapters over a stream, for code that composes tokio I/O
//! (`tokio::io::copy`, an HTTP body, an object-store upload) rather than handing encx both
//! ends at once.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncBufRead, AsyncRead, AsyncWrite, ReadBuf};

use crate::error::Error;

use super::segment::SegmentKey;
use super::{classify, sealed_len, to_io, Opener, Sealer};

/// Encrypts what is written to it into `W`, header first. Made by [`Sealer::async_writer`].
///
/// Holds one segment in memory. [`shutdown`](tokio::io::AsyncWriteExt::shutdown) writes the
/// last segment, flushes and shuts `W` down: without it the stream reads as
/// [`Error::Truncated`]. Writes after the shutdown fail.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> encx::Result<()> {
/// use tokio::io::AsyncWriteExt;
/// let keyring = encx::LocalKeyring::new(vec![encx::MasterKey::generate("v1")?])?;
/// let sealer = encx::stream::Sealer::new(&keyring, "uploads/42").await?;
/// let mut writer = sealer.async_writer(Vec::new());
/// tokio::io::copy(&mut &b"a file's bytes"[..], &mut writer).await?;
/// writer.shutdown().await?;
/// let sealed = writer.into_inner();
///
/// let mut input = &sealed[..];
/// let header = encx::stream::Header::read_from_async(&mut input).await?;
/// let mut reader = header.open(&keyring).await?.async_reader(input);
/// let mut plain = Vec::new();
/// tokio::io::copy(&mut reader, &mut plain).await?; // `?`: Tampered/Truncated come back typed
/// assert_eq!(plain, b"a file's bytes");
/// # Ok(()) }
/// ```
pub struct AsyncStreamWriter<W> {
    out: W,
    key: SegmentKey,
    segment_len: usize,
    /// Plaintext of the segment being filled.
    buf: Vec<u8>,
    /// Sealed bytes (the header, then segments) not yet accepted by `out`.
    pending: Vec<u8>,
    written: usize,
    finished: bool,
}

impl<W> std::fmt::Debug for AsyncStreamWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncStreamWriter")
            .field("segment_len", &self.segment_len)
            .field("buffered", &self.buf.len())
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl<W: AsyncWrite + Unpin> AsyncStreamWriter<W> {
    pub(super) fn new(sealer: Sealer, out: W) -> Self {
        let segment_len = sealer.header.segment_len();
        AsyncStreamWriter {
            out,
            pending: sealer.header.as_bytes().to_vec(),
            key: sealer.key,
            segment_len,
            buf: Vec::with_capacity(sealed_len(segment_len)),
            written: 0,
            finished: false,
        }
    }

    /// The output, once [`shutdown`](tokio::io::AsyncWriteExt::shutdown) has completed
    /// (before, the stream in it lacks its end).
    pub fn into_inner(self) -> W {
        self.out
    }

    /// Hands `out` what is pending.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.pending.len() {
            let n = ready!(Pin::new(&mut self.out).poll_write(cx, &self.pending[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        self.pending.clear();
        self.written = 0;
        Poll::Ready(Ok(()))
    }

    /// Seals the segment in `buf` and queues it (`pending` is empty: drained before).
    fn seal_segment(&mut self, last: bool) -> io::Result<()> {
        self.key.seal(&mut self.buf, last).map_err(to_io)?;
        std::mem::swap(&mut self.buf, &mut self.pending);
        self.buf.clear();
        Ok(())
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for AsyncStreamWriter<W> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        if this.finished {
            return Poll::Ready(Err(io::Error::other(Error::config(
                "write after the encrypted stream was shut down",
            ))));
        }
        let n = data.len().min(this.segment_len - this.buf.len());
        this.buf.extend_from_slice(&data[..n]);
        // A full segment is never the last one: the last is always shorter.
        if this.buf.len() == this.segment_len {
            this.seal_segment(false)?;
        }
        Poll::Ready(Ok(n))
    }

    /// Flushes what is sealed; a partly filled segment stays buffered until it fills or the
    /// shutdown.
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.out).poll_flush(cx)
    }

    /// Seals and writes the last segment, then shuts the output down.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        if !this.finished {
            this.seal_segment(true)?;
            this.finished = true;
            ready!(this.poll_drain(cx))?;
        }
        Pin::new(&mut this.out).poll_shutdown(cx)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadState {
    /// Filling the next sealed segment.
    Filling,
    /// The last segment is open; one more read must find the end of the input.
    CheckingEnd,
    Done,
    Failed,
}

/// Decrypts a stream read from `R` (positioned after the header). Made by
/// [`Opener::async_reader`].
///
/// Each segment is handed out once authentic, the last one only after the end of the input
/// was seen. A read that finds the stream cut short, altered or followed by extra bytes fails
/// with an [`io::Error`] that carries the [`Error`] (`Truncated`, `Tampered`): `?` into an
/// [`encx::Error`](Error) gives it back.
pub struct AsyncStreamReader<R> {
    input: R,
    key: SegmentKey,
    segment_len: usize,
    sealed: Vec<u8>,
    filled: usize,
    plain: Vec<u8>,
    pos: usize,
    state: ReadState,
}

impl<R> std::fmt::Debug for AsyncStreamReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncStreamReader")
            .field("segment_len", &self.segment_len)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl<R: AsyncRead + Unpin> AsyncStreamReader<R> {
    pub(super) fn new(opener: Opener, input: R) -> Self {
        AsyncStreamReader {
            input,
            key: opener.key,
            segment_len: opener.segment_len,
            sealed: vec![0; sealed_len(opener.segment_len)],
            filled: 0,
            plain: Vec::with_capacity(opener.segment_len),
            pos: 0,
            state: ReadState::Filling,
        }
    }

    /// The underlying reader.
    pub fn into_inner(self) -> R {
        self.input
    }

    /// Moves the state on by one step of input; `Ready(Ok)` when there is something to hand
    /// out or the stream is over.
    fn poll_step(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        match self.state {
            ReadState::Done | ReadState::Failed => Poll::Ready(Ok(())),
            ReadState::Filling => {
                while self.filled < self.sealed.len() {
                    let mut read = ReadBuf::new(&mut self.sealed[self.filled..]);
                    ready!(Pin::new(&mut self.input).poll_read(cx, &mut read))?;
                    let n = read.filled().len();
                    if n == 0 {
                        break; // the end of the input
                    }
                    self.filled += n;
                }
                let got = std::mem::take(&mut self.filled);
                let full = classify(got, self.segment_len)?;
                self.key.open(&self.sealed[..got], &mut self.plain, !full)?;
                self.pos = 0;
                if !full {
                    self.state = ReadState::CheckingEnd;
                }
                Poll::Ready(Ok(()))
            }
            ReadState::CheckingEnd => {
                let mut extra = [0u8; 1];
                let mut read = ReadBuf::new(&mut extra);
                ready!(Pin::new(&mut self.input).poll_read(cx, &mut read))?;
                if !read.filled().is_empty() {
                    return Poll::Ready(Err(Error::Tampered));
                }
                self.state = ReadState::Done;
                Poll::Ready(Ok(()))
            }
        }
    }
}

impl<R: AsyncRead + Unpin> AsyncStreamReader<R> {
    /// Steps until authentic plaintext is ready to hand out (`Ok(true)`) or the stream is
    /// over (`Ok(false)`); a failure leaves the reader failed for good.
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<bool>> {
        loop {
            let ready_to_hand_out = matches!(self.state, ReadState::Filling | ReadState::Done);
            if ready_to_hand_out && self.pos < self.plain.len() {
                return Poll::Ready(Ok(true));
            }
            match self.state {
                ReadState::Done => return Poll::Ready(Ok(false)),
                ReadState::Failed => return Poll::Ready(Err(io::Error::other(Error::Tampered))),
                ReadState::Filling | ReadState::CheckingEnd => {
                    if let Err(e) = ready!(self.poll_step(cx)) {
                        self.state = ReadState::Failed;
                        self.plain.clear();
                        return Poll::Ready(Err(to_io(e)));
                    }
                }
            }
        }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for AsyncStreamReader<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if buf.remaining() == 0 || !ready!(this.poll_ready(cx))? {
            return Poll::Ready(Ok(()));
        }
        let n = buf.remaining().min(this.plain.len() - this.pos);
        buf.put_slice(&this.plain[this.pos..this.pos + n]);
        this.pos += n;
        Poll::Ready(Ok(()))
    }
}

/// Hands out the opened segment in place: [`tokio::io::copy_buf`] moves the plaintext from
/// the segment's buffer to the writer with no buffer of its own between (one copy fewer
/// than [`tokio::io::copy`]).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> encx::Result<()> {
/// use tokio::io::AsyncWriteExt;
/// let keyring = encx::LocalKeyring::new(vec![encx::MasterKey::generate("v1")?])?;
/// let sealer = encx::stream::Sealer::new(&keyring, "uploads/42").await?;
/// let mut writer = sealer.async_writer(Vec::new());
/// tokio::io::copy_buf(&mut &b"a file's bytes"[..], &mut writer).await?;
/// writer.shutdown().await?;
/// let sealed = writer.into_inner();
///
/// let mut input = &sealed[..];
/// let header = encx::stream::Header::read_from_async(&mut input).await?;
/// let mut reader = header.open(&keyring).await?.async_reader(input);
/// let mut plain = Vec::new();
/// tokio::io::copy_buf(&mut reader, &mut plain).await?;
/// assert_eq!(plain, b"a file's bytes");
/// # Ok(()) }
/// ```
impl<R: AsyncRead + Unpin> AsyncBufRead for AsyncStreamReader<R> {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        let this = self.get_mut();
        if ready!(this.poll_ready(cx))? {
            Poll::Ready(Ok(&this.plain[this.pos..]))
        } else {
            Poll::Ready(Ok(&[]))
        }
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        let this = self.get_mut();
        this.pos = (this.pos + amt).min(this.plain.len());
    }
}

impl Sealer {
    /// An [`AsyncWrite`] that writes the header to `out`, then encrypts what is written to
    /// it. Shut it down ([`AsyncWriteExt::shutdown`](tokio::io::AsyncWriteExt::shutdown)):
    /// a stream left without it lacks its last segment and reads as [`Error::Truncated`].
    pub fn async_writer<W: AsyncWrite + Unpin>(self, out: W) -> AsyncStreamWriter<W> {
        AsyncStreamWriter::new(self, out)
    }
}

impl Opener {
    /// An [`AsyncRead`] and [`AsyncBufRead`] of the plaintext, reading the segments from
    /// `input` (positioned just after the header, e.g. by
    /// [`Header::read_from_async`](super::Header::read_from_async)). Prefer
    /// [`tokio::io::copy_buf`] to [`tokio::io::copy`] with it: it writes each opened segment
    /// out from where it was opened.
    pub fn async_reader<R: AsyncRead + Unpin>(self, input: R) -> AsyncStreamReader<R> {
        AsyncStreamReader::new(self, input)
    }
}
