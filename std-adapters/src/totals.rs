//! How much an operation has to do, learnt while it runs (a scan of a backup's sources on a
//! thread of its own) or before it (a snapshot's size), so that progress can show a percentage
//! and the time left.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Files and bytes to do, once known.
#[derive(Debug, Default)]
pub struct Totals {
    files: AtomicU64,
    bytes: AtomicU64,
    known: AtomicBool,
}

impl Totals {
    /// Totals known from the start.
    pub fn known(files: u64, bytes: u64) -> Arc<Self> {
        let t = Self::default();
        t.set(files, bytes);
        Arc::new(t)
    }

    fn set(&self, files: u64, bytes: u64) {
        self.files.store(files, Ordering::Relaxed);
        self.bytes.store(bytes, Ordering::Relaxed);
        self.known.store(true, Ordering::Release);
    }

    /// Files and bytes, once known.
    pub fn get(&self) -> Option<(u64, u64)> {
        self.known
            .load(Ordering::Acquire)
            .then(|| (self.files.load(Ordering::Relaxed), self.bytes.load(Ordering::Relaxed)))
    }

    /// Walks `sources` on a thread of its own (symbolic links not followed) and fills in the
    /// totals when done. The operation does not wait for it.
    pub fn scan(sources: Vec<PathBuf>) -> Arc<Self> {
        let totals = Arc::new(Self::default());
        let t = totals.clone();
        let _ = std::thread::Builder::new().name("cairn-scan".into()).spawn(move || {
            let (mut files, mut bytes) = (0u64, 0u64);
            let mut stack = sources;
            while let Some(p) = stack.pop() {
                let Ok(m) = std::fs::symlink_metadata(&p) else { continue };
                if m.is_dir() {
                    if let Ok(rd) = std::fs::read_dir(&p) {
                        stack.extend(rd.flatten().map(|e| e.path()));
                    }
                } else {
                    files += 1;
                    if m.is_file() {
                        bytes += m.len();
                    }
                }
            }
            t.set(files, bytes);
        });
        totals
    }
}
