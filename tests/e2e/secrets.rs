//! Secrets sweep (issue 9). Every `cairn` run of the end-to-end suite already fails if a
//! secret it was given (passwords, secret keys, passphrases in its environment, the test
//! servers' secrets) shows in its output, unless it was asked to show one
//! (`cairn_e2e::Cairn::run`). This test adds the places that outlive a run: it sets up a
//! destination of every kind with distinctive secrets, uses them (backups, tests, listings,
//! failures with wrong secrets, a job and its history), then reads every byte Cairn left in
//! its home (the catalog and its write-ahead log, caches, logs) and in the repositories: no
//! secret may be there in clear.

use std::path::Path;

use cairn_e2e::servers::{RestServer, S3Server, SshServer};
use cairn_e2e::{Cairn, make_tree};

use crate::campaigns::report;
use crate::{cairn_home, s};

const REPO_PASSWORD: &str = "Zebra-Quartz 9 lantern: the repository password";
const SSH_PASSPHRASE: &str = "Ochre-Walrus 4 kettle: the key passphrase";
const WRONG_REST_PASSWORD: &str = "Violet-Magpie 7 anvil: a wrong password";

/// Every file under `dir` that contains one of `secrets` in clear, with the secret.
fn files_with(dir: &Path, secrets: &[String], scanned: &mut u64) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().filter_map(Result::ok) {
        let path = entry.path();
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            found.extend(files_with(&path, secrets, scanned));
            continue;
        }
        let Ok(bytes) = std::fs::read(&path) else { continue };
        *scanned += 1;
        for secret in secrets {
            if bytes.windows(secret.len()).any(|w| w == secret.as_bytes()) {
                found.push(format!("{} holds {secret:?}", path.display()));
            }
        }
    }
    found
}

#[test]
fn campaign_secrets_never_leave_the_sealed_table() {
    let (Some(s3), Some(rest), Some(ssh)) = (S3Server::start(), RestServer::start(false), SshServer::start()) else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_tree(&src, 300_000);
    let home = cairn_home(t.path());
    let key = ssh.add_client_key("ed25519", SSH_PASSPHRASE);
    let mut outputs = 0u64;
    let mut run = |c: &Cairn, args: &[&str], ok: bool| {
        outputs += 1;
        let r = c.run(args);
        if ok {
            r.ok();
        } else {
            assert_ne!(r.code, 0, "{args:?} should have failed");
            r.no_panic();
        }
    };

    // A destination of each kind, each with its secrets in the environment of its create.
    let local = t.path().join("disk");
    run(
        &home.clone().env("CAIRN_PASSWORD", REPO_PASSWORD),
        &["destination", "create", "--name", "disk", "--url", s(&local)],
        true,
    );
    let s3_url = format!("s3:{}/{}/laptop?access-key={}", s3.endpoint, s3.bucket, s3.access_key);
    run(
        &home.clone().env("AWS_SECRET_ACCESS_KEY", &s3.secret_key),
        &["destination", "create", "--name", "s3", "--url", &s3_url],
        true,
    );
    let rest_url = format!("rest:http://{}@127.0.0.1:{}/laptop", rest.user, rest.port);
    let wrong = home.clone().env("CAIRN_REST_PASSWORD", WRONG_REST_PASSWORD);
    run(&wrong, &["destination", "create", "--name", "rest", "--url", &rest_url], false);
    run(
        &home.clone().env("CAIRN_REST_PASSWORD", &rest.password),
        &["destination", "create", "--name", "rest", "--url", &rest_url],
        true,
    );
    let sftp_url = format!(
        "sftp://{}@127.0.0.1:{}{}?key={}&host-key={}",
        ssh.user,
        ssh.port,
        ssh.root.join("laptop").display(),
        key.display(),
        ssh.fingerprint
    );
    let no_passphrase = home.clone();
    run(&no_passphrase, &["destination", "create", "--name", "sftp", "--url", &sftp_url], false);
    run(
        &home.clone().env("CAIRN_SSH_PASSPHRASE", SSH_PASSPHRASE),
        &["destination", "create", "--name", "sftp", "--url", &sftp_url],
        true,
    );

    // Used: backups, checks, tests, listings, a job and its history, failures.
    let names = ["disk", "s3", "rest", "sftp"];
    for name in names {
        run(&home, &["--json", "backup", "--destination", name, s(&src)], true);
        run(&home, &["check", "--destination", name], true);
        run(&home, &["--json", "destination", "test", name], true);
        run(&home, &["--json", "destination", "get", name], true);
    }
    run(&home, &["--json", "destination", "list"], true);
    run(&home, &["job", "create", "--name", "nightly", "--source", s(&src), "--destination", "s3"], true);
    run(&home, &["job", "run", "nightly"], true);
    run(&home, &["--json", "job", "history", "nightly"], true);
    run(&home.clone().env("CAIRN_PASSWORD", WRONG_REST_PASSWORD), &["snapshots", "--repo", s(&local)], false);

    // The generated repository passwords are secrets too (shown here on purpose).
    let mut secrets: Vec<String> =
        [REPO_PASSWORD, SSH_PASSPHRASE, WRONG_REST_PASSWORD, &s3.secret_key, &rest.password].map(String::from).to_vec();
    for name in names {
        let got = home.run(["--json", "destination", "get", name, "--show-password"]).ok().json();
        secrets.push(got["password"].as_str().unwrap().to_string());
    }
    let kit = home.run(["catalog", "recovery-kit"]).ok();
    secrets.push(kit.stdout.trim().to_string());

    let mut scanned = 0;
    let mut leaks = files_with(&t.path().join("home"), &secrets, &mut scanned);
    for store in [local.clone(), s3.data.clone(), rest.data.clone(), ssh.root.join("laptop")] {
        leaks.extend(files_with(&store, &secrets, &mut scanned));
    }
    assert!(leaks.is_empty(), "secrets in clear:\n{}", leaks.join("\n"));
    report(
        "secrets",
        &[
            ("secrets", secrets.len().to_string()),
            ("outputs_checked", outputs.to_string()),
            ("files_scanned", scanned.to_string()),
            ("leaked", "0".into()),
        ],
    );
}
