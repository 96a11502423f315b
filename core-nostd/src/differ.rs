//! The differ: what changed between two snapshots (or two directories in them).
//!
//! Both trees are walked side by side in name order. A subtree whose id is the same on both
//! sides holds identical contents (trees are content-addressed), so it is skipped without being
//! loaded: comparing two snapshots of a mostly unchanged machine reads only the directories on
//! the paths to what changed.
//!
//! Each difference is one [`DiffEntry`]:
//! - **added** / **removed**: the path exists on one side only; everything below an added or
//!   removed directory is listed too;
//! - **modified**: a file's contents differ (its list of data blobs);
//! - **type changed**: a file became a directory, a link became a file, ...; reported once, then
//!   the old side's entries below are removed and the new side's are added;
//! - **metadata**: same contents, other permissions, owner or modification time (a link's
//!   target change counts as modified).

use alloc::boxed::Box;

use crate::backend::Storage;
use crate::error::Error;
use crate::id::BlobId;
use crate::index::Index;
use crate::repository::Repository;
use crate::tree::{self, Node, NodeKind, Tree};

/// How one path differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Only in the newer tree.
    Added,
    /// Only in the older tree.
    Removed,
    /// A file's contents or a link's target differ.
    Modified,
    /// The kind differs (file, directory, link).
    TypeChanged,
    /// Only permissions, owner or times differ.
    Metadata,
}

impl Change {
    /// One-letter code, as `cairn diff` prints it: `+`, `-`, `M`, `T`, `U`.
    pub fn code(self) -> char {
        match self {
            Self::Added => '+',
            Self::Removed => '-',
            Self::Modified => 'M',
            Self::TypeChanged => 'T',
            Self::Metadata => 'U',
        }
    }

    /// Lower-case name, for JSON.
    pub fn name(self) -> &'static str {
        match self {
            Self::Added => "added",
            Self::Removed => "removed",
            Self::Modified => "modified",
            Self::TypeChanged => "type-changed",
            Self::Metadata => "metadata",
        }
    }
}

/// One difference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffEntry<'a> {
    /// The path, relative to the compared directories, starting with `/`.
    pub path: &'a [u8],
    /// What changed.
    pub change: Change,
    /// The older side's node (absent for [`Change::Added`]).
    pub old: Option<&'a Node>,
    /// The newer side's node (absent for [`Change::Removed`]).
    pub new: Option<&'a Node>,
}

/// Counts from [`diff`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiffStats {
    /// Files, directories and links added.
    pub added: u64,
    /// Files, directories and links removed.
    pub removed: u64,
    /// Files whose contents changed, and links whose target changed.
    pub modified: u64,
    /// Entries whose kind changed.
    pub type_changed: u64,
    /// Entries where only metadata changed.
    pub metadata: u64,
    /// Sizes of the added files.
    pub bytes_added: u64,
    /// Sizes of the removed files.
    pub bytes_removed: u64,
    /// Sizes, in the newer tree, of the modified files.
    pub bytes_modified_new: u64,
    /// Sizes, in the older tree, of the modified files.
    pub bytes_modified_old: u64,
    /// Trees loaded (identical subtrees are skipped).
    pub trees_loaded: u64,
}

impl DiffStats {
    fn count(&mut self, change: Change, old: Option<&Node>, new: Option<&Node>) {
        let file_size = |n: Option<&Node>| match n {
            Some(Node { kind: NodeKind::File { .. }, meta, .. }) => meta.size,
            _ => 0,
        };
        match change {
            Change::Added => {
                self.added += 1;
                self.bytes_added = self.bytes_added.saturating_add(file_size(new));
            }
            Change::Removed => {
                self.removed += 1;
                self.bytes_removed = self.bytes_removed.saturating_add(file_size(old));
            }
            Change::Modified => {
                self.modified += 1;
                self.bytes_modified_old = self.bytes_modified_old.saturating_add(file_size(old));
                self.bytes_modified_new = self.bytes_modified_new.saturating_add(file_size(new));
            }
            Change::TypeChanged => self.type_changed += 1,
            Change::Metadata => self.metadata += 1,
        }
    }
}

/// Either side of a comparison: a directory's tree, or a single node (when a path names a file
/// or link).
#[derive(Debug, Clone)]
pub enum DiffSide {
    /// A directory, by its tree id.
    Tree(BlobId),
    /// A single entry.
    Node(Node),
}

/// Compares `old` with `new` and calls `visit` for each difference, in path order. Returns the
/// counts.
pub async fn diff<S: Storage>(
    repo: &Repository<S>,
    index: &Index,
    old: &DiffSide,
    new: &DiffSide,
    visit: &mut dyn FnMut(DiffEntry<'_>),
) -> Result<DiffStats, Error> {
    let mut d = Differ { repo, index, stats: DiffStats::default(), visit };
    match (old, new) {
        (DiffSide::Tree(a), DiffSide::Tree(b)) => d.trees(b"/", Some(*a), Some(*b)).await?,
        (DiffSide::Node(a), DiffSide::Node(b)) => {
            let path = tree::join_path(b"/", &b.name);
            d.nodes(&path, Some(a), Some(b)).await?;
        }
        (DiffSide::Tree(a), DiffSide::Node(b)) => {
            d.trees(b"/", Some(*a), None).await?;
            let path = tree::join_path(b"/", &b.name);
            d.nodes(&path, None, Some(b)).await?;
        }
        (DiffSide::Node(a), DiffSide::Tree(b)) => {
            let path = tree::join_path(b"/", &a.name);
            d.nodes(&path, Some(a), None).await?;
            d.trees(b"/", None, Some(*b)).await?;
        }
    }
    Ok(d.stats)
}

struct Differ<'r, 'v, S> {
    repo: &'r Repository<S>,
    index: &'r Index,
    stats: DiffStats,
    visit: &'v mut dyn FnMut(DiffEntry<'_>),
}

impl<S: Storage> Differ<'_, '_, S> {
    fn emit(&mut self, path: &[u8], change: Change, old: Option<&Node>, new: Option<&Node>) {
        self.stats.count(change, old, new);
        (self.visit)(DiffEntry { path, change, old, new });
    }

    async fn load(&mut self, id: Option<BlobId>) -> Result<Tree, Error> {
        match id {
            Some(id) => {
                self.stats.trees_loaded += 1;
                self.repo.load_tree(self.index, id).await
            }
            None => Ok(Tree::default()),
        }
    }

    /// Compares the contents of two directories (either may be absent: everything on the other
    /// side is then added or removed).
    async fn trees(&mut self, dir: &[u8], old: Option<BlobId>, new: Option<BlobId>) -> Result<(), Error> {
        if old.is_some() && old == new {
            return Ok(());
        }
        let a = self.load(old).await?;
        let b = self.load(new).await?;
        let (mut i, mut j) = (0, 0);
        loop {
            let (x, y) = (a.nodes.get(i), b.nodes.get(j));
            let (x, y) = match (x, y) {
                (None, None) => break,
                (Some(x), Some(y)) => match x.name.cmp(&y.name) {
                    core::cmp::Ordering::Less => (Some(x), None),
                    core::cmp::Ordering::Greater => (None, Some(y)),
                    core::cmp::Ordering::Equal => (Some(x), Some(y)),
                },
                other => other,
            };
            i += usize::from(x.is_some());
            j += usize::from(y.is_some());
            let name = x.or(y).map(|n| n.name.as_slice()).unwrap_or_default();
            let path = tree::join_path(dir, name);
            Box::pin(self.nodes(&path, x, y)).await?;
        }
        Ok(())
    }

    /// Compares two entries at one path (either may be absent).
    async fn nodes(&mut self, path: &[u8], old: Option<&Node>, new: Option<&Node>) -> Result<(), Error> {
        match (old, new) {
            (None, None) => Ok(()),
            (None, Some(n)) => {
                self.emit(path, Change::Added, None, Some(n));
                self.trees(path, None, n.subtree()).await
            }
            (Some(o), None) => {
                self.emit(path, Change::Removed, Some(o), None);
                self.trees(path, o.subtree(), None).await
            }
            (Some(o), Some(n)) => {
                let change = match (&o.kind, &n.kind) {
                    (NodeKind::File { content: a }, NodeKind::File { content: b }) => {
                        (a != b).then_some(Change::Modified)
                    }
                    (NodeKind::Symlink { target: a }, NodeKind::Symlink { target: b }) => {
                        (a != b).then_some(Change::Modified)
                    }
                    (NodeKind::Dir { .. }, NodeKind::Dir { .. }) => None,
                    _ => Some(Change::TypeChanged),
                };
                let change = change.or_else(|| {
                    let (a, b) = (&o.meta, &n.meta);
                    let differs = a.mode != b.mode
                        || a.uid != b.uid
                        || a.gid != b.gid
                        || a.user != b.user
                        || a.group != b.group
                        || a.mtime != b.mtime;
                    differs.then_some(Change::Metadata)
                });
                if let Some(change) = change {
                    self.emit(path, change, Some(o), Some(n));
                }
                if change == Some(Change::TypeChanged) {
                    self.trees(path, o.subtree(), None).await?;
                    self.trees(path, None, n.subtree()).await
                } else {
                    self.trees(path, o.subtree(), n.subtree()).await
                }
            }
        }
    }
}
