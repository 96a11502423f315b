//! Reliability campaigns (issue 9): `kill -9` at random moments, network faults and damaged
//! storage. They
//! run at CI size in the test suite; `tests/campaigns.sh` runs them at full size
//! (`CAIRN_CAMPAIGN=full`) and prints their figures as one table. Each campaign prints one
//! `CAMPAIGN <name> key=value ...` line (and appends it to `$CAIRN_CAMPAIGN_REPORT` if set).
//! Randomness comes from a seed printed with the figures (`CAIRN_CAMPAIGN_SEED` replays one).

mod concurrency;
mod crash;
mod damage;
mod network;
mod restore;

use std::path::Path;

/// Whether the full-size campaigns were asked for.
pub(crate) fn full() -> bool {
    std::env::var("CAIRN_CAMPAIGN").is_ok_and(|v| v == "full")
}

/// Prints (and records) one campaign's figures.
pub(crate) fn report(name: &str, figures: &[(&str, String)]) {
    let line =
        format!("CAMPAIGN {name} {}", figures.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" "));
    println!("{line}");
    if let Some(path) = std::env::var_os("CAIRN_CAMPAIGN_REPORT") {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
        writeln!(f, "{line}").unwrap();
    }
}

/// A small deterministic generator (splitmix64), so that a failing campaign can be replayed.
pub(crate) struct Rng(u64);

impl Rng {
    /// From `CAIRN_CAMPAIGN_SEED`, or the clock.
    pub(crate) fn seeded(salt: u64) -> (Self, u64) {
        let seed = std::env::var("CAIRN_CAMPAIGN_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
        });
        (Self(seed ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15)), seed)
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Files under `dir` and their total size (0, 0 if it does not exist), leaving out temporary
/// files (dot names: an upload still in progress is not an uploaded object).
pub(crate) fn dir_totals(dir: &Path) -> (u64, u64) {
    let Ok(entries) = std::fs::read_dir(dir) else { return (0, 0) };
    entries
        .filter_map(Result::ok)
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_totals(&e.path()),
            Ok(_) => (1, e.metadata().map(|m| m.len()).unwrap_or(0)),
            Err(_) => (0, 0),
        })
        .fold((0, 0), |(f, b), (f2, b2)| (f + f2, b + b2))
}
