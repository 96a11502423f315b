//! A `no_std`, `no_main` program that initialises a repository in memory, backs up a small
//! in-memory tree, restores it, compares, checks every blob, and signs an S3-style request with
//! SigV4 without touching the heap. Exit status 0 means all of it worked without the standard
//! library.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec;
use alloc::vec::Vec;
use core::alloc::{GlobalAlloc, Layout};
use core::future::Future;
use core::pin::pin;
use core::sync::atomic::{AtomicUsize, Ordering};
use core::task::{Context, Poll, Waker};

use cairn_core::{
    BackupOptions, CheckOptions, EntryKind, InitOptions, InlineWorker, IoError, IoErrorKind, KdfParams, MemoryBackend,
    Metadata, NoProgress, Node, Repository, RestoreTarget, Source, SourceEntry, Timestamp, backup, check, restore,
};

// ---------------------------------------------------------------- runtime: allocator, panics, C entry

const HEAP_SIZE: usize = 32 << 20;

/// A bump allocator over a static array: enough for one run of this program.
struct Bump;

/// Page-aligned, so that aligning offsets aligns addresses.
#[repr(C, align(4096))]
struct Heap(core::cell::UnsafeCell<[u8; HEAP_SIZE]>);
// SAFETY: the heap is only handed out in disjoint pieces reserved by an atomic bump pointer.
unsafe impl Sync for Heap {}

static HEAP: Heap = Heap(core::cell::UnsafeCell::new([0; HEAP_SIZE]));
static NEXT: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every returned block is in bounds, aligned, and never handed out twice.
unsafe impl GlobalAlloc for Bump {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.align() > 4096 {
            return core::ptr::null_mut();
        }
        let mut current = NEXT.load(Ordering::Relaxed);
        loop {
            let start = (current + layout.align() - 1) & !(layout.align() - 1);
            let end = start + layout.size();
            if end > HEAP_SIZE {
                return core::ptr::null_mut();
            }
            match NEXT.compare_exchange(current, end, Ordering::Relaxed, Ordering::Relaxed) {
                // SAFETY: start..end lies inside the heap array.
                Ok(_) => return unsafe { HEAP.0.get().cast::<u8>().add(start) },
                Err(seen) => current = seen,
            }
        }
    }
    unsafe fn dealloc(&self, _ptr: *mut u8, _layout: Layout) {}
}

#[global_allocator]
static ALLOCATOR: Bump = Bump;

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    unsafe extern "C" {
        fn abort() -> !;
    }
    // SAFETY: libc's abort never returns.
    unsafe { abort() }
}

/// The precompiled `core` and `alloc` are built with unwinding and name this symbol; with
/// `panic = "abort"` it is never called.
#[unsafe(no_mangle)]
pub extern "C" fn rust_eh_personality() {}

// The C runtime (crt1.o) calls `main`; link libc for it (and for `abort`).
#[link(name = "c")]
unsafe extern "C" {}

#[unsafe(no_mangle)]
pub extern "C" fn main(_argc: i32, _argv: *const *const u8) -> i32 {
    match block_on(run()) {
        Ok(()) => 0,
        Err(code) => code,
    }
}

/// Polls a future to completion. Every future here is ready without waiting (memory storage,
/// inline worker), so a no-op waker is enough.
fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

// ---------------------------------------------------------------- test doubles

/// A deterministic RNG (NOT secure; this program only proves linking).
struct Lcg(u64);

impl rand_core::TryRng for Lcg {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok((self.try_next_u64()? >> 32) as u32)
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        Ok(self.0 ^ (self.0 >> 29))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for b in dst {
            *b = self.try_next_u64()? as u8;
        }
        Ok(())
    }
}
impl rand_core::TryCryptoRng for Lcg {}

fn data() -> Vec<u8> {
    let mut x = 7u32;
    (0..300_000)
        .map(|i| {
            x = x.wrapping_mul(1103515245).wrapping_add(12345);
            if i % 3 == 0 { b'a' } else { (x >> 16) as u8 }
        })
        .collect()
}

/// A source with one directory `/d` holding one file `f`.
struct OneFile;

struct Reader(Vec<u8>, usize);

impl embedded_io_async::ErrorType for Reader {
    type Error = IoError;
}

impl embedded_io_async::Read for Reader {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, IoError> {
        let n = buf.len().min(self.0.len() - self.1);
        buf[..n].copy_from_slice(&self.0[self.1..self.1 + n]);
        self.1 += n;
        Ok(n)
    }
}

fn meta(size: u64) -> Metadata {
    Metadata { mode: 0o644, size, mtime: Timestamp::new(1_700_000_000, 0), ..Metadata::default() }
}

impl Source for OneFile {
    type File = Reader;
    async fn stat(&mut self, path: &[u8]) -> Result<SourceEntry, IoError> {
        match path {
            b"/d" => Ok(SourceEntry { name: b"d".to_vec(), kind: EntryKind::Dir, meta: meta(0) }),
            _ => Err(IoError::from_kind(IoErrorKind::NotFound)),
        }
    }
    async fn read_dir(&mut self, _path: &[u8]) -> Result<Vec<SourceEntry>, IoError> {
        Ok(vec![SourceEntry { name: b"f".to_vec(), kind: EntryKind::File, meta: meta(300_000) }])
    }
    async fn open(&mut self, _path: &[u8]) -> Result<Reader, IoError> {
        Ok(Reader(data(), 0))
    }
    async fn read_link(&mut self, _path: &[u8]) -> Result<Vec<u8>, IoError> {
        Err(IoError::from_kind(IoErrorKind::Unsupported))
    }
}

/// A target that keeps the one restored file.
#[derive(Default)]
struct Keep(Vec<u8>);

struct Writer(Vec<u8>);

impl embedded_io_async::ErrorType for Writer {
    type Error = IoError;
}

impl embedded_io_async::Write for Writer {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, IoError> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    async fn flush(&mut self) -> Result<(), IoError> {
        Ok(())
    }
}

struct NoReader;

impl embedded_io_async::ErrorType for NoReader {
    type Error = IoError;
}

impl embedded_io_async::Read for NoReader {
    async fn read(&mut self, _buf: &mut [u8]) -> Result<usize, IoError> {
        Ok(0)
    }
}

impl RestoreTarget for Keep {
    type File = Writer;
    type Existing = NoReader;
    async fn create_dir(&mut self, _path: &[u8]) -> Result<(), IoError> {
        Ok(())
    }
    async fn open_existing(&mut self, _path: &[u8]) -> Result<NoReader, IoError> {
        Ok(NoReader)
    }
    async fn keep_file(&mut self, _path: &[u8], _node: &Node) -> Result<(), IoError> {
        Ok(())
    }
    async fn create_file(&mut self, _path: &[u8], _size: u64) -> Result<Writer, IoError> {
        Ok(Writer(Vec::new()))
    }
    async fn finish_file(&mut self, _path: &[u8], file: Writer, _node: &Node) -> Result<(), IoError> {
        self.0 = file.0;
        Ok(())
    }
    async fn create_symlink(&mut self, _path: &[u8], _target: &[u8], _node: &Node) -> Result<(), IoError> {
        Ok(())
    }
    async fn finish_dir(&mut self, _path: &[u8], _node: &Node) -> Result<(), IoError> {
        Ok(())
    }
}

// ---------------------------------------------------------------- the run

async fn run() -> Result<(), i32> {
    let mut rng = Lcg(42);
    let store = MemoryBackend::new();
    let mut init = InitOptions::default();
    init.kdf = KdfParams::INSECURE_FOR_TESTS;
    init.pack_size = 64 * 1024;
    init.chunk_sizes = (4096, 16384, 65536);
    let repo = Repository::init(&store, b"password", &init, &mut rng).await.map_err(|_| 2)?;
    let mut index = repo.load_index().await.map_err(|_| 3)?;
    let mut options = BackupOptions::default();
    options.paths = vec![b"/d".to_vec()];
    let done = backup(&repo, &mut index, &mut OneFile, &InlineWorker, &mut rng, &mut NoProgress, &options)
        .await
        .map_err(|_| 4)?;
    let mut target = Keep::default();
    restore(&repo, &index, &done.snapshot, b"/d/f", &mut target, &InlineWorker, &mut NoProgress)
        .await
        .map_err(|_| 5)?;
    if target.0 != data() {
        return Err(6);
    }
    let mut check_options = CheckOptions::default();
    check_options.read_data = true;
    let results = check(&repo, &InlineWorker, &mut NoProgress, &check_options).await.map_err(|_| 7)?;
    if results.errors() != 0 || results.stats.packs_read < 2 {
        return Err(8);
    }
    sign_without_allocating()
}

/// Signs the AWS suite's `get-vanilla` request and checks that the heap did not move.
fn sign_without_allocating() -> Result<(), i32> {
    use cairn_core::sigv4::{Credentials, HeaderOptions, Request, Scope, SigningKey, sign_headers};
    use core::fmt::Write;
    let heap_before = NEXT.load(Ordering::Relaxed);
    let creds = Credentials {
        access_key_id: "AKIDEXAMPLE",
        secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        session_token: None,
    };
    // 2015-08-30T12:36:00Z
    let scope = Scope { region: "us-east-1", service: "service", time: Timestamp::new(1_440_938_160, 0) };
    let req = Request {
        method: "GET",
        host: "example.amazonaws.com",
        path: "/",
        query: &[],
        headers: &[],
        payload_hash: cairn_core::sigv4::EMPTY_PAYLOAD_SHA256,
    };
    let key = SigningKey::derive(creds.secret_access_key, &scope).map_err(|_| 9)?;
    let mut options = HeaderOptions::default();
    options.content_sha256_header = false;
    let signed = sign_headers(&req, &creds, &scope, &key, options).map_err(|_| 9)?;
    let mut auth = FixedText([0; 256], 0);
    write!(auth, "{}", signed.authorization()).map_err(|_| 10)?;
    if NEXT.load(Ordering::Relaxed) != heap_before {
        return Err(11);
    }
    if signed.signature() != "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31" {
        return Err(12);
    }
    Ok(())
}

/// Text in a fixed buffer.
struct FixedText([u8; 256], usize);

impl core::fmt::Write for FixedText {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let end = self.1 + s.len();
        self.0.get_mut(self.1..end).ok_or(core::fmt::Error)?.copy_from_slice(s.as_bytes());
        self.1 = end;
        Ok(())
    }
}
