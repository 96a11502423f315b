//! What a destination holds: disk info, the raw object browser, and rebuilding the catalog's
//! snapshot cache.

use cairn_core::{FileKind, Handle, Id, Repository, Storage, StorageOp};
use serde::Serialize;

use super::owner::{OWNER_FILE, Owner, check_owner, write_owner};
use crate::backend::destination::Destination;
use crate::catalog::{Catalog, DiskInfo};
use crate::error::{Error, ErrorKind, storage_error};
use crate::secret::Secret;

/// Measures what a destination holds (every repository object and the files beside it) and
/// its free space where it can tell.
pub async fn measure_disk(dest: &Destination, now: i64) -> Result<DiskInfo, Error> {
    let mut total = 0u64;
    for object in browse(dest).await? {
        total = total.saturating_add(object.size);
    }
    let free =
        dest.free_space().await.map_err(|e| Error::new(ErrorKind::Io, format!("cannot ask the free space: {e}")))?;
    Ok(DiskInfo::new(now, total, free))
}

/// One object under a backup directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RawObject {
    /// Its path relative to the backup directory.
    pub path: String,
    /// Its size.
    pub size: u64,
}

pub use crate::backend::path_store::SIDE_DIRS;

/// Every object under a destination's backup directory: the repository's, then the files
/// beside it (the owner marker, archives, configuration exports), each with its size.
pub async fn browse(dest: &Destination) -> Result<Vec<RawObject>, Error> {
    let mut out = Vec::new();
    for kind in FileKind::ALL {
        let handle = Handle::new(kind, Id::ZERO);
        let objects = dest.list(kind).await.map_err(|e| storage_error("", StorageOp::List, &handle, e))?;
        let mut objects: Vec<RawObject> =
            objects.iter().map(|o| RawObject { path: kind.path(&o.id), size: o.size }).collect();
        objects.sort_by(|a, b| a.path.cmp(&b.path));
        out.extend(objects);
    }
    if dest.has_side_files() {
        if let Ok(b) = dest.get_file(OWNER_FILE, 64 << 10).await {
            out.push(RawObject { path: OWNER_FILE.to_string(), size: b.len() as u64 });
        }
        for dir in SIDE_DIRS {
            let files =
                dest.list_files(dir).await.map_err(|e| Error::new(ErrorKind::Io, format!("cannot list {dir}: {e}")))?;
            out.extend(files.into_iter().map(|(n, size)| RawObject { path: format!("{dir}/{n}"), size }));
        }
    }
    Ok(out)
}

/// Rebuilds the catalog's snapshot cache and disk info of destination `name` from the
/// destination. With `password`, first adopts the repository there (one written elsewhere):
/// the password must open it, and it replaces the stored one.
pub async fn reindex(
    catalog: &Catalog,
    name: &str,
    password: Option<&Secret>,
    now: i64,
) -> Result<(usize, DiskInfo), Error> {
    let mut candidate = catalog.candidate(name)?;
    if let Some(p) = password {
        candidate.password = p.clone();
    }
    let backend = candidate.parsed.open()?;
    let owner = Owner::new(&catalog.catalog_id()?, name);
    if !candidate.read_only {
        check_owner(&backend, &owner, &candidate.parsed.show()).await?;
    }
    let repo = Repository::open(cairn_core::ReadOnly::new(&backend), candidate.password.expose()).await?;
    let snapshots = repo.list_snapshots().await?;
    if let Some(p) = password {
        catalog.set_destination_password(name, p)?;
        if !candidate.read_only {
            write_owner(&backend, &owner).await?;
        }
    }
    catalog.cache_snapshots(name, &snapshots)?;
    let disk = measure_disk(&backend, now).await?;
    catalog.set_disk_info(name, &disk)?;
    Ok((snapshots.len(), disk))
}
