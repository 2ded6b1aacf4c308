//! Helpers shared by the core tests.
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use encx::{Dek, KeyContext, Keyring, KeyringKind, LocalKeyring, MasterKey, WrappedDek};

pub fn local(version: &str, byte: u8) -> LocalKeyring {
    LocalKeyring::new(vec![MasterKey::new(version, [byte; 32]).unwrap()]).unwrap()
}

/// A real keyring that counts how often it is called, and can be slowed down or switched off
/// to stand in for a slow or unreachable KMS.
#[derive(Debug)]
pub struct CountingKeyring {
    pub inner: LocalKeyring,
    pub wraps: AtomicUsize,
    pub unwraps: AtomicUsize,
    pub delay: Duration,
    pub down: std::sync::atomic::AtomicBool,
}

impl CountingKeyring {
    pub fn new(delay: Duration) -> Arc<Self> {
        Arc::new(CountingKeyring {
            inner: local("root", 9),
            wraps: AtomicUsize::new(0),
            unwraps: AtomicUsize::new(0),
            delay,
            down: Default::default(),
        })
    }
    pub fn unwraps(&self) -> usize {
        self.unwraps.load(Ordering::SeqCst)
    }
    fn check_up(&self) -> encx::Result<()> {
        if self.down.load(Ordering::SeqCst) {
            Err(encx::Error::unavailable(
                "root keyring switched off by the test",
            ))
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl Keyring for CountingKeyring {
    fn kind(&self) -> KeyringKind {
        self.inner.kind()
    }
    fn key_description(&self) -> String {
        self.inner.key_description()
    }
    async fn wrap_dek(&self, dek: &Dek, ctx: &KeyContext<'_>) -> encx::Result<WrappedDek> {
        self.check_up()?;
        self.wraps.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        self.inner.wrap_dek(dek, ctx).await
    }
    async fn unwrap_dek(&self, wrapped: &WrappedDek, ctx: &KeyContext<'_>) -> encx::Result<Dek> {
        self.check_up()?;
        self.unwraps.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        self.inner.unwrap_dek(wrapped, ctx).await
    }
}
