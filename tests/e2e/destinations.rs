//! The catalog's destinations from the CLI: create (tested and initialised at once), use with
//! --destination, secrets kept sealed and never printed unless asked.

use std::fs;

use cairn_e2e::servers::S3Server;
use cairn_e2e::{diff_trees, make_tree};

use crate::{cairn_home, s};

#[test]
fn a_local_destination_is_created_tested_and_used_by_name() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_tree(&src, 200_000);
    let c = cairn_home(t.path());
    let repo = t.path().join("repo");
    let created = c.run(["--json", "destination", "create", "--name", "usb-disk", "--url", s(&repo)]).ok().json();
    assert_eq!(created["test"]["ok"], true, "{created}");
    assert!(repo.join("config").is_file(), "initialised by the test");
    c.run(["backup", "--destination", "usb-disk", s(&src)]).ok();
    let out = t.path().join("out");
    c.run(["restore", "--destination", "usb-disk", &format!("latest:{}", s(&src)), "--target", s(&out)]).ok();
    assert!(diff_trees(&src, &out).is_empty());
    let listed = c.run(["--json", "destination", "list"]).ok().json();
    assert_eq!(listed[0]["name"], "usb-disk");
    assert_eq!(listed[0]["last_test"]["ok"], true);
    // The list's snapshot count follows backups, forgets and repairs done by command.
    assert_eq!(listed[0]["snapshots"], 1, "{listed}");
    let count = || c.run(["--json", "destination", "list"]).ok().json()[0]["snapshots"].clone();
    let second = c.run(["--json", "backup", "--destination", "usb-disk", s(&src)]).ok().json();
    assert_eq!(count(), 2);
    c.run(["forget", "--destination", "usb-disk", second["snapshot_id"].as_str().unwrap()]).ok();
    assert_eq!(count(), 1);
    c.run(["backup", "--destination", "usb-disk", s(&src)]).ok();
    c.run(["forget", "--destination", "usb-disk", "--keep-last", "1"]).ok();
    assert_eq!(count(), 1);
    // The password is shown only when asked, and it opens the repository directly.
    let plain = c.run(["--json", "destination", "get", "usb-disk"]).ok().json();
    assert!(plain["password"].is_null());
    let got = c.run(["--json", "destination", "get", "usb-disk", "--show-password"]).ok().json();
    let password = got["password"].as_str().unwrap().to_string();
    assert_eq!(password.len(), 64);
    c.clone().env("CAIRN_PASSWORD", &password).run(["snapshots", "--repo", s(&repo)]).ok();
    // Names are unique; --destination and --repo do not mix; a missing name says how to list.
    let dup = c.run(["destination", "create", "--name", "usb-disk", "--url", s(&t.path().join("x"))]);
    assert!(dup.stderr.contains("exists already"), "{}", dup.stderr);
    c.run(["snapshots", "--destination", "usb-disk", "--repo", s(&repo)]).code(2);
    let missing = c.run(["snapshots", "--destination", "nope"]);
    assert!(missing.stderr.contains("cairn destination list"), "{}", missing.stderr);
    c.run(["destination", "disable", "usb-disk"]).ok();
    assert_eq!(c.run(["--json", "destination", "list"]).ok().json()[0]["enabled"], false);
    c.run(["destination", "delete", "usb-disk"]).ok();
    assert!(repo.join("config").is_file(), "the repository stays");
}

#[test]
fn an_s3_destination_keeps_its_secret_key_sealed_in_the_catalog() {
    let Some(server) = S3Server::start() else { return };
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_tree(&src, 200_000);
    let c = cairn_home(t.path());
    let url = format!("s3:{}/{}/laptop", server.endpoint, server.bucket);
    c.clone().s3_credentials(&server).run(["destination", "create", "--name", "s3", "--url", &url]).ok();
    // Later runs need no credentials in the environment: the catalog has them.
    c.run(["backup", "--destination", "s3", s(&src)]).ok();
    c.run(["check", "--destination", "s3", "--read-data"]).ok();
    let listing = c.run(["--json", "destination", "list"]).ok();
    assert!(!listing.stdout.contains(&server.secret_key));
    let catalog = t.path().join("home/.local/share/cairn/catalog.sqlite");
    let mut bytes = fs::read(&catalog).unwrap();
    bytes.extend(fs::read(catalog.with_extension("sqlite-wal")).unwrap_or_default());
    let secret = server.secret_key.as_bytes();
    assert!(!bytes.windows(secret.len()).any(|w| w == secret), "the S3 secret key is stored in clear");
}
