//! `cairn prune`: freeing what no snapshot uses.

use std::process::ExitCode;

use cairn_core::{PruneOptions, PruneStats, SnapshotId, plan_prune, prune};
use cairn_std::{Error, os_rng};
use serde_json::json;

use crate::args::{Global, PruneArgs};
use crate::output::bytes;
use crate::repo::{self, Location, Repo, Session};

pub(crate) async fn prune_cmd(g: &Global, session: &Session, a: &PruneArgs) -> Result<ExitCode, Error> {
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
pub(crate) async fn run_prune(
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

pub(crate) fn prune_json(p: &PruneStats) -> serde_json::Value {
    json!({
        "snapshots": p.snapshots,
        "blobs_used": p.blobs_used, "blobs_unused": p.blobs_unused,
        "bytes_used": p.bytes_used, "bytes_unused": p.bytes_unused,
        "packs_deleted": p.packs_deleted, "packs_repacked": p.packs_repacked, "packs_kept": p.packs_kept,
        "bytes_repacked": p.bytes_repacked, "bytes_freed": p.bytes_freed,
        "packs_written": p.packs_written, "index_files_written": p.index_files_written,
    })
}
