//! Running a job: its pre-hook, a backup to each of its destinations in turn, its retention
//! policy, its post-hook, and a history row per destination.
//!
//! - A disabled destination is skipped and a failing one fails alone: the run goes on to the
//!   next destination and ends **partially complete**, naming which.
//! - `incremental` jobs write snapshots to the destination's repository (initialising it, and
//!   claiming the backup directory, if there is none yet), then forget what the retention
//!   policy does not keep and prune. `archived` and `compressed` jobs write one `.tar` or
//!   `.tar.gz` per run to `cairn-archives/` beside the repository, named
//!   `YYYYMMDDTHHMMSSZ-JOB.tar[.gz]`, and apply the same retention to those files.
//! - A failing pre-hook fails the run before anything is written, its output in the history.
//!   The post-hook runs after every destination, with `CAIRN_JOB` and `CAIRN_STATUS`
//!   (`succeeded`, `partial` or `failed`) set.

use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cairn_core::{
    BackupOptions, FileKind, Handle, PruneOptions, Repository, RetentionInput, SnapshotId, Storage, Timestamp, backup,
    plan_prune, plan_retention, prune,
};
use serde::Serialize;

use crate::backend::destination::{Access, Destination};
use crate::catalog::{Catalog, JobRecord, RunRecord, RunStatus, Structure};
use crate::error::{Error, ErrorKind, storage_error, utc_offset};
use crate::fs::source::{Excludes, FsSource, FsSourceOptions};
use crate::health::{Owner, claim};
use crate::jobs::running::RunProgress;
use crate::lock::{LockKeeper, lock_repository, with_lease_kept};
use crate::worker::ThreadWorker;

/// Where runs get the time: the system clock, or a test's.
pub trait Clock {
    /// Now, in Unix seconds.
    fn now(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        crate::process::now().secs
    }
}

/// How a whole job run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum JobStatus {
    /// Every destination was written.
    Succeeded,
    /// Some destinations were written; others were disabled or failed.
    Partial,
    /// No destination was written.
    Failed,
}

impl JobStatus {
    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Partial => "partial",
            Self::Failed => "failed",
        }
    }
}

/// What a job run did.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct JobRunReport {
    /// The job.
    pub job: String,
    /// How it ended.
    pub status: JobStatus,
    /// One entry per destination, as recorded in the history.
    pub runs: Vec<RunRecord>,
}

impl JobRunReport {
    /// The destinations that were not written, with why.
    pub fn failures(&self) -> Vec<String> {
        self.runs
            .iter()
            .filter(|r| matches!(r.status, RunStatus::Failed | RunStatus::Skipped))
            .map(|r| format!("{}: {}", r.destination, r.error.as_deref().unwrap_or(r.status.name())))
            .collect()
    }
}

/// Largest hook output kept in the history.
const MAX_HOOK_OUTPUT: usize = 64 << 10;

/// Runs a hook with `sh -c`, returning whether it succeeded and its output (stdout then
/// stderr, cut to 64 KiB).
fn run_hook(command: &str, env: &[(&str, &str)]) -> (bool, String) {
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c").arg(command).stdin(std::process::Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    match cmd.output() {
        Ok(out) => {
            let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&out.stderr));
            if text.len() > MAX_HOOK_OUTPUT {
                let mut cut = MAX_HOOK_OUTPUT;
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                text.truncate(cut);
                text.push_str("\n[output cut at 64 KiB]");
            }
            let status = match out.status.code() {
                Some(0) => return (true, text),
                Some(c) => format!("exit status {c}"),
                None => "killed by a signal".to_string(),
            };
            (false, format!("{text}[{status}]"))
        }
        Err(e) => (false, format!("cannot run sh: {e}")),
    }
}

/// Runs job `name` now (see the [module docs](self)) and records its history. The job's next
/// due time moves to its schedule's next slot after the run.
pub async fn run_job(
    catalog: &Catalog,
    name: &str,
    worker: &ThreadWorker,
    clock: &dyn Clock,
    progress: &mut dyn RunProgress,
) -> Result<JobRunReport, Error> {
    let job = catalog.require_job(name)?;
    let started = clock.now();
    let totals = crate::totals::Totals::scan(job.spec.sources.clone());
    let mut progress = crate::jobs::running::Recorder::new(catalog, name, started, totals.clone(), progress);
    progress.totals(totals);
    let mut runs = Vec::new();
    let mut output = String::new();
    let pre_failed = match &job.spec.pre_hook {
        Some(hook) => {
            let (ok, out) = run_hook(hook, &[("CAIRN_JOB", name)]);
            output = format!("pre-hook:\n{out}");
            (!ok).then_some(out)
        }
        None => None,
    };
    if let Some(out) = pre_failed {
        let last = out.lines().last().unwrap_or("").to_string();
        for d in &job.spec.destinations {
            let mut run = RunRecord::new(name, d, started, clock.now(), RunStatus::Failed);
            run.error = Some(format!("the pre-hook failed {last}"));
            runs.push(run);
        }
    } else {
        let count = job.spec.destinations.len();
        for (i, d) in job.spec.destinations.iter().enumerate() {
            progress.destination(d, i, count);
            let t = clock.now();
            let mut run = RunRecord::new(name, d, t, t, RunStatus::Failed);
            match catalog.require_destination(d) {
                Ok(r) if !r.enabled => {
                    run.status = RunStatus::Skipped;
                    run.error = Some("the destination is disabled".into());
                }
                Ok(r) if r.read_only => {
                    run.error = Some(crate::backend::destination::read_only_error("a backup").to_string());
                }
                Ok(_) => {
                    if let Err(e) = write_one(catalog, &job, d, worker, clock, &mut progress, &mut run).await {
                        run.status = RunStatus::Failed;
                        run.error = Some(e.with_hint_inline());
                    }
                }
                Err(e) => run.error = Some(e.to_string()),
            }
            run.ended = clock.now();
            runs.push(run);
        }
    }
    let written = runs.iter().filter(|r| matches!(r.status, RunStatus::Succeeded | RunStatus::Incomplete)).count();
    let status = match written {
        0 => JobStatus::Failed,
        n if n == runs.len() && runs.iter().all(|r| r.status == RunStatus::Succeeded) => JobStatus::Succeeded,
        _ => JobStatus::Partial,
    };
    if let Some(hook) = &job.spec.post_hook {
        let (ok, out) = run_hook(hook, &[("CAIRN_JOB", name), ("CAIRN_STATUS", status.name())]);
        output.push_str(&format!(
            "{}post-hook{}:\n{out}",
            if output.is_empty() { "" } else { "\n" },
            if ok { "" } else { " (failed)" }
        ));
    }
    for run in &mut runs {
        if !output.is_empty() {
            run.output = Some(output.clone());
        }
        run.id = catalog.add_run(run)?;
    }
    let next = match &job.spec.schedule {
        Some(s) => Some(crate::jobs::schedule::Schedule::parse(s)?.next_after(clock.now())?),
        None => None,
    };
    catalog.set_job_ran(name, started, next)?;
    Ok(JobRunReport { job: name.to_string(), status, runs })
}

/// Writes the job to one destination.
async fn write_one(
    catalog: &Catalog,
    job: &JobRecord,
    dest_name: &str,
    worker: &ThreadWorker,
    clock: &dyn Clock,
    progress: &mut dyn cairn_core::Progress,
    run: &mut RunRecord,
) -> Result<(), Error> {
    let candidate = catalog.candidate(dest_name)?;
    let destination = candidate.parsed.open()?;
    let owner = Owner::new(&catalog.catalog_id()?, dest_name);
    claim(&destination, &owner, &candidate.parsed.show()).await?;
    match job.spec.structure {
        Structure::Incremental => {
            let kdf = candidate.kdf();
            write_snapshot(
                catalog,
                job,
                dest_name,
                destination,
                (&candidate.password, kdf),
                worker,
                clock,
                progress,
                run,
            )
            .await?
        }
        Structure::Archived | Structure::Compressed => write_archive(job, &destination, clock, run).await?,
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)] // The steps of one run, each needing its part.
async fn write_snapshot(
    catalog: &Catalog,
    job: &JobRecord,
    dest_name: &str,
    destination: Destination,
    (password, kdf): (&crate::Secret, cairn_core::KdfParams),
    worker: &ThreadWorker,
    clock: &dyn Clock,
    progress: &mut dyn cairn_core::Progress,
    run: &mut RunRecord,
) -> Result<(), Error> {
    let store = crate::lock::lock_keeper(Access::new(destination, false));
    let place = format!("destination {dest_name}");
    let exists = !store
        .inner()
        .list(FileKind::Config)
        .await
        .map_err(|e| storage_error(&place, cairn_core::StorageOp::List, &Handle::CONFIG, e))?
        .is_empty();
    let repo = if exists {
        Repository::open(store, password.expose()).await?
    } else {
        let mut options = cairn_core::InitOptions::default();
        options.kdf = kdf;
        options.compression = cairn_core::Compression::best_available();
        Repository::init(store, password.expose(), &options, &mut crate::rng::os_rng()).await?
    };
    let memory = crate::known::Memory::Catalog(catalog);
    let result =
        with_lease_kept(repo.storage(), backup_and_forget(&repo, &memory, job, worker, clock, progress, run)).await;
    repo.storage().release().await;
    result?;
    let snapshots = repo.list_snapshots().await?;
    memory.remember(&repo.config().id, snapshots.iter().map(|(id, s)| (id, s)))?;
    catalog.cache_snapshots(dest_name, &snapshots)?;
    Ok(())
}

type Repo = Repository<LockKeeper<Access>>;

async fn backup_and_forget(
    repo: &Repo,
    memory: &crate::known::Memory<'_>,
    job: &JobRecord,
    worker: &ThreadWorker,
    clock: &dyn Clock,
    mut progress: &mut dyn cairn_core::Progress,
    run: &mut RunRecord,
) -> Result<(), Error> {
    lock_repository(repo, "backup", false, Duration::from_secs(60)).await?;
    let source_options = FsSourceOptions { excludes: Excludes::new(&job.spec.excludes)?, ..Default::default() };
    let mut source = FsSource::new(&job.spec.sources, source_options)?;
    let host = crate::process::hostname();
    let mut paths: Vec<Vec<u8>> = job.spec.sources.iter().map(|p| p.as_os_str().as_bytes().to_vec()).collect();
    paths.sort();
    paths.dedup();
    let tag = format!("job:{}", job.name);
    let listed = repo.list_snapshots().await?;
    memory.remember(&repo.config().id, listed.iter().map(|(id, s)| (id, s)))?;
    let parent = listed
        .into_iter()
        .rev()
        .find(|(_, s)| s.hostname == host && s.paths == paths && s.tags.contains(&tag))
        .map(|(id, _)| id);
    let mut options = BackupOptions::default();
    options.paths = paths;
    options.time = Timestamp::new(clock.now(), 0);
    options.hostname = host;
    options.username = crate::process::username();
    options.tags = vec![tag.clone()];
    options.parent = parent;
    options.program = format!("cairn {}", env!("CARGO_PKG_VERSION"));
    options.excludes = job.spec.excludes.clone();
    let mut index = repo.load_index().await?;
    let done =
        backup(repo, &mut index, &mut source, worker, &mut crate::rng::os_rng(), &mut progress, &options).await?;
    memory.remember(&repo.config().id, [(&done.snapshot_id, &done.snapshot)])?;
    let s = done.snapshot.stats;
    run.files = s.files_new + s.files_changed + s.files_unmodified;
    run.bytes_read = s.bytes_read;
    run.bytes_total = s.bytes_total;
    run.bytes_added = s.bytes_added_stored;
    run.snapshot = Some(done.snapshot_id.to_hex());
    run.status = if s.errors > 0 { RunStatus::Incomplete } else { RunStatus::Succeeded };
    if s.errors > 0 {
        run.error = Some(format!("{} entries could not be read", s.errors));
    }
    if job.spec.retention.is_empty() {
        return Ok(());
    }
    // Forget what the policy does not keep among this job's snapshots, then prune (under the
    // exclusive lock, taken after the shared one is given back).
    repo.storage().release().await;
    lock_repository(repo, "forget --prune", true, Duration::from_secs(300)).await?;
    repo.storage().inner().ensure_deletes_allowed("the retention policy").await?;
    let all = repo.snapshots().await?;
    // Nothing is deleted while the store withholds a snapshot this machine saw.
    let present = all.valid.iter().chain(&all.withdrawn).map(|(id, _)| *id);
    let missing = crate::known::withheld(repo, memory, present).await?;
    if !missing.is_empty() {
        return Err(crate::known::withheld_error(&missing, "the retention policy was not applied"));
    }
    let snapshots = all.valid;
    // The job's policy has no keep-tag rule: a snapshot's tags only select the job's own.
    let input: Vec<RetentionInput> = snapshots
        .iter()
        .filter(|(_, s)| s.tags.contains(&tag))
        .map(|(id, s)| RetentionInput::of(*id, s, utc_offset(s.time)))
        .collect();
    let mut policy = job.spec.retention.policy();
    policy.now = Some(Timestamp::new(clock.now(), 0));
    let plan = plan_retention(&input, &policy);
    let removed: Vec<SnapshotId> = plan.removed().collect();
    repo.forget_snapshots(&removed, &mut crate::rng::os_rng()).await?;
    memory.forget(&repo.config().id, &removed)?;
    if !removed.is_empty() {
        let mut options = PruneOptions::default();
        options.known_snapshots = memory.load(&repo.config().id)?.into_keys().collect();
        options.ignore_snapshots = removed;
        let plan = plan_prune(repo, &options).await?;
        if !plan.is_empty() {
            prune(repo, plan, &mut crate::rng::os_rng()).await?;
        }
        remove_stale_temporaries(repo.storage().inner().destination()).await?;
    }
    Ok(())
}

/// Removes the temporary files that interrupted uploads left on `dest` and nobody has touched
/// for [`STALE_TEMPORARY_AGE`](crate::STALE_TEMPORARY_AGE); prune calls it holding the
/// exclusive lock. Returns how many.
pub async fn remove_stale_temporaries(dest: &Destination) -> Result<u64, Error> {
    dest.remove_stale_temporaries(crate::STALE_TEMPORARY_AGE).await.map_err(|e| {
        Error::new(ErrorKind::Io, format!("cannot remove the temporary files that interrupted uploads left: {e}"))
    })
}

pub use crate::backend::path_store::ARCHIVE_DIR;

/// How many archives of one job one second can hold (then a run fails, saying so).
const MAX_ARCHIVES_PER_SECOND: u32 = 100;

/// An archive written by an `archived` or `compressed` job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ArchiveEntry {
    /// Its file name in `cairn-archives/`.
    pub name: String,
    /// The job that wrote it.
    pub job: String,
    /// When (Unix seconds).
    pub time: i64,
    /// Its size.
    pub size: u64,
    /// Whether it is gzip-compressed.
    pub compressed: bool,
    /// Its number among the archives of its job in the same second (1 for the first).
    pub seq: u32,
}

/// The archive file name for `job` at `time`, the `seq`th in that second:
/// `20261122T101700Z-JOB.tar`, then `20261122T101700Z.2-JOB.tar` (the stamp has a fixed width
/// and digits hold no `-`, so a name reads back one way only).
fn archive_name(job: &str, time: i64, compressed: bool, seq: u32) -> String {
    let stamp = jiff::Timestamp::from_second(time)
        .map(|t| t.strftime("%Y%m%dT%H%M%SZ").to_string())
        .unwrap_or_else(|_| "19700101T000000Z".into());
    let seq = if seq > 1 { format!(".{seq}") } else { String::new() };
    format!("{stamp}{seq}-{job}.{}", if compressed { "tar.gz" } else { "tar" })
}

/// Parses an archive file name back.
fn parse_archive(name: &str, size: u64) -> Option<ArchiveEntry> {
    let (stamp, rest) = (name.get(..16)?, name.get(16..)?);
    let (seq, rest) = match rest.strip_prefix('.') {
        Some(numbered) => {
            let (seq, rest) = numbered.split_once('-')?;
            let seq: u32 = seq.parse().ok().filter(|n| *n > 1 && !seq.starts_with('0'))?;
            (seq, format!("-{rest}"))
        }
        None => (1, rest.to_string()),
    };
    let rest = rest.strip_prefix('-')?;
    let (job, compressed) = match rest.strip_suffix(".tar.gz") {
        Some(j) => (j, true),
        None => (rest.strip_suffix(".tar")?, false),
    };
    let time = jiff::civil::DateTime::strptime("%Y%m%dT%H%M%SZ", stamp).ok()?.to_zoned(jiff::tz::TimeZone::UTC).ok()?;
    Some(ArchiveEntry {
        name: name.to_string(),
        job: job.to_string(),
        time: time.timestamp().as_second(),
        size,
        compressed,
        seq,
    })
}

/// The archives on a destination, oldest first (of one job, if given).
pub async fn list_archives(dest: &Destination, job: Option<&str>) -> Result<Vec<ArchiveEntry>, Error> {
    let files = dest
        .list_files(ARCHIVE_DIR)
        .await
        .map_err(|e| Error::new(ErrorKind::Io, format!("cannot list {ARCHIVE_DIR}: {e}")))?;
    let mut out: Vec<ArchiveEntry> = files
        .into_iter()
        .filter_map(|(n, size)| parse_archive(&n, size))
        .filter(|a| job.is_none_or(|j| a.job == j))
        .collect();
    out.sort_by_key(|a| (a.time, a.seq));
    Ok(out)
}

/// An anonymous temporary file for an archive on its way to or from a destination, in the
/// cache directory (archives can be larger than memory, and than a RAM-backed `/tmp`).
fn spool_file() -> Result<std::fs::File, Error> {
    let dir = crate::paths::cache_dir().map(|d| d.join("spool"));
    if let Ok(dir) = &dir
        && std::fs::create_dir_all(dir).is_ok()
        && let Ok(f) = tempfile::tempfile_in(dir)
    {
        return Ok(f);
    }
    tempfile::tempfile().map_err(|e| Error::new(ErrorKind::Io, format!("cannot create a temporary file: {e}")))
}

/// Reads an archive from a destination into a temporary file (streamed: memory stays bounded),
/// positioned at its start.
pub async fn read_archive(dest: &Destination, archive: &ArchiveEntry) -> Result<std::fs::File, Error> {
    use std::io::{Seek, SeekFrom};
    let name = format!("{ARCHIVE_DIR}/{}", archive.name);
    let mut file = spool_file()?;
    {
        let mut out = std::io::BufWriter::with_capacity(1 << 20, &mut file);
        dest.get_file_into(&name, archive.size, &mut out)
            .await
            .map_err(|e| Error::new(ErrorKind::Io, format!("cannot read {name}: {e}")))?;
        out.flush().map_err(|e| Error::new(ErrorKind::Io, format!("cannot spool {name}: {e}")))?;
    }
    file.seek(SeekFrom::Start(0)).map_err(|e| Error::new(ErrorKind::Io, format!("cannot spool {name}: {e}")))?;
    Ok(file)
}

/// Extracts an archive read from `reader` into `target` (created if needed): contents, modes,
/// owners (as root) and times; entries that would land outside `target` are refused. Returns
/// the files (every entry but directories), directories and bytes written.
pub fn extract_archive(reader: impl std::io::Read, compressed: bool, target: &Path) -> Result<(u64, u64, u64), Error> {
    std::fs::create_dir_all(target).map_err(|e| Error::io("cannot create", target, e))?;
    let failed =
        |e: std::io::Error| Error::new(ErrorKind::Io, format!("cannot extract into {}: {e}", target.display()));
    let reader = std::io::BufReader::with_capacity(1 << 20, reader);
    let reader: Box<dyn std::io::Read> =
        if compressed { Box::new(flate2::read::GzDecoder::new(reader)) } else { Box::new(reader) };
    let mut archive = tar::Archive::new(reader);
    archive.set_preserve_permissions(true);
    archive.set_preserve_mtime(true);
    let (mut files, mut bytes) = (0u64, 0u64);
    // Directories last, as `tar` does, so that their times and modes are not undone by what
    // is written inside them.
    let mut directories = Vec::new();
    for entry in archive.entries().map_err(failed)? {
        let mut entry = entry.map_err(failed)?;
        if entry.header().entry_type() == tar::EntryType::Directory {
            directories.push(entry);
            continue;
        }
        files += 1;
        bytes += entry.size();
        if !entry.unpack_in(target).map_err(failed)? {
            return Err(Error::new(
                ErrorKind::Corrupt,
                format!(
                    "the archive holds an entry outside the folder: {}",
                    String::from_utf8_lossy(&entry.path_bytes())
                ),
            ));
        }
    }
    let dirs = directories.len() as u64;
    directories.sort_by(|a, b| b.path_bytes().cmp(&a.path_bytes()));
    for mut dir in directories {
        dir.unpack_in(target).map_err(failed)?;
    }
    Ok((files, dirs, bytes))
}

fn archive_error(e: std::io::Error) -> Error {
    Error::new(ErrorKind::Io, format!("cannot build the archive: {e}"))
}

/// Builds the tar (or tar.gz) of the job's sources into a temporary file: the file (at its
/// end), its size, and the files and bytes read.
fn build_archive(
    sources: &[PathBuf],
    excludes: &Excludes,
    compressed: bool,
) -> Result<(std::fs::File, u64, u64, u64), Error> {
    let spool = std::io::BufWriter::with_capacity(1 << 20, spool_file()?);
    let (spool, files, bytes) = if compressed {
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(spool, flate2::Compression::fast()));
        let (files, bytes) = fill_archive(&mut builder, sources, excludes)?;
        let gz = builder.into_inner().map_err(archive_error)?;
        (gz.finish().map_err(archive_error)?, files, bytes)
    } else {
        let mut builder = tar::Builder::new(spool);
        let (files, bytes) = fill_archive(&mut builder, sources, excludes)?;
        (builder.into_inner().map_err(archive_error)?, files, bytes)
    };
    let file = spool.into_inner().map_err(|e| archive_error(e.into_error()))?;
    let size = file.metadata().map_err(archive_error)?.len();
    Ok((file, size, files, bytes))
}

fn fill_archive<W: Write>(
    builder: &mut tar::Builder<W>,
    sources: &[PathBuf],
    excludes: &Excludes,
) -> Result<(u64, u64), Error> {
    builder.follow_symlinks(false);
    let (mut files, mut bytes) = (0u64, 0u64);
    let mut stack: Vec<PathBuf> = sources.to_vec();
    stack.reverse();
    while let Some(path) = stack.pop() {
        if excludes.is_excluded(path.as_os_str().as_bytes()) {
            continue;
        }
        let meta = std::fs::symlink_metadata(&path).map_err(|e| Error::io("cannot read", &path, e))?;
        let name = path.strip_prefix("/").unwrap_or(&path);
        if meta.is_dir() {
            builder.append_dir(name, &path).map_err(archive_error)?;
            let mut children: Vec<PathBuf> = std::fs::read_dir(&path)
                .map_err(|e| Error::io("cannot list", &path, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            children.sort();
            children.reverse();
            stack.extend(children);
        } else {
            builder.append_path_with_name(&path, name).map_err(archive_error)?;
            files += 1;
            if meta.is_file() {
                bytes += meta.len();
            }
        }
    }
    builder.finish().map_err(archive_error)?;
    Ok((files, bytes))
}

async fn write_archive(
    job: &JobRecord,
    dest: &Destination,
    clock: &dyn Clock,
    run: &mut RunRecord,
) -> Result<(), Error> {
    let compressed = job.spec.structure == Structure::Compressed;
    let excludes = Excludes::new(&job.spec.excludes)?;
    let (file, size, files, bytes) = build_archive(&job.spec.sources, &excludes, compressed)?;
    let time = clock.now();
    // Create-only, under the first free name: a second run in the same second (or a run of the
    // same job in another process) never replaces an archive.
    let mut seq = 1;
    let name = loop {
        let name = archive_name(&job.name, time, compressed, seq);
        match dest.put_file_from(&format!("{ARCHIVE_DIR}/{name}"), &file, size, cairn_core::WriteMode::CreateNew).await
        {
            Ok(()) => break name,
            Err(e) if e.kind() == cairn_core::IoErrorKind::AlreadyExists && seq < MAX_ARCHIVES_PER_SECOND => seq += 1,
            Err(e) => return Err(Error::new(ErrorKind::Io, format!("cannot write {ARCHIVE_DIR}/{name}: {e}"))),
        }
    };
    run.files = files;
    run.bytes_read = bytes;
    run.bytes_total = bytes;
    run.bytes_added = size;
    run.snapshot = Some(name);
    run.status = RunStatus::Succeeded;
    if job.spec.retention.is_empty() {
        return Ok(());
    }
    let archives = list_archives(dest, Some(&job.name)).await?;
    let input: Vec<RetentionInput> = archives
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let mut id = [0u8; 32];
            id[..8].copy_from_slice(&(i as u64).to_le_bytes());
            RetentionInput {
                id: SnapshotId::from(cairn_core::Id(id)),
                time: Timestamp::new(a.time, 0),
                utc_offset_secs: utc_offset(Timestamp::new(a.time, 0)),
                hostname: String::new(),
                paths: Vec::new(),
                tags: Vec::new(),
            }
        })
        .collect();
    let plan = plan_retention(&input, &job.spec.retention.policy());
    for id in plan.removed() {
        let i = u64::from_le_bytes(id.0.0[..8].try_into().unwrap_or([0; 8])) as usize;
        if let Some(a) = archives.get(i) {
            dest.remove_file(&format!("{ARCHIVE_DIR}/{}", a.name))
                .await
                .map_err(|e| Error::new(ErrorKind::Io, format!("cannot remove {ARCHIVE_DIR}/{}: {e}", a.name)))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_names_round_trip() {
        let n = archive_name("db-dump.v2", 1_795_342_620, true, 1);
        assert_eq!(n, "20261122T101700Z-db-dump.v2.tar.gz");
        let a = parse_archive(&n, 7).unwrap();
        assert_eq!((a.job.as_str(), a.time, a.compressed, a.size, a.seq), ("db-dump.v2", 1_795_342_620, true, 7, 1));
        // The second in the same second, of a job whose name looks like a number.
        let n = archive_name("2-x", 1_795_342_620, false, 12);
        assert_eq!(n, "20261122T101700Z.12-2-x.tar");
        let a = parse_archive(&n, 7).unwrap();
        assert_eq!((a.job.as_str(), a.compressed, a.seq), ("2-x", false, 12));
        for bad in ["notes.txt", "20261122T101700Z.1-x.tar", "20261122T101700Z.02-x.tar", "20261122T101700Z.-x.tar"] {
            assert!(parse_archive(bad, 1).is_none(), "{bad}");
        }
    }
}
