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
//!   [`WriteMode::CreateNew`] write goes through claims ([`crate::claim`]). Missing directories
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
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cairn_core::{Handle, IoError, IoErrorKind, ReadRange, StorageProperties, WriteMode};
use rand_core::Rng;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::http::error;
use crate::path_store::{Body, FolderEntry, PathStore, Pieces};
use crate::secret::Secret;

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
    /// Verify the server's TLS certificate.
    pub verify_tls: bool,
    /// Retries of a failed operation.
    pub retries: u32,
    /// No byte for this long fails an attempt (then retried).
    pub stall_timeout: Duration,
    /// Control connections at once.
    pub connections: usize,
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
            verify_tls: true,
            retries: 3,
            stall_timeout: Duration::from_secs(60),
            connections: 4,
        }
    }
}

/// Longest reply or listing line accepted.
const MAX_LINE: usize = 8 << 10;
/// Most lines in one (multi-line) reply.
const MAX_REPLY_LINES: usize = 256;
/// Most entries in one directory listing (a data directory holds a few thousand packs).
const MAX_ENTRIES: usize = 4_000_000;

/// A byte stream, plain or under TLS.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}
type Stream = Box<dyn Io>;

/// What went wrong in one attempt.
#[derive(Debug)]
enum Fail {
    /// The server's reply: final for 5xx (the connection stays usable), retried for 4xx.
    Reply(u16, String),
    /// The connection broke, stalled or spoke nonsense: closed, and the operation retried.
    Broken(String),
    /// Not worth retrying (bad TLS certificate, refused login, hostile sizes).
    Final(IoErrorKind, String),
}

type Attempt<T> = Result<T, Fail>;

fn io_fail(what: &str, e: std::io::Error) -> Fail {
    Fail::Broken(format!("{what}: {e}"))
}

/// Runs `f`, failing if it takes longer than `limit` (a stall).
async fn timed<T>(limit: Duration, what: &str, f: impl std::future::Future<Output = Attempt<T>>) -> Attempt<T> {
    tokio::time::timeout(limit, f).await.unwrap_or_else(|_| Err(Fail::Broken(format!("{what}: no answer in time"))))
}

/// Reads one line (without its CR LF) of at most [`MAX_LINE`] bytes; `None` at the end.
async fn read_line(r: &mut (impl tokio::io::AsyncBufRead + Unpin), what: &str) -> Attempt<Option<String>> {
    let mut line = Vec::new();
    loop {
        let buf = r.fill_buf().await.map_err(|e| io_fail(what, e))?;
        if buf.is_empty() {
            return Ok((!line.is_empty()).then(|| String::from_utf8_lossy(&line).into_owned()));
        }
        let (take, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        if line.len() + take > MAX_LINE {
            return Err(Fail::Final(IoErrorKind::InvalidData, format!("{what}: the server sent an overlong line")));
        }
        line.extend_from_slice(&buf[..take]);
        r.consume(take);
        if done {
            while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                line.pop();
            }
            return Ok(Some(String::from_utf8_lossy(&line).into_owned()));
        }
    }
}

/// Parses a reply's first line: its code and whether more lines follow (`DDD-`).
fn reply_code(line: &str) -> Option<(u16, bool)> {
    let b = line.as_bytes();
    if b.len() < 3 || !b[..3].iter().all(u8::is_ascii_digit) || !(b'1'..=b'5').contains(&b[0]) {
        return None;
    }
    let code = line[..3].parse().ok()?;
    match b.get(3) {
        None | Some(b' ') => Some((code, false)),
        Some(b'-') => Some((code, true)),
        _ => None,
    }
}

/// One logged-in control connection.
struct Conn {
    ctrl: BufReader<Stream>,
    /// The server's address (data connections go there, whatever the server names).
    peer: IpAddr,
    /// Data connections are protected (`PROT P`).
    tls: bool,
    stall: Duration,
    /// Left out of step (a transfer stopped early): closed after the operation.
    spoiled: bool,
}

impl Conn {
    async fn send(&mut self, line: &str) -> Attempt<()> {
        let stall = self.stall;
        let w = self.ctrl.get_mut();
        timed(stall, "sending a command", async {
            w.write_all(line.as_bytes()).await.map_err(|e| io_fail("sending a command", e))?;
            w.write_all(b"\r\n").await.map_err(|e| io_fail("sending a command", e))?;
            w.flush().await.map_err(|e| io_fail("sending a command", e))
        })
        .await
    }

    /// Reads a complete reply: its code and text (the lines joined).
    async fn reply(&mut self) -> Attempt<(u16, String)> {
        let stall = self.stall;
        let ctrl = &mut self.ctrl;
        timed(stall, "waiting for the server", async move {
            let first = read_line(ctrl, "reading a reply")
                .await?
                .ok_or_else(|| Fail::Broken("the server closed the connection".into()))?;
            let (code, more) =
                reply_code(&first).ok_or_else(|| Fail::Broken(format!("not an FTP reply: {:?}", clip(&first))))?;
            let mut text = first.get(4..).unwrap_or("").to_string();
            if more {
                let end = format!("{code} ");
                let mut lines = 1;
                loop {
                    let line = read_line(ctrl, "reading a reply")
                        .await?
                        .ok_or_else(|| Fail::Broken("the server closed the connection".into()))?;
                    lines += 1;
                    if lines > MAX_REPLY_LINES {
                        return Err(Fail::Final(IoErrorKind::InvalidData, "the server sent an overlong reply".into()));
                    }
                    if line.starts_with(&end) || line == end.trim_end() {
                        break;
                    }
                    text.push('\n');
                    text.push_str(line.trim_start());
                }
            }
            Ok((code, text))
        })
        .await
    }

    /// Sends `line` and reads the reply, which must have one of the codes in `ok`.
    async fn command(&mut self, line: &str, ok: &[u16]) -> Attempt<(u16, String)> {
        self.send(line).await?;
        let (code, text) = self.reply().await?;
        if ok.contains(&code) {
            return Ok((code, text));
        }
        Err(Fail::Reply(code, text))
    }

    /// Opens a passive data connection (`EPSV`, else `PASV`), to the control connection's peer;
    /// [`Conn::secure`] it once the transfer command is accepted (the server starts TLS on it
    /// only then).
    async fn data(&mut self, shared: &Shared) -> Attempt<TcpStream> {
        let port = if shared.no_epsv.get() {
            None
        } else {
            match self.command("EPSV", &[229]).await {
                Ok((_, text)) => Some(epsv_port(&text).ok_or_else(|| Fail::Broken("a malformed EPSV reply".into()))?),
                Err(Fail::Reply(c, _)) if c >= 500 => {
                    shared.no_epsv.set(true);
                    None
                }
                Err(e) => return Err(e),
            }
        };
        let port = match port {
            Some(p) => p,
            None => {
                let (_, text) = self.command("PASV", &[227]).await?;
                pasv_port(&text).ok_or_else(|| Fail::Broken("a malformed PASV reply".into()))?
            }
        };
        let addr = SocketAddr::new(self.peer, port);
        let tcp = timed(self.stall, "opening a data connection", async {
            TcpStream::connect(addr).await.map_err(|e| io_fail("opening a data connection", e))
        })
        .await?;
        let _ = tcp.set_nodelay(true);
        Ok(tcp)
    }

    /// The data connection `tcp`, under TLS if the control connection is.
    async fn secure(&self, shared: &Shared, tcp: TcpStream) -> Attempt<Stream> {
        if !self.tls {
            return Ok(Box::new(tcp));
        }
        let tls = timed(self.stall, "securing a data connection", async {
            shared
                .connector()?
                .connect(shared.server_name.clone(), tcp)
                .await
                .map_err(|e| tls_fail(&shared.authority, "securing a data connection", e))
        })
        .await?;
        Ok(Box::new(tls))
    }

    /// After a transfer: the data connection closed, the final reply must say it completed.
    async fn transfer_done(&mut self, what: &str) -> Attempt<()> {
        match self.reply().await? {
            (226 | 250, _) => Ok(()),
            (code, text) if code >= 400 => Err(Fail::Reply(code, text)),
            (code, text) => Err(Fail::Broken(format!("{what}: unexpected reply {code} {}", clip(&text)))),
        }
    }

    /// `SIZE path`: `None` if there is no such file.
    async fn size(&mut self, path: &str) -> Attempt<Option<u64>> {
        match self.command(&format!("SIZE {path}"), &[213]).await {
            Ok((_, text)) => text
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| Fail::Final(IoErrorKind::InvalidData, format!("a malformed SIZE of {path}"))),
            Err(Fail::Reply(550, _)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Reads `span` (offset, length) of `path`, or the whole file (at most `max` bytes).
    async fn retr(&mut self, shared: &Shared, path: &str, span: Option<(u64, u64)>, max: u64) -> Attempt<Bytes> {
        let tcp = self.data(shared).await?;
        if let Some((offset, _)) = span.filter(|(o, _)| *o > 0) {
            self.command(&format!("REST {offset}"), &[350]).await?;
        }
        self.command(&format!("RETR {path}"), &[125, 150]).await?;
        let mut data = self.secure(shared, tcp).await?;
        let want = span.map_or(max, |(_, n)| n);
        let mut out = Vec::with_capacity(want.min(16 << 20) as usize);
        let mut buf = vec![0u8; 256 << 10];
        let mut ended = false;
        while (out.len() as u64) < want {
            let room = (want - out.len() as u64).min(buf.len() as u64) as usize;
            let n = timed(self.stall, "reading", async {
                data.read(&mut buf[..room]).await.map_err(|e| io_fail("reading", e))
            })
            .await?;
            if n == 0 {
                ended = true;
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        if !ended {
            // One more byte says whether the file goes on: over the limit when the whole file
            // was asked for; for a span, the transfer is stopped by closing its connection, and
            // the control connection, now out of step, is closed after this read.
            let n = timed(self.stall, "reading", async {
                data.read(&mut buf[..1]).await.map_err(|e| io_fail("reading", e))
            })
            .await?;
            if n > 0 {
                if span.is_none() {
                    return Err(Fail::Final(IoErrorKind::InvalidData, format!("{path} is larger than {max} bytes")));
                }
                self.spoiled = true;
                return Ok(Bytes::from(out));
            }
        }
        drop(data);
        self.transfer_done(&format!("reading {path}")).await?;
        Ok(Bytes::from(out))
    }

    /// Stores `pieces` as `path` (replacing it).
    async fn stor(&mut self, shared: &Shared, path: &str, pieces: &mut Pieces<'_>) -> Attempt<()> {
        let tcp = self.data(shared).await?;
        self.command(&format!("STOR {path}"), &[125, 150]).await?;
        let mut data = self.secure(shared, tcp).await?;
        while let Some(piece) = pieces.next_piece().map_err(|e| Fail::Final(e.kind(), e.to_string()))? {
            timed(self.stall, "writing", async { data.write_all(&piece).await.map_err(|e| io_fail("writing", e)) })
                .await?;
        }
        timed(self.stall, "writing", async { data.shutdown().await.map_err(|e| io_fail("writing", e)) }).await?;
        drop(data);
        self.transfer_done(&format!("writing {path}")).await
    }

    /// The entries of directory `path`: `(name, is_dir, size, modified)`; `None` if there is no
    /// such directory.
    async fn list(&mut self, shared: &Shared, path: &str) -> Attempt<Option<Vec<FolderEntry>>> {
        let mlsd = !shared.no_mlsd.get();
        let tcp = self.data(shared).await?;
        let target = if path.is_empty() { String::new() } else { format!(" {path}") };
        let cmd = if mlsd { format!("MLSD{target}") } else { format!("LIST -a{target}") };
        match self.command(&cmd, &[125, 150]).await {
            Ok(_) => {}
            Err(Fail::Reply(500 | 502, _)) if mlsd => {
                drop(tcp);
                shared.no_mlsd.set(true);
                return Box::pin(self.list(shared, path)).await;
            }
            Err(Fail::Reply(450 | 550, _)) => return Ok(None),
            Err(e) => return Err(e),
        }
        let mut data = self.secure(shared, tcp).await?;
        let mut reader = BufReader::new(&mut data);
        let mut out = Vec::new();
        let stall = self.stall;
        while let Some(line) = timed(stall, "listing", read_line(&mut reader, "listing")).await? {
            if out.len() >= MAX_ENTRIES {
                return Err(Fail::Final(IoErrorKind::InvalidData, format!("{path} lists too many entries")));
            }
            let entry = if mlsd { parse_mlsd(&line) } else { parse_list(&line) };
            if let Some(e) = entry.filter(|e| e.name != "." && e.name != "..") {
                out.push(e);
            }
        }
        drop(reader);
        drop(data);
        self.transfer_done(&format!("listing {path}")).await?;
        Ok(Some(out))
    }
}

/// Renames the uploaded `tmp` to `target`: `Ok(false)` if `mode` is create-new and `target`
/// exists already.
async fn rename_into_place(c: &mut Conn, tmp: &str, target: &str, mode: WriteMode) -> Attempt<bool> {
    if mode == WriteMode::CreateNew && c.size(target).await?.is_some() {
        return Ok(false);
    }
    c.command(&format!("RNFR {tmp}"), &[350]).await?;
    match c.command(&format!("RNTO {target}"), &[250, 200]).await {
        Ok(_) => Ok(true),
        // A server that will not rename over a file: replace it.
        Err(Fail::Reply(550 | 553, _)) if mode == WriteMode::Replace => {
            c.command(&format!("DELE {target}"), &[250, 200]).await?;
            c.command(&format!("RNFR {tmp}"), &[350]).await?;
            c.command(&format!("RNTO {target}"), &[250, 200]).await.map(|_| true)
        }
        Err(e) => Err(e),
    }
}

/// An `MLSD` line: `type=file;size=12;modify=20261122100000; name`.
pub(crate) fn parse_mlsd(line: &str) -> Option<FolderEntry> {
    let (facts, name) = line.split_once(' ')?;
    let mut e = FolderEntry { name: name.to_string(), is_dir: false, size: 0, modified: None };
    let mut kind = None;
    for fact in facts.split(';').filter(|f| !f.is_empty()) {
        let (k, v) = fact.split_once('=')?;
        match k.to_ascii_lowercase().as_str() {
            "type" => kind = Some(v.to_ascii_lowercase()),
            "size" => e.size = v.parse().ok()?,
            "modify" => e.modified = ftp_time(v),
            _ => {}
        }
    }
    match kind.as_deref() {
        Some("file") => {}
        Some("dir") => e.is_dir = true,
        _ => return None,
    }
    (!e.name.is_empty() && !e.name.contains('/')).then_some(e)
}

/// A Unix-format `LIST` line: `-rw-r--r-- 1 owner group 12 Nov 22 10:00 name`.
pub(crate) fn parse_list(line: &str) -> Option<FolderEntry> {
    let kind = line.chars().next()?;
    if kind != '-' && kind != 'd' {
        return None;
    }
    let mut rest = line;
    let mut fields = Vec::with_capacity(8);
    for _ in 0..8 {
        rest = rest.trim_start();
        let end = rest.find(' ')?;
        fields.push(&rest[..end]);
        rest = &rest[end..];
    }
    let name = rest.strip_prefix(' ')?.to_string();
    let size = fields[4].parse().ok()?;
    (!name.is_empty() && !name.contains('/')).then_some(FolderEntry { name, is_dir: kind == 'd', size, modified: None })
}

/// `YYYYMMDDHHMMSS[.sss]` (UTC) as Unix seconds.
fn ftp_time(v: &str) -> Option<i64> {
    let v = v.split('.').next()?;
    if v.len() != 14 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = |r: std::ops::Range<usize>| v[r].parse::<i16>().ok();
    let dt = jiff::civil::DateTime::new(
        n(0..4)?,
        n(4..6)? as i8,
        n(6..8)? as i8,
        n(8..10)? as i8,
        n(10..12)? as i8,
        n(12..14)? as i8,
        0,
    )
    .ok()?;
    dt.to_zoned(jiff::tz::TimeZone::UTC).ok().map(|z| z.timestamp().as_second())
}

/// The port of an `EPSV` reply: `Entering Extended Passive Mode (|||6446|)`.
pub(crate) fn epsv_port(text: &str) -> Option<u16> {
    let inner = text.split_once('(')?.1.split_once(')')?.0;
    let d = inner.chars().next()?;
    let parts: Vec<&str> = inner.split(d).collect();
    match parts.as_slice() {
        ["", "", "", port, ""] => port.parse().ok().filter(|p| *p != 0),
        _ => None,
    }
}

/// The port of a `PASV` reply: `Entering Passive Mode (127,0,0,1,25,34)` (its address is not
/// used: data connections go to the control connection's peer).
pub(crate) fn pasv_port(text: &str) -> Option<u16> {
    let start = text.find(|c: char| c.is_ascii_digit())?;
    let nums: Vec<u16> = text[start..]
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .take(6)
        .map(|s| s.parse().ok().filter(|n| *n <= 255))
        .collect::<Option<_>>()?;
    (nums.len() == 6).then(|| nums[4] * 256 + nums[5]).filter(|p| *p != 0)
}

/// A reply or name cut for a message.
fn clip(s: &str) -> String {
    s.chars().take(160).collect()
}

fn tls_fail(authority: &str, what: &str, e: std::io::Error) -> Fail {
    let cert = e
        .get_ref()
        .and_then(|i| i.downcast_ref::<rustls::Error>())
        .is_some_and(|r| matches!(r, rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented));
    if cert {
        return Fail::Final(
            IoErrorKind::PermissionDenied,
            format!(
                "the TLS certificate of {authority} is not trusted ({e}): use a trusted certificate, or turn off \
                 verify TLS for a server you control"
            ),
        );
    }
    io_fail(what, e)
}

/// What every connection of a backend shares.
struct Shared {
    /// The TLS settings, made when a server first agrees to TLS (the system's certificates are
    /// read only then, not for every backend, nor for servers used in clear).
    tls: std::cell::OnceCell<tokio_rustls::TlsConnector>,
    verify_tls: bool,
    server_name: rustls::pki_types::ServerName<'static>,
    /// `host:port`, for messages.
    authority: String,
    /// The server refused `EPSV` once: `PASV` from then on.
    no_epsv: Cell<bool>,
    /// The server refused `MLSD` once: `LIST` from then on.
    no_mlsd: Cell<bool>,
}

impl Shared {
    /// The TLS connector, made on first use.
    fn connector(&self) -> Attempt<&tokio_rustls::TlsConnector> {
        if let Some(c) = self.tls.get() {
            return Ok(c);
        }
        let config = tls_config(self.verify_tls).map_err(|e| Fail::Final(e.kind(), e.to_string()))?;
        Ok(self.tls.get_or_init(|| tokio_rustls::TlsConnector::from(Arc::new(config))))
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

/// Accepts any certificate, for `verify-tls=false` (a server the user controls, with a
/// self-signed certificate); the handshake's signatures are still checked.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The TLS client settings: the system's certificates (or none checked), sessions resumed.
fn tls_config(verify: bool) -> Result<rustls::ClientConfig, IoError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| error(IoErrorKind::Other, format!("cannot set up TLS: {e}")))?;
    let config = if verify {
        use rustls_platform_verifier::BuilderVerifierExt;
        builder
            .with_platform_verifier()
            .map_err(|e| error(IoErrorKind::Other, format!("cannot read the system's certificates: {e}")))?
            .with_no_client_auth()
    } else {
        builder.dangerous().with_custom_certificate_verifier(Arc::new(AnyCertificate(provider))).with_no_client_auth()
    };
    Ok(config)
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
                verify_tls: config.verify_tls,
                server_name,
                authority,
                no_epsv: Cell::new(false),
                no_mlsd: Cell::new(false),
            },
            permits: tokio::sync::Semaphore::new(config.connections.max(1)),
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
        let stall = c.stall_timeout;
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
            if !retry || attempt >= self.config.retries {
                return outcome.map_err(|f| self.failure(what, f));
            }
            tokio::time::sleep(crate::http::backoff(attempt)).await;
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
                format!("{what} on FTP server {server}: {m} (after {} retries)", self.config.retries),
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

crate::path_store::storage_over_paths!(FtpBackend);

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
        StorageProperties::new(self.config.connections)
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
            return Box::pin(crate::claim::create_new(self, handle, data)).await;
        }
        self.write_body(&handle.path(), Body::Bytes(&data), mode).await
    }
}
