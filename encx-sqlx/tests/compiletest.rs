//! Compile-fail tests of the repository's type-level rules (trybuild): reading, updating or
//! erasing by id needs an `#[encx(id)]` field. Regenerate with `TRYBUILD=overwrite`.
#![allow(missing_docs)]

#[test]
fn repository_ui() {
    trybuild::TestCases::new().compile_fail("tests/ui/*.rs");
}
