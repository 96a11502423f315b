//! End-to-end tests: the real `cairn` binary on real files, real directories and a real tmpfs.
//! (They are a test target of `cairn-cli` so that Cargo builds the binary and hands its path in
//! `CARGO_BIN_EXE_cairn`; helpers live in the `cairn-e2e` crate next to this folder.)

mod bad_input;
mod crash;
mod damage;
mod destinations;
mod inspect;
mod lifecycle;
mod repair;
mod rest;
mod round_trip;
mod s3;
mod sftp;
mod source_options;

use std::path::Path;

use cairn_e2e::{Cairn, Run};

pub(crate) const PASSWORD: &str = "correct horse battery staple";

/// `cairn` with its own HOME under `dir` and the test password in CAIRN_PASSWORD.
pub(crate) fn cairn(dir: &Path) -> Cairn {
    Cairn::new(env!("CARGO_BIN_EXE_cairn"), &dir.join("home")).env("CAIRN_PASSWORD", PASSWORD)
}

/// Creates a repository with cheap key derivation (tests only) and small packs.
pub(crate) fn init(c: &Cairn, repo: &Path, pack_mib: u32) -> Run {
    let pack = pack_mib.to_string();
    c.run([
        "init",
        "--repo",
        repo.to_str().unwrap(),
        "--kdf-memory-kib",
        "8",
        "--kdf-iterations",
        "1",
        "--pack-size-mib",
        &pack,
    ])
    .ok()
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
