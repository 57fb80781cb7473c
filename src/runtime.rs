//! The small runtime that drives sinks on behalf of the span exporter.
//!
//! The SDK's batch processor calls `export` from a plain thread through `block_on`, where
//! no tokio reactor exists, so timers and network clients would panic there. The exporter
//! therefore runs each sink call as a task on this dedicated one-worker runtime and awaits
//! its `JoinHandle`, which any executor can poll.

use std::sync::OnceLock;

/// The shared sink runtime, started on first use.
pub(crate) fn handle() -> &'static tokio::runtime::Handle {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("actionlog-sink")
            .enable_all()
            .build()
            .expect("cannot start the actionlog sink runtime (out of threads?)")
    })
    .handle()
}
