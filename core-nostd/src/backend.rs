//! The storage trait: where a repository's objects live.
//!
//! A **backend** stores opaque objects keyed by a [`Handle`]: a [`FileKind`] and a 32-byte id.
//! The trait is deliberately narrow (list, read whole or a range, write, remove, and a
//! [`StorageProperties`] struct); retries, concurrency limits, caching, read-only enforcement and
//! dry runs are wrapping types, never extra methods.
//!
//! Layout on path-like stores (local disk, SFTP, S3 keys, the restic REST protocol):
//!
//! | kind | path |
//! |---|---|
//! | config | `config` |
//! | key | `keys/<id>` |
//! | snapshot | `snapshots/<id>` |
//! | index | `index/<id>` |
//! | pack | `data/<first two hex digits>/<id>` |
//! | lock | `locks/<id>` |
//!
//! Contract for implementers:
//! - `write` is atomic: a reader sees the whole object or nothing, never a prefix, even if the
//!   process dies mid-write. With [`WriteMode::CreateNew`] it fails with
//!   [`IoErrorKind::AlreadyExists`](crate::IoErrorKind::AlreadyExists) rather than replace.
//!   A backend may retry a create-only write whose answer was lost and report that it exists:
//!   the engine writes create-only objects through [`write_new`], which reads the object back
//!   and takes it as its own if it holds what was sent.
//! - `read_into` (optional) fills a buffer the caller hands over instead of allocating one.
//! - `list` returns only complete objects whose names are valid ids; anything else (temporary
//!   files, stray names) is skipped.
//! - `read` with a [`ReadRange::Span`] returns exactly the bytes asked for or an error.
//! - Futures need not be `Send`: the engine drives them from one task.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::fmt;

use bytes::Bytes;

use crate::error::{IoError, IoErrorKind};
use crate::id::Id;

/// The kinds of stored objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FileKind {
    /// The repository config (a single object, id [`Id::ZERO`]).
    Config,
    /// Key objects: the master key sealed by a password.
    Key,
    /// Snapshots.
    Snapshot,
    /// Index objects.
    Index,
    /// Pack files holding blobs.
    Pack,
    /// Lock objects.
    Lock,
}

impl FileKind {
    /// Every kind, in the order `init` creates their directories.
    pub const ALL: [Self; 6] = [Self::Config, Self::Key, Self::Snapshot, Self::Index, Self::Pack, Self::Lock];

    /// The directory (or key prefix) of this kind; `config` is a file at the top.
    pub fn dir(self) -> &'static str {
        match self {
            Self::Config => "",
            Self::Key => "keys",
            Self::Snapshot => "snapshots",
            Self::Index => "index",
            Self::Pack => "data",
            Self::Lock => "locks",
        }
    }

    /// The relative path of an object: see the table in the [module docs](self).
    pub fn path(self, id: &Id) -> String {
        let hex = id.to_hex();
        match self {
            Self::Config => String::from("config"),
            Self::Pack => {
                let mut p = String::with_capacity(5 + 3 + 64);
                p.push_str("data/");
                p.push_str(hex.get(..2).unwrap_or("00"));
                p.push('/');
                p.push_str(&hex);
                p
            }
            other => {
                let mut p = String::with_capacity(other.dir().len() + 1 + 64);
                p.push_str(other.dir());
                p.push('/');
                p.push_str(&hex);
                p
            }
        }
    }
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Config => "config",
            Self::Key => "key",
            Self::Snapshot => "snapshot",
            Self::Index => "index",
            Self::Pack => "pack",
            Self::Lock => "lock",
        })
    }
}

/// Names one stored object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Handle {
    /// Its kind.
    pub kind: FileKind,
    /// Its id ([`Id::ZERO`] for the config).
    pub id: Id,
}

impl Handle {
    /// The handle of the config object.
    pub const CONFIG: Self = Self { kind: FileKind::Config, id: Id::ZERO };

    /// A handle for `kind` and `id`.
    pub fn new(kind: FileKind, id: impl Into<Id>) -> Self {
        Self { kind, id: id.into() }
    }

    /// The relative path of this object (see [`FileKind::path`]).
    pub fn path(&self) -> String {
        self.kind.path(&self.id)
    }
}

/// One entry of a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectInfo {
    /// The object's id.
    pub id: Id,
    /// Its size in bytes.
    pub size: u64,
}

/// Which bytes of an object to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadRange {
    /// The whole object; the backend fails with [`IoErrorKind::InvalidData`] rather than return more
    /// than `max_len` bytes, so that a hostile store cannot make the reader allocate without bound.
    All {
        /// The largest object the caller accepts.
        max_len: u64,
    },
    /// `len` bytes starting at `offset`.
    Span {
        /// First byte.
        offset: u64,
        /// Number of bytes.
        len: u32,
    },
    /// The last `len` bytes (or the whole object if it is shorter).
    Tail {
        /// Number of bytes.
        len: u32,
    },
}

/// How a write treats an existing object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// Replace an existing object atomically. Content-addressed objects use this: the same name
    /// always means the same bytes, so replacing is harmless.
    Replace,
    /// Fail with [`IoErrorKind::AlreadyExists`] if the object exists (config, locks).
    CreateNew,
}

/// What a backend can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct StorageProperties {
    /// How many operations may usefully run at once.
    pub connections: usize,
    /// `CreateNew` is enforced atomically by the store (two writers can never both succeed).
    pub conditional_create: bool,
    /// Writes replace existing objects atomically.
    pub atomic_replace: bool,
}

impl StorageProperties {
    /// Properties with `connections` parallel operations and both atomic guarantees.
    pub fn new(connections: usize) -> Self {
        Self { connections: connections.max(1), conditional_create: true, atomic_replace: true }
    }
}

/// A place that stores a repository's objects. See the [module docs](self) for the contract.
#[allow(async_fn_in_trait)] // The engine drives storage from one task; futures need not be `Send`.
pub trait Storage {
    /// What this backend can do.
    fn properties(&self) -> StorageProperties;

    /// Lists the objects of one kind, with their sizes.
    async fn list(&self, kind: FileKind) -> Result<Vec<ObjectInfo>, IoError>;

    /// Reads an object or a part of one.
    async fn read(&self, handle: &Handle, range: ReadRange) -> Result<Bytes, IoError>;

    /// [`Storage::read`] into `buf`, a buffer the caller no longer needs (its bytes are
    /// overwritten). A backend that reads into memory it allocates itself can fill `buf`
    /// instead, which spares a reader of many spans (a restore) the page faults of fresh
    /// memory for each. The default reads with [`Storage::read`] and lets `buf` go.
    async fn read_into(&self, handle: &Handle, range: ReadRange, buf: Vec<u8>) -> Result<Vec<u8>, IoError> {
        drop(buf);
        self.read(handle, range).await.map(Vec::from)
    }

    /// Writes an object atomically.
    async fn write(&self, handle: &Handle, data: Bytes, mode: WriteMode) -> Result<(), IoError>;

    /// Removes an object. Removing an object that does not exist is not an error.
    async fn remove(&self, handle: &Handle) -> Result<(), IoError>;

    /// A point after which the engine relies on holding its lease: a wrapper that holds one
    /// ([`crate::Leased`]) reads it back here and fails if it was lost. Prune calls it between
    /// condemning packs and deleting them (FORMAT.md section 6.2). The default does nothing.
    async fn fence(&self) -> Result<(), IoError> {
        Ok(())
    }

    /// The token of the lease held through this store, if any: a backup records it in its
    /// snapshot (FORMAT.md section 6.1). The default is none.
    fn lease_token(&self) -> Option<[u8; 16]> {
        None
    }
}

/// A borrowed store, and a shared one (one wrapper held by an operation and by what keeps its
/// lease alive), are stores too.
macro_rules! forward_storage {
    ($($by:ty),*) => {$(
        impl<S: Storage + ?Sized> Storage for $by {
            fn properties(&self) -> StorageProperties {
                (**self).properties()
            }
            async fn list(&self, kind: FileKind) -> Result<Vec<ObjectInfo>, IoError> {
                (**self).list(kind).await
            }
            async fn read(&self, handle: &Handle, range: ReadRange) -> Result<Bytes, IoError> {
                (**self).read(handle, range).await
            }
            async fn read_into(&self, handle: &Handle, range: ReadRange, buf: Vec<u8>) -> Result<Vec<u8>, IoError> {
                (**self).read_into(handle, range, buf).await
            }
            async fn write(&self, handle: &Handle, data: Bytes, mode: WriteMode) -> Result<(), IoError> {
                (**self).write(handle, data, mode).await
            }
            async fn remove(&self, handle: &Handle) -> Result<(), IoError> {
                (**self).remove(handle).await
            }
            async fn fence(&self) -> Result<(), IoError> {
                (**self).fence().await
            }
            fn lease_token(&self) -> Option<[u8; 16]> {
                (**self).lease_token()
            }
        }
    )*};
}

forward_storage!(&S, alloc::rc::Rc<S>);

/// A store that can only be read: it wraps any [`Storage`] and has no write path. Writes and
/// removals fail with [`IoErrorKind::ReadOnly`] without reaching the wrapped store, so a
/// read-only destination is enforced in one place rather than by checks in every caller.
#[derive(Debug, Clone)]
pub struct ReadOnly<S>(S);

impl<S: Storage> ReadOnly<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        Self(inner)
    }

    /// The wrapped store, for reading only.
    pub fn inner(&self) -> &S {
        &self.0
    }
}

impl<S: Storage> Storage for ReadOnly<S> {
    fn properties(&self) -> StorageProperties {
        self.0.properties()
    }
    async fn list(&self, kind: FileKind) -> Result<Vec<ObjectInfo>, IoError> {
        self.0.list(kind).await
    }
    async fn read(&self, handle: &Handle, range: ReadRange) -> Result<Bytes, IoError> {
        self.0.read(handle, range).await
    }
    async fn read_into(&self, handle: &Handle, range: ReadRange, buf: Vec<u8>) -> Result<Vec<u8>, IoError> {
        self.0.read_into(handle, range, buf).await
    }
    async fn write(&self, _: &Handle, _: Bytes, _: WriteMode) -> Result<(), IoError> {
        Err(IoError::from_kind(IoErrorKind::ReadOnly))
    }
    async fn remove(&self, _: &Handle) -> Result<(), IoError> {
        Err(IoError::from_kind(IoErrorKind::ReadOnly))
    }
    async fn fence(&self) -> Result<(), IoError> {
        self.0.fence().await
    }
    fn lease_token(&self) -> Option<[u8; 16]> {
        self.0.lease_token()
    }
}

/// Writes a new object ([`WriteMode::CreateNew`]). A store can keep a write whose answer the
/// network lost; the backend then sends it again and is told the object exists. So an
/// [`IoErrorKind::AlreadyExists`] is checked: if the object holds exactly `data`, it is this
/// write's earlier try and the write succeeded. Every object written this way must be unique
/// (a random nonce, salt, token or name), so that equal bytes are never someone else's object.
pub async fn write_new<S: Storage + ?Sized>(storage: &S, handle: &Handle, data: Bytes) -> Result<(), IoError> {
    match storage.write(handle, data.clone(), WriteMode::CreateNew).await {
        Err(e) if e.kind() == IoErrorKind::AlreadyExists => {
            let stored = storage.read(handle, ReadRange::All { max_len: data.len() as u64 }).await;
            if stored.is_ok_and(|stored| stored == data) { Ok(()) } else { Err(e) }
        }
        written => written,
    }
}

/// Applies a [`ReadRange`] to a whole object held in memory.
pub fn slice_range(data: &Bytes, range: ReadRange) -> Result<Bytes, IoError> {
    let len = data.len() as u64;
    match range {
        ReadRange::All { max_len } => {
            if len > max_len {
                return Err(IoError::from_kind(IoErrorKind::InvalidData));
            }
            Ok(data.clone())
        }
        ReadRange::Span { offset, len: n } => {
            let end = offset.checked_add(u64::from(n)).filter(|&e| e <= len);
            match end {
                Some(end) => Ok(data.slice(offset as usize..end as usize)),
                None => Err(IoError::from_kind(IoErrorKind::InvalidData)),
            }
        }
        ReadRange::Tail { len: n } => {
            let start = len.saturating_sub(u64::from(n));
            Ok(data.slice(start as usize..))
        }
    }
}

/// An in-memory backend, for tests and for embedders that keep a repository in RAM.
#[derive(Debug, Default)]
pub struct MemoryBackend {
    objects: RefCell<BTreeMap<Handle, Bytes>>,
}

impl MemoryBackend {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of one object's bytes, if present.
    pub fn get(&self, handle: &Handle) -> Option<Bytes> {
        self.objects.borrow().get(handle).cloned()
    }

    /// Replaces one object's bytes, bypassing every check (to simulate damage in tests).
    pub fn put_raw(&self, handle: Handle, data: Bytes) {
        self.objects.borrow_mut().insert(handle, data);
    }

    /// All handles currently stored.
    pub fn handles(&self) -> Vec<Handle> {
        self.objects.borrow().keys().copied().collect()
    }
}

impl Storage for MemoryBackend {
    fn properties(&self) -> StorageProperties {
        StorageProperties::new(4)
    }

    async fn list(&self, kind: FileKind) -> Result<Vec<ObjectInfo>, IoError> {
        Ok(self
            .objects
            .borrow()
            .iter()
            .filter(|(h, _)| h.kind == kind)
            .map(|(h, d)| ObjectInfo { id: h.id, size: d.len() as u64 })
            .collect())
    }

    async fn read(&self, handle: &Handle, range: ReadRange) -> Result<Bytes, IoError> {
        let data = self.get(handle).ok_or_else(|| IoError::from_kind(IoErrorKind::NotFound))?;
        slice_range(&data, range)
    }

    async fn write(&self, handle: &Handle, data: Bytes, mode: WriteMode) -> Result<(), IoError> {
        let mut objects = self.objects.borrow_mut();
        if mode == WriteMode::CreateNew && objects.contains_key(handle) {
            return Err(IoError::from_kind(IoErrorKind::AlreadyExists));
        }
        objects.insert(*handle, data);
        Ok(())
    }

    async fn remove(&self, handle: &Handle) -> Result<(), IoError> {
        self.objects.borrow_mut().remove(handle);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let id = Id([0xab; 32]);
        assert_eq!(FileKind::Pack.path(&id), alloc::format!("data/ab/{}", id.to_hex()));
        assert_eq!(FileKind::Snapshot.path(&id), alloc::format!("snapshots/{}", id.to_hex()));
        assert_eq!(Handle::CONFIG.path(), "config");
    }

    #[test]
    fn ranges() {
        let d = Bytes::from_static(b"0123456789");
        assert_eq!(slice_range(&d, ReadRange::Span { offset: 2, len: 3 }).unwrap(), &b"234"[..]);
        assert!(slice_range(&d, ReadRange::Span { offset: 8, len: 3 }).is_err());
        assert!(slice_range(&d, ReadRange::Span { offset: u64::MAX, len: 3 }).is_err());
        assert_eq!(slice_range(&d, ReadRange::Tail { len: 4 }).unwrap(), &b"6789"[..]);
        assert_eq!(slice_range(&d, ReadRange::Tail { len: 40 }).unwrap(), &b"0123456789"[..]);
        assert!(slice_range(&d, ReadRange::All { max_len: 9 }).is_err());
    }

    #[test]
    fn read_only_never_writes() {
        let mem = MemoryBackend::new();
        mem.put_raw(Handle::CONFIG, Bytes::from_static(b"c"));
        let ro = ReadOnly::new(&mem);
        let h = Handle::new(FileKind::Lock, Id([1; 32]));
        let write = ro.write(&h, Bytes::from_static(b"x"), WriteMode::CreateNew);
        let err = futures_executor::block_on(write).unwrap_err();
        assert_eq!(err.kind(), IoErrorKind::ReadOnly);
        let remove = ro.remove(&Handle::CONFIG);
        assert_eq!(futures_executor::block_on(remove).unwrap_err().kind(), IoErrorKind::ReadOnly);
        assert_eq!(mem.handles(), [Handle::CONFIG]);
        let read = ro.read(&Handle::CONFIG, ReadRange::All { max_len: 10 });
        assert_eq!(futures_executor::block_on(read).unwrap(), &b"c"[..]);
    }
}
