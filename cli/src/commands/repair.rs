//! `cairn repair index` and `cairn repair snapshots`.

use std::collections::BTreeSet;
use std::process::ExitCode;

use cairn_core::{CheckOptions, CheckProblem, RepairOptions, check, rebuild_index, repair_snapshots};
use cairn_std::{Error, ErrorKind, ThreadWorker, os_rng};
use serde_json::json;

use crate::args::{Global, RepairCommand, RepairSnapshotsArgs};
use crate::output::CliProgress;
use crate::repo::{self, Location, Session};

pub(crate) async fn repair_cmd(
    g: &Global,
    session: &Session,
    command: &RepairCommand,
    worker: &ThreadWorker,
) -> Result<ExitCode, Error> {
    match command {
        RepairCommand::Index => repair_index(g, session).await,
        RepairCommand::Snapshots(a) => repair_snapshots_cmd(g, session, a, worker).await,
    }
}

async fn repair_index(g: &Global, session: &Session) -> Result<ExitCode, Error> {
    let location = Location::from_args(g)?;
    let repo = repo::open(g, &location).await?;
    session.lock(g, &location, &repo, "repair index", true).await?;
    repo.storage().inner().ensure_deletes_allowed("repair index").await?;
    let mut progress = CliProgress::steps(g, "reading pack headers");
    let result = rebuild_index(&repo, &mut os_rng(), &mut progress).await;
    progress.finish();
    let r = result?;
    if g.json {
        let unreadable: Vec<_> =
            r.packs_unreadable.iter().map(|(id, e)| json!({ "pack": id.to_hex(), "error": e.to_string() })).collect();
        println!(
            "{}",
            json!({
                "packs_indexed": r.packs_indexed, "blobs_indexed": r.blobs_indexed,
                "packs_unreadable": unreadable,
                "index_files_written": r.index_files_written, "index_files_removed": r.index_files_removed,
            })
        );
    } else {
        for (id, e) in &r.packs_unreadable {
            eprintln!("warning: pack {} left out of the index: {e}", id.short());
        }
        if !g.quiet {
            println!(
                "indexed {} blobs in {} packs; wrote {} index objects, removed {} old ones",
                r.blobs_indexed, r.packs_indexed, r.index_files_written, r.index_files_removed
            );
            if !r.packs_unreadable.is_empty() {
                println!(
                    "{} packs could not be read; run `cairn repair snapshots` to rewrite the snapshots that need them",
                    r.packs_unreadable.len()
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn repair_snapshots_cmd(
    g: &Global,
    session: &Session,
    a: &RepairSnapshotsArgs,
    worker: &ThreadWorker,
) -> Result<ExitCode, Error> {
    let location = Location::from_args(g)?;
    let repo = repo::open(g, &location).await?;
    session.lock(g, &location, &repo, "repair snapshots", !a.dry_run).await?;
    if !a.dry_run && !a.keep_original {
        repo.storage().inner().ensure_deletes_allowed("repair snapshots").await?;
    }
    let mut options = RepairOptions::default();
    options.keep_original = a.keep_original;
    options.dry_run = a.dry_run;
    for spec in &a.snapshots {
        options.snapshots.push(repo.find_snapshot(spec).await?.0);
    }
    if a.read_data {
        let mut check_options = CheckOptions::default();
        check_options.read_data = true;
        let mut progress = CliProgress::steps(g, "verifying data");
        let result = check(&repo, worker, &mut progress, &check_options).await;
        progress.finish();
        for p in result?.problems {
            if let CheckProblem::BlobDamaged { blob_type, blob, .. } = p {
                options.damaged.insert((blob_type, blob));
            }
        }
    }
    let index = crate::repo::load_index(g, &repo, false).await?;
    let r = repair_snapshots(&repo, &index, &options, &mut os_rng()).await?;
    if !a.dry_run {
        repo::recache(g, &location, &repo).await?;
    }
    let unreadable: BTreeSet<String> = r.unreadable.iter().map(|(id, _)| id.short()).collect();
    if g.json {
        let repaired: Vec<_> = r
            .repaired
            .iter()
            .map(|s| {
                json!({
                    "original": s.original.to_hex(),
                    "repaired": s.repaired.map(|id| id.to_hex()),
                    "original_removed": s.original_removed,
                    "dropped": s.dropped.iter().map(|d| json!({
                        "path": cairn_std::show_path(&d.path),
                        "reason": d.reason.to_string(),
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        let unreadable: Vec<_> =
            r.unreadable.iter().map(|(id, e)| json!({ "snapshot": id.to_hex(), "error": e.to_string() })).collect();
        println!(
            "{}",
            json!({
                "dry_run": a.dry_run, "snapshots_checked": r.snapshots_checked, "repaired": repaired,
                "unreadable": unreadable, "trees_written": r.trees_written,
            })
        );
    } else {
        for (id, e) in &r.unreadable {
            eprintln!("warning: snapshot {} cannot be read, nothing to repair in it: {e}", id.short());
        }
        for s in &r.repaired {
            let outcome = match (s.repaired, a.dry_run) {
                (_, true) => "would be rewritten".to_string(),
                (Some(new), false) if s.original_removed => format!("replaced by {}", new.short()),
                (Some(new), false) => format!("repaired as {} (original kept)", new.short()),
                (None, false) => "not rewritten".to_string(),
            };
            println!("snapshot {} {outcome}:", s.original.short());
            for d in &s.dropped {
                println!("  {}: {}", cairn_std::show_path(&d.path), d.reason);
            }
        }
        if !g.quiet {
            let verb = if a.dry_run { "would be repaired (dry run: nothing changed)" } else { "repaired" };
            println!("{} snapshots checked, {} {verb}", r.snapshots_checked, r.repaired.len());
            if !unreadable.is_empty() {
                println!(
                    "unreadable snapshots ({}): remove them with `cairn forget {}`",
                    unreadable.len(),
                    unreadable.into_iter().collect::<Vec<_>>().join(" ")
                );
            }
        }
    }
    if r.unreadable.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    Err(Error::new(ErrorKind::Corrupt, format!("{} snapshots cannot be read", r.unreadable.len()))
        .with_hint("`cairn forget` them; their data is freed by the next prune"))
}
