//! encx's key tables: [`SqlKekStore`](kek_store::SqlKekStore) (`encx_keks`: the wrapped KEKs
//! and index root keys), [`SqlSubjectKeyStore`](subject_store::SqlSubjectKeyStore)
//! (`encx_subject_keys`: data subjects' keys and tombstones) and
//! [`SqlErasureLedger`](subject_store::SqlErasureLedger) (`encx_erasure_ledger`) and
//! [`SqlTenantStore`](tenant_store::SqlTenantStore) (`encx_tenants`, `encx_tenant_keys`).

pub mod kek_store;
pub mod subject_store;
pub mod tenant_store;
