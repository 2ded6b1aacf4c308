//! No key byte ever reaches Debug output.
use std::sync::Arc;

use encx::index::IndexKeys;
use encx::{
    Crypto, Dek, HierarchicalKeyring, LocalKeyring, MasterKey, MemoryKekStore, PasswordPolicy,
};

fn assert_no_key_bytes(debug: &str, key: &[u8; 32]) {
    let hex_key = hex::encode(key);
    let b64 = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(key)
    };
    let byte_list = format!("{:?}", key.as_slice());
    let short_list = format!("{:?}", &key[..4]);
    for needle in [
        &hex_key[..16],
        &b64[..16],
        &byte_list,
        &short_list[..short_list.len() - 1],
    ] {
        assert!(
            !debug.contains(needle),
            "Debug output {debug:?} contains key material {needle:?}"
        );
    }
}

#[tokio::test]
async fn debug_of_every_key_type_and_of_crypto_shows_no_key_byte() {
    let key = [0xA7u8; 32];
    let master = MasterKey::new("v1", key).unwrap();
    assert_no_key_bytes(&format!("{master:?}"), &key);
    assert!(format!("{master:?}").contains("v1"));

    let dek = Dek::from_bytes(key);
    assert_eq!(format!("{dek:?}"), "Dek(..)");

    let local = LocalKeyring::new(vec![MasterKey::new("v1", key).unwrap()]).unwrap();
    assert_no_key_bytes(&format!("{local:?}"), &key);

    let h = HierarchicalKeyring::new(
        Arc::new(LocalKeyring::new(vec![MasterKey::new("v1", key).unwrap()]).unwrap()),
        Arc::new(MemoryKekStore::new()),
    );
    let kek = h.active_kek().await.unwrap();
    assert!(format!("{kek:?}").starts_with("Kek {"));
    assert_no_key_bytes(&format!("{h:?}"), &key);

    let index = IndexKeys::new(vec![(1, key)]).unwrap();
    assert_no_key_bytes(&format!("{index:?}"), &key);
    let derived = index.derive("users.email", 1).unwrap();
    assert_no_key_bytes(&format!("{derived:?}"), &key);

    let policy = PasswordPolicy::new(8192, 1, 1)
        .unwrap()
        .with_pepper(key.to_vec())
        .unwrap();
    assert_no_key_bytes(&format!("{policy:?}"), &key);

    let crypto = Crypto::builder()
        .keyring(LocalKeyring::new(vec![MasterKey::new("v1", key).unwrap()]).unwrap())
        .index_keys(IndexKeys::new(vec![(1, key)]).unwrap())
        .password_policy(policy)
        .build()
        .await
        .unwrap();
    let text = format!("{crypto:?}");
    assert_no_key_bytes(&text, &key);
    assert!(text.contains("LocalKeyring"), "{text}");
    let pretty = format!("{crypto:#?}");
    assert_no_key_bytes(&pretty, &key);
}

#[test]
fn errors_never_carry_key_text() {
    let b64 = "p6enp6enp6enp6enp6enp6enp6enp6enp6enp6enp6c"; // missing padding
    let err = MasterKey::from_base64("v1", b64).unwrap_err();
    assert!(!err.to_string().contains(&b64[..10]));
    assert!(!format!("{err:?}").contains(&b64[..10]));
}

/// Every handle of the security code prints its name and what is safe to show (a version, a
/// purpose, a prefix), never a secret: the exact text, so that a Debug impl that prints
/// nothing (or more) is noticed.
#[tokio::test]
async fn debug_of_the_crypto_handles_is_their_name_and_nothing_secret() {
    use std::time::SystemTime;
    let key = [0xA7u8; 32];
    let crypto = Crypto::builder()
        .keyring(LocalKeyring::new(vec![MasterKey::new("v1", key).unwrap()]).unwrap())
        .index_keys(IndexKeys::new(vec![(3, key)]).unwrap())
        .build()
        .await
        .unwrap();
    let field = encx::cipher::FieldCipher::new(&Dek::from_bytes(key)).unwrap();
    assert_eq!(format!("{field:?}"), "FieldCipher(..)");
    let signer = crypto.signer("unsubscribe").unwrap();
    assert_eq!(
        format!("{signer:?}"),
        r#"Signer { domain: "encx:sign:unsubscribe", .. }"#
    );
    let tokens = crypto.tokens("sk_live").unwrap();
    assert_eq!(format!("{tokens:?}"), r#"Tokens { prefix: "sk_live", .. }"#);
    let (token, hash) = tokens.generate().unwrap();
    assert_eq!(format!("{token:?}"), "SecretToken(..)");
    assert_eq!(format!("{hash:?}"), "TokenHash(v3, ..)");
    assert_eq!(format!("{:?}", crypto.csrf().unwrap()), "Csrf(..)");

    let id = uuid::Uuid::from_bytes([1; 16]);
    let stored = encx::StoredSubjectKey {
        id,
        subject: b"customer-42".to_vec(),
        version: 2,
        wrapped: Some(key.to_vec()),
        created_at: SystemTime::UNIX_EPOCH,
        erased_at: None,
    };
    assert_eq!(
        format!("{stored:?}"),
        format!("StoredSubjectKey {{ id: {id}, version: 2, erased: false, .. }}")
    );
    let new = encx::NewSubjectKey {
        id,
        subject: b"customer-42".to_vec(),
        version: 1,
        wrapped: key.to_vec(),
    };
    assert_eq!(
        format!("{new:?}"),
        format!("NewSubjectKey {{ id: {id}, version: 1, .. }}")
    );
    assert_eq!(
        format!("{:?}", encx::MemorySubjectKeyStore::new()),
        "MemorySubjectKeyStore { .. }"
    );

    let keyring = LocalKeyring::new(vec![MasterKey::new("v1", key).unwrap()]).unwrap();
    let sealer = encx::stream::Sealer::with_segment_len(&keyring, "backups/1", 256)
        .await
        .unwrap();
    assert_eq!(
        format!("{:?}", sealer.header()),
        r#"Header { label: "backups/1", segment_len: 256, wrapped_dek_len: 94, .. }"#
    );
}
