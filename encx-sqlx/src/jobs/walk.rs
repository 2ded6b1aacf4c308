//! The walk and the sweep that every job rewriting rows runs (the [`jobs`](crate::jobs)
//! docs): forward by id over the pending rows, skipping those other workers hold, then from
//! the start, waiting for them, until nothing is left to gain.

use std::future::Future;

use crate::error::{Error, Result};
use crate::progress::{PageDone, RewrapProgress};

/// Which pass a page belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pass {
    /// Forward by id, after the last row read (none for the first page), skipping locked rows.
    Walk,
    /// From the start, waiting for locked rows.
    Sweep,
}

/// One page done: the rows read, what was written, the last row (the walk's cursor).
pub(crate) type Page<K> = Option<(usize, PageDone, Option<K>)>;

/// Runs `page` over the walk, then the sweep, calling `progress` after each page: the walk
/// ends at a page shorter than `batch`, the sweep at an empty page or one that wrote nothing
/// (rows this keyring needs not rewrite, or cannot open). Rows the walk skipped as unopenable
/// come again in the sweep and are counted once.
pub(crate) async fn walk_then_sweep<K, F, Fut>(
    batch: usize,
    progress: &mut (dyn FnMut(&RewrapProgress) + Send),
    mut page: F,
) -> Result<RewrapProgress>
where
    F: FnMut(Pass, Option<K>) -> Fut,
    Fut: Future<Output = Result<Page<K>>>,
{
    let mut done = RewrapProgress::default();
    let mut last: Option<K> = None;
    loop {
        let Some((read, written, end)) = page(Pass::Walk, last.take()).await? else {
            break;
        };
        done.add(read, written);
        progress(&done);
        last = end;
        if read < batch || last.is_none() {
            break;
        }
    }
    loop {
        let next = match page(Pass::Sweep, None).await {
            // MySQL gives up waiting for a held row after innodb_lock_wait_timeout: the
            // worker holding it is alive and slow; wait again.
            Err(e) if is_lock_wait_timeout(&e) => continue,
            next => next?,
        };
        let Some((read, written, _)) = next else {
            break;
        };
        let again = usize::try_from(written.unopenable).unwrap_or(read);
        done.add(
            read.saturating_sub(again),
            PageDone {
                unopenable: 0,
                ..written
            },
        );
        progress(&done);
        if written.written == 0 {
            break;
        }
    }
    Ok(done)
}

/// MySQL/MariaDB's "Lock wait timeout exceeded" (error 1205).
fn is_lock_wait_timeout(e: &Error) -> bool {
    let Error::Database(sqlx::Error::Database(db)) = e else {
        return false;
    };
    crate::error::mysql_error_number(db.as_ref()) == Some(1205)
}
