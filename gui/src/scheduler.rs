//! The scheduler (`cairn daemon`) as the desktop app sees it: whether the user allowed backups
//! in the background, what starts it (the systemd user unit the package installs, or the app
//! itself at login where there is no systemd user manager), its state, and Start/Restart,
//! Pause and Resume.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use cairn_std::catalog::Catalog;
use cairn_std::daemon::daemon_status;

use crate::{DaemonView, Gui, GuiError, Paths, now};

/// The systemd user unit the package installs.
const UNIT: &str = "cairn-daemon.service";

/// What starts the scheduler on this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Manager {
    /// The systemd user manager runs the unit.
    Systemd,
    /// The app starts `cairn daemon` itself (at login through the autostart entry).
    Login,
}

impl Manager {
    /// Systemd when a user manager runs and the catalog is the user's own (a catalog named by
    /// `CAIRN_CATALOG` is one the unit would not see).
    fn here(paths: &Paths) -> Self {
        let own_catalog = Paths::default_paths().is_ok_and(|p| p.catalog == paths.catalog);
        let user_manager =
            std::env::var_os("XDG_RUNTIME_DIR").is_some_and(|d| Path::new(&d).join("systemd/private").exists());
        if own_catalog && user_manager && program_on_path("systemctl").is_some() { Self::Systemd } else { Self::Login }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Systemd => "systemd",
            Self::Login => "login",
        }
    }
}

fn program_on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?).map(|d| d.join(name)).find(|p| p.is_file())
}

/// The `cairn` command: beside this program (as the package installs both), else on the PATH.
fn cairn_program() -> Result<PathBuf, GuiError> {
    cairn_std::paths::program_beside_this("cairn")
        .or_else(|| program_on_path("cairn"))
        .ok_or_else(|| GuiError::internal("the cairn command is not installed beside the app (reinstall the package)"))
}

/// Where systemd looks for the package's unit, and where a user's own units go.
const SYSTEM_UNIT_DIRS: [&str; 4] =
    ["/usr/lib/systemd/user", "/lib/systemd/user", "/usr/local/lib/systemd/user", "/etc/systemd/user"];

/// Without the package's unit (the app run from a build or an archive), writes the user's own,
/// naming the `cairn` command beside the app, and has systemd read it.
fn install_user_unit() -> Result<(), GuiError> {
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".config")))
        .ok_or_else(|| GuiError::internal("cannot find the user's configuration folder (HOME is not set)"))?;
    let system: Vec<&Path> = SYSTEM_UNIT_DIRS.iter().map(Path::new).collect();
    if write_user_unit(&config, &system, &cairn_program()?)? {
        systemctl(&["daemon-reload"])?;
    }
    Ok(())
}

/// Writes `config/systemd/user/cairn-daemon.service` for `program` unless a unit of that name
/// is in one of `system` or already there; returns whether it wrote one.
fn write_user_unit(config: &Path, system: &[&Path], program: &Path) -> Result<bool, GuiError> {
    let dir = config.join("systemd/user");
    if system.iter().chain([&dir.as_path()]).any(|d| d.join(UNIT).is_file()) {
        return Ok(false);
    }
    let unit = cairn_std::daemon::daemon_unit(program)?;
    std::fs::create_dir_all(&dir).map_err(|e| cairn_std::Error::io("cannot make the folder of user units", &dir, e))?;
    let path = dir.join(UNIT);
    std::fs::write(&path, unit).map_err(|e| cairn_std::Error::io("cannot write the scheduler's unit", &path, e))?;
    Ok(true)
}

/// Runs `systemctl --user ARGS`; its error output is the error.
fn systemctl(args: &[&str]) -> Result<(), GuiError> {
    let out = Command::new("systemctl")
        .arg("--user")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| GuiError::internal(format!("cannot run systemctl: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(GuiError::internal(format!(
            "systemctl --user {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// Starts `cairn daemon` on the catalog as a process of its own, which outlives the window; its
/// output goes to `daemon.log` beside the catalog. A second one on the same catalog exits by
/// itself (one daemon per catalog). Returns once it has made its first check on `catalog` (a
/// few seconds at most), so that the state shown next is the real one.
fn spawn_daemon(catalog: &Catalog, paths: &Paths) -> Result<(), GuiError> {
    let log_path = paths.catalog.with_file_name("daemon.log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| cairn_std::Error::io("cannot open the scheduler's log", &log_path, e))?;
    let err = log.try_clone().map_err(|e| cairn_std::Error::io("cannot open the scheduler's log", &log_path, e))?;
    let mut child = {
        use std::os::unix::process::CommandExt;
        Command::new(cairn_program()?)
            .arg("--catalog")
            .arg(&paths.catalog)
            .arg("daemon")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            // Its own process group: a signal to the window's group (Ctrl-C in a terminal) spares it.
            .process_group(0)
            .spawn()
            .map_err(|e| GuiError::internal(format!("cannot start the scheduler: {e}")))?
    };
    let pid = child.id();
    // Reaped by a thread of its own, whenever it ends, so it never lingers as a zombie.
    std::thread::spawn(move || drop(child.wait()));
    for _ in 0..50 {
        if daemon_status(catalog).ok().flatten().is_some_and(|s| s.running && s.pid == pid) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

impl Gui {
    /// The scheduler's state: running or not, the next job, the user's answer, what starts it.
    pub async fn daemon(&self) -> Result<DaemonView, GuiError> {
        let manager = Manager::here(&self.paths);
        self.on_thread(move |catalog| async move { view(&catalog, manager, None) }).await
    }

    /// Records the user's answer to "may backups run in the background?" and, if yes, starts
    /// the scheduler the way this machine does it (enabling the systemd unit, or starting it).
    pub async fn allow_background(&self, allowed: bool) -> Result<DaemonView, GuiError> {
        let (paths, manager) = (self.paths.clone(), Manager::here(&self.paths));
        self.on_thread(move |catalog| async move {
            catalog.set_background_backups(allowed)?;
            let result = match (allowed, manager) {
                (true, Manager::Systemd) => install_user_unit().and_then(|()| systemctl(&["enable", "--now", UNIT])),
                (true, Manager::Login) => spawn_daemon(&catalog, &paths),
                (false, Manager::Systemd) => systemctl(&["disable", "--now", UNIT]),
                (false, Manager::Login) => stop_daemon(&catalog),
            };
            view(&catalog, manager, result.err())
        })
        .await
    }

    /// Starts the scheduler, or restarts it if it runs.
    pub async fn restart_scheduler(&self) -> Result<DaemonView, GuiError> {
        let (paths, manager) = (self.paths.clone(), Manager::here(&self.paths));
        self.on_thread(move |catalog| async move {
            let result = match manager {
                Manager::Systemd => install_user_unit().and_then(|()| systemctl(&["restart", UNIT])),
                Manager::Login => stop_daemon(&catalog).and_then(|()| spawn_daemon(&catalog, &paths)),
            };
            view(&catalog, manager, result.err())
        })
        .await
    }

    /// At login (`cairn-desktop --background`): starts the scheduler if the user allowed it and
    /// nothing else does (no systemd user manager) and it does not run yet.
    pub async fn ensure_scheduler(&self) -> Result<DaemonView, GuiError> {
        let (paths, manager) = (self.paths.clone(), Manager::here(&self.paths));
        self.on_thread(move |catalog| async move {
            let running = daemon_status(&catalog)?.is_some_and(|s| s.running);
            let result = if catalog.background_backups()? == Some(true) && manager == Manager::Login && !running {
                spawn_daemon(&catalog, &paths).err()
            } else {
                None
            };
            view(&catalog, manager, result)
        })
        .await
    }

    /// Pauses scheduled jobs for `minutes`, or until tomorrow morning (`minutes` 0).
    pub async fn pause_backups(&self, minutes: u32) -> Result<DaemonView, GuiError> {
        let manager = Manager::here(&self.paths);
        self.on_thread(move |catalog| async move {
            let until = if minutes == 0 {
                cairn_std::schedule::tomorrow_morning(now())?
            } else {
                now() + i64::from(minutes) * 60
            };
            catalog.set_paused_until(Some(until))?;
            view(&catalog, manager, None)
        })
        .await
    }

    /// Ends a pause.
    pub async fn resume_backups(&self) -> Result<DaemonView, GuiError> {
        let manager = Manager::here(&self.paths);
        self.on_thread(move |catalog| async move {
            catalog.set_paused_until(None)?;
            view(&catalog, manager, None)
        })
        .await
    }
}

/// Stops the daemon this machine's app started (by its process id), waiting until it is gone.
fn stop_daemon(catalog: &Catalog) -> Result<(), GuiError> {
    let Some(status) = daemon_status(catalog)?.filter(|s| s.running) else { return Ok(()) };
    if cairn_std::terminate_process(status.pid, Duration::from_secs(10)) {
        return Ok(());
    }
    Err(GuiError::internal(format!("the scheduler (process {}) did not stop within 10 seconds", status.pid)))
}

/// The scheduler's state as this app sees it.
pub(crate) fn scheduler_view(catalog: &Catalog, paths: &Paths) -> Result<DaemonView, GuiError> {
    view(catalog, Manager::here(paths), None)
}

fn view(catalog: &Catalog, manager: Manager, problem: Option<GuiError>) -> Result<DaemonView, GuiError> {
    let status = daemon_status(catalog)?;
    let next = catalog.list_jobs()?.into_iter().filter(|j| j.enabled).filter_map(|j| Some((j.next_due?, j.name))).min();
    let background = match catalog.background_backups()? {
        None => "unasked",
        Some(true) => "allowed",
        Some(false) => "declined",
    };
    Ok(DaemonView {
        running: status.is_some_and(|s| s.running),
        last_tick: status.map(|s| s.last_tick),
        next_job: next.as_ref().map(|(_, n)| n.clone()),
        next_due: next.map(|(t, _)| t),
        background: background.into(),
        manager: manager.name().into(),
        paused_until: catalog.paused_until()?.filter(|t| *t > now()),
        problem: problem.map(|e| e.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_user_unit_is_written_only_where_no_unit_is_installed() {
        let t = tempfile::tempdir().unwrap();
        let (config, package) = (t.path().join("config"), t.path().join("usr-lib"));
        std::fs::create_dir_all(&package).unwrap();
        let program = Path::new("/opt/cairn/bin/cairn");
        // The package's unit is there: nothing written.
        std::fs::write(package.join(UNIT), "[Unit]").unwrap();
        assert!(!write_user_unit(&config, &[&package], program).unwrap());
        assert!(!config.exists());
        // Without it: the user's own, naming the program.
        std::fs::remove_file(package.join(UNIT)).unwrap();
        assert!(write_user_unit(&config, &[&package], program).unwrap());
        let unit = std::fs::read_to_string(config.join("systemd/user").join(UNIT)).unwrap();
        assert!(unit.lines().any(|l| l == "ExecStart=/opt/cairn/bin/cairn daemon"), "{unit}");
        // Written once; a user's edits stay.
        std::fs::write(config.join("systemd/user").join(UNIT), "edited").unwrap();
        assert!(!write_user_unit(&config, &[&package], program).unwrap());
        assert_eq!(std::fs::read_to_string(config.join("systemd/user").join(UNIT)).unwrap(), "edited");
        // A program systemd cannot name is a clear error, not a broken unit.
        let e = write_user_unit(&t.path().join("c2"), &[&package], Path::new("relative/cairn")).unwrap_err();
        assert!(e.to_string().contains("absolute path"), "{e}");
    }
}
