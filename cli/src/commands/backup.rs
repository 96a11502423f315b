//! `cairn backup`.

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use cairn_core::{BackupOptions, backup};
use cairn_std::{Error, Excludes, FsSource, FsSourceOptions, ThreadWorker, hostname, now, os_rng, username};
use serde_json::json;

use super::forget::parse_time;
use super::init::create_repository;
use crate::args::{BackupArgs, Global};
use crate::exit;
use crate::output::{CliProgress, bytes};
use crate::repo::{self, Location, Session};

/// An absolute path with `.` and `..` resolved; a final symbolic link is kept as a link.
pub(crate) fn absolute_path(p: &Path) -> Result<PathBuf, Error> {
    let abs = std::path::absolute(p).map_err(|e| Error::io("invalid path", p, e))?;
    let resolved = match (abs.parent(), abs.file_name()) {
        (Some(parent), Some(name)) => fs::canonicalize(parent).map(|d| d.join(name)),
        _ => fs::canonicalize(&abs),
    };
    let resolved = resolved.map_err(|e| Error::io("cannot back up", p, e))?;
    fs::symlink_metadata(&resolved).map_err(|e| Error::io("cannot back up", p, e))?;
    Ok(resolved)
}

pub(crate) async fn backup_cmd(
    g: &Global,
    session: &Session,
    a: &BackupArgs,
    worker: &ThreadWorker,
) -> Result<ExitCode, Error> {
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
