//! Plaintext that encx allocates is wiped before it is freed.
//!
//! The global allocator of this test binary scans every block it frees (and every block a
//! reallocation leaves behind) for a marker string. A control path that is known to leave
//! copies (postcard's growing `Vec`) proves the scanner sees them; encx's paths must leave none.
#![allow(unsafe_code, missing_docs, clippy::unwrap_used)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

const MARKER: &[u8] = b"wipe-check-marker-5c1f";

static ARMED: AtomicBool = AtomicBool::new(false);
/// Tests take this for their whole run: the counter is global.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
static FOUND: AtomicUsize = AtomicUsize::new(0);

struct Scanning;

// SAFETY: every call is forwarded to `System` with the same arguments; `dealloc` only reads the
// block it is given (valid for `layout.size()` bytes until it is freed) before freeing it.
unsafe impl GlobalAlloc for Scanning {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if ARMED.load(Ordering::SeqCst) {
            let block = unsafe { std::slice::from_raw_parts(ptr, layout.size()) };
            if block.windows(MARKER.len()).any(|w| w == MARKER) {
                FOUND.fetch_add(1, Ordering::SeqCst);
            }
        }
        unsafe { System.dealloc(ptr, layout) }
    }
    // `realloc` keeps its default: alloc, copy, dealloc: the old block is scanned too.
}

#[global_allocator]
static ALLOCATOR: Scanning = Scanning;

/// Freed blocks holding the marker while `f` ran.
fn leaks(f: impl FnOnce()) -> usize {
    FOUND.store(0, Ordering::SeqCst);
    ARMED.store(true, Ordering::SeqCst);
    f();
    ARMED.store(false, Ordering::SeqCst);
    FOUND.load(Ordering::SeqCst)
}

fn secret(n: usize) -> String {
    let mut s = String::from_utf8(MARKER.to_vec()).unwrap();
    s.push_str(&"x".repeat(n));
    s
}

#[derive(Serialize, Deserialize)]
struct Profile {
    name: String,
    notes: Vec<String>,
    city: Option<String>,
}

impl Drop for Profile {
    fn drop(&mut self) {
        self.name.zeroize();
        self.notes.iter_mut().for_each(Zeroize::zeroize);
        self.city.zeroize();
    }
}

fn profile() -> Profile {
    Profile {
        name: secret(3),
        notes: vec![secret(40), secret(90), secret(200)],
        city: Some(secret(7)),
    }
}

#[test]
fn plaintext_is_wiped_before_it_is_freed() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    // Warm up lazily allocated runtime state outside the armed windows.
    let value = profile();
    drop(encx::codec::encode(&value).unwrap());

    // Control: postcard's own growing Vec frees partial copies unwiped. If this found nothing,
    // the scanner would be blind and the checks below would prove nothing.
    let control = leaks(|| {
        let mut bytes = postcard::to_allocvec(&value).unwrap();
        bytes.zeroize();
    });
    assert!(
        control > 0,
        "the scanner must see the control path's copies"
    );

    // encx's encoder: sized once, wiped on drop.
    assert_eq!(
        leaks(|| drop(encx::codec::encode(&value).unwrap())),
        0,
        "codec::encode"
    );

    // Decoding: the in-place String path and the general path.
    let encoded = encx::codec::encode(&value).unwrap();
    let one = encx::codec::encode(&secret(50)).unwrap();
    assert_eq!(
        leaks(|| {
            let mut text: String =
                encx::codec::decode_owned(zeroize::Zeroizing::new(one.to_vec())).unwrap();
            text.zeroize();
            let decoded: Profile = encx::codec::decode(&encoded).unwrap();
            drop(decoded);
        }),
        0,
        "codec::decode"
    );

    // Format 2: a bare String takes the buffer over; any other bare type reads borrowed bytes
    // and the buffer is wiped as it drops.
    #[derive(Deserialize)]
    #[serde(transparent)]
    struct Email(String);
    impl Drop for Email {
        fn drop(&mut self) {
            self.0.zeroize();
        }
    }
    let mut plain = secret(60);
    let bare = encx::codec::encode_bare(&plain).unwrap().unwrap();
    assert_eq!(
        leaks(|| {
            let mut text: String =
                encx::codec::decode_bare(zeroize::Zeroizing::new(bare.to_vec())).unwrap();
            text.zeroize();
            let email: Email =
                encx::codec::decode_bare(zeroize::Zeroizing::new(bare.to_vec())).unwrap();
            drop(email);
            drop(encx::codec::encode_bare(&plain).unwrap());
        }),
        0,
        "codec::decode_bare"
    );
    plain.zeroize();
    drop(value);
}

#[test]
fn records_and_blind_indexes_wipe_their_plaintext() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(records_and_blind_indexes());
}

async fn records_and_blind_indexes() {
    use encx::index::{IndexKeys, IndexSpec};
    use encx::{Crypto, LocalKeyring, MasterKey, Normalizer};

    let crypto = Crypto::builder()
        .keyring(LocalKeyring::new(vec![MasterKey::new("v1", [3; 32]).unwrap()]).unwrap())
        .index_keys(IndexKeys::new(vec![(1, [4; 32])]).unwrap())
        .build()
        .await
        .unwrap();
    const SPEC: IndexSpec = IndexSpec::new("email", "5:users,5:email,", 32, Normalizer::Email);
    // Warm-up: derive and cache the index key, fill the nonce pool.
    crypto.blind_index(&SPEC, "warm").unwrap();
    let sealer = crypto.seal_record("users", b"r1").await.unwrap();
    let _ = sealer.seal("email", "warm").unwrap();

    // The query value is upper case, so the normalized (lower case) form is a new buffer that
    // holds the marker; before the fix it was freed unwiped.
    let mut query = format!("  {}  ", secret(30).to_uppercase());
    let mut stored = secret(30);
    let found = leaks(|| {
        crypto.blind_index(&SPEC, query.as_str()).unwrap();
        assert!(crypto.index_matches(&SPEC, query.as_str(), stored.as_str()));
    });
    query.zeroize();
    stored.zeroize();
    assert_eq!(found, 0, "blind index normalization");

    let value = profile();
    let sealed = leaks(|| {
        let sealed = sealer.seal("profile", &value).unwrap();
        drop(sealed);
    });
    assert_eq!(sealed, 0, "RecordSealer::seal");
    drop(value);
}
