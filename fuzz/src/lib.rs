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
    FieldCipher::new(&Dek::from_bytes([0x42; 32])).expect("field cipher")
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

/// The fixed id of the subject key of [`subject_row`].
pub const SUBJECT_KEY_ID: uuid::Uuid = uuid::Uuid::from_bytes([0x5b; 16]);

/// The subject of [`subject_row`].
pub const SUBJECT: &[u8] = b"user-1";

/// The subject key's bytes.
const SUBJECT_KEY: [u8; 32] = [0x66; 32];

/// A valid `encx_subject_keys` row: version 1 of [`SUBJECT`]'s key, wrapped by [`local`].
pub fn subject_row() -> encx::StoredSubjectKey {
    let record_id = encx::keys::subject::subject_key_record_id(&SUBJECT_KEY_ID, SUBJECT, 1);
    let wrapped = futures_executor::block_on(local().wrap_dek(
        &Dek::from_bytes(SUBJECT_KEY),
        &KeyContext::new(encx::keys::subject::SUBJECT_KEY_TABLE, &record_id),
    ))
    .expect("wrap subject key");
    encx::StoredSubjectKey {
        id: SUBJECT_KEY_ID,
        subject: SUBJECT.to_vec(),
        version: 1,
        wrapped: Some(wrapped.into_bytes()),
        created_at: std::time::SystemTime::UNIX_EPOCH,
        erased_at: None,
    }
}

/// A record DEK wrapped under the subject key of [`subject_row`], for [`dek_context`].
pub fn subject_dek() -> encx::WrappedDek {
    encx::keys::subject::wrap_dek_under(
        SUBJECT_KEY_ID,
        &Dek::from_bytes(SUBJECT_KEY),
        &Dek::from_bytes([0x42; 32]),
        &dek_context(),
    )
    .expect("wrap record DEK")
}

/// The subject-rows fuzz input of a row: version | lp(subject) | lp(record subject) |
/// present | wrapped.
pub fn subject_row_input(row: &encx::StoredSubjectKey, record_subject: &[u8]) -> Vec<u8> {
    let mut out = row.version.to_be_bytes().to_vec();
    for part in [row.subject.as_slice(), record_subject] {
        out.push(u8::try_from(part.len()).expect("short"));
        out.extend_from_slice(part);
    }
    out.push(u8::from(row.wrapped.is_some()));
    out.extend_from_slice(row.wrapped.as_deref().unwrap_or_default());
    out
}

/// A `Crypto` with the fixed local keyring and one fixed index root key (version 1): tokens,
/// CSRF tokens and signed values of the seeds keep verifying in later runs.
pub fn crypto() -> encx::Crypto {
    futures_executor::block_on(
        encx::Crypto::builder()
            .keyring(local())
            .index_keys(encx::index::IndexKeys::new(vec![(1, [0x33; 32])]).expect("index keys"))
            .build(),
    )
    .expect("crypto")
}
