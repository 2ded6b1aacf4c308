//! One audit event about one piece of work: its outcome (the error's class on failure), its
//! duration, and what only the result tells. Shared by [`Repo`](crate::Repo), the jobs, the
//! eraser, and the stores of crates built on encx-sqlx (`encx-secrets`).

use std::future::Future;
use std::time::Instant;

use encx::audit::{AuditAction, AuditEvent, AuditOutcome, AuditSink};
use encx::schema::{ColumnKind, Schema};
use encx::{Encrypted, ErrorKind};

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

/// The event [`Repo`](crate::Repo) sends about an operation on `T`'s table, for stores and
/// ORM adapters that send the same (encx-sea-orm, encx-diesel): `action` by `actor`, naming
/// the encrypted columns, and about `value` when given (its id, its data subject, one record).
///
/// ```
/// use encx::audit::AuditAction;
/// #[derive(encx::Encrypted)]
/// #[encx(table = "users")]
/// struct User { #[encx(id)] id: i64, #[encx(encrypt)] email: String }
/// let user = User { id: 7, email: "ada@example.com".into() };
/// let event = encx_sqlx::audit::event_about(AuditAction::Encrypt, Some("support:7"), Some(&user));
/// assert_eq!((event.record.as_deref(), event.fields.as_slice()), (Some("7"), &["email"][..]));
/// ```
pub fn event_about<T: Encrypted + Schema>(
    action: AuditAction,
    actor: Option<&str>,
    value: Option<&T>,
) -> AuditEvent {
    let mut event = AuditEvent::new(
        action,
        <T as Encrypted>::TABLE,
        std::time::SystemTime::now(),
    );
    event.actor = actor.map(str::to_owned);
    event.fields = T::columns()
        .iter()
        .filter(|c| matches!(c.kind, ColumnKind::Ciphertext { .. }))
        .map(|c| c.name)
        .collect();
    if let Some(value) = value {
        event.record = Some(value.id_display()).filter(|id| !id.is_empty());
        event.subject = value.subject_display();
        event.records = 1;
    }
    event
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
    event: AuditEvent,
    work: impl Future<Output = Result<R, E>>,
    describe: impl FnOnce(&R, &mut AuditEvent),
) -> Result<R, E> {
    let started = Instant::now();
    let result = work.await;
    finish(sink, event, started, &result, describe);
    result
}

/// [`audited`] for synchronous work (a store or an ORM adapter without async, such as
/// encx-diesel).
///
/// ```
/// # fn run(crypto: encx::Crypto) -> encx_sqlx::Result<()> {
/// use encx::audit::{AuditAction, AuditEvent};
/// let event = AuditEvent::new(AuditAction::Decrypt, "my_store", std::time::SystemTime::now());
/// let sink = &**crypto.audit_sink();
/// let n = encx_sqlx::audit::audited_now(sink, event, || Ok::<_, encx_sqlx::Error>(3u64), |n, e| e.records = *n)?;
/// assert_eq!(n, 3);
/// # Ok(()) }
/// ```
pub fn audited_now<R, E: AuditFailure>(
    sink: &dyn AuditSink,
    event: AuditEvent,
    work: impl FnOnce() -> Result<R, E>,
    describe: impl FnOnce(&R, &mut AuditEvent),
) -> Result<R, E> {
    let started = Instant::now();
    let result = work();
    finish(sink, event, started, &result, describe);
    result
}

/// Completes `event` with the duration since `started` and the outcome of `result`, and
/// records it.
fn finish<R, E: AuditFailure>(
    sink: &dyn AuditSink,
    mut event: AuditEvent,
    started: Instant,
    result: &Result<R, E>,
    describe: impl FnOnce(&R, &mut AuditEvent),
) {
    event.duration = started.elapsed();
    match result {
        Ok(done) => {
            event.outcome = AuditOutcome::Ok;
            describe(done, &mut event);
        }
        Err(error) => event.outcome = error.outcome(),
    }
    sink.record(event);
}
