//! The requests and answers of the commands, as the window sees them (JSON, camelCase). The
//! TypeScript declarations in `ui/src/bindings.ts` are generated from these types
//! ([`crate::typescript`]); a test keeps the file current.
//!
//! Nothing here holds a secret on the way out: forms carry secrets in, answers never do.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// An error as the window shows it: the message, what to do, and the form field it is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct GuiError {
    /// `invalidInput`, `notFound`, `wrongPassword`, `locked`, `cancelled`, `io`, ...
    pub kind: String,
    /// One sentence.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
    /// The form field that caused it (`bucket`, `region`, `name`, ...).
    pub field: Option<String>,
}

/// One problem with one field of a form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct FieldError {
    /// The field (`name`, `backupDir`, `bucket`, ...).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// The destination form. Which fields apply depends on `kind`; empty strings count as not given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(default, rename_all = "camelCase")]
pub struct DestinationForm {
    /// Unique name.
    pub name: String,
    /// `local`, `s3`, `sftp`, `rest`, `azure`, `webdav`, `ftp` or `rclone`.
    pub kind: String,
    /// Absolute path (local, SFTP), key prefix (S3, Azure), path on the server (REST), folder
    /// on the remote (rclone).
    pub backup_dir: String,
    /// rclone: the remote's name in rclone's configuration ([`crate::Gui::rclone_remotes`]).
    pub remote: String,
    /// S3 vendor preset id, or `custom`.
    pub vendor: String,
    /// S3 endpoint: a URL, or for `custom` a template with `{region}` and `{bucket}`; Azure
    /// Blob endpoint when not the account's public one (empty: `ACCOUNT.blob.core.windows.net`).
    pub endpoint: String,
    /// S3 region.
    pub region: String,
    /// S3 bucket.
    pub bucket: String,
    /// S3 account id (Cloudflare R2) or namespace (Oracle); Azure storage account.
    pub account: String,
    /// Azure container.
    pub container: String,
    /// Azure: `key` (the storage account key) or `sas` (a SAS token) in `secret_key`.
    pub azure_auth: String,
    /// Azure access tier for data packs (`Hot`, `Cool`, `Cold`; empty: the account's default).
    pub access_tier: String,
    /// S3 access key id.
    pub access_key: String,
    /// S3 secret access key, Azure account key or SAS token (kept sealed in the catalog; empty
    /// on update keeps the stored one).
    pub secret_key: String,
    /// S3 storage class for data packs.
    pub storage_class: String,
    /// SFTP, REST, WebDAV or FTP host.
    pub host: String,
    /// SFTP, REST, WebDAV or FTP port (0: the default).
    pub port: u16,
    /// SFTP, REST, WebDAV or FTP user (FTP: empty is anonymous).
    pub user: String,
    /// SFTP private key file.
    pub key_file: String,
    /// SFTP key passphrase or password, REST, WebDAV or FTP password (sealed; empty on update keeps the stored one).
    pub password: String,
    /// SFTP host key fingerprint the user accepted (`SHA256:...`).
    pub host_key: String,
    /// REST and WebDAV `https` or `http`; FTP `ftp` (TLS when offered) or `ftps` (TLS required).
    pub scheme: String,
    /// Check TLS certificates.
    pub verify_tls: bool,
    /// HTTP and SFTP retries (0: the default).
    pub retries: u32,
    /// Parallel connections (0: the default).
    pub connections: u32,
    /// Read-only: restore and browse only (creation only).
    pub read_only: bool,
    /// Send a daily encrypted copy of the catalog's configuration there.
    pub export_config: bool,
    /// The password of a repository that exists there already (adopt it); empty: generate one.
    pub repository_password: String,
}

/// What the form check found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct FormCheck {
    /// Whether every field parses (Save may be pressed).
    pub ok: bool,
    /// The problems, one per field at most.
    pub errors: Vec<FieldError>,
    /// The destination URL that would be stored (no secret in it).
    pub url: Option<String>,
    /// S3: the endpoint the vendor preset or custom template gives for this region and bucket.
    pub resolved_endpoint: Option<String>,
}

/// An S3 vendor preset, for the form's dropdown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct VendorView {
    /// Its id (`aws`, `wasabi`, ..., `custom`).
    pub id: String,
    /// The name people know it by.
    pub name: String,
    /// The endpoint template (`{region}`, `{bucket}`, `{account}`); empty: the user gives it.
    pub endpoint: String,
    /// Known regions, the default first; empty: any.
    pub regions: Vec<String>,
    /// Path-style addressing (else virtual-hosted).
    pub path_style: bool,
    /// Whether the template needs an account id or namespace.
    pub needs_account: bool,
    /// A hint for the form.
    pub help: String,
}

/// One step of a Test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct StepView {
    /// What was done.
    pub name: String,
    /// Whether it worked.
    pub ok: bool,
    /// How long it took.
    pub millis: u64,
    /// What was found, or what went wrong.
    pub detail: Option<String>,
}

/// A Test's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct TestView {
    /// Whether every step passed.
    pub ok: bool,
    /// The steps in order.
    pub steps: Vec<StepView>,
    /// Why it failed, with what to do.
    pub error: Option<String>,
    /// Whether the Test created the repository.
    pub initialised: bool,
    /// What the destination can do, found by the Test.
    pub capabilities: Vec<String>,
    /// An SFTP server whose host key is not known: accept or reject its fingerprint.
    pub unknown_host_key: Option<String>,
}

/// The outcome of Save: the Test, and the destination if it passed and was saved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SaveView {
    /// The Test run before saving.
    pub test: TestView,
    /// The saved destination; none if the Test failed (nothing was saved).
    pub destination: Option<DestinationView>,
}

/// Last Test of a destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct HealthView {
    /// When (Unix seconds).
    pub time: i64,
    /// Whether it passed.
    pub ok: bool,
    /// Its steps in one line, or why it failed.
    pub summary: String,
}

/// What a destination holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct DiskView {
    /// When measured (Unix seconds).
    pub time: i64,
    /// Bytes stored (repository and the files beside it).
    pub stored_bytes: u64,
    /// Free space, where the destination can tell.
    pub free_bytes: Option<u64>,
}

/// A destination in the list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct DestinationView {
    /// Unique name.
    pub name: String,
    /// `local`, `s3`, `sftp`, `rest`.
    pub kind: String,
    /// S3 vendor id (for its icon), if any.
    pub vendor: Option<String>,
    /// Where it is (the URL, no secret in it).
    pub location: String,
    /// The account allowed to modify it.
    pub owner: String,
    /// Enabled (jobs write to it).
    pub enabled: bool,
    /// Read-only.
    pub read_only: bool,
    /// Added by a disaster recovery.
    pub recovered: bool,
    /// Receives configuration exports.
    pub export_config: bool,
    /// Last Test.
    pub health: Option<HealthView>,
    /// Disk info.
    pub disk: Option<DiskView>,
    /// Snapshots known from the last listing.
    pub snapshots: u32,
    /// Jobs that write to it.
    pub jobs: Vec<String>,
    /// The form's fields as saved (no secret), for editing.
    pub form: DestinationForm,
}

/// One object under a destination's backup directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ObjectView {
    /// Path relative to the backup directory.
    pub path: String,
    /// Size.
    pub size: u64,
}

/// A `.tar` or `.tar.gz` written by an archived or compressed job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ArchiveView {
    /// Its file name (in `cairn-archives/` on the destination).
    pub name: String,
    /// The job that wrote it.
    pub job: String,
    /// When (Unix seconds).
    pub time: i64,
    /// Its size.
    pub size: u64,
    /// Whether it is gzip-compressed.
    pub compressed: bool,
}

/// What a job keeps after each run (0: no rule; no rule at all: keep everything).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(default, rename_all = "camelCase")]
pub struct RetentionForm {
    /// The last N.
    pub last: u32,
    /// One per hour for N hours.
    pub hourly: u32,
    /// One per day for N days.
    pub daily: u32,
    /// One per week for N weeks.
    pub weekly: u32,
    /// One per month for N months.
    pub monthly: u32,
    /// One per year for N years.
    pub yearly: u32,
}

/// The job form.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(default, rename_all = "camelCase")]
pub struct JobForm {
    /// Unique name.
    pub name: String,
    /// Folders and files to back up (absolute).
    pub sources: Vec<String>,
    /// Exclude patterns.
    pub excludes: Vec<String>,
    /// Destination names, written in this order.
    pub destinations: Vec<String>,
    /// `hourly`, `daily at 02:30`, `weekly on sun at 03:00`, a cron expression, or empty: manual.
    pub schedule: String,
    /// What is kept.
    pub retention: RetentionForm,
    /// `incremental`, `archived` or `compressed`.
    pub structure: String,
    /// Shell command before the backup.
    pub pre_hook: String,
    /// Shell command after the backup.
    pub post_hook: String,
    /// The scheduler starts it only on mains power.
    pub not_on_battery: bool,
    /// The scheduler starts it only on an unmetered network.
    pub not_on_metered: bool,
}

/// How one destination of a run went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct RunView {
    /// History id.
    pub id: i64,
    /// The job.
    pub job: String,
    /// The destination.
    pub destination: String,
    /// Start (Unix seconds).
    pub started: i64,
    /// End (Unix seconds).
    pub ended: i64,
    /// `succeeded`, `incomplete`, `failed`, `skipped`.
    pub status: String,
    /// Files in the backup.
    pub files: u64,
    /// Bytes read.
    pub bytes_read: u64,
    /// Size of all files backed up (read or unchanged; 0 for runs recorded before Cairn kept
    /// it).
    pub bytes_total: u64,
    /// Bytes added to the destination.
    pub bytes_added: u64,
    /// Snapshot id or archive written.
    pub snapshot: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
}

/// A job in the list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct JobView {
    /// Its settings.
    pub form: JobForm,
    /// Whether the daemon runs it on schedule.
    pub enabled: bool,
    /// Next scheduled run (Unix seconds).
    pub next_due: Option<i64>,
    /// Last run (Unix seconds).
    pub last_run: Option<i64>,
    /// The last run's result per destination.
    pub last_runs: Vec<RunView>,
    /// Whether it is running now in this app.
    pub running: bool,
    /// How far a run now in progress got, whichever process runs it (the scheduler, the
    /// `cairn` command or this app).
    pub progress: Option<JobProgressView>,
}

/// A job run in progress, as the catalog tells it to every process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct JobProgressView {
    /// The destination being written, once the first one is.
    pub destination: Option<String>,
    /// How far the whole run got, once the scan of the sources knows their size (0 to 99).
    pub percent: Option<u8>,
    /// Whether this app runs it (else the scheduler or the `cairn` command does).
    pub here: bool,
}

/// A job run's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct JobRunView {
    /// The job.
    pub job: String,
    /// `succeeded`, `partial`, `failed` or `cancelled`.
    pub status: String,
    /// Per destination.
    pub runs: Vec<RunView>,
}

/// When a schedule next fires, or why it does not parse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleCheck {
    /// Whether it parses (empty: manual, fine).
    pub ok: bool,
    /// The next time it fires (Unix seconds).
    pub next: Option<i64>,
    /// Why it does not parse.
    pub error: Option<String>,
}

/// A snapshot in the restore browser.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotView {
    /// Full id.
    pub id: String,
    /// Time (Unix seconds).
    pub time: i64,
    /// Host.
    pub host: String,
    /// Backed-up paths.
    pub paths: Vec<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Files in it.
    pub files: u64,
    /// Bytes of file contents in it.
    pub bytes: u64,
}

/// An entry of a directory in a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct EntryView {
    /// Its name (lossy UTF-8 for display).
    pub name: String,
    /// Its absolute path in the snapshot.
    pub path: String,
    /// `file`, `dir` or `symlink`.
    pub kind: String,
    /// Size of a file.
    pub size: u64,
    /// Modification time (Unix seconds).
    pub mtime: i64,
}

/// A page of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct DirPage {
    /// The entries from `offset`, directories first then by name.
    pub entries: Vec<EntryView>,
    /// How many entries the directory has.
    pub total: u32,
}

/// One version of a found path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct FoundVersion {
    /// The snapshot.
    pub snapshot: String,
    /// Snapshot time (Unix seconds).
    pub time: i64,
    /// Size there.
    pub size: u64,
    /// Modification time there (Unix seconds).
    pub mtime: i64,
}

/// A path whose name matched, with the snapshots holding it (newest first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SearchHit {
    /// Its absolute path.
    pub path: String,
    /// `file`, `dir` or `symlink`.
    pub kind: String,
    /// Where it is, newest first.
    pub versions: Vec<FoundVersion>,
}

/// Search results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SearchView {
    /// Paths found.
    pub hits: Vec<SearchHit>,
    /// Snapshots searched.
    pub snapshots: u32,
    /// Whether the search stopped at its limit.
    pub truncated: bool,
}

/// Where a restore writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum RestoreTargetForm {
    /// Back where each path was.
    Original,
    /// Into this folder (each selected item by its name).
    Folder {
        /// The folder (absolute).
        path: String,
    },
}

/// A restore of some paths of one snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct RestoreRequest {
    /// The destination.
    pub destination: String,
    /// The snapshot id.
    pub snapshot: String,
    /// Absolute paths in the snapshot (`/` for everything).
    pub paths: Vec<String>,
    /// Where.
    pub target: RestoreTargetForm,
    /// Replace files that exist (else keep them).
    pub overwrite: bool,
}

/// What a restore or download did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct RestoreSummary {
    /// Files written.
    pub files: u64,
    /// Directories written.
    pub dirs: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Files left as they were (they existed and overwrite was off).
    pub kept: u64,
    /// Entries that could not be restored.
    pub errors: u64,
    /// What went wrong with them.
    pub warnings: Vec<String>,
    /// Where it went (folders or the archive file).
    pub written_to: Vec<String>,
    /// How long it took.
    pub seconds: f64,
}

/// Progress of a long operation, sent as an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ProgressView {
    /// The operation (`job:NAME`, or the id the window gave).
    pub op: String,
    /// What it is doing (`scanning`, `backing up`, `restoring`, `downloading`, `finishing`).
    pub phase: String,
    /// The destination being written (jobs).
    pub destination: Option<String>,
    /// Which destination of how many (from 1).
    pub destination_index: u32,
    /// How many destinations.
    pub destination_count: u32,
    /// Files done.
    pub files: u64,
    /// Files expected, once known.
    pub files_total: Option<u64>,
    /// Bytes done.
    pub bytes: u64,
    /// Bytes expected, once known.
    pub bytes_total: Option<u64>,
    /// Bytes per second so far.
    pub rate: f64,
    /// Seconds left, once it can be told.
    pub eta_secs: Option<u64>,
    /// The file being worked on.
    pub current: String,
    /// Whether this is the last event of the operation.
    pub done: bool,
}

/// An event for the window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum GuiEvent {
    /// A Test step ended.
    TestStep {
        /// The operation id the window gave.
        op: String,
        /// The step.
        step: StepView,
    },
    /// A long operation moved on.
    Progress {
        /// Where it is.
        progress: ProgressView,
    },
}

/// A notification sink.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct NotificationView {
    /// Its id.
    pub id: i64,
    /// `command` or `webhook`.
    pub kind: String,
    /// The command or URL.
    pub target: String,
}

/// The daemon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct DaemonView {
    /// Whether a daemon process works on this catalog now.
    pub running: bool,
    /// Its last tick (Unix seconds).
    pub last_tick: Option<i64>,
    /// The next job due and when.
    pub next_job: Option<String>,
    /// When it is due (Unix seconds).
    pub next_due: Option<i64>,
    /// Whether backups may run in the background: `unasked`, `allowed` or `declined`.
    pub background: String,
    /// What starts the scheduler: `systemd` (the user unit) or `login` (the app, at login).
    pub manager: String,
    /// Until when scheduled jobs are paused (Unix seconds), if they are.
    pub paused_until: Option<i64>,
    /// What went wrong the last time the app started or restarted it, if anything.
    pub problem: Option<String>,
}

/// The app's situation, for its first screen and Settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct AppInfo {
    /// Cairn's version.
    pub version: String,
    /// The catalog file.
    pub catalog: String,
    /// The user (owner of new destinations).
    pub user: String,
    /// The home folder (for folder pickers).
    pub home: String,
    /// The screen to open at, if the app was started for one (a notification's click).
    pub start_screen: Option<String>,
}

/// Folders of the local machine, for the in-app folder picker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct FolderListing {
    /// The folder listed (absolute).
    pub path: String,
    /// Its parent, if it has one.
    pub parent: Option<String>,
    /// Its subfolders (absolute paths), by name; hidden ones last.
    pub folders: Vec<String>,
}

/// One thing the overview puts first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct WarningView {
    /// `bad` (needs the user) or `warn`.
    pub level: String,
    /// What is wrong, for people.
    pub text: String,
    /// The screen that deals with it: `job:NAME`, `destination:NAME` or `settings`.
    pub screen: String,
}

/// The overview: warnings first, then every job and destination, and the scheduler.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct OverviewView {
    /// What needs attention, the serious first.
    pub warnings: Vec<WarningView>,
    /// The jobs.
    pub jobs: Vec<JobView>,
    /// The destinations.
    pub destinations: Vec<DestinationView>,
    /// The scheduler.
    pub scheduler: DaemonView,
}

/// A folder of the home the first run offers to back up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct FolderSuggestion {
    /// Its absolute path.
    pub path: String,
    /// Its name.
    pub name: String,
    /// Bytes in it (as far as counted).
    pub bytes: u64,
    /// Files in it (as far as counted).
    pub files: u64,
    /// Whether the count finished (else the size is "at least").
    pub complete: bool,
    /// Whether it is checked at first (the usual Documents, Pictures, ...).
    pub suggested: bool,
}

/// A removable disk mounted now, which the first run offers as the destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct DiskChoice {
    /// Where it is mounted.
    pub mount: String,
    /// Its name (the mount point's last part, usually the disk's label).
    pub label: String,
    /// Free bytes.
    pub free_bytes: u64,
    /// Size in bytes.
    pub total_bytes: u64,
}
