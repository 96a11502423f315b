//! The repository's layout on a path-like store (local disk, SFTP, WebDAV, FTP, REST): which
//! folders hold which objects, how a store's folder listings become object listings, and where
//! interrupted uploads leave temporary files. The stores call it; it calls none of them.

use cairn_core::{FileKind, IoError, ObjectInfo};

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

/// A folder's entries as a path-like store (WebDAV, FTP) lists them: name, whether it is a
/// folder, size.
pub(crate) type FolderListing = Vec<(String, bool, u64)>;

/// The names of the two-hex-digit folders under `data/`, as `list_dir` lists them.
async fn data_folders<F, Fut>(list_dir: &F) -> Result<Vec<String>, IoError>
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Result<FolderListing, IoError>>,
{
    Ok(list_dir("data".to_string())
        .await?
        .into_iter()
        .filter(|(name, is_dir, _)| *is_dir && name.len() == 2)
        .map(|(name, ..)| name)
        .collect())
}

/// The listing of the config, from its size (`None`: there is none): one entry of id zero.
pub(crate) fn config_listing(size: Option<u64>) -> Vec<ObjectInfo> {
    size.map(|size| ObjectInfo { id: cairn_core::Id::ZERO, size }).into_iter().collect()
}

/// The objects of `kind` (not the config) on a path-like store whose folders (relative to the
/// repository) `list_dir` lists: files named by their hex id, packs under `data/XX/` with `XX`
/// their first two digits.
pub(crate) async fn list_objects<F, Fut>(kind: FileKind, list_dir: F) -> Result<Vec<ObjectInfo>, IoError>
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Result<FolderListing, IoError>>,
{
    let mut out = Vec::new();
    let mut add = |entries: FolderListing, prefix: &str| {
        for (name, is_dir, size) in entries {
            if !is_dir
                && name.starts_with(prefix)
                && let Ok(id) = cairn_core::Id::from_hex(&name)
            {
                out.push(ObjectInfo { id, size });
            }
        }
    };
    if kind == FileKind::Pack {
        for sub in data_folders(&list_dir).await? {
            add(list_dir(format!("data/{sub}")).await?, &sub);
        }
    } else {
        add(list_dir(kind.dir().to_string()).await?, "");
    }
    Ok(out)
}

/// The folders of a path-like store where an interrupted upload may leave a temporary file:
/// [`TEMPORARY_DIRS`] and the folders under `data/`.
pub(crate) async fn temporary_folders<F, Fut>(list_dir: F) -> Result<Vec<String>, IoError>
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Result<FolderListing, IoError>>,
{
    let mut dirs: Vec<String> = TEMPORARY_DIRS.iter().map(|d| d.to_string()).collect();
    dirs.extend(data_folders(&list_dir).await?.into_iter().map(|sub| format!("data/{sub}")));
    Ok(dirs)
}
