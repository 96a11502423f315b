//! Deterministic test doubles for the engine: an RNG, an in-memory source and restore target,
//! and a storage wrapper that fails on demand.
#![allow(dead_code, unreachable_pub)]

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use bytes::Bytes;
use cairn_core::*;

/// A seeded xorshift RNG. Deterministic, NOT cryptographically secure: tests only.
pub struct TestRng(pub u64);

impl rand_core::TryRng for TestRng {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(self.try_next_u64()? as u32)
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut x = self.0 | 1;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        Ok(x.wrapping_mul(0x2545_f491_4f6c_dd1d))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for chunk in dst.chunks_mut(8) {
            let v = self.try_next_u64()?.to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
        Ok(())
    }
}
impl rand_core::TryCryptoRng for TestRng {}

pub fn block_on<F: core::future::Future>(f: F) -> F::Output {
    futures_executor::block_on(f)
}

pub fn pseudo_random(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemEntry {
    File(Vec<u8>),
    Dir,
    Symlink(Vec<u8>),
    Fifo,
}

/// An in-memory filesystem keyed by absolute path.
#[derive(Debug, Default, Clone)]
pub struct MemFs {
    pub entries: BTreeMap<Vec<u8>, (MemEntry, Metadata)>,
    pub opened: std::rc::Rc<Cell<u64>>,
    /// Paths named by `will_read` hints, in order.
    pub hinted: std::rc::Rc<std::cell::RefCell<Vec<Vec<u8>>>>,
}

impl MemFs {
    pub fn new() -> Self {
        let mut fs = Self::default();
        fs.entries.insert(b"/".to_vec(), (MemEntry::Dir, meta(0o755, 1)));
        fs
    }
    pub fn add(&mut self, path: &[u8], entry: MemEntry) {
        let inode = self.entries.len() as u64 + 100;
        let mode = match entry {
            MemEntry::Dir => 0o755,
            _ => 0o644,
        };
        let mut m = meta(mode, inode);
        if let MemEntry::File(d) = &entry {
            m.size = d.len() as u64;
        }
        // Create parents.
        let mut p = Vec::new();
        for comp in path[1..].split(|&b| b == b'/').collect::<Vec<_>>().split_last().unwrap().1 {
            p.push(b'/');
            p.extend_from_slice(comp);
            let n = self.entries.len() as u64 + 100;
            self.entries.entry(p.clone()).or_insert((MemEntry::Dir, meta(0o755, n)));
        }
        self.entries.insert(path.to_vec(), (entry, m));
    }
    pub fn touch(&mut self, path: &[u8], data: Vec<u8>) {
        let e = self.entries.get_mut(path).unwrap();
        e.1.size = data.len() as u64;
        e.1.mtime.secs += 10;
        e.1.ctime.secs += 10;
        e.0 = MemEntry::File(data);
    }
    fn kind(e: &MemEntry) -> EntryKind {
        match e {
            MemEntry::File(_) => EntryKind::File,
            MemEntry::Dir => EntryKind::Dir,
            MemEntry::Symlink(_) => EntryKind::Symlink,
            MemEntry::Fifo => EntryKind::Special("FIFO"),
        }
    }
}

pub fn meta(mode: u32, inode: u64) -> Metadata {
    Metadata {
        mode,
        uid: 1000,
        gid: 1000,
        user: Some("user".into()),
        group: Some("group".into()),
        mtime: Timestamp::new(1_700_000_000 + inode as i64, 5),
        ctime: Timestamp::new(1_700_000_000 + inode as i64, 6),
        size: 0,
        inode,
        device: 1,
        links: 1,
    }
}

pub struct MemFile(Vec<u8>, usize);

impl embedded_io_async::ErrorType for MemFile {
    type Error = IoError;
}

impl embedded_io_async::Read for MemFile {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, IoError> {
        // Return short reads on purpose: the archiver must cope.
        let n = buf.len().min(self.0.len() - self.1).min(100_003);
        buf[..n].copy_from_slice(&self.0[self.1..self.1 + n]);
        self.1 += n;
        Ok(n)
    }
}

fn name_of(path: &[u8]) -> Vec<u8> {
    path.rsplit(|&b| b == b'/').next().unwrap().to_vec()
}

impl Source for MemFs {
    type File = MemFile;

    async fn stat(&mut self, path: &[u8]) -> Result<SourceEntry, IoError> {
        let (e, m) = self.entries.get(path).ok_or(IoError::from_kind(IoErrorKind::NotFound))?;
        Ok(SourceEntry { name: name_of(path), kind: Self::kind(e), meta: m.clone() })
    }

    async fn read_dir(&mut self, path: &[u8]) -> Result<Vec<SourceEntry>, IoError> {
        let prefix = if path == b"/" { b"/".to_vec() } else { [path, b"/"].concat() };
        Ok(self
            .entries
            .iter()
            .filter(|(p, _)| p.starts_with(&prefix) && p.len() > prefix.len() && !p[prefix.len()..].contains(&b'/'))
            .map(|(p, (e, m))| SourceEntry { name: name_of(p), kind: Self::kind(e), meta: m.clone() })
            .collect())
    }

    async fn open(&mut self, path: &[u8]) -> Result<MemFile, IoError> {
        match self.entries.get(path) {
            Some((MemEntry::File(d), _)) => {
                self.opened.set(self.opened.get() + 1);
                Ok(MemFile(d.clone(), 0))
            }
            _ => Err(IoError::from_kind(IoErrorKind::PermissionDenied)),
        }
    }

    async fn read_link(&mut self, path: &[u8]) -> Result<Vec<u8>, IoError> {
        match self.entries.get(path) {
            Some((MemEntry::Symlink(t), _)) => Ok(t.clone()),
            _ => Err(IoError::from_kind(IoErrorKind::InvalidData)),
        }
    }

    fn will_read(&mut self, dir: &[u8], files: &[(&[u8], u64)]) {
        for (name, size) in files {
            let path = cairn_core::join_path(dir, name);
            assert!(matches!(self.entries.get(&path), Some((MemEntry::File(d), _)) if d.len() as u64 == *size));
            self.hinted.borrow_mut().push(path);
        }
    }
}

/// A restore target in memory: relative path -> entry and metadata.
#[derive(Debug, Default)]
pub struct MemTarget {
    pub entries: BTreeMap<Vec<u8>, (MemEntry, Option<Metadata>)>,
    /// Files announced with `prepare_file` and not created yet, in order.
    pub announced: std::collections::VecDeque<Vec<u8>>,
    /// The most files announced and not yet created at any time.
    pub most_ahead: usize,
    /// Files created without having been announced.
    pub unannounced: usize,
    /// Files left as they were (their contents matched), in order.
    pub kept: Vec<Vec<u8>>,
}

pub struct MemOut(Vec<u8>);

impl embedded_io_async::ErrorType for MemOut {
    type Error = IoError;
}

impl embedded_io_async::Write for MemOut {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, IoError> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    async fn flush(&mut self) -> Result<(), IoError> {
        Ok(())
    }
}

/// An existing file of a [`MemTarget`], read back.
pub struct MemIn(Vec<u8>, usize);

impl embedded_io_async::ErrorType for MemIn {
    type Error = IoError;
}

impl embedded_io_async::Read for MemIn {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, IoError> {
        let n = buf.len().min(self.0.len() - self.1);
        buf[..n].copy_from_slice(&self.0[self.1..self.1 + n]);
        self.1 += n;
        Ok(n)
    }
}

impl RestoreTarget for MemTarget {
    type File = MemOut;
    type Existing = MemIn;

    async fn present(&mut self, path: &[u8]) -> Result<Present, IoError> {
        Ok(match self.entries.get(path) {
            None => Present::Nothing,
            Some((MemEntry::File(d), meta)) => {
                Present::File { size: d.len() as u64, mtime: meta.as_ref().map(|m| m.mtime).unwrap_or_default() }
            }
            Some(_) => Present::Other,
        })
    }
    async fn open_existing(&mut self, path: &[u8]) -> Result<MemIn, IoError> {
        match self.entries.get(path) {
            Some((MemEntry::File(d), _)) => Ok(MemIn(d.clone(), 0)),
            _ => Err(IoError::from_kind(IoErrorKind::NotFound)),
        }
    }
    async fn keep_file(&mut self, path: &[u8], node: &Node) -> Result<(), IoError> {
        self.kept.push(path.to_vec());
        self.entries.get_mut(path).unwrap().1 = Some(node.meta.clone());
        Ok(())
    }

    async fn create_dir(&mut self, path: &[u8]) -> Result<(), IoError> {
        assert!(!path.starts_with(b"/") && !path.split(|&b| b == b'/').any(|c| c == b".." || c.is_empty()));
        self.entries.insert(path.to_vec(), (MemEntry::Dir, None));
        Ok(())
    }
    fn prepare_file(&mut self, path: &[u8], _size: u64) {
        self.announced.push_back(path.to_vec());
        self.most_ahead = self.most_ahead.max(self.announced.len());
    }
    async fn create_file(&mut self, path: &[u8], _size: u64) -> Result<MemOut, IoError> {
        assert!(!path.starts_with(b"/") && !path.split(|&b| b == b'/').any(|c| c == b".." || c.is_empty()));
        if self.announced.contains(&path.to_vec()) {
            // Files are created in the order they were announced.
            assert_eq!(self.announced.pop_front().as_deref(), Some(path));
        } else {
            self.unannounced += 1;
        }
        Ok(MemOut(Vec::new()))
    }
    async fn finish_file(&mut self, path: &[u8], file: MemOut, node: &Node) -> Result<(), IoError> {
        self.entries.insert(path.to_vec(), (MemEntry::File(file.0), Some(node.meta.clone())));
        Ok(())
    }
    async fn create_symlink(&mut self, path: &[u8], target: &[u8], node: &Node) -> Result<(), IoError> {
        self.entries.insert(path.to_vec(), (MemEntry::Symlink(target.to_vec()), Some(node.meta.clone())));
        Ok(())
    }
    async fn finish_dir(&mut self, path: &[u8], node: &Node) -> Result<(), IoError> {
        self.entries.get_mut(path).unwrap().1 = Some(node.meta.clone());
        Ok(())
    }
}

/// Storage that counts writes and can fail every write and removal after a budget.
pub struct Flaky<'a> {
    pub inner: &'a MemoryBackend,
    pub writes_left: Cell<Option<u64>>,
    /// Create-only writes are stored, then answered "already exists": what a backend says when
    /// the answer to its first try was lost and it sent the write again.
    pub lost_answers: Cell<bool>,
    pub writes: RefCell<Vec<Handle>>,
    pub reads: RefCell<Vec<Handle>>,
}

impl<'a> Flaky<'a> {
    pub fn new(inner: &'a MemoryBackend, budget: Option<u64>) -> Self {
        Self {
            inner,
            writes_left: Cell::new(budget),
            lost_answers: Cell::new(false),
            writes: RefCell::new(Vec::new()),
            reads: RefCell::new(Vec::new()),
        }
    }
}

impl Storage for Flaky<'_> {
    fn properties(&self) -> StorageProperties {
        self.inner.properties()
    }
    async fn list(&self, kind: FileKind) -> Result<Vec<ObjectInfo>, IoError> {
        self.inner.list(kind).await
    }
    async fn read(&self, handle: &Handle, range: ReadRange) -> Result<Bytes, IoError> {
        self.reads.borrow_mut().push(*handle);
        self.inner.read(handle, range).await
    }
    async fn write(&self, handle: &Handle, data: Bytes, mode: WriteMode) -> Result<(), IoError> {
        if let Some(left) = self.writes_left.get() {
            if left == 0 {
                return Err(IoError::from_kind(IoErrorKind::Unavailable));
            }
            self.writes_left.set(Some(left - 1));
        }
        self.writes.borrow_mut().push(*handle);
        self.inner.write(handle, data, mode).await?;
        if mode == WriteMode::CreateNew && self.lost_answers.get() {
            return Err(IoError::from_kind(IoErrorKind::AlreadyExists));
        }
        Ok(())
    }
    async fn remove(&self, handle: &Handle) -> Result<(), IoError> {
        // Removals spend the same budget as writes: a crash may come between any two changes.
        if let Some(left) = self.writes_left.get() {
            if left == 0 {
                return Err(IoError::from_kind(IoErrorKind::Unavailable));
            }
            self.writes_left.set(Some(left - 1));
        }
        self.inner.remove(handle).await
    }
}

/// Records progress and warnings.
#[derive(Default)]
pub struct Recorder {
    pub warnings: Vec<String>,
    pub files: u64,
}

impl Progress for Recorder {
    fn file(&mut self, _path: &[u8], _size: u64, _status: FileStatus) {
        self.files += 1;
    }
    fn warning(&mut self, w: &Warning) {
        self.warnings.push(w.to_string());
    }
}

pub fn small_repo_options() -> InitOptions {
    let mut o = InitOptions::default();
    o.kdf = KdfParams::INSECURE_FOR_TESTS;
    o.pack_size = 64 * 1024;
    o.chunk_sizes = (4096, 16384, 65536);
    o
}
