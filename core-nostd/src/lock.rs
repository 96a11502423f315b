//! Locks: who is using a repository, so that a prune never deletes what a running backup needs.
//!
//! Terms:
//! - **shared lock**: taken by everything that adds to or reads the repository (backup,
//!   restore, check, forget, ...). Any number may be held at once. Stored as `locks/<random id>`.
//! - **exclusive lock**: taken by operations that delete data (prune, repair). At most one, and
//!   never while a shared lock is held. Stored under the fixed name `locks/ff..ff`
//!   ([`EXCLUSIVE_LOCK_ID`]) with a create-new write, so that the store itself guarantees that
//!   two exclusive holders can never both succeed.
//! - **stale**: a lock not refreshed for [`STALE_AFTER_SECS`] (holders refresh every
//!   [`REFRESH_EVERY_SECS`]), or one whose holder the caller knows is dead (same host, process
//!   gone). Stale locks never block, and `cairn unlock` removes them.
//!
//! Taking a lock is write-then-check: write one's own lock, then list the others, and back off
//! (remove one's own, report the holder) on a conflict. Whichever of two conflicting writers
//! writes first, the other's listing sees it, so at most one proceeds (both may back off and
//! retry). FORMAT.md section 6 gives the argument in full.
//!
//! Lock objects are sealed like every other object (label `cairn.lock`): the store never learns
//! host or user names. The core reads no clock: the caller passes `now` everywhere.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;

use bytes::Bytes;
use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};

use crate::backend::{FileKind, Handle, Storage, WriteMode, write_new};
use crate::compress::Compression;
use crate::crypto::{Keys, NONCE_LEN, label};
use crate::error::{Error, IoErrorKind, ObjectKind, StorageOp};
use crate::id::Id;
use crate::repository::{Repository, open_object, random_bytes, seal_object, storage_error};
use crate::time::Timestamp;

/// The name of the exclusive lock.
pub const EXCLUSIVE_LOCK_ID: Id = Id([0xff; 32]);
/// The largest lock object accepted.
pub const MAX_LOCK_LEN: u64 = 64 * 1024;
/// A lock not refreshed for this long is stale.
pub const STALE_AFTER_SECS: i64 = 30 * 60;
/// Holders refresh their lock this often.
pub const REFRESH_EVERY_SECS: i64 = 5 * 60;

/// What a lock object says about its holder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// Exclusive (prune, repair) or shared.
    pub exclusive: bool,
    /// What the holder is doing ("backup", "prune", ...).
    pub operation: String,
    /// The holder's host.
    pub hostname: String,
    /// The holder's user.
    pub username: String,
    /// The holder's process id.
    pub pid: u32,
    /// When the lock was taken.
    pub created: Timestamp,
    /// When it was last refreshed.
    pub refreshed: Timestamp,
    /// Random bytes that tell this holder's lock from any other (a stale exclusive lock taken
    /// over by someone else has another token).
    pub token: [u8; 16],
}

impl LockInfo {
    /// A lock for `operation`, taken at `now`; the token is filled in by [`Repository::lock`].
    pub fn new(exclusive: bool, operation: &str, hostname: &str, username: &str, pid: u32, now: Timestamp) -> Self {
        Self {
            exclusive,
            operation: operation.into(),
            hostname: hostname.into(),
            username: username.into(),
            pid,
            created: now,
            refreshed: now,
            token: [0; 16],
        }
    }

    /// True if the lock was not refreshed for [`STALE_AFTER_SECS`] before `now`.
    pub fn is_stale(&self, now: Timestamp) -> bool {
        now.secs.saturating_sub(self.refreshed.secs) > STALE_AFTER_SECS
    }

    /// The plaintext form.
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_allocvec(self).unwrap_or_default()
    }

    /// Decodes a plaintext lock.
    pub fn decode(id: Id, bytes: &[u8]) -> Result<Self, Error> {
        postcard::from_bytes(bytes).map_err(|e: postcard::Error| Error::decode(ObjectKind::Lock, id, e.into()))
    }
}

/// A lock found in the repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockEntry {
    /// Its id ([`EXCLUSIVE_LOCK_ID`] for the exclusive lock).
    pub id: Id,
    /// What it says, or `None` if it cannot be read (damaged, or vanished while listing).
    pub info: Option<LockInfo>,
}

impl LockEntry {
    /// True for the exclusive lock.
    pub fn is_exclusive(&self) -> bool {
        self.id == EXCLUSIVE_LOCK_ID
    }

    /// True if the lock no longer counts: not refreshed in time, or its holder is known to be
    /// gone (`dead`). An unreadable lock is never stale: only a person may remove it.
    pub fn is_stale(&self, now: Timestamp, dead: &dyn Fn(&LockInfo) -> bool) -> bool {
        self.info.as_ref().is_some_and(|i| i.is_stale(now) || dead(i))
    }
}

/// A lock this process holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldLock {
    /// Its id.
    pub id: Id,
    /// What it says.
    pub info: LockInfo,
}

fn lock_handle(id: Id) -> Handle {
    Handle::new(FileKind::Lock, id)
}

/// Seals and writes a lock object (for wrappers that keep a lock without the repository).
pub async fn write_lock_object<S: Storage>(
    storage: &S,
    keys: &Keys,
    compression: Compression,
    id: Id,
    info: &LockInfo,
    mode: WriteMode,
    nonce: &[u8; NONCE_LEN],
) -> Result<(), Error> {
    let sealed = seal_object(keys, label::LOCK, &info.encode(), compression, nonce);
    let handle = lock_handle(id);
    let written = match mode {
        // A lock's token and nonce are random: a retried write finds its own earlier try.
        WriteMode::CreateNew => write_new(storage, &handle, Bytes::from(sealed)).await,
        WriteMode::Replace => storage.write(&handle, Bytes::from(sealed), mode).await,
    };
    written.map_err(|e| storage_error(StorageOp::Write, &handle, e))
}

/// Reads and opens one lock object.
pub async fn read_lock_object<S: Storage>(storage: &S, keys: &Keys, id: Id) -> Result<LockInfo, Error> {
    let handle = lock_handle(id);
    let sealed = storage
        .read(&handle, crate::backend::ReadRange::All { max_len: MAX_LOCK_LEN })
        .await
        .map_err(|e| storage_error(StorageOp::Read, &handle, e))?;
    let plain = open_object(keys, ObjectKind::Lock, id, label::LOCK, &sealed, MAX_LOCK_LEN)?;
    LockInfo::decode(id, &plain)
}

/// Checks that a held lock is still in storage and still its holder's (same token); fails with
/// [`Error::LockLost`] if it was removed or taken over.
pub async fn verify_lock_object<S: Storage>(storage: &S, keys: &Keys, held: &HeldLock) -> Result<(), Error> {
    match read_lock_object(storage, keys, held.id).await {
        Ok(info) if info.token == held.info.token => Ok(()),
        Ok(_) => Err(Error::LockLost),
        Err(e) if e.io_kind() == Some(IoErrorKind::NotFound) => Err(Error::LockLost),
        Err(e) => Err(e),
    }
}

impl<S: Storage> Repository<S> {
    /// Seals and writes a lock object.
    pub async fn write_lock<R: CryptoRng + ?Sized>(
        &self,
        id: Id,
        info: &LockInfo,
        mode: WriteMode,
        rng: &mut R,
    ) -> Result<(), Error> {
        let nonce = random_bytes(rng);
        write_lock_object(self.storage(), self.keys(), self.config().compression, id, info, mode, &nonce).await
    }

    /// Reads one lock object.
    pub async fn read_lock(&self, id: Id) -> Result<LockInfo, Error> {
        read_lock_object(self.storage(), self.keys(), id).await
    }

    /// Removes one lock object (a missing one is not an error).
    pub async fn remove_lock(&self, id: Id) -> Result<(), Error> {
        self.remove_object(&lock_handle(id)).await
    }

    /// Every lock object, read.
    pub async fn list_locks(&self) -> Result<Vec<LockEntry>, Error> {
        let mut out = Vec::new();
        for id in self.list(FileKind::Lock).await? {
            let info = self.read_lock(id).await.ok();
            out.push(LockEntry { id, info });
        }
        Ok(out)
    }

    /// Takes a lock described by `info` (its `exclusive` flag chooses the kind), or fails with
    /// [`Error::Locked`] naming a holder that conflicts. `now` judges staleness; `dead` says
    /// whether a holder is known to be gone (the caller checks process ids on its own host).
    pub async fn lock<R: CryptoRng + ?Sized>(
        &self,
        mut info: LockInfo,
        now: Timestamp,
        dead: &dyn Fn(&LockInfo) -> bool,
        rng: &mut R,
    ) -> Result<HeldLock, Error> {
        info.token = random_bytes(rng);
        info.created = now;
        info.refreshed = now;
        let id = if info.exclusive { EXCLUSIVE_LOCK_ID } else { Id(random_bytes(rng)) };
        match self.write_lock(id, &info, WriteMode::CreateNew, rng).await {
            Ok(()) => {}
            Err(e) if info.exclusive && e.io_kind() == Some(IoErrorKind::AlreadyExists) => {
                // Someone holds the exclusive lock: take it over only if it is stale.
                let holder = LockEntry { id, info: self.read_lock(id).await.ok() };
                if !holder.is_stale(now, dead) {
                    return Err(Error::Locked { id, holder: holder.info.map(Box::new) });
                }
                self.remove_lock(id).await?;
                if let Err(e) = self.write_lock(id, &info, WriteMode::CreateNew, rng).await {
                    if e.io_kind() == Some(IoErrorKind::AlreadyExists) {
                        return Err(Error::Locked { id, holder: self.read_lock(id).await.ok().map(Box::new) });
                    }
                    return Err(e);
                }
            }
            Err(e) => return Err(e),
        }
        let held = HeldLock { id, info };
        match self.conflict(&held, now, dead).await {
            Ok(None) => Ok(held),
            Ok(Some(other)) => {
                self.remove_lock(id).await?;
                Err(Error::Locked { id: other.id, holder: other.info.map(Box::new) })
            }
            Err(e) => {
                let _ = self.remove_lock(id).await;
                Err(e)
            }
        }
    }

    /// The first lock that conflicts with `held`, if any: for an exclusive lock every other
    /// live lock, for a shared one a live exclusive lock.
    async fn conflict(
        &self,
        held: &HeldLock,
        now: Timestamp,
        dead: &dyn Fn(&LockInfo) -> bool,
    ) -> Result<Option<LockEntry>, Error> {
        for entry in self.list_locks().await? {
            if entry.id == held.id {
                // The exclusive name must still hold our own lock, not a taker-over's.
                if entry.info.as_ref().is_some_and(|i| i.token != held.info.token) {
                    return Ok(Some(entry));
                }
                continue;
            }
            let conflicts = held.info.exclusive || entry.is_exclusive();
            if conflicts && !entry.is_stale(now, dead) {
                return Ok(Some(entry));
            }
        }
        Ok(None)
    }

    /// Refreshes a held lock at `now` after checking it is still there and still ours; fails
    /// with [`Error::LockLost`] otherwise (someone judged it stale and removed or took it over),
    /// in which case the holder must stop before writing or deleting anything more.
    pub async fn refresh_lock<R: CryptoRng + ?Sized>(
        &self,
        held: &mut HeldLock,
        now: Timestamp,
        rng: &mut R,
    ) -> Result<(), Error> {
        self.verify_lock(held).await?;
        held.info.refreshed = now;
        self.write_lock(held.id, &held.info, WriteMode::Replace, rng).await
    }

    /// Checks that a held lock is still in the repository and still ours.
    pub async fn verify_lock(&self, held: &HeldLock) -> Result<(), Error> {
        verify_lock_object(self.storage(), self.keys(), held).await
    }
}
