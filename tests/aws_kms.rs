//! `AwsKmsKeyring` against a real implementation of the AWS KMS API (moto on loopback), in
//! direct mode and as the root of a `HierarchicalKeyring`.
#![allow(missing_docs, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_kms::config::Credentials;
use encx::{
    AwsKmsKeyring, Crypto, Dek, Encrypted, Error, HierarchicalKeyring, KekStore, KeyContext,
    Keyring, MemoryKekStore, WrappedDek,
};
use encx_integration_tests as harness;
use encx_sqlx::{Repo, SqlKekStore};

fn credentials() -> Credentials {
    encx_test::test_credentials()
}

/// A KMS key (and an alias to it) made for one test, by `encx-test`.
type TestKey = encx_test::KmsKey;

async fn test_key(test: &str) -> Option<TestKey> {
    harness::kms_endpoint(test).await?;
    Some(encx_test::KmsKey::create().await.unwrap())
}

async fn keyring(endpoint: &str, key: &str) -> AwsKmsKeyring {
    AwsKmsKeyring::builder(key)
        .region("us-east-1")
        .endpoint(endpoint)
        .credentials(credentials())
        .retries(3, Duration::from_millis(20), Duration::from_millis(200))
        .timeouts(
            Duration::from_secs(1),
            Duration::from_secs(2),
            Duration::from_secs(5),
        )
        .build()
        .await
        .unwrap()
}

macro_rules! key_or_skip {
    ($name:literal) => {
        match test_key($name).await {
            Some(key) => key,
            None => return,
        }
    };
}
async fn direct_mode_round_trips_by_id_arn_and_alias() {
    let key = key_or_skip!("aws_kms::direct_mode_round_trips_by_id_arn_and_alias");
    for name in [&key.id, &key.arn, &key.alias] {
        let kms = keyring(&key.endpoint, name).await;
        let ctx = KeyContext::new("users", b"user-1");
        let (dek, wrapped) = kms.generate_dek(&ctx).await.unwrap();
        assert_eq!(
            &wrapped.as_bytes()[..2],
            &[0x01, 0x02],
            "format byte and AWS KMS kind"
        );
        assert_eq!(
            kms.unwrap_dek(&wrapped, &ctx)
                .await
                .unwrap()
                .expose_secret(),
            dek.expose_secret()
        );

        let mine = Dek::generate().unwrap();
        let wrapped_mine = kms.wrap_dek(&mine, &ctx).await.unwrap();
        assert_eq!(
            kms.unwrap_dek(&wrapped_mine, &ctx)
                .await
                .unwrap()
                .expose_secret(),
            mine.expose_secret()
        );
        let calls = kms.calls();
        assert_eq!(
            (calls.generate_data_key, calls.encrypt, calls.decrypt),
            (1, 1, 2),
            "{name}"
        );
    }
}
async fn dek_of_one_record_does_not_unwrap_as_another_and_tampering_is_detected() {
    let key = key_or_skip!(
        "aws_kms::dek_of_one_record_does_not_unwrap_as_another_and_tampering_is_detected"
    );
    let kms = keyring(&key.endpoint, &key.id).await;
    let a = KeyContext::new("users", b"record-a");
    let (_, wrapped) = kms.generate_dek(&a).await.unwrap();
    for other in [
        KeyContext::new("users", b"record-b"),
        KeyContext::new("admins", b"record-a"),
    ] {
        let r = kms.unwrap_dek(&wrapped, &other).await;
        assert!(matches!(r, Err(Error::Tampered)), "context mismatch: {r:?}");
    }
    let mut flipped = wrapped.as_bytes().to_vec();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    let r = kms.unwrap_dek(&WrappedDek::from_bytes(flipped), &a).await;
    assert!(matches!(r, Err(Error::Tampered)), "flipped blob: {r:?}");
    let r = kms
        .unwrap_dek(&WrappedDek::from_bytes(vec![1, 2]), &a)
        .await;
    assert!(matches!(r, Err(Error::Tampered)), "empty blob: {r:?}");
}
async fn unknown_key_ids_and_aliases_are_key_not_found() {
    let key = key_or_skip!("aws_kms::unknown_key_ids_and_aliases_are_key_not_found");
    let ctx = KeyContext::new("t", b"1");
    for missing in [
        "alias/encx-does-not-exist".to_string(),
        uuid::Uuid::new_v4().to_string(),
    ] {
        let kms = keyring(&key.endpoint, &missing).await;
        let r = kms.generate_dek(&ctx).await;
        assert!(
            matches!(r, Err(Error::KeyNotFound { .. })),
            "{missing}: {r:?}"
        );
    }
    let r = AwsKmsKeyring::builder(" ")
        .region("us-east-1")
        .build()
        .await;
    assert!(matches!(r, Err(Error::InvalidConfig(_))));
}

async fn kms_rooted(kms: AwsKmsKeyring, store: Arc<dyn KekStore>) -> HierarchicalKeyring {
    HierarchicalKeyring::new(Arc::new(kms), store)
}
async fn ten_thousand_record_encryptions_make_one_kms_call() {
    let key = key_or_skip!("aws_kms::ten_thousand_record_encryptions_make_one_kms_call");
    let kms = keyring(&key.endpoint, &key.alias).await;
    let store: Arc<dyn KekStore> = Arc::new(MemoryKekStore::new());
    let crypto = Crypto::builder()
        .keyring(kms_rooted(kms.clone(), store).await)
        .build()
        .await
        .unwrap();
    for i in 0..10_000u32 {
        let id = i.to_be_bytes();
        let sealer = crypto.seal_record("users", &id).await.unwrap();
        sealer.seal("email", "ada@example.com").unwrap();
    }
    assert_eq!(
        kms.calls().total(),
        1,
        "one GenerateDataKey for the KEK: {:?}",
        kms.calls()
    );
    // KEKs are generated inside KMS: no caller ever needs kms:Encrypt on the key table's
    // context, so an IAM condition can forbid planting a chosen KEK (docs/aws-kms.md).
    assert_eq!((kms.calls().generate_data_key, kms.calls().encrypt), (1, 0));
}
async fn an_edited_key_row_is_refused_by_kms() {
    let key = key_or_skip!("aws_kms::an_edited_key_row_is_refused_by_kms");
    let store = Arc::new(MemoryKekStore::new());
    let writer = kms_rooted(keyring(&key.endpoint, &key.id).await, store.clone()).await;
    let kek = writer.active_kek().await.unwrap();
    let row = store.get(kek.id()).await.unwrap().unwrap();
    let kms = keyring(&key.endpoint, &key.id).await;
    // The row's wrapping (a KMS ciphertext blob) opens only under its own id, purpose and
    // version in the encryption context: KMS itself refuses an edited row.
    let wrapped = WrappedDek::from_bytes(row.wrapped.clone());
    let own = encx::keys::hierarchical::stored_key_record_id(&row.id, row.purpose, row.version);
    assert!(kms
        .unwrap_dek(&wrapped, &KeyContext::new("encx_keks", &own))
        .await
        .is_ok());
    for (what, edited) in [
        (
            "version",
            encx::keys::hierarchical::stored_key_record_id(&row.id, row.purpose, row.version + 1),
        ),
        (
            "purpose",
            encx::keys::hierarchical::stored_key_record_id(
                &row.id,
                encx::KeyPurpose::IndexRoot,
                row.version,
            ),
        ),
        ("id only (the old binding)", row.id.as_bytes().to_vec()),
    ] {
        let r = kms
            .unwrap_dek(&wrapped, &KeyContext::new("encx_keks", &edited))
            .await;
        assert!(matches!(r, Err(Error::Tampered)), "{what}: {r:?}");
    }
}
async fn sixty_four_concurrent_cold_decrypts_make_one_decrypt_call() {
    let key = key_or_skip!("aws_kms::sixty_four_concurrent_cold_decrypts_make_one_decrypt_call");
    let store: Arc<dyn KekStore> = Arc::new(MemoryKekStore::new());
    let writer = kms_rooted(keyring(&key.endpoint, &key.id).await, store.clone()).await;
    let mut records = Vec::new();
    for i in 0..64u32 {
        let id = i.to_be_bytes();
        let (dek, wrapped) = writer
            .generate_dek(&KeyContext::new("t", &id))
            .await
            .unwrap();
        records.push((id, dek.expose_secret().to_vec(), wrapped));
    }
    let cold_kms = keyring(&key.endpoint, &key.id).await;
    let reader = Arc::new(kms_rooted(cold_kms.clone(), store).await);
    let tasks: Vec<_> = records
        .into_iter()
        .map(|(id, dek, wrapped)| {
            let reader = reader.clone();
            tokio::spawn(async move {
                let got = reader
                    .unwrap_dek(&wrapped, &KeyContext::new("t", &id))
                    .await
                    .unwrap();
                assert_eq!(got.expose_secret().as_slice(), dek.as_slice());
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(cold_kms.calls().decrypt, 1, "{:?}", cold_kms.calls());
    assert_eq!(cold_kms.calls().total(), 1);
}

#[derive(Debug, Clone, PartialEq, Encrypted)]
#[encx(table = "patients")]
pub struct Patient {
    #[encx(id)]
    pub id: uuid::Uuid,
    #[encx(encrypt)]
    pub diagnosis: String,
}
async fn erased_records_stay_unreadable_in_both_modes() {
    let key = key_or_skip!("aws_kms::erased_records_stay_unreadable_in_both_modes");
    let db = harness::sqlite("aws_kms::erased").await.unwrap();
    encx_sqlx::migrate(&db.pool).await.unwrap();
    let direct = Crypto::builder()
        .keyring(keyring(&key.endpoint, &key.id).await)
        .build()
        .await
        .unwrap();
    let store: Arc<dyn KekStore> = Arc::new(SqlKekStore::<sqlx::Sqlite>::new(db.pool.clone()));
    let hierarchical = Crypto::builder()
        .keyring(kms_rooted(keyring(&key.endpoint, &key.id).await, store).await)
        .build()
        .await
        .unwrap();
    for crypto in [direct, hierarchical] {
        let repo = Repo::<Patient, sqlx::Sqlite>::new(db.pool.clone(), crypto);
        repo.create_table().await.unwrap();
        let p = Patient {
            id: uuid::Uuid::new_v4(),
            diagnosis: "confidential".into(),
        };
        repo.insert(repo.pool(), &p).await.unwrap();
        assert_eq!(repo.get(repo.pool(), p.id).await.unwrap(), p);
        repo.erase(repo.pool(), p.id).await.unwrap();
        assert!(matches!(repo.get(repo.pool(), p.id).await, Err(e) if e.is_shredded()));
    }
    db.cleanup().await;
}
async fn when_kms_goes_down_cached_keks_serve_and_cold_keyrings_fail_fast() {
    let key =
        key_or_skip!("aws_kms::when_kms_goes_down_cached_keks_serve_and_cold_keyrings_fail_fast");
    let proxy = harness::Proxy::start(&key.endpoint).await;
    let store: Arc<dyn KekStore> = Arc::new(MemoryKekStore::new());
    let warm = kms_rooted(keyring(&proxy.url, &key.id).await, store.clone())
        .await
        .with_cache_ttl(Duration::from_millis(200));
    let ctx = KeyContext::new("t", b"1");
    let (dek, wrapped) = warm.generate_dek(&ctx).await.unwrap();

    proxy.stop();
    // Within and past the TTL, the warm keyring keeps serving its cached KEK.
    assert_eq!(
        warm.unwrap_dek(&wrapped, &ctx)
            .await
            .unwrap()
            .expose_secret(),
        dek.expose_secret()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        warm.unwrap_dek(&wrapped, &ctx)
            .await
            .unwrap()
            .expose_secret(),
        dek.expose_secret()
    );
    assert!(warm.generate_dek(&ctx).await.is_ok());

    let cold = kms_rooted(keyring(&proxy.url, &key.id).await, store).await;
    let started = Instant::now();
    let err = cold.unwrap_dek(&wrapped, &ctx).await.unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, Error::KeyringUnavailable { .. }), "{err:?}");
    assert!(err.is_retryable());
    assert!(
        took < Duration::from_secs(6),
        "a cold keyring must fail within a bounded time, took {took:?}"
    );
}

fn main() -> std::process::ExitCode {
    use encx_integration_tests::{test_case, Service};
    harness::run(vec![
        test_case!(
            Service::Kms,
            "aws_kms::direct_mode_round_trips_by_id_arn_and_alias",
            direct_mode_round_trips_by_id_arn_and_alias
        ),
        test_case!(
            Service::Kms,
            "aws_kms::dek_of_one_record_does_not_unwrap_as_another_and_tampering_is_detected",
            dek_of_one_record_does_not_unwrap_as_another_and_tampering_is_detected
        ),
        test_case!(
            Service::Kms,
            "aws_kms::unknown_key_ids_and_aliases_are_key_not_found",
            unknown_key_ids_and_aliases_are_key_not_found
        ),
        test_case!(
            Service::Kms,
            "aws_kms::ten_thousand_record_encryptions_make_one_kms_call",
            ten_thousand_record_encryptions_make_one_kms_call
        ),
        test_case!(
            Service::Kms,
            "aws_kms::an_edited_key_row_is_refused_by_kms",
            an_edited_key_row_is_refused_by_kms
        ),
        test_case!(
            Service::Kms,
            "aws_kms::sixty_four_concurrent_cold_decrypts_make_one_decrypt_call",
            sixty_four_concurrent_cold_decrypts_make_one_decrypt_call
        ),
        test_case!(
            Service::Kms,
            "aws_kms::erased_records_stay_unreadable_in_both_modes",
            erased_records_stay_unreadable_in_both_modes
        ),
        test_case!(
            Service::Kms,
            "aws_kms::when_kms_goes_down_cached_keks_serve_and_cold_keyrings_fail_fast",
            when_kms_goes_down_cached_keks_serve_and_cold_keyrings_fail_fast
        ),
    ])
}
