//! Lock objects: what a lease looks like in storage.
//!
//! Terms:
//! - **lock object**: a sealed object under `locks/<random id>` (label `cairn.lock`, at most
//!   [`MAX_LOCK_LEN`]) saying who holds a lease, for what, and since when ([`LockInfo`]).
//! - **token**: 16 random bytes naming one lease. A holder writes a new lock object under a new
//!   random name at every refresh, with the same token and the next **sequence** number, and
//!   removes the previous one only after reading it back as its own: the objects of one token
//!   form a chain, and a lease is never brought back once someone removed or revoked it.
//! - **holder** ([`Holder`]): the live lock objects of one token as a listing shows them, or
//!   one object that cannot be read.
//! - **tombstone**: a lock object overwritten by whoever judged its lease stale, marked
//!   [`LockInfo::revoked`]. Its holder finds it at its next check and stops; a snapshot carrying
//!   the token that was not there when the revocation completed is *withdrawn*.
//!
//! The protocol that uses them is in [`crate::lease`]; FORMAT.md section 6.1 gives the safety
//! argument.

use alloc::string::String;
use alloc::vec::Vec;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::backend::{FileKind, Handle, ReadRange, Storage, WriteMode};
use crate::compress::Compression;
use crate::crypto::{Keys, NONCE_LEN, label};
use crate::error::{Error, IoErrorKind, ObjectKind, StorageOp};
use crate::id::{Id, SnapshotId};
use crate::repository::{open_object, seal_object, storage_error};
use crate::time::Timestamp;

/// The name under which builds before lock format 2 wrote their exclusive lock. Such an object
/// is read as any other lock object (its `exclusive` flag is set).
pub const EXCLUSIVE_LOCK_ID: Id = Id([0xff; 32]);
/// The largest lock object accepted.
pub const MAX_LOCK_LEN: u64 = 64 * 1024;
/// The first bytes of a *claim*: an unsealed object in `locks/` by which a writer on a store
/// without create-only writes announces that it is about to create an object (see FORMAT.md
/// section 6.4). Readers of locks pass claims over.
pub const CLAIM_MAGIC: &[u8; 12] = b"cairn-claim\0";
/// Listings of the locks taken in a row while objects keep vanishing before they are read.
const MAX_LISTINGS: u32 = 16;

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
    /// When the lease was taken (the holder's clock; shown to people, never compared).
    pub created: Timestamp,
    /// When this object was written (the holder's clock; shown to people, never compared).
    pub refreshed: Timestamp,
    /// The lease's token (see the [module docs](self)).
    pub token: [u8; 16],
    /// Lock format 2 (appended group; absent in objects written by older builds).
    #[serde(skip)]
    pub lease: LeaseFields,
}

/// The appended group of a lock object (lock format 2).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseFields {
    /// 0 for the first object of a lease, one more for each refresh.
    pub sequence: u64,
    /// Where the holder runs, precisely enough to tell on the same machine whether it is gone.
    pub host: HostTag,
    /// Set on a tombstone.
    pub revoked: Option<Revocation>,
}

/// Identifies the holder's process on its machine. Zeros mean unknown: a holder is judged dead
/// from its process only when the observer runs under the same boot and the same process-id
/// namespace, where the process id means the same process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostTag {
    /// The kernel's random boot id (`/proc/sys/kernel/random/boot_id`).
    pub boot_id: [u8; 16],
    /// The process-id namespace (the inode of `/proc/self/ns/pid`).
    pub pid_namespace: u64,
    /// The process's start time in clock ticks since boot (`/proc/self/stat`, field 22), which
    /// tells the holder from a later process that got the same id.
    pub process_start: u64,
}

/// Why a lock object is a tombstone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    /// Who revoked the lease, for people ("prune on host (process 42)").
    pub by: String,
    /// When, by the revoker's clock (shown to people; old tombstones are dropped by it).
    pub at: Timestamp,
    /// The snapshots carrying the token once no live object of the lease was left (they may
    /// have been reported saved); `None` until then. Any other snapshot with the token is
    /// withdrawn.
    pub seen: Option<Vec<SnapshotId>>,
}

impl LockInfo {
    /// A lock for `operation`, taken at `now`; [`crate::lease::acquire`] fills in the token.
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
            lease: LeaseFields::default(),
        }
    }

    /// True for a tombstone.
    pub fn is_revoked(&self) -> bool {
        self.lease.revoked.is_some()
    }

    /// The plaintext form.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = postcard::to_allocvec(self).unwrap_or_default();
        if self.lease != LeaseFields::default() {
            out.extend_from_slice(&postcard::to_allocvec(&self.lease).unwrap_or_default());
        }
        out
    }

    /// Decodes a plaintext lock.
    pub fn decode(id: Id, bytes: &[u8]) -> Result<Self, Error> {
        let err = |e| Error::decode(ObjectKind::Lock, id, e);
        let (mut info, rest) = postcard::take_from_bytes::<Self>(bytes).map_err(|e: postcard::Error| err(e.into()))?;
        if let Some((lease, _)) = crate::appended::field(rest).map_err(err)? {
            info.lease = lease;
        }
        Ok(info)
    }
}

/// A lock object found in the repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockEntry {
    /// Its name.
    pub id: Id,
    /// What it says, or `None` if it cannot be read (damaged, foreign, or gone while listing).
    pub info: Option<LockInfo>,
}

/// The live lock objects of one lease, or one lock object that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// The lease's token; `None` for an unreadable object.
    pub token: Option<[u8; 16]>,
    /// Its live objects (never tombstones), at least one.
    pub objects: Vec<LockEntry>,
}

impl Holder {
    /// The newest object's description (the highest sequence), if readable.
    pub fn newest(&self) -> Option<&LockInfo> {
        self.objects.iter().filter_map(|e| e.info.as_ref()).max_by_key(|i| i.lease.sequence)
    }

    /// True if the lease is exclusive. An unreadable object counts as exclusive: it may be one.
    pub fn is_exclusive(&self) -> bool {
        self.newest().is_none_or(|i| i.exclusive)
    }

    /// The id of one of its objects, to name it in messages.
    pub fn id(&self) -> Id {
        self.objects.first().map_or(Id::ZERO, |e| e.id)
    }
}

/// The lock objects of a repository, sorted into leases.
#[derive(Debug, Clone, Default)]
pub struct LockListing {
    /// Every lease with at least one live object, and every unreadable object.
    pub holders: Vec<Holder>,
    /// Every tombstone.
    pub tombstones: Vec<(Id, LockInfo)>,
}

impl LockListing {
    /// Sorts `entries` into holders and tombstones.
    pub fn new(entries: Vec<LockEntry>) -> Self {
        let mut out = Self::default();
        for entry in entries {
            match &entry.info {
                None => out.holders.push(Holder { token: None, objects: alloc::vec![entry] }),
                Some(info) if info.is_revoked() => out.tombstones.push((entry.id, info.clone())),
                Some(info) => {
                    let token = info.token;
                    match out.holders.iter_mut().find(|h| h.token == Some(token)) {
                        Some(h) => h.objects.push(entry),
                        None => out.holders.push(Holder { token: Some(token), objects: alloc::vec![entry] }),
                    }
                }
            }
        }
        out
    }

    /// The live objects of `token`.
    pub fn holder(&self, token: &[u8; 16]) -> Option<&Holder> {
        self.holders.iter().find(|h| h.token.as_ref() == Some(token))
    }

    /// True if a tombstone of `token` whose revocation is complete does not list `snapshot`:
    /// a snapshot written under a lease after it was revoked.
    pub fn withdraws(&self, token: &[u8; 16], snapshot: &SnapshotId) -> bool {
        self.tombstones.iter().any(|(_, t)| {
            t.token == *token
                && t.lease.revoked.as_ref().and_then(|r| r.seen.as_ref()).is_some_and(|seen| !seen.contains(snapshot))
        })
    }
}

fn lock_handle(id: Id) -> Handle {
    Handle::new(FileKind::Lock, id)
}

/// Lock objects of one repository, read and written with its keys.
#[derive(Debug)]
pub struct LockStore<'a, S> {
    /// Where they are.
    pub storage: &'a S,
    /// The repository's keys.
    pub keys: &'a Keys,
    /// The repository's compression.
    pub compression: Compression,
}

impl<S> Clone for LockStore<'_, S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S> Copy for LockStore<'_, S> {}

impl<S: Storage> LockStore<'_, S> {
    /// Seals and writes a lock object (replacing one of that name).
    pub async fn write(&self, id: Id, info: &LockInfo, nonce: &[u8; NONCE_LEN]) -> Result<(), Error> {
        let sealed = seal_object(self.keys, label::LOCK, &info.encode(), self.compression, nonce);
        let handle = lock_handle(id);
        self.storage
            .write(&handle, Bytes::from(sealed), WriteMode::Replace)
            .await
            .map_err(|e| storage_error(StorageOp::Write, &handle, e))
    }

    /// Reads and opens one lock object.
    pub async fn read(&self, id: Id) -> Result<LockInfo, Error> {
        self.read_any(id).await?.ok_or(Error::corrupt(ObjectKind::Lock, id, "it is a claim, not a lock"))
    }

    /// Reads one object of `locks/`: a lock, or `None` for a claim.
    async fn read_any(&self, id: Id) -> Result<Option<LockInfo>, Error> {
        let handle = lock_handle(id);
        let sealed = self
            .storage
            .read(&handle, ReadRange::All { max_len: MAX_LOCK_LEN })
            .await
            .map_err(|e| storage_error(StorageOp::Read, &handle, e))?;
        if sealed.starts_with(CLAIM_MAGIC) {
            return Ok(None);
        }
        let plain = open_object(self.keys, ObjectKind::Lock, id, label::LOCK, &sealed, MAX_LOCK_LEN)?;
        LockInfo::decode(id, &plain).map(Some)
    }

    /// Removes one lock object (a missing one is not an error).
    pub async fn remove(&self, id: Id) -> Result<(), Error> {
        let handle = lock_handle(id);
        self.storage.remove(&handle).await.map_err(|e| storage_error(StorageOp::Remove, &handle, e))
    }

    /// Every lock object, read. One that cannot be read is listed without its contents. If one
    /// vanished between the listing and its reading, the listing is taken again: its holder may
    /// have refreshed it, writing the next object after this listing was made, and a listing
    /// that missed both would miss a live lease (the holder writes the next object before it
    /// removes the last, so a new listing shows it).
    pub async fn entries(&self) -> Result<Vec<LockEntry>, Error> {
        for _ in 0..MAX_LISTINGS {
            let listed = self
                .storage
                .list(FileKind::Lock)
                .await
                .map_err(|e| storage_error(StorageOp::List, &lock_handle(Id::ZERO), e))?;
            let mut out = Vec::with_capacity(listed.len());
            let mut vanished = false;
            for o in listed {
                match self.read_any(o.id).await {
                    Ok(Some(info)) => out.push(LockEntry { id: o.id, info: Some(info) }),
                    Ok(None) => {}
                    Err(e) if e.io_kind() == Some(IoErrorKind::NotFound) => vanished = true,
                    // Larger than a lock may be: unreadable, like a damaged one.
                    Err(e) if e.io_kind() == Some(IoErrorKind::InvalidData) => {
                        out.push(LockEntry { id: o.id, info: None })
                    }
                    Err(e @ Error::Storage { .. }) => return Err(e),
                    Err(_) => out.push(LockEntry { id: o.id, info: None }),
                }
            }
            if !vanished {
                return Ok(out);
            }
        }
        Err(storage_error(
            StorageOp::List,
            &lock_handle(Id::ZERO),
            crate::error::IoError::from_kind(IoErrorKind::Unavailable),
        ))
    }

    /// Every lock object, sorted into leases.
    pub async fn listing(&self) -> Result<LockListing, Error> {
        Ok(LockListing::new(self.entries().await?))
    }
}
