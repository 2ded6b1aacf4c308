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
