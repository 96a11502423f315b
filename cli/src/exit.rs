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
        _ => 1,
    })
}
