//! The rclone bridge: a repository on any storage rclone reaches (Google Drive, OneDrive,
//! Dropbox, pCloud, Mega, ...), as restic's `rclone:` backend does it. Cairn starts
//! `rclone serve restic --stdio REMOTE:PATH` and speaks the REST protocol ([`crate::rest`]) to
//! it over HTTP/2 on the child's stdin and stdout; the remote's credentials stay in rclone's own
//! configuration.
//!
//! The child is started on the first request and again after it dies (its last words on
//! stderr go into the error); requests are multiplexed on its one HTTP/2 connection and
//! retried with backoff as for the other HTTP destinations.

use std::cell::RefCell;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use cairn_core::{IoError, IoErrorKind};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http2::SendRequest;

use crate::http::{Answer, error};

/// Which rclone remote and how to run rclone.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RcloneConfig {
    /// `REMOTE:PATH` as rclone names it (`gdrive:backups/laptop`).
    pub remote: String,
    /// The rclone program [default: `rclone` on PATH].
    pub program: PathBuf,
    /// Retries of a failed request.
    pub retries: u32,
    /// No answer for this long fails an attempt (then retried).
    pub stall_timeout: Duration,
    /// Requests at once.
    pub connections: usize,
}

impl RcloneConfig {
    /// A configuration for `remote` with the defaults.
    pub fn new(remote: &str) -> Self {
        Self {
            remote: remote.to_string(),
            program: PathBuf::from("rclone"),
            retries: 3,
            stall_timeout: Duration::from_secs(120),
            connections: 4,
        }
    }
}

/// A running `rclone serve restic --stdio`.
struct Child {
    sender: SendRequest<Full<Bytes>>,
    _process: tokio::process::Child,
}

/// The last few KiB rclone wrote to stderr.
type Tail = Arc<Mutex<Vec<u8>>>;

/// The HTTP/2 connection to a child rclone, started when first needed.
pub(crate) struct RcloneBridge {
    config: RcloneConfig,
    child: RefCell<Option<Child>>,
    stderr: Tail,
}

const TAIL: usize = 4096;

impl RcloneBridge {
    pub(crate) fn new(config: RcloneConfig) -> Self {
        Self { config, child: RefCell::new(None), stderr: Arc::new(Mutex::new(Vec::new())) }
    }

    /// What rclone last said on stderr (its last line or two), for an error message.
    fn last_words(&self) -> String {
        let tail = self.stderr.lock().map(|t| t.clone()).unwrap_or_default();
        let text = String::from_utf8_lossy(&tail);
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        lines[lines.len().saturating_sub(2)..].join(" / ")
    }

    async fn spawn(&self) -> Result<SendRequest<Full<Bytes>>, IoError> {
        let mut process = tokio::process::Command::new(&self.config.program)
            .args(["serve", "restic", "--stdio", &self.config.remote])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                error(
                    if e.kind() == std::io::ErrorKind::NotFound {
                        IoErrorKind::Unsupported
                    } else {
                        IoErrorKind::Other
                    },
                    format!(
                        "cannot start {} ({e}): install rclone (https://rclone.org/install/) and set up the remote \
                         with `rclone config`",
                        self.config.program.display()
                    ),
                )
            })?;
        let (Some(stdin), Some(stdout), Some(mut stderr)) =
            (process.stdin.take(), process.stdout.take(), process.stderr.take())
        else {
            return Err(error(IoErrorKind::Other, "rclone started without its pipes"));
        };
        if let Ok(mut t) = self.stderr.lock() {
            t.clear();
        }
        let tail = self.stderr.clone();
        tokio::spawn(async move {
            use tokio::io::AsyncReadExt;
            let mut buf = [0u8; 1024];
            while let Ok(n) = stderr.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                if let Ok(mut t) = tail.lock() {
                    t.extend_from_slice(&buf[..n]);
                    let excess = t.len().saturating_sub(TAIL);
                    t.drain(..excess);
                }
            }
        });
        let io = hyper_util::rt::TokioIo::new(tokio::io::join(stdout, stdin));
        let (sender, connection) = hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), io)
            .await
            .map_err(|e| self.broken(&format!("cannot talk to rclone: {e}")))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        *self.child.borrow_mut() = Some(Child { sender: sender.clone(), _process: process });
        Ok(sender)
    }

    fn broken(&self, what: &str) -> IoError {
        let said = self.last_words();
        let said = if said.is_empty() { String::new() } else { format!("; rclone said: {said}") };
        error(IoErrorKind::Unavailable, format!("{what} (rclone serve restic --stdio {}){said}", self.config.remote))
    }

    /// The sender of a live child, starting one if there is none or the last one died.
    async fn sender(&self) -> Result<SendRequest<Full<Bytes>>, IoError> {
        let live = self.child.borrow().as_ref().filter(|c| !c.sender.is_closed()).map(|c| c.sender.clone());
        match live {
            Some(s) => Ok(s),
            None => {
                self.child.borrow_mut().take();
                self.spawn().await
            }
        }
    }

    async fn attempt(
        &self,
        method: &reqwest::Method,
        url: &str,
        headers: &[(&str, String)],
        body: &Bytes,
        limit: u64,
    ) -> Result<Answer, IoError> {
        let mut sender = self.sender().await?;
        let mut b = hyper::Request::builder().method(method.as_str()).uri(url);
        for (k, v) in headers {
            b = b.header(*k, v.as_str());
        }
        let request = b
            .body(Full::new(body.clone()))
            .map_err(|e| error(IoErrorKind::InvalidData, format!("cannot make the request for {url}: {e}")))?;
        let stall = self.config.stall_timeout;
        let response = tokio::time::timeout(stall, sender.send_request(request))
            .await
            .map_err(|_| self.broken("rclone did not answer in time"))?
            .map_err(|e| self.broken(&format!("rclone stopped answering: {e}")))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let limit = if (200..300).contains(&status) { limit } else { crate::http::MAX_SMALL_BODY as u64 };
        let mut body = response.into_body();
        let mut out = Vec::new();
        loop {
            let frame = tokio::time::timeout(stall, body.frame())
                .await
                .map_err(|_| self.broken("rclone stalled while answering"))?;
            let Some(frame) = frame else { break };
            let frame = frame.map_err(|e| self.broken(&format!("rclone's answer was cut: {e}")))?;
            if let Ok(data) = frame.into_data() {
                if (out.len() + data.len()) as u64 > limit {
                    return Err(error(
                        IoErrorKind::InvalidData,
                        format!("rclone's answer for {url} is larger than expected"),
                    ));
                }
                out.extend_from_slice(&data);
            }
        }
        Ok(Answer { status, headers, body: Bytes::from(out) })
    }

    /// One whole exchange, retried after a dead child, a stall, or a 5xx or 429 answer.
    pub(crate) async fn exchange(
        &self,
        method: reqwest::Method,
        url: &str,
        headers: &[(&str, String)],
        body: Bytes,
        limit: u64,
    ) -> Result<Answer, IoError> {
        let mut attempt = 0u32;
        loop {
            let outcome = self.attempt(&method, url, headers, &body, limit).await;
            let retry = match &outcome {
                Ok(a) => a.status == 429 || a.status >= 500,
                Err(e) => e.kind() == IoErrorKind::Unavailable,
            };
            if !retry || attempt >= self.config.retries {
                return outcome;
            }
            tokio::time::sleep(crate::http::backoff(attempt)).await;
            attempt += 1;
        }
    }
}

/// The remotes in the user's rclone configuration (`rclone listremotes`), without the `:`.
pub fn rclone_remotes(program: &std::path::Path) -> Result<Vec<String>, IoError> {
    let out = std::process::Command::new(program).arg("listremotes").output().map_err(|e| {
        error(IoErrorKind::Unsupported, format!("cannot run {} ({e}): install rclone", program.display()))
    })?;
    if !out.status.success() {
        return Err(error(
            IoErrorKind::Other,
            format!("rclone listremotes failed: {}", String::from_utf8_lossy(&out.stderr).trim()),
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().trim_end_matches(':').to_string())
        .filter(|l| !l.is_empty())
        .collect())
}
