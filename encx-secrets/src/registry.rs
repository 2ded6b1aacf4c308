//! [`RegistrySecrets`]: a secrets store given to encx-sqlx's [`Registry`], whose jobs and
//! guards then count `encx_secrets` like a table, and whose `encx` CLI runs `encx secrets`.

use std::sync::Arc;

use encx::KeyInUse;
use encx_sqlx::{JobTable, Registry, RewrapProgress};
use futures_util::future::BoxFuture;

use crate::secrets::{Secrets, SecretsApi, SECRETS_TABLE};
use crate::store_sql::SecretsDatabase;

/// The secrets store on an encx-sqlx [`Registry`].
///
/// ```no_run
/// # async fn run(pool: sqlx::SqlitePool, crypto: encx::Crypto) {
/// use encx_secrets::{RegistrySecrets, Secrets};
/// let registry = encx_sqlx::Registry::new(crypto.clone()).secrets(Secrets::new(pool, crypto));
/// assert!(registry.secrets_store().is_some());
/// # }
/// ```
pub trait RegistrySecrets {
    /// Adds the application's secrets store: `encx status`, `rewrap`, `reencrypt` and `keys
    /// destroy` then count `encx_secrets` like a table, and `encx secrets ...` work.
    fn secrets<DB: SecretsDatabase>(self, store: Secrets<DB>) -> Self;

    /// The secrets store given to [`secrets`](Self::secrets).
    fn secrets_store(&self) -> Option<&Arc<dyn SecretsApi>>;
}

impl RegistrySecrets for Registry {
    fn secrets<DB: SecretsDatabase>(self, store: Secrets<DB>) -> Self {
        let api: Arc<dyn SecretsApi> = Arc::new(store.clone());
        self.with_extension(api).job_table(store)
    }

    fn secrets_store(&self) -> Option<&Arc<dyn SecretsApi>> {
        self.extension::<Arc<dyn SecretsApi>>()
    }
}

impl<DB: SecretsDatabase> JobTable for Secrets<DB> {
    fn table(&self) -> &'static str {
        SECRETS_TABLE
    }

    fn key_usage(&self) -> BoxFuture<'_, encx_sqlx::Result<Vec<(KeyInUse, u64)>>> {
        Box::pin(async move { Ok(Secrets::key_usage(self).await?) })
    }

    fn rewrap<'a>(
        &'a self,
        _batch: usize,
        progress: &'a mut (dyn FnMut(&RewrapProgress) + Send),
    ) -> BoxFuture<'a, encx_sqlx::Result<RewrapProgress>> {
        Box::pin(async move { Ok(Secrets::rewrap_with_progress(self, progress).await?) })
    }

    fn reencrypt<'a>(
        &'a self,
        _batch: usize,
        progress: &'a mut (dyn FnMut(&RewrapProgress) + Send),
    ) -> BoxFuture<'a, encx_sqlx::Result<RewrapProgress>> {
        Box::pin(async move { Ok(Secrets::reencrypt_with_progress(self, progress).await?) })
    }

    fn has_blind_indexes(&self) -> bool {
        false
    }

    fn acting_as(&self, actor: &str) -> Box<dyn JobTable> {
        Box::new(self.with_actor(actor))
    }
}
