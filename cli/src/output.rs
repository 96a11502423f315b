//! Output for people and for scripts: errors, progress, times and sizes.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use cairn_core::{FileStatus, Progress, Timestamp, Warning};
use cairn_std::Error;
use cairn_std::totals::Totals;
use indicatif::{HumanBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::args::Global;

/// Prints an error: `error: message` and the hint, or a JSON object with `--json`.
pub(crate) fn print_error(e: &Error, json: bool) {
    if json {
        let v = serde_json::json!({ "error": e.message(), "hint": e.hint(), "kind": format!("{:?}", e.kind()) });
        println!("{v}");
    }
    eprintln!("error: {}", e.message());
    if let Some(h) = e.hint() {
        eprintln!("hint: {h}");
    }
}

/// A progress bar on stderr (when it is a terminal) that also prints warnings and keeps them.
/// It shows bytes (with the total, the rate and the time left once the total is known), or for
/// an operation that counts steps (packs checked, headers read) those steps.
pub(crate) struct CliProgress {
    bar: Option<ProgressBar>,
    pub(crate) warnings: Vec<String>,
    files: u64,
    verb: String,
    /// What a backup has to do, learnt by a scan beside it.
    totals: Option<Arc<Totals>>,
    /// Whether the bar counts steps rather than bytes.
    counting: bool,
}

/// What a bar shows.
#[derive(Clone, Copy)]
enum Shown {
    /// Bytes of an unknown total.
    Bytes,
    /// Bytes of a known total, with the time left.
    BytesOf,
    /// Steps of a known count, with the time left.
    Steps,
}

fn style(verb: &str, shown: Shown) -> ProgressStyle {
    let template = match shown {
        Shown::Bytes => {
            format!("{{spinner}} {verb} {{binary_bytes}} {{binary_bytes_per_sec}} {{elapsed}} {{wide_msg}}")
        }
        Shown::BytesOf => format!(
            "{verb} {{bar:30}} {{binary_bytes}}/{{binary_total_bytes}} {{binary_bytes_per_sec}} {{elapsed}}, {{eta}} left \
             {{wide_msg}}"
        ),
        Shown::Steps => format!("{verb} {{bar:30}} {{pos}}/{{len}} {{elapsed}}, {{eta}} left {{wide_msg}}"),
    };
    ProgressStyle::with_template(&template).unwrap_or_else(|_| ProgressStyle::default_bar())
}

impl CliProgress {
    /// `total`: the bytes expected, if known.
    pub(crate) fn new(global: &Global, verb: &str, total: Option<u64>) -> Self {
        Self::showing(global, verb, total, if total.is_some() { Shown::BytesOf } else { Shown::Bytes })
    }

    /// A bar that counts steps (packs checked, headers read), not bytes.
    pub(crate) fn steps(global: &Global, verb: &str) -> Self {
        let mut p = Self::showing(global, verb, Some(0), Shown::Steps);
        p.counting = true;
        p
    }

    /// A bar of `total` in the style `shown` from its first frame: the steady tick draws it at
    /// once, so a style set afterwards could show a frame in the wrong units.
    fn showing(global: &Global, verb: &str, total: Option<u64>, shown: Shown) -> Self {
        let show = !global.json && !global.quiet && !global.no_progress && std::io::stderr().is_terminal();
        let bar = show.then(|| {
            let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr()).with_style(style(verb, shown));
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Self { bar, warnings: Vec::new(), files: 0, verb: verb.to_string(), totals: None, counting: false }
    }

    /// The same bar, told the total by `totals` once its scan ends.
    pub(crate) fn with_totals(mut self, totals: Arc<Totals>) -> Self {
        self.totals = Some(totals);
        self
    }

    /// Takes the total from the scan, once it is known.
    fn learn_total(&mut self) {
        if let (Some(b), Some(t)) = (&self.bar, &self.totals)
            && let Some((_, bytes)) = t.get()
        {
            b.set_length(bytes.max(b.position()));
            b.set_style(style(&self.verb, Shown::BytesOf));
            self.totals = None;
        }
    }

    pub(crate) fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

impl cairn_std::running::RunProgress for CliProgress {
    fn destination(&mut self, name: &str, index: usize, count: usize) {
        if let Some(b) = &self.bar {
            b.println(format!("destination {name} ({} of {count})", index + 1));
            b.reset();
        }
    }

    fn totals(&mut self, totals: Arc<Totals>) {
        self.totals = Some(totals);
    }
}

impl Progress for CliProgress {
    fn file(&mut self, path: &[u8], size: u64, status: FileStatus) {
        self.files += 1;
        self.learn_total();
        if let Some(b) = &self.bar {
            // A file not read (unchanged, or already in place) is done all at once.
            if status == FileStatus::Unmodified && !self.counting {
                b.inc(size);
            }
            if self.files % 64 == 1 {
                b.set_message(format!("{} files, {}", self.files, cairn_std::show_path(path)));
            }
        }
    }

    fn bytes(&mut self, n: u64) {
        self.learn_total();
        if let Some(b) = &self.bar {
            b.inc(n);
        }
    }

    fn warning(&mut self, w: &Warning) {
        let line = w.to_string();
        match &self.bar {
            Some(b) => b.suspend(|| eprintln!("warning: {line}")),
            None => eprintln!("warning: {line}"),
        }
        self.warnings.push(line);
    }

    fn step(&mut self, done: u64, total: u64) {
        if let Some(b) = &self.bar {
            if !self.counting {
                b.set_style(style(&self.verb, Shown::Steps));
                self.counting = true;
            }
            b.set_length(total);
            b.set_position(done);
        }
    }
}

/// A timestamp in RFC 3339 (UTC), for JSON.
pub(crate) fn rfc3339(t: Timestamp) -> String {
    match jiff::Timestamp::new(t.secs, t.nanos as i32) {
        Ok(ts) => ts.to_string(),
        Err(_) => format!("@{}", t.secs),
    }
}

/// A snapshot for `--json` output (`snapshots`, `cat snapshot`).
pub(crate) fn snapshot_json(id: &cairn_core::SnapshotId, s: &cairn_core::Snapshot) -> serde_json::Value {
    serde_json::json!({
        "id": id.to_hex(),
        "short_id": id.short(),
        "time": rfc3339(s.time),
        "tree": s.tree.to_hex(),
        "paths": s.paths.iter().map(|p| cairn_std::show_path(p)).collect::<Vec<_>>(),
        "hostname": s.hostname,
        "username": s.username,
        "tags": s.tags,
        "parent": s.parent.map(|p| p.to_hex()),
        "program": s.program,
        "excludes": s.excludes,
        "stats": s.stats,
        "lease": s.lease.map(|t| t.iter().map(|b| format!("{b:02x}")).collect::<String>()),
    })
}

pub(crate) fn bytes(n: u64) -> String {
    HumanBytes(n).to_string()
}
