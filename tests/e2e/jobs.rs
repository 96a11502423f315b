//! The management layer from the CLI: destinations created field by field, updated with a
//! re-test (and kept as they were when it fails), ownership of backup directories, read-only
//! destinations, jobs over several destinations, archived and compressed structures, hooks,
//! history, and a full recovery onto an empty catalog.

use std::fs;
use std::path::Path;

use cairn_e2e::servers::{S3Server, free_port};
use cairn_e2e::{Cairn, diff_trees, make_tree};

use crate::s;

/// `cairn` with its own HOME and catalog under `dir`, and no CAIRN_PASSWORD (the catalog
/// supplies each destination's password).
fn cairn_at(dir: &Path, catalog: &str) -> Cairn {
    Cairn::new(env!("CARGO_BIN_EXE_cairn"), &dir.join("home")).env("CAIRN_CATALOG", s(&dir.join(catalog)))
}

/// Asserts that an archive extracted into `out` holds `src` under its full path: contents,
/// kinds and modes exact (tar keeps whole-second times, so `diff -r` rather than `diff_trees`).
fn assert_extracted(src: &Path, out: &Path) {
    let diff = std::process::Command::new("diff")
        .args(["-r", "--no-dereference"])
        .arg(src)
        .arg(out.join(src.strip_prefix("/").unwrap()))
        .output()
        .unwrap();
    assert!(diff.status.success(), "{}", String::from_utf8_lossy(&diff.stdout));
}

/// `destination create --name nas --type sftp` for `server`, up to the authentication fields.
fn sftp_create_args(server: &cairn_e2e::servers::SshServer) -> Vec<String> {
    let fields = ["destination", "create", "--name", "nas", "--type", "sftp", "--host", "127.0.0.1", "--port"];
    let mut args: Vec<String> = fields.iter().map(|a| a.to_string()).collect();
    args.extend([server.port.to_string(), "--user".into(), server.user.clone()]);
    args
}

fn local(c: &Cairn, name: &str, dir: &Path) {
    c.run(["destination", "create", "--name", name, "--type", "local", "--backup-dir", s(dir)]).ok();
}

#[test]
fn an_update_is_tested_and_reverted_when_the_test_fails() {
    let t = tempfile::tempdir().unwrap();
    let c = cairn_at(t.path(), "catalog.sqlite");
    let good = t.path().join("good");
    local(&c, "disk", &good);
    // A file where the backup directory should be: the test cannot write there.
    let blocked = t.path().join("blocked");
    fs::write(&blocked, b"not a directory").unwrap();
    let failed = c.run(["destination", "update", "disk", "--type", "local", "--backup-dir", s(&blocked)]);
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    assert!(failed.stderr.contains("keeps its previous settings"), "{}", failed.stderr);
    let got = c.run(["--json", "destination", "get", "disk"]).ok().json();
    assert_eq!(got["url"], s(&good), "reverted: {got}");
    // A good update is kept, and the new directory is initialised by its test.
    let moved = t.path().join("moved");
    c.run(["destination", "update", "disk", "--url", s(&moved)]).ok();
    assert_eq!(c.run(["--json", "destination", "get", "disk"]).ok().json()["url"], s(&moved));
    assert!(moved.join("config").is_file());
    // A field given alone changes that field (no --type needed).
    let again = t.path().join("again");
    c.run(["destination", "update", "disk", "--backup-dir", s(&again)]).ok();
    assert_eq!(c.run(["--json", "destination", "get", "disk"]).ok().json()["url"], s(&again));
    assert!(again.join("config").is_file());
    // Fields are checked one by one, each error naming its field; nothing is saved.
    let bad = c.run(["destination", "create", "--name", "x", "--type", "sftp", "--host", "nas", "--backup-dir", "/b"]);
    assert!(bad.stderr.contains("user: is required"), "{}", bad.stderr);
    let bad = c.run(["destination", "create", "--name", "x", "--type", "s3", "--vendor", "wasabi", "--bucket", "b"]);
    assert!(bad.stderr.contains("bucket: \"b\" is not a bucket name"), "{}", bad.stderr);
    let bad = c.run(["destination", "create", "--name", "x", "--type", "s3", "--vendor", "wasabi", "--bucket", "bkt"]);
    assert!(bad.stderr.contains("AWS_ACCESS_KEY_ID"), "{}", bad.stderr);
    let bad = c.run([
        "destination",
        "create",
        "--name",
        "x",
        "--type",
        "s3",
        "--vendor",
        "wasabi",
        "--region",
        "mars-1",
        "--bucket",
        "bkt",
    ]);
    assert!(bad.stderr.contains("region: \"mars-1\" is not a Wasabi region"), "{}", bad.stderr);
    let bad = c.run(["destination", "create", "--name", "x", "--type", "local", "--backup-dir", "relative/dir"]);
    assert!(bad.stderr.contains("backup-dir:"), "{}", bad.stderr);
    assert_eq!(c.run(["--json", "destination", "list"]).ok().json().as_array().unwrap().len(), 1);
    // Read-only is fixed at creation.
    let w = c.run(["destination", "update", "disk", "--writable"]);
    assert!(w.stderr.is_empty() || !w.stderr.contains("panicked"), "{}", w.stderr);
}

#[test]
fn ownership_read_only_destinations_and_delete_while_targeted() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_tree(&src, 100_000);
    let mine = cairn_at(t.path(), "mine.sqlite");
    let dir = t.path().join("backups");
    local(&mine, "nas", &dir);
    let owner: serde_json::Value = serde_json::from_slice(&fs::read(dir.join("cairn-owner.json")).unwrap()).unwrap();
    assert_eq!(owner["destination"], "nas");
    mine.run(["job", "create", "--name", "home", "--source", s(&src), "--destination", "nas"]).ok();
    mine.run(["job", "run", "home"]).ok();
    // Deleting a destination a job writes to is refused, naming the job.
    let refused = mine.run(["destination", "delete", "nas"]);
    assert!(refused.stderr.contains("used by the job(s) home"), "{}", refused.stderr);

    // The same catalog may not add it again, Test or not, by any spelling of its path.
    let link = t.path().join("link-to-backups");
    std::os::unix::fs::symlink(&dir, &link).unwrap();
    for url in [s(&dir).to_string(), format!("{}/", s(&dir)), s(&link).to_string()] {
        for skip in [true, false] {
            let args = ["destination", "create", "--name", "again", "--url", &url];
            let again = mine.run(args.iter().copied().chain(skip.then_some("--skip-test")));
            assert_ne!(again.code, 0, "{url} {skip}");
            assert!(
                again.stderr.contains("is the backup directory of destination \"nas\" of this catalog"),
                "{url} {skip}: {}",
                again.stderr
            );
        }
    }
    assert_eq!(mine.run(["--json", "destination", "list"]).ok().json().as_array().unwrap().len(), 1);
    // Added read-only in the same catalog, it opens with the catalog's password for it.
    mine.run(["destination", "create", "--name", "nas-view", "--url", s(&link), "--read-only"]).ok();
    let snapshots = mine.run(["--json", "snapshots", "--destination", "nas-view"]).ok().json();
    assert_eq!(snapshots.as_array().unwrap().len(), 1, "{snapshots}");
    mine.run(["destination", "delete", "nas-view"]).ok();
    // A claim by a destination of this catalog says so (here one that was deleted).
    let other = t.path().join("other");
    local(&mine, "old", &other);
    mine.run(["destination", "delete", "old"]).ok();
    let taken = mine.run(["destination", "create", "--name", "new", "--url", s(&other)]);
    assert!(taken.stderr.contains("belongs to destination \"old\" of this catalog"), "{}", taken.stderr);

    // Another catalog (another machine) may not write there: it is told to add it read-only.
    let theirs = cairn_at(t.path(), "theirs.sqlite");
    let taken = theirs.run(["destination", "create", "--name", "shared", "--url", s(&dir)]);
    assert!(taken.stderr.contains("belongs to destination \"nas\" of another catalog"), "{}", taken.stderr);
    assert!(taken.stderr.contains("read-only"), "{}", taken.stderr);
    let password = mine.run(["--json", "destination", "get", "nas", "--show-password"]).ok().json()["password"]
        .as_str()
        .unwrap()
        .to_string();
    let ro = theirs.clone().env("CAIRN_PASSWORD", &password);
    ro.run(["destination", "create", "--name", "shared", "--url", s(&dir), "--read-only"]).ok();
    let before = fs::read_dir(dir.join("snapshots")).unwrap().count();
    // Restores and browsing work, without leaving a lock behind.
    let out = t.path().join("out");
    theirs.run(["restore", &format!("latest:{}", s(&src)), "--destination", "shared", "--target", s(&out)]).ok();
    assert!(diff_trees(&src, &out).is_empty());
    let browsed = theirs.run(["--json", "destination", "browse", "shared"]).ok().json();
    assert!(browsed.as_array().unwrap().iter().any(|o| o["path"] == "config"), "{browsed}");
    assert_eq!(fs::read_dir(dir.join("locks")).unwrap().count(), 0);
    // Anything that writes is refused, and nothing was written.
    let b = theirs.run(["backup", "--destination", "shared", s(&src)]);
    assert_ne!(b.code, 0);
    assert!(b.stderr.contains("read-only"), "{}", b.stderr);
    for args in [["forget", "--keep-last", "1"], ["prune", "--repack-threshold", "0"]] {
        let r = theirs.run(args.iter().copied().chain(["--destination", "shared"]));
        assert!(r.stderr.contains("read-only"), "{args:?}: {}", r.stderr);
    }
    assert_eq!(fs::read_dir(dir.join("snapshots")).unwrap().count(), before);
    assert_eq!(fs::read_dir(dir.join("locks")).unwrap().count(), 0);
    // Saved untested as writable, it still cannot write there: the owner is checked first.
    ro.run(["destination", "create", "--name", "stolen", "--url", s(&dir), "--skip-test"]).ok();
    let b = theirs.run(["backup", "--destination", "stolen", s(&src)]);
    assert!(b.stderr.contains("belongs to destination \"nas\" of another catalog"), "{}", b.stderr);
    theirs.run(["snapshots", "--destination", "stolen"]).ok();
    assert_eq!(fs::read_dir(dir.join("snapshots")).unwrap().count(), before);
    // A job cannot target a read-only destination; the type and read-only flag are fixed.
    let j = theirs.run(["job", "create", "--name", "j", "--source", s(&src), "--destination", "shared"]);
    assert!(j.stderr.contains("read-only"), "{}", j.stderr);
    let w = theirs.run(["destination", "update", "shared", "--writable"]);
    assert!(w.stderr.contains("fixed at creation"), "{}", w.stderr);
    // Reindex fills the snapshot cache.
    let r = theirs.run(["--json", "destination", "reindex", "shared"]).ok().json();
    assert_eq!(r["snapshots"], 1, "{r}");
}

#[test]
fn a_job_writes_to_each_destination_and_one_down_makes_it_partial() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_tree(&src, 100_000);
    let c = cairn_at(t.path(), "catalog.sqlite");
    local(&c, "first", &t.path().join("first"));
    local(&c, "spare", &t.path().join("spare"));
    // A REST server that is not running (saved untested, as for a machine that is off).
    let down = format!("rest:http://127.0.0.1:{}/repo?retries=0", free_port());
    c.clone()
        .env("CAIRN_REST_PASSWORD", "pw")
        .run(["destination", "create", "--name", "down", "--url", &down, "--skip-test"])
        .ok();
    c.run([
        "job",
        "create",
        "--name",
        "docs",
        "--source",
        s(&src),
        "--destination",
        "first",
        "--destination",
        "down",
        "--destination",
        "spare",
        "--keep-last",
        "2",
        "--schedule",
        "daily at 02:30",
    ])
    .ok();
    c.run(["destination", "disable", "spare"]).ok();
    let run = c.run(["--json", "job", "run", "docs"]);
    assert_eq!(run.code, 3, "partially complete: {}", run.stderr);
    let report = run.json();
    assert_eq!(report["status"], "partial");
    let runs = report["runs"].as_array().unwrap();
    assert_eq!(
        runs.iter().map(|r| r["status"].as_str().unwrap()).collect::<Vec<_>>(),
        ["succeeded", "failed", "skipped"]
    );
    assert!(runs[1]["error"].as_str().unwrap().contains("127.0.0.1"), "{}", runs[1]);
    assert!(runs[2]["error"].as_str().unwrap().contains("disabled"));
    // Retention: after three runs, two snapshots are kept.
    c.run(["destination", "enable", "spare"]).ok();
    c.run(["destination", "delete", "down"]).code(2);
    let mut spec_without_down = vec!["job", "update", "docs", "--destination", "first", "--destination", "spare"];
    c.run(spec_without_down.drain(..)).ok();
    c.run(["destination", "delete", "down"]).ok();
    c.run(["job", "run", "docs"]).ok();
    c.run(["job", "run", "docs"]).ok();
    let snaps = c.run(["--json", "snapshots", "--destination", "first"]).ok().json();
    assert_eq!(snaps.as_array().unwrap().len(), 2, "{snaps}");
    let history = c.run(["--json", "job", "history", "docs"]).ok().json();
    assert_eq!(history.as_array().unwrap().len(), 7, "{history}");
    assert!(history[0]["files"].as_u64().unwrap() > 0);
    let listed = c.run(["--json", "destination", "list"]).ok().json();
    assert!(listed[0]["disk"]["repository_bytes"].as_u64().unwrap() > 0, "{listed}");
    // The list shows each destination's snapshot count from the catalog's cache (no connection).
    let first = listed.as_array().unwrap().iter().find(|d| d["name"] == "first").unwrap();
    assert_eq!(first["snapshots"], 2, "{listed}");
    let text = c.run(["destination", "list"]).ok().stdout;
    assert!(text.lines().any(|l| l.starts_with("first ") && l.contains("(2 snapshots;")), "{text}");
}

#[test]
fn archived_and_compressed_jobs_and_hooks() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_tree(&src, 100_000);
    let c = cairn_at(t.path(), "catalog.sqlite");
    let dir = t.path().join("dest");
    local(&c, "dest", &dir);
    let dump = src.join("db.sql");
    let hook = format!("echo dumping; echo 'CREATE TABLE t;' > {}", s(&dump));
    c.run([
        "job",
        "create",
        "--name",
        "tgz",
        "--source",
        s(&src),
        "--destination",
        "dest",
        "--structure",
        "compressed",
        "--keep-last",
        "1",
        "--pre-hook",
        &hook,
        "--post-hook",
        "echo \"after $CAIRN_JOB: $CAIRN_STATUS\"",
    ])
    .ok();
    let run = c.run(["--json", "job", "run", "tgz"]).ok().json();
    let output = run["runs"][0]["output"].as_str().unwrap();
    assert!(output.contains("dumping") && output.contains("after tgz: succeeded"), "{output}");
    c.run(["job", "run", "tgz"]).ok();
    let archives = c.run(["--json", "archive", "list", "--destination", "dest"]).ok().json();
    assert_eq!(archives.as_array().unwrap().len(), 1, "keep-last 1: {archives}");
    assert!(archives[0]["name"].as_str().unwrap().ends_with("-tgz.tar.gz"));
    let out = t.path().join("out");
    c.run(["archive", "restore", "latest", "--job", "tgz", "--destination", "dest", "--target", s(&out)]).ok();
    assert_extracted(&src, &out);
    // Any tar reads it.
    let name = archives[0]["name"].as_str().unwrap();
    let listing =
        std::process::Command::new("tar").arg("tzf").arg(dir.join("cairn-archives").join(name)).output().unwrap();
    assert!(String::from_utf8_lossy(&listing.stdout).contains("db.sql"));
    // An archived job (plain tar) of the same sources.
    c.run(["job", "create", "--name", "tar", "--source", s(&src), "--destination", "dest", "--structure", "archived"])
        .ok();
    c.run(["job", "run", "tar"]).ok();
    assert_eq!(
        c.run(["--json", "archive", "list", "--destination", "dest", "--job", "tar"]).ok().json()[0]["compressed"],
        false
    );
    // A failing pre-hook fails the run before anything is written, its output in the history.
    c.run(["job", "update", "tar", "--pre-hook", "echo cannot reach the database >&2; exit 7"]).ok();
    let failed = c.run(["--json", "job", "run", "tar"]);
    assert_eq!(failed.code, 1);
    let history = c.run(["--json", "job", "history", "tar", "--limit", "1"]).ok().json();
    assert_eq!(history[0]["status"], "failed");
    assert!(history[0]["error"].as_str().unwrap().contains("pre-hook"), "{}", history[0]);
    assert!(history[0]["output"].as_str().unwrap().contains("cannot reach the database"), "{}", history[0]);
    assert_eq!(
        c.run(["--json", "archive", "list", "--destination", "dest", "--job", "tar"])
            .ok()
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn two_runs_of_an_archived_job_in_one_second_keep_both_archives() {
    cairn_e2e::prerequisite(cairn_e2e::servers::find_tool("faketime").is_some(), "faketime (apt-get install faketime)");
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    fs::create_dir_all(&src).unwrap();
    let c = cairn_at(t.path(), "catalog.sqlite");
    let dir = t.path().join("dest");
    local(&c, "dest", &dir);
    c.run(["job", "create", "--name", "tar", "--source", s(&src), "--destination", "dest", "--structure", "archived"])
        .ok();
    // Three runs with the clock stopped in one second, each with other contents.
    for n in 1..=3 {
        fs::write(src.join("version.txt"), format!("version {n}")).unwrap();
        let mut run = c.command_under(&["faketime", "-f", "2026-12-07 10:00:00"], ["--json", "job", "run", "tar"]);
        // Timers keep running (only the wall clock stops).
        run.env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
        let run = cairn_e2e::finish(run.output().unwrap()).ok();
        assert_eq!(run.json()["status"], "succeeded", "{}", run.stdout);
    }
    let archives = c.run(["--json", "archive", "list", "--destination", "dest", "--job", "tar"]).ok().json();
    let names: Vec<&str> = archives.as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["20261207T100000Z-tar.tar", "20261207T100000Z.2-tar.tar", "20261207T100000Z.3-tar.tar"],
        "an archive was replaced"
    );
    // Each holds what its run read; the latest is the third.
    for (n, name) in names.iter().enumerate() {
        let listing = std::process::Command::new("tar")
            .arg("xOf")
            .arg(dir.join("cairn-archives").join(name))
            .arg(src.join("version.txt").strip_prefix("/").unwrap())
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&listing.stdout), format!("version {}", n + 1));
    }
    let out = t.path().join("out");
    c.run(["archive", "restore", "latest", "--job", "tar", "--destination", "dest", "--target", s(&out)]).ok();
    let restored = out.join(src.strip_prefix("/").unwrap()).join("version.txt");
    assert_eq!(fs::read_to_string(restored).unwrap(), "version 3");
}

#[test]
fn a_recovery_rebuilds_an_empty_catalog_that_then_restores_a_file() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_tree(&src, 100_000);
    let old = cairn_at(t.path(), "old.sqlite");
    let dir = t.path().join("usb");
    old.run(["destination", "create", "--name", "usb", "--type", "local", "--backup-dir", s(&dir), "--export-config"])
        .ok();
    old.run(["job", "create", "--name", "home", "--source", s(&src), "--destination", "usb", "--keep-daily", "7"]).ok();
    old.run(["notify", "add", "--command", "true"]).ok();
    old.run(["job", "run", "home"]).ok();
    // The daemon exports the configuration (due: never exported), as would happen daily.
    let tick = old.run(["--json", "daemon", "--once"]).ok().json();
    assert_eq!(tick["exports"][0], "usb", "{tick}");
    // The unit for running it under systemd names this very program.
    let unit = old.run(["daemon", "--systemd-unit"]).ok().stdout;
    let program = fs::canonicalize(env!("CARGO_BIN_EXE_cairn")).unwrap();
    assert!(unit.lines().any(|l| l == format!("ExecStart={} daemon", program.display())), "{unit}");
    let exports: Vec<_> = fs::read_dir(dir.join("cairn-config")).unwrap().collect();
    assert_eq!(exports.len(), 1);
    let kit = old.run(["catalog", "recovery-kit"]).ok().stdout.trim().to_string();
    assert!(kit.starts_with("cairn-catalog-key:"));
    // No secret in the export in the clear.
    let password = old.run(["--json", "destination", "get", "usb", "--show-password"]).ok().json()["password"]
        .as_str()
        .unwrap()
        .to_string();
    let raw = fs::read(exports[0].as_ref().unwrap().path()).unwrap();
    assert!(!raw.windows(password.len()).any(|w| w == password.as_bytes()));

    // A new machine: an empty catalog, the kit and the backup directory.
    let new = cairn_at(t.path(), "new.sqlite");
    let wrong = new.clone().env("CAIRN_RECOVERY_KIT", &format!("cairn-catalog-key:{}", "0".repeat(64)));
    let refused = wrong.run(["recover", "--from", s(&dir)]);
    assert!(refused.stderr.contains("does not open"), "{}", refused.stderr);
    let done = new.clone().env("CAIRN_RECOVERY_KIT", &kit).run(["--json", "recover", "--from", s(&dir)]).ok().json();
    assert_eq!(done["destinations"][0], "usb");
    assert_eq!(done["jobs"][0], "home");
    let got = new.run(["--json", "destination", "get", "usb"]).ok().json();
    assert_eq!((got["read_only"].as_bool(), got["recovered"].as_bool()), (Some(true), Some(true)), "{got}");
    let out = t.path().join("out");
    let file = src.join("docs/readme.txt");
    let found = walk_one(&src);
    let one = found.as_deref().unwrap_or(&file);
    new.run(["restore", &format!("latest:{}", s(one)), "--destination", "usb", "--target", s(&out)]).ok();
    let restored = out.join(one.file_name().unwrap());
    assert_eq!(fs::read(&restored).unwrap(), fs::read(one).unwrap());
    // Read-only until made writable; then this machine backs up there.
    let refused = new.run(["job", "run", "home"]);
    assert!(refused.stdout.contains("read-only"), "{}", refused.stdout);
    new.run(["destination", "update", "usb", "--writable"]).ok();
    new.run(["job", "run", "home"]).ok();
    // The same kit still opens the catalog's exports from the new machine.
    assert_eq!(new.run(["catalog", "recovery-kit"]).ok().stdout.trim(), kit);
}

/// The first regular file under `dir`.
fn walk_one(dir: &Path) -> Option<std::path::PathBuf> {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let mut entries: Vec<_> = fs::read_dir(&d).ok()?.map(|e| e.unwrap().path()).collect();
        entries.sort();
        for p in entries {
            let m = fs::symlink_metadata(&p).ok()?;
            if m.is_file() && m.len() > 0 {
                return Some(p);
            }
            if m.is_dir() {
                stack.push(p);
            }
        }
    }
    None
}

#[test]
fn an_s3_destination_from_fields_runs_a_job_with_a_local_one() {
    let Some(server) = S3Server::start() else { return };
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_tree(&src, 100_000);
    let c = cairn_at(t.path(), "catalog.sqlite").s3_credentials(&server);
    let created = c
        .run([
            "--json",
            "destination",
            "create",
            "--name",
            "bucket",
            "--type",
            "s3",
            "--endpoint",
            &server.endpoint,
            "--bucket",
            &server.bucket,
            "--region",
            "us-east-1",
            "--backup-dir",
            "laptop",
            "--export-config",
        ])
        .ok()
        .json();
    let steps: Vec<&str> =
        created["test"]["steps"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert!(steps.contains(&"write a probe") && steps.contains(&"initialise a repository"), "{steps:?}");
    // The catalog keeps no secret in the clear: the secret key is not in the database file.
    let db = fs::read(t.path().join("catalog.sqlite")).unwrap();
    assert!(!db.windows(server.secret_key.len()).any(|w| w == server.secret_key.as_bytes()));
    local(&c, "disk", &t.path().join("disk"));
    c.run(["job", "create", "--name", "both", "--source", s(&src), "--destination", "disk", "--destination", "bucket"])
        .ok();
    let run = c.run(["--json", "job", "run", "both"]).ok().json();
    assert_eq!(run["status"], "succeeded", "{run}");
    c.run(["catalog", "export", "bucket"]).ok();
    let objects = c.run(["--json", "destination", "browse", "bucket"]).ok().json();
    let paths: Vec<&str> = objects.as_array().unwrap().iter().map(|o| o["path"].as_str().unwrap()).collect();
    assert!(paths.contains(&"cairn-owner.json") && paths.iter().any(|p| p.starts_with("cairn-config/")), "{paths:?}");
    let out = t.path().join("out");
    c.run(["restore", &format!("latest:{}", s(&src)), "--destination", "bucket", "--target", s(&out)]).ok();
    assert!(diff_trees(&src, &out).is_empty());

    // An archive larger than a single PUT (64 MiB) goes up as a multipart upload from a spooled
    // file and comes back in ranged reads, never whole in memory.
    let large = t.path().join("large");
    make_tree(&large, 70 << 20);
    c.run([
        "job",
        "create",
        "--name",
        "tgz",
        "--source",
        s(&large),
        "--destination",
        "bucket",
        "--structure",
        "compressed",
    ])
    .ok();
    let run = c.run(["--json", "job", "run", "tgz"]).ok().json();
    assert_eq!(run["status"], "succeeded", "{run}");
    let archives = c.run(["--json", "archive", "list", "--destination", "bucket"]).ok().json();
    assert!(archives[0]["size"].as_u64().unwrap() > 70 << 20, "{archives}");
    let out = t.path().join("out-archive");
    c.run(["archive", "restore", "latest", "--job", "tgz", "--destination", "bucket", "--target", s(&out)]).ok();
    assert_extracted(&large, &out);
}

#[test]
fn an_sftp_destination_from_fields_pins_its_host_key_and_holds_archives() {
    let Some(server) = cairn_e2e::servers::SshServer::start() else { return };
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    // Large enough that the archive is written and read in several pieces.
    make_tree(&src, 9 << 20);
    let c = cairn_at(t.path(), "catalog.sqlite");
    let dir = server.root.join("catalog-dest");
    let key = server.client_key.display().to_string();
    let create = |fingerprint: &str| {
        let auth = ["--ssh-key", &key, "--accept-host-key", fingerprint, "--backup-dir", s(&dir)];
        c.run(["--json".to_string()].into_iter().chain(sftp_create_args(&server)).chain(auth.map(String::from)))
    };
    // A wrong pinned host key is refused and nothing is saved; the right one is stored.
    let wrong = create("SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    assert_ne!(wrong.code, 0);
    assert!(c.run(["--json", "destination", "list"]).ok().json().as_array().unwrap().is_empty());
    let created = create(&server.fingerprint).ok().json();
    assert_eq!(created["test"]["ok"], true, "{created}");
    assert!(created["url"].as_str().unwrap().contains("host-key=SHA256%3A"), "{created}");
    let listed = c.run(["--json", "destination", "list"]).ok().json();
    assert!(listed[0]["disk"]["free_bytes"].as_u64().unwrap() > 0, "statvfs over SFTP: {listed}");
    c.run(["job", "create", "--name", "tgz", "--source", s(&src), "--destination", "nas", "--structure", "compressed"])
        .ok();
    c.run(["job", "run", "tgz"]).ok();
    let archives = c.run(["--json", "archive", "list", "--destination", "nas"]).ok().json();
    assert_eq!(archives.as_array().unwrap().len(), 1, "{archives}");
    let out = t.path().join("out");
    c.run(["archive", "restore", "latest", "--destination", "nas", "--target", s(&out)]).ok();
    assert_extracted(&src, &out);
    let objects = c.run(["--json", "destination", "browse", "nas"]).ok().json();
    assert!(objects.as_array().unwrap().iter().any(|o| o["path"].as_str().unwrap().starts_with("cairn-archives/")));
}

#[test]
fn an_sftp_backup_directory_the_account_may_not_write_is_refused_by_the_test() {
    let Some(server) = cairn_e2e::servers::SshServer::start_with_passwords() else { return };
    let t = tempfile::tempdir().unwrap();
    let c = cairn_at(t.path(), "catalog.sqlite").env("CAIRN_SSH_PASSWORD", cairn_e2e::servers::PASSWORD);
    let create = |dir: &str| {
        let auth = ["--accept-host-key", server.fingerprint.as_str(), "--backup-dir", dir];
        c.run(sftp_create_args(&server).into_iter().chain(auth.map(String::from)))
    };
    // The test account cannot write under /root: the Test says so, naming the directory, and
    // nothing is saved.
    let refused = create("/root/cairn-forbidden");
    assert_ne!(refused.code, 0);
    assert!(
        refused.stderr.contains("/root/cairn-forbidden") && refused.stderr.to_lowercase().contains("permission denied"),
        "{}",
        refused.stderr
    );
    assert!(c.run(["--json", "destination", "list"]).ok().json().as_array().unwrap().is_empty());
    // A directory that does not exist yet (in a writable place) is created by the Test.
    let fresh = server.root.join("new/deeper/backups");
    let created = create(s(&fresh));
    assert_eq!(created.code, 0, "{}", created.stderr);
    assert!(fresh.join("config").is_file());
}

#[test]
fn job_create_help_groups_its_options_before_the_global_ones() {
    let t = tempfile::tempdir().unwrap();
    let help = cairn_at(t.path(), "catalog.sqlite").run(["job", "create", "--help"]).ok().stdout;
    let at = |s: &str| help.find(s).unwrap_or_else(|| panic!("{s:?} missing from:\n{help}"));
    let headings = ["What to back up:", "When:", "Retention:", "Hooks:", "Global options:"];
    for pair in headings.windows(2) {
        assert!(at(pair[0]) < at(pair[1]), "{pair:?} out of order:\n{help}");
    }
    // Each option under its heading.
    for (option, heading, next) in [
        ("--source", "What to back up:", "When:"),
        ("--schedule", "When:", "Retention:"),
        ("--keep-daily", "Retention:", "Hooks:"),
        ("--pre-hook", "Hooks:", "Global options:"),
    ] {
        assert!(at(heading) < at(option) && at(option) < at(next), "{option} not under {heading}:\n{help}");
    }
    assert!(at("Global options:") < at("--catalog"), "{help}");
}
