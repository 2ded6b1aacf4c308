//! Partial-match indexes: prefixes, suffixes, substrings (n-gram Bloom filters) and ranges
//! (keyed buckets). Each is a keyed HMAC-SHA256 under a key of its own domain, derived as for
//! equality indexes ([`IndexKeys::derive`](super::IndexKeys::derive)). `docs/format.md` §4b
//! gives the exact bytes; `docs/search.md` what each one gives away.
//!
//! ```text
//! prefix n  = trunc_bits(HMAC(K, first n chars of normalize(v))) (all of it when shorter)
//! suffix n  = trunc_bits(HMAC(K, last n chars of normalize(v)))  (all of it when shorter)
//! contains  = m-bit Bloom filter: for each distinct n-gram g of normalize(v)
//!             (normalize(v) itself when shorter than n chars), d = HMAC(K, g), and for
//!             i in 0..k, bit (u16be(d[2i..2i+2]) mod m) is set (bit p = byte p/8, mask 0x80 >> p%8)
//! range     = trunc_bits(HMAC(K, i128be(floor(ordinal(v) / width))))
//! ```
//!
//! Every one of them has false positives (truncation, shared buckets, Bloom collisions), so a
//! search re-checks the decrypted values.
//!
//! ```
//! use encx::index::{IndexKeys, Normalizer, PartialKind, PartialSpec};
//! let keys = IndexKeys::new(vec![(1, [7u8; 32])])?;
//! const P3: PartialSpec =
//!     PartialSpec::new("surname", "5:users,7:surname,7:prefix3,", PartialKind::Prefix { chars: 3 }, 16, Normalizer::Lowercase);
//! let key = keys.derive(P3.domain, 1)?;
//! let a = P3.stored(&key, "Lovelace")?;
//! let b = P3.query(&key, "lov")?;
//! assert_eq!(a, b);
//! # Ok::<(), encx::Error>(())
//! ```

use std::collections::BTreeSet;

use subtle::ConstantTimeEq;

use super::normalize::Normalizer;
use super::{check_bits, IndexKey};
use crate::error::{Error, Result};
use crate::schema::{quote_ident, Dialect};
use crate::types::BlindIndex;

/// Smallest Bloom filter of a `contains` index, in bits.
pub const MIN_FILTER_BITS: u16 = 64;
/// Largest Bloom filter of a `contains` index, in bits (8 KiB).
pub const MAX_FILTER_BITS: u32 = 65_536;
/// Most hash positions per n-gram (a HMAC-SHA256 has 16 two-byte words).
pub const MAX_HASHES: u8 = 16;
/// Most buckets one range search may ask for.
pub const MAX_RANGE_BUCKETS: u64 = 4096;
/// Longest prefix or suffix, in characters.
pub const MAX_AFFIX_CHARS: u8 = 64;

/// What a partial index stores for a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PartialKind {
    /// The first `chars` characters (after normalization).
    Prefix {
        /// Prefix length in characters (Unicode scalar values).
        chars: u8,
    },
    /// The last `chars` characters (after normalization).
    Suffix {
        /// Suffix length in characters.
        chars: u8,
    },
    /// The n-grams of the value in a keyed Bloom filter: substring search.
    Contains {
        /// n-gram length in characters (3: trigrams).
        ngram: u8,
        /// Filter size in bits: a power of two in 64..=65536 (stored as `filter_bits / 8` bytes;
        /// 65536 is written `0` here, as it does not fit a `u16`).
        filter_bits: u16,
        /// Bits set per n-gram, 1..=16.
        hashes: u8,
    },
    /// The bucket `floor(ordinal / width)` of an integer, date or timestamp.
    Range {
        /// Bucket width in the value's ordinal unit (integers: 1; dates: days; timestamps:
        /// seconds).
        width: u64,
    },
}

impl PartialKind {
    /// The tag appended to the field's domain: `prefix3`, `suffix4`, `contains`, `range`.
    pub fn tag(&self) -> String {
        match self {
            PartialKind::Prefix { chars } => format!("prefix{chars}"),
            PartialKind::Suffix { chars } => format!("suffix{chars}"),
            PartialKind::Contains { .. } => "contains".into(),
            PartialKind::Range { .. } => "range".into(),
        }
    }

    /// Filter size in bits of a `Contains` kind (`0` stands for 65536).
    pub fn filter_bits(&self) -> Option<u32> {
        match self {
            PartialKind::Contains { filter_bits, .. } => Some(match filter_bits {
                0 => MAX_FILTER_BITS,
                b => u32::from(*b),
            }),
            _ => None,
        }
    }
}

/// The HKDF domain of a partial index: [`default_domain`](super::default_domain) of the table
/// and field, then the netstring of the kind's [`tag`](PartialKind::tag).
///
/// ```
/// use encx::index::{partial_domain, PartialKind};
/// assert_eq!(partial_domain("users", "surname", &PartialKind::Prefix { chars: 2 }), "5:users,7:surname,7:prefix2,");
/// ```
pub fn partial_domain(table: &str, field: &str, kind: &PartialKind) -> String {
    let tag = kind.tag();
    format!(
        "{}{}:{tag},",
        super::default_domain(table, field),
        tag.len()
    )
}

/// One partial index column: its field, HKDF domain, kind, length and normalizer. The derive
/// generates these; [`Crypto::partial_index`](crate::Crypto::partial_index) computes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PartialSpec {
    /// The field's name (for messages).
    pub name: &'static str,
    /// HKDF domain ([`partial_domain`]).
    pub domain: &'static str,
    /// What it stores.
    pub kind: PartialKind,
    /// Length in bits of a prefix, suffix or range hash (8..=256); unused by `Contains`.
    pub bits: u16,
    /// Normalizer applied to the value and to search terms (not used by `Range`).
    pub normalizer: Normalizer,
}

impl PartialSpec {
    /// A spec from its parts.
    pub const fn new(
        name: &'static str,
        domain: &'static str,
        kind: PartialKind,
        bits: u16,
        normalizer: Normalizer,
    ) -> Self {
        PartialSpec {
            name,
            domain,
            kind,
            bits,
            normalizer,
        }
    }

    /// [`Error::InvalidConfig`] when the parameters are out of range.
    pub fn check(&self) -> Result<()> {
        if self.domain.starts_with("encx:") {
            return Err(Error::config(format!(
                "index of `{}`: domains starting with `encx:` are reserved",
                self.name
            )));
        }
        match self.kind {
            PartialKind::Prefix { chars } | PartialKind::Suffix { chars } => {
                check_bits(self.bits)?;
                if chars == 0 || chars > MAX_AFFIX_CHARS {
                    return Err(Error::config(format!(
                        "index of `{}`: prefix and suffix lengths are 1..={MAX_AFFIX_CHARS} characters",
                        self.name
                    )));
                }
            }
            PartialKind::Contains { ngram, hashes, .. } => {
                let bits = self.kind.filter_bits().unwrap_or_default();
                if !bits.is_power_of_two() || bits < u32::from(MIN_FILTER_BITS) {
                    return Err(Error::config(format!(
                        "contains index of `{}`: the filter size must be a power of two in {MIN_FILTER_BITS}..={MAX_FILTER_BITS} bits",
                        self.name
                    )));
                }
                if hashes == 0 || hashes > MAX_HASHES || ngram == 0 || ngram > 16 {
                    return Err(Error::config(format!(
                        "contains index of `{}`: hashes must be 1..={MAX_HASHES} and ngram 1..=16",
                        self.name
                    )));
                }
            }
            PartialKind::Range { width } => {
                check_bits(self.bits)?;
                if width == 0 {
                    return Err(Error::config(format!(
                        "range index of `{}`: the bucket width must be at least 1",
                        self.name
                    )));
                }
            }
        }
        Ok(())
    }

    /// Stored length in bytes.
    pub fn stored_bytes(&self) -> usize {
        match self.kind.filter_bits() {
            Some(bits) => bits as usize / 8,
            None => usize::from(self.bits).div_ceil(8),
        }
    }

    /// What to store for a value's text (prefix, suffix, contains) under `key`.
    pub fn stored(&self, key: &IndexKey, text: &str) -> Result<BlindIndex> {
        self.check()?;
        let normalized = self.normalizer.apply_wiped(text);
        match self.kind {
            PartialKind::Prefix { chars } => key.compute(self.bits, prefix(&normalized, chars)),
            PartialKind::Suffix { chars } => key.compute(self.bits, suffix(&normalized, chars)),
            PartialKind::Contains { ngram, hashes, .. } => {
                let bits = self.kind.filter_bits().unwrap_or_default();
                let mut filter = vec![0u8; bits as usize / 8];
                for gram in ngrams(&normalized, ngram, true) {
                    set_positions(&mut filter, key, gram, hashes, bits);
                }
                Ok(BlindIndex::from_bytes(filter))
            }
            PartialKind::Range { .. } => Err(self.wrong_kind()),
        }
    }

    /// What to query for a search term (prefix, suffix: the hash of the term, cut to the
    /// index's length; contains: the mask of the term's n-grams). Errors, without repeating
    /// the term, when it is shorter than the index needs.
    pub fn query(&self, key: &IndexKey, term: &str) -> Result<BlindIndex> {
        self.check()?;
        let normalized = self.normalizer.apply_wiped(term);
        let need = match self.kind {
            PartialKind::Prefix { chars } | PartialKind::Suffix { chars } => chars,
            PartialKind::Contains { ngram, .. } => ngram,
            PartialKind::Range { .. } => return Err(self.wrong_kind()),
        };
        if normalized.chars().count() < usize::from(need) {
            return Err(Error::config(format!(
                "a search of `{}` needs a term of at least {need} characters after normalization",
                self.name
            )));
        }
        // Long enough: a `contains` mask holds the term's own n-grams only.
        self.stored(key, term)
    }

    /// What to store or query for a range bucket.
    pub fn bucket(&self, key: &IndexKey, bucket: i128) -> Result<BlindIndex> {
        self.check()?;
        match self.kind {
            PartialKind::Range { .. } => key.compute(self.bits, &bucket.to_be_bytes()),
            _ => Err(self.wrong_kind()),
        }
    }

    /// The bucket of an ordinal: `floor(ordinal / width)`.
    pub fn bucket_of(&self, ordinal: i128) -> Result<i128> {
        match self.kind {
            PartialKind::Range { width } if width > 0 => Ok(ordinal.div_euclid(i128::from(width))),
            _ => Err(self.wrong_kind()),
        }
    }

    /// The buckets covering `lo..=hi` (empty when `lo > hi`); refused beyond
    /// [`MAX_RANGE_BUCKETS`].
    pub fn buckets_between(&self, lo: i128, hi: i128) -> Result<std::ops::RangeInclusive<i128>> {
        let (first, last) = (self.bucket_of(lo)?, self.bucket_of(hi)?);
        if last >= first && last - first >= i128::from(MAX_RANGE_BUCKETS) {
            return Err(Error::config(format!(
                "a range search of `{}` would ask for more than {MAX_RANGE_BUCKETS} buckets: \
                 narrow the range or widen the buckets",
                self.name
            )));
        }
        Ok(first..=last)
    }

    fn wrong_kind(&self) -> Error {
        Error::config(format!(
            "index of `{}`: this operation does not apply to a {} index",
            self.name,
            self.kind.tag()
        ))
    }
}

/// The first `chars` characters of `s` (all of it when shorter).
fn prefix(s: &str, chars: u8) -> &[u8] {
    match s.char_indices().nth(usize::from(chars)) {
        Some((end, _)) => &s.as_bytes()[..end],
        None => s.as_bytes(),
    }
}

/// The last `chars` characters of `s` (all of it when shorter).
fn suffix(s: &str, chars: u8) -> &[u8] {
    match chars
        .checked_sub(1)
        .and_then(|n| s.char_indices().rev().nth(usize::from(n)))
    {
        Some((start, _)) => &s.as_bytes()[start..],
        None => s.as_bytes(),
    }
}

/// The distinct n-grams of `s` (characters), as a sorted set (each sets its bits once). With
/// `whole_if_short`, a non-empty `s` shorter than `n` is its own single gram.
fn ngrams(s: &str, n: u8, whole_if_short: bool) -> BTreeSet<&str> {
    let bounds: Vec<usize> = s
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(s.len()))
        .collect();
    let n = usize::from(n);
    let mut out = BTreeSet::new();
    if bounds.len() <= n {
        if whole_if_short && !s.is_empty() {
            out.insert(s);
        }
        return out;
    }
    for w in bounds.windows(n + 1) {
        out.insert(&s[w[0]..w[n]]);
    }
    out
}

/// Sets the `hashes` positions of one n-gram.
fn set_positions(filter: &mut [u8], key: &IndexKey, gram: &str, hashes: u8, bits: u32) {
    let digest = key.digest(gram.as_bytes());
    for i in 0..usize::from(hashes) {
        let word = u32::from(u16::from_be_bytes([digest[2 * i], digest[2 * i + 1]]));
        let position = (word % bits) as usize;
        filter[position / 8] |= 0x80 >> (position % 8);
    }
}

/// True when `filter` has every bit of `mask` set (filters of another length never match).
///
/// ```
/// assert!(encx::index::filter_contains(&[0b1011_0000], &[0b1001_0000]));
/// assert!(!encx::index::filter_contains(&[0b1011_0000], &[0b0100_0000]));
/// assert!(!encx::index::filter_contains(&[0, 0], &[0]));
/// ```
pub fn filter_contains(filter: &[u8], mask: &[u8]) -> bool {
    filter.len() == mask.len() && filter.iter().zip(mask).all(|(f, m)| f & m == *m)
}

/// The re-check of a prefix search: does `value` start with `term` (both normalized)?
/// Compared in constant time over the term's length.
pub fn starts_with(normalizer: Normalizer, value: &str, term: &str) -> bool {
    let (v, t) = (normalizer.apply_wiped(value), normalizer.apply_wiped(term));
    v.len() >= t.len() && bool::from(v.as_bytes()[..t.len()].ct_eq(t.as_bytes()))
}

/// The re-check of a suffix search: does `value` end with `term` (both normalized)?
pub fn ends_with(normalizer: Normalizer, value: &str, term: &str) -> bool {
    let (v, t) = (normalizer.apply_wiped(value), normalizer.apply_wiped(term));
    v.len() >= t.len() && bool::from(v.as_bytes()[v.len() - t.len()..].ct_eq(t.as_bytes()))
}

/// The re-check of a substring search: does `value` contain `term` (both normalized)? Every
/// window is compared, in constant time each, so the time depends on the lengths only.
pub fn contains(normalizer: Normalizer, value: &str, term: &str) -> bool {
    let (v, t) = (normalizer.apply_wiped(value), normalizer.apply_wiped(term));
    let (v, t) = (v.as_bytes(), t.as_bytes());
    if t.len() > v.len() {
        return false;
    }
    let mut found = subtle::Choice::from(0);
    for window in v.windows(t.len().max(1)) {
        found |= window[..t.len()].ct_eq(t);
    }
    t.is_empty() || bool::from(found)
}

/// The distinct n-grams of a term after normalization: what a `contains` query asks for
/// (for the planner: its false positives depend on how many there are).
pub fn term_ngrams(normalizer: Normalizer, term: &str, ngram: u8) -> usize {
    ngrams(&normalizer.apply_wiped(term), ngram, false).len()
}

/// The SQL condition that a row's Bloom filter in `column` holds every bit of one of `masks`:
/// per mask, `(byte i of the filter) & m = m` for each non-zero byte `m` of the mask. The
/// bytes are integers encx computed, written as literals. A filter of another length never
/// matches (on PostgreSQL, where reading past the end is an error, its length is tested
/// first).
pub fn bloom_predicate(dialect: Dialect, column: &str, masks: &[BlindIndex]) -> String {
    let col = quote_ident(dialect, column);
    let alternatives: Vec<String> = masks
        .iter()
        .map(|mask| {
            let bytes = mask.as_bytes();
            let tests: Vec<String> = bytes
                .iter()
                .enumerate()
                .filter(|(_, m)| **m != 0)
                .map(|(i, m)| {
                    let byte = match dialect {
                        Dialect::Postgres => format!("get_byte({col}, {i})"),
                        Dialect::MySql => format!("ASCII(SUBSTRING({col}, {}, 1))", i + 1),
                        // `instr` over a blob of every byte value: the byte's value plus one.
                        _ => format!("(instr({ALL_BYTES}, substr({col}, {}, 1)) - 1)", i + 1),
                    };
                    format!("({byte} & {m}) = {m}")
                })
                .collect();
            let all = if tests.is_empty() {
                "1 = 1".to_owned()
            } else {
                tests.join(" AND ")
            };
            match dialect {
                Dialect::Postgres => format!(
                    "(CASE WHEN octet_length({col}) = {} THEN ({all}) ELSE FALSE END)",
                    bytes.len()
                ),
                _ => format!("(length({col}) = {} AND {all})", bytes.len()),
            }
        })
        .collect();
    if alternatives.is_empty() {
        "1 = 0".to_owned()
    } else {
        alternatives.join(" OR ")
    }
}

/// SQLite blob literal of the bytes 0..=255 in order.
const ALL_BYTES: &str = "X'000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F\
202122232425262728292A2B2C2D2E2F303132333435363738393A3B3C3D3E3F\
404142434445464748494A4B4C4D4E4F505152535455565758595A5B5C5D5E5F\
606162636465666768696A6B6C6D6E6F707172737475767778797A7B7C7D7E7F\
808182838485868788898A8B8C8D8E8F909192939495969798999A9B9C9D9E9F\
A0A1A2A3A4A5A6A7A8A9AAABACADAEAFB0B1B2B3B4B5B6B7B8B9BABBBCBDBEBF\
C0C1C2C3C4C5C6C7C8C9CACBCCCDCECFD0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF\
E0E1E2E3E4E5E6E7E8E9EAEBECEDEEEFF0F1F2F3F4F5F6F7F8F9FAFBFCFDFEFF'";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::IndexKeys;

    fn key() -> IndexKey {
        IndexKeys::new(vec![(1, [3u8; 32])])
            .and_then(|k| k.derive("d", 1))
            .expect("key")
    }

    fn spec(kind: PartialKind) -> PartialSpec {
        PartialSpec::new("f", "d", kind, 16, Normalizer::Lowercase)
    }

    #[test]
    fn prefixes_and_suffixes_count_characters() {
        assert_eq!(prefix("ßüx", 2), "ßü".as_bytes());
        assert_eq!(prefix("ab", 3), b"ab");
        assert_eq!(suffix("xßü", 2), "ßü".as_bytes());
        assert_eq!(suffix("ab", 3), b"ab");
        let k = key();
        let p2 = spec(PartialKind::Prefix { chars: 2 });
        assert_eq!(p2.stored(&k, "ADA").ok(), p2.query(&k, "ad").ok());
        assert_ne!(p2.stored(&k, "ADA").ok(), p2.query(&k, "ab").ok());
        assert!(p2.query(&k, "a").is_err_and(|e| e.is_config()));
        let s4 = spec(PartialKind::Suffix { chars: 4 });
        assert_eq!(s4.stored(&k, "4111 1234").ok(), s4.query(&k, "1234").ok());
    }

    #[test]
    fn a_term_error_never_repeats_the_term() {
        let e = spec(PartialKind::Prefix { chars: 4 })
            .query(&key(), "Zq")
            .expect_err("too short");
        assert!(!e.to_string().contains("zq") && !e.to_string().contains("Zq"));
    }

    #[test]
    fn filters_contain_every_substring_of_enough_characters() {
        let k = key();
        let c = spec(PartialKind::Contains {
            ngram: 3,
            filter_bits: 256,
            hashes: 3,
        });
        let filter = c.stored(&k, "Lovelace").expect("filter");
        assert_eq!(filter.as_bytes().len(), 32);
        for term in ["lov", "ovel", "elace", "LOVELACE"] {
            let mask = c.query(&k, term).expect("mask");
            assert!(
                filter_contains(filter.as_bytes(), mask.as_bytes()),
                "{term}"
            );
        }
        let set: u32 = filter.as_bytes().iter().map(|b| b.count_ones()).sum();
        assert!((10..=18).contains(&set), "6 trigrams x 3 bits: {set}");
        // A short value is its own gram; an empty one sets nothing.
        assert!(c
            .stored(&k, "")
            .expect("empty")
            .as_bytes()
            .iter()
            .all(|b| *b == 0));
        assert!(c
            .stored(&k, "ab")
            .expect("short")
            .as_bytes()
            .iter()
            .any(|b| *b != 0));
        assert!(c.query(&k, "ab").is_err());
    }

    #[test]
    fn bad_parameters_are_refused() {
        for kind in [
            PartialKind::Prefix { chars: 0 },
            PartialKind::Contains {
                ngram: 3,
                filter_bits: 100,
                hashes: 3,
            },
            PartialKind::Contains {
                ngram: 3,
                filter_bits: 256,
                hashes: 17,
            },
            PartialKind::Range { width: 0 },
        ] {
            assert!(spec(kind).check().is_err(), "{kind:?}");
        }
        assert!(spec(PartialKind::Contains {
            ngram: 3,
            filter_bits: 0,
            hashes: 3
        })
        .check()
        .is_ok());
    }

    #[test]
    fn range_buckets_floor_and_are_bounded() {
        let r = spec(PartialKind::Range { width: 10 });
        assert_eq!(r.bucket_of(-1).ok(), Some(-1));
        assert_eq!(r.bucket_of(19).ok(), Some(1));
        assert_eq!(r.buckets_between(-5, 25).ok(), Some(-1..=2));
        assert!(r.buckets_between(0, 10 * 4096).is_err());
        assert!(r.buckets_between(0, 10 * 4096 - 1).is_ok());
        let k = key();
        assert_eq!(r.bucket(&k, 1).ok(), r.bucket(&k, 1).ok());
        assert_ne!(r.bucket(&k, 1).ok(), r.bucket(&k, 2).ok());
    }

    #[test]
    fn rechecks() {
        let n = Normalizer::Lowercase;
        assert!(starts_with(n, "Lovelace", "LOV"));
        assert!(!starts_with(n, "Lo", "lov"));
        assert!(ends_with(n, "Lovelace", "ACE"));
        assert!(!ends_with(n, "ce", "ace"));
        assert!(contains(n, "Lovelace", "vela"));
        assert!(!contains(n, "Lovelace", "velo"));
        assert!(!contains(n, "ab", "abc"));
        assert_eq!(term_ngrams(n, "aaaa", 3), 1);
        assert_eq!(term_ngrams(n, "abcd", 3), 2);
    }

    #[test]
    fn bloom_predicates_test_each_set_byte() {
        let masks = [BlindIndex::from_bytes(vec![0, 0x81, 0, 4])];
        assert_eq!(
            bloom_predicate(Dialect::Postgres, "f", &masks),
            "(CASE WHEN octet_length(\"f\") = 4 THEN ((get_byte(\"f\", 1) & 129) = 129 AND \
             (get_byte(\"f\", 3) & 4) = 4) ELSE FALSE END)"
        );
        assert_eq!(
            bloom_predicate(Dialect::MySql, "f", &masks),
            "(length(`f`) = 4 AND (ASCII(SUBSTRING(`f`, 2, 1)) & 129) = 129 AND \
             (ASCII(SUBSTRING(`f`, 4, 1)) & 4) = 4)"
        );
        assert!(bloom_predicate(Dialect::Sqlite, "f", &masks).contains("substr(\"f\", 4, 1)"));
        assert_eq!(bloom_predicate(Dialect::Sqlite, "f", &[]), "1 = 0");
        assert_eq!(ALL_BYTES.len(), 2 + 512 + 1);
    }
}
