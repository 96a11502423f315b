//! Helpers for Cairn's end-to-end tests: generated trees, exact tree comparison, running the
//! real `cairn` binary, and real resources (a small tmpfs for disk-full tests).
//!
//! A test that cannot get what it needs (a server, a tool, root) fails, in CI and out of it,
//! saying what is missing: `./test.sh` installs everything (as root).

pub mod notifications;
pub mod servers;
pub mod tray_host;
pub mod x_window;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Fails the test, saying what is missing, when a prerequisite is not there: a test that
/// cannot run is a failure, never a silent pass. Returns `ok` (true) otherwise.
#[track_caller]
pub fn prerequisite(ok: bool, what: &str) -> bool {
    assert!(ok, "{what} is not available: this test needs it (./test.sh installs what the tests need, as root)");
    ok
}

/// True when running as root.
pub fn is_root() -> bool {
    nix_uid() == 0
}

fn nix_uid() -> u32 {
    fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(u32::MAX)
}

/// Deterministic pseudo-random bytes (xorshift64*), fast enough for tens of MiB.
pub fn random_bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(n);
    out
}

/// Text that compresses like source code.
pub fn text_bytes(seed: u64, n: usize) -> Vec<u8> {
    const WORDS: &[&str] =
        &["fn", "let", "mut", "struct", "impl", "return", "backup", "cairn", "snapshot", "index", "{", "}", ";", "\n"];
    let r = random_bytes(seed, n);
    let mut out = Vec::with_capacity(n + 16);
    for b in r {
        if out.len() >= n {
            break;
        }
        out.extend_from_slice(WORDS[usize::from(b) % WORDS.len()].as_bytes());
        out.push(b' ');
    }
    out.truncate(n);
    out
}

fn set_mtime(p: &Path, secs: i64, nanos: u32) {
    let t = filetime::FileTime::from_unix_time(secs, nanos);
    filetime::set_symlink_file_times(p, t, t).unwrap();
}

/// Builds the standard test tree under `root` (which must not exist) and returns how many
/// regular files it holds. It has nested directories, empty files, a file of `big` bytes,
/// compressible and incompressible data, duplicates, relative, absolute and dangling links,
/// names that are not UTF-8, odd modes (setuid, sticky, 000, 777) and odd times.
pub fn make_tree(root: &Path, big: usize) -> usize {
    let p = |rel: &[u8]| root.join(OsStr::from_bytes(rel));
    let mut files = 0;
    for d in [&b"docs/notes/2024"[..], b"code/src/deep/er/still", b"empty-dir", b"odd/caf\xe9", b"odd/\xff\xfe-bytes"] {
        fs::create_dir_all(p(d)).unwrap();
    }
    let mut write = |rel: &[u8], data: &[u8], mode: u32| {
        let f = p(rel);
        fs::write(&f, data).unwrap();
        fs::set_permissions(&f, fs::Permissions::from_mode(mode)).unwrap();
        files += 1;
    };
    write(b"big.bin", &random_bytes(1, big), 0o644);
    write(b"docs/readme.md", &text_bytes(2, 200_000), 0o644);
    write(b"docs/notes/2024/empty.txt", b"", 0o600);
    write(b"docs/notes/2024/copy-of-readme.md", &text_bytes(2, 200_000), 0o640);
    write(b"code/src/main.rs", &text_bytes(3, 3_000), 0o644);
    write(b"code/src/deep/er/still/leaf", b"leaf", 0o444);
    write(b"code/run.sh", b"#!/bin/sh\necho hi\n", 0o755);
    write(b"code/setuid-tool", b"not really", 0o4755);
    // Mode 000 is only readable by root; elsewhere keep it unreadable-ish but readable by the owner.
    write(b"code/locked", b"mode 000", if is_root() { 0o000 } else { 0o400 });
    write(b"code/everyone", b"mode 777", 0o777);
    write(b"odd/caf\xe9/menu.txt", b"non-UTF-8 directory", 0o644);
    write(b"odd/\xff\xfe-bytes/\x01\x02\x7f", b"control bytes in the name", 0o644);
    write(b"odd/name with spaces & 'quotes'", b"x", 0o644);
    write(b"odd/unicode-\xe2\x9c\x93.txt", &random_bytes(4, 70_000), 0o644);
    for i in 0..30u64 {
        write(format!("docs/notes/n{i:02}.txt").as_bytes(), &text_bytes(100 + i, 1000 + i as usize * 37), 0o644);
    }
    std::os::unix::fs::symlink("readme.md", p(b"docs/link-to-readme")).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", p(b"docs/absolute-link")).unwrap();
    std::os::unix::fs::symlink("does/not/exist", p(b"docs/dangling")).unwrap();
    std::os::unix::fs::symlink("../..", p(b"odd/updir-link")).unwrap();
    fs::set_permissions(p(b"empty-dir"), fs::Permissions::from_mode(0o1777)).unwrap();
    // Times: old, with nanoseconds, before 1970; directories last so their times stick.
    set_mtime(&p(b"docs/readme.md"), 315_532_800, 0);
    set_mtime(&p(b"code/src/main.rs"), 1_700_000_000, 123_456_789);
    set_mtime(&p(b"odd/name with spaces & 'quotes'"), -86_400, 500);
    set_mtime(&p(b"docs/link-to-readme"), 1_600_000_000, 42);
    for d in [&b"docs/notes/2024"[..], b"code/src/deep/er/still", b"empty-dir", b"odd", b"docs", b"code", b""] {
        set_mtime(&p(d), 1_650_000_000, 7);
    }
    files
}

/// One entry of a tree, as compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// 'f' (file), 'd' (directory), 'l' (link) or 's' (special).
    pub kind: char,
    /// Permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Modification time (seconds, nanoseconds).
    pub mtime: (i64, i64),
    /// Contents hash for files, target for links.
    pub content: Vec<u8>,
}

/// Every entry under `root` (relative path bytes to what it is), without following links.
pub fn scan(root: &Path) -> BTreeMap<Vec<u8>, Seen> {
    let mut out = BTreeMap::new();
    scan_into(root, root, &mut out);
    out
}

fn scan_into(root: &Path, dir: &Path, out: &mut BTreeMap<Vec<u8>, Seen>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let m = fs::symlink_metadata(&path).unwrap();
        let rel = path.strip_prefix(root).unwrap().as_os_str().as_bytes().to_vec();
        let (kind, content) = if m.file_type().is_symlink() {
            ('l', fs::read_link(&path).unwrap().as_os_str().as_bytes().to_vec())
        } else if m.is_dir() {
            scan_into(root, &path, out);
            ('d', Vec::new())
        } else if !m.is_file() {
            // FIFOs, sockets, devices: never opened (opening a FIFO blocks).
            ('s', Vec::new())
        } else {
            let data = fs::read(&path).unwrap();
            let mut h = blake_ish(&data);
            h.extend_from_slice(&(data.len() as u64).to_le_bytes());
            ('f', h)
        };
        let mode = if kind == 'l' { 0 } else { m.mode() & 0o7777 };
        out.insert(rel, Seen { kind, mode, uid: m.uid(), gid: m.gid(), mtime: (m.mtime(), m.mtime_nsec()), content });
    }
}

/// A cheap content fingerprint (FNV-1a over 8 lanes); collisions are irrelevant for these tests.
fn blake_ish(data: &[u8]) -> Vec<u8> {
    let mut lanes = [0xcbf2_9ce4_8422_2325u64; 8];
    for (i, b) in data.iter().enumerate() {
        let l = &mut lanes[i % 8];
        *l ^= u64::from(*b);
        *l = l.wrapping_mul(0x100_0000_01b3);
    }
    lanes.iter().flat_map(|l| l.to_le_bytes()).collect()
}

/// Differences between two trees, one line each (empty when identical).
pub fn diff_trees(expected: &Path, actual: &Path) -> Vec<String> {
    let a = scan(expected);
    let b = scan(actual);
    let mut out = Vec::new();
    for (path, e) in &a {
        let shown = String::from_utf8_lossy(path);
        match b.get(path) {
            None => out.push(format!("missing: {shown}")),
            Some(g) if g != e => out.push(format!("differs: {shown}: expected {e:?}, got {g:?}")),
            Some(_) => {}
        }
    }
    for path in b.keys().filter(|p| !a.contains_key(*p)) {
        out.push(format!("unexpected: {}", String::from_utf8_lossy(path)));
    }
    out
}

/// Runs the real `cairn` binary in a sandbox of its own (HOME, XDG dirs).
#[derive(Debug, Clone)]
pub struct Cairn {
    bin: PathBuf,
    home: PathBuf,
    env: Vec<(String, String)>,
}

/// The outcome of one `cairn` run.
#[derive(Debug)]
pub struct Run {
    /// Exit code (-1 if killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// Asserts success and returns self.
    #[track_caller]
    pub fn ok(self) -> Self {
        assert_eq!(self.code, 0, "cairn failed:\n--- stdout\n{}\n--- stderr\n{}", self.stdout, self.stderr);
        self.no_panic()
    }

    /// Asserts the exit code.
    #[track_caller]
    pub fn code(self, code: i32) -> Self {
        assert_eq!(self.code, code, "unexpected exit code:\n--- stdout\n{}\n--- stderr\n{}", self.stdout, self.stderr);
        self.no_panic()
    }

    /// Asserts nothing panicked.
    #[track_caller]
    pub fn no_panic(self) -> Self {
        assert!(
            !self.stderr.contains("panicked") && !self.stderr.contains("RUST_BACKTRACE"),
            "panic:\n{}",
            self.stderr
        );
        self
    }

    /// Stdout parsed as one JSON value.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }
}

impl Cairn {
    /// `bin` is the binary; `home` becomes its HOME.
    pub fn new(bin: impl Into<PathBuf>, home: &Path) -> Self {
        fs::create_dir_all(home).unwrap();
        Self { bin: bin.into(), home: home.to_path_buf(), env: Vec::new() }
    }

    /// Adds an environment variable for every run.
    #[must_use]
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }

    /// With the credentials of `server` in the environment (`AWS_ACCESS_KEY_ID` and
    /// `AWS_SECRET_ACCESS_KEY`).
    #[must_use]
    pub fn s3_credentials(self, server: &servers::S3Server) -> Self {
        self.env("AWS_ACCESS_KEY_ID", &server.access_key).env("AWS_SECRET_ACCESS_KEY", &server.secret_key)
    }

    /// The command, ready to run.
    pub fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut c = Command::new(&self.bin);
        c.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("TZ", "UTC")
            .stdin(Stdio::null());
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    /// The command run under another program that takes the binary as its argument (for
    /// example `faketime -f +31m`, or `unshare --pid --fork --mount-proc`).
    pub fn command_under<I, S>(&self, wrapper: &[&str], args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let inner = self.command(args);
        let mut c = Command::new(wrapper[0]);
        c.args(&wrapper[1..]).arg(&self.bin).args(inner.get_args());
        c.env_clear().stdin(Stdio::null());
        for (k, v) in inner.get_envs() {
            if let Some(v) = v {
                c.env(k, v);
            }
        }
        c
    }

    /// Runs to completion, and asserts that no secret it was given (see [`Cairn::secrets`])
    /// shows in its output, unless the command was asked to show one.
    #[track_caller]
    pub fn run<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let args: Vec<std::ffi::OsString> = args.into_iter().map(|a| a.as_ref().to_os_string()).collect();
        let run = finish(self.command(&args).output().unwrap());
        let reveals = args.iter().any(|a| REVEALING.iter().any(|r| a == *r));
        if !reveals {
            assert_no_secret(&self.secrets(), &args, &run);
        }
        run
    }

    /// The secrets this `cairn` is given: the values of its environment variables that hold
    /// passwords, secret keys and passphrases, and the test servers' secrets.
    pub fn secrets(&self) -> Vec<String> {
        let secret_name =
            |k: &str| ["PASSWORD", "SECRET", "PASSPHRASE", "ACCOUNT_KEY", "ACCOUNT_SAS"].iter().any(|w| k.contains(w));
        self.env
            .iter()
            .filter(|(k, v)| secret_name(k) && v.len() >= 6)
            .map(|(_, v)| v.clone())
            .chain(KNOWN_SECRETS.iter().map(|s| s.to_string()))
            .collect()
    }
}

/// Arguments that ask `cairn` to print a secret.
const REVEALING: &[&str] = &["--show-password", "recovery-kit"];

/// The test servers' secrets (distinctive, so that a leak cannot hide).
pub const KNOWN_SECRETS: &[&str] = &[
    servers::S3_SECRET_KEY,
    servers::REST_PASSWORD,
    servers::PASSWORD,
    servers::AZURE_ACCOUNT_KEY,
    servers::WEBDAV_PASSWORD,
];

/// Asserts that none of `secrets` shows in `run`'s output.
#[track_caller]
pub fn assert_no_secret(secrets: &[String], args: &[std::ffi::OsString], run: &Run) {
    for secret in secrets {
        for (stream, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
            assert!(!text.contains(secret.as_str()), "SECRET LEAKED on {stream} of cairn {args:?}:\n{text}");
        }
    }
}

/// Converts a process output.
pub fn finish(o: Output) -> Run {
    Run {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// Every file under a repository directory, relative.
pub fn repo_files(repo: &Path) -> Vec<String> {
    let mut out: Vec<String> = scan(repo)
        .into_iter()
        .filter(|(_, s)| s.kind == 'f')
        .map(|(p, _)| String::from_utf8_lossy(&p).into_owned())
        .collect();
    out.sort();
    out
}

/// A small tmpfs mounted for the life of the value (root only).
#[derive(Debug)]
pub struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size_kib` at `path`; `None` if that is not possible here.
    pub fn mount(path: &Path, size_kib: u64) -> Option<Self> {
        fs::create_dir_all(path).ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_kib}k"), "tmpfs"])
            .arg(path)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Self { path: path.to_path_buf() })
    }

    /// Changes the size.
    pub fn resize(&self, size_kib: u64) {
        self.remount(&format!("remount,size={size_kib}k"));
    }

    /// Makes it read-only.
    pub fn remount_read_only(&self) {
        self.remount("remount,ro");
    }

    /// Makes it writable again.
    pub fn remount_read_write(&self) {
        self.remount("remount,rw");
    }

    fn remount(&self, options: &str) {
        let ok = Command::new("mount").args(["-o", options]).arg(&self.path).status().is_ok_and(|s| s.success());
        assert!(ok, "mount -o {options} failed");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// Sets the modification time of `path` to `ago` before now.
pub fn backdate(path: &Path, ago: std::time::Duration) {
    let then = filetime::FileTime::from_system_time(std::time::SystemTime::now() - ago);
    filetime::set_file_mtime(path, then).unwrap();
}
