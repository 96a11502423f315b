//! rclone: the program for the bridge's tests, its test configuration, and `rclone serve`.

use super::*;

/// `rclone serve PROTOCOL` on a free port of 127.0.0.1 with basic authentication (user `cairn`),
/// storing in a scratch directory's `data/`; stopped when dropped. The REST and WebDAV servers.
#[derive(Debug)]
pub struct RcloneServer {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Its port.
    pub port: u16,
    /// User name accepted.
    pub user: String,
    /// Password accepted.
    pub password: String,
    /// Where it stores.
    pub data: PathBuf,
    child: Child,
    _dir: ScratchDir,
}

impl RcloneServer {
    /// Starts `rclone serve PROTOCOL` taking `password`, with `extra` arguments; `None`
    /// (outside CI, saying why) if rclone is not installed.
    pub(super) fn start(protocol: &str, password: &str, extra: &[&str]) -> Option<Self> {
        let bin = find_tool("rclone");
        if !crate::prerequisite(bin.is_some(), "rclone (apt-get install rclone)") {
            return None;
        }
        let dir = ScratchDir::new(protocol);
        let data = dir.0.join("data");
        std::fs::create_dir_all(&data).unwrap();
        let port = free_port();
        let mut child = Command::new(bin.unwrap())
            .args(["serve", protocol, "--addr", &format!("127.0.0.1:{port}"), "--user", "cairn", "--pass", password])
            .args(extra)
            // rclone reads no config file it does not need; keep it from touching the user's.
            .env("RCLONE_CONFIG", dir.0.join("rclone.conf"))
            .arg(&data)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_for_port(port, &mut child, &format!("rclone serve {protocol}"));
        let url = format!("http://127.0.0.1:{port}");
        Some(Self { url, port, user: "cairn".into(), password: password.into(), data, child, _dir: dir })
    }
}

impl Drop for RcloneServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// rclone, for the rclone bridge's tests (give it as `CAIRN_RCLONE` or `RcloneConfig::program`),
/// or `None` (outside CI, saying why) if it is not installed. It is a wrapper that runs rclone
/// with two work-arounds for the S3 test remote, neither of which Cairn's own S3 destination
/// needs: without `AWS_CA_BUNDLE` (Debian's rclone 1.60 fails every S3 remote when that
/// variable is set, "LoadCustomCABundleError ... unsupported transport", and some machines set
/// it), and with rclone's recursive listing off (`RCLONE_DISABLE=ListR`: s3s-fs 0.14 answers a
/// listing with an empty `delimiter=` as if it were a one-character one, so rclone would see
/// no packs; without ListR rclone lists folder by folder, as it does on most cloud drives).
pub fn rclone() -> Option<PathBuf> {
    let bin = find_tool("rclone");
    if !crate::prerequisite(bin.is_some(), "rclone (apt-get install rclone)") {
        return None;
    }
    let script =
        format!("#!/bin/sh\nunset AWS_CA_BUNDLE\nexport RCLONE_DISABLE=ListR\nexec '{}' \"$@\"\n", bin?.display());
    static MADE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = MADE.lock().unwrap_or_else(|e| e.into_inner());
    let dir = std::env::temp_dir().join("cairn-test-rclone");
    let wrapper = dir.join("rclone");
    if std::fs::read_to_string(&wrapper).ok().as_deref() != Some(script.as_str()) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(&dir).unwrap();
        // Other test processes may write it at the same time: each through a file of its own.
        let tmp = dir.join(format!(".rclone-{}", std::process::id()));
        std::fs::write(&tmp, &script).unwrap();
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::rename(&tmp, &wrapper).unwrap();
    }
    Some(wrapper)
}

/// Writes an rclone configuration file into `dir` with a `local` remote named `cairnlocal`
/// and, given an S3 test server, an `s3` remote named `s3fs` that reaches it (path-style,
/// SigV4, its keys); returns the file's path (for `RCLONE_CONFIG` or `--config`).
pub fn rclone_config(dir: &Path, s3: Option<&S3Server>) -> PathBuf {
    let mut text = String::from("[cairnlocal]\ntype = local\n");
    if let Some(s) = s3 {
        text.push_str(&format!(
            "\n[s3fs]\ntype = s3\nprovider = Other\naccess_key_id = {}\nsecret_access_key = {}\nendpoint = {}\n\
             region = us-east-1\nforce_path_style = true\nno_check_bucket = true\n",
            s.access_key, s.secret_key, s.endpoint
        ));
    }
    let file = dir.join("rclone.conf");
    std::fs::write(&file, text).unwrap();
    file
}
