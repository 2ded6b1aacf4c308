//! Arguments of the repository's statements: ids and subjects, bound as their columns' types.
// The `'q` lifetimes are from sqlx 0.8, whose arguments borrowed their values; 0.9's own
// them. Kept for now (a mechanical cleanup), hence the allowance.
#![allow(clippy::needless_lifetimes, clippy::extra_unused_lifetimes)]

use encx::sql::StoredRecord;
use sqlx::Database;

use crate::encx_database::EncxDatabase;
use crate::error::{encode_error, Result};

/// Ids per `WHERE id IN (..)` query.
pub(crate) const IDS_PER_QUERY: usize = 10_000;

/// `ids` as the arguments, in order.
pub(crate) fn keys_args<'q, DB: EncxDatabase, R: StoredRecord>(
    ids: &'q [R::Id],
) -> Result<<DB as Database>::Arguments> {
    let mut args = <DB as Database>::Arguments::default();
    for id in ids {
        DB::bind_key::<R>(id, &mut args).map_err(encode_error)?;
    }
    Ok(args)
}

/// `id` as the only argument.
pub(crate) fn key_arg<DB: EncxDatabase, R: StoredRecord>(
    id: &R::Id,
) -> Result<<DB as Database>::Arguments> {
    let mut args = <DB as Database>::Arguments::default();
    DB::bind_key::<R>(id, &mut args).map_err(encode_error)?;
    Ok(args)
}

/// Arguments holding `subject` as the value of `R`'s subject column.
pub(crate) fn subject_arg<DB: EncxDatabase, R: StoredRecord>(
    subject: &R::Subject,
) -> Result<<DB as Database>::Arguments> {
    let mut args = <DB as Database>::Arguments::default();
    DB::bind_subject::<R>(subject, &mut args).map_err(encode_error)?;
    Ok(args)
}

/// Arguments holding `tenant` as the value of `R`'s tenant column.
pub(crate) fn tenant_arg<DB: EncxDatabase, R: StoredRecord>(
    tenant: &R::Tenant,
) -> Result<<DB as Database>::Arguments> {
    let mut args = <DB as Database>::Arguments::default();
    DB::bind_tenant::<R>(tenant, &mut args).map_err(encode_error)?;
    Ok(args)
}
