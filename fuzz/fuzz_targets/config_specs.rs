//! Key specifications from the environment (`ENCX_MASTER_KEYS`, `ENCX_INDEX_KEYS`, one base64
//! key) and normalizer names: never a panic, and an error never repeats the key text.
#![no_main]

use libfuzzer_sys::fuzz_target;

use encx::index::IndexKeys;
use encx::{LocalKeyring, MasterKey, Normalizer};

/// The key part of every `version:key` entry, when long enough to be recognisable.
fn key_parts(spec: &str) -> Vec<&str> {
    spec.split(',')
        .filter_map(|entry| entry.split_once(':'))
        .map(|(_, key)| key.trim())
        .filter(|key| key.len() >= 6)
        .collect()
}

fn assert_no_echo(spec: &str, message: &str) {
    for key in key_parts(spec) {
        let in_version = spec
            .split(',')
            .filter_map(|entry| entry.split_once(':'))
            .any(|(version, _)| version.contains(key));
        assert!(
            in_version || !message.contains(key),
            "error repeats key text: {message}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = LocalKeyring::from_spec(text) {
        assert_no_echo(text, &e.to_string());
    }
    if let Err(e) = IndexKeys::from_spec(text) {
        assert_no_echo(text, &e.to_string());
    }
    if let Err(e) = MasterKey::from_base64("v1", text) {
        if text.trim().len() >= 6 {
            assert!(
                !e.to_string().contains(text.trim()),
                "error repeats key text"
            );
        }
    }
    let _ = text.parse::<Normalizer>();
});
