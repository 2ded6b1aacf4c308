//! Field and record encryption through encx beside the same primitives written by hand, for
//! every AES-GCM backend built in, in one run, so that each ratio encx/raw is read off the
//! same run.
//!
//! `cargo bench -p encx --features ring --bench record` (`ENCX_BENCH_QUICK=1` for shorter
//! runs). `scripts/bench-ratios` prints the ratios from criterion's estimates.
//!
//! - `field_seal/<backend>/<raw|encx>/<bytes>` and `field_open/...`: one `String` field of
//!   16 B to 1 MiB. raw: a buffer of the sealed size, the bytes copied in, sealed in place, the
//!   tag appended (open: decrypted into a new buffer, checked as UTF-8). encx: `RecordSealer::seal`
//!   and `RecordOpener::open::<String>` of a `Crypto` on that backend.
//! - `record_fields_encrypt/<backend>/<raw|encx>/<n>` and `..._decrypt`: a record of n fields
//!   (1 to 32, 24-byte strings) under a fresh DEK wrapped by a local master key.
//! - `record_encrypt/...`, `record_decrypt/...`: the derived 4-field `Customer` with a blind
//!   index, through `Encrypted::encrypt`/`decrypt`, local and hierarchical keyrings.
//! - `decrypt_threads/<n>`: 4,096 stored `Customer`s decrypted on n threads (1, 2, 4): how
//!   record decryption scales with cores.
//!
//! The raw baselines draw randomness as encx does: one `getrandom` call per record for DEK,
//! wrap salt and wrap nonce, field nonces from a per-thread pool of OS random bytes; and they do
//! the same cryptographic work: HKDF-Expand of the wrap key, the wrap, the DEK's key schedule.
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use encx::aead::Backend;
use encx::index::IndexKeys;
use encx::{
    Ciphertext, Crypto, Encrypted, HierarchicalKeyring, LocalKeyring, MasterKey, MemoryKekStore,
    WrappedDek,
};
use hmac::Mac;
use uuid::Uuid;

#[path = "raw/mod.rs"]
mod raw;
use raw::{customer, raw_open, raw_seal, ready_now, Customer, RawKey, RawRecords};

// ---------------------------------------------------------------------------------------------

const COLUMNS: [&str; 32] = [
    "c00", "c01", "c02", "c03", "c04", "c05", "c06", "c07", "c08", "c09", "c10", "c11", "c12",
    "c13", "c14", "c15", "c16", "c17", "c18", "c19", "c20", "c21", "c22", "c23", "c24", "c25",
    "c26", "c27", "c28", "c29", "c30", "c31",
];

/// Times `iters` awaits of `f` inside one `block_on`: an application calling encx is already
/// in its executor, so the cost of entering one per call is not encx's.
fn in_runtime<F, Fut, T>(rt: &tokio::runtime::Runtime, iters: u64, f: F) -> Duration
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    rt.block_on(async {
        let started = std::time::Instant::now();
        for _ in 0..iters {
            black_box(f().await);
        }
        started.elapsed()
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn local_crypto(rt: &tokio::runtime::Runtime, backend: Backend) -> Crypto {
    let root = LocalKeyring::new(vec![MasterKey::new("v1", [9; 32]).unwrap()]).unwrap();
    rt.block_on(
        Crypto::builder()
            .keyring(root)
            .index_keys(IndexKeys::new(vec![(1, [7; 32])]).unwrap())
            .aead_backend(backend)
            .build(),
    )
    .unwrap()
}

fn configured() -> Criterion {
    let c = Criterion::default();
    if std::env::var_os("ENCX_BENCH_QUICK").is_some() {
        c.warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_millis(900))
            .sample_size(20)
    } else {
        c.warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3))
    }
}

const SIZES: [usize; 5] = [16, 256, 4096, 65_536, 1 << 20];

fn field_payload(len: usize) -> String {
    (0..len)
        .map(|i| (b'a' + (i * 7 % 26) as u8) as char)
        .collect()
}

fn fields(c: &mut Criterion) {
    let rt = runtime();
    let id = Uuid::from_u128(7);
    let id = id.as_bytes();
    for backend in Backend::available() {
        let crypto = local_crypto(&rt, backend);
        let raw = RawRecords::new(backend, "docs", id, &["body"]);
        let raw_key = RawKey::new(backend, &[3; 32]);
        let sealer = rt.block_on(crypto.seal_record("docs", id)).unwrap();
        let mut seal = c.benchmark_group(format!("field_seal/{}", name(backend)));
        let mut sealed_by_size = Vec::new();
        for size in SIZES {
            let text = field_payload(size);
            seal.throughput(Throughput::Bytes(size as u64));
            seal.bench_with_input(BenchmarkId::new("raw", size), &text, |b, text| {
                b.iter(|| raw_seal(&raw_key, &raw.field_aads[0], black_box(text.as_bytes())))
            });
            seal.bench_with_input(BenchmarkId::new("encx", size), &text, |b, text| {
                b.iter(|| sealer.seal("body", black_box(text)).unwrap())
            });
            sealed_by_size.push((
                size,
                raw_seal(&raw_key, &raw.field_aads[0], text.as_bytes()),
                sealer.seal("body", &text).unwrap(),
            ));
        }
        seal.finish();
        let wrapped = sealer.into_wrapped_dek();
        let opener = rt
            .block_on(crypto.open_record("docs", id, Some(&wrapped), &"doc"))
            .unwrap();
        let mut open = c.benchmark_group(format!("field_open/{}", name(backend)));
        for (size, raw_sealed, encx_sealed) in &sealed_by_size {
            open.throughput(Throughput::Bytes(*size as u64));
            open.bench_with_input(BenchmarkId::new("raw", size), raw_sealed, |b, s| {
                b.iter(|| {
                    String::from_utf8(raw_open(&raw_key, &raw.field_aads[0], black_box(s))).unwrap()
                })
            });
            open.bench_with_input(BenchmarkId::new("encx", size), encx_sealed, |b, s| {
                b.iter(|| opener.open::<String>("body", black_box(s)).unwrap())
            });
        }
        open.finish();
    }
}

fn name(backend: Backend) -> &'static str {
    match backend {
        Backend::AwsLc => "aws_lc",
        Backend::Ring => "ring",
        _ => "rustcrypto",
    }
}

fn records(c: &mut Criterion) {
    let rt = runtime();
    let id = Uuid::from_u128(11);
    let id = id.as_bytes();
    let value = "twenty-four bytes, ascii";
    for backend in Backend::available() {
        let crypto = local_crypto(&rt, backend);
        let mut enc = c.benchmark_group(format!("record_fields_encrypt/{}", name(backend)));
        let mut stored = Vec::new();
        for n in [1usize, 4, 8, 16, 32] {
            let raw = RawRecords::new(backend, "wide", id, &COLUMNS[..n]);
            let values = vec![value; n];
            enc.throughput(Throughput::Elements(1));
            enc.bench_with_input(BenchmarkId::new("raw", n), &values, |b, v| {
                b.iter(|| raw.encrypt(black_box(v)))
            });
            let encx_encrypt = || async {
                let sealer = crypto.seal_record("wide", id).await.unwrap();
                let fields: Vec<Ciphertext> = COLUMNS[..n]
                    .iter()
                    .map(|c| sealer.seal(c, black_box(value)).unwrap())
                    .collect();
                (sealer.into_wrapped_dek(), fields)
            };
            enc.bench_function(BenchmarkId::new("encx", n), |b| {
                b.iter_custom(|iters| in_runtime(&rt, iters, encx_encrypt))
            });
            let sealed: (WrappedDek, Vec<Ciphertext>) = rt.block_on(encx_encrypt());
            stored.push((n, raw.encrypt(&values), sealed, raw));
        }
        enc.finish();
        let mut dec = c.benchmark_group(format!("record_fields_decrypt/{}", name(backend)));
        for (n, (raw_wrapped, raw_fields), (wrapped, fields), raw) in &stored {
            dec.throughput(Throughput::Elements(1));
            dec.bench_function(BenchmarkId::new("raw", n), |b| {
                b.iter(|| raw.decrypt(black_box(raw_wrapped), raw_fields))
            });
            dec.bench_function(BenchmarkId::new("encx", n), |b| {
                b.iter_custom(|iters| {
                    in_runtime(&rt, iters, || async {
                        let opener = crypto
                            .open_record("wide", id, Some(black_box(wrapped)), &"r")
                            .await
                            .unwrap();
                        COLUMNS[..*n]
                            .iter()
                            .zip(fields)
                            .map(|(c, f)| opener.open::<String>(c, f).unwrap())
                            .collect::<Vec<_>>()
                    })
                })
            });
        }
        dec.finish();
    }
}

fn derived(c: &mut Criterion) {
    let rt = runtime();
    let backend = Backend::current();
    let local = local_crypto(&rt, backend);
    let root: Arc<dyn encx::Keyring> =
        Arc::new(LocalKeyring::new(vec![MasterKey::new("v1", [9; 32]).unwrap()]).unwrap());
    let hierarchical = rt
        .block_on(
            Crypto::builder()
                .keyring(HierarchicalKeyring::new(
                    root,
                    Arc::new(MemoryKekStore::new()),
                ))
                .index_keys(IndexKeys::new(vec![(1, [7; 32])]).unwrap())
                .build(),
        )
        .unwrap();
    let cust = customer();
    let raw = RawRecords::for_customers(backend, &cust.id);
    let raw_encrypt = |c: &Customer| raw.encrypt_customer(c);

    let mut g = c.benchmark_group("record_encrypt");
    g.bench_function("raw", |b| b.iter(|| raw_encrypt(black_box(&cust))));
    g.bench_function("encx_local", |b| {
        b.iter_custom(|iters| in_runtime(&rt, iters, || black_box(&cust).encrypt(&local)))
    });
    g.bench_function("encx_hierarchical", |b| {
        b.iter_custom(|iters| in_runtime(&rt, iters, || black_box(&cust).encrypt(&hierarchical)))
    });
    g.finish();

    let ((wrapped, fields), _) = raw_encrypt(&cust);
    let rec_local = rt.block_on(cust.encrypt(&local)).unwrap();
    let rec_h = rt.block_on(cust.encrypt(&hierarchical)).unwrap();
    let mut g = c.benchmark_group("record_decrypt");
    g.bench_function("raw", |b| {
        b.iter(|| raw.decrypt(black_box(&wrapped), &fields))
    });
    g.bench_function("encx_local", |b| {
        b.iter_custom(|iters| {
            in_runtime(&rt, iters, || {
                Customer::decrypt(black_box(&rec_local), &local)
            })
        })
    });
    g.bench_function("encx_hierarchical", |b| {
        b.iter_custom(|iters| {
            in_runtime(&rt, iters, || {
                Customer::decrypt(black_box(&rec_h), &hierarchical)
            })
        })
    });
    g.finish();

    // What entering the executor costs per call, for comparison (not in the numbers above).
    let mut g = c.benchmark_group("executor");
    g.bench_function("tokio_block_on_noop", |b| {
        b.iter(|| rt.block_on(async { black_box(1) }))
    });
    g.finish();

    let mut g = c.benchmark_group("blind_index");
    g.bench_function("raw_hmac_sha256", |b| {
        b.iter(|| {
            let mut mac = raw.mac.clone();
            mac.update(black_box(cust.email.as_bytes()));
            black_box(mac.finalize().into_bytes());
        })
    });
    g.bench_function("encx_email_normalized", |b| {
        b.iter(|| {
            local
                .blind_index(Customer::EMAIL.spec(), black_box(&cust.email))
                .unwrap()
        })
    });
    g.finish();
}

/// Records decrypted per second on 1 to 4 threads: what `Repo::decrypt_workers` can give a
/// bulk read, on this machine's cores. 4,096 stored `Customer`s, split evenly.
fn decrypt_threads(c: &mut Criterion) {
    const RECORDS: usize = 4096;
    let rt = runtime();
    let crypto = local_crypto(&rt, Backend::current());
    let stored: Vec<_> = (0..RECORDS)
        .map(|_| rt.block_on(customer().encrypt(&crypto)).unwrap())
        .collect();
    let mut g = c.benchmark_group("decrypt_threads");
    g.throughput(Throughput::Elements(RECORDS as u64));
    for threads in [1usize, 2, 4] {
        g.bench_with_input(
            BenchmarkId::from_parameter(threads),
            &threads,
            |b, &threads| {
                b.iter(|| {
                    std::thread::scope(|scope| {
                        for chunk in stored.chunks(RECORDS.div_ceil(threads)) {
                            let crypto = &crypto;
                            scope.spawn(move || {
                                for record in chunk {
                                    black_box(
                                        ready_now(Customer::decrypt(record, crypto)).unwrap(),
                                    );
                                }
                            });
                        }
                    })
                })
            },
        );
    }
    g.finish();
}

criterion_group! {
    name = record;
    config = configured();
    targets = fields, records, derived, decrypt_threads
}
criterion_main!(record);
