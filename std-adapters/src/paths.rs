//! The default repository: where `cairn` keeps backups when no repository is named.
//!
//! It lives in the user's data directory (`$XDG_DATA_HOME/cairn`, else `~/.local/share/cairn`):
//! the repository in `repository/`, and its password, generated on first use (256 random bits,
//! hex), in `repository.password`, a file only the user can read. The catalog (a later release)
//! takes the password over as the default destination's secret.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorKind};
use crate::secret::Secret;

/// `$VAR/cairn`, else `$HOME/FALLBACK/cairn`: an XDG base directory for Cairn.
fn xdg_dir(var: &str, fallback: &str, what: &str) -> Result<PathBuf, Error> {
    if let Some(x) = std::env::var_os(var).filter(|x| !x.is_empty()) {
        return Ok(PathBuf::from(x).join("cairn"));
    }
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(fallback).join("cairn")),
        None => Err(Error::new(
            ErrorKind::InvalidInput,
            format!("cannot find the {what} directory: neither {var} nor HOME is set"),
        )
        .with_hint(format!("set HOME or {var}"))),
    }
}

/// Cairn's data directory.
pub fn data_dir() -> Result<PathBuf, Error> {
    xdg_dir("XDG_DATA_HOME", ".local/share", "data")
        .map_err(|e| e.with_hint("set HOME, or name a repository with --repo"))
}

/// Cairn's cache directory (`$XDG_CACHE_HOME/cairn`, else `~/.cache/cairn`): state that can be
/// lost without harm, such as where the last partial data check stopped.
pub fn cache_dir() -> Result<PathBuf, Error> {
    xdg_dir("XDG_CACHE_HOME", ".cache", "cache")
}

/// The program `name` in the folder of the running program, if it is there: the package
/// installs `cairn` and `cairn-desktop` side by side, and each finds the other this way.
pub fn program_beside_this(name: &str) -> Option<PathBuf> {
    let me = std::env::current_exe().ok()?;
    Some(me.parent()?.join(name)).filter(|p| p.is_file())
}

/// The default repository directory.
pub fn default_repository() -> Result<PathBuf, Error> {
    Ok(data_dir()?.join("repository"))
}

/// The password file of the default repository.
pub fn default_password_file() -> Result<PathBuf, Error> {
    Ok(data_dir()?.join("repository.password"))
}

/// Reads a password file: the first line, without its line ending. A file that others can read
/// is refused, as ssh refuses such keys.
pub fn read_password_file(path: &Path) -> Result<Secret, Error> {
    let meta = fs::metadata(path).map_err(|e| Error::io("cannot read password file", path, e))?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(Error::new(
            ErrorKind::PermissionDenied,
            format!("password file {} can be read by other users", path.display()),
        )
        .with_hint(format!("run `chmod 600 {}`", path.display())));
    }
    let bytes = zeroize::Zeroizing::new(fs::read(path).map_err(|e| Error::io("cannot read password file", path, e))?);
    let line = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.is_empty() {
        return Err(Error::new(ErrorKind::InvalidInput, format!("password file {} is empty", path.display())));
    }
    Ok(Secret::new(line.to_vec()))
}

/// Creates a password file with a new random password (256 bits, as 64 hex digits), readable
/// only by the user. Fails if the file exists.
pub fn create_password_file(path: &Path) -> Result<Secret, Error> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(|e| Error::io("cannot create", dir, e))?;
        let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o700));
    }
    let mut raw = zeroize::Zeroizing::new([0u8; 32]);
    getrandom::fill(&mut raw[..])
        .map_err(|e| Error::new(ErrorKind::Other, format!("the operating system gave no randomness: {e}")))?;
    let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    let secret = Secret::new(hex.clone().into_bytes());
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| Error::io("cannot create password file", path, e))?;
    f.write_all(format!("{hex}\n").as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| Error::io("cannot write password file", path, e))?;
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_then_read_and_refuse_loose_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/pw");
        let s = create_password_file(&p).unwrap();
        assert_eq!(s.expose().len(), 64);
        assert_eq!(read_password_file(&p).unwrap().expose(), s.expose());
        assert!(create_password_file(&p).is_err());
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        let e = read_password_file(&p).unwrap_err();
        assert!(e.hint().unwrap().contains("chmod 600"));
    }
}
