//! [`RewrapProgress`]: how far a job that rewrites stored rows got (rewraps, re-encryptions,
//! plaintext migrations; of records and of secrets).

/// How far a [`Repo::rewrap`](crate::Repo::rewrap) run got: counts only, no key material.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RewrapProgress {
    /// Rows read that were not under the active key (each worker reads only rows no other
    /// worker holds).
    pub scanned: u64,
    /// Rows this run wrote: DEKs re-wrapped ([`Repo::rewrap`](crate::Repo::rewrap)) or records re-encrypted
    /// ([`Repo::reencrypt`](crate::Repo::reencrypt)).
    pub rewrapped: u64,
    /// Pages done.
    pub batches: u64,
    /// Rows skipped because their key cannot be opened: the KEK that wraps their DEK is
    /// destroyed or missing (a rewrap or re-encryption then goes on with the others; `encx
    /// status` shows those rows under their KEK).
    pub unopenable: u64,
}

impl RewrapProgress {
    pub(crate) fn add(&mut self, scanned: usize, page: PageDone) {
        self.scanned += scanned as u64;
        self.rewrapped += page.written;
        self.unopenable += page.unopenable;
        self.batches += 1;
    }
}

/// What one page of a job did.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PageDone {
    /// Rows written.
    pub(crate) written: u64,
    /// Rows skipped: their key cannot be opened.
    pub(crate) unopenable: u64,
}
