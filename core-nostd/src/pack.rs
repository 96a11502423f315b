//! Packs: the files that hold blobs.
//!
//! Layout of a pack file (all integers little-endian):
//!
//! ```text
//! sealed blob 0 || sealed blob 1 || ... || sealed header || header length (u32)
//! ```
//!
//! The header plaintext is `version (u8 = 1) || blob type (u8) || count (u32)` followed by `count`
//! entries of `blob id (32) || sealed length (u32) || plaintext length (u32)`, one per blob in
//! file order; blob `i` starts where blob `i - 1` ends. It is framed (codec byte) and sealed with
//! the label `cairn.pack-header`. All blobs of a pack have the same type, and their order is
//! shuffled (with the caller's randomness) so the layout does not mirror the source tree. A pack
//! is named by the BLAKE2b-256 of all its bytes.

use alloc::vec::Vec;

use crate::blob::{BlobType, MAX_BLOB_LEN, SealedBlob};
use crate::compress::{self, Compression};
use crate::crypto::{Keys, NONCE_LEN, SEAL_OVERHEAD, label, object_hash};
use crate::error::{DecodeError, Error, ObjectKind};
use crate::id::{BlobId, PackId};

/// The pack header layout this build writes and reads.
pub const PACK_HEADER_VERSION: u8 = 1;
/// Bytes per header entry.
pub const HEADER_ENTRY_LEN: usize = 32 + 4 + 4;
/// Bytes before the entries in a header plaintext.
const HEADER_PREFIX_LEN: usize = 1 + 1 + 4;
/// The largest sealed header accepted (64 MiB).
pub const MAX_HEADER_LEN: u32 = 64 * 1024 * 1024;
/// The largest pack accepted (4 GiB - 1: offsets are `u32`).
pub const MAX_PACK_LEN: u64 = u32::MAX as u64;

/// Where one blob sits in a pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackEntry {
    /// The blob's id.
    pub id: BlobId,
    /// Offset of its sealed bytes in the pack.
    pub offset: u32,
    /// Length of its sealed bytes.
    pub length: u32,
    /// Length of its plaintext.
    pub raw_len: u32,
}

/// A decoded pack header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackHeader {
    /// The type of every blob in the pack.
    pub blob_type: BlobType,
    /// The blobs, in file order.
    pub entries: Vec<PackEntry>,
}

/// Collects sealed blobs of one type until the pack is full.
#[derive(Debug)]
pub struct PackBuilder {
    blob_type: BlobType,
    blobs: Vec<SealedBlob>,
    size: usize,
}

/// A finished pack, ready to store.
#[derive(Debug)]
pub struct FinishedPack {
    /// Its id (the hash of `bytes`).
    pub id: PackId,
    /// The type of its blobs.
    pub blob_type: BlobType,
    /// The whole pack file.
    pub bytes: Vec<u8>,
    /// Where each blob is.
    pub entries: Vec<PackEntry>,
}

impl PackBuilder {
    /// An empty pack for blobs of `blob_type`.
    pub fn new(blob_type: BlobType) -> Self {
        Self { blob_type, blobs: Vec::new(), size: 0 }
    }

    /// The type of blob this pack takes.
    pub fn blob_type(&self) -> BlobType {
        self.blob_type
    }

    /// Adds a sealed blob (its type must match the pack's).
    pub fn add(&mut self, blob: SealedBlob) {
        debug_assert_eq!(blob.blob_type, self.blob_type);
        self.size += blob.bytes.len();
        self.blobs.push(blob);
    }

    /// Bytes of sealed blobs so far.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Number of blobs so far.
    pub fn len(&self) -> usize {
        self.blobs.len()
    }

    /// True if no blob was added.
    pub fn is_empty(&self) -> bool {
        self.blobs.is_empty()
    }

    /// Shuffles the blob order (Fisher-Yates) with `random`, which yields a random `u64` per call.
    pub fn shuffle(&mut self, mut random: impl FnMut() -> u64) {
        for i in (1..self.blobs.len()).rev() {
            let j = (random() % (i as u64 + 1)) as usize;
            self.blobs.swap(i, j);
        }
    }

    /// Lays the blobs out in their current order and appends the sealed header. Pure CPU work.
    pub fn finish(self, keys: &Keys, header_nonce: &[u8; NONCE_LEN]) -> FinishedPack {
        let count = self.blobs.len();
        let mut header = Vec::with_capacity(HEADER_PREFIX_LEN + count * HEADER_ENTRY_LEN);
        header.push(PACK_HEADER_VERSION);
        header.push(self.blob_type as u8);
        header.extend_from_slice(&(count as u32).to_le_bytes());
        let header_sealed_len = 1 + header.capacity() + SEAL_OVERHEAD;
        let mut bytes = Vec::with_capacity(self.size + header_sealed_len + 4);
        let mut entries = Vec::with_capacity(count);
        for blob in self.blobs {
            let entry = PackEntry {
                id: blob.id,
                offset: bytes.len() as u32,
                length: blob.bytes.len() as u32,
                raw_len: blob.raw_len,
            };
            header.extend_from_slice(&entry.id.0.0);
            header.extend_from_slice(&entry.length.to_le_bytes());
            header.extend_from_slice(&entry.raw_len.to_le_bytes());
            entries.push(entry);
            bytes.extend_from_slice(&blob.bytes);
        }
        let mut sealed = compress::frame_for_sealing(&header, Compression::OFF);
        keys.seal_in_place(header_nonce, label::PACK_HEADER, &mut sealed);
        bytes.extend_from_slice(&sealed);
        bytes.extend_from_slice(&(sealed.len() as u32).to_le_bytes());
        FinishedPack { id: PackId(object_hash(&bytes)), blob_type: self.blob_type, bytes, entries }
    }
}

/// The length of the sealed header, read from the last four bytes of a pack of `pack_len` bytes.
pub fn header_len(pack: PackId, pack_len: u64, trailer: &[u8]) -> Result<u32, Error> {
    let err = |e| Error::decode(ObjectKind::Pack, pack, e);
    let t: [u8; 4] = trailer.try_into().map_err(|_| err(DecodeError::UnexpectedEnd))?;
    let len = u32::from_le_bytes(t);
    if len > MAX_HEADER_LEN {
        return Err(err(DecodeError::TooLarge { what: "pack header", len: len.into(), max: MAX_HEADER_LEN.into() }));
    }
    if u64::from(len) + 4 > pack_len || (len as usize) < SEAL_OVERHEAD + 1 + HEADER_PREFIX_LEN {
        return Err(err(DecodeError::Malformed("pack header length does not fit the pack")));
    }
    Ok(len)
}

/// Opens and checks a sealed pack header of a pack of `pack_len` bytes.
pub fn decode_header(keys: &Keys, pack: PackId, pack_len: u64, sealed: &[u8]) -> Result<PackHeader, Error> {
    let err = |e| Error::decode(ObjectKind::PackHeader, pack, e);
    let framed = keys
        .open(label::PACK_HEADER, sealed)
        .map_err(|_| Error::corrupt(ObjectKind::PackHeader, pack, "authentication failed"))?;
    let plain = compress::unframe_owned(framed, MAX_HEADER_LEN as usize).map_err(err)?;
    let (prefix, body) = plain.split_at_checked(HEADER_PREFIX_LEN).ok_or(err(DecodeError::UnexpectedEnd))?;
    let [version, blob_type, c0, c1, c2, c3] =
        <[u8; HEADER_PREFIX_LEN]>::try_from(prefix).map_err(|_| err(DecodeError::UnexpectedEnd))?;
    if version != PACK_HEADER_VERSION {
        return Err(Error::UnsupportedVersion {
            object: ObjectKind::PackHeader,
            found: version.into(),
            supported: PACK_HEADER_VERSION.into(),
        });
    }
    let blob_type = BlobType::from_byte(blob_type).map_err(err)?;
    let count = u32::from_le_bytes([c0, c1, c2, c3]) as usize;
    if body.len() != count.saturating_mul(HEADER_ENTRY_LEN) {
        return Err(err(DecodeError::Malformed("pack header entry count does not match its length")));
    }
    let mut entries = Vec::new();
    entries
        .try_reserve_exact(count)
        .map_err(|_| err(DecodeError::TooLarge { what: "pack header", len: count as u64, max: 0 }))?;
    let mut offset: u64 = 0;
    for raw in body.chunks_exact(HEADER_ENTRY_LEN) {
        let (id, rest) = raw.split_at(32);
        let (length, raw_len) = rest.split_at(4);
        let length = u32::from_le_bytes(length.try_into().map_err(|_| err(DecodeError::UnexpectedEnd))?);
        let raw_len = u32::from_le_bytes(raw_len.try_into().map_err(|_| err(DecodeError::UnexpectedEnd))?);
        if (length as usize) < SEAL_OVERHEAD + 1 || raw_len > MAX_BLOB_LEN {
            return Err(err(DecodeError::Malformed("pack header entry has an impossible length")));
        }
        let mut id_bytes = [0u8; 32];
        id_bytes.copy_from_slice(id);
        entries.push(PackEntry { id: BlobId(crate::Id(id_bytes)), offset: offset as u32, length, raw_len });
        offset += u64::from(length);
    }
    if offset + sealed.len() as u64 + 4 != pack_len {
        return Err(err(DecodeError::Malformed("blob lengths do not add up to the pack size")));
    }
    Ok(PackHeader { blob_type, entries })
}

/// Decodes the header of a whole pack held in memory.
pub fn decode_pack(keys: &Keys, pack: PackId, bytes: &[u8]) -> Result<PackHeader, Error> {
    let len = bytes.len() as u64;
    let trailer_at =
        bytes.len().checked_sub(4).ok_or(Error::decode(ObjectKind::Pack, pack, DecodeError::UnexpectedEnd))?;
    let (rest, trailer) = bytes.split_at(trailer_at);
    let hlen = header_len(pack, len, trailer)? as usize;
    let sealed =
        rest.get(rest.len() - hlen..).ok_or(Error::decode(ObjectKind::Pack, pack, DecodeError::UnexpectedEnd))?;
    decode_header(keys, pack, len, sealed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blob::{open_blob, seal_blob};
    use crate::crypto::MasterKey;

    #[test]
    fn build_shuffle_and_parse() {
        let keys = Keys::new(&MasterKey::from_bytes(&[8; 64]));
        let mut b = PackBuilder::new(BlobType::Data);
        let datas: Vec<Vec<u8>> = (0..10u8).map(|i| alloc::vec![i; 1000 + usize::from(i)]).collect();
        for d in &datas {
            let id = keys.blob_id(d);
            b.add(seal_blob(&keys, BlobType::Data, id, d, Compression::DEFAULT, &[d[0]; 24]));
        }
        let mut state = 12345u64;
        b.shuffle(|| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            state >> 33
        });
        let p = b.finish(&keys, &[99; 24]);
        assert_eq!(PackId(object_hash(&p.bytes)), p.id);
        let h = decode_pack(&keys, p.id, &p.bytes).unwrap();
        assert_eq!(h.entries, p.entries);
        assert_eq!(h.blob_type, BlobType::Data);
        let order: Vec<BlobId> = h.entries.iter().map(|e| e.id).collect();
        let original: Vec<BlobId> = datas.iter().map(|d| keys.blob_id(d)).collect();
        assert_ne!(order, original, "blobs were not shuffled");
        for e in &h.entries {
            let s = &p.bytes[e.offset as usize..(e.offset + e.length) as usize];
            let plain = open_blob(&keys, BlobType::Data, e.id, s, e.raw_len).unwrap();
            assert!(datas.contains(&plain));
        }
    }

    #[test]
    fn truncated_or_damaged_packs_are_errors() {
        let keys = Keys::new(&MasterKey::from_bytes(&[8; 64]));
        let mut b = PackBuilder::new(BlobType::Tree);
        let id = keys.blob_id(b"x");
        b.add(seal_blob(&keys, BlobType::Tree, id, b"x", Compression::DEFAULT, &[0; 24]));
        let p = b.finish(&keys, &[1; 24]);
        for cut in 0..p.bytes.len() {
            assert!(decode_pack(&keys, p.id, &p.bytes[..cut]).is_err());
        }
        for i in p.entries[0].length as usize..p.bytes.len() {
            let mut bad = p.bytes.clone();
            bad[i] ^= 1;
            assert!(decode_pack(&keys, p.id, &bad).is_err(), "flip at {i} not detected");
        }
    }
}
