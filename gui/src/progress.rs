//! Progress of long operations as [`GuiEvent::Progress`] events: at most about ten a second,
//! with the rate, and the time left once the total is known (a scan of the sources runs beside
//! a backup to learn it).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cairn_core::{FileStatus, Progress, Warning};
use cairn_std::runner::RunProgress;

use crate::{EventSink, GuiEvent, ProgressView};

/// Totals learnt while the operation runs (by a scan) or before it (a snapshot's size).
#[derive(Debug, Default)]
pub(crate) struct Totals {
    files: AtomicU64,
    bytes: AtomicU64,
    known: AtomicBool,
}

impl Totals {
    pub(crate) fn known(files: u64, bytes: u64) -> Arc<Self> {
        let t = Self::default();
        t.set(files, bytes);
        Arc::new(t)
    }

    fn set(&self, files: u64, bytes: u64) {
        self.files.store(files, Ordering::Relaxed);
        self.bytes.store(bytes, Ordering::Relaxed);
        self.known.store(true, Ordering::Release);
    }

    fn get(&self) -> Option<(u64, u64)> {
        self.known
            .load(Ordering::Acquire)
            .then(|| (self.files.load(Ordering::Relaxed), self.bytes.load(Ordering::Relaxed)))
    }

    /// Walks `sources` on a thread of its own (symbolic links not followed) and fills in the
    /// totals when done. A backup does not wait for it.
    pub(crate) fn scan(sources: Vec<PathBuf>) -> Arc<Self> {
        let totals = Arc::new(Self::default());
        let t = totals.clone();
        let _ = std::thread::Builder::new().name("cairn-scan".into()).spawn(move || {
            let (mut files, mut bytes) = (0u64, 0u64);
            let mut stack = sources;
            while let Some(p) = stack.pop() {
                let Ok(m) = std::fs::symlink_metadata(&p) else { continue };
                if m.is_dir() {
                    if let Ok(rd) = std::fs::read_dir(&p) {
                        stack.extend(rd.flatten().map(|e| e.path()));
                    }
                } else {
                    files += 1;
                    if m.is_file() {
                        bytes += m.len();
                    }
                }
            }
            t.set(files, bytes);
        });
        totals
    }
}

/// Sends progress events for operation `op`; stops it when its cancel flag is set.
pub(crate) struct Reporter {
    op: String,
    phase: String,
    events: EventSink,
    cancel: Arc<AtomicBool>,
    totals: Arc<Totals>,
    started: Instant,
    last: Option<Instant>,
    files: u64,
    bytes: u64,
    current: String,
    destination: Option<String>,
    destination_index: u32,
    destination_count: u32,
    pub(crate) warnings: Vec<String>,
}

const EVERY: Duration = Duration::from_millis(100);
const MAX_WARNINGS: usize = 200;

impl Reporter {
    pub(crate) fn new(op: &str, phase: &str, events: EventSink, cancel: Arc<AtomicBool>, totals: Arc<Totals>) -> Self {
        Self {
            op: op.to_string(),
            phase: phase.to_string(),
            events,
            cancel,
            totals,
            started: Instant::now(),
            last: None,
            files: 0,
            bytes: 0,
            current: String::new(),
            destination: None,
            destination_index: 0,
            destination_count: 0,
            warnings: Vec::new(),
        }
    }

    pub(crate) fn set_totals(&mut self, totals: Arc<Totals>) {
        self.totals = totals;
    }

    pub(crate) fn set_phase(&mut self, phase: &str) {
        self.phase = phase.to_string();
        self.send(false);
    }

    fn view(&self, done: bool) -> ProgressView {
        let totals = self.totals.get();
        let secs = self.started.elapsed().as_secs_f64();
        let rate = if secs > 0.0 { self.bytes as f64 / secs } else { 0.0 };
        let eta_secs = match totals {
            Some((_, total)) if rate > 0.0 && !done => Some(((total.saturating_sub(self.bytes)) as f64 / rate) as u64),
            _ => None,
        };
        ProgressView {
            op: self.op.clone(),
            phase: self.phase.clone(),
            destination: self.destination.clone(),
            destination_index: self.destination_index,
            destination_count: self.destination_count,
            files: self.files,
            files_total: totals.map(|t| t.0),
            bytes: self.bytes,
            bytes_total: totals.map(|t| t.1),
            rate,
            eta_secs,
            current: self.current.clone(),
            done,
        }
    }

    fn send(&mut self, done: bool) {
        self.last = Some(Instant::now());
        (self.events)(GuiEvent::Progress { progress: self.view(done) });
    }

    fn tick(&mut self) {
        if self.last.is_none_or(|t| t.elapsed() >= EVERY) {
            self.send(false);
        }
    }

    /// Sends the last event.
    pub(crate) fn finish(&mut self, phase: &str) {
        self.phase = phase.to_string();
        self.send(true);
    }
}

impl Progress for Reporter {
    fn file(&mut self, path: &[u8], size: u64, status: FileStatus) {
        self.files += 1;
        // Unchanged files are not read: count them as done all the same.
        if status == FileStatus::Unmodified {
            self.bytes += size;
        }
        self.current = cairn_std::show_path(path);
        self.tick();
    }

    fn bytes(&mut self, n: u64) {
        self.bytes += n;
        self.tick();
    }

    fn warning(&mut self, warning: &Warning) {
        if self.warnings.len() < MAX_WARNINGS {
            self.warnings.push(warning.to_string());
        }
    }

    fn cancelled(&mut self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }
}

impl RunProgress for Reporter {
    fn destination(&mut self, name: &str, index: usize, count: usize) {
        self.destination = Some(name.to_string());
        self.destination_index = u32::try_from(index + 1).unwrap_or(u32::MAX);
        self.destination_count = u32::try_from(count).unwrap_or(u32::MAX);
        self.files = 0;
        self.bytes = 0;
        self.started = Instant::now();
        self.phase = "backing up".into();
        self.send(false);
    }
}
