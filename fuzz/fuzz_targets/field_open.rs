//! Field ciphertext open: any bytes in a data column must give a typed error, never a panic,
//! and only an authentic ciphertext may open. Seeds are valid ciphertexts (see `src/seeds.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

static CIPHER: OnceLock<encx::cipher::FieldCipher> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let cipher = CIPHER.get_or_init(encx_fuzz::field_cipher);
    let ctx = encx_fuzz::field_context();
    match cipher.open(&ctx, data) {
        Ok(plaintext) => {
            // Authentic: decoding as the seeds' type must not panic either.
            let _ = encx::codec::decode_owned::<String>(plaintext);
        }
        Err(e) => assert!(
            e.is_tampered(),
            "a bad field ciphertext must be an integrity failure: {e:?}"
        ),
    }
});
