//! Key-table rows (`encx_keks`) into the hierarchical keyring and the index keys: a database
//! writer controls every column. Input: purpose byte | state byte | version (i64 BE) | wrapped
//! key bytes; the row's id is fixed. Any edit of a valid row must be refused with a typed error
//! (never a panic, never a key of another purpose or version).
#![no_main]

use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use libfuzzer_sys::fuzz_target;

use encx::index::IndexKeys;
use encx::{KekState, KekStore, KeyPurpose, Keyring, NewKek, StoredKek};

/// A store holding exactly the fuzzed row.
#[derive(Debug)]
struct OneRow(StoredKek);

#[async_trait]
impl KekStore for OneRow {
    async fn get(&self, id: uuid::Uuid) -> encx::Result<Option<StoredKek>> {
        Ok((id == self.0.id).then(|| self.0.clone()))
    }
    async fn active(&self, purpose: KeyPurpose) -> encx::Result<Option<StoredKek>> {
        Ok((self.0.purpose == purpose && self.0.state == KekState::Active).then(|| self.0.clone()))
    }
    async fn list(&self, purpose: KeyPurpose) -> encx::Result<Vec<StoredKek>> {
        Ok(if self.0.purpose == purpose {
            vec![self.0.clone()]
        } else {
            vec![]
        })
    }
    async fn insert_active(&self, _: NewKek, _: Option<uuid::Uuid>) -> encx::Result<StoredKek> {
        Err(encx::Error::unavailable("read-only fuzz store"))
    }
    async fn set_state(&self, _: uuid::Uuid, _: KekState) -> encx::Result<()> {
        Err(encx::Error::unavailable("read-only fuzz store"))
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 10 {
        return;
    }
    let purpose = if data[0] & 1 == 0 {
        KeyPurpose::Kek
    } else {
        KeyPurpose::IndexRoot
    };
    let state = match data[1] % 3 {
        0 => KekState::Active,
        1 => KekState::Retired,
        _ => KekState::Destroyed,
    };
    let version = i64::from_be_bytes(data[2..10].try_into().expect("8 bytes"));
    let row = StoredKek {
        id: encx_fuzz::KEK_ID,
        purpose,
        version,
        root_key: "fuzz".into(),
        wrapped: data[10..].to_vec(),
        state,
        created_at: SystemTime::UNIX_EPOCH,
        updated_at: SystemTime::UNIX_EPOCH,
    };
    // The stored strings go through the parsers the SQL store uses.
    for text in [purpose.as_str(), state.as_str()] {
        let _ = KeyPurpose::parse(text);
        let _ = KekState::parse(text);
    }
    if let Ok(text) = std::str::from_utf8(&data[10..]) {
        let _ = KeyPurpose::parse(text);
        let _ = KekState::parse(text);
    }
    let root: Arc<dyn Keyring> = Arc::new(encx_fuzz::local());
    let store = Arc::new(OneRow(row));
    let keyring = encx::HierarchicalKeyring::new(root.clone(), store.clone());
    futures_executor::block_on(async {
        match keyring.kek(encx_fuzz::KEK_ID).await {
            Ok(kek) => {
                // Only the untouched seed row unwraps: a KEK, version 1, not destroyed.
                assert_eq!((purpose, kek.version()), (KeyPurpose::Kek, 1));
                assert_ne!(state, KekState::Destroyed);
            }
            Err(e) => assert!(e.is_tampered() || e.is_key_missing(), "{e:?}"),
        }
        match IndexKeys::load_or_create(&*store, &*root).await {
            Ok(keys) => {
                assert_eq!(purpose, KeyPurpose::IndexRoot);
                assert_eq!(keys.active_version(), 1);
            }
            Err(e) => assert!(
                e.is_tampered() || e.is_key_missing() || e.is_retryable() || e.is_config(),
                "{e:?}"
            ),
        }
    });
});
