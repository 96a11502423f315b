//! kill -9 in the middle of a backup: the repository stays valid and the next backup completes,
//! reusing the packs that were already uploaded.

use std::fs;
use std::time::{Duration, Instant};

use cairn_e2e::{diff_trees, random_bytes};

use crate::{cairn, init, packs, s};

#[test]
fn kill_9_during_backup_never_breaks_the_repository() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    fs::create_dir_all(&src).unwrap();
    for i in 0..40u64 {
        fs::write(src.join(format!("f{i:02}.bin")), random_bytes(i + 1, 1 << 20)).unwrap();
    }
    let total: u64 = 40 << 20;
    let repo = t.path().join("repo");
    let c = cairn(t.path());
    init(&c, &repo, 1);
    fs::create_dir_all(repo.join("data")).unwrap();

    let mut kills = 0;
    for round in 0..5usize {
        let target = 3 + round * 6;
        let mut child = c.command(["backup", "--repo", s(&repo), s(&src)]).spawn().unwrap();
        let start = Instant::now();
        loop {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            if packs(&repo).len() >= target || start.elapsed() > Duration::from_secs(120) {
                child.kill().unwrap(); // SIGKILL
                kills += 1;
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let status = child.wait().unwrap();
        let check = c.run(["--json", "check", "--repo", s(&repo)]).ok().json();
        assert_eq!(check["errors"], 0, "round {round} ({status}): {check}");
    }
    assert!(kills >= 3, "the backup finished before it could be killed: make the data bigger");

    let done = c.run(["--json", "backup", "--repo", s(&repo), s(&src)]).ok().json();
    let added = done["stats"]["bytes_added_raw"].as_u64().unwrap();
    println!(
        "after {kills} kills, the last backup added {added} of {total} bytes ({:.0}% reused)",
        100.0 * (1.0 - added as f64 / total as f64)
    );
    assert!(added < total / 2, "the packs uploaded before the kills were not reused: {done}");
    c.run(["check", "--read-data", "--repo", s(&repo)]).ok();
    let out = t.path().join("out");
    c.run(["restore", &format!("latest:{}", s(&src)), "--repo", s(&repo), "--target", s(&out)]).ok();
    assert!(diff_trees(&src, &out).is_empty());
}

#[test]
fn prune_removes_the_temporary_files_interrupted_writes_left_once_they_are_old() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("a.bin"), random_bytes(7, 300_000)).unwrap();
    let repo = t.path().join("repo");
    let c = cairn(t.path());
    init(&c, &repo, 1);
    c.run(["backup", "--repo", s(&repo), s(&src)]).ok();
    // What a process killed while writing leaves: old ones, and one that may still be written.
    let sub = fs::read_dir(repo.join("data")).unwrap().next().unwrap().unwrap().path();
    let old = [sub.join(".tmp-abc-0123456789abcdef"), repo.join("index/.tmp-def-0011223344556677")];
    for f in &old {
        fs::write(f, b"half a pack").unwrap();
        cairn_e2e::backdate(f, Duration::from_secs(7200));
    }
    let fresh = repo.join("snapshots/.tmp-fresh-8899aabbccddeeff");
    fs::write(&fresh, b"being written").unwrap();
    let out = c.run(["prune", "--repo", s(&repo)]).ok();
    assert!(out.stdout.contains("removed 2 temporary files left by interrupted uploads"), "{}", out.stdout);
    assert!(old.iter().all(|f| !f.exists()) && fresh.exists());
    // Nothing else was touched.
    c.run(["check", "--read-data", "--repo", s(&repo)]).ok();
}
