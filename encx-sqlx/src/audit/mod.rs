//! Audit events in the database: [`SqlAuditSink`](audit_sink::SqlAuditSink) writes them to
//! `encx_audit`, [`read_audit`](crate::read_audit) reads them back; every repository
//! operation and job sends one through the crypto's sink, and [`audited`] lets a store built
//! on encx-sqlx do the same.

pub mod audit_log;
pub mod audit_sink;
pub(crate) mod audited;

pub use audited::{audited, audited_now, event_about, AuditFailure};
pub(crate) mod stream_audit;
