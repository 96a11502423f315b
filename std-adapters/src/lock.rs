//! Holding a repository lock for the length of an operation.
//!
//! [`LockKeeper`] wraps a destination. Once [`lock_repository`] has taken a lock through it,
//! every storage operation keeps the lock alive: when [`REFRESH_EVERY_SECS`] of wall-clock time
//! have passed since the last refresh, the keeper first checks that the lock object is still
//! there and still ours, then rewrites it with a new time. The wall clock (not a monotonic one)
//! is deliberate: after a laptop sleeps for an hour, the first operation notices that the lock
//! may have gone stale. Writing a snapshot, and removing anything, always checks first (removals
//! at most once a minute). If the lock was removed or taken over, the operation fails with
//! [`LockLost`] before it writes or deletes anything more.
//!
//! Which commands take which lock: shared for backup, restore, check, forget, ls, diff, dump
//! and key changes; exclusive for prune and repair. See FORMAT.md section 6 for the protocol.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use cairn_core::{
    Compression, FileKind, Handle, HeldLock, IoError, IoErrorKind, Keys, LockInfo, ObjectInfo, REFRESH_EVERY_SECS,
    ReadRange, Repository, Storage, StorageProperties, WriteMode, verify_lock_object, write_lock_object,
};

use crate::process::{hostname, now, timestamp_of, username};
use crate::rng::os_rng;
use crate::{Error, local_time};

/// The error a storage operation returns once the lock was lost.
#[derive(Debug, thiserror::Error)]
#[error(
    "this process's repository lock was removed by another process (it had not been refreshed for 30 minutes); \
     nothing more is written"
)]
pub struct LockLost;

/// Removals check the lock at most this often.
const VERIFY_REMOVALS_EVERY: Duration = Duration::from_secs(60);

#[derive(Clone)]
struct Held {
    keys: Arc<Keys>,
    compression: Compression,
    lock: HeldLock,
    refreshed_at: SystemTime,
    verified_at: SystemTime,
}

/// A destination wrapper that keeps this process's lock alive. See the [module docs](self).
#[derive(Debug)]
pub struct LockKeeper<S> {
    inner: S,
    held: Mutex<Option<Held>>,
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Held").field("lock", &self.lock.id).finish_non_exhaustive()
    }
}

fn lost() -> IoError {
    IoError::new(IoErrorKind::Other, LockLost)
}

impl<S: Storage> LockKeeper<S> {
    /// Wraps `inner`; no lock is held until [`lock_repository`] takes one.
    pub fn new(inner: S) -> Self {
        Self { inner, held: Mutex::new(None) }
    }

    /// The id of the lock held, if any.
    pub fn held_id(&self) -> Option<cairn_core::Id> {
        self.snapshot().map(|h| h.lock.id)
    }

    /// The wrapped destination.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    fn snapshot(&self) -> Option<Held> {
        self.held.lock().ok().and_then(|h| h.clone())
    }

    fn update(&self, f: impl FnOnce(&mut Held)) {
        if let Ok(mut guard) = self.held.lock()
            && let Some(h) = guard.as_mut()
        {
            f(h);
        }
    }

    /// Refreshes the lock when due; checks it first when `verify` says so.
    async fn tend(&self, verify: bool) -> Result<(), IoError> {
        let Some(held) = self.snapshot() else { return Ok(()) };
        let now = SystemTime::now();
        let since = |t: SystemTime| now.duration_since(t).unwrap_or(Duration::ZERO);
        let due = since(held.refreshed_at) >= Duration::from_secs(REFRESH_EVERY_SECS as u64);
        if !due && !verify {
            return Ok(());
        }
        // Claim the refresh at once, so that operations running alongside do not repeat it.
        self.update(|h| {
            h.verified_at = now;
            if due {
                h.refreshed_at = now;
            }
        });
        match verify_lock_object(&self.inner, &held.keys, &held.lock).await {
            Ok(()) => {}
            Err(cairn_core::Error::LockLost) => return Err(lost()),
            Err(e) => return Err(IoError::new(IoErrorKind::Unavailable, e)),
        }
        if due {
            let mut info = held.lock.info.clone();
            info.refreshed = timestamp_of(now);
            let nonce = cairn_core::random_bytes(&mut os_rng());
            write_lock_object(
                &self.inner,
                &held.keys,
                held.compression,
                held.lock.id,
                &info,
                WriteMode::Replace,
                &nonce,
            )
            .await
            .map_err(|e| IoError::new(IoErrorKind::Unavailable, e))?;
            self.update(|h| h.lock.info = info);
        }
        Ok(())
    }

    /// Removes this process's lock, if it holds one (best effort: a lock left behind goes stale).
    pub async fn release(&self) {
        let held = self.held.lock().ok().and_then(|mut h| h.take());
        if let Some(held) = held {
            let _ = self.inner.remove(&Handle::new(FileKind::Lock, held.lock.id)).await;
        }
    }
}

impl<S: Storage> Storage for LockKeeper<S> {
    fn properties(&self) -> StorageProperties {
        self.inner.properties()
    }

    async fn list(&self, kind: FileKind) -> Result<Vec<ObjectInfo>, IoError> {
        self.tend(false).await?;
        self.inner.list(kind).await
    }

    async fn read(&self, handle: &Handle, range: ReadRange) -> Result<Bytes, IoError> {
        if handle.kind != FileKind::Lock {
            self.tend(false).await?;
        }
        self.inner.read(handle, range).await
    }

    async fn read_into(&self, handle: &Handle, range: ReadRange, buf: Vec<u8>) -> Result<Vec<u8>, IoError> {
        if handle.kind != FileKind::Lock {
            self.tend(false).await?;
        }
        self.inner.read_into(handle, range, buf).await
    }

    async fn write(&self, handle: &Handle, data: Bytes, mode: WriteMode) -> Result<(), IoError> {
        if handle.kind != FileKind::Lock {
            // A snapshot makes a backup visible: never write one under a lost lock.
            self.tend(handle.kind == FileKind::Snapshot).await?;
        }
        self.inner.write(handle, data, mode).await
    }

    async fn remove(&self, handle: &Handle) -> Result<(), IoError> {
        if handle.kind != FileKind::Lock {
            let verify = self.snapshot().is_some_and(|h| {
                SystemTime::now().duration_since(h.verified_at).unwrap_or(Duration::ZERO) >= VERIFY_REMOVALS_EVERY
            });
            self.tend(verify).await?;
        }
        self.inner.remove(handle).await
    }
}

/// True if `info`'s holder ran on this host and its process is gone.
pub fn holder_is_dead(info: &LockInfo) -> bool {
    if info.hostname != hostname() || info.pid == 0 {
        return false;
    }
    let Ok(pid) = i32::try_from(info.pid) else { return false };
    matches!(nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None), Err(nix::errno::Errno::ESRCH))
}

/// Who this process is, for lock objects.
fn lock_info(exclusive: bool, operation: &str) -> LockInfo {
    LockInfo::new(exclusive, operation, &hostname(), &username(), std::process::id(), now())
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

/// Takes a shared or exclusive lock on `repo` for `operation` and keeps it through the
/// repository's [`LockKeeper`] until [`LockKeeper::release`]. While another process holds a
/// conflicting lock, retries for up to `wait` (with jitter), then fails with a message naming
/// the holder and since when.
pub async fn lock_repository<S: Storage>(
    repo: &Repository<LockKeeper<S>>,
    operation: &str,
    exclusive: bool,
    wait: Duration,
) -> Result<(), Error> {
    let started = std::time::Instant::now();
    let mut rng = os_rng();
    loop {
        match repo.lock(lock_info(exclusive, operation), now(), &holder_is_dead, &mut rng).await {
            Ok(lock) => {
                let at = SystemTime::now();
                let held = Held {
                    keys: Arc::clone(repo.keys()),
                    compression: repo.config().compression,
                    lock,
                    refreshed_at: at,
                    verified_at: at,
                };
                if let Ok(mut slot) = repo.storage().held.lock() {
                    *slot = Some(held);
                }
                return Ok(());
            }
            Err(e @ cairn_core::Error::Locked { .. }) => {
                let waited = started.elapsed();
                if waited >= wait {
                    return Err(e.into());
                }
                // 0.5 to 2.5 s, so that two waiting processes do not keep colliding.
                let jitter = u64::from(cairn_core::random_bytes::<2, _>(&mut rng)[0]) * 8;
                let pause = Duration::from_millis(500 + jitter).min(wait - waited);
                tokio::time::sleep(pause).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}
