//! Repository lifecycle: retention (forget) on a real local repository.

use std::fs;

use cairn_e2e::diff_trees;

use crate::{cairn, init, s};

#[test]
fn forget_keeps_what_the_policy_says_and_kept_snapshots_restore() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    fs::create_dir_all(&src).unwrap();
    let repo = t.path().join("repo");
    // Calendar rules use local time: pin it so that the expected buckets hold anywhere.
    let c = cairn(t.path()).env("TZ", "UTC");
    init(&c, &repo, 1);

    // Seven backups over a few days; each leaves a different version of the tree.
    let times = [
        ("2026-01-01T08:00:00Z", None),
        ("2026-01-01T20:00:00Z", None),
        ("2026-01-02T08:00:00Z", Some("release")),
        ("2026-01-03T08:00:00Z", None),
        ("2026-01-03T09:00:00Z", None),
        ("2026-01-04T08:00:00Z", None),
        ("2026-01-04T10:00:00Z", None),
    ];
    let mut ids = Vec::new();
    for (i, (time, tag)) in times.iter().enumerate() {
        fs::write(src.join("version.txt"), format!("version {i}\n").repeat(1000)).unwrap();
        fs::write(src.join(format!("added-{i}.bin")), cairn_e2e::random_bytes(i as u64, 100_000)).unwrap();
        let mut args = vec!["--json", "backup", "--repo", s(&repo), "--host", "box", "--time", time, s(&src)];
        if let Some(tag) = tag {
            args.extend(["--tag", tag]);
        }
        let out = c.run(args).ok().json();
        ids.push(out["snapshot_id"].as_str().unwrap().to_string());
        // Keep a copy of this version to compare restores with.
        let copy = t.path().join(format!("v{i}"));
        assert!(std::process::Command::new("cp").arg("-a").arg(&src).arg(&copy).status().unwrap().success());
    }

    // No rule and no snapshot: refused with guidance.
    let refused = c.run(["forget", "--repo", s(&repo)]).code(2);
    assert!(refused.stderr.contains("--keep-daily"), "{}", refused.stderr);
    // A bad duration says what to write.
    let bad = c.run(["forget", "--repo", s(&repo), "--keep-within", "3 parsecs"]).code(2);
    assert!(bad.stderr.contains("2w, 36h"), "{}", bad.stderr);

    // The dry run prints the plan with reasons and changes nothing. Keep the newest of the 2
    // newest days (6 and 4) plus the tagged one (2) and everything within 1 day of the newest
    // (5 and 6).
    let policy = ["--keep-daily", "2", "--keep-tag", "release", "--keep-within", "1d"];
    let plan = c.run([&["--json", "forget", "--repo", s(&repo), "--dry-run"][..], &policy[..]].concat()).ok().json();
    assert_eq!(plan["dry_run"], true);
    let group = &plan["groups"][0];
    let kept: Vec<&str> = group["keep"].as_array().unwrap().iter().map(|k| k["id"].as_str().unwrap()).collect();
    assert_eq!(kept, vec![&ids[6], &ids[5], &ids[4], &ids[2]]);
    assert_eq!(group["keep"][0]["reasons"], serde_json::json!(["daily", "within"]));
    assert_eq!(group["keep"][3]["reasons"], serde_json::json!(["tag release"]));
    assert_eq!(group["remove"].as_array().unwrap().len(), 3);
    let listed = c.run(["--json", "snapshots", "--repo", s(&repo)]).ok().json();
    assert_eq!(listed.as_array().unwrap().len(), 7, "a dry run removes nothing");
    let text = c.run([&["forget", "--repo", s(&repo), "--dry-run"][..], &policy[..]].concat()).ok();
    assert!(text.stdout.contains("daily, within") && text.stdout.contains("would be removed"), "{}", text.stdout);

    // The real run removes exactly the planned snapshots.
    c.run([&["forget", "--repo", s(&repo)][..], &policy[..]].concat()).ok();
    let listed = c.run(["--json", "snapshots", "--repo", s(&repo)]).ok().json();
    let mut left: Vec<&str> = listed.as_array().unwrap().iter().map(|x| x["id"].as_str().unwrap()).collect();
    left.sort();
    let mut expected = vec![ids[2].as_str(), ids[4].as_str(), ids[5].as_str(), ids[6].as_str()];
    expected.sort();
    assert_eq!(left, expected);

    // Every kept snapshot restores to its point in time.
    for i in [2, 4, 5, 6] {
        let out = t.path().join(format!("restore-{i}"));
        assert_restores(&c, &repo, &ids[i], &src, &t.path().join(format!("v{i}")), &out, &format!("snapshot {i}"));
    }

    // Stats: seven snapshots' worth of files stored once.
    let st = c.run(["--json", "stats", "--repo", s(&repo)]).ok().json();
    assert_eq!(st["snapshots"], 4, "{st}");
    assert!(st["deduplication_ratio"].as_f64().unwrap() > 2.0, "{st}");
    assert!(st["compression_ratio"].as_f64().unwrap() > 1.0, "the repeated text compresses: {st}");
    assert!(st["pack_bytes"].as_u64().unwrap() >= st["unique_stored_bytes"].as_u64().unwrap(), "{st}");

    // Forget by id.
    let by_id = c.run(["--json", "forget", "--repo", s(&repo), &ids[4][..10]]).ok().json();
    assert_eq!(by_id["removed"], serde_json::json!([ids[4]]));
    let listed = c.run(["--json", "snapshots", "--repo", s(&repo)]).ok().json();
    assert_eq!(listed.as_array().unwrap().len(), 3);
}

#[test]
fn concurrent_backups_from_two_processes_both_succeed_and_restore() {
    let t = tempfile::tempdir().unwrap();
    let repo = t.path().join("repo");
    let c = cairn(t.path());
    init(&c, &repo, 1);
    let a = t.path().join("a");
    let b = t.path().join("b");
    cairn_e2e::make_tree(&a, 30 << 20);
    cairn_e2e::make_tree(&b, 20 << 20);
    // Shared content between the two trees, so both processes race to store the same blobs.
    fs::write(b.join("shared.bin"), fs::read(a.join("big.bin")).unwrap()).unwrap();

    let spawn = |src: &std::path::Path, host: &str| {
        c.command(["--json", "backup", "--repo", s(&repo), "--host", host, s(src)])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let pa = spawn(&a, "machine-a");
    let pb = spawn(&b, "machine-b");
    let ra = cairn_e2e::finish(pa.wait_with_output().unwrap()).ok().json();
    let rb = cairn_e2e::finish(pb.wait_with_output().unwrap()).ok().json();
    assert!(fs::read_dir(repo.join("locks")).unwrap().next().is_none(), "both locks were released");

    both_restore_and_check(&c, &repo, t.path(), [(&a, &ra), (&b, &rb)]);
}

#[test]
fn unlock_removes_only_locks_whose_process_is_gone() {
    let t = tempfile::tempdir().unwrap();
    let repo = t.path().join("repo");
    let c = cairn(t.path());
    init(&c, &repo, 1);
    let src = t.path().join("src");
    fs::create_dir_all(&src).unwrap();
    // A sparse 64 GiB file keeps the backup busy (hashing zeros) for as long as the test needs.
    fs::File::create(src.join("huge.img")).unwrap().set_len(64 << 30).unwrap();
    let locks = || fs::read_dir(repo.join("locks")).map(|d| d.count()).unwrap_or(0);

    // A backup holds a shared lock while it runs.
    let mut running = c
        .command(["backup", "--repo", s(&repo), "--no-progress", s(&src)])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while locks() == 0 {
        assert!(start.elapsed() < std::time::Duration::from_secs(60), "the backup never took its lock");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let kept = c.run(["--json", "unlock", "--repo", s(&repo)]).ok().json();
    assert_eq!(kept["removed"], serde_json::json!([]), "a live process's lock stays: {kept}");
    assert!(kept["kept"][0].as_str().unwrap().starts_with("backup on "), "{kept}");

    // Killed, it leaves its lock behind; unlock sees the process is gone and removes it.
    running.kill().unwrap();
    running.wait().unwrap();
    assert_eq!(locks(), 1, "a killed process leaves its lock");
    let text = c.run(["unlock", "--repo", s(&repo)]).ok();
    assert!(text.stdout.contains("removed the lock of a process that is gone: backup on"), "{}", text.stdout);
    assert_eq!(locks(), 0);
    // The interrupted backup left a valid repository.
    fs::remove_file(src.join("huge.img")).unwrap();
    fs::write(src.join("small.txt"), b"small").unwrap();
    c.run(["backup", "--repo", s(&repo), "--no-progress", s(&src)]).ok();
    c.run(["check", "--repo", s(&repo)]).ok();
}

/// Restores `src` as `snapshot` holds it into `out` and asserts that it equals `expected`.
#[track_caller]
fn assert_restores(
    c: &cairn_e2e::Cairn,
    repo: &std::path::Path,
    snapshot: &str,
    src: &std::path::Path,
    expected: &std::path::Path,
    out: &std::path::Path,
    context: &str,
) {
    c.run(["restore", &format!("{snapshot}:{}", s(src)), "--repo", s(repo), "--target", s(out)]).ok();
    let diffs = diff_trees(expected, out);
    assert!(diffs.is_empty(), "{context}:\n{}", diffs.join("\n"));
}

/// Each backup's snapshot (from its `--json` output) restores to its source exactly, and
/// `check --read-data` finds no error.
fn both_restore_and_check(
    c: &cairn_e2e::Cairn,
    repo: &std::path::Path,
    scratch: &std::path::Path,
    backups: [(&std::path::PathBuf, &serde_json::Value); 2],
) {
    for (src, res) in backups {
        let id = res["snapshot_id"].as_str().unwrap();
        let out = scratch.join(format!("out-{id}"));
        assert_restores(c, repo, id, src, src, &out, &src.display().to_string());
    }
    let check = c.run(["--json", "check", "--repo", s(repo), "--read-data"]).ok().json();
    assert_eq!(check["errors"], 0, "{check}");
}

/// Bytes under `dir`, recursively.
fn du(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    for e in fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let m = e.metadata().unwrap();
        total += if m.is_dir() { du(&e.path()) } else { m.len() };
    }
    total
}

fn snapshot_ids(c: &cairn_e2e::Cairn, repo: &std::path::Path) -> Vec<String> {
    let listed = c.run(["--json", "snapshots", "--repo", s(repo)]).ok().json();
    listed.as_array().unwrap().iter().map(|x| x["id"].as_str().unwrap().to_string()).collect()
}

#[test]
fn prune_after_forget_frees_the_space_and_everything_left_restores() {
    let t = tempfile::tempdir().unwrap();
    let repo = t.path().join("repo");
    let c = cairn(t.path());
    init(&c, &repo, 1);
    let src = t.path().join("src");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("old.bin"), cairn_e2e::random_bytes(1, 12 << 20)).unwrap();
    fs::write(src.join("kept.bin"), cairn_e2e::random_bytes(2, 6 << 20)).unwrap();
    let first = c.run(["--json", "backup", "--repo", s(&repo), s(&src)]).ok().json();
    fs::remove_file(src.join("old.bin")).unwrap();
    fs::write(src.join("new.bin"), cairn_e2e::random_bytes(3, 3 << 20)).unwrap();
    c.run(["backup", "--repo", s(&repo), s(&src)]).ok();
    let full = du(&repo);

    // Nothing to prune while both snapshots exist.
    let none = c.run(["--json", "prune", "--repo", s(&repo)]).ok().json();
    assert_eq!(none["prune"]["blobs_unused"], 0, "{none}");
    assert_eq!(du(&repo), full);

    c.run(["forget", "--repo", s(&repo), first["snapshot_id"].as_str().unwrap()]).ok();
    let full = du(&repo);
    let dry = c.run(["--json", "prune", "--repo", s(&repo), "--dry-run"]).ok().json();
    let estimate = dry["prune"]["bytes_freed"].as_u64().unwrap();
    assert!(estimate > 11 << 20, "old.bin's 12 MiB (random, incompressible) is freed: {dry}");
    assert_eq!(du(&repo), full, "a dry run changes nothing");
    let text = c.run(["prune", "--repo", s(&repo), "--dry-run"]).ok();
    assert!(text.stdout.contains("would free about"), "{}", text.stdout);

    let done = c.run(["--json", "prune", "--repo", s(&repo)]).ok().json();
    let freed = done["prune"]["bytes_freed"].as_u64().unwrap();
    let after = du(&repo);
    assert!(freed > 11 << 20 && full - after > 11 << 20, "freed {freed}, {full} -> {after}");
    assert!(after > 9 << 20, "kept.bin and new.bin stay: {after}");
    let check = c.run(["--json", "check", "--repo", s(&repo), "--read-data"]).ok().json();
    assert_eq!((check["errors"].as_u64(), check["warnings"].as_u64()), (Some(0), Some(0)), "{check}");
    let out = t.path().join("out");
    assert_restores(&c, &repo, "latest", &src, &src, &out, "after prune");

    // forget --prune does both in one go.
    fs::write(src.join("another.bin"), cairn_e2e::random_bytes(4, 4 << 20)).unwrap();
    c.run(["backup", "--repo", s(&repo), s(&src)]).ok();
    let before = du(&repo);
    let both = c.run(["--json", "forget", "--repo", s(&repo), "--keep-last", "1", "--prune"]).ok().json();
    assert_eq!(both["removed"], 1, "{both}");
    assert!(both["prune"]["blobs_unused"].as_u64().unwrap() > 0, "{both}");
    assert!(du(&repo) <= before);
    c.run(["check", "--repo", s(&repo), "--read-data"]).ok();
}

#[test]
fn a_prune_killed_midway_leaves_a_valid_repository_and_a_rerun_finishes() {
    let t = tempfile::tempdir().unwrap();
    let repo = t.path().join("repo");
    let c = cairn(t.path());
    init(&c, &repo, 1);
    let src = t.path().join("src");
    fs::create_dir_all(&src).unwrap();
    // Many small files in many packs, half of them forgotten: lots of repacking to interrupt.
    for i in 0..400u64 {
        fs::write(src.join(format!("f{i:03}")), cairn_e2e::random_bytes(i, 100_000)).unwrap();
    }
    c.run(["backup", "--repo", s(&repo), s(&src)]).ok();
    for i in (0..400u64).step_by(2) {
        fs::remove_file(src.join(format!("f{i:03}"))).unwrap();
    }
    c.run(["backup", "--repo", s(&repo), s(&src)]).ok();
    c.run(["forget", "--repo", s(&repo), "--keep-last", "1"]).ok();

    let mut interrupted = 0;
    for delay_ms in [5u64, 20, 40, 70, 100, 150, 220, 300] {
        let mut p = c
            .command(["prune", "--repo", s(&repo), "--repack-threshold", "0"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let still_running = p.try_wait().unwrap().is_none();
        p.kill().ok();
        p.wait().unwrap();
        if still_running {
            interrupted += 1;
        }
        // Whatever the moment, the repository checks clean of errors and the snapshot restores.
        let check = c.run(["--json", "check", "--repo", s(&repo), "--read-data"]).ok().json();
        assert_eq!(check["errors"], 0, "after a kill at {delay_ms} ms: {check}");
        let out = t.path().join(format!("out-{delay_ms}"));
        assert_restores(&c, &repo, "latest", &src, &src, &out, &format!("after a kill at {delay_ms} ms"));
    }
    assert!(interrupted > 0, "no prune was interrupted: the test needs a slower prune");
    // A rerun (taking over the killed prune's lock) finishes the job.
    c.run(["prune", "--repo", s(&repo), "--repack-threshold", "0"]).ok();
    let again = c.run(["--json", "prune", "--repo", s(&repo), "--dry-run", "--repack-threshold", "0"]).ok().json();
    assert_eq!(again["prune"]["blobs_unused"], 0, "{again}");
    let check = c.run(["--json", "check", "--repo", s(&repo), "--read-data"]).ok().json();
    assert_eq!((check["errors"].as_u64(), check["warnings"].as_u64()), (Some(0), Some(0)), "{check}");
}

#[test]
fn two_backups_and_a_prune_at_once_lose_nothing() {
    let t = tempfile::tempdir().unwrap();
    let repo = t.path().join("repo");
    let c = cairn(t.path());
    init(&c, &repo, 1);
    let a = t.path().join("a");
    let b = t.path().join("b");
    cairn_e2e::make_tree(&a, 20 << 20);
    cairn_e2e::make_tree(&b, 20 << 20);
    // Something for the prune to delete: an older snapshot of a, forgotten.
    fs::write(a.join("gone.bin"), cairn_e2e::random_bytes(9, 8 << 20)).unwrap();
    let old = c.run(["--json", "backup", "--repo", s(&repo), s(&a)]).ok().json();
    fs::remove_file(a.join("gone.bin")).unwrap();
    c.run(["forget", "--repo", s(&repo), old["snapshot_id"].as_str().unwrap()]).ok();

    let spawn = |args: &[&str]| {
        let mut all = vec!["--json", "--retry-lock", "2m", "--repo", s(&repo)];
        all.extend_from_slice(args);
        c.command(all).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap()
    };
    let ba = spawn(&["backup", "--host", "a", s(&a)]);
    let pr = spawn(&["prune", "--repack-threshold", "0"]);
    let bb = spawn(&["backup", "--host", "b", s(&b)]);
    let ra = cairn_e2e::finish(ba.wait_with_output().unwrap()).ok().json();
    let rb = cairn_e2e::finish(bb.wait_with_output().unwrap()).ok().json();
    cairn_e2e::finish(pr.wait_with_output().unwrap()).ok();

    // Every remaining snapshot restores exactly.
    let ids = snapshot_ids(&c, &repo);
    assert_eq!(ids.len(), 2, "{ids:?}");
    both_restore_and_check(&c, &repo, t.path(), [(&a, &ra), (&b, &rb)]);
}

#[test]
fn several_passwords_open_one_repository_and_the_last_key_stays() {
    let t = tempfile::tempdir().unwrap();
    let repo = t.path().join("repo");
    let c = cairn(t.path());
    init(&c, &repo, 1);
    let src = t.path().join("src");
    cairn_e2e::make_tree(&src, 1 << 20);
    c.run(["backup", "--repo", s(&repo), s(&src)]).ok();

    let added =
        c.clone().env("CAIRN_NEW_PASSWORD", "second password").run(["--json", "key", "add", "--repo", s(&repo)]);
    let second_id = added.ok().json()["added"].as_str().unwrap().to_string();
    let keys = c.run(["--json", "key", "list", "--repo", s(&repo)]).ok().json();
    let keys = keys.as_array().unwrap();
    assert_eq!(keys.len(), 2);
    let first_id = keys.iter().find(|k| k["current"] == true).unwrap()["id"].as_str().unwrap().to_string();
    assert_ne!(first_id, second_id);

    // The second password opens the repository too.
    let second = c.clone().env("CAIRN_PASSWORD", "second password");
    second.run(["snapshots", "--repo", s(&repo)]).ok();
    // The key in use cannot be removed; another can.
    let refused = c.run(["key", "remove", "--repo", s(&repo), &first_id[..8]]).code(2);
    assert!(refused.stderr.contains("your password opened"), "{}", refused.stderr);
    c.run(["key", "remove", "--repo", s(&repo), &second_id[..8]]).ok();
    second.run(["snapshots", "--repo", s(&repo)]).code(12);

    // passwd swaps the password; the old one stops working, the data is intact.
    c.clone().env("CAIRN_NEW_PASSWORD", "third password").run(["key", "passwd", "--repo", s(&repo)]).ok();
    c.run(["snapshots", "--repo", s(&repo)]).code(12);
    let third = c.clone().env("CAIRN_PASSWORD", "third password");
    let keys = third.run(["--json", "key", "list", "--repo", s(&repo)]).ok().json();
    assert_eq!(keys.as_array().unwrap().len(), 1);
    // The only key left is the one in use: it is never removed.
    let only = keys[0]["id"].as_str().unwrap();
    third.run(["key", "remove", "--repo", s(&repo), only]).code(2);
    let out = t.path().join("out");
    assert_restores(&third, &repo, "latest", &src, &src, &out, "after passwd");
}

/// Key derivation cost (issue 3's memory floor): a repository made with a password the catalog
/// generated (256 random bits) derives its key with the light Argon2id cost, since stretching
/// adds nothing to a random key; one made with a password a person gave, and any key added for a
/// typed password afterwards, gets the full 64 MiB, 3 passes.
#[test]
fn generated_passwords_derive_keys_light_and_typed_ones_full() {
    let t = tempfile::tempdir().unwrap();
    let c = crate::cairn_home(t.path());
    let src = t.path().join("src");
    cairn_e2e::make_tree(&src, 64 << 10);
    let kdf = |c: &cairn_e2e::Cairn, args: &[&str]| {
        let mut all = vec!["--json", "key", "list"];
        all.extend_from_slice(args);
        let keys = c.run(all).ok().json();
        keys.as_array().unwrap().iter().map(|k| k["kdf"].clone()).collect::<Vec<_>>()
    };

    // The default destination: its password is generated, so its key is light.
    c.run(["backup", s(&src)]).ok();
    let keys = kdf(&c, &[]);
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["memory_kib"], 1024, "{keys:?}");
    assert_eq!(keys[0]["iterations"], 1);
    assert_eq!(keys[0]["generated_password"], true);
    let table = c.run(["key", "list"]).ok().stdout;
    assert!(table.contains("Argon2id 1 MiB x1 (generated)"), "{table}");

    // A typed password added to it gets the full cost, not the light one it was opened with.
    c.clone().env("CAIRN_NEW_PASSWORD", "typed password").run(["key", "add"]).ok();
    let keys = kdf(&c, &[]);
    assert_eq!(keys.len(), 2);
    assert!(keys.iter().any(|k| k["memory_kib"] == 65536 && k["iterations"] == 3), "{keys:?}");

    // A catalog destination made with a generated password: light. One adopting a password a
    // person gave, at a place with no repository yet: full.
    let generated = t.path().join("generated");
    c.run(["destination", "create", "--name", "gen", "--url", s(&generated)]).ok();
    let keys = kdf(&c, &["--destination", "gen"]);
    assert_eq!(keys[0]["generated_password"], true, "{keys:?}");
    let typed = t.path().join("typed");
    c.clone()
        .env("CAIRN_PASSWORD", "a person's password")
        .run(["destination", "create", "--name", "typed", "--url", s(&typed)])
        .ok();
    let keys = kdf(&c, &["--destination", "typed"]);
    assert_eq!(keys[0]["memory_kib"], 65536, "{keys:?}");
    assert_eq!(keys[0]["generated_password"], false);

    // A password typed for --repo: full.
    let repo = t.path().join("repo");
    let typed = c.clone().env("CAIRN_PASSWORD", "typed");
    typed.run(["init", "--repo", s(&repo)]).ok();
    let keys = kdf(&typed, &["--repo", s(&repo)]);
    assert_eq!(keys[0]["memory_kib"], 65536, "{keys:?}");
}

/// What `cairn ARGS` draws on a terminal (a pseudo-terminal made by `script`), its bar redraws
/// split into lines.
fn on_a_terminal(c: &cairn_e2e::Cairn, args: &[&str]) -> Vec<String> {
    let program = env!("CARGO_BIN_EXE_cairn");
    let line = std::iter::once(program).chain(args.iter().copied()).map(|a| format!("'{a}'")).collect::<Vec<_>>();
    // The sandbox's environment (HOME, PATH, the password), as `cairn` would get it.
    let sandbox = c.command(Vec::<String>::new());
    let env = sandbox.get_envs().filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned())));
    let out = std::process::Command::new("script")
        .args(["-qfec", &line.join(" "), "/dev/null"])
        .env_clear()
        .envs(env)
        .env("TERM", "xterm")
        .output()
        .expect("run script");
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stdout).split(['\r', '\n']).map(str::to_string).collect()
}

#[test]
fn progress_on_a_terminal_shows_the_total_and_the_time_left_in_the_right_units() {
    cairn_e2e::prerequisite(cairn_e2e::servers::find_tool("script").is_some(), "script (apt-get install bsdutils)");
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("big.bin"), cairn_e2e::random_bytes(7, 96 << 20)).unwrap();
    let repo = t.path().join("repo");
    let c = cairn(t.path());
    init(&c, &repo, 4);
    // A backup learns its total from a scan of the sources: bytes of a total, and time left.
    let lines = on_a_terminal(&c, &["backup", "--repo", s(&repo), s(&src)]);
    let bars: Vec<&String> = lines.iter().filter(|l| l.contains("backing up")).collect();
    assert!(bars.iter().any(|l| l.contains("/96.00 MiB") && l.contains(" left")), "{bars:#?}");
    // A data check counts packs, not bytes.
    let lines = on_a_terminal(&c, &["check", "--read-data", "--repo", s(&repo)]);
    let bars: Vec<&String> = lines.iter().filter(|l| l.contains("checking packs")).collect();
    assert!(!bars.is_empty(), "{lines:#?}");
    for bar in &bars {
        assert!(!bar.contains(" B/") && !bar.contains("B/s"), "packs counted as bytes: {bar}");
    }
    assert!(bars.iter().any(|l| l.contains(" left")), "{bars:#?}");
}
