//! Progress of long operations as [`GuiEvent::Progress`] events: at most about ten a second,
//! with the rate, and the time left once the total is known (a scan of the sources runs beside
//! a backup to learn it).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use cairn_core::{FileStatus, Progress, Warning};
use cairn_std::running::RunProgress;
pub(crate) use cairn_std::totals::Totals;

use crate::{EventSink, GuiEvent, ProgressView};

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

    fn totals(&mut self, totals: Arc<Totals>) {
        self.totals = totals;
    }
}
