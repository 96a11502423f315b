//! Which jobs run right now and how far they got, as every process sees it: a job run
//! (`cairn job run`, the daemon, the desktop app) notes its progress in the catalog's `meta`
//! table under `running:JOB` every few seconds and removes the note when it ends. The tray
//! and the overview read it, whichever process runs the job. A note whose process is gone (a
//! run killed) is not shown.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_core::{FileStatus, Progress, Warning};
use serde::{Deserialize, Serialize};

use crate::catalog::Catalog;
use crate::error::Error;
use crate::totals::Totals;

const PREFIX: &str = "running:";
/// How often a run notes its progress.
const EVERY: Duration = Duration::from_secs(2);

/// A job run in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RunningJob {
    /// The job.
    pub job: String,
    /// The process running it.
    pub pid: u32,
    /// When the run started (Unix seconds).
    pub started: i64,
    /// The destination being written, once the first one is.
    pub destination: Option<String>,
    /// Which destination of how many (from 0).
    pub index: u32,
    /// How many destinations the job writes.
    pub count: u32,
    /// Bytes of the sources done on this destination.
    pub bytes: u64,
    /// Bytes of the sources in all, once the scan beside the backup knows.
    pub bytes_total: Option<u64>,
}

impl RunningJob {
    /// How far the whole run got, 0 to 99, once the total is known (100 is for a run done).
    pub fn percent(&self) -> Option<u8> {
        let total = self.bytes_total?;
        let of_destination = if total == 0 { 0.0 } else { (self.bytes as f64 / total as f64).min(1.0) };
        let whole = (f64::from(self.index) + of_destination) / f64::from(self.count.max(1));
        Some((whole * 100.0).min(99.0) as u8)
    }
}

impl Catalog {
    /// The job runs in progress, of any process, by job name.
    pub fn running_jobs(&self) -> Result<Vec<RunningJob>, Error> {
        Ok(self
            .metas_with_prefix(PREFIX)?
            .into_iter()
            .filter_map(|(_, v)| serde_json::from_str::<RunningJob>(&v).ok())
            .filter(|r| crate::process::process_alive(r.pid))
            .collect())
    }

    fn note_running(&self, run: &RunningJob) -> Result<(), Error> {
        // A struct of strings and numbers always serializes.
        let text = serde_json::to_string(run).unwrap_or_default();
        self.set_meta(&format!("{PREFIX}{}", run.job), &text)
    }

    fn forget_running(&self, job: &str) -> Result<(), Error> {
        self.delete_meta(&format!("{PREFIX}{job}"))
    }
}

/// Progress of a job run: the engine's [`cairn_core::Progress`] for each destination's backup,
/// told first which destination is being written.
pub trait RunProgress: cairn_core::Progress {
    /// Destination `name`, number `index` of `count` (from 0), is about to be written.
    fn destination(&mut self, _name: &str, _index: usize, _count: usize) {}
    /// What the run has to do: known once the scan of the sources beside the backup ends.
    fn totals(&mut self, _totals: Arc<Totals>) {}
}

impl RunProgress for cairn_core::NoProgress {}

/// Passes a run's progress on to `inner` and notes it in the catalog (see the module docs);
/// the note goes when this does.
pub(crate) struct Recorder<'a> {
    catalog: &'a Catalog,
    inner: &'a mut dyn RunProgress,
    run: RunningJob,
    totals: Arc<Totals>,
    last: Instant,
}

impl<'a> Recorder<'a> {
    pub(crate) fn new(
        catalog: &'a Catalog,
        job: &str,
        started: i64,
        totals: Arc<Totals>,
        inner: &'a mut dyn RunProgress,
    ) -> Self {
        let run = RunningJob {
            job: job.to_string(),
            pid: std::process::id(),
            started,
            destination: None,
            index: 0,
            count: 0,
            bytes: 0,
            bytes_total: None,
        };
        let mut r = Self { catalog, inner, run, totals, last: Instant::now() };
        r.note();
        r
    }

    /// Notes the progress now. A catalog that cannot take the note does not stop the backup.
    fn note(&mut self) {
        self.last = Instant::now();
        self.run.bytes_total = self.totals.get().map(|(_, bytes)| bytes);
        let _ = self.catalog.note_running(&self.run);
    }

    fn tick(&mut self) {
        if self.last.elapsed() >= EVERY {
            self.note();
        }
    }
}

impl Drop for Recorder<'_> {
    fn drop(&mut self) {
        let _ = self.catalog.forget_running(&self.run.job);
    }
}

impl Progress for Recorder<'_> {
    fn file(&mut self, path: &[u8], size: u64, status: FileStatus) {
        // Unchanged files are not read: they count as done all the same.
        if status == FileStatus::Unmodified {
            self.run.bytes += size;
        }
        self.inner.file(path, size, status);
        self.tick();
    }

    fn bytes(&mut self, n: u64) {
        self.run.bytes += n;
        self.inner.bytes(n);
        self.tick();
    }

    fn warning(&mut self, warning: &Warning) {
        self.inner.warning(warning);
    }

    fn step(&mut self, done: u64, total: u64) {
        self.inner.step(done, total);
    }

    fn cancelled(&mut self) -> bool {
        self.inner.cancelled()
    }
}

impl RunProgress for Recorder<'_> {
    fn destination(&mut self, name: &str, index: usize, count: usize) {
        self.run.destination = Some(name.to_string());
        self.run.index = u32::try_from(index).unwrap_or(u32::MAX);
        self.run.count = u32::try_from(count).unwrap_or(u32::MAX);
        self.run.bytes = 0;
        self.inner.destination(name, index, count);
        self.note();
    }

    fn totals(&mut self, totals: Arc<Totals>) {
        self.inner.totals(totals);
    }
}
