//! Concurrency (issue 9): many `cairn backup` processes of different sources into one
//! repository at once, on S3 and over SFTP, with a `forget --prune` started in the middle
//! (it waits for the backups' shared locks, and the backups started after it wait for its
//! exclusive one). Every process succeeds, the check passes, and every snapshot left restores
//! byte-identical.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

use cairn_e2e::servers::{S3Server, SshServer};
use cairn_e2e::{Cairn, diff_trees, random_bytes, text_bytes};

use super::{Rng, full, report};
use crate::{cairn, init_args, s};

fn source(dir: &Path, rng: &mut Rng) {
    std::fs::create_dir_all(dir.join("docs")).unwrap();
    for i in 0..3 {
        std::fs::write(dir.join(format!("data-{i}.bin")), random_bytes(rng.next(), 400_000 + i * 1000)).unwrap();
    }
    for i in 0..20 {
        std::fs::write(dir.join(format!("docs/n{i:02}.txt")), text_bytes(rng.next(), 1000 + i * 53)).unwrap();
    }
    // Shared with every other source: deduplicated across concurrent backups.
    std::fs::write(dir.join("shared.bin"), random_bytes(42, 600_000)).unwrap();
}

fn campaign(name: &str, c: &Cairn, repo: &str, extra: &[String], work: &Path, salt: u64) {
    let (mut rng, seed) = Rng::seeded(salt);
    let n = if full() { 12 } else { 4 };
    let args = |a: &[&str]| -> Vec<String> {
        ["--retry-lock", "5m", "--repo", repo]
            .iter()
            .chain(a)
            .map(|x| x.to_string())
            .chain(extra.iter().cloned())
            .collect()
    };
    let spawn =
        |a: Vec<String>| -> Child { c.command(a).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap() };
    // Something for the prune to remove: an older snapshot of each source.
    let sources: Vec<PathBuf> = (0..n).map(|i| work.join(format!("src-{i:02}"))).collect();
    for src in &sources {
        source(src, &mut rng);
    }
    c.run(args(&["backup", s(&sources[0])])).ok();
    let mut children = Vec::new();
    for (i, src) in sources.iter().enumerate() {
        if i == n / 2 {
            children.push(("forget --prune".to_string(), spawn(args(&["forget", "--keep-last", "1", "--prune"]))));
        }
        children.push((format!("backup {}", src.display()), spawn(args(&["backup", s(src)]))));
    }
    for (what, child) in children {
        let r = cairn_e2e::finish(child.wait_with_output().unwrap());
        assert_eq!(r.code, 0, "{name}: {what} failed: {}", r.stderr);
        r.no_panic();
    }
    c.run(args(&["check", "--read-data"])).ok();
    let snaps = c.run(args(&["--json", "snapshots"])).ok().json();
    let mut restored = 0;
    for snap in snaps.as_array().unwrap() {
        let (id, path) = (snap["id"].as_str().unwrap(), snap["paths"][0].as_str().unwrap());
        let out = work.join("restored");
        let _ = std::fs::remove_dir_all(&out);
        c.run(args(&["restore", &format!("{id}:{path}"), "--target", s(&out)])).ok();
        let diffs = diff_trees(Path::new(path), &out);
        assert!(diffs.is_empty(), "{name}: snapshot {id} of {path} differs: {diffs:?}");
        restored += 1;
    }
    assert!(restored >= n, "{name}: {restored} snapshots for {n} sources");
    report(
        &format!("concurrency-{name}"),
        &[
            ("seed", seed.to_string()),
            ("concurrent_backups", n.to_string()),
            ("prunes_in_the_middle", "1".into()),
            ("snapshots_restored", restored.to_string()),
        ],
    );
}

#[test]
fn campaign_concurrent_backups_and_a_prune_on_s3() {
    let Some(server) = S3Server::start() else { return };
    let w = tempfile::tempdir().unwrap();
    let repo = format!("s3:{}/{}/shared?region=us-east-1", server.endpoint, server.bucket);
    let c = cairn(w.path()).s3_credentials(&server);
    c.run(init_args(&repo, 1)).ok();
    campaign("s3", &c, &repo, &[], w.path(), 31);
}

#[test]
fn campaign_concurrent_backups_and_a_prune_over_sftp() {
    let Some(server) = SshServer::start() else { return };
    let w = tempfile::tempdir().unwrap();
    let (repo, extra) = (server.repo_url("shared"), server.client_args());
    let c = cairn(w.path());
    c.run(init_args(&repo, 1).into_iter().chain(extra.iter().cloned())).ok();
    campaign("sftp", &c, &repo, &extra, w.path(), 32);
}
