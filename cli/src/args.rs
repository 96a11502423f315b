//! The command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Deduplicating, compressed, encrypted backups.
///
/// With no --repo, cairn uses the catalog's default destination: a repository in your data
/// directory (~/.local/share/cairn/repository) whose password it generates on first use and
/// keeps sealed in the catalog (`cairn destination get default --show-password` shows it).
#[derive(Debug, Parser)]
#[command(name = "cairn", version, propagate_version = true, max_term_width = 100)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: Global,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Global options")]
pub(crate) struct Global {
    /// Repository location: a directory path, local:PATH, s3:https://HOST/BUCKET/DIR,
    /// s3:VENDOR/BUCKET/DIR, sftp://USER@HOST:PORT/PATH, rest:https://USER@HOST:PORT/PATH,
    /// azure:ACCOUNT/CONTAINER/DIR, webdav:https://USER@HOST/PATH, ftp://USER@HOST/PATH or
    /// rclone:REMOTE:PATH (options after ?, see the README) [default: the default repository]
    #[arg(short = 'r', long, env = "CAIRN_REPOSITORY", global = true, value_name = "REPO")]
    pub(crate) repo: Option<String>,

    /// Use the catalog's destination NAME (its URL, credentials and repository password)
    /// instead of --repo; for `job create` and `job update`, repeatable: the job's destinations
    #[arg(long, global = true, value_name = "NAME", conflicts_with = "repo")]
    pub(crate) destination: Vec<String>,

    /// The catalog database [default: ~/.local/share/cairn/catalog.sqlite; key in catalog.key]
    #[arg(long, env = "CAIRN_CATALOG", global = true, value_name = "FILE")]
    pub(crate) catalog: Option<PathBuf>,

    /// Read the repository password from the first line of FILE (CAIRN_PASSWORD also works)
    #[arg(long, env = "CAIRN_PASSWORD_FILE", global = true, value_name = "FILE")]
    pub(crate) password_file: Option<PathBuf>,

    /// S3 access key id [default: AWS_ACCESS_KEY_ID; an access-key= in the URL wins]
    #[arg(long, global = true, value_name = "KEY")]
    pub(crate) s3_access_key: Option<String>,

    /// Read the S3 secret key from the first line of FILE [default: AWS_SECRET_ACCESS_KEY]
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) s3_secret_key_file: Option<PathBuf>,

    /// SSH private key for sftp:// destinations [default: ~/.ssh/id_ed25519, id_ecdsa or id_rsa;
    /// its passphrase from CAIRN_SSH_PASSPHRASE; a password instead from CAIRN_SSH_PASSWORD]
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) ssh_key: Option<PathBuf>,

    /// Trust the SFTP server whose host key has this fingerprint (SHA256:..., as an unknown
    /// host's error shows it)
    #[arg(long, global = true, value_name = "FINGERPRINT")]
    pub(crate) accept_host_key: Option<String>,

    /// known_hosts file to check SFTP host keys against [default: ~/.ssh/known_hosts]
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) known_hosts: Option<PathBuf>,

    /// Print machine-readable JSON on stdout instead of text
    #[arg(long, global = true)]
    pub(crate) json: bool,

    /// Print only errors and warnings
    #[arg(short, long, global = true)]
    pub(crate) quiet: bool,

    /// Never show a progress bar
    #[arg(long, global = true)]
    pub(crate) no_progress: bool,

    /// If another process holds a conflicting repository lock, keep trying for this long
    /// (30s, 5m, 2h) instead of failing at once
    #[arg(long, global = true, value_name = "DURATION")]
    pub(crate) retry_lock: Option<String>,
}

// Parsed once per process: the size of its largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create a repository
    Init(InitArgs),
    /// Back up files and directories into a new snapshot
    Backup(BackupArgs),
    /// List snapshots
    Snapshots(SnapshotsArgs),
    /// List the files in a snapshot
    Ls(LsArgs),
    /// Restore a snapshot, or part of one, into a directory
    Restore(RestoreArgs),
    /// Check the repository for errors
    Check(CheckArgs),
    /// Remove snapshots: by a retention policy (--keep-*), or the ones named
    Forget(ForgetArgs),
    /// Remove stale repository locks (left by processes that are gone)
    Unlock(UnlockArgs),
    /// Delete the data no snapshot needs any more (run after forget; takes the exclusive lock)
    Prune(PruneArgs),
    /// Manage the passwords that open the repository
    #[command(subcommand)]
    Key(KeyCommand),
    /// Sizes: what the snapshots hold, what is stored after deduplication and compression
    Stats,
    /// Print a repository object (config, locks, a snapshot, an index object), decrypted, as JSON
    Cat(CatArgs),
    /// Show what changed between two snapshots: added (+), removed (-), modified (M) and
    /// type-changed (T) entries, with sizes
    Diff(DiffArgs),
    /// Write a file's contents, or a directory or whole snapshot as a tar or tar.gz archive, to
    /// stdout or a file
    Dump(DumpArgs),
    /// Recover from damage: rebuild the index, or rewrite snapshots around lost data
    #[command(subcommand)]
    Repair(RepairCommand),
    /// Manage the catalog's destinations (where backups go), used with --destination NAME
    #[command(subcommand)]
    Destination(DestinationCommand),
    /// Manage backup jobs: sources, destinations, schedule, retention; run them
    #[command(subcommand)]
    Job(JobCommand),
    /// Where events (backup succeeded or failed, destination unhealthy) are sent
    #[command(subcommand)]
    Notify(NotifyCommand),
    /// Run due jobs, re-test destinations daily, refresh disk info, export the configuration
    Daemon(DaemonArgs),
    /// The catalog itself: its recovery kit, a configuration export now
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// Rebuild the catalog on a new machine from a configuration export, with the recovery kit
    Recover(RecoverArgs),
    /// The .tar and .tar.gz files of archived and compressed jobs on a destination
    #[command(subcommand)]
    Archive(ArchiveCommand),
}

#[derive(Debug, Subcommand)]
pub(crate) enum JobCommand {
    /// Add a job
    Create(JobCreateArgs),
    /// List jobs
    List,
    /// Show one job with its latest runs
    Get {
        /// Its name
        name: String,
    },
    /// Change a job: the options given replace its settings (--source and --destination
    /// replace the whole list)
    Update(JobUpdateArgs),
    /// Delete a job and its history (backups stay where they are)
    Delete {
        /// Its name
        name: String,
    },
    /// Run a job now: its pre-hook, a backup to each destination, retention, its post-hook
    Run {
        /// Its name
        name: String,
    },
    /// Show the run history (of one job, or all)
    History {
        /// The job
        name: Option<String>,
        /// How many runs
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Let the daemon run it on its schedule
    Enable {
        /// Its name
        name: String,
    },
    /// Keep the daemon from running it (it still runs with `job run`)
    Disable {
        /// Its name
        name: String,
    },
}

#[derive(Debug, Args, Default)]
pub(crate) struct JobSettingsArgs {
    /// A folder or file to back up (repeatable)
    #[arg(help_heading = "What to back up", long = "source", value_name = "PATH")]
    pub(crate) sources: Vec<PathBuf>,
    /// Leave out entries matching PATTERN (repeatable; the backup --exclude syntax)
    #[arg(help_heading = "What to back up", long, value_name = "PATTERN")]
    pub(crate) exclude: Vec<String>,
    /// When it runs by itself: hourly, "hourly at :30", "daily at 02:30", "weekly on sun at
    /// 03:00", "monthly on 1 at 04:00" (1 to 28, or last) or "cron M H DOM MON DOW" ("none"
    /// removes it)
    #[arg(help_heading = "When", long, value_name = "SCHEDULE")]
    pub(crate) schedule: Option<String>,
    /// incremental (deduplicated snapshots, the default), archived (.tar per run) or
    /// compressed (.tar.gz per run)
    #[arg(help_heading = "What to back up", long, value_name = "STRUCTURE")]
    pub(crate) structure: Option<String>,
    /// Keep the last N backups
    #[arg(help_heading = "Retention", long, value_name = "N")]
    pub(crate) keep_last: Option<u32>,
    /// Keep the last backup of each of the last N hours
    #[arg(help_heading = "Retention", long, value_name = "N")]
    pub(crate) keep_hourly: Option<u32>,
    /// ... days
    #[arg(help_heading = "Retention", long, value_name = "N")]
    pub(crate) keep_daily: Option<u32>,
    /// ... weeks
    #[arg(help_heading = "Retention", long, value_name = "N")]
    pub(crate) keep_weekly: Option<u32>,
    /// ... months
    #[arg(help_heading = "Retention", long, value_name = "N")]
    pub(crate) keep_monthly: Option<u32>,
    /// ... years
    #[arg(help_heading = "Retention", long, value_name = "N")]
    pub(crate) keep_yearly: Option<u32>,
    /// A shell command run before the backup; if it fails, the run fails ("" removes it)
    #[arg(help_heading = "Hooks", long, value_name = "COMMAND")]
    pub(crate) pre_hook: Option<String>,
    /// A shell command run after the backup, with CAIRN_JOB and CAIRN_STATUS set ("" removes it)
    #[arg(help_heading = "Hooks", long, value_name = "COMMAND")]
    pub(crate) post_hook: Option<String>,
    /// Let the daemon start it only on mains power (yes or no)
    #[arg(help_heading = "When", long, value_name = "YES|NO", value_parser = clap::builder::BoolishValueParser::new())]
    pub(crate) not_on_battery: Option<bool>,
    /// Let the daemon start it only on an unmetered network (yes or no)
    #[arg(help_heading = "When", long, value_name = "YES|NO", value_parser = clap::builder::BoolishValueParser::new())]
    pub(crate) not_on_metered: Option<bool>,
}

#[derive(Debug, Args)]
pub(crate) struct JobCreateArgs {
    /// A unique name (letters, digits, '-', '_', '.')
    #[arg(long)]
    pub(crate) name: String,
    #[command(flatten)]
    pub(crate) settings: JobSettingsArgs,
}

#[derive(Debug, Args)]
pub(crate) struct JobUpdateArgs {
    /// The job
    pub(crate) name: String,
    #[command(flatten)]
    pub(crate) settings: JobSettingsArgs,
}

#[derive(Debug, Subcommand)]
pub(crate) enum NotifyCommand {
    /// Add a sink: a webhook (HTTP POST of the event as JSON) or a command (the event as JSON
    /// on its stdin, CAIRN_EVENT set)
    Add {
        /// An http:// or https:// URL
        #[arg(long, conflicts_with = "command", required_unless_present = "command")]
        webhook: Option<String>,
        /// A shell command
        #[arg(long)]
        command: Option<String>,
    },
    /// List the sinks
    List,
    /// Remove a sink
    Remove {
        /// Its id (see `notify list`)
        id: i64,
    },
    /// Send a test event to every sink and to the desktop
    Test,
    /// Show or set which events reach the desktop: off, failures (failed or partial runs,
    /// overdue jobs, failing destinations; the default) or all
    Desktop {
        /// off, failures or all
        which: Option<String>,
    },
}

#[derive(Debug, Args)]
pub(crate) struct DaemonArgs {
    /// Do what is due now, once, and exit
    #[arg(long)]
    pub(crate) once: bool,
    /// Print the systemd user unit that runs the daemon, and exit
    #[arg(long)]
    pub(crate) systemd_unit: bool,
    /// Start no scheduled job for a while (30m, 1h, 2d) or until "tomorrow" (06:00), and exit;
    /// what falls due meanwhile runs once when the pause ends
    #[arg(long, value_name = "DURATION", conflicts_with_all = ["resume", "once", "systemd_unit"])]
    pub(crate) pause: Option<String>,
    /// End a pause, and exit
    #[arg(long, conflicts_with_all = ["once", "systemd_unit"])]
    pub(crate) resume: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum CatalogCommand {
    /// Print the recovery kit: the key that opens the catalog's secrets and its configuration
    /// exports (keep it offline, like a house key)
    RecoveryKit,
    /// Export the configuration now to a destination (as the daemon does daily)
    Export {
        /// The destination
        destination: String,
    },
}

#[derive(Debug, Args)]
pub(crate) struct RecoverArgs {
    /// Where a configuration export is: a destination URL (the --repo syntax; credentials from
    /// the usual flags and environment)
    #[arg(long, value_name = "URL")]
    pub(crate) from: String,
    /// Read the recovery kit from the first line of FILE [default: CAIRN_RECOVERY_KIT, else asked]
    #[arg(long, value_name = "FILE")]
    pub(crate) kit_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ArchiveCommand {
    /// List the archives on the destination (--destination NAME)
    List {
        /// Only this job's
        #[arg(long)]
        job: Option<String>,
    },
    /// Extract an archive into a directory
    Restore {
        /// The archive's name (see `archive list`), or "latest" with --job
        name: String,
        /// The job, for "latest"
        #[arg(long)]
        job: Option<String>,
        /// The directory to extract into (created if needed)
        #[arg(long, value_name = "DIR")]
        target: PathBuf,
    },
}

/// Destinations are kept in the catalog with their credentials and their own repository
/// password (generated, 256 bits), all sealed under the catalog's key.
#[derive(Debug, Subcommand)]
pub(crate) enum DestinationCommand {
    /// Add a destination: --url, or --type with its fields. It is tested first (connect, write
    /// a probe, find or create the repository) and saved only if the test passes. Secrets come
    /// from the environment: AWS_SECRET_ACCESS_KEY (S3), CAIRN_REST_PASSWORD (REST),
    /// CAIRN_SSH_PASSPHRASE or CAIRN_SSH_PASSWORD (SFTP)
    Create(DestinationCreateArgs),
    /// List destinations with their health and disk info
    List,
    /// Show one destination
    Get {
        /// Its name
        name: String,
        /// Also print its repository password (for a sealed envelope)
        #[arg(long)]
        show_password: bool,
    },
    /// Change a destination; it is re-tested with the new settings, which are kept only if the
    /// test passes
    Update(DestinationUpdateArgs),
    /// Remove a destination from the catalog (refused while a job uses it; the repository is
    /// left in place)
    Delete {
        /// Its name
        name: String,
    },
    /// Test a destination: connect, list, write/read/delete a probe, open or create the
    /// repository; each step with its time
    Test {
        /// Its name
        name: String,
    },
    /// Let jobs use it again
    Enable {
        /// Its name
        name: String,
    },
    /// Keep jobs from using it
    Disable {
        /// Its name
        name: String,
    },
    /// List the raw objects under its backup directory, with sizes
    Browse {
        /// Its name
        name: String,
    },
    /// Rebuild the catalog's snapshot cache and disk info from the destination; with a
    /// password (CAIRN_PASSWORD or --password-file), adopt the repository there
    Reindex {
        /// Its name
        name: String,
    },
}

#[derive(Debug, Args, Default)]
pub(crate) struct DestinationFieldArgs {
    /// Where, as one URL: a path, s3:..., sftp://..., rest:..., azure:..., webdav:...,
    /// ftp://... or rclone:REMOTE:PATH (the --repo syntax, without secrets); or give --type and
    /// the fields
    #[arg(long, conflicts_with = "kind")]
    pub(crate) url: Option<String>,
    #[command(flatten)]
    pub(crate) fields: cairn_std::form::DestinationFields,
}

#[derive(Debug, Args)]
pub(crate) struct DestinationCreateArgs {
    /// A unique name (letters, digits, '-', '_', '.')
    #[arg(long)]
    pub(crate) name: String,
    /// Restore and browse only (fixed at creation); give the repository's password with
    /// CAIRN_PASSWORD or --password-file
    #[arg(long)]
    pub(crate) read_only: bool,
    /// Send it a daily encrypted copy of the catalog's configuration (for `cairn recover`)
    #[arg(long)]
    pub(crate) export_config: bool,
    /// Save without testing (for a destination that is offline now)
    #[arg(long)]
    pub(crate) skip_test: bool,
    // Last: the fields' help heading would take the flags after them.
    #[command(flatten)]
    pub(crate) fields: DestinationFieldArgs,
}

#[derive(Debug, Args)]
pub(crate) struct DestinationUpdateArgs {
    /// The destination
    pub(crate) name: String,
    /// Turn the daily configuration export on or off
    #[arg(long, value_name = "BOOL")]
    pub(crate) export_config: Option<bool>,
    /// Make a destination added by `cairn recover` writable (this machine takes it over)
    #[arg(long)]
    pub(crate) writable: bool,
    /// Take new secrets from the environment (AWS_SECRET_ACCESS_KEY, CAIRN_REST_PASSWORD,
    /// CAIRN_SSH_PASSPHRASE, CAIRN_SSH_PASSWORD)
    #[arg(long)]
    pub(crate) secrets_from_env: bool,
    // Last: the fields' help heading would take the flags after them.
    #[command(flatten)]
    pub(crate) fields: DestinationFieldArgs,
}

#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// Argon2id memory for the password key, in KiB (default 65536; lower only for tests or tiny devices)
    #[arg(long, value_name = "KIB")]
    pub(crate) kdf_memory_kib: Option<u32>,
    /// Argon2id passes for the password key (default 3)
    #[arg(long, value_name = "N")]
    pub(crate) kdf_iterations: Option<u32>,
    /// Target size of pack files, in MiB (default 16)
    #[arg(long, value_name = "MIB")]
    pub(crate) pack_size_mib: Option<u32>,
    /// Compression of new data: zstd[:LEVEL] (1-19, default zstd:2), deflate[:LEVEL] (1-9, default 1;
    /// readable by builds without zstd) or off
    #[arg(long, value_name = "CODEC")]
    pub(crate) compression: Option<String>,
    /// A lock counts as stale once another process has seen it unchanged this long (default
    /// 30m; at least three refresh periods): 90s, 30m, 2h
    #[arg(long, value_name = "DURATION")]
    pub(crate) lock_stale_after: Option<String>,
    /// Holders of a lock refresh it this often (default 5m)
    #[arg(long, value_name = "DURATION")]
    pub(crate) lock_refresh_every: Option<String>,
    /// An exclusive locker lists the locks again after this pause, so that a lock a slow store
    /// does not list yet is seen (milliseconds, default 2000)
    #[arg(long, value_name = "MS")]
    pub(crate) lock_settle_ms: Option<u32>,
}

#[derive(Debug, Args)]
pub(crate) struct BackupArgs {
    /// Files and directories to back up
    #[arg(required = true, value_name = "PATH")]
    pub(crate) paths: Vec<PathBuf>,
    /// Leave out entries matching PATTERN (repeatable): a name like '*.tmp', an absolute path
    /// like '/home/*/.cache', or a path end like 'build/out'; '**' crosses directories
    #[arg(short, long, value_name = "PATTERN")]
    pub(crate) exclude: Vec<String>,
    /// Read exclude patterns from FILE, one per line ('#' starts a comment; repeatable)
    #[arg(long, value_name = "FILE")]
    pub(crate) exclude_file: Vec<PathBuf>,
    /// Do not descend into other filesystems (mount points are kept, empty)
    #[arg(short = 'x', long)]
    pub(crate) one_file_system: bool,
    /// Tag the snapshot (repeatable)
    #[arg(long, value_name = "TAG")]
    pub(crate) tag: Vec<String>,
    /// Host name to record [default: this machine's]
    #[arg(long, value_name = "NAME")]
    pub(crate) host: Option<String>,
    /// Compare against this snapshot [default: the latest one of this host with the same paths]
    #[arg(long, value_name = "SNAPSHOT")]
    pub(crate) parent: Option<String>,
    /// Read every file, even those unchanged since the parent snapshot
    #[arg(long)]
    pub(crate) force: bool,
    /// Record this time instead of now: RFC 3339 (2026-01-02T09:00:00Z) or local
    /// 'YYYY-MM-DD HH:MM:SS' (for importing older copies; retention uses it)
    #[arg(long, value_name = "TIME")]
    pub(crate) time: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct SnapshotsArgs {
    /// Only snapshots of this host
    #[arg(long, value_name = "NAME")]
    pub(crate) host: Option<String>,
}

/// A snapshot this machine saw in the repository and that is now missing, with nothing in the
/// repository recording it as forgotten, is *withheld* (a rolled-back or hostile store):
/// `check` fails and `prune` refuses until it comes back, or until it is accepted as gone.
#[derive(Debug, Args)]
pub(crate) struct MissingArgs {
    /// Accept that snapshots this machine saw are gone (removed by another program, or this is
    /// an older copy of the repository): stop expecting them
    #[arg(long)]
    pub(crate) forget_missing: bool,
}

#[derive(Debug, Args)]
pub(crate) struct LsArgs {
    /// Snapshot: an id, an unambiguous id prefix, or 'latest'
    pub(crate) snapshot: String,
    /// Only this path (absolute, as backed up) and what is below it
    #[arg(default_value = "/")]
    pub(crate) path: String,
    /// Show type, permissions, owner, size and modification time
    #[arg(short, long)]
    pub(crate) long: bool,
}

#[derive(Debug, Args)]
pub(crate) struct RestoreArgs {
    /// What to restore: SNAPSHOT or SNAPSHOT:PATH (an id, an unambiguous prefix, or 'latest').
    /// A directory's contents go into the target; a file keeps its name.
    pub(crate) snapshot: String,
    /// Directory to restore into (created if missing; existing files with the same names are replaced)
    #[arg(short, long, value_name = "DIR")]
    pub(crate) target: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    /// Also read, decrypt and verify every blob (reads the whole repository)
    #[arg(long)]
    pub(crate) read_data: bool,
    /// Read and verify only part of the data: N/M (part N of M; parts 1 to M cover everything),
    /// P% (a share of the packs) or a size like 500M or 2G. Shares and sizes continue where the
    /// previous such check stopped, so repeated runs cover the whole repository.
    #[arg(long, value_name = "SUBSET", conflicts_with = "read_data")]
    pub(crate) read_data_subset: Option<String>,
    #[command(flatten)]
    pub(crate) missing: MissingArgs,
}

#[derive(Debug, Args)]
pub(crate) struct DiffArgs {
    /// The older snapshot: SNAPSHOT or SNAPSHOT:PATH (an id, an unambiguous prefix, or 'latest')
    pub(crate) first: String,
    /// The newer snapshot: SNAPSHOT or SNAPSHOT:PATH
    pub(crate) second: String,
    /// Also list entries whose contents are the same but whose permissions, owner or
    /// modification time changed (U)
    #[arg(long)]
    pub(crate) metadata: bool,
}

#[derive(Debug, Args)]
pub(crate) struct DumpArgs {
    /// Snapshot: an id, an unambiguous id prefix, or 'latest'
    pub(crate) snapshot: String,
    /// What to export: a file, a directory, or / for the whole snapshot
    #[arg(default_value = "/")]
    pub(crate) path: String,
    /// Archive format: tar or tar.gz [default: tar for a directory; a file's plain contents;
    /// from the --target name if it ends in .tar, .tar.gz or .tgz]
    #[arg(short, long, value_name = "FORMAT")]
    pub(crate) archive: Option<String>,
    /// Write to FILE instead of stdout (written under a temporary name, renamed when complete)
    #[arg(short = 'o', long, value_name = "FILE")]
    pub(crate) target: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum RepairCommand {
    /// Rebuild the index from the packs themselves (after index objects were lost or damaged).
    /// Takes the exclusive lock.
    Index,
    /// Rewrite snapshots that reference lost or damaged data: files whose data is gone are
    /// dropped, unreadable directories emptied, and each is listed. The repaired snapshot is
    /// tagged 'repaired' and replaces the original. Takes the exclusive lock.
    Snapshots(RepairSnapshotsArgs),
}

#[derive(Debug, Args)]
pub(crate) struct RepairSnapshotsArgs {
    /// Only these snapshots (ids or unambiguous prefixes) [default: all]
    #[arg(value_name = "SNAPSHOT")]
    pub(crate) snapshots: Vec<String>,
    /// First read and verify all data, so that damaged (not only missing) blobs are found too
    #[arg(long)]
    pub(crate) read_data: bool,
    /// Keep the original snapshots next to the repaired ones
    #[arg(long)]
    pub(crate) keep_original: bool,
    /// Report what would be dropped; change nothing
    #[arg(short = 'n', long)]
    pub(crate) dry_run: bool,
}

/// Retention rules apply to each group of snapshots with the same host and paths on its own; a
/// snapshot is kept if any rule keeps it. Calendar rules (hourly to yearly) keep the newest
/// snapshot of each of the N newest hours, days, ISO weeks, months or years (local time) that
/// have one. The data of removed snapshots stays in the repository until a prune.
#[derive(Debug, Args)]
pub(crate) struct ForgetArgs {
    /// Snapshots to remove (ids or unambiguous prefixes), instead of a policy
    #[arg(value_name = "SNAPSHOT", conflicts_with_all = ["keep_last", "keep_hourly", "keep_daily", "keep_weekly",
        "keep_monthly", "keep_yearly", "keep_within", "keep_tag"])]
    pub(crate) snapshots: Vec<String>,
    /// Keep the N newest snapshots
    #[arg(short = 'l', long, value_name = "N")]
    pub(crate) keep_last: Option<u32>,
    /// Keep the newest snapshot of each of the N newest hours
    #[arg(short = 'H', long, value_name = "N")]
    pub(crate) keep_hourly: Option<u32>,
    /// Keep the newest snapshot of each of the N newest days
    #[arg(short = 'd', long, value_name = "N")]
    pub(crate) keep_daily: Option<u32>,
    /// Keep the newest snapshot of each of the N newest weeks (Monday to Sunday)
    #[arg(short = 'w', long, value_name = "N")]
    pub(crate) keep_weekly: Option<u32>,
    /// Keep the newest snapshot of each of the N newest months
    #[arg(short = 'm', long, value_name = "N")]
    pub(crate) keep_monthly: Option<u32>,
    /// Keep the newest snapshot of each of the N newest years
    #[arg(short = 'y', long, value_name = "N")]
    pub(crate) keep_yearly: Option<u32>,
    /// Keep every snapshot taken within DURATION of the group's newest, e.g. 2w, 36h, 1y6m
    /// (units: y = 365 days, m = 30 days, w, d, h)
    #[arg(long, value_name = "DURATION")]
    pub(crate) keep_within: Option<String>,
    /// Keep every snapshot with this tag (repeatable)
    #[arg(long, value_name = "TAG")]
    pub(crate) keep_tag: Vec<String>,
    /// Only consider snapshots of this host
    #[arg(long, value_name = "NAME")]
    pub(crate) host: Option<String>,
    /// Print the plan (kept and removed, with the rules that keep each) and change nothing
    #[arg(short = 'n', long)]
    pub(crate) dry_run: bool,
    /// Then prune: delete the data only the removed snapshots used
    #[arg(long)]
    pub(crate) prune: bool,
    /// With --prune: see `cairn prune --repack-threshold`
    #[arg(long, value_name = "PERCENT", default_value_t = 20, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub(crate) repack_threshold: u8,
    #[command(flatten)]
    pub(crate) missing: MissingArgs,
}

/// Finds the blobs no snapshot needs from the index, snapshots and trees alone; deletes packs
/// holding only such blobs, copies the used blobs of packs that are mostly unused into new
/// packs, and rewrites the index. Safe to interrupt: run it again to finish.
#[derive(Debug, Args)]
pub(crate) struct PruneArgs {
    /// Repack a pack when more than PERCENT of it is unused (0 repacks every pack with any
    /// unused data; 100 never repacks)
    #[arg(long, value_name = "PERCENT", default_value_t = 20, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub(crate) repack_threshold: u8,
    /// Print what would be deleted and repacked, and the space freed; change nothing
    #[arg(short = 'n', long)]
    pub(crate) dry_run: bool,
    #[command(flatten)]
    pub(crate) missing: MissingArgs,
}

#[derive(Debug, Args)]
pub(crate) struct UnlockArgs {
    /// Revoke every lock, not only stale ones (their holders stop at their next check): only
    /// when you are sure no other cairn uses the repository
    #[arg(long)]
    pub(crate) remove_all: bool,
}

/// Print a repository object, decrypted, as JSON (secrets such as the chunker key are left out)
#[derive(Debug, Args)]
pub(crate) struct CatArgs {
    /// What: config, locks, snapshot ID, index ID
    #[arg(value_parser = ["config", "locks", "snapshot", "index"])]
    pub(crate) what: String,
    /// The object's id (or unambiguous prefix; snapshots also take 'latest')
    pub(crate) id: Option<String>,
}

/// Several passwords can open one repository; each is a key object sealing the same master key.
/// A new password comes from CAIRN_NEW_PASSWORD, --new-password-file, or a prompt on a terminal.
#[derive(Debug, Subcommand)]
pub(crate) enum KeyCommand {
    /// List the keys (the one your password opened is marked)
    List,
    /// Add a password
    Add(NewPasswordArgs),
    /// Remove a key by id or unambiguous prefix (not the last one, not the one in use)
    Remove {
        /// The key's id or an unambiguous prefix
        id: String,
    },
    /// Change the password you used: adds a key for the new one, then removes the old key
    Passwd(NewPasswordArgs),
}

#[derive(Debug, Args)]
pub(crate) struct NewPasswordArgs {
    /// Read the new password from the first line of FILE
    #[arg(long, value_name = "FILE")]
    pub(crate) new_password_file: Option<PathBuf>,
}
