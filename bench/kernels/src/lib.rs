//! Sample data for the kernel benches.
//!
//! With `CAIRN_BENCH_SAMPLE` set to a file or a directory (bench/run.sh passes a sample of the
//! corpus), the sample is the first `CAIRN_BENCH_SAMPLE_MB` (default 128) MiB of it (a
//! directory's files in path order), so that compression ratios are those of real data. Without it, a deterministic mix of text-like,
//! repetitive and random bytes stands in.

use std::path::{Path, PathBuf};

/// The bytes the benches run on, and where they came from.
pub fn sample() -> (Vec<u8>, String) {
    let limit = std::env::var("CAIRN_BENCH_SAMPLE_MB").ok().and_then(|s| s.parse().ok()).unwrap_or(128usize) << 20;
    if let Some(dir) = std::env::var_os("CAIRN_BENCH_SAMPLE") {
        let mut files = Vec::new();
        if Path::new(&dir).is_file() {
            files.push(PathBuf::from(&dir));
        }
        collect(Path::new(&dir), &mut files);
        files.sort();
        let mut out = Vec::with_capacity(limit);
        for f in files {
            if out.len() >= limit {
                break;
            }
            if let Ok(bytes) = std::fs::read(&f) {
                let take = bytes.len().min(limit - out.len());
                out.extend_from_slice(&bytes[..take]);
            }
        }
        if !out.is_empty() {
            let what = format!("{} MiB of {}", out.len() >> 20, Path::new(&dir).display());
            return (out, what);
        }
    }
    (synthetic(limit.min(64 << 20)), "synthetic mix".to_string())
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        match e.file_type() {
            Ok(t) if t.is_dir() => collect(&e.path(), out),
            Ok(t) if t.is_file() => out.push(e.path()),
            _ => {}
        }
    }
}

/// A deterministic mix: a third words, a third repeated records, a third random bytes.
pub fn synthetic(len: usize) -> Vec<u8> {
    const WORDS: &[&str] = &["backup", "the", "of", "snapshot", "and", "restore", "chunk", "data", "to", "pack"];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        match next() % 3 {
            0 => {
                for _ in 0..4096 {
                    out.extend_from_slice(WORDS[(next() % WORDS.len() as u64) as usize].as_bytes());
                    out.push(b' ');
                }
            }
            1 => {
                let n = next();
                for i in 0..2048u64 {
                    out.extend_from_slice(format!("{:016x},{},ok\n", n.wrapping_add(i * 7), i).as_bytes());
                }
            }
            _ => (0..8192).for_each(|_| out.extend_from_slice(&next().to_le_bytes())),
        }
    }
    out.truncate(len);
    out
}
