//! Normalizers: how a value is canonicalized before it is blind-indexed, so that lookups match
//! the spellings users expect to match.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

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
    /// Unicode lowercase.
    Lowercase,
    /// Leading and trailing Unicode white space removed.
    Trim,
    /// Trim, then lowercase (the whole address: encx does not guess provider-specific rules).
    Email,
    /// Only the ASCII digits 0-9 are kept (phone numbers, card numbers).
    Digits,
    /// The last four of the digits (fewer if there are fewer).
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

    /// Normalizes `value`.
    pub fn apply(self, value: &str) -> Cow<'_, str> {
        match self {
            Normalizer::None => Cow::Borrowed(value),
            Normalizer::Lowercase => lowercase(value),
            Normalizer::Trim => Cow::Borrowed(value.trim()),
            Normalizer::Email => match lowercase(value.trim()) {
                Cow::Borrowed(b) => Cow::Borrowed(b),
                Cow::Owned(o) => Cow::Owned(o),
            },
            Normalizer::Digits => digits(value),
            Normalizer::Last4 => {
                let all = digits(value);
                let start = all.len().saturating_sub(4);
                match all {
                    Cow::Borrowed(b) => Cow::Borrowed(&b[start..]),
                    Cow::Owned(o) => Cow::Owned(o[start..].to_owned()),
                }
            }
        }
    }
}

fn lowercase(value: &str) -> Cow<'_, str> {
    if value.chars().any(char::is_uppercase) {
        Cow::Owned(value.to_lowercase())
    } else {
        Cow::Borrowed(value)
    }
}

fn digits(value: &str) -> Cow<'_, str> {
    if value.bytes().all(|b| b.is_ascii_digit()) {
        Cow::Borrowed(value)
    } else {
        Cow::Owned(value.chars().filter(char::is_ascii_digit).collect())
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
