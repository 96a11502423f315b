//! The FTP protocol on one control connection: replies, commands, passive data connections,
//! transfers and listings, every line and listing bounded.

use std::cell::Cell;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cairn_core::{IoErrorKind, WriteMode};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::listing::{epsv_port, parse_list, parse_mlsd, pasv_port};
use super::tls::tls_config;
use crate::backend::path_store::{FolderEntry, Pieces};

/// Longest reply or listing line accepted.
pub(super) const MAX_LINE: usize = 8 << 10;
/// Most lines in one (multi-line) reply.
pub(super) const MAX_REPLY_LINES: usize = 256;
/// Most entries in one directory listing (a data directory holds a few thousand packs).
pub(super) const MAX_ENTRIES: usize = 4_000_000;

/// A byte stream, plain or under TLS.
pub(super) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}
pub(super) type Stream = Box<dyn Io>;

/// What went wrong in one attempt.
#[derive(Debug)]
pub(super) enum Fail {
    /// The server's reply: final for 5xx (the connection stays usable), retried for 4xx.
    Reply(u16, String),
    /// The connection broke, stalled or spoke nonsense: closed, and the operation retried.
    Broken(String),
    /// Not worth retrying (bad TLS certificate, refused login, hostile sizes).
    Final(IoErrorKind, String),
}

pub(super) type Attempt<T> = Result<T, Fail>;

pub(super) fn io_fail(what: &str, e: std::io::Error) -> Fail {
    Fail::Broken(format!("{what}: {e}"))
}

/// A TLS handshake's failure: final (with what to do) when the certificate is not trusted, a
/// broken connection otherwise.
pub(super) fn tls_fail(authority: &str, what: &str, e: std::io::Error) -> Fail {
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

/// Runs `f`, failing if it takes longer than `limit` (a stall).
pub(super) async fn timed<T>(
    limit: Duration,
    what: &str,
    f: impl std::future::Future<Output = Attempt<T>>,
) -> Attempt<T> {
    tokio::time::timeout(limit, f).await.unwrap_or_else(|_| Err(Fail::Broken(format!("{what}: no answer in time"))))
}

/// Reads one line (without its CR LF) of at most [`MAX_LINE`] bytes; `None` at the end.
pub(super) async fn read_line(r: &mut (impl tokio::io::AsyncBufRead + Unpin), what: &str) -> Attempt<Option<String>> {
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
pub(super) fn reply_code(line: &str) -> Option<(u16, bool)> {
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
pub(super) struct Conn {
    pub(super) ctrl: BufReader<Stream>,
    /// The server's address (data connections go there, whatever the server names).
    pub(super) peer: IpAddr,
    /// Data connections are protected (`PROT P`).
    pub(super) tls: bool,
    pub(super) stall: Duration,
    /// Left out of step (a transfer stopped early): closed after the operation.
    pub(super) spoiled: bool,
}

impl Conn {
    pub(super) async fn send(&mut self, line: &str) -> Attempt<()> {
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
    pub(super) async fn reply(&mut self) -> Attempt<(u16, String)> {
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
    pub(super) async fn command(&mut self, line: &str, ok: &[u16]) -> Attempt<(u16, String)> {
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
    pub(super) async fn data(&mut self, shared: &Shared) -> Attempt<TcpStream> {
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
    pub(super) async fn secure(&self, shared: &Shared, tcp: TcpStream) -> Attempt<Stream> {
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
    pub(super) async fn transfer_done(&mut self, what: &str) -> Attempt<()> {
        match self.reply().await? {
            (226 | 250, _) => Ok(()),
            (code, text) if code >= 400 => Err(Fail::Reply(code, text)),
            (code, text) => Err(Fail::Broken(format!("{what}: unexpected reply {code} {}", clip(&text)))),
        }
    }

    /// `SIZE path`: `None` if there is no such file.
    pub(super) async fn size(&mut self, path: &str) -> Attempt<Option<u64>> {
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
    pub(super) async fn retr(
        &mut self,
        shared: &Shared,
        path: &str,
        span: Option<(u64, u64)>,
        max: u64,
    ) -> Attempt<Bytes> {
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
    pub(super) async fn stor(&mut self, shared: &Shared, path: &str, pieces: &mut Pieces<'_>) -> Attempt<()> {
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
    pub(super) async fn list(&mut self, shared: &Shared, path: &str) -> Attempt<Option<Vec<FolderEntry>>> {
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
pub(super) async fn rename_into_place(c: &mut Conn, tmp: &str, target: &str, mode: WriteMode) -> Attempt<bool> {
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

/// A reply or name cut for a message.
pub(super) fn clip(s: &str) -> String {
    s.chars().take(160).collect()
}

/// What every connection of a backend shares.
pub(super) struct Shared {
    /// The TLS settings, made when a server first agrees to TLS (the system's certificates are
    /// read only then, not for every backend, nor for servers used in clear).
    pub(super) tls: std::cell::OnceCell<tokio_rustls::TlsConnector>,
    pub(super) verify_tls: bool,
    pub(super) server_name: rustls::pki_types::ServerName<'static>,
    /// `host:port`, for messages.
    pub(super) authority: String,
    /// The server refused `EPSV` once: `PASV` from then on.
    pub(super) no_epsv: Cell<bool>,
    /// The server refused `MLSD` once: `LIST` from then on.
    pub(super) no_mlsd: Cell<bool>,
}

impl Shared {
    /// The TLS connector, made on first use.
    pub(super) fn connector(&self) -> Attempt<&tokio_rustls::TlsConnector> {
        if let Some(c) = self.tls.get() {
            return Ok(c);
        }
        let config = tls_config(self.verify_tls).map_err(|e| Fail::Final(e.kind(), e.to_string()))?;
        Ok(self.tls.get_or_init(|| tokio_rustls::TlsConnector::from(Arc::new(config))))
    }
}
