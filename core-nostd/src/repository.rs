//! The repository: a storage backend opened with a password.
//!
//! Terms:
//! - **init** writes a key object, then the config (create-new, so two `init`s cannot both
//!   succeed). A repository exists once its config exists.
//! - **open** reads the config's presence, then tries the password on each key object until one
//!   yields the master key, then decrypts and checks the config.
//! - **sealed objects** (config, snapshots, index objects) are framed plaintext sealed with a
//!   label; all but the config are named by the hash of their stored bytes, which every read
//!   checks.
//!
//! A [`Repository`] holds no index: operations that need blob locations take an [`Index`]
//! loaded with [`Repository::load_index`], so a caller decides when to pay for it.

use alloc::string::ToString;
use alloc::sync::Arc;
use alloc::vec::Vec;

use bytes::Bytes;
use rand_core::CryptoRng;

use crate::backend::{FileKind, Handle, ReadRange, Storage, WriteMode, write_new};
use crate::blob::{self, BlobType, MAX_BLOB_LEN};
use crate::chunker::ChunkerParams;
use crate::compress::{self, Compression};
use crate::config::{self, Config, LockSettings};
use crate::crypto::{self, KdfParams, Keys, MASTER_KEY_LEN, MasterKey, NONCE_LEN, label};
use crate::error::{Error, IoError, IoErrorKind, ObjectKind, StorageOp};
use crate::id::{BlobId, Id, IndexId, KeyId, SnapshotId};
use crate::index::{Index, IndexFile, MAX_INDEX_LEN};
use crate::key::{KeyInfo, KeyObject, MAX_KEY_LEN};
use crate::snapshot::{MAX_SNAPSHOT_LEN, Snapshot};
use crate::tree::Tree;

/// Options for [`Repository::init`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct InitOptions {
    /// KDF parameters of the first key.
    pub kdf: KdfParams,
    /// Who and when, recorded in the first key.
    pub key_info: KeyInfo,
    /// Target pack size in bytes.
    pub pack_size: u32,
    /// Compression of new data.
    pub compression: Compression,
    /// Chunk sizes `(min, avg, max)`; the seed is always random.
    pub chunk_sizes: (u32, u32, u32),
    /// Lease timing (FORMAT.md section 6.1).
    pub locks: LockSettings,
}

impl Default for InitOptions {
    fn default() -> Self {
        Self {
            kdf: KdfParams::DEFAULT,
            key_info: KeyInfo::default(),
            pack_size: Config::DEFAULT_PACK_SIZE,
            compression: Compression::DEFAULT,
            chunk_sizes: (ChunkerParams::DEFAULT_MIN, ChunkerParams::DEFAULT_AVG, ChunkerParams::DEFAULT_MAX),
            locks: LockSettings::DEFAULT,
        }
    }
}

/// An open repository. See the [module docs](self).
#[derive(Debug)]
pub struct Repository<S> {
    storage: S,
    keys: Arc<Keys>,
    config: Config,
    key_id: KeyId,
}

/// Fills an array from the caller's RNG.
pub fn random_bytes<const N: usize, R: CryptoRng + ?Sized>(rng: &mut R) -> [u8; N] {
    let mut out = [0u8; N];
    rng.fill_bytes(&mut out);
    out
}

pub(crate) fn storage_error(op: StorageOp, handle: &Handle, source: IoError) -> Error {
    Error::Storage { op, kind: handle.kind, id: handle.id, source }
}

/// The error of a failed [`Storage::fence`]: [`Error::LockLost`] when that is what it says.
pub(crate) fn fence_error(source: IoError) -> Error {
    let e = storage_error(StorageOp::Read, &Handle::new(FileKind::Lock, Id::ZERO), source);
    if e.is_lock_lost() { Error::LockLost } else { e }
}

fn object_kind(kind: FileKind) -> ObjectKind {
    match kind {
        FileKind::Config => ObjectKind::Config,
        FileKind::Key => ObjectKind::Key,
        FileKind::Snapshot => ObjectKind::Snapshot,
        FileKind::Index => ObjectKind::Index,
        FileKind::Pack => ObjectKind::Pack,
        FileKind::Lock => ObjectKind::Lock,
    }
}

/// Reads a whole object of at most `max_len` bytes and, for content-addressed kinds, checks that
/// its bytes hash to its name.
pub(crate) async fn read_verified<S: Storage>(storage: &S, handle: &Handle, max_len: u64) -> Result<Bytes, Error> {
    let bytes = storage
        .read(handle, ReadRange::All { max_len })
        .await
        .map_err(|e| storage_error(StorageOp::Read, handle, e))?;
    if handle.kind != FileKind::Config && crypto::object_hash(&bytes) != handle.id {
        return Err(Error::corrupt(object_kind(handle.kind), handle.id, "contents do not match the object name"));
    }
    Ok(bytes)
}

/// Reads one key object: its bytes must hash to its name and decode.
async fn read_key<S: Storage>(storage: &S, id: Id) -> Result<KeyObject, Error> {
    let bytes = read_verified(storage, &Handle::new(FileKind::Key, id), MAX_KEY_LEN).await?;
    KeyObject::decode(KeyId(id), &bytes)
}

/// Every snapshot's lease token (`None` for one written without a lease, and for a damaged one:
/// its token cannot be known). Storage errors fail; a snapshot removed while listing is left out.
pub(crate) async fn snapshot_leases<S: Storage>(
    storage: &S,
    keys: &Keys,
) -> Result<Vec<(SnapshotId, Option<[u8; 16]>)>, Error> {
    let listed = storage
        .list(FileKind::Snapshot)
        .await
        .map_err(|e| storage_error(StorageOp::List, &Handle::new(FileKind::Snapshot, Id::ZERO), e))?;
    let mut out = Vec::with_capacity(listed.len());
    for o in listed {
        let id = SnapshotId(o.id);
        let handle = Handle::new(FileKind::Snapshot, id);
        let lease = match read_verified(storage, &handle, MAX_SNAPSHOT_LEN).await {
            Ok(bytes) => open_object(keys, ObjectKind::Snapshot, o.id, label::SNAPSHOT, &bytes, MAX_SNAPSHOT_LEN)
                .and_then(|plain| Snapshot::decode(id, &plain))
                .ok()
                .and_then(|s| s.lease),
            Err(e) if e.io_kind() == Some(IoErrorKind::NotFound) => continue,
            Err(e @ Error::Storage { .. }) if !e.is_damage() => return Err(e),
            Err(_) => None,
        };
        out.push((id, lease));
    }
    Ok(out)
}

/// The snapshots of a repository (see [`Repository::snapshots`]), oldest first.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct SnapshotList {
    /// The snapshots that count.
    pub valid: Vec<(SnapshotId, Snapshot)>,
    /// Snapshots written after their lease was revoked.
    pub withdrawn: Vec<(SnapshotId, Snapshot)>,
}

/// What [`Repository::load_index_reporting`] found.
#[derive(Debug)]
#[non_exhaustive]
pub struct IndexLoad {
    /// The index.
    pub index: Index,
    /// Index objects passed over as damaged.
    pub damaged: Vec<(IndexId, Error)>,
    /// Packs no readable index object lists, added from their own headers.
    pub unindexed_packs: u64,
}

impl<S: Storage> Repository<S> {
    /// Creates a new repository in `storage`, protected by `password`.
    pub async fn init<R: CryptoRng + ?Sized>(
        storage: S,
        password: &[u8],
        options: &InitOptions,
        rng: &mut R,
    ) -> Result<Self, Error> {
        match storage.read(&Handle::CONFIG, ReadRange::Tail { len: 1 }).await {
            Ok(_) => return Err(Error::AlreadyInitialized),
            Err(e) if e.kind() == IoErrorKind::NotFound => {}
            Err(e) => return Err(storage_error(StorageOp::Read, &Handle::CONFIG, e)),
        }
        let master = MasterKey::from_bytes(&random_bytes::<MASTER_KEY_LEN, _>(rng));
        let mut config = Config::new(Id(random_bytes(rng)), random_bytes(rng));
        config.pack_size = options.pack_size;
        config.set_compression(options.compression);
        let (min, avg, max) = options.chunk_sizes;
        config.chunker.min_size = min;
        config.chunker.avg_size = avg;
        config.chunker.max_size = max;
        config.locks = options.locks;
        config.require_leases();
        config.validate()?;
        let key_id = write_key_object(&storage, &master, password, options.kdf, options.key_info.clone(), rng).await?;
        let key_handle = Handle::new(FileKind::Key, key_id);

        let keys = Arc::new(Keys::new(&master));
        let sealed = seal_object(&keys, label::CONFIG, &config.encode(), Compression::OFF, &random_bytes(rng));
        match write_new(&storage, &Handle::CONFIG, Bytes::from(sealed)).await {
            Ok(()) => {}
            Err(e) if e.kind() == IoErrorKind::AlreadyExists => {
                // Someone else initialised the repository at the same moment: withdraw our key.
                let _ = storage.remove(&key_handle).await;
                return Err(Error::AlreadyInitialized);
            }
            Err(e) => return Err(storage_error(StorageOp::Write, &Handle::CONFIG, e)),
        }
        Ok(Self { storage, keys, config, key_id })
    }

    /// Opens the repository in `storage` with `password`.
    pub async fn open(storage: S, password: &[u8]) -> Result<Self, Error> {
        let sealed_config =
            match storage.read(&Handle::CONFIG, ReadRange::All { max_len: config::MAX_CONFIG_LEN }).await {
                Ok(b) => b,
                Err(e) if e.kind() == IoErrorKind::NotFound => return Err(Error::NotInitialized),
                Err(e) => return Err(storage_error(StorageOp::Read, &Handle::CONFIG, e)),
            };
        let listed = storage
            .list(FileKind::Key)
            .await
            .map_err(|e| storage_error(StorageOp::List, &Handle::new(FileKind::Key, Id::ZERO), e))?;
        if listed.is_empty() {
            return Err(Error::NoKeys);
        }
        let mut last_error = None;
        let mut damaged = None;
        let mut decoded_any = false;
        // A key that the password opens but whose master key does not open the config: left by
        // an interrupted `init` at the same place (its config never written), or the config is
        // damaged. Another key may still open it; if none does, this is the error.
        let mut config_error = None;
        for info in listed {
            let key = match read_key(&storage, info.id).await {
                Ok(k) => k,
                Err(e) => {
                    last_error = Some(e);
                    damaged = Some(KeyId(info.id));
                    continue;
                }
            };
            decoded_any = true;
            let master = match key.open(password) {
                Ok(Some(m)) => m,
                Ok(None) => continue,
                Err(_) => continue,
            };
            let keys = Arc::new(Keys::new(&master));
            let opened =
                open_object(&keys, ObjectKind::Config, Id::ZERO, label::CONFIG, &sealed_config, config::MAX_CONFIG_LEN)
                    .and_then(|plain| Config::decode(&plain));
            match opened {
                Ok(config) => return Ok(Self { storage, keys, config, key_id: KeyId(info.id) }),
                Err(e) => config_error = Some(e),
            }
        }
        if let Some(e) = config_error {
            return Err(e);
        }
        // A damaged key is reported instead of "wrong password" only when no key decoded at all.
        match (last_error, damaged) {
            (Some(e), _) if !decoded_any => Err(e),
            (_, Some(damaged)) => Err(Error::WrongPasswordOrDamagedKey { damaged }),
            _ => Err(Error::WrongPassword),
        }
    }

    /// The storage backend.
    pub fn storage(&self) -> &S {
        &self.storage
    }

    /// The working keys, shared with worker jobs.
    pub fn keys(&self) -> &Arc<Keys> {
        &self.keys
    }

    /// The config.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The key object the password opened.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// Seals `plaintext` (framed with the repository's compression) and stores it under the hash
    /// of the sealed bytes.
    pub async fn save_object<R: CryptoRng + ?Sized>(
        &self,
        kind: FileKind,
        aad: &[u8],
        plaintext: &[u8],
        rng: &mut R,
    ) -> Result<Id, Error> {
        let sealed = seal_object(&self.keys, aad, plaintext, self.config.compression, &random_bytes(rng));
        let id = crypto::object_hash(&sealed);
        let handle = Handle::new(kind, id);
        self.storage
            .write(&handle, Bytes::from(sealed), WriteMode::Replace)
            .await
            .map_err(|e| storage_error(StorageOp::Write, &handle, e))?;
        Ok(id)
    }

    /// Reads, verifies, opens and unframes a sealed object.
    pub async fn load_object(&self, handle: &Handle, aad: &[u8], max_len: u64) -> Result<Vec<u8>, Error> {
        let bytes = read_verified(&self.storage, handle, max_len).await?;
        open_object(&self.keys, object_kind(handle.kind), handle.id, aad, &bytes, max_len)
    }

    /// Lists all objects of `kind`, with their sizes.
    pub async fn list_objects(&self, kind: FileKind) -> Result<Vec<crate::backend::ObjectInfo>, Error> {
        self.storage.list(kind).await.map_err(|e| storage_error(StorageOp::List, &Handle::new(kind, Id::ZERO), e))
    }

    /// Lists the ids of all objects of `kind`.
    pub async fn list(&self, kind: FileKind) -> Result<Vec<Id>, Error> {
        Ok(self.list_objects(kind).await?.into_iter().map(|o| o.id).collect())
    }

    /// Loads one index object.
    pub async fn load_index_file(&self, id: IndexId) -> Result<IndexFile, Error> {
        let plain = self.load_object(&Handle::new(FileKind::Index, id), label::INDEX, MAX_INDEX_LEN).await?;
        IndexFile::decode(id, &plain)
    }

    /// Stores an index object.
    pub async fn save_index_file<R: CryptoRng + ?Sized>(
        &self,
        file: &IndexFile,
        rng: &mut R,
    ) -> Result<IndexId, Error> {
        self.save_object(FileKind::Index, label::INDEX, &file.encode(), rng).await.map(IndexId)
    }

    /// Adds to `index` every complete pack that no index object lists: packs uploaded by a backup
    /// that was interrupted before it wrote their index object. Each pack's header is read from
    /// its tail and authenticated (a pack that does not open is left alone), and the adopted packs
    /// are recorded in a new index object. Packs a prune condemned are never adopted: a late
    /// deletion of them must stay harmless (FORMAT.md section 6.2). Returns how many packs were
    /// adopted.
    pub async fn adopt_unindexed_packs<R: CryptoRng + ?Sized>(
        &self,
        index: &mut Index,
        rng: &mut R,
    ) -> Result<u64, Error> {
        let adopted = self.add_unindexed_packs(index, false).await?;
        let count = adopted.len() as u64;
        if !adopted.is_empty() {
            self.save_index_file(&IndexFile::of(adopted), rng).await?;
        }
        Ok(count)
    }

    /// Adds to `index` every pack in storage that it does not list and whose authenticated
    /// header opens (others are left alone), and returns their entries. Condemned packs only
    /// with `condemned` (readers may read them; writers must not reuse them).
    async fn add_unindexed_packs(
        &self,
        index: &mut Index,
        condemned: bool,
    ) -> Result<Vec<crate::index::IndexPack>, Error> {
        let mut added = Vec::new();
        for info in self.list_objects(FileKind::Pack).await? {
            let id = crate::id::PackId(info.id);
            if index.pack(&id).is_some() || (!condemned && index.is_condemned(&id)) {
                continue;
            }
            let Ok(pack) = self.index_entry_from_header(id, info.size).await else { continue };
            index.add_pack(id, pack.blob_type, pack.size, &pack.blobs)?;
            added.push(pack);
        }
        Ok(added)
    }

    /// The index entry of a pack of `size` bytes, from its authenticated header.
    pub async fn index_entry_from_header(
        &self,
        id: crate::id::PackId,
        size: u64,
    ) -> Result<crate::index::IndexPack, Error> {
        let header = self.read_pack_header(id, size).await?;
        let blobs = header.entries.iter().map(|e| (*e).into()).collect();
        Ok(crate::index::IndexPack { id, blob_type: header.blob_type, size, blobs })
    }

    /// Reads and authenticates the header of a pack of `size` bytes, from its tail.
    pub async fn read_pack_header(&self, id: crate::id::PackId, size: u64) -> Result<crate::pack::PackHeader, Error> {
        const GUESS: u32 = 64 * 1024;
        let handle = Handle::new(FileKind::Pack, id);
        let read = |len: u32| async move {
            self.storage
                .read(&handle, ReadRange::Tail { len })
                .await
                .map_err(|e| storage_error(StorageOp::Read, &handle, e))
        };
        let mut tail = read(GUESS).await?;
        let trailer = tail.get(tail.len().saturating_sub(4)..).unwrap_or_default();
        let hlen = crate::pack::header_len(id, size, trailer)?;
        if tail.len() < hlen as usize + 4 {
            tail = read(hlen + 4).await?;
        }
        let start = tail.len().saturating_sub(hlen as usize + 4);
        let sealed = tail.get(start..tail.len().saturating_sub(4)).unwrap_or_default();
        crate::pack::decode_header(&self.keys, id, size, sealed)
    }

    /// Stores a finished pack and returns its index entry.
    pub async fn store_pack(&self, pack: crate::pack::FinishedPack) -> Result<crate::index::IndexPack, Error> {
        let handle = Handle::new(FileKind::Pack, pack.id);
        let size = pack.bytes.len() as u64;
        self.storage
            .write(&handle, Bytes::from(pack.bytes), WriteMode::Replace)
            .await
            .map_err(|e| storage_error(StorageOp::Write, &handle, e))?;
        Ok(crate::index::IndexPack {
            id: pack.id,
            blob_type: pack.blob_type,
            size,
            blobs: pack.entries.into_iter().map(crate::index::IndexBlob::from).collect(),
        })
    }

    /// Loads and decodes every index object, with its id.
    pub async fn load_index_files(&self) -> Result<Vec<(IndexId, IndexFile)>, Error> {
        let mut files = Vec::new();
        for id in self.list(FileKind::Index).await? {
            let id = IndexId(id);
            files.push((id, self.load_index_file(id).await?));
        }
        Ok(files)
    }

    /// Loads every index object into an in-memory [`Index`]. A damaged index object does not
    /// stop it (see [`Repository::load_index_reporting`]).
    pub async fn load_index(&self) -> Result<Index, Error> {
        Ok(self.load_index_reporting(false).await?.index)
    }

    /// Loads every index object into an in-memory [`Index`], passing over damaged ones. When one
    /// is damaged, or when `read_unindexed` asks for it (a restore, which must find every blob
    /// there is), every pack that no readable index object lists is read from its own
    /// authenticated header instead: in memory only (`repair index` writes a new index).
    /// Condemned packs are read too only with `read_unindexed`: an index for a backup never
    /// holds them. Storage errors still fail.
    pub async fn load_index_reporting(&self, read_unindexed: bool) -> Result<IndexLoad, Error> {
        let mut files = Vec::new();
        let mut damaged = Vec::new();
        for id in self.list(FileKind::Index).await? {
            let id = IndexId(id);
            match self.load_index_file(id).await {
                Ok(file) => files.push(file),
                Err(e @ (Error::Corrupt { .. } | Error::Decode { .. })) => damaged.push((id, e)),
                Err(e) => return Err(e),
            }
        }
        let mut index = Index::from_files(files.iter())?;
        drop(files);
        let mut unindexed_packs = 0;
        if read_unindexed || !damaged.is_empty() {
            unindexed_packs = self.add_unindexed_packs(&mut index, read_unindexed).await?.len() as u64;
            index.compact();
        }
        Ok(IndexLoad { index, damaged, unindexed_packs })
    }

    /// Loads one snapshot.
    pub async fn load_snapshot(&self, id: SnapshotId) -> Result<Snapshot, Error> {
        let plain = self.load_object(&Handle::new(FileKind::Snapshot, id), label::SNAPSHOT, MAX_SNAPSHOT_LEN).await?;
        Snapshot::decode(id, &plain)
    }

    /// Stores a snapshot.
    pub async fn save_snapshot<R: CryptoRng + ?Sized>(
        &self,
        snapshot: &Snapshot,
        rng: &mut R,
    ) -> Result<SnapshotId, Error> {
        self.save_object(FileKind::Snapshot, label::SNAPSHOT, &snapshot.encode(), rng).await.map(SnapshotId)
    }

    /// Removes one object (removing a missing one is not an error).
    pub async fn remove_object(&self, handle: &Handle) -> Result<(), Error> {
        self.storage.remove(handle).await.map_err(|e| storage_error(StorageOp::Remove, handle, e))
    }

    /// Forgets snapshots: first records them as forgotten (in an index object, so that a
    /// machine that remembers them does not take them for withheld, FORMAT.md section 6.3),
    /// then removes their objects. Their data stays until a prune finds it unreferenced.
    pub async fn forget_snapshots<R: CryptoRng + ?Sized>(&self, ids: &[SnapshotId], rng: &mut R) -> Result<(), Error> {
        if ids.is_empty() {
            return Ok(());
        }
        let record = IndexFile { forgotten: ids.to_vec(), ..IndexFile::default() };
        self.save_index_file(&record, rng).await?;
        for id in ids {
            self.remove_object(&Handle::new(FileKind::Snapshot, *id)).await?;
        }
        Ok(())
    }

    /// Every snapshot the index objects record as forgotten.
    pub async fn forgotten_snapshots(&self) -> Result<alloc::collections::BTreeSet<SnapshotId>, Error> {
        let mut out = alloc::collections::BTreeSet::new();
        for (_, file) in self.load_index_files().await? {
            out.extend(file.forgotten);
        }
        Ok(out)
    }

    /// Every snapshot, oldest first, without the withdrawn ones (see [`Repository::snapshots`]).
    pub async fn list_snapshots(&self) -> Result<Vec<(SnapshotId, Snapshot)>, Error> {
        Ok(self.snapshots().await?.valid)
    }

    /// Every snapshot, oldest first, sorted into valid ones and *withdrawn* ones: written by a
    /// backup after its lease had been revoked (FORMAT.md section 6.1). A withdrawn snapshot was
    /// never reported saved and may need data a prune deleted; prune removes it.
    pub async fn snapshots(&self) -> Result<SnapshotList, Error> {
        let mut all = Vec::new();
        for id in self.list(FileKind::Snapshot).await? {
            let id = SnapshotId(id);
            all.push((id, self.load_snapshot(id).await?));
        }
        all.sort_by(|a, b| a.1.time.cmp(&b.1.time).then(a.0.cmp(&b.0)));
        let mut list = SnapshotList::default();
        if all.iter().any(|(_, s)| s.lease.is_some()) {
            let store = crate::lock::LockStore {
                storage: &self.storage,
                keys: &self.keys,
                compression: self.config.compression,
            };
            let locks = store.listing().await?;
            for (id, s) in all {
                if s.lease.is_some_and(|t| locks.withdraws(&t, &id)) {
                    list.withdrawn.push((id, s));
                } else {
                    list.valid.push((id, s));
                }
            }
        } else {
            list.valid = all;
        }
        Ok(list)
    }

    /// Finds a snapshot by full id, unambiguous id prefix, or `latest` (the newest).
    pub async fn find_snapshot(&self, spec: &str) -> Result<(SnapshotId, Snapshot), Error> {
        if spec == "latest" {
            return self.list_snapshots().await?.pop().ok_or(Error::SnapshotNotFound { spec: spec.to_string() });
        }
        if spec.is_empty() || !spec.bytes().all(|b| b.is_ascii_hexdigit()) || spec.len() > 64 {
            return Err(Error::SnapshotNotFound { spec: spec.to_string() });
        }
        let matches: Vec<Id> =
            self.list(FileKind::Snapshot).await?.into_iter().filter(|id| id.has_hex_prefix(spec)).collect();
        match matches.as_slice() {
            [] => Err(Error::SnapshotNotFound { spec: spec.to_string() }),
            [id] => {
                let id = SnapshotId(*id);
                Ok((id, self.load_snapshot(id).await?))
            }
            many => Err(Error::AmbiguousSnapshot { spec: spec.to_string(), matches: many.len() }),
        }
    }

    /// Loads and verifies one blob.
    pub async fn load_blob(&self, index: &Index, blob_type: BlobType, id: BlobId) -> Result<Vec<u8>, Error> {
        let loc = index.get(blob_type, &id).ok_or(Error::BlobNotInIndex { kind: blob_type, id })?;
        let handle = Handle::new(FileKind::Pack, loc.pack);
        let sealed = self
            .storage
            .read(&handle, ReadRange::Span { offset: loc.offset.into(), len: loc.length })
            .await
            .map_err(|e| storage_error(StorageOp::Read, &handle, e))?;
        blob::open_blob(&self.keys, blob_type, id, &sealed, loc.raw_len)
    }

    /// Loads one tree.
    pub async fn load_tree(&self, index: &Index, id: BlobId) -> Result<Tree, Error> {
        let plain = self.load_blob(index, BlobType::Tree, id).await?;
        Tree::decode(id, &plain)
    }

    /// Every key object with its id; a damaged or unreadable one as its error, so that it can
    /// be listed and removed.
    pub async fn key_objects(&self) -> Result<Vec<(KeyId, Result<KeyObject, Error>)>, Error> {
        let mut out = Vec::new();
        for id in self.list(FileKind::Key).await? {
            out.push((KeyId(id), read_key(&self.storage, id).await));
        }
        Ok(out)
    }

    /// Every readable key object, with its id (damaged ones are left out: [`crate::check`]
    /// reports them, and [`Repository::key_objects`] lists them).
    pub async fn list_keys(&self) -> Result<Vec<(KeyId, KeyObject)>, Error> {
        Ok(self.key_objects().await?.into_iter().filter_map(|(id, k)| k.ok().map(|k| (id, k))).collect())
    }

    /// Adds a key object for another password. Needs the master key, so only an open repository can.
    pub async fn add_key<R: CryptoRng + ?Sized>(
        &self,
        master: &MasterKey,
        password: &[u8],
        kdf: KdfParams,
        info: KeyInfo,
        rng: &mut R,
    ) -> Result<KeyId, Error> {
        write_key_object(&self.storage, master, password, kdf, info, rng).await
    }

    /// Removes a key object; refuses to remove the last one.
    pub async fn remove_key(&self, id: KeyId) -> Result<(), Error> {
        let ids = self.list(FileKind::Key).await?;
        if !ids.contains(&id.0) {
            return Err(Error::InvalidParameter { name: "key", reason: "no such key" });
        }
        if ids.len() <= 1 {
            return Err(Error::LastKey);
        }
        self.remove_object(&Handle::new(FileKind::Key, id)).await
    }

    /// Opens the master key again with `password` (to add a key), checking it is this repository's.
    pub async fn master_key(&self, password: &[u8]) -> Result<MasterKey, Error> {
        for (_, key) in self.list_keys().await? {
            if let Ok(Some(master)) = key.open(password)
                && Keys::new(&master).blob_id(b"") == self.keys.blob_id(b"")
            {
                return Ok(master);
            }
        }
        Err(Error::WrongPassword)
    }
}

/// Seals `master` with `password` into a new key object and stores it (create-only). Returns its id.
async fn write_key_object<S: Storage, R: CryptoRng + ?Sized>(
    storage: &S,
    master: &MasterKey,
    password: &[u8],
    kdf: KdfParams,
    info: KeyInfo,
    rng: &mut R,
) -> Result<KeyId, Error> {
    kdf.validate().map_err(|reason| Error::InvalidParameter { name: "key derivation parameters", reason })?;
    let key = KeyObject::create(master, password, kdf, random_bytes(rng), random_bytes(rng), info)
        .map_err(|_| Error::InvalidParameter { name: "key derivation", reason: "Argon2 failed (out of memory?)" })?;
    let bytes = key.encode();
    let id = KeyObject::id_of(&bytes);
    let handle = Handle::new(FileKind::Key, id);
    write_new(storage, &handle, Bytes::from(bytes)).await.map_err(|e| storage_error(StorageOp::Write, &handle, e))?;
    Ok(id)
}

/// Frames (compressing with `compression` when that helps) and seals an object.
pub fn seal_object(
    keys: &Keys,
    aad: &[u8],
    plaintext: &[u8],
    compression: Compression,
    nonce: &[u8; NONCE_LEN],
) -> Vec<u8> {
    let mut buf = compress::frame_for_sealing(plaintext, compression);
    keys.seal_in_place(nonce, aad, &mut buf);
    buf
}

/// Opens and unframes a sealed object of at most `max_len` plaintext bytes.
pub fn open_object(
    keys: &Keys,
    kind: ObjectKind,
    id: Id,
    aad: &[u8],
    sealed: &[u8],
    max_len: u64,
) -> Result<Vec<u8>, Error> {
    let framed = keys.open(aad, sealed).map_err(|_| Error::corrupt(kind, id, "authentication failed"))?;
    let max = usize::try_from(max_len).unwrap_or(usize::MAX).min(MAX_BLOB_LEN as usize * 4);
    compress::unframe_owned(framed, max).map_err(|e| Error::decode(kind, id, e))
}
