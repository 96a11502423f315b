//! The rclone bridge end to end: the real `cairn` binary reaching a repository through a child
//! `rclone serve restic --stdio`, on an rclone `local` remote and on an `s3` remote that points
//! at the s3s-fs test server, both set up in an rclone configuration file of the test's own.

use cairn_e2e::make_tree;
use cairn_e2e::servers::{S3Server, rclone, rclone_config};

use crate::{cairn, cairn_home, destination_cycle, init_args, s};

#[test]
fn backup_restore_check_and_prune_through_rclone_on_a_local_and_an_s3_remote() {
    let Some(program) = rclone() else { return };
    let Some(server) = S3Server::start() else { return };
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_tree(&src, 3_000_000);
    let config = rclone_config(t.path(), Some(&server));
    let c = cairn(t.path()).env("RCLONE_CONFIG", s(&config)).env("CAIRN_RCLONE", s(&program));

    // A local remote: the repository is a folder, filed as a REST server files it.
    let folder = t.path().join("drive/Backups/laptop");
    let repo = format!("rclone:cairnlocal:{}", folder.display());
    let init = c.run([&["--json".to_string()][..], &init_args(&repo, 1)[..]].concat()).ok().json();
    assert_eq!(init["repository"], repo);
    assert!(folder.join("config").is_file());
    destination_cycle(&c, &repo, &[], &src, &t.path().join("restored-local"));

    // An S3 remote, at the test server (which checks rclone's signatures). At the bucket's top:
    // rclone first asks whether a path in a bucket is an object, and s3s-fs answers that with
    // a 500 for a folder, which rclone retries for half a minute at every start.
    std::fs::remove_file(src.join("docs/added-by-the-second-backup.txt")).unwrap();
    let repo = format!("rclone:s3fs:{}", server.bucket);
    c.run(init_args(&repo, 1)).ok();
    assert!(server.data.join(&server.bucket).join("config").is_file());
    destination_cycle(&c, &repo, &[], &src, &t.path().join("restored-s3"));
}

#[test]
fn an_rclone_destination_made_field_by_field_is_tested_and_used() {
    let Some(program) = rclone() else { return };
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_tree(&src, 200_000);
    let config = rclone_config(t.path(), None);
    let c = cairn_home(t.path()).env("RCLONE_CONFIG", s(&config)).env("CAIRN_RCLONE", s(&program));
    let folder = t.path().join("drive/cairn");
    let created = c
        .run([
            "--json",
            "destination",
            "create",
            "--name",
            "drive",
            "--type",
            "rclone",
            "--remote",
            "cairnlocal",
            "--backup-dir",
            s(&folder),
        ])
        .ok()
        .json();
    assert_eq!(created["test"]["ok"], true, "{created}");
    assert_eq!(created["test"]["initialised"], true, "{created}");
    assert!(folder.join("config").is_file());
    c.run(["backup", "--destination", "drive", s(&src)]).ok();
    c.run(["check", "--destination", "drive", "--read-data"]).ok();
    let out = t.path().join("out");
    c.run(["restore", &format!("latest:{}", s(&src)), "--destination", "drive", "--target", s(&out)]).ok();
    assert!(cairn_e2e::diff_trees(&src, &out).is_empty());
    let listed = c.run(["--json", "destination", "get", "drive"]).ok().json();
    assert_eq!(listed["kind"], "rclone", "{listed}");

    // What goes wrong says what to do: an unknown remote (in rclone's words), no rclone at all.
    let unknown = c.run(["snapshots", "--repo", "rclone:nosuchremote:x"]);
    assert_ne!(unknown.code, 0);
    assert!(unknown.stderr.contains("rclone said") && unknown.stderr.contains("nosuchremote"), "{}", unknown.stderr);
    let missing =
        c.clone().env("CAIRN_RCLONE", s(&t.path().join("no-rclone"))).run(["snapshots", "--destination", "drive"]);
    assert_ne!(missing.code, 0);
    assert!(missing.stderr.contains("install rclone"), "{}", missing.stderr);
    // Options that could carry credentials are refused in the URL.
    let opts = c.run(["snapshots", "--repo", "rclone::s3,secret_access_key=abc:bucket"]);
    assert!(opts.stderr.contains("credentials") && !opts.stderr.contains("abc"), "{}", opts.stderr);
}
