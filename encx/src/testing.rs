//! Test support (feature `testing`): throwaway keys and an Argon2 cost for tests. **Never use
//! in production**: the keys live only in memory and the password cost is trivial to brute-force.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> encx::Result<()> {
//! let crypto = encx::testing::throwaway_crypto().await?;
//! let sealer = crypto.seal_record("users", b"1").await?;
//! let hash = crypto.password_policy().hash("pw")?; // milliseconds, not 30 ms
//! assert!(crypto.password_policy().verify(&hash, "pw")?);
//! # let _ = sealer; Ok(()) }
//! ```
//!
//! Containers (PostgreSQL, MariaDB, the AWS KMS emulator) and migrated pools for integration
//! tests are in the `encx-test` crate.

use std::sync::Arc;

use crate::error::Result;
use crate::index::IndexKeys;
use crate::keys::{
    HierarchicalKeyring, KekStore, Keyring, LocalKeyring, MasterKey, MemoryKekStore,
};
use crate::password::PasswordPolicy;
use crate::Crypto;

/// Argon2id at the lowest cost it allows (8 KiB, 1 iteration, 1 lane): a hash takes well under
/// a millisecond. For tests only: such hashes are cheap to attack.
pub fn insecure_test_password_policy() -> PasswordPolicy {
    // 8 KiB, 1, 1 are Argon2's documented minimums, which `new` accepts; the default (OWASP)
    // would only ever be slower, never weaker.
    PasswordPolicy::new(8, 1, 1).unwrap_or_default()
}

/// A local keyring with one fresh random master key, held only in memory.
pub fn throwaway_root() -> Result<Arc<dyn Keyring>> {
    Ok(Arc::new(LocalKeyring::new(vec![MasterKey::generate(
        "test",
    )?])?))
}

/// A [`Crypto`] for tests, in one line: a fresh random root key, KEKs in an in-memory store,
/// a fresh index key, and [`insecure_test_password_policy`]. Everything it encrypts is
/// unreadable once it is dropped.
pub async fn throwaway_crypto() -> Result<Crypto> {
    throwaway_crypto_in(Arc::new(MemoryKekStore::new())).await
}

/// [`throwaway_crypto`] whose KEKs live in `store` (e.g. `encx_sqlx::SqlKekStore` over a test
/// database), under a fresh random root key; the index key is a fresh random one too.
pub async fn throwaway_crypto_in(store: Arc<dyn KekStore>) -> Result<Crypto> {
    Crypto::builder()
        .keyring(HierarchicalKeyring::new(throwaway_root()?, store))
        .index_keys(IndexKeys::generate()?)
        .password_policy(insecure_test_password_policy())
        .build()
        .await
}
