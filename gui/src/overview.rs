//! The overview, the window's home: every job and destination at a glance, warnings first
//! (a failed last run, an overdue job, a failing or almost full destination, something
//! disabled, a scheduler that does not run).

use cairn_std::daemon::overdue_since;

use crate::destinations::destination_views;
use crate::jobs::job_views;
use crate::scheduler::scheduler_view;
use crate::{DaemonView, DestinationView, Gui, GuiError, JobView, OverviewView, WarningView, now};

/// A destination with less free space than this is almost full, whatever its size.
const ALMOST_FULL_BYTES: u64 = 2 << 30;

impl Gui {
    /// The overview (see the module docs).
    pub async fn overview(&self) -> Result<OverviewView, GuiError> {
        let (running_here, paths) = (self.jobs_running_here(), self.paths.clone());
        // One look at the catalog: the tray asks every few seconds.
        self.on_thread(move |catalog| async move {
            let jobs = job_views(&catalog, &running_here)?;
            let destinations = destination_views(&catalog)?;
            let scheduler = scheduler_view(&catalog, &paths)?;
            let mut overdue = Vec::new();
            for job in catalog.list_jobs()? {
                if let Some(since) = overdue_since(&catalog, &job, now())? {
                    overdue.push((job.name, since));
                }
            }
            let warnings = warnings(&jobs, &destinations, &scheduler, &overdue);
            Ok(OverviewView { warnings, jobs, destinations, scheduler })
        })
        .await
    }
}

fn warning(level: &str, text: String, screen: String) -> WarningView {
    WarningView { level: level.into(), text, screen }
}

/// The warnings, the serious ones (`bad`) before the others (`warn`).
fn warnings(
    jobs: &[JobView],
    destinations: &[DestinationView],
    scheduler: &DaemonView,
    overdue: &[(String, i64)],
) -> Vec<WarningView> {
    let mut out = Vec::new();
    for j in jobs {
        let name = &j.form.name;
        let screen = format!("job:{name}");
        if !j.enabled {
            out.push(warning("warn", format!("{name} is disabled: it does not run on its schedule"), screen.clone()));
        }
        if let Some(last) = j.last_runs.first().filter(|r| r.status == "failed" || r.status == "incomplete") {
            let what = if last.status == "failed" { "failed" } else { "was incomplete" };
            let why = last.error.as_deref().map(|e| format!(": {e}")).unwrap_or_default();
            out.push(warning(
                "bad",
                format!("The last backup of {name} to {} {what}{why}", last.destination),
                screen.clone(),
            ));
        }
        if let Some((_, since)) = overdue.iter().find(|(n, _)| n == name) {
            let when = cairn_std::local_time(cairn_core::Timestamp::new(*since, 0));
            out.push(warning("bad", format!("{name} is overdue: no successful backup since {when}"), screen));
        }
    }
    for d in destinations {
        let name = &d.name;
        let screen = format!("destination:{name}");
        if !d.enabled {
            out.push(warning("warn", format!("Destination {name} is disabled: jobs skip it"), screen.clone()));
        }
        if let Some(h) = d.health.as_ref().filter(|h| !h.ok) {
            out.push(warning("bad", format!("Destination {name} failed its last test: {}", h.summary), screen.clone()));
        }
        if let Some(free) = d.disk.as_ref().and_then(|disk| Some((disk.free_bytes?, disk.stored_bytes)))
            && (free.0 < ALMOST_FULL_BYTES || free.0 < free.1 / 10)
        {
            out.push(warning("warn", format!("Destination {name} is almost full: {} free", size(free.0)), screen));
        }
    }
    let scheduled = jobs.iter().any(|j| j.enabled && j.next_due.is_some());
    if scheduled && !scheduler.running {
        let text = if scheduler.background == "declined" {
            "Backups do not run by themselves: background backups are off (Settings)"
        } else {
            "The scheduler is not running: scheduled backups wait until it runs (Settings)"
        };
        out.push(warning("bad", text.into(), "settings".into()));
    }
    if let Some(until) = scheduler.paused_until {
        let when = cairn_std::local_time(cairn_core::Timestamp::new(until, 0));
        out.push(warning("warn", format!("Backups are paused until {when}"), "settings".into()));
    }
    out.sort_by_key(|w| w.level != "bad");
    out
}

fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{v:.1} {}", UNITS[unit]) }
}
