//! The daemon on a real catalog and a real local destination, driven by an injected clock:
//! jobs run when their schedule's slot comes (once for slots missed while asleep), destinations
//! are re-tested daily and their disk info refreshed every 6 hours, and events reach a real
//! HTTP listener as webhook POSTs and a command sink on its stdin.

use std::cell::Cell;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;

use cairn_std::catalog::{Catalog, JobSpec, NewDestination, NotificationSink};
use cairn_std::daemon::Daemon;
use cairn_std::health::test_saved;
use cairn_std::runner::Clock;
use cairn_std::{ThreadWorker, runtime};

/// A clock the test moves by hand.
struct TestClock<'a>(&'a Cell<i64>);

impl Clock for TestClock<'_> {
    fn now(&self) -> i64 {
        self.0.get()
    }
}

/// A real HTTP listener on 127.0.0.1 that answers 200 to every POST and hands over the bodies.
fn listener() -> (String, mpsc::Receiver<serde_json::Value>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}/hooks/cairn", l.local_addr().unwrap().port());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in l.incoming() {
            let Ok(mut stream) = stream else { break };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            assert!(line.starts_with("POST /hooks/cairn "), "{line}");
            let mut len = 0usize;
            let mut json = false;
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).unwrap();
                let h = h.trim_end().to_ascii_lowercase();
                if h.is_empty() {
                    break;
                }
                if let Some(v) = h.strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
                json |= h == "content-type: application/json";
            }
            assert!(json, "a JSON body");
            let mut body = vec![0u8; len];
            reader.read_exact(&mut body).unwrap();
            stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").unwrap();
            if tx.send(serde_json::from_slice(&body).unwrap()).is_err() {
                break;
            }
        }
    });
    (url, rx)
}

/// A folder with one file to back up, and a new catalog, under `dir`.
fn source_and_catalog(dir: &std::path::Path) -> (std::path::PathBuf, Catalog) {
    let src = dir.join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("notes.txt"), b"remember the milk").unwrap();
    (src, Catalog::open(&dir.join("c.sqlite"), &dir.join("c.key")).unwrap())
}

#[test]
fn the_daemon_runs_due_jobs_retests_and_notifies() {
    let t = tempfile::tempdir().unwrap();
    let (src, catalog) = source_and_catalog(t.path());
    let worker = ThreadWorker::new();
    let rt = runtime(&worker).unwrap();
    // 2026-11-22 10:17:00 UTC.
    let t0 = 1_795_342_620;
    let now = Cell::new(t0);
    rt.block_on(async {
        catalog.create_destination(&NewDestination::new("disk", t.path().join("repo").to_str().unwrap())).unwrap();
        let first = test_saved(&catalog, "disk", t0, &mut |_| {}).await.unwrap();
        assert!(first.ok && first.initialised, "{first:?}");
        let mut spec = JobSpec::default();
        spec.sources = vec![src.clone()];
        spec.destinations = vec!["disk".into()];
        spec.schedule = Some("cron 0 * * * *".into()); // every hour, on the hour
        let job = catalog.create_job("notes", &spec, t0).unwrap();
        assert_eq!(job.next_due, Some(t0 + 43 * 60), "11:00");

        let (url, events) = listener();
        catalog.add_notification(&NotificationSink::Webhook(url)).unwrap();
        let log = t.path().join("events.log");
        catalog
            .add_notification(&NotificationSink::Command(format!(
                "cat >> {}; echo >> {}",
                log.display(),
                log.display()
            )))
            .unwrap();

        let daemon = Daemon::new(&catalog, &worker, TestClock(&now));
        // Not due yet: nothing runs; disk info (never measured) is refreshed.
        let tick = daemon.tick().await.unwrap();
        assert!(tick.jobs.is_empty() && tick.tests.is_empty(), "{tick:?}");
        assert_eq!(tick.disk_info, ["disk"]);
        assert_eq!(daemon.idle_for().unwrap().as_secs(), 60);

        // 11:00: the job runs, and the webhook hears of it.
        now.set(t0 + 43 * 60);
        let tick = daemon.tick().await.unwrap();
        assert_eq!(tick.jobs, [("notes".to_string(), "succeeded".to_string())], "{tick:?}");
        assert!(tick.problems.is_empty(), "{:?}", tick.problems);
        let event = events.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
        assert_eq!(event["event"], "backup_succeeded");
        assert_eq!(event["job"], "notes");
        assert_eq!(event["runs"][0]["destination"], "disk");
        assert_eq!(catalog.require_job("notes").unwrap().next_due, Some(t0 + 43 * 60 + 3600));
        // Twice in the same minute: it does not run again.
        assert!(daemon.tick().await.unwrap().jobs.is_empty());

        // The machine slept through three slots: the job runs once on waking.
        now.set(t0 + 43 * 60 + 3 * 3600 + 600);
        assert_eq!(daemon.tick().await.unwrap().jobs.len(), 1);
        events.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
        assert_eq!(catalog.require_job("notes").unwrap().next_due, Some(t0 + 43 * 60 + 4 * 3600));
        assert_eq!(catalog.runs(Some("notes"), 10).unwrap().len(), 2);

        // A day later the destination is re-tested; once it is gone, it is reported unhealthy
        // and the job's run fails, and both events arrive.
        catalog.set_job_enabled("notes", false).unwrap();
        std::fs::rename(t.path().join("repo"), t.path().join("moved")).unwrap();
        std::fs::write(t.path().join("repo"), b"a file now").unwrap();
        now.set(t0 + 86_400 + 60);
        let tick = daemon.tick().await.unwrap();
        assert_eq!(tick.tests, [("disk".to_string(), false)], "{tick:?}");
        let event = events.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
        assert_eq!(event["event"], "destination_unhealthy");
        assert_eq!(event["destination"], "disk");
        let d = catalog.require_destination("disk").unwrap();
        assert_eq!(d.last_test.as_ref().map(|(t, ok, _)| (*t, *ok)), Some((t0 + 86_400 + 60, false)));
        catalog.set_job_enabled("notes", true).unwrap();
        let report =
            cairn_std::runner::run_job(&catalog, "notes", &worker, &TestClock(&now), &mut cairn_core::NoProgress)
                .await
                .unwrap();
        assert_eq!(report.status, cairn_std::runner::JobStatus::Failed);
        let event = cairn_std::daemon::Event::for_run(&report, now.get());
        assert!(cairn_std::daemon::emit(&catalog, &event).await.unwrap().is_empty());
        let failed = events.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
        assert_eq!(failed["event"], "backup_failed");

        // The command sink saw every event too, one JSON object per line.
        let lines = std::fs::read_to_string(&log).unwrap();
        let kinds: Vec<String> = lines
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["event"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(kinds, ["backup_succeeded", "backup_succeeded", "destination_unhealthy", "backup_failed"]);
    });
}

/// Whether the test's machine runs on battery (what UPower would say).
static ON_BATTERY: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn test_conditions() -> cairn_std::desktop::Conditions {
    cairn_std::desktop::Conditions {
        on_battery: Some(ON_BATTERY.load(std::sync::atomic::Ordering::SeqCst)),
        ..Default::default()
    }
}

#[test]
fn the_daemon_pauses_waits_for_mains_power_and_tells_the_desktop() {
    use cairn_std::desktop::{DesktopNotifications, Notifier};
    use std::time::Duration;
    let t = tempfile::tempdir().unwrap();
    let (src, catalog) = source_and_catalog(t.path());
    let worker = ThreadWorker::new();
    let rt = runtime(&worker).unwrap();
    let bus = cairn_e2e::notifications::SessionBus::start();
    // What a click runs: the desktop app, here a script noting how it was asked to open.
    let opener = t.path().join("cairn-desktop");
    let clicked = t.path().join("clicked");
    std::fs::write(&opener, format!("#!/bin/sh\necho \"$@\" > {}\n", clicked.display())).unwrap();
    std::fs::set_permissions(&opener, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    // 2026-11-22 10:17:00 UTC.
    let t0 = 1_795_342_620;
    let now = Cell::new(t0);
    rt.block_on(async {
        catalog.create_destination(&NewDestination::new("disk", t.path().join("repo").to_str().unwrap())).unwrap();
        assert!(test_saved(&catalog, "disk", t0, &mut |_| {}).await.unwrap().ok);
        let mut spec = JobSpec::default();
        spec.sources = vec![src.clone()];
        spec.destinations = vec!["disk".into()];
        spec.schedule = Some("cron 0 * * * *".into());
        spec.not_on_battery = true;
        catalog.create_job("docs", &spec, t0).unwrap();
        let daemon = Daemon::new(&catalog, &worker, TestClock(&now))
            .with_desktop(Notifier::on_bus(Some(bus.address.clone()), Some(opener.clone())), test_conditions);
        let eleven = t0 + 43 * 60;

        // Paused until 12:30: the 11:00 and 12:00 slots wait, and run once when it ends.
        catalog.set_paused_until(Some(eleven + 90 * 60)).unwrap();
        now.set(eleven);
        let tick = daemon.tick().await.unwrap();
        assert!(tick.jobs.is_empty(), "{tick:?}");
        assert_eq!(tick.waiting, [("docs".to_string(), "backups are paused".to_string())]);
        assert_eq!(daemon.idle_for().unwrap().as_secs(), 60, "a waiting job is looked at each minute, not each second");
        now.set(eleven + 3600);
        assert!(daemon.tick().await.unwrap().jobs.is_empty());
        // 12:20, two intervals since its creation, but paused: not overdue yet.
        now.set(eleven + 80 * 60);
        let tick = daemon.tick().await.unwrap();
        assert!(tick.jobs.is_empty() && tick.events.is_empty(), "{tick:?}");

        // The pause is over, but the machine is on battery: still waiting.
        ON_BATTERY.store(true, std::sync::atomic::Ordering::SeqCst);
        now.set(eleven + 90 * 60 + 1);
        let tick = daemon.tick().await.unwrap();
        assert_eq!(tick.waiting, [("docs".to_string(), "waits for mains power".to_string())]);
        // Created at 10:17 and held back since: by 12:30 it is two intervals without success.
        let overdue = bus.next(Duration::from_secs(10)).expect("the overdue job reached the desktop");
        assert_eq!((overdue.summary.as_str(), overdue.urgency), ("docs is overdue", Some(2)));
        assert!(overdue.body.contains("since 2026-11-2"), "{overdue:?}");
        // On mains power it runs, once for the three slots; a routine success stays off the desktop.
        ON_BATTERY.store(false, std::sync::atomic::Ordering::SeqCst);
        now.set(eleven + 100 * 60);
        let tick = daemon.tick().await.unwrap();
        assert_eq!(tick.jobs, [("docs".to_string(), "succeeded".to_string())], "{tick:?}");
        assert!(tick.problems.is_empty(), "{:?}", tick.problems);
        assert!(daemon.tick().await.unwrap().jobs.is_empty());
        let shown = bus.next(Duration::from_millis(500));
        assert!(shown.is_none(), "a success reached the desktop: {shown:?}");
        let last_success = catalog.last_success("docs").unwrap().unwrap();

        // Asked for every event, a success shows, quietly.
        catalog.set_desktop_notifications(DesktopNotifications::All).unwrap();
        now.set(eleven + 2 * 3600);
        let tick = daemon.tick().await.unwrap();
        assert_eq!((tick.jobs.len(), tick.problems.len()), (1, 0), "{tick:?}");
        let shown = bus.next(Duration::from_secs(10)).expect("a success shown when asked for");
        assert_eq!(
            (shown.app.as_str(), shown.summary.as_str(), shown.urgency),
            ("Cairn", "Backup of docs finished", Some(0))
        );
        catalog.set_desktop_notifications(DesktopNotifications::Failures).unwrap();
        let last_success = catalog.last_success("docs").unwrap().unwrap().max(last_success);

        // The destination is gone: the run fails, and that reaches the desktop, clickable.
        std::fs::rename(t.path().join("repo"), t.path().join("moved")).unwrap();
        std::fs::write(t.path().join("repo"), b"a file now").unwrap();
        now.set(eleven + 3 * 3600);
        let tick = daemon.tick().await.unwrap();
        assert_eq!(tick.jobs, [("docs".to_string(), "failed".to_string())], "{tick:?}");
        let failed = bus.next(Duration::from_secs(10)).expect("a failure shown");
        assert_eq!((failed.summary.as_str(), failed.urgency), ("Backup of docs failed", Some(2)));
        assert!(failed.body.contains("docs"), "{failed:?}");
        assert_eq!(failed.actions.first().map(String::as_str), Some("default"));
        bus.click(failed.id);
        let started = std::time::Instant::now();
        // The opener's shell makes the file before it writes to it: wait for the whole line.
        let line = || std::fs::read_to_string(&clicked).unwrap_or_default();
        while !line().ends_with('\n') && started.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(line().trim(), "--screen job:docs");

        // Two hours without success (twice the interval) make it overdue again: told once, not each tick.
        now.set(last_success + 2 * 3600 + 60);
        let tick = daemon.tick().await.unwrap();
        assert!(tick.events.contains(&"job_overdue".to_string()), "{tick:?}");
        let shown = bus.all_within(Duration::from_secs(2));
        let overdue: Vec<_> = shown.iter().filter(|s| s.summary == "docs is overdue").collect();
        assert_eq!(overdue.len(), 1, "{shown:?}");
        now.set(last_success + 2 * 3600 + 120);
        let tick = daemon.tick().await.unwrap();
        assert!(!tick.events.contains(&"job_overdue".to_string()), "told twice: {tick:?}");
    });
}

/// Looks at the catalog through a handle of its own (as another process would) each time the
/// run handles a file, and keeps what it saw.
struct Watcher {
    other: Catalog,
    seen: Vec<cairn_std::running::RunningJob>,
}

impl cairn_core::Progress for Watcher {
    fn file(&mut self, _path: &[u8], _size: u64, _status: cairn_core::FileStatus) {
        self.seen.extend(self.other.running_jobs().unwrap());
    }
}

impl cairn_std::running::RunProgress for Watcher {}

#[test]
fn a_run_in_progress_is_seen_from_another_handle_and_gone_when_it_ends() {
    let t = tempfile::tempdir().unwrap();
    let (src, catalog) = source_and_catalog(t.path());
    std::fs::write(src.join("more.bin"), vec![7u8; 300_000]).unwrap();
    let worker = ThreadWorker::new();
    let rt = runtime(&worker).unwrap();
    let now = Cell::new(1_795_342_620);
    rt.block_on(async {
        for d in ["one", "two"] {
            let path = t.path().join(d);
            catalog.create_destination(&NewDestination::new(d, path.to_str().unwrap())).unwrap();
            assert!(test_saved(&catalog, d, now.get(), &mut |_| {}).await.unwrap().ok);
        }
        let mut spec = JobSpec::default();
        spec.sources = vec![src.clone()];
        spec.destinations = vec!["one".into(), "two".into()];
        catalog.create_job("notes", &spec, now.get()).unwrap();
        let other = Catalog::open(&t.path().join("c.sqlite"), &t.path().join("c.key")).unwrap();
        let mut watcher = Watcher { other, seen: Vec::new() };
        let report =
            cairn_std::runner::run_job(&catalog, "notes", &worker, &TestClock(&now), &mut watcher).await.unwrap();
        assert_eq!(report.status, cairn_std::runner::JobStatus::Succeeded, "{report:?}");
        let seen = &watcher.seen;
        assert!(!seen.is_empty(), "the run was never seen from the other handle");
        assert!(seen.iter().all(|r| r.job == "notes" && r.pid == std::process::id() && r.count == 2), "{seen:?}");
        let destinations: Vec<&str> = seen.iter().filter_map(|r| r.destination.as_deref()).collect();
        assert!(destinations.contains(&"one") && destinations.contains(&"two"), "{destinations:?}");
        // The scan of two files ended while the first destination was written: the second
        // destination's part of the run is its second half.
        let p = seen.iter().filter(|r| r.index == 1).find_map(|r| r.percent());
        assert!(p.is_some_and(|p| (50..=99).contains(&p)), "{p:?} in {seen:?}");
        assert!(watcher.other.running_jobs().unwrap().is_empty(), "the note stays after the run");

        // A run whose process was killed left its note: it is not shown as running.
        let mut dead = std::process::Command::new("true").spawn().unwrap();
        let dead_pid = dead.id();
        dead.wait().unwrap();
        let mut run = seen[0].clone();
        run.pid = dead_pid;
        let stale = serde_json::to_string(&run).unwrap();
        write_note(&t.path().join("c.sqlite"), &stale);
        assert!(catalog.running_jobs().unwrap().is_empty());
    });
}

/// Writes a `running:` note into the catalog's file directly, as a killed run leaves it.
fn write_note(catalog: &std::path::Path, note: &str) {
    let conn = rusqlite::Connection::open(catalog).unwrap();
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('running:notes', ?1)", [note]).unwrap();
}
