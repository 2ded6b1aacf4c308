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

fn open_async(keyring: &LocalKeyring, sealed: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    rt().block_on(decrypt(keyring, sealed, &mut out, None))?;
    Ok(out)
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
    for cut in 0..sealed.len() {
        let err = open_sync(&keyring, &sealed[..cut]).unwrap_err();
        assert!(err.is_tampered(), "cut at {cut}: {err:?}");
        let err = open_async(&keyring, &sealed[..cut]).unwrap_err();
        assert!(err.is_tampered(), "async cut at {cut}: {err:?}");
    }
    // a cut exactly between segments drops the last one: Truncated, not Tampered
    let (_, header_len) = Header::decode(&sealed).unwrap();
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
