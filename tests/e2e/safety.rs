//! What a careful user meets (issue 24, situations 4 and 5): a store that withholds the newest
//! snapshot, Ctrl-C and SIGTERM in the middle of a backup, and a snapshot from a machine whose
//! clock was years ahead.

use std::fs;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use cairn_e2e::{diff_trees, make_tree};

use crate::{cairn, init, s};

fn snapshot_file(repo: &Path, id: &str) -> std::path::PathBuf {
    repo.join("snapshots").join(id)
}

#[test]
fn a_withheld_snapshot_fails_check_stops_prune_and_latest_until_accepted() {
    let t = tempfile::tempdir().unwrap();
    let repo = t.path().join("repo");
    let c = cairn(t.path());
    init(&c, &repo, 1);
    let src = t.path().join("src");
    make_tree(&src, 300_000);
    let first = c.run(["--json", "backup", "--repo", s(&repo), s(&src)]).ok().json();
    fs::write(src.join("docs/second.txt"), b"the second version").unwrap();
    c.run(["backup", "--repo", s(&repo), s(&src)]).ok();
    fs::write(src.join("docs/third.txt"), b"the newest version").unwrap();
    let newest = c.run(["--json", "backup", "--repo", s(&repo), s(&src)]).ok().json();
    let newest_id = newest["snapshot_id"].as_str().unwrap();
    c.run(["check", "--repo", s(&repo)]).ok();

    // The store stops showing the newest snapshot (rolled back, or hostile).
    let hidden = t.path().join("hidden-snapshot");
    fs::rename(snapshot_file(&repo, newest_id), &hidden).unwrap();
    let check = c.run(["check", "--repo", s(&repo)]).code(4);
    assert!(check.stderr.contains(newest_id) && check.stderr.contains("forget-missing"), "{}", check.stderr);
    let prune = c.run(["prune", "--repo", s(&repo)]);
    assert_ne!(prune.code, 0);
    assert!(prune.stderr.contains(&newest_id[..8]) && prune.stderr.contains("nothing was pruned"), "{}", prune.stderr);
    let forget = c.run(["forget", "--repo", s(&repo), "--keep-last", "1", "--prune", "--dry-run"]);
    assert_ne!(forget.code, 0, "forget --prune refuses too: {}", forget.stdout);
    let out = t.path().join("out");
    let latest = c.run(["restore", &format!("latest:{}", s(&src)), "--repo", s(&repo), "--target", s(&out)]);
    assert_ne!(latest.code, 0);
    assert!(latest.stderr.contains("`latest` would be the older snapshot"), "{}", latest.stderr);
    let listed = c.run(["snapshots", "--repo", s(&repo)]).ok();
    assert!(listed.stderr.contains("missing") && listed.stderr.contains(&newest_id[..8]), "{}", listed.stderr);

    // It comes back (the store caught up): everything works again.
    fs::rename(&hidden, snapshot_file(&repo, newest_id)).unwrap();
    c.run(["check", "--repo", s(&repo)]).ok();
    c.run(["restore", &format!("latest:{}", s(&src)), "--repo", s(&repo), "--target", s(&out)]).ok();
    assert!(diff_trees(&src, &out).is_empty());

    // A snapshot another machine forgot on purpose is not taken for withheld.
    let elsewhere = cairn(&t.path().join("other-machine"));
    elsewhere.run(["forget", "--repo", s(&repo), first["snapshot_id"].as_str().unwrap()]).ok();
    c.run(["check", "--repo", s(&repo)]).ok();
    c.run(["prune", "--repo", s(&repo)]).ok();

    // Gone for good: accepted once with --forget-missing, then check and prune pass.
    fs::remove_file(snapshot_file(&repo, newest_id)).unwrap();
    c.run(["check", "--repo", s(&repo)]).code(4);
    let accepted = c.run(["check", "--repo", s(&repo), "--forget-missing"]).ok();
    assert!(accepted.stderr.contains("no longer expecting snapshot"), "{}", accepted.stderr);
    c.run(["check", "--repo", s(&repo)]).ok();
    c.run(["prune", "--repo", s(&repo)]).ok();
    c.run(["check", "--repo", s(&repo), "--read-data"]).ok();
}

#[test]
fn ctrl_c_and_sigterm_stop_a_backup_cleanly_and_give_the_lock_back() {
    let t = tempfile::tempdir().unwrap();
    let repo = t.path().join("repo");
    let c = cairn(t.path());
    init(&c, &repo, 1);
    let src = t.path().join("src");
    make_tree(&src, 100_000);
    // Sparse zeros keep the backup busy for as long as the test needs.
    fs::File::create(src.join("zz-huge.img")).unwrap().set_len(64 << 30).unwrap();
    let locks = || fs::read_dir(repo.join("locks")).map(|d| d.count()).unwrap_or(0);
    for (signal, code) in [("-INT", 130), ("-TERM", 143)] {
        let child = c
            .command(["backup", "--repo", s(&repo), "--no-progress", s(&src)])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while locks() == 0 {
            assert!(started.elapsed() < Duration::from_secs(60), "the backup never took its lock");
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(300));
        assert!(std::process::Command::new("kill").args([signal, &child.id().to_string()]).status().unwrap().success());
        let run = cairn_e2e::finish(child.wait_with_output().unwrap()).code(code);
        assert!(run.stderr.contains("stopping"), "{}", run.stderr);
        assert_eq!(locks(), 0, "{signal}: the lock was given back");
        let snaps = c.run(["--json", "snapshots", "--repo", s(&repo)]).ok().json();
        assert_eq!(snaps.as_array().unwrap().len(), 0, "{signal}: no snapshot");
    }
    // The repository is whole, and a prune needs no unlock.
    fs::remove_file(src.join("zz-huge.img")).unwrap();
    c.run(["prune", "--repo", s(&repo)]).ok();
    c.run(["backup", "--repo", s(&repo), s(&src)]).ok();
    c.run(["check", "--repo", s(&repo), "--read-data"]).ok();
}

#[test]
fn a_snapshot_dated_years_ahead_is_flagged_and_never_decides_keep_within() {
    let t = tempfile::tempdir().unwrap();
    let repo = t.path().join("repo");
    let c = cairn(t.path());
    init(&c, &repo, 1);
    let src = t.path().join("src");
    make_tree(&src, 50_000);
    let now = jiff::Timestamp::now();
    let at = |days_ago: i64| (now - jiff::SignedDuration::from_hours(24 * days_ago)).to_string();
    for days in [90, 40, 10, 2] {
        c.run(["backup", "--repo", s(&repo), "--time", &at(days), s(&src)]).ok();
    }
    // A machine whose clock was ten years ahead.
    let ahead = (now + jiff::SignedDuration::from_hours(24 * 3650)).to_string();
    let future = c.run(["--json", "backup", "--repo", s(&repo), "--time", &ahead, s(&src)]).ok().json();
    let future_id = future["snapshot_id"].as_str().unwrap();
    let listed = c.run(["--json", "snapshots", "--repo", s(&repo)]).ok();
    assert!(listed.stderr.contains("after now") && listed.stderr.contains(&future_id[..8]), "{}", listed.stderr);
    let flagged = listed.json().as_array().unwrap().iter().filter(|s| s["in_future"] == true).count();
    assert_eq!(flagged, 1);
    let check = c.run(["check", "--repo", s(&repo)]).ok();
    assert!(check.stderr.contains("warning") && check.stderr.contains("after now"), "{}", check.stderr);

    // --keep-within 30d measures from the newest real snapshot: the ones of 10 and 2 days ago
    // stay, as does the future one; the future one does not push the real ones out.
    let plan = c.run(["--json", "forget", "--repo", s(&repo), "--keep-within", "30d"]).ok().json();
    let kept: Vec<&serde_json::Value> = plan["groups"][0]["keep"].as_array().unwrap().iter().collect();
    assert_eq!(kept.len(), 3, "{plan}");
    assert!(kept.iter().any(|k| k["id"] == future_id && k["reasons"][0] == "dated in the future"), "{plan}");
    let snaps = c.run(["--json", "snapshots", "--repo", s(&repo)]).ok().json();
    assert_eq!(snaps.as_array().unwrap().len(), 3);
    c.run(["check", "--repo", s(&repo)]).ok();
}
