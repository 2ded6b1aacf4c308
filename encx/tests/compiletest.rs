//! Compile-fail and compile-pass tests of `#[derive(Encrypted)]` (trybuild). Each failing case
//! has a `.stderr` with the exact message and span; regenerate with `TRYBUILD=overwrite`.
#![allow(missing_docs)]

#[test]
fn derive_ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/fail/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
