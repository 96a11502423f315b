//! What the first run offers: the home's folders worth backing up, with their sizes, and the
//! removable disks mounted now (where a desktop mounts USB drives).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::{DiskChoice, FolderSuggestion, Gui, GuiError, off_thread};

/// Folders of the home that are checked by default when they exist (XDG's usual names).
const USUAL: &[&str] = &["Documents", "Pictures", "Desktop", "Music", "Videos"];
/// How long sizing all the folders may take; a folder not finished by then shows "at least".
const SIZING_BUDGET: Duration = Duration::from_secs(4);
/// Where desktops mount removable drives.
const REMOVABLE_ROOTS: &[&str] = &["/media/", "/run/media/"];

impl Gui {
    /// The folders directly in the home (not hidden), the usual ones first and checked, each
    /// with its size as far as it could be counted in a few seconds.
    pub async fn suggested_folders(&self) -> Result<Vec<FolderSuggestion>, GuiError> {
        let home = PathBuf::from(self.app_info().home);
        off_thread(move || {
            let entries =
                std::fs::read_dir(&home).map_err(|e| cairn_std::Error::io("cannot list the home folder", &home, e))?;
            let mut dirs: Vec<(String, PathBuf)> = entries
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
                .filter(|(name, _)| !name.starts_with('.'))
                .collect();
            dirs.sort_by_key(|(name, _)| (USUAL.iter().position(|u| u == name).unwrap_or(USUAL.len()), name.clone()));
            let deadline = Instant::now() + SIZING_BUDGET;
            Ok(dirs
                .into_iter()
                .map(|(name, path)| {
                    let (bytes, files, complete) = size_of(&path, deadline);
                    FolderSuggestion {
                        suggested: USUAL.contains(&name.as_str()),
                        path: path.display().to_string(),
                        name,
                        bytes,
                        files,
                        complete,
                    }
                })
                .collect())
        })
        .await
    }

    /// Removable disks mounted now, with their space.
    pub async fn removable_disks(&self) -> Result<Vec<DiskChoice>, GuiError> {
        off_thread(|| {
            let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
            Ok(info.lines().filter_map(|line| removable(line.split(' ').nth(4)?)).collect())
        })
        .await
    }
}

/// A mount point under a removable root, with its space.
fn removable(escaped: &str) -> Option<DiskChoice> {
    let mount = unescape_mount(escaped);
    if !REMOVABLE_ROOTS.iter().any(|r| mount.starts_with(r)) {
        return None;
    }
    let stat = nix::sys::statvfs::statvfs(Path::new(&mount)).ok()?;
    let block = stat.fragment_size();
    Some(DiskChoice {
        label: mount.rsplit('/').next().unwrap_or(&mount).to_string(),
        free_bytes: stat.blocks_available().saturating_mul(block),
        total_bytes: stat.blocks().saturating_mul(block),
        mount,
    })
}

/// `/proc/self/mountinfo` writes a space, tab, newline or backslash in a path as `\ooo`.
fn unescape_mount(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b.get(i + 1..i + 4).filter(|d| b[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(d) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Bytes and files under `dir` (links not followed), and whether the count finished before
/// `deadline`.
fn size_of(dir: &Path, deadline: Instant) -> (u64, u64, bool) {
    let (mut bytes, mut files) = (0u64, 0u64);
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        if Instant::now() > deadline {
            return (bytes, files, false);
        }
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let Ok(meta) = e.path().symlink_metadata() else { continue };
            if meta.is_dir() {
                stack.push(e.path());
            } else if meta.is_file() {
                bytes += meta.len();
                files += 1;
            }
        }
    }
    (bytes, files, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_points_are_unescaped_and_only_removable_ones_count() {
        assert_eq!(unescape_mount(r"/media/ann/MY\040DISK"), "/media/ann/MY DISK");
        assert_eq!(unescape_mount(r"/a\134b\0"), r"/a\b\0");
        assert!(removable("/home").is_none() && removable("/").is_none());
    }

    #[test]
    fn a_folder_is_sized_and_a_spent_budget_says_so() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("a/b")).unwrap();
        std::fs::write(t.path().join("a/one"), [0u8; 100]).unwrap();
        std::fs::write(t.path().join("a/b/two"), [0u8; 50]).unwrap();
        assert_eq!(size_of(t.path(), Instant::now() + Duration::from_secs(10)), (150, 2, true));
        assert!(!size_of(t.path(), Instant::now() - Duration::from_secs(1)).2);
    }
}
