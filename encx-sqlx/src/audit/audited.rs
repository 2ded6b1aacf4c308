//! One audit event about one piece of work: its outcome (the error's class on failure), its
//! duration, and what only the result tells. Shared by [`Repo`](crate::Repo), the jobs, the
//! eraser, and the stores of crates built on encx-sqlx (`encx-secrets`).

use std::future::Future;
use std::time::Instant;

use encx::audit::{AuditEvent, AuditOutcome, AuditSink};
use encx::ErrorKind;

use crate::error::Error;

/// An error as an audit event records it: the class of an encx error, bad input or setup as
/// `configuration`, anything else (database, missing row) as `database`.
pub trait AuditFailure {
    /// The outcome of an operation that failed with this error.
    fn outcome(&self) -> AuditOutcome;
}

impl AuditFailure for Error {
    fn outcome(&self) -> AuditOutcome {
        match self {
            Error::InvalidConfig(_) => AuditOutcome::Failed(ErrorKind::Configuration),
            other => other
                .crypto_kind()
                .map_or(AuditOutcome::FailedElsewhere, AuditOutcome::Failed),
        }
    }
}

impl AuditFailure for encx::Error {
    fn outcome(&self) -> AuditOutcome {
        AuditOutcome::Failed(self.kind())
    }
}

/// The outcome of an operation that failed with `error` ([`AuditFailure::outcome`]).
pub(crate) fn failure(error: &Error) -> AuditOutcome {
    error.outcome()
}

/// Runs `work` and sends `event` about it to `sink`, with the duration and the outcome; on
/// success `describe` adds what only the result tells (and may change the outcome).
///
/// ```
/// # async fn run(crypto: encx::Crypto) -> encx_sqlx::Result<()> {
/// use encx::audit::{AuditAction, AuditEvent};
/// let event = AuditEvent::new(AuditAction::Decrypt, "my_store", std::time::SystemTime::now());
/// let work = async { Ok::<_, encx_sqlx::Error>(3u64) }; // the store's own work
/// let sink = &**crypto.audit_sink();
/// let n = encx_sqlx::audit::audited(sink, event, work, |n, e| e.records = *n).await?;
/// assert_eq!(n, 3);
/// # Ok(()) }
/// ```
pub async fn audited<R, E: AuditFailure>(
    sink: &dyn AuditSink,
    mut event: AuditEvent,
    work: impl Future<Output = Result<R, E>>,
    describe: impl FnOnce(&R, &mut AuditEvent),
) -> Result<R, E> {
    let started = Instant::now();
    let result = work.await;
    event.duration = started.elapsed();
    match &result {
        Ok(done) => {
            event.outcome = AuditOutcome::Ok;
            describe(done, &mut event);
        }
        Err(error) => event.outcome = error.outcome(),
    }
    sink.record(event);
    result
}
