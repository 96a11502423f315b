//! `cairn stats`.

use std::process::ExitCode;

use cairn_std::Error;
use serde_json::json;

use crate::args::Global;
use crate::output::bytes;
use crate::repo::{self, Location, Session};

pub(crate) async fn stats_cmd(g: &Global, session: &Session) -> Result<ExitCode, Error> {
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
