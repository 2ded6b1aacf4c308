//! Integration tests of the encx core crate (no services needed).
#![allow(missing_docs, clippy::unwrap_used)]

mod support;

mod codec_roundtrip;
mod concurrency;
mod debug_output;
mod index;
mod key_rows;
mod keyrings;
mod manual_impl;
mod password;
mod properties;
mod subjects;
mod tamper;
mod tenants;
mod tokens;
