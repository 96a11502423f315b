//! Worker threads for the engine's CPU-heavy jobs.

use std::future::Future;

use cairn_core::Worker;

/// Runs jobs on tokio's blocking thread pool, started as soon as they are handed over.
///
/// The engine keeps about twice [`Worker::threads`] jobs in flight; the pool grows to that many
/// threads, so every core is busy while the engine's own task reads files and talks to storage.
#[derive(Debug, Clone, Copy)]
pub struct ThreadWorker {
    threads: usize,
}

impl ThreadWorker {
    /// A worker sized to the machine's available parallelism.
    pub fn new() -> Self {
        Self::with_threads(std::thread::available_parallelism().map_or(1, |n| n.get()))
    }

    /// A worker for `threads` parallel jobs.
    pub fn with_threads(threads: usize) -> Self {
        Self { threads: threads.max(1) }
    }
}

impl Default for ThreadWorker {
    fn default() -> Self {
        Self::new()
    }
}

impl Worker for ThreadWorker {
    fn spawn<T, F>(&self, job: F) -> impl Future<Output = T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let handle = tokio::task::spawn_blocking(job);
        async move {
            match handle.await {
                Ok(v) => v,
                // A job panicked (a bug): carry the panic to the engine's thread.
                Err(e) => match e.try_into_panic() {
                    Ok(payload) => std::panic::resume_unwind(payload),
                    Err(e) => panic!("worker job was cancelled: {e}"),
                },
            }
        }
    }

    fn threads(&self) -> usize {
        self.threads
    }
}

/// A current-thread tokio runtime whose blocking pool fits `worker`: the engine's futures are
/// not `Send`, so they run on this one thread while jobs run on the pool.
pub fn runtime(worker: &ThreadWorker) -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .enable_io()
        .max_blocking_threads(worker.threads() * 2 + 8)
        .thread_name("cairn-worker")
        .build()
}
