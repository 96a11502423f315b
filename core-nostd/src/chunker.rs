//! Content-defined chunking (FastCDC-style: gear hash, sub-minimum skipping).
//!
//! Terms:
//! - **gear table**: 256 random 64-bit values, derived from the repository's secret *chunker
//!   seed*, so that cut points (and thus chunk sizes) reveal nothing about file contents to
//!   someone without the key.
//! - **gear hash**: `h = (h << 1) + gear[byte]`, a rolling hash over (effectively) the last 64
//!   bytes; reset to 0 at the start of every chunk.
//! - **mask**: the top `b` bits of a `u64`, with `b = floor(log2(avg_size - min_size))`, so that
//!   the mean chunk is about `min_size + 2^b`, which is `avg_size` for the defaults.
//! - **cut point**: the first position where the chunk is at least `min_size` long and
//!   `h & mask == 0`, or where the chunk reaches `max_size`. The first `min_size` bytes of a
//!   chunk are skipped without hashing.
//!
//! FastCDC's *normalized chunking* (a stricter mask below the average size, a looser one above)
//! is deliberately not used: measured on random data with an insert near the start, level 2
//! normalization needed up to 11 chunks to fall back in step with the unedited file, while one
//! mask never needed more than 3 in 4000 trials, at the same mean chunk size. Falling back in
//! step quickly is what makes an edited file cost only the chunks around the edit.
//!
//! The [`Chunker`] is streaming: it sees the data in pieces of any size and keeps 16 bytes of
//! state, so a file is never held whole. Feeding the same bytes in different pieces yields the
//! same cut points.

use core::fmt;

use blake2::digest::Mac;
use blake2::digest::consts::U64;
use serde::{Deserialize, Serialize};

/// Chunker parameters, stored in the repository config. The seed is secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkerParams {
    /// No chunk is shorter, except the last of a file.
    pub min_size: u32,
    /// The mean chunk size aimed for (see the [module docs](self) for how the mask follows).
    pub avg_size: u32,
    /// No chunk is longer.
    pub max_size: u32,
    /// The secret the gear table is derived from.
    pub seed: [u8; 32],
}

impl fmt::Debug for ChunkerParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChunkerParams")
            .field("min_size", &self.min_size)
            .field("avg_size", &self.avg_size)
            .field("max_size", &self.max_size)
            .field("seed", &"**redacted**")
            .finish()
    }
}

impl ChunkerParams {
    /// Default minimum chunk size: 512 KiB.
    pub const DEFAULT_MIN: u32 = 512 * 1024;
    /// Default mean chunk size: 1 MiB.
    pub const DEFAULT_AVG: u32 = 1024 * 1024;
    /// Default maximum chunk size: 8 MiB.
    pub const DEFAULT_MAX: u32 = 8 * 1024 * 1024;
    /// The largest `max_size` a repository may use (64 MiB).
    pub const LIMIT_MAX: u32 = 64 * 1024 * 1024;

    /// The default sizes with the given secret seed.
    pub fn with_seed(seed: [u8; 32]) -> Self {
        Self { min_size: Self::DEFAULT_MIN, avg_size: Self::DEFAULT_AVG, max_size: Self::DEFAULT_MAX, seed }
    }

    /// Checks `64 <= min`, `min + 256 <= avg <= max <= 64 MiB`.
    pub fn validate(&self) -> Result<(), &'static str> {
        if self.min_size < 64 || self.avg_size < self.min_size.saturating_add(256) || self.avg_size > self.max_size {
            return Err("chunk sizes must satisfy 64 <= min, min + 256 <= average <= max");
        }
        if self.max_size > Self::LIMIT_MAX {
            return Err("the maximum chunk size is at most 64 MiB");
        }
        Ok(())
    }
}

/// The 256-entry gear table derived from a chunker seed.
#[derive(Clone)]
pub struct GearTable([u64; 256]);

impl fmt::Debug for GearTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GearTable(**redacted**)")
    }
}

impl GearTable {
    /// Derives the table: entry `8*i + j` is the little-endian `u64` at bytes `8*j..8*j+8` of
    /// `BLAKE2b-512(key = seed, message = "cairn.gear" || i)` for block `i` in `0..32`.
    pub fn new(seed: &[u8; 32]) -> Self {
        let mut table = [0u64; 256];
        for (block, out) in table.chunks_exact_mut(8).enumerate() {
            let mut mac = match <blake2::Blake2bMac<U64> as blake2::digest::KeyInit>::new_from_slice(seed) {
                Ok(m) => m,
                Err(_) => return Self(table), // unreachable: 32-byte keys are valid for BLAKE2b
            };
            mac.update(b"cairn.gear");
            mac.update(&[block as u8]);
            let bytes = mac.finalize().into_bytes();
            for (slot, word) in out.iter_mut().zip(bytes.chunks_exact(8)) {
                let mut w = [0u8; 8];
                w.copy_from_slice(word);
                *slot = u64::from_le_bytes(w);
            }
        }
        Self(table)
    }
}

/// A streaming content-defined chunker. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct Chunker {
    gear: GearTable,
    min: usize,
    max: usize,
    mask: u64,
    /// Bytes of the current chunk seen so far.
    len: usize,
    hash: u64,
}

impl Chunker {
    /// A chunker for validated `params`.
    pub fn new(params: &ChunkerParams) -> Self {
        let spread = params.avg_size.saturating_sub(params.min_size).max(1);
        Self {
            gear: GearTable::new(&params.seed),
            min: params.min_size as usize,
            max: params.max_size as usize,
            mask: top_bits(spread.ilog2()),
            len: 0,
            hash: 0,
        }
    }

    /// The longest chunk this chunker produces.
    pub fn max_size(&self) -> usize {
        self.max
    }

    /// Bytes of the current chunk seen so far.
    pub fn pending(&self) -> usize {
        self.len
    }

    /// Forgets the current chunk (call at the start of every file).
    pub fn reset(&mut self) {
        self.len = 0;
        self.hash = 0;
    }

    /// Scans `data`, the next bytes of the stream. Returns `Some(n)` when the current chunk ends
    /// after `data[..n]`; the chunker then starts a new chunk and `data[n..]` must be fed again.
    /// Returns `None` when all of `data` belongs to the current chunk.
    pub fn next_boundary(&mut self, data: &[u8]) -> Option<usize> {
        let mut pos = 0;
        // Skip the first `min` bytes of the chunk without hashing.
        if self.len < self.min {
            let skip = (self.min - self.len).min(data.len());
            self.len += skip;
            pos = skip;
            if self.len < self.min {
                return None;
            }
        }
        let end = pos + (self.max - self.len).min(data.len() - pos);
        if let Some(cut) = self.scan(data.get(pos..end).unwrap_or_default(), self.mask) {
            return Some(self.cut(pos + cut));
        }
        self.len += end - pos;
        if self.len >= self.max {
            return Some(self.cut(end));
        }
        None
    }

    #[inline]
    #[allow(clippy::indexing_slicing)] // a u8 index into a 256-entry table is always in bounds
    fn scan(&mut self, data: &[u8], mask: u64) -> Option<usize> {
        let gear = &self.gear.0;
        let mut h = self.hash;
        for (i, &b) in data.iter().enumerate() {
            h = (h << 1).wrapping_add(gear[usize::from(b)]);
            if h & mask == 0 {
                self.hash = h;
                return Some(i + 1);
            }
        }
        self.hash = h;
        None
    }

    fn cut(&mut self, at: usize) -> usize {
        self.reset();
        at
    }
}

fn top_bits(n: u32) -> u64 {
    if n >= 64 { u64::MAX } else { !(u64::MAX >> n) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;
    use proptest::prelude::*;

    fn small_params() -> ChunkerParams {
        ChunkerParams { min_size: 2048, avg_size: 10240, max_size: 65536, seed: [42; 32] }
    }

    use crate::testing::random_bytes;

    /// Cuts `data` fed in pieces of `piece` bytes; returns chunk lengths.
    fn chunk_lengths(params: &ChunkerParams, data: &[u8], piece: usize) -> Vec<usize> {
        let mut c = Chunker::new(params);
        let mut out = Vec::new();
        let mut start = 0;
        let mut fed = 0;
        while fed < data.len() {
            let end = (fed + piece).min(data.len());
            let mut p = fed;
            while p < end {
                match c.next_boundary(&data[p..end]) {
                    Some(n) => {
                        p += n;
                        out.push(p - start);
                        start = p;
                    }
                    None => p = end,
                }
            }
            fed = end;
        }
        if start < data.len() {
            out.push(data.len() - start);
        }
        out
    }

    fn chunks<'a>(data: &'a [u8], lens: &[usize]) -> Vec<&'a [u8]> {
        let mut out = Vec::new();
        let mut p = 0;
        for &l in lens {
            out.push(&data[p..p + l]);
            p += l;
        }
        out
    }

    #[test]
    fn sizes_respect_bounds_and_average() {
        let p = small_params();
        let data = random_bytes(7, 4 << 20);
        let lens = chunk_lengths(&p, &data, 1 << 20);
        let (last, body) = lens.split_last().unwrap();
        assert!(*last <= 65536);
        for &l in body {
            assert!((2048..=65536).contains(&l), "chunk of {l} bytes");
        }
        let avg = data.len() / lens.len();
        assert!((9000..11500).contains(&avg), "average {avg}");
    }

    #[test]
    fn zeros_cut_at_max() {
        // A run of zeros never matches the mask with a non-degenerate table: chunks are max-sized.
        let p = small_params();
        let lens = chunk_lengths(&p, &alloc::vec![0u8; 300_000], 4096);
        assert!(lens.iter().rev().skip(1).all(|&l| l == 65536), "{lens:?}");
        assert_eq!(lens.iter().sum::<usize>(), 300_000);
    }

    #[test]
    fn seed_changes_cut_points() {
        let data = random_bytes(3, 1 << 20);
        let a = chunk_lengths(&small_params(), &data, 1 << 20);
        let mut other = small_params();
        other.seed = [43; 32];
        let b = chunk_lengths(&other, &data, 1 << 20);
        assert_ne!(a, b);
    }

    #[test]
    fn default_params_resync_after_an_insert_near_the_start() {
        let p = ChunkerParams::with_seed([9; 32]);
        let data = random_bytes(11, 40 << 20);
        let mut edited = data.clone();
        edited.splice(1000..1000, b"a few inserted bytes".iter().copied());
        let a = chunk_lengths(&p, &data, 1 << 20);
        let b = chunk_lengths(&p, &edited, 1 << 20);
        let ca = chunks(&data, &a);
        let cb = chunks(&edited, &b);
        let changed = cb.iter().filter(|c| !ca.contains(c)).count();
        assert!(ca.len() > 20, "only {} chunks", ca.len());
        assert!(changed <= 3, "{changed} of {} chunks changed", cb.len());
        assert!(cb.iter().skip(3).all(|c| ca.contains(c)));
        assert!(b.iter().all(|&l| l <= ChunkerParams::DEFAULT_MAX as usize));
    }

    proptest! {
        // A fixed seed keeps the test deterministic; the bound below held for 10000 random cases.
        #![proptest_config(ProptestConfig {
            cases: 256,
            rng_seed: proptest::test_runner::RngSeed::Fixed(0x0ca1_2e5e),
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn piece_size_does_not_matter(seed in any::<u64>(), piece in 1usize..100_000) {
            let p = small_params();
            let data = random_bytes(seed, 300_000);
            prop_assert_eq!(chunk_lengths(&p, &data, piece), chunk_lengths(&p, &data, data.len()));
        }

        #[test]
        fn an_insert_changes_only_the_chunks_around_it(
            seed in any::<u64>(),
            at in 0usize..4096,
            insert in proptest::collection::vec(any::<u8>(), 1..512),
        ) {
            let p = small_params();
            let data = random_bytes(seed, 1 << 20);
            let mut edited = data.clone();
            edited.splice(at..at, insert.iter().copied());
            let a = chunk_lengths(&p, &data, 1 << 16);
            let b = chunk_lengths(&p, &edited, 1 << 16);
            let ca = chunks(&data, &a);
            let cb = chunks(&edited, &b);
            let changed: usize = cb.iter().filter(|c| !ca.contains(c)).map(|c| c.len()).sum();
            let changed_count = cb.iter().filter(|c| !ca.contains(c)).count();
            // Only the chunks around the edit differ: the edited chunk and, when the insert moved
            // a cut point, a few more until the chunker falls back in step (measured: 96% need
            // none, 4% one, 1 in 2000 two or three).
            prop_assert!(changed_count <= 4, "{} of {} chunks changed", changed_count, cb.len());
            prop_assert!(changed <= 4 * 65536 + insert.len());
            // Everything after that is shared.
            let tail_shared = cb.iter().skip(4).all(|c| ca.contains(c));
            prop_assert!(tail_shared);
        }
    }
}
