//! The commands.

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use cairn_core::{
    BackupOptions, CheckOptions, Codec, Compression, DataSubset, InitOptions, KdfParams, KeepPolicy, KeyInfo, Node,
    NodeKind, PruneOptions, PruneStats, Repository, RetentionInput, SnapshotId, Timestamp, WindowLimit, backup, check,
    plan_prune, plan_retention, prune, restore, walk,
};
use cairn_std::{
    Error, ErrorKind, Excludes, FsSource, FsSourceOptions, FsTarget, ThreadWorker, describe_lock, hostname, local_time,
    now, os_rng, runtime, username, utc_offset,
};
use serde_json::json;

use crate::args::{
    BackupArgs, CheckArgs, Cli, Command, ForgetArgs, Global, InitArgs, KeyCommand, LsArgs, NewPasswordArgs, PruneArgs,
    RestoreArgs, SnapshotsArgs, UnlockArgs,
};
use crate::exit;
use crate::output::{CliProgress, bytes, rfc3339};
use crate::repo::{self, Location, Purpose, Repo, Session, normalize_snapshot_path, snapshot_and_path};

pub(crate) fn run(cli: Cli) -> Result<ExitCode, Error> {
    let worker = ThreadWorker::new();
    let rt = runtime(&worker).map_err(|e| Error::new(ErrorKind::Other, format!("cannot start the runtime: {e}")))?;
    let g = &cli.global;
    let session = Session::default();
    let s = &session;
    rt.block_on(async {
        let command = async {
            match &cli.command {
                Command::Init(a) => init(g, a).await,
                Command::Backup(a) => backup_cmd(g, s, a, &worker).await,
                Command::Snapshots(a) => snapshots(g, a).await,
                Command::Ls(a) => ls(g, s, a).await,
                Command::Restore(a) => restore_cmd(g, s, a, &worker).await,
                Command::Check(a) => check_cmd(g, s, a, &worker).await,
                Command::Forget(a) => forget(g, s, a).await,
                Command::Unlock(a) => unlock(g, a).await,
                Command::Prune(a) => prune_cmd(g, s, a).await,
                Command::Key(k) => key_cmd(g, s, k).await,
                Command::Stats => stats_cmd(g, s).await,
                Command::Diff(a) => crate::inspect::diff_cmd(g, s, a).await,
                Command::Dump(a) => crate::inspect::dump_cmd(g, s, a).await,
                Command::Repair(r) => crate::repair::repair_cmd(g, s, r, &worker).await,
                Command::Destination(d) => crate::destinations::destination_cmd(g, d).await,
                Command::Job(j) => crate::jobs::job_cmd(g, j, &worker).await,
                Command::Notify(n) => crate::jobs::notify_cmd(g, n).await,
                Command::Daemon(a) => crate::jobs::daemon_cmd(g, a, &worker).await,
                Command::Catalog(c) => crate::jobs::catalog_cmd(g, c).await,
                Command::Recover(a) => crate::jobs::recover_cmd(g, a).await,
                Command::Archive(a) => crate::jobs::archive_cmd(g, a).await,
                Command::Cat(a) => crate::cat::cat_cmd(g, a).await,
            }
        };
        match cairn_std::interrupt::supervise(command, session.keep_alive()).await {
            cairn_std::interrupt::Ended::Finished(result) => {
                session.release().await;
                result
            }
            cairn_std::interrupt::Ended::Signal(signal) => {
                let name = if signal == SIGINT { "Ctrl-C" } else { "SIGTERM" };
                eprintln!("{name}: stopping; giving back the repository lock (press it again to leave it to go stale)");
                // A second signal, or a destination that does not answer, ends it anyway.
                let release = std::pin::pin!(session.release());
                let again = std::pin::pin!(cairn_std::interrupt::stop_signal());
                let _ = cairn_std::interrupt::first(release, again).await;
                Ok(ExitCode::from(exit::for_signal(signal)))
            }
        }
    })
}

/// Ctrl-C's signal number.
const SIGINT: i32 = 2;

fn key_info() -> KeyInfo {
    KeyInfo { created: now(), hostname: hostname(), username: username() }
}

fn parse_compression(s: &str) -> Result<Compression, Error> {
    let bad = || {
        Error::new(ErrorKind::InvalidInput, format!("invalid compression {s:?}"))
            .with_hint("use off, zstd, zstd:LEVEL (1 to 19), deflate or deflate:LEVEL (1 to 9)")
    };
    let (codec, level) = match s.split_once(':') {
        None if s == "off" => return Ok(Compression::OFF),
        None if s == "deflate" => return Ok(Compression::DEFAULT),
        None if s == "zstd" => return Ok(Compression::ZSTD),
        Some(("deflate", level)) => (Codec::Deflate, level),
        Some(("zstd", level)) => (Codec::Zstd, level),
        _ => return Err(bad()),
    };
    let c = Compression { codec, level: level.parse().map_err(|_| bad())? };
    c.validate().map_err(|_| bad())?;
    Ok(c)
}

async fn create_repository(g: &Global, location: &Location, args: Option<&InitArgs>) -> Result<Repo, Error> {
    let mut options = InitOptions::default();
    options.compression = Compression::best_available();
    options.key_info = key_info();
    if location.password_generated {
        options.kdf = KdfParams::GENERATED;
    }
    if let Some(a) = args {
        if let Some(m) = a.kdf_memory_kib {
            options.kdf.memory_kib = m;
        }
        if let Some(i) = a.kdf_iterations {
            options.kdf.iterations = i;
        }
        if let Some(p) = a.pack_size_mib {
            options.pack_size = p.checked_mul(1024 * 1024).ok_or_else(|| {
                Error::new(ErrorKind::InvalidInput, "the pack size is too large").with_hint("use 1 to 1024 MiB")
            })?;
        }
        if let Some(c) = &a.compression {
            options.compression = parse_compression(c)?;
        }
        if let Some(d) = &a.lock_stale_after {
            options.locks.stale_after_secs = lock_duration(d, "--lock-stale-after")?;
        }
        if let Some(d) = &a.lock_refresh_every {
            options.locks.refresh_every_secs = lock_duration(d, "--lock-refresh-every")?;
        }
        if let Some(ms) = a.lock_settle_ms {
            options.locks.settle_millis = ms;
        }
        options.locks.validate().map_err(|why| {
            Error::new(ErrorKind::InvalidInput, format!("invalid lock settings: {why}"))
                .with_hint("the defaults are --lock-stale-after 30m --lock-refresh-every 5m --lock-settle-ms 2000")
        })?;
    }
    options.kdf.validate().map_err(|why| {
        Error::new(ErrorKind::InvalidInput, format!("invalid key derivation settings: {why}")).with_hint(format!(
            "the defaults are {} KiB and {} passes",
            KdfParams::DEFAULT.memory_kib,
            KdfParams::DEFAULT.iterations
        ))
    })?;
    cairn_std::health::refuse_foreign_folder(&location.url)?;
    let password = repo::password(g, location, Purpose::Create)?;
    if password.is_empty() {
        return Err(Error::new(ErrorKind::InvalidInput, "the repository password cannot be empty"));
    }
    Ok(Repository::init(cairn_std::lock_keeper(location.backend()?), password.expose(), &options, &mut os_rng())
        .await?)
}

/// A lock duration in whole seconds: a number with s, m or h.
fn lock_duration(s: &str, flag: &str) -> Result<u32, Error> {
    let secs = repo::parse_wait(s).map_err(|_| {
        Error::new(ErrorKind::InvalidInput, format!("invalid {flag} {s:?}")).with_hint("write 90s, 30m or 2h")
    })?;
    u32::try_from(secs.as_secs()).map_err(|_| Error::new(ErrorKind::InvalidInput, format!("{flag} {s:?} is too long")))
}

async fn init(g: &Global, a: &InitArgs) -> Result<ExitCode, Error> {
    let location = Location::from_args(g)?;
    if location.exists().await? {
        return Err(Error::new(
            ErrorKind::RepositoryExists,
            format!("a repository already exists at {}", location.show()),
        )
        .with_hint("use it as it is, or choose another location with --repo"));
    }
    let repo = create_repository(g, &location, Some(a)).await?;
    if g.json {
        println!("{}", json!({ "repository": location.show(), "id": repo.config().id.to_hex() }));
    } else if !g.quiet {
        println!("created repository {} at {}", &repo.config().id.to_hex()[..8], location.show());
        if location.name.is_some() {
            println!(
                "its password is sealed in the catalog: `cairn destination get {} --show-password` shows it; \
                 keep a copy somewhere safe",
                location.name.as_deref().unwrap_or("default")
            );
        } else {
            println!("keep the password safe: without it the backups cannot be restored");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// An absolute path with `.` and `..` resolved; a final symbolic link is kept as a link.
fn absolute_path(p: &Path) -> Result<PathBuf, Error> {
    let abs = std::path::absolute(p).map_err(|e| Error::io("invalid path", p, e))?;
    let resolved = match (abs.parent(), abs.file_name()) {
        (Some(parent), Some(name)) => fs::canonicalize(parent).map(|d| d.join(name)),
        _ => fs::canonicalize(&abs),
    };
    let resolved = resolved.map_err(|e| Error::io("cannot back up", p, e))?;
    fs::symlink_metadata(&resolved).map_err(|e| Error::io("cannot back up", p, e))?;
    Ok(resolved)
}

async fn backup_cmd(g: &Global, session: &Session, a: &BackupArgs, worker: &ThreadWorker) -> Result<ExitCode, Error> {
    let started = Instant::now();
    let time = match &a.time {
        Some(t) => parse_time(t)?,
        None => now(),
    };
    let paths = a.paths.iter().map(|p| absolute_path(p)).collect::<Result<Vec<_>, _>>()?;
    let mut patterns = a.exclude.clone();
    for f in &a.exclude_file {
        patterns.extend(Excludes::read_file(f)?);
    }
    let mut source_options = FsSourceOptions::default();
    source_options.excludes = Excludes::new(&patterns)?;
    source_options.one_file_system = a.one_file_system;
    let mut source = FsSource::new(&paths, source_options)?;

    let location = Location::from_args(g)?;
    let repo = if location.is_default && !location.exists().await? {
        let repo = create_repository(g, &location, None).await?;
        if !g.quiet && !g.json {
            eprintln!(
                "created the default repository at {} (its password is sealed in the catalog: \
                 `cairn destination get default --show-password` shows it)",
                location.show(),
            );
        }
        repo
    } else {
        repo::open(g, &location).await?
    };
    session.lock(g, &location, &repo, "backup", false).await?;

    let host = a.host.clone().unwrap_or_else(hostname);
    let mut byte_paths: Vec<Vec<u8>> = paths.iter().map(|p| p.as_os_str().as_bytes().to_vec()).collect();
    byte_paths.sort();
    byte_paths.dedup();
    let known = repo::Known::for_location(g, &location)?;
    let listed = repo.list_snapshots().await?;
    known.memory().remember(&repo.config().id, listed.iter().map(|(id, s)| (id, s)))?;
    let parent = match &a.parent {
        Some(spec) => Some(repo.find_snapshot(spec).await?.0),
        None => listed.into_iter().rev().find(|(_, s)| s.hostname == host && s.paths == byte_paths).map(|(id, _)| id),
    };
    let mut options = BackupOptions::default();
    options.paths = byte_paths;
    options.time = time;
    options.hostname = host;
    options.username = username();
    options.tags = a.tag.clone();
    options.parent = parent;
    options.force_read = a.force;
    options.program = format!("cairn {}", env!("CARGO_PKG_VERSION"));
    options.excludes = patterns;

    let mut index = crate::repo::load_index(g, &repo, false).await?;
    // The total (so the time left) from a scan of the sources beside the backup.
    let mut progress =
        CliProgress::new(g, "backing up", None).with_totals(cairn_std::totals::Totals::scan(paths.clone()));
    let backup_started = Instant::now();
    let result = backup(&repo, &mut index, &mut source, worker, &mut os_rng(), &mut progress, &options).await;
    progress.finish();
    let done = result?;
    known.memory().remember(&repo.config().id, [(&done.snapshot_id, &done.snapshot)])?;
    repo::recache(g, &location, &repo).await?;
    let s = done.snapshot.stats;
    let secs = started.elapsed().as_secs_f64();
    let backup_secs = backup_started.elapsed().as_secs_f64();
    if g.json {
        println!(
            "{}",
            json!({
                "snapshot_id": done.snapshot_id.to_hex(),
                "parent": parent.map(|p| p.to_hex()),
                "stats": s,
                "warnings": progress.warnings,
                "duration_secs": secs,
            })
        );
    } else if !g.quiet {
        println!("snapshot {} saved", done.snapshot_id.short());
        println!("  files:  {} new, {} changed, {} unmodified", s.files_new, s.files_changed, s.files_unmodified);
        println!("  dirs:   {}, links: {}, skipped: {}, unreadable: {}", s.dirs, s.symlinks, s.skipped, s.errors);
        println!(
            "  read:   {} of {} in {:.1} s ({}/s)",
            bytes(s.bytes_read),
            bytes(s.bytes_total),
            backup_secs,
            bytes((s.bytes_read as f64 / backup_secs.max(0.001)) as u64)
        );
        println!("  added:  {} of new data, {} stored", bytes(s.bytes_added_raw), bytes(s.bytes_added_stored));
    }
    if s.errors > 0 {
        eprintln!(
            "warning: {} entries could not be read and are not in the snapshot (see the warnings above)",
            s.errors
        );
        return Ok(ExitCode::from(exit::INCOMPLETE));
    }
    Ok(ExitCode::SUCCESS)
}

async fn snapshots(g: &Global, a: &SnapshotsArgs) -> Result<ExitCode, Error> {
    let location = Location::from_args(g)?;
    let repo = repo::open(g, &location).await?;
    let all = repo.snapshots().await?;
    let known = repo::Known::for_location(g, &location)?;
    let memory = known.memory();
    memory.remember(&repo.config().id, all.valid.iter().map(|(id, s)| (id, s)))?;
    if let (Some(name), repo::Known::Catalog(catalog)) = (&location.name, &known) {
        catalog.cache_snapshots(name, &all.valid)?;
    }
    let present = all.valid.iter().chain(&all.withdrawn).map(|(id, _)| *id);
    let missing = cairn_std::known::withheld(&repo, &memory, present).await?;
    if !missing.is_empty() {
        let e = cairn_std::known::withheld_error(&missing, "`cairn check` fails until they come back");
        eprintln!("warning: {e}");
    }
    for (id, _) in &all.withdrawn {
        eprintln!(
            "warning: snapshot {} was written after its backup's lock had been revoked and is not listed \
             (`cairn prune` removes it)",
            id.short()
        );
    }
    let now = now();
    let in_future = |s: &cairn_core::Snapshot| s.time.secs > now.secs + cairn_core::FUTURE_TOLERANCE_SECS;
    for (id, s) in all.valid.iter().filter(|(_, s)| in_future(s)) {
        eprintln!(
            "warning: snapshot {} is dated {} after now: the clock of {} was wrong; it never decides what \
             --keep-within keeps",
            id.short(),
            cairn_core::Span(s.time.secs - now.secs),
            s.hostname
        );
    }
    let list: Vec<_> =
        all.valid.into_iter().filter(|(_, s)| a.host.as_ref().is_none_or(|h| &s.hostname == h)).collect();
    if g.json {
        let items: Vec<_> = list
            .iter()
            .map(|(id, s)| {
                let mut v = crate::output::snapshot_json(id, s);
                v["in_future"] = json!(in_future(s));
                v
            })
            .collect();
        println!("{}", serde_json::Value::Array(items));
        return Ok(ExitCode::SUCCESS);
    }
    if list.is_empty() {
        if !g.quiet {
            println!("no snapshots");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let host_w = list.iter().map(|(_, s)| s.hostname.len()).max().unwrap_or(4).max(4);
    let tags: Vec<String> = list.iter().map(|(_, s)| s.tags.join(",")).collect();
    let tag_w = tags.iter().map(String::len).max().unwrap_or(4).max(4);
    println!("{:<8}  {:<19}  {:<host_w$}  {:<tag_w$}  {:>10}  Paths", "ID", "Time", "Host", "Tags", "Size");
    for ((id, s), tag) in list.iter().zip(&tags) {
        let paths: Vec<String> = s.paths.iter().map(|p| cairn_std::show_path(p)).collect();
        println!(
            "{:<8}  {:<19}  {:<host_w$}  {:<tag_w$}  {:>10}  {}",
            id.short(),
            local_time(s.time),
            s.hostname,
            tag,
            bytes(s.stats.bytes_total),
            paths.join(" ")
        );
    }
    println!("{} snapshots", list.len());
    Ok(ExitCode::SUCCESS)
}

fn mode_string(node: &Node) -> String {
    let t = match node.kind {
        NodeKind::Dir { .. } => 'd',
        NodeKind::Symlink { .. } => 'l',
        NodeKind::File { .. } => '-',
    };
    let m = node.meta.mode;
    // Owner, group, other: read, write, then execute shown with setuid, setgid or sticky as ls does.
    let triple = |shift: u32, special: u32, set: char| {
        let x = match (m >> shift & 1 != 0, m & special != 0) {
            (true, true) => set,
            (false, true) => set.to_ascii_uppercase(),
            (true, false) => 'x',
            (false, false) => '-',
        };
        [if m >> (shift + 2) & 1 != 0 { 'r' } else { '-' }, if m >> (shift + 1) & 1 != 0 { 'w' } else { '-' }, x]
    };
    let mut s = String::with_capacity(10);
    s.push(t);
    s.extend(triple(6, 0o4000, 's'));
    s.extend(triple(3, 0o2000, 's'));
    s.extend(triple(0, 0o1000, 't'));
    s
}

fn kind_name(node: &Node) -> &'static str {
    match node.kind {
        NodeKind::Dir { .. } => "dir",
        NodeKind::Symlink { .. } => "symlink",
        NodeKind::File { .. } => "file",
    }
}

async fn ls(g: &Global, session: &Session, a: &LsArgs) -> Result<ExitCode, Error> {
    let location = Location::from_args(g)?;
    let repo = repo::open(g, &location).await?;
    session.lock(g, &location, &repo, "ls", false).await?;
    let (_, snap) = repo.find_snapshot(&a.snapshot).await?;
    let index = crate::repo::load_index(g, &repo, false).await?;
    let path = normalize_snapshot_path(&a.path)?;
    let json = g.json;
    let long = a.long;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut write_error = None;
    walk(&repo, &index, snap.tree, &path, &mut |p, node| {
        use std::io::Write;
        let shown = cairn_std::show_path(p);
        let line = if json {
            let mut v = json!({
                "path": shown,
                "type": kind_name(node),
                "size": node.meta.size,
                "mode": node.meta.mode,
                "uid": node.meta.uid,
                "gid": node.meta.gid,
                "user": node.meta.user,
                "group": node.meta.group,
                "mtime": rfc3339(node.meta.mtime),
            });
            if let NodeKind::Symlink { target } = &node.kind {
                v["target"] = json!(cairn_std::show_path(target));
            }
            v.to_string()
        } else if long {
            let target = match &node.kind {
                NodeKind::Symlink { target } => format!(" -> {}", cairn_std::show_path(target)),
                _ => String::new(),
            };
            format!(
                "{} {:>8} {:>8} {:>12} {} {shown}{target}",
                mode_string(node),
                node.meta.user.clone().unwrap_or_else(|| node.meta.uid.to_string()),
                node.meta.group.clone().unwrap_or_else(|| node.meta.gid.to_string()),
                node.meta.size,
                local_time(node.meta.mtime),
            )
        } else {
            shown
        };
        if write_error.is_none()
            && let Err(e) = writeln!(out, "{line}")
        {
            write_error = Some(e);
        }
    })
    .await?;
    use std::io::Write;
    let flushed = out.flush();
    match write_error.map_or(flushed, Err) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(e) => Err(Error::new(ErrorKind::Io, format!("cannot write the listing: {e}"))),
        Ok(()) => Ok(ExitCode::SUCCESS),
    }
}

async fn restore_cmd(g: &Global, session: &Session, a: &RestoreArgs, worker: &ThreadWorker) -> Result<ExitCode, Error> {
    let started = Instant::now();
    let (spec, path) = snapshot_and_path(&a.snapshot)?;
    let location = Location::from_args(g)?;
    let repo = repo::open(g, &location).await?;
    session.lock(g, &location, &repo, "restore", false).await?;
    let (id, snap) = repo::find_snapshot(g, &location, &repo, spec).await?;
    let index = crate::repo::load_index(g, &repo, true).await?;
    let mut target =
        FsTarget::new(&a.target).map_err(|e| Error::io("cannot create the restore target", &a.target, e))?;
    let total = (path == b"/").then_some(snap.stats.bytes_total);
    let mut progress = CliProgress::new(g, "restoring", total);
    let result = restore(&repo, &index, &snap, &path, &mut target, worker, &mut progress).await;
    progress.finish();
    let stats = result?;
    let secs = started.elapsed().as_secs_f64();
    if g.json {
        println!(
            "{}",
            json!({
                "snapshot_id": id.to_hex(),
                "target": a.target.display().to_string(),
                "files": stats.files, "dirs": stats.dirs, "symlinks": stats.symlinks,
                "bytes": stats.bytes, "errors": stats.errors, "unchanged": stats.unchanged,
                "warnings": progress.warnings,
                "duration_secs": secs,
            })
        );
    } else if !g.quiet {
        let unchanged = if stats.unchanged > 0 {
            format!(" ({} files already as in the snapshot were left alone)", stats.unchanged)
        } else {
            String::new()
        };
        println!(
            "restored {} files, {} dirs, {} links ({}) from snapshot {} to {} in {:.1} s{unchanged}",
            stats.files,
            stats.dirs,
            stats.symlinks,
            bytes(stats.bytes),
            id.short(),
            a.target.display(),
            secs
        );
    }
    if stats.errors > 0 {
        eprintln!("warning: {} entries could not be restored completely (see the warnings above)", stats.errors);
        return Ok(ExitCode::from(exit::INCOMPLETE));
    }
    Ok(ExitCode::SUCCESS)
}

async fn check_cmd(g: &Global, session: &Session, a: &CheckArgs, worker: &ThreadWorker) -> Result<ExitCode, Error> {
    let started = Instant::now();
    let location = Location::from_args(g)?;
    let repo = repo::open(g, &location).await?;
    session.lock(g, &location, &repo, "check", false).await?;
    let known = repo::Known::for_location(g, &location)?;
    let memory = known.memory();
    if a.missing.forget_missing {
        repo::accept_missing(g, &repo, &memory).await?;
    }
    let mut options = CheckOptions::default();
    options.read_data = a.read_data;
    options.known_snapshots = memory.load(&repo.config().id)?.into_keys().collect();
    options.now = Some(now());
    let cursor = match &a.read_data_subset {
        Some(spec) => {
            let (subset, cursor) = parse_subset(spec, repo.config().id.to_hex())?;
            options.read_data_subset = Some(subset);
            cursor
        }
        None => None,
    };
    let reads = a.read_data || a.read_data_subset.is_some();
    let mut progress = CliProgress::steps(g, "checking packs");
    let result = check(&repo, worker, &mut progress, &options).await;
    progress.finish();
    let results = result?;
    if let (Some(file), Some(last)) = (&cursor, results.stats.subset_last) {
        // Losing this file only means the next window starts from the beginning.
        let _ = fs::create_dir_all(file.parent().unwrap_or(Path::new("/")))
            .and_then(|()| fs::write(file, format!("{}\n", last.to_hex())));
    }
    let errors = results.errors();
    let warnings = results.problems.len() - errors;
    let st = results.stats;
    if g.json {
        let problems: Vec<_> = results
            .problems
            .iter()
            .map(|p| json!({ "severity": if p.is_error() { "error" } else { "warning" }, "message": p.to_string() }))
            .collect();
        println!(
            "{}",
            json!({
                "errors": errors, "warnings": warnings, "problems": problems,
                "stats": {
                    "index_files": st.index_files, "packs": st.packs, "blobs": st.blobs, "snapshots": st.snapshots,
                    "trees": st.trees, "packs_read": st.packs_read, "bytes_read": st.bytes_read,
                    "index_memory": st.index_memory.map(|m| json!({
                        "blobs": m.blobs, "packs": m.packs, "blob_bytes": m.blob_bytes, "pack_bytes": m.pack_bytes,
                    })),
                },
                "duration_secs": started.elapsed().as_secs_f64(),
            })
        );
    } else {
        for p in &results.problems {
            let level = if p.is_error() { "error" } else { "warning" };
            eprintln!("{level}: {p}");
        }
        if !g.quiet {
            println!(
                "checked {} snapshots, {} trees, {} packs, {} blobs{}",
                st.snapshots,
                st.trees,
                st.packs,
                st.blobs,
                if reads {
                    format!("; read and verified {} in {} packs", bytes(st.bytes_read), st.packs_read)
                } else {
                    String::new()
                }
            );
        }
    }
    if errors > 0 {
        if !g.json {
            eprintln!("error: the repository has {errors} problem{} (see above)", if errors == 1 { "" } else { "s" });
            if results.problems.iter().any(|p| matches!(p, cairn_core::CheckProblem::SnapshotWithheld { .. })) {
                eprintln!(
                    "hint: a withheld snapshot may come back (a store that is not consistent yet, or restored from \
                     an older copy); nothing is deleted while it is missing. If it was removed on purpose, accept \
                     it with `cairn check --forget-missing`"
                );
            }
        }
        return Ok(ExitCode::from(exit::DAMAGED));
    }
    if !g.json && !g.quiet {
        println!("no errors found{}", if warnings > 0 { format!(" ({warnings} warnings)") } else { String::new() });
    }
    Ok(ExitCode::SUCCESS)
}

/// Parses `--read-data-subset`: `N/M`, `P%` or a size (`500M`, `2G`). Shares and sizes continue
/// after the last pack the previous such check read, kept in the cache directory per repository;
/// returns that file too.
pub(crate) fn parse_subset(s: &str, repo_id: String) -> Result<(DataSubset, Option<PathBuf>), Error> {
    let bad = || {
        Error::new(ErrorKind::InvalidInput, format!("invalid data subset {s:?}"))
            .with_hint("write N/M (part N of M, like 1/5), a share like 10% or 2.5%, or a size like 500M or 2G")
    };
    let t = s.trim();
    if let Some((n, m)) = t.split_once('/') {
        let n: u32 = n.trim().parse().map_err(|_| bad())?;
        let of: u32 = m.trim().parse().map_err(|_| bad())?;
        if of == 0 || n == 0 || n > of {
            return Err(bad());
        }
        return Ok((DataSubset::Part { n, of }, None));
    }
    let limit = if let Some(p) = t.strip_suffix('%') {
        let p: f64 = p.trim().parse().map_err(|_| bad())?;
        if !(p > 0.0 && p <= 100.0) {
            return Err(bad());
        }
        WindowLimit::PartsPerMillion((p * 10_000.0).round().max(1.0) as u32)
    } else {
        let (digits, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
        let n: u64 = digits.parse().map_err(|_| bad())?;
        let mult: u64 = match unit.trim().to_ascii_uppercase().trim_end_matches("IB").trim_end_matches('B') {
            "" => 1,
            "K" => 1 << 10,
            "M" => 1 << 20,
            "G" => 1 << 30,
            "T" => 1 << 40,
            _ => return Err(bad()),
        };
        let bytes = n.checked_mul(mult).filter(|b| *b > 0).ok_or_else(bad)?;
        WindowLimit::Bytes(bytes)
    };
    let file = cairn_std::paths::cache_dir()?.join("check-subset").join(repo_id);
    let after = fs::read_to_string(&file).ok().and_then(|h| cairn_core::PackId::from_hex(h.trim()).ok());
    Ok((DataSubset::Window { after, limit }, Some(file)))
}

/// The local time zone's offset from UTC at `t`, in seconds.
async fn forget(g: &Global, session: &Session, a: &ForgetArgs) -> Result<ExitCode, Error> {
    let location = Location::from_args(g)?;
    let repo = repo::open(g, &location).await?;
    // Forgetting alone needs only a shared lock; pruning after it needs the exclusive one.
    let operation = if a.prune { "forget --prune" } else { "forget" };
    session.lock(g, &location, &repo, operation, a.prune).await?;
    if !a.dry_run {
        repo.storage().inner().ensure_deletes_allowed(operation).await?;
    }
    let mut policy = KeepPolicy::default();
    policy.last = a.keep_last.unwrap_or(0);
    policy.hourly = a.keep_hourly.unwrap_or(0);
    policy.daily = a.keep_daily.unwrap_or(0);
    policy.weekly = a.keep_weekly.unwrap_or(0);
    policy.monthly = a.keep_monthly.unwrap_or(0);
    policy.yearly = a.keep_yearly.unwrap_or(0);
    policy.within_secs = a.keep_within.as_deref().map(crate::durations::parse_duration).transpose()?;
    policy.tags = a.keep_tag.clone();
    policy.now = Some(now());
    let known = repo::Known::for_location(g, &location)?;
    let memory = known.memory();
    if a.missing.forget_missing && !a.dry_run {
        repo::accept_missing(g, &repo, &memory).await?;
    }

    if !a.snapshots.is_empty() {
        let mut chosen: Vec<(SnapshotId, cairn_core::Snapshot)> = Vec::new();
        for spec in &a.snapshots {
            let found = repo.find_snapshot(spec).await?;
            if !chosen.iter().any(|(id, _)| *id == found.0) {
                chosen.push(found);
            }
        }
        let ids: Vec<SnapshotId> = chosen.iter().map(|(id, _)| *id).collect();
        if !a.dry_run {
            repo.forget_snapshots(&ids, &mut os_rng()).await?;
            memory.forget(&repo.config().id, &ids)?;
        }
        for (id, s) in &chosen {
            if !g.json && !g.quiet {
                let verb = if a.dry_run { "would remove" } else { "removed" };
                println!("{verb} snapshot {} of {} ({})", id.short(), s.hostname, local_time(s.time));
            }
        }
        if !a.dry_run {
            repo::recache(g, &location, &repo).await?;
        }
        let pruned = if a.prune {
            let ignored = chosen.iter().map(|(id, _)| *id).collect();
            Some(run_prune(g, &repo, &memory, a.repack_threshold, a.dry_run, ignored).await?)
        } else {
            None
        };
        if g.json {
            let ids: Vec<String> = chosen.iter().map(|(id, _)| id.to_hex()).collect();
            println!("{}", json!({ "dry_run": a.dry_run, "removed": ids, "prune": pruned.map(|p| prune_json(&p)) }));
        }
        return Ok(ExitCode::SUCCESS);
    }
    if policy.is_empty() {
        return Err(Error::new(ErrorKind::InvalidInput, "no snapshots and no --keep rule given").with_hint(
            "name snapshots to remove, or give a policy such as --keep-daily 7 --keep-weekly 4 (try --dry-run first)",
        ));
    }

    let snapshots = repo.list_snapshots().await?;
    memory.remember(&repo.config().id, snapshots.iter().map(|(id, s)| (id, s)))?;
    let input: Vec<RetentionInput> = snapshots
        .iter()
        .filter(|(_, s)| a.host.as_ref().is_none_or(|h| &s.hostname == h))
        .map(|(id, s)| RetentionInput::of(*id, s, utc_offset(s.time)))
        .collect();
    let plan = plan_retention(&input, &policy);
    let ids: Vec<SnapshotId> = plan.removed().collect();
    let mut removed = 0usize;
    if !a.dry_run {
        repo.forget_snapshots(&ids, &mut os_rng()).await?;
        memory.forget(&repo.config().id, &ids)?;
        removed = ids.len();
        repo::recache(g, &location, &repo).await?;
    }
    let pruned =
        if a.prune { Some(run_prune(g, &repo, &memory, a.repack_threshold, a.dry_run, ids).await?) } else { None };
    if g.json {
        let groups: Vec<_> = plan
            .groups
            .iter()
            .map(|gp| {
                json!({
                    "hostname": gp.hostname,
                    "paths": gp.paths.iter().map(|p| cairn_std::show_path(p)).collect::<Vec<_>>(),
                    "keep": gp.keep.iter().map(|k| json!({
                        "id": k.id.to_hex(),
                        "time": rfc3339(k.time),
                        "reasons": k.reasons.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    })).collect::<Vec<_>>(),
                    "remove": gp.remove.iter().map(|(id, t)| json!({ "id": id.to_hex(), "time": rfc3339(*t) })).collect::<Vec<_>>(),
                })
            })
            .collect();
        println!(
            "{}",
            json!({ "dry_run": a.dry_run, "groups": groups, "removed": removed, "prune": pruned.map(|p| prune_json(&p)) })
        );
    } else if !g.quiet {
        for gp in &plan.groups {
            let paths: Vec<String> = gp.paths.iter().map(|p| cairn_std::show_path(p)).collect();
            println!("host {}, paths {}:", gp.hostname, paths.join(" "));
            let mut rows: Vec<(Timestamp, String)> = gp
                .keep
                .iter()
                .map(|k| {
                    let why: Vec<String> = k.reasons.iter().map(ToString::to_string).collect();
                    (k.time, format!("  keep    {}  {}  {}", k.id.short(), local_time(k.time), why.join(", ")))
                })
                .collect();
            let verb = if a.dry_run { "remove?" } else { "remove " };
            rows.extend(gp.remove.iter().map(|(id, t)| (*t, format!("  {verb} {}  {}", id.short(), local_time(*t)))));
            rows.sort_by_key(|r| std::cmp::Reverse(r.0));
            for (_, row) in rows {
                println!("{row}");
            }
        }
        let to_remove = plan.removed().count();
        let kept: usize = plan.groups.iter().map(|gp| gp.keep.len()).sum();
        if a.dry_run {
            println!("{kept} kept, {to_remove} would be removed (dry run: nothing changed)");
        } else {
            println!("{kept} kept, {removed} removed");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Parses a time given on the command line: RFC 3339, or a local civil time.
pub(crate) fn parse_time(s: &str) -> Result<Timestamp, Error> {
    let ts = s.parse::<jiff::Timestamp>().ok().or_else(|| {
        s.parse::<jiff::civil::DateTime>()
            .ok()
            .and_then(|dt| dt.to_zoned(jiff::tz::TimeZone::system()).ok())
            .map(|z| z.timestamp())
    });
    match ts {
        Some(t) => Ok(Timestamp::new(t.as_second(), t.subsec_nanosecond().max(0) as u32)),
        None => Err(Error::new(ErrorKind::InvalidInput, format!("invalid time {s:?}"))
            .with_hint("use RFC 3339 such as 2026-01-02T09:00:00Z, or local time such as '2026-01-02 09:00:00'")),
    }
}

async fn unlock(g: &Global, a: &UnlockArgs) -> Result<ExitCode, Error> {
    use cairn_core::{StaleJudge, Verdict};
    let location = Location::from_args(g)?;
    let repo = repo::open(g, &location).await?;
    let store = cairn_core::LockStore {
        storage: repo.storage().inner(),
        keys: repo.keys(),
        compression: repo.config().compression,
    };
    let listing = store.listing().await?;
    let mut observer = cairn_std::Observer::for_repository(&repo.config().id);
    let settings = repo.config().locks;
    let me = cairn_std::lock_info(false, "unlock");
    let by = format!("unlock on {} (process {})", me.hostname, me.pid);
    let (mut removed, mut revoked, mut kept) = (Vec::new(), Vec::new(), Vec::new());
    for holder in &listing.holders {
        let describe = match holder.newest() {
            Some(i) => describe_lock(i),
            None => format!("lock {} (unreadable)", holder.id().to_hex().get(..8).unwrap_or_default()),
        };
        match observer.judge(holder, &settings) {
            Verdict::Gone => {
                cairn_core::lease::remove(store, holder).await?;
                removed.push(describe);
            }
            Verdict::Live if !a.remove_all => {
                let seen = observer.unchanged_for(holder);
                kept.push(format!("{describe} (seen unchanged here for {})", cairn_core::Span(seen.as_secs() as i64)));
            }
            Verdict::Stale | Verdict::Live => {
                cairn_core::lease::revoke(store, holder, &by, &cairn_std::SystemClock, &mut os_rng()).await?;
                revoked.push(describe);
            }
        }
    }
    observer.save();
    if g.json {
        println!("{}", json!({ "removed": removed, "revoked": revoked, "kept": kept }));
    } else if !g.quiet {
        for r in &removed {
            println!("removed the lock of a process that is gone: {r}");
        }
        for r in &revoked {
            println!("revoked stale lock: {r} (its process, if it is only paused, stops at its next check)");
        }
        for k in &kept {
            println!("kept active lock: {k}");
        }
        if removed.is_empty() && revoked.is_empty() && kept.is_empty() {
            println!("the repository has no locks");
        } else if !kept.is_empty() {
            println!(
                "a lock counts as stale once this machine has seen it unchanged for {} (run unlock again then), or \
                 at once if its process is gone from this machine; --remove-all revokes every lock, only when no \
                 other cairn uses the repository",
                cairn_core::Span(i64::from(settings.stale_after_secs))
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn prune_cmd(g: &Global, session: &Session, a: &PruneArgs) -> Result<ExitCode, Error> {
    let location = Location::from_args(g)?;
    let repo = repo::open(g, &location).await?;
    session.lock(g, &location, &repo, "prune", true).await?;
    if !a.dry_run {
        repo.storage().inner().ensure_deletes_allowed("prune").await?;
    }
    let known = repo::Known::for_location(g, &location)?;
    let memory = known.memory();
    if a.missing.forget_missing && !a.dry_run {
        repo::accept_missing(g, &repo, &memory).await?;
    }
    let stats = run_prune(g, &repo, &memory, a.repack_threshold, a.dry_run, Vec::new()).await?;
    if g.json {
        println!("{}", json!({ "dry_run": a.dry_run, "prune": prune_json(&stats) }));
    }
    Ok(ExitCode::SUCCESS)
}

/// Plans a prune (counting `ignored` snapshots as removed), prints the plan, and unless
/// `dry_run` carries it out.
async fn run_prune(
    g: &Global,
    repo: &Repo,
    memory: &cairn_std::known::Memory<'_>,
    repack_threshold: u8,
    dry_run: bool,
    ignored: Vec<SnapshotId>,
) -> Result<PruneStats, Error> {
    let mut options = PruneOptions::default();
    options.repack_threshold_percent = repack_threshold;
    options.ignore_snapshots = ignored;
    options.known_snapshots = memory.load(&repo.config().id)?.into_keys().collect();
    let plan = match plan_prune(repo, &options).await {
        Ok(plan) => plan,
        Err(cairn_core::Error::SnapshotsWithheld { .. }) => {
            let all = repo.snapshots().await?;
            let present = all.valid.iter().chain(&all.withdrawn).map(|(id, _)| *id);
            let missing = cairn_std::known::withheld(repo, memory, present).await?;
            return Err(cairn_std::known::withheld_error(&missing, "nothing was pruned"));
        }
        Err(e) => return Err(e.into()),
    };
    let p = plan.stats;
    let text = !g.json && !g.quiet;
    if text && !plan.withdrawn.is_empty() {
        println!(
            "{} snapshots written after their backup's lock was revoked (never reported saved) will be removed",
            plan.withdrawn.len()
        );
    }
    if text && !plan.resurrected.is_empty() {
        println!(
            "{} packs condemned by an interrupted prune hold data snapshots need: they go back into the index",
            plan.resurrected.len()
        );
    }
    if text {
        println!(
            "{} snapshots need {} blobs ({}); {} blobs ({}) are unused",
            p.snapshots,
            p.blobs_used,
            bytes(p.bytes_used),
            p.blobs_unused,
            bytes(p.bytes_unused)
        );
        println!(
            "packs: {} to delete, {} to repack ({} of used data to copy), {} kept",
            p.packs_deleted,
            p.packs_repacked,
            bytes(p.bytes_repacked),
            p.packs_kept
        );
    }
    if dry_run {
        if text {
            println!("would free about {} (dry run: nothing changed)", bytes(p.bytes_freed));
        }
        return Ok(p);
    }
    let temporaries = cairn_std::runner::remove_stale_temporaries(repo.storage().inner().destination()).await?;
    if text && temporaries > 0 {
        println!("removed {temporaries} temporary files left by interrupted uploads");
    }
    if plan.is_empty() {
        if text {
            println!("nothing to prune");
        }
        return Ok(p);
    }
    let done = prune(repo, plan, &mut os_rng()).await?;
    if text {
        println!(
            "freed {}: wrote {} packs and {} index objects",
            bytes(done.bytes_freed),
            done.packs_written,
            done.index_files_written
        );
    }
    Ok(done)
}

fn prune_json(p: &PruneStats) -> serde_json::Value {
    json!({
        "snapshots": p.snapshots,
        "blobs_used": p.blobs_used, "blobs_unused": p.blobs_unused,
        "bytes_used": p.bytes_used, "bytes_unused": p.bytes_unused,
        "packs_deleted": p.packs_deleted, "packs_repacked": p.packs_repacked, "packs_kept": p.packs_kept,
        "bytes_repacked": p.bytes_repacked, "bytes_freed": p.bytes_freed,
        "packs_written": p.packs_written, "index_files_written": p.index_files_written,
    })
}

/// The new password for `key add` / `key passwd`: `CAIRN_NEW_PASSWORD`, then
/// `--new-password-file`, then a prompt on a terminal.
fn new_password(a: &NewPasswordArgs) -> Result<cairn_std::Secret, Error> {
    use std::io::IsTerminal;
    let secret = match repo::given_secret("CAIRN_NEW_PASSWORD", a.new_password_file.as_deref())? {
        Some(secret) => secret,
        None if std::io::stdin().is_terminal() => {
            repo::ask_secret("new password: ", Some("the same new password again: "))?
        }
        None => {
            return Err(Error::new(ErrorKind::InvalidInput, "no new password given").with_hint(
                "set CAIRN_NEW_PASSWORD, use --new-password-file FILE, or run cairn in a terminal to be asked",
            ));
        }
    };
    if secret.expose().is_empty() {
        return Err(Error::new(ErrorKind::InvalidInput, "the new password cannot be empty"));
    }
    Ok(secret)
}

/// A key's derivation cost for `key list --json`.
fn kdf_json(kdf: &cairn_core::Kdf) -> serde_json::Value {
    match kdf {
        cairn_core::Kdf::Argon2id(p) => json!({
            "algorithm": "argon2id", "memory_kib": p.memory_kib, "iterations": p.iterations,
            "parallelism": p.parallelism, "generated_password": *p == KdfParams::GENERATED,
        }),
    }
}

/// A key's derivation cost for `key list`: "Argon2id 64 MiB x3", or "... (generated)" for the
/// light cost of a catalog-generated password.
fn kdf_text(kdf: &cairn_core::Kdf) -> String {
    match kdf {
        cairn_core::Kdf::Argon2id(p) => {
            let memory = if p.memory_kib % 1024 == 0 {
                format!("{} MiB", p.memory_kib / 1024)
            } else {
                format!("{} KiB", p.memory_kib)
            };
            let generated = if *p == KdfParams::GENERATED { " (generated)" } else { "" };
            format!("Argon2id {memory} x{}{generated}", p.iterations)
        }
    }
}

/// Adds a key for a new password, with the same key-derivation cost as the key in use (the
/// full default if that key's password was generated, and so derived with the light cost).
async fn add_key_for(
    g: &Global,
    location: &Location,
    repo: &Repo,
    a: &NewPasswordArgs,
) -> Result<(cairn_core::KeyId, cairn_std::Secret), Error> {
    let new = new_password(a)?;
    let current = repo::password(g, location, Purpose::Open)?;
    let master = repo.master_key(current.expose()).await?;
    let kdf = match repo.list_keys().await?.into_iter().find(|(id, _)| *id == repo.key_id()) {
        Some((_, key)) => match key.kdf {
            cairn_core::Kdf::Argon2id(params) => params,
        },
        None => KdfParams::DEFAULT,
    };
    // The new password is one a person gives: never the light cost of a generated one.
    let kdf = if kdf == KdfParams::GENERATED { KdfParams::DEFAULT } else { kdf };
    let id = repo.add_key(&master, new.expose(), kdf, key_info(), &mut os_rng()).await?;
    Ok((id, new))
}

async fn key_cmd(g: &Global, session: &Session, k: &KeyCommand) -> Result<ExitCode, Error> {
    let location = Location::from_args(g)?;
    let repo = repo::open(g, &location).await?;
    session.lock(g, &location, &repo, "key", false).await?;
    match k {
        KeyCommand::List => {
            let keys = repo.key_objects().await?;
            if g.json {
                let items: Vec<_> = keys
                    .iter()
                    .map(|(id, key)| match key {
                        Ok(key) => json!({
                            "id": id.to_hex(), "current": *id == repo.key_id(), "created": rfc3339(key.created),
                            "hostname": key.hostname, "username": key.username,
                            "kdf": kdf_json(&key.kdf),
                        }),
                        Err(e) => json!({ "id": id.to_hex(), "current": false, "damaged": e.to_string() }),
                    })
                    .collect();
                println!("{}", serde_json::Value::Array(items));
            } else {
                println!("  {:<8}  {:<19}  {:<16}  {:<22}  User", "ID", "Created", "Host", "Key derivation");
                for (id, key) in &keys {
                    let mark = if *id == repo.key_id() { "*" } else { " " };
                    match key {
                        Ok(key) => println!(
                            "{mark} {:<8}  {:<19}  {:<16}  {:<22}  {}",
                            id.short(),
                            local_time(key.created),
                            key.hostname,
                            kdf_text(&key.kdf),
                            key.username
                        ),
                        Err(_) => {
                            println!("! {:<8}  DAMAGED (remove it with `cairn key remove {}`)", id.short(), id.short())
                        }
                    }
                }
                println!("{} keys (* opened by your password, ! damaged)", keys.len());
            }
        }
        KeyCommand::Add(a) => {
            let (id, _) = add_key_for(g, &location, &repo, a).await?;
            if g.json {
                println!("{}", json!({ "added": id.to_hex() }));
            } else if !g.quiet {
                println!("added key {}", id.short());
            }
        }
        KeyCommand::Remove { id } => {
            repo.storage().inner().ensure_deletes_allowed("key remove").await?;
            let keys = repo.key_objects().await?;
            let matches: Vec<_> = keys.iter().filter(|(k, _)| k.to_hex().starts_with(id.as_str())).collect();
            let (target, _) = match matches.as_slice() {
                [one] => *one,
                [] => {
                    return Err(Error::new(ErrorKind::NotFound, format!("no key matches \"{id}\""))
                        .with_hint("list the keys with `cairn key list`"));
                }
                _ => {
                    return Err(Error::new(
                        ErrorKind::InvalidInput,
                        format!("\"{id}\" matches several keys; give more digits"),
                    ));
                }
            };
            if *target == repo.key_id() {
                return Err(Error::new(ErrorKind::InvalidInput, "refusing to remove the key your password opened")
                    .with_hint(
                        "open the repository with another password to remove this key, or use `cairn key passwd`",
                    ));
            }
            repo.remove_key(*target).await?;
            if g.json {
                println!("{}", json!({ "removed": target.to_hex() }));
            } else if !g.quiet {
                println!("removed key {}", target.short());
            }
        }
        KeyCommand::Passwd(a) => {
            repo.storage().inner().ensure_deletes_allowed("key passwd").await?;
            let (id, new) = add_key_for(g, &location, &repo, a).await?;
            // A catalog destination's password is kept in the catalog: it follows the change
            // before the old key goes (so the stored one always opens the repository).
            if let Some(name) = &location.name {
                repo::open_catalog(g)?.set_destination_password(name, &new)?;
            }
            repo.remove_key(repo.key_id()).await?;
            if g.json {
                println!("{}", json!({ "added": id.to_hex(), "removed": repo.key_id().to_hex() }));
            } else if !g.quiet {
                println!("password changed: key {} replaces key {}", id.short(), repo.key_id().short());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn stats_cmd(g: &Global, session: &Session) -> Result<ExitCode, Error> {
    let location = Location::from_args(g)?;
    let repo = repo::open(g, &location).await?;
    session.lock(g, &location, &repo, "stats", false).await?;
    let snapshots = repo.list_snapshots().await?;
    let index = crate::repo::load_index(g, &repo, false).await?;
    // What restoring every snapshot would write, as recorded by each backup.
    let restore_size: u64 = snapshots.iter().map(|(_, s)| s.stats.bytes_total).sum();
    let (mut data_blobs, mut tree_blobs, mut raw, mut stored) = (0u64, 0u64, 0u64, 0u64);
    for (t, _, loc) in index.iter() {
        match t {
            cairn_core::BlobType::Data => data_blobs += 1,
            cairn_core::BlobType::Tree => tree_blobs += 1,
        }
        raw += u64::from(loc.raw_len);
        stored += u64::from(loc.length);
    }
    let packs = index.packs().len();
    let pack_bytes: u64 = index.packs().iter().map(|p| p.size).sum();
    let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let compression = ratio(raw, stored);
    let dedup = ratio(restore_size, raw);
    if g.json {
        println!(
            "{}",
            json!({
                "snapshots": snapshots.len(), "restore_size": restore_size,
                "data_blobs": data_blobs, "tree_blobs": tree_blobs,
                "unique_raw_bytes": raw, "unique_stored_bytes": stored,
                "packs": packs, "pack_bytes": pack_bytes,
                "compression_ratio": compression, "deduplication_ratio": dedup,
                "locks": {
                    "stale_after_secs": repo.config().locks.stale_after_secs,
                    "refresh_every_secs": repo.config().locks.refresh_every_secs,
                    "settle_millis": repo.config().locks.settle_millis,
                },
            })
        );
    } else if !g.quiet {
        println!("snapshots:        {}", snapshots.len());
        println!("restore size:     {} (all snapshots, as backed up)", bytes(restore_size));
        println!("unique data:      {} in {} data and {} tree blobs", bytes(raw), data_blobs, tree_blobs);
        println!("stored:           {} after compression ({compression:.2}x)", bytes(stored));
        println!("packs:            {} holding {}", packs, bytes(pack_bytes));
        println!("deduplication:    {dedup:.2}x (restore size / unique data)");
        let l = repo.config().locks;
        println!(
            "locks:            stale once unchanged for {}, refreshed every {}, settle {} ms",
            cairn_core::Span(i64::from(l.stale_after_secs)),
            cairn_core::Span(i64::from(l.refresh_every_secs)),
            l.settle_millis
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// clap checks a command's definition only when that command runs: check them all here
    /// (duplicate short options across global and command flags, and the like).
    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn compression_arguments() {
        assert_eq!(parse_compression("off").unwrap(), Compression::OFF);
        assert_eq!(parse_compression("deflate").unwrap(), Compression::DEFAULT);
        assert_eq!(parse_compression("deflate:9").unwrap().level, 9);
        assert!(parse_compression("deflate:0").is_err());
        assert_eq!(parse_compression("zstd").unwrap(), Compression::ZSTD);
        assert_eq!(parse_compression("zstd:19").unwrap().level, 19);
        assert!(parse_compression("zstd:20").is_err());
        assert!(parse_compression("lz4").is_err());
    }

    #[test]
    fn modes_like_ls() {
        let node = |mode| Node {
            name: b"x".to_vec(),
            kind: NodeKind::File { content: vec![] },
            meta: cairn_core::Metadata { mode, ..Default::default() },
        };
        assert_eq!(mode_string(&node(0o4755)), "-rwsr-xr-x");
        assert_eq!(mode_string(&node(0o1777)), "-rwxrwxrwt");
        assert_eq!(mode_string(&node(0o2640)), "-rw-r-S---");
        assert_eq!(mode_string(&node(0o000)), "----------");
    }

    #[test]
    fn waits_and_times() {
        assert_eq!(crate::repo::parse_wait("90s").unwrap().as_secs(), 90);
        assert_eq!(crate::repo::parse_wait("5m").unwrap().as_secs(), 300);
        assert!(crate::repo::parse_wait("5 min").is_err());
        assert_eq!(parse_time("2026-01-02T09:00:00Z").unwrap().secs, 1_767_344_400);
        assert!(parse_time("yesterday").is_err());
    }
}
