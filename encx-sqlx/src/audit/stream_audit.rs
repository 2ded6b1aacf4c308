//! The audit event of a streamed read: one event, counting the records handed out, sent when
//! the stream ends or is dropped half-way (an early `break` still leaves a trace).

use std::sync::Arc;
use std::time::Instant;

use encx::audit::{AuditEvent, AuditOutcome, AuditSink};
use encx::error::ErrorKind;

/// Sends its event to the sink when dropped.
pub(crate) struct StreamAudit {
    event: Option<AuditEvent>,
    sink: Arc<dyn AuditSink>,
    started: Instant,
}

impl StreamAudit {
    /// `event` describes the read (action, table, actor, fields); `records` and `outcome` are
    /// filled in as the stream goes.
    pub(crate) fn start(mut event: AuditEvent, sink: Arc<dyn AuditSink>) -> Self {
        event.records = 0;
        event.outcome = AuditOutcome::Ok;
        StreamAudit {
            event: Some(event),
            sink,
            started: Instant::now(),
        }
    }

    /// One more record handed to the caller.
    pub(crate) fn handed_out(&mut self) {
        if let Some(event) = &mut self.event {
            event.records += 1;
        }
    }

    /// Something failed: an encx error of `kind`, or (`None`) the database or the setup. The
    /// first failure is the one recorded.
    pub(crate) fn failed(&mut self, kind: Option<ErrorKind>) {
        if let Some(event) = &mut self.event {
            if event.outcome == AuditOutcome::Ok {
                event.outcome = match kind {
                    Some(kind) => AuditOutcome::Failed(kind),
                    None => AuditOutcome::FailedElsewhere,
                };
            }
        }
    }
}

impl Drop for StreamAudit {
    fn drop(&mut self) {
        if let Some(mut event) = self.event.take() {
            event.duration = self.started.elapsed();
            self.sink.record(event);
        }
    }
}
