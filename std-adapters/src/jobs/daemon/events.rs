//! The daemon's events and their delivery to the notification sinks (a command, a webhook)
//! and to the desktop.

use std::time::Duration;

use serde::Serialize;

use crate::backend::connection::ConnectionOptions;
use crate::catalog::{Catalog, NotificationSink, RunRecord};
use crate::desktop::Notifier;
use crate::error::{Error, ErrorKind};
use crate::jobs::runner::JobStatus;

/// An event for the notification sinks.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Event {
    /// `backup_succeeded`, `backup_failed`, `job_overdue` or `destination_unhealthy`.
    pub event: &'static str,
    /// When (Unix seconds).
    pub time: i64,
    /// The job, for backup and overdue events.
    pub job: Option<String>,
    /// The destination, for health events.
    pub destination: Option<String>,
    /// `succeeded`, `partial`, `failed`, `overdue` or `unhealthy`.
    pub status: String,
    /// What happened, for people.
    pub message: String,
    /// The runs, for backup events.
    pub runs: Vec<RunRecord>,
}

impl Event {
    /// The event for a job run.
    pub fn for_run(report: &crate::jobs::runner::JobRunReport, time: i64) -> Self {
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

/// Tells `event` to every sink and, through `desktop` if given and as the catalog's desktop
/// setting asks, to the desktop; returns the failures (one line each). The daemon and the
/// desktop app's own runs tell through this one path.
pub async fn tell(catalog: &Catalog, event: &Event, desktop: Option<&Notifier>) -> Result<Vec<String>, Error> {
    let mut failures = emit(catalog, event).await?;
    if let Some(notifier) = desktop
        && let Some(note) = catalog.desktop_notifications()?.note_for(event)
        && let Err(e) = notifier.send(note).await
    {
        failures.push(format!("desktop notification: {e}"));
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
    let options = ConnectionOptions::with_stall_timeout(Duration::from_secs(30));
    let client = crate::http::client(&ConnectionOptions { connections: 1, ..options }).map_err(|e| e.to_string())?;
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

impl Event {
    /// A job with no success since `since` (its last success, or its creation), told at `now`.
    pub fn overdue(job: &str, since: i64, now: i64) -> Self {
        let when = jiff::Timestamp::from_second(since)
            .map(|t| t.to_zoned(jiff::tz::TimeZone::system()).strftime("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_else(|_| since.to_string());
        Self {
            event: "job_overdue",
            time: now,
            job: Some(job.to_string()),
            destination: None,
            status: "overdue".into(),
            message: format!("no successful backup of {job} since {when}"),
            runs: Vec::new(),
        }
    }
}

/// `cairn notify test` and the window's "Send a test event": a test event to every sink and,
/// unless desktop notifications are off, a notification to the desktop (`opener`: what its
/// click starts). Returns the failures, one line each.
pub async fn send_test(catalog: &Catalog, now: i64, opener: Option<std::path::PathBuf>) -> Result<Vec<String>, Error> {
    use crate::desktop::DesktopNotifications;
    let event = Event::test(now);
    let mut failures = emit(catalog, &event).await?;
    if catalog.desktop_notifications()? != DesktopNotifications::Off
        && let Some(mut note) = DesktopNotifications::All.note_for(&event)
    {
        note.summary = "Cairn notifications work".into();
        if let Err(e) = Notifier::start(opener).send(note).await {
            failures.push(format!("desktop: {e}"));
        }
    }
    Ok(failures)
}
