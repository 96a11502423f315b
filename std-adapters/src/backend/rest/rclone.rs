//! The rclone bridge: a repository on any storage rclone reaches (Google Drive, OneDrive,
//! Dropbox, pCloud, Mega, ...), as restic's `rclone:` backend does it. Cairn starts
//! `rclone serve restic --stdio REMOTE:PATH` and speaks the REST protocol (see rest.rs) to
//! it over HTTP/2 on the child's stdin and stdout; the remote's credentials stay in rclone's own
//! configuration.
//!
//! The child is started on the first request and again after it dies (its last words on
//! stderr go into the error); requests are multiplexed on its one HTTP/2 connection and
//! retried with backoff as for the other HTTP destinations.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use cairn_core::{IoError, IoErrorKind};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http2::SendRequest;

use crate::backend::connection::ConnectionOptions;
use crate::http::{Answer, error};

/// Which rclone remote and how to run rclone.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RcloneConfig {
    /// The remote as rclone names it, without the colon: a configured remote (`gdrive`) or an
    /// on-the-fly backend (`:local`).
    pub remote: String,
    /// The folder on the remote (`backups/laptop`; empty: the remote's root).
    pub path: String,
    /// The rclone program [default: `$CAIRN_RCLONE`, else `rclone` on PATH].
    pub program: PathBuf,
    /// rclone's configuration file [default: rclone's own choice: `$RCLONE_CONFIG`, else
    /// `~/.config/rclone/rclone.conf`].
    pub config_file: Option<PathBuf>,
    /// TLS, retries, stall timeout, connections at once.
    pub connection: ConnectionOptions,
}

impl RcloneConfig {
    /// A configuration for `remote` and `path` with the defaults.
    pub fn new(remote: &str, path: &str) -> Self {
        Self {
            remote: remote.to_string(),
            path: path.to_string(),
            program: default_program(),
            config_file: None,
            connection: ConnectionOptions::with_stall_timeout(Duration::from_secs(120)),
        }
    }

    /// `REMOTE:PATH`, as rclone takes it.
    pub fn target(&self) -> String {
        format!("{}:{}", self.remote, self.path)
    }
}

/// `$CAIRN_RCLONE`, else `rclone` (looked up on PATH).
pub fn default_program() -> PathBuf {
    std::env::var_os("CAIRN_RCLONE").filter(|p| !p.is_empty()).map_or_else(|| PathBuf::from("rclone"), PathBuf::from)
}

/// Whether `name` can be an rclone remote name as Cairn takes it: a configured remote (letters,
/// digits and `_ - . + @` and inner spaces, not starting with `-`), or `:TYPE` for an
/// on-the-fly backend. Connection strings with options (`remote,opt=value`) are refused: their
/// options can hold credentials, which belong in rclone's configuration, not in a URL.
pub fn valid_remote_name(name: &str) -> bool {
    let bare = name.strip_prefix(':').unwrap_or(name);
    !bare.is_empty()
        && bare.len() <= 200
        && !bare.starts_with(['-', ' '])
        && !bare.ends_with(' ')
        && bare.chars().all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '+' | '@' | ' '))
}

/// A running `rclone serve restic --stdio`.
struct Child {
    sender: SendRequest<Full<Bytes>>,
    /// Which start this is: a request that failed on an earlier child lets go of that one
    /// only, never of the one another request has started since.
    generation: u64,
    _process: tokio::process::Child,
}

/// The last few KiB rclone wrote to stderr.
type Tail = Arc<Mutex<Vec<u8>>>;

/// The HTTP/2 connection to a child rclone, started when first needed.
pub(crate) struct RcloneBridge {
    config: RcloneConfig,
    child: Mutex<Option<Child>>,
    /// Held while a child is started, so that requests at once start one, not one each.
    starting: tokio::sync::Mutex<()>,
    /// Children started so far.
    started: std::sync::atomic::AtomicU64,
    stderr: Tail,
}

const TAIL: usize = 4096;

impl RcloneBridge {
    pub(crate) fn new(config: RcloneConfig) -> Self {
        Self {
            config,
            child: Mutex::new(None),
            starting: tokio::sync::Mutex::new(()),
            started: std::sync::atomic::AtomicU64::new(0),
            stderr: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// What rclone last said on stderr (its last line or two), for an error message.
    fn last_words(&self) -> String {
        let tail = self.stderr.lock().map(|t| t.clone()).unwrap_or_default();
        let text = String::from_utf8_lossy(&tail);
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        lines[lines.len().saturating_sub(2)..].join(" / ")
    }

    async fn spawn(&self) -> Result<(SendRequest<Full<Bytes>>, u64), IoError> {
        let mut command = tokio::process::Command::new(&self.config.program);
        // Never ask for a configuration password on the terminal: stdin is the HTTP/2 stream
        // (an encrypted configuration takes RCLONE_CONFIG_PASS).
        command.args(["serve", "restic", "--stdio", "--ask-password=false"]);
        if let Some(file) = &self.config.config_file {
            command.arg("--config").arg(file);
        }
        let mut process = command
            .arg("--")
            .arg(self.config.target())
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
        // Windows large enough that a pack streams without waiting for window updates.
        let (sender, connection) = hyper::client::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
            .initial_stream_window_size(4 << 20)
            .initial_connection_window_size(16 << 20)
            .max_frame_size(1 << 20)
            .handshake(io)
            .await
            .map_err(|e| self.broken(&format!("cannot talk to rclone: {e}")))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let generation = self.started.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        if let Ok(mut c) = self.child.lock() {
            *c = Some(Child { sender: sender.clone(), generation, _process: process });
        }
        Ok((sender, generation))
    }

    fn broken(&self, what: &str) -> IoError {
        let said = self.last_words();
        let said = if said.is_empty() { String::new() } else { format!("; rclone said: {said}") };
        error(IoErrorKind::Unavailable, format!("{what} (rclone serve restic {}){said}", self.config.target()))
    }

    /// The error of a connection that failed under a request (cut, stalled, wedged after this
    /// process was stopped for a while): the child is let go, so that the retry starts a new
    /// one instead of waiting on the same connection.
    fn dead(&self, what: &str, generation: u64) -> IoError {
        let e = self.broken(what);
        if let Ok(mut c) = self.child.lock()
            && c.as_ref().is_some_and(|c| c.generation == generation)
        {
            c.take();
        }
        e
    }

    /// The sender of a live child, starting one if there is none or the last one died.
    async fn sender(&self) -> Result<(SendRequest<Full<Bytes>>, u64), IoError> {
        if let Some(s) = self.live() {
            return Ok(s);
        }
        let _starting = self.starting.lock().await;
        // Another request may have started one while this one waited.
        if let Some(s) = self.live() {
            return Ok(s);
        }
        if let Ok(mut c) = self.child.lock() {
            c.take();
        }
        self.spawn().await
    }

    /// The sender of the running child, if it is still connected.
    fn live(&self) -> Option<(SendRequest<Full<Bytes>>, u64)> {
        let child = self.child.lock().ok()?;
        child.as_ref().filter(|c| !c.sender.is_closed()).map(|c| (c.sender.clone(), c.generation))
    }

    async fn attempt(
        &self,
        method: &reqwest::Method,
        url: &str,
        headers: &[(&str, String)],
        body: &Bytes,
        limit: u64,
    ) -> Result<Answer, IoError> {
        let (mut sender, generation) = self.sender().await?;
        let mut b = hyper::Request::builder().method(method.as_str()).uri(url);
        for (k, v) in headers {
            b = b.header(*k, v.as_str());
        }
        let request = b
            .body(Full::new(body.clone()))
            .map_err(|e| error(IoErrorKind::InvalidData, format!("cannot make the request for {url}: {e}")))?;
        let stall = self.config.connection.stall_timeout;
        let response = tokio::time::timeout(stall, sender.send_request(request))
            .await
            .map_err(|_| self.dead("rclone did not answer in time", generation))?
            .map_err(|e| self.dead(&format!("rclone stopped answering: {e}"), generation))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let limit = if (200..300).contains(&status) { limit } else { crate::http::MAX_SMALL_BODY as u64 };
        let mut body = response.into_body();
        let mut out = Vec::new();
        loop {
            let frame = tokio::time::timeout(stall, body.frame())
                .await
                .map_err(|_| self.dead("rclone stalled while answering", generation))?;
            let Some(frame) = frame else { break };
            let frame = frame.map_err(|e| self.dead(&format!("rclone's answer was cut: {e}"), generation))?;
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
        let attempt = || self.attempt(&method, url, headers, &body, limit);
        crate::http::retried(self.config.connection.retries, attempt, |e| e.kind() == IoErrorKind::Unavailable).await
    }
}

/// The remotes in the user's rclone configuration (`rclone listremotes`), without the colon,
/// sorted. `config_file`: rclone's configuration file, if not rclone's default.
pub fn rclone_remotes(program: &Path, config_file: Option<&Path>) -> Result<Vec<String>, IoError> {
    let mut command = std::process::Command::new(program);
    command.args(["listremotes", "--ask-password=false"]).stdin(std::process::Stdio::null());
    if let Some(file) = config_file {
        command.arg("--config").arg(file);
    }
    let out = command.output().map_err(|e| {
        error(
            IoErrorKind::Unsupported,
            format!(
                "cannot run {} ({e}): install rclone (https://rclone.org/install/), then set up a remote with \
                 `rclone config`",
                program.display()
            ),
        )
    })?;
    if !out.status.success() {
        let said = String::from_utf8_lossy(&out.stderr);
        let said = said.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
        return Err(error(IoErrorKind::Other, format!("rclone listremotes failed: {said}")));
    }
    let mut remotes: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().trim_end_matches(':').to_string())
        .filter(|l| valid_remote_name(l))
        .collect();
    remotes.sort();
    remotes.dedup();
    Ok(remotes)
}
