//! Builds and runs `nostd-proof`, a `#![no_std] #![no_main]` program with its own panic handler
//! and allocator that initialises a repository, backs up, restores and checks in memory. If
//! cairn-core or any of its dependencies pulled in std, linking would fail with a duplicate
//! `panic_impl` lang item; this machine has no bare-metal target, so this is the proof.

use std::path::{Path, PathBuf};
use std::process::Command;

#[test]
fn the_core_links_and_runs_without_std() {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = here.join("nostd-proof/Cargo.toml");
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| here.join("../target"))
        .join("nostd-proof");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args(["build", "--locked", "--manifest-path"])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target_dir)
        .env_remove("RUSTFLAGS")
        .output()
        .expect("run cargo");
    assert!(out.status.success(), "the no_std program did not build:\n{}", String::from_utf8_lossy(&out.stderr));
    let status = Command::new(target_dir.join("debug/cairn-nostd-proof")).status().expect("run the no_std program");
    assert_eq!(status.code(), Some(0), "the no_std program failed: {status}");
}
