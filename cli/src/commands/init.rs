//! `cairn init`: making a repository, and its compression and key settings.

use std::process::ExitCode;

use cairn_core::{Codec, Compression, InitOptions, KdfParams, KeyInfo, Repository};
use cairn_std::{Error, ErrorKind, hostname, now, os_rng, username};
use serde_json::json;

use crate::args::{Global, InitArgs};
use crate::repo::{self, Location, Purpose, Repo};

pub(crate) fn key_info() -> KeyInfo {
    KeyInfo { created: now(), hostname: hostname(), username: username() }
}

pub(crate) fn parse_compression(s: &str) -> Result<Compression, Error> {
    let bad = || {
        Error::new(ErrorKind::InvalidInput, format!("invalid compression {s:?}"))
            .with_hint("use off, zstd, zstd:LEVEL (1 to 19), deflate or deflate:LEVEL (1 to 9)")
    };
    let (codec, level) = match s.split_once(':') {
        None if s == "off" => return Ok(Compression::OFF),
        None if s == "deflate" => return Ok(Compression::DEFAULT),
        None if s == "zstd" => return Ok(Compression::ZSTD),
        Some(("deflate", level)) => (Codec::Deflate, level),
        Some(("zstd", level)) => (Codec::Zstd, level),
        _ => return Err(bad()),
    };
    let c = Compression { codec, level: level.parse().map_err(|_| bad())? };
    c.validate().map_err(|_| bad())?;
    Ok(c)
}

pub(crate) async fn create_repository(g: &Global, location: &Location, args: Option<&InitArgs>) -> Result<Repo, Error> {
    let mut options = InitOptions::default();
    options.compression = Compression::best_available();
    options.key_info = key_info();
    if location.password_generated {
        options.kdf = KdfParams::GENERATED;
    }
    if let Some(a) = args {
        if let Some(m) = a.kdf_memory_kib {
            options.kdf.memory_kib = m;
        }
        if let Some(i) = a.kdf_iterations {
            options.kdf.iterations = i;
        }
        if let Some(p) = a.pack_size_mib {
            options.pack_size = p.checked_mul(1024 * 1024).ok_or_else(|| {
                Error::new(ErrorKind::InvalidInput, "the pack size is too large").with_hint("use 1 to 1024 MiB")
            })?;
        }
        if let Some(c) = &a.compression {
            options.compression = parse_compression(c)?;
        }
        if let Some(d) = &a.lock_stale_after {
            options.locks.stale_after_secs = lock_duration(d, "--lock-stale-after")?;
        }
        if let Some(d) = &a.lock_refresh_every {
            options.locks.refresh_every_secs = lock_duration(d, "--lock-refresh-every")?;
        }
        if let Some(ms) = a.lock_settle_ms {
            options.locks.settle_millis = ms;
        }
        options.locks.validate().map_err(|why| {
            Error::new(ErrorKind::InvalidInput, format!("invalid lock settings: {why}"))
                .with_hint("the defaults are --lock-stale-after 30m --lock-refresh-every 5m --lock-settle-ms 2000")
        })?;
    }
    options.kdf.validate().map_err(|why| {
        Error::new(ErrorKind::InvalidInput, format!("invalid key derivation settings: {why}")).with_hint(format!(
            "the defaults are {} KiB and {} passes",
            KdfParams::DEFAULT.memory_kib,
            KdfParams::DEFAULT.iterations
        ))
    })?;
    cairn_std::health::refuse_foreign_folder(&location.url)?;
    let password = repo::password(g, location, Purpose::Create)?;
    if password.is_empty() {
        return Err(Error::new(ErrorKind::InvalidInput, "the repository password cannot be empty"));
    }
    Ok(Repository::init(cairn_std::lock_keeper(location.backend()?), password.expose(), &options, &mut os_rng())
        .await?)
}

/// A lock duration in whole seconds: a number with s, m or h.
pub(crate) fn lock_duration(s: &str, flag: &str) -> Result<u32, Error> {
    let secs = repo::parse_wait(s).map_err(|_| {
        Error::new(ErrorKind::InvalidInput, format!("invalid {flag} {s:?}")).with_hint("write 90s, 30m or 2h")
    })?;
    u32::try_from(secs.as_secs()).map_err(|_| Error::new(ErrorKind::InvalidInput, format!("{flag} {s:?} is too long")))
}

pub(crate) async fn init(g: &Global, a: &InitArgs) -> Result<ExitCode, Error> {
    let location = Location::from_args(g)?;
    if location.exists().await? {
        return Err(Error::new(
            ErrorKind::RepositoryExists,
            format!("a repository already exists at {}", location.show()),
        )
        .with_hint("use it as it is, or choose another location with --repo"));
    }
    let repo = create_repository(g, &location, Some(a)).await?;
    if g.json {
        println!("{}", json!({ "repository": location.show(), "id": repo.config().id.to_hex() }));
    } else if !g.quiet {
        println!("created repository {} at {}", &repo.config().id.to_hex()[..8], location.show());
        if location.name.is_some() {
            println!(
                "its password is sealed in the catalog: `cairn destination get {} --show-password` shows it; \
                 keep a copy somewhere safe",
                location.name.as_deref().unwrap_or("default")
            );
        } else {
            println!("keep the password safe: without it the backups cannot be restored");
        }
    }
    Ok(ExitCode::SUCCESS)
}
