//! Archive export: a snapshot, a directory in it, or one file, streamed as a tar or tar.gz
//! archive (or, for one file, as its plain contents).
//!
//! The archive is built on its own thread (the `tar` crate writes to a blocking [`Write`]) while
//! the engine, on the caller's runtime, walks the trees and loads the data blobs one at a time;
//! a small channel between them bounds memory to a few blobs. Names are relative: the whole
//! snapshot gives `home/me/...`, a directory `/home/me/docs` gives `docs/...`, a file its name.
//! Entries keep their permission bits (with setuid, setgid and sticky), owner ids and names, and
//! modification times (to the nanosecond, and before 1970, through PAX `mtime` records); long names and link targets use GNU extensions. Each
//! file's size in its header is the sum of its blobs' sizes from the index, so the archive is
//! consistent even if a tree's recorded size is wrong.

use std::ffi::OsStr;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::thread;

use cairn_core::{BlobId, BlobType, Index, Node, NodeKind, Progress, Repository, Resolved, Storage, resolve};
use tokio::sync::mpsc;

use crate::error::{Error, ErrorKind};

/// The archive format of [`dump_archive`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveFormat {
    /// POSIX tar with GNU extensions.
    Tar,
    /// tar, gzip-compressed (level 1: fast, since backed-up data is often already compressed).
    TarGz,
}

impl ArchiveFormat {
    /// Parses `tar`, `tar.gz` or `tgz`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "tar" => Some(Self::Tar),
            "tar.gz" | "tgz" => Some(Self::TarGz),
            _ => None,
        }
    }

    /// The format a file name asks for: `.tar.gz`/`.tgz` or `.tar`.
    pub fn from_file_name(name: &Path) -> Option<Self> {
        let n = name.file_name()?.to_str()?;
        if n.ends_with(".tar.gz") || n.ends_with(".tgz") {
            Some(Self::TarGz)
        } else if n.ends_with(".tar") {
            Some(Self::Tar)
        } else {
            None
        }
    }
}

/// Counts from a dump.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DumpStats {
    /// Regular files written.
    pub files: u64,
    /// Directories written.
    pub dirs: u64,
    /// Symbolic links written.
    pub symlinks: u64,
    /// Bytes of file contents written (before compression).
    pub bytes: u64,
}

enum Msg {
    Entry { header: Box<tar::Header>, path: Vec<u8>, link: Option<Vec<u8>>, mtime: Option<String> },
    Data(Vec<u8>),
}

/// Most messages in flight between the engine and the archive thread (each at most one blob).
const CHANNEL: usize = 4;

/// Writes `path` of the snapshot whose root tree is `root` (`/` for all of it) to `out` as an
/// archive, and returns the counts and `out` (to flush, sync or rename).
pub async fn dump_archive<S, W, P>(
    repo: &Repository<S>,
    index: &Index,
    root: BlobId,
    path: &[u8],
    format: ArchiveFormat,
    out: W,
    progress: &mut P,
) -> Result<(DumpStats, W), Error>
where
    S: Storage,
    W: Write + Send + 'static,
    P: Progress,
{
    dump_archive_many(repo, index, root, &[path], format, out, progress).await
}

/// Like [`dump_archive`] for several paths of one snapshot in one archive: each entry named
/// as it would be alone (a directory's contents at the top for `/`, else under its own name).
/// Paths that would write the same names twice are the caller's to avoid.
pub async fn dump_archive_many<S, W, P>(
    repo: &Repository<S>,
    index: &Index,
    root: BlobId,
    paths: &[&[u8]],
    format: ArchiveFormat,
    out: W,
    progress: &mut P,
) -> Result<(DumpStats, W), Error>
where
    S: Storage,
    W: Write + Send + 'static,
    P: Progress,
{
    let (tx, rx) = mpsc::channel(CHANNEL);
    let writer = thread::Builder::new()
        .name("cairn-archive".into())
        .spawn(move || write_archive(rx, out, format))
        .map_err(|e| Error::new(ErrorKind::Other, format!("cannot start the archive thread: {e}")))?;
    let mut d = Dumper { repo, index, tx, stats: DumpStats::default(), progress };
    let mut walked = Ok(());
    for path in paths {
        walked = match resolve(repo, index, root, path).await {
            Ok(Resolved::Root(tree)) => d.dir(b"", tree).await,
            Ok(Resolved::Node { node, .. }) => d.node(b"", &node).await,
            Err(e) => Err(Walk::Engine(e)),
        };
        if walked.is_err() {
            break;
        }
    }
    let stats = d.stats;
    drop(d);
    // The thread ends once the channel is closed; its error explains a failed send.
    let written = writer.join().map_err(|_| Error::new(ErrorKind::Other, "the archive thread panicked"))?;
    match (walked, written) {
        (Err(Walk::Engine(e)), _) => Err(e.into()),
        (_, Err(e)) => Err(write_error(e)),
        (Err(Walk::Closed), Ok(_)) => Err(Error::new(ErrorKind::Other, "the archive thread stopped early")),
        (Ok(()), Ok(out)) => Ok((stats, out)),
    }
}

/// Writes the contents of file `node` to `out`, blob by blob. Returns the bytes written.
pub async fn dump_file<S: Storage, W: Write, P: Progress>(
    repo: &Repository<S>,
    index: &Index,
    node: &Node,
    out: &mut W,
    progress: &mut P,
) -> Result<u64, Error> {
    let NodeKind::File { content } = &node.kind else {
        return Err(Error::new(ErrorKind::InvalidInput, "only a regular file can be dumped without --archive")
            .with_hint("add --archive tar (or tar.gz) to export a directory or link"));
    };
    let mut written = 0u64;
    for id in content {
        let data = repo.load_blob(index, BlobType::Data, *id).await?;
        out.write_all(&data).map_err(write_error)?;
        written += data.len() as u64;
        progress.bytes(data.len() as u64);
    }
    out.flush().map_err(write_error)?;
    Ok(written)
}

/// A failed write of the output. A closed pipe (`cairn dump ... | head`) keeps its
/// [`io::ErrorKind::BrokenPipe`] in the source, for front ends that end quietly on it.
fn write_error(e: io::Error) -> Error {
    let kind = crate::error::error_kind_of_io(crate::error::io_error_kind(&e));
    Error::new(kind, format!("cannot write the output: {}", crate::error::plain_io_message(&e))).with_source(e)
}

/// True if `e` is a write to a pipe whose reader has gone.
pub fn is_broken_pipe(e: &Error) -> bool {
    std::error::Error::source(e)
        .and_then(|s| s.downcast_ref::<io::Error>())
        .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
}

enum Walk {
    Engine(cairn_core::Error),
    Closed,
}

impl From<cairn_core::Error> for Walk {
    fn from(e: cairn_core::Error) -> Self {
        Self::Engine(e)
    }
}

struct Dumper<'a, S, P> {
    repo: &'a Repository<S>,
    index: &'a Index,
    tx: mpsc::Sender<Msg>,
    stats: DumpStats,
    progress: &'a mut P,
}

impl<S: Storage, P: Progress> Dumper<'_, S, P> {
    async fn send(&self, msg: Msg) -> Result<(), Walk> {
        self.tx.send(msg).await.map_err(|_| Walk::Closed)
    }

    async fn dir(&mut self, dir: &[u8], tree: BlobId) -> Result<(), Walk> {
        let t = self.repo.load_tree(self.index, tree).await?;
        if let Some(problem) = t.validate().first() {
            return Err(Walk::Engine(cairn_core::Error::InvalidParameter {
                name: "tree",
                reason: match problem {
                    cairn_core::TreeProblem::BadName { .. } => "a tree holds an invalid name (run `cairn check`)",
                    _ => "a tree holds duplicate names (run `cairn check`)",
                },
            }));
        }
        for node in &t.nodes {
            if self.progress.cancelled() {
                return Err(Walk::Engine(cairn_core::Error::Cancelled));
            }
            Box::pin(self.node(dir, node)).await?;
        }
        Ok(())
    }

    async fn node(&mut self, dir: &[u8], node: &Node) -> Result<(), Walk> {
        let mut path = dir.to_vec();
        if !path.is_empty() {
            path.push(b'/');
        }
        path.extend_from_slice(&node.name);
        let mut header = tar::Header::new_gnu();
        header.set_mode(node.meta.mode & 0o7777);
        header.set_uid(node.meta.uid.into());
        header.set_gid(node.meta.gid.into());
        header.set_mtime(node.meta.mtime.secs.max(0) as u64);
        let mtime = pax_time(node.meta.mtime);
        // Names too long for the header are left out; the ids stay.
        if let Some(u) = &node.meta.user {
            let _ = header.set_username(u);
        }
        if let Some(g) = &node.meta.group {
            let _ = header.set_groupname(g);
        }
        match &node.kind {
            NodeKind::Dir { subtree } => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_size(0);
                let mut shown = path.clone();
                shown.push(b'/');
                self.send(Msg::Entry { header: Box::new(header), path: shown, link: None, mtime }).await?;
                self.stats.dirs += 1;
                self.dir(&path, *subtree).await
            }
            NodeKind::Symlink { target } => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_size(0);
                self.send(Msg::Entry { header: Box::new(header), path, link: Some(target.clone()), mtime }).await?;
                self.stats.symlinks += 1;
                Ok(())
            }
            NodeKind::File { content } => {
                let mut size = 0u64;
                for id in content {
                    let loc = self
                        .index
                        .get(BlobType::Data, id)
                        .ok_or(cairn_core::Error::BlobNotInIndex { kind: BlobType::Data, id: *id })?;
                    size += u64::from(loc.raw_len);
                }
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(size);
                self.progress.file(&path, size, cairn_core::FileStatus::New);
                self.send(Msg::Entry { header: Box::new(header), path, link: None, mtime }).await?;
                for id in content {
                    let data = self.repo.load_blob(self.index, BlobType::Data, *id).await?;
                    self.progress.bytes(data.len() as u64);
                    self.stats.bytes += data.len() as u64;
                    self.send(Msg::Data(data)).await?;
                }
                self.stats.files += 1;
                Ok(())
            }
        }
    }
}

/// A modification time the plain header cannot hold (fractions of a second, before 1970), as a
/// PAX `mtime` record (`-86399.999999500`); `None` when the header's whole seconds are exact.
fn pax_time(t: cairn_core::Timestamp) -> Option<String> {
    let (secs, nanos) = (t.secs, t.nanos.min(999_999_999));
    match (secs < 0, nanos) {
        (false, 0) => None,
        (false, n) => Some(format!("{secs}.{n:09}")),
        (true, 0) => Some(format!("{secs}")),
        // -86400 s + 500 ns is -86399.999999500 s.
        (true, n) => Some(format!("-{}.{:09}", -(secs + 1), 1_000_000_000 - n)),
    }
}

fn write_archive<W: Write>(mut rx: mpsc::Receiver<Msg>, out: W, format: ArchiveFormat) -> io::Result<W> {
    match format {
        ArchiveFormat::Tar => build(&mut rx, out),
        ArchiveFormat::TarGz => {
            let gz = build(&mut rx, flate2::write::GzEncoder::new(out, flate2::Compression::fast()))?;
            gz.finish()
        }
    }
}

fn build<W: Write>(rx: &mut mpsc::Receiver<Msg>, out: W) -> io::Result<W> {
    let mut builder = tar::Builder::new(out);
    while let Some(msg) = rx.blocking_recv() {
        let Msg::Entry { mut header, path, link, mtime } = msg else {
            return Err(io::Error::other("file data without an entry"));
        };
        if let Some(t) = mtime {
            builder.append_pax_extensions([("mtime", t.as_bytes())])?;
        }
        let name = Path::new(OsStr::from_bytes(&path));
        match link {
            Some(target) => builder.append_link(&mut header, name, Path::new(OsStr::from_bytes(&target)))?,
            None => {
                let size = header.size()?;
                let reader = Contents { rx: &mut *rx, buf: Vec::new(), pos: 0, remaining: size };
                builder.append_data(&mut header, name, reader)?;
            }
        }
    }
    builder.into_inner()
}

/// One file's contents, as they arrive from the engine.
struct Contents<'a> {
    rx: &'a mut mpsc::Receiver<Msg>,
    buf: Vec<u8>,
    pos: usize,
    remaining: u64,
}

impl Read for Contents<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            return Ok(0);
        }
        if self.pos == self.buf.len() {
            match self.rx.blocking_recv() {
                Some(Msg::Data(d)) => {
                    self.buf = d;
                    self.pos = 0;
                }
                // The engine stopped (its error is reported by the caller).
                _ => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the snapshot's data stopped")),
            }
        }
        let available = &self.buf[self.pos..];
        let n = available.len().min(out.len()).min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        out[..n].copy_from_slice(&available[..n]);
        self.pos += n;
        self.remaining -= n as u64;
        Ok(n)
    }
}
