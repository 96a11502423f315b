//! The path store: what a destination type provides (files by path, relative to the
//! repository: read, write, remove, list a folder), and the repository's layout over it (which
//! folders hold which objects, the side folders, the owner file, where interrupted uploads leave
//! temporary files). The repository's [`Storage`] is implemented once over it
//! ([`storage_over_paths`]), and so are the side files (`side_files.rs`); a type with
//! something special (S3's claims and storage classes, Azure's tiers, local pack caching, flat
//! listings of object stores) overrides only that method. The stores call it; it calls none
//! of them.

use bytes::Bytes;
use cairn_core::{FileKind, Handle, IoError, IoErrorKind, ObjectInfo, ReadRange, StorageProperties, WriteMode};

/// The directory of archives beside the repository.
pub const ARCHIVE_DIR: &str = "cairn-archives";
/// The directory of configuration exports beside the repository.
pub const EXPORT_DIR: &str = "cairn-config";
/// The ownership marker beside the repository.
pub const OWNER_FILE: &str = "cairn-owner.json";
/// The directories of files kept beside the repository.
pub const SIDE_DIRS: [&str; 2] = [ARCHIVE_DIR, EXPORT_DIR];
/// The directories of the repository's own objects.
const OBJECT_DIRS: [&str; 5] = ["data", "index", "snapshots", "keys", "locks"];

/// Whether an entry named `name` of a backup directory without a repository may be there
/// before one is made: Cairn's own (folders, the owner file, a temporary file of an interrupted
/// start), hidden ones, and what file systems put at the top of a disk.
pub(crate) fn fits_a_new_repository(name: &str) -> bool {
    OBJECT_DIRS.contains(&name)
        || SIDE_DIRS.contains(&name)
        || name == OWNER_FILE
        || name.starts_with('.')
        || matches!(name, "lost+found" | "System Volume Information" | "$RECYCLE.BIN")
}

/// The directories of a repository (relative to it; `""` is the repository itself) where an
/// interrupted upload may leave a temporary file, besides the subdirectories of `data`.
pub(crate) const TEMPORARY_DIRS: [&str; 6] = ["", ARCHIVE_DIR, "index", "snapshots", "keys", "locks"];

/// What a file is written from: bytes in memory, or a local file read a piece at a time (so
/// that memory stays bounded whatever its size).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Body<'a> {
    /// Bytes in memory.
    Bytes(&'a Bytes),
    /// The first `size` bytes of a local file.
    File {
        /// The file.
        src: &'a std::fs::File,
        /// How many bytes of it.
        size: u64,
    },
}

impl<'a> Body<'a> {
    /// How many bytes.
    pub(crate) fn len(&self) -> u64 {
        match self {
            Self::Bytes(b) => b.len() as u64,
            Self::File { size, .. } => *size,
        }
    }

    /// `len` bytes at `at`.
    pub(crate) fn piece(&self, at: u64, len: usize) -> Result<Bytes, IoError> {
        match self {
            Self::Bytes(b) => {
                let start = (at as usize).min(b.len());
                Ok(b.slice(start..(start + len).min(b.len())))
            }
            Self::File { src, .. } => {
                use std::os::unix::fs::FileExt;
                let mut buf = vec![0u8; len];
                src.read_exact_at(&mut buf, at).map_err(|e| {
                    crate::http::error(IoErrorKind::Other, format!("cannot read the file to upload: {e}"))
                })?;
                Ok(Bytes::from(buf))
            }
        }
    }

    /// All of it in memory: for bodies a store sends in one request anyway.
    pub(crate) fn whole(&self) -> Result<Bytes, IoError> {
        match self {
            Self::Bytes(b) => Ok((*b).clone()),
            Self::File { size, .. } => self.piece(0, *size as usize),
        }
    }

    /// Its pieces of at most `piece` bytes, in order.
    pub(crate) fn pieces(&self, piece: u64) -> Pieces<'a> {
        Pieces { body: *self, at: 0, piece: piece.max(1) }
    }
}

/// A [`Body`] a piece at a time.
#[derive(Debug)]
pub(crate) struct Pieces<'a> {
    body: Body<'a>,
    at: u64,
    piece: u64,
}

impl Pieces<'_> {
    /// The next piece, `None` at the end.
    pub(crate) fn next_piece(&mut self) -> Result<Option<Bytes>, IoError> {
        let size = self.body.len();
        if self.at >= size {
            return Ok(None);
        }
        let n = self.piece.min(size - self.at);
        let piece = self.body.piece(self.at, n as usize)?;
        self.at += n;
        Ok(Some(piece))
    }
}

/// One entry of a folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FolderEntry {
    /// Its name in the folder.
    pub(crate) name: String,
    /// Whether it is a folder.
    pub(crate) is_dir: bool,
    /// Its size in bytes (0 for folders).
    pub(crate) size: u64,
    /// Last changed, in seconds since 1970, where the listing tells.
    pub(crate) modified: Option<i64>,
}

/// What a destination type provides: files by `/`-separated paths relative to the repository
/// (`""` is the repository's own folder). The repository's objects and the side files are
/// both kept through it.
#[allow(async_fn_in_trait)]
pub(crate) trait PathStore {
    /// The name prefix of the temporary files an interrupted write may leave behind (`None`:
    /// this type leaves none, as object stores write whole objects or nothing).
    const TEMPORARY_PREFIX: Option<&'static str>;

    /// What this store can do.
    fn properties(&self) -> StorageProperties;

    /// Reads `range` of the file at `path`.
    async fn read_path(&self, path: &str, range: ReadRange) -> Result<Bytes, IoError>;

    /// Writes the file at `path` atomically from `body` (refused with `AlreadyExists` when
    /// `mode` is create-only and the file exists), making its folders as needed.
    async fn write_path(&self, path: &str, body: Body<'_>, mode: WriteMode) -> Result<(), IoError>;

    /// Removes the file at `path` (absent is fine).
    async fn remove_path(&self, path: &str) -> Result<(), IoError>;

    /// The entries directly in the folder `dir` (none if it does not exist).
    async fn list_folder(&self, dir: &str) -> Result<Vec<FolderEntry>, IoError>;

    /// When the file at `path` was last changed, for listings that do not tell (FTP's `MDTM`).
    async fn modified(&self, path: &str) -> Result<Option<i64>, IoError> {
        let _ = path;
        Ok(None)
    }

    /// Free bytes where the store can tell.
    async fn free_space(&self) -> Result<Option<u64>, IoError> {
        Ok(None)
    }

    /// The objects of `kind` with their sizes. The default walks the folders (`data/XX/`
    /// under `data/`); flat object stores list by prefix instead.
    async fn list_objects(&self, kind: FileKind) -> Result<Vec<ObjectInfo>, IoError> {
        list_objects(self, kind).await
    }

    /// Reads `range` of an object.
    async fn read_object(&self, handle: &Handle, range: ReadRange) -> Result<Bytes, IoError> {
        self.read_path(&handle.path(), range).await
    }

    /// [`PathStore::read_object`] into a spent buffer (see [`cairn_core::Storage::read_into`]).
    async fn read_object_into(&self, handle: &Handle, range: ReadRange, buf: Vec<u8>) -> Result<Vec<u8>, IoError> {
        drop(buf);
        self.read_object(handle, range).await.map(Vec::from)
    }

    /// Writes an object.
    async fn write_object(&self, handle: &Handle, data: Bytes, mode: WriteMode) -> Result<(), IoError> {
        self.write_path(&handle.path(), Body::Bytes(&data), mode).await
    }

    /// Removes an object (absent is fine).
    async fn remove_object(&self, handle: &Handle) -> Result<(), IoError> {
        self.remove_path(&handle.path()).await
    }
}

/// `name` in the folder `dir` (`""` the repository's).
pub(crate) fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() { name.to_string() } else { format!("{dir}/{name}") }
}

/// The names of the two-hex-digit folders under `data/`.
async fn data_folders<P: PathStore + ?Sized>(store: &P) -> Result<Vec<String>, IoError> {
    Ok(store
        .list_folder("data")
        .await?
        .into_iter()
        .filter(|e| e.is_dir && e.name.len() == 2 && e.name.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(|e| e.name)
        .collect())
}

/// The objects of `kind` on a store with folders: the config (one entry of id zero), or files
/// named by their hex id, packs under `data/XX/` with `XX` their first two digits.
pub(crate) async fn list_objects<P: PathStore + ?Sized>(store: &P, kind: FileKind) -> Result<Vec<ObjectInfo>, IoError> {
    let files = |entries: Vec<FolderEntry>, prefix: &str| -> Vec<ObjectInfo> {
        entries
            .into_iter()
            .filter(|e| !e.is_dir && e.name.starts_with(prefix))
            .filter_map(|e| cairn_core::Id::from_hex(&e.name).ok().map(|id| ObjectInfo { id, size: e.size }))
            .collect()
    };
    match kind {
        FileKind::Config => Ok(store
            .list_folder("")
            .await?
            .into_iter()
            .filter(|e| !e.is_dir && e.name == "config")
            .map(|e| ObjectInfo { id: cairn_core::Id::ZERO, size: e.size })
            .collect()),
        FileKind::Pack => {
            use futures_util::stream::{StreamExt, TryStreamExt};
            // The 256 folders are listed a few at a time: over a network that is most of the
            // time a listing takes.
            let lists: Vec<Vec<ObjectInfo>> =
                futures_util::stream::iter(data_folders(store).await?)
                    .map(|sub| async move {
                        Ok::<_, IoError>(files(store.list_folder(&format!("data/{sub}")).await?, &sub))
                    })
                    .buffer_unordered(16)
                    .try_collect()
                    .await?;
            Ok(lists.into_iter().flatten().collect())
        }
        other => Ok(files(store.list_folder(other.dir()).await?, "")),
    }
}

/// The entries of a flat store's keys under `dir/` (keys relative to the repository, with
/// their sizes) as a folder: the files directly in it and the folders of the deeper keys.
pub(crate) fn folder_of_keys(dir: &str, keys: Vec<(String, u64)>) -> Vec<FolderEntry> {
    let mut out: Vec<FolderEntry> = Vec::new();
    let prefix = if dir.is_empty() { String::new() } else { format!("{dir}/") };
    for (key, size) in keys {
        let Some(rest) = key.strip_prefix(&prefix) else { continue };
        match rest.split_once('/') {
            None if !rest.is_empty() => {
                out.push(FolderEntry { name: rest.to_string(), is_dir: false, size, modified: None })
            }
            Some((folder, _)) if !folder.is_empty() && !out.iter().any(|e| e.is_dir && e.name == folder) => {
                out.push(FolderEntry { name: folder.to_string(), is_dir: true, size: 0, modified: None });
            }
            _ => {}
        }
    }
    out
}

/// The key prefix under which a flat store (keys, not folders) keeps the objects of `kind`,
/// relative to the repository: `config` itself, or the kind's folder.
pub(crate) fn key_prefix(kind: FileKind) -> String {
    if kind == FileKind::Config { "config".to_string() } else { format!("{}/", kind.dir()) }
}

/// The id of the object of `kind` that a flat store's `key` names, under `prefix` (the
/// repository's): the config, files named by their hex id, packs under `data/XX/`.
pub(crate) fn id_of_key(prefix: &str, kind: FileKind, key: &str) -> Option<cairn_core::Id> {
    let rel = key.strip_prefix(prefix)?;
    if kind == FileKind::Config {
        return (rel == "config").then_some(cairn_core::Id::ZERO);
    }
    let rest = rel.strip_prefix(kind.dir())?.strip_prefix('/')?;
    let hex = match kind {
        FileKind::Pack => {
            let (dir, hex) = rest.split_once('/')?;
            if dir.len() != 2 || !hex.starts_with(dir) {
                return None;
            }
            hex
        }
        _ => rest,
    };
    cairn_core::Id::from_hex(hex).ok()
}

/// The objects of `kind` among a flat store's keys (with their sizes) under `prefix`.
pub(crate) fn objects_of_keys(prefix: &str, kind: FileKind, keys: Vec<(String, u64)>) -> Vec<ObjectInfo> {
    keys.into_iter().filter_map(|(key, size)| id_of_key(prefix, kind, &key).map(|id| ObjectInfo { id, size })).collect()
}

/// The folders where an interrupted upload may leave a temporary file: [`TEMPORARY_DIRS`] and
/// the folders under `data/`.
pub(crate) async fn temporary_folders<P: PathStore + ?Sized>(store: &P) -> Result<Vec<String>, IoError> {
    let mut dirs: Vec<String> = TEMPORARY_DIRS.iter().map(|d| d.to_string()).collect();
    dirs.extend(data_folders(store).await?.into_iter().map(|sub| format!("data/{sub}")));
    Ok(dirs)
}

/// The repository's [`Storage`](cairn_core::Storage) over a [`PathStore`], written once for
/// every type that has one.
macro_rules! storage_over_paths {
    ($($store:ty),* $(,)?) => {$(
        impl cairn_core::Storage for $store {
            fn properties(&self) -> cairn_core::StorageProperties {
                $crate::backend::path_store::PathStore::properties(self)
            }
            async fn list(&self, kind: cairn_core::FileKind) -> Result<Vec<cairn_core::ObjectInfo>, cairn_core::IoError> {
                $crate::backend::path_store::PathStore::list_objects(self, kind).await
            }
            async fn read(&self, handle: &cairn_core::Handle, range: cairn_core::ReadRange) -> Result<bytes::Bytes, cairn_core::IoError> {
                $crate::backend::path_store::PathStore::read_object(self, handle, range).await
            }
            async fn read_into(
                &self,
                handle: &cairn_core::Handle,
                range: cairn_core::ReadRange,
                buf: Vec<u8>,
            ) -> Result<Vec<u8>, cairn_core::IoError> {
                $crate::backend::path_store::PathStore::read_object_into(self, handle, range, buf).await
            }
            async fn write(&self, handle: &cairn_core::Handle, data: bytes::Bytes, mode: cairn_core::WriteMode) -> Result<(), cairn_core::IoError> {
                $crate::backend::path_store::PathStore::write_object(self, handle, data, mode).await
            }
            async fn remove(&self, handle: &cairn_core::Handle) -> Result<(), cairn_core::IoError> {
                $crate::backend::path_store::PathStore::remove_object(self, handle).await
            }
        }
    )*};
}
pub(crate) use storage_over_paths;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_keys_read_as_folders() {
        let keys = vec![
            ("index/aa".to_string(), 3),
            ("index/sub/x".to_string(), 1),
            ("index/sub/y".to_string(), 1),
            ("indexed".to_string(), 9),
            ("index/".to_string(), 0),
        ];
        let got = folder_of_keys("index", keys.clone());
        assert_eq!(got.len(), 2);
        assert_eq!((got[0].name.as_str(), got[0].is_dir, got[0].size), ("aa", false, 3));
        assert_eq!((got[1].name.as_str(), got[1].is_dir), ("sub", true));
        let top = folder_of_keys("", keys);
        assert_eq!(
            top.iter().map(|e| (e.name.as_str(), e.is_dir)).collect::<Vec<_>>(),
            [("index", true), ("indexed", false)]
        );
    }

    #[test]
    fn bodies_come_in_pieces_whatever_their_source() {
        let bytes = Bytes::from_static(b"0123456789");
        let mut file = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut file, b"0123456789").unwrap();
        for body in [Body::Bytes(&bytes), Body::File { src: &file, size: 10 }] {
            let mut p = body.pieces(4);
            let mut got = Vec::new();
            while let Some(piece) = p.next_piece().unwrap() {
                got.push(piece);
            }
            assert_eq!(got, [&b"0123"[..], &b"4567"[..], &b"89"[..]]);
            assert_eq!(body.whole().unwrap(), &b"0123456789"[..]);
        }
        let short = Body::File { src: &file, size: 20 };
        assert!(short.whole().is_err());
    }
}
