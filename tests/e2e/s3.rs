//! The S3 destination end to end: the real `cairn` binary against a real S3-compatible server
//! that verifies SigV4 signatures (s3s-fs), started on 127.0.0.1 for each test.

use std::fs;

use cairn_e2e::servers::S3Server;
use cairn_e2e::{diff_trees, make_tree};

use crate::{cairn, destination_cycle, init_args, s};

#[test]
fn backup_restore_check_and_prune_on_an_s3_server() {
    let Some(server) = S3Server::start() else { return };
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_tree(&src, 3_000_000);
    let repo = format!("s3:{}/{}/backups/laptop?region=us-east-1", server.endpoint, server.bucket);
    let c = cairn(t.path()).s3_credentials(&server);
    let init = c.run([&["--json".to_string()][..], &init_args(&repo, 1)[..]].concat()).ok().json();
    assert_eq!(init["repository"], format!("s3:{}/{}/backups/laptop", server.endpoint, server.bucket));
    // The objects are where the format says, under the backup directory of the bucket.
    assert!(server.data.join(&server.bucket).join("backups/laptop/config").is_file());
    destination_cycle(&c, &repo, &[], &src, &t.path().join("restored"));

    // A wrong secret key gets the wrong-secret-key message, and no secret is printed.
    let wrong = cairn(t.path())
        .env("AWS_ACCESS_KEY_ID", &server.access_key)
        .env("AWS_SECRET_ACCESS_KEY", "definitely-not-the-secret")
        .run(["snapshots", "--repo", &repo]);
    assert_ne!(wrong.code, 0);
    assert!(wrong.stderr.contains("check the secret key"), "{}", wrong.stderr);
    for output in [&wrong.stdout, &wrong.stderr] {
        assert!(!output.contains("definitely-not-the-secret") && !output.contains(&server.secret_key));
    }
    // Or from flags: the access key, and the secret key from a file only the user can read.
    let secret_file = t.path().join("s3.secret");
    fs::write(&secret_file, format!("{}\n", server.secret_key)).unwrap();
    fs::set_permissions(&secret_file, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let flags = ["--s3-access-key", &server.access_key, "--s3-secret-key-file", s(&secret_file)];
    cairn(t.path()).run([&["snapshots", "--repo", &repo][..], &flags[..]].concat()).ok();
    // No credentials: says which variable to set.
    let none = cairn(t.path()).run(["snapshots", "--repo", &repo]).code(2);
    assert!(none.stderr.contains("AWS_ACCESS_KEY_ID"), "{}", none.stderr);
    // A bucket that does not exist, and a bad directory, are named.
    let nobucket = format!("s3:{}/no-such-bucket/x", server.endpoint);
    let r = c.run(["snapshots", "--repo", &nobucket]);
    assert!(r.stderr.contains("bucket no-such-bucket does not exist"), "{}", r.stderr);
    let bad = c.run(["snapshots", "--repo", &format!("s3:{}/{}/my_dir", server.endpoint, server.bucket)]).code(2);
    assert!(bad.stderr.contains("'_'"), "{}", bad.stderr);
}

#[test]
fn a_backup_through_a_faulty_network_completes_intact() {
    use cairn_e2e::servers::{Fault, FaultProxy};
    use std::time::Duration;
    let Some(server) = S3Server::start() else { return };
    let faults = vec![
        Fault::Reset,
        Fault::SlowDown,
        Fault::Truncate,
        Fault::Stall(Duration::from_millis(2500)),
        Fault::InternalError,
    ];
    let proxy = FaultProxy::start(server.port, 4, faults);
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_tree(&src, 2_000_000);
    let repo = format!("s3:http://127.0.0.1:{}/{}/flaky?retries=4&stall-timeout=1", proxy.port, server.bucket);
    let c = cairn(t.path()).s3_credentials(&server);
    c.run(init_args(&repo, 1)).ok();
    c.run(["backup", "--repo", &repo, s(&src)]).ok();
    c.run(["check", "--repo", &repo, "--read-data"]).ok();
    let out = t.path().join("restored");
    c.run(["restore", &format!("latest:{}", s(&src)), "--repo", &repo, "--target", s(&out)]).ok();
    let diffs = diff_trees(&src, &out);
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
    let requests = proxy.requests.load(std::sync::atomic::Ordering::SeqCst);
    println!("fault injection: {} faults in {requests} requests; backup, check and restore all intact", proxy.faults());
    assert!(proxy.faults() >= 10, "{} faults", proxy.faults());
}
