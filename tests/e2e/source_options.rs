//! What the filesystem source leaves out: excludes, other filesystems, unreadable entries.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use cairn_e2e::{Tmpfs, is_root, prerequisite};

use crate::{cairn, init, s};

fn listing(c: &cairn_e2e::Cairn, repo: &std::path::Path) -> String {
    c.run(["ls", "latest", "--repo", s(repo)]).ok().stdout
}

#[test]
fn excludes_from_flags_and_files() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    for d in ["a/node_modules/x", "a/build/out", "a/keep", "cache"] {
        fs::create_dir_all(src.join(d)).unwrap();
    }
    for f in ["a/node_modules/x/i.js", "a/build/out/o.bin", "a/keep/k.txt", "a/keep/t.tmp", "cache/c", "top.log"] {
        fs::write(src.join(f), f).unwrap();
    }
    let ex = t.path().join("excludes");
    fs::write(&ex, format!("# comment\nnode_modules\n\n  {}/cache  \n", s(&src))).unwrap();
    let repo = t.path().join("repo");
    let c = cairn(t.path());
    init(&c, &repo, 1);
    let r = c
        .run([
            "--json",
            "backup",
            "--repo",
            s(&repo),
            "-e",
            "*.tmp",
            "--exclude",
            "build/out",
            "--exclude",
            "*.log",
            "--exclude-file",
            s(&ex),
            s(&src),
        ])
        .ok()
        .json();
    assert_eq!(r["stats"]["files_new"], 1, "{r}");
    let l = listing(&c, &repo);
    assert!(l.contains("/a/keep/k.txt"), "{l}");
    for gone in ["node_modules", "o.bin", "t.tmp", "/cache", "top.log"] {
        assert!(!l.contains(gone), "{gone} was not excluded:\n{l}");
    }
    // The patterns are recorded in the snapshot.
    let snaps = c.run(["--json", "snapshots", "--repo", s(&repo)]).ok().json();
    let recorded = snaps[0]["excludes"].as_array().unwrap();
    assert!(recorded.iter().any(|p| p == "node_modules") && recorded.iter().any(|p| p == "*.tmp"), "{snaps}");
}

#[test]
fn one_file_system_keeps_mount_points_empty() {
    if !prerequisite(is_root(), "root (to mount a tmpfs inside the source)") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    fs::create_dir_all(src.join("mnt")).unwrap();
    fs::write(src.join("here.txt"), b"same filesystem").unwrap();
    let Some(_m) = Tmpfs::mount(&src.join("mnt"), 1024) else {
        assert!(prerequisite(false, "mount -t tmpfs"));
        return;
    };
    fs::write(src.join("mnt/there.txt"), b"other filesystem").unwrap();
    let repo = t.path().join("repo");
    let c = cairn(t.path());
    init(&c, &repo, 1);
    c.run(["backup", "-x", "--repo", s(&repo), s(&src)]).ok();
    let l = listing(&c, &repo);
    assert!(l.contains("/here.txt") && l.contains("/mnt\n") && !l.contains("there.txt"), "{l}");
    c.run(["backup", "--repo", s(&repo), s(&src)]).ok();
    assert!(listing(&c, &repo).contains("/mnt/there.txt"));
}

#[test]
fn unreadable_entries_are_reported_and_the_backup_still_succeeds() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    fs::create_dir_all(src.join("secret-dir")).unwrap();
    fs::create_dir_all(src.join("open")).unwrap();
    fs::write(src.join("open/ok.txt"), b"readable").unwrap();
    fs::write(src.join("secret.txt"), b"unreadable").unwrap();
    fs::write(src.join("secret-dir/inside"), b"unreadable").unwrap();
    fs::set_permissions(src.join("secret.txt"), fs::Permissions::from_mode(0o000)).unwrap();
    fs::set_permissions(src.join("secret-dir"), fs::Permissions::from_mode(0o000)).unwrap();
    let repo = t.path().join("repo");
    let home = t.path().join("home");
    fs::create_dir_all(&home).unwrap();
    let c = cairn(t.path());
    init(&c, &repo, 1);
    // Root reads everything: run the backup as an unprivileged user instead.
    let mut cmd = c.command(["--json", "backup", "--repo", s(&repo), s(&src)]);
    if is_root() {
        let have = Command::new("setpriv").arg("--version").output().is_ok();
        if !prerequisite(have, "setpriv (util-linux) to drop root") {
            return;
        }
        for p in [t.path(), &repo, &home] {
            Command::new("chmod").args(["-R", "a+rwX"]).arg(p).status().unwrap();
        }
        fs::set_permissions(src.join("secret.txt"), fs::Permissions::from_mode(0o000)).unwrap();
        fs::set_permissions(src.join("secret-dir"), fs::Permissions::from_mode(0o000)).unwrap();
        let program = cmd.get_program().to_owned();
        let args: Vec<_> = cmd.get_args().map(|a| a.to_owned()).collect();
        let envs: Vec<_> = cmd.get_envs().map(|(k, v)| (k.to_owned(), v.map(|v| v.to_owned()))).collect();
        cmd = Command::new("setpriv");
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"]).arg(program).args(args).env_clear();
        for (k, v) in envs {
            if let Some(v) = v {
                cmd.env(k, v);
            }
        }
    }
    let r = cairn_e2e::finish(cmd.output().unwrap()).code(3);
    let v = r.json();
    assert_eq!(v["stats"]["errors"], 2, "{v}");
    assert_eq!(v["stats"]["files_new"], 1);
    assert!(
        r.stderr.contains("secret.txt") && r.stderr.contains("secret-dir") && r.stderr.contains("ermission denied"),
        "{}",
        r.stderr
    );
    let l = listing(&c, &repo);
    assert!(l.contains("/open/ok.txt") && !l.contains("secret"), "{l}");
}
