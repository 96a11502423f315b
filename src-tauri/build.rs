//! Builds the app's context, and the app manifest: the `cmd_*` commands are the only ones the
//! window may call (each gets an `allow-cmd-...` permission, granted in
//! `capabilities/default.json`).

const COMMANDS: &[&str] = &[
    "cmd_add_notification",
    "cmd_allow_background",
    "cmd_pause_backups",
    "cmd_restart_scheduler",
    "cmd_resume_backups",
    "cmd_app_info",
    "cmd_browse_destination",
    "cmd_cancel",
    "cmd_check_destination",
    "cmd_check_schedule",
    "cmd_create_destination",
    "cmd_daemon",
    "cmd_delete_destination",
    "cmd_delete_job",
    "cmd_desktop_notifications",
    "cmd_destinations",
    "cmd_download",
    "cmd_archives",
    "cmd_restore_archive",
    "cmd_export_recovery_kit",
    "cmd_file_history",
    "cmd_job_history",
    "cmd_jobs",
    "cmd_list_dir",
    "cmd_local_folders",
    "cmd_notifications",
    "cmd_overview",
    "cmd_rclone_remotes",
    "cmd_remove_notification",
    "cmd_removable_disks",
    "cmd_restore",
    "cmd_run_job",
    "cmd_save_job",
    "cmd_search",
    "cmd_set_desktop_notifications",
    "cmd_set_destination_enabled",
    "cmd_suggested_folders",
    "cmd_set_job_enabled",
    "cmd_snapshots",
    "cmd_test_destination",
    "cmd_test_form",
    "cmd_test_notifications",
    "cmd_update_destination",
    "cmd_vendors",
];

fn main() {
    let attributes = tauri_build::Attributes::new().app_manifest(tauri_build::AppManifest::new().commands(COMMANDS));
    if let Err(e) = tauri_build::try_build(attributes) {
        println!("cargo::error=tauri build failed: {e:#}");
    }
}
