//! Snapshots: one backup, pointing at the root tree.
//!
//! A snapshot records when and where the backup ran, which paths it covers, its tags, the
//! snapshot it was compared against (the *parent*), the root tree blob and the backup's
//! statistics. It is postcard, framed and sealed with the label `cairn.snapshot`, and named by
//! the hash of the stored bytes. The root tree is a virtual `/` holding the backed-up paths with
//! their parent directories, so several paths fit in one snapshot without clashing.

use alloc::string::String;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

use crate::error::{Error, ObjectKind};
use crate::id::{BlobId, SnapshotId};
use crate::time::Timestamp;

/// A snapshot dated more than this after the reader's time is *in the future*: flagged by
/// `snapshots` and `check`, and never the anchor of `--keep-within`. An hour covers clocks that
/// are merely a little fast, not a machine whose time zone or year is wrong.
pub const FUTURE_TOLERANCE_SECS: i64 = 3600;

/// The largest snapshot object accepted (sealed or decompressed), 16 MiB.
pub const MAX_SNAPSHOT_LEN: u64 = 16 * 1024 * 1024;

/// What a backup did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupStats {
    /// Files not in the parent snapshot.
    pub files_new: u64,
    /// Files in the parent snapshot whose metadata changed (they were read again).
    pub files_changed: u64,
    /// Files unchanged since the parent snapshot (not read).
    pub files_unmodified: u64,
    /// Directories stored.
    pub dirs: u64,
    /// Symbolic links stored.
    pub symlinks: u64,
    /// Entries skipped because they are not files, directories or links (sockets, FIFOs, devices).
    pub skipped: u64,
    /// Entries that could not be read and were left out (see the warnings).
    pub errors: u64,
    /// Total size of the files in the snapshot.
    pub bytes_total: u64,
    /// File contents actually read.
    pub bytes_read: u64,
    /// New data blobs stored.
    pub data_blobs_new: u64,
    /// New tree blobs stored.
    pub tree_blobs_new: u64,
    /// Plaintext bytes of the new blobs.
    pub bytes_added_raw: u64,
    /// Sealed (compressed, encrypted) bytes of the new blobs.
    pub bytes_added_stored: u64,
    /// Pack files written.
    pub packs_written: u64,
    /// Index objects written.
    pub index_files_written: u64,
    /// Packs left by an interrupted backup that this one found complete and reused.
    pub packs_adopted: u64,
}

/// A snapshot object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// When the backup started (from the caller's clock).
    pub time: Timestamp,
    /// The root tree blob.
    pub tree: BlobId,
    /// The absolute paths backed up, raw bytes.
    pub paths: Vec<Vec<u8>>,
    /// The host that ran the backup.
    pub hostname: String,
    /// The user that ran it.
    pub username: String,
    /// Tags given by the user.
    pub tags: Vec<String>,
    /// The snapshot used to skip unchanged files, if any.
    pub parent: Option<SnapshotId>,
    /// The program and version that wrote it.
    pub program: String,
    /// The exclude patterns in effect.
    pub excludes: Vec<String>,
    /// What the backup did.
    pub stats: BackupStats,
    /// The token of the lease the backup held when it wrote this snapshot (appended field;
    /// `None` in snapshots written without one). A snapshot written after its lease was revoked
    /// is *withdrawn*: see FORMAT.md section 6.1.
    #[serde(skip)]
    pub lease: Option<[u8; 16]>,
}

impl Snapshot {
    /// The plaintext form; the appended lease token is left out when there is none.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = postcard::to_allocvec(self).unwrap_or_default();
        if self.lease.is_some() {
            out.extend_from_slice(&postcard::to_allocvec(&self.lease).unwrap_or_default());
        }
        out
    }

    /// Decodes a plaintext snapshot.
    pub fn decode(id: SnapshotId, bytes: &[u8]) -> Result<Self, Error> {
        let err = |e| Error::decode(ObjectKind::Snapshot, id, e);
        let (mut snapshot, rest) =
            postcard::take_from_bytes::<Self>(bytes).map_err(|e: postcard::Error| err(e.into()))?;
        if let Some((lease, _)) = crate::appended::field(rest).map_err(err)? {
            snapshot.lease = lease;
        }
        Ok(snapshot)
    }
}
