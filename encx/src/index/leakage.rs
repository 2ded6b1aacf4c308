//! The leakage planner of partial indexes: what each index gives away, how many false
//! positives a search pays, and a bound that refuses configurations that give away too much.
//!
//! **Prefix, suffix and range indexes** store a truncated keyed hash of a *key* (the first or
//! last `n` characters, or the bucket). With `K` distinct keys in `R` rows and `b` bits there
//! are `H = 2^b` hash values:
//!
//! ```text
//! coincidence        = K / H                 distinct keys sharing one stored value
//! false positives    = R (1 - 1/K) / H       rows of other keys a search reads
//! ```
//!
//! A coincidence below 1 means each key has a value of its own: the column is an exact
//! stand-in for the prefix (bucket), and its frequency table leaks. The bound asks for at least
//! `min_coincidence` (default 2) and at most `max_false_positives` (default `sqrt(R)`).
//!
//! **Contains indexes** store an `m`-bit Bloom filter with `k` bits per n-gram. A value of `L`
//! characters has about `g = L - n + 1` distinct n-grams, so a filter has a fraction
//!
//! ```text
//! fill = 1 - (1 - 1/m)^(k g)
//! ```
//!
//! of its bits set, and a row that does not hold a term of `t` n-grams still passes with
//! probability `fill^(k t)`. The planner reports the worst case, a term of `n` characters
//! (`t = 1`). Equal values always give equal filters (coincidence 1, whatever `m`), and
//! filters of values sharing n-grams share bits: the bound refuses fills above `max_fill`
//! (default 0.5: a half-full filter answers nearly every short search) and false positives
//! above `max_false_positives`. `min_coincidence` does not apply to it.
//!
//! Every function here is `const`, so that `#[derive(Encrypted)]` can run the planner on an
//! `expect(...)` declared on an index and refuse a configuration at compile time.
//!
//! ```
//! use encx::index::leakage::{plan, Bound, Population};
//! use encx::index::PartialKind;
//! // 1M customers, about 5,000 distinct three-letter surname prefixes, 16-bit hashes:
//! let p = plan(PartialKind::Prefix { chars: 3 }, 16, Population::new(1_000_000, 5_000, 0));
//! assert!(p.coincidence < 1.0); // every prefix has a hash of its own at 16 bits
//! assert!(p.refusal(&Bound::DEFAULT).is_some());
//! let p = plan(PartialKind::Prefix { chars: 3 }, 11, Population::new(1_000_000, 5_000, 0));
//! assert!(p.coincidence >= 2.0 && p.refusal(&Bound::DEFAULT).is_none());
//! assert!((p.false_positives_per_query - 488.2).abs() < 1.0);
//! ```

use super::partial::{PartialKind, MAX_FILTER_BITS};

/// What the application expects a column to hold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Population {
    /// Rows in the table.
    pub rows: u64,
    /// Distinct keys of the index: distinct prefixes (suffixes) of its length, distinct
    /// buckets, or, for a contains index, distinct values.
    pub distinct: u64,
    /// Typical value length in characters (contains indexes).
    pub typical_chars: u32,
}

impl Population {
    /// A population from its parts.
    pub const fn new(rows: u64, distinct: u64, typical_chars: u32) -> Self {
        Population {
            rows,
            distinct,
            typical_chars,
        }
    }

    /// The distinct prefixes (or suffixes) of `chars` characters that `distinct` values over
    /// an alphabet of `alphabet` characters can have, at most: `min(distinct, alphabet^chars)`.
    ///
    /// ```
    /// use encx::index::leakage::Population;
    /// assert_eq!(Population::affix_keys(1_000_000, 10, 4), 10_000);
    /// assert_eq!(Population::affix_keys(50, 26, 3), 50);
    /// ```
    pub const fn affix_keys(distinct: u64, alphabet: u64, chars: u8) -> u64 {
        let mut keys: u64 = 1;
        let mut i = 0;
        while i < chars {
            keys = keys.saturating_mul(alphabet);
            i += 1;
        }
        if keys < distinct {
            keys
        } else {
            distinct
        }
    }
}

/// The limits an application sets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bound {
    /// Fewest distinct keys per stored hash value (prefix, suffix, range).
    pub min_coincidence: f64,
    /// Most false-positive rows per search; `None`: `sqrt(rows)`.
    pub max_false_positives: Option<f64>,
    /// Largest fraction of a Bloom filter's bits set (contains).
    pub max_fill: f64,
}

impl Bound {
    /// Coincidence 2, `sqrt(rows)` false positives, filters at most half full.
    pub const DEFAULT: Bound = Bound {
        min_coincidence: 2.0,
        max_false_positives: None,
        max_fill: 0.5,
    };
}

/// An attack an index makes possible for someone who reads the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Attack {
    /// Counting equal stored values gives the frequency table of the keys (prefixes,
    /// suffixes, buckets, whole values); matched against public statistics (surname
    /// frequencies, birth-date distributions) it names the common ones.
    FrequencyAnalysis,
    /// Rows with equal stored values share a prefix (suffix): several lengths narrow a value
    /// down character by character.
    AffixLinkage,
    /// Filters that share bits hold values that share n-grams: similar values are linked.
    SimilarityLinkage,
    /// The number of bits set in a filter tells the value's length, roughly.
    LengthLeak,
    /// Rows in the same bucket are within one width of each other; a searcher who sees
    /// which buckets queries ask for learns which ranges interest them.
    BucketLinkage,
}

/// What the planner says about one index.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IndexLeakage {
    /// The index.
    pub kind: PartialKind,
    /// Bits of a hash, or of the filter.
    pub bits: u32,
    /// Distinct keys per stored value (1 for contains: equal values, equal filters).
    pub coincidence: f64,
    /// Rows a search reads that do not match (for contains: a term of one n-gram).
    pub false_positives_per_query: f64,
    /// Fraction of filter bits set (contains only).
    pub fill: Option<f64>,
    /// Rows in the table.
    pub rows: u64,
}

/// The planner: leakage and cost of `kind` at `bits` (ignored for contains) over `population`.
pub const fn plan(kind: PartialKind, bits: u16, population: Population) -> IndexLeakage {
    let rows = if population.rows == 0 {
        1
    } else {
        population.rows
    };
    let distinct = if population.distinct == 0 {
        1.0
    } else {
        population.distinct as f64
    };
    match kind {
        PartialKind::Contains {
            ngram,
            filter_bits,
            hashes,
        } => {
            let m = if filter_bits == 0 {
                MAX_FILTER_BITS
            } else {
                filter_bits as u32
            };
            let grams = if population.typical_chars + 1 > ngram as u32 {
                population.typical_chars + 1 - ngram as u32
            } else {
                1
            };
            let empty = powi(1.0 - 1.0 / m as f64, hashes as u64 * grams as u64);
            let fill = 1.0 - empty;
            IndexLeakage {
                kind,
                bits: m,
                coincidence: 1.0,
                false_positives_per_query: rows as f64 * powi(fill, hashes as u64),
                fill: Some(fill),
                rows,
            }
        }
        _ => {
            let values = powi(2.0, bits as u64);
            IndexLeakage {
                kind,
                bits: bits as u32,
                coincidence: distinct / values,
                false_positives_per_query: rows as f64 * (1.0 - 1.0 / distinct) / values,
                fill: None,
                rows,
            }
        }
    }
}

impl IndexLeakage {
    /// Why `bound` refuses this index, or `None` when it is within bounds.
    pub const fn refusal(&self, bound: &Bound) -> Option<&'static str> {
        let fp = self.false_positives_per_query;
        let too_costly = match bound.max_false_positives {
            Some(max) => fp > max,
            None => fp * fp > self.rows as f64,
        };
        match self.fill {
            Some(fill) => {
                if fill > bound.max_fill {
                    Some("the Bloom filter would be more than max_fill full: give it more bits (filter_bits) or fewer hashes")
                } else if too_costly {
                    Some("a search of one n-gram would read more false positives than the bound allows: give the filter more bits")
                } else {
                    None
                }
            }
            None => {
                if self.coincidence < bound.min_coincidence {
                    Some("each stored hash would stand for fewer distinct keys than min_coincidence, so the column would leak their frequencies: lower `bits`")
                } else if too_costly {
                    Some("a search would read more false positives than the bound allows (sqrt(rows) by default): raise `bits`, or drop this index")
                } else {
                    None
                }
            }
        }
    }

    /// The attacks this index enables.
    pub const fn attacks(&self) -> &'static [Attack] {
        match self.kind {
            PartialKind::Prefix { .. } | PartialKind::Suffix { .. } => {
                &[Attack::FrequencyAnalysis, Attack::AffixLinkage]
            }
            PartialKind::Contains { .. } => &[
                Attack::FrequencyAnalysis,
                Attack::SimilarityLinkage,
                Attack::LengthLeak,
            ],
            PartialKind::Range { .. } => &[Attack::FrequencyAnalysis, Attack::BucketLinkage],
        }
    }
}

/// `x^n` by squaring (`f64::powi` is not `const`).
const fn powi(mut x: f64, mut n: u64) -> f64 {
    let mut out = 1.0;
    while n > 0 {
        if n & 1 == 1 {
            out *= x;
        }
        x *= x;
        n >>= 1;
    }
    out
}

/// For `#[derive(Encrypted)]`: panics (a compile error in a `const`) with the planner's
/// refusal of `kind` over `population` under `bound`.
#[doc(hidden)]
pub const fn assert_within(kind: PartialKind, bits: u16, population: Population, bound: Bound) {
    if let Some(why) = plan(kind, bits, population).refusal(&bound) {
        panic!("{}", why);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn powi_matches_std() {
        for (x, n) in [(0.5f64, 10u64), (1.5, 7), (0.999, 3000), (2.0, 0)] {
            let want = x.powi(n as i32);
            assert!((powi(x, n) - want).abs() <= want * 1e-9, "{x}^{n}");
        }
    }

    #[test]
    fn hash_indexes_follow_the_formulas() {
        let p = plan(
            PartialKind::Range { width: 7 },
            8,
            Population::new(50_000, 1_000, 0),
        );
        assert!((p.coincidence - 1000.0 / 256.0).abs() < 1e-9);
        assert!((p.false_positives_per_query - 50_000.0 * 0.999 / 256.0).abs() < 1e-6);
        assert_eq!(p.refusal(&Bound::DEFAULT), None);
        let strict = Bound {
            max_false_positives: Some(10.0),
            ..Bound::DEFAULT
        };
        assert!(p.refusal(&strict).is_some_and(|w| w.contains("raise")));
    }

    #[test]
    fn filters_follow_the_formulas() {
        let kind = PartialKind::Contains {
            ngram: 3,
            filter_bits: 256,
            hashes: 2,
        };
        let p = plan(kind, 0, Population::new(100_000, 90_000, 12));
        let fill = 1.0 - (1.0f64 - 1.0 / 256.0).powi(2 * 10);
        assert!((p.fill.unwrap_or_default() - fill).abs() < 1e-12);
        assert!((p.false_positives_per_query - 100_000.0 * fill * fill).abs() < 1e-6);
        assert!(p.attacks().contains(&Attack::LengthLeak));
        let full = plan(kind, 0, Population::new(100_000, 90_000, 200));
        assert!(full
            .refusal(&Bound::DEFAULT)
            .is_some_and(|w| w.contains("max_fill")));
    }

    #[test]
    fn refusal_is_usable_at_compile_time() {
        const OK: () = assert_within(
            PartialKind::Suffix { chars: 4 },
            12,
            Population::new(1_000_000, Population::affix_keys(1_000_000, 10, 4), 0),
            Bound::DEFAULT,
        );
        let () = OK;
    }
}
