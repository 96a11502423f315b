//! Holding a repository lease for the length of an operation: the std half of
//! [`cairn_core::lease`].
//!
//! - [`LockKeeper`] wraps a destination in the core's leased store ([`cairn_core::Leased`]),
//!   with this machine's clocks ([`SystemClock`]: `CLOCK_BOOTTIME`, which counts suspend, so a
//!   laptop that slept finds out before its next storage call) and the operating system's RNG.
//!   It is shared ([`LockKeeper::handle`]) so that the program can keep every lease it took
//!   alive beside the operation ([`keep_alive`]) and give them all back however the operation
//!   ends, Ctrl-C included.
//! - [`Observer`] judges other leases stale by what this machine saw: a lease whose lock objects
//!   stayed unchanged for the repository's stale age on this machine's clock (remembered
//!   across runs in the cache directory), or whose process is gone from this very boot and
//!   process-id namespace. Another machine's clock is never read.
//!
//! Which commands take which lease: shared for backup, restore, check, forget, ls, diff, dump
//! and key changes; exclusive for prune and repair. FORMAT.md section 6.1 has the protocol.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use cairn_core::{
    Holder, HostTag, Id, LeaseClock, Leased, LockInfo, LockSettings, Repository, StaleJudge, Storage, Timestamp,
    Verdict,
};

use crate::error::Error;
use crate::local_time;
use crate::process::{hostname, now, username};
use crate::rng::os_rng;

/// This machine's clocks.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

/// Milliseconds since boot on `CLOCK_BOOTTIME`, which keeps counting while suspended.
pub fn boottime_ms() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_BOOTTIME)
        .map(|t| t.tv_sec() as u64 * 1000 + t.tv_nsec() as u64 / 1_000_000)
        .unwrap_or(0)
}

impl LeaseClock for SystemClock {
    fn elapsed_ms(&self) -> u64 {
        boottime_ms()
    }
    fn now(&self) -> Timestamp {
        now()
    }
    async fn sleep_ms(&self, ms: u64) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}

/// A destination wrapped to hold a lease (see the [module docs](self)), shared: a clone is
/// another handle to the same lease, for [`keep_alive`].
pub type LockKeeper<S> = Rc<Leased<S, SystemClock, rand_core::UnwrapErr<getrandom::SysRng>>>;

/// Wraps `inner`; no lease is held until [`lock_repository`] takes one.
pub fn lock_keeper<S: Storage>(inner: S) -> LockKeeper<S> {
    Rc::new(Leased::new(inner, SystemClock, os_rng()))
}

/// Keeps the leases of `keepers` alive until each is lost or released: run it beside the
/// operation (`select`); it never finishes while one is held. `keepers` is read at every tick,
/// so leases taken later are kept too.
pub async fn keep_alive<S: Storage>(keepers: &std::cell::RefCell<Vec<LockKeeper<S>>>) {
    loop {
        let now: Vec<LockKeeper<S>> = keepers.borrow().clone();
        let mut wait = 1000;
        for k in now {
            if let Some(ms) = k.tick().await {
                wait = wait.min(ms);
            }
        }
        tokio::time::sleep(Duration::from_millis(wait.max(50))).await;
    }
}

/// Runs `work` while keeping `keeper`'s lease alive.
pub async fn with_lease_kept<S: Storage, T>(keeper: &LockKeeper<S>, work: impl Future<Output = T>) -> T {
    let work = std::pin::pin!(work);
    let keep = std::pin::pin!(async {
        keeper.keep_alive().await;
        // Lost or released: the work finds out at its next storage call.
        std::future::pending::<std::convert::Infallible>().await
    });
    match futures_util::future::select(work, keep).await {
        futures_util::future::Either::Left((out, _)) => out,
        futures_util::future::Either::Right((never, _)) => match never {},
    }
}

/// This process's place on this machine, for lock objects.
pub fn host_tag() -> HostTag {
    HostTag {
        boot_id: boot_id().unwrap_or_default(),
        pid_namespace: pid_namespace().unwrap_or(0),
        process_start: process_start(std::process::id()).unwrap_or(0),
    }
}

fn boot_id() -> Option<[u8; 16]> {
    let text = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let hex: String = text.trim().chars().filter(|c| *c != '-').collect();
    let mut out = [0u8; 16];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

fn pid_namespace() -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self/ns/pid").ok().map(|m| m.ino())
}

/// A process's start time in clock ticks since boot (`/proc/PID/stat`, field 22).
fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let after = stat.get(stat.rfind(')')? + 1..)?;
    after.split_whitespace().nth(19)?.parse().ok()
}

/// True if `info`'s holder ran under this very boot and process-id namespace and its process
/// is gone (or the process id now belongs to a later process). A holder elsewhere, in another
/// container, or written by a build that did not record its place is never judged dead.
pub fn holder_is_dead(info: &LockInfo) -> bool {
    let tag = &info.lease.host;
    let mine = host_tag();
    if tag.boot_id == [0; 16] || tag.pid_namespace == 0 || tag.boot_id != mine.boot_id {
        return false;
    }
    if tag.pid_namespace != mine.pid_namespace {
        return false;
    }
    let Ok(pid) = i32::try_from(info.pid) else { return false };
    if matches!(nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None), Err(nix::errno::Errno::ESRCH)) {
        return true;
    }
    tag.process_start != 0 && process_start(info.pid).is_some_and(|start| start != tag.process_start)
}

/// When this machine first saw a lock object: the boot and the boot-time clock then (exact
/// within one boot, whatever the wall clock does), and the wall clock (across reboots).
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
struct Seen {
    boot: [u8; 16],
    boot_ms: u64,
    wall_secs: i64,
}

/// Judges leases stale by what this machine saw (see the [module docs](self)); remembers its
/// observations of one repository in the cache directory.
#[derive(Debug)]
pub struct Observer {
    file: Option<PathBuf>,
    seen: BTreeMap<String, Seen>,
    boot: [u8; 16],
    /// Objects looked at in this run, kept when saving.
    looked: std::collections::BTreeSet<String>,
}

impl Observer {
    /// An observer for the repository with this id, with what earlier runs saw.
    pub fn for_repository(repo_id: &Id) -> Self {
        let file = crate::paths::cache_dir().ok().map(|d| d.join("lock-observations").join(repo_id.to_hex()));
        let seen = file
            .as_ref()
            .and_then(|f| std::fs::read(f).ok())
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        Self { file, seen, boot: boot_id().unwrap_or_default(), looked: Default::default() }
    }

    /// How long this machine has seen the object `id`, recording it now if it is new.
    fn seen_for(&mut self, id: &Id) -> Duration {
        let key = id.to_hex();
        let (boot, boot_ms, wall) = (self.boot, boottime_ms(), now().secs);
        self.looked.insert(key.clone());
        let s = *self.seen.entry(key).or_insert(Seen { boot, boot_ms, wall_secs: wall });
        let by_wall = Duration::from_secs(wall.saturating_sub(s.wall_secs).max(0) as u64);
        if s.boot == boot && boot != [0; 16] {
            // Within one boot the boot-time clock is exact whatever the wall clock does; the
            // smaller of the two never judges too early when one of them was set wrong.
            Duration::from_millis(boot_ms.saturating_sub(s.boot_ms)).min(by_wall)
        } else {
            by_wall
        }
    }

    /// How long `holder`'s newest object has been seen unchanged here.
    pub fn unchanged_for(&mut self, holder: &Holder) -> Duration {
        holder.objects.iter().map(|e| self.seen_for(&e.id)).min().unwrap_or_default()
    }

    /// Writes what was seen of the objects looked at in this run (best effort: losing it only
    /// means watching a stale lock again before it counts as stale).
    pub fn save(&self) {
        let Some(file) = &self.file else { return };
        let kept: BTreeMap<&String, &Seen> = self.seen.iter().filter(|(k, _)| self.looked.contains(*k)).collect();
        let Ok(bytes) = serde_json::to_vec(&kept) else { return };
        if let Some(dir) = file.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let tmp = file.with_extension(format!("tmp-{}", std::process::id()));
        if std::fs::write(&tmp, bytes).is_ok() {
            let _ = std::fs::rename(&tmp, file);
        }
    }
}

impl StaleJudge for Observer {
    fn judge(&mut self, holder: &Holder, settings: &LockSettings) -> Verdict {
        let unchanged = self.unchanged_for(holder);
        if holder.newest().is_some_and(holder_is_dead) {
            Verdict::Gone
        } else if unchanged >= Duration::from_secs(u64::from(settings.stale_after_secs)) {
            Verdict::Stale
        } else {
            Verdict::Live
        }
    }
}

/// Who this process is, for lock objects.
pub fn lock_info(exclusive: bool, operation: &str) -> LockInfo {
    let mut info = LockInfo::new(exclusive, operation, &hostname(), &username(), std::process::id(), now());
    info.lease.host = host_tag();
    info
}

/// A lock's holder for people: `backup on host (user me, process 42) since ..., last refreshed ...`.
pub fn describe_lock(info: &LockInfo) -> String {
    format!(
        "{}{} on {} (user {}, process {}) since {}, last refreshed {}",
        info.operation,
        if info.exclusive { " (exclusive)" } else { "" },
        info.hostname,
        info.username,
        info.pid,
        local_time(info.created),
        local_time(info.refreshed)
    )
}

/// Takes a shared or exclusive lease on `repo` for `operation`, held through its
/// [`LockKeeper`] until released. While another process holds a conflicting lease that this
/// machine has not yet seen unchanged for the repository's stale age, retries for up to `wait`
/// (with jitter), then fails naming the holder and how long until it would count as stale.
pub async fn lock_repository<S: Storage>(
    repo: &Repository<LockKeeper<S>>,
    operation: &str,
    exclusive: bool,
    wait: Duration,
) -> Result<(), Error> {
    let started = std::time::Instant::now();
    let mut observer = Observer::for_repository(&repo.config().id);
    let mut jitter = os_rng();
    let result = loop {
        let taken =
            repo.storage().acquire(repo.keys(), repo.config(), lock_info(exclusive, operation), &mut observer).await;
        match taken {
            Ok(()) => break Ok(()),
            Err(cairn_core::Error::Locked { .. }) if started.elapsed() < wait => {
                // 0.5 to 2.5 s, so that two waiting processes do not keep colliding.
                let extra = u64::from(cairn_core::random_bytes::<1, _>(&mut jitter)[0]) * 8;
                let pause = Duration::from_millis(500 + extra).min(wait.saturating_sub(started.elapsed()));
                tokio::time::sleep(pause).await;
            }
            Err(e @ cairn_core::Error::Locked { .. }) => break Err(locked_error(e, &mut observer, repo.config())),
            Err(e) => break Err(e.into()),
        }
    };
    observer.save();
    result
}

/// The error for a lease held by another process, saying how long this machine has seen it
/// unchanged and when it would count as stale.
fn locked_error(e: cairn_core::Error, observer: &mut Observer, config: &cairn_core::Config) -> Error {
    let stale_after = Duration::from_secs(u64::from(config.locks.stale_after_secs));
    let cairn_core::Error::Locked { id, holder: Some(info) } = &e else { return e.into() };
    let holder = Holder {
        token: Some(info.token),
        objects: vec![cairn_core::LockEntry { id: *id, info: Some((**info).clone()) }],
    };
    let unchanged = observer.unchanged_for(&holder);
    let left = stale_after.saturating_sub(unchanged);
    Error::from(e).with_hint(format!(
        "this machine has seen that lock unchanged for {}; it counts as stale once unchanged for {} (in {} more), \
         whatever the clocks say. Wait, or retry with --retry-lock {}m; `cairn unlock` removes locks of processes \
         that are gone",
        cairn_core::Span(unchanged.as_secs() as i64),
        cairn_core::Span(stale_after.as_secs() as i64),
        cairn_core::Span(left.as_secs() as i64),
        left.as_secs().div_ceil(60) + 1
    ))
}
