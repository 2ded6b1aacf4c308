//! Field ciphertext open, both formats: any bytes in a data column must give a typed error,
//! never a panic, and only an authentic ciphertext may open. Seeds are valid ciphertexts of
//! formats 1 and 2 (see `examples/seeds.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

static CIPHER: OnceLock<encx::cipher::FieldCipher> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let cipher = CIPHER.get_or_init(encx_fuzz::field_cipher);
    let ctx = encx_fuzz::field_context();
    // The raw open reads format 1 into its postcard plaintext.
    let raw = cipher.open(&ctx, data);
    match &raw {
        Ok(_) => {}
        Err(e) => assert!(
            e.is_tampered(),
            "a bad field ciphertext must be an integrity failure: {e:?}"
        ),
    }
    // The typed open reads both formats.
    match cipher.open_value::<String>(&ctx, data) {
        Ok(text) => {
            // Authentic. In format 1 it is what the raw plaintext decodes to.
            if let Ok(plaintext) = raw {
                let decoded = encx::codec::decode_owned::<String>(plaintext).expect("decodes");
                assert_eq!(decoded, text);
            }
        }
        // Only an authentic value that is no string may fail to decode.
        Err(encx::Error::Codec(_)) => {}
        Err(e) => assert!(
            e.is_tampered(),
            "a bad field ciphertext must be an integrity failure: {e:?}"
        ),
    }
});
