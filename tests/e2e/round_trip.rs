//! Back up a generated tree, restore it, compare everything; back up again and read nothing.

use std::fs;
use std::process::Command;

use cairn_e2e::{diff_trees, make_tree, repo_files};

use crate::{cairn, init, s};

#[test]
fn backup_restore_is_exact_and_an_unchanged_backup_reads_nothing() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    let files = make_tree(&src, 50 << 20) as u64;
    assert!(Command::new("mkfifo").arg(src.join("pipe")).status().unwrap().success());
    let repo = t.path().join("repo");
    let c = cairn(t.path());
    init(&c, &repo, 4);

    let first = c.run(["--json", "backup", "--repo", s(&repo), s(&src)]).ok().json();
    let st = &first["stats"];
    assert_eq!(st["files_new"], files, "{first}");
    assert_eq!(st["skipped"], 1, "the FIFO is reported and skipped: {first}");
    assert_eq!(st["errors"], 0);
    assert!(first["warnings"].to_string().contains("FIFO skipped"), "{first}");
    let total = st["bytes_total"].as_u64().unwrap();
    assert_eq!(st["bytes_read"].as_u64().unwrap(), total);
    assert!(total > 50 << 20);
    // The duplicate readme is stored once and text compresses.
    assert!(st["bytes_added_stored"].as_u64().unwrap() < total - 200_000, "{first}");

    // Restore everything: the backed-up path is recreated under the target.
    let out = t.path().join("out");
    c.run(["restore", "latest", "--repo", s(&repo), "--target", s(&out)]).ok();
    let restored = out.join(src.strip_prefix("/").unwrap());
    let diffs = diff_trees(&src, &restored);
    assert_eq!(diffs, vec!["missing: pipe".to_string()], "restore differs:\n{}", diffs.join("\n"));

    // A second backup with nothing changed reads no file and adds only a snapshot.
    let before = repo_files(&repo);
    let second = c.run(["--json", "backup", "--repo", s(&repo), s(&src)]).ok().json();
    let st2 = &second["stats"];
    assert_eq!(second["parent"], first["snapshot_id"]);
    assert_eq!(st2["bytes_read"], 0, "{second}");
    assert_eq!(st2["files_unmodified"], files);
    assert_eq!((st2["files_new"].as_u64(), st2["files_changed"].as_u64()), (Some(0), Some(0)));
    assert_eq!((st2["packs_written"].as_u64(), st2["index_files_written"].as_u64()), (Some(0), Some(0)));
    let after = repo_files(&repo);
    let added: Vec<&String> = after.iter().filter(|f| !before.contains(f)).collect();
    let id = second["snapshot_id"].as_str().unwrap();
    assert_eq!(added, vec![&format!("snapshots/{id}")]);

    // A changed file is read again, alone.
    fs::write(src.join("docs/notes/n03.txt"), b"changed contents").unwrap();
    let third = c.run(["--json", "backup", "--repo", s(&repo), s(&src)]).ok().json();
    assert_eq!(third["stats"]["files_changed"], 1, "{third}");
    assert_eq!(third["stats"]["bytes_read"], 16);

    // Restore one directory of the first snapshot, and one file.
    let first_id = first["snapshot_id"].as_str().unwrap();
    let docs = t.path().join("docs-only");
    c.run(["restore", &format!("{}:{}/docs", &first_id[..10], s(&src)), "--repo", s(&repo), "--target", s(&docs)]).ok();
    fs::write(docs.join("notes/n03.txt"), fs::read(restored.join("docs/notes/n03.txt")).unwrap()).unwrap();
    assert!(diff_trees(&restored.join("docs"), &docs).iter().all(|d| d.contains("n03.txt")));
    let one = t.path().join("one-file");
    c.run(["restore", &format!("latest:{}/code/setuid-tool", s(&src)), "--repo", s(&repo), "--target", s(&one)]).ok();
    assert_eq!(fs::read(one.join("setuid-tool")).unwrap(), b"not really");

    // ls, long and JSON.
    let ls = c.run(["ls", "latest", "--repo", s(&repo)]).ok();
    assert!(ls.stdout.contains(&format!("{}/docs/readme.md\n", s(&src))), "{}", ls.stdout);
    let long = c.run(["ls", "-l", "latest", &format!("{}/code", s(&src)), "--repo", s(&repo)]).ok();
    assert!(long.stdout.lines().any(|l| l.starts_with("-rwsr-xr-x") && l.ends_with("setuid-tool")), "{}", long.stdout);
    let lines = c.run(["--json", "ls", "latest", "--repo", s(&repo)]).ok();
    let first_line: serde_json::Value = serde_json::from_str(lines.stdout.lines().next().unwrap()).unwrap();
    assert_eq!(first_line["type"], "dir");

    let snaps = c.run(["--json", "snapshots", "--repo", s(&repo)]).ok().json();
    assert_eq!(snaps.as_array().unwrap().len(), 3);
    let text = c.run(["snapshots", "--repo", s(&repo)]).ok();
    assert!(text.stdout.contains(&id[..8]) && text.stdout.contains("3 snapshots"), "{}", text.stdout);

    let check = c.run(["--json", "check", "--read-data", "--repo", s(&repo)]).ok().json();
    assert_eq!(check["errors"], 0, "{check}");
    assert!(check["stats"]["bytes_read"].as_u64().unwrap() > 40 << 20);
}

#[test]
fn the_default_repository_needs_no_setup() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("data");
    fs::create_dir_all(src.join("a")).unwrap();
    fs::write(src.join("a/f.txt"), b"first backup with no set-up").unwrap();
    // No --repo, no password: the default destination is added to the catalog (its password
    // generated and sealed there) and its repository is created by the first backup.
    let c = cairn_e2e::Cairn::new(env!("CARGO_BIN_EXE_cairn"), &t.path().join("home"));
    let run = c.run(["backup", s(&src)]).ok();
    assert!(run.stdout.contains("saved"), "{}", run.stdout);
    let data = t.path().join("home/.local/share/cairn");
    assert!(!data.join("repository.password").exists(), "no password in the clear");
    assert!(data.join("repository/config").exists());
    let got = c.run(["--json", "destination", "get", "default", "--show-password"]).ok().json();
    let secret = got["password"].as_str().unwrap().to_string();
    assert_eq!(secret.len(), 64);
    c.run(["backup", s(&src)]).ok();
    let snaps = c.run(["--json", "snapshots"]).ok().json();
    assert_eq!(snaps.as_array().unwrap().len(), 2);
    let out = t.path().join("out");
    c.run(["restore", &format!("latest:{}", s(&src)), "--target", s(&out)]).ok();
    assert_eq!(fs::read(out.join("a/f.txt")).unwrap(), b"first backup with no set-up");
    // The catalog's database holds no password in the clear.
    let db = fs::read(data.join("catalog.sqlite")).unwrap();
    assert!(!db.windows(64).any(|w| w == secret.as_bytes()));
    // The password never reaches the output.
    assert!(!run.stdout.contains(&secret) && !run.stderr.contains(&secret));
}

#[test]
fn a_default_repository_of_an_older_cairn_moves_into_the_catalog() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("data");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("f.txt"), b"kept by an older cairn").unwrap();
    // As an older Cairn left it: the repository and its password in a file, readable only by
    // the user.
    let data = t.path().join("home/.local/share/cairn");
    fs::create_dir_all(&data).unwrap();
    let pw = data.join("repository.password");
    let password = "a".repeat(64);
    fs::write(&pw, format!("{password}\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&pw, fs::Permissions::from_mode(0o600)).unwrap();
    let old = crate::cairn(t.path()).env("CAIRN_PASSWORD", &password);
    crate::init(&old, &data.join("repository"), 4);
    old.run(["backup", "--repo", s(&data.join("repository")), s(&src)]).ok();

    let c = cairn_e2e::Cairn::new(env!("CARGO_BIN_EXE_cairn"), &t.path().join("home"));
    let listed = c.run(["snapshots"]).ok();
    assert!(listed.stderr.contains("moved the default repository's password into the catalog"), "{}", listed.stderr);
    assert!(!pw.exists());
    let got = c.run(["--json", "destination", "get", "default", "--show-password"]).ok().json();
    assert_eq!(got["password"], password.as_str());
    c.run(["backup", s(&src)]).ok();
    assert_eq!(c.run(["--json", "snapshots"]).ok().json().as_array().unwrap().len(), 2);
}
