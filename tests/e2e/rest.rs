//! The restic REST server destination end to end: the real `cairn` binary against
//! `rclone serve restic`, normal and append-only, started on 127.0.0.1 for each test.

use std::fs;

use cairn_e2e::servers::RestServer;
use cairn_e2e::{diff_trees, make_tree};

use crate::{cairn, destination_cycle, init_args, s};

#[test]
fn backup_restore_check_and_prune_on_a_rest_server() {
    let Some(server) = RestServer::start(false) else { return };
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_tree(&src, 3_000_000);
    let repo = format!("rest:http://{}@127.0.0.1:{}/laptop", server.user, server.port);
    let c = cairn(t.path()).env("CAIRN_REST_PASSWORD", &server.password);
    let init = c.run([&["--json".to_string()][..], &init_args(&repo, 1)[..]].concat()).ok().json();
    assert_eq!(init["repository"], format!("rest:http://cairn@127.0.0.1:{}/laptop", server.port));
    assert!(server.data.join("laptop/config").is_file());
    destination_cycle(&c, &repo, &[], &src, &t.path().join("restored"));

    // A wrong password says so, and is never printed.
    let wrong = cairn(t.path()).env("CAIRN_REST_PASSWORD", "not-it").run(["snapshots", "--repo", &repo]);
    assert_ne!(wrong.code, 0);
    assert!(wrong.stderr.contains("user name or password"), "{}", wrong.stderr);
    assert!(!wrong.stderr.contains("not-it") && !wrong.stdout.contains(&server.password));
}

#[test]
fn an_append_only_server_takes_backups_and_refuses_forget_before_changing_anything() {
    let Some(server) = RestServer::start(true) else { return };
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_tree(&src, 500_000);
    let repo = format!("rest:http://{}@127.0.0.1:{}/locked", server.user, server.port);
    let c = cairn(t.path()).env("CAIRN_REST_PASSWORD", &server.password);
    c.run(init_args(&repo, 1)).ok();
    let first = c.run(["--json", "backup", "--repo", &repo, s(&src)]).ok().json();
    c.run(["backup", "--repo", &repo, s(&src)]).ok();
    c.run(["check", "--repo", &repo, "--read-data"]).ok();
    for args in [
        vec!["forget", "--repo", &repo, first["snapshot_id"].as_str().unwrap()],
        vec!["forget", "--repo", &repo, "--keep-last", "1", "--prune"],
        vec!["prune", "--repo", &repo],
    ] {
        let refused = c.run(&args);
        assert_ne!(refused.code, 0, "{args:?}");
        assert!(refused.stderr.contains("append-only"), "{args:?}: {}", refused.stderr);
    }
    // Nothing was removed; a dry run still works; no lock is left behind.
    let snaps = c.run(["--json", "snapshots", "--repo", &repo]).ok().json();
    assert_eq!(snaps.as_array().unwrap().len(), 2);
    c.run(["forget", "--repo", &repo, "--keep-last", "1", "--dry-run"]).ok();
    assert_eq!(fs::read_dir(server.data.join("locked/locks")).unwrap().count(), 0);
    let out = t.path().join("restored");
    c.run(["restore", &format!("latest:{}", s(&src)), "--repo", &repo, "--target", s(&out)]).ok();
    assert!(diff_trees(&src, &out).is_empty());
}
