//! The tamper matrix: every byte flipped, every truncation, every context swap, unknown key
//! versions — each rejected with the right typed error, never a panic or wrong plaintext.
use std::sync::Arc;

use encx::cipher::{FieldCipher, FieldContext};
use encx::{Dek, Error, HierarchicalKeyring, KeyContext, Keyring, MemoryKekStore, WrappedDek};

use crate::support::local;

fn assert_tampered<T: std::fmt::Debug>(r: encx::Result<T>, what: &str) {
    match r {
        Err(Error::Tampered) => {}
        other => panic!("{what}: expected Tampered, got {other:?}"),
    }
}

#[test]
fn field_ciphertext_every_flip_and_truncation_is_rejected() {
    let dek = Dek::generate().unwrap();
    let cipher = FieldCipher::new(&dek).unwrap();
    let ctx = FieldContext::new("users", "email", b"rec-1");
    let sealed = cipher.seal(&ctx, b"ada@example.com").unwrap();

    for i in 0..sealed.len() {
        for bit in 0..8 {
            let mut bad = sealed.clone();
            bad[i] ^= 1 << bit;
            let r = cipher.open(&ctx, &bad);
            if i == 0 {
                assert!(
                    matches!(&r, Err(Error::UnsupportedFormat { version, .. }) if *version == bad[0]),
                    "format byte flip must be UnsupportedFormat, got {r:?}"
                );
                assert!(
                    r.unwrap_err().is_tampered(),
                    "an unknown format is an integrity failure"
                );
            } else {
                assert_tampered(r, &format!("byte {i} bit {bit}"));
            }
        }
    }
    for len in 0..sealed.len() {
        assert_tampered(
            cipher.open(&ctx, &sealed[..len]),
            &format!("truncated to {len}"),
        );
    }
    let mut longer = sealed.clone();
    longer.push(0);
    assert_tampered(cipher.open(&ctx, &longer), "one byte appended");
}

#[test]
fn field_ciphertext_context_swaps_are_rejected() {
    let dek = Dek::generate().unwrap();
    let cipher = FieldCipher::new(&dek).unwrap();
    let ctx = FieldContext::new("users", "email", b"rec-1");
    let sealed = cipher.seal(&ctx, b"secret").unwrap();
    for (what, other) in [
        ("table", FieldContext::new("admins", "email", b"rec-1")),
        ("column", FieldContext::new("users", "phone", b"rec-1")),
        ("record", FieldContext::new("users", "email", b"rec-2")),
        // Framing: moving a byte between parts must not give the same AAD.
        ("framing", FieldContext::new("users", "emai", b"lrec-1")),
        ("empty id", FieldContext::new("users", "email", b"")),
    ] {
        assert_tampered(cipher.open(&other, &sealed), what);
    }
    let other_dek = Dek::generate().unwrap();
    assert_tampered(
        FieldCipher::new(&other_dek).unwrap().open(&ctx, &sealed),
        "wrong DEK",
    );
}

/// Flips every bit of a wrapped DEK and checks each region's error: byte 0 format ->
/// UnsupportedFormat; byte 1 keyring kind -> Tampered, or KeyNotFound when the flip names the
/// other real keyring kind (indistinguishable from a keyring swapped in the configuration);
/// bytes 2..18 key id -> `key_id_error`; the rest (salt, nonce, wrapped key, tag) -> Tampered.
async fn wrapped_dek_matrix(keyring: &dyn Keyring, key_id_error: fn(&Error) -> bool) {
    let ctx = KeyContext::new("users", b"rec-1");
    let (_, wrapped) = keyring.generate_dek(&ctx).await.unwrap();
    let bytes = wrapped.as_bytes().to_vec();
    assert_eq!(bytes.len(), 94, "format 2 wrapped DEK length");
    assert_eq!(bytes[0], 0x02, "format byte");
    for i in 0..bytes.len() {
        for bit in 0..8 {
            let mut bad = bytes.clone();
            bad[i] ^= 1 << bit;
            let other_kind = i == 1 && matches!(bad[1], 0x01 | 0x03);
            let r = keyring.unwrap_dek(&WrappedDek::from_bytes(bad), &ctx).await;
            match i {
                0 => assert!(
                    matches!(&r, Err(e @ Error::UnsupportedFormat { .. }) if e.is_tampered()),
                    "byte 0: {r:?}"
                ),
                1 if other_kind => {
                    assert!(matches!(r, Err(Error::KeyNotFound { .. })), "byte 1: {r:?}")
                }
                2..=17 => assert!(matches!(&r, Err(e) if key_id_error(e)), "byte {i}: {r:?}"),
                _ => assert_tampered(r, &format!("wrapped DEK byte {i} bit {bit}")),
            }
        }
    }
    for len in 0..bytes.len() {
        let r = keyring
            .unwrap_dek(&WrappedDek::from_bytes(bytes[..len].to_vec()), &ctx)
            .await;
        assert_tampered(r, &format!("wrapped DEK truncated to {len}"));
    }
    for (what, other) in [
        ("table", KeyContext::new("admins", b"rec-1")),
        ("record", KeyContext::new("users", b"rec-2")),
    ] {
        assert_tampered(keyring.unwrap_dek(&wrapped, &other).await, what);
    }
}

#[tokio::test]
async fn local_wrapped_dek_matrix() {
    // An unknown local master-key id is most often a version left out of the configuration.
    wrapped_dek_matrix(&local("v1", 1), |e| matches!(e, Error::KeyNotFound { .. })).await;
}

#[tokio::test]
async fn hierarchical_wrapped_dek_matrix() {
    let keyring =
        HierarchicalKeyring::new(Arc::new(local("root", 2)), Arc::new(MemoryKekStore::new()));
    // A KEK id the store never held: the blob (or the key table) was altered.
    wrapped_dek_matrix(&keyring, |e| {
        matches!(e, Error::UnknownKeyId { .. }) && e.is_tampered()
    })
    .await;
}

#[tokio::test]
async fn unknown_key_versions_are_key_not_found() {
    let ctx = KeyContext::new("users", b"rec-1");
    let (_, wrapped) = local("v1", 1).generate_dek(&ctx).await.unwrap();
    let r = local("v2", 2).unwrap_dek(&wrapped, &ctx).await;
    assert!(matches!(r, Err(Error::KeyNotFound { .. })), "{r:?}");

    // A hierarchical blob handed to a local keyring names the other keyring kind.
    let h = HierarchicalKeyring::new(Arc::new(local("root", 2)), Arc::new(MemoryKekStore::new()));
    let (_, hw) = h.generate_dek(&ctx).await.unwrap();
    let r = local("v1", 1).unwrap_dek(&hw, &ctx).await;
    match r {
        Err(Error::KeyNotFound { what }) => assert!(what.contains("hierarchical"), "{what}"),
        other => panic!("{other:?}"),
    }

    // A KEK id that the store never held: an integrity failure (key rows are never deleted).
    let other_store =
        HierarchicalKeyring::new(Arc::new(local("root", 2)), Arc::new(MemoryKekStore::new()));
    let r = other_store.unwrap_dek(&hw, &ctx).await;
    assert!(
        matches!(&r, Err(e @ Error::UnknownKeyId { .. }) if e.is_tampered()),
        "{r:?}"
    );
}

#[tokio::test]
async fn erased_record_is_shredded_with_its_id() {
    let crypto = encx::Crypto::builder()
        .keyring(local("v1", 1))
        .build()
        .await
        .unwrap();
    let err = crypto
        .open_record("users", b"r", None, &"user-42")
        .await
        .unwrap_err();
    match err {
        Error::Shredded { table, record } => {
            assert_eq!(table, "users");
            assert_eq!(record, "user-42");
        }
        other => panic!("{other:?}"),
    }
}
