//! The daemon: runs due jobs, re-tests destinations, refreshes disk info, exports the
//! configuration, and tells the notification sinks.
//!
//! Each [`Daemon::tick`] looks at the catalog at the clock's `now` and does what is due:
//!
//! | what | when |
//! |---|---|
//! | run a job | its schedule's slot has come (`next_due <= now`); a slot missed while the machine slept runs once |
//! | re-test a destination | once a day (its last Test is 24 hours old) |
//! | refresh disk info | every 6 hours |
//! | export the configuration | once a day, to destinations flagged "export config" (keep 7) |
//!
//! **Events** go to every notification sink: `backup_succeeded`, `backup_failed` (also for a
//! partially complete run) and `destination_unhealthy`, as a JSON object with `event`, `time`,
//! `job`, `destination`, `status`, `message` and, for backups, `runs`. A command sink gets it on
//! stdin (and `CAIRN_EVENT` in its environment); a webhook gets it as an HTTP POST body.
//! Delivery failures are reported by the tick, never fatal.

use std::time::Duration;

use serde::Serialize;

use crate::catalog::{Catalog, NotificationSink, RunRecord};
use crate::error::{Error, ErrorKind};
use crate::health::{measure_disk, test_saved};
use crate::runner::{Clock, JobStatus, run_job};
use crate::worker::ThreadWorker;

/// How often destinations are re-tested.
pub const RETEST_EVERY: i64 = 24 * 3600;
/// How often disk info is refreshed.
pub const DISK_INFO_EVERY: i64 = 6 * 3600;
/// How often the configuration is exported.
pub const EXPORT_EVERY: i64 = 24 * 3600;

/// An event for the notification sinks.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Event {
    /// `backup_succeeded`, `backup_failed` or `destination_unhealthy`.
    pub event: &'static str,
    /// When (Unix seconds).
    pub time: i64,
    /// The job, for backup events.
    pub job: Option<String>,
    /// The destination, for health events.
    pub destination: Option<String>,
    /// `succeeded`, `partial`, `failed` or `unhealthy`.
    pub status: String,
    /// What happened, for people.
    pub message: String,
    /// The runs, for backup events.
    pub runs: Vec<RunRecord>,
}

impl Event {
    /// The event for a job run.
    pub fn for_run(report: &crate::runner::JobRunReport, time: i64) -> Self {
        let (event, message) = match report.status {
            JobStatus::Succeeded => ("backup_succeeded", format!("job {} succeeded", report.job)),
            JobStatus::Partial => (
                "backup_failed",
                format!("job {} was only partially complete: {}", report.job, report.failures().join("; ")),
            ),
            JobStatus::Failed => {
                ("backup_failed", format!("job {} failed: {}", report.job, report.failures().join("; ")))
            }
        };
        Self {
            event,
            time,
            job: Some(report.job.clone()),
            destination: None,
            status: report.status.name().to_string(),
            message,
            runs: report.runs.clone(),
        }
    }
}

impl Event {
    /// A test event (`cairn notify test`), shaped as a successful backup.
    pub fn test(time: i64) -> Self {
        Self {
            event: "backup_succeeded",
            time,
            job: Some("notification-test".into()),
            destination: None,
            status: "succeeded".into(),
            message: "a test event from `cairn notify test`".into(),
            runs: Vec::new(),
        }
    }
}

/// Sends `event` to every sink; returns the delivery failures (one line each).
pub async fn emit(catalog: &Catalog, event: &Event) -> Result<Vec<String>, Error> {
    let body = serde_json::to_vec(event).map_err(|e| Error::new(ErrorKind::Other, e.to_string()))?;
    let mut failures = Vec::new();
    for (id, sink) in catalog.notifications()? {
        let result = match &sink {
            NotificationSink::Command(c) => deliver_command(c, event.event, &body).await,
            NotificationSink::Webhook(u) => deliver_webhook(u, &body).await,
        };
        if let Err(e) = result {
            failures.push(format!("notification {id}: {e}"));
        }
    }
    Ok(failures)
}

async fn deliver_command(command: &str, event: &str, body: &[u8]) -> Result<(), String> {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .env("CAIRN_EVENT", event)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run sh: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A command that does not read its input is fine.
        let _ = stdin.write_all(body).await;
    }
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .map_err(|_| "the command ran for more than 60 s".to_string())?
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("the command failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim()))
    }
}

async fn deliver_webhook(url: &str, body: &[u8]) -> Result<(), String> {
    let client = crate::http::client(true, Duration::from_secs(30), 1).map_err(|e| e.to_string())?;
    let mut last = String::new();
    for attempt in 0..3u64 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(500 * attempt)).await;
        }
        let sent = client
            .post(url)
            .header("content-type", "application/json")
            .header("user-agent", concat!("cairn/", env!("CARGO_PKG_VERSION")))
            .body(body.to_vec())
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) if r.status().is_client_error() => return Err(format!("the webhook answered {}", r.status())),
            Ok(r) => last = format!("the webhook answered {}", r.status()),
            Err(e) => last = format!("cannot reach the webhook: {}", e.without_url()),
        }
    }
    Err(last)
}

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
    let running = i32::try_from(pid).is_ok_and(|p| nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), None).is_ok());
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
}

impl<'a, C: Clock> Daemon<'a, C> {
    /// A daemon over `catalog`.
    pub fn new(catalog: &'a Catalog, worker: &'a ThreadWorker, clock: C) -> Self {
        Self { catalog, worker, clock }
    }

    async fn send(&self, event: &Event, report: &mut TickReport) -> Result<(), Error> {
        report.events.push(event.event.to_string());
        report.problems.extend(emit(self.catalog, event).await?);
        Ok(())
    }

    /// Does everything that is due now (see the [module docs](self)).
    pub async fn tick(&self) -> Result<TickReport, Error> {
        let mut report = TickReport::default();
        let now = self.clock.now();
        self.catalog.set_meta(HEARTBEAT, &format!("{now} {}", std::process::id()))?;
        for job in self.catalog.list_jobs()? {
            if !job.enabled || job.next_due.is_none_or(|due| due > now) {
                continue;
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
                match crate::recovery::export_config(self.catalog, &d.name, now).await {
                    Ok(_) => report.exports.push(d.name.clone()),
                    Err(e) => report.problems.push(format!("configuration export to {}: {e}", d.name)),
                }
            }
        }
        Ok(report)
    }

    /// How long to sleep before the next tick: until the next job is due, at most a minute.
    pub fn idle_for(&self) -> Result<Duration, Error> {
        let now = self.clock.now();
        let next = self.catalog.list_jobs()?.iter().filter(|j| j.enabled).filter_map(|j| j.next_due).min();
        let secs = next.map_or(60, |due| (due - now).clamp(1, 60));
        Ok(Duration::from_secs(secs as u64))
    }

    /// Sleeps for [`Daemon::idle_for`].
    pub async fn idle(&self) -> Result<(), Error> {
        tokio::time::sleep(self.idle_for()?).await;
        Ok(())
    }
}
