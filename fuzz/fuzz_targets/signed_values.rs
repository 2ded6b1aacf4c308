//! Strings and bytes that clients hand back: signed values (`Signer::verify`), CSRF tokens
//! (`Csrf::verify`), presented tokens (`Tokens::lookup_hashes`) and stored token hashes
//! (`TokenHash::from_bytes` + `Tokens::verify`). Any input gives a typed error or `false`,
//! never a panic; a value that verifies re-signs to a string that verifies to the same value.
//! Seeds are valid ones under the fixed keys (see `examples/seeds.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

use encx::{Crypto, TokenHash};

static CRYPTO: OnceLock<Crypto> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let crypto = CRYPTO.get_or_init(encx_fuzz::crypto);
    let text = String::from_utf8_lossy(data);
    let signer = crypto.signer("fuzz").expect("signer");
    match signer.verify(&text) {
        Ok(value) => {
            let again = signer.sign(&value).expect("sign");
            assert_eq!(signer.verify(&again).expect("verify"), value);
        }
        Err(e) => assert!(
            e.is_tampered() || e.is_key_missing() || e.kind() == encx::ErrorKind::Expired,
            "unexpected class for a bad signed value: {e:?}"
        ),
    }
    let csrf = crypto.csrf().expect("csrf");
    let _: bool = csrf
        .verify(b"session-1", &text)
        .expect("csrf verify never fails");
    let tokens = crypto.tokens("fz").expect("tokens");
    let hashes = tokens.lookup_hashes(&text).expect("lookup hashes");
    assert!(hashes.len() <= 1);
    if let Ok(hash) = TokenHash::from_bytes(data.to_vec()) {
        match tokens.verify(&text, &hash) {
            Ok(_) => {}
            Err(e) => assert!(
                e.is_key_missing(),
                "unexpected class for a token hash: {e:?}"
            ),
        }
    }
});
