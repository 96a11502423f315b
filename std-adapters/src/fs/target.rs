//! The filesystem restore target: what `cairn restore` writes.
//!
//! Everything is written under the target directory and nowhere else:
//! - the core hands over relative paths whose components were all validated (no `..`, no `/`
//!   inside a name, no empty names); this target checks that again before touching the disk;
//! - symbolic links are never followed: a directory that turns out to be a link is refused, and
//!   a file or link in the way of a file is replaced, never written through.
//!
//! **In place, crash-safe**: a file is written as a [`Staged`] file beside its name and put in
//! place in one step once complete and verified, so a restore killed at any moment leaves each
//! file either as it was or as in the snapshot; an existing file is never truncated or
//! preallocated over. The core leaves alone a file that already holds the snapshot's contents
//! ([`RestoreTarget::present`], [`RestoreTarget::keep_file`]), and drops a file whose blobs turned
//! out damaged ([`RestoreTarget::abandon_file`]) rather than put it over an intact one.
//!
//! Files are created ahead on a thread of their own ([`RestoreTarget::prepare_file`]): creating
//! a file holds its directory's lock and costs more than writing a small one, so the restore's
//! task writes one file while the next ones are being created.
//!
//! Restored: contents, permission bits (including setuid/setgid/sticky when run as root),
//! modification times, symbolic links, and ownership when running as root (numeric ids).

use std::ffi::OsStr;
use std::fs::{self, File, FileTimes, OpenOptions};
use std::io::{Read as _, Write as _};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::oneshot;

use cairn_core::{IoError, IoErrorKind, Node, Present, RestoreTarget, Timestamp};

use crate::error::io_error_kind;
use crate::fs::staged::{Staged, replace_symlink};

/// Writes a restore into a directory. See the [module docs](self).
#[derive(Debug)]
pub struct FsTarget {
    root: PathBuf,
    restore_owner: bool,
    overwrite: Overwrite,
    kept: u64,
    /// Directories under the root (relative) known to be real directories, not links: what is
    /// written beneath them stays beneath the root.
    checked_dirs: std::collections::HashSet<Vec<u8>>,
    /// Files asked for ahead, by relative path: created (or failed) on the creator thread.
    ahead: std::collections::HashMap<Vec<u8>, oneshot::Receiver<Created>>,
    creator: Option<Creator>,
}

/// A file created ahead, or why it could not be.
type Created = Result<Staged, IoError>;
/// What the creator thread is asked: create a file in this directory, of this size, and say
/// how it went.
type CreateJob = (PathBuf, u64, oneshot::Sender<Created>);

/// The thread that creates files ahead, in the order asked; it ends when the target goes.
#[derive(Debug)]
struct Creator {
    queue: mpsc::Sender<CreateJob>,
    thread: std::thread::JoinHandle<()>,
}

impl Creator {
    fn start() -> std::io::Result<Self> {
        let (queue, jobs) = mpsc::channel::<CreateJob>();
        let thread = std::thread::Builder::new().name("cairn-create".into()).spawn(move || {
            for (dir, size, done) in jobs {
                // The restore may have ended (an error) and stopped waiting: the staged file
                // then goes, never having had a name.
                let _ = done.send(Staged::create(&dir, size).map_err(err));
            }
        })?;
        Ok(Self { queue, thread })
    }
}

impl Drop for FsTarget {
    fn drop(&mut self) {
        if let Some(Creator { queue, thread }) = self.creator.take() {
            drop(queue);
            // At most a few files are still queued: nothing is created after the target is gone.
            let _ = thread.join();
        }
        // Files created ahead and never used go with their receivers.
        self.ahead.clear();
    }
}

/// What a restore does with a file or link that already exists where it restores one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Overwrite {
    /// Replace it (the default: a restore brings back the backed-up state), unless it holds
    /// the snapshot's contents already.
    #[default]
    Always,
    /// Keep it and leave the backed-up one out (counted by [`FsTarget::kept`]).
    Never,
}

fn err(e: std::io::Error) -> IoError {
    IoError::new(io_error_kind(&e), e)
}

fn in_the_way(what: &str) -> IoError {
    IoError::new(IoErrorKind::AlreadyExists, std::io::Error::new(std::io::ErrorKind::AlreadyExists, what.to_string()))
}

/// A commit's error, saying so when a directory is in the way.
fn commit_error(e: std::io::Error) -> IoError {
    match e.raw_os_error() {
        Some(libc::EISDIR | libc::ENOTEMPTY | libc::EEXIST) => in_the_way("a directory is in the way of a file"),
        _ => err(e),
    }
}

fn system_time(t: Timestamp) -> SystemTime {
    if t.secs >= 0 {
        UNIX_EPOCH + Duration::new(t.secs as u64, t.nanos)
    } else {
        UNIX_EPOCH - Duration::from_secs(t.secs.unsigned_abs()) + Duration::from_nanos(u64::from(t.nanos))
    }
}

fn timestamp(secs: i64, nanos: i64) -> Timestamp {
    Timestamp::new(secs, u32::try_from(nanos).unwrap_or(0))
}

/// Opens an existing regular file without following a link or blocking on a FIFO.
fn open_regular(path: &Path, write_meta: bool) -> std::io::Result<File> {
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | if write_meta { 0 } else { libc::O_NOATIME })
        .open(path)
        .or_else(|e| {
            // O_NOATIME is refused on files of other users.
            if e.raw_os_error() == Some(libc::EPERM) {
                OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).open(path)
            } else {
                Err(e)
            }
        })?;
    if !f.metadata()?.is_file() {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file"));
    }
    Ok(f)
}

impl FsTarget {
    /// A target writing under `root`, which is created if missing. Ownership is restored when
    /// running as root.
    pub fn new(root: impl Into<PathBuf>) -> std::io::Result<Self> {
        let root = root.into();
        fs::create_dir_all(&root)?;
        crate::fs::staged::remove_leftovers(&root)?;
        Ok(Self {
            root,
            restore_owner: nix::unistd::geteuid().is_root(),
            overwrite: Overwrite::Always,
            kept: 0,
            checked_dirs: std::collections::HashSet::new(),
            ahead: std::collections::HashMap::new(),
            creator: None,
        })
    }

    /// The same target with another [`Overwrite`] policy.
    pub fn with_overwrite(mut self, overwrite: Overwrite) -> Self {
        self.overwrite = overwrite;
        self
    }

    /// Files and links left as they were because something existed there ([`Overwrite::Never`]).
    pub fn kept(&self) -> u64 {
        self.kept
    }

    /// Whether to leave `path` alone: it exists and the policy keeps what exists.
    fn keep_existing(&mut self, path: &Path) -> bool {
        let keep = self.overwrite == Overwrite::Never && fs::symlink_metadata(path).is_ok_and(|m| !m.is_dir());
        if keep {
            self.kept += 1;
        }
        keep
    }

    /// The target directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The absolute path for a relative restore path, refusing anything that could leave the
    /// root: `..`, absolute names, and a symbolic link on the way (one planted in the target, or
    /// restored from a hostile snapshot as `d` before a file `d/x`) is never followed.
    fn path(&mut self, rel: &[u8]) -> Result<PathBuf, IoError> {
        let path = self.lexical_path(rel)?;
        if let Some(end) = rel.iter().rposition(|&b| b == b'/') {
            self.check_dirs_on_the_way(&rel[..end])?;
        }
        Ok(path)
    }

    /// Checks that `dir` and each directory above it (below the root) is a real directory, not a
    /// link; each is looked at once per restore.
    fn check_dirs_on_the_way(&mut self, dir: &[u8]) -> Result<(), IoError> {
        if self.checked_dirs.contains(dir) {
            return Ok(());
        }
        let ends = dir.iter().enumerate().filter(|(_, b)| **b == b'/').map(|(i, _)| i).chain([dir.len()]);
        for end in ends {
            let prefix = &dir[..end];
            if self.checked_dirs.contains(prefix) {
                continue;
            }
            match fs::symlink_metadata(self.root.join(OsStr::from_bytes(prefix))) {
                Ok(m) if m.is_dir() => {
                    self.checked_dirs.insert(prefix.to_vec());
                }
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(in_the_way("a symbolic link is in the way of a directory; it is not followed"));
                }
                Ok(_) => return Err(in_the_way("a file is in the way of a directory")),
                // Missing: whatever is created there next fails on its own.
                Err(_) => return Ok(()),
            }
        }
        Ok(())
    }

    fn lexical_path(&self, rel: &[u8]) -> Result<PathBuf, IoError> {
        if rel.is_empty() {
            return Ok(self.root.clone());
        }
        let safe = !rel.starts_with(b"/")
            && rel.split(|&b| b == b'/').all(|c| !c.is_empty() && c != b"." && c != b".." && !c.contains(&0));
        if !safe {
            return Err(IoError::new(
                IoErrorKind::PermissionDenied,
                std::io::Error::new(std::io::ErrorKind::InvalidInput, "path would leave the restore target"),
            ));
        }
        Ok(self.root.join(OsStr::from_bytes(rel)))
    }

    fn chown(&self, path: &Path, node: &Node) -> Result<(), IoError> {
        if self.restore_owner {
            std::os::unix::fs::lchown(path, Some(node.meta.uid), Some(node.meta.gid)).map_err(err)?;
        }
        Ok(())
    }

    fn mode(&self, node: &Node) -> u32 {
        // Without root, setuid/setgid bits of files owned by others would be misleading: drop them.
        if self.restore_owner { node.meta.mode & 0o7777 } else { node.meta.mode & 0o1777 }
    }

    /// Gives an open file `node`'s owner, permissions and modification time.
    fn set_file_meta(&self, f: &File, node: &Node) -> Result<(), IoError> {
        if self.restore_owner {
            std::os::unix::fs::fchown(f, Some(node.meta.uid), Some(node.meta.gid)).map_err(err)?;
        }
        f.set_permissions(fs::Permissions::from_mode(self.mode(node))).map_err(err)?;
        f.set_times(FileTimes::new().set_modified(system_time(node.meta.mtime))).map_err(err)
    }
}

/// A file being restored (`None`: an existing file kept, its contents dropped).
#[derive(Debug)]
pub struct FsOut(Option<Staged>);

impl embedded_io_async::ErrorType for FsOut {
    type Error = IoError;
}

impl embedded_io_async::Write for FsOut {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, IoError> {
        match &mut self.0 {
            Some(f) => f.file().write(buf).map_err(err),
            None => Ok(buf.len()),
        }
    }

    async fn write_all(&mut self, buf: &[u8]) -> Result<(), IoError> {
        match &mut self.0 {
            Some(f) => f.file().write_all(buf).map_err(err),
            None => Ok(()),
        }
    }

    async fn flush(&mut self) -> Result<(), IoError> {
        Ok(())
    }
}

/// An existing file, read to compare it with the snapshot.
#[derive(Debug)]
pub struct FsIn(File);

impl embedded_io_async::ErrorType for FsIn {
    type Error = IoError;
}

impl embedded_io_async::Read for FsIn {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, IoError> {
        self.0.read(buf).map_err(err)
    }
}

impl RestoreTarget for FsTarget {
    type File = FsOut;
    type Existing = FsIn;

    async fn create_dir(&mut self, rel: &[u8]) -> Result<(), IoError> {
        let path = self.path(rel)?;
        match fs::symlink_metadata(&path) {
            // A directory that was there may hold what an interrupted restore left.
            Ok(m) if m.is_dir() => crate::fs::staged::remove_leftovers(&path).map(drop).map_err(err),
            Ok(m) if m.file_type().is_symlink() => {
                Err(in_the_way("a symbolic link is in the way of a directory; it is not followed"))
            }
            Ok(_) => Err(in_the_way("a file is in the way of a directory")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                fs::DirBuilder::new().mode(0o700).create(&path).map_err(err)
            }
            Err(e) => Err(err(e)),
        }
    }

    async fn present(&mut self, rel: &[u8]) -> Result<Present, IoError> {
        let path = self.path(rel)?;
        match fs::symlink_metadata(&path) {
            Ok(m) if m.is_file() => Ok(Present::File { size: m.len(), mtime: timestamp(m.mtime(), m.mtime_nsec()) }),
            Ok(_) => Ok(Present::Other),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Present::Nothing),
            Err(e) => Err(err(e)),
        }
    }

    async fn open_existing(&mut self, rel: &[u8]) -> Result<FsIn, IoError> {
        let path = self.path(rel)?;
        open_regular(&path, false).map(FsIn).map_err(err)
    }

    async fn keep_file(&mut self, rel: &[u8], node: &Node) -> Result<(), IoError> {
        let path = self.path(rel)?;
        match open_regular(&path, true) {
            Ok(f) => self.set_file_meta(&f, node),
            // Not readable to us (mode 000 without root): by path, still not following a link.
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                self.chown(&path, node)?;
                let t = filetime::FileTime::from_system_time(system_time(node.meta.mtime));
                filetime::set_symlink_file_times(&path, t, t).map_err(err)?;
                if fs::symlink_metadata(&path).is_ok_and(|m| m.is_file()) {
                    fs::set_permissions(&path, fs::Permissions::from_mode(self.mode(node))).map_err(err)?;
                }
                Ok(())
            }
            Err(e) => Err(err(e)),
        }
    }

    fn prepare_file(&mut self, rel: &[u8], size: u64) {
        // Keeping what exists looks first, in order: only replacing restores create ahead.
        if self.overwrite != Overwrite::Always || self.ahead.contains_key(rel) {
            return;
        }
        // A path refused here is refused again, with its error, by create_file.
        let Ok(path) = self.path(rel) else { return };
        let Some(dir) = path.parent().map(Path::to_path_buf) else { return };
        if self.creator.is_none() {
            // Without a thread, files are simply created when their turn comes.
            self.creator = Creator::start().ok();
        }
        let Some(creator) = &self.creator else { return };
        let (done, result) = oneshot::channel();
        if creator.queue.send((dir, size, done)).is_ok() {
            self.ahead.insert(rel.to_vec(), result);
        }
    }

    async fn create_file(&mut self, rel: &[u8], size: u64) -> Result<FsOut, IoError> {
        if let Some(created) = self.ahead.remove(rel)
            && let Ok(staged) = created.await
        {
            return staged.map(|s| FsOut(Some(s)));
        }
        let path = self.path(rel)?;
        if self.keep_existing(&path) {
            return Ok(FsOut(None));
        }
        let dir = path.parent().unwrap_or(&self.root);
        Staged::create(dir, size).map(|s| FsOut(Some(s))).map_err(err)
    }

    async fn finish_file(&mut self, rel: &[u8], file: FsOut, node: &Node) -> Result<(), IoError> {
        let Some(mut staged) = file.0 else { return Ok(()) };
        self.set_file_meta(staged.file(), node)?;
        let path = self.path(rel)?;
        staged.commit(&path).map_err(commit_error)
    }

    async fn abandon_file(&mut self, _rel: &[u8], file: FsOut) -> Result<(), IoError> {
        // A staged file that is dropped never had its name: what is there stays.
        drop(file);
        Ok(())
    }

    async fn create_symlink(&mut self, rel: &[u8], target: &[u8], node: &Node) -> Result<(), IoError> {
        let path = self.path(rel)?;
        if self.keep_existing(&path) {
            return Ok(());
        }
        if fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) {
            return Err(in_the_way("a directory is in the way of a symbolic link"));
        }
        replace_symlink(OsStr::from_bytes(target), &path).map_err(commit_error)?;
        self.chown(&path, node)?;
        let t = filetime::FileTime::from_system_time(system_time(node.meta.mtime));
        filetime::set_symlink_file_times(&path, t, t).map_err(err)
    }

    async fn finish_dir(&mut self, rel: &[u8], node: &Node) -> Result<(), IoError> {
        let path = self.path(rel)?;
        let m = fs::symlink_metadata(&path).map_err(err)?;
        if !m.is_dir() {
            return Err(in_the_way("the directory was replaced during the restore"));
        }
        self.chown(&path, node)?;
        fs::set_permissions(&path, fs::Permissions::from_mode(self.mode(node))).map_err(err)?;
        let t = filetime::FileTime::from_system_time(system_time(node.meta.mtime));
        filetime::set_file_mtime(&path, t).map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_paths_that_leave_the_root_and_links_in_the_way() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let mut t = FsTarget::new(dir.path().join("t")).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            for bad in [&b"../x"[..], b"/etc/x", b"a/../../x", b"a//b", b"."] {
                assert!(t.create_file(bad, 0).await.is_err(), "{bad:?}");
                assert!(t.create_dir(bad).await.is_err());
            }
            // A planted link to a directory outside is not followed.
            std::os::unix::fs::symlink(outside.path(), dir.path().join("t/evil")).unwrap();
            assert!(t.create_dir(b"evil").await.is_err());
            // Nor is a link on the way to a file or a directory, planted or restored (a hostile
            // snapshot with a link `d` and a file `d/x`).
            let link = Node {
                name: b"d".to_vec(),
                kind: cairn_core::NodeKind::Symlink { target: b"/".to_vec() },
                meta: cairn_core::Metadata::default(),
            };
            t.create_symlink(b"d", outside.path().as_os_str().as_encoded_bytes(), &link).await.unwrap();
            std::fs::create_dir(dir.path().join("t/real")).unwrap();
            std::os::unix::fs::symlink(outside.path(), dir.path().join("t/real/deeper")).unwrap();
            for through in [&b"evil/x"[..], b"d/x", b"real/deeper/x", b"real/deeper/sub/x"] {
                assert!(t.create_file(through, 2).await.is_err(), "{through:?}");
                assert!(t.create_dir(through).await.is_err(), "{through:?}");
                assert!(t.create_symlink(through, b"/", &link).await.is_err(), "{through:?}");
            }
            assert_eq!(fs::read_dir(outside.path()).unwrap().count(), 0, "something was written outside");
            // Real directories are fine, however deep.
            t.create_dir(b"real/a").await.unwrap();
            t.create_dir(b"real/a/b").await.unwrap();
            let f = t.create_file(b"real/a/b/x", 0).await.unwrap();
            t.finish_file(b"real/a/b/x", f, &file_node(0o600)).await.unwrap();
            // A planted link where a file goes is replaced, not written through.
            std::os::unix::fs::symlink(outside.path().join("victim"), dir.path().join("t/f")).unwrap();
            let mut f = t.create_file(b"f", 2).await.unwrap();
            embedded_io_async::Write::write_all(&mut f, b"hi").await.unwrap();
            t.finish_file(b"f", f, &file_node(0o600)).await.unwrap();
            assert!(!outside.path().join("victim").exists());
            assert_eq!(fs::read(dir.path().join("t/f")).unwrap(), b"hi");
        });
    }

    #[test]
    fn files_created_ahead_keep_their_checks_and_their_own_errors() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let root = dir.path().join("t");
        let mut t = FsTarget::new(&root).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            fs::create_dir(root.join("sub")).unwrap();
            fs::create_dir(root.join("dir-in-the-way")).unwrap();
            std::os::unix::fs::symlink(outside.path(), root.join("evil")).unwrap();
            std::os::unix::fs::symlink(outside.path().join("victim"), root.join("planted")).unwrap();
            fs::write(root.join("old"), b"old contents").unwrap();
            let names: [&[u8]; 6] = [b"sub/a", b"evil/x", b"dir-in-the-way", b"planted", b"old", b"../up"];
            for name in names {
                t.prepare_file(name, 3);
            }
            let node = Node {
                name: b"x".to_vec(),
                kind: cairn_core::NodeKind::File { content: Vec::new() },
                meta: cairn_core::Metadata { mode: 0o640, ..Default::default() },
            };
            // Each gets its own outcome, in order: written, refused (link on the way), in the
            // way (a directory), replaced (a link planted where the file goes), replaced, refused.
            let mut outcomes = Vec::new();
            for name in names {
                match t.create_file(name, 3).await {
                    Ok(mut f) => {
                        embedded_io_async::Write::write_all(&mut f, b"new").await.unwrap();
                        outcomes.push(t.finish_file(name, f, &node).await.is_ok());
                    }
                    Err(_) => outcomes.push(false),
                }
            }
            assert_eq!(outcomes, [true, false, false, true, true, false]);
            for written in ["sub/a", "planted", "old"] {
                assert_eq!(fs::read(root.join(written)).unwrap(), b"new", "{written}");
                assert_eq!(fs::metadata(root.join(written)).unwrap().permissions().mode() & 0o777, 0o640);
            }
            assert!(root.join("dir-in-the-way").is_dir());
            assert_eq!(fs::read_dir(outside.path()).unwrap().count(), 0, "something was written outside");
            // Files announced and never finished (a restore that stopped) never get a name.
            t.prepare_file(b"sub/never", 0);
        });
        drop(t);
        assert!(!root.join("sub/never").exists());
        assert_eq!(names_in(&root.join("sub")), ["a"], "nothing is left behind");
    }

    fn file_node(mode: u32) -> Node {
        Node {
            name: b"x".to_vec(),
            kind: cairn_core::NodeKind::File { content: Vec::new() },
            meta: cairn_core::Metadata { mode, mtime: Timestamp::new(1_600_000_000, 5), ..Default::default() },
        }
    }

    fn names_in(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> =
            fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    }

    /// What is at a path changes only when the new file is complete: written and dropped, or
    /// abandoned, the old contents stay, and nothing else appears in the directory.
    #[test]
    fn an_existing_file_changes_only_when_the_new_one_is_finished() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("t");
        let mut t = FsTarget::new(&root).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            fs::write(root.join("f"), b"old contents").unwrap();
            assert_eq!(
                t.present(b"f").await.unwrap(),
                Present::File {
                    size: 12,
                    mtime: timestamp(
                        fs::metadata(root.join("f")).unwrap().mtime(),
                        fs::metadata(root.join("f")).unwrap().mtime_nsec()
                    ),
                }
            );
            assert_eq!(t.present(b"nothing").await.unwrap(), Present::Nothing);
            // Written, then stopped (dropped): the old file is untouched.
            let mut f = t.create_file(b"f", 3 << 20).await.unwrap();
            embedded_io_async::Write::write_all(&mut f, &[7u8; 1 << 20]).await.unwrap();
            assert_eq!(fs::read(root.join("f")).unwrap(), b"old contents", "not truncated nor preallocated over");
            drop(f);
            assert_eq!(fs::read(root.join("f")).unwrap(), b"old contents");
            // Abandoned (a damaged blob): the same.
            let mut f = t.create_file(b"f", 3).await.unwrap();
            embedded_io_async::Write::write_all(&mut f, b"new").await.unwrap();
            t.abandon_file(b"f", f).await.unwrap();
            assert_eq!(fs::read(root.join("f")).unwrap(), b"old contents");
            // Finished: replaced in one step, with its metadata.
            let mut f = t.create_file(b"f", 3).await.unwrap();
            embedded_io_async::Write::write_all(&mut f, b"new").await.unwrap();
            t.finish_file(b"f", f, &file_node(0o640)).await.unwrap();
            assert_eq!(fs::read(root.join("f")).unwrap(), b"new");
            let m = fs::metadata(root.join("f")).unwrap();
            assert_eq!((m.permissions().mode() & 0o777, m.mtime(), m.mtime_nsec()), (0o640, 1_600_000_000, 5));
            // Kept as it is: only its metadata changes.
            fs::write(root.join("g"), b"same").unwrap();
            t.keep_file(b"g", &file_node(0o604)).await.unwrap();
            let m = fs::metadata(root.join("g")).unwrap();
            assert_eq!((m.permissions().mode() & 0o777, m.mtime()), (0o604, 1_600_000_000));
            let mut read = String::new();
            let mut existing = t.open_existing(b"g").await.unwrap();
            let mut buf = [0u8; 16];
            let n = embedded_io_async::Read::read(&mut existing, &mut buf).await.unwrap();
            read.push_str(std::str::from_utf8(&buf[..n]).unwrap());
            assert_eq!(read, "same");
            // A FIFO or a link is not opened as an existing file.
            nix::unistd::mkfifo(&root.join("fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();
            assert!(t.open_existing(b"fifo").await.is_err());
            std::os::unix::fs::symlink("g", root.join("link")).unwrap();
            assert!(t.open_existing(b"link").await.is_err());
            assert_eq!(t.present(b"link").await.unwrap(), Present::Other);
        });
        drop(t);
        assert_eq!(names_in(&root), ["f", "fifo", "g", "link"], "no temporary file is left");
    }
}
