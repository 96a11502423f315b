//! Crash consistency: `cairn` is killed with SIGKILL at a random moment of a backup, a forget
//! with prune, a prune or a password change, on a local, an S3 and an SFTP destination. After
//! every kill: `check --read-data` passes, every snapshot there restores byte-identical, the
//! password still opens the repository, and a killed backup run again completes, reusing
//! what the killed one had uploaded (the re-upload ratio is the share of those bytes sent twice).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use cairn_e2e::servers::{S3Server, SshServer};
use cairn_e2e::{Cairn, Run, diff_trees, random_bytes, text_bytes};

use super::{Rng, dir_totals, full, report};
use crate::{PASSWORD, cairn, init_args, s};

const OTHER_PASSWORD: &str = "campaign: the second password";

/// A repository under test and how to reach it.
struct Target {
    name: &'static str,
    c: Cairn,
    repo: String,
    extra: Vec<String>,
    /// Where the destination keeps the repository's objects on this machine.
    store: PathBuf,
}

impl Target {
    fn args(&self, a: &[&str]) -> Vec<String> {
        a.iter().map(|x| x.to_string()).chain(self.extra.iter().cloned()).collect()
    }

    fn with(&self, password: &str) -> Cairn {
        self.c.clone().env("CAIRN_PASSWORD", password)
    }

    fn run(&self, password: &str, a: &[&str]) -> Run {
        self.with(password).run(self.args(a))
    }

    /// Runs `a`, sending SIGKILL after `after` if it is still running: whether it was killed,
    /// and its outcome otherwise.
    fn run_killed(&self, password: &str, a: &[&str], after: Duration) -> (bool, Option<Run>, Duration) {
        let started = Instant::now();
        let mut child =
            self.with(password).command(self.args(a)).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        loop {
            if child.try_wait().unwrap().is_some() {
                let elapsed = started.elapsed();
                return (false, Some(cairn_e2e::finish(child.wait_with_output().unwrap())), elapsed);
            }
            if started.elapsed() >= after {
                child.kill().unwrap(); // SIGKILL
                let _ = child.wait();
                return (true, None, started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Backup,
    ForgetPrune,
    Prune,
    Passwd,
}

#[derive(Default)]
struct Tally {
    kills: u64,
    attempts: u64,
    by_op: [u64; 4],
    checks: u64,
    restores: u64,
    uploaded_before_kill: u64,
    sent_twice: u64,
}

/// A new source directory: `files` random MiB files and some small text files.
fn new_source(dir: &Path, files: usize, rng: &mut Rng) -> u64 {
    std::fs::create_dir_all(dir.join("notes")).unwrap();
    let mut total = 0;
    for i in 0..files {
        let data = random_bytes(rng.next(), 1 << 20);
        total += data.len() as u64;
        std::fs::write(dir.join(format!("blob-{i:02}.bin")), data).unwrap();
    }
    for i in 0..40 {
        let data = text_bytes(rng.next(), 2_000 + i * 37);
        total += data.len() as u64;
        std::fs::write(dir.join(format!("notes/n{i:02}.txt")), data).unwrap();
    }
    total
}

/// After a kill: the check passes with `password`, and every snapshot restores exactly.
fn verify(t: &Target, password: &str, work: &Path, tally: &mut Tally) {
    t.run(password, &["check", "--read-data", "--repo", &t.repo]).ok();
    tally.checks += 1;
    let snaps = t.run(password, &["--json", "snapshots", "--repo", &t.repo]).ok().json();
    for snap in snaps.as_array().unwrap() {
        let id = snap["id"].as_str().unwrap();
        let path = snap["paths"][0].as_str().unwrap();
        let out = work.join("restore");
        let _ = std::fs::remove_dir_all(&out);
        t.run(password, &["restore", &format!("{id}:{path}"), "--repo", &t.repo, "--target", s(&out)]).ok();
        let diffs = diff_trees(Path::new(path), &out);
        assert!(diffs.is_empty(), "{}: snapshot {id} of {path} does not restore exactly: {diffs:?}", t.name);
        tally.restores += 1;
    }
}

/// Which of the two passwords opens the repository now (the current one first).
fn opening_password(t: &Target, current: &str) -> String {
    let other = if current == PASSWORD { OTHER_PASSWORD } else { PASSWORD };
    for p in [current, other] {
        if t.run(p, &["snapshots", "--repo", &t.repo]).code == 0 {
            return p.to_string();
        }
    }
    panic!("{}: after a killed password change, neither password opens the repository", t.name);
}

fn campaign(t: &Target, work: &Path, kills_wanted: u64, files: usize, salt: u64) {
    let (mut rng, seed) = Rng::seeded(salt);
    let mut password = PASSWORD.to_string();
    let new_password = work.join("new-password");
    let ops = [Op::Backup, Op::ForgetPrune, Op::Backup, Op::Prune, Op::Backup, Op::Passwd];
    // An operation is tried until a kill lands in it (at most 4 times), then the next one.
    let mut at = 0usize;
    let mut tries_here = 0;
    // How long each operation takes when left alone; kills land uniformly inside that span.
    let mut typical = [
        Duration::from_millis(1500),
        Duration::from_millis(600),
        Duration::from_millis(600),
        Duration::from_millis(900),
    ];
    let mut tally = Tally::default();
    let mut round = 0u64;
    while tally.kills < kills_wanted {
        assert!(round < kills_wanted * 8, "{}: too few kills landed ({} of {round} tries)", t.name, tally.kills);
        if tries_here >= 4 {
            at += 1;
            tries_here = 0;
        }
        let op = ops[at % ops.len()];
        tries_here += 1;
        round += 1;
        tally.attempts += 1;
        let after = typical[op as usize].mul_f64(0.05 + 0.9 * rng.unit());
        match op {
            Op::Backup => {
                let src = work.join(format!("src/r{round:03}"));
                let total = new_source(&src, files, &mut rng);
                let data = t.store.join("data");
                let before = dir_totals(&data).1;
                let args = ["--json", "backup", "--repo", &t.repo, s(&src)];
                let (killed, done, took) = t.run_killed(&password, &args, after);
                if !killed {
                    done.unwrap().ok();
                    typical[op as usize] = took;
                    continue;
                }
                let uploaded = dir_totals(&data).1.saturating_sub(before);
                if std::env::var_os("CAIRN_CAMPAIGN_DEBUG").is_some() {
                    eprintln!("{}: killed after {after:?}, {uploaded} bytes in {}", t.name, data.display());
                }
                verify(t, &password, work, &mut tally);
                let started = Instant::now();
                let again = t.run(&password, &args).ok().json();
                typical[op as usize] = started.elapsed();
                let added = again["stats"]["bytes_added_raw"].as_u64().unwrap();
                tally.uploaded_before_kill += uploaded;
                tally.sent_twice += (uploaded + added).saturating_sub(total).min(uploaded);
            }
            Op::ForgetPrune | Op::Prune => {
                let args: &[&str] = if op == Op::Prune {
                    t.run(&password, &["forget", "--keep-last", "2", "--repo", &t.repo]).ok();
                    &["prune", "--repo", &t.repo]
                } else {
                    &["forget", "--keep-last", "3", "--prune", "--repo", &t.repo]
                };
                let (killed, done, took) = t.run_killed(&password, args, after);
                if !killed {
                    done.unwrap().ok();
                    typical[op as usize] = took;
                    continue;
                }
                verify(t, &password, work, &mut tally);
            }
            Op::Passwd => {
                let next = if password == PASSWORD { OTHER_PASSWORD } else { PASSWORD };
                std::fs::write(&new_password, format!("{next}\n")).unwrap();
                std::fs::set_permissions(&new_password, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
                let args = ["key", "passwd", "--new-password-file", s(&new_password), "--repo", &t.repo];
                let (killed, done, took) = t.run_killed(&password, &args, after);
                if !killed {
                    done.unwrap().ok();
                    password = next.to_string();
                    typical[op as usize] = took;
                    continue;
                }
                password = opening_password(t, &password);
                verify(t, &password, work, &mut tally);
            }
        }
        tally.kills += 1;
        tally.by_op[op as usize] += 1;
        at += 1;
        tries_here = 0;
    }
    // The repository is fine for one more ordinary backup and check at the end.
    let last = work.join("src/last");
    new_source(&last, 2, &mut rng);
    t.run(&password, &["backup", "--repo", &t.repo, s(&last)]).ok();
    verify(t, &password, work, &mut tally);
    let ratio =
        if tally.uploaded_before_kill == 0 { 0.0 } else { tally.sent_twice as f64 / tally.uploaded_before_kill as f64 };
    report(
        &format!("crash-{}", t.name),
        &[
            ("seed", seed.to_string()),
            ("kills", tally.kills.to_string()),
            ("recovered", tally.kills.to_string()),
            ("tries", tally.attempts.to_string()),
            ("backup_kills", tally.by_op[Op::Backup as usize].to_string()),
            ("forget_prune_kills", tally.by_op[Op::ForgetPrune as usize].to_string()),
            ("prune_kills", tally.by_op[Op::Prune as usize].to_string()),
            ("passwd_kills", tally.by_op[Op::Passwd as usize].to_string()),
            ("checks_passed", tally.checks.to_string()),
            ("snapshots_restored", tally.restores.to_string()),
            ("uploaded_before_kill_bytes", tally.uploaded_before_kill.to_string()),
            ("reupload_ratio", format!("{ratio:.3}")),
        ],
    );
}

fn kills(ci: u64, full_size: u64) -> u64 {
    if full() { full_size } else { ci }
}

#[test]
fn campaign_crash_local() {
    let w = tempfile::tempdir().unwrap();
    let repo = w.path().join("repo");
    let c = cairn(w.path());
    c.run(init_args(s(&repo), 1)).ok();
    let t = Target { name: "local", c, repo: s(&repo).to_string(), extra: Vec::new(), store: repo.clone() };
    campaign(&t, w.path(), kills(6, 30), if full() { 24 } else { 8 }, 1);
}

#[test]
fn campaign_crash_s3() {
    let Some(server) = S3Server::start() else { return };
    let w = tempfile::tempdir().unwrap();
    let repo = format!("s3:{}/{}/crash?region=us-east-1", server.endpoint, server.bucket);
    let c = cairn(w.path()).s3_credentials(&server);
    c.run(init_args(&repo, 1)).ok();
    let store = server.data.join(&server.bucket).join("crash");
    let t = Target { name: "s3", c, repo, extra: Vec::new(), store };
    campaign(&t, w.path(), kills(3, 12), if full() { 16 } else { 6 }, 2);
}

#[test]
fn campaign_crash_sftp() {
    let Some(server) = SshServer::start() else { return };
    let w = tempfile::tempdir().unwrap();
    let dir = server.root.join("crash");
    let (repo, extra) = (server.repo_url("crash"), server.client_args());
    let c = cairn(w.path());
    c.run(init_args(&repo, 1).into_iter().chain(extra.iter().cloned())).ok();
    let t = Target { name: "sftp", c, repo, extra, store: dir };
    campaign(&t, w.path(), kills(3, 12), if full() { 16 } else { 6 }, 3);
}
