//! Restore in place, killed (issue 24, situation 2): a restore over a folder that holds other
//! versions of the snapshot's files is killed with SIGKILL at random moments. After every kill,
//! each file is either exactly as it was or exactly as in the snapshot (never zeros, never a
//! prefix), the files the snapshot does not have are untouched, and nothing else appeared. Then
//! a restore run to the end gives the snapshot, and a second one finds every file already as in
//! the snapshot and writes nothing. A snapshot with a damaged blob, restored over intact files,
//! leaves the file it would damage as it was, and says so.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use cairn_e2e::{random_bytes, text_bytes};

use super::{Rng, full, report};
use crate::{cairn, init, s};

/// Files by relative name: their bytes.
type Tree = BTreeMap<String, Vec<u8>>;

fn write_tree(root: &Path, tree: &Tree) {
    for (name, data) in tree {
        let p = root.join(name);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, data).unwrap();
    }
}

fn read_tree(root: &Path) -> Tree {
    let mut out = Tree::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                stack.push(p);
            } else {
                out.insert(p.strip_prefix(root).unwrap().to_string_lossy().into_owned(), fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// The snapshot's files, and older versions of them (some longer, some shorter, one missing)
/// with a few files the snapshot does not have.
fn trees(rng: &mut Rng, large: bool) -> (Tree, Tree) {
    let (mut new, mut old) = (Tree::new(), Tree::new());
    let big = if large { 1_500_000 } else { 300_000 };
    for i in 0..24u64 {
        let name = format!("d{}/f{i:02}.bin", i % 4);
        let size = if i % 3 == 0 { big + (rng.below(500_000) as usize) } else { 20_000 + rng.below(60_000) as usize };
        let data = if i % 2 == 0 { random_bytes(rng.next(), size) } else { text_bytes(rng.next(), size) };
        if i != 5 {
            let older = match i % 4 {
                0 => data[..data.len() / 2].to_vec(),
                1 => [&data[..], b"appended later"].concat(),
                _ => random_bytes(rng.next(), data.len()),
            };
            old.insert(name.clone(), older);
        }
        new.insert(name, data);
    }
    for i in 0..4 {
        old.insert(format!("d{i}/only-in-the-target-{i}.txt"), text_bytes(rng.next(), 5_000));
    }
    (new, old)
}

/// A repository with one backup of generated files, and older versions of them (see [`trees`]).
struct Backed {
    w: tempfile::TempDir,
    c: crate::Cairn,
    repo: PathBuf,
    src: PathBuf,
    new: Tree,
    old: Tree,
}

fn backed_up(rng: &mut Rng, large: bool) -> Backed {
    let w = tempfile::tempdir().unwrap();
    let c = cairn(w.path());
    let repo = w.path().join("repo");
    init(&c, &repo, 1);
    let (new, old) = trees(rng, large);
    let src = w.path().join("src");
    write_tree(&src, &new);
    c.run(["backup", "--repo", s(&repo), s(&src)]).ok();
    Backed { w, c, repo, src, new, old }
}

#[test]
fn campaign_restore_in_place_killed_at_random_moments() {
    let (mut rng, seed) = Rng::seeded(24);
    let Backed { w, c, repo, src, new, old } = backed_up(&mut rng, true);
    let target = w.path().join("target");
    let restore = |target: &Path| {
        let mut cmd = c.command(["restore", &format!("latest:{}", s(&src)), "--repo", s(&repo), "--target", s(target)]);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd
    };
    // How long a whole restore takes here, to kill within it.
    write_tree(&target, &old);
    let started = Instant::now();
    assert!(restore(&target).status().unwrap().success());
    let whole = started.elapsed();

    let kills = if full() { 60 } else { 12 };
    let (mut killed, mut compared, mut as_before, mut restored, mut finished) = (0u64, 0u64, 0u64, 0u64, 0u64);
    let mut leftovers = 0u64;
    while killed < kills {
        let _ = fs::remove_dir_all(&target);
        write_tree(&target, &old);
        let after = Duration::from_micros(rng.below(whole.as_micros() as u64 * 6 / 5 + 1));
        let mut child = restore(&target).spawn().unwrap();
        let t = Instant::now();
        while t.elapsed() < after && child.try_wait().unwrap().is_none() {
            std::thread::sleep(Duration::from_micros(200));
        }
        if child.try_wait().unwrap().is_some() {
            finished += 1;
        } else {
            child.kill().unwrap();
            killed += 1;
        }
        let _ = child.wait();
        let mut now = read_tree(&target);
        // A kill between the temporary link and the rename leaves one temporary file; the next
        // restore removes it (a_leftover_of_a_killed_restore_is_removed_by_the_next).
        let left: Vec<String> = now.keys().filter(|n| is_leftover(n)).cloned().collect();
        assert!(left.len() <= 1, "{left:?}: more than the one file being put in place (seed {seed})");
        for name in left {
            now.remove(&name);
            leftovers += 1;
        }
        for (name, data) in &now {
            compared += 1;
            match (old.get(name), new.get(name)) {
                (Some(o), _) if o == data => as_before += 1,
                (_, Some(n)) if n == data => restored += 1,
                _ => panic!(
                    "{name}: neither as before nor as in the snapshot ({} bytes), after {after:?} (seed {seed})",
                    data.len()
                ),
            }
        }
        for name in old.keys().filter(|n| !new.contains_key(*n)) {
            assert!(now.contains_key(name), "{name}: a file the snapshot does not have was removed (seed {seed})");
        }
        for name in now.keys() {
            assert!(old.contains_key(name) || new.contains_key(name), "{name} appeared (seed {seed})");
        }
    }
    // Run to the end: the snapshot, every file; a second run writes nothing.
    assert!(restore(&target).status().unwrap().success());
    let done = read_tree(&target);
    for (name, data) in &new {
        assert_eq!(done.get(name), Some(data), "{name} after a restore run to the end");
    }
    let again =
        c.run(["--json", "restore", &format!("latest:{}", s(&src)), "--repo", s(&repo), "--target", s(&target)]);
    let again = again.ok().json();
    assert_eq!(again["unchanged"], new.len(), "{again}");
    assert_eq!(again["bytes"], 0, "{again}");
    report(
        "restore-in-place",
        &[
            ("kills", killed.to_string()),
            ("finished_before_the_kill", finished.to_string()),
            ("files_compared", compared.to_string()),
            ("as_before", as_before.to_string()),
            ("as_in_the_snapshot", restored.to_string()),
            ("temporary_files_left_by_a_kill", leftovers.to_string()),
            ("seed", seed.to_string()),
        ],
    );
}

/// Whether `name` (relative) is a temporary file of a restore: `.cairn-restore-<16 hex>`.
fn is_leftover(name: &str) -> bool {
    let base = name.rsplit('/').next().unwrap_or(name);
    base.strip_prefix(".cairn-restore-")
        .is_some_and(|hex| hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
}

#[test]
fn a_leftover_of_a_killed_restore_is_removed_by_the_next() {
    let (mut rng, _) = Rng::seeded(26);
    let Backed { w, c, repo, src, new, old } = backed_up(&mut rng, false);
    let target = w.path().join("target");
    write_tree(&target, &old);
    // What a restore killed between its link and its rename leaves, at the top and deeper; and
    // names that only look alike, which are the user's.
    let planted = [".cairn-restore-0123456789abcdef", "d1/.cairn-restore-fedcba9876543210"];
    let theirs = [".cairn-restore-notours", "d2/.cairn-restore-0123456789ABCDEF", "d3/.cairn-restore-0123"];
    for name in planted.iter().chain(&theirs) {
        fs::write(target.join(name), b"half a file").unwrap();
    }
    c.run(["restore", &format!("latest:{}", s(&src)), "--repo", s(&repo), "--target", s(&target)]).ok();
    let done = read_tree(&target);
    for name in planted {
        assert!(!done.contains_key(name), "{name} is still there");
    }
    for name in theirs {
        assert_eq!(done.get(name).map(Vec::as_slice), Some(&b"half a file"[..]), "{name} was touched");
    }
    for (name, data) in &new {
        assert_eq!(done.get(name), Some(data), "{name}");
    }
}

/// The pack file that holds the data of `name` alone: backed up on its own into a fresh pack.
fn pack_of_last_backup(repo: &Path, before: &[PathBuf]) -> PathBuf {
    let now = crate::packs(repo);
    let new: Vec<PathBuf> = now.into_iter().filter(|p| !before.contains(p)).collect();
    assert!(!new.is_empty());
    new[0].clone()
}

#[test]
fn a_damaged_blob_leaves_the_file_in_place_as_it_was() {
    let (mut rng, _) = Rng::seeded(25);
    let Backed { w, c, repo, src, new, old } = backed_up(&mut rng, false);
    // One more file, backed up alone so that its data sits in a pack of its own: then damaged.
    let before = crate::packs(&repo);
    fs::write(src.join("precious.bin"), random_bytes(rng.next(), 200_000)).unwrap();
    c.run(["backup", "--repo", s(&repo), s(&src)]).ok();
    crate::flip(&pack_of_last_backup(&repo, &before), 100);

    let target = w.path().join("target");
    write_tree(&target, &old);
    fs::write(target.join("precious.bin"), b"the intact copy the user has").unwrap();
    let run = c.run(["restore", &format!("latest:{}", s(&src)), "--repo", s(&repo), "--target", s(&target)]).code(3);
    assert!(run.stderr.contains("precious.bin") && run.stderr.contains("left as it was"), "{}", run.stderr);
    assert_eq!(fs::read(target.join("precious.bin")).unwrap(), b"the intact copy the user has");
    // Every other file is the snapshot's.
    let done = read_tree(&target);
    for (name, data) in &new {
        assert_eq!(done.get(name), Some(data), "{name}");
    }
    // Where nothing was, the file is restored with zeros where the damage is, and named.
    let fresh = w.path().join("fresh");
    let run = c.run(["restore", &format!("latest:{}", s(&src)), "--repo", s(&repo), "--target", s(&fresh)]).code(3);
    assert!(run.stderr.contains("precious.bin"), "{}", run.stderr);
    assert_eq!(fs::metadata(fresh.join("precious.bin")).unwrap().len(), 200_000);
}
