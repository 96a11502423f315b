//! The restore browser: snapshots, directories loaded one at a time, a search across every
//! snapshot, restores and `.tar.gz` downloads.
//!
//! Each destination being browsed gets a thread of its own holding the open repository, its
//! index and the trees read so far, so that opening a directory costs one tree read at most
//! (none the second time) instead of opening the repository again (a key derivation, the whole
//! index). The thread ends after ten idle minutes, or when the destination is deleted.
//!
//! The repository is opened read-only: browsing and restoring never write to the destination.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use cairn_core::{BlobId, FileKind, Id, Index, NodeKind, ReadOnly, Repository, Resolved, Snapshot, SnapshotId, Tree};
use cairn_std::catalog::{CachedSnapshot, Catalog};
use cairn_std::{ArchiveFormat, Destination, FsTarget, Overwrite, ThreadWorker, dump_archive_many};

use crate::progress::{Reporter, Totals};
use crate::{
    ArchiveView, DirPage, EntryView, EventSink, FoundVersion, Gui, GuiError, Paths, RestoreRequest, RestoreSummary,
    RestoreTargetForm, SearchHit, SearchView, SnapshotView,
};

type Reply<T> = tokio::sync::oneshot::Sender<Result<T, GuiError>>;

enum Request {
    Snapshots(Reply<Vec<SnapshotView>>),
    ListDir {
        snapshot: String,
        path: String,
        offset: u32,
        limit: u32,
        reply: Reply<DirPage>,
    },
    Search {
        query: String,
        limit: u32,
        reply: Reply<SearchView>,
    },
    History {
        path: String,
        reply: Reply<Vec<FoundVersion>>,
    },
    Restore {
        request: RestoreRequest,
        reporter: Box<Reporter>,
        reply: Reply<RestoreSummary>,
    },
    Download {
        snapshot: String,
        paths: Vec<String>,
        file: PathBuf,
        reporter: Box<Reporter>,
        reply: Reply<RestoreSummary>,
    },
}

/// The browsing threads, by destination.
#[derive(Default)]
pub(crate) struct Browsers {
    threads: Mutex<HashMap<String, mpsc::Sender<Request>>>,
}

const IDLE: Duration = Duration::from_secs(600);

impl Browsers {
    /// Sends a request to destination `name`'s thread, starting one if none runs.
    fn send(&self, paths: &Arc<Paths>, name: &str, request: Request) -> Result<(), GuiError> {
        let mut threads = self.threads.lock().unwrap_or_else(|p| p.into_inner());
        let request = match threads.get(name) {
            Some(tx) => match tx.send(request) {
                Ok(()) => return Ok(()),
                Err(mpsc::SendError(r)) => r,
            },
            None => request,
        };
        let (tx, rx) = mpsc::channel();
        let (paths, owned) = (paths.clone(), name.to_string());
        std::thread::Builder::new()
            .name("cairn-browse".into())
            .spawn(move || serve(&paths, &owned, &rx))
            .map_err(|e| GuiError::internal(format!("cannot start a thread: {e}")))?;
        tx.send(request).map_err(|_| GuiError::internal("the browsing thread stopped"))?;
        threads.insert(name.to_string(), tx);
        Ok(())
    }

    /// Ends destination `name`'s thread (after what it is doing).
    pub(crate) fn close(&self, name: &str) {
        self.threads.lock().unwrap_or_else(|p| p.into_inner()).remove(name);
    }
}

type Repo = Repository<ReadOnly<Destination>>;

struct Open {
    repo: Repo,
    index: Index,
    index_files: Vec<Id>,
    snapshots: Vec<(SnapshotId, Snapshot)>,
    trees: HashMap<BlobId, Arc<Tree>>,
    /// Search matches per tree for `query`.
    query: String,
    matches: HashMap<BlobId, Arc<Vec<Match>>>,
    /// The last folder listed and its entries' order (folders first, then by name), so that
    /// paging through a large folder sorts it once.
    order: Option<(BlobId, Arc<Vec<usize>>)>,
}

#[derive(Debug, Clone)]
struct Match {
    rel: String,
    kind: &'static str,
    size: u64,
    mtime: i64,
}

/// Trees kept in memory per destination before the cache starts over.
const MAX_TREES: usize = 50_000;

fn kind_name(k: &NodeKind) -> &'static str {
    match k {
        NodeKind::File { .. } => "file",
        NodeKind::Dir { .. } => "dir",
        _ => "symlink",
    }
}

impl Open {
    async fn new(catalog: &Catalog, name: &str) -> Result<Self, GuiError> {
        let candidate = catalog.candidate(name)?;
        let dest = candidate.parsed.open()?;
        let repo = Repository::open(ReadOnly::new(dest), candidate.password.expose()).await?;
        let mut open = Open {
            repo,
            index: Index::default(),
            index_files: Vec::new(),
            snapshots: Vec::new(),
            trees: HashMap::new(),
            query: String::new(),
            matches: HashMap::new(),
            order: None,
        };
        open.refresh().await?;
        Ok(open)
    }

    /// Lists snapshots again, and reloads the index if index files came or went.
    async fn refresh(&mut self) -> Result<(), GuiError> {
        let mut files = self.repo.list(FileKind::Index).await?;
        files.sort();
        if files != self.index_files {
            self.index = self.repo.load_index().await?;
            self.index_files = files;
        }
        let mut snapshots = self.repo.list_snapshots().await?;
        snapshots.sort_by_key(|(_, s)| std::cmp::Reverse(s.time));
        self.snapshots = snapshots;
        Ok(())
    }

    fn snapshot(&self, id: &str) -> Result<&Snapshot, GuiError> {
        self.snapshots
            .iter()
            .find(|(i, _)| i.to_hex() == id || (id.len() >= 8 && i.to_hex().starts_with(id)))
            .map(|(_, s)| s)
            .ok_or_else(|| GuiError {
                kind: "notFound".into(),
                message: format!("snapshot {id} is not in this destination (any more)"),
                hint: Some("reload the snapshot list".into()),
                field: None,
            })
    }

    async fn tree(&mut self, id: BlobId) -> Result<Arc<Tree>, GuiError> {
        if let Some(t) = self.trees.get(&id) {
            return Ok(t.clone());
        }
        let t = Arc::new(self.repo.load_tree(&self.index, id).await?);
        if self.trees.len() >= MAX_TREES {
            self.trees.clear();
        }
        self.trees.insert(id, t.clone());
        Ok(t)
    }

    async fn list_dir(&mut self, snapshot: &str, path: &str, offset: u32, limit: u32) -> Result<DirPage, GuiError> {
        let mut tree_id = self.snapshot(snapshot)?.tree;
        let components = cairn_core::split_absolute(path.as_bytes())
            .map_err(|_| GuiError::field("path", format!("{path:?} is not an absolute path")))?;
        for c in components {
            let t = self.tree(tree_id).await?;
            let node = t.find(c).ok_or_else(|| GuiError {
                kind: "notFound".into(),
                message: format!("{path} is not in this snapshot"),
                hint: None,
                field: None,
            })?;
            tree_id = node.subtree().ok_or_else(|| GuiError {
                kind: "invalidInput".into(),
                message: format!("{path} is not a folder"),
                hint: None,
                field: None,
            })?;
        }
        let t = self.tree(tree_id).await?;
        let order = match &self.order {
            Some((id, order)) if *id == tree_id => order.clone(),
            _ => {
                let mut order: Vec<usize> = (0..t.nodes.len()).collect();
                order.sort_by(|&a, &b| {
                    let (a, b) = (&t.nodes[a], &t.nodes[b]);
                    b.is_dir().cmp(&a.is_dir()).then_with(|| a.name.cmp(&b.name))
                });
                let order = Arc::new(order);
                self.order = Some((tree_id, order.clone()));
                order
            }
        };
        let base = path.trim_end_matches('/');
        let entries = order
            .iter()
            .skip(offset as usize)
            .take(limit.clamp(1, 5_000) as usize)
            .filter_map(|&i| t.nodes.get(i))
            .map(|n| {
                let name = String::from_utf8_lossy(&n.name).into_owned();
                EntryView {
                    path: format!("{base}/{name}"),
                    name,
                    kind: kind_name(&n.kind).into(),
                    size: n.meta.size,
                    mtime: n.meta.mtime.secs,
                }
            })
            .collect();
        Ok(DirPage { entries, total: u32::try_from(order.len()).unwrap_or(u32::MAX) })
    }

    /// Names containing `query` (any case) under tree `id`, paths relative to it; at most
    /// `limit` per tree.
    async fn matches(
        &mut self,
        id: BlobId,
        query: &str,
        limit: usize,
        truncated: &mut bool,
    ) -> Result<Arc<Vec<Match>>, GuiError> {
        if let Some(m) = self.matches.get(&id) {
            return Ok(m.clone());
        }
        let tree = self.tree(id).await?;
        let mut out = Vec::new();
        for n in &tree.nodes {
            let name = String::from_utf8_lossy(&n.name);
            if name.to_lowercase().contains(query) {
                out.push(Match {
                    rel: name.to_string(),
                    kind: kind_name(&n.kind),
                    size: n.meta.size,
                    mtime: n.meta.mtime.secs,
                });
            }
            if let Some(sub) = n.subtree() {
                let below = Box::pin(self.matches(sub, query, limit, truncated)).await?;
                out.extend(below.iter().map(|m| Match { rel: format!("{name}/{}", m.rel), ..m.clone() }));
            }
            if out.len() >= limit {
                out.truncate(limit);
                *truncated = true;
                break;
            }
        }
        let out = Arc::new(out);
        self.matches.insert(id, out.clone());
        Ok(out)
    }

    async fn search(&mut self, query: &str, limit: u32) -> Result<SearchView, GuiError> {
        let query = query.trim().to_lowercase();
        if query.is_empty() {
            return Err(GuiError::field("search", "type part of a file name"));
        }
        if query != self.query {
            self.matches.clear();
            self.query = query.clone();
        }
        let limit = limit.clamp(1, 10_000) as usize;
        let mut truncated = false;
        let mut hits: Vec<SearchHit> = Vec::new();
        let mut by_path: HashMap<String, usize> = HashMap::new();
        let snapshots: Vec<(SnapshotId, BlobId, i64)> =
            self.snapshots.iter().map(|(id, s)| (*id, s.tree, s.time.secs)).collect();
        for (id, root, time) in &snapshots {
            let found = self.matches(*root, &query, limit, &mut truncated).await?;
            for m in found.iter() {
                let path = format!("/{}", m.rel);
                let version = FoundVersion { snapshot: id.to_hex(), time: *time, size: m.size, mtime: m.mtime };
                match by_path.get(&path) {
                    Some(&i) => hits[i].versions.push(version),
                    None if hits.len() < limit => {
                        by_path.insert(path.clone(), hits.len());
                        hits.push(SearchHit { path, kind: m.kind.into(), versions: vec![version] });
                    }
                    None => truncated = true,
                }
            }
        }
        Ok(SearchView { hits, snapshots: u32::try_from(snapshots.len()).unwrap_or(u32::MAX), truncated })
    }

    /// The node at `components` (an absolute path, split) under tree `root`, if there is one.
    async fn node_at(&mut self, root: BlobId, components: &[&[u8]]) -> Result<Option<cairn_core::Node>, GuiError> {
        let Some((last, dirs)) = components.split_last() else { return Ok(None) };
        let mut id = root;
        for c in dirs {
            match self.tree(id).await?.find(c).and_then(cairn_core::Node::subtree) {
                Some(sub) => id = sub,
                None => return Ok(None),
            }
        }
        Ok(self.tree(id).await?.find(last).cloned())
    }

    /// Every version of the file at `path`, newest first: one per change of its contents, each
    /// with the newest snapshot that holds it.
    async fn history(&mut self, path: &str) -> Result<Vec<FoundVersion>, GuiError> {
        let components = cairn_core::split_absolute(path.as_bytes())
            .map_err(|_| GuiError::field("path", format!("{path:?} is not an absolute path")))?;
        let snapshots: Vec<(SnapshotId, BlobId, i64)> =
            self.snapshots.iter().map(|(id, s)| (*id, s.tree, s.time.secs)).collect();
        let mut out = Vec::new();
        let mut newer: Option<Vec<BlobId>> = None;
        for (id, root, time) in snapshots {
            let node = self.node_at(root, &components).await?;
            let Some(cairn_core::Node { kind: NodeKind::File { content }, meta, .. }) = node else {
                newer = None;
                continue;
            };
            if newer.as_ref() != Some(&content) {
                out.push(FoundVersion { snapshot: id.to_hex(), time, size: meta.size, mtime: meta.mtime.secs });
                newer = Some(content);
            }
        }
        Ok(out)
    }

    /// Bytes and files under the selected paths (for progress).
    async fn size_of(&self, snap: &Snapshot, paths: &[Vec<u8>]) -> (u64, u64) {
        let (mut files, mut bytes) = (0u64, 0u64);
        for p in paths {
            if p.as_slice() == b"/" {
                return (
                    snap.stats.files_new + snap.stats.files_changed + snap.stats.files_unmodified,
                    snap.stats.bytes_total,
                );
            }
            let _ = cairn_core::walk(&self.repo, &self.index, snap.tree, p, &mut |_, n| {
                if let NodeKind::File { .. } = n.kind {
                    files += 1;
                    bytes += n.meta.size;
                }
            })
            .await;
        }
        (files, bytes)
    }

    async fn restore(&mut self, r: RestoreRequest, reporter: &mut Reporter) -> Result<RestoreSummary, GuiError> {
        let started = Instant::now();
        let snap = self.snapshot(&r.snapshot)?.clone();
        let paths = selected(&r.paths)?;
        let (files, bytes) = self.size_of(&snap, &paths).await;
        reporter.set_totals(Totals::known(files, bytes));
        reporter.set_phase("restoring");
        let worker = ThreadWorker::new();
        let mut summary = RestoreSummary {
            files: 0,
            dirs: 0,
            bytes: 0,
            kept: 0,
            errors: 0,
            warnings: Vec::new(),
            written_to: Vec::new(),
            seconds: 0.0,
        };
        for p in &paths {
            let is_dir = match cairn_core::resolve(&self.repo, &self.index, snap.tree, p).await? {
                Resolved::Root(_) => true,
                Resolved::Node { node, .. } => node.is_dir(),
            };
            let path = Path::new(OsStr::from_bytes(p));
            let dir = match (&r.target, is_dir) {
                (RestoreTargetForm::Original, true) => path.to_path_buf(),
                (RestoreTargetForm::Original, false) => path.parent().unwrap_or(Path::new("/")).to_path_buf(),
                (RestoreTargetForm::Folder { path: f }, true) => match path.file_name() {
                    Some(n) => Path::new(f).join(n),
                    None => PathBuf::from(f),
                },
                (RestoreTargetForm::Folder { path: f }, false) => PathBuf::from(f),
            };
            if !dir.is_absolute() {
                return Err(GuiError::field("target", "choose a folder (an absolute path)"));
            }
            let policy = if r.overwrite { Overwrite::Always } else { Overwrite::Never };
            let mut target = FsTarget::new(&dir)
                .map_err(|e| GuiError::from(cairn_std::Error::io("cannot create the restore folder", &dir, e)))?
                .with_overwrite(policy);
            let stats = cairn_core::restore(&self.repo, &self.index, &snap, p, &mut target, &worker, reporter).await?;
            summary.files += stats.files;
            summary.dirs += stats.dirs;
            summary.bytes += stats.bytes;
            summary.errors += stats.errors;
            summary.kept += target.kept();
            let shown = dir.display().to_string();
            if !summary.written_to.contains(&shown) {
                summary.written_to.push(shown);
            }
        }
        summary.warnings = std::mem::take(&mut reporter.warnings);
        summary.seconds = started.elapsed().as_secs_f64();
        Ok(summary)
    }

    async fn download(
        &mut self,
        snapshot: &str,
        paths: &[String],
        file: &Path,
        reporter: &mut Reporter,
    ) -> Result<RestoreSummary, GuiError> {
        let started = Instant::now();
        if !file.is_absolute() {
            return Err(GuiError::field("file", "choose where to save the archive"));
        }
        // A download never replaces a file the user has.
        if std::fs::symlink_metadata(file).is_ok() {
            return Err(GuiError::field("file", format!("{} exists: choose another name", file.display())));
        }
        let snap = self.snapshot(snapshot)?.clone();
        let paths = selected(paths)?;
        let (files, bytes) = self.size_of(&snap, &paths).await;
        reporter.set_totals(Totals::known(files, bytes));
        reporter.set_phase("downloading");
        let partial = file.with_extension("gz.part");
        let out = std::fs::File::create(&partial)
            .map_err(|e| GuiError::from(cairn_std::Error::io("cannot create the archive", &partial, e)))?;
        let refs: Vec<&[u8]> = paths.iter().map(Vec::as_slice).collect();
        let result =
            dump_archive_many(&self.repo, &self.index, snap.tree, &refs, ArchiveFormat::TarGz, out, reporter).await;
        let (stats, out) = match result {
            Ok(v) => v,
            Err(e) => {
                let _ = std::fs::remove_file(&partial);
                return Err(e.into());
            }
        };
        let finished = out.sync_all().and_then(|()| std::fs::rename(&partial, file));
        if let Err(e) = finished {
            let _ = std::fs::remove_file(&partial);
            return Err(cairn_std::Error::io("cannot write the archive", file, e).into());
        }
        Ok(RestoreSummary {
            files: stats.files,
            dirs: stats.dirs,
            bytes: stats.bytes,
            kept: 0,
            errors: 0,
            warnings: std::mem::take(&mut reporter.warnings),
            written_to: vec![file.display().to_string()],
            seconds: started.elapsed().as_secs_f64(),
        })
    }
}

/// The selected paths, checked: absolute, no `.` or `..`; `/` alone if it is among them.
fn selected(paths: &[String]) -> Result<Vec<Vec<u8>>, GuiError> {
    if paths.is_empty() {
        return Err(GuiError::field("paths", "select at least one file or folder"));
    }
    let mut out = Vec::new();
    for p in paths {
        let trimmed = if p.len() > 1 { p.trim_end_matches('/') } else { p.as_str() };
        cairn_core::split_absolute(trimmed.as_bytes())
            .map_err(|_| GuiError::field("paths", format!("{p:?} is not a path in the snapshot")))?;
        if trimmed == "/" {
            return Ok(vec![b"/".to_vec()]);
        }
        out.push(trimmed.as_bytes().to_vec());
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// The thread of one destination: opens it at the first request, answers until idle.
fn serve(paths: &Paths, name: &str, rx: &mpsc::Receiver<Request>) {
    let worker = ThreadWorker::new();
    let Ok(rt) = cairn_std::runtime(&worker) else { return };
    let mut open: Option<Open> = None;
    while let Ok(request) = rx.recv_timeout(IDLE) {
        rt.block_on(async {
            let catalog = match Catalog::open(&paths.catalog, &paths.key) {
                Ok(c) => c,
                Err(e) => return reply_error(request, e.into()),
            };
            if open.is_none() {
                match Open::new(&catalog, name).await {
                    Ok(o) => open = Some(o),
                    Err(e) => return reply_error(request, e),
                }
            }
            let Some(o) = open.as_mut() else { return };
            match request {
                Request::Snapshots(reply) => {
                    let result = match o.refresh().await {
                        Ok(()) => {
                            let cached: Vec<CachedSnapshot> =
                                o.snapshots.iter().map(|(id, s)| CachedSnapshot::of(*id, s)).collect();
                            let _ = catalog.replace_snapshot_cache(name, &cached);
                            Ok(cached
                                .into_iter()
                                .map(|c| SnapshotView {
                                    id: c.id,
                                    time: c.time,
                                    host: c.hostname,
                                    paths: c.paths,
                                    tags: c.tags,
                                    files: c.files,
                                    bytes: c.bytes,
                                })
                                .collect())
                        }
                        Err(e) => Err(e),
                    };
                    let _ = reply.send(result);
                }
                Request::ListDir { snapshot, path, offset, limit, reply } => {
                    let _ = reply.send(o.list_dir(&snapshot, &path, offset, limit).await);
                }
                Request::Search { query, limit, reply } => {
                    let _ = reply.send(o.search(&query, limit).await);
                }
                Request::History { path, reply } => {
                    let _ = reply.send(o.history(&path).await);
                }
                Request::Restore { request, mut reporter, reply } => {
                    let result = o.restore(request, &mut reporter).await;
                    reporter.finish(if result.is_ok() { "done" } else { "failed" });
                    let _ = reply.send(result);
                }
                Request::Download { snapshot, paths, file, mut reporter, reply } => {
                    let result = o.download(&snapshot, &paths, &file, &mut reporter).await;
                    reporter.finish(if result.is_ok() { "done" } else { "failed" });
                    let _ = reply.send(result);
                }
            }
        });
    }
}

fn reply_error(request: Request, e: GuiError) {
    let _ = match request {
        Request::Snapshots(r) => r.send(Err(e)).is_ok(),
        Request::ListDir { reply, .. } => reply.send(Err(e)).is_ok(),
        Request::Search { reply, .. } => reply.send(Err(e)).is_ok(),
        Request::History { reply, .. } => reply.send(Err(e)).is_ok(),
        Request::Restore { reply, mut reporter, .. } | Request::Download { reply, mut reporter, .. } => {
            reporter.finish("failed");
            reply.send(Err(e)).is_ok()
        }
    };
}

impl Gui {
    async fn ask<T>(&self, destination: &str, make: impl FnOnce(Reply<T>) -> Request) -> Result<T, GuiError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.browsers.send(&self.paths, destination, make(tx))?;
        rx.await.map_err(|_| GuiError::internal("the browsing thread stopped (see the log)"))?
    }

    /// The snapshots of a destination, newest first (and the catalog's cache of them refreshed).
    pub async fn snapshots(&self, destination: String) -> Result<Vec<SnapshotView>, GuiError> {
        self.ask(&destination, Request::Snapshots).await
    }

    /// Entries `offset..offset+limit` of directory `path` of a snapshot, folders first.
    pub async fn list_dir(
        &self,
        destination: String,
        snapshot: String,
        path: String,
        offset: u32,
        limit: u32,
    ) -> Result<DirPage, GuiError> {
        self.ask(&destination, |reply| Request::ListDir { snapshot, path, offset, limit, reply }).await
    }

    /// Paths whose name contains `query` (any case) in any snapshot, with the snapshots that
    /// hold them; at most `limit` paths.
    pub async fn search(&self, destination: String, query: String, limit: u32) -> Result<SearchView, GuiError> {
        self.ask(&destination, |reply| Request::Search { query, limit, reply }).await
    }

    /// Every version of the file at `path` across the destination's snapshots, newest first
    /// (one per change of its contents).
    pub async fn file_history(&self, destination: String, path: String) -> Result<Vec<FoundVersion>, GuiError> {
        self.ask(&destination, |reply| Request::History { path, reply }).await
    }

    /// Restores the selected paths, with progress under operation `op`; [`Gui::cancel`] stops it.
    pub async fn restore(&self, op: String, request: RestoreRequest) -> Result<RestoreSummary, GuiError> {
        let (cancel, guard) = self.start_op(&op)?;
        let reporter = Box::new(self.reporter(&op, "opening", cancel));
        let destination = request.destination.clone();
        let result = self.ask(&destination, |reply| Request::Restore { request, reporter, reply }).await;
        drop(guard);
        result
    }

    /// Writes the selected paths into a `.tar.gz` file, with progress under operation `op`.
    pub async fn download(
        &self,
        op: String,
        destination: String,
        snapshot: String,
        paths: Vec<String>,
        file: String,
    ) -> Result<RestoreSummary, GuiError> {
        let (cancel, guard) = self.start_op(&op)?;
        let reporter = Box::new(self.reporter(&op, "opening", cancel));
        let file = PathBuf::from(file);
        let result = self.ask(&destination, |reply| Request::Download { snapshot, paths, file, reporter, reply }).await;
        drop(guard);
        result
    }

    /// The `.tar` and `.tar.gz` files that archived and compressed jobs wrote to a destination,
    /// newest first.
    pub async fn archives(&self, destination: String) -> Result<Vec<ArchiveView>, GuiError> {
        self.on_thread(move |catalog| async move {
            let dest = catalog.destination_url(&destination)?.open()?;
            let mut all = cairn_std::runner::list_archives(&dest, None).await?;
            all.reverse();
            Ok(all
                .into_iter()
                .map(|a| ArchiveView { name: a.name, job: a.job, time: a.time, size: a.size, compressed: a.compressed })
                .collect())
        })
        .await
    }

    /// Extracts an archive into `folder` (an absolute path to a folder that is empty or does
    /// not exist yet: an archive's files never replace the user's).
    pub async fn restore_archive(
        &self,
        op: String,
        destination: String,
        name: String,
        folder: String,
    ) -> Result<RestoreSummary, GuiError> {
        let (_cancel, guard) = self.start_op(&op)?;
        let folder = PathBuf::from(folder);
        if !folder.is_absolute() {
            return Err(GuiError::field("target", "choose a folder (an absolute path)"));
        }
        match std::fs::read_dir(&folder).map(|mut entries| entries.next().is_some()) {
            Ok(true) => {
                return Err(GuiError::field(
                    "target",
                    format!("{} is not empty: choose an empty or new folder", folder.display()),
                ));
            }
            Ok(false) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(cairn_std::Error::io("cannot open", &folder, e).into()),
        }
        let result = self
            .on_thread(move |catalog| async move {
                let started = Instant::now();
                let dest = catalog.destination_url(&destination)?.open()?;
                let all = cairn_std::runner::list_archives(&dest, None).await?;
                let archive = all.iter().find(|a| a.name == name).ok_or_else(|| {
                    GuiError::from(cairn_std::Error::new(
                        cairn_std::ErrorKind::NotFound,
                        format!("{name} is no longer on {destination}"),
                    ))
                })?;
                let file = cairn_std::runner::read_archive(&dest, archive).await?;
                let compressed = archive.compressed;
                let target = folder.clone();
                let (files, dirs, bytes) =
                    tokio::task::spawn_blocking(move || cairn_std::runner::extract_archive(file, compressed, &target))
                        .await
                        .map_err(|e| GuiError::internal(format!("the extraction stopped: {e}")))??;
                Ok(RestoreSummary {
                    files,
                    dirs,
                    bytes,
                    kept: 0,
                    errors: 0,
                    warnings: Vec::new(),
                    written_to: vec![folder.display().to_string()],
                    seconds: started.elapsed().as_secs_f64(),
                })
            })
            .await;
        drop(guard);
        result
    }

    fn reporter(&self, op: &str, phase: &str, cancel: Arc<AtomicBool>) -> Reporter {
        let events: EventSink = self.emit();
        Reporter::new(op, phase, events, cancel, Arc::new(Totals::default()))
    }
}
