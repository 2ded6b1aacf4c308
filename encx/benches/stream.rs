//! Stream throughput on a large input (default 1 GiB): `encx::stream` (blocking writer and
//! reader, async encrypt and decrypt, the async adapters through `tokio::io::copy` and
//! `tokio::io::copy_buf`) beside the raw AES-256-GCM of the same backend doing the same segment
//! work (64 KiB segments sealed in place, a tag each), in one run, interleaved.
//!
//! ```text
//! cargo bench -p encx --bench stream                       # AWS-LC, 1 GiB, 3 rounds
//! ENCX_BENCH_BACKEND=ring cargo bench -p encx --features ring --bench stream
//! ENCX_STREAM_BENCH_MIB=256 cargo bench -p encx --bench stream
//! ```
#![allow(missing_docs, clippy::unwrap_used, clippy::print_stdout)]

#[path = "raw/mod.rs"]
mod raw;

use std::hint::black_box;
use std::io::Write;
use std::time::{Duration, Instant};

use encx::aead::Backend;
use encx::stream::{self, Header, Sealer, DEFAULT_SEGMENT_LEN};
use encx::{LocalKeyring, MasterKey};

const SEG: usize = DEFAULT_SEGMENT_LEN;

/// Installs the backend named by `ENCX_BENCH_BACKEND` (before anything asks for the default).
fn backend() -> Backend {
    let chosen = match std::env::var("ENCX_BENCH_BACKEND").as_deref() {
        Ok("ring") => Some(Backend::Ring),
        Ok("rustcrypto") => Some(Backend::RustCrypto),
        _ => None,
    };
    if let Some(backend) = chosen {
        backend.install_default().unwrap();
    }
    Backend::current()
}

fn nonce(i: u64) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&i.to_be_bytes());
    n
}

/// The raw cipher doing the stream's work: copy a segment in, seal in place, append the tag;
/// `sink` gets each sealed segment.
fn raw_seal(key: &raw::RawKey, plain: &[u8], mut sink: impl FnMut(&[u8])) {
    let mut buf = Vec::with_capacity(SEG + 16);
    for (i, chunk) in plain.chunks(SEG).enumerate() {
        buf.clear();
        buf.extend_from_slice(chunk);
        let tag = key.seal(nonce(i as u64), &[0u8; 32], &mut buf);
        buf.extend_from_slice(&tag);
        sink(&buf);
    }
}

fn raw_seal_all(key: &raw::RawKey, plain: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(plain.len() + plain.len() / SEG * 16 + 16);
    raw_seal(key, plain, |segment| out.extend_from_slice(segment));
    out
}

/// The raw cipher doing the stream's reading work: each sealed segment read into a buffer (as
/// from a file or pipe), opened into another. Opening straight from the big buffer instead is
/// slower on AWS-LC here (6-7 GB/s): every segment there starts 16 bytes further off a cache
/// line, and its wide loads then straddle lines.
fn raw_open_to_sink(key: &raw::RawKey, sealed: &[u8]) {
    let mut out = vec![0u8; SEG];
    let mut read = vec![0u8; SEG + 16];
    for (i, chunk) in sealed.chunks(SEG + 16).enumerate() {
        read[..chunk.len()].copy_from_slice(chunk);
        let (ct, tag) = read[..chunk.len()].split_at(chunk.len() - 16);
        let tag: [u8; 16] = tag.try_into().unwrap();
        key.open(nonce(i as u64), &[0u8; 32], ct, &tag, &mut out[..ct.len()]);
        black_box(&out);
    }
}

fn gbps(bytes: usize, took: Duration) -> f64 {
    bytes as f64 / took.as_secs_f64() / 1e9
}

fn main() {
    let backend = backend();
    let mib: usize = std::env::var("ENCX_STREAM_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let rounds: usize = std::env::var("ENCX_STREAM_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let total = mib << 20;
    let plain: Vec<u8> = (0..total).map(|i| (i % 251) as u8).collect();
    let keyring = LocalKeyring::new(vec![MasterKey::new("v1", [7; 32]).unwrap()]).unwrap();
    let raw_key = raw::RawKey::new(backend, &[9; 32]);
    let raw_sealed = raw_seal_all(&raw_key, &plain);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();

    let sealer = rt.block_on(Sealer::new(&keyring, "bench")).unwrap();
    let mut writer = sealer
        .writer(Vec::with_capacity(total + total / SEG * 16 + 4096))
        .unwrap();
    writer.write_all(&plain).unwrap();
    let stream_sealed = writer.finish().unwrap();

    println!(
        "stream throughput, {} MiB, backend {backend}, segments of {} KiB, {rounds} rounds",
        mib,
        SEG / 1024
    );
    let mut best = [f64::MAX; 10];
    for _ in 0..rounds {
        let t = Instant::now();
        raw_open_to_sink(&raw_key, &raw_sealed);
        best[3] = best[3].min(t.elapsed().as_secs_f64());

        let t = Instant::now();
        raw_seal(&raw_key, &plain, |segment| {
            black_box(segment);
        });
        best[0] = best[0].min(t.elapsed().as_secs_f64());

        let t = Instant::now();
        let sealer = rt.block_on(Sealer::new(&keyring, "bench")).unwrap();
        let mut writer = sealer.writer(std::io::sink()).unwrap();
        for chunk in plain.chunks(1 << 20) {
            writer.write_all(chunk).unwrap();
        }
        writer.finish().unwrap();
        best[1] = best[1].min(t.elapsed().as_secs_f64());

        let t = Instant::now();
        rt.block_on(stream::encrypt(
            &keyring,
            "bench",
            &plain[..],
            tokio::io::sink(),
        ))
        .unwrap();
        best[2] = best[2].min(t.elapsed().as_secs_f64());

        let t = Instant::now();
        let mut input = &stream_sealed[..];
        let header = Header::read_from(&mut input).unwrap();
        let opener = rt.block_on(header.open(&keyring)).unwrap();
        let n = opener.reader(input).copy_to(&mut std::io::sink()).unwrap();
        assert_eq!(n as usize, total);
        best[4] = best[4].min(t.elapsed().as_secs_f64());

        let t = Instant::now();
        let n = rt
            .block_on(stream::decrypt(
                &keyring,
                &stream_sealed[..],
                tokio::io::sink(),
                None,
            ))
            .unwrap();
        assert_eq!(n as usize, total);
        best[5] = best[5].min(t.elapsed().as_secs_f64());

        let t = Instant::now();
        rt.block_on(async {
            use tokio::io::AsyncWriteExt;
            let sealer = Sealer::new(&keyring, "bench").await.unwrap();
            let mut writer = sealer.async_writer(tokio::io::sink());
            tokio::io::copy(&mut &plain[..], &mut writer).await.unwrap();
            writer.shutdown().await.unwrap();
        });
        best[6] = best[6].min(t.elapsed().as_secs_f64());

        let t = Instant::now();
        let n = rt.block_on(async {
            let mut input = &stream_sealed[..];
            let header = Header::read_from_async(&mut input).await.unwrap();
            let opener = header.open(&keyring).await.unwrap();
            let mut reader = opener.async_reader(input);
            tokio::io::copy(&mut reader, &mut tokio::io::sink())
                .await
                .unwrap()
        });
        assert_eq!(n as usize, total);
        best[7] = best[7].min(t.elapsed().as_secs_f64());

        let t = Instant::now();
        rt.block_on(async {
            use tokio::io::AsyncWriteExt;
            let sealer = Sealer::new(&keyring, "bench").await.unwrap();
            let mut writer = sealer.async_writer(tokio::io::sink());
            tokio::io::copy_buf(&mut &plain[..], &mut writer)
                .await
                .unwrap();
            writer.shutdown().await.unwrap();
        });
        best[8] = best[8].min(t.elapsed().as_secs_f64());

        let t = Instant::now();
        let n = rt.block_on(async {
            let mut input = &stream_sealed[..];
            let header = Header::read_from_async(&mut input).await.unwrap();
            let opener = header.open(&keyring).await.unwrap();
            let mut reader = opener.async_reader(input);
            tokio::io::copy_buf(&mut reader, &mut tokio::io::sink())
                .await
                .unwrap()
        });
        assert_eq!(n as usize, total);
        best[9] = best[9].min(t.elapsed().as_secs_f64());
    }
    let rate = |i: usize| gbps(total, Duration::from_secs_f64(best[i]));
    println!(
        "| operation | raw AES-256-GCM | encx::stream blocking | encx::stream async \
         | async adapters + tokio::io::copy | async adapters + tokio::io::copy_buf |"
    );
    println!("|---|---|---|---|---|---|");
    for (operation, raw, first) in [("encrypt", 0, 1), ("decrypt", 3, 4)] {
        let (blocking, functions) = (first, first + 1);
        let (adapters, buffered) = (6 + raw / 3, 8 + raw / 3);
        let cell = |i: usize| format!("{:.2} GB/s ({:.2}×)", rate(i), rate(i) / rate(raw));
        println!(
            "| {operation} | {:.2} GB/s | {} | {} | {} | {} |",
            rate(raw),
            cell(blocking),
            cell(functions),
            cell(adapters),
            cell(buffered)
        );
    }
}
