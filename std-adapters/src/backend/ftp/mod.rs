//! The FTP destination (RFC 959, with RFC 4217 TLS, RFC 2428 EPSV and RFC 3659 MLSD, SIZE and
//! REST): a repository in a directory of an FTP server, in passive mode, over TLS where the
//! server offers it (`ftp://`) or always (`ftps://`, explicit `AUTH TLS`).
//!
//! - **Connections**: a pool of up to `connections` logged-in control connections, each used by
//!   one operation at a time. A connection that fails in the middle of an operation is closed,
//!   never reused out of step; the operation is retried on a new one, with backoff.
//! - **Data connections** are passive (`EPSV`, else `PASV`) and always go to the address of the
//!   control connection, whatever address the server names: a hostile server cannot point the
//!   client elsewhere (and NAT'd servers that name their private address work). With TLS, data
//!   connections are protected too (`PROT P`), resuming the control connection's TLS session.
//! - **Writes** go to a temporary file (`cairn-tmp-*`) in the object's directory, then `RNFR`/
//!   `RNTO` into place, so that no reader sees half an object. FTP has no create-only rename: a
//!   [`WriteMode::CreateNew`] write goes through claims ([`crate::backend::claim`]). Missing directories
//!   are made with `MKD`, once each.
//! - **Reads**: `REST` to the first byte, `RETR`, and the transfer stopped (`ABOR`) once the span
//!   is in; the last bytes of a file are found with `SIZE` first.
//! - **Listing**: `MLSD` (exact sizes and times), else `LIST` in the Unix format.
//!
//! Why not a client crate: the one mature async client reads replies and listings of any length
//! into memory, and a destination's bytes are untrusted here (every reply line, listing line and
//! listing is bounded below, so a hostile server cannot make Cairn allocate without bound).

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use cairn_core::{Handle, IoError, IoErrorKind, ReadRange, StorageProperties, WriteMode};
use rand_core::Rng;
use tokio::io::BufReader;
use tokio::net::TcpStream;

mod listing;
mod protocol;
mod tls;
pub(crate) mod url;

use crate::backend::connection::ConnectionOptions;
use crate::backend::path_store::{Body, FolderEntry, PathStore};
use crate::http::error;
use crate::secret::Secret;
use listing::ftp_time;
use protocol::*;

/// When to use TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FtpTls {
    /// Always (`ftps://`): a server that does not offer `AUTH TLS` is refused.
    Required,
    /// When the server offers it (`ftp://`, the default); otherwise in clear.
    IfOffered,
    /// Never (`ftp://...?tls=off`): the password and the data travel in clear.
    Off,
}

/// Where and how to reach an FTP directory.
#[derive(Clone)]
#[non_exhaustive]
pub struct FtpConfig {
    /// Host name or address.
    pub host: String,
    /// Port [default: 21].
    pub port: u16,
    /// User name [default: `anonymous`].
    pub user: String,
    /// Password (none: anonymous login).
    pub password: Option<Secret>,
    /// The backup directory: relative to the login directory, or absolute if it starts with
    /// `/`; empty is the login directory itself.
    pub directory: String,
    /// When to use TLS.
    pub tls: FtpTls,
    /// TLS, retries, stall timeout, connections at once.
    pub connection: ConnectionOptions,
}

impl fmt::Debug for FtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "**redacted**"))
            .field("directory", &self.directory)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

impl FtpConfig {
    /// A configuration with the defaults: port 21, anonymous, TLS if offered and verified, 3
    /// retries, 60 s stall timeout, 4 connections.
    pub fn new(host: &str, directory: &str) -> Self {
        Self {
            host: host.to_string(),
            port: 21,
            user: "anonymous".to_string(),
            password: None,
            directory: directory.trim_end_matches('/').to_string(),
            tls: FtpTls::IfOffered,
            connection: ConnectionOptions::default(),
        }
    }
}

/// A repository in a directory of an FTP server.
pub struct FtpBackend {
    config: FtpConfig,
    shared: Shared,
    /// Idle logged-in connections.
    idle: RefCell<Vec<Conn>>,
    /// One permit per connection in use.
    permits: tokio::sync::Semaphore,
    /// Directories known to exist (relative to the backup directory).
    made: RefCell<HashSet<String>>,
    /// Whether the server used TLS (known once a connection is made).
    secured: Cell<Option<bool>>,
}

impl fmt::Debug for FtpBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FtpBackend").field("config", &self.config).finish_non_exhaustive()
    }
}

impl FtpBackend {
    /// A backend for `config` (no connection is made yet).
    pub fn new(config: FtpConfig) -> Result<Self, IoError> {
        if config.host.is_empty() {
            return Err(error(IoErrorKind::InvalidData, "the FTP destination needs a host"));
        }
        let server_name = rustls::pki_types::ServerName::try_from(config.host.clone())
            .map_err(|_| error(IoErrorKind::InvalidData, format!("{:?} is not a valid host name", config.host)))?;
        let authority = format!("{}:{}", config.host, config.port);
        Ok(Self {
            shared: Shared {
                tls: std::cell::OnceCell::new(),
                verify_tls: config.connection.verify_tls,
                server_name,
                authority,
                no_epsv: Cell::new(false),
                no_mlsd: Cell::new(false),
            },
            permits: tokio::sync::Semaphore::new(config.connection.connections.max(1)),
            idle: RefCell::new(Vec::new()),
            made: RefCell::new(HashSet::new()),
            secured: Cell::new(None),
            config,
        })
    }

    /// Whether the connection is protected by TLS (`None` before the first connection).
    pub fn secured(&self) -> Option<bool> {
        self.secured.get()
    }

    /// A new logged-in connection.
    async fn connect(&self) -> Attempt<Conn> {
        let c = &self.config;
        let stall = c.connection.stall_timeout;
        let tcp = timed(stall.min(Duration::from_secs(15)), "connecting", async {
            TcpStream::connect((c.host.as_str(), c.port)).await.map_err(|e| io_fail("connecting", e))
        })
        .await?;
        let _ = tcp.set_nodelay(true);
        let peer = tcp.peer_addr().map_err(|e| io_fail("connecting", e))?.ip();
        let mut conn = Conn { ctrl: BufReader::new(Box::new(tcp) as Stream), peer, tls: false, stall, spoiled: false };
        match conn.reply().await? {
            (220, _) => {}
            (code, text) => return Err(Fail::Reply(code, text)),
        }
        if c.tls != FtpTls::Off {
            match conn.command("AUTH TLS", &[234]).await {
                Ok(_) => {
                    // Only the TCP stream is under the reader: nothing is buffered past 234.
                    let tcp = conn.ctrl.into_inner();
                    let tls = timed(stall, "securing the connection", async {
                        self.shared
                            .connector()?
                            .connect(self.shared.server_name.clone(), tcp)
                            .await
                            .map_err(|e| tls_fail(&self.shared.authority, "securing the connection", e))
                    })
                    .await?;
                    conn =
                        Conn { ctrl: BufReader::new(Box::new(tls) as Stream), peer, tls: true, stall, spoiled: false };
                    conn.command("PBSZ 0", &[200]).await?;
                    conn.command("PROT P", &[200]).await?;
                }
                Err(Fail::Reply(code, text)) if code >= 500 => {
                    if c.tls == FtpTls::Required {
                        return Err(Fail::Final(
                            IoErrorKind::PermissionDenied,
                            format!(
                                "{} offers no TLS (AUTH TLS: {code} {}): use ftp:// to connect in clear, or turn \
                                 on TLS (FTPS) on the server",
                                self.shared.authority,
                                clip(&text)
                            ),
                        ));
                    }
                }
                Err(e) => return Err(e),
            }
        }
        self.secured.set(Some(conn.tls));
        match conn.command(&format!("USER {}", c.user), &[230, 331]).await {
            Ok((230, _)) => {}
            Ok(_) => {
                let password = match &c.password {
                    Some(p) => String::from_utf8_lossy(p.expose()).into_owned(),
                    None => "anonymous@".to_string(),
                };
                conn.send(&format!("PASS {password}")).await?;
                match conn.reply().await? {
                    (230 | 202, _) => {}
                    (530, text) => {
                        return Err(Fail::Final(
                            IoErrorKind::PermissionDenied,
                            format!(
                                "{} refused the login of {} ({}): check the user name and password",
                                self.shared.authority,
                                c.user,
                                clip(&text)
                            ),
                        ));
                    }
                    (code, text) => return Err(Fail::Reply(code, text)),
                }
            }
            Err(Fail::Reply(530, text)) => {
                return Err(Fail::Final(
                    IoErrorKind::PermissionDenied,
                    format!("{} refused the user {} ({})", self.shared.authority, c.user, clip(&text)),
                ));
            }
            Err(e) => return Err(e),
        }
        conn.command("TYPE I", &[200]).await?;
        Ok(conn)
    }

    /// Runs `op` on a pooled connection, retrying on a new one after a broken connection or a
    /// 4xx reply, with backoff; `what` names it in errors.
    async fn with_conn<T, F, Fut>(&self, what: &str, mut op: F) -> Result<T, IoError>
    where
        F: FnMut(Conn) -> Fut,
        Fut: std::future::Future<Output = (Conn, Attempt<T>)>,
    {
        let _permit =
            self.permits.acquire().await.map_err(|_| error(IoErrorKind::Other, "the FTP connection pool is closed"))?;
        let mut attempt = 0u32;
        loop {
            let pooled = self.idle.borrow_mut().pop();
            let conn = match pooled {
                Some(c) => Ok(c),
                None => self.connect().await,
            };
            let outcome = match conn {
                Ok(c) => {
                    let (c, r) = op(c).await;
                    // A final reply leaves the connection in step; anything else closes it.
                    if matches!(r, Ok(_) | Err(Fail::Reply(..))) && !c.spoiled {
                        self.idle.borrow_mut().push(c);
                    }
                    r
                }
                Err(e) => Err(e),
            };
            let retry = match &outcome {
                Ok(_) | Err(Fail::Final(..)) => false,
                Err(Fail::Reply(code, _)) => *code < 500,
                Err(Fail::Broken(_)) => true,
            };
            if !retry || attempt >= self.config.connection.retries {
                return outcome.map_err(|f| self.failure(what, f));
            }
            tokio::time::sleep(crate::backend::connection::backoff(attempt)).await;
            attempt += 1;
        }
    }

    fn failure(&self, what: &str, f: Fail) -> IoError {
        let server = &self.shared.authority;
        match f {
            Fail::Reply(code, text) => {
                let kind = match code {
                    550 => IoErrorKind::NotFound,
                    552 | 452 => IoErrorKind::StorageFull,
                    530 | 532 | 553 => IoErrorKind::PermissionDenied,
                    421 | 425 | 426 | 450 | 451 => IoErrorKind::Unavailable,
                    _ => IoErrorKind::Other,
                };
                let hint = match kind {
                    IoErrorKind::StorageFull => ": the server is out of space, or over its quota",
                    IoErrorKind::PermissionDenied => ": check that this user may write to the backup directory",
                    _ => "",
                };
                error(kind, format!("{what} on FTP server {server}: {code} {}{hint}", clip(&text)))
            }
            Fail::Broken(m) => error(
                IoErrorKind::Unavailable,
                format!("{what} on FTP server {server}: {m} (after {} retries)", self.config.connection.retries),
            ),
            Fail::Final(kind, m) => error(kind, format!("{what} on FTP server {server}: {m}")),
        }
    }

    /// The server path of `rel` (relative to the backup directory; `""` is the directory).
    fn path(&self, rel: &str) -> String {
        match (self.config.directory.as_str(), rel) {
            ("", "") => String::new(),
            ("", r) => r.to_string(),
            (d, "") => d.to_string(),
            (d, r) => format!("{d}/{r}"),
        }
    }

    /// Makes the directory `rel` (relative to the backup directory) and its parents, including
    /// the backup directory itself, once each.
    async fn ensure_dir(&self, rel: &str) -> Result<(), IoError> {
        if self.made.borrow().contains(rel) {
            return Ok(());
        }
        // Each folder from the top: `a`, `a/b`, ... (`/a`, `/a/b`, ... for an absolute path).
        let base = &self.config.directory;
        let absolute = base.starts_with('/');
        let mut full: Vec<String> = Vec::new();
        let mut at = String::new();
        for s in base.split('/').chain(rel.split('/')).filter(|s| !s.is_empty()) {
            at = if at.is_empty() && !absolute { s.to_string() } else { format!("{at}/{s}") };
            full.push(at.clone());
        }
        self.with_conn(&format!("making the folder {}", self.path(rel)), |mut c| {
            let full = full.clone();
            async move {
                let r = async {
                    for dir in &full {
                        match c.command(&format!("MKD {dir}"), &[257, 250]).await {
                            // There already, or made by another upload at the same moment; if
                            // it really could not be made, the upload into it says why.
                            Ok(_) | Err(Fail::Reply(521 | 550 | 553, _)) => {}
                            Err(e) => return Err(e),
                        }
                    }
                    Ok(())
                }
                .await;
                (c, r)
            }
        })
        .await?;
        self.made.borrow_mut().insert(rel.to_string());
        Ok(())
    }

    /// The size of `rel`; `None` if there is no such file.
    async fn size_of(&self, rel: &str) -> Result<Option<u64>, IoError> {
        let path = self.path(rel);
        self.with_conn(&format!("finding {path}"), |mut c| {
            let path = path.clone();
            async move {
                let r = c.size(&path).await;
                (c, r)
            }
        })
        .await
    }

    async fn read_rel(&self, rel: &str, range: ReadRange) -> Result<Bytes, IoError> {
        let plan = crate::http::read_plan(range, || async {
            self.size_of(rel).await?.ok_or_else(|| error(IoErrorKind::NotFound, format!("{rel} does not exist")))
        })
        .await?;
        let Some((span, max)) = plan else { return Ok(Bytes::new()) };
        let path = self.path(rel);
        let shared = &self.shared;
        let body = self
            .with_conn(&format!("reading {path}"), |mut c| {
                let path = path.clone();
                async move {
                    let r = c.retr(shared, &path, span, max).await;
                    (c, r)
                }
            })
            .await?;
        crate::http::check_span(span, &body, rel)?;
        Ok(body)
    }

    /// Stores `body` under a temporary name beside `rel`, then renames it into place.
    async fn write_body(&self, rel: &str, body: Body<'_>, mode: WriteMode) -> Result<(), IoError> {
        let (dir, _) = rel.rsplit_once('/').unwrap_or(("", rel));
        self.ensure_dir(dir).await?;
        let tmp_name = format!("cairn-tmp-{:016x}", crate::rng::os_rng().next_u64());
        let tmp = self.path(&if dir.is_empty() { tmp_name } else { format!("{dir}/{tmp_name}") });
        let target = self.path(rel);
        let shared = &self.shared;
        let stored = self
            .with_conn(&format!("writing {target}"), |mut c| {
                let tmp = tmp.clone();
                let mut source = body.pieces(8 << 20);
                async move {
                    let r = c.stor(shared, &tmp, &mut source).await;
                    (c, r)
                }
            })
            .await;
        if let Err(e) = stored {
            let _ = self.remove_abs(&tmp).await;
            return Err(e);
        }
        let moved = self
            .with_conn(&format!("writing {target}"), |mut c| {
                let (tmp, target) = (tmp.clone(), target.clone());
                async move {
                    let r = rename_into_place(&mut c, &tmp, &target, mode).await;
                    (c, r)
                }
            })
            .await;
        match moved {
            Ok(true) => Ok(()),
            Ok(false) => {
                let _ = self.remove_abs(&tmp).await;
                Err(IoError::from_kind(IoErrorKind::AlreadyExists))
            }
            Err(e) => {
                let _ = self.remove_abs(&tmp).await;
                Err(e)
            }
        }
    }

    /// Removes the server path `path` (absent is fine).
    async fn remove_abs(&self, path: &str) -> Result<(), IoError> {
        let path = path.to_string();
        self.with_conn(&format!("deleting {path}"), |mut c| {
            let path = path.clone();
            async move {
                let r = match c.command(&format!("DELE {path}"), &[250, 200]).await {
                    Ok(_) | Err(Fail::Reply(550, _)) => Ok(()),
                    Err(e) => Err(e),
                };
                (c, r)
            }
        })
        .await
    }

    /// The entries of the directory `rel` (empty if it does not exist).
    async fn list_dir(&self, rel: &str) -> Result<Vec<FolderEntry>, IoError> {
        let path = self.path(rel);
        let shared = &self.shared;
        Ok(self
            .with_conn(&format!("listing {}", if path.is_empty() { "the login folder" } else { &path }), |mut c| {
                let path = path.clone();
                async move {
                    let r = c.list(shared, &path).await;
                    (c, r)
                }
            })
            .await?
            .unwrap_or_default())
    }

    /// Checks the connection and login (and makes the backup directory): the Test's first step.
    pub async fn connect_check(&self) -> Result<(), IoError> {
        self.with_conn("connecting", |c| async move { (c, Ok(())) }).await?;
        self.ensure_dir("").await
    }
}

crate::backend::path_store::storage_over_paths!(FtpBackend);

impl PathStore for FtpBackend {
    /// `MDTM` of `rel`, as Unix seconds.
    async fn modified(&self, rel: &str) -> Result<Option<i64>, IoError> {
        let path = self.path(rel);
        self.with_conn(&format!("finding {path}"), |mut c| {
            let path = path.clone();
            async move {
                let r = match c.command(&format!("MDTM {path}"), &[213]).await {
                    Ok((_, text)) => Ok(ftp_time(text.trim())),
                    Err(Fail::Reply(code, _)) if code >= 500 => Ok(None),
                    Err(e) => Err(e),
                };
                (c, r)
            }
        })
        .await
    }

    const TEMPORARY_PREFIX: Option<&'static str> = Some("cairn-tmp-");

    fn properties(&self) -> StorageProperties {
        StorageProperties::new(self.config.connection.connections)
    }

    async fn read_path(&self, path: &str, range: ReadRange) -> Result<Bytes, IoError> {
        self.read_rel(path, range).await
    }

    async fn write_path(&self, path: &str, body: Body<'_>, mode: WriteMode) -> Result<(), IoError> {
        self.write_body(path, body, mode).await
    }

    async fn remove_path(&self, path: &str) -> Result<(), IoError> {
        self.remove_abs(&self.path(path)).await
    }

    async fn list_folder(&self, dir: &str) -> Result<Vec<FolderEntry>, IoError> {
        self.list_dir(dir).await
    }

    async fn write_object(&self, handle: &Handle, data: Bytes, mode: WriteMode) -> Result<(), IoError> {
        // FTP has no create-only rename: claims stand in for it.
        if mode == WriteMode::CreateNew {
            return Box::pin(crate::backend::claim::create_new(self, handle, data)).await;
        }
        self.write_body(&handle.path(), Body::Bytes(&data), mode).await
    }
}

#[cfg(test)]
mod tests {
    use super::listing::{epsv_port, parse_list, parse_mlsd, pasv_port};
    use super::*;

    #[test]
    fn replies_listings_and_passive_answers_parse() {
        assert_eq!(reply_code("220 ready"), Some((220, false)));
        assert_eq!(reply_code("211-Features:"), Some((211, true)));
        assert_eq!(reply_code("220"), Some((220, false)));
        assert_eq!(reply_code("6xx no"), None);
        assert_eq!(reply_code("22"), None);
        assert_eq!(epsv_port("Extended Passive mode OK (|||49152|)"), Some(49152));
        assert_eq!(epsv_port("(|||0|)"), None);
        assert_eq!(pasv_port("Entering Passive Mode (10,0,0,7,195,80)"), Some(195 * 256 + 80));
        assert_eq!(pasv_port("Entering Passive Mode (10,0,0,7,999,80)"), None);
        let e = parse_mlsd("type=file;size=12;modify=20261122100000;UNIX.mode=0644; ab cd").unwrap();
        assert_eq!((e.name.as_str(), e.is_dir, e.size), ("ab cd", false, 12));
        assert_eq!(e.modified, Some(1_795_341_600));
        assert!(parse_mlsd("type=dir;modify=20261122100000; data").unwrap().is_dir);
        assert_eq!(parse_mlsd("type=cdir; ."), None);
        let e = parse_list("-rw-r--r--    1 1000     1000           42 Nov 22 10:00 file name").unwrap();
        assert_eq!((e.name.as_str(), e.size, e.is_dir), ("file name", 42, false));
        assert!(parse_list("drwxr-xr-x 2 u g 4096 Nov 22 10:00 data").unwrap().is_dir);
        assert_eq!(parse_list("total 12"), None);
    }

    proptest::proptest! {
        #![proptest_config(crate::hostile::config(4000))]
        /// A hostile server's replies and listing lines parse to something or nothing, never a panic.
        #[test]
        fn hostile_replies_never_panic(line in crate::hostile::bytes(vec![
            b"type=file;size=99999999999999999999999; x".to_vec(),
            b"type=file;modify=99999999999999; x".to_vec(),
            b"-rw-r--r-- 1 a b 18446744073709551616 Nov 22 10:00 x".to_vec(),
            b"229 (|||65536|)".to_vec(),
            b"227 (1,2,3,4,256,1)".to_vec(),
        ])) {
            let s = String::from_utf8_lossy(&line);
            let _ = (reply_code(&s), parse_mlsd(&s), parse_list(&s), epsv_port(&s), pasv_port(&s), ftp_time(&s));
        }
    }
}
