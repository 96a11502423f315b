//! The WebDAV destination end to end: the real `cairn` binary against `rclone serve webdav`,
//! started on 127.0.0.1 for each test.

use cairn_e2e::make_tree;
use cairn_e2e::servers::WebDavServer;

use crate::{cairn, cairn_home, destination_cycle, init_args, s};

#[test]
fn backup_restore_check_and_prune_on_a_webdav_server() {
    let Some(server) = WebDavServer::start() else { return };
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_tree(&src, 3_000_000);
    let repo = server.repo_url("backups/laptop");
    let c = cairn(t.path()).env("CAIRN_WEBDAV_PASSWORD", &server.password);
    c.run(init_args(&repo, 1)).ok();
    assert!(server.data.join("backups/laptop/config").is_file());
    destination_cycle(&c, &repo, &[], &src, &t.path().join("restored"));

    // A wrong password says so, and is never printed.
    let wrong = cairn(t.path()).env("CAIRN_WEBDAV_PASSWORD", "not-it-at-all").run(["snapshots", "--repo", &repo]);
    assert_ne!(wrong.code, 0);
    assert!(wrong.stderr.contains("user name or password"), "{}", wrong.stderr);
    // A password in the URL is refused.
    let in_url = c.run(["snapshots", "--repo", &format!("webdav:http://cairn:pw@127.0.0.1:{}/x", server.port)]);
    assert!(in_url.stderr.contains("CAIRN_WEBDAV_PASSWORD"), "{}", in_url.stderr);
}

#[test]
fn a_webdav_destination_made_field_by_field_keeps_its_password_sealed() {
    let Some(server) = WebDavServer::start() else { return };
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_tree(&src, 200_000);
    let c = cairn_home(t.path());
    let port = server.port.to_string();
    c.clone()
        .env("CAIRN_WEBDAV_PASSWORD", &server.password)
        .run([
            "destination",
            "create",
            "--name",
            "dav",
            "--type",
            "webdav",
            "--scheme",
            "http",
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--user",
            &server.user,
            "--backup-dir",
            "/nested/folder",
        ])
        .ok();
    c.run(["backup", "--destination", "dav", s(&src)]).ok();
    c.run(["check", "--destination", "dav", "--read-data"]).ok();
    let out = t.path().join("out");
    c.run(["restore", &format!("latest:{}", s(&src)), "--destination", "dav", "--target", s(&out)]).ok();
    assert!(cairn_e2e::diff_trees(&src, &out).is_empty());
    assert!(server.data.join("nested/folder/config").is_file());
    let catalog = t.path().join("home/.local/share/cairn/catalog.sqlite");
    let mut bytes = std::fs::read(&catalog).unwrap();
    bytes.extend(std::fs::read(catalog.with_extension("sqlite-wal")).unwrap_or_default());
    let pw = server.password.as_bytes();
    assert!(!bytes.windows(pw.len()).any(|w| w == pw), "the password is stored in clear");
}
