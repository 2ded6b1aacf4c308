//! Randomness from the operating system, with failures as typed errors.

use crate::error::{Error, Result};

/// Fills `buf` from the OS random number generator (getrandom).
pub(crate) fn fill(buf: &mut [u8]) -> Result<()> {
    getrandom::getrandom(buf).map_err(|_| Error::Rng)
}
