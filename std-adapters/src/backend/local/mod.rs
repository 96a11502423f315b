//! The local destination: a repository in a directory.
//!
//! Layout is the core's (see [`cairn_core::FileKind::path`]). Writes are atomic and durable: the
//! bytes go to a temporary file in the target directory (`.tmp-<name>-<random>`, created with
//! `O_EXCL`), which is `fsync`ed, then renamed over the final name (or hard-linked to it for
//! create-new writes, which fail if the name exists), and the directory is `fsync`ed. A process
//! killed at any moment leaves either the old state or the new one, plus at worst a temporary
//! file that listings ignore. Blocking file work runs on tokio's blocking pool.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use cairn_core::{
    FileKind, Handle, Id, IoError, IoErrorKind, ObjectInfo, ReadRange, StorageProperties, WriteMode,
    resize_for_overwrite,
};

use crate::backend::path_store::{Body, FolderEntry, PathStore};
use crate::error::core_io_error;

/// A repository directory on a local (or mounted) filesystem.
#[derive(Debug)]
pub struct LocalBackend {
    root: PathBuf,
    /// Recently read packs, kept open: a restore reads many blobs from each pack, and the kernel
    /// is asked to read a pack ahead when it is first opened.
    open_packs: Arc<OpenPacks>,
}

type OpenPacks = Mutex<VecDeque<(Id, Arc<File>)>>;

/// Packs kept open for reading.
const OPEN_PACKS: usize = 16;

impl Clone for LocalBackend {
    fn clone(&self) -> Self {
        Self::new(self.root.clone())
    }
}

impl LocalBackend {
    /// A backend for the repository in `root` (which need not exist yet: `init` creates it).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into(), open_packs: Arc::new(Mutex::new(VecDeque::new())) }
    }

    /// The repository directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file that holds `handle`.
    pub fn path_of(&self, handle: &Handle) -> PathBuf {
        self.root.join(handle.path())
    }
}

/// Runs blocking file work on tokio's blocking pool.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> Result<T, IoError> + Send + 'static) -> Result<T, IoError> {
    tokio::task::spawn_blocking(work).await.map_err(|e| IoError::new(IoErrorKind::Other, e))?
}

fn fsync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

fn random_suffix() -> String {
    let mut b = [0u8; 8];
    // A clash only costs a retry of the O_EXCL open; no need to fail the write if RNG fails.
    let _ = getrandom::fill(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Writes `data` to `path` atomically (see the [module docs](self)).
fn write_atomic(path: &Path, data: &[u8], mode: WriteMode) -> Result<(), IoError> {
    write_atomic_with(path, mode, |file| file.write_all(data))
}

/// Writes `path` through a temporary file that `fill` writes, synced, then renamed (or
/// hard-linked, for create-only writes) into place.
fn write_atomic_with(
    path: &Path,
    mode: WriteMode,
    fill: impl FnOnce(&mut File) -> std::io::Result<()>,
) -> Result<(), IoError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".tmp-{name}-{}", random_suffix()));
    let open = || OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp);
    let mut file = match open() {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            fs::create_dir_all(dir).map_err(|e| core_io_error(dir, e))?;
            open().map_err(|e| core_io_error(&tmp, e))?
        }
        Err(e) => return Err(core_io_error(&tmp, e)),
    };
    let result = (|| {
        fill(&mut file).map_err(|e| core_io_error(&tmp, e))?;
        file.sync_all().map_err(|e| core_io_error(&tmp, e))?;
        drop(file);
        match mode {
            WriteMode::Replace => fs::rename(&tmp, path).map_err(|e| core_io_error(path, e)),
            WriteMode::CreateNew => {
                let linked = fs::hard_link(&tmp, path).map_err(|e| core_io_error(path, e));
                let _ = fs::remove_file(&tmp);
                linked
            }
        }
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result?;
    fsync_dir(dir).map_err(|e| core_io_error(dir, e))
}

/// An object on `path` that is not what was asked for.
fn invalid_data(path: &Path, what: &str) -> IoError {
    IoError::new(
        IoErrorKind::InvalidData,
        crate::error::PathError {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string()),
        },
    )
}

/// An open handle on the pack at `path`, from the cache or newly opened (with a read-ahead hint).
fn pack_file(cache: &OpenPacks, id: Id, path: &Path) -> Result<Arc<File>, IoError> {
    let lock = || cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    {
        let mut cache = lock();
        if let Some(pos) = cache.iter().position(|(open, _)| *open == id) {
            let entry = cache.remove(pos).unwrap_or_else(|| unreachable!());
            let file = Arc::clone(&entry.1);
            cache.push_front(entry);
            return Ok(file);
        }
    }
    // Opened without the lock held: other reads go on meanwhile (at worst a pack is opened twice).
    let file = Arc::new(File::open(path).map_err(|e| core_io_error(path, e))?);
    let _ = nix::fcntl::posix_fadvise(&*file, 0, 0, nix::fcntl::PosixFadviseAdvice::POSIX_FADV_WILLNEED);
    let mut cache = lock();
    cache.push_front((id, Arc::clone(&file)));
    cache.truncate(OPEN_PACKS);
    Ok(file)
}

/// Pack reads shorter than this (trees, pack headers) are done in place; longer ones (file
/// contents for a restore, whole packs for a check) on the blocking pool, so that the calling
/// task, which writes the restored files, never waits for the disk or copies the bytes itself:
/// on the benchmark corpus that was a sixth of its time in a restore.
const READ_IN_PLACE_UP_TO: u32 = 64 * 1024;

/// Exactly `len` bytes at `offset` of `file` (which is `path`), into `buf` (its bytes replaced).
fn read_span(file: &File, path: &Path, offset: u64, len: u32, mut buf: Vec<u8>) -> Result<Vec<u8>, IoError> {
    resize_for_overwrite(&mut buf, len as usize);
    file.read_exact_at(&mut buf, offset).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            invalid_data(path, "object is shorter than the range asked for")
        } else {
            core_io_error(path, e)
        }
    })?;
    Ok(buf)
}

fn read_range(path: &Path, range: ReadRange) -> Result<Vec<u8>, IoError> {
    let mut file = File::open(path).map_err(|e| core_io_error(path, e))?;
    let invalid = |what: &str| invalid_data(path, what);
    match range {
        ReadRange::All { max_len } => {
            let len = file.metadata().map_err(|e| core_io_error(path, e))?.len();
            if len > max_len {
                return Err(invalid(&format!("object is {len} bytes, more than the {max_len} expected")));
            }
            let mut buf = Vec::with_capacity(len as usize);
            (&mut file).take(max_len + 1).read_to_end(&mut buf).map_err(|e| core_io_error(path, e))?;
            if buf.len() as u64 > max_len {
                return Err(invalid("object grew while being read"));
            }
            Ok(buf)
        }
        ReadRange::Span { offset, len } => read_span(&file, path, offset, len, Vec::new()),
        ReadRange::Tail { len } => {
            let size = file.metadata().map_err(|e| core_io_error(path, e))?.len();
            let start = size.saturating_sub(u64::from(len));
            file.seek(SeekFrom::Start(start)).map_err(|e| core_io_error(path, e))?;
            let mut buf = Vec::with_capacity((size - start) as usize);
            file.read_to_end(&mut buf).map_err(|e| core_io_error(path, e))?;
            Ok(buf)
        }
    }
}

fn list_dir(dir: &Path, out: &mut Vec<ObjectInfo>) -> Result<(), IoError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(core_io_error(dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| core_io_error(dir, e))?;
        let name = entry.file_name();
        let Some(id) = name.to_str().and_then(|n| Id::from_hex(n).ok()) else { continue };
        // A file removed between listing and stat is simply not listed.
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_file() {
            out.push(ObjectInfo { id, size: meta.len() });
        }
    }
    Ok(())
}

crate::backend::path_store::storage_over_paths!(LocalBackend);

impl PathStore for LocalBackend {
    const TEMPORARY_PREFIX: Option<&'static str> = Some(".tmp-");

    fn properties(&self) -> StorageProperties {
        StorageProperties::new(2)
    }

    async fn read_path(&self, path: &str, range: ReadRange) -> Result<Bytes, IoError> {
        read_range(&self.root.join(path), range).map(Bytes::from)
    }

    async fn write_path(&self, path: &str, body: Body<'_>, mode: WriteMode) -> Result<(), IoError> {
        let path = self.root.join(path);
        match body {
            Body::Bytes(data) => {
                let data = data.clone();
                blocking(move || write_atomic(&path, &data, mode)).await
            }
            Body::File { src, size } => {
                let from = src.try_clone().map_err(|e| core_io_error(&path, e))?;
                blocking(move || {
                    write_atomic_with(&path, mode, |file| {
                        let mut from = from;
                        from.seek(SeekFrom::Start(0))?;
                        let copied = std::io::copy(&mut from.take(size), file)?;
                        if copied != size {
                            return Err(std::io::Error::new(
                                std::io::ErrorKind::UnexpectedEof,
                                "the file to copy shrank",
                            ));
                        }
                        Ok(())
                    })
                })
                .await
            }
        }
    }

    async fn remove_path(&self, path: &str) -> Result<(), IoError> {
        let path = self.root.join(path);
        blocking(move || {
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(core_io_error(&path, e)),
            }
            let dir = path.parent().unwrap_or(Path::new("."));
            fsync_dir(dir).map_err(|e| core_io_error(dir, e))
        })
        .await
    }

    async fn list_folder(&self, dir: &str) -> Result<Vec<FolderEntry>, IoError> {
        let dir = self.root.join(dir);
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(core_io_error(&dir, e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| core_io_error(&dir, e))?;
            let Some(name) = entry.file_name().to_str().map(str::to_string) else { continue };
            // An entry removed between listing and stat is simply not listed.
            let Ok(meta) = entry.metadata() else { continue };
            let modified = meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
            out.push(FolderEntry {
                name,
                is_dir: meta.is_dir(),
                size: if meta.is_file() { meta.len() } else { 0 },
                modified: modified.map(|d| d.as_secs() as i64),
            });
        }
        Ok(out)
    }

    /// Free bytes for this user on the filesystem holding the repository (or, before it
    /// exists, its nearest existing parent).
    async fn free_space(&self) -> Result<Option<u64>, IoError> {
        let mut dir = self.root.as_path();
        while !dir.exists() {
            dir = dir.parent().unwrap_or(Path::new("/"));
        }
        let v = nix::sys::statvfs::statvfs(dir).map_err(|e| core_io_error(dir, std::io::Error::from(e)))?;
        Ok(Some(v.blocks_available().saturating_mul(v.fragment_size())))
    }

    /// Listed on the blocking pool, folder by folder.
    async fn list_objects(&self, kind: FileKind) -> Result<Vec<ObjectInfo>, IoError> {
        let root = self.root.clone();
        blocking(move || {
            let mut out = Vec::new();
            match kind {
                FileKind::Config => {
                    let p = root.join("config");
                    if let Ok(m) = fs::metadata(&p) {
                        out.push(ObjectInfo { id: Id::ZERO, size: m.len() });
                    }
                }
                FileKind::Pack => {
                    let data = root.join(kind.dir());
                    let subdirs = match fs::read_dir(&data) {
                        Ok(d) => d,
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
                        Err(e) => return Err(core_io_error(&data, e)),
                    };
                    for sub in subdirs {
                        let sub = sub.map_err(|e| core_io_error(&data, e))?;
                        let is_prefix = sub
                            .file_name()
                            .to_str()
                            .is_some_and(|n| n.len() == 2 && n.bytes().all(|b| b.is_ascii_hexdigit()));
                        if is_prefix {
                            list_dir(&sub.path(), &mut out)?;
                        }
                    }
                }
                _ => list_dir(&root.join(kind.dir()), &mut out)?,
            }
            Ok(out)
        })
        .await
    }

    async fn read_object(&self, handle: &Handle, range: ReadRange) -> Result<Bytes, IoError> {
        self.read_object_into(handle, range, Vec::new()).await.map(Bytes::from)
    }

    /// Packs are read through the open packs, long spans on the blocking pool.
    async fn read_object_into(&self, handle: &Handle, range: ReadRange, buf: Vec<u8>) -> Result<Vec<u8>, IoError> {
        let path = self.path_of(handle);
        let id = handle.id;
        match (handle.kind, range) {
            (FileKind::Pack, ReadRange::Span { offset, len }) if len < READ_IN_PLACE_UP_TO => {
                read_span(&*pack_file(&self.open_packs, id, &path)?, &path, offset, len, buf)
            }
            (FileKind::Pack, ReadRange::Span { offset, len }) => {
                let packs = Arc::clone(&self.open_packs);
                blocking(move || read_span(&*pack_file(&packs, id, &path)?, &path, offset, len, buf)).await
            }
            (FileKind::Pack, ReadRange::All { .. }) => blocking(move || read_range(&path, range)).await,
            _ => read_range(&path, range),
        }
    }

    async fn write_object(&self, handle: &Handle, data: Bytes, mode: WriteMode) -> Result<(), IoError> {
        let path = self.path_of(handle);
        // The bytes are let go once written, before the sync: a pack's memory is not held
        // through the slowest part of its store.
        let fill = move |file: &mut File| {
            let written = file.write_all(&data);
            drop(data);
            written
        };
        blocking(move || write_atomic_with(&path, mode, fill)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_core::Storage;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().build().unwrap()
    }

    #[test]
    fn write_read_list_remove() {
        let dir = tempfile::tempdir().unwrap();
        let b = LocalBackend::new(dir.path().join("repo"));
        rt().block_on(async {
            let h = Handle::new(FileKind::Pack, Id([0xab; 32]));
            b.write(&h, Bytes::from_static(b"0123456789"), WriteMode::Replace).await.unwrap();
            assert!(b.path_of(&h).ends_with(format!("data/ab/{}", Id([0xab; 32]).to_hex())));
            assert_eq!(b.read(&h, ReadRange::Span { offset: 3, len: 2 }).await.unwrap(), &b"34"[..]);
            // Into a spent buffer, larger or smaller than the span, small and large reads alike.
            for spent in [vec![7u8; 100], vec![7u8; 1], Vec::with_capacity(200_000)] {
                let got = b.read_into(&h, ReadRange::Span { offset: 3, len: 4 }, spent).await.unwrap();
                assert_eq!(got, b"3456");
            }
            let big = Handle::new(FileKind::Pack, Id([0xac; 32]));
            let bytes: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
            b.write(&big, Bytes::from(bytes.clone()), WriteMode::Replace).await.unwrap();
            let got = b.read_into(&big, ReadRange::Span { offset: 1, len: 200_000 }, vec![1; 250_000]).await.unwrap();
            assert_eq!(got, &bytes[1..200_001]);
            b.remove(&big).await.unwrap();
            assert_eq!(b.read(&h, ReadRange::Tail { len: 3 }).await.unwrap(), &b"789"[..]);
            assert_eq!(b.read(&h, ReadRange::All { max_len: 10 }).await.unwrap(), &b"0123456789"[..]);
            assert_eq!(b.read(&h, ReadRange::All { max_len: 9 }).await.unwrap_err().kind(), IoErrorKind::InvalidData);
            assert_eq!(
                b.read(&h, ReadRange::Span { offset: 8, len: 5 }).await.unwrap_err().kind(),
                IoErrorKind::InvalidData
            );
            // Stray files are not listed.
            std::fs::write(b.root().join("data/ab/.tmp-x"), b"partial").unwrap();
            std::fs::write(b.root().join("data/ab/not-an-id"), b"x").unwrap();
            let listed = b.list(FileKind::Pack).await.unwrap();
            assert_eq!(listed, vec![ObjectInfo { id: Id([0xab; 32]), size: 10 }]);
            assert!(b.list(FileKind::Snapshot).await.unwrap().is_empty());
            // Create-new refuses to replace.
            let c = Handle::CONFIG;
            b.write(&c, Bytes::from_static(b"one"), WriteMode::CreateNew).await.unwrap();
            let e = b.write(&c, Bytes::from_static(b"two"), WriteMode::CreateNew).await.unwrap_err();
            assert_eq!(e.kind(), IoErrorKind::AlreadyExists);
            assert_eq!(b.read(&c, ReadRange::All { max_len: 100 }).await.unwrap(), &b"one"[..]);
            // No temporary file is left behind by either write.
            let leftovers: Vec<_> = std::fs::read_dir(b.root())
                .unwrap()
                .filter_map(|e| {
                    let n = e.unwrap().file_name().into_string().unwrap();
                    n.starts_with(".tmp").then_some(n)
                })
                .collect();
            assert!(leftovers.is_empty(), "{leftovers:?}");
            b.remove(&h).await.unwrap();
            b.remove(&h).await.unwrap();
            assert_eq!(b.read(&h, ReadRange::Tail { len: 1 }).await.unwrap_err().kind(), IoErrorKind::NotFound);
        });
    }
}
