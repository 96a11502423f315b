//! One daemon per catalog: the systemd unit and the login fallback may both start one, and two
//! would run each due job twice.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::fcntl::{Flock, FlockArg};

use crate::error::{Error, ErrorKind};

/// Held while this process is the catalog's daemon: an advisory lock that the kernel drops when
/// the process ends, however it ends.
#[derive(Debug)]
pub struct InstanceLock {
    _held: Flock<File>,
}

/// Takes the daemon's lock beside `catalog` (`CATALOG.daemon-lock`). Another daemon holding it
/// is an error of kind [`ErrorKind::Locked`] that names its process.
pub fn hold_instance_lock(catalog: &Path) -> Result<InstanceLock, Error> {
    let mut name = catalog.as_os_str().to_os_string();
    name.push(".daemon-lock");
    let path = Path::new(&name);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(|e| Error::io("cannot open the daemon's lock file", path, e))?;
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(mut held) => {
            // The process id inside is for people; the lock is the flock.
            let _ =
                held.set_len(0).and_then(|()| held.rewind()).and_then(|()| writeln!(held, "{}", std::process::id()));
            Ok(InstanceLock { _held: held })
        }
        Err((mut file, nix::errno::Errno::EWOULDBLOCK)) => {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            Err(Error::new(
                ErrorKind::Locked,
                format!("another cairn daemon (process {}) already runs on this catalog", pid.trim()),
            ))
        }
        Err((_, e)) => Err(Error::io("cannot lock the daemon's lock file", path, e.into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_daemon_on_one_catalog_is_refused_until_the_first_ends() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = dir.path().join("catalog.db");
        let first = hold_instance_lock(&catalog).unwrap();
        let second = hold_instance_lock(&catalog).unwrap_err();
        assert_eq!(second.kind(), ErrorKind::Locked);
        assert!(second.to_string().contains(&std::process::id().to_string()), "{second}");
        drop(first);
        hold_instance_lock(&catalog).unwrap();
    }
}
