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

/// The fixed wording of every error these parsers give, for neutral inputs, digits blurred: a
/// "key" that is a piece of that wording is not an echo (the fuzzer finds such inputs within
/// seconds).
fn fixed_wording() -> &'static [String] {
    static WORDING: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    WORDING.get_or_init(|| {
        let mut out = Vec::new();
        for spec in [
            "v1:!",
            "v1:AAAA",
            "x",
            "1:!",
            "1:AAAA",
            "v1:!,v1:!",
            "0:!",
            "",
        ] {
            let errors = [
                LocalKeyring::from_spec(spec).err(),
                IndexKeys::from_spec(spec).err(),
                MasterKey::from_base64("v1", spec).err(),
            ];
            // Kept both as written and with quoted spans removed, as messages are checked.
            for e in errors.into_iter().flatten() {
                let text = e.to_string();
                out.push(digits_blurred(&without_quoted(&text)));
                out.push(digits_blurred(&text));
            }
        }
        out
    })
}

/// `text` with every ASCII digit as `#`: messages number their entries ("entry 2"), and a
/// "key" cut from the wording around another number is no echo either.
fn digits_blurred(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_ascii_digit() { '#' } else { c })
        .collect()
}

fn is_fixed_wording(text: &str) -> bool {
    let text = digits_blurred(text);
    fixed_wording().iter().any(|w| w.contains(&text))
}

/// `message` without its quoted spans (`"..."` as `{:?}` writes them, `\"` escaped inside).
/// Version names are public and quoted in errors; nothing else of the input may appear.
fn without_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut chars = message.chars();
    while let Some(c) = chars.next() {
        if c != '"' {
            out.push(c);
            continue;
        }
        while let Some(q) = chars.next() {
            match q {
                '\\' => {
                    chars.next();
                }
                '"' => break,
                _ => {}
            }
        }
    }
    out
}

fn assert_no_echo(spec: &str, message: &str) {
    let unquoted = without_quoted(message);
    for key in key_parts(spec) {
        assert!(
            is_fixed_wording(key) || !unquoted.contains(key),
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
        let key = text.trim();
        if key.len() >= 6 && !is_fixed_wording(key) {
            let message = e.to_string();
            assert!(
                !without_quoted(&message).contains(key),
                "error repeats key text: {message}"
            );
        }
    }
    let _ = text.parse::<Normalizer>();
});
