//! `repair index` and `repair snapshots` on a real local repository.

use std::fs;
use std::path::Path;

use cairn_e2e::{diff_trees, make_tree};

use crate::{cairn, init, s};

fn index_files(repo: &Path) -> Vec<std::path::PathBuf> {
    fs::read_dir(repo.join("index"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect()
}

#[test]
fn repair_index_after_deleting_every_index_object_restores_full_function() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_tree(&src, 2_000_000);
    let repo = t.path().join("repo");
    let c = cairn(t.path());
    init(&c, &repo, 1);
    c.run(["backup", "--repo", s(&repo), s(&src)]).ok();
    fs::write(src.join("later.txt"), b"second backup").unwrap();
    c.run(["backup", "--repo", s(&repo), s(&src)]).ok();

    let before = index_files(&repo);
    assert!(!before.is_empty());
    for f in &before {
        fs::remove_file(f).unwrap();
    }
    // Without an index, check and restore fail and say so.
    let broken = c.run(["check", "--repo", s(&repo)]).code(4);
    assert!(broken.stderr.contains("not in the index"), "{}", broken.stderr);

    let out = c.run(["--json", "repair", "index", "--repo", s(&repo)]).ok().json();
    assert_eq!(out["packs_indexed"].as_u64().unwrap(), crate::packs(&repo).len() as u64);
    assert_eq!(out["packs_unreadable"].as_array().unwrap().len(), 0);
    assert!(out["index_files_written"].as_u64().unwrap() >= 1);

    c.run(["check", "--repo", s(&repo), "--read-data"]).ok();
    let target = t.path().join("restored");
    c.run(["restore", &format!("latest:{}", s(&src)), "--repo", s(&repo), "--target", s(&target)]).ok();
    let diffs = diff_trees(&src, &target);
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
    // And the next backup works on the rebuilt index, deduplicating against it.
    let next = c.run(["--json", "backup", "--repo", s(&repo), s(&src)]).ok().json();
    assert_eq!(next["stats"]["data_blobs_new"], 0, "{next}");

    // Running it again on a healthy repository changes nothing that matters.
    let again = c.run(["repair", "index", "--repo", s(&repo)]).ok();
    assert!(again.stdout.contains("indexed"), "{}", again.stdout);
    c.run(["check", "--repo", s(&repo)]).ok();
}

#[test]
fn repair_snapshots_drops_only_the_files_whose_data_is_lost_and_says_which() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    fs::create_dir_all(src.join("sub")).unwrap();
    // Twelve incompressible files of 600 kB with 1 MiB packs: each pack holds one or two of
    // them, so losing one pack loses a few files, not all.
    for i in 0..12u64 {
        fs::write(src.join(format!("sub/f{i:02}")), cairn_e2e::random_bytes(i + 1, 600_000)).unwrap();
    }
    fs::write(src.join("small.txt"), b"small files share a pack with the others").unwrap();
    let repo = t.path().join("repo");
    let c = cairn(t.path());
    init(&c, &repo, 1);
    c.run(["backup", "--repo", s(&repo), s(&src)]).ok();

    let before = c.run(["--json", "snapshots", "--repo", s(&repo)]).ok().json();
    // Lose the largest pack (a data pack).
    let lost = crate::packs(&repo)[0].clone();
    fs::remove_file(&lost).unwrap();
    let damaged = c.run(["check", "--repo", s(&repo)]).code(4);
    assert!(damaged.stderr.contains("missing"), "{}", damaged.stderr);

    // The way out: rebuild the index from what is left, then rewrite the snapshots.
    c.run(["repair", "index", "--repo", s(&repo)]).ok();
    let plan = c.run(["--json", "repair", "snapshots", "--repo", s(&repo), "--dry-run"]).ok().json();
    assert_eq!(plan["dry_run"], true);
    let dropped: Vec<String> = plan["repaired"][0]["dropped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap().to_string())
        .collect();
    assert!(!dropped.is_empty() && dropped.len() < 12, "{dropped:?}");
    assert!(plan["repaired"][0]["dropped"][0]["reason"].as_str().unwrap().contains("missing"), "{plan}");
    c.run(["check", "--repo", s(&repo)]).code(4);

    let text = c.run(["repair", "snapshots", "--repo", s(&repo)]).ok();
    for path in &dropped {
        assert!(text.stdout.contains(path.as_str()), "{path} not reported:\n{}", text.stdout);
    }
    assert!(text.stdout.contains("replaced by"), "{}", text.stdout);

    // Now the repository checks clean, and the repaired snapshot restores every other file.
    c.run(["check", "--repo", s(&repo), "--read-data"]).ok();
    let snaps = c.run(["--json", "snapshots", "--repo", s(&repo)]).ok().json();
    assert_eq!(snaps.as_array().unwrap().len(), 1);
    assert_eq!(snaps[0]["tags"], serde_json::json!(["repaired"]));
    // Its stats, and the repository's, tell what it holds now.
    // What is left is every file not dropped; the small file may share the lost pack too.
    let names: Vec<String> = (0..12u64).map(|i| format!("sub/f{i:02}")).chain(["small.txt".to_string()]).collect();
    let kept: Vec<&String> = names.iter().filter(|n| !dropped.contains(&format!("{}/{n}", s(&src)))).collect();
    let kept_bytes: u64 = kept.iter().map(|n| fs::metadata(src.join(n)).unwrap().len()).sum();
    let stats = &snaps[0]["stats"];
    let files = stats["files_new"].as_u64().unwrap()
        + stats["files_changed"].as_u64().unwrap()
        + stats["files_unmodified"].as_u64().unwrap();
    assert_eq!((files, &stats["dirs"]), (kept.len() as u64, &before[0]["stats"]["dirs"]), "{stats}");
    assert_eq!(stats["bytes_total"], kept_bytes, "{stats}");
    let repo_stats = c.run(["--json", "stats", "--repo", s(&repo)]).ok().json();
    assert_eq!(repo_stats["restore_size"], kept_bytes, "{repo_stats}");
    let target = t.path().join("restored");
    c.run(["restore", &format!("latest:{}", s(&src)), "--repo", s(&repo), "--target", s(&target)]).ok();
    for name in names {
        let full = format!("{}/{name}", s(&src));
        let restored = target.join(&name);
        if dropped.contains(&full) {
            assert!(!restored.exists(), "{name} should be dropped");
        } else {
            assert_eq!(fs::read(&restored).unwrap(), fs::read(src.join(&name)).unwrap(), "{name}");
        }
    }

    // The next backup stores the dropped files again, and everything is whole.
    c.run(["backup", "--repo", s(&repo), s(&src)]).ok();
    let again = t.path().join("again");
    c.run(["restore", &format!("latest:{}", s(&src)), "--repo", s(&repo), "--target", s(&again)]).ok();
    let diffs = diff_trees(&src, &again);
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}
