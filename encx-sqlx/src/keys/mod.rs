//! encx's key tables: [`SqlKekStore`](kek_store::SqlKekStore) (`encx_keks`: the wrapped KEKs
//! and index root keys), [`SqlSubjectKeyStore`](subject_store::SqlSubjectKeyStore)
//! (`encx_subject_keys`: data subjects' keys and tombstones) and
//! [`SqlErasureLedger`](subject_store::SqlErasureLedger) (`encx_erasure_ledger`).

pub mod kek_store;
pub mod subject_store;
