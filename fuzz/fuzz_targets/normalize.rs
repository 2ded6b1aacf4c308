//! Normalizers: never panic, idempotent, `lowercase` equals the full Unicode lowercase mapping
//! (std's `str::to_lowercase`) and leaves no character that lowercases further.
#![no_main]

use libfuzzer_sys::fuzz_target;

use encx::Normalizer;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for (name, normalizer) in Normalizer::ALL {
        let once = normalizer.apply(text);
        let twice = normalizer.apply(&once);
        assert_eq!(once, twice, "{name} is not idempotent on {text:?}");
        match normalizer {
            Normalizer::Lowercase => {
                assert_eq!(
                    once,
                    text.to_lowercase(),
                    "lowercase differs from std on {text:?}"
                );
            }
            Normalizer::Email => {
                assert_eq!(once, text.trim().to_lowercase(), "email on {text:?}");
            }
            Normalizer::Trim => assert_eq!(once, text.trim()),
            Normalizer::Digits => assert!(once.bytes().all(|b| b.is_ascii_digit())),
            Normalizer::Last4 => {
                assert!(once.len() <= 4 && once.bytes().all(|b| b.is_ascii_digit()));
            }
            _ => {}
        }
    }
});
