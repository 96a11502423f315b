//! The commands: one file per command or group of commands; this one runs the one asked for.

mod backup;
mod cat;
mod check;
mod destinations;
mod forget;
mod init;
mod inspect;
mod jobs;
mod key;
mod prune;
mod repair;
mod restore;
mod snapshots;
mod stats;
mod unlock;

use std::process::ExitCode;

use cairn_std::{Error, ErrorKind, ThreadWorker, runtime};

use crate::args::{Cli, Command};
use crate::exit;
use crate::repo::Session;
use backup::backup_cmd;
use check::check_cmd;
use forget::forget;
use init::init;
use key::key_cmd;
use prune::prune_cmd;
use restore::restore_cmd;
use snapshots::{ls, snapshots};
use stats::stats_cmd;
use unlock::unlock;

pub(crate) fn run(cli: Cli) -> Result<ExitCode, Error> {
    let worker = ThreadWorker::new();
    let rt = runtime(&worker).map_err(|e| Error::new(ErrorKind::Other, format!("cannot start the runtime: {e}")))?;
    let g = &cli.global;
    let session = Session::default();
    let s = &session;
    rt.block_on(async {
        let command = async {
            match &cli.command {
                Command::Init(a) => init(g, a).await,
                Command::Backup(a) => backup_cmd(g, s, a, &worker).await,
                Command::Snapshots(a) => snapshots(g, a).await,
                Command::Ls(a) => ls(g, s, a).await,
                Command::Restore(a) => restore_cmd(g, s, a, &worker).await,
                Command::Check(a) => check_cmd(g, s, a, &worker).await,
                Command::Forget(a) => forget(g, s, a).await,
                Command::Unlock(a) => unlock(g, a).await,
                Command::Prune(a) => prune_cmd(g, s, a).await,
                Command::Key(k) => key_cmd(g, s, k).await,
                Command::Stats => stats_cmd(g, s).await,
                Command::Diff(a) => inspect::diff_cmd(g, s, a).await,
                Command::Dump(a) => inspect::dump_cmd(g, s, a).await,
                Command::Repair(r) => repair::repair_cmd(g, s, r, &worker).await,
                Command::Destination(d) => destinations::destination_cmd(g, d).await,
                Command::Job(j) => jobs::job_cmd(g, j, &worker).await,
                Command::Notify(n) => jobs::notify_cmd(g, n).await,
                Command::Daemon(a) => jobs::daemon_cmd(g, a, &worker).await,
                Command::Catalog(c) => jobs::catalog_cmd(g, c).await,
                Command::Recover(a) => jobs::recover_cmd(g, a).await,
                Command::Archive(a) => jobs::archive_cmd(g, a).await,
                Command::Cat(a) => cat::cat_cmd(g, a).await,
            }
        };
        match cairn_std::interrupt::supervise(command, session.keep_alive()).await {
            cairn_std::interrupt::Ended::Finished(result) => {
                session.release().await;
                result
            }
            cairn_std::interrupt::Ended::Signal(signal) => {
                let name = if signal == SIGINT { "Ctrl-C" } else { "SIGTERM" };
                eprintln!("{name}: stopping; giving back the repository lock (press it again to leave it to go stale)");
                // A second signal, or a destination that does not answer, ends it anyway.
                let release = std::pin::pin!(session.release());
                let again = std::pin::pin!(cairn_std::interrupt::stop_signal());
                let _ = cairn_std::interrupt::first(release, again).await;
                Ok(ExitCode::from(exit::for_signal(signal)))
            }
        }
    })
}

/// Ctrl-C's signal number.
const SIGINT: i32 = 2;

#[cfg(test)]
mod tests {
    use cairn_core::{Compression, Node, NodeKind};

    use super::forget::parse_time;
    use super::init::parse_compression;
    use super::snapshots::mode_string;
    use crate::args::Cli;

    /// clap checks a command's definition only when that command runs: check them all here
    /// (duplicate short options across global and command flags, and the like).
    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    /// The destination flags are the catalog's fields: a flag not given is no field, so an
    /// update changes only the fields given.
    #[test]
    fn destination_flags_are_the_catalog_fields() {
        use clap::Parser;
        let fields = |args: &[&str]| match Cli::try_parse_from(args).unwrap().command {
            crate::args::Command::Destination(crate::args::DestinationCommand::Update(u)) => u.fields,
            _ => unreachable!(),
        };
        let f = fields(&["cairn", "destination", "update", "nas", "--port", "2223"]);
        assert_eq!((f.fields.port, f.fields.kind.as_str(), f.fields.verify_tls), (Some(2223), "", None));
        let f = fields(&["cairn", "destination", "update", "nas", "--no-verify-tls", "--stall-timeout", "30"]);
        assert_eq!((f.fields.verify_tls, f.fields.stall_timeout), (Some(false), Some(30)));
        assert!(Cli::try_parse_from(["cairn", "destination", "update", "nas", "--no-verify-tls=true"]).is_err());
        assert!(Cli::try_parse_from(["cairn", "destination", "update", "nas", "--url", "x", "--type", "s3"]).is_err());
    }

    #[test]
    fn compression_arguments() {
        assert_eq!(parse_compression("off").unwrap(), Compression::OFF);
        assert_eq!(parse_compression("deflate").unwrap(), Compression::DEFAULT);
        assert_eq!(parse_compression("deflate:9").unwrap().level, 9);
        assert!(parse_compression("deflate:0").is_err());
        assert_eq!(parse_compression("zstd").unwrap(), Compression::ZSTD);
        assert_eq!(parse_compression("zstd:19").unwrap().level, 19);
        assert!(parse_compression("zstd:20").is_err());
        assert!(parse_compression("lz4").is_err());
    }

    #[test]
    fn modes_like_ls() {
        let node = |mode| Node {
            name: b"x".to_vec(),
            kind: NodeKind::File { content: vec![] },
            meta: cairn_core::Metadata { mode, ..Default::default() },
        };
        assert_eq!(mode_string(&node(0o4755)), "-rwsr-xr-x");
        assert_eq!(mode_string(&node(0o1777)), "-rwxrwxrwt");
        assert_eq!(mode_string(&node(0o2640)), "-rw-r-S---");
        assert_eq!(mode_string(&node(0o000)), "----------");
    }

    #[test]
    fn waits_and_times() {
        assert_eq!(crate::repo::parse_wait("90s").unwrap().as_secs(), 90);
        assert_eq!(crate::repo::parse_wait("5m").unwrap().as_secs(), 300);
        assert!(crate::repo::parse_wait("5 min").is_err());
        assert_eq!(parse_time("2026-01-02T09:00:00Z").unwrap().secs, 1_767_344_400);
        assert!(parse_time("yesterday").is_err());
    }
}
