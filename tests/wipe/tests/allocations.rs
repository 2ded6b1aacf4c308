//! Heap allocations per record: encrypting and decrypting a 4-field record through encx,
//! counted by this test binary's global allocator, on every AES-GCM backend built in.
//!
//! `cargo test -p encx-wipe-check --test allocations -- --nocapture` prints the counts
//! (docs/benchmarks.md quotes them). The bounds below fail the test if a change adds
//! allocations to the hot path. Memory that AWS-LC allocates in C (`OPENSSL_malloc`, one block
//! per AES-GCM key: the wrap key and the DEK) is not seen by Rust's allocator and is counted
//! apart.
#![allow(unsafe_code, missing_docs, clippy::unwrap_used, clippy::print_stdout)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use encx::aead::Backend;
use encx::{Crypto, Encrypted, LocalKeyring, MasterKey};

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicUsize = AtomicUsize::new(0);
static REALLOCS: AtomicUsize = AtomicUsize::new(0);

struct Counting;

// SAFETY: every call is forwarded to `System` with the same arguments; only counters change.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            REALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The record of the benches (`encx/benches/record.rs`): four encrypted fields, one searchable.
#[derive(Clone, Encrypted)]
#[encx(table = "customers")]
struct Customer {
    #[encx(id)]
    id: u64,
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

const RECORDS: usize = 1_000;

/// Mean allocations and reallocations per call of `f` over [`RECORDS`] calls.
fn per_call(mut f: impl FnMut(usize)) -> (f64, f64) {
    f(0); // warm-up: lazily created state (thread-local pools, caches) is not per record
    ALLOCS.store(0, Ordering::SeqCst);
    REALLOCS.store(0, Ordering::SeqCst);
    COUNTING.store(true, Ordering::SeqCst);
    for i in 0..RECORDS {
        f(i);
    }
    COUNTING.store(false, Ordering::SeqCst);
    (
        ALLOCS.load(Ordering::SeqCst) as f64 / RECORDS as f64,
        REALLOCS.load(Ordering::SeqCst) as f64 / RECORDS as f64,
    )
}

#[test]
fn allocations_per_record_stay_within_their_bounds() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let customer = Customer {
        id: 7,
        name: "Ada Lovelace".into(),
        email: "ada.lovelace@example.com".into(),
        phone: "+44 20 7946 0958".into(),
        address: "12 St James's Square, London SW1Y 4JH".into(),
        notes: "Prefers contact by post. VIP since 1843.".into(),
    };
    for backend in Backend::available() {
        let crypto = rt
            .block_on(
                Crypto::builder()
                    .keyring(
                        LocalKeyring::new(vec![MasterKey::new("v1", [9; 32]).unwrap()]).unwrap(),
                    )
                    .index_keys(encx::index::IndexKeys::new(vec![(1, [7; 32])]).unwrap())
                    .aead_backend(backend)
                    .build(),
            )
            .unwrap();
        let record = rt.block_on(customer.encrypt(&crypto)).unwrap();
        let (enc, enc_re) = per_call(|_| {
            drop(rt.block_on(customer.encrypt(&crypto)).unwrap());
        });
        let (dec, dec_re) = per_call(|_| {
            drop(rt.block_on(Customer::decrypt(&record, &crypto)).unwrap());
        });
        let c_blocks = if backend == Backend::AwsLc { 2 } else { 0 };
        println!(
            "{backend}: encrypt {enc:.1} allocations + {enc_re:.1} reallocations per record, \
             decrypt {dec:.1} + {dec_re:.1} (plus {c_blocks} blocks allocated in C per record)"
        );
        // What the record itself holds: the stored form has 4 ciphertexts, the wrapped DEK,
        // the blind index and the plain name (7 buffers); the decrypted value 5 strings.
        assert!(enc <= 10.0, "{backend}: {enc} allocations per encrypt");
        assert!(dec <= 9.0, "{backend}: {dec} allocations per decrypt");
        assert!(
            enc_re + dec_re < 0.1,
            "{backend}: reallocations on the hot path"
        );
    }
}
