//! Record encryption and blind indexes through encx, beside the raw aes-gcm + hmac operations
//! underneath, measured in the same run so the ratio framework/raw can be read off.
//!
//! `cargo bench -p encx --bench record`
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;
use std::sync::Arc;

use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes256Gcm, KeyInit, Nonce, Tag};
use criterion::{criterion_group, criterion_main, Criterion};
use encx::index::IndexKeys;
use encx::{Crypto, Encrypted, HierarchicalKeyring, LocalKeyring, MasterKey, MemoryKekStore};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

/// The benchmark record: an id, one plain column, four encrypted fields, one of them searchable.
#[derive(Clone, Encrypted)]
#[encx(table = "customers")]
struct Customer {
    #[encx(id)]
    id: Uuid,
    name: String,
    #[encx(encrypt, searchable(normalize = "email"))]
    email: String,
    #[encx(encrypt)]
    phone: String,
    #[encx(encrypt)]
    address: String,
    #[encx(encrypt)]
    notes: String,
}

fn customer() -> Customer {
    Customer {
        id: Uuid::new_v4(),
        name: "Ada Lovelace".into(),
        email: "ada.lovelace@example.com".into(),
        phone: "+44 20 7946 0958".into(),
        address: "12 St James's Square, London SW1Y 4JH".into(),
        notes: "Prefers contact by post. VIP since 1843.".into(),
    }
}

/// The raw operations a record encryption is made of, with no framework around them:
/// DEK from the OS RNG, wrap it under a prepared master cipher, set up the DEK cipher, seal the
/// four encoded fields with OS-RNG nonces, and one keyed HMAC for the index.
struct Raw {
    master: Aes256Gcm,
    mac: Hmac<Sha256>,
    /// The same AAD bytes encx authenticates (context of the DEK, then of each field), built
    /// once outside the timed loop: the baseline does the same cryptographic work, minus
    /// everything around it.
    dek_aad: Vec<u8>,
    field_aad: [Vec<u8>; 4],
}

impl Raw {
    fn new(id: &[u8]) -> Self {
        let field = |column: &str| encx::cipher::FieldContext::new("customers", column, id).aad();
        let mut dek_aad = b"encx:v1:dek".to_vec();
        for part in [&b"customers"[..], id] {
            dek_aad.extend_from_slice(&(part.len() as u32).to_be_bytes());
            dek_aad.extend_from_slice(part);
        }
        dek_aad.extend_from_slice(&[0u8; 18]);
        Raw {
            master: Aes256Gcm::new((&[9u8; 32]).into()),
            mac: <Hmac<Sha256> as Mac>::new_from_slice(&[7; 32]).unwrap(),
            dek_aad,
            field_aad: [
                field("email"),
                field("phone"),
                field("address"),
                field("notes"),
            ],
        }
    }
}

fn nonce() -> [u8; 12] {
    let mut n = [0u8; 12];
    getrandom::getrandom(&mut n).unwrap();
    n
}

fn raw_seal(aead: &Aes256Gcm, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let n = nonce();
    let mut out = Vec::with_capacity(29 + plaintext.len());
    out.push(1);
    out.extend_from_slice(&n);
    out.extend_from_slice(plaintext);
    let tag = aead
        .encrypt_in_place_detached(Nonce::from_slice(&n), aad, &mut out[13..])
        .unwrap();
    out.extend_from_slice(&tag);
    out
}

fn raw_open(aead: &Aes256Gcm, aad: &[u8], sealed: &[u8]) -> Vec<u8> {
    let (n, rest) = sealed[1..].split_at(12);
    let (body, tag) = rest.split_at(rest.len() - 16);
    let mut out = body.to_vec();
    aead.decrypt_in_place_detached(Nonce::from_slice(n), aad, &mut out, Tag::from_slice(tag))
        .unwrap();
    out
}

impl Raw {
    fn encrypt(&self, c: &Customer) -> (Vec<u8>, [Vec<u8>; 4], Vec<u8>) {
        let mut dek = [0u8; 32];
        getrandom::getrandom(&mut dek).unwrap();
        let wrapped = raw_seal(&self.master, &self.dek_aad, &dek);
        let aead = Aes256Gcm::new((&dek).into());
        let values = [&c.email, &c.phone, &c.address, &c.notes];
        let fields =
            [0, 1, 2, 3].map(|i| raw_seal(&aead, &self.field_aad[i], values[i].as_bytes()));
        let mut mac = self.mac.clone();
        mac.update(c.email.as_bytes());
        (wrapped, fields, mac.finalize().into_bytes()[..4].to_vec())
    }

    fn decrypt(&self, wrapped: &[u8], fields: &[Vec<u8>; 4]) -> [Vec<u8>; 4] {
        let dek = raw_open(&self.master, &self.dek_aad, wrapped);
        let aead = Aes256Gcm::new(dek.as_slice().into());
        [0, 1, 2, 3].map(|i| raw_open(&aead, &self.field_aad[i], &fields[i]))
    }
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let root: Arc<dyn encx::Keyring> =
        Arc::new(LocalKeyring::new(vec![MasterKey::generate("v1").unwrap()]).unwrap());
    let index_keys = || IndexKeys::new(vec![(1, [7; 32])]).unwrap();
    let local = rt
        .block_on(
            Crypto::builder()
                .shared_keyring(root.clone())
                .index_keys(index_keys())
                .build(),
        )
        .unwrap();
    let hierarchical = rt
        .block_on(
            Crypto::builder()
                .keyring(HierarchicalKeyring::new(
                    root,
                    Arc::new(MemoryKekStore::new()),
                ))
                .index_keys(index_keys())
                .build(),
        )
        .unwrap();
    let cust = customer();
    let raw = Raw::new(cust.id.as_bytes());

    let mut g = c.benchmark_group("record_encrypt");
    g.bench_function("raw_aes_gcm_hmac", |b| {
        b.iter(|| black_box(raw.encrypt(black_box(&cust))))
    });
    g.bench_function("encx_local", |b| {
        b.iter(|| rt.block_on(black_box(&cust).encrypt(&local)).unwrap())
    });
    g.bench_function("encx_hierarchical", |b| {
        b.iter(|| {
            rt.block_on(black_box(&cust).encrypt(&hierarchical))
                .unwrap()
        })
    });
    g.finish();

    let (wrapped, fields, _) = raw.encrypt(&cust);
    let rec_local = rt.block_on(cust.encrypt(&local)).unwrap();
    let rec_h = rt.block_on(cust.encrypt(&hierarchical)).unwrap();
    let mut g = c.benchmark_group("record_decrypt");
    g.bench_function("raw_aes_gcm", |b| {
        b.iter(|| black_box(raw.decrypt(black_box(&wrapped), &fields)))
    });
    g.bench_function("encx_local", |b| {
        b.iter(|| {
            rt.block_on(Customer::decrypt(black_box(&rec_local), &local))
                .unwrap()
        })
    });
    g.bench_function("encx_hierarchical", |b| {
        b.iter(|| {
            rt.block_on(Customer::decrypt(black_box(&rec_h), &hierarchical))
                .unwrap()
        })
    });
    g.finish();

    // What driving a future costs by itself: encx's async API runs inside `block_on` here.
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

    let mut g = c.benchmark_group("field_seal_64B");
    let dek = [3u8; 32];
    let aead = Aes256Gcm::new((&dek).into());
    let payload = [0x42u8; 64];
    g.bench_function("raw_aes_gcm", |b| {
        b.iter(|| black_box(raw_seal(&aead, &raw.field_aad[3], black_box(&payload))))
    });
    let cipher = encx::cipher::FieldCipher::new(&encx::Dek::from_bytes(dek)).unwrap();
    let ctx = encx::cipher::FieldContext::new("customers", "notes", b"0123456789abcdef");
    g.bench_function("encx_field_cipher", |b| {
        b.iter(|| cipher.seal(&ctx, black_box(&payload)).unwrap())
    });
    g.finish();
}

criterion_group!(record, benches);
criterion_main!(record);
