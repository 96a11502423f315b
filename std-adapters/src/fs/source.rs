//! The filesystem source: what `cairn backup` reads.
//!
//! Terms:
//! - **exclude pattern**: a glob. A pattern without `/` matches an entry's name at any depth
//!   (`*.tmp`, `node_modules`); a pattern starting with `/` matches the absolute path
//!   (`/home/*/.cache`); any other pattern with `/` matches the end of the path (`build/out`
//!   matches `/src/app/build/out`). `*` and `?` stay within one path component, `**` crosses
//!   components, `[abc]` is a class. An excluded directory is not descended into.
//! - **exclude file**: one pattern per line; blank lines and lines starting with `#` are ignored,
//!   surrounding whitespace is trimmed.
//! - **one file system**: directories on another filesystem than the backed-up path they are
//!   under are stored empty (the mount point is kept, its contents are not).
//!
//! Symbolic links are stored as links, never followed. Files are read with plain blocking reads
//! on the calling thread (the engine calls them between handing chunks to worker threads); so
//! that those reads rarely wait for the disk, the source asks the kernel to read ahead
//! (`posix_fadvise`): the start of every file of a directory the archiver says it will read
//! ([`Source::will_read`]: new and changed files only, so an unchanged backup reads no file
//! contents at all), and a window ahead of the read position in large files. These are hints: they never fail a backup.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::Read;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use cairn_core::{EntryKind, IoError, Metadata, Source, SourceEntry, Timestamp};
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use crate::error::{Error, ErrorKind, io_error_kind};

/// Compiled exclude patterns. See the [module docs](self) for their syntax.
#[derive(Debug, Clone, Default)]
pub struct Excludes {
    set: GlobSet,
    patterns: Vec<String>,
}

impl Excludes {
    /// Compiles `patterns`; an invalid pattern is an error naming it.
    pub fn new(patterns: &[String]) -> Result<Self, Error> {
        let mut builder = GlobSetBuilder::new();
        let mut kept = Vec::new();
        for p in patterns {
            let p = p.trim();
            if p.is_empty() {
                continue;
            }
            let full = if p.starts_with('/') { p.to_string() } else { format!("**/{p}") };
            let glob = GlobBuilder::new(&full).literal_separator(true).backslash_escape(true).build().map_err(|e| {
                Error::new(ErrorKind::InvalidInput, format!("invalid exclude pattern {p:?}: {}", e.kind()))
                    .with_hint("patterns use *, ?, ** and [abc]; see `cairn backup --help`")
            })?;
            builder.add(glob);
            kept.push(p.to_string());
        }
        let set = builder
            .build()
            .map_err(|e| Error::new(ErrorKind::InvalidInput, format!("invalid exclude patterns: {e}")))?;
        Ok(Self { set, patterns: kept })
    }

    /// Reads patterns from an exclude file.
    pub fn read_file(path: &Path) -> Result<Vec<String>, Error> {
        let text = fs::read(path).map_err(|e| Error::io("cannot read exclude file", path, e))?;
        Ok(String::from_utf8_lossy(&text)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_string)
            .collect())
    }

    /// True if `path` (absolute) is excluded.
    pub fn is_excluded(&self, path: &[u8]) -> bool {
        !self.patterns.is_empty() && self.set.is_match(Path::new(OsStr::from_bytes(path)))
    }

    /// The patterns in effect, as given.
    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }
}

/// Options of a [`FsSource`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct FsSourceOptions {
    /// Entries to leave out.
    pub excludes: Excludes,
    /// Do not descend into other filesystems.
    pub one_file_system: bool,
}

/// Reads the local filesystem. See the [module docs](self).
#[derive(Debug)]
pub struct FsSource {
    options: FsSourceOptions,
    /// Devices of the backed-up paths (for `one_file_system`).
    devices: HashSet<u64>,
    users: HashMap<u32, Option<String>>,
    groups: HashMap<u32, Option<String>>,
}

fn os(path: &[u8]) -> &Path {
    Path::new(OsStr::from_bytes(path))
}

fn err(e: std::io::Error) -> IoError {
    IoError::new(io_error_kind(&e), e)
}

fn ts(secs: i64, nanos: i64) -> Timestamp {
    Timestamp::new(secs, nanos.clamp(0, 999_999_999) as u32)
}

impl FsSource {
    /// A source for backing up `paths` (absolute), which must exist.
    pub fn new(paths: &[PathBuf], options: FsSourceOptions) -> Result<Self, Error> {
        let mut devices = HashSet::new();
        for p in paths {
            let m = fs::symlink_metadata(p).map_err(|e| Error::io("cannot back up", p, e))?;
            devices.insert(m.dev());
        }
        Ok(Self { options, devices, users: HashMap::new(), groups: HashMap::new() })
    }

    fn user(&mut self, uid: u32) -> Option<String> {
        self.users
            .entry(uid)
            .or_insert_with(|| {
                nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)).ok().flatten().map(|u| u.name)
            })
            .clone()
    }

    fn group(&mut self, gid: u32) -> Option<String> {
        self.groups
            .entry(gid)
            .or_insert_with(|| {
                nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(gid)).ok().flatten().map(|g| g.name)
            })
            .clone()
    }

    fn entry(&mut self, name: Vec<u8>, m: &fs::Metadata) -> SourceEntry {
        let ft = m.file_type();
        let kind = if ft.is_file() {
            EntryKind::File
        } else if ft.is_dir() {
            EntryKind::Dir
        } else if ft.is_symlink() {
            EntryKind::Symlink
        } else if ft.is_socket() {
            EntryKind::Special("socket")
        } else if ft.is_fifo() {
            EntryKind::Special("FIFO")
        } else if ft.is_block_device() {
            EntryKind::Special("block device")
        } else if ft.is_char_device() {
            EntryKind::Special("character device")
        } else {
            EntryKind::Special("unknown file type")
        };
        let meta = Metadata {
            mode: m.mode() & 0o7777,
            uid: m.uid(),
            gid: m.gid(),
            user: self.user(m.uid()),
            group: self.group(m.gid()),
            mtime: ts(m.mtime(), m.mtime_nsec()),
            ctime: ts(m.ctime(), m.ctime_nsec()),
            size: m.len(),
            inode: m.ino(),
            device: m.dev(),
            links: m.nlink(),
        };
        SourceEntry { name, kind, meta }
    }
}

/// Bytes asked ahead of the read position of a large file.
const READ_AHEAD: u64 = 16 << 20;
/// Bytes asked ahead from the start of each file of a listed directory.
const FILE_HEAD: u64 = 512 << 10;
/// At most this much is asked ahead for one directory listing.
const LISTING_AHEAD: u64 = 64 << 20;

fn advise(file: &File, offset: u64, len: u64, advice: nix::fcntl::PosixFadviseAdvice) {
    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else { return };
    let _ = nix::fcntl::posix_fadvise(file, offset, len, advice);
}

/// An open file being backed up.
#[derive(Debug)]
pub struct FsFile {
    file: File,
    pos: u64,
    /// The kernel was asked to read ahead up to here.
    ahead: u64,
}

impl embedded_io_async::ErrorType for FsFile {
    type Error = IoError;
}

impl embedded_io_async::Read for FsFile {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, IoError> {
        if self.pos + READ_AHEAD / 2 >= self.ahead {
            advise(&self.file, self.ahead, READ_AHEAD, nix::fcntl::PosixFadviseAdvice::POSIX_FADV_WILLNEED);
            self.ahead += READ_AHEAD;
        }
        loop {
            match self.file.read(buf) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Ok(n) => {
                    self.pos += n as u64;
                    return Ok(n);
                }
                Err(e) => return Err(err(e)),
            }
        }
    }
}

impl Source for FsSource {
    type File = FsFile;

    async fn stat(&mut self, path: &[u8]) -> Result<SourceEntry, IoError> {
        let m = fs::symlink_metadata(os(path)).map_err(err)?;
        let name = path.rsplit(|&b| b == b'/').next().unwrap_or(path).to_vec();
        Ok(self.entry(name, &m))
    }

    async fn read_dir(&mut self, path: &[u8]) -> Result<Vec<SourceEntry>, IoError> {
        let dir = os(path);
        if self.options.one_file_system {
            let m = fs::symlink_metadata(dir).map_err(err)?;
            if !self.devices.contains(&m.dev()) {
                return Ok(Vec::new());
            }
        }
        let mut out = Vec::new();
        for entry in fs::read_dir(dir).map_err(err)? {
            let entry = entry.map_err(err)?;
            let name = entry.file_name().as_bytes().to_vec();
            let full = cairn_core::join_path(path, &name);
            if self.options.excludes.is_excluded(&full) {
                continue;
            }
            // An entry that vanished since the listing is simply not backed up.
            let m = match fs::symlink_metadata(os(&full)) {
                Ok(m) => m,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(err(e)),
            };
            out.push(self.entry(name, &m));
        }
        Ok(out)
    }

    fn will_read(&mut self, dir: &[u8], files: &[(&[u8], u64)]) {
        // Ask the kernel to start reading these files while earlier ones are being chunked and
        // compressed.
        let mut asked = 0;
        for &(name, size) in files {
            if asked >= LISTING_AHEAD {
                break;
            }
            if let Ok(f) = File::open(os(&cairn_core::join_path(dir, name))) {
                let len = size.min(FILE_HEAD);
                advise(&f, 0, len, nix::fcntl::PosixFadviseAdvice::POSIX_FADV_WILLNEED);
                asked += len;
            }
        }
    }

    async fn open(&mut self, path: &[u8]) -> Result<FsFile, IoError> {
        let file = File::open(os(path)).map_err(err)?;
        advise(&file, 0, 0, nix::fcntl::PosixFadviseAdvice::POSIX_FADV_SEQUENTIAL);
        Ok(FsFile { file, pos: 0, ahead: FILE_HEAD })
    }

    async fn read_link(&mut self, path: &[u8]) -> Result<Vec<u8>, IoError> {
        fs::read_link(os(path)).map(|t| t.into_os_string().into_vec()).map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclude_patterns() {
        let e = Excludes::new(&["*.tmp".into(), "/home/*/.cache".into(), "build/out".into(), "node_modules".into()])
            .unwrap();
        assert!(e.is_excluded(b"/a/b/x.tmp"));
        assert!(!e.is_excluded(b"/a/b/x.tmp.keep"));
        assert!(e.is_excluded(b"/home/me/.cache"));
        assert!(!e.is_excluded(b"/home/me/sub/.cache"));
        assert!(e.is_excluded(b"/src/app/build/out"));
        assert!(!e.is_excluded(b"/src/app/build/output"));
        assert!(e.is_excluded(b"/x/node_modules"));
        assert!(!e.is_excluded(b"/x/node_modules_not"));
        assert!(e.is_excluded(b"/odd/\xff.tmp"));
        assert!(Excludes::new(&["[".into()]).is_err());
        assert!(!Excludes::default().is_excluded(b"/anything"));
    }

    #[test]
    fn exclude_file_syntax() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("ex");
        fs::write(&f, "# comment\n\n  *.log  \nfoo\n").unwrap();
        assert_eq!(Excludes::read_file(&f).unwrap(), vec!["*.log".to_string(), "foo".to_string()]);
        let missing = Excludes::read_file(&dir.path().join("nope")).unwrap_err();
        assert!(missing.message().contains("cannot read exclude file"));
    }
}
