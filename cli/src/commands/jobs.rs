//! `cairn job`, `notify`, `daemon`, `catalog`, `recover` and `archive`: the management layer
//! over the catalog (the same functions the desktop app calls, from `cairn-std`).

use std::path::PathBuf;
use std::process::ExitCode;

use cairn_std::catalog::{Catalog, JobRecord, JobSpec, NotificationSink, Retention, RunRecord, Structure};
use cairn_std::daemon::{Daemon, Event, emit, hold_instance_lock, send_test};
use cairn_std::desktop::{DesktopNotifications, Notifier, machine_conditions};
use cairn_std::runner::{JobStatus, SystemClock, extract_archive, list_archives, read_archive, run_job};
use cairn_std::{Error, ErrorKind, ThreadWorker, local_time, now};
use serde_json::json;

use crate::args::{
    ArchiveCommand, CatalogCommand, DaemonArgs, Global, JobCommand, JobSettingsArgs, NotifyCommand, RecoverArgs,
};
use crate::output::{CliProgress, bytes};
use crate::repo::{Location, ask_secret, catalog_paths, given_secret, open_catalog};

fn time(t: i64) -> String {
    local_time(cairn_core::Timestamp::new(t, 0))
}

/// The job settings from the command line, over `base` (an update keeps what is not given).
fn spec_from(g: &Global, a: &JobSettingsArgs, base: JobSpec) -> Result<JobSpec, Error> {
    let mut spec = base;
    if !a.sources.is_empty() {
        spec.sources = a
            .sources
            .iter()
            .map(|p| std::path::absolute(p).map_err(|e| Error::io("source:", p, e)))
            .collect::<Result<_, _>>()?;
    }
    if !g.destination.is_empty() {
        spec.destinations = g.destination.clone();
    }
    if !a.exclude.is_empty() {
        spec.excludes = a.exclude.clone();
    }
    match a.schedule.as_deref() {
        Some("none" | "") => spec.schedule = None,
        Some(s) => spec.schedule = Some(s.to_string()),
        None => {}
    }
    if let Some(s) = &a.structure {
        spec.structure = Structure::parse(s)?;
    }
    let r = &mut spec.retention;
    for (slot, v) in [
        (&mut r.last, a.keep_last),
        (&mut r.hourly, a.keep_hourly),
        (&mut r.daily, a.keep_daily),
        (&mut r.weekly, a.keep_weekly),
        (&mut r.monthly, a.keep_monthly),
        (&mut r.yearly, a.keep_yearly),
    ] {
        if let Some(v) = v {
            *slot = v;
        }
    }
    for (slot, v) in [(&mut spec.pre_hook, &a.pre_hook), (&mut spec.post_hook, &a.post_hook)] {
        match v.as_deref() {
            Some("") => *slot = None,
            Some(c) => *slot = Some(c.to_string()),
            None => {}
        }
    }
    for (slot, v) in [(&mut spec.not_on_battery, a.not_on_battery), (&mut spec.not_on_metered, a.not_on_metered)] {
        if let Some(v) = v {
            *slot = v;
        }
    }
    Ok(spec)
}

fn retention_text(r: &Retention) -> String {
    if r.is_empty() {
        return "keep everything".into();
    }
    let parts: Vec<String> = [
        ("last", r.last),
        ("hourly", r.hourly),
        ("daily", r.daily),
        ("weekly", r.weekly),
        ("monthly", r.monthly),
        ("yearly", r.yearly),
    ]
    .iter()
    .filter(|(_, n)| *n > 0)
    .map(|(k, n)| format!("{k} {n}"))
    .collect();
    format!("keep {}", parts.join(", "))
}

fn print_job(j: &JobRecord) {
    let s = &j.spec;
    println!("{}{}", j.name, if j.enabled { "" } else { " [disabled]" });
    println!("  sources:      {}", s.sources.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(" "));
    println!("  destinations: {}", s.destinations.join(", "));
    if !s.excludes.is_empty() {
        println!("  excludes:     {}", s.excludes.join(" "));
    }
    println!("  structure:    {}", s.structure.name());
    println!("  schedule:     {}", s.schedule.as_deref().unwrap_or("none (run with `cairn job run`)"));
    if let Some(due) = j.next_due {
        println!("  next run:     {}", time(due));
    }
    println!("  retention:    {}", retention_text(&s.retention));
    if let Some(h) = &s.pre_hook {
        println!("  pre-hook:     {h}");
    }
    if let Some(h) = &s.post_hook {
        println!("  post-hook:    {h}");
    }
    let waits: Vec<&str> = [(s.not_on_battery, "mains power"), (s.not_on_metered, "an unmetered network")]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, what)| *what)
        .collect();
    if !waits.is_empty() {
        println!("  waits for:    {}", waits.join(" and "));
    }
    if let Some(t) = j.last_run {
        println!("  last run:     {}", time(t));
    }
}

fn print_run(r: &RunRecord) {
    let what = r.snapshot.as_deref().map(|s| if s.len() == 64 { &s[..8] } else { s }).unwrap_or("-");
    let error = r.error.as_deref().map(|e| format!("  {e}")).unwrap_or_default();
    println!(
        "{}  {:<12} {:<16} {:<10} {:>7} files {:>10} read {:>10} added {:>5}s  {what}{error}",
        time(r.started),
        r.job,
        r.destination,
        r.status.name(),
        r.files,
        bytes(r.bytes_read),
        bytes(r.bytes_added),
        r.ended - r.started,
    );
}

pub(crate) async fn job_cmd(g: &Global, command: &JobCommand, worker: &ThreadWorker) -> Result<ExitCode, Error> {
    let catalog = open_catalog(g)?;
    match command {
        JobCommand::Create(a) => {
            let spec = spec_from(g, &a.settings, JobSpec::default())?;
            let job = catalog.create_job(&a.name, &spec, now().secs)?;
            if g.json {
                println!("{}", serde_json::to_string(&job).unwrap_or_default());
            } else if !g.quiet {
                println!("created job {}", job.name);
                print_job(&job);
            }
        }
        JobCommand::Update(a) => {
            let job = catalog.require_job(&a.name)?;
            let spec = spec_from(g, &a.settings, job.spec.clone())?;
            let job = catalog.update_job(&a.name, &spec, now().secs)?;
            if g.json {
                println!("{}", serde_json::to_string(&job).unwrap_or_default());
            } else if !g.quiet {
                println!("updated job {}", job.name);
                print_job(&job);
            }
        }
        JobCommand::List => {
            let jobs = catalog.list_jobs()?;
            if g.json {
                println!("{}", serde_json::to_string(&jobs).unwrap_or_default());
            } else if jobs.is_empty() {
                println!("no jobs (add one with `cairn job create --name NAME --source DIR --destination NAME`)");
            } else {
                for j in &jobs {
                    print_job(j);
                }
            }
        }
        JobCommand::Get { name } => {
            let job = catalog.require_job(name)?;
            let runs = catalog.runs(Some(name), 10)?;
            if g.json {
                println!("{}", json!({ "job": job, "runs": runs }));
            } else {
                print_job(&job);
                if !runs.is_empty() {
                    println!("latest runs:");
                    for r in &runs {
                        print_run(r);
                    }
                }
            }
        }
        JobCommand::Delete { name } => {
            catalog.delete_job(name)?;
            if !g.json && !g.quiet {
                println!("deleted job {name} and its history (its backups stay on the destinations)");
            }
        }
        JobCommand::Enable { name } | JobCommand::Disable { name } => {
            let enable = matches!(command, JobCommand::Enable { .. });
            catalog.set_job_enabled(name, enable)?;
            if !g.json && !g.quiet {
                println!("job {name} {}", if enable { "enabled" } else { "disabled" });
            }
        }
        JobCommand::History { name, limit } => {
            let runs = catalog.runs(name.as_deref(), *limit)?;
            if g.json {
                println!("{}", serde_json::to_string(&runs).unwrap_or_default());
            } else if runs.is_empty() {
                println!("no runs yet");
            } else {
                for r in &runs {
                    print_run(r);
                }
            }
        }
        JobCommand::Run { name } => {
            let mut progress = CliProgress::new(g, "backing up", None);
            let result = run_job(&catalog, name, worker, &SystemClock, &mut progress).await;
            progress.finish();
            let report = result?;
            let problems = emit(&catalog, &Event::for_run(&report, now().secs)).await?;
            for p in &problems {
                eprintln!("warning: {p}");
            }
            if g.json {
                println!("{}", serde_json::to_string(&report).unwrap_or_default());
            } else if !g.quiet {
                for r in &report.runs {
                    print_run(r);
                }
                if let Some(out) = report.runs.first().and_then(|r| r.output.as_deref()) {
                    println!("{}", out.trim_end());
                }
                println!("job {}: {}", report.job, report.status.name());
            }
            return Ok(match report.status {
                JobStatus::Succeeded => ExitCode::SUCCESS,
                JobStatus::Partial => ExitCode::from(crate::exit::INCOMPLETE),
                JobStatus::Failed => ExitCode::FAILURE,
            });
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn notify_cmd(g: &Global, command: &NotifyCommand) -> Result<ExitCode, Error> {
    let catalog = open_catalog(g)?;
    match command {
        NotifyCommand::Add { webhook, command } => {
            let sink = match (webhook, command) {
                (Some(u), _) => NotificationSink::Webhook(u.clone()),
                (None, Some(c)) => NotificationSink::Command(c.clone()),
                (None, None) => return Err(Error::new(ErrorKind::InvalidInput, "give --webhook URL or --command CMD")),
            };
            let id = catalog.add_notification(&sink)?;
            if g.json {
                println!("{}", json!({ "id": id }));
            } else if !g.quiet {
                println!("added notification {id}");
            }
        }
        NotifyCommand::List => {
            let all = catalog.notifications()?;
            if g.json {
                let items: Vec<_> = all.iter().map(|(id, s)| json!({ "id": id, "sink": s })).collect();
                println!("{}", serde_json::Value::Array(items));
            } else if all.is_empty() {
                println!("no notifications (add one with `cairn notify add --webhook URL`)");
            } else {
                for (id, s) in &all {
                    match s {
                        NotificationSink::Webhook(u) => println!("{id:>4}  webhook  {u}"),
                        NotificationSink::Command(c) => println!("{id:>4}  command  {c}"),
                    }
                }
            }
        }
        NotifyCommand::Remove { id } => {
            catalog.remove_notification(*id)?;
            if !g.json && !g.quiet {
                println!("removed notification {id}");
            }
        }
        NotifyCommand::Desktop { which } => {
            if let Some(w) = which {
                let parsed = DesktopNotifications::parse(w).ok_or_else(|| {
                    Error::new(ErrorKind::InvalidInput, format!("unknown choice {w:?}"))
                        .with_hint("use off, failures or all")
                })?;
                catalog.set_desktop_notifications(parsed)?;
            }
            let now = catalog.desktop_notifications()?.name();
            if g.json {
                println!("{}", json!({ "desktop": now }));
            } else if !g.quiet {
                println!("desktop notifications: {now}");
            }
        }
        NotifyCommand::Test => {
            let problems = send_test(&catalog, now().secs, desktop_program()).await?;
            if problems.is_empty() {
                if !g.json && !g.quiet {
                    println!("a test event was delivered to every sink");
                }
            } else {
                return Err(Error::new(ErrorKind::Io, problems.join("; ")));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn daemon_cmd(g: &Global, a: &DaemonArgs, worker: &ThreadWorker) -> Result<ExitCode, Error> {
    if a.systemd_unit {
        let program = std::env::current_exe()
            .and_then(std::fs::canonicalize)
            .map_err(|e| Error::new(ErrorKind::Io, format!("cannot find the path of this program: {e}")))?;
        print!("{}", cairn_std::daemon::daemon_unit(&program)?);
        return Ok(ExitCode::SUCCESS);
    }
    let catalog = open_catalog(g)?;
    if a.pause.is_some() || a.resume {
        return pause_cmd(g, &catalog, a.pause.as_deref());
    }
    let _only_daemon = match hold_instance_lock(&catalog_paths(g)?.0) {
        Ok(held) => held,
        // Started twice (the systemd unit and the login fallback): the one running is enough.
        Err(e) if e.kind() == ErrorKind::Locked => {
            eprintln!("{e}; nothing to do");
            return Ok(ExitCode::SUCCESS);
        }
        Err(e) => return Err(e),
    };
    let daemon =
        Daemon::new(&catalog, worker, SystemClock).with_desktop(Notifier::start(desktop_program()), machine_conditions);
    let mut waiting_before = Vec::new();
    loop {
        let report = daemon.tick().await?;
        let did_something = !(report.jobs.is_empty()
            && report.tests.is_empty()
            && report.exports.is_empty()
            && report.problems.is_empty());
        if g.json {
            if did_something || a.once {
                println!("{}", serde_json::to_string(&report).unwrap_or_default());
            }
        } else if !g.quiet {
            let stamp = time(now().secs);
            for (job, status) in &report.jobs {
                println!("{stamp} job {job}: {status}");
            }
            for (d, ok) in &report.tests {
                println!("{stamp} destination {d}: test {}", if *ok { "passed" } else { "FAILED" });
            }
            for d in &report.exports {
                println!("{stamp} configuration exported to {d}");
            }
            if report.waiting != waiting_before {
                for (job, why) in &report.waiting {
                    println!("{stamp} job {job}: {why}");
                }
            }
        }
        waiting_before = report.waiting;
        for p in &report.problems {
            eprintln!("warning: {p}");
        }
        if a.once {
            return Ok(ExitCode::SUCCESS);
        }
        daemon.idle().await?;
    }
}

/// `daemon --pause DURATION|tomorrow` and `daemon --resume`.
fn pause_cmd(g: &Global, catalog: &Catalog, pause: Option<&str>) -> Result<ExitCode, Error> {
    let now = now().secs;
    let until = match pause {
        None => None,
        Some("tomorrow") => Some(cairn_std::schedule::tomorrow_morning(now)?),
        Some(d) => Some(now.saturating_add(i64::try_from(crate::durations::parse_pause(d)?).unwrap_or(i64::MAX))),
    };
    catalog.set_paused_until(until)?;
    if g.json {
        println!("{}", json!({ "paused_until": until }));
    } else if !g.quiet {
        match until {
            Some(t) => println!("no scheduled job starts before {}; what falls due meanwhile runs then", time(t)),
            None => println!("scheduled jobs run again"),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The desktop app beside this program (as the package installs them), which a click on a
/// desktop notification opens.
fn desktop_program() -> Option<PathBuf> {
    cairn_std::paths::program_beside_this("cairn-desktop")
}

pub(crate) async fn catalog_cmd(g: &Global, command: &CatalogCommand) -> Result<ExitCode, Error> {
    let catalog = open_catalog(g)?;
    match command {
        CatalogCommand::RecoveryKit => {
            let kit = catalog.recovery_kit();
            if g.json {
                println!("{}", json!({ "recovery_kit": String::from_utf8_lossy(kit.expose()) }));
            } else {
                println!("{}", String::from_utf8_lossy(kit.expose()));
                if !g.quiet {
                    eprintln!(
                        "keep this line offline (printed, in a password manager): with a configuration export it rebuilds the catalog, secrets included"
                    );
                }
            }
        }
        CatalogCommand::Export { destination } => {
            let file = cairn_std::recovery::export_config(&catalog, destination, now().secs).await?;
            if g.json {
                println!("{}", json!({ "file": file }));
            } else if !g.quiet {
                println!("wrote {file} to destination {destination}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn recover_cmd(g: &Global, a: &RecoverArgs) -> Result<ExitCode, Error> {
    let kit = match given_secret("CAIRN_RECOVERY_KIT", a.kit_file.as_deref())? {
        Some(k) => k,
        None if std::io::IsTerminal::is_terminal(&std::io::stdin()) => ask_secret("recovery kit: ", None)?,
        None => {
            return Err(Error::new(ErrorKind::InvalidInput, "no recovery kit given")
                .with_hint("set CAIRN_RECOVERY_KIT or use --kit-file FILE"));
        }
    };
    let mut from_global = g.clone();
    from_global.repo = Some(a.from.clone());
    from_global.destination = Vec::new();
    let location = Location::from_args(&from_global)?;
    let from = location.url.open()?;
    let mut catalog = open_catalog(g)?;
    let report = cairn_std::recovery::recover(&mut catalog, &from, &kit).await?;
    if g.json {
        println!("{}", serde_json::to_string(&report).unwrap_or_default());
    } else if !g.quiet {
        println!("recovered the catalog from {} (exported {})", report.export, time(report.exported_at));
        println!(
            "  destinations (read-only until `cairn destination update NAME --writable`): {}",
            report.destinations.join(", ")
        );
        println!("  jobs: {}", if report.jobs.is_empty() { "none".into() } else { report.jobs.join(", ") });
        println!("  notifications: {}", report.notifications);
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn archive_cmd(g: &Global, command: &ArchiveCommand) -> Result<ExitCode, Error> {
    let location = Location::from_args(g)?;
    let dest = location.url.open()?;
    match command {
        ArchiveCommand::List { job } => {
            let all = list_archives(&dest, job.as_deref()).await?;
            if g.json {
                println!("{}", serde_json::to_string(&all).unwrap_or_default());
            } else if all.is_empty() {
                println!("no archives there");
            } else {
                for a in &all {
                    println!("{}  {:>10}  {}", time(a.time), bytes(a.size), a.name);
                }
            }
        }
        ArchiveCommand::Restore { name, job, target } => {
            let all = list_archives(&dest, job.as_deref()).await?;
            let chosen = if name == "latest" { all.last() } else { all.iter().find(|a| &a.name == name) };
            let chosen = chosen.ok_or_else(|| {
                Error::new(ErrorKind::NotFound, format!("no archive {name:?} there"))
                    .with_hint("list them with `cairn archive list`")
            })?;
            let file = read_archive(&dest, chosen).await?;
            extract_archive(file, chosen.compressed, target)?;
            if g.json {
                println!("{}", json!({ "archive": chosen.name, "target": target }));
            } else if !g.quiet {
                println!("extracted {} into {}", chosen.name, target.display());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
