//! What differs between the three databases' SQL: placeholders and bind limits.

use encx::schema::Dialect;

/// The `n`th (1-based) bind placeholder.
pub(crate) fn placeholder(dialect: Dialect, n: usize) -> String {
    match dialect {
        Dialect::Postgres => format!("${n}"),
        _ => "?".to_owned(),
    }
}

/// How many bind parameters one statement may carry, with a margin.
pub(crate) fn max_binds(dialect: Dialect) -> usize {
    match dialect {
        Dialect::Postgres | Dialect::MySql => 60_000,
        _ => 30_000,
    }
}

/// `$n`: PostgreSQL's placeholders, for statements written once per database.
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
pub(crate) fn dollar(n: usize) -> String {
    format!("${n}")
}

/// `?`: MySQL's and SQLite's placeholders.
#[cfg_attr(not(any(feature = "mysql", feature = "sqlite")), allow(dead_code))]
pub(crate) fn question(_: usize) -> String {
    "?".to_owned()
}

/// `sql` (an erasure of a subject's rows, whose one placeholder is the subject) restricted to
/// the rows whose DEK is not wrapped under one of `spared_keys` subject keys: their ids are
/// the next placeholders. A subject-key DEK is `format | kind | key id (16) | ...`, so bytes 3
/// to 18 name the key.
pub(crate) fn sparing_keys(dialect: Dialect, sql: &str, spared_keys: usize) -> String {
    let marks: Vec<String> = (2..spared_keys + 2)
        .map(|n| placeholder(dialect, n))
        .collect();
    format!(
        "{sql} AND substr(encx_dek, 3, 16) NOT IN ({})",
        marks.join(", ")
    )
}
