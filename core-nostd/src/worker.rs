//! Workers: where CPU-heavy jobs run.
//!
//! The engine is single-task async code. Compressing, encrypting, decrypting and laying out
//! packs are pure CPU jobs that it hands to a [`Worker`], keeping several in flight, so that an
//! embedder with threads uses every core (the std adapters run jobs on a thread pool) and one
//! without threads runs them inline ([`InlineWorker`]). Jobs own their inputs (`Send + 'static`)
//! and never touch storage.

use core::future::Future;

/// Runs CPU-heavy jobs.
pub trait Worker {
    /// Starts `job` now (before the returned future is first polled) and resolves with its result.
    /// An implementation with threads runs it on one of them; the engine keeps up to about twice
    /// [`Worker::threads`] jobs in flight.
    fn spawn<T, F>(&self, job: F) -> impl Future<Output = T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static;

    /// How many jobs can run at the same time.
    fn threads(&self) -> usize;
}

/// Runs every job at once on the calling thread.
#[derive(Debug, Clone, Copy, Default)]
pub struct InlineWorker;

impl Worker for InlineWorker {
    fn spawn<T, F>(&self, job: F) -> impl Future<Output = T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        core::future::ready(job())
    }

    fn threads(&self) -> usize {
        1
    }
}
