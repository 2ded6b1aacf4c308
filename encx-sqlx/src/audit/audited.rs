//! One audit event about one piece of work: its outcome (the error's class on failure), its
//! duration, and what only the result tells. Shared by [`Repo`](crate::Repo),
//! [`Secrets`](crate::Secrets) and [`TokenStore`](crate::TokenStore).

use std::future::Future;
use std::time::Instant;

use encx::audit::{AuditEvent, AuditOutcome, AuditSink};
use encx::ErrorKind;

use crate::error::{Error, Result};

/// The outcome of an operation that failed with `error`: the class of an encx error, bad
/// input or setup as `configuration`, anything else (database, missing row) as `database`.
pub(crate) fn failure(error: &Error) -> AuditOutcome {
    match error {
        Error::InvalidConfig(_) => AuditOutcome::Failed(ErrorKind::Configuration),
        other => other
            .crypto_kind()
            .map_or(AuditOutcome::FailedElsewhere, AuditOutcome::Failed),
    }
}

/// Runs `work` and sends `event` about it to `sink`, with the duration and the outcome;
/// on success `describe` adds what only the result tells (and may change the outcome).
pub(crate) async fn audited<R>(
    sink: &dyn AuditSink,
    mut event: AuditEvent,
    work: impl Future<Output = Result<R>>,
    describe: impl FnOnce(&R, &mut AuditEvent),
) -> Result<R> {
    let started = Instant::now();
    let result = work.await;
    event.duration = started.elapsed();
    match &result {
        Ok(done) => {
            event.outcome = AuditOutcome::Ok;
            describe(done, &mut event);
        }
        Err(error) => event.outcome = failure(error),
    }
    sink.record(event);
    result
}
