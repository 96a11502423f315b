//! `s3s-fs`, the S3-compatible server that verifies SigV4 signatures.

use super::*;

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
    /// Its port.
    pub port: u16,
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
        let (access_key, secret_key) = ("AKIACAIRNTEST".to_string(), S3_SECRET_KEY.to_string());
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
            port,
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

/// The secret access key of every [`S3Server`].
pub const S3_SECRET_KEY: &str = "cairn/test+secret/KEY-s3Q7x";
