//! The lease protocol under adversarial schedules: a deterministic model test.
//!
//! Real engine code (the leased store, `backup`, `plan_prune`/`prune`) runs as several
//! *processes* over one in-memory store, driven by a tiny executor that completes **one storage
//! operation at a time**, chosen by a schedule. Between any two operations the schedule may let
//! virtual time pass, pause a process (a laptop asleep, a SIGSTOP: its refresh timer stops too),
//! or kill it. Every process has its own wall clock (offsets up to years: it only ever goes into
//! lock objects for people) and its own judge, which calls a lease stale only after watching it
//! unchanged for the stale age on its own clock, or gone when it shares the process's host.
//!
//! After every operation that could break them, the invariants are checked:
//! - **nothing lost**: every valid snapshot's trees and data blobs are in packs that exist;
//! - **one exclusive holder**: no two processes that took a lease and hold a live lock object
//!   conflict (one of them exclusive);
//!
//! and at the end of each schedule: every snapshot a backup reported saved is valid and
//! restores byte for byte, and `check` finds no error.
//!
//! Schedules: every schedule with one preemption (a switch away from a process that could go on,
//! optionally pausing it past the stale age) of a backup against a prune and of a backup against
//! two prunes; the first thousands with two preemptions, depth first; and seeded random schedules
//! with pauses, kills, clock offsets and lagging listings. Weaker protocols are run through the
//! same schedules to show the model finds their losses: a backup that takes no lease (as a
//! lock-free tool beside a locking one), a backup that does not read its lease back after writing
//! its snapshot, and a store whose listings lag more than the settle pause.

mod support;

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use bytes::Bytes;
use cairn_core::*;
use support::*;

const PW: &[u8] = b"model";
const STALE_MS: u64 = 30_000;

fn settings() -> LockSettings {
    LockSettings { stale_after_secs: 30, refresh_every_secs: 5, settle_millis: 500 }
}

// ------------------------------------------------------------------------------------------
// The executor: units (futures) that block on storage turns and sleeps.

/// What the last granted storage operation was, to decide which invariants to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Read,
    List,
    Write(FileKind),
    Remove(FileKind),
}

#[derive(Default)]
struct Sim {
    now: Cell<u64>,
    /// The unit being polled.
    current: Cell<usize>,
    pending: RefCell<Vec<u32>>,
    permits: RefCell<Vec<u32>>,
    wake_at: RefCell<Vec<Option<u64>>>,
    last_op: Cell<Option<Op>>,
    /// Listings hide objects younger than this (ms of virtual time): a store whose listings lag.
    list_lag: Cell<u64>,
    /// When each object was last written, for the lagging listings.
    written_at: RefCell<BTreeMap<Handle, u64>>,
    /// Processes killed (by process number).
    killed: RefCell<BTreeSet<u32>>,
}

impl Sim {
    fn add_unit(&self) -> usize {
        self.pending.borrow_mut().push(0);
        self.permits.borrow_mut().push(0);
        self.wake_at.borrow_mut().push(None);
        self.pending.borrow().len() - 1
    }
}

/// Waits for the schedule to grant this unit one storage operation.
struct Turn<'a> {
    sim: &'a Sim,
    unit: Option<usize>,
    registered: bool,
}

impl Future for Turn<'_> {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        let sim = self.sim;
        let unit = *self.unit.get_or_insert(sim.current.get());
        let mut permits = sim.permits.borrow_mut();
        if permits[unit] > 0 {
            permits[unit] -= 1;
            if self.registered {
                sim.pending.borrow_mut()[unit] -= 1;
                self.registered = false;
            }
            return Poll::Ready(());
        }
        if !self.registered {
            sim.pending.borrow_mut()[unit] += 1;
            self.registered = true;
        }
        Poll::Pending
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        if let (true, Some(u)) = (self.registered, self.unit) {
            self.sim.pending.borrow_mut()[u] -= 1;
        }
    }
}

/// The store as one process sees it: every call waits for its turn.
struct Gated<'a> {
    mem: &'a MemoryBackend,
    sim: &'a Sim,
}

impl Gated<'_> {
    async fn turn(&self, op: Op) {
        Turn { sim: self.sim, unit: None, registered: false }.await;
        self.sim.last_op.set(Some(op));
    }

    /// With `CAIRN_MODEL_TRACE` set, prints each operation.
    fn trace(&self, what: &str, handle: &Handle) {
        if std::env::var_os("CAIRN_MODEL_TRACE").is_some() {
            let hex = handle.id.to_hex();
            eprintln!(
                "{:>7} ms  unit {}  {what} {} {}",
                self.sim.now.get(),
                self.sim.current.get(),
                handle.kind,
                &hex[..8]
            );
        }
    }
}

impl Storage for Gated<'_> {
    fn properties(&self) -> StorageProperties {
        self.mem.properties()
    }
    async fn list(&self, kind: FileKind) -> Result<Vec<ObjectInfo>, IoError> {
        self.turn(Op::List).await;
        self.trace("list", &Handle::new(kind, Id::ZERO));
        let all = self.mem.list(kind).await?;
        let lag = self.sim.list_lag.get();
        if lag == 0 {
            return Ok(all);
        }
        let now = self.sim.now.get();
        let written = self.sim.written_at.borrow();
        Ok(all
            .into_iter()
            .filter(|o| written.get(&Handle::new(kind, o.id)).is_none_or(|t| now.saturating_sub(*t) >= lag))
            .collect())
    }
    async fn read(&self, handle: &Handle, range: ReadRange) -> Result<Bytes, IoError> {
        self.turn(Op::Read).await;
        self.trace("read", handle);
        self.mem.read(handle, range).await
    }
    async fn write(&self, handle: &Handle, data: Bytes, mode: WriteMode) -> Result<(), IoError> {
        self.turn(Op::Write(handle.kind)).await;
        self.trace("write", handle);
        // A new name shows in listings only after the lag; an overwritten one stays listed.
        if self.mem.get(handle).is_none() {
            self.sim.written_at.borrow_mut().insert(*handle, self.sim.now.get());
        }
        self.mem.write(handle, data, mode).await
    }
    async fn remove(&self, handle: &Handle) -> Result<(), IoError> {
        self.turn(Op::Remove(handle.kind)).await;
        self.trace("remove", handle);
        self.mem.remove(handle).await
    }
}

/// A process's clocks: the shared virtual time (boot-time clocks count suspend, so a paused
/// process's clock runs on), and a wall clock with the process's own offset.
struct SimClock<'a> {
    sim: &'a Sim,
    wall_offset_secs: i64,
}

impl LeaseClock for SimClock<'_> {
    fn elapsed_ms(&self) -> u64 {
        self.sim.now.get()
    }
    fn now(&self) -> Timestamp {
        Timestamp::new(1_800_000_000 + self.wall_offset_secs + (self.sim.now.get() / 1000) as i64, 0)
    }
    async fn sleep_ms(&self, ms: u64) {
        let deadline = self.sim.now.get() + ms;
        std::future::poll_fn(|_| {
            if self.sim.now.get() >= deadline {
                return Poll::Ready(());
            }
            let u = self.sim.current.get();
            let mut w = self.sim.wake_at.borrow_mut();
            w[u] = Some(w[u].map_or(deadline, |d| d.min(deadline)));
            Poll::Pending
        })
        .await
    }
}

/// Judges by watching: stale once seen unchanged for the stale age; gone if the holder shared
/// this process's host and was killed.
struct Watcher<'a> {
    sim: &'a Sim,
    host: String,
    seen: BTreeMap<Id, u64>,
}

impl StaleJudge for Watcher<'_> {
    fn judge(&mut self, holder: &Holder, settings: &LockSettings) -> Verdict {
        let now = self.sim.now.get();
        let since =
            holder.objects.iter().map(|e| now - *self.seen.entry(e.id).or_insert(now)).min().unwrap_or_default();
        if holder.newest().is_some_and(|i| i.hostname == self.host && self.sim.killed.borrow().contains(&i.pid)) {
            return Verdict::Gone;
        }
        if since >= u64::from(settings.stale_after_secs) * 1000 { Verdict::Stale } else { Verdict::Live }
    }
}

// ------------------------------------------------------------------------------------------
// The world: a repository with forgotten data a backup will reuse, and the processes.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Backup,
    Prune,
}

/// Weakened protocols, to show that the model finds their losses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Weakness {
    /// Backups take no lease at all.
    backup_without_lease: bool,
    /// Backups write their snapshot without reading the lease back after it.
    snapshot_without_check: bool,
}

struct Process<'a> {
    pid: u32,
    role: Role,
    host: String,
    leased: Leased<Gated<'a>, SimClock<'a>, TestRng>,
    /// Written by the main unit: the process ended (any outcome).
    done: Cell<bool>,
    /// The lease it believes it holds (taken and not given back).
    holding: Cell<bool>,
    /// A backup's snapshot it reported saved.
    reported: Cell<Option<SnapshotId>>,
}

fn source() -> MemFs {
    let mut fs = MemFs::new();
    fs.add(b"/d", MemEntry::Dir);
    // `a` and `b` are what the forgotten snapshot held: the backup reuses their blobs.
    fs.add(b"/d/a", MemEntry::File(pseudo_random(1, 70_000)));
    fs.add(b"/d/b", MemEntry::File(pseudo_random(2, 40_000)));
    fs.add(b"/d/new", MemEntry::File(pseudo_random(3, 30_000)));
    fs
}

fn backup_options(paths: &[&[u8]]) -> BackupOptions {
    let mut o = BackupOptions::default();
    o.paths = paths.iter().map(|p| p.to_vec()).collect();
    o.index_every_packs = 1;
    o
}

/// A repository where snapshot 0 (of `a` and `b`) was forgotten and snapshot 1 (of `kept`)
/// stays: the next prune wants to delete the packs of `a` and `b`, which the next backup reuses.
/// Made once, copied for each schedule.
fn world() -> MemoryBackend {
    thread_local! {
        static WORLD: MemoryBackend = make_world();
    }
    WORLD.with(|w| {
        let copy = MemoryBackend::new();
        for h in w.handles() {
            copy.put_raw(h, w.get(&h).unwrap());
        }
        copy
    })
}

fn make_world() -> MemoryBackend {
    let mem = MemoryBackend::new();
    block_on(async {
        let mut rng = TestRng(1);
        let mut o = small_repo_options();
        o.locks = settings();
        o.pack_size = 64 * 1024;
        let repo = Repository::init(&mem, PW, &o, &mut rng).await.unwrap();
        let mut fs = source();
        fs.add(b"/kept", MemEntry::File(pseudo_random(9, 20_000)));
        let mut index = repo.load_index().await.unwrap();
        let first = backup(
            &repo,
            &mut index,
            &mut fs.clone(),
            &InlineWorker,
            &mut rng,
            &mut NoProgress,
            &backup_options(&[b"/d"]),
        )
        .await
        .unwrap();
        backup(&repo, &mut index, &mut fs, &InlineWorker, &mut rng, &mut NoProgress, &backup_options(&[b"/kept"]))
            .await
            .unwrap();
        repo.forget_snapshots(&[first.snapshot_id], &mut rng).await.unwrap();
    });
    mem
}

// ------------------------------------------------------------------------------------------
// The invariants.

/// Every valid snapshot's blobs are in packs that exist. `headers` keeps the packs' headers
/// (a pack's name is the hash of its bytes: they never change).
fn nothing_lost(
    repo: &Repository<&MemoryBackend>,
    headers: &RefCell<BTreeMap<PackId, IndexPack>>,
) -> Result<(), String> {
    block_on(async {
        let mut index = Index::new();
        for o in repo.list_objects(FileKind::Pack).await.map_err(|e| e.to_string())? {
            let id = PackId(o.id);
            let known = headers.borrow().get(&id).cloned();
            let pack = match known {
                Some(p) => p,
                None => {
                    let p = repo.index_entry_from_header(id, o.size).await.map_err(|e| e.to_string())?;
                    headers.borrow_mut().insert(id, p.clone());
                    p
                }
            };
            index.add_pack(pack.id, pack.blob_type, pack.size, &pack.blobs).map_err(|e| e.to_string())?;
        }
        for (id, s) in repo.snapshots().await.map_err(|e| e.to_string())?.valid {
            let mut stack = vec![s.tree];
            while let Some(t) = stack.pop() {
                let tree =
                    repo.load_tree(&index, t).await.map_err(|e| format!("snapshot {}: tree: {e}", id.short()))?;
                for node in tree.nodes {
                    match node.kind {
                        NodeKind::Dir { subtree } => stack.push(subtree),
                        NodeKind::File { content } => {
                            for b in content {
                                if !index.contains(BlobType::Data, &b) {
                                    return Err(format!("snapshot {} lost data blob {b}", id.short()));
                                }
                            }
                        }
                        NodeKind::Symlink { .. } => {}
                    }
                }
            }
        }
        Ok(())
    })
}

/// No two processes that hold a live lease conflict.
fn one_exclusive_holder(repo: &Repository<&MemoryBackend>, procs: &[Process<'_>]) -> Result<(), String> {
    let store = LockStore { storage: repo.storage(), keys: repo.keys(), compression: repo.config().compression };
    let live: Vec<(u32, bool)> = procs
        .iter()
        .filter(|p| p.holding.get() && !p.done.get())
        .filter_map(|p| {
            let lease = p.leased.lease()?;
            let info = block_on(store.read(lease.current)).ok()?;
            (!info.is_revoked() && info.token == lease.token).then_some((p.pid, info.exclusive))
        })
        .collect();
    for (i, a) in live.iter().enumerate() {
        for b in &live[i + 1..] {
            if a.1 || b.1 {
                return Err(format!("processes {} and {} both hold leases, one exclusive", a.0, b.0));
            }
        }
    }
    Ok(())
}

/// At the end: reported snapshots are valid and restore exactly; `check` finds no error.
fn end_state(mem: &MemoryBackend, procs: &[Process<'_>]) -> Result<(), String> {
    block_on(async {
        let repo = Repository::open(mem, PW).await.map_err(|e| e.to_string())?;
        let all = repo.snapshots().await.map_err(|e| e.to_string())?;
        for p in procs {
            let Some(id) = p.reported.get() else { continue };
            let Some((_, snap)) = all.valid.iter().find(|(s, _)| *s == id) else {
                return Err(format!("process {} reported snapshot {} saved; it is not valid", p.pid, id.short()));
            };
            let index = repo.load_index_reporting(true).await.map_err(|e| e.to_string())?.index;
            let mut target = MemTarget::default();
            let stats = restore(&repo, &index, snap, b"/d", &mut target, &InlineWorker, &mut NoProgress)
                .await
                .map_err(|e| e.to_string())?;
            if stats.errors != 0 {
                return Err(format!("snapshot {} restores with {} errors", id.short(), stats.errors));
            }
            for (name, data) in [(&b"a"[..], pseudo_random(1, 70_000)), (b"b", pseudo_random(2, 40_000))] {
                match target.entries.get(name) {
                    Some((MemEntry::File(d), _)) if *d == data => {}
                    _ => return Err(format!("snapshot {}: {} differs", id.short(), String::from_utf8_lossy(name))),
                }
            }
        }
        let results =
            check(&repo, &InlineWorker, &mut NoProgress, &CheckOptions::default()).await.map_err(|e| e.to_string())?;
        if results.errors() > 0 {
            let first = results.problems.iter().find(|p| p.is_error()).map(|p| p.to_string()).unwrap_or_default();
            return Err(format!("check: {} errors, first: {first}", results.errors()));
        }
        Ok(())
    })
}

// ------------------------------------------------------------------------------------------
// One schedule.

/// What a schedule does at a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Choice {
    /// Grant a storage operation to this unit.
    Run(usize),
    /// Pause this process for so many ms (its units are not scheduled, time goes on).
    Pause(usize, u64),
    /// Kill this process (its units are dropped; its lock objects stay).
    Kill(usize),
}

/// Picks the next step from the units that wait for a turn.
trait Schedule {
    fn choose(&mut self, step: usize, enabled: &[(usize, usize)], last: Option<usize>) -> Choice;
    /// Virtual ms one storage operation takes.
    fn latency(&mut self) -> u64 {
        100
    }
}

/// What a run found.
#[derive(Debug, Default)]
struct Outcome {
    steps: usize,
    /// At each step, the units that could run (unit, process) and the one that did.
    trace: Vec<(Vec<(usize, usize)>, usize)>,
    violation: Option<String>,
    reported: usize,
    lost_leases: usize,
}

struct Spec {
    roles: Vec<Role>,
    /// Hosts by process (the same host lets a judge see a killed process is gone).
    hosts: Vec<&'static str>,
    wall_offsets: Vec<i64>,
    weakness: Weakness,
    list_lag_ms: u64,
}

impl Spec {
    fn new(roles: &[Role]) -> Self {
        Self {
            roles: roles.to_vec(),
            hosts: roles.iter().enumerate().map(|(i, _)| ["h0", "h1", "h2", "h3"][i % 4]).collect(),
            wall_offsets: vec![0; roles.len()],
            weakness: Weakness::default(),
            list_lag_ms: 0,
        }
    }
}

/// A seed for stream `n` of `seed` (splitmix64): distinct streams for the processes' RNGs
/// (the test RNG maps seeds 2k and 2k+1 to the same stream).
fn mix(seed: u64, n: u64) -> u64 {
    let mut z = seed.wrapping_add(n.wrapping_mul(0x9e37_79b9_7f4a_7c15)).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

type Unit<'a> = Pin<Box<dyn Future<Output = ()> + 'a>>;

fn run(spec: &Spec, schedule: &mut dyn Schedule, seed: u64) -> Outcome {
    let mem = world();
    let checker = block_on(Repository::open(&mem, PW)).unwrap();
    let headers = RefCell::new(BTreeMap::new());
    let sim = Sim::default();
    sim.list_lag.set(spec.list_lag_ms);
    let gated = || Gated { mem: &mem, sim: &sim };
    let procs: Vec<Process<'_>> = spec
        .roles
        .iter()
        .enumerate()
        .map(|(i, role)| Process {
            pid: i as u32,
            role: *role,
            host: spec.hosts[i].to_string(),
            leased: Leased::new(
                gated(),
                SimClock { sim: &sim, wall_offset_secs: spec.wall_offsets[i] },
                TestRng(mix(seed, i as u64)),
            ),
            done: Cell::new(false),
            holding: Cell::new(false),
            reported: Cell::new(None),
        })
        .collect();
    let lost = Rc::new(Cell::new(0usize));
    let mut units: Vec<(usize, Option<Unit<'_>>)> = Vec::new();
    for (i, p) in procs.iter().enumerate() {
        units.push((i, Some(Box::pin(main_unit(p, &sim, spec.weakness, seed, Rc::clone(&lost))))));
        sim.add_unit();
        units.push((i, Some(Box::pin(refresher(p, &sim)))));
        sim.add_unit();
    }
    let mut paused_until = vec![0u64; procs.len()];
    let mut out = Outcome::default();
    let waker = futures_util::task::noop_waker();
    let mut cx = Context::from_waker(&waker);
    let poll = |units: &mut Vec<(usize, Option<Unit<'_>>)>, u: usize, cx: &mut Context<'_>| {
        if let Some(f) = units[u].1.as_mut() {
            sim.current.set(u);
            sim.wake_at.borrow_mut()[u] = None;
            if f.as_mut().poll(cx).is_ready() {
                units[u].1 = None;
            }
        }
    };
    let mut last = None;
    for step in 0..20_000 {
        // Let every unit that can go on without storage go on (up to its next turn or sleep).
        for _ in 0..3 {
            for u in 0..units.len() {
                if units[u].1.is_some() && sim.now.get() >= paused_until[units[u].0] {
                    poll(&mut units, u, &mut cx);
                }
            }
        }
        let now = sim.now.get();
        let enabled: Vec<(usize, usize)> = (0..units.len())
            .filter(|&u| units[u].1.is_some() && now >= paused_until[units[u].0] && sim.pending.borrow()[u] > 0)
            .map(|u| (u, units[u].0))
            .collect();
        if enabled.is_empty() {
            if units.iter().all(|(_, f)| f.is_none()) {
                break;
            }
            // Time goes on to the next wake-up or the end of a pause.
            let next = (0..units.len())
                .filter(|&u| units[u].1.is_some())
                .filter_map(|u| {
                    let p = paused_until[units[u].0];
                    if p > now { Some(p) } else { sim.wake_at.borrow()[u] }
                })
                .min();
            match next {
                Some(t) if t > now => sim.now.set(t),
                _ => {
                    out.violation = Some("deadlock: nothing can run".into());
                    break;
                }
            }
            continue;
        }
        match schedule.choose(out.steps, &enabled, last) {
            Choice::Run(u) => {
                out.trace.push((enabled.clone(), u));
                sim.permits.borrow_mut()[u] += 1;
                sim.last_op.set(None);
                poll(&mut units, u, &mut cx);
                sim.permits.borrow_mut()[u] = 0;
                out.steps += 1;
                last = Some(u);
                let latency = schedule.latency();
                sim.now.set(sim.now.get() + latency);
                let relevant = matches!(
                    sim.last_op.get(),
                    Some(Op::Remove(_) | Op::Write(FileKind::Snapshot | FileKind::Lock | FileKind::Index))
                );
                if relevant {
                    let checked =
                        nothing_lost(&checker, &headers).and_then(|()| one_exclusive_holder(&checker, &procs));
                    if let Err(v) = checked {
                        out.violation = Some(format!("step {step}: {v}"));
                        break;
                    }
                }
            }
            Choice::Pause(p, ms) => {
                if std::env::var_os("CAIRN_MODEL_TRACE").is_some() {
                    eprintln!("{:>7} ms  process {p} paused for {ms} ms", sim.now.get());
                }
                paused_until[p] = sim.now.get() + ms;
            }
            Choice::Kill(p) => {
                if std::env::var_os("CAIRN_MODEL_TRACE").is_some() {
                    eprintln!("{:>7} ms  process {p} killed", sim.now.get());
                }
                sim.killed.borrow_mut().insert(procs[p].pid);
                for unit in units.iter_mut().filter(|(owner, _)| *owner == p) {
                    unit.1 = None;
                }
                procs[p].done.set(true);
            }
        }
    }
    drop(units);
    if out.violation.is_none() {
        out.violation = end_state(&mem, &procs).err();
    }
    out.reported = procs.iter().filter(|p| p.reported.get().is_some()).count();
    out.lost_leases = lost.get();
    out
}

/// A process's work: take its lease (retrying while locked), do its job, give the lease back.
async fn main_unit(p: &Process<'_>, sim: &Sim, weakness: Weakness, seed: u64, lost: Rc<Cell<usize>>) {
    let Ok(repo) = Repository::open(&p.leased, PW).await else {
        p.done.set(true);
        return;
    };
    let exclusive = p.role == Role::Prune;
    let leaseless = p.role == Role::Backup && weakness.backup_without_lease;
    let mut judge = Watcher { sim, host: p.host.clone(), seen: BTreeMap::new() };
    let info = |op| LockInfo::new(exclusive, op, &p.host, "u", p.pid, Timestamp::EPOCH);
    if !leaseless {
        let op = if exclusive { "prune" } else { "backup" };
        let mut tries = 0;
        loop {
            match p.leased.acquire(repo.keys(), repo.config(), info(op), &mut judge).await {
                Ok(()) => break,
                Err(Error::Locked { .. } | Error::LockLost) if tries < 150 => {
                    tries += 1;
                    p.leased.clock().sleep_ms(1000).await;
                }
                Err(_) => {
                    p.done.set(true);
                    return;
                }
            }
        }
        p.holding.set(true);
    }
    let mut rng = TestRng(mix(seed ^ 0x5eed, u64::from(p.pid) + 100));
    let result = match p.role {
        Role::Backup => {
            let mut index = match repo.load_index().await {
                Ok(i) => i,
                Err(e) => return finish(p, e, &lost).await,
            };
            let done = if weakness.snapshot_without_check {
                let unchecked = Unchecked(&p.leased);
                let repo2 = match Repository::open(&unchecked, PW).await {
                    Ok(r) => r,
                    Err(e) => return finish(p, e, &lost).await,
                };
                back_up(&repo2, &mut index, &mut rng).await
            } else {
                back_up(&repo, &mut index, &mut rng).await
            };
            done.map(|d| p.reported.set(Some(d.snapshot_id)))
        }
        Role::Prune => match plan_prune(&repo, &PruneOptions::default()).await {
            Ok(plan) => prune(&repo, plan, &mut rng).await.map(|_| ()),
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(()) => {
            p.leased.release().await;
            p.holding.set(false);
            p.done.set(true);
        }
        Err(e) => finish(p, e, &lost).await,
    }
}

async fn back_up<S: Storage>(
    repo: &Repository<S>,
    index: &mut Index,
    rng: &mut TestRng,
) -> Result<BackupResults, Error> {
    let options = backup_options(&[b"/d"]);
    backup(repo, index, &mut source(), &InlineWorker, rng, &mut NoProgress, &options).await
}

async fn finish(p: &Process<'_>, e: Error, lost: &Cell<usize>) {
    if e.is_lock_lost() {
        lost.set(lost.get() + 1);
    }
    p.leased.release().await;
    p.holding.set(false);
    p.done.set(true);
}

/// A process's refresh timer, beside its work; ends with it.
async fn refresher(p: &Process<'_>, _sim: &Sim) {
    while !p.done.get() {
        let wait = p.leased.tick().await.unwrap_or(1000);
        if p.done.get() {
            break;
        }
        p.leased.clock().sleep_ms(wait.clamp(1, 1000)).await;
    }
}

/// The leased store with the snapshot written around it: no reading back after the write.
struct Unchecked<'a, 'b>(&'b Leased<Gated<'a>, SimClock<'a>, TestRng>);

impl Storage for Unchecked<'_, '_> {
    fn properties(&self) -> StorageProperties {
        self.0.properties()
    }
    async fn list(&self, kind: FileKind) -> Result<Vec<ObjectInfo>, IoError> {
        self.0.list(kind).await
    }
    async fn read(&self, handle: &Handle, range: ReadRange) -> Result<Bytes, IoError> {
        self.0.read(handle, range).await
    }
    async fn write(&self, handle: &Handle, data: Bytes, mode: WriteMode) -> Result<(), IoError> {
        if handle.kind == FileKind::Snapshot {
            return self.0.inner().write(handle, data, mode).await;
        }
        self.0.write(handle, data, mode).await
    }
    async fn remove(&self, handle: &Handle) -> Result<(), IoError> {
        self.0.remove(handle).await
    }
}

// ------------------------------------------------------------------------------------------
// Schedules.

/// Keeps the last unit going; switches only at the preemptions given (step -> unit, and
/// whether to pause the process switched away from past the stale age).
struct Preempt {
    at: BTreeMap<usize, (usize, bool)>,
    paused: Vec<usize>,
}

impl Schedule for Preempt {
    fn choose(&mut self, step: usize, enabled: &[(usize, usize)], last: Option<usize>) -> Choice {
        if let Some(&(u, pause)) = self.at.get(&step) {
            // Units come in pairs: a process's work (2p) and its refresh timer (2p + 1).
            if pause
                && let Some(l) = last
                && !self.paused.contains(&step)
            {
                self.paused.push(step);
                return Choice::Pause(l / 2, STALE_MS + 10_000);
            }
            if enabled.iter().any(|(x, _)| *x == u) {
                return Choice::Run(u);
            }
        }
        match last.filter(|l| enabled.iter().any(|(x, _)| x == l)) {
            Some(l) => Choice::Run(l),
            None => Choice::Run(enabled[0].0),
        }
    }
}

/// Every schedule with at most `k` preemptions (each with or without a pause), explored
/// depth first by replaying prefixes, up to `limit` schedules. Returns (schedules run, first
/// violation, whether every such schedule was run).
fn explore(spec: &Spec, k: usize, limit: usize) -> (usize, Option<String>, bool) {
    let mut runs = 0;
    let mut frontier: Vec<BTreeMap<usize, (usize, bool)>> = vec![BTreeMap::new()];
    while let Some(at) = frontier.pop() {
        if runs >= limit {
            return (runs, None, false);
        }
        let out = run(spec, &mut Preempt { at: at.clone(), paused: Vec::new() }, 3);
        runs += 1;
        if let Some(v) = out.violation {
            return (runs, Some(format!("{v} (preemptions {at:?})")), false);
        }
        if at.len() >= k {
            continue;
        }
        let after = at.keys().next_back().map_or(0, |s| s + 1);
        for (step, (enabled, ran)) in out.trace.iter().enumerate().skip(after) {
            for &(u, _) in enabled.iter().filter(|(u, _)| u != ran) {
                for pause in [false, true] {
                    let mut next = at.clone();
                    next.insert(step, (u, pause));
                    frontier.push(next);
                }
            }
        }
    }
    (runs, None, true)
}

/// Random choices: mostly keep the last unit going, sometimes switch, pause or kill.
struct Random {
    rng: TestRng,
    kills_left: u32,
}

impl Random {
    fn below(&mut self, n: u64) -> u64 {
        rand_core::Rng::next_u64(&mut self.rng) % n.max(1)
    }
}

impl Schedule for Random {
    fn choose(&mut self, _: usize, enabled: &[(usize, usize)], last: Option<usize>) -> Choice {
        let roll = self.below(1000);
        if roll < 8 {
            let (_, p) = enabled[self.below(enabled.len() as u64) as usize];
            return Choice::Pause(p, self.below(3 * STALE_MS));
        }
        if roll < 10 && self.kills_left > 0 {
            self.kills_left -= 1;
            let (_, p) = enabled[self.below(enabled.len() as u64) as usize];
            return Choice::Kill(p);
        }
        if roll < 700
            && let Some(l) = last.filter(|l| enabled.iter().any(|(x, _)| x == l))
        {
            return Choice::Run(l);
        }
        Choice::Run(enabled[self.below(enabled.len() as u64) as usize].0)
    }
    fn latency(&mut self) -> u64 {
        if self.below(50) == 0 { self.below(20_000) } else { self.below(300) }
    }
}

/// Runs `n` random schedules from `seed`; returns a violation with the seed that found it.
fn random_runs(n: u64, seed: u64, weakness: Weakness, list_lag_ms: u64) -> (u64, Option<String>) {
    for i in 0..n {
        let s = seed.wrapping_add(i);
        let mut r = Random { rng: TestRng(mix(s, 1)), kills_left: 1 };
        let roles = match r.below(3) {
            0 => vec![Role::Backup, Role::Prune],
            1 => vec![Role::Backup, Role::Prune, Role::Prune],
            _ => vec![Role::Backup, Role::Backup, Role::Prune],
        };
        let mut spec = Spec::new(&roles);
        for o in &mut spec.wall_offsets {
            // Clocks off by up to years either way, a half hour ahead, or right.
            *o = match r.below(4) {
                0 => 0,
                1 => 31 * 60,
                2 => r.below(20 * 365 * 86_400) as i64 - 10 * 365 * 86_400,
                _ => -(r.below(3600) as i64),
            };
        }
        if r.below(3) == 0 {
            spec.hosts = vec!["same"; roles.len()];
        }
        spec.weakness = weakness;
        spec.list_lag_ms = list_lag_ms;
        if std::env::var_os("CAIRN_MODEL_TRACE").is_some() {
            eprintln!("roles {roles:?} hosts {:?} clocks {:?}", spec.hosts, spec.wall_offsets);
        }
        let out = run(&spec, &mut r, s);
        if let Some(v) = out.violation {
            return (i + 1, Some(format!("seed {s}: {v}")));
        }
    }
    (n, None)
}

fn full() -> bool {
    std::env::var("CAIRN_CAMPAIGN").is_ok_and(|v| v == "full")
}

fn report(line: &str) {
    println!("{line}");
    if let Some(path) = std::env::var_os("CAIRN_CAMPAIGN_REPORT") {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
        writeln!(f, "{line}").unwrap();
    }
}

// ------------------------------------------------------------------------------------------
// The tests.

#[test]
fn a_backup_and_a_prune_lose_nothing_in_schedules_with_up_to_two_preemptions() {
    let spec = Spec::new(&[Role::Backup, Role::Prune]);
    let (one, violation, all) = explore(&spec, 1, usize::MAX);
    assert!(violation.is_none(), "{}", violation.unwrap());
    assert!(all);
    report(&format!("CAMPAIGN lease-model-backup+prune preemptions=1 schedules={one} exhausted=true"));
    let (runs, violation, all) = explore(&spec, 2, if full() { 60_000 } else { 3_000 });
    assert!(violation.is_none(), "{}", violation.unwrap());
    report(&format!("CAMPAIGN lease-model-backup+prune preemptions=2 schedules={runs} exhausted={all}"));
    assert!(runs > 500, "only {runs} schedules");
}

#[test]
fn a_backup_and_two_prunes_lose_nothing_in_any_schedule_with_one_preemption() {
    let spec = Spec::new(&[Role::Backup, Role::Prune, Role::Prune]);
    let (runs, violation, all) = explore(&spec, 1, usize::MAX);
    assert!(violation.is_none(), "{}", violation.unwrap());
    assert!(all);
    report(&format!("CAMPAIGN lease-model-backup+2prunes preemptions=1 schedules={runs} exhausted=true"));
    assert!(runs > 100, "only {runs} schedules");
}

#[test]
fn random_schedules_with_pauses_kills_and_wrong_clocks_lose_nothing() {
    let seed = match std::env::var("CAIRN_CAMPAIGN_SEED").ok().and_then(|s| s.parse().ok()) {
        Some(s) => s,
        None if full() => std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64,
        None => 0x1ea5e,
    };
    let n = if full() { 20_000 } else { 1_500 };
    let (runs, violation) = random_runs(n, seed, Weakness::default(), 0);
    assert!(violation.is_none(), "{}", violation.unwrap());
    // With listings that lag up to half the settle pause, too (FORMAT.md 6.1: the settle pause
    // must cover twice the store's listing delay).
    let (lagged, violation) = random_runs(n / 5, seed ^ 0x1a9, Weakness::default(), 250);
    assert!(violation.is_none(), "listings lagging 250 ms: {}", violation.unwrap());
    report(&format!("CAMPAIGN lease-model-random schedules={} lagging={lagged} seed={seed}", runs + lagged));
}

/// The model can fail: the same schedules find the losses of weaker protocols.
#[test]
fn the_model_finds_the_losses_of_weaker_protocols() {
    // A backup beside a prune without taking a lease (a lock-free tool beside a locking one).
    let mut spec = Spec::new(&[Role::Backup, Role::Prune]);
    spec.weakness.backup_without_lease = true;
    let (runs, found, _) = explore(&spec, 1, usize::MAX);
    let found = found.expect("a backup without a lease loses data to a prune");
    assert!(found.contains("snapshot"), "{found}");
    println!("without a lease: found after {runs} schedules: {found}");

    // A backup that does not read its lease back after writing its snapshot: paused just
    // before the write, it reports a snapshot whose data a prune deleted.
    let (runs, found) = random_runs(5_000, 77, Weakness { snapshot_without_check: true, ..Weakness::default() }, 0);
    let found = found.expect("a snapshot written without reading the lease back can lose data");
    println!("without the check after the snapshot: found after {runs} schedules: {found}");

    // Listings that lag more than the settle pause: two leases that exclude each other are
    // both taken.
    let (runs, found) = random_runs(5_000, 91, Weakness::default(), 5_000);
    let found = found.expect("listings lagging beyond the settle pause break mutual exclusion");
    println!("listings lagging 5 s with a 0.5 s settle: found after {runs} schedules: {found}");
}

/// Replays one schedule of preemptions given as `CAIRN_MODEL_REPLAY="step:unit:pause,..."`
/// (with `CAIRN_MODEL_TRACE=1` to see every operation); does nothing without it.
#[test]
fn replay() {
    if let Some(seed) = std::env::var("CAIRN_MODEL_SEED").ok().and_then(|s| s.parse().ok()) {
        println!("{:?}", random_runs(1, seed, Weakness::default(), 0));
        return;
    }
    let Ok(script) = std::env::var("CAIRN_MODEL_REPLAY") else { return };
    let roles: Vec<Role> = std::env::var("CAIRN_MODEL_ROLES")
        .unwrap_or_else(|_| "bp".into())
        .chars()
        .map(|c| if c == 'b' { Role::Backup } else { Role::Prune })
        .collect();
    let mut at = BTreeMap::new();
    for part in script.split(',').filter(|p| !p.is_empty()) {
        let f: Vec<&str> = part.split(':').collect();
        at.insert(f[0].parse().unwrap(), (f[1].parse().unwrap(), f[2] == "true"));
    }
    let out = run(&Spec::new(&roles), &mut Preempt { at, paused: Vec::new() }, 3);
    println!("{out:?}");
}
