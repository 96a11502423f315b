//! Staged files: written beside their final name and put in place in one step, so that a
//! process stopped at any moment leaves that name either as it was or complete.
//!
//! On Linux a staged file is an unnamed file in the destination's directory (`O_TMPFILE`); when
//! complete it is linked in under its final name (`linkat` of `/proc/self/fd/N`) if nothing is
//! there, else linked under a temporary name and renamed over what is there. A process killed
//! before that leaves nothing behind. Where the file system has no unnamed files (or `/proc` is
//! missing) it is a named file `.cairn-restore-<random>` in the same directory, renamed into
//! place; an orderly stop removes it. A process killed between the temporary link (or name) and
//! the rename leaves `.cairn-restore-<16 hex digits>` behind: the next restore into that
//! directory removes it ([`remove_leftovers`]).
//!
//! Replacing a file syncs the new data first, so that a power cut cannot leave the old name
//! pointing at an empty file.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Files at least this large get their blocks reserved up front (less fragmentation, and a
/// full disk is found before the first byte instead of halfway).
const PREALLOCATE_FROM: u64 = 1024 * 1024;

/// A file being written beside its final name. Dropped without [`Staged::commit`], it is gone.
#[derive(Debug)]
pub(crate) struct Staged {
    file: File,
    dir: PathBuf,
    /// The temporary name, when the file system gave no unnamed file.
    named: Option<PathBuf>,
}

const TEMP_PREFIX: &str = ".cairn-restore-";

fn temp_name(dir: &Path) -> PathBuf {
    dir.join(format!("{TEMP_PREFIX}{}", crate::rng::random_hex::<8>()))
}

/// Whether `name` is one [`temp_name`] makes.
fn is_temp_name(name: &[u8]) -> bool {
    name.strip_prefix(TEMP_PREFIX.as_bytes())
        .is_some_and(|hex| hex.len() == 16 && hex.iter().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b)))
}

/// Removes the temporary files (not links, not directories) an interrupted restore left in
/// `dir`; returns how many. Called before a restore writes into a directory that was there. A
/// second restore running into the same directory at that moment would lose one file's new
/// version (its rename fails and the old file stays, with a warning), never data.
pub(crate) fn remove_leftovers(dir: &Path) -> std::io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let mut removed = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if is_temp_name(entry.file_name().as_bytes()) && entry.file_type()?.is_file() {
            std::fs::remove_file(entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}

fn open_new(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().write(true).create_new(true).mode(0o600).custom_flags(libc::O_NOFOLLOW).open(path)
}

impl Staged {
    /// Starts a file of `size` bytes in `dir` (which must exist).
    pub(crate) fn create(dir: &Path, size: u64) -> std::io::Result<Self> {
        let unnamed = OpenOptions::new().write(true).mode(0o600).custom_flags(libc::O_TMPFILE).open(dir);
        let staged = match unnamed {
            Ok(file) if Path::new("/proc/self/fd").is_dir() => Self { file, dir: dir.to_path_buf(), named: None },
            Ok(_) | Err(_) => {
                let name = temp_name(dir);
                let file = open_new(&name)?;
                Self { file, dir: dir.to_path_buf(), named: Some(name) }
            }
        };
        if size >= PREALLOCATE_FROM
            && let Ok(len) = libc::off_t::try_from(size)
        {
            // Not supported by every file system: then the blocks come as the data is written.
            if let Err(nix::errno::Errno::ENOSPC) = nix::fcntl::posix_fallocate(&staged.file, 0, len) {
                return Err(std::io::Error::from_raw_os_error(libc::ENOSPC));
            }
        }
        Ok(staged)
    }

    /// The file, to write and to set its metadata.
    pub(crate) fn file(&mut self) -> &mut File {
        &mut self.file
    }

    /// Puts the file at `target` (in its directory), in place of any file or link there; a
    /// directory there is an error ([`std::io::ErrorKind::IsADirectory`] or
    /// `DirectoryNotEmpty`).
    pub(crate) fn commit(mut self, target: &Path) -> std::io::Result<()> {
        match self.named.take() {
            None => {
                let proc = PathBuf::from(format!("/proc/self/fd/{}", self.file.as_raw_fd()));
                match link_following(&proc, target) {
                    Ok(()) => return Ok(()),
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(e),
                }
                // Something is there: the new data reaches the disk before the name moves.
                self.file.sync_data()?;
                let temp = temp_name(&self.dir);
                link_following(&proc, &temp)?;
                std::fs::rename(&temp, target).inspect_err(|_| {
                    let _ = std::fs::remove_file(&temp);
                })
            }
            Some(temp) => {
                if std::fs::symlink_metadata(target).is_ok() {
                    self.file.sync_data()?;
                }
                std::fs::rename(&temp, target).inspect_err(|_| {
                    let _ = std::fs::remove_file(&temp);
                })
            }
        }
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if let Some(name) = self.named.take() {
            let _ = std::fs::remove_file(name);
        }
    }
}

/// Hard-links what `from` names (following it: a `/proc/self/fd` link) as `to`.
fn link_following(from: &Path, to: &Path) -> std::io::Result<()> {
    nix::unistd::linkat(nix::fcntl::AT_FDCWD, from, nix::fcntl::AT_FDCWD, to, nix::fcntl::AtFlags::AT_SYMLINK_FOLLOW)
        .map_err(std::io::Error::from)
}

/// Creates a symbolic link `target` -> `points_to` in place of any file or link at `target`
/// (a directory there is an error), in one step.
pub(crate) fn replace_symlink(points_to: &std::ffi::OsStr, target: &Path) -> std::io::Result<()> {
    match std::os::unix::fs::symlink(points_to, target) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        other => return other,
    }
    let dir = target.parent().unwrap_or(Path::new("."));
    let temp = temp_name(dir);
    std::os::unix::fs::symlink(points_to, &temp)?;
    std::fs::rename(&temp, target).inspect_err(|_| {
        let _ = std::fs::remove_file(&temp);
    })
}
