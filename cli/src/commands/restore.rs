//! `cairn restore`.

use std::process::ExitCode;
use std::time::Instant;

use cairn_core::restore;
use cairn_std::{Error, FsTarget, ThreadWorker};
use serde_json::json;

use crate::args::{Global, RestoreArgs};
use crate::exit;
use crate::output::{CliProgress, bytes};
use crate::repo::{self, Location, Session, snapshot_and_path};

pub(crate) async fn restore_cmd(
    g: &Global,
    session: &Session,
    a: &RestoreArgs,
    worker: &ThreadWorker,
) -> Result<ExitCode, Error> {
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
