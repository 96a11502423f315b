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

#[test]
fn the_daemon_runs_due_jobs_retests_and_notifies() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("notes.txt"), b"remember the milk").unwrap();
    let catalog = Catalog::open(&t.path().join("c.sqlite"), &t.path().join("c.key")).unwrap();
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
