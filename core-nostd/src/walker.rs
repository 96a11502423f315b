//! Walking a snapshot's trees: resolving a path and listing what is below it.
//!
//! Paths inside a snapshot are absolute (`/home/me/notes.txt`); `/` is the virtual root that
//! holds the backed-up paths.

use alloc::boxed::Box;
use alloc::vec::Vec;

use crate::backend::Storage;
use crate::error::Error;
use crate::id::BlobId;
use crate::index::Index;
use crate::repository::Repository;
use crate::tree::{self, Node};

/// What a path in a snapshot names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// The virtual root, with its tree.
    Root(BlobId),
    /// An entry, with its normalized absolute path.
    Node {
        /// The entry's path.
        path: Vec<u8>,
        /// The entry.
        node: Node,
    },
}

/// Finds what `path` names in the tree rooted at `root`.
pub async fn resolve<S: Storage>(
    repo: &Repository<S>,
    index: &Index,
    root: BlobId,
    path: &[u8],
) -> Result<Resolved, Error> {
    let components = tree::split_absolute(path)?;
    let Some((last, parents)) = components.split_last() else { return Ok(Resolved::Root(root)) };
    let mut current = root;
    let mut walked = Vec::new();
    for name in parents {
        walked = tree::join_path(if walked.is_empty() { b"/" } else { &walked }, name);
        let t = repo.load_tree(index, current).await?;
        let node = t.find(name).ok_or_else(|| Error::PathNotFound { path: path.to_vec() })?;
        current = node.subtree().ok_or_else(|| Error::NotADirectory { path: walked.clone() })?;
    }
    let t = repo.load_tree(index, current).await?;
    let node = t.find(last).ok_or_else(|| Error::PathNotFound { path: path.to_vec() })?.clone();
    let full = tree::join_path(if walked.is_empty() { b"/" } else { &walked }, last);
    Ok(Resolved::Node { path: full, node })
}

/// Calls `visit` with the path and node of `path` and of everything below it, depth-first in
/// name order. For `/`, the root itself is not visited.
pub async fn walk<S: Storage>(
    repo: &Repository<S>,
    index: &Index,
    root: BlobId,
    path: &[u8],
    visit: &mut dyn FnMut(&[u8], &Node),
) -> Result<(), Error> {
    match resolve(repo, index, root, path).await? {
        Resolved::Root(tree) => walk_tree(repo, index, b"/", tree, visit).await,
        Resolved::Node { path, node } => {
            visit(&path, &node);
            match node.subtree() {
                Some(subtree) => walk_tree(repo, index, &path, subtree, visit).await,
                None => Ok(()),
            }
        }
    }
}

async fn walk_tree<S: Storage>(
    repo: &Repository<S>,
    index: &Index,
    dir: &[u8],
    tree: BlobId,
    visit: &mut dyn FnMut(&[u8], &Node),
) -> Result<(), Error> {
    let t = repo.load_tree(index, tree).await?;
    for node in &t.nodes {
        let path = tree::join_path(dir, &node.name);
        visit(&path, node);
        if let Some(subtree) = node.subtree() {
            Box::pin(walk_tree(repo, index, &path, subtree, visit)).await?;
        }
    }
    Ok(())
}
