//! # cairn-core
//!
//! Cairn's repository format and backup engine: deduplicating, compressed, encrypted snapshots,
//! in `#![no_std]` + `alloc`, so that appliances can embed it.
//!
//! The engine is generic over three traits and reads neither a clock nor an entropy source:
//! - [`Storage`]: where a repository's objects live (local disk, S3, SFTP, ... in `cairn-std`;
//!   [`MemoryBackend`] here);
//! - [`Source`] and [`RestoreTarget`]: what a backup reads and a restore writes, with file
//!   contents as [`embedded_io_async`] streams;
//! - [`Worker`]: where CPU-heavy jobs run ([`InlineWorker`] here, a thread pool in `cairn-std`).
//!
//! Times come in as [`Timestamp`]s and randomness as a [`rand_core::CryptoRng`].
//!
//! [`sigv4`] signs S3 requests (headers or presigned URLs) sans-IO and without an allocator, for
//! the S3 destination in `cairn-std` and for appliances that talk to object storage themselves.
//! The byte layouts are specified in `FORMAT.md` next to this crate and pinned by golden vectors.
//!
//! ```
//! use cairn_core::{InitOptions, KdfParams, MemoryBackend, Repository};
//! # struct Rng(u64);
//! # impl rand_core::TryRng for Rng {
//! #     type Error = core::convert::Infallible;
//! #     fn try_next_u32(&mut self) -> Result<u32, Self::Error> { Ok(self.try_next_u64()? as u32) }
//! #     fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
//! #         self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1); Ok(self.0 >> 11) }
//! #     fn try_fill_bytes(&mut self, d: &mut [u8]) -> Result<(), Self::Error> {
//! #         for b in d { *b = self.try_next_u64()? as u8 } Ok(()) }
//! # }
//! # impl rand_core::TryCryptoRng for Rng {}
//! # let mut rng = Rng(1); // use a real CSPRNG, such as getrandom's SysRng
//! # futures_executor::block_on(async {
//! let mut options = InitOptions::default();
//! options.kdf = KdfParams::INSECURE_FOR_TESTS; // fast for the example; keep the default in real use
//! let repo = Repository::init(MemoryBackend::new(), b"correct horse", &options, &mut rng).await?;
//! assert!(repo.list_snapshots().await?.is_empty());
//! let reopened = Repository::open(repo.storage(), b"correct horse").await?;
//! assert_eq!(reopened.config().id, repo.config().id);
//! # Ok::<(), cairn_core::Error>(())
//! # }).unwrap();
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic))]
#![warn(clippy::std_instead_of_core, clippy::alloc_instead_of_core, clippy::std_instead_of_alloc)]

extern crate alloc;
#[cfg(any(feature = "std", test))]
extern crate std;

mod appended;
mod archiver;
mod backend;
mod blob;
mod checker;
mod chunker;
mod compress;
mod config;
mod crypto;
mod differ;
mod error;
mod id;
mod index;
mod key;
pub mod lease;
mod leased;
mod lock;
mod pack;
mod progress;
mod pruner;
mod repair;
mod repository;
mod restorer;
mod retention;
pub mod sigv4;
mod snapshot;
mod source;
mod time;
mod tree;
mod walker;
mod worker;

pub use archiver::{BackupOptions, BackupResults, backup};
pub use backend::{
    FileKind, Handle, MemoryBackend, ObjectInfo, ReadOnly, ReadRange, Storage, StorageProperties, WriteMode,
    slice_range, write_new,
};
pub use blob::{
    BlobType, MAX_BLOB_LEN, SealedBlob, open_blob, open_blob_in_place, open_blob_into, seal_blob, seal_blob_with,
};
pub use checker::{CheckOptions, CheckProblem, CheckResults, CheckStats, DataSubset, Usage, WindowLimit, check};
pub use chunker::{Chunker, ChunkerParams, GearTable};
pub use compress::{
    Codec, Compression, Framer, frame_for_sealing, resize_for_overwrite, unframe, unframe_into, unframe_owned,
};
pub use config::{Config, FEATURE_LEASES, FEATURE_ZSTD, FORMAT_VERSION, KNOWN_FEATURES, LockSettings, MAX_CONFIG_LEN};
pub use crypto::{
    AuthError, KdfError, KdfParams, Keys, MASTER_KEY_LEN, MasterKey, NONCE_LEN, SEAL_OVERHEAD, TAG_LEN, label,
    object_hash,
};
pub use differ::{Change, DiffEntry, DiffSide, DiffStats, diff};
pub use error::{DecodeError, DisplayPath, Error, IoError, IoErrorKind, ObjectKind, ObjectRef, Result, StorageOp};
pub use id::{BlobId, ID_LEN, Id, IndexId, KeyId, PackId, ParseIdError, SnapshotId};
pub use index::{BlobLocation, Index, IndexBlob, IndexFile, IndexMemory, IndexPack, MAX_INDEX_LEN, PackInfo};
pub use key::{KEY_VERSION, Kdf, KeyInfo, KeyObject, MAX_KEY_LEN};
pub use lease::{Lease, LeaseClock, StaleJudge, Verdict};
pub use leased::Leased;
pub use lock::{
    CLAIM_MAGIC, EXCLUSIVE_LOCK_ID, Holder, HostTag, LeaseFields, LockEntry, LockInfo, LockListing, LockStore,
    MAX_LOCK_LEN, Revocation,
};
pub use pack::{
    FinishedPack, HEADER_ENTRY_LEN, MAX_HEADER_LEN, MAX_PACK_LEN, PACK_HEADER_VERSION, PackBuilder, PackEntry,
    PackHeader, decode_header, decode_pack, header_len,
};
pub use progress::{FileStatus, NoProgress, Progress, Warning, WarningKind};
pub use pruner::{PruneOptions, PrunePlan, PruneStats, plan_prune, prune};
pub use repair::{
    RebuildIndexResults, RepairDrop, RepairOptions, RepairReason, RepairResults, SnapshotRepair, rebuild_index,
    repair_snapshots,
};
pub use repository::{IndexLoad, InitOptions, Repository, SnapshotList, open_object, random_bytes, seal_object};
pub use restorer::{RestoreStats, restore};
pub use retention::{GroupPlan, KeepPolicy, KeepReason, Kept, RetentionInput, RetentionPlan, plan_retention};
pub use snapshot::{BackupStats, FUTURE_TOLERANCE_SECS, MAX_SNAPSHOT_LEN, Snapshot};
pub use source::{EntryKind, Present, RestoreTarget, Source, SourceEntry};
pub use time::{Span, Timestamp};
pub use tree::{Metadata, NameError, Node, NodeKind, Tree, TreeProblem, join_path, split_absolute, validate_name};
pub use walker::{Resolved, resolve, walk};
pub use worker::{InlineWorker, Worker};

/// Re-exported so that callers name the same trait versions the engine uses.
pub use embedded_io_async;
/// Re-exported so that callers name the same trait versions the engine uses.
pub use rand_core;

#[cfg(test)]
mod testing {
    /// Deterministic pseudo-random bytes (xorshift64) for unit tests.
    pub(crate) fn random_bytes(seed: u64, n: usize) -> alloc::vec::Vec<u8> {
        let mut x = seed | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    }
}
