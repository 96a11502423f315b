//! Real servers for the destination tests, each started on 127.0.0.1 on a free port and stopped
//! when dropped.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Finds a tool: `$CAIRN_<NAME>` (upper case, `-` as `_`), then PATH, then the tools folder
/// that `test.sh` installs into (`~/.cache/cairn/tools/bin`).
pub fn find_tool(name: &str) -> Option<PathBuf> {
    let var = format!("CAIRN_{}", name.to_uppercase().replace('-', "_"));
    if let Some(p) = std::env::var_os(&var).map(PathBuf::from).filter(|p| p.is_file()) {
        return Some(p);
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(name))
        .find(|p| p.is_file());
    on_path.or_else(|| {
        let home = std::env::var_os("HOME")?;
        let p = Path::new(&home).join(".cache/cairn/tools/bin").join(name);
        p.is_file().then_some(p)
    })
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Waits until something accepts connections on `port`.
pub fn wait_for_port(port: u16, child: &mut Child, what: &str) {
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited before listening: {status}");
        }
        assert!(start.elapsed() < Duration::from_secs(20), "{what} did not listen on port {port}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// A scratch directory removed on drop.
#[derive(Debug)]
pub struct ScratchDir(pub PathBuf);

impl ScratchDir {
    /// A new empty directory under the system's temp directory.
    pub fn new(tag: &str) -> Self {
        let n: u64 = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
        let p = std::env::temp_dir().join(format!("cairn-{tag}-{}-{n:x}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `s3s-fs`: an S3-compatible server that verifies SigV4 signatures, with one bucket.
#[derive(Debug)]
pub struct S3Server {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// The bucket created for the test.
    pub bucket: String,
    /// Access key accepted by the server.
    pub access_key: String,
    /// Secret key accepted by the server.
    pub secret_key: String,
    /// The directory the server stores into (a bucket is a subdirectory).
    pub data: PathBuf,
    child: Child,
    _dir: ScratchDir,
}

impl S3Server {
    /// Starts a server, or returns `None` (outside CI, saying why) if `s3s-fs` is not installed.
    pub fn start() -> Option<Self> {
        let bin = find_tool("s3s-fs");
        if !crate::prerequisite(bin.is_some(), "s3s-fs (cargo install s3s-fs@0.14.1 --locked --features binary)") {
            return None;
        }
        let dir = ScratchDir::new("s3");
        let data = dir.0.join("data");
        let bucket = "cairn-test".to_string();
        std::fs::create_dir_all(data.join(&bucket)).unwrap();
        let port = free_port();
        let (access_key, secret_key) = ("AKIACAIRNTEST".to_string(), "cairn/test+secret/KEY".to_string());
        let mut child = Command::new(bin.unwrap())
            .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--access-key", &access_key])
            .args(["--secret-key", &secret_key])
            .arg(&data)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start s3s-fs");
        wait_for_port(port, &mut child, "s3s-fs");
        Some(Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            bucket,
            access_key,
            secret_key,
            data,
            child,
            _dir: dir,
        })
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
