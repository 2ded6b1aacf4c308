//! Constant-time comparison helpers (`subtle`), for secrets compared by hand: tokens, MACs,
//! shared secrets. The time they take depends on the lengths only, never on where the
//! inputs first differ.
//!
//! ```
//! assert!(encx::ct::eq(b"s3cret-token", b"s3cret-token"));
//! assert!(!encx::ct::eq(b"s3cret-token", b"s3cret-tokeN"));
//! assert!(!encx::ct::eq_str("short", "longer"));
//! ```

use subtle::ConstantTimeEq;

/// True when `a` and `b` are equal, in time that depends on their lengths only (unequal
/// lengths return `false` at once: lengths are not treated as secret).
pub fn eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// [`eq`] for strings.
pub fn eq_str(a: &str, b: &str) -> bool {
    eq(a.as_bytes(), b.as_bytes())
}

/// The first of `candidates` equal to `presented`, checking every candidate (no early exit),
/// or `None`.
pub fn find(presented: &[u8], candidates: &[&[u8]]) -> Option<usize> {
    let mut found = None;
    for (i, candidate) in candidates.iter().enumerate() {
        if eq(presented, candidate) && found.is_none() {
            found = Some(i);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    #[test]
    fn eq_and_find() {
        assert!(super::eq(b"", b""));
        assert!(!super::eq(b"a", b""));
        assert!(!super::eq(b"abc", b"abd"));
        assert_eq!(super::find(b"b", &[b"a", b"b", b"b"]), Some(1));
        assert_eq!(super::find(b"z", &[b"a", b"b"]), None);
    }
}
