//! The archiver: backs up a [`Source`] into a repository.
//!
//! How a backup runs:
//! 1. The paths to back up form a trie under a virtual root `/`; parent directories of the paths
//!    are stored with their owner and permissions, so several paths share one root tree (their
//!    times are kept from the parent snapshot while owner and permissions are unchanged).
//! 2. Directories are walked depth-first, each listing sorted by name. A file whose size, mtime,
//!    ctime and inode equal those in the **parent snapshot** (and whose blobs are all indexed)
//!    reuses its blob list without being read. Other files are read in pieces, cut by the
//!    [`Chunker`], and each chunk is hashed to its blob id.
//! 3. New blobs (not in the index and not already queued) are handed to the [`Worker`] to be
//!    compressed and sealed, several at a time. Sealed blobs go into a pack of their type; a full
//!    pack is laid out by a worker job and uploaded while the walk goes on.
//! 4. Every few stored packs an index object is written, so that after a crash the next backup
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

use bytes::Bytes;
use embedded_io_async::Read;
use futures_util::future::{Either, select};
use futures_util::stream::{FuturesOrdered, FuturesUnordered, StreamExt};
use rand_core::CryptoRng;

use crate::backend::{FileKind, Handle, Storage, WriteMode};
use crate::blob::{BlobType, SealedBlob, seal_blob_with};
use crate::chunker::Chunker;
use crate::compress::{Compression, Framer};
use crate::crypto::{Keys, NONCE_LEN};
use crate::error::{Error, StorageOp};
use crate::id::{BlobId, SnapshotId};
use crate::index::{Index, IndexBlob, IndexFile, IndexPack};
use crate::pack::{PackBuilder, PackEntry};
use crate::progress::{FileStatus, Progress, Warning, WarningKind};
use crate::repository::{Repository, random_bytes, storage_error};
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

    let mut archiver = Archiver {
        source,
        progress,
        chunker: Chunker::new(&repo.config().chunker),
        stats: BackupStats::default(),
        force_read: options.force_read,
        saver: Saver::new(repo, index, worker, rng, options.index_every_packs),
    };
    let root = archiver.save_trie(b"/", &trie, parent_root).await?;
    archiver.saver.finish().await?;
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
    saver: Saver<'a, 'r, S, W, R>,
}

fn same_owner_and_mode(old: &Metadata, new: &Metadata) -> bool {
    (old.mode, old.uid, old.gid, &old.user, &old.group) == (new.mode, new.uid, new.gid, &new.user, &new.group)
}

fn unchanged(old: &Metadata, new: &Metadata) -> bool {
    old.size == new.size && old.mtime == new.mtime && old.ctime == new.ctime && old.inode == new.inode
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
    async fn save_trie(&mut self, path: &[u8], trie: &PathTrie, parent: Option<BlobId>) -> Result<BlobId, Error> {
        if trie.whole {
            return self.save_dir(path, parent).await;
        }
        let parent = self.load_parent(parent).await;
        let mut nodes = Vec::with_capacity(trie.children.len());
        for (name, child) in &trie.children {
            let child_path = tree::join_path(path, name);
            let old = parent.as_ref().and_then(|t| t.find(name));
            let entry = self
                .source
                .stat(&child_path)
                .await
                .map_err(|source| Error::Source { path: child_path.clone(), source })?;
            if child.whole {
                if let Some(node) = self.save_entry(&child_path, entry, old).await? {
                    nodes.push(node);
                }
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
                nodes.push(Node { name: entry.name, kind: NodeKind::Dir { subtree }, meta });
            }
        }
        self.save_tree(Tree { nodes }).await
    }

    /// Stores a directory and everything below it; returns its tree blob id.
    async fn save_dir(&mut self, path: &[u8], parent: Option<BlobId>) -> Result<BlobId, Error> {
        let mut entries =
            self.source.read_dir(path).await.map_err(|source| Error::Source { path: path.to_vec(), source })?;
        entries.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        entries.dedup_by(|a, b| a.name == b.name);
        let parent = self.load_parent(parent).await;
        let mut nodes = Vec::with_capacity(entries.len());
        for entry in entries {
            let child_path = tree::join_path(path, &entry.name);
            if tree::validate_name(&entry.name).is_err() {
                self.stats.errors += 1;
                self.warn(&child_path, WarningKind::BadName);
                continue;
            }
            let old = parent.as_ref().and_then(|t| t.find(&entry.name));
            if let Some(node) = self.save_entry(&child_path, entry, old).await? {
                nodes.push(node);
            }
        }
        self.save_tree(Tree { nodes }).await
    }

    /// Stores one entry; `None` if it was left out (with a warning).
    async fn save_entry(&mut self, path: &[u8], entry: SourceEntry, old: Option<&Node>) -> Result<Option<Node>, Error> {
        let SourceEntry { name, kind, mut meta } = entry;
        match kind {
            EntryKind::File => {
                let old_content = match old {
                    Some(Node { kind: NodeKind::File { content }, meta: old_meta, .. }) => Some((content, old_meta)),
                    _ => None,
                };
                if let Some((content, old_meta)) = old_content
                    && !self.force_read
                    && unchanged(old_meta, &meta)
                    && content.iter().all(|id| self.saver.known(BlobType::Data, id))
                {
                    self.stats.files_unmodified += 1;
                    self.stats.bytes_total += meta.size;
                    self.progress.file(path, meta.size, FileStatus::Unmodified);
                    return Ok(Some(Node { name, kind: NodeKind::File { content: content.clone() }, meta }));
                }
                let status = if old_content.is_some() { FileStatus::Changed } else { FileStatus::New };
                let Some((content, size)) = self.save_file(path, meta.size).await? else { return Ok(None) };
                meta.size = size;
                match status {
                    FileStatus::Changed => self.stats.files_changed += 1,
                    _ => self.stats.files_new += 1,
                }
                self.stats.bytes_total += size;
                self.progress.file(path, size, status);
                Ok(Some(Node { name, kind: NodeKind::File { content }, meta }))
            }
            EntryKind::Dir => match Box::pin(self.save_dir(path, old.and_then(Node::subtree))).await {
                Ok(subtree) => {
                    self.stats.dirs += 1;
                    Ok(Some(Node { name, kind: NodeKind::Dir { subtree }, meta }))
                }
                Err(Error::Source { path, source }) => {
                    self.stats.errors += 1;
                    self.warn(&path, WarningKind::Unreadable(source));
                    Ok(None)
                }
                Err(e) => Err(e),
            },
            EntryKind::Symlink => match self.source.read_link(path).await {
                Ok(target) => {
                    self.stats.symlinks += 1;
                    Ok(Some(Node { name, kind: NodeKind::Symlink { target }, meta }))
                }
                Err(e) => {
                    self.stats.errors += 1;
                    self.warn(path, WarningKind::Unreadable(e));
                    Ok(None)
                }
            },
            EntryKind::Special(what) => {
                self.stats.skipped += 1;
                self.warn(path, WarningKind::Special(what));
                Ok(None)
            }
        }
    }

    /// Reads, chunks and stores one file; `None` if it could not be read (with a warning).
    async fn save_file(&mut self, path: &[u8], size_hint: u64) -> Result<Option<(Vec<BlobId>, u64)>, Error> {
        let mut file = match self.source.open(path).await {
            Ok(f) => f,
            Err(e) => {
                self.stats.errors += 1;
                self.warn(path, WarningKind::Unreadable(e));
                return Ok(None);
            }
        };
        self.chunker.reset();
        let chunk_capacity =
            (self.saver.repo.config().chunker.avg_size as usize * 2).min(self.chunker.max_size()) + READ_SIZE;
        let hint = usize::try_from(size_hint).unwrap_or(usize::MAX);
        let mut content = Vec::new();
        let mut buf: Vec<u8> = Vec::with_capacity(hint.saturating_add(1).min(chunk_capacity));
        let mut total: u64 = 0;
        loop {
            let start = buf.len();
            let expected_left = hint.saturating_sub(usize::try_from(total).unwrap_or(usize::MAX));
            let want = expected_left.saturating_add(1).clamp(MIN_READ, READ_SIZE);
            buf.resize(start + want, 0);
            let n = match file.read(buf.get_mut(start..).unwrap_or_default()).await {
                Ok(n) => n,
                Err(e) => {
                    self.stats.errors += 1;
                    self.warn(path, WarningKind::Unreadable(e));
                    return Ok(None);
                }
            };
            buf.truncate(start + n);
            if n == 0 {
                break;
            }
            total += n as u64;
            self.stats.bytes_read += n as u64;
            self.progress.bytes(n as u64);
            let mut scan = start;
            while let Some(cut) = self.chunker.next_boundary(buf.get(scan..).unwrap_or_default()) {
                let end = scan + cut;
                let mut next = Vec::with_capacity(chunk_capacity);
                next.extend_from_slice(buf.get(end..).unwrap_or_default());
                buf.truncate(end);
                let chunk = mem::replace(&mut buf, next);
                self.store_chunk(chunk, &mut content).await?;
                scan = 0;
            }
        }
        if !buf.is_empty() {
            self.store_chunk(buf, &mut content).await?;
        }
        Ok(Some((content, total)))
    }

    async fn store_chunk(&mut self, chunk: Vec<u8>, content: &mut Vec<BlobId>) -> Result<(), Error> {
        let id = self.saver.keys.blob_id(&chunk);
        content.push(id);
        self.saver.save_blob(BlobType::Data, id, chunk).await?;
        Ok(())
    }

    async fn save_tree(&mut self, tree: Tree) -> Result<BlobId, Error> {
        let bytes = tree.encode();
        let id = self.saver.keys.blob_id(&bytes);
        self.saver.save_blob(BlobType::Tree, id, bytes).await?;
        Ok(id)
    }
}

/// A pack that was stored.
struct StoredPack {
    id: crate::id::PackId,
    blob_type: BlobType,
    size: u64,
    entries: Vec<PackEntry>,
}

type SealJob<'a> = Pin<Box<dyn Future<Output = (SealedBlob, Framer)> + 'a>>;
type UploadJob<'a> = Pin<Box<dyn Future<Output = Result<StoredPack, Error>> + 'a>>;

/// Turns blobs into stored packs and index objects, keeping worker jobs and uploads in flight.
pub(crate) struct Saver<'a, 'r, S: Storage, W: Worker, R> {
    repo: &'a Repository<S>,
    index: &'r mut Index,
    worker: &'a W,
    rng: &'r mut R,
    keys: Arc<Keys>,
    compression: Compression,
    pack_size: usize,
    /// Blobs queued, sealing, in an open pack or uploading: known but not yet indexed.
    pending: BTreeSet<(BlobType, BlobId)>,
    sealing: FuturesOrdered<SealJob<'a>>,
    /// Plaintext bytes in the sealing jobs.
    sealing_bytes: usize,
    max_sealing: usize,
    max_sealing_bytes: usize,
    /// Compressors not in use by a job.
    framers: Vec<Framer>,
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
            sealing: FuturesOrdered::new(),
            sealing_bytes: 0,
            // Enough jobs in flight to keep every thread busy even with many small files, and a
            // byte budget that bounds memory whatever the chunk sizes.
            max_sealing: worker.threads().max(1) * 8 + 2,
            max_sealing_bytes: worker.threads().max(1) * 4 * 1024 * 1024,
            framers: Vec::new(),
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

    /// Queues a blob for storage unless it is already known. Returns true if it is new.
    pub(crate) async fn save_blob(&mut self, blob_type: BlobType, id: BlobId, data: Vec<u8>) -> Result<bool, Error> {
        if self.index.contains(blob_type, &id) || !self.pending.insert((blob_type, id)) {
            return Ok(false);
        }
        match blob_type {
            BlobType::Data => self.stats.data_blobs_new += 1,
            BlobType::Tree => self.stats.tree_blobs_new += 1,
        }
        self.stats.bytes_added_raw += data.len() as u64;
        let nonce: [u8; NONCE_LEN] = random_bytes(self.rng);
        let keys = Arc::clone(&self.keys);
        let mut framer = self.framers.pop().unwrap_or_else(|| Framer::new(self.compression));
        self.sealing_bytes += data.len();
        let job = self.worker.spawn(move || {
            let sealed = seal_blob_with(&keys, blob_type, id, &data, &mut framer, &nonce);
            (sealed, framer)
        });
        self.sealing.push_back(Box::pin(job));
        while self.sealing.len() > self.max_sealing || self.sealing_bytes > self.max_sealing_bytes {
            match self.next_sealed().await? {
                Some(sealed) => self.add_sealed(sealed).await?,
                None => break,
            }
        }
        Ok(true)
    }

    /// Waits for the oldest sealing job, handling uploads that finish meanwhile.
    async fn next_sealed(&mut self) -> Result<Option<SealedBlob>, Error> {
        loop {
            let done = if self.uploads.is_empty() {
                self.sealing.next().await
            } else {
                match select(self.sealing.next(), self.uploads.next()).await {
                    Either::Left((done, _)) => done,
                    Either::Right((stored, _)) => {
                        if let Some(stored) = stored {
                            self.pack_stored(stored?).await?;
                        }
                        continue;
                    }
                }
            };
            return Ok(done.map(|(sealed, framer)| {
                self.sealing_bytes -= sealed.raw_len as usize;
                self.framers.push(framer);
                sealed
            }));
        }
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
        let storage = self.repo.storage();
        self.uploads.push(Box::pin(async move {
            let pack = job.await;
            let handle = Handle::new(FileKind::Pack, pack.id);
            let size = pack.bytes.len() as u64;
            storage
                .write(&handle, Bytes::from(pack.bytes), WriteMode::Replace)
                .await
                .map_err(|e| storage_error(StorageOp::Write, &handle, e))?;
            Ok(StoredPack { id: pack.id, blob_type: pack.blob_type, size, entries: pack.entries })
        }));
        while self.uploads.len() > self.max_uploads {
            if let Some(stored) = self.uploads.next().await {
                self.pack_stored(stored?).await?;
            }
        }
        Ok(())
    }

    async fn pack_stored(&mut self, pack: StoredPack) -> Result<(), Error> {
        let blobs: Vec<IndexBlob> = pack.entries.iter().map(|e| IndexBlob::from(*e)).collect();
        self.index.add_pack(pack.id, pack.blob_type, pack.size, &blobs)?;
        for e in &pack.entries {
            self.pending.remove(&(pack.blob_type, e.id));
        }
        self.stats.packs_written += 1;
        self.unsaved.push(IndexPack { id: pack.id, blob_type: pack.blob_type, size: pack.size, blobs });
        if self.unsaved.len() >= self.index_every {
            self.write_index().await?;
        }
        Ok(())
    }

    async fn write_index(&mut self) -> Result<(), Error> {
        let file = IndexFile { packs: mem::take(&mut self.unsaved) };
        self.repo.save_index_file(&file, self.rng).await?;
        self.stats.index_files_written += 1;
        Ok(())
    }

    /// Seals, packs and stores everything still queued, and writes the last index object.
    pub(crate) async fn finish(&mut self) -> Result<(), Error> {
        while let Some(sealed) = self.next_sealed().await? {
            self.add_sealed(sealed).await?;
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
