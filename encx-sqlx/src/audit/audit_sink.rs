//! [`SqlAuditSink`]: audit events into the `encx_audit` table, written off the caller's path.
//!
//! `record` only puts the event on a bounded queue; a background task takes what is queued,
//! up to [`MAX_BATCH`] events at a time, and inserts them in one statement. When the queue is
//! full (the database is slow or down), `record` drops the event and counts it
//! ([`SqlAuditSink::dropped`]): auditing never blocks or fails the operation it describes.
//! A batch the database refuses is counted in [`SqlAuditSink::failed`] and logged (`tracing`,
//! `warn`, target `encx_sqlx::audit`).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use encx::audit::{AuditEvent, AuditSink};
use sqlx::Pool;
use tokio::sync::{mpsc, oneshot};

use super::audit_log::AuditTable;

/// The most events one insert carries.
pub const MAX_BATCH: usize = 500;

enum Message {
    Event(AuditEvent),
    Flush(oneshot::Sender<()>),
}

#[derive(Default)]
struct Counters {
    dropped: AtomicU64,
    written: AtomicU64,
    failed: AtomicU64,
}

/// An [`AuditSink`] writing to the `encx_audit` table of a pool (run
/// [`migrate`](crate::migrate) on it first). Give it to
/// [`CryptoBuilder::audit`](encx::CryptoBuilder::audit).
///
/// ```no_run
/// # async fn run(pool: sqlx::PgPool, root: encx::LocalKeyring) -> encx_sqlx::Result<()> {
/// encx_sqlx::migrate(&pool).await?;
/// let audit = encx_sqlx::SqlAuditSink::spawn(pool.clone(), 10_000);
/// let crypto = encx::Crypto::builder().keyring(root).audit(audit.clone()).build().await?;
/// // ... use repositories built on `crypto`; before shutting down:
/// audit.flush().await;
/// assert_eq!(audit.dropped(), 0);
/// # Ok(()) }
/// ```
pub struct SqlAuditSink {
    queue: mpsc::Sender<Message>,
    counters: Arc<Counters>,
}

impl fmt::Debug for SqlAuditSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlAuditSink")
            .field("dropped", &self.dropped())
            .field("written", &self.written())
            .field("failed", &self.failed())
            .finish_non_exhaustive()
    }
}

impl SqlAuditSink {
    /// [`spawn`](Self::spawn), on one kind of database.
    pub(crate) fn spawn_writer<DB: AuditTable>(pool: Pool<DB>, capacity: usize) -> Arc<Self> {
        let (queue, mut inbox) = mpsc::channel(capacity.max(1));
        let counters = Arc::new(Counters::default());
        let task_counters = counters.clone();
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(MAX_BATCH);
            let mut flushes = Vec::new();
            while let Some(first) = inbox.recv().await {
                let mut next = Some(first);
                while let Some(message) = next.take() {
                    match message {
                        Message::Event(event) => batch.push(event),
                        Message::Flush(done) => flushes.push(done),
                    }
                    if batch.len() < MAX_BATCH {
                        next = inbox.try_recv().ok();
                    }
                }
                if !batch.is_empty() {
                    let count = batch.len() as u64;
                    match DB::write_audit(&pool, &batch).await {
                        Ok(()) => task_counters.written.fetch_add(count, Ordering::Relaxed),
                        Err(error) => {
                            tracing::warn!(
                                target: "encx_sqlx::audit",
                                events = count,
                                error = %error,
                                "audit events could not be written"
                            );
                            task_counters.failed.fetch_add(count, Ordering::Relaxed)
                        }
                    };
                    batch.clear();
                }
                for done in flushes.drain(..) {
                    let _ = done.send(());
                }
            }
        });
        Arc::new(SqlAuditSink { queue, counters })
    }

    /// Waits until every event queued before this call is written (or has failed).
    pub async fn flush(&self) {
        let (done, written) = oneshot::channel();
        if self.queue.send(Message::Flush(done)).await.is_ok() {
            let _ = written.await;
        }
    }

    /// Events dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.counters.dropped.load(Ordering::Relaxed)
    }

    /// Events written to `encx_audit`.
    pub fn written(&self) -> u64 {
        self.counters.written.load(Ordering::Relaxed)
    }

    /// Events lost because the database refused their batch.
    pub fn failed(&self) -> u64 {
        self.counters.failed.load(Ordering::Relaxed)
    }
}

impl AuditSink for SqlAuditSink {
    fn record(&self, event: AuditEvent) {
        if self
            .queue
            .try_send(Message::Event(event.escaped()))
            .is_err()
        {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn flush(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(SqlAuditSink::flush(self))
    }
}
