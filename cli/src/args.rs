//! The command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Deduplicating, compressed, encrypted backups.
///
/// With no --repo, cairn uses a default repository in your data directory
/// (~/.local/share/cairn/repository) whose password it generates on first use and keeps in
/// ~/.local/share/cairn/repository.password, readable only by you.
#[derive(Debug, Parser)]
#[command(name = "cairn", version, propagate_version = true, max_term_width = 100)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: Global,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Clone, Args)]
pub(crate) struct Global {
    /// Repository location: a directory path, local:PATH, s3:https://HOST/BUCKET/DIR,
    /// s3:VENDOR/BUCKET/DIR, sftp://USER@HOST:PORT/PATH or rest:https://USER@HOST:PORT/PATH
    /// (options after ?, see the README) [default: the default repository]
    #[arg(short = 'r', long, env = "CAIRN_REPOSITORY", global = true, value_name = "REPO")]
    pub(crate) repo: Option<String>,

    /// Use the catalog's destination NAME (its URL, credentials and repository password)
    /// instead of --repo
    #[arg(long, global = true, value_name = "NAME", conflicts_with = "repo")]
    pub(crate) destination: Option<String>,

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
}

/// Destinations are kept in the catalog with their credentials and their own repository
/// password (generated, 256 bits), all sealed under the catalog's key.
#[derive(Debug, Subcommand)]
pub(crate) enum DestinationCommand {
    /// Add a destination. Secrets come from the environment: AWS_SECRET_ACCESS_KEY (S3),
    /// CAIRN_REST_PASSWORD (REST), CAIRN_SSH_PASSPHRASE or CAIRN_SSH_PASSWORD (SFTP)
    Create(DestinationCreateArgs),
    /// List destinations
    List,
    /// Show one destination
    Get {
        /// Its name
        name: String,
        /// Also print its repository password (for a sealed envelope)
        #[arg(long)]
        show_password: bool,
    },
    /// Remove a destination from the catalog (the repository itself is left in place)
    Delete {
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
}

#[derive(Debug, Args)]
pub(crate) struct DestinationCreateArgs {
    /// A unique name (letters, digits, '-', '_', '.')
    #[arg(long)]
    pub(crate) name: String,
    /// Where: a path, s3:..., sftp://... or rest:... (the --repo syntax, without secrets)
    #[arg(long)]
    pub(crate) url: String,
    /// Restore and browse only
    #[arg(long)]
    pub(crate) read_only: bool,
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
}

#[derive(Debug, Args)]
pub(crate) struct UnlockArgs {
    /// Remove every lock, not only stale ones: only when you are sure no other cairn uses the repository
    #[arg(long)]
    pub(crate) remove_all: bool,
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
