//! `cairn check`: the repository's structure, and its data in whole or in part.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use cairn_core::{CheckOptions, DataSubset, WindowLimit, check};
use cairn_std::{Error, ErrorKind, ThreadWorker, now};
use serde_json::json;

use crate::args::{CheckArgs, Global};
use crate::exit;
use crate::output::{CliProgress, bytes};
use crate::repo::{self, Location, Session};

pub(crate) async fn check_cmd(
    g: &Global,
    session: &Session,
    a: &CheckArgs,
    worker: &ThreadWorker,
) -> Result<ExitCode, Error> {
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
