//! The tray's state and actions and the one-app-per-catalog socket, headless, on a real
//! catalog, a real local destination and real Unix sockets.

use std::path::Path;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use cairn_gui::instance::{Claim, Request, claim, socket_path};
use cairn_gui::tray::{TrayState, badge};
use cairn_gui::{DestinationForm, Gui, JobForm, Paths};

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
}

/// `len` bytes that do not compress or deduplicate (xorshift).
fn noise(len: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..len / 8)
        .flat_map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()
        })
        .collect()
}

#[test]
fn the_tray_tells_running_failed_paused_and_fine_and_backs_up_now() {
    let t = tempfile::tempdir().unwrap();
    let paths = Paths { catalog: t.path().join("catalog.sqlite"), key: t.path().join("catalog.key") };
    // The desktop: a session bus with a notification service; a click on a notification starts
    // the "app" (here a script that writes down its arguments).
    let bus = cairn_e2e::notifications::SessionBus::start();
    let opener = t.path().join("cairn-desktop");
    let clicked = t.path().join("clicked");
    std::fs::write(&opener, format!("#!/bin/sh\necho \"$@\" > {}\n", clicked.display())).unwrap();
    std::fs::set_permissions(&opener, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let notifier = cairn_gui::Notifier::on_bus(Some(bus.address.clone()), Some(opener));
    let gui = Arc::new(Gui::new(paths, Arc::new(|_| {})).with_desktop_notifier(notifier));
    let src = t.path().join("home");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("big.bin"), noise(96 << 20)).unwrap();
    block_on(async {
        let v = gui.tray().await.unwrap();
        assert_eq!((v.state, v.status.as_str(), v.paused), (TrayState::Idle, "No backup set up yet", false));

        let form = DestinationForm {
            name: "usb".into(),
            kind: "local".into(),
            backup_dir: t.path().join("usb").display().to_string(),
            verify_tls: true,
            ..Default::default()
        };
        assert!(gui.create_destination("t".into(), form).await.unwrap().test.ok);
        let job = JobForm {
            name: "home".into(),
            sources: vec![src.display().to_string()],
            destinations: vec!["usb".into()],
            ..Default::default()
        };
        gui.save_job(job, true).await.unwrap();
    });

    // A run in progress (here on another thread, as the scheduler would in its process).
    let runner = gui.clone();
    let run = std::thread::spawn(move || block_on(runner.run_job("home".into())));
    let deadline = Instant::now() + Duration::from_secs(60);
    let running = loop {
        let v = block_on(gui.tray()).unwrap();
        if v.state == TrayState::Running && v.status.contains(" to usb") {
            break v;
        }
        assert!(Instant::now() < deadline && !run.is_finished(), "the tray never showed the run: {v:?}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(running.status.starts_with("Backing up home to usb"), "{running:?}");
    // Stopped halfway, the run failed: the tray asks for attention and names the job.
    assert!(gui.cancel("job:home"));
    assert_eq!(run.join().unwrap().unwrap().status, "cancelled");
    let v = block_on(gui.tray()).unwrap();
    assert_eq!(v.state, TrayState::Attention, "{v:?}");
    assert!(v.status.contains("home") && v.status.contains("failed"), "{v:?}");
    assert!(v.label.is_empty());
    // A run the user stopped is not news for the desktop.
    let shown = bus.all_within(Duration::from_secs(1));
    assert!(shown.is_empty(), "a cancelled run was notified: {shown:?}");

    block_on(async {
        // Back up now runs the job; the tray says all is well; routine success tells the
        // desktop nothing.
        assert_eq!(gui.back_up_now().await.unwrap(), [("home".to_string(), "succeeded".to_string())]);
        let shown = bus.all_within(Duration::from_secs(1));
        assert!(shown.is_empty(), "a success was notified: {shown:?}");
        let v = gui.tray().await.unwrap();
        assert_eq!((v.state, v.status.as_str()), (TrayState::Idle, "Backups are fine"), "{v:?}");
        // The overview's size of the job: all it backed up, though the run that was stopped
        // halfway had stored part of it already.
        let run = &gui.jobs().await.unwrap()[0].last_runs[0];
        assert_eq!((run.status.as_str(), run.bytes_total), ("succeeded", 96 << 20), "{run:?}");
        // Paused, and back.
        gui.pause_backups(60).await.unwrap();
        let v = gui.tray().await.unwrap();
        assert_eq!((v.state, v.paused), (TrayState::Paused, true), "{v:?}");
        assert!(v.status.starts_with("Backups paused until "), "{v:?}");
        gui.resume_backups().await.unwrap();
        assert_eq!(gui.tray().await.unwrap().state, TrayState::Idle);
        // A disabled job is not backed up now.
        gui.set_job_enabled("home".into(), false).await.unwrap();
        assert!(gui.back_up_now().await.unwrap().is_empty());
        // A job that fails when backed up now from the tray: the desktop is told, and the
        // notification's click opens that job's screen.
        let broken = JobForm {
            name: "broken".into(),
            sources: vec![src.display().to_string()],
            destinations: vec!["usb".into()],
            pre_hook: "exit 3".into(),
            ..Default::default()
        };
        gui.save_job(broken, true).await.unwrap();
        assert_eq!(gui.back_up_now().await.unwrap(), [("broken".to_string(), "failed".to_string())]);
    });
    let note = bus.next(Duration::from_secs(10)).expect("the failed run told the desktop nothing");
    assert!(note.summary.contains("broken"), "{note:?}");
    assert!(note.body.contains("exit status 3"), "{note:?}");
    assert_eq!(note.urgency, Some(2), "{note:?}");
    bus.click(note.id);
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(&clicked).map_or(true, |c| c.trim() != "--screen job:broken") {
        assert!(
            Instant::now() < deadline,
            "the click did not open the job's screen: {:?}",
            std::fs::read_to_string(&clicked)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_icon_gets_a_dot_of_its_state_and_none_when_idle() {
    let (w, h) = (32u32, 32u32);
    let icon: Vec<u8> = (0..w * h).flat_map(|_| [10, 20, 30, 0x80]).collect();
    assert_eq!(badge(&icon, w, h, TrayState::Idle), icon);
    let red = badge(&icon, w, h, TrayState::Attention);
    let px = |img: &[u8], x: u32, y: u32| img[((y * w + x) * 4) as usize..][..4].to_vec();
    assert_eq!(px(&red, 0, 0), [10, 20, 30, 0x80], "the rest of the icon is left alone");
    assert_eq!(px(&red, 24, 24), [0xd9, 0x30, 0x25, 0xff], "the dot");
    assert_ne!(px(&badge(&icon, w, h, TrayState::Running), 24, 24), px(&red, 24, 24));
    // A size that does not match its pixels is left as it is rather than read out of bounds.
    assert_eq!(badge(&icon[..100], w, h, TrayState::Attention), icon[..100]);
}

fn catalog_in(dir: &Path) -> std::path::PathBuf {
    dir.join("catalog.sqlite")
}

#[test]
fn a_second_start_hands_its_screen_to_the_first_and_a_killed_ones_socket_is_replaced() {
    let t = tempfile::tempdir().unwrap();
    let catalog = catalog_in(t.path());
    // A socket left by an app that was killed: no lock holds it, nothing listens.
    let left = socket_path(&catalog);
    drop(std::os::unix::net::UnixListener::bind(&left).unwrap());
    assert!(left.exists());

    let Claim::First(listener) = claim(&catalog, Some(&Request::Open)).unwrap() else {
        panic!("the first start did not get the app")
    };
    assert_eq!(listener.path(), left);
    let (tx, rx) = mpsc::channel();
    listener.serve(move |r| tx.send(r).unwrap());

    // Later starts: one with a screen, one plain, one at login (no request).
    assert!(matches!(claim(&catalog, Some(&Request::Screen("job:home".into()))).unwrap(), Claim::Handed));
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), Request::Screen("job:home".into()));
    assert!(matches!(claim(&catalog, Some(&Request::Open)).unwrap(), Claim::Handed));
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), Request::Open);
    assert!(matches!(claim(&catalog, None).unwrap(), Claim::Handed));
    assert!(rx.recv_timeout(Duration::from_millis(300)).is_err(), "a login start asks for nothing");

    // Garbage on the socket is refused and changes nothing.
    use std::io::{BufRead, Write};
    let mut s = std::os::unix::net::UnixStream::connect(&left).unwrap();
    s.write_all(b"rm -rf /\n").unwrap();
    let mut answer = String::new();
    std::io::BufReader::new(&s).read_line(&mut answer).unwrap();
    assert_eq!(answer, "unknown request\n");
    assert!(rx.recv_timeout(Duration::from_millis(300)).is_err());

    // Another catalog is another app.
    let other = catalog_in(&t.path().join("other"));
    std::fs::create_dir_all(other.parent().unwrap()).unwrap();
    assert_ne!(socket_path(&other), left);
    assert!(matches!(claim(&other, Some(&Request::Open)).unwrap(), Claim::First(_)));
}
