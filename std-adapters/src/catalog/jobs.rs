//! Jobs, their run history and the notification sinks, as the catalog stores them.
//!
//! A **job** backs up its sources to one or more destinations, on a schedule, keeping what its
//! retention policy says. Its settings are a [`JobSpec`] (stored as JSON); the destinations it
//! writes to are rows of `job_destinations`, so a destination cannot be deleted while a job
//! targets it. A **run** is one job writing to one destination: each run of a job adds one
//! history row per destination.

use std::path::PathBuf;

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::{Catalog, db_error, valid_name};
use crate::error::{Error, ErrorKind};
use crate::jobs::schedule::Schedule;

/// How a job writes to its destinations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Structure {
    /// Snapshots in the deduplicated, encrypted repository (the default).
    #[default]
    Incremental,
    /// One `.tar` per run beside the repository (unencrypted, readable by any tar).
    Archived,
    /// One `.tar.gz` per run beside the repository (unencrypted, readable by any tar).
    Compressed,
}

impl Structure {
    /// Parses `incremental`, `archived` or `compressed`.
    pub fn parse(s: &str) -> Result<Self, Error> {
        match s {
            "incremental" => Ok(Self::Incremental),
            "archived" => Ok(Self::Archived),
            "compressed" => Ok(Self::Compressed),
            other => Err(Error::new(ErrorKind::InvalidInput, format!("structure: unknown structure {other:?}"))
                .with_hint("use incremental, archived or compressed")),
        }
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Incremental => "incremental",
            Self::Archived => "archived",
            Self::Compressed => "compressed",
        }
    }
}

/// What a job keeps after each run (zero: no rule). With no rule at all, everything is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Retention {
    /// The last N.
    pub last: u32,
    /// The last one of each of the last N hours.
    pub hourly: u32,
    /// ... days.
    pub daily: u32,
    /// ... weeks.
    pub weekly: u32,
    /// ... months.
    pub monthly: u32,
    /// ... years.
    pub yearly: u32,
}

impl Retention {
    /// Whether no rule is set (keep everything).
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The core's policy for these rules.
    pub fn policy(&self) -> cairn_core::KeepPolicy {
        let mut p = cairn_core::KeepPolicy::default();
        p.last = self.last;
        p.hourly = self.hourly;
        p.daily = self.daily;
        p.weekly = self.weekly;
        p.monthly = self.monthly;
        p.yearly = self.yearly;
        p
    }
}

/// A job's settings.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
#[non_exhaustive]
pub struct JobSpec {
    /// Absolute paths to back up.
    pub sources: Vec<PathBuf>,
    /// Exclude patterns (the `backup --exclude` syntax).
    pub excludes: Vec<String>,
    /// The destinations, by name, written in this order.
    pub destinations: Vec<String>,
    /// When it runs by itself (see [`Schedule`]); `None`: only when asked.
    pub schedule: Option<String>,
    /// What is kept after each run.
    pub retention: Retention,
    /// How it is written.
    pub structure: Structure,
    /// A shell command run before the backup (for example a database dump into a source
    /// folder); if it fails, the run fails.
    pub pre_hook: Option<String>,
    /// A shell command run after the backup, with `CAIRN_JOB` and `CAIRN_STATUS` set.
    pub post_hook: Option<String>,
    /// The daemon holds it back while the machine runs on battery.
    pub not_on_battery: bool,
    /// The daemon holds it back while the network is metered.
    pub not_on_metered: bool,
}

/// A job as the catalog holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct JobRecord {
    /// Catalog id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// Its settings.
    pub spec: JobSpec,
    /// Whether the daemon runs it on its schedule.
    pub enabled: bool,
    /// Creation time (Unix seconds).
    pub created: i64,
    /// When the schedule next makes it due (Unix seconds).
    pub next_due: Option<i64>,
    /// When it last ran (Unix seconds).
    pub last_run: Option<i64>,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunStatus {
    /// Everything was written.
    Succeeded,
    /// Written, but some files could not be read.
    Incomplete,
    /// Nothing was written.
    Failed,
    /// The destination was disabled, so it was not written.
    Skipped,
}

impl RunStatus {
    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Incomplete => "incomplete",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "succeeded" => Self::Succeeded,
            "incomplete" => Self::Incomplete,
            "skipped" => Self::Skipped,
            _ => Self::Failed,
        }
    }
}

/// One job writing to one destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RunRecord {
    /// History id.
    pub id: i64,
    /// The job.
    pub job: String,
    /// The destination's name.
    pub destination: String,
    /// Start and end (Unix seconds).
    pub started: i64,
    /// End (Unix seconds).
    pub ended: i64,
    /// How it ended.
    pub status: RunStatus,
    /// Files in the backup.
    pub files: u64,
    /// Bytes read from the sources.
    pub bytes_read: u64,
    /// Size of all files backed up, read or unchanged (0 in runs recorded before Cairn kept
    /// it).
    pub bytes_total: u64,
    /// Bytes added to the destination.
    pub bytes_added: u64,
    /// The snapshot id or archive name written.
    pub snapshot: Option<String>,
    /// Why it failed or was skipped.
    pub error: Option<String>,
    /// Hook output.
    pub output: Option<String>,
}

impl RunRecord {
    /// A run of `job` to `destination` over `started..ended`, ending with `status`.
    pub fn new(job: &str, destination: &str, started: i64, ended: i64, status: RunStatus) -> Self {
        Self {
            id: 0,
            job: job.to_string(),
            destination: destination.to_string(),
            started,
            ended,
            status,
            files: 0,
            bytes_read: 0,
            bytes_total: 0,
            bytes_added: 0,
            snapshot: None,
            error: None,
            output: None,
        }
    }
}

/// Where events go: a command (the event as JSON on its stdin) or a webhook (an HTTP POST of
/// the event as JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "target", rename_all = "kebab-case")]
pub enum NotificationSink {
    /// A shell command.
    Command(String),
    /// An `http://` or `https://` URL.
    Webhook(String),
}

/// A `jobs` row: id, name, spec, enabled, created, next_due, last_run.
type JobRow = (i64, String, String, bool, i64, Option<i64>, Option<i64>);

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Catalog {
    /// Checks a job's settings: name, sources (absolute paths that exist), destinations (in the
    /// catalog, writable), schedule, hooks.
    fn check_job(&self, name: &str, spec: &JobSpec) -> Result<(), Error> {
        if !valid_name(name) {
            return Err(Error::new(ErrorKind::InvalidInput, format!("name: {name:?} is not a valid job name"))
                .with_hint("use 1 to 64 letters, digits, '-', '_' or '.'"));
        }
        if spec.sources.is_empty() {
            return Err(Error::new(ErrorKind::InvalidInput, "source: a job needs at least one source")
                .with_hint("give the folders to back up with --source PATH"));
        }
        for s in &spec.sources {
            if !s.is_absolute() {
                return Err(Error::new(
                    ErrorKind::InvalidInput,
                    format!("source: {} is not an absolute path", s.display()),
                ));
            }
            if std::fs::symlink_metadata(s).is_err() {
                return Err(Error::new(ErrorKind::NotFound, format!("source: {} does not exist", s.display())));
            }
        }
        crate::fs::source::Excludes::new(&spec.excludes).map_err(|e| e.context("exclude"))?;
        if spec.destinations.is_empty() {
            return Err(Error::new(ErrorKind::InvalidInput, "destination: a job needs at least one destination")
                .with_hint("add one with --destination NAME (see `cairn destination list`)"));
        }
        for (i, d) in spec.destinations.iter().enumerate() {
            if spec.destinations[..i].contains(d) {
                return Err(Error::new(ErrorKind::InvalidInput, format!("destination: {d} is listed twice")));
            }
            let record = self.require_destination(d).map_err(|e| e.context("destination"))?;
            if record.read_only {
                return Err(Error::new(
                    ErrorKind::InvalidInput,
                    format!("destination: {d} is read-only, and a job writes to its destinations"),
                ));
            }
            if spec.structure != Structure::Incremental && matches!(record.kind.as_str(), "rest" | "rclone") {
                let what = if record.kind == "rest" { "a REST server" } else { "an rclone remote" };
                return Err(Error::new(
                    ErrorKind::InvalidInput,
                    format!("structure: {d} is {what}, reached through the restic REST protocol, which holds only repositories"),
                )
                .with_hint("use the incremental structure for REST and rclone destinations"));
            }
        }
        if let Some(s) = &spec.schedule {
            Schedule::parse(s).map_err(|e| e.context("schedule"))?;
        }
        for (field, hook) in [("pre-hook", &spec.pre_hook), ("post-hook", &spec.post_hook)] {
            if hook.as_deref().is_some_and(|h| h.trim().is_empty()) {
                return Err(Error::new(ErrorKind::InvalidInput, format!("{field}: the command is empty")));
            }
        }
        Ok(())
    }

    fn set_job_destinations(&self, job_id: i64, destinations: &[String]) -> Result<(), Error> {
        self.conn
            .execute("DELETE FROM job_destinations WHERE job_id = ?1", [job_id])
            .map_err(|e| db_error("cannot save the job", e))?;
        for (i, d) in destinations.iter().enumerate() {
            let dest = self.require_destination(d)?;
            self.conn
                .execute(
                    "INSERT INTO job_destinations (job_id, destination_id, position) VALUES (?1, ?2, ?3)",
                    params![job_id, dest.id, i as i64],
                )
                .map_err(|e| db_error("cannot save the job", e))?;
        }
        Ok(())
    }

    /// Adds a job, due next by its schedule after `now` (Unix seconds).
    pub fn create_job(&self, name: &str, spec: &JobSpec, now: i64) -> Result<JobRecord, Error> {
        self.check_job(name, spec)?;
        if self.get_job(name)?.is_some() {
            return Err(Error::new(ErrorKind::InvalidInput, format!("name: a job named {name:?} exists already"))
                .with_hint("choose another name, or update that job"));
        }
        let next_due = next_due(spec, now)?;
        let json = serde_json::to_string(spec).map_err(|e| Error::new(ErrorKind::Other, e.to_string()))?;
        let tx = self.conn.unchecked_transaction().map_err(|e| db_error("cannot save the job", e))?;
        self.conn
            .execute(
                "INSERT INTO jobs (name, spec, created, next_due) VALUES (?1, ?2, ?3, ?4)",
                params![name, json, now, next_due],
            )
            .map_err(|e| db_error("cannot save the job", e))?;
        let id = self.conn.last_insert_rowid();
        self.set_job_destinations(id, &spec.destinations)?;
        tx.commit().map_err(|e| db_error("cannot save the job", e))?;
        self.require_job(name)
    }

    /// Adds a job from a configuration export as it was (its destinations, restored just
    /// before, are read-only until made writable, so its runs fail until then, saying so).
    pub(crate) fn insert_recovered_job(
        &self,
        name: &str,
        spec: &JobSpec,
        enabled: bool,
        now: i64,
    ) -> Result<(), Error> {
        let json = serde_json::to_string(spec).map_err(|e| Error::new(ErrorKind::Other, e.to_string()))?;
        let tx = self.conn.unchecked_transaction().map_err(|e| db_error("cannot save the job", e))?;
        self.conn
            .execute(
                "INSERT INTO jobs (name, spec, enabled, created, next_due) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![name, json, enabled, now, next_due(spec, crate::process::now().secs)?],
            )
            .map_err(|e| db_error("cannot save the job", e))?;
        let id = self.conn.last_insert_rowid();
        self.set_job_destinations(id, &spec.destinations)?;
        tx.commit().map_err(|e| db_error("cannot save the job", e))
    }

    /// Replaces a job's settings (checked as for a new job).
    pub fn update_job(&self, name: &str, spec: &JobSpec, now: i64) -> Result<JobRecord, Error> {
        let job = self.require_job(name)?;
        self.check_job(name, spec)?;
        let json = serde_json::to_string(spec).map_err(|e| Error::new(ErrorKind::Other, e.to_string()))?;
        let next = if spec.schedule == job.spec.schedule { job.next_due } else { next_due(spec, now)? };
        let tx = self.conn.unchecked_transaction().map_err(|e| db_error("cannot save the job", e))?;
        self.conn
            .execute("UPDATE jobs SET spec = ?1, next_due = ?2 WHERE id = ?3", params![json, next, job.id])
            .map_err(|e| db_error("cannot save the job", e))?;
        self.set_job_destinations(job.id, &spec.destinations)?;
        tx.commit().map_err(|e| db_error("cannot save the job", e))?;
        self.require_job(name)
    }

    /// Deletes a job and its history.
    pub fn delete_job(&self, name: &str) -> Result<(), Error> {
        let job = self.require_job(name)?;
        self.conn.execute("DELETE FROM jobs WHERE id = ?1", [job.id]).map_err(|e| db_error("cannot delete", e))?;
        Ok(())
    }

    /// Enables or disables a job's schedule.
    pub fn set_job_enabled(&self, name: &str, enabled: bool) -> Result<(), Error> {
        let job = self.require_job(name)?;
        self.conn
            .execute("UPDATE jobs SET enabled = ?1 WHERE id = ?2", params![enabled, job.id])
            .map_err(|e| db_error("cannot update the job", e))?;
        Ok(())
    }

    /// Records that a job ran at `time` and is next due at `next_due`.
    pub fn set_job_ran(&self, name: &str, time: i64, next_due: Option<i64>) -> Result<(), Error> {
        let job = self.require_job(name)?;
        self.conn
            .execute("UPDATE jobs SET last_run = ?1, next_due = ?2 WHERE id = ?3", params![time, next_due, job.id])
            .map_err(|e| db_error("cannot update the job", e))?;
        Ok(())
    }

    fn job_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<JobRow> {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?))
    }

    fn job_of(&self, (id, name, spec, enabled, created, next_due, last_run): JobRow) -> Result<JobRecord, Error> {
        let mut spec: JobSpec = serde_json::from_str(&spec).map_err(|e| {
            Error::new(ErrorKind::Corrupt, format!("catalog: the settings of job {name} do not parse: {e}"))
        })?;
        // The destinations as stored (renames and deletions are reflected here).
        let mut stmt = self
            .conn
            .prepare(
                "SELECT d.name FROM job_destinations jd JOIN destinations d ON d.id = jd.destination_id
                 WHERE jd.job_id = ?1 ORDER BY jd.position",
            )
            .map_err(|e| db_error("cannot read a job", e))?;
        let rows = stmt.query_map([id], |r| r.get(0)).map_err(|e| db_error("cannot read a job", e))?;
        spec.destinations = rows.collect::<Result<Vec<String>, _>>().map_err(|e| db_error("cannot read a job", e))?;
        Ok(JobRecord { id, name, spec, enabled, created, next_due, last_run })
    }

    /// Every job, by name.
    pub fn list_jobs(&self) -> Result<Vec<JobRecord>, Error> {
        let rows: Vec<_> = {
            let mut stmt = self
                .conn
                .prepare("SELECT id, name, spec, enabled, created, next_due, last_run FROM jobs ORDER BY name")
                .map_err(|e| db_error("cannot list jobs", e))?;
            let rows = stmt.query_map([], Self::job_row).map_err(|e| db_error("cannot list jobs", e))?;
            rows.collect::<Result<_, _>>().map_err(|e| db_error("cannot list jobs", e))?
        };
        rows.into_iter().map(|r| self.job_of(r)).collect()
    }

    /// The job named `name`.
    pub fn get_job(&self, name: &str) -> Result<Option<JobRecord>, Error> {
        let row = self
            .conn
            .query_row(
                "SELECT id, name, spec, enabled, created, next_due, last_run FROM jobs WHERE name = ?1",
                [name],
                Self::job_row,
            )
            .optional()
            .map_err(|e| db_error("cannot read a job", e))?;
        row.map(|r| self.job_of(r)).transpose()
    }

    /// The job named `name`, or the error that says there is none.
    pub fn require_job(&self, name: &str) -> Result<JobRecord, Error> {
        self.get_job(name)?.ok_or_else(|| {
            Error::new(ErrorKind::NotFound, format!("no job named {name:?}"))
                .with_hint("list them with `cairn job list`")
        })
    }

    /// Adds a row to the run history.
    pub fn add_run(&self, run: &RunRecord) -> Result<i64, Error> {
        let job = self.require_job(&run.job)?;
        self.conn
            .execute(
                "INSERT INTO runs (job_id, destination, started, ended, status, files, bytes_read, bytes_added,
                    snapshot, error, output, bytes_total) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                params![
                    job.id,
                    run.destination,
                    run.started,
                    run.ended,
                    run.status.name(),
                    to_i64(run.files),
                    to_i64(run.bytes_read),
                    to_i64(run.bytes_added),
                    run.snapshot,
                    run.error,
                    run.output,
                    to_i64(run.bytes_total)
                ],
            )
            .map_err(|e| db_error("cannot record the run", e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// When `job` last ended a run that succeeded (to any destination).
    pub fn last_success(&self, job: &str) -> Result<Option<i64>, Error> {
        let job = self.require_job(job)?;
        self.conn
            .query_row("SELECT MAX(ended) FROM runs WHERE job_id = ?1 AND status = 'succeeded'", [job.id], |r| r.get(0))
            .map_err(|e| db_error("cannot read the history", e))
    }

    /// The newest `limit` runs, of one job or of all, newest first.
    pub fn runs(&self, job: Option<&str>, limit: u32) -> Result<Vec<RunRecord>, Error> {
        let job_id = job.map(|j| self.require_job(j).map(|r| r.id)).transpose()?;
        let mut stmt = self
            .conn
            .prepare(
                "SELECT r.id, j.name, r.destination, r.started, r.ended, r.status, r.files, r.bytes_read,
                    r.bytes_added, r.snapshot, r.error, r.output, r.bytes_total
                 FROM runs r JOIN jobs j ON j.id = r.job_id
                 WHERE ?1 IS NULL OR r.job_id = ?1 ORDER BY r.started DESC, r.id DESC LIMIT ?2",
            )
            .map_err(|e| db_error("cannot read the history", e))?;
        let rows = stmt
            .query_map(params![job_id, limit], |r| {
                let status: String = r.get(5)?;
                Ok(RunRecord {
                    id: r.get(0)?,
                    job: r.get(1)?,
                    destination: r.get(2)?,
                    started: r.get(3)?,
                    ended: r.get(4)?,
                    status: RunStatus::parse(&status),
                    files: r.get::<_, i64>(6)?.max(0) as u64,
                    bytes_read: r.get::<_, i64>(7)?.max(0) as u64,
                    bytes_added: r.get::<_, i64>(8)?.max(0) as u64,
                    snapshot: r.get(9)?,
                    error: r.get(10)?,
                    output: r.get(11)?,
                    bytes_total: r.get::<_, i64>(12)?.max(0) as u64,
                })
            })
            .map_err(|e| db_error("cannot read the history", e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| db_error("cannot read the history", e))
    }

    /// Adds a notification sink; a webhook must be an `http://` or `https://` URL.
    pub fn add_notification(&self, sink: &NotificationSink) -> Result<i64, Error> {
        let (kind, target) = match sink {
            NotificationSink::Command(c) => {
                if c.trim().is_empty() {
                    return Err(Error::new(ErrorKind::InvalidInput, "command: the command is empty"));
                }
                ("command", c)
            }
            NotificationSink::Webhook(u) => {
                let ok = reqwest::Url::parse(u).is_ok_and(|p| matches!(p.scheme(), "http" | "https") && p.has_host());
                if !ok {
                    return Err(Error::new(ErrorKind::InvalidInput, format!("webhook: {u:?} is not an http(s) URL"))
                        .with_hint("write it as https://host/path"));
                }
                ("webhook", u)
            }
        };
        self.conn
            .execute(
                "INSERT INTO notifications (kind, target, created) VALUES (?1, ?2, ?3)",
                params![kind, target, crate::process::now().secs],
            )
            .map_err(|e| db_error("cannot save the notification", e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// The notification sinks, with their ids.
    pub fn notifications(&self) -> Result<Vec<(i64, NotificationSink)>, Error> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, kind, target FROM notifications ORDER BY id")
            .map_err(|e| db_error("cannot read notifications", e))?;
        let rows = stmt
            .query_map([], |r| {
                let kind: String = r.get(1)?;
                let target: String = r.get(2)?;
                Ok((
                    r.get(0)?,
                    if kind == "webhook" {
                        NotificationSink::Webhook(target)
                    } else {
                        NotificationSink::Command(target)
                    },
                ))
            })
            .map_err(|e| db_error("cannot read notifications", e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| db_error("cannot read notifications", e))
    }

    /// Removes a notification sink.
    pub fn remove_notification(&self, id: i64) -> Result<(), Error> {
        let n = self
            .conn
            .execute("DELETE FROM notifications WHERE id = ?1", [id])
            .map_err(|e| db_error("cannot remove the notification", e))?;
        if n == 0 {
            return Err(Error::new(ErrorKind::NotFound, format!("no notification with id {id}"))
                .with_hint("list them with `cairn notify list`"));
        }
        Ok(())
    }
}

/// When a job with these settings is next due after `now`.
fn next_due(spec: &JobSpec, now: i64) -> Result<Option<i64>, Error> {
    spec.schedule.as_deref().map(|s| Schedule::parse(s).and_then(|s| s.next_after(now))).transpose()
}
