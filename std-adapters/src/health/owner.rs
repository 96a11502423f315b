//! Who a backup directory belongs to: the owner file beside the repository, and the checks
//! that keep one directory to one destination of one catalog.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::backend::destination::Destination;
use crate::error::{Error, ErrorKind};

pub use crate::backend::path_store::OWNER_FILE;

/// Refuses to make a repository in a local folder that holds something else (a home folder
/// picked by mistake): the repository's files would go among the user's. Other destination
/// types are not listed here: their folder is the destination's own by the owner file.
pub fn refuse_foreign_folder(parsed: &crate::DestinationUrl) -> Result<(), Error> {
    let crate::DestinationUrl::Local(dir) = parsed else { return Ok(()) };
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(()) };
    let mut foreign: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !crate::backend::path_store::fits_a_new_repository(n))
        .collect();
    if foreign.is_empty() {
        return Ok(());
    }
    foreign.sort();
    let more = if foreign.len() > 3 { format!(" and {} more", foreign.len() - 3) } else { String::new() };
    foreign.truncate(3);
    Err(Error::new(
        ErrorKind::InvalidInput,
        format!(
            "{} holds other files ({}{more}), not a Cairn repository: a new repository goes in an empty or new folder",
            dir.display(),
            foreign.join(", ")
        ),
    )
    .with_hint(format!("choose a folder of its own, such as {}", dir.join("cairn").display())))
}

/// Who a backup directory belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Owner {
    /// The catalog's id ([`Catalog::catalog_id`]).
    pub catalog: String,
    /// The destination's name in that catalog.
    pub destination: String,
    /// The host the catalog was on when it claimed the directory.
    #[serde(default)]
    pub host: String,
    /// The user.
    #[serde(default)]
    pub user: String,
    /// When (Unix seconds).
    #[serde(default)]
    pub time: i64,
}

impl Owner {
    /// The owner for destination `destination` of catalog `catalog`, claimed now.
    pub fn new(catalog: &str, destination: &str) -> Self {
        Self {
            catalog: catalog.to_string(),
            destination: destination.to_string(),
            host: crate::process::hostname(),
            user: crate::process::username(),
            time: crate::process::now().secs,
        }
    }

    /// Whether this owner is `other` (same catalog, same destination).
    pub fn is_for(&self, other: &Self) -> bool {
        self.catalog == other.catalog && self.destination == other.destination
    }
}

/// Reads the ownership marker of a destination, if it has one (`None` too where the
/// destination cannot hold one).
pub async fn read_owner(dest: &Destination) -> Result<Option<Owner>, Error> {
    match dest.get_file(OWNER_FILE, 64 << 10).await {
        Ok(bytes) => Ok(serde_json::from_slice(&bytes).ok()),
        Err(e) if e.kind() == cairn_core::IoErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::new(ErrorKind::Io, format!("cannot read {OWNER_FILE}: {e}"))),
    }
}

/// Claims a destination's backup directory for `owner` (nothing where it cannot hold files).
pub async fn write_owner(dest: &Destination, owner: &Owner) -> Result<(), Error> {
    if !dest.has_side_files() {
        return Ok(());
    }
    let json = serde_json::to_vec_pretty(owner).map_err(|e| Error::new(ErrorKind::Other, e.to_string()))?;
    dest.put_file(OWNER_FILE, Bytes::from(json))
        .await
        .map_err(|e| Error::new(ErrorKind::Io, format!("cannot write {OWNER_FILE}: {e}")))
}

/// Where the owner `found` is, as `ours` (the would-be owner) sees it.
pub(super) fn whose(found: &Owner, ours: &Owner) -> &'static str {
    if found.catalog == ours.catalog { "this catalog" } else { "another catalog" }
}

pub(super) fn owned_elsewhere(place: &str, found: &Owner, ours: &Owner) -> Error {
    Error::new(
        ErrorKind::PermissionDenied,
        format!(
            "the backup directory {place} belongs to destination {:?} of {} (claimed on {} by {})",
            found.destination,
            whose(found, ours),
            if found.host.is_empty() { "an unknown host" } else { &found.host },
            if found.user.is_empty() { "an unknown user" } else { &found.user },
        ),
    )
    .with_hint("add it read-only instead (--read-only, with its repository password) to restore from it")
}

/// Refuses a backup directory that another destination owns; returns whether `owner` has
/// claimed it already. `place` names the directory in the error.
pub async fn check_owner(dest: &Destination, owner: &Owner, place: &str) -> Result<bool, Error> {
    match read_owner(dest).await? {
        Some(found) if !found.is_for(owner) => Err(owned_elsewhere(place, &found, owner)),
        found => Ok(found.is_some()),
    }
}

/// [`check_owner`], then claims the directory for `owner` if nobody has: what every writer
/// does before it writes.
pub async fn claim(dest: &Destination, owner: &Owner, place: &str) -> Result<(), Error> {
    if !check_owner(dest, owner, place).await? {
        write_owner(dest, owner).await?;
    }
    Ok(())
}
