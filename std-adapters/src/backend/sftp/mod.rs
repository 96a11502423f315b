//! The SFTP destination: a repository in a directory on a server reached over SSH (russh and
//! russh-sftp).
//!
//! - **Host keys are verified**: against `known_hosts` (OpenSSH's format, hashed names too) or a
//!   fingerprint the user accepted (`SHA256:...`). An unknown key fails with its fingerprint and
//!   how to accept it; a changed key fails loudly and is never accepted by itself.
//! - **Authentication** by private key (OpenSSH key files: ed25519, ECDSA, RSA; passphrase
//!   protected too) or password; a refusal names the methods the server offers.
//! - **Writes are atomic**: a temporary name in the same directory, then a rename. Replacing uses
//!   the `posix-rename@openssh.com` extension (plain SFTP rename refuses an existing target);
//!   a create-only write uses the plain rename, which fails if the name exists.
//! - **Throughput**: reads and writes are split into pieces sent many at a time on the channel,
//!   so uploads are not bound by round trips.
//! - **Dropped connections** are re-established and the operation retried (up to the retry
//!   count); a server that disappears mid-backup leaves a repository the next backup completes.

pub(crate) mod url;

use std::cell::RefCell;
use std::fmt;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use cairn_core::{IoError, IoErrorKind, ReadRange, StorageProperties, WriteMode};
use futures_util::stream::{self, StreamExt, TryStreamExt};
use rand_core::Rng;
use russh::keys::{HashAlg, PrivateKeyWithHashAlg};
use russh_sftp::client::RawSftpSession;
use russh_sftp::client::error::Error as SftpError;
use russh_sftp::protocol::{FileAttributes, OpenFlags, StatusCode};

use crate::backend::connection::ConnectionOptions;
use crate::backend::path_store::{Body, FolderEntry, PathStore};
use crate::http::error;
use crate::secret::Secret;

/// How to log in.
/// The error of a connection to a server whose host key is neither in `known_hosts` nor
/// accepted: the fingerprint to show the user, who may accept it (`host-key=` in the URL,
/// `--accept-host-key` on the command line, a dialog in the desktop app).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UnknownHostKey {
    /// The server's host name.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// Its host key's fingerprint, `SHA256:...`.
    pub fingerprint: String,
}

impl std::fmt::Display for UnknownHostKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let UnknownHostKey { host, port, fingerprint: fp } = self;
        write!(
            f,
            "the host key of {host}:{port} is not known (fingerprint {fp}): if that is the server's key, \
             accept it with --accept-host-key {fp}"
        )
    }
}

impl std::error::Error for UnknownHostKey {}

#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SftpAuth {
    /// An OpenSSH private key file, with its passphrase if it has one.
    Key {
        /// The key file.
        path: PathBuf,
        /// Its passphrase.
        passphrase: Option<Secret>,
    },
    /// A password.
    Password(Secret),
}

/// Where and how to reach an SFTP server.
#[derive(Clone)]
#[non_exhaustive]
pub struct SftpConfig {
    /// Host name or address.
    pub host: String,
    /// Port (22).
    pub port: u16,
    /// User name.
    pub user: String,
    /// Authentication.
    pub auth: SftpAuth,
    /// The repository's directory on the server (absolute).
    pub directory: String,
    /// The `known_hosts` file to check the host key against (`~/.ssh/known_hosts`).
    pub known_hosts: Option<PathBuf>,
    /// A host key fingerprint (`SHA256:...`) accepted by the user or pinned in the catalog.
    pub accepted_host_key: Option<String>,
    /// TLS, retries, stall timeout, connections at once.
    pub connection: ConnectionOptions,
    /// Pieces of a read or write in flight at once.
    pub pipeline: usize,
}

impl fmt::Debug for SftpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SftpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("directory", &self.directory)
            .finish_non_exhaustive()
    }
}

impl SftpConfig {
    /// A configuration with the defaults: port 22, `~/.ssh/known_hosts`, 3 retries, 16 pieces
    /// in flight, 4 operations at once.
    pub fn new(host: &str, user: &str, auth: SftpAuth, directory: &str) -> Self {
        Self {
            host: host.to_string(),
            port: 22,
            user: user.to_string(),
            auth,
            directory: directory.trim_end_matches('/').to_string(),
            known_hosts: None,
            accepted_host_key: None,
            connection: ConnectionOptions::default(),
            pipeline: 16,
        }
    }
}

/// What the host key check found.
#[derive(Debug, Clone)]
enum HostKey {
    Trusted,
    Unknown(String),
    Changed(String, usize),
    Unreadable(String),
}

struct Verifier {
    host: String,
    port: u16,
    known_hosts: Option<PathBuf>,
    accepted: Option<String>,
    found: Arc<Mutex<Option<HostKey>>>,
}

impl russh::client::Handler for Verifier {
    type Error = russh::Error;

    async fn check_server_key(&mut self, key: &russh::keys::PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        let russh::keys::PublicKeyOrCertificate::PublicKey { key, .. } = key else {
            *self.found.lock().unwrap_or_else(|p| p.into_inner()) = Some(HostKey::Unreadable(
                "the server presented a certificate; only plain host keys are supported".into(),
            ));
            return Ok(false);
        };
        let fingerprint = key.fingerprint(HashAlg::Sha256).to_string();
        let verdict = if self.accepted.as_deref() == Some(fingerprint.as_str()) {
            HostKey::Trusted
        } else {
            let path = match &self.known_hosts {
                Some(p) => Some(p.clone()),
                None => std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".ssh/known_hosts")),
            };
            match path.filter(|p| p.exists()) {
                None => HostKey::Unknown(fingerprint),
                Some(path) => match russh::keys::check_known_hosts_path(&self.host, self.port, key, &path) {
                    Ok(true) => HostKey::Trusted,
                    Ok(false) => HostKey::Unknown(fingerprint),
                    Err(russh::keys::Error::KeyChanged { line }) => HostKey::Changed(fingerprint, line),
                    Err(e) => HostKey::Unreadable(format!("cannot read {}: {e}", path.display())),
                },
            }
        };
        let ok = matches!(verdict, HostKey::Trusted);
        *self.found.lock().unwrap_or_else(|p| p.into_inner()) = Some(verdict);
        Ok(ok)
    }
}

/// One live connection.
struct Conn {
    ssh: russh::client::Handle<Verifier>,
    sftp: Arc<RawSftpSession>,
    posix_rename: bool,
    max_read: u32,
    max_write: u32,
}

impl Conn {
    /// Whether the SSH session still runs (a reset connection ends it at once).
    fn alive(&self) -> bool {
        !self.ssh.is_closed()
    }

    /// Closes `handle` after `outcome`, unless the connection was lost: a request on a dead
    /// session would wait for the request timeout (a minute) before failing, and the server
    /// closes the handle with the session anyway.
    async fn close_after<T>(&self, handle: &str, outcome: &Result<T, Failure>) {
        if self.alive() && !matches!(outcome, Err(Failure::Connection(_))) {
            let _ = self.sftp.close(handle).await;
        }
    }
}

/// A repository on an SFTP server.
pub struct SftpBackend {
    config: SftpConfig,
    conn: RefCell<Option<Rc<Conn>>>,
}

impl fmt::Debug for SftpBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SftpBackend").field("config", &self.config).finish_non_exhaustive()
    }
}

/// A directory entry.
struct Entry {
    name: String,
    size: u64,
    is_dir: bool,
    /// Last modified, in seconds since 1970, if the server says.
    mtime: Option<u32>,
}

/// Why an operation failed: the connection (reconnect and retry) or the server's answer.
enum Failure {
    Connection(String),
    Final(IoError),
}

fn classify(what: &str, e: SftpError) -> Failure {
    match e {
        SftpError::Status(s) => {
            let kind = match s.status_code {
                StatusCode::NoSuchFile => IoErrorKind::NotFound,
                StatusCode::PermissionDenied => IoErrorKind::PermissionDenied,
                StatusCode::Eof => IoErrorKind::InvalidData,
                StatusCode::Failure => IoErrorKind::Other,
                _ => IoErrorKind::Other,
            };
            let detail = if s.error_message.is_empty() { s.status_code.to_string() } else { s.error_message };
            Failure::Final(error(kind, format!("{what}: {detail}")))
        }
        other => Failure::Connection(format!("{what}: {other}")),
    }
}

impl SftpBackend {
    /// A backend for `config` (it connects on first use).
    pub fn new(config: SftpConfig) -> Result<Self, IoError> {
        if !config.directory.starts_with('/') {
            return Err(error(
                IoErrorKind::InvalidData,
                format!("the SFTP directory {:?} must be absolute", config.directory),
            ));
        }
        Ok(Self { config, conn: RefCell::new(None) })
    }

    fn target(&self) -> String {
        format!("{}@{}:{}", self.config.user, self.config.host, self.config.port)
    }

    async fn connect(&self) -> Result<Rc<Conn>, IoError> {
        let c = &self.config;
        let found = Arc::new(Mutex::new(None));
        let verifier = Verifier {
            host: c.host.clone(),
            port: c.port,
            known_hosts: c.known_hosts.clone(),
            accepted: c.accepted_host_key.clone(),
            found: found.clone(),
        };
        let ssh_config = russh::client::Config {
            inactivity_timeout: Some(Duration::from_secs(120)),
            keepalive_interval: Some(Duration::from_secs(30)),
            ..Default::default()
        };
        let connecting = russh::client::connect(Arc::new(ssh_config), (c.host.as_str(), c.port), verifier);
        let mut ssh = match tokio::time::timeout(Duration::from_secs(20), connecting).await {
            Err(_) => {
                return Err(error(IoErrorKind::Unavailable, format!("connecting to {} timed out", self.target())));
            }
            Ok(Ok(h)) => h,
            Ok(Err(e)) => {
                let verdict = found.lock().unwrap_or_else(|p| p.into_inner()).clone();
                return Err(match verdict {
                    Some(HostKey::Unknown(fp)) => IoError::new(
                        IoErrorKind::PermissionDenied,
                        UnknownHostKey { host: c.host.clone(), port: c.port, fingerprint: fp },
                    ),
                    Some(HostKey::Changed(fp, line)) => error(
                        IoErrorKind::PermissionDenied,
                        format!(
                            "THE HOST KEY OF {}:{} HAS CHANGED (now {fp}; line {line} of known_hosts has another): \
                             someone may be intercepting the connection, or the server was reinstalled. Nothing \
                             was sent. Check with the server's administrator before updating known_hosts",
                            c.host, c.port
                        ),
                    ),
                    Some(HostKey::Unreadable(why)) => error(IoErrorKind::PermissionDenied, why),
                    _ => error(IoErrorKind::Unavailable, format!("cannot connect to {}: {e}", self.target())),
                });
            }
        };
        let auth = match &c.auth {
            SftpAuth::Key { path, passphrase } => {
                let pass = passphrase.as_ref().map(|p| String::from_utf8_lossy(p.expose()).into_owned());
                let key = russh::keys::load_secret_key(path, pass.as_deref()).map_err(|e| {
                    let hint = if pass.is_none() { " (if it has a passphrase, give it)" } else { "" };
                    error(IoErrorKind::PermissionDenied, format!("cannot load the key {}: {e}{hint}", path.display()))
                })?;
                let hash = ssh.best_supported_rsa_hash().await.ok().flatten().flatten();
                ssh.authenticate_publickey(&c.user, PrivateKeyWithHashAlg::new(Arc::new(key), hash)).await
            }
            SftpAuth::Password(p) => {
                ssh.authenticate_password(&c.user, String::from_utf8_lossy(p.expose()).into_owned()).await
            }
        }
        .map_err(|e| error(IoErrorKind::Unavailable, format!("authenticating to {} failed: {e}", self.target())))?;
        if let russh::client::AuthResult::Failure { remaining_methods, .. } = auth {
            let offered: Vec<&str> = remaining_methods.iter().map(<&str>::from).collect();
            let how = match c.auth {
                SftpAuth::Key { .. } => "the key",
                SftpAuth::Password(_) => "the password",
            };
            return Err(error(
                IoErrorKind::PermissionDenied,
                format!(
                    "{} refused {how} for user {} (the server offers: {})",
                    self.target(),
                    c.user,
                    if offered.is_empty() { "nothing".to_string() } else { offered.join(", ") }
                ),
            ));
        }
        let channel = ssh
            .channel_open_session()
            .await
            .map_err(|e| error(IoErrorKind::Unavailable, format!("cannot open a channel to {}: {e}", self.target())))?;
        channel
            .request_subsystem(true, "sftp")
            .await
            .map_err(|e| error(IoErrorKind::Unavailable, format!("{} offers no SFTP: {e}", self.target())))?;
        let sftp_config = russh_sftp::client::Config { request_timeout_secs: 60, ..Default::default() };
        let sftp = RawSftpSession::new_with_config(channel.into_stream(), sftp_config);
        let version = sftp.init().await.map_err(|e| {
            error(IoErrorKind::Unavailable, format!("SFTP with {} failed to start: {e}", self.target()))
        })?;
        let (mut max_read, mut max_write) = (32 * 1024, 32 * 1024);
        if version.extensions.contains_key("limits@openssh.com")
            && let Ok(l) = sftp.limits().await
        {
            max_read = l.max_read_len.clamp(4096, 256 * 1024) as u32;
            max_write = l.max_write_len.clamp(4096, 256 * 1024) as u32;
        }
        let posix_rename = version.extensions.contains_key("posix-rename@openssh.com");
        Ok(Rc::new(Conn { ssh, sftp: Arc::new(sftp), posix_rename, max_read, max_write }))
    }

    async fn conn(&self) -> Result<Rc<Conn>, IoError> {
        if let Some(c) = self.conn.borrow().as_ref().filter(|c| c.alive()) {
            return Ok(c.clone());
        }
        let c = self.connect().await?;
        *self.conn.borrow_mut() = Some(c.clone());
        Ok(c)
    }

    /// Runs `op` on a connection; when the connection fails, reconnects and runs it again.
    async fn with_conn<T, F, Fut>(&self, op: F) -> Result<T, IoError>
    where
        F: Fn(Rc<Conn>) -> Fut,
        Fut: std::future::Future<Output = Result<T, Failure>>,
    {
        let mut attempt = 0;
        loop {
            let conn = self.conn().await;
            let result = match conn {
                Ok(c) => op(c).await,
                Err(e) if e.kind() == IoErrorKind::Unavailable => Err(Failure::Connection(e.to_string())),
                Err(e) => return Err(e),
            };
            match result {
                Ok(v) => return Ok(v),
                Err(Failure::Final(e)) => return Err(e),
                Err(Failure::Connection(why)) => {
                    *self.conn.borrow_mut() = None;
                    if attempt >= self.config.connection.retries {
                        return Err(error(
                            IoErrorKind::Unavailable,
                            format!(
                                "{why} (connection to {} lost, after {} retries)",
                                self.target(),
                                self.config.connection.retries
                            ),
                        ));
                    }
                    tokio::time::sleep(crate::backend::connection::backoff(attempt)).await;
                    attempt += 1;
                }
            }
        }
    }

    /// The server path of `rel` (relative to the repository).
    fn abs(&self, rel: &str) -> String {
        if rel.is_empty() { self.config.directory.clone() } else { format!("{}/{rel}", self.config.directory) }
    }

    /// Creates `dir` and its missing parents.
    async fn mkdirs(conn: &Conn, dir: &str) -> Result<(), Failure> {
        let mut path = String::new();
        for part in dir.split('/').filter(|p| !p.is_empty()) {
            path.push('/');
            path.push_str(part);
            if conn.sftp.stat(path.as_str()).await.is_ok() {
                continue;
            }
            match conn.sftp.mkdir(path.as_str(), FileAttributes::default()).await {
                Ok(_) => {}
                // Made meanwhile by someone else: fine.
                Err(_) if conn.sftp.stat(path.as_str()).await.is_ok() => {}
                Err(e) => return Err(classify(&format!("creating {path}"), e)),
            }
        }
        Ok(())
    }

    async fn read_span(
        &self,
        conn: &Conn,
        handle: &str,
        offset: u64,
        len: u64,
        what: &str,
    ) -> Result<Vec<u8>, Failure> {
        let piece = u64::from(conn.max_read);
        let pieces: Vec<(u64, u32)> =
            (0..len.div_ceil(piece)).map(|i| (offset + i * piece, (len - i * piece).min(piece) as u32)).collect();
        let sftp = conn.sftp.clone();
        let chunks: Vec<Vec<u8>> = stream::iter(pieces)
            .map(|(at, n)| {
                let sftp = sftp.clone();
                async move {
                    // A server may return fewer bytes than asked: read on until the piece is whole.
                    let mut got = Vec::with_capacity(n as usize);
                    while got.len() < n as usize {
                        let want = n - got.len() as u32;
                        match sftp.read(handle, at + got.len() as u64, want).await {
                            Ok(d) if d.data.is_empty() => break,
                            Ok(d) => got.extend_from_slice(&d.data[..d.data.len().min(want as usize)]),
                            Err(SftpError::Status(s)) if s.status_code == StatusCode::Eof => break,
                            Err(e) => return Err(classify(what, e)),
                        }
                    }
                    Ok(got)
                }
            })
            .buffered(self.config.pipeline.max(1))
            .try_collect()
            .await?;
        let out = chunks.concat();
        if out.len() as u64 != len {
            return Err(Failure::Final(error(
                IoErrorKind::InvalidData,
                format!("{what}: shorter than the range asked for"),
            )));
        }
        Ok(out)
    }

    async fn write_all(&self, conn: &Conn, handle: &str, base: u64, data: &Bytes, what: &str) -> Result<(), Failure> {
        let piece = conn.max_write as usize;
        let sftp = conn.sftp.clone();
        stream::iter((0..data.len()).step_by(piece.max(1)))
            .map(|at| {
                let sftp = sftp.clone();
                let chunk = data.slice(at..(at + piece).min(data.len())).to_vec();
                async move {
                    sftp.write(handle, base + at as u64, chunk).await.map(|_| ()).map_err(|e| classify(what, e))
                }
            })
            .buffer_unordered(self.config.pipeline.max(1))
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    /// Writes `path` through a temporary file from the pieces `next(offset)` yields (`None` at
    /// the end), then renames it into place.
    async fn write_once_with<F>(&self, conn: Rc<Conn>, path: &str, mode: WriteMode, mut next: F) -> Result<(), Failure>
    where
        F: FnMut(u64) -> Result<Option<Bytes>, IoError>,
    {
        let path = path.to_string();
        let dir = path.rsplit_once('/').map_or("/", |(d, _)| d).to_string();
        let tmp = format!("{dir}/.cairn-tmp-{:016x}", crate::rng::os_rng().next_u64());
        let flags = OpenFlags::CREATE | OpenFlags::TRUNCATE | OpenFlags::WRITE | OpenFlags::EXCLUDE;
        let attrs = FileAttributes { permissions: Some(0o600), ..Default::default() };
        let opened = match conn.sftp.open(tmp.as_str(), flags, attrs.clone()).await {
            Ok(h) => h,
            Err(SftpError::Status(s)) if s.status_code == StatusCode::NoSuchFile => {
                Self::mkdirs(&conn, &dir).await?;
                conn.sftp.open(tmp.as_str(), flags, attrs).await.map_err(|e| classify(&format!("writing {path}"), e))?
            }
            Err(e) => return Err(classify(&format!("writing {path}"), e)),
        };
        let what = format!("writing {path}");
        let written = async {
            let mut at = 0u64;
            while let Some(piece) = next(at).map_err(Failure::Final)? {
                if piece.is_empty() {
                    break;
                }
                self.write_all(&conn, &opened.handle, at, &piece, &what).await?;
                at += piece.len() as u64;
            }
            Ok::<(), Failure>(())
        }
        .await;
        let result = match written {
            Err(e) => {
                let failed = Err(e);
                conn.close_after(&opened.handle, &failed).await;
                failed
            }
            Ok(()) => match conn.sftp.close(opened.handle.as_str()).await {
                Err(e) => Err(classify(&format!("writing {path}"), e)),
                Ok(_) => self.rename_into_place(&conn, &tmp, &path, mode).await,
            },
        };
        // Over a lost connection the temporary file stays: prune removes it once it is old
        // (see `remove_stale_temporaries`).
        if matches!(result, Err(Failure::Final(_))) && conn.alive() {
            let _ = conn.sftp.remove(tmp.as_str()).await;
        }
        result
    }

    async fn rename_into_place(&self, conn: &Conn, tmp: &str, path: &str, mode: WriteMode) -> Result<(), Failure> {
        if mode == WriteMode::CreateNew {
            // Plain SFTP rename refuses an existing target: a create-only write.
            return match conn.sftp.rename(tmp, path).await {
                Ok(_) => Ok(()),
                Err(e) => {
                    if conn.sftp.stat(path).await.is_ok() {
                        Err(Failure::Final(error(IoErrorKind::AlreadyExists, format!("{path} already exists"))))
                    } else {
                        Err(classify(&format!("writing {path}"), e))
                    }
                }
            };
        }
        if conn.posix_rename {
            let mut body = Vec::with_capacity(8 + tmp.len() + path.len());
            for s in [tmp, path] {
                body.extend_from_slice(&(s.len() as u32).to_be_bytes());
                body.extend_from_slice(s.as_bytes());
            }
            return match conn.sftp.extended("posix-rename@openssh.com", body).await {
                Ok(russh_sftp::protocol::Packet::Status(s)) if s.status_code != StatusCode::Ok => {
                    Err(classify(&format!("writing {path}"), SftpError::Status(s)))
                }
                Ok(_) => Ok(()),
                Err(e) => Err(classify(&format!("writing {path}"), e)),
            };
        }
        // Without the extension: remove, then rename (not atomic; content-addressed names make a
        // lost race harmless).
        let _ = conn.sftp.remove(path).await;
        conn.sftp.rename(tmp, path).await.map(|_| ()).map_err(|e| classify(&format!("writing {path}"), e))
    }

    async fn list_dir(conn: &Conn, dir: &str) -> Result<Vec<Entry>, Failure> {
        let handle = match conn.sftp.opendir(dir).await {
            Ok(h) => h.handle,
            Err(SftpError::Status(s)) if s.status_code == StatusCode::NoSuchFile => return Ok(Vec::new()),
            Err(e) => return Err(classify(&format!("listing {dir}"), e)),
        };
        let mut out = Vec::new();
        loop {
            match conn.sftp.readdir(handle.as_str()).await {
                Ok(name) => {
                    for f in name.files {
                        let is_dir = f.attrs.permissions.is_some_and(|p| p & 0o170000 == 0o040000);
                        let (size, mtime) = (f.attrs.size.unwrap_or(0), f.attrs.mtime);
                        out.push(Entry { name: f.filename, size, is_dir, mtime });
                    }
                }
                Err(SftpError::Status(s)) if s.status_code == StatusCode::Eof => break,
                Err(e) => {
                    let failed = Err(classify(&format!("listing {dir}"), e));
                    conn.close_after(&handle, &failed).await;
                    return failed;
                }
            }
        }
        let _ = conn.sftp.close(handle.as_str()).await;
        Ok(out)
    }
}

crate::backend::path_store::storage_over_paths!(SftpBackend);

impl SftpBackend {
    async fn read_abs(&self, path: &str, range: ReadRange) -> Result<Bytes, IoError> {
        let path = path.to_string();
        self.with_conn(|conn| {
            let path = path.clone();
            async move {
                let what = format!("reading {path}");
                let opened = conn
                    .sftp
                    .open(path.as_str(), OpenFlags::READ, FileAttributes::default())
                    .await
                    .map_err(|e| classify(&what, e))?;
                let h = opened.handle;
                let result = async {
                    let size = || async {
                        let attrs = conn.sftp.fstat(h.as_str()).await.map_err(|e| classify(&what, e))?.attrs;
                        Ok::<u64, Failure>(attrs.size.unwrap_or(0))
                    };
                    let (offset, len) = match range {
                        ReadRange::Span { offset, len } => (offset, u64::from(len)),
                        ReadRange::All { max_len } => {
                            let size = size().await?;
                            if size > max_len {
                                return Err(Failure::Final(error(
                                    IoErrorKind::InvalidData,
                                    format!("{what}: larger than expected"),
                                )));
                            }
                            (0, size)
                        }
                        ReadRange::Tail { len } => {
                            let size = size().await?;
                            let take = size.min(u64::from(len));
                            (size - take, take)
                        }
                    };
                    if len == 0 {
                        return Ok(Vec::new());
                    }
                    self.read_span(&conn, &h, offset, len, &what).await
                }
                .await;
                conn.close_after(&h, &result).await;
                result.map(Bytes::from)
            }
        })
        .await
    }

    async fn remove_abs(&self, path: &str) -> Result<(), IoError> {
        let path = path.to_string();
        self.with_conn(|conn| {
            let path = path.clone();
            async move {
                match conn.sftp.remove(path.as_str()).await {
                    Ok(_) => Ok(()),
                    Err(SftpError::Status(s)) if s.status_code == StatusCode::NoSuchFile => Ok(()),
                    Err(e) => Err(classify(&format!("deleting {path}"), e)),
                }
            }
        })
        .await
    }
}

impl PathStore for SftpBackend {
    const TEMPORARY_PREFIX: Option<&'static str> = Some(".cairn-tmp-");

    fn properties(&self) -> StorageProperties {
        StorageProperties::new(self.config.connection.connections)
    }

    async fn read_path(&self, path: &str, range: ReadRange) -> Result<Bytes, IoError> {
        self.read_abs(&self.abs(path), range).await
    }

    async fn write_path(&self, path: &str, body: Body<'_>, mode: WriteMode) -> Result<(), IoError> {
        let path = self.abs(path);
        let size = body.len();
        // Bytes in memory go in one piece, a file a few MiB at a time.
        let piece = match body {
            Body::Bytes(_) => size.max(1),
            Body::File { .. } => 4 << 20,
        };
        let result = self
            .with_conn(|conn| {
                self.write_once_with(conn, &path, mode, move |at| {
                    if at >= size {
                        return Ok(None);
                    }
                    body.piece(at, piece.min(size - at) as usize).map(Some)
                })
            })
            .await;
        match (result, body) {
            // A create whose answer was lost, then retried, finds its own object.
            (Err(e), Body::Bytes(data)) if e.kind() == IoErrorKind::AlreadyExists => {
                match self.read_abs(&path, ReadRange::All { max_len: size }).await {
                    Ok(found) if found == data => Ok(()),
                    _ => Err(e),
                }
            }
            (other, _) => other,
        }
    }

    async fn remove_path(&self, path: &str) -> Result<(), IoError> {
        self.remove_abs(&self.abs(path)).await
    }

    async fn list_folder(&self, dir: &str) -> Result<Vec<FolderEntry>, IoError> {
        let dir = self.abs(dir);
        self.with_conn(|conn| {
            let dir = dir.clone();
            async move {
                Ok(Self::list_dir(&conn, &dir)
                    .await?
                    .into_iter()
                    .map(|e| FolderEntry {
                        name: e.name,
                        is_dir: e.is_dir,
                        size: e.size,
                        modified: e.mtime.map(i64::from),
                    })
                    .collect())
            }
        })
        .await
    }

    /// Free bytes for this user on the server's filesystem (`statvfs@openssh.com`), if the
    /// server tells.
    async fn free_space(&self) -> Result<Option<u64>, IoError> {
        let dir = self.config.directory.clone();
        self.with_conn(|conn| {
            let dir = dir.clone();
            async move {
                match conn.sftp.statvfs(dir.as_str()).await {
                    Ok(v) => Ok(Some(v.blocks_avail.saturating_mul(v.fragment_size))),
                    Err(SftpError::Status(s)) if s.status_code == StatusCode::OpUnsupported => Ok(None),
                    Err(e) => Err(classify(&format!("asking the free space of {dir}"), e)),
                }
            }
        })
        .await
    }
}
