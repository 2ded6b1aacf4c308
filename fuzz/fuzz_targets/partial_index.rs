//! Partial indexes on any text: computing stored values and queries never panics, and the
//! index never misses a true match (no false negatives): a value's prefix and suffix
//! queries equal its stored hashes, and every substring of a value passes its Bloom filter.
//! The input is split at the first 0xFF byte into a value and a term; its first byte picks
//! the lengths.
#![no_main]

use libfuzzer_sys::fuzz_target;

use encx::index::{filter_contains, IndexKeys, Normalizer, PartialKind, PartialSpec};

fuzz_target!(|data: &[u8]| {
    let Some((&shape, rest)) = data.split_first() else {
        return;
    };
    let (value, term) = match rest.iter().position(|b| *b == 0xFF) {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (rest, &[][..]),
    };
    let (Ok(value), Ok(term)) = (std::str::from_utf8(value), std::str::from_utf8(term)) else {
        return;
    };
    let keys = IndexKeys::new(vec![(1, [9u8; 32])]).expect("keys");
    let key = keys.derive("fuzz", 1).expect("key");
    let chars = 1 + shape % 6;
    for (_, normalizer) in Normalizer::ALL {
        let prefix = PartialSpec::new("f", "fuzz", PartialKind::Prefix { chars }, 16, normalizer);
        let suffix = PartialSpec::new("f", "fuzz", PartialKind::Suffix { chars }, 16, normalizer);
        let contains = PartialSpec::new(
            "f",
            "fuzz",
            PartialKind::Contains { ngram: 1 + (shape >> 4) % 4, filter_bits: 128, hashes: 3 },
            0,
            normalizer,
        );
        let stored_prefix = prefix.stored(&key, value).expect("prefix");
        let stored_suffix = suffix.stored(&key, value).expect("suffix");
        let filter = contains.stored(&key, value).expect("filter");
        let normalized = normalizer.apply(value);
        if normalized.chars().count() >= usize::from(chars) {
            assert_eq!(prefix.query(&key, value).ok(), Some(stored_prefix));
            assert_eq!(suffix.query(&key, value).ok(), Some(stored_suffix));
        }
        // Any query either fails (too short) or, for a term the value contains, passes.
        if let Ok(mask) = contains.query(&key, term) {
            let t = normalizer.apply(term);
            if normalized.contains(t.as_ref()) {
                assert!(filter_contains(filter.as_bytes(), mask.as_bytes()), "missed {t:?} in {normalized:?}");
            }
        }
        let _ = prefix.query(&key, term);
        let _ = suffix.query(&key, term);
    }
});
