//! Decrypting rows while they arrive, across the runtime's worker threads: the stage behind
//! `get_many`, `find_by` and `stream_all`.
//!
//! Rows are read from the database on the caller's task. With more than one worker
//! ([`Repo::decrypt_workers`](crate::Repo::decrypt_workers)), every [`ROWS_PER_TASK`] rows go
//! to tokio's blocking pool (threads of their own, which the OS spreads over the cores, and
//! which no runtime worker's task queue can hold back) while the caller's task goes on
//! reading the next rows; results come out in the order the rows came in. At most two batches
//! per worker are in flight, so memory stays bounded whatever the number of rows. A read of
//! fewer than [`ROWS_PER_TASK`] rows (a `get`, most `find_by`s) is decrypted in place,
//! without a task: it pays nothing for this. A key that is not cached yet is loaded from the
//! batch's thread through the runtime (`Handle::block_on`), as it would be inline.

use encx::{Crypto, Encrypted};
use futures_util::stream::{BoxStream, FuturesOrdered, StreamExt, TryStreamExt};
use tokio::task::JoinHandle;

use crate::error::{Error, Result};

/// Rows one decryption task takes: about 150 µs of work for a record of four fields, so that
/// spawning (about 1 µs) is noise and the first results come out early.
pub(crate) const ROWS_PER_TASK: usize = 64;

/// A stored row and what decrypting it gave.
pub(crate) type Decrypted<T> = (<T as Encrypted>::Record, encx::Result<T>);

/// Cores from which bulk reads decrypt in parallel by default.
pub(crate) const PARALLEL_FROM_CORES: usize = 4;

/// What `decrypt_workers` defaults to: every core of the machine when it has at least
/// [`PARALLEL_FROM_CORES`], else 1. On two cores with the database server on the same machine,
/// decrypting on a second thread measured 5–14% slower than on the reading task alone (the
/// server and the reading task already hold both cores; docs/benchmarks.md).
pub(crate) fn default_workers() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    if cores >= PARALLEL_FROM_CORES {
        cores
    } else {
        1
    }
}

/// Decrypts `rows` as they arrive, on up to `workers` threads, in their order. A database
/// error is the last item; a row that fails to decrypt is an `Ok` item with its error, so
/// that the caller decides (skip erased rows, report tampered ones).
pub(crate) fn decrypted<'a, T>(
    crypto: &Crypto,
    workers: usize,
    mut rows: BoxStream<'a, std::result::Result<T::Record, sqlx::Error>>,
) -> BoxStream<'a, Result<Decrypted<T>>>
where
    T: Encrypted + 'static,
    T::Record: 'static,
{
    let crypto = crypto.clone();
    Box::pin(async_stream::try_stream! {
        let max_in_flight = workers.saturating_mul(2);
        let mut in_flight: FuturesOrdered<JoinHandle<Vec<Decrypted<T>>>> = FuturesOrdered::new();
        let mut batch = Vec::with_capacity(ROWS_PER_TASK);
        let mut rows_done = false;
        loop {
            if !rows_done && (workers <= 1 || in_flight.len() < max_in_flight) {
                match rows.try_next().await.map_err(Error::from)? {
                    Some(record) if workers <= 1 => {
                        let value = T::decrypt(&record, &crypto).await;
                        yield (record, value);
                    }
                    Some(record) => {
                        batch.push(record);
                        if batch.len() == ROWS_PER_TASK {
                            let full = std::mem::replace(&mut batch, Vec::with_capacity(ROWS_PER_TASK));
                            let crypto = crypto.clone();
                            let runtime = tokio::runtime::Handle::current();
                            in_flight.push_back(tokio::task::spawn_blocking(move || {
                                runtime.block_on(decrypt_batch::<T>(crypto, full))
                            }));
                        }
                    }
                    None => rows_done = true,
                }
                continue;
            }
            if let Some(done) = in_flight.next().await {
                for item in joined(done)? {
                    yield item;
                }
                continue;
            }
            // Every task has been handed out; the rows after the last full batch come last.
            for record in std::mem::take(&mut batch) {
                let value = T::decrypt(&record, &crypto).await;
                yield (record, value);
            }
            break;
        }
    })
}

async fn decrypt_batch<T>(crypto: Crypto, records: Vec<T::Record>) -> Vec<Decrypted<T>>
where
    T: Encrypted,
{
    let mut out = Vec::with_capacity(records.len());
    for record in records {
        let value = T::decrypt(&record, &crypto).await;
        out.push((record, value));
    }
    out
}

/// A finished task's rows; a panic in it goes on in the caller, as it would have inline.
fn joined<R>(done: std::result::Result<R, tokio::task::JoinError>) -> Result<R> {
    match done {
        Ok(rows) => Ok(rows),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(Error::InvalidConfig(
            "a decryption task was cancelled: the tokio runtime is shutting down".into(),
        )),
    }
}
