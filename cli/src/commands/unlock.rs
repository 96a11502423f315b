//! `cairn unlock`: locks left by processes that are gone.

use std::process::ExitCode;

use cairn_std::{Error, describe_lock, os_rng};
use serde_json::json;

use crate::args::{Global, UnlockArgs};
use crate::repo::{self, Location};

pub(crate) async fn unlock(g: &Global, a: &UnlockArgs) -> Result<ExitCode, Error> {
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
