//! Network faults: `cairn` talks to the S3, REST and SFTP test servers through a proxy that
//! injects faults. HTTP (S3, REST): connection resets, `500`, `503 SlowDown`, `429`, stalls past
//! the stall timeout, bodies cut in half, and latency. SFTP (a TCP proxy in front of sshd):
//! resets and flipped bits at random points of the stream, stalls and latency.
//!
//! Two phases per destination. **Transient** faults, within the retry budget: every backup,
//! `check --read-data`, restore and `forget --prune` through the proxy must succeed, and the
//! result is verified directly (no proxy): the check passes and every snapshot restores exactly.
//! **Hopeless** faults, with no retries: the command fails with a clean error (no panic, the
//! fault named), no snapshot appears that is not complete, the check still passes, and the next
//! backup (without faults) completes.

use std::path::Path;
use std::time::Duration;

use cairn_e2e::servers::{Fault, FaultProxy, RestServer, S3Server, SshServer, TcpFault, TcpFaultProxy};
use cairn_e2e::{Cairn, diff_trees, random_bytes, text_bytes};

use super::{Rng, full, report};
use crate::{cairn, init_args, s};

/// One destination reached two ways.
struct Net<'a> {
    name: &'static str,
    c: Cairn,
    /// Through the faulty proxy.
    faulty: String,
    /// Straight to the server.
    direct: String,
    /// Flags every command needs (SSH key, say).
    extra: Vec<String>,
    /// Faults injected so far.
    injected: &'a dyn Fn() -> u64,
    /// Where the server keeps the repository, if it leaves temporary files of interrupted
    /// uploads (SFTP): after the hopeless phase they are aged, and prune must remove them.
    temporaries: Option<std::path::PathBuf>,
}

impl Net<'_> {
    fn run(&self, repo: &str, a: &[&str]) -> cairn_e2e::Run {
        let mut args: Vec<String> = a.iter().map(|x| x.to_string()).collect();
        args.extend(["--repo".to_string(), repo.to_string()]);
        args.extend(self.extra.iter().cloned());
        let started = std::time::Instant::now();
        let r = self.c.run(args);
        if std::env::var_os("CAIRN_CAMPAIGN_DEBUG").is_some() {
            eprintln!("{}: {a:?} took {:?}, exit {}", self.name, started.elapsed(), r.code);
            if started.elapsed() > Duration::from_secs(10) {
                eprintln!("{}", r.stderr);
            }
        }
        r
    }
}

fn new_source(dir: &Path, files: usize, rng: &mut Rng) {
    std::fs::create_dir_all(dir.join("notes")).unwrap();
    for i in 0..files {
        std::fs::write(dir.join(format!("blob-{i:02}.bin")), random_bytes(rng.next(), 700_000)).unwrap();
    }
    for i in 0..30 {
        std::fs::write(dir.join(format!("notes/n{i:02}.txt")), text_bytes(rng.next(), 1_500 + i * 91)).unwrap();
    }
}

/// Directly: the check passes and every snapshot restores exactly. Returns how many restored.
fn verify_directly(n: &Net<'_>, work: &Path) -> u64 {
    n.run(&n.direct, &["check", "--read-data"]).ok();
    let snaps = n.run(&n.direct, &["--json", "snapshots"]).ok().json();
    let mut restored = 0;
    for snap in snaps.as_array().unwrap() {
        let (id, path) = (snap["id"].as_str().unwrap(), snap["paths"][0].as_str().unwrap());
        let out = work.join("verify");
        let _ = std::fs::remove_dir_all(&out);
        n.run(&n.direct, &["restore", &format!("{id}:{path}"), "--target", s(&out)]).ok();
        let diffs = diff_trees(Path::new(path), &out);
        assert!(diffs.is_empty(), "{}: snapshot {id} does not restore exactly: {diffs:?}", n.name);
        restored += 1;
    }
    restored
}

/// The transient phase: `rounds` backups (with a check, a restore and a forget+prune through
/// the proxy along the way), and more (up to four times as many) until at least `min_faults`
/// faults were injected: how many a round meets depends on how many connections the client
/// opens, which is not the campaign's to fix. Returns (operations, faults survived).
fn transient(n: &Net<'_>, work: &Path, rounds: usize, files: usize, min_faults: u64, rng: &mut Rng) -> (u64, u64) {
    let before = (n.injected)();
    let mut ops = 0;
    for round in 0..rounds * 4 {
        if round >= rounds && (n.injected)() - before >= min_faults {
            break;
        }
        let src = work.join(format!("src/r{round:02}"));
        new_source(&src, files, rng);
        let r = n.run(&n.faulty, &["backup", s(&src)]);
        assert_eq!(r.code, 0, "{}: backup through transient faults failed: {}", n.name, r.stderr);
        ops += 1;
        if round % 2 == 1 || round + 1 >= rounds {
            n.run(&n.faulty, &["check", "--read-data"]).ok();
            let out = work.join("restored");
            let _ = std::fs::remove_dir_all(&out);
            n.run(&n.faulty, &["restore", &format!("latest:{}", s(&src)), "--target", s(&out)]).ok();
            let diffs = diff_trees(&src, &out);
            assert!(diffs.is_empty(), "{}: restore through faults differs: {diffs:?}", n.name);
            ops += 2;
        }
        if round % 3 == 2 {
            n.run(&n.faulty, &["forget", "--keep-last", "3", "--prune"]).ok();
            ops += 1;
        }
    }
    (ops, (n.injected)() - before)
}

/// Opens a proxy whose faults are beyond any retry budget, failing at a point drawn from its
/// argument (a request or a byte count); gives the repository through it (with no retries)
/// and what counts the faults it injected (dropping that stops the proxy).
type Dead<'a> = &'a dyn Fn(u64) -> (String, Box<dyn Fn() -> u64>);

/// The hopeless phase: backups that cannot get through, each failing at another point, fail
/// cleanly and leave nothing that looks complete and is not: a snapshot appears only if its
/// upload finished (an answer lost after the server stored it), and then it restores exactly.
/// Afterwards a prune (which needs the exclusive lock) and a backup on a good network work.
/// Returns (backups that failed, faults injected, temporary files prune removed).
fn hopeless(n: &Net<'_>, dead: Dead<'_>, tries: u64, work: &Path, rng: &mut Rng) -> (u64, u64, usize) {
    let (mut failed, mut injected, mut removed) = (0, 0, 0);
    for attempt in 0..tries {
        let before = n.run(&n.direct, &["--json", "snapshots"]).ok().json().as_array().unwrap().len();
        let src = work.join(format!("src/hopeless-{attempt}"));
        new_source(&src, 6, rng);
        let (repo, faults) = dead(rng.next());
        let started = std::time::Instant::now();
        let r = n.run(&repo, &["backup", s(&src)]).no_panic();
        // Not a speed test: a lost connection must not leave it waiting for a timeout (60 s).
        let took = started.elapsed();
        assert!(took < Duration::from_secs(40), "{}: the failing backup hung for {took:?}: {}", n.name, r.stderr);
        injected += faults();
        if std::env::var_os("CAIRN_CAMPAIGN_DEBUG").is_some() {
            eprintln!("{}: hopeless try {attempt}: exit {}, {} faults", n.name, r.code, faults());
        }
        if r.code == 0 {
            continue; // The fault landed after the last request: nothing to see.
        }
        failed += 1;
        assert!(r.stderr.starts_with("error: "), "{}: no clear error: {}", n.name, r.stderr);
        assert!(r.stderr.contains("retries"), "{}: the error does not say what failed: {}", n.name, r.stderr);
        if std::env::var_os("CAIRN_CAMPAIGN_DEBUG").is_some() {
            eprintln!("{}: the backup through a dead network said: {}", n.name, r.stderr.trim());
        }
        let after = n.run(&n.direct, &["--json", "snapshots"]).ok().json().as_array().unwrap().len();
        assert!(after <= before + 1, "{}: a failed backup left {} snapshots", n.name, after - before);
    }
    if let Some(store) = &n.temporaries {
        let left = temporaries(store);
        for f in &left {
            cairn_e2e::backdate(f, Duration::from_secs(7200));
        }
        let out = n.run(&n.direct, &["prune"]).ok();
        if !left.is_empty() {
            let said = format!("removed {} temporary files", left.len());
            assert!(out.stdout.contains(&said), "{}: {:?} left; prune said {}", n.name, left, out.stdout);
        }
        assert!(temporaries(store).is_empty(), "{}: prune left temporary files", n.name);
        removed = left.len();
    }
    n.run(&n.direct, &["prune"]).ok();
    let src = work.join("src/after-hopeless");
    new_source(&src, 2, rng);
    n.run(&n.direct, &["backup", s(&src)]).ok();
    (failed, injected, removed)
}

/// The temporary files (dot names) under `dir`.
fn temporaries(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().filter_map(Result::ok) {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            out.extend(temporaries(&e.path()));
        } else if e.file_name().to_string_lossy().starts_with('.') {
            out.push(e.path());
        }
    }
    out
}

fn campaign(n: &Net<'_>, dead: Dead<'_>, work: &Path, salt: u64) {
    let (mut rng, seed) = Rng::seeded(salt);
    let (rounds, files, tries) = if full() { (12, 10, 8) } else { (3, 5, 3) };
    let min_faults = if full() { 40 } else { 8 };
    let (ops, survived) = transient(n, work, rounds, files, min_faults, &mut rng);
    let mut restored = verify_directly(n, work);
    let (clean_errors, dead_faults, temporaries_removed) = hopeless(n, dead, tries, work, &mut rng);
    restored += verify_directly(n, work);
    let injected = (n.injected)() + dead_faults;
    let counts = (n.injected)();
    println!("{}: {survived} faults survived in the transient phase ({counts} injected in all)", n.name);
    assert!(survived >= min_faults, "{}: only {survived} faults injected in {ops} operations", n.name);
    report(
        &format!("network-{}", n.name),
        &[
            ("seed", seed.to_string()),
            ("faults_injected", injected.to_string()),
            ("faults_survived", survived.to_string()),
            ("operations", ops.to_string()),
            ("hopeless_runs", tries.to_string()),
            ("clean_errors", clean_errors.to_string()),
            ("temporaries_removed", temporaries_removed.to_string()),
            ("snapshots_verified", restored.to_string()),
        ],
    );
}

/// The HTTP faults of the transient phase, in turn.
fn http_faults() -> Vec<Fault> {
    vec![
        Fault::Reset,
        Fault::SlowDown,
        Fault::Delay(Duration::from_millis(300)),
        Fault::Answer(
            429,
            "<Error><Code>TooManyRequests</Code></Error>".into(),
            vec![("Retry-After".into(), "1".into())],
        ),
        Fault::Truncate,
        Fault::Stall(Duration::from_millis(1500)),
        Fault::InternalError,
    ]
}

/// A proxy that fails requests (every `n`-th, `n` drawn from `r`) with a reset, a `500` or an
/// answer cut after the server acted on the request (one of them, drawn from `r`).
fn dead_http(port: u16, r: u64) -> FaultProxy {
    let fault = [Fault::InternalError, Fault::Reset, Fault::Truncate][(r % 3) as usize].clone();
    FaultProxy::start(port, 3 + (r >> 8) % 20, vec![fault])
}

/// The campaign on an HTTP destination whose server listens on `port`: `c` holds its
/// credentials, and `repo(port, options)` is its URL through `port` with the options
/// (`k=v&...`, empty for none).
fn http_campaign(name: &'static str, port: u16, c: Cairn, repo: &dyn Fn(u16, &str) -> String, w: &Path, salt: u64) {
    let proxy = FaultProxy::start(port, 3, http_faults());
    let dead = |r: u64| {
        let p = dead_http(port, r);
        (repo(p.port, "retries=0"), Box::new(move || p.faults()) as Box<dyn Fn() -> u64>)
    };
    let direct = repo(port, "");
    c.run(init_args(&direct, 1)).ok();
    let injected = || proxy.faults();
    let faulty = repo(proxy.port, "retries=6&stall-timeout=1");
    let n = Net { name, c, faulty, direct, extra: Vec::new(), injected: &injected, temporaries: None };
    campaign(&n, &dead, w, salt);
}

#[test]
fn campaign_network_s3() {
    let Some(server) = S3Server::start() else { return };
    let w = tempfile::tempdir().unwrap();
    let repo = |port: u16, opts: &str| {
        let opts = if opts.is_empty() { String::new() } else { format!("&{opts}") };
        format!("s3:http://127.0.0.1:{port}/{}/net?region=us-east-1{opts}", server.bucket)
    };
    http_campaign("s3", server.port, cairn(w.path()).s3_credentials(&server), &repo, w.path(), 11);
}

#[test]
fn campaign_network_rest() {
    let Some(server) = RestServer::start(false) else { return };
    let w = tempfile::tempdir().unwrap();
    let repo = |port: u16, opts: &str| {
        let opts = if opts.is_empty() { String::new() } else { format!("?{opts}") };
        format!("rest:http://{}@127.0.0.1:{port}/net{opts}", server.user)
    };
    let c = cairn(w.path()).env("CAIRN_REST_PASSWORD", &server.password);
    http_campaign("rest", server.port, c, &repo, w.path(), 12);
}

#[test]
fn campaign_network_sftp() {
    let Some(server) = SshServer::start() else { return };
    let w = tempfile::tempdir().unwrap();
    let (_, seed) = Rng::seeded(13);
    let mut faults = vec![
        TcpFault::Reset,
        TcpFault::Latency(Duration::from_millis(2)),
        TcpFault::Stall(Duration::from_millis(1500)),
    ];
    if full() {
        // A flipped bit in an encrypted length can leave the client waiting for bytes that never
        // come, until the 60 s request timeout: right, but too slow for CI.
        faults.push(TcpFault::Corrupt);
    }
    // Packs are 1 MiB: any one operation fits in the 2 MiB window.
    let proxy = TcpFaultProxy::start(server.port, seed, 2, faults, 16 * 1024, 2 << 20);
    let dir = server.root.join("net");
    let repo = |port: u16, opts: &str| {
        format!("sftp://{}@127.0.0.1:{port}{}?host-key={}{opts}", server.user, dir.display(), server.fingerprint)
    };
    let extra = vec!["--ssh-key".to_string(), server.client_key.display().to_string()];
    let c = cairn(w.path());
    let direct = repo(server.port, "");
    c.run(init_args(&direct, 1).into_iter().chain(extra.iter().cloned())).ok();
    let dead = |r: u64| {
        // Every connection (a backup opens a few) is cut somewhere in its first 2 MiB.
        let p = TcpFaultProxy::start(server.port, r, 1, vec![TcpFault::Reset], 16 * 1024, 1 << 20);
        (repo(p.port, "&retries=0"), Box::new(move || p.counts().total()) as Box<dyn Fn() -> u64>)
    };
    let injected = || proxy.counts().total();
    let faulty = repo(proxy.port, "&retries=4");
    let n = Net { name: "sftp", c, faulty, direct, extra, injected: &injected, temporaries: Some(dir.clone()) };
    campaign(&n, &dead, w.path(), 13);
    let counts = proxy.counts();
    println!(
        "sftp proxy: {} connections, {} resets, {} corruptions, {} stalls, {} slowed",
        counts.connections, counts.resets, counts.corruptions, counts.stalls, counts.latencies
    );
}
