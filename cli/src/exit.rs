//! Exit codes.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | the command failed (the message says why) |
//! | 2 | invalid command line or input |
//! | 3 | backup or restore finished, but some files could not be read or written (listed as warnings) |
//! | 4 | `check` found damage |
//! | 10 | there is no repository at the location given |
//! | 11 | the repository is locked by another process |
//! | 12 | wrong password |
//! | 13 | this process's lock was revoked by another process (it judged the lock stale): it stopped before writing or deleting anything more |
//! | 130 | stopped by Ctrl-C (SIGINT): the lock was given back, nothing half-done was left in place |
//! | 143 | stopped by SIGTERM: as for Ctrl-C |

use std::process::ExitCode;

use cairn_std::{Error, ErrorKind};

/// Finished with warnings: some entries could not be read or written.
pub(crate) const INCOMPLETE: u8 = 3;
/// `check` found errors.
pub(crate) const DAMAGED: u8 = 4;

/// The exit code for a failed command.
pub(crate) fn for_error(e: &Error) -> ExitCode {
    ExitCode::from(match e.kind() {
        ErrorKind::InvalidInput => 2,
        ErrorKind::RepositoryNotFound => 10,
        ErrorKind::Locked => 11,
        ErrorKind::WrongPassword => 12,
        ErrorKind::LockLost => 13,
        _ => 1,
    })
}

/// The exit code after a stop signal: 128 + its number, as shells report it (130 for Ctrl-C,
/// 143 for SIGTERM).
pub(crate) fn for_signal(signal: i32) -> u8 {
    u8::try_from(128 + signal).unwrap_or(1)
}
