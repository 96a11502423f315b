//! `cairn diff` and `cairn dump`: looking into snapshots without restoring them.

use std::fs;
use std::io::{self, IsTerminal, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use cairn_core::{Change, DiffSide, Index, Node, NodeKind, Resolved, resolve};
use cairn_std::{ArchiveFormat, Error, ErrorKind, dump_archive, dump_file, is_broken_pipe};
use serde_json::json;

use crate::args::{DiffArgs, DumpArgs, Global};
use crate::output::{CliProgress, bytes};
use crate::repo::{self, Location, Repo, Session, normalize_snapshot_path, snapshot_and_path};

/// One side of a diff: the snapshot's id and what its path names.
async fn side(repo: &Repo, index: &Index, spec: &str) -> Result<(cairn_core::SnapshotId, DiffSide), Error> {
    let (snap, path) = snapshot_and_path(spec)?;
    let (id, snapshot) = repo.find_snapshot(snap).await?;
    let side = match resolve(repo, index, snapshot.tree, &path).await? {
        Resolved::Root(tree) => DiffSide::Tree(tree),
        Resolved::Node { node, .. } => match node.kind {
            NodeKind::Dir { subtree } => DiffSide::Tree(subtree),
            _ => DiffSide::Node(node),
        },
    };
    Ok((id, side))
}

fn kind_name(node: Option<&Node>) -> Option<&'static str> {
    node.map(|n| match n.kind {
        NodeKind::Dir { .. } => "dir",
        NodeKind::Symlink { .. } => "symlink",
        NodeKind::File { .. } => "file",
    })
}

pub(crate) async fn diff_cmd(g: &Global, session: &Session, a: &DiffArgs) -> Result<ExitCode, Error> {
    let location = Location::from_args(g)?;
    let repo = repo::open(g, &location).await?;
    session.lock(g, &location, &repo, "diff", false).await?;
    let index = crate::repo::load_index(g, &repo, false).await?;
    let (old_id, old) = side(&repo, &index, &a.first).await?;
    let (new_id, new) = side(&repo, &index, &a.second).await?;
    let mut out = io::BufWriter::new(io::stdout().lock());
    let mut write_error: Option<io::Error> = None;
    let json = g.json;
    let show_metadata = a.metadata;
    let mut changes = Vec::new();
    let stats = cairn_core::diff(&repo, &index, &old, &new, &mut |e| {
        if e.change == Change::Metadata && !show_metadata {
            return;
        }
        let shown = cairn_std::show_path(e.path);
        if json {
            changes.push(json!({
                "path": shown,
                "change": e.change.name(),
                "old_type": kind_name(e.old),
                "new_type": kind_name(e.new),
                "old_size": e.old.map(|n| n.meta.size),
                "new_size": e.new.map(|n| n.meta.size),
            }));
            return;
        }
        let dir = e.new.or(e.old).is_some_and(Node::is_dir);
        let slash = if dir && e.change != Change::TypeChanged { "/" } else { "" };
        let size = match (e.change, e.old, e.new) {
            (Change::Modified, Some(o), Some(n)) if !dir => {
                format!("  ({} -> {})", bytes(o.meta.size), bytes(n.meta.size))
            }
            (Change::Added, _, Some(n)) if matches!(n.kind, NodeKind::File { .. }) => {
                format!("  ({})", bytes(n.meta.size))
            }
            (Change::Removed, Some(o), _) if matches!(o.kind, NodeKind::File { .. }) => {
                format!("  ({})", bytes(o.meta.size))
            }
            _ => String::new(),
        };
        if write_error.is_none()
            && let Err(err) = writeln!(out, "{}    {shown}{slash}{size}", e.change.code())
        {
            write_error = Some(err);
        }
    })
    .await?;
    if json {
        let v = json!({
            "first": old_id.to_hex(),
            "second": new_id.to_hex(),
            "changes": changes,
            "stats": {
                "added": stats.added, "removed": stats.removed, "modified": stats.modified,
                "type_changed": stats.type_changed, "metadata": stats.metadata,
                "bytes_added": stats.bytes_added, "bytes_removed": stats.bytes_removed,
                "bytes_modified_old": stats.bytes_modified_old, "bytes_modified_new": stats.bytes_modified_new,
            },
        });
        if write_error.is_none() {
            write_error = writeln!(out, "{v}").err();
        }
    } else if !g.quiet && write_error.is_none() {
        let summary = format!(
            "\n{} added ({}), {} removed ({}), {} modified ({} -> {}), {} type changed, {} metadata only",
            stats.added,
            bytes(stats.bytes_added),
            stats.removed,
            bytes(stats.bytes_removed),
            stats.modified,
            bytes(stats.bytes_modified_old),
            bytes(stats.bytes_modified_new),
            stats.type_changed,
            stats.metadata,
        );
        write_error = writeln!(out, "{summary}").err();
    }
    let flushed = out.flush();
    match write_error.map_or(flushed, Err) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(e) => Err(Error::new(ErrorKind::Io, format!("cannot write the listing: {e}"))),
        Ok(()) => Ok(ExitCode::SUCCESS),
    }
}

/// Where a dump goes: stdout, or a temporary file renamed over the target once complete.
enum Output {
    Stdout,
    File { tmp: PathBuf, target: PathBuf },
}

impl Output {
    fn open(target: Option<&Path>) -> Result<(Self, Box<dyn Write + Send>), Error> {
        let Some(target) = target else {
            return Ok((Self::Stdout, Box::new(io::BufWriter::with_capacity(1 << 20, io::stdout()))));
        };
        let name = target.file_name().ok_or_else(|| {
            Error::new(ErrorKind::InvalidInput, format!("{} is not a file name", target.display()))
                .with_hint("name the file to write, like backup.tar.gz")
        })?;
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".{}.partial", std::process::id()));
        let tmp = target.with_file_name(tmp_name);
        let file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| Error::io("cannot create", &tmp, e))?;
        Ok((Self::File { tmp, target: target.to_path_buf() }, Box::new(io::BufWriter::with_capacity(1 << 20, file))))
    }

    /// Flushes and, for a file, makes it durable and gives it its name.
    fn finish(self, mut out: Box<dyn Write + Send>) -> Result<(), Error> {
        let flushed = out.flush();
        drop(out);
        match self {
            Self::Stdout => flushed.map_err(|e| Error::new(ErrorKind::Io, format!("cannot write the output: {e}"))),
            Self::File { tmp, target } => {
                let done =
                    flushed.and_then(|()| fs::File::open(&tmp)?.sync_all()).and_then(|()| fs::rename(&tmp, &target));
                done.map_err(|e| {
                    let _ = fs::remove_file(&tmp);
                    Error::io("cannot write", &target, e)
                })
            }
        }
    }

    fn abandon(&self) {
        if let Self::File { tmp, .. } = self {
            let _ = fs::remove_file(tmp);
        }
    }
}

/// The kind of archive other than tar that a file name asks for (`.zip`, `.7z`, ...), if any.
fn other_archive_kind(target: &std::path::Path) -> Option<&'static str> {
    let name = target.file_name()?.to_string_lossy().to_ascii_lowercase();
    const KINDS: [(&str, &str); 8] = [
        (".zip", "zip"),
        (".7z", "7z"),
        (".rar", "rar"),
        (".tar.bz2", "tar.bz2"),
        (".tbz2", "tar.bz2"),
        (".tar.xz", "tar.xz"),
        (".txz", "tar.xz"),
        (".tar.zst", "tar.zst"),
    ];
    KINDS.iter().find(|(ext, _)| name.ends_with(ext)).map(|(_, kind)| *kind)
}

pub(crate) async fn dump_cmd(g: &Global, session: &Session, a: &DumpArgs) -> Result<ExitCode, Error> {
    let format = match &a.archive {
        Some(f) => Some(ArchiveFormat::parse(f).ok_or_else(|| {
            Error::new(ErrorKind::InvalidInput, format!("unknown archive format {f:?}"))
                .with_hint("use --archive tar or --archive tar.gz")
        })?),
        None => a.target.as_deref().and_then(ArchiveFormat::from_file_name),
    };
    if a.target.is_none() && io::stdout().is_terminal() {
        return Err(Error::new(ErrorKind::InvalidInput, "refusing to write binary data to the terminal")
            .with_hint("redirect the output (cairn dump ... > file.tar) or name a file with --target FILE"));
    }
    let path = normalize_snapshot_path(&a.path)?;
    let location = Location::from_args(g)?;
    let repo = repo::open(g, &location).await?;
    session.lock(g, &location, &repo, "dump", false).await?;
    let (id, snap) = repo.find_snapshot(&a.snapshot).await?;
    let index = crate::repo::load_index(g, &repo, true).await?;
    let resolved = resolve(&repo, &index, snap.tree, &path).await?;
    let single_file = match &resolved {
        Resolved::Node { node, .. } if matches!(node.kind, NodeKind::File { .. }) => Some(node.clone()),
        _ => None,
    };
    // A directory goes into a tar archive; a name that asks for another kind is refused rather
    // than given a tar under it.
    if single_file.is_none()
        && format.is_none()
        && let Some(ext) = a.target.as_deref().and_then(other_archive_kind)
    {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!(
                "dump writes tar archives, not {ext}: {} would not be what its name says",
                a.target.as_deref().map(|t| t.display().to_string()).unwrap_or_default()
            ),
        )
        .with_hint("name the file .tar, .tar.gz or .tgz (or give --archive tar)"));
    }
    let (output, mut out) = Output::open(a.target.as_deref())?;
    let total = match (&resolved, &single_file) {
        (_, Some(n)) => Some(n.meta.size),
        (Resolved::Root(_), None) => Some(snap.stats.bytes_total),
        _ => None,
    };
    // The progress bar goes to stderr, and only when --target frees stdout.
    let quiet_bar = Global { no_progress: g.no_progress || a.target.is_none(), ..g.clone() };
    let mut progress = CliProgress::new(&quiet_bar, "exporting", total);
    let result = match (format, single_file) {
        (None, Some(node)) => dump_file(&repo, &index, &node, &mut out, &mut progress)
            .await
            .map(|b| (cairn_std::DumpStats { files: 1, bytes: b, ..Default::default() }, out)),
        (format, _) => {
            let format = format.unwrap_or(ArchiveFormat::Tar);
            dump_archive(&repo, &index, snap.tree, &path, format, out, &mut progress).await
        }
    };
    progress.finish();
    let (stats, out) = match result {
        Ok(done) => done,
        Err(e) if is_broken_pipe(&e) => return Ok(ExitCode::SUCCESS),
        Err(e) => {
            output.abandon();
            return Err(e);
        }
    };
    let shown_target = match &output {
        Output::File { target, .. } => Some(target.display().to_string()),
        Output::Stdout => None,
    };
    output.finish(out)?;
    if let Some(target) = shown_target {
        if g.json {
            println!(
                "{}",
                json!({
                    "snapshot_id": id.to_hex(), "target": target,
                    "files": stats.files, "dirs": stats.dirs, "symlinks": stats.symlinks, "bytes": stats.bytes,
                })
            );
        } else if !g.quiet {
            println!(
                "wrote {} files, {} dirs, {} links ({}) from snapshot {} to {target}",
                stats.files,
                stats.dirs,
                stats.symlinks,
                bytes(stats.bytes),
                id.short()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
