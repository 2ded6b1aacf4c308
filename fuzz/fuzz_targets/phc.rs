//! PHC password-hash strings: parse (as every entry point does) and verify under a test-cost
//! policy. Must never panic, never hash with parameters above the limits (a stall or an abort),
//! and refuse every algorithm but argon2id. The two reproducers of the security review are in
//! the seed corpus.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use std::time::Instant;

use encx::{PasswordHash, PasswordPolicy};

static POLICY: OnceLock<PasswordPolicy> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let policy = POLICY.get_or_init(|| PasswordPolicy::new(8, 1, 1).expect("policy"));
    match PasswordHash::from_phc(text) {
        Ok(hash) => {
            assert!(
                text.starts_with("$argon2id$"),
                "accepted a non-argon2id hash: {text}"
            );
            let started = Instant::now();
            let _ = policy.verify(&hash, "password");
            let _ = policy.needs_rehash(&hash);
            // m <= 32 KiB and t <= 4 under this policy: verification is fast or refused.
            assert!(
                started.elapsed().as_secs() < 2,
                "verify ran too long for {text}"
            );
        }
        Err(e) => assert!(
            e.is_tampered(),
            "a refused hash is an integrity failure: {e:?}"
        ),
    }
    // serde goes through the same check.
    let _ = serde_json_free_roundtrip(text);
});

fn serde_json_free_roundtrip(text: &str) -> Option<PasswordHash> {
    PasswordHash::try_from(text.to_owned()).ok()
}
