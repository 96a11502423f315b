//! Repair: a way out when objects are lost or damaged.
//!
//! - [`rebuild_index`] replaces every index object with new ones built from the packs
//!   themselves: each pack's header (read from its tail and authenticated) lists its blobs. It
//!   recovers from lost or damaged index objects. Order: new index objects first, then the old
//!   ones are removed, so a crash at any moment leaves an index at least as complete as before.
//! - [`repair_snapshots`] rewrites snapshots that cannot be restored whole. Walking each
//!   snapshot's trees, it drops a file any of whose data blobs is missing from the index (or
//!   listed as damaged by the caller, typically from a `check` that read the data), empties a
//!   directory whose tree cannot be loaded, and drops entries with invalid or duplicate names.
//!   Everything else is kept as it was. Each changed tree is stored anew, then the new snapshot
//!   (tagged `repaired`), then, unless asked to keep it, the original is removed. Every drop is
//!   reported with its snapshot and path.
//!
//! Both need the exclusive lock (see [`crate::LockInfo`]): no backup may write while the index is
//! replaced.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use rand_core::CryptoRng;

use crate::backend::{FileKind, Handle, Storage};
use crate::blob::{BlobType, seal_blob};
use crate::error::Error;
use crate::id::{BlobId, IndexId, PackId, SnapshotId};
use crate::index::{Index, IndexFile, IndexPack};
use crate::pack::PackBuilder;
use crate::progress::Progress;
use crate::pruner::{PACKS_PER_INDEX_FILE, write_pack};
use crate::repository::{Repository, random_bytes};
use crate::tree::{self, Node, NodeKind, Tree, TreeProblem};

/// The outcome of [`rebuild_index`].
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct RebuildIndexResults {
    /// Packs whose header opened, now indexed.
    pub packs_indexed: u64,
    /// Blobs they hold.
    pub blobs_indexed: u64,
    /// Packs whose header could not be read or authenticated, and why. They are left in
    /// storage, unindexed (a later prune deletes them).
    pub packs_unreadable: Vec<(PackId, Error)>,
    /// Index objects written.
    pub index_files_written: u64,
    /// Old index objects removed.
    pub index_files_removed: u64,
}

/// Rebuilds the index from the packs' headers (see the [module docs](self)).
pub async fn rebuild_index<S: Storage, R: CryptoRng + ?Sized, P: Progress>(
    repo: &Repository<S>,
    rng: &mut R,
    progress: &mut P,
) -> Result<RebuildIndexResults, Error> {
    // The old index objects are listed before the packs: every pack they list was stored
    // before them, so it is in the pack listing too.
    let old: Vec<IndexId> = repo.list(FileKind::Index).await?.into_iter().map(IndexId).collect();
    // What the readable ones condemn stays condemned (a prune that lost its lease may still
    // delete those packs), and the snapshots they record as forgotten stay recorded.
    let (mut condemned, mut forgotten) = (BTreeSet::new(), BTreeSet::new());
    for id in &old {
        if let Ok(file) = repo.load_index_file(*id).await {
            condemned.extend(file.condemned);
            forgotten.extend(file.forgotten);
        }
    }
    let packs: Vec<_> =
        repo.list_objects(FileKind::Pack).await?.into_iter().filter(|p| !condemned.contains(&PackId(p.id))).collect();
    let mut results = RebuildIndexResults::default();
    let mut indexed: Vec<IndexPack> = Vec::with_capacity(packs.len());
    let total = packs.len() as u64;
    for (done, info) in packs.into_iter().enumerate() {
        let id = PackId(info.id);
        match repo.index_entry_from_header(id, info.size).await {
            Ok(pack) => {
                results.packs_indexed += 1;
                results.blobs_indexed += pack.blobs.len() as u64;
                indexed.push(pack);
            }
            Err(error) => results.packs_unreadable.push((id, error)),
        }
        progress.step(done as u64 + 1, total);
    }
    let mut files: Vec<IndexFile> = indexed.chunks(PACKS_PER_INDEX_FILE).map(|c| IndexFile::of(c.to_vec())).collect();
    if files.is_empty() && !(condemned.is_empty() && forgotten.is_empty()) {
        files.push(IndexFile::default());
    }
    if let Some(first) = files.first_mut() {
        first.condemned = condemned.into_iter().collect();
        first.forgotten = forgotten.into_iter().collect();
    }
    let mut written = BTreeSet::new();
    for file in &files {
        written.insert(repo.save_index_file(file, rng).await?);
    }
    results.index_files_written = written.len() as u64;
    for id in old.iter().filter(|id| !written.contains(id)) {
        repo.remove_object(&Handle::new(FileKind::Index, *id)).await?;
        results.index_files_removed += 1;
    }
    Ok(results)
}

/// Options for [`repair_snapshots`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct RepairOptions {
    /// Only these snapshots (all if empty).
    pub snapshots: Vec<SnapshotId>,
    /// Blobs known to be damaged (in the index, but failing to open), as `check` with data
    /// verification reports them. Files using one are dropped as if it were missing, and
    /// directories whose tree is one are emptied.
    pub damaged: BTreeSet<(BlobType, BlobId)>,
    /// Keep the original snapshots next to the repaired ones.
    pub keep_original: bool,
    /// Work out and report everything, write nothing.
    pub dry_run: bool,
}

/// Why something was left out of a repaired snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RepairReason {
    /// A file's data blob is missing from the index.
    BlobMissing(BlobId),
    /// A file's data blob is damaged.
    BlobDamaged(BlobId),
    /// A directory's tree is missing, damaged or does not decode; its contents are gone.
    TreeUnreadable(BlobId, String),
    /// An entry's name is invalid, duplicate or out of order.
    InvalidEntry(TreeProblem),
}

impl core::fmt::Display for RepairReason {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::BlobMissing(b) => write!(f, "file dropped: its data blob {} is missing", b.short()),
            Self::BlobDamaged(b) => write!(f, "file dropped: its data blob {} is damaged", b.short()),
            Self::TreeUnreadable(t, why) => {
                write!(f, "directory emptied: its tree {} cannot be read ({why})", t.short())
            }
            Self::InvalidEntry(p) => write!(f, "entry dropped: {p}"),
        }
    }
}

/// One thing left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepairDrop {
    /// The path in the snapshot.
    pub path: Vec<u8>,
    /// Why.
    pub reason: RepairReason,
}

/// What happened to one damaged snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotRepair {
    /// The original.
    pub original: SnapshotId,
    /// The repaired snapshot (`None` in a dry run).
    pub repaired: Option<SnapshotId>,
    /// Whether the original was removed.
    pub original_removed: bool,
    /// What was left out.
    pub dropped: Vec<RepairDrop>,
}

/// The outcome of [`repair_snapshots`].
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct RepairResults {
    /// Snapshots looked at.
    pub snapshots_checked: u64,
    /// The damaged ones and what was done.
    pub repaired: Vec<SnapshotRepair>,
    /// Snapshots that cannot be read at all (nothing to rewrite: `forget` them).
    pub unreadable: Vec<(SnapshotId, Error)>,
    /// Tree blobs written.
    pub trees_written: u64,
}

/// Rewrites damaged snapshots (see the [module docs](self)).
pub async fn repair_snapshots<S: Storage, R: CryptoRng + ?Sized>(
    repo: &Repository<S>,
    index: &Index,
    options: &RepairOptions,
    rng: &mut R,
) -> Result<RepairResults, Error> {
    let mut results = RepairResults::default();
    let ids: Vec<SnapshotId> = if options.snapshots.is_empty() {
        repo.list(FileKind::Snapshot).await?.into_iter().map(SnapshotId).collect()
    } else {
        options.snapshots.clone()
    };
    let mut fixer = Fixer { repo, index, damaged: &options.damaged, memo: BTreeMap::new(), new_trees: BTreeMap::new() };
    let mut pending: Vec<(SnapshotId, crate::snapshot::Snapshot, Vec<RepairDrop>)> = Vec::new();
    for id in ids {
        results.snapshots_checked += 1;
        let mut snapshot = match repo.load_snapshot(id).await {
            Ok(s) => s,
            Err(e) => {
                results.unreadable.push((id, e));
                continue;
            }
        };
        let (root, drops, held) = fixer.dir(snapshot.tree).await?;
        if drops.is_empty() {
            continue;
        }
        // The stats tell what the repaired snapshot holds, as a backup that read nothing
        // (its files are all the original's).
        let stats = &mut snapshot.stats;
        (stats.files_new, stats.files_changed, stats.files_unmodified) = (0, 0, held.files);
        (stats.dirs, stats.symlinks, stats.bytes_total) = (held.dirs, held.symlinks, held.bytes);
        (stats.bytes_read, stats.data_blobs_new, stats.bytes_added_raw, stats.bytes_added_stored) = (0, 0, 0, 0);
        let dropped =
            drops.iter().map(|(rel, reason)| RepairDrop { path: absolute(rel), reason: reason.clone() }).collect();
        snapshot.tree = root;
        if !snapshot.tags.iter().any(|t| t == "repaired") {
            snapshot.tags.push("repaired".to_string());
        }
        snapshot.program = format!("{} (repaired from snapshot {})", snapshot.program, id.short());
        // Written under this repair's lease, not the original backup's.
        snapshot.lease = repo.storage().lease_token();
        pending.push((id, snapshot, dropped));
    }

    // Trees first, then their index, then the snapshots, then the originals: a crash leaves
    // either the original or both.
    results.trees_written = fixer.new_trees.len() as u64;
    if !options.dry_run && !fixer.new_trees.is_empty() {
        let pack_size = repo.config().pack_size as usize;
        let compression = repo.config().compression;
        let mut stored: Vec<IndexPack> = Vec::new();
        let mut builder = PackBuilder::new(BlobType::Tree);
        for (id, bytes) in core::mem::take(&mut fixer.new_trees) {
            let nonce = random_bytes(rng);
            builder.add(seal_blob(repo.keys(), BlobType::Tree, id, &bytes, compression, &nonce));
            if builder.size() >= pack_size {
                let full = core::mem::replace(&mut builder, PackBuilder::new(BlobType::Tree));
                stored.push(write_pack(repo, full, rng).await?);
            }
        }
        if !builder.is_empty() {
            stored.push(write_pack(repo, builder, rng).await?);
        }
        for chunk in stored.chunks(PACKS_PER_INDEX_FILE) {
            repo.save_index_file(&IndexFile::of(chunk.to_vec()), rng).await?;
        }
    }
    for (original, snapshot, dropped) in pending {
        let repaired = if options.dry_run { None } else { Some(repo.save_snapshot(&snapshot, rng).await?) };
        let remove = !options.keep_original && !options.dry_run;
        if remove {
            repo.forget_snapshots(&[original], rng).await?;
        }
        results.repaired.push(SnapshotRepair { original, repaired, original_removed: remove, dropped });
    }
    Ok(results)
}

/// A path relative to a snapshot's root, made absolute.
fn absolute(rel: &[u8]) -> Vec<u8> {
    if rel.is_empty() { b"/".to_vec() } else { tree::join_path(b"/", rel) }
}

/// Joins a relative path and a name.
fn rel_join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    match (dir.is_empty(), name.is_empty()) {
        (true, _) => name.to_vec(),
        (false, true) => dir.to_vec(),
        (false, false) => tree::join_path(dir, name),
    }
}

type Drops = Vec<(Vec<u8>, RepairReason)>;

/// What a (replacement) tree holds, all the way down: the counts a snapshot's stats give.
#[derive(Debug, Clone, Copy, Default)]
struct Held {
    files: u64,
    dirs: u64,
    symlinks: u64,
    bytes: u64,
}

impl Held {
    fn add(&mut self, other: Held) {
        self.files += other.files;
        self.dirs += other.dirs;
        self.symlinks += other.symlinks;
        self.bytes += other.bytes;
    }
}

/// A tree's replacement: its id (the same if intact), what was dropped below it, what it holds.
type Fixed = (BlobId, Drops, Held);

struct Fixer<'a, S> {
    repo: &'a Repository<S>,
    index: &'a Index,
    damaged: &'a BTreeSet<(BlobType, BlobId)>,
    /// Each tree seen: its replacement (the same id if intact), what was dropped below it
    /// (relative to it), and what it holds.
    memo: BTreeMap<BlobId, Fixed>,
    /// Replacement trees to store, by id.
    new_trees: BTreeMap<BlobId, Vec<u8>>,
}

impl<S: Storage> Fixer<'_, S> {
    /// The replacement for directory tree `id`, and what was dropped below it.
    async fn dir(&mut self, id: BlobId) -> Result<Fixed, Error> {
        if let Some(done) = self.memo.get(&id) {
            return Ok(done.clone());
        }
        let loaded = if self.damaged.contains(&(BlobType::Tree, id)) {
            Err(Error::corrupt(crate::ObjectKind::TreeBlob, id, "reported damaged"))
        } else {
            self.repo.load_tree(self.index, id).await
        };
        let result = match loaded {
            Ok(tree) => self.fix_tree(id, tree).await?,
            Err(e) if !e.is_damage() => return Err(e),
            Err(e) => {
                let empty = Tree::default().encode();
                let new_id = self.repo.keys().blob_id(&empty);
                self.store(new_id, empty);
                let drop = (Vec::new(), RepairReason::TreeUnreadable(id, e.to_string()));
                (new_id, alloc::vec![drop], Held::default())
            }
        };
        self.memo.insert(id, result.clone());
        Ok(result)
    }

    async fn fix_tree(&mut self, id: BlobId, tree: Tree) -> Result<Fixed, Error> {
        let mut drops: Drops = Vec::new();
        let mut held = Held::default();
        let mut invalid: BTreeSet<usize> = BTreeSet::new();
        for problem in tree.validate() {
            let (TreeProblem::BadName { index, .. } | TreeProblem::Unsorted { index }) = problem;
            let name = tree.nodes.get(index).map(|n| n.name.clone()).unwrap_or_default();
            drops.push((name, RepairReason::InvalidEntry(problem)));
            invalid.insert(index);
        }
        let mut nodes: Vec<Node> = Vec::with_capacity(tree.nodes.len());
        let mut changed = !invalid.is_empty();
        for (i, mut node) in tree.nodes.into_iter().enumerate() {
            if invalid.contains(&i) {
                continue;
            }
            match &mut node.kind {
                NodeKind::File { content } => {
                    let bad = content.iter().find_map(|b| {
                        if self.damaged.contains(&(BlobType::Data, *b)) {
                            Some(RepairReason::BlobDamaged(*b))
                        } else if !self.index.contains(BlobType::Data, b) {
                            Some(RepairReason::BlobMissing(*b))
                        } else {
                            None
                        }
                    });
                    if let Some(reason) = bad {
                        drops.push((node.name.clone(), reason));
                        changed = true;
                        continue;
                    }
                    held.files += 1;
                    held.bytes += node.meta.size;
                }
                NodeKind::Dir { subtree } => {
                    let (new_id, below, below_held) = Box::pin(self.dir(*subtree)).await?;
                    held.dirs += 1;
                    held.add(below_held);
                    if new_id != *subtree {
                        *subtree = new_id;
                        changed = true;
                    }
                    drops.extend(below.into_iter().map(|(rel, reason)| (rel_join(&node.name, &rel), reason)));
                }
                NodeKind::Symlink { .. } => held.symlinks += 1,
            }
            nodes.push(node);
        }
        if !changed {
            return Ok((id, drops, held));
        }
        let bytes = Tree { nodes }.encode();
        let new_id = self.repo.keys().blob_id(&bytes);
        self.store(new_id, bytes);
        Ok((new_id, drops, held))
    }

    fn store(&mut self, id: BlobId, bytes: Vec<u8>) {
        if !self.index.contains(BlobType::Tree, &id) {
            self.new_trees.insert(id, bytes);
        }
    }
}
