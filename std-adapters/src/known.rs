//! Withheld snapshots: a store that hides snapshots (rolled back, not yet consistent, hostile)
//! is caught by remembering which snapshots each repository had (FORMAT.md section 6.3).
//!
//! This machine remembers, per repository id, every snapshot it saw: in the catalog for a
//! catalog destination, in a file of the data directory for `--repo`. A remembered snapshot that
//! is missing, and that no index object records as forgotten (`forget`, `prune` and `repair`
//! record what they remove), is *withheld*: `check` fails, `prune` refuses, `restore latest`
//! refuses when a withheld one is newer than what is there, and `snapshots` warns.
//! `--forget-missing` accepts the loss: those snapshots are no longer expected.

use std::collections::BTreeMap;
use std::path::PathBuf;

use cairn_core::{Id, Repository, Snapshot, SnapshotId, Storage};
use serde::{Deserialize, Serialize};

use crate::catalog::Catalog;
use crate::error::{Error, ErrorKind};

/// What is remembered of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Remembered {
    /// Its time (Unix seconds).
    pub time: i64,
    /// The host that wrote it.
    pub hostname: String,
}

/// Where this machine remembers the snapshots of repositories.
#[derive(Debug)]
pub enum Memory<'c> {
    /// In a catalog (catalog destinations).
    Catalog(&'c Catalog),
    /// One file per repository in this directory (`--repo`).
    Files(PathBuf),
}

/// Where repositories named by URL are remembered: `known-snapshots/` in the data directory.
pub fn default_dir() -> Result<PathBuf, Error> {
    Ok(crate::paths::data_dir()?.join("known-snapshots"))
}

impl Memory<'_> {
    fn file(dir: &std::path::Path, repo: &Id) -> PathBuf {
        dir.join(format!("{}.json", repo.to_hex()))
    }

    fn load_hex(&self, repo: &Id) -> Result<BTreeMap<String, Remembered>, Error> {
        match self {
            Self::Catalog(c) => c.known_snapshots(&repo.to_hex()),
            Self::Files(dir) => match std::fs::read(Self::file(dir, repo)) {
                Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                    Error::new(ErrorKind::Corrupt, format!("the list of known snapshots cannot be read: {e}"))
                        .with_hint(format!("remove {} to start it again", Self::file(dir, repo).display()))
                }),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
                Err(e) => Err(Error::io("cannot read the list of known snapshots", &Self::file(dir, repo), e)),
            },
        }
    }

    fn save_hex(&self, repo: &Id, all: &BTreeMap<String, Remembered>) -> Result<(), Error> {
        let Self::Files(dir) = self else { return Ok(()) };
        let file = Self::file(dir, repo);
        std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create", dir, e))?;
        let tmp = file.with_extension(format!("tmp-{}", std::process::id()));
        let bytes = serde_json::to_vec(all).unwrap_or_default();
        std::fs::write(&tmp, bytes)
            .and_then(|()| std::fs::rename(&tmp, &file))
            .map_err(|e| Error::io("cannot save the list of known snapshots", &file, e))
    }

    /// The snapshots remembered for `repo`.
    pub fn load(&self, repo: &Id) -> Result<BTreeMap<SnapshotId, Remembered>, Error> {
        Ok(self
            .load_hex(repo)?
            .into_iter()
            .filter_map(|(id, r)| SnapshotId::from_hex(&id).ok().map(|id| (id, r)))
            .collect())
    }

    /// Remembers `snapshots` of `repo` (adds to what is remembered).
    pub fn remember<'a>(
        &self,
        repo: &Id,
        snapshots: impl IntoIterator<Item = (&'a SnapshotId, &'a Snapshot)>,
    ) -> Result<(), Error> {
        let new: BTreeMap<String, Remembered> = snapshots
            .into_iter()
            .map(|(id, s)| (id.to_hex(), Remembered { time: s.time.secs, hostname: s.hostname.clone() }))
            .collect();
        match self {
            Self::Catalog(c) => c.remember_snapshots(&repo.to_hex(), &new),
            Self::Files(_) => {
                let mut all = self.load_hex(repo)?;
                let before = all.len();
                all.extend(new);
                if all.len() == before { Ok(()) } else { self.save_hex(repo, &all) }
            }
        }
    }

    /// Stops expecting `ids` in `repo` (forgotten by this machine, or accepted as gone).
    pub fn forget(&self, repo: &Id, ids: &[SnapshotId]) -> Result<(), Error> {
        if ids.is_empty() {
            return Ok(());
        }
        let hex: Vec<String> = ids.iter().map(|id| id.to_hex()).collect();
        match self {
            Self::Catalog(c) => c.forget_known_snapshots(&repo.to_hex(), &hex),
            Self::Files(_) => {
                let mut all = self.load_hex(repo)?;
                all.retain(|id, _| !hex.contains(id));
                self.save_hex(repo, &all)
            }
        }
    }
}

/// The remembered snapshots of `repo` that are missing from `present` (every snapshot object
/// there, withdrawn ones included) and recorded as forgotten by no index object, newest first.
/// Those recorded as forgotten are no longer expected from now on.
pub async fn withheld<S: Storage>(
    repo: &Repository<S>,
    memory: &Memory<'_>,
    present: impl IntoIterator<Item = SnapshotId>,
) -> Result<Vec<(SnapshotId, Remembered)>, Error> {
    let id = repo.config().id;
    let mut missing = memory.load(&id)?;
    for s in present {
        missing.remove(&s);
    }
    if missing.is_empty() {
        return Ok(Vec::new());
    }
    let forgotten = repo.forgotten_snapshots().await?;
    let gone: Vec<SnapshotId> = missing.keys().filter(|s| forgotten.contains(s)).copied().collect();
    memory.forget(&id, &gone)?;
    let mut out: Vec<(SnapshotId, Remembered)> = missing.into_iter().filter(|(s, _)| !gone.contains(s)).collect();
    out.sort_by_key(|b| std::cmp::Reverse(b.1.time));
    Ok(out)
}

/// The message naming withheld snapshots, with what to do.
pub fn withheld_error(missing: &[(SnapshotId, Remembered)], what: &str) -> Error {
    let list: Vec<String> = missing
        .iter()
        .take(5)
        .map(|(id, r)| {
            format!(
                "{} (from {}, {})",
                id.short(),
                r.hostname,
                crate::local_time(cairn_core::Timestamp::new(r.time, 0))
            )
        })
        .collect();
    let more = if missing.len() > 5 { format!(" and {} more", missing.len() - 5) } else { String::new() };
    Error::new(
        ErrorKind::Corrupt,
        format!(
            "{} snapshot(s) this machine saw in the repository are missing, and nothing records them as forgotten: {}{more}; {what}",
            missing.len(),
            list.join(", ")
        ),
    )
    .with_hint(
        "the store may have been rolled back, not show everything yet, or be withholding them. If they were removed \
         on purpose (by another program, or this is an older copy of the repository), accept it with \
         --forget-missing (`cairn check --forget-missing`)",
    )
}
