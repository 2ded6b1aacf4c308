//! Running encx's async steps from Diesel's synchronous code without blocking an async
//! runtime needlessly: with the keys in memory they finish on their first poll; only a cold
//! key load (the KMS, or encx's key table) waits, on the runtime encx's key store runs on.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use tokio::runtime::Handle;

/// `future`'s output: at once when it is ready on its first poll (cached keys), else driven
/// to completion on `runtime` (a cold key load). Inside a multi-thread runtime's worker the
/// wait is announced with `block_in_place`; on a current-thread runtime's thread a cold load
/// cannot be waited for, and the runtime panics saying so: call Diesel from
/// `spawn_blocking` there, as Diesel's own documentation advises.
pub(crate) fn wait<F: Future>(runtime: &Handle, future: F) -> F::Output {
    let mut future = pin!(future);
    let first = {
        let _context = runtime.enter(); // timers and I/O of the key store need the runtime
        future
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
    };
    if let Poll::Ready(output) = first {
        return output;
    }
    match Handle::try_current() {
        Ok(current) if current.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(|| runtime.block_on(future))
        }
        _ => runtime.block_on(future),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime")
    }

    /// A ready future (the cached-key path) is answered on the first poll, from a thread
    /// without any runtime, even when the runtime it names has shut down.
    #[test]
    fn a_ready_future_needs_no_runtime() {
        let rt = runtime();
        let handle = rt.handle().clone();
        drop(rt);
        assert_eq!(wait(&handle, async { 7 }), 7);
    }

    /// A pending future (a cold key load: a timer here) completes from a plain thread.
    #[test]
    fn a_cold_load_completes_from_a_plain_thread() {
        let rt = runtime();
        let out = wait(rt.handle(), async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            "loaded"
        });
        assert_eq!(out, "loaded");
    }

    /// ... and from a multi-thread runtime's worker (through `block_in_place`) and from
    /// `spawn_blocking`, as Diesel is called from async code.
    #[test]
    fn a_cold_load_completes_inside_a_runtime() {
        let keys = runtime();
        let app = runtime();
        let handle = keys.handle().clone();
        let on_worker = app.block_on({
            let handle = handle.clone();
            async move {
                tokio::spawn(async move {
                    wait(&handle, async {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        1
                    })
                })
                .await
                .expect("task")
            }
        });
        let on_blocking = app.block_on(async move {
            tokio::task::spawn_blocking(move || {
                wait(&handle, async {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    2
                })
            })
            .await
            .expect("blocking task")
        });
        assert_eq!((on_worker, on_blocking), (1, 2));
    }
}
