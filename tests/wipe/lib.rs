//! Test-only package; see `tests/wipe.rs`.
