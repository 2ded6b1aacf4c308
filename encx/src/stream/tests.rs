#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};

use super::*;
use crate::{LocalKeyring, MasterKey};

fn keyring() -> LocalKeyring {
    LocalKeyring::new(vec![MasterKey::new("v1", [7; 32]).unwrap()]).unwrap()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

const SEG: usize = MIN_SEGMENT_LEN;

fn plaintext(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

fn seal_sync(keyring: &LocalKeyring, data: &[u8], segment_len: usize) -> Vec<u8> {
    let sealer = rt()
        .block_on(Sealer::with_segment_len(keyring, "test", segment_len))
        .unwrap();
    let mut writer = sealer.writer(Vec::new()).unwrap();
    // odd write sizes, to cross segment boundaries mid-write
    for chunk in data.chunks(97) {
        writer.write_all(chunk).unwrap();
    }
    writer.finish().unwrap()
}

fn open_sync(keyring: &LocalKeyring, sealed: &[u8]) -> Result<Vec<u8>> {
    let mut input = sealed;
    let header = Header::read_from(&mut input)?;
    let opener = rt().block_on(header.open(keyring))?;
    let mut out = Vec::new();
    opener.reader(input).copy_to(&mut out)?;
    Ok(out)
}

/// Decrypts with [`decrypt`], and checks that the `AsyncRead` adapter, fed a few bytes per
/// read with a `Pending` between reads, gives the same plaintext or the same error.
fn open_async(keyring: &LocalKeyring, sealed: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let by_function = rt()
        .block_on(decrypt(keyring, sealed, &mut out, None))
        .map(|_| out);
    let by_adapter = open_adapter(keyring, sealed);
    match (&by_function, &by_adapter) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "adapter and function agree"),
        (Err(a), Err(b)) => assert_eq!(
            std::mem::discriminant(a),
            std::mem::discriminant(b),
            "{a:?} / {b:?}"
        ),
        _ => panic!("function {by_function:?}, adapter {by_adapter:?}"),
    }
    by_function
}

/// Decrypts through the `AsyncRead` adapter (`tokio::io::copy`), and checks that its
/// `AsyncBufRead` side (`tokio::io::copy_buf`) gives the same plaintext or the same error.
fn open_adapter(keyring: &LocalKeyring, sealed: &[u8]) -> Result<Vec<u8>> {
    let through = |buffered: bool| {
        rt().block_on(async {
            let mut input = Trickle::new(sealed);
            let header = Header::read_from_async(&mut input).await?;
            let mut reader = header.open(keyring).await?.async_reader(input);
            let mut out = Vec::new();
            if buffered {
                tokio::io::copy_buf(&mut reader, &mut out).await?;
            } else {
                tokio::io::copy(&mut reader, &mut out).await?;
            }
            Ok::<_, Error>(out)
        })
    };
    let (by_read, by_buf_read) = (through(false), through(true));
    match (&by_read, &by_buf_read) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "AsyncRead and AsyncBufRead agree"),
        (Err(a), Err(b)) => assert_eq!(
            std::mem::discriminant(a),
            std::mem::discriminant(b),
            "{a:?} / {b:?}"
        ),
        _ => panic!("AsyncRead {by_read:?}, AsyncBufRead {by_buf_read:?}"),
    }
    by_read
}

/// An `AsyncRead` over bytes, or an `AsyncWrite` into a `Vec`, that moves 1 to 23 bytes per
/// call and answers `Pending` (waking at once) every other call.
struct Trickle<T> {
    io: T,
    step: usize,
    stall: bool,
}

impl<T> Trickle<T> {
    fn new(io: T) -> Self {
        Trickle {
            io,
            step: 1,
            stall: false,
        }
    }

    /// `Some(n)`: move up to `n` bytes now; `None`: stall this call.
    fn turn(&mut self, cx: &mut std::task::Context<'_>, room: usize) -> Option<usize> {
        self.stall = !self.stall;
        if self.stall {
            cx.waker().wake_by_ref();
            return None;
        }
        let n = self.step.min(room);
        self.step = self.step % 23 + 1;
        Some(n)
    }
}

impl tokio::io::AsyncRead for Trickle<&[u8]> {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let room = buf.remaining().min(this.io.len());
        let Some(n) = this.turn(cx, room) else {
            return std::task::Poll::Pending;
        };
        buf.put_slice(&this.io[..n]);
        this.io = &this.io[n..];
        std::task::Poll::Ready(Ok(()))
    }
}

impl tokio::io::AsyncWrite for Trickle<Vec<u8>> {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        data: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let Some(n) = this.turn(cx, data.len()) else {
            return std::task::Poll::Pending;
        };
        this.io.extend_from_slice(&data[..n]);
        std::task::Poll::Ready(Ok(n))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

/// Encrypts `data` through the `AsyncWrite` adapter into a trickling output, in writes of
/// odd sizes; `shutdown` false leaves the stream unfinished.
fn seal_adapter(keyring: &LocalKeyring, data: &[u8], shutdown: bool) -> Vec<u8> {
    use tokio::io::AsyncWriteExt;
    rt().block_on(async {
        let sealer = Sealer::with_segment_len(keyring, "test", SEG)
            .await
            .unwrap();
        let mut writer = sealer.async_writer(Trickle::new(Vec::new()));
        for chunk in data.chunks(97) {
            writer.write_all(chunk).await.unwrap();
        }
        writer.flush().await.unwrap();
        if shutdown {
            writer.shutdown().await.unwrap();
        }
        writer.into_inner().io
    })
}

#[test]
fn round_trips_every_size_around_segment_boundaries_sync_and_async() {
    let keyring = keyring();
    for len in [0, 1, SEG - 1, SEG, SEG + 1, 2 * SEG, 3 * SEG + 17] {
        let data = plaintext(len);
        let sealed = seal_sync(&keyring, &data, SEG);
        // header + one tag per segment, the last always short (possibly empty)
        let (header, used) = Header::decode(&sealed).unwrap();
        assert_eq!(header.segment_len(), SEG);
        assert_eq!(sealed.len(), used + len + (len / SEG + 1) * 16, "len {len}");
        assert_eq!(
            open_sync(&keyring, &sealed).unwrap(),
            data,
            "sync, len {len}"
        );
        assert_eq!(
            open_async(&keyring, &sealed).unwrap(),
            data,
            "async, len {len}"
        );

        // the async encryptor writes the same layout, readable by the blocking reader
        let mut sealed_async = Vec::new();
        let sealer = rt()
            .block_on(Sealer::with_segment_len(&keyring, "test", SEG))
            .unwrap();
        let n = rt()
            .block_on(encrypt_with(sealer, data.as_slice(), &mut sealed_async))
            .unwrap();
        assert_eq!(n, len as u64);
        assert_eq!(sealed_async.len(), sealed.len());
        assert_ne!(
            sealed_async, sealed,
            "fresh key and nonce prefix per stream"
        );
        assert_eq!(open_sync(&keyring, &sealed_async).unwrap(), data);
    }
}

#[test]
fn the_async_write_adapter_writes_the_same_layout() {
    let keyring = keyring();
    for len in [0, 1, SEG - 1, SEG, SEG + 1, 2 * SEG, 3 * SEG + 17] {
        let data = plaintext(len);
        let sealed = seal_adapter(&keyring, &data, true);
        let (_, used) = Header::decode(&sealed).unwrap();
        assert_eq!(sealed.len(), used + len + (len / SEG + 1) * 16, "len {len}");
        assert_eq!(open_sync(&keyring, &sealed).unwrap(), data, "len {len}");
        assert_eq!(open_async(&keyring, &sealed).unwrap(), data, "len {len}");
    }
}

#[test]
fn an_async_writer_not_shut_down_reads_as_truncated_and_refuses_writes_after() {
    use tokio::io::AsyncWriteExt;
    let keyring = keyring();
    let unfinished = seal_adapter(&keyring, &plaintext(2 * SEG + 5), false);
    assert!(matches!(
        open_sync(&keyring, &unfinished),
        Err(Error::Truncated { .. })
    ));
    assert!(matches!(
        open_adapter(&keyring, &unfinished),
        Err(Error::Truncated { .. })
    ));
    let sealed = rt().block_on(async {
        let sealer = Sealer::new(&keyring, "t").await.unwrap();
        let mut writer = sealer.async_writer(Vec::new());
        writer.write_all(b"abc").await.unwrap();
        writer.shutdown().await.unwrap();
        let err = writer.write_all(b"more").await.unwrap_err();
        assert!(Error::from(err).is_config());
        // a second shutdown adds nothing
        writer.shutdown().await.unwrap();
        writer.into_inner()
    });
    assert_eq!(open_sync(&keyring, &sealed).unwrap(), b"abc");
}

#[test]
fn io_errors_of_the_adapters_give_back_the_encx_error() {
    let keyring = keyring();
    let sealed = seal_sync(&keyring, &plaintext(SEG + 3), SEG);
    let mut bad = sealed.clone();
    *bad.last_mut().unwrap() ^= 1;
    assert!(matches!(open_adapter(&keyring, &bad), Err(Error::Tampered)));
    let cut = &sealed[..sealed.len() - 1];
    assert!(matches!(open_adapter(&keyring, cut), Err(Error::Tampered)));
    // an I/O error of the input stays an I/O error
    let plain_io = std::io::Error::new(std::io::ErrorKind::BrokenPipe, "gone");
    assert!(
        matches!(Error::from(plain_io), Error::Io(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    );
}

/// Input that ends once (a read of 0 bytes), then goes on with more bytes: what a pipe or a
/// terminal can do.
struct EndsThenGoesOn<'a> {
    first: &'a [u8],
    ended: bool,
    then: &'a [u8],
}

impl tokio::io::AsyncRead for EndsThenGoesOn<'_> {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if !this.first.is_empty() {
            let n = buf.remaining().min(this.first.len());
            buf.put_slice(&this.first[..n]);
            this.first = &this.first[n..];
        } else if !this.ended {
            this.ended = true;
        } else {
            let n = buf.remaining().min(this.then.len());
            buf.put_slice(&this.then[..n]);
            this.then = &this.then[n..];
        }
        std::task::Poll::Ready(Ok(()))
    }
}

#[test]
fn the_async_read_adapter_holds_back_the_last_segment_until_the_end_is_seen() {
    use tokio::io::AsyncReadExt;
    let keyring = keyring();
    let sealed = seal_sync(&keyring, &plaintext(10), SEG);
    let (_, header_len) = Header::decode(&sealed).unwrap();
    let opened = |then: &'static [u8]| {
        let mut input = EndsThenGoesOn {
            first: &sealed[header_len..],
            ended: false,
            then,
        };
        rt().block_on(async {
            let header = Header::read_from_async(&mut &sealed[..header_len]).await?;
            let mut reader = header.open(&keyring).await?.async_reader(&mut input);
            let mut buf = [0u8; 64];
            let first = reader.read(&mut buf).await;
            let again = reader.read(&mut buf).await;
            Ok::<_, Error>((first.map_err(Error::from), again.is_err()))
        })
        .unwrap()
    };
    // the only segment is authentic and the input ends: it is handed out
    let (first, _) = opened(b"");
    assert_eq!(first.unwrap(), 10);
    // the input ends, then more bytes come: nothing is handed out, and the reader stays failed
    let (first, failed) = opened(b"x");
    assert!(matches!(first, Err(Error::Tampered)), "{first:?}");
    assert!(failed, "stays failed");
}

#[test]
fn the_read_adapter_yields_the_plaintext_in_small_reads() {
    let keyring = keyring();
    let data = plaintext(5 * SEG + 3);
    let sealed = seal_sync(&keyring, &data, SEG);
    let mut input = sealed.as_slice();
    let header = Header::read_from(&mut input).unwrap();
    let mut reader = rt().block_on(header.open(&keyring)).unwrap().reader(input);
    let mut out = Vec::new();
    let mut buf = [0u8; 13];
    loop {
        let n = reader.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    assert_eq!(out, data);
}

#[test]
fn no_plaintext_on_the_wire() {
    let keyring = keyring();
    let data = b"SECRET-MARKER ".repeat(100);
    let sealed = seal_sync(&keyring, &data, SEG);
    assert!(!sealed.windows(13).any(|w| w == b"SECRET-MARKER"));
}

#[test]
fn every_cut_is_detected_as_truncation_or_tampering() {
    let keyring = keyring();
    let data = plaintext(3 * SEG + 5);
    let sealed = seal_sync(&keyring, &data, SEG);
    let (_, header_len) = Header::decode(&sealed).unwrap();
    for cut in 0..sealed.len() {
        // format.md §8: Truncated inside the header or with fewer than 16 bytes (one tag) of
        // a segment left; Tampered with 16 or more.
        let left = cut.checked_sub(header_len).map(|body| body % (SEG + 16));
        let truncated = left.is_none_or(|left| left < 16);
        for (how, err) in [
            ("sync", open_sync(&keyring, &sealed[..cut]).unwrap_err()),
            ("async", open_async(&keyring, &sealed[..cut]).unwrap_err()),
        ] {
            assert!(err.is_tampered(), "{how} cut at {cut}: {err:?}");
            assert_eq!(
                matches!(err, Error::Truncated { .. }),
                truncated,
                "{how} cut at {cut}: {err:?}"
            );
        }
    }
    // a cut exactly between segments drops the last one: Truncated, not Tampered
    let boundary = header_len + 3 * (SEG + 16);
    assert!(matches!(
        open_sync(&keyring, &sealed[..boundary]),
        Err(Error::Truncated { .. })
    ));
    assert!(matches!(
        open_async(&keyring, &sealed[..boundary]),
        Err(Error::Truncated { .. })
    ));
}

#[test]
fn reordered_repeated_or_appended_segments_are_refused() {
    let keyring = keyring();
    let data = plaintext(3 * SEG + 5);
    let sealed = seal_sync(&keyring, &data, SEG);
    let (_, h) = Header::decode(&sealed).unwrap();
    let full = SEG + 16;
    let seg = |i: usize| sealed[h + i * full..h + (i + 1) * full].to_vec();

    let mut swapped = sealed[..h].to_vec();
    for i in [1, 0, 2] {
        swapped.extend(seg(i));
    }
    swapped.extend_from_slice(&sealed[h + 3 * full..]);
    assert!(matches!(
        open_sync(&keyring, &swapped),
        Err(Error::Tampered)
    ));

    let mut repeated = sealed[..h + full].to_vec();
    repeated.extend(seg(0));
    repeated.extend_from_slice(&sealed[h + 2 * full..]);
    assert!(matches!(
        open_async(&keyring, &repeated),
        Err(Error::Tampered)
    ));

    for extra in [&b"x"[..], &sealed[h..h + full]] {
        let mut appended = sealed.clone();
        appended.extend_from_slice(extra);
        assert!(matches!(
            open_sync(&keyring, &appended),
            Err(Error::Tampered)
        ));
        assert!(matches!(
            open_async(&keyring, &appended),
            Err(Error::Tampered)
        ));
    }

    // the final segment of one stream cannot end another: keys and prefixes differ
    let other = seal_sync(&keyring, &data, SEG);
    let mut spliced = sealed[..h + 3 * full].to_vec();
    spliced.extend_from_slice(&other[h + 3 * full..]);
    assert!(matches!(
        open_sync(&keyring, &spliced),
        Err(Error::Tampered)
    ));
}

#[test]
fn every_flipped_byte_is_refused() {
    let keyring = keyring();
    let data = plaintext(SEG + 9);
    let sealed = seal_sync(&keyring, &data, SEG);
    for at in 0..sealed.len() {
        let mut bad = sealed.clone();
        bad[at] ^= 0x20;
        let err = open_sync(&keyring, &bad).unwrap_err();
        assert!(
            err.is_tampered() || err.is_key_missing() || err.is_config(),
            "flip at {at}: {err:?}"
        );
        assert!(open_async(&keyring, &bad).is_err(), "async flip at {at}");
    }
}

#[test]
fn another_keyring_cannot_open_and_labels_are_checked() {
    let keyring = keyring();
    let sealed = seal_sync(&keyring, b"hello", SEG);
    let other = LocalKeyring::new(vec![MasterKey::new("v9", [9; 32]).unwrap()]).unwrap();
    assert!(open_sync(&other, &sealed).unwrap_err().is_key_missing());
    let mut out = Vec::new();
    let err = rt()
        .block_on(decrypt(&keyring, &sealed[..], &mut out, Some("other")))
        .unwrap_err();
    assert!(err.is_config(), "{err:?}");
    assert!(out.is_empty());
}

/// A blocking reader whose first segment fails stays failed: every later read is an error,
/// never a segment's worth of bytes (zeros or otherwise).
#[test]
fn a_blocking_reader_stays_failed_after_a_bad_segment() {
    let keyring = keyring();
    let data = plaintext(3 * SEG);
    let sealed = seal_sync(&keyring, &data, SEG);
    let mut input = &sealed[..];
    let header = Header::read_from(&mut input).unwrap();
    let header_len = sealed.len() - input.len();
    for flip in [header_len + 3, header_len + sealed_len(SEG) + 3] {
        let mut bad = sealed.clone();
        bad[flip] ^= 1;
        let opener = rt().block_on(header.open(&keyring)).unwrap();
        let mut reader = opener.reader(&bad[header_len..]);
        let mut got = Vec::new();
        let mut buf = [0u8; 100];
        let mut errors = 0;
        for _ in 0..(4 * SEG / 100) {
            match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) => {
                    errors += 1;
                    let err: Error = e.into();
                    assert!(err.is_tampered(), "{err:?}");
                }
            }
        }
        assert!(errors > 1, "flip at {flip}: later reads fail too");
        assert_eq!(
            got,
            data[..got.len()],
            "flip at {flip}: only authentic plaintext came out"
        );
        assert!(got.len() < data.len());
    }
}

/// An output that fails once: a writer retried after that refuses (no panic, no stream with a
/// hole in it), also at `finish`.
#[test]
fn a_writer_whose_output_failed_stays_failed() {
    #[derive(Debug)]
    struct FailOnce {
        out: Vec<u8>,
        fail_at: usize,
        failed: bool,
    }
    impl Write for FailOnce {
        fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
            if !self.failed && self.out.len() + data.len() > self.fail_at {
                self.failed = true;
                return Err(std::io::Error::other("disk full"));
            }
            self.out.extend_from_slice(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let keyring = keyring();
    let sealer = rt()
        .block_on(Sealer::with_segment_len(&keyring, "t", SEG))
        .unwrap();
    let out = FailOnce {
        out: Vec::new(),
        fail_at: 200,
        failed: false,
    };
    let mut writer = sealer.writer(out).unwrap();
    let data = plaintext(3 * SEG);
    assert!(writer.write_all(&data).is_err(), "the output failed");
    for _ in 0..3 {
        assert!(writer.write(&data[..10]).is_err(), "a retry is refused");
    }
    let err = writer.finish().unwrap_err();
    assert!(matches!(err, Error::Io(_)), "{err:?}");
}

#[test]
fn a_writer_dropped_without_finish_reads_as_truncated() {
    let keyring = keyring();
    let sealer = rt()
        .block_on(Sealer::with_segment_len(&keyring, "t", SEG))
        .unwrap();
    let mut out = Vec::new();
    {
        let mut writer = sealer.writer(&mut out).unwrap();
        writer.write_all(&plaintext(2 * SEG)).unwrap();
    }
    assert!(matches!(
        open_sync(&keyring, &out),
        Err(Error::Truncated { .. })
    ));
}

#[test]
fn bad_parameters_and_garbage_headers_are_typed_errors() {
    let keyring = keyring();
    for len in [0, MIN_SEGMENT_LEN - 1, MAX_SEGMENT_LEN + 1] {
        let err = rt()
            .block_on(Sealer::with_segment_len(&keyring, "t", len))
            .unwrap_err();
        assert!(err.is_config());
    }
    let long = "x".repeat(MAX_LABEL_LEN + 1);
    assert!(rt()
        .block_on(Sealer::new(&keyring, &long))
        .unwrap_err()
        .is_config());

    assert!(matches!(Header::decode(&[]), Err(Error::Truncated { .. })));
    assert!(matches!(
        Header::decode(&[0x09; 64]),
        Err(Error::UnsupportedFormat { version: 0x09, .. })
    ));
    let sealed = seal_sync(&keyring, b"abc", SEG);
    // segment length field out of range
    let mut bad = sealed.clone();
    bad[2..6].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(Header::decode(&bad), Err(Error::Tampered)));
    // label length beyond the limit
    let mut bad = sealed.clone();
    bad[13..15].copy_from_slice(&u16::MAX.to_be_bytes());
    assert!(matches!(Header::decode(&bad), Err(Error::Tampered)));
}

#[test]
fn debug_shows_no_key_material() {
    let keyring = keyring();
    let sealer = rt().block_on(Sealer::new(&keyring, "lbl")).unwrap();
    let shown = format!("{sealer:?} {:?}", sealer.header());
    assert!(shown.contains("lbl"));
    assert!(!shown.contains("key:"), "{shown}");
}

proptest::proptest! {
    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
        let keyring = keyring();
        let _ = open_sync(&keyring, &bytes);
        let _ = open_async(&keyring, &bytes);
    }
}

/// A label of 1,024 bytes (the most) seals and reads back; 1,025 bytes is refused when
/// sealing, and a header claiming 1,025 is refused when reading, before the label is read.
#[test]
fn a_label_of_the_largest_length_round_trips_and_one_more_byte_is_refused() {
    let keyring = keyring();
    let label = "l".repeat(MAX_LABEL_LEN);
    let sealer = rt()
        .block_on(Sealer::with_segment_len(&keyring, &label, SEG))
        .unwrap();
    let mut writer = sealer.writer(Vec::new()).unwrap();
    writer.write_all(&plaintext(300)).unwrap();
    let sealed = writer.finish().unwrap();
    let (header, used) = Header::decode(&sealed).unwrap();
    assert_eq!(header.label(), label);
    let opener = rt().block_on(header.open(&keyring)).unwrap();
    let mut out = Vec::new();
    opener.reader(&sealed[used..]).copy_to(&mut out).unwrap();
    assert_eq!(out, plaintext(300));

    let longer = "l".repeat(MAX_LABEL_LEN + 1);
    let err = rt()
        .block_on(Sealer::with_segment_len(&keyring, &longer, SEG))
        .unwrap_err();
    assert!(err.is_config(), "{err:?}");
    // The label length field (bytes 13..15) raised to 1,025, one more label byte inserted.
    let mut claimed = sealed[..13].to_vec();
    claimed.extend_from_slice(&1025u16.to_be_bytes());
    claimed.push(b'l');
    claimed.extend_from_slice(&sealed[15..]);
    assert!(matches!(Header::decode(&claimed), Err(Error::Tampered)));
}

/// `header` decoded when `ok`, else refused as tampered (`what` names the case).
fn decoded_if(ok: bool, header: &[u8], what: &str) -> Option<(Header, usize)> {
    match Header::decode(header) {
        Ok(decoded) => {
            assert!(ok, "a header with {what} was read");
            Some(decoded)
        }
        Err(err) => {
            assert!(!ok && matches!(err, Error::Tampered), "{what}: {err:?}");
            None
        }
    }
}

/// The segment length limits of docs/format.md §8: 65,536 by default, 256 to 8 MiB, in the
/// header as a big-endian u32 (bytes 2..6); one outside is refused when sealing and reading.
#[test]
fn segment_lengths_are_the_documented_default_and_limits() {
    let keyring = keyring();
    let default = rt().block_on(Sealer::new(&keyring, "d")).unwrap();
    assert_eq!(default.header().segment_len(), 65_536);
    assert_eq!(default.header().as_bytes()[2..6], [0, 1, 0, 0]);
    for (len, ok) in [
        (255, false),
        (256, true),
        (8 * 1024 * 1024, true),
        (8 * 1024 * 1024 + 1, false),
    ] {
        let sealed = rt().block_on(Sealer::with_segment_len(&keyring, "l", len));
        assert_eq!(sealed.is_ok(), ok, "sealing with segments of {len}");
        // The same length written into a valid header is read back or refused alike.
        let mut header = default.header().as_bytes().to_vec();
        header[2..6].copy_from_slice(&u32::try_from(len).unwrap().to_be_bytes());
        if let Some((read, _)) = decoded_if(ok, &header, &format!("segments of {len}")) {
            assert_eq!(read.segment_len(), len);
        }
    }
}

/// A wrapped key of 1 to 4,096 bytes is read from a header (a KMS blob is about 200); 0 and
/// 4,097 are refused before anything else is read.
#[test]
fn wrapped_key_lengths_are_read_up_to_the_limit_and_refused_beyond() {
    let keyring = keyring();
    let sealer = rt()
        .block_on(Sealer::with_segment_len(&keyring, "w", SEG))
        .unwrap();
    let fixed_and_label = &sealer.header().as_bytes()[..15 + 1];
    for (len, ok) in [(0usize, false), (1, true), (4096, true), (4097, false)] {
        let mut header = fixed_and_label.to_vec();
        header.extend_from_slice(&u16::try_from(len).unwrap().to_be_bytes());
        header.extend(std::iter::repeat_n(0x5A, len));
        if let Some((read, used)) = decoded_if(ok, &header, &format!("a wrapped key of {len}")) {
            assert_eq!((read.wrapped_dek().len(), used), (len, header.len()));
        }
    }
}

/// A reader that fails (not a stream that ends early) is an I/O error, blocking or async, so
/// that a broken pipe is not reported as a truncated stream.
#[test]
fn a_failing_reader_is_an_io_error_not_a_truncated_stream() {
    struct Broken;
    impl Read for Broken {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::Error::new(std::io::ErrorKind::BrokenPipe, "gone"))
        }
    }
    impl tokio::io::AsyncRead for Broken {
        fn poll_read(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            _: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                "gone",
            )))
        }
    }
    let is_broken_pipe =
        |err: &Error| matches!(err, Error::Io(e) if e.kind() == std::io::ErrorKind::BrokenPipe);
    let err = Header::read_from(&mut Broken).unwrap_err();
    assert!(is_broken_pipe(&err), "{err:?}");
    let err = rt()
        .block_on(Header::read_from_async(&mut Broken))
        .unwrap_err();
    assert!(is_broken_pipe(&err), "{err:?}");
    // And an input that ends inside the header is a truncated stream, both ways.
    let err = rt()
        .block_on(Header::read_from_async(&mut &[1u8, b'S'][..]))
        .unwrap_err();
    assert!(matches!(err, Error::Truncated { .. }), "{err:?}");
}

#[test]
fn the_buffered_read_side_hands_out_whole_segments_and_takes_partial_consumes() {
    use tokio::io::AsyncBufReadExt;
    let keyring = keyring();
    // lines that cross segment boundaries
    let text: Vec<u8> = (0..3 * SEG / 10)
        .flat_map(|i| format!("{i:08}\n").into_bytes())
        .collect();
    let sealed = seal_sync(&keyring, &text, SEG);
    let (lines, first_fill) = rt().block_on(async {
        let mut input = &sealed[..];
        let header = Header::read_from_async(&mut input).await.unwrap();
        let mut reader = header.open(&keyring).await.unwrap().async_reader(input);
        let first_fill = reader.fill_buf().await.unwrap().len();
        let mut lines = Vec::new();
        let mut line = String::new();
        while reader.read_line(&mut line).await.unwrap() > 0 {
            lines.push(std::mem::take(&mut line));
        }
        // over: the buffer stays empty
        assert!(reader.fill_buf().await.unwrap().is_empty());
        (lines, first_fill)
    });
    assert_eq!(
        first_fill, SEG,
        "a full segment at once, not a copy's worth"
    );
    assert_eq!(lines.concat().into_bytes(), text);
    assert_eq!(lines.len(), 3 * SEG / 10);

    // a tampered segment is never handed out through fill_buf either
    let mut bad = sealed.clone();
    let (_, header_len) = Header::decode(&sealed).unwrap();
    bad[header_len + 3] ^= 1;
    let err = rt().block_on(async {
        let mut input = &bad[..];
        let header = Header::read_from_async(&mut input).await.unwrap();
        let mut reader = header.open(&keyring).await.unwrap().async_reader(input);
        let err = reader.fill_buf().await.unwrap_err();
        // and the reader stays failed
        assert!(reader.fill_buf().await.is_err());
        err
    });
    assert!(matches!(Error::from(err), Error::Tampered));
}
