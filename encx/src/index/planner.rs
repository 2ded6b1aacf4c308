//! Choosing the bit length of a blind index.
//!
//! A blind index trades privacy for lookup cost. With `b` bits there are `2^b` buckets:
//!
//! - **Too many bits**: each distinct value gets a bucket of its own, and the index column
//!   becomes an exact stand-in for the value (its frequency table leaks, and a guessed value can
//!   be confirmed on sight).
//! - **Too few bits**: every lookup fetches many rows that share the bucket by chance, which the
//!   application must decrypt and discard (false positives).
//!
//! encx applies the coincidence bound of CipherSweet. Let `R` be the number of rows and `D`
//! the number of distinct values. With `b` bits, a bucket holds on average `D / 2^b` distinct
//! values (its *coincidence*), and a lookup reads about `R / 2^b` rows that are not a match.
//! We want
//!
//! ```text
//! 2 <= D / 2^b          every bucket is shared by at least two distinct values
//! R / 2^b <= sqrt(R)    a lookup reads at most sqrt(R) rows
//! ```
//!
//! that is `log2(R) / 2 <= b <= log2(D / 2)`. The planner takes the largest `b` that keeps the
//! first inequality (fewest false positives while the privacy floor holds). When the two bounds
//! cross (few distinct values in many rows) privacy wins and lookups pay. The result is clamped
//! to the range encx supports, 8..=256.

/// Smallest supported blind-index length.
pub const MIN_BITS: u16 = 8;
/// Largest supported blind-index length (a full HMAC-SHA256).
pub const MAX_BITS: u16 = 256;
/// Default blind-index length.
pub const DEFAULT_BITS: u16 = 32;

/// What [`recommend_bits`] advises, with the expected consequences.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BitsPlan {
    /// Recommended bit length.
    pub bits: u16,
    /// Average number of distinct values sharing a bucket at that length.
    pub coincidence: f64,
    /// Average number of rows a lookup reads that are not a match.
    pub false_positives_per_lookup: f64,
    /// False when the bounds could not both be met (the privacy floor was kept).
    pub within_bounds: bool,
}

/// Recommends a bit length for a blind index over `rows` rows holding `distinct` distinct
/// values. See the [module docs](self) for the maths.
///
/// ```
/// use encx::index::recommend_bits;
/// // One million users, every email distinct:
/// let plan = recommend_bits(1_000_000, 1_000_000);
/// assert_eq!(plan.bits, 18);
/// assert!(plan.coincidence >= 2.0);
/// assert!(plan.false_positives_per_lookup <= 1000.0);
/// ```
pub fn recommend_bits(rows: u64, distinct: u64) -> BitsPlan {
    let rows_f = rows.max(1) as f64;
    let distinct_f = distinct.clamp(1, rows.max(1)) as f64;
    let upper = (distinct_f / 2.0).log2().floor(); // privacy: coincidence >= 2
    let lower = (rows_f.log2() / 2.0).ceil(); // cost: false positives <= sqrt(R)
    let bits = upper.clamp(MIN_BITS as f64, MAX_BITS as f64) as u16;
    let buckets = 2f64.powi(i32::from(bits));
    BitsPlan {
        bits,
        coincidence: distinct_f / buckets,
        false_positives_per_lookup: rows_f / buckets,
        within_bounds: lower <= upper && upper >= MIN_BITS as f64,
    }
}
