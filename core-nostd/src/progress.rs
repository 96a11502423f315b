//! Progress reports and warnings, pushed by the engine to the caller.
//!
//! Every method has an empty default, so a caller implements only what it shows. Warnings are
//! problems the operation survived (an unreadable file left out of a backup, a damaged blob
//! zero-filled in a restore); they are counted in the results too.

use alloc::vec::Vec;
use core::fmt;

use crate::error::{DisplayPath, Error, IoError};

/// How a file was handled by a backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileStatus {
    /// Not in the parent snapshot: read.
    New,
    /// In the parent snapshot but changed: read again.
    Changed,
    /// Unchanged since the parent snapshot: not read (a restore: the target held it already).
    Unmodified,
}

/// What a warning is about.
#[derive(Debug)]
#[non_exhaustive]
pub enum WarningKind {
    /// The entry could not be read and was left out.
    Unreadable(IoError),
    /// The entry is a socket, FIFO or device and was skipped.
    Special(&'static str),
    /// The entry's name cannot be stored or restored (empty, `.`/`..`, contains `/` or NUL).
    BadName,
    /// The entry could not be written to the restore target.
    Unwritable(IoError),
    /// The entry could not be restored from the repository (its data is damaged or missing).
    Damaged(Error),
    /// A file whose snapshot version has damaged parts was not restored: what was at its path
    /// was left as it was.
    KeptExisting,
}

/// A problem an operation survived.
#[derive(Debug)]
pub struct Warning {
    /// The path concerned (absolute for backups, relative to the target for restores).
    pub path: Vec<u8>,
    /// What happened.
    pub kind: WarningKind,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The restored directory itself has the empty relative path: shown as ".".
        let p = DisplayPath(if self.path.is_empty() { b"." } else { &self.path });
        match &self.kind {
            WarningKind::Unreadable(e) => write!(f, "{p}: cannot read, left out: {e}"),
            WarningKind::Special(what) => write!(f, "{p}: {what} skipped"),
            WarningKind::BadName => write!(f, "{p}: invalid name, skipped"),
            WarningKind::Unwritable(e) => write!(f, "{p}: cannot write: {e}"),
            WarningKind::Damaged(e) => write!(f, "{p}: {e}"),
            WarningKind::KeptExisting => {
                write!(f, "{p}: left as it was (the snapshot's version has damaged parts, see above)")
            }
        }
    }
}

/// Receives progress from backup, restore and check.
pub trait Progress {
    /// A file was handled by a backup, or finished by a restore.
    fn file(&mut self, _path: &[u8], _size: u64, _status: FileStatus) {}
    /// `n` more bytes of file contents were read (backup) or written (restore).
    fn bytes(&mut self, _n: u64) {}
    /// A problem the operation survived.
    fn warning(&mut self, _warning: &Warning) {}
    /// Check: one more pack or snapshot done, of `total`.
    fn step(&mut self, _done: u64, _total: u64) {}
    /// Asked between files and between reads: `true` stops a backup or restore with
    /// [`Error::Cancelled`](crate::Error::Cancelled). A cancelled backup writes no snapshot; what
    /// it uploaded is reused by the next backup once indexed, or removed by prune.
    fn cancelled(&mut self) -> bool {
        false
    }
}

/// A borrowed progress receiver, `dyn Progress` included, is one too.
impl<P: Progress + ?Sized> Progress for &mut P {
    fn file(&mut self, path: &[u8], size: u64, status: FileStatus) {
        (**self).file(path, size, status);
    }
    fn bytes(&mut self, n: u64) {
        (**self).bytes(n);
    }
    fn warning(&mut self, warning: &Warning) {
        (**self).warning(warning);
    }
    fn step(&mut self, done: u64, total: u64) {
        (**self).step(done, total);
    }
    fn cancelled(&mut self) -> bool {
        (**self).cancelled()
    }
}

/// Ignores all progress.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {}
