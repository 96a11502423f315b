//! The daemon: runs due jobs, re-tests destinations, refreshes disk info, exports the
//! configuration, and tells the notification sinks.
//!
//! Each [`Daemon::tick`] looks at the catalog at the clock's `now` and does what is due:
//!
//! | what | when |
//! |---|---|
//! | run a job | its schedule's slot has come (`next_due <= now`); a slot missed while the machine slept (or while paused) runs once; a job that runs only on mains power or an unmetered network waits for it |
//! | tell the user a job is overdue | no success within twice its interval (once per such stretch; not while paused) |
//! | re-test a destination | once a day (its last Test is 24 hours old) |
//! | refresh disk info | every 6 hours |
//! | export the configuration | once a day, to destinations flagged "export config" (keep 7) |
//!
//! **Events** go to every notification sink: `backup_succeeded`, `backup_failed` (also for a
//! partially complete run), `job_overdue` and `destination_unhealthy`, as a JSON object with
//! `event`, `time`, `job`, `destination`, `status`, `message` and, for backups, `runs`. A
//! command sink gets it on stdin (and `CAIRN_EVENT` in its environment); a webhook gets it as
//! an HTTP POST body. With a [`Notifier`], the failures (or, if the catalog says so, every
//! event) also reach the desktop. Delivery failures are reported by the tick, never fatal.

mod events;
mod instance;
mod overdue;
mod systemd_unit;

use std::time::Duration;

use serde::Serialize;

pub use events::{Event, emit, send_test, tell};
pub use instance::{InstanceLock, hold_instance_lock};
pub use overdue::overdue_since;
pub use systemd_unit::daemon_unit;

use crate::catalog::Catalog;
use crate::desktop::{Conditions, Notifier};
use crate::error::Error;
use crate::health::{measure_disk, test_saved};
use crate::jobs::runner::{Clock, run_job};
use crate::worker::ThreadWorker;

/// How often destinations are re-tested.
pub const RETEST_EVERY: i64 = 24 * 3600;
/// How often disk info is refreshed.
pub const DISK_INFO_EVERY: i64 = 6 * 3600;
/// How often the configuration is exported.
pub const EXPORT_EVERY: i64 = 24 * 3600;

/// The catalog's `meta` key where the daemon notes, at each tick, when and as which process.
const HEARTBEAT: &str = "daemon_heartbeat";

/// Whether a daemon works on this catalog, from its last tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct DaemonStatus {
    /// When it last ticked (Unix seconds).
    pub last_tick: i64,
    /// Its process id.
    pub pid: u32,
    /// Whether that process still runs on this machine.
    pub running: bool,
}

/// The daemon's status: `None` if no daemon ever ticked on this catalog.
pub fn daemon_status(catalog: &Catalog) -> Result<Option<DaemonStatus>, Error> {
    let Some(beat) = catalog.meta(HEARTBEAT)? else { return Ok(None) };
    let mut parts = beat.split(' ');
    let (Some(Ok(last_tick)), Some(Ok(pid))) =
        (parts.next().map(str::parse::<i64>), parts.next().map(str::parse::<u32>))
    else {
        return Ok(None);
    };
    let running = crate::process::process_alive(pid);
    Ok(Some(DaemonStatus { last_tick, pid, running }))
}

/// What one tick did.
#[derive(Debug, Clone, Default, Serialize)]
#[non_exhaustive]
pub struct TickReport {
    /// Jobs run, with how they ended.
    pub jobs: Vec<(String, String)>,
    /// Destinations tested, with whether they passed.
    pub tests: Vec<(String, bool)>,
    /// Destinations whose disk info was refreshed.
    pub disk_info: Vec<String>,
    /// Destinations that received a configuration export.
    pub exports: Vec<String>,
    /// Due jobs held back, with why (paused, on battery, metered network).
    pub waiting: Vec<(String, String)>,
    /// Events sent.
    pub events: Vec<String>,
    /// Problems (failed deliveries, failed exports), one line each.
    pub problems: Vec<String>,
}

/// The daemon over a catalog, with a clock (the system's, or a test's).
#[derive(Debug)]
pub struct Daemon<'a, C: Clock> {
    catalog: &'a Catalog,
    worker: &'a ThreadWorker,
    clock: C,
    notifier: Option<Notifier>,
    conditions: fn() -> Conditions,
}

impl<'a, C: Clock> Daemon<'a, C> {
    /// A daemon over `catalog`.
    pub fn new(catalog: &'a Catalog, worker: &'a ThreadWorker, clock: C) -> Self {
        Self { catalog, worker, clock, notifier: None, conditions: Conditions::default }
    }

    /// The same daemon telling the desktop too, and asking the machine whether it runs on
    /// battery or a metered network (`conditions`: [`crate::desktop::machine_conditions`], or
    /// a test's).
    pub fn with_desktop(mut self, notifier: Notifier, conditions: fn() -> Conditions) -> Self {
        self.notifier = Some(notifier);
        self.conditions = conditions;
        self
    }

    async fn send(&self, event: &Event, report: &mut TickReport) -> Result<(), Error> {
        report.events.push(event.event.to_string());
        report.problems.extend(tell(self.catalog, event, self.notifier.as_ref()).await?);
        Ok(())
    }

    /// Does everything that is due now (see the [module docs](self)).
    pub async fn tick(&self) -> Result<TickReport, Error> {
        let mut report = TickReport::default();
        let now = self.clock.now();
        self.catalog.set_meta(HEARTBEAT, &format!("{now} {}", std::process::id()))?;
        let paused = self.catalog.paused_until()?.filter(|until| *until > now);
        let mut conditions = None;
        for job in self.catalog.list_jobs()? {
            if !job.enabled || job.next_due.is_none_or(|due| due > now) {
                continue;
            }
            if paused.is_some() {
                report.waiting.push((job.name.clone(), "backups are paused".into()));
                continue;
            }
            if job.spec.not_on_battery || job.spec.not_on_metered {
                let known = *conditions.get_or_insert_with(self.conditions);
                if let Some(hold) = known.hold(job.spec.not_on_battery, job.spec.not_on_metered) {
                    report.waiting.push((job.name.clone(), hold.reason().into()));
                    continue;
                }
            }
            let run = run_job(self.catalog, &job.name, self.worker, &self.clock, &mut cairn_core::NoProgress).await;
            match run {
                Ok(r) => {
                    report.jobs.push((job.name.clone(), r.status.name().to_string()));
                    self.send(&Event::for_run(&r, self.clock.now()), &mut report).await?;
                }
                Err(e) => report.problems.push(format!("job {}: {e}", job.name)),
            }
        }
        let now = self.clock.now();
        // A pause the user chose makes no job overdue while it lasts.
        for job in self.catalog.list_jobs()?.into_iter().filter(|_| paused.is_none()) {
            if let Some(since) = overdue_since(self.catalog, &job, now)?
                && self.catalog.overdue_told(&job.name)? != Some(since)
            {
                self.send(&Event::overdue(&job.name, since, now), &mut report).await?;
                self.catalog.set_overdue_told(&job.name, since)?;
            }
        }
        for d in self.catalog.list_destinations()? {
            if !d.enabled {
                continue;
            }
            if d.last_test.as_ref().is_none_or(|(t, _, _)| now - t >= RETEST_EVERY) {
                let test = test_saved(self.catalog, &d.name, now, &mut |_| {}).await?;
                report.tests.push((d.name.clone(), test.ok));
                if !test.ok {
                    let event = Event {
                        event: "destination_unhealthy",
                        time: now,
                        job: None,
                        destination: Some(d.name.clone()),
                        status: "unhealthy".into(),
                        message: format!(
                            "destination {} failed its test: {}",
                            d.name,
                            test.error.as_deref().unwrap_or("unknown error")
                        ),
                        runs: Vec::new(),
                    };
                    self.send(&event, &mut report).await?;
                }
            }
            if d.disk.is_none_or(|disk| now - disk.time >= DISK_INFO_EVERY) {
                let measured = match self.catalog.destination_url(&d.name).and_then(|u| u.open()) {
                    Ok(dest) => measure_disk(&dest, now).await,
                    Err(e) => Err(e),
                };
                match measured {
                    Ok(disk) => {
                        self.catalog.set_disk_info(&d.name, &disk)?;
                        report.disk_info.push(d.name.clone());
                    }
                    Err(e) => report.problems.push(format!("disk info of {}: {e}", d.name)),
                }
            }
            if d.export_config && !d.read_only && d.last_export.is_none_or(|t| now - t >= EXPORT_EVERY) {
                match crate::health::recovery::export_config(self.catalog, &d.name, now).await {
                    Ok(_) => report.exports.push(d.name.clone()),
                    Err(e) => report.problems.push(format!("configuration export to {}: {e}", d.name)),
                }
            }
        }
        Ok(report)
    }

    /// How long to sleep before the next tick: until the next job is due, at most a minute (a
    /// job still due after a tick is waiting or could not start: it is looked at every minute).
    pub fn idle_for(&self) -> Result<Duration, Error> {
        let now = self.clock.now();
        let next = self.catalog.list_jobs()?.iter().filter(|j| j.enabled).filter_map(|j| j.next_due).min();
        let secs = next.map_or(60, |due| if due <= now { 60 } else { (due - now).min(60) });
        Ok(Duration::from_secs(secs as u64))
    }

    /// Sleeps for [`Daemon::idle_for`].
    pub async fn idle(&self) -> Result<(), Error> {
        tokio::time::sleep(self.idle_for()?).await;
        Ok(())
    }
}
