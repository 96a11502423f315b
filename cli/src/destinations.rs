//! `cairn destination ...`: the catalog's destinations.

use std::process::ExitCode;
use std::time::Instant;

use bytes::Bytes;
use cairn_core::{FileKind, Handle, Id, ReadRange, Repository, Storage, StorageOp, WriteMode};
use cairn_std::catalog::{Catalog, DestinationSecrets, NewDestination};
use cairn_std::{Error, ErrorKind, LockKeeper, Secret, local_time, os_rng};
use serde_json::json;

use crate::args::{DestinationCommand, DestinationCreateArgs, Global};
use crate::repo::{open_catalog, storage_error};

fn env_secret(name: &str) -> Option<Secret> {
    std::env::var(name).ok().filter(|v| !v.is_empty()).map(|v| Secret::new(v.into_bytes()))
}

pub(crate) async fn destination_cmd(g: &Global, command: &DestinationCommand) -> Result<ExitCode, Error> {
    let catalog = open_catalog(g)?;
    match command {
        DestinationCommand::Create(a) => create(g, &catalog, a).await,
        DestinationCommand::List => list(g, &catalog),
        DestinationCommand::Get { name, show_password } => get(g, &catalog, name, *show_password),
        DestinationCommand::Delete { name } => {
            catalog.delete_destination(name)?;
            if !g.quiet && !g.json {
                println!("removed destination {name} from the catalog (its repository is left in place)");
            }
            Ok(ExitCode::SUCCESS)
        }
        DestinationCommand::Enable { name } | DestinationCommand::Disable { name } => {
            let enable = matches!(command, DestinationCommand::Enable { .. });
            catalog.set_enabled(name, enable)?;
            if !g.quiet && !g.json {
                println!("destination {name} {}", if enable { "enabled" } else { "disabled" });
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn create(g: &Global, catalog: &Catalog, a: &DestinationCreateArgs) -> Result<ExitCode, Error> {
    let mut new = NewDestination::new(&a.name, &a.url);
    new.read_only = a.read_only;
    let mut secrets = DestinationSecrets::default();
    secrets.s3_secret_key = env_secret("AWS_SECRET_ACCESS_KEY");
    secrets.rest_password = env_secret("CAIRN_REST_PASSWORD");
    secrets.ssh_passphrase = env_secret("CAIRN_SSH_PASSPHRASE");
    secrets.ssh_password = env_secret("CAIRN_SSH_PASSWORD");
    new.secrets = secrets;
    if a.url.starts_with("s3:") && !a.url.contains("access-key=") {
        new.s3_access_key =
            g.s3_access_key.clone().or_else(|| std::env::var("AWS_ACCESS_KEY_ID").ok()).filter(|v| !v.is_empty());
    }
    let record = catalog.create_destination(&new)?;
    // Test it right away: reach it, prove it can be written, find or create the repository.
    let report = test(catalog, &record.name, record.read_only).await;
    match &report {
        Ok(steps) => catalog.record_test(&record.name, true, &steps.join("; "))?,
        Err(e) => catalog.record_test(&record.name, false, &e.to_string())?,
    }
    if g.json {
        println!(
            "{}",
            json!({ "name": record.name, "kind": record.kind, "url": record.url, "test": match &report {
                Ok(steps) => json!({ "ok": true, "steps": steps }),
                Err(e) => json!({ "ok": false, "error": e.to_string() }),
            }})
        );
    } else if !g.quiet {
        println!("created destination {} ({}, {})", record.name, record.kind, record.url);
        if let Ok(steps) = &report {
            for s in steps {
                println!("  {s}");
            }
        }
    }
    match report {
        Ok(_) => Ok(ExitCode::SUCCESS),
        Err(e) => Err(e.context(format!("destination {} was saved, but its test failed", record.name))),
    }
}

/// Connects, lists, writes, reads back and deletes a probe (unless read-only), then opens the
/// repository with the stored password, or creates it if there is none. Returns the steps with
/// their times.
async fn test(catalog: &Catalog, name: &str, read_only: bool) -> Result<Vec<String>, Error> {
    let mut steps = Vec::new();
    let mut step = |what: &str, t: Instant| steps.push(format!("{what}: ok ({} ms)", t.elapsed().as_millis()));
    let url = catalog.destination_url(name)?;
    let backend = url.open()?;
    let t = Instant::now();
    let place = url.show();
    let existing =
        backend.list(FileKind::Config).await.map_err(|e| storage_error(&place, StorageOp::List, &Handle::CONFIG, e))?;
    step("connect, authenticate and list", t);
    if !read_only {
        let mut id = [0u8; 32];
        rand_core::Rng::fill_bytes(&mut os_rng(), &mut id);
        let probe = Handle::new(FileKind::Lock, Id(id));
        let t = Instant::now();
        backend
            .write(&probe, Bytes::from_static(b"cairn write probe"), WriteMode::CreateNew)
            .await
            .map_err(|e| storage_error(&place, StorageOp::Write, &probe, e))?;
        step("write a probe", t);
        let t = Instant::now();
        let back = backend
            .read(&probe, ReadRange::All { max_len: 64 })
            .await
            .map_err(|e| storage_error(&place, StorageOp::Read, &probe, e))?;
        if &back[..] != b"cairn write probe" {
            return Err(Error::new(ErrorKind::Corrupt, "the probe read back differs from what was written"));
        }
        step("read it back", t);
        let t = Instant::now();
        backend.remove(&probe).await.map_err(|e| storage_error(&place, StorageOp::Remove, &probe, e))?;
        step("delete it", t);
    }
    let password = catalog.destination_password(name)?;
    let t = Instant::now();
    if existing.is_empty() {
        if read_only {
            return Err(Error::new(
                ErrorKind::RepositoryNotFound,
                "there is no repository there, and the destination is read-only",
            ));
        }
        let mut options = cairn_core::InitOptions::default();
        options.compression = cairn_core::Compression::best_available();
        Repository::init(LockKeeper::new(backend), password.expose(), &options, &mut os_rng()).await?;
        step("no repository found: initialised one", t);
    } else {
        Repository::open(LockKeeper::new(backend), password.expose()).await?;
        step("repository found and opened", t);
    }
    Ok(steps)
}

fn list(g: &Global, catalog: &Catalog) -> Result<ExitCode, Error> {
    let all = catalog.list_destinations()?;
    if g.json {
        let items: Vec<_> = all
            .iter()
            .map(|d| {
                json!({
                    "name": d.name, "kind": d.kind, "url": d.url, "owner": d.owner, "enabled": d.enabled,
                    "read_only": d.read_only,
                    "last_test": d.last_test.as_ref().map(|(t, ok, report)| json!({ "time": t, "ok": ok, "report": report })),
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(items));
        return Ok(ExitCode::SUCCESS);
    }
    if all.is_empty() {
        println!("no destinations (add one with `cairn destination create --name NAME --url URL`)");
        return Ok(ExitCode::SUCCESS);
    }
    for d in &all {
        let health = match &d.last_test {
            Some((t, true, _)) => format!("ok at {}", local_time(cairn_core::Timestamp::new(*t, 0))),
            Some((t, false, _)) => format!("FAILED at {}", local_time(cairn_core::Timestamp::new(*t, 0))),
            None => "not tested".into(),
        };
        let mut badges = Vec::new();
        if !d.enabled {
            badges.push("disabled");
        }
        if d.read_only {
            badges.push("read-only");
        }
        let badges = if badges.is_empty() { String::new() } else { format!(" [{}]", badges.join(", ")) };
        println!("{:<20} {:<6} {}{badges}  ({health}; owner {})", d.name, d.kind, d.url, d.owner);
    }
    Ok(ExitCode::SUCCESS)
}

fn get(g: &Global, catalog: &Catalog, name: &str, show_password: bool) -> Result<ExitCode, Error> {
    let d = catalog.get_destination(name)?.ok_or_else(|| {
        Error::new(ErrorKind::NotFound, format!("no destination named {name:?}"))
            .with_hint("list them with `cairn destination list`")
    })?;
    let password = if show_password { Some(catalog.destination_password(name)?) } else { None };
    let shown = password.as_ref().map(|p| String::from_utf8_lossy(p.expose()).into_owned());
    if g.json {
        println!(
            "{}",
            json!({
                "name": d.name, "kind": d.kind, "url": d.url, "owner": d.owner, "enabled": d.enabled,
                "read_only": d.read_only, "created": d.created, "password": shown,
                "last_test": d.last_test.as_ref().map(|(t, ok, report)| json!({ "time": t, "ok": ok, "report": report })),
            })
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!("name:      {}", d.name);
    println!("type:      {}", d.kind);
    println!("url:       {}", d.url);
    println!("owner:     {}", d.owner);
    println!("enabled:   {}", d.enabled);
    println!("read-only: {}", d.read_only);
    if let Some((t, ok, report)) = &d.last_test {
        println!(
            "last test: {} at {}: {report}",
            if *ok { "ok" } else { "FAILED" },
            local_time(cairn_core::Timestamp::new(*t, 0))
        );
    }
    if let Some(p) = shown {
        println!("repository password: {p}");
    }
    Ok(ExitCode::SUCCESS)
}
