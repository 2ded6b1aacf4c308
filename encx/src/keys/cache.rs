//! A single-flight cache cell with a time to live.
//!
//! Readers take a short std mutex on the hot path. When the value is missing or stale, one
//! caller loads it while the others wait on an async mutex and then read what it stored: N
//! concurrent cold requests cause exactly one load. If a reload fails with a retryable error
//! while a stale value exists, the stale value keeps serving (the KMS may be down briefly).

use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::Result;

pub(crate) struct TtlCell<T> {
    value: Mutex<Option<(T, Instant)>>,
    loading: tokio::sync::Mutex<()>,
}

impl<T: Clone> TtlCell<T> {
    pub(crate) fn new() -> Self {
        TtlCell {
            value: Mutex::new(None),
            loading: tokio::sync::Mutex::new(()),
        }
    }

    fn read(&self, ttl: Duration) -> (Option<T>, Option<T>) {
        let guard = match self.value.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        match guard.as_ref() {
            Some((v, at)) if at.elapsed() < ttl => (Some(v.clone()), None),
            Some((v, _)) => (None, Some(v.clone())),
            None => (None, None),
        }
    }

    /// The value if it is fresh: the hot path, one short lock and no clone of the cell.
    pub(crate) fn fresh(&self, ttl: Duration) -> Option<T> {
        self.read(ttl).0
    }

    /// Stores a value known fresh (e.g. a key this process just created).
    pub(crate) fn store_now(&self, value: T) {
        self.store(value);
    }

    fn store(&self, value: T) {
        let mut guard = match self.value.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        *guard = Some((value, Instant::now()));
    }

    /// True when no value, fresh or stale, is held.
    pub(crate) fn is_empty(&self) -> bool {
        self.value.lock().map(|g| g.is_none()).unwrap_or(true)
    }

    /// Forgets the value, so the next call loads again.
    pub(crate) fn clear(&self) {
        let mut guard = match self.value.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        *guard = None;
    }

    pub(crate) async fn get_or_load<F, Fut>(&self, ttl: Duration, load: F) -> Result<T>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        self.load(ttl, load, true).await
    }

    /// Like [`get_or_load`](Self::get_or_load), but a stale value is never served: where
    /// the TTL bounds how long a revoked value (an erased subject's key) stays in use.
    pub(crate) async fn get_or_load_strict<F, Fut>(&self, ttl: Duration, load: F) -> Result<T>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        self.load(ttl, load, false).await
    }

    async fn load<F, Fut>(&self, ttl: Duration, load: F, serve_stale: bool) -> Result<T>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        if let (Some(fresh), _) = self.read(ttl) {
            return Ok(fresh);
        }
        let _loading = self.loading.lock().await;
        let (fresh, stale) = self.read(ttl);
        if let Some(fresh) = fresh {
            return Ok(fresh);
        }
        match load().await {
            Ok(value) => {
                self.store(value.clone());
                Ok(value)
            }
            Err(err) if serve_stale && err.is_retryable() => match stale {
                // Serve the stale value for another TTL rather than retrying on every call.
                Some(stale) => {
                    self.store(stale.clone());
                    Ok(stale)
                }
                None => Err(err),
            },
            Err(err) => Err(err),
        }
    }
}
