//! The Debian package, as a desktop user gets it: built by `dist/build-deb.sh` from this
//! build's binaries, installed with `dpkg -i`, and checked for the cairn command, the
//! scheduler's systemd user unit and the tray's login entry. Then the scheduler runs as the
//! unit runs it (its `ExecStart`, no systemd needed), with no window: jobs due within the
//! minute run by themselves, show in the history, and the failing one reaches the desktop as a
//! notification on a session D-Bus.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cairn_e2e::notifications::SessionBus;
use cairn_e2e::servers::find_tool;

/// Removes the package when the test ends, however it ends.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = Command::new("dpkg").args(["-r", "cairn"]).stdout(Stdio::null()).status();
    }
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs the installed `cairn` with the user's environment; panics with its output on failure.
fn cairn(env: &[(&str, PathBuf)], args: &[&str]) -> String {
    let out =
        Command::new("/usr/bin/cairn").args(args).env_clear().envs(env.iter().map(|(k, v)| (k, v))).output().unwrap();
    assert!(out.status.success(), "cairn {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_package_installs_the_command_and_the_scheduler_which_runs_jobs_and_notifies_failures() {
    let root = nix_root();
    let tools = ["dpkg", "dpkg-deb", "dbus-daemon", "strip"].iter().all(|t| find_tool(t).is_some());
    if !cairn_e2e::prerequisite(root && tools, "root, dpkg, dpkg-deb, strip and dbus-daemon (./test.sh installs them)")
    {
        return;
    }
    let bins = Path::new(env!("CARGO_BIN_EXE_cairn-desktop")).parent().unwrap().to_path_buf();
    assert!(bins.join("cairn").is_file(), "the cairn command is not built beside the app (cargo build -p cairn-cli)");
    let t = tempfile::tempdir().unwrap();

    // Build it as a packager does, from this build's binaries.
    let built = Command::new("bash")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../dist/build-deb.sh"))
        .args(["--binaries", bins.to_str().unwrap(), "--out", t.path().join("deb").to_str().unwrap(), "--fast"])
        .output()
        .unwrap();
    assert!(built.status.success(), "build-deb.sh: {}", String::from_utf8_lossy(&built.stderr));
    let deb = String::from_utf8(built.stdout).unwrap().lines().last().unwrap().to_string();

    // Install it.
    let _installed = Installed;
    let install = Command::new("dpkg").args(["-i", &deb]).output().unwrap();
    assert!(install.status.success(), "dpkg -i: {}", String::from_utf8_lossy(&install.stderr));
    let version = Command::new("/usr/bin/cairn").arg("--version").output().unwrap();
    assert!(version.status.success() && String::from_utf8_lossy(&version.stdout).starts_with("cairn "));
    assert!(Path::new("/usr/bin/cairn-desktop").is_file());
    let unit = std::fs::read_to_string("/usr/lib/systemd/user/cairn-daemon.service").unwrap();
    let exec_start = unit.lines().find_map(|l| l.strip_prefix("ExecStart=")).expect("an ExecStart line");
    assert_eq!(exec_start, "/usr/bin/cairn daemon");
    assert!(unit.contains("WantedBy=default.target"));
    let tray = std::fs::read_to_string("/etc/xdg/autostart/cairn-tray.desktop").unwrap();
    assert!(tray.lines().any(|l| l == "Exec=/usr/bin/cairn-desktop --background"), "{tray}");
    let menu = std::fs::read_to_string("/usr/share/applications/cairn-desktop.desktop").unwrap();
    assert!(menu.lines().any(|l| l.starts_with("Exec=/usr/bin/cairn-desktop")), "{menu}");

    // A user with two jobs due within the minute: one succeeds, one fails.
    let home = t.path().join("home");
    let docs = home.join("Documents");
    std::fs::create_dir_all(&docs).unwrap();
    std::fs::write(docs.join("letter.txt"), b"dear diary").unwrap();
    let bus = SessionBus::start();
    let env = [
        ("HOME", home.clone()),
        ("PATH", PathBuf::from("/usr/bin:/bin")),
        ("XDG_DATA_HOME", home.join(".local/share")),
        ("XDG_CACHE_HOME", home.join(".cache")),
        ("XDG_CONFIG_HOME", home.join(".config")),
        ("DBUS_SESSION_BUS_ADDRESS", PathBuf::from(&bus.address)),
    ];
    let usb = t.path().join("usb");
    cairn(&env, &["destination", "create", "--name", "usb", "--type", "local", "--backup-dir", usb.to_str().unwrap()]);
    let every_minute = ["--schedule", "cron * * * * *", "--destination", "usb", "--source", docs.to_str().unwrap()];
    cairn(&env, &[&["job", "create", "--name", "docs"][..], &every_minute].concat());
    cairn(&env, &[&["job", "create", "--name", "broken", "--pre-hook", "exit 3"][..], &every_minute].concat());

    // The scheduler as the unit starts it: its ExecStart, the user's environment, no window.
    let argv: Vec<&str> = exec_start.split(' ').collect();
    let _scheduler = Killed(
        Command::new(argv[0])
            .args(&argv[1..])
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    let history = loop {
        let history: serde_json::Value = serde_json::from_str(&cairn(&env, &["--json", "job", "history"])).unwrap();
        let runs = history.as_array().unwrap();
        let ran = |job: &str| runs.iter().any(|r| r["job"] == job);
        if ran("docs") && ran("broken") {
            break history;
        }
        assert!(started.elapsed() < Duration::from_secs(150), "the scheduler ran no job: {history}");
        std::thread::sleep(Duration::from_secs(2));
    };
    let status = |job: &str| {
        history.as_array().unwrap().iter().find(|r| r["job"] == job).map(|r| r["status"].as_str().unwrap().to_string())
    };
    assert_eq!(status("docs").as_deref(), Some("succeeded"), "{history}");
    assert_eq!(status("broken").as_deref(), Some("failed"), "{history}");
    // The failure reached the desktop, urgent; the success did not (routine successes stay quiet).
    let shown = bus.all_within(Duration::from_secs(5));
    let failed: Vec<_> = shown.iter().filter(|s| s.summary == "Backup of broken failed").collect();
    assert!(!failed.is_empty(), "no notification of the failure: {shown:?}");
    assert_eq!(failed[0].urgency, Some(2));
    assert!(failed[0].actions.iter().any(|a| a == "default"), "a click opens the app: {:?}", failed[0]);
    assert!(!shown.iter().any(|s| s.summary.contains("docs")), "a routine success was shown: {shown:?}");
    // A second scheduler on the same catalog (the login fallback beside the unit) steps aside.
    let second = Command::new("/usr/bin/cairn")
        .arg("daemon")
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap();
    assert!(second.status.success());
    assert!(String::from_utf8_lossy(&second.stderr).contains("already runs"), "{second:?}");
}

fn nix_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}
