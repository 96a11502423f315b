//! Prune: deletes what no snapshot needs.
//!
//! Terms:
//! - **used blob**: a tree reachable from a snapshot, or a data blob a file in such a tree names.
//!   Each used blob is kept in exactly one pack (the one the index points to); other copies
//!   (left by two backups storing the same blob at once) count as unused.
//! - **unused pack**: an indexed pack with no used blob: deleted.
//! - **partly used pack**: one whose unused bytes exceed [`PruneOptions::repack_threshold_percent`]
//!   of its size: its used blobs are copied, still sealed (after being authenticated), into new
//!   packs, and it is deleted. Packs below the threshold are kept as they are.
//! - **unindexed pack**: a pack file no index object lists, left by an interrupted backup. Under
//!   the exclusive lock no backup runs, so nothing can need it: deleted.
//!
//! [`plan_prune`] reads only the index objects, the snapshots and the trees; it finds the used
//! blobs without reading a single data pack. [`prune`] then runs in an order that keeps the
//! repository valid if it is killed at any moment:
//! 1. copy the used blobs of partly used packs into new packs;
//! 2. write new index objects that list exactly the packs that stay and the new ones;
//! 3. delete the old index objects;
//! 4. delete the unused, repacked and unindexed packs.
//!
//! Killed before step 2, the new packs are unindexed extras; killed after, the packs still to be
//! deleted are unindexed or unused. Either way every snapshot is complete, and the next prune
//! (or backup, which adopts unindexed packs) finishes the job. The caller must hold the
//! exclusive lock (see [`crate::LockInfo`]).

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;

use rand_core::CryptoRng;

use crate::backend::{FileKind, Handle, ReadRange, Storage};
use crate::blob::{BlobType, SealedBlob, open_blob_into};
use crate::error::{Error, StorageOp};
use crate::id::{BlobId, IndexId, PackId, SnapshotId};
use crate::index::{Index, IndexBlob, IndexFile, IndexPack};
use crate::pack::PackBuilder;
use crate::repository::{Repository, random_bytes, storage_error};
use crate::tree::NodeKind;

/// How a prune decides.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PruneOptions {
    /// Repack a pack when more than this share of its bytes is unused (0 repacks every pack
    /// with any unused blob; 100 never repacks).
    pub repack_threshold_percent: u8,
    /// Snapshots to count as already removed (so that `forget --prune --dry-run` can show what
    /// the prune after the forget would do).
    pub ignore_snapshots: Vec<SnapshotId>,
}

impl Default for PruneOptions {
    fn default() -> Self {
        Self { repack_threshold_percent: 20, ignore_snapshots: Vec::new() }
    }
}

/// What a prune will do, and why.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrunePlan {
    /// The index objects that will be replaced.
    pub index_files: Vec<IndexId>,
    /// Packs kept as they are (with every blob the index listed for them).
    pub keep: Vec<IndexPack>,
    /// Partly used packs to repack, with the used blobs to copy.
    pub repack: Vec<(IndexPack, Vec<IndexBlob>)>,
    /// Indexed packs with no used blob, with their sizes.
    pub delete: Vec<(PackId, u64)>,
    /// Pack files no index lists, with their sizes.
    pub unindexed: Vec<(PackId, u64)>,
    /// Figures.
    pub stats: PruneStats,
}

impl PrunePlan {
    /// True if the prune would change nothing.
    pub fn is_empty(&self) -> bool {
        self.repack.is_empty() && self.delete.is_empty() && self.unindexed.is_empty()
    }
}

/// Figures of a prune plan (and, after [`prune`], of what was done).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PruneStats {
    /// Snapshots whose trees were walked.
    pub snapshots: u64,
    /// Blobs in use.
    pub blobs_used: u64,
    /// Blobs no snapshot needs (including duplicate copies).
    pub blobs_unused: u64,
    /// Sealed bytes of the used blobs.
    pub bytes_used: u64,
    /// Sealed bytes of the unused blobs.
    pub bytes_unused: u64,
    /// Packs to delete outright (unused and unindexed).
    pub packs_deleted: u64,
    /// Packs to repack.
    pub packs_repacked: u64,
    /// Packs kept as they are.
    pub packs_kept: u64,
    /// Bytes of used blobs copied into new packs.
    pub bytes_repacked: u64,
    /// Bytes the repository shrinks by: deleted and repacked packs, minus what repacking writes
    /// (an estimate in a plan; exact after [`prune`]).
    pub bytes_freed: u64,
    /// New packs written.
    pub packs_written: u64,
    /// Index objects written.
    pub index_files_written: u64,
}

/// Finds what a prune would delete and repack, reading only index objects, snapshots and trees.
/// Refuses (with the missing blob) if a snapshot needs a blob that is not indexed: the
/// repository is damaged, and pruning it could make things worse.
pub async fn plan_prune<S: Storage>(repo: &Repository<S>, options: &PruneOptions) -> Result<PrunePlan, Error> {
    let (index_files, files): (Vec<IndexId>, Vec<IndexFile>) = repo.load_index_files().await?.into_iter().unzip();
    let index = Index::from_files(files.iter())?;
    let mut stats = PruneStats::default();

    // Every tree reachable from a snapshot, and every data blob those trees name.
    let mut trees: BTreeSet<BlobId> = BTreeSet::new();
    let mut data: Vec<BlobId> = Vec::new();
    for (id, snapshot) in repo.list_snapshots().await? {
        if options.ignore_snapshots.contains(&id) {
            continue;
        }
        stats.snapshots += 1;
        let mut stack = alloc::vec![snapshot.tree];
        while let Some(id) = stack.pop() {
            if !trees.insert(id) {
                continue;
            }
            let tree = repo.load_tree(&index, id).await?;
            for node in tree.nodes {
                match node.kind {
                    NodeKind::Dir { subtree } => stack.push(subtree),
                    NodeKind::File { content } => {
                        for blob in content {
                            if !index.contains(BlobType::Data, &blob) {
                                return Err(Error::BlobNotInIndex { kind: BlobType::Data, id: blob });
                            }
                            data.push(blob);
                        }
                    }
                    NodeKind::Symlink { .. } => {}
                }
            }
        }
    }
    data.sort_unstable();
    data.dedup();
    let used = |t: BlobType, id: &BlobId| match t {
        BlobType::Tree => trees.contains(id),
        BlobType::Data => data.binary_search(id).is_ok(),
    };

    let stored: BTreeMap<PackId, u64> =
        repo.list_objects(FileKind::Pack).await?.into_iter().map(|o| (PackId(o.id), o.size)).collect();
    let mut seen: BTreeSet<PackId> = BTreeSet::new();
    let mut plan = PrunePlan { index_files, ..PrunePlan::default() };
    for pack in files.into_iter().flat_map(|f| f.packs) {
        if !seen.insert(pack.id) {
            continue;
        }
        let keep_blob = |b: &IndexBlob| {
            used(pack.blob_type, &b.id) && index.get(pack.blob_type, &b.id).is_some_and(|l| l.pack == pack.id)
        };
        let used_blobs: Vec<IndexBlob> = pack.blobs.iter().copied().filter(keep_blob).collect();
        let used_bytes: u64 = used_blobs.iter().map(|b| u64::from(b.length)).sum();
        let listed_bytes: u64 = pack.blobs.iter().map(|b| u64::from(b.length)).sum();
        stats.blobs_used += used_blobs.len() as u64;
        stats.blobs_unused += (pack.blobs.len() - used_blobs.len()) as u64;
        stats.bytes_used += used_bytes;
        stats.bytes_unused += listed_bytes - used_bytes;
        let Some(&size) = stored.get(&pack.id) else {
            if used_blobs.is_empty() {
                // Listed but already gone (a prune killed after deleting it): drop the entry.
                plan.delete.push((pack.id, 0));
                continue;
            }
            return Err(Error::corrupt(
                crate::ObjectKind::Pack,
                pack.id,
                "it is missing from storage, and snapshots need blobs the index places in it",
            ));
        };
        // The threshold weighs unused blobs (not the pack's header) against the pack's size.
        let unused_blob_bytes = listed_bytes - used_bytes;
        let threshold = u64::from(options.repack_threshold_percent.min(100));
        if used_blobs.is_empty() {
            stats.packs_deleted += 1;
            stats.bytes_freed = stats.bytes_freed.saturating_add(size);
            plan.delete.push((pack.id, size));
        } else if unused_blob_bytes > 0 && unused_blob_bytes * 100 > threshold.saturating_mul(size) {
            stats.packs_repacked += 1;
            stats.bytes_repacked += used_bytes;
            stats.bytes_freed = stats.bytes_freed.saturating_add(size.saturating_sub(used_bytes));
            plan.repack.push((pack, used_blobs));
        } else {
            stats.packs_kept += 1;
            plan.keep.push(pack);
        }
    }
    for (id, size) in stored {
        if !seen.contains(&id) {
            stats.packs_deleted += 1;
            stats.bytes_freed = stats.bytes_freed.saturating_add(size);
            plan.unindexed.push((id, size));
        }
    }
    plan.stats = stats;
    Ok(plan)
}

/// Carries out a plan from [`plan_prune`], in the crash-safe order of the [module docs](self).
/// Returns the plan's figures with `bytes_freed` made exact.
pub async fn prune<S: Storage, R: CryptoRng + ?Sized>(
    repo: &Repository<S>,
    plan: PrunePlan,
    rng: &mut R,
) -> Result<PruneStats, Error> {
    let mut stats = plan.stats;
    if plan.is_empty() {
        return Ok(stats);
    }
    // 1. Copy the used blobs of partly used packs, authenticated, into new packs.
    let pack_size = repo.config().pack_size as usize;
    let mut new_packs: Vec<IndexPack> = Vec::new();
    let mut data_builder = PackBuilder::new(BlobType::Data);
    let mut tree_builder = PackBuilder::new(BlobType::Tree);
    let mut written_bytes = 0u64;
    for (pack, blobs) in &plan.repack {
        let handle = Handle::new(FileKind::Pack, pack.id);
        let bytes = repo
            .storage()
            .read(&handle, ReadRange::All { max_len: pack.size.min(crate::pack::MAX_PACK_LEN) })
            .await
            .map_err(|e| storage_error(StorageOp::Read, &handle, e))?;
        let (mut scratch, mut plain) = (Vec::new(), Vec::new());
        for b in blobs {
            let start = b.offset as usize;
            let sealed = bytes.get(start..start + b.length as usize).ok_or(Error::corrupt(
                crate::ObjectKind::Pack,
                pack.id,
                "blob lies outside the pack",
            ))?;
            // Authenticate before copying, so that a damaged blob is never spread.
            open_blob_into(repo.keys(), pack.blob_type, b.id, sealed, b.raw_len, &mut scratch, &mut plain)?;
            let builder = match pack.blob_type {
                BlobType::Data => &mut data_builder,
                BlobType::Tree => &mut tree_builder,
            };
            builder.add(SealedBlob { blob_type: pack.blob_type, id: b.id, raw_len: b.raw_len, bytes: sealed.to_vec() });
            if builder.size() >= pack_size {
                let full = core::mem::replace(builder, PackBuilder::new(pack.blob_type));
                let p = write_pack(repo, full, rng).await?;
                written_bytes += p.size;
                new_packs.push(p);
            }
        }
    }
    for builder in [data_builder, tree_builder] {
        if !builder.is_empty() {
            let p = write_pack(repo, builder, rng).await?;
            written_bytes += p.size;
            new_packs.push(p);
        }
    }
    stats.packs_written = new_packs.len() as u64;

    // 2. New index objects: the packs that stay, and the new ones.
    let mut written: BTreeSet<IndexId> = BTreeSet::new();
    let all: Vec<IndexPack> = plan.keep.into_iter().chain(new_packs).collect();
    for chunk in all.chunks(PACKS_PER_INDEX_FILE) {
        let id = repo.save_index_file(&IndexFile { packs: chunk.to_vec() }, rng).await?;
        written.insert(id);
    }
    stats.index_files_written = written.len() as u64;

    // 3. The old index objects (one identical to a new one has the same name: keep it).
    for id in plan.index_files.iter().filter(|id| !written.contains(id)) {
        repo.remove_object(&Handle::new(FileKind::Index, *id)).await?;
    }

    // 4. The packs nothing needs any more.
    let mut freed = 0u64;
    let doomed = plan
        .delete
        .iter()
        .copied()
        .chain(plan.repack.iter().map(|(p, _)| (p.id, p.size)))
        .chain(plan.unindexed.iter().copied());
    for (id, size) in doomed {
        repo.remove_object(&Handle::new(FileKind::Pack, id)).await?;
        freed = freed.saturating_add(size);
    }
    stats.bytes_freed = freed.saturating_sub(written_bytes);
    Ok(stats)
}

/// Packs listed per new index object (keeps each object far below the index size limit).
pub(crate) const PACKS_PER_INDEX_FILE: usize = 4096;

pub(crate) async fn write_pack<S: Storage, R: CryptoRng + ?Sized>(
    repo: &Repository<S>,
    mut builder: PackBuilder,
    rng: &mut R,
) -> Result<IndexPack, Error> {
    builder.shuffle(|| rng.next_u64());
    let nonce = random_bytes(rng);
    repo.store_pack(builder.finish(repo.keys(), &nonce)).await
}
