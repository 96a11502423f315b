//! Prune: deletes what no snapshot needs, in two phases.
//!
//! Terms:
//! - **used blob**: a tree reachable from a valid snapshot, or a data blob a file in such a tree
//!   names. Each used blob is kept in exactly one pack (the one the index points to); other
//!   copies (left by two backups storing the same blob at once) count as unused.
//! - **unused pack**: an indexed pack with no used blob: condemned.
//! - **partly used pack**: one whose unused bytes exceed [`PruneOptions::repack_threshold_percent`]
//!   of its size: its used blobs are copied, still sealed (after being authenticated), into new
//!   packs, and it is condemned. Packs below the threshold are kept as they are.
//! - **unindexed pack**: a pack file no index object lists (an interrupted backup's, or one of a
//!   backup whose lease this prune's acquisition revoked): condemned.
//! - **condemned pack**: one an index object lists under `condemned`: out of the index, never
//!   reused nor adopted by a backup, deleted by this prune or the next. One that a valid
//!   snapshot needs after all (it can happen only when the prune that condemned it lost its
//!   lease before deleting, FORMAT.md section 6.2) is *resurrected*: listed in the index again.
//! - **withdrawn snapshot**: written after its lease was revoked ([`Repository::snapshots`]):
//!   its blobs are not used, and it is removed.
//!
//! [`plan_prune`] reads only the index objects, the snapshots, the trees and the headers of
//! condemned packs; it finds the used blobs without reading a single data pack. [`prune`] then
//! runs in an order that keeps the repository valid if it is killed at any moment, and makes a
//! deletion done late (by a prune that was paused and lost its lease) harmless:
//! 1. copy the used blobs of partly used packs into new packs;
//! 2. write new index objects that list exactly the packs that stay and the new ones, and
//!    condemn every pack to delete (with the forgotten snapshots carried over);
//! 3. **fence**: read the lease back ([`Storage::fence`]); stop if it was lost;
//! 4. delete the old index objects and the withdrawn snapshots;
//! 5. delete the condemned packs.
//!
//! Killed before step 2, the new packs are unindexed extras; after it, the packs still to be
//! deleted are condemned, and the next prune deletes them. Either way every snapshot is
//! complete. The caller must hold an exclusive lease (see [`crate::lease`]).

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
    /// Snapshots the caller remembers this repository having (FORMAT.md section 6.3): if one
    /// is missing and not recorded as forgotten, the plan is refused with
    /// [`Error::SnapshotsWithheld`], since pruning would delete its data for good.
    pub known_snapshots: BTreeSet<SnapshotId>,
}

impl Default for PruneOptions {
    fn default() -> Self {
        Self { repack_threshold_percent: 20, ignore_snapshots: Vec::new(), known_snapshots: BTreeSet::new() }
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
    /// Packs condemned by an earlier prune and still stored, with their sizes.
    pub condemned: Vec<(PackId, u64)>,
    /// Condemned packs that valid snapshots need: listed in the index again (they are in
    /// `keep` or `repack` too).
    pub resurrected: Vec<PackId>,
    /// Withdrawn snapshots, to remove.
    pub withdrawn: Vec<SnapshotId>,
    /// The forgotten snapshots the index objects name, carried over into the new ones.
    pub forgotten: Vec<SnapshotId>,
    /// Figures.
    pub stats: PruneStats,
}

impl PrunePlan {
    /// True if the prune would change nothing.
    pub fn is_empty(&self) -> bool {
        self.repack.is_empty()
            && self.delete.is_empty()
            && self.unindexed.is_empty()
            && self.condemned.is_empty()
            && self.resurrected.is_empty()
            && self.withdrawn.is_empty()
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

/// Finds what a prune would delete and repack, reading only index objects, snapshots, trees
/// and the headers of condemned packs. Refuses (with the missing blob) if a valid snapshot needs
/// a blob that no pack holds: the repository is damaged, and pruning it could make things worse.
pub async fn plan_prune<S: Storage>(repo: &Repository<S>, options: &PruneOptions) -> Result<PrunePlan, Error> {
    let (index_files, files): (Vec<IndexId>, Vec<IndexFile>) = repo.load_index_files().await?.into_iter().unzip();
    let mut index = Index::from_files(files.iter())?;
    let forgotten: BTreeSet<SnapshotId> = files.iter().flat_map(|f| f.forgotten.iter().copied()).collect();
    let stored: BTreeMap<PackId, u64> =
        repo.list_objects(FileKind::Pack).await?.into_iter().map(|o| (PackId(o.id), o.size)).collect();
    // Condemned packs still stored are read from their headers, so that a blob only they hold
    // is found (and the pack resurrected); a live copy of a blob always wins.
    let mut condemned: BTreeMap<PackId, Option<IndexPack>> = BTreeMap::new();
    for id in index.condemned().clone() {
        let Some(&size) = stored.get(&id) else { continue };
        let entry = repo.index_entry_from_header(id, size).await.ok();
        if let Some(pack) = &entry {
            index.add_pack(id, pack.blob_type, pack.size, &pack.blobs)?;
        }
        condemned.insert(id, entry);
    }
    let mut stats = PruneStats::default();
    let snapshots = repo.snapshots().await?;
    let present: BTreeSet<SnapshotId> = snapshots.valid.iter().chain(&snapshots.withdrawn).map(|(id, _)| *id).collect();
    let withheld: Vec<SnapshotId> =
        options.known_snapshots.iter().filter(|id| !present.contains(id) && !forgotten.contains(id)).copied().collect();
    if !withheld.is_empty() {
        return Err(Error::SnapshotsWithheld { ids: withheld });
    }

    // Every tree reachable from a valid snapshot, and every data blob those trees name.
    let mut trees: BTreeSet<BlobId> = BTreeSet::new();
    let mut data: Vec<BlobId> = Vec::new();
    for (id, snapshot) in &snapshots.valid {
        if options.ignore_snapshots.contains(id) {
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

    let mut plan = PrunePlan {
        index_files,
        withdrawn: snapshots.withdrawn.iter().map(|(id, _)| *id).collect(),
        forgotten: forgotten.into_iter().collect(),
        ..PrunePlan::default()
    };
    // Condemned packs holding the only copy of a used blob come back.
    let mut resurrected = Vec::new();
    for (id, entry) in &condemned {
        let Some(pack) = entry else { continue };
        let needed = pack
            .blobs
            .iter()
            .any(|b| used(pack.blob_type, &b.id) && index.get(pack.blob_type, &b.id).is_some_and(|l| l.pack == *id));
        if needed {
            plan.resurrected.push(*id);
            resurrected.push(pack.clone());
        }
    }
    let mut seen: BTreeSet<PackId> = BTreeSet::new();
    let live = files.into_iter().flat_map(|f| f.packs).filter(|p| !index.is_condemned(&p.id));
    for pack in live.chain(resurrected) {
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
        if seen.contains(&id) {
            continue;
        }
        stats.packs_deleted += 1;
        stats.bytes_freed = stats.bytes_freed.saturating_add(size);
        if condemned.contains_key(&id) {
            plan.condemned.push((id, size));
        } else {
            plan.unindexed.push((id, size));
        }
    }
    plan.stats = stats;
    Ok(plan)
}

/// Carries out a plan from [`plan_prune`], in the order of the [module docs](self). Returns the
/// plan's figures with `bytes_freed` made exact. Fails with [`Error::LockLost`] at the fence if
/// the lease was lost: nothing is deleted then.
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

    // 2. New index objects: the packs that stay and the new ones; the packs to delete,
    // condemned; the forgotten snapshots, with the withdrawn ones.
    let doomed: Vec<(PackId, u64)> = plan
        .delete
        .iter()
        .copied()
        .chain(plan.repack.iter().map(|(p, _)| (p.id, p.size)))
        .chain(plan.unindexed.iter().copied())
        .chain(plan.condemned.iter().copied())
        .collect();
    let mut forgotten: BTreeSet<SnapshotId> = plan.forgotten.iter().copied().collect();
    forgotten.extend(plan.withdrawn.iter().copied());
    let mut files: Vec<IndexFile> = plan
        .keep
        .into_iter()
        .chain(new_packs)
        .collect::<Vec<_>>()
        .chunks(PACKS_PER_INDEX_FILE)
        .map(|c| IndexFile::of(c.to_vec()))
        .collect();
    if files.is_empty() {
        files.push(IndexFile::default());
    }
    if let Some(first) = files.first_mut() {
        first.condemned = doomed.iter().map(|(id, _)| *id).collect();
        first.forgotten = forgotten.into_iter().collect();
    }
    let mut written: BTreeSet<IndexId> = BTreeSet::new();
    for file in &files {
        let empty = file.packs.is_empty() && file.condemned.is_empty() && file.forgotten.is_empty();
        if !empty {
            written.insert(repo.save_index_file(file, rng).await?);
        }
    }
    stats.index_files_written = written.len() as u64;

    // 3. From here on the prune relies on its lease: a backup that revoked it could be using
    // what the old index objects list.
    repo.storage().fence().await.map_err(crate::repository::fence_error)?;

    // 4. The old index objects (one identical to a new one has the same name: keep it), and
    // the withdrawn snapshots.
    for id in plan.index_files.iter().filter(|id| !written.contains(id)) {
        repo.remove_object(&Handle::new(FileKind::Index, *id)).await?;
    }
    for id in &plan.withdrawn {
        repo.remove_object(&Handle::new(FileKind::Snapshot, *id)).await?;
    }

    // 5. The condemned packs.
    let mut freed = 0u64;
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
