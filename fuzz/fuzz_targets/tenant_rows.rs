//! Tenant rows and signatures, which a database writer controls:
//! - first byte 0: the rest, as text, through the parsers of `encx_tenants.root`,
//!   `encx_tenants.state` and `encx_erasure_ledger.scope`;
//! - first byte 1: the rest as a record's `encx_sig`, checked against its signed columns;
//! - first byte 2: the rest as the wrapped bytes of a tenant's KEK row, which must then unwrap
//!   a record's DEK of that tenant.
//!
//! Every input is a typed error (or, for a well-formed root or state, a value that prints back
//! as it was read), never a panic.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;

use encx::keys::tenant::{MemoryTenantStore, TenantRoot, TenantState, TenantStore};
use encx::record::SignedColumns;
use encx::{Ciphertext, Crypto, ErasureScope, KeyPurpose};

fn text(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(root) = TenantRoot::parse(&text) {
        assert_eq!(root.to_stored(), text, "a root prints back as read");
    }
    if let Ok(state) = TenantState::parse(&text) {
        assert_eq!(state.as_str(), text);
    }
    if let Ok(scope) = ErasureScope::parse(&text) {
        assert_eq!(scope.as_str(), text);
    }
}

async fn signature(data: &[u8]) {
    let crypto = Crypto::builder()
        .keyring(encx_fuzz::local())
        .build()
        .await
        .expect("crypto");
    let sealer = crypto.seal_record("members", b"m-1").await.expect("seal");
    let mut columns = SignedColumns::new();
    columns.push("role", "viewer").expect("encode");
    let genuine = sealer.sign(&columns).expect("sign");
    let wrapped = sealer.into_wrapped_dek();
    let opener = crypto
        .open_record("members", b"m-1", Some(&wrapped), &"m-1")
        .await
        .expect("open");
    assert!(opener.verify(&columns, Some(&genuine)).is_ok());
    let fuzzed = Ciphertext::from_bytes(data.to_vec());
    match opener.verify(&columns, Some(&fuzzed)) {
        Ok(()) => assert_eq!(data, genuine.as_bytes(), "only the genuine signature verifies"),
        Err(e) => assert!(e.is_tampered(), "{e:?}"),
    }
}

async fn key_row(data: &[u8]) {
    let store = Arc::new(MemoryTenantStore::new());
    let crypto = Crypto::builder()
        .keyring(encx_fuzz::local())
        .tenants(store.clone())
        .build()
        .await
        .expect("crypto");
    // A record of tenant `acme`, sealed under its first KEK: then that KEK's wrapped bytes are
    // replaced by the fuzzed ones.
    let acme = crypto.for_tenant(b"acme", "acme").await.expect("scope");
    let sealer = acme.seal_record("members", b"m-1").await.expect("seal");
    let wrapped = sealer.into_wrapped_dek();
    let keys = store.keys(b"acme");
    let kek = keys
        .active(KeyPurpose::Kek)
        .await
        .expect("store")
        .expect("a KEK");
    let genuine = kek.wrapped.clone();
    if keys
        .replace_wrapped(kek.id, &genuine, data, &kek.root_key)
        .await
        .expect("store")
    {
        crypto.forget_tenant(b"acme").expect("tenants");
    }
    let acme = crypto.for_tenant(b"acme", "acme").await.expect("scope");
    match acme
        .open_record("members", b"m-1", Some(&wrapped), &"m-1")
        .await
    {
        Ok(_) => assert_eq!(data, genuine.as_slice(), "only the genuine row unwraps"),
        Err(e) => assert!(
            e.is_tampered() || e.is_key_missing() || e.is_config(),
            "{e:?}"
        ),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => text(rest),
        1 => futures_executor::block_on(signature(rest)),
        _ => futures_executor::block_on(key_row(rest)),
    }
});
