//! The index: which pack holds each blob, and where.
//!
//! Terms:
//! - An **index object** ([`IndexFile`]) lists packs and the blobs in each (offset, sealed length,
//!   plaintext length). It is postcard, framed and sealed with the label `cairn.index`. A backup
//!   writes one every few packs, so that packs uploaded before a crash are found and reused.
//! - The **in-memory index** ([`Index`]) is the union of all index objects. It is a sorted array
//!   of fixed 48-byte entries searched by binary search, plus a table of packs; blobs added during
//!   a backup go to a small sorted side table that is merged in from time to time. The same blob in
//!   several packs (two backups racing, or a crash before an index was written) is kept once.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;
use core::mem::size_of;

use serde::{Deserialize, Serialize};

use crate::blob::{BlobType, MAX_BLOB_LEN};
use crate::error::{DecodeError, Error, ObjectKind};
use crate::id::{BlobId, Id, IndexId, PackId, SnapshotId};
use crate::pack::PackEntry;

/// The largest index object accepted (sealed or decompressed), 256 MiB.
pub const MAX_INDEX_LEN: u64 = 256 * 1024 * 1024;

/// One blob in an index object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexBlob {
    /// The blob's id.
    pub id: BlobId,
    /// Offset of its sealed bytes in the pack.
    pub offset: u32,
    /// Length of its sealed bytes.
    pub length: u32,
    /// Length of its plaintext.
    pub raw_len: u32,
}

impl From<PackEntry> for IndexBlob {
    fn from(e: PackEntry) -> Self {
        Self { id: e.id, offset: e.offset, length: e.length, raw_len: e.raw_len }
    }
}

/// One pack in an index object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexPack {
    /// The pack's id.
    pub id: PackId,
    /// The type of all its blobs.
    pub blob_type: BlobType,
    /// The pack's size in bytes.
    pub size: u64,
    /// Its blobs.
    pub blobs: Vec<IndexBlob>,
}

/// An index object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexFile {
    /// The packs it describes.
    pub packs: Vec<IndexPack>,
    /// Packs a prune has *condemned*: no longer part of the index, to be deleted (appended
    /// field). Backups never reuse or adopt them; readers may still read them while they exist.
    /// See FORMAT.md section 6.2.
    #[serde(skip)]
    pub condemned: Vec<PackId>,
    /// Snapshots removed on purpose (by `forget`, `prune`, `repair`): a snapshot remembered
    /// and now missing is *withheld* unless it is named here (appended field, after
    /// `condemned`). See FORMAT.md section 6.3.
    #[serde(skip)]
    pub forgotten: Vec<SnapshotId>,
}

impl IndexFile {
    /// An index object listing `packs` and nothing else.
    pub fn of(packs: Vec<IndexPack>) -> Self {
        Self { packs, ..Self::default() }
    }

    /// The plaintext form. The appended lists are left out from the first one that is empty
    /// with all after it, so index objects without them keep their exact bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = postcard::to_allocvec(self).unwrap_or_default();
        if !self.condemned.is_empty() || !self.forgotten.is_empty() {
            out.extend_from_slice(&postcard::to_allocvec(&self.condemned).unwrap_or_default());
        }
        if !self.forgotten.is_empty() {
            out.extend_from_slice(&postcard::to_allocvec(&self.forgotten).unwrap_or_default());
        }
        out
    }

    /// Decodes and checks a plaintext index object: every blob must lie inside its pack.
    pub fn decode(id: IndexId, bytes: &[u8]) -> Result<Self, Error> {
        let err = |e| Error::decode(ObjectKind::Index, id, e);
        let (mut file, rest) = postcard::take_from_bytes::<Self>(bytes).map_err(|e: postcard::Error| err(e.into()))?;
        if let Some((condemned, rest)) = crate::appended::field(rest).map_err(err)? {
            file.condemned = condemned;
            if let Some((forgotten, _)) = crate::appended::field(rest).map_err(err)? {
                file.forgotten = forgotten;
            }
        }
        for pack in &file.packs {
            for b in &pack.blobs {
                let end = u64::from(b.offset) + u64::from(b.length);
                if end > pack.size || b.raw_len > MAX_BLOB_LEN {
                    return Err(err(DecodeError::Malformed("blob lies outside its pack")));
                }
            }
        }
        Ok(file)
    }

    /// Number of blobs described.
    pub fn blob_count(&self) -> usize {
        self.packs.iter().map(|p| p.blobs.len()).sum()
    }
}

/// Where a blob is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobLocation {
    /// The pack.
    pub pack: PackId,
    /// Offset of the sealed blob in the pack.
    pub offset: u32,
    /// Length of the sealed blob.
    pub length: u32,
    /// Length of the plaintext.
    pub raw_len: u32,
}

/// A pack known to the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackInfo {
    /// Its id.
    pub id: PackId,
    /// The type of its blobs.
    pub blob_type: BlobType,
    /// Its size in bytes.
    pub size: u64,
}

/// One entry of the in-memory index: exactly 48 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    id: [u8; 32],
    /// Position in `Index::packs`.
    pack: u32,
    offset: u32,
    length: u32,
    /// Plaintext length in the low 31 bits, the blob type in the top bit (1 = tree).
    raw_len_and_type: u32,
}

const TREE_BIT: u32 = 1 << 31;

impl Entry {
    fn blob_type(&self) -> BlobType {
        if self.raw_len_and_type & TREE_BIT != 0 { BlobType::Tree } else { BlobType::Data }
    }

    fn key(&self) -> ([u8; 32], u32) {
        (self.id, self.raw_len_and_type >> 31)
    }
}

const _: () = assert!(size_of::<Entry>() == 48);

/// The in-memory index. See the [module docs](self).
#[derive(Debug, Default)]
pub struct Index {
    packs: Vec<PackInfo>,
    pack_pos: BTreeMap<PackId, u32>,
    /// Sorted by (id, type), unique.
    entries: Vec<Entry>,
    /// Recently added entries, merged into `entries` when large.
    recent: BTreeMap<([u8; 32], u32), Entry>,
    /// Packs some index object condemns: left out of the index (see [`IndexFile::condemned`]).
    condemned: BTreeSet<PackId>,
}

/// Entries kept in the side table before a merge.
const RECENT_LIMIT: usize = 16 * 1024;

/// Memory used by an [`Index`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexMemory {
    /// Number of distinct blobs.
    pub blobs: usize,
    /// Number of packs.
    pub packs: usize,
    /// Bytes held by blob entries (sorted array capacity and side table).
    pub blob_bytes: usize,
    /// Bytes held by the pack table.
    pub pack_bytes: usize,
}

impl Index {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds the index from decoded index objects in one pass, with exactly sized storage.
    /// A pack that any of them condemns is left out, even where another still lists it (a
    /// prune between writing its new index objects and removing the old ones).
    pub fn from_files<'a>(files: impl IntoIterator<Item = &'a IndexFile> + Clone) -> Result<Self, Error> {
        let mut index = Self::new();
        for file in files.clone() {
            index.condemned.extend(file.condemned.iter().copied());
        }
        let total: usize = files.clone().into_iter().map(IndexFile::blob_count).sum();
        index
            .entries
            .try_reserve_exact(total)
            .map_err(|_| Error::InvalidParameter { name: "index", reason: "not enough memory to hold the index" })?;
        let condemned = core::mem::take(&mut index.condemned);
        for file in files {
            for pack in file.packs.iter().filter(|p| !condemned.contains(&p.id)) {
                let pos = index.pack_position(pack.id, pack.blob_type, pack.size)?;
                for b in &pack.blobs {
                    index.entries.push(make_entry(b.id, pos, pack.blob_type, b.offset, b.length, b.raw_len));
                }
            }
        }
        index.entries.sort_unstable_by_key(Entry::key);
        index.entries.dedup_by_key(|e| e.key());
        index.entries.shrink_to_fit();
        index.condemned = condemned;
        Ok(index)
    }

    fn pack_position(&mut self, id: PackId, blob_type: BlobType, size: u64) -> Result<u32, Error> {
        if let Some(&pos) = self.pack_pos.get(&id) {
            return Ok(pos);
        }
        let pos = u32::try_from(self.packs.len())
            .map_err(|_| Error::InvalidParameter { name: "index", reason: "more than 4 billion packs" })?;
        self.packs.push(PackInfo { id, blob_type, size });
        self.pack_pos.insert(id, pos);
        Ok(pos)
    }

    /// Records a pack and its blobs (after the pack was stored).
    pub fn add_pack(&mut self, id: PackId, blob_type: BlobType, size: u64, blobs: &[IndexBlob]) -> Result<(), Error> {
        let pos = self.pack_position(id, blob_type, size)?;
        for b in blobs {
            let e = make_entry(b.id, pos, blob_type, b.offset, b.length, b.raw_len);
            if self.find(&e.key()).is_none() {
                self.recent.entry(e.key()).or_insert(e);
            }
        }
        if self.recent.len() >= RECENT_LIMIT {
            self.merge_recent();
        }
        Ok(())
    }

    /// Moves the side table into the sorted array (a linear merge from the back, in place).
    fn merge_recent(&mut self) {
        if self.recent.is_empty() {
            return;
        }
        let recent = core::mem::take(&mut self.recent);
        let old_len = self.entries.len();
        let Some(&filler) = recent.values().next() else { return };
        self.entries.resize(old_len + recent.len(), filler);
        let mut write = self.entries.len();
        let mut read = old_len;
        let mut incoming = recent.into_values().rev().peekable();
        while let Some(next) = incoming.peek().copied() {
            write -= 1;
            let take_old = read > 0 && self.entries.get(read - 1).is_some_and(|old| old.key() > next.key());
            let value = if take_old {
                read -= 1;
                self.entries.get(read).copied().unwrap_or(next)
            } else {
                incoming.next();
                next
            };
            if let Some(slot) = self.entries.get_mut(write) {
                *slot = value;
            }
        }
    }

    fn find(&self, key: &([u8; 32], u32)) -> Option<&Entry> {
        if let Ok(i) = self.entries.binary_search_by_key(key, Entry::key) {
            return self.entries.get(i);
        }
        self.recent.get(key)
    }

    /// Where the blob `id` of type `blob_type` is stored.
    pub fn get(&self, blob_type: BlobType, id: &BlobId) -> Option<BlobLocation> {
        let e = self.find(&(id.0.0, blob_type as u32))?;
        let pack = self.packs.get(e.pack as usize)?;
        Some(BlobLocation {
            pack: pack.id,
            offset: e.offset,
            length: e.length,
            raw_len: e.raw_len_and_type & !TREE_BIT,
        })
    }

    /// The blob's position among the [`Index::len`] blobs, in the order of [`Index::iter`]
    /// (stable while the index is unchanged): for bitmaps over the index.
    pub fn position(&self, blob_type: BlobType, id: &BlobId) -> Option<usize> {
        let key = (id.0.0, blob_type as u32);
        if let Ok(i) = self.entries.binary_search_by_key(&key, Entry::key) {
            return Some(i);
        }
        self.recent.contains_key(&key).then(|| self.entries.len() + self.recent.range(..key).count())
    }

    /// True if the blob is in the index.
    pub fn contains(&self, blob_type: BlobType, id: &BlobId) -> bool {
        self.find(&(id.0.0, blob_type as u32)).is_some()
    }

    /// True if an index object condemns this pack: it is to be deleted, and a backup must
    /// neither reuse its blobs nor adopt it.
    pub fn is_condemned(&self, id: &PackId) -> bool {
        self.condemned.contains(id)
    }

    /// The packs index objects condemn.
    pub fn condemned(&self) -> &BTreeSet<PackId> {
        &self.condemned
    }

    /// Every pack known to the index.
    pub fn packs(&self) -> &[PackInfo] {
        &self.packs
    }

    /// The pack with this id, if known.
    pub fn pack(&self, id: &PackId) -> Option<PackInfo> {
        self.pack_pos.get(id).and_then(|&p| self.packs.get(p as usize)).copied()
    }

    /// Number of distinct blobs.
    pub fn len(&self) -> usize {
        self.entries.len() + self.recent.len()
    }

    /// True if the index holds no blob.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every blob, as (type, id, location), in id order for the sorted part.
    pub fn iter(&self) -> impl Iterator<Item = (BlobType, BlobId, BlobLocation)> + '_ {
        self.entries.iter().chain(self.recent.values()).filter_map(|e| {
            let pack = self.packs.get(e.pack as usize)?;
            Some((
                e.blob_type(),
                BlobId(Id(e.id)),
                BlobLocation {
                    pack: pack.id,
                    offset: e.offset,
                    length: e.length,
                    raw_len: e.raw_len_and_type & !TREE_BIT,
                },
            ))
        })
    }

    /// Merges the side table now (makes [`Index::memory`] report the steady state).
    pub fn compact(&mut self) {
        self.merge_recent();
        self.entries.shrink_to_fit();
    }

    /// How much memory the index uses.
    pub fn memory(&self) -> IndexMemory {
        // A B-tree node costs about one and a half entries per entry; count it generously.
        let recent = self.recent.len() * (size_of::<Entry>() + 36) * 3 / 2;
        IndexMemory {
            blobs: self.len(),
            packs: self.packs.len(),
            blob_bytes: self.entries.capacity() * size_of::<Entry>() + recent,
            pack_bytes: self.packs.capacity() * size_of::<PackInfo>()
                + self.pack_pos.len() * (size_of::<PackId>() + size_of::<u32>()) * 3 / 2,
        }
    }
}

fn make_entry(id: BlobId, pack: u32, blob_type: BlobType, offset: u32, length: u32, raw_len: u32) -> Entry {
    let t = if blob_type == BlobType::Tree { TREE_BIT } else { 0 };
    Entry { id: id.0.0, pack, offset, length, raw_len_and_type: (raw_len & !TREE_BIT) | t }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bid(n: u32) -> BlobId {
        let mut b = [0u8; 32];
        b[..4].copy_from_slice(&n.to_be_bytes());
        b[31] = (n % 251) as u8;
        BlobId(Id(b))
    }

    fn pack_of(p: u32, ids: core::ops::Range<u32>, t: BlobType) -> IndexPack {
        IndexPack {
            id: PackId(Id([p as u8; 32])),
            blob_type: t,
            size: 1 << 30,
            blobs: ids.map(|i| IndexBlob { id: bid(i), offset: i, length: 50, raw_len: i + 1 }).collect(),
        }
    }

    #[test]
    fn lookup_merge_and_types() {
        let f = IndexFile::of(alloc::vec![pack_of(1, 0..1000, BlobType::Data), pack_of(2, 500..1500, BlobType::Data)]);
        let mut idx = Index::from_files([&f]).unwrap();
        assert_eq!(idx.len(), 1500);
        assert_eq!(idx.get(BlobType::Data, &bid(7)).unwrap().raw_len, 8);
        assert!(!idx.contains(BlobType::Tree, &bid(7)));
        // Add many blobs through the side table, enough to force merges.
        for chunk in 0..5u32 {
            let p = pack_of(10 + chunk, 100_000 + chunk * 10_000..100_000 + (chunk + 1) * 10_000, BlobType::Tree);
            idx.add_pack(p.id, p.blob_type, p.size, &p.blobs).unwrap();
        }
        idx.compact();
        assert_eq!(idx.len(), 1500 + 50_000);
        for i in (100_000..150_000).step_by(997) {
            let loc = idx.get(BlobType::Tree, &bid(i)).unwrap();
            assert_eq!(loc.offset, i);
            assert!(!idx.contains(BlobType::Data, &bid(i)));
        }
        assert!(idx.entries.windows(2).all(|w| w[0].key() < w[1].key()));
        let m = idx.memory();
        assert_eq!(m.blob_bytes / m.blobs, 48);
    }

    #[test]
    fn appended_lists_round_trip_and_condemned_packs_stay_out() {
        let plain = IndexFile::of(alloc::vec![pack_of(1, 0..3, BlobType::Data), pack_of(2, 3..6, BlobType::Data)]);
        let bytes = plain.encode();
        assert_eq!(IndexFile::decode(IndexId::default(), &bytes).unwrap(), plain);
        let mut condemning = plain.clone();
        condemning.condemned = alloc::vec![PackId(Id([2; 32]))];
        let with = condemning.encode();
        assert!(with.starts_with(&bytes) && with.len() > bytes.len());
        assert_eq!(IndexFile::decode(IndexId::default(), &with).unwrap(), condemning);
        let forgetting = IndexFile { forgotten: alloc::vec![SnapshotId(Id([9; 32]))], ..IndexFile::default() };
        assert_eq!(IndexFile::decode(IndexId::default(), &forgetting.encode()).unwrap(), forgetting);
        // A pack condemned by one object is out of the index even where another lists it.
        let idx =
            Index::from_files([&plain, &IndexFile { condemned: condemning.condemned.clone(), ..IndexFile::default() }])
                .unwrap();
        assert_eq!(idx.packs().len(), 1);
        assert!(idx.is_condemned(&PackId(Id([2; 32]))));
        assert!(idx.get(BlobType::Data, &bid(4)).is_none());
        assert!(idx.get(BlobType::Data, &bid(1)).is_some());
    }

    #[test]
    fn decode_rejects_blobs_outside_their_pack() {
        let mut p = pack_of(1, 0..3, BlobType::Data);
        p.size = 10;
        let f = IndexFile::of(alloc::vec![p]);
        assert!(IndexFile::decode(IndexId::default(), &f.encode()).is_err());
    }
}
