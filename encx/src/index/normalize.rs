//! Normalizers: how a value is canonicalized before it is blind-indexed, so that lookups match
//! the spellings users expect to match.

use std::borrow::Cow;
use std::fmt;
use std::ops::Deref;
use std::str::FromStr;

use zeroize::Zeroize;

use crate::error::{Error, Result};

/// How a value is normalized before hashing. Lookups apply the same normalizer to the query
/// value, then re-check the decrypted value normalized the same way.
///
/// ```
/// use encx::Normalizer;
/// assert_eq!(Normalizer::Email.apply("  Ada@Example.COM "), "ada@example.com");
/// assert_eq!(Normalizer::Digits.apply("+1 (555) 010-9999"), "15550109999");
/// assert_eq!(Normalizer::Last4.apply("4111 1111 1111 1234"), "1234");
/// assert_eq!("email".parse::<Normalizer>()?, Normalizer::Email);
/// # Ok::<(), encx::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Normalizer {
    /// The value as it is.
    #[default]
    None,
    /// Full Unicode lowercase mapping of every character (titlecase and uppercase letters
    /// alike, with the Final_Sigma rule), as Rust's `str::to_lowercase`.
    Lowercase,
    /// Leading and trailing characters with the Unicode White_Space property removed.
    Trim,
    /// Trim, then lowercase (the whole address: encx does not guess provider-specific rules).
    Email,
    /// Only the ASCII digits 0-9 are kept (phone numbers, card numbers).
    Digits,
    /// The last four of the digits (fewer if there are fewer; empty without digits).
    Last4,
}

impl Normalizer {
    /// Every normalizer with its attribute name.
    pub const ALL: [(&'static str, Normalizer); 6] = [
        ("none", Normalizer::None),
        ("lowercase", Normalizer::Lowercase),
        ("trim", Normalizer::Trim),
        ("email", Normalizer::Email),
        ("digits", Normalizer::Digits),
        ("last4", Normalizer::Last4),
    ];

    /// The attribute name of this normalizer.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, n)| *n == self)
            .map(|(name, _)| *name)
            .unwrap_or("none")
    }

    /// Normalizes `value`. Exact definitions, for other implementations: `docs/format.md` §4.
    ///
    /// ```
    /// use encx::Normalizer;
    /// // Titlecase letters are lowercased too: U+01C5 (Dž) becomes U+01C6 (dž).
    /// assert_eq!(Normalizer::Lowercase.apply("\u{1C5}"), "\u{1C6}");
    /// assert_eq!(Normalizer::Lowercase.apply("\u{1C5}A"), "\u{1C6}a");
    /// assert_eq!(Normalizer::Last4.apply("no digits"), "");
    /// ```
    pub fn apply(self, value: &str) -> Cow<'_, str> {
        match self {
            Normalizer::None => Cow::Borrowed(value),
            Normalizer::Lowercase => lowercase(value),
            Normalizer::Trim => Cow::Borrowed(value.trim()),
            Normalizer::Email => lowercase(value.trim()),
            Normalizer::Digits => digits(value),
            Normalizer::Last4 => {
                let all = digits(value);
                let start = all.len().saturating_sub(4);
                match all {
                    Cow::Borrowed(b) => Cow::Borrowed(&b[start..]),
                    Cow::Owned(mut o) => {
                        // Shift in place: no second buffer holding the digits.
                        o.drain(..start);
                        Cow::Owned(o)
                    }
                }
            }
        }
    }

    /// [`apply`](Self::apply), with an owned result wiped when dropped.
    pub(crate) fn apply_wiped(self, value: &str) -> Wiped<'_> {
        Wiped(self.apply(value))
    }
}

/// A string that is wiped when dropped if it is owned (normalized values and index texts are
/// plaintext).
pub(crate) struct Wiped<'a>(pub(crate) Cow<'a, str>);

impl Deref for Wiped<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl Drop for Wiped<'_> {
    fn drop(&mut self) {
        if let Cow::Owned(text) = &mut self.0 {
            text.zeroize();
        }
    }
}

/// Full lowercase mapping of every character. Borrowed when the value is its own lowercase.
/// Without U+03A3 (capital sigma, the one context-dependent mapping) the result is built
/// character by character in a buffer of the exact size, so no reallocation leaves a copy of
/// the value in freed memory; with it, `str::to_lowercase` applies the Final_Sigma rule.
fn lowercase(value: &str) -> Cow<'_, str> {
    // ASCII (most e-mail addresses, codes, names): a byte test and an ASCII mapping, the same
    // result as the full mapping below at a fraction of its cost.
    if value.is_ascii() {
        if !value.bytes().any(|b| b.is_ascii_uppercase()) {
            return Cow::Borrowed(value);
        }
        return Cow::Owned(value.to_ascii_lowercase());
    }
    let unchanged = |c: char| {
        let mut lower = c.to_lowercase();
        lower.next() == Some(c) && lower.next().is_none()
    };
    if value.chars().all(unchanged) {
        return Cow::Borrowed(value);
    }
    if value.contains('\u{3A3}') {
        return Cow::Owned(value.to_lowercase());
    }
    let len: usize = value
        .chars()
        .flat_map(char::to_lowercase)
        .map(char::len_utf8)
        .sum();
    let mut out = String::with_capacity(len);
    out.extend(value.chars().flat_map(char::to_lowercase));
    Cow::Owned(out)
}

fn digits(value: &str) -> Cow<'_, str> {
    if value.bytes().all(|b| b.is_ascii_digit()) {
        Cow::Borrowed(value)
    } else {
        let mut out = String::with_capacity(value.len());
        out.extend(value.chars().filter(char::is_ascii_digit));
        Cow::Owned(out)
    }
}

impl FromStr for Normalizer {
    type Err = Error;

    fn from_str(name: &str) -> Result<Self> {
        Self::ALL
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, norm)| *norm)
            .ok_or_else(|| {
                let names: Vec<_> = Self::ALL.iter().map(|(n, _)| *n).collect();
                Error::config(format!(
                    "unknown normalizer {name:?}; expected one of {}",
                    names.join(", ")
                ))
            })
    }
}

impl fmt::Display for Normalizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowercase_maps_titlecase_letters_whatever_else_the_value_holds() {
        // Before the fix "ǅ" stayed as it was (it is titlecase, not uppercase) while "ǅA"
        // became "ǆa": the same letter indexed two ways.
        for (input, expected) in [
            ("\u{1C5}", "\u{1C6}"),
            ("\u{1C5}A", "\u{1C6}a"),
            ("\u{1F88}", "\u{1F80}"),
            ("x\u{1F88}", "x\u{1F80}"),
            ("\u{130}", "i\u{307}"),
            ("ΟΔΟΣ", "οδος"),
            ("ΟΔΟΣ ΟΔΟΣ", "οδος οδος"),
        ] {
            assert_eq!(Normalizer::Lowercase.apply(input), expected, "{input:?}");
            assert_eq!(Normalizer::Email.apply(input), expected, "{input:?}");
        }
    }

    #[test]
    fn lowercase_agrees_with_std_and_is_idempotent() {
        for input in [
            "",
            "abc",
            "ABC",
            "\u{1C5}\u{1C8}\u{1CB}",
            "Straße ẞ",
            "İstanbul",
            "ȺȾ",
            "ΣΑΣ Σ",
            "Ⓐ",
        ] {
            let once = Normalizer::Lowercase.apply(input);
            assert_eq!(once, input.to_lowercase(), "{input:?}");
            assert_eq!(Normalizer::Lowercase.apply(&once), once, "{input:?}");
        }
    }

    #[test]
    fn last4_and_digits_edge_cases() {
        assert_eq!(Normalizer::Last4.apply("12"), "12");
        assert_eq!(Normalizer::Last4.apply("a1b2c3d4e5"), "2345");
        assert_eq!(Normalizer::Last4.apply(""), "");
        assert_eq!(Normalizer::Digits.apply("٣4"), "4"); // Arabic-Indic digits are not kept
        assert_eq!(Normalizer::Trim.apply("\u{3000}\u{85}x\u{A0}"), "x");
        assert_eq!(Normalizer::Trim.apply("\u{200B}x"), "\u{200B}x"); // ZWSP is not White_Space
    }
}
