//! Trees: one directory's listing, stored as a tree blob.
//!
//! A [`Tree`] is a list of [`Node`]s sorted by name (raw bytes, so names that are not UTF-8
//! survive). A node is a regular file (with the ids of its data blobs, in order), a directory
//! (with the id of its own tree blob) or a symbolic link (with its target bytes), plus the
//! metadata needed to restore it and to detect changes (size, mtime, ctime, inode). Anything
//! else a filesystem holds (sockets, FIFOs, devices) is reported and skipped by the archiver.
//!
//! A name is **valid** if it is not empty, not `.` or `..`, and contains no `/` and no NUL.
//! Trees are decoded as they are, and checked with [`Tree::validate`]: the restorer refuses
//! invalid names, so a hostile tree cannot make it write outside the target.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde::{Deserialize, Serialize};

use crate::blob::MAX_BLOB_LEN;
use crate::error::{DecodeError, Error, ObjectKind};
use crate::id::BlobId;
use crate::time::Timestamp;

/// Metadata of a file, directory or link.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// Permission bits, including setuid, setgid and sticky (`0o7777`).
    pub mode: u32,
    /// Owner's user id.
    pub uid: u32,
    /// Owner's group id.
    pub gid: u32,
    /// Owner's user name, if known.
    pub user: Option<String>,
    /// Owner's group name, if known.
    pub group: Option<String>,
    /// Last modification.
    pub mtime: Timestamp,
    /// Last status change.
    pub ctime: Timestamp,
    /// Size in bytes (of the contents for files, of the target for links).
    pub size: u64,
    /// Inode number.
    pub inode: u64,
    /// Device number of the containing filesystem.
    pub device: u64,
    /// Number of hard links.
    pub links: u64,
}

/// What a node is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum NodeKind {
    /// A regular file and the ids of its data blobs, in order.
    File {
        /// Data blobs, concatenated in order.
        content: Vec<BlobId>,
    },
    /// A directory and its tree blob.
    Dir {
        /// The tree blob listing its entries.
        subtree: BlobId,
    },
    /// A symbolic link.
    Symlink {
        /// The link's target, raw bytes.
        #[serde(with = "serde_bytes")]
        target: Vec<u8>,
    },
}

/// One entry of a directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// The entry's name, raw bytes.
    #[serde(with = "serde_bytes")]
    pub name: Vec<u8>,
    /// File, directory or link.
    pub kind: NodeKind,
    /// Its metadata.
    pub meta: Metadata,
}

impl Node {
    /// True for directories.
    pub fn is_dir(&self) -> bool {
        matches!(self.kind, NodeKind::Dir { .. })
    }

    /// The subtree of a directory.
    pub fn subtree(&self) -> Option<BlobId> {
        match self.kind {
            NodeKind::Dir { subtree } => Some(subtree),
            _ => None,
        }
    }
}

/// Why a name is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameError {
    /// The name is empty.
    Empty,
    /// The name is `.` or `..`.
    Dots,
    /// The name contains `/`.
    Slash,
    /// The name contains a NUL byte.
    Nul,
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Empty => "empty name",
            Self::Dots => "name is . or ..",
            Self::Slash => "name contains /",
            Self::Nul => "name contains a NUL byte",
        })
    }
}

impl core::error::Error for NameError {}

/// Checks that `name` can be used as one path component.
pub fn validate_name(name: &[u8]) -> Result<(), NameError> {
    match name {
        [] => Err(NameError::Empty),
        b"." | b".." => Err(NameError::Dots),
        n if n.contains(&b'/') => Err(NameError::Slash),
        n if n.contains(&0) => Err(NameError::Nul),
        _ => Ok(()),
    }
}

/// A problem found by [`Tree::validate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TreeProblem {
    /// Node `index` has an invalid name.
    BadName {
        /// Position in the tree.
        index: usize,
        /// Why.
        error: NameError,
    },
    /// Node `index` is not strictly after node `index - 1` (unsorted or duplicate name).
    Unsorted {
        /// Position in the tree.
        index: usize,
    },
}

impl fmt::Display for TreeProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadName { index, error } => write!(f, "entry {index}: {error}"),
            Self::Unsorted { index } => write!(f, "entry {index}: duplicate or out of order"),
        }
    }
}

/// One directory's listing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tree {
    /// Entries sorted by name.
    pub nodes: Vec<Node>,
}

impl Tree {
    /// The plaintext of the tree blob.
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_allocvec(self).unwrap_or_default()
    }

    /// Decodes a tree blob's plaintext (structure only; see [`Tree::validate`]).
    pub fn decode(id: BlobId, bytes: &[u8]) -> Result<Self, Error> {
        if bytes.len() > MAX_BLOB_LEN as usize {
            return Err(Error::decode(
                ObjectKind::TreeBlob,
                id,
                DecodeError::TooLarge { what: "tree", len: bytes.len() as u64, max: MAX_BLOB_LEN.into() },
            ));
        }
        postcard::from_bytes(bytes).map_err(|e: postcard::Error| Error::decode(ObjectKind::TreeBlob, id, e.into()))
    }

    /// Every problem with names and order, first of each node.
    pub fn validate(&self) -> Vec<TreeProblem> {
        let mut problems = Vec::new();
        for (index, node) in self.nodes.iter().enumerate() {
            if let Err(error) = validate_name(&node.name) {
                problems.push(TreeProblem::BadName { index, error });
            } else if index > 0 && self.nodes.get(index - 1).is_some_and(|prev| prev.name >= node.name) {
                problems.push(TreeProblem::Unsorted { index });
            }
        }
        problems
    }

    /// The node named `name` (binary search; trees are sorted).
    pub fn find(&self, name: &[u8]) -> Option<&Node> {
        let i = self.nodes.binary_search_by(|n| n.name.as_slice().cmp(name)).ok()?;
        self.nodes.get(i)
    }
}

/// Joins a path and a name with `/` (the root is `/`).
pub fn join_path(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(dir.len() + 1 + name.len());
    p.extend_from_slice(dir);
    if !dir.ends_with(b"/") {
        p.push(b'/');
    }
    p.extend_from_slice(name);
    p
}

/// Splits an absolute path into its components, refusing `.`, `..`, empty components and a
/// relative start. `/` yields no components.
pub fn split_absolute(path: &[u8]) -> Result<Vec<&[u8]>, Error> {
    let rest =
        path.strip_prefix(b"/").ok_or(Error::InvalidParameter { name: "path", reason: "paths must be absolute" })?;
    if rest.is_empty() {
        return Ok(Vec::new());
    }
    let rest = rest.strip_suffix(b"/").unwrap_or(rest);
    rest.split(|&b| b == b'/')
        .map(|c| {
            validate_name(c).map(|()| c).map_err(|_| Error::InvalidParameter {
                name: "path",
                reason: "paths must be normalized (no . or .. or //)",
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn node(name: &[u8]) -> Node {
        Node { name: name.to_vec(), kind: NodeKind::Symlink { target: b"x".to_vec() }, meta: Metadata::default() }
    }

    #[test]
    fn names() {
        assert!(validate_name(b"ok \xff name").is_ok());
        assert_eq!(validate_name(b""), Err(NameError::Empty));
        assert_eq!(validate_name(b".."), Err(NameError::Dots));
        assert_eq!(validate_name(b"a/b"), Err(NameError::Slash));
        assert_eq!(validate_name(b"a\0"), Err(NameError::Nul));
    }

    #[test]
    fn validate_and_find() {
        let t = Tree { nodes: vec![node(b"a"), node(b"b"), node(b"b"), node(b"../x"), node(b"c")] };
        let p = t.validate();
        assert_eq!(p.len(), 2);
        assert!(matches!(p[0], TreeProblem::Unsorted { index: 2 }));
        assert!(matches!(p[1], TreeProblem::BadName { index: 3, .. }));
        let good = Tree { nodes: vec![node(b"a"), node(b"b\xff"), node(b"c")] };
        assert!(good.validate().is_empty());
        assert_eq!(good.find(b"b\xff").unwrap().name, b"b\xff");
        assert!(good.find(b"z").is_none());
        let bytes = good.encode();
        assert_eq!(Tree::decode(BlobId::default(), &bytes).unwrap(), good);
    }

    #[test]
    fn paths() {
        assert_eq!(join_path(b"/", b"a"), b"/a");
        assert_eq!(join_path(b"/a", b"b"), b"/a/b");
        assert!(split_absolute(b"/").unwrap().is_empty());
        assert_eq!(split_absolute(b"/a/b/").unwrap(), vec![&b"a"[..], &b"b"[..]]);
        assert!(split_absolute(b"a/b").is_err());
        assert!(split_absolute(b"/a/../b").is_err());
        assert!(split_absolute(b"/a//b").is_err());
    }
}
