//! Data-subject keys: records of a subject share its key, erasing it shreds all of them, the
//! key rows are bound, and the cache is single-flight and bounded in time.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use encx::{
    Crypto, Encrypted, MemorySubjectKeyStore, NewSubjectKey, StoredSubjectKey, SubjectKeyStore,
};
use uuid::Uuid;

use crate::support::local;

#[derive(Debug, Clone, PartialEq, Encrypted)]
#[encx(table = "users")]
pub struct User {
    #[encx(id, subject)]
    pub id: Uuid,
    #[encx(encrypt, searchable(normalize = "email"))]
    pub email: String,
}

#[derive(Debug, Clone, PartialEq, Encrypted)]
#[encx(table = "orders")]
pub struct Order {
    #[encx(id)]
    pub id: i64,
    #[encx(subject)]
    pub user_id: Uuid,
    #[encx(encrypt)]
    pub address: String,
}

/// A store that counts reads (slowly, to prove single-flight loading), and whose `latest`
/// answers "no key yet" once when `stale` is set: the read of a process that raced another to
/// create a subject's first key, made just before the other stored it.
#[derive(Debug, Default)]
struct CountingStore {
    inner: MemorySubjectKeyStore,
    reads: AtomicUsize,
    stale: std::sync::atomic::AtomicBool,
}

#[async_trait]
impl SubjectKeyStore for CountingStore {
    async fn latest(&self, subject: &[u8]) -> encx::Result<Option<StoredSubjectKey>> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(20)).await;
        if self.stale.swap(false, Ordering::SeqCst) {
            return Ok(None);
        }
        self.inner.latest(subject).await
    }
    async fn get(&self, id: Uuid) -> encx::Result<Option<StoredSubjectKey>> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(20)).await;
        self.inner.get(id).await
    }
    async fn insert(&self, new: NewSubjectKey) -> encx::Result<StoredSubjectKey> {
        self.inner.insert(new).await
    }
    async fn versions(&self, subject: &[u8]) -> encx::Result<Vec<StoredSubjectKey>> {
        self.inner.versions(subject).await
    }
    async fn tombstone(&self, subject: &[u8]) -> encx::Result<StoredSubjectKey> {
        self.inner.tombstone(subject).await
    }
    async fn erase(&self, subject: &[u8], up_to: Option<i64>) -> encx::Result<Vec<Uuid>> {
        self.inner.erase(subject, up_to).await
    }
    async fn live_page(
        &self,
        after: Option<Uuid>,
        limit: usize,
    ) -> encx::Result<Vec<StoredSubjectKey>> {
        self.inner.live_page(after, limit).await
    }
    async fn replace_wrapped(&self, id: Uuid, old: &[u8], new: &[u8]) -> encx::Result<bool> {
        self.inner.replace_wrapped(id, old, new).await
    }
}

async fn crypto_with(store: Arc<dyn SubjectKeyStore>, ttl: Duration) -> Crypto {
    Crypto::builder()
        .keyring(local("root", 3))
        .index_keys(encx::index::IndexKeys::generate().unwrap())
        .subject_keys_in(store)
        .subject_cache(ttl, 100)
        .build()
        .await
        .unwrap()
}

fn ada() -> (User, Order, Order) {
    let id = Uuid::new_v4();
    (
        User {
            id,
            email: "ada@example.com".into(),
        },
        Order {
            id: 1,
            user_id: id,
            address: "12 Analytical Row".into(),
        },
        Order {
            id: 2,
            user_id: id,
            address: "1 Engine Lane".into(),
        },
    )
}

#[tokio::test]
async fn erasing_a_subject_shreds_its_records_in_every_table_and_only_its_own() {
    let store = Arc::new(MemorySubjectKeyStore::new());
    let crypto = crypto_with(store.clone(), Duration::from_secs(60)).await;
    let (user, o1, o2) = ada();
    let mut grace = ada();
    grace.1.id = 3;
    let stored = (
        user.encrypt(&crypto).await.unwrap(),
        o1.encrypt(&crypto).await.unwrap(),
        o2.encrypt(&crypto).await.unwrap(),
        grace.1.encrypt(&crypto).await.unwrap(),
    );
    assert_eq!(User::decrypt(&stored.0, &crypto).await.unwrap(), user);
    assert_eq!(Order::decrypt(&stored.1, &crypto).await.unwrap(), o1);
    // One key for the subject, however many records and tables: two subjects, two rows.
    assert_eq!(store.with_rows(|rows| rows.len()), 2);
    let dek = stored.1.encx_dek.as_ref().unwrap().as_bytes();
    assert_eq!(dek[1], encx::KeyringKind::Subject.byte());

    let destroyed = crypto.erase_subject(user.id.as_bytes()).await.unwrap();
    assert_eq!(destroyed.len(), 1);
    assert!(crypto
        .erase_subject(user.id.as_bytes())
        .await
        .unwrap()
        .is_empty());
    // The wrapped DEKs are still in the rows: only the subject key is gone.
    assert!(stored.1.encx_dek.is_some());
    for err in [
        User::decrypt(&stored.0, &crypto).await.unwrap_err(),
        Order::decrypt(&stored.1, &crypto).await.unwrap_err(),
        Order::decrypt(&stored.2, &crypto).await.unwrap_err(),
    ] {
        assert!(
            matches!(err, encx::Error::Shredded { .. }) && err.is_shredded(),
            "{err:?}"
        );
    }
    assert_eq!(
        Order::decrypt(&stored.3, &crypto).await.unwrap(),
        grace.1,
        "another subject's records are untouched"
    );
    // A fresh process (cold cache) sees the same.
    let cold = crypto_with(store.clone(), Duration::from_secs(60)).await;
    assert!(Order::decrypt(&stored.2, &cold)
        .await
        .unwrap_err()
        .is_shredded());
}

#[tokio::test]
async fn an_erased_subject_takes_no_new_data_until_reenabled() {
    let store = Arc::new(MemorySubjectKeyStore::new());
    let crypto = crypto_with(store.clone(), Duration::from_secs(60)).await;
    let (user, old, mut new) = ada();
    let old_row = old.encrypt(&crypto).await.unwrap();
    crypto.erase_subject(user.id.as_bytes()).await.unwrap();

    let Err(refused) = new.encrypt(&crypto).await else {
        panic!("an erased subject took new data")
    };
    assert!(
        matches!(&refused, encx::Error::SubjectErased { subject } if *subject == user.id.to_string()),
        "{refused:?}"
    );
    assert!(refused.is_shredded());

    crypto.reenable_subject(user.id.as_bytes()).await.unwrap();
    crypto.reenable_subject(user.id.as_bytes()).await.unwrap(); // no-op: live again
    new.address = "2 New Street".into();
    let new_row = new.encrypt(&crypto).await.unwrap();
    assert_eq!(Order::decrypt(&new_row, &crypto).await.unwrap(), new);
    assert!(
        Order::decrypt(&old_row, &crypto)
            .await
            .unwrap_err()
            .is_shredded(),
        "re-enabling never brings erased data back"
    );
    let versions: Vec<i64> = store.with_rows(|rows| rows.iter().map(|r| r.version).collect());
    assert_eq!(versions, vec![1, 2]);
}

#[tokio::test]
async fn edited_subject_key_rows_and_moved_records_are_tampered() {
    let store = Arc::new(MemorySubjectKeyStore::new());
    let (user, order, _) = ada();
    let other = Uuid::new_v4();
    let stored = {
        let crypto = crypto_with(store.clone(), Duration::from_secs(60)).await;
        let mut theirs = order.clone();
        theirs.user_id = other;
        theirs.id = 9;
        theirs.encrypt(&crypto).await.unwrap();
        order.encrypt(&crypto).await.unwrap()
    };
    type Edit = fn(&mut Vec<StoredSubjectKey>, &[u8]);
    let edits: [(&str, Edit); 2] = [
        ("version", |rows, s| {
            rows.iter_mut()
                .filter(|r| r.subject == s)
                .for_each(|r| r.version = 7)
        }),
        ("subject", |rows, s| {
            rows.iter_mut()
                .filter(|r| r.subject == s)
                .for_each(|r| r.subject = b"someone else".to_vec())
        }),
    ];
    for (what, edit) in edits {
        let snapshot = store.with_rows(|rows| rows.clone());
        store.with_rows(|rows| edit(rows, user.id.as_bytes()));
        let crypto = crypto_with(store.clone(), Duration::from_secs(60)).await;
        let err = Order::decrypt(&stored, &crypto).await.unwrap_err();
        assert!(err.is_tampered(), "edited {what}: {err:?}");
        store.with_rows(|rows| *rows = snapshot);
    }

    // The record claims another subject than the one whose key wrapped its DEK.
    let crypto = crypto_with(store.clone(), Duration::from_secs(60)).await;
    let mut moved = stored.clone();
    moved.user_id = other;
    let err = Order::decrypt(&moved, &crypto).await.unwrap_err();
    assert!(err.is_tampered(), "{err:?}");
    assert_eq!(Order::decrypt(&stored, &crypto).await.unwrap(), order);
    // The same with the key already cached: the subject is checked on every read.
    let err = Order::decrypt(&moved, &crypto).await.unwrap_err();
    assert!(err.is_tampered(), "warm cache: {err:?}");
    let warm = crypto_with(store.clone(), Duration::from_secs(60)).await;
    assert_eq!(Order::decrypt(&stored, &warm).await.unwrap(), order);
    let err = Order::decrypt(&moved, &warm).await.unwrap_err();
    assert!(
        err.is_tampered(),
        "key cached by a read of the true row: {err:?}"
    );

    // A DEK naming a subject key the store never held.
    let mut unknown = stored.clone();
    let mut bytes = unknown.encx_dek.take().unwrap().into_bytes();
    bytes[2] ^= 0xff;
    unknown.encx_dek = Some(encx::WrappedDek::from_bytes(bytes));
    let err = Order::decrypt(&unknown, &crypto).await.unwrap_err();
    assert!(
        matches!(err, encx::Error::UnknownKeyId { .. }) && err.is_tampered(),
        "{err:?}"
    );
}

#[tokio::test]
async fn concurrent_cold_reads_of_one_subject_read_the_store_once() {
    let counting = Arc::new(CountingStore::default());
    let writer = crypto_with(counting.clone(), Duration::from_secs(60)).await;
    let (_, order, _) = ada();
    let stored = order.encrypt(&writer).await.unwrap();

    let reader = crypto_with(counting.clone(), Duration::from_secs(60)).await;
    let before = counting.reads.load(Ordering::SeqCst);
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let reader = reader.clone();
            let stored = stored.clone();
            tokio::spawn(async move { Order::decrypt(&stored, &reader).await })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap(), order);
    }
    assert_eq!(counting.reads.load(Ordering::SeqCst) - before, 1);
}

#[tokio::test]
async fn another_process_stops_serving_an_erased_subject_within_its_cache_ttl() {
    let store = Arc::new(MemorySubjectKeyStore::new());
    let ttl = Duration::from_millis(300);
    let eraser = crypto_with(store.clone(), ttl).await;
    let other = crypto_with(store.clone(), ttl).await;
    let (user, order, _) = ada();
    let stored = order.encrypt(&eraser).await.unwrap();
    assert_eq!(Order::decrypt(&stored, &other).await.unwrap(), order); // cached in `other`

    eraser.erase_subject(user.id.as_bytes()).await.unwrap();
    let erased_at = std::time::Instant::now();
    assert!(Order::decrypt(&stored, &eraser)
        .await
        .unwrap_err()
        .is_shredded());
    // `other` may serve from its cache until the TTL runs out, never after.
    loop {
        match Order::decrypt(&stored, &other).await {
            Ok(_) => assert!(
                erased_at.elapsed() < ttl,
                "served {:?} after the erase, TTL {ttl:?}",
                erased_at.elapsed()
            ),
            Err(e) => {
                assert!(e.is_shredded(), "{e:?}");
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(erased_at.elapsed() <= ttl + Duration::from_millis(100));
}

/// Erasing a subject that never had a key leaves a tombstone: its first record afterwards is
/// refused, until the subject is re-enabled.
#[tokio::test]
async fn erasing_a_subject_with_no_key_yet_blocks_its_first_record() {
    let store = Arc::new(MemorySubjectKeyStore::new());
    let crypto = crypto_with(store.clone(), Duration::from_secs(60)).await;
    let (user, order, _) = ada();
    assert!(crypto
        .erase_subject(user.id.as_bytes())
        .await
        .unwrap()
        .is_empty());
    let rows = crypto
        .subject_key_versions(user.id.as_bytes())
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "a tombstone");
    assert!(rows[0].wrapped.is_none() && rows[0].erased_at.is_some());
    for crypto in [
        crypto.clone(),
        crypto_with(store.clone(), Duration::from_secs(60)).await,
    ] {
        let Err(err) = order.encrypt(&crypto).await else {
            panic!("an erased subject's first record was accepted");
        };
        assert!(matches!(err, encx::Error::SubjectErased { .. }), "{err:?}");
    }
    crypto.reenable_subject(user.id.as_bytes()).await.unwrap();
    let row = order.encrypt(&crypto).await.unwrap();
    assert_eq!(Order::decrypt(&row, &crypto).await.unwrap(), order);
    assert_eq!(
        crypto
            .subject_erasure_point(user.id.as_bytes())
            .await
            .unwrap(),
        2
    );
}

#[tokio::test]
async fn subject_records_need_a_subject_key_store() {
    let crypto = Crypto::builder()
        .keyring(local("root", 3))
        .build()
        .await
        .unwrap();
    let (_, order, _) = ada();
    let Err(err) = order.encrypt(&crypto).await else {
        panic!("encrypted without a subject key store")
    };
    assert!(err.is_config(), "{err:?}");
}

#[tokio::test]
async fn applying_an_erasure_again_spares_a_key_made_after_reenabling() {
    let store = Arc::new(MemorySubjectKeyStore::new());
    let crypto = crypto_with(store.clone(), Duration::from_secs(60)).await;
    let (user, old, mut new) = ada();
    let old_row = old.encrypt(&crypto).await.unwrap();
    let snapshot = store.with_rows(|rows| rows.clone()); // a backup of the key store
    tokio::time::sleep(Duration::from_millis(5)).await;
    crypto.erase_subject(user.id.as_bytes()).await.unwrap();
    crypto.reenable_subject(user.id.as_bytes()).await.unwrap();
    new.address = "after".into();
    let new_row = new.encrypt(&crypto).await.unwrap();

    // The key store is restored: the old key is back, beside the new one.
    store.with_rows(|rows| {
        let new_key = rows.iter().find(|r| r.version == 2).cloned().unwrap();
        *rows = snapshot;
        rows.push(new_key);
    });
    let restored = crypto_with(store.clone(), Duration::from_secs(60)).await;
    assert_eq!(Order::decrypt(&old_row, &restored).await.unwrap(), old);

    // Coverage is by version: the erasure covered version 1, whatever the clocks said.
    let destroyed = restored
        .erase_subject_up_to(user.id.as_bytes(), 1)
        .await
        .unwrap();
    assert_eq!(destroyed.len(), 1);
    assert!(Order::decrypt(&old_row, &restored)
        .await
        .unwrap_err()
        .is_shredded());
    assert_eq!(Order::decrypt(&new_row, &restored).await.unwrap(), new);
}

/// After a new root key version, `rewrap_subject_keys` moves every live subject key under it
/// (the records' DEKs do not change), skips erased subjects, does nothing the second time, and
/// then a keyring without the old version reads every record.
#[tokio::test]
async fn subject_keys_are_rewrapped_under_a_new_root_version() {
    const K1: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
    const K2: &str = "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=";
    #[derive(Debug, Default)]
    struct Events(std::sync::Mutex<Vec<encx::AuditEvent>>);
    impl encx::AuditSink for Events {
        fn record(&self, event: encx::AuditEvent) {
            self.0.lock().unwrap().push(event);
        }
    }
    let events = Arc::new(Events::default());
    let store = Arc::new(MemorySubjectKeyStore::new());
    let with_root = |spec: String| {
        let store = store.clone();
        let events = events.clone();
        async move {
            Crypto::builder()
                .keyring(encx::LocalKeyring::from_spec(&spec).unwrap())
                .index_keys(encx::index::IndexKeys::generate().unwrap())
                .subject_keys_in(store)
                .audit(events)
                .build()
                .await
                .unwrap()
        }
    };
    let v1 = with_root(format!("v1:{K1}")).await;
    let mut orders = Vec::new();
    for n in 0..5 {
        let (_, mut order, _) = ada();
        order.id = n;
        orders.push((order.encrypt(&v1).await.unwrap(), order));
    }
    v1.erase_subject(orders[0].1.user_id.as_bytes())
        .await
        .unwrap();
    let v1_id = encx::MasterKey::from_base64("v1", K1).unwrap().key_id();
    let v2_id = encx::MasterKey::from_base64("v2", K2).unwrap().key_id();
    assert_eq!(
        v1.subject_key_usage().await.unwrap(),
        vec![(encx::KeyInUse::LocalMasterKey(v1_id), 4)]
    );

    let both = with_root(format!("v1:{K1}, v2:{K2}")).await;
    let done = both.rewrap_subject_keys(3).await.unwrap();
    assert_eq!((done.scanned, done.rewrapped), (4, 4));
    {
        let events = events.0.lock().unwrap();
        let last = events.last().unwrap();
        assert_eq!(
            (last.action, last.table, last.records),
            (encx::AuditAction::Rewrap, "encx_subject_keys", 4)
        );
    }
    assert_eq!(
        both.subject_key_usage().await.unwrap(),
        vec![(encx::KeyInUse::LocalMasterKey(v2_id), 4)]
    );
    assert_eq!(both.rewrap_subject_keys(3).await.unwrap().rewrapped, 0);
    assert!(both.rewrap_subject_keys(0).await.is_err());

    let v2 = with_root(format!("v2:{K2}")).await;
    for (stored, order) in &orders[1..] {
        assert_eq!(&Order::decrypt(stored, &v2).await.unwrap(), order);
    }
    let erased = Order::decrypt(&orders[0].0, &v2).await.unwrap_err();
    assert_eq!(erased.kind(), encx::ErrorKind::Erased, "{erased:?}");
}

/// Two processes create a subject's first key at once: the store keeps one, and the process
/// whose insert lost adopts the stored key instead of sealing under a key nobody stored (whose
/// records nobody could read, and no erasure could reach).
#[tokio::test]
async fn the_process_that_loses_the_race_for_a_first_key_seals_under_the_stored_one() {
    let store = Arc::new(CountingStore::default());
    let winner = crypto_with(store.clone(), Duration::from_secs(60)).await;
    let (user, first, mut second) = ada();
    let first_stored = first.encrypt(&winner).await.unwrap();

    let loser = crypto_with(store.clone(), Duration::from_secs(60)).await;
    store.stale.store(true, Ordering::SeqCst);
    second.id = 2;
    let second_stored = second.encrypt(&loser).await.unwrap();
    assert!(
        !store.stale.load(Ordering::SeqCst),
        "the stale read was made"
    );

    assert_eq!(
        store.inner.with_rows(|rows| rows.len()),
        1,
        "one key stored"
    );
    let key_id = |order: &OrderRecord| order.encx_dek.as_ref().unwrap().as_bytes()[2..18].to_vec();
    assert_eq!(key_id(&second_stored), key_id(&first_stored));
    let reader = crypto_with(store.clone(), Duration::from_secs(60)).await;
    assert_eq!(
        Order::decrypt(&second_stored, &reader).await.unwrap(),
        second
    );
    // And erasing the subject reaches the loser's record too.
    reader.erase_subject(user.id.as_bytes()).await.unwrap();
    let fresh = crypto_with(store, Duration::from_secs(60)).await;
    let err = Order::decrypt(&second_stored, &fresh).await.unwrap_err();
    assert!(matches!(err, encx::Error::Shredded { .. }), "{err:?}");
}

/// Key usage reads the store a page (1,000 rows) at a time: every page is counted.
#[tokio::test]
async fn subject_key_usage_counts_every_page() {
    use std::collections::BTreeMap;
    let store = Arc::new(MemorySubjectKeyStore::new());
    let local_id = [0x11u8; 16];
    let kek = Uuid::from_bytes([0x22; 16]);
    let mut expected: BTreeMap<encx::KeyInUse, u64> = BTreeMap::new();
    store.with_rows(|rows| {
        for n in 0u32..2_345 {
            let (prefix, in_use) = match n % 3 {
                0 => (
                    [&[0x02, 0x01][..], &local_id].concat(),
                    encx::KeyInUse::LocalMasterKey(local_id),
                ),
                1 => (
                    [&[0x02, 0x03][..], kek.as_bytes()].concat(),
                    encx::KeyInUse::Kek(kek),
                ),
                _ => (vec![0x01, 0x02, 0xAA, 0xBB], encx::KeyInUse::AwsKms),
            };
            let mut wrapped = prefix;
            wrapped.resize(94, 0);
            let erased = n % 100 == 7;
            if !erased {
                *expected.entry(in_use).or_default() += 1;
            }
            rows.push(StoredSubjectKey {
                id: Uuid::new_v4(),
                subject: n.to_be_bytes().to_vec(),
                version: 1,
                wrapped: (!erased).then_some(wrapped),
                created_at: std::time::SystemTime::now(),
                erased_at: None,
            });
        }
    });
    let crypto = crypto_with(store, Duration::from_secs(60)).await;
    let usage: BTreeMap<_, _> = crypto
        .subject_key_usage()
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(usage, expected);
    assert!(usage.values().sum::<u64>() > 2_000);
}

/// What an erasure covers: its recorded version, or for an entry written before versions were
/// recorded, the highest version created at or before the erasure (none when there is none).
#[test]
fn an_erasure_covers_its_recorded_version_or_the_keys_made_before_it() {
    use encx::ErasureEntry;
    use std::time::{Duration, SystemTime};
    let t = |secs: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
    let row = |version: i64, created: u64| StoredSubjectKey {
        id: Uuid::new_v4(),
        subject: b"s".to_vec(),
        version,
        wrapped: None,
        created_at: t(created),
        erased_at: None,
    };
    let rows = vec![row(1, 100), row(2, 200), row(3, 300)];
    assert_eq!(
        ErasureEntry::new(b"s".to_vec(), t(150), 2).covered_version(&rows),
        Some(2)
    );
    assert_eq!(
        ErasureEntry::new(b"s".to_vec(), t(150), 7).covered_version(&[]),
        Some(7)
    );
    let old = |at: u64| ErasureEntry::stored(b"s".to_vec(), t(at), None);
    assert_eq!(old(250).covered_version(&rows), Some(2));
    assert_eq!(
        old(300).covered_version(&rows),
        Some(3),
        "created at the erasure"
    );
    assert_eq!(old(99).covered_version(&rows), None);
    assert_eq!(old(1_000).covered_version(&rows[..1]), Some(1));
}

#[tokio::test]
async fn the_memory_ledger_keeps_every_entry_in_order() {
    use encx::{ErasureEntry, ErasureLedger, MemoryErasureLedger};
    let ledger = MemoryErasureLedger::new();
    assert!(ledger.entries().await.unwrap().is_empty());
    let at = std::time::SystemTime::UNIX_EPOCH;
    let a = ErasureEntry::new(b"a".to_vec(), at, 1);
    let b = ErasureEntry::stored(b"b".to_vec(), at, None);
    ledger.record(&a).await.unwrap();
    ledger.record(&b).await.unwrap();
    assert_eq!(ledger.entries().await.unwrap(), vec![a, b]);
}

/// `replace_wrapped` replaces the row with that id only while it still holds `old`.
#[tokio::test]
async fn the_memory_store_replaces_a_wrapped_key_only_if_unchanged() {
    let store = MemorySubjectKeyStore::new();
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    for (id, subject, wrapped) in [(a, b"a", b"old-a"), (b, b"b", b"old-b")] {
        store
            .insert(NewSubjectKey {
                id,
                subject: subject.to_vec(),
                version: 1,
                wrapped: wrapped.to_vec(),
            })
            .await
            .unwrap();
    }
    let store = &store;
    let wrapped_of = |id| async move { store.get(id).await.unwrap().unwrap().wrapped };
    // Another row's bytes, or a stale value, replace nothing.
    assert!(!store.replace_wrapped(a, b"old-b", b"new").await.unwrap());
    assert!(!store
        .replace_wrapped(Uuid::new_v4(), b"old-a", b"new")
        .await
        .unwrap());
    assert_eq!(wrapped_of(a).await, Some(b"old-a".to_vec()));
    assert_eq!(wrapped_of(b).await, Some(b"old-b".to_vec()));
    assert!(store.replace_wrapped(a, b"old-a", b"new-a").await.unwrap());
    assert_eq!(wrapped_of(a).await, Some(b"new-a".to_vec()));
    assert_eq!(wrapped_of(b).await, Some(b"old-b".to_vec()));
    assert!(!store.replace_wrapped(a, b"old-a", b"newer").await.unwrap());
}

/// The subject cache settings are what the builder was given, and the Crypto's Debug shows
/// them (and no key).
#[tokio::test]
async fn the_subject_cache_ttl_and_bound_are_the_builders() {
    let store = Arc::new(MemorySubjectKeyStore::new());
    let crypto = crypto_with(store, Duration::from_millis(1_234)).await;
    assert_eq!(
        crypto.subject_cache_ttl(),
        Some(Duration::from_millis(1_234))
    );
    let debug = format!("{crypto:?}");
    assert!(
        debug.contains(
            "SubjectKeys { store: MemorySubjectKeyStore { .. }, cache_ttl: 1.234s, cache_entries: 100 }"
        ),
        "{debug}"
    );
    let without = Crypto::builder()
        .keyring(local("root", 3))
        .build()
        .await
        .unwrap();
    assert_eq!(without.subject_cache_ttl(), None);
}
