//! Single-flight KEK cache: N concurrent cold requests make exactly one root call; cached KEKs
//! keep serving while the root is down; a cold keyring fails fast and retryably.
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use encx::{HierarchicalKeyring, KekStore, KeyContext, Keyring, MemoryKekStore};

use crate::support::CountingKeyring;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_concurrent_cold_unwraps_call_the_root_once() {
    let root = CountingKeyring::new(Duration::from_millis(20));
    let store: Arc<dyn KekStore> = Arc::new(MemoryKekStore::new());
    let writer = HierarchicalKeyring::new(root.clone(), store.clone());
    let mut wrapped = Vec::new();
    for i in 0..64u32 {
        let id = i.to_be_bytes();
        let (dek, w) = writer
            .generate_dek(&KeyContext::new("t", &id))
            .await
            .unwrap();
        wrapped.push((id, dek.expose_secret().to_vec(), w));
    }
    assert_eq!(
        root.unwraps(),
        0,
        "the writer created the KEK, so it never unwrapped it"
    );

    // A second process starts cold and gets 64 decrypt requests at once.
    let reader = Arc::new(HierarchicalKeyring::new(root.clone(), store));
    let tasks: Vec<_> = wrapped
        .into_iter()
        .map(|(id, dek, w)| {
            let reader = reader.clone();
            tokio::spawn(async move {
                let got = reader
                    .unwrap_dek(&w, &KeyContext::new("t", &id))
                    .await
                    .unwrap();
                assert_eq!(got.expose_secret().as_slice(), dek.as_slice());
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(
        root.unwraps(),
        1,
        "64 cold unwraps must share one root call"
    );
}

#[tokio::test]
async fn ten_thousand_records_make_one_root_call() {
    let root = CountingKeyring::new(Duration::ZERO);
    let keyring = HierarchicalKeyring::new(root.clone(), Arc::new(MemoryKekStore::new()));
    for i in 0..10_000u32 {
        keyring
            .generate_dek(&KeyContext::new("t", &i.to_be_bytes()))
            .await
            .unwrap();
    }
    assert_eq!(root.wraps.load(Ordering::SeqCst) + root.unwraps(), 1);
}

#[tokio::test]
async fn cached_keks_serve_while_the_root_is_down_and_cold_ones_fail_retryably() {
    let root = CountingKeyring::new(Duration::ZERO);
    let store: Arc<dyn KekStore> = Arc::new(MemoryKekStore::new());
    let warm = HierarchicalKeyring::new(root.clone(), store.clone())
        .with_cache_ttl(Duration::from_millis(50));
    let ctx = KeyContext::new("t", b"1");
    let (dek, w) = warm.generate_dek(&ctx).await.unwrap();

    root.down.store(true, Ordering::SeqCst);
    // Past the TTL the reload fails, and the stale KEK keeps serving.
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert_eq!(
        warm.unwrap_dek(&w, &ctx).await.unwrap().expose_secret(),
        dek.expose_secret()
    );
    assert!(warm.generate_dek(&ctx).await.is_ok());

    let cold = HierarchicalKeyring::new(root.clone(), store);
    let started = std::time::Instant::now();
    let err = cold.unwrap_dek(&w, &ctx).await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(1));

    root.down.store(false, Ordering::SeqCst);
    assert!(
        cold.unwrap_dek(&w, &ctx).await.is_ok(),
        "recovers when the root is back"
    );
}
