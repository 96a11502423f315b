//! Cairn's desktop app: a thin Tauri v2 shell. Every `cmd_*` command forwards to the command
//! layer in `cairn-gui` (which is tested headless); events of long operations go to the window
//! as `cairn-event`. The window may call these commands and nothing else
//! (`capabilities/default.json`, with the command list in `build.rs`).
//!
//! One app runs per catalog (`cairn_gui::instance`): it lives in the tray (`tray.rs`) with or
//! without its window (`window.rs`); `--background` (the login entry) starts the scheduler if
//! allowed and stays in the tray without a window.

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use std::sync::Arc;

use cairn_gui::instance::{self, Claim, Request};
use cairn_gui::{
    AppInfo, ArchiveView, DaemonView, DestinationForm, DestinationView, DirPage, DiskChoice, FolderListing,
    FolderSuggestion, FormCheck, FoundVersion, Gui, GuiError, JobForm, JobRunView, JobView, NotificationView,
    ObjectView, OverviewView, Paths, RestoreRequest, RestoreSummary, RunView, SaveView, ScheduleCheck, SearchView,
    SnapshotView, TestView, VendorView,
};
use tauri::{Emitter, Manager, State};

mod tray;
mod window;

type R<T> = Result<T, GuiError>;

#[tauri::command]
fn cmd_app_info(gui: State<'_, Gui>) -> AppInfo {
    gui.app_info()
}

#[tauri::command]
fn cmd_vendors(gui: State<'_, Gui>) -> Vec<VendorView> {
    gui.vendors()
}

#[tauri::command]
async fn cmd_rclone_remotes(gui: State<'_, Gui>) -> R<Vec<String>> {
    gui.rclone_remotes().await
}

#[tauri::command]
async fn cmd_destinations(gui: State<'_, Gui>) -> R<Vec<DestinationView>> {
    gui.destinations().await
}

#[tauri::command]
async fn cmd_check_destination(gui: State<'_, Gui>, form: DestinationForm, updating: bool) -> R<FormCheck> {
    gui.check_destination_form(form, updating).await
}

#[tauri::command]
async fn cmd_test_form(gui: State<'_, Gui>, op: String, form: DestinationForm) -> R<TestView> {
    gui.test_destination_form(op, form).await
}

#[tauri::command]
async fn cmd_create_destination(gui: State<'_, Gui>, op: String, form: DestinationForm) -> R<SaveView> {
    gui.create_destination(op, form).await
}

#[tauri::command]
async fn cmd_update_destination(gui: State<'_, Gui>, op: String, form: DestinationForm) -> R<SaveView> {
    gui.update_destination(op, form).await
}

#[tauri::command]
async fn cmd_test_destination(gui: State<'_, Gui>, op: String, name: String) -> R<TestView> {
    gui.test_destination(op, name).await
}

#[tauri::command]
async fn cmd_set_destination_enabled(gui: State<'_, Gui>, name: String, enabled: bool) -> R<DestinationView> {
    gui.set_destination_enabled(name, enabled).await
}

#[tauri::command]
async fn cmd_delete_destination(gui: State<'_, Gui>, name: String) -> R<()> {
    gui.delete_destination(name).await
}

#[tauri::command]
async fn cmd_browse_destination(gui: State<'_, Gui>, name: String) -> R<Vec<ObjectView>> {
    gui.browse_destination(name).await
}

#[tauri::command]
async fn cmd_jobs(gui: State<'_, Gui>) -> R<Vec<JobView>> {
    gui.jobs().await
}

#[tauri::command]
async fn cmd_save_job(gui: State<'_, Gui>, form: JobForm, create: bool) -> R<JobView> {
    gui.save_job(form, create).await
}

#[tauri::command]
async fn cmd_delete_job(gui: State<'_, Gui>, name: String) -> R<()> {
    gui.delete_job(name).await
}

#[tauri::command]
async fn cmd_set_job_enabled(gui: State<'_, Gui>, name: String, enabled: bool) -> R<JobView> {
    gui.set_job_enabled(name, enabled).await
}

#[tauri::command]
fn cmd_check_schedule(gui: State<'_, Gui>, schedule: String) -> ScheduleCheck {
    gui.check_schedule(&schedule)
}

#[tauri::command]
async fn cmd_run_job(gui: State<'_, Gui>, name: String) -> R<JobRunView> {
    gui.run_job(name).await
}

#[tauri::command]
fn cmd_cancel(gui: State<'_, Gui>, op: String) -> bool {
    gui.cancel(&op)
}

#[tauri::command]
async fn cmd_job_history(gui: State<'_, Gui>, name: Option<String>, limit: u32) -> R<Vec<RunView>> {
    gui.job_history(name, limit).await
}

#[tauri::command]
async fn cmd_snapshots(gui: State<'_, Gui>, destination: String) -> R<Vec<SnapshotView>> {
    gui.snapshots(destination).await
}

#[tauri::command]
async fn cmd_list_dir(
    gui: State<'_, Gui>,
    destination: String,
    snapshot: String,
    path: String,
    offset: u32,
    limit: u32,
) -> R<DirPage> {
    gui.list_dir(destination, snapshot, path, offset, limit).await
}

#[tauri::command]
async fn cmd_search(gui: State<'_, Gui>, destination: String, query: String, limit: u32) -> R<SearchView> {
    gui.search(destination, query, limit).await
}

#[tauri::command]
async fn cmd_restore(gui: State<'_, Gui>, op: String, request: RestoreRequest) -> R<RestoreSummary> {
    gui.restore(op, request).await
}

#[tauri::command]
async fn cmd_download(
    gui: State<'_, Gui>,
    op: String,
    destination: String,
    snapshot: String,
    paths: Vec<String>,
    file: String,
) -> R<RestoreSummary> {
    gui.download(op, destination, snapshot, paths, file).await
}

#[tauri::command]
async fn cmd_archives(gui: State<'_, Gui>, destination: String) -> R<Vec<ArchiveView>> {
    gui.archives(destination).await
}

#[tauri::command]
async fn cmd_restore_archive(
    gui: State<'_, Gui>,
    op: String,
    destination: String,
    name: String,
    folder: String,
) -> R<RestoreSummary> {
    gui.restore_archive(op, destination, name, folder).await
}

#[tauri::command]
fn cmd_local_folders(gui: State<'_, Gui>, path: String) -> R<FolderListing> {
    gui.local_folders(path)
}

#[tauri::command]
async fn cmd_export_recovery_kit(gui: State<'_, Gui>, file: String) -> R<String> {
    gui.export_recovery_kit(file).await
}

#[tauri::command]
async fn cmd_notifications(gui: State<'_, Gui>) -> R<Vec<NotificationView>> {
    gui.notifications().await
}

#[tauri::command]
async fn cmd_add_notification(gui: State<'_, Gui>, kind: String, target: String) -> R<i64> {
    gui.add_notification(kind, target).await
}

#[tauri::command]
async fn cmd_remove_notification(gui: State<'_, Gui>, id: i64) -> R<()> {
    gui.remove_notification(id).await
}

#[tauri::command]
async fn cmd_test_notifications(gui: State<'_, Gui>) -> R<Vec<String>> {
    gui.test_notifications().await
}

#[tauri::command]
async fn cmd_desktop_notifications(gui: State<'_, Gui>) -> R<String> {
    gui.desktop_notifications().await
}

#[tauri::command]
async fn cmd_set_desktop_notifications(gui: State<'_, Gui>, which: String) -> R<String> {
    gui.set_desktop_notifications(which).await
}

#[tauri::command]
async fn cmd_daemon(gui: State<'_, Gui>) -> R<DaemonView> {
    gui.daemon().await
}

#[tauri::command]
async fn cmd_file_history(gui: State<'_, Gui>, destination: String, path: String) -> R<Vec<FoundVersion>> {
    gui.file_history(destination, path).await
}

#[tauri::command]
async fn cmd_suggested_folders(gui: State<'_, Gui>) -> R<Vec<FolderSuggestion>> {
    gui.suggested_folders().await
}

#[tauri::command]
async fn cmd_removable_disks(gui: State<'_, Gui>) -> R<Vec<DiskChoice>> {
    gui.removable_disks().await
}

#[tauri::command]
async fn cmd_overview(gui: State<'_, Gui>) -> R<OverviewView> {
    gui.overview().await
}

#[tauri::command]
async fn cmd_allow_background(gui: State<'_, Gui>, allowed: bool) -> R<DaemonView> {
    gui.allow_background(allowed).await
}

#[tauri::command]
async fn cmd_restart_scheduler(gui: State<'_, Gui>) -> R<DaemonView> {
    gui.restart_scheduler().await
}

#[tauri::command]
async fn cmd_pause_backups(gui: State<'_, Gui>, minutes: u32) -> R<DaemonView> {
    gui.pause_backups(minutes).await
}

#[tauri::command]
async fn cmd_resume_backups(gui: State<'_, Gui>) -> R<DaemonView> {
    gui.resume_backups().await
}

/// How the app was started.
struct Launch {
    /// `--background`: at login, from the autostart entry.
    background: bool,
    /// `--screen SCREEN`: the screen to open at.
    screen: Option<String>,
}

impl Launch {
    fn from_args() -> Self {
        let mut launch = Self { background: false, screen: None };
        let mut args = std::env::args().skip(1);
        while let Some(a) = args.next() {
            match a.as_str() {
                "--background" => launch.background = true,
                "--screen" => launch.screen = args.next(),
                // Anything else (a file manager's %U) is not for Cairn.
                _ => {}
            }
        }
        launch
    }
}

/// At login: starts the scheduler if the user allowed it and nothing else runs it.
fn ensure_scheduler(paths: &Paths) {
    let gui = Gui::new(paths.clone(), Arc::new(|_| {}));
    match tauri::async_runtime::block_on(gui.ensure_scheduler()) {
        Ok(state) => {
            if let Some(problem) = state.problem {
                eprintln!("cairn-desktop: the scheduler did not start: {problem}");
            }
        }
        Err(e) => eprintln!("cairn-desktop: {e}"),
    }
}

fn main() {
    let paths = match Paths::from_env() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("cairn-desktop: {e}");
            std::process::exit(1);
        }
    };
    let launch = Launch::from_args();
    if launch.background {
        ensure_scheduler(&paths);
    }
    // One app per catalog: a later start hands its request to the first and ends.
    let request = match (&launch.screen, launch.background) {
        (Some(screen), _) => Some(Request::Screen(screen.clone())),
        (None, false) => Some(Request::Open),
        (None, true) => None,
    };
    let listener = match instance::claim(&paths.catalog, request.as_ref()) {
        Ok(Claim::Handed) => return,
        Ok(Claim::First(listener)) => Some(listener),
        Err(e) => {
            eprintln!("cairn-desktop: cannot reach the app already running ({e}); starting another");
            None
        }
    };
    let app = tauri::Builder::default()
        .setup(move |app| {
            let handle = app.handle().clone();
            let gui = Gui::new(
                paths,
                Arc::new(move |event| {
                    // A window that is gone misses the event; the operation goes on.
                    let _ = handle.emit("cairn-event", event);
                }),
            )
            // A click on a notification starts this program at its screen: the start hands
            // over to this app.
            .with_desktop_notifier(cairn_gui::Notifier::start(std::env::current_exe().ok()));
            app.manage(gui);
            let tray = tray::start(app.handle());
            app.manage(HasTray(tray));
            if let Some(listener) = listener {
                let handle = app.handle().clone();
                listener.serve(move |request| {
                    window::show(
                        &handle,
                        match request {
                            Request::Open => None,
                            Request::Screen(s) => Some(s),
                        },
                    )
                });
            }
            if !launch.background {
                window::show(app.handle(), launch.screen);
            } else if !tray {
                // At login without a tray there is nothing to show: the scheduler runs on.
                app.handle().exit(0);
            }
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            cmd_app_info,
            cmd_vendors,
            cmd_rclone_remotes,
            cmd_destinations,
            cmd_check_destination,
            cmd_test_form,
            cmd_create_destination,
            cmd_update_destination,
            cmd_test_destination,
            cmd_set_destination_enabled,
            cmd_delete_destination,
            cmd_browse_destination,
            cmd_jobs,
            cmd_save_job,
            cmd_delete_job,
            cmd_set_job_enabled,
            cmd_check_schedule,
            cmd_run_job,
            cmd_cancel,
            cmd_job_history,
            cmd_snapshots,
            cmd_list_dir,
            cmd_search,
            cmd_restore,
            cmd_download,
            cmd_archives,
            cmd_restore_archive,
            cmd_local_folders,
            cmd_export_recovery_kit,
            cmd_notifications,
            cmd_add_notification,
            cmd_remove_notification,
            cmd_test_notifications,
            cmd_daemon,
            cmd_desktop_notifications,
            cmd_set_desktop_notifications,
            cmd_overview,
            cmd_suggested_folders,
            cmd_removable_disks,
            cmd_file_history,
            cmd_allow_background,
            cmd_restart_scheduler,
            cmd_pause_backups,
            cmd_resume_backups,
        ])
        .build(tauri::generate_context!());
    let app = match app {
        Ok(app) => app,
        Err(e) => {
            eprintln!("cairn-desktop: cannot start the window: {e}");
            std::process::exit(1);
        }
    };
    app.run(|app, event| {
        // The last window closed: the app stays in the tray (Quit there ends it).
        if let tauri::RunEvent::ExitRequested { api, code: None, .. } = event
            && app.state::<HasTray>().0
        {
            api.prevent_exit();
        }
    });
}

/// Whether the tray icon is up (else closing the window ends the app).
struct HasTray(bool);
