//! The two ends of a backup: the **source** it reads and the **restore target** it writes.
//!
//! Both speak in raw byte paths with `/` separators. Source paths are absolute (`/home/me`);
//! target paths are relative to the target directory (`home/me/notes.txt`, and `""` for the
//! target itself), and every component of a target path has passed
//! [`validate_name`](crate::tree::validate_name), so a target never sees `..`, `/` inside a name
//! or an absolute path. File contents flow through [`embedded_io_async`] `Read` and `Write`.
//!
//! Policy such as exclude patterns or staying on one filesystem belongs to the source: the
//! archiver stores whatever [`Source::read_dir`] returns.

use alloc::vec::Vec;

use crate::error::IoError;
use crate::tree::{Metadata, Node};

/// What a directory entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
    /// Something the archiver skips with a warning; the string names it ("socket", "FIFO", ...).
    Special(&'static str),
}

/// One entry of a source directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceEntry {
    /// The entry's name (one path component).
    pub name: Vec<u8>,
    /// What it is (not following symbolic links).
    pub kind: EntryKind,
    /// Its metadata (not following symbolic links).
    pub meta: Metadata,
}

/// Where a backup reads from.
#[allow(async_fn_in_trait)] // Driven from one task; futures need not be `Send`.
pub trait Source {
    /// An open file.
    type File: embedded_io_async::Read<Error = IoError>;

    /// Describes one absolute path, without following a final symbolic link.
    async fn stat(&mut self, path: &[u8]) -> Result<SourceEntry, IoError>;

    /// Lists a directory (in any order: the archiver sorts). Entries the source excludes are left out.
    async fn read_dir(&mut self, path: &[u8]) -> Result<Vec<SourceEntry>, IoError>;

    /// Opens a regular file for reading.
    async fn open(&mut self, path: &[u8]) -> Result<Self::File, IoError>;

    /// Reads a symbolic link's target.
    async fn read_link(&mut self, path: &[u8]) -> Result<Vec<u8>, IoError>;

    /// A hint, given after listing directory `dir`: these of its regular files (name and size),
    /// in this order, are about to be opened and read; unchanged files the archiver can reuse
    /// from the parent snapshot are not named. A source on slow media may start fetching them.
    /// The default does nothing; a hint never fails.
    fn will_read(&mut self, dir: &[u8], files: &[(&[u8], u64)]) {
        let _ = (dir, files);
    }
}

/// What a restore finds where it is about to put a file (not following a symbolic link).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Present {
    /// Nothing: the file is new.
    Nothing,
    /// A regular file of this size and modification time.
    File {
        /// Its size in bytes.
        size: u64,
        /// Its modification time.
        mtime: crate::Timestamp,
    },
    /// Something else: a directory, a link, a device.
    Other,
}

/// Where a restore writes to.
///
/// A file is written *beside* whatever is at its path and put in place only when complete
/// ([`RestoreTarget::finish_file`]), or dropped ([`RestoreTarget::abandon_file`]): a restore
/// stopped at any moment leaves every file either as it was or as in the snapshot.
#[allow(async_fn_in_trait)] // Driven from one task; futures need not be `Send`.
pub trait RestoreTarget {
    /// A file being written.
    type File: embedded_io_async::Write<Error = IoError>;
    /// A file already at a path, opened to compare its contents with the snapshot's.
    type Existing: embedded_io_async::Read<Error = IoError>;

    /// Creates a directory (an existing directory is fine; anything else in the way is an error).
    async fn create_dir(&mut self, path: &[u8]) -> Result<(), IoError>;

    /// What is at `path` now. The default says nothing is, so every file is written.
    async fn present(&mut self, path: &[u8]) -> Result<Present, IoError> {
        let _ = path;
        Ok(Present::Nothing)
    }

    /// Opens the regular file at `path` for reading (after [`present`](Self::present) found one).
    async fn open_existing(&mut self, path: &[u8]) -> Result<Self::Existing, IoError>;

    /// Leaves the regular file at `path` as it is (its contents are the snapshot's) and gives it
    /// `node`'s metadata.
    async fn keep_file(&mut self, path: &[u8], node: &Node) -> Result<(), IoError>;

    /// Starts a file that will hold `size` bytes and take the place of whatever is at `path`
    /// once finished. What is at `path` is not touched until then.
    async fn create_file(&mut self, path: &[u8], size: u64) -> Result<Self::File, IoError>;

    /// Says that `path` will be created soon with [`create_file`](Self::create_file) (a few
    /// files ahead, in the order they will be created), so that a target may start creating it
    /// in the background; `create_file` then hands over the result, error included. Optional:
    /// the default does nothing. The directory it goes in exists already.
    fn prepare_file(&mut self, path: &[u8], size: u64) {
        let _ = (path, size);
    }

    /// Puts a completely written file in place of whatever was at `path`, in one step, with
    /// its metadata.
    async fn finish_file(&mut self, path: &[u8], file: Self::File, node: &Node) -> Result<(), IoError>;

    /// Drops a file that will not be finished (parts of it were damaged in the repository):
    /// whatever is at `path` stays as it was. The default just lets `file` go.
    async fn abandon_file(&mut self, path: &[u8], file: Self::File) -> Result<(), IoError> {
        let _ = (path, file);
        Ok(())
    }

    /// Creates a symbolic link with its metadata, in place of what is at `path` (not a
    /// directory).
    async fn create_symlink(&mut self, path: &[u8], target: &[u8], node: &Node) -> Result<(), IoError>;

    /// Applies a directory's metadata, after everything inside it was restored.
    async fn finish_dir(&mut self, path: &[u8], node: &Node) -> Result<(), IoError>;
}
