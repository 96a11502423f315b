//! End-to-end tests: the real `cairn` binary on real files, real directories and a real tmpfs.
//! (They are a test target of `cairn-cli` so that Cargo builds the binary and hands its path in
//! `CARGO_BIN_EXE_cairn`; helpers live in the `cairn-e2e` crate next to this folder.)

mod azure;
mod bad_input;
mod campaigns;
mod catalog;
mod crash;
mod damage;
mod destinations;
mod ftp;
mod inspect;
mod jobs;
mod leases;
mod lifecycle;
mod rclone;
mod repair;
mod rest;
mod round_trip;
mod s3;
mod safety;
mod secrets;
mod sftp;
mod source_options;
mod webdav;

use std::path::Path;

use cairn_e2e::{Cairn, Run};

pub(crate) const PASSWORD: &str = "correct horse battery staple";

/// `cairn` with its own HOME under `dir` and the test password in CAIRN_PASSWORD.
pub(crate) fn cairn(dir: &Path) -> Cairn {
    Cairn::new(env!("CARGO_BIN_EXE_cairn"), &dir.join("home")).env("CAIRN_PASSWORD", PASSWORD)
}

/// `cairn` with its own HOME under `dir` and no password: the catalog supplies each
/// destination's.
pub(crate) fn cairn_home(dir: &Path) -> Cairn {
    Cairn::new(env!("CARGO_BIN_EXE_cairn"), &dir.join("home"))
}

/// The arguments of `init` at `repo` with cheap key derivation (tests only) and packs of
/// `pack_mib`.
pub(crate) fn init_args(repo: &str, pack_mib: u32) -> Vec<String> {
    let args = ["init", "--repo", repo, "--kdf-memory-kib", "8", "--kdf-iterations", "1", "--pack-size-mib"];
    args.iter().map(|a| a.to_string()).chain([pack_mib.to_string()]).collect()
}

/// Creates a repository with cheap key derivation (tests only) and small packs.
pub(crate) fn init(c: &Cairn, repo: &Path, pack_mib: u32) -> Run {
    c.run(init_args(repo.to_str().unwrap(), pack_mib)).ok()
}

/// What every destination must do through the CLI, on a repository just created at `repo`:
/// two backups of `src` (the second adds one file), `check --read-data`, an exact restore into
/// `out`, then forgetting the first snapshot with `--prune`, after which the check still passes
/// and one snapshot is left. `extra` goes at the end of every command (SSH flags, say).
pub(crate) fn destination_cycle(c: &Cairn, repo: &str, extra: &[String], src: &Path, out: &Path) {
    let run = |args: &[&str]| c.run(args.iter().map(|a| a.to_string()).chain(extra.iter().cloned()));
    let first = run(&["--json", "backup", "--repo", repo, s(src)]).ok().json();
    std::fs::write(src.join("docs/added-by-the-second-backup.txt"), b"a second backup").unwrap();
    let second = run(&["--json", "backup", "--repo", repo, s(src)]).ok().json();
    assert_eq!(second["stats"]["files_new"], 1, "{second}");
    run(&["check", "--repo", repo, "--read-data"]).ok();
    run(&["restore", &format!("latest:{}", s(src)), "--repo", repo, "--target", s(out)]).ok();
    let diffs = cairn_e2e::diff_trees(src, out);
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
    run(&["forget", "--repo", repo, first["snapshot_id"].as_str().unwrap(), "--prune"]).ok();
    run(&["check", "--repo", repo, "--read-data"]).ok();
    let snaps = run(&["--json", "snapshots", "--repo", repo]).ok().json();
    assert_eq!(snaps.as_array().unwrap().len(), 1);
}

/// Pack files of a local repository, largest first.
pub(crate) fn packs(repo: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for sub in std::fs::read_dir(repo.join("data")).unwrap() {
        for f in std::fs::read_dir(sub.unwrap().path()).unwrap() {
            let p = f.unwrap().path();
            if !p.file_name().unwrap().to_string_lossy().starts_with('.') {
                out.push(p);
            }
        }
    }
    out.sort_by_key(|p| std::cmp::Reverse(std::fs::metadata(p).unwrap().len()));
    out
}

/// Flips one bit of the byte at `pos` in `file`.
pub(crate) fn flip(file: &Path, pos: u64) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new().read(true).write(true).open(file).unwrap();
    let mut b = [0u8];
    f.read_exact_at(&mut b, pos).unwrap();
    b[0] ^= 0x20;
    f.write_all_at(&b, pos).unwrap();
}

/// `path` as a string.
pub(crate) fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}
