// Generated from gui/src/types.rs by `CAIRN_UPDATE_BINDINGS=1 cargo test -p cairn-gui bindings`.
// Do not edit: change the Rust types instead.

export type GuiError = { 
/**
 * `invalidInput`, `notFound`, `wrongPassword`, `locked`, `cancelled`, `io`, ...
 */
kind: string, 
/**
 * One sentence.
 */
message: string, 
/**
 * What to do about it.
 */
hint: string | null, 
/**
 * The form field that caused it (`bucket`, `region`, `name`, ...).
 */
field: string | null, };

export type FieldError = { 
/**
 * The field (`name`, `backupDir`, `bucket`, ...).
 */
field: string, 
/**
 * What is wrong with it.
 */
message: string, };

export type DestinationForm = { 
/**
 * Unique name.
 */
name: string, 
/**
 * `local`, `s3`, `sftp`, `rest`, `azure`, `webdav`, `ftp` or `rclone`.
 */
kind: string, 
/**
 * Absolute path (local, SFTP), key prefix (S3, Azure), path on the server (REST), folder
 * on the remote (rclone).
 */
backupDir: string, 
/**
 * rclone: the remote's name in rclone's configuration ([`crate::Gui::rclone_remotes`]).
 */
remote: string, 
/**
 * S3 vendor preset id, or `custom`.
 */
vendor: string, 
/**
 * S3 endpoint: a URL, or for `custom` a template with `{region}` and `{bucket}`; Azure
 * Blob endpoint when not the account's public one (empty: `ACCOUNT.blob.core.windows.net`).
 */
endpoint: string, 
/**
 * S3 region.
 */
region: string, 
/**
 * S3 bucket.
 */
bucket: string, 
/**
 * S3 account id (Cloudflare R2) or namespace (Oracle); Azure storage account.
 */
account: string, 
/**
 * Azure container.
 */
container: string, 
/**
 * Azure: `key` (the storage account key) or `sas` (a SAS token) in `secret_key`.
 */
azureAuth: string, 
/**
 * Azure access tier for data packs (`Hot`, `Cool`, `Cold`; empty: the account's default).
 */
accessTier: string, 
/**
 * S3 access key id.
 */
accessKey: string, 
/**
 * S3 secret access key, Azure account key or SAS token (kept sealed in the catalog; empty
 * on update keeps the stored one).
 */
secretKey: string, 
/**
 * S3 storage class for data packs.
 */
storageClass: string, 
/**
 * SFTP, REST, WebDAV or FTP host.
 */
host: string, 
/**
 * SFTP, REST, WebDAV or FTP port (0: the default).
 */
port: number, 
/**
 * SFTP, REST, WebDAV or FTP user (FTP: empty is anonymous).
 */
user: string, 
/**
 * SFTP private key file.
 */
keyFile: string, 
/**
 * SFTP key passphrase or password, REST, WebDAV or FTP password (sealed; empty on update keeps the stored one).
 */
password: string, 
/**
 * SFTP host key fingerprint the user accepted (`SHA256:...`).
 */
hostKey: string, 
/**
 * REST and WebDAV `https` or `http`; FTP `ftp` (TLS when offered) or `ftps` (TLS required).
 */
scheme: string, 
/**
 * Check TLS certificates.
 */
verifyTls: boolean, 
/**
 * HTTP and SFTP retries (0: the default).
 */
retries: number, 
/**
 * Parallel connections (0: the default).
 */
connections: number, 
/**
 * Read-only: restore and browse only (creation only).
 */
readOnly: boolean, 
/**
 * Send a daily encrypted copy of the catalog's configuration there.
 */
exportConfig: boolean, 
/**
 * The password of a repository that exists there already (adopt it); empty: generate one.
 */
repositoryPassword: string, };

export type FormCheck = { 
/**
 * Whether every field parses (Save may be pressed).
 */
ok: boolean, 
/**
 * The problems, one per field at most.
 */
errors: Array<FieldError>, 
/**
 * The destination URL that would be stored (no secret in it).
 */
url: string | null, 
/**
 * S3: the endpoint the vendor preset or custom template gives for this region and bucket.
 */
resolvedEndpoint: string | null, };

export type VendorView = { 
/**
 * Its id (`aws`, `wasabi`, ..., `custom`).
 */
id: string, 
/**
 * The name people know it by.
 */
name: string, 
/**
 * The endpoint template (`{region}`, `{bucket}`, `{account}`); empty: the user gives it.
 */
endpoint: string, 
/**
 * Known regions, the default first; empty: any.
 */
regions: Array<string>, 
/**
 * Path-style addressing (else virtual-hosted).
 */
pathStyle: boolean, 
/**
 * Whether the template needs an account id or namespace.
 */
needsAccount: boolean, 
/**
 * A hint for the form.
 */
help: string, };

export type StepView = { 
/**
 * What was done.
 */
name: string, 
/**
 * Whether it worked.
 */
ok: boolean, 
/**
 * How long it took.
 */
millis: number, 
/**
 * What was found, or what went wrong.
 */
detail: string | null, };

export type TestView = { 
/**
 * Whether every step passed.
 */
ok: boolean, 
/**
 * The steps in order.
 */
steps: Array<StepView>, 
/**
 * Why it failed, with what to do.
 */
error: string | null, 
/**
 * Whether the Test created the repository.
 */
initialised: boolean, 
/**
 * What the destination can do, found by the Test.
 */
capabilities: Array<string>, 
/**
 * An SFTP server whose host key is not known: accept or reject its fingerprint.
 */
unknownHostKey: string | null, };

export type SaveView = { 
/**
 * The Test run before saving.
 */
test: TestView, 
/**
 * The saved destination; none if the Test failed (nothing was saved).
 */
destination: DestinationView | null, };

export type HealthView = { 
/**
 * When (Unix seconds).
 */
time: number, 
/**
 * Whether it passed.
 */
ok: boolean, 
/**
 * Its steps in one line, or why it failed.
 */
summary: string, };

export type DiskView = { 
/**
 * When measured (Unix seconds).
 */
time: number, 
/**
 * Bytes stored (repository and the files beside it).
 */
storedBytes: number, 
/**
 * Free space, where the destination can tell.
 */
freeBytes: number | null, };

export type DestinationView = { 
/**
 * Unique name.
 */
name: string, 
/**
 * `local`, `s3`, `sftp`, `rest`.
 */
kind: string, 
/**
 * S3 vendor id (for its icon), if any.
 */
vendor: string | null, 
/**
 * Where it is (the URL, no secret in it).
 */
location: string, 
/**
 * The account allowed to modify it.
 */
owner: string, 
/**
 * Enabled (jobs write to it).
 */
enabled: boolean, 
/**
 * Read-only.
 */
readOnly: boolean, 
/**
 * Added by a disaster recovery.
 */
recovered: boolean, 
/**
 * Receives configuration exports.
 */
exportConfig: boolean, 
/**
 * Last Test.
 */
health: HealthView | null, 
/**
 * Disk info.
 */
disk: DiskView | null, 
/**
 * Snapshots known from the last listing.
 */
snapshots: number, 
/**
 * Jobs that write to it.
 */
jobs: Array<string>, 
/**
 * The form's fields as saved (no secret), for editing.
 */
form: DestinationForm, };

export type ObjectView = { 
/**
 * Path relative to the backup directory.
 */
path: string, 
/**
 * Size.
 */
size: number, };

export type ArchiveView = { 
/**
 * Its file name (in `cairn-archives/` on the destination).
 */
name: string, 
/**
 * The job that wrote it.
 */
job: string, 
/**
 * When (Unix seconds).
 */
time: number, 
/**
 * Its size.
 */
size: number, 
/**
 * Whether it is gzip-compressed.
 */
compressed: boolean, };

export type RetentionForm = { 
/**
 * The last N.
 */
last: number, 
/**
 * One per hour for N hours.
 */
hourly: number, 
/**
 * One per day for N days.
 */
daily: number, 
/**
 * One per week for N weeks.
 */
weekly: number, 
/**
 * One per month for N months.
 */
monthly: number, 
/**
 * One per year for N years.
 */
yearly: number, };

export type JobForm = { 
/**
 * Unique name.
 */
name: string, 
/**
 * Folders and files to back up (absolute).
 */
sources: Array<string>, 
/**
 * Exclude patterns.
 */
excludes: Array<string>, 
/**
 * Destination names, written in this order.
 */
destinations: Array<string>, 
/**
 * `hourly`, `daily at 02:30`, `weekly on sun at 03:00`, a cron expression, or empty: manual.
 */
schedule: string, 
/**
 * What is kept.
 */
retention: RetentionForm, 
/**
 * `incremental`, `archived` or `compressed`.
 */
structure: string, 
/**
 * Shell command before the backup.
 */
preHook: string, 
/**
 * Shell command after the backup.
 */
postHook: string, 
/**
 * The scheduler starts it only on mains power.
 */
notOnBattery: boolean, 
/**
 * The scheduler starts it only on an unmetered network.
 */
notOnMetered: boolean, };

export type RunView = { 
/**
 * History id.
 */
id: number, 
/**
 * The job.
 */
job: string, 
/**
 * The destination.
 */
destination: string, 
/**
 * Start (Unix seconds).
 */
started: number, 
/**
 * End (Unix seconds).
 */
ended: number, 
/**
 * `succeeded`, `incomplete`, `failed`, `skipped`.
 */
status: string, 
/**
 * Files in the backup.
 */
files: number, 
/**
 * Bytes read.
 */
bytesRead: number, 
/**
 * Size of all files backed up (read or unchanged; 0 for runs recorded before Cairn kept
 * it).
 */
bytesTotal: number, 
/**
 * Bytes added to the destination.
 */
bytesAdded: number, 
/**
 * Snapshot id or archive written.
 */
snapshot: string | null, 
/**
 * Why it failed.
 */
error: string | null, };

export type JobProgressView = { 
/**
 * The destination being written, once the first one is.
 */
destination: string | null, 
/**
 * How far the whole run got, once the scan of the sources knows their size (0 to 99).
 */
percent: number | null, 
/**
 * Whether this app runs it (else the scheduler or the `cairn` command does).
 */
here: boolean, };

export type JobView = { 
/**
 * Its settings.
 */
form: JobForm, 
/**
 * Whether the daemon runs it on schedule.
 */
enabled: boolean, 
/**
 * Next scheduled run (Unix seconds).
 */
nextDue: number | null, 
/**
 * Last run (Unix seconds).
 */
lastRun: number | null, 
/**
 * The last run's result per destination.
 */
lastRuns: Array<RunView>, 
/**
 * Whether it is running now in this app.
 */
running: boolean, 
/**
 * How far a run now in progress got, whichever process runs it (the scheduler, the
 * `cairn` command or this app).
 */
progress: JobProgressView | null, };

export type JobRunView = { 
/**
 * The job.
 */
job: string, 
/**
 * `succeeded`, `partial`, `failed` or `cancelled`.
 */
status: string, 
/**
 * Per destination.
 */
runs: Array<RunView>, };

export type ScheduleCheck = { 
/**
 * Whether it parses (empty: manual, fine).
 */
ok: boolean, 
/**
 * The next time it fires (Unix seconds).
 */
next: number | null, 
/**
 * Why it does not parse.
 */
error: string | null, };

export type SnapshotView = { 
/**
 * Full id.
 */
id: string, 
/**
 * Time (Unix seconds).
 */
time: number, 
/**
 * Host.
 */
host: string, 
/**
 * Backed-up paths.
 */
paths: Array<string>, 
/**
 * Tags.
 */
tags: Array<string>, 
/**
 * Files in it.
 */
files: number, 
/**
 * Bytes of file contents in it.
 */
bytes: number, };

export type EntryView = { 
/**
 * Its name (lossy UTF-8 for display).
 */
name: string, 
/**
 * Its absolute path in the snapshot.
 */
path: string, 
/**
 * `file`, `dir` or `symlink`.
 */
kind: string, 
/**
 * Size of a file.
 */
size: number, 
/**
 * Modification time (Unix seconds).
 */
mtime: number, };

export type DirPage = { 
/**
 * The entries from `offset`, directories first then by name.
 */
entries: Array<EntryView>, 
/**
 * How many entries the directory has.
 */
total: number, };

export type FoundVersion = { 
/**
 * The snapshot.
 */
snapshot: string, 
/**
 * Snapshot time (Unix seconds).
 */
time: number, 
/**
 * Size there.
 */
size: number, 
/**
 * Modification time there (Unix seconds).
 */
mtime: number, };

export type SearchHit = { 
/**
 * Its absolute path.
 */
path: string, 
/**
 * `file`, `dir` or `symlink`.
 */
kind: string, 
/**
 * Where it is, newest first.
 */
versions: Array<FoundVersion>, };

export type SearchView = { 
/**
 * Paths found.
 */
hits: Array<SearchHit>, 
/**
 * Snapshots searched.
 */
snapshots: number, 
/**
 * Whether the search stopped at its limit.
 */
truncated: boolean, };

export type RestoreTargetForm = { "kind": "original" } | { "kind": "folder", 
/**
 * The folder (absolute).
 */
path: string, };

export type RestoreRequest = { 
/**
 * The destination.
 */
destination: string, 
/**
 * The snapshot id.
 */
snapshot: string, 
/**
 * Absolute paths in the snapshot (`/` for everything).
 */
paths: Array<string>, 
/**
 * Where.
 */
target: RestoreTargetForm, 
/**
 * Replace files that exist (else keep them).
 */
overwrite: boolean, };

export type RestoreSummary = { 
/**
 * Files written.
 */
files: number, 
/**
 * Directories written.
 */
dirs: number, 
/**
 * Bytes written.
 */
bytes: number, 
/**
 * Files left as they were (they existed and overwrite was off).
 */
kept: number, 
/**
 * Entries that could not be restored.
 */
errors: number, 
/**
 * What went wrong with them.
 */
warnings: Array<string>, 
/**
 * Where it went (folders or the archive file).
 */
writtenTo: Array<string>, 
/**
 * How long it took.
 */
seconds: number, };

export type ProgressView = { 
/**
 * The operation (`job:NAME`, or the id the window gave).
 */
op: string, 
/**
 * What it is doing (`scanning`, `backing up`, `restoring`, `downloading`, `finishing`).
 */
phase: string, 
/**
 * The destination being written (jobs).
 */
destination: string | null, 
/**
 * Which destination of how many (from 1).
 */
destinationIndex: number, 
/**
 * How many destinations.
 */
destinationCount: number, 
/**
 * Files done.
 */
files: number, 
/**
 * Files expected, once known.
 */
filesTotal: number | null, 
/**
 * Bytes done.
 */
bytes: number, 
/**
 * Bytes expected, once known.
 */
bytesTotal: number | null, 
/**
 * Bytes per second so far.
 */
rate: number, 
/**
 * Seconds left, once it can be told.
 */
etaSecs: number | null, 
/**
 * The file being worked on.
 */
current: string, 
/**
 * Whether this is the last event of the operation.
 */
done: boolean, };

export type GuiEvent = { "type": "testStep", 
/**
 * The operation id the window gave.
 */
op: string, 
/**
 * The step.
 */
step: StepView, } | { "type": "progress", 
/**
 * Where it is.
 */
progress: ProgressView, };

export type NotificationView = { 
/**
 * Its id.
 */
id: number, 
/**
 * `command` or `webhook`.
 */
kind: string, 
/**
 * The command or URL.
 */
target: string, };

export type DaemonView = { 
/**
 * Whether a daemon process works on this catalog now.
 */
running: boolean, 
/**
 * Its last tick (Unix seconds).
 */
lastTick: number | null, 
/**
 * The next job due and when.
 */
nextJob: string | null, 
/**
 * When it is due (Unix seconds).
 */
nextDue: number | null, 
/**
 * Whether backups may run in the background: `unasked`, `allowed` or `declined`.
 */
background: string, 
/**
 * What starts the scheduler: `systemd` (the user unit) or `login` (the app, at login).
 */
manager: string, 
/**
 * Until when scheduled jobs are paused (Unix seconds), if they are.
 */
pausedUntil: number | null, 
/**
 * What went wrong the last time the app started or restarted it, if anything.
 */
problem: string | null, };

export type WarningView = { 
/**
 * `bad` (needs the user) or `warn`.
 */
level: string, 
/**
 * What is wrong, for people.
 */
text: string, 
/**
 * The screen that deals with it: `job:NAME`, `destination:NAME` or `settings`.
 */
screen: string, };

export type OverviewView = { 
/**
 * What needs attention, the serious first.
 */
warnings: Array<WarningView>, 
/**
 * The jobs.
 */
jobs: Array<JobView>, 
/**
 * The destinations.
 */
destinations: Array<DestinationView>, 
/**
 * The scheduler.
 */
scheduler: DaemonView, };

export type FolderSuggestion = { 
/**
 * Its absolute path.
 */
path: string, 
/**
 * Its name.
 */
name: string, 
/**
 * Bytes in it (as far as counted).
 */
bytes: number, 
/**
 * Files in it (as far as counted).
 */
files: number, 
/**
 * Whether the count finished (else the size is "at least").
 */
complete: boolean, 
/**
 * Whether it is checked at first (the usual Documents, Pictures, ...).
 */
suggested: boolean, };

export type DiskChoice = { 
/**
 * Where it is mounted.
 */
mount: string, 
/**
 * Its name (the mount point's last part, usually the disk's label).
 */
label: string, 
/**
 * Free bytes.
 */
freeBytes: number, 
/**
 * Size in bytes.
 */
totalBytes: number, };

export type AppInfo = { 
/**
 * Cairn's version.
 */
version: string, 
/**
 * The catalog file.
 */
catalog: string, 
/**
 * The user (owner of new destinations).
 */
user: string, 
/**
 * The home folder (for folder pickers).
 */
home: string, 
/**
 * The screen to open at, if the app was started for one (a notification's click).
 */
startScreen: string | null, };

export type FolderListing = { 
/**
 * The folder listed (absolute).
 */
path: string, 
/**
 * Its parent, if it has one.
 */
parent: string | null, 
/**
 * Its subfolders (absolute paths), by name; hidden ones last.
 */
folders: Array<string>, };

