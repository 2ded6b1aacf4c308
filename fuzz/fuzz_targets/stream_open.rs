//! Encrypted streams (`encx::stream`, `encx backup decrypt`): any bytes give a typed error,
//! never a panic nor an allocation beyond the header's limits; the blocking reader, the
//! async decrypter and the adapter (through `AsyncRead` and `AsyncBufRead`) agree on every
//! input (same plaintext, or all refuse). Seeds are streams
//! under the fixed local master key (see `examples/seeds.rs`), so mutations reach the segments.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

use encx::stream::{self, Header};
use encx::LocalKeyring;

static KEYRING: OnceLock<LocalKeyring> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let keyring = KEYRING.get_or_init(encx_fuzz::local);
    let blocking = match Header::decode(data) {
        Ok((header, used)) => {
            assert!(used <= data.len());
            assert!(header.segment_len() <= stream::MAX_SEGMENT_LEN);
            match futures_executor::block_on(header.open(keyring)) {
                Ok(opener) => {
                    let mut out = Vec::new();
                    opener.reader(&data[used..]).copy_to(&mut out).map(|_| out)
                }
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    };
    let mut out = Vec::new();
    let asynchronous =
        futures_executor::block_on(stream::decrypt(keyring, data, &mut out, None)).map(|_| out);
    for buffered in [false, true] {
        let adapted = futures_executor::block_on(async {
            let mut input = data;
            let header = Header::read_from_async(&mut input).await?;
            let mut reader = header.open(keyring).await?.async_reader(input);
            let mut out = Vec::new();
            if buffered {
                tokio::io::copy_buf(&mut reader, &mut out).await?;
            } else {
                tokio::io::copy(&mut reader, &mut out).await?;
            }
            Ok::<_, encx::Error>(out)
        });
        match (&asynchronous, &adapted) {
            (Ok(a), Ok(b)) => assert_eq!(a, b),
            (Err(_), Err(_)) => {}
            _ => panic!(
                "the async decrypter and the adapter (buffered: {buffered}) disagree: \
                 {asynchronous:?} / {adapted:?}"
            ),
        }
    }
    match (&blocking, &asynchronous) {
        (Ok(a), Ok(b)) => assert_eq!(a, b),
        (Err(a), Err(b)) => {
            for e in [a, b] {
                assert!(
                    e.is_tampered() || e.is_key_missing(),
                    "unexpected class for a bad stream: {e:?}"
                );
            }
        }
        _ => panic!("the blocking and async decoders disagree: {blocking:?} / {asynchronous:?}"),
    }
});
