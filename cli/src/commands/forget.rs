//! `cairn forget`: snapshots removed by id or by a retention policy.

use std::process::ExitCode;

use cairn_core::{KeepPolicy, RetentionInput, SnapshotId, Timestamp, plan_retention};
use cairn_std::{Error, ErrorKind, local_time, now, os_rng, utc_offset};
use serde_json::json;

use super::prune::{prune_json, run_prune};
use crate::args::{ForgetArgs, Global};
use crate::output::rfc3339;
use crate::repo::{self, Location, Session};

/// The local time zone's offset from UTC at `t`, in seconds.
pub(crate) async fn forget(g: &Global, session: &Session, a: &ForgetArgs) -> Result<ExitCode, Error> {
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
