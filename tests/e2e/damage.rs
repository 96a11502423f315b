//! Damaged storage: `check --read-data` finds a single flipped byte in any pack and names the
//! blob and the file; restore still brings back everything else.

use std::fs;

use cairn_e2e::{diff_trees, random_bytes, text_bytes};

use crate::{cairn, flip, init, packs, s};

#[test]
fn a_flipped_byte_in_any_pack_is_found_and_named() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    fs::create_dir_all(src.join("photos")).unwrap();
    fs::write(src.join("photos/big.jpg"), random_bytes(9, 6 << 20)).unwrap();
    for i in 0..20u64 {
        fs::write(src.join(format!("note-{i}.txt")), text_bytes(i, 30_000)).unwrap();
    }
    let repo = t.path().join("repo");
    let c = cairn(t.path());
    init(&c, &repo, 1);
    // The big file first, on its own, so its packs hold nothing else (the backup's parallel
    // readers would otherwise mix notes into them); the full backup then reuses those blobs.
    c.run(["backup", "--repo", s(&repo), s(&src.join("photos"))]).ok();
    let photo_packs = packs(&repo);
    c.run(["backup", "--repo", s(&repo), s(&src)]).ok();
    c.run(["check", "--read-data", "--repo", s(&repo)]).ok();

    let all = packs(&repo);
    assert!(all.len() >= 4, "{all:?}");
    for pack in &all {
        let len = fs::metadata(pack).unwrap().len();
        let name = pack.file_name().unwrap().to_string_lossy().into_owned();
        for pos in [len / 2, 30, len - 60, len - 2] {
            flip(pack, pos);
            let r = c.run(["check", "--read-data", "--repo", s(&repo)]).code(4);
            assert!(r.stderr.contains(&name), "flip at {pos} of {len} in {name} not reported:\n{}", r.stderr);
            // A byte inside a blob names the blob and the file or directory that uses it.
            if pos < len - 200 {
                let line =
                    r.stderr.lines().find(|l| l.contains("blob") && l.contains("is damaged") && l.contains("used by"));
                let line =
                    line.unwrap_or_else(|| panic!("no damaged blob named for flip at {pos} in {name}:\n{}", r.stderr));
                // The path is the file or directory using the blob: under the source, or one of
                // its parent directories (`/` for the root tree).
                let used = line.rsplit(" used by snapshot ").next().unwrap();
                let path = used.split_once(' ').unwrap().1.split(" and ").next().unwrap();
                assert!(path.starts_with(s(&src)) || s(&src).starts_with(path), "{line}");
            }
            flip(pack, pos);
        }
    }
    c.run(["check", "--read-data", "--repo", s(&repo)]).ok();

    // Damage the big file's data: restore brings back everything else, and names the file.
    let biggest = &photo_packs[0];
    flip(biggest, fs::metadata(biggest).unwrap().len() / 3);
    let out = t.path().join("out");
    let r = c.run(["restore", "latest", "--repo", s(&repo), "--target", s(&out)]).code(3);
    assert!(r.stderr.contains("big.jpg") && r.stderr.contains("damaged"), "{}", r.stderr);
    let restored = out.join(src.strip_prefix("/").unwrap());
    let diffs = diff_trees(&src, &restored);
    assert_eq!(diffs.len(), 1, "{diffs:?}");
    assert!(diffs[0].contains("photos/big.jpg"), "{diffs:?}");
    // The damaged file keeps its size (the bad part is zero-filled).
    assert_eq!(fs::metadata(restored.join("photos/big.jpg")).unwrap().len(), 6 << 20);
}

#[test]
fn damaged_metadata_objects_give_clear_errors() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("f"), b"data").unwrap();
    let repo = t.path().join("repo");
    let c = cairn(t.path());
    init(&c, &repo, 1);
    c.run(["backup", "--repo", s(&repo), s(&src)]).ok();

    // A damaged snapshot object.
    let snap = fs::read_dir(repo.join("snapshots")).unwrap().next().unwrap().unwrap().path();
    flip(&snap, 10);
    let r = c.run(["snapshots", "--repo", s(&repo)]).code(1);
    assert!(r.stderr.starts_with("error: snapshot ") && r.stderr.contains("is damaged"), "{}", r.stderr);
    assert!(r.stderr.contains("hint: run `cairn check --read-data`"), "{}", r.stderr);
    let r = c.run(["check", "--repo", s(&repo)]).code(4);
    assert!(r.stderr.contains("snapshot"), "{}", r.stderr);
    flip(&snap, 10);

    // A damaged config.
    flip(&repo.join("config"), 50);
    let r = c.run(["snapshots", "--repo", s(&repo)]).code(1);
    assert!(r.stderr.contains("config is damaged"), "{}", r.stderr);
    flip(&repo.join("config"), 50);

    // A damaged index object.
    let idx = fs::read_dir(repo.join("index")).unwrap().next().unwrap().unwrap().path();
    flip(&idx, 40);
    let r = c.run(["check", "--repo", s(&repo)]).code(4);
    assert!(r.stderr.contains("index "), "{}", r.stderr);
    flip(&idx, 40);
    c.run(["check", "--read-data", "--repo", s(&repo)]).ok();
}
