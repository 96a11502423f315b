//! Errors of the core.
//!
//! Policy: every fallible function returns a small, `#[non_exhaustive]` enum; numbers and names go
//! in fields, never only in text. Untrusted input (anything read from storage) produces
//! [`DecodeError`] or [`Error::Corrupt`], never a panic. Errors that come from the outside world
//! (storage, the backup source, the restore target) arrive as [`IoError`], which keeps the
//! adapter's own error as its `source()`. Messages name what is wrong; the std side adds what to
//! do about it. Secrets never appear in any error.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::backend::FileKind;
use crate::blob::BlobType;
use crate::id::{BlobId, Id};

/// What went wrong in an [`IoError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IoErrorKind {
    /// The object, file or directory does not exist.
    NotFound,
    /// A create-new write found the object already there.
    AlreadyExists,
    /// Access was refused.
    PermissionDenied,
    /// No space left on the destination or target.
    StorageFull,
    /// The destination refuses writes (read-only or append-only).
    ReadOnly,
    /// The bytes read were not what was asked for (short read, bad size).
    InvalidData,
    /// A transient failure: connection lost, timeout, server busy. Retrying may help.
    Unavailable,
    /// The operation is not supported by this adapter.
    Unsupported,
    /// Anything else.
    Other,
}

impl fmt::Display for IoErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotFound => "not found",
            Self::AlreadyExists => "already exists",
            Self::PermissionDenied => "permission denied",
            Self::StorageFull => "no space left",
            Self::ReadOnly => "destination is read-only",
            Self::InvalidData => "invalid data",
            Self::Unavailable => "temporarily unavailable",
            Self::Unsupported => "not supported",
            Self::Other => "failed",
        })
    }
}

/// An error from outside the core: a storage backend, a backup source or a restore target.
#[derive(Debug)]
pub struct IoError {
    kind: IoErrorKind,
    source: Option<Box<dyn core::error::Error + Send + Sync + 'static>>,
}

impl IoError {
    /// An error of `kind` caused by `source`.
    pub fn new(kind: IoErrorKind, source: impl Into<Box<dyn core::error::Error + Send + Sync>>) -> Self {
        Self { kind, source: Some(source.into()) }
    }

    /// An error of `kind` with no further detail.
    pub fn from_kind(kind: IoErrorKind) -> Self {
        Self { kind, source: None }
    }

    /// What went wrong.
    pub fn kind(&self) -> IoErrorKind {
        self.kind
    }

    /// The adapter's own error, if any.
    pub fn inner(&self) -> Option<&(dyn core::error::Error + Send + Sync + 'static)> {
        self.source.as_deref()
    }
}

impl fmt::Display for IoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Some(s) => write!(f, "{s}"),
            None => write!(f, "{}", self.kind),
        }
    }
}

impl core::error::Error for IoError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match &self.source {
            Some(s) => Some(&**s),
            None => None,
        }
    }
}

/// Bytes that could not be decoded into the expected structure.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ended before the structure did.
    UnexpectedEnd,
    /// A length or count is larger than this object may hold.
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// The length found.
        len: u64,
        /// The largest length allowed.
        max: u64,
    },
    /// The structure is not well formed.
    Malformed(&'static str),
    /// A version this implementation does not know.
    UnknownVersion(u32),
    /// A compression codec this implementation does not know.
    UnknownCodec(u8),
    /// A known compression codec this build was compiled without (the `zstd` feature).
    CodecNotBuilt(&'static str),
    /// The serialized form (postcard) is invalid.
    Serialization(postcard::Error),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnexpectedEnd => f.write_str("unexpected end of data"),
            Self::TooLarge { what, len, max } => write!(f, "{what} is {len} bytes, more than the {max} allowed"),
            Self::Malformed(what) => write!(f, "malformed: {what}"),
            Self::UnknownVersion(v) => write!(f, "unknown version {v}"),
            Self::UnknownCodec(c) => write!(f, "unknown compression codec {c}"),
            Self::CodecNotBuilt(name) => {
                write!(f, "compressed with {name}, which this build lacks (build cairn-core with the `{name}` feature)")
            }
            Self::Serialization(e) => write!(f, "invalid encoding: {e}"),
        }
    }
}

impl core::error::Error for DecodeError {}

impl From<postcard::Error> for DecodeError {
    fn from(e: postcard::Error) -> Self {
        match e {
            postcard::Error::DeserializeUnexpectedEnd => Self::UnexpectedEnd,
            e => Self::Serialization(e),
        }
    }
}

/// The kind of a stored object or blob, for error messages and check reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ObjectKind {
    /// The repository config.
    Config,
    /// A key object.
    Key,
    /// A snapshot object.
    Snapshot,
    /// An index object.
    Index,
    /// A pack file as a whole.
    Pack,
    /// The encrypted header at the end of a pack.
    PackHeader,
    /// A data blob (file contents).
    DataBlob,
    /// A tree blob (a directory listing).
    TreeBlob,
    /// A lock object.
    Lock,
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Config => "config",
            Self::Key => "key",
            Self::Snapshot => "snapshot",
            Self::Index => "index",
            Self::Pack => "pack",
            Self::PackHeader => "pack header",
            Self::DataBlob => "data blob",
            Self::TreeBlob => "tree blob",
            Self::Lock => "lock",
        })
    }
}

impl From<BlobType> for ObjectKind {
    fn from(t: BlobType) -> Self {
        match t {
            BlobType::Data => Self::DataBlob,
            BlobType::Tree => Self::TreeBlob,
        }
    }
}

/// Which object an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ObjectRef {
    /// Its kind.
    pub kind: ObjectKind,
    /// Its id ([`Id::ZERO`] for the config).
    pub id: Id,
}

impl ObjectRef {
    /// A reference to `kind` named `id`.
    pub fn new(kind: ObjectKind, id: impl Into<Id>) -> Self {
        Self { kind, id: id.into() }
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.kind == ObjectKind::Config { f.write_str("config") } else { write!(f, "{} {}", self.kind, self.id) }
    }
}

/// A storage operation, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StorageOp {
    /// Listing objects.
    List,
    /// Reading an object.
    Read,
    /// Writing an object.
    Write,
    /// Removing an object.
    Remove,
}

impl fmt::Display for StorageOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::List => "listing",
            Self::Read => "reading",
            Self::Write => "writing",
            Self::Remove => "removing",
        })
    }
}

/// A path shown to people: raw bytes, printed as UTF-8 with invalid sequences replaced.
#[derive(Clone, Copy)]
pub struct DisplayPath<'a>(pub &'a [u8]);

impl fmt::Display for DisplayPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.0.utf8_chunks() {
            f.write_str(chunk.valid())?;
            if !chunk.invalid().is_empty() {
                f.write_str("\u{FFFD}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for DisplayPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

/// Errors of the engine.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The storage backend failed.
    Storage {
        /// What was being done.
        op: StorageOp,
        /// Which kind of object.
        kind: FileKind,
        /// Which object ([`Id::ZERO`] for the config and for listings).
        id: Id,
        /// The backend's error.
        source: IoError,
    },
    /// The backup source failed at `path`.
    Source {
        /// The path being read.
        path: Vec<u8>,
        /// The source's error.
        source: IoError,
    },
    /// The restore target failed at `path`.
    Target {
        /// The path being written, relative to the target.
        path: Vec<u8>,
        /// The target's error.
        source: IoError,
    },
    /// An object or blob could not be decoded.
    Decode {
        /// The object.
        object: ObjectRef,
        /// What was wrong.
        source: DecodeError,
    },
    /// An object or blob failed authentication or verification: it was damaged or tampered with.
    Corrupt {
        /// The object.
        object: ObjectRef,
        /// What did not match.
        reason: &'static str,
    },
    /// No key object opened with the password given.
    WrongPassword,
    /// No readable key object opened with the password given, and this one is damaged: it may
    /// be the one the password belongs to.
    WrongPasswordOrDamagedKey {
        /// The damaged key.
        damaged: crate::id::KeyId,
    },
    /// The repository has a config but no key objects.
    NoKeys,
    /// There is no repository here (no config object).
    NotInitialized,
    /// `init` found an existing repository.
    AlreadyInitialized,
    /// The repository or an object uses a format version this build does not support.
    UnsupportedVersion {
        /// Which object.
        object: ObjectKind,
        /// The version found.
        found: u32,
        /// The newest version this build supports.
        supported: u32,
    },
    /// The repository requires a feature this build does not know.
    UnknownMandatoryFeature {
        /// The feature's name.
        name: String,
    },
    /// A parameter is out of range.
    InvalidParameter {
        /// Which parameter.
        name: &'static str,
        /// Why it is refused.
        reason: &'static str,
    },
    /// No snapshot matches the given id, prefix or name.
    SnapshotNotFound {
        /// What was asked for.
        spec: String,
    },
    /// Several snapshots match an id prefix.
    AmbiguousSnapshot {
        /// What was asked for.
        spec: String,
        /// How many snapshots match.
        matches: usize,
    },
    /// A blob that should exist is not in the index.
    BlobNotInIndex {
        /// Its type.
        kind: BlobType,
        /// Its id.
        id: BlobId,
    },
    /// A path does not exist in the snapshot.
    PathNotFound {
        /// The path asked for.
        path: Vec<u8>,
    },
    /// A path in a snapshot is not of the kind needed (for example a file where a directory is needed).
    NotADirectory {
        /// The path.
        path: Vec<u8>,
    },
    /// Removing this key would leave the repository with no way to open it.
    LastKey,
    /// Another process holds a lease that conflicts with the one asked for.
    Locked {
        /// One of its lock objects ([`Id::ZERO`] if it kept coming back while being revoked).
        id: Id,
        /// What it says, if it can be read.
        holder: Option<Box<crate::lock::LockInfo>>,
    },
    /// The lease this process held was revoked or removed (another process judged it stale):
    /// the operation stopped before it wrote or deleted anything more.
    LockLost,
    /// Snapshots the caller remembers are missing, and nothing records them as forgotten: the
    /// store withholds them (FORMAT.md section 6.3). Deleting data now could make them
    /// unrecoverable.
    SnapshotsWithheld {
        /// Their ids.
        ids: Vec<crate::id::SnapshotId>,
    },
    /// The caller asked the operation to stop (see [`Progress::cancelled`](crate::Progress::cancelled)).
    Cancelled,
}

impl Error {
    /// Shorthand for a decode error.
    pub fn decode(kind: ObjectKind, id: impl Into<Id>, source: DecodeError) -> Self {
        Self::Decode { object: ObjectRef::new(kind, id), source }
    }

    /// Shorthand for a corruption error.
    pub fn corrupt(kind: ObjectKind, id: impl Into<Id>, reason: &'static str) -> Self {
        Self::Corrupt { object: ObjectRef::new(kind, id), reason }
    }

    /// True if this error means an object or blob is missing, damaged or undecodable (as opposed
    /// to the storage failing to answer): what repair works around.
    pub fn is_damage(&self) -> bool {
        match self {
            Self::Decode { .. } | Self::Corrupt { .. } | Self::BlobNotInIndex { .. } => true,
            Self::Storage { source, .. } => matches!(source.kind(), IoErrorKind::NotFound | IoErrorKind::InvalidData),
            _ => false,
        }
    }

    /// True if this error, or the storage error it wraps, is [`Error::LockLost`] (the leased
    /// store reports a lost lease through the storage call that found it).
    pub fn is_lock_lost(&self) -> bool {
        match self {
            Self::LockLost => true,
            Self::Storage { source, .. } => {
                source.inner().and_then(|e| e.downcast_ref::<Self>()).is_some_and(|e| matches!(e, Self::LockLost))
            }
            _ => false,
        }
    }

    /// The kind of the underlying [`IoError`], if this error came from outside.
    pub fn io_kind(&self) -> Option<IoErrorKind> {
        match self {
            Self::Storage { source, .. } | Self::Source { source, .. } | Self::Target { source, .. } => {
                Some(source.kind())
            }
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Storage { op, kind, id, source } => {
                if *op == StorageOp::List {
                    write!(f, "{op} {kind} objects failed: {source}")
                } else if *kind == FileKind::Config {
                    write!(f, "{op} the config failed: {source}")
                } else {
                    write!(f, "{op} {kind} {id} failed: {source}")
                }
            }
            Self::Source { path, source } => write!(f, "cannot read {}: {source}", DisplayPath(path)),
            Self::Target { path, source } => write!(f, "cannot write {}: {source}", DisplayPath(path)),
            Self::Decode { object, source } => write!(f, "{object} cannot be decoded: {source}"),
            Self::Corrupt { object, reason } => write!(f, "{object} is damaged: {reason}"),
            Self::WrongPassword => f.write_str("wrong password: no key of this repository opens with it"),
            Self::WrongPasswordOrDamagedKey { damaged } => write!(
                f,
                "no readable key opens with this password, and key {damaged} is damaged: it may be the one this password opens"
            ),
            Self::NoKeys => f.write_str("the repository has no keys"),
            Self::NotInitialized => f.write_str("there is no repository here"),
            Self::AlreadyInitialized => f.write_str("a repository already exists here"),
            Self::UnsupportedVersion { object, found, supported } => {
                write!(f, "{object} has format version {found}; this build supports up to {supported}")
            }
            Self::UnknownMandatoryFeature { name } => {
                write!(f, "the repository requires feature \"{name}\", which this build does not support")
            }
            Self::InvalidParameter { name, reason } => write!(f, "invalid {name}: {reason}"),
            Self::SnapshotNotFound { spec } => write!(f, "no snapshot matches \"{spec}\""),
            Self::AmbiguousSnapshot { spec, matches } => {
                write!(f, "\"{spec}\" matches {matches} snapshots; give more digits of the id")
            }
            Self::BlobNotInIndex { kind, id } => write!(f, "{kind} blob {id} is not in the index"),
            Self::PathNotFound { path } => write!(f, "{} is not in the snapshot", DisplayPath(path)),
            Self::NotADirectory { path } => write!(f, "{} is not a directory in the snapshot", DisplayPath(path)),
            Self::LastKey => f.write_str("refusing to remove the last key: the repository could never be opened again"),
            Self::Locked { id, holder: Some(h) } => write!(
                f,
                "the repository is locked{} by {} (user {}, process {} on {}), lock {}",
                if h.exclusive { " exclusively" } else { "" },
                h.operation,
                h.username,
                h.pid,
                h.hostname,
                id.to_hex().get(..8).unwrap_or_default()
            ),
            Self::Locked { id, holder: None } if *id == Id::ZERO => {
                f.write_str("the repository is locked by a process that keeps refreshing its lock after it was revoked")
            }
            Self::Locked { id, holder: None } => {
                write!(
                    f,
                    "the repository is locked by lock {}, which cannot be read",
                    id.to_hex().get(..8).unwrap_or_default()
                )
            }
            Self::LockLost => f.write_str(
                "this process's repository lock was revoked by another process, which judged it stale (not \
                 refreshed for the repository's stale age, as when the machine sleeps or the process is stopped); \
                 it stopped before writing or deleting anything more",
            ),
            Self::SnapshotsWithheld { ids } => {
                write!(
                    f,
                    "{} snapshot(s) this machine saw in the repository are missing, and nothing records them as forgotten:",
                    ids.len()
                )?;
                for id in ids.iter().take(5) {
                    write!(f, " {}", id.short())?;
                }
                if ids.len() > 5 {
                    write!(f, " and {} more", ids.len() - 5)?;
                }
                Ok(())
            }
            Self::Cancelled => f.write_str("cancelled"),
        }
    }
}

impl core::error::Error for Error {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::Storage { source, .. } | Self::Source { source, .. } | Self::Target { source, .. } => Some(source),
            Self::Decode { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Result with the core's [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;

impl embedded_io::Error for IoError {
    fn kind(&self) -> embedded_io::ErrorKind {
        match self.kind {
            IoErrorKind::NotFound => embedded_io::ErrorKind::NotFound,
            IoErrorKind::AlreadyExists => embedded_io::ErrorKind::AlreadyExists,
            IoErrorKind::PermissionDenied | IoErrorKind::ReadOnly => embedded_io::ErrorKind::PermissionDenied,
            IoErrorKind::StorageFull => embedded_io::ErrorKind::OutOfMemory,
            IoErrorKind::InvalidData => embedded_io::ErrorKind::InvalidData,
            IoErrorKind::Unavailable => embedded_io::ErrorKind::TimedOut,
            IoErrorKind::Unsupported => embedded_io::ErrorKind::Unsupported,
            IoErrorKind::Other => embedded_io::ErrorKind::Other,
        }
    }
}
