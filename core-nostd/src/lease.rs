//! Leases: who is using a repository, so that a prune never deletes what a running backup needs.
//!
//! Terms (the objects are described in [`crate::lock`]):
//! - **lease**: what a process holds while it works on a repository: *shared* for everything
//!   that adds to or reads the repository (backup, restore, check, forget, ...), *exclusive* for
//!   what deletes data (prune, repair). Any number of shared leases may be held at once; an
//!   exclusive one excludes every other lease.
//! - **stale**: a lease whose holder has stopped. Judged by a [`StaleJudge`] that the caller
//!   supplies: by *observation* (the observer saw the same lock objects, unchanged, for
//!   [`LockSettings::stale_after_secs`] of its own clock), or because the holder's process is
//!   known to be gone. Never by comparing timestamps written on another machine's clock.
//! - **revocation**: a stale lease that conflicts with a taker is not skipped but *revoked*:
//!   every live object of it is overwritten with a tombstone, so that its holder, if it was only
//!   paused, finds out before it writes a snapshot or deletes anything.
//!
//! Taking a lease is write, then list: write one's own object under a random name, list the
//! locks, back off on a live conflict. Whichever of two conflicting takers writes first, the
//! other's listing sees it, so they never both go on (both may back off and retry). An exclusive
//! taker, and anyone who revoked something, pauses [`LockSettings::settle_millis`] and lists
//! again, so that an object written before its first listing but not yet listed by a slow store
//! is seen. No create-only write is needed, so every backend gives the same guarantee.
//!
//! Safety never rests on the judge: a wrong judgement (a wrong clock, a holder in another
//! process-id namespace) revokes a live lease, whose holder then fails cleanly. See FORMAT.md
//! section 6.1 for the whole argument, the two-phase deletion that makes a late deletion
//! harmless (section 6.2), and the comparison with earlier designs.
//!
//! The core reads no clock: the caller passes a [`LeaseClock`].

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use rand_core::CryptoRng;

use crate::backend::Storage;
use crate::config::LockSettings;
use crate::error::{Error, IoErrorKind};
use crate::id::{Id, SnapshotId};
use crate::lock::{Holder, LockInfo, LockListing, LockStore, Revocation};
use crate::repository::random_bytes;
use crate::time::Timestamp;

/// Listing rounds an acquisition tries before it gives up on a lease that keeps coming back.
const MAX_ROUNDS: u32 = 8;
/// How often a taker whose own object was missing from a listing starts again.
const RETAKES: u32 = 3;

/// The caller's clocks.
#[allow(async_fn_in_trait)] // Driven from one task, like the storage.
pub trait LeaseClock {
    /// Milliseconds since a fixed point, on a clock that never goes back and keeps counting
    /// while the machine is suspended (Linux `CLOCK_BOOTTIME`): how a holder notices that it
    /// slept past its lease.
    fn elapsed_ms(&self) -> u64;
    /// The wall-clock time, written into lock objects for people to read, never compared.
    fn now(&self) -> Timestamp;
    /// Waits `ms` milliseconds.
    async fn sleep_ms(&self, ms: u64);
}

/// What a [`StaleJudge`] says of a lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// It counts: a conflicting taker backs off.
    Live,
    /// Its holder has stopped refreshing it, but may only be paused: it is revoked (tombstones),
    /// so that the holder finds out if it resumes.
    Stale,
    /// Its holder is known to be gone for good (its process ended on the judge's own machine):
    /// its objects are simply removed.
    Gone,
}

/// Decides whether a lease's holder has stopped.
pub trait StaleJudge {
    /// The verdict on `holder` (a lease with its live objects, or one unreadable object). The
    /// judge may remember what it saw between calls.
    fn judge(&mut self, holder: &Holder, settings: &LockSettings) -> Verdict;
}

/// A lease this process holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// Its token.
    pub token: [u8; 16],
    /// The name of its current lock object.
    pub current: Id,
    /// What the current object says.
    pub info: LockInfo,
    /// [`LeaseClock::elapsed_ms`] just before the current object was written: no observer can
    /// have seen it, and so begun to judge it stale, before then.
    pub issued_ms: u64,
    /// Earlier objects of this lease, each removed once the given [`LeaseClock::elapsed_ms`]
    /// has passed: a refreshed object stays until the next one is surely listed (a settle
    /// pause later), so that a listing never shows neither; one whose removal failed is tried
    /// again.
    leftovers: Vec<(Id, u64)>,
    /// The settle pause, in milliseconds.
    settle_ms: u64,
}

impl Lease {
    /// True if a refresh is due at `now_ms` (every [`LockSettings::refresh_every_secs`]).
    pub fn is_due(&self, now_ms: u64, settings: &LockSettings) -> bool {
        now_ms.saturating_sub(self.issued_ms) >= u64::from(settings.refresh_every_secs) * 1000
    }

    /// True if the refresh is late by a whole period at `now_ms`: the process was suspended or
    /// stalled, and its lease must be checked before anything else is done.
    pub fn is_overdue(&self, now_ms: u64, settings: &LockSettings) -> bool {
        now_ms.saturating_sub(self.issued_ms) >= 2 * u64::from(settings.refresh_every_secs) * 1000
    }

    /// True if `info`, read back from the current object's name, is still this lease's.
    fn is_mine(&self, info: &LockInfo) -> bool {
        info.token == self.token && info.lease.sequence == self.info.lease.sequence && !info.is_revoked()
    }
}

/// Takes a lease described by `info` (its `exclusive` flag chooses the kind). Stale conflicting
/// leases are revoked (as `info.operation` on `info.hostname`); a live one fails the call with
/// [`Error::Locked`] naming it, after removing the object written.
pub async fn acquire<S, C, J, R>(
    store: LockStore<'_, S>,
    settings: &LockSettings,
    mut info: LockInfo,
    judge: &mut J,
    clock: &C,
    rng: &mut R,
) -> Result<Lease, Error>
where
    S: Storage,
    C: LeaseClock + ?Sized,
    J: StaleJudge + ?Sized,
    R: CryptoRng + ?Sized,
{
    info.token = random_bytes(rng);
    info.created = clock.now();
    info.refreshed = info.created;
    info.lease.sequence = 0;
    info.lease.revoked = None;
    let mut attempt = 0;
    loop {
        let current = Id(random_bytes(rng));
        let issued_ms = clock.elapsed_ms();
        store.write(current, &info, &random_bytes(rng)).await?;
        let lease = Lease {
            token: info.token,
            current,
            info: info.clone(),
            issued_ms,
            leftovers: Vec::new(),
            settle_ms: u64::from(settings.settle_millis),
        };
        match settle(store, settings, &lease, judge, clock, rng).await {
            Ok(()) => return Ok(lease),
            Err(e) => {
                let _ = store.remove(lease.current).await;
                // The taker's own object was missing from a listing (a store whose listing
                // lagged its write, or a wrong judge elsewhere revoked it): it held nothing yet,
                // and starts again with a fresh object, a few times (FORMAT.md 6.1, taking).
                if matches!(e, Error::LockLost) && attempt < RETAKES {
                    attempt += 1;
                    info.token = random_bytes(rng);
                    clock.sleep_ms(u64::from(settings.settle_millis)).await;
                    continue;
                }
                return Err(e);
            }
        }
    }
}

/// Lists the locks until a listing shows no live conflict (and, for an exclusive lease or after
/// a revocation, until a listing made after a settle pause shows nothing new to revoke).
async fn settle<S, C, J, R>(
    store: LockStore<'_, S>,
    settings: &LockSettings,
    lease: &Lease,
    judge: &mut J,
    clock: &C,
    rng: &mut R,
) -> Result<(), Error>
where
    S: Storage,
    C: LeaseClock + ?Sized,
    J: StaleJudge + ?Sized,
    R: CryptoRng + ?Sized,
{
    let me = &lease.info;
    let by = format!("{} on {} (process {})", me.operation, me.hostname, me.pid);
    for round in 0..MAX_ROUNDS {
        let listing = store.listing().await?;
        if !listing.holder(&lease.token).is_some_and(|h| h.objects.iter().any(|e| e.id == lease.current)) {
            // Revoked or removed while being taken (a wrong judge elsewhere): start again.
            return Err(Error::LockLost);
        }
        let mut revoked = false;
        for holder in &listing.holders {
            if holder.token == Some(lease.token) {
                continue;
            }
            // Shared leases never conflict; an unreadable object may be an exclusive lease.
            let conflicts = if me.exclusive { true } else { holder.token.is_some() && holder.is_exclusive() };
            if !conflicts {
                continue;
            }
            match judge.judge(holder, settings) {
                Verdict::Live => {
                    return Err(Error::Locked { id: holder.id(), holder: holder.newest().cloned().map(Box::new) });
                }
                Verdict::Stale => revoke(store, holder, &by, clock, rng).await?,
                Verdict::Gone => remove(store, holder).await?,
            }
            revoked = true;
        }
        if !revoked && (round > 0 || !me.exclusive) {
            complete_revocations(store, &listing, rng).await?;
            return Ok(());
        }
        clock.sleep_ms(u64::from(settings.settle_millis)).await;
    }
    // A revoked lease kept showing new objects: its holder is alive after all.
    Err(Error::Locked { id: Id::ZERO, holder: None })
}

/// Removes every object of a lease whose holder is gone.
pub async fn remove<S: Storage>(store: LockStore<'_, S>, holder: &Holder) -> Result<(), Error> {
    for entry in &holder.objects {
        store.remove(entry.id).await?;
    }
    Ok(())
}

/// Revokes a lease: every live object of it becomes a tombstone (an unreadable object is
/// removed; so is one the store refuses to overwrite, as an append-only server may). Its holder
/// finds out at its next check; see the [module docs](self).
pub async fn revoke<S, C, R>(
    store: LockStore<'_, S>,
    holder: &Holder,
    by: &str,
    clock: &C,
    rng: &mut R,
) -> Result<(), Error>
where
    S: Storage,
    C: LeaseClock + ?Sized,
    R: CryptoRng + ?Sized,
{
    for entry in &holder.objects {
        match &entry.info {
            Some(info) => {
                let mut tombstone = info.clone();
                tombstone.lease.revoked = Some(Revocation { by: String::from(by), at: clock.now(), seen: None });
                match store.write(entry.id, &tombstone, &random_bytes(rng)).await {
                    Ok(()) => {}
                    Err(e) if refused(&e) => store.remove(entry.id).await?,
                    Err(e) => return Err(e),
                }
            }
            None => store.remove(entry.id).await?,
        }
    }
    Ok(())
}

/// Completes the revocations of `listing` whose lease has no live object left: records the
/// snapshots that carry its token now (they may have been reported saved; any later one is
/// withdrawn). Tombstones are kept: when one could be dropped safely cannot be told without
/// trusting some machine's clock, and there is one per revoked lease, a few hundred bytes.
async fn complete_revocations<S, R>(store: LockStore<'_, S>, listing: &LockListing, rng: &mut R) -> Result<(), Error>
where
    S: Storage,
    R: CryptoRng + ?Sized,
{
    let pending = |t: &LockInfo| t.lease.revoked.as_ref().is_some_and(|r| r.seen.is_none());
    let todo: Vec<&(Id, LockInfo)> =
        listing.tombstones.iter().filter(|(_, t)| pending(t) && listing.holder(&t.token).is_none()).collect();
    if !todo.is_empty() {
        let snapshots = crate::repository::snapshot_leases(store.storage, store.keys).await?;
        for (id, tombstone) in todo {
            let mut done = tombstone.clone();
            let seen = snapshots.iter().filter(|(_, lease)| *lease == Some(tombstone.token)).map(|(s, _)| *s).collect();
            if let Some(r) = done.lease.revoked.as_mut() {
                r.seen = Some(seen);
            }
            store.write(*id, &done, &random_bytes(rng)).await?;
        }
    }
    Ok(())
}

/// Refreshes a held lease: writes its next object under a new name, reads the current one back
/// and removes it only if it is still this lease's. Fails with [`Error::LockLost`] (after
/// removing the new object) if it was revoked or removed: the holder must stop. Another error
/// leaves the lease as it was, to be refreshed again.
pub async fn refresh<S, C, R>(store: LockStore<'_, S>, lease: &mut Lease, clock: &C, rng: &mut R) -> Result<(), Error>
where
    S: Storage,
    C: LeaseClock + ?Sized,
    R: CryptoRng + ?Sized,
{
    let next_id = Id(random_bytes(rng));
    let mut next = lease.info.clone();
    next.lease.sequence += 1;
    next.refreshed = clock.now();
    let issued_ms = clock.elapsed_ms();
    if let Err(e) = store.write(next_id, &next, &random_bytes(rng)).await {
        // It may have been written all the same.
        lease.leftovers.push((next_id, issued_ms));
        return Err(e);
    }
    match store.read(lease.current).await {
        Ok(info) if lease.is_mine(&info) => {}
        Ok(_) => return lost(store, next_id).await,
        Err(e) if e.io_kind() == Some(IoErrorKind::NotFound) => return lost(store, next_id).await,
        Err(e) => {
            lease.leftovers.push((next_id, issued_ms));
            return Err(e);
        }
    }
    let old = core::mem::replace(&mut lease.current, next_id);
    lease.info = next;
    lease.issued_ms = issued_ms;
    lease.leftovers.push((old, clock.elapsed_ms().saturating_add(lease.settle_ms)));
    tidy(store, lease, clock.elapsed_ms()).await;
    Ok(())
}

/// Removes the earlier objects of a lease whose time has come (see [`Lease`]).
pub async fn tidy<S: Storage>(store: LockStore<'_, S>, lease: &mut Lease, now_ms: u64) {
    let mut kept = Vec::new();
    for (id, at) in core::mem::take(&mut lease.leftovers) {
        if at > now_ms || store.remove(id).await.is_err() {
            kept.push((id, at));
        }
    }
    lease.leftovers = kept;
}

impl Lease {
    /// True if an earlier object waits for its removal and its time has come.
    pub fn has_leftovers_due(&self, now_ms: u64) -> bool {
        self.leftovers.iter().any(|(_, at)| *at <= now_ms)
    }
}

/// True for a write the store refuses as such (not a failure to reach it).
fn refused(e: &Error) -> bool {
    matches!(
        e.io_kind(),
        Some(
            IoErrorKind::ReadOnly
                | IoErrorKind::PermissionDenied
                | IoErrorKind::AlreadyExists
                | IoErrorKind::Unsupported
        )
    )
}

async fn lost<S: Storage>(store: LockStore<'_, S>, next_id: Id) -> Result<(), Error> {
    let _ = store.remove(next_id).await;
    Err(Error::LockLost)
}

/// Checks that a held lease's current object is still there and still its own.
pub async fn verify<S: Storage>(store: LockStore<'_, S>, lease: &Lease) -> Result<(), Error> {
    match store.read(lease.current).await {
        Ok(info) if lease.is_mine(&info) => Ok(()),
        Ok(_) => Err(Error::LockLost),
        Err(e) if e.io_kind() == Some(IoErrorKind::NotFound) => Err(Error::LockLost),
        Err(e) => Err(e),
    }
}

/// Gives a lease back: removes its objects (best effort; what is left goes stale).
pub async fn release<S: Storage>(store: LockStore<'_, S>, lease: Lease) {
    for id in core::iter::once(lease.current).chain(lease.leftovers.into_iter().map(|(id, _)| id)) {
        let _ = store.remove(id).await;
    }
}

/// Snapshots that carry a lease token and were written after their lease was revoked (see
/// [`crate::lock`]), among `snapshots` (id, token).
pub fn withdrawn<'a>(
    listing: &LockListing,
    snapshots: impl IntoIterator<Item = (&'a SnapshotId, Option<&'a [u8; 16]>)>,
) -> Vec<SnapshotId> {
    snapshots.into_iter().filter_map(|(id, token)| token.filter(|t| listing.withdraws(t, id)).map(|_| *id)).collect()
}
