//! Blobs: the unit of deduplication.
//!
//! A **data blob** is one chunk of file contents; a **tree blob** is one encoded directory
//! ([`crate::Tree`]). A blob's id is the keyed BLAKE2b-256 of its plaintext, so identical content
//! is stored once. On storage a blob is *sealed*: its plaintext framed with a codec byte
//! (compressed when that helps), then encrypted with XChaCha20-Poly1305 under a fresh nonce with
//! the label `cairn.data` or `cairn.tree`. Opening a blob checks the tag, the length promised by
//! the index and that the plaintext hashes to the blob's id.

use alloc::vec::Vec;
use core::fmt;

use serde::{Deserialize, Serialize};

use crate::compress::{self, Compression};
use crate::crypto::{Keys, NONCE_LEN, label};
use crate::error::{DecodeError, Error, ObjectKind};
use crate::id::BlobId;

/// The largest blob plaintext (256 MiB): chunks are at most 64 MiB, trees of huge directories
/// may be larger.
pub const MAX_BLOB_LEN: u32 = 256 * 1024 * 1024;

/// The two kinds of blobs. Packs hold blobs of one type only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[repr(u8)]
pub enum BlobType {
    /// File contents.
    Data = 0,
    /// A directory listing.
    Tree = 1,
}

impl BlobType {
    /// The associated-data label blobs of this type are sealed with.
    pub fn label(self) -> &'static [u8] {
        match self {
            Self::Data => label::DATA,
            Self::Tree => label::TREE,
        }
    }

    /// The type for a stored byte.
    pub fn from_byte(b: u8) -> Result<Self, DecodeError> {
        match b {
            0 => Ok(Self::Data),
            1 => Ok(Self::Tree),
            _ => Err(DecodeError::Malformed("unknown blob type")),
        }
    }
}

impl fmt::Display for BlobType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Data => "data",
            Self::Tree => "tree",
        })
    }
}

/// A blob ready to go into a pack.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedBlob {
    /// Its type.
    pub blob_type: BlobType,
    /// Its id.
    pub id: BlobId,
    /// Length of its plaintext.
    pub raw_len: u32,
    /// The sealed bytes: `nonce || ciphertext || tag`.
    pub bytes: Vec<u8>,
}

impl fmt::Debug for SealedBlob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedBlob")
            .field("blob_type", &self.blob_type)
            .field("id", &self.id)
            .field("raw_len", &self.raw_len)
            .field("sealed_len", &self.bytes.len())
            .finish()
    }
}

/// Compresses (when it helps) and seals a blob. Pure CPU work: safe to run on a worker thread.
pub fn seal_blob(
    keys: &Keys,
    blob_type: BlobType,
    id: BlobId,
    plaintext: &[u8],
    compression: Compression,
    nonce: &[u8; NONCE_LEN],
) -> SealedBlob {
    seal_blob_with(keys, blob_type, id, plaintext, &mut compress::Framer::new(compression), nonce)
}

/// [`seal_blob`] with a reusable [`compress::Framer`].
pub fn seal_blob_with(
    keys: &Keys,
    blob_type: BlobType,
    id: BlobId,
    plaintext: &[u8],
    framer: &mut compress::Framer,
    nonce: &[u8; NONCE_LEN],
) -> SealedBlob {
    let mut buf = framer.frame(plaintext);
    keys.seal_in_place(nonce, blob_type.label(), &mut buf);
    SealedBlob { blob_type, id, raw_len: plaintext.len() as u32, bytes: buf }
}

/// Opens a sealed blob: checks the tag, decompresses to exactly `raw_len` bytes and checks the
/// plaintext hashes to `id`.
pub fn open_blob(keys: &Keys, blob_type: BlobType, id: BlobId, sealed: &[u8], raw_len: u32) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    open_blob_into(keys, blob_type, id, sealed, raw_len, &mut Vec::new(), &mut out)?;
    Ok(out)
}

/// [`open_blob`] for a sealed blob the caller may overwrite: it is decrypted where it lies,
/// which saves copying it, and the plaintext goes to `out` (its bytes replaced). Afterwards `sealed`
/// holds the decrypted frame if the tag checked, else its bytes as they were.
pub fn open_blob_in_place(
    keys: &Keys,
    blob_type: BlobType,
    id: BlobId,
    sealed: &mut [u8],
    raw_len: u32,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let kind = ObjectKind::from(blob_type);
    let framed =
        keys.open_in_place(blob_type.label(), sealed).map_err(|_| Error::corrupt(kind, id, "authentication failed"))?;
    check_plaintext(keys, kind, id, framed, raw_len, out)
}

/// Decompresses `framed` into `out` and checks its length and id.
fn check_plaintext(
    keys: &Keys,
    kind: ObjectKind,
    id: BlobId,
    framed: &[u8],
    raw_len: u32,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let max = raw_len.min(MAX_BLOB_LEN) as usize;
    compress::unframe_into(framed, max, out).map_err(|e| Error::decode(kind, id, e))?;
    if out.len() != raw_len as usize {
        return Err(Error::corrupt(kind, id, "length differs from the index"));
    }
    if keys.blob_id(out) != id {
        return Err(Error::corrupt(kind, id, "contents do not match the blob id"));
    }
    Ok(())
}

/// [`open_blob`] with the caller's buffers: `scratch` holds the decrypted frame, `out` the
/// plaintext (their bytes replaced). Opening many blobs through the same two buffers saves two
/// allocations per blob, and the page faults of fresh memory for large ones. On failure `out`
/// holds no meaningful bytes.
pub fn open_blob_into(
    keys: &Keys,
    blob_type: BlobType,
    id: BlobId,
    sealed: &[u8],
    raw_len: u32,
    scratch: &mut Vec<u8>,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let kind = ObjectKind::from(blob_type);
    keys.open_into(blob_type.label(), sealed, scratch)
        .map_err(|_| Error::corrupt(kind, id, "authentication failed"))?;
    check_plaintext(keys, kind, id, scratch, raw_len, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::MasterKey;

    #[test]
    fn seal_open() {
        let keys = Keys::new(&MasterKey::from_bytes(&[4; 64]));
        let data = b"some file contents, some file contents, some file contents".repeat(10);
        let id = keys.blob_id(&data);
        let s = seal_blob(&keys, BlobType::Data, id, &data, Compression::DEFAULT, &[1; 24]);
        assert!(s.bytes.len() < data.len());
        assert_eq!(open_blob(&keys, BlobType::Data, id, &s.bytes, data.len() as u32).unwrap(), data);
        // Wrong type label, wrong id, wrong length, flipped byte: all refused.
        assert!(open_blob(&keys, BlobType::Tree, id, &s.bytes, data.len() as u32).is_err());
        assert!(open_blob(&keys, BlobType::Data, BlobId::default(), &s.bytes, data.len() as u32).is_err());
        assert!(open_blob(&keys, BlobType::Data, id, &s.bytes, data.len() as u32 - 1).is_err());
        let mut bad = s.bytes.clone();
        bad[40] ^= 0x10;
        assert!(matches!(open_blob(&keys, BlobType::Data, id, &bad, data.len() as u32), Err(Error::Corrupt { .. })));

        // With the caller's buffers, or in place: the same plaintext, the same refusals.
        let (mut scratch, mut out) = (b"old".to_vec(), b"older".to_vec());
        open_blob_into(&keys, BlobType::Data, id, &s.bytes, data.len() as u32, &mut scratch, &mut out).unwrap();
        assert_eq!(out, data);
        let refused = open_blob_into(&keys, BlobType::Data, id, &bad, data.len() as u32, &mut scratch, &mut out);
        assert!(matches!(refused, Err(Error::Corrupt { .. })));
        let mut sealed = s.bytes.clone();
        open_blob_in_place(&keys, BlobType::Data, id, &mut sealed, data.len() as u32, &mut out).unwrap();
        assert_eq!(out, data);
        let mut sealed = s.bytes.clone();
        let wrong_id =
            open_blob_in_place(&keys, BlobType::Data, BlobId::default(), &mut sealed, data.len() as u32, &mut out);
        assert!(matches!(wrong_id, Err(Error::Corrupt { .. })));
        let mut damaged = bad.clone();
        assert!(open_blob_in_place(&keys, BlobType::Data, id, &mut damaged, data.len() as u32, &mut out).is_err());
        assert_eq!(damaged, bad);
    }
}
