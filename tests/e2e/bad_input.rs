//! Bad input: each a one-line error that says what to do, a non-zero exit code, no panic, and
//! nothing lost.

use std::fs;

use cairn_e2e::{Tmpfs, is_root, prerequisite, random_bytes};

use crate::{cairn, init, s};

fn one_line_error(stderr: &str) -> &str {
    let line = stderr.lines().find(|l| l.starts_with("error: ")).unwrap_or_else(|| panic!("no error line: {stderr}"));
    assert!(stderr.lines().filter(|l| l.starts_with("error: ")).count() == 1, "{stderr}");
    line
}

#[test]
fn wrong_password_missing_repository_and_missing_path() {
    let t = tempfile::tempdir().unwrap();
    let repo = t.path().join("repo");
    let c = cairn(t.path());
    // No repository yet.
    let r = c.run(["snapshots", "--repo", s(&repo)]).code(10);
    assert!(one_line_error(&r.stderr).contains("there is no repository at"));
    assert!(r.stderr.contains("hint: "), "{}", r.stderr);
    let r = c.run(["backup", "--repo", s(&repo), "/etc/hostname"]).code(10);
    assert!(r.stderr.contains("cairn init"), "{}", r.stderr);

    init(&c, &repo, 1);
    let r = c.run(["init", "--repo", s(&repo)]).code(1);
    assert!(one_line_error(&r.stderr).contains("already exists"));

    // Wrong password.
    let wrong = c.clone().env("CAIRN_PASSWORD", "not the password");
    let r = wrong.run(["snapshots", "--repo", s(&repo)]).code(12);
    assert!(one_line_error(&r.stderr).contains("wrong password"), "{}", r.stderr);
    assert!(!r.stderr.contains("not the password") && !r.stderr.contains(crate::PASSWORD));

    // No password at all, not on a terminal.
    let none = cairn_e2e::Cairn::new(env!("CARGO_BIN_EXE_cairn"), &t.path().join("home2"));
    let r = none.run(["snapshots", "--repo", s(&repo)]).code(2);
    assert!(
        one_line_error(&r.stderr).contains("no password given") && r.stderr.contains("CAIRN_PASSWORD"),
        "{}",
        r.stderr
    );

    // A password file readable by others is refused.
    let pw = t.path().join("pw");
    fs::write(&pw, format!("{}\n", crate::PASSWORD)).unwrap();
    let r = none.run(["snapshots", "--repo", s(&repo), "--password-file", s(&pw)]).code(1);
    assert!(r.stderr.contains("chmod 600"), "{}", r.stderr);
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&pw, fs::Permissions::from_mode(0o600)).unwrap();
    none.run(["snapshots", "--repo", s(&repo), "--password-file", s(&pw)]).ok();

    // A path that does not exist.
    let r = c.run(["backup", "--repo", s(&repo), "/definitely/not/here"]).code(1);
    assert!(one_line_error(&r.stderr).contains("/definitely/not/here"), "{}", r.stderr);
    // A bad exclude pattern, an unsupported repository type, a bad snapshot name.
    let r = c.run(["backup", "--repo", s(&repo), "--exclude", "[", "/etc/hostname"]).code(2);
    assert!(one_line_error(&r.stderr).contains("invalid exclude pattern"), "{}", r.stderr);
    let r = c.run(["snapshots", "--repo", "gopher://example.org/x"]).code(2);
    assert!(one_line_error(&r.stderr).contains("not supported"), "{}", r.stderr);
    let r = c.run(["restore", "nonsense", "--repo", s(&repo), "--target", s(&t.path().join("o"))]).code(1);
    assert!(one_line_error(&r.stderr).contains("no snapshot matches"), "{}", r.stderr);
    let r = c.run(["ls", "latest", "/a/../b", "--repo", s(&repo)]);
    assert_ne!(r.code, 0);
    // Nothing above changed the repository.
    c.run(["check", "--read-data", "--repo", s(&repo)]).ok();
}

#[test]
fn a_full_disk_is_a_clear_error_and_loses_nothing() {
    if !prerequisite(is_root(), "root (to mount a small tmpfs)") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let mnt = t.path().join("small");
    let Some(disk) = Tmpfs::mount(&mnt, 6 * 1024) else {
        assert!(prerequisite(false, "mount -t tmpfs"));
        return;
    };
    let repo = mnt.join("repo");
    let c = cairn(t.path());
    init(&c, &repo, 1);
    let src = t.path().join("src");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("small.txt"), b"fits").unwrap();
    c.run(["backup", "--repo", s(&repo), s(&src)]).ok();
    // 20 MiB of incompressible data does not fit in 6 MiB.
    fs::write(src.join("big.bin"), random_bytes(3, 20 << 20)).unwrap();
    let r = c.run(["backup", "--repo", s(&repo), s(&src)]).code(1);
    let line = one_line_error(&r.stderr);
    assert!(line.contains("no space left") || line.contains("No space left"), "{}", r.stderr);
    assert!(r.stderr.contains("hint: free some space"), "{}", r.stderr);
    // The repository is intact and still has exactly the first snapshot.
    let check = c.run(["--json", "check", "--read-data", "--repo", s(&repo)]).ok().json();
    assert_eq!(check["errors"], 0, "{check}");
    assert_eq!(c.run(["--json", "snapshots", "--repo", s(&repo)]).ok().json().as_array().unwrap().len(), 1);
    // With space again, the backup completes and reuses what was already uploaded.
    disk.resize(64 * 1024);
    let done = c.run(["--json", "backup", "--repo", s(&repo), s(&src)]).ok().json();
    assert!(done["stats"]["bytes_added_raw"].as_u64().unwrap() < 20 << 20, "{done}");
    c.run(["check", "--read-data", "--repo", s(&repo)]).ok();
    let out = t.path().join("out");
    c.run(["restore", &format!("latest:{}", s(&src)), "--repo", s(&repo), "--target", s(&out)]).ok();
    assert_eq!(fs::read(out.join("big.bin")).unwrap(), random_bytes(3, 20 << 20));
}

#[test]
fn a_new_repository_is_never_made_among_other_files() {
    let t = tempfile::tempdir().unwrap();
    let c = cairn(t.path()).env("CAIRN_PASSWORD", "correct horse battery");
    // A home folder picked by mistake: refused, naming what is there, and left as it was.
    let home = t.path().join("mine");
    fs::create_dir_all(home.join("Documents")).unwrap();
    fs::write(home.join("notes.txt"), b"mine").unwrap();
    let r = c.run(["init", "--repo", s(&home)]).code(2);
    let line = one_line_error(&r.stderr);
    assert!(line.contains("holds other files (Documents, notes.txt)"), "{line}");
    assert!(r.stderr.contains(&format!("{}/cairn", s(&home))), "{}", r.stderr);
    let r = c.run(["destination", "create", "--name", "home", "--type", "local", "--backup-dir", s(&home)]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("holds other files"), "{}", r.stderr);
    let mut left: Vec<_> = fs::read_dir(&home).unwrap().map(|e| e.unwrap().file_name()).collect();
    left.sort();
    assert_eq!(left, ["Documents", "notes.txt"], "files were added to the folder");
    // The top of a fresh disk (lost+found, hidden files) is fine, and so is a folder of its own.
    let disk = t.path().join("disk");
    fs::create_dir_all(disk.join("lost+found")).unwrap();
    fs::write(disk.join(".hidden"), b"").unwrap();
    c.run(["init", "--repo", s(&disk)]).ok();
    c.run(["init", "--repo", s(&home.join("cairn"))]).ok();
}

#[test]
fn the_default_repository_without_its_catalog_says_what_is_missing_and_how_to_recover() {
    let r_hint = |c: &cairn_e2e::Cairn, catalog: &std::path::Path| c.run(["--catalog", s(catalog), "snapshots"]).stderr;
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("a.txt"), b"kept").unwrap();
    let c = crate::cairn_home(t.path());
    c.run(["backup", s(&src)]).ok();
    let got = c.run(["--json", "destination", "get", "default", "--show-password"]).ok().json();
    let password = got["password"].as_str().unwrap().to_string();
    let repo = got["url"].as_str().unwrap().to_string();
    // The catalog is lost (or another is named): no wrong-password puzzle, but what is missing.
    let other = t.path().join("other.sqlite");
    for args in [vec!["--catalog", s(&other), "snapshots"], vec!["--catalog", s(&other), "backup", s(&src)]] {
        let r = c.run(&args);
        assert_ne!(r.code, 0, "{args:?}");
        let line = one_line_error(&r.stderr);
        assert!(line.contains("was made with a catalog that is not this one"), "{line}");
        assert!(r.stderr.contains("cairn recover"), "{}", r.stderr);
        assert!(!r.stderr.contains("CAIRN_PASSWORD, --password-file"), "{}", r.stderr);
    }
    // Knowing its password, the user adds it read-only as the hint says, and the snapshot is there.
    assert!(r_hint(&c, &other).contains("--read-only"));
    let with = c.clone().env("CAIRN_PASSWORD", &password);
    let add = ["--catalog", s(&other), "destination", "create", "--name", "old-default", "--url", &repo, "--read-only"];
    with.run(add).ok();
    let snapshots = c.run(["--catalog", s(&other), "--json", "snapshots", "--destination", "old-default"]).ok().json();
    assert_eq!(snapshots.as_array().unwrap().len(), 1);
    // A catalog password that does not open a destination's repository says where it came from.
    let elsewhere = t.path().join("elsewhere.sqlite");
    let untested =
        ["--catalog", s(&elsewhere), "destination", "create", "--name", "usb", "--url", &repo, "--skip-test"];
    c.run(untested).ok();
    let r = c.run(["--catalog", s(&elsewhere), "snapshots", "--destination", "usb"]).code(12);
    let line = one_line_error(&r.stderr);
    assert!(line.contains("the password this catalog holds for destination \"usb\" does not open"), "{line}");
    assert!(r.stderr.contains("cairn destination reindex usb"), "{}", r.stderr);
}
