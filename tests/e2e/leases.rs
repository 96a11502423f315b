//! Nothing lost, whatever the clocks, pauses and namespaces: the real `cairn` binary on every
//! destination type that has a server in the suite (issue 24, situations 1 and 3).
//!
//! On each, a repository whose stale age is shortened honestly (`--lock-stale-after 24s
//! --lock-refresh-every 3s`; shorter, a holder starved of the processor on a loaded test
//! machine loses its lease, and rightly fails): a first snapshot is made and forgotten, so that
//! its data is unused and a prune wants to delete it, while the next backup reuses that data.
//! Then:
//! - **paused backup**: the backup is stopped (SIGSTOP) while it reads, past its lease; a prune
//!   waits until it has seen the backup's lock unchanged for the stale age, revokes it and
//!   deletes the unused data; the backup, continued, finds its lease revoked and fails (exit 13)
//!   without writing a snapshot;
//! - **clock half an hour ahead**: a prune under `faketime -f +31m` beside a running backup
//!   does not take the backup's lock for stale: it waits, and both succeed;
//! - **another process-id namespace**: a prune in `unshare --pid`, where the backup's process
//!   id means nothing, does not take the lock for its dead holder's: it waits, both succeed;
//! - **two prunes at once**: both succeed, one after the other.
//!
//! Each ends with `check --read-data` passing and every snapshot restoring byte for byte.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use cairn_e2e::servers::{
    AZURE_ACCOUNT_KEY, AzuriteServer, FTP_PASSWORD, FtpServer, RestServer, S3Server, SshServer, WebDavServer, rclone,
    rclone_config,
};
use cairn_e2e::{Cairn, Run, diff_trees, is_root, prerequisite, random_bytes};

use crate::{cairn, init_args, s};

/// The stale age of the repositories here, in seconds (see the module docs for why not less).
const STALE_SECS: u64 = 24;

/// A repository on one destination type, reached by the real binary.
struct Dest {
    name: &'static str,
    c: Cairn,
    repo: String,
    extra: Vec<String>,
}

impl Dest {
    fn args(&self, a: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = a.iter().map(|x| x.to_string()).collect();
        v.extend(["--repo".to_string(), self.repo.clone()]);
        v.extend(self.extra.iter().cloned());
        v
    }

    fn run(&self, a: &[&str]) -> Run {
        self.c.run(self.args(a))
    }

    fn spawn(&self, a: &[&str]) -> Child {
        self.c.command(self.args(a)).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
    }

    fn spawn_under(&self, wrapper: &[&str], a: &[&str]) -> Child {
        self.c.command_under(wrapper, self.args(a)).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
    }

    /// How many live lock objects the repository holds.
    fn live_locks(&self) -> usize {
        let locks = self.run(&["cat", "locks"]).ok().json();
        locks.as_array().unwrap().iter().filter(|l| l["revoked"].is_null()).count()
    }
}

fn wait(child: Child) -> Run {
    cairn_e2e::finish(child.wait_with_output().unwrap())
}

fn signal(child: &Child, sig: &str) {
    let ok = std::process::Command::new("kill").args([sig, &child.id().to_string()]).status().unwrap().success();
    assert!(ok, "kill {sig}");
}

/// Waits until the backup holds its lock (it then loaded the index and reads).
fn until_locked(d: &Dest, child: &mut Child) {
    let started = Instant::now();
    while d.live_locks() == 0 {
        assert!(child.try_wait().unwrap().is_none(), "{}: the backup ended before taking its lock", d.name);
        assert!(started.elapsed() < Duration::from_secs(60), "{}: the backup never took its lock", d.name);
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A source whose first files the forgotten snapshot held (the next backup reuses their data),
/// and `huge` bytes of sparse zeros read last, which keep a backup busy for seconds.
fn source(dir: &Path, huge: u64) {
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..3u64 {
        std::fs::write(dir.join(format!("a-{i}.bin")), random_bytes(100 + i, 700_000)).unwrap();
    }
    let _ = std::fs::remove_file(dir.join("zz-huge.img"));
    if huge > 0 {
        std::fs::File::create(dir.join("zz-huge.img")).unwrap().set_len(huge).unwrap();
    }
}

/// Check passes and every snapshot not verified before restores exactly: (snapshots restored).
/// The huge file of sparse zeros is put in the restore target first, as it was backed up (size
/// and time): the restore leaves it alone instead of writing gigabytes of zeros, and it is left
/// out of the comparison (zeros against zeros); `check --read-data` verified its blob.
fn verify(d: &Dest, work: &Path, verified: &mut Vec<String>) -> usize {
    d.run(&["check", "--read-data"]).ok();
    let snaps = d.run(&["--json", "snapshots"]).ok().json();
    let mut n = 0;
    for snap in snaps.as_array().unwrap() {
        let (id, path) = (snap["id"].as_str().unwrap(), Path::new(snap["paths"][0].as_str().unwrap()));
        if verified.iter().any(|v| v == id) {
            continue;
        }
        verified.push(id.to_string());
        let out = work.join("verify");
        let _ = std::fs::remove_dir_all(&out);
        if let Ok(m) = std::fs::metadata(path.join("zz-huge.img")) {
            std::fs::create_dir_all(&out).unwrap();
            let f = std::fs::File::create(out.join("zz-huge.img")).unwrap();
            f.set_len(m.len()).unwrap();
            f.set_modified(m.modified().unwrap()).unwrap();
        }
        d.run(&["restore", &format!("{id}:{}", s(path)), "--target", s(&out)]).ok();
        let huge = std::fs::metadata(out.join("zz-huge.img")).map(|m| m.len()).ok();
        assert_eq!(huge, std::fs::metadata(path.join("zz-huge.img")).map(|m| m.len()).ok(), "{}", d.name);
        let _ = std::fs::remove_file(out.join("zz-huge.img"));
        let diffs: Vec<String> = diff_trees(path, &out).into_iter().filter(|l| !l.contains("zz-huge.img")).collect();
        assert!(diffs.is_empty(), "{}: snapshot {id} does not restore exactly: {diffs:?}", d.name);
        n += 1;
    }
    n
}

/// A first snapshot of the files every later source starts with, forgotten: its data is
/// unused, and a prune would delete it, while the next backup reuses it.
fn forgotten_first(d: &Dest, work: &Path) {
    let first = work.join("first");
    source(&first, 0);
    let snap = d.run(&["--json", "backup", "--no-progress", s(&first)]).ok().json();
    d.run(&["forget", snap["snapshot_id"].as_str().unwrap()]).ok();
}

fn scenarios(d: &Dest, work: &Path) {
    let init: Vec<String> = init_args(&d.repo, 1)
        .into_iter()
        .chain([format!("--lock-stale-after={STALE_SECS}s")])
        .chain(["--lock-refresh-every", "3s", "--lock-settle-ms", "300"].map(String::from))
        .chain(d.extra.iter().cloned())
        .collect();
    d.c.run(init).ok();
    let mut verified = Vec::new();
    let stats = d.run(&["--json", "stats"]).ok().json();
    assert_eq!(stats["locks"]["stale_after_secs"], STALE_SECS, "{stats}");
    // A backup paused past its lease, a prune that deletes the data it reuses.
    forgotten_first(d, work);
    let src = work.join("paused");
    source(&src, 3 << 29);
    let mut backup = d.spawn(&["--json", "backup", "--no-progress", s(&src)]);
    until_locked(d, &mut backup);
    std::thread::sleep(Duration::from_millis(300));
    signal(&backup, "-STOP");
    let started = Instant::now();
    let pruned = d.run(&["--json", "prune", "--retry-lock", "120s"]).ok().json();
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(STALE_SECS),
        "{}: the prune took a lock seen for {waited:?} as stale",
        d.name
    );
    assert!(pruned["prune"]["packs_deleted"].as_u64().unwrap() > 0, "{}: {pruned}", d.name);
    signal(&backup, "-CONT");
    let b = wait(backup).code(13);
    assert!(b.stderr.contains("revoked"), "{}: {}", d.name, b.stderr);
    assert_eq!(d.run(&["--json", "snapshots"]).ok().json().as_array().unwrap().len(), 0, "{}: no snapshot", d.name);
    let mut restored = verify(d, work, &mut verified);

    // A prune whose clock is half an hour ahead, beside a running backup.
    forgotten_first(d, work);
    let src = work.join("skewed");
    source(&src, 1 << 30);
    let mut backup = d.spawn(&["--json", "backup", "--no-progress", s(&src)]);
    until_locked(d, &mut backup);
    let prune = d.spawn_under(&["faketime", "-f", "+31m"], &["--json", "prune", "--retry-lock", "300s"]);
    wait(backup).ok();
    let p = wait(prune);
    // Servers that sign requests with the time refuse a clock half an hour off (S3, Azure):
    // the prune then says so and changes nothing.
    if p.code != 0 {
        assert!(p.stderr.contains("clock"), "{}: prune with a clock 31 minutes ahead: {}", d.name, p.stderr);
        println!("{}: the server refused the prune's clock, 31 minutes ahead: {}", d.name, p.stderr.trim());
    }
    restored += verify(d, work, &mut verified);

    // A prune in another process-id namespace, beside a running backup.
    if is_root() {
        forgotten_first(d, work);
        let src = work.join("namespaced");
        source(&src, 1 << 30);
        let mut backup = d.spawn(&["--json", "backup", "--no-progress", s(&src)]);
        until_locked(d, &mut backup);
        let prune = d
            .spawn_under(&["unshare", "--pid", "--fork", "--mount-proc"], &["--json", "prune", "--retry-lock", "300s"]);
        wait(backup).ok();
        let p = wait(prune);
        assert_eq!(p.code, 0, "{}: prune in another pid namespace: {}", d.name, p.stderr);
        restored += verify(d, work, &mut verified);
    }

    // Two prunes started together: one runs, the other waits for it.
    forgotten_first(d, work);
    let one = d.spawn(&["prune", "--retry-lock", "120s"]);
    let two = d.spawn(&["prune", "--retry-lock", "120s"]);
    wait(one).ok();
    wait(two).ok();
    restored += verify(d, work, &mut verified);
    assert_eq!(d.live_locks(), 0, "{}: every lock was given back", d.name);
    println!("{}: scenarios passed, {restored} snapshots restored exactly", d.name);
}

fn tools_present() -> bool {
    let have = |t: &str| {
        std::process::Command::new("sh")
            .args(["-c", &format!("command -v {t}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    prerequisite(have("faketime") && have("unshare"), "faketime and unshare (apt-get install faketime util-linux)")
}

#[test]
fn leases_hold_on_a_local_destination() {
    if !tools_present() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let d = Dest { name: "local", c: cairn(t.path()), repo: s(&t.path().join("repo")).to_string(), extra: Vec::new() };
    scenarios(&d, t.path());
}

#[test]
fn leases_hold_on_s3() {
    let Some(server) = S3Server::start() else { return };
    if !tools_present() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let repo = format!("s3:{}/{}/leases?region=us-east-1", server.endpoint, server.bucket);
    let d = Dest { name: "s3", c: cairn(t.path()).s3_credentials(&server), repo, extra: Vec::new() };
    scenarios(&d, t.path());
}

#[test]
fn leases_hold_over_sftp() {
    let Some(server) = SshServer::start() else { return };
    if !tools_present() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let d = Dest { name: "sftp", c: cairn(t.path()), repo: server.repo_url("leases"), extra: server.client_args() };
    scenarios(&d, t.path());
}

#[test]
fn leases_hold_on_a_rest_server() {
    let Some(server) = RestServer::start(false) else { return };
    if !tools_present() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let repo = format!("rest:http://{}@127.0.0.1:{}/leases", server.user, server.port);
    let d =
        Dest { name: "rest", c: cairn(t.path()).env("CAIRN_REST_PASSWORD", &server.password), repo, extra: Vec::new() };
    scenarios(&d, t.path());
}

#[test]
fn leases_hold_through_rclone() {
    let Some(program) = rclone() else { return };
    if !tools_present() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let config = rclone_config(t.path(), None);
    let c = cairn(t.path()).env("RCLONE_CONFIG", s(&config)).env("CAIRN_RCLONE", s(&program));
    let repo = format!("rclone:cairnlocal:{}", t.path().join("drive/leases").display());
    scenarios(&Dest { name: "rclone", c, repo, extra: Vec::new() }, t.path());
}

#[test]
fn leases_hold_on_azure() {
    let Some(server) = AzuriteServer::start() else { return };
    if !tools_present() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let c = cairn(t.path()).env("AZURE_ACCOUNT_KEY", AZURE_ACCOUNT_KEY);
    scenarios(&Dest { name: "azure", c, repo: server.repo_url("leases"), extra: Vec::new() }, t.path());
}

#[test]
fn leases_hold_on_webdav() {
    let Some(server) = WebDavServer::start() else { return };
    if !tools_present() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let c = cairn(t.path()).env("CAIRN_WEBDAV_PASSWORD", &server.password);
    scenarios(&Dest { name: "webdav", c, repo: server.repo_url("leases"), extra: Vec::new() }, t.path());
}

#[test]
fn leases_hold_on_ftp() {
    let Some(server) = FtpServer::start(true) else { return };
    if !tools_present() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let c = cairn(t.path()).env("CAIRN_FTP_PASSWORD", FTP_PASSWORD);
    let repo = server.repo_url("leases", "verify-tls=false");
    scenarios(&Dest { name: "ftp", c, repo, extra: Vec::new() }, t.path());
}
