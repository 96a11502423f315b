//! Looking into snapshots: `diff`, `dump` as tar and tar.gz, and partial data checks.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

use cairn_e2e::make_tree;

use crate::{cairn, init, s};

fn backup(c: &cairn_e2e::Cairn, repo: &Path, src: &Path) -> String {
    let out = c.run(["--json", "backup", "--repo", s(repo), s(src)]).ok().json();
    out["snapshot_id"].as_str().unwrap().to_string()
}

#[test]
fn diff_lists_added_removed_and_changed_files_with_sizes() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_tree(&src, 300_000);
    let repo = t.path().join("repo");
    let c = cairn(t.path());
    init(&c, &repo, 1);
    let first = backup(&c, &repo, &src);
    fs::write(src.join("docs/new.txt"), b"twelve bytes").unwrap();
    fs::remove_file(src.join("code/run.sh")).unwrap();
    fs::write(src.join("code/src/main.rs"), b"fn main() {}\n").unwrap();
    fs::remove_dir_all(src.join("code/src/deep")).unwrap();
    let second = backup(&c, &repo, &src);

    let out = c.run(["--json", "diff", "--repo", s(&repo), &first[..8], &second]).ok().json();
    let root = s(&src).to_string();
    let mut changes: Vec<(String, String)> = out["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["change"] != "metadata")
        .map(|c| (c["path"].as_str().unwrap().strip_prefix(&root).unwrap().to_string(), c["change"].to_string()))
        .collect();
    changes.sort();
    let expected: Vec<(String, String)> = [
        ("/code/run.sh", "removed"),
        ("/code/src/deep", "removed"),
        ("/code/src/deep/er", "removed"),
        ("/code/src/deep/er/still", "removed"),
        ("/code/src/deep/er/still/leaf", "removed"),
        ("/code/src/main.rs", "modified"),
        ("/docs/new.txt", "added"),
    ]
    .iter()
    .map(|(p, c)| (p.to_string(), format!("\"{c}\"")))
    .collect();
    assert_eq!(changes, expected);
    let st = &out["stats"];
    assert_eq!(st["added"], 1);
    assert_eq!(st["bytes_added"], 12);
    assert_eq!(st["removed"], 5);
    assert_eq!(st["bytes_removed"], 18 + 4);
    assert_eq!(st["modified"], 1);
    assert_eq!(st["bytes_modified_new"], 13);
    assert_eq!(st["bytes_modified_old"], 3_000);

    // Text: one line per change with its code and size, then a summary; SNAP:PATH narrows it.
    let text = c.run(["diff", "--repo", s(&repo), &first, &second]).ok().stdout;
    assert!(text.contains(&format!("+    {root}/docs/new.txt  (12 B)")), "{text}");
    assert!(text.contains(&format!("M    {root}/code/src/main.rs  (2.93 KiB -> 13 B)")), "{text}");
    assert!(text.contains(&format!("-    {root}/code/src/deep/")), "{text}");
    assert!(text.contains("1 added (12 B), 5 removed (22 B), 1 modified"), "{text}");
    let narrowed =
        c.run(["diff", "--repo", s(&repo), &format!("{first}:{root}/docs"), &format!("{second}:{root}/docs")]).ok();
    assert!(narrowed.stdout.starts_with("+    /new.txt"), "{}", narrowed.stdout);
    // The same snapshot twice: no changes.
    let same = c.run(["--json", "diff", "--repo", s(&repo), &second, &second]).ok().json();
    assert_eq!(same["changes"].as_array().unwrap().len(), 0);
    // A snapshot that does not exist: a clear error.
    let missing = c.run(["diff", "--repo", s(&repo), &first, "ffffffff"]);
    assert_ne!(missing.code, 0);
    assert!(missing.stderr.contains("ffffffff"), "{}", missing.stderr);
}

/// Extracts `archive` into `dir` with the system's tar.
fn untar(archive: &Path, dir: &Path, gz: bool) {
    fs::create_dir_all(dir).unwrap();
    let flags = if gz { "-xzpf" } else { "-xpf" };
    let st = Command::new("tar").arg(flags).arg(archive).arg("-C").arg(dir).status().unwrap();
    assert!(st.success(), "tar failed on {}", archive.display());
}

#[test]
fn dump_exports_files_directories_and_whole_snapshots_as_tar_and_tar_gz() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    make_tree(&src, 3_000_000);
    let repo = t.path().join("repo");
    let c = cairn(t.path());
    init(&c, &repo, 1);
    let id = backup(&c, &repo, &src);
    let root = s(&src);

    // The whole snapshot as tar.gz to a file (format from --archive): the tree comes back with
    // names, contents, modes, links and times (to the second).
    let tgz = t.path().join("all.tar.gz");
    let out =
        c.run(["--json", "dump", "--repo", s(&repo), &id, "/", "--archive", "tar.gz", "--target", s(&tgz)]).ok().json();
    assert!(out["files"].as_u64().unwrap() >= 40, "{out}");
    let gz_header = fs::read(&tgz).unwrap();
    assert_eq!(&gz_header[..2], &[0x1f, 0x8b], "gzip magic");
    let x = t.path().join("x");
    untar(&tgz, &x, true);
    let extracted = x.join(root.trim_start_matches('/'));
    let diffs = cairn_e2e::diff_trees(&src, &extracted);
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
    assert_eq!(fs::metadata(extracted.join("code/setuid-tool")).unwrap().mode() & 0o7777, 0o4755);

    // A directory as plain tar to stdout: names start at the directory.
    let docs = c.command(["dump", "--repo", s(&repo), "latest", &format!("{root}/docs")]).output().unwrap();
    assert!(docs.status.success(), "{}", String::from_utf8_lossy(&docs.stderr));
    let tar = t.path().join("docs.tar");
    fs::write(&tar, &docs.stdout).unwrap();
    let y = t.path().join("y");
    untar(&tar, &y, false);
    let diffs = cairn_e2e::diff_trees(&src.join("docs"), &y.join("docs"));
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));

    // The format follows the target's name; a file alone is its plain contents.
    let named = t.path().join("code.tgz");
    c.run(["dump", "--repo", s(&repo), &id, &format!("{root}/code"), "-o", s(&named)]).ok();
    assert_eq!(&fs::read(&named).unwrap()[..2], &[0x1f, 0x8b]);
    let big = c.command(["dump", "--repo", s(&repo), &id, &format!("{root}/big.bin")]).output().unwrap();
    assert!(big.status.success());
    assert_eq!(big.stdout, fs::read(src.join("big.bin")).unwrap());
    // Or a one-file archive when asked.
    let one = t.path().join("one.tar");
    c.run(["dump", "--repo", s(&repo), &id, &format!("{root}/code/run.sh"), "--archive", "tar", "-o", s(&one)]).ok();
    let listing = Command::new("tar").arg("-tvf").arg(&one).output().unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert!(listing.starts_with("-rwxr-xr-x") && listing.contains(" run.sh"), "{listing}");

    // Bad input: an unknown format and a missing path say what to do; no partial file is left.
    let bad = c.run(["dump", "--repo", s(&repo), &id, "/", "--archive", "zip", "-o", s(&t.path().join("z"))]).code(2);
    assert!(bad.stderr.contains("--archive tar"), "{}", bad.stderr);
    // A name that asks for another kind of archive gets no tar under it.
    let zip = c.run(["dump", "--repo", s(&repo), &id, "/", "-o", s(&t.path().join("x.zip"))]).code(2);
    assert!(zip.stderr.contains("dump writes tar archives, not zip"), "{}", zip.stderr);
    assert!(!t.path().join("x.zip").exists());
    let missing = c.run(["dump", "--repo", s(&repo), &id, "/no/such/path", "-o", s(&t.path().join("m.tar"))]);
    assert_ne!(missing.code, 0);
    assert!(missing.stderr.contains("/no/such/path"), "{}", missing.stderr);
    let leftovers: Vec<_> = fs::read_dir(t.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("partial") || n == "m.tar" || n == "z")
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // A reader that goes away early (`| head`) ends the dump quietly.
    let piped = Command::new("sh")
        .arg("-c")
        .arg(format!("'{}' dump --repo '{}' {id} / | head -c 1000 > /dev/null", env!("CARGO_BIN_EXE_cairn"), s(&repo)))
        .env("HOME", t.path().join("home"))
        .env("CAIRN_PASSWORD", crate::PASSWORD)
        .output()
        .unwrap();
    assert!(piped.status.success());
    assert!(!String::from_utf8_lossy(&piped.stderr).contains("panicked"));
}

#[test]
fn partial_data_checks_cover_the_whole_repository_over_successive_runs() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    fs::create_dir_all(&src).unwrap();
    for i in 0..12u64 {
        fs::write(src.join(format!("f{i}")), cairn_e2e::random_bytes(i, 700_000)).unwrap();
    }
    let repo = t.path().join("repo");
    let c = cairn(t.path());
    init(&c, &repo, 1);
    backup(&c, &repo, &src);
    let total_packs = crate::packs(&repo).len() as u64;
    assert!(total_packs >= 6, "{total_packs}");
    let check = |subset: &str| {
        let out = c.run(["--json", "check", "--repo", s(&repo), "--read-data-subset", subset]).ok().json();
        out["stats"]["packs_read"].as_u64().unwrap()
    };
    // Parts 1/4 to 4/4 read every pack once between them.
    let parts: u64 = (1..=4).map(|n| check(&format!("{n}/4"))).sum();
    assert_eq!(parts, total_packs);
    // Four 25% runs, each continuing after the last, read every pack once too.
    let quarter = total_packs.div_ceil(4);
    let runs: Vec<u64> = (0..4).map(|_| check("25%")).collect();
    assert!(runs.iter().all(|&n| n == quarter), "{runs:?}");
    assert!(runs.iter().sum::<u64>() >= total_packs);
    // A size: at least that much is read.
    assert!(check("1M") >= 1);
    assert_eq!(check("1T"), total_packs);

    // Damage in one pack is found by the part that holds it.
    let victim = &crate::packs(&repo)[0];
    crate::flip(victim, 100);
    let found: Vec<i32> =
        (1..=4).map(|n| c.run(["check", "--repo", s(&repo), "--read-data-subset", &format!("{n}/4")]).code).collect();
    assert_eq!(found.iter().filter(|&&code| code == 4).count(), 1, "{found:?}");

    // Bad subsets say how to write one.
    for bad in ["0/4", "5/4", "1/0", "150%", "0%", "10X", "", "abc"] {
        let r = c.run(["check", "--repo", s(&repo), "--read-data-subset", bad]).code(2);
        assert!(r.stderr.contains("N/M"), "{bad}: {}", r.stderr);
    }
}
