//! `cairn destination ...`: the catalog's destinations.

use std::process::ExitCode;

use cairn_std::catalog::{Catalog, DestinationRecord, DestinationSecrets, DestinationUpdate, NewDestination};
use cairn_std::form::DestinationFields;
use cairn_std::health::{Saved, TestReport, TestStep, browse, create_tested, reindex, test_saved, update_tested};
use cairn_std::{Error, ErrorKind, Secret, local_time, now};
use serde_json::json;

use crate::args::{DestinationCommand, DestinationCreateArgs, DestinationFieldArgs, DestinationUpdateArgs, Global};
use crate::output::bytes;
use crate::repo::{given_secret, open_catalog};

fn env_secret(name: &str) -> Option<Secret> {
    std::env::var(name).ok().filter(|v| !v.is_empty()).map(|v| Secret::new(v.into_bytes()))
}

fn env_secrets() -> DestinationSecrets {
    DestinationSecrets::from_env(env_secret)
}

fn not_found(name: &str) -> Error {
    Error::new(ErrorKind::NotFound, format!("no destination named {name:?}"))
        .with_hint("list them with `cairn destination list`")
}

pub(crate) async fn destination_cmd(g: &Global, command: &DestinationCommand) -> Result<ExitCode, Error> {
    let catalog = open_catalog(g)?;
    match command {
        DestinationCommand::Create(a) => create(g, &catalog, a).await,
        DestinationCommand::Update(a) => update(g, &catalog, a).await,
        DestinationCommand::List => list(g, &catalog),
        DestinationCommand::Get { name, show_password } => get(g, &catalog, name, *show_password),
        DestinationCommand::Test { name } => {
            let report = test_saved(&catalog, name, now().secs, &mut |s| print_step(g, s)).await?;
            finish_test(g, name, &report)
        }
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
        DestinationCommand::Browse { name } => {
            let dest = catalog.destination_url(name)?.open()?;
            let objects = browse(&dest).await?;
            if g.json {
                println!("{}", serde_json::to_string(&objects).unwrap_or_default());
            } else {
                for o in &objects {
                    println!("{:>12}  {}", o.size, o.path);
                }
                let total: u64 = objects.iter().map(|o| o.size).sum();
                if !g.quiet {
                    println!("{} objects, {}", objects.len(), bytes(total));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        DestinationCommand::Reindex { name } => {
            let password = given_secret("CAIRN_PASSWORD", g.password_file.as_deref())?;
            let (snapshots, disk) = reindex(&catalog, name, password.as_ref(), now().secs).await?;
            if g.json {
                println!("{}", json!({ "snapshots": snapshots, "disk": disk, "adopted": password.is_some() }));
            } else if !g.quiet {
                if password.is_some() {
                    println!("adopted the repository at destination {name}: its password is now stored in the catalog");
                }
                println!("{snapshots} snapshots cached; {}", disk_line(&disk));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The fields given on the command line: the destination flags, and the global flags that
/// fill fields (`--ssh-key`, `--accept-host-key`, `--s3-access-key`, the access key of the
/// environment for a new S3 destination).
fn given_fields(f: &DestinationFieldArgs, g: &Global) -> DestinationFields {
    let mut given = f.fields.clone();
    given.key_file.clone_from(&g.ssh_key);
    given.host_key.clone_from(&g.accept_host_key);
    given.access_key.clone_from(&g.s3_access_key);
    given
}

/// The fields given on the command line, as a URL.
fn url_of(f: &DestinationFieldArgs, g: &Global) -> Result<Option<String>, Error> {
    if let Some(url) = &f.url {
        return Ok(Some(url.clone()));
    }
    if f.fields.kind.is_empty() {
        return Ok(None);
    }
    let mut fields = DestinationFields::default();
    fields.kind.clone_from(&f.fields.kind);
    fields.merge(&given_fields(f, g));
    if fields.kind == "s3" && fields.access_key.is_none() {
        fields.access_key = std::env::var("AWS_ACCESS_KEY_ID").ok();
    }
    if fields.kind != "s3" {
        fields.access_key = None;
    }
    fields.to_url().map(Some)
}

/// The new URL of destination `name` for `destination update`: the one given, or its saved
/// fields with those given changed (all of them anew if `--type` changes the type); `None`
/// when no field is given.
fn updated_url(f: &DestinationFieldArgs, g: &Global, catalog: &Catalog, name: &str) -> Result<Option<String>, Error> {
    if let Some(url) = &f.url {
        return Ok(Some(url.clone()));
    }
    let saved = catalog.get_destination(name)?.ok_or_else(|| not_found(name))?;
    let mut fields = DestinationFields::of(&saved.url, &catalog.destination_url(name)?);
    let kind_given = !f.fields.kind.is_empty();
    if kind_given && f.fields.kind != fields.kind {
        fields = DestinationFields::default();
        fields.kind.clone_from(&f.fields.kind);
    }
    let mut given = given_fields(f, g);
    // The access key is a field of S3 destinations only.
    if fields.kind != "s3" {
        given.access_key = None;
    }
    if !fields.merge(&given) && !kind_given {
        return Ok(None);
    }
    fields.to_url().map(Some)
}

fn print_step(g: &Global, s: &TestStep) {
    if g.json || g.quiet {
        return;
    }
    let detail = s.detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default();
    println!("  {:<38} {:>6} ms  {}{detail}", s.name, s.millis, if s.ok { "ok" } else { "FAILED" });
}

fn report_json(report: &TestReport) -> serde_json::Value {
    json!({ "ok": report.ok, "steps": report.steps, "error": report.error, "initialised": report.initialised })
}

fn finish_test(g: &Global, name: &str, report: &TestReport) -> Result<ExitCode, Error> {
    if g.json {
        println!("{}", json!({ "name": name, "test": report_json(report) }));
    }
    match &report.error {
        None => {
            if !g.json && !g.quiet {
                println!("destination {name} passed its test");
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(e) => Err(Error::new(ErrorKind::Io, format!("destination {name} failed its test: {e}"))),
    }
}

/// Prints the Test's steps as they end, and for `--json` the outcome of a Test that failed
/// (`{"saved": false, "test": ...}`); the error to return if it failed.
fn tested(g: &Global, name: &str, saved: &Saved, failed: impl FnOnce(&str) -> Error) -> Result<(), Error> {
    if saved.report.ok {
        return Ok(());
    }
    if g.json {
        println!("{}", json!({ "name": name, "saved": false, "test": report_json(&saved.report) }));
    }
    Err(failed(saved.report.error.as_deref().unwrap_or_default()))
}

fn announce(g: &Global, name: &str, url: &str, with: &str) {
    if !g.json && !g.quiet {
        println!("testing {name}{with} ({url}):");
    }
}

async fn create(g: &Global, catalog: &Catalog, a: &DestinationCreateArgs) -> Result<ExitCode, Error> {
    let url = url_of(&a.fields, g)?.ok_or_else(|| {
        Error::new(ErrorKind::InvalidInput, "url: give --url URL, or --type local|s3|sftp|rest with its fields")
    })?;
    let mut new = NewDestination::new(&a.name, &url);
    new.read_only = a.read_only;
    new.export_config = a.export_config;
    new.secrets = env_secrets();
    // An access key from the flag or environment when the URL has none (the --url form).
    if url.starts_with("s3:") && !url.contains("access-key=") {
        new.s3_access_key =
            g.s3_access_key.clone().or_else(|| std::env::var("AWS_ACCESS_KEY_ID").ok()).filter(|v| !v.is_empty());
    }
    new.password = given_secret("CAIRN_PASSWORD", g.password_file.as_deref())?;
    let candidate = catalog.check_new(&new)?;
    if a.skip_test {
        let record = catalog.insert_destination(&new, &candidate)?;
        if g.json {
            println!("{}", json!({ "name": record.name, "kind": record.kind, "url": record.url, "test": null }));
        } else if !g.quiet {
            println!("created destination {} ({}, {}) without testing it", record.name, record.kind, record.url);
        }
        return Ok(ExitCode::SUCCESS);
    }
    announce(g, &a.name, &candidate.parsed.show(), "");
    let saved = create_tested(catalog, &new, now().secs, &mut |s| print_step(g, s)).await?;
    tested(g, &a.name, &saved, |e| {
        Error::new(ErrorKind::Io, format!("destination {} was not saved: its test failed: {e}", a.name))
            .with_hint("fix the settings and create it again, or --skip-test to save it untested")
    })?;
    let (report, record) = (&saved.report, saved.record.as_ref().ok_or_else(|| not_found(&a.name))?);
    if g.json {
        println!(
            "{}",
            json!({ "name": record.name, "kind": record.kind, "url": record.url, "saved": true, "test": report_json(report) })
        );
    } else if !g.quiet {
        println!("created destination {} ({}, {})", record.name, record.kind, record.url);
    }
    Ok(ExitCode::SUCCESS)
}

async fn update(g: &Global, catalog: &Catalog, a: &DestinationUpdateArgs) -> Result<ExitCode, Error> {
    let mut update = DestinationUpdate::default();
    update.url = updated_url(&a.fields, g, catalog, &a.name)?;
    update.export_config = a.export_config;
    update.make_writable = a.writable;
    if a.secrets_from_env {
        update.secrets = env_secrets();
    }
    if a.fields.url.is_none() && a.fields.fields.kind.is_empty() {
        update.s3_access_key = g.s3_access_key.clone();
    }
    let candidate = catalog.check_update(&a.name, &update)?;
    announce(g, &a.name, &candidate.parsed.show(), " with the new settings");
    let saved = update_tested(catalog, &a.name, &update, now().secs, &mut |s| print_step(g, s)).await?;
    tested(g, &a.name, &saved, |e| {
        Error::new(
            ErrorKind::Io,
            format!("destination {} keeps its previous settings: the test with the new ones failed: {e}", a.name),
        )
    })?;
    let (report, record) = (&saved.report, saved.record.as_ref().ok_or_else(|| not_found(&a.name))?);
    if g.json {
        println!("{}", json!({ "name": record.name, "url": record.url, "saved": true, "test": report_json(report) }));
    } else if !g.quiet {
        println!("updated destination {} ({})", record.name, record.url);
    }
    Ok(ExitCode::SUCCESS)
}

fn disk_line(d: &cairn_std::catalog::DiskInfo) -> String {
    match d.free_bytes {
        Some(f) => format!("{} stored, {} free", bytes(d.repository_bytes), bytes(f)),
        None => format!("{} stored", bytes(d.repository_bytes)),
    }
}

fn record_json(d: &DestinationRecord) -> serde_json::Value {
    json!({
        "name": d.name, "kind": d.kind, "url": d.url, "owner": d.owner, "enabled": d.enabled,
        "read_only": d.read_only, "recovered": d.recovered, "export_config": d.export_config,
        "created": d.created, "disk": d.disk, "last_export": d.last_export,
        "last_test": d.last_test.as_ref().map(|(t, ok, report)| json!({ "time": t, "ok": ok, "report": report })),
    })
}

fn list(g: &Global, catalog: &Catalog) -> Result<ExitCode, Error> {
    let all = catalog.list_destinations()?;
    if g.json {
        let mut out = Vec::with_capacity(all.len());
        for d in &all {
            let mut v = record_json(d);
            v["snapshots"] = json!(catalog.cached_snapshot_count(d)?);
            out.push(v);
        }
        println!("{}", serde_json::Value::Array(out));
        return Ok(ExitCode::SUCCESS);
    }
    if all.is_empty() {
        println!("no destinations (add one with `cairn destination create --name NAME --type local --backup-dir DIR`)");
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
        if d.recovered {
            badges.push("recovered");
        }
        let badges = if badges.is_empty() { String::new() } else { format!(" [{}]", badges.join(", ")) };
        let disk = d.disk.as_ref().map(|d| format!("; {}", disk_line(d))).unwrap_or_default();
        let snapshots = match catalog.cached_snapshot_count(d)? {
            1 => "1 snapshot".to_string(),
            n => format!("{n} snapshots"),
        };
        println!("{:<20} {:<6} {}{badges}  ({snapshots}; {health}{disk}; owner {})", d.name, d.kind, d.url, d.owner);
    }
    Ok(ExitCode::SUCCESS)
}

fn get(g: &Global, catalog: &Catalog, name: &str, show_password: bool) -> Result<ExitCode, Error> {
    let d = catalog.get_destination(name)?.ok_or_else(|| not_found(name))?;
    let password = if show_password { Some(catalog.destination_password(name)?) } else { None };
    let shown = password.as_ref().map(|p| String::from_utf8_lossy(p.expose()).into_owned());
    let jobs = catalog.jobs_targeting(name)?;
    if g.json {
        let mut v = record_json(&d);
        v["password"] = json!(shown);
        v["jobs"] = json!(jobs);
        println!("{v}");
        return Ok(ExitCode::SUCCESS);
    }
    println!("name:      {}", d.name);
    println!("type:      {}", d.kind);
    println!("url:       {}", d.url);
    println!("owner:     {}", d.owner);
    println!("enabled:   {}", d.enabled);
    println!(
        "read-only: {}{}",
        d.read_only,
        if d.recovered { " (recovered: `update --writable` to take it over)" } else { "" }
    );
    println!("export configuration: {}", d.export_config);
    if let Some(disk) = &d.disk {
        println!("disk:      {} (at {})", disk_line(disk), local_time(cairn_core::Timestamp::new(disk.time, 0)));
    }
    if !jobs.is_empty() {
        println!("jobs:      {}", jobs.join(", "));
    }
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
