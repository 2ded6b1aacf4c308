//! Randomness from the operating system, with failures as typed errors.
//!
//! Keys, and nonces under long-lived keys (master keys, KEKs), come from one `getrandom` call
//! each. Nonces of field ciphertexts come from a per-thread pool of OS random bytes, refilled
//! 768 bytes at a time: a `getrandom` call costs about 650 ns on our machines, ten times the
//! AES-GCM seal of a short field. Each pooled byte is used once. A pool copied into a child by
//! `fork()` could repeat a nonce, but only under the same DEK, and DEKs are never drawn from the
//! pool, so a (key, nonce) pair cannot repeat.

use std::cell::RefCell;

use crate::error::{Error, Result};

/// Fills `buf` from the OS random number generator (getrandom), one call.
pub(crate) fn fill(buf: &mut [u8]) -> Result<()> {
    #[cfg(test)]
    if scripted::take(buf) {
        return Ok(());
    }
    getrandom::getrandom(buf).map_err(|_| Error::Rng)
}

const POOL_LEN: usize = 768;

struct Pool {
    bytes: [u8; POOL_LEN],
    used: usize,
}

thread_local! {
    static POOL: RefCell<Pool> = const { RefCell::new(Pool { bytes: [0; POOL_LEN], used: POOL_LEN }) };
}

/// Fills `buf` (at most 64 bytes) with OS random bytes from this thread's pool. Only for
/// nonces under single-use keys; see the module docs.
pub(crate) fn fill_pooled(buf: &mut [u8]) -> Result<()> {
    debug_assert!(buf.len() <= 64);
    #[cfg(test)]
    if scripted::take(buf) {
        return Ok(());
    }
    POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        if pool.used + buf.len() > POOL_LEN {
            fill(&mut pool.bytes)?;
            pool.used = 0;
        }
        let start = pool.used;
        buf.copy_from_slice(&pool.bytes[start..start + buf.len()]);
        // Wipe what was handed out, so the pool never holds a byte twice.
        pool.bytes[start..start + buf.len()].fill(0);
        pool.used += buf.len();
        Ok(())
    })
}

/// Known-answer tests only (compiled into encx's own unit tests, never into a build anyone
/// links): the "random" bytes this thread draws next, in order, so that a seal can be checked
/// against fixed vectors (`docs/test-vectors.json`).
#[cfg(test)]
pub(crate) mod scripted {
    use std::cell::RefCell;
    use std::collections::VecDeque;

    thread_local! {
        static SCRIPT: RefCell<Option<VecDeque<u8>>> = const { RefCell::new(None) };
    }

    /// Runs `f` with `bytes` as this thread's random bytes; panics unless `f` drew exactly
    /// all of them (a vector whose draws differ from the code's is a failed test).
    pub(crate) fn with<R>(bytes: &[u8], f: impl FnOnce() -> R) -> R {
        SCRIPT.with(|s| *s.borrow_mut() = Some(bytes.iter().copied().collect()));
        let result = f();
        let left = SCRIPT
            .with(|s| s.borrow_mut().take())
            .map_or(0, |q| q.len());
        assert_eq!(
            left, 0,
            "the code drew {left} random byte(s) fewer than scripted"
        );
        result
    }

    /// Fills `buf` from the script when one is set; panics when the script runs out.
    pub(super) fn take(buf: &mut [u8]) -> bool {
        SCRIPT.with(|s| {
            let mut script = s.borrow_mut();
            let Some(queue) = script.as_mut() else {
                return false;
            };
            assert!(
                queue.len() >= buf.len(),
                "the code drew more random bytes than scripted"
            );
            for b in buf.iter_mut() {
                *b = queue.pop_front().unwrap_or_default();
            }
            true
        })
    }
}
