//! # cairn-std
//!
//! The std side of Cairn: implementations of `cairn-core`'s traits for real systems.
//!
//! - [`LocalBackend`]: a repository in a local directory (atomic, durable writes).
//! - [`S3Backend`]: a repository in an S3-compatible bucket (signed with the core's SigV4).
//! - [`RestBackend`]: a repository on a restic REST server (`rest-server`, `rclone serve restic`),
//!   or on any rclone remote through a child `rclone serve restic --stdio` ([`RcloneConfig`]).
//! - [`FsSource`] and [`FsTarget`]: back up from and restore to the filesystem.
//! - [`ThreadWorker`] and [`runtime`]: the engine on one thread, its CPU work on all cores.
//! - [`Error`]: one error type with a kind, a message and a hint, for every front end.
//! - [`dump_archive`]: a snapshot or part of it as a tar or tar.gz stream.
//! - [`catalog`]: the SQLite catalog of destinations, jobs, run history and notification
//!   sinks, with every secret sealed; [`form`] turns a destination's fields into its URL.
//! - [`health`]: the destination Test, ownership of backup directories, disk info, browsing.
//! - [`runner`]: running a job (hooks, each destination in turn, retention, history);
//!   [`schedule`]: when jobs run; [`daemon`]: due jobs, daily re-tests, events to webhooks and
//!   commands; [`recovery`]: configuration exports and rebuilding a catalog from one.
//! - [`paths`]: the default repository and its generated password.
//!
//! ```no_run
//! use cairn_core::{backup, BackupOptions, InitOptions, NoProgress, Repository};
//! use cairn_std::{os_rng, runtime, FsSource, FsSourceOptions, LocalBackend, ThreadWorker};
//!
//! let worker = ThreadWorker::new();
//! runtime(&worker)?.block_on(async {
//!     let mut rng = os_rng();
//!     let repo = Repository::init(LocalBackend::new("/srv/backup"), b"password", &InitOptions::default(), &mut rng).await?;
//!     let mut index = repo.load_index().await?;
//!     let mut source = FsSource::new(&["/home/me".into()], FsSourceOptions::default())?;
//!     let mut options = BackupOptions::default();
//!     options.paths = vec![b"/home/me".to_vec()];
//!     let done = backup(&repo, &mut index, &mut source, &worker, &mut rng, &mut NoProgress, &options).await?;
//!     println!("snapshot {}", done.snapshot_id);
//!     Ok::<_, cairn_std::Error>(())
//! })?;
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! ```

mod backend;
pub mod catalog;
pub mod desktop;
mod error;
mod fields_of;
pub mod form;
mod fs;
pub mod health;
mod http;
pub mod interrupt;
mod jobs;
pub mod known;
mod lock;
pub mod paths;
mod process;

mod rng;
mod secret;
pub mod totals;
mod worker;

pub use backend::azure::{AzureAuth, AzureBackend, AzureConfig};
pub use backend::destination::{
    Access, Credentials, Destination, DestinationUrl, STALE_TEMPORARY_AGE, parse_destination, read_only_error,
};
pub use backend::ftp::{FtpBackend, FtpConfig, FtpTls};
pub use backend::local::LocalBackend;
pub use backend::rest::rclone::{RcloneConfig, default_program as rclone_program, rclone_remotes, valid_remote_name};
pub use backend::rest::{RestBackend, RestConfig};
pub use backend::s3::vendors as s3_vendors;
pub use backend::s3::{BucketVersioning, S3Backend, S3Config, validate_directory};
pub use backend::sftp::{SftpAuth, SftpBackend, SftpConfig, UnknownHostKey};
pub use backend::webdav::{WebDavBackend, WebDavConfig};
pub use error::{
    Error, ErrorKind, PathError, Result, core_io_error, io_error_kind, local_time, show_path, storage_error, utc_offset,
};
pub use fs::archive::{ArchiveFormat, DumpStats, dump_archive, dump_archive_many, dump_file, is_broken_pipe};
pub use fs::source::{Excludes, FsFile, FsSource, FsSourceOptions};
pub use fs::target::{FsIn, FsOut, FsTarget, Overwrite};
pub use health::recovery;
pub use jobs::{daemon, runner, running, schedule};
pub use lock::{
    LockKeeper, Observer, SystemClock, boottime_ms, describe_lock, holder_is_dead, host_tag, keep_alive, lock_info,
    lock_keeper, lock_repository, with_lease_kept,
};
pub use process::{hostname, now, process_alive, terminate_process, timestamp_of, tune_allocator, username};
pub use rng::os_rng;
pub use secret::Secret;
pub use worker::{ThreadWorker, runtime};

/// Hostile input for the parsers' property tests (issue 9): arbitrary bytes, and valid samples
/// with bytes flipped, cut short or repeated.
#[cfg(test)]
pub(crate) mod hostile {
    use proptest::prelude::*;

    /// Bytes drawn from `samples` and mutated, or arbitrary.
    pub(crate) fn bytes(samples: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
        let pick = proptest::sample::select(samples);
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..512),
            (pick.clone(), proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8)).prop_map(
                |(mut b, flips)| {
                    for (at, x) in flips {
                        if !b.is_empty() {
                            let i = at % b.len();
                            b[i] ^= x | 1;
                        }
                    }
                    b
                }
            ),
            (pick.clone(), any::<usize>()).prop_map(|(mut b, at)| {
                b.truncate(at % (b.len() + 1));
                b
            }),
            (pick, 1usize..50).prop_map(|(b, n)| b.repeat(n)),
        ]
    }

    /// Text the same way (lossy UTF-8 of [`bytes`]).
    pub(crate) fn text(samples: &[&str]) -> impl Strategy<Value = String> {
        bytes(samples.iter().map(|s| s.as_bytes().to_vec()).collect())
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned())
    }

    /// Many cases (ten times as many in the full-size campaigns, `CAIRN_CAMPAIGN=full`), no
    /// failure files written into the source tree. The number of cases goes into the campaign
    /// report (`CAIRN_CAMPAIGN_REPORT`), as `tests/campaigns.sh` counts hostile inputs tried.
    pub(crate) fn config(cases: u32) -> proptest::test_runner::Config {
        let full = std::env::var("CAIRN_CAMPAIGN").is_ok_and(|v| v == "full");
        let cases = if full { cases * 10 } else { cases };
        if let Some(path) = std::env::var_os("CAIRN_CAMPAIGN_REPORT") {
            use std::io::Write;
            let line = format!("CAMPAIGN hostile-std inputs={cases}\n");
            let file = std::fs::OpenOptions::new().create(true).append(true).open(path);
            let _ = file.and_then(|mut f| f.write_all(line.as_bytes()));
        }
        proptest::test_runner::Config { cases, failure_persistence: None, ..Default::default() }
    }
}
