//! The restorer: writes a snapshot, or a part of it, to a [`RestoreTarget`].
//!
//! How a restore runs:
//! - The path asked for is resolved in the snapshot. A directory (or `/`) has its *contents*
//!   restored into the target; a file or link is restored into the target under its own name.
//! - Trees are walked depth-first in name order. Every name is checked first: an invalid name
//!   (`..`, `/` inside, empty, NUL) or a duplicate is refused with a warning, so nothing is ever
//!   written outside the target.
//! - File contents are fetched pack by pack: the blobs the next files need (a window of
//!   8 MiB in restore order) are grouped by pack, and each group is read with as few
//!   reads as its layout allows (one span per run of blobs with gaps under 256 KiB), so a
//!   pack is read once even though its blobs are shuffled. Decrypting, decompressing and
//!   verifying run on the [`Worker`], a group per job, and blobs are written in file order.
//! - Files are written one at a time in restore order, but announced to the target a few
//!   files ahead ([`RestoreTarget::prepare_file`]), so that a target can create the next files
//!   while this one is written.
//! - **In place**: a file the target already holds with the snapshot's size and modification
//!   time, or with the snapshot's contents (each blob's length read and hashed to its id), is
//!   left alone and only given the snapshot's metadata, which also makes a second restore fast.
//!   Every other file is written beside what is there and put in its place only when complete
//!   (see [`RestoreTarget`]).
//! - A blob that is missing or damaged is reported. A file that existed is then left as it was;
//!   a new one is written with zeros in the damaged parts, so the rest keeps its place and size,
//!   and named in a warning.
//! - Directory metadata is applied at the end, children before parents, so that writing files
//!   does not disturb the restored modification times.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::future::Future;
use core::pin::Pin;

use embedded_io_async::Write;
use futures_util::stream::{FuturesUnordered, StreamExt};

use crate::backend::{FileKind, Handle, ReadRange, Storage};
use crate::blob::{BlobType, open_blob_in_place};
use crate::error::{Error, IoErrorKind, StorageOp};
use crate::id::{BlobId, PackId};
use crate::index::{BlobLocation, Index};
use crate::progress::{FileStatus, Progress, Warning, WarningKind};
use crate::repository::{Repository, storage_error};
use crate::snapshot::Snapshot;
use crate::source::{Present, RestoreTarget};
use crate::tree::{Node, NodeKind, TreeProblem};
use crate::walker::{Resolved, resolve};
use crate::worker::Worker;

/// What a restore did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RestoreStats {
    /// Files restored.
    pub files: u64,
    /// Directories restored.
    pub dirs: u64,
    /// Symbolic links restored.
    pub symlinks: u64,
    /// Bytes of file contents written.
    pub bytes: u64,
    /// Files the target held already with the snapshot's contents: left alone.
    pub unchanged: u64,
    /// Entries that could not be restored, or were restored with damaged parts (see warnings).
    pub errors: u64,
}

/// Restores `path` of `snapshot` into `target`.
pub async fn restore<S, T, W, P>(
    repo: &Repository<S>,
    index: &Index,
    snapshot: &Snapshot,
    path: &[u8],
    target: &mut T,
    worker: &W,
    progress: &mut P,
) -> Result<RestoreStats, Error>
where
    S: Storage,
    T: RestoreTarget,
    W: Worker,
    P: Progress,
{
    let resolved = resolve(repo, index, snapshot.tree, path).await?;
    let mut r = Restorer {
        repo,
        index,
        target,
        worker,
        progress,
        next_seq: 0,
        waiting: BTreeMap::new(),
        order: VecDeque::new(),
        waiting_bytes: 0,
        groups: FuturesUnordered::new(),
        max_groups: worker.threads().max(2),
        ready: BTreeMap::new(),
        next_write: 0,
        open: VecDeque::new(),
        prepared: 0,
        announced: 0,
        dirs: Vec::new(),
        spare: Vec::new(),
        spare_bytes: 0,
        stats: RestoreStats::default(),
    };
    match resolved {
        Resolved::Root(tree) => r.restore_dir(b"", tree).await?,
        Resolved::Node { node, .. } => match node.subtree() {
            Some(tree) => r.restore_dir(b"", tree).await?,
            None => r.restore_entry(node.name.clone(), &node).await?,
        },
    }
    r.drain().await?;
    let dirs = core::mem::take(&mut r.dirs);
    for (dir, node) in dirs {
        if let Err(e) = r.target.finish_dir(&dir, &node).await {
            r.fail(&dir, WarningKind::Unwritable(e));
        }
    }
    Ok(r.stats)
}

/// Bytes of blobs (plaintext) gathered in restore order before the oldest pack group is read.
/// Fetched blobs wait for their turn to be written, so peak memory is a few windows: 8 MiB
/// measured 40% less peak RSS than 16 MiB on the benchmark corpus, at the same speed.
pub(crate) const WINDOW: u64 = 8 * 1024 * 1024;
/// Blobs of one pack closer than this are read in one span, the gap read and dropped.
pub(crate) const MAX_GAP: u64 = 256 * 1024;
/// Files announced to the target ([`RestoreTarget::prepare_file`]) and not yet created: enough
/// to keep a background creator busy while one file is written, few enough to keep few open.
const PREPARE_AHEAD: usize = 32;
/// Files waiting for their turn to be written, at most: the window counts bytes, so without
/// this a run of empty or tiny files would queue without end.
const MAX_QUEUED_FILES: usize = 4096;
/// Spent buffers of at least this capacity are kept for the next blobs:
/// fresh large allocations come from newly mapped memory, and faulting its pages in cost
/// about a tenth of a restore's time. Smaller ones are cheap to allocate.
const SPARE_MIN: usize = 64 * 1024;
/// Bytes of spent buffers (plaintexts written, spans opened) kept for
/// reuse, at most: about what one window of blobs needs.
const SPARE_BYTES: usize = 2 * WINDOW as usize;

/// One blob to fetch for the file being written, numbered in write order.
#[derive(Debug, Clone, Copy)]
struct Request {
    seq: u64,
    id: BlobId,
    loc: BlobLocation,
}

type BlobResult = Result<Vec<u8>, (Error, u32)>;
/// A group's fetched blobs in request order, and the buffers it is done with.
type GroupJob<'a> = Pin<Box<dyn Future<Output = (Vec<(u64, BlobResult)>, Vec<Vec<u8>>)> + 'a>>;

/// Blobs of one pack read as one span, with the buffers to read and open them into.
struct Run {
    start: u64,
    len: u32,
    span: Vec<u8>,
    /// One per request.
    plains: Vec<Vec<u8>>,
    requests: Vec<Request>,
}

/// Opens the blobs of one run in its span (decrypted where they lie), each into its buffer of
/// `plains`; gives back the span, for reuse.
fn open_run(
    keys: &crate::Keys,
    start: u64,
    mut span: Vec<u8>,
    requests: &[Request],
    plains: Vec<Vec<u8>>,
) -> (Vec<(u64, BlobResult)>, Vec<u8>) {
    let mut opened: Vec<(u64, BlobResult)> = Vec::with_capacity(requests.len());
    let mut previous: Option<&Request> = None;
    for (r, mut plain) in requests.iter().zip(plains) {
        // The same blob again (a file that repeats a chunk): its bytes in the span are
        // decrypted already, so it is a copy of the one before (sorted by offset, it is next).
        let again = previous.is_some_and(|p| p.id == r.id && p.loc == r.loc);
        let result = match opened.last() {
            Some((_, Ok(data))) if again => {
                plain.clear();
                plain.extend_from_slice(data);
                Ok(plain)
            }
            Some((_, Err((e, _)))) if again => Err((same_error(e, r.id), r.loc.raw_len)),
            _ => {
                let from = (u64::from(r.loc.offset) - start) as usize;
                let sealed = span.get_mut(from..from + r.loc.length as usize).unwrap_or_default();
                open_blob_in_place(keys, BlobType::Data, r.id, sealed, r.loc.raw_len, &mut plain)
                    .map(|()| plain)
                    .map_err(|e| (e, r.loc.raw_len))
            }
        };
        opened.push((r.seq, result));
        previous = Some(r);
    }
    (opened, span)
}

/// The error of a blob's first copy, for a copy of it.
fn same_error(e: &Error, id: BlobId) -> Error {
    match e {
        Error::Corrupt { object, reason } => Error::Corrupt { object: *object, reason },
        Error::Decode { object, source } => Error::Decode { object: *object, source: source.clone() },
        _ => Error::corrupt(crate::ObjectKind::from(BlobType::Data), id, "damaged"),
    }
}

/// A file whose blobs are on their way; created when its first blob is written, so that only
/// one file is open however many the read window spans.
struct OpenFile<F> {
    path: Vec<u8>,
    file: Option<F>,
    node: Node,
    remaining: usize,
    ok: bool,
    /// Something was at its path before: kept if a blob turns out damaged.
    existed: bool,
    /// A blob of it was damaged or missing (written as zeros).
    damaged: bool,
    /// Announced to the target with `prepare_file`.
    prepared: bool,
}

struct Restorer<'a, 'r, S, T: RestoreTarget, W, P> {
    repo: &'a Repository<S>,
    index: &'a Index,
    target: &'r mut T,
    worker: &'a W,
    progress: &'r mut P,
    /// The number of the next blob request.
    next_seq: u64,
    /// Requests not yet read, by pack, in request order.
    waiting: BTreeMap<PackId, Vec<Request>>,
    /// (first request, pack) in request order, to find the oldest waiting group.
    order: VecDeque<(u64, PackId)>,
    waiting_bytes: u64,
    groups: FuturesUnordered<GroupJob<'a>>,
    max_groups: usize,
    /// Fetched blobs waiting for their turn to be written.
    ready: BTreeMap<u64, BlobResult>,
    next_write: u64,
    open: VecDeque<OpenFile<T::File>>,
    /// Files in `open` announced to the target and not created yet.
    prepared: usize,
    /// How many files at the front of `open` were announced (or created) already.
    announced: usize,
    dirs: Vec<(Vec<u8>, Node)>,
    /// Spent buffers, kept for the next blobs (see [`SPARE_MIN`]).
    spare: Vec<Vec<u8>>,
    /// Their capacity in bytes, at most [`SPARE_BYTES`].
    spare_bytes: usize,
    stats: RestoreStats,
}

fn join_relative(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(dir.len() + 1 + name.len());
    if !dir.is_empty() {
        p.extend_from_slice(dir);
        p.push(b'/');
    }
    p.extend_from_slice(name);
    p
}

impl<'a, 'r, S, T, W, P> Restorer<'a, 'r, S, T, W, P>
where
    S: Storage,
    T: RestoreTarget,
    W: Worker,
    P: Progress,
{
    fn fail(&mut self, path: &[u8], kind: WarningKind) {
        self.stats.errors += 1;
        self.progress.warning(&Warning { path: path.to_vec(), kind });
    }

    /// A write error that makes going on pointless (the target is full) ends the restore.
    fn fatal_or_warn(&mut self, path: &[u8], e: crate::IoError) -> Result<(), Error> {
        if e.kind() == IoErrorKind::StorageFull {
            return Err(Error::Target { path: path.to_vec(), source: e });
        }
        self.fail(path, WarningKind::Unwritable(e));
        Ok(())
    }

    async fn restore_dir(&mut self, dir: &[u8], tree_id: crate::BlobId) -> Result<(), Error> {
        let tree = match self.repo.load_tree(self.index, tree_id).await {
            Ok(t) => t,
            Err(e) => {
                self.fail(dir, WarningKind::Damaged(e));
                return Ok(());
            }
        };
        let mut refused = Vec::new();
        for problem in tree.validate() {
            let index = match problem {
                TreeProblem::BadName { index, .. } | TreeProblem::Unsorted { index } => index,
            };
            refused.push(index);
        }
        for (i, node) in tree.nodes.iter().enumerate() {
            if refused.contains(&i) {
                let shown = join_relative(dir, &node.name);
                self.fail(&shown, WarningKind::BadName);
                continue;
            }
            if self.progress.cancelled() {
                return Err(Error::Cancelled);
            }
            let path = join_relative(dir, &node.name);
            self.restore_entry(path, node).await?;
        }
        Ok(())
    }

    async fn restore_entry(&mut self, path: Vec<u8>, node: &Node) -> Result<(), Error> {
        match &node.kind {
            NodeKind::Dir { subtree } => {
                if let Err(e) = self.target.create_dir(&path).await {
                    return self.fatal_or_warn(&path, e);
                }
                Box::pin(self.restore_dir(&path, *subtree)).await?;
                self.stats.dirs += 1;
                self.dirs.push((path, node.clone()));
            }
            NodeKind::Symlink { target } => match self.target.create_symlink(&path, target, node).await {
                Ok(()) => self.stats.symlinks += 1,
                Err(e) => self.fatal_or_warn(&path, e)?,
            },
            NodeKind::File { content } => self.restore_file(path, node, content).await?,
        }
        Ok(())
    }

    async fn restore_file(&mut self, path: Vec<u8>, node: &Node, content: &[crate::BlobId]) -> Result<(), Error> {
        while self.open.len() >= MAX_QUEUED_FILES {
            if !self.order.is_empty() {
                self.start_oldest_group().await?;
            } else if !self.groups.is_empty() {
                self.finish_group().await?;
            } else {
                // Every blob the queued files need is fetched: writing them empties the queue.
                self.write_ready().await?;
                break;
            }
        }
        let existed = match self.target.present(&path).await {
            Ok(Present::Nothing) => false,
            Ok(Present::File { size, mtime }) if size == node.meta.size => {
                if mtime == node.meta.mtime || self.holds_contents(&path, content).await {
                    match self.target.keep_file(&path, node).await {
                        Ok(()) => {
                            self.stats.unchanged += 1;
                            self.progress.file(&path, size, FileStatus::Unmodified);
                        }
                        Err(e) => self.fatal_or_warn(&path, e)?,
                    }
                    return Ok(());
                }
                true
            }
            // Unknown counts as there: a damaged file never replaces what may be a good one.
            Ok(_) | Err(_) => true,
        };
        let remaining = content.len();
        self.open.push_back(OpenFile {
            path,
            file: None,
            node: node.clone(),
            remaining,
            ok: true,
            existed,
            damaged: false,
            prepared: false,
        });
        self.prepare_more();
        if content.is_empty() {
            // Created in its turn, after the files queued before it.
            return self.write_ready().await;
        }
        for &id in content {
            let seq = self.next_seq;
            self.next_seq += 1;
            match self.index.get(BlobType::Data, &id) {
                None => {
                    self.ready.insert(seq, Err((Error::BlobNotInIndex { kind: BlobType::Data, id }, 0)));
                }
                Some(loc) => {
                    let group = self.waiting.entry(loc.pack).or_default();
                    if group.is_empty() {
                        self.order.push_back((seq, loc.pack));
                    }
                    group.push(Request { seq, id, loc });
                    self.waiting_bytes += u64::from(loc.raw_len);
                }
            }
            while self.waiting_bytes > WINDOW {
                self.start_oldest_group().await?;
            }
            self.write_ready().await?;
        }
        Ok(())
    }

    /// Starts reading the pack of the oldest waiting request, with every request for it so far.
    async fn start_oldest_group(&mut self) -> Result<(), Error> {
        while self.groups.len() >= self.max_groups {
            self.finish_group().await?;
        }
        let pack = loop {
            let Some(&(seq, pack)) = self.order.front() else { return Ok(()) };
            self.order.pop_front();
            // Stale if that group was started already (a newer group of the pack starts later).
            if self.waiting.get(&pack).and_then(|g| g.first()).is_some_and(|r| r.seq == seq) {
                break pack;
            }
        };
        let Some(mut requests) = self.waiting.remove(&pack) else { return Ok(()) };
        self.waiting_bytes -= requests.iter().map(|r| u64::from(r.loc.raw_len)).sum::<u64>();
        requests.sort_unstable_by_key(|r| r.loc.offset);
        // One span for each run of blobs with small gaps, with kept buffers for its bytes and
        // its large plaintexts where some fit (the rest are allocated).
        let mut runs = Vec::new();
        let mut rest = &requests[..];
        while let Some(first) = rest.first() {
            let start = u64::from(first.loc.offset);
            let mut end = start + u64::from(first.loc.length);
            let mut n = 1;
            while let Some(next) = rest.get(n) {
                let next_start = u64::from(next.loc.offset);
                if next_start > end + MAX_GAP {
                    break;
                }
                end = end.max(next_start + u64::from(next.loc.length));
                n += 1;
            }
            let (run, tail) = rest.split_at(n);
            rest = tail;
            let len = u32::try_from(end - start).unwrap_or(u32::MAX);
            runs.push(Run {
                start,
                len,
                span: self.take_spare(len as usize),
                plains: run.iter().map(|r| self.take_spare(r.loc.raw_len as usize)).collect(),
                requests: run.to_vec(),
            });
        }
        let storage = self.repo.storage();
        let keys = Arc::clone(self.repo.keys());
        let worker = self.worker;
        self.groups.push(Box::pin(async move {
            let mut out = Vec::with_capacity(requests.len());
            let mut spent = Vec::new();
            for run in runs {
                let Run { start, len, span, plains, requests } = run;
                let handle = Handle::new(FileKind::Pack, pack);
                match storage.read_into(&handle, ReadRange::Span { offset: start, len }, span).await {
                    Err(e) => {
                        let message = alloc::string::ToString::to_string(&e);
                        for r in requests {
                            let e = crate::IoError::new(e.kind(), message.clone());
                            out.push((r.seq, Err((storage_error(StorageOp::Read, &handle, e), r.loc.raw_len))));
                        }
                    }
                    Ok(span) => {
                        let keys = Arc::clone(&keys);
                        let (opened, span) =
                            worker.spawn(move || open_run(&keys, start, span, &requests, plains)).await;
                        out.extend(opened);
                        spent.push(span);
                    }
                }
            }
            (out, spent)
        }));
        Ok(())
    }

    /// Waits for one group and writes what can be written.
    async fn finish_group(&mut self) -> Result<(), Error> {
        if let Some((blobs, spent)) = self.groups.next().await {
            self.ready.extend(blobs);
            for buffer in spent {
                self.keep_spare(buffer);
            }
        }
        self.write_ready().await
    }

    /// Reads and writes everything still waiting.
    async fn drain(&mut self) -> Result<(), Error> {
        while !self.order.is_empty() {
            self.start_oldest_group().await?;
        }
        while !self.groups.is_empty() {
            self.finish_group().await?;
        }
        self.write_ready().await
    }

    /// Writes fetched blobs in order, as far as they are there, and empty files in their turn.
    async fn write_ready(&mut self) -> Result<(), Error> {
        loop {
            // A file is popped after its last blob, so one at the front with none left is empty.
            if self.open.front().is_some_and(|f| f.remaining == 0) {
                if let Some(mut file) = self.pop_front() {
                    self.create(&mut file).await?;
                    self.prepare_more();
                    self.close_file(file).await?;
                }
                continue;
            }
            let Some(result) = self.ready.remove(&self.next_write) else { break };
            self.next_write += 1;
            self.write_blob(result).await?;
        }
        Ok(())
    }

    /// Announces the next files in line to the target, up to [`PREPARE_AHEAD`] not yet created.
    fn prepare_more(&mut self) {
        while self.prepared < PREPARE_AHEAD {
            let Some(f) = self.open.get_mut(self.announced) else { break };
            self.announced += 1;
            if f.ok && f.file.is_none() {
                self.target.prepare_file(&f.path, f.node.meta.size);
                f.prepared = true;
                self.prepared += 1;
            }
        }
    }

    /// The file at the front of the line, done with.
    fn pop_front(&mut self) -> Option<OpenFile<T::File>> {
        let file = self.open.pop_front()?;
        self.announced = self.announced.saturating_sub(1);
        Some(file)
    }

    /// Creates `file`, not created yet, on the target (a failure marks it as not written and
    /// is reported).
    async fn create(&mut self, file: &mut OpenFile<T::File>) -> Result<(), Error> {
        if core::mem::take(&mut file.prepared) {
            self.prepared -= 1;
        }
        match self.target.create_file(&file.path, file.node.meta.size).await {
            Ok(f) => file.file = Some(f),
            Err(e) => {
                file.ok = false;
                self.fatal_or_warn(&file.path, e)?;
            }
        }
        Ok(())
    }

    /// Writes the next blob to its file; closes the file after its last blob.
    async fn write_blob(&mut self, result: BlobResult) -> Result<(), Error> {
        let (data, damaged) = match result {
            Ok(data) => (data, None),
            Err((e, raw_len)) => (alloc::vec![0u8; raw_len as usize], Some(e)),
        };
        if self.open.front().is_some_and(|f| f.ok && f.file.is_none())
            && let Some(mut front) = self.open.pop_front()
        {
            let created = self.create(&mut front).await;
            self.open.push_front(front);
            created?;
            self.prepare_more();
        }
        let Some(front) = self.open.front_mut() else { return Ok(()) };
        let mut write_error = None;
        if front.ok
            && let Some(file) = front.file.as_mut()
            && let Err(e) = file.write_all(&data).await
        {
            front.ok = false;
            write_error = Some(e);
        }
        front.remaining -= 1;
        front.damaged |= damaged.is_some();
        let path = front.path.clone();
        let done = front.remaining == 0;
        self.stats.bytes += data.len() as u64;
        self.progress.bytes(data.len() as u64);
        self.keep_spare(data);
        if let Some(e) = damaged {
            self.fail(&path, WarningKind::Damaged(e));
        }
        if let Some(e) = write_error {
            self.fatal_or_warn(&path, e)?;
        }
        if done && let Some(file) = self.pop_front() {
            self.close_file(file).await?;
        }
        Ok(())
    }

    /// The smallest kept buffer that holds `len` bytes without growing, if `len` is large; else
    /// an empty one.
    fn take_spare(&mut self, len: usize) -> Vec<u8> {
        if len < SPARE_MIN {
            return Vec::new();
        }
        let best = self.spare.iter().enumerate().filter(|(_, b)| b.capacity() >= len).min_by_key(|(_, b)| b.capacity());
        match best.map(|(i, _)| i) {
            Some(i) => {
                let buffer = self.spare.swap_remove(i);
                self.spare_bytes -= buffer.capacity();
                buffer
            }
            None => Vec::new(),
        }
    }

    /// Keeps a spent buffer for later blobs, if large and there is room.
    fn keep_spare(&mut self, buffer: Vec<u8>) {
        let capacity = buffer.capacity();
        if capacity >= SPARE_MIN && self.spare_bytes + capacity <= SPARE_BYTES {
            self.spare_bytes += capacity;
            self.spare.push(buffer);
        }
    }

    /// True if the regular file at `path` holds exactly the blobs `content` (each blob's length
    /// read and hashed to its id; the caller compared the size). Any doubt says no.
    async fn holds_contents(&mut self, path: &[u8], content: &[crate::BlobId]) -> bool {
        let Ok(mut existing) = self.target.open_existing(path).await else { return false };
        let mut buf = Vec::new();
        for id in content {
            let Some(loc) = self.index.get(BlobType::Data, id) else { return false };
            buf.resize(loc.raw_len as usize, 0);
            if embedded_io_async::Read::read_exact(&mut existing, &mut buf).await.is_err() {
                return false;
            }
            if self.repo.keys().blob_id(&buf) != *id {
                return false;
            }
        }
        true
    }

    async fn close_file(&mut self, f: OpenFile<T::File>) -> Result<(), Error> {
        let OpenFile { path, file, node, ok, existed, damaged, .. } = f;
        let Some(file) = file else { return Ok(()) };
        if !ok || (damaged && existed) {
            // A write failed (reported already), or what was there may be a good copy: keep it
            // rather than a partial or damaged one.
            return match self.target.abandon_file(&path, file).await {
                Ok(()) if ok => {
                    self.progress.warning(&Warning { path, kind: WarningKind::KeptExisting });
                    Ok(())
                }
                Ok(()) => Ok(()),
                Err(e) => self.fatal_or_warn(&path, e),
            };
        }
        match self.target.finish_file(&path, file, &node).await {
            Ok(()) => {
                if ok {
                    self.stats.files += 1;
                }
                self.progress.file(&path, node.meta.size, FileStatus::New);
                Ok(())
            }
            Err(e) => self.fatal_or_warn(&path, e),
        }
    }
}
