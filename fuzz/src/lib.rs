//! Fixtures shared by the fuzz targets and the seed writer: fixed keys, so that seed corpora
//! written once keep decrypting in later runs.

use std::sync::Arc;

use encx::cipher::{FieldCipher, FieldContext};
use encx::keys::hierarchical::{stored_key_record_id, KEY_TABLE};
use encx::{
    Dek, HierarchicalKeyring, KekStore, KeyContext, KeyPurpose, Keyring, LocalKeyring, MasterKey,
    MemoryKekStore, NewKek,
};

/// The table, column and record every field seed is bound to.
pub fn field_context() -> FieldContext<'static> {
    FieldContext::new("users", "email", b"rec-1")
}

/// The DEK every field seed is sealed under.
pub fn field_cipher() -> FieldCipher {
    FieldCipher::new(&Dek::from_bytes([0x42; 32]))
}

/// The context every wrapped-DEK seed is bound to.
pub fn dek_context() -> KeyContext<'static> {
    KeyContext::new("users", b"rec-1")
}

/// A local keyring with one fixed master key.
pub fn local() -> LocalKeyring {
    LocalKeyring::new(vec![MasterKey::new("v1", [0x11; 32]).expect("master key")]).expect("keyring")
}

/// The fixed id of the one KEK of [`hierarchical`].
pub const KEK_ID: uuid::Uuid = uuid::Uuid::from_bytes([0x5a; 16]);

/// A hierarchical keyring whose store holds one KEK with fixed bytes and id, wrapped by
/// [`local`].
pub fn hierarchical() -> HierarchicalKeyring {
    let root: Arc<dyn Keyring> = Arc::new(local());
    let store = Arc::new(MemoryKekStore::new());
    futures_executor::block_on(async {
        let record_id = stored_key_record_id(&KEK_ID, KeyPurpose::Kek, 1);
        let wrapped = root
            .wrap_dek(
                &Dek::from_bytes([0x77; 32]),
                &KeyContext::new(KEY_TABLE, &record_id),
            )
            .await
            .expect("wrap KEK");
        store
            .insert_active(
                NewKek {
                    id: KEK_ID,
                    purpose: KeyPurpose::Kek,
                    version: 1,
                    root_key: root.key_description(),
                    wrapped: wrapped.into_bytes(),
                },
                None,
            )
            .await
            .expect("store KEK");
    });
    HierarchicalKeyring::new(root, store as Arc<dyn KekStore>)
}
