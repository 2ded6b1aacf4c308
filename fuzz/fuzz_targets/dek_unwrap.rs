//! Wrapped DEK unwrap, local and hierarchical keyrings: any bytes in `encx_dek` give a typed
//! error, never a panic; so do the header reads of a rewrap (`wraps_with_active_key`) and of
//! key status (`KeyInUse::from_prefix`), which must name the key of every blob that unwraps.
//! Seeds are valid wrapped DEKs of both keyrings (see `src/seeds.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

use encx::{HierarchicalKeyring, KeyInUse, Keyring, LocalKeyring, WrappedDek};

static KEYRINGS: OnceLock<(LocalKeyring, HierarchicalKeyring)> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let (local, hierarchical) =
        KEYRINGS.get_or_init(|| (encx_fuzz::local(), encx_fuzz::hierarchical()));
    let blob = WrappedDek::from_bytes(data.to_vec());
    let ctx = encx_fuzz::dek_context();
    let named = KeyInUse::from_prefix(Some(data));
    for keyring in [local as &dyn Keyring, hierarchical as &dyn Keyring] {
        match futures_executor::block_on(keyring.unwrap_dek(&blob, &ctx)) {
            Ok(_) => assert!(
                matches!(named, KeyInUse::LocalMasterKey(_) | KeyInUse::Kek(_)),
                "a blob that unwraps names its key: {named:?}"
            ),
            Err(e) => assert!(
                e.is_tampered() || e.is_key_missing(),
                "unexpected class for a bad wrapped DEK: {e:?}"
            ),
        }
        if let Err(e) = futures_executor::block_on(keyring.wraps_with_active_key(&blob)) {
            assert!(
                e.is_tampered() || e.is_key_missing(),
                "unexpected class for a bad header: {e:?}"
            );
        }
    }
});
