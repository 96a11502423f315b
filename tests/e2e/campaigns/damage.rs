//! Storage damage: objects of every type (config, keys, snapshots, index, packs) are flipped,
//! truncated or deleted at random, one at a time, each on a copy of a healthy repository with
//! three snapshots and two keys. For each: `check --read-data` must report it (naming the
//! object, and for data the snapshots and files that use it); every snapshot still restores
//! every file the damage did not touch; after damage to packs or the index, `repair index`
//! and `repair snapshots --read-data` then `prune --repack-threshold 0` (which copies the good
//! blobs out of a partly damaged pack and deletes it) bring the repository back to a passing check.
//!
//! Two deletions leave a repository that is consistent in itself and are reported differently:
//! a deleted snapshot shows as data that no snapshot uses (a warning; it is exact here, where
//! each snapshot has data of its own), and a deleted key that is not the one in use cannot be
//! told from a key that never existed (nothing in the repository lists the keys). The figures
//! count the latter apart as `undetectable`.

use std::path::{Path, PathBuf};

use cairn_e2e::{Cairn, Run, diff_trees, random_bytes, text_bytes};

use super::{Rng, full, report};
use crate::{cairn, init, s};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Config,
    Key,
    Snapshot,
    Index,
    Pack,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Damage {
    Flip,
    Truncate,
    Delete,
}

fn objects(repo: &Path, kind: Kind) -> Vec<PathBuf> {
    let dir = match kind {
        Kind::Config => return vec![repo.join("config")],
        Kind::Key => repo.join("keys"),
        Kind::Snapshot => repo.join("snapshots"),
        Kind::Index => repo.join("index"),
        Kind::Pack => repo.join("data"),
    };
    let mut out = Vec::new();
    let mut stack = vec![dir];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if !p.file_name().unwrap().to_string_lossy().starts_with('.') {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn apply(file: &Path, damage: Damage, rng: &mut Rng) -> String {
    let len = std::fs::metadata(file).unwrap().len();
    match damage {
        Damage::Flip => {
            let pos = rng.below(len);
            crate::flip(file, pos);
            format!("flipped byte {pos} of {len}")
        }
        Damage::Truncate => {
            let to = rng.below(len);
            std::fs::OpenOptions::new().write(true).open(file).unwrap().set_len(to).unwrap();
            format!("truncated from {len} to {to} bytes")
        }
        Damage::Delete => {
            std::fs::remove_file(file).unwrap();
            "deleted".into()
        }
    }
}

fn copy_repo(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    let ok = std::process::Command::new("cp").arg("-a").arg(from).arg(to).status().unwrap();
    assert!(ok.success());
}

/// Paths (relative to their source) that a restore got wrong.
fn wrong_files(src: &Path, out: &Path) -> Vec<String> {
    diff_trees(src, out)
        .into_iter()
        .filter(|d| d.starts_with("differs: ") || d.starts_with("missing: "))
        .filter(|d| !d.contains("kind: 'd'"))
        .map(|d| d.split_once(": ").unwrap().1.split(": ").next().unwrap().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

#[test]
fn campaign_damage() {
    let (mut rng, seed) = Rng::seeded(11);
    let w = tempfile::tempdir().unwrap();
    let c = cairn(w.path());
    let pristine = w.path().join("pristine");
    init(&c, &pristine, 1);
    let mut sources = Vec::new();
    for n in 0..3u64 {
        let src = w.path().join(format!("src{n}"));
        std::fs::create_dir_all(src.join("docs/deep")).unwrap();
        for i in 0..3u64 {
            std::fs::write(src.join(format!("photo-{i}.jpg")), random_bytes(n * 10 + i, 700_000)).unwrap();
        }
        for i in 0..30u64 {
            let dir = if i % 2 == 0 { "docs" } else { "docs/deep" };
            std::fs::write(src.join(format!("{dir}/note-{i}.txt")), text_bytes(n * 100 + i, 3_000 + 50 * i as usize))
                .unwrap();
        }
        c.run(["backup", "--repo", s(&pristine), s(&src)]).ok();
        sources.push(src);
    }
    let second = w.path().join("second-password");
    std::fs::write(&second, "the second password\n").unwrap();
    std::fs::set_permissions(&second, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    c.run(["key", "add", "--repo", s(&pristine), "--new-password-file", s(&second)]).ok();
    let keys = c.run(["--json", "key", "list", "--repo", s(&pristine)]).ok().json();
    let in_use: String = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["current"] == true)
        .map(|k| k["id"].as_str().unwrap().to_string())
        .expect("the key in use is marked");
    c.run(["check", "--read-data", "--repo", s(&pristine)]).ok();

    let kinds = [Kind::Config, Kind::Key, Kind::Snapshot, Kind::Index, Kind::Pack];
    let damages = [Damage::Flip, Damage::Truncate, Damage::Delete];
    // CI: every kind with every damage, plus extra packs; full: every object of every kind
    // with every damage.
    let mut trials: Vec<(Kind, Damage, PathBuf)> = Vec::new();
    for kind in kinds {
        let all = objects(&pristine, kind);
        for damage in damages {
            if full() {
                trials.extend(all.iter().map(|o| (kind, damage, o.clone())));
            } else {
                let pick = all[rng.below(all.len() as u64) as usize].clone();
                trials.push((kind, damage, pick));
                if kind == Kind::Pack {
                    trials.push((kind, damage, all[rng.below(all.len() as u64) as usize].clone()));
                }
            }
        }
    }

    let (mut detected, mut undetectable, mut repaired, mut restored_files) = (0u64, 0u64, 0u64, 0u64);
    let mut repair_tries = 0u64;
    let mut by_kind = std::collections::BTreeMap::<String, (u64, u64)>::new();
    let trial_repo = w.path().join("trial");
    for (kind, damage, object) in &trials {
        copy_repo(&pristine, &trial_repo);
        let target = trial_repo.join(object.strip_prefix(&pristine).unwrap());
        let id = target.file_name().unwrap().to_string_lossy().into_owned();
        let what = format!("{kind:?} {id}: {}", apply(&target, *damage, &mut rng));
        let r = c.run(["check", "--read-data", "--repo", s(&trial_repo)]).no_panic();
        let stderr = &r.stderr;
        let short = &id[..8.min(id.len())];
        let found = match (kind, damage) {
            (Kind::Config, _) => r.code != 0 && stderr.contains("config"),
            (Kind::Key, Damage::Delete) if id != in_use => {
                // Nothing in the repository says the key existed (see the module docs).
                undetectable += 1;
                let entry = by_kind.entry(format!("{kind:?}/{damage:?}")).or_default();
                entry.0 += 1;
                continue;
            }
            (Kind::Key, Damage::Delete) => r.code != 0,
            (Kind::Snapshot, Damage::Delete) => stderr.contains("used by no snapshot"),
            (Kind::Index, Damage::Delete) => r.code != 0 && stderr.contains("not in any index"),
            (_, _) => r.code != 0 && stderr.contains(short),
        };
        assert!(found, "seed {seed}: {what} was not reported:\n{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        detected += 1;
        let entry = by_kind.entry(format!("{kind:?}/{damage:?}")).or_default();
        entry.0 += 1;
        entry.1 += 1;

        if !matches!(kind, Kind::Pack | Kind::Index) {
            continue;
        }
        // Every file the damage did not touch restores exactly, from every snapshot; the ones
        // it did are named.
        let restore_all = |c: &Cairn, check_stderr: &str| -> u64 {
            let snaps = c.run(["--json", "snapshots", "--repo", s(&trial_repo)]).ok().json();
            let mut restored = 0;
            for snap in snaps.as_array().unwrap() {
                let sid = snap["id"].as_str().unwrap();
                let path = snap["paths"][0].as_str().unwrap();
                let out = w.path().join("out");
                let _ = std::fs::remove_dir_all(&out);
                let rr: Run = c
                    .run(["restore", &format!("{sid}:{path}"), "--repo", s(&trial_repo), "--target", s(&out)])
                    .no_panic();
                if rr.code != 0 && rr.code != 3 {
                    // Only when the damage is on the way to the restored path (a tree above it):
                    // the error names an object the check reported.
                    let shared = rr
                        .stderr
                        .split(|ch: char| !ch.is_ascii_hexdigit())
                        .any(|w| w.len() == 64 && check_stderr.contains(w));
                    assert!(shared, "seed {seed}: {what}: restore failed:\n{}", rr.stderr);
                    continue;
                }
                let wrong = wrong_files(Path::new(path), &out);
                for f in &wrong {
                    // The file, or a directory above it (a damaged tree), is named.
                    let parts: Vec<&str> = f.split('/').collect();
                    let root_named = [format!("{path} "), format!("{path}\n"), format!("{path}:")]
                        .iter()
                        .any(|p| check_stderr.contains(p.as_str()));
                    let named = root_named
                        || (1..=parts.len()).any(|n| {
                            let p = format!("/{}", parts[..n].join("/"));
                            [check_stderr, &rr.stderr].iter().any(|e| e.contains(&p))
                        })
                        || [check_stderr, &rr.stderr].iter().any(|e| e.contains(parts[parts.len() - 1]));
                    assert!(
                        named,
                        "seed {seed}: {what}: {f} restored wrong but named nowhere:\n{check_stderr}\n{}",
                        rr.stderr
                    );
                }
                restored += crate::campaigns::dir_totals(&out).0;
            }
            restored
        };
        restored_files += restore_all(&c, stderr);
        // Repair: rebuild the index from the packs, rewrite snapshots around what is lost.
        c.run(["repair", "index", "--repo", s(&trial_repo)]).ok();
        c.run(["repair", "snapshots", "--read-data", "--repo", s(&trial_repo)]).no_panic();
        // What no snapshot uses any more (the damaged blobs) goes with its pack; the good
        // blobs of a partly damaged pack are copied out, authenticated, first.
        c.run(["prune", "--repack-threshold", "0", "--repo", s(&trial_repo)]).ok();
        let after = c.run(["check", "--read-data", "--repo", s(&trial_repo)]).no_panic();
        assert_eq!(after.code, 0, "seed {seed}: {what}: still damaged after repair:\n{}", after.stderr);
        repair_tries += 1;
        repaired += 1;
    }
    let damaged = trials.len() as u64;
    let detectable = damaged - undetectable;
    let rate = if detectable == 0 { 100.0 } else { 100.0 * detected as f64 / detectable as f64 };
    let kinds_line = by_kind.iter().map(|(k, (n, d))| format!("{k}:{d}/{n}")).collect::<Vec<_>>().join(",");
    report(
        "damage",
        &[
            ("seed", seed.to_string()),
            ("damaged", damaged.to_string()),
            ("detected", detected.to_string()),
            ("undetectable", undetectable.to_string()),
            ("detection_rate_pct", format!("{rate:.1}")),
            ("repair_tried", repair_tries.to_string()),
            ("repaired", repaired.to_string()),
            ("files_restored_after_damage", restored_files.to_string()),
            ("by_kind", kinds_line),
        ],
    );
    assert_eq!(detected, detectable);
}
