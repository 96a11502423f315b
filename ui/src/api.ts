// The only module that talks to Tauri: one typed function per `cmd_*` command of
// src-tauri, and the event stream. Everything else in the window is plain components.
import type {
  AppInfo, ArchiveView, DaemonView, DiskChoice, FolderSuggestion, DestinationForm, DestinationView, DirPage, FolderListing, FormCheck, GuiError,
  FoundVersion, GuiEvent, JobForm, JobRunView, JobView, NotificationView, ObjectView, OverviewView, RestoreRequest, RestoreSummary,
  RunView, SaveView, ScheduleCheck, SearchView, SnapshotView, TestView, VendorView,
} from "./bindings.js";

interface TauriGlobal {
  core: { invoke<T>(cmd: string, args?: Record<string, unknown>): Promise<T> };
  event: { listen<T>(event: string, handler: (e: { payload: T }) => void): Promise<() => void> };
}

function tauri(): TauriGlobal {
  const t = (window as unknown as { __TAURI__?: TauriGlobal }).__TAURI__;
  if (!t) throw new Error("Cairn's window must run inside the desktop app");
  return t;
}

/** An error from a command: always a GuiError (message, hint, field). */
export class CommandError extends Error {
  constructor(public readonly error: GuiError) {
    super(error.message);
  }
}

async function call<T>(cmd: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await tauri().core.invoke<T>(cmd, args);
  } catch (e) {
    if (e && typeof e === "object" && "message" in e && "kind" in e) throw new CommandError(e as GuiError);
    throw new CommandError({ kind: "other", message: String(e), hint: null, field: null });
  }
}

/** Calls `handler` with every event of long operations (Test steps, progress). */
export function onEvent(handler: (e: GuiEvent) => void): void {
  void tauri().event.listen<GuiEvent>("cairn-event", (e) => handler(e.payload));
}

/** Listens for the app asking the window to show a screen (a later start, a notification's click). */
export function onNavigate(handler: (screen: string) => void): void {
  void tauri().event.listen<string>("cairn-navigate", (e) => handler(e.payload));
}

export const api = {
  appInfo: () => call<AppInfo>("cmd_app_info"),
  vendors: () => call<VendorView[]>("cmd_vendors"),
  rcloneRemotes: () => call<string[]>("cmd_rclone_remotes"),
  destinations: () => call<DestinationView[]>("cmd_destinations"),
  checkDestination: (form: DestinationForm, updating: boolean) =>
    call<FormCheck>("cmd_check_destination", { form, updating }),
  testForm: (op: string, form: DestinationForm) => call<TestView>("cmd_test_form", { op, form }),
  createDestination: (op: string, form: DestinationForm) => call<SaveView>("cmd_create_destination", { op, form }),
  updateDestination: (op: string, form: DestinationForm) => call<SaveView>("cmd_update_destination", { op, form }),
  testDestination: (op: string, name: string) => call<TestView>("cmd_test_destination", { op, name }),
  setDestinationEnabled: (name: string, enabled: boolean) =>
    call<DestinationView>("cmd_set_destination_enabled", { name, enabled }),
  deleteDestination: (name: string) => call<null>("cmd_delete_destination", { name }),
  browseDestination: (name: string) => call<ObjectView[]>("cmd_browse_destination", { name }),
  jobs: () => call<JobView[]>("cmd_jobs"),
  saveJob: (form: JobForm, create: boolean) => call<JobView>("cmd_save_job", { form, create }),
  deleteJob: (name: string) => call<null>("cmd_delete_job", { name }),
  setJobEnabled: (name: string, enabled: boolean) => call<JobView>("cmd_set_job_enabled", { name, enabled }),
  checkSchedule: (schedule: string) => call<ScheduleCheck>("cmd_check_schedule", { schedule }),
  runJob: (name: string) => call<JobRunView>("cmd_run_job", { name }),
  cancel: (op: string) => call<boolean>("cmd_cancel", { op }),
  jobHistory: (name: string | null, limit: number) => call<RunView[]>("cmd_job_history", { name, limit }),
  snapshots: (destination: string) => call<SnapshotView[]>("cmd_snapshots", { destination }),
  listDir: (destination: string, snapshot: string, path: string, offset: number, limit: number) =>
    call<DirPage>("cmd_list_dir", { destination, snapshot, path, offset, limit }),
  search: (destination: string, query: string, limit: number) =>
    call<SearchView>("cmd_search", { destination, query, limit }),
  restore: (op: string, request: RestoreRequest) => call<RestoreSummary>("cmd_restore", { op, request }),
  download: (op: string, destination: string, snapshot: string, paths: string[], file: string) =>
    call<RestoreSummary>("cmd_download", { op, destination, snapshot, paths, file }),
  archives: (destination: string) => call<ArchiveView[]>("cmd_archives", { destination }),
  restoreArchive: (op: string, destination: string, name: string, folder: string) =>
    call<RestoreSummary>("cmd_restore_archive", { op, destination, name, folder }),
  localFolders: (path: string) => call<FolderListing>("cmd_local_folders", { path }),
  exportRecoveryKit: (file: string) => call<string>("cmd_export_recovery_kit", { file }),
  notifications: () => call<NotificationView[]>("cmd_notifications"),
  addNotification: (kind: string, target: string) => call<number>("cmd_add_notification", { kind, target }),
  removeNotification: (id: number) => call<null>("cmd_remove_notification", { id }),
  testNotifications: () => call<string[]>("cmd_test_notifications"),
  desktopNotifications: () => call<string>("cmd_desktop_notifications"),
  setDesktopNotifications: (which: string) => call<string>("cmd_set_desktop_notifications", { which }),
  daemon: () => call<DaemonView>("cmd_daemon"),
  allowBackground: (allowed: boolean) => call<DaemonView>("cmd_allow_background", { allowed }),
  restartScheduler: () => call<DaemonView>("cmd_restart_scheduler"),
  pauseBackups: (minutes: number) => call<DaemonView>("cmd_pause_backups", { minutes }),
  resumeBackups: () => call<DaemonView>("cmd_resume_backups"),
  overview: () => call<OverviewView>("cmd_overview"),
  suggestedFolders: () => call<FolderSuggestion[]>("cmd_suggested_folders"),
  removableDisks: () => call<DiskChoice[]>("cmd_removable_disks"),
  fileHistory: (destination: string, path: string) => call<FoundVersion[]>("cmd_file_history", { destination, path }),
};
