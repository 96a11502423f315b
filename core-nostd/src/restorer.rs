//! The restorer: writes a snapshot, or a part of it, to a [`RestoreTarget`].
//!
//! How a restore runs:
//! - The path asked for is resolved in the snapshot. A directory (or `/`) has its *contents*
//!   restored into the target; a file or link is restored into the target under its own name.
//! - Trees are walked depth-first in name order. Every name is checked first: an invalid name
//!   (`..`, `/` inside, empty, NUL) or a duplicate is refused with a warning, so nothing is ever
//!   written outside the target.
//! - File contents are fetched blob by blob; decrypting, decompressing and verifying run on the
//!   [`Worker`], many blobs at a time across consecutive files, and are written in order.
//! - A blob that is missing or damaged is reported and its bytes are written as zeros, so the
//!   rest of the file keeps its place and size; the file is named in a warning.
//! - Directory metadata is applied at the end, children before parents, so that writing files
//!   does not disturb the restored modification times.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::future::Future;
use core::pin::Pin;

use embedded_io_async::Write;
use futures_util::stream::{FuturesOrdered, StreamExt};

use crate::backend::{FileKind, Handle, ReadRange, Storage};
use crate::blob::{BlobType, open_blob};
use crate::error::{Error, IoErrorKind, StorageOp};
use crate::index::Index;
use crate::progress::{FileStatus, Progress, Warning, WarningKind};
use crate::repository::{Repository, storage_error};
use crate::snapshot::Snapshot;
use crate::source::RestoreTarget;
use crate::tree::{Node, NodeKind, TreeProblem};
use crate::walker::{Resolved, resolve};
use crate::worker::Worker;

/// What a restore did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RestoreStats {
    /// Files restored.
    pub files: u64,
    /// Directories restored.
    pub dirs: u64,
    /// Symbolic links restored.
    pub symlinks: u64,
    /// Bytes of file contents written.
    pub bytes: u64,
    /// Entries that could not be restored, or were restored with damaged parts (see warnings).
    pub errors: u64,
}

/// Restores `path` of `snapshot` into `target`.
pub async fn restore<S, T, W, P>(
    repo: &Repository<S>,
    index: &Index,
    snapshot: &Snapshot,
    path: &[u8],
    target: &mut T,
    worker: &W,
    progress: &mut P,
) -> Result<RestoreStats, Error>
where
    S: Storage,
    T: RestoreTarget,
    W: Worker,
    P: Progress,
{
    let resolved = resolve(repo, index, snapshot.tree, path).await?;
    let mut r = Restorer {
        repo,
        index,
        target,
        worker,
        progress,
        jobs: FuturesOrdered::new(),
        open: VecDeque::new(),
        max_jobs: worker.threads().max(1) * 4,
        dirs: Vec::new(),
        stats: RestoreStats::default(),
    };
    match resolved {
        Resolved::Root(tree) => r.restore_dir(b"", tree).await?,
        Resolved::Node { node, .. } => match node.subtree() {
            Some(tree) => r.restore_dir(b"", tree).await?,
            None => r.restore_entry(node.name.clone(), &node).await?,
        },
    }
    while !r.jobs.is_empty() {
        r.write_next().await?;
    }
    let dirs = core::mem::take(&mut r.dirs);
    for (dir, node) in dirs {
        if let Err(e) = r.target.finish_dir(&dir, &node).await {
            r.fail(&dir, WarningKind::Unwritable(e));
        }
    }
    Ok(r.stats)
}

type BlobJob<'a> = Pin<Box<dyn Future<Output = Result<Vec<u8>, (Error, u32)>> + 'a>>;

struct OpenFile<F> {
    path: Vec<u8>,
    file: F,
    node: Node,
    remaining: usize,
    ok: bool,
}

struct Restorer<'a, 'r, S, T: RestoreTarget, W, P> {
    repo: &'a Repository<S>,
    index: &'a Index,
    target: &'r mut T,
    worker: &'a W,
    progress: &'r mut P,
    jobs: FuturesOrdered<BlobJob<'a>>,
    open: VecDeque<OpenFile<T::File>>,
    max_jobs: usize,
    dirs: Vec<(Vec<u8>, Node)>,
    stats: RestoreStats,
}

fn join_relative(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(dir.len() + 1 + name.len());
    if !dir.is_empty() {
        p.extend_from_slice(dir);
        p.push(b'/');
    }
    p.extend_from_slice(name);
    p
}

impl<'a, 'r, S, T, W, P> Restorer<'a, 'r, S, T, W, P>
where
    S: Storage,
    T: RestoreTarget,
    W: Worker,
    P: Progress,
{
    fn fail(&mut self, path: &[u8], kind: WarningKind) {
        self.stats.errors += 1;
        self.progress.warning(&Warning { path: path.to_vec(), kind });
    }

    /// A write error that makes going on pointless (the target is full) ends the restore.
    fn fatal_or_warn(&mut self, path: &[u8], e: crate::IoError) -> Result<(), Error> {
        if e.kind() == IoErrorKind::StorageFull {
            return Err(Error::Target { path: path.to_vec(), source: e });
        }
        self.fail(path, WarningKind::Unwritable(e));
        Ok(())
    }

    async fn restore_dir(&mut self, dir: &[u8], tree_id: crate::BlobId) -> Result<(), Error> {
        let tree = match self.repo.load_tree(self.index, tree_id).await {
            Ok(t) => t,
            Err(e) => {
                self.fail(dir, WarningKind::Damaged(e));
                return Ok(());
            }
        };
        let mut refused = Vec::new();
        for problem in tree.validate() {
            let index = match problem {
                TreeProblem::BadName { index, .. } | TreeProblem::Unsorted { index } => index,
            };
            refused.push(index);
        }
        for (i, node) in tree.nodes.iter().enumerate() {
            if refused.contains(&i) {
                let shown = join_relative(dir, &node.name);
                self.fail(&shown, WarningKind::BadName);
                continue;
            }
            let path = join_relative(dir, &node.name);
            self.restore_entry(path, node).await?;
        }
        Ok(())
    }

    async fn restore_entry(&mut self, path: Vec<u8>, node: &Node) -> Result<(), Error> {
        match &node.kind {
            NodeKind::Dir { subtree } => {
                if let Err(e) = self.target.create_dir(&path).await {
                    return self.fatal_or_warn(&path, e);
                }
                Box::pin(self.restore_dir(&path, *subtree)).await?;
                self.stats.dirs += 1;
                self.dirs.push((path, node.clone()));
            }
            NodeKind::Symlink { target } => match self.target.create_symlink(&path, target, node).await {
                Ok(()) => self.stats.symlinks += 1,
                Err(e) => self.fatal_or_warn(&path, e)?,
            },
            NodeKind::File { content } => self.restore_file(path, node, content).await?,
        }
        Ok(())
    }

    async fn restore_file(&mut self, path: Vec<u8>, node: &Node, content: &[crate::BlobId]) -> Result<(), Error> {
        let file = match self.target.create_file(&path, node.meta.size).await {
            Ok(f) => f,
            Err(e) => return self.fatal_or_warn(&path, e),
        };
        if content.is_empty() {
            return self.close_file(OpenFile { path, file, node: node.clone(), remaining: 0, ok: true }).await;
        }
        self.open.push_back(OpenFile { path, file, node: node.clone(), remaining: content.len(), ok: true });
        for &id in content {
            let job: BlobJob<'a> = match self.index.get(BlobType::Data, &id) {
                None => Box::pin(core::future::ready(Err((Error::BlobNotInIndex { kind: BlobType::Data, id }, 0)))),
                Some(loc) => {
                    let storage = self.repo.storage();
                    let keys = alloc::sync::Arc::clone(self.repo.keys());
                    let worker = self.worker;
                    Box::pin(async move {
                        let handle = Handle::new(FileKind::Pack, loc.pack);
                        let sealed = storage
                            .read(&handle, ReadRange::Span { offset: loc.offset.into(), len: loc.length })
                            .await
                            .map_err(|e| (storage_error(StorageOp::Read, &handle, e), loc.raw_len))?;
                        worker
                            .spawn(move || open_blob(&keys, BlobType::Data, id, &sealed, loc.raw_len))
                            .await
                            .map_err(|e| (e, loc.raw_len))
                    })
                }
            };
            self.jobs.push_back(job);
            while self.jobs.len() > self.max_jobs {
                self.write_next().await?;
            }
        }
        Ok(())
    }

    /// Writes the oldest finished blob to its file; closes the file after its last blob.
    async fn write_next(&mut self) -> Result<(), Error> {
        let Some(result) = self.jobs.next().await else { return Ok(()) };
        let Some(front) = self.open.front_mut() else { return Ok(()) };
        let (data, damaged) = match result {
            Ok(data) => (data, None),
            Err((e, raw_len)) => (alloc::vec![0u8; raw_len as usize], Some(e)),
        };
        let mut write_error = None;
        if front.ok
            && let Err(e) = front.file.write_all(&data).await
        {
            front.ok = false;
            write_error = Some(e);
        }
        front.remaining -= 1;
        let path = front.path.clone();
        let done = front.remaining == 0;
        self.stats.bytes += data.len() as u64;
        self.progress.bytes(data.len() as u64);
        if let Some(e) = damaged {
            self.fail(&path, WarningKind::Damaged(e));
        }
        if let Some(e) = write_error {
            self.fatal_or_warn(&path, e)?;
        }
        if done && let Some(file) = self.open.pop_front() {
            self.close_file(file).await?;
        }
        Ok(())
    }

    async fn close_file(&mut self, f: OpenFile<T::File>) -> Result<(), Error> {
        let OpenFile { path, file, node, ok, .. } = f;
        match self.target.finish_file(&path, file, &node).await {
            Ok(()) => {
                if ok {
                    self.stats.files += 1;
                }
                self.progress.file(&path, node.meta.size, FileStatus::New);
                Ok(())
            }
            Err(e) => self.fatal_or_warn(&path, e),
        }
    }
}
