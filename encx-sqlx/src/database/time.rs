//! How encx's tables store times (milliseconds since 1970) and how operators read them
//! (RFC 3339, UTC).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `ms` milliseconds since 1970, as encx's tables store times (1970 for a negative one).
///
/// ```
/// assert_eq!(encx_sqlx::millis(encx_sqlx::time_of_millis(1_500)), 1_500);
/// assert_eq!(encx_sqlx::time_of_millis(-1), std::time::UNIX_EPOCH);
/// ```
pub fn time_of_millis(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// Now, in milliseconds since 1970.
pub fn now_millis() -> i64 {
    millis(std::time::SystemTime::now())
}

/// `at` as RFC 3339 (UTC, seconds), as operators read times; outside 1970–9999 (a stored time
/// is untrusted), seconds since 1970 instead. Never panics.
///
/// ```
/// let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_796_397_296);
/// assert_eq!(encx_sqlx::rfc3339(at), "2026-12-04T15:14:56Z");
/// ```
pub fn rfc3339(at: std::time::SystemTime) -> String {
    utc(humantime::format_rfc3339_seconds(at), at)
        .unwrap_or_else(|| format!("{} s since 1970", millis(at).div_euclid(1_000)))
}

/// `ms` milliseconds since 1970 as RFC 3339 (UTC, milliseconds), as stored times are shown.
/// Outside 1970–9999, milliseconds since 1970 instead. Never panics.
///
/// ```
/// assert_eq!(encx_sqlx::rfc3339_millis(0), "1970-01-01T00:00:00.000Z");
/// assert_eq!(encx_sqlx::rfc3339_millis(-5), "-5 ms since 1970");
/// ```
pub fn rfc3339_millis(ms: i64) -> String {
    u64::try_from(ms)
        .ok()
        .and_then(|ms| {
            let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
            utc(humantime::format_rfc3339_millis(at), at)
        })
        .unwrap_or_else(|| format!("{ms} ms since 1970"))
}

/// A formatted time; `None` outside 1970–9999, where humantime cannot format it.
fn utc(formatted: humantime::Rfc3339Timestamp, at: std::time::SystemTime) -> Option<String> {
    use std::fmt::Write;
    let mut out = String::new();
    (at >= std::time::UNIX_EPOCH && write!(out, "{formatted}").is_ok()).then_some(out)
}

/// Milliseconds since 1970, as encx's tables store times (0 before 1970).
pub fn millis(at: std::time::SystemTime) -> i64 {
    at.duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn times_show_as_rfc3339_and_never_panic_outside_its_years() {
        let at = UNIX_EPOCH + Duration::from_millis(1_796_397_296_789);
        assert_eq!(rfc3339(at), "2026-12-04T15:14:56Z");
        assert_eq!(
            rfc3339_millis(1_796_397_296_789),
            "2026-12-04T15:14:56.789Z"
        );
        assert_eq!(rfc3339_millis(0), "1970-01-01T00:00:00.000Z");
        // stored times are untrusted: before 1970 and after 9999 they show as numbers
        assert_eq!(rfc3339_millis(-5), "-5 ms since 1970");
        assert_eq!(
            rfc3339_millis(i64::MAX),
            format!("{} ms since 1970", i64::MAX)
        );
        assert_eq!(
            rfc3339(UNIX_EPOCH - Duration::from_secs(3)),
            "0 s since 1970"
        );
        let far = UNIX_EPOCH + Duration::from_secs(300_000_000_000);
        assert_eq!(rfc3339(far), "300000000000 s since 1970");
    }
}
