//! The archiver: backs up a [`Source`] into a repository.
//!
//! How a backup runs:
//! 1. The paths to back up form a trie under a virtual root `/`; parent directories of the paths
//!    are stored with their owner and permissions, so several paths share one root tree (their
//!    times are kept from the parent snapshot while owner and permissions are unchanged).
//! 2. Directories are walked depth-first, each listing sorted by name. A file whose size, mtime,
//!    ctime and inode equal those in the **parent snapshot** (and whose blobs are all indexed)
//!    reuses its blob list without being read. Other files are read in pieces and cut by the
//!    [`Chunker`] on the calling task; everything else happens on the [`Worker`].
//! 3. Each chunk gets a job number, in order. Chunks go to the worker in batches (one large
//!    chunk, or small ones up to [`BATCH_BYTES`], so that many small files cost few thread
//!    hand-offs): the worker hashes each chunk to its blob id and, unless a filter of the ids
//!    indexed before the backup says the blob may already be stored, compresses and seals it
//!    straight away. Files are read into one buffer kept across files, and each chunk is copied
//!    out at exactly its size, so the bytes queued are the bytes counted against the budget.
//!    Results are taken back in job order; the
//!    calling task then settles duplicates exactly (the index and the blobs of this backup), so a
//!    blob is stored once even when the filter or a parallel job was wrong.
//! 4. A directory whose entries still wait for jobs is not encoded at once: it takes the next
//!    number and is encoded when its turn comes, when every job before it (its files and
//!    subdirectories) is done. Reading never waits for hashing, even across directories.
//! 5. Sealed blobs go into a pack of their type; a full pack is laid out by a worker job and
//!    uploaded while the walk goes on.
//! 6. Every few stored packs an index object is written, so that after a crash the next backup
//!    finds and reuses the packs already uploaded. The snapshot is written last, after every pack
//!    and index object it depends on: a snapshot that exists is complete.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::future::Future;
use core::mem;
use core::pin::Pin;

use embedded_io_async::Read;
use futures_util::future::{Either, select};
use futures_util::stream::{FuturesOrdered, FuturesUnordered, StreamExt};
use rand_core::CryptoRng;

use crate::backend::Storage;
use crate::blob::{BlobType, SealedBlob, seal_blob_with};
use crate::chunker::Chunker;
use crate::compress::{Compression, Framer};
use crate::crypto::{Keys, NONCE_LEN};
use crate::error::Error;
use crate::id::{BlobId, SnapshotId};
use crate::index::{Index, IndexFile, IndexPack};
use crate::pack::PackBuilder;
use crate::progress::{FileStatus, Progress, Warning, WarningKind};
use crate::repository::{Repository, random_bytes};
use crate::snapshot::{BackupStats, Snapshot};
use crate::source::{EntryKind, Source, SourceEntry};
use crate::time::Timestamp;
use crate::tree::{self, Metadata, Node, NodeKind, Tree};
use crate::worker::Worker;

/// Options for [`backup`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct BackupOptions {
    /// Absolute, normalized paths to back up.
    pub paths: Vec<Vec<u8>>,
    /// When the backup started (the snapshot's time).
    pub time: Timestamp,
    /// The host name recorded in the snapshot.
    pub hostname: String,
    /// The user name recorded in the snapshot.
    pub username: String,
    /// Tags recorded in the snapshot.
    pub tags: Vec<String>,
    /// The snapshot to compare against; unchanged files in it are not read again.
    pub parent: Option<SnapshotId>,
    /// Read every file even if the parent says it is unchanged.
    pub force_read: bool,
    /// The program and version recorded in the snapshot.
    pub program: String,
    /// The exclude patterns the source applies, recorded in the snapshot.
    pub excludes: Vec<String>,
    /// Write an index object after this many stored packs (at least 1).
    pub index_every_packs: usize,
    /// Before starting, adopt complete packs that no index lists (see
    /// [`Repository::adopt_unindexed_packs`]), so that an interrupted backup costs only the packs
    /// that were in flight.
    pub adopt_unindexed_packs: bool,
}

impl Default for BackupOptions {
    fn default() -> Self {
        Self {
            paths: Vec::new(),
            time: Timestamp::EPOCH,
            hostname: String::new(),
            username: String::new(),
            tags: Vec::new(),
            parent: None,
            force_read: false,
            program: String::new(),
            excludes: Vec::new(),
            index_every_packs: 4,
            adopt_unindexed_packs: true,
        }
    }
}

/// What [`backup`] produced.
#[derive(Debug, Clone)]
pub struct BackupResults {
    /// The new snapshot's id.
    pub snapshot_id: SnapshotId,
    /// The new snapshot.
    pub snapshot: Snapshot,
}

/// Small chunks are handed to the worker together until they hold this many bytes.
const BATCH_BYTES: usize = 256 * 1024;
/// At most this many chunks go into one batch.
const BATCH_CHUNKS: usize = 64;

/// Bytes asked of the source per read.
const READ_SIZE: usize = 512 * 1024;
/// The smallest read, so that a file that grew is noticed without many tiny reads.
const MIN_READ: usize = 8 * 1024;

/// Backs up `options.paths` from `source` into `repo`, adding new blobs to `index`.
pub async fn backup<S, Src, W, R, P>(
    repo: &Repository<S>,
    index: &mut Index,
    source: &mut Src,
    worker: &W,
    rng: &mut R,
    progress: &mut P,
    options: &BackupOptions,
) -> Result<BackupResults, Error>
where
    S: Storage,
    Src: Source,
    W: Worker,
    R: CryptoRng,
    P: Progress,
{
    if options.paths.is_empty() {
        return Err(Error::InvalidParameter { name: "paths", reason: "nothing to back up" });
    }
    let mut trie = PathTrie::default();
    for path in &options.paths {
        trie.insert(&tree::split_absolute(path)?);
    }
    let adopted = if options.adopt_unindexed_packs { repo.adopt_unindexed_packs(index, rng).await? } else { 0 };
    let parent_root = match options.parent {
        Some(id) => Some(repo.load_snapshot(id).await?.tree),
        None => None,
    };
    let mut paths: Vec<Vec<u8>> = options.paths.clone();
    paths.sort();
    paths.dedup();

    let chunker = Chunker::new(&repo.config().chunker);
    // The read buffer holds a few average chunks (or the largest, if smaller) plus a read, so
    // that moving a partial chunk to its front is rare; it grows only for a chunk larger than that.
    let read_capacity = (repo.config().chunker.avg_size as usize * 4).min(chunker.max_size()) + READ_SIZE;
    let mut archiver = Archiver {
        source,
        progress,
        chunker,
        stats: BackupStats::default(),
        force_read: options.force_read,
        read_buf: Vec::new(),
        read_capacity,
        saver: Saver::new(repo, index, worker, rng, options.index_every_packs),
    };
    let root = archiver.save_trie(b"/", &trie, parent_root).await?;
    archiver.saver.finish().await?;
    let root = archiver.saver.resolve(root)?;
    let mut stats = archiver.stats;
    archiver.saver.add_stats(&mut stats);
    stats.packs_adopted = adopted;
    drop(archiver);

    let snapshot = Snapshot {
        time: options.time,
        tree: root,
        paths,
        hostname: options.hostname.clone(),
        username: options.username.clone(),
        tags: options.tags.clone(),
        parent: options.parent,
        program: options.program.clone(),
        excludes: options.excludes.clone(),
        stats,
        lease: repo.storage().lease_token(),
    };
    let snapshot_id = repo.save_snapshot(&snapshot, rng).await?;
    Ok(BackupResults { snapshot_id, snapshot })
}

/// The backed-up paths, as a trie of path components. `whole` marks a path backed up entirely.
#[derive(Debug, Default)]
struct PathTrie {
    whole: bool,
    children: BTreeMap<Vec<u8>, PathTrie>,
}

impl PathTrie {
    fn insert(&mut self, components: &[&[u8]]) {
        if self.whole {
            return;
        }
        match components.split_first() {
            None => {
                self.whole = true;
                self.children.clear();
            }
            Some((first, rest)) => self.children.entry(first.to_vec()).or_default().insert(rest),
        }
    }
}

struct Archiver<'a, 'r, S: Storage, Src, W: Worker, R, P> {
    source: &'r mut Src,
    progress: &'r mut P,
    chunker: Chunker,
    stats: BackupStats,
    force_read: bool,
    /// Where files are read and chunked: kept across files, so its pages stay mapped. Each chunk
    /// is copied out into a buffer of its own size (the copy replaces the zero-filling of a
    /// fresh buffer), so what waits in the queue is exactly the bytes counted.
    read_buf: Vec<u8>,
    /// The read buffer's size before it grows for an unusually large chunk.
    read_capacity: usize,
    saver: Saver<'a, 'r, S, W, R>,
}

fn same_owner_and_mode(old: &Metadata, new: &Metadata) -> bool {
    (old.mode, old.uid, old.gid, &old.user, &old.group) == (new.mode, new.uid, new.gid, &new.user, &new.group)
}

fn unchanged(old: &Metadata, new: &Metadata) -> bool {
    old.size == new.size && old.mtime == new.mtime && old.ctime == new.ctime && old.inode == new.inode
}

/// A blob id, or the number of the job that will know it.
#[derive(Debug, Clone, Copy)]
enum BlobRef {
    Id(BlobId),
    Job(u64),
}

/// The chunks of a file: the jobs `first..first + count`.
#[derive(Debug, Clone, Copy)]
struct Jobs {
    first: u64,
    count: u64,
}

/// A directory being built: its nodes, some of which still wait for job results.
#[derive(Debug, Default)]
struct PendingTree {
    nodes: Vec<Node>,
    /// (node index, what fills it in).
    fills: Vec<(usize, Fill)>,
}

#[derive(Debug, Clone, Copy)]
enum Fill {
    Content(Jobs),
    Subtree(u64),
}

impl PendingTree {
    fn with_capacity(n: usize) -> Self {
        Self { nodes: Vec::with_capacity(n), fills: Vec::new() }
    }

    fn push_dir(&mut self, name: Vec<u8>, subtree: BlobRef, meta: Metadata) {
        let subtree = match subtree {
            BlobRef::Id(id) => id,
            BlobRef::Job(job) => {
                self.fills.push((self.nodes.len(), Fill::Subtree(job)));
                BlobId::default()
            }
        };
        self.nodes.push(Node { name, kind: NodeKind::Dir { subtree }, meta });
    }

    fn push_file(&mut self, name: Vec<u8>, jobs: Jobs, meta: Metadata) {
        if jobs.count > 0 {
            self.fills.push((self.nodes.len(), Fill::Content(jobs)));
        }
        self.nodes.push(Node { name, kind: NodeKind::File { content: Vec::new() }, meta });
    }
}

impl<'a, 'r, S, Src, W, R, P> Archiver<'a, 'r, S, Src, W, R, P>
where
    S: Storage,
    Src: Source,
    W: Worker,
    R: CryptoRng,
    P: Progress,
{
    fn warn(&mut self, path: &[u8], kind: WarningKind) {
        self.progress.warning(&Warning { path: path.to_vec(), kind });
    }

    async fn load_parent(&self, tree: Option<BlobId>) -> Option<Tree> {
        let id = tree?;
        self.saver.repo.load_tree(self.saver.index, id).await.ok()
    }

    /// Stores the part of the virtual root that leads to the backed-up paths.
    async fn save_trie(&mut self, path: &[u8], trie: &PathTrie, parent: Option<BlobId>) -> Result<BlobRef, Error> {
        if trie.whole {
            return self.save_dir(path, parent).await;
        }
        let parent = self.load_parent(parent).await;
        let mut tree = PendingTree::with_capacity(trie.children.len());
        for (name, child) in &trie.children {
            let child_path = tree::join_path(path, name);
            let old = parent.as_ref().and_then(|t| t.find(name));
            let entry = self
                .source
                .stat(&child_path)
                .await
                .map_err(|source| Error::Source { path: child_path.clone(), source })?;
            if child.whole {
                let reuse = self.reusable(old, &entry);
                self.save_entry(&child_path, entry, old, reuse, &mut tree).await?;
            } else {
                if entry.kind != EntryKind::Dir {
                    return Err(Error::Source {
                        path: child_path,
                        source: crate::IoError::from_kind(crate::IoErrorKind::NotFound),
                    });
                }
                let subtree = Box::pin(self.save_trie(&child_path, child, old.and_then(Node::subtree))).await?;
                self.stats.dirs += 1;
                // A parent directory of the backed-up paths is not itself backed up: its times
                // and size change with everything else in it (think /tmp or /home). Keep what the
                // parent snapshot recorded unless its owner or permissions changed, so that an
                // unchanged backup writes no new tree.
                let meta = match old {
                    Some(o) if o.is_dir() && same_owner_and_mode(&o.meta, &entry.meta) => o.meta.clone(),
                    _ => entry.meta,
                };
                tree.push_dir(entry.name, subtree, meta);
            }
        }
        self.saver.save_tree(tree).await
    }

    /// Stores a directory and everything below it.
    async fn save_dir(&mut self, path: &[u8], parent: Option<BlobId>) -> Result<BlobRef, Error> {
        let mut entries =
            self.source.read_dir(path).await.map_err(|source| Error::Source { path: path.to_vec(), source })?;
        entries.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        entries.dedup_by(|a, b| a.name == b.name);
        let parent = self.load_parent(parent).await;
        // Each entry's node in the parent snapshot, and the blobs it can reuse without reading.
        let olds: Vec<(Option<&Node>, Option<&Vec<BlobId>>)> = entries
            .iter()
            .map(|e| {
                let old = parent.as_ref().and_then(|t| t.find(&e.name));
                (old, self.reusable(old, e))
            })
            .collect();
        let to_read: Vec<(&[u8], u64)> = entries
            .iter()
            .zip(&olds)
            .filter(|(e, (_, reuse))| e.kind == EntryKind::File && e.meta.size > 0 && reuse.is_none())
            .map(|(e, _)| (e.name.as_slice(), e.meta.size))
            .collect();
        if !to_read.is_empty() {
            self.source.will_read(path, &to_read);
        }
        drop(to_read);
        let mut tree = PendingTree::with_capacity(entries.len());
        for (entry, (old, reuse)) in entries.into_iter().zip(olds) {
            if self.progress.cancelled() {
                return Err(Error::Cancelled);
            }
            let child_path = tree::join_path(path, &entry.name);
            if tree::validate_name(&entry.name).is_err() {
                self.stats.errors += 1;
                self.warn(&child_path, WarningKind::BadName);
                continue;
            }
            self.save_entry(&child_path, entry, old, reuse, &mut tree).await?;
        }
        self.saver.save_tree(tree).await
    }

    /// The content of the parent snapshot's `old` node if `entry`, a file, can reuse it without
    /// being read: same size, times and inode, and every blob still indexed.
    fn reusable<'n>(&self, old: Option<&'n Node>, entry: &SourceEntry) -> Option<&'n Vec<BlobId>> {
        match old {
            Some(Node { kind: NodeKind::File { content }, meta: old_meta, .. })
                if entry.kind == EntryKind::File
                    && !self.force_read
                    && unchanged(old_meta, &entry.meta)
                    && content.iter().all(|id| self.saver.known(BlobType::Data, id)) =>
            {
                Some(content)
            }
            _ => None,
        }
    }

    /// Stores one entry into `tree`, or leaves it out with a warning. `old` is its node in the
    /// parent snapshot and `reuse` what [`Self::reusable`] said of it.
    async fn save_entry(
        &mut self,
        path: &[u8],
        entry: SourceEntry,
        old: Option<&Node>,
        reuse: Option<&Vec<BlobId>>,
        tree: &mut PendingTree,
    ) -> Result<(), Error> {
        let SourceEntry { name, kind, mut meta } = entry;
        match kind {
            EntryKind::File => {
                if let Some(content) = reuse {
                    self.stats.files_unmodified += 1;
                    self.stats.bytes_total += meta.size;
                    self.progress.file(path, meta.size, FileStatus::Unmodified);
                    tree.nodes.push(Node { name, kind: NodeKind::File { content: content.clone() }, meta });
                    return Ok(());
                }
                let status = if matches!(old, Some(Node { kind: NodeKind::File { .. }, .. })) {
                    FileStatus::Changed
                } else {
                    FileStatus::New
                };
                let Some((jobs, size)) = self.save_file(path, meta.size).await? else { return Ok(()) };
                meta.size = size;
                match status {
                    FileStatus::Changed => self.stats.files_changed += 1,
                    _ => self.stats.files_new += 1,
                }
                self.stats.bytes_total += size;
                self.progress.file(path, size, status);
                tree.push_file(name, jobs, meta);
            }
            EntryKind::Dir => match Box::pin(self.save_dir(path, old.and_then(Node::subtree))).await {
                Ok(subtree) => {
                    self.stats.dirs += 1;
                    tree.push_dir(name, subtree, meta);
                }
                Err(Error::Source { path, source }) => {
                    self.stats.errors += 1;
                    self.warn(&path, WarningKind::Unreadable(source));
                }
                Err(e) => return Err(e),
            },
            EntryKind::Symlink => match self.source.read_link(path).await {
                Ok(target) => {
                    self.stats.symlinks += 1;
                    tree.nodes.push(Node { name, kind: NodeKind::Symlink { target }, meta });
                }
                Err(e) => {
                    self.stats.errors += 1;
                    self.warn(path, WarningKind::Unreadable(e));
                }
            },
            EntryKind::Special(what) => {
                self.stats.skipped += 1;
                self.warn(path, WarningKind::Special(what));
            }
        }
        Ok(())
    }

    /// Reads and chunks one file, one worker job per chunk; `None` if it could not be read (with
    /// a warning). Jobs already started for a file that fails halfway are harmless: their blobs
    /// are stored, just not referenced.
    async fn save_file(&mut self, path: &[u8], size_hint: u64) -> Result<Option<(Jobs, u64)>, Error> {
        let mut file = match self.source.open(path).await {
            Ok(f) => f,
            Err(e) => {
                self.stats.errors += 1;
                self.warn(path, WarningKind::Unreadable(e));
                return Ok(None);
            }
        };
        self.chunker.reset();
        let hint = usize::try_from(size_hint).unwrap_or(usize::MAX);
        let mut jobs = Jobs { first: self.saver.next_job, count: 0 };
        let mut buf = mem::take(&mut self.read_buf);
        // The chunk being read is `buf[begin..end]`; past `end` the contents are stale.
        let (mut begin, mut end) = (0, 0);
        let mut total: u64 = 0;
        let result = loop {
            let expected_left = hint.saturating_sub(usize::try_from(total).unwrap_or(usize::MAX));
            let want = expected_left.saturating_add(1).clamp(MIN_READ, READ_SIZE);
            if end + want > buf.len() {
                // Move the partial chunk to the front; grow only if it still does not fit.
                if begin > 0 {
                    buf.copy_within(begin..end, 0);
                    end -= begin;
                    begin = 0;
                }
                if end + want > buf.len() {
                    buf.resize((end + want).max(self.read_capacity), 0);
                }
            }
            let n = match file.read(buf.get_mut(end..end + want).unwrap_or_default()).await {
                Ok(n) => n,
                Err(e) => break Err(e),
            };
            if n == 0 {
                break Ok(());
            }
            let mut scan = end;
            end += n;
            total += n as u64;
            self.stats.bytes_read += n as u64;
            self.progress.bytes(n as u64);
            if self.progress.cancelled() {
                return Err(Error::Cancelled);
            }
            while let Some(cut) = self.chunker.next_boundary(buf.get(scan..end).unwrap_or_default()) {
                scan += cut;
                self.saver.save_chunk(buf.get(begin..scan).unwrap_or_default().to_vec()).await?;
                jobs.count += 1;
                begin = scan;
            }
        };
        let saved = match result {
            Ok(()) => {
                if begin < end {
                    self.saver.save_chunk(buf.get(begin..end).unwrap_or_default().to_vec()).await?;
                    jobs.count += 1;
                }
                Some((jobs, total))
            }
            Err(e) => {
                self.stats.errors += 1;
                self.warn(path, WarningKind::Unreadable(e));
                None
            }
        };
        // A buffer grown for one huge chunk is not kept.
        if buf.len() <= self.read_capacity {
            self.read_buf = buf;
        }
        Ok(saved)
    }
}

/// What a worker job (or a turn in the job order) produced.
enum Done {
    /// A batch of chunks, in job order.
    Chunks { chunks: Vec<ChunkDone>, framer: Framer },
    /// A blob whose id was known when it was queued, sealed.
    Sealed { sealed: SealedBlob, framer: Framer },
    /// The turn of directory `job`: every job before it is done.
    Tree { job: u64 },
}

/// One chunk of a batch, hashed to `id`: sealed, or handed back because the filter says it may
/// already be stored.
struct ChunkDone {
    job: u64,
    id: BlobId,
    raw_len: usize,
    sealed: Result<SealedBlob, Vec<u8>>,
}

/// A chunk waiting for its batch to be handed to the worker.
struct QueuedChunk {
    job: u64,
    data: Vec<u8>,
    nonce: [u8; NONCE_LEN],
}

type Job<'a> = Pin<Box<dyn Future<Output = Done> + 'a>>;
type UploadJob<'a> = Pin<Box<dyn Future<Output = Result<IndexPack, Error>> + 'a>>;

/// The ids of the data blobs indexed before the backup started, as sorted 64-bit prefixes: a
/// worker that finds a chunk's prefix here hands the chunk back instead of compressing it (the
/// calling task then checks the index itself). 8 bytes per blob, built at the first chunk.
type KnownFilter = Arc<Vec<u64>>;

fn id_prefix(id: &BlobId) -> u64 {
    let b = &id.0.0;
    u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
}

/// Turns chunks and trees into stored packs and index objects, keeping worker jobs and uploads
/// in flight. See the [module docs](self) for the order of events.
pub(crate) struct Saver<'a, 'r, S: Storage, W: Worker, R> {
    repo: &'a Repository<S>,
    index: &'r mut Index,
    worker: &'a W,
    rng: &'r mut R,
    keys: Arc<Keys>,
    compression: Compression,
    pack_size: usize,
    /// Blobs settled as new and not yet indexed (sealing, in an open pack or uploading).
    pending: BTreeSet<(BlobType, BlobId)>,
    /// Jobs and directory turns, taken back in order.
    jobs: FuturesOrdered<Job<'a>>,
    /// The number of the next chunk job or directory.
    next_job: u64,
    /// Ids of finished jobs not yet written into their directory.
    resolved: BTreeMap<u64, BlobId>,
    /// Directories waiting for their turn.
    trees: BTreeMap<u64, PendingTree>,
    known_filter: Option<KnownFilter>,
    /// Plaintext bytes in the jobs.
    job_bytes: usize,
    max_jobs: usize,
    max_job_bytes: usize,
    /// Compressors not in use by a job.
    framers: Vec<Framer>,
    /// Chunks not yet handed to the worker, and their bytes.
    batch: Vec<QueuedChunk>,
    batch_bytes: usize,
    data_pack: PackBuilder,
    tree_pack: PackBuilder,
    uploads: FuturesUnordered<UploadJob<'a>>,
    max_uploads: usize,
    /// Stored packs not yet written to an index object.
    unsaved: Vec<IndexPack>,
    index_every: usize,
    stats: BackupStats,
}

impl<'a, 'r, S: Storage, W: Worker, R: CryptoRng> Saver<'a, 'r, S, W, R> {
    pub(crate) fn new(
        repo: &'a Repository<S>,
        index: &'r mut Index,
        worker: &'a W,
        rng: &'r mut R,
        index_every: usize,
    ) -> Self {
        Self {
            repo,
            index,
            worker,
            rng,
            keys: Arc::clone(repo.keys()),
            compression: repo.config().compression,
            pack_size: repo.config().pack_size as usize,
            pending: BTreeSet::new(),
            jobs: FuturesOrdered::new(),
            next_job: 0,
            resolved: BTreeMap::new(),
            trees: BTreeMap::new(),
            known_filter: None,
            job_bytes: 0,
            // Enough jobs in flight to keep every thread busy even with many small files, and a
            // byte budget that bounds memory whatever the chunk sizes. Each queued job holds a
            // compressor (a zstd context grows to a few MiB), so the count stays small.
            max_jobs: worker.threads().max(1) * 4 + 2,
            max_job_bytes: worker.threads().max(1) * 4 * 1024 * 1024,
            framers: Vec::new(),
            batch: Vec::new(),
            batch_bytes: 0,
            data_pack: PackBuilder::new(BlobType::Data),
            tree_pack: PackBuilder::new(BlobType::Tree),
            uploads: FuturesUnordered::new(),
            max_uploads: repo.storage().properties().connections.clamp(1, 8),
            unsaved: Vec::new(),
            index_every: index_every.max(1),
            stats: BackupStats::default(),
        }
    }

    fn packer(&mut self, t: BlobType) -> &mut PackBuilder {
        match t {
            BlobType::Data => &mut self.data_pack,
            BlobType::Tree => &mut self.tree_pack,
        }
    }

    fn known(&self, blob_type: BlobType, id: &BlobId) -> bool {
        self.index.contains(blob_type, id) || self.pending.contains(&(blob_type, *id))
    }

    fn framer(&mut self) -> Framer {
        self.framers.pop().unwrap_or_else(|| Framer::new(self.compression))
    }

    fn filter(&mut self) -> KnownFilter {
        let index = &*self.index;
        let filter = self.known_filter.get_or_insert_with(|| {
            let mut prefixes: Vec<u64> =
                index.iter().filter(|(t, _, _)| *t == BlobType::Data).map(|(_, id, _)| id_prefix(&id)).collect();
            prefixes.sort_unstable();
            prefixes.dedup();
            Arc::new(prefixes)
        });
        Arc::clone(filter)
    }

    /// Queues a chunk of file data: a worker hashes it and, if it is likely new, seals it.
    async fn save_chunk(&mut self, data: Vec<u8>) -> Result<(), Error> {
        let job = self.next_job;
        self.next_job += 1;
        let nonce: [u8; NONCE_LEN] = random_bytes(self.rng);
        self.job_bytes += data.len();
        self.batch_bytes += data.len();
        self.batch.push(QueuedChunk { job, data, nonce });
        if self.batch_bytes >= BATCH_BYTES || self.batch.len() >= BATCH_CHUNKS {
            self.send_batch();
        }
        self.wait_for_room().await
    }

    /// Hands the queued chunks to the worker as one job.
    fn send_batch(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let batch = mem::take(&mut self.batch);
        self.batch_bytes = 0;
        let keys = Arc::clone(&self.keys);
        let filter = self.filter();
        let mut framer = self.framer();
        let work = self.worker.spawn(move || {
            let mut chunks = Vec::with_capacity(batch.len());
            for QueuedChunk { job, data, nonce } in batch {
                let id = keys.blob_id(&data);
                let raw_len = data.len();
                let sealed = if filter.binary_search(&id_prefix(&id)).is_ok() {
                    Err(data)
                } else {
                    Ok(seal_blob_with(&keys, BlobType::Data, id, &data, &mut framer, &nonce))
                };
                chunks.push(ChunkDone { job, id, raw_len, sealed });
            }
            Done::Chunks { chunks, framer }
        });
        self.jobs.push_back(Box::pin(work));
    }

    /// Queues a blob whose id is known and that is not yet stored, to be sealed by a worker.
    fn seal(&mut self, blob_type: BlobType, id: BlobId, data: Vec<u8>) {
        self.pending.insert((blob_type, id));
        match blob_type {
            BlobType::Data => self.stats.data_blobs_new += 1,
            BlobType::Tree => self.stats.tree_blobs_new += 1,
        }
        self.stats.bytes_added_raw += data.len() as u64;
        let keys = Arc::clone(&self.keys);
        let mut framer = self.framer();
        let nonce: [u8; NONCE_LEN] = random_bytes(self.rng);
        self.job_bytes += data.len();
        let work = self.worker.spawn(move || {
            let sealed = seal_blob_with(&keys, blob_type, id, &data, &mut framer, &nonce);
            Done::Sealed { sealed, framer }
        });
        self.jobs.push_back(Box::pin(work));
    }

    /// Stores a directory: at once if none of its entries waits for a job, else at its turn.
    async fn save_tree(&mut self, tree: PendingTree) -> Result<BlobRef, Error> {
        if tree.fills.is_empty() {
            let id = self.encode_tree(tree.nodes);
            // Its sealing job counts like any other: without this, a tree of empty files would
            // queue every directory's tree unbounded.
            self.wait_for_room().await?;
            return Ok(BlobRef::Id(id));
        }
        // Every job before the directory's turn must be on its way.
        self.send_batch();
        let job = self.next_job;
        self.next_job += 1;
        self.trees.insert(job, tree);
        self.jobs.push_back(Box::pin(core::future::ready(Done::Tree { job })));
        self.wait_for_room().await?;
        Ok(BlobRef::Job(job))
    }

    /// Encodes a tree, queues it for sealing if new and returns its id.
    fn encode_tree(&mut self, nodes: Vec<Node>) -> BlobId {
        let bytes = Tree { nodes }.encode();
        let id = self.keys.blob_id(&bytes);
        if !self.known(BlobType::Tree, &id) {
            self.seal(BlobType::Tree, id, bytes);
        }
        id
    }

    fn take_resolved(&mut self, job: u64) -> Result<BlobId, Error> {
        self.resolved.remove(&job).ok_or(Error::InvalidParameter {
            name: "backup pipeline",
            reason: "a directory's turn came before its entries (a bug in the archiver)",
        })
    }

    /// The id `r` stands for, once its job is done.
    fn resolve(&mut self, r: BlobRef) -> Result<BlobId, Error> {
        match r {
            BlobRef::Id(id) => Ok(id),
            BlobRef::Job(job) => self.take_resolved(job),
        }
    }

    /// Takes back finished jobs while too many are in flight.
    async fn wait_for_room(&mut self) -> Result<(), Error> {
        while self.jobs.len() > self.max_jobs || self.job_bytes > self.max_job_bytes {
            self.send_batch();
            match self.next_done().await? {
                Some(done) => self.settle(done).await?,
                None => break,
            }
        }
        Ok(())
    }

    /// Waits for the oldest job, handling uploads that finish meanwhile.
    async fn next_done(&mut self) -> Result<Option<Done>, Error> {
        loop {
            if self.uploads.is_empty() {
                return Ok(self.jobs.next().await);
            }
            match select(self.jobs.next(), self.uploads.next()).await {
                Either::Left((done, _)) => return Ok(done),
                Either::Right((stored, _)) => {
                    if let Some(stored) = stored {
                        self.pack_stored(stored?).await?;
                    }
                }
            }
        }
    }

    /// Handles a job result in job order.
    async fn settle(&mut self, done: Done) -> Result<(), Error> {
        match done {
            Done::Chunks { chunks, framer } => {
                self.framers.push(framer);
                for ChunkDone { job, id, raw_len, sealed } in chunks {
                    self.job_bytes -= raw_len;
                    self.resolved.insert(job, id);
                    if self.known(BlobType::Data, &id) {
                        continue;
                    }
                    match sealed {
                        Ok(sealed) => {
                            self.pending.insert((BlobType::Data, id));
                            self.stats.data_blobs_new += 1;
                            self.stats.bytes_added_raw += raw_len as u64;
                            self.add_sealed(sealed).await?;
                        }
                        // The filter was wrong (or the blob is a duplicate of one in flight).
                        Err(data) => self.seal(BlobType::Data, id, data),
                    }
                }
            }
            Done::Sealed { sealed, framer } => {
                self.job_bytes -= sealed.raw_len as usize;
                self.framers.push(framer);
                self.add_sealed(sealed).await?;
            }
            Done::Tree { job } => {
                let mut tree = self.trees.remove(&job).unwrap_or_default();
                for (node, fill) in mem::take(&mut tree.fills) {
                    let kind = match fill {
                        Fill::Content(jobs) => {
                            let mut content = Vec::with_capacity(usize::try_from(jobs.count).unwrap_or(0));
                            for j in jobs.first..jobs.first + jobs.count {
                                content.push(self.take_resolved(j)?);
                            }
                            NodeKind::File { content }
                        }
                        Fill::Subtree(j) => NodeKind::Dir { subtree: self.take_resolved(j)? },
                    };
                    if let Some(n) = tree.nodes.get_mut(node) {
                        n.kind = kind;
                    }
                }
                let id = self.encode_tree(tree.nodes);
                self.resolved.insert(job, id);
            }
        }
        Ok(())
    }

    async fn add_sealed(&mut self, blob: SealedBlob) -> Result<(), Error> {
        self.stats.bytes_added_stored += blob.bytes.len() as u64;
        let t = blob.blob_type;
        let packer = self.packer(t);
        packer.add(blob);
        if packer.size() >= self.pack_size {
            self.finish_pack(t).await?;
        }
        Ok(())
    }

    /// Closes the open pack of type `t` and starts its upload.
    async fn finish_pack(&mut self, t: BlobType) -> Result<(), Error> {
        let mut builder = mem::replace(self.packer(t), PackBuilder::new(t));
        if builder.is_empty() {
            return Ok(());
        }
        let rng = &mut *self.rng;
        builder.shuffle(|| rng.next_u64());
        let nonce: [u8; NONCE_LEN] = random_bytes(self.rng);
        let keys = Arc::clone(&self.keys);
        let job = self.worker.spawn(move || builder.finish(&keys, &nonce));
        let repo = self.repo;
        self.uploads.push(Box::pin(async move { repo.store_pack(job.await).await }));
        // At most `max_uploads` packs in flight: each is up to a pack size of memory.
        while self.uploads.len() >= self.max_uploads {
            if let Some(stored) = self.uploads.next().await {
                self.pack_stored(stored?).await?;
            }
        }
        Ok(())
    }

    async fn pack_stored(&mut self, pack: IndexPack) -> Result<(), Error> {
        self.index.add_pack(pack.id, pack.blob_type, pack.size, &pack.blobs)?;
        for b in &pack.blobs {
            self.pending.remove(&(pack.blob_type, b.id));
        }
        self.stats.packs_written += 1;
        self.unsaved.push(pack);
        if self.unsaved.len() >= self.index_every {
            self.write_index().await?;
        }
        Ok(())
    }

    async fn write_index(&mut self) -> Result<(), Error> {
        let file = IndexFile::of(mem::take(&mut self.unsaved));
        self.repo.save_index_file(&file, self.rng).await?;
        self.stats.index_files_written += 1;
        Ok(())
    }

    /// Settles every job, packs and stores everything still queued, and writes the last index
    /// object.
    pub(crate) async fn finish(&mut self) -> Result<(), Error> {
        self.send_batch();
        while let Some(done) = self.next_done().await? {
            self.settle(done).await?;
        }
        self.finish_pack(BlobType::Data).await?;
        self.finish_pack(BlobType::Tree).await?;
        while let Some(stored) = self.uploads.next().await {
            self.pack_stored(stored?).await?;
        }
        if !self.unsaved.is_empty() {
            self.write_index().await?;
        }
        Ok(())
    }

    fn add_stats(&self, stats: &mut BackupStats) {
        stats.data_blobs_new += self.stats.data_blobs_new;
        stats.tree_blobs_new += self.stats.tree_blobs_new;
        stats.bytes_added_raw += self.stats.bytes_added_raw;
        stats.bytes_added_stored += self.stats.bytes_added_stored;
        stats.packs_written += self.stats.packs_written;
        stats.index_files_written += self.stats.index_files_written;
    }
}
