//! The FTP destination end to end: the real `cairn` binary against Debian's pure-ftpd, started
//! on 127.0.0.1 for each test.

use cairn_e2e::make_tree;
use cairn_e2e::servers::{FTP_PASSWORD, FtpServer};

use crate::{cairn, cairn_home, destination_cycle, init_args, s};

#[test]
fn backup_restore_check_and_prune_on_an_ftps_server() {
    let Some(server) = FtpServer::start(true) else { return };
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_tree(&src, 3_000_000);
    // ftps:// (TLS required); the test server's certificate is self-signed.
    let repo = server.repo_url("backups/laptop", "verify-tls=false").replacen("ftp://", "ftps://", 1);
    let c = cairn(t.path()).env("CAIRN_FTP_PASSWORD", FTP_PASSWORD);
    c.run(init_args(&repo, 1)).ok();
    assert!(server.home.join("backups/laptop/config").is_file());
    destination_cycle(&c, &repo, &[], &src, &t.path().join("restored"));

    // A wrong password says so, and is never printed.
    let wrong = cairn(t.path()).env("CAIRN_FTP_PASSWORD", "not-it-at-all").run(["snapshots", "--repo", &repo]);
    assert_ne!(wrong.code, 0);
    assert!(wrong.stderr.contains("refused the login") && !wrong.stderr.contains("not-it-at-all"), "{}", wrong.stderr);
    // The self-signed certificate is refused when it is checked.
    let checked = server.repo_url("backups/laptop", "");
    let refused = c.run(["snapshots", "--repo", &checked]);
    assert!(refused.stderr.contains("not trusted") && refused.stderr.contains("verify"), "{}", refused.stderr);
    // A password in the URL is refused.
    let in_url = c.run(["snapshots", "--repo", &format!("ftp://cairn:pw@localhost:{}/x", server.port)]);
    assert!(in_url.stderr.contains("CAIRN_FTP_PASSWORD"), "{}", in_url.stderr);
}

#[test]
fn an_ftp_destination_made_field_by_field_keeps_its_password_sealed() {
    let Some(server) = FtpServer::start(true) else { return };
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_tree(&src, 200_000);
    let c = cairn_home(t.path());
    let port = server.port.to_string();
    let created = c
        .clone()
        .env("CAIRN_FTP_PASSWORD", FTP_PASSWORD)
        .run([
            "--json",
            "destination",
            "create",
            "--name",
            "ftp",
            "--type",
            "ftp",
            "--host",
            "localhost",
            "--port",
            &port,
            "--user",
            &server.user,
            "--backup-dir",
            "nested/folder",
            "--no-verify-tls",
        ])
        .ok()
        .json();
    let steps = created["test"]["steps"].as_array().unwrap();
    assert!(steps.iter().any(|st| st["detail"] == "over TLS"), "{created}");
    c.run(["backup", "--destination", "ftp", s(&src)]).ok();
    c.run(["check", "--destination", "ftp", "--read-data"]).ok();
    let out = t.path().join("out");
    c.run(["restore", &format!("latest:{}", s(&src)), "--destination", "ftp", "--target", s(&out)]).ok();
    assert!(cairn_e2e::diff_trees(&src, &out).is_empty());
    assert!(server.home.join("nested/folder/config").is_file());
    let catalog = t.path().join("home/.local/share/cairn/catalog.sqlite");
    let mut bytes = std::fs::read(&catalog).unwrap();
    bytes.extend(std::fs::read(catalog.with_extension("sqlite-wal")).unwrap_or_default());
    let pw = FTP_PASSWORD.as_bytes();
    assert!(!bytes.windows(pw.len()).any(|w| w == pw), "the password is stored in clear");
}
