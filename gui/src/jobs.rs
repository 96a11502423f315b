//! Jobs: the list, the form, Run now with live progress and cancel, and history.

use std::path::PathBuf;
use std::sync::Arc;

use cairn_std::catalog::{Catalog, JobRecord, JobSpec, Retention, RunRecord, Structure};
use cairn_std::runner::{SystemClock, run_job};
use cairn_std::schedule::Schedule;

use crate::progress::Reporter;
use crate::{Gui, GuiError, JobForm, JobProgressView, JobRunView, JobView, RetentionForm, RunView, ScheduleCheck, now};

fn run_view(r: &RunRecord) -> RunView {
    RunView {
        id: r.id,
        job: r.job.clone(),
        destination: r.destination.clone(),
        started: r.started,
        ended: r.ended,
        status: r.status.name().to_string(),
        files: r.files,
        bytes_read: r.bytes_read,
        bytes_total: r.bytes_total,
        bytes_added: r.bytes_added,
        snapshot: r.snapshot.clone(),
        error: r.error.clone(),
    }
}

fn form_of(job: &JobRecord) -> JobForm {
    let s = &job.spec;
    JobForm {
        name: job.name.clone(),
        sources: s.sources.iter().map(|p| p.display().to_string()).collect(),
        excludes: s.excludes.clone(),
        destinations: s.destinations.clone(),
        schedule: s.schedule.clone().unwrap_or_default(),
        retention: RetentionForm {
            last: s.retention.last,
            hourly: s.retention.hourly,
            daily: s.retention.daily,
            weekly: s.retention.weekly,
            monthly: s.retention.monthly,
            yearly: s.retention.yearly,
        },
        structure: s.structure.name().to_string(),
        pre_hook: s.pre_hook.clone().unwrap_or_default(),
        post_hook: s.post_hook.clone().unwrap_or_default(),
        not_on_battery: s.not_on_battery,
        not_on_metered: s.not_on_metered,
    }
}

fn spec_of(form: &JobForm) -> Result<JobSpec, GuiError> {
    let nonempty =
        |v: &[String]| -> Vec<String> { v.iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect() };
    let mut spec = JobSpec::default();
    spec.sources = nonempty(&form.sources).into_iter().map(PathBuf::from).collect();
    spec.excludes = nonempty(&form.excludes);
    spec.destinations = nonempty(&form.destinations);
    spec.schedule = Some(form.schedule.trim().to_string()).filter(|s| !s.is_empty());
    let r = form.retention;
    let mut retention = Retention::default();
    retention.last = r.last;
    retention.hourly = r.hourly;
    retention.daily = r.daily;
    retention.weekly = r.weekly;
    retention.monthly = r.monthly;
    retention.yearly = r.yearly;
    spec.retention = retention;
    spec.structure =
        if form.structure.is_empty() { Structure::Incremental } else { Structure::parse(&form.structure)? };
    spec.pre_hook = Some(form.pre_hook.trim().to_string()).filter(|s| !s.is_empty());
    spec.post_hook = Some(form.post_hook.trim().to_string()).filter(|s| !s.is_empty());
    spec.not_on_battery = form.not_on_battery;
    spec.not_on_metered = form.not_on_metered;
    if spec.sources.is_empty() {
        return Err(GuiError::field("sources", "add at least one folder to back up"));
    }
    if spec.destinations.is_empty() {
        return Err(GuiError::field("destinations", "choose at least one destination"));
    }
    Ok(spec)
}

fn job_view(catalog: &Catalog, job: &JobRecord, running: bool) -> Result<JobView, GuiError> {
    let progress = catalog.running_jobs()?.into_iter().find(|r| r.job == job.name).map(|r| JobProgressView {
        percent: r.percent(),
        here: r.pid == std::process::id(),
        destination: r.destination,
    });
    // The newest run per destination.
    let mut last_runs: Vec<RunView> = Vec::new();
    for r in catalog.runs(Some(&job.name), 50)? {
        if !last_runs.iter().any(|l| l.destination == r.destination) {
            last_runs.push(run_view(&r));
        }
    }
    Ok(JobView {
        form: form_of(job),
        enabled: job.enabled,
        next_due: job.next_due,
        last_run: job.last_run,
        last_runs,
        running,
        progress,
    })
}

/// Every job, by name; `running_here` are those this app runs.
pub(crate) fn job_views(catalog: &Catalog, running_here: &[String]) -> Result<Vec<JobView>, GuiError> {
    catalog.list_jobs()?.iter().map(|j| job_view(catalog, j, running_here.contains(&j.name))).collect()
}

fn op_of(job: &str) -> String {
    format!("job:{job}")
}

impl Gui {
    /// Every job, by name.
    pub async fn jobs(&self) -> Result<Vec<JobView>, GuiError> {
        let running = self.jobs_running_here();
        self.on_thread(move |catalog| async move { job_views(&catalog, &running) }).await
    }

    /// The jobs this app runs now.
    pub(crate) fn jobs_running_here(&self) -> Vec<String> {
        self.ops
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .filter_map(|k| k.strip_prefix("job:").map(str::to_string))
            .collect()
    }

    /// Creates a job (`create`) or changes job `form.name`.
    pub async fn save_job(&self, form: JobForm, create: bool) -> Result<JobView, GuiError> {
        self.on_thread(move |catalog| async move {
            let spec = spec_of(&form)?;
            let name = form.name.trim();
            let job = if create {
                catalog.create_job(name, &spec, now())?
            } else {
                catalog.update_job(name, &spec, now())?
            };
            job_view(&catalog, &job, false)
        })
        .await
    }

    /// Deletes a job and its history.
    pub async fn delete_job(&self, name: String) -> Result<(), GuiError> {
        self.on_thread(move |catalog| async move { Ok(catalog.delete_job(&name)?) }).await
    }

    /// Turns a job's schedule on or off.
    pub async fn set_job_enabled(&self, name: String, enabled: bool) -> Result<JobView, GuiError> {
        self.on_thread(move |catalog| async move {
            catalog.set_job_enabled(&name, enabled)?;
            job_view(&catalog, &catalog.require_job(&name)?, false)
        })
        .await
    }

    /// When a schedule fires next, or why it does not parse (empty: run by hand only).
    pub fn check_schedule(&self, schedule: &str) -> ScheduleCheck {
        let s = schedule.trim();
        if s.is_empty() {
            return ScheduleCheck { ok: true, next: None, error: None };
        }
        match Schedule::parse(s).and_then(|p| p.next_after(now())) {
            Ok(next) => ScheduleCheck { ok: true, next: Some(next), error: None },
            Err(e) => ScheduleCheck { ok: false, next: None, error: Some(crate::GuiError::from(e).message) },
        }
    }

    /// Runs a job now, sending progress under operation `job:NAME` (files, bytes, rate, time
    /// left, current file) until it ends; [`Gui::cancel`] stops it between files.
    pub async fn run_job(&self, name: String) -> Result<JobRunView, GuiError> {
        let op = op_of(&name);
        let (cancel, guard) = self.start_op(&op)?;
        let events = self.emit();
        let notifier = self.notifier.clone();
        let result = self
            .on_thread(move |catalog| async move {
                // The run's scan of the sources tells the totals.
                let mut reporter = Reporter::new(&op, "scanning", events, cancel.clone(), Arc::default());
                reporter.set_phase("starting");
                let worker = cairn_std::ThreadWorker::new();
                let report = run_job(&catalog, &name, &worker, &SystemClock, &mut reporter).await;
                let cancelled = cancel.load(std::sync::atomic::Ordering::Relaxed);
                reporter.finish(if cancelled { "cancelled" } else { "done" });
                let report = report?;
                let status = match report.status {
                    _ if cancelled => "cancelled",
                    s => s.name(),
                };
                let event = cairn_std::daemon::Event::for_run(&report, now());
                // A run the user stopped is not news for the desktop.
                let desktop = notifier.as_deref().filter(|_| !cancelled);
                match cairn_std::daemon::tell(&catalog, &event, desktop).await {
                    Ok(failures) => failures.iter().for_each(|f| eprintln!("cairn-desktop: {f}")),
                    Err(e) => eprintln!("cairn-desktop: cannot tell the end of the run: {e}"),
                }
                Ok(JobRunView {
                    job: report.job.clone(),
                    status: status.into(),
                    runs: report.runs.iter().map(run_view).collect(),
                })
            })
            .await;
        drop(guard);
        result
    }

    /// A job's runs, newest first (all jobs' with `None`).
    pub async fn job_history(&self, name: Option<String>, limit: u32) -> Result<Vec<RunView>, GuiError> {
        self.on_thread(move |catalog| async move {
            Ok(catalog.runs(name.as_deref(), limit.clamp(1, 10_000))?.iter().map(run_view).collect())
        })
        .await
    }
}
