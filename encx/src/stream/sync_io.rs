//! Blocking `Write` and `Read` adapters over a stream.

use std::io::{self, Read, Write};

use crate::error::{Error, Result};

use super::segment::SegmentKey;
use super::{classify, sealed_len, to_io, Opener, Sealer};

/// Encrypts what is written to it into `W` (header first). Made by [`Sealer::writer`].
///
/// Holds one segment in memory. [`finish`](Self::finish) writes the last segment: without it
/// the stream reads as truncated. After a failed write to the output the writer stays failed:
/// every later `write` and `finish` returns an error (the output may hold part of a segment,
/// so no stream written on from there could be decrypted).
pub struct StreamWriter<W: Write> {
    out: W,
    key: SegmentKey,
    segment_len: usize,
    buf: Vec<u8>,
    failed: bool,
}

impl<W: Write> std::fmt::Debug for StreamWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamWriter")
            .field("segment_len", &self.segment_len)
            .field("buffered", &self.buf.len())
            .finish_non_exhaustive()
    }
}

impl<W: Write> StreamWriter<W> {
    pub(super) fn new(sealer: Sealer, mut out: W) -> Result<Self> {
        out.write_all(sealer.header.as_bytes()).map_err(Error::Io)?;
        let segment_len = sealer.header.segment_len();
        Ok(StreamWriter {
            out,
            key: sealer.key,
            segment_len,
            buf: Vec::with_capacity(sealed_len(segment_len)),
            failed: false,
        })
    }

    fn seal_and_write(&mut self, last: bool) -> Result<()> {
        if self.failed {
            return Err(failed_earlier());
        }
        // Failed until the segment is out whole: a retry must not append to a sealed buffer
        // nor reuse the segment counter.
        self.failed = true;
        self.key.seal(&mut self.buf, last)?;
        self.out.write_all(&self.buf).map_err(Error::Io)?;
        self.buf.clear();
        self.failed = false;
        Ok(())
    }

    /// Writes the last segment, flushes and returns the output.
    pub fn finish(mut self) -> Result<W> {
        self.seal_and_write(true)?;
        self.out.flush().map_err(Error::Io)?;
        Ok(self.out)
    }
}

impl<W: Write> Write for StreamWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.failed {
            return Err(to_io(failed_earlier()));
        }
        let mut rest = data;
        while !rest.is_empty() {
            let room = self.segment_len - self.buf.len();
            let (now, later) = rest.split_at(room.min(rest.len()));
            self.buf.extend_from_slice(now);
            rest = later;
            // A full segment is never the last one: the last is always shorter.
            if self.buf.len() == self.segment_len {
                self.seal_and_write(false).map_err(to_io)?;
            }
        }
        Ok(data.len())
    }

    /// Flushes the output; a partly filled segment stays buffered until it fills or
    /// [`finish`](StreamWriter::finish).
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// The error of a writer used after its output failed.
fn failed_earlier() -> Error {
    Error::Io(io::Error::other(
        "the stream writer failed earlier; start a new stream",
    ))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Reading,
    Done,
    Failed,
}

/// Decrypts a stream read from `R`. Made by [`Opener::reader`].
///
/// Each segment is handed out once authentic. A read that finds the stream cut short, altered
/// or followed by extra bytes fails with an [`io::Error`] wrapping the [`Error`]
/// ([`Error::Truncated`], [`Error::Tampered`]); use [`copy_to`](Self::copy_to) to get the
/// `Error` itself.
pub struct StreamReader<R: Read> {
    input: R,
    key: SegmentKey,
    segment_len: usize,
    sealed: Vec<u8>,
    plain: Vec<u8>,
    pos: usize,
    state: State,
}

impl<R: Read> std::fmt::Debug for StreamReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamReader")
            .field("segment_len", &self.segment_len)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// Reads until `buf` is full or the input ends; returns how many bytes it read.
fn fill<R: Read>(input: &mut R, buf: &mut [u8]) -> Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match input.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::Io(e)),
        }
    }
    Ok(got)
}

impl<R: Read> StreamReader<R> {
    pub(super) fn new(opener: Opener, input: R) -> Self {
        StreamReader {
            input,
            key: opener.key,
            segment_len: opener.segment_len,
            sealed: vec![0; sealed_len(opener.segment_len)],
            plain: Vec::with_capacity(opener.segment_len),
            pos: 0,
            state: State::Reading,
        }
    }

    /// The next segment, or the reader failed for good: nothing of a segment that did not
    /// open is ever handed out.
    fn next_segment(&mut self) -> Result<()> {
        let next = self.read_segment();
        if next.is_err() {
            self.state = State::Failed;
            self.plain.clear();
            self.pos = 0;
        }
        next
    }

    fn read_segment(&mut self) -> Result<()> {
        let got = fill(&mut self.input, &mut self.sealed)?;
        let full = classify(got, self.segment_len)?;
        self.key.open(&self.sealed[..got], &mut self.plain, !full)?;
        self.pos = 0;
        if !full {
            let mut extra = [0u8; 1];
            if fill(&mut self.input, &mut extra)? != 0 {
                return Err(Error::Tampered);
            }
            self.state = State::Done;
        }
        Ok(())
    }

    /// Decrypts the rest of the stream into `out`; returns the plaintext bytes written.
    pub fn copy_to<W: Write + ?Sized>(mut self, out: &mut W) -> Result<u64> {
        let mut total = 0u64;
        loop {
            if self.pos < self.plain.len() {
                out.write_all(&self.plain[self.pos..]).map_err(Error::Io)?;
                total += (self.plain.len() - self.pos) as u64;
                self.pos = self.plain.len();
            }
            match self.state {
                State::Done => return Ok(total),
                State::Failed => return Err(Error::Tampered),
                State::Reading => self.next_segment()?,
            }
        }
    }

    /// The underlying reader.
    pub fn into_inner(self) -> R {
        self.input
    }
}

impl<R: Read> Read for StreamReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.pos < self.plain.len() {
                let n = buf.len().min(self.plain.len() - self.pos);
                buf[..n].copy_from_slice(&self.plain[self.pos..self.pos + n]);
                self.pos += n;
                return Ok(n);
            }
            match self.state {
                State::Done => return Ok(0),
                State::Failed => return Err(io::Error::other(Error::Tampered)),
                State::Reading => self.next_segment().map_err(to_io)?,
            }
        }
    }
}
