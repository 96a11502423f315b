//! The SFTP destination end to end: the real `cairn` binary against a real OpenSSH `sshd`
//! started for each test with its own host key, authorized key and config.

use std::fs;
use std::time::{Duration, Instant};

use cairn_e2e::servers::SshServer;
use cairn_e2e::{diff_trees, make_tree};

use crate::{cairn, destination_cycle, init_args, s};

#[test]
fn backup_restore_check_and_prune_over_sftp() {
    let Some(server) = SshServer::start() else { return };
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_tree(&src, 3_000_000);
    let repo = server.repo_url("repo");
    let c = cairn(t.path());
    let ssh = server.client_args();
    c.run(init_args(&repo, 1).into_iter().chain(ssh.iter().cloned())).ok();
    destination_cycle(&c, &repo, &ssh, &src, &t.path().join("restored"));

    // An unknown host: refused with its fingerprint and the flag that accepts it.
    let empty = t.path().join("empty_known_hosts");
    fs::write(&empty, "").unwrap();
    let key = server.client_key.display().to_string();
    let args = ["snapshots", "--repo", &repo, "--ssh-key", &key, "--known-hosts", s(&empty)];
    let refused = c.run(args);
    assert_ne!(refused.code, 0);
    assert!(refused.stderr.contains(&format!("--accept-host-key {}", server.fingerprint)), "{}", refused.stderr);
    c.run([&args[..], &["--accept-host-key", &server.fingerprint][..]].concat()).ok();
}

#[test]
fn a_server_that_disappears_mid_backup_leaves_a_repository_the_next_backup_completes() {
    let Some(mut server) = SshServer::start() else { return };
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    fs::create_dir_all(&src).unwrap();
    for i in 0..40u64 {
        fs::write(src.join(format!("f{i:02}")), cairn_e2e::random_bytes(i + 1, 2_000_000)).unwrap();
    }
    let repo = server.repo_url("interrupted");
    let c = cairn(t.path());
    let ssh = server.client_args();
    let with_ssh =
        |args: &[&str]| -> Vec<String> { args.iter().map(|a| a.to_string()).chain(ssh.iter().cloned()).collect() };
    c.run(init_args(&repo, 1).into_iter().chain(ssh.iter().cloned())).ok();
    let mut backup = c.command(with_ssh(&["backup", "--repo", &repo, "--no-progress", s(&src)])).spawn().unwrap();
    // Stop the server once some packs are up.
    let data = server.root.join("interrupted/data");
    let start = Instant::now();
    let complete_packs = || {
        fs::read_dir(&data)
            .map(|subdirs| {
                subdirs
                    .flatten()
                    .flat_map(|d| fs::read_dir(d.path()).into_iter().flatten().flatten())
                    .filter(|f| f.file_name().len() == 64)
                    .count()
            })
            .unwrap_or(0)
    };
    while complete_packs() < 8 && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(10));
    }
    server.stop();
    let status = backup.wait().unwrap();
    assert!(!status.success(), "the backup cannot have finished without its server");
    server.restart();
    // The next backup completes, reusing what was uploaded; the repository checks clean.
    let done = c.run(with_ssh(&["--json", "backup", "--repo", &repo, s(&src)])).ok().json();
    let st = &done["stats"];
    let reuploaded = st["bytes_added_raw"].as_f64().unwrap() / st["bytes_total"].as_f64().unwrap();
    println!("after the interruption: re-upload ratio {reuploaded:.2} ({} packs adopted)", st["packs_adopted"]);
    // What was uploaded before the server went away (indexed, or adopted) is not sent again.
    assert!(reuploaded < 0.95, "{st}");
    c.run(with_ssh(&["check", "--repo", &repo, "--read-data"])).ok();
    let out = t.path().join("restored");
    c.run(with_ssh(&["restore", &format!("latest:{}", s(&src)), "--repo", &repo, "--target", s(&out)])).ok();
    assert!(diff_trees(&src, &out).is_empty());
}

#[test]
fn a_destination_update_changes_only_the_fields_given_and_keeps_them_if_its_test_fails() {
    let Some(server) = SshServer::start() else { return };
    let t = tempfile::tempdir().unwrap();
    let c = cairn(t.path());
    let key = server.client_key.display().to_string();
    let dir = server.root.join("nas").display().to_string();
    let wrong = cairn_e2e::servers::free_port().to_string();
    c.run([
        "destination",
        "create",
        "--name",
        "nas",
        "--type",
        "sftp",
        "--host",
        "127.0.0.1",
        "--port",
        &wrong,
        "--user",
        &server.user,
        "--backup-dir",
        &dir,
        "--ssh-key",
        &key,
        "--accept-host-key",
        &server.fingerprint,
        "--retries",
        "2",
        "--skip-test",
    ])
    .ok();
    let url = || c.run(["--json", "destination", "get", "nas"]).ok().json()["url"].as_str().unwrap().to_string();
    let before = url();
    // Only the port changes (the README's example): the key, the host key and the retries stay,
    // and the Test with the new port passes.
    let port = server.port.to_string();
    let updated = c.run(["--json", "destination", "update", "nas", "--port", &port]).ok().json();
    assert_eq!(updated["saved"], true, "{updated}");
    let after = url();
    assert_eq!(after, before.replace(&format!(":{wrong}/"), &format!(":{port}/")), "{before} -> {after}");
    assert!(after.contains("key=") && after.contains("host-key=") && after.contains("retries=2"), "{after}");
    // A field that makes the Test fail: nothing changes.
    let failed = c.run(["destination", "update", "nas", "--user", "nobody-here"]);
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    assert!(failed.stderr.contains("keeps its previous settings"), "{}", failed.stderr);
    assert_eq!(url(), after);
    // The same type given again keeps the other fields too.
    c.run(["destination", "update", "nas", "--type", "sftp", "--retries", "3"]).ok();
    assert_eq!(url(), after.replace("retries=2", "retries=3"));
}
