//! Stored key rows are authenticated (id, purpose and version bound into their wrapping), and
//! version counters refuse to wrap.
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use encx::index::IndexKeys;
use encx::{
    Error, HierarchicalKeyring, KekState, KekStore, KeyContext, KeyPurpose, Keyring,
    MemoryKekStore, NewKek, StoredKek,
};
use uuid::Uuid;

use crate::support::local;

/// A key store whose rows a "database writer" edits on the way out.
#[derive(Debug)]
struct EditedStore {
    inner: MemoryKekStore,
    edit: Mutex<Option<fn(&mut StoredKek)>>,
}

impl EditedStore {
    fn new() -> Arc<Self> {
        Arc::new(EditedStore {
            inner: MemoryKekStore::new(),
            edit: Mutex::new(None),
        })
    }
    fn set_edit(&self, edit: fn(&mut StoredKek)) {
        *self.edit.lock().unwrap() = Some(edit);
    }
    fn apply(&self, mut row: StoredKek) -> StoredKek {
        if let Some(edit) = *self.edit.lock().unwrap() {
            edit(&mut row);
        }
        row
    }
}

#[async_trait]
impl KekStore for EditedStore {
    async fn get(&self, id: Uuid) -> encx::Result<Option<StoredKek>> {
        Ok(self.inner.get(id).await?.map(|r| self.apply(r)))
    }
    async fn active(&self, purpose: KeyPurpose) -> encx::Result<Option<StoredKek>> {
        Ok(self.inner.active(purpose).await?.map(|r| self.apply(r)))
    }
    async fn list(&self, purpose: KeyPurpose) -> encx::Result<Vec<StoredKek>> {
        let mut rows = Vec::new();
        // A writer who relabels a KEK as an index root makes it show up in the index list.
        for p in [KeyPurpose::Kek, KeyPurpose::IndexRoot] {
            for row in self.inner.list(p).await? {
                let row = self.apply(row);
                if row.purpose == purpose {
                    rows.push(row);
                }
            }
        }
        Ok(rows)
    }
    async fn insert_active(&self, new: NewKek, expected: Option<Uuid>) -> encx::Result<StoredKek> {
        self.inner.insert_active(new, expected).await
    }
    async fn set_state(&self, id: Uuid, state: KekState) -> encx::Result<()> {
        self.inner.set_state(id, state).await
    }
}

fn tampered<T: std::fmt::Debug>(r: encx::Result<T>, what: &str) {
    assert!(matches!(r, Err(Error::Tampered)), "{what}: {r:?}");
}

#[tokio::test]
async fn an_edited_version_or_purpose_is_tampered() {
    let root: Arc<dyn Keyring> = Arc::new(local("root", 3));
    let store = EditedStore::new();
    let keyring = HierarchicalKeyring::new(root.clone(), store.clone());
    let ctx = KeyContext::new("users", b"r1");
    let (_, wrapped) = keyring.generate_dek(&ctx).await.unwrap();
    let kek = keyring.active_kek().await.unwrap();

    // Version edited: before the fix every lookup silently used the row as if nothing changed.
    store.set_edit(|row| row.version = 7);
    keyring.clear_cache();
    tampered(keyring.unwrap_dek(&wrapped, &ctx).await, "version edited");

    // Id copied onto another row (the row's wrapped bytes moved under a new id).
    store.set_edit(|row| row.id = Uuid::from_u128(1));
    keyring.clear_cache();
    let r = keyring.kek(kek.id()).await;
    assert!(r.is_err(), "a row under another id must not serve: {r:?}");

    // Purpose switched: before the fix the KEK became the blind-index root (one secret for
    // AES-GCM and for HMAC); now loading index keys from that row fails.
    store.set_edit(|row| row.purpose = KeyPurpose::IndexRoot);
    tampered(
        IndexKeys::load_or_create(&*store, &*root).await,
        "KEK relabelled as index root",
    );

    // The untouched row still serves.
    store.set_edit(|_| {});
    keyring.clear_cache();
    assert!(keyring.unwrap_dek(&wrapped, &ctx).await.is_ok());
}

#[tokio::test]
async fn kek_wraps_bind_id_purpose_and_version() {
    // An independent check of the documented context (docs/format.md §3).
    let root = local("root", 4);
    let store = Arc::new(MemoryKekStore::new());
    let keyring = HierarchicalKeyring::new(Arc::new(local("root", 4)), store.clone());
    let kek = keyring.active_kek().await.unwrap();
    let row = store.get(kek.id()).await.unwrap().unwrap();
    let mut record_id = kek.id().as_bytes().to_vec();
    record_id.extend_from_slice(&3u32.to_be_bytes());
    record_id.extend_from_slice(b"kek");
    record_id.extend_from_slice(&1i64.to_be_bytes());
    assert_eq!(
        record_id,
        encx::keys::hierarchical::stored_key_record_id(&kek.id(), KeyPurpose::Kek, 1)
    );
    let wrapped = encx::WrappedDek::from_bytes(row.wrapped.clone());
    assert!(root
        .unwrap_dek(&wrapped, &KeyContext::new("encx_keks", &record_id))
        .await
        .is_ok());
    // Bound only to the id, as before the fix, it no longer unwraps.
    tampered(
        root.unwrap_dek(&wrapped, &KeyContext::new("encx_keks", kek.id().as_bytes()))
            .await,
        "id-only context",
    );
}

#[tokio::test]
async fn version_counters_refuse_to_overflow() {
    // KEK versions (i64): with the highest stored version at i64::MAX (a writer set it), a
    // rotation refuses with a typed error instead of wrapping to i64::MIN or panicking.
    let root: Arc<dyn Keyring> = Arc::new(local("root", 5));
    let store = EditedStore::new();
    let keyring = HierarchicalKeyring::new(root, store.clone());
    keyring.active_kek().await.unwrap();
    store.set_edit(|row| row.version = i64::MAX);
    match keyring.rotate_kek().await {
        Err(Error::InvalidConfig(msg)) => assert!(msg.contains("exhausted"), "{msg}"),
        other => panic!("expected a typed overflow error, got {other:?}"),
    }

    // Index key versions (u32).
    let mut keys = IndexKeys::new(vec![(u32::MAX, [1; 32])]).unwrap();
    assert!(matches!(
        keys.add_generated_version(),
        Err(Error::InvalidConfig(_))
    ));
    assert_eq!(keys.active_version(), u32::MAX);

    // A store refuses a key whose version is not the next one.
    let store = MemoryKekStore::new();
    let skip = NewKek {
        id: Uuid::from_u128(2),
        purpose: KeyPurpose::Kek,
        version: 5,
        root_key: "test".into(),
        wrapped: vec![1],
    };
    assert!(store.insert_active(skip, None).await.is_err());
    assert!(store.list(KeyPurpose::Kek).await.unwrap().is_empty());
}

#[test]
fn documented_examples_hold() {
    // docs/format.md §3: the record id a key row's wrapping binds.
    let id = Uuid::parse_str("00112233-4455-6677-8899-aabbccddeeff").unwrap();
    let bytes = encx::keys::hierarchical::stored_key_record_id(&id, KeyPurpose::Kek, 1);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        hex,
        "00112233445566778899aabbccddeeff000000036b656b0000000000000001"
    );
    // docs/format.md §1: a top-level Option<T> stores Some(v) as the encoding of v (no tag).
    assert_eq!(&encx::codec::encode("ab").unwrap()[..], &[0x02, 0x61, 0x62]);
    assert_eq!(
        &encx::codec::encode(&Some("ab")).unwrap()[..],
        &[0x01, 0x02, 0x61, 0x62]
    );
}
