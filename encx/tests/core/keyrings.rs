//! Local keyring versions and configuration; hierarchical rotation, sharing and destruction.
use std::sync::Arc;

use encx::{
    Error, HierarchicalKeyring, KekState, KekStore, KeyContext, KeyPurpose, Keyring, LocalKeyring,
    MasterKey, MemoryKekStore,
};

use crate::support::local;

const K1: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="; // 32 x 0x01
const K2: &str = "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI="; // 32 x 0x02

#[tokio::test]
async fn newest_local_version_wraps_and_every_version_unwraps() {
    let ctx = KeyContext::new("t", b"1");
    let old = LocalKeyring::from_spec(&format!("v1:{K1}")).unwrap();
    let (dek, wrapped_old) = old.generate_dek(&ctx).await.unwrap();

    let both = LocalKeyring::from_spec(&format!("v1:{K1}, v2:{K2}")).unwrap();
    assert_eq!(both.active_version(), "v2");
    assert_eq!(
        both.unwrap_dek(&wrapped_old, &ctx)
            .await
            .unwrap()
            .expose_secret(),
        dek.expose_secret()
    );

    let (_, wrapped_new) = both.generate_dek(&ctx).await.unwrap();
    let v2 = MasterKey::from_base64("v2", K2).unwrap();
    assert_eq!(
        &wrapped_new.as_bytes()[2..18],
        &v2.key_id(),
        "new DEKs name v2's key id"
    );
    assert!(matches!(
        old.unwrap_dek(&wrapped_new, &ctx).await,
        Err(Error::KeyNotFound { .. })
    ));
}

#[test]
fn bad_master_keys_give_clear_errors_that_never_echo_the_key() {
    let secretish = "c2VjcmV0c2VjcmV0c2VjcmV0"; // valid base64, 18 bytes
    for (spec, expect) in [
        (format!("v1:{secretish}"), "exactly 32 bytes"),
        ("v1:not base64!!".to_string(), "not valid standard base64"),
        (K1.to_string(), "version:BASE64"),
        (format!("v1:{K1},v1:{K2}"), "listed twice"),
        (format!("v1:{K1},v2:{K1}"), "same key"),
        (format!(":{K1}"), "non-empty"),
    ] {
        let err = LocalKeyring::from_spec(&spec).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, Error::InvalidConfig(_)), "{spec}: {err:?}");
        assert!(text.contains(expect), "{spec}: {text}");
        assert!(
            !text.contains(secretish) && !text.contains(K1) && !text.contains(K2),
            "key echoed: {text}"
        );
        assert!(!text.contains("not base64!!"), "key text echoed: {text}");
    }
    assert!(LocalKeyring::new(vec![]).is_err());
}

#[tokio::test]
async fn rotation_keeps_old_keks_unwrapping_and_versions_counting() {
    let store = Arc::new(MemoryKekStore::new());
    let keyring = HierarchicalKeyring::new(Arc::new(local("root", 3)), store.clone());
    let ctx = KeyContext::new("t", b"1");
    let (dek1, w1) = keyring.generate_dek(&ctx).await.unwrap();
    let v1 = keyring.active_kek().await.unwrap();
    assert_eq!(v1.version(), 1);

    let rotated = keyring.rotate_kek().await.unwrap();
    assert_eq!(rotated.version, 2);
    let (dek2, w2) = keyring.generate_dek(&ctx).await.unwrap();
    assert_eq!(
        &w2.as_bytes()[2..18],
        rotated.id.as_bytes(),
        "new DEKs use the new KEK"
    );
    assert_eq!(
        keyring.unwrap_dek(&w1, &ctx).await.unwrap().expose_secret(),
        dek1.expose_secret()
    );
    assert_eq!(
        keyring.unwrap_dek(&w2, &ctx).await.unwrap().expose_secret(),
        dek2.expose_secret()
    );

    let states: Vec<_> = store
        .list(KeyPurpose::Kek)
        .await
        .unwrap()
        .iter()
        .map(|k| (k.version, k.state))
        .collect();
    assert_eq!(states, vec![(1, KekState::Retired), (2, KekState::Active)]);

    // Rewrap moves the old DEK under the active KEK without changing it.
    let moved = keyring
        .rewrap(&w1, &ctx)
        .await
        .unwrap()
        .expect("w1 needs rewrapping");
    assert_eq!(&moved.as_bytes()[2..18], rotated.id.as_bytes());
    assert_eq!(
        keyring
            .unwrap_dek(&moved, &ctx)
            .await
            .unwrap()
            .expose_secret(),
        dek1.expose_secret()
    );
    assert!(keyring.rewrap(&moved, &ctx).await.unwrap().is_none());

    // Destroying the retired KEK shreds what it alone wrapped.
    store.set_state(v1.id(), KekState::Destroyed).await.unwrap();
    keyring.clear_cache();
    assert!(matches!(
        keyring.unwrap_dek(&w1, &ctx).await,
        Err(Error::KeyNotFound { .. })
    ));
    assert!(keyring.unwrap_dek(&moved, &ctx).await.is_ok());
    // The active KEK cannot be destroyed directly.
    assert!(store
        .set_state(rotated.id, KekState::Destroyed)
        .await
        .is_err());
}

#[tokio::test]
async fn two_processes_sharing_a_store_agree_on_the_active_kek() {
    let store: Arc<dyn KekStore> = Arc::new(MemoryKekStore::new());
    // A root that takes a while, so that both processes are inside a rotation at once.
    let root: Arc<dyn Keyring> =
        crate::support::CountingKeyring::new(std::time::Duration::from_millis(20));
    let a = HierarchicalKeyring::new(root.clone(), store.clone());
    let b = HierarchicalKeyring::new(root.clone(), store.clone());
    // Both start cold and race to create the first KEK: one wins, both use it.
    let (ka, kb) = tokio::join!(a.active_kek(), b.active_kek());
    assert_eq!(ka.unwrap().id(), kb.unwrap().id());
    assert_eq!(store.list(KeyPurpose::Kek).await.unwrap().len(), 1);

    let ctx = KeyContext::new("t", b"9");
    let (dek, w) = a.generate_dek(&ctx).await.unwrap();
    assert_eq!(
        b.unwrap_dek(&w, &ctx).await.unwrap().expose_secret(),
        dek.expose_secret()
    );

    // Overlapping rotations: exactly one new KEK wins; both report it.
    let (ra, rb) = tokio::join!(a.rotate_kek(), b.rotate_kek());
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(ra.id, rb.id);
    let keks = store.list(KeyPurpose::Kek).await.unwrap();
    assert_eq!(keks.len(), 2, "the losing rotation stored nothing");
    assert_eq!(
        keks.iter().filter(|k| k.state == KekState::Active).count(),
        1
    );
    // Both now wrap under the winner.
    let (_, wa) = a.generate_dek(&ctx).await.unwrap();
    let (_, wb) = b.generate_dek(&ctx).await.unwrap();
    assert_eq!(&wa.as_bytes()[2..18], ra.id.as_bytes());
    assert_eq!(&wb.as_bytes()[2..18], ra.id.as_bytes());
}

#[tokio::test]
async fn kek_wrapped_by_one_root_does_not_open_with_another() {
    let store: Arc<dyn KekStore> = Arc::new(MemoryKekStore::new());
    let a = HierarchicalKeyring::new(Arc::new(local("root", 5)), store.clone());
    let ctx = KeyContext::new("t", b"1");
    let (_, w) = a.generate_dek(&ctx).await.unwrap();
    let b = HierarchicalKeyring::new(Arc::new(local("root", 6)), store.clone());
    assert!(matches!(
        b.unwrap_dek(&w, &ctx).await,
        Err(Error::KeyNotFound { .. })
    ));
}

/// After a new local master key version, `Crypto::rewrap_dek` moves a DEK from `v1` to `v2`
/// (then a keyring without `v1` opens it, and `KeyInUse` names `v2`), and leaves a DEK
/// already under `v2` alone. A local keyring has no KEK to rotate: a configuration error.
#[tokio::test]
async fn a_local_root_rotation_is_finished_by_rewrap_dek() {
    let crypto_with = |spec: String| async move {
        encx::Crypto::builder()
            .keyring(LocalKeyring::from_spec(&spec).unwrap())
            .build()
            .await
            .unwrap()
    };
    let v1 = crypto_with(format!("v1:{K1}")).await;
    let sealer = v1.seal_record("t", b"1").await.unwrap();
    let wrapped = sealer.into_wrapped_dek();
    let v1_id = MasterKey::from_base64("v1", K1).unwrap().key_id();
    let v2_id = MasterKey::from_base64("v2", K2).unwrap().key_id();
    assert_eq!(
        encx::KeyInUse::from_prefix(Some(wrapped.as_bytes())),
        encx::KeyInUse::LocalMasterKey(v1_id)
    );

    let both = crypto_with(format!("v1:{K1}, v2:{K2}")).await;
    let moved = both.rewrap_dek("t", b"1", &wrapped).await.unwrap().unwrap();
    assert_eq!(
        encx::KeyInUse::from_prefix(Some(moved.as_bytes())),
        encx::KeyInUse::LocalMasterKey(v2_id)
    );
    assert!(both.rewrap_dek("t", b"1", &moved).await.unwrap().is_none());
    let tampered = both.rewrap_dek("t", b"2", &wrapped).await.unwrap_err();
    assert!(matches!(tampered, Error::Tampered), "{tampered:?}");

    let v2_only = crypto_with(format!("v2:{K2}")).await;
    v2_only
        .open_record("t", b"1", Some(&moved), &"1")
        .await
        .unwrap();
    assert!(v2_only
        .open_record("t", b"1", Some(&wrapped), &"1")
        .await
        .is_err());

    let refused = both.rotate_kek(None).await.unwrap_err();
    assert_eq!(refused.kind(), encx::ErrorKind::Configuration, "{refused}");
}

/// A local root key rotation with a hierarchical keyring: the KEK and index root rows wrapped
/// by `v1` are re-wrapped under `v2` by `Crypto::rewrap_stored_keys` (counted first by
/// `stored_keys_to_rewrap`), so that a keyring without `v1` opens old records and computes the
/// same blind indexes; a second run does nothing; a destroyed KEK stays destroyed.
#[tokio::test]
async fn a_local_root_rotation_rewraps_the_stored_keys() {
    use encx::index::{IndexSpec, Normalizer};
    const EMAIL: IndexSpec = IndexSpec::new("email", "users.email", 32, Normalizer::Email);
    let store: Arc<dyn KekStore> = Arc::new(MemoryKekStore::new());
    let crypto_under = |spec: String| {
        let store = store.clone();
        async move {
            let root: Arc<dyn Keyring> = Arc::new(LocalKeyring::from_spec(&spec).unwrap());
            encx::Crypto::builder()
                .keyring(HierarchicalKeyring::new(root.clone(), store.clone()))
                .index_keys_in(store, root)
                .build()
                .await
        }
    };
    let v1 = crypto_under(format!("v1:{K1}")).await.unwrap();
    let index = v1.blind_index(&EMAIL, "ada@example.com").unwrap();
    // A first KEK, then a second; the first destroyed: the rewrap must leave it destroyed.
    v1.seal_record("users", b"1").await.unwrap();
    v1.rotate_kek(None).await.unwrap();
    let first = store.list(KeyPurpose::Kek).await.unwrap()[0].clone();
    store
        .set_state(first.id, KekState::Destroyed)
        .await
        .unwrap();
    let sealer = v1.seal_record("users", b"2").await.unwrap();
    let email2 = sealer.seal("email", "bob@example.com").unwrap();
    let wrapped2 = sealer.into_wrapped_dek();

    let refused = crypto_under(format!("v2:{K2}")).await.unwrap_err();
    assert!(matches!(refused, Error::KeyNotFound { .. }), "{refused:?}");

    let both = crypto_under(format!("v1:{K1}, v2:{K2}")).await.unwrap();
    assert_eq!(
        both.stored_keys_to_rewrap().await.unwrap(),
        2,
        "the live KEK and the index root; not the destroyed KEK"
    );
    assert_eq!(both.rewrap_stored_keys(Some("ops")).await.unwrap(), 2);
    assert_eq!(both.stored_keys_to_rewrap().await.unwrap(), 0);
    assert_eq!(
        both.rewrap_stored_keys(None).await.unwrap(),
        0,
        "idempotent"
    );
    let v2_id = MasterKey::from_base64("v2", K2).unwrap().key_id();
    for key in store.list(KeyPurpose::Kek).await.unwrap() {
        if key.id == first.id {
            assert_eq!(key.state, KekState::Destroyed);
            assert!(key.wrapped.is_empty(), "a destroyed KEK stays destroyed");
        } else {
            assert_eq!(&key.wrapped[2..18], &v2_id, "now wrapped by v2");
        }
    }

    let v2_only = crypto_under(format!("v2:{K2}")).await.unwrap();
    let opener = v2_only
        .open_record("users", b"2", Some(&wrapped2), &"2")
        .await
        .unwrap();
    assert_eq!(
        opener.open::<String>("email", &email2).unwrap(),
        "bob@example.com"
    );
    assert_eq!(
        v2_only.blind_index(&EMAIL, "ada@example.com").unwrap(),
        index,
        "the index root key is the same key"
    );
}

/// A keyring that answers only from memory: its async methods fail. `Crypto` (which keeps
/// keyrings as `Arc<dyn Keyring>`) must reach `generate_dek_now` / `unwrap_dek_now` through the
/// `Arc`, sparing a boxed future per record.
#[derive(Debug)]
struct FromMemoryOnly(LocalKeyring);

#[async_trait::async_trait]
impl Keyring for FromMemoryOnly {
    fn kind(&self) -> encx::KeyringKind {
        self.0.kind()
    }
    fn key_description(&self) -> String {
        self.0.key_description()
    }
    async fn generate_dek(
        &self,
        _: &encx::KeyContext<'_>,
    ) -> encx::Result<(encx::Dek, encx::WrappedDek)> {
        Err(encx::Error::config("async generate_dek called"))
    }
    fn generate_dek_now(
        &self,
        ctx: &encx::KeyContext<'_>,
    ) -> Option<encx::Result<(encx::Dek, encx::WrappedDek)>> {
        self.0.generate_dek_now(ctx)
    }
    async fn wrap_dek(
        &self,
        _: &encx::Dek,
        _: &encx::KeyContext<'_>,
    ) -> encx::Result<encx::WrappedDek> {
        Err(encx::Error::config("async wrap_dek called"))
    }
    async fn unwrap_dek(
        &self,
        _: &encx::WrappedDek,
        _: &encx::KeyContext<'_>,
    ) -> encx::Result<encx::Dek> {
        Err(encx::Error::config("async unwrap_dek called"))
    }
    fn unwrap_dek_now(
        &self,
        wrapped: &encx::WrappedDek,
        ctx: &encx::KeyContext<'_>,
    ) -> Option<encx::Result<encx::Dek>> {
        self.0.unwrap_dek_now(wrapped, ctx)
    }
}

#[tokio::test]
async fn crypto_takes_the_in_memory_path_of_local_keyrings() {
    let local = LocalKeyring::new(vec![MasterKey::generate("v1").unwrap()]).unwrap();
    let crypto = encx::Crypto::builder()
        .keyring(FromMemoryOnly(local))
        .build()
        .await
        .unwrap();
    let sealer = crypto.seal_record("t", b"r").await.unwrap();
    let field = sealer.seal("c", "value").unwrap();
    let wrapped = sealer.into_wrapped_dek();
    let opener = crypto
        .open_record("t", b"r", Some(&wrapped), &"r")
        .await
        .unwrap();
    assert_eq!(opener.open::<String>("c", &field).unwrap(), "value");
}
