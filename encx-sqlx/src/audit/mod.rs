//! Audit events in the database: [`SqlAuditSink`](audit_sink::SqlAuditSink) writes them to
//! `encx_audit`, [`read_audit`](crate::read_audit) reads them back; every repository, secret
//! and token operation sends one through the crypto's sink.

pub mod audit_log;
pub mod audit_sink;
pub(crate) mod audited;
pub(crate) mod stream_audit;
